/* What the JavaScript plugin costs per call across the engine/script border
 * and how far the watchdog overruns its budget, measured through the SDK on
 * the fake host, so the figures are the plugin's own and not the core's. */

/* tests/bench/CMakeLists.txt links only keel_bench_support; including the fake
 * host's source here gives this benchmark a host and world without touching
 * that shared file. */
#include "../support/fake_host.c"

#include "bench_util.h"

#include <keel/plugin.h>
#include <keel/script.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PLUGIN_PATH KEEL_BENCH_PLUGIN_DIR "/keel_script_js.so"
#define RUNS 9
#define EVENTS 1000
#define LOOP 1000000
#define JT_BENCH_EVENTS 1024

static const keel_script_api *api;
static fake_host *fh;
static keel_script_event *events;

/* The fake world counts by scanning 4096 slots; the benchmark wants the
 * binding's cost, so entity.count() gets an O(1) world here. */
static uint32_t bench_count(void *ctx, keel_object_kind kind) {
  (void)ctx;
  return kind == KEEL_OBJECT_ENTITY ? 7u : 0u;
}

static keel_script *start(const char *name, const char *src, uint32_t budget_ms) {
  char path[256];
  snprintf(path, sizeof path, "/tmp/keel-bench-js-%d-%s.js", (int)getpid(), name);
  FILE *f = fopen(path, "wb");
  if (!f) return NULL;
  fputs(src, f);
  fclose(f);
  fake_host_init(fh, "/tmp");
  fh->world.object_count = bench_count;
  keel_cvar_value v;
  memset(&v, 0, sizeof v);
  v.type = KEEL_CVAR_INT;
  v.i = 1;
  snprintf(v.text, sizeof v.text, "1");
  fake_host_add_cvar(fh, "bench_var", &v);
  keel_script_desc d;
  memset(&d, 0, sizeof d);
  d.struct_size = KEEL_STRUCT_SIZE(keel_script_desc);
  d.host = &fh->host;
  d.world = &fh->world;
  d.main_path = path;
  d.game_dir = "/tmp";
  d.memory_limit_mb = 64;
  d.tick_budget_ms = budget_ms;
  d.seed = 1;
  keel_script *s = NULL;
  keel_message err;
  if (api->create(&d, &s, &err) != KEEL_OK || api->init(s, &err) != KEEL_OK) {
    fprintf(stderr, "%s: %s\n", name, err.text);
    if (s) api->destroy(s);
    s = NULL;
  }
  remove(path);
  return s;
}

static double tick_ns(keel_script *s, uint64_t frame, const keel_script_event *ev, uint32_t n, keel_result *r) {
  keel_tick_info ti = {.struct_size = KEEL_STRUCT_SIZE(keel_tick_info), .tick = frame, .frame = frame, .dt = 1.0 / 60.0,
                       .time = (double)frame / 60.0};
  keel_message err;
  uint64_t t0 = bench_now_ns();
  *r = api->tick(s, &ti, ev, n, &err);
  return (double)(bench_now_ns() - t0);
}

/* Median over RUNS of (tick with EVENTS on_change events - tick with none) / EVENTS. */
static void bench_handler_call(void) {
  keel_script *s = start("handler", "cvar.on_change('bench_var', function (value, name) {});\n"
                                    "function update(dt) {}\n",
                         0);
  if (!s) return;
  for (uint32_t i = 0; i < EVENTS; i++) {
    memset(&events[i], 0, sizeof events[i]);
    events[i].type = KEEL_EVENT_CVAR_CHANGED;
    snprintf(events[i].name, sizeof events[i].name, "bench_var");
    events[i].value.type = KEEL_CVAR_INT;
    events[i].value.i = (int64_t)i;
  }
  double per[RUNS], empty[RUNS];
  keel_result r = KEEL_OK;
  for (int k = 0; k < 3; k++) tick_ns(s, 1, events, EVENTS, &r); /* warm up */
  for (int k = 0; k < RUNS; k++) {
    double with = 1e30, without = 1e30;
    /* Best of 5 inside a run: the machine is shared. */
    for (int j = 0; j < 5; j++) {
      double a = tick_ns(s, 2, events, EVENTS, &r);
      double b = tick_ns(s, 3, NULL, 0, &r);
      if (a < with) with = a;
      if (b < without) without = b;
    }
    per[k] = (with - without) / EVENTS;
    empty[k] = without;
  }
  if (r != KEEL_OK) fprintf(stderr, "handler bench: tick failed\n");
  double lo = per[0], hi = per[0];
  for (int k = 1; k < RUNS; k++) {
    if (per[k] < lo) lo = per[k];
    if (per[k] > hi) hi = per[k];
  }
  bench_report("js_handler_call_ns", bench_percentile(per, RUNS, 0.5), "ns");
  printf("# js_handler_call_ns: one cvar.on_change handler call per event inside a tick (handler lookup by name,\n"
         "#   value and name pushed, protected call; the handler's body is empty); spread over %d runs %.0f..%.0f ns\n",
         RUNS, lo, hi);
  bench_report("js_tick_update_ns", bench_percentile(empty, RUNS, 0.5), "ns");
  printf("# js_tick_update_ns: a whole tick with no events: entry boundary, watchdog arming, update(dt) call\n");
  api->destroy(s);
}

