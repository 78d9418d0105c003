// keel-test-labels: concurrency
/* The frame trace on its own: threads get their own named tracks, slices
 * nest and pair up, the frame range is honoured (a slice open when the
 * range ends still gets its end), full buffers drop the oldest frames on
 * every track alike and say how many, and the file parses as JSON. */
#include <keel_test.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/trace.h"
#include "trace_check.h"

static tc_summary sum;

static void test_parse_frames(void) {
  kc_trace_config c;
  kc_err err;
  CU_ASSERT_EQUAL(kc_trace_parse_frames("3:9", &c, &err), KEEL_OK);
  CU_ASSERT(c.first_frame == 3 && c.last_frame == 9);
  CU_ASSERT_EQUAL(kc_trace_parse_frames("5:", &c, &err), KEEL_OK);
  CU_ASSERT(c.first_frame == 5 && c.last_frame == KC_TRACE_FRAME_END);
  CU_ASSERT_EQUAL(kc_trace_parse_frames("7", &c, &err), KEEL_OK);
  CU_ASSERT(c.first_frame == 7 && c.last_frame == 7);
  const char *bad[] = {"9:3", "x", "", ":4", "3:x", "3:4:5", "-1:2", "1 :2"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CU_ASSERT_EQUAL(kc_trace_parse_frames(bad[i], &c, &err), KEEL_ERR_INVALID_ARGUMENT);
    KT_ASSERT_CONTAINS(err.msg, "expected A:B (frames A to B, B >= A), A: (from A on) or A");
  }
}

static void test_off_costs_nothing_recorded(void) {
  CU_ASSERT_FALSE(kc_trace_active());
  bool t = KC_TRACE_BEGIN("nothing");
  CU_ASSERT_FALSE(t);
  KC_TRACE_END(t);
  KC_TRACE_COUNTER("c", 1.0);
  kc_trace_frame(3); /* no session: nothing happens */
  kc_err err;
  CU_ASSERT_EQUAL(kc_trace_write(kt_write_temp("none.json", ""), &err), KEEL_ERR_WRONG_STATE);
  kc_trace_stop();
}

typedef struct worker_arg {
  const char *name;
  int frames;
} worker_arg;

static void *worker(void *p) {
  worker_arg *a = p;
  kc_trace_thread_name(a->name);
  for (int i = 0; i < a->frames; i++) {
    bool outer = KC_TRACE_BEGIN_ARG("job", "i", (uint64_t)i);
    bool inner = KC_TRACE_BEGIN(a->name);
    KC_TRACE_COUNTER("work", i);
    KC_TRACE_INSTANT("mark", "i", (uint64_t)i);
    KC_TRACE_END(inner);
    KC_TRACE_END(outer);
  }
  return NULL;
}

/* Two threads beside main, each its own track and name; nested slices. */
static void test_threads_nest_and_parse(void) {
  kc_err err;
  CU_ASSERT_EQUAL_FATAL(kc_trace_start(NULL, &err), KEEL_OK);
  CU_ASSERT_TRUE(kc_trace_active());
  CU_ASSERT_EQUAL(kc_trace_start(NULL, &err), KEEL_ERR_WRONG_STATE);
  bool frame = KC_TRACE_BEGIN_ARG("frame", "frame", 0);
  CU_ASSERT_TRUE(frame);
  pthread_t th[2];
  worker_arg args[2] = {{"alpha", 200}, {"beta", 200}};
  for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, worker, &args[i]);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  KC_TRACE_END(frame);
  const char *path = kt_write_temp("threads.json", "");
  CU_ASSERT_EQUAL_FATAL(kc_trace_write(path, &err), KEEL_OK);
  kc_trace_stop();
  CU_ASSERT_FALSE(kc_trace_active());
  if (!tc_check_file(path, &sum)) fprintf(stderr, "\n%s\n", sum.error);
  CU_ASSERT_TRUE(sum.ok);
  CU_ASSERT_EQUAL(sum.threads, 3);
  int64_t m = tc_thread(&sum, "main"), a = tc_thread(&sum, "alpha"), b = tc_thread(&sum, "beta");
  CU_ASSERT(m >= 0 && a >= 0 && b >= 0 && m != a && a != b);
  CU_ASSERT_EQUAL(tc_name_tid(&sum, "alpha"), a);
  CU_ASSERT_EQUAL(tc_name_tid(&sum, "beta"), b);
  CU_ASSERT_EQUAL(tc_name_tid(&sum, "frame"), m);
  CU_ASSERT_EQUAL(sum.begins, 1 + 4 * 200);
  CU_ASSERT_EQUAL(sum.ends, sum.begins);
  CU_ASSERT_EQUAL(sum.counters, 400);
  CU_ASSERT_EQUAL(sum.instants, 400);
  CU_ASSERT_TRUE(tc_has_counter(&sum, "work"));
  CU_ASSERT_EQUAL(sum.dropped_frames, 0);
}

