// keel-test-labels: concurrency
/* The state buffer under load: long seeded random runs where dirty-copy,
 * full-copy and mixed-mode buffers (with random injected faults) must match a
 * plain reference model after every swap, and the DESIGN §3 handoff with one
 * writer swapping while reader threads check every record they see. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keel_test.h"
#include "sync/state_buffer.h"

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* ---- equivalence against a reference model ------------------------------ */

enum { EQ_CAP = 128, EQ_RS = 48, EQ_BUFS = 3 };

typedef struct model_side {
  uint8_t alive[EQ_CAP];
  uint32_t gen[EQ_CAP];
  unsigned char rec[EQ_CAP][EQ_RS];
  uint32_t live;
} model_side;

typedef struct model {
  model_side back;
  model_side front[EQ_BUFS]; /* one per buffer: a failed swap leaves only that one behind */
  bool dirty[EQ_BUFS];       /* something changed since that buffer last published */
  kc_state_id live_ids[EQ_CAP];
  uint32_t nlive;
  kc_state_id last_removed;
} model;

static uint64_t model_hash(const model_side *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint32_t i = 0; i < EQ_CAP; i++) {
    if (!s->alive[i]) continue;
    kc_state_id id = kc_state_id_make(i, s->gen[i]);
    for (int b = 0; b < 8; b++) {
      h ^= (id >> (8 * b)) & 0xffu;
      h *= 0x100000001b3ull;
    }
    for (int j = 0; j < EQ_RS; j++) {
      h ^= s->rec[i][j];
      h *= 0x100000001b3ull;
    }
  }
  return h;
}

/* Counts mismatches instead of asserting each one, so a broken run reports a
 * few lines, not millions. */
static unsigned compare_front(kc_state_buffer *buf, const model_side *m, bool with_hash) {
  unsigned bad = 0;
  if (kc_state_front_count(buf) != m->live) bad++;
  uint32_t cur = 0, n = 0;
  kc_state_id id, prev = 0;
  const void *rec;
  while (kc_state_front_next(buf, &cur, &id, &rec)) {
    uint32_t i = kc_state_id_index(id);
    if (id <= prev || i >= EQ_CAP || !m->alive[i] || m->gen[i] != kc_state_id_generation(id) ||
        memcmp(rec, m->rec[i], EQ_RS) != 0)
      bad++;
    prev = id;
    n++;
  }
  if (n != m->live) bad++;
  for (uint32_t i = 0; i < EQ_CAP; i++) {
    if (m->gen[i] == 0) continue;
    unsigned char out[EQ_RS];
    keel_result r = kc_state_read(buf, kc_state_id_make(i, m->gen[i]), out, NULL);
    if (m->alive[i] ? (r != KEEL_OK || memcmp(out, m->rec[i], EQ_RS) != 0) : r != KEEL_ERR_STALE_ID) bad++;
  }
  if (with_hash && kc_state_front_hash(buf) != model_hash(m)) bad++;
  return bad;
}

static void fill_random(uint64_t *rng, unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)rng_next(rng);
}

