// keel-test-labels: concurrency
/* kc_pool behaviour with real threads: argument checks, worker numbering,
 * batches and counters, dependencies, main-pinned jobs, parallel_for
 * coverage, ring overflow, foreign-thread submission and draining shutdown.
 * The heavy randomised runs are in tests/stress/test_sched_pool_stress.c. */
#include "keel_test.h"
#include "sched/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static kc_pool *make_pool(uint32_t threads, uint32_t job_capacity) {
  kc_err err;
  kc_err_clear(&err);
  kc_pool_desc d = {threads, job_capacity, 0};
  kc_pool *p = NULL;
  CU_ASSERT_EQUAL_FATAL(kc_pool_create(&d, &p, &err), KEEL_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  return p;
}

static void spin_ns(uint64_t ns) {
  uint64_t end = kt_now_ns() + ns;
  while (kt_now_ns() < end) {
  }
}

/* ---- create and parse ---- */

static void test_threads_parse(void) {
  kc_err err;
  uint32_t v = 99;
  CU_ASSERT_EQUAL(kc_pool_threads_parse("auto", &v, &err), KEEL_OK);
  CU_ASSERT_EQUAL(v, 0);
  CU_ASSERT_EQUAL(kc_pool_threads_parse("AUTO", &v, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_pool_threads_parse("4", &v, &err), KEEL_OK);
  CU_ASSERT_EQUAL(v, 4);
  CU_ASSERT_EQUAL(kc_pool_threads_parse("64", &v, &err), KEEL_OK);
  CU_ASSERT_EQUAL(v, 64);
  const char *bad[] = {"0", "65", "-1", "", "4x", "four", " 4", "99999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    kc_err_clear(&err);
    v = 7;
    CU_ASSERT_EQUAL(kc_pool_threads_parse(bad[i], &v, &err), KEEL_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(v, 7);
    KT_ASSERT_CONTAINS(err.msg, "use auto or a whole number from 1 to 64");
  }
  CU_ASSERT_EQUAL(kc_pool_threads_parse(NULL, &v, NULL), KEEL_ERR_INVALID_ARGUMENT);
  uint32_t a = kc_pool_threads_auto();
  CU_ASSERT_TRUE(a >= 1 && a <= KC_POOL_MAX_WORKERS);
}

static void test_create_rejects_bad_arguments(void) {
  kc_err err;
  kc_pool *p = (kc_pool *)0x1;
  kc_pool_desc d = {KC_POOL_MAX_WORKERS + 1, 0, 0};
  CU_ASSERT_EQUAL(kc_pool_create(&d, &p, &err), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_PTR_NULL(p);
  KT_ASSERT_CONTAINS(err.msg, "threads = 65 is above the maximum 64");
  d = (kc_pool_desc){2, KC_POOL_MAX_JOB_CAPACITY + 1, 0};
  CU_ASSERT_EQUAL(kc_pool_create(&d, &p, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "job_capacity");
  CU_ASSERT_EQUAL(kc_pool_create(&d, NULL, NULL), KEEL_ERR_INVALID_ARGUMENT);
  kc_pool_destroy(NULL); /* harmless */
}

static void test_create_defaults_is_auto(void) {
  kc_pool *p = NULL;
  CU_ASSERT_EQUAL_FATAL(kc_pool_create(NULL, &p, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_pool_worker_count(p), kc_pool_threads_auto());
  kc_pool_destroy(p);
}

/* ---- worker numbering ---- */

typedef struct who_rec {
  _Atomic uint32_t seen[KC_POOL_MAX_WORKERS];
  pthread_t thread[KC_POOL_MAX_WORKERS];
  _Atomic uint32_t bad;
  kc_pool *pool;
} who_rec;

static void who_job(void *user, uint32_t worker) {
  who_rec *r = user;
  if (worker >= kc_pool_worker_count(r->pool) || kc_pool_worker_index(r->pool) != worker) {
    atomic_fetch_add(&r->bad, 1);
    return;
  }
  if (atomic_fetch_add(&r->seen[worker], 1) == 0) r->thread[worker] = pthread_self();
  spin_ns(200 * 1000); /* long enough for idle workers to wake and steal */
}

static void *foreign_index(void *arg) {
  kc_pool *p = arg;
  return (void *)(uintptr_t)kc_pool_worker_index(p);
}

static void test_worker_numbering(void) {
  kc_pool *p = make_pool(4, 0);
  CU_ASSERT_EQUAL(kc_pool_worker_count(p), 4);
  CU_ASSERT_EQUAL(kc_pool_worker_index(p), 0); /* the creating thread is worker 0 */
  pthread_t t;
  void *ret;
  pthread_create(&t, NULL, foreign_index, p);
  pthread_join(t, &ret);
  CU_ASSERT_EQUAL((uint32_t)(uintptr_t)ret, UINT32_MAX);
  static who_rec r;
  memset(&r, 0, sizeof r);
  r.pool = p;
  keel_job_desc jobs[64];
  for (int i = 0; i < 64; i++) jobs[i] = (keel_job_desc){who_job, &r};
  keel_job_counter c;
  /* Several rounds: on a loaded machine one round may not reach every worker. */
  for (int round = 0; round < 20; round++) {
    CU_ASSERT_EQUAL_FATAL(kc_pool_submit(p, jobs, 64, &c, NULL), KEEL_OK);
    CU_ASSERT_EQUAL(kc_pool_wait(p, c, NULL), KEEL_OK);
    uint32_t workers_seen = 0;
    for (int w = 1; w < 4; w++) workers_seen += atomic_load(&r.seen[w]) != 0;
    if (workers_seen == 3) break;
  }
  CU_ASSERT_EQUAL(atomic_load(&r.bad), 0);
  for (int w = 1; w < 4; w++) {
    CU_ASSERT(atomic_load(&r.seen[w]) > 0);
    CU_ASSERT_FALSE(pthread_equal(r.thread[w], pthread_self()));
    for (int v = 1; v < w; v++)
      if (atomic_load(&r.seen[v]) && atomic_load(&r.seen[w])) CU_ASSERT_FALSE(pthread_equal(r.thread[w], r.thread[v]));
  }
  if (atomic_load(&r.seen[0])) CU_ASSERT_TRUE(pthread_equal(r.thread[0], pthread_self()));
  kc_pool_stats st;
  kc_pool_stats_get(p, &st);
  CU_ASSERT_EQUAL(st.workers, 4);
  CU_ASSERT(st.jobs_run >= 64);
  kc_pool_destroy(p);
}

/* ---- batches and counters ---- */

typedef struct count_rec {
  _Atomic uint32_t hits[4096];
  _Atomic uint64_t total;
} count_rec;

static count_rec g_count;

static void count_job(void *user, uint32_t worker) {
  (void)worker;
  uintptr_t i = (uintptr_t)user;
  atomic_fetch_add(&g_count.hits[i], 1);
  atomic_fetch_add(&g_count.total, 1);
}

static void check_each_once(uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (atomic_load(&g_count.hits[i]) != 1) {
      CU_FAIL("a job did not run exactly once");
      return;
    }
}

static void run_batch_each_once(uint32_t threads) {
  kc_pool *p = make_pool(threads, 0);
  memset(&g_count, 0, sizeof g_count);
  static keel_job_desc jobs[4096];
  for (uint32_t i = 0; i < 4096; i++) jobs[i] = (keel_job_desc){count_job, (void *)(uintptr_t)i};
  keel_job_counter c = {0};
  CU_ASSERT_EQUAL(kc_pool_submit(p, jobs, 1000, &c, NULL), KEEL_OK);
  CU_ASSERT_NOT_EQUAL(c.id, 0);
  /* The descs were copied: scribbling over them now changes nothing. */
  for (uint32_t i = 0; i < 1000; i++) jobs[i].user = (void *)(uintptr_t)4095;
  CU_ASSERT_EQUAL(kc_pool_wait(p, c, NULL), KEEL_OK);
  CU_ASSERT_TRUE(kc_pool_done(p, c));
  check_each_once(1000);
  CU_ASSERT_EQUAL(atomic_load(&g_count.total), 1000);
  CU_ASSERT_EQUAL(kc_pool_wait(p, c, NULL), KEEL_OK); /* waiting again on a done counter */
  kc_pool_destroy(p);
}

static void test_batch_runs_each_job_once(void) {
  run_batch_each_once(1);
  run_batch_each_once(2);
  run_batch_each_once(4);
}

static void test_submit_edge_arguments(void) {
  kc_pool *p = make_pool(2, 0);
  kc_err err;
  keel_job_counter c = {123};
  CU_ASSERT_EQUAL(kc_pool_submit(p, NULL, 0, &c, &err), KEEL_OK);
  CU_ASSERT_EQUAL(c.id, 0);
  CU_ASSERT_TRUE(kc_pool_done(p, c));
  CU_ASSERT_EQUAL(kc_pool_wait(p, c, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_pool_submit(p, NULL, 3, &c, &err), KEEL_ERR_INVALID_ARGUMENT);
  keel_job_desc bad[2] = {{count_job, NULL}, {NULL, NULL}};
  kc_err_clear(&err);
  CU_ASSERT_EQUAL(kc_pool_submit(p, bad, 2, &c, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "job 1 of 2 has no fn");
  CU_ASSERT_EQUAL(kc_pool_submit(NULL, bad, 1, &c, &err), KEEL_ERR_INVALID_ARGUMENT);
  keel_job_counter bogus = {((uint64_t)1 << 32) | 0xFFFFFFu};
  kc_err_clear(&err);
  CU_ASSERT_EQUAL(kc_pool_wait(p, bogus, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "was not handed out by this pool");
  kc_job_opts o = {bogus, false};
  CU_ASSERT_EQUAL(kc_pool_submit_ex(p, bad, 1, &o, &c, &err), KEEL_ERR_INVALID_ARGUMENT);
  keel_job_desc one = {count_job, NULL};
  CU_ASSERT_EQUAL(kc_pool_submit(p, &one, 1, NULL, &err), KEEL_OK); /* no counter wanted */
  CU_ASSERT_EQUAL(kc_pool_parallel_for(p, 10, 1, NULL, NULL, &err), KEEL_ERR_INVALID_ARGUMENT);
  kc_pool_destroy(p); /* drains the job above */
}

/* A job that submits children and waits for them, on any worker. */
typedef struct tree_rec {
  kc_pool *pool;
  _Atomic uint64_t leaves;
  _Atomic uint32_t errors;
} tree_rec;

static tree_rec g_tree;

static void tree_job(void *user, uint32_t worker) {
  (void)worker;
  uintptr_t depth = (uintptr_t)user;
  if (depth == 0) {
    atomic_fetch_add(&g_tree.leaves, 1);
    return;
  }
  keel_job_desc kids[4];
  for (int i = 0; i < 4; i++) kids[i] = (keel_job_desc){tree_job, (void *)(depth - 1)};
  keel_job_counter c;
  if (kc_pool_submit(g_tree.pool, kids, 4, &c, NULL) != KEEL_OK ||
      kc_pool_wait(g_tree.pool, c, NULL) != KEEL_OK)
    atomic_fetch_add(&g_tree.errors, 1);
}

static void test_jobs_submit_and_wait_nested(void) {
  kc_pool *p = make_pool(3, 0);
  memset(&g_tree, 0, sizeof g_tree);
  g_tree.pool = p;
  keel_job_desc root = {tree_job, (void *)(uintptr_t)6};
  keel_job_counter c;
  CU_ASSERT_EQUAL_FATAL(kc_pool_submit(p, &root, 1, &c, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_pool_wait(p, c, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(atomic_load(&g_tree.leaves), 4096); /* 4^6 */
  CU_ASSERT_EQUAL(atomic_load(&g_tree.errors), 0);
  kc_pool_destroy(p);
}

static void test_ring_overflow_grows(void) {
  /* Chunks of 4 slots and a batch of 3000 from the main thread, with and
   * without background workers: the submitter adds chunks, nothing is lost. */
  for (uint32_t threads = 1; threads <= 2; threads++) {
    kc_pool *p = make_pool(threads, 4);
    memset(&g_count, 0, sizeof g_count);
    static keel_job_desc jobs[3000];
    for (uint32_t i = 0; i < 3000; i++) jobs[i] = (keel_job_desc){count_job, (void *)(uintptr_t)i};
    keel_job_counter c;
    CU_ASSERT_EQUAL(kc_pool_submit(p, jobs, 3000, &c, NULL), KEEL_OK);
    CU_ASSERT_EQUAL(kc_pool_wait(p, c, NULL), KEEL_OK);
    check_each_once(3000);
    kc_pool_stats st;
    kc_pool_stats_get(p, &st);
    CU_ASSERT(st.chunks_added > 0);
    kc_pool_destroy(p);
  }
}

/* ---- foreign threads ---- */

typedef struct foreign_arg {
  kc_pool *pool;
  uint32_t first, n;
  keel_result submit, wait;
  keel_result full;
  keel_result pf;
  _Atomic uint64_t pf_sum;
} foreign_arg;

static void pf_sum_fn(void *user, uint32_t begin, uint32_t end, uint32_t worker) {
  foreign_arg *a = user;
  (void)worker;
  uint64_t s = 0;
  for (uint32_t i = begin; i < end; i++) s += i;
  atomic_fetch_add(&a->pf_sum, s);
}

static void *foreign_submitter(void *arg) {
  foreign_arg *a = arg;
  keel_job_desc jobs[64];
  for (uint32_t i = 0; i < a->n; i++) jobs[i] = (keel_job_desc){count_job, (void *)(uintptr_t)(a->first + i)};
  keel_job_counter c = {0};
  a->submit = kc_pool_submit(a->pool, jobs, a->n, &c, NULL);
  a->wait = kc_pool_wait(a->pool, c, NULL);
  a->pf = kc_pool_parallel_for(a->pool, 10000, 7, pf_sum_fn, a, NULL);
  return NULL;
}

static void test_foreign_thread_submits_and_waits(void) {
  kc_pool *p = make_pool(3, 0);
  memset(&g_count, 0, sizeof g_count);
  foreign_arg a[4];
  pthread_t t[4];
  for (uint32_t i = 0; i < 4; i++) {
    memset(&a[i], 0, sizeof a[i]);
    a[i].pool = p;
    a[i].first = i * 64;
    a[i].n = 64;
    pthread_create(&t[i], NULL, foreign_submitter, &a[i]);
  }
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < 4; i++) {
    CU_ASSERT_EQUAL(a[i].submit, KEEL_OK);
    CU_ASSERT_EQUAL(a[i].wait, KEEL_OK);
    CU_ASSERT_EQUAL(a[i].pf, KEEL_OK);
    CU_ASSERT_EQUAL(atomic_load(&a[i].pf_sum), 10000ull * 9999 / 2);
  }
  check_each_once(256);
  kc_pool_stats st;
  kc_pool_stats_get(p, &st);
  CU_ASSERT(st.injected > 0);
  kc_pool_destroy(p);
}

static _Atomic uint32_t g_gate;
static void gate_job(void *user, uint32_t worker) {
  (void)user;
  (void)worker;
  while (!atomic_load(&g_gate)) {
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
}

typedef struct full_arg {
  kc_pool *pool;
  keel_result too_big, fits, one_more;
  bool message_ok;
  keel_job_counter c;
} full_arg;

static void *foreign_full(void *arg) {
  full_arg *a = arg;
  keel_job_desc jobs[8];
  for (uintptr_t i = 0; i < 8; i++) jobs[i] = (keel_job_desc){count_job, (void *)i};
  kc_err err;
  kc_err_clear(&err);
  keel_job_counter c = {0};
  a->too_big = kc_pool_submit(a->pool, jobs, 5, &c, &err); /* 5 > capacity 4 */
  a->message_ok = strstr(err.msg, "5 jobs do not fit") != NULL;
  a->fits = kc_pool_submit(a->pool, jobs, 4, &a->c, NULL);
  a->one_more = kc_pool_submit(a->pool, jobs + 4, 1, NULL, NULL); /* nothing ran: the ring is full */
  return NULL;
}

static void test_foreign_thread_full_is_refused_whole(void) {
  /* threads = 1: no job runs until the main thread waits, so the foreign
   * ring's occupancy is exactly what was submitted. */
  kc_pool *p = make_pool(1, 4);
  memset(&g_count, 0, sizeof g_count);
  full_arg a;
  memset(&a, 0, sizeof a);
  a.pool = p;
  pthread_t t;
  pthread_create(&t, NULL, foreign_full, &a);
  pthread_join(t, NULL);
  CU_ASSERT_EQUAL(a.too_big, KEEL_ERR_FULL);
  CU_ASSERT_TRUE(a.message_ok);
  CU_ASSERT_EQUAL(a.fits, KEEL_OK);
  CU_ASSERT_EQUAL(a.one_more, KEEL_ERR_FULL);
  CU_ASSERT_EQUAL(atomic_load(&g_count.total), 0); /* the refused ones never ran, the rest not yet */
  CU_ASSERT_EQUAL(kc_pool_wait(p, a.c, NULL), KEEL_OK); /* the main thread runs them */
  check_each_once(4);
  CU_ASSERT_EQUAL(atomic_load(&g_count.total), 4);
  kc_pool_destroy(p);
}

/* ---- dependencies and main-pinned jobs ---- */

typedef struct seq_rec {
  _Atomic uint32_t next;
  uint32_t order[64];
  _Atomic uint32_t ran[64];
} seq_rec;
static seq_rec g_seq;

static void seq_job(void *user, uint32_t worker) {
  (void)worker;
  uintptr_t id = (uintptr_t)user;
  spin_ns(20 * 1000);
  uint32_t at = atomic_fetch_add(&g_seq.next, 1);
  g_seq.order[at] = (uint32_t)id;
  atomic_store(&g_seq.ran[id], at + 1);
}

static void test_dependency_chain_orders_batches(void) {
  kc_pool *p = make_pool(4, 0);
  memset(&g_seq, 0, sizeof g_seq);
  /* Batch A (ids 0-7) -> B (8-15) -> C (16): B may not start before all of
   * A finished, C not before all of B. */
  keel_job_desc a[8], b[8], c1;
  for (uintptr_t i = 0; i < 8; i++) {
    a[i] = (keel_job_desc){seq_job, (void *)i};
    b[i] = (keel_job_desc){seq_job, (void *)(8 + i)};
  }
  c1 = (keel_job_desc){seq_job, (void *)16};
  keel_job_counter ca, cb, cc;
  CU_ASSERT_EQUAL(kc_pool_submit(p, a, 8, &ca, NULL), KEEL_OK);
  kc_job_opts ob = {ca, false};
  CU_ASSERT_EQUAL(kc_pool_submit_ex(p, b, 8, &ob, &cb, NULL), KEEL_OK);
  kc_job_opts oc = {cb, false};
  CU_ASSERT_EQUAL(kc_pool_submit_ex(p, &c1, 1, &oc, &cc, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_pool_wait(p, cc, NULL), KEEL_OK);
  CU_ASSERT_TRUE(kc_pool_done(p, ca));
  CU_ASSERT_TRUE(kc_pool_done(p, cb));
  uint32_t max_a = 0, min_b = 99, max_b = 0;
  for (int i = 0; i < 8; i++) {
    uint32_t ra = atomic_load(&g_seq.ran[i]), rb = atomic_load(&g_seq.ran[8 + i]);
    CU_ASSERT(ra > 0 && rb > 0);
    if (ra > max_a) max_a = ra;
    if (rb < min_b) min_b = rb;
    if (rb > max_b) max_b = rb;
  }
  CU_ASSERT(max_a < min_b);
  CU_ASSERT_EQUAL(atomic_load(&g_seq.ran[16]), 17);
  CU_ASSERT(max_b < 17);
  /* A dependency that already completed starts the batch at once. */
  keel_job_desc d = {seq_job, (void *)17};
  kc_job_opts od = {ca, false};
  keel_job_counter cd;
  CU_ASSERT_EQUAL(kc_pool_submit_ex(p, &d, 1, &od, &cd, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_pool_wait(p, cd, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(atomic_load(&g_seq.ran[17]), 18);
  kc_pool_destroy(p);
}

static void test_dependency_waits_for_blocked_job(void) {
  kc_pool *p = make_pool(2, 0);
  memset(&g_seq, 0, sizeof g_seq);
  atomic_store(&g_gate, 0);
  keel_job_desc gate = {gate_job, NULL};
  keel_job_counter cg, cd;
  CU_ASSERT_EQUAL(kc_pool_submit(p, &gate, 1, &cg, NULL), KEEL_OK);
  keel_job_desc dep = {seq_job, (void *)3};
  kc_job_opts o = {cg, false};
  CU_ASSERT_EQUAL(kc_pool_submit_ex(p, &dep, 1, &o, &cd, NULL), KEEL_OK);
  struct timespec ts = {0, 20 * 1000 * 1000};
  nanosleep(&ts, NULL);
  CU_ASSERT_EQUAL(atomic_load(&g_seq.ran[3]), 0); /* still held back */
  CU_ASSERT_FALSE(kc_pool_done(p, cd));
  atomic_store(&g_gate, 1);
  CU_ASSERT_EQUAL(kc_pool_wait(p, cd, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(atomic_load(&g_seq.ran[3]), 1);
  kc_pool_destroy(p);
}

typedef struct main_rec {
  pthread_t main;
  kc_pool *pool;
  _Atomic uint32_t ran, off_main;
} main_rec;
static main_rec g_main;

static void main_job(void *user, uint32_t worker) {
  (void)user;
  if (worker != 0 || !pthread_equal(pthread_self(), g_main.main) || kc_pool_worker_index(g_main.pool) != 0)
    atomic_fetch_add(&g_main.off_main, 1);
  atomic_fetch_add(&g_main.ran, 1);
}

static void test_main_pinned_jobs_run_on_main_only(void) {
  kc_pool *p = make_pool(4, 0);
  memset(&g_main, 0, sizeof g_main);
  g_main.main = pthread_self();
  g_main.pool = p;
  keel_job_desc jobs[32];
  for (int i = 0; i < 32; i++) jobs[i] = (keel_job_desc){main_job, NULL};
  kc_job_opts o = {{0}, true};
  keel_job_counter c;
  CU_ASSERT_EQUAL(kc_pool_submit_ex(p, jobs, 32, &o, &c, NULL), KEEL_OK);
  struct timespec ts = {0, 10 * 1000 * 1000};
  nanosleep(&ts, NULL);
  CU_ASSERT_EQUAL(atomic_load(&g_main.ran), 0); /* workers never take them */
  CU_ASSERT_EQUAL(kc_pool_run_main_jobs(p), 32);
  CU_ASSERT_EQUAL(atomic_load(&g_main.ran), 32);
  CU_ASSERT_TRUE(kc_pool_done(p, c));
  /* And the main thread runs them while it waits. */
  CU_ASSERT_EQUAL(kc_pool_submit_ex(p, jobs, 32, &o, &c, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_pool_wait(p, c, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(atomic_load(&g_main.ran), 64);
  CU_ASSERT_EQUAL(atomic_load(&g_main.off_main), 0);
  CU_ASSERT_EQUAL(kc_pool_run_main_jobs(p), 0);
  kc_pool_destroy(p);
}

static void *foreign_main_submit(void *arg) {
  kc_pool *p = arg;
  keel_job_desc j = {main_job, NULL};
  kc_job_opts o = {{0}, true};
  keel_job_counter c;
  if (kc_pool_submit_ex(p, &j, 1, &o, &c, NULL) != KEEL_OK) return (void *)1;
  if (kc_pool_run_main_jobs(p) != 0) return (void *)2; /* not the main thread: runs nothing */
  return kc_pool_wait(p, c, NULL) == KEEL_OK ? NULL : (void *)3;
}

static void test_main_pinned_from_foreign_thread(void) {
  kc_pool *p = make_pool(2, 0);
  memset(&g_main, 0, sizeof g_main);
  g_main.main = pthread_self();
  g_main.pool = p;
  pthread_t t;
  pthread_create(&t, NULL, foreign_main_submit, p);
  /* The foreign thread waits until the main thread runs its job here. */
  while (atomic_load(&g_main.ran) == 0) kc_pool_run_main_jobs(p);
  void *ret;
  pthread_join(t, &ret);
  CU_ASSERT_PTR_NULL(ret);
  CU_ASSERT_EQUAL(atomic_load(&g_main.off_main), 0);
  kc_pool_destroy(p);
}

/* ---- parallel_for ---- */

typedef struct pf_rec {
  uint32_t count, grain, workers;
  _Atomic uint8_t *hit;
  _Atomic uint32_t bad;
  uint64_t partial[KC_POOL_MAX_WORKERS][8]; /* padded per worker */
} pf_rec;

static void pf_cover(void *user, uint32_t begin, uint32_t end, uint32_t worker) {
  pf_rec *r = user;
  if (begin >= end || end > r->count || (r->grain && end - begin > r->grain) || worker >= r->workers)
    atomic_fetch_add(&r->bad, 1);
  for (uint32_t i = begin; i < end && i < r->count; i++) {
    atomic_fetch_add(&r->hit[i], 1);
    r->partial[worker < r->workers ? worker : 0][0] += i;
  }
}

static void pf_check(kc_pool *p, uint32_t count, uint32_t grain) {
  pf_rec *r = calloc(1, sizeof *r);
  r->count = count;
  r->grain = grain;
  r->workers = kc_pool_worker_count(p);
  r->hit = calloc(count ? count : 1, 1);
  CU_ASSERT_EQUAL(kc_pool_parallel_for(p, count, grain, pf_cover, r, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(atomic_load(&r->bad), 0);
  uint32_t wrong = 0;
  for (uint32_t i = 0; i < count; i++) wrong += atomic_load(&r->hit[i]) != 1;
  CU_ASSERT_EQUAL(wrong, 0);
  uint64_t sum = 0;
  for (uint32_t w = 0; w < r->workers; w++) sum += r->partial[w][0];
  CU_ASSERT_EQUAL(sum, (uint64_t)count * (count ? count - 1 : 0) / 2);
  free((void *)r->hit);
  free(r);
}

static void test_parallel_for_covers_range(void) {
  const uint32_t counts[] = {0, 1, 2, 7, 64, 1000, 100003};
  const uint32_t grains[] = {0, 1, 3, 64, 1000, 1000000};
  for (uint32_t threads = 1; threads <= 4; threads += 3) {
    kc_pool *p = make_pool(threads, 0);
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++)
      for (size_t g = 0; g < sizeof grains / sizeof grains[0]; g++) pf_check(p, counts[c], grains[g]);
    kc_pool_destroy(p);
  }
}

typedef struct pf_slices {
  _Atomic uint32_t slices;
  _Atomic uint32_t workers_mask;
} pf_slices;

static void pf_count_slices(void *user, uint32_t begin, uint32_t end, uint32_t worker) {
  pf_slices *s = user;
  (void)begin;
  (void)end;
  atomic_fetch_add(&s->slices, 1);
  atomic_fetch_or(&s->workers_mask, 1u << worker);
  spin_ns(500 * 1000);
}

static void test_parallel_for_slices_and_spread(void) {
  kc_pool *p = make_pool(2, 0);
  pf_slices s = {0};
  /* 100 items in grains of 10: exactly 10 slices; 0.5 ms each is long
   * enough for the second worker to wake and join, even under a sanitizer
   * on a loaded machine, at least once in 20 tries. */
  bool both = false;
  for (int round = 0; round < 20 && !both; round++) {
    atomic_store(&s.slices, 0);
    atomic_store(&s.workers_mask, 0);
    CU_ASSERT_EQUAL(kc_pool_parallel_for(p, 100, 10, pf_count_slices, &s, NULL), KEEL_OK);
    CU_ASSERT_EQUAL(atomic_load(&s.slices), 10);
    both = atomic_load(&s.workers_mask) == 3;
  }
  CU_ASSERT_TRUE(both);
  kc_pool_destroy(p);
}

/* ---- shutdown ---- */

static void test_destroy_drains_pending_jobs(void) {
  for (uint32_t threads = 1; threads <= 3; threads++) {
    kc_pool *p = make_pool(threads, 0);
    memset(&g_count, 0, sizeof g_count);
    memset(&g_main, 0, sizeof g_main);
    g_main.main = pthread_self();
    g_main.pool = p;
    static keel_job_desc jobs[2000];
    for (uint32_t i = 0; i < 2000; i++) jobs[i] = (keel_job_desc){count_job, (void *)(uintptr_t)i};
    keel_job_counter c1;
    CU_ASSERT_EQUAL(kc_pool_submit(p, jobs, 1000, &c1, NULL), KEEL_OK);
    kc_job_opts after = {c1, false};
    CU_ASSERT_EQUAL(kc_pool_submit_ex(p, jobs + 1000, 1000, &after, NULL, NULL), KEEL_OK);
    keel_job_desc mj = {main_job, NULL};
    kc_job_opts pin = {c1, true};
    CU_ASSERT_EQUAL(kc_pool_submit_ex(p, &mj, 1, &pin, NULL, NULL), KEEL_OK);
    kc_pool_destroy(p); /* no wait: destroy must run all 2001 */
    check_each_once(2000);
    CU_ASSERT_EQUAL(atomic_load(&g_main.ran), 1);
    CU_ASSERT_EQUAL(atomic_load(&g_main.off_main), 0);
  }
}

static CU_TestInfo create_tests[] = {
    {"threads = auto | N parsing", test_threads_parse},
    {"create refuses bad arguments", test_create_rejects_bad_arguments},
    {"NULL desc means auto", test_create_defaults_is_auto},
    {"worker 0 is main, workers 1..N-1 are distinct threads, foreign is UINT32_MAX", test_worker_numbering},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo job_tests[] = {
    {"a batch runs each job once (1, 2, 4 workers)", test_batch_runs_each_job_once},
    {"empty batches, NULL fn, bogus counters", test_submit_edge_arguments},
    {"jobs submit and wait on children (4^6 tree)", test_jobs_submit_and_wait_nested},
    {"full slot chunks grow, a big batch runs whole", test_ring_overflow_grows},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo foreign_tests[] = {
    {"foreign threads submit, wait and parallel_for", test_foreign_thread_submits_and_waits},
    {"a foreign batch that does not fit is refused whole", test_foreign_thread_full_is_refused_whole},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo dep_tests[] = {
    {"batches chained by counters run in order", test_dependency_chain_orders_batches},
    {"a dependent batch waits for a blocked job", test_dependency_waits_for_blocked_job},
    {"main-pinned jobs run only on the main thread", test_main_pinned_jobs_run_on_main_only},
    {"main-pinned jobs from a foreign thread", test_main_pinned_from_foreign_thread},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo pf_tests[] = {
    {"every index exactly once, slices within grain", test_parallel_for_covers_range},
    {"slice count and spread over workers", test_parallel_for_slices_and_spread},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo shutdown_tests[] = {
    {"destroy drains pending, dependent and main-pinned jobs", test_destroy_drains_pending_jobs},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"sched_pool_create", NULL, NULL, NULL, NULL, create_tests},
    {"sched_pool_jobs", NULL, NULL, NULL, NULL, job_tests},
    {"sched_pool_foreign", NULL, NULL, NULL, NULL, foreign_tests},
    {"sched_pool_deps", NULL, NULL, NULL, NULL, dep_tests},
    {"sched_pool_parallel_for", NULL, NULL, NULL, NULL, pf_tests},
    {"sched_pool_shutdown", NULL, NULL, NULL, NULL, shutdown_tests},
    CU_SUITE_INFO_NULL,
};
