// keel-test-labels: plugin
// keel-test-depends: script_js
/* The JavaScript plugin driven through the SDK alone (dlopen, manifest,
 * "keel.script/1", fake host): the API's behaviour and its exact error texts
 * from docs/scripting.md, errors with file:line, the watchdog, the memory
 * cap, the sandbox, seeded randomness, one-off runs and fatal errors. After
 * every failure the test shows the next tick still runs. */
#include "test_script_js_util.h"

#include <math.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- plugin ---- */

static void test_manifest_and_interface(void) {
  CU_ASSERT_PTR_NOT_NULL_FATAL(jt_load());
  CU_ASSERT_EQUAL(jt_manifest->struct_size, KEEL_STRUCT_SIZE(keel_plugin_manifest));
  CU_ASSERT_EQUAL(jt_manifest->abi_major, KEEL_ABI_MAJOR);
  CU_ASSERT_EQUAL(jt_manifest->abi_minor, KEEL_ABI_MINOR);
  CU_ASSERT_STRING_EQUAL(jt_manifest->name, "js");
  CU_ASSERT_EQUAL(jt_manifest->kind, KEEL_PLUGIN_SCRIPT);
  CU_ASSERT_PTR_NOT_NULL(jt_manifest->version);
  CU_ASSERT_PTR_NOT_NULL(jt_manifest->description);
  CU_ASSERT_PTR_NULL(jt_manifest->get_interface("keel.renderer/1"));
  CU_ASSERT_EQUAL(jt_api->struct_size, KEEL_STRUCT_SIZE(keel_script_api));
  CU_ASSERT_STRING_EQUAL(jt_api->language, "js");
  CU_ASSERT_STRING_EQUAL(jt_api->file_extension, ".js");
  CU_ASSERT_PTR_NOT_NULL(jt_api->create);
  CU_ASSERT_PTR_NOT_NULL(jt_api->oneoff_run);
}

static void test_exports_only_the_entry(void) {
  char out[4096];
  int rc = kt_run("nm -D --defined-only " JT_PLUGIN_PATH, out, sizeof out);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  KT_ASSERT_CONTAINS(out, " keel_plugin_entry");
  /* Exactly one defined dynamic symbol: Duktape's API stays inside. */
  int lines = 0;
  for (const char *p = out; *p; p++) lines += *p == '\n';
  CU_ASSERT_EQUAL(lines, 1);
  CU_ASSERT_PTR_NULL(strstr(out, "duk_"));
}

static void test_create_refuses_bad_desc(void) {
  CU_ASSERT_PTR_NOT_NULL_FATAL(jt_load());
  keel_script *s = (keel_script *)1;
  keel_message err = {{0}};
  CU_ASSERT_EQUAL(jt_api->create(NULL, &s, &err), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_PTR_NULL(s);
  KT_ASSERT_CONTAINS(err.text, "js:");
  keel_script_desc d;
  jt_desc_defaults(&d);
  CU_ASSERT_EQUAL(jt_api->create(&d, &s, &err), KEEL_ERR_INVALID_ARGUMENT); /* no host, no world */
  jt_api->destroy(NULL);
}

static void test_memory_limit_too_small_for_a_heap(void) {
  keel_script_desc d;
  jt_desc_defaults(&d);
  d.memory_limit_mb = 0; /* 0 = no cap: must work */
  jt t;
  CU_ASSERT_EQUAL(jt_start(&t, "var x = 1;", &d), KEEL_OK);
  jt_close(&t);
}

/* ---- lifecycle ---- */

static void test_init_update_shutdown(void) {
  jt t;
  const char *src =
      "var n = 0;\n"
      "function init() { log.info('init', engine.frame(), engine.time()); }\n"
      "function update(dt) { n++; log.info('update', n, dt.toFixed(4), engine.frame(), engine.dt() === dt,"
      " engine.time().toFixed(4)); }\n"
      "function shutdown() { log.warn('bye', n); }\n";
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, src, NULL), KEEL_OK);
  JT_ASSERT_LOG(&t, "INFO: init 0 0");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  JT_ASSERT_LOG(&t, "INFO: update 1 0.0167 2 true 0.0167");
  JT_ASSERT_LOG(&t, "INFO: update 2 0.0167 4 true 0.0333");
  CU_ASSERT_EQUAL(jt_api->shutdown(t.s, &t.err), KEEL_OK);
  JT_ASSERT_LOG(&t, "WARN: bye 2");
  keel_script_stats st = jt_stats(&t);
  CU_ASSERT_EQUAL(st.calls, 5); /* main chunk, init, 2 x update, shutdown */
  CU_ASSERT_EQUAL(st.errors, 0);
  CU_ASSERT(st.memory_bytes > 0);
  jt_close(&t);
}

static void test_entry_points_are_optional(void) {
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "var x = 1;\n", NULL), KEEL_OK);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  CU_ASSERT_EQUAL(jt_api->shutdown(t.s, &t.err), KEEL_OK);
  CU_ASSERT_EQUAL(jt_stats(&t).calls, 1);
  jt_close(&t);
}

static void test_missing_main_is_io_error(void) {
  jt t;
  CU_ASSERT_FATAL(jt_open(&t, "var x;", NULL));
  jt_api->destroy(t.s);
  snprintf(t.main_path, sizeof t.main_path, "%.400s/does-not-exist.js", t.game_dir);
  CU_ASSERT_EQUAL_FATAL(jt_api->create(&t.desc, &t.s, &t.err), KEEL_OK);
  CU_ASSERT_EQUAL(jt_api->init(t.s, &t.err), KEEL_ERR_IO);
  KT_ASSERT_CONTAINS(t.err.text, "does-not-exist.js");
  KT_ASSERT_CONTAINS(t.err.text, "No such file");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  jt_close(&t);
}

/* ---- ids and callbacks ---- */

static const fake_object *jt_object(const jt *t, const char *mesh) {
  for (uint32_t i = 0; i < FAKE_MAX_OBJECTS; i++)
    if (t->fh->objects[i].live && strcmp(t->fh->objects[i].snap.fields.mesh, mesh) == 0) return &t->fh->objects[i];
  return NULL;
}

