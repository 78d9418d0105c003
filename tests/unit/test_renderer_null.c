/* The null renderer, loaded the way the runner loads it: each misuse of the
 * renderer contract is refused with KEEL_ERR_WRONG_STATE and logged naming the
 * call; the counters are exact for a frame recorded on several threads; and
 * readback returns the clear colour. */
// keel-test-labels: plugin concurrency
// keel-test-depends: renderer_null
#include "keel_test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_host.h"
#include "plugin/loader.h"

static kc_plugin_loader loader;
static kc_plugin *plugin;
static const keel_renderer_api *api;
static const keel_renderer_readback_api *readback;
static fake_host host; /* large: static */

#define WIDTH 64u
#define HEIGHT 32u
#define PASSES 2u
#define WORKERS 4u

static int suite_init(void) {
  kc_plugin_loader_init(&loader);
  kc_err err;
  if (kc_plugin_loader_add_dir(&loader, KEEL_TEST_PLUGIN_DIR, &err) != KEEL_OK ||
      kc_plugin_open(&loader, KEEL_PLUGIN_RENDERER, "null", &plugin, NULL, &err) != KEEL_OK) {
    fprintf(stderr, "cannot load the null renderer: %s\n", err.msg);
    return 1;
  }
  api = plugin->interface;
  readback = kc_plugin_find_interface(plugin, KEEL_RENDERER_READBACK_INTERFACE, sizeof *readback);
  return readback ? 0 : 1;
}

static int suite_cleanup(void) {
  kc_plugin_close(plugin);
  plugin = NULL;
  kc_plugin_loader_free(&loader);
  return 0;
}

static keel_renderer_desc desc_with(const keel_host *h) {
  keel_renderer_desc d = {
      .struct_size = KEEL_STRUCT_SIZE(keel_renderer_desc),
      .host = h,
      .width = WIDTH,
      .height = HEIGHT,
      .headless = true,
      .frames_in_flight = 2,
      .max_workers = WORKERS,
      .pass_count = PASSES,
  };
  return d;
}

/* A renderer created on this thread, logging into a fresh fake host. */
static keel_renderer *make_renderer(void) {
  fake_host_init(&host, NULL);
  keel_renderer_desc d = desc_with(&host.host);
  keel_renderer *r = NULL;
  kc_err err;
  keel_result res = kc_plugin_create_renderer(plugin, &d, &r, &err);
  if (res != KEEL_OK) fprintf(stderr, "\n  create: %s\n", err.msg);
  CU_ASSERT_EQUAL_FATAL(res, KEEL_OK);
  return r;
}

static keel_mesh make_cube(keel_renderer *r) {
  keel_mesh_desc md = {.struct_size = KEEL_STRUCT_SIZE(keel_mesh_desc), .builtin = KEEL_MESH_CUBE};
  keel_mesh m = {0};
  CU_ASSERT_EQUAL(api->mesh_create(r, &md, &m), KEEL_OK);
  CU_ASSERT_NOT_EQUAL(m.id, 0);
  return m;
}

static keel_frame_desc frame_desc(uint64_t index) {
  keel_frame_desc f = {.struct_size = KEEL_STRUCT_SIZE(keel_frame_desc), .frame_index = index,
                       .clear_color = {0.25f, 0.5f, 0.75f, 1.0f}};
  return f;
}

static keel_renderer_stats stats_of(keel_renderer *r) {
  keel_renderer_stats s = {.struct_size = KEEL_STRUCT_SIZE(keel_renderer_stats)};
  CU_ASSERT_EQUAL(api->stats(r, &s), KEEL_OK);
  return s;
}

/* The renderer logged an error line containing `text`. */
static void expect_logged(const char *text) {
  bool found = fake_host_log_has(&host, text);
  if (!found) {
    fprintf(stderr, "\n  no log line contains: %s\n", text);
    fake_host_log_dump(&host);
  }
  CU_ASSERT_TRUE(found);
}

/* The camera a 1.1 host sets for `pass`: perspective in the world pass,
 * orthographic in the screen pass. */
static keel_camera camera_for(uint32_t pass) {
  keel_camera c = {.struct_size = KEEL_STRUCT_SIZE(keel_camera)};
  c.projection_kind = pass == KEEL_PASS_SCREEN ? KEEL_PROJECTION_ORTHOGRAPHIC : KEEL_PROJECTION_PERSPECTIVE;
  return c;
}

/* encoder_begin, then the pass's camera, as the host does. */
static keel_result enc_begin(keel_renderer *r, uint32_t pass, uint32_t worker, keel_encoder **out) {
  keel_result res = api->encoder_begin(r, pass, worker, out);
  if (res != KEEL_OK) return res;
  keel_camera c = camera_for(pass);
  return api->encoder_set_camera(*out, &c);
}

static keel_draw draw_of(keel_mesh m) {
  keel_draw d = {.mesh = m, .color = {1, 0, 0, 1}};
  for (int i = 0; i < 4; i++) d.model.m[i * 5] = 1.0f;
  return d;
}

/* Runs fn(arg) on a new thread and waits for it. */
typedef struct thread_call {
  void (*fn)(void *);
  void *arg;
} thread_call;
static void *thread_trampoline(void *p) {
  thread_call *c = p;
  c->fn(c->arg);
  return NULL;
}
static void on_other_thread(void (*fn)(void *), void *arg) {
  thread_call c = {fn, arg};
  pthread_t t;
  CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, thread_trampoline, &c), 0);
  pthread_join(t, NULL);
}

