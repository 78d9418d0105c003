/* The world: ids reserved by the worker and checked against its own view,
 * commands applied on the main thread, publication, kinds kept apart, and
 * the hash that the stats report. */
#include <keel_test.h>

#include <string.h>

#include "world/world.h"

static kc_world *make_world(void) {
  kc_world *w = NULL;
  kc_world_config cfg = {.max_entities = 64, .max_cameras = 4, .max_lights = 4};
  CU_ASSERT_EQUAL_FATAL(kc_world_create(&cfg, &w, NULL), KEEL_OK);
  return w;
}

static keel_command cmd(keel_command_type type, keel_object_kind kind, keel_id id) {
  keel_command c;
  memset(&c, 0, sizeof c);
  c.type = type;
  c.kind = kind;
  c.id = id;
  return c;
}

/* Worker check then main apply, as the engine does. */
static keel_result send(kc_world *w, const keel_command *c, kc_err *err) {
  keel_result r = kc_world_check(w, c);
  return r != KEEL_OK ? r : kc_world_apply(w, c, err);
}

static void test_create_publish_get(void) {
  kc_world *w = make_world();
  keel_id id = kc_world_reserve(w, KEEL_OBJECT_ENTITY);
  CU_ASSERT_NOT_EQUAL(id, KEEL_ID_INVALID);
  CU_ASSERT(id < (1ull << 53));
  keel_command c = cmd(KEEL_CMD_CREATE, KEEL_OBJECT_ENTITY, id);
  c.fields.mask = KEEL_FIELD_MESH | KEEL_FIELD_POSITION;
  strcpy(c.fields.mesh, "sphere");
  c.fields.position = (keel_vec3){1, 2, 3};
  CU_ASSERT_EQUAL(send(w, &c, NULL), KEEL_OK);
  keel_object_snapshot s;
  /* Not visible before publication: readers see the last published state. */
  CU_ASSERT_NOT_EQUAL(kc_world_get(w, id, &s), KEEL_OK);
  CU_ASSERT_EQUAL(kc_world_count(w, KEEL_OBJECT_ENTITY), 0);
  CU_ASSERT_EQUAL(kc_world_publish(w, NULL), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(kc_world_get(w, id, &s), KEEL_OK);
  CU_ASSERT_EQUAL(s.kind, KEEL_OBJECT_ENTITY);
  CU_ASSERT_STRING_EQUAL(s.fields.mesh, "sphere");
  CU_ASSERT_EQUAL(s.fields.position.y, 2.0f);
  /* Defaults for fields the command did not set. */
  CU_ASSERT_EQUAL(s.fields.scale.x, 1.0f);
  CU_ASSERT_EQUAL(s.fields.rotation.w, 1.0f);
  CU_ASSERT_EQUAL(s.fields.color.a, 1.0f);
  CU_ASSERT_EQUAL(kc_world_count(w, KEEL_OBJECT_ENTITY), 1);
  kc_world_destroy(w);
}

static void test_update_destroy_stale(void) {
  kc_world *w = make_world();
  keel_id id = kc_world_reserve(w, KEEL_OBJECT_ENTITY);
  keel_command c = cmd(KEEL_CMD_CREATE, KEEL_OBJECT_ENTITY, id);
  CU_ASSERT_EQUAL(send(w, &c, NULL), KEEL_OK);
  c = cmd(KEEL_CMD_UPDATE, KEEL_OBJECT_ENTITY, id);
  c.fields.mask = KEEL_FIELD_COLOR;
  c.fields.color = (keel_color){0.5f, 0, 0, 1};
  CU_ASSERT_EQUAL(send(w, &c, NULL), KEEL_OK);
  kc_world_publish(w, NULL);
  keel_object_snapshot s;
  CU_ASSERT_EQUAL(kc_world_get(w, id, &s), KEEL_OK);
  CU_ASSERT_EQUAL(s.fields.color.r, 0.5f);
  c = cmd(KEEL_CMD_DESTROY, KEEL_OBJECT_ENTITY, id);
  CU_ASSERT_EQUAL(send(w, &c, NULL), KEEL_OK);
  /* The worker's view refuses the destroyed id at once, before the main
   * thread has even published the destruction. */
  c = cmd(KEEL_CMD_UPDATE, KEEL_OBJECT_ENTITY, id);
  CU_ASSERT_EQUAL(kc_world_check(w, &c), KEEL_ERR_STALE_ID);
  c = cmd(KEEL_CMD_DESTROY, KEEL_OBJECT_ENTITY, id);
  CU_ASSERT_EQUAL(kc_world_check(w, &c), KEEL_ERR_STALE_ID);
  kc_world_publish(w, NULL);
  CU_ASSERT_NOT_EQUAL(kc_world_get(w, id, &s), KEEL_OK);
  /* The slot is reused under a new generation: the old id stays dead. */
  keel_id again = kc_world_reserve(w, KEEL_OBJECT_ENTITY);
  CU_ASSERT_EQUAL(keel_id_index(again), keel_id_index(id));
  CU_ASSERT_NOT_EQUAL(again, id);
  c = cmd(KEEL_CMD_CREATE, KEEL_OBJECT_ENTITY, again);
  CU_ASSERT_EQUAL(send(w, &c, NULL), KEEL_OK);
  kc_world_publish(w, NULL);
  CU_ASSERT_EQUAL(kc_world_get(w, again, &s), KEEL_OK);
  CU_ASSERT_NOT_EQUAL(kc_world_get(w, id, &s), KEEL_OK);
  kc_world_metrics m;
  kc_world_metrics_get(w, &m);
  CU_ASSERT_EQUAL(m.commands_applied, 4);
  CU_ASSERT_EQUAL(m.commands_refused, 2);
  kc_world_destroy(w);
}

static void test_unknown_mesh_fails_with_choices(void) {
  kc_world *w = make_world();
  keel_id id = kc_world_reserve(w, KEEL_OBJECT_ENTITY);
  keel_command c = cmd(KEEL_CMD_CREATE, KEEL_OBJECT_ENTITY, id);
  c.fields.mask = KEEL_FIELD_MESH;
  strcpy(c.fields.mesh, "teapot");
  kc_err err;
  kc_err_clear(&err);
  CU_ASSERT_EQUAL(send(w, &c, &err), KEEL_ERR_NOT_FOUND);
  KT_ASSERT_CONTAINS(err.msg, "unknown mesh 'teapot' (known: cube, sphere, plane)");
  kc_world_publish(w, NULL);
  CU_ASSERT_EQUAL(kc_world_count(w, KEEL_OBJECT_ENTITY), 0);
  kc_world_metrics m;
  kc_world_metrics_get(w, &m);
  CU_ASSERT_EQUAL(m.commands_failed, 1);
  /* A registered name is known from then on. */
  CU_ASSERT(kc_world_mesh_register(w, "teapot") > 3);
  keel_id id2 = kc_world_reserve(w, KEEL_OBJECT_ENTITY);
  c.id = id2;
  CU_ASSERT_EQUAL(send(w, &c, NULL), KEEL_OK);
  kc_world_destroy(w);
}

static void test_kinds_are_apart(void) {
  kc_world *w = make_world();
  keel_id e = kc_world_reserve(w, KEEL_OBJECT_ENTITY);
  keel_id c1 = kc_world_reserve(w, KEEL_OBJECT_CAMERA);
  keel_id l = kc_world_reserve(w, KEEL_OBJECT_LIGHT);
  CU_ASSERT(e != c1 && c1 != l && e != l);
  keel_command c = cmd(KEEL_CMD_CREATE, KEEL_OBJECT_ENTITY, e);
  send(w, &c, NULL);
  c = cmd(KEEL_CMD_CREATE, KEEL_OBJECT_CAMERA, c1);
  send(w, &c, NULL);
  c = cmd(KEEL_CMD_CREATE, KEEL_OBJECT_LIGHT, l);
  send(w, &c, NULL);
  /* An entity command with a camera's id is refused. */
  c = cmd(KEEL_CMD_UPDATE, KEEL_OBJECT_ENTITY, c1);
  CU_ASSERT_EQUAL(kc_world_check(w, &c), KEEL_ERR_STALE_ID);
  /* set_active is for cameras only. */
  c = cmd(KEEL_CMD_SET_ACTIVE, KEEL_OBJECT_ENTITY, e);
  CU_ASSERT_EQUAL(kc_world_check(w, &c), KEEL_ERR_INVALID_ARGUMENT);
  kc_world_publish(w, NULL);
  keel_object_snapshot s;
  CU_ASSERT_EQUAL(kc_world_get(w, c1, &s), KEEL_OK);
  CU_ASSERT_EQUAL(s.kind, KEEL_OBJECT_CAMERA);
  CU_ASSERT_EQUAL(kc_world_get(w, l, &s), KEEL_OK);
  CU_ASSERT_EQUAL(s.kind, KEEL_OBJECT_LIGHT);
  CU_ASSERT_EQUAL(kc_world_count(w, KEEL_OBJECT_CAMERA), 1);
  CU_ASSERT_EQUAL(kc_world_count(w, KEEL_OBJECT_LIGHT), 1);
  kc_world_destroy(w);
}

static void test_active_camera_switches(void) {
  kc_world *w = make_world();
  keel_id a = kc_world_reserve(w, KEEL_OBJECT_CAMERA), b = kc_world_reserve(w, KEEL_OBJECT_CAMERA);
  keel_command c = cmd(KEEL_CMD_CREATE, KEEL_OBJECT_CAMERA, a);
  c.fields.mask = KEEL_FIELD_FOV;
  c.fields.fov_degrees = 40;
  send(w, &c, NULL);
  c = cmd(KEEL_CMD_CREATE, KEEL_OBJECT_CAMERA, b);
  send(w, &c, NULL);
  CU_ASSERT_EQUAL(kc_world_active_camera(w, NULL), KEEL_ID_INVALID);
  c = cmd(KEEL_CMD_SET_ACTIVE, KEEL_OBJECT_CAMERA, a);
  CU_ASSERT_EQUAL(send(w, &c, NULL), KEEL_OK);
  kc_world_publish(w, NULL);
  kc_camera_rec rec;
  CU_ASSERT_EQUAL(kc_world_active_camera(w, &rec), a);
  CU_ASSERT_EQUAL(rec.fov_degrees, 40.0f);
  c = cmd(KEEL_CMD_SET_ACTIVE, KEEL_OBJECT_CAMERA, b);
  send(w, &c, NULL);
  kc_world_publish(w, NULL);
  CU_ASSERT_EQUAL(kc_world_active_camera(w, NULL), b);
  c = cmd(KEEL_CMD_DESTROY, KEEL_OBJECT_CAMERA, b);
  send(w, &c, NULL);
  kc_world_publish(w, NULL);
  CU_ASSERT_EQUAL(kc_world_active_camera(w, NULL), KEEL_ID_INVALID);
  kc_world_destroy(w);
}

static void test_uncheck_releases_reservation(void) {
  kc_world *w = make_world();
  keel_id id = kc_world_reserve(w, KEEL_OBJECT_ENTITY);
  keel_command c = cmd(KEEL_CMD_CREATE, KEEL_OBJECT_ENTITY, id);
  CU_ASSERT_EQUAL(kc_world_check(w, &c), KEEL_OK);
  kc_world_uncheck(w, &c); /* as when the queue refused it */
  c = cmd(KEEL_CMD_UPDATE, KEEL_OBJECT_ENTITY, id);
  CU_ASSERT_EQUAL(kc_world_check(w, &c), KEEL_ERR_STALE_ID);
  /* The slot comes back with a new generation. */
  keel_id next = kc_world_reserve(w, KEEL_OBJECT_ENTITY);
  CU_ASSERT_EQUAL(keel_id_index(next), keel_id_index(id));
  CU_ASSERT_NOT_EQUAL(next, id);
  kc_world_destroy(w);
}

static void test_table_full(void) {
  kc_world *w = make_world();
  for (int i = 0; i < 4; i++) CU_ASSERT_NOT_EQUAL(kc_world_reserve(w, KEEL_OBJECT_CAMERA), KEEL_ID_INVALID);
  CU_ASSERT_EQUAL(kc_world_reserve(w, KEEL_OBJECT_CAMERA), KEEL_ID_INVALID);
  kc_world_destroy(w);
}

static void build(kc_world *w, int n, float shift) {
  for (int i = 0; i < n; i++) {
    keel_id id = kc_world_reserve(w, KEEL_OBJECT_ENTITY);
    keel_command c = cmd(KEEL_CMD_CREATE, KEEL_OBJECT_ENTITY, id);
    c.fields.mask = KEEL_FIELD_POSITION;
    c.fields.position = (keel_vec3){(float)i + shift, 0, 0};
    send(w, &c, NULL);
  }
  kc_world_publish(w, NULL);
}

static void test_hash_equal_worlds(void) {
  kc_world *a = make_world(), *b = make_world(), *c = make_world();
  build(a, 20, 0);
  build(b, 20, 0);
  build(c, 20, 0.25f);
  CU_ASSERT_EQUAL(kc_world_hash(a), kc_world_hash(b));
  CU_ASSERT_NOT_EQUAL(kc_world_hash(a), kc_world_hash(c));
  kc_world_destroy(a);
  kc_world_destroy(b);
  kc_world_destroy(c);
}

static void test_failed_publish_keeps_state(void) {
  kc_world *w = make_world();
  build(w, 3, 0);
  uint64_t before = kc_world_hash(w);
  keel_id id = kc_world_reserve(w, KEEL_OBJECT_ENTITY);
  keel_command c = cmd(KEEL_CMD_CREATE, KEEL_OBJECT_ENTITY, id);
  send(w, &c, NULL);
  kc_world_inject_fault(w, KC_STATE_FAULT_TIMEOUT);
  CU_ASSERT_EQUAL(kc_world_publish(w, NULL), KEEL_ERR_TIMEOUT);
  CU_ASSERT_EQUAL(kc_world_hash(w), before);
  CU_ASSERT_EQUAL(kc_world_count(w, KEEL_OBJECT_ENTITY), 3);
  CU_ASSERT_EQUAL(kc_world_publish(w, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_world_count(w, KEEL_OBJECT_ENTITY), 4);
  kc_world_metrics m;
  kc_world_metrics_get(w, &m);
  CU_ASSERT_EQUAL(m.swap_timeouts, 1);
  kc_world_destroy(w);
}

/* Ids a game sees first are small (JSON encoders writing %.14g keep them),
 * at most 10 digits for a slot's first three generations, below 2^53 always,
 * and a value with bits above 2^53 is no id (it must not alias one). */
static void test_ids_small_and_exact(void) {
  kc_world *w = make_world();
  keel_id e1 = kc_world_reserve(w, KEEL_OBJECT_ENTITY), e2 = kc_world_reserve(w, KEEL_OBJECT_ENTITY);
  CU_ASSERT_EQUAL(e1, 1);
  CU_ASSERT_EQUAL(e2, 2);
  keel_id cam = kc_world_reserve(w, KEEL_OBJECT_CAMERA), light = kc_world_reserve(w, KEEL_OBJECT_LIGHT);
  CU_ASSERT(cam < 10000000000ull && light < 10000000000ull);
  keel_command c = cmd(KEEL_CMD_CREATE, KEEL_OBJECT_ENTITY, e1);
  CU_ASSERT_EQUAL(send(w, &c, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_world_publish(w, NULL), KEEL_OK);
  keel_object_snapshot s;
  CU_ASSERT_EQUAL(kc_world_get(w, e1, &s), KEEL_OK);
  CU_ASSERT_NOT_EQUAL(kc_world_get(w, e1 | (1ull << 53), &s), KEEL_OK);
  CU_ASSERT_NOT_EQUAL(kc_world_get(w, e1 | (1ull << 60), &s), KEEL_OK);
  /* A slot's first three generations (two reuses) keep 10 digits; every id stays exact in a double. */
  keel_id id = e1;
  for (int i = 0; i < 2; i++) {
    c = cmd(KEEL_CMD_DESTROY, KEEL_OBJECT_ENTITY, id);
    CU_ASSERT_EQUAL(send(w, &c, NULL), KEEL_OK);
    id = kc_world_reserve(w, KEEL_OBJECT_ENTITY);
    CU_ASSERT(id < 10000000000ull);
    CU_ASSERT_EQUAL((keel_id)(double)id, id);
    c = cmd(KEEL_CMD_CREATE, KEEL_OBJECT_ENTITY, id);
    CU_ASSERT_EQUAL(send(w, &c, NULL), KEEL_OK);
  }
  kc_world_destroy(w);
}

/* A create the main thread refuses (an unknown mesh) gives its id back:
 * refused creates never use up the table, however many there are. */
static void test_refused_creates_free_their_ids(void) {
  kc_world *w = make_world(); /* 64 entities */
  for (int i = 0; i < 1000; i++) {
    keel_id id = kc_world_reserve(w, KEEL_OBJECT_ENTITY);
    CU_ASSERT_NOT_EQUAL_FATAL(id, KEEL_ID_INVALID);
    keel_command c = cmd(KEEL_CMD_CREATE, KEEL_OBJECT_ENTITY, id);
    c.fields.mask = KEEL_FIELD_MESH;
    strcpy(c.fields.mesh, "teapot");
    kc_err err;
    CU_ASSERT_EQUAL(send(w, &c, &err), KEEL_ERR_NOT_FOUND);
  }
  /* The refused id is not live for the script either, once handed back. */
  keel_id id = kc_world_reserve(w, KEEL_OBJECT_ENTITY);
  keel_command c = cmd(KEEL_CMD_CREATE, KEEL_OBJECT_ENTITY, id);
  c.fields.mask = KEEL_FIELD_MESH;
  strcpy(c.fields.mesh, "teapot");
  CU_ASSERT_EQUAL(send(w, &c, NULL), KEEL_ERR_NOT_FOUND);
  kc_world_reserve(w, KEEL_OBJECT_ENTITY); /* the worker takes the refusal back */
  keel_command u = cmd(KEEL_CMD_UPDATE, KEEL_OBJECT_ENTITY, id);
  CU_ASSERT_EQUAL(kc_world_check(w, &u), KEEL_ERR_STALE_ID);
  kc_world_destroy(w);
}

/* NaN and infinity never reach the main thread or the renderer; nor does a
 * mesh name without its NUL, or a layer that does not exist. */
static void test_non_finite_fields_refused(void) {
  kc_world *w = make_world();
  keel_id id = kc_world_reserve(w, KEEL_OBJECT_ENTITY);
  keel_command c = cmd(KEEL_CMD_CREATE, KEEL_OBJECT_ENTITY, id);
  c.fields.mask = KEEL_FIELD_POSITION;
  c.fields.position.x = __builtin_nanf("");
  CU_ASSERT_EQUAL(kc_world_check(w, &c), KEEL_ERR_INVALID_ARGUMENT);
  c.fields.position.x = __builtin_inff();
  CU_ASSERT_EQUAL(kc_world_check(w, &c), KEEL_ERR_INVALID_ARGUMENT);
  c.fields.position.x = 1;
  c.fields.mask = KEEL_FIELD_MESH;
  memset(c.fields.mesh, 'x', sizeof c.fields.mesh);
  CU_ASSERT_EQUAL(kc_world_check(w, &c), KEEL_ERR_INVALID_ARGUMENT);
  c.fields.mask = KEEL_FIELD_SCALE | KEEL_FIELD_COLOR;
  c.fields.scale = (keel_vec3){1, 1, 1};
  c.fields.color = (keel_color){1, 1, -__builtin_inff(), 1};
  CU_ASSERT_EQUAL(kc_world_check(w, &c), KEEL_ERR_INVALID_ARGUMENT);
  c.fields.color.b = 0;
  CU_ASSERT_EQUAL(send(w, &c, NULL), KEEL_OK); /* nothing recorded by the refusals */
  keel_command u = cmd(KEEL_CMD_UPDATE, KEEL_OBJECT_ENTITY, id);
  u.fields.mask = KEEL_FIELD_ROTATION;
  u.fields.rotation = (keel_quat){0, 0, 0, __builtin_nanf("")};
  CU_ASSERT_EQUAL(kc_world_check(w, &u), KEEL_ERR_INVALID_ARGUMENT);
  kc_world_destroy(w);
}

static CU_TestInfo world_tests[] = {
    {"ids: small first, exact, no aliases above 2^53", test_ids_small_and_exact},
    {"refused creates free their ids", test_refused_creates_free_their_ids},
    {"non-finite fields are refused", test_non_finite_fields_refused},
    {"create, publish, get", test_create_publish_get},
    {"update, destroy, stale ids", test_update_destroy_stale},
    {"unknown mesh fails with the known ones", test_unknown_mesh_fails_with_choices},
    {"kinds are kept apart", test_kinds_are_apart},
    {"active camera switches", test_active_camera_switches},
    {"uncheck releases a reservation", test_uncheck_releases_reservation},
    {"table full", test_table_full},
    {"equal worlds hash equal", test_hash_equal_worlds},
    {"a failed publish keeps the state", test_failed_publish_keeps_state},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"world", NULL, NULL, NULL, NULL, world_tests},
    CU_SUITE_INFO_NULL,
};
