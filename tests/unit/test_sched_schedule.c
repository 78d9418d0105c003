// keel-test-labels: concurrency
/* kc_schedule: stage ordering with after/before, conflict batching rules,
 * the dump format, every build error with the names it must mention, and
 * single frames run on a real pool (order, main-only systems, failures,
 * context). Randomised many-run checks are in
 * tests/stress/test_sched_schedule_stress.c. */
#include "keel_test.h"
#include "sched/schedule.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static keel_result nop_system(const kc_system_ctx *ctx) {
  (void)ctx;
  return KEEL_OK;
}

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})

static kc_schedule_builder *new_builder(void) {
  kc_schedule_builder *b = NULL;
  CU_ASSERT_EQUAL_FATAL(kc_schedule_builder_create(&b, NULL), KEEL_OK);
  return b;
}

static void add_sys(kc_schedule_builder *b, const char *name, const char *stage, const char *const *reads,
                    const char *const *writes) {
  kc_err err;
  kc_err_clear(&err);
  kc_system_desc d = {name, stage, reads, writes, nop_system, NULL, false};
  keel_result r = kc_schedule_add_system(b, &d, &err);
  if (r != KEEL_OK) fprintf(stderr, "add_system %s: %s\n", name, err.msg);
  CU_ASSERT_EQUAL(r, KEEL_OK);
}

static void add_stage(kc_schedule_builder *b, const char *name, const char *const *after, const char *const *before) {
  kc_stage_desc d = {name, after, before};
  CU_ASSERT_EQUAL(kc_schedule_add_stage(b, &d, NULL), KEEL_OK);
}

static kc_schedule *build_ok(kc_schedule_builder *b) {
  kc_err err;
  kc_err_clear(&err);
  kc_schedule *s = NULL;
  keel_result r = kc_schedule_build(b, &s, &err);
  if (r != KEEL_OK) fprintf(stderr, "build: %s\n", err.msg);
  CU_ASSERT_EQUAL_FATAL(r, KEEL_OK);
  return s;
}

static char g_dump[8192];
static const char *dump(const kc_schedule *s) {
  kc_schedule_dump(s, g_dump, sizeof g_dump);
  return g_dump;
}

static void expect_dump(const kc_schedule *s, const char *expected) {
  const char *got = dump(s);
  if (strcmp(got, expected) != 0) fprintf(stderr, "\n--- expected\n%s--- got\n%s---\n", expected, got);
  CU_ASSERT_STRING_EQUAL(got, expected);
}

/* ---- stages ---- */

static void test_builtin_stages_in_order(void) {
  kc_schedule_builder *b = new_builder();
  kc_schedule *s = build_ok(b);
  expect_dump(s,
              "stage Update\n  (no systems)\n"
              "stage Extract\n  (no systems)\n"
              "stage Prepare\n  (no systems)\n"
              "stage Record\n  (no systems)\n"
              "stage Submit\n  (no systems)\n"
              "stage Present\n  (no systems)\n");
  CU_ASSERT_EQUAL(kc_schedule_stage_count(s), 6);
  CU_ASSERT_STRING_EQUAL(kc_schedule_stage_name(s, 0), "Update");
  CU_ASSERT_STRING_EQUAL(kc_schedule_stage_name(s, 5), "Present");
  CU_ASSERT_PTR_NULL(kc_schedule_stage_name(s, 6));
  CU_ASSERT_EQUAL(kc_schedule_system_count(s), 0);
  kc_schedule_destroy(s);
  kc_schedule_builder_destroy(b);
}

static void test_user_stages_placed_by_after_before(void) {
  kc_schedule_builder *b = new_builder();
  /* Forward references resolve at build time: Late names Cleanup, added after it. */
  add_stage(b, "Late", LIST("Cleanup"), NULL);
  add_stage(b, "Physics", LIST("Update"), LIST("Extract"));
  add_stage(b, "Input", NULL, LIST("Update"));
  add_stage(b, "Cleanup", LIST("Present"), NULL);
  add_stage(b, "Audio", LIST("Record", "Physics"), LIST("Present"));
  kc_schedule *s = build_ok(b);
  const char *want[] = {"Input", "Update", "Physics", "Extract", "Prepare", "Record",
                        "Submit", "Audio", "Present", "Cleanup", "Late"};
  CU_ASSERT_EQUAL_FATAL(kc_schedule_stage_count(s), 11);
  /* Input must precede Update; Audio must sit between Record and Present
   * (ties by add order put it after Submit, which was added first). */
  for (uint32_t i = 0; i < 11; i++) {
    if (strcmp(kc_schedule_stage_name(s, i), want[i]) != 0)
      fprintf(stderr, "stage %u: want %s got %s\n", i, want[i], kc_schedule_stage_name(s, i));
    CU_ASSERT_STRING_EQUAL(kc_schedule_stage_name(s, i), want[i]);
  }
  kc_schedule_destroy(s);
  kc_schedule_builder_destroy(b);
}

