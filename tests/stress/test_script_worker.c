// keel-test-labels: concurrency
// keel-test-serial
/* The script worker and the main thread: every published state is a whole
 * tick's (never half of one), the main thread never waits for a slow tick,
 * completions come back by callback id, a full queue is refused to the
 * script and counted, and a trigger the main thread announced needs no futex
 * wake while no trigger is ever lost. Runs under TSan in the test command. */
#include <keel_test.h>

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "frame/script_worker.h"

#define MOVERS 64

typedef struct mover {
  const keel_script_world *world;
  keel_id ids[MOVERS];
  uint32_t count;
  uint64_t ticks;
  uint64_t torn;          /* snapshots that mixed two ticks */
  uint64_t checked;       /* snapshots checked */
  uint32_t sleep_ms;      /* per tick */
  uint32_t burst;         /* extra updates per tick (to fill the queue) */
  uint64_t refused_full;
  uint32_t completions_ok, completions_failed;
  char last_error[KEEL_MESSAGE_MAX];
  keel_id bad_mesh_id;
} mover;

static keel_result mover_init(void *ctx, keel_message *error) {
  (void)error;
  mover *m = ctx;
  for (uint32_t i = 0; i < m->count; i++) {
    keel_command c;
    memset(&c, 0, sizeof c);
    c.type = KEEL_CMD_CREATE;
    c.kind = KEEL_OBJECT_ENTITY;
    c.id = m->world->id_reserve(m->world->ctx, KEEL_OBJECT_ENTITY);
    c.callback_id = i + 1;
    m->ids[i] = c.id;
    if (m->world->command_push(m->world->ctx, &c) != KEEL_OK) return KEEL_ERR_FULL;
  }
  /* One create that the main thread must refuse. */
  keel_command c;
  memset(&c, 0, sizeof c);
  c.type = KEEL_CMD_CREATE;
  c.kind = KEEL_OBJECT_ENTITY;
  c.id = m->bad_mesh_id = m->world->id_reserve(m->world->ctx, KEEL_OBJECT_ENTITY);
  c.callback_id = 1000;
  c.fields.mask = KEEL_FIELD_MESH;
  strcpy(c.fields.mesh, "teapot");
  return m->world->command_push(m->world->ctx, &c);
}

static keel_result mover_tick(void *ctx, const keel_tick_info *tick, const keel_script_event *events, uint32_t n,
                              keel_message *error) {
  (void)error;
  mover *m = ctx;
  for (uint32_t i = 0; i < n; i++) {
    if (events[i].type != KEEL_EVENT_COMPLETED) continue;
    if (events[i].result == KEEL_OK) {
      m->completions_ok++;
    } else {
      m->completions_failed++;
      snprintf(m->last_error, sizeof m->last_error, "%s", events[i].message);
    }
  }
  /* The published snapshot must hold one whole tick: every mover at the
   * same x. */
  keel_object_snapshot s0, s;
  if (m->world->object_get(m->world->ctx, m->ids[0], &s0) == KEEL_OK) {
    m->checked++;
    for (uint32_t i = 1; i < m->count; i++)
      if (m->world->object_get(m->world->ctx, m->ids[i], &s) != KEEL_OK || s.fields.position.x != s0.fields.position.x)
        m->torn++;
  }
  keel_command c;
  memset(&c, 0, sizeof c);
  c.type = KEEL_CMD_UPDATE;
  c.kind = KEEL_OBJECT_ENTITY;
  c.fields.mask = KEEL_FIELD_POSITION;
  c.fields.position.x = (float)tick->tick;
  for (uint32_t i = 0; i < m->count; i++) {
    c.id = m->ids[i];
    keel_result r = m->world->command_push(m->world->ctx, &c);
    if (r == KEEL_ERR_FULL) m->refused_full++;
  }
  for (uint32_t i = 0; i < m->burst; i++) {
    c.id = m->ids[i % m->count];
    if (m->world->command_push(m->world->ctx, &c) == KEEL_ERR_FULL) m->refused_full++;
  }
  m->ticks++;
  if (m->sleep_ms) kc_clock_sleep_ns((uint64_t)m->sleep_ms * 1000000u);
  return KEEL_OK;
}

static keel_result mover_factory(void *user, const keel_script_world *world, kc_tick_source *out,
                                 keel_message *error) {
  (void)error;
  mover *m = user;
  m->world = world;
  *out = (kc_tick_source){.ctx = m, .init = mover_init, .tick = mover_tick};
  return KEEL_OK;
}