static void run_equivalence(uint64_t seed, uint64_t ops) {
  kc_state_buffer *bufs[EQ_BUFS];
  /* 0: DIRTY, 1: FULL, 2: DIRTY by default with a random mode per swap call. */
  const kc_state_copy_mode modes[EQ_BUFS] = {KC_STATE_COPY_DIRTY, KC_STATE_COPY_FULL, KC_STATE_COPY_DIRTY};
  for (int b = 0; b < EQ_BUFS; b++) {
    kc_state_config cfg = {.record_size = EQ_RS, .capacity = EQ_CAP, .copy_mode = modes[b], .name = "eq"};
    CU_ASSERT_EQUAL_FATAL(kc_state_init(&bufs[b], &cfg, NULL), KEEL_OK);
  }
  model *m = calloc(1, sizeof *m);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  uint64_t rng = seed;
  unsigned mismatches = 0, id_mismatches = 0, result_mismatches = 0;
  uint64_t swap_calls = 0, injected[EQ_BUFS] = {0}, published[EQ_BUFS] = {0};

  for (uint64_t op = 0; op < ops; op++) {
    unsigned kind = (unsigned)(rng_next(&rng) % 100);
    unsigned char rec[EQ_RS];
    if (kind < 18) { /* create */
      bool zero = rng_next(&rng) % 8 == 0;
      fill_random(&rng, rec, EQ_RS);
      if (zero) memset(rec, 0, EQ_RS);
      kc_state_id ids[EQ_BUFS];
      keel_result rs[EQ_BUFS];
      for (int b = 0; b < EQ_BUFS; b++) rs[b] = kc_state_create(bufs[b], zero ? NULL : rec, &ids[b], NULL);
      if (m->nlive == EQ_CAP) {
        for (int b = 0; b < EQ_BUFS; b++) result_mismatches += rs[b] != KEEL_ERR_FULL;
        continue;
      }
      for (int b = 0; b < EQ_BUFS; b++) {
        result_mismatches += rs[b] != KEEL_OK;
        id_mismatches += ids[b] != ids[0];
      }
      uint32_t i = kc_state_id_index(ids[0]);
      if (i >= EQ_CAP || m->back.alive[i]) {
        id_mismatches++;
        continue;
      }
      m->back.alive[i] = 1;
      m->back.gen[i] = kc_state_id_generation(ids[0]);
      memcpy(m->back.rec[i], rec, EQ_RS);
      m->back.live++;
      m->live_ids[m->nlive++] = ids[0];
    } else if (kind < 36) { /* remove, sometimes an already removed id */
      if (m->last_removed && rng_next(&rng) % 4 == 0) {
        for (int b = 0; b < EQ_BUFS; b++)
          result_mismatches += kc_state_remove(bufs[b], m->last_removed, NULL) != KEEL_ERR_STALE_ID;
        continue;
      }
      if (m->nlive == 0) continue;
      uint32_t k = (uint32_t)(rng_next(&rng) % m->nlive);
      kc_state_id id = m->live_ids[k];
      for (int b = 0; b < EQ_BUFS; b++) result_mismatches += kc_state_remove(bufs[b], id, NULL) != KEEL_OK;
      m->live_ids[k] = m->live_ids[--m->nlive];
      m->back.alive[kc_state_id_index(id)] = 0;
      m->back.live--;
      m->last_removed = id;
    } else if (kind < 95) { /* the three ways to write */
      if (m->nlive == 0) continue;
      kc_state_id id = m->live_ids[rng_next(&rng) % m->nlive];
      uint32_t i = kc_state_id_index(id);
      if (kind < 60) {
        fill_random(&rng, rec, EQ_RS);
        for (int b = 0; b < EQ_BUFS; b++) result_mismatches += kc_state_write(bufs[b], id, rec, NULL) != KEEL_OK;
        memcpy(m->back.rec[i], rec, EQ_RS);
      } else if (kind < 75) {
        size_t off = (size_t)(rng_next(&rng) % EQ_RS);
        size_t len = (size_t)(rng_next(&rng) % (EQ_RS - off + 1));
        fill_random(&rng, rec, len);
        for (int b = 0; b < EQ_BUFS; b++)
          result_mismatches += kc_state_write_field(bufs[b], id, off, rec, len, NULL) != KEEL_OK;
        memcpy(m->back.rec[i] + off, rec, len);
      } else if (kind < 88) {
        size_t at = (size_t)(rng_next(&rng) % EQ_RS);
        unsigned char v = (unsigned char)rng_next(&rng);
        for (int b = 0; b < EQ_BUFS; b++) {
          void *p = NULL;
          result_mismatches += kc_state_back_get(bufs[b], id, &p, NULL) != KEEL_OK;
          if (p) ((unsigned char *)p)[at] = v;
        }
        m->back.rec[i][at] = v;
      } else { /* read the back without dirtying it */
        for (int b = 0; b < EQ_BUFS; b++) {
          const void *p = NULL;
          result_mismatches += kc_state_back_peek(bufs[b], id, &p, NULL) != KEEL_OK;
          if (p && memcmp(p, m->back.rec[i], EQ_RS) != 0) mismatches++;
        }
        continue;
      }
    } else { /* swap all three, each maybe with an injected fault */
      swap_calls++;
      for (int b = 0; b < EQ_BUFS; b++) {
        unsigned fault = 0;
        keel_result want = KEEL_OK;
        uint64_t f = rng_next(&rng) % 30;
        if (m->dirty[b] && f < 3) {
          fault = 1u << f; /* ALLOC, VALIDATION, TIMEOUT */
          want = f == 0 ? KEEL_ERR_OUT_OF_MEMORY : f == 1 ? KEEL_ERR_INVALID_ARGUMENT : KEEL_ERR_TIMEOUT;
          kc_state_inject_fault(bufs[b], fault);
          injected[b]++;
        }
        keel_result r;
        if (b == 2)
          r = kc_state_swap_mode(bufs[b], rng_next(&rng) % 2 ? KC_STATE_COPY_FULL : KC_STATE_COPY_DIRTY, NULL);
        else
          r = kc_state_swap(bufs[b], NULL);
        result_mismatches += r != want;
        if (r == KEEL_OK && m->dirty[b]) {
          m->front[b] = m->back;
          m->dirty[b] = false;
          published[b]++;
        }
        /* Hashing every front costs more than the rest of the check;
         * every fourth swap still covers thousands of states per seed. */
        mismatches += compare_front(bufs[b], &m->front[b], swap_calls % 4 == 0);
      }
      if (swap_calls % 4 == 0 && !m->dirty[0] && !m->dirty[1] && !m->dirty[2]) {
        uint64_t h = kc_state_front_hash(bufs[0]);
        mismatches += h != kc_state_front_hash(bufs[1]) || h != kc_state_front_hash(bufs[2]);
      }
      continue;
    }
    for (int b = 0; b < EQ_BUFS; b++) m->dirty[b] = true;
  }

  CU_ASSERT_EQUAL(mismatches, 0);
  CU_ASSERT_EQUAL(id_mismatches, 0);
  CU_ASSERT_EQUAL(result_mismatches, 0);
  if (mismatches || id_mismatches || result_mismatches)
    fprintf(stderr, "\nseed %llu: %u front mismatches, %u id mismatches, %u result mismatches\n",
            (unsigned long long)seed, mismatches, id_mismatches, result_mismatches);
  for (int b = 0; b < EQ_BUFS; b++) {
    kc_state_metrics mt;
    kc_state_get_metrics(bufs[b], &mt);
    CU_ASSERT_EQUAL(mt.swaps + mt.skipped_swaps + mt.errors + mt.timeouts, swap_calls);
    CU_ASSERT_EQUAL(mt.faults, injected[b]);
    CU_ASSERT_EQUAL(mt.swaps, published[b]);
    CU_ASSERT_TRUE(mt.swaps > 0);
    kc_state_destroy(bufs[b]);
  }
  free(m);
}

