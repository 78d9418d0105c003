/* The GL renderer on llvmpipe through EGL surfaceless, loaded as the runner
 * loads it, every renderer made with a debug context (KHR_debug) whose
 * messages fail the test: the probe scene's pixels, the same image whatever
 * the number of recording threads, exact counters (instanced runs merged
 * across encoders), the contract's refusals, mesh validation, resize, the
 * device setting, and the windowed path through the host's platform_gl_*
 * entries (a fake window made of an EGL pbuffer). */
// keel-test-labels: plugin concurrency gl
// keel-test-depends: renderer_gl
#include "test_renderer_gl.h"

#include <dlfcn.h>

static void test_debug_context(void) {
  keel_renderer *r = glt_make();
  CU_ASSERT_TRUE(fake_host_log_has(&glt_host, "debug output on"));
  CU_ASSERT_TRUE(fake_host_log_has(&glt_host, "headless (EGL surfaceless)"));
  glt_assert_clean(r);
  glt_api->destroy(r);
}

static void test_clear_only(void) {
  keel_renderer *r = glt_make();
  glt_frame f;
  memset(&f, 0, sizeof f);
  f.clear = (keel_color){0.25f, 0.5f, 0.75f, 1.0f};
  f.cameras[0] = glt_world_camera((keel_vec3){0, 0, 10}, (keel_vec3){0, 0, 0}, GLT_WIDTH, GLT_HEIGHT);
  f.cameras[1] = glt_screen_camera(GLT_WIDTH, GLT_HEIGHT);
  CU_ASSERT_EQUAL(glt_render(r, &f, 1), KEEL_OK);
  kt_image img = glt_pixels(r);
  CU_ASSERT_EQUAL(img.width, GLT_WIDTH);
  CU_ASSERT_EQUAL(img.height, GLT_HEIGHT);
  const uint8_t *px = img.pixels;
  size_t wrong = 0;
  for (size_t i = 0; i < (size_t)img.width * img.height; i++)
    wrong += px[i * 4] != 64 || px[i * 4 + 1] != 128 || px[i * 4 + 2] != 191 || px[i * 4 + 3] != 255;
  CU_ASSERT_EQUAL(wrong, 0);
  kt_image_free(&img);
  glt_assert_clean(r);
  glt_api->destroy(r);
}

static void test_probe_scene(void) {
  keel_renderer *r = glt_make();
  keel_mesh cube = glt_mesh(r, KEEL_MESH_CUBE), sphere = glt_mesh(r, KEEL_MESH_SPHERE);
  glt_frame f = glt_probe_frame(cube, sphere);
  CU_ASSERT_EQUAL(glt_render(r, &f, 1), KEEL_OK);
  kt_image img = glt_pixels(r);
  glt_check_probe(&img, &f);
  kt_image_free(&img);
  glt_assert_clean(r);
  glt_api->destroy(r);
}

/* Back faces are culled in the world pass: from inside a big cube nothing
 * of it is seen. In the screen pass nothing is culled. */
static void test_culling(void) {
  keel_renderer *r = glt_make();
  keel_mesh cube = glt_mesh(r, KEEL_MESH_CUBE);
  glt_frame f;
  memset(&f, 0, sizeof f);
  f.clear = (keel_color){0, 0, 0, 1};
  f.cameras[0] = glt_world_camera((keel_vec3){0, 0, 1}, (keel_vec3){0, 0, 0}, GLT_WIDTH, GLT_HEIGHT);
  f.cameras[1] = glt_screen_camera(GLT_WIDTH, GLT_HEIGHT);
  keel_draw d[2] = {
      {.mesh = cube, .color = {1, 1, 1, 1}, .model = glt_trs(0, 0, 0, 50, 50, 50)},
      /* Mirrored by a negative scale: its faces turn inside out, still drawn. */
      {.mesh = cube, .color = {0, 1, 0, 1}, .model = glt_trs(80, 48, 0, 10, -10, 1)},
  };
  f.draws[0] = d;
  f.counts[0] = 1;
  f.draws[1] = d + 1;
  f.counts[1] = 1;
  CU_ASSERT_EQUAL(glt_render(r, &f, 1), KEEL_OK);
  kt_image img = glt_pixels(r);
  KT_ASSERT_PIXEL(&img, 10, 10, 0, 0, 0, 255, 0);
  KT_ASSERT_PIXEL(&img, 80, 48, 0, 255, 0, 255, 0);
  kt_image_free(&img);
  glt_assert_clean(r);
  glt_api->destroy(r);
}

static void test_near_plane(void) {
  keel_renderer *r = glt_make();
  glt_check_near_plane(r);
  glt_assert_clean(r);
  glt_api->destroy(r);
}

/* Passes after the screen layer are more screen layers, each drawn over
 * the one before whatever its depth (the depth is cleared between). */