static void test_ids_at_once_and_callbacks(void) {
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "@callbacks", NULL), KEEL_OK);
  JT_ASSERT_LOG(&t, "INFO: ids number true true true true");
  /* Usable in the same tick: the update reached the world before the tick. */
  const fake_object *sphere = jt_object(&t, "sphere");
  CU_ASSERT_PTR_NOT_NULL_FATAL(sphere);
  CU_ASSERT_EQUAL(sphere->snap.kind, KEEL_OBJECT_ENTITY);
  CU_ASSERT_EQUAL(sphere->snap.fields.mask, KEEL_FIELD_MESH | KEEL_FIELD_POSITION | KEEL_FIELD_ROTATION |
                                                KEEL_FIELD_SCALE | KEEL_FIELD_COLOR | KEEL_FIELD_LAYER);
  CU_ASSERT_EQUAL(sphere->snap.fields.layer, KEEL_LAYER_WORLD);
  CU_ASSERT_DOUBLE_EQUAL(sphere->snap.fields.position.y, 2.0, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL(sphere->snap.fields.scale.x, 2.0, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL(sphere->snap.fields.rotation.w, 1.0, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL(sphere->snap.fields.color.a, 1.0, 1e-6);
  char want[256];
  snprintf(want, sizeof want,
           "INFO: same-tick {\"id\":%llu,\"mesh\":\"sphere\",\"position\":{\"x\":1,\"y\":2,\"z\":3},"
           "\"rotation\":{\"x\":0,\"y\":0,\"z\":0,\"w\":1},\"scale\":{\"x\":2,\"y\":2,\"z\":2},"
           "\"color\":{\"r\":1,\"g\":1,\"b\":1,\"a\":1},\"layer\":\"world\"}",
           (unsigned long long)sphere->snap.id);
  JT_ASSERT_LOG(&t, want);
  /* Callbacks wait for the completion events of the next tick. */
  JT_ASSERT_NO_LOG(&t, "cb-a");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT); /* the third callback throws */
  JT_ASSERT_LOG(&t, "INFO: cb-a true null");
  JT_ASSERT_LOG(&t, "INFO: cb-b true unknown mesh 'teapot' (known: cube, sphere, plane)");
  JT_ASSERT_LOG(&t, "ERROR: on_created callback: main.js:15: callback failed for true");
  KT_ASSERT_CONTAINS(t.err.text, "main.js:15: callback failed for true");
  /* The failing callback did not stop update(). */
  JT_ASSERT_LOG(&t, "INFO: ticks=1 count=2");
  int a = jt_log_find(&t, "cb-a", 0), b = jt_log_find(&t, "cb-b", 0), u = jt_log_find(&t, "ticks=1", 0);
  CU_ASSERT(a >= 0 && a < b && b < u);
  /* Each callback runs once. */
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  CU_ASSERT_EQUAL(jt_log_find(&t, "cb-a", a + 1), -1);
  JT_ASSERT_LOG(&t, "INFO: ticks=2 count=2");
  jt_close(&t);
}

static void test_camera_and_light(void) {
  jt t;
  const char *src =
      "var cam, sun;\n"
      "function init() {\n"
      "  cam = camera.create({position: {x: 0, y: 2, z: -5}, fov: 70}, function (id, err) { log.info('cam', id === "
      "cam, err); });\n"
      "  camera.update(cam, {target: {x: 1, y: 0, z: 0}});\n"
      "  camera.set_active(cam);\n"
      "  sun = light.create({kind: 'directional', intensity: 2});\n"
      "  light.update(sun, {color: {r: 1, g: 0.5, b: 0}, range: 3});\n"
      "}\n"
      "function update() { camera.destroy(cam); light.destroy(sun); log.info('gone'); }\n";
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, src, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(fake_host_count(t.fh, KEEL_OBJECT_CAMERA), 1);
  CU_ASSERT_EQUAL(fake_host_count(t.fh, KEEL_OBJECT_LIGHT), 1);
  const fake_object *cam = NULL, *sun = NULL;
  for (uint32_t i = 0; i < FAKE_MAX_OBJECTS; i++) {
    if (!t.fh->objects[i].live) continue;
    if (t.fh->objects[i].snap.kind == KEEL_OBJECT_CAMERA) cam = &t.fh->objects[i];
    if (t.fh->objects[i].snap.kind == KEEL_OBJECT_LIGHT) sun = &t.fh->objects[i];
  }
  CU_ASSERT_PTR_NOT_NULL_FATAL(cam);
  CU_ASSERT_PTR_NOT_NULL_FATAL(sun);
  CU_ASSERT_EQUAL(cam->snap.fields.mask, KEEL_FIELD_POSITION | KEEL_FIELD_TARGET | KEEL_FIELD_FOV);
  CU_ASSERT_DOUBLE_EQUAL(cam->snap.fields.fov_degrees, 70.0, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL(cam->snap.fields.target.x, 1.0, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL(cam->snap.fields.position.z, -5.0, 1e-6);
  CU_ASSERT_EQUAL(sun->snap.fields.light_kind, KEEL_LIGHT_DIRECTIONAL);
  CU_ASSERT_DOUBLE_EQUAL(sun->snap.fields.intensity, 2.0, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL(sun->snap.fields.range, 3.0, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL(sun->snap.fields.color.g, 0.5, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL(sun->snap.fields.color.a, 1.0, 1e-6);
  /* create + update + set_active for the camera; create + update for the light */
  CU_ASSERT_EQUAL(t.fh->commands, 5);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  JT_ASSERT_LOG(&t, "INFO: cam true null");
  JT_ASSERT_LOG(&t, "INFO: gone");
  CU_ASSERT_EQUAL(fake_host_count(t.fh, KEEL_OBJECT_CAMERA), 0);
  CU_ASSERT_EQUAL(fake_host_count(t.fh, KEEL_OBJECT_LIGHT), 0);
  jt_close(&t);
}

static void test_defaults_of_create(void) {
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "entity.create({}); camera.create({}); light.create({});", NULL), KEEL_OK);
  for (uint32_t i = 0; i < FAKE_MAX_OBJECTS; i++) {
    const fake_object *o = &t.fh->objects[i];
    if (!o->live) continue;
    const keel_object_fields *f = &o->snap.fields;
    if (o->snap.kind == KEEL_OBJECT_ENTITY) {
      CU_ASSERT_STRING_EQUAL(f->mesh, "cube");
      CU_ASSERT(f->position.x == 0 && f->position.y == 0 && f->position.z == 0);
      CU_ASSERT(f->rotation.x == 0 && f->rotation.w == 1);
      CU_ASSERT(f->scale.x == 1 && f->scale.y == 1 && f->scale.z == 1);
      CU_ASSERT(f->color.r == 1 && f->color.a == 1);
    } else if (o->snap.kind == KEEL_OBJECT_CAMERA) {
      CU_ASSERT(f->target.x == 0 && f->target.y == 0 && f->target.z == -1);
      CU_ASSERT(f->fov_degrees == 60);
    } else {
      CU_ASSERT_EQUAL(f->mask, KEEL_FIELD_LIGHT_KIND | KEEL_FIELD_POSITION | KEEL_FIELD_COLOR |
                                   KEEL_FIELD_INTENSITY | KEEL_FIELD_RANGE);
      CU_ASSERT_EQUAL(f->light_kind, KEEL_LIGHT_POINT);
      CU_ASSERT(f->intensity == 1 && f->range == 10 && f->color.b == 1);
    }
  }
  CU_ASSERT_EQUAL(t.fh->commands, 3);
  jt_close(&t);
}

static void test_update_sends_only_given_fields(void) {
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "var e = entity.create({mesh: 'plane'});\n"
                                     "entity.update(e, {color: {r: 0, g: 0, b: 1}});\n"
                                     "log.info('get', entity.get(e).color.b, entity.get(e).color.a, "
                                     "entity.get(123456789), entity.count());\n",
                                 NULL),
                        KEEL_OK);
  JT_ASSERT_LOG(&t, "INFO: get 1 1 null 1");
  jt_close(&t);
}

/* ---- errors with file:line ---- */

static void test_syntax_error(void) {
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "@syntax", NULL), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:4: SyntaxError:");
  JT_ASSERT_LOG(&t, "ERROR: loading the main script: main.js:4: SyntaxError:");
  CU_ASSERT_EQUAL(jt_stats(&t).errors, 1);
  /* Nothing was defined, but the runtime goes on ticking. */
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  jt_close(&t);
}

static void test_runtime_errors_each_tick(void) {
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "@errors", NULL), KEEL_OK);
  static const char *const want[] = {
      NULL,
      "main.js:20: ReferenceError: identifier 'undefined_function' undefined",
      "main.js:21: TypeError:",
      "main.js:22: plain error",
      "main.js:23: a string",
      "main.js:10: RangeError: deep in helper",
      "main.js:25: entity.create: unknown field 'positon'",
      NULL,
  };
  for (int i = 0; i < 8; i++) {
    keel_result r = jt_tick(&t);
    char ticks[32];
    snprintf(ticks, sizeof ticks, "INFO: ticks=%d", i + 1);
    JT_ASSERT_LOG(&t, ticks); /* every tick ran, the ones after errors too */
    if (!want[i]) {
      CU_ASSERT_EQUAL(r, KEEL_OK);
      continue;
    }
    CU_ASSERT_EQUAL(r, KEEL_ERR_SCRIPT);
    KT_ASSERT_CONTAINS(t.err.text, want[i]);
    char line[128];
    snprintf(line, sizeof line, "ERROR: update(dt): %s", want[i]);
    JT_ASSERT_LOG(&t, line);
  }
  /* The stack of the nested error names both frames with their lines. */
  JT_ASSERT_LOG(&t, "at helper (main.js:10)");
  JT_ASSERT_LOG(&t, "at nested (main.js:14)");
  JT_ASSERT_LOG(&t, "at update (main.js:25)");
  /* The API function shows in the stack by name. */
  JT_ASSERT_LOG(&t, "    at entity.create (native)\n    at update (main.js:25)");
  keel_script_stats st = jt_stats(&t);
  CU_ASSERT_EQUAL(st.errors, 6);
  CU_ASSERT_EQUAL(st.interrupts, 0);
  jt_close(&t);
}

/* ---- argument errors: every API function, the texts of docs/scripting.md ---- */

typedef struct jt_case {
  const char *call;
  const char *message; /* after "main.js:4: " */
} jt_case;

