/* keel's JavaScript runtime: the "keel.script/1" interface on Duktape 2.7 and
 * the plugin's one exported symbol. The game runs on one heap on the script
 * worker; one-off code runs on a small pool of other heaps from any thread. */
#include "kjs_internal.h"

#include <keel/plugin.h>

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static void kjs_set_error(keel_message *error, const char *fmt, ...) {
  if (!error) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(error->text, sizeof error->text, fmt, ap);
  va_end(ap);
}

static void kjs_store_double(atomic_uint_fast64_t *slot, double d) {
  uint64_t bits;
  memcpy(&bits, &d, sizeof bits);
  atomic_store_explicit(slot, bits, memory_order_relaxed);
}

/* How messages name the main script: its path under game_dir ("main.js"),
 * else its file name. */
static void kjs_main_name(const keel_script_desc *d, char *out, size_t cap) {
  const char *path = d->main_path ? d->main_path : "main.js";
  const char *name = strrchr(path, '/');
  name = name ? name + 1 : path;
  if (d->game_dir && d->game_dir[0]) {
    size_t n = strlen(d->game_dir);
    while (n > 1 && d->game_dir[n - 1] == '/') n--;
    if (strncmp(path, d->game_dir, n) == 0 && path[n] == '/' && path[n + 1]) name = path + n + 1;
  }
  snprintf(out, cap, "%s", name);
}

/* require's root: the real path of game_dir, else of main_path's
 * directory; NULL when neither resolves (require then says so). */
