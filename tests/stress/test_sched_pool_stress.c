// keel-test-labels: concurrency
/* kc_pool under load: work stealing when one worker holds all the work,
 * random dependency graphs whose order is checked with a global clock,
 * nested parallel_for with per-worker partials, foreign submitters beside
 * workers, and destroy with plenty still pending, again and again. */
#include "keel_test.h"
#include "sched/pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void spin_ns(uint64_t ns) {
  uint64_t end = kt_now_ns() + ns;
  while (kt_now_ns() < end) {
  }
}

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static kc_pool *make_pool(uint32_t threads, uint32_t cap) {
  kc_pool_desc d = {threads, cap, 0};
  kc_pool *p = NULL;
  kc_err err;
  CU_ASSERT_EQUAL_FATAL(kc_pool_create(&d, &p, &err), KEEL_OK);
  return p;
}

/* ---- stealing ---- */

typedef struct steal_rec {
  kc_pool *pool;
  uint32_t children;
  _Atomic uint32_t ran[KC_POOL_MAX_WORKERS];
  _Atomic uint32_t runs;
  uint32_t producer_worker;
} steal_rec;
static steal_rec g_steal;

static void child_job(void *user, uint32_t worker) {
  (void)user;
  spin_ns(30 * 1000);
  atomic_fetch_add(&g_steal.ran[worker], 1);
  atomic_fetch_add(&g_steal.runs, 1);
}

/* One job pushes every child onto its own worker's deque and then only
 * waits: any child that ran elsewhere was stolen. */
static void producer_job(void *user, uint32_t worker) {
  (void)user;
  g_steal.producer_worker = worker;
  static keel_job_desc kids[400];
  for (uint32_t i = 0; i < g_steal.children; i++) kids[i] = (keel_job_desc){child_job, NULL};
  keel_job_counter c;
  kc_pool_submit(g_steal.pool, kids, g_steal.children, &c, NULL);
  kc_pool_wait(g_steal.pool, c, NULL);
}

static void test_stealing_from_one_loaded_worker(void) {
  kc_pool *p = make_pool(4, 0);
  bool spread = false;
  for (int round = 0; round < 10 && !spread; round++) {
    memset(&g_steal, 0, sizeof g_steal);
    g_steal.pool = p;
    g_steal.children = 400;
    keel_job_desc prod = {producer_job, NULL};
    keel_job_counter c;
    CU_ASSERT_EQUAL_FATAL(kc_pool_submit(p, &prod, 1, &c, NULL), KEEL_OK);
    CU_ASSERT_EQUAL(kc_pool_wait(p, c, NULL), KEEL_OK);
    CU_ASSERT_EQUAL(atomic_load(&g_steal.runs), 400);
    uint32_t elsewhere = 0, workers = 0;
    for (uint32_t w = 0; w < 4; w++) {
      uint32_t n = atomic_load(&g_steal.ran[w]);
      workers += n > 0;
      if (w != g_steal.producer_worker) elsewhere += n;
    }
    spread = workers >= 2 && elsewhere > 0;
  }
  CU_ASSERT_TRUE(spread);
  kc_pool_stats st;
  kc_pool_stats_get(p, &st);
  CU_ASSERT(st.steals > 0);
  kc_pool_destroy(p);
}

/* Main submits and then sleeps instead of helping: the background workers
 * can only get the jobs by stealing from the main thread's deque. */
