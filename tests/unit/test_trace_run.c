// keel-test-labels: plugin
// keel-test-depends: renderer_null script_lua keel_test_plugins
/* `keel --trace` as a user runs it: the file parses as JSON; main, the
 * script worker and the job worker each have a named track; every frame
 * stage and system is a slice on it, ticks carry their number, the swap,
 * the trigger and the counters are there; every begin ends on its own
 * thread, nested; --trace-frames keeps exactly those frames; bad flags are
 * usage errors; a run whose script worker is given up still writes it. */
#include <keel_test.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/test_plugin_abi.h"
#include "trace_check.h"

static char out[1 << 17];
static tc_summary sum;

static int keel(const char *args) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "%s --set renderer.backend=null --set engine.threads=2 %s", KEEL_TEST_KEEL_EXE, args);
  return kt_run(cmd, out, sizeof out);
}

static void check(const char *path) {
  if (!tc_check_file(path, &sum)) fprintf(stderr, "\n%s\n", sum.error);
  CU_ASSERT_TRUE(sum.ok);
}

static void test_range_threads_and_names(void) {
  const char *path = kt_write_temp("range.json", "");
  char args[1024];
  snprintf(args, sizeof args, "--frames 60 --trace %s --trace-frames 20:40", path);
  CU_ASSERT_EQUAL_FATAL(keel(args), 0);
  check(path);
  /* Tracks: main, the script worker, the job worker. */
  int64_t main_tid = tc_thread(&sum, "main"), script = tc_thread(&sum, "script"), job = tc_thread(&sum, "job1");
  CU_ASSERT(main_tid >= 0 && script >= 0 && job >= 0);
  /* Exactly frames 20..40, in order. */
  CU_ASSERT_EQUAL_FATAL(sum.n_frames, 21);
  for (size_t i = 0; i < sum.n_frames; i++) CU_ASSERT_EQUAL(sum.frames[i], 20 + i);
  /* Every stage and every system of the schedule (keel --dump-schedule). */
  const char *on_main[] = {"frame", "events", "Update", "Extract", "Prepare", "Record", "Submit", "Present",
                           "script_handoff", "cvar_dispatch", "main_jobs_and_results", "prepare",
                           "begin_frame", "submit", "present", "swap"};
  for (size_t i = 0; i < sizeof on_main / sizeof on_main[0]; i++) {
    if (tc_name_tid(&sum, on_main[i]) != main_tid) fprintf(stderr, "\nno '%s' slice on main\n", on_main[i]);
    CU_ASSERT_EQUAL(tc_name_tid(&sum, on_main[i]), main_tid);
  }
  CU_ASSERT(tc_name_tid(&sum, "extract") >= 0); /* a worker system: main or job1 */
  CU_ASSERT(tc_name_tid(&sum, "record") >= 0);
  /* Ticks on the script worker, numbered one by one (30 ticks/s at 60 fps:
   * about one every other frame). */
  CU_ASSERT_EQUAL(tc_name_tid(&sum, "tick"), script);
  CU_ASSERT_FATAL(sum.n_ticks >= 2);
  for (size_t i = 1; i < sum.n_ticks; i++) CU_ASSERT_EQUAL(sum.ticks[i], sum.ticks[i - 1] + 1);
  CU_ASSERT(sum.instants >= sum.n_ticks - 1); /* a trigger for each tick */
  CU_ASSERT_TRUE(tc_has_counter(&sum, "entities"));
  CU_ASSERT_TRUE(tc_has_counter(&sum, "commands"));
  CU_ASSERT_TRUE(tc_has_counter(&sum, "dirty_ratio"));
  CU_ASSERT_TRUE(tc_has_counter(&sum, "command_queue"));
  CU_ASSERT_EQUAL(sum.dropped_frames, 0);
  CU_ASSERT(tc_name_tid(&sum, "init") < 0); /* start-up is before frame 20 */
}

/* Without a range: start-up too (init on the script worker), and the
 * summary and exit are as usual. */
static void test_whole_run(void) {
  const char *path = kt_write_temp("whole.json", "");
  char args[1024];
  snprintf(args, sizeof args, "--frames 20 --trace %s", path);
  CU_ASSERT_EQUAL_FATAL(keel(args), 0);
  KT_ASSERT_CONTAINS(out, "keel: 20 frames in ");
  check(path);
  CU_ASSERT_EQUAL(sum.n_frames, 20);
  CU_ASSERT_EQUAL(tc_name_tid(&sum, "init"), tc_thread(&sum, "script"));
  CU_ASSERT_EQUAL(tc_name_tid(&sum, "shutdown"), tc_thread(&sum, "script"));
  CU_ASSERT_EQUAL(sum.ticks[0], 0);
}

static void test_bad_flags(void) {
  CU_ASSERT_EQUAL(keel("--frames 3 --trace-frames 1:2"), 2);
  KT_ASSERT_CONTAINS(out, "--trace-frames needs --trace FILE.json");
  CU_ASSERT_EQUAL(keel("--frames 3 --trace /tmp/x.json --trace-frames 5:2"), 2);
  KT_ASSERT_CONTAINS(out, "--trace-frames '5:2': expected A:B");
  CU_ASSERT_EQUAL(keel("--frames 3 --trace /nonexistent-keel-dir/t.json"), 1);
  KT_ASSERT_CONTAINS(out, "/nonexistent-keel-dir/t.json: cannot write the trace");
}

/* A runtime stuck in native code in its first tick: keel gives the worker
 * up and exits 1 without freeing anything, and the trace is still written,
 * with the frames that ran and the open tick left out. */
static void test_stuck_worker(void) {
  const char *path = kt_write_temp("stuck.json", "");
  const char *game = kt_write_temp("game.none", "nothing\n");
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "%s=tick %s --set renderer.backend=null --set engine.threads=2 --frames 30 --plugin-path %s/test-plugins "
           "--set script.runtime=hang --set script.main=%s --set script.tick_budget_ms=1 "
           "--set script.shutdown_timeout_ms=100 --trace %s",
           TP_HANG_ENV, KEEL_TEST_KEEL_EXE, KEEL_TEST_BINARY_DIR, game, path);
  CU_ASSERT_EQUAL_FATAL(kt_run(cmd, out, sizeof out), 1);
  KT_ASSERT_CONTAINS(out, "keel: 30 frames in ");
  check(path);
  CU_ASSERT_EQUAL(sum.n_frames, 30);
  CU_ASSERT(tc_thread(&sum, "script") >= 0);
  CU_ASSERT(tc_name_tid(&sum, "tick") < 0); /* tick 0 never ended */
}

static CU_TestInfo tests[] = {
    {"--trace-frames 20:40: tracks, stages, systems, ticks, counters", test_range_threads_and_names},
    {"whole run: start-up and shutdown", test_whole_run},
    {"bad flags and paths", test_bad_flags},
    {"a stuck script worker: the trace is still written", test_stuck_worker},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"trace run", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
