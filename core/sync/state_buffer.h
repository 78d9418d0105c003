/* kc_state: the double-buffered record store between the main thread, which
 * writes the back side while it drains commands, and the readers (Extract,
 * job workers) that see only the last published front side (DESIGN §3-§4).
 * A swap publishes what changed, or keeps the old front when it cannot. */
#ifndef KC_SYNC_STATE_BUFFER_H
#define KC_SYNC_STATE_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* A generational id, packed so that a JavaScript number holds it exactly
 * (every id is below 2^53):
 *
 *   bits  0..20  generation (21 bits, 1..2^21-1; 0 is never issued)
 *   bits 21..52  slot index (32 bits)
 *   bits 53..63  always 0
 *
 * The index sits above the generation so that ascending numeric id order is
 * ascending slot order: the front iteration and kc_state_front_hash visit ids
 * in increasing value. A slot's generation advances each time the slot is
 * reused and wraps from 2^21-1 to 1, skipping 0, so id 0 is never valid and
 * an id held across 2^21-1 reuses of one slot is the only way to alias. */
typedef uint64_t kc_state_id;

#define KC_STATE_ID_NONE ((kc_state_id)0)
#define KC_STATE_GEN_BITS 21u
#define KC_STATE_INDEX_BITS 32u
#define KC_STATE_GEN_MASK ((UINT32_C(1) << KC_STATE_GEN_BITS) - 1u)

/* Pack and unpack ids; pure, any thread. */
static inline uint32_t kc_state_id_index(kc_state_id id) { return (uint32_t)(id >> KC_STATE_GEN_BITS); }
static inline uint32_t kc_state_id_generation(kc_state_id id) { return (uint32_t)(id & KC_STATE_GEN_MASK); }
static inline kc_state_id kc_state_id_make(uint32_t index, uint32_t generation) {
  return ((kc_state_id)index << KC_STATE_GEN_BITS) | (kc_state_id)(generation & KC_STATE_GEN_MASK);
}

/* Largest capacity and record size kc_state_init accepts. Capacity is bounded
 * by the 32-bit index; records are meant to be small PODs. */
#define KC_STATE_CAPACITY_MAX UINT32_MAX
#define KC_STATE_RECORD_MAX ((uint32_t)1 << 16)

/* The swap's lock budget when the config leaves it 0. */
#define KC_STATE_DEFAULT_LOCK_TIMEOUT_NS (10u * 1000u * 1000u)

/* Number of recent published swaps the dirty-ratio average covers. */
#define KC_STATE_RATIO_WINDOW 60

/* How a swap moves the back side to the front.
 * DIRTY copies only the records touched since the last published swap: O(dirty).
 * FULL copies every slot up to the highest slot ever used, whatever was marked:
 * O(slots used), the fallback that does not depend on which keys were marked. */
typedef enum kc_state_copy_mode {
  KC_STATE_COPY_DIRTY = 0,
  KC_STATE_COPY_FULL = 1
} kc_state_copy_mode;

/* Faults kc_state_inject_fault arms for tests. Each armed fault makes the next
 * swap that has something to publish fail at that stage, exactly as the real
 * failure would, and is then disarmed; a swap stops at its first failure, so
 * several armed faults fail several successive swaps in the order ALLOC,
 * VALIDATION, TIMEOUT (the order of the stages in a swap). */
enum {
  KC_STATE_FAULT_NONE = 0,
  KC_STATE_FAULT_ALLOC = 1u << 0,      /* KEEL_ERR_OUT_OF_MEMORY, counted in errors */
  KC_STATE_FAULT_VALIDATION = 1u << 1, /* KEEL_ERR_INVALID_ARGUMENT, counted in errors */
  KC_STATE_FAULT_TIMEOUT = 1u << 2     /* KEEL_ERR_TIMEOUT, counted in timeouts, returns at once */
};

/* Checks one dirty, live record before it is published; return false to
 * refuse the whole swap. Called on the writer thread, outside the lock, with
 * a pointer into the back side valid only for the call. Must not call back
 * into the buffer. */
