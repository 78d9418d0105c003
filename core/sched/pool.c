/* kc_pool implementation: per-worker Chase-Lev deques of job slot numbers,
 * job and counter slots in chunks owned by each submitting thread (no malloc
 * per job), generation-tagged completion counters that release dependent
 * batches, and an eventcount on a futex so idle threads sleep after a short
 * spin. See docs/scheduler.md. */
#include "sched/pool.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/trace.h"

#include "base/cpu.h"
#include "sync/futex.h"

/* A full fence for the Dekker-style handshakes below (deque take/steal,
 * sleep/wake). GCC refuses atomic_thread_fence under ThreadSanitizer, so
 * there every fence is a seq_cst read-modify-write of one shared word: the
 * RMWs are totally ordered and each synchronises with the one before, which
 * gives both sides of a handshake the ordering the fence would. */
#if defined(__SANITIZE_THREAD__)
static _Atomic uint32_t kp_fence_word;
#define KP_FENCE() ((void)atomic_fetch_add_explicit(&kp_fence_word, 0, memory_order_seq_cst))
#else
#define KP_FENCE() atomic_thread_fence(memory_order_seq_cst)
#endif

#define KP_LINE 64
#define KP_NONE 0xFFFFFFFFu
#define KP_CLOSED 0xFFFFFFFEu /* a counter's continuation list after it completed */
#define KP_MIN_JOB_CAPACITY 4u
#define KP_MAX_CHUNKS 65536u
#define KP_DEQUE_INITIAL 256u
/* Sleepers re-check after this long even without a wake-up. The eventcount
 * below does not lose wake-ups; this only bounds the damage if a future
 * change breaks that, at a cost of a few wake-ups a second per idle thread. */
#define KP_SLEEP_SAFETY_NS (100u * 1000u * 1000u)

/* ---- slots ---------------------------------------------------------------
 * A job or counter slot belongs to the chunk of one submitting thread; only
 * that thread (or whoever holds foreign_lock, for the foreign chunk) turns a
 * free slot into a used one, and whoever is done with it hands it back with
 * one release store, so taking and returning a slot needs no
 * read-modify-write. Slots are numbered chunk << chunk_shift | index. */

typedef struct kp_job {
  alignas(KP_LINE) keel_job_fn fn; /* a line each: neighbours are freed by different workers */
  void *user;
  uint32_t counter; /* slot of the batch's completion counter */
  uint32_t next;    /* link in a dependent chain or a shared stack */
  bool main_only;
  _Atomic uint32_t free; /* 1: the owner may reuse the slot */
} kp_job;

typedef struct kp_counter {
  alignas(KP_LINE) _Atomic uint64_t state; /* generation << 32 | jobs not yet finished */
  _Atomic uint64_t cont;                   /* generation << 32 | first dependent job, KP_NONE or KP_CLOSED */
  _Atomic uint32_t free;
} kp_counter;

/* The chunks one submitting thread allocates from, and where it looked last.
 * Owner-only. */
typedef struct kp_ring {
  uint32_t *chunks;
  uint32_t n_chunks, cap_chunks;
  uint32_t job_pos, job_cursor;         /* chunks[job_pos], slot job_cursor */
  uint32_t counter_pos, counter_cursor;
  bool fixed; /* the foreign ring: never grows */
} kp_ring;

/* Chase-Lev work-stealing deque of slot numbers (Chase & Lev 2005, with the
 * C11 orderings of Le, Pop, Cohen & Zappa Nardelli 2013). The owner pushes
 * and takes at the bottom, thieves steal at the top. When full the owner
 * doubles the array; old arrays stay allocated until the pool is destroyed
 * because a thief may still be reading one. */
typedef struct kp_array {
  struct kp_array *retired; /* the array this one replaced */
  int64_t mask;
  _Atomic uint32_t slots[];
} kp_array;

typedef struct kp_deque {
  alignas(KP_LINE) _Atomic int64_t top;
  alignas(KP_LINE) _Atomic int64_t bottom;
  _Atomic(kp_array *) array;
} kp_deque;

typedef struct kp_worker {
  kp_deque dq;
  /* Owner-only from here. */
  alignas(KP_LINE) kp_ring ring;
  uint64_t rng;
  uint32_t main_local; /* worker 0: main-pinned jobs taken off the shared stack, FIFO */
  uint32_t main_local_tail;
  kc_pool *pool;
  uint32_t index;
  bool started;
  pthread_t thread;
  /* Written only by the owner (load + store, no RMW); read by stats. */
  _Atomic uint64_t jobs_run, steals, injected, main_jobs_run, sleeps, chunks_added;
} kp_worker;

/* An eventcount: a thread about to sleep registers, re-checks its condition
 * and sleeps only if the epoch has not moved; whoever makes a condition true
 * bumps the epoch when someone is registered. The fences on both sides make
 * it impossible for both to miss each other. */
typedef struct kp_ec {
  alignas(KP_LINE) _Atomic uint32_t epoch;
  _Atomic uint32_t sleepers;
} kp_ec;

struct kc_pool {
  uint32_t workers;
  uint32_t chunk_size; /* power of two */
  uint32_t chunk_shift;
  uint32_t chunk_mask;
  uint32_t max_chunks;
  uint32_t spin_ns;
  _Atomic(kp_job *) *job_chunks;         /* [max_chunks], filled as chunks are added */
  _Atomic(kp_counter *) *counter_chunks;
  _Atomic uint32_t chunks_reserved;
  kp_worker *w;
  const char *main_token;

  pthread_mutex_t foreign_lock; /* guards foreign_ring */
  kp_ring foreign_ring;
  uint32_t foreign_chunk;
  _Atomic uint32_t foreign_jobs_used;
  _Atomic uint32_t foreign_counters_used;

  /* Intrusive stacks of ready jobs, linked through kp_job.next. Anyone
   * pushes with a CAS; a consumer takes the whole stack with one exchange,
   * so there is no ABA. inject: foreign submissions, any worker takes them.
   * main_head: main-pinned jobs, only the main thread takes them. */
  alignas(KP_LINE) _Atomic uint32_t inject_head;
  alignas(KP_LINE) _Atomic uint32_t main_head;

  kp_ec work_ec; /* idle background workers */
  kp_ec done_ec; /* threads inside kc_pool_wait / destroy */

