// keel-test-labels: concurrency
// keel-test-serial
/* An idle pool must cost (almost) nothing: after a burst of work its workers
 * spin for spin_ns and then sleep on the futex, so over a second of idleness
 * the whole process's CPU time stays under 2% per background worker (the
 * issue's budget). Serial: other tests' CPU would not count here, but their
 * load could delay our workers' way to sleep. */
#include "keel_test.h"
#include "sched/pool.h"

#include <stdatomic.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

static _Atomic uint64_t g_sum;

static void work(void *user, uint32_t begin, uint32_t end, uint32_t worker) {
  (void)user;
  (void)worker;
  uint64_t s = 0;
  for (uint32_t i = begin; i < end; i++) s += i;
  atomic_fetch_add(&g_sum, s);
}

static double idle_percent_per_worker(kc_pool *p, double seconds) {
  double c0 = cpu_seconds();
  uint64_t t0 = kt_now_ns();
  struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
  nanosleep(&ts, NULL);
  double wall = (double)(kt_now_ns() - t0) / 1e9;
  return 100.0 * (cpu_seconds() - c0) / wall / (kc_pool_worker_count(p) - 1);
}

static void test_idle_pool_sleeps(void) {
  kc_pool_desc d = {4, 0, 0};
  kc_pool *p = NULL;
  CU_ASSERT_EQUAL_FATAL(kc_pool_create(&d, &p, NULL), KEEL_OK);
  for (int i = 0; i < 20; i++) CU_ASSERT_EQUAL(kc_pool_parallel_for(p, 100000, 100, work, NULL, NULL), KEEL_OK);
  struct timespec settle = {0, 50 * 1000 * 1000};
  nanosleep(&settle, NULL); /* past the spin */
  double pct = idle_percent_per_worker(p, 1.0);
  fprintf(stderr, "idle CPU: %.3f%% per background worker\n", pct);
  CU_ASSERT(pct < 2.0);
  kc_pool_stats st;
  kc_pool_stats_get(p, &st);
  CU_ASSERT(st.sleeps >= 3);
  /* And they still wake for new work afterwards. */
  CU_ASSERT_EQUAL(kc_pool_parallel_for(p, 100000, 100, work, NULL, NULL), KEEL_OK);
  kc_pool_destroy(p);
}

static CU_TestInfo tests[] = {
    {"an idle pool costs under 2% CPU per worker", test_idle_pool_sleeps},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"sched_idle", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