static void test_equivalence_seeds(void) {
  const uint64_t seeds[] = {1, 42, 0xdecafbad, 20261202};
  uint64_t ops = kt_scaled(100000);
  for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) run_equivalence(seeds[i], ops);
}

/* ---- the writer / swap / reader handoff --------------------------------- */

enum { HO_CAP = 512, HO_READERS = 2 };

typedef struct rec64 {
  uint64_t v[8];
} rec64;

typedef struct handoff {
  kc_state_buffer *buf;
  kc_state_id header; /* v[0] = frame, v[1] = live count published with it */
  atomic_bool done;
  atomic_uint failures;
  atomic_ullong sections;
  atomic_ullong records_seen;
  char first_failure[256];
  pthread_mutex_t failure_mu;
} handoff;

static void ho_fail(handoff *h, const char *what, uint64_t a, uint64_t b) {
  if (atomic_fetch_add(&h->failures, 1) == 0) {
    pthread_mutex_lock(&h->failure_mu);
    snprintf(h->first_failure, sizeof h->first_failure, "%s (%llu vs %llu)", what, (unsigned long long)a,
             (unsigned long long)b);
    pthread_mutex_unlock(&h->failure_mu);
  }
}

static void *ho_reader(void *arg) {
  handoff *h = arg;
  uint64_t last_frame = 0, n_sections = 0, seen = 0;
  while (!atomic_load(&h->done)) {
    kc_state_read_begin(h->buf);
    const rec64 *hdr = NULL;
    if (kc_state_front_get(h->buf, h->header, (const void **)&hdr, NULL) != KEEL_OK) {
      ho_fail(h, "header missing from the front", 0, 0);
      kc_state_read_end(h->buf);
      break;
    }
    uint64_t frame = hdr->v[0];
    uint32_t count = kc_state_front_count(h->buf);
    if (frame < last_frame) ho_fail(h, "front went back in time", frame, last_frame);
    if (hdr->v[1] != count) ho_fail(h, "published count differs from the frame's count", hdr->v[1], count);
    uint32_t cur = 0, n = 0;
    kc_state_id id;
    const void *p;
    kc_state_id pick = h->header;
    while (kc_state_front_next(h->buf, &cur, &id, &p)) {
      n++;
      if (id == h->header) continue;
      const rec64 *r = p;
      for (int f = 1; f < 8; f++)
        if (r->v[f] != r->v[0]) ho_fail(h, "torn record", r->v[f], r->v[0]);
      if (r->v[0] > frame) ho_fail(h, "record newer than its frame", r->v[0], frame);
      if (n % 16 == 0) pick = id;
    }
    if (n != count) ho_fail(h, "iteration count differs from front count", n, count);
    rec64 copy;
    if (kc_state_read(h->buf, pick, &copy, NULL) != KEEL_OK) ho_fail(h, "read of an iterated id failed", pick, 0);
    if (n_sections % 8 == 0) seen ^= kc_state_front_hash(h->buf);
    kc_state_read_end(h->buf);
    last_frame = frame;
    n_sections++;
    seen += n;
  }
  atomic_fetch_add(&h->sections, n_sections);
  atomic_fetch_add(&h->records_seen, seen);
  return NULL;
}

