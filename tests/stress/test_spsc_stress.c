// keel-test-labels: concurrency
/* kc_spsc with a real producer thread and a real consumer thread: millions of
 * records must arrive complete, in order, with matching checksums, through
 * single and batch operations and a ring small enough to be full and empty
 * all the time; the counters must match what each side saw. */
#include "keel_test.h"
#include "sync/spsc.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>

KC_SPSC_DEFINE_TYPED(st_u64, uint64_t)

/* A record whose fields all derive from seq, so a torn or stale copy shows. */
typedef struct rec32 {
  uint64_t seq;
  uint64_t hash;
  uint64_t inv;
  uint64_t mul;
} rec32;

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

static rec32 rec_make(uint64_t seq) {
  rec32 r = {seq, mix(seq), ~seq, seq * 0x9E3779B97F4A7C15ull};
  return r;
}

static bool rec_valid(const rec32 *r, uint64_t expect_seq) {
  return r->seq == expect_seq && r->hash == mix(expect_seq) && r->inv == ~expect_seq &&
         r->mul == expect_seq * 0x9E3779B97F4A7C15ull;
}

/* Set when one side has waited STALL_NS without progress: both sides stop,
 * so a lost element fails the test instead of hanging it. */
static const uint64_t STALL_NS = 20000000000ull; /* 20 s */
static _Atomic bool abandon;

/* Waiting for the other side: spin a little, then give the core away, since
 * this machine may have fewer free cores than running threads. Returns false
 * when the run is abandoned. *idle_since is 0 after progress. */
static bool backoff(unsigned *spins, uint64_t *idle_since) {
  if (++*spins < 64) return true;
  *spins = 0;
  sched_yield();
  uint64_t now = kt_now_ns();
  if (*idle_since == 0)
    *idle_since = now;
  else if (now - *idle_since > STALL_NS)
    atomic_store(&abandon, true);
  return !atomic_load_explicit(&abandon, memory_order_relaxed);
}

typedef struct run {
  kc_spsc *ring;
  uint64_t n;
  /* producer's results */
  uint64_t refusals;
  uint64_t sum_in;
  /* consumer's results */
  uint64_t received;
  uint64_t out_of_order;
  uint64_t sum_out;
} run;

static kc_spsc ring;

/* ---- single push/pop, typed 8-byte path ---- */

static void *u64_producer(void *arg) {
  run *r = arg;
  unsigned spins = 0;
  uint64_t idle = 0;
  for (uint64_t i = 0; i < r->n; i++) {
    uint64_t v = mix(i);
    while (!st_u64_push(r->ring, &v)) {
      r->refusals++;
      if (!backoff(&spins, &idle)) return NULL;
    }
    idle = 0;
    r->sum_in += v;
  }
  return NULL;
}

static void *u64_consumer(void *arg) {
  run *r = arg;
  unsigned spins = 0;
  uint64_t idle = 0;
  while (r->received < r->n) {
    uint64_t v;
    if (!st_u64_pop(r->ring, &v)) {
      if (!backoff(&spins, &idle)) return NULL;
      continue;
    }
    idle = 0;
    if (v != mix(r->received)) r->out_of_order++;
    r->sum_out += v;
    r->received++;
  }
  return NULL;
}

static void run_pair(run *r, void *(*prod)(void *), void *(*cons)(void *)) {
  pthread_t p, c;
  atomic_store(&abandon, false);
  CU_ASSERT_EQUAL_FATAL(pthread_create(&c, NULL, cons, r), 0);
  CU_ASSERT_EQUAL_FATAL(pthread_create(&p, NULL, prod, r), 0);
  pthread_join(p, NULL);
  pthread_join(c, NULL);
}

static void expect_clean_run(const run *r) {
  CU_ASSERT_FALSE(atomic_load(&abandon));
  CU_ASSERT_EQUAL(r->received, r->n);
  CU_ASSERT_EQUAL(r->out_of_order, 0);
  CU_ASSERT_EQUAL(r->sum_in, r->sum_out);
  kc_spsc_counters c;
  kc_spsc_stats(r->ring, &c);
  CU_ASSERT_EQUAL(c.pushed, r->n);
  CU_ASSERT_EQUAL(c.popped, r->n);
  /* Every refusal the producer saw was counted, and nothing else was. */
  CU_ASSERT_EQUAL(c.refused_full, r->refusals);
  CU_ASSERT_TRUE(kc_spsc_empty(r->ring));
  CU_ASSERT_EQUAL(kc_spsc_size(r->ring), 0);
}

static void test_ten_million_in_order(void) {
  CU_ASSERT_EQUAL_FATAL(st_u64_init(&ring, 1024, NULL), KEEL_OK);
  run r = {.ring = &ring, .n = kt_scaled(10000000)};
  run_pair(&r, u64_producer, u64_consumer);
  expect_clean_run(&r);
  kc_spsc_destroy(&ring);
}

static void test_tiny_ring_in_order(void) {
  /* 2 slots: almost every operation meets a full or empty ring and rereads
   * the other side's index. */
  CU_ASSERT_EQUAL_FATAL(st_u64_init(&ring, 2, NULL), KEEL_OK);
  run r = {.ring = &ring, .n = kt_scaled(1000000)};
  run_pair(&r, u64_producer, u64_consumer);
  expect_clean_run(&r);
  CU_ASSERT_TRUE(r.refusals > 0); /* the full edge was really exercised */
  kc_spsc_destroy(&ring);
}

