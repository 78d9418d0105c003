/* Single-threaded behaviour of kc_spsc: argument checks, FIFO order, the full
 * and empty edges, batches that straddle the end of the buffer, indices
 * crossing 2^64, exact counters and the typed wrappers. The two-thread runs
 * are in tests/stress/test_spsc_stress.c. */
#include "keel_test.h"
#include "sync/spsc.h"

#include <string.h>

typedef struct rec24 {
  uint64_t a;
  uint32_t b;
  uint16_t c;
  uint8_t pad[10];
} rec24;

KC_SPSC_DEFINE_TYPED(t_u64, uint64_t)
KC_SPSC_DEFINE_TYPED(t_rec24, rec24)

static kc_spsc ring; /* static: the struct wants 64-byte alignment */

static void expect_counters(const kc_spsc *r, uint64_t pushed, uint64_t popped, uint64_t refused) {
  kc_spsc_counters c;
  kc_spsc_stats(r, &c);
  CU_ASSERT_EQUAL(c.pushed, pushed);
  CU_ASSERT_EQUAL(c.popped, popped);
  CU_ASSERT_EQUAL(c.refused_full, refused);
}

/* ---- init ---- */

static void expect_invalid(size_t elem, size_t cap, const char *needle) {
  kc_err err;
  kc_err_clear(&err);
  CU_ASSERT_EQUAL(kc_spsc_init(&ring, elem, cap, &err), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_EQUAL(err.code, KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, needle);
  CU_ASSERT_PTR_NULL(ring.buf);
  kc_spsc_destroy(&ring); /* harmless after a failed init */
}

static void test_init_rejects_bad_arguments(void) {
  expect_invalid(8, 0, "capacity 0 is not a power of two");
  expect_invalid(8, 3, "capacity 3 is not a power of two");
  expect_invalid(8, 1000, "capacity 1000 is not a power of two");
  expect_invalid(0, 16, "element size 0");
  expect_invalid(KC_SPSC_ELEM_MAX + 1, 16, "out of range");
  expect_invalid(8, KC_SPSC_CAPACITY_MAX * 2, "exceeds the maximum");
  kc_err err;
  kc_err_clear(&err);
  CU_ASSERT_EQUAL(kc_spsc_init(NULL, 8, 16, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "ring is NULL");
  /* err may be NULL. */
  CU_ASSERT_EQUAL(kc_spsc_init(&ring, 8, 5, NULL), KEEL_ERR_INVALID_ARGUMENT);
}

static void test_init_reports_shape(void) {
  kc_err err;
  kc_err_clear(&err);
  CU_ASSERT_EQUAL_FATAL(kc_spsc_init(&ring, 12, 32, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_spsc_capacity(&ring), 32);
  CU_ASSERT_EQUAL(kc_spsc_elem_size(&ring), 12);
  CU_ASSERT_EQUAL(kc_spsc_size(&ring), 0);
  CU_ASSERT_TRUE(kc_spsc_empty(&ring));
  CU_ASSERT_FALSE(kc_spsc_full(&ring));
  CU_ASSERT_EQUAL(((uintptr_t)ring.buf) % KC_CACHE_PAD, 0);
  expect_counters(&ring, 0, 0, 0);
  kc_spsc_destroy(&ring);
  kc_spsc_destroy(&ring); /* twice is harmless */
  CU_ASSERT_PTR_NULL(ring.buf);
}

static void test_layout_separates_sides(void) {
  /* The property the throughput depends on: producer-written, consumer-written
   * and read-only fields never share a cache line, nor a 128-byte line pair. */
  CU_ASSERT_EQUAL(_Alignof(kc_spsc), KC_CACHE_PAD);
  size_t cfg = offsetof(kc_spsc, buf) / KC_CACHE_PAD;
  size_t prod = offsetof(kc_spsc, tail) / KC_CACHE_PAD;
  size_t cons = offsetof(kc_spsc, head) / KC_CACHE_PAD;
  CU_ASSERT_EQUAL(offsetof(kc_spsc, start) / KC_CACHE_PAD, cfg);
  CU_ASSERT_EQUAL(offsetof(kc_spsc, cached_head) / KC_CACHE_PAD, prod);
  CU_ASSERT_EQUAL(offsetof(kc_spsc, refused_full) / KC_CACHE_PAD, prod);
  CU_ASSERT_EQUAL(offsetof(kc_spsc, cached_tail) / KC_CACHE_PAD, cons);
  CU_ASSERT_NOT_EQUAL(cfg, prod);
  CU_ASSERT_NOT_EQUAL(cfg, cons);
  CU_ASSERT_NOT_EQUAL(prod, cons);
  /* A ring on the stack gets the alignment too. */
  kc_spsc local;
  CU_ASSERT_EQUAL((uintptr_t)&local % KC_CACHE_PAD, 0);
}

/* ---- edges ---- */

static void test_fifo_full_and_empty(void) {
  CU_ASSERT_EQUAL_FATAL(kc_spsc_init(&ring, sizeof(uint64_t), 8, NULL), KEEL_OK);
  uint64_t v = 0;
  CU_ASSERT_FALSE(kc_spsc_pop(&ring, &v)); /* empty */
  for (uint64_t i = 0; i < 8; i++) {
    v = 100 + i;
    CU_ASSERT_TRUE(kc_spsc_push(&ring, &v));
    CU_ASSERT_EQUAL(kc_spsc_size(&ring), i + 1);
  }
  CU_ASSERT_TRUE(kc_spsc_full(&ring));
  v = 999;
  CU_ASSERT_FALSE(kc_spsc_push(&ring, &v));
  CU_ASSERT_FALSE(kc_spsc_push(&ring, &v));
  CU_ASSERT_EQUAL(kc_spsc_size(&ring), 8);
  expect_counters(&ring, 8, 0, 2);

  /* One pop makes room for exactly one push. */
  CU_ASSERT_TRUE(kc_spsc_pop(&ring, &v));
  CU_ASSERT_EQUAL(v, 100);
  CU_ASSERT_FALSE(kc_spsc_full(&ring));
  v = 108;
  CU_ASSERT_TRUE(kc_spsc_push(&ring, &v));
  CU_ASSERT_FALSE(kc_spsc_push(&ring, &v));

  for (uint64_t i = 1; i <= 8; i++) {
    CU_ASSERT_TRUE(kc_spsc_pop(&ring, &v));
    CU_ASSERT_EQUAL(v, 100 + i);
  }
  CU_ASSERT_TRUE(kc_spsc_empty(&ring));
  CU_ASSERT_FALSE(kc_spsc_pop(&ring, &v));
  CU_ASSERT_EQUAL(v, 108); /* a failed pop leaves *out alone */
  expect_counters(&ring, 9, 9, 3);
  kc_spsc_destroy(&ring);
}

static void test_capacity_one(void) {
  CU_ASSERT_EQUAL_FATAL(kc_spsc_init(&ring, 4, 1, NULL), KEEL_OK);
  uint32_t v;
  for (uint32_t i = 0; i < 100; i++) {
    v = i;
    CU_ASSERT_TRUE(kc_spsc_push(&ring, &v));
    CU_ASSERT_FALSE(kc_spsc_push(&ring, &v));
    CU_ASSERT_TRUE(kc_spsc_full(&ring));
    CU_ASSERT_TRUE(kc_spsc_pop(&ring, &v));
    CU_ASSERT_EQUAL(v, i);
    CU_ASSERT_FALSE(kc_spsc_pop(&ring, &v));
  }
  expect_counters(&ring, 100, 100, 100);
  kc_spsc_destroy(&ring);
}

static void test_odd_element_size(void) {
  /* 3-byte and 100-byte records: slots are elem_size apart, nothing rounds. */
  CU_ASSERT_EQUAL_FATAL(kc_spsc_init(&ring, 3, 4, NULL), KEEL_OK);
  unsigned char in[3], out[3];
  for (int lap = 0; lap < 10; lap++) {
    for (int i = 0; i < 4; i++) {
      in[0] = (unsigned char)lap;
      in[1] = (unsigned char)i;
      in[2] = (unsigned char)(lap * 7 + i);
      CU_ASSERT_TRUE(kc_spsc_push(&ring, in));
    }
    for (int i = 0; i < 4; i++) {
      CU_ASSERT_TRUE(kc_spsc_pop(&ring, out));
      CU_ASSERT_EQUAL(out[0], lap);
      CU_ASSERT_EQUAL(out[1], i);
      CU_ASSERT_EQUAL(out[2], (unsigned char)(lap * 7 + i));
    }
  }
  kc_spsc_destroy(&ring);

  CU_ASSERT_EQUAL_FATAL(kc_spsc_init(&ring, 100, 2, NULL), KEEL_OK);
  unsigned char big[100], got[100];
  for (int i = 0; i < 5; i++) {
    memset(big, 'a' + i, sizeof big);
    big[99] = (unsigned char)i;
    CU_ASSERT_TRUE(kc_spsc_push(&ring, big));
    CU_ASSERT_TRUE(kc_spsc_pop(&ring, got));
    CU_ASSERT_EQUAL(memcmp(big, got, sizeof big), 0);
  }
  kc_spsc_destroy(&ring);
}

/* ---- batches ---- */

static void test_batch_partial_and_split(void) {
  CU_ASSERT_EQUAL_FATAL(kc_spsc_init(&ring, sizeof(uint32_t), 8, NULL), KEEL_OK);
  uint32_t in[20], out[20];
  for (uint32_t i = 0; i < 20; i++) in[i] = 1000 + i;

  CU_ASSERT_EQUAL(kc_spsc_push_batch(&ring, in, 0), 0);
  CU_ASSERT_EQUAL(kc_spsc_push_batch(&ring, in, 5), 5);
  /* 3 slots left: a batch of 6 puts in its first 3 and counts 3 refused. */
  CU_ASSERT_EQUAL(kc_spsc_push_batch(&ring, in + 5, 6), 3);
  expect_counters(&ring, 8, 0, 3);
  CU_ASSERT_EQUAL(kc_spsc_push_batch(&ring, in + 8, 4), 0);
  expect_counters(&ring, 8, 0, 7);

  CU_ASSERT_EQUAL(kc_spsc_pop_batch(&ring, out, 6), 6);
  for (uint32_t i = 0; i < 6; i++) CU_ASSERT_EQUAL(out[i], 1000 + i);
  /* Tail is at slot 0, head at slot 6: this batch of 6 goes in at slots 0..5,
   * and popping 8 then reads slots 6,7 and 0..5: both copies split. */
  CU_ASSERT_EQUAL(kc_spsc_push_batch(&ring, in + 8, 6), 6);
  memset(out, 0, sizeof out);
  CU_ASSERT_EQUAL(kc_spsc_pop_batch(&ring, out, 20), 8);
  for (uint32_t i = 0; i < 8; i++) CU_ASSERT_EQUAL(out[i], 1006 + i);
  CU_ASSERT_EQUAL(kc_spsc_pop_batch(&ring, out, 20), 0);
  CU_ASSERT_EQUAL(kc_spsc_pop_batch(&ring, out, 0), 0);
  expect_counters(&ring, 14, 14, 7);

  /* A push batch that straddles the end of the buffer. */
  uint32_t one = 7;
  CU_ASSERT_TRUE(kc_spsc_push(&ring, &one)); /* tail now at slot 7 */
  CU_ASSERT_TRUE(kc_spsc_pop(&ring, &one));
  CU_ASSERT_EQUAL(kc_spsc_push_batch(&ring, in, 8), 8); /* slots 7,0..6 */
  CU_ASSERT_TRUE(kc_spsc_full(&ring));
  CU_ASSERT_EQUAL(kc_spsc_pop_batch(&ring, out, 8), 8);
  for (uint32_t i = 0; i < 8; i++) CU_ASSERT_EQUAL(out[i], 1000 + i);
  kc_spsc_destroy(&ring);
}

static void test_batch_and_single_interleave(void) {
  CU_ASSERT_EQUAL_FATAL(kc_spsc_init(&ring, sizeof(uint64_t), 16, NULL), KEEL_OK);
  uint64_t next_in = 0, next_out = 0, buf[16];
  for (int round = 0; round < 2000; round++) {
    size_t want = (size_t)(round % 7) + 1;
    for (size_t i = 0; i < want; i++) buf[i] = next_in + i;
    size_t k = kc_spsc_push_batch(&ring, buf, want);
    next_in += k;
    uint64_t v = next_in;
    if (kc_spsc_push(&ring, &v)) next_in++;
    size_t take = (size_t)(round % 5) + 1;
    size_t got = kc_spsc_pop_batch(&ring, buf, take);
    for (size_t i = 0; i < got; i++) CU_ASSERT_EQUAL_FATAL(buf[i], next_out + i);
    next_out += got;
    if (kc_spsc_pop(&ring, &v)) {
      CU_ASSERT_EQUAL_FATAL(v, next_out);
      next_out++;
    }
    CU_ASSERT_EQUAL_FATAL(kc_spsc_size(&ring), next_in - next_out);
  }
  kc_spsc_counters c;
  kc_spsc_stats(&ring, &c);
  CU_ASSERT_EQUAL(c.pushed, next_in);
  CU_ASSERT_EQUAL(c.popped, next_out);
  kc_spsc_destroy(&ring);
}

/* ---- wrap ---- */

static void test_ring_index_wraps_many_times(void) {
  CU_ASSERT_EQUAL_FATAL(kc_spsc_init(&ring, sizeof(uint64_t), 4, NULL), KEEL_OK);
  uint64_t v, expect = 0, next = 0;
  /* 3 in, 3 out per round on a 4-slot ring: the fill level walks around every
   * slot position; 10000 rounds = 7500 laps. */
  for (int round = 0; round < 10000; round++) {
    for (int i = 0; i < 3; i++) {
      v = next++;
      CU_ASSERT_TRUE_FATAL(kc_spsc_push(&ring, &v));
    }
    for (int i = 0; i < 3; i++) {
      CU_ASSERT_TRUE_FATAL(kc_spsc_pop(&ring, &v));
      CU_ASSERT_EQUAL_FATAL(v, expect);
      expect++;
    }
  }
  expect_counters(&ring, 30000, 30000, 0);
  kc_spsc_destroy(&ring);
}

static void test_indices_cross_uint64_wrap(void) {
  /* Start 5 below 2^64: the 64-bit indices wrap to 0 within the first lap. */
  uint64_t start = UINT64_MAX - 4;
  CU_ASSERT_EQUAL_FATAL(kc_spsc_init_at(&ring, sizeof(uint64_t), 8, start, NULL), KEEL_OK);
  uint64_t v;
  for (uint64_t i = 0; i < 8; i++) {
    v = i;
    CU_ASSERT_TRUE(kc_spsc_push(&ring, &v));
    CU_ASSERT_EQUAL(kc_spsc_size(&ring), i + 1);
  }
  CU_ASSERT_TRUE(atomic_load(&ring.tail) < start); /* it really wrapped */
  CU_ASSERT_TRUE(kc_spsc_full(&ring));
  CU_ASSERT_FALSE(kc_spsc_push(&ring, &v));
  for (uint64_t i = 0; i < 8; i++) {
    CU_ASSERT_TRUE(kc_spsc_pop(&ring, &v));
    CU_ASSERT_EQUAL(v, i);
  }
  CU_ASSERT_TRUE(kc_spsc_empty(&ring));
  CU_ASSERT_FALSE(kc_spsc_pop(&ring, &v));
  expect_counters(&ring, 8, 8, 1);

  /* Batches across the wrap as well. */
  uint64_t in[8], out[8];
  for (uint64_t i = 0; i < 8; i++) in[i] = 50 + i;
  for (int round = 0; round < 20; round++) {
    CU_ASSERT_EQUAL(kc_spsc_push_batch(&ring, in, 5), 5);
    CU_ASSERT_EQUAL(kc_spsc_pop_batch(&ring, out, 8), 5);
    CU_ASSERT_EQUAL(memcmp(in, out, 5 * sizeof in[0]), 0);
  }
  expect_counters(&ring, 108, 108, 1);
  kc_spsc_destroy(&ring);

  /* And the same with the wrap landing in the middle of a full ring. */
  CU_ASSERT_EQUAL_FATAL(kc_spsc_init_at(&ring, sizeof(uint64_t), 8, UINT64_MAX - 2, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_spsc_push_batch(&ring, in, 8), 8);
  CU_ASSERT_EQUAL(kc_spsc_size(&ring), 8);
  CU_ASSERT_EQUAL(kc_spsc_push_batch(&ring, in, 1), 0);
  CU_ASSERT_EQUAL(kc_spsc_pop_batch(&ring, out, 8), 8);
  CU_ASSERT_EQUAL(memcmp(in, out, sizeof in), 0);
  expect_counters(&ring, 8, 8, 1);
  kc_spsc_destroy(&ring);
}

/* ---- typed wrappers ---- */

static void test_typed_wrappers(void) {
  CU_ASSERT_EQUAL_FATAL(t_u64_init(&ring, 4, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_spsc_elem_size(&ring), sizeof(uint64_t));
  uint64_t v = 0xDEADBEEFCAFEF00Dull, w = 0;
  CU_ASSERT_TRUE(t_u64_push(&ring, &v));
  /* Same struct, so the generic calls interoperate with the typed ones. */
  CU_ASSERT_TRUE(kc_spsc_pop(&ring, &w));
  CU_ASSERT_EQUAL(w, v);
  v = 42;
  CU_ASSERT_TRUE(kc_spsc_push(&ring, &v));
  CU_ASSERT_TRUE(t_u64_pop(&ring, &w));
  CU_ASSERT_EQUAL(w, 42);
  CU_ASSERT_FALSE(t_u64_pop(&ring, &w));
  for (int i = 0; i < 4; i++) CU_ASSERT_TRUE(t_u64_push(&ring, &v));
  CU_ASSERT_FALSE(t_u64_push(&ring, &v));
  expect_counters(&ring, 6, 2, 1);
  kc_spsc_destroy(&ring);

  CU_ASSERT_EQUAL_FATAL(t_rec24_init(&ring, 2, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_spsc_elem_size(&ring), sizeof(rec24));
  for (uint32_t i = 0; i < 50; i++) {
    rec24 in, out;
    memset(&in, 0, sizeof in);
    memset(&out, 0xff, sizeof out);
    in.a = (uint64_t)i << 40;
    in.b = i * 3;
    in.c = (uint16_t)(i + 1);
    in.pad[9] = (uint8_t)i;
    CU_ASSERT_TRUE(t_rec24_push(&ring, &in));
    CU_ASSERT_TRUE(t_rec24_pop(&ring, &out));
    CU_ASSERT_EQUAL(memcmp(&in, &out, sizeof in), 0);
  }
  kc_spsc_destroy(&ring);
}

static CU_TestInfo init_tests[] = {
    {"rejects bad arguments with a message", test_init_rejects_bad_arguments},
    {"reports its shape, empty", test_init_reports_shape},
    {"producer, consumer and config fields on separate lines", test_layout_separates_sides},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo edge_tests[] = {
    {"FIFO, full refuses and counts, empty pops fail", test_fifo_full_and_empty},
    {"capacity 1", test_capacity_one},
    {"odd element sizes", test_odd_element_size},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo batch_tests[] = {
    {"partial batches, copies split at the buffer end", test_batch_partial_and_split},
    {"batches and single ops interleaved keep order and size", test_batch_and_single_interleave},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo wrap_tests[] = {
    {"ring index wraps thousands of laps", test_ring_index_wraps_many_times},
    {"64-bit indices cross 2^64", test_indices_cross_uint64_wrap},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo typed_tests[] = {
    {"typed wrappers over the same ring", test_typed_wrappers},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"spsc_init", NULL, NULL, NULL, NULL, init_tests},
    {"spsc_edges", NULL, NULL, NULL, NULL, edge_tests},
    {"spsc_batch", NULL, NULL, NULL, NULL, batch_tests},
    {"spsc_wrap", NULL, NULL, NULL, NULL, wrap_tests},
    {"spsc_typed", NULL, NULL, NULL, NULL, typed_tests},
    CU_SUITE_INFO_NULL,
};