/* ---- batching ---- */

static void test_dump_example_batches(void) {
  kc_schedule_builder *b = new_builder();
  add_sys(b, "physics", "Update", LIST("input"), LIST("transform"));
  add_sys(b, "ai", "Update", LIST("input", "navmesh"), LIST("ai_state"));
  add_sys(b, "animation", "Update", LIST("transform"), LIST("pose"));
  add_sys(b, "extract", "Extract", LIST("transform", "pose"), LIST("snapshot"));
  kc_system_desc sub = {"submit", "Submit", LIST("cmdlists"), NULL, nop_system, NULL, true};
  CU_ASSERT_EQUAL(kc_schedule_add_system(b, &sub, NULL), KEEL_OK);
  kc_schedule *s = build_ok(b);
  expect_dump(s,
              "stage Update\n"
              "  batch 0: physics, ai\n"
              "  batch 1: animation\n"
              "stage Extract\n"
              "  batch 0: extract\n"
              "stage Prepare\n  (no systems)\n"
              "stage Record\n  (no systems)\n"
              "stage Submit\n"
              "  batch 0: submit [main]\n"
              "stage Present\n  (no systems)\n");
  CU_ASSERT_EQUAL(kc_schedule_system_count(s), 5);
  CU_ASSERT_EQUAL(kc_schedule_resource_count(s), 7);
  CU_ASSERT_EQUAL(kc_schedule_batch_count(s, 0), 2);
  uint32_t st = 99, bt = 99;
  CU_ASSERT_TRUE(kc_schedule_find_system(s, "animation", &st, &bt));
  CU_ASSERT_EQUAL(st, 0);
  CU_ASSERT_EQUAL(bt, 1);
  CU_ASSERT_FALSE(kc_schedule_find_system(s, "nope", &st, &bt));
  kc_schedule_destroy(s);
  kc_schedule_builder_destroy(b);
}

static uint32_t batch_of(const kc_schedule *s, const char *name) {
  uint32_t st, bt = 999;
  CU_ASSERT_TRUE(kc_schedule_find_system(s, name, &st, &bt));
  return bt;
}

static void test_conflict_rules(void) {
  kc_schedule_builder *b = new_builder();
  add_sys(b, "r1", "Update", LIST("a"), NULL);
  add_sys(b, "r2", "Update", LIST("a"), NULL);              /* read/read: same batch */
  add_sys(b, "w1", "Update", NULL, LIST("a"));              /* write after reads: next batch */
  add_sys(b, "w2", "Update", NULL, LIST("a"));              /* write/write: next again */
  add_sys(b, "free", "Update", LIST("z"), LIST("y"));       /* unrelated: batch 0 */
  add_sys(b, "rw", "Update", LIST("y"), LIST("y"));         /* read+write of y counts as a write */
  add_sys(b, "r3", "Update", LIST("a"), NULL);              /* after w2 */
  add_sys(b, "ry", "Update", LIST("y"), NULL);              /* after rw */
  add_sys(b, "other_stage", "Extract", NULL, LIST("a")); /* stages never batch together */
  kc_schedule *s = build_ok(b);
  CU_ASSERT_EQUAL(batch_of(s, "r1"), 0);
  CU_ASSERT_EQUAL(batch_of(s, "r2"), 0);
  CU_ASSERT_EQUAL(batch_of(s, "w1"), 1);
  CU_ASSERT_EQUAL(batch_of(s, "w2"), 2);
  CU_ASSERT_EQUAL(batch_of(s, "free"), 0);
  CU_ASSERT_EQUAL(batch_of(s, "rw"), 1);
  CU_ASSERT_EQUAL(batch_of(s, "r3"), 3);
  CU_ASSERT_EQUAL(batch_of(s, "ry"), 2);
  CU_ASSERT_EQUAL(batch_of(s, "other_stage"), 0);
  KT_ASSERT_CONTAINS(dump(s), "stage Update\n  batch 0: r1, r2, free\n  batch 1: w1, rw\n  batch 2: w2, ry\n"
                              "  batch 3: r3\nstage Extract\n  batch 0: other_stage\n");
  kc_schedule_destroy(s);
  kc_schedule_builder_destroy(b);
}

