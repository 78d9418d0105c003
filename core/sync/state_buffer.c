/* The state buffer: two copies of a slot array, one the writer changes and one
 * the readers see, and a swap that moves only what changed across. See
 * state_buffer.h for the contract and docs/state-buffer.md for the figures. */
#include "sync/state_buffer.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Per-slot word on each side: the slot's current generation in the low 21
 * bits, bit 31 set while a record lives there. One word instead of separate
 * generation and alive arrays keeps a lookup to one load, and lets a dirty
 * swap publish a create, a remove or a reuse with one store. A never-used
 * slot is 0: generation 0 matches no issued id. */
#define SLOT_ALIVE 0x80000000u
#define ID_VALUE_BITS (KC_STATE_GEN_BITS + KC_STATE_INDEX_BITS)

#define RECORD_ALIGN 64u

typedef struct kc_state_side {
  unsigned char *records; /* capacity * record_size bytes, slot-indexed */
  uint32_t *slots;        /* capacity words: generation | SLOT_ALIVE */
} kc_state_side;

struct kc_state_buffer {
  /* Fixed at init; read by every thread. */
  uint32_t record_size;
  uint32_t capacity;
  char name[32];

  /* Writer-only. */
  kc_state_copy_mode copy_mode;
  uint64_t lock_timeout_ns;
  kc_state_validate_fn validate;
  void *validate_ctx;
  unsigned faults_armed;
  bool external_ids;

  kc_state_side back;
  uint32_t back_live;
  uint32_t back_hwm; /* slots [0, back_hwm) have been used at least once */

  /* Free slots below back_hwm, reused oldest-freed first: FIFO spreads the
   * generation increments over all free slots, so one hot slot does not run
   * through its 2^21 generations (and alias an old id) as fast as LIFO would. */
  uint32_t *free_ring;
  uint32_t free_head;
  uint32_t free_count;

  /* The dirty set as a list plus a membership flag: marking is O(1) and a
   * swap walks only the list, never all slots. */
  uint32_t *dirty_list;
  unsigned char *dirty_flag;
  uint32_t dirty_count;

  uint64_t swaps, skipped_swaps, records_copied, errors, timeouts, faults;
  double ratios[KC_STATE_RATIO_WINDOW];
  uint32_t ratio_next;
  uint32_t ratio_count;

  /* Front: changed only by the writer inside a swap, holding mu with no
   * reader inside a section; read by readers inside sections and by the
   * writer at any time. */
  kc_state_side front;
  uint32_t front_live;
  uint32_t front_hwm;

  /* The swap lock: a mutex, a reader count and two condition variables
   * rather than a pthread_rwlock, because
   *  - the swap's bounded wait must run on CLOCK_MONOTONIC (a wall-clock
   *    step must not turn a 10 ms budget into hours or zero), and
   *    pthread_rwlock_timedwrlock only takes CLOCK_REALTIME, while
   *    pthread_rwlock_clockwrlock is not intercepted by this toolchain's
   *    ThreadSanitizer, which then misses the happens-before it creates;
   *    a condattr clock is plain POSIX and fully understood by TSan;
   *  - the reader/writer preference is ours to state instead of a glibc
   *    default: a waiting swap holds new readers back (writer_waiting), so
   *    a stream of overlapping short sections cannot starve publication,
   *    and a reader waits at most the swap's budget plus one copy.
   * Readers hold mu only to count themselves in and out, never across a
   * section; the swap holds it for the copy, which keeps new readers out
   * without a separate "copying" flag. */
  pthread_mutex_t mu;
  pthread_cond_t writer_cv;  /* signalled when the last reader leaves; CLOCK_MONOTONIC */
  pthread_cond_t readers_cv; /* broadcast when a waiting swap copies or gives up */
  uint32_t readers;
  bool writer_waiting;
};

static const char *buf_name(const kc_state_buffer *buf) { return buf->name; }

static void side_free(kc_state_side *s) {
  free(s->records);
  free(s->slots);
  s->records = NULL;
  s->slots = NULL;
}