static const jt_case jt_arg_cases[] = {
    {"entity.create(5)", "entity.create: argument 'desc' must be a table, got number"},
    {"entity.create()", "entity.create: argument 'desc' must be a table, got nil"},
    {"entity.create(null)", "entity.create: argument 'desc' must be a table, got nil"},
    {"entity.create('cube')", "entity.create: argument 'desc' must be a table, got string"},
    {"entity.create(function () {})", "entity.create: argument 'desc' must be a table, got function"},
    {"entity.create({}, 'x')", "entity.create: argument 'on_created' must be a function, got string"},
    {"entity.create({}, {})", "entity.create: argument 'on_created' must be a function, got table"},
    {"entity.create({positon: {x: 1, y: 2, z: 3}})", "entity.create: unknown field 'positon'"},
    {"entity.create({position: 5})", "entity.create: field 'position' must be a table {x, y, z}, got number"},
    {"entity.create({position: {x: 1, z: 3}})", "entity.create: field 'position.y' must be a number, got nil"},
    {"entity.create({position: {x: 1, y: '2', z: 3}})", "entity.create: field 'position.y' must be a number, got string"},
    {"entity.create({position: {x: 1, y: 2, z: null}})", "entity.create: field 'position.z' must be a number, got nil"},
    {"entity.create({scale: [1, 2, 3]})", "entity.create: field 'scale.x' must be a number, got nil"},
    {"entity.create({rotation: 'q'})", "entity.create: field 'rotation' must be a table {x, y, z, w}, got string"},
    {"entity.create({rotation: {x: 0, y: 0, z: 0}})", "entity.create: field 'rotation.w' must be a number, got nil"},
    {"entity.create({color: true})", "entity.create: field 'color' must be a table {r, g, b [, a]}, got boolean"},
    {"entity.create({color: {r: 1, g: 1}})", "entity.create: field 'color.b' must be a number, got nil"},
    {"entity.create({color: {r: 1, g: 1, b: 1, a: 'x'}})", "entity.create: field 'color.a' must be a number, got string"},
    {"entity.create({mesh: 3})", "entity.create: field 'mesh' must be a string, got number"},
    {"entity.create({mesh: new Array(33).join('m')})", "entity.create: field 'mesh' is longer than 31 bytes"},
    {"entity.update('a', {})", "entity.update: argument 'id' must be an integer id, got string"},
    {"entity.update(undefined, {})", "entity.update: argument 'id' must be an integer id, got nil"},
    {"entity.update(ent, null)", "entity.update: argument 'fields' must be a table, got nil"},
    {"entity.update(ent, 7)", "entity.update: argument 'fields' must be a table, got number"},
    {"entity.update(ent, {fov: 3})", "entity.update: unknown field 'fov'"},
    {"entity.update(ent, {rotation: 'r'})", "entity.update: field 'rotation' must be a table {x, y, z, w}, got string"},
    {"entity.update(42, {})", "entity.update: id 42 is not a live entity"},
    {"entity.update(0, {})", "entity.update: id 0 is not a live entity"},
    {"entity.update(-3, {})", "entity.update: id -3 is not a live entity"},
    {"entity.update(1.5, {})", "entity.update: id 1.5 is not a live entity"},
    {"entity.update(Math.pow(2, 60), {})", "entity.update: id 1152921504606846976 is not a live entity"},
    {"entity.destroy({})", "entity.destroy: argument 'id' must be an integer id, got table"},
    {"entity.destroy(true)", "entity.destroy: argument 'id' must be an integer id, got boolean"},
    {"entity.get('x')", "entity.get: argument 'id' must be an integer id, got string"},
    {"entity.get()", "entity.get: argument 'id' must be an integer id, got nil"},
    {"camera.create(1)", "camera.create: argument 'desc' must be a table, got number"},
    {"camera.create({fov: 'wide'})", "camera.create: field 'fov' must be a number, got string"},
    {"camera.create({target: 1})", "camera.create: field 'target' must be a table {x, y, z}, got number"},
    {"camera.create({mesh: 'cube'})", "camera.create: unknown field 'mesh'"},
    {"camera.create({}, 3)", "camera.create: argument 'on_created' must be a function, got number"},
    {"camera.update(cam, {fov: null})", "camera.update: field 'fov' must be a number, got nil"},
    {"camera.update('c', {})", "camera.update: argument 'id' must be an integer id, got string"},
    {"camera.set_active('x')", "camera.set_active: argument 'id' must be an integer id, got string"},
    {"camera.set_active(42)", "camera.set_active: id 42 is not a live camera"},
    {"camera.destroy([])", "camera.destroy: argument 'id' must be an integer id, got table"},
    {"camera.destroy(42)", "camera.destroy: id 42 is not a live camera"},
    {"light.create('sun')", "light.create: argument 'desc' must be a table, got string"},
    {"light.create({kind: 'spot'})", "light.create: field 'kind' must be \"point\" or \"directional\", got \"spot\""},
    {"entity.create({layer: 'hud'})", "entity.create: field 'layer' must be \"world\" or \"screen\", got \"hud\""},
    {"entity.create({layer: 1})", "entity.create: field 'layer' must be \"world\" or \"screen\", got number"},
    {"light.create({layer: 'screen'})", "light.create: unknown field 'layer'"},
    {"light.create({kind: 3})", "light.create: field 'kind' must be \"point\" or \"directional\", got number"},
    {"light.create({color: false})", "light.create: field 'color' must be a table {r, g, b [, a]}, got boolean"},
    {"light.create({intensity: 'x'})", "light.create: field 'intensity' must be a number, got string"},
    {"light.create({range: {}})", "light.create: field 'range' must be a number, got table"},
    {"light.create({mesh: 'cube'})", "light.create: unknown field 'mesh'"},
    {"light.update(lit, {fov: 1})", "light.update: unknown field 'fov'"},
    {"light.update(null, {})", "light.update: argument 'id' must be an integer id, got nil"},
    {"light.destroy(42)", "light.destroy: id 42 is not a live light"},
    {"light.destroy('l')", "light.destroy: argument 'id' must be an integer id, got string"},
    /* NaN and infinity never reach the engine; names and values with NUL bytes are refused whole. */
    {"entity.create({position: {x: NaN, y: 0, z: 0}})", "entity.create: field 'position.x' must be a finite number, got nan"},
    {"entity.create({scale: {x: 1, y: Infinity, z: 1}})", "entity.create: field 'scale.y' must be a finite number, got inf"},
    {"camera.create({fov: 1e39})", "camera.create: field 'fov' is out of range (beyond +-3.4e38), got 1e+39"},
    {"light.create({range: -Infinity})", "light.create: field 'range' must be a finite number, got -inf"},
    {"entity.update(ent, {rotation: {x: 0, y: 0, z: 0, w: 0 / 0}})",
     "entity.update: field 'rotation.w' must be a finite number, got nan"},
    {"entity.create({mesh: 'cube\\0x'})", "entity.create: field 'mesh' contains a NUL byte"},
    {"cvar.set('r_fov\\0x', 3)", "cvar.set: argument 'name' contains a NUL byte"},
    {"cvar.get('r_fov\\0x')", "cvar.get: argument 'name' contains a NUL byte"},
    {"cvar.on_change('r_fov\\0x', function () {})", "cvar.on_change: argument 'name' contains a NUL byte"},
    {"cvar.set('player_name', 'a\\0b')", "cvar.set: argument 'value' contains a NUL byte"},
    {"entity.create({'mesh\\0x': 'cube'})", "entity.create: unknown field 'mesh' (the name contains a NUL byte)"},
    {"light.create({'range\\0': 3})", "light.create: unknown field 'range' (the name contains a NUL byte)"},
    {"cvar.get()", "cvar.get: argument 'name' must be a string, got nil"},
    {"cvar.get(5)", "cvar.get: argument 'name' must be a string, got number"},
    {"cvar.get('r_vsnyc')", "cvar.get: unknown cvar 'r_vsnyc'"},
    {"cvar.set(1, 2)", "cvar.set: argument 'name' must be a string, got number"},
    {"cvar.set('r_fov', {})", "cvar.set: argument 'value' must be a boolean, number or string, got table"},
    {"cvar.set('r_fov')", "cvar.set: argument 'value' must be a boolean, number or string, got nil"},
    {"cvar.set('r_fov', 'abc')", "cvar.set: cvar 'r_fov': bad value 'abc'"},
    {"cvar.set('r_fov', 1.5)", "cvar.set: cvar 'r_fov': bad value '1.5'"},
    {"cvar.set('nope', 1)", "cvar.set: unknown cvar 'nope'"},
    {"cvar.on_change('r_fov', 5)", "cvar.on_change: argument 'fn' must be a function, got number"},
    {"cvar.on_change('r_fov')", "cvar.on_change: argument 'fn' must be a function, got nil"},
    {"cvar.on_change(null, function () {})", "cvar.on_change: argument 'name' must be a string, got nil"},
    {"cvar.on_change('r_vsnyc', function () {})", "cvar.on_change: unknown cvar 'r_vsnyc'"},
};

/* Each call fails on tick 2 at line 4; ticks 1 and 3 run normally. */
static void jt_run_arg_case(const char *call, const char *message) {
  char src[1024];
  snprintf(src, sizeof src,
           "var ticks = 0, ent = entity.create({}), cam = camera.create({}), lit = light.create({});\n"
           "function update(dt) {\n"
           "  ticks++; log.info('ticks=' + ticks);\n"
           "  if (ticks === 2) { %s; }\n"
           "}\n",
           call);
  jt t;
  if (jt_start(&t, src, NULL) != KEEL_OK) {
    fprintf(stderr, "init failed for %s: %s\n", call, t.err.text);
    CU_FAIL("init failed");
    jt_close(&t);
    return;
  }
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  keel_result r = jt_tick(&t);
  char want[512];
  snprintf(want, sizeof want, "main.js:4: %s", message);
  /* The whole first line must match; the stack follows on the next lines. */
  size_t n = strlen(want);
  bool same = strncmp(t.err.text, want, n) == 0 && (t.err.text[n] == '\0' || t.err.text[n] == '\n');
  if (r != KEEL_ERR_SCRIPT || !same)
    fprintf(stderr, "\n  call: %s\n  want: %s\n  got:  %s (%s)\n", call, want, t.err.text, keel_result_name(r));
  CU_ASSERT_EQUAL(r, KEEL_ERR_SCRIPT);
  CU_ASSERT(same);
  char line[600];
  snprintf(line, sizeof line, "ERROR: update(dt): %s", want);
  JT_ASSERT_LOG(&t, line);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  JT_ASSERT_LOG(&t, "INFO: ticks=3");
  CU_ASSERT_EQUAL(jt_stats(&t).errors, 1);
  jt_close(&t);
}