static kc_world *make_world(void) {
  kc_world *w = NULL;
  kc_world_config cfg = {.max_entities = 1024};
  CU_ASSERT_FATAL(kc_world_create(&cfg, &w, NULL) == KEEL_OK);
  return w;
}

static kc_script_worker *start(kc_world *w, mover *m, uint32_t capacity) {
  kc_script_worker_config cfg = {.world = w, .factory = mover_factory, .user = m, .command_capacity = capacity};
  kc_script_worker *sw = NULL;
  kc_err err;
  CU_ASSERT_EQUAL_FATAL(kc_script_worker_start(&cfg, &sw, &err), KEEL_OK);
  return sw;
}

/* The engine's non-lockstep handoff, frame after frame. */
static uint64_t run_frames(kc_script_worker *sw, kc_world *w, uint64_t ticks_wanted, uint64_t *skips,
                           uint64_t *max_frame_ns, uint64_t frame_ns) {
  uint64_t published = 0, triggered = 0, frames = 0;
  *skips = 0;
  *max_frame_ns = 0;
  uint64_t give_up = kc_clock_now_ns() + 60ull * 1000000000ull;
  while (triggered < ticks_wanted && kc_clock_now_ns() < give_up) {
    uint64_t t0 = kc_clock_now_ns();
    bool idle = kc_script_worker_drain(sw);
    kc_script_worker_stats st;
    kc_script_worker_stats_get(sw, &st);
    if (idle && st.markers > published) {
      CU_ASSERT_EQUAL(kc_world_publish(w, NULL), KEEL_OK);
      published = st.markers;
    }
    if (idle) {
      keel_tick_info info = {.struct_size = sizeof info, .tick = triggered + 1, .dt = 0.01};
      kc_script_worker_trigger(sw, &info);
      triggered++;
    } else {
      (*skips)++;
    }
    frames++;
    uint64_t took = kc_clock_now_ns() - t0;
    if (took > *max_frame_ns) *max_frame_ns = took;
    if (frame_ns) kc_clock_sleep_ns(frame_ns);
  }
  CU_ASSERT_TRUE(kc_script_worker_wait_idle(sw, 10ull * 1000000000ull));
  return frames;
}

static void test_snapshots_hold_whole_ticks(void) {
  kc_world *w = make_world();
  static mover m;
  memset(&m, 0, sizeof m);
  m.count = MOVERS;
  kc_script_worker *sw = start(w, &m, 1024);
  uint64_t skips, max_ns;
  uint64_t ticks = kt_scaled(2000);
  run_frames(sw, w, ticks, &skips, &max_ns, 0);
  kc_script_worker_stats st;
  kc_script_worker_stats_get(sw, &st);
  kc_script_worker_free(sw);
  CU_ASSERT_EQUAL(m.ticks, ticks);
  CU_ASSERT_EQUAL(st.ticks, ticks);
  CU_ASSERT_EQUAL(st.markers, ticks + 1); /* init's marker too */
  CU_ASSERT(m.checked >= ticks - 2);
  CU_ASSERT_EQUAL(m.torn, 0);
  CU_ASSERT_EQUAL(st.commands, MOVERS + 1 + ticks * MOVERS);
  /* Completions: every good create, and the bad mesh with its reason. */
  CU_ASSERT_EQUAL(m.completions_ok, MOVERS);
  CU_ASSERT_EQUAL(m.completions_failed, 1);
  KT_ASSERT_CONTAINS(m.last_error, "unknown mesh 'teapot'");
  CU_ASSERT_EQUAL(st.commands_failed, 1);
  CU_ASSERT_EQUAL(kc_world_count(w, KEEL_OBJECT_ENTITY), MOVERS);
  kc_world_destroy(w);
}

static void test_main_never_waits_for_slow_tick(void) {
  kc_world *w = make_world();
  static mover m;
  memset(&m, 0, sizeof m);
  m.count = 8;
  m.sleep_ms = 30;
  kc_script_worker *sw = start(w, &m, 1024);
  uint64_t skips, max_ns;
  uint64_t t0 = kc_clock_now_ns();
  uint64_t frames = run_frames(sw, w, 10, &skips, &max_ns, 1000000 /* ~1 ms frames */);
  double secs = (double)(kc_clock_now_ns() - t0) / 1e9;
  kc_script_worker_free(sw);
  /* 10 ticks of 30 ms take ~300 ms; a main loop that waited for them would
   * make ~10 frames. This one keeps its ~1 ms frames and counts skips. */
  fprintf(stderr, "\n  slow script: %llu frames, %llu skips in %.3f s, longest frame %.3f ms\n",
          (unsigned long long)frames, (unsigned long long)skips, secs, (double)max_ns / 1e6);
  CU_ASSERT(secs >= 0.28);
  CU_ASSERT(frames > 100);
  CU_ASSERT(skips > 90);
  CU_ASSERT(max_ns < 20ull * 1000000u);
  kc_world_destroy(w);
}

