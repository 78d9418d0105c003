// keel-test-labels: concurrency
/* kc_cvar across threads: writers set string, int and float cvars while
 * readers read them without locks and the main thread dispatches. Every
 * written value carries a self-check (a string is one letter repeated a
 * letter-dependent number of times; an int repeats its low 16 bits in all
 * four quarters), so a torn read is detected, and ThreadSanitizer (tsan
 * preset) checks the accesses themselves. Handlers must see each cvar's
 * changes as an unbroken old -> new chain. */
#include "base/cvar.h"
#include "keel_test.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define READERS 3

static kc_cvar *cv_str, *cv_int, *cv_float;
static atomic_bool writers_done;
static atomic_int writers_running;
static atomic_uint_least64_t torn_strings, torn_ints, bad_floats, reads;

/* The string for step k: letter 'a' + k % 26 repeated 1 + 4 * (k % 26) times. */
static void string_for(uint64_t k, char *buf) {
  int letter = (int)(k % 26);
  int len = 1 + 4 * letter;
  memset(buf, 'a' + letter, (size_t)len);
  buf[len] = '\0';
}

static bool string_ok(const char *s) {
  size_t len = strlen(s);
  if (len == 0 || s[0] < 'a' || s[0] > 'z') return false;
  if (len != (size_t)(1 + 4 * (s[0] - 'a'))) return false;
  for (size_t i = 1; i < len; i++)
    if (s[i] != s[0]) return false;
  return true;
}

static int64_t int_for(uint64_t k) {
  uint64_t q = k & 0x7fff; /* keep the top bit clear: positive values */
  return (int64_t)(q | q << 16 | q << 32 | q << 48);
}

static bool int_ok(int64_t v) {
  uint64_t u = (uint64_t)v, q = u & 0xffff;
  return u == (q | q << 16 | q << 32 | q << 48);
}

/* Retries while the pending queue is full: the main thread is dispatching. */
static void set_retrying(keel_result (*set)(kc_cvar *, const char *, kc_err *), kc_cvar *cv, const char *text) {
  kc_err err;
  keel_result r;
  while ((r = set(cv, text, &err)) == KEEL_ERR_FULL) sched_yield();
  if (r != KEEL_OK) fprintf(stderr, "set %s=%s: %s\n", kc_cvar_name(cv), text, err.msg);
}

static uint64_t g_steps;

static void *writer_string_int(void *arg) {
  (void)arg;
  char buf[KC_CVAR_STRING_MAX];
  char num[32];
  for (uint64_t k = 1; k <= g_steps; k++) {
    string_for(k, buf);
    set_retrying(kc_cvar_set_string, cv_str, buf);
    snprintf(num, sizeof num, "%lld", (long long)int_for(k));
    set_retrying(kc_cvar_set_string, cv_int, num);
  }
  atomic_fetch_sub(&writers_running, 1);
  return NULL;
}

static void *writer_float(void *arg) {
  (void)arg;
  char num[40];
  for (uint64_t k = 1; k <= g_steps; k++) {
    /* k + 0.5 is exact, so a reader can check the fraction. */
    snprintf(num, sizeof num, "%.1f", (double)(k % 1000) + 0.5);
    set_retrying(kc_cvar_set_string, cv_float, num);
  }
  atomic_fetch_sub(&writers_running, 1);
  return NULL;
}

static void *reader(void *arg) {
  (void)arg;
  char buf[KC_CVAR_STRING_MAX];
  uint64_t n = 0;
  while (!atomic_load(&writers_done)) {
    kc_cvar_get_string(cv_str, buf, sizeof buf);
    if (!string_ok(buf)) atomic_fetch_add(&torn_strings, 1);
    if (!int_ok(kc_cvar_get_int(cv_int))) atomic_fetch_add(&torn_ints, 1);
    double f = kc_cvar_get_float(cv_float);
    if (f - (double)(int64_t)f != 0.5) atomic_fetch_add(&bad_floats, 1);
    kc_cvar_value v;
    kc_cvar_get_value(cv_str, &v);
    if (!string_ok(v.text)) atomic_fetch_add(&torn_strings, 1);
    n++;
  }
  atomic_fetch_add(&reads, n);
  return NULL;
}

