// keel-test-labels: concurrency
/* The hot-reload file watcher: each way an editor saves (truncate and
 * rewrite, write a new file and rename it over, move the old one away and
 * write a new one) is one report; a file next door is none; many saves in
 * a burst are few reports; and the watcher stops cleanly. Waits are for a
 * report to arrive (with a generous deadline), never a measured duration. */
#include <keel_test.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/watch.h"

#define SETTLE_NS (20u * 1000u * 1000u)

static char dir[256];

static const char *path_in(const char *name) {
  static char buf[4][512];
  static int next;
  char *p = buf[next++ % 4];
  snprintf(p, 512, "%s/%s", dir, name);
  return p;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w"); /* truncate, then write: one close-after-write */
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs(text, f);
  fclose(f);
}

static void save_by_rename(const char *path, const char *text) {
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp~", path);
  write_file(tmp, text);
  CU_ASSERT_EQUAL(rename(tmp, path), 0);
}

static int setup(void) {
  snprintf(dir, sizeof dir, "%s/keel-watch-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  return mkdtemp(dir) ? 0 : 1;
}

/* Waits until the watcher has reported `reports` changes in all (10 s at
 * most: a report that never comes fails the test). */
static bool wait_reports(kc_watch *w, uint64_t reports) {
  uint64_t deadline = kc_clock_now_ns() + 10000000000ull;
  while (kc_watch_reports(w) < reports) {
    if (kc_clock_now_ns() > deadline) return false;
    kc_clock_sleep_ns(1000000);
  }
  return true;
}

/* Nothing more arrives: several settle times with no new report. */
static void expect_quiet(kc_watch *w, uint64_t reports) {
  kc_clock_sleep_ns(5 * SETTLE_NS);
  CU_ASSERT_EQUAL(kc_watch_reports(w), reports);
}

static kc_watch *make(void) {
  kc_watch *w = NULL;
  kc_err err;
  CU_ASSERT_EQUAL_FATAL(kc_watch_create(SETTLE_NS, &w, &err), KEEL_OK);
  return w;
}

static void test_each_save_style_is_one_report(void) {
  const char *a = path_in("a.lua"), *b = path_in("b.lua");
  write_file(a, "x = 1\n");
  write_file(b, "y = 1\n");
  kc_watch *w = make();
  kc_err err;
  CU_ASSERT_EQUAL(kc_watch_add(w, a, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_watch_add(w, a, &err), KEEL_OK); /* twice is one watch */
  CU_ASSERT_EQUAL(kc_watch_count(w), 1);
  CU_ASSERT_FALSE(kc_watch_pending(w));

  write_file(a, "x = 2\n");
  CU_ASSERT_TRUE_FATAL(wait_reports(w, 1));
  expect_quiet(w, 1);
  CU_ASSERT_TRUE(kc_watch_pending(w));
  const char *paths[4];
  CU_ASSERT_EQUAL(kc_watch_take(w, paths, 4), 1);
  CU_ASSERT_STRING_EQUAL(paths[0], a);
  CU_ASSERT_FALSE(kc_watch_pending(w));
  CU_ASSERT_EQUAL(kc_watch_take(w, paths, 4), 0);

  save_by_rename(a, "x = 3\n");
  CU_ASSERT_TRUE_FATAL(wait_reports(w, 2));
  expect_quiet(w, 2);
  CU_ASSERT_EQUAL(kc_watch_take(w, paths, 4), 1);

  /* Old file moved away, a new one written in its place (vim's default). */
  char bak[600];
  snprintf(bak, sizeof bak, "%s~", a);
  CU_ASSERT_EQUAL(rename(a, bak), 0);
  write_file(a, "x = 4\n");
  CU_ASSERT_TRUE_FATAL(wait_reports(w, 3));
  expect_quiet(w, 3);
  CU_ASSERT_EQUAL(kc_watch_take(w, paths, 4), 1);

  /* A file in the same directory that nobody loaded: nothing. */
  write_file(b, "y = 2\n");
  expect_quiet(w, 3);
  CU_ASSERT_FALSE(kc_watch_pending(w));
  kc_watch_destroy(w);
}

static void test_two_files_in_add_order(void) {
  const char *a = path_in("one.lua"), *b = path_in("two.lua");
  write_file(a, "1");
  write_file(b, "2");
  kc_watch *w = make();
  kc_err err;
  CU_ASSERT_EQUAL(kc_watch_add(w, a, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_watch_add(w, b, &err), KEEL_OK);
  write_file(b, "22");
  write_file(a, "11");
  CU_ASSERT_TRUE_FATAL(wait_reports(w, 2));
  const char *paths[4];
  CU_ASSERT_EQUAL_FATAL(kc_watch_take(w, paths, 4), 2);
  CU_ASSERT_STRING_EQUAL(paths[0], a);
  CU_ASSERT_STRING_EQUAL(paths[1], b);
  /* A small array takes what fits; the rest stays pending. */
  write_file(a, "111");
  write_file(b, "222");
  CU_ASSERT_TRUE_FATAL(wait_reports(w, 4));
  CU_ASSERT_EQUAL(kc_watch_take(w, paths, 1), 1);
  CU_ASSERT_TRUE(kc_watch_pending(w));
  CU_ASSERT_EQUAL(kc_watch_take(w, paths, 4), 1);
  CU_ASSERT_FALSE(kc_watch_pending(w));
  kc_watch_destroy(w);
}

/* 100 saves in a burst, both styles: at least one report, and no more than
 * the burst had pauses of a settle time (a report needs that much quiet
 * after a save and before the next one), however slow the machine. */
static void test_burst_is_bounded(void) {
  const char *a = path_in("burst.lua");
  write_file(a, "0");
  kc_watch *w = make();
  kc_err err;
  CU_ASSERT_EQUAL(kc_watch_add(w, a, &err), KEEL_OK);
  uint64_t t0 = kc_clock_now_ns();
  for (int i = 0; i < 100; i++) {
    char text[32];
    snprintf(text, sizeof text, "x = %d\n", i);
    if (i % 2)
      save_by_rename(a, text);
    else
      write_file(a, text);
  }
  uint64_t burst_ns = kc_clock_now_ns() - t0;
  CU_ASSERT_TRUE_FATAL(wait_reports(w, 1));
  uint64_t reports;
  do { /* until the last of the burst's events has settled */
    reports = kc_watch_reports(w);
    kc_clock_sleep_ns(5 * SETTLE_NS);
  } while (kc_watch_reports(w) != reports);
  CU_ASSERT(reports >= 1);
  CU_ASSERT(reports <= burst_ns / SETTLE_NS + 1);
  if (reports > burst_ns / SETTLE_NS + 1)
    fprintf(stderr, "\n%llu reports for a burst of %llu ns\n", (unsigned long long)reports, (unsigned long long)burst_ns);
  const char *paths[4];
  CU_ASSERT_EQUAL(kc_watch_take(w, paths, 4), 1); /* one path, however many reports */
  kc_watch_destroy(w);
}

static void test_bad_paths(void) {
  kc_watch *w = make();
  kc_err err;
  CU_ASSERT_EQUAL(kc_watch_add(w, "relative.lua", &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "'relative.lua' is not an absolute file path");
  CU_ASSERT_EQUAL(kc_watch_add(w, "/nonexistent-keel-dir/main.lua", &err), KEEL_ERR_IO);
  KT_ASSERT_CONTAINS(err.msg, "cannot watch /nonexistent-keel-dir");
  CU_ASSERT_EQUAL(kc_watch_count(w), 0);
  kc_watch_destroy(w);
  kc_watch_destroy(NULL);
}

static CU_TestInfo tests[] = {
    {"each save style is one report", test_each_save_style_is_one_report},
    {"two files, reported in add order", test_two_files_in_add_order},
    {"100 saves in a burst: bounded reports", test_burst_is_bounded},
    {"bad paths", test_bad_paths},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"watch", setup, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
