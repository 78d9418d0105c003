// keel-test-labels: plugin
// keel-test-depends: script_lua script_js
/* input.* and engine.screen() in both script runtimes, fed by the core's
 * own accumulator (kc_input) the way the engine feeds a tick: the same
 * probe game in Lua and in JavaScript must see the same thing, character
 * for character, including a tap that starts and ends between two ticks,
 * and misuse must raise the same error at the script's line. */
#include <keel_test.h>

#include "fake_host.h"
#include "platform/input.h"

#include <keel/plugin.h>
#include <keel/script.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GAME_DIR KEEL_TEST_SOURCE_DIR "/tests/scripts/input"

typedef struct lang {
  const char *plugin; /* file in the plugin directory */
  const char *main;   /* main script in GAME_DIR */
  const keel_script_api *api;
} lang;

static lang k_langs[2] = {{"keel_script_lua.so", "main.lua", NULL}, {"keel_script_js.so", "main.js", NULL}};

static int suite_init(void) {
  for (int i = 0; i < 2; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", KEEL_TEST_PLUGIN_DIR, k_langs[i].plugin);
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL); /* stays loaded for the process */
    if (!dl) {
      fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
      return 1;
    }
    keel_plugin_entry_fn entry = (keel_plugin_entry_fn)dlsym(dl, KEEL_PLUGIN_ENTRY_SYMBOL);
    const keel_plugin_manifest *m = entry ? entry() : NULL;
    k_langs[i].api = m ? m->get_interface(KEEL_SCRIPT_INTERFACE) : NULL;
    if (!k_langs[i].api) return 1;
  }
  return 0;
}

typedef struct probe {
  const lang *lang;
  fake_host *fh;
  keel_script *s;
  keel_message err;
  uint64_t ticks;
  char main_path[512];
} probe;

static void probe_open(probe *p, const lang *l) {
  memset(p, 0, sizeof *p);
  p->lang = l;
  p->fh = calloc(1, sizeof *p->fh);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p->fh);
  fake_host_init(p->fh, GAME_DIR);
  keel_cvar_value v;
  memset(&v, 0, sizeof v);
  v.type = KEEL_CVAR_STRING;
  fake_host_add_cvar(p->fh, "case", &v);
  snprintf(p->main_path, sizeof p->main_path, "%s/%s", GAME_DIR, l->main);
  keel_script_desc d = {.struct_size = KEEL_STRUCT_SIZE(keel_script_desc),
                        .host = &p->fh->host,
                        .world = &p->fh->world,
                        .main_path = p->main_path,
                        .game_dir = GAME_DIR,
                        .memory_limit_mb = 64,
                        .tick_budget_ms = 2000,
                        .seed = 1};
  CU_ASSERT_EQUAL_FATAL(l->api->create(&d, &p->s, &p->err), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(l->api->init(p->s, &p->err), KEEL_OK);
}

static void probe_close(probe *p) {
  p->lang->api->destroy(p->s);
  free(p->fh);
}

static keel_result probe_tick(probe *p, const keel_input_state *in) {
  keel_tick_info ti = {.struct_size = KEEL_STRUCT_SIZE(keel_tick_info), .tick = p->ticks, .frame = p->ticks,
                       .dt = 1.0 / 30, .time = (double)p->ticks / 30, .input = in};
  p->ticks++;
  p->err.text[0] = '\0';
  return p->lang->api->tick(p->s, &ti, NULL, 0, &p->err);
}

/* The text after "input " of the last line the probe logged. */
static const char *probe_seen(const probe *p) {
  uint32_t n = p->fh->log_count < FAKE_MAX_LOG ? p->fh->log_count : FAKE_MAX_LOG;
  for (uint32_t i = n; i-- > 0;) {
    const char *hit = strstr(p->fh->log_lines[i], "INFO: input ");
    if (hit) return hit + strlen("INFO: input ");
  }
  return "(nothing logged)";
}

/* Runs the same sequence of ticks in both runtimes; `step` fills the input
 * of tick i (returning false after the last) and `want[i]` is what the
 * probe must log for it. */
typedef bool (*step_fn)(kc_input *in, int tick);

static void run_both(step_fn step, const char *const *want) {
  for (int l = 0; l < 2; l++) {
    probe p;
    probe_open(&p, &k_langs[l]);
    kc_input in;
    kc_input_init(&in, true, 640, 480);
    for (int i = 0; step(&in, i); i++) {
      keel_input_state s;
      kc_input_take(&in, &s);
      CU_ASSERT_EQUAL(probe_tick(&p, &s), KEEL_OK);
      if (strcmp(probe_seen(&p), want[i]) != 0) {
        fprintf(stderr, "\n%s tick %d saw:\n  %s\nwanted:\n  %s\n", p.lang->main, i, probe_seen(&p), want[i]);
        CU_FAIL("the probe saw other input");
      }
    }
    probe_close(&p);
  }
}