/* Frames 5..7 of 0..11: nothing before or after, and a slice begun in the
 * last frame keeps its end, recorded after the range. */
static void test_frame_range(void) {
  kc_trace_config cfg = {.first_frame = 5, .last_frame = 7};
  kc_err err;
  CU_ASSERT_EQUAL_FATAL(kc_trace_start(&cfg, &err), KEEL_OK);
  CU_ASSERT_FALSE(KC_TRACE_ON()); /* not from frame 0: start-up is left out */
  bool spanning = false;
  for (uint64_t f = 0; f < 12; f++) {
    kc_trace_frame(f);
    bool t = KC_TRACE_BEGIN_ARG("frame", "frame", f);
    CU_ASSERT_EQUAL(t, f >= 5 && f <= 7);
    if (f == 7) spanning = KC_TRACE_BEGIN("spanning");
    KC_TRACE_END(t);
    if (f == 10) KC_TRACE_END(spanning);
  }
  const char *path = kt_write_temp("range.json", "");
  CU_ASSERT_EQUAL_FATAL(kc_trace_write(path, &err), KEEL_OK);
  kc_trace_stop();
  if (!tc_check_file(path, &sum)) fprintf(stderr, "\n%s\n", sum.error);
  CU_ASSERT_TRUE(sum.ok);
  CU_ASSERT_EQUAL_FATAL(sum.n_frames, 3);
  for (size_t i = 0; i < 3; i++) CU_ASSERT_EQUAL(sum.frames[i], 5 + i);
  CU_ASSERT(tc_name_tid(&sum, "spanning") >= 0);
  CU_ASSERT_EQUAL(sum.begins, 4);
  CU_ASSERT_EQUAL(sum.ends, 4);

  /* From frame 0: recording starts with the session. */
  cfg = (kc_trace_config){.first_frame = 0, .last_frame = 0};
  CU_ASSERT_EQUAL_FATAL(kc_trace_start(&cfg, &err), KEEL_OK);
  CU_ASSERT_TRUE(KC_TRACE_ON());
  kc_trace_frame(1);
  CU_ASSERT_FALSE(KC_TRACE_ON());
  kc_trace_stop();
}

/* A second thread that records one slice in each frame, in step with main
 * (main waits for it), so its track has every frame whatever the load. */
typedef struct drop_arg {
  _Atomic uint64_t frame; /* the frame main is in, + 1; 0 = stop */
  _Atomic uint64_t done;  /* the last frame + 1 this thread recorded */
} drop_arg;

static void *drop_worker(void *p) {
  drop_arg *a = p;
  kc_trace_thread_name("side");
  uint64_t last = 0;
  for (;;) {
    uint64_t f = atomic_load(&a->frame);
    if (f == UINT64_MAX) return NULL;
    if (f == last) {
      sched_yield();
      continue;
    }
    last = f;
    bool t = KC_TRACE_BEGIN_ARG("side", "frame", f - 1);
    KC_TRACE_END(t);
    atomic_store(&a->done, f);
  }
}

