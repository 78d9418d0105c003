/* Shared harness of the Lua plugin's tests: loads keel_script_lua.so the way
 * the engine does (dlopen, manifest, get_interface) and drives one runtime
 * with tests/support's fake host, one tick at a time. Header-only because
 * each test file is its own executable. */
#ifndef TEST_SCRIPT_LUA_H
#define TEST_SCRIPT_LUA_H

#include "fake_host.h"
#include "keel_test.h"

#include "../../plugins/script_lua/klua_diag.h"

#include <keel/plugin.h>
#include <keel/script.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LT_SCRIPTS KEEL_TEST_SOURCE_DIR "/tests/scripts/lua"
#define LT_GAME LT_SCRIPTS "/game"

static void *lt_dl;
static const keel_plugin_manifest *lt_manifest;
static const keel_script_api *lt_api;
static const klua_diag_api *lt_diag;

static inline int lt_suite_init(void) {
  if (lt_dl) return 0;
  lt_dl = dlopen(KEEL_TEST_PLUGIN_DIR "/keel_script_lua.so", RTLD_NOW | RTLD_LOCAL);
  if (!lt_dl) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  keel_plugin_entry_fn entry = (keel_plugin_entry_fn)dlsym(lt_dl, KEEL_PLUGIN_ENTRY_SYMBOL);
  if (!entry) return 1;
  lt_manifest = entry();
  lt_api = lt_manifest->get_interface(KEEL_SCRIPT_INTERFACE);
  lt_diag = lt_manifest->get_interface(KLUA_DIAG_INTERFACE);
  return lt_api && lt_diag ? 0 : 1;
}

static inline int lt_suite_clean(void) { return 0; } /* the plugin stays loaded for the process */

typedef struct lt_opts {
  uint32_t budget_ms;
  uint32_t load_budget_ms;     /* 0 = budget_ms */
  uint32_t shutdown_budget_ms; /* 0 = budget_ms */
  uint64_t instructions;
  uint32_t memory_mb;
  uint64_t seed;
  bool lockstep;
  const char *game_dir;
} lt_opts;

typedef struct lt {
  fake_host *fh;
  keel_script *s;
  keel_message err;
  uint64_t ticks;
} lt;

static inline void lt_add_cvar(fake_host *fh, const char *name, keel_cvar_type type, const char *text) {
  keel_cvar_value v;
  memset(&v, 0, sizeof v);
  v.type = type;
  snprintf(v.text, sizeof v.text, "%s", text);
  v.b = strcmp(text, "true") == 0;
  v.i = strtoll(text, NULL, 10);
  v.f = strtod(text, NULL);
  fake_host_add_cvar(fh, name, &v);
}

/* Creates a runtime for `main_file` (relative to the game dir). */
static inline keel_result lt_open_with(lt *t, const char *main_file, const lt_opts *o) {
  memset(t, 0, sizeof *t);
  const char *dir = o && o->game_dir ? o->game_dir : LT_GAME;
  t->fh = calloc(1, sizeof *t->fh);
  if (!t->fh) return KEEL_ERR_OUT_OF_MEMORY;
  fake_host_init(t->fh, dir);
  lt_add_cvar(t->fh, "ticks", KEEL_CVAR_INT, "0");
  lt_add_cvar(t->fh, "code", KEEL_CVAR_STRING, "");
  lt_add_cvar(t->fh, "case", KEEL_CVAR_STRING, "");
  lt_add_cvar(t->fh, "speed", KEEL_CVAR_FLOAT, "1");
  lt_add_cvar(t->fh, "flag", KEEL_CVAR_BOOL, "false");
  lt_add_cvar(t->fh, "seen", KEEL_CVAR_STRING, "");
  char main_path[1024];
  snprintf(main_path, sizeof main_path, "%s/%s", dir, main_file);
  keel_script_desc d;
  memset(&d, 0, sizeof d);
  d.struct_size = KEEL_STRUCT_SIZE(keel_script_desc);
  d.host = &t->fh->host;
  d.world = &t->fh->world;
  d.main_path = main_path;
  d.game_dir = dir;
  d.memory_limit_mb = o ? o->memory_mb : 64;
  d.tick_budget_ms = o ? o->budget_ms : 200;
  d.load_budget_ms = o ? o->load_budget_ms : 0;
  d.shutdown_budget_ms = o ? o->shutdown_budget_ms : 0;
  d.instruction_budget = o ? o->instructions : 0;
  d.seed = o ? o->seed : 1;
  d.lockstep = o ? o->lockstep : false;
  return lt_api->create(&d, &t->s, &t->err);
}