static void test_full_queue_refused_and_counted(void) {
  kc_world *w = make_world();
  static mover m;
  memset(&m, 0, sizeof m);
  m.count = 8;
  m.burst = 200; /* 208 commands a tick into a ring of 64 */
  kc_script_worker *sw = start(w, &m, 64);
  CU_ASSERT_TRUE(kc_script_worker_wait_idle(sw, 5ull * 1000000000ull));
  for (uint64_t t = 1; t <= 5; t++) {
    keel_tick_info info = {.struct_size = sizeof info, .tick = t, .dt = 0.01};
    kc_script_worker_trigger(sw, &info);
    /* Nobody drains while the tick pushes, so exactly 64 fit; the end
     * marker then waits for room, which the worker (not main) does. */
    kc_clock_sleep_ns(50000000);
    CU_ASSERT_TRUE(kc_script_worker_wait_idle(sw, 5ull * 1000000000ull));
  }
  kc_script_worker_stats st;
  kc_script_worker_stats_get(sw, &st);
  kc_script_worker_free(sw);
  CU_ASSERT_EQUAL(m.refused_full, 5 * (208 - 64));
  CU_ASSERT_EQUAL(st.commands_full, m.refused_full);
  /* Nothing lost silently: what was accepted was applied. */
  CU_ASSERT_EQUAL(st.commands, 9 + 5 * 64);
  CU_ASSERT_EQUAL(st.ticks, 5);
  kc_world_destroy(w);
}

static void test_lockstep_waits_each_tick(void) {
  kc_world *w = make_world();
  static mover m;
  memset(&m, 0, sizeof m);
  m.count = 4;
  m.sleep_ms = 2;
  kc_script_worker *sw = start(w, &m, 1024);
  CU_ASSERT_TRUE(kc_script_worker_wait_idle(sw, 5ull * 1000000000ull));
  for (uint64_t t = 1; t <= 20; t++) {
    keel_tick_info info = {.struct_size = sizeof info, .tick = t, .dt = 1.0 / 30};
    kc_script_worker_trigger(sw, &info);
    CU_ASSERT_TRUE(kc_script_worker_wait_idle(sw, 5ull * 1000000000ull));
    CU_ASSERT_EQUAL(kc_world_publish(w, NULL), KEEL_OK);
    keel_object_snapshot s;
    CU_ASSERT_EQUAL(kc_world_get(w, m.ids[3], &s), KEEL_OK);
    CU_ASSERT_EQUAL(s.fields.position.x, (float)t);
  }
  kc_script_worker_free(sw);
  CU_ASSERT_EQUAL(m.torn, 0);
  kc_world_destroy(w);
}

static uint64_t cpu_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Frames every 2 ms, a tick every 5th frame, and the main thread saying when
 * it will trigger next (or, with `tell` false, saying nothing). Returns the
 * triggers that had to wake the worker; *worker_cpu is the share of the run
 * the worker spent on a CPU (the process's CPU time less main's). */