/* Median over RUNS of (tick delivering CALLBACKS on_created completions - empty tick) / CALLBACKS.
 * The creates and destroys happen in untimed ticks around the timed one. */
#define CALLBACKS 500
static void bench_callback_call(void) {
  keel_script *s = start("callback", "var ids = [];\n"
                                     "function cb(id, err) {}\n"
                                     "function update(dt) {\n"
                                     "  var phase = engine.frame() % 3, i;\n"
                                     "  if (phase === 0) for (i = 0; i < 500; i++) ids.push(entity.create({}, cb));\n"
                                     "  if (phase === 2) { for (i = 0; i < ids.length; i++) entity.destroy(ids[i]); ids = []; }\n"
                                     "}\n",
                         0);
  if (!s) return;
  static keel_script_event ev[JT_BENCH_EVENTS];
  double per[RUNS];
  keel_result r = KEEL_OK;
  uint64_t frame = 0;
  for (int k = 0; k < RUNS; k++) {
    double with = 1e30, without = 1e30;
    for (int j = 0; j < 5; j++) {
      tick_ns(s, frame, NULL, 0, &r); /* phase 0: creates */
      uint32_t n = fake_host_take_events(fh, ev, JT_BENCH_EVENTS);
      double a = tick_ns(s, frame + 1, ev, n, &r); /* phase 1: delivers the completions */
      double b = tick_ns(s, frame + 1, NULL, 0, &r); /* phase 1 again: nothing to deliver */
      tick_ns(s, frame + 2, NULL, 0, &r); /* phase 2: destroys */
      fake_host_take_events(fh, ev, JT_BENCH_EVENTS);
      frame += 3;
      if (n != CALLBACKS) fprintf(stderr, "callback bench: %u events, want %d\n", n, CALLBACKS);
      if (a < with) with = a;
      if (b < without) without = b;
    }
    per[k] = (with - without) / CALLBACKS;
  }
  if (r != KEEL_OK) fprintf(stderr, "callback bench: tick failed\n");
  double lo = per[0], hi = per[0];
  for (int k = 1; k < RUNS; k++) {
    if (per[k] < lo) lo = per[k];
    if (per[k] > hi) hi = per[k];
  }
  bench_report("js_callback_call_ns", bench_percentile(per, RUNS, 0.5), "ns");
  printf("# js_callback_call_ns: one on_created callback per completion event (slot lookup, function taken from\n"
         "#   the stash, id and err pushed, protected call; empty body); spread over %d runs %.0f..%.0f ns\n",
         RUNS, lo, hi);
  api->destroy(s);
}

/* Median over RUNS of (LOOP x entity.count() - LOOP x nothing) / LOOP, timed in C around update(). */
static void bench_binding_call(void) {
  keel_script *s = start("binding", "function update(dt) {\n"
                                    "  var i, n = 0;\n"
                                    "  if (engine.frame() % 2) { for (i = 0; i < 1000000; i++) n += entity.count(); }\n"
                                    "  else { for (i = 0; i < 1000000; i++) n += 7; }\n"
                                    "}\n",
                         0);
  if (!s) return;
  double per[RUNS];
  keel_result r = KEEL_OK;
  tick_ns(s, 1, NULL, 0, &r);
  tick_ns(s, 2, NULL, 0, &r);
  for (int k = 0; k < RUNS; k++) {
    double call = 1e30, empty = 1e30;
    for (int j = 0; j < 3; j++) {
      double a = tick_ns(s, 1, NULL, 0, &r);
      double b = tick_ns(s, 2, NULL, 0, &r);
      if (a < call) call = a;
      if (b < empty) empty = b;
    }
    per[k] = (call - empty) / LOOP;
  }
  if (r != KEEL_OK) fprintf(stderr, "binding bench: tick failed\n");
  double lo = per[0], hi = per[0];
  for (int k = 1; k < RUNS; k++) {
    if (per[k] < lo) lo = per[k];
    if (per[k] > hi) hi = per[k];
  }
  bench_report("js_binding_call_ns", bench_percentile(per, RUNS, 0.5), "ns");
  printf("# js_binding_call_ns: `n += entity.count()` minus `n += 7` in a JS loop (global and property lookup,\n"
         "#   native call, world->object_count O(1) here); spread over %d runs %.0f..%.0f ns\n",
         RUNS, lo, hi);
  api->destroy(s);
}