static void test_argument_errors(void) {
  for (size_t i = 0; i < sizeof jt_arg_cases / sizeof jt_arg_cases[0]; i++)
    jt_run_arg_case(jt_arg_cases[i].call, jt_arg_cases[i].message);
}

static void test_destroyed_id(void) {
  jt t;
  const char *src =
      "var ticks = 0, e = entity.create({}), id_text = String(e);\n"
      "function update(dt) {\n"
      "  ticks++; log.info('ticks=' + ticks);\n"
      "  if (ticks === 1) entity.destroy(e);\n"
      "  if (ticks === 2) entity.update(e, {scale: {x: 1, y: 1, z: 1}});\n"
      "  if (ticks === 3) entity.destroy(e);\n"
      "  if (ticks === 4) log.info('get', entity.get(e));\n"
      "}\n";
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, src, NULL), KEEL_OK);
  uint64_t id = 0;
  for (uint32_t i = 0; i < FAKE_MAX_OBJECTS; i++)
    if (t.fh->objects[i].live) id = t.fh->objects[i].snap.id;
  CU_ASSERT_FATAL(id != 0);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  char want[128];
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  snprintf(want, sizeof want, "main.js:5: entity.update: id %llu is not a live entity", (unsigned long long)id);
  KT_ASSERT_CONTAINS(t.err.text, want);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  snprintf(want, sizeof want, "main.js:6: entity.destroy: id %llu is not a live entity", (unsigned long long)id);
  KT_ASSERT_CONTAINS(t.err.text, want);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  JT_ASSERT_LOG(&t, "INFO: get null");
  JT_ASSERT_LOG(&t, "INFO: ticks=4");
  jt_close(&t);
}

/* The world refusing for its own reasons: full queue, no ids, anything else. */
static keel_id jt_no_ids(void *ctx, keel_object_kind kind) {
  (void)ctx, (void)kind;
  return KEEL_ID_INVALID;
}
static keel_result jt_refuse(void *ctx, const keel_command *c) {
  (void)ctx, (void)c;
  return KEEL_ERR_INVALID_ARGUMENT;
}

static void test_world_refusals(void) {
  jt t;
  const char *two =
      "var ticks = 0;\n"
      "function update(dt) {\n"
      "  ticks++; log.info('ticks=' + ticks);\n"
      "  entity.create({}, function (id, err) { log.info('cb', err); }); entity.create({}, function () { log.info('never'); });\n"
      "}\n";
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, two, NULL), KEEL_OK);
  t.fh->queue_limit = 1; /* the fake refuses the second push of a tick with KEEL_ERR_FULL */
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:4: entity.create: command queue full\n");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  JT_ASSERT_LOG(&t, "INFO: ticks=2");
  JT_ASSERT_LOG(&t, "INFO: cb null"); /* the accepted create's callback fires */
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  JT_ASSERT_NO_LOG(&t, "never"); /* the refused one's never does */
  CU_ASSERT_EQUAL(fake_host_count(t.fh, KEEL_OBJECT_ENTITY), 3);
  t.fh->world.id_reserve = jt_no_ids;
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:4: entity.create: no free entity id");
  jt_close(&t);

  const char *upd =
      "var e = entity.create({});\n"
      "function update(dt) {\n"
      "  entity.update(e, {});\n"
      "}\n";
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, upd, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  t.fh->world.command_push = jt_refuse;
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:3: entity.update: command refused (KEEL_ERR_INVALID_ARGUMENT)");
  jt_close(&t);
}

/* ---- cvars and log ---- */

static void test_cvars_and_on_change_order(void) {
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "@cvars", NULL), KEEL_OK);
  JT_ASSERT_LOG(&t, "INFO: get 60 number true 0.5 Ada");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  /* The values as text the way the doc says: integers bare, floats %.17g. */
  CU_ASSERT_EQUAL(t.fh->cvar_values[0].i, 75);
  CU_ASSERT_STRING_EQUAL(t.fh->cvar_values[0].text, "75");
  CU_ASSERT_STRING_EQUAL(t.fh->cvar_values[1].text, "false");
  CU_ASSERT_STRING_EQUAL(t.fh->cvar_values[2].text, "0.25");
  CU_ASSERT_STRING_EQUAL(t.fh->cvar_values[3].text, "Grace");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT); /* h2 throws */
  KT_ASSERT_CONTAINS(t.err.text, "main.js:11: h2 failed");
  int h1 = jt_log_find(&t, "INFO: h1 75 r_fov", 0);
  int h2 = jt_log_find(&t, "INFO: h2 75 r_fov", 0);
  int e2 = jt_log_find(&t, "ERROR: cvar.on_change handler for 'r_fov': main.js:11: h2 failed", 0);
  int h3 = jt_log_find(&t, "INFO: h3 75 r_fov", 0);
  int vs = jt_log_find(&t, "INFO: vsync false boolean", 0);
  int up = jt_log_find(&t, "INFO: ticks=2", 0);
  CU_ASSERT(h1 >= 0 && h1 < h2 && h2 < e2 && e2 < h3 && h3 < vs && vs < up);
  if (!(h1 >= 0 && h1 < h2 && h2 < e2 && e2 < h3 && h3 < vs && vs < up)) fake_host_log_dump(t.fh);
  keel_script_stats st = jt_stats(&t);
  CU_ASSERT_EQUAL(st.errors, 1);
  jt_close(&t);
}

static void test_cvar_set_formats(void) {
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "cvar.set('g_speed', 0.1); log.info(cvar.get('g_speed'));\n"
                                     "cvar.set('g_speed', 3); cvar.set('r_fov', -2);\n",
                                 NULL),
                        KEEL_OK);
  CU_ASSERT_STRING_EQUAL(t.fh->cvar_values[2].text, "3");
  CU_ASSERT_STRING_EQUAL(t.fh->cvar_values[0].text, "-2");
  JT_ASSERT_LOG(&t, "INFO: 0.1"); /* set as "0.10000000000000001", read back as 0.1 */
  jt_close(&t);
}

/* A host that refuses without saying why, or cannot read a cvar. */
static keel_result jt_silent_refusal(const keel_host *h, const char *name, const char *value, keel_message *error) {
  (void)h, (void)name, (void)value, (void)error;
  return KEEL_ERR_INVALID_ARGUMENT;
}
static keel_result jt_unreadable(const keel_host *h, const char *name, keel_cvar_value *out) {
  (void)h, (void)name, (void)out;
  return KEEL_ERR_UNSUPPORTED;
}

static void test_cvar_host_refusals(void) {
  jt t;
  const char *src =
      "var ticks = 0;\n"
      "function update(dt) {\n"
      "  ticks++; log.info('ticks=' + ticks);\n"
      "  if (ticks === 1) cvar.set('r_fov', 300);\n"
      "  if (ticks === 2) cvar.get('r_fov');\n"
      "  if (ticks === 3) cvar.on_change('r_fov', function () {});\n"
      "}\n";
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, src, NULL), KEEL_OK);
  t.fh->host.cvar_set = jt_silent_refusal;
  t.fh->host.cvar_get = jt_unreadable;
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:4: cvar.set: cvar 'r_fov' refused '300' (KEEL_ERR_INVALID_ARGUMENT)");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:5: cvar.get: cannot read cvar 'r_fov' (KEEL_ERR_UNSUPPORTED)");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:6: cvar.on_change: unknown cvar 'r_fov'");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  JT_ASSERT_LOG(&t, "INFO: ticks=4");
  jt_close(&t);
}

static void test_log_levels_and_joining(void) {
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "log.info('a', 1, true, null, undefined, {}, [1, 2], Symbol('s'));\n"
                                     "log.warn('w'); log.error('e', 2.5); log.info();\n"
                                     "log.info({toString: function () { return 'custom'; }});\n",
                                 NULL),
                        KEEL_OK);
  JT_ASSERT_LOG(&t, "INFO: a 1 true null undefined [object Object] 1,2 Symbol(s)");
  JT_ASSERT_LOG(&t, "WARN: w");
  JT_ASSERT_LOG(&t, "ERROR: e 2.5");
  JT_ASSERT_LOG(&t, "INFO: custom");
  CU_ASSERT_EQUAL(t.fh->log_errors, 1);
  jt_close(&t);
}

