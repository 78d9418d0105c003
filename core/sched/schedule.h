/* kc_schedule: the frame as a schedule. Systems declare the resources they
 * read and write; the schedule, built once, orders stages by after/before and
 * packs each stage's systems into batches that never conflict, so a batch runs
 * in parallel on the pool and main-thread-only systems (GPU submission) stay on
 * the main thread. See docs/scheduler.md for the rules and the dump format. */
#ifndef KC_SCHED_SCHEDULE_H
#define KC_SCHED_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"
#include "sched/pool.h"

/* Longest stage, system or resource name, including the NUL. */
#define KC_SCHED_NAME_MAX 64

/* The built-in stages, chained in this order. */
#define KC_STAGE_UPDATE "Update"
#define KC_STAGE_EXTRACT "Extract"
#define KC_STAGE_PREPARE "Prepare"
#define KC_STAGE_RECORD "Record"
#define KC_STAGE_SUBMIT "Submit"
#define KC_STAGE_PRESENT "Present"

typedef struct kc_schedule_builder kc_schedule_builder;
typedef struct kc_schedule kc_schedule;

/* What a system's function is given. Valid for the call only. */
typedef struct kc_system_ctx {
  kc_pool *pool;   /* the pool running the schedule; a system may submit, wait, parallel_for */
  void *frame;     /* kc_schedule_run's `frame` argument */
  void *user;      /* kc_system_desc.user */
  const char *name;
  uint32_t worker; /* 0..worker_count-1; 0 = main thread (always, for main_thread_only) */
  uint32_t system; /* the system's index in add order */
} kc_system_ctx;

/* A system. A negative result is counted and reported by kc_schedule_run;
 * the frame goes on. Runs on any worker (the main thread if
 * main_thread_only), concurrently with every system it does not conflict
 * with. */
typedef keel_result (*kc_system_fn)(const kc_system_ctx *ctx);

/* A stage placed relative to others. after / before are NULL-terminated
 * lists of stage names (NULL = none), resolved when the schedule is built,
 * so they may name stages added later. */
typedef struct kc_stage_desc {
  const char *name;
  const char *const *after;
  const char *const *before;
} kc_stage_desc;

/* A system. reads / writes are NULL-terminated lists of resource names (NULL
 * = none); a resource in both lists counts as written. Two systems conflict
 * when one writes a resource the other reads or writes. */
typedef struct kc_system_desc {
  const char *name;
  const char *stage;
  const char *const *reads;
  const char *const *writes;
  kc_system_fn fn;
  void *user; /* owned by the caller; must outlive every schedule built with it */
  bool main_thread_only;
} kc_system_desc;

/* A new builder holding the built-in stages Update → Extract → Prepare →
 * Record → Submit → Present. KEEL_ERR_OUT_OF_MEMORY on failure. Thread: a
 * builder is used by one thread at a time. The caller owns *out. */
keel_result kc_schedule_builder_create(kc_schedule_builder **out, kc_err *err);

/* Frees the builder and its copies of the descs; schedules built from it
 * stay valid. NULL does nothing. Thread: the builder's. */
void kc_schedule_builder_destroy(kc_schedule_builder *b);

/* Adds a user stage; names are copied. Only the desc's own shape is checked
 * here (non-NULL, non-empty names below KC_SCHED_NAME_MAX):
 * KEEL_ERR_INVALID_ARGUMENT. Duplicates, unknown names and cycles are
 * reported by kc_schedule_build. A stage without constraints runs after
 * the stages added before it. Thread: the builder's. */
keel_result kc_schedule_add_stage(kc_schedule_builder *b, const kc_stage_desc *desc, kc_err *err);

/* Adds a system; names are copied, fn and user are kept. Shape checks as
 * for stages plus a non-NULL fn (KEEL_ERR_INVALID_ARGUMENT). Within a stage,
 * conflicting systems run in the order they were added. Thread: the
 * builder's. */
keel_result kc_schedule_add_system(kc_schedule_builder *b, const kc_system_desc *desc, kc_err *err);

/* Builds the schedule: stages in topological order (ties by add order, the
 * built-ins first), then within each stage greedy batches: a system joins
 * the batch after the last batch holding a system it conflicts with that
 * was added before it. Errors, every problem found listed in err->msg:
 * KEEL_ERR_INVALID_ARGUMENT for a duplicate stage or system name (naming
 * both add positions) and for a stage cycle (the cycle's path, e.g.
 * "A -> B -> A", and the systems in those stages); KEEL_ERR_NOT_FOUND for a
 * system's unknown stage or an after/before naming no stage (naming the
 * system or stage that refers to it). KEEL_ERR_OUT_OF_MEMORY. The builder is
 * unchanged and may be built again. Thread: the builder's. The caller owns
 * *out (kc_schedule_destroy); it does not refer to the builder. */
keel_result kc_schedule_build(const kc_schedule_builder *b, kc_schedule **out, kc_err *err);

/* NULL does nothing. Thread: not while it runs. */
void kc_schedule_destroy(kc_schedule *s);

/* Runs one frame: stage by stage, batch by batch. A batch's systems run as
 * jobs on the pool with the calling thread helping; main-thread-only ones
 * run on the calling thread; the next batch starts when the whole batch has
 * finished. Every system runs even if others fail; the result is the
 * failure of the lowest-numbered failing system, with err naming it, its
 * stage and how many failed. KEEL_ERR_WRONG_STATE when the caller is not
 * the pool's main thread. Thread: the pool's main thread; one run of a
 * schedule at a time. */
keel_result kc_schedule_run(kc_schedule *s, kc_pool *pool, void *frame, kc_err *err);

/* Writes the schedule as text (the format of `keel --dump-schedule`):
 *   stage Update
 *     batch 0: physics, ai
 *     batch 1: animation
 *   stage Submit
 *     batch 0: submit [main]
 *   stage Present
 *     (no systems)
 * Stages in run order, systems in a batch in add order, "[main]" after a
 * main-thread-only system, every line ending in '\n'. Like snprintf: writes
 * at most cap bytes including the NUL (buf may be NULL when cap is 0) and
 * returns the length of the whole text. Any thread (the schedule is
 * immutable). */
size_t kc_schedule_dump(const kc_schedule *s, char *buf, size_t cap);

/* The same text to a stream. KEEL_ERR_IO when writing fails. Any thread. */
keel_result kc_schedule_dump_file(const kc_schedule *s, FILE *f, kc_err *err);

/* Shape queries, for tools and tests. Stage indices are run order. Any
 * thread. */
uint32_t kc_schedule_stage_count(const kc_schedule *s);
const char *kc_schedule_stage_name(const kc_schedule *s, uint32_t stage);
uint32_t kc_schedule_batch_count(const kc_schedule *s, uint32_t stage);
uint32_t kc_schedule_system_count(const kc_schedule *s);
uint32_t kc_schedule_resource_count(const kc_schedule *s);
/* Where system `name` runs: its stage (run order) and batch. false if there
 * is no such system. */
bool kc_schedule_find_system(const kc_schedule *s, const char *name, uint32_t *stage, uint32_t *batch);

#endif
