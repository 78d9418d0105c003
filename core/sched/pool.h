/* kc_pool: keel's work-stealing thread pool and job system. Systems, parallel
 * recording and plugin jobs (through the host table's jobs_* entries) all run
 * here, so the frame can use every core while GPU submission stays on the
 * main thread. See docs/scheduler.md for the design and the measured figures.
 *
 * Workers are numbered 0..worker_count-1. Worker 0 is the pool's main thread
 * (the thread that called kc_pool_create) helping whenever it waits; workers
 * 1..N-1 are background threads named "keel-job<i>" (log name "job<i>").
 * Per-worker partial results can therefore live in an array indexed by the
 * `worker` argument without locks: one worker runs one job body at a time
 * (a body that waits may run other bodies on the same worker, nested, never
 * concurrently). */
#ifndef KC_SCHED_POOL_H
#define KC_SCHED_POOL_H

#include <keel/host.h>

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

/* Most workers a pool accepts ([engine] threads above this is refused). */
#define KC_POOL_MAX_WORKERS 64u
/* Job and counter slots come in chunks of job_capacity; each submitting
 * thread starts with one chunk and adds more when a batch finds it full
 * (a malloc per chunk, never per job), up to KC_POOL_MAX_IN_FLIGHT slots in
 * the whole pool. */
#define KC_POOL_DEFAULT_JOB_CAPACITY 1024u
#define KC_POOL_MAX_JOB_CAPACITY (1u << 16)
#define KC_POOL_MAX_IN_FLIGHT (1u << 20)
/* How long an idle worker (or a waiter) spins looking for work before it
 * sleeps, when kc_pool_desc.spin_ns is 0. Long enough to bridge the gaps
 * between the batches of a frame, short enough that an idle engine costs
 * nothing measurable. */
#define KC_POOL_DEFAULT_SPIN_NS 50000u

typedef struct kc_pool kc_pool;

typedef struct kc_pool_desc {
  /* Total workers including the main thread; 0 = one per CPU the process
   * may run on ("auto"). 1 = no background thread: jobs run only when the
   * main thread waits (kc_pool_wait, kc_pool_parallel_for, kc_pool_destroy). */
  uint32_t threads;
  /* Slots per chunk: the jobs (and as many counters) a submitting thread
   * holds before it adds a chunk; 0 = KC_POOL_DEFAULT_JOB_CAPACITY. Rounded
   * up to a power of two, at least 4. Foreign (non-worker) threads share one
   * chunk that never grows. */
  uint32_t job_capacity;
  /* Idle spin before sleeping, in ns; 0 = KC_POOL_DEFAULT_SPIN_NS. */
  uint32_t spin_ns;
} kc_pool_desc;

/* Options of kc_pool_submit_ex. Zero-initialised = kc_pool_submit. */
typedef struct kc_job_opts {
  /* Start the batch only when this counter reaches zero (0 = at once). A
   * counter that already completed, or whose slot was reused since, counts
   * as reached. */
  keel_job_counter after;
  /* Run the jobs on the main thread only (worker 0): it runs them when it
   * waits and in kc_pool_run_main_jobs. */
  bool main_thread;
} kc_job_opts;

/* Counters for tests, benchmarks and the stats overlay. Each value is
 * current, not all taken at one instant. */
typedef struct kc_pool_stats {
  uint32_t workers;
  uint64_t jobs_run;      /* job bodies run (parallel_for helpers included) */
  uint64_t steals;        /* jobs taken from another worker's deque */
  uint64_t injected;      /* jobs taken from the shared queue (foreign submits) */
  uint64_t main_jobs_run; /* main-pinned jobs run */
  uint64_t sleeps;        /* times a worker or waiter went to sleep */
  uint64_t chunks_added;  /* slot chunks added beyond each worker's first */
  uint64_t jobs_per_worker[KC_POOL_MAX_WORKERS];
} kc_pool_stats;

/* Parses an [engine] threads value: "auto" (case-insensitive) gives 0, a
 * decimal N in [1, KC_POOL_MAX_WORKERS] gives N. Anything else is
 * KEEL_ERR_INVALID_ARGUMENT with the valid choices in *err. Any thread. */
keel_result kc_pool_threads_parse(const char *text, uint32_t *out, kc_err *err);

/* The worker count "auto" means here: CPUs in this process's affinity mask,
 * clamped to [1, KC_POOL_MAX_WORKERS]. Any thread. */
uint32_t kc_pool_threads_auto(void);

/* Creates a pool and starts its threads - 1 background workers. The calling
 * thread becomes the pool's main thread (worker 0). desc may be NULL (all
 * defaults). KEEL_ERR_INVALID_ARGUMENT for threads above the maximum or a
 * capacity out of range, KEEL_ERR_OUT_OF_MEMORY / KEEL_ERR_BACKEND when
 * memory or a thread cannot be had (nothing is left running). Thread: the
 * thread that will be the main thread. The caller owns *out and frees it
 * with kc_pool_destroy. */
