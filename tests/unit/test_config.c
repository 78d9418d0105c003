/* engine.ini: one test per kind of error with its exact `file:line: message`,
 * several errors in one file, --set precedence and recorded sources, CRLF
 * and BOM files, [cvars], path resolution, the printed configuration, and
 * that config/engine.ini and docs/configuration.md cover every key. */
#include "base/config.h"
#include "base/cvar.h"
#include "base/path.h"
#include "keel_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int suite_init(void) {
  kc_cvar_shutdown();
  return kc_cvar_register_engine(NULL) == KEEL_OK ? 0 : 1;
}

static int suite_cleanup(void) {
  kc_cvar_shutdown();
  return 0;
}

static void expect_equal_text(const char *got, const char *want, int line) {
  int ok = got && want && strcmp(got, want) == 0;
  if (!ok) fprintf(stderr, "\n%s:%d: expected:\n  %s\ngot:\n  %s\n", __FILE__, line, want, got ? got : "(null)");
  CU_assertImplementation(ok, (unsigned)line, "text equals expected", __FILE__, "", CU_FALSE);
}
#define EXPECT_TEXT(got, want) expect_equal_text((got), (want), __LINE__)

/* Loads `text` as "engine.ini" and expects exactly one error, `want`. */
static void expect_one_error(const char *text, const char *want, int line) {
  kc_config *cfg = kc_config_create();
  CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
  kc_err err;
  keel_result r = kc_config_load_string(cfg, text, "engine.ini", &err);
  CU_ASSERT_EQUAL(r, KEEL_ERR_PARSE);
  CU_ASSERT_EQUAL(err.code, KEEL_ERR_PARSE);
  if (kc_config_error_count(cfg) != 1) {
    fprintf(stderr, "\n%s:%d: expected 1 error, got %zu:\n%s\n", __FILE__, line, kc_config_error_count(cfg), err.msg);
  }
  CU_ASSERT_EQUAL(kc_config_error_count(cfg), 1);
  expect_equal_text(kc_config_error(cfg, 0), want, line);
  expect_equal_text(err.msg, want, line);
  kc_config_destroy(cfg);
}
#define EXPECT_ONE_ERROR(text, want) expect_one_error((text), (want), __LINE__)

/* ---- one test per error kind ---- */

static void test_unknown_section(void) {
  /* The keys of an unknown section are not reported again one by one. */
  EXPECT_ONE_ERROR("[engine]\n[bogus]\nx = 1\ny = 2\n",
                   "engine.ini:2: unknown section [bogus] (valid sections: engine, renderer, script, cvars, plugins, plugin.NAME)");
}

static void test_unknown_key(void) {
  EXPECT_ONE_ERROR("[engine]\ntarget_fsp = 60\n",
                   "engine.ini:2: unknown key 'target_fsp' in [engine] (valid keys: target_fps, threads, lockstep, "
                   "frames, headless, stats_interval_s, log_level, malloc_tuning)");
}

static void test_bad_int(void) {
  EXPECT_ONE_ERROR("[engine]\n\ntarget_fps = fast\n",
                   "engine.ini:3: engine.target_fps: 'fast' is not an integer (expected an integer in 0..1000)");
  EXPECT_ONE_ERROR("[engine]\nthreads = many\n",
                   "engine.ini:2: engine.threads: 'many' is not an integer or auto (expected auto or an integer in 1..64)");
  EXPECT_ONE_ERROR("[script]\ntick_rate = quick\n",
                   "engine.ini:2: script.tick_rate: 'quick' is not a number (expected a number in 1..1000)");
}

static void test_out_of_range(void) {
  EXPECT_ONE_ERROR("[engine]\ntarget_fps = 5000\n",
                   "engine.ini:2: engine.target_fps: 5000 is out of range (expected an integer in 0..1000)");
  EXPECT_ONE_ERROR("[engine]\nthreads = 0\n",
                   "engine.ini:2: engine.threads: 0 is out of range (expected auto or an integer in 1..64)");
  EXPECT_ONE_ERROR("[script]\ntick_rate = 0.5\n",
                   "engine.ini:2: script.tick_rate: 0.5 is out of range (expected a number in 1..1000)");
  EXPECT_ONE_ERROR("[renderer]\nframes_in_flight = 5\n",
                   "engine.ini:2: renderer.frames_in_flight: 5 is out of range (expected an integer in 1..4)");
}

