// keel-test-labels: plugin
// keel-test-depends: renderer_null script_lua script_js keel_test_plugins
/* `keel` running the engine, as a user runs it: exit codes 0, 2 and 3, the
 * fallback chain and its messages, --list-plugins, the stats JSON, a clean
 * stop on SIGINT, and the same game in Lua and JavaScript reaching the same
 * world in lockstep. */
#include <keel_test.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char out[1 << 17];

/* Runs keel with the build's config, unthrottled, plus `args`. */
static int keel(const char *args) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "%s --set engine.target_fps=0 %s", KEEL_TEST_KEEL_EXE, args);
  return kt_run(cmd, out, sizeof out);
}

static char *slurp(const char *path) {
  static char buf[1 << 16];
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static void test_exit_0_runs_frames(void) {
  CU_ASSERT_EQUAL(keel("--frames 30 --set renderer.backend=null --set script.runtime=native"), 0);
  KT_ASSERT_CONTAINS(out, "keel: 30 frames in ");
  KT_ASSERT_CONTAINS(out, "renderer null, script native");
  KT_ASSERT_CONTAINS(out, "info  main: renderer: null ");
}

static void test_exit_2_bad_config(void) {
  CU_ASSERT_EQUAL(keel("--frames 3 --set renderer.width=3"), 2);
  KT_ASSERT_CONTAINS(out, "renderer.width");
  CU_ASSERT_PTR_NULL(strstr(out, "frames in"));
}

/* Renderers that exist on the path but cannot start: exit 3, each reason. */
static void test_exit_3_no_renderer_lists_attempts(void) {
  char args[1024];
  snprintf(args, sizeof args,
           "--frames 3 --plugin-path %s/test-plugins --set renderer.backend=create_fails --set "
           "renderer.fallback=abi_major",
           KEEL_TEST_BINARY_DIR);
  CU_ASSERT_EQUAL(keel(args), 3);
  KT_ASSERT_CONTAINS(out, "renderer 'create_fails': ");
  KT_ASSERT_CONTAINS(out, "create failed: no device here (test plugin create_fails)");
  KT_ASSERT_CONTAINS(out, "renderer 'abi_major': ");
  KT_ASSERT_CONTAINS(out, "keel: no renderer could be started; tried: create_fails (create failed), abi_major (ABI refused)");
}

static void test_exit_3_no_script_runtime(void) {
  char args[1024];
  snprintf(args, sizeof args, "--frames 3 --plugin-path %s/test-plugins --set renderer.backend=null --set script.runtime=abi_newer",
           KEEL_TEST_BINARY_DIR);
  CU_ASSERT_EQUAL(keel(args), 3);
  KT_ASSERT_CONTAINS(out, "script runtime 'abi_newer': ");
  KT_ASSERT_CONTAINS(out, "the minor must not be newer than the host's");
  KT_ASSERT_CONTAINS(out, "keel: no script runtime could be started: abi_newer (ABI refused)");
}

/* A name that no plugin on the path has, and keel does not ship, is a
 * configuration error before anything starts: exit 2, each with where it
 * was set, what exists, and the likely intended name. */
static void test_exit_2_plugin_names_that_do_not_exist(void) {
  CU_ASSERT_EQUAL(keel("--frames 3 --set renderer.backend=vulcan --set renderer.fallback=gl,nul --set script.runtime=luaa"),
                  2);
  KT_ASSERT_CONTAINS(out, "--set renderer.backend=vulcan: renderer.backend: no renderer plugin 'vulcan' "
                          "(keel_renderer_vulcan.so) on the plugin search path (renderers found: ");
  KT_ASSERT_CONTAINS(out, "did you mean 'vulkan'?)\n");
  KT_ASSERT_CONTAINS(out, "renderer.fallback: item 2: no renderer plugin 'nul' ");
  KT_ASSERT_CONTAINS(out, "did you mean 'null'?)\n");
  KT_ASSERT_CONTAINS(out, "--set script.runtime=luaa: script.runtime: no script plugin 'luaa' ");
  KT_ASSERT_CONTAINS(out, "(script runtimes found: js, lua; did you mean 'lua'?)\n");
  KT_ASSERT_CONTAINS(out, "keel: 3 configuration errors\n");
  CU_ASSERT_PTR_NULL(strstr(out, "job workers"));
  /* The same from a file names its line; --check-config finds it too. */
  const char *ini = kt_write_temp("typo.ini", "[renderer]\nbackend = nulll\nfallback = \n[script]\nruntime = native\n");
  char args[1024], want[1024];
  snprintf(args, sizeof args, "--check-config --config %s", ini);
  CU_ASSERT_EQUAL(keel(args), 2);
  snprintf(want, sizeof want, "%s:2: renderer.backend: no renderer plugin 'nulll' ", ini);
  KT_ASSERT_CONTAINS(out, want);
  KT_ASSERT_CONTAINS(out, "did you mean 'null'?)");
  /* A renderer keel ships but this build lacks is not a typo: a note, and the run skips it. */
  CU_ASSERT_EQUAL(keel("--check-config --set renderer.backend=vulkan --set renderer.fallback=null"), 0);
  KT_ASSERT_CONTAINS(out, "renderer.backend           = vulkan");
  FILE *vk = fopen(KEEL_TEST_PLUGIN_DIR "/keel_renderer_vulkan.so", "rb");
  if (vk) {
    fclose(vk); /* this build has it: nothing to note */
    CU_ASSERT_PTR_NULL(strstr(out, "# vulkan: keel_renderer_vulkan.so is not on the plugin search path"));
  } else {
    KT_ASSERT_CONTAINS(out, "    # vulkan: keel_renderer_vulkan.so is not on the plugin search path; the run will skip it\n");
  }
}

/* [script] main must be a file in the runtime's language; a relative path
 * starts at the current directory on the command line and at the file's
 * directory in engine.ini. */
static void test_exit_2_script_main(void) {
  char args[2048], want[2048];
  CU_ASSERT_EQUAL(keel("--frames 3 --set script.main=no/such/main.lua"), 2);
  KT_ASSERT_CONTAINS(out, "--set script.main=no/such/main.lua: script.main: ");
  KT_ASSERT_CONTAINS(out, "/no/such/main.lua does not exist; a relative path on the command line starts at the current "
                          "directory; set script.main to the game's entry script\n");
  /* In a file: relative to that file, so the file's own directory is in the message. */
  const char *ini = kt_write_temp("main_rel.ini", "[script]\nmain = game/main.lua\n");
  snprintf(args, sizeof args, "--frames 3 --config %s", ini);
  CU_ASSERT_EQUAL(keel(args), 2);
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", ini);
  *strrchr(dir, '/') = '\0';
  snprintf(want, sizeof want, "%s:2: script.main: %s/game/main.lua does not exist; a relative path in engine.ini starts at "
           "that file's directory", ini, dir);
  KT_ASSERT_CONTAINS(out, want);
  /* The runtime's extension, and the fix when the same game exists in its language. */
  snprintf(args, sizeof args, "--frames 3 --set script.runtime=js --set script.main=%s/samples/orbit/main.lua",
           KEEL_TEST_SOURCE_DIR);
  CU_ASSERT_EQUAL(keel(args), 2);
  snprintf(want, sizeof want, "script.main: %s/samples/orbit/main.lua is a '.lua' file, but script.runtime 'js' runs "
           "'.js' files; set script.main=%s/samples/orbit/main.js\n", KEEL_TEST_SOURCE_DIR, KEEL_TEST_SOURCE_DIR);
  KT_ASSERT_CONTAINS(out, want);
  /* The README's example, from the source tree: relative to the current directory. */
  snprintf(args, sizeof args, "cd %s && %s --frames 3 --set engine.target_fps=0 --set script.runtime=js "
           "--set script.main=samples/orbit/main.js", KEEL_TEST_SOURCE_DIR, KEEL_TEST_KEEL_EXE);
  CU_ASSERT_EQUAL(kt_run(args, out, sizeof out), 0);
  KT_ASSERT_CONTAINS(out, ", script js: "); /* on the default renderer chain's first that starts */
}

/* --check-config says what the run will really do where the value alone
 * does not: a headless run whose frames are not set stops after 300. */
static void test_check_config_shows_the_run(void) {
  CU_ASSERT_EQUAL(keel("--check-config --set script.runtime=native"), 0);
  KT_ASSERT_CONTAINS(out, "engine.frames              = 0                       [default]\n"
                          "    # this run: 300 frames (engine.frames is not set and the run is headless");
  KT_ASSERT_CONTAINS(out, "engine.headless            = auto                    [default]\n    # this run: headless (");
  CU_ASSERT_EQUAL(keel("--check-config --set engine.frames=0"), 0);
  CU_ASSERT_PTR_NULL(strstr(out, "# this run: 300 frames"));
}

/* Each candidate that fails says why in one line, in order, and the next
 * one is tried; the backend finally chosen is logged plainly. */
static void test_fallback_order_and_reasons(void) {
  char args[2048];
  snprintf(args, sizeof args,
           "--frames 3 --set script.runtime=native --plugin-path %s/test-plugins --set renderer.backend=broken "
           "--set 'renderer.fallback=abi_major, create_fails, kind_wrong, null'",
           KEEL_TEST_BINARY_DIR);
  CU_ASSERT_EQUAL(keel(args), 0);
  const char *order[] = {"renderer 'broken': ", "keel_renderer_broken.so: not loadable: ",
                         "renderer 'abi_major': ", "ABI refused: plugin ABI 2.", "host ABI 1.1: the major must match",
                         "renderer 'create_fails': ", "create failed: no device here (test plugin create_fails)",
                         "renderer 'kind_wrong': ", "wrong kind: the manifest says script, expected renderer",
                         "info  main: renderer: null "};
  const char *at = out;
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    const char *hit = strstr(at, order[i]);
    if (!hit) fprintf(stderr, "\nmissing or out of order: %s\n%s\n", order[i], out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(hit);
    at = hit;
  }
}

/* A renderer's create sees the game's directory and its own, both absolute
 * and clean even through a relative --plugin-path, and its log lines are
 * prefixed with its name once. */
static void test_renderer_create_paths_and_log_prefix(void) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "cd %s && %s --frames 2 --set engine.target_fps=0 --set script.runtime=native --plugin-path ./test-plugins/ "
           "--set renderer.backend=paths --set renderer.fallback=null --set script.main=%s/samples/orbit/main.lua",
           KEEL_TEST_BINARY_DIR, KEEL_TEST_KEEL_EXE, KEEL_TEST_SOURCE_DIR);
  CU_ASSERT_EQUAL(kt_run(cmd, out, sizeof out), 0);
  char want[2048];
  snprintf(want, sizeof want, "[paths] game=%s/samples/orbit/main.lua (KEEL_OK) plugin=%s/test-plugins (KEEL_OK) config=",
           KEEL_TEST_SOURCE_DIR, KEEL_TEST_BINARY_DIR);
  KT_ASSERT_CONTAINS(out, want);
  KT_ASSERT_CONTAINS(out, "/a/b (KEEL_OK)");
  CU_ASSERT_PTR_NULL(strstr(out, "[paths] paths:"));
  KT_ASSERT_CONTAINS(out, "renderer: null ");
}

