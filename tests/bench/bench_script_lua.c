/* Costs of the Lua runtime at its boundaries, through the plugin ABI as the
 * engine calls it: delivering an event to a Lua handler, a Lua call into the
 * API, taking and returning a pool state, and how far past its budget the
 * watchdog stops a runaway loop. Each figure is the median of several runs. */

/* tests/support/fake_host.c is not part of keel_bench_support and
 * tests/bench/CMakeLists.txt is shared, so the fake host is compiled into this
 * benchmark's own translation unit. */
#include "../support/fake_host.c"

#include "../../plugins/script_lua/klua_diag.h"
#include "bench_util.h"

#include <dlfcn.h>
#include <keel/plugin.h>
#include <keel/script.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPS 9

static const keel_script_api *api;
static const klua_diag_api *diag;
static char dir[256];

static int load_plugin(void) {
  void *dl = dlopen(KEEL_BENCH_PLUGIN_DIR "/keel_script_lua.so", RTLD_NOW | RTLD_LOCAL);
  if (!dl) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return -1;
  }
  keel_plugin_entry_fn entry = (keel_plugin_entry_fn)dlsym(dl, KEEL_PLUGIN_ENTRY_SYMBOL);
  const keel_plugin_manifest *m = entry ? entry() : NULL;
  api = m ? m->get_interface(KEEL_SCRIPT_INTERFACE) : NULL;
  diag = m ? m->get_interface(KLUA_DIAG_INTERFACE) : NULL;
  return api && diag ? 0 : -1;
}

static int write_script(const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fputs(text, f);
  return fclose(f);
}

typedef struct rt {
  fake_host *fh;
  keel_script *s;
  uint64_t tick;
} rt;

static int rt_open(rt *r, const char *main, uint32_t budget_ms, uint64_t instructions) {
  memset(r, 0, sizeof *r);
  r->fh = calloc(1, sizeof *r->fh);
  if (!r->fh) return -1;
  fake_host_init(r->fh, dir);
  keel_cvar_value v;
  memset(&v, 0, sizeof v);
  v.type = KEEL_CVAR_FLOAT;
  v.f = 1.0;
  snprintf(v.text, sizeof v.text, "1");
  fake_host_add_cvar(r->fh, "speed", &v);
  v.type = KEEL_CVAR_STRING;
  v.text[0] = '\0';
  fake_host_add_cvar(r->fh, "code", &v);
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, main);
  keel_script_desc d = {.struct_size = KEEL_STRUCT_SIZE(keel_script_desc), .host = &r->fh->host,
                        .world = &r->fh->world, .main_path = path, .game_dir = dir, .memory_limit_mb = 64,
                        .tick_budget_ms = budget_ms, .instruction_budget = instructions, .seed = 1};
  keel_message m;
  if (api->create(&d, &r->s, &m) != KEEL_OK || api->init(r->s, &m) != KEEL_OK) {
    fprintf(stderr, "%s: %s\n", main, m.text);
    return -1;
  }
  return 0;
}

static void rt_close(rt *r) {
  api->destroy(r->s);
  free(r->fh);
}

/* One tick; returns its duration in ns (result in *res). */
static uint64_t rt_tick(rt *r, const keel_script_event *ev, uint32_t n, keel_result *res, keel_message *m) {
  keel_tick_info ti = {.struct_size = KEEL_STRUCT_SIZE(keel_tick_info), .tick = r->tick, .frame = r->tick, .dt = 1.0 / 60,
                       .time = (double)r->tick / 60};
  r->tick++;
  uint64_t t0 = bench_now_ns();
  *res = api->tick(r->s, &ti, ev, n, m);
  return bench_now_ns() - t0;
}

static int rt_tick_ok(rt *r, const keel_script_event *ev, uint32_t n, uint64_t *ns) {
  keel_result res;
  keel_message m;
  *ns = rt_tick(r, ev, n, &res, &m);
  if (res != KEEL_OK) {
    fprintf(stderr, "tick failed: %s\n", m.text);
    return -1;
  }
  return 0;
}

static double median(double *v, size_t n) { return bench_percentile(v, n, 0.5); }

/* Ticks with and without the events; the difference per event is what
 * delivering one costs: find the handler, push its arguments, run it. */
#define NEVENTS 1000
static keel_script_event events[NEVENTS];