static inline keel_result lt_open(lt *t, const char *main_file) {
  lt_opts o = {.budget_ms = 200, .memory_mb = 64, .seed = 1};
  return lt_open_with(t, main_file, &o);
}

static inline keel_result lt_init(lt *t) { return lt_api->init(t->s, &t->err); }

static inline keel_result lt_tick(lt *t) {
  static keel_script_event ev[1024];
  uint32_t n = fake_host_take_events(t->fh, ev, 1024);
  static const keel_input_state no_input = {.struct_size = KEEL_STRUCT_SIZE(keel_input_state)};
  keel_tick_info ti = {.struct_size = KEEL_STRUCT_SIZE(keel_tick_info), .tick = t->ticks, .frame = 100 + t->ticks,
                       .dt = 0.25, .time = 0.25 * (double)t->ticks, .input = &no_input};
  t->ticks++;
  return lt_api->tick(t->s, &ti, ev, n, &t->err);
}

static inline void lt_close(lt *t) {
  if (t->s) lt_api->destroy(t->s);
  t->s = NULL;
  free(t->fh);
  t->fh = NULL;
}

static inline const keel_cvar_value *lt_cvar(lt *t, const char *name) {
  for (uint32_t i = 0; i < t->fh->cvar_count; i++)
    if (strcmp(t->fh->cvar_names[i], name) == 0) return &t->fh->cvar_values[i];
  return NULL;
}

static inline void lt_set(lt *t, const char *name, const char *value) {
  keel_message m;
  CU_ASSERT_EQUAL_FATAL(t->fh->host.cvar_set(&t->fh->host, name, value, &m), KEEL_OK);
}

/* Runs `code` in the probe script's next tick; returns the tick's result. */
static inline keel_result lt_run_code(lt *t, const char *code) {
  CU_ASSERT_FATAL(strlen(code) < KEEL_CVAR_STRING_MAX);
  lt_set(t, "code", code);
  keel_result r = lt_tick(t);
  lt_set(t, "code", "");
  return r;
}

/* Line number of the line carrying `--@marker` in a script, or -1. */
static inline int lt_line_of(const char *file, const char *marker) {
  char path[1024], line[512], tag[64];
  snprintf(path, sizeof path, "%s/%s", LT_GAME, file);
  snprintf(tag, sizeof tag, "--@%s", marker);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  int n = 0, found = -1;
  while (fgets(line, sizeof line, f)) {
    n++;
    char *p = strstr(line, tag);
    if (p && (p[strlen(tag)] == '\n' || p[strlen(tag)] == '\0' || p[strlen(tag)] == ' ')) {
      found = n;
      break;
    }
  }
  fclose(f);
  return found;
}

static inline keel_script_stats lt_stats(lt *t) {
  keel_script_stats st;
  memset(&st, 0, sizeof st);
  st.struct_size = KEEL_STRUCT_SIZE(keel_script_stats);
  CU_ASSERT_EQUAL(lt_api->stats(t->s, &st), KEEL_OK);
  return st;
}

/* The error's first line is `want` (the stack traceback follows it). */
static inline bool lt_err_is(const lt *t, const char *want) {
  size_t n = strlen(want);
  bool ok = strncmp(t->err.text, want, n) == 0 && (t->err.text[n] == '\n' || t->err.text[n] == '\0');
  if (!ok) fprintf(stderr, "\nerror is \"%s\"\n  wanted \"%s\"\n", t->err.text, want);
  return ok;
}

#define LT_LOG_HAS(t, needle)                                             \
  do {                                                                    \
    bool lt_found_ = fake_host_log_has((t)->fh, (needle));                \
    if (!lt_found_) {                                                     \
      fprintf(stderr, "\nlog lacks \"%s\"; captured:\n", (const char *)(needle)); \
      fake_host_log_dump((t)->fh);                                        \
    }                                                                     \
    CU_ASSERT(lt_found_);                                                 \
  } while (0)

#endif
