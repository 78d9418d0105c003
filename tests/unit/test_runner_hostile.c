// keel-test-labels: plugin
// keel-test-depends: renderer_null script_lua script_js keel_test_plugins
// keel-test-timeout: 600
/* `keel` against games and runtimes that try to hang it (issues 11 and 14):
 * init() that floods the command queue, runtimes stuck in native code in
 * each step, a shutdown() that never ends, a built-in call no budget can
 * stop, SIGINT during init and during a long tick, a second SIGINT, and
 * files that are not files. The process must always end, say what was
 * running, and exit with the documented code. No assertion is about time:
 * the ctest timeout catches a hang. */
#include <keel_test.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../plugins/test_plugin_abi.h"

static char out[1 << 18];

/* keel with the build's config, the null renderer, unthrottled, plus args. */
static int keel(const char *args) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "%s --set engine.target_fps=0 --set renderer.backend=null --set engine.stats_interval_s=0 %s",
           KEEL_TEST_KEEL_EXE, args);
  return kt_run(cmd, out, sizeof out);
}

/* Runs keel in the background, sends it SIGINT once its output shows
 * `mark`, and a second one once it shows `mark2` (NULL: no second signal);
 * returns its exit status, its output in out. */
static int keel_interrupted(const char *env, const char *args, const char *mark, const char *mark2) {
  const char *log = kt_write_temp("interrupted.log", "");
  char cmd[8192];
  int n = snprintf(cmd, sizeof cmd,
                   "%s %s --set engine.target_fps=60 --set renderer.backend=null --set engine.stats_interval_s=0 %s "
                   "> %s 2>&1 & pid=$!; n=0; until grep -q '%s' %s || [ $n -ge 1200 ]; do sleep 0.05; n=$((n+1)); "
                   "done; kill -INT $pid; ",
                   env ? env : "", KEEL_TEST_KEEL_EXE, args, log, mark, log);
  if (mark2)
    n += snprintf(cmd + n, sizeof cmd - (size_t)n,
                  "n=0; until grep -q '%s' %s || [ $n -ge 1200 ]; do sleep 0.05; n=$((n+1)); done; kill -INT $pid; ",
                  mark2, log);
  snprintf(cmd + n, sizeof cmd - (size_t)n, "wait $pid; rc=$?; cat %s; exit $rc", log);
  return kt_run(cmd, out, sizeof out);
}

static const char *game(const char *name, const char *text) { return kt_write_temp(name, text); }

static unsigned long long json_field(const char *json, const char *name) {
  const char *p = json ? strstr(json, name) : NULL;
  return p ? strtoull(p + strlen(name), NULL, 10) : 0;
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

/* Runs the game `stem`.lua, then `stem`.js, for 5 frames with a load budget
 * that a busy machine cannot exceed; each must exit 0 and print `expect`. */
static void run_lua_and_js(const char *stem, const char *lua, const char *js, const char *expect) {
  for (int is_js = 0; is_js <= 1; is_js++) {
    char name[64], args[1024];
    snprintf(name, sizeof name, "%s.%s", stem, is_js ? "js" : "lua");
    snprintf(args, sizeof args,
             "--frames 5 --set script.runtime=%s --set script.main=%s --set script.load_budget_ms=600000",
             is_js ? "js" : "lua", game(name, is_js ? js : lua));
    CU_ASSERT_EQUAL(keel(args), 0);
    KT_ASSERT_CONTAINS(out, expect);
  }
}

/* ---- init() that sends more commands than the queue holds ---- */

/* The queue refuses at the script's line when it is full (back-pressure);
 * the main thread drains it while init() runs, so a game that retries gets
 * every entity, and nothing hangs. */
static void test_init_floods_command_queue(void) {
  run_lua_and_js("flood",
                 "function init()\n"
                 "  local n = 0\n"
                 "  while n < 40000 do if pcall(entity.create, {}) then n = n + 1 end end\n"
                 "end\n",
                 "function init() {\n"
                 "  for (var n = 0; n < 40000;) { try { entity.create({}); n++; } catch (e) {} }\n"
                 "}\n",
                 "keel: 40000 entities; 40000 commands from the script (0 failed, ");
}

/* ---- a third-party runtime stuck in native code in each step ---- */

/* The test runtimes run ".none" files. */
static const char *none_game(void) { return game("game.none", "nothing\n"); }

static int hang_in(const char *step, const char *extra) {
  char args[2048];
  snprintf(args, sizeof args,
           "--plugin-path %s/test-plugins --set script.runtime=hang --set script.main=%s --set script.tick_budget_ms=1 "
           "--set script.load_budget_ms=1 --set script.shutdown_timeout_ms=100 %s",
           KEEL_TEST_BINARY_DIR, none_game(), extra);
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "%s=%s %s --set engine.target_fps=60 --set renderer.backend=null %s", TP_HANG_ENV, step,
           KEEL_TEST_KEEL_EXE, args);
  return kt_run(cmd, out, sizeof out);
}