/* 64 events a thread, 100 frames of 12 events on main: the oldest frames
 * go; the file says how many and starts at the same frame on every track. */
static void test_full_buffers_drop_oldest_frames(void) {
  kc_trace_config cfg = {.events_per_thread = 64, .last_frame = KC_TRACE_FRAME_END};
  kc_err err;
  CU_ASSERT_EQUAL_FATAL(kc_trace_start(&cfg, &err), KEEL_OK);
  bool whole_run = KC_TRACE_BEGIN("whole_run"); /* its begin is dropped: the end must go too */
  static drop_arg da;
  atomic_store(&da.frame, 0);
  atomic_store(&da.done, 0);
  pthread_t th;
  pthread_create(&th, NULL, drop_worker, &da);
  for (uint64_t f = 0; f < 100; f++) {
    kc_trace_frame(f);
    bool t = KC_TRACE_BEGIN_ARG("frame", "frame", f);
    atomic_store(&da.frame, f + 1);
    for (int k = 0; k < 5; k++) {
      bool s = KC_TRACE_BEGIN("stage");
      KC_TRACE_END(s);
    }
    while (atomic_load(&da.done) != f + 1) sched_yield();
    KC_TRACE_END(t);
  }
  atomic_store(&da.frame, UINT64_MAX);
  pthread_join(th, NULL);
  KC_TRACE_END(whole_run);
  bool open = KC_TRACE_BEGIN("open_at_write"); /* never ended: left out */
  (void)open;
  const char *path = kt_write_temp("drop.json", "");
  CU_ASSERT_EQUAL_FATAL(kc_trace_write(path, &err), KEEL_OK);
  kc_trace_stop();
  if (!tc_check_file(path, &sum)) fprintf(stderr, "\n%s\n", sum.error);
  CU_ASSERT_TRUE(sum.ok); /* every begin paired, after the cut too */
  CU_ASSERT(sum.dropped_frames > 0);
  CU_ASSERT_EQUAL(sum.first_frame_kept, sum.dropped_frames);
  CU_ASSERT(tc_name_tid(&sum, "whole_run") < 0);
  CU_ASSERT(tc_name_tid(&sum, "open_at_write") < 0);
  /* Main's frames: contiguous from the cut to the last. */
  CU_ASSERT_FATAL(sum.n_frames > 0);
  CU_ASSERT_EQUAL(sum.frames[0], (uint64_t)sum.first_frame_kept);
  CU_ASSERT_EQUAL(sum.frames[sum.n_frames - 1], 99);
  CU_ASSERT_EQUAL(sum.n_frames, 100 - (size_t)sum.first_frame_kept);
  CU_ASSERT(tc_thread(&sum, "side") >= 0);
  CU_ASSERT(tc_name_tid(&sum, "side") >= 0);
}

static void test_write_errors(void) {
  kc_err err;
  CU_ASSERT_EQUAL_FATAL(kc_trace_start(NULL, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_trace_write("/nonexistent-keel-dir/t.json", &err), KEEL_ERR_IO);
  KT_ASSERT_CONTAINS(err.msg, "/nonexistent-keel-dir/t.json: cannot write the trace");
  kc_trace_stop();
  const char *a = kc_trace_intern("Update"), *b = kc_trace_intern("Update");
  CU_ASSERT_PTR_NOT_NULL(a);
  CU_ASSERT_PTR_EQUAL(a, b);
}

static CU_TestInfo tests[] = {
    {"--trace-frames parsing", test_parse_frames},
    {"off: nothing recorded", test_off_costs_nothing_recorded},
    {"threads: own tracks, nested slices, JSON", test_threads_nest_and_parse},
    {"frame range honoured", test_frame_range},
    {"full buffers drop the oldest frames", test_full_buffers_drop_oldest_frames},
    {"write errors, interned names", test_write_errors},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"trace", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