/* headless = false needs a window; without one the run says so and stops
 * at once with exit 3, instead of running with nothing to close. */
static void test_headless_false_without_window_exits_3(void) {
  CU_ASSERT_EQUAL(keel("--set engine.headless=false --set script.runtime=native"), 3);
  KT_ASSERT_CONTAINS(out, "keel: cannot open a window: ");
  KT_ASSERT_CONTAINS(out, "(engine.headless = false, from command line (--set)); set engine.headless to auto or true");
  CU_ASSERT_PTR_NULL(strstr(out, "frames in"));
}

/* The periodic statistics line follows the show_stats cvar. */
static void test_show_stats_cvar(void) {
  const char *args = "--frames 12 --set engine.target_fps=10 --set engine.stats_interval_s=0.3 "
                     "--set script.runtime=native";
  char with[512];
  snprintf(with, sizeof with, "%s", args);
  CU_ASSERT_EQUAL(keel(with), 0);
  KT_ASSERT_CONTAINS(out, "info  main: fps ");
  snprintf(with, sizeof with, "%s --set cvars.show_stats=false", args);
  CU_ASSERT_EQUAL(keel(with), 0);
  CU_ASSERT_PTR_NULL(strstr(out, "info  main: fps "));
  KT_ASSERT_CONTAINS(out, "keel: 12 frames in ");
}