#define NOTHING_HELD "mouse_left=--- mouse_right=--- mouse_middle=---"
#define KEYS_UP "a=--- space=--- left=--- shift=--- f12=--- grave=---"

/* A headless run: nothing pressed, the mouse at 0,0. */
static void test_headless_has_no_input(void) {
  for (int l = 0; l < 2; l++) {
    probe p;
    probe_open(&p, &k_langs[l]);
    keel_input_state none = {.struct_size = KEEL_STRUCT_SIZE(keel_input_state), .screen_width = 1280,
                             .screen_height = 720};
    CU_ASSERT_EQUAL(probe_tick(&p, &none), KEEL_OK);
    KT_ASSERT_CONTAINS(probe_seen(&p), KEYS_UP " " NOTHING_HELD " mouse=0,0 wheel=0,0 screen=1280,720");
    probe_close(&p);
  }
}

/* Pressed in one frame, released in the next, both before the tick: the
 * tick sees both edges and the key up. */
static bool tap_steps(kc_input *in, int tick) {
  switch (tick) {
    case 0:
      kc_input_key(in, KEEL_KEY_A, true);
      kc_input_end_frame(in, NULL);
      kc_input_key(in, KEEL_KEY_A, false);
      kc_input_end_frame(in, NULL);
      kc_input_end_frame(in, NULL);
      return true;
    case 1: kc_input_end_frame(in, NULL); return true;
    case 2: /* and a tap inside one frame */
      kc_input_key(in, KEEL_KEY_SPACE, true);
      kc_input_key(in, KEEL_KEY_SPACE, false);
      kc_input_end_frame(in, NULL);
      return true;
    default: return false;
  }
}

static void test_tap_between_ticks_is_not_lost(void) {
  const char *want[] = {
      "a=-PR space=--- left=--- shift=--- f12=--- grave=--- " NOTHING_HELD " mouse=0,0 wheel=0,0 screen=640,480",
      KEYS_UP " " NOTHING_HELD " mouse=0,0 wheel=0,0 screen=640,480",
      "a=--- space=-PR left=--- shift=--- f12=--- grave=--- " NOTHING_HELD " mouse=0,0 wheel=0,0 screen=640,480"};
  run_both(tap_steps, want);
}

/* Held across ticks: pressed once, down while held, released once. */
static bool held_steps(kc_input *in, int tick) {
  switch (tick) {
    case 0: kc_input_key(in, KEEL_KEY_SHIFT, true), kc_input_key(in, KEEL_KEY_F12, true); break;
    case 1: kc_input_key(in, KEEL_KEY_F12, false); break;
    case 2: break;
    case 3: kc_input_key(in, KEEL_KEY_SHIFT, false), kc_input_key(in, KEEL_KEY_GRAVE, true); break;
    default: return false;
  }
  kc_input_end_frame(in, NULL);
  return true;
}

static void test_held_keys(void) {
  const char *tail = " " NOTHING_HELD " mouse=0,0 wheel=0,0 screen=640,480";
  char want[4][512];
  snprintf(want[0], 512, "a=--- space=--- left=--- shift=DP- f12=DP- grave=---%s", tail);
  snprintf(want[1], 512, "a=--- space=--- left=--- shift=D-- f12=--R grave=---%s", tail);
  snprintf(want[2], 512, "a=--- space=--- left=--- shift=D-- f12=--- grave=---%s", tail);
  snprintf(want[3], 512, "a=--- space=--- left=--- shift=--R f12=--- grave=DP-%s", tail);
  const char *w[] = {want[0], want[1], want[2], want[3]};
  run_both(held_steps, w);
}

/* The cursor where the last frame left it, a click inside the ticks' gap,
 * a held button, and the wheel summed over the frames since the last tick. */
static bool mouse_steps(kc_input *in, int tick) {
  switch (tick) {
    case 0:
      kc_input_mouse(in, 12, 30);
      kc_input_button(in, KEEL_MOUSE_LEFT, true);
      kc_input_wheel(in, 0, 1);
      kc_input_end_frame(in, NULL);
      kc_input_mouse(in, 100.5f, 20);
      kc_input_button(in, KEEL_MOUSE_LEFT, false);
      kc_input_button(in, KEEL_MOUSE_RIGHT, true);
      kc_input_wheel(in, -0.5f, 1);
      kc_input_end_frame(in, NULL);
      return true;
    case 1:
      kc_input_resize(in, 800, 600);
      kc_input_end_frame(in, NULL);
      return true;
    default: return false;
  }
}

