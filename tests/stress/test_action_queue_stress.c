// keel-test-labels: concurrency
/* kc_actionq with real threads: four producers into one consumer that mixes
 * try_pop and pop_timeout, two producers into two consumers, a sleeping
 * consumer woken by a push, and a ping-pong that would stall on any lost
 * wake-up. Every message must be seen exactly once and the counters must
 * match what the threads observed. */
#include "keel_test.h"
#include "sync/action_queue.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct msg {
  uint32_t producer;
  uint32_t pad;
  uint64_t seq;
  uint64_t check; /* derived from both, so a torn copy shows */
} msg;

static uint64_t msg_check(uint32_t producer, uint64_t seq) {
  uint64_t x = seq * 0x9E3779B97F4A7C15ull ^ ((uint64_t)producer << 56);
  x ^= x >> 31;
  return x * 0xBF58476D1CE4E5B9ull;
}

static void sleep_ns(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
  nanosleep(&ts, NULL);
}

static kc_actionq q;

/* A consumer that sees nothing for this long gives up and raises `abandon`,
 * which stops the producers, so a lost message fails the test instead of
 * hanging it. */
static const uint64_t STALL_NS = 20000000000ull; /* 20 s */
static _Atomic bool abandon;

/* ---- producers ---- */

typedef struct producer_arg {
  uint32_t id;
  uint64_t n;
  uint64_t refusals;
} producer_arg;

static void *producer(void *p) {
  producer_arg *a = p;
  for (uint64_t i = 0; i < a->n; i++) {
    msg m = {a->id, 0, i, msg_check(a->id, i)};
    unsigned spins = 0;
    while (!kc_actionq_try_push(&q, &m)) {
      if (atomic_load_explicit(&abandon, memory_order_relaxed)) return NULL;
      a->refusals++;
      if (++spins >= 32) { /* full: let the consumer run */
        spins = 0;
        sched_yield();
      }
    }
  }
  return NULL;
}

/* ---- four producers, one consumer ---- */

enum { NPROD = 4 };

typedef struct consumer_state {
  uint64_t per_producer;
  uint64_t total;
  uint8_t *seen[NPROD]; /* one byte per message: times seen */
  uint64_t next_seq[NPROD];
  uint64_t duplicates, out_of_order, corrupt, bad_producer;
  uint64_t timeouts_seen;
  bool stalled;
  uint64_t via_try, via_timeout;
} consumer_state;

static void record(consumer_state *s, const msg *m) {
  if (m->producer >= NPROD || m->seq >= s->per_producer) {
    s->bad_producer++;
    return;
  }
  if (m->check != msg_check(m->producer, m->seq)) s->corrupt++;
  if (s->seen[m->producer][m->seq]++) s->duplicates++;
  /* One consumer pops in position order and each producer claims its
   * positions in order, so each producer's messages arrive in its order. */
  if (m->seq != s->next_seq[m->producer]) s->out_of_order++;
  s->next_seq[m->producer] = m->seq + 1;
}

static void *mixed_consumer(void *p) {
  consumer_state *s = p;
  uint64_t got = 0, k = 0, last = kt_now_ns();
  while (got < s->total) {
    msg m;
    bool ok;
    if ((k++ & 1) == 0) {
      ok = kc_actionq_try_pop(&q, &m);
      if (ok) s->via_try++;
    } else {
      keel_result r = kc_actionq_pop_timeout(&q, &m, 200000000); /* 200 ms */
      ok = r == KEEL_OK;
      if (ok) s->via_timeout++;
      else if (r == KEEL_ERR_TIMEOUT) s->timeouts_seen++;
    }
    if (ok) {
      record(s, &m);
      got++;
      last = kt_now_ns();
    } else if (kt_now_ns() - last > STALL_NS) {
      s->stalled = true;
      atomic_store(&abandon, true);
      break;
    }
  }
  return NULL;
}

