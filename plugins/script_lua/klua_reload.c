/* Hot reload for the Lua runtime (docs/scripting.md §10): re-runs changed
 * files in the game's own VM so state kept in globals survives, patches a
 * reloaded module's table in place so code holding it sees the new
 * functions, then calls on_reload(). A file that fails keeps the old code:
 * the globals it changed, and the module cache, are put back as they were. */
#include "klua.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the files the game loaded ------------------------------------------- */

static char *klua_dup(const char *text) { return text ? strdup(text) : NULL; }

void klua_file_loaded(lua_State *L, klua_script *s, const char *path, const char *module, const char *chunk) {
  for (uint32_t i = 0; i < s->file_count; i++)
    if (strcmp(s->files[i].path, path) == 0) return;
  if (s->file_count == s->file_cap) {
    uint32_t cap = s->file_cap ? s->file_cap * 2 : 8;
    klua_file *f = realloc(s->files, cap * sizeof *f);
    if (!f) luaL_error(L, "not enough memory");
    s->files = f;
    s->file_cap = cap;
  }
  klua_file f = {klua_dup(path), klua_dup(module), klua_dup(chunk)};
  if (!f.path || (module && !f.module) || !f.chunk) {
    free(f.path);
    free(f.module);
    free(f.chunk);
    luaL_error(L, "not enough memory");
  }
  s->files[s->file_count++] = f;
  if (KEEL_HAS_MEMBER(s->world, keel_script_world, file_loaded) && s->world->file_loaded)
    s->world->file_loaded(s->world->ctx, path);
}

void klua_files_free(klua_script *s) {
  for (uint32_t i = 0; i < s->file_count; i++) {
    free(s->files[i].path);
    free(s->files[i].module);
    free(s->files[i].chunk);
  }
  free(s->files);
  s->files = NULL;
  s->file_count = s->file_cap = 0;
}

static const klua_file *klua_file_find(const klua_script *s, const char *path) {
  for (uint32_t i = 0; i < s->file_count; i++)
    if (strcmp(s->files[i].path, path) == 0) return &s->files[i];
  return NULL;
}

/* ---- table snapshots (protected bodies: they allocate) -------------------- */

/* snapshot(t) -> a shallow copy of t, raw. */
static int klua_snapshot_body(lua_State *L) {
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, 2);
  }
  return 1;
}

/* restore(t, snap): t's raw contents become snap's (keys snap lacks are
 * removed: clearing a field during a traversal is allowed). */
static int klua_restore_body(lua_State *L) {
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, 2) == LUA_TNIL) {
      lua_pushvalue(L, -2);
      lua_pushnil(L);
      lua_rawset(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, 1);
  }
  return 0;
}

/* Runs fn(a [, b]) protected, leaving `results` values; false on error
 * (memory), with the stack as it was. */
static bool klua_protected(lua_State *L, lua_CFunction fn, int a, int b, int results) {
  int top = lua_gettop(L);
  a = lua_absindex(L, a);
  b = b ? lua_absindex(L, b) : 0;
  lua_pushcfunction(L, fn);
  lua_pushvalue(L, a);
  if (b) lua_pushvalue(L, b);
  if (lua_pcall(L, b ? 2 : 1, results, 0) != LUA_OK) {
    lua_settop(L, top);
    return false;
  }
  return true;
}

/* ---- reload ------------------------------------------------------------- */

/* Logs and counts the error at the top, keeps the first for the caller,
 * pops it (only it: the reload keeps its own values on the stack). */
static void klua_reload_report(klua_script *s, const char *what, const char *name) {
  lua_State *L = s->vm.L;
  const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(error object is not a string)";
  if (klua_hard_stop(s)) s->call_interrupted = true;
  s->errors++;
  s->host->log(s->host, KEEL_LOG_ERROR, "%s%s: %s", what, name, msg);
  if (!s->err_set && s->err_out) {
    klua_message_set(s->err_out, "%s", msg);
    s->err_set = true;
  }
  lua_pop(L, 1);
}

/* One undo entry per module whose cache entry a reload changed, so a
 * failing on_reload() can put every file of the batch back. Stack slots
 * (absolute): the loaded table, the undo list. */
static void klua_undo_push(lua_State *L, int undo, const char *module, int old_value, int old_contents) {
  lua_createtable(L, 3, 0);
  lua_pushstring(L, module);
  lua_rawseti(L, -2, 1);
  lua_pushvalue(L, old_value);
  lua_rawseti(L, -2, 2);
  lua_pushvalue(L, old_contents);
  lua_rawseti(L, -2, 3);
  lua_rawseti(L, undo, (lua_Integer)lua_rawlen(L, undo) + 1);
}

