/* The engine around the scripts: how long a script command takes to come
 * back to the script as a completed callback (through the core's queues, the
 * main thread's drain and the next tick), what triggering a tick costs the
 * main thread, and how much a slow script costs the main thread's frame time
 * (none, if it never waits for the worker). */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "bench_util.h"
#include "frame/script_worker.h"
#include "world/world.h"

/* ---- command round trip, through the real worker and queues ---- */

#define RT_TICKS 2000
#define RT_BATCH 1000

typedef struct rt_source {
  const keel_script_world *world;
  keel_id id;
  uint32_t batch;       /* commands with callbacks per tick */
  uint64_t sent_ns;     /* when this tick's commands were pushed */
  double *samples;      /* per round trip, µs */
  uint32_t count, cap;
  uint64_t callbacks;
} rt_source;

static keel_result rt_init(void *ctx, keel_message *error) {
  (void)error;
  rt_source *s = ctx;
  keel_command c = {.type = KEEL_CMD_CREATE, .kind = KEEL_OBJECT_ENTITY};
  c.id = s->id = s->world->id_reserve(s->world->ctx, KEEL_OBJECT_ENTITY);
  return s->world->command_push(s->world->ctx, &c);
}

/* Each tick: note when the previous tick's completions arrived, then send
 * the next batch of updates, each asking for a completion. */
static keel_result rt_tick(void *ctx, const keel_tick_info *tick, const keel_script_event *events, uint32_t n,
                           keel_message *error) {
  (void)tick, (void)error;
  rt_source *s = ctx;
  uint64_t now = kc_clock_now_ns();
  uint32_t done = 0;
  for (uint32_t i = 0; i < n; i++) done += events[i].type == KEEL_EVENT_COMPLETED;
  if (done && s->sent_ns && s->count < s->cap) s->samples[s->count++] = (double)(now - s->sent_ns) / 1e3 / done;
  s->callbacks += done;
  keel_command c = {.type = KEEL_CMD_UPDATE, .kind = KEEL_OBJECT_ENTITY, .id = s->id};
  c.fields.mask = KEEL_FIELD_POSITION;
  s->sent_ns = kc_clock_now_ns();
  for (uint32_t i = 0; i < s->batch; i++) {
    c.callback_id = i + 1;
    if (s->world->command_push(s->world->ctx, &c) != KEEL_OK) break;
  }
  return KEEL_OK;
}

static keel_result rt_factory(void *user, const keel_script_world *world, kc_tick_source *out, keel_message *error) {
  (void)error;
  rt_source *s = user;
  s->world = world;
  *out = (kc_tick_source){.ctx = s, .init = rt_init, .tick = rt_tick};
  return KEEL_OK;
}

/* The main loop unthrottled: drain, publish, trigger at once. Returns the
 * median µs per command round trip. */
static double round_trip(uint32_t batch) {
  kc_world *w = NULL;
  kc_world_config wc = {.max_entities = 16};
  kc_world_create(&wc, &w, NULL);
  rt_source s = {.batch = batch, .cap = RT_TICKS};
  s.samples = calloc(RT_TICKS, sizeof *s.samples);
  kc_script_worker_config cfg = {.world = w, .factory = rt_factory, .user = &s, .command_capacity = 4096,
                                 .event_capacity = 4096};
  kc_script_worker *sw = NULL;
  if (kc_script_worker_start(&cfg, &sw, NULL) != KEEL_OK) return -1;
  uint64_t published = 0;
  for (uint64_t t = 0; t < RT_TICKS;) {
    if (kc_script_worker_drain(sw)) {
      kc_script_worker_stats st;
      kc_script_worker_stats_get(sw, &st);
      if (st.markers > published) {
        kc_world_publish(w, NULL);
        published = st.markers;
      }
      keel_tick_info info = {.struct_size = sizeof info, .tick = ++t, .dt = 0.001};
      kc_script_worker_trigger(sw, &info);
    }
  }
  kc_script_worker_wait_idle(sw, 5000000000ull);
  kc_script_worker_free(sw);
  double med = bench_percentile(s.samples, s.count, 0.5);
  free(s.samples);
  kc_world_destroy(w);
  return med;
}