static void test_runtime_stuck_in_create(void) {
  CU_ASSERT_EQUAL(hang_in("create", "--frames 5"), 1);
  KT_ASSERT_CONTAINS(out, "creating the runtime did not return within ");
  KT_ASSERT_CONTAINS(out, "stuck in native code");
}

static void test_runtime_stuck_in_init(void) {
  CU_ASSERT_EQUAL(hang_in("init", "--frames 5"), 1);
  KT_ASSERT_CONTAINS(out, "interrupting it");
  KT_ASSERT_CONTAINS(out, "keel: script runtime 'hang': the script worker is stuck in init()");
  CU_ASSERT_PTR_NULL(strstr(out, "keel: 5 frames")); /* not one frame ran */
}

static void test_runtime_stuck_in_tick(void) {
  /* Outside lockstep the frames go on; the stop gives the worker up. */
  CU_ASSERT_EQUAL(hang_in("tick", "--frames 150"), 1);
  KT_ASSERT_CONTAINS(out, "script tick 0 has run for ");
  KT_ASSERT_CONTAINS(out, "frames go on with the last published state");
  KT_ASSERT_CONTAINS(out, "keel: 150 frames in ");
  KT_ASSERT_CONTAINS(out, "the script worker thread did not stop: it has been in tick 0 (its events and update(dt)) for ");
  /* In lockstep the main thread waits for each tick: bounded too. */
  CU_ASSERT_EQUAL(hang_in("tick", "--frames 5 --lockstep"), 1);
  KT_ASSERT_CONTAINS(out, "keel: script runtime 'hang': the script worker is stuck in tick 0");
}

static void test_runtime_stuck_in_shutdown(void) {
  CU_ASSERT_EQUAL(hang_in("shutdown", "--frames 5"), 1);
  KT_ASSERT_CONTAINS(out, "keel: 5 frames in "); /* the summary is still printed */
  KT_ASSERT_CONTAINS(out, "the script worker thread did not stop: it has been in shutdown() for ");
  CU_ASSERT_EQUAL(hang_in("destroy", "--frames 5"), 1);
  KT_ASSERT_CONTAINS(out, "it has been in destroying the runtime for ");
}

/* create returning KEEL_OK without an object is refused, never used. */
static void test_runtime_create_null(void) {
  char args[1024];
  snprintf(args, sizeof args, "--frames 5 --plugin-path %s/test-plugins --set script.runtime=create_null --set script.main=%s",
           KEEL_TEST_BINARY_DIR, none_game());
  CU_ASSERT_EQUAL(keel(args), 3);
  KT_ASSERT_CONTAINS(out, "no script runtime could be started: create_null: create returned KEEL_OK without a "
                          "runtime object (a plugin bug)");
}

/* ---- games that never give the worker back ---- */

/* A built-in call runs to its end whatever the budget (hooks do not run in
 * C): the run still ends, says what was running, and exits 1. */
static void test_builtin_that_never_returns(void) {
  const char *lua = game("backtrack.lua",
                         "function update() log.info('tick started'); ('a'):rep(20000):find('.-.-.-.-x') end\n");
  char args[1024];
  snprintf(args, sizeof args, "--frames 30 --set script.main=%s --set script.tick_budget_ms=1", lua);
  CU_ASSERT_EQUAL(keel(args), 1);
  KT_ASSERT_CONTAINS(out, "keel: 30 frames in ");
  KT_ASSERT_CONTAINS(out, "the script worker thread did not stop: it has been in tick 0");
}

/* A shutdown() that loops forever is interrupted at shutdown_timeout_ms; its
 * error is in the summary and the stats. */
