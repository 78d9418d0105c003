// keel-test-labels: plugin
// keel-test-depends: script_lua script_js
/* keel_script_api.reload and keel_script_world.file_loaded in both runtimes,
 * driven through the SDK alone (the fake host), so the two behave alike
 * call for call: the files a game loads are reported; a reload before init
 * or with bad arguments is refused; a changed main script replaces update()
 * with state kept and on_reload() called once; a file the game never
 * loaded is ignored with a warning; a syntax error and a runaway top level
 * (stopped by the budget) keep the old code and return file:line; a module
 * swapped for a symlink out of the game directory is refused, as require
 * would refuse it; exports whose getter throws make a failed reload. */
#include <keel_test.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <keel/plugin.h>
#include <keel/script.h>

#include "fake_host.h"

typedef struct lang {
  const char *plugin, *ext;
  const char *main_v1, *main_v2, *broken, *runaway;
  const keel_script_api *api;
} lang;

static lang langs[] = {
    {"lua", "lua",
     "n = n or 0\nfunction update(dt) n = n + 1; cvar.set('seen', 'v1:' .. n) end\n"
     "function on_reload() reloads = (reloads or 0) + 1; cvar.set('code', 'reloaded:' .. reloads .. ':' .. n) end\n",
     "n = n or 0\nfunction update(dt) n = n + 1; cvar.set('seen', 'v2:' .. n) end\n"
     "function on_reload() reloads = (reloads or 0) + 1; cvar.set('code', 'reloaded:' .. reloads .. ':' .. n) end\n",
     "n = n or 0\nfunction update(dt) n = n + 1; cvar.set('seen', 'v3:' .. n) end\nfunction (\n",
     "function update(dt) cvar.set('seen', 'runaway') end\nwhile true do end\n", NULL},
    {"js", "js",
     "var n = n || 0;\nfunction update(dt) { n = n + 1; cvar.set('seen', 'v1:' + n); }\n"
     "function on_reload() { reloads = (typeof reloads === 'number' ? reloads : 0) + 1; cvar.set('code', 'reloaded:' + reloads + ':' + n); }\n",
     "var n = n || 0;\nfunction update(dt) { n = n + 1; cvar.set('seen', 'v2:' + n); }\n"
     "function on_reload() { reloads = (typeof reloads === 'number' ? reloads : 0) + 1; cvar.set('code', 'reloaded:' + reloads + ':' + n); }\n",
     "var n = n || 0;\nfunction update(dt) { n = n + 1; cvar.set('seen', 'v3:' + n); }\nfunction (\n",
     "function update(dt) { cvar.set('seen', 'runaway'); }\nfor (;;) {}\n", NULL},
};

/* Paths the runtime reported through world->file_loaded. */
static char loaded[8][512];
static uint32_t loaded_count;

static void on_file_loaded(void *ctx, const char *path) {
  (void)ctx;
  if (loaded_count < 8) snprintf(loaded[loaded_count++], 512, "%s", path);
}

static int open_plugins(void) {
  for (int i = 0; i < 2; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/keel_script_%s.so", KEEL_TEST_PLUGIN_DIR, langs[i].plugin);
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) return 1;
    keel_plugin_entry_fn entry = (keel_plugin_entry_fn)dlsym(dl, KEEL_PLUGIN_ENTRY_SYMBOL);
    if (!entry) return 1;
    langs[i].api = entry()->get_interface(KEEL_SCRIPT_INTERFACE);
    if (!langs[i].api || !langs[i].api->reload) return 1;
  }
  return 0;
}

typedef struct run {
  const lang *l;
  fake_host *fh;
  keel_script *s;
  char dir[256], main_path[512];
  keel_message err;
  uint64_t ticks;
} run;

