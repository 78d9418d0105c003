// keel-test-labels: plugin
// keel-test-depends: renderer_null script_lua script_js
/* `keel` without a display: headless = false is exit 3 with the reason,
 * auto says in one line why it runs headless; --replay-input refuses bad
 * files with exit 2 and feeds a good one to a Lua or a JS game headless,
 * which then ends where the recording ends, with one world hash in both
 * languages and on every run. */
#include <keel_test.h>

#include "platform/input.h"
#include "platform/input_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char out[1 << 17];

#define GAME KEEL_TEST_SOURCE_DIR "/tests/scripts/input_game"

/* keel with no display at all, unthrottled, on the null renderer. */
static int keel(const char *args) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd,
           "env -u DISPLAY -u WAYLAND_DISPLAY %s --set engine.target_fps=0 --set renderer.backend=null "
           "--set engine.stats_interval_s=0 %s",
           KEEL_TEST_KEEL_EXE, args);
  return kt_run(cmd, out, sizeof out);
}

static const char *hash_in(const char *text) {
  static char hash[32];
  const char *h = strstr(text, "keel: world hash ");
  snprintf(hash, sizeof hash, "%.16s", h ? h + strlen("keel: world hash ") : "(none)");
  return hash;
}

static void test_headless_false_without_display_exits_3(void) {
  CU_ASSERT_EQUAL(keel("--frames 3 --set script.runtime=native --set engine.headless=false"), 3);
  KT_ASSERT_CONTAINS(out, "keel: cannot open a window: X11: The DISPLAY environment variable is missing");
  KT_ASSERT_CONTAINS(out, "(engine.headless = false, from command line (--set)); set engine.headless to auto or true");
  CU_ASSERT_PTR_NULL(strstr(out, "frames in"));
}

static void test_auto_without_display_runs_headless(void) {
  CU_ASSERT_EQUAL(keel("--set script.runtime=native"), 0);
  KT_ASSERT_CONTAINS(out, "info  main: no window (");
  KT_ASSERT_CONTAINS(out, "): running headless");
  KT_ASSERT_CONTAINS(out, "keel: 300 frames in "); /* the headless cap */
  const char *first = strstr(out, "no window (");
  CU_ASSERT_PTR_NULL(first ? strstr(first + 1, "no window (") : NULL); /* said once */
}

static void test_bad_recordings_exit_2(void) {
  char args[2048];
  const char *text = kt_write_temp("notes.txt", "this is not a recording\n");
  snprintf(args, sizeof args, "--frames 3 --set script.runtime=native --replay-input %s", text);
  CU_ASSERT_EQUAL(keel(args), 2);
  KT_ASSERT_CONTAINS(out, "keel: --replay-input ");
  KT_ASSERT_CONTAINS(out, "notes.txt: not a keel input recording");
  CU_ASSERT_PTR_NULL(strstr(out, "frames in"));

  const char *cut = kt_write_temp("cut.keelinput", "KEELINPT\x01");
  snprintf(args, sizeof args, "--frames 3 --set script.runtime=native --replay-input %s", cut);
  CU_ASSERT_EQUAL(keel(args), 2);
  KT_ASSERT_CONTAINS(out, "cut.keelinput: truncated: ");

  CU_ASSERT_EQUAL(keel("--frames 3 --set script.runtime=native --replay-input /nonexistent/x.keelinput"), 2);
  KT_ASSERT_CONTAINS(out, "/nonexistent/x.keelinput: cannot read the input recording");
  CU_ASSERT_EQUAL(keel("--frames 3 --set script.runtime=native --record-input /nonexistent/x.keelinput"), 2);
  KT_ASSERT_CONTAINS(out, "keel: --record-input /nonexistent/x.keelinput: cannot write the input recording");
}

/* A session written frame by frame as the window would give it: a box
 * dropped at the cursor, moved with the arrows, painted with a click and
 * lifted with the wheel; a tap of "a" inside one frame. */
