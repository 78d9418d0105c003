/* Shared by the JavaScript plugin's test files: loads keel_script_js.so the
 * way the engine does (dlopen, manifest, interface), and drives one runtime
 * over the fake host with a script written to a temp game directory. Static
 * functions only, so each test executable gets its own copy. */
#ifndef TEST_SCRIPT_JS_UTIL_H
#define TEST_SCRIPT_JS_UTIL_H

#include "fake_host.h"
#include "keel_test.h"

#include <keel/plugin.h>
#include <keel/script.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JT_PLUGIN_PATH KEEL_TEST_PLUGIN_DIR "/keel_script_js.so"
#define JT_MAX_EVENTS 1024

static void *jt_dl;
static const keel_plugin_manifest *jt_manifest;
static const keel_script_api *jt_api;

/* dlopen once per executable; the handle stays open until exit. */
static inline const keel_script_api *jt_load(void) {
  if (jt_api) return jt_api;
  jt_dl = dlopen(JT_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
  if (!jt_dl) {
    fprintf(stderr, "dlopen %s: %s\n", JT_PLUGIN_PATH, dlerror());
    return NULL;
  }
  keel_plugin_entry_fn entry = (keel_plugin_entry_fn)dlsym(jt_dl, KEEL_PLUGIN_ENTRY_SYMBOL);
  if (!entry) return NULL;
  jt_manifest = entry();
  if (!jt_manifest || !jt_manifest->get_interface) return NULL;
  jt_api = jt_manifest->get_interface(KEEL_SCRIPT_INTERFACE);
  return jt_api;
}

typedef struct jt {
  fake_host *fh;
  keel_script_desc desc;
  keel_script *s;
  keel_tick_info info;
  keel_message err;
  keel_script_event *ev;
  char main_path[512];
  char game_dir[512];
} jt;

/* Default limits for the tests: roomy, so only the tests about limits hit them. */
static inline void jt_desc_defaults(keel_script_desc *d) {
  memset(d, 0, sizeof *d);
  d->struct_size = KEEL_STRUCT_SIZE(keel_script_desc);
  d->memory_limit_mb = 64;
  d->tick_budget_ms = 2000;
  d->instruction_budget = 0;
  d->seed = 42;
  d->lockstep = false;
}

/* Creates (not inits) a runtime on `src`: "@name" is the checked-in game
 * tests/scripts/js/name/main.js, anything else is source text written as
 * <tmp>/main.js.
 * `desc` may be NULL for the defaults. Returns false (with a CUnit failure)
 * when the plugin or the runtime cannot be made. */
static inline bool jt_open(jt *t, const char *src, const keel_script_desc *desc) {
  memset(t, 0, sizeof *t);
  if (!jt_load()) {
    CU_FAIL("cannot load " JT_PLUGIN_PATH);
    return false;
  }
  t->fh = calloc(1, sizeof *t->fh);
  t->ev = calloc(JT_MAX_EVENTS, sizeof *t->ev);
  if (!t->fh || !t->ev) {
    CU_FAIL("out of memory");
    return false;
  }
  if (src[0] == '@') {
    snprintf(t->main_path, sizeof t->main_path, "%s/tests/scripts/js/%s/main.js", KEEL_TEST_SOURCE_DIR, src + 1);
  } else {
    const char *path = kt_write_temp("main.js", src);
    if (!path) {
      CU_FAIL("cannot write main.js");
      return false;
    }
    snprintf(t->main_path, sizeof t->main_path, "%s", path);
  }
  snprintf(t->game_dir, sizeof t->game_dir, "%s", t->main_path);
  char *slash = strrchr(t->game_dir, '/');
  if (slash) *slash = '\0';
  fake_host_init(t->fh, t->game_dir);
  keel_cvar_value v;
  memset(&v, 0, sizeof v);
  v.type = KEEL_CVAR_INT;
  v.i = 60;
  snprintf(v.text, sizeof v.text, "60");
  fake_host_add_cvar(t->fh, "r_fov", &v);
  memset(&v, 0, sizeof v);
  v.type = KEEL_CVAR_BOOL;
  v.b = true;
  snprintf(v.text, sizeof v.text, "true");
  fake_host_add_cvar(t->fh, "r_vsync", &v);
  memset(&v, 0, sizeof v);
  v.type = KEEL_CVAR_FLOAT;
  v.f = 0.5;
  snprintf(v.text, sizeof v.text, "0.5");
  fake_host_add_cvar(t->fh, "g_speed", &v);
  memset(&v, 0, sizeof v);
  v.type = KEEL_CVAR_STRING;
  snprintf(v.text, sizeof v.text, "Ada");
  fake_host_add_cvar(t->fh, "player_name", &v);

  if (desc)
    t->desc = *desc;
  else
    jt_desc_defaults(&t->desc);
  t->desc.host = &t->fh->host;
  t->desc.world = &t->fh->world;
  t->desc.main_path = t->main_path;
  t->desc.game_dir = t->game_dir;
  t->info.struct_size = KEEL_STRUCT_SIZE(keel_tick_info);
  keel_result r = jt_api->create(&t->desc, &t->s, &t->err);
  if (r != KEEL_OK) {
    fprintf(stderr, "create: %s: %s\n", keel_result_name(r), t->err.text);
    CU_FAIL("create failed");
    return false;
  }
  return true;
}

/* jt_open + init; returns init's result (the runtime stays usable either way). */
static inline keel_result jt_start(jt *t, const char *src, const keel_script_desc *desc) {
  if (!jt_open(t, src, desc)) return KEEL_ERR_BACKEND;
  t->err.text[0] = '\0';
  return jt_api->init(t->s, &t->err);
}

/* One tick with the events the fake world queued since the last one. */
static inline keel_result jt_tick(jt *t) {
  uint32_t n = fake_host_take_events(t->fh, t->ev, JT_MAX_EVENTS);
  t->info.dt = 1.0 / 60.0;
  t->info.time += t->info.dt;
  t->info.frame += 2;
  t->err.text[0] = '\0';
  keel_result r = jt_api->tick(t->s, &t->info, t->ev, n, &t->err);
  t->info.tick++;
  return r;
}

static inline keel_script_stats jt_stats(jt *t) {
  keel_script_stats st;
  memset(&st, 0, sizeof st);
  st.struct_size = KEEL_STRUCT_SIZE(keel_script_stats);
  CU_ASSERT_EQUAL(jt_api->stats(t->s, &st), KEEL_OK);
  return st;
}

static inline void jt_close(jt *t) {
  if (t->s) jt_api->destroy(t->s);
  free(t->fh);
  free(t->ev);
  memset(t, 0, sizeof *t);
}

/* Index of the first captured log line containing `needle` at or after
 * `from`, or -1 (the capture keeps FAKE_MAX_LOG lines; tests stay below). */
static inline int jt_log_find(const jt *t, const char *needle, int from) {
  int n = (int)(t->fh->log_count < FAKE_MAX_LOG ? t->fh->log_count : FAKE_MAX_LOG);
  for (int i = from < 0 ? 0 : from; i < n; i++)
    if (strstr(t->fh->log_lines[i], needle)) return i;
  return -1;
}

/* Asserts the log has `needle`, dumping the log when it does not. */
#define JT_ASSERT_LOG(t, needle)                                                         \
  do {                                                                                   \
    bool jt_has_ = fake_host_log_has((t)->fh, (needle));                                 \
    if (!jt_has_) {                                                                      \
      fprintf(stderr, "\n%s:%d: log lacks: %s\n", __FILE__, __LINE__, (needle));         \
      fake_host_log_dump((t)->fh);                                                       \
    }                                                                                    \
    CU_ASSERT(jt_has_);                                                                  \
  } while (0)

#define JT_ASSERT_NO_LOG(t, needle) CU_ASSERT(!fake_host_log_has((t)->fh, (needle)))

/* splitmix64 as docs/scripting.md states it, computed independently of the plugin. */
static inline uint64_t jt_splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

#endif /* TEST_SCRIPT_JS_UTIL_H */
