// keel-test-labels: concurrency
/* kc_schedule on a real pool, many frames of random system sets with fixed
 * seeds: instrumented systems count readers and writers per resource with
 * atomics, so two conflicting systems running at the same time are caught
 * the moment they overlap; a global clock checks stage order and the add
 * order of conflicting systems; the conflicts are recomputed here from the
 * random sets, not taken from the schedule. */
#include "keel_test.h"
#include "sched/schedule.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RES 12
#define MAX_SYS 64
#define MAX_USER_STAGES 3

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

typedef struct sys_def {
  char name[16];
  uint32_t stage; /* index into stage_names */
  uint32_t nr, nw;
  uint32_t reads[4], writes[3];
  bool main_only;
  uint32_t work_ns;
  bool uses_pf;
} sys_def;

typedef struct world {
  uint32_t nres, nsys, nstages;
  char res_names[MAX_RES][16];
  char stage_names[6 + MAX_USER_STAGES][16];
  uint32_t stage_rank[6 + MAX_USER_STAGES]; /* expected run position */
  sys_def sys[MAX_SYS];
  /* instrumentation */
  _Atomic int32_t readers[MAX_RES], writers[MAX_RES];
  _Atomic uint32_t violations;
  _Atomic uint32_t clock;
  _Atomic uint32_t running, max_running;
  uint32_t start[MAX_SYS], end[MAX_SYS];
  _Atomic uint32_t ran[MAX_SYS];
  pthread_t main;
  _Atomic uint32_t main_only_off_main;
  _Atomic uint64_t pf_sum;
} world;

static world g_w;

static void busy_ns(uint64_t ns) {
  uint64_t end = kt_now_ns() + ns;
  while (kt_now_ns() < end) {
  }
}

static void pf_add(void *user, uint32_t begin, uint32_t end, uint32_t worker) {
  (void)user;
  (void)worker;
  uint64_t s = 0;
  for (uint32_t i = begin; i < end; i++) s += i;
  atomic_fetch_add(&g_w.pf_sum, s);
}

static keel_result instrumented(const kc_system_ctx *ctx) {
  sys_def *d = ctx->user;
  uint32_t id = ctx->system;
  if (d->main_only && !pthread_equal(pthread_self(), g_w.main)) atomic_fetch_add(&g_w.main_only_off_main, 1);
  g_w.start[id] = atomic_fetch_add(&g_w.clock, 1);
  uint32_t now = atomic_fetch_add(&g_w.running, 1) + 1;
  uint32_t seen = atomic_load(&g_w.max_running);
  while (now > seen && !atomic_compare_exchange_weak(&g_w.max_running, &seen, now)) {
  }
  /* Enter: a writer must find nobody else on the resource, a reader no writer. */
  for (uint32_t k = 0; k < d->nw; k++) {
    uint32_t r = d->writes[k];
    if (atomic_fetch_add(&g_w.writers[r], 1) != 0 || atomic_load(&g_w.readers[r]) != 0)
      atomic_fetch_add(&g_w.violations, 1);
  }
  for (uint32_t k = 0; k < d->nr; k++) {
    uint32_t r = d->reads[k];
    atomic_fetch_add(&g_w.readers[r], 1);
    if (atomic_load(&g_w.writers[r]) != 0) atomic_fetch_add(&g_w.violations, 1);
  }
  busy_ns(d->work_ns);
  if (d->uses_pf) kc_pool_parallel_for(ctx->pool, 1000, 7, pf_add, NULL, NULL);
  for (uint32_t k = 0; k < d->nr; k++) atomic_fetch_sub(&g_w.readers[d->reads[k]], 1);
  for (uint32_t k = 0; k < d->nw; k++) atomic_fetch_sub(&g_w.writers[d->writes[k]], 1);
  atomic_fetch_sub(&g_w.running, 1);
  g_w.end[id] = atomic_fetch_add(&g_w.clock, 1);
  atomic_fetch_add(&g_w.ran[id], 1);
  return KEEL_OK;
}

static bool has(const uint32_t *v, uint32_t n, uint32_t x) {
  for (uint32_t i = 0; i < n; i++)
    if (v[i] == x) return true;
  return false;
}

