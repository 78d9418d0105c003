// keel-test-labels: concurrency
/* kc_log: level filtering, KEEL_LOG, capture through a sink, thread names,
 * the line format, truncation, a sink that logs, and four threads logging at
 * once through the default stderr sink producing whole lines only; and the
 * clock the timestamps come from. */
#include "base/clock.h"
#include "base/log.h"
#include "keel_test.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct capture {
  int count;
  kc_log_level levels[32];
  char threads[32][KC_LOG_THREAD_NAME_MAX];
  char messages[32][KC_LOG_MESSAGE_MAX];
} capture;

static capture cap;

static void capture_sink(const kc_log_record *r, void *user) {
  capture *c = user;
  if (c->count >= 32) return;
  c->levels[c->count] = r->level;
  snprintf(c->threads[c->count], sizeof c->threads[0], "%s", r->thread_name);
  snprintf(c->messages[c->count], sizeof c->messages[0], "%s", r->message);
  c->count++;
}

static void setup(void) {
  memset(&cap, 0, sizeof cap);
  kc_log_set_sink(capture_sink, &cap);
  kc_log_set_level(KC_LOG_INFO);
}

static void teardown(void) {
  kc_log_set_sink(NULL, NULL);
  kc_log_set_level(KC_LOG_INFO);
}

static int suite_init(void) {
  unsetenv("KEEL_LOG");
  kc_log_init(); /* the first initialiser: this thread becomes "main" */
  return 0;
}

static int evaluated;
static int side_effect(void) { return ++evaluated; }

static void test_level_filtering(void) {
  kc_log_set_level(KC_LOG_WARN);
  CU_ASSERT_EQUAL(kc_log_get_level(), KC_LOG_WARN);
  KC_LOG_INFO("hidden %d", 1);
  KC_LOG_WARN("shown %d", 2);
  KC_LOG_ERROR("shown %d", 3);
  KC_LOG_DEBUG("hidden %d", side_effect());
  CU_ASSERT_EQUAL(evaluated, 0); /* disabled verbose levels skip their arguments */
  CU_ASSERT_EQUAL_FATAL(cap.count, 2);
  CU_ASSERT_EQUAL(cap.levels[0], KC_LOG_WARN);
  CU_ASSERT_STRING_EQUAL(cap.messages[0], "shown 2");
  CU_ASSERT_EQUAL(cap.levels[1], KC_LOG_ERROR);
  CU_ASSERT_STRING_EQUAL(cap.messages[1], "shown 3");
  kc_log_set_level(KC_LOG_TRACE);
  KC_LOG_TRACE("trace %d", side_effect());
  CU_ASSERT_EQUAL(evaluated, 1);
  CU_ASSERT_EQUAL(cap.count, 3);
  CU_ASSERT_FALSE(kc_log_enabled(KC_LOG_TRACE + 1));
  kc_log_set_level(KC_LOG_ERROR);
  CU_ASSERT_FALSE(kc_log_enabled(KC_LOG_WARN));
  CU_ASSERT_TRUE(kc_log_enabled(KC_LOG_ERROR));
}

static void test_parse_level(void) {
  kc_log_level l;
  CU_ASSERT(kc_log_parse_level("error", &l) && l == KC_LOG_ERROR);
  CU_ASSERT(kc_log_parse_level("WARN", &l) && l == KC_LOG_WARN);
  CU_ASSERT(kc_log_parse_level("Debug", &l) && l == KC_LOG_DEBUG);
  CU_ASSERT(kc_log_parse_level("trace", &l) && l == KC_LOG_TRACE);
  CU_ASSERT_FALSE(kc_log_parse_level("verbose", &l));
  CU_ASSERT_FALSE(kc_log_parse_level("", &l));
  CU_ASSERT_FALSE(kc_log_parse_level(NULL, &l));
  CU_ASSERT_STRING_EQUAL(kc_log_level_name(KC_LOG_INFO), "info");
}