static void test_shutdown_loops_forever(void) {
  const char *lua = game("endless_shutdown.lua", "function shutdown() while true do end end\n");
  const char *json = kt_write_temp("shutdown.json", "");
  char args[1024];
  snprintf(args, sizeof args,
           "--frames 5 --set script.main=%s --set script.shutdown_timeout_ms=200 --set script.tick_budget_ms=10000 "
           "--stats-json %s",
           lua, json);
  CU_ASSERT_EQUAL(keel(args), 0);
  KT_ASSERT_CONTAINS(out, "shutdown(): endless_shutdown.lua:1: ");
  KT_ASSERT_CONTAINS(out, "1 script errors (shutdown() failed)");
  CU_ASSERT_EQUAL(json_field(slurp(json), "\"shutdown_errors\": "), 1);
  const char *js = game("endless_shutdown.js", "function shutdown() { for (;;) {} }\n");
  snprintf(args, sizeof args,
           "--frames 5 --set script.runtime=js --set script.main=%s --set script.shutdown_timeout_ms=200 "
           "--set script.tick_budget_ms=10000 --stats-json %s",
           js, json);
  CU_ASSERT_EQUAL(keel(args), 0);
  KT_ASSERT_CONTAINS(out, "shutdown(): endless_shutdown.js:1: ");
  CU_ASSERT_EQUAL(json_field(slurp(json), "\"shutdown_errors\": "), 1);
}

/* ---- signals ---- */

static void test_sigint_during_init(void) {
  const char *lua = game("slow_init.lua", "function init() log.info('init running'); while true do end end\n");
  char args[1024];
  snprintf(args, sizeof args, "--headless --frames 0 --set script.main=%s --set script.load_budget_ms=600000",
           lua);
  CU_ASSERT_EQUAL(keel_interrupted(NULL, args, "init running", NULL), 0);
  KT_ASSERT_CONTAINS(out, "quit requested during init()");
  KT_ASSERT_CONTAINS(out, "keel: 0 frames in ");
}

static void test_sigint_during_long_tick(void) {
  const char *js = game("slow_tick.js", "function update() { log.info('tick running'); for (;;) {} }\n");
  char args[1024];
  snprintf(args, sizeof args,
           "--headless --frames 0 --set script.runtime=js --set script.main=%s "
           "--set script.tick_budget_ms=10000",
           js);
  CU_ASSERT_EQUAL(keel_interrupted(NULL, args, "tick running", NULL), 0);
  KT_ASSERT_CONTAINS(out, "quit requested after ");
  KT_ASSERT_CONTAINS(out, "update(dt): slow_tick.js:1: interrupted");
  KT_ASSERT_CONTAINS(out, "keel: world hash ");
}

/* The first SIGINT asks for a clean stop, which waits for a shutdown() stuck
 * in native code; the second ends the process at once. */
static void test_second_sigint_exits_at_once(void) {
  char env[128], args[1024];
  snprintf(env, sizeof env, "%s=shutdown", TP_HANG_ENV);
  snprintf(args, sizeof args,
           "--headless --frames 0 --plugin-path %s/test-plugins --set script.runtime=hang --set script.main=%s "
           "--set script.shutdown_timeout_ms=600000",
           KEEL_TEST_BINARY_DIR, none_game());
  CU_ASSERT_EQUAL(keel_interrupted(env, args, "script runtime: hang", "blocking in shutdown"), 130);
  KT_ASSERT_CONTAINS(out, "test plugin hang: blocking in shutdown");
  KT_ASSERT_CONTAINS(out, "keel: second signal: exiting at once");
}

/* ---- many caught errors ---- */

/* A game may catch errors by the thousand (a retry loop against a full
 * queue does). Each error leaves keel's C functions through longjmp; in TSan
 * builds that once overflowed TSan's shadow stack after ~22,000 errors and
 * the run hung (core/sanitizer/tsan_longjmp.c). */
static void test_many_caught_errors(void) {
  run_lua_and_js("many_errors",
                 "function init()\n"
                 "  local n = 0\n"
                 "  for i = 1, 30000 do if not pcall(entity.destroy, {}) then n = n + 1 end end\n"
                 "  log.info('caught ' .. n .. ' errors')\n"
                 "end\n",
                 "function init() {\n"
                 "  var n = 0;\n"
                 "  for (var i = 0; i < 30000; i++) { try { entity.destroy({}); } catch (e) { n++; } }\n"
                 "  log.info('caught ' + n + ' errors');\n"
                 "}\n",
                 "caught 30000 errors");
}

/* ---- nothing lost ---- */

/* More creation callbacks than any queue holds: every one runs, later ticks
 * taking the rest; the bound on pending callbacks refuses at the script's
 * line (the game retries) instead of dropping events. */