static void test_conflicting_systems_keep_add_order(void) {
  /* c conflicts only with b and b only with a: c goes after b even though
   * batch 0 (a) has room for it, so conflicting systems run in add order. */
  kc_schedule_builder *b = new_builder();
  add_sys(b, "a", "Update", NULL, LIST("x"));
  add_sys(b, "b", "Update", LIST("x"), LIST("y"));
  add_sys(b, "c", "Update", LIST("y"), NULL);
  add_sys(b, "d", "Update", NULL, NULL);
  kc_schedule *s = build_ok(b);
  CU_ASSERT_EQUAL(batch_of(s, "a"), 0);
  CU_ASSERT_EQUAL(batch_of(s, "b"), 1);
  CU_ASSERT_EQUAL(batch_of(s, "c"), 2);
  CU_ASSERT_EQUAL(batch_of(s, "d"), 0);
  kc_schedule_destroy(s);
  kc_schedule_builder_destroy(b);
}

/* ---- errors ---- */

static keel_result build_err(kc_schedule_builder *b, kc_err *err) {
  kc_err_clear(err);
  kc_schedule *s = (kc_schedule *)0x1;
  keel_result r = kc_schedule_build(b, &s, err);
  CU_ASSERT_PTR_NULL(s);
  CU_ASSERT_EQUAL(err->code, r);
  return r;
}