static void test_keel_log_env(void) {
  setenv("KEEL_LOG", "debug", 1);
  kc_log_init();
  CU_ASSERT_EQUAL(kc_log_get_level(), KC_LOG_DEBUG);
  CU_ASSERT_TRUE(kc_log_level_from_env());
  CU_ASSERT_EQUAL(cap.count, 0);

  setenv("KEEL_LOG", "loud", 1);
  kc_log_set_level(KC_LOG_INFO);
  kc_log_init();
  CU_ASSERT_EQUAL(kc_log_get_level(), KC_LOG_INFO); /* unchanged */
  CU_ASSERT_FALSE(kc_log_level_from_env());
  CU_ASSERT_EQUAL_FATAL(cap.count, 1);
  CU_ASSERT_EQUAL(cap.levels[0], KC_LOG_WARN);
  CU_ASSERT_STRING_EQUAL(cap.messages[0],
                         "KEEL_LOG='loud' is not a log level (valid: error, warn, info, debug, trace); keeping 'info'");

  unsetenv("KEEL_LOG");
  kc_log_init();
  CU_ASSERT_FALSE(kc_log_level_from_env());
  CU_ASSERT_EQUAL(cap.count, 1);
}

static void test_sink_capture_and_restore(void) {
  KC_LOG_INFO("to the sink");
  CU_ASSERT_EQUAL(cap.count, 1);
  CU_ASSERT_STRING_EQUAL(cap.threads[0], "main");
  kc_log_set_sink(NULL, NULL); /* back to stderr: the capture sees nothing */
  KC_LOG_INFO("to stderr (expected in the test output)");
  CU_ASSERT_EQUAL(cap.count, 1);
}

static void *named_thread(void *arg) {
  (void)arg;
  KC_LOG_WARN("before naming");
  kc_log_set_thread_name("worker-1");
  KC_LOG_WARN("after naming");
  return NULL;
}

static void test_thread_names(void) {
  pthread_t t;
  pthread_create(&t, NULL, named_thread, NULL);
  pthread_join(t, NULL);
  CU_ASSERT_EQUAL_FATAL(cap.count, 2);
  CU_ASSERT_EQUAL(cap.threads[0][0], 't'); /* default: t<tid> */
  CU_ASSERT(atoi(cap.threads[0] + 1) > 0);
  CU_ASSERT_STRING_EQUAL(cap.threads[1], "worker-1");
  CU_ASSERT_STRING_EQUAL(kc_log_thread_name(), "main");
}

static void test_line_format(void) {
  kc_log_record r = {.level = KC_LOG_WARN, .thread_name = "render", .message = "frame late", .time_ns = 12345678901ull};
  char line[KC_LOG_LINE_MAX];
  size_t n = kc_log_format_line(&r, line, sizeof line);
  CU_ASSERT_STRING_EQUAL(line, "[    12.345] warn  render: frame late\n");
  CU_ASSERT_EQUAL(n, strlen(line));
  char small[16];
  n = kc_log_format_line(&r, small, sizeof small);
  CU_ASSERT_EQUAL(n, 15);
  CU_ASSERT_EQUAL(small[14], '\n'); /* cut lines still end the line */
}

static void test_long_message_is_cut_with_ellipsis(void) {
  char big[3000];
  /* Two-byte characters, so a careless cut would split one. */
  for (size_t i = 0; i + 2 < sizeof big; i += 2) memcpy(big + i, "\xC3\xA9", 2);
  big[sizeof big - 2] = '\0';
  KC_LOG_INFO("%s", big);
  CU_ASSERT_EQUAL_FATAL(cap.count, 1);
  const char *m = cap.messages[0];
  size_t len = strlen(m);
  CU_ASSERT(len < KC_LOG_MESSAGE_MAX);
  CU_ASSERT(len > KC_LOG_MESSAGE_MAX - 8);
  CU_ASSERT_STRING_EQUAL(m + len - 3, "\xE2\x80\xA6");
  CU_ASSERT_EQUAL((len - 3) % 2, 0); /* only whole "é"s before the ellipsis */
  CU_ASSERT_EQUAL((unsigned char)m[len - 5], 0xC3);
}

static void logging_sink(const kc_log_record *r, void *user) {
  capture_sink(r, user);
  KC_LOG_ERROR("logged from inside a sink (expected on stderr)"); /* must not deadlock */
}

static void test_sink_that_logs(void) {
  kc_log_set_sink(logging_sink, &cap);
  KC_LOG_INFO("outer");
  CU_ASSERT_EQUAL(cap.count, 1);
  CU_ASSERT_STRING_EQUAL(cap.messages[0], "outer");
}

/* ---- four threads through the default sink ---- */