static void test_writer_readers_handoff(void) {
  handoff h;
  memset(&h, 0, sizeof h);
  pthread_mutex_init(&h.failure_mu, NULL);
  kc_state_config cfg = {.record_size = sizeof(rec64), .capacity = HO_CAP, .name = "handoff"};
  CU_ASSERT_EQUAL_FATAL(kc_state_init(&h.buf, &cfg, NULL), KEEL_OK);
  rec64 r = {{0, 1}};
  kc_state_create(h.buf, &r, &h.header, NULL);
  kc_state_id live[HO_CAP];
  uint32_t nlive = 0;
  for (int i = 0; i < 200; i++) {
    rec64 z = {{0}};
    kc_state_create(h.buf, &z, &live[nlive++], NULL);
  }
  r.v[1] = kc_state_back_count(h.buf);
  kc_state_write(h.buf, h.header, &r, NULL);
  CU_ASSERT_EQUAL_FATAL(kc_state_swap(h.buf, NULL), KEEL_OK);

  pthread_t th[HO_READERS];
  for (int i = 0; i < HO_READERS; i++) pthread_create(&th[i], NULL, ho_reader, &h);

  uint64_t frames = kt_scaled(20000), rng = 7, timeouts = 0, other = 0;
  for (uint64_t f = 1; f <= frames; f++) {
    rec64 v;
    for (int k = 0; k < 8; k++) v.v[k] = f;
    unsigned churn = (unsigned)(rng_next(&rng) % 4);
    for (unsigned c = 0; c < churn && nlive > 0; c++) {
      uint32_t k = (uint32_t)(rng_next(&rng) % nlive);
      kc_state_remove(h.buf, live[k], NULL);
      live[k] = live[--nlive];
    }
    churn = (unsigned)(rng_next(&rng) % 4);
    for (unsigned c = 0; c < churn && nlive < HO_CAP - 1; c++) kc_state_create(h.buf, &v, &live[nlive++], NULL);
    for (uint32_t k = 0; k < nlive; k++) {
      if (rng_next(&rng) % 10 != 0) continue;
      rec64 *p;
      if (kc_state_back_get(h.buf, live[k], (void **)&p, NULL) == KEEL_OK) {
        for (int x = 0; x < 8; x++) p->v[x] = f; /* field by field: a torn copy would show */
      }
    }
    rec64 hdr = v;
    hdr.v[1] = kc_state_back_count(h.buf);
    kc_state_write(h.buf, h.header, &hdr, NULL);
    keel_result sr = kc_state_swap(h.buf, NULL);
    if (sr == KEEL_ERR_TIMEOUT)
      timeouts++;
    else if (sr != KEEL_OK)
      other++;
  }
  atomic_store(&h.done, true);
  for (int i = 0; i < HO_READERS; i++) pthread_join(th[i], NULL);

  if (atomic_load(&h.failures)) fprintf(stderr, "\nfirst failure: %s\n", h.first_failure);
  CU_ASSERT_EQUAL(atomic_load(&h.failures), 0);
  CU_ASSERT_EQUAL(other, 0);
  kc_state_metrics m;
  kc_state_get_metrics(h.buf, &m);
  CU_ASSERT_EQUAL(m.swaps + m.timeouts, frames + 1);
  CU_ASSERT_EQUAL(m.timeouts, timeouts);
  CU_ASSERT_EQUAL(m.skipped_swaps, 0);
  CU_ASSERT_EQUAL(m.errors, 0);
  CU_ASSERT_TRUE(atomic_load(&h.sections) > 0);
  fprintf(stderr, "\n  handoff: %llu frames, %llu published, %llu timeouts, %llu reader sections\n",
          (unsigned long long)frames, (unsigned long long)m.swaps, (unsigned long long)m.timeouts,
          (unsigned long long)atomic_load(&h.sections));
  kc_state_destroy(h.buf);
  pthread_mutex_destroy(&h.failure_mu);
}

/* ---- a reader thread against the lock budget ---------------------------- */

typedef struct holder {
  kc_state_buffer *buf;
  kc_state_id id;
  unsigned hold_ms;
  atomic_int entered;
  uint64_t value_seen;
} holder;

