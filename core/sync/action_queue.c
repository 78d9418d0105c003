/* kc_actionq implementation: a bounded ring of cells with per-cell turn
 * numbers (the scheme D. Vyukov described for bounded MPMC queues), plus a
 * sleep path for consumers that costs producers one load while nobody sleeps. */
#include "sync/action_queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cpu.h"

/* Spins before sleeping: long enough to catch a producer that is mid-push
 * (tens of ns), short enough (a few µs) not to steal a core from it on a
 * machine with as few cores as threads. */
enum { AQ_SPIN_ITERATIONS = 128 };

/* A cell is its turn number followed by the payload. The turn number says
 * who may use the cell next: == pos means free for the producer that claims
 * position pos; == pos + 1 means holding that producer's message for the
 * consumer of pos; the consumer then sets pos + capacity, the next lap's
 * producer turn. */
#define AQ_SEQ_BYTES sizeof(uint64_t)

static inline unsigned char *aq_cell(const kc_actionq *q, uint64_t pos) {
  return q->cells + (size_t)(pos & q->mask) * q->stride;
}

static inline _Atomic uint64_t *aq_seq(unsigned char *cell) { return (_Atomic uint64_t *)(void *)cell; }

static uint64_t aq_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

keel_result kc_actionq_init_at(kc_actionq *q, size_t elem_size, size_t capacity,
                               uint64_t start_index, kc_err *err) {
  if (!q) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "kc_actionq_init: queue is NULL");
  memset(q, 0, sizeof *q);
  if (elem_size == 0 || elem_size > KC_ACTIONQ_ELEM_MAX)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT,
                      "kc_actionq_init: message size %zu is out of range [1, %zu]", elem_size,
                      (size_t)KC_ACTIONQ_ELEM_MAX);
  if (capacity < 2 || (capacity & (capacity - 1)) != 0)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT,
                      "kc_actionq_init: capacity %zu is not a power of two >= 2", capacity);
  if (capacity > KC_ACTIONQ_CAPACITY_MAX)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT,
                      "kc_actionq_init: capacity %zu exceeds the maximum %zu", capacity,
                      (size_t)KC_ACTIONQ_CAPACITY_MAX);
  size_t stride = (AQ_SEQ_BYTES + elem_size + 7) & ~(size_t)7;
  if (capacity > (SIZE_MAX - KC_CACHE_PAD) / stride)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT,
                      "kc_actionq_init: %zu cells of %zu bytes overflow the address space", capacity,
                      stride);
  size_t bytes = (capacity * stride + KC_CACHE_PAD - 1) & ~(size_t)(KC_CACHE_PAD - 1);
  unsigned char *cells = aligned_alloc(KC_CACHE_PAD, bytes);
  if (!cells)
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "kc_actionq_init: cannot allocate %zu bytes",
                      bytes);
  memset(cells, 0, bytes);

  pthread_condattr_t ca;
  int rc = pthread_condattr_init(&ca);
  /* Monotonic, so a wall-clock jump cannot stretch or cut a timeout. */
  if (rc == 0) rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  if (rc == 0) rc = pthread_cond_init(&q->wake, &ca);
  pthread_condattr_destroy(&ca);
  if (rc != 0) {
    free(cells);
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "kc_actionq_init: pthread_cond_init failed (%s)",
                      strerror(rc));
  }
  rc = pthread_mutex_init(&q->lock, NULL);
  if (rc != 0) {
    pthread_cond_destroy(&q->wake);
    free(cells);
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY,
                      "kc_actionq_init: pthread_mutex_init failed (%s)", strerror(rc));
  }

  q->cells = cells;
  q->mask = (uint64_t)capacity - 1;
  q->elem_size = elem_size;
  q->stride = stride;
  q->capacity = capacity;
  q->start = start_index;
  /* Each cell starts at the producer turn of the first position that maps to
   * it, which for an arbitrary start is not simply its array index. */
  for (size_t i = 0; i < capacity; i++) {
    uint64_t pos = start_index + i;
    atomic_init(aq_seq(aq_cell(q, pos)), pos);
  }
  atomic_init(&q->enqueue_pos, start_index);
  atomic_init(&q->dequeue_pos, start_index);
  atomic_init(&q->refused_full, 0);
  atomic_init(&q->timeouts, 0);
  atomic_init(&q->sleepers, 0);
  return KEEL_OK;
}

keel_result kc_actionq_init(kc_actionq *q, size_t elem_size, size_t capacity, kc_err *err) {
  return kc_actionq_init_at(q, elem_size, capacity, 0, err);
}

void kc_actionq_destroy(kc_actionq *q) {
  if (!q || !q->cells) return; /* zeroed: init failed or already destroyed */
  free(q->cells);
  pthread_mutex_destroy(&q->lock);
  pthread_cond_destroy(&q->wake);
  memset(q, 0, sizeof *q);
}

static void aq_wake_sleepers(kc_actionq *q) {
  /* Under the mutex: a consumer that registered holds it from before its last
   * emptiness check until it is inside the wait, so this broadcast cannot fall
   * between the two and be lost. */
  pthread_mutex_lock(&q->lock);
  pthread_cond_broadcast(&q->wake);
  pthread_mutex_unlock(&q->lock);
}