typedef bool (*kc_state_validate_fn)(kc_state_id id, const void *record, void *ctx);

typedef struct kc_state_config {
  uint32_t record_size;          /* bytes per record, 1..KC_STATE_RECORD_MAX */
  uint32_t capacity;             /* most live records at once, 1..KC_STATE_CAPACITY_MAX */
  kc_state_copy_mode copy_mode;  /* default for kc_state_swap; 0 = DIRTY */
  uint64_t lock_timeout_ns;      /* swap's lock budget; 0 = KC_STATE_DEFAULT_LOCK_TIMEOUT_NS */
  kc_state_validate_fn validate; /* optional; NULL = publish without checking */
  void *validate_ctx;            /* passed to validate; borrowed, must outlive the buffer */
  const char *name;              /* optional, for messages ("entities"); copied */
  /* false: the buffer hands out ids (kc_state_create, FIFO slot reuse).
   * true: the caller does (kc_state_create_at), e.g. the world, whose script
   * worker reserves ids ahead of the main thread so a script can use an id
   * in the tick that created it (DESIGN §6). A buffer uses one or the other. */
  bool external_ids;
} kc_state_config;

/* Exact counters since init. A swap call ends as exactly one of: published
 * (swaps), skipped because nothing was dirty (skipped_swaps), refused by
 * validation or an allocation failure (errors), or out of lock budget
 * (timeouts). faults counts injected faults that fired; each one is also in
 * errors or timeouts. */
typedef struct kc_state_metrics {
  uint64_t swaps;          /* swaps that published */
  uint64_t skipped_swaps;  /* swap calls with nothing dirty */
  uint64_t records_copied; /* record payloads copied by published swaps (FULL counts every slot copied) */
  uint64_t errors;         /* swaps refused: validation or allocation failure */
  uint64_t timeouts;       /* swaps that could not take the lock within the budget */
  uint64_t faults;         /* injected faults that fired */
  /* Mean over the last min(swaps, 60) published swaps of that swap's
   * dirty ratio = min(1, dirty slots / max(1, live records on the back side)),
   * summed oldest first. 0 before the first published swap. */
  double dirty_ratio_avg;
  uint32_t dirty_ratio_samples; /* how many swaps the mean covers (<= 60) */
  uint32_t live_back;           /* live records on the back side now */
  uint32_t live_front;          /* live records on the front side now */
  uint32_t dirty;               /* slots waiting for the next swap */
} kc_state_metrics;

/* Opaque so the lock and the layout can change without touching users. */
typedef struct kc_state_buffer kc_state_buffer;

/* ---- Lifetime ------------------------------------------------------------
 * Thread rules used below:
 *   writer  = the one thread that owns the buffer (the main thread). Every
 *             back-side call, kc_state_swap and the setters.
 *   reader  = any thread, between kc_state_read_begin and kc_state_read_end;
 *             the writer may also read the front without a read section,
 *             since only it ever changes the front. */

/* Allocates both sides (capacity records each, plus per-slot state) and
 * returns the buffer in *out, empty on both sides. KEEL_ERR_INVALID_ARGUMENT
 * for a size out of range, KEEL_ERR_OUT_OF_MEMORY if an allocation fails;
 * *out is NULL on failure. Thread: any, before the buffer is shared. The
 * caller owns *out and frees it with kc_state_destroy. */
keel_result kc_state_init(kc_state_buffer **out, const kc_state_config *cfg, kc_err *err);

/* Frees the buffer (the whole container, not a record: see kc_state_remove).
 * NULL is a no-op. Thread: writer, after every reader has left its last read
 * section; pointers obtained from the buffer die with it. */
void kc_state_destroy(kc_state_buffer *buf);

/* ---- Back side (writer) -------------------------------------------------- */

