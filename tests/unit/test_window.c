// keel-test-labels: window plugin
// keel-test-depends: renderer_null script_lua script_js
// keel-test-libs: keel_test_x11
// keel-test-timeout: 900
/* `keel` in a real window on a private Xvfb, driven by real X events
 * (xdotool): keys, buttons, cursor and wheel reach a Lua game and a JS game
 * identically; Escape, the window's close request and SIGTERM end the run
 * cleanly; a resize reaches the game and the renderer; a minimised window
 * keeps the game ticking without drawing; the title names the game and its
 * fps; a windowed session recorded in lockstep replays headless to the same
 * world hash, in Lua and in JS. Each step waits for the game to say it saw
 * the previous one, so nothing depends on timing. */
#include <keel_test.h>
#include <kt_x11.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GAME KEEL_TEST_SOURCE_DIR "/tests/scripts/input_game"
#define WAIT_S 60 /* bounds a failing wait; generous for sanitizer builds on a busy machine */

static kt_xvfb xvfb;

static int suite_init(void) { return kt_xvfb_start(&xvfb) ? 0 : 1; }
static int suite_clean(void) {
  kt_xvfb_stop(&xvfb);
  return 0;
}

static char log_text[1 << 18];

/* Starts the input game windowed on the null renderer. */
static void start_game(kt_proc *p, const char *runtime, const char *extra, const char *log_name) {
  /* The cursor starts outside the 640x480 window at 0,0: no motion until a test moves it. */
  kt_xdotool(NULL, 0, "mousemove 1000 900");
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "exec %s --set renderer.backend=null --set script.runtime=%s --set script.main=%s/main.%s "
           "--set renderer.width=640 --set renderer.height=480 --set engine.stats_interval_s=0 %s",
           KEEL_TEST_KEEL_EXE, runtime, GAME, runtime, extra);
  CU_ASSERT_FATAL(kt_proc_start(p, cmd, kt_write_temp(log_name, "")));
}

static unsigned long game_window(const char *runtime) {
  char name[64];
  snprintf(name, sizeof name, "input_game - keel (%s, null)", runtime);
  unsigned long w = kt_find_window(name, WAIT_S);
  CU_ASSERT_NOT_EQUAL_FATAL(w, 0);
  CU_ASSERT_EQUAL(kt_xdotool(NULL, 0, "windowfocus --sync %lu", w), 0);
  return w;
}

typedef struct step {
  const char *xdotool; /* %lu: the window */
  const char *ack;     /* what the run logs once it has seen it */
} step;

/* Sends each step and waits for its acknowledgement; returns the log offset. */
static long play(const kt_proc *p, unsigned long w, const step *steps, size_t n, long at) {
  for (size_t i = 0; i < n && at >= 0; i++) {
    CU_ASSERT_EQUAL(kt_xdotool(NULL, 0, steps[i].xdotool, w), 0);
    at = kt_wait_for_text(p->log_path, steps[i].ack, at, WAIT_S);
    if (at < 0) fprintf(stderr, "step %zu (%s) was not seen\n", i, steps[i].xdotool);
    CU_ASSERT_FATAL(at >= 0);
  }
  return at;
}

/* The "seen: ..." lines of a log, without their timestamps, one a line. */
static void seen_lines(const char *log, char *out, size_t cap) {
  size_t used = 0;
  out[0] = '\0';
  for (const char *at = strstr(log, "seen: "); at; at = strstr(at + 1, "seen: ")) {
    const char *end = strchr(at, '\n');
    size_t len = end ? (size_t)(end - at) : strlen(at);
    if (used + len + 2 >= cap) break;
    memcpy(out + used, at, len);
    used += len;
    out[used++] = '\n';
    out[used] = '\0';
  }
}

static const char *hash_in(const char *text) {
  static char hash[32];
  const char *h = strstr(text, "keel: world hash ");
  snprintf(hash, sizeof hash, "%.16s", h ? h + strlen("keel: world hash ") : "(none)");
  return hash;
}