static bool side_alloc(kc_state_side *s, size_t record_bytes, uint32_t capacity) {
  /* aligned_alloc wants a multiple of the alignment; records start on a cache
   * line so a 64-byte record is one line, not two. */
  size_t rounded = (record_bytes + RECORD_ALIGN - 1) / RECORD_ALIGN * RECORD_ALIGN;
  s->records = aligned_alloc(RECORD_ALIGN, rounded);
  s->slots = calloc(capacity, sizeof *s->slots);
  if (!s->records || !s->slots) {
    side_free(s);
    return false;
  }
  memset(s->records, 0, record_bytes);
  return true;
}

static void buffer_free(kc_state_buffer *buf) {
  side_free(&buf->back);
  side_free(&buf->front);
  free(buf->free_ring);
  free(buf->dirty_list);
  free(buf->dirty_flag);
  free(buf);
}

keel_result kc_state_init(kc_state_buffer **out, const kc_state_config *cfg, kc_err *err) {
  if (!out) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "state buffer: out is NULL");
  *out = NULL;
  if (!cfg) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "state buffer: config is NULL");
  const char *name = cfg->name && cfg->name[0] ? cfg->name : "unnamed";
  if (cfg->record_size == 0 || cfg->record_size > KC_STATE_RECORD_MAX)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "state buffer '%s': record_size %" PRIu32
                      " is outside 1..%" PRIu32, name, cfg->record_size, (uint32_t)KC_STATE_RECORD_MAX);
  if (cfg->capacity == 0)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "state buffer '%s': capacity must be at least 1", name);
  if (cfg->copy_mode != KC_STATE_COPY_DIRTY && cfg->copy_mode != KC_STATE_COPY_FULL)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "state buffer '%s': copy_mode %d is neither DIRTY nor FULL",
                      name, (int)cfg->copy_mode);
  if ((size_t)cfg->capacity > (SIZE_MAX - RECORD_ALIGN) / cfg->record_size)
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "state buffer '%s': %" PRIu32 " records of %" PRIu32
                      " bytes exceed the address space", name, cfg->capacity, cfg->record_size);
  size_t record_bytes = (size_t)cfg->capacity * cfg->record_size;

  kc_state_buffer *buf = calloc(1, sizeof *buf);
  if (!buf) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "state buffer '%s': out of memory", name);
  snprintf(buf->name, sizeof buf->name, "%s", name);
  buf->record_size = cfg->record_size;
  buf->capacity = cfg->capacity;
  buf->copy_mode = cfg->copy_mode;
  buf->lock_timeout_ns = cfg->lock_timeout_ns ? cfg->lock_timeout_ns : KC_STATE_DEFAULT_LOCK_TIMEOUT_NS;
  buf->validate = cfg->validate;
  buf->validate_ctx = cfg->validate_ctx;
  buf->external_ids = cfg->external_ids;

  bool ok = side_alloc(&buf->back, record_bytes, cfg->capacity) && side_alloc(&buf->front, record_bytes, cfg->capacity);
  buf->free_ring = malloc((size_t)cfg->capacity * sizeof *buf->free_ring);
  buf->dirty_list = malloc((size_t)cfg->capacity * sizeof *buf->dirty_list);
  buf->dirty_flag = calloc(cfg->capacity, 1);
  if (!ok || !buf->free_ring || !buf->dirty_list || !buf->dirty_flag) {
    buffer_free(buf);
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "state buffer '%s': out of memory for %" PRIu32
                      " records of %" PRIu32 " bytes (two sides)", name, cfg->capacity, cfg->record_size);
  }

  pthread_condattr_t ca;
  int rc = pthread_condattr_init(&ca);
  if (rc == 0) {
    rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0) rc = pthread_cond_init(&buf->writer_cv, &ca);
    pthread_condattr_destroy(&ca);
  }
  if (rc != 0) {
    buffer_free(buf);
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "state buffer '%s': cannot create its lock: %s", name,
                      strerror(rc));
  }
  rc = pthread_cond_init(&buf->readers_cv, NULL);
  if (rc != 0) {
    pthread_cond_destroy(&buf->writer_cv);
    buffer_free(buf);
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "state buffer '%s': cannot create its lock: %s", name,
                      strerror(rc));
  }
  rc = pthread_mutex_init(&buf->mu, NULL);
  if (rc != 0) {
    pthread_cond_destroy(&buf->readers_cv);
    pthread_cond_destroy(&buf->writer_cv);
    buffer_free(buf);
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "state buffer '%s': cannot create its lock: %s", name,
                      strerror(rc));
  }
  *out = buf;
  return KEEL_OK;
}

