/* kc_actionq: the bounded multi-producer queue that carries fixed-size
 * messages from worker threads to the main thread (one-off script results,
 * cvar changes). Pushing never blocks or locks; the consumer may poll or wait
 * with a timeout. */
#ifndef KC_SYNC_ACTION_QUEUE_H
#define KC_SYNC_ACTION_QUEUE_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "sync/spsc.h" /* KC_CACHE_PAD */

#define KC_ACTIONQ_ELEM_MAX ((size_t)1 << 16)
#define KC_ACTIONQ_CAPACITY_MAX ((size_t)1 << 30)

/* Payload ownership, the one rule for every message type carried here:
 *  - Messages are copied by value into the queue and by value out of it. The
 *    producer's source buffer stays the producer's; the consumer's output
 *    buffer is the consumer's.
 *  - Prefer self-contained messages (inline fixed arrays, interned ids), as
 *    DESIGN §4 asks. A message that does carry a pointer hands the pointee to
 *    the consumer when kc_actionq_try_push returns true: from then on the
 *    consumer frees it (with the allocator the message type documents) and the
 *    producer must not touch it. When try_push returns false nothing moved;
 *    the producer still owns the pointee and must free it or retry.
 *  - kc_actionq_destroy discards queued messages without looking inside them:
 *    whoever destroys the queue drains it first (kc_actionq_try_pop until it
 *    returns false) and frees what the messages own.
 *
 * Design: a ring of cells, each with a sequence number that says whose turn
 * the cell is (a producer's for lap k, or the consumer's), so producers claim
 * a position with one CAS and publish with one store and no cell is ever read
 * half-written. Indices are 64-bit and free-running.
 *
 * The struct is KC_CACHE_PAD (128-byte) aligned: embed it by value or
 * allocate it with aligned_alloc(KC_CACHE_PAD, ...). Fields are private. */
typedef struct kc_actionq {
  alignas(KC_CACHE_PAD) unsigned char *cells; /* capacity cells of `stride` bytes */
  uint64_t mask;
  size_t elem_size;
  size_t stride; /* 8-byte sequence number + payload, rounded up to 8 */
  size_t capacity;
  uint64_t start; /* index at init */

  /* Producers' line. */
  alignas(KC_CACHE_PAD) _Atomic uint64_t enqueue_pos;
  _Atomic uint64_t refused_full;

  /* Consumers' line. */
  alignas(KC_CACHE_PAD) _Atomic uint64_t dequeue_pos;
  _Atomic uint64_t timeouts;

  /* Read by every push, written only when a consumer goes to sleep. */
  alignas(KC_CACHE_PAD) _Atomic uint32_t sleepers;

  alignas(KC_CACHE_PAD) pthread_mutex_t lock; /* only for sleeping consumers */
  pthread_cond_t wake;
} kc_actionq;

typedef struct kc_actionq_counters {
  uint64_t pushed;       /* messages accepted (positions claimed) since init */
  uint64_t popped;       /* messages taken since init */
  uint64_t refused_full; /* pushes refused because the queue was full */
  uint64_t timeouts;     /* kc_actionq_pop_timeout calls that ran out */
} kc_actionq_counters;

/* Allocates `capacity` cells for messages of `elem_size` bytes. capacity must be
 * a power of two in [2, KC_ACTIONQ_CAPACITY_MAX] (the turn numbers need two
 * cells at least), elem_size in [1, KC_ACTIONQ_ELEM_MAX]; otherwise
 * KEEL_ERR_INVALID_ARGUMENT with a message in *err. KEEL_ERR_OUT_OF_MEMORY if
 * allocation fails. On failure the queue is left zeroed and kc_actionq_destroy
 * on it is harmless. Thread: one thread, before the queue is shared. The queue
 * owns its cells. */
keel_result kc_actionq_init(kc_actionq *q, size_t elem_size, size_t capacity, kc_err *err);

/* kc_actionq_init with the positions starting at start_index, so tests can
 * cross the 64-bit wrap. */
keel_result kc_actionq_init_at(kc_actionq *q, size_t elem_size, size_t capacity,
                               uint64_t start_index, kc_err *err);

/* Frees the cells and the wait objects. Queued messages are discarded (see the
 * ownership rule above). Safe on a zeroed queue and twice. Thread: one thread,
 * after every producer and consumer has stopped. */
void kc_actionq_destroy(kc_actionq *q);

/* Copies elem_size bytes from *msg into the queue. Returns false and counts a
 * refusal when the queue is full; it never blocks. "Full" can also mean a
 * consumer has claimed the oldest cell and is still copying out of it.
 * Lock-free; it takes the queue's mutex only when a consumer is asleep in
 * kc_actionq_pop_timeout, to wake it. Thread: any thread (many producers).
 * Ownership: see the rule above; true hands over what the message points to. */
bool kc_actionq_try_push(kc_actionq *q, const void *msg);

/* Copies the oldest message into *out (elem_size bytes) and frees its cell.
 * Returns false when the queue is empty (or the oldest message is still being
 * written). Never blocks. Thread: any thread (usually the main thread; several
 * consumers are allowed). Ownership: the consumer owns what the message
 * carries. */
bool kc_actionq_try_pop(kc_actionq *q, void *out);

/* kc_actionq_try_pop, waiting up to timeout_ns nanoseconds for a message: it
 * spins briefly, then sleeps on a condition variable that producers signal
 * only while someone sleeps. Returns KEEL_OK with the message in *out, or
 * KEEL_ERR_TIMEOUT (counted) when none arrived in time; timeout_ns 0 tries
 * once. Thread: any consumer thread, never the main thread in a frame (it
 * blocks). Ownership: as kc_actionq_try_pop. */
keel_result kc_actionq_pop_timeout(kc_actionq *q, void *out, uint64_t timeout_ns);

/* Messages inside (claimed by producers minus claimed by consumers), clamped to
 * [0, capacity]; a snapshot while threads run. Thread: any. */
size_t kc_actionq_size(const kc_actionq *q);

/* Fixed at init. Thread: any. */
static inline size_t kc_actionq_capacity(const kc_actionq *q) { return q->capacity; }
static inline size_t kc_actionq_elem_size(const kc_actionq *q) { return q->elem_size; }

/* Snapshot of the counters; each is current, not all taken at one instant.
 * Thread: any. */
void kc_actionq_stats(const kc_actionq *q, kc_actionq_counters *out);

#endif