static void test_more_screen_layers(void) {
  fake_host_init(&glt_host, NULL);
  keel_renderer_desc desc = glt_desc();
  desc.pass_count = 3;
  keel_renderer *r = NULL;
  kc_err err;
  CU_ASSERT_EQUAL_FATAL(kc_plugin_create_renderer(glt_plugin, &desc, &r, &err), KEEL_OK);
  keel_mesh cube = glt_mesh(r, KEEL_MESH_CUBE);
  keel_camera screen = glt_screen_camera(GLT_WIDTH, GLT_HEIGHT);
  keel_draw near = {.mesh = cube, .color = {1, 0, 0, 1}, .model = glt_trs(50, 50, 900, 40, 40, 1)};
  keel_draw far = {.mesh = cube, .color = {0, 1, 0, 1}, .model = glt_trs(60, 50, -900, 40, 40, 1)};
  keel_frame_desc fd = {.struct_size = KEEL_STRUCT_SIZE(keel_frame_desc), .clear_color = {0, 0, 0, 1}};
  CU_ASSERT_EQUAL(glt_api->begin_frame(r, &fd), KEEL_OK);
  for (uint32_t p = 1; p <= 2; p++) {
    keel_encoder *e = NULL;
    CU_ASSERT_EQUAL_FATAL(glt_api->encoder_begin(r, p, 0, &e), KEEL_OK);
    CU_ASSERT_EQUAL(glt_api->encoder_set_camera(e, &screen), KEEL_OK);
    CU_ASSERT_EQUAL(glt_api->encoder_draw(e, p == 1 ? &near : &far, 1), KEEL_OK);
    CU_ASSERT_EQUAL(glt_api->encoder_end(e), KEEL_OK);
  }
  CU_ASSERT_EQUAL(glt_api->end_frame(r), KEEL_OK);
  kt_image img = glt_pixels(r);
  KT_ASSERT_PIXEL(&img, 35, 50, 255, 0, 0, 255, 0); /* pass 1 only */
  KT_ASSERT_PIXEL(&img, 55, 50, 0, 255, 0, 255, 0); /* pass 2 over pass 1, though farther */
  kt_image_free(&img);
  keel_renderer_stats s = {.struct_size = KEEL_STRUCT_SIZE(keel_renderer_stats)};
  glt_api->stats(r, &s);
  CU_ASSERT_EQUAL(s.passes, 3);
  glt_assert_clean(r);
  glt_api->destroy(r);
}

/* A frame of many draws, recorded on 1 and on 4 threads (one encoder per
 * thread and pass, as the engine does): the same image, bit for bit, and
 * the same counters. Under TSan this is the race check of recording. */
#define MANY 3000u
static void many_frame(glt_frame *f, keel_draw *d, keel_mesh cube, keel_mesh sphere) {
  memset(f, 0, sizeof *f);
  f->clear = (keel_color){0.05f, 0.06f, 0.08f, 1};
  f->lights[0] = (keel_light){.kind = KEEL_LIGHT_DIRECTIONAL, .direction = {-0.3f, -1, -0.5f}, .color = {1, 1, 1, 1},
                              .intensity = 0.8f};
  f->light_count = 1;
  f->cameras[0] = glt_world_camera((keel_vec3){0, 20, 40}, (keel_vec3){0, 0, 0}, GLT_WIDTH, GLT_HEIGHT);
  f->cameras[1] = glt_screen_camera(GLT_WIDTH, GLT_HEIGHT);
  /* Sorted by mesh, as Prepare sorts: cubes then spheres in the world,
   * a few cubes on the screen. */
  for (uint32_t i = 0; i < MANY; i++) {
    float a = (float)i * 0.37f, rad = 2.0f + (float)(i % 97) * 0.2f;
    d[i] = (keel_draw){.mesh = i < MANY * 2 / 3 ? cube : sphere,
                       .color = {(float)(i % 7) / 7.0f, (float)(i % 11) / 11.0f, (float)(i % 13) / 13.0f, 1},
                       .model = glt_trs(rad * cosf(a), (float)(i % 5) - 2.0f, rad * sinf(a), 0.6f, 0.6f, 0.6f),
                       .entity = i + 1};
  }
  for (uint32_t i = 0; i < 40; i++)
    d[MANY + i] = (keel_draw){.mesh = cube, .color = {1, (float)i / 40.0f, 0, 1},
                              .model = glt_trs(4.0f + (float)i * 3.0f, 6, (float)i, 4, 4, 1), .entity = MANY + i + 1};
  f->draws[0] = d;
  f->counts[0] = MANY;
  f->draws[1] = d + MANY;
  f->counts[1] = 40;
}

static void test_threads_same_image(void) {
  keel_renderer *r = glt_make();
  keel_mesh cube = glt_mesh(r, KEEL_MESH_CUBE), sphere = glt_mesh(r, KEEL_MESH_SPHERE);
  static keel_draw d[MANY + 40];
  glt_frame f;
  many_frame(&f, d, cube, sphere);
  CU_ASSERT_EQUAL(glt_render(r, &f, 1), KEEL_OK);
  kt_image one = glt_pixels(r);
  keel_renderer_stats s1 = {.struct_size = KEEL_STRUCT_SIZE(keel_renderer_stats)};
  glt_api->stats(r, &s1);
  /* Several frames on 4 threads: buffers of every frame in flight used. */
  for (int i = 0; i < 5; i++) CU_ASSERT_EQUAL(glt_render(r, &f, GLT_WORKERS), KEEL_OK);
  kt_image four = glt_pixels(r);
  kt_image_diff diff = kt_image_compare(&four, &one, 0);
  CU_ASSERT_EQUAL(diff.off, 0);
  CU_ASSERT_FALSE(diff.size_mismatch);
  keel_renderer_stats s = {.struct_size = KEEL_STRUCT_SIZE(keel_renderer_stats)};
  glt_api->stats(r, &s);
  CU_ASSERT_EQUAL(s.frames, 6);
  CU_ASSERT_EQUAL(s.passes, 12);
  CU_ASSERT_EQUAL(s.draws, 6 * (MANY + 40));
  /* One encoder per pass on 1 thread; 4 per pass on 4 threads. */
  CU_ASSERT_EQUAL(s1.encoders, 2);
  CU_ASSERT_EQUAL(s.encoders, 2 + 5 * 8);
  /* One instanced draw per run of a mesh, however many encoders the run
   * spans: cubes and spheres in the world, cubes on the screen. */
  CU_ASSERT_EQUAL(s1.draw_calls, 3);
  CU_ASSERT_EQUAL(s.draw_calls, 6 * 3);
  CU_ASSERT_EQUAL(s.meshes, 2);
  kt_image_free(&one);
  kt_image_free(&four);
  glt_assert_clean(r);
  glt_api->destroy(r);
}