static void test_list_plugins(void) {
  char args[1024];
  snprintf(args, sizeof args, "--list-plugins --plugin-path %s/test-plugins", KEEL_TEST_BINARY_DIR);
  CU_ASSERT_EQUAL(keel(args), 0);
  KT_ASSERT_CONTAINS(out, "plugin search path:\n  1. ");
  KT_ASSERT_CONTAINS(out, "null         renderer  ");
  KT_ASSERT_CONTAINS(out, "lua          script    ");
  KT_ASSERT_CONTAINS(out, "js           script    ");
  KT_ASSERT_CONTAINS(out, "abi_newer    renderer  ");
  KT_ASSERT_CONTAINS(out, "the minor must not be newer than the host's");
  KT_ASSERT_CONTAINS(out, "keel_renderer_broken.so");
  KT_ASSERT_CONTAINS(out, "not loadable");
  /* Listing initialises nothing: no renderer or runtime log lines. */
  CU_ASSERT_PTR_NULL(strstr(out, "info  main: renderer:"));
  CU_ASSERT_PTR_NULL(strstr(out, "script runtime:"));
}

static void test_stats_json_fields(void) {
  const char *path = kt_write_temp("stats.json", "");
  char args[1024];
  snprintf(args, sizeof args, "--frames 40 --set engine.threads=1 --set renderer.backend=null --set script.runtime=native --stats-json %s", path);
  CU_ASSERT_EQUAL_FATAL(keel(args), 0);
  char *json = slurp(path);
  CU_ASSERT_PTR_NOT_NULL_FATAL(json);
  const char *fields[] = {"\"frames\": 40,", "\"fps\": ", "\"frame_time_ms\": {\"p50\": ", "\"p99\": ",
                          "\"script\": {\"runtime\": \"native\"", "\"ticks\": ", "\"skips\": ",
                          "\"swap\": {\"swaps\": ", "\"records_copied\": ", "\"dirty_ratio_avg\": ",
                          "\"timeouts\": ", "\"commands\": {\"total\": ", "\"callbacks\": {\"posted\": ",
                          "\"errors\": {\"total\": 0,", "\"plugins\": {\"renderer\": \"null\"",
                          "\"world\": {\"entities\": 300, \"cameras\": 1, \"lights\": 1, \"hash\": \""};
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) KT_ASSERT_CONTAINS(json, fields[i]);
  /* The renderer's counters agree with the frame count. */
  KT_ASSERT_CONTAINS(json, "\"renderer\": {\"frames\": 40, \"passes\": 80, \"encoders\": 80,");
}

