/* Single-threaded behaviour of kc_actionq: argument checks, FIFO order, the
 * full queue refusing and counting, the timeout path taking about the time
 * asked, positions crossing 2^64, and the payload ownership rule. The
 * multi-thread runs are in tests/stress/test_action_queue_stress.c. */
#include "keel_test.h"
#include "sync/action_queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kc_actionq q; /* static: the struct wants 64-byte alignment */

static void expect_counters(uint64_t pushed, uint64_t popped, uint64_t refused, uint64_t timeouts) {
  kc_actionq_counters c;
  kc_actionq_stats(&q, &c);
  CU_ASSERT_EQUAL(c.pushed, pushed);
  CU_ASSERT_EQUAL(c.popped, popped);
  CU_ASSERT_EQUAL(c.refused_full, refused);
  CU_ASSERT_EQUAL(c.timeouts, timeouts);
}

/* ---- init ---- */

static void expect_invalid(size_t elem, size_t cap, const char *needle) {
  kc_err err;
  kc_err_clear(&err);
  CU_ASSERT_EQUAL(kc_actionq_init(&q, elem, cap, &err), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_EQUAL(err.code, KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, needle);
  CU_ASSERT_PTR_NULL(q.cells);
  kc_actionq_destroy(&q);
}

static void test_init_rejects_bad_arguments(void) {
  expect_invalid(8, 0, "capacity 0 is not a power of two >= 2");
  expect_invalid(8, 1, "capacity 1 is not a power of two >= 2");
  expect_invalid(8, 12, "capacity 12 is not a power of two");
  expect_invalid(0, 16, "message size 0");
  expect_invalid(KC_ACTIONQ_ELEM_MAX + 1, 16, "out of range");
  expect_invalid(8, KC_ACTIONQ_CAPACITY_MAX * 2, "exceeds the maximum");
  kc_err err;
  kc_err_clear(&err);
  CU_ASSERT_EQUAL(kc_actionq_init(NULL, 8, 16, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "queue is NULL");
  CU_ASSERT_EQUAL(kc_actionq_init(&q, 8, 3, NULL), KEEL_ERR_INVALID_ARGUMENT);
}

static void test_init_shape_and_layout(void) {
  CU_ASSERT_EQUAL_FATAL(kc_actionq_init(&q, 20, 64, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_actionq_capacity(&q), 64);
  CU_ASSERT_EQUAL(kc_actionq_elem_size(&q), 20);
  CU_ASSERT_EQUAL(kc_actionq_size(&q), 0);
  expect_counters(0, 0, 0, 0);
  /* Producers' and consumers' positions on different lines, and the
   * sleepers flag every push reads on a line of its own. */
  CU_ASSERT_EQUAL(_Alignof(kc_actionq), KC_CACHE_PAD);
  size_t prod = offsetof(kc_actionq, enqueue_pos) / KC_CACHE_PAD;
  size_t cons = offsetof(kc_actionq, dequeue_pos) / KC_CACHE_PAD;
  size_t sleep = offsetof(kc_actionq, sleepers) / KC_CACHE_PAD;
  size_t lock = offsetof(kc_actionq, lock) / KC_CACHE_PAD;
  CU_ASSERT_NOT_EQUAL(prod, cons);
  CU_ASSERT_NOT_EQUAL(sleep, prod);
  CU_ASSERT_NOT_EQUAL(sleep, cons);
  CU_ASSERT_NOT_EQUAL(sleep, lock);
  kc_actionq_destroy(&q);
  kc_actionq_destroy(&q);
  CU_ASSERT_PTR_NULL(q.cells);
}

/* ---- push / pop ---- */

static void test_fifo_full_and_empty(void) {
  CU_ASSERT_EQUAL_FATAL(kc_actionq_init(&q, sizeof(uint64_t), 8, NULL), KEEL_OK);
  uint64_t v = 0;
  CU_ASSERT_FALSE(kc_actionq_try_pop(&q, &v));
  for (uint64_t i = 0; i < 8; i++) {
    v = 10 + i;
    CU_ASSERT_TRUE(kc_actionq_try_push(&q, &v));
  }
  CU_ASSERT_EQUAL(kc_actionq_size(&q), 8);
  v = 77;
  CU_ASSERT_FALSE(kc_actionq_try_push(&q, &v));
  CU_ASSERT_FALSE(kc_actionq_try_push(&q, &v));
  CU_ASSERT_FALSE(kc_actionq_try_push(&q, &v));
  expect_counters(8, 0, 3, 0);

  CU_ASSERT_TRUE(kc_actionq_try_pop(&q, &v));
  CU_ASSERT_EQUAL(v, 10);
  v = 18;
  CU_ASSERT_TRUE(kc_actionq_try_push(&q, &v)); /* one freed cell, one push */
  CU_ASSERT_FALSE(kc_actionq_try_push(&q, &v));
  for (uint64_t i = 1; i <= 8; i++) {
    CU_ASSERT_TRUE(kc_actionq_try_pop(&q, &v));
    CU_ASSERT_EQUAL(v, 10 + i);
  }
  CU_ASSERT_FALSE(kc_actionq_try_pop(&q, &v));
  CU_ASSERT_EQUAL(v, 18); /* untouched by the failed pop */
  CU_ASSERT_EQUAL(kc_actionq_size(&q), 0);
  expect_counters(9, 9, 4, 0);
  kc_actionq_destroy(&q);
}

static void test_capacity_two_many_laps(void) {
  CU_ASSERT_EQUAL_FATAL(kc_actionq_init(&q, 1, 2, NULL), KEEL_OK);
  unsigned char v;
  for (int i = 0; i < 1000; i++) {
    v = (unsigned char)i;
    CU_ASSERT_TRUE_FATAL(kc_actionq_try_push(&q, &v));
    v = (unsigned char)(i + 100);
    CU_ASSERT_TRUE_FATAL(kc_actionq_try_push(&q, &v));
    CU_ASSERT_FALSE_FATAL(kc_actionq_try_push(&q, &v));
    CU_ASSERT_TRUE_FATAL(kc_actionq_try_pop(&q, &v));
    CU_ASSERT_EQUAL_FATAL(v, (unsigned char)i);
    CU_ASSERT_TRUE_FATAL(kc_actionq_try_pop(&q, &v));
    CU_ASSERT_EQUAL_FATAL(v, (unsigned char)(i + 100));
    CU_ASSERT_FALSE_FATAL(kc_actionq_try_pop(&q, &v));
  }
  expect_counters(2000, 2000, 1000, 0);
  kc_actionq_destroy(&q);
}

static void test_large_messages(void) {
  enum { SZ = KEEL_MESSAGE_MAX };
  CU_ASSERT_EQUAL_FATAL(kc_actionq_init(&q, SZ, 4, NULL), KEEL_OK);
  unsigned char in[SZ], out[SZ];
  for (int i = 0; i < 40; i++) {
    for (int b = 0; b < SZ; b++) in[b] = (unsigned char)(i * 31 + b);
    CU_ASSERT_TRUE(kc_actionq_try_push(&q, in));
    if (i % 2) {
      for (int k = i - 1; k <= i; k++) {
        CU_ASSERT_TRUE(kc_actionq_try_pop(&q, out));
        int bad = 0;
        for (int b = 0; b < SZ; b++) bad += out[b] != (unsigned char)(k * 31 + b);
        CU_ASSERT_EQUAL(bad, 0);
      }
    }
  }
  kc_actionq_destroy(&q);
}

static void test_positions_cross_uint64_wrap(void) {
  CU_ASSERT_EQUAL_FATAL(kc_actionq_init_at(&q, sizeof(uint64_t), 4, UINT64_MAX - 5, NULL), KEEL_OK);
  uint64_t v;
  uint64_t next_in = 0, next_out = 0;
  for (int round = 0; round < 50; round++) {
    while (1) {
      v = next_in;
      if (!kc_actionq_try_push(&q, &v)) break;
      next_in++;
    }
    CU_ASSERT_EQUAL(kc_actionq_size(&q), 4);
    int take = round % 4 + 1;
    for (int i = 0; i < take; i++) {
      CU_ASSERT_TRUE_FATAL(kc_actionq_try_pop(&q, &v));
      CU_ASSERT_EQUAL_FATAL(v, next_out);
      next_out++;
    }
  }
  CU_ASSERT_TRUE(atomic_load(&q.enqueue_pos) < UINT64_MAX - 5); /* really wrapped */
  kc_actionq_counters c;
  kc_actionq_stats(&q, &c);
  CU_ASSERT_EQUAL(c.pushed, next_in);
  CU_ASSERT_EQUAL(c.popped, next_out);
  CU_ASSERT_EQUAL(c.refused_full, 50);
  kc_actionq_destroy(&q);
}

/* ---- timeout ---- */

static void test_pop_timeout_times_out_on_time(void) {
  CU_ASSERT_EQUAL_FATAL(kc_actionq_init(&q, sizeof(uint64_t), 16, NULL), KEEL_OK);
  uint64_t v = 5;
  const uint64_t asked[] = {2000000, 30000000, 120000000}; /* 2, 30, 120 ms */
  for (size_t i = 0; i < sizeof asked / sizeof asked[0]; i++) {
    uint64_t t0 = kt_now_ns();
    CU_ASSERT_EQUAL(kc_actionq_pop_timeout(&q, &v, asked[i]), KEEL_ERR_TIMEOUT);
    uint64_t took = kt_now_ns() - t0;
    CU_ASSERT_TRUE(took >= asked[i]);
    /* Generous upper slack: this machine is shared with compilers. */
    CU_ASSERT_TRUE(took < asked[i] + 150000000);
    if (took < asked[i] || took >= asked[i] + 150000000)
      fprintf(stderr, "\npop_timeout(%llu ns) took %llu ns\n", (unsigned long long)asked[i],
              (unsigned long long)took);
  }
  CU_ASSERT_EQUAL(v, 5);
  expect_counters(0, 0, 0, 3);

  /* Zero means try once: immediate, and still a counted timeout. */
  uint64_t t0 = kt_now_ns();
  CU_ASSERT_EQUAL(kc_actionq_pop_timeout(&q, &v, 0), KEEL_ERR_TIMEOUT);
  CU_ASSERT_TRUE(kt_now_ns() - t0 < 1000000);
  /* A huge timeout must not overflow the deadline into the past. */
  v = 9;
  CU_ASSERT_TRUE(kc_actionq_try_push(&q, &v));
  CU_ASSERT_EQUAL(kc_actionq_pop_timeout(&q, &v, UINT64_MAX), KEEL_OK);
  CU_ASSERT_EQUAL(v, 9);
  expect_counters(1, 1, 0, 4);
  kc_actionq_destroy(&q);
}

static void test_pop_timeout_returns_waiting_message_at_once(void) {
  CU_ASSERT_EQUAL_FATAL(kc_actionq_init(&q, sizeof(uint64_t), 16, NULL), KEEL_OK);
  uint64_t v = 1234, out = 0;
  CU_ASSERT_TRUE(kc_actionq_try_push(&q, &v));
  uint64_t t0 = kt_now_ns();
  CU_ASSERT_EQUAL(kc_actionq_pop_timeout(&q, &out, 5000000000ull), KEEL_OK);
  CU_ASSERT_TRUE(kt_now_ns() - t0 < 100000000);
  CU_ASSERT_EQUAL(out, 1234);
  expect_counters(1, 1, 0, 0);
  kc_actionq_destroy(&q);
}

/* ---- ownership ---- */

/* A message that carries a heap pointer: the rule in action_queue.h says a
 * successful push hands the block to the consumer, a refused one does not.
 * Under ASan a leak or double free here fails the run. */
typedef struct owned_msg {
  uint32_t kind;
  char *text; /* malloc'ed by the producer, freed by whoever owns the message */
} owned_msg;

static void test_pointer_payload_ownership(void) {
  CU_ASSERT_EQUAL_FATAL(kc_actionq_init(&q, sizeof(owned_msg), 2, NULL), KEEL_OK);
  int refused = 0;
  for (uint32_t i = 0; i < 3; i++) {
    owned_msg m = {i, malloc(16)};
    CU_ASSERT_PTR_NOT_NULL_FATAL(m.text);
    snprintf(m.text, 16, "msg %u", i);
    if (!kc_actionq_try_push(&q, &m)) {
      free(m.text); /* refused: still the producer's */
      refused++;
    }
  }
  CU_ASSERT_EQUAL(refused, 1);
  owned_msg got;
  uint32_t expect = 0;
  while (kc_actionq_try_pop(&q, &got)) {
    CU_ASSERT_EQUAL(got.kind, expect);
    char want[16];
    snprintf(want, sizeof want, "msg %u", expect);
    CU_ASSERT_STRING_EQUAL(got.text, want);
    free(got.text); /* popped: now the consumer's */
    expect++;
  }
  CU_ASSERT_EQUAL(expect, 2);
  kc_actionq_destroy(&q);
}

static CU_TestInfo init_tests[] = {
    {"rejects bad arguments with a message", test_init_rejects_bad_arguments},
    {"shape, counters at zero, hot fields on separate lines", test_init_shape_and_layout},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo queue_tests[] = {
    {"FIFO, full refuses and counts, empty try_pop fails", test_fifo_full_and_empty},
    {"capacity 2 through many laps", test_capacity_two_many_laps},
    {"messages of KEEL_MESSAGE_MAX bytes", test_large_messages},
    {"positions cross 2^64", test_positions_cross_uint64_wrap},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo timeout_tests[] = {
    {"empty queue times out in about the time asked, counted", test_pop_timeout_times_out_on_time},
    {"waiting message returned at once", test_pop_timeout_returns_waiting_message_at_once},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo ownership_tests[] = {
    {"pointer payload: push hands over, refusal keeps", test_pointer_payload_ownership},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"actionq_init", NULL, NULL, NULL, NULL, init_tests},
    {"actionq_queue", NULL, NULL, NULL, NULL, queue_tests},
    {"actionq_timeout", NULL, NULL, NULL, NULL, timeout_tests},
    {"actionq_ownership", NULL, NULL, NULL, NULL, ownership_tests},
    CU_SUITE_INFO_NULL,
};