static void write_main(run *r, const char *text) {
  FILE *f = fopen(r->main_path, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs(text, f);
  fclose(f);
}

static void run_open(run *r, const lang *l) {
  memset(r, 0, sizeof *r);
  r->l = l;
  snprintf(r->dir, sizeof r->dir, "%s/keel-script-reload-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(r->dir));
  snprintf(r->main_path, sizeof r->main_path, "%s/main.%s", r->dir, l->ext);
  write_main(r, l->main_v1);
  r->fh = calloc(1, sizeof *r->fh);
  fake_host_init(r->fh, r->dir);
  keel_cvar_value v = {.type = KEEL_CVAR_STRING};
  fake_host_add_cvar(r->fh, "seen", &v);
  fake_host_add_cvar(r->fh, "code", &v);
  r->fh->world.file_loaded = on_file_loaded;
  loaded_count = 0;
  keel_script_desc d = {.struct_size = KEEL_STRUCT_SIZE(keel_script_desc), .host = &r->fh->host,
                        .world = &r->fh->world, .main_path = r->main_path, .game_dir = r->dir,
                        .memory_limit_mb = 64, .tick_budget_ms = 100, .seed = 1};
  CU_ASSERT_EQUAL_FATAL(l->api->create(&d, &r->s, &r->err), KEEL_OK);
}

static keel_result run_tick(run *r) {
  static const keel_input_state no_input = {.struct_size = KEEL_STRUCT_SIZE(keel_input_state)};
  keel_tick_info ti = {.struct_size = KEEL_STRUCT_SIZE(keel_tick_info), .tick = r->ticks, .frame = r->ticks,
                       .dt = 1.0 / 30, .time = (double)r->ticks / 30, .input = &no_input};
  r->ticks++;
  return r->l->api->tick(r->s, &ti, NULL, 0, &r->err);
}

static keel_result run_reload(run *r) {
  const char *paths[1] = {r->main_path};
  return r->l->api->reload(r->s, paths, 1, &r->err);
}

static const char *cvar_text(run *r, const char *name) {
  for (uint32_t i = 0; i < r->fh->cvar_count; i++)
    if (strcmp(r->fh->cvar_names[i], name) == 0) return r->fh->cvar_values[i].text;
  return "";
}

static void run_close(run *r) {
  r->l->api->destroy(r->s);
  free(r->fh);
}

static void check_reload(const lang *l) {
  run r;
  run_open(&r, l);
  /* Before init: nothing to reload. */
  CU_ASSERT_EQUAL(run_reload(&r), KEEL_ERR_WRONG_STATE);
  CU_ASSERT_EQUAL(l->api->reload(r.s, NULL, 1, &r.err), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_EQUAL_FATAL(l->api->init(r.s, &r.err), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(loaded_count, 1);
  CU_ASSERT_STRING_EQUAL(loaded[0], r.main_path);
  CU_ASSERT_EQUAL(run_tick(&r), KEEL_OK);
  CU_ASSERT_EQUAL(run_tick(&r), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(cvar_text(&r, "seen"), "v1:2");

  /* A changed main script: new update(), n kept, on_reload() once. */
  write_main(&r, l->main_v2);
  CU_ASSERT_EQUAL(run_reload(&r), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(cvar_text(&r, "code"), "reloaded:1:2");
  CU_ASSERT_EQUAL(run_tick(&r), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(cvar_text(&r, "seen"), "v2:3");
  char want[64];
  snprintf(want, sizeof want, "reloaded main.%s", l->ext);
  CU_ASSERT_TRUE(fake_host_log_has(r.fh, want));

  /* A file the game never loaded: a warning, nothing run. */
  const char *other[1] = {"/nonexistent/other.lua"};
  CU_ASSERT_EQUAL(l->api->reload(r.s, other, 1, &r.err), KEEL_OK);
  CU_ASSERT_TRUE(fake_host_log_has(r.fh, "reload: /nonexistent/other.lua is not a file this game loaded"));
  CU_ASSERT_STRING_EQUAL(cvar_text(&r, "code"), "reloaded:1:2");

  /* A syntax error: the error names main.X:3, the old update() goes on. */
  write_main(&r, l->broken);
  CU_ASSERT_EQUAL(run_reload(&r), KEEL_ERR_SCRIPT);
  snprintf(want, sizeof want, "main.%s:3:", l->ext);
  KT_ASSERT_CONTAINS(r.err.text, want);
  CU_ASSERT_TRUE(fake_host_log_has(r.fh, "the old code keeps running"));
  CU_ASSERT_EQUAL(run_tick(&r), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(cvar_text(&r, "seen"), "v2:4");

  /* A top level that never ends: stopped by the budget, undone. */
  write_main(&r, l->runaway);
  CU_ASSERT_EQUAL(run_reload(&r), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(r.err.text, "budget of 100 ms exceeded");
  if (run_tick(&r) != KEEL_OK) fprintf(stderr, "\ntick after the runaway reload: %s\n", r.err.text);
  CU_ASSERT_STRING_EQUAL(cvar_text(&r, "seen"), "v2:5");

  /* Fixed: reloads again, and the state is still there. */
  write_main(&r, l->main_v1);
  CU_ASSERT_EQUAL(run_reload(&r), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(cvar_text(&r, "code"), "reloaded:2:5");
  CU_ASSERT_EQUAL(run_tick(&r), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(cvar_text(&r, "seen"), "v1:6");
  CU_ASSERT_EQUAL(l->api->shutdown(r.s, &r.err), KEEL_OK);
  run_close(&r);
}

static void test_lua(void) { check_reload(&langs[0]); }
static void test_js(void) { check_reload(&langs[1]); }

/* Lua reports every module require loads, by its real path, once. */
static void test_lua_reports_modules(void) {
  run r;
  run_open(&r, &langs[0]);
  char mod[600];
  snprintf(mod, sizeof mod, "%s/util.lua", r.dir);
  FILE *f = fopen(mod, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs("return {}\n", f);
  fclose(f);
  write_main(&r, "local a = require('util')\nlocal b = require('util')\nfunction update() end\n");
  CU_ASSERT_EQUAL_FATAL(langs[0].api->init(r.s, &r.err), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(loaded_count, 2);
  CU_ASSERT_STRING_EQUAL(loaded[0], r.main_path);
  char real[4096];
  CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(mod, real));
  CU_ASSERT_STRING_EQUAL(loaded[1], real);
  run_close(&r);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs(text, f);
  fclose(f);
}

/* A module replaced by a symlink to a file outside the game directory after
 * it was required: the reload refuses it with require's message, the file
 * outside never runs, the old module goes on. */
static void check_symlinked_module(const lang *l) {
  run r;
  run_open(&r, l);
  bool lua = strcmp(l->ext, "lua") == 0;
  char mod[600], real[4096], outside[256], evil[600];
  snprintf(mod, sizeof mod, "%s/util.%s", r.dir, l->ext);
  write_file(mod, lua ? "return {v = 1}\n" : "module.exports = {v: 1};\n");
  write_main(&r, lua ? "local m = require('util')\nfunction update() cvar.set('seen', tostring(m.v)) end\n"
                     : "var m = require('util');\nfunction update() { cvar.set('seen', String(m.v)); }\n");
  CU_ASSERT_EQUAL_FATAL(l->api->init(r.s, &r.err), KEEL_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(mod, real));
  CU_ASSERT_EQUAL(run_tick(&r), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(cvar_text(&r, "seen"), "1");

  snprintf(outside, sizeof outside, "%s/keel-script-outside-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(outside));
  snprintf(evil, sizeof evil, "%s/evil.%s", outside, l->ext);
  write_file(evil, lua ? "cvar.set('code', 'outside ran')\nreturn {v = 99}\n"
                       : "cvar.set('code', 'outside ran');\nmodule.exports = {v: 99};\n");
  CU_ASSERT_EQUAL_FATAL(unlink(mod), 0);
  CU_ASSERT_EQUAL_FATAL(symlink(evil, mod), 0);
  const char *paths[1] = {real};
  CU_ASSERT_EQUAL(l->api->reload(r.s, paths, 1, &r.err), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(r.err.text, "resolves outside the game directory");
  CU_ASSERT_TRUE(fake_host_log_has(r.fh, "the old code keeps running"));
  CU_ASSERT_STRING_EQUAL(cvar_text(&r, "code"), "");
  CU_ASSERT_EQUAL(run_tick(&r), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(cvar_text(&r, "seen"), "1");
  run_close(&r);
  unlink(mod);
  unlink(evil);
  rmdir(outside);
  unlink(r.main_path);
  rmdir(r.dir);
}

static void test_lua_symlinked_module(void) { check_symlinked_module(&langs[0]); }
static void test_js_symlinked_module(void) { check_symlinked_module(&langs[1]); }

/* JS: the old exports object is patched in place, which reads its
 * properties: a getter that throws (or a Proxy trap) used to end the reload
 * outside its protection, without "reloading ...", with the module cache
 * left on the new module, so later reloads never reached the exports the
 * game holds. It is a failed reload like any other: said, and undone. */
static void test_js_exports_getter_throws(void) {
  run r;
  run_open(&r, &langs[1]);
  char mod[600], real[4096];
  snprintf(mod, sizeof mod, "%s/util.js", r.dir);
  write_file(mod, "module.exports = {v: 1, get boom() { throw new Error('getter boom'); }};\n");
  write_main(&r, "var m = require('util');\nfunction update() { cvar.set('seen', String(m.v)); }\n");
  CU_ASSERT_EQUAL_FATAL(langs[1].api->init(r.s, &r.err), KEEL_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(mod, real));
  CU_ASSERT_EQUAL(run_tick(&r), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(cvar_text(&r, "seen"), "1");
  write_file(mod, "module.exports = {v: 2};\n");
  const char *paths[1] = {real};
  CU_ASSERT_EQUAL(langs[1].api->reload(r.s, paths, 1, &r.err), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(r.err.text, "util.js:1: getter boom");
  CU_ASSERT_TRUE(fake_host_log_has(r.fh, "reloading util.js: util.js:1: getter boom"));
  CU_ASSERT_TRUE(fake_host_log_has(r.fh, "reload of util.js failed: the old code keeps running"));
  CU_ASSERT_EQUAL(run_tick(&r), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(cvar_text(&r, "seen"), "1");
  run_close(&r);
  unlink(mod);
  unlink(r.main_path);
  rmdir(r.dir);
}

/* JS: a reload snapshots the globals to undo a failing file, which reads
 * them: a global getter that throws ended the reload unprotected, without
 * "reloading ..." nor the warning. It is a failed reload like any other. */
static void test_js_global_getter_throws(void) {
  run r;
  run_open(&r, &langs[1]);
  write_main(&r, "Object.defineProperty(this, 'bad', {get: function () { throw new Error('global getter boom'); },\n"
                 "                                  enumerable: true, configurable: true});\n"
                 "function update() { cvar.set('seen', 'v1'); }\n");
  CU_ASSERT_EQUAL_FATAL(langs[1].api->init(r.s, &r.err), KEEL_OK);
  CU_ASSERT_EQUAL(run_tick(&r), KEEL_OK);
  write_main(&r, "function update() { cvar.set('seen', 'v2'); }\n");
  CU_ASSERT_EQUAL(run_reload(&r), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(r.err.text, "main.js:1: global getter boom");
  CU_ASSERT_TRUE(fake_host_log_has(r.fh, "reloading main.js: main.js:1: global getter boom"));
  CU_ASSERT_TRUE(fake_host_log_has(r.fh, "reload of main.js failed: the old code keeps running"));
  CU_ASSERT_EQUAL(run_tick(&r), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(cvar_text(&r, "seen"), "v1");
  run_close(&r);
  unlink(r.main_path);
  rmdir(r.dir);
}

static CU_TestInfo tests[] = {
    {"lua: reload, state, on_reload, errors, budget", test_lua},
    {"js: reload, state, on_reload, errors, budget", test_js},
    {"lua: modules are reported", test_lua_reports_modules},
    {"lua: a module turned into a symlink out of the game is refused", test_lua_symlinked_module},
    {"js: a module turned into a symlink out of the game is refused", test_js_symlinked_module},
    {"js: exports whose getter throws: the reload fails and is undone", test_js_exports_getter_throws},
    {"js: a global getter that throws: the reload fails, said", test_js_global_getter_throws},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"script reload", open_plugins, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