void kc_state_destroy(kc_state_buffer *buf) {
  if (!buf) return;
  pthread_mutex_destroy(&buf->mu);
  pthread_cond_destroy(&buf->readers_cv);
  pthread_cond_destroy(&buf->writer_cv);
  buffer_free(buf);
}

/* ---- ids ---------------------------------------------------------------- */

/* Could id have been issued by this buffer at all (as opposed to stale)? */
static inline bool id_well_formed(const kc_state_buffer *buf, kc_state_id id) {
  return (id >> ID_VALUE_BITS) == 0 && kc_state_id_generation(id) != 0 && kc_state_id_index(id) < buf->capacity;
}

static keel_result foreign_id(const kc_state_buffer *buf, kc_state_id id, kc_err *err) {
  return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "state buffer '%s': %" PRIu64
                    " is not an id of this buffer (capacity %" PRIu32 ")", buf_name(buf), (uint64_t)id,
                    buf->capacity);
}

/* Resolves id against one side's slot words. Kept small and inline for the
 * hit path; the message is formatted only on a miss. */
static inline keel_result resolve(const kc_state_buffer *buf, const uint32_t *slots, kc_state_id id,
                                  const char *side, uint32_t *index, kc_err *err) {
  *index = 0; /* callers only use it on KEEL_OK; keeps -Wmaybe-uninitialized quiet at -O2 */
  uint32_t idx = kc_state_id_index(id);
  uint32_t gen = kc_state_id_generation(id);
  if (!id_well_formed(buf, id)) return foreign_id(buf, id, err);
  uint32_t s = slots[idx];
  if (!(s & SLOT_ALIVE) || (s & KC_STATE_GEN_MASK) != gen)
    return kc_err_set(err, KEEL_ERR_STALE_ID, "state buffer '%s': id %" PRIu64 " (slot %" PRIu32
                      ", generation %" PRIu32 ") is stale on the %s side: the slot is %s generation %" PRIu32,
                      buf_name(buf), (uint64_t)id, idx, gen, side, (s & SLOT_ALIVE) ? "live with" : "free after",
                      s & KC_STATE_GEN_MASK);
  *index = idx;
  return KEEL_OK;
}

static inline void mark_dirty(kc_state_buffer *buf, uint32_t idx) {
  if (!buf->dirty_flag[idx]) {
    buf->dirty_flag[idx] = 1;
    buf->dirty_list[buf->dirty_count++] = idx;
  }
}

static inline unsigned char *back_record(kc_state_buffer *buf, uint32_t idx) {
  return buf->back.records + (size_t)idx * buf->record_size;
}

/* ---- back side ---------------------------------------------------------- */

static void place_record(kc_state_buffer *buf, uint32_t idx, uint32_t gen, const void *init) {
  buf->back.slots[idx] = gen | SLOT_ALIVE;
  unsigned char *rec = back_record(buf, idx);
  if (init)
    memcpy(rec, init, buf->record_size);
  else
    memset(rec, 0, buf->record_size);
  mark_dirty(buf, idx);
  buf->back_live++;
}

keel_result kc_state_create(kc_state_buffer *buf, const void *init, kc_state_id *out_id, kc_err *err) {
  if (out_id) *out_id = KC_STATE_ID_NONE;
  if (buf->external_ids)
    return kc_err_set(err, KEEL_ERR_WRONG_STATE, "state buffer '%s' takes its ids from the caller: "
                      "use kc_state_create_at", buf_name(buf));
  if (buf->back_live == buf->capacity)
    return kc_err_set(err, KEEL_ERR_FULL, "state buffer '%s': all %" PRIu32 " records are in use",
                      buf_name(buf), buf->capacity);
  /* free slots + unused slots = capacity - live > 0, so one of these holds. */
  uint32_t idx;
  if (buf->free_count > 0) {
    idx = buf->free_ring[buf->free_head];
    buf->free_head = buf->free_head + 1 == buf->capacity ? 0 : buf->free_head + 1;
    buf->free_count--;
  } else {
    idx = buf->back_hwm++;
  }
  uint32_t gen = (buf->back.slots[idx] & KC_STATE_GEN_MASK) + 1u;
  if (gen > KC_STATE_GEN_MASK) gen = 1u; /* wrap skips 0: id 0 stays invalid */
  place_record(buf, idx, gen, init);
  if (out_id) *out_id = kc_state_id_make(idx, gen);
  return KEEL_OK;
}