/* Runs of one mesh become one draw call each; a mesh change or a camera
 * change ends a run. */
static void test_draw_calls(void) {
  keel_renderer *r = glt_make();
  keel_mesh cube = glt_mesh(r, KEEL_MESH_CUBE), sphere = glt_mesh(r, KEEL_MESH_SPHERE);
  keel_camera cam = glt_world_camera((keel_vec3){0, 0, 10}, (keel_vec3){0, 0, 0}, GLT_WIDTH, GLT_HEIGHT);
  keel_camera other = glt_world_camera((keel_vec3){0, 1, 10}, (keel_vec3){0, 0, 0}, GLT_WIDTH, GLT_HEIGHT);
  keel_draw d[5];
  for (int i = 0; i < 5; i++)
    d[i] = (keel_draw){.mesh = i == 2 ? sphere : cube, .color = {1, 1, 1, 1}, .model = glt_trs(0, 0, 0, 1, 1, 1)};
  keel_frame_desc fd = {.struct_size = KEEL_STRUCT_SIZE(keel_frame_desc)};
  CU_ASSERT_EQUAL(glt_api->begin_frame(r, &fd), KEEL_OK);
  keel_encoder *e = NULL;
  CU_ASSERT_EQUAL_FATAL(glt_api->encoder_begin(r, 0, 0, &e), KEEL_OK);
  CU_ASSERT_EQUAL(glt_api->encoder_set_camera(e, &cam), KEEL_OK);
  CU_ASSERT_EQUAL(glt_api->encoder_draw(e, d, 2), KEEL_OK);     /* cube cube: 1 */
  CU_ASSERT_EQUAL(glt_api->encoder_draw(e, d + 2, 3), KEEL_OK); /* sphere: 2, cube cube: 3 */
  CU_ASSERT_EQUAL(glt_api->encoder_set_camera(e, &other), KEEL_OK);
  CU_ASSERT_EQUAL(glt_api->encoder_draw(e, d + 3, 2), KEEL_OK); /* cube cube, new camera: 4 */
  CU_ASSERT_EQUAL(glt_api->encoder_set_camera(e, &other), KEEL_OK);
  CU_ASSERT_EQUAL(glt_api->encoder_draw(e, d + 3, 2), KEEL_OK); /* the same camera again: still 4 */
  CU_ASSERT_EQUAL(glt_api->encoder_end(e), KEEL_OK);
  CU_ASSERT_EQUAL(glt_api->end_frame(r), KEEL_OK);
  keel_renderer_stats s = {.struct_size = KEEL_STRUCT_SIZE(keel_renderer_stats)};
  glt_api->stats(r, &s);
  CU_ASSERT_EQUAL(s.draws, 9);
  CU_ASSERT_EQUAL(s.draw_calls, 4);
  CU_ASSERT_EQUAL(s.encoders, 1);
  CU_ASSERT_EQUAL(s.passes, 2);
  glt_assert_clean(r);
  glt_api->destroy(r);
}

/* ---- the contract's refusals: each is WRONG_STATE or INVALID_ARGUMENT,
 * logged naming the call, counted, and nothing crashes. */

static keel_renderer *thread_r;
static keel_result thread_res;
static void *begin_off_main(void *arg) {
  (void)arg;
  keel_frame_desc fd = {.struct_size = KEEL_STRUCT_SIZE(keel_frame_desc)};
  thread_res = glt_api->begin_frame(thread_r, &fd);
  return NULL;
}