static bool expect_conflict(const sys_def *a, const sys_def *b) {
  for (uint32_t i = 0; i < a->nw; i++)
    if (has(b->writes, b->nw, a->writes[i]) || has(b->reads, b->nr, a->writes[i])) return true;
  for (uint32_t i = 0; i < b->nw; i++)
    if (has(a->reads, a->nr, b->writes[i])) return true;
  return false;
}

/* Random world: resources, up to 3 user stages each placed between two
 * built-ins, systems with random reads/writes. */
static void make_world(uint64_t seed) {
  memset(&g_w, 0, sizeof g_w);
  g_w.main = pthread_self();
  g_w.nres = 3 + (uint32_t)(rng_next(&seed) % (MAX_RES - 2));
  for (uint32_t r = 0; r < g_w.nres; r++) snprintf(g_w.res_names[r], sizeof g_w.res_names[r], "r%u", r);
  const char *builtin[6] = {"Update", "Extract", "Prepare", "Record", "Submit", "Present"};
  for (uint32_t i = 0; i < 6; i++) snprintf(g_w.stage_names[i], sizeof g_w.stage_names[i], "%s", builtin[i]);
  g_w.nstages = 6 + (uint32_t)(rng_next(&seed) % (MAX_USER_STAGES + 1));
  g_w.nsys = 8 + (uint32_t)(rng_next(&seed) % (MAX_SYS - 7));
  for (uint32_t i = 0; i < g_w.nsys; i++) {
    sys_def *d = &g_w.sys[i];
    snprintf(d->name, sizeof d->name, "s%u", i);
    d->stage = (uint32_t)(rng_next(&seed) % g_w.nstages);
    d->nr = (uint32_t)(rng_next(&seed) % 4);
    d->nw = (uint32_t)(rng_next(&seed) % 3);
    if (d->nr > g_w.nres - d->nw) d->nr = g_w.nres - d->nw; /* reads and writes are distinct */
    for (uint32_t k = 0; k < d->nw; k++) {
      uint32_t r;
      do r = (uint32_t)(rng_next(&seed) % g_w.nres);
      while (has(d->writes, k, r));
      d->writes[k] = r;
    }
    for (uint32_t k = 0; k < d->nr; k++) {
      uint32_t r;
      do r = (uint32_t)(rng_next(&seed) % g_w.nres);
      while (has(d->reads, k, r) || has(d->writes, d->nw, r));
      d->reads[k] = r;
    }
    d->main_only = rng_next(&seed) % 10 == 0;
    d->work_ns = (uint32_t)(rng_next(&seed) % 20000);
    d->uses_pf = rng_next(&seed) % 12 == 0;
  }
}

static kc_schedule *build_world(uint64_t seed, uint32_t user_after[], uint32_t user_before[]) {
  kc_schedule_builder *b = NULL;
  CU_ASSERT_EQUAL_FATAL(kc_schedule_builder_create(&b, NULL), KEEL_OK);
  for (uint32_t u = 6; u < g_w.nstages; u++) {
    snprintf(g_w.stage_names[u], sizeof g_w.stage_names[u], "User%u", u - 6);
    uint32_t a = (uint32_t)(rng_next(&seed) % 5);
    uint32_t bf = a + 1 + (uint32_t)(rng_next(&seed) % (5 - a));
    user_after[u] = a;
    user_before[u] = bf;
    const char *after[] = {g_w.stage_names[a], NULL};
    const char *before[] = {g_w.stage_names[bf], NULL};
    kc_stage_desc sd = {g_w.stage_names[u], after, before};
    CU_ASSERT_EQUAL(kc_schedule_add_stage(b, &sd, NULL), KEEL_OK);
  }
  for (uint32_t i = 0; i < g_w.nsys; i++) {
    sys_def *d = &g_w.sys[i];
    const char *reads[5] = {0}, *writes[4] = {0};
    for (uint32_t k = 0; k < d->nr; k++) reads[k] = g_w.res_names[d->reads[k]];
    for (uint32_t k = 0; k < d->nw; k++) writes[k] = g_w.res_names[d->writes[k]];
    kc_system_desc sd = {d->name, g_w.stage_names[d->stage], reads, writes, instrumented, d, d->main_only};
    CU_ASSERT_EQUAL(kc_schedule_add_system(b, &sd, NULL), KEEL_OK);
  }
  kc_schedule *s = NULL;
  kc_err err;
  keel_result r = kc_schedule_build(b, &s, &err);
  if (r != KEEL_OK) fprintf(stderr, "build: %s\n", err.msg);
  CU_ASSERT_EQUAL_FATAL(r, KEEL_OK);
  kc_schedule_builder_destroy(b);
  return s;
}