/* ---- limits ---- */

static void jt_set_case(jt *t, const char *name) { t->fh->host.cvar_set(&t->fh->host, "player_name", name, NULL); }

/* Runs one runaway case on tick n and checks the next tick runs. How long
 * the stop took is not asserted (a busy machine stretches it); that the
 * case ends at all is, by the test's timeout. */
static void jt_limit_case(jt *t, const char *name, const char *message) {
  jt_set_case(t, name);
  keel_result r = jt_tick(t);
  if (r != KEEL_ERR_SCRIPT || !strstr(t->err.text, message))
    fprintf(stderr, "\n  case %s: want '%s', got %s '%s'\n", name, message, keel_result_name(r), t->err.text);
  CU_ASSERT_EQUAL(r, KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t->err.text, message);
  uint32_t before = t->fh->log_count;
  CU_ASSERT_EQUAL(jt_tick(t), KEEL_OK);
  CU_ASSERT(t->fh->log_count > before); /* the next tick logged its ticks= line */
}

static void test_watchdog_stops_runaway_loops(void) {
  keel_script_desc d;
  jt_desc_defaults(&d);
  d.tick_budget_ms = 100;
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "@limits", &d), KEEL_OK);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  jt_limit_case(&t, "loop", "main.js:19: tick budget of 100 ms exceeded");
  jt_limit_case(&t, "swallow", "main.js:20: tick budget of 100 ms exceeded");
  jt_limit_case(&t, "finally", "main.js:21: tick budget of 100 ms exceeded");
  /* Script code the runtime itself calls: a getter read by entity.create and
   * the toString of a thrown object, run while describing the error. */
  jt_limit_case(&t, "getter_loop", "main.js:27: tick budget of 100 ms exceeded");
  jt_limit_case(&t, "tostring_loop", "tick budget of 100 ms exceeded");
  JT_ASSERT_LOG(&t, "ERROR: update(dt): main.js:19: tick budget of 100 ms exceeded");
  JT_ASSERT_LOG(&t, "at update (main.js:19)");
  keel_script_stats st = jt_stats(&t);
  CU_ASSERT_EQUAL(st.interrupts, 5);
  CU_ASSERT_EQUAL(st.errors, 5);
  jt_close(&t);
}

/* The budget is per tick: a callback that spends it ends the tick. */
static void test_budget_spent_in_a_callback(void) {
  keel_script_desc d;
  jt_desc_defaults(&d);
  d.tick_budget_ms = 100;
  jt t;
  const char *src =
      "var ticks = 0;\n"
      "function init() {\n"
      "  entity.create({}, function () { for (;;) {} });\n"
      "  entity.create({}, function () { log.info('second callback'); });\n"
      "}\n"
      "function update(dt) { ticks++; log.info('ticks=' + ticks); }\n";
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, src, &d), KEEL_OK);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:3: tick budget of 100 ms exceeded");
  JT_ASSERT_LOG(&t, "WARN: 1 event(s) of this tick not delivered and update(dt) not called: the tick was stopped");
  JT_ASSERT_NO_LOG(&t, "ticks=1");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  JT_ASSERT_LOG(&t, "INFO: ticks=1");
  JT_ASSERT_NO_LOG(&t, "second callback"); /* dropped, its slot freed */
  CU_ASSERT_EQUAL(jt_stats(&t).interrupts, 1);
  jt_close(&t);
}

/* The budget counts the script thread's CPU time: wall-clock time that
 * passes without CPU (a busy machine; here a host call that sleeps) does not
 * stop an innocent tick, and the wall-clock backstop still does. A CPU loop
 * never stops before its budget. */
static void test_budget_is_cpu_time(void) {
  keel_script_desc d;
  jt_desc_defaults(&d);
  d.tick_budget_ms = 50;
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t,
                                 "var step = 0;\n" /* 300 ms of wall-clock time, a 50 ms budget */
                                 "function update() {\n"
                                 "  step++; var n = step === 1 ? 60 : step === 2 ? 400 : 0; for (var i = 0; i < n; i++) log.info('@sleep-ms:5');\n"
                                 "\n"
                                 "  if (step === 3) for (;;) {}\n"
                                 "}\n",
                                 &d),
                        KEEL_OK);
  keel_result r = jt_tick(&t);
  if (r != KEEL_OK) fprintf(stderr, "\ninnocent tick stopped: %s\n", t.err.text);
  CU_ASSERT_EQUAL(r, KEEL_OK);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT); /* 2 s: past the 1.5 s backstop */
  KT_ASSERT_CONTAINS(t.err.text, "main.js:3: tick stopped after 1500 ms of wall-clock time (the backstop of a 50 ms budget)");
  uint64_t t0 = kt_now_ns();
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT); /* n = 0: a CPU loop */
  CU_ASSERT(kt_now_ns() - t0 >= 50000000u);     /* never before its budget */
  KT_ASSERT_CONTAINS(t.err.text, "main.js:5: tick budget of 50 ms exceeded");
  jt_close(&t);
}

/* Loading is not a tick: compiling and running main.js, then init(), get
 * load_budget_ms. 400 KB of functions, as a real library pasted in. */
static void test_load_budget(void) {
  size_t cap = 600000;
  char *src = malloc(cap);
  CU_ASSERT_PTR_NOT_NULL_FATAL(src);
  size_t n = 0;
  for (int i = 0; n + 200 < cap - 200; i++)
    n += (size_t)snprintf(src + n, cap - n, "function f%d(a, b) { var x = a * %d + b; return x > 0 ? x : -x; }\n", i, i);
  snprintf(src + n, cap - n, "var s = 0; for (var i = 0; i < 3e6; i++) s += i;\nfunction init() {}\n");
  keel_script_desc d;
  jt_desc_defaults(&d);
  d.tick_budget_ms = 20;
  d.load_budget_ms = 60000;
  jt t;
  keel_result r = jt_start(&t, src, &d);
  if (r != KEEL_OK) fprintf(stderr, "\nload stopped: %s\n", t.err.text);
  CU_ASSERT_EQUAL(r, KEEL_OK);
  jt_close(&t);
  d.tick_budget_ms = 60000;
  d.load_budget_ms = 20;
  CU_ASSERT_EQUAL(jt_start(&t, src, &d), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "load budget of 20 ms exceeded");
  jt_close(&t);
  free(src);
}

/* Built-ins that run long in C are checked too: a loop of joins of a big
 * array and a loop of costly regexps stop at the budget, and so does one
 * join of 2^32-1 elements; the script sees a RangeError it cannot keep. */
/* A main script that is not a regular file is refused with the reason,
 * never waited on or read without end. */
static void test_main_not_regular_file(void) {
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_open(&t, "", NULL), true);
  unlink(t.main_path);
  CU_ASSERT_EQUAL_FATAL(mkfifo(t.main_path, 0600), 0);
  CU_ASSERT_EQUAL(jt_api->init(t.s, &t.err), KEEL_ERR_IO);
  KT_ASSERT_CONTAINS(t.err.text, "main.js: it is a FIFO, not a regular file");
  unlink(t.main_path);
  jt_close(&t);
}

static void test_costly_builtins_stop(void) {
  keel_script_desc d;
  jt_desc_defaults(&d);
  d.tick_budget_ms = 50;
  d.load_budget_ms = 60000; /* building the array is not under test (TSan makes it slow) */
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t,
                                 "var big = []; for (var i = 0; i < 16384; i++) big.push('abcdefgh' + i);\n"
                                 "var c = 0;\n"
                                 "function update() {\n"
                                 "  c++;\n"
                                 "  if (c === 1) for (;;) big.join(',');\n"
                                 "  if (c === 2) for (;;) /(a+)+b/.test('aaaaaaaaaaaaaaaaaaaaaaaaa');\n"
                                 "  if (c === 3) new Array(Math.pow(2, 32) - 1).join('x');\n"
                                 "  if (c === 4) for (;;) { try { big.join(','); } catch (e) {} }\n"
                                 "}\n",
                                 &d),
                        KEEL_OK);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:5: tick budget of 50 ms exceeded");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:6: tick budget of 50 ms exceeded");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:7: tick budget of 50 ms exceeded");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:8: tick budget of 50 ms exceeded");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  CU_ASSERT_EQUAL(jt_stats(&t).interrupts, 4);
  jt_close(&t);
}

/* The Array.prototype methods walk an array's length in C, holes included,
 * and run no bytecode while they do: each of these is one call that ran for
 * minutes past the budget (the engine then gave the worker up and exited
 * with 1), or seconds until the memory cap (CBOR.encode, JSON.stringify).
 * They stop at the budget, at the script's line. */
