/* kc_spsc: the bounded single-producer / single-consumer ring that carries
 * fixed-size records between exactly two threads without locks. A full ring
 * refuses and counts (backpressure); it never blocks and never drops. */
#ifndef KC_SYNC_SPSC_H
#define KC_SYNC_SPSC_H

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/err.h"

/* A cache line. */
#define KC_CACHE_LINE 64
/* Distance that keeps fields written by different cores from interfering:
 * two lines, because Intel's L2 spatial prefetcher fetches lines in 128-byte
 * aligned pairs, so two cores writing the two halves of one pair still bounce
 * it between them (false sharing would make every push a cross-core miss). */
#define KC_CACHE_PAD 128

/* Largest element and capacity kc_spsc_init accepts; the product must also
 * fit the address space. */
#define KC_SPSC_ELEM_MAX ((size_t)1 << 20)
#define KC_SPSC_CAPACITY_MAX ((size_t)1 << 30)

/* Indices are free-running 64-bit counters: the slot is index & mask, the
 * fill level is tail - head (modulo 2^64, so it stays right across the wrap),
 * and the pushed / popped counters come from the indices for free.
 *
 * Layout, each in its own KC_CACHE_PAD block: the read-only configuration
 * (shared clean by both cores), the producer's fields, the consumer's
 * fields. Each side keeps a private copy of the other's index and rereads the
 * real one only when its copy says full / empty, so in the steady state each
 * side touches the other's block once per lap instead of once per element.
 *
 * The struct is KC_CACHE_PAD (128-byte) aligned: embed it by value (static,
 * stack or inside another struct) or allocate it with
 * aligned_alloc(KC_CACHE_PAD, ...), not with plain malloc. Treat the fields
 * as private; they are here only so push and pop can be inlined. */
typedef struct kc_spsc {
  alignas(KC_CACHE_PAD) unsigned char *buf; /* capacity * elem_size bytes */
  uint64_t mask;                             /* capacity - 1 */
  size_t elem_size;
  size_t capacity;
  uint64_t start; /* index at init; pushed = tail - start */

  /* Producer's block: written by the producer only. */
  alignas(KC_CACHE_PAD) _Atomic uint64_t tail; /* next index to write */
  uint64_t cached_head;                         /* producer's view of head */
  _Atomic uint64_t refused_full;                /* elements refused because full */

  /* Consumer's block: written by the consumer only. */
  alignas(KC_CACHE_PAD) _Atomic uint64_t head; /* next index to read */
  uint64_t cached_tail;                         /* consumer's view of tail */
} kc_spsc;

typedef struct kc_spsc_counters {
  uint64_t pushed;       /* elements accepted since init */
  uint64_t popped;       /* elements taken since init */
  uint64_t refused_full; /* elements refused because the ring was full */
} kc_spsc_counters;

/* Allocates storage for `capacity` elements of `elem_size` bytes and empties
 * the ring. capacity must be a power of two in [1, KC_SPSC_CAPACITY_MAX] and
 * elem_size in [1, KC_SPSC_ELEM_MAX]; otherwise KEEL_ERR_INVALID_ARGUMENT with
 * a message in *err. KEEL_ERR_OUT_OF_MEMORY if the allocation fails. On
 * failure the ring is left zeroed and kc_spsc_destroy on it is harmless.
 * Thread: one thread, before the ring is shared. The ring owns its storage. */
keel_result kc_spsc_init(kc_spsc *ring, size_t elem_size, size_t capacity, kc_err *err);

/* kc_spsc_init with both indices starting at start_index instead of 0, so tests
 * can drive the 64-bit indices across their wrap. Same rules as kc_spsc_init. */
keel_result kc_spsc_init_at(kc_spsc *ring, size_t elem_size, size_t capacity, uint64_t start_index,
                            kc_err *err);

/* Frees the storage. Elements still inside are discarded without being looked
 * at: if they own anything, drain them first. Safe on a zeroed ring and twice.
 * Thread: one thread, after both sides have stopped using the ring. */
void kc_spsc_destroy(kc_spsc *ring);

_Static_assert(sizeof(kc_spsc) == 3 * KC_CACHE_PAD, "kc_spsc: config, producer, consumer blocks");

/* Internal: the push/pop bodies with the element size as a parameter, so the
 * typed wrappers pass a compile-time constant and memcpy becomes a move. */
static inline bool kc_spsc__push_sized(kc_spsc *r, const void *elem, size_t size) {
  uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
  if (t - r->cached_head == r->capacity) {
    /* Acquire pairs with the consumer's release of head: its reads of the
     * slot are done before we overwrite it. */
    r->cached_head = atomic_load_explicit(&r->head, memory_order_acquire);
    if (t - r->cached_head == r->capacity) {
      /* Only the producer writes this counter: load+store, no locked RMW. */
      atomic_store_explicit(&r->refused_full,
                            atomic_load_explicit(&r->refused_full, memory_order_relaxed) + 1,
                            memory_order_relaxed);
      return false;
    }
  }
  memcpy(r->buf + (size_t)(t & r->mask) * size, elem, size);
  atomic_store_explicit(&r->tail, t + 1, memory_order_release);
  return true;
}