static void test_refusals(void) {
  keel_renderer *r = glt_make();
  keel_mesh cube = glt_mesh(r, KEEL_MESH_CUBE);
  /* Off the main thread. */
  thread_r = r;
  pthread_t t;
  pthread_create(&t, NULL, begin_off_main, NULL);
  pthread_join(t, NULL);
  CU_ASSERT_EQUAL(thread_res, KEEL_ERR_WRONG_STATE);
  CU_ASSERT_TRUE(fake_host_log_has(&glt_host, "begin_frame: called off the main thread"));
  /* No frame open. */
  keel_encoder *e = NULL;
  CU_ASSERT_EQUAL(glt_api->encoder_begin(r, 0, 0, &e), KEEL_ERR_WRONG_STATE);
  CU_ASSERT_EQUAL(glt_api->end_frame(r), KEEL_ERR_WRONG_STATE);
  uint8_t px[4];
  uint32_t w, h;
  CU_ASSERT_EQUAL(glt_readback->readback_rgba8(r, px, sizeof px, &w, &h), KEEL_ERR_WRONG_STATE);
  keel_frame_desc fd = {.struct_size = KEEL_STRUCT_SIZE(keel_frame_desc)};
  CU_ASSERT_EQUAL(glt_api->begin_frame(r, &fd), KEEL_OK);
  CU_ASSERT_EQUAL(glt_api->begin_frame(r, &fd), KEEL_ERR_WRONG_STATE);
  CU_ASSERT_EQUAL(glt_api->encoder_begin(r, 2, 0, &e), KEEL_ERR_WRONG_STATE);
  CU_ASSERT_TRUE(fake_host_log_has(&glt_host, "encoder_begin: pass 2 out of range (pass_count 2)"));
  CU_ASSERT_EQUAL(glt_api->encoder_begin(r, 0, GLT_WORKERS, &e), KEEL_ERR_WRONG_STATE);
  CU_ASSERT_EQUAL_FATAL(glt_api->encoder_begin(r, 0, 1, &e), KEEL_OK);
  keel_encoder *again = NULL;
  CU_ASSERT_EQUAL(glt_api->encoder_begin(r, 0, 1, &again), KEEL_ERR_WRONG_STATE);
  keel_draw d = {.mesh = cube, .color = {1, 1, 1, 1}, .model = glt_trs(0, 0, 0, 1, 1, 1)};
  CU_ASSERT_EQUAL(glt_api->encoder_draw(e, &d, 1), KEEL_ERR_WRONG_STATE); /* no camera yet */
  keel_camera cam = glt_world_camera((keel_vec3){0, 0, 10}, (keel_vec3){0, 0, 0}, GLT_WIDTH, GLT_HEIGHT);
  CU_ASSERT_EQUAL(glt_api->encoder_set_camera(e, &cam), KEEL_OK);
  keel_draw bad[2] = {d, d};
  bad[1].mesh.id = 0x00050007;
  CU_ASSERT_EQUAL(glt_api->encoder_draw(e, bad, 2), KEEL_ERR_WRONG_STATE);
  CU_ASSERT_TRUE(fake_host_log_has(&glt_host, "encoder_draw: draw 1 of 2 uses mesh 0x00050007, which is not a live"));
  CU_ASSERT_EQUAL(glt_api->encoder_draw(e, &d, 1), KEEL_OK);
  CU_ASSERT_EQUAL(glt_api->resize(r, 64, 64), KEEL_ERR_WRONG_STATE);
  /* Left open: end_frame drops it and says so; the frame still ends. */
  CU_ASSERT_EQUAL(glt_api->end_frame(r), KEEL_ERR_WRONG_STATE);
  CU_ASSERT_TRUE(fake_host_log_has(&glt_host, "end_frame: encoder (pass 0, worker 1) is still open"));
  CU_ASSERT_EQUAL(glt_api->encoder_draw(e, &d, 1), KEEL_ERR_WRONG_STATE);
  CU_ASSERT_EQUAL(glt_api->present(r), KEEL_OK);
  CU_ASSERT_EQUAL(glt_api->present(r), KEEL_ERR_WRONG_STATE);
  /* Readback with too little room says the size without an error. */
  CU_ASSERT_EQUAL(glt_readback->readback_rgba8(r, px, sizeof px, &w, &h), KEEL_ERR_FULL);
  CU_ASSERT_EQUAL(w, GLT_WIDTH);
  CU_ASSERT_EQUAL(h, GLT_HEIGHT);
  keel_renderer_stats s = {.struct_size = KEEL_STRUCT_SIZE(keel_renderer_stats)};
  glt_api->stats(r, &s);
  CU_ASSERT_EQUAL(s.errors, 14);
  CU_ASSERT_EQUAL(s.draws, 0);
  CU_ASSERT_EQUAL(s.debug_messages, 0);
  glt_api->destroy(r);
}

/* A mesh destroyed after draws of it were recorded: those draws are
 * dropped at end_frame with a logged reason, the rest is drawn. */
static void test_mesh_destroyed_mid_frame(void) {
  keel_renderer *r = glt_make();
  keel_mesh cube = glt_mesh(r, KEEL_MESH_CUBE), sphere = glt_mesh(r, KEEL_MESH_SPHERE);
  keel_frame_desc fd = {.struct_size = KEEL_STRUCT_SIZE(keel_frame_desc)};
  CU_ASSERT_EQUAL(glt_api->begin_frame(r, &fd), KEEL_OK);
  keel_encoder *e = NULL;
  CU_ASSERT_EQUAL_FATAL(glt_api->encoder_begin(r, 0, 0, &e), KEEL_OK);
  keel_camera cam = glt_world_camera((keel_vec3){0, 0, 10}, (keel_vec3){0, 0, 0}, GLT_WIDTH, GLT_HEIGHT);
  CU_ASSERT_EQUAL(glt_api->encoder_set_camera(e, &cam), KEEL_OK);
  keel_draw d[2] = {{.mesh = cube, .color = {1, 0, 0, 1}, .model = glt_trs(-2, 0, 0, 1, 1, 1)},
                    {.mesh = sphere, .color = {0, 1, 0, 1}, .model = glt_trs(2, 0, 0, 1, 1, 1)}};
  CU_ASSERT_EQUAL(glt_api->encoder_draw(e, d, 2), KEEL_OK);
  CU_ASSERT_EQUAL(glt_api->encoder_end(e), KEEL_OK);
  CU_ASSERT_EQUAL(glt_api->mesh_destroy(r, sphere), KEEL_OK);
  CU_ASSERT_EQUAL(glt_api->end_frame(r), KEEL_ERR_WRONG_STATE);
  CU_ASSERT_TRUE(fake_host_log_has(&glt_host, "was destroyed after 1 draws of it were recorded; they are dropped"));
  keel_renderer_stats s = {.struct_size = KEEL_STRUCT_SIZE(keel_renderer_stats)};
  glt_api->stats(r, &s);
  CU_ASSERT_EQUAL(s.draw_calls, 1);
  CU_ASSERT_EQUAL(s.meshes, 1);
  CU_ASSERT_EQUAL(s.debug_messages, 0);
  CU_ASSERT_EQUAL(glt_api->mesh_destroy(r, sphere), KEEL_ERR_STALE_ID);
  glt_api->destroy(r);
}