keel_result kc_state_create_at(kc_state_buffer *buf, kc_state_id id, const void *init, kc_err *err) {
  if (!buf->external_ids)
    return kc_err_set(err, KEEL_ERR_WRONG_STATE, "state buffer '%s' hands out its own ids: use kc_state_create",
                      buf_name(buf));
  uint32_t idx = kc_state_id_index(id);
  uint32_t gen = kc_state_id_generation(id);
  if (!id_well_formed(buf, id)) return foreign_id(buf, id, err);
  uint32_t s = buf->back.slots[idx];
  if (s & SLOT_ALIVE)
    return kc_err_set(err, KEEL_ERR_WRONG_STATE, "state buffer '%s': cannot create id %" PRIu64 ": slot %" PRIu32
                      " is live with generation %" PRIu32, buf_name(buf), (uint64_t)id, idx, s & KC_STATE_GEN_MASK);
  if ((s & KC_STATE_GEN_MASK) == gen)
    return kc_err_set(err, KEEL_ERR_STALE_ID, "state buffer '%s': id %" PRIu64 " was already used and removed; "
                      "slot %" PRIu32 " needs a new generation", buf_name(buf), (uint64_t)id, idx);
  if (idx >= buf->back_hwm) buf->back_hwm = idx + 1;
  place_record(buf, idx, gen, init);
  return KEEL_OK;
}

keel_result kc_state_remove(kc_state_buffer *buf, kc_state_id id, kc_err *err) {
  uint32_t idx;
  keel_result r = resolve(buf, buf->back.slots, id, "back", &idx, err);
  if (r != KEEL_OK) return r;
  buf->back.slots[idx] &= ~SLOT_ALIVE;
  mark_dirty(buf, idx);
  buf->back_live--;
  if (buf->external_ids) return KEEL_OK; /* the caller keeps its own free list */
  uint64_t tail = (uint64_t)buf->free_head + buf->free_count; /* 64-bit: capacity may exceed 2^31 */
  if (tail >= buf->capacity) tail -= buf->capacity;
  buf->free_ring[tail] = idx;
  buf->free_count++;
  return KEEL_OK;
}

keel_result kc_state_write(kc_state_buffer *buf, kc_state_id id, const void *record, kc_err *err) {
  uint32_t idx;
  keel_result r = resolve(buf, buf->back.slots, id, "back", &idx, err);
  if (r != KEEL_OK) return r;
  memcpy(back_record(buf, idx), record, buf->record_size);
  mark_dirty(buf, idx);
  return KEEL_OK;
}

keel_result kc_state_write_field(kc_state_buffer *buf, kc_state_id id, size_t offset, const void *data,
                                 size_t size, kc_err *err) {
  if (offset > buf->record_size || size > buf->record_size - offset)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "state buffer '%s': field of %zu bytes at offset %zu "
                      "leaves the %" PRIu32 "-byte record", buf_name(buf), size, offset, buf->record_size);
  uint32_t idx;
  keel_result r = resolve(buf, buf->back.slots, id, "back", &idx, err);
  if (r != KEEL_OK) return r;
  if (size) memcpy(back_record(buf, idx) + offset, data, size);
  mark_dirty(buf, idx);
  return KEEL_OK;
}

keel_result kc_state_back_get(kc_state_buffer *buf, kc_state_id id, void **out, kc_err *err) {
  *out = NULL;
  uint32_t idx;
  keel_result r = resolve(buf, buf->back.slots, id, "back", &idx, err);
  if (r != KEEL_OK) return r;
  mark_dirty(buf, idx);
  *out = back_record(buf, idx);
  return KEEL_OK;
}