  alignas(KP_LINE) _Atomic uint64_t inflight; /* batches submitted and not complete */
  _Atomic uint32_t stopping;
  _Atomic uint32_t quit;
};

/* Identifies the calling thread for worker_index without a syscall: the
 * address of a thread-local is unique among live threads. */
static _Thread_local char tls_token;
static _Thread_local kc_pool *tls_pool;
static _Thread_local uint32_t tls_index;

static inline void stat_inc(_Atomic uint64_t *v) {
  atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + 1, memory_order_relaxed);
}

static uint32_t pow2_at_least(uint32_t v) {
  uint32_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

/* A slot number reached this thread through a deque, a stack or a counter
 * id, all published after the chunk pointer: relaxed loads suffice. */
static inline kp_job *job_at(const kc_pool *p, uint32_t slot) {
  return &atomic_load_explicit(&p->job_chunks[slot >> p->chunk_shift], memory_order_relaxed)[slot & p->chunk_mask];
}

static inline kp_counter *counter_at(const kc_pool *p, uint32_t slot) {
  return &atomic_load_explicit(&p->counter_chunks[slot >> p->chunk_shift],
                               memory_order_relaxed)[slot & p->chunk_mask];
}

/* A counter id from a caller, who may pass anything: its chunk must exist. */
static kp_counter *counter_checked(const kc_pool *p, uint64_t id) {
  if ((id >> 32) == 0) return NULL;
  uint32_t slot = (uint32_t)id;
  if ((slot >> p->chunk_shift) >= p->max_chunks) return NULL;
  kp_counter *chunk = atomic_load_explicit(&p->counter_chunks[slot >> p->chunk_shift], memory_order_acquire);
  return chunk ? &chunk[slot & p->chunk_mask] : NULL;
}

/* ---- futex eventcount ---------------------------------------------------- */

static uint32_t ec_prepare(kp_ec *ec) {
  atomic_fetch_add_explicit(&ec->sleepers, 1, memory_order_seq_cst);
  KP_FENCE();
  return atomic_load_explicit(&ec->epoch, memory_order_seq_cst);
}

static void ec_cancel(kp_ec *ec) { atomic_fetch_sub_explicit(&ec->sleepers, 1, memory_order_relaxed); }

static void ec_sleep(kp_ec *ec, uint32_t key) {
  kc_futex_wait(&ec->epoch, key, KP_SLEEP_SAFETY_NS);
  atomic_fetch_sub_explicit(&ec->sleepers, 1, memory_order_relaxed);
}

/* The caller has just made a condition true; the fence orders that before
 * the sleepers check (see kp_ec). */
static void ec_notify(kp_ec *ec, int n) {
  KP_FENCE();
  if (atomic_load_explicit(&ec->sleepers, memory_order_relaxed) == 0) return;
  atomic_fetch_add_explicit(&ec->epoch, 1, memory_order_seq_cst);
  kc_futex_wake(&ec->epoch, n);
}

/* New runnable jobs: wake up to n idle workers, and every waiter, since a
 * waiter may be the only thread that can run them (threads = 1, or the
 * main thread for main-pinned jobs). */
static void notify_jobs(kc_pool *p, uint32_t n) {
  KP_FENCE();
  if (atomic_load_explicit(&p->work_ec.sleepers, memory_order_relaxed) != 0) {
    atomic_fetch_add_explicit(&p->work_ec.epoch, 1, memory_order_seq_cst);
    kc_futex_wake(&p->work_ec.epoch, n > INT_MAX ? INT_MAX : (int)n);
  }
  if (atomic_load_explicit(&p->done_ec.sleepers, memory_order_relaxed) != 0) {
    atomic_fetch_add_explicit(&p->done_ec.epoch, 1, memory_order_seq_cst);
    kc_futex_wake(&p->done_ec.epoch, INT_MAX);
  }
}

/* ---- deque ---------------------------------------------------------------- */

static kp_array *array_new(int64_t size) {
  kp_array *a = malloc(sizeof *a + (size_t)size * sizeof(_Atomic uint32_t));
  if (!a) return NULL;
  a->retired = NULL;
  a->mask = size - 1;
  return a;
}

static void dq_free(kp_deque *d) {
  kp_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
  while (a) {
    kp_array *older = a->retired;
    free(a);
    a = older;
  }
  atomic_store_explicit(&d->array, NULL, memory_order_relaxed);
}

/* False only when a grown array cannot be allocated. */
static bool dq_push(kp_deque *d, uint32_t v) {
  int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
  int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
  kp_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
  if (b - t > a->mask) {
    kp_array *g = array_new((a->mask + 1) * 2);
    if (!g) return false;
    for (int64_t i = t; i < b; i++)
      atomic_store_explicit(&g->slots[i & g->mask], atomic_load_explicit(&a->slots[i & a->mask], memory_order_relaxed),
                            memory_order_relaxed);
    g->retired = a;
    atomic_store_explicit(&d->array, g, memory_order_release);
    a = g;
  }
  atomic_store_explicit(&a->slots[b & a->mask], v, memory_order_relaxed);
  /* Release publishes the slot and the job it names to thieves. (A release
   * store rather than a release fence + relaxed store: same code on x86,
   * and ThreadSanitizer understands it.) */
  atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
  return true;
}

static uint32_t dq_take(kp_deque *d) {
  int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
  kp_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
  atomic_store_explicit(&d->bottom, b, memory_order_release);
  /* Orders the bottom store before the top load against a thief's top load
   * before its bottom load: of a take and a steal aiming at the last job,
   * at least one sees the other and the CAS on top settles who gets it. */
  KP_FENCE();
  int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
  if (t > b) {
    atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
    return KP_NONE;
  }
  uint32_t v = atomic_load_explicit(&a->slots[b & a->mask], memory_order_relaxed);
  if (t == b) {
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
      v = KP_NONE;
    atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
  }
  return v;
}

/* 1: stole *out. 0: empty. -1: lost a race (the deque may still hold work). */
static int dq_steal(kp_deque *d, uint32_t *out) {
  int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
  KP_FENCE();
  int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
  if (t >= b) return 0;
  /* Acquire: an array installed before the bottom we read is complete. An
   * older array still holds the right value at t (growth copies, never
   * clears). */
  kp_array *a = atomic_load_explicit(&d->array, memory_order_acquire);
  uint32_t v = atomic_load_explicit(&a->slots[t & a->mask], memory_order_relaxed);
  if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                               memory_order_relaxed))
    return -1;
  *out = v;
  return 1;
}

