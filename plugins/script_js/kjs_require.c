/* CommonJS `require` for keel's JavaScript runtime, confined to the game
 * directory with the rules and messages of the Lua runtime's require
 * (docs/scripting.md §9):
 *
 *   require("lib/util")   -> <game_dir>/lib/util, lib/util.js, lib/util.json
 *                            or lib/util/index.js, the first that exists
 *   require("./x")        -> relative to the requiring module's directory
 *
 * An absolute name, a name with '\' or NUL, or one whose path climbs above
 * the game directory is refused ("leaves the game directory"), and so is a
 * file whose real path (after symlinks) is outside it. A module runs once,
 * as function (exports, require, module, __filename, __dirname) with `this`
 * = exports, and is cached by its path under the game directory; a module
 * whose top level throws is not cached. The cache and each require's
 * directory live in the heap stash, out of the script's reach: a require
 * function carries only a number (its magic) naming its directory. */
#include "kjs_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KJS_REQ_STASH "kjs_require"   /* stash key: a bare object {cache, dirs, n} */
#define KJS_REQ_MAX_MODULES 32767     /* a function's magic is a signed 16-bit number */

/* Throws a plain Error blamed on the script's require call (NULL file),
 * after freeing `owned` (the text may point into it). */
static _Noreturn void kjs_req_fail(duk_context *ctx, void *owned, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static _Noreturn void kjs_req_fail(duk_context *ctx, void *owned, const char *fmt, ...) {
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  free(owned);
  duk_error_raw(ctx, DUK_ERR_ERROR, NULL, 0, "%s", text);
  __builtin_unreachable();
}

static const char *kjs_req_type(duk_context *ctx, duk_idx_t idx) {
  switch (duk_get_type(ctx, idx)) {
    case DUK_TYPE_UNDEFINED: return "undefined";
    case DUK_TYPE_NULL: return "null";
    case DUK_TYPE_BOOLEAN: return "boolean";
    case DUK_TYPE_NUMBER: return "number";
    case DUK_TYPE_STRING: return "string";
    case DUK_TYPE_OBJECT: return duk_is_function(ctx, idx) ? "function" : "object";
    default: return "another type";
  }
}

/* Defines an own data property (no setter on a prototype runs): the value
 * on top goes to the object at obj. */
static void kjs_req_def(duk_context *ctx, duk_idx_t obj, const char *key) {
  obj = duk_normalize_index(ctx, obj);
  duk_push_string(ctx, key);
  duk_insert(ctx, -2);
  duk_def_prop(ctx, obj,
               DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_SET_WRITABLE | DUK_DEFPROP_SET_ENUMERABLE |
                   DUK_DEFPROP_SET_CONFIGURABLE);
}

/* Pushes a new module object for `key` ({exports: {}, id, filename,
 * loaded: false}, defined, not assigned: no setter a script put on
 * Object.prototype sees them) and caches it under `key` before it runs, so
 * a cycle sees it. Returns its index. */
static duk_idx_t kjs_req_push_module(duk_context *ctx, duk_idx_t cache, const char *key) {
  duk_push_object(ctx);
  duk_idx_t mod = duk_get_top_index(ctx);
  duk_push_object(ctx);
  kjs_req_def(ctx, mod, "exports");
  duk_push_string(ctx, key);
  kjs_req_def(ctx, mod, "id");
  duk_push_string(ctx, key);
  kjs_req_def(ctx, mod, "filename");
  duk_push_false(ctx);
  kjs_req_def(ctx, mod, "loaded");
  duk_dup(ctx, mod);
  duk_put_prop_string(ctx, cache, key);
  return mod;
}

/* Pushes the stash's require state, creating it on first use. */
static duk_idx_t kjs_req_state(duk_context *ctx) {
  duk_push_heap_stash(ctx);
  if (!duk_get_prop_string(ctx, -1, KJS_REQ_STASH)) {
    duk_pop(ctx);
    duk_push_bare_object(ctx);
    duk_push_bare_object(ctx);
    duk_put_prop_string(ctx, -2, "cache");
    duk_push_bare_object(ctx);
    duk_put_prop_string(ctx, -2, "dirs");
    duk_push_uint(ctx, 0);
    duk_put_prop_string(ctx, -2, "n");
    duk_dup_top(ctx);
    duk_put_prop_string(ctx, -3, KJS_REQ_STASH);
  }
  duk_remove(ctx, -2);
  return duk_get_top_index(ctx);
}

static duk_ret_t kjs_require_fn(duk_context *ctx);

/* Pushes a require function resolving "./" names against `dir` (a path
 * under the game directory, "" for its root). */
static void kjs_req_push_function(duk_context *ctx, const char *dir) {
  duk_idx_t st = kjs_req_state(ctx);
  duk_get_prop_string(ctx, st, "n");
  duk_uint_t n = duk_get_uint(ctx, -1);
  duk_pop(ctx);
  /* one directory, one number: reuse it */
  duk_get_prop_string(ctx, st, "dirs");
  duk_int_t magic = -1;
  for (duk_uint_t i = 0; i < n && magic < 0; i++) {
    duk_get_prop_index(ctx, -1, i);
    if (strcmp(duk_get_string_default(ctx, -1, ""), dir) == 0) magic = (duk_int_t)i;
    duk_pop(ctx);
  }
  if (magic < 0) {
    if (n >= KJS_REQ_MAX_MODULES)
      kjs_req_fail(ctx, NULL, "require: modules in more than %d directories", KJS_REQ_MAX_MODULES);
    duk_push_string(ctx, dir);
    duk_put_prop_index(ctx, -2, n);
    magic = (duk_int_t)n;
    duk_push_uint(ctx, n + 1);
    duk_put_prop_string(ctx, st, "n");
  }
  duk_pop_2(ctx); /* dirs, state */
  duk_push_c_function(ctx, kjs_require_fn, 1);
  duk_set_magic(ctx, -1, magic);
  duk_push_string(ctx, "require"); /* stack lines read "at require (native)" */
  kjs_req_def(ctx, -2, "name");
}

/* Lexically joins base (a path under the game directory) and name into
 * out ("a/b/c", no leading '/'); false when a ".." climbs above the root. */
static bool kjs_req_join(const char *base, const char *name, char *out, size_t cap) {
  char tmp[PATH_MAX * 2];
  int n = snprintf(tmp, sizeof tmp, "%s/%s", base, name);
  if (n < 0 || (size_t)n >= sizeof tmp) return false;
  size_t len = 0;
  out[0] = '\0';
  for (char *seg = tmp; *seg;) {
    char *end = strchr(seg, '/');
    size_t sl = end ? (size_t)(end - seg) : strlen(seg);
    if (sl == 0 || (sl == 1 && seg[0] == '.')) {
      /* nothing */
    } else if (sl == 2 && seg[0] == '.' && seg[1] == '.') {
      if (len == 0) return false;
      while (len > 0 && out[len - 1] != '/') len--;
      if (len > 0) len--; /* the '/' before the dropped segment */
      out[len] = '\0';
    } else {
      if (len + (len ? 1 : 0) + sl + 1 > cap) return false;
      if (len) out[len++] = '/';
      memcpy(out + len, seg, sl);
      len += sl;
      out[len] = '\0';
    }
    if (!end) break;
    seg = end + 1;
  }
  return true;
}

/* A candidate exists when stat finds it and it is not a directory (a FIFO
 * is found, then refused with its reason by the reader, never waited on). */
static bool kjs_req_exists(const char *root, const char *rel) {
  char path[PATH_MAX];
  int n = snprintf(path, sizeof path, "%s/%s", root, rel);
  struct stat st;
  return n > 0 && (size_t)n < sizeof path && stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

static bool kjs_req_ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

typedef struct kjs_req_load {
  const char *key;  /* the module's path under the game directory */
  const char *dir;  /* its directory */
  const char *src;  /* its text (for a JSON error's line) */
  size_t len;
  bool json;
  bool compiling; /* set while the text is compiled or decoded */
} kjs_req_load;

/* [module text] -> [exports]: runs the module as function (exports,
 * require, module, __filename, __dirname) with this = exports, or decodes
 * a .json file. Under the caller's safe call. */
static duk_ret_t kjs_req_load_body(duk_context *ctx, void *udata) {
  kjs_req_load *l = udata;
  duk_idx_t mod = duk_normalize_index(ctx, -2);
  if (l->json) {
    l->compiling = true;
    duk_json_decode(ctx, -1);
    l->compiling = false;
    kjs_req_def(ctx, mod, "exports");
  } else {
    duk_push_string(ctx, "function (exports, require, module, __filename, __dirname) {");
    duk_insert(ctx, -2);
    duk_push_string(ctx, "\n}");
    duk_concat(ctx, 3);
    duk_push_string(ctx, l->key);
    l->compiling = true;
    duk_compile(ctx, DUK_COMPILE_FUNCTION);
    l->compiling = false;
    duk_get_prop_string(ctx, mod, "exports"); /* this */
    duk_dup_top(ctx);                         /* exports */
    kjs_req_push_function(ctx, l->dir);       /* require */
    duk_dup(ctx, mod);                        /* module */
    duk_push_string(ctx, l->key);             /* __filename */
    duk_push_string(ctx, l->dir);             /* __dirname */
    duk_call_method(ctx, 5);
    duk_pop(ctx);
  }
  duk_push_true(ctx);
  kjs_req_def(ctx, mod, "loaded");
  duk_get_prop_string(ctx, mod, "exports");
  return 1;
}

/* [error] -> [error]: its line, read under a safe call (a script may have
 * put a getter on Error.prototype.lineNumber). */
static duk_ret_t kjs_req_line_body(duk_context *ctx, void *udata) {
  long *line = udata;
  duk_get_prop_string(ctx, -1, "lineNumber");
  if (duk_is_number(ctx, -1)) *line = (long)duk_get_int(ctx, -1);
  duk_pop(ctx);
  duk_get_prop_string(ctx, -2, "message");
  return 1;
}

/* A failed compile or decode is blamed on the module's file and line, not
 * on the require call the error was made under. [error] stays on top. */
static void kjs_req_blame_file(duk_context *ctx, const kjs_req_load *l) {
  if (!duk_is_object(ctx, -1)) return;
  long line = 0;
  char msg[160] = "";
  duk_dup_top(ctx);
  if (duk_safe_call(ctx, kjs_req_line_body, &line, 1, 1) == DUK_EXEC_SUCCESS && duk_is_string(ctx, -1))
    snprintf(msg, sizeof msg, "%s", duk_get_string(ctx, -1));
  duk_pop(ctx);
  if (l->json) { /* "invalid json (at offset N)": the line of byte N */
    const char *at = strstr(msg, "at offset ");
    size_t off = at ? (size_t)strtoull(at + 10, NULL, 10) : 0;
    line = 1;
    for (size_t i = 0; i < off && i < l->len; i++) line += l->src[i] == '\n';
  }
  char where[PATH_MAX + 32];
  if (line > 0)
    snprintf(where, sizeof where, "%s:%ld", l->key, line);
  else
    snprintf(where, sizeof where, "%s", l->key);
  duk_push_string(ctx, where);
  duk_put_prop_string(ctx, -2, KJS_WHERE);
}

static duk_ret_t kjs_req_push_text_body(duk_context *ctx, void *udata) {
  const kjs_req_load *l = udata;
  duk_push_lstring(ctx, l->src, l->len);
  return 1;
}

/* Throws the value on top again, keeping where it was first thrown (the
 * throw hook would otherwise record this C function's caller). */
static _Noreturn void kjs_req_rethrow(duk_context *ctx) {
  kjs_vm_of(ctx)->keep_throw_where = true;
  (void)duk_throw_raw(ctx);
  __builtin_unreachable();
}

/* require's path buffers: on the heap, since a chain of requires nests
 * this function's frame (Duktape's native stack check still bounds it). */
typedef struct kjs_req_found {
  char dir[PATH_MAX];  /* the calling require's directory */
  char base[PATH_MAX]; /* the name joined to it */
  char rel[PATH_MAX];  /* the candidate that exists, under the game directory */
  char path[PATH_MAX]; /* its path */
  char real[PATH_MAX]; /* its real path */
} kjs_req_found;

static duk_ret_t kjs_require_fn(duk_context *ctx) {
  kjs_vm *vm = kjs_vm_of(ctx);
  const keel_script *s = vm->script;
  if (!duk_is_string(ctx, 0))
    kjs_req_fail(ctx, NULL, "require: argument 'id' must be a string, got %s", kjs_req_type(ctx, 0));
  duk_size_t len = 0;
  const char *name = duk_get_lstring(ctx, 0, &len);
  duk_idx_t st = kjs_req_state(ctx);
  duk_get_prop_string(ctx, st, "dirs");
  duk_get_prop_index(ctx, -1, (duk_uarridx_t)duk_get_current_magic(ctx));
  kjs_req_found *fp = malloc(sizeof *fp); /* nothing below throws before it is freed, but kjs_req_fail */
  if (!fp) kjs_req_fail(ctx, NULL, "require: not enough memory");
  snprintf(fp->dir, sizeof fp->dir, "%s", duk_get_string_default(ctx, -1, ""));
  duk_pop_2(ctx);

  bool relative = strncmp(name, "./", 2) == 0 || strncmp(name, "../", 3) == 0 || strcmp(name, ".") == 0 ||
                  strcmp(name, "..") == 0;
  if (len == 0 || strlen(name) != len || name[0] == '/' || strchr(name, '\\') ||
      !kjs_req_join(relative ? fp->dir : "", name, fp->base, sizeof fp->base) || fp->base[0] == '\0') {
    kjs_req_fail(ctx, fp, "require: module name '%s' leaves the game directory", name);
  }
  if (!s->game_real) {
    kjs_req_fail(ctx, fp, "require: the game directory could not be resolved when the runtime started");
  }
  static const char *const suffix[] = {"", ".js", ".json", "/index.js"};
  bool found = false;
  for (size_t i = 0; i < sizeof suffix / sizeof suffix[0] && !found; i++) {
    int n = snprintf(fp->rel, sizeof fp->rel, "%s%s", fp->base, suffix[i]);
    found = n > 0 && (size_t)n < sizeof fp->rel && kjs_req_exists(s->game_real, fp->rel);
  }
  if (!found) {
    const char *b = fp->base;
    kjs_req_fail(ctx, fp, "module '%s' not found: no file '%s', '%s.js', '%s.json' or '%s/index.js' in the game "
                 "directory", name, b, b, b, b);
  }
  int pn = snprintf(fp->path, sizeof fp->path, "%s/%s", s->game_real, fp->rel);
  size_t root = strlen(s->game_real);
  if (pn < 0 || (size_t)pn >= sizeof fp->path || !realpath(fp->path, fp->real) ||
      strncmp(fp->real, s->game_real, root) != 0 || fp->real[root] != '/') {
    kjs_req_fail(ctx, fp, "require: module '%s' resolves outside the game directory", name);
  }
  char key[PATH_MAX];
  snprintf(key, sizeof key, "%s", fp->real + root + 1);

  /* Cached (or being loaded: a cycle gets the exports so far). */
  duk_get_prop_string(ctx, st, "cache");
  duk_idx_t cache = duk_get_top_index(ctx);
  if (duk_get_prop_string(ctx, cache, key)) {
    free(fp);
    duk_get_prop_string(ctx, -1, "exports");
    return 1;
  }
  duk_pop(ctx);

  /* Watched for hot reload from its first load, even if it fails: fixing
   * it reloads it. The game heap only (a one-off's modules are not the game's). */
  if (!vm->pool && KEEL_HAS_MEMBER(s->world, keel_script_world, file_loaded) && s->world->file_loaded)
    s->world->file_loaded(s->world->ctx, fp->real);
  size_t slen = 0;
  keel_message err;
  char *src = kjs_read_file(fp->real, &slen, &err);
  free(fp);
  if (!src) kjs_req_fail(ctx, NULL, "require: %s", strncmp(err.text, "js: ", 4) == 0 ? err.text + 4 : err.text);
  char kdir[PATH_MAX]; /* the module's own directory */
  snprintf(kdir, sizeof kdir, "%s", key);
  char *slash = strrchr(kdir, '/');
  if (slash)
    *slash = '\0';
  else
    kdir[0] = '\0';
  /* Into the heap before anything else can throw; the heap's copy stays on
   * the stack (for a JSON error's line), the C one goes at once. */
  kjs_req_load l = {key, kdir, src, slen, kjs_req_ends_with(key, ".json"), false};
  duk_int_t rc = duk_safe_call(ctx, kjs_req_push_text_body, &l, 0, 1);
  free(src);
  if (rc != DUK_EXEC_SUCCESS) kjs_req_rethrow(ctx);
  duk_idx_t text = duk_get_top_index(ctx);
  l.src = duk_get_lstring(ctx, text, &l.len);

  /* The module object, cached before it runs (a cycle sees it). */
  duk_idx_t mod = kjs_req_push_module(ctx, cache, key);

  duk_dup(ctx, mod);
  duk_dup(ctx, text);
  if (duk_safe_call(ctx, kjs_req_load_body, &l, 2, 1) != DUK_EXEC_SUCCESS) {
    /* Not cached: the next require runs it again (CommonJS). */
    duk_del_prop_string(ctx, cache, key);
    if (l.compiling) kjs_req_blame_file(ctx, &l);
    kjs_req_rethrow(ctx);
  }
  return 1;
}

/* The global `require`, resolving "./" names against the main script's
 * directory. Inside a safe call, on every heap. */
void kjs_require_install(duk_context *ctx) {
  kjs_vm *vm = kjs_vm_of(ctx);
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", vm->script->main_name);
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  else
    dir[0] = '\0';
  duk_push_global_object(ctx);
  kjs_req_push_function(ctx, dir);
  duk_put_prop_string(ctx, -2, "require");
  duk_pop(ctx);
}

/* ---- hot reload ---------------------------------------------------------- */

/* Logs and counts the error on top as a failed reload of `key`, pops it. */
static void kjs_req_reload_failed(kjs_vm *vm, const char *key) {
  char what[PATH_MAX + 16];
  snprintf(what, sizeof what, "reloading %s", key);
  kjs_report_error(vm, what);
  const keel_host *h = vm->script->host;
  h->log(h, KEEL_LOG_WARN, "reload of %s failed: the old code keeps running", key);
}

typedef struct kjs_req_patch {
  duk_idx_t oldexp, newexp, entry; /* absolute: a safe call keeps the caller's frame */
} kjs_req_patch;

/* The old exports' contents into the undo entry, then the new ones into
 * the old exports object. */
static duk_ret_t kjs_req_patch_body(duk_context *ctx, void *udata) {
  const kjs_req_patch *p = udata;
  kjs_object_snap(ctx, p->oldexp);
  duk_put_prop_index(ctx, p->entry, 2);
  kjs_object_snap(ctx, p->newexp);
  kjs_object_restore(ctx, p->oldexp, -1);
  return 0;
}

/* After a failed patch: the old contents (newexp is their snapshot) back. */
static duk_ret_t kjs_req_unpatch_body(duk_context *ctx, void *udata) {
  const kjs_req_patch *p = udata;
  kjs_object_restore(ctx, p->oldexp, p->newexp);
  return 0;
}

int kjs_require_reload(kjs_vm *vm, const char *real_path, duk_idx_t undo) {
  duk_context *ctx = vm->ctx;
  const keel_script *s = vm->script;
  undo = duk_normalize_index(ctx, undo);
  size_t root = s->game_real ? strlen(s->game_real) : 0;
  if (!s->game_real || strncmp(real_path, s->game_real, root) != 0 || real_path[root] != '/') return -1;
  const char *key = real_path + root + 1;
  duk_idx_t base = duk_get_top(ctx);
  duk_idx_t st = kjs_req_state(ctx);
  duk_get_prop_string(ctx, st, "cache");
  duk_idx_t cache = duk_get_top_index(ctx);
  if (!duk_get_prop_string(ctx, cache, key)) {
    /* Not in the cache (its first load failed): the next require runs the new text. */
    duk_set_top(ctx, base);
    const keel_host *h = s->host;
    h->log(h, KEEL_LOG_INFO, "reloaded %s (it runs at its next require)", key);
    return 1;
  }
  duk_idx_t oldmod = duk_get_top_index(ctx);
  duk_get_prop_string(ctx, oldmod, "exports");
  duk_idx_t oldexp = duk_get_top_index(ctx);
  keel_message err;
  /* Held to require's rule again: the file may have been replaced by a
   * symlink to a file outside the game directory since it was required.
   * The resolved path is what is read. */
  char now_real[PATH_MAX];
  if (!realpath(real_path, now_real)) {
    snprintf(err.text, sizeof err.text, "cannot open %s: %s", real_path, strerror(errno));
    duk_push_string(ctx, err.text);
    kjs_req_reload_failed(vm, key);
    duk_set_top(ctx, base);
    return 0;
  }
  if (strncmp(now_real, s->game_real, root) != 0 || now_real[root] != '/') {
    duk_push_sprintf(ctx, "require: module '%s' resolves outside the game directory", key);
    kjs_req_reload_failed(vm, key);
    duk_set_top(ctx, base);
    return 0;
  }
  size_t slen = 0;
  char *src = kjs_read_file(now_real, &slen, &err);
  if (!src) {
    duk_push_string(ctx, strncmp(err.text, "js: ", 4) == 0 ? err.text + 4 : err.text);
    kjs_req_reload_failed(vm, key);
    duk_set_top(ctx, base);
    return 0;
  }
  char kdir[PATH_MAX];
  snprintf(kdir, sizeof kdir, "%s", key);
  char *slash = strrchr(kdir, '/');
  if (slash)
    *slash = '\0';
  else
    kdir[0] = '\0';
  kjs_req_load l = {key, kdir, src, slen, kjs_req_ends_with(key, ".json"), false};
  duk_int_t rc = duk_safe_call(ctx, kjs_req_push_text_body, &l, 0, 1);
  free(src);
  if (rc != DUK_EXEC_SUCCESS) {
    kjs_req_reload_failed(vm, key);
    duk_set_top(ctx, base);
    return 0;
  }
  duk_idx_t text = duk_get_top_index(ctx);
  l.src = duk_get_lstring(ctx, text, &l.len);
  /* The globals, to put back if the module fails half-way. */
  if (!kjs_reload_snap_globals(vm, key)) {
    duk_set_top(ctx, base);
    return 0;
  }
  duk_idx_t globals = duk_get_top_index(ctx);
  /* A new module object, cached while it runs (as a first require does). */
  duk_idx_t mod = kjs_req_push_module(ctx, cache, key);
  duk_dup(ctx, mod);
  duk_dup(ctx, text);
  vm->calls++;
  if (duk_safe_call(ctx, kjs_req_load_body, &l, 2, 1) != DUK_EXEC_SUCCESS) {
    if (l.compiling) kjs_req_blame_file(ctx, &l);
    kjs_req_reload_failed(vm, key);
    duk_dup(ctx, oldmod);
    duk_put_prop_string(ctx, cache, key);
    kjs_object_restore_globals(ctx, globals);
    duk_set_top(ctx, base);
    return 0;
  }
  duk_idx_t newexp = duk_get_top_index(ctx);
  /* Undo entry: [key, old module, old exports' contents or undefined]. */
  duk_push_array(ctx);
  duk_idx_t entry = duk_get_top_index(ctx);
  duk_push_string(ctx, key);
  duk_put_prop_index(ctx, entry, 0);
  duk_dup(ctx, oldmod);
  duk_put_prop_index(ctx, entry, 1);
  bool patch = duk_is_object(ctx, oldexp) && !duk_is_function(ctx, oldexp) && duk_is_object(ctx, newexp) &&
               !duk_is_function(ctx, newexp) && !duk_strict_equals(ctx, oldexp, newexp);
  if (patch) {
    /* The old exports object takes the new contents: whoever holds it (a
     * `var m = require(...)` in the main script) sees the new functions,
     * and the old module object stays the cached one. Protected: reading
     * the contents runs the exports' getters and Proxy traps. */
    kjs_req_patch pt = {oldexp, newexp, entry};
    if (duk_safe_call(ctx, kjs_req_patch_body, &pt, 0, 1) != DUK_EXEC_SUCCESS) {
      kjs_req_reload_failed(vm, key);
      /* What was patched goes back (as far as the traps let it), with the
       * cache entry and the globals. */
      duk_get_prop_index(ctx, entry, 2);
      if (duk_is_object(ctx, -1)) {
        pt.newexp = duk_get_top_index(ctx);
        duk_safe_call(ctx, kjs_req_unpatch_body, &pt, 0, 1);
      }
      duk_dup(ctx, oldmod);
      duk_put_prop_string(ctx, cache, key);
      kjs_object_restore_globals(ctx, globals);
      duk_set_top(ctx, base);
      return 0;
    }
    duk_pop(ctx);
    duk_dup(ctx, oldmod);
    duk_put_prop_string(ctx, cache, key);
  }
  duk_put_prop_index(ctx, undo, (duk_uarridx_t)duk_get_length(ctx, undo));
  duk_set_top(ctx, base);
  const keel_host *h = s->host;
  h->log(h, KEEL_LOG_INFO, "reloaded %s", key);
  return 1;
}

void kjs_require_undo(kjs_vm *vm, duk_idx_t undo) {
  duk_context *ctx = vm->ctx;
  undo = duk_normalize_index(ctx, undo);
  duk_idx_t base = duk_get_top(ctx);
  duk_idx_t st = kjs_req_state(ctx);
  duk_get_prop_string(ctx, st, "cache");
  duk_idx_t cache = duk_get_top_index(ctx);
  for (duk_size_t n = duk_get_length(ctx, undo); n > 0; n--) {
    duk_get_prop_index(ctx, undo, (duk_uarridx_t)(n - 1));
    duk_idx_t entry = duk_get_top_index(ctx);
    duk_get_prop_index(ctx, entry, 0); /* key */
    duk_get_prop_index(ctx, entry, 1); /* old module */
    duk_get_prop_index(ctx, entry, 2); /* old exports' contents */
    if (duk_is_object(ctx, -1)) {
      duk_get_prop_string(ctx, -2, "exports");
      kjs_object_restore(ctx, -1, -2);
      duk_pop(ctx);
    }
    duk_pop(ctx);
    duk_put_prop(ctx, cache); /* cache[key] = old module */
    duk_pop(ctx);             /* the entry */
  }
  duk_set_top(ctx, base);
}