/* ---- misuse, one rule each ---- */

typedef struct foreign_use {
  keel_renderer *renderer;
  keel_encoder *encoder;
  keel_mesh mesh;
  keel_result draw, camera, end, begin_frame, end_frame, present, mesh_create, mesh_destroy, stats, resize;
} foreign_use;

static void use_encoder_from_here(void *p) {
  foreign_use *u = p;
  keel_draw d = draw_of(u->mesh);
  keel_camera cam = {.struct_size = KEEL_STRUCT_SIZE(keel_camera)};
  u->draw = api->encoder_draw(u->encoder, &d, 1);
  u->camera = api->encoder_set_camera(u->encoder, &cam);
  u->end = api->encoder_end(u->encoder);
}

static void test_encoder_used_by_another_thread(void) {
  keel_renderer *r = make_renderer();
  keel_mesh m = make_cube(r);
  keel_frame_desc f = frame_desc(0);
  CU_ASSERT_EQUAL(api->begin_frame(r, &f), KEEL_OK);
  keel_encoder *e = NULL;
  CU_ASSERT_EQUAL_FATAL(enc_begin(r, 1, 2, &e), KEEL_OK);
  foreign_use u = {.renderer = r, .encoder = e, .mesh = m};
  on_other_thread(use_encoder_from_here, &u);
  CU_ASSERT_EQUAL(u.draw, KEEL_ERR_WRONG_STATE);
  CU_ASSERT_EQUAL(u.camera, KEEL_ERR_WRONG_STATE);
  CU_ASSERT_EQUAL(u.end, KEEL_ERR_WRONG_STATE);
  expect_logged("ERROR: encoder_draw: encoder (pass 1, worker 2) was begun by another thread");
  expect_logged("ERROR: encoder_set_camera: encoder (pass 1, worker 2) was begun by another thread");
  expect_logged("ERROR: encoder_end: encoder (pass 1, worker 2) was begun by another thread");
  /* The owner is unaffected: its encoder is still open and usable. */
  keel_draw d = draw_of(m);
  CU_ASSERT_EQUAL(api->encoder_draw(e, &d, 1), KEEL_OK);
  CU_ASSERT_EQUAL(api->encoder_end(e), KEEL_OK);
  CU_ASSERT_EQUAL(api->end_frame(r), KEEL_OK);
  keel_renderer_stats s = stats_of(r);
  CU_ASSERT_EQUAL(s.errors, 3);
  CU_ASSERT_EQUAL(s.draws, 1);
  CU_ASSERT_EQUAL(s.encoders, 1);
  api->destroy(r);
}

static void submit_from_here(void *p) {
  foreign_use *u = p;
  keel_frame_desc f = frame_desc(1);
  keel_mesh_desc md = {.struct_size = KEEL_STRUCT_SIZE(keel_mesh_desc), .builtin = KEEL_MESH_SPHERE};
  keel_mesh m = {0};
  keel_renderer_stats s = {.struct_size = KEEL_STRUCT_SIZE(keel_renderer_stats)};
  u->begin_frame = api->begin_frame(u->renderer, &f);
  u->end_frame = api->end_frame(u->renderer);
  u->present = api->present(u->renderer);
  u->mesh_create = api->mesh_create(u->renderer, &md, &m);
  u->mesh_destroy = api->mesh_destroy(u->renderer, u->mesh);
  u->stats = api->stats(u->renderer, &s);
  u->resize = api->resize(u->renderer, 8, 8);
}

static void test_submission_off_main_thread(void) {
  keel_renderer *r = make_renderer();
  keel_mesh m = make_cube(r);
  foreign_use u = {.renderer = r, .mesh = m};
  on_other_thread(submit_from_here, &u);
  CU_ASSERT_EQUAL(u.begin_frame, KEEL_ERR_WRONG_STATE);
  CU_ASSERT_EQUAL(u.end_frame, KEEL_ERR_WRONG_STATE);
  CU_ASSERT_EQUAL(u.present, KEEL_ERR_WRONG_STATE);
  CU_ASSERT_EQUAL(u.mesh_create, KEEL_ERR_WRONG_STATE);
  CU_ASSERT_EQUAL(u.mesh_destroy, KEEL_ERR_WRONG_STATE);
  CU_ASSERT_EQUAL(u.stats, KEEL_ERR_WRONG_STATE);
  CU_ASSERT_EQUAL(u.resize, KEEL_ERR_WRONG_STATE);
  const char *calls[] = {"begin_frame", "end_frame", "present", "mesh_create", "mesh_destroy", "stats", "resize"};
  for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
    char line[128];
    snprintf(line, sizeof line, "ERROR: %s: called off the main thread", calls[i]);
    expect_logged(line);
  }
  /* Nothing happened: no frame opened, the mesh is still live. */
  keel_renderer_stats s = stats_of(r);
  CU_ASSERT_EQUAL(s.errors, 7);
  CU_ASSERT_EQUAL(s.frames, 0);
  CU_ASSERT_EQUAL(s.meshes, 1);
  keel_frame_desc f = frame_desc(1);
  CU_ASSERT_EQUAL(api->begin_frame(r, &f), KEEL_OK);
  CU_ASSERT_EQUAL(api->end_frame(r), KEEL_OK);
  CU_ASSERT_EQUAL(api->present(r), KEEL_OK);
  api->destroy(r);
}