static void test_stealing_from_idle_main(void) {
  kc_pool *p = make_pool(3, 0);
  memset(&g_steal, 0, sizeof g_steal);
  static keel_job_desc kids[200];
  for (int i = 0; i < 200; i++) kids[i] = (keel_job_desc){child_job, NULL};
  keel_job_counter c;
  CU_ASSERT_EQUAL(kc_pool_submit(p, kids, 200, &c, NULL), KEEL_OK);
  while (!kc_pool_done(p, c)) {
    struct timespec ts = {0, 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  CU_ASSERT_EQUAL(atomic_load(&g_steal.runs), 200);
  CU_ASSERT_EQUAL(atomic_load(&g_steal.ran[0]), 0);
  kc_pool_stats st;
  kc_pool_stats_get(p, &st);
  CU_ASSERT(st.steals >= 1);
  kc_pool_destroy(p);
}

/* parallel_for where the first block's items are heavy and the rest free:
 * the other participants must come and take slices from the heavy block. */
typedef struct heavy_rec {
  uint32_t heavy_end;
  _Atomic uint64_t heavy_workers; /* bit per worker that ran a heavy item */
  _Atomic uint32_t items;
} heavy_rec;

static void heavy_fn(void *user, uint32_t begin, uint32_t end, uint32_t worker) {
  heavy_rec *h = user;
  for (uint32_t i = begin; i < end; i++) {
    if (i < h->heavy_end) {
      spin_ns(40 * 1000);
      atomic_fetch_or(&h->heavy_workers, 1ull << worker);
    }
    atomic_fetch_add(&h->items, 1);
  }
}

static void test_parallel_for_imbalance_is_stolen(void) {
  kc_pool *p = make_pool(2, 0);
  bool shared = false;
  for (int round = 0; round < 10 && !shared; round++) {
    heavy_rec h = {0};
    /* 2 workers, 4000 items: block 0 is [0, 2000); its first 200 are heavy. */
    h.heavy_end = 200;
    CU_ASSERT_EQUAL(kc_pool_parallel_for(p, 4000, 1, heavy_fn, &h, NULL), KEEL_OK);
    CU_ASSERT_EQUAL(atomic_load(&h.items), 4000);
    shared = atomic_load(&h.heavy_workers) == 3;
  }
  CU_ASSERT_TRUE(shared);
  kc_pool_destroy(p);
}

/* ---- random dependency graphs ---- */

#define DAG_BATCHES 48
#define DAG_MAX_JOBS 12

typedef struct dag_job {
  uint32_t batch;
  uint32_t start, end;
} dag_job;

typedef struct dag_rec {
  _Atomic uint32_t clock;
  dag_job jobs[DAG_BATCHES][DAG_MAX_JOBS];
  _Atomic uint32_t runs[DAG_BATCHES][DAG_MAX_JOBS];
} dag_rec;
static dag_rec g_dag;

static void dag_fn(void *user, uint32_t worker) {
  (void)worker;
  dag_job *j = user;
  j->start = atomic_fetch_add(&g_dag.clock, 1);
  spin_ns((j->start % 7) * 1000);
  j->end = atomic_fetch_add(&g_dag.clock, 1);
  atomic_fetch_add(&g_dag.runs[j->batch][j - g_dag.jobs[j->batch]], 1);
}

static void test_random_dependency_graphs(void) {
  uint32_t rounds = (uint32_t)(kt_scaled(100000) / 200);
  for (uint32_t round = 0; round < rounds; round++) {
    uint64_t seed = 0xC0FFEEull + round;
    kc_pool *p = make_pool(1 + round % 4, round % 3 == 0 ? 8 : 0);
    memset(&g_dag, 0, sizeof g_dag);
    uint32_t njobs[DAG_BATCHES], dep[DAG_BATCHES];
    bool pinned[DAG_BATCHES];
    keel_job_counter counters[DAG_BATCHES];
    for (uint32_t b = 0; b < DAG_BATCHES; b++) {
      njobs[b] = 1 + (uint32_t)(rng_next(&seed) % DAG_MAX_JOBS);
      dep[b] = b > 0 && rng_next(&seed) % 4 != 0 ? (uint32_t)(rng_next(&seed) % b) : UINT32_MAX;
      pinned[b] = rng_next(&seed) % 8 == 0;
      keel_job_desc d[DAG_MAX_JOBS];
      for (uint32_t j = 0; j < njobs[b]; j++) {
        g_dag.jobs[b][j].batch = b;
        d[j] = (keel_job_desc){dag_fn, &g_dag.jobs[b][j]};
      }
      kc_job_opts o = {{0}, pinned[b]};
      if (dep[b] != UINT32_MAX) o.after = counters[dep[b]];
      CU_ASSERT_EQUAL_FATAL(kc_pool_submit_ex(p, d, njobs[b], &o, &counters[b], NULL), KEEL_OK);
    }
    /* Wait on the last few, then destroy drains the rest. */
    for (uint32_t b = DAG_BATCHES - 4; b < DAG_BATCHES; b++) CU_ASSERT_EQUAL(kc_pool_wait(p, counters[b], NULL), KEEL_OK);
    kc_pool_destroy(p);
    for (uint32_t b = 0; b < DAG_BATCHES; b++) {
      for (uint32_t j = 0; j < njobs[b]; j++) {
        if (atomic_load(&g_dag.runs[b][j]) != 1)
          fprintf(stderr, "round %u threads %u: batch %u (dep %d, pinned %d) job %u ran %u times\n", round,
                  1 + round % 4, b, (int)dep[b], pinned[b], j, atomic_load(&g_dag.runs[b][j]));
        CU_ASSERT_EQUAL(atomic_load(&g_dag.runs[b][j]), 1);
      }
      if (dep[b] == UINT32_MAX) continue;
      uint32_t dep_end = 0, min_start = UINT32_MAX;
      for (uint32_t j = 0; j < njobs[dep[b]]; j++)
        if (g_dag.jobs[dep[b]][j].end > dep_end) dep_end = g_dag.jobs[dep[b]][j].end;
      for (uint32_t j = 0; j < njobs[b]; j++)
        if (g_dag.jobs[b][j].start < min_start) min_start = g_dag.jobs[b][j].start;
      if (!(dep_end < min_start)) {
        CU_FAIL("a dependent batch started before its dependency finished");
        return;
      }
    }
  }
}

/* ---- nested parallel_for ---- */

#define NEST_OUTER 48
#define NEST_INNER 3000

typedef struct nest_rec {
  kc_pool *pool;
  _Atomic uint8_t hit[NEST_OUTER][NEST_INNER];
  uint64_t partial[KC_POOL_MAX_WORKERS][8]; /* per worker, a cache line each */
  _Atomic uint32_t errors;
} nest_rec;
static nest_rec g_nest;

typedef struct nest_inner_arg {
  uint32_t outer;
} nest_inner_arg;

static void nest_inner(void *user, uint32_t begin, uint32_t end, uint32_t worker) {
  nest_inner_arg *a = user;
  for (uint32_t j = begin; j < end; j++) {
    atomic_fetch_add(&g_nest.hit[a->outer][j], 1);
    g_nest.partial[worker][0] += (uint64_t)a->outer * NEST_INNER + j;
  }
}

static void nest_outer(void *user, uint32_t begin, uint32_t end, uint32_t worker) {
  (void)user;
  (void)worker;
  for (uint32_t i = begin; i < end; i++) {
    nest_inner_arg a = {i};
    if (kc_pool_parallel_for(g_nest.pool, NEST_INNER, 1 + i % 97, nest_inner, &a, NULL) != KEEL_OK)
      atomic_fetch_add(&g_nest.errors, 1);
  }
}

static void test_nested_parallel_for(void) {
  uint32_t rounds = (uint32_t)(kt_scaled(40000) / 1000);
  for (uint32_t round = 0; round < rounds; round++) {
    kc_pool *p = make_pool(2 + round % 3, 0);
    memset(&g_nest, 0, sizeof g_nest);
    g_nest.pool = p;
    CU_ASSERT_EQUAL(kc_pool_parallel_for(p, NEST_OUTER, 1 + round % 3, nest_outer, NULL, NULL), KEEL_OK);
    uint32_t wrong = 0;
    for (uint32_t i = 0; i < NEST_OUTER; i++)
      for (uint32_t j = 0; j < NEST_INNER; j++) wrong += atomic_load(&g_nest.hit[i][j]) != 1;
    CU_ASSERT_EQUAL(wrong, 0);
    uint64_t sum = 0, n = (uint64_t)NEST_OUTER * NEST_INNER;
    for (uint32_t w = 0; w < KC_POOL_MAX_WORKERS; w++) sum += g_nest.partial[w][0];
    CU_ASSERT_EQUAL(sum, n * (n - 1) / 2);
    CU_ASSERT_EQUAL(atomic_load(&g_nest.errors), 0);
    kc_pool_destroy(p);
  }
}

/* ---- mixed submitters and shutdown with work pending ---- */

typedef struct mix_rec {
  kc_pool *pool;
  _Atomic uint64_t done;
  _Atomic uint64_t expected;
  _Atomic uint32_t errors;
} mix_rec;
static mix_rec g_mix;

static void leaf_job(void *user, uint32_t worker) {
  (void)user;
  (void)worker;
  atomic_fetch_add(&g_mix.done, 1);
}

/* Spawns `depth` more levels of three children, some of them dependent or
 * main-pinned, without waiting: shutdown must drain all of it. */
static void spawn_job(void *user, uint32_t worker) {
  (void)worker;
  uintptr_t depth = (uintptr_t)user;
  atomic_fetch_add(&g_mix.done, 1);
  if (depth == 0) return;
  keel_job_desc kids[3] = {{spawn_job, (void *)(depth - 1)}, {spawn_job, (void *)(depth - 1)}, {leaf_job, NULL}};
  keel_job_counter c;
  atomic_fetch_add(&g_mix.expected, 3 + 1);
  if (kc_pool_submit(g_mix.pool, kids, 3, &c, NULL) != KEEL_OK) atomic_fetch_add(&g_mix.errors, 1);
  keel_job_desc after = {leaf_job, NULL};
  kc_job_opts o = {c, depth % 2 == 0};
  if (kc_pool_submit_ex(g_mix.pool, &after, 1, &o, NULL, NULL) != KEEL_OK) atomic_fetch_add(&g_mix.errors, 1);
}

static void *foreign_spammer(void *arg) {
  (void)arg;
  for (int i = 0; i < 200; i++) {
    keel_job_desc d[4] = {{leaf_job, NULL}, {leaf_job, NULL}, {leaf_job, NULL}, {spawn_job, (void *)1}};
    keel_job_counter c;
    atomic_fetch_add(&g_mix.expected, 4);
    keel_result r = kc_pool_submit(g_mix.pool, d, 4, &c, NULL);
    if (r == KEEL_ERR_FULL) {
      atomic_fetch_sub(&g_mix.expected, 4);
      continue;
    }
    if (r != KEEL_OK) atomic_fetch_add(&g_mix.errors, 1);
    if (i % 16 == 0 && kc_pool_wait(g_mix.pool, c, NULL) != KEEL_OK) atomic_fetch_add(&g_mix.errors, 1);
  }
  return NULL;
}

static void test_shutdown_with_pending_work(void) {
  uint32_t rounds = (uint32_t)(kt_scaled(400000) / 1000);
  for (uint32_t round = 0; round < rounds; round++) {
    kc_pool *p = make_pool(1 + round % 4, round % 2 ? 16 : 0);
    memset(&g_mix, 0, sizeof g_mix);
    g_mix.pool = p;
    pthread_t t[2];
    /* Not with threads = 1: there only the main thread runs jobs, and it is
     * busy joining, so a foreign wait would never return. */
    uint32_t nforeign = round % 3 == 0 && round % 4 != 0 ? 2 : 0;
    for (uint32_t i = 0; i < nforeign; i++) pthread_create(&t[i], NULL, foreign_spammer, NULL);
    keel_job_desc roots[8];
    for (int i = 0; i < 8; i++) roots[i] = (keel_job_desc){spawn_job, (void *)(uintptr_t)(2 + round % 4)};
    atomic_fetch_add(&g_mix.expected, 8);
    CU_ASSERT_EQUAL(kc_pool_submit(p, roots, 8, NULL, NULL), KEEL_OK);
    /* Foreign threads must be done with the pool before destroy starts. */
    for (uint32_t i = 0; i < nforeign; i++) pthread_join(t[i], NULL);
    kc_pool_destroy(p); /* no wait: everything above is still in flight */
    CU_ASSERT_EQUAL(atomic_load(&g_mix.errors), 0);
    if (atomic_load(&g_mix.done) != atomic_load(&g_mix.expected)) {
      CU_FAIL("destroy returned before every pending job ran");
      return;
    }
  }
}

static CU_TestInfo steal_tests[] = {
    {"children of one worker are stolen by others", test_stealing_from_one_loaded_worker},
    {"workers steal from a main thread that does not help", test_stealing_from_idle_main},
    {"parallel_for: a heavy block is shared", test_parallel_for_imbalance_is_stolen},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo graph_tests[] = {
    {"random dependency graphs run in order, each job once", test_random_dependency_graphs},
    {"nested parallel_for with per-worker partials", test_nested_parallel_for},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo shutdown_tests[] = {
    {"destroy with spawning, dependent, pinned and foreign work pending", test_shutdown_with_pending_work},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"sched_stress_steal", NULL, NULL, NULL, NULL, steal_tests},
    {"sched_stress_graphs", NULL, NULL, NULL, NULL, graph_tests},
    {"sched_stress_shutdown", NULL, NULL, NULL, NULL, shutdown_tests},
    CU_SUITE_INFO_NULL,
};