bool kc_actionq_try_push(kc_actionq *q, const void *msg) {
  uint64_t pos = atomic_load_explicit(&q->enqueue_pos, memory_order_relaxed);
  unsigned char *cell;
  for (;;) {
    cell = aq_cell(q, pos);
    /* Acquire pairs with the consumer's release of the previous lap: it has
     * finished copying out before we overwrite. */
    uint64_t seq = atomic_load_explicit(aq_seq(cell), memory_order_acquire);
    int64_t dif = (int64_t)(seq - pos);
    if (dif == 0) {
      /* Our turn on this cell, if no other producer takes pos first. A
       * failed CAS reloads pos for us. */
      if (atomic_compare_exchange_weak_explicit(&q->enqueue_pos, &pos, pos + 1,
                                                memory_order_relaxed, memory_order_relaxed))
        break;
    } else if (dif < 0) {
      /* The cell still holds last lap's message: full. */
      atomic_fetch_add_explicit(&q->refused_full, 1, memory_order_relaxed);
      return false;
    } else {
      /* Another producer claimed pos already; catch up. */
      pos = atomic_load_explicit(&q->enqueue_pos, memory_order_relaxed);
    }
  }
  memcpy(cell + AQ_SEQ_BYTES, msg, q->elem_size);
  /* seq_cst store then seq_cst load of sleepers, against the consumer's
   * seq_cst increment of sleepers then seq_cst load of the cell: in the single
   * order of seq_cst operations one side comes first, so either we see the
   * sleeper and wake it, or its check sees this message before it waits. */
  atomic_store_explicit(aq_seq(cell), pos + 1, memory_order_seq_cst);
  if (atomic_load_explicit(&q->sleepers, memory_order_seq_cst) != 0) aq_wake_sleepers(q);
  return true;
}

/* The body of try_pop. seq_order is acquire normally; the sleep path asks
 * for seq_cst so its emptiness check takes part in the handshake with
 * kc_actionq_try_push (on x86 both are a plain load). */
static inline bool aq_pop(kc_actionq *q, void *out, memory_order seq_order) {
  uint64_t pos = atomic_load_explicit(&q->dequeue_pos, memory_order_relaxed);
  unsigned char *cell;
  for (;;) {
    cell = aq_cell(q, pos);
    /* At least acquire, pairing with the producer's publishing store: the
     * payload is complete. */
    uint64_t seq = atomic_load_explicit(aq_seq(cell), seq_order);
    int64_t dif = (int64_t)(seq - (pos + 1));
    if (dif == 0) {
      if (atomic_compare_exchange_weak_explicit(&q->dequeue_pos, &pos, pos + 1,
                                                memory_order_relaxed, memory_order_relaxed))
        break;
    } else if (dif < 0) {
      return false; /* empty, or the producer of pos has not published yet */
    } else {
      pos = atomic_load_explicit(&q->dequeue_pos, memory_order_relaxed);
    }
  }
  memcpy(out, cell + AQ_SEQ_BYTES, q->elem_size);
  /* Hand the cell to the producer of the next lap. */
  atomic_store_explicit(aq_seq(cell), pos + q->mask + 1, memory_order_release);
  return true;
}

bool kc_actionq_try_pop(kc_actionq *q, void *out) { return aq_pop(q, out, memory_order_acquire); }

/* The waiting half of kc_actionq_pop_timeout: true with a message in *out,
 * false at the deadline. */
static bool aq_wait_pop(kc_actionq *q, void *out, uint64_t timeout_ns) {
  uint64_t now = aq_now_ns();
  uint64_t deadline = timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
  for (int i = 1; i <= AQ_SPIN_ITERATIONS; i++) {
    kc_cpu_pause();
    if (kc_actionq_try_pop(q, out)) return true;
    if ((i & 31) == 0 && aq_now_ns() >= deadline) return false;
  }

  /* UINT64_MAX ns is ~584 years: the seconds fit a 64-bit time_t. */
  struct timespec abs = {.tv_sec = (time_t)(deadline / 1000000000ull),
                         .tv_nsec = (long)(deadline % 1000000000ull)};
  bool got = false;
  pthread_mutex_lock(&q->lock);
  /* Registration and the checks below are seq_cst; the other half of the
   * handshake is in kc_actionq_try_push. */
  atomic_fetch_add_explicit(&q->sleepers, 1, memory_order_seq_cst);
  for (;;) {
    if (aq_pop(q, out, memory_order_seq_cst)) {
      got = true;
      break;
    }
    if (aq_now_ns() >= deadline) break;
    int rc = pthread_cond_timedwait(&q->wake, &q->lock, &abs);
    if (rc != 0 && rc != ETIMEDOUT && rc != EINTR) break; /* cannot wait: report a timeout */
  }
  atomic_fetch_sub_explicit(&q->sleepers, 1, memory_order_relaxed);
  pthread_mutex_unlock(&q->lock);
  return got;
}

keel_result kc_actionq_pop_timeout(kc_actionq *q, void *out, uint64_t timeout_ns) {
  if (kc_actionq_try_pop(q, out)) return KEEL_OK;
  if (timeout_ns > 0 && aq_wait_pop(q, out, timeout_ns)) return KEEL_OK;
  atomic_fetch_add_explicit(&q->timeouts, 1, memory_order_relaxed);
  return KEEL_ERR_TIMEOUT;
}

size_t kc_actionq_size(const kc_actionq *q) {
  /* Consumer position first: it never passes the producers', so the
   * difference never goes negative. */
  uint64_t d = atomic_load_explicit(&q->dequeue_pos, memory_order_acquire);
  uint64_t e = atomic_load_explicit(&q->enqueue_pos, memory_order_acquire);
  uint64_t n = e - d;
  return n > q->capacity ? q->capacity : (size_t)n;
}

void kc_actionq_stats(const kc_actionq *q, kc_actionq_counters *out) {
  out->pushed = atomic_load_explicit(&q->enqueue_pos, memory_order_relaxed) - q->start;
  out->popped = atomic_load_explicit(&q->dequeue_pos, memory_order_relaxed) - q->start;
  out->refused_full = atomic_load_explicit(&q->refused_full, memory_order_relaxed);
  out->timeouts = atomic_load_explicit(&q->timeouts, memory_order_relaxed);
}