/* Must stage x run before stage y? Only when the declared order says so:
 * the built-ins chain, and a user stage sits after one and before another. */
static bool must_precede(uint32_t x, uint32_t y, const uint32_t *ua, const uint32_t *ub) {
  if (x < 6 && y < 6) return x < y;
  if (x >= 6 && y < 6) return ub[x] <= y;
  if (x < 6 && y >= 6) return x <= ua[y];
  return ub[x] <= ua[y]; /* user before a built-in that is at or before the other's after */
}

static void test_random_schedules_never_overlap_conflicts(void) {
  kc_pool_desc pd = {4, 0, 0};
  kc_pool *p = NULL;
  CU_ASSERT_EQUAL_FATAL(kc_pool_create(&pd, &p, NULL), KEEL_OK);
  uint32_t seeds = 24;
  uint32_t frames = (uint32_t)(kt_scaled(20000) / 100); /* 200 per seed; 10 under TSan */
  uint32_t max_parallel = 0;
  uint64_t checked_pairs = 0;
  for (uint32_t sd = 0; sd < seeds; sd++) {
    uint64_t seed = 0x5EED0000ull + sd * 7919;
    make_world(seed);
    uint32_t ua[6 + MAX_USER_STAGES] = {0}, ub[6 + MAX_USER_STAGES] = {0};
    kc_schedule *s = build_world(seed ^ 0xABCDEFull, ua, ub);
    for (uint32_t f = 0; f < frames; f++) {
      for (uint32_t i = 0; i < g_w.nsys; i++) atomic_store(&g_w.ran[i], 0);
      atomic_store(&g_w.pf_sum, 0);
      kc_err err;
      CU_ASSERT_EQUAL_FATAL(kc_schedule_run(s, p, NULL, &err), KEEL_OK);
      uint32_t pf_users = 0;
      for (uint32_t i = 0; i < g_w.nsys; i++) {
        CU_ASSERT_EQUAL(atomic_load(&g_w.ran[i]), 1);
        pf_users += g_w.sys[i].uses_pf;
      }
      CU_ASSERT_EQUAL(atomic_load(&g_w.pf_sum), (uint64_t)pf_users * 999 * 1000 / 2);
      for (uint32_t i = 0; i < g_w.nsys; i++)
        for (uint32_t j = 0; j < g_w.nsys; j++) {
          if (i == j) continue;
          const sys_def *a = &g_w.sys[i], *b = &g_w.sys[j];
          bool before = false;
          if (a->stage != b->stage)
            before = must_precede(a->stage, b->stage, ua, ub);
          else
            before = i < j && expect_conflict(a, b);
          if (before) {
            checked_pairs++;
            if (!(g_w.end[i] < g_w.start[j])) {
              fprintf(stderr, "seed %u frame %u: %s (stage %s) must end before %s (stage %s) starts\n", sd, f,
                      a->name, g_w.stage_names[a->stage], b->name, g_w.stage_names[b->stage]);
              CU_FAIL("ordering violated");
              goto out;
            }
          }
        }
    }
    if (atomic_load(&g_w.max_running) > max_parallel) max_parallel = atomic_load(&g_w.max_running);
    CU_ASSERT_EQUAL(atomic_load(&g_w.violations), 0);
    CU_ASSERT_EQUAL(atomic_load(&g_w.main_only_off_main), 0);
  out:
    kc_schedule_destroy(s);
    if (atomic_load(&g_w.violations)) break;
  }
  CU_ASSERT(checked_pairs > 0);
  /* The schedule is worth having only if non-conflicting systems did run
   * side by side at some point. */
  CU_ASSERT(max_parallel >= 2);
  kc_pool_destroy(p);
}

/* The overlap detector itself must catch an overlap, or the test above
 * proves nothing: two jobs that write the same resource meet first (so they
 * surely overlap, however late the second worker wakes) and then run the
 * instrumented body side by side. */
static _Atomic uint32_t g_rendezvous;

