// keel-test-labels: plugin
// keel-test-depends: script_lua
/* The Lua runtime's script API through the plugin ABI alone: manifest and
 * interface, the world calls (ids at once, callbacks, snapshots), cvars and
 * handler order, the seeded PRNG against splitmix64 computed here, require
 * inside the game dir, the sandbox, and the exact error text of every API
 * function given wrong arguments (the texts docs/scripting.md promises). */
#include "test_script_lua.h"

#include <math.h>
#include <unistd.h>

/* ---- plugin ------------------------------------------------------------- */

static void test_manifest(void) {
  CU_ASSERT_PTR_NOT_NULL_FATAL(lt_manifest);
  CU_ASSERT_EQUAL(lt_manifest->struct_size, KEEL_STRUCT_SIZE(keel_plugin_manifest));
  CU_ASSERT_EQUAL(lt_manifest->abi_major, KEEL_ABI_MAJOR);
  CU_ASSERT_EQUAL(lt_manifest->abi_minor, KEEL_ABI_MINOR);
  CU_ASSERT_STRING_EQUAL(lt_manifest->name, "lua");
  CU_ASSERT_EQUAL(lt_manifest->kind, KEEL_PLUGIN_SCRIPT);
  CU_ASSERT_STRING_EQUAL(lt_manifest->version, "1.0.0");
  KT_ASSERT_CONTAINS(lt_manifest->description, "Lua 5.4");
  CU_ASSERT_STRING_EQUAL(lt_api->language, "lua");
  CU_ASSERT_STRING_EQUAL(lt_api->file_extension, ".lua");
  CU_ASSERT_EQUAL(lt_api->struct_size, KEEL_STRUCT_SIZE(keel_script_api));
  CU_ASSERT_PTR_NULL(lt_manifest->get_interface("keel.renderer/1"));
  CU_ASSERT_PTR_NULL(lt_manifest->get_interface(NULL));
  /* hidden visibility: internal functions are not reachable */
  CU_ASSERT_PTR_NULL(dlsym(lt_dl, "klua_vm_open"));
}

static void test_create_refuses_bad_desc(void) {
  keel_script *s = (keel_script *)1;
  keel_message m;
  CU_ASSERT_EQUAL(lt_api->create(NULL, &s, &m), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(m.text, "create needs");
  fake_host *fh = calloc(1, sizeof *fh);
  CU_ASSERT_PTR_NOT_NULL_FATAL(fh);
  fake_host_init(fh, LT_GAME);
  keel_script_desc d = {.struct_size = KEEL_STRUCT_SIZE(keel_script_desc), .host = &fh->host, .world = &fh->world,
                        .main_path = LT_GAME "/probe.lua", .game_dir = LT_SCRIPTS "/no-such-dir",
                        .memory_limit_mb = 8, .tick_budget_ms = 50, .seed = 1};
  CU_ASSERT_EQUAL(lt_api->create(&d, &s, &m), KEEL_ERR_NOT_FOUND);
  KT_ASSERT_CONTAINS(m.text, "no-such-dir");
  d.game_dir = LT_GAME;
  d.struct_size = 8;
  CU_ASSERT_EQUAL(lt_api->create(&d, &s, &m), KEEL_ERR_VERSION);
  d.struct_size = KEEL_STRUCT_SIZE(keel_script_desc);
  CU_ASSERT_EQUAL_FATAL(lt_api->create(&d, &s, &m), KEEL_OK);
  /* tick before init is refused, not run */
  keel_tick_info ti = {.struct_size = KEEL_STRUCT_SIZE(keel_tick_info), .dt = 0.1};
  CU_ASSERT_EQUAL(lt_api->tick(s, &ti, NULL, 0, &m), KEEL_ERR_WRONG_STATE);
  CU_ASSERT_EQUAL(lt_api->init(s, &m), KEEL_OK);
  CU_ASSERT_EQUAL(lt_api->init(s, &m), KEEL_ERR_WRONG_STATE);
  CU_ASSERT_EQUAL(lt_api->shutdown(s, &m), KEEL_OK);
  CU_ASSERT_EQUAL(lt_api->tick(s, &ti, NULL, 0, &m), KEEL_ERR_WRONG_STATE);
  lt_api->destroy(s);
  lt_api->destroy(NULL);
  free(fh);
}

static void test_missing_main_is_io_error(void) {
  lt t;
  CU_ASSERT_EQUAL_FATAL(lt_open(&t, "no_such_main.lua"), KEEL_OK);
  CU_ASSERT_EQUAL(lt_init(&t), KEEL_ERR_IO);
  KT_ASSERT_CONTAINS(t.err.text, "no_such_main.lua");
  LT_LOG_HAS(&t, "no_such_main.lua");
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_OK); /* nothing defined, nothing runs, no crash */
  lt_close(&t);
}

