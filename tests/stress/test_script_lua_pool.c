// keel-test-labels: plugin concurrency
// keel-test-depends: script_lua
/* The Lua runtime across threads: one-off scripts from two threads at once
 * on the state pool (while a third thread ticks the game VM), a runaway
 * one-off beside working ones, and interrupt() racing with ticks. Meant for
 * the tsan build as much as for the results. */
#include "../unit/test_script_lua.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

typedef struct oneoff_worker {
  keel_script *s;
  int id;
  uint64_t runs;
  uint64_t failures;
  char first_failure[KEEL_MESSAGE_MAX + 64];
} oneoff_worker;

static void note_failure(oneoff_worker *w, const char *code, const keel_message *r, keel_result res) {
  if (w->failures++ == 0)
    snprintf(w->first_failure, sizeof w->first_failure, "%s -> %s: %s", code, keel_result_name(res), r->text);
}

/* Only pure Lua here: the fake host's cvars and world are not thread-safe. */
static void *oneoff_main(void *arg) {
  oneoff_worker *w = arg;
  keel_message r;
  char code[96], want[64];
  for (uint64_t i = 0; i < w->runs; i++) {
    snprintf(code, sizeof code, "local t = {} for i = 1, %d do t[i] = i end return #t * %d, 'w%d'", (int)(i % 50) + 1,
             w->id, w->id);
    snprintf(want, sizeof want, "%d\tw%d", ((int)(i % 50) + 1) * w->id, w->id);
    keel_result res = lt_api->oneoff_run(w->s, code, &r);
    if (res != KEEL_OK || strcmp(r.text, want) != 0) note_failure(w, code, &r, res);
    if (i % 64 == 0) { /* errors on the pool do not leak into the next run */
      res = lt_api->oneoff_run(w->s, "error('x' .. math.random(3))", &r);
      if (res != KEEL_ERR_SCRIPT || !strstr(r.text, "exec:1: x")) note_failure(w, "error", &r, res);
    }
  }
  return NULL;
}

typedef struct ticker {
  lt *t;
  _Atomic bool stop;
  uint64_t ticks, failures;
} ticker;

static void *ticker_main(void *arg) {
  ticker *k = arg;
  while (!atomic_load(&k->stop)) {
    if (lt_tick(k->t) != KEEL_OK) k->failures++;
    k->ticks++;
  }
  return NULL;
}

static void test_oneoff_two_threads(void) {
  lt t;
  CU_ASSERT_EQUAL_FATAL(lt_open(&t, "probe.lua"), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  uint64_t runs = kt_scaled(20000);
  oneoff_worker w[2] = {{t.s, 3, runs, 0, ""}, {t.s, 5, runs, 0, ""}};
  ticker k = {&t, false, 0, 0};
  pthread_t th[3];
  CU_ASSERT_EQUAL_FATAL(pthread_create(&th[2], NULL, ticker_main, &k), 0);
  for (int i = 0; i < 2; i++) CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, oneoff_main, &w[i]), 0);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  atomic_store(&k.stop, true);
  pthread_join(th[2], NULL);
  for (int i = 0; i < 2; i++) {
    if (w[i].failures) fprintf(stderr, "\nworker %d: %llu failures, first: %s\n", i,
                               (unsigned long long)w[i].failures, w[i].first_failure);
    CU_ASSERT_EQUAL(w[i].failures, 0);
  }
  CU_ASSERT(k.ticks > 0);
  CU_ASSERT_EQUAL(k.failures, 0);
  CU_ASSERT_EQUAL(lt_cvar(&t, "ticks")->i, (int64_t)k.ticks);
  uint32_t max = 0;
  uint32_t size = lt_diag->pool_size(t.s, &max);
  CU_ASSERT(size >= 2 && size <= max); /* two users at a time never need more than a few */
  keel_script_stats st = lt_stats(&t);
  uint64_t errors_expected = 2 * ((runs + 63) / 64);
  CU_ASSERT_EQUAL(st.errors, errors_expected);
  lt_close(&t);
}