static void test_four_producers_exactly_once(void) {
  uint64_t n = kt_scaled(1000000);
  /* 256 cells: far fewer than in flight, so the full path is exercised. */
  CU_ASSERT_EQUAL_FATAL(kc_actionq_init(&q, sizeof(msg), 256, NULL), KEEL_OK);
  consumer_state s;
  memset(&s, 0, sizeof s);
  atomic_store(&abandon, false);
  s.per_producer = n;
  s.total = n * NPROD;
  for (int i = 0; i < NPROD; i++) {
    s.seen[i] = calloc(n, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s.seen[i]);
  }
  producer_arg pa[NPROD];
  pthread_t pt[NPROD], ct;
  CU_ASSERT_EQUAL_FATAL(pthread_create(&ct, NULL, mixed_consumer, &s), 0);
  for (uint32_t i = 0; i < NPROD; i++) {
    pa[i] = (producer_arg){.id = i, .n = n};
    CU_ASSERT_EQUAL_FATAL(pthread_create(&pt[i], NULL, producer, &pa[i]), 0);
  }
  uint64_t refusals = 0;
  for (int i = 0; i < NPROD; i++) {
    pthread_join(pt[i], NULL);
    refusals += pa[i].refusals;
  }
  pthread_join(ct, NULL);

  uint64_t missing = 0;
  for (int i = 0; i < NPROD; i++) {
    for (uint64_t j = 0; j < n; j++) missing += s.seen[i][j] == 0;
    free(s.seen[i]);
  }
  CU_ASSERT_FALSE(s.stalled);
  CU_ASSERT_EQUAL(missing, 0);
  CU_ASSERT_EQUAL(s.duplicates, 0);
  CU_ASSERT_EQUAL(s.out_of_order, 0);
  CU_ASSERT_EQUAL(s.corrupt, 0);
  CU_ASSERT_EQUAL(s.bad_producer, 0);
  CU_ASSERT_TRUE(s.via_try > 0);
  CU_ASSERT_TRUE(s.via_timeout > 0);

  kc_actionq_counters c;
  kc_actionq_stats(&q, &c);
  CU_ASSERT_EQUAL(c.pushed, s.total);
  CU_ASSERT_EQUAL(c.popped, s.total);
  CU_ASSERT_EQUAL(c.refused_full, refusals);
  CU_ASSERT_EQUAL(c.timeouts, s.timeouts_seen);
  CU_ASSERT_EQUAL(kc_actionq_size(&q), 0);
  msg m;
  CU_ASSERT_FALSE(kc_actionq_try_pop(&q, &m));
  kc_actionq_destroy(&q);
}

/* ---- two producers, two consumers ---- */

typedef struct mc_consumer {
  uint64_t per_producer;
  _Atomic uint64_t *remaining; /* shared: messages not yet taken */
  uint8_t *seen[2];            /* this consumer's own marks */
  uint64_t corrupt;
  bool stalled;
} mc_consumer;

static void *multi_consumer(void *p) {
  mc_consumer *c = p;
  uint64_t last = kt_now_ns();
  while (atomic_load(c->remaining) > 0 && !atomic_load(&abandon)) {
    msg m;
    if (kc_actionq_pop_timeout(&q, &m, 1000000) != KEEL_OK) { /* 1 ms, then recheck */
      if (kt_now_ns() - last > STALL_NS) {
        c->stalled = true;
        atomic_store(&abandon, true);
      }
      continue;
    }
    last = kt_now_ns();
    atomic_fetch_sub(c->remaining, 1);
    if (m.producer >= 2 || m.seq >= c->per_producer || m.check != msg_check(m.producer, m.seq)) {
      c->corrupt++;
      continue;
    }
    c->seen[m.producer][m.seq]++;
  }
  return NULL;
}