static void test_draw_outside_an_encoder(void) {
  keel_renderer *r = make_renderer();
  keel_mesh m = make_cube(r);
  keel_draw d = draw_of(m);
  keel_encoder *e = NULL;
  /* before begin_frame: no encoder can even be taken */
  CU_ASSERT_EQUAL(enc_begin(r, 0, 0, &e), KEEL_ERR_WRONG_STATE);
  CU_ASSERT_PTR_NULL(e);
  expect_logged("ERROR: encoder_begin: no frame is open");

  keel_frame_desc f = frame_desc(0);
  CU_ASSERT_EQUAL(api->begin_frame(r, &f), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(enc_begin(r, 0, 0, &e), KEEL_OK);
  CU_ASSERT_EQUAL(api->encoder_draw(e, &d, 1), KEEL_OK);
  CU_ASSERT_EQUAL(api->encoder_end(e), KEEL_OK);
  /* after encoder_end */
  CU_ASSERT_EQUAL(api->encoder_draw(e, &d, 1), KEEL_ERR_WRONG_STATE);
  expect_logged("ERROR: encoder_draw: encoder (pass 0, worker 0) is not open: it was already ended");
  CU_ASSERT_EQUAL(api->encoder_end(e), KEEL_ERR_WRONG_STATE);
  expect_logged("ERROR: encoder_end: encoder (pass 0, worker 0) is not open: it was already ended");
  CU_ASSERT_EQUAL(api->end_frame(r), KEEL_OK);
  /* after end_frame */
  CU_ASSERT_EQUAL(api->encoder_draw(e, &d, 1), KEEL_ERR_WRONG_STATE);
  expect_logged("ERROR: encoder_draw: encoder (pass 0, worker 0) is not open: no frame is open");
  /* next frame, with an encoder kept from the last one and not begun again */
  f = frame_desc(1);
  CU_ASSERT_EQUAL(api->begin_frame(r, &f), KEEL_OK);
  CU_ASSERT_EQUAL(api->encoder_draw(e, &d, 1), KEEL_ERR_WRONG_STATE);
  expect_logged("ERROR: encoder_draw: encoder (pass 0, worker 0) is not open: it was not begun in this frame");
  CU_ASSERT_EQUAL(api->end_frame(r), KEEL_OK);
  keel_renderer_stats s = stats_of(r);
  CU_ASSERT_EQUAL(s.errors, 5);
  CU_ASSERT_EQUAL(s.draws, 1); /* only the one recorded inside the encoder */
  CU_ASSERT_EQUAL(s.frames, 2);
  api->destroy(r);
}

static void test_frame_ended_twice(void) {
  keel_renderer *r = make_renderer();
  CU_ASSERT_EQUAL(api->end_frame(r), KEEL_ERR_WRONG_STATE); /* before any begin */
  keel_frame_desc f = frame_desc(0);
  CU_ASSERT_EQUAL(api->begin_frame(r, &f), KEEL_OK);
  CU_ASSERT_EQUAL(api->begin_frame(r, &f), KEEL_ERR_WRONG_STATE);
  expect_logged("ERROR: begin_frame: a frame is already open");
  CU_ASSERT_EQUAL(api->end_frame(r), KEEL_OK);
  CU_ASSERT_EQUAL(api->end_frame(r), KEEL_ERR_WRONG_STATE);
  expect_logged("ERROR: end_frame: no frame is open (end_frame called twice, or before begin_frame)");
  CU_ASSERT_EQUAL(api->present(r), KEEL_OK);
  CU_ASSERT_EQUAL(api->present(r), KEEL_ERR_WRONG_STATE);
  expect_logged("ERROR: present: no completed frame to present");
  keel_renderer_stats s = stats_of(r);
  CU_ASSERT_EQUAL(s.frames, 1);
  CU_ASSERT_EQUAL(s.errors, 4);
  api->destroy(r);
}

static void test_encoder_begun_twice(void) {
  keel_renderer *r = make_renderer();
  keel_frame_desc f = frame_desc(0);
  CU_ASSERT_EQUAL(api->begin_frame(r, &f), KEEL_OK);
  keel_encoder *e1 = NULL, *e2 = (keel_encoder *)1;
  CU_ASSERT_EQUAL(enc_begin(r, 1, 3, &e1), KEEL_OK);
  CU_ASSERT_EQUAL(enc_begin(r, 1, 3, &e2), KEEL_ERR_WRONG_STATE);
  CU_ASSERT_PTR_NULL(e2);
  expect_logged("ERROR: encoder_begin: pass 1, worker 3 already has an encoder in this frame");
  CU_ASSERT_EQUAL(api->encoder_end(e1), KEEL_OK);
  /* still once per frame after it ended */
  CU_ASSERT_EQUAL(enc_begin(r, 1, 3, &e2), KEEL_ERR_WRONG_STATE);
  CU_ASSERT_EQUAL(api->end_frame(r), KEEL_OK);
  /* a new frame makes the pair available again */
  CU_ASSERT_EQUAL(api->begin_frame(r, &f), KEEL_OK);
  CU_ASSERT_EQUAL(enc_begin(r, 1, 3, &e2), KEEL_OK);
  CU_ASSERT_EQUAL(api->encoder_end(e2), KEEL_OK);
  CU_ASSERT_EQUAL(api->end_frame(r), KEEL_OK);
  keel_renderer_stats s = stats_of(r);
  CU_ASSERT_EQUAL(s.errors, 2);
  CU_ASSERT_EQUAL(s.encoders, 2);
  api->destroy(r);
}

static void test_pass_or_worker_out_of_range(void) {
  keel_renderer *r = make_renderer();
  keel_frame_desc f = frame_desc(0);
  CU_ASSERT_EQUAL(api->begin_frame(r, &f), KEEL_OK);
  keel_encoder *e = (keel_encoder *)1;
  CU_ASSERT_EQUAL(enc_begin(r, PASSES, 0, &e), KEEL_ERR_WRONG_STATE);
  CU_ASSERT_PTR_NULL(e);
  expect_logged("ERROR: encoder_begin: pass 2 out of range (pass_count 2)");
  CU_ASSERT_EQUAL(enc_begin(r, 0, WORKERS, &e), KEEL_ERR_WRONG_STATE);
  expect_logged("ERROR: encoder_begin: worker 4 out of range (max_workers 4)");
  CU_ASSERT_EQUAL(enc_begin(r, UINT32_MAX, UINT32_MAX, &e), KEEL_ERR_WRONG_STATE);
  CU_ASSERT_EQUAL(api->end_frame(r), KEEL_OK);
  CU_ASSERT_EQUAL(stats_of(r).errors, 3);
  api->destroy(r);
}

static void test_encoder_open_at_end_frame(void) {
  keel_renderer *r = make_renderer();
  keel_mesh m = make_cube(r);
  keel_draw d[5];
  for (int i = 0; i < 5; i++) d[i] = draw_of(m);
  keel_frame_desc f = frame_desc(0);
  CU_ASSERT_EQUAL(api->begin_frame(r, &f), KEEL_OK);
  keel_encoder *ok = NULL, *open = NULL;
  CU_ASSERT_EQUAL_FATAL(enc_begin(r, 0, 1, &ok), KEEL_OK);
  CU_ASSERT_EQUAL(api->encoder_draw(ok, d, 3), KEEL_OK);
  CU_ASSERT_EQUAL(api->encoder_end(ok), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(enc_begin(r, 1, 2, &open), KEEL_OK);
  CU_ASSERT_EQUAL(api->encoder_draw(open, d, 5), KEEL_OK);
  CU_ASSERT_EQUAL(api->end_frame(r), KEEL_ERR_WRONG_STATE);
  expect_logged("ERROR: end_frame: encoder (pass 1, worker 2) is still open; its work is dropped");
  /* The frame still ended, with the ended encoder's work only. */
  keel_renderer_stats s = stats_of(r);
  CU_ASSERT_EQUAL(s.frames, 1);
  CU_ASSERT_EQUAL(s.encoders, 1);
  CU_ASSERT_EQUAL(s.draws, 3);
  CU_ASSERT_EQUAL(s.errors, 1);
  /* and the dropped encoder is closed for good */
  CU_ASSERT_EQUAL(api->encoder_draw(open, d, 1), KEEL_ERR_WRONG_STATE);
  CU_ASSERT_EQUAL(api->encoder_end(open), KEEL_ERR_WRONG_STATE);
  api->destroy(r);
}

static void test_draw_with_unknown_mesh(void) {
  keel_renderer *r = make_renderer();
  keel_mesh live = make_cube(r);
  keel_mesh gone = make_cube(r);
  CU_ASSERT_EQUAL(api->mesh_destroy(r, gone), KEEL_OK);
  /* the slot is reused, under a new generation */
  keel_mesh reused = make_cube(r);
  CU_ASSERT_NOT_EQUAL(reused.id, gone.id);
  CU_ASSERT_EQUAL(reused.id & 0xffffu, gone.id & 0xffffu);

  keel_frame_desc f = frame_desc(0);
  CU_ASSERT_EQUAL(api->begin_frame(r, &f), KEEL_OK);
  keel_encoder *e = NULL;
  CU_ASSERT_EQUAL_FATAL(enc_begin(r, 0, 0, &e), KEEL_OK);
  keel_draw batch[2] = {draw_of(live), draw_of(gone)};
  CU_ASSERT_EQUAL(api->encoder_draw(e, batch, 2), KEEL_ERR_WRONG_STATE);
  char line[160];
  snprintf(line, sizeof line, "ERROR: encoder_draw: draw 1 of 2 uses mesh 0x%08x, which is not a live mesh", gone.id);
  expect_logged(line);
  keel_draw never[1] = {draw_of((keel_mesh){0x7fff0123u})};
  CU_ASSERT_EQUAL(api->encoder_draw(e, never, 1), KEEL_ERR_WRONG_STATE);
  keel_draw zero[1] = {draw_of((keel_mesh){0})};
  CU_ASSERT_EQUAL(api->encoder_draw(e, zero, 1), KEEL_ERR_WRONG_STATE);
  keel_draw good[2] = {draw_of(live), draw_of(reused)};
  CU_ASSERT_EQUAL(api->encoder_draw(e, good, 2), KEEL_OK);
  CU_ASSERT_EQUAL(api->encoder_end(e), KEEL_OK);
  CU_ASSERT_EQUAL(api->end_frame(r), KEEL_OK);
  CU_ASSERT_EQUAL(api->mesh_destroy(r, gone), KEEL_ERR_STALE_ID);
  expect_logged("ERROR: mesh_destroy: mesh");
  keel_renderer_stats s = stats_of(r);
  CU_ASSERT_EQUAL(s.draws, 2); /* a refused batch records none of its draws */
  CU_ASSERT_EQUAL(s.errors, 4);
  CU_ASSERT_EQUAL(s.meshes, 2);
  api->destroy(r);
}

/* Refusals still happen, and nothing crashes, when there is no log to use. */
static void test_host_without_log(void) {
  keel_host partial = {.struct_size = KEEL_STRUCT_SIZE(keel_host), .abi_major = KEEL_ABI_MAJOR};
  keel_host short_host = {.struct_size = (uint32_t)offsetof(keel_host, log)};
  const keel_host *hosts[] = {NULL, &partial, &short_host};
  for (size_t i = 0; i < 3; i++) {
    keel_renderer_desc d = desc_with(hosts[i]);
    keel_renderer *r = NULL;
    CU_ASSERT_EQUAL_FATAL(kc_plugin_create_renderer(plugin, &d, &r, NULL), KEEL_OK);
    CU_ASSERT_EQUAL(api->end_frame(r), KEEL_ERR_WRONG_STATE);
    keel_encoder *e;
    CU_ASSERT_EQUAL(enc_begin(r, 9, 0, &e), KEEL_ERR_WRONG_STATE);
    CU_ASSERT_EQUAL(stats_of(r).errors, 2);
    api->destroy(r);
  }
}

static void test_create_refuses_bad_desc(void) {
  keel_renderer_desc d = desc_with(NULL);
  d.pass_count = 0;
  keel_renderer *r = NULL;
  kc_err err;
  CU_ASSERT_EQUAL(kc_plugin_create_renderer(plugin, &d, &r, &err), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_PTR_NULL(r);
  CU_ASSERT_STRING_EQUAL(err.msg, KEEL_TEST_PLUGIN_DIR "/keel_renderer_null.so: create failed: create: pass_count 0 "
                                  "out of range 1..8");
  d = desc_with(NULL);
  d.max_workers = KEEL_RENDERER_MAX_WORKERS + 1;
  CU_ASSERT_EQUAL(kc_plugin_create_renderer(plugin, &d, &r, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "max_workers 65 out of range 1..64");
  d = desc_with(NULL);
  d.frames_in_flight = 5;
  CU_ASSERT_EQUAL(kc_plugin_create_renderer(plugin, &d, &r, &err), KEEL_ERR_INVALID_ARGUMENT);
  d = desc_with(NULL);
  d.width = 0;
  CU_ASSERT_EQUAL(kc_plugin_create_renderer(plugin, &d, &r, &err), KEEL_ERR_INVALID_ARGUMENT);
  d = desc_with(NULL);
  d.struct_size = 8;
  CU_ASSERT_EQUAL(kc_plugin_create_renderer(plugin, &d, &r, &err), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_EQUAL(kc_plugin_create_renderer(plugin, NULL, &r, &err), KEEL_ERR_INVALID_ARGUMENT);
}

static void test_mesh_desc_checked(void) {
  keel_renderer *r = make_renderer();
  const float pos[9] = {0, 0, 0, 1, 0, 0, 0, 1, 0};
  const uint32_t idx_ok[3] = {0, 1, 2}, idx_bad[3] = {0, 1, 3};
  keel_mesh m;
  keel_mesh_desc md = {.struct_size = KEEL_STRUCT_SIZE(keel_mesh_desc), .positions = pos, .vertex_count = 3,
                       .indices = idx_ok, .index_count = 3};
  CU_ASSERT_EQUAL(api->mesh_create(r, &md, &m), KEEL_OK);
  md.indices = idx_bad;
  CU_ASSERT_EQUAL(api->mesh_create(r, &md, &m), KEEL_ERR_INVALID_ARGUMENT);
  expect_logged("ERROR: mesh_create: index 2 is 3, past the 3 vertices");
  md.indices = NULL;
  md.index_count = 0;
  md.vertex_count = 2;
  CU_ASSERT_EQUAL(api->mesh_create(r, &md, &m), KEEL_ERR_INVALID_ARGUMENT);
  md.builtin = (keel_mesh_builtin)9;
  CU_ASSERT_EQUAL(api->mesh_create(r, &md, &m), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_EQUAL(m.id, 0);
  keel_renderer_stats s = stats_of(r);
  CU_ASSERT_EQUAL(s.meshes, 1);
  CU_ASSERT_EQUAL(s.errors, 3);
  api->destroy(r);
}

/* ---- counters ---- */

#define FRAMES 12u
#define BATCH 16u

typedef struct recorder {
  keel_renderer *renderer;
  uint32_t worker;
  keel_mesh meshes[3];
  uint32_t batches;
  keel_result first_error;
} recorder;

static void *record_worker(void *p) {
  recorder *rec = p;
  keel_draw draws[BATCH];
  for (uint32_t i = 0; i < BATCH; i++) draws[i] = draw_of(rec->meshes[i % 3]);
  for (uint32_t pass = 0; pass < PASSES; pass++) {
    keel_encoder *e = NULL;
    keel_result r = enc_begin(rec->renderer, pass, rec->worker, &e);
    for (uint32_t b = 0; b < rec->batches && r == KEEL_OK; b++) r = api->encoder_draw(e, draws, BATCH);
    if (r == KEEL_OK) r = api->encoder_end(e);
    if (r != KEEL_OK && rec->first_error == KEEL_OK) rec->first_error = r;
  }
  return NULL;
}

static void test_counters_exact_multithreaded(void) {
  keel_renderer *r = make_renderer();
  keel_mesh meshes[3] = {make_cube(r), make_cube(r), make_cube(r)};
  uint32_t batches = (uint32_t)kt_scaled(2000) / 10;
  recorder rec[WORKERS];
  for (uint32_t frame = 0; frame < FRAMES; frame++) {
    keel_frame_desc f = frame_desc(frame);
    CU_ASSERT_EQUAL_FATAL(api->begin_frame(r, &f), KEEL_OK);
    pthread_t threads[WORKERS];
    for (uint32_t w = 0; w < WORKERS; w++) {
      rec[w] = (recorder){.renderer = r, .worker = w, .batches = batches};
      memcpy(rec[w].meshes, meshes, sizeof meshes);
      CU_ASSERT_EQUAL_FATAL(pthread_create(&threads[w], NULL, record_worker, &rec[w]), 0);
    }
    for (uint32_t w = 0; w < WORKERS; w++) {
      pthread_join(threads[w], NULL);
      CU_ASSERT_EQUAL(rec[w].first_error, KEEL_OK);
    }
    CU_ASSERT_EQUAL(api->end_frame(r), KEEL_OK);
    CU_ASSERT_EQUAL(api->present(r), KEEL_OK);
  }
  keel_renderer_stats s = stats_of(r);
  CU_ASSERT_EQUAL(s.struct_size, sizeof s);
  CU_ASSERT_EQUAL(s.frames, FRAMES);
  CU_ASSERT_EQUAL(s.passes, (uint64_t)FRAMES * PASSES);
  CU_ASSERT_EQUAL(s.encoders, (uint64_t)FRAMES * PASSES * WORKERS);
  CU_ASSERT_EQUAL(s.draws, (uint64_t)FRAMES * PASSES * WORKERS * batches * BATCH);
  /* Three meshes in turn: every draw starts a new run of one mesh (what a
   * backend that instances runs issues as one call), except where a batch
   * of 16 ends on mesh 0 and the next one starts on it. */
  CU_ASSERT_EQUAL(s.draw_calls, (uint64_t)FRAMES * PASSES * WORKERS * (batches * BATCH - (batches - 1)));
  CU_ASSERT_EQUAL(s.errors, 0);
  CU_ASSERT_EQUAL(s.meshes, 3);
  CU_ASSERT_EQUAL(host.log_count, 0);
  api->destroy(r);
}

typedef struct misuser {
  keel_encoder *encoder;
  uint32_t tries;
  uint32_t refused;
} misuser;

static void *misuse_worker(void *p) {
  misuser *m = p;
  keel_draw d = draw_of((keel_mesh){0});
  for (uint32_t i = 0; i < m->tries; i++)
    if (api->encoder_draw(m->encoder, &d, 1) == KEEL_ERR_WRONG_STATE) m->refused++;
  return NULL;
}

/* Refusals from many threads at once are all counted (and logged). */
static void test_errors_counted_across_threads(void) {
  keel_renderer *r = make_renderer();
  keel_frame_desc f = frame_desc(0);
  CU_ASSERT_EQUAL(api->begin_frame(r, &f), KEEL_OK);
  uint32_t tries = (uint32_t)kt_scaled(4000) / 10;
  misuser m[WORKERS];
  pthread_t threads[WORKERS];
  for (uint32_t w = 0; w < WORKERS; w++) {
    keel_encoder *e = NULL;
    CU_ASSERT_EQUAL_FATAL(enc_begin(r, 0, w, &e), KEEL_OK);
    m[w] = (misuser){.encoder = e, .tries = tries};
    CU_ASSERT_EQUAL_FATAL(pthread_create(&threads[w], NULL, misuse_worker, &m[w]), 0);
  }
  uint64_t refused = 0;
  for (uint32_t w = 0; w < WORKERS; w++) {
    pthread_join(threads[w], NULL);
    refused += m[w].refused;
    CU_ASSERT_EQUAL(api->encoder_end(m[w].encoder), KEEL_OK);
  }
  CU_ASSERT_EQUAL(refused, (uint64_t)tries * WORKERS);
  CU_ASSERT_EQUAL(api->end_frame(r), KEEL_OK);
  keel_renderer_stats s = stats_of(r);
  CU_ASSERT_EQUAL(s.errors, (uint64_t)tries * WORKERS);
  CU_ASSERT_EQUAL(s.draws, 0);
  CU_ASSERT_EQUAL(s.encoders, WORKERS);
  CU_ASSERT_EQUAL(host.log_count, tries * WORKERS);
  api->destroy(r);
}

/* An older host's stats struct is smaller: nothing past it is written. */
static void test_stats_respects_callers_size(void) {
  keel_renderer *r = make_renderer();
  keel_renderer_stats s;
  memset(&s, 0xab, sizeof s);
  s.struct_size = (uint32_t)offsetof(keel_renderer_stats, errors);
  CU_ASSERT_EQUAL(api->stats(r, &s), KEEL_OK);
  CU_ASSERT_EQUAL(s.struct_size, offsetof(keel_renderer_stats, errors));
  CU_ASSERT_EQUAL(s.frames, 0);
  CU_ASSERT_EQUAL(s.draws, 0);
  CU_ASSERT_EQUAL(s.errors, 0xababababababababull);
  CU_ASSERT_EQUAL(s.meshes, 0xababababu);
  api->destroy(r);
}

/* ---- readback ---- */

static void test_readback_is_the_clear_colour(void) {
  keel_renderer *r = make_renderer();
  uint32_t w = 0, h = 0;
  uint8_t *pixels = malloc(WIDTH * HEIGHT * 4);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pixels);
  CU_ASSERT_EQUAL(readback->readback_rgba8(r, pixels, WIDTH * HEIGHT * 4, &w, &h), KEEL_ERR_WRONG_STATE);
  expect_logged("ERROR: readback_rgba8: no frame has completed yet");

  keel_frame_desc f = frame_desc(0); /* clear {0.25, 0.5, 0.75, 1} */
  CU_ASSERT_EQUAL(api->begin_frame(r, &f), KEEL_OK);
  CU_ASSERT_EQUAL(api->end_frame(r), KEEL_OK);
  /* too small: the size comes back, nothing is written, nothing is counted */
  CU_ASSERT_EQUAL(readback->readback_rgba8(r, NULL, 0, &w, &h), KEEL_ERR_FULL);
  CU_ASSERT_EQUAL(w, WIDTH);
  CU_ASSERT_EQUAL(h, HEIGHT);
  memset(pixels, 0, WIDTH * HEIGHT * 4);
  CU_ASSERT_EQUAL(readback->readback_rgba8(r, pixels, WIDTH * HEIGHT * 4, &w, &h), KEEL_OK);
  size_t wrong = 0;
  for (size_t i = 0; i < (size_t)WIDTH * HEIGHT; i++) {
    const uint8_t *p = pixels + i * 4;
    if (p[0] != 64 || p[1] != 128 || p[2] != 191 || p[3] != 255) wrong++;
  }
  CU_ASSERT_EQUAL(wrong, 0);

  /* a resize shows in the next completed frame, with its clear colour */
  CU_ASSERT_EQUAL(api->resize(r, 3, 2), KEEL_OK);
  f.clear_color = (keel_color){1.5f, -1.0f, 0.0f, 0.5f};
  CU_ASSERT_EQUAL(api->begin_frame(r, &f), KEEL_OK);
  CU_ASSERT_EQUAL(api->resize(r, 5, 5), KEEL_ERR_WRONG_STATE); /* not inside a frame */
  CU_ASSERT_EQUAL(api->end_frame(r), KEEL_OK);
  CU_ASSERT_EQUAL(readback->readback_rgba8(r, pixels, WIDTH * HEIGHT * 4, &w, &h), KEEL_OK);
  CU_ASSERT_EQUAL(w, 3);
  CU_ASSERT_EQUAL(h, 2);
  for (int i = 0; i < 6; i++) {
    CU_ASSERT_EQUAL(pixels[i * 4 + 0], 255);
    CU_ASSERT_EQUAL(pixels[i * 4 + 1], 0);
    CU_ASSERT_EQUAL(pixels[i * 4 + 2], 0);
    CU_ASSERT_EQUAL(pixels[i * 4 + 3], 128);
  }
  CU_ASSERT_EQUAL(stats_of(r).errors, 2);
  free(pixels);
  api->destroy(r);
}

/* ABI 1.1's rules: every encoder's draws need its pass's camera, the
 * screen pass an orthographic one; a frame has at most
 * KEEL_RENDERER_MAX_LIGHTS well-formed lights. */
static void test_cameras_per_pass(void) {
  keel_renderer *r = make_renderer();
  keel_mesh cube = make_cube(r);
  keel_draw d = draw_of(cube);
  keel_frame_desc f = frame_desc(0);
  CU_ASSERT_EQUAL_FATAL(api->begin_frame(r, &f), KEEL_OK);
  keel_encoder *e = NULL;
  CU_ASSERT_EQUAL_FATAL(api->encoder_begin(r, KEEL_PASS_SCREEN, 0, &e), KEEL_OK);
  CU_ASSERT_EQUAL(api->encoder_draw(e, &d, 1), KEEL_ERR_WRONG_STATE);
  expect_logged("ERROR: encoder_draw: pass 1, worker 0 draws without a camera (set the pass's screen camera first)");
  keel_camera persp = camera_for(KEEL_PASS_WORLD), ortho = camera_for(KEEL_PASS_SCREEN);
  CU_ASSERT_EQUAL(api->encoder_set_camera(e, &persp), KEEL_ERR_INVALID_ARGUMENT);
  expect_logged("ERROR: encoder_set_camera: pass 1 needs the screen layer's orthographic camera, got projection_kind 0");
  CU_ASSERT_EQUAL(api->encoder_draw(e, &d, 1), KEEL_ERR_WRONG_STATE);
  CU_ASSERT_EQUAL(api->encoder_set_camera(e, &ortho), KEEL_OK);
  CU_ASSERT_EQUAL(api->encoder_draw(e, &d, 1), KEEL_OK);
  CU_ASSERT_EQUAL(api->encoder_end(e), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(api->encoder_begin(r, KEEL_PASS_WORLD, 0, &e), KEEL_OK);
  CU_ASSERT_EQUAL(api->encoder_set_camera(e, &ortho), KEEL_ERR_INVALID_ARGUMENT);
  expect_logged("ERROR: encoder_set_camera: pass 0 needs the world's perspective camera, got projection_kind 1");
  keel_camera old = persp;
  old.struct_size = (uint32_t)offsetof(keel_camera, projection_kind); /* a 1.0 camera */
  CU_ASSERT_EQUAL(api->encoder_set_camera(e, &old), KEEL_ERR_INVALID_ARGUMENT);
  expect_logged("ERROR: encoder_set_camera: the camera is missing or older than ABI 1.1");
  CU_ASSERT_EQUAL(api->encoder_end(e), KEEL_OK);
  CU_ASSERT_EQUAL(api->end_frame(r), KEEL_OK);
  keel_renderer_stats s = stats_of(r);
  CU_ASSERT_EQUAL(s.draws, 1);
  CU_ASSERT_EQUAL(s.draw_calls, 1);
  CU_ASSERT_EQUAL(s.errors, 5);
  api->destroy(r);
}

static void test_lights_checked(void) {
  keel_renderer *r = make_renderer();
  keel_light lights[KEEL_RENDERER_MAX_LIGHTS + 1];
  memset(lights, 0, sizeof lights);
  for (uint32_t i = 0; i <= KEEL_RENDERER_MAX_LIGHTS; i++) {
    lights[i].kind = i ? KEEL_LIGHT_POINT : KEEL_LIGHT_DIRECTIONAL;
    lights[i].direction = (keel_vec3){0, -1, 0};
    lights[i].intensity = 1;
    lights[i].range = 10;
  }
  keel_frame_desc f = frame_desc(0);
  f.lights = lights;
  f.light_count = KEEL_RENDERER_MAX_LIGHTS + 1;
  CU_ASSERT_EQUAL(api->begin_frame(r, &f), KEEL_ERR_INVALID_ARGUMENT);
  expect_logged("ERROR: begin_frame: 17 lights, more than KEEL_RENDERER_MAX_LIGHTS (16)");
  f.lights = NULL;
  f.light_count = 2;
  CU_ASSERT_EQUAL(api->begin_frame(r, &f), KEEL_ERR_INVALID_ARGUMENT);
  expect_logged("ERROR: begin_frame: 2 lights from NULL");
  f.lights = lights;
  f.light_count = KEEL_RENDERER_MAX_LIGHTS;
  lights[3].range = -1;
  CU_ASSERT_EQUAL(api->begin_frame(r, &f), KEEL_ERR_INVALID_ARGUMENT);
  expect_logged("ERROR: begin_frame: light 3 has intensity 1 and range -1 (both must be >= 0)");
  lights[3].range = 10;
  lights[1].kind = (keel_light_kind)7;
  CU_ASSERT_EQUAL(api->begin_frame(r, &f), KEEL_ERR_INVALID_ARGUMENT);
  expect_logged("ERROR: begin_frame: light 1 has unknown kind 7");
  lights[1].kind = KEEL_LIGHT_POINT;
  f.light_count = KEEL_RENDERER_MAX_LIGHTS;
  CU_ASSERT_EQUAL(api->begin_frame(r, &f), KEEL_OK);
  CU_ASSERT_EQUAL(api->end_frame(r), KEEL_OK);
  CU_ASSERT_EQUAL(stats_of(r).errors, 4);
  api->destroy(r);
}

static CU_TestInfo misuse_tests[] = {
    {"cameras per pass (1.1)", test_cameras_per_pass},
    {"lights checked (1.1)", test_lights_checked},
    {"encoder used by another thread", test_encoder_used_by_another_thread},
    {"submission off the main thread", test_submission_off_main_thread},
    {"draw outside an encoder", test_draw_outside_an_encoder},
    {"frame ended twice", test_frame_ended_twice},
    {"encoder begun twice for a pass and worker", test_encoder_begun_twice},
    {"pass or worker out of range", test_pass_or_worker_out_of_range},
    {"encoder still open at end_frame", test_encoder_open_at_end_frame},
    {"draw with an unknown or destroyed mesh", test_draw_with_unknown_mesh},
    {"host without a log", test_host_without_log},
    {"create refuses a bad desc", test_create_refuses_bad_desc},
    {"mesh desc checked", test_mesh_desc_checked},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo counter_tests[] = {
    {"exact counts for a frame recorded on 4 threads", test_counters_exact_multithreaded},
    {"errors counted across threads", test_errors_counted_across_threads},
    {"stats respects the caller's struct_size", test_stats_respects_callers_size},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo readback_tests[] = {
    {"readback is the clear colour", test_readback_is_the_clear_colour},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"misuse", suite_init, suite_cleanup, NULL, NULL, misuse_tests},
    {"counters", suite_init, suite_cleanup, NULL, NULL, counter_tests},
    {"readback", suite_init, suite_cleanup, NULL, NULL, readback_tests},
    CU_SUITE_INFO_NULL,
};