static void test_callbacks_never_dropped(void) {
  const char *lua = game("callbacks.lua",
                         "local made, done = 0, 0\n"
                         "local function cb(id, err) done = done + 1; entity.destroy(id) end\n"
                         "local function more()\n"
                         "  while made < 70000 do\n"
                         "    if not pcall(entity.create, {}, cb) then return end\n"
                         "    made = made + 1\n"
                         "  end\n"
                         "end\n"
                         "function init() more() end\n"
                         "function update() more(); if done == 70000 then log.info('all 70000 callbacks ran'); done = 0 end end\n");
  char args[1024];
  snprintf(args, sizeof args, "--frames 120 --lockstep --set script.main=%s --set script.load_budget_ms=60000 "
           "--set script.tick_budget_ms=10000", lua);
  CU_ASSERT_EQUAL(keel(args), 0);
  KT_ASSERT_CONTAINS(out, "all 70000 callbacks ran");
  CU_ASSERT_PTR_NULL(strstr(out, "dropped"));
  /* The bound, at the script's line: 65536 wait, the next is refused. */
  const char *bound = game("bound.lua",
                           "function init()\n"
                           "  local made = 0\n"
                           "  while made < 65536 do\n"
                           "    local ok, id = pcall(entity.create, {}, print)\n"
                           "    if ok then made = made + 1; while not pcall(entity.destroy, id) do end end\n"
                           "  end\n"
                           "  entity.create({}, print)\n"
                           "end\n");
  snprintf(args, sizeof args, "--frames 2 --set script.main=%s --set script.load_budget_ms=60000", bound);
  CU_ASSERT_EQUAL(keel(args), 0);
  KT_ASSERT_CONTAINS(out, "bound.lua:7: entity.create: too many pending callbacks (65536 wait for their completion)");
  KT_ASSERT_CONTAINS(out, "warn  main: callbacks queue ");
  KT_ASSERT_CONTAINS(out, "callbacks 65536/65536 (1)");
}

static unsigned count_of(const char *text, const char *needle) {
  unsigned n = 0;
  for (const char *p = text; (p = strstr(p, needle)) != NULL; p++) n++;
  return n;
}

/* A game that floods the command queue twice: it warns (at 80%, then only
 * after the queue was seen below half: unit_test_frame_stats checks that
 * rule), and far fewer times than frames and samples; the refusals and the
 * high-water mark are reported. The floods run in ticks at 4 frames a
 * second, so the main thread, which drains once a frame, cannot keep pace
 * with them however busy the machine is: each flood fills the queue and
 * gets its 100 refusals at once (in lockstep, or during init, the main
 * thread drains while it waits, and how soon a flood fills the queue is a
 * race). */
static void test_command_queue_alerts(void) {
  const char *lua = game("flood_commands.lua",
                         "local id\n"
                         "local function flood()\n"
                         "  local refused, p = 0, {position = {x = 1, y = 2, z = 3}}\n"
                         "  while refused < 100 do if not pcall(entity.update, id, p) then refused = refused + 1 end end\n"
                         "end\n"
                         "function init() id = entity.create({}) end\n"
                         "local ticks = 0\n"
                         "function update() ticks = ticks + 1; if ticks == 2 or ticks == 7 then flood() end end\n");
  const char *json = kt_write_temp("flood.json", "");
  char args[1024];
  snprintf(args, sizeof args, "--frames 12 --set engine.target_fps=4 --set script.main=%s "
           "--set script.tick_budget_ms=10000 --stats-json %s", lua, json);
  CU_ASSERT_EQUAL(keel(args), 0);
  unsigned warnings = count_of(out, "warn  main: commands queue ");
  CU_ASSERT(warnings >= 2 && warnings <= 40);
  KT_ASSERT_CONTAINS(out, "refused at the script's line ('command queue full')");
  const char *j = slurp(json);
  KT_ASSERT_CONTAINS(j, "\"queues\": {\"commands\": {\"capacity\": 16384, \"high_water\": ");
  CU_ASSERT_EQUAL(json_field(j, "\"refused\": "), 200);
  CU_ASSERT(json_field(j, "\"high_water\": ") >= 16384 * 4 / 5);
}

/* Creates the main thread refuses (an unknown mesh) give their ids back:
 * 80,000 of them, more than the entity table holds, and a create after
 * them still gets an id. */