static const step k_session[] = {
    {"keydown a", "seen: pressed a (held)"},
    {"keyup a", "seen: released a"},
    {"keydown shift", "seen: pressed shift (held)"},
    {"keydown b", "seen: pressed b (held)"},
    {"keyup b", "seen: released b"},
    {"keyup shift", "seen: released shift"},
    {"mousemove --window %lu 100 50", "seen: mouse 100 50"},
    {"keydown space", "seen: pressed space (held)"},
    {"keyup space", "seen: released space"},
    {"keydown Right", "seen: pressed right (held)"},
    {"keyup Right", "seen: released right"},
    {"keydown KP_Enter", "seen: pressed enter (held)"},
    {"keyup KP_Enter", "seen: released enter"},
    {"mousemove --window %lu 300 200", "seen: mouse 300 200"},
    {"mousedown 1", "seen: button down left"},
    {"mouseup 1", "seen: button up left"},
    {"mousedown 3", "seen: button down right"},
    {"mouseup 3", "seen: button up right"},
    {"click 4", "seen: wheel 1"},
    {"click 5", "seen: wheel -1"},
    {"keydown 1", "seen: pressed 1 (held)"},
    {"keyup 1", "seen: released 1"},
    {"key Escape", "quit: Escape was pressed"},
};
#define SESSION_STEPS (sizeof k_session / sizeof k_session[0])

/* Plays the session; returns the run's log in log_text. */
static void play_session(const char *runtime, const char *extra, const char *log_name) {
  kt_proc p;
  start_game(&p, runtime, extra, log_name);
  unsigned long w = game_window(runtime);
  play(&p, w, k_session, SESSION_STEPS, 0);
  CU_ASSERT_EQUAL(kt_proc_wait(&p, WAIT_S), 0);
  kt_read_log(p.log_path, log_text, sizeof log_text);
}

static void test_events_reach_lua_and_js_identically(void) {
  static char lua[1 << 14], js[1 << 14];
  play_session("lua", "", "lua.log");
  seen_lines(log_text, lua, sizeof lua);
  KT_ASSERT_CONTAINS(log_text, "keel: 1 entities");
  play_session("js", "", "js.log");
  seen_lines(log_text, js, sizeof js);
  KT_ASSERT_CONTAINS(log_text, "keel: 1 entities");
  if (strcmp(lua, js) != 0) fprintf(stderr, "\nLua saw:\n%s\nJS saw:\n%s\n", lua, js);
  CU_ASSERT_STRING_EQUAL(lua, js);
  /* Every step, in order, and nothing else but the screen size. */
  const char *at = lua;
  KT_ASSERT_CONTAINS(lua, "seen: screen 640 480\n");
  for (size_t i = 0; i + 1 < SESSION_STEPS; i++) {
    const char *hit = strstr(at, k_session[i].ack);
    if (!hit) fprintf(stderr, "\nmissing or out of order: %s\n", k_session[i].ack);
    CU_ASSERT_PTR_NOT_NULL_FATAL(hit);
    at = hit;
  }
}

static void test_close_request_and_sigterm_quit(void) {
  kt_proc p;
  start_game(&p, "lua", "", "close.log");
  unsigned long w = game_window("lua");
  CU_ASSERT(kt_x11_request_close(w));
  CU_ASSERT_EQUAL(kt_proc_wait(&p, WAIT_S), 0);
  kt_read_log(p.log_path, log_text, sizeof log_text);
  KT_ASSERT_CONTAINS(log_text, "quit: the window was closed, after ");
  KT_ASSERT_CONTAINS(log_text, "keel: world hash ");

  start_game(&p, "js", "", "sigterm.log");
  game_window("js");
  kt_proc_signal(&p, SIGTERM);
  CU_ASSERT_EQUAL(kt_proc_wait(&p, WAIT_S), 0);
  kt_read_log(p.log_path, log_text, sizeof log_text);
  KT_ASSERT_CONTAINS(log_text, "quit requested after ");
  KT_ASSERT_CONTAINS(log_text, "keel: world hash ");
}

static long json_int(const char *json, const char *key) {
  const char *at = strstr(json, key);
  return at ? strtol(at + strlen(key), NULL, 10) : -1;
}

/* Resized, minimised, restored: the renderer and the game follow, and the
 * game ticks (in lockstep: every frame) while nothing is drawn. */