/* Takes a free slot, fills its back record with `init` (record_size bytes,
 * copied) or zeros when init is NULL, marks it dirty and returns its id. The
 * record reaches the front at the next published swap. KEEL_ERR_FULL when
 * capacity records are live; KEEL_ERR_WRONG_STATE on a buffer made with
 * external_ids. Thread: writer. */
keel_result kc_state_create(kc_state_buffer *buf, const void *init, kc_state_id *out_id, kc_err *err);

/* kc_state_create at an id the caller chose, for a buffer made with
 * external_ids: the slot kc_state_id_index(id) takes generation
 * kc_state_id_generation(id). KEEL_ERR_INVALID_ARGUMENT if id could never be
 * an id of this buffer (index >= capacity, generation 0, bits above 53),
 * KEEL_ERR_WRONG_STATE if the slot is live (its record must be removed first)
 * or the buffer hands out its own ids, KEEL_ERR_STALE_ID if the slot's last
 * record had this very generation (reissuing it would revive old ids). The
 * caller owns the generation sequence and the wrap. Thread: writer. */
keel_result kc_state_create_at(kc_state_buffer *buf, kc_state_id id, const void *init, kc_err *err);

/* Ends the record's life on the back side and marks its slot dirty; readers
 * keep seeing it on the front until the next published swap. The slot is
 * reused later under a new generation. KEEL_ERR_STALE_ID if id is no longer
 * live, KEEL_ERR_INVALID_ARGUMENT if it was never an id of this buffer.
 * Thread: writer. */
keel_result kc_state_remove(kc_state_buffer *buf, kc_state_id id, kc_err *err);

/* Copies record_size bytes from `record` into the back record and marks it
 * dirty. Errors as kc_state_remove. Thread: writer. */
keel_result kc_state_write(kc_state_buffer *buf, kc_state_id id, const void *record, kc_err *err);

/* Copies `size` bytes from `data` to byte `offset` of the back record and
 * marks it dirty; KEEL_ERR_INVALID_ARGUMENT if the range leaves the record.
 * Other errors as kc_state_remove. Thread: writer. */
keel_result kc_state_write_field(kc_state_buffer *buf, kc_state_id id, size_t offset, const void *data,
                                 size_t size, kc_err *err);

/* Marks the record dirty and returns a pointer to its back copy in *out for
 * in-place writes. The pointer is the writer's alone and is good until the
 * next kc_state_swap: a write through it after that swap would not be marked
 * and might never be published, so call again each frame. Errors as
 * kc_state_remove (*out is NULL then). Thread: writer. */
keel_result kc_state_back_get(kc_state_buffer *buf, kc_state_id id, void **out, kc_err *err);

/* The writer's view of its own latest state: a read-only pointer to the back
 * record, without marking it dirty. Valid until the record is removed.
 * Errors as kc_state_remove. Thread: writer. */
keel_result kc_state_back_peek(const kc_state_buffer *buf, kc_state_id id, const void **out, kc_err *err);

/* Live records on the back side. Thread: writer. */
uint32_t kc_state_back_count(const kc_state_buffer *buf);

/* Slots marked dirty since the last published swap (0 = the next swap will be
 * skipped). Thread: writer. */
uint32_t kc_state_dirty_count(const kc_state_buffer *buf);

/* ---- Publication (writer) ------------------------------------------------ */

/* Publishes the back side to the front with the buffer's copy mode. Skipped
 * (KEEL_OK, counted) when nothing is dirty. Otherwise: validates the dirty
 * live records, waits for readers to leave within the lock budget, copies,
 * and clears the dirty set. On failure the front is left exactly as it was,
 * the back keeps its dirty set so the next swap retries with nothing lost,
 * the event is counted, and the result is KEEL_ERR_TIMEOUT (lock budget
 * spent), KEEL_ERR_INVALID_ARGUMENT (a record failed validation; it keeps
 * failing until the writer fixes or removes it) or KEEL_ERR_OUT_OF_MEMORY.
 * Readers arriving while a swap waits are held back until it copies or gives
 * up, so a reader waits at most the budget plus one copy.
 * Thread: writer; never from inside a read section (it would wait out its
 * own budget and time out). */
