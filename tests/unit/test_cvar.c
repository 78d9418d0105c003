/* kc_cvar on one thread: registration rules, refusals that name the cvar and
 * its range or choices, typed reads, and the pending-change queue: handlers
 * run only on dispatch, in the order of the changes, across cvars. The
 * cross-thread reads are in tests/stress/test_cvar_threads.c. */
#include "base/cvar.h"
#include "keel_test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static kc_cvar *cv_int, *cv_float, *cv_bool, *cv_str, *cv_mode, *cv_ro;

static int setup_registry(void) {
  static const char *const modes[] = {"fast", "slow", "off", NULL};
  kc_cvar_shutdown();
  kc_err err;
  if (kc_cvar_register_int("t_count", 5, 0, 100, 0, "a count", &cv_int, &err) != KEEL_OK) return 1;
  if (kc_cvar_register_float("t_scale", 1.5, -2.0, 10.0, 0, "a scale", &cv_float, &err) != KEEL_OK) return 1;
  if (kc_cvar_register_bool("t_flag", false, KC_CVAR_ARCHIVE, "a flag", &cv_bool, &err) != KEEL_OK) return 1;
  if (kc_cvar_register_string("t_name", "hello", NULL, 0, "any text", &cv_str, &err) != KEEL_OK) return 1;
  if (kc_cvar_register_string("t_mode", "fast", modes, 0, "a mode", &cv_mode, &err) != KEEL_OK) return 1;
  if (kc_cvar_register_int("t_ro", 7, 0, 10, KC_CVAR_READONLY, "fixed", &cv_ro, &err) != KEEL_OK) return 1;
  return 0;
}

static void setup(void) { CU_ASSERT_EQUAL_FATAL(setup_registry(), 0); }

static int cleanup(void) {
  kc_cvar_shutdown();
  return 0;
}

static void expect_refusal(keel_result r, const kc_err *err, const char *want, int line) {
  CU_assertImplementation(r == KEEL_ERR_INVALID_ARGUMENT, (unsigned)line, "refused", __FILE__, "", CU_FALSE);
  int ok = strcmp(err->msg, want) == 0;
  if (!ok) fprintf(stderr, "\n%s:%d: expected:\n  %s\ngot:\n  %s\n", __FILE__, line, want, err->msg);
  CU_assertImplementation(ok, (unsigned)line, "message", __FILE__, "", CU_FALSE);
}
#define EXPECT_REFUSAL(call, want)          \
  do {                                      \
    kc_err e_;                              \
    keel_result r_ = (call);                \
    expect_refusal(r_, &e_, want, __LINE__); \
  } while (0)
/* `call` must use a kc_err named e_ */

/* ---- registration ---- */