static int bench_cvar_handlers(uint64_t instructions, double *out) {
  rt r;
  if (rt_open(&r, "handlers.lua", 1000, instructions)) return -1;
  for (uint32_t i = 0; i < NEVENTS; i++) {
    memset(&events[i], 0, sizeof events[i]);
    events[i].type = KEEL_EVENT_CVAR_CHANGED;
    snprintf(events[i].name, sizeof events[i].name, "speed");
    events[i].value.type = KEEL_CVAR_FLOAT;
    events[i].value.f = 2.0;
  }
  double per[REPS];
  for (int rep = 0; rep < REPS; rep++) {
    double with[15], without[15];
    for (int k = 0; k < 15; k++) {
      uint64_t a, b;
      if (rt_tick_ok(&r, events, NEVENTS, &a) || rt_tick_ok(&r, NULL, 0, &b)) return -1;
      with[k] = (double)a;
      without[k] = (double)b;
    }
    per[rep] = (median(with, 15) - median(without, 15)) / NEVENTS;
  }
  *out = median(per, REPS);
  rt_close(&r);
  return 0;
}

static int bench_callbacks(double *out) {
  rt r;
  if (rt_open(&r, "callbacks.lua", 1000, 0)) return -1;
  static keel_script_event done[NEVENTS];
  double per[REPS];
  for (int rep = 0; rep < REPS; rep++) {
    double with[15], without[15];
    for (int k = 0; k < 15; k++) {
      uint64_t a, b, c;
      /* even frame: the script creates NEVENTS entities with callbacks */
      if (rt_tick_ok(&r, NULL, 0, &c)) return -1;
      uint32_t n = fake_host_take_events(r.fh, done, NEVENTS);
      if (n != NEVENTS) return -1;
      if (rt_tick_ok(&r, done, n, &a)) return -1; /* odd: deliver */
      if (rt_tick_ok(&r, NULL, 0, &c)) return -1; /* even: create again, */
      fake_host_take_events(r.fh, done, NEVENTS); /* drop those: the callbacks stay pending */
      if (rt_tick_ok(&r, NULL, 0, &b)) return -1; /* odd, no events */
      with[k] = (double)a;
      without[k] = (double)b;
      for (uint32_t i = 0; i < FAKE_MAX_OBJECTS; i++) { /* reuse the fake world's slots */
        r.fh->objects[i].live = false;
        r.fh->objects[i].snap.id = 0;
      }
    }
    per[rep] = (median(with, 15) - median(without, 15)) / NEVENTS;
  }
  *out = median(per, REPS);
  rt_close(&r);
  return 0;
}

/* update(dt) alternates a loop of N API calls and the same loop empty. */
#define NCALLS 200000
static int bench_binding(uint64_t instructions, double *out) {
  rt r;
  if (rt_open(&r, "binding.lua", 5000, instructions)) return -1;
  double per[REPS];
  for (int rep = 0; rep < REPS; rep++) {
    double with[7], without[7];
    for (int k = 0; k < 7; k++) {
      uint64_t a, b;
      if (rt_tick_ok(&r, NULL, 0, &a) || rt_tick_ok(&r, NULL, 0, &b)) return -1;
      with[k] = (double)a;
      without[k] = (double)b;
    }
    per[rep] = (median(with, 7) - median(without, 7)) / NCALLS;
  }
  *out = median(per, REPS);
  rt_close(&r);
  return 0;
}

/* A whole tick with no events and an empty update(dt): the fixed cost of a
 * call into the game VM (watchdog arm/disarm, protected call, global lookup). */
static int bench_tick_overhead(double *out) {
  rt r;
  if (rt_open(&r, "empty.lua", 1000, 0)) return -1;
  double per[REPS];
  for (int rep = 0; rep < REPS; rep++) {
    uint64_t t0 = bench_now_ns();
    for (int k = 0; k < 10000; k++) {
      keel_result res;
      keel_message m;
      keel_tick_info ti = {.struct_size = KEEL_STRUCT_SIZE(keel_tick_info), .tick = r.tick, .frame = r.tick, .dt = 1.0 / 60};
      r.tick++;
      res = api->tick(r.s, &ti, NULL, 0, &m);
      if (res != KEEL_OK) return -1;
    }
    per[rep] = (double)(bench_now_ns() - t0) / 10000;
  }
  *out = median(per, REPS);
  rt_close(&r);
  return 0;
}