static bool dq_maybe_nonempty(kp_deque *d) {
  int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
  int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
  return b > t;
}

/* ---- shared stacks ---------------------------------------------------------- */

/* Pushes the chain head..tail (already linked through next). */
static void stack_push(kc_pool *p, _Atomic uint32_t *head, uint32_t first, uint32_t last) {
  uint32_t h = atomic_load_explicit(head, memory_order_relaxed);
  do {
    job_at(p, last)->next = h;
  } while (!atomic_compare_exchange_weak_explicit(head, &h, first, memory_order_release, memory_order_relaxed));
}

/* Takes the whole stack and returns it oldest first. */
static uint32_t stack_take_all_fifo(kc_pool *p, _Atomic uint32_t *head, uint32_t *tail) {
  *tail = KP_NONE;
  if (atomic_load_explicit(head, memory_order_relaxed) == KP_NONE) return KP_NONE;
  uint32_t s = atomic_exchange_explicit(head, KP_NONE, memory_order_acquire);
  uint32_t rev = KP_NONE;
  *tail = s;
  while (s != KP_NONE) {
    kp_job *j = job_at(p, s);
    uint32_t next = j->next;
    j->next = rev;
    rev = s;
    s = next;
  }
  return rev;
}

/* ---- slot allocation ---------------------------------------------------------- */

static bool is_foreign_slot(const kc_pool *p, uint32_t slot) { return (slot >> p->chunk_shift) == p->foreign_chunk; }

/* Adds a chunk to ring r. False at the pool's limit or out of memory. */
static bool ring_grow(kc_pool *p, kp_ring *r) {
  if (r->fixed) return false;
  if (r->n_chunks == r->cap_chunks) {
    uint32_t nc = r->cap_chunks ? r->cap_chunks * 2 : 4;
    uint32_t *ids = realloc(r->chunks, nc * sizeof *ids);
    if (!ids) return false;
    r->chunks = ids;
    r->cap_chunks = nc;
  }
  if (atomic_load_explicit(&p->chunks_reserved, memory_order_relaxed) >= p->max_chunks) return false;
  uint32_t id = atomic_fetch_add_explicit(&p->chunks_reserved, 1, memory_order_relaxed);
  if (id >= p->max_chunks) return false;
  size_t jb = (size_t)p->chunk_size * sizeof(kp_job), cb = (size_t)p->chunk_size * sizeof(kp_counter);
  kp_job *jobs = aligned_alloc(KP_LINE, jb);
  kp_counter *counters = aligned_alloc(KP_LINE, cb);
  if (!jobs || !counters) {
    free(jobs);
    free(counters);
    return false; /* the reserved id stays unused */
  }
  memset(jobs, 0, jb);
  memset(counters, 0, cb);
  for (uint32_t i = 0; i < p->chunk_size; i++) {
    atomic_init(&jobs[i].free, 1);
    atomic_init(&counters[i].state, 0);
    atomic_init(&counters[i].cont, 0);
    atomic_init(&counters[i].free, 1);
  }
  atomic_store_explicit(&p->job_chunks[id], jobs, memory_order_release);
  atomic_store_explicit(&p->counter_chunks[id], counters, memory_order_release);
  r->chunks[r->n_chunks++] = id;
  return true;
}

/* Scans the ring's chunks from where it last found a free slot; free slots
 * are usually right there, since jobs finish roughly in order. */
static uint32_t ring_alloc_job(kc_pool *p, kp_ring *r) {
  uint32_t total = r->n_chunks * p->chunk_size;
  for (uint32_t i = 0; i < total; i++) {
    uint32_t slot = r->chunks[r->job_pos] << p->chunk_shift | r->job_cursor;
    if (++r->job_cursor == p->chunk_size) {
      r->job_cursor = 0;
      if (++r->job_pos == r->n_chunks) r->job_pos = 0;
    }
    kp_job *j = job_at(p, slot);
    if (atomic_load_explicit(&j->free, memory_order_acquire)) {
      atomic_store_explicit(&j->free, 0, memory_order_relaxed);
      return slot;
    }
  }
  return KP_NONE;
}

static uint32_t ring_alloc_counter(kc_pool *p, kp_ring *r) {
  uint32_t total = r->n_chunks * p->chunk_size;
  for (uint32_t i = 0; i < total; i++) {
    uint32_t slot = r->chunks[r->counter_pos] << p->chunk_shift | r->counter_cursor;
    if (++r->counter_cursor == p->chunk_size) {
      r->counter_cursor = 0;
      if (++r->counter_pos == r->n_chunks) r->counter_pos = 0;
    }
    kp_counter *c = counter_at(p, slot);
    if (atomic_load_explicit(&c->free, memory_order_acquire)) {
      atomic_store_explicit(&c->free, 0, memory_order_relaxed);
      return slot;
    }
  }
  return KP_NONE;
}

static void job_slot_free(kc_pool *p, uint32_t slot) {
  atomic_store_explicit(&job_at(p, slot)->free, 1, memory_order_release);
  /* Release: a foreign submitter that sees the lower count also sees the
   * free flag, so its scan finds the slot. */
  if (is_foreign_slot(p, slot)) atomic_fetch_sub_explicit(&p->foreign_jobs_used, 1, memory_order_release);
}

static void counter_slot_free(kc_pool *p, uint32_t slot) {
  atomic_store_explicit(&counter_at(p, slot)->free, 1, memory_order_release);
  if (is_foreign_slot(p, slot))
    atomic_fetch_sub_explicit(&p->foreign_counters_used, 1, memory_order_release);
}

/* Arms a freshly allocated counter for `pending` jobs and returns its id. */
static keel_job_counter counter_arm(kc_pool *p, uint32_t slot, uint32_t pending) {
  kp_counter *c = counter_at(p, slot);
  uint32_t gen = (uint32_t)(atomic_load_explicit(&c->state, memory_order_relaxed) >> 32) + 1;
  if (gen == 0) gen = 1; /* generation 0 would make id 0, "no counter" */
  atomic_store_explicit(&c->cont, ((uint64_t)gen << 32) | KP_NONE, memory_order_relaxed);
  atomic_store_explicit(&c->state, ((uint64_t)gen << 32) | pending, memory_order_release);
  atomic_fetch_add_explicit(&p->inflight, 1, memory_order_seq_cst);
  keel_job_counter id = {((uint64_t)gen << 32) | slot};
  return id;
}