static void two_writers(void *user, uint32_t worker) {
  (void)worker;
  atomic_fetch_add(&g_rendezvous, 1);
  uint64_t deadline = kt_now_ns() + 2000ull * 1000 * 1000;
  while (atomic_load(&g_rendezvous) < 2 && kt_now_ns() < deadline) {
  }
  kc_system_ctx ctx = {0};
  ctx.user = user;
  ctx.system = (uint32_t)(((sys_def *)user) - g_w.sys);
  instrumented(&ctx);
}

static void test_overlap_detector_detects(void) {
  kc_pool_desc pd = {2, 0, 0};
  kc_pool *p = NULL;
  CU_ASSERT_EQUAL_FATAL(kc_pool_create(&pd, &p, NULL), KEEL_OK);
  /* After the meeting both bodies run for 20 ms; only a thread preempted
   * for all of that misses the overlap, so a few tries are plenty. */
  bool caught = false;
  for (int attempt = 0; attempt < 10 && !caught; attempt++) {
    memset(&g_w, 0, sizeof g_w);
    g_w.main = pthread_self();
    atomic_store(&g_rendezvous, 0);
    for (int i = 0; i < 2; i++) {
      g_w.sys[i].nw = 1;
      g_w.sys[i].writes[0] = 0;
      g_w.sys[i].work_ns = 20 * 1000 * 1000;
    }
    keel_job_desc jobs[2] = {{two_writers, &g_w.sys[0]}, {two_writers, &g_w.sys[1]}};
    keel_job_counter c;
    CU_ASSERT_EQUAL(kc_pool_submit(p, jobs, 2, &c, NULL), KEEL_OK);
    CU_ASSERT_EQUAL(kc_pool_wait(p, c, NULL), KEEL_OK);
    CU_ASSERT_EQUAL(atomic_load(&g_rendezvous), 2);
    caught = atomic_load(&g_w.violations) > 0;
  }
  CU_ASSERT_TRUE(caught);
  kc_pool_destroy(p);
}

/* Non-conflicting systems of one batch really run at the same time: each
 * waits (bounded) until the other has started. */
typedef struct meet {
  _Atomic uint32_t arrived;
  _Atomic uint32_t met;
} meet;

static keel_result meet_system(const kc_system_ctx *ctx) {
  meet *m = ctx->user;
  atomic_fetch_add(&m->arrived, 1);
  uint64_t deadline = kt_now_ns() + 2000ull * 1000 * 1000;
  while (atomic_load(&m->arrived) < 2 && kt_now_ns() < deadline) {
  }
  if (atomic_load(&m->arrived) >= 2) atomic_fetch_add(&m->met, 1);
  return KEEL_OK;
}

static void test_batch_runs_in_parallel(void) {
  kc_pool_desc pd = {2, 0, 0};
  kc_pool *p = NULL;
  CU_ASSERT_EQUAL_FATAL(kc_pool_create(&pd, &p, NULL), KEEL_OK);
  kc_schedule_builder *b = NULL;
  CU_ASSERT_EQUAL_FATAL(kc_schedule_builder_create(&b, NULL), KEEL_OK);
  meet m;
  const char *ra[] = {"shared", NULL}, *wa[] = {"a", NULL}, *wb[] = {"b", NULL};
  kc_system_desc d1 = {"left", "Update", ra, wa, meet_system, &m, false};
  kc_system_desc d2 = {"right", "Update", ra, wb, meet_system, &m, false};
  CU_ASSERT_EQUAL(kc_schedule_add_system(b, &d1, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_schedule_add_system(b, &d2, NULL), KEEL_OK);
  kc_schedule *s = NULL;
  CU_ASSERT_EQUAL_FATAL(kc_schedule_build(b, &s, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_schedule_batch_count(s, 0), 1);
  for (int frame = 0; frame < 5; frame++) {
    atomic_store(&m.arrived, 0);
    atomic_store(&m.met, 0);
    CU_ASSERT_EQUAL(kc_schedule_run(s, p, NULL, NULL), KEEL_OK);
    CU_ASSERT_EQUAL(atomic_load(&m.met), 2);
  }
  kc_schedule_destroy(s);
  kc_schedule_builder_destroy(b);
  kc_pool_destroy(p);
}

static CU_TestInfo tests[] = {
    {"the overlap detector catches two concurrent writers", test_overlap_detector_detects},
    {"random schedules: conflicts never overlap, stages in order", test_random_schedules_never_overlap_conflicts},
    {"a batch's systems run at the same time", test_batch_runs_in_parallel},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"sched_schedule_stress", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
