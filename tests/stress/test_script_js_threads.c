// keel-test-labels: plugin concurrency
// keel-test-depends: script_js
/* The JavaScript plugin across threads: one-off runs from several threads at
 * once (each on its own pool heap, more threads than the pool keeps), while
 * the game heap ticks on the test's main thread; interrupt() from another
 * thread stopping a runaway update; deep recursion on a thread with a small
 * stack. Run under TSan this is the race check. */
#include "../unit/test_script_js_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

typedef struct oneoff_worker {
  jt *t;
  int index;
  uint64_t runs;
  uint64_t failures;
  char last_error[KEEL_MESSAGE_MAX + 64];
} oneoff_worker;

static atomic_bool go;

static void *oneoff_thread(void *arg) {
  oneoff_worker *w = arg;
  while (!atomic_load(&go)) {
  }
  for (uint64_t i = 0; i < w->runs; i++) {
    char code[256];
    /* Work whose answer the thread knows, plus calls into the host and world. */
    snprintf(code, sizeof code,
             "var s = 0; for (var i = 0; i < %d; i++) s += i; "
             "s + ' ' + entity.count() + ' ' + cvar.get('r_fov') + ' ' + (Math.random() < 1)",
             100 + w->index);
    char want[64];
    int n = 100 + w->index;
    snprintf(want, sizeof want, "%d 1 60 true", n * (n - 1) / 2);
    keel_message m;
    keel_result r = jt_api->oneoff_run(w->t->s, code, &m);
    if (r != KEEL_OK || strcmp(m.text, want) != 0) {
      w->failures++;
      snprintf(w->last_error, sizeof w->last_error, "%s: %.180s (want %s)", keel_result_name(r), m.text, want);
    }
    if (i % 16 == 0) {
      /* An error path too, from every thread. */
      r = jt_api->oneoff_run(w->t->s, "null.x", &m);
      if (r != KEEL_ERR_SCRIPT || !strstr(m.text, "exec:1: TypeError")) w->failures++;
    }
  }
  return NULL;
}

static void run_oneoff_threads(int threads) {
  jt t;
  const char *src = "var n = 0; entity.create({});\n"
                    "function update(dt) { for (var i = 0; i < 2000; i++) n += i; }\n";
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, src, NULL), KEEL_OK);
  oneoff_worker w[8];
  pthread_t th[8];
  atomic_store(&go, false);
  for (int i = 0; i < threads; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].t = &t;
    w[i].index = i;
    w[i].runs = kt_scaled(400);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, oneoff_thread, &w[i]), 0);
  }
  atomic_store(&go, true);
  /* The game heap keeps ticking meanwhile; its update does not touch the
   * fake world, which is single-threaded like the real one. */
  for (int k = 0; k < 50; k++) CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  uint64_t runs = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(th[i], NULL);
    if (w[i].failures) fprintf(stderr, "\n  thread %d: %llu failures, last: %s\n", i,
                               (unsigned long long)w[i].failures, w[i].last_error);
    CU_ASSERT_EQUAL(w[i].failures, 0);
    runs += w[i].runs + (w[i].runs + 15) / 16;
  }
  keel_script_stats st = jt_stats(&t);
  /* Every one-off run is a counted call; the game's were 1 (main) + 50. */
  CU_ASSERT_EQUAL(st.calls, runs + 51);
  CU_ASSERT_EQUAL(st.errors, runs - (uint64_t)threads * kt_scaled(400));
  jt_close(&t);
}

static void test_oneoff_two_threads(void) { run_oneoff_threads(2); }
static void test_oneoff_more_threads_than_pool(void) { run_oneoff_threads(6); }

typedef struct interrupter {
  jt *t;
  unsigned delay_ms;
  uint64_t sent_ns;
} interrupter;

static void *interrupt_thread(void *arg) {
  interrupter *it = arg;
  struct timespec ts = {0, (long)it->delay_ms * 1000000L};
  nanosleep(&ts, NULL);
  it->sent_ns = kt_now_ns();
  jt_api->interrupt(it->t->s);
  return NULL;
}