static inline bool kc_spsc__pop_sized(kc_spsc *r, void *out, size_t size) {
  uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
  if (h == r->cached_tail) {
    /* The slot line will be needed right after the index if there is an
     * element; asking for it now overlaps the two cross-core fetches instead
     * of paying them one after the other. (A/B on the 2-core VM: round-trip
     * median 392-462 ns with it, 444-476 ns without; runs vary about as
     * much.) A prefetch is a hint: it reads nothing the C program sees. */
#if defined(__GNUC__)
    __builtin_prefetch(r->buf + (size_t)(h & r->mask) * size);
#endif
    /* Acquire pairs with the producer's release of tail: the slot's bytes
     * are visible before we read them. */
    r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (h == r->cached_tail) return false;
  }
  memcpy(out, r->buf + (size_t)(h & r->mask) * size, size);
  atomic_store_explicit(&r->head, h + 1, memory_order_release);
  return true;
}

/* Copies elem_size bytes from *elem into the ring. Returns false, counts the
 * refusal and leaves the ring unchanged when it is full; never blocks.
 * Thread: producer only. Ownership: the bytes are copied; the caller keeps
 * *elem. A pointer inside the record passes to the consumer only when true is
 * returned. */
static inline bool kc_spsc_push(kc_spsc *ring, const void *elem) {
  return kc_spsc__push_sized(ring, elem, ring->elem_size);
}

/* Copies the oldest element into *out (elem_size bytes) and frees its slot.
 * Returns false when the ring is empty. Thread: consumer only. Ownership: the
 * consumer now owns whatever the record refers to. */
static inline bool kc_spsc_pop(kc_spsc *ring, void *out) {
  return kc_spsc__pop_sized(ring, out, ring->elem_size);
}

/* Pushes elements from `elems` (n records, contiguous) in order, as many as
 * fit: returns how many went in (0..n), always a prefix of the array. It is
 * NOT all-or-nothing: the caller retries with elems + k * elem_size. The n - k
 * elements that did not fit are added to refused_full. Publishes once for the
 * whole batch. Thread: producer only. Ownership: as kc_spsc_push. */
size_t kc_spsc_push_batch(kc_spsc *ring, const void *elems, size_t n);

/* Pops up to n of the oldest elements into `out` (room for n records) in order;
 * returns how many (0 when empty). Releases their slots once for the batch.
 * Thread: consumer only. Ownership: as kc_spsc_pop. */
size_t kc_spsc_pop_batch(kc_spsc *ring, void *out, size_t n);

/* Capacity fixed at init. Thread: any. */
static inline size_t kc_spsc_capacity(const kc_spsc *ring) { return ring->capacity; }

/* Element size fixed at init. Thread: any. */
static inline size_t kc_spsc_elem_size(const kc_spsc *ring) { return ring->elem_size; }

/* Number of elements inside. Exact when neither side is running; while they
 * run, a snapshot in [0, capacity]: called by the producer it may be higher
 * than the truth (pops in flight), by the consumer lower (pushes in flight).
 * Thread: any. */
size_t kc_spsc_size(const kc_spsc *ring);

/* True when a pop now would fail. From the consumer a false answer is
 * reliable (only the consumer takes elements out); from any other thread the
 * answer is a hint. Thread: consumer (exact); any (hint). */
bool kc_spsc_empty(const kc_spsc *ring);

/* True when a push now would be refused. From the producer a false answer is
 * reliable (only the producer adds elements); from any other thread the answer
 * is a hint. Does not count as a refusal. Thread: producer (exact); any (hint). */
bool kc_spsc_full(const kc_spsc *ring);

/* Snapshot of the counters. Each is exact for its owning side; read from a
 * third thread they are individually current but not taken at one instant.
 * Thread: any. */
void kc_spsc_stats(const kc_spsc *ring, kc_spsc_counters *out);

/* Generates typed wrappers over the same kc_spsc, with the element size a
 * compile-time constant so the copy compiles to a move instead of a memcpy
 * call:
 *   KC_SPSC_DEFINE_TYPED(kc_spsc_u64, uint64_t)
 * defines  keel_result kc_spsc_u64_init(kc_spsc *, size_t capacity, kc_err *),
 *          bool kc_spsc_u64_push(kc_spsc *, const uint64_t *)   (producer only)
 *          bool kc_spsc_u64_pop(kc_spsc *, uint64_t *)          (consumer only)
 * Thread and ownership rules are those of kc_spsc_push / kc_spsc_pop. T must be
 * trivially copyable; a ring used with them must have elem_size == sizeof(T)
 * (checked by assert in debug builds). */
#define KC_SPSC_DEFINE_TYPED(name, T)                                                     \
  static inline keel_result name##_init(kc_spsc *ring, size_t capacity, kc_err *err) {    \
    return kc_spsc_init(ring, sizeof(T), capacity, err);                                  \
  }                                                                                       \
  static inline bool name##_push(kc_spsc *ring, const T *elem) {                          \
    assert(ring->elem_size == sizeof(T));                                                 \
    return kc_spsc__push_sized(ring, elem, sizeof(T));                                    \
  }                                                                                       \
  static inline bool name##_pop(kc_spsc *ring, T *out) {                                  \
    assert(ring->elem_size == sizeof(T));                                                 \
    return kc_spsc__pop_sized(ring, out, sizeof(T));                                      \
  }

#endif