static void test_register_rules(void) {
  kc_err err;
  kc_cvar *cv = NULL;
  CU_ASSERT_EQUAL(kc_cvar_register_int("Bad-Name", 0, 0, 1, 0, "", &cv, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "cvar name 'Bad-Name' is not valid");
  CU_ASSERT_PTR_NULL(cv);
  CU_ASSERT_EQUAL(kc_cvar_register_int("t_count", 0, 0, 1, 0, "", &cv, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "cvar 't_count' is already registered");
  CU_ASSERT_EQUAL(kc_cvar_register_int("t_outside", 11, 0, 10, 0, "", &cv, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "default refused: cvar 't_outside': 11 is out of range (expected an integer in 0..10)");
  static const char *const choices[] = {"a", "b", NULL};
  CU_ASSERT_EQUAL(kc_cvar_register_string("t_choice", "c", choices, 0, "", &cv, &err), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_PTR_NULL(kc_cvar_find("t_outside"));
  CU_ASSERT_PTR_NULL(kc_cvar_find("t_choice"));
  CU_ASSERT_EQUAL(kc_cvar_count(), 6);
  CU_ASSERT_PTR_EQUAL(kc_cvar_find("t_mode"), cv_mode);
  CU_ASSERT_PTR_EQUAL(kc_cvar_at(0), cv_int);
  CU_ASSERT_STRING_EQUAL(kc_cvar_help(cv_int), "a count");
  CU_ASSERT_EQUAL(kc_cvar_get_type(cv_float), KC_CVAR_FLOAT);
  CU_ASSERT_EQUAL(kc_cvar_flags(cv_bool), KC_CVAR_ARCHIVE);
}

static void test_register_engine_cvars(void) {
  kc_cvar_shutdown();
  CU_ASSERT_EQUAL(kc_cvar_register_engine(NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_cvar_count(), 3);
  CU_ASSERT_DOUBLE_EQUAL(kc_cvar_get_float(kc_cvar_find("sim_speed")), 1.0, 0.0);
  CU_ASSERT_TRUE(kc_cvar_get_bool(kc_cvar_find("show_stats")));
  kc_cvar_value v;
  CU_ASSERT_EQUAL(kc_cvar_get("r_debug_view", &v), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(v.text, "none");
  CU_ASSERT_EQUAL(kc_cvar_get("nope", &v), KEEL_ERR_NOT_FOUND);
}

/* ---- refusals ---- */

static void test_range_refusal(void) {
  EXPECT_REFUSAL(kc_cvar_set_int(cv_int, 101, &e_), "cvar 't_count': 101 is out of range (expected an integer in 0..100)");
  EXPECT_REFUSAL(kc_cvar_set_string(cv_int, "-1", &e_),
                 "cvar 't_count': -1 is out of range (expected an integer in 0..100)");
  EXPECT_REFUSAL(kc_cvar_set_string(cv_int, "12abc", &e_),
                 "cvar 't_count': '12abc' is not an integer (expected an integer in 0..100)");
  EXPECT_REFUSAL(kc_cvar_set_float(cv_int, 2.5, &e_), "cvar 't_count': 2.5 is not an integer (expected an integer in 0..100)");
  EXPECT_REFUSAL(kc_cvar_set_float(cv_float, 10.5, &e_),
                 "cvar 't_scale': 10.5 is out of range (expected a number in -2..10)");
  EXPECT_REFUSAL(kc_cvar_set_string(cv_float, "nan", &e_),
                 "cvar 't_scale': 'nan' is not a number (expected a number in -2..10)");
  EXPECT_REFUSAL(kc_cvar_set_string(cv_bool, "maybe", &e_),
                 "cvar 't_flag': 'maybe' is not a boolean (expected true/false, yes/no, on/off, 1/0)");
  EXPECT_REFUSAL(kc_cvar_set_int(cv_ro, 3, &e_), "cvar 't_ro' is read-only");
  EXPECT_REFUSAL(kc_cvar_set_bool(cv_int, true, &e_), "cvar 't_count' is an int, not a bool");
  char long_text[200];
  memset(long_text, 'x', sizeof long_text - 1);
  long_text[sizeof long_text - 1] = '\0';
  EXPECT_REFUSAL(kc_cvar_set_string(cv_str, long_text, &e_),
                 "cvar 't_name': value is 199 bytes long (expected a string of at most 127 bytes)");
  /* Nothing changed, nothing is pending. */
  CU_ASSERT_EQUAL(kc_cvar_get_int(cv_int), 5);
  CU_ASSERT_DOUBLE_EQUAL(kc_cvar_get_float(cv_float), 1.5, 0.0);
  CU_ASSERT_EQUAL(kc_cvar_get_int(cv_ro), 7);
  CU_ASSERT_EQUAL(kc_cvar_pending_count(), 0);
  kc_err err;
  CU_ASSERT_EQUAL(kc_cvar_set("no_such", "1", &err), KEEL_ERR_NOT_FOUND);
  CU_ASSERT_STRING_EQUAL(err.msg, "unknown cvar 'no_such'");
}

static void test_choices_refusal(void) {
  EXPECT_REFUSAL(kc_cvar_set_string(cv_mode, "medium", &e_),
                 "cvar 't_mode': 'medium' is not a valid choice (expected one of: fast, slow, off)");
  EXPECT_REFUSAL(kc_cvar_set_string(cv_mode, "FAST", &e_),
                 "cvar 't_mode': 'FAST' is not a valid choice (expected one of: fast, slow, off)");
  kc_err err;
  CU_ASSERT_EQUAL(kc_cvar_set_string(cv_mode, "slow", &err), KEEL_OK);
  char buf[32];
  CU_ASSERT_EQUAL(kc_cvar_get_string(cv_mode, buf, sizeof buf), 4);
  CU_ASSERT_STRING_EQUAL(buf, "slow");
  /* kc_cvar_check refuses the same way without changing anything. */
  CU_ASSERT_EQUAL(kc_cvar_check(cv_mode, "zzz", NULL, &err), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_EQUAL(kc_cvar_check(cv_mode, "off", NULL, &err), KEEL_OK);
  kc_cvar_get_string(cv_mode, buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "slow");
}

/* ---- reads ---- */

static void test_typed_reads_and_text(void) {
  kc_err err;
  CU_ASSERT_EQUAL(kc_cvar_set_string(cv_bool, " Yes ", &err), KEEL_OK);
  CU_ASSERT_TRUE(kc_cvar_get_bool(cv_bool));
  CU_ASSERT_EQUAL(kc_cvar_get_int(cv_bool), 1);
  CU_ASSERT_EQUAL(kc_cvar_set_int(cv_float, 3, &err), KEEL_OK); /* int into a float cvar */
  CU_ASSERT_DOUBLE_EQUAL(kc_cvar_get_float(cv_float), 3.0, 0.0);
  CU_ASSERT_EQUAL(kc_cvar_set_float(cv_float, -1.75, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_cvar_get_int(cv_float), -1); /* truncates toward zero */
  CU_ASSERT_EQUAL(kc_cvar_set_float(cv_int, 42.0, &err), KEEL_OK); /* integral float into an int cvar */
  CU_ASSERT_EQUAL(kc_cvar_get_int(cv_int), 42);
  kc_cvar_value v;
  kc_cvar_get_value(cv_float, &v);
  CU_ASSERT_EQUAL(v.type, KC_CVAR_FLOAT);
  CU_ASSERT_STRING_EQUAL(v.text, "-1.75");
  CU_ASSERT_EQUAL(kc_cvar_set_float(cv_float, 0.1, &err), KEEL_OK);
  kc_cvar_get_value(cv_float, &v);
  CU_ASSERT_STRING_EQUAL(v.text, "0.1"); /* shortest text that reads back */
  kc_cvar_get_value(cv_bool, &v);
  CU_ASSERT_STRING_EQUAL(v.text, "true");
  CU_ASSERT_EQUAL(kc_cvar_get_int(cv_str), 0); /* numeric read of a string */
  char small[4];
  CU_ASSERT_EQUAL(kc_cvar_get_string(cv_str, small, sizeof small), 5);
  CU_ASSERT_STRING_EQUAL(small, "hel");
  kc_cvar_get_default(cv_int, &v);
  CU_ASSERT_EQUAL(v.i, 5);
  char range[128];
  CU_ASSERT_STRING_EQUAL(kc_cvar_describe_range(cv_mode, range, sizeof range), "one of: fast, slow, off");
  kc_cvar_dispatch_pending();
}

static void test_parse_helpers(void) {
  bool b;
  int64_t i;
  double f;
  CU_ASSERT(kc_cvar_parse_bool("ON", &b) && b);
  CU_ASSERT(kc_cvar_parse_bool("0", &b) && !b);
  CU_ASSERT_FALSE(kc_cvar_parse_bool("2", &b));
  CU_ASSERT_FALSE(kc_cvar_parse_bool("", &b));
  CU_ASSERT(kc_cvar_parse_int("-9223372036854775808", &i) && i == INT64_MIN);
  CU_ASSERT_FALSE(kc_cvar_parse_int("9223372036854775808", &i));
  CU_ASSERT_FALSE(kc_cvar_parse_int("0x10", &i));
  CU_ASSERT_FALSE(kc_cvar_parse_int("1.0", &i));
  CU_ASSERT(kc_cvar_parse_float("1e3", &f) && f == 1000.0);
  CU_ASSERT_FALSE(kc_cvar_parse_float("inf", &f));
  CU_ASSERT_FALSE(kc_cvar_parse_float("1e999", &f));
  CU_ASSERT_FALSE(kc_cvar_parse_float("1.5x", &f));
}

/* ---- pending changes and dispatch ---- */

typedef struct seen {
  char lines[64][320];
  int count;
} seen;

static void record(void *user, const char *name, const kc_cvar_value *old_value, const kc_cvar_value *new_value) {
  seen *s = user;
  if (s->count < 64)
    snprintf(s->lines[s->count++], sizeof s->lines[0], "%s:%s->%s", name, old_value->text, new_value->text);
}

static void record_second(void *user, const char *name, const kc_cvar_value *old_value,
                          const kc_cvar_value *new_value) {
  (void)old_value;
  seen *s = user;
  if (s->count < 64) snprintf(s->lines[s->count++], sizeof s->lines[0], "second %s=%s", name, new_value->text);
}

static void test_dispatch_order_across_cvars(void) {
  seen s = {.count = 0};
  kc_err err;
  CU_ASSERT_EQUAL(kc_cvar_on_change("t_count", record, &s, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_cvar_on_change("t_name", record, &s, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_cvar_on_change("t_flag", record, &s, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_cvar_on_change("t_count", record_second, &s, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_cvar_on_change("nope", record, &s, &err), KEEL_ERR_NOT_FOUND);

  CU_ASSERT_EQUAL(kc_cvar_set_int(cv_int, 10, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_cvar_set_string(cv_str, "world", &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_cvar_set_int(cv_int, 20, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_cvar_set_int(cv_int, 20, &err), KEEL_OK); /* same value: no change */
  CU_ASSERT_EQUAL(kc_cvar_set_bool(cv_bool, true, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_cvar_set_string(cv_str, "again", &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_cvar_set_float(cv_float, 2.0, &err), KEEL_OK); /* no handler: dispatched to nobody */

  /* Readers see the values at once; handlers have not run. */
  CU_ASSERT_EQUAL(kc_cvar_get_int(cv_int), 20);
  CU_ASSERT_EQUAL(s.count, 0);
  CU_ASSERT_EQUAL(kc_cvar_pending_count(), 6);

  CU_ASSERT_EQUAL(kc_cvar_dispatch_pending(), 6);
  const char *want[] = {
      "t_count:5->10",   "second t_count=10", "t_name:hello->world", "t_count:10->20",
      "second t_count=20", "t_flag:false->true", "t_name:world->again",
  };
  CU_ASSERT_EQUAL_FATAL(s.count, 7);
  for (int i = 0; i < 7; i++) {
    if (strcmp(s.lines[i], want[i]) != 0) fprintf(stderr, "\nchange %d: got %s want %s\n", i, s.lines[i], want[i]);
    CU_ASSERT_STRING_EQUAL(s.lines[i], want[i]);
  }
  CU_ASSERT_EQUAL(kc_cvar_pending_count(), 0);
  CU_ASSERT_EQUAL(kc_cvar_dispatch_pending(), 0);
  CU_ASSERT_EQUAL(s.count, 7);

  /* Removing one handler leaves the other. */
  CU_ASSERT_EQUAL(kc_cvar_remove_handler("t_count", record, &s), KEEL_OK);
  CU_ASSERT_EQUAL(kc_cvar_remove_handler("t_count", record, &s), KEEL_ERR_NOT_FOUND);
  kc_cvar_set_int(cv_int, 30, &err);
  kc_cvar_dispatch_pending();
  CU_ASSERT_EQUAL(s.count, 8);
  CU_ASSERT_STRING_EQUAL(s.lines[7], "second t_count=30");
}

static void set_mode_from_handler(void *user, const char *name, const kc_cvar_value *old_value,
                                  const kc_cvar_value *new_value) {
  (void)name;
  (void)old_value;
  (void)new_value;
  int *calls = user;
  (*calls)++;
  kc_cvar_set_string(kc_cvar_find("t_mode"), *calls % 2 ? "off" : "fast", NULL);
}

static void test_handler_changes_wait_for_next_dispatch(void) {
  int calls = 0;
  kc_err err;
  CU_ASSERT_EQUAL(kc_cvar_on_change("t_count", set_mode_from_handler, &calls, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_cvar_on_change("t_mode", set_mode_from_handler, &calls, &err), KEEL_OK);
  kc_cvar_set_int(cv_int, 1, &err);
  /* Handlers setting cvars from a handler cannot loop inside one dispatch. */
  CU_ASSERT_EQUAL(kc_cvar_dispatch_pending(), 1);
  CU_ASSERT_EQUAL(calls, 1);
  CU_ASSERT_EQUAL(kc_cvar_pending_count(), 1);
  CU_ASSERT_EQUAL(kc_cvar_dispatch_pending(), 1);
  CU_ASSERT_EQUAL(calls, 2);
  kc_cvar_remove_handler("t_mode", set_mode_from_handler, &calls);
  kc_cvar_dispatch_pending();
}

static void test_pending_queue_full(void) {
  kc_err err;
  for (int i = 0; i < KC_CVAR_PENDING_MAX; i++)
    CU_ASSERT_EQUAL_FATAL(kc_cvar_set_int(cv_int, i % 2 ? 1 : 2, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_cvar_pending_count(), KC_CVAR_PENDING_MAX);
  int64_t before = kc_cvar_get_int(cv_int);
  CU_ASSERT_EQUAL(kc_cvar_set_int(cv_int, 99, &err), KEEL_ERR_FULL);
  KT_ASSERT_CONTAINS(err.msg, "cvar 't_count' not changed: 1024 changes are waiting");
  CU_ASSERT_EQUAL(kc_cvar_get_int(cv_int), before);
  CU_ASSERT_EQUAL(kc_cvar_dispatch_pending(), KC_CVAR_PENDING_MAX);
  CU_ASSERT_EQUAL(kc_cvar_set_int(cv_int, 99, &err), KEEL_OK);
  kc_cvar_dispatch_pending();
}

static CU_TestInfo tests[] = {
    {"register_rules", test_register_rules},
    {"range_refusal", test_range_refusal},
    {"choices_refusal", test_choices_refusal},
    {"typed_reads_and_text", test_typed_reads_and_text},
    {"parse_helpers", test_parse_helpers},
    {"dispatch_order_across_cvars", test_dispatch_order_across_cvars},
    {"handler_changes_wait_for_next_dispatch", test_handler_changes_wait_for_next_dispatch},
    {"pending_queue_full", test_pending_queue_full},
    {"register_engine_cvars", test_register_engine_cvars},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"cvar", NULL, cleanup, setup, NULL, tests},
    CU_SUITE_INFO_NULL,
};