/* ---- generic path, 32-byte records ---- */

static void *rec_producer(void *arg) {
  run *r = arg;
  unsigned spins = 0;
  uint64_t idle = 0;
  for (uint64_t i = 0; i < r->n; i++) {
    rec32 v = rec_make(i);
    while (!kc_spsc_push(r->ring, &v)) {
      r->refusals++;
      if (!backoff(&spins, &idle)) return NULL;
    }
    idle = 0;
    r->sum_in += v.hash;
  }
  return NULL;
}

static void *rec_consumer(void *arg) {
  run *r = arg;
  unsigned spins = 0;
  uint64_t idle = 0;
  while (r->received < r->n) {
    rec32 v;
    if (!kc_spsc_pop(r->ring, &v)) {
      if (!backoff(&spins, &idle)) return NULL;
      continue;
    }
    idle = 0;
    if (!rec_valid(&v, r->received)) r->out_of_order++;
    r->sum_out += v.hash;
    r->received++;
  }
  return NULL;
}

static void test_records_complete_and_in_order(void) {
  CU_ASSERT_EQUAL_FATAL(kc_spsc_init(&ring, sizeof(rec32), 64, NULL), KEEL_OK);
  run r = {.ring = &ring, .n = kt_scaled(2000000)};
  run_pair(&r, rec_producer, rec_consumer);
  expect_clean_run(&r);
  kc_spsc_destroy(&ring);
}

/* ---- batches ---- */

enum { MAX_BATCH = 37 };

static void *batch_producer(void *arg) {
  run *r = arg;
  unsigned spins = 0;
  uint64_t idle = 0;
  rec32 buf[MAX_BATCH];
  uint64_t next = 0;
  size_t want = 1;
  while (next < r->n) {
    size_t n = want;
    if (n > r->n - next) n = (size_t)(r->n - next);
    for (size_t i = 0; i < n; i++) buf[i] = rec_make(next + i);
    size_t done = 0;
    while (done < n) {
      size_t k = kc_spsc_push_batch(r->ring, buf + done, n - done);
      r->refusals += (n - done) - k; /* refused_full counts each element not taken */
      done += k;
      if (k == 0 && !backoff(&spins, &idle)) return NULL;
      if (k) idle = 0;
    }
    for (size_t i = 0; i < n; i++) r->sum_in += buf[i].hash;
    next += n;
    want = want % MAX_BATCH + 1; /* 1, 2, ..., 37, 1, ... */
  }
  return NULL;
}

static void *batch_consumer(void *arg) {
  run *r = arg;
  unsigned spins = 0;
  uint64_t idle = 0;
  rec32 buf[29];
  size_t want = 1;
  while (r->received < r->n) {
    size_t k;
    if (want == 13) {
      k = kc_spsc_pop(r->ring, buf) ? 1 : 0; /* single pops mixed in */
    } else {
      k = kc_spsc_pop_batch(r->ring, buf, want);
    }
    if (k == 0) {
      if (!backoff(&spins, &idle)) return NULL;
      continue;
    }
    idle = 0;
    for (size_t i = 0; i < k; i++) {
      if (!rec_valid(&buf[i], r->received)) r->out_of_order++;
      r->sum_out += buf[i].hash;
      r->received++;
    }
    want = want % 29 + 1;
  }
  return NULL;
}

static void test_batches_across_threads(void) {
  /* 128 slots: not a multiple of either batch cycle, so copies split at the
   * buffer end in every position. */
  CU_ASSERT_EQUAL_FATAL(kc_spsc_init(&ring, sizeof(rec32), 128, NULL), KEEL_OK);
  run r = {.ring = &ring, .n = kt_scaled(5000000)};
  run_pair(&r, batch_producer, batch_consumer);
  expect_clean_run(&r);
  kc_spsc_destroy(&ring);
}

static void test_threads_across_uint64_wrap(void) {
  /* The indices pass 2^64 while both threads run. */
  CU_ASSERT_EQUAL_FATAL(kc_spsc_init_at(&ring, sizeof(rec32), 16, UINT64_MAX - 100000, NULL), KEEL_OK);
  run r = {.ring = &ring, .n = 200000};
  run_pair(&r, batch_producer, batch_consumer);
  expect_clean_run(&r);
  kc_spsc_destroy(&ring);
}

static CU_TestInfo single_tests[] = {
    {"10 million u64 across two threads, in order, checksum", test_ten_million_in_order},
    {"2-slot ring, in order, refusals counted", test_tiny_ring_in_order},
    {"32-byte records through the generic path", test_records_complete_and_in_order},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo batch_tests[] = {
    {"batches of 1..37 in, 1..29 out, across two threads", test_batches_across_threads},
    {"two threads while the indices cross 2^64", test_threads_across_uint64_wrap},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"spsc_two_threads", NULL, NULL, NULL, NULL, single_tests},
    {"spsc_two_threads_batch", NULL, NULL, NULL, NULL, batch_tests},
    CU_SUITE_INFO_NULL,
};