static void test_cycle_names_the_path_and_systems(void) {
  kc_schedule_builder *b = new_builder();
  add_stage(b, "A", LIST("B"), NULL);
  add_stage(b, "B", LIST("A"), NULL);
  add_sys(b, "in_a", "A", NULL, NULL);
  add_sys(b, "in_b", "B", NULL, NULL);
  add_sys(b, "bystander", "Update", NULL, NULL);
  kc_err err;
  CU_ASSERT_EQUAL(build_err(b, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "stage cycle: A -> B -> A"); /* starts at the stage added first */
  KT_ASSERT_CONTAINS(err.msg, "in_a");
  KT_ASSERT_CONTAINS(err.msg, "in_b");
  CU_ASSERT_PTR_NULL(strstr(err.msg, "bystander"));
  kc_schedule_builder_destroy(b);

  /* Through the built-ins: Late after Present but before Update. */
  b = new_builder();
  add_stage(b, "Late", LIST("Present"), LIST("Update"));
  CU_ASSERT_EQUAL(build_err(b, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "Update -> Extract -> Prepare -> Record -> Submit -> Present -> Late -> Update");
  KT_ASSERT_CONTAINS(err.msg, "systems in these stages: none");
  kc_schedule_builder_destroy(b);

  b = new_builder();
  add_stage(b, "Self", LIST("Self"), NULL);
  CU_ASSERT_EQUAL(build_err(b, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "stage cycle: Self -> Self");
  kc_schedule_builder_destroy(b);
}

static void test_unknown_names(void) {
  kc_schedule_builder *b = new_builder();
  add_sys(b, "ai", "Updat", NULL, NULL);
  kc_err err;
  CU_ASSERT_EQUAL(build_err(b, &err), KEEL_ERR_NOT_FOUND);
  KT_ASSERT_CONTAINS(err.msg, "system 'ai' is in unknown stage 'Updat'");
  kc_schedule_builder_destroy(b);

  b = new_builder();
  add_stage(b, "X", LIST("Nope"), LIST("Neither"));
  CU_ASSERT_EQUAL(build_err(b, &err), KEEL_ERR_NOT_FOUND);
  KT_ASSERT_CONTAINS(err.msg, "2 problems");
  KT_ASSERT_CONTAINS(err.msg, "stage 'X' is after unknown stage 'Nope'");
  KT_ASSERT_CONTAINS(err.msg, "stage 'X' is before unknown stage 'Neither'");
  kc_schedule_builder_destroy(b);
}

static void test_duplicates(void) {
  kc_schedule_builder *b = new_builder();
  add_sys(b, "physics", "Update", NULL, NULL);
  add_sys(b, "ai", "Update", NULL, NULL);
  add_sys(b, "physics", "Extract", NULL, NULL);
  add_stage(b, "Update", NULL, NULL);
  kc_err err;
  CU_ASSERT_EQUAL(build_err(b, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "duplicate system 'physics' (systems #0 and #2, in stages Update and Extract)");
  KT_ASSERT_CONTAINS(err.msg, "duplicate stage 'Update' (built-in stage #0 and stage #6)");
  KT_ASSERT_CONTAINS(err.msg, "2 problems");
  /* A failed build leaves the builder usable. */
  CU_ASSERT_EQUAL(build_err(b, &err), KEEL_ERR_INVALID_ARGUMENT);
  kc_schedule_builder_destroy(b);
}

static void test_add_checks_shape(void) {
  kc_schedule_builder *b = new_builder();
  kc_err err;
  kc_system_desc d = {NULL, "Update", NULL, NULL, nop_system, NULL, false};
  CU_ASSERT_EQUAL(kc_schedule_add_system(b, &d, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "name is NULL");
  d.name = "";
  CU_ASSERT_EQUAL(kc_schedule_add_system(b, &d, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "name is empty");
  d.name = "s";
  d.fn = NULL;
  CU_ASSERT_EQUAL(kc_schedule_add_system(b, &d, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "system 's': fn is NULL");
  d.fn = nop_system;
  d.stage = NULL;
  CU_ASSERT_EQUAL(kc_schedule_add_system(b, &d, &err), KEEL_ERR_INVALID_ARGUMENT);
  d.stage = "Update";
  d.reads = LIST("ok", "");
  CU_ASSERT_EQUAL(kc_schedule_add_system(b, &d, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "resource read by system 's'");
  char longname[KC_SCHED_NAME_MAX + 8];
  memset(longname, 'n', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  d.reads = NULL;
  d.name = longname;
  CU_ASSERT_EQUAL(kc_schedule_add_system(b, &d, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "longer than 63 bytes");
  kc_stage_desc st = {"", NULL, NULL};
  CU_ASSERT_EQUAL(kc_schedule_add_stage(b, &st, &err), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_EQUAL(kc_schedule_add_stage(b, NULL, &err), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_EQUAL(kc_schedule_add_system(NULL, &d, &err), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_EQUAL(kc_schedule_build(NULL, NULL, &err), KEEL_ERR_INVALID_ARGUMENT);
  /* Nothing bad was kept: the builder still builds. */
  kc_schedule *s = build_ok(b);
  CU_ASSERT_EQUAL(kc_schedule_system_count(s), 0);
  kc_schedule_destroy(s);
  kc_schedule_builder_destroy(b);
  kc_schedule_builder_destroy(NULL);
  kc_schedule_destroy(NULL);
}

/* ---- dump plumbing ---- */

static void test_dump_truncates_like_snprintf(void) {
  kc_schedule_builder *b = new_builder();
  add_sys(b, "physics", "Update", NULL, NULL);
  kc_schedule *s = build_ok(b);
  size_t full = kc_schedule_dump(s, NULL, 0);
  CU_ASSERT_EQUAL(full, strlen(dump(s)));
  char small[10];
  memset(small, 'x', sizeof small);
  CU_ASSERT_EQUAL(kc_schedule_dump(s, small, sizeof small), full);
  CU_ASSERT_STRING_EQUAL(small, "stage Upd");
  FILE *f = tmpfile();
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  CU_ASSERT_EQUAL(kc_schedule_dump_file(s, f, NULL), KEEL_OK);
  rewind(f);
  char back[4096] = {0};
  size_t got = fread(back, 1, sizeof back - 1, f);
  fclose(f);
  CU_ASSERT_EQUAL(got, full);
  CU_ASSERT_STRING_EQUAL(back, dump(s));
  CU_ASSERT_EQUAL(kc_schedule_dump_file(s, NULL, NULL), KEEL_ERR_INVALID_ARGUMENT);
  kc_schedule_destroy(s);
  kc_schedule_builder_destroy(b);
}

/* ---- running ---- */

typedef struct run_rec {
  _Atomic uint32_t clock;
  uint32_t start[16], end[16];
  _Atomic uint32_t ran[16];
  pthread_t main;
  _Atomic uint32_t main_only_off_main;
  _Atomic uint32_t bad_ctx;
  kc_pool *pool;
  int frame_tag;
} run_rec;
static run_rec g_run;

static keel_result rec_system(const kc_system_ctx *ctx) {
  uintptr_t id = (uintptr_t)ctx->user;
  if (ctx->pool != g_run.pool || ctx->frame != &g_run.frame_tag || ctx->system != id ||
      ctx->worker >= kc_pool_worker_count(ctx->pool) || ctx->worker != kc_pool_worker_index(ctx->pool))
    atomic_fetch_add(&g_run.bad_ctx, 1);
  g_run.start[id] = atomic_fetch_add(&g_run.clock, 1);
  for (volatile int i = 0; i < 20000; i++) {
  }
  g_run.end[id] = atomic_fetch_add(&g_run.clock, 1);
  atomic_fetch_add(&g_run.ran[id], 1);
  if (strcmp(ctx->name, "sub") == 0 && !pthread_equal(pthread_self(), g_run.main))
    atomic_fetch_add(&g_run.main_only_off_main, 1);
  return KEEL_OK;
}

static keel_result failing_system(const kc_system_ctx *ctx) {
  rec_system(ctx);
  return strcmp(ctx->name, "bad1") == 0 ? KEEL_ERR_BACKEND : KEEL_ERR_SCRIPT;
}

static void add_rec(kc_schedule_builder *b, uintptr_t id, const char *name, const char *stage,
                    const char *const *reads, const char *const *writes, bool main_only, kc_system_fn fn) {
  kc_system_desc d = {name, stage, reads, writes, fn ? fn : rec_system, (void *)id, main_only};
  CU_ASSERT_EQUAL(kc_schedule_add_system(b, &d, NULL), KEEL_OK);
}

static void test_run_orders_stages_and_batches(void) {
  kc_pool_desc pd = {4, 0, 0};
  kc_pool *p = NULL;
  CU_ASSERT_EQUAL_FATAL(kc_pool_create(&pd, &p, NULL), KEEL_OK);
  kc_schedule_builder *b = new_builder();
  add_rec(b, 0, "u0", "Update", NULL, LIST("t"), false, NULL);
  add_rec(b, 1, "u1", "Update", NULL, LIST("v"), false, NULL);
  add_rec(b, 2, "u2", "Update", LIST("t", "v"), NULL, false, NULL);
  add_rec(b, 3, "e0", "Extract", LIST("t"), NULL, false, NULL);
  add_rec(b, 4, "e1", "Extract", LIST("t"), NULL, false, NULL);
  add_rec(b, 5, "r0", "Record", NULL, LIST("cmd"), false, NULL);
  add_rec(b, 6, "sub", "Submit", LIST("cmd"), NULL, true, NULL);
  add_rec(b, 7, "s1", "Submit", LIST("t"), NULL, false, NULL);
  add_rec(b, 8, "pr", "Present", NULL, NULL, true, NULL);
  kc_schedule *s = build_ok(b);
  kc_schedule_builder_destroy(b); /* the schedule does not need its builder */
  for (int frame = 0; frame < 50; frame++) {
    memset(&g_run, 0, sizeof g_run);
    g_run.main = pthread_self();
    g_run.pool = p;
    kc_err err;
    CU_ASSERT_EQUAL(kc_schedule_run(s, p, &g_run.frame_tag, &err), KEEL_OK);
    for (int i = 0; i < 9; i++) CU_ASSERT_EQUAL(atomic_load(&g_run.ran[i]), 1);
    /* Stage order: every Update system ended before any Extract began, ... */
    uint32_t stage_of[9] = {0, 0, 0, 1, 1, 3, 4, 4, 5};
    for (int i = 0; i < 9; i++)
      for (int j = 0; j < 9; j++)
        if (stage_of[i] < stage_of[j]) CU_ASSERT(g_run.end[i] < g_run.start[j]);
    /* Batch order within Update: u2 reads what u0 and u1 write. */
    CU_ASSERT(g_run.end[0] < g_run.start[2]);
    CU_ASSERT(g_run.end[1] < g_run.start[2]);
    CU_ASSERT_EQUAL(atomic_load(&g_run.main_only_off_main), 0);
    CU_ASSERT_EQUAL(atomic_load(&g_run.bad_ctx), 0);
  }
  kc_schedule_destroy(s);
  kc_pool_destroy(p);
}

static void *run_elsewhere(void *arg) {
  void **a = arg;
  kc_err err;
  kc_err_clear(&err);
  keel_result r = kc_schedule_run(a[0], a[1], NULL, &err);
  return (void *)(intptr_t)(r == KEEL_ERR_WRONG_STATE && strstr(err.msg, "main thread") ? 0 : 1);
}

static void test_run_reports_failures_and_thread(void) {
  kc_pool_desc pd = {2, 0, 0};
  kc_pool *p = NULL;
  CU_ASSERT_EQUAL_FATAL(kc_pool_create(&pd, &p, NULL), KEEL_OK);
  kc_schedule_builder *b = new_builder();
  add_rec(b, 0, "ok0", "Update", NULL, NULL, false, NULL);
  add_rec(b, 1, "bad1", "Update", NULL, NULL, false, failing_system);
  add_rec(b, 2, "bad2", "Prepare", NULL, NULL, false, failing_system);
  add_rec(b, 3, "ok3", "Present", NULL, NULL, false, NULL);
  kc_schedule *s = build_ok(b);
  memset(&g_run, 0, sizeof g_run);
  g_run.main = pthread_self();
  g_run.pool = p;
  kc_err err;
  kc_err_clear(&err);
  CU_ASSERT_EQUAL(kc_schedule_run(s, p, &g_run.frame_tag, &err), KEEL_ERR_BACKEND);
  KT_ASSERT_CONTAINS(err.msg, "system 'bad1' (stage Update) failed with KEEL_ERR_BACKEND; 2 of 4 systems failed");
  for (int i = 0; i < 4; i++) CU_ASSERT_EQUAL(atomic_load(&g_run.ran[i]), 1); /* the frame went on */
  void *args[2] = {s, p};
  pthread_t t;
  void *ret;
  pthread_create(&t, NULL, run_elsewhere, args);
  pthread_join(t, &ret);
  CU_ASSERT_PTR_NULL(ret);
  CU_ASSERT_EQUAL(kc_schedule_run(NULL, p, NULL, NULL), KEEL_ERR_INVALID_ARGUMENT);
  kc_schedule_destroy(s);
  kc_schedule_builder_destroy(b);
  kc_pool_destroy(p);
}

static CU_TestInfo stage_tests[] = {
    {"built-in stages in order, empty dump", test_builtin_stages_in_order},
    {"user stages placed by after/before, forward references", test_user_stages_placed_by_after_before},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo batch_tests[] = {
    {"the dump format on a small frame", test_dump_example_batches},
    {"read/read shares, read/write and write/write split", test_conflict_rules},
    {"conflicting systems keep add order", test_conflicting_systems_keep_add_order},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo error_tests[] = {
    {"a cycle names its path and its systems", test_cycle_names_the_path_and_systems},
    {"unknown stage names", test_unknown_names},
    {"duplicate systems and stages, all problems listed", test_duplicates},
    {"add checks the desc's shape", test_add_checks_shape},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo dump_tests[] = {
    {"dump truncates like snprintf; dump_file", test_dump_truncates_like_snprintf},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo run_tests[] = {
    {"stages and batches run in order, main-only on main, context", test_run_orders_stages_and_batches},
    {"failures reported, frame goes on; main thread only", test_run_reports_failures_and_thread},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"sched_schedule_stages", NULL, NULL, NULL, NULL, stage_tests},
    {"sched_schedule_batches", NULL, NULL, NULL, NULL, batch_tests},
    {"sched_schedule_errors", NULL, NULL, NULL, NULL, error_tests},
    {"sched_schedule_dump", NULL, NULL, NULL, NULL, dump_tests},
    {"sched_schedule_run", NULL, NULL, NULL, NULL, run_tests},
    CU_SUITE_INFO_NULL,
};