static void test_two_producers_two_consumers(void) {
  uint64_t n = kt_scaled(500000);
  CU_ASSERT_EQUAL_FATAL(kc_actionq_init(&q, sizeof(msg), 64, NULL), KEEL_OK);
  _Atomic uint64_t remaining = 2 * n;
  atomic_store(&abandon, false);
  mc_consumer cs[2];
  for (int i = 0; i < 2; i++) {
    cs[i] = (mc_consumer){.per_producer = n, .remaining = &remaining};
    for (int p = 0; p < 2; p++) {
      cs[i].seen[p] = calloc(n, 1);
      CU_ASSERT_PTR_NOT_NULL_FATAL(cs[i].seen[p]);
    }
  }
  pthread_t ct[2], pt[2];
  producer_arg pa[2];
  for (int i = 0; i < 2; i++) CU_ASSERT_EQUAL_FATAL(pthread_create(&ct[i], NULL, multi_consumer, &cs[i]), 0);
  for (uint32_t i = 0; i < 2; i++) {
    pa[i] = (producer_arg){.id = i, .n = n};
    CU_ASSERT_EQUAL_FATAL(pthread_create(&pt[i], NULL, producer, &pa[i]), 0);
  }
  for (int i = 0; i < 2; i++) pthread_join(pt[i], NULL);
  for (int i = 0; i < 2; i++) pthread_join(ct[i], NULL);

  uint64_t missing = 0, duplicated = 0, by[2] = {0, 0};
  for (int p = 0; p < 2; p++)
    for (uint64_t j = 0; j < n; j++) {
      unsigned times = (unsigned)cs[0].seen[p][j] + cs[1].seen[p][j];
      missing += times == 0;
      duplicated += times > 1;
      by[0] += cs[0].seen[p][j];
      by[1] += cs[1].seen[p][j];
    }
  CU_ASSERT_FALSE(cs[0].stalled || cs[1].stalled);
  CU_ASSERT_EQUAL(missing, 0);
  CU_ASSERT_EQUAL(duplicated, 0);
  CU_ASSERT_EQUAL(cs[0].corrupt + cs[1].corrupt, 0);
  CU_ASSERT_EQUAL(by[0] + by[1], 2 * n);
  kc_actionq_counters c;
  kc_actionq_stats(&q, &c);
  CU_ASSERT_EQUAL(c.pushed, 2 * n);
  CU_ASSERT_EQUAL(c.popped, 2 * n);
  CU_ASSERT_EQUAL(c.refused_full, pa[0].refusals + pa[1].refusals);
  for (int i = 0; i < 2; i++)
    for (int p = 0; p < 2; p++) free(cs[i].seen[p]);
  kc_actionq_destroy(&q);
}

/* ---- wake-up ---- */

typedef struct waiter {
  uint64_t timeout_ns;
  keel_result result;
  uint64_t value;
  uint64_t waited_ns;
} waiter;

static void *wait_one(void *p) {
  waiter *w = p;
  uint64_t t0 = kt_now_ns();
  w->result = kc_actionq_pop_timeout(&q, &w->value, w->timeout_ns);
  w->waited_ns = kt_now_ns() - t0;
  return NULL;
}

static void test_sleeping_consumer_is_woken(void) {
  CU_ASSERT_EQUAL_FATAL(kc_actionq_init(&q, sizeof(uint64_t), 8, NULL), KEEL_OK);
  waiter w = {.timeout_ns = 10000000000ull}; /* 10 s: the push must end the wait, not this */
  pthread_t t;
  CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, wait_one, &w), 0);
  sleep_ns(100000000); /* 100 ms: the waiter is past its spin and asleep */
  CU_ASSERT_EQUAL(atomic_load(&q.sleepers), 1);
  uint64_t v = 4242;
  CU_ASSERT_TRUE(kc_actionq_try_push(&q, &v));
  pthread_join(t, NULL);
  CU_ASSERT_EQUAL(w.result, KEEL_OK);
  CU_ASSERT_EQUAL(w.value, 4242);
  CU_ASSERT_TRUE(w.waited_ns >= 90000000);
  CU_ASSERT_TRUE(w.waited_ns < 2000000000ull);
  CU_ASSERT_EQUAL(atomic_load(&q.sleepers), 0);
  kc_actionq_counters c;
  kc_actionq_stats(&q, &c);
  CU_ASSERT_EQUAL(c.timeouts, 0);
  kc_actionq_destroy(&q);
}