static void test_bad_enum(void) {
  EXPECT_ONE_ERROR("[engine]\nheadless = maybe\n",
                   "engine.ini:2: engine.headless: 'maybe' is not a valid choice (expected one of: auto, true, false)");
  EXPECT_ONE_ERROR("[engine]\nlog_level = loud\n",
                   "engine.ini:2: engine.log_level: 'loud' is not a valid choice (expected one of: error, warn, info, "
                   "debug, trace)");
}

static void test_bad_bool(void) {
  EXPECT_ONE_ERROR("[renderer]\nvsync = yep\n",
                   "engine.ini:2: renderer.vsync: 'yep' is not a boolean (expected true/false, yes/no, on/off, 1/0)");
}

static void test_bad_name(void) {
  EXPECT_ONE_ERROR("[renderer]\nbackend = Vulkan\n",
                   "engine.ini:2: renderer.backend: 'Vulkan' is not a valid name (expected a name of lowercase "
                   "letters, digits and '_', e.g. vulkan, gl, null)");
  EXPECT_ONE_ERROR("[renderer]\nfallback = gl,,null\n",
                   "engine.ini:2: renderer.fallback: item 2 of the list is empty (expected a comma-separated list of "
                   "names of lowercase letters, digits and '_', e.g. vulkan, gl, null)");
  EXPECT_ONE_ERROR("[script]\nmain =\n", "engine.ini:2: script.main: the value is empty (expected a path)");
}

static void test_duplicate_key(void) {
  kc_config *cfg = kc_config_create();
  kc_err err;
  CU_ASSERT_EQUAL(kc_config_load_string(cfg, "[engine]\ntarget_fps = 30\n[renderer]\n[engine]\ntarget_fps = 40\n",
                                        "engine.ini", &err),
                  KEEL_ERR_PARSE);
  CU_ASSERT_EQUAL(kc_config_error_count(cfg), 1);
  EXPECT_TEXT(kc_config_error(cfg, 0), "engine.ini:5: duplicate key 'target_fps' in [engine] (first set at line 2)");
  /* The first one stays in effect. */
  CU_ASSERT_EQUAL(kc_config_get_int(cfg, "engine", "target_fps"), 30);
  kc_config_destroy(cfg);
  /* A first occurrence with a bad value still counts as the first. */
  kc_config *c2 = kc_config_create();
  kc_config_load_string(c2, "[engine]\ntarget_fps = x\ntarget_fps = 20\n", "engine.ini", NULL);
  CU_ASSERT_EQUAL(kc_config_error_count(c2), 2);
  EXPECT_TEXT(kc_config_error(c2, 1), "engine.ini:3: duplicate key 'target_fps' in [engine] (first set at line 2)");
  kc_config_destroy(c2);
}

static void test_syntax_error(void) {
  EXPECT_ONE_ERROR("[engine]\ntarget_fps 60\n",
                   "engine.ini:2: syntax error: expected 'key = value', '[section]' or a comment");
  EXPECT_ONE_ERROR("[engine]\n\n[renderer\n", "engine.ini:3: syntax error: section header has no closing ']'");
  EXPECT_ONE_ERROR("[engine]\n= 60\n", "engine.ini:2: syntax error: missing key name before '='");
  EXPECT_ONE_ERROR("[engine] extra\n", "engine.ini:1: syntax error: unexpected text after ']'");
  EXPECT_ONE_ERROR("target_fps = 60\n",
                   "engine.ini:1: key 'target_fps' is outside any section (expected a [section] line above it)");
  char long_line[400];
  memset(long_line, 'a', 250);
  snprintf(long_line + 250, sizeof long_line - 250, " = 1\n");
  char text[512];
  snprintf(text, sizeof text, "[engine]\n%s", long_line);
  EXPECT_ONE_ERROR(text, "engine.ini:2: line too long (254 characters; the limit is 198)");
}

static void test_unknown_cvar(void) {
  EXPECT_ONE_ERROR("[cvars]\nsim_sped = 2\n",
                   "engine.ini:2: unknown cvar 'sim_sped' in [cvars] (registered cvars: sim_speed, show_stats, "
                   "r_debug_view)");
}