/* ---- world API ------------------------------------------------------------ */

static void test_world_ids_and_snapshots(void) {
  lt t;
  CU_ASSERT_EQUAL_FATAL(lt_open(&t, "world.lua"), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  LT_LOG_HAS(&t, "INFO: ids integer true true true");
  LT_LOG_HAS(&t, "INFO: get true sphere 4.0 5.0 6.0 0.25 1.0 1.0 1.0 screen");
  LT_LOG_HAS(&t, "INFO: get gone nil nil nil nil");
  LT_LOG_HAS(&t, "INFO: count 1");
  CU_ASSERT_EQUAL(fake_host_count(t.fh, KEEL_OBJECT_ENTITY), 1);
  CU_ASSERT_EQUAL(fake_host_count(t.fh, KEEL_OBJECT_CAMERA), 1);
  CU_ASSERT_EQUAL(fake_host_count(t.fh, KEEL_OBJECT_LIGHT), 1);
  /* every field set at create; update only the given ones */
  for (uint32_t i = 0; i < FAKE_MAX_OBJECTS; i++) {
    const fake_object *o = &t.fh->objects[i];
    if (!o->live) continue;
    const keel_object_fields *f = &o->snap.fields;
    if (o->snap.kind == KEEL_OBJECT_ENTITY) {
      CU_ASSERT_EQUAL(f->mask, KEEL_FIELD_MESH | KEEL_FIELD_POSITION | KEEL_FIELD_ROTATION | KEEL_FIELD_SCALE |
                                   KEEL_FIELD_COLOR | KEEL_FIELD_LAYER);
      CU_ASSERT_STRING_EQUAL(f->mesh, "sphere");
      CU_ASSERT_EQUAL(f->layer, KEEL_LAYER_SCREEN); /* set by update */
      CU_ASSERT_DOUBLE_EQUAL(f->position.x, 4.0, 1e-6);
      CU_ASSERT_DOUBLE_EQUAL(f->position.z, 6.0, 1e-6);
      CU_ASSERT_DOUBLE_EQUAL(f->color.r, 0.5, 1e-6);
      CU_ASSERT_DOUBLE_EQUAL(f->color.a, 1.0, 1e-6); /* a defaults to 1 */
      CU_ASSERT_DOUBLE_EQUAL(f->rotation.w, 1.0, 1e-6);
      CU_ASSERT_DOUBLE_EQUAL(f->scale.y, 1.0, 1e-6);
    } else if (o->snap.kind == KEEL_OBJECT_CAMERA) {
      CU_ASSERT_EQUAL(f->mask, KEEL_FIELD_POSITION | KEEL_FIELD_TARGET | KEEL_FIELD_FOV);
      CU_ASSERT_DOUBLE_EQUAL(f->position.y, 2.0, 1e-6);
      CU_ASSERT_DOUBLE_EQUAL(f->position.z, -5.0, 1e-6);
      CU_ASSERT_DOUBLE_EQUAL(f->fov_degrees, 60.0, 1e-6);
    } else {
      CU_ASSERT_EQUAL(f->light_kind, KEEL_LIGHT_DIRECTIONAL);
      CU_ASSERT_DOUBLE_EQUAL(f->intensity, 2.0, 1e-6);
      CU_ASSERT_DOUBLE_EQUAL(f->range, 25.0, 1e-6);
      CU_ASSERT_DOUBLE_EQUAL(f->color.g, 1.0, 1e-6);
    }
  }
  /* create, update, set_active, create, update, create, destroy */
  CU_ASSERT_EQUAL(t.fh->commands, 8);
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_OK);
  LT_LOG_HAS(&t, "INFO: engine 100 0.0 0.25 0.25");
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_OK);
  LT_LOG_HAS(&t, "INFO: engine 101 0.25 0.25 0.25");
  lt_close(&t);
}