static void test_sigint_stops_cleanly(void) {
  char cmd[4096];
  /* No frame limit: only the signal ends this run. */
  snprintf(cmd, sizeof cmd,
           "{ %s --headless --frames 0 --set script.runtime=native & pid=$!; sleep 1; "
           "kill -INT $pid; wait $pid; }",
           KEEL_TEST_KEEL_EXE);
  CU_ASSERT_EQUAL(kt_run(cmd, out, sizeof out), 0);
  KT_ASSERT_CONTAINS(out, "quit requested after ");
  KT_ASSERT_CONTAINS(out, "keel: world hash ");
}

static const char *hash_of(const char *json) {
  static char hash[32];
  const char *h = json ? strstr(json, "\"hash\": \"") : NULL;
  if (!h) return "";
  snprintf(hash, sizeof hash, "%.16s", h + 9);
  return hash;
}

/* The sample in Lua and in JS, 600 lockstep ticks: one world. The budget is
 * raised because this test is about determinism, not the watchdog: under
 * TSan on a busy machine init()'s 300 creates can outlast the default 50 ms,
 * and an interrupted init is a different game. */
static void test_lua_js_parity_600_ticks(void) {
  char args[2048], lua_hash[32], js_hash[32];
  const char *lua_json = kt_write_temp("lua.json", ""), *js_json = kt_write_temp("js.json", "");
  snprintf(args, sizeof args, "--frames 600 --lockstep --set renderer.backend=null --set script.tick_budget_ms=10000 --stats-json %s", lua_json);
  CU_ASSERT_EQUAL_FATAL(keel(args), 0);
  snprintf(lua_hash, sizeof lua_hash, "%s", hash_of(slurp(lua_json)));
  KT_ASSERT_CONTAINS(slurp(lua_json), "\"ticks\": 600,");
  snprintf(args, sizeof args,
           "--frames 600 --lockstep --set renderer.backend=null --set script.tick_budget_ms=10000 --set script.runtime=js "
           "--set script.main=%s/samples/orbit/main.js --stats-json %s",
           KEEL_TEST_SOURCE_DIR, js_json);
  CU_ASSERT_EQUAL_FATAL(keel(args), 0);
  snprintf(js_hash, sizeof js_hash, "%s", hash_of(slurp(js_json)));
  KT_ASSERT_CONTAINS(slurp(js_json), "\"ticks\": 600,");
  KT_ASSERT_CONTAINS(slurp(js_json), "\"errors\": {\"total\": 0,");
  CU_ASSERT_EQUAL(strlen(lua_hash), 16);
  CU_ASSERT_STRING_EQUAL(lua_hash, js_hash);
  /* And the run is repeatable: the same hash again. */
  CU_ASSERT_EQUAL_FATAL(keel(args), 0);
  CU_ASSERT_STRING_EQUAL(hash_of(slurp(js_json)), js_hash);
}