static void test_refused_creates_do_not_use_up_ids(void) {
  const char *lua = game("teapots.lua",
                         "local ticks = 0\n"
                         "function update()\n"
                         "  ticks = ticks + 1\n"
                         "  if ticks <= 20 then for i = 1, 4000 do entity.create({mesh = 'teapot'}) end return end\n"
                         "  if ticks == 22 then entity.create({}) end\n"
                         "  if ticks == 24 then log.info('entities after the teapots:', entity.count()) end\n"
                         "end\n");
  const char *json = kt_write_temp("teapots.json", "");
  char args[1024];
  snprintf(args, sizeof args, "--frames 26 --lockstep --set script.main=%s --set script.tick_budget_ms=10000 "
           "--stats-json %s", lua, json);
  CU_ASSERT_EQUAL(keel(args), 0); /* 80,000 error lines: out keeps only the first of them */
  KT_ASSERT_CONTAINS(slurp(json), "\"world\": {\"entities\": 1,");
  CU_ASSERT_EQUAL(json_field(slurp(json), "\"tick_errors\": "), 0); /* no "no free entity id" */
}

/* ---- one-off scripts ---- */

/* --exec runs after init() (it sees init's entities), and more one-offs than
 * can wait are refused at submission, never dropped after running. */
static void test_exec_after_init_and_never_dropped(void) {
  const char *lua = game("exec_game.lua",
                         "function init() for i = 1, 5 do entity.create({}) end\n"
                         "  local t = os.clock(); while os.clock() - t < 0.3 do end end\n");
  static char args[8192];
  int n = snprintf(args, sizeof args, "--frames 20 --set script.main=%s --set script.load_budget_ms=60000 "
                   "--exec 'return entity.count()'", lua);
  for (int i = 0; i < 299; i++) n += snprintf(args + n, sizeof args - (size_t)n, " -e 'return 1'");
  CU_ASSERT_EQUAL(keel(args), 0);
  KT_ASSERT_CONTAINS(out, "[exec 1] 5\n");
  unsigned printed = 0, refused = 0;
  for (const char *p = out; (p = strstr(p, "[exec ")) != NULL; p++) printed++;
  for (const char *p = out; (p = strstr(p, "one-off scripts are still running or waiting to be printed")) != NULL; p++)
    refused++;
  CU_ASSERT_PTR_NULL(strstr(out, "dropped"));
  CU_ASSERT_EQUAL(printed + refused, 300);
  CU_ASSERT(refused > 0);
  KT_ASSERT_CONTAINS(out, "warn  main: one-off results queue ");
  KT_ASSERT_CONTAINS(out, "one-off results 64/64 (");
}

/* ---- renderers that fail ---- */

/* A lost device ends the run at once, naming the call; a renderer whose
 * every frame fails ends it after 60 such frames in a row: never a silent
 * run to exit 0. */
static void test_renderer_failures_end_the_run(void) {
  char args[1024];
  snprintf(args, sizeof args, "--frames 1000 --plugin-path %s/test-plugins --set script.runtime=native --set "
           "renderer.backend=device_lost --set renderer.fallback=null", KEEL_TEST_BINARY_DIR);
  CU_ASSERT_EQUAL(keel(args), 1);
  KT_ASSERT_CONTAINS(out, "keel: renderer device_lost: present returned KEEL_ERR_DEVICE_LOST: the graphics device is gone; stopping");
  KT_ASSERT_CONTAINS(out, "keel: 2 frames in ");
  snprintf(args, sizeof args, "--frames 1000 --plugin-path %s/test-plugins --set script.runtime=native --set "
           "renderer.backend=failing --set renderer.fallback=null", KEEL_TEST_BINARY_DIR);
  CU_ASSERT_EQUAL(keel(args), 1);
  KT_ASSERT_CONTAINS(out, "error main: renderer failing: begin_frame failed (KEEL_ERR_BACKEND); frames go on");
  KT_ASSERT_CONTAINS(out, "keel: renderer failing: begin_frame failed (KEEL_ERR_BACKEND) in 60 frames in a row; stopping");
  KT_ASSERT_CONTAINS(out, "keel: 59 frames in ");
}

/* ---- files that are not files ---- */