static void test_callbacks_fire_with_id_and_err(void) {
  lt t;
  CU_ASSERT_EQUAL_FATAL(lt_open(&t, "callbacks.lua"), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  CU_ASSERT_FALSE(fake_host_log_has(t.fh, "cb1")); /* not before the completion arrives */
  lt_set(&t, "speed", "2.5");
  keel_script_stats before = lt_stats(&t);
  /* cb1 raises and the first speed handler raises: both are reported, the
   * rest of the events and update(dt) still run */
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  char want[64];
  snprintf(want, sizeof want, "callbacks.lua:%d: callback boom", lt_line_of("callbacks.lua", "callback"));
  KT_ASSERT_CONTAINS(t.err.text, want); /* the first error of the tick */
  LT_LOG_HAS(&t, want);
  snprintf(want, sizeof want, "callbacks.lua:%d: handler boom", lt_line_of("callbacks.lua", "handler"));
  LT_LOG_HAS(&t, want);
  LT_LOG_HAS(&t, "on_created callback: callbacks.lua:");
  LT_LOG_HAS(&t, "cvar.on_change handler for 'speed': callbacks.lua:");
  LT_LOG_HAS(&t, "INFO: cb1 true nil");
  LT_LOG_HAS(&t, "INFO: cb2 true unknown mesh 'teapot' (known: cube, sphere, plane)");
  LT_LOG_HAS(&t, "INFO: cb3 true nil integer");
  LT_LOG_HAS(&t, "INFO: speed handler 2.5 speed");
  CU_ASSERT_EQUAL(lt_cvar(&t, "ticks")->i, 1);
  keel_script_stats after = lt_stats(&t);
  CU_ASSERT_EQUAL(after.errors - before.errors, 2);
  CU_ASSERT_EQUAL(after.calls - before.calls, 6); /* 3 callbacks, 2 handlers, update */
  /* callbacks are one-shot: nothing fires again */
  uint32_t lines = t.fh->log_count;
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_OK);
  CU_ASSERT_EQUAL(lt_cvar(&t, "ticks")->i, 2);
  CU_ASSERT_EQUAL(t.fh->log_count, lines);
  lt_close(&t);
}

static void test_queue_full_and_no_free_id(void) {
  lt t;
  CU_ASSERT_EQUAL_FATAL(lt_open(&t, "probe.lua"), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  t.fh->queue_limit = 3; /* the probe's cvar.set does not push commands */
  CU_ASSERT_EQUAL(lt_run_code(&t, "for i = 1, 4 do entity.create({}, function() end) end"), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "case:1: entity.create: command queue full"));
  CU_ASSERT_EQUAL(fake_host_count(t.fh, KEEL_OBJECT_ENTITY), 3);
  t.fh->queue_limit = 0;
  CU_ASSERT_EQUAL(lt_run_code(&t, "for i = 1, 5000 do entity.create({}) end"), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "case:1: entity.create: no free entity id"));
  CU_ASSERT_EQUAL(lt_run_code(&t, ""), KEEL_OK);
  CU_ASSERT_EQUAL(lt_cvar(&t, "ticks")->i, 3);
  lt_close(&t);
}

/* ---- cvars -------------------------------------------------------------- */

static void test_cvar_on_change_order(void) {
  lt t;
  CU_ASSERT_EQUAL_FATAL(lt_open(&t, "order.lua"), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  lt_set(&t, "code", "go");
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_OK); /* the script sets speed, flag, speed */
  LT_LOG_HAS(&t, "INFO: seen:");
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_OK); /* their events arrive now */
  LT_LOG_HAS(&t, "INFO: seen:A2.0B2.0C2.0[flag=true]A3.0B3.0C3.0");
  lt_close(&t);
}