/* Per-cvar chain check, run by dispatch on the main thread. */
typedef struct chain {
  char last[KC_CVAR_STRING_MAX];
  uint64_t changes, breaks;
} chain;

static void on_change(void *user, const char *name, const kc_cvar_value *old_value, const kc_cvar_value *new_value) {
  (void)name;
  chain *c = user;
  if (strcmp(old_value->text, c->last) != 0) c->breaks++;
  snprintf(c->last, sizeof c->last, "%s", new_value->text);
  c->changes++;
}

static void test_readers_never_see_torn_values(void) {
  kc_cvar_shutdown();
  kc_err err;
  char first[KC_CVAR_STRING_MAX];
  string_for(0, first);
  CU_ASSERT_EQUAL_FATAL(kc_cvar_register_string("s_text", first, NULL, 0, "", &cv_str, &err), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(kc_cvar_register_int("s_int", int_for(0), 0, INT64_MAX, 0, "", &cv_int, &err), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(kc_cvar_register_float("s_float", 0.5, 0, 1000, 0, "", &cv_float, &err), KEEL_OK);
  chain chains[3];
  memset(chains, 0, sizeof chains);
  snprintf(chains[0].last, sizeof chains[0].last, "%s", first);
  snprintf(chains[1].last, sizeof chains[1].last, "%lld", (long long)int_for(0));
  snprintf(chains[2].last, sizeof chains[2].last, "0.5");
  CU_ASSERT_EQUAL(kc_cvar_on_change("s_text", on_change, &chains[0], &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_cvar_on_change("s_int", on_change, &chains[1], &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_cvar_on_change("s_float", on_change, &chains[2], &err), KEEL_OK);

  g_steps = kt_scaled(100000);
  atomic_store(&writers_done, false);
  atomic_store(&writers_running, 2);
  pthread_t readers[READERS], w1, w2;
  for (int i = 0; i < READERS; i++) pthread_create(&readers[i], NULL, reader, NULL);
  pthread_create(&w1, NULL, writer_string_int, NULL);
  pthread_create(&w2, NULL, writer_float, NULL);

  /* The main thread's part: dispatch while the writers run. */
  while (atomic_load(&writers_running) > 0 || kc_cvar_pending_count() > 0) {
    kc_cvar_dispatch_pending();
    sched_yield();
  }
  pthread_join(w1, NULL);
  pthread_join(w2, NULL);
  atomic_store(&writers_done, true);
  for (int i = 0; i < READERS; i++) pthread_join(readers[i], NULL);
  kc_cvar_dispatch_pending();

  CU_ASSERT_EQUAL(atomic_load(&torn_strings), 0);
  CU_ASSERT_EQUAL(atomic_load(&torn_ints), 0);
  CU_ASSERT_EQUAL(atomic_load(&bad_floats), 0);
  CU_ASSERT(atomic_load(&reads) > 0);
  /* Every step changed each value (consecutive steps always differ, except
   * the float writer's wrap from 999.5 to 0.5 which still differs). */
  CU_ASSERT_EQUAL(chains[0].changes, g_steps);
  CU_ASSERT_EQUAL(chains[1].changes, g_steps);
  CU_ASSERT_EQUAL(chains[2].changes, g_steps);
  CU_ASSERT_EQUAL(chains[0].breaks, 0);
  CU_ASSERT_EQUAL(chains[1].breaks, 0);
  CU_ASSERT_EQUAL(chains[2].breaks, 0);
  char final_text[KC_CVAR_STRING_MAX], want_text[KC_CVAR_STRING_MAX];
  kc_cvar_get_string(cv_str, final_text, sizeof final_text);
  string_for(g_steps, want_text);
  CU_ASSERT_STRING_EQUAL(final_text, want_text);
  fprintf(stderr, "\n  %llu steps per writer, %llu reader loops\n", (unsigned long long)g_steps,
          (unsigned long long)atomic_load(&reads));
  kc_cvar_shutdown();
}

static CU_TestInfo tests[] = {
    {"readers_never_see_torn_values", test_readers_never_see_torn_values},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"cvar_threads", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
