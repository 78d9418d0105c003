/* keel_script_lua.so: the Lua 5.4 runtime behind "keel.script/1". This file
 * is the plugin's face (manifest, interface table) and the life of the game
 * VM: create, init, tick, shutdown, and the watchdog thread that stops a call
 * running past its budget without costing the VM anything per instruction. */
#include "klua.h"
#include "klua_diag.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- watchdog ----------------------------------------------------------- */

/* The game VM runs unhooked (a count hook costs every instruction a call in
 * Lua 5.4). This thread sleeps until the running call's deadline and then
 * arms a count-1 hook, which raises at the script's next instruction and at
 * every one after until the outer call returns. Lua documents lua_sethook
 * as the way to interrupt from outside the running code (lua.c does it from
 * a signal handler); every lua_sethook on the main thread, here or on the
 * script worker, happens under s->mu, and only while in_call is true, so a
 * hook is never set on a VM between calls. */
static void *klua_watchdog_main(void *arg) {
  klua_script *s = arg;
  klua_vm *vm = &s->vm;
  /* When idle, wake rarely; klua_call_begin signals when a call's first
   * check comes before the planned wake-up. */
  const uint64_t idle_ns = 100000000u;
  pthread_mutex_lock(&s->mu);
  while (!s->wd_quit) {
    uint64_t now = klua_now_ns();
    uint64_t next = now + idle_ns;
    if (vm->in_call && vm->budget_ns && s->wd_fired_gen != s->call_gen) {
      int reason = klua_budget_check(vm, now);
      if (reason != KLUA_STOP_NONE) {
        int cur = atomic_load_explicit(&vm->stop, memory_order_relaxed);
        if (cur == KLUA_STOP_NONE || cur == KLUA_STOP_MEMORY)
          atomic_store_explicit(&vm->stop, reason, memory_order_release);
        klua_arm_main(vm);
        s->wd_fired_gen = s->call_gen;
      } else {
        next = vm->check_at_ns < vm->backstop_ns ? vm->check_at_ns : vm->backstop_ns;
      }
    }
    s->wd_next = next;
    struct timespec ts = {(time_t)(next / 1000000000u), (long)(next % 1000000000u)};
    pthread_cond_timedwait(&s->cond, &s->mu, &ts);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

void klua_call_begin(klua_script *s, uint64_t budget_ns, const char *budget_name) {
  klua_vm *vm = &s->vm;
  pthread_mutex_lock(&s->mu);
  atomic_store_explicit(&vm->stop, KLUA_STOP_NONE, memory_order_relaxed);
  vm->in_call = true;
  vm->mem_tripped = false;
  vm->mem_crossed = false;
  vm->instr_used = 0;
  vm->hook_msg = NULL;
  klua_budget_start(vm, budget_ns, budget_name);
  s->call_gen++;
  klua_arm_main(vm);
  if (s->wd_started && budget_ns && vm->check_at_ns < s->wd_next) pthread_cond_signal(&s->cond);
  pthread_mutex_unlock(&s->mu);
  s->call_interrupted = false;
}

void klua_call_end(klua_script *s) {
  klua_vm *vm = &s->vm;
  pthread_mutex_lock(&s->mu);
  vm->in_call = false;
  atomic_store_explicit(&vm->stop, KLUA_STOP_NONE, memory_order_relaxed);
  klua_arm_main(vm); /* not in a call: unhooked */
  pthread_mutex_unlock(&s->mu);
  if (s->call_interrupted) s->interrupts++;
}

bool klua_hard_stop(klua_script *s) {
  return atomic_load_explicit(&s->vm.stop, memory_order_relaxed) >= KLUA_STOP_BUDGET;
}

/* ---- protected calls on the game VM --------------------------------------- */

void klua_entry_begin(klua_script *s, keel_message *error) {
  s->err_out = error;
  s->err_set = false;
  s->ctx_name = NULL;
  if (error) error->text[0] = '\0';
}

/* Logs and counts the error on top of the stack, keeps the entry call's first
 * message for the caller, pops it. */
static void klua_report(klua_script *s, const char *ctx) {
  lua_State *L = s->vm.L;
  const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(error object is not a string)";
  if (klua_hard_stop(s)) s->call_interrupted = true;
  s->errors++;
  if (s->ctx_name)
    s->host->log(s->host, KEEL_LOG_ERROR, "%s for '%s': %s", ctx, s->ctx_name, msg);
  else
    s->host->log(s->host, KEEL_LOG_ERROR, "%s: %s", ctx, msg);
  if (!s->err_set && s->err_out) {
    klua_message_set(s->err_out, "%s", msg);
    s->err_set = true;
  }
  lua_settop(L, KLUA_GAME_BASE_TOP);
}

/* Calls the global function named by argument 1 (light userdata) with the
 * other arguments, if the game defines it. */
static int klua_global_body(lua_State *L) {
  const char *name = lua_touserdata(L, 1);
  int nargs = lua_gettop(L) - 1;
  if (lua_getglobal(L, name) != LUA_TFUNCTION) return 0;
  lua_insert(L, 2);
  klua_vm_of(L)->script->calls++;
  lua_call(L, nargs, 0);
  return 0;
}

static void klua_call_global(klua_script *s, const char *name, const char *ctx, int nargs_pushed) {
  lua_State *L = s->vm.L;
  int base = lua_gettop(L) - nargs_pushed;
  lua_pushcfunction(L, klua_global_body);
  lua_insert(L, base + 1);
  lua_pushlightuserdata(L, (void *)name);
  lua_insert(L, base + 2);
  if (lua_pcall(L, nargs_pushed + 1, 0, KLUA_SLOT_MSGH) != LUA_OK) klua_report(s, ctx);
}

static int klua_gc_body(lua_State *L) {
  lua_gc(L, LUA_GCCOLLECT);
  return 0;
}

/* Still inside the call window, so the watchdog covers it. */
void klua_collect_if_over(klua_script *s) {
  klua_vm *vm = &s->vm;
  /* Also when the call crossed the line and ended just under it: the
   * garbage of a memory bomb that was stopped is collected now. */
  if (!vm->limit || (vm->used <= vm->soft_limit && !vm->mem_crossed)) return;
  lua_pushcfunction(vm->L, klua_gc_body);
  if (lua_pcall(vm->L, 0, 0, KLUA_SLOT_MSGH) != LUA_OK) lua_settop(vm->L, KLUA_GAME_BASE_TOP);
}

/* After a hard stop the rest of the tick's events are not delivered; their
 * callbacks are released so the table does not grow. */
static int klua_drop_body(lua_State *L) {
  klua_script *s = klua_vm_of(L)->script;
  for (uint32_t i = s->ev_pos; i < s->event_count; i++) {
    const keel_script_event *e = &s->events[i];
    if (e->type != KEEL_EVENT_COMPLETED || e->callback_id == 0 || e->callback_id > INT32_MAX) continue;
    if (lua_rawgeti(L, 1, (lua_Integer)e->callback_id) == LUA_TFUNCTION) {
      luaL_unref(L, 1, (int)e->callback_id);
      s->cb_pending--;
    }
    lua_pop(L, 1);
  }
  return 0;
}

/* ---- keel.script/1 ------------------------------------------------------ */

static void klua_free(klua_script *s) {
  if (!s) return;
  klua_files_free(s);
  free(s->cv);
  free(s->main_path);
  free(s->game_real);
  free(s->main_chunk);
  free(s);
}

static keel_result klua_create(const keel_script_desc *desc, keel_script **out, keel_message *error) {
  if (error) error->text[0] = '\0';
  if (!out || !desc || !desc->host || !desc->host->log || !desc->world || !desc->main_path ||
      !desc->world->id_reserve || !desc->world->command_push || !desc->world->object_get ||
      !desc->world->object_count) {
    klua_message_set(error, "lua: create needs a desc with host (with log), world and main_path");
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  *out = NULL;
  if (desc->struct_size < KEEL_STRUCT_SIZE(keel_script_desc)) {
    klua_message_set(error, "lua: keel_script_desc of %u bytes, this plugin needs %u", desc->struct_size,
                     KEEL_STRUCT_SIZE(keel_script_desc));
    return KEEL_ERR_VERSION;
  }
  klua_script *s = calloc(1, sizeof *s);
  if (!s) {
    klua_message_set(error, "lua: out of memory");
    return KEEL_ERR_OUT_OF_MEMORY;
  }
  s->host = desc->host;
  s->world = desc->world;
  s->seed = desc->seed;
  s->budget_ns = (uint64_t)desc->tick_budget_ms * 1000000u;
  s->load_budget_ns = (uint64_t)(desc->load_budget_ms ? desc->load_budget_ms : desc->tick_budget_ms) * 1000000u;
  s->shutdown_budget_ns =
      (uint64_t)(desc->shutdown_budget_ms ? desc->shutdown_budget_ms : desc->tick_budget_ms) * 1000000u;
  s->instr_budget = desc->instruction_budget;
  s->memory_limit_mb = desc->memory_limit_mb;
  s->lockstep = desc->lockstep;
  atomic_init(&s->tick_frame, 0);
  atomic_init(&s->tick_time_bits, 0);
  atomic_init(&s->tick_dt_bits, 0);
  atomic_init(&s->screen_size, 0);
  atomic_init(&s->pool_calls, 0);
  atomic_init(&s->pool_errors, 0);
  atomic_init(&s->pool_interrupts, 0);
  atomic_init(&s->pool_refusals, 0);

  s->main_path = strdup(desc->main_path);
  if (!s->main_path) {
    klua_free(s);
    klua_message_set(error, "lua: out of memory");
    return KEEL_ERR_OUT_OF_MEMORY;
  }
  char dir[PATH_MAX], real[PATH_MAX];
  if (desc->game_dir) {
    snprintf(dir, sizeof dir, "%s", desc->game_dir);
  } else {
    snprintf(dir, sizeof dir, "%s", desc->main_path);
    snprintf(dir, sizeof dir, "%s", dirname(dir));
  }
  if (!realpath(dir, real)) {
    klua_message_set(error, "lua: game directory '%s': %s", dir, strerror(errno));
    klua_free(s);
    return KEEL_ERR_NOT_FOUND;
  }
  s->game_real = strdup(real);
  /* chunk name "@main.lua": errors then read "main.lua:3: ..." */
  char chunk[PATH_MAX + 1];
  size_t root = strlen(real);
  char mreal[PATH_MAX];
  if (realpath(desc->main_path, mreal) && strncmp(mreal, real, root) == 0 && mreal[root] == '/') {
    snprintf(chunk, sizeof chunk, "@%s", mreal + root + 1);
  } else {
    snprintf(mreal, sizeof mreal, "%s", desc->main_path);
    snprintf(chunk, sizeof chunk, "@%s", basename(mreal));
  }
  s->main_chunk = strdup(chunk);
  if (!s->game_real || !s->main_chunk) {
    klua_free(s);
    klua_message_set(error, "lua: out of memory");
    return KEEL_ERR_OUT_OF_MEMORY;
  }

  pthread_condattr_t ca;
  bool cond_ok = pthread_condattr_init(&ca) == 0;
  if (cond_ok) {
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    cond_ok = pthread_cond_init(&s->cond, &ca) == 0;
    pthread_condattr_destroy(&ca);
  }
  if (!cond_ok || pthread_mutex_init(&s->mu, NULL) != 0) {
    if (cond_ok) pthread_cond_destroy(&s->cond);
    klua_free(s);
    klua_message_set(error, "lua: cannot create the watchdog's mutex or condition");
    return KEEL_ERR_BACKEND;
  }
  s->wd_next = UINT64_MAX;

  keel_result r = KEEL_OK;
  if (!klua_vm_open(&s->vm, s, false, error)) {
    r = KEEL_ERR_OUT_OF_MEMORY;
  } else if ((r = klua_pool_init(s, error)) != KEEL_OK) {
    klua_vm_close(&s->vm);
  } else if (s->budget_ns || s->load_budget_ns || s->shutdown_budget_ns) {
    int e = pthread_create(&s->wd_thread, NULL, klua_watchdog_main, s);
    if (e != 0) {
      klua_message_set(error, "lua: cannot start the watchdog thread: %s", strerror(e));
      klua_pool_destroy(s);
      klua_vm_close(&s->vm);
      r = KEEL_ERR_BACKEND;
    } else {
      s->wd_started = true;
      pthread_setname_np(s->wd_thread, "keel-lua-wdog");
    }
  }
  if (r != KEEL_OK) {
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    klua_free(s);
    return r;
  }
  *out = (keel_script *)s;
  return KEEL_OK;
}

static void klua_destroy(keel_script *script) {
  klua_script *s = (klua_script *)script;
  if (!s) return;
  if (s->wd_started) {
    pthread_mutex_lock(&s->mu);
    s->wd_quit = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->wd_thread, NULL);
  }
  klua_pool_destroy(s);
  klua_vm_close(&s->vm);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cond);
  klua_free(s);
}

static int klua_main_loaded_body(lua_State *L) {
  klua_script *s = klua_vm_of(L)->script;
  klua_file_loaded(L, s, s->main_path, NULL, s->main_chunk);
  return 0;
}

static keel_result klua_init(keel_script *script, keel_message *error) {
  klua_script *s = (klua_script *)script;
  if (!s) {
    klua_message_set(error, "lua: init without a script");
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  if (s->inited) {
    klua_message_set(error, "lua: init called twice");
    return KEEL_ERR_WRONG_STATE;
  }
  s->inited = true; /* even if loading fails, ticks run (and do nothing) */
  klua_entry_begin(s, error);
  char *buf = NULL;
  size_t len = 0;
  char err[KEEL_MESSAGE_MAX];
  if (!klua_read_file(s->main_path, &buf, &len, err, sizeof err)) {
    s->errors++;
    s->host->log(s->host, KEEL_LOG_ERROR, "loading the main script: %s", err);
    klua_message_set(error, "%s", err);
    return KEEL_ERR_IO;
  }
  lua_State *L = s->vm.L;
  klua_call_begin(s, s->load_budget_ns, "load");
  s->calls++;
  int st = luaL_loadbufferx(L, buf, len, s->main_chunk, "t");
  free(buf);
  if (st == LUA_OK) {
    /* Watched even if it then fails to run: fixing it reloads it. */
    lua_pushcfunction(L, klua_main_loaded_body);
    if (lua_pcall(L, 0, 0, KLUA_SLOT_MSGH) != LUA_OK) lua_pop(L, 1);
  }
  if (st != LUA_OK) {
    klua_report(s, "loading the main script");
  } else if (lua_pcall(L, 0, 0, KLUA_SLOT_MSGH) != LUA_OK) {
    klua_report(s, "running the main script");
  } else {
    klua_call_global(s, "init", "init()", 0);
  }
  klua_collect_if_over(s);
  klua_call_end(s);
  return s->err_set ? KEEL_ERR_SCRIPT : KEEL_OK;
}

static uint64_t klua_double_bits(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  return u;
}

static keel_result klua_tick(keel_script *script, const keel_tick_info *tick, const keel_script_event *events,
                             uint32_t event_count, keel_message *error) {
  klua_script *s = (klua_script *)script;
  if (!s || !tick || (event_count && !events)) {
    klua_message_set(error, "lua: tick needs a script, tick info and the events");
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  if (!s->inited || s->shut) {
    klua_message_set(error, "lua: tick before init or after shutdown");
    return KEEL_ERR_WRONG_STATE;
  }
  atomic_store_explicit(&s->tick_frame, tick->frame, memory_order_relaxed);
  atomic_store_explicit(&s->tick_time_bits, klua_double_bits(tick->time), memory_order_relaxed);
  atomic_store_explicit(&s->tick_dt_bits, klua_double_bits(tick->dt), memory_order_relaxed);
  klua_input_tick(s, tick);
  klua_entry_begin(s, error);
  lua_State *L = s->vm.L;
  klua_call_begin(s, s->budget_ns, "tick");
  s->events = events;
  s->event_count = event_count;
  s->ev_pos = 0;
  s->ev_sub = 0;
  while (s->ev_pos < event_count && !klua_hard_stop(s)) {
    lua_pushcfunction(L, klua_dispatch_body);
    lua_pushvalue(L, KLUA_SLOT_CBS);
    lua_pushvalue(L, KLUA_SLOT_CVH);
    lua_pushvalue(L, KLUA_SLOT_CVN);
    s->ctx = "delivering events";
    if (lua_pcall(L, 3, 0, KLUA_SLOT_MSGH) != LUA_OK) klua_report(s, s->ctx);
    s->ctx_name = NULL;
  }
  if (s->ev_pos < event_count) {
    s->host->log(s->host, KEEL_LOG_WARN, "%u event(s) of this tick not delivered: the tick was stopped",
                 event_count - s->ev_pos);
    lua_pushcfunction(L, klua_drop_body);
    lua_pushvalue(L, KLUA_SLOT_CBS);
    if (lua_pcall(L, 1, 0, KLUA_SLOT_MSGH) != LUA_OK) lua_settop(L, KLUA_GAME_BASE_TOP);
  }
  if (!klua_hard_stop(s)) {
    lua_pushnumber(L, tick->dt);
    klua_call_global(s, "update", "update(dt)", 1);
  }
  klua_collect_if_over(s);
  klua_call_end(s);
  s->events = NULL;
  s->event_count = 0;
  return s->err_set ? KEEL_ERR_SCRIPT : KEEL_OK;
}

static keel_result klua_shutdown(keel_script *script, keel_message *error) {
  klua_script *s = (klua_script *)script;
  if (!s) {
    klua_message_set(error, "lua: shutdown without a script");
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  if (error) error->text[0] = '\0';
  if (!s->inited || s->shut) return KEEL_OK;
  s->shut = true;
  klua_entry_begin(s, error);
  klua_call_begin(s, s->shutdown_budget_ns, "shutdown");
  klua_call_global(s, "shutdown", "shutdown()", 0);
  klua_call_end(s);
  return s->err_set ? KEEL_ERR_SCRIPT : KEEL_OK;
}

static void klua_interrupt(keel_script *script) {
  klua_script *s = (klua_script *)script;
  if (s) klua_request_stop(&s->vm, KLUA_STOP_INTERRUPT);
}

static keel_result klua_oneoff(keel_script *script, const char *code, keel_message *result) {
  return klua_oneoff_run((klua_script *)script, code, result);
}

static keel_result klua_stats(keel_script *script, keel_script_stats *out) {
  klua_script *s = (klua_script *)script;
  if (!s || !out || out->struct_size < sizeof(uint32_t)) return KEEL_ERR_INVALID_ARGUMENT;
  keel_script_stats st;
  memset(&st, 0, sizeof st);
  st.calls = s->calls + atomic_load_explicit(&s->pool_calls, memory_order_relaxed);
  st.errors = s->errors + atomic_load_explicit(&s->pool_errors, memory_order_relaxed);
  st.interrupts = s->interrupts + atomic_load_explicit(&s->pool_interrupts, memory_order_relaxed);
  st.memory_bytes = s->vm.used;
  st.memory_refusals = s->vm.refusals + atomic_load_explicit(&s->pool_refusals, memory_order_relaxed);
  uint32_t size = out->struct_size < sizeof st ? out->struct_size : (uint32_t)sizeof st;
  st.struct_size = size;
  memcpy(out, &st, size);
  return KEEL_OK;
}

/* ---- diag interface (tests and benchmark) ----------------------------------- */

static void *klua_diag_acquire(keel_script *script, keel_message *error) {
  return klua_pool_acquire((klua_script *)script, error);
}
static void klua_diag_release(keel_script *script, void *vm) { klua_pool_release((klua_script *)script, vm); }
static uint32_t klua_diag_size(keel_script *script, uint32_t *max) {
  klua_script *s = (klua_script *)script;
  if (max) *max = KLUA_POOL_MAX;
  pthread_mutex_lock(&s->pool.mu);
  uint32_t n = s->pool.total;
  pthread_mutex_unlock(&s->pool.mu);
  return n;
}

static const klua_diag_api klua_diag = {
    .struct_size = KEEL_STRUCT_SIZE(klua_diag_api),
    .pool_acquire = klua_diag_acquire,
    .pool_release = klua_diag_release,
    .pool_size = klua_diag_size,
};

static const keel_script_api klua_script_api = {
    .struct_size = KEEL_STRUCT_SIZE(keel_script_api),
    .language = "lua",
    .file_extension = ".lua",
    .create = klua_create,
    .destroy = klua_destroy,
    .init = klua_init,
    .tick = klua_tick,
    .shutdown = klua_shutdown,
    .interrupt = klua_interrupt,
    .oneoff_run = klua_oneoff,
    .stats = klua_stats,
    .reload = klua_reload,
};

static const void *klua_get_interface(const char *id) {
  if (keel_interface_is(id, KEEL_SCRIPT_INTERFACE)) return &klua_script_api;
  if (keel_interface_is(id, KLUA_DIAG_INTERFACE)) return &klua_diag;
  return NULL;
}

static const keel_plugin_manifest klua_manifest = {
    .struct_size = KEEL_STRUCT_SIZE(keel_plugin_manifest),
    .abi_major = KEEL_ABI_MAJOR,
    .abi_minor = KEEL_ABI_MINOR,
    .name = "lua",
    .kind = KEEL_PLUGIN_SCRIPT,
    .version = "1.0.0",
    .description = "Lua " LUA_VERSION_MAJOR "." LUA_VERSION_MINOR " script runtime (keel.script/1)",
    .get_interface = klua_get_interface,
};

KEEL_PLUGIN_ENTRY(&klua_manifest)