static void test_cvar_get_set_types(void) {
  lt t;
  CU_ASSERT_EQUAL_FATAL(lt_open(&t, "probe.lua"), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  CU_ASSERT_EQUAL(lt_run_code(&t, "local g=cvar.get error(math.type(g('ticks'))..' '..math.type(g('speed'))..' '.."
                                  "tostring(g('flag'))..' ['..g('seen')..']',0)"),
                  KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "case:1: integer float false []"));
  CU_ASSERT_EQUAL(lt_run_code(&t, "cvar.set('speed', 0.1) cvar.set('flag', true) cvar.set('seen', 'x y')"), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(lt_cvar(&t, "speed")->text, "0.1");
  CU_ASSERT_TRUE(lt_cvar(&t, "flag")->b);
  CU_ASSERT_STRING_EQUAL(lt_cvar(&t, "seen")->text, "x y");
  CU_ASSERT_EQUAL(lt_run_code(&t, "cvar.set('speed', 3) cvar.set('seen', 2.0)"), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(lt_cvar(&t, "speed")->text, "3");
  CU_ASSERT_STRING_EQUAL(lt_cvar(&t, "seen")->text, "2");
  CU_ASSERT_EQUAL(lt_run_code(&t, "log.warn('w', 1, nil, true, {}) log.error('e') log.info()"), KEEL_OK);
  LT_LOG_HAS(&t, "WARN: w 1 nil true table: 0x");
  LT_LOG_HAS(&t, "ERROR: e");
  CU_ASSERT_EQUAL(lt_run_code(&t, "print('via print', 2)"), KEEL_OK);
  LT_LOG_HAS(&t, "INFO: via print 2");
  lt_close(&t);
}

/* ---- random --------------------------------------------------------------- */

static uint64_t sm64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double sm64_unit(uint64_t *s) { return (double)(sm64(s) >> 11) * 0x1.0p-53; }

static void test_random_matches_splitmix64(void) {
  lt t;
  lt_opts o = {.budget_ms = 200, .memory_mb = 64, .seed = 12345};
  CU_ASSERT_EQUAL_FATAL(lt_open_with(&t, "random.lua", &o), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  uint64_t st = 12345;
  char want[512] = "INFO: random";
  size_t n = strlen(want);
  for (int i = 0; i < 3; i++) n += (size_t)snprintf(want + n, sizeof want - n, " %a", sm64_unit(&st));
  for (int i = 0; i < 3; i++) n += (size_t)snprintf(want + n, sizeof want - n, " %d", 1 + (int)floor(sm64_unit(&st) * 6));
  for (int i = 0; i < 3; i++)
    n += (size_t)snprintf(want + n, sizeof want - n, " %d", 10 + (int)floor(sm64_unit(&st) * 11));
  LT_LOG_HAS(&t, want);
  LT_LOG_HAS(&t, "INFO: reseed true");
  /* known first value for seed 0 (splitmix64's published test vector) */
  uint64_t z = 0;
  CU_ASSERT_EQUAL(sm64(&z), 0xE220A8397B1DCDAFull);
  /* one-off VMs restart from the seed on every run */
  keel_message r1, r2;
  CU_ASSERT_EQUAL(lt_api->oneoff_run(t.s, "return string.format('%a', math.random())", &r1), KEEL_OK);
  CU_ASSERT_EQUAL(lt_api->oneoff_run(t.s, "return string.format('%a', math.random())", &r2), KEEL_OK);
  st = 12345;
  char first[64];
  snprintf(first, sizeof first, "%a", sm64_unit(&st));
  CU_ASSERT_STRING_EQUAL(r1.text, first);
  CU_ASSERT_STRING_EQUAL(r2.text, first);
  lt_close(&t);
}

/* ---- require -------------------------------------------------------------- */

static void test_require_inside_game_dir(void) {
  lt t;
  CU_ASSERT_EQUAL_FATAL(lt_open(&t, "modules.lua"), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  LT_LOG_HAS(&t, "INFO: require 42 true");
  LT_LOG_HAS(&t, "INFO: package pack lib.pack true"); /* lib/pack/init.lua */
  lt_close(&t);

  CU_ASSERT_EQUAL_FATAL(lt_open(&t, "probe.lua"), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  CU_ASSERT_EQUAL(lt_run_code(&t, "require('..outside')"), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "case:1: require: module name '..outside' leaves the game directory");
  CU_ASSERT_EQUAL(lt_run_code(&t, "require('/etc/passwd')"), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "require: module name '/etc/passwd' leaves the game directory");
  CU_ASSERT_EQUAL(lt_run_code(&t, "require('lib/../../outside')"), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "leaves the game directory");
  /* Lua's own require read the name as a C string: 'lib.util\0x' loaded lib/util.lua */
  CU_ASSERT_EQUAL(lt_run_code(&t, "require('lib.util\\0x')"), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "case:1: require: module name 'lib.util' leaves the game directory");
  CU_ASSERT_EQUAL(lt_run_code(&t, "require('missing.mod')"), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "module 'missing.mod' not found");
  /* one line per searcher, no empty line */
  KT_ASSERT_CONTAINS(t.err.text, "module 'missing.mod' not found:\n\tno field package.preload['missing.mod']\n\t"
                                 "no file 'missing/mod.lua' or 'missing/mod/init.lua' in the game directory\n");
  CU_ASSERT_EQUAL(lt_run_code(&t, "require('lib.broken')"), KEEL_ERR_SCRIPT);
  char want[64];
  snprintf(want, sizeof want, "lib/broken.lua:%d:", lt_line_of("lib/broken.lua", "broken"));
  KT_ASSERT_CONTAINS(t.err.text, want);
  CU_ASSERT_FALSE(fake_host_log_has(t.fh, "outside.lua was loaded"));
  CU_ASSERT_EQUAL(lt_run_code(&t, ""), KEEL_OK);
  CU_ASSERT_EQUAL(lt_cvar(&t, "ticks")->i, 7);
  lt_close(&t);
}

static void test_require_symlink_out_is_refused(void) {
  /* a game dir of our own, with a module that is a symlink leaving it */
  const char *main = kt_write_temp("main.lua", "function update() require('evil') end\n");
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", main);
  *strrchr(dir, '/') = '\0';
  char link[1100];
  snprintf(link, sizeof link, "%s/evil.lua", dir);
  unlink(link);
  CU_ASSERT_EQUAL_FATAL(symlink(LT_SCRIPTS "/outside.lua", link), 0);
  lt t;
  lt_opts o = {.budget_ms = 200, .memory_mb = 64, .seed = 1, .game_dir = dir};
  CU_ASSERT_EQUAL_FATAL(lt_open_with(&t, "main.lua", &o), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.lua:1: require: module 'evil' resolves outside the game directory");
  CU_ASSERT_FALSE(fake_host_log_has(t.fh, "outside.lua was loaded"));
  lt_close(&t);
  unlink(link);
}

/* ---- sandbox ---------------------------------------------------------------- */

typedef struct lt_case {
  const char *code;
  const char *want; /* substring of the error */
} lt_case;

static const lt_case sandbox_cases[] = {
    {"io.open('/etc/passwd')", "global 'io'"},
    {"os.execute('true')", "field 'execute'"},
    {"os.exit(1)", "field 'exit'"},
    {"os.getenv('HOME')", "field 'getenv'"},
    {"os.remove('/tmp/keel-never')", "field 'remove'"},
    {"os.rename('/tmp/keel-a', '/tmp/keel-b')", "field 'rename'"},
    {"os.tmpname()", "field 'tmpname'"},
    {"package.loadlib('libc.so.6', 'puts')", "field 'loadlib'"},
    {"package.searchpath('x', '/etc/?')", "field 'searchpath'"},
    {"require('socket.core')", "module 'socket.core' not found"},
    {"error(package.cpath .. '|' .. package.path .. '|' .. #package.searchers, 0)", "||2"},
    {"debug.getinfo(1)", "global 'debug'"},
    {"dofile('/etc/passwd')", "global 'dofile'"},
    {"loadfile('/etc/passwd')", "global 'loadfile'"},
    {"assert(load(string.dump(function() end)))", "attempt to load a binary chunk (mode is 't')"},
    {"assert(load(string.dump(function() end), 'x', 'b'))", "attempt to load a binary chunk (mode is 't')"},
    {"require('io')", "module 'io' not found"},
    {"require('debug')", "module 'debug' not found"},
    {"package.loaded.io.open('/etc/passwd')", "field 'io'"},
    {"setmetatable({}, {__gc = function() end})", "case:1: setmetatable: __gc metamethods are not allowed"},
    {"error(type(os.time) .. type(os.clock) .. type(os.date), 0)", "functionfunctionfunction"},
};

static void test_sandbox_escapes_refused(void) {
  lt t;
  CU_ASSERT_EQUAL_FATAL(lt_open(&t, "probe.lua"), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  size_t n = sizeof sandbox_cases / sizeof sandbox_cases[0];
  for (size_t i = 0; i < n; i++) {
    keel_result r = lt_run_code(&t, sandbox_cases[i].code);
    if (r != KEEL_ERR_SCRIPT || !strstr(t.err.text, sandbox_cases[i].want))
      fprintf(stderr, "\ncase %s\n  got %s: %s\n", sandbox_cases[i].code, keel_result_name(r), t.err.text);
    CU_ASSERT_EQUAL(r, KEEL_ERR_SCRIPT);
    KT_ASSERT_CONTAINS(t.err.text, sandbox_cases[i].want);
    LT_LOG_HAS(&t, sandbox_cases[i].want);
    CU_ASSERT_EQUAL(lt_cvar(&t, "ticks")->i, (int64_t)i + 1); /* each tick ran */
  }
  CU_ASSERT_EQUAL(lt_run_code(&t, "local x = load('return 1 + 1')() assert(x == 2)"), KEEL_OK);
  /* xpcall is wrapped (klua_xpcall) but still calls handlers for script errors */
  CU_ASSERT_EQUAL(lt_run_code(&t, "local ok, m = xpcall(error, function(e) return 'handled ' .. e end, 'x', 0) "
                                  "error(tostring(ok) .. ' ' .. m, 0)"),
                  KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "case:1: false handled x"));
  CU_ASSERT_EQUAL(lt_run_code(&t, "error(select('#', xpcall(function(a, b) return a, b end, print, 1, 2)), 0)"),
                  KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "case:1: 3"));
  lt_close(&t);
}

/* In lockstep os.clock, os.time and os.date give game time (engine.time()
 * in seconds since 1970-01-01T00:00:00Z, UTC), as JavaScript's Date does, so
 * a run repeats on every machine and in both languages. */
static void test_lockstep_clock_is_game_time(void) {
  lt t;
  lt_opts o = {.budget_ms = 200, .memory_mb = 64, .seed = 1, .lockstep = true};
  CU_ASSERT_EQUAL_FATAL(lt_open_with(&t, "probe.lua", &o), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  for (int i = 0; i < 6; i++) CU_ASSERT_EQUAL(lt_tick(&t), KEEL_OK); /* the next ticks' times: 1.5 s, 1.75 s, 2 s */
  CU_ASSERT_EQUAL(lt_run_code(&t, "error(string.format('%g %g %d %s', os.clock(), engine.time(), os.time(), "
                                  "os.date('%Y-%m-%d %H:%M:%S')), 0)"),
                  KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "case:1: 1.5 1.5 1 1970-01-01 00:00:01"));
  CU_ASSERT_EQUAL(lt_run_code(&t, "error(os.date('!%H') .. os.date('*t').year .. os.date(' %H:%M', 18060), 0)"),
                  KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "case:1: 001970 05:01"));
  CU_ASSERT_EQUAL(lt_run_code(&t, "error(os.time({year = 2000, month = 1, day = 1, hour = 0}), 0)"), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "case:1: 946684800"));
  CU_ASSERT_EQUAL(lt_run_code(&t, "os.time({year = 2000, month = 1})"), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "field 'day' missing in date table");
  lt_close(&t);
}

/* ---- argument errors -------------------------------------------------------- */

/* Every API function with wrong arguments; the text after "case:1: " must be
 * exactly this (docs/scripting.md §4). */
static const lt_case arg_cases[] = {
    {"entity.create(5)", "entity.create: argument 'desc' must be a table, got number"},
    {"entity.create()", "entity.create: argument 'desc' must be a table, got nil"},
    {"entity.create({}, 5)", "entity.create: argument 'on_created' must be a function, got number"},
    {"entity.create({positon = {x = 1, y = 2, z = 3}})", "entity.create: unknown field 'positon'"},
    {"entity.create({1})", "entity.create: unknown field '1'"},
    {"entity.create({fov = 60})", "entity.create: unknown field 'fov'"},
    {"entity.create({position = 5})", "entity.create: field 'position' must be a table {x, y, z}, got number"},
    {"entity.create({position = {x = 1, y = 2}})", "entity.create: field 'position.z' must be a number, got nil"},
    {"entity.create({position = {x = 1, y = '2', z = 3}})",
     "entity.create: field 'position.y' must be a number, got string"},
    {"entity.create({rotation = 'q'})", "entity.create: field 'rotation' must be a table {x, y, z, w}, got string"},
    {"entity.create({rotation = {x = 0, y = 0, z = 0}})",
     "entity.create: field 'rotation.w' must be a number, got nil"},
    {"entity.create({scale = true})", "entity.create: field 'scale' must be a table {x, y, z}, got boolean"},
    {"entity.create({color = 1})", "entity.create: field 'color' must be a table {r, g, b [, a]}, got number"},
    {"entity.create({color = {r = 1, g = 1}})", "entity.create: field 'color.b' must be a number, got nil"},
    {"entity.create({mesh = 3})", "entity.create: field 'mesh' must be a string, got number"},
    {"entity.create({mesh = string.rep('m', 32)})", "entity.create: field 'mesh' is longer than 31 bytes"},
    {"entity.update('x', {})", "entity.update: argument 'id' must be an integer id, got string"},
    {"entity.update(nil, {})", "entity.update: argument 'id' must be an integer id, got nil"},
    {"entity.update(entity.create({}), 5)", "entity.update: argument 'fields' must be a table, got number"},
    {"entity.update(entity.create({}))", "entity.update: argument 'fields' must be a table, got nil"},
    {"entity.update(entity.create({}), {target = {x = 0, y = 0, z = 0}})", "entity.update: unknown field 'target'"},
    {"entity.update(424242, {})", "entity.update: id 424242 is not a live entity"},
    {"entity.update(1.5, {})", "entity.update: id 1.5 is not a live entity"},
    {"entity.update(0, {})", "entity.update: id 0 is not a live entity"},
    {"entity.update(-3, {})", "entity.update: id -3 is not a live entity"},
    {"local c = camera.create({}) entity.update(c, {}) ", "~is not a live entity"},
    {"entity.destroy({})", "entity.destroy: argument 'id' must be an integer id, got table"},
    {"entity.destroy(99)", "entity.destroy: id 99 is not a live entity"},
    {"entity.get('a')", "entity.get: argument 'id' must be an integer id, got string"},
    {"camera.create(1)", "camera.create: argument 'desc' must be a table, got number"},
    {"camera.create({}, {})", "camera.create: argument 'on_created' must be a function, got table"},
    {"camera.create({fov = 'wide'})", "camera.create: field 'fov' must be a number, got string"},
    {"camera.create({mesh = 'cube'})", "camera.create: unknown field 'mesh'"},
    {"camera.create({target = {x = 1}})", "camera.create: field 'target.y' must be a number, got nil"},
    {"camera.update(true, {})", "camera.update: argument 'id' must be an integer id, got boolean"},
    {"camera.update(camera.create({}), {fov = {}})", "camera.update: field 'fov' must be a number, got table"},
    {"camera.update(77, {})", "camera.update: id 77 is not a live camera"},
    {"camera.set_active('c')", "camera.set_active: argument 'id' must be an integer id, got string"},
    {"camera.set_active(77)", "camera.set_active: id 77 is not a live camera"},
    {"camera.destroy()", "camera.destroy: argument 'id' must be an integer id, got nil"},
    {"camera.destroy(77)", "camera.destroy: id 77 is not a live camera"},
    {"light.create('l')", "light.create: argument 'desc' must be a table, got string"},
    {"light.create({}, 'cb')", "light.create: argument 'on_created' must be a function, got string"},
    {"light.create({kind = 'spot'})", "light.create: field 'kind' must be \"point\" or \"directional\", got \"spot\""},
    {"entity.create({layer = 'hud'})", "entity.create: field 'layer' must be \"world\" or \"screen\", got \"hud\""},
    {"entity.create({layer = 1})", "entity.create: field 'layer' must be \"world\" or \"screen\", got number"},
    {"light.create({layer = 'screen'})", "light.create: unknown field 'layer'"},
    {"light.create({kind = 1})", "light.create: field 'kind' must be \"point\" or \"directional\", got number"},
    {"light.create({intensity = 'x'})", "light.create: field 'intensity' must be a number, got string"},
    {"light.create({range = {}})", "light.create: field 'range' must be a number, got table"},
    {"light.create({color = true})", "light.create: field 'color' must be a table {r, g, b [, a]}, got boolean"},
    {"light.create({rotation = {x = 0, y = 0, z = 0, w = 1}})", "light.create: unknown field 'rotation'"},
    {"light.update(light.create({}), 5)", "light.update: argument 'fields' must be a table, got number"},
    {"light.update(88, {})", "light.update: id 88 is not a live light"},
    {"light.update('l', {})", "light.update: argument 'id' must be an integer id, got string"},
    {"light.destroy('x')", "light.destroy: argument 'id' must be an integer id, got string"},
    {"light.destroy(88)", "light.destroy: id 88 is not a live light"},
    {"cvar.get(1)", "cvar.get: argument 'name' must be a string, got number"},
    {"cvar.get('nope')", "cvar.get: unknown cvar 'nope'"},
    {"cvar.set(nil, 1)", "cvar.set: argument 'name' must be a string, got nil"},
    {"cvar.set('ticks', {})", "cvar.set: argument 'value' must be a boolean, number or string, got table"},
    {"cvar.set('ticks')", "cvar.set: argument 'value' must be a boolean, number or string, got nil"},
    {"cvar.set('flag', 'abc')", "cvar.set: cvar 'flag': bad value 'abc'"},
    {"cvar.set('nope', 1)", "cvar.set: unknown cvar 'nope'"},
    /* NaN and infinity never reach the engine; names and values with NUL bytes are refused whole. */
    {"entity.create({position = {x = 0/0, y = 0, z = 0}})", "entity.create: field 'position.x' must be a finite number, got nan"},
    {"entity.create({scale = {x = 1, y = math.huge, z = 1}})", "entity.create: field 'scale.y' must be a finite number, got inf"},
    {"entity.update(entity.create({}), {color = {r = 1, g = 1, b = -math.huge}})",
     "entity.update: field 'color.b' must be a finite number, got -inf"},
    {"camera.create({fov = 1e39})", "camera.create: field 'fov' is out of range (beyond +-3.4e38), got 1e+39"},
    {"light.create({intensity = 0/0})", "light.create: field 'intensity' must be a finite number, got nan"},
    {"entity.create({mesh = 'cube\\0x'})", "entity.create: field 'mesh' contains a NUL byte"},
    {"cvar.set('ticks\\0x', 3)", "cvar.set: argument 'name' contains a NUL byte"},
    {"cvar.get('ticks\\0x')", "cvar.get: argument 'name' contains a NUL byte"},
    {"cvar.on_change('ticks\\0x', print)", "cvar.on_change: argument 'name' contains a NUL byte"},
    {"cvar.set('seen', 'a\\0b')", "cvar.set: argument 'value' contains a NUL byte"},
    {"entity.create({['mesh\\0x'] = 'cube'})", "entity.create: unknown field 'mesh' (the name contains a NUL byte)"},
    {"light.create({['range\\0'] = 3})", "light.create: unknown field 'range' (the name contains a NUL byte)"},
    {"cvar.on_change(5, print)", "cvar.on_change: argument 'name' must be a string, got number"},
    {"cvar.on_change('speed', 5)", "cvar.on_change: argument 'fn' must be a function, got number"},
    {"cvar.on_change('nope', print)", "cvar.on_change: unknown cvar 'nope'"},
    {"math.random(0)", "math.random: interval is empty"},
    {"math.random(5, 1)", "math.random: interval is empty"},
    {"math.random('a')", "math.random: argument #1 must be an integer, got string"},
    {"math.random(1.5)", "math.random: argument #1 must be an integer, got number"},
    {"math.random(1, 2, 3)", "math.random: wrong number of arguments"},
    {"math.randomseed({})", "math.randomseed: argument #1 must be an integer, got table"},
};

static void test_argument_errors(void) {
  lt t;
  CU_ASSERT_EQUAL_FATAL(lt_open(&t, "probe.lua"), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  size_t n = sizeof arg_cases / sizeof arg_cases[0];
  for (size_t i = 0; i < n; i++) {
    keel_result r = lt_run_code(&t, arg_cases[i].code);
    /* "~text": a substring (the id is not known here); else the exact line */
    const char *w = arg_cases[i].want;
    bool sub = w[0] == '~';
    char want[300];
    snprintf(want, sizeof want, "case:1: %s", sub ? w + 1 : w);
    bool ok = sub ? strstr(t.err.text, w + 1) != NULL
                  : strncmp(t.err.text, want, strlen(want)) == 0 && t.err.text[strlen(want)] == '\n';
    if (r != KEEL_ERR_SCRIPT || !ok)
      fprintf(stderr, "\ncase %s\n  want %s\n  got  %s: %s\n", arg_cases[i].code, want, keel_result_name(r),
              t.err.text);
    CU_ASSERT_EQUAL(r, KEEL_ERR_SCRIPT);
    CU_ASSERT(ok);
    CU_ASSERT(fake_host_log_has(t.fh, sub ? w + 1 : want));
    CU_ASSERT_EQUAL(lt_cvar(&t, "ticks")->i, (int64_t)i + 1);
  }
  keel_script_stats st = lt_stats(&t);
  CU_ASSERT_EQUAL(st.errors, n);
  CU_ASSERT_EQUAL(lt_run_code(&t, ""), KEEL_OK);
  lt_close(&t);
}

/* A float with an integral value is an id too (JS has only doubles). */
static void test_float_ids_accepted(void) {
  lt t;
  CU_ASSERT_EQUAL_FATAL(lt_open(&t, "probe.lua"), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  CU_ASSERT_EQUAL(lt_run_code(&t, "local id = entity.create({}) entity.update(id + 0.0, {scale = {x=2,y=2,z=2}})"),
                  KEEL_OK);
  CU_ASSERT_EQUAL(lt_run_code(&t, "local id = entity.create({}) entity.destroy(id * 1.0) entity.destroy(id)"),
                  KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "case:1: entity.destroy: id ");
  KT_ASSERT_CONTAINS(t.err.text, " is not a live entity");
  lt_close(&t);
}

static int suite_init(void) { return lt_suite_init(); }
static int suite_clean(void) { return lt_suite_clean(); }

static CU_TestInfo plugin_tests[] = {
    {"manifest and interface", test_manifest},
    {"create refuses a bad desc; call order", test_create_refuses_bad_desc},
    {"missing main script is an IO error", test_missing_main_is_io_error},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo world_tests[] = {
    {"ids at once, snapshots, fields", test_world_ids_and_snapshots},
    {"callbacks fire with id and err", test_callbacks_fire_with_id_and_err},
    {"queue full and no free id are errors", test_queue_full_and_no_free_id},
    {"integral floats are ids", test_float_ids_accepted},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo cvar_tests[] = {
    {"on_change handlers in registration order", test_cvar_on_change_order},
    {"get/set value types, log", test_cvar_get_set_types},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo random_tests[] = {
    {"seeded sequence is splitmix64", test_random_matches_splitmix64},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo sandbox_tests[] = {
    {"require inside the game dir only", test_require_inside_game_dir},
    {"require through a symlink out is refused", test_require_symlink_out_is_refused},
    {"each escape is refused, next tick runs", test_sandbox_escapes_refused},
    {"lockstep: os.clock, os.time and os.date give game time", test_lockstep_clock_is_game_time},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo arg_tests[] = {
    {"every API function, wrong arguments", test_argument_errors},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"lua plugin", suite_init, suite_clean, NULL, NULL, plugin_tests},
    {"lua world api", suite_init, suite_clean, NULL, NULL, world_tests},
    {"lua cvars and log", suite_init, suite_clean, NULL, NULL, cvar_tests},
    {"lua random", suite_init, suite_clean, NULL, NULL, random_tests},
    {"lua sandbox", suite_init, suite_clean, NULL, NULL, sandbox_tests},
    {"lua argument errors", suite_init, suite_clean, NULL, NULL, arg_tests},
    CU_SUITE_INFO_NULL,
};