static bool counter_done_state(uint64_t state, uint64_t id) {
  return (state >> 32) != (id >> 32) || (uint32_t)state == 0;
}

/* ---- finding and running work ------------------------------------------------ */

static void push_ready(kc_pool *p, uint32_t w, uint32_t slot) {
  if (job_at(p, slot)->main_only) {
    stack_push(p, &p->main_head, slot, slot);
    return;
  }
  /* A deque that cannot grow (out of memory) spills to the shared stack. */
  if (w != KP_NONE && dq_push(&p->w[w].dq, slot)) return;
  stack_push(p, &p->inject_head, slot, slot);
}

/* Makes a chain runnable; `next` is read before the push because a thief
 * may run and recycle a job the moment it is pushed. */
static void release_chain(kc_pool *p, uint32_t w, uint32_t head) {
  uint32_t n = 0;
  for (uint32_t s = head; s != KP_NONE;) {
    uint32_t next = job_at(p, s)->next;
    push_ready(p, w, s);
    n++;
    s = next;
  }
  notify_jobs(p, n);
}

static void counter_finish(kc_pool *p, uint32_t w, uint32_t slot) {
  kp_counter *c = counter_at(p, slot);
  /* acq_rel: the last finisher sees every other finisher's writes, and
   * passes them on to waiters through the release sequence. */
  uint64_t old = atomic_fetch_sub_explicit(&c->state, 1, memory_order_acq_rel);
  if ((uint32_t)old != 1) return;
  uint64_t gen = old >> 32;
  uint64_t cont = atomic_exchange_explicit(&c->cont, (gen << 32) | KP_CLOSED, memory_order_acq_rel);
  counter_slot_free(p, slot);
  uint32_t head = (uint32_t)cont;
  if (head != KP_NONE && head != KP_CLOSED) release_chain(p, w, head);
  atomic_fetch_sub_explicit(&p->inflight, 1, memory_order_seq_cst);
  ec_notify(&p->done_ec, INT_MAX);
}

static void job_run(kc_pool *p, uint32_t w, uint32_t slot) {
  kp_job *j = job_at(p, slot);
  keel_job_fn fn = j->fn;
  void *user = j->user;
  uint32_t counter = j->counter;
  bool main_only = j->main_only;
  job_slot_free(p, slot); /* before the body: a body that submits finds the room */
  bool traced = KC_TRACE_BEGIN("job"); /* ends before the counter: a waiter then sees the end written */
  fn(user, w);
  KC_TRACE_END(traced);
  kp_worker *me = &p->w[w];
  stat_inc(&me->jobs_run);
  if (main_only) stat_inc(&me->main_jobs_run);
  counter_finish(p, w, counter);
}

static uint32_t main_local_pop(kc_pool *p, kp_worker *me) {
  if (me->main_local == KP_NONE) {
    uint32_t tail;
    me->main_local = stack_take_all_fifo(p, &p->main_head, &tail);
    me->main_local_tail = tail;
  }
  uint32_t s = me->main_local;
  if (s != KP_NONE) me->main_local = job_at(p, s)->next;
  return s;
}

/* Takes the foreign stack: runs the oldest, deals the rest onto the own
 * deque where idle workers can steal them. */
static uint32_t inject_take(kc_pool *p, uint32_t w) {
  uint32_t tail;
  uint32_t s = stack_take_all_fifo(p, &p->inject_head, &tail);
  if (s == KP_NONE) return KP_NONE;
  uint32_t rest = job_at(p, s)->next, n = 0;
  while (rest != KP_NONE) {
    uint32_t next = job_at(p, rest)->next;
    push_ready(p, w, rest);
    n++;
    rest = next;
  }
  if (n) notify_jobs(p, n);
  return s;
}

/* Own deque (newest first, warm in cache), then main-pinned jobs if this is
 * the main thread, then the foreign stack, then the others' deques (oldest
 * first) from a random victim. */
static uint32_t find_work(kc_pool *p, uint32_t w) {
  kp_worker *me = &p->w[w];
  uint32_t slot;
  /* Only the owner pushes, so an empty look is reliable here and saves the
   * take's fence while idle. */
  if (dq_maybe_nonempty(&me->dq) && (slot = dq_take(&me->dq)) != KP_NONE) return slot;
  if (w == 0 && (slot = main_local_pop(p, me)) != KP_NONE) return slot;
  if (atomic_load_explicit(&p->inject_head, memory_order_relaxed) != KP_NONE &&
      (slot = inject_take(p, w)) != KP_NONE) {
    stat_inc(&me->injected);
    return slot;
  }
  uint32_t n = p->workers;
  if (n == 1) return KP_NONE;
  me->rng ^= me->rng << 13;
  me->rng ^= me->rng >> 7;
  me->rng ^= me->rng << 17;
  uint32_t start = (uint32_t)(me->rng % n);
  for (int round = 0; round < 2; round++) {
    bool contended = false;
    for (uint32_t k = 0; k < n; k++) {
      uint32_t v = (start + k) % n;
      if (v == w || !dq_maybe_nonempty(&p->w[v].dq)) continue;
      int r = dq_steal(&p->w[v].dq, &slot);
      if (r > 0) {
        stat_inc(&me->steals);
        return slot;
      }
      if (r < 0) contended = true;
    }
    if (!contended) break;
  }
  return KP_NONE;
}

static bool has_work(kc_pool *p, uint32_t w) {
  if (atomic_load_explicit(&p->inject_head, memory_order_seq_cst) != KP_NONE) return true;
  if (w == 0 && (p->w[0].main_local != KP_NONE ||
                 atomic_load_explicit(&p->main_head, memory_order_seq_cst) != KP_NONE))
    return true;
  if (w == KP_NONE) return false;
  for (uint32_t v = 0; v < p->workers; v++)
    if (dq_maybe_nonempty(&p->w[v].dq)) return true;
  return false;
}

static bool run_one(kc_pool *p, uint32_t w) {
  uint32_t slot = find_work(p, w);
  if (slot == KP_NONE) return false;
  job_run(p, w, slot);
  return true;
}

static inline uint32_t current_worker(const kc_pool *p) {
  if (tls_pool == p) return tls_index;
  if (p->main_token == &tls_token) return 0;
  return KP_NONE;
}