keel_result kc_pool_create(const kc_pool_desc *desc, kc_pool **out, kc_err *err);

/* Shuts the pool down, draining: every job submitted before or during the
 * call runs (jobs running now may submit more; those run too; batches
 * waiting on a counter run when it completes; main-pinned jobs run here, on
 * the caller), then the workers exit and are joined, then memory is freed.
 * Returns when nothing is in flight. A job that never returns makes this
 * never return. Foreign threads (not workers) must not use the pool once
 * this starts: their submits are refused with KEEL_ERR_WRONG_STATE while it
 * drains, and a foreign thread still inside kc_pool_wait is a caller bug.
 * NULL does nothing. Thread: the main thread. */
void kc_pool_destroy(kc_pool *pool);

/* Submits `count` jobs as one batch, whole or not at all. The descs are
 * copied, so the array may be reused at once; each desc's `user` stays the
 * submitter's and must outlive its job. *out_counter (may be NULL)
 * completes when all `count` have run; count 0 gives the counter {0},
 * already complete. No heap allocation per job: slots come from the
 * submitting thread's chunks (a worker adds a chunk when they are all in
 * use). KEEL_ERR_FULL (nothing submitted) when a foreign thread's shared
 * chunk lacks room for the whole batch, or a worker would pass
 * KC_POOL_MAX_IN_FLIGHT; KEEL_ERR_OUT_OF_MEMORY when a chunk cannot be
 * allocated. KEEL_ERR_INVALID_ARGUMENT for a NULL pool, NULL jobs with
 * count > 0 or a NULL fn; KEEL_ERR_WRONG_STATE from a foreign thread while
 * the pool shuts down. Thread: any. */
keel_result kc_pool_submit(kc_pool *pool, const keel_job_desc *jobs, uint32_t count,
                           keel_job_counter *out_counter, kc_err *err);

/* kc_pool_submit with options (opts may be NULL): a dependency (the batch
 * starts when opts->after completes; its jobs hold their slots meanwhile)
 * and main-thread pinning. A dependency on an unknown counter (index out of
 * range) is KEEL_ERR_INVALID_ARGUMENT. Thread: any. */
keel_result kc_pool_submit_ex(kc_pool *pool, const keel_job_desc *jobs, uint32_t count,
                              const kc_job_opts *opts, keel_job_counter *out_counter, kc_err *err);

/* True when `counter` has completed (or is {0}, or its slot was reused, or
 * it is no counter of this pool). Any thread; never blocks. */
bool kc_pool_done(const kc_pool *pool, keel_job_counter counter);

/* Returns when `counter` has completed. A worker (including the main
 * thread) runs other jobs meanwhile, main-pinned ones too when it is the
 * main thread; after spinning spin_ns with nothing to run it sleeps until a
 * counter completes or work arrives. A foreign thread only spins and sleeps.
 * {0} returns at once. Memory written by the counted jobs is visible to the
 * caller on return. KEEL_ERR_INVALID_ARGUMENT for a counter no pool handed
 * out. Thread: any (a job may wait; it then runs other jobs nested on its
 * own stack). */
keel_result kc_pool_wait(kc_pool *pool, keel_job_counter counter, kc_err *err);

/* Calls fn(user, begin, end, worker) over [0, count) in slices of `grain`
 * items (0 = pick: about count / (8 * workers)), the last slice shorter, on
 * every worker including the caller, and returns when every slice has run.
 * The range is cut into one contiguous block per worker; a worker claims up
 * to 16 slices of a block at a time (fewer as the block runs out) and, when
 * its own block is done, claims from the others' blocks. No heap
 * allocation (the bookkeeping lives on the caller's stack). Nested calls
 * (from inside a slice or a job) work. A foreign caller runs no slice; it
 * submits helpers and waits. Writes made by slices are visible to the
 * caller on return. KEEL_ERR_INVALID_ARGUMENT for a NULL pool or fn.
 * Thread: any. */
keel_result kc_pool_parallel_for(kc_pool *pool, uint32_t count, uint32_t grain, keel_range_fn fn,
                                 void *user, kc_err *err);

/* Runs the main-pinned jobs queued so far (not ones they queue) and returns
 * how many ran. The documented point where the frame lets them run when it
 * is not waiting anyway (DESIGN §3, step 4). Thread: the main thread (0
 * from any other thread, nothing run). */
uint32_t kc_pool_run_main_jobs(kc_pool *pool);

/* Workers including the main thread, >= 1. Any thread. */
uint32_t kc_pool_worker_count(const kc_pool *pool);

/* The calling thread's worker number in this pool (0 for the main thread),
 * or UINT32_MAX for a thread that is not one of its workers. Any thread. */
uint32_t kc_pool_worker_index(const kc_pool *pool);

/* Fills *out (see kc_pool_stats). Any thread. */
void kc_pool_stats_get(const kc_pool *pool, kc_pool_stats *out);

#endif
