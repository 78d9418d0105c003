/* The cold half of kc_spsc: argument checks and allocation at init, and the
 * batch operations, which copy enough per call that a function call costs
 * nothing next to them. The single push/pop are inline in spsc.h. */
#include "sync/spsc.h"

#include <stdlib.h>

static keel_result spsc_check_args(const kc_spsc *ring, size_t elem_size, size_t capacity,
                                   kc_err *err) {
  if (!ring) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "kc_spsc_init: ring is NULL");
  if (elem_size == 0 || elem_size > KC_SPSC_ELEM_MAX)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT,
                      "kc_spsc_init: element size %zu is out of range [1, %zu]", elem_size,
                      (size_t)KC_SPSC_ELEM_MAX);
  if (capacity == 0 || (capacity & (capacity - 1)) != 0)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT,
                      "kc_spsc_init: capacity %zu is not a power of two", capacity);
  if (capacity > KC_SPSC_CAPACITY_MAX)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT,
                      "kc_spsc_init: capacity %zu exceeds the maximum %zu", capacity,
                      (size_t)KC_SPSC_CAPACITY_MAX);
  if (capacity > (SIZE_MAX - KC_CACHE_PAD) / elem_size)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT,
                      "kc_spsc_init: %zu elements of %zu bytes overflow the address space", capacity,
                      elem_size);
  return KEEL_OK;
}

keel_result kc_spsc_init_at(kc_spsc *ring, size_t elem_size, size_t capacity, uint64_t start_index,
                            kc_err *err) {
  keel_result r = spsc_check_args(ring, elem_size, capacity, err);
  if (r != KEEL_OK) {
    if (ring) memset(ring, 0, sizeof *ring);
    return r;
  }
  memset(ring, 0, sizeof *ring);
  /* Slots start and end on a KC_CACHE_PAD boundary so their first and last
   * lines are not shared with whatever the allocator puts around them;
   * aligned_alloc also wants a size that is a multiple of the alignment. */
  size_t bytes = capacity * elem_size;
  bytes = (bytes + KC_CACHE_PAD - 1) & ~(size_t)(KC_CACHE_PAD - 1);
  unsigned char *buf = aligned_alloc(KC_CACHE_PAD, bytes);
  if (!buf)
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "kc_spsc_init: cannot allocate %zu bytes", bytes);
  memset(buf, 0, bytes);
  ring->buf = buf;
  ring->mask = (uint64_t)capacity - 1;
  ring->elem_size = elem_size;
  ring->capacity = capacity;
  ring->start = start_index;
  atomic_init(&ring->tail, start_index);
  atomic_init(&ring->head, start_index);
  atomic_init(&ring->refused_full, 0);
  ring->cached_head = start_index;
  ring->cached_tail = start_index;
  return KEEL_OK;
}

keel_result kc_spsc_init(kc_spsc *ring, size_t elem_size, size_t capacity, kc_err *err) {
  return kc_spsc_init_at(ring, elem_size, capacity, 0, err);
}

void kc_spsc_destroy(kc_spsc *ring) {
  if (!ring) return;
  free(ring->buf);
  memset(ring, 0, sizeof *ring);
}

size_t kc_spsc_push_batch(kc_spsc *r, const void *elems, size_t n) {
  if (n == 0) return 0;
  uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
  uint64_t room = r->capacity - (t - r->cached_head);
  if (room < n) {
    r->cached_head = atomic_load_explicit(&r->head, memory_order_acquire);
    room = r->capacity - (t - r->cached_head);
  }
  size_t k = n < room ? n : (size_t)room;
  if (k < n)
    atomic_store_explicit(&r->refused_full,
                          atomic_load_explicit(&r->refused_full, memory_order_relaxed) + (n - k),
                          memory_order_relaxed);
  if (k == 0) return 0;
  size_t es = r->elem_size;
  size_t idx = (size_t)(t & r->mask);
  size_t first = r->capacity - idx; /* slots before the end of the buffer */
  if (first > k) first = k;
  const unsigned char *src = elems;
  memcpy(r->buf + idx * es, src, first * es);
  if (k > first) memcpy(r->buf, src + first * es, (k - first) * es);
  atomic_store_explicit(&r->tail, t + k, memory_order_release);
  return k;
}

size_t kc_spsc_pop_batch(kc_spsc *r, void *out, size_t n) {
  if (n == 0) return 0;
  uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
  uint64_t avail = r->cached_tail - h;
  if (avail < n) {
    r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    avail = r->cached_tail - h;
  }
  size_t k = n < avail ? n : (size_t)avail;
  if (k == 0) return 0;
  size_t es = r->elem_size;
  size_t idx = (size_t)(h & r->mask);
  size_t first = r->capacity - idx;
  if (first > k) first = k;
  unsigned char *dst = out;
  memcpy(dst, r->buf + idx * es, first * es);
  if (k > first) memcpy(dst + first * es, r->buf, (k - first) * es);
  atomic_store_explicit(&r->head, h + k, memory_order_release);
  return k;
}

size_t kc_spsc_size(const kc_spsc *r) {
  /* head first: tail only grows, so a later tail is never behind it. */
  uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
  uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
  uint64_t n = t - h;
  return n > r->capacity ? r->capacity : (size_t)n;
}

bool kc_spsc_empty(const kc_spsc *r) {
  uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
  return atomic_load_explicit(&r->tail, memory_order_acquire) == h;
}

bool kc_spsc_full(const kc_spsc *r) {
  /* head before tail, as in kc_spsc_size: the reverse order could see a head
   * past the tail it read and call an empty ring full. */
  uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
  uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
  return t - h >= r->capacity;
}

void kc_spsc_stats(const kc_spsc *r, kc_spsc_counters *out) {
  out->pushed = atomic_load_explicit(&r->tail, memory_order_relaxed) - r->start;
  out->popped = atomic_load_explicit(&r->head, memory_order_relaxed) - r->start;
  out->refused_full = atomic_load_explicit(&r->refused_full, memory_order_relaxed);
}