/* What a waiter waits for. */
typedef bool (*kp_cond_fn)(kc_pool *p, const void *arg);

static bool cond_counter_done(kc_pool *p, const void *arg) {
  (void)p;
  const struct {
    kp_counter *c;
    uint64_t id;
  } *a = arg;
  return counter_done_state(atomic_load_explicit(&a->c->state, memory_order_acquire), a->id);
}

static bool cond_drained(kc_pool *p, const void *unused) {
  (void)unused;
  return atomic_load_explicit(&p->inflight, memory_order_seq_cst) == 0;
}

/* Runs jobs (as worker w; KP_NONE runs none) until cond holds; spins
 * spin_ns with nothing to do, then sleeps on done_ec. */
static void help_until(kc_pool *p, uint32_t w, kp_cond_fn cond, const void *arg) {
  uint64_t idle_since = 0;
  uint32_t spins = 0;
  for (;;) {
    if (cond(p, arg)) return;
    if (w != KP_NONE && run_one(p, w)) {
      idle_since = 0;
      continue;
    }
    if ((++spins & 31u) == 0 || idle_since == 0) {
      uint64_t now = kc_clock_now_ns();
      if (idle_since == 0) idle_since = now;
      if (now - idle_since >= p->spin_ns) {
        uint32_t key = ec_prepare(&p->done_ec);
        if (cond(p, arg) || (w != KP_NONE && has_work(p, w))) {
          ec_cancel(&p->done_ec);
        } else {
          if (w != KP_NONE) stat_inc(&p->w[w].sleeps);
          ec_sleep(&p->done_ec, key);
        }
        idle_since = 0;
        continue;
      }
    }
    kc_cpu_pause();
  }
}

static void wait_counter(kc_pool *p, uint32_t w, kp_counter *c, uint64_t id) {
  struct {
    kp_counter *c;
    uint64_t id;
  } arg = {c, id};
  help_until(p, w, cond_counter_done, &arg);
}

static void *worker_main(void *arg) {
  kp_worker *me = arg;
  kc_pool *p = me->pool;
  uint32_t w = me->index;
  tls_pool = p;
  tls_index = w;
  char name[32];
  snprintf(name, sizeof name, "job%u", w);
  kc_log_set_thread_name(name);
  snprintf(name, sizeof name, "keel-job%u", w);
  (void)pthread_setname_np(pthread_self(), name);
  kc_trace_thread_begin();

  for (;;) {
    if (run_one(p, w)) continue;
    /* Spin: work usually comes back within a frame's batch gap. */
    uint64_t start = kc_clock_now_ns();
    bool ran = false;
    for (uint32_t i = 1;; i++) {
      if (run_one(p, w)) {
        ran = true;
        break;
      }
      if (atomic_load_explicit(&p->quit, memory_order_acquire)) break;
      kc_cpu_pause();
      if ((i & 15u) == 0 && kc_clock_now_ns() - start >= p->spin_ns) break;
    }
    if (ran) continue;
    if (atomic_load_explicit(&p->quit, memory_order_acquire)) break;
    uint32_t key = ec_prepare(&p->work_ec);
    if (has_work(p, w) || atomic_load_explicit(&p->quit, memory_order_seq_cst)) {
      ec_cancel(&p->work_ec);
      continue;
    }
    stat_inc(&me->sleeps);
    ec_sleep(&p->work_ec, key);
  }
  tls_pool = NULL;
  return NULL;
}

/* ---- public -------------------------------------------------------------- */

uint32_t kc_pool_threads_auto(void) {
  long n = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
  if (n <= 0) n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  if (n > (long)KC_POOL_MAX_WORKERS) n = KC_POOL_MAX_WORKERS;
  return (uint32_t)n;
}

keel_result kc_pool_threads_parse(const char *text, uint32_t *out, kc_err *err) {
  if (!text || !out)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "threads: %s is NULL", text ? "out" : "text");
  if (strcasecmp(text, "auto") == 0) {
    *out = 0;
    return KEEL_OK;
  }
  char *end = NULL;
  errno = 0;
  unsigned long v = (text[0] >= '0' && text[0] <= '9') ? strtoul(text, &end, 10) : 0;
  if (!end || *end != '\0' || errno != 0 || v < 1 || v > KC_POOL_MAX_WORKERS)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT,
                      "threads = '%s' is not valid: use auto or a whole number from 1 to %u", text,
                      KC_POOL_MAX_WORKERS);
  *out = (uint32_t)v;
  return KEEL_OK;
}

static void pool_free(kc_pool *p) {
  if (!p) return;
  if (p->w) {
    for (uint32_t i = 0; i < p->workers; i++) {
      dq_free(&p->w[i].dq);
      free(p->w[i].ring.chunks);
    }
    free(p->w);
  }
  free(p->foreign_ring.chunks);
  if (p->job_chunks)
    for (uint32_t i = 0; i < p->max_chunks; i++) free(atomic_load_explicit(&p->job_chunks[i], memory_order_relaxed));
  if (p->counter_chunks)
    for (uint32_t i = 0; i < p->max_chunks; i++)
      free(atomic_load_explicit(&p->counter_chunks[i], memory_order_relaxed));
  free((void *)p->job_chunks);
  free((void *)p->counter_chunks);
  pthread_mutex_destroy(&p->foreign_lock);
  free(p);
}

static void pool_stop_threads(kc_pool *p) {
  atomic_store_explicit(&p->quit, 1, memory_order_seq_cst);
  ec_notify(&p->work_ec, INT_MAX);
  for (uint32_t i = 1; i < p->workers; i++)
    if (p->w[i].started) pthread_join(p->w[i].thread, NULL);
}

