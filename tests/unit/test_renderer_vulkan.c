// keel-test-labels: plugin vulkan concurrency
// keel-test-depends: renderer_vulkan script_lua script_js
// keel-test-timeout: 900
/* The Vulkan renderer on lavapipe, headless, always with the Khronos
 * validation layer required (a run with any validation message fails):
 * pixels of a scene computed by hand from the shading model, the gallery
 * against its golden image, the stats JSON against the scene, device choice,
 * the default engine.ini, --list-plugins; and, through the SDK alone,
 * recording on several threads at once (run under TSan), bad meshes refused
 * with the reason, and a lost device or an out-of-memory reported with the
 * call that failed. */
#include <keel_test.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_host.h"
#include "image.h"
#include "plugin/loader.h"

static char out[1 << 18];

/* keel with validation required, unthrottled, plus `args`. The tick
 * budget is generous: under TSan on a busy machine the scenes' init (4010
 * creates) can outlast the default 50 ms, and an interrupted init is
 * another scene. */
static int keel(const char *args) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "%s --set engine.target_fps=0 --set renderer.validation=on --set script.tick_budget_ms=10000 %s",
           KEEL_TEST_KEEL_EXE, args);
  return kt_run(cmd, out, sizeof out);
}

static char *slurp(const char *path) {
  static char buf[1 << 16];
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* Every run through keel: it ran on Vulkan, and the layer said nothing. */
static void expect_vulkan_clean(const char *json) {
  KT_ASSERT_CONTAINS(out, "[vulkan] device ");
  KT_ASSERT_CONTAINS(out, "validation on (Khronos layer");
  CU_ASSERT_PTR_NULL(strstr(out, "vulkan validation"));
  if (json) {
    KT_ASSERT_CONTAINS(json, "\"debug_messages\": 0,");
    KT_ASSERT_CONTAINS(json, "\"errors\": {\"total\": 0,");
  }
}

/* ---- the probe scene: pixels from the shading model ---- */

#define PW 320
#define PH 180

static uint8_t unorm(double v) {
  if (v <= 0) return 0;
  if (v >= 1) return 255;
  return (uint8_t)floor(v * 255.0 + 0.5);
}

/* The ground plane (y = -1, colour 0.4) seen through the centre of pixel
 * (x, y) of the probe camera (eye 0,3,6 looking at the origin, fov 60):
 * the sun from straight above plus the point light at (0, -0.5, 3), range
 * 2, both intensity 1, white. */
static uint8_t plane_pixel(uint32_t x, uint32_t y) {
  const double eye[3] = {0, 3, 6};
  double f[3] = {-eye[0], -eye[1], -eye[2]}, fl = sqrt(f[0] * f[0] + f[1] * f[1] + f[2] * f[2]);
  for (int i = 0; i < 3; i++) f[i] /= fl;
  double s[3] = {f[1] * 0 - f[2] * 1, f[2] * 0 - f[0] * 0, f[0] * 1 - f[1] * 0}; /* f x up */
  double sl = sqrt(s[0] * s[0] + s[1] * s[1] + s[2] * s[2]);
  for (int i = 0; i < 3; i++) s[i] /= sl;
  double u[3] = {s[1] * f[2] - s[2] * f[1], s[2] * f[0] - s[0] * f[2], s[0] * f[1] - s[1] * f[0]};
  double t = 1.0 / tan(60.0 * M_PI / 360.0), aspect = (double)PW / PH;
  double nx = (x + 0.5) / PW * 2 - 1, ny = (y + 0.5) / PH * 2 - 1;
  double vx = nx * aspect / t, vy = -ny / t;
  double d[3];
  for (int i = 0; i < 3; i++) d[i] = s[i] * vx + u[i] * vy + f[i];
  double lambda = (-1 - eye[1]) / d[1];
  double p[3] = {eye[0] + lambda * d[0], -1, eye[2] + lambda * d[2]};
  double to[3] = {0 - p[0], -0.5 - p[1], 3 - p[2]};
  double dist = sqrt(to[0] * to[0] + to[1] * to[1] + to[2] * to[2]);
  double fade = 1 - dist / 2;
  fade = fade < 0 ? 0 : fade > 1 ? 1 : fade;
  double point = (to[1] / dist > 0 ? to[1] / dist : 0) * fade * fade;
  return unorm(0.4 * (0.15 + 1.0 + point));
}

static void test_probe_pixels(void) {
  const char *png = kt_image_out_path("vulkan_probe.png");
  const char *json = kt_write_temp("probe.json", "");
  char args[4096];
  snprintf(args, sizeof args,
           "--frames 3 --lockstep --set renderer.width=%d --set renderer.height=%d "
           "--set script.main=%s/tests/scripts/render/probe/main.lua --screenshot %s --stats-json %s",
           PW, PH, KEEL_TEST_SOURCE_DIR, png, json);
  CU_ASSERT_EQUAL_FATAL(keel(args), 0);
  expect_vulkan_clean(slurp(json));
  kt_image img = {0};
  CU_ASSERT_TRUE_FATAL(kt_image_load(&img, png));
  CU_ASSERT_EQUAL_FATAL(img.width, PW);
  CU_ASSERT_EQUAL_FATAL(img.height, PH);
  /* The clear colour (0.05, 0.06, 0.08), in the sky. */
  KT_ASSERT_PIXEL(&img, 300, 5, 13, 15, 20, 255, 2);
  /* The cube's top face: colour x (ambient + the sun straight on). */
  KT_ASSERT_PIXEL(&img, 160, 68, unorm(0.5 * 1.15), unorm(0.25 * 1.15), unorm(0.125 * 1.15), 255, 2);
  /* Its front face, edge-on to the sun and out of the point light's range:
   * ambient only. */
  KT_ASSERT_PIXEL(&img, 160, 102, unorm(0.5 * 0.15), unorm(0.25 * 0.15), unorm(0.125 * 0.15), 255, 2);
  /* The ground right under the point light, and far from it. */
  uint8_t lit = plane_pixel(160, 168), sun_only = plane_pixel(207, 83);
  CU_ASSERT(lit > sun_only + 40); /* the point light shows */
  KT_ASSERT_PIXEL(&img, 160, 168, lit, lit, lit, 255, 2);
  KT_ASSERT_PIXEL(&img, 207, 83, sun_only, sun_only, sun_only, 255, 2);
  /* The HUD quad, unlit, over everything: 20x10 pixels centred at (20, 10). */
  KT_ASSERT_PIXEL(&img, 20, 10, unorm(0.9), unorm(0.2), unorm(0.2), 255, 2);
  KT_ASSERT_PIXEL(&img, 11, 6, unorm(0.9), unorm(0.2), unorm(0.2), 255, 2);
  kt_image_free(&img);
}

/* ---- the gallery against its golden image ---- */

/* The fraction of pixels that may differ by more than 2/255 from
 * tests/golden/vulkan_gallery.png: lavapipe is deterministic, so this only
 * leaves room for another LLVM's rounding at triangle edges. */
#define GALLERY_MAX_OFF 0.002

static void test_gallery_golden(void) {
  const char *png = kt_image_out_path("vulkan_gallery_lua.png");
  const char *json = kt_write_temp("gallery.json", "");
  char args[4096];
  snprintf(args, sizeof args,
           "--frames 60 --lockstep --set script.main=%s/samples/gallery/main.lua --screenshot %s "
           "--screenshot-frame 60 --stats-json %s",
           KEEL_TEST_SOURCE_DIR, png, json);
  CU_ASSERT_EQUAL_FATAL(keel(args), 0);
  expect_vulkan_clean(slurp(json));
  kt_image img = {0};
  CU_ASSERT_TRUE_FATAL(kt_image_load(&img, png));
  KT_ASSERT_GOLDEN(&img, "vulkan_gallery", GALLERY_MAX_OFF);
  /* The JS gallery is the same game line for line: the same picture. */
  const char *js_png = kt_image_out_path("vulkan_gallery_js.png");
  snprintf(args, sizeof args,
           "--frames 60 --lockstep --set script.runtime=js --set script.main=%s/samples/gallery/main.js "
           "--screenshot %s --screenshot-frame 60",
           KEEL_TEST_SOURCE_DIR, js_png);
  CU_ASSERT_EQUAL_FATAL(keel(args), 0);
  expect_vulkan_clean(NULL);
  kt_image js = {0};
  CU_ASSERT_TRUE_FATAL(kt_image_load(&js, js_png));
  kt_image_diff d = kt_image_compare(&js, &img, KT_IMAGE_CHANNEL_TOLERANCE);
  CU_ASSERT_EQUAL(d.off, 0);
  kt_image_free(&js);
  kt_image_free(&img);
}

/* ---- the stats JSON against the scene ---- */

static void test_stats_match_scene(void) {
  const char *json = kt_write_temp("many.json", "");
  char args[4096];
  /* 4000 world entities (3000 cubes, then 1000 spheres) and 10 on the
   * screen. Two workers: the world pass is cut in two slices of 2000, the
   * first all cubes (one instanced draw), the second 1000 cubes and 1000
   * spheres (two); the screen pass is one encoder with one draw. */
  snprintf(args, sizeof args,
           "--frames 4 --lockstep --set engine.threads=2 --set renderer.width=320 --set renderer.height=180 "
           "--set script.main=%s/tests/scripts/render/many/main.lua --stats-json %s",
           KEEL_TEST_SOURCE_DIR, json);
  CU_ASSERT_EQUAL_FATAL(keel(args), 0);
  char *j = slurp(json);
  expect_vulkan_clean(j);
  KT_ASSERT_CONTAINS(j, "\"renderer\": {\"frames\": 4, \"passes\": 8, \"encoders\": 12, \"draws\": 16040, "
                        "\"draw_calls\": 16, \"errors\": 0, \"debug_messages\": 0, \"meshes\": 2, \"lights\": 1,");
  /* One worker: one encoder a pass, a draw per mesh run. */
  snprintf(args, sizeof args,
           "--frames 4 --lockstep --set engine.threads=1 --set renderer.width=320 --set renderer.height=180 "
           "--set script.main=%s/tests/scripts/render/many/main.lua --stats-json %s",
           KEEL_TEST_SOURCE_DIR, json);
  CU_ASSERT_EQUAL_FATAL(keel(args), 0);
  j = slurp(json);
  expect_vulkan_clean(j);
  KT_ASSERT_CONTAINS(j, "\"renderer\": {\"frames\": 4, \"passes\": 8, \"encoders\": 8, \"draws\": 16040, "
                        "\"draw_calls\": 12, \"errors\": 0, \"debug_messages\": 0, \"meshes\": 2,");
}

/* ---- what a user sees ---- */

static void test_default_config_runs_on_vulkan(void) {
  CU_ASSERT_EQUAL(kt_run(KEEL_TEST_KEEL_EXE " --frames 3 --set engine.target_fps=0", out, sizeof out), 0);
  KT_ASSERT_CONTAINS(out, "[vulkan] device llvmpipe");
  KT_ASSERT_CONTAINS(out, "(CPU, Vulkan 1.");
  KT_ASSERT_CONTAINS(out, "driver llvmpipe");
  KT_ASSERT_CONTAINS(out, "info  main: renderer: vulkan ");
  KT_ASSERT_CONTAINS(out, "keel: renderer vulkan, script lua");
}

static void test_list_plugins_shows_vulkan_ok(void) {
  CU_ASSERT_EQUAL(keel("--list-plugins"), 0);
  KT_ASSERT_CONTAINS(out, "vulkan       renderer  1.0.0     1.1   ok");
  KT_ASSERT_CONTAINS(out, "keel_renderer_vulkan.so");
}

static void test_device_choice(void) {
  CU_ASSERT_EQUAL(keel("--frames 2 --set script.runtime=native --set renderer.device=LLVMPIPE"), 0);
  KT_ASSERT_CONTAINS(out, "[vulkan] device llvmpipe");
  CU_ASSERT_EQUAL(keel("--frames 2 --set script.runtime=native --set renderer.device=0"), 0);
  KT_ASSERT_CONTAINS(out, "[vulkan] device llvmpipe");
  /* A device that is not there: refused with the list, and the fallback
   * chain goes on. */
  CU_ASSERT_EQUAL(keel("--frames 2 --set script.runtime=native --set renderer.device=radeon9000 "
                       "--set renderer.fallback=null"),
                  0);
  KT_ASSERT_CONTAINS(out, "renderer 'vulkan': ");
  KT_ASSERT_CONTAINS(out, "create failed: [renderer] device = 'radeon9000' matches no Vulkan device (devices: 0: llvmpipe");
  KT_ASSERT_CONTAINS(out, "info  main: renderer: null ");
}

/* A fault the driver cannot be made to produce: the submission of frame 5
 * fails as if the device were lost (then frame 3's as if memory ran out).
 * Headless, frames are submitted by the renderer's submit thread, so the
 * failure reaches the engine when frame 5's slot is next waited for, at the
 * begin_frame of frame 7 (2 frames in flight): the Vulkan call and the frame
 * are named in the log, and the engine stops the run with exit 1 there. */
static void test_device_lost_is_logged_with_the_call(void) {
  char args[1024];
  snprintf(args, sizeof args, "KEEL_VULKAN_FAULT=device_lost@5 %s --set engine.target_fps=0 --frames 12 "
                              "--set script.runtime=native --set renderer.width=64 --set renderer.height=64",
           KEEL_TEST_KEEL_EXE);
  CU_ASSERT_EQUAL(kt_run(args, out, sizeof out), 1); /* the engine stops at once (docs/runner.md) */
  KT_ASSERT_CONTAINS(out, "KEEL_VULKAN_FAULT=device_lost@5: frame 5's submission will fail on purpose");
  KT_ASSERT_CONTAINS(out, "begin_frame: vkQueueSubmit of frame 5 (on the submit thread) failed: VK_ERROR_DEVICE_LOST "
                          "(the Vulkan device is lost");
  KT_ASSERT_CONTAINS(out, "keel: renderer vulkan: begin_frame returned KEEL_ERR_DEVICE_LOST: the graphics device is gone");
  KT_ASSERT_CONTAINS(out, "keel: 6 frames in"); /* 5 and 6 were handed over before the loss was known; none after */
  CU_ASSERT_PTR_NULL(strstr(out, "no frame is open")); /* the refused frame is not recorded */
  KT_ASSERT_CONTAINS(out, "keel: world hash ");
  /* Out of memory in the middle of the run: the same, with its own words. */
  snprintf(args, sizeof args, "KEEL_VULKAN_FAULT=out_of_memory@3 %s --set engine.target_fps=0 --frames 12 "
                              "--set script.runtime=native --set renderer.width=64 --set renderer.height=64",
           KEEL_TEST_KEEL_EXE);
  CU_ASSERT_EQUAL(kt_run(args, out, sizeof out), 1);
  KT_ASSERT_CONTAINS(out, "begin_frame: vkQueueSubmit of frame 3 (on the submit thread) failed: "
                          "VK_ERROR_OUT_OF_DEVICE_MEMORY");
  KT_ASSERT_CONTAINS(out, "keel: renderer vulkan: begin_frame returned KEEL_ERR_OUT_OF_MEMORY: the renderer ran out of memory");
  KT_ASSERT_CONTAINS(out, "keel: 4 frames in");
}

/* ---- through the SDK: the plugin alone ---- */

static kc_plugin_loader loader;
static kc_plugin *plugin;
static const keel_renderer_api *api;
static const keel_renderer_readback_api *readback;
static fake_host host;

static int suite_init(void) {
  kc_plugin_loader_init(&loader);
  kc_err err;
  if (kc_plugin_loader_add_dir(&loader, KEEL_TEST_PLUGIN_DIR, &err) != KEEL_OK ||
      kc_plugin_open(&loader, KEEL_PLUGIN_RENDERER, "vulkan", &plugin, NULL, &err) != KEEL_OK) {
    fprintf(stderr, "cannot load the Vulkan renderer: %s\n", err.msg);
    return 1;
  }
  api = plugin->interface;
  readback = kc_plugin_find_interface(plugin, KEEL_RENDERER_READBACK_INTERFACE, sizeof *readback);
  return readback ? 0 : 1;
}

static int suite_cleanup(void) {
  kc_plugin_close(plugin);
  kc_plugin_loader_free(&loader);
  return 0;
}

#define SW 64u
#define SH 64u
#define WORKERS 4u

static keel_renderer *make_renderer(const char *device) {
  fake_host_init(&host, NULL);
  keel_renderer_desc d = {.struct_size = KEEL_STRUCT_SIZE(keel_renderer_desc), .host = &host.host, .width = SW,
                          .height = SH, .headless = true, .frames_in_flight = 2, .max_workers = WORKERS,
                          .pass_count = 2, .device = device, .validation = KEEL_VALIDATION_REQUIRED};
  keel_renderer *r = NULL;
  keel_message msg = {{0}};
  keel_result res = api->create(&d, &r, &msg);
  if (res != KEEL_OK) fprintf(stderr, "\n  create: %s\n", msg.text);
  return r;
}

static void expect_logged(const char *text) {
  bool found = fake_host_log_has(&host, text);
  if (!found) {
    fprintf(stderr, "\n  no log line contains: %s\n", text);
    fake_host_log_dump(&host);
  }
  CU_ASSERT_TRUE(found);
}

static keel_mesh make_cube(keel_renderer *r) {
  /* A unit cube, counter-clockwise from outside, normals given. */
  static const float n6[6][3] = {{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}};
  static float pos[24 * 3], nor[24 * 3];
  static uint32_t idx[36];
  for (int f = 0; f < 6; f++) {
    const float *n = n6[f];
    /* u, v along the face with u x v = n, so the corners run CCW around n. */
    float u[3] = {n[1], n[2], n[0]};
    float v[3] = {n[1] * u[2] - n[2] * u[1], n[2] * u[0] - n[0] * u[2], n[0] * u[1] - n[1] * u[0]};
    static const float su[4] = {-1, 1, 1, -1}, sv[4] = {-1, -1, 1, 1};
    for (int c = 0; c < 4; c++)
      for (int k = 0; k < 3; k++) {
        pos[(f * 4 + c) * 3 + k] = 0.5f * (n[k] + u[k] * su[c] + v[k] * sv[c]);
        nor[(f * 4 + c) * 3 + k] = n[k];
      }
    static const uint32_t tri[6] = {0, 1, 2, 0, 2, 3};
    for (int i = 0; i < 6; i++) idx[f * 6 + i] = (uint32_t)(f * 4) + tri[i];
  }
  keel_mesh_desc md = {.struct_size = KEEL_STRUCT_SIZE(keel_mesh_desc), .builtin = KEEL_MESH_CUSTOM,
                       .positions = pos, .normals = nor, .vertex_count = 24, .indices = idx, .index_count = 36};
  keel_mesh m = {0};
  CU_ASSERT_EQUAL(api->mesh_create(r, &md, &m), KEEL_OK);
  return m;
}

/* Pass 0's camera: looking down -z, the view volume x, y in [-1, 1] and
 * z in [-1, 1] (depth 0 at z = 1); y negated for Vulkan's clip space. */
static keel_camera camera_for(uint32_t pass) {
  keel_camera c = {.struct_size = KEEL_STRUCT_SIZE(keel_camera)};
  for (int i = 0; i < 4; i++) c.view.m[i * 5] = 1;
  c.projection.m[0] = 1;
  c.projection.m[5] = -1;
  c.projection.m[10] = -0.5f;
  c.projection.m[14] = 0.5f;
  c.projection.m[15] = 1;
  c.projection_kind = pass == KEEL_PASS_SCREEN ? KEEL_PROJECTION_ORTHOGRAPHIC : KEEL_PROJECTION_PERSPECTIVE;
  return c;
}

static keel_frame_desc frame_with_sun(uint64_t index, keel_light *sun) {
  *sun = (keel_light){.kind = KEEL_LIGHT_DIRECTIONAL, .direction = {0, 0, -1}, .color = {1, 1, 1, 1}, .intensity = 1};
  keel_frame_desc f = {.struct_size = KEEL_STRUCT_SIZE(keel_frame_desc), .frame_index = index,
                       .clear_color = {0, 0, 0, 1}, .lights = sun, .light_count = 1};
  return f;
}

typedef struct recorder {
  keel_renderer *r;
  keel_mesh cube;
  uint32_t worker, draws;
  keel_result result;
} recorder;

/* One encoder's work on its own thread: `draws` small cubes in a column of
 * the image, each worker its own column. */
static void *record_thread(void *arg) {
  recorder *rc = arg;
  keel_encoder *e = NULL;
  rc->result = api->encoder_begin(rc->r, 0, rc->worker, &e);
  if (rc->result != KEEL_OK) return NULL;
  keel_camera cam = camera_for(0);
  rc->result = api->encoder_set_camera(e, &cam);
  keel_draw batch[64];
  for (uint32_t i = 0; rc->result == KEEL_OK && i < rc->draws; i += 64) {
    uint32_t n = rc->draws - i < 64 ? rc->draws - i : 64;
    for (uint32_t k = 0; k < n; k++) {
      keel_draw *d = &batch[k];
      memset(d, 0, sizeof *d);
      d->mesh = rc->cube;
      d->color = (keel_color){0.2f + 0.2f * (float)rc->worker, 0.5f, 0.8f, 1};
      float s = 0.1f;
      d->model.m[0] = d->model.m[5] = d->model.m[10] = s;
      d->model.m[12] = -0.75f + 0.5f * (float)rc->worker;
      d->model.m[13] = -0.9f + 1.8f * (float)((i + k) % 10) / 10.0f;
      d->model.m[14] = 0;
      d->model.m[15] = 1;
      d->entity = i + k + 1;
    }
    rc->result = api->encoder_draw(e, batch, n);
  }
  keel_result end = api->encoder_end(e);
  if (rc->result == KEEL_OK) rc->result = end;
  return NULL;
}

static void test_recording_on_threads(void) {
  keel_renderer *r = make_renderer("");
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  keel_mesh cube = make_cube(r);
  const uint32_t frames = (uint32_t)kt_scaled(40), per_worker = 700;
  for (uint32_t f = 0; f < frames; f++) {
    keel_light sun;
    keel_frame_desc fd = frame_with_sun(f, &sun);
    CU_ASSERT_EQUAL_FATAL(api->begin_frame(r, &fd), KEEL_OK);
    pthread_t th[WORKERS];
    recorder rc[WORKERS];
    for (uint32_t w = 0; w < WORKERS; w++) {
      rc[w] = (recorder){.r = r, .cube = cube, .worker = w, .draws = per_worker};
      CU_ASSERT_EQUAL_FATAL(pthread_create(&th[w], NULL, record_thread, &rc[w]), 0);
    }
    for (uint32_t w = 0; w < WORKERS; w++) {
      pthread_join(th[w], NULL);
      CU_ASSERT_EQUAL(rc[w].result, KEEL_OK);
    }
    /* The screen pass: one empty encoder, as the host gives every pass. */
    keel_encoder *e = NULL;
    CU_ASSERT_EQUAL(api->encoder_begin(r, 1, 0, &e), KEEL_OK);
    CU_ASSERT_EQUAL(api->encoder_end(e), KEEL_OK);
    CU_ASSERT_EQUAL_FATAL(api->end_frame(r), KEEL_OK);
    CU_ASSERT_EQUAL(api->present(r), KEEL_OK);
  }
  keel_renderer_stats s = {.struct_size = KEEL_STRUCT_SIZE(keel_renderer_stats)};
  CU_ASSERT_EQUAL(api->stats(r, &s), KEEL_OK);
  CU_ASSERT_EQUAL(s.frames, frames);
  CU_ASSERT_EQUAL(s.passes, frames); /* the screen pass drew nothing: skipped */
  CU_ASSERT_EQUAL(s.encoders, (WORKERS + 1) * frames);
  CU_ASSERT_EQUAL(s.draws, (uint64_t)WORKERS * per_worker * frames);
  CU_ASSERT_EQUAL(s.draw_calls, (uint64_t)WORKERS * frames); /* one instanced draw per encoder */
  CU_ASSERT_EQUAL(s.errors, 0);
  CU_ASSERT_EQUAL(s.debug_messages, 0);
  CU_ASSERT_EQUAL(s.meshes, 1);
  /* The last frame, read back: each worker's column in its colour, lit
   * head-on by the sun (colour x 1.15), and the background cleared. */
  static uint8_t px[SW * SH * 4];
  uint32_t w = 0, h = 0;
  CU_ASSERT_EQUAL_FATAL(readback->readback_rgba8(r, px, sizeof px, &w, &h), KEEL_OK);
  kt_image img = {.pixels = px, .width = w, .height = h};
  for (uint32_t k = 0; k < WORKERS; k++) {
    /* Column k's centre: x = -0.75 + 0.5k in [-1, 1] → pixel; the cube at
     * y = -0.9 (row 0 of the column) is near the bottom. */
    uint32_t x = (uint32_t)((-0.75 + 0.5 * k + 1) / 2 * SW), y = (uint32_t)((0.9 + 1) / 2 * SH);
    KT_ASSERT_PIXEL(&img, x, y, unorm((0.2 + 0.2 * k) * 1.15), unorm(0.5 * 1.15), unorm(0.8 * 1.15), 255, 2);
  }
  KT_ASSERT_PIXEL(&img, 0, 0, 0, 0, 0, 255, 0);
  api->destroy(r);
  CU_ASSERT_EQUAL(host.log_errors, 0);
}

static void test_bad_meshes_refused_with_the_reason(void) {
  keel_renderer *r = make_renderer("");
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  const float pos[9] = {0, 0, 0, 1, 0, 0, 0, 1, 0};
  const uint32_t past[3] = {0, 1, 5}, two[2] = {0, 1};
  keel_mesh m = {0};
  keel_mesh_desc md = {.struct_size = KEEL_STRUCT_SIZE(keel_mesh_desc), .positions = pos, .vertex_count = 3,
                       .indices = past, .index_count = 3};
  CU_ASSERT_EQUAL(api->mesh_create(r, &md, &m), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_EQUAL(m.id, 0);
  expect_logged("mesh_create: index 2 is 5, past the 3 vertices");
  md.indices = two;
  md.index_count = 2;
  CU_ASSERT_EQUAL(api->mesh_create(r, &md, &m), KEEL_ERR_INVALID_ARGUMENT);
  expect_logged("mesh_create: 2 indices: a triangle list needs a multiple of 3");
  md.indices = NULL;
  md.index_count = 0;
  md.vertex_count = 2;
  CU_ASSERT_EQUAL(api->mesh_create(r, &md, &m), KEEL_ERR_INVALID_ARGUMENT);
  expect_logged("mesh_create: 2 vertices without indices: a triangle list needs a multiple of 3");
  md.positions = NULL;
  CU_ASSERT_EQUAL(api->mesh_create(r, &md, &m), KEEL_ERR_INVALID_ARGUMENT);
  expect_logged("mesh_create: a mesh needs positions and vertex_count");
  /* Without normals and indices: accepted (normals from the faces), drawn,
   * destroyed; a stale handle is refused. */
  md.positions = pos;
  md.vertex_count = 3;
  CU_ASSERT_EQUAL_FATAL(api->mesh_create(r, &md, &m), KEEL_OK);
  CU_ASSERT_EQUAL(api->mesh_destroy(r, m), KEEL_OK);
  CU_ASSERT_EQUAL(api->mesh_destroy(r, m), KEEL_ERR_STALE_ID);
  expect_logged("mesh_destroy: mesh 0x");
  keel_renderer_stats s = {.struct_size = KEEL_STRUCT_SIZE(keel_renderer_stats)};
  CU_ASSERT_EQUAL(api->stats(r, &s), KEEL_OK);
  CU_ASSERT_EQUAL(s.errors, 5);
  CU_ASSERT_EQUAL(s.meshes, 0);
  CU_ASSERT_EQUAL(s.debug_messages, 0);
  api->destroy(r);
}

/* One frame with one cube; returns end_frame's result. */
static keel_result one_frame(keel_renderer *r, keel_mesh cube, uint64_t index) {
  keel_light sun;
  keel_frame_desc fd = frame_with_sun(index, &sun);
  keel_result res = api->begin_frame(r, &fd);
  if (res != KEEL_OK) return res;
  for (uint32_t p = 0; p < 2; p++) {
    keel_encoder *e = NULL;
    if (api->encoder_begin(r, p, 0, &e) != KEEL_OK) continue;
    keel_camera cam = camera_for(p);
    api->encoder_set_camera(e, &cam);
    keel_draw d = {.mesh = cube, .color = {1, 1, 1, 1}};
    for (int i = 0; i < 4; i++) d.model.m[i * 5] = 0.5f;
    api->encoder_draw(e, &d, 1);
    api->encoder_end(e);
  }
  return api->end_frame(r);
}

static void test_faults_name_the_call(void) {
  setenv("KEEL_VULKAN_FAULT", "device_lost@2", 1);
  keel_renderer *r = make_renderer("");
  unsetenv("KEEL_VULKAN_FAULT");
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  keel_mesh cube = make_cube(r);
  /* Frame 2 is handed to the submit thread, whose vkQueueSubmit fails;
   * main hears it when it next waits for that frame's slot (2 frames in
   * flight: at frame 4's begin_frame), never later. */
  CU_ASSERT_EQUAL(one_frame(r, cube, 0), KEEL_OK);
  CU_ASSERT_EQUAL(one_frame(r, cube, 1), KEEL_OK);
  CU_ASSERT_EQUAL(one_frame(r, cube, 2), KEEL_OK);
  CU_ASSERT_EQUAL(one_frame(r, cube, 3), KEEL_ERR_DEVICE_LOST);
  expect_logged("begin_frame: vkQueueSubmit of frame 2 (on the submit thread) failed: VK_ERROR_DEVICE_LOST");
  /* Lost for good: every later call says so at once. */
  CU_ASSERT_EQUAL(one_frame(r, cube, 4), KEEL_ERR_DEVICE_LOST);
  expect_logged("begin_frame: the Vulkan device was lost earlier; nothing more can be drawn");
  uint32_t w, h;
  static uint8_t px[SW * SH * 4];
  CU_ASSERT_EQUAL(readback->readback_rgba8(r, px, sizeof px, &w, &h), KEEL_ERR_DEVICE_LOST);
  keel_mesh more = {0};
  const float pos[9] = {0, 0, 0, 1, 0, 0, 0, 1, 0};
  keel_mesh_desc md = {.struct_size = KEEL_STRUCT_SIZE(keel_mesh_desc), .positions = pos, .vertex_count = 3};
  CU_ASSERT_EQUAL(api->mesh_create(r, &md, &more), KEEL_ERR_DEVICE_LOST);
  api->destroy(r); /* returns: nothing waits on a lost device */

  /* Out of memory is not sticky: that frame is lost, the next one draws.
   * A readback waits for the last frame, so it hears the failure at once. */
  setenv("KEEL_VULKAN_FAULT", "out_of_memory@1", 1);
  r = make_renderer("");
  unsetenv("KEEL_VULKAN_FAULT");
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  cube = make_cube(r);
  CU_ASSERT_EQUAL(one_frame(r, cube, 0), KEEL_OK);
  CU_ASSERT_EQUAL(readback->readback_rgba8(r, px, sizeof px, &w, &h), KEEL_ERR_OUT_OF_MEMORY);
  expect_logged("readback_rgba8: vkQueueSubmit of frame 1 (on the submit thread) failed: VK_ERROR_OUT_OF_DEVICE_MEMORY");
  CU_ASSERT_EQUAL(one_frame(r, cube, 1), KEEL_OK);
  CU_ASSERT_EQUAL(readback->readback_rgba8(r, px, sizeof px, &w, &h), KEEL_OK);
  kt_image img = {.pixels = px, .width = w, .height = h};
  KT_ASSERT_PIXEL(&img, SW / 2, SH / 2, 255, 255, 255, 255, 0); /* white x 1.15, clamped */
  api->destroy(r);
}

static void test_no_such_device(void) {
  fake_host_init(&host, NULL);
  keel_renderer_desc d = {.struct_size = KEEL_STRUCT_SIZE(keel_renderer_desc), .host = &host.host, .width = SW,
                          .height = SH, .headless = true, .frames_in_flight = 2, .max_workers = 1,
                          .pass_count = 2, .device = "7", .validation = KEEL_VALIDATION_REQUIRED};
  keel_renderer *r = NULL;
  keel_message msg = {{0}};
  CU_ASSERT_EQUAL(api->create(&d, &r, &msg), KEEL_ERR_UNSUPPORTED);
  CU_ASSERT_PTR_NULL(r);
  KT_ASSERT_CONTAINS(msg.text, "[renderer] device = '7' matches no Vulkan device (devices: 0: llvmpipe");
}

static CU_TestInfo engine_tests[] = {
    {"probe pixels within 2/255", test_probe_pixels},
    {"gallery matches its golden image", test_gallery_golden},
    {"stats JSON matches the scene", test_stats_match_scene},
    {"default engine.ini runs on Vulkan", test_default_config_runs_on_vulkan},
    {"--list-plugins shows vulkan ok", test_list_plugins_shows_vulkan_ok},
    {"device choice and refusal", test_device_choice},
    {"device lost is logged with the call", test_device_lost_is_logged_with_the_call},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo plugin_tests[] = {
    {"recording on 4 threads", test_recording_on_threads},
    {"bad meshes refused with the reason", test_bad_meshes_refused_with_the_reason},
    {"device lost and out of memory name the call", test_faults_name_the_call},
    {"no such device", test_no_such_device},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"engine", NULL, NULL, NULL, NULL, engine_tests},
    {"plugin", suite_init, suite_cleanup, NULL, NULL, plugin_tests},
    CU_SUITE_INFO_NULL,
};