keel_result kc_state_back_peek(const kc_state_buffer *buf, kc_state_id id, const void **out, kc_err *err) {
  *out = NULL;
  uint32_t idx;
  keel_result r = resolve(buf, buf->back.slots, id, "back", &idx, err);
  if (r != KEEL_OK) return r;
  *out = buf->back.records + (size_t)idx * buf->record_size;
  return KEEL_OK;
}

uint32_t kc_state_back_count(const kc_state_buffer *buf) { return buf->back_live; }
uint32_t kc_state_dirty_count(const kc_state_buffer *buf) { return buf->dirty_count; }

/* ---- the lock ----------------------------------------------------------- */

void kc_state_read_begin(kc_state_buffer *buf) {
  pthread_mutex_lock(&buf->mu);
  while (buf->writer_waiting) pthread_cond_wait(&buf->readers_cv, &buf->mu);
  buf->readers++;
  pthread_mutex_unlock(&buf->mu);
}

void kc_state_read_end(kc_state_buffer *buf) {
  pthread_mutex_lock(&buf->mu);
  buf->readers--;
  if (buf->readers == 0 && buf->writer_waiting) pthread_cond_signal(&buf->writer_cv);
  pthread_mutex_unlock(&buf->mu);
}

/* Takes mu with no reader inside a section, waiting at most the budget.
 * Returns false (mu not held) on timeout. The clock is read only when a
 * reader is actually inside, so an uncontended swap costs one lock. */
static bool lock_front(kc_state_buffer *buf) {
  pthread_mutex_lock(&buf->mu);
  if (buf->readers == 0) return true;
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  /* Seconds and nanoseconds apart, so no budget can overflow the sum. */
  uint64_t ns = (uint64_t)deadline.tv_nsec + buf->lock_timeout_ns % 1000000000u;
  deadline.tv_sec += (time_t)(buf->lock_timeout_ns / 1000000000u + ns / 1000000000u);
  deadline.tv_nsec = (long)(ns % 1000000000u);
  buf->writer_waiting = true;
  while (buf->readers > 0) {
    int rc = pthread_cond_timedwait(&buf->writer_cv, &buf->mu, &deadline);
    if (rc == ETIMEDOUT && buf->readers > 0) break;
  }
  bool got = buf->readers == 0;
  /* Either way the held-back readers may go: after this unlock (copy done)
   * or now (gave up). They block on mu until the copy finishes. */
  buf->writer_waiting = false;
  pthread_cond_broadcast(&buf->readers_cv);
  if (!got) pthread_mutex_unlock(&buf->mu);
  return got;
}

/* ---- swap --------------------------------------------------------------- */

static void record_ratio(kc_state_buffer *buf, uint32_t dirty) {
  double live = buf->back_live ? (double)buf->back_live : 1.0;
  double r = (double)dirty / live;
  if (r > 1.0) r = 1.0;
  buf->ratios[buf->ratio_next] = r;
  buf->ratio_next = (buf->ratio_next + 1) % KC_STATE_RATIO_WINDOW;
  if (buf->ratio_count < KC_STATE_RATIO_WINDOW) buf->ratio_count++;
}