static void test_config_and_main_not_regular_files(void) {
  const char *fifo = kt_write_temp("fifo-placeholder", "");
  unlink(fifo);
  CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0600), 0);
  char args[1024];
  snprintf(args, sizeof args, "--frames 2 --config %s", fifo);
  CU_ASSERT_EQUAL(keel(args), 2);
  KT_ASSERT_CONTAINS(out, "is a FIFO, not a regular file");
  snprintf(args, sizeof args, "--frames 2 --set script.main=%s", fifo);
  CU_ASSERT_EQUAL(keel(args), 2);
  KT_ASSERT_CONTAINS(out, "script.main: ");
  KT_ASSERT_CONTAINS(out, "is a FIFO, not a regular file");
  CU_ASSERT_EQUAL(keel("--frames 2 --set script.main=/dev/zero"), 2);
  KT_ASSERT_CONTAINS(out, "/dev/zero is a character device, not a regular file");
  CU_ASSERT_EQUAL(keel("--frames 2 --set script.runtime=js --set script.main=/dev/zero"), 2);
  KT_ASSERT_CONTAINS(out, "/dev/zero is a character device, not a regular file");
  /* A stats file on a FIFO nobody reads is refused, not waited on. */
  snprintf(args, sizeof args, "--frames 2 --set script.runtime=native --stats-json %s", fifo);
  CU_ASSERT_EQUAL(keel(args), 1);
  KT_ASSERT_CONTAINS(out, "is a FIFO no process reads; not written");
  unlink(fifo);
}

/* Every other file named on the command line: a FIFO nobody writes or
 * reads, a device, a directory. Each is refused with its path and why, none
 * is waited on (the ctest timeout would catch a hang). */
static void test_other_files_not_regular(void) {
  const char *fifo = kt_write_temp("fifo2-placeholder", "");
  unlink(fifo);
  CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0600), 0);
  char args[1024], want[1024];
  static const char *const outputs[] = {"--trace", "--screenshot", "--record-input"};
  for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++) {
    snprintf(args, sizeof args, "--frames 2 --set script.runtime=native %s %s", outputs[i], fifo);
    int status = keel(args);
    /* --record-input opens its file before the run: a usage error. */
    CU_ASSERT_EQUAL(status, strcmp(outputs[i], "--record-input") == 0 ? 2 : 1);
    snprintf(want, sizeof want, "%s: is a FIFO no process reads; not written", fifo);
    KT_ASSERT_CONTAINS(out, want);
  }
  snprintf(args, sizeof args, "--frames 2 --set script.runtime=native --replay-input %s", fifo);
  CU_ASSERT_EQUAL(keel(args), 2);
  snprintf(want, sizeof want, "keel: --replay-input %s: cannot read the input recording: is a FIFO, not a regular file",
           fifo);
  KT_ASSERT_CONTAINS(out, want);
  unlink(fifo);
  /* /dev/zero never ends: it was read until memory ran out. */
  CU_ASSERT_EQUAL(keel("--frames 2 --set script.runtime=native --replay-input /dev/zero"), 2);
  KT_ASSERT_CONTAINS(out, "keel: --replay-input /dev/zero: cannot read the input recording: is a character device, "
                          "not a regular file");
  CU_ASSERT_EQUAL(keel("--frames 2 --set script.runtime=native --replay-input /"), 2);
  KT_ASSERT_CONTAINS(out, "keel: --replay-input /: cannot read the input recording: is a directory, not a regular file");
}

static CU_TestInfo tests[] = {
    {"init() floods the command queue", test_init_floods_command_queue},
    {"runtime stuck in create", test_runtime_stuck_in_create},
    {"runtime stuck in init", test_runtime_stuck_in_init},
    {"runtime stuck in a tick", test_runtime_stuck_in_tick},
    {"runtime stuck in shutdown and destroy", test_runtime_stuck_in_shutdown},
    {"runtime create returns no object", test_runtime_create_null},
    {"a built-in call that never returns", test_builtin_that_never_returns},
    {"shutdown() that loops forever", test_shutdown_loops_forever},
    {"SIGINT during init", test_sigint_during_init},
    {"SIGINT during a long tick", test_sigint_during_long_tick},
    {"a second SIGINT exits at once", test_second_sigint_exits_at_once},
    {"config and main that are not regular files", test_config_and_main_not_regular_files},
    {"outputs, recordings and replays that are not regular files", test_other_files_not_regular},
    {"--exec after init, never dropped", test_exec_after_init_and_never_dropped},
    {"30,000 caught script errors", test_many_caught_errors},
    {"renderer failures end the run", test_renderer_failures_end_the_run},
    {"70,000 creation callbacks, none dropped", test_callbacks_never_dropped},
    {"refused creates do not use up ids", test_refused_creates_do_not_use_up_ids},
    {"command queue alerts", test_command_queue_alerts},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"runner against hostile games and runtimes", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