static const char *write_session(void) {
  static char path[512];
  snprintf(path, sizeof path, "%s", kt_write_temp("session.keelinput", ""));
  kc_input_recorder *rec = NULL;
  kc_err err;
  CU_ASSERT_EQUAL_FATAL(kc_input_recorder_open(path, &rec, &err), KEEL_OK);
  kc_input in;
  kc_input_init(&in, true, 800, 600);
  for (uint64_t f = 0; f < 90; f++) {
    if (f == 5) kc_input_mouse(&in, 200, 300);
    if (f == 8) kc_input_key(&in, KEEL_KEY_SPACE, true);
    if (f == 9) kc_input_key(&in, KEEL_KEY_SPACE, false);
    if (f == 20) kc_input_key(&in, KEEL_KEY_RIGHT, true);
    if (f == 35) kc_input_key(&in, KEEL_KEY_RIGHT, false);
    if (f == 40) kc_input_key(&in, KEEL_KEY_A, true), kc_input_key(&in, KEEL_KEY_A, false);
    if (f == 50) kc_input_mouse(&in, 420, 100), kc_input_button(&in, KEEL_MOUSE_LEFT, true);
    if (f == 52) kc_input_button(&in, KEEL_MOUSE_LEFT, false);
    if (f == 60 || f == 61) kc_input_wheel(&in, 0, 1);
    if (f == 70) kc_input_key(&in, KEEL_KEY_SPACE, true);
    if (f == 71) kc_input_key(&in, KEEL_KEY_SPACE, false), kc_input_key(&in, KEEL_KEY_UP, true);
    keel_input_state s;
    kc_input_end_frame(&in, &s);
    CU_ASSERT_EQUAL(kc_input_recorder_write(rec, f, &s, &err), KEEL_OK);
  }
  CU_ASSERT_EQUAL(kc_input_recorder_close(rec, &err), KEEL_OK);
  return path;
}

static void replay(const char *runtime, const char *session, const char *extra, char *hash_out) {
  char args[2048];
  snprintf(args, sizeof args, "--lockstep --set script.runtime=%s --set script.main=%s/main.%s --replay-input %s %s",
           runtime, GAME, runtime, session, extra);
  CU_ASSERT_EQUAL(keel(args), 0);
  snprintf(hash_out, 32, "%s", hash_in(out));
}

static void test_replay_headless_lockstep(void) {
  const char *session = write_session();
  char lua[32], lua_again[32], js[32], none[32];
  replay("lua", session, "", lua);
  KT_ASSERT_CONTAINS(out, "input replay finished after 90 frames");
  KT_ASSERT_CONTAINS(out, "keel: 90 frames in ");
  KT_ASSERT_CONTAINS(out, "seen: mouse 200 300");
  KT_ASSERT_CONTAINS(out, "seen: pressed a\n"); /* the tap: pressed and released in one tick, not held */
  KT_ASSERT_CONTAINS(out, "seen: released a");
  KT_ASSERT_CONTAINS(out, "seen: button down left");
  KT_ASSERT_CONTAINS(out, "seen: wheel 1");
  KT_ASSERT_CONTAINS(out, "keel: 2 entities");
  replay("lua", session, "", lua_again);
  replay("js", session, "", js);
  KT_ASSERT_CONTAINS(out, "seen: pressed up (held)");
  CU_ASSERT_EQUAL(strlen(lua), 16);
  CU_ASSERT_STRING_EQUAL(lua, lua_again);
  CU_ASSERT_STRING_EQUAL(lua, js);
  /* The input mattered: the same frames without it end elsewhere. */
  char args[1024];
  snprintf(args, sizeof args, "--lockstep --frames 90 --set script.runtime=lua --set script.main=%s/main.lua", GAME);
  CU_ASSERT_EQUAL(keel(args), 0);
  snprintf(none, sizeof none, "%s", hash_in(out));
  CU_ASSERT_STRING_NOT_EQUAL(none, lua);
  /* --frames still bounds a replay. */
  replay("lua", session, "--frames 30", lua_again);
  KT_ASSERT_CONTAINS(out, "keel: 30 frames in ");
}

/* A headless run records too (frames of no input), and replaying that
 * gives the run's hash back. */
static void test_record_headless_then_replay(void) {
  const char *rec = kt_write_temp("headless.keelinput", "");
  char args[2048], recorded[32], replayed[32];
  snprintf(args, sizeof args, "--lockstep --frames 40 --set script.runtime=lua --record-input %s", rec);
  CU_ASSERT_EQUAL(keel(args), 0);
  snprintf(recorded, sizeof recorded, "%s", hash_in(out));
  snprintf(args, sizeof args, "--lockstep --set script.runtime=lua --replay-input %s", rec);
  CU_ASSERT_EQUAL(keel(args), 0);
  snprintf(replayed, sizeof replayed, "%s", hash_in(out));
  KT_ASSERT_CONTAINS(out, "keel: 40 frames in ");
  CU_ASSERT_STRING_EQUAL(recorded, replayed);
}

/* The orbit sample, played from a recording: arrows and the wheel steer
 * the camera, a click on an entity paints it (one far from all paints
 * nothing), space pauses and resumes. Lua and JS play it identically. */