static void test_array_walks_stop(void) {
  keel_script_desc d;
  jt_desc_defaults(&d);
  d.tick_budget_ms = 50;
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t,
                                 "var N = Math.pow(2, 32) - 1, M = Math.pow(2, 31) - 1;\n"
                                 "var c = 0, id = function (x) { return x; };\n"
                                 "function update() {\n"
                                 "  c++;\n"
                                 "  if (c === 1) [].concat(new Array(N));\n"
                                 "  if (c === 2) new Array(N).forEach(id);\n"
                                 "  if (c === 3) new Array(N).map(id);\n"
                                 "  if (c === 4) new Array(M).indexOf(1);\n"
                                 "  if (c === 5) new Array(M).lastIndexOf(1);\n"
                                 "  if (c === 6) new Array(N).reduce(id, 0);\n"
                                 "  if (c === 7) Array.prototype.reverse.call({length: N});\n"
                                 "  if (c === 8) new Array(M).slice(0);\n"
                                 "  if (c === 9) Array.prototype.shift.call({length: N});\n"
                                 "  if (c === 10) Array.prototype.unshift.call({length: M}, 1);\n"
                                 "  if (c === 11) Array.prototype.splice.call({length: M}, 0, 1);\n"
                                 "  if (c === 12) Array.prototype.splice.call({length: M}, 0, 0, 1);\n"
                                 "  if (c === 13) Array.prototype.splice.call({length: M}, 0, M);\n"
                                 "  if (c === 14) CBOR.encode(new Array(N));\n"
                                 "  if (c === 15) JSON.stringify(new Array(N));\n"
                                 "}\n",
                                 &d),
                        KEEL_OK);
  for (int c = 1; c <= 15; c++) {
    CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
    char want[64];
    snprintf(want, sizeof want, "main.js:%d: tick budget of 50 ms exceeded", c + 4);
    KT_ASSERT_CONTAINS(t.err.text, want);
  }
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  CU_ASSERT_EQUAL(jt_stats(&t).interrupts, 15);
  jt_close(&t);
}

static void test_instruction_budget(void) {
  keel_script_desc d;
  jt_desc_defaults(&d);
  d.tick_budget_ms = 0; /* only the instruction budget */
  d.instruction_budget = 1000000;
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "var n = 0;\nfunction update() {\n  n++; if (n === 2) for (;;) {}\n"
                                     "  for (var i = 0; i < 1000; i++) {}\n  log.info('ok', n);\n}\n",
                                 &d),
                        KEEL_OK);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:3: instruction budget of 1000000 exceeded");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  JT_ASSERT_LOG(&t, "INFO: ok 3");
  jt_close(&t);
}

static void test_memory_cap(void) {
  keel_script_desc d;
  jt_desc_defaults(&d);
  d.memory_limit_mb = 16;
  d.tick_budget_ms = 20000; /* the cap must stop these, not the watchdog */
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "@limits", &d), KEEL_OK);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  jt_limit_case(&t, "array_bomb", "main.js:22: not enough memory");
  keel_script_stats st = jt_stats(&t);
  CU_ASSERT(st.memory_refusals > 0);
  CU_ASSERT(st.memory_bytes < 16u * 1024u * 1024u);
  uint64_t refusals = st.memory_refusals;
  /* The bomb's memory is reclaimable: a 4 MB string (8 MB and more while
   * repeat() builds it) fits again right after it. */
  jt_set_case(&t, "alloc4");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  JT_ASSERT_LOG(&t, "INFO: big 4194304");
  jt_limit_case(&t, "string_bomb", "main.js:23: not enough memory");
  CU_ASSERT(jt_stats(&t).memory_refusals > refusals);
  JT_ASSERT_LOG(&t, "ERROR: update(dt): main.js:22: not enough memory");
  jt_close(&t);
}

static void test_deep_recursion(void) {
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "@limits", NULL), KEEL_OK);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  jt_limit_case(&t, "recursion", "main.js:7: stack overflow");
  jt_limit_case(&t, "native_recursion", "main.js:11: stack overflow");
  jt_limit_case(&t, "compiler_recursion", ": stack overflow");
  JT_ASSERT_LOG(&t, "at recurse (main.js:7)");
  jt_close(&t);
}

static void test_heap_too_small(void) {
  jt t;
  memset(&t, 0, sizeof t);
  keel_script_desc d;
  jt_desc_defaults(&d);
  d.memory_limit_mb = 1;
  /* A fresh heap with the API needs well under 1 MB; a 2 MB string does not fit. */
  CU_ASSERT_EQUAL(jt_start(&t, "var big = 'x'.repeat(2 << 20);", &d), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "not enough memory");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  jt_close(&t);
}

/* ---- sandbox ---- */

static void test_sandbox(void) {
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "@sandbox", NULL), KEEL_OK);
  JT_ASSERT_LOG(&t, "INFO: reachable: none");
  JT_ASSERT_LOG(&t, "INFO: via Function: undefined undefined");
  /* What is left: the standard built-ins and the API, nothing of Duktape's. */
  JT_ASSERT_LOG(&t, "INFO: globals: Array,ArrayBuffer,Boolean,Buffer,CBOR,DataView,Date,Error,EvalError,"
                    "Float32Array");
  JT_ASSERT_LOG(&t, "INFO: globals: Float64Array,Function,Infinity,Int16Array,Int32Array,Int8Array,JSON,Math,NaN,"
                    "Number");
  JT_ASSERT_LOG(&t, "INFO: globals: Object,Proxy,RangeError,ReferenceError,Reflect,RegExp,String,Symbol,"
                    "SyntaxError,TextDecoder");
  JT_ASSERT_LOG(&t, "INFO: globals: TextEncoder,TypeError,URIError,Uint16Array,Uint32Array,Uint8Array,"
                    "Uint8ClampedArray,camera,cvar,decodeURI");
  JT_ASSERT_LOG(&t, "INFO: globals: decodeURIComponent,encodeURI,encodeURIComponent,engine,entity,escape,eval,"
                    "globalThis,init,input");
  JT_ASSERT_LOG(&t, "INFO: globals: isFinite,isNaN,light,log,names,parseFloat,parseInt,performance,require,ticks");
  JT_ASSERT_LOG(&t, "INFO: globals: undefined,unescape,update");
  static const char *const want[] = {
      NULL,
      "main.js:22: module 'fs' not found: no file 'fs', 'fs.js', 'fs.json' or 'fs/index.js' in the game directory",
      "main.js:23: ReferenceError: identifier 'Duktape' undefined",
      "main.js:24: ReferenceError: identifier 'readFile' undefined",
      "ReferenceError: identifier 'Duktape' undefined",
      "ReferenceError: identifier 'Duktape' undefined",
      NULL,
  };
  for (int i = 0; i < 7; i++) {
    keel_result r = jt_tick(&t);
    char ticks[32];
    snprintf(ticks, sizeof ticks, "INFO: ticks=%d", i + 1);
    JT_ASSERT_LOG(&t, ticks);
    if (!want[i]) {
      CU_ASSERT_EQUAL(r, KEEL_OK);
    } else {
      CU_ASSERT_EQUAL(r, KEEL_ERR_SCRIPT);
      KT_ASSERT_CONTAINS(t.err.text, want[i]);
    }
  }
  /* eval'd code reports its own chunk and the caller in the stack. */
  JT_ASSERT_LOG(&t, "at update (main.js:25)");
  jt_close(&t);
}

/* CommonJS require, confined to the game directory with the Lua runtime's
 * rules and messages: "./" relative to the requiring module, dir/index.js,
 * .json, cycles, UMD, a module that throws is not cached, every error with
 * file:line (the module's own for its syntax errors). */
static void test_require_inside_game_dir(void) {
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "@require", NULL), KEEL_OK);
  JT_ASSERT_LOG(&t, "INFO: require 42 true undefined undefined");
  JT_ASSERT_LOG(&t, "INFO: package pack lib/pack/index.js in lib/pack");
  JT_ASSERT_LOG(&t, "INFO: json 42 umd 1.2.3");
  JT_ASSERT_LOG(&t, "INFO: cycle b a");
  JT_ASSERT_NO_LOG(&t, "setter saw");
  static const char *const want[] = {
      "main.js:23: require: module name '../outside' leaves the game directory",
      "main.js:24: require: module name '/etc/passwd' leaves the game directory",
      "main.js:25: require: module name 'lib/pack/../../../outside' leaves the game directory",
      "main.js:26: module 'lib/missing' not found: no file 'lib/missing', 'lib/missing.js', 'lib/missing.json' or "
      "'lib/missing/index.js' in the game directory",
      "lib/broken.js:2: SyntaxError: ",
      "lib/bad.json:3: SyntaxError: invalid json",
      "lib/throws.js:3: thrown at load",
      "lib/throws.js:3: thrown at load",
      "main.js:31: require: argument 'id' must be a string, got number",
      "main.js:32: require: module name 'lib\\util' leaves the game directory",
      "main.js:33: require: module name 'lib/util' leaves the game directory",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
    if (strncmp(t.err.text, want[i], strlen(want[i])) != 0) {
      fprintf(stderr, "\ntick %zu: \"%s\"\n  wanted \"%s\"\n", i + 1, t.err.text, want[i]);
      CU_FAIL("require error text");
    }
  }
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  /* One-offs have require too (their own cache, on their own heap). */
  keel_message m;
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, "require('lib/util').double(4)", &m), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(m.text, "8");
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, "require('../x')", &m), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(m.text, "exec:1: require: module name '../x' leaves the game directory");
  jt_close(&t);
}