static void test_interrupt_from_another_thread(void) {
  keel_script_desc d;
  jt_desc_defaults(&d);
  d.tick_budget_ms = 20000; /* the interrupt, not the budget, must end it */
  jt t;
  const char *src = "var ticks = 0;\n"
                    "function update(dt) {\n"
                    "  ticks++; log.info('ticks=' + ticks);\n"
                    "  if (ticks === 2) for (;;) { try { for (;;) {} } catch (e) {} }\n"
                    "}\n";
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, src, &d), KEEL_OK);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  interrupter it = {&t, 100, 0};
  pthread_t th;
  /* t0 before the interrupter starts its 100 ms sleep, so the bound below
   * holds however late this thread runs again after pthread_create. */
  uint64_t t0 = kt_now_ns();
  CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, interrupt_thread, &it), 0);
  keel_result r = jt_tick(&t);
  uint64_t end = kt_now_ns();
  pthread_join(th, NULL);
  CU_ASSERT_EQUAL(r, KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:4: interrupted");
  CU_ASSERT(end - t0 >= 100u * 1000000u);
  CU_ASSERT(end >= it.sent_ns); /* the tick ended only once the interrupt was sent */
  double latency_ms = (double)(end - it.sent_ns) / 1e6;
  if (latency_ms > 1000.0) fprintf(stderr, "\n  interrupt took %.1f ms to land\n", latency_ms);
  CU_ASSERT(latency_ms < 1000.0); /* a few ms normally; sanitizers and load stretch it */
  CU_ASSERT_EQUAL(jt_stats(&t).interrupts, 1);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  JT_ASSERT_LOG(&t, "INFO: ticks=3");
  jt_close(&t);
}

/* Duktape recurses in C; the plugin measures the calling thread's real stack,
 * so a job thread with a small stack gets "stack overflow", not a segfault. */
typedef struct small_stack_run {
  jt *t;
  const char *code;
  keel_result r;
  keel_message m;
} small_stack_run;

static void *small_stack_thread(void *arg) {
  small_stack_run *run = arg;
  run->r = jt_api->oneoff_run(run->t->s, run->code, &run->m);
  return NULL;
}

/* Without the plugin's stack check each of these segfaults at this size
 * (Duktape's own limits assume about 1 MB, 2-4 MB under ASan). TSan keeps
 * about 770 KB of every thread's stack for its own state. */
#if defined(KEEL_SANITIZER_TSAN)
#define JT_SMALL_STACK (2048u * 1024u)
#elif defined(KEEL_SANITIZER_ASAN)
#define JT_SMALL_STACK (1024u * 1024u)
#else
#define JT_SMALL_STACK (512u * 1024u)
#endif

static void test_recursion_on_a_small_stack(void) {
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "var x = 1;", NULL), KEEL_OK);
  static const char *const codes[] = {
      "function g() { [1].forEach(g); } g()",                              /* native calls */
      "var o = {get v() { return this.v; }}; o.v",                         /* getter recursion */
      "function h() { return String({toString: h}); } h()",                /* toString */
      "eval(new Array(3000).join('(') + '1' + new Array(3000).join(')'))", /* compiler */
      "JSON.stringify(JSON.parse(new Array(900).join('[') + new Array(900).join(']'))).length",
  };
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, JT_SMALL_STACK);
    small_stack_run run = {&t, codes[i], KEEL_OK, {{0}}};
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, &attr, small_stack_thread, &run), 0);
    pthread_join(th, NULL);
    pthread_attr_destroy(&attr);
    /* The JSON case may fit; every other one must stop cleanly. */
    if (i < 4) {
      CU_ASSERT_EQUAL(run.r, KEEL_ERR_SCRIPT);
      if (!strstr(run.m.text, "stack overflow")) fprintf(stderr, "\n  %s -> %s\n", codes[i], run.m.text);
      KT_ASSERT_CONTAINS(run.m.text, "stack overflow");
    } else {
      CU_ASSERT(run.r == KEEL_OK || strstr(run.m.text, "stack overflow") || strstr(run.m.text, "recursion limit"));
    }
  }
  keel_message m;
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, "'alive'", &m), KEEL_OK);
  jt_close(&t);
}

static CU_TestInfo oneoff_tests[] = {
    {"oneoff_run from 2 threads at once", test_oneoff_two_threads},
    {"oneoff_run from 6 threads (pool keeps 4)", test_oneoff_more_threads_than_pool},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo interrupt_tests[] = {
    {"interrupt() from another thread", test_interrupt_from_another_thread},
    {"deep recursion on a thread with a small stack", test_recursion_on_a_small_stack},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"js_oneoff_threads", NULL, NULL, NULL, NULL, oneoff_tests},
    {"js_interrupt_thread", NULL, NULL, NULL, NULL, interrupt_tests},
    CU_SUITE_INFO_NULL,
};