static int klua_undo_push_body(lua_State *L) {
  klua_undo_push(L, 1, lua_tostring(L, 2), 3, 4);
  return 0;
}

/* Puts every module of the undo list back (value in the cache, and the
 * contents of a table that was patched in place). */
static void klua_undo_all(lua_State *L, int loaded, int undo) {
  for (lua_Integer i = (lua_Integer)lua_rawlen(L, undo); i >= 1; i--) {
    lua_rawgeti(L, undo, i);
    int e = lua_gettop(L);
    lua_rawgeti(L, e, 2); /* old value */
    lua_rawgeti(L, e, 3); /* old contents or nil */
    if (lua_istable(L, -1) && lua_istable(L, -2)) klua_protected(L, klua_restore_body, -2, -1, 0);
    lua_pop(L, 1);
    lua_rawgeti(L, e, 1);
    lua_insert(L, -2);
    lua_rawset(L, loaded);
    lua_settop(L, e - 1);
  }
}

/* Re-runs one module: like require, with the cache entry cleared first and
 * put back if the file fails. A module that returned a table before and
 * returns one again has its old table patched in place. */
static bool klua_reload_module(klua_script *s, const klua_file *f, int chunk, int loaded, int undo) {
  lua_State *L = s->vm.L;
  lua_getfield(L, loaded, f->module);
  int old = lua_gettop(L);
  lua_pushnil(L);
  lua_setfield(L, loaded, f->module);
  lua_pushvalue(L, chunk);
  lua_pushstring(L, f->module);
  lua_pushstring(L, f->chunk + 1);
  s->calls++;
  if (lua_pcall(L, 2, 1, KLUA_SLOT_MSGH) != LUA_OK) {
    lua_pushvalue(L, old);
    lua_setfield(L, loaded, f->module);
    klua_reload_report(s, "reloading ", f->chunk + 1);
    lua_settop(L, old - 1);
    return false;
  }
  int result = lua_gettop(L);
  if (lua_isnil(L, result)) {
    lua_getfield(L, loaded, f->module);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_pushboolean(L, 1);
    }
    lua_replace(L, result);
  }
  bool patch = lua_istable(L, old) && lua_istable(L, result) && !lua_rawequal(L, old, result);
  bool ok;
  if (patch) {
    ok = klua_protected(L, klua_snapshot_body, old, 0, 1); /* old contents, for undo */
    if (ok) {
      int contents = lua_gettop(L);
      lua_pushcfunction(L, klua_undo_push_body);
      lua_pushvalue(L, undo);
      lua_pushstring(L, f->module);
      lua_pushvalue(L, old);
      lua_pushvalue(L, contents);
      ok = lua_pcall(L, 4, 0, 0) == LUA_OK && klua_protected(L, klua_restore_body, old, result, 0);
      if (ok) {
        if (lua_getmetatable(L, result))
          lua_setmetatable(L, old);
        else {
          lua_pushnil(L);
          lua_setmetatable(L, old);
        }
      }
    }
    lua_pushvalue(L, ok ? old : result);
  } else {
    lua_pushcfunction(L, klua_undo_push_body);
    lua_pushvalue(L, undo);
    lua_pushstring(L, f->module);
    lua_pushvalue(L, old);
    lua_pushnil(L);
    ok = lua_pcall(L, 4, 0, 0) == LUA_OK;
    lua_pushvalue(L, result);
  }
  lua_setfield(L, loaded, f->module);
  if (!ok) {
    lua_pushvalue(L, old);
    lua_setfield(L, loaded, f->module);
    lua_pushliteral(L, "not enough memory");
    klua_reload_report(s, "reloading ", f->chunk + 1);
  }
  lua_settop(L, old - 1);
  return ok;
}