/* A module that is a symlink out of the game directory, and one that is a
 * FIFO: refused with the reason, never read or waited on. */
static void test_require_symlink_and_fifo(void) {
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_open(&t, "var n = 0;\n"
                                    "function update() {\n"
                                    "  n++;\n"
                                    "  if (n === 1) require('evil');\n"
                                    "  if (n === 2) require('./pipe');\n"
                                    "}\n",
                                NULL),
                        true);
  char link[1100], fifo[1100];
  snprintf(link, sizeof link, "%s/evil.js", t.game_dir);
  snprintf(fifo, sizeof fifo, "%s/pipe.js", t.game_dir);
  unlink(link);
  unlink(fifo);
  CU_ASSERT_EQUAL_FATAL(symlink(KEEL_TEST_SOURCE_DIR "/tests/scripts/js/require/lib/util.js", link), 0);
  CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0600), 0);
  CU_ASSERT_EQUAL_FATAL(jt_api->init(t.s, &t.err), KEEL_OK);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:4: require: module 'evil' resolves outside the game directory");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:5: require: cannot load ");
  KT_ASSERT_CONTAINS(t.err.text, "pipe.js: it is a FIFO, not a regular file");
  jt_close(&t);
  unlink(link);
  unlink(fifo);
}

/* ---- randomness and clocks ---- */

static void test_math_random_is_splitmix64(void) {
  keel_script_desc d;
  jt_desc_defaults(&d);
  d.seed = 0xDEADBEEFCAFEull;
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "@random", &d), KEEL_OK);
  int i = jt_log_find(&t, "INFO: random ", 0);
  CU_ASSERT_FATAL(i >= 0);
  const char *p = t.fh->log_lines[i] + strlen("INFO: random ");
  uint64_t state = d.seed;
  for (int k = 0; k < 8; k++) {
    char *end = NULL;
    double got = strtod(p, &end);
    CU_ASSERT_FATAL(end != p);
    double want = (double)(jt_splitmix64(&state) >> 11) * 0x1.0p-53;
    if (got != want) fprintf(stderr, "\n  draw %d: got %.17g want %.17g\n", k, got, want);
    CU_ASSERT(got == want); /* exact: toString round-trips a double */
    p = end;
  }
  /* One-off runs start from the configured seed every time. */
  keel_message a, b;
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, "Math.random()", &a), KEEL_OK);
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, "Math.random()", &b), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(a.text, b.text);
  state = d.seed;
  CU_ASSERT(strtod(a.text, NULL) == (double)(jt_splitmix64(&state) >> 11) * 0x1.0p-53);
  jt_close(&t);
}

static void test_lockstep_has_no_wall_clock(void) {
  keel_script_desc d;
  jt_desc_defaults(&d);
  d.lockstep = true;
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "@lockstep", &d), KEEL_OK);
  t.info.time = 12.5 - 1.0 / 60.0; /* jt_tick adds dt first */
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  JT_ASSERT_LOG(&t, "INFO: clock 12500 12500 12500 12.5 2 true");
  keel_message m;
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, "Date.now() + ' ' + new Date().toISOString()", &m), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(m.text, "12500 1970-01-01T00:00:12.500Z");
  jt_close(&t);

  /* Without lockstep the wall clock is there. */
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "@lockstep", NULL), KEEL_OK);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, "Date.now() > 1.6e12 && new Date().getFullYear() >= 2024", &m), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(m.text, "true");
  jt_close(&t);
}

/* ---- one-off ---- */

static void test_oneoff(void) {
  keel_script_desc d;
  jt_desc_defaults(&d);
  d.tick_budget_ms = 100;
  d.memory_limit_mb = 16;
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "entity.create({}); entity.create({});", &d), KEEL_OK);
  keel_message m;
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, "1 + 2", &m), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(m.text, "3");
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, "var x = {a: 1}; JSON.stringify(x)", &m), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(m.text, "{\"a\":1}");
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, "undefined", &m), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(m.text, "undefined");
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, "entity.count() + ' ' + cvar.get('r_fov') + ' ' + engine.frame()", &m),
                  KEEL_OK);
  CU_ASSERT_STRING_EQUAL(m.text, "2 60 0");
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, "cvar.set('r_fov', 90); log.info('from oneoff'); 'done'", &m), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(m.text, "done");
  CU_ASSERT_EQUAL(t.fh->cvar_values[0].i, 90);
  JT_ASSERT_LOG(&t, "INFO: from oneoff");
  /* No command senders, no on_change: the world is the game worker's. */
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s,
                                     "[typeof entity.create, typeof entity.update, typeof entity.destroy, typeof "
                                     "camera, typeof light, typeof cvar.on_change, typeof entity.get, typeof "
                                     "Duktape, typeof require].join()",
                                     &m),
                  KEEL_OK);
  CU_ASSERT_STRING_EQUAL(m.text, "undefined,undefined,undefined,undefined,undefined,undefined,function,undefined,function");
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, "entity.create({})", &m), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(m.text, "exec:1: TypeError:");
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, "\nthrow new Error('nope')", &m), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(m.text, "exec:2: nope");
  JT_ASSERT_NO_LOG(&t, "nope"); /* returned, not logged: the host reports it once */
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, "1 +", &m), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(m.text, "exec:1: SyntaxError:");
  /* A result whose toString throws: returned once, never logged nor
   * counted a second time by the runtime. */
  uint64_t errors_before = jt_stats(&t).errors;
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, "({toString: function () { throw new Error('bad toString'); }})", &m),
                  KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(m.text, "exec:1: bad toString");
  CU_ASSERT_EQUAL(jt_stats(&t).errors, errors_before + 1);
  JT_ASSERT_NO_LOG(&t, "bad toString");
  JT_ASSERT_NO_LOG(&t, "invalid count");
  /* Watchdog and cap on pool heaps too. */
  uint64_t t0 = kt_now_ns();
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, "for (;;) { try { for (;;) {} } catch (e) {} }", &m), KEEL_ERR_SCRIPT);
  CU_ASSERT((kt_now_ns() - t0) / 1000000u < 2000u);
  KT_ASSERT_CONTAINS(m.text, "exec:1: tick budget of 100 ms exceeded");
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, "var s = 'x'; for (;;) s = s + s;", &m), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(m.text, "exec:1: not enough memory");
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, "'still fine'", &m), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(m.text, "still fine");
  keel_script_stats st = jt_stats(&t);
  CU_ASSERT(st.interrupts >= 1);
  CU_ASSERT(st.memory_refusals >= 1);
  CU_ASSERT(st.errors >= 6);
  /* The game heap is untouched by all this. */
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, NULL, &m), KEEL_ERR_INVALID_ARGUMENT);
  jt_close(&t);
}

/* ---- fatal errors ---- */

typedef struct jt_testing_api {
  uint32_t struct_size;
  keel_result (*install_fatal_trigger)(keel_script *s);
} jt_testing_api;

static void test_fatal_error_does_not_abort(void) {
  jt t;
  const char *src =
      "var ticks = 0;\n"
      "function update(dt) {\n"
      "  ticks++; log.info('ticks=' + ticks);\n"
      "  if (ticks === 2) [1, 2].forEach(function () { keel_test_fatal(); });\n"
      "}\n";
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, src, NULL), KEEL_OK);
  const jt_testing_api *testing = jt_manifest->get_interface("keel.script.js.testing/1");
  CU_ASSERT_PTR_NOT_NULL_FATAL(testing);
  CU_ASSERT_EQUAL_FATAL(testing->install_fatal_trigger(t.s), KEEL_OK);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_BACKEND);
  KT_ASSERT_CONTAINS(t.err.text, "keel_test_fatal() called");
  JT_ASSERT_LOG(&t, "ERROR: Duktape fatal error in the game heap, the heap is stopped: keel_test_fatal() called");
  /* The heap is dead: every later entry says so at once, nothing crashes. */
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_BACKEND);
  KT_ASSERT_CONTAINS(t.err.text, "stopped after a Duktape fatal error");
  CU_ASSERT_EQUAL(jt_api->shutdown(t.s, &t.err), KEEL_ERR_BACKEND);
  CU_ASSERT_EQUAL(testing->install_fatal_trigger(t.s), KEEL_ERR_WRONG_STATE);
  /* One-off heaps are separate and still work. */
  keel_message m;
  CU_ASSERT_EQUAL(jt_api->oneoff_run(t.s, "6 * 7", &m), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(m.text, "42");
  jt_close(&t); /* frees the dead heap's blocks without Duktape: ASan checks for leaks */
}