/* Custom meshes are checked at creation, with the reason. */
static void test_mesh_validation(void) {
  keel_renderer *r = glt_make();
  static const float pos[] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1, 0};
  static const uint32_t good[] = {0, 1, 2, 1, 3, 2}, past[] = {0, 1, 4}, short_list[] = {0, 1};
  keel_mesh_desc d = {.struct_size = KEEL_STRUCT_SIZE(keel_mesh_desc), .positions = pos, .vertex_count = 4,
                      .indices = good, .index_count = 6};
  keel_mesh m = {0};
  CU_ASSERT_EQUAL(glt_api->mesh_create(r, &d, &m), KEEL_OK); /* no normals: computed from the faces */
  CU_ASSERT_NOT_EQUAL(m.id, 0);
  d.indices = past, d.index_count = 3;
  CU_ASSERT_EQUAL(glt_api->mesh_create(r, &d, &m), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_EQUAL(m.id, 0);
  CU_ASSERT_TRUE(fake_host_log_has(&glt_host, "mesh_create: index 2 is 4, past the 4 vertices"));
  d.indices = short_list, d.index_count = 2;
  CU_ASSERT_EQUAL(glt_api->mesh_create(r, &d, &m), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_TRUE(fake_host_log_has(&glt_host, "mesh_create: 2 indices: a triangle list needs a multiple of 3"));
  d.indices = NULL, d.index_count = 0; /* 4 vertices, no indices */
  CU_ASSERT_EQUAL(glt_api->mesh_create(r, &d, &m), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_TRUE(fake_host_log_has(&glt_host, "4 vertices without indices: a triangle list needs a multiple of 3"));
  d.vertex_count = 3; /* one triangle, no indices */
  CU_ASSERT_EQUAL(glt_api->mesh_create(r, &d, &m), KEEL_OK);
  keel_mesh_desc builtin = {.struct_size = KEEL_STRUCT_SIZE(keel_mesh_desc), .builtin = KEEL_MESH_SPHERE};
  CU_ASSERT_EQUAL(glt_api->mesh_create(r, &builtin, &m), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_TRUE(fake_host_log_has(&glt_host, "an ABI 1.1 host sends the geometry of every built-in"));
  keel_renderer_stats s = {.struct_size = KEEL_STRUCT_SIZE(keel_renderer_stats)};
  glt_api->stats(r, &s);
  CU_ASSERT_EQUAL(s.meshes, 2);
  CU_ASSERT_EQUAL(s.errors, 4);
  CU_ASSERT_EQUAL(s.debug_messages, 0);
  glt_api->destroy(r);
}

/* After a resize the next frame has the new size and the same picture
 * rules; a readback between the two is refused (the old image is gone). */
static void test_resize(void) {
  keel_renderer *r = glt_make();
  keel_mesh cube = glt_mesh(r, KEEL_MESH_CUBE), sphere = glt_mesh(r, KEEL_MESH_SPHERE);
  glt_frame f = glt_probe_frame(cube, sphere);
  CU_ASSERT_EQUAL(glt_render(r, &f, 1), KEEL_OK);
  CU_ASSERT_EQUAL(glt_api->resize(r, GLT_WIDTH * 2, GLT_HEIGHT * 2), KEEL_OK);
  uint8_t one[4];
  uint32_t w, h;
  CU_ASSERT_EQUAL(glt_readback->readback_rgba8(r, one, sizeof one, &w, &h), KEEL_ERR_WRONG_STATE);
  f.cameras[0] = glt_world_camera((keel_vec3){0, 0, 10}, (keel_vec3){0, 0, 0}, GLT_WIDTH * 2, GLT_HEIGHT * 2);
  f.cameras[1] = glt_screen_camera(GLT_WIDTH * 2, GLT_HEIGHT * 2);
  CU_ASSERT_EQUAL(glt_render(r, &f, 2), KEEL_OK);
  kt_image img = glt_pixels(r);
  w = img.width, h = img.height;
  CU_ASSERT_EQUAL(w, GLT_WIDTH * 2);
  CU_ASSERT_EQUAL(h, GLT_HEIGHT * 2);
  int cx, cy;
  glt_project(&f.cameras[0], (keel_vec3){0, 0, 1}, w, h, &cx, &cy);
  CU_ASSERT(abs(cx - (int)w / 2) <= 1 && abs(cy - (int)h / 2) <= 1);
  uint8_t want[4];
  glt_shade(&f, glt_unproject(&f.cameras[0], cx, cy, w, h, 1.0f), glt_probe_draws[0].color, want);
  KT_ASSERT_PIXEL(&img, cx, cy, want[0], want[1], want[2], want[3], 1);
  KT_ASSERT_PIXEL(&img, 40, 25, 255, 255, 0, 255, 0);
  kt_image_free(&img);
  /* A size the device cannot draw is refused and the old one kept. */
  CU_ASSERT_EQUAL(glt_api->resize(r, 1u << 20, 16), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_TRUE(fake_host_log_has(&glt_host, "resize: 1048576x16 is larger than"));
  CU_ASSERT_EQUAL(glt_render(r, &f, 1), KEEL_OK);
  img = glt_pixels(r);
  CU_ASSERT_EQUAL(img.width, GLT_WIDTH * 2);
  kt_image_free(&img);
  keel_renderer_stats s = {.struct_size = KEEL_STRUCT_SIZE(keel_renderer_stats)};
  glt_api->stats(r, &s);
  CU_ASSERT_EQUAL(s.debug_messages, 0);
  CU_ASSERT_EQUAL(s.errors, 2);
  glt_api->destroy(r);
}

/* [renderer] device: empty, 0 or part of GL_RENDERER's name picks the one
 * device EGL surfaceless gives; anything else fails create with the list. */
static void test_device_setting(void) {
  const char *ok[] = {"", "0", "LLVMpipe"};
  for (size_t i = 0; i < 3; i++) {
    fake_host_init(&glt_host, NULL);
    keel_renderer_desc d = glt_desc();
    d.device = ok[i];
    keel_renderer *r = NULL;
    kc_err err;
    CU_ASSERT_EQUAL(kc_plugin_create_renderer(glt_plugin, &d, &r, &err), KEEL_OK);
    glt_api->destroy(r);
  }
  keel_renderer_desc d = glt_desc();
  d.device = "nosuch";
  keel_renderer *r = NULL;
  keel_message msg = {{0}};
  CU_ASSERT_EQUAL(glt_api->create(&d, &r, &msg), KEEL_ERR_NOT_FOUND);
  CU_ASSERT_PTR_NULL(r);
  KT_ASSERT_CONTAINS(msg.text, "device 'nosuch' matches no GL device; EGL surfaceless offers one: 0 llvmpipe");
  d.device = "1";
  CU_ASSERT_EQUAL(glt_api->create(&d, &r, &msg), KEEL_ERR_NOT_FOUND);
  d.device = "";
  d.pass_count = KEEL_RENDERER_MAX_PASSES + 1;
  CU_ASSERT_EQUAL(glt_api->create(&d, &r, &msg), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(msg.text, "pass_count 9 out of range 1..8");
  CU_ASSERT_PTR_NULL(r);
}

/* ---- the windowed path: the renderer draws into whatever context the
 * host's platform_gl_* entries give. Here the "window" is an EGL pbuffer
 * made by the test, so the path runs without a display: present must blit
 * the image right side up into the window's framebuffer and swap. */

typedef struct egl_fns {
  void *lib;
  void *(*get_proc)(const char *);
  void *(*get_platform_display)(unsigned, void *, const intptr_t *);
  unsigned (*initialize)(void *, int32_t *, int32_t *);
  unsigned (*choose_config)(void *, const int32_t *, void **, int32_t, int32_t *);
  unsigned (*bind_api)(unsigned);
  void *(*create_context)(void *, void *, void *, const int32_t *);
  void *(*create_pbuffer)(void *, void *, const int32_t *);
  unsigned (*make_current)(void *, void *, void *, void *);
  unsigned (*swap)(void *, void *);
  unsigned (*destroy_surface)(void *, void *);
  unsigned (*destroy_context)(void *, void *);
  void *dpy, *ctx, *surface;
  int swaps, make_currents;
} egl_fns;
static egl_fns egl;

static bool win_has_window(const keel_host *h) {
  (void)h;
  return true;
}
static keel_result win_size(const keel_host *h, uint32_t *w, uint32_t *ht) {
  (void)h;
  *w = GLT_WIDTH, *ht = GLT_HEIGHT;
  return KEEL_OK;
}
static keel_result win_make_current(const keel_host *h) {
  (void)h;
  egl.make_currents++;
  return egl.make_current(egl.dpy, egl.surface, egl.surface, egl.ctx) ? KEEL_OK : KEEL_ERR_BACKEND;
}
static void *win_proc(const keel_host *h, const char *name) {
  (void)h;
  return egl.get_proc(name);
}
static keel_result win_swap(const keel_host *h) {
  (void)h;
  egl.swaps++;
  return egl.swap(egl.dpy, egl.surface) ? KEEL_OK : KEEL_ERR_BACKEND;
}
static keel_result win_refuse(const keel_host *h) {
  (void)h;
  return KEEL_ERR_UNSUPPORTED;
}

static bool egl_window_open(void) {
  memset(&egl, 0, sizeof egl);
  egl.lib = dlopen("libEGL.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!egl.lib) return false;
  egl.get_proc = (void *(*)(const char *))dlsym(egl.lib, "eglGetProcAddress");
  if (!egl.get_proc) return false;
#define EGL_FN(field, name) *(void **)&egl.field = egl.get_proc(name)
  EGL_FN(get_platform_display, "eglGetPlatformDisplay");
  EGL_FN(initialize, "eglInitialize");
  EGL_FN(choose_config, "eglChooseConfig");
  EGL_FN(bind_api, "eglBindAPI");
  EGL_FN(create_context, "eglCreateContext");
  EGL_FN(create_pbuffer, "eglCreatePbufferSurface");
  EGL_FN(make_current, "eglMakeCurrent");
  EGL_FN(swap, "eglSwapBuffers");
  EGL_FN(destroy_surface, "eglDestroySurface");
  EGL_FN(destroy_context, "eglDestroyContext");
#undef EGL_FN
  egl.dpy = egl.get_platform_display(0x31DD /* EGL_PLATFORM_SURFACELESS_MESA */, NULL, NULL);
  int32_t major, minor;
  if (!egl.dpy || !egl.initialize(egl.dpy, &major, &minor) || !egl.bind_api(0x30A2 /* EGL_OPENGL_API */)) return false;
  const int32_t want[] = {0x3033 /* SURFACE_TYPE */, 0x0001 /* PBUFFER_BIT */, 0x3040 /* RENDERABLE_TYPE */,
                          0x0008 /* OPENGL_BIT */, 0x3024, 8, 0x3023, 8, 0x3022, 8, 0x3038 /* NONE */};
  void *config = NULL;
  int32_t n = 0;
  if (!egl.choose_config(egl.dpy, want, &config, 1, &n) || n < 1) return false;
  const int32_t ctx_attrs[] = {0x3098, 3, 0x30FB, 3, 0x30FD, 1 /* core */, 0x31B0, 1 /* debug */, 0x3038};
  egl.ctx = egl.create_context(egl.dpy, config, NULL, ctx_attrs);
  const int32_t pb_attrs[] = {0x3057 /* WIDTH */, GLT_WIDTH, 0x3056 /* HEIGHT */, GLT_HEIGHT, 0x3038};
  egl.surface = egl.create_pbuffer(egl.dpy, config, pb_attrs);
  return egl.ctx && egl.surface;
}

static void egl_window_close(void) {
  if (egl.dpy) {
    egl.make_current(egl.dpy, NULL, NULL, NULL);
    if (egl.surface) egl.destroy_surface(egl.dpy, egl.surface);
    if (egl.ctx) egl.destroy_context(egl.dpy, egl.ctx);
  }
  /* libEGL stays loaded: EGL's own exit handler still needs it. */
}

static void test_windowed_refused_without_window(void) {
  fake_host_init(&glt_host, NULL);
  keel_renderer_desc d = glt_desc();
  d.headless = false;
  keel_renderer *r = NULL;
  keel_message msg = {{0}};
  /* The fake host lends no platform_gl_* entries. */
  CU_ASSERT_EQUAL(glt_api->create(&d, &r, &msg), KEEL_ERR_UNSUPPORTED);
  KT_ASSERT_CONTAINS(msg.text, "windowed: the host lends no GL window entries (platform_gl_*)");
  /* A host whose platform has no GL window, as keel's has today. */
  glt_host.host.platform_framebuffer_size = win_size;
  glt_host.host.platform_gl_get_proc_address = win_proc;
  glt_host.host.platform_gl_make_current = win_refuse;
  glt_host.host.platform_gl_swap_buffers = win_refuse;
  glt_host.host.platform_has_window = win_has_window;
  CU_ASSERT_EQUAL(glt_api->create(&d, &r, &msg), KEEL_ERR_UNSUPPORTED);
  KT_ASSERT_CONTAINS(msg.text, "windowed: the host's GL context cannot be made current (KEEL_ERR_UNSUPPORTED)");
  CU_ASSERT_PTR_NULL(r);
}

static void test_windowed_through_host(void) {
  CU_ASSERT_TRUE_FATAL(egl_window_open());
  fake_host_init(&glt_host, NULL);
  glt_host.host.platform_has_window = win_has_window;
  glt_host.host.platform_framebuffer_size = win_size;
  glt_host.host.platform_gl_get_proc_address = win_proc;
  glt_host.host.platform_gl_make_current = win_make_current;
  glt_host.host.platform_gl_swap_buffers = win_swap;
  keel_renderer_desc d = glt_desc();
  d.headless = false;
  keel_renderer *r = NULL;
  kc_err err;
  keel_result res = kc_plugin_create_renderer(glt_plugin, &d, &r, &err);
  if (res != KEEL_OK) fprintf(stderr, "\n  create: %s\n", err.msg);
  CU_ASSERT_EQUAL_FATAL(res, KEEL_OK);
  CU_ASSERT_TRUE(fake_host_log_has(&glt_host, "the host's window"));
  CU_ASSERT_EQUAL(egl.make_currents, 1);
  keel_mesh cube = glt_mesh(r, KEEL_MESH_CUBE), sphere = glt_mesh(r, KEEL_MESH_SPHERE);
  glt_frame f = glt_probe_frame(cube, sphere);
  CU_ASSERT_EQUAL(glt_render(r, &f, 2), KEEL_OK);
  CU_ASSERT_EQUAL(egl.swaps, 1);
  kt_image img = glt_pixels(r);
  uint32_t w = img.width, h = img.height;
  glt_check_probe(&img, &f);
  /* What the window shows: its framebuffer, read bottom row first as GL
   * does, is the image upside down: the top row of the image is on top. */
  void (*read_pixels)(int, int, int, int, unsigned, unsigned, void *) =
      (void (*)(int, int, int, int, unsigned, unsigned, void *))egl.get_proc("glReadPixels");
  void (*bind_fb)(unsigned, unsigned) = (void (*)(unsigned, unsigned))egl.get_proc("glBindFramebuffer");
  uint8_t *shown = malloc((size_t)w * h * 4);
  bind_fb(0x8CA8 /* GL_READ_FRAMEBUFFER */, 0);
  read_pixels(0, 0, (int)w, (int)h, 0x1908 /* GL_RGBA */, 0x1401 /* GL_UNSIGNED_BYTE */, shown);
  /* RGB only: the window's config may have no alpha channel. */
  size_t differ = 0;
  for (uint32_t y = 0; y < h; y++)
    for (uint32_t x = 0; x < w; x++)
      differ += memcmp(shown + ((size_t)(h - 1 - y) * w + x) * 4, kt_image_at(&img, x, y), 3) != 0;
  CU_ASSERT_EQUAL(differ, 0);
  free(shown);
  kt_image_free(&img);
  glt_assert_clean(r);
  glt_api->destroy(r);
  egl_window_close();
}

/* The host's context is shared: an error another user of it raises is a
 * KHR_debug message (logged as an error, counted) and, still pending at the
 * next end_frame, a logged and counted GL error that end_frame reports
 * (KEEL_ERR_BACKEND) while it draws the frame anyway; the frame after is
 * clean. */
static void test_windowed_debug_message_and_gl_error(void) {
  CU_ASSERT_TRUE_FATAL(egl_window_open());
  fake_host_init(&glt_host, NULL);
  glt_host.host.platform_has_window = win_has_window;
  glt_host.host.platform_framebuffer_size = win_size;
  glt_host.host.platform_gl_get_proc_address = win_proc;
  glt_host.host.platform_gl_make_current = win_make_current;
  glt_host.host.platform_gl_swap_buffers = win_swap;
  keel_renderer_desc d = glt_desc();
  d.headless = false;
  keel_renderer *r = NULL;
  kc_err err;
  CU_ASSERT_EQUAL_FATAL(kc_plugin_create_renderer(glt_plugin, &d, &r, &err), KEEL_OK);
  keel_mesh cube = glt_mesh(r, KEEL_MESH_CUBE), sphere = glt_mesh(r, KEEL_MESH_SPHERE);
  glt_frame f = glt_probe_frame(cube, sphere);
  void (*gl_enable)(unsigned) = (void (*)(unsigned))egl.get_proc("glEnable");
  gl_enable(0xDEAD); /* GL_INVALID_ENUM, raised by "the host" */
  keel_renderer_stats s = {.struct_size = KEEL_STRUCT_SIZE(keel_renderer_stats)};
  glt_api->stats(r, &s);
  CU_ASSERT_EQUAL(s.debug_messages, 1);
  CU_ASSERT_EQUAL(s.errors, 0);
  CU_ASSERT_TRUE(fake_host_log_has(&glt_host, "ERROR: GL debug message (api, error, id "));
  CU_ASSERT_EQUAL(glt_render(r, &f, 1), KEEL_ERR_BACKEND);
  CU_ASSERT_TRUE(fake_host_log_has(
      &glt_host, "end_frame: GL_INVALID_ENUM was pending before its first GL call (raised by another user of the context)"));
  glt_api->stats(r, &s);
  CU_ASSERT_EQUAL(s.errors, 1);
  CU_ASSERT_EQUAL(s.frames, 1);
  CU_ASSERT_EQUAL(glt_render(r, &f, 1), KEEL_OK);
  kt_image img = glt_pixels(r);
  glt_check_probe(&img, &f);
  kt_image_free(&img);
  glt_api->stats(r, &s);
  CU_ASSERT_EQUAL(s.errors, 1);
  CU_ASSERT_EQUAL(s.debug_messages, 1);
  CU_ASSERT_EQUAL(glt_host.log_errors, 2);
  glt_api->destroy(r);
  egl_window_close();
}

static CU_TestInfo gl_tests[] = {
    {"a debug context, no message", test_debug_context},
    {"clear only", test_clear_only},
    {"probe scene pixels", test_probe_scene},
    {"back faces culled in the world pass only", test_culling},
    {"near plane at 0.1, depth 0..1", test_near_plane},
    {"passes after the first are screen layers", test_more_screen_layers},
    {"1 or 4 recording threads, one image", test_threads_same_image},
    {"instanced runs and draw calls", test_draw_calls},
    {"refusals", test_refusals},
    {"mesh destroyed mid-frame", test_mesh_destroyed_mid_frame},
    {"mesh validation", test_mesh_validation},
    {"resize", test_resize},
    {"device setting", test_device_setting},
    {"windowed refused without a window", test_windowed_refused_without_window},
    {"windowed through the host's entries", test_windowed_through_host},
    {"a debug message and a GL error from the host's side", test_windowed_debug_message_and_gl_error},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"renderer gl", glt_suite_init, glt_suite_cleanup, NULL, NULL, gl_tests},
    CU_SUITE_INFO_NULL,
};