keel_result kc_state_swap_mode(kc_state_buffer *buf, kc_state_copy_mode mode, kc_err *err) {
  if (mode != KC_STATE_COPY_DIRTY && mode != KC_STATE_COPY_FULL)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "state buffer '%s': copy mode %d is neither DIRTY nor FULL",
                      buf_name(buf), (int)mode);
  uint32_t dirty = buf->dirty_count;
  if (dirty == 0) {
    buf->skipped_swaps++;
    return KEEL_OK;
  }

  /* Stage 1, allocation. The swap copies between storage made at init and
   * allocates nothing; the injected fault stands for the failure a swap that
   * needed scratch memory would meet, and takes the same way out as every
   * other failure below: before the front is touched. */
  if (buf->faults_armed & KC_STATE_FAULT_ALLOC) {
    buf->faults_armed &= ~(unsigned)KC_STATE_FAULT_ALLOC;
    buf->faults++;
    buf->errors++;
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "state buffer '%s': swap failed to allocate (injected); "
                      "front kept stale, %" PRIu32 " dirty slots kept for the next swap", buf_name(buf), dirty);
  }

  /* Stage 2, validation, on the back side and outside the lock: readers are
   * never held back while user code runs. */
  if (buf->faults_armed & KC_STATE_FAULT_VALIDATION) {
    buf->faults_armed &= ~(unsigned)KC_STATE_FAULT_VALIDATION;
    buf->faults++;
    buf->errors++;
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "state buffer '%s': validation failed (injected); front "
                      "kept stale, %" PRIu32 " dirty slots kept for the next swap", buf_name(buf), dirty);
  }
  if (buf->validate) {
    for (uint32_t k = 0; k < dirty; k++) {
      uint32_t idx = buf->dirty_list[k];
      uint32_t s = buf->back.slots[idx];
      if (!(s & SLOT_ALIVE)) continue;
      kc_state_id id = kc_state_id_make(idx, s & KC_STATE_GEN_MASK);
      if (!buf->validate(id, back_record(buf, idx), buf->validate_ctx)) {
        buf->errors++;
        return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "state buffer '%s': record %" PRIu64 " (slot %" PRIu32
                          ") failed validation; front kept stale, %" PRIu32 " dirty slots kept for the next swap",
                          buf_name(buf), (uint64_t)id, idx, dirty);
      }
    }
  }

  /* Stage 3, the lock. */
  if (buf->faults_armed & KC_STATE_FAULT_TIMEOUT) {
    buf->faults_armed &= ~(unsigned)KC_STATE_FAULT_TIMEOUT;
    buf->faults++;
    buf->timeouts++;
    return kc_err_set(err, KEEL_ERR_TIMEOUT, "state buffer '%s': swap lock timed out (injected); front kept "
                      "stale, %" PRIu32 " dirty slots kept for the next swap", buf_name(buf), dirty);
  }
  if (!lock_front(buf)) {
    buf->timeouts++;
    return kc_err_set(err, KEEL_ERR_TIMEOUT, "state buffer '%s': readers held the front past the %" PRIu64
                      " ns swap budget; front kept stale, %" PRIu32 " dirty slots kept for the next swap",
                      buf_name(buf), buf->lock_timeout_ns, dirty);
  }

  /* Stage 4, the copy: nothing here can fail, so the front is never half
   * published. */
  uint64_t copied = 0;
  const size_t rs = buf->record_size;
  if (mode == KC_STATE_COPY_FULL) {
    uint32_t n = buf->back_hwm;
    memcpy(buf->front.records, buf->back.records, (size_t)n * rs);
    memcpy(buf->front.slots, buf->back.slots, (size_t)n * sizeof *buf->front.slots);
    copied = n;
  } else {
    const uint32_t *list = buf->dirty_list;
    const uint32_t *bslots = buf->back.slots;
    uint32_t *fslots = buf->front.slots;
    const unsigned char *brec = buf->back.records;
    unsigned char *frec = buf->front.records;
    for (uint32_t k = 0; k < dirty; k++) {
      uint32_t idx = list[k];
      uint32_t s = bslots[idx];
      fslots[idx] = s;
      if (s & SLOT_ALIVE) {
        memcpy(frec + (size_t)idx * rs, brec + (size_t)idx * rs, rs);
        copied++;
      }
    }
  }
  buf->front_live = buf->back_live;
  buf->front_hwm = buf->back_hwm;
  pthread_mutex_unlock(&buf->mu);

  /* Writer-only bookkeeping, after readers are free to go again. */
  for (uint32_t k = 0; k < dirty; k++) buf->dirty_flag[buf->dirty_list[k]] = 0;
  buf->dirty_count = 0;
  buf->swaps++;
  buf->records_copied += copied;
  record_ratio(buf, dirty);
  return KEEL_OK;
}

keel_result kc_state_swap(kc_state_buffer *buf, kc_err *err) { return kc_state_swap_mode(buf, buf->copy_mode, err); }

void kc_state_inject_fault(kc_state_buffer *buf, unsigned faults) {
  buf->faults_armed |= faults & (KC_STATE_FAULT_ALLOC | KC_STATE_FAULT_VALIDATION | KC_STATE_FAULT_TIMEOUT);
}

void kc_state_set_lock_timeout(kc_state_buffer *buf, uint64_t timeout_ns) {
  buf->lock_timeout_ns = timeout_ns ? timeout_ns : KC_STATE_DEFAULT_LOCK_TIMEOUT_NS;
}