static kc_actionq pong_q;

/* try_push until it succeeds, or false after STALL_NS of refusals. */
static bool push_patiently(kc_actionq *queue, const uint64_t *v) {
  uint64_t t0 = kt_now_ns();
  while (!kc_actionq_try_push(queue, v)) {
    if (kt_now_ns() - t0 > STALL_NS) return false;
    sched_yield();
  }
  return true;
}

typedef struct pinger {
  uint64_t rounds;
  uint64_t timeouts, wrong;
} pinger;

static void *ponger(void *p) {
  pinger *a = p;
  for (uint64_t i = 0; i < a->rounds; i++) {
    uint64_t v;
    if (kc_actionq_pop_timeout(&q, &v, 2000000000ull) != KEEL_OK) {
      a->timeouts++;
      return NULL;
    }
    if (v != i) a->wrong++;
    v = ~v;
    if (!push_patiently(&pong_q, &v)) {
      a->timeouts++;
      return NULL;
    }
  }
  return NULL;
}

static void test_ping_pong_never_loses_a_wakeup(void) {
  /* Each side waits for the other's message with pop_timeout, so both keep
   * going to sleep right as the other pushes; a lost wake-up would show as a
   * 2-second timeout. */
  CU_ASSERT_EQUAL_FATAL(kc_actionq_init(&q, sizeof(uint64_t), 4, NULL), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(kc_actionq_init(&pong_q, sizeof(uint64_t), 4, NULL), KEEL_OK);
  pinger b = {.rounds = kt_scaled(20000)};
  pthread_t t;
  CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, ponger, &b), 0);
  uint64_t timeouts = 0, wrong = 0;
  for (uint64_t i = 0; i < b.rounds; i++) {
    uint64_t v = i;
    if (!push_patiently(&q, &v)) {
      timeouts++;
      break;
    }
    if (kc_actionq_pop_timeout(&pong_q, &v, 2000000000ull) != KEEL_OK) {
      timeouts++;
      break;
    }
    if (v != ~i) wrong++;
  }
  pthread_join(t, NULL);
  CU_ASSERT_EQUAL(timeouts, 0);
  CU_ASSERT_EQUAL(b.timeouts, 0);
  CU_ASSERT_EQUAL(wrong + b.wrong, 0);
  kc_actionq_counters c1, c2;
  kc_actionq_stats(&q, &c1);
  kc_actionq_stats(&pong_q, &c2);
  CU_ASSERT_EQUAL(c1.popped, b.rounds);
  CU_ASSERT_EQUAL(c2.popped, b.rounds);
  CU_ASSERT_EQUAL(c1.timeouts + c2.timeouts, 0);
  kc_actionq_destroy(&q);
  kc_actionq_destroy(&pong_q);
}

static CU_TestInfo mp_tests[] = {
    {"4 producers x 1M, try_pop + pop_timeout, each seen once", test_four_producers_exactly_once},
    {"2 producers, 2 consumers, each seen once", test_two_producers_two_consumers},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo wake_tests[] = {
    {"a push wakes a sleeping consumer", test_sleeping_consumer_is_woken},
    {"ping-pong through pop_timeout loses no wake-up", test_ping_pong_never_loses_a_wakeup},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"actionq_producers", NULL, NULL, NULL, NULL, mp_tests},
    {"actionq_wake", NULL, NULL, NULL, NULL, wake_tests},
    CU_SUITE_INFO_NULL,
};