#define THREADS 4

static uint64_t g_lines;

static void *spam(void *arg) {
  int id = (int)(intptr_t)arg;
  char name[16];
  snprintf(name, sizeof name, "w%d", id);
  kc_log_set_thread_name(name);
  char pad[201];
  memset(pad, 'a' + id, 200);
  pad[200] = '\0';
  for (uint64_t i = 0; i < g_lines; i++) KC_LOG_INFO("n=%llu %s end", (unsigned long long)i, pad);
  return NULL;
}

static void test_concurrent_lines_stay_whole(void) {
  kc_log_set_sink(NULL, NULL);
  g_lines = kt_scaled(5000);
  const char *path = kt_write_temp("log_lines.txt", "");
  CU_ASSERT_PTR_NOT_NULL_FATAL(path);
  int fd = open(path, O_WRONLY | O_APPEND);
  CU_ASSERT_FATAL(fd >= 0);
  fflush(stderr);
  int saved = dup(STDERR_FILENO);
  dup2(fd, STDERR_FILENO);
  close(fd);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, spam, (void *)(intptr_t)i);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  dup2(saved, STDERR_FILENO);
  close(saved);

  FILE *f = fopen(path, "r");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  uint64_t next[THREADS] = {0};
  uint64_t good = 0, bad = 0;
  char line[1024];
  while (fgets(line, sizeof line, f)) {
    int id = -1;
    unsigned long long n = 0;
    char pad[256] = "";
    unsigned sec, ms;
    int got = sscanf(line, "[%u.%u] info  w%d: n=%llu %255s end\n", &sec, &ms, &id, &n, pad);
    bool ok = got == 5 && id >= 0 && id < THREADS && strlen(pad) == 200 && line[strlen(line) - 1] == '\n' &&
              strspn(pad, (char[]){(char)('a' + id), 0}) == 200 && strstr(line, " end\n") &&
              line[0] == '[' && ms < 1000;
    /* Each thread's lines arrive in its own order. */
    if (ok && n == next[id]) {
      next[id]++;
      good++;
    } else {
      if (bad < 3) fprintf(stderr, "\nbad line: %s", line);
      bad++;
    }
  }
  fclose(f);
  CU_ASSERT_EQUAL(bad, 0);
  CU_ASSERT_EQUAL(good, THREADS * g_lines);
  for (int i = 0; i < THREADS; i++) CU_ASSERT_EQUAL(next[i], g_lines);
}

/* ---- the clock behind the timestamps ---- */

static void test_clock_sleeps(void) {
  uint64_t a = kc_clock_now_ns();
  kc_clock_sleep_ns(2 * KC_NS_PER_MS);
  uint64_t b = kc_clock_now_ns();
  CU_ASSERT(b - a >= 2 * KC_NS_PER_MS);
  kc_clock_sleep_until_ns(b - KC_NS_PER_MS); /* in the past: returns at once */
  uint64_t c = kc_clock_now_ns();
  CU_ASSERT(c - b < 50 * KC_NS_PER_MS);
  uint64_t deadline = c + 3 * KC_NS_PER_MS;
  kc_clock_sleep_until_precise_ns(deadline, 500 * KC_NS_PER_US);
  CU_ASSERT(kc_clock_now_ns() >= deadline);
  kc_clock_sleep_ns(0);
  CU_ASSERT(kc_clock_wall_ns() > 1600000000ull * KC_NS_PER_S); /* after 2020 */
  CU_ASSERT_DOUBLE_EQUAL(kc_clock_ns_to_s(1500 * KC_NS_PER_MS), 1.5, 1e-12);
}

static CU_TestInfo tests[] = {
    {"level_filtering", test_level_filtering},
    {"parse_level", test_parse_level},
    {"keel_log_env", test_keel_log_env},
    {"sink_capture_and_restore", test_sink_capture_and_restore},
    {"thread_names", test_thread_names},
    {"line_format", test_line_format},
    {"long_message_is_cut_with_ellipsis", test_long_message_is_cut_with_ellipsis},
    {"sink_that_logs", test_sink_that_logs},
    {"concurrent_lines_stay_whole", test_concurrent_lines_stay_whole},
    {"clock_sleeps", test_clock_sleeps},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"log", suite_init, NULL, setup, teardown, tests},
    CU_SUITE_INFO_NULL,
};