/* ---- what a trigger costs the main thread, announced or not ---- */

#define PACED_TICKS 90

typedef struct paced_source {
  _Atomic uint64_t triggered_ns; /* set by main just before each trigger */
  double delay_us[PACED_TICKS];
  uint32_t count;
} paced_source;

static keel_result paced_tick(void *ctx, const keel_tick_info *tick, const keel_script_event *events, uint32_t n,
                              keel_message *error) {
  (void)tick, (void)events, (void)n, (void)error;
  paced_source *s = ctx;
  uint64_t t = atomic_load(&s->triggered_ns);
  if (t && s->count < PACED_TICKS) s->delay_us[s->count++] = (double)(kc_clock_now_ns() - t) / 1e3;
  return KEEL_OK;
}

static keel_result paced_factory(void *user, const keel_script_world *world, kc_tick_source *out,
                                 keel_message *error) {
  (void)world, (void)error;
  *out = (kc_tick_source){.ctx = user, .tick = paced_tick};
  return KEEL_OK;
}

/* The engine's cadence (60 fps, a tick every other frame) with an idle
 * script, the main thread announcing each trigger or not. Reports the
 * median and p99 of the trigger call on main and of the tick's start after
 * it. */
static void paced_triggers(bool announce, const char *name) {
  kc_world *w = NULL;
  kc_world_config wc = {.max_entities = 16};
  kc_world_create(&wc, &w, NULL);
  static paced_source s;
  memset(&s, 0, sizeof s);
  kc_script_worker_config cfg = {.world = w, .factory = paced_factory, .user = &s};
  kc_script_worker *sw = NULL;
  if (kc_script_worker_start(&cfg, &sw, NULL) != KEEL_OK) return;
  kc_script_worker_wait_idle(sw, 5000000000ull);
  const uint64_t frame_ns = 16666667;
  double cost_us[PACED_TICKS];
  uint32_t n = 0;
  uint64_t due = kc_clock_now_ns() + frame_ns;
  for (uint64_t frame = 0; n < PACED_TICKS; frame++, due += frame_ns) {
    kc_clock_sleep_until_precise_ns(due, 200000);
    if (kc_script_worker_drain(sw) && frame % 2 == 0) {
      keel_tick_info info = {.struct_size = sizeof info, .tick = n + 1, .dt = 1.0 / 30};
      uint64_t t0 = kc_clock_now_ns();
      atomic_store(&s.triggered_ns, t0);
      kc_script_worker_trigger(sw, &info);
      cost_us[n++] = (double)(kc_clock_now_ns() - t0) / 1e3;
    }
    if (announce) kc_script_worker_expect_trigger(sw, due + (frame % 2 == 0 ? 2 : 1) * frame_ns);
  }
  kc_script_worker_wait_idle(sw, 5000000000ull);
  kc_script_worker_free(sw);
  kc_world_destroy(w);
  char line[128];
  snprintf(line, sizeof line, "trigger_cost_%s_median_us", name);
  bench_report(line, bench_percentile(cost_us, n, 0.5), "us");
  snprintf(line, sizeof line, "trigger_cost_%s_p99_us", name);
  bench_report(line, bench_percentile(cost_us, n, 0.99), "us");
  snprintf(line, sizeof line, "tick_start_after_trigger_%s_median_us", name);
  bench_report(line, bench_percentile(s.delay_us, s.count, 0.5), "us");
  snprintf(line, sizeof line, "tick_start_after_trigger_%s_p99_us", name);
  bench_report(line, bench_percentile(s.delay_us, s.count, 0.99), "us");
}

/* ---- slow script vs idle script, main-thread frame time ---- */

typedef struct trigger_counts {
  unsigned long long ticks, wakes;
} trigger_counts;