static void test_bad_cvar_value(void) {
  EXPECT_ONE_ERROR("[cvars]\nsim_speed = 50\n",
                   "engine.ini:2: cvar 'sim_speed': 50 is out of range (expected a number in 0..10)");
  EXPECT_ONE_ERROR("[cvars]\nr_debug_view = pink\n",
                   "engine.ini:2: cvar 'r_debug_view': 'pink' is not a valid choice (expected one of: none, "
                   "wireframe, normals)");
  EXPECT_ONE_ERROR("[cvars]\nshow_stats = 1\nshow_stats = 0\n",
                   "engine.ini:3: duplicate cvar 'show_stats' in [cvars] (first set at line 2)");
}

/* ---- several errors, CRLF, BOM ---- */

static const char *const k_many_errors =
    "; comment\n"
    "[engine]\n"
    "target_fps = 5000\n"  /* 3 */
    "garbage\n"            /* 4 */
    "[nope]\n"             /* 5 */
    "[renderer]\n"
    "vsync = perhaps\n"    /* 7 */
    "[cvars]\n"
    "sim_speed = -1\n";    /* 9 */

static void test_all_errors_reported(void) {
  kc_config *cfg = kc_config_create();
  kc_err err;
  CU_ASSERT_EQUAL(kc_config_load_string(cfg, k_many_errors, "engine.ini", &err), KEEL_ERR_PARSE);
  CU_ASSERT_EQUAL_FATAL(kc_config_error_count(cfg), 5);
  KT_ASSERT_CONTAINS(kc_config_error(cfg, 0), "engine.ini:3: engine.target_fps: 5000 is out of range");
  KT_ASSERT_CONTAINS(kc_config_error(cfg, 1), "engine.ini:4: syntax error");
  KT_ASSERT_CONTAINS(kc_config_error(cfg, 2), "engine.ini:5: unknown section [nope]");
  KT_ASSERT_CONTAINS(kc_config_error(cfg, 3), "engine.ini:7: renderer.vsync: 'perhaps' is not a boolean");
  KT_ASSERT_CONTAINS(kc_config_error(cfg, 4), "engine.ini:9: cvar 'sim_speed': -1 is out of range");
  /* The kc_err message carries them all, one per line, in order. */
  char want[KC_ERR_MSG_MAX];
  snprintf(want, sizeof want, "%s\n%s\n%s\n%s\n%s", kc_config_error(cfg, 0), kc_config_error(cfg, 1),
           kc_config_error(cfg, 2), kc_config_error(cfg, 3), kc_config_error(cfg, 4));
  EXPECT_TEXT(err.msg, want);
  kc_config_destroy(cfg);
}

static void test_many_errors_cut_in_message(void) {
  char text[4096] = "[engine]\n";
  for (int i = 0; i < 60; i++) strcat(text, "bad line\n");
  kc_config *cfg = kc_config_create();
  kc_err err;
  CU_ASSERT_EQUAL(kc_config_load_string(cfg, text, "engine.ini", &err), KEEL_ERR_PARSE);
  CU_ASSERT_EQUAL(kc_config_error_count(cfg), 60); /* the list keeps them all */
  KT_ASSERT_CONTAINS(err.msg, "engine.ini:2: syntax error");
  KT_ASSERT_CONTAINS(err.msg, "more)");
  CU_ASSERT(strlen(err.msg) < KC_ERR_MSG_MAX);
  kc_config_destroy(cfg);
}

static char *effective_text(kc_config *cfg) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  CU_ASSERT_EQUAL(kc_config_write_effective(cfg, f, NULL), KEEL_OK);
  fclose(f);
  return buf;
}

static const char *const k_lf =
    "[engine]\n"
    "target_fps = 30\n"
    "  threads = 4\n"
    "[renderer]\n"
    "fallback = gl , null ; trailing comment\n"
    "[script]\n"
    "main = game/main.lua\n"
    "[cvars]\n"
    "sim_speed = 0.5\n";

/* Rewrites LF text with CRLF endings, optionally after a BOM. */
static char *to_crlf(const char *lf, bool bom) {
  char *out = malloc(strlen(lf) * 2 + 4);
  char *o = out;
  if (bom) o += sprintf(o, "\xEF\xBB\xBF");
  for (const char *p = lf; *p; p++) {
    if (*p == '\n') *o++ = '\r';
    *o++ = *p;
  }
  *o = '\0';
  return out;
}