static uint64_t paced_wakes(bool tell, uint64_t ticks, double *worker_cpu) {
  kc_world *w = make_world();
  static mover m;
  memset(&m, 0, sizeof m);
  m.count = 4;
  kc_script_worker *sw = start(w, &m, 1024);
  const uint64_t frame_ns = 2000000, every = 5;
  CU_ASSERT_TRUE(kc_script_worker_wait_idle(sw, 5ull * 1000000000ull));
  uint64_t due = kc_clock_now_ns(), triggered = 0, frame = 0;
  uint64_t give_up = due + 60ull * 1000000000ull, start = due;
  uint64_t cpu0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_ns(CLOCK_THREAD_CPUTIME_ID);
  while (triggered < ticks && kc_clock_now_ns() < give_up) {
    kc_clock_sleep_until_precise_ns(due, 200000);
    bool idle = kc_script_worker_drain(sw);
    if (idle && frame % every == 0) {
      keel_tick_info info = {.struct_size = sizeof info, .tick = ++triggered, .dt = 0.01};
      kc_script_worker_trigger(sw, &info);
    }
    frame++;
    due += frame_ns;
    uint64_t next = due + (every - frame % every) % every * frame_ns;
    if (tell) kc_script_worker_expect_trigger(sw, next);
  }
  CU_ASSERT_TRUE(kc_script_worker_wait_idle(sw, 10ull * 1000000000ull));
  uint64_t cpu = cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
  *worker_cpu = (double)cpu / (double)(kc_clock_now_ns() - start);
  kc_script_worker_stats st;
  kc_script_worker_stats_get(sw, &st);
  kc_script_worker_free(sw);
  CU_ASSERT_EQUAL(triggered, ticks);
  CU_ASSERT_EQUAL(m.ticks, ticks);
  CU_ASSERT_EQUAL(st.ticks, ticks);
  kc_world_destroy(w);
  return st.wakes;
}

static void test_expected_trigger_needs_no_wake(void) {
  const uint64_t ticks = 40;
  double told_cpu, untold_cpu;
  uint64_t told = paced_wakes(true, ticks, &told_cpu), untold = paced_wakes(false, ticks, &untold_cpu);
  fprintf(stderr, "\n  %llu ticks: %llu wakes when told (worker on a CPU %.1f%% of the time), %llu when not (%.1f%%)\n",
          (unsigned long long)ticks, (unsigned long long)told, told_cpu * 100, (unsigned long long)untold,
          untold_cpu * 100);
  /* Untold, the worker sleeps between ticks and each trigger wakes it. Told,
   * only the odd stall does, and the worker still sleeps between ticks
   * rather than spinning through them. */
  CU_ASSERT(untold >= ticks / 2);
  CU_ASSERT(told <= 1 + ticks / 10);
  CU_ASSERT(told_cpu < 0.25);
}

/* Wrong, stale, absent and far-future expectations, with and without pauses
 * between frames: every trigger must still start its tick at once or within
 * the lazy window, never wait for a timer seconds away. */
static void test_no_trigger_is_lost(void) {
  kc_world *w = make_world();
  static mover m;
  memset(&m, 0, sizeof m);
  m.count = 2;
  kc_script_worker *sw = start(w, &m, 1024);
  CU_ASSERT_TRUE(kc_script_worker_wait_idle(sw, 5ull * 1000000000ull));
  uint64_t rng = 0x9e3779b97f4a7c15ull, ticks = kt_scaled(3000), slowest = 0;
  for (uint64_t t = 1; t <= ticks; t++) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    uint64_t now = kc_clock_now_ns();
    static const uint64_t offsets[] = {0, 1, 50000, 400000, 3000000, 10000000000ull};
    uint64_t off = offsets[rng % 6];
    kc_script_worker_expect_trigger(sw, off == 0 ? 0 : (rng & 64) ? now + off : now - (off < now ? off : 0) + 1);
    if (rng & 128) kc_clock_sleep_ns((rng >> 8) % 300000);
    keel_tick_info info = {.struct_size = sizeof info, .tick = t, .dt = 0.01};
    uint64_t t0 = kc_clock_now_ns();
    kc_script_worker_trigger(sw, &info);
    CU_ASSERT_TRUE_FATAL(kc_script_worker_wait_idle(sw, 2ull * 1000000000ull));
    uint64_t took = kc_clock_now_ns() - t0;
    if (took > slowest) slowest = took;
  }
  kc_script_worker_free(sw);
  fprintf(stderr, "\n  %llu triggers, slowest tick round trip %.3f ms\n", (unsigned long long)ticks,
          (double)slowest / 1e6);
  CU_ASSERT_EQUAL(m.ticks, ticks);
  kc_world_destroy(w);
}

static CU_TestInfo worker_tests[] = {
    {"published snapshots hold whole ticks", test_snapshots_hold_whole_ticks},
    {"the main thread never waits for a slow tick", test_main_never_waits_for_slow_tick},
    {"a full queue is refused and counted", test_full_queue_refused_and_counted},
    {"lockstep waits for each tick", test_lockstep_waits_each_tick},
    {"an expected trigger needs no wake", test_expected_trigger_needs_no_wake},
    {"no trigger is lost, whatever the expectation", test_no_trigger_is_lost},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"script worker", NULL, NULL, NULL, NULL, worker_tests},
    CU_SUITE_INFO_NULL,
};