static void test_orbit_sample_plays(void) {
  const char *path = kt_write_temp("orbit.keelinput", "");
  kc_input_recorder *rec = NULL;
  kc_err err;
  CU_ASSERT_EQUAL_FATAL(kc_input_recorder_open(path, &rec, &err), KEEL_OK);
  kc_input in;
  kc_input_init(&in, true, 800, 600);
  for (uint64_t f = 0; f < 120; f++) {
    /* The entity of ring 0 at angle 0, (4, 0, 0), seen from the first
     * camera (0, 14, 26), 60 degrees, 800x600: x = 400 * (1 + 4 * sqrt(3) /
     * (4/3) / |eye|) = 470.4, y = 300. Ring 0 first moves at tick 5. */
    if (f == 2) kc_input_mouse(&in, 470, 300), kc_input_button(&in, KEEL_MOUSE_LEFT, true);
    if (f == 3) kc_input_button(&in, KEEL_MOUSE_LEFT, false), kc_input_mouse(&in, 5, 5);
    if (f == 4) kc_input_button(&in, KEEL_MOUSE_LEFT, true);
    if (f == 5) kc_input_button(&in, KEEL_MOUSE_LEFT, false);
    if (f == 10) kc_input_key(&in, KEEL_KEY_LEFT, true);
    if (f == 20) kc_input_key(&in, KEEL_KEY_LEFT, false), kc_input_key(&in, KEEL_KEY_UP, true);
    if (f == 25) kc_input_key(&in, KEEL_KEY_UP, false), kc_input_wheel(&in, 0, 2);
    if (f == 30 || f == 60) kc_input_key(&in, KEEL_KEY_SPACE, true);
    if (f == 31 || f == 61) kc_input_key(&in, KEEL_KEY_SPACE, false);
    keel_input_state s;
    kc_input_end_frame(&in, &s);
    CU_ASSERT_EQUAL(kc_input_recorder_write(rec, f, &s, &err), KEEL_OK);
  }
  CU_ASSERT_EQUAL(kc_input_recorder_close(rec, &err), KEEL_OK);
  char args[2048], lua[32], js[32], none[32];
  static char lua_out[1 << 17];
  for (int l = 0; l < 2; l++) {
    const char *rt = l ? "js" : "lua";
    snprintf(args, sizeof args,
             "--lockstep --set script.runtime=%s --set script.main=%s/samples/orbit/main.%s --replay-input %s", rt,
             KEEL_TEST_SOURCE_DIR, rt, path);
    CU_ASSERT_EQUAL(keel(args), 0);
    snprintf(l ? js : lua, 32, "%s", hash_in(out));
    KT_ASSERT_CONTAINS(out, "orbit: painted entity ");
    const char *painted = strstr(out, "orbit: painted entity ");
    CU_ASSERT_PTR_NULL(painted ? strstr(painted + 1, "orbit: painted entity ") : NULL); /* the far click: none */
    KT_ASSERT_CONTAINS(out, "orbit: sim_speed is now 0");
    KT_ASSERT_CONTAINS(out, "orbit: sim_speed is now 1");
    KT_ASSERT_CONTAINS(out, "orbit: done after 90 ticks"); /* paused for frames 30 to 59 */
    if (!l) snprintf(lua_out, sizeof lua_out, "%s", out);
  }
  /* The same entity painted in both languages. */
  const char *a = strstr(lua_out, "orbit: painted entity "), *b = strstr(out, "orbit: painted entity ");
  CU_ASSERT(a && b && strncmp(a, b, strcspn(a, "\n")) == 0);
  CU_ASSERT_STRING_EQUAL(lua, js);
  snprintf(args, sizeof args, "--lockstep --frames 120 --set script.runtime=lua --set script.main=%s/samples/orbit/main.lua",
           KEEL_TEST_SOURCE_DIR);
  CU_ASSERT_EQUAL(keel(args), 0);
  snprintf(none, sizeof none, "%s", hash_in(out));
  CU_ASSERT_STRING_NOT_EQUAL(none, lua);
}

static CU_TestInfo tests[] = {
    {"headless = false without a display exits 3", test_headless_false_without_display_exits_3},
    {"auto without a display runs headless and says why", test_auto_without_display_runs_headless},
    {"bad recordings exit 2", test_bad_recordings_exit_2},
    {"a replay headless in lockstep: one hash in Lua and JS", test_replay_headless_lockstep},
    {"record headless, replay, same hash", test_record_headless_then_replay},
    {"the orbit sample plays from a recording", test_orbit_sample_plays},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"runner_input", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