keel_result kc_pool_create(const kc_pool_desc *desc, kc_pool **out, kc_err *err) {
  if (!out) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "kc_pool_create: out is NULL");
  *out = NULL;
  kc_pool_desc d = {0};
  if (desc) d = *desc;
  if (d.threads > KC_POOL_MAX_WORKERS)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT,
                      "kc_pool_create: threads = %u is above the maximum %u", d.threads, KC_POOL_MAX_WORKERS);
  if (d.job_capacity > KC_POOL_MAX_JOB_CAPACITY)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT,
                      "kc_pool_create: job_capacity = %u is above the maximum %u", d.job_capacity,
                      KC_POOL_MAX_JOB_CAPACITY);
  uint32_t n = d.threads ? d.threads : kc_pool_threads_auto();
  uint32_t cap = d.job_capacity ? d.job_capacity : KC_POOL_DEFAULT_JOB_CAPACITY;
  if (cap < KP_MIN_JOB_CAPACITY) cap = KP_MIN_JOB_CAPACITY;
  cap = pow2_at_least(cap);

  size_t pool_bytes = (sizeof(kc_pool) + KP_LINE - 1) & ~(size_t)(KP_LINE - 1);
  kc_pool *p = aligned_alloc(KP_LINE, pool_bytes);
  if (!p) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "kc_pool_create: out of memory");
  memset(p, 0, pool_bytes);
  pthread_mutex_init(&p->foreign_lock, NULL);
  p->workers = n;
  p->chunk_size = cap;
  p->chunk_mask = cap - 1;
  while ((1u << p->chunk_shift) < cap) p->chunk_shift++;
  uint32_t max = KC_POOL_MAX_IN_FLIGHT / cap;
  if (max > KP_MAX_CHUNKS) max = KP_MAX_CHUNKS;
  if (max < n + 1) max = n + 1;
  p->max_chunks = max;
  p->spin_ns = d.spin_ns ? d.spin_ns : KC_POOL_DEFAULT_SPIN_NS;
  p->main_token = &tls_token;
  atomic_init(&p->inject_head, KP_NONE);
  atomic_init(&p->main_head, KP_NONE);

  p->job_chunks = calloc(max, sizeof *p->job_chunks);
  p->counter_chunks = calloc(max, sizeof *p->counter_chunks);
  p->w = aligned_alloc(KP_LINE, (size_t)n * sizeof(kp_worker));
  if (!p->job_chunks || !p->counter_chunks || !p->w) {
    free(p->w);
    p->w = NULL;
    pool_free(p);
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "kc_pool_create: out of memory");
  }
  memset(p->w, 0, (size_t)n * sizeof(kp_worker));
  for (uint32_t i = 0; i < n; i++) {
    kp_worker *wk = &p->w[i];
    wk->pool = p;
    wk->index = i;
    wk->rng = 0x9E3779B97F4A7C15ull * (i + 1) | 1;
    wk->main_local = KP_NONE;
    wk->main_local_tail = KP_NONE;
    kp_array *a = array_new(KP_DEQUE_INITIAL);
    atomic_init(&wk->dq.array, a);
    atomic_init(&wk->dq.top, 0);
    atomic_init(&wk->dq.bottom, 0);
    if (!a || !ring_grow(p, &wk->ring)) {
      pool_free(p);
      return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "kc_pool_create: cannot allocate %u job slots", cap);
    }
  }
  if (!ring_grow(p, &p->foreign_ring)) {
    pool_free(p);
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "kc_pool_create: cannot allocate %u job slots", cap);
  }
  p->foreign_ring.fixed = true;
  p->foreign_chunk = p->foreign_ring.chunks[0];

  for (uint32_t i = 1; i < n; i++) {
    int rc = pthread_create(&p->w[i].thread, NULL, worker_main, &p->w[i]);
    if (rc != 0) {
      pool_stop_threads(p);
      pool_free(p);
      return kc_err_set(err, KEEL_ERR_BACKEND, "kc_pool_create: cannot start worker %u of %u (%s)", i, n,
                        strerror(rc));
    }
    p->w[i].started = true;
  }
  *out = p;
  return KEEL_OK;
}

void kc_pool_destroy(kc_pool *p) {
  if (!p) return;
  atomic_store_explicit(&p->stopping, 1, memory_order_seq_cst);
  /* Drain as worker 0. The main thread is the documented caller; anyone
   * else calling is treated as the main thread for the drain. */
  kc_pool *saved_pool = tls_pool;
  uint32_t saved_index = tls_index;
  tls_pool = p;
  tls_index = 0;
  help_until(p, 0, cond_drained, NULL);
  tls_pool = saved_pool;
  tls_index = saved_index;
  pool_stop_threads(p);
  pool_free(p);
}

uint32_t kc_pool_worker_count(const kc_pool *p) { return p ? p->workers : 1; }

uint32_t kc_pool_worker_index(const kc_pool *p) { return p ? current_worker(p) : UINT32_MAX; }

static keel_result check_jobs(const keel_job_desc *jobs, uint32_t count, kc_err *err) {
  if (count && !jobs) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "kc_pool_submit: jobs is NULL");
  for (uint32_t i = 0; i < count; i++)
    if (!jobs[i].fn)
      return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "kc_pool_submit: job %u of %u has no fn", i, count);
  return KEEL_OK;
}

static void job_fill(kc_pool *p, uint32_t slot, const keel_job_desc *d, uint32_t counter, bool main_only,
                     uint32_t next) {
  kp_job *j = job_at(p, slot);
  j->fn = d->fn;
  j->user = d->user;
  j->counter = counter;
  j->next = next;
  j->main_only = main_only;
}

/* Hangs the chain head..tail on counter `after`; false when it already
 * completed (then the caller releases the chain itself). The generation in
 * the word makes a CAS against a recycled counter fail. */
static bool chain_attach(kc_pool *p, kp_counter *c, uint64_t after_id, uint32_t head, uint32_t tail) {
  uint64_t gen = after_id >> 32;
  uint64_t cur = atomic_load_explicit(&c->cont, memory_order_acquire);
  for (;;) {
    if ((cur >> 32) != gen || (uint32_t)cur == KP_CLOSED) {
      /* An earlier failed CAS may have linked our tail to the chain the
       * completer is releasing now; unlink it or we would release that
       * chain a second time. */
      job_at(p, tail)->next = KP_NONE;
      return false;
    }
    job_at(p, tail)->next = (uint32_t)cur;
    if (atomic_compare_exchange_weak_explicit(&c->cont, &cur, (gen << 32) | head, memory_order_acq_rel,
                                              memory_order_acquire))
      return true;
  }
}

/* Allocates a counter and `count` linked job slots from ring r, growing it
 * as needed; all or nothing. */