void kc_state_set_validator(kc_state_buffer *buf, kc_state_validate_fn fn, void *ctx) {
  buf->validate = fn;
  buf->validate_ctx = ctx;
}

void kc_state_get_metrics(const kc_state_buffer *buf, kc_state_metrics *out) {
  memset(out, 0, sizeof *out);
  out->swaps = buf->swaps;
  out->skipped_swaps = buf->skipped_swaps;
  out->records_copied = buf->records_copied;
  out->errors = buf->errors;
  out->timeouts = buf->timeouts;
  out->faults = buf->faults;
  uint32_t n = buf->ratio_count;
  if (n) {
    /* Summed oldest first, from the stored ratios rather than a running sum,
     * so the figure is exactly the mean of the window with no drift. */
    uint32_t start = (buf->ratio_next + KC_STATE_RATIO_WINDOW - n) % KC_STATE_RATIO_WINDOW;
    double sum = 0.0;
    for (uint32_t i = 0; i < n; i++) sum += buf->ratios[(start + i) % KC_STATE_RATIO_WINDOW];
    out->dirty_ratio_avg = sum / (double)n;
  }
  out->dirty_ratio_samples = n;
  out->live_back = buf->back_live;
  out->live_front = buf->front_live;
  out->dirty = buf->dirty_count;
}

/* ---- front side --------------------------------------------------------- */

keel_result kc_state_read(const kc_state_buffer *buf, kc_state_id id, void *out, kc_err *err) {
  uint32_t idx;
  keel_result r = resolve(buf, buf->front.slots, id, "front", &idx, err);
  if (r != KEEL_OK) return r;
  memcpy(out, buf->front.records + (size_t)idx * buf->record_size, buf->record_size);
  return KEEL_OK;
}

keel_result kc_state_front_get(const kc_state_buffer *buf, kc_state_id id, const void **out, kc_err *err) {
  *out = NULL;
  uint32_t idx;
  keel_result r = resolve(buf, buf->front.slots, id, "front", &idx, err);
  if (r != KEEL_OK) return r;
  *out = buf->front.records + (size_t)idx * buf->record_size;
  return KEEL_OK;
}

bool kc_state_front_next(const kc_state_buffer *buf, uint32_t *cursor, kc_state_id *id, const void **record) {
  const uint32_t hwm = buf->front_hwm;
  for (uint32_t i = *cursor; i < hwm; i++) {
    uint32_t s = buf->front.slots[i];
    if (s & SLOT_ALIVE) {
      *cursor = i + 1;
      if (id) *id = kc_state_id_make(i, s & KC_STATE_GEN_MASK);
      if (record) *record = buf->front.records + (size_t)i * buf->record_size;
      return true;
    }
  }
  *cursor = hwm;
  return false;
}

uint32_t kc_state_front_count(const kc_state_buffer *buf) { return buf->front_live; }

uint32_t kc_state_front_slots(const kc_state_buffer *buf) { return buf->front_hwm; }

#define FNV64_OFFSET 0xcbf29ce484222325ull
#define FNV64_PRIME 0x100000001b3ull

uint64_t kc_state_front_hash(const kc_state_buffer *buf) {
  uint64_t h = FNV64_OFFSET;
  const uint32_t hwm = buf->front_hwm;
  const size_t rs = buf->record_size;
  for (uint32_t i = 0; i < hwm; i++) {
    uint32_t s = buf->front.slots[i];
    if (!(s & SLOT_ALIVE)) continue;
    kc_state_id id = kc_state_id_make(i, s & KC_STATE_GEN_MASK);
    for (int b = 0; b < 8; b++) {
      h ^= (uint64_t)((id >> (8 * b)) & 0xffu);
      h *= FNV64_PRIME;
    }
    const unsigned char *p = buf->front.records + (size_t)i * rs;
    for (size_t j = 0; j < rs; j++) {
      h ^= p[j];
      h *= FNV64_PRIME;
    }
  }
  return h;
}

uint32_t kc_state_record_size(const kc_state_buffer *buf) { return buf->record_size; }
uint32_t kc_state_capacity(const kc_state_buffer *buf) { return buf->capacity; }