/* Lockstep with sim_speed 2 at 30 ticks/s: dt is 2/30, and at the 25th tick
 * the game's time (1.667 s) is what engine.time(), Lua's os.clock, os.time
 * and os.date, and JS's Date.now and performance.now all say. */
static void test_lockstep_sim_speed_and_game_time(void) {
  const char *lua = kt_write_temp("clock.lua",
                                  "local n = 0\n"
                                  "function update(dt)\n"
                                  "  n = n + 1\n"
                                  "  if n == 25 then log.info(string.format('lua dt=%.4f t=%.3f clock=%.3f os=%d date=%s', "
                                  "dt, engine.time(), os.clock(), os.time(), os.date('%H:%M:%S'))) end\n"
                                  "end\n");
  const char *js = kt_write_temp("clock.js",
                                 "var n = 0;\n"
                                 "function update(dt) {\n"
                                 "  n++;\n"
                                 "  if (n === 25) log.info('js dt=' + dt.toFixed(4) + ' t=' + engine.time().toFixed(3) + "
                                 "' now=' + Date.now() + ' perf=' + Math.floor(performance.now()) + "
                                 "' date=' + new Date().toISOString());\n"
                                 "}\n");
  char args[2048];
  snprintf(args, sizeof args, "--frames 30 --lockstep --set renderer.backend=null --set script.tick_rate=30 "
           "--set cvars.sim_speed=2 --set script.tick_budget_ms=10000 --set script.main=%s", lua);
  CU_ASSERT_EQUAL(keel(args), 0);
  KT_ASSERT_CONTAINS(out, "lua dt=0.0667 t=1.667 clock=1.667 os=1 date=00:00:01");
  snprintf(args, sizeof args, "--frames 30 --lockstep --set renderer.backend=null --set script.tick_rate=30 "
           "--set cvars.sim_speed=2 --set script.tick_budget_ms=10000 --set script.runtime=js --set script.main=%s", js);
  CU_ASSERT_EQUAL(keel(args), 0);
  KT_ASSERT_CONTAINS(out, "js dt=0.0667 t=1.667 now=1666 perf=1666 date=1970-01-01T00:00:01.666Z");
}