/* How long past a 50 ms budget a runaway update keeps running. */
static void bench_watchdog(const char *name, const char *loop) {
  char src[256];
  snprintf(src, sizeof src, "function update(dt) { %s }\n", loop);
  keel_script *s = start("watchdog", src, 50);
  if (!s) return;
  double over[RUNS];
  for (int k = 0; k < RUNS; k++) {
    keel_result r;
    over[k] = tick_ns(s, (uint64_t)k, NULL, 0, &r) / 1e6 - 50.0;
    if (r != KEEL_ERR_SCRIPT) fprintf(stderr, "watchdog bench: the loop was not stopped\n");
  }
  double lo = over[0], hi = over[0];
  for (int k = 1; k < RUNS; k++) {
    if (over[k] < lo) lo = over[k];
    if (over[k] > hi) hi = over[k];
  }
  bench_report(name, bench_percentile(over, RUNS, 0.5), "ms");
  printf("# %s: `%s` with tick_budget_ms = 50; spread %.2f..%.2f ms\n", name, loop, lo, hi);
  api->destroy(s);
}

static void bench_oneoff(void) {
  keel_script *s = start("oneoff", "var x = 1;\n", 1000);
  if (!s) return;
  keel_message m;
  api->oneoff_run(s, "1", &m); /* creates the pool heap */
  double us[RUNS];
  for (int k = 0; k < RUNS; k++) {
    uint64_t t0 = bench_now_ns();
    for (int j = 0; j < 100; j++) api->oneoff_run(s, "entity.count() + 1", &m);
    us[k] = (double)(bench_now_ns() - t0) / 100.0 / 1e3;
  }
  bench_report("js_oneoff_run_us", bench_percentile(us, RUNS, 0.5), "us");
  printf("# js_oneoff_run_us: oneoff_run(\"entity.count() + 1\") on a warm pool heap (compile, run, String())\n");
  api->destroy(s);
}

static void bench_create(void) {
  double us[RUNS];
  for (int k = 0; k < RUNS; k++) {
    uint64_t t0 = bench_now_ns();
    keel_script *s = start("create", "var x = 1;\n", 1000);
    us[k] = (double)(bench_now_ns() - t0) / 1e3;
    if (s) api->destroy(s);
  }
  bench_report("js_runtime_create_us", bench_percentile(us, RUNS, 0.5), "us");
  printf("# js_runtime_create_us: create (heap, sandbox, API) + init of a one-line main.js, file write included\n");
}

int main(void) {
  bench_print_machine("bench_script_js");
  void *dl = dlopen(PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
  if (!dl) {
    fprintf(stderr, "dlopen %s: %s\n", PLUGIN_PATH, dlerror());
    return 1;
  }
  keel_plugin_entry_fn entry = (keel_plugin_entry_fn)dlsym(dl, KEEL_PLUGIN_ENTRY_SYMBOL);
  const keel_plugin_manifest *m = entry ? entry() : NULL;
  api = m ? m->get_interface(KEEL_SCRIPT_INTERFACE) : NULL;
  fh = calloc(1, sizeof *fh);
  events = calloc(EVENTS, sizeof *events);
  if (!api || !fh || !events) {
    fprintf(stderr, "cannot set up the benchmark\n");
    return 1;
  }
  bench_pin_thread(0);
  bench_handler_call();
  bench_callback_call();
  bench_binding_call();
  bench_watchdog("js_watchdog_overrun_ms", "for (;;) {}");
  bench_watchdog("js_watchdog_overrun_swallow_ms", "for (;;) { try { for (;;) {} } catch (e) {} }");
  bench_oneoff();
  bench_create();
  free(events);
  free(fh);
  return 0;
}