keel_result kc_state_swap(kc_state_buffer *buf, kc_err *err);

/* kc_state_swap with a copy mode for this call only (e.g. a FULL swap after a
 * load, or to cross-check DIRTY). Thread: writer. */
keel_result kc_state_swap_mode(kc_state_buffer *buf, kc_state_copy_mode mode, kc_err *err);

/* Arms faults (KC_STATE_FAULT_* bits, or'ed with those already armed) for the
 * next swaps that have something to publish; a skipped swap leaves them
 * armed. For tests. Thread: writer. */
void kc_state_inject_fault(kc_state_buffer *buf, unsigned faults);

/* Setters for what the config chose at init (a copy mode for one swap is
 * kc_state_swap_mode's argument). Thread: writer, between swaps. A timeout
 * of 0 restores the default; the validator's ctx is borrowed. */
void kc_state_set_lock_timeout(kc_state_buffer *buf, uint64_t timeout_ns);
void kc_state_set_validator(kc_state_buffer *buf, kc_state_validate_fn fn, void *ctx);

/* Fills *out with the counters (see kc_state_metrics). Thread: writer. */
void kc_state_get_metrics(const kc_state_buffer *buf, kc_state_metrics *out);

/* ---- Front side (readers) ------------------------------------------------ */

/* Enters / leaves a read section: between the two the front does not change,
 * and pointers from kc_state_front_get / kc_state_front_next stay valid.
 * read_begin waits only while a swap copies or waits for earlier readers.
 * Keep sections short (a swap gives up after its lock budget) and do not
 * nest them on one thread. Thread: any reader; every begin needs one end on
 * the same thread. */
void kc_state_read_begin(kc_state_buffer *buf);
void kc_state_read_end(kc_state_buffer *buf);

/* Copies the front record into out (record_size bytes, caller's memory).
 * KEEL_ERR_STALE_ID if the id is not live on the front (removed and
 * published, or not yet published), KEEL_ERR_INVALID_ARGUMENT if it was never
 * an id of this buffer. Thread: reader in a read section, or the writer. */
keel_result kc_state_read(const kc_state_buffer *buf, kc_state_id id, void *out, kc_err *err);

/* A read-only pointer to the front record in *out, valid until read_end (for
 * the writer: until its next swap). Errors as kc_state_read. Thread: as
 * kc_state_read. */
keel_result kc_state_front_get(const kc_state_buffer *buf, kc_state_id id, const void **out, kc_err *err);

/* Walks the live front records in ascending id order. Start with *cursor = 0;
 * each call that returns true stores the next record's id and a pointer to it
 * (valid as for kc_state_front_get) and advances the cursor; false at the end.
 * Cost is the number of slots ever used, not only the live ones.
 * Thread: as kc_state_read, the whole walk inside one read section. */
bool kc_state_front_next(const kc_state_buffer *buf, uint32_t *cursor, kc_state_id *id, const void **record);

/* Live records on the front side. Thread: as kc_state_read. */
uint32_t kc_state_front_count(const kc_state_buffer *buf);

/* Slots the front has ever used (the bound of kc_state_front_next's cursor,
 * which is a slot index: a walk may start at any slot, so parallel readers
 * can split [0, slots) into ranges). Thread: as kc_state_read. */
uint32_t kc_state_front_slots(const kc_state_buffer *buf);

/* 64-bit FNV-1a over the front's live records in ascending id order, each as
 * its id (8 bytes, little-endian) followed by its record_size bytes. Equal
 * front states give equal hashes on any machine; an empty front gives the
 * FNV offset basis. Thread: as kc_state_read. */
uint64_t kc_state_front_hash(const kc_state_buffer *buf);

/* Record size and capacity given at init. Thread: any. */
uint32_t kc_state_record_size(const kc_state_buffer *buf);
uint32_t kc_state_capacity(const kc_state_buffer *buf);

#endif