static unsigned long long json_u64(const char *json, const char *name) {
  const char *p = strstr(json, name);
  return p ? strtoull(p + strlen(name), NULL, 10) : 0;
}

/* Runs the game for 300 frames at 60 fps; returns its main-thread frame p99
 * and adds its ticks and the triggers that had to wake the worker to *tc. */
static double run_keel_p99(const char *game, trigger_counts *tc) {
  char path[] = "/tmp/keel-bench-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "%s --frames 300 --set engine.target_fps=60 --set renderer.backend=null --set script.runtime=js "
           "--set script.tick_rate=30 --set script.main=%s/tests/scripts/engine/js/%s/main.js --stats-json %s "
           ">/dev/null 2>&1",
           KEEL_BENCH_KEEL_EXE, KEEL_BENCH_SOURCE_DIR, game, path);
  double p99 = -1;
  if (system(cmd) == 0) {
    FILE *f = fopen(path, "r");
    char json[8192];
    size_t n = f ? fread(json, 1, sizeof json - 1, f) : 0;
    json[n] = '\0';
    if (f) fclose(f);
    const char *p = strstr(json, "\"p99\": ");
    if (p) p99 = strtod(p + 7, NULL);
    tc->ticks += json_u64(json, "\"ticks\": ");
    tc->wakes += json_u64(json, "\"wakes\": ");
  }
  remove(path);
  return p99;
}

int main(void) {
  bench_print_machine("engine");
  double rt1[5], rtb[5];
  for (int i = 0; i < 5; i++) {
    rt1[i] = round_trip(1);
    rtb[i] = round_trip(RT_BATCH);
  }
  bench_report("command_round_trip_us", bench_percentile(rt1, 5, 0.5), "us");
  bench_report("command_round_trip_amortized_batch1000_us", bench_percentile(rtb, 5, 0.5), "us");
  paced_triggers(false, "unannounced");
  paced_triggers(true, "announced");
  /* A p99 over 300 frames is the 3rd-worst frame, ~20 µs here, and moves by
   * 2x between identical runs: alternate the two cases and take medians (the
   * median of 7 pairs still moved 1.00-1.31 between identical runs; 11 hold
   * it within a few percent of the 15-pair figure). */
  enum { P99_RUNS = 11 };
  double idle[P99_RUNS], slow[P99_RUNS];
  trigger_counts idle_tc = {0}, slow_tc = {0};
  for (int i = 0; i < P99_RUNS; i++) {
    idle[i] = run_keel_p99("idle", &idle_tc);
    slow[i] = run_keel_p99("slow", &slow_tc);
  }
  /* A trigger that must wake the sleeping worker costs main 10-30 us here. */
  bench_report("trigger_wakes_per_tick_idle_script",
               idle_tc.ticks ? (double)idle_tc.wakes / (double)idle_tc.ticks : 0, "wakes/tick");
  bench_report("trigger_wakes_per_tick_slow_script",
               slow_tc.ticks ? (double)slow_tc.wakes / (double)slow_tc.ticks : 0, "wakes/tick");
  double pi = bench_percentile(idle, P99_RUNS, 0.5), ps = bench_percentile(slow, P99_RUNS, 0.5);
  bench_report("main_frame_p99_idle_script_min_ms", bench_percentile(idle, P99_RUNS, 0.0), "ms");
  bench_report("main_frame_p99_idle_script_max_ms", bench_percentile(idle, P99_RUNS, 1.0), "ms");
  bench_report("main_frame_p99_slow_script_min_ms", bench_percentile(slow, P99_RUNS, 0.0), "ms");
  bench_report("main_frame_p99_slow_script_max_ms", bench_percentile(slow, P99_RUNS, 1.0), "ms");
  bench_report("main_frame_p99_idle_script_ms", pi, "ms");
  bench_report("main_frame_p99_slow_script_ms", ps, "ms");
  bench_report("main_p99_ratio_slow_script", pi > 0 ? ps / pi : 0, "x");
  return 0;
}