static void test_mouse_buttons_and_wheel(void) {
  const char *want[] = {
      KEYS_UP " mouse_left=-PR mouse_right=DP- mouse_middle=--- mouse=100.5,20 wheel=-0.5,2 screen=640,480",
      KEYS_UP " mouse_left=--- mouse_right=D-- mouse_middle=--- mouse=100.5,20 wheel=0,0 screen=800,600"};
  run_both(mouse_steps, want);
}

/* Line of the line carrying `@marker` in the probe script. */
static int line_of(const char *file, const char *marker) {
  char path[1024], line[512], tag[64];
  snprintf(path, sizeof path, "%s/%s", GAME_DIR, file);
  snprintf(tag, sizeof tag, "@%s", marker);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  int n = 0, found = -1;
  while (found < 0 && fgets(line, sizeof line, f)) {
    n++;
    if (strstr(line, tag)) found = n;
  }
  fclose(f);
  return found;
}

static void test_misuse_is_an_error_at_the_line(void) {
  static const struct {
    const char *name, *text;
  } cases[] = {
      {"unknown_key", "input.down: unknown key 'foo' (valid keys: a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, "
                      "q, r, s, t, u, v, w, x, y, z, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, space, enter, escape, tab, "
                      "backspace, left, right, up, down, shift, ctrl, alt, "},
      {"key_type", "input.pressed: argument 'key' must be a string, got number"},
      {"unknown_button", "input.mouse_down: unknown button 'back' (valid buttons: left, right, middle)"},
      {"button_type", "input.mouse_released: argument 'button' must be a string, got nil"},
      /* a name is never cut at a NUL byte ("a\0b" is not "a") */
      {"key_nul", "input.down: argument 'key' contains a NUL byte"},
      {"button_nul", "input.mouse_pressed: argument 'button' contains a NUL byte"},
  };
  for (int l = 0; l < 2; l++) {
    probe p;
    probe_open(&p, &k_langs[l]);
    keel_input_state none = {.struct_size = KEEL_STRUCT_SIZE(keel_input_state)};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      keel_message m;
      CU_ASSERT_EQUAL_FATAL(p.fh->host.cvar_set(&p.fh->host, "case", cases[i].name, &m), KEEL_OK);
      CU_ASSERT_EQUAL(probe_tick(&p, &none), KEEL_ERR_SCRIPT);
      char want[600];
      snprintf(want, sizeof want, "%s:%d: %s", p.lang->main, line_of(p.lang->main, cases[i].name), cases[i].text);
      /* keel_message holds 255 bytes: compare what fits. */
      size_t n = strlen(want) < sizeof p.err.text - 1 ? strlen(want) : sizeof p.err.text - 1;
      if (strncmp(p.err.text, want, n) != 0) {
        fprintf(stderr, "\nerror: %s\nwanted: %.*s\n", p.err.text, (int)n, want);
        CU_FAIL("wrong error text");
      }
    }
    probe_close(&p);
  }
}

/* One-off scripts run outside the game's ticks: no input, but the screen
 * size of the last tick. */
static void test_oneoffs_have_no_input(void) {
  for (int l = 0; l < 2; l++) {
    probe p;
    probe_open(&p, &k_langs[l]);
    keel_input_state s = {.struct_size = KEEL_STRUCT_SIZE(keel_input_state), .screen_width = 320,
                          .screen_height = 200};
    CU_ASSERT_EQUAL(probe_tick(&p, &s), KEEL_OK);
    keel_message out;
    bool lua = l == 0;
    CU_ASSERT_EQUAL(p.lang->api->oneoff_run(p.s, lua ? "return engine.screen().width .. 'x' .. engine.screen().height"
                                                     : "engine.screen().width + 'x' + engine.screen().height",
                                            &out),
                    KEEL_OK);
    CU_ASSERT_STRING_EQUAL(out.text, "320x200");
    CU_ASSERT_EQUAL(p.lang->api->oneoff_run(p.s, lua ? "return input.down('a')" : "input.down('a')", &out),
                    KEEL_ERR_SCRIPT);
    KT_ASSERT_CONTAINS(out.text, lua ? "global 'input'" : "identifier 'input' undefined");
    probe_close(&p);
  }
}

static CU_TestInfo tests[] = {
    {"headless has no input", test_headless_has_no_input},
    {"a tap between two ticks is not lost", test_tap_between_ticks_is_not_lost},
    {"held keys: pressed once, down, released once", test_held_keys},
    {"mouse, buttons and wheel", test_mouse_buttons_and_wheel},
    {"misuse is an error at the script's line", test_misuse_is_an_error_at_the_line},
    {"one-offs have no input", test_oneoffs_have_no_input},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"script_input", suite_init, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