static bool klua_reload_file(klua_script *s, const klua_file *f, int loaded, int undo) {
  lua_State *L = s->vm.L;
  int base = lua_gettop(L);
  char *buf = NULL;
  size_t len = 0;
  char err[KEEL_MESSAGE_MAX];
  /* A module is held to require's rule again: the file may have been
   * replaced by a symlink to a file outside the game directory since it was
   * required. The resolved path is what is read. */
  char real[PATH_MAX];
  const char *path = f->path;
  if (f->module) {
    size_t root = strlen(s->game_real);
    if (!realpath(f->path, real)) {
      snprintf(err, sizeof err, "cannot open '%s': %s", f->path, strerror(errno));
    } else if (strncmp(real, s->game_real, root) != 0 || real[root] != '/') {
      snprintf(err, sizeof err, "require: module '%s' resolves outside the game directory", f->module);
    } else {
      err[0] = '\0';
      path = real;
    }
    if (err[0]) {
      lua_pushstring(L, err);
      klua_reload_report(s, "reloading ", f->chunk + 1);
      s->host->log(s->host, KEEL_LOG_WARN, "reload of %s failed: the old code keeps running", f->chunk + 1);
      return false;
    }
  }
  if (!klua_read_file(path, &buf, &len, err, sizeof err)) {
    lua_pushstring(L, err);
    klua_reload_report(s, "reloading ", f->chunk + 1);
    return false;
  }
  /* The globals as they were, to put back if the file fails half-way. */
  lua_pushglobaltable(L);
  bool snap = klua_protected(L, klua_snapshot_body, -1, 0, 1);
  if (!snap) {
    free(buf);
    lua_settop(L, base);
    lua_pushliteral(L, "not enough memory");
    klua_reload_report(s, "reloading ", f->chunk + 1);
    return false;
  }
  int globals = base + 1, before = base + 2;
  int st = luaL_loadbufferx(L, buf, len, f->chunk, "t");
  free(buf);
  bool ok;
  if (st != LUA_OK) {
    klua_reload_report(s, "reloading ", f->chunk + 1); /* "main.lua:3: ... near ..." */
    ok = false;
  } else if (f->module) {
    ok = klua_reload_module(s, f, lua_gettop(L), loaded, undo);
    lua_pop(L, 1);
  } else {
    s->calls++;
    ok = lua_pcall(L, 0, 0, KLUA_SLOT_MSGH) == LUA_OK;
    if (!ok) klua_reload_report(s, "reloading ", f->chunk + 1);
  }
  if (!ok) klua_protected(L, klua_restore_body, globals, before, 0);
  lua_settop(L, base);
  if (ok)
    s->host->log(s->host, KEEL_LOG_INFO, "reloaded %s", f->chunk + 1);
  else
    s->host->log(s->host, KEEL_LOG_WARN, "reload of %s failed: the old code keeps running", f->chunk + 1);
  return ok;
}

keel_result klua_reload(keel_script *script, const char *const *paths, uint32_t count, keel_message *error) {
  klua_script *s = (klua_script *)script;
  if (!s || (count && !paths)) {
    klua_message_set(error, "lua: reload needs the script and the paths");
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  if (!s->inited || s->shut) {
    klua_message_set(error, "lua: reload before init or after shutdown");
    return KEEL_ERR_WRONG_STATE;
  }
  klua_entry_begin(s, error);
  lua_State *L = s->vm.L;
  klua_call_begin(s, s->budget_ns, "tick"); /* a reload opens a tick: its budget */
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  int loaded = lua_gettop(L);
  lua_pushglobaltable(L);
  int globals = loaded + 1;
  lua_newtable(L); /* undo list */
  int undo = loaded + 2;
  bool snap = klua_protected(L, klua_snapshot_body, globals, 0, 1); /* the batch's globals, for on_reload */
  uint32_t reloaded = 0;
  if (!snap) {
    lua_pushliteral(L, "not enough memory");
    klua_reload_report(s, "reloading", "");
  } else {
    /* Modules first, so a main script that requires them finds the new code. */
    for (int pass = 0; pass < 2; pass++) {
      for (uint32_t i = 0; i < count && !klua_hard_stop(s); i++) {
        const klua_file *f = paths[i] ? klua_file_find(s, paths[i]) : NULL;
        if (!f) {
          if (pass == 0)
            s->host->log(s->host, KEEL_LOG_WARN, "reload: %s is not a file this game loaded", paths[i] ? paths[i] : "(null)");
          continue;
        }
        if ((f->module != NULL) != (pass == 0)) continue;
        if (klua_reload_file(s, f, loaded, undo)) reloaded++;
      }
    }
  }
  if (reloaded && !klua_hard_stop(s)) {
    if (lua_getglobal(L, "on_reload") == LUA_TFUNCTION) {
      s->calls++;
      if (lua_pcall(L, 0, 0, KLUA_SLOT_MSGH) != LUA_OK) {
        klua_reload_report(s, "on_reload()", "");
        klua_undo_all(L, loaded, undo);
        klua_protected(L, klua_restore_body, globals, undo + 1, 0);
        s->host->log(s->host, KEEL_LOG_WARN, "on_reload() failed: the reload is undone, the old code keeps running");
      }
    } else {
      lua_pop(L, 1);
    }
  }
  lua_settop(L, KLUA_GAME_BASE_TOP);
  klua_collect_if_over(s);
  klua_call_end(s);
  return s->err_set ? KEEL_ERR_SCRIPT : KEEL_OK;
}