static void test_crlf_and_bom_parse_like_lf(void) {
  char *crlf = to_crlf(k_lf, false);
  char *bom = to_crlf(k_lf, true);
  const char *texts[] = {k_lf, crlf, bom};
  char *outputs[3];
  for (int i = 0; i < 3; i++) {
    kc_config *cfg = kc_config_create();
    kc_err err;
    CU_ASSERT_EQUAL(kc_config_load_string(cfg, texts[i], "engine.ini", &err), KEEL_OK);
    CU_ASSERT_EQUAL(kc_config_get_int(cfg, "engine", "target_fps"), 30);
    CU_ASSERT_EQUAL(kc_config_get_int(cfg, "engine", "threads"), 4);
    CU_ASSERT_EQUAL(kc_config_list_count(cfg, "renderer", "fallback"), 2);
    EXPECT_TEXT(kc_config_list_item(cfg, "renderer", "fallback", 1), "null");
    EXPECT_TEXT(kc_config_get_string(cfg, "script", "main"), "game/main.lua");
    const char *name;
    const char *value;
    CU_ASSERT(kc_config_cvar_at(cfg, 0, &name, &value));
    EXPECT_TEXT(value, "0.5");
    outputs[i] = effective_text(cfg);
    kc_config_destroy(cfg);
  }
  EXPECT_TEXT(outputs[1], outputs[0]);
  EXPECT_TEXT(outputs[2], outputs[0]);
  for (int i = 0; i < 3; i++) free(outputs[i]);
  /* Error lines are counted the same way too. */
  char *bad = to_crlf("[engine]\nheadless = maybe\n", true);
  EXPECT_ONE_ERROR(bad,
                   "engine.ini:2: engine.headless: 'maybe' is not a valid choice (expected one of: auto, true, false)");
  free(bad);
  free(crlf);
  free(bom);
}

/* ---- values and sources ---- */

static void test_defaults(void) {
  kc_config *cfg = kc_config_create();
  CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
  size_t n;
  const kc_config_key *keys = kc_config_keys(&n);
  CU_ASSERT(n >= 22);
  char src[64];
  for (size_t i = 0; i < n; i++) {
    CU_ASSERT_EQUAL(kc_config_get_source(cfg, keys[i].section, keys[i].name, NULL), KC_CONFIG_FROM_DEFAULT);
    EXPECT_TEXT(kc_config_describe_source(cfg, keys[i].section, keys[i].name, src, sizeof src), "default");
    CU_ASSERT(keys[i].help && keys[i].help[0]);
  }
  CU_ASSERT_EQUAL(kc_config_get_int(cfg, "engine", "target_fps"), 60);
  CU_ASSERT_EQUAL(kc_config_get_int(cfg, "engine", "threads"), 0);
  EXPECT_TEXT(kc_config_get_text(cfg, "engine", "threads"), "auto");
  CU_ASSERT_FALSE(kc_config_get_bool(cfg, "engine", "lockstep"));
  CU_ASSERT_TRUE(kc_config_get_bool(cfg, "renderer", "vsync"));
  CU_ASSERT_DOUBLE_EQUAL(kc_config_get_float(cfg, "engine", "stats_interval_s"), 1.0, 0.0);
  CU_ASSERT_DOUBLE_EQUAL(kc_config_get_float(cfg, "script", "tick_rate"), 30.0, 0.0);
  EXPECT_TEXT(kc_config_get_string(cfg, "engine", "headless"), "auto");
  EXPECT_TEXT(kc_config_get_string(cfg, "renderer", "backend"), "vulkan");
  EXPECT_TEXT(kc_config_get_string(cfg, "script", "runtime"), "lua");
  CU_ASSERT_EQUAL(kc_config_list_count(cfg, "renderer", "fallback"), 2);
  EXPECT_TEXT(kc_config_list_item(cfg, "renderer", "fallback", 0), "gl");
  CU_ASSERT_EQUAL(kc_config_list_count(cfg, "plugins", "path"), 0);
  CU_ASSERT_EQUAL(kc_config_get_int(cfg, "renderer", "width"), 1280);
  CU_ASSERT_EQUAL(kc_config_get_int(cfg, "renderer", "height"), 720);
  /* Wrong getter or unknown key: zero, not a crash. */
  CU_ASSERT_EQUAL(kc_config_get_int(cfg, "engine", "headless"), 0);
  CU_ASSERT_EQUAL(kc_config_get_int(cfg, "engine", "nope"), 0);
  EXPECT_TEXT(kc_config_get_string(cfg, "nope", "nope"), "");
  kc_config_destroy(cfg);
}