static void test_interrupt_when_idle_is_harmless(void) {
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, "function update() { for (var i = 0; i < 1000000; i++) {} log.info('done'); }",
                                 NULL),
                        KEEL_OK);
  jt_api->interrupt(t.s);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  JT_ASSERT_LOG(&t, "INFO: done");
  CU_ASSERT_EQUAL(jt_stats(&t).interrupts, 0);
  jt_close(&t);
}

static CU_TestInfo plugin_tests[] = {
    {"manifest and interface", test_manifest_and_interface},
    {"exports only keel_plugin_entry", test_exports_only_the_entry},
    {"create refuses a bad desc", test_create_refuses_bad_desc},
    {"memory_limit_mb 0 means no cap", test_memory_limit_too_small_for_a_heap},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo lifecycle_tests[] = {
    {"init, update, shutdown, engine.*", test_init_update_shutdown},
    {"entry points are optional", test_entry_points_are_optional},
    {"missing main script is an IO error", test_missing_main_is_io_error},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo world_tests[] = {
    {"ids at once, callbacks later with id and err", test_ids_at_once_and_callbacks},
    {"camera and light", test_camera_and_light},
    {"create fills every default", test_defaults_of_create},
    {"update sends only given fields; get and count", test_update_sends_only_given_fields},
    {"destroyed id is an error at the script's line", test_destroyed_id},
    {"world refusals: queue full, no ids, other", test_world_refusals},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo error_tests[] = {
    {"syntax error", test_syntax_error},
    {"runtime errors, one per tick", test_runtime_errors_each_tick},
    {"wrong arguments to every API function", test_argument_errors},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo cvar_log_tests[] = {
    {"cvar get/set and on_change order", test_cvars_and_on_change_order},
    {"cvar.set formats numbers", test_cvar_set_formats},
    {"host refusals without a message", test_cvar_host_refusals},
    {"log levels and joining", test_log_levels_and_joining},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo limit_tests[] = {
    {"watchdog stops runaway loops", test_watchdog_stops_runaway_loops},
    {"the budget is CPU time, with a wall-clock backstop", test_budget_is_cpu_time},
    {"loading gets load_budget_ms", test_load_budget},
    {"costly built-ins in a loop, and one huge join, stop", test_costly_builtins_stop},
    {"one call walking a huge array's length stops", test_array_walks_stop},
    {"a main script that is not a regular file", test_main_not_regular_file},
    {"budget spent in a callback ends the tick", test_budget_spent_in_a_callback},
    {"instruction budget", test_instruction_budget},
    {"memory cap", test_memory_cap},
    {"deep recursion", test_deep_recursion},
    {"main chunk over a 1 MB cap", test_heap_too_small},
    {"interrupt when idle is harmless", test_interrupt_when_idle_is_harmless},
    CU_TEST_INFO_NULL,
};
/* Whatever a script does to the built-in prototypes, the runtime's own
 * state (the callback map, the cvar handler lists) never reaches it, the
 * callbacks and handlers still run, and entity.get's tables keep their
 * fields. */
static void test_hidden_state_unreachable(void) {
  const char *src =
      "var leaked = [], calls = 0;\n"
      "function spy(v) { leaked.push(this); }\n"
      "function peek() { leaked.push(this); return undefined; }\n"
      "for (var i = 0; i < 4; i++) {\n"
      "  Object.defineProperty(Array.prototype, String(i), {set: spy, get: peek, configurable: true});\n"
      "  Object.defineProperty(Object.prototype, String(i), {set: spy, get: peek, configurable: true});\n"
      "}\n"
      "['x', 'y', 'z', 'w', 'r', 'g', 'b', 'a', 'id', 'mesh', 'position', 'length', 'count'].forEach(function (k) {\n"
      "  Object.defineProperty(Object.prototype, k, {set: spy, get: peek, configurable: true});\n"
      "});\n"
      "var id;\n"
      "function init() {\n"
      "  id = entity.create({}, function () { calls++; });\n"
      "  entity.create({}, function () { calls++; });\n"
      "  cvar.on_change('r_fov', function () { calls++; });\n"
      "  cvar.on_change('r_fov', function () { calls++; });\n"
      "}\n"
      "var n = 0;\n"
      "function update() {\n"
      "  n++;\n"
      "  if (n === 1) cvar.set('r_fov', 70);\n"
      "  var e = entity.get(id);\n"
      "  var hasOwn = Object.prototype.hasOwnProperty;\n"
      "  log.info('n', n, 'calls', calls, 'leaked', leaked.length,\n"
      "           'own', e ? hasOwn.call(e, 'id') && hasOwn.call(e, 'position') && hasOwn.call(e.position, 'x') : 'none');\n"
      "}\n";
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, src, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK); /* the callbacks run; r_fov changes */
  t.fh->objects[1].live = true;          /* the fake world published the first entity */
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK); /* the two cvar handlers run */
  JT_ASSERT_LOG(&t, "INFO: n 1 calls 2 leaked 0");
  JT_ASSERT_LOG(&t, "INFO: n 2 calls 4 leaked 0");
  jt_close(&t);
}

/* Messages keep file:line whatever is thrown and whatever the script did
 * to Error: a thrown object whose toString throws, an Error whose fileName
 * and message getters throw, Error.prototype.toString and .stack made
 * endless loops (which must not turn later errors into budget stops). */
static void test_messages_keep_file_line(void) {
  const char *src =
      "var n = 0;\n"
      "function update() {\n"
      "  n++;\n"
      "  if (n === 1) throw {toString: function () { throw new Error('no'); }};\n"
      "  if (n === 2) { var e = new Error('boom'); Object.defineProperty(e, 'fileName', {get: function () { throw 1; }}); throw e; }\n"
      "  if (n === 3) { var f = new Error('x'); Object.defineProperty(f, 'message', {get: function () { throw 2; }}); throw f; }\n"
      "  if (n === 4) { Error.prototype.toString = function () { for (;;) {} };\n"
      "                 Object.defineProperty(Error.prototype, 'stack', {get: function () { for (;;) {} }}); null.x; }\n"
      "  if (n === 6) undefined.y;\n"
      "  if (n === 7) throw 42;\n"
      "}\n";
  keel_script_desc d;
  jt_desc_defaults(&d);
  d.tick_budget_ms = 200;
  jt t;
  CU_ASSERT_EQUAL_FATAL(jt_start(&t, src, &d), KEEL_OK);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:4: (a thrown value that could not be described: its toString raised an error)");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:5: boom");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:6: (an error whose name or message could not be read");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:8: TypeError: cannot read property 'x' of null");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_OK);
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:9: TypeError: cannot read property 'y' of undefined");
  KT_ASSERT_CONTAINS(t.err.text, "    at update (main.js:9)");
  CU_ASSERT_EQUAL(jt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "main.js:10: 42");
  CU_ASSERT_EQUAL(jt_stats(&t).interrupts, 0); /* no error became a budget stop */
  jt_close(&t);
}

static CU_TestInfo sandbox_tests[] = {
    {"hidden state unreachable through the prototypes", test_hidden_state_unreachable},
    {"messages keep file:line whatever is thrown", test_messages_keep_file_line},
    {"nothing beyond the API and the built-ins", test_sandbox},
    {"require inside the game dir only", test_require_inside_game_dir},
    {"require: a symlink out and a FIFO are refused", test_require_symlink_and_fifo},
    {"Math.random is splitmix64 of the seed", test_math_random_is_splitmix64},
    {"lockstep has no wall clock", test_lockstep_has_no_wall_clock},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo oneoff_tests[] = {
    {"one-off runs", test_oneoff},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo fatal_tests[] = {
    {"a Duktape fatal error does not abort", test_fatal_error_does_not_abort},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"js_plugin", NULL, NULL, NULL, NULL, plugin_tests},
    {"js_lifecycle", NULL, NULL, NULL, NULL, lifecycle_tests},
    {"js_world", NULL, NULL, NULL, NULL, world_tests},
    {"js_errors", NULL, NULL, NULL, NULL, error_tests},
    {"js_cvar_log", NULL, NULL, NULL, NULL, cvar_log_tests},
    {"js_limits", NULL, NULL, NULL, NULL, limit_tests},
    {"js_sandbox", NULL, NULL, NULL, NULL, sandbox_tests},
    {"js_oneoff", NULL, NULL, NULL, NULL, oneoff_tests},
    {"js_fatal", NULL, NULL, NULL, NULL, fatal_tests},
    CU_SUITE_INFO_NULL,
};
