/* The `keel` executable from the outside: --help and --version, usage errors
 * (exit 2 with the option named and a hint), bad configurations (exit 2 with
 * every file:line on stderr), and --check-config printing each value with
 * its source: default, file:line, or the command line. */
#include "base/path.h"
#include "keel_test.h"

#include <stdio.h>
#include <string.h>

#define OUT_CAP 32768
static char out[OUT_CAP];

/* Runs keel with `args` (a shell fragment); returns the exit status. */
static int keel(const char *args) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "env -u KEEL_LOG %s %s", KEEL_TEST_KEEL_EXE, args);
  return kt_run(cmd, out, sizeof out);
}

static void test_help(void) {
  CU_ASSERT_EQUAL(keel("--help"), 0);
  KT_ASSERT_CONTAINS(out, "Usage: keel [OPTION]...");
  KT_ASSERT_CONTAINS(out, "--config FILE");
  KT_ASSERT_CONTAINS(out, "--set SECTION.KEY=VALUE");
  KT_ASSERT_CONTAINS(out, "--check-config");
  KT_ASSERT_CONTAINS(out, "KEEL_LOG");
  CU_ASSERT_EQUAL(keel("-h"), 0);
  KT_ASSERT_CONTAINS(out, "Usage: keel");
  /* --help wins over the other actions. */
  CU_ASSERT_EQUAL(keel("--check-config --help"), 0);
  KT_ASSERT_CONTAINS(out, "Usage: keel");
}

static void test_version(void) {
  CU_ASSERT_EQUAL(keel("--version"), 0);
  CU_ASSERT_EQUAL(strncmp(out, "keel ", 5), 0);
  KT_ASSERT_CONTAINS(out, "(plugin ABI 1.1)\n");
  CU_ASSERT_EQUAL(keel("-V"), 0);
}

static void test_bad_usage(void) {
  CU_ASSERT_EQUAL(keel("--bogus"), 2);
  KT_ASSERT_CONTAINS(out, "keel: unknown option '--bogus'\nRun 'keel --help' for usage.\n");
  CU_ASSERT_EQUAL(keel("--bogus=1"), 2);
  KT_ASSERT_CONTAINS(out, "unknown option '--bogus'");
  CU_ASSERT_EQUAL(keel("-x"), 2);
  KT_ASSERT_CONTAINS(out, "unknown option '-x'");
  CU_ASSERT_EQUAL(keel("--config"), 2);
  KT_ASSERT_CONTAINS(out, "keel: option '--config' needs an argument (FILE)");
  CU_ASSERT_EQUAL(keel("--help=yes"), 2);
  KT_ASSERT_CONTAINS(out, "option '--help' takes no argument");
  CU_ASSERT_EQUAL(keel("game.lua"), 2);
  KT_ASSERT_CONTAINS(out, "unexpected argument 'game.lua'");
  KT_ASSERT_CONTAINS(out, "Run 'keel --help' for usage.");
}

static void test_bad_config_lists_every_error(void) {
  const char *path = kt_write_temp("runner_bad.ini",
                                   "[engine]\n"
                                   "target_fps = 5000\n"
                                   "[renderer]\n"
                                   "vsync = sometimes\n"
                                   "[cvars]\n"
                                   "sim_speed = 20\n");
  char args[1024], want[1024];
  snprintf(args, sizeof args, "--check-config --config %s --set engine.headless=maybe", path);
  CU_ASSERT_EQUAL(keel(args), 2);
  snprintf(want, sizeof want, "%s:2: engine.target_fps: 5000 is out of range (expected an integer in 0..1000)\n", path);
  KT_ASSERT_CONTAINS(out, want);
  snprintf(want, sizeof want, "%s:4: renderer.vsync: 'sometimes' is not a boolean", path);
  KT_ASSERT_CONTAINS(out, want);
  snprintf(want, sizeof want, "%s:6: cvar 'sim_speed': 20 is out of range (expected a number in 0..10)", path);
  KT_ASSERT_CONTAINS(out, want);
  KT_ASSERT_CONTAINS(out, "--set engine.headless=maybe: engine.headless: 'maybe' is not a valid choice (expected one "
                          "of: auto, true, false)\n");
  KT_ASSERT_CONTAINS(out, "keel: 4 configuration errors\n");
  CU_ASSERT_PTR_NULL(strstr(out, "engine.target_fps =")); /* nothing printed as if valid */
  /* The run path (no action flag) refuses the same way. */
  snprintf(args, sizeof args, "--config %s", path);
  CU_ASSERT_EQUAL(keel(args), 2);
  KT_ASSERT_CONTAINS(out, "keel: 3 configuration errors\n");
}

