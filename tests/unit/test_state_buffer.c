/* Single-threaded contract of the state buffer: ids and their generations,
 * capacity, back/front visibility across swaps, exact metrics, and every
 * failure path keeping the stale front and losing nothing. The threaded
 * handoff and the long random equivalence runs live in tests/stress. */
#include <stdio.h>
#include <string.h>

#include "keel_test.h"
#include "sync/state_buffer.h"

#define RS 64u

typedef struct rec64 {
  uint64_t v[8];
} rec64;

static rec64 rec_of(uint64_t x) {
  rec64 r;
  for (int i = 0; i < 8; i++) r.v[i] = x;
  return r;
}

static kc_state_buffer *make_buf(uint32_t capacity, kc_state_copy_mode mode) {
  kc_state_config cfg = {.record_size = RS, .capacity = capacity, .copy_mode = mode, .name = "test"};
  kc_state_buffer *buf = NULL;
  kc_err err;
  keel_result r = kc_state_init(&buf, &cfg, &err);
  CU_ASSERT_EQUAL_FATAL(r, KEEL_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
  return buf;
}

static uint64_t front_value(kc_state_buffer *buf, kc_state_id id) {
  rec64 r;
  if (kc_state_read(buf, id, &r, NULL) != KEEL_OK) return UINT64_MAX;
  return r.v[0];
}

/* The documented hash format, computed independently of the implementation. */
static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

/* ---- init --------------------------------------------------------------- */

static void test_init_rejects_bad_config(void) {
  kc_state_buffer *buf = (kc_state_buffer *)&buf;
  kc_err err;
  CU_ASSERT_EQUAL(kc_state_init(&buf, NULL, &err), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_PTR_NULL(buf);
  kc_state_config cfg = {.record_size = 0, .capacity = 8, .name = "bad"};
  CU_ASSERT_EQUAL(kc_state_init(&buf, &cfg, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "'bad': record_size 0");
  cfg.record_size = KC_STATE_RECORD_MAX + 1;
  CU_ASSERT_EQUAL(kc_state_init(&buf, &cfg, &err), KEEL_ERR_INVALID_ARGUMENT);
  cfg.record_size = 16;
  cfg.capacity = 0;
  CU_ASSERT_EQUAL(kc_state_init(&buf, &cfg, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "capacity");
  cfg.capacity = 8;
  cfg.copy_mode = (kc_state_copy_mode)7;
  CU_ASSERT_EQUAL(kc_state_init(&buf, &cfg, &err), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_PTR_NULL(buf);
  kc_state_destroy(NULL);
}

static void test_init_empty(void) {
  kc_state_buffer *buf = make_buf(16, KC_STATE_COPY_DIRTY);
  CU_ASSERT_EQUAL(kc_state_record_size(buf), RS);
  CU_ASSERT_EQUAL(kc_state_capacity(buf), 16);
  CU_ASSERT_EQUAL(kc_state_back_count(buf), 0);
  CU_ASSERT_EQUAL(kc_state_front_count(buf), 0);
  CU_ASSERT_EQUAL(kc_state_dirty_count(buf), 0);
  CU_ASSERT_EQUAL(kc_state_front_hash(buf), 0xcbf29ce484222325ull);
  uint32_t cur = 0;
  CU_ASSERT_FALSE(kc_state_front_next(buf, &cur, NULL, NULL));
  kc_state_metrics m;
  kc_state_get_metrics(buf, &m);
  CU_ASSERT_EQUAL(m.swaps, 0);
  CU_ASSERT_EQUAL(m.dirty_ratio_samples, 0);
  CU_ASSERT_EQUAL(m.dirty_ratio_avg, 0.0);
  kc_state_destroy(buf);
}

/* ---- ids ---------------------------------------------------------------- */

static void test_id_layout(void) {
  CU_ASSERT_EQUAL(kc_state_id_make(0, 1), 1u);
  CU_ASSERT_EQUAL(kc_state_id_make(1, 1), (1ull << 21) | 1u);
  kc_state_id top = kc_state_id_make(UINT32_MAX, KC_STATE_GEN_MASK);
  CU_ASSERT_EQUAL(top, (1ull << 53) - 1); /* Number.MAX_SAFE_INTEGER */
  CU_ASSERT_EQUAL(kc_state_id_index(top), UINT32_MAX);
  CU_ASSERT_EQUAL(kc_state_id_generation(top), KC_STATE_GEN_MASK);
  /* Ascending slot order is ascending id order whatever the generations. */
  CU_ASSERT_TRUE(kc_state_id_make(4, KC_STATE_GEN_MASK) < kc_state_id_make(5, 1));

  kc_state_buffer *buf = make_buf(4, KC_STATE_COPY_DIRTY);
  kc_state_id a, b;
  CU_ASSERT_EQUAL(kc_state_create(buf, NULL, &a, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_state_create(buf, NULL, &b, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(a, kc_state_id_make(0, 1));
  CU_ASSERT_EQUAL(b, kc_state_id_make(1, 1));
  kc_state_destroy(buf);
}

static void test_stale_and_foreign_ids(void) {
  kc_state_buffer *buf = make_buf(4, KC_STATE_COPY_DIRTY);
  kc_err err;
  rec64 r = rec_of(7);
  void *p;
  const void *cp;
  kc_state_id id;
  CU_ASSERT_EQUAL(kc_state_create(buf, &r, &id, NULL), KEEL_OK);

  /* Never ids of this buffer. */
  CU_ASSERT_EQUAL(kc_state_write(buf, KC_STATE_ID_NONE, &r, &err), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_EQUAL(kc_state_write(buf, kc_state_id_make(4, 1), &r, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "not an id of this buffer");
  CU_ASSERT_EQUAL(kc_state_write(buf, id | (1ull << 53), &r, &err), KEEL_ERR_INVALID_ARGUMENT);
  /* A slot never used and a wrong generation are stale, not foreign. */
  CU_ASSERT_EQUAL(kc_state_write(buf, kc_state_id_make(3, 1), &r, &err), KEEL_ERR_STALE_ID);
  CU_ASSERT_EQUAL(kc_state_write(buf, kc_state_id_make(0, 2), &r, &err), KEEL_ERR_STALE_ID);

  /* Created but not yet published: live on the back, stale on the front. */
  CU_ASSERT_EQUAL(kc_state_read(buf, id, &r, &err), KEEL_ERR_STALE_ID);
  KT_ASSERT_CONTAINS(err.msg, "front side");
  CU_ASSERT_EQUAL(kc_state_front_get(buf, id, &cp, NULL), KEEL_ERR_STALE_ID);
  CU_ASSERT_PTR_NULL(cp);
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(front_value(buf, id), 7);

  /* Removed: stale on the back at once, still readable on the front until
   * the next swap publishes the removal. */
  CU_ASSERT_EQUAL(kc_state_remove(buf, id, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_state_write(buf, id, &r, &err), KEEL_ERR_STALE_ID);
  KT_ASSERT_CONTAINS(err.msg, "back side");
  CU_ASSERT_EQUAL(kc_state_write_field(buf, id, 0, &r, 8, NULL), KEEL_ERR_STALE_ID);
  CU_ASSERT_EQUAL(kc_state_back_get(buf, id, &p, NULL), KEEL_ERR_STALE_ID);
  CU_ASSERT_PTR_NULL(p);
  CU_ASSERT_EQUAL(kc_state_back_peek(buf, id, &cp, NULL), KEEL_ERR_STALE_ID);
  CU_ASSERT_EQUAL(kc_state_remove(buf, id, NULL), KEEL_ERR_STALE_ID);
  CU_ASSERT_EQUAL(front_value(buf, id), 7);
  CU_ASSERT_EQUAL(kc_state_front_count(buf), 1);
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_state_read(buf, id, &r, NULL), KEEL_ERR_STALE_ID);
  CU_ASSERT_EQUAL(kc_state_front_count(buf), 0);
  kc_state_destroy(buf);
}

static void test_capacity_full(void) {
  enum { CAP = 8 };
  kc_state_buffer *buf = make_buf(CAP, KC_STATE_COPY_DIRTY);
  kc_state_id ids[CAP], extra = 99;
  kc_err err;
  for (int i = 0; i < CAP; i++) CU_ASSERT_EQUAL(kc_state_create(buf, NULL, &ids[i], NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_state_create(buf, NULL, &extra, &err), KEEL_ERR_FULL);
  CU_ASSERT_EQUAL(extra, KC_STATE_ID_NONE);
  KT_ASSERT_CONTAINS(err.msg, "all 8 records are in use");
  CU_ASSERT_EQUAL(kc_state_back_count(buf), CAP);
  CU_ASSERT_EQUAL(kc_state_remove(buf, ids[5], NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_state_create(buf, NULL, &extra, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_state_id_index(extra), 5);
  CU_ASSERT_EQUAL(kc_state_id_generation(extra), 2);
  CU_ASSERT_EQUAL(kc_state_create(buf, NULL, &extra, NULL), KEEL_ERR_FULL);
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_state_front_count(buf), CAP);
  kc_state_destroy(buf);
}

static void test_generation_reuse_fifo(void) {
  kc_state_buffer *buf = make_buf(4, KC_STATE_COPY_DIRTY);
  kc_state_id a, b, c, d, e, f;
  kc_state_create(buf, NULL, &a, NULL); /* slot 0 */
  kc_state_create(buf, NULL, &b, NULL); /* slot 1 */
  kc_state_create(buf, NULL, &c, NULL); /* slot 2 */
  CU_ASSERT_EQUAL(kc_state_remove(buf, c, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_state_remove(buf, a, NULL), KEEL_OK);
  /* Freed slots come back oldest-freed first, before unused slot 3. */
  kc_state_create(buf, NULL, &d, NULL);
  kc_state_create(buf, NULL, &e, NULL);
  kc_state_create(buf, NULL, &f, NULL);
  CU_ASSERT_EQUAL(d, kc_state_id_make(2, 2));
  CU_ASSERT_EQUAL(e, kc_state_id_make(0, 2));
  CU_ASSERT_EQUAL(f, kc_state_id_make(3, 1));
  CU_ASSERT_EQUAL(kc_state_write(buf, a, &(rec64){{0}}, NULL), KEEL_ERR_STALE_ID);
  CU_ASSERT_EQUAL(kc_state_write(buf, e, &(rec64){{0}}, NULL), KEEL_OK);
  (void)b;
  kc_state_destroy(buf);
}

static void test_generation_wrap_skips_zero(void) {
  kc_state_buffer *buf = make_buf(1, KC_STATE_COPY_DIRTY);
  kc_state_id first = 0, id = 0;
  int zero_seen = 0;
  for (uint32_t g = 1; g <= KC_STATE_GEN_MASK; g++) {
    kc_state_create(buf, NULL, &id, NULL);
    if (g == 1) first = id;
    if (id == 0 || kc_state_id_generation(id) != g) zero_seen++;
    kc_state_remove(buf, id, NULL);
  }
  CU_ASSERT_EQUAL(zero_seen, 0);
  CU_ASSERT_EQUAL(kc_state_id_generation(id), KC_STATE_GEN_MASK);
  CU_ASSERT_EQUAL(kc_state_create(buf, NULL, &id, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_state_id_generation(id), 1);
  CU_ASSERT_NOT_EQUAL(id, 0);
  /* The documented limit: after 2^21-1 reuses of one slot an old id aliases. */
  CU_ASSERT_EQUAL(id, first);
  kc_state_destroy(buf);
}

/* The world's mode: its script worker reserves ids, the main thread creates
 * the records at exactly those ids. */
static void test_external_ids_create_at(void) {
  kc_state_config cfg = {.record_size = RS, .capacity = 8, .external_ids = true, .name = "ext"};
  kc_state_buffer *buf;
  CU_ASSERT_EQUAL_FATAL(kc_state_init(&buf, &cfg, NULL), KEEL_OK);
  kc_err err;
  kc_state_id own;
  CU_ASSERT_EQUAL(kc_state_create(buf, NULL, &own, &err), KEEL_ERR_WRONG_STATE);
  KT_ASSERT_CONTAINS(err.msg, "use kc_state_create_at");

  rec64 r = rec_of(3);
  kc_state_id a = kc_state_id_make(5, 7);
  CU_ASSERT_EQUAL(kc_state_create_at(buf, a, &r, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_state_back_count(buf), 1);
  CU_ASSERT_EQUAL(kc_state_create_at(buf, kc_state_id_make(5, 8), &r, &err), KEEL_ERR_WRONG_STATE);
  KT_ASSERT_CONTAINS(err.msg, "slot 5 is live with generation 7");
  CU_ASSERT_EQUAL(kc_state_create_at(buf, kc_state_id_make(8, 1), &r, NULL), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_EQUAL(kc_state_create_at(buf, kc_state_id_make(2, 0), &r, NULL), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_EQUAL(kc_state_create_at(buf, KC_STATE_ID_NONE, &r, NULL), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(front_value(buf, a), 3);
  uint32_t cur = 0;
  kc_state_id seen;
  CU_ASSERT_TRUE(kc_state_front_next(buf, &cur, &seen, NULL));
  CU_ASSERT_EQUAL(seen, a);
  CU_ASSERT_FALSE(kc_state_front_next(buf, &cur, &seen, NULL));

  /* Removed: the same id may not come back, the next generation may, and a
   * remove/recreate cycle never overruns the internal free list. */
  CU_ASSERT_EQUAL(kc_state_remove(buf, a, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_state_create_at(buf, a, &r, &err), KEEL_ERR_STALE_ID);
  KT_ASSERT_CONTAINS(err.msg, "needs a new generation");
  kc_state_id b = a;
  for (uint32_t g = 8; g < 8 + 100; g++) {
    b = kc_state_id_make(5, g);
    CU_ASSERT_EQUAL(kc_state_create_at(buf, b, NULL, NULL), KEEL_OK);
    if (g < 8 + 99) CU_ASSERT_EQUAL(kc_state_remove(buf, b, NULL), KEEL_OK);
  }
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK);
  rec64 got;
  CU_ASSERT_EQUAL(kc_state_read(buf, a, &got, NULL), KEEL_ERR_STALE_ID);
  CU_ASSERT_EQUAL(front_value(buf, b), 0);
  CU_ASSERT_EQUAL(kc_state_front_count(buf), 1);
  kc_state_destroy(buf);

  /* And the other way round. */
  buf = make_buf(4, KC_STATE_COPY_DIRTY);
  CU_ASSERT_EQUAL(kc_state_create_at(buf, kc_state_id_make(0, 1), NULL, &err), KEEL_ERR_WRONG_STATE);
  KT_ASSERT_CONTAINS(err.msg, "use kc_state_create");
  kc_state_destroy(buf);
}

/* ---- access ------------------------------------------------------------- */

static void test_write_paths_reach_front_at_swap(void) {
  kc_state_buffer *buf = make_buf(8, KC_STATE_COPY_DIRTY);
  kc_state_id a, b, c;
  rec64 r = rec_of(1);
  kc_state_create(buf, &r, &a, NULL);
  kc_state_create(buf, &r, &b, NULL);
  kc_state_create(buf, NULL, &c, NULL);
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK);

  r = rec_of(2);
  CU_ASSERT_EQUAL(kc_state_write(buf, a, &r, NULL), KEEL_OK);
  uint64_t three = 3;
  CU_ASSERT_EQUAL(kc_state_write_field(buf, b, 5 * sizeof(uint64_t), &three, sizeof three, NULL), KEEL_OK);
  rec64 *p = NULL;
  CU_ASSERT_EQUAL(kc_state_back_get(buf, c, (void **)&p, NULL), KEEL_OK);
  p->v[7] = 4;
  CU_ASSERT_EQUAL(kc_state_dirty_count(buf), 3);
  const rec64 *peek;
  CU_ASSERT_EQUAL(kc_state_back_peek(buf, a, (const void **)&peek, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(peek->v[3], 2);
  CU_ASSERT_EQUAL(kc_state_dirty_count(buf), 3);

  /* Nothing reaches the front before the swap. */
  CU_ASSERT_EQUAL(front_value(buf, a), 1);
  rec64 got;
  kc_state_read(buf, b, &got, NULL);
  CU_ASSERT_EQUAL(got.v[5], 1);
  kc_state_read(buf, c, &got, NULL);
  CU_ASSERT_EQUAL(got.v[7], 0);

  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_state_dirty_count(buf), 0);
  kc_state_read(buf, a, &got, NULL);
  CU_ASSERT_EQUAL(memcmp(&got, &r, sizeof got), 0);
  kc_state_read(buf, b, &got, NULL);
  CU_ASSERT_EQUAL(got.v[4], 1);
  CU_ASSERT_EQUAL(got.v[5], 3);
  const rec64 *fp;
  CU_ASSERT_EQUAL(kc_state_front_get(buf, c, (const void **)&fp, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(fp->v[7], 4);
  CU_ASSERT_EQUAL(fp->v[6], 0);
  kc_state_destroy(buf);
}

static void test_write_field_bounds(void) {
  kc_state_buffer *buf = make_buf(2, KC_STATE_COPY_DIRTY);
  kc_state_id id;
  kc_err err;
  kc_state_create(buf, NULL, &id, NULL);
  char bytes[RS + 1] = {0};
  CU_ASSERT_EQUAL(kc_state_write_field(buf, id, 0, bytes, RS, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_state_write_field(buf, id, RS, bytes, 0, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_state_write_field(buf, id, 1, bytes, RS, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "leaves the 64-byte record");
  CU_ASSERT_EQUAL(kc_state_write_field(buf, id, RS + 1, bytes, 0, NULL), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_EQUAL(kc_state_write_field(buf, id, SIZE_MAX, bytes, 2, NULL), KEEL_ERR_INVALID_ARGUMENT);
  kc_state_destroy(buf);
}

static void test_swap_publishes_remove_and_reuse_in_one_frame(void) {
  kc_state_buffer *buf = make_buf(2, KC_STATE_COPY_DIRTY);
  kc_state_id old_id, new_id;
  rec64 r = rec_of(10);
  kc_state_create(buf, &r, &old_id, NULL);
  kc_state_swap(buf, NULL);
  /* Same slot removed and reused before the swap: one dirty entry carries the
   * new generation and the new bytes. */
  kc_state_remove(buf, old_id, NULL);
  r = rec_of(20);
  kc_state_create(buf, &r, &new_id, NULL);
  CU_ASSERT_EQUAL(kc_state_id_index(new_id), kc_state_id_index(old_id));
  CU_ASSERT_EQUAL(kc_state_dirty_count(buf), 1);
  CU_ASSERT_EQUAL(front_value(buf, old_id), 10);
  CU_ASSERT_EQUAL(kc_state_read(buf, new_id, &r, NULL), KEEL_ERR_STALE_ID);
  kc_state_swap(buf, NULL);
  CU_ASSERT_EQUAL(kc_state_read(buf, old_id, &r, NULL), KEEL_ERR_STALE_ID);
  CU_ASSERT_EQUAL(front_value(buf, new_id), 20);
  CU_ASSERT_EQUAL(kc_state_front_count(buf), 1);
  kc_state_destroy(buf);
}

static void test_front_iteration_and_hash(void) {
  kc_state_buffer *buf = make_buf(8, KC_STATE_COPY_DIRTY);
  kc_state_id ids[5];
  for (int i = 0; i < 5; i++) {
    rec64 r = rec_of(100 + (uint64_t)i);
    kc_state_create(buf, &r, &ids[i], NULL);
  }
  kc_state_remove(buf, ids[1], NULL);
  kc_state_remove(buf, ids[3], NULL);
  rec64 r = rec_of(500);
  kc_state_id reused;
  kc_state_create(buf, &r, &reused, NULL); /* slot 1, generation 2 */
  kc_state_swap(buf, NULL);

  const kc_state_id want[] = {ids[0], reused, ids[2], ids[4]};
  const uint64_t want_v[] = {100, 500, 102, 104};
  uint64_t h = 0xcbf29ce484222325ull;
  kc_state_read_begin(buf);
  uint32_t cur = 0, n = 0;
  kc_state_id id, prev = 0;
  const void *rec;
  while (kc_state_front_next(buf, &cur, &id, &rec)) {
    CU_ASSERT_TRUE_FATAL(n < 4);
    CU_ASSERT_EQUAL(id, want[n]);
    CU_ASSERT_TRUE(id > prev);
    CU_ASSERT_EQUAL(((const rec64 *)rec)->v[0], want_v[n]);
    prev = id;
    n++;
    uint8_t le[8];
    for (int b = 0; b < 8; b++) le[b] = (uint8_t)(id >> (8 * b));
    h = fnv_bytes(h, le, 8);
    h = fnv_bytes(h, rec, RS);
  }
  CU_ASSERT_EQUAL(n, 4);
  CU_ASSERT_EQUAL(kc_state_front_count(buf), 4);
  CU_ASSERT_EQUAL(kc_state_front_hash(buf), h);
  /* A walk may start at any slot below front_slots (parallel Extract ranges). */
  CU_ASSERT_EQUAL(kc_state_front_slots(buf), 5);
  cur = 2;
  CU_ASSERT_TRUE(kc_state_front_next(buf, &cur, &id, NULL));
  CU_ASSERT_EQUAL(id, ids[2]);
  CU_ASSERT_TRUE(kc_state_front_next(buf, &cur, &id, NULL));
  CU_ASSERT_EQUAL(id, ids[4]);
  CU_ASSERT_FALSE(kc_state_front_next(buf, &cur, &id, NULL));
  CU_ASSERT_EQUAL(cur, 5);
  kc_state_read_end(buf);

  /* A buffer reaching the same state another way (full copy, other order of
   * writes) hashes the same; one byte apart hashes differently. */
  kc_state_buffer *other = make_buf(8, KC_STATE_COPY_FULL);
  kc_state_id o[5];
  for (int i = 0; i < 5; i++) kc_state_create(other, NULL, &o[i], NULL);
  kc_state_remove(other, o[3], NULL);
  kc_state_remove(other, o[1], NULL);
  kc_state_swap(other, NULL);
  kc_state_id o_reused;
  kc_state_create(other, NULL, &o_reused, NULL); /* slot 3 first (FIFO), then 1 */
  kc_state_remove(other, o_reused, NULL);
  kc_state_create(other, NULL, &o_reused, NULL);
  CU_ASSERT_EQUAL(o_reused, reused);
  for (int i = 0; i < 5; i += 2) {
    rec64 v = rec_of(100 + (uint64_t)i);
    kc_state_write(other, o[i], &v, NULL);
  }
  kc_state_write(other, o_reused, &r, NULL);
  kc_state_swap(other, NULL);
  CU_ASSERT_EQUAL(kc_state_front_hash(other), h);
  uint8_t one = 1;
  kc_state_write_field(other, o[4], 63, &one, 1, NULL);
  kc_state_swap(other, NULL);
  CU_ASSERT_NOT_EQUAL(kc_state_front_hash(other), h);
  kc_state_destroy(other);
  kc_state_destroy(buf);
}

/* ---- swaps and metrics -------------------------------------------------- */

static void test_swap_skipped_when_clean(void) {
  kc_state_buffer *buf = make_buf(4, KC_STATE_COPY_DIRTY);
  kc_state_metrics m;
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_state_swap_mode(buf, KC_STATE_COPY_FULL, NULL), KEEL_OK);
  kc_state_get_metrics(buf, &m);
  CU_ASSERT_EQUAL(m.swaps, 0);
  CU_ASSERT_EQUAL(m.skipped_swaps, 2);
  kc_state_id id;
  kc_state_create(buf, NULL, &id, NULL);
  kc_state_swap(buf, NULL);
  kc_state_swap(buf, NULL);
  kc_state_get_metrics(buf, &m);
  CU_ASSERT_EQUAL(m.swaps, 1);
  CU_ASSERT_EQUAL(m.skipped_swaps, 3);
  CU_ASSERT_EQUAL(m.dirty_ratio_samples, 1);
  CU_ASSERT_EQUAL(kc_state_swap_mode(buf, (kc_state_copy_mode)9, NULL), KEEL_ERR_INVALID_ARGUMENT);
  kc_state_destroy(buf);
}

static void write_n(kc_state_buffer *buf, const kc_state_id *ids, int n, uint64_t v) {
  rec64 r = rec_of(v);
  for (int i = 0; i < n; i++) CU_ASSERT_EQUAL(kc_state_write(buf, ids[i], &r, NULL), KEEL_OK);
}

static void test_metrics_exact(void) {
  enum { N = 64 };
  kc_state_buffer *buf = make_buf(N, KC_STATE_COPY_DIRTY);
  kc_state_id ids[N];
  kc_state_metrics m;
  for (int i = 0; i < N; i++) kc_state_create(buf, NULL, &ids[i], NULL);
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK); /* 64/64 = 1     copied 64 */
  write_n(buf, ids, 16, 1);
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK); /* 16/64 = 0.25  copied 16 */
  write_n(buf, ids + 16, 8, 2);
  write_n(buf, ids + 16, 8, 3); /* same keys twice: still 8 dirty */
  CU_ASSERT_EQUAL(kc_state_dirty_count(buf), 8);
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK); /* 8/64 = 0.125  copied 8 */
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK); /* skipped */
  for (int i = 32; i < 64; i++) kc_state_remove(buf, ids[i], NULL);
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK); /* 32/32 = 1     copied 0 (removals carry no bytes) */
  write_n(buf, ids, 2, 4);
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK); /* 2/32 = 0.0625 copied 2 */
  write_n(buf, ids + 5, 1, 5);
  CU_ASSERT_EQUAL(kc_state_swap_mode(buf, KC_STATE_COPY_FULL, NULL), KEEL_OK); /* 1/32 copied 64 slots */

  kc_state_get_metrics(buf, &m);
  CU_ASSERT_EQUAL(m.swaps, 6);
  CU_ASSERT_EQUAL(m.skipped_swaps, 1);
  CU_ASSERT_EQUAL(m.records_copied, 64 + 16 + 8 + 0 + 2 + 64);
  CU_ASSERT_EQUAL(m.errors, 0);
  CU_ASSERT_EQUAL(m.timeouts, 0);
  CU_ASSERT_EQUAL(m.faults, 0);
  CU_ASSERT_EQUAL(m.dirty_ratio_samples, 6);
  /* (1 + 0.25 + 0.125 + 1 + 0.0625 + 0.03125) / 6, all terms exact in binary. */
  CU_ASSERT_EQUAL(m.dirty_ratio_avg, 2.46875 / 6.0);
  CU_ASSERT_EQUAL(m.live_back, 32);
  CU_ASSERT_EQUAL(m.live_front, 32);
  CU_ASSERT_EQUAL(m.dirty, 0);

  /* A failed swap publishes nothing and adds no ratio sample. */
  write_n(buf, ids, 32, 6);
  kc_state_inject_fault(buf, KC_STATE_FAULT_TIMEOUT);
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_ERR_TIMEOUT);
  kc_state_get_metrics(buf, &m);
  CU_ASSERT_EQUAL(m.swaps, 6);
  CU_ASSERT_EQUAL(m.dirty_ratio_samples, 6);
  CU_ASSERT_EQUAL(m.dirty_ratio_avg, 2.46875 / 6.0);
  CU_ASSERT_EQUAL(m.timeouts, 1);
  CU_ASSERT_EQUAL(m.faults, 1);
  CU_ASSERT_EQUAL(m.dirty, 32);
  kc_state_destroy(buf);
}

static void test_dirty_ratio_window_is_last_60(void) {
  enum { N = 64, SWAPS = 70 };
  kc_state_buffer *buf = make_buf(N, KC_STATE_COPY_DIRTY);
  kc_state_id ids[N];
  for (int i = 0; i < N; i++) kc_state_create(buf, NULL, &ids[i], NULL);
  kc_state_swap(buf, NULL); /* swap 1: ratio 1 */
  uint64_t dirty_sum_last60 = 0, copied = N;
  for (int s = 2; s <= SWAPS; s++) {
    int d = (s * 7) % N + 1; /* 1..64 records */
    write_n(buf, ids, d, (uint64_t)s);
    CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK);
    if (s > SWAPS - 60) dirty_sum_last60 += (uint64_t)d;
    copied += (uint64_t)d;
  }
  kc_state_metrics m;
  kc_state_get_metrics(buf, &m);
  CU_ASSERT_EQUAL(m.swaps, SWAPS);
  CU_ASSERT_EQUAL(m.records_copied, copied);
  CU_ASSERT_EQUAL(m.dirty_ratio_samples, 60);
  /* Swaps 11..70 by hand: 7 is odd, so 7s mod 64 over 64 consecutive s takes
   * every residue once, and sum (r+1) over all residues is 64*65/2 = 2080.
   * 11..70 is that period minus s = 71..74, residues 49, 56, 63, 6, which
   * weigh 50+57+64+7 = 178: 2080 - 178 = 1902. Each ratio is d/64, exact in
   * binary, so the mean is exactly (1902/64)/60 = 0.4953125. */
  CU_ASSERT_EQUAL(dirty_sum_last60, 1902);
  CU_ASSERT_EQUAL(m.dirty_ratio_avg, (1902.0 / 64.0) / 60.0);
  kc_state_destroy(buf);
}

static void test_dirty_ratio_capped_at_one(void) {
  kc_state_buffer *buf = make_buf(8, KC_STATE_COPY_DIRTY);
  kc_state_id ids[4];
  for (int i = 0; i < 4; i++) kc_state_create(buf, NULL, &ids[i], NULL);
  kc_state_swap(buf, NULL); /* 4/4 = 1 */
  for (int i = 1; i < 4; i++) kc_state_remove(buf, ids[i], NULL);
  write_n(buf, ids, 1, 9);
  kc_state_swap(buf, NULL); /* 4 dirty over 1 live: capped to 1 */
  kc_state_remove(buf, ids[0], NULL);
  kc_state_swap(buf, NULL); /* 1 dirty over 0 live: 1 */
  kc_state_id id;
  kc_state_create(buf, NULL, &id, NULL);
  kc_state_create(buf, NULL, &id, NULL);
  kc_state_swap(buf, NULL); /* 2 created over 2 live: 1 */
  write_n(buf, &id, 1, 1);
  kc_state_swap(buf, NULL); /* 1/2 */
  kc_state_metrics m;
  kc_state_get_metrics(buf, &m);
  CU_ASSERT_EQUAL(m.dirty_ratio_samples, 5);
  CU_ASSERT_EQUAL(m.dirty_ratio_avg, 4.5 / 5.0);
  CU_ASSERT_EQUAL(m.records_copied, 4 + 1 + 0 + 2 + 1);
  kc_state_destroy(buf);
}

/* ---- failures keep the stale front -------------------------------------- */

typedef struct frame_fixture {
  kc_state_buffer *buf;
  kc_state_id ids[8];
  kc_state_id created;
  uint64_t hash_published;
} frame_fixture;

/* Publishes 8 records of value i, then stages a frame with every kind of
 * change (writes, a removal, a create) that a failed swap must not lose. */
static void fixture_setup(frame_fixture *fx) {
  fx->buf = make_buf(16, KC_STATE_COPY_DIRTY);
  for (int i = 0; i < 8; i++) {
    rec64 r = rec_of((uint64_t)i);
    kc_state_create(fx->buf, &r, &fx->ids[i], NULL);
  }
  CU_ASSERT_EQUAL(kc_state_swap(fx->buf, NULL), KEEL_OK);
  fx->hash_published = kc_state_front_hash(fx->buf);
  write_n(fx->buf, fx->ids, 3, 77);
  kc_state_remove(fx->buf, fx->ids[7], NULL);
  rec64 r = rec_of(88);
  kc_state_create(fx->buf, &r, &fx->created, NULL);
}

static void fixture_assert_stale(frame_fixture *fx) {
  CU_ASSERT_EQUAL(kc_state_front_hash(fx->buf), fx->hash_published);
  CU_ASSERT_EQUAL(kc_state_front_count(fx->buf), 8);
  for (int i = 0; i < 8; i++) CU_ASSERT_EQUAL(front_value(fx->buf, fx->ids[i]), (uint64_t)i);
  rec64 r;
  CU_ASSERT_EQUAL(kc_state_read(fx->buf, fx->created, &r, NULL), KEEL_ERR_STALE_ID);
  CU_ASSERT_EQUAL(kc_state_dirty_count(fx->buf), 4); /* 3 writes + slot 7, removed then reused */
}

static void fixture_assert_published(frame_fixture *fx) {
  CU_ASSERT_EQUAL(kc_state_front_count(fx->buf), 8);
  for (int i = 0; i < 7; i++) CU_ASSERT_EQUAL(front_value(fx->buf, fx->ids[i]), i < 3 ? 77u : (uint64_t)i);
  rec64 r;
  CU_ASSERT_EQUAL(kc_state_read(fx->buf, fx->ids[7], &r, NULL), KEEL_ERR_STALE_ID);
  CU_ASSERT_EQUAL(front_value(fx->buf, fx->created), 88);
  CU_ASSERT_EQUAL(kc_state_dirty_count(fx->buf), 0);
}

static void check_fault(unsigned fault, keel_result want, uint64_t errors, uint64_t timeouts, const char *msg) {
  frame_fixture fx;
  fixture_setup(&fx);
  kc_err err;
  kc_state_inject_fault(fx.buf, fault);
  CU_ASSERT_EQUAL(kc_state_swap(fx.buf, &err), want);
  KT_ASSERT_CONTAINS(err.msg, msg);
  KT_ASSERT_CONTAINS(err.msg, "front kept stale");
  fixture_assert_stale(&fx);
  kc_state_metrics m;
  kc_state_get_metrics(fx.buf, &m);
  CU_ASSERT_EQUAL(m.swaps, 1);
  CU_ASSERT_EQUAL(m.errors, errors);
  CU_ASSERT_EQUAL(m.timeouts, timeouts);
  CU_ASSERT_EQUAL(m.faults, 1);
  CU_ASSERT_EQUAL(m.records_copied, 8);
  /* Fired once: the next swap publishes the whole staged frame. */
  CU_ASSERT_EQUAL(kc_state_swap(fx.buf, &err), KEEL_OK);
  fixture_assert_published(&fx);
  kc_state_get_metrics(fx.buf, &m);
  CU_ASSERT_EQUAL(m.swaps, 2);
  CU_ASSERT_EQUAL(m.faults, 1);
  CU_ASSERT_EQUAL(m.records_copied, 8 + 4);
  kc_state_destroy(fx.buf);
}

static void test_fault_alloc(void) {
  check_fault(KC_STATE_FAULT_ALLOC, KEEL_ERR_OUT_OF_MEMORY, 1, 0, "failed to allocate");
}
static void test_fault_validation(void) {
  check_fault(KC_STATE_FAULT_VALIDATION, KEEL_ERR_INVALID_ARGUMENT, 1, 0, "validation failed");
}
static void test_fault_timeout(void) { check_fault(KC_STATE_FAULT_TIMEOUT, KEEL_ERR_TIMEOUT, 0, 1, "timed out"); }

static void test_faults_fire_in_stage_order_and_survive_skips(void) {
  kc_state_buffer *buf = make_buf(4, KC_STATE_COPY_FULL);
  kc_state_inject_fault(buf, KC_STATE_FAULT_TIMEOUT | KC_STATE_FAULT_ALLOC | KC_STATE_FAULT_VALIDATION);
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK); /* clean: skipped, faults stay armed */
  kc_state_id id;
  rec64 r = rec_of(5);
  kc_state_create(buf, &r, &id, NULL);
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_ERR_OUT_OF_MEMORY);
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_ERR_TIMEOUT);
  CU_ASSERT_EQUAL(kc_state_front_count(buf), 0);
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(front_value(buf, id), 5);
  kc_state_metrics m;
  kc_state_get_metrics(buf, &m);
  CU_ASSERT_EQUAL(m.swaps, 1);
  CU_ASSERT_EQUAL(m.skipped_swaps, 1);
  CU_ASSERT_EQUAL(m.errors, 2);
  CU_ASSERT_EQUAL(m.timeouts, 1);
  CU_ASSERT_EQUAL(m.faults, 3);
  kc_state_destroy(buf);
}

typedef struct validate_ctx {
  int calls;
} validate_ctx;

static bool refuse_ff(kc_state_id id, const void *record, void *ctx) {
  (void)id;
  ((validate_ctx *)ctx)->calls++;
  return ((const rec64 *)record)->v[0] != 0xff;
}

static void test_validator_refuses_then_publishes(void) {
  validate_ctx vc = {0};
  kc_state_config cfg = {.record_size = RS, .capacity = 8, .validate = refuse_ff, .validate_ctx = &vc, .name = "v"};
  kc_state_buffer *buf;
  CU_ASSERT_EQUAL_FATAL(kc_state_init(&buf, &cfg, NULL), KEEL_OK);
  kc_state_id ids[4];
  for (int i = 0; i < 4; i++) kc_state_create(buf, NULL, &ids[i], NULL);
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(vc.calls, 4);

  vc.calls = 0;
  kc_state_remove(buf, ids[3], NULL); /* removals are not validated */
  rec64 good = rec_of(1), bad = rec_of(0xff);
  kc_state_write(buf, ids[0], &good, NULL);
  kc_state_write(buf, ids[1], &bad, NULL);
  kc_err err;
  CU_ASSERT_EQUAL(kc_state_swap(buf, &err), KEEL_ERR_INVALID_ARGUMENT);
  char want[64];
  snprintf(want, sizeof want, "record %llu (slot 1) failed validation", (unsigned long long)ids[1]);
  KT_ASSERT_CONTAINS(err.msg, want);
  CU_ASSERT_EQUAL(vc.calls, 2); /* stopped at the first refusal */
  CU_ASSERT_EQUAL(front_value(buf, ids[0]), 0);
  CU_ASSERT_EQUAL(kc_state_front_count(buf), 4);
  /* Still refused until the writer fixes the record. */
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_ERR_INVALID_ARGUMENT);
  kc_state_write(buf, ids[1], &good, NULL);
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(front_value(buf, ids[0]), 1);
  CU_ASSERT_EQUAL(front_value(buf, ids[1]), 1);
  CU_ASSERT_EQUAL(kc_state_front_count(buf), 3);
  kc_state_metrics m;
  kc_state_get_metrics(buf, &m);
  CU_ASSERT_EQUAL(m.errors, 2);
  CU_ASSERT_EQUAL(m.faults, 0);
  CU_ASSERT_EQUAL(m.swaps, 2);
  kc_state_set_validator(buf, NULL, NULL);
  kc_state_write(buf, ids[1], &bad, NULL);
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK);
  kc_state_destroy(buf);
}

/* The lock path itself, on one thread: an open read section is a reader the
 * swap must wait for, so it spends its budget and gives up instead of
 * deadlocking. The cross-thread case is in tests/stress. */
static void test_real_timeout_open_read_section(void) {
  kc_state_buffer *buf = make_buf(4, KC_STATE_COPY_DIRTY);
  kc_state_id id;
  rec64 r = rec_of(1);
  kc_state_create(buf, &r, &id, NULL);
  kc_state_swap(buf, NULL);
  kc_state_set_lock_timeout(buf, 5u * 1000u * 1000u);
  r = rec_of(2);
  kc_state_write(buf, id, &r, NULL);
  kc_err err;
  kc_state_read_begin(buf);
  uint64_t t0 = kt_now_ns();
  CU_ASSERT_EQUAL(kc_state_swap(buf, &err), KEEL_ERR_TIMEOUT);
  uint64_t waited = kt_now_ns() - t0;
  CU_ASSERT_EQUAL(front_value(buf, id), 1);
  kc_state_read_end(buf);
  CU_ASSERT_TRUE(waited >= 5u * 1000u * 1000u);
  KT_ASSERT_CONTAINS(err.msg, "past the 5000000 ns swap budget");
  kc_state_metrics m;
  kc_state_get_metrics(buf, &m);
  CU_ASSERT_EQUAL(m.timeouts, 1);
  CU_ASSERT_EQUAL(m.faults, 0);
  CU_ASSERT_EQUAL(m.errors, 0);
  CU_ASSERT_EQUAL(kc_state_swap(buf, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(front_value(buf, id), 2);
  kc_state_destroy(buf);
}

static CU_TestInfo init_tests[] = {
    {"init rejects a bad config", test_init_rejects_bad_config},
    {"a new buffer is empty on both sides", test_init_empty},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo id_tests[] = {
    {"id layout: gen low 21 bits, index above, < 2^53", test_id_layout},
    {"stale and foreign ids on both sides", test_stale_and_foreign_ids},
    {"capacity full is KEEL_ERR_FULL", test_capacity_full},
    {"freed slots are reused FIFO under a new generation", test_generation_reuse_fifo},
    {"generation wraps to 1, never 0", test_generation_wrap_skips_zero},
    {"external ids: create_at the caller's id", test_external_ids_create_at},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo access_tests[] = {
    {"write, write_field, back_get reach the front at the swap", test_write_paths_reach_front_at_swap},
    {"write_field bounds", test_write_field_bounds},
    {"remove and reuse of a slot in one frame", test_swap_publishes_remove_and_reuse_in_one_frame},
    {"front iteration in id order and its hash", test_front_iteration_and_hash},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo metrics_tests[] = {
    {"a clean swap is skipped and counted", test_swap_skipped_when_clean},
    {"metrics are exact", test_metrics_exact},
    {"dirty ratio averages the last 60 swaps", test_dirty_ratio_window_is_last_60},
    {"dirty ratio is capped at 1 when removals outnumber live records", test_dirty_ratio_capped_at_one},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo failure_tests[] = {
    {"injected alloc failure keeps stale, next swap publishes", test_fault_alloc},
    {"injected validation failure keeps stale, next swap publishes", test_fault_validation},
    {"injected timeout keeps stale, next swap publishes", test_fault_timeout},
    {"armed faults fire in stage order and survive skipped swaps", test_faults_fire_in_stage_order_and_survive_skips},
    {"validator refusal keeps stale until the record is fixed", test_validator_refuses_then_publishes},
    {"real timeout: an open read section outlasts the budget", test_real_timeout_open_read_section},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"state_init", NULL, NULL, NULL, NULL, init_tests},
    {"state_ids", NULL, NULL, NULL, NULL, id_tests},
    {"state_access", NULL, NULL, NULL, NULL, access_tests},
    {"state_metrics", NULL, NULL, NULL, NULL, metrics_tests},
    {"state_failures", NULL, NULL, NULL, NULL, failure_tests},
    CU_SUITE_INFO_NULL,
};