static void kjs_game_real(const keel_script_desc *d, keel_script *s) {
  char dir[PATH_MAX], real[PATH_MAX];
  if (d->game_dir && d->game_dir[0]) {
    snprintf(dir, sizeof dir, "%s", d->game_dir);
  } else if (d->main_path) {
    snprintf(dir, sizeof dir, "%s", d->main_path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
      dir[1] = '\0';
    else if (slash)
      *slash = '\0';
    else
      snprintf(dir, sizeof dir, ".");
  } else {
    return;
  }
  if (realpath(dir, real)) s->game_real = strdup(real);
}

static keel_result kjs_dead_result(keel_script *s, keel_message *error) {
  kjs_set_error(error, "js: the game heap stopped after a Duktape fatal error: %s", s->game->fatal_msg);
  return KEEL_ERR_BACKEND;
}

/* Maps an entry's outcome to the interface's result and message. */
static keel_result kjs_finish(keel_script *s, kjs_vm *vm, int rc, keel_message *error) {
  if (rc < 0) {
    if (vm->dead && vm == s->game) return kjs_dead_result(s, error);
    kjs_set_error(error, "js: %s", vm->first_set ? vm->first.text : "the heap is unusable");
    return KEEL_ERR_BACKEND;
  }
  if (vm->first_set) {
    kjs_set_error(error, "%s", vm->first.text);
    return KEEL_ERR_SCRIPT;
  }
  return KEEL_OK;
}

/* ---- create / destroy ---- */

static void kjs_destroy(keel_script *s);

static keel_result kjs_create(const keel_script_desc *desc, keel_script **out, keel_message *error) {
  if (out) *out = NULL;
  if (!desc || !out || !desc->host || !desc->world) {
    kjs_set_error(error, "js: create needs a desc with host and world, and an out pointer");
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  if (desc->struct_size < KEEL_STRUCT_SIZE(keel_script_desc)) {
    kjs_set_error(error, "js: keel_script_desc of %u bytes is older than this plugin's %u", desc->struct_size,
                  KEEL_STRUCT_SIZE(keel_script_desc));
    return KEEL_ERR_VERSION;
  }
  const keel_script_world *w = desc->world;
  const keel_host *h = desc->host;
  if (!h->log || !h->cvar_get || !h->cvar_set || !w->id_reserve || !w->command_push || !w->object_get ||
      !w->object_count) {
    kjs_set_error(error, "js: the host or world table lacks a function this plugin calls");
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  keel_script *s = calloc(1, sizeof *s);
  if (!s) {
    kjs_set_error(error, "js: out of memory");
    return KEEL_ERR_OUT_OF_MEMORY;
  }
  s->desc = *desc;
  s->desc.struct_size = KEEL_STRUCT_SIZE(keel_script_desc);
  /* Only the name is kept: the strings are the caller's. */
  s->desc.main_path = NULL;
  s->desc.game_dir = NULL;
  s->host = h;
  s->world = w;
  kjs_main_name(desc, s->main_name, sizeof s->main_name);
  kjs_game_real(desc, s);
  if (pthread_mutex_init(&s->pool_lock, NULL) != 0) {
    free(s);
    kjs_set_error(error, "js: cannot create the pool lock");
    return KEEL_ERR_BACKEND;
  }
  s->main_path = NULL;
  if (desc->main_path) {
    s->main_path = strdup(desc->main_path);
    if (!s->main_path) {
      kjs_destroy(s);
      kjs_set_error(error, "js: out of memory");
      return KEEL_ERR_OUT_OF_MEMORY;
    }
  }
  s->game = kjs_vm_create(s, false, error);
  if (!s->game) {
    kjs_destroy(s);
    return KEEL_ERR_BACKEND;
  }
  *out = s;
  return KEEL_OK;
}

static void kjs_destroy(keel_script *s) {
  if (!s) return;
  kjs_vm_destroy(s->game);
  for (uint32_t i = 0; i < s->pool_idle; i++) kjs_vm_destroy(s->pool[i]);
  pthread_mutex_destroy(&s->pool_lock);
  free(s->main_path);
  free(s->game_real);
  free(s);
}

/* ---- init / tick / shutdown ---- */

typedef struct kjs_load {
  const char *src;
  size_t len;
  const char *name;
} kjs_load;

static duk_ret_t kjs_init_body(duk_context *ctx, void *udata) {
  kjs_load *ld = udata;
  kjs_vm *vm = kjs_vm_of(ctx);
  vm->script->reload_ready = true;
  /* Watched for hot reload even when it then fails: fixing it reloads it. */
  const keel_script_world *w = vm->script->world;
  if (KEEL_HAS_MEMBER(w, keel_script_world, file_loaded) && w->file_loaded && vm->script->main_path)
    w->file_loaded(w->ctx, vm->script->main_path);
  duk_push_lstring(ctx, ld->src, ld->len);
  duk_push_string(ctx, ld->name);
  if (duk_pcompile(ctx, 0) != DUK_EXEC_SUCCESS) {
    vm->calls++;
    kjs_report_error(vm, "loading the main script");
    return 0;
  }
  if (!kjs_call(vm, 0, "running the main script")) return 0; /* a failed load leaves init() unrun */
  if (duk_get_global_string(ctx, "init") && duk_is_function(ctx, -1))
    kjs_call(vm, 0, "init()");
  else
    duk_pop(ctx);
  return 0;
}

static const char *kjs_file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

/* Script sources are regular files of at most KEEL_SCRIPT_SOURCE_MAX bytes:
 * a FIFO would block the open and /dev/zero would never end, so the file is
 * opened without waiting and looked at before it is read. */
char *kjs_read_file(const char *path, size_t *len, keel_message *error) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    kjs_set_error(error, "js: cannot open %s: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    kjs_set_error(error, "js: cannot read %s: %s", path, strerror(errno));
    close(fd);
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    kjs_set_error(error, "js: cannot load %s: it is %s, not a regular file", path, kjs_file_kind(st.st_mode));
    close(fd);
    return NULL;
  }
  if ((uint64_t)st.st_size > KEEL_SCRIPT_SOURCE_MAX) {
    kjs_set_error(error, "js: cannot load %s: %llu bytes, more than the %u a script file may have", path,
                  (unsigned long long)st.st_size, KEEL_SCRIPT_SOURCE_MAX);
    close(fd);
    return NULL;
  }
  size_t size = (size_t)st.st_size;
  char *buf = malloc(size + 1);
  if (!buf) {
    kjs_set_error(error, "js: out of memory reading %s", path);
    close(fd);
    return NULL;
  }
  size_t n = 0;
  while (n <= size) { /* one byte more than fstat said, to see a file that grew */
    ssize_t got = read(fd, buf + n, size + 1 - n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      kjs_set_error(error, "js: cannot read %s: %s", path, strerror(errno));
      close(fd);
      free(buf);
      return NULL;
    }
    if (got == 0) break;
    n += (size_t)got;
  }
  close(fd);
  if (n > size) {
    kjs_set_error(error, "js: cannot load %s: it grew while being read", path);
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

static keel_result kjs_init(keel_script *s, keel_message *error) {
  if (!s) return KEEL_ERR_INVALID_ARGUMENT;
  if (s->game->dead) return kjs_dead_result(s, error);
  if (!s->main_path) {
    kjs_set_error(error, "js: no main script (desc->main_path is NULL)");
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  size_t len = 0;
  char *src = kjs_read_file(s->main_path, &len, error);
  if (!src) {
    s->host->log(s->host, KEEL_LOG_ERROR, "%s", error ? error->text : "js: cannot read the main script");
    return KEEL_ERR_IO;
  }
  kjs_load ld = {src, len, s->main_name};
  int rc = kjs_enter(s->game, kjs_init_body, &ld, s->desc.load_budget_ms ? s->desc.load_budget_ms : s->desc.tick_budget_ms,
                     "load");
  free(src);
  return kjs_finish(s, s->game, rc, error);
}

typedef struct kjs_tick_args {
  const keel_tick_info *tick;
  const keel_script_event *events;
  uint32_t count;
} kjs_tick_args;

static duk_ret_t kjs_tick_body(duk_context *ctx, void *udata) {
  kjs_tick_args *a = udata;
  kjs_vm *vm = kjs_vm_of(ctx);
  uint32_t dropped = 0;
  for (uint32_t i = 0; i < a->count; i++) {
    if (vm->stop != KJS_STOP_NONE) {
      /* The tick's budget is spent: any script code would be thrown out at
       * its first instruction, so the rest is not run. */
      kjs_api_drop(vm, &a->events[i]);
      dropped++;
      continue;
    }
    kjs_api_deliver(vm, &a->events[i]);
  }
  bool has_update = duk_get_global_string(ctx, "update") && duk_is_function(ctx, -1);
  bool skipped = has_update && vm->stop != KJS_STOP_NONE;
  if (has_update && !skipped) {
    duk_push_number(ctx, a->tick->dt);
    kjs_call(vm, 1, "update(dt)");
  } else {
    duk_pop(ctx);
  }
  /* Worded like the Lua runtime's warning. */
  const keel_host *h = vm->script->host;
  if (dropped)
    h->log(h, KEEL_LOG_WARN, "%u event(s) of this tick not delivered%s: the tick was stopped", dropped,
           skipped ? " and update(dt) not called" : "");
  else if (skipped)
    h->log(h, KEEL_LOG_WARN, "update(dt) not called: the tick was stopped");
  return 0;
}

static keel_result kjs_tick(keel_script *s, const keel_tick_info *tick, const keel_script_event *events,
                            uint32_t event_count, keel_message *error) {
  if (!s || !tick || (event_count && !events)) {
    kjs_set_error(error, "js: tick needs the script, the tick info and the events");
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  if (s->game->dead) return kjs_dead_result(s, error);
  atomic_store_explicit(&s->tick_frame, tick->frame, memory_order_relaxed);
  kjs_store_double(&s->tick_time_bits, tick->time);
  kjs_store_double(&s->tick_dt_bits, tick->dt);
  kjs_input_tick(s, tick);
  kjs_tick_args a = {tick, events, event_count};
  int rc = kjs_enter(s->game, kjs_tick_body, &a, s->desc.tick_budget_ms, "tick");
  return kjs_finish(s, s->game, rc, error);
}

static duk_ret_t kjs_shutdown_body(duk_context *ctx, void *udata) {
  (void)udata;
  kjs_vm *vm = kjs_vm_of(ctx);
  if (duk_get_global_string(ctx, "shutdown") && duk_is_function(ctx, -1))
    kjs_call(vm, 0, "shutdown()");
  else
    duk_pop(ctx);
  return 0;
}

static keel_result kjs_shutdown(keel_script *s, keel_message *error) {
  if (!s) return KEEL_ERR_INVALID_ARGUMENT;
  if (s->game->dead) return kjs_dead_result(s, error);
  int rc = kjs_enter(s->game, kjs_shutdown_body, NULL,
                     s->desc.shutdown_budget_ms ? s->desc.shutdown_budget_ms : s->desc.tick_budget_ms, "shutdown");
  return kjs_finish(s, s->game, rc, error);
}

/* ---- hot reload ---- */

typedef struct kjs_reload_args {
  const char *const *paths;
  uint32_t count;
} kjs_reload_args;

/* ---- hot reload's snapshots (see kjs_internal.h) ---- */

void kjs_object_snap(duk_context *ctx, duk_idx_t obj) {
  obj = duk_normalize_index(ctx, obj);
  duk_push_bare_object(ctx);
  duk_idx_t snap = duk_get_top_index(ctx);
  duk_enum(ctx, obj, DUK_ENUM_OWN_PROPERTIES_ONLY);
  while (duk_next(ctx, -1, 1)) duk_put_prop(ctx, snap);
  duk_pop(ctx);
}

void kjs_object_restore(duk_context *ctx, duk_idx_t obj, duk_idx_t snap) {
  obj = duk_normalize_index(ctx, obj);
  snap = duk_normalize_index(ctx, snap);
  duk_enum(ctx, obj, DUK_ENUM_OWN_PROPERTIES_ONLY);
  while (duk_next(ctx, -1, 0)) {
    duk_dup(ctx, -1);
    if (duk_has_prop(ctx, snap)) {
      duk_pop(ctx);
      continue;
    }
    duk_dup(ctx, -1);
    duk_get_prop_desc(ctx, obj, 0);
    bool configurable = duk_get_prop_string(ctx, -1, "configurable") && duk_to_boolean(ctx, -1);
    duk_pop_2(ctx);
    if (configurable)
      duk_del_prop(ctx, obj);
    else
      duk_pop(ctx);
  }
  duk_pop(ctx);
  duk_enum(ctx, snap, DUK_ENUM_OWN_PROPERTIES_ONLY);
  while (duk_next(ctx, -1, 1)) {
    duk_dup(ctx, -2);
    if (duk_has_prop(ctx, obj)) {
      /* Only the value: writable or not, the attributes stay. */
      duk_def_prop(ctx, obj, DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_FORCE);
    } else {
      duk_put_prop(ctx, obj);
    }
  }
  duk_pop(ctx);
}

void kjs_object_snap_globals(duk_context *ctx) {
  duk_push_global_object(ctx);
  kjs_object_snap(ctx, -1);
  duk_remove(ctx, -2);
}

static duk_ret_t kjs_snap_globals_body(duk_context *ctx, void *udata) {
  (void)udata;
  kjs_object_snap_globals(ctx);
  return 1;
}

/* kjs_object_snap_globals for a reload: reading the globals runs the
 * getters a script put on the global object, and one that raises must end
 * this reload as a failed one (said, the old code kept), not escape it. */
bool kjs_reload_snap_globals(kjs_vm *vm, const char *file) {
  if (duk_safe_call(vm->ctx, kjs_snap_globals_body, NULL, 0, 1) == DUK_EXEC_SUCCESS) return true;
  char what[PATH_MAX + 16];
  snprintf(what, sizeof what, "reloading %s", file);
  kjs_report_error(vm, what);
  const keel_host *h = vm->script->host;
  h->log(h, KEEL_LOG_WARN, "reload of %s failed: the old code keeps running", file);
  return false;
}

void kjs_object_restore_globals(duk_context *ctx, duk_idx_t snap) {
  snap = duk_normalize_index(ctx, snap);
  duk_push_global_object(ctx);
  kjs_object_restore(ctx, -1, snap);
  duk_pop(ctx);
}

/* Re-runs the main script as eval code, so its declarations replace the
 * old ones and a failed run can be undone (eval bindings are deletable). */
static bool kjs_reload_main(kjs_vm *vm, const char *src, size_t len) {
  duk_context *ctx = vm->ctx;
  keel_script *s = vm->script;
  char what[160];
  snprintf(what, sizeof what, "reloading %s", s->main_name);
  if (!kjs_reload_snap_globals(vm, s->main_name)) return false;
  duk_idx_t before = duk_get_top_index(ctx);
  duk_push_lstring(ctx, src, len);
  duk_push_string(ctx, s->main_name);
  bool ok;
  if (duk_pcompile(ctx, DUK_COMPILE_EVAL) != DUK_EXEC_SUCCESS) {
    vm->calls++;
    kjs_report_error(vm, what);
    ok = false;
  } else {
    ok = kjs_call(vm, 0, what);
  }
  if (!ok) {
    kjs_object_restore_globals(ctx, before);
    s->host->log(s->host, KEEL_LOG_WARN, "reload of %s failed: the old code keeps running", s->main_name);
  } else {
    s->host->log(s->host, KEEL_LOG_INFO, "reloaded %s", s->main_name);
  }
  duk_pop(ctx); /* the snapshot */
  return ok;
}

static duk_ret_t kjs_reload_body(duk_context *ctx, void *udata) {
  kjs_reload_args *a = udata;
  kjs_vm *vm = kjs_vm_of(ctx);
  keel_script *s = vm->script;
  /* the batch's globals, for on_reload; a failure names the file when
   * there is one */
  const char *name = "the changed files";
  if (a->count == 1 && a->paths[0]) {
    size_t root = s->game_real ? strlen(s->game_real) : 0;
    if (s->main_path && strcmp(a->paths[0], s->main_path) == 0)
      name = s->main_name;
    else if (root && strncmp(a->paths[0], s->game_real, root) == 0 && a->paths[0][root] == '/')
      name = a->paths[0] + root + 1;
  }
  if (!kjs_reload_snap_globals(vm, name)) return 0;
  duk_idx_t batch = duk_get_top_index(ctx);
  duk_push_array(ctx); /* undo entries of the modules reloaded */
  duk_idx_t undo = duk_get_top_index(ctx);
  uint32_t reloaded = 0;
  /* Modules first, so a main script that requires them finds the new code. */
  for (uint32_t i = 0; i < a->count && vm->stop == KJS_STOP_NONE; i++) {
    const char *path = a->paths[i];
    if (!path || (s->main_path && strcmp(path, s->main_path) == 0)) continue;
    int r = kjs_require_reload(vm, path, undo);
    if (r < 0)
      s->host->log(s->host, KEEL_LOG_WARN, "reload: %s is not a file this game loaded", path);
    else if (r > 0)
      reloaded++;
  }
  for (uint32_t i = 0; i < a->count && vm->stop == KJS_STOP_NONE; i++) {
    const char *path = a->paths[i];
    if (!path || !s->main_path || strcmp(path, s->main_path) != 0) continue;
    keel_message err;
    size_t len = 0;
    char *src = kjs_read_file(path, &len, &err);
    if (!src) {
      vm->errors++;
      s->host->log(s->host, KEEL_LOG_ERROR, "reloading %s: %s", s->main_name, err.text);
      s->host->log(s->host, KEEL_LOG_WARN, "reload of %s failed: the old code keeps running", s->main_name);
      if (!vm->first_set) {
        snprintf(vm->first.text, sizeof vm->first.text, "%s", err.text);
        vm->first_set = true;
      }
      continue;
    }
    bool ok = kjs_reload_main(vm, src, len);
    free(src);
    if (ok) reloaded++;
  }
  if (reloaded && vm->stop == KJS_STOP_NONE) {
    if (duk_get_global_string(ctx, "on_reload") && duk_is_function(ctx, -1)) {
      if (!kjs_call(vm, 0, "on_reload()")) {
        kjs_require_undo(vm, undo);
        kjs_object_restore_globals(ctx, batch);
        s->host->log(s->host, KEEL_LOG_WARN, "on_reload() failed: the reload is undone, the old code keeps running");
      }
    } else {
      duk_pop(ctx);
    }
  }
  duk_pop_2(ctx); /* the undo list, the batch snapshot */
  return 0;
}

static keel_result kjs_reload(keel_script *s, const char *const *paths, uint32_t count, keel_message *error) {
  if (!s || (count && !paths)) {
    kjs_set_error(error, "js: reload needs the script and the paths");
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  if (s->game->dead) return kjs_dead_result(s, error);
  if (!s->reload_ready) {
    kjs_set_error(error, "js: reload before init");
    return KEEL_ERR_WRONG_STATE;
  }
  kjs_reload_args a = {paths, count};
  int rc = kjs_enter(s->game, kjs_reload_body, &a, s->desc.tick_budget_ms, "tick"); /* a reload opens a tick */
  return kjs_finish(s, s->game, rc, error);
}

static void kjs_interrupt(keel_script *s) {
  if (s) atomic_store_explicit(&s->interrupt, true, memory_order_relaxed);
}

/* ---- one-off ---- */

static kjs_vm *kjs_pool_checkout(keel_script *s, keel_message *error) {
  kjs_vm *vm = NULL;
  pthread_mutex_lock(&s->pool_lock);
  if (s->pool_idle) vm = s->pool[--s->pool_idle];
  pthread_mutex_unlock(&s->pool_lock);
  /* Never wait for a busy heap: make another (the pool keeps at most
   * KJS_POOL_MAX of them between runs). */
  return vm ? vm : kjs_vm_create(s, true, error);
}

static void kjs_pool_checkin(keel_script *s, kjs_vm *vm) {
  atomic_fetch_add_explicit(&s->pool_calls, vm->calls, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->pool_errors, vm->errors, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->pool_interrupts, vm->interrupts, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->pool_refusals, vm->refusals, memory_order_relaxed);
  vm->calls = vm->errors = vm->interrupts = vm->refusals = 0;
  bool keep = false;
  if (!vm->dead) {
    pthread_mutex_lock(&s->pool_lock);
    if (s->pool_idle < KJS_POOL_MAX) {
      s->pool[s->pool_idle++] = vm;
      keep = true;
    }
    pthread_mutex_unlock(&s->pool_lock);
  }
  if (!keep) kjs_vm_destroy(vm);
}

typedef struct kjs_oneoff_args {
  const char *code;
  keel_message *result;
} kjs_oneoff_args;

/* String(value) as a callable, so a throwing toString is a caught error. */
static duk_ret_t kjs_stringify(duk_context *ctx) {
  if (duk_is_symbol(ctx, 0)) {
    duk_get_prop_string(ctx, 0, "toString");
    duk_dup(ctx, 0);
    duk_call_method(ctx, 0);
    return 1;
  }
  duk_to_string(ctx, 0);
  return 1;
}

static duk_ret_t kjs_oneoff_body(duk_context *ctx, void *udata) {
  kjs_oneoff_args *a = udata;
  kjs_vm *vm = kjs_vm_of(ctx);
  duk_idx_t base = duk_get_top(ctx);
  duk_push_c_function(ctx, kjs_stringify, 1);
  duk_push_string(ctx, a->code);
  duk_push_string(ctx, "exec"); /* the chunk name the Lua runtime uses too */
  vm->calls++;
  /* Eval code: its value is the last expression statement's, as in a console. */
  if (duk_pcompile(ctx, DUK_COMPILE_EVAL) != DUK_EXEC_SUCCESS || duk_pcall(ctx, 0) != DUK_EXEC_SUCCESS ||
      duk_pcall(ctx, 1) != DUK_EXEC_SUCCESS) {
    kjs_record_error(vm); /* returned, not logged: the host reports it once */
    /* The stringifier is still below the error unless String() itself
     * failed: popping a fixed count would fail on an empty stack and be
     * reported a second time, by the runtime. */
    duk_set_top(ctx, base);
    return 0;
  }
  if (a->result) snprintf(a->result->text, sizeof a->result->text, "%s", duk_get_string(ctx, -1));
  duk_pop(ctx);
  return 0;
}

static keel_result kjs_oneoff_run(keel_script *s, const char *code, keel_message *result) {
  if (!s || !code) {
    kjs_set_error(result, "js: oneoff_run needs the script and code");
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  if (result) result->text[0] = '\0';
  kjs_vm *vm = kjs_pool_checkout(s, result);
  if (!vm) return KEEL_ERR_BACKEND;
  vm->rng = s->desc.seed; /* every run starts from the configured seed */
  kjs_oneoff_args a = {code, result};
  int rc = kjs_enter(vm, kjs_oneoff_body, &a, s->desc.tick_budget_ms, "tick");
  keel_result r = kjs_finish(s, vm, rc, result);
  kjs_pool_checkin(s, vm);
  return r;
}

static keel_result kjs_stats(keel_script *s, keel_script_stats *out) {
  if (!s || !out || out->struct_size < sizeof(uint32_t)) return KEEL_ERR_INVALID_ARGUMENT;
  keel_script_stats st;
  memset(&st, 0, sizeof st);
  const kjs_vm *g = s->game;
  st.calls = g->calls + atomic_load_explicit(&s->pool_calls, memory_order_relaxed);
  st.errors = g->errors + atomic_load_explicit(&s->pool_errors, memory_order_relaxed);
  st.interrupts = g->interrupts + atomic_load_explicit(&s->pool_interrupts, memory_order_relaxed);
  st.memory_bytes = g->bytes;
  st.memory_refusals = g->refusals + atomic_load_explicit(&s->pool_refusals, memory_order_relaxed);
  /* A reader built against an older, smaller struct gets its prefix. */
  uint32_t n = out->struct_size < sizeof st ? out->struct_size : (uint32_t)sizeof st;
  st.struct_size = n;
  memcpy(out, &st, n);
  return KEEL_OK;
}

/* ---- plugin entry ---- */

static const keel_script_api kjs_api = {
    .struct_size = KEEL_STRUCT_SIZE(keel_script_api),
    .language = "js",
    .file_extension = ".js",
    .create = kjs_create,
    .destroy = kjs_destroy,
    .init = kjs_init,
    .tick = kjs_tick,
    .shutdown = kjs_shutdown,
    .interrupt = kjs_interrupt,
    .oneoff_run = kjs_oneoff_run,
    .stats = kjs_stats,
    .reload = kjs_reload,
};

/* Test-only: makes a Duktape fatal error reachable from a script (global
 * keel_test_fatal()), so the tests can show it unwinds instead of aborting.
 * Nothing calls this unless it asks for this interface id by name. */
#define KJS_TESTING_INTERFACE "keel.script.js.testing/1"

typedef struct kjs_testing_api {
  uint32_t struct_size;
  keel_result (*install_fatal_trigger)(keel_script *s);
} kjs_testing_api;

static duk_ret_t kjs_test_fatal(duk_context *ctx) {
  duk_fatal_raw(ctx, "keel_test_fatal() called");
  return 0; /* not reached: the fatal handler unwinds to kjs_enter */
}

static duk_ret_t kjs_install_trigger_body(duk_context *ctx, void *udata) {
  (void)udata;
  duk_push_c_function(ctx, kjs_test_fatal, 0);
  duk_put_global_string(ctx, "keel_test_fatal");
  return 0;
}

static keel_result kjs_install_fatal_trigger(keel_script *s) {
  if (!s) return KEEL_ERR_INVALID_ARGUMENT;
  if (s->game->dead) return KEEL_ERR_WRONG_STATE;
  return kjs_enter(s->game, kjs_install_trigger_body, NULL, s->desc.tick_budget_ms, "tick") == 0 ? KEEL_OK
                                                                                                : KEEL_ERR_BACKEND;
}

static const kjs_testing_api kjs_testing = {
    .struct_size = KEEL_STRUCT_SIZE(kjs_testing_api),
    .install_fatal_trigger = kjs_install_fatal_trigger,
};

static const void *kjs_get_interface(const char *id) {
  if (keel_interface_is(id, KEEL_SCRIPT_INTERFACE)) return &kjs_api;
  if (keel_interface_is(id, KJS_TESTING_INTERFACE)) return &kjs_testing;
  return NULL;
}

static const keel_plugin_manifest kjs_manifest = {
    .struct_size = KEEL_STRUCT_SIZE(keel_plugin_manifest),
    .abi_major = KEEL_ABI_MAJOR,
    .abi_minor = KEEL_ABI_MINOR,
    .name = "js",
    .kind = KEEL_PLUGIN_SCRIPT,
    .version = "1.0.0",
    .description = "JavaScript game scripts on Duktape 2.7 (watchdog, memory cap, sandbox)",
    .get_interface = kjs_get_interface,
};

KEEL_PLUGIN_ENTRY(&kjs_manifest)