static void test_missing_config_file(void) {
  CU_ASSERT_EQUAL(keel("--check-config --config /nonexistent/engine.ini"), 2);
  KT_ASSERT_CONTAINS(out, "keel: /nonexistent/engine.ini: cannot open: No such file or directory\n");
}

static void test_check_config_shows_sources(void) {
  const char *path = kt_write_temp("runner_ok.ini",
                                   "; test\n"
                                   "[engine]\n"
                                   "target_fps = 30\n"
                                   "frames = 10\n"
                                   "[cvars]\n"
                                   "sim_speed = 0.25\n");
  char args[1024], want[1024];
  snprintf(args, sizeof args, "--check-config --config %s --set engine.frames=99 -s renderer.width=640", path);
  CU_ASSERT_EQUAL(keel(args), 0);
  snprintf(want, sizeof want, "# configuration file: %s\n", path);
  KT_ASSERT_CONTAINS(out, want);
  snprintf(want, sizeof want, "engine.target_fps          = 30                      [%s:3]\n", path);
  KT_ASSERT_CONTAINS(out, want);
  KT_ASSERT_CONTAINS(out, "engine.frames              = 99                      [command line (--set)]\n");
  KT_ASSERT_CONTAINS(out, "renderer.width             = 640                     [command line (--set)]\n");
  KT_ASSERT_CONTAINS(out, "engine.threads             = auto                    [default]\n");
  KT_ASSERT_CONTAINS(out, "renderer.fallback          = gl, null                [default]\n");
  snprintf(want, sizeof want, "cvars.sim_speed            = 0.25                    [%s:6]\n", path);
  KT_ASSERT_CONTAINS(out, want);
  KT_ASSERT_CONTAINS(out, "cvars.show_stats           = true                    [default]\n");
  /* --set on a cvar beats the file's [cvars]. */
  snprintf(args, sizeof args, "--check-config --config %s --set cvars.sim_speed=3", path);
  CU_ASSERT_EQUAL(keel(args), 0);
  KT_ASSERT_CONTAINS(out, "cvars.sim_speed            = 3                       [command line (--set)]\n");
}

static void test_default_config_of_the_build(void) {
  char want[KC_PATH_MAX + 64], dir[KC_PATH_MAX];
  CU_ASSERT_EQUAL(kc_path_normalize(KEEL_TEST_DATA_DIR, dir, sizeof dir, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(keel("--check-config"), 0);
  snprintf(want, sizeof want, "# configuration file: %s/engine.ini\n", dir);
  KT_ASSERT_CONTAINS(out, want);
  KT_ASSERT_CONTAINS(out, "engine.target_fps          = 60");
}

static void test_keel_log_env(void) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "KEEL_LOG=chatty %s --check-config", KEEL_TEST_KEEL_EXE);
  CU_ASSERT_EQUAL(kt_run(cmd, out, sizeof out), 0);
  KT_ASSERT_CONTAINS(out, "warn  main: KEEL_LOG='chatty' is not a log level (valid: error, warn, info, debug, trace)");
  /* KEEL_LOG=error silences the run path's info line. */
  snprintf(cmd, sizeof cmd, "KEEL_LOG=error %s --frames 5 --set engine.target_fps=0", KEEL_TEST_KEEL_EXE);
  CU_ASSERT_EQUAL(kt_run(cmd, out, sizeof out), 0);
  CU_ASSERT_PTR_NULL(strstr(out, "info  main:"));
  snprintf(cmd, sizeof cmd, "KEEL_LOG=info %s --frames 5 --set engine.target_fps=0", KEEL_TEST_KEEL_EXE);
  CU_ASSERT_EQUAL(kt_run(cmd, out, sizeof out), 0);
  KT_ASSERT_CONTAINS(out, "info  main: ");
  /* Without KEEL_LOG, engine.log_level decides. */
  CU_ASSERT_EQUAL(keel("--set engine.log_level=warn --frames 5 --set engine.target_fps=0"), 0);
  CU_ASSERT_PTR_NULL(strstr(out, "info  main:"));
}

static CU_TestInfo tests[] = {
    {"help", test_help},
    {"version", test_version},
    {"bad_usage", test_bad_usage},
    {"bad_config_lists_every_error", test_bad_config_lists_every_error},
    {"missing_config_file", test_missing_config_file},
    {"check_config_shows_sources", test_check_config_shows_sources},
    {"default_config_of_the_build", test_default_config_of_the_build},
    {"keel_log_env", test_keel_log_env},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"runner", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