/* One-off scripts run beside the game and report back through the main
 * thread; an error or a runaway loop in one does not stop the run. */
static void test_exec_one_off_scripts(void) {
  CU_ASSERT_EQUAL(keel("--frames 20 --set renderer.backend=null --exec 'return 6 * 7' "
                       "--exec 'error(\"boom\")' --exec 'while true do end' --exec 'return cvar.get(\"sim_speed\")'"),
                  0);
  KT_ASSERT_CONTAINS(out, "[exec 1] 42\n");
  KT_ASSERT_CONTAINS(out, "[exec 2] error: exec:1: boom");
  /* Reported once: the runtime returns the error, the engine prints it. */
  CU_ASSERT_PTR_NULL(strstr(strstr(out, "exec:1: boom") + 1, "exec:1: boom"));
  KT_ASSERT_CONTAINS(out, "[exec 3] error: exec:1: "); /* the instruction or the time budget stopped it */
  KT_ASSERT_CONTAINS(out, " budget of ");
  KT_ASSERT_CONTAINS(out, "[exec 4] 1");
  KT_ASSERT_CONTAINS(out, "keel: 20 frames in ");
  /* The native runtime has no VM for one-offs: said plainly. */
  CU_ASSERT_EQUAL(keel("--frames 2 --set renderer.backend=null --set script.runtime=native --exec 'x'"), 0);
  KT_ASSERT_CONTAINS(out, "keel: exec: the script runtime 'native' runs no one-off scripts");
}

static CU_TestInfo run_tests[] = {
    {"exit 0: runs the frames", test_exit_0_runs_frames},
    {"exit 2: bad configuration", test_exit_2_bad_config},
    {"exit 3: no renderer, every attempt listed", test_exit_3_no_renderer_lists_attempts},
    {"exit 3: no script runtime", test_exit_3_no_script_runtime},
    {"exit 2: plugin names that do not exist", test_exit_2_plugin_names_that_do_not_exist},
    {"exit 2: script.main missing or in another language", test_exit_2_script_main},
    {"--check-config shows the frames of the run", test_check_config_shows_the_run},
    {"fallback order and reasons", test_fallback_order_and_reasons},
    {"--list-plugins", test_list_plugins},
    {"a renderer's create: KEEL_PATH_GAME, KEEL_PATH_PLUGIN, one name prefix", test_renderer_create_paths_and_log_prefix},
    {"headless = false without a window: exit 3", test_headless_false_without_window_exits_3},
    {"show_stats", test_show_stats_cvar},
    {"--stats-json fields", test_stats_json_fields},
    {"SIGINT stops cleanly", test_sigint_stops_cleanly},
    {"Lua and JS reach one world in 600 lockstep ticks", test_lua_js_parity_600_ticks},
    {"lockstep: sim_speed scales dt; Lua and JS clocks give game time", test_lockstep_sim_speed_and_game_time},
    {"--exec one-off scripts", test_exec_one_off_scripts},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"runner", NULL, NULL, NULL, NULL, run_tests},
    CU_SUITE_INFO_NULL,
};