static void test_resize_minimise_and_title(void) {
  const char *stats = kt_write_temp("window-stats.json", "");
  char extra[1024], title[512];
  snprintf(extra, sizeof extra, "--lockstep --stats-json %s", stats);
  kt_proc p;
  start_game(&p, "lua", extra, "resize.log");
  unsigned long w = game_window("lua");
  long at = kt_wait_for_text(p.log_path, "seen: screen 640 480", 0, WAIT_S);
  CU_ASSERT_FATAL(at >= 0);
  CU_ASSERT_EQUAL(kt_xdotool(title, sizeof title, "getwindowname %lu", w), 0);
  KT_ASSERT_CONTAINS(title, "input_game - keel (lua, null)");

  static const step resize[] = {{"windowsize %lu 400 300", "window resized to 400x300"},
                                {"mousemove --window %lu 399 299", "seen: screen 400 300"}};
  at = play(&p, w, resize, 2, at);
  CU_ASSERT(kt_x11_set_iconic(w, true));
  at = kt_wait_for_text(p.log_path, "window minimised: drawing paused, the game keeps ticking", at, WAIT_S);
  CU_ASSERT_FATAL(at >= 0);
  static const step while_minimised[] = {{"keydown b", "seen: pressed b (held)"}, {"keyup b", "seen: released b"}};
  at = play(&p, w, while_minimised, 2, at);
  CU_ASSERT(kt_x11_set_iconic(w, false));
  at = kt_wait_for_text(p.log_path, "window restored: drawing resumed", at, WAIT_S);
  CU_ASSERT_FATAL(at >= 0);
  /* Once a second the title carries the frame rate (polled for up to WAIT_S). */
  for (int i = 0; i < WAIT_S * 10 && !strstr(title, " fps"); i++) {
    kt_xdotool(title, sizeof title, "getwindowname %lu", w);
    if (!strstr(title, " fps")) kt_sleep_ms(100);
  }
  KT_ASSERT_CONTAINS(title, "input_game - keel (lua, null) - ");
  KT_ASSERT_CONTAINS(title, " fps");
  CU_ASSERT_EQUAL(kt_xdotool(NULL, 0, "key Escape"), 0);
  CU_ASSERT_EQUAL(kt_proc_wait(&p, WAIT_S), 0);

  static char json[1 << 14];
  kt_read_log(stats, json, sizeof json);
  long frames = json_int(json, "\"frames\": "), drawn = json_int(json, "\"renderer\": {\"frames\": "),
       ticks = json_int(json, "\"ticks\": ");
  CU_ASSERT(frames > 0);
  CU_ASSERT(drawn > 0 && drawn < frames); /* frames went by undrawn while minimised */
  CU_ASSERT_EQUAL(ticks, frames);          /* and every one of them ticked the game */
}

/* A windowed lockstep session, recorded, then replayed without a display:
 * the same edges seen, the same frames, the same world. */
static void record_then_replay(const char *runtime) {
  char rec[512], extra[1024], seen_live[1 << 14], seen_replay[1 << 14], hash_live[32], frames_live[64];
  snprintf(rec, sizeof rec, "%s", kt_write_temp(runtime[0] == 'l' ? "lua.keelinput" : "js.keelinput", ""));
  snprintf(extra, sizeof extra, "--lockstep --record-input %s", rec);
  play_session(runtime, extra, "record.log");
  seen_lines(log_text, seen_live, sizeof seen_live);
  snprintf(hash_live, sizeof hash_live, "%s", hash_in(log_text));
  const char *f = strstr(log_text, "keel: ");
  snprintf(frames_live, sizeof frames_live, "%.*s", f ? (int)strcspn(f, "s") : 0, f ? f : "");

  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "env -u DISPLAY %s --set renderer.backend=null --set script.runtime=%s --set script.main=%s/main.%s "
           "--set engine.stats_interval_s=0 --set engine.target_fps=0 --lockstep --replay-input %s",
           KEEL_TEST_KEEL_EXE, runtime, GAME, runtime, rec);
  CU_ASSERT_EQUAL(kt_run(cmd, log_text, sizeof log_text), 0);
  seen_lines(log_text, seen_replay, sizeof seen_replay);
  KT_ASSERT_CONTAINS(log_text, "running headless");
  KT_ASSERT_CONTAINS(log_text, "input replay finished after ");
  KT_ASSERT_CONTAINS(log_text, frames_live); /* "keel: N frames in " */
  if (strcmp(seen_live, seen_replay) != 0) fprintf(stderr, "\nlive:\n%s\nreplayed:\n%s\n", seen_live, seen_replay);
  CU_ASSERT_STRING_EQUAL(seen_live, seen_replay);
  CU_ASSERT_EQUAL(strlen(hash_live), 16);
  CU_ASSERT_STRING_EQUAL(hash_in(log_text), hash_live);
}

static void test_record_windowed_replay_headless_lua(void) { record_then_replay("lua"); }
static void test_record_windowed_replay_headless_js(void) { record_then_replay("js"); }

static CU_TestInfo tests[] = {
    {"X events reach a Lua and a JS game identically", test_events_reach_lua_and_js_identically},
    {"close request and SIGTERM quit", test_close_request_and_sigterm_quit},
    {"resize, minimise and the title", test_resize_minimise_and_title},
    {"record windowed, replay headless: Lua", test_record_windowed_replay_headless_lua},
    {"record windowed, replay headless: JS", test_record_windowed_replay_headless_js},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"window", suite_init, suite_clean, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