typedef struct runaway_arg {
  keel_script *s;
  keel_result r;
  keel_message m;
  double ms;
} runaway_arg;

static void *runaway_main(void *arg) {
  runaway_arg *a = arg;
  uint64_t t0 = kt_now_ns();
  a->r = lt_api->oneoff_run(a->s, "while true do pcall(function() while true do end end) end", &a->m);
  a->ms = (double)(kt_now_ns() - t0) / 1e6;
  return NULL;
}

static void test_runaway_oneoff_beside_working_ones(void) {
  lt t;
  lt_opts o = {.budget_ms = 150, .memory_mb = 32, .seed = 1};
  CU_ASSERT_EQUAL_FATAL(lt_open_with(&t, "probe.lua", &o), KEEL_OK);
  runaway_arg a = {t.s, KEEL_OK, {""}, 0};
  pthread_t th;
  CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, runaway_main, &a), 0);
  uint64_t ok = 0, t0 = kt_now_ns();
  keel_message r;
  while (kt_now_ns() - t0 < 100000000u) { /* 100 ms of other one-offs meanwhile */
    if (lt_api->oneoff_run(t.s, "return 20 + 22", &r) == KEEL_OK && strcmp(r.text, "42") == 0) ok++;
  }
  pthread_join(th, NULL);
  CU_ASSERT(ok > 0);
  CU_ASSERT_EQUAL(a.r, KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(a.m.text, "tick budget of 150 ms exceeded");
  CU_ASSERT(a.ms >= 149 && a.ms < 1500);
  lt_close(&t);
}

typedef struct storm {
  keel_script *s;
  _Atomic bool stop;
  uint64_t sent;
} storm;

static void *storm_main(void *arg) {
  storm *st = arg;
  while (!atomic_load(&st->stop)) {
    lt_api->interrupt(st->s);
    st->sent++;
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

/* Ticks that spin forever end only by interrupt(); ticks that do not spin may
 * or may not be hit (interrupt stops whatever call is running). Either way
 * every tick returns, and the runtime keeps working afterwards. */
static void test_interrupt_storm(void) {
  lt t;
  lt_opts o = {.budget_ms = 0, .memory_mb = 32, .seed = 1};
  CU_ASSERT_EQUAL_FATAL(lt_open_with(&t, "spin.lua", &o), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  storm st = {t.s, false, 0};
  pthread_t th;
  CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, storm_main, &st), 0);
  int spins = (int)kt_scaled(40);
  int interrupted = 0;
  for (int i = 0; i < spins; i++) {
    lt_set(&t, "code", i % 2 ? "spin" : "");
    keel_result r = lt_tick(&t);
    if (i % 2) {
      CU_ASSERT_EQUAL(r, KEEL_ERR_SCRIPT);
      KT_ASSERT_CONTAINS(t.err.text, "interrupted");
    }
    if (r == KEEL_ERR_SCRIPT) interrupted++;
  }
  atomic_store(&st.stop, true);
  pthread_join(th, NULL);
  lt_set(&t, "code", "");
  CU_ASSERT(interrupted >= spins / 2);
  CU_ASSERT_EQUAL(lt_stats(&t).interrupts, (uint64_t)interrupted);
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_OK);
  lt_close(&t);
}

static int suite_init(void) { return lt_suite_init(); }
static int suite_clean(void) { return lt_suite_clean(); }

static CU_TestInfo pool_tests[] = {
    {"one-offs from two threads while the game ticks", test_oneoff_two_threads},
    {"a runaway one-off beside working ones", test_runaway_oneoff_beside_working_ones},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo interrupt_tests[] = {
    {"interrupt() racing with ticks", test_interrupt_storm},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"lua pool concurrency", suite_init, suite_clean, NULL, NULL, pool_tests},
    {"lua interrupt concurrency", suite_init, suite_clean, NULL, NULL, interrupt_tests},
    CU_SUITE_INFO_NULL,
};