static void test_set_beats_file_beats_default(void) {
  kc_config *cfg = kc_config_create();
  kc_err err;
  /* The override comes first here: precedence must not depend on call order. */
  CU_ASSERT_EQUAL(kc_config_set_override(cfg, "engine.target_fps=90", NULL, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_config_load_string(cfg,
                                        "[engine]\n"
                                        "target_fps = 30\n"
                                        "frames = 100\n"
                                        "[cvars]\n"
                                        "show_stats = on\n",
                                        "/etc/keel/engine.ini", &err),
                  KEEL_OK);
  CU_ASSERT_EQUAL(kc_config_set_override(cfg, " cvars.show_stats = off ", NULL, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_config_set_override(cfg, "renderer.width=800", NULL, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_config_set_override(cfg, "renderer.width=640", NULL, &err), KEEL_OK); /* later wins */
  CU_ASSERT_EQUAL(kc_config_error_count(cfg), 0);

  char src[128];
  int line = -1;
  CU_ASSERT_EQUAL(kc_config_get_int(cfg, "engine", "target_fps"), 90);
  CU_ASSERT_EQUAL(kc_config_get_source(cfg, "engine", "target_fps", NULL), KC_CONFIG_FROM_COMMAND_LINE);
  EXPECT_TEXT(kc_config_describe_source(cfg, "engine", "target_fps", src, sizeof src), "command line (--set)");
  CU_ASSERT_EQUAL(kc_config_get_int(cfg, "engine", "frames"), 100);
  CU_ASSERT_EQUAL(kc_config_get_source(cfg, "engine", "frames", &line), KC_CONFIG_FROM_FILE);
  CU_ASSERT_EQUAL(line, 3);
  EXPECT_TEXT(kc_config_describe_source(cfg, "engine", "frames", src, sizeof src), "/etc/keel/engine.ini:3");
  CU_ASSERT_EQUAL(kc_config_get_int(cfg, "engine", "target_fps") + 0, 90);
  EXPECT_TEXT(kc_config_describe_source(cfg, "engine", "lockstep", src, sizeof src), "default");
  CU_ASSERT_EQUAL(kc_config_get_int(cfg, "renderer", "width"), 640);
  EXPECT_TEXT(kc_config_describe_source(cfg, "cvars", "show_stats", src, sizeof src), "command line (--set)");
  EXPECT_TEXT(kc_config_describe_source(cfg, "cvars", "sim_speed", src, sizeof src), "default");
  const char *value;
  CU_ASSERT(kc_config_cvar_at(cfg, 0, NULL, &value));
  EXPECT_TEXT(value, "off");

  /* The printed configuration shows the three kinds of source. */
  char *text = effective_text(cfg);
  KT_ASSERT_CONTAINS(text, "# configuration file: /etc/keel/engine.ini\n");
  KT_ASSERT_CONTAINS(text, "[command line (--set)]");
  KT_ASSERT_CONTAINS(text, "[/etc/keel/engine.ini:3]");
  KT_ASSERT_CONTAINS(text, "engine.lockstep            = false");
  KT_ASSERT_CONTAINS(text, "cvars.sim_speed            = 1 ");
  free(text);
  kc_config_destroy(cfg);
}

static void test_override_errors(void) {
  kc_config *cfg = kc_config_create();
  kc_err err;
  CU_ASSERT_EQUAL(kc_config_set_override(cfg, "engine.headless=maybe", NULL, &err), KEEL_ERR_PARSE);
  EXPECT_TEXT(err.msg, "--set engine.headless=maybe: engine.headless: 'maybe' is not a valid choice (expected one "
                       "of: auto, true, false)");
  CU_ASSERT_EQUAL(kc_config_set_override(cfg, "engine.fps=1", NULL, &err), KEEL_ERR_PARSE);
  EXPECT_TEXT(err.msg, "--set engine.fps=1: unknown key 'fps' in [engine] (valid keys: target_fps, threads, lockstep, "
                       "frames, headless, stats_interval_s, log_level, malloc_tuning)");
  CU_ASSERT_EQUAL(kc_config_set_override(cfg, "video.width=1", NULL, &err), KEEL_ERR_PARSE);
  EXPECT_TEXT(err.msg, "--set video.width=1: unknown section [video] (valid sections: engine, renderer, script, cvars, "
                       "plugins, plugin.NAME)");
  CU_ASSERT_EQUAL(kc_config_set_override(cfg, "width=1", NULL, &err), KEEL_ERR_PARSE);
  EXPECT_TEXT(err.msg, "--set width=1: expected section.key=value");
  CU_ASSERT_EQUAL(kc_config_set_override(cfg, "cvars.sim_speed=11", NULL, &err), KEEL_ERR_PARSE);
  EXPECT_TEXT(err.msg, "--set cvars.sim_speed=11: cvar 'sim_speed': 11 is out of range (expected a number in 0..10)");
  CU_ASSERT_EQUAL(kc_config_set_override(cfg, "cvars.speed=1", NULL, &err), KEEL_ERR_PARSE);
  EXPECT_TEXT(err.msg, "--set cvars.speed=1: unknown cvar 'speed' (registered cvars: sim_speed, show_stats, "
                       "r_debug_view)");
  /* A refused override changes nothing. */
  EXPECT_TEXT(kc_config_get_string(cfg, "engine", "headless"), "auto");
  CU_ASSERT_EQUAL(kc_config_get_source(cfg, "engine", "headless", NULL), KC_CONFIG_FROM_DEFAULT);
  CU_ASSERT_EQUAL(kc_config_error_count(cfg), 6);
  kc_config_destroy(cfg);
}

static void test_cvars_apply(void) {
  kc_config *cfg = kc_config_create();
  kc_err err;
  CU_ASSERT_EQUAL(kc_config_load_string(cfg, "[cvars]\nsim_speed = 2.5\nr_debug_view = normals\n", "e.ini", &err),
                  KEEL_OK);
  CU_ASSERT_EQUAL(kc_config_cvar_count(cfg), 2);
  /* Loading checks but does not set. */
  CU_ASSERT_DOUBLE_EQUAL(kc_cvar_get_float(kc_cvar_find("sim_speed")), 1.0, 0.0);
  CU_ASSERT_EQUAL(kc_config_apply_cvars(cfg, &err), KEEL_OK);
  CU_ASSERT_DOUBLE_EQUAL(kc_cvar_get_float(kc_cvar_find("sim_speed")), 2.5, 0.0);
  char s[32];
  kc_cvar_get_string(kc_cvar_find("r_debug_view"), s, sizeof s);
  EXPECT_TEXT(s, "normals");
  CU_ASSERT_EQUAL(kc_cvar_pending_count(), 2);
  char *text = effective_text(cfg);
  KT_ASSERT_CONTAINS(text, "cvars.sim_speed            = 2.5");
  KT_ASSERT_CONTAINS(text, "[e.ini:2]");
  free(text);
  kc_config_destroy(cfg);
  /* Back to the defaults for the other tests. */
  kc_cvar_shutdown();
  kc_cvar_register_engine(NULL);
}

static void test_resolve_path(void) {
  kc_config *cfg = kc_config_create();
  kc_err err;
  char out[KC_PATH_MAX];
  CU_ASSERT_EQUAL(kc_config_set_default_dir(cfg, "/opt/keel/share/keel", &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_config_resolve_path(cfg, "script", "main", kc_config_get_string(cfg, "script", "main"), out,
                                         sizeof out, &err),
                  KEEL_OK);
  EXPECT_TEXT(out, "/opt/keel/share/keel/samples/orbit/main.lua");
  CU_ASSERT_EQUAL(kc_config_load_string(cfg, "[script]\nmain = ../game/./main.lua\n[plugins]\npath = p1, /abs/p2\n",
                                        "/srv/conf/engine.ini", &err),
                  KEEL_OK);
  kc_config_resolve_path(cfg, "script", "main", kc_config_get_string(cfg, "script", "main"), out, sizeof out, &err);
  EXPECT_TEXT(out, "/srv/game/main.lua");
  CU_ASSERT_EQUAL(kc_config_list_count(cfg, "plugins", "path"), 2);
  kc_config_resolve_path(cfg, "plugins", "path", kc_config_list_item(cfg, "plugins", "path", 0), out, sizeof out, &err);
  EXPECT_TEXT(out, "/srv/conf/p1");
  kc_config_resolve_path(cfg, "plugins", "path", kc_config_list_item(cfg, "plugins", "path", 1), out, sizeof out, &err);
  EXPECT_TEXT(out, "/abs/p2");
  /* From the command line: relative to the current directory. */
  CU_ASSERT_EQUAL(kc_config_set_override(cfg, "script.main=x/y.lua", NULL, &err), KEEL_OK);
  char cwd[KC_PATH_MAX], want[KC_PATH_MAX + 16];
  CU_ASSERT_PTR_NOT_NULL(getcwd(cwd, sizeof cwd));
  snprintf(want, sizeof want, "%s/x/y.lua", strcmp(cwd, "/") == 0 ? "" : cwd);
  kc_config_resolve_path(cfg, "script", "main", kc_config_get_string(cfg, "script", "main"), out, sizeof out, &err);
  EXPECT_TEXT(out, want);
  kc_config_destroy(cfg);
}

static void test_load_file_io_error(void) {
  kc_config *cfg = kc_config_create();
  kc_err err;
  CU_ASSERT_EQUAL(kc_config_load_file(cfg, "/nonexistent/engine.ini", &err), KEEL_ERR_IO);
  EXPECT_TEXT(err.msg, "/nonexistent/engine.ini: cannot open: No such file or directory");
  /* And a real file reports its path in each error. */
  const char *path = kt_write_temp("bad.ini", "[engine]\r\nframes = -1\r\n");
  CU_ASSERT_EQUAL(kc_config_load_file(cfg, path, &err), KEEL_ERR_PARSE);
  char want[600];
  snprintf(want, sizeof want, "%s:2: engine.frames: -1 is out of range (expected an integer in 0..2147483647)", path);
  EXPECT_TEXT(err.msg, want);
  kc_config_destroy(cfg);
}

/* ---- the shipped engine.ini and the docs ---- */

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  size_t got = fread(buf, 1, (size_t)n, f);
  buf[got] = '\0';
  fclose(f);
  return buf;
}

/* The section of `text` that starts at "[name]" and ends before the next header. */
static char *section_of(const char *text, const char *name) {
  char header[64];
  snprintf(header, sizeof header, "\n[%s]\n", name);
  const char *s = strstr(text, header);
  if (!s) return NULL;
  s += strlen(header);
  const char *e = strstr(s, "\n[");
  size_t n = e ? (size_t)(e - s) + 1 : strlen(s);
  char *out = malloc(n + 1);
  memcpy(out, s, n);
  out[n] = '\0';
  return out;
}

static void test_shipped_ini_documents_every_key(void) {
  char path[KC_PATH_MAX];
  snprintf(path, sizeof path, "%s/config/engine.ini", KEEL_TEST_SOURCE_DIR);
  kc_config *cfg = kc_config_create();
  kc_err err;
  CU_ASSERT_EQUAL(kc_config_load_file(cfg, path, &err), KEEL_OK);
  kc_config_destroy(cfg);
  char *text = slurp(path);
  CU_ASSERT_PTR_NOT_NULL_FATAL(text);
  size_t n;
  const kc_config_key *keys = kc_config_keys(&n);
  for (size_t i = 0; i < n; i++) {
    char *sec = section_of(text, keys[i].section);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sec);
    char line[256];
    snprintf(line, sizeof line, "\n; %s = %s\n", keys[i].name, keys[i].def);
    if (!keys[i].def[0]) snprintf(line, sizeof line, "\n; %s =\n", keys[i].name);
    KT_ASSERT_CONTAINS(sec, line);
    free(sec);
  }
  char *cv = section_of(text, "cvars");
  CU_ASSERT_PTR_NOT_NULL_FATAL(cv);
  for (size_t i = 0; i < kc_cvar_count(); i++) {
    kc_cvar_value def;
    kc_cvar_get_default(kc_cvar_at(i), &def);
    char line[256];
    snprintf(line, sizeof line, "\n; %s = %s\n", kc_cvar_name(kc_cvar_at(i)), def.text);
    KT_ASSERT_CONTAINS(cv, line);
  }
  free(cv);
  free(text);
}

static void test_docs_cover_keys_cvars_and_flags(void) {
  char path[KC_PATH_MAX];
  snprintf(path, sizeof path, "%s/docs/configuration.md", KEEL_TEST_SOURCE_DIR);
  char *doc = slurp(path);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  size_t n;
  const kc_config_key *keys = kc_config_keys(&n);
  char want[128];
  for (size_t i = 0; i < n; i++) {
    snprintf(want, sizeof want, "`%s`", keys[i].name);
    KT_ASSERT_CONTAINS(doc, want);
  }
  for (size_t i = 0; i < kc_cvar_count(); i++) {
    snprintf(want, sizeof want, "`%s`", kc_cvar_name(kc_cvar_at(i)));
    KT_ASSERT_CONTAINS(doc, want);
  }
  const char *flags[] = {"--help", "--version", "--config", "--set", "--check-config", "KEEL_LOG"};
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) KT_ASSERT_CONTAINS(doc, flags[i]);
  free(doc);
}

/* ---- path helpers the config relies on ---- */

static void expect_normal(const char *in, const char *want, int line) {
  char out[256];
  CU_ASSERT_EQUAL(kc_path_normalize(in, out, sizeof out, NULL), KEEL_OK);
  expect_equal_text(out, want, line);
}

static void test_paths(void) {
  expect_normal("/a/b/../c", "/a/c", __LINE__);
  expect_normal("/a//./b/", "/a/b", __LINE__);
  expect_normal("a/../..", "..", __LINE__);
  expect_normal("../x/../../y", "../../y", __LINE__);
  expect_normal("/..", "/", __LINE__);
  expect_normal("", ".", __LINE__);
  expect_normal("./", ".", __LINE__);
  char out[KC_PATH_MAX];
  kc_err err;
  CU_ASSERT_EQUAL(kc_path_join("/a/bin", "../share/keel", out, sizeof out, &err), KEEL_OK);
  EXPECT_TEXT(out, "/a/share/keel");
  CU_ASSERT_EQUAL(kc_path_join("/a", "/abs", out, sizeof out, &err), KEEL_OK);
  EXPECT_TEXT(out, "/abs");
  CU_ASSERT_EQUAL(kc_path_dirname("dir/engine.ini", out, sizeof out, &err), KEEL_OK);
  EXPECT_TEXT(out, "dir");
  CU_ASSERT_EQUAL(kc_path_dirname("engine.ini", out, sizeof out, &err), KEEL_OK);
  EXPECT_TEXT(out, ".");
  CU_ASSERT_EQUAL(kc_path_dirname("/engine.ini", out, sizeof out, &err), KEEL_OK);
  EXPECT_TEXT(out, "/");
  char small[4];
  CU_ASSERT_EQUAL(kc_path_join("/abc", "def", small, sizeof small, &err), KEEL_ERR_INVALID_ARGUMENT);
  /* Test executables live in the build's bin/, like keel, so the default
   * config they resolve is the build's share/keel/engine.ini. */
  char want[KC_PATH_MAX];
  CU_ASSERT_EQUAL(kc_path_normalize(KEEL_TEST_DATA_DIR "/engine.ini", want, sizeof want, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_path_default_config(out, sizeof out, &err), KEEL_OK);
  EXPECT_TEXT(out, want);
  CU_ASSERT_EQUAL(kc_path_normalize(KEEL_TEST_PLUGIN_DIR, want, sizeof want, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_path_plugin_dir(out, sizeof out, &err), KEEL_OK);
  EXPECT_TEXT(out, want);
}

static CU_TestInfo error_tests[] = {
    {"unknown_section", test_unknown_section},
    {"unknown_key", test_unknown_key},
    {"bad_int", test_bad_int},
    {"out_of_range", test_out_of_range},
    {"bad_enum", test_bad_enum},
    {"bad_bool", test_bad_bool},
    {"bad_name", test_bad_name},
    {"duplicate_key", test_duplicate_key},
    {"syntax_error", test_syntax_error},
    {"unknown_cvar", test_unknown_cvar},
    {"bad_cvar_value", test_bad_cvar_value},
    {"all_errors_reported", test_all_errors_reported},
    {"many_errors_cut_in_message", test_many_errors_cut_in_message},
    {"load_file_io_error", test_load_file_io_error},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo value_tests[] = {
    {"defaults", test_defaults},
    {"set_beats_file_beats_default", test_set_beats_file_beats_default},
    {"override_errors", test_override_errors},
    {"crlf_and_bom_parse_like_lf", test_crlf_and_bom_parse_like_lf},
    {"cvars_apply", test_cvars_apply},
    {"resolve_path", test_resolve_path},
    {"paths", test_paths},
    {"shipped_ini_documents_every_key", test_shipped_ini_documents_every_key},
    {"docs_cover_keys_cvars_and_flags", test_docs_cover_keys_cvars_and_flags},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"config_errors", suite_init, suite_cleanup, NULL, NULL, error_tests},
    {"config_values", suite_init, suite_cleanup, NULL, NULL, value_tests},
    CU_SUITE_INFO_NULL,
};