static keel_result batch_alloc(kc_pool *p, kp_ring *r, kp_worker *me, const keel_job_desc *jobs, uint32_t count,
                               bool main_only, uint32_t *cslot, uint32_t *head, uint32_t *tail, kc_err *err) {
  uint32_t c;
  while ((c = ring_alloc_counter(p, r)) == KP_NONE) {
    if (!ring_grow(p, r)) goto full;
    if (me) stat_inc(&me->chunks_added);
  }
  uint32_t first = KP_NONE, last = KP_NONE;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t s;
    while ((s = ring_alloc_job(p, r)) == KP_NONE) {
      if (!ring_grow(p, r)) {
        /* Give back what this batch took; nothing was published. */
        for (uint32_t t = first; t != KP_NONE;) {
          uint32_t next = job_at(p, t)->next;
          atomic_store_explicit(&job_at(p, t)->free, 1, memory_order_relaxed);
          t = next;
        }
        atomic_store_explicit(&counter_at(p, c)->free, 1, memory_order_relaxed);
        goto full;
      }
      if (me) stat_inc(&me->chunks_added);
    }
    job_fill(p, s, &jobs[i], c, main_only, KP_NONE);
    if (last == KP_NONE)
      first = s;
    else
      job_at(p, last)->next = s;
    last = s;
  }
  *cslot = c;
  *head = first;
  *tail = last;
  return KEEL_OK;
full:
  if (r->fixed || atomic_load_explicit(&p->chunks_reserved, memory_order_relaxed) >= p->max_chunks)
    return kc_err_set(err, KEEL_ERR_FULL,
                      "kc_pool_submit: no room for %u more jobs (the pool holds at most %u in flight)", count,
                      p->max_chunks * p->chunk_size);
  return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "kc_pool_submit: cannot allocate a chunk of %u job slots",
                    p->chunk_size);
}

static keel_result submit_foreign(kc_pool *p, const keel_job_desc *jobs, uint32_t count, const kc_job_opts *o,
                                  kp_counter *after, keel_job_counter *out, kc_err *err) {
  if (atomic_load_explicit(&p->stopping, memory_order_acquire))
    return kc_err_set(err, KEEL_ERR_WRONG_STATE, "kc_pool_submit: the pool is shutting down");
  pthread_mutex_lock(&p->foreign_lock);
  uint32_t jobs_used = atomic_load_explicit(&p->foreign_jobs_used, memory_order_acquire);
  uint32_t counters_used = atomic_load_explicit(&p->foreign_counters_used, memory_order_acquire);
  if (count > p->chunk_size - jobs_used || counters_used >= p->chunk_size) {
    pthread_mutex_unlock(&p->foreign_lock);
    return kc_err_set(err, KEEL_ERR_FULL,
                      "kc_pool_submit: %u jobs do not fit: %u of %u foreign-thread job slots are in use", count,
                      jobs_used, p->chunk_size);
  }
  uint32_t cslot, head, tail;
  /* Cannot fail: the used counts said there is room. */
  keel_result r = batch_alloc(p, &p->foreign_ring, NULL, jobs, count, o->main_thread, &cslot, &head, &tail, err);
  if (r != KEEL_OK) {
    pthread_mutex_unlock(&p->foreign_lock);
    return r;
  }
  atomic_fetch_add_explicit(&p->foreign_jobs_used, count, memory_order_relaxed);
  atomic_fetch_add_explicit(&p->foreign_counters_used, 1, memory_order_relaxed);
  keel_job_counter id = counter_arm(p, cslot, count);
  pthread_mutex_unlock(&p->foreign_lock);
  if (out) *out = id;
  if (after && chain_attach(p, after, o->after.id, head, tail)) return KEEL_OK;
  stack_push(p, o->main_thread ? &p->main_head : &p->inject_head, head, tail);
  notify_jobs(p, count);
  return KEEL_OK;
}

keel_result kc_pool_submit_ex(kc_pool *p, const keel_job_desc *jobs, uint32_t count, const kc_job_opts *opts,
                              keel_job_counter *out, kc_err *err) {
  if (!p) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "kc_pool_submit: pool is NULL");
  keel_result r = check_jobs(jobs, count, err);
  if (r != KEEL_OK) return r;
  kc_job_opts o = {0};
  if (opts) o = *opts;
  kp_counter *after = NULL;
  if (o.after.id && !(after = counter_checked(p, o.after.id)))
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT,
                      "kc_pool_submit: dependency counter %#llx was not handed out by this pool",
                      (unsigned long long)o.after.id);
  if (count == 0) {
    if (out) out->id = 0;
    return KEEL_OK;
  }
  uint32_t w = current_worker(p);
  if (w == KP_NONE) return submit_foreign(p, jobs, count, &o, after, out, err);

  kp_worker *me = &p->w[w];
  uint32_t cslot, head, tail;
  r = batch_alloc(p, &me->ring, me, jobs, count, o.main_thread, &cslot, &head, &tail, err);
  if (r != KEEL_OK) return r;
  keel_job_counter id = counter_arm(p, cslot, count);
  if (out) *out = id;
  if (after && chain_attach(p, after, o.after.id, head, tail)) return KEEL_OK;
  release_chain(p, w, head);
  return KEEL_OK;
}

keel_result kc_pool_submit(kc_pool *p, const keel_job_desc *jobs, uint32_t count, keel_job_counter *out,
                           kc_err *err) {
  return kc_pool_submit_ex(p, jobs, count, NULL, out, err);
}

bool kc_pool_done(const kc_pool *p, keel_job_counter counter) {
  if (!p || counter.id == 0) return true;
  kp_counter *c = counter_checked(p, counter.id);
  return !c || counter_done_state(atomic_load_explicit(&c->state, memory_order_acquire), counter.id);
}

keel_result kc_pool_wait(kc_pool *p, keel_job_counter counter, kc_err *err) {
  if (!p) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "kc_pool_wait: pool is NULL");
  if (counter.id == 0) return KEEL_OK;
  kp_counter *c = counter_checked(p, counter.id);
  if (!c)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "kc_pool_wait: counter %#llx was not handed out by this pool",
                      (unsigned long long)counter.id);
  wait_counter(p, current_worker(p), c, counter.id);
  return KEEL_OK;
}

/* ---- parallel_for ----------------------------------------------------------
 * One contiguous block per participant, each with its own cursor on its own
 * cache line: a participant claims a few slices at a time with one
 * uncontended fetch_add while it works its own block, and the cursors are
 * shared only when a participant that ran dry takes from another's block. */