static int bench_pool(double *out) {
  rt r;
  if (rt_open(&r, "empty.lua", 1000, 0)) return -1;
  double per[REPS];
  keel_message m;
  for (int rep = 0; rep < REPS; rep++) {
    uint64_t t0 = bench_now_ns();
    for (int k = 0; k < 100000; k++) {
      void *vm = diag->pool_acquire(r.s, &m);
      if (!vm) return -1;
      diag->pool_release(r.s, vm);
    }
    per[rep] = (double)(bench_now_ns() - t0) / 100000;
  }
  *out = median(per, REPS);
  /* for context: a whole one-off run of a trivial chunk (compile + call) */
  for (int rep = 0; rep < REPS; rep++) {
    uint64_t t0 = bench_now_ns();
    for (int k = 0; k < 2000; k++)
      if (api->oneoff_run(r.s, "return 1", &m) != KEEL_OK) return -1;
    per[rep] = (double)(bench_now_ns() - t0) / 2000;
  }
  bench_report("lua_oneoff_run_trivial_ns", median(per, REPS), "ns");
  rt_close(&r);
  return 0;
}

/* How far past a 20 ms budget the watchdog stops `code` (ms): median, max. */
static int bench_overrun(const char *code, double *med, double *max) {
  rt r;
  if (rt_open(&r, "spin.lua", 20, 0)) return -1;
  double over[25];
  for (int k = 0; k < 25; k++) {
    keel_result res;
    keel_message m;
    if (r.fh->host.cvar_set(&r.fh->host, "code", code, &m) != KEEL_OK) return -1;
    uint64_t ns = rt_tick(&r, NULL, 0, &res, &m);
    if (res != KEEL_ERR_SCRIPT || !strstr(m.text, "tick budget of 20 ms exceeded")) {
      fprintf(stderr, "overrun: %s\n", m.text);
      return -1;
    }
    over[k] = (double)ns / 1e6 - 20.0;
    if (getenv("KLUA_BENCH_VERBOSE")) fprintf(stderr, "%s overrun %.3f ms\n", code, over[k]);
    fake_host_take_events(r.fh, events, NEVENTS);
  }
  *max = bench_percentile(over, 25, 1.0);
  *med = bench_percentile(over, 25, 0.5);
  rt_close(&r);
  return 0;
}

int main(void) {
  bench_print_machine("bench_script_lua");
  snprintf(dir, sizeof dir, "/tmp/keel-bench-lua-XXXXXX");
  if (!mkdtemp(dir) || load_plugin()) return 1;
  if (write_script("handlers.lua", "n = 0\n"
                                   "cvar.on_change('speed', function(v, name) n = n + 1 end)\n"
                                   "function update(dt) end\n") ||
      write_script("callbacks.lua", "n = 0\n"
                                    "local function cb(id, err) n = n + 1 end\n"
                                    "function update(dt)\n"
                                    "  if engine.frame() % 2 == 0 then\n"
                                    "    for i = 1, 1000 do entity.create({}, cb) end\n"
                                    "  end\n"
                                    "end\n") ||
      write_script("binding.lua", "local frame = engine.frame\n"
                                  "function update(dt)\n"
                                  "  if frame() % 2 == 0 then\n"
                                  "    for i = 1, 200000 do local f = engine.frame() end\n"
                                  "  else\n"
                                  "    for i = 1, 200000 do end\n"
                                  "  end\n"
                                  "end\n") ||
      write_script("empty.lua", "function update(dt) end\n") ||
      write_script("spin.lua", "cvar.on_change('speed', function() end)\n"
                               "function update(dt)\n"
                               "  local code = cvar.get('code')\n"
                               "  if code == 'pure' then while true do end end\n"
                               "  if code == 'pcall' then while true do pcall(function() while true do end end) end end\n"
                               "end\n"))
    return 1;

  double v, w;
  if (bench_cvar_handlers(0, &v)) return 1;
  bench_report("lua_handler_call_ns", v, "ns");
  if (bench_cvar_handlers(10000000, &v)) return 1;
  bench_report("lua_handler_call_with_instruction_budget_ns", v, "ns");
  if (bench_callbacks(&v)) return 1;
  bench_report("lua_callback_call_ns", v, "ns");
  if (bench_binding(0, &v)) return 1;
  bench_report("lua_binding_call_ns", v, "ns");
  if (bench_binding(100000000, &v)) return 1;
  bench_report("lua_binding_call_with_instruction_budget_ns", v, "ns");
  if (bench_tick_overhead(&v)) return 1;
  bench_report("lua_tick_overhead_ns", v, "ns");
  if (bench_pool(&v)) return 1;
  bench_report("lua_pool_acquire_release_ns", v, "ns");

  {
    double med, max;
    if (bench_overrun("pure", &med, &max)) return 1;
    bench_report("lua_watchdog_overrun_ms", med, "ms");
    bench_report("lua_watchdog_overrun_max_ms", max, "ms");
    if (bench_overrun("pcall", &med, &w)) return 1;
    bench_report("lua_watchdog_overrun_pcall_loop_ms", med, "ms");
  }
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) return 1;
  return 0;
}