static void *hold_front(void *arg) {
  holder *hd = arg;
  kc_state_read_begin(hd->buf);
  atomic_store(&hd->entered, 1);
  sleep_ms(hd->hold_ms);
  rec64 r;
  kc_state_read(hd->buf, hd->id, &r, NULL);
  hd->value_seen = r.v[0];
  kc_state_read_end(hd->buf);
  return NULL;
}

static kc_state_buffer *one_record_buffer(kc_state_id *id) {
  kc_state_config cfg = {.record_size = sizeof(rec64), .capacity = 4, .name = "held"};
  kc_state_buffer *buf = NULL;
  CU_ASSERT_EQUAL(kc_state_init(&buf, &cfg, NULL), KEEL_OK);
  rec64 r = {{1, 1, 1, 1, 1, 1, 1, 1}};
  kc_state_create(buf, &r, id, NULL);
  kc_state_swap(buf, NULL);
  r.v[0] = 2;
  kc_state_write(buf, *id, &r, NULL);
  return buf;
}

static void test_reader_outlasts_budget(void) {
  holder hd = {.hold_ms = 60};
  hd.buf = one_record_buffer(&hd.id);
  kc_state_set_lock_timeout(hd.buf, 10u * 1000u * 1000u);
  pthread_t t;
  pthread_create(&t, NULL, hold_front, &hd);
  while (!atomic_load(&hd.entered)) sleep_ms(1);
  kc_err err;
  uint64_t t0 = kt_now_ns();
  CU_ASSERT_EQUAL(kc_state_swap(hd.buf, &err), KEEL_ERR_TIMEOUT);
  uint64_t waited = kt_now_ns() - t0;
  CU_ASSERT_TRUE(waited >= 10u * 1000u * 1000u);
  KT_ASSERT_CONTAINS(err.msg, "past the 10000000 ns swap budget");
  rec64 r;
  kc_state_read(hd.buf, hd.id, &r, NULL); /* the writer may read the front without a section */
  CU_ASSERT_EQUAL(r.v[0], 1);
  pthread_join(t, NULL);
  CU_ASSERT_EQUAL(hd.value_seen, 1);
  kc_state_metrics m;
  kc_state_get_metrics(hd.buf, &m);
  CU_ASSERT_EQUAL(m.timeouts, 1);
  CU_ASSERT_EQUAL(m.faults, 0);
  CU_ASSERT_EQUAL(m.swaps, 1);
  CU_ASSERT_EQUAL(m.dirty, 1);
  CU_ASSERT_EQUAL(kc_state_swap(hd.buf, NULL), KEEL_OK);
  kc_state_read(hd.buf, hd.id, &r, NULL);
  CU_ASSERT_EQUAL(r.v[0], 2);
  kc_state_destroy(hd.buf);
}

static void test_swap_waits_for_reader_within_budget(void) {
  holder hd = {.hold_ms = 30};
  hd.buf = one_record_buffer(&hd.id);
  kc_state_set_lock_timeout(hd.buf, 5ull * 1000u * 1000u * 1000u); /* far beyond the hold */
  pthread_t t;
  pthread_create(&t, NULL, hold_front, &hd);
  while (!atomic_load(&hd.entered)) sleep_ms(1);
  CU_ASSERT_EQUAL(kc_state_swap(hd.buf, NULL), KEEL_OK);
  pthread_join(t, NULL);
  CU_ASSERT_EQUAL(hd.value_seen, 1); /* the reader's section never saw the swap */
  rec64 r;
  kc_state_read(hd.buf, hd.id, &r, NULL);
  CU_ASSERT_EQUAL(r.v[0], 2);
  kc_state_metrics m;
  kc_state_get_metrics(hd.buf, &m);
  CU_ASSERT_EQUAL(m.timeouts, 0);
  CU_ASSERT_EQUAL(m.swaps, 2);
  kc_state_destroy(hd.buf);
}

static CU_TestInfo equivalence_tests[] = {
    {"dirty, full and mixed copies match a model (4 seeds)", test_equivalence_seeds},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo handoff_tests[] = {
    {"writer swaps while readers check every record", test_writer_readers_handoff},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo lock_tests[] = {
    {"a reader past the budget: swap times out, front stale", test_reader_outlasts_budget},
    {"a reader within the budget: swap waits, then publishes", test_swap_waits_for_reader_within_budget},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"state_equivalence", NULL, NULL, NULL, NULL, equivalence_tests},
    {"state_handoff", NULL, NULL, NULL, NULL, handoff_tests},
    {"state_lock", NULL, NULL, NULL, NULL, lock_tests},
    CU_SUITE_INFO_NULL,
};