typedef struct kp_pf_block {
  alignas(KP_LINE) _Atomic uint64_t next;
  uint64_t end;
} kp_pf_block;

typedef struct kp_pf {
  keel_range_fn fn;
  void *user;
  uint64_t grain;
  uint32_t parts;
  _Atomic uint32_t arrivals;
  kp_pf_block blocks[KC_POOL_MAX_WORKERS];
} kp_pf;

/* Slices claimed per fetch_add: a share of what is left in the block, so a
 * large block costs few atomics, but never more than KP_PF_MAX_CLAIM, so a
 * worker that ran dry can always join in after at most that many of
 * another's slices. Claims are whole slices: every cursor value stays a
 * multiple of the grain from the block's start. */
#define KP_PF_MAX_CLAIM 16u

static void pf_drain(kp_pf *pf, kp_pf_block *b, uint32_t w) {
  const uint64_t end = b->end, g = pf->grain;
  uint64_t cur = atomic_load_explicit(&b->next, memory_order_relaxed);
  while (cur < end) {
    uint64_t k = (end - cur + g - 1) / g / (4ull * pf->parts);
    if (k < 1) k = 1;
    if (k > KP_PF_MAX_CLAIM) k = KP_PF_MAX_CLAIM;
    uint64_t s = atomic_fetch_add_explicit(&b->next, k * g, memory_order_relaxed);
    if (s >= end) return;
    uint64_t stop = s + k * g < end ? s + k * g : end;
    for (; s < stop; s += g) pf->fn(pf->user, (uint32_t)s, (uint32_t)(s + g < stop ? s + g : stop), w);
    cur = atomic_load_explicit(&b->next, memory_order_relaxed);
  }
}

static void pf_participate(kp_pf *pf, uint32_t w) {
  uint32_t first = atomic_fetch_add_explicit(&pf->arrivals, 1, memory_order_relaxed) % pf->parts;
  for (uint32_t k = 0; k < pf->parts; k++) pf_drain(pf, &pf->blocks[(first + k) % pf->parts], w);
}

static void pf_job(void *user, uint32_t worker) { pf_participate(user, worker); }

keel_result kc_pool_parallel_for(kc_pool *p, uint32_t count, uint32_t grain, keel_range_fn fn, void *user,
                                 kc_err *err) {
  if (!p) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "kc_pool_parallel_for: pool is NULL");
  if (!fn) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "kc_pool_parallel_for: fn is NULL");
  if (count == 0) return KEEL_OK;
  uint32_t w = current_worker(p);
  uint32_t n = p->workers;
  uint64_t g = grain;
  if (g == 0) {
    g = count / (8ull * n);
    if (g == 0) g = 1;
  }
  uint64_t slices = (count + g - 1) / g;
  if (w != KP_NONE && (slices == 1 || n == 1)) {
    for (uint64_t s = 0; s < count; s += g) fn(user, (uint32_t)s, (uint32_t)(s + g < count ? s + g : count), w);
    return KEEL_OK;
  }
  uint32_t parts = slices < n ? (uint32_t)slices : n;
  kp_pf pf;
  pf.fn = fn;
  pf.user = user;
  pf.grain = g;
  pf.parts = parts;
  atomic_init(&pf.arrivals, 0);
  uint64_t per = ((slices + parts - 1) / parts) * g;
  for (uint32_t b = 0; b < parts; b++) {
    uint64_t begin = (uint64_t)b * per, end = begin + per;
    if (begin > count) begin = count;
    if (end > count) end = count;
    atomic_init(&pf.blocks[b].next, begin);
    pf.blocks[b].end = end;
  }
  keel_job_desc helpers[KC_POOL_MAX_WORKERS];
  uint32_t nhelp = w == KP_NONE ? parts : parts - 1;
  for (uint32_t i = 0; i < nhelp; i++) helpers[i] = (keel_job_desc){pf_job, &pf};
  keel_job_counter c = {0};
  keel_result r = kc_pool_submit(p, helpers, nhelp, &c, err);
  if (r != KEEL_OK) {
    if (w == KP_NONE) return r;
    c.id = 0; /* out of slots: this thread runs every slice itself */
  }
  if (w != KP_NONE) pf_participate(&pf, w);
  /* The helpers point into this frame: it must not return before they ran. */
  if (c.id) wait_counter(p, w, counter_at(p, (uint32_t)c.id), c.id);
  return KEEL_OK;
}

uint32_t kc_pool_run_main_jobs(kc_pool *p) {
  if (!p || current_worker(p) != 0) return 0;
  kp_worker *me = &p->w[0];
  /* Only what is queued now: move the shared stack behind the local list,
   * count, and run that many. */
  uint32_t tail;
  uint32_t taken = stack_take_all_fifo(p, &p->main_head, &tail);
  if (taken != KP_NONE) {
    if (me->main_local == KP_NONE)
      me->main_local = taken;
    else
      job_at(p, me->main_local_tail)->next = taken;
    me->main_local_tail = tail;
  }
  uint32_t queued = 0;
  for (uint32_t s = me->main_local; s != KP_NONE; s = job_at(p, s)->next) queued++;
  /* A job that waits may itself run some of these (it helps), so stop
   * early when the list runs out. */
  uint32_t ran = 0;
  while (ran < queued && me->main_local != KP_NONE) {
    uint32_t s = me->main_local;
    me->main_local = job_at(p, s)->next;
    job_run(p, 0, s);
    ran++;
  }
  return ran;
}

void kc_pool_stats_get(const kc_pool *p, kc_pool_stats *out) {
  if (!out) return;
  memset(out, 0, sizeof *out);
  if (!p) return;
  out->workers = p->workers;
  for (uint32_t i = 0; i < p->workers; i++) {
    kp_worker *wk = &p->w[i];
    uint64_t jr = atomic_load_explicit(&wk->jobs_run, memory_order_relaxed);
    out->jobs_per_worker[i] = jr;
    out->jobs_run += jr;
    out->steals += atomic_load_explicit(&wk->steals, memory_order_relaxed);
    out->injected += atomic_load_explicit(&wk->injected, memory_order_relaxed);
    out->main_jobs_run += atomic_load_explicit(&wk->main_jobs_run, memory_order_relaxed);
    out->sleeps += atomic_load_explicit(&wk->sleeps, memory_order_relaxed);
    out->chunks_added += atomic_load_explicit(&wk->chunks_added, memory_order_relaxed);
  }
}
