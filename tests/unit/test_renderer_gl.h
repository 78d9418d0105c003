/* What the GL renderer's test suites share: the plugin loaded as the runner
 * loads it, a fake host, the camera math of the engine (Vulkan clip space,
 * as core/frame/render.c builds it), a probe scene whose pixels the tests
 * can predict exactly, and a recorder that spreads a frame over threads. */
#ifndef TEST_RENDERER_GL_H
#define TEST_RENDERER_GL_H

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_host.h"
#include "image.h"
#include "frame/meshgen.h"
#include "keel_test.h"
#include "plugin/loader.h"

#define GLT_WIDTH 160u
#define GLT_HEIGHT 96u
#define GLT_WORKERS 4u

static kc_plugin_loader glt_loader;
static kc_plugin *glt_plugin;
static const keel_renderer_api *glt_api;
static const keel_renderer_readback_api *glt_readback;
static fake_host glt_host; /* large: static */

static int glt_suite_init(void) {
  kc_plugin_loader_init(&glt_loader);
  kc_err err;
  if (kc_plugin_loader_add_dir(&glt_loader, KEEL_TEST_PLUGIN_DIR, &err) != KEEL_OK ||
      kc_plugin_open(&glt_loader, KEEL_PLUGIN_RENDERER, "gl", &glt_plugin, NULL, &err) != KEEL_OK) {
    fprintf(stderr, "cannot load the GL renderer: %s\n", err.msg);
    return 1;
  }
  glt_api = glt_plugin->interface;
  glt_readback = kc_plugin_find_interface(glt_plugin, KEEL_RENDERER_READBACK_INTERFACE, sizeof *glt_readback);
  return glt_readback ? 0 : 1;
}

static int glt_suite_cleanup(void) {
  kc_plugin_close(glt_plugin);
  glt_plugin = NULL;
  kc_plugin_loader_free(&glt_loader);
  return 0;
}

static keel_renderer_desc glt_desc(void) {
  keel_renderer_desc d = {
      .struct_size = KEEL_STRUCT_SIZE(keel_renderer_desc),
      .host = &glt_host.host,
      .width = GLT_WIDTH,
      .height = GLT_HEIGHT,
      .headless = true,
      .frames_in_flight = 2,
      .max_workers = GLT_WORKERS,
      .pass_count = 2,
      .device = "",
      .validation = KEEL_VALIDATION_REQUIRED, /* a debug context, or the test fails */
  };
  return d;
}

/* A renderer created on this thread, logging into a fresh fake host. */
static keel_renderer *glt_make(void) {
  fake_host_init(&glt_host, NULL);
  keel_renderer_desc d = glt_desc();
  keel_renderer *r = NULL;
  kc_err err;
  keel_result res = kc_plugin_create_renderer(glt_plugin, &d, &r, &err);
  if (res != KEEL_OK) fprintf(stderr, "\n  create: %s\n", err.msg);
  CU_ASSERT_EQUAL_FATAL(res, KEEL_OK);
  return r;
}

/* The host's geometry for a built-in, as the engine hands it over. */
static keel_mesh glt_mesh(keel_renderer *r, keel_mesh_builtin kind) {
  static kc_mesh_data data;
  CU_ASSERT_TRUE_FATAL(kc_meshgen_builtin(kind, &data));
  keel_mesh_desc d = kc_meshgen_desc(kind, &data);
  keel_mesh m = {0};
  CU_ASSERT_EQUAL(glt_api->mesh_create(r, &d, &m), KEEL_OK);
  CU_ASSERT_NOT_EQUAL(m.id, 0);
  return m;
}

/* ---- math: column-major, m[col * 4 + row] */

static keel_mat4 glt_trs(float x, float y, float z, float sx, float sy, float sz) {
  keel_mat4 m = {{0}};
  m.m[0] = sx, m.m[5] = sy, m.m[10] = sz, m.m[15] = 1;
  m.m[12] = x, m.m[13] = y, m.m[14] = z;
  return m;
}

/* The world camera of core/frame/render.c: looking from `eye` at `target`,
 * y up, 60 degrees, near 0.1, far 1000, Vulkan clip space. */
static keel_camera glt_world_camera(keel_vec3 eye, keel_vec3 target, uint32_t w, uint32_t h) {
  keel_camera c;
  memset(&c, 0, sizeof c);
  c.struct_size = KEEL_STRUCT_SIZE(keel_camera);
  c.projection_kind = KEEL_PROJECTION_PERSPECTIVE;
  float f[3] = {target.x - eye.x, target.y - eye.y, target.z - eye.z};
  float fl = sqrtf(f[0] * f[0] + f[1] * f[1] + f[2] * f[2]);
  for (int k = 0; k < 3; k++) f[k] /= fl;
  float up[3] = {0, 1, 0};
  float s[3] = {f[1] * up[2] - f[2] * up[1], f[2] * up[0] - f[0] * up[2], f[0] * up[1] - f[1] * up[0]};
  float sl = sqrtf(s[0] * s[0] + s[1] * s[1] + s[2] * s[2]);
  for (int k = 0; k < 3; k++) s[k] /= sl;
  float u[3] = {s[1] * f[2] - s[2] * f[1], s[2] * f[0] - s[0] * f[2], s[0] * f[1] - s[1] * f[0]};
  float *v = c.view.m;
  v[0] = s[0], v[4] = s[1], v[8] = s[2], v[12] = -(s[0] * eye.x + s[1] * eye.y + s[2] * eye.z);
  v[1] = u[0], v[5] = u[1], v[9] = u[2], v[13] = -(u[0] * eye.x + u[1] * eye.y + u[2] * eye.z);
  v[2] = -f[0], v[6] = -f[1], v[10] = -f[2], v[14] = f[0] * eye.x + f[1] * eye.y + f[2] * eye.z;
  v[15] = 1;
  float t = 1.0f / tanf(60.0f * (float)M_PI / 360.0f), n = 0.1f, fa = 1000.0f, aspect = (float)w / (float)h;
  float *p = c.projection.m;
  p[0] = t / aspect;
  p[5] = -t;
  p[10] = fa / (n - fa);
  p[11] = -1;
  p[14] = n * fa / (n - fa);
  c.position = eye;
  return c;
}

/* The screen layer's camera of core/frame/render.c: pixels from the
 * top-left corner, larger z nearer. */
static keel_camera glt_screen_camera(uint32_t w, uint32_t h) {
  keel_camera c;
  memset(&c, 0, sizeof c);
  c.struct_size = KEEL_STRUCT_SIZE(keel_camera);
  c.projection_kind = KEEL_PROJECTION_ORTHOGRAPHIC;
  float *v = c.view.m, *p = c.projection.m;
  v[0] = v[5] = v[10] = v[15] = 1.0f;
  p[0] = 2.0f / (float)w;
  p[5] = 2.0f / (float)h;
  p[10] = -1.0f / 2000.0f;
  p[12] = -1.0f;
  p[13] = -1.0f;
  p[14] = 0.5f;
  p[15] = 1.0f;
  c.position = (keel_vec3){0, 0, 1000.0f};
  return c;
}

/* Where a world point lands in the image (pixels from the top-left). */
static void glt_project(const keel_camera *c, keel_vec3 p, uint32_t w, uint32_t h, int *px, int *py) {
  float in[4] = {p.x, p.y, p.z, 1}, vp[4], clip[4];
  for (int r = 0; r < 4; r++) {
    vp[r] = 0;
    for (int k = 0; k < 4; k++) vp[r] += c->view.m[k * 4 + r] * in[k];
  }
  for (int r = 0; r < 4; r++) {
    clip[r] = 0;
    for (int k = 0; k < 4; k++) clip[r] += c->projection.m[k * 4 + r] * vp[k];
  }
  *px = (int)floorf((clip[0] / clip[3] * 0.5f + 0.5f) * (float)w);
  *py = (int)floorf((clip[1] / clip[3] * 0.5f + 0.5f) * (float)h);
}

/* UNORM8 of a linear value as the GPU converts it: the float product,
 * rounded to nearest, ties to even (0.3 is 76, not 77). */
static uint8_t glt_unorm(float v) {
  if (!(v > 0)) return 0;
  if (v >= 1) return 255;
  return (uint8_t)nearbyintf(v * 255.0f);
}

/* ---- a frame: draws per pass, recorded by `threads` threads, each taking
 * a contiguous slice of each pass into its own encoder (as the engine's
 * Record stage does). */

typedef struct glt_frame {
  keel_color clear;
  keel_light lights[KEEL_RENDERER_MAX_LIGHTS];
  uint32_t light_count;
  keel_camera cameras[2];
  keel_draw *draws[2];
  uint32_t counts[2];
} glt_frame;

typedef struct glt_job {
  keel_renderer *r;
  const glt_frame *f;
  uint32_t worker, workers;
  keel_result result;
} glt_job;

static void *glt_record(void *arg) {
  glt_job *j = arg;
  j->result = KEEL_OK;
  for (uint32_t p = 0; p < 2; p++) {
    uint32_t n = j->f->counts[p], begin = n * j->worker / j->workers, end = n * (j->worker + 1) / j->workers;
    if (begin == end && !(j->worker == 0 && p == 0)) continue;
    keel_encoder *e = NULL;
    keel_result res = glt_api->encoder_begin(j->r, p, j->worker, &e);
    if (res == KEEL_OK) res = glt_api->encoder_set_camera(e, &j->f->cameras[p]);
    /* In batches, as the engine hands them over. */
    for (uint32_t i = begin; res == KEEL_OK && i < end; i += 128)
      res = glt_api->encoder_draw(e, j->f->draws[p] + i, end - i < 128 ? end - i : 128);
    keel_result ended = e ? glt_api->encoder_end(e) : KEEL_OK;
    if (res == KEEL_OK) res = ended;
    if (res != KEEL_OK) j->result = res;
  }
  return NULL;
}

/* Renders one frame with `threads` recording threads (1 = this thread) and
 * returns end_frame's result. */
static keel_result glt_render(keel_renderer *r, const glt_frame *f, uint32_t threads) {
  keel_frame_desc fd = {.struct_size = KEEL_STRUCT_SIZE(keel_frame_desc), .clear_color = f->clear,
                        .lights = f->lights, .light_count = f->light_count};
  keel_result res = glt_api->begin_frame(r, &fd);
  if (res != KEEL_OK) return res;
  glt_job jobs[GLT_WORKERS];
  pthread_t tids[GLT_WORKERS];
  for (uint32_t w = 0; w < threads; w++) {
    jobs[w] = (glt_job){.r = r, .f = f, .worker = w, .workers = threads};
    if (threads == 1)
      glt_record(&jobs[w]);
    else
      pthread_create(&tids[w], NULL, glt_record, &jobs[w]);
  }
  if (threads > 1)
    for (uint32_t w = 0; w < threads; w++) pthread_join(tids[w], NULL);
  for (uint32_t w = 0; w < threads; w++) CU_ASSERT_EQUAL(jobs[w].result, KEEL_OK);
  res = glt_api->end_frame(r);
  keel_result pres = glt_api->present(r);
  return res != KEEL_OK ? res : pres;
}

/* The last frame, read back (top row first). */
static kt_image glt_pixels(keel_renderer *r) {
  kt_image img = {0};
  uint32_t w = 0, h = 0;
  uint8_t probe[4];
  CU_ASSERT_EQUAL(glt_readback->readback_rgba8(r, probe, 0, &w, &h), KEEL_ERR_FULL);
  CU_ASSERT_TRUE_FATAL(kt_image_alloc(&img, w, h));
  CU_ASSERT_EQUAL(glt_readback->readback_rgba8(r, img.pixels, (size_t)w * h * 4, &img.width, &img.height), KEEL_OK);
  return img;
}

/* ---- the probe scene: every pixel the tests look at can be computed.
 *   world: camera at (0, 0, 10) looking at the origin; a cube of side 2 at
 *   the origin (its +z face, normal towards the camera, fills the centre),
 *   a small cube at (0, 2.5, 0) (above: must land in the top half), a
 *   sphere at (-3, 0, 0) beyond a point light's range; one directional light
 *   travelling along -z and one point light.
 *   screen: a 20x10 pixel box at (30, 20) (top-left quarter), and two
 *   overlapping boxes where the one with larger z must win. */
#define GLT_PROBE_DRAWS 6
static keel_draw glt_probe_draws[GLT_PROBE_DRAWS];

static glt_frame glt_probe_frame(keel_mesh cube, keel_mesh sphere) {
  glt_frame f;
  memset(&f, 0, sizeof f);
  f.clear = (keel_color){0.1f, 0.2f, 0.3f, 1.0f};
  f.lights[0] = (keel_light){.kind = KEEL_LIGHT_DIRECTIONAL, .direction = {0, 0, -1}, .color = {1, 1, 1, 1},
                             .intensity = 0.5f};
  f.lights[1] = (keel_light){.kind = KEEL_LIGHT_POINT, .position = {3, 0, 2}, .color = {1, 0.5f, 0.25f, 1},
                             .intensity = 2.0f, .range = 4.0f};
  f.light_count = 2;
  f.cameras[0] = glt_world_camera((keel_vec3){0, 0, 10}, (keel_vec3){0, 0, 0}, GLT_WIDTH, GLT_HEIGHT);
  f.cameras[1] = glt_screen_camera(GLT_WIDTH, GLT_HEIGHT);
  keel_draw *d = glt_probe_draws;
  d[0] = (keel_draw){.mesh = cube, .color = {0.8f, 0.4f, 0.2f, 1}, .model = glt_trs(0, 0, 0, 2, 2, 2), .entity = 1};
  d[1] = (keel_draw){.mesh = cube, .color = {0.2f, 0.8f, 0.4f, 1}, .model = glt_trs(0, 2.5f, 0, 0.5f, 0.5f, 0.5f),
                     .entity = 2};
  d[2] = (keel_draw){.mesh = sphere, .color = {0.6f, 0.6f, 0.6f, 1}, .model = glt_trs(-3, 0, 0, 1, 1, 1), .entity = 3};
  f.draws[0] = d;
  f.counts[0] = 3;
  /* Screen boxes: unit cubes scaled to pixels; centre (40, 25) size 20x10. */
  d[3] = (keel_draw){.mesh = cube, .color = {1, 1, 0, 1}, .model = glt_trs(40, 25, 0, 20, 10, 1), .entity = 4};
  d[4] = (keel_draw){.mesh = cube, .color = {0, 0, 1, 0.5f}, .model = glt_trs(120, 70, -10, 20, 20, 1), .entity = 5};
  d[5] = (keel_draw){.mesh = cube, .color = {1, 0, 1, 1}, .model = glt_trs(130, 80, 10, 20, 20, 1), .entity = 6};
  f.draws[1] = d + 3;
  f.counts[1] = 3;
  return f;
}

/* The world point seen through the centre of pixel (x, y) on the plane
 * z = plane_z, for the probe scene's camera (at (0, 0, 10), looking down -z). */
static keel_vec3 glt_unproject(const keel_camera *c, int x, int y, uint32_t w, uint32_t h, float plane_z) {
  float nx = ((float)x + 0.5f) / (float)w * 2 - 1, ny = ((float)y + 0.5f) / (float)h * 2 - 1;
  float dist = 10.0f - plane_z;
  return (keel_vec3){nx / c->projection.m[0] * dist, ny / c->projection.m[5] * dist, plane_z};
}

/* The shading model of keel/renderer.h on the CPU, for a face with normal
 * +z at world point p. */
static void glt_shade(const glt_frame *f, keel_vec3 p, keel_color base, uint8_t out[4]) {
  float sum[3] = {0, 0, 0};
  for (uint32_t i = 0; i < f->light_count; i++) {
    const keel_light *l = &f->lights[i];
    float lv[3], att = 1;
    if (l->kind == KEEL_LIGHT_DIRECTIONAL) {
      lv[0] = -l->direction.x, lv[1] = -l->direction.y, lv[2] = -l->direction.z;
    } else {
      float t[3] = {l->position.x - p.x, l->position.y - p.y, l->position.z - p.z};
      float d = sqrtf(t[0] * t[0] + t[1] * t[1] + t[2] * t[2]);
      for (int k = 0; k < 3; k++) lv[k] = t[k] / d;
      float fade = 1 - d / l->range;
      fade = fade < 0 ? 0 : fade > 1 ? 1 : fade;
      att = fade * fade;
    }
    float ndotl = lv[2] > 0 ? lv[2] : 0;
    float c[3] = {l->color.r, l->color.g, l->color.b};
    for (int k = 0; k < 3; k++) sum[k] += c[k] * l->intensity * ndotl * att;
  }
  float b[3] = {base.r, base.g, base.b};
  for (int k = 0; k < 3; k++) out[k] = glt_unorm(b[k] * (KEEL_SHADING_AMBIENT + sum[k]));
  out[3] = glt_unorm(base.a);
}

/* Checks the probe scene's pixels: the values the shading model gives where
 * the geometry is known to be. Lit pixels within 1/255 of the CPU's float
 * result (the GPU rounds its own way), unlit ones exactly. */
static void glt_check_probe(const kt_image *img, const glt_frame *f) {
  uint32_t w = img->width, h = img->height;
  uint8_t want[4];
  /* Background: the clear colour. */
  KT_ASSERT_PIXEL(img, 2, (int)h - 3, glt_unorm(0.1f), glt_unorm(0.2f), glt_unorm(0.3f), 255, 0);
  /* The big cube's +z face (z = 1) around the centre, lit by both lights. */
  int cx, cy;
  glt_project(&f->cameras[0], (keel_vec3){0, 0, 1}, w, h, &cx, &cy);
  for (int dy = -2; dy <= 2; dy += 2) {
    for (int dx = -3; dx <= 3; dx += 3) {
      glt_shade(f, glt_unproject(&f->cameras[0], cx + dx, cy + dy, w, h, 1.0f), glt_probe_draws[0].color, want);
      KT_ASSERT_PIXEL(img, cx + dx, cy + dy, want[0], want[1], want[2], want[3], 1);
    }
  }
  /* The small cube is above the big one: in the top half of the image
   * (its +z face at z = 0.25; the point light does not reach it). */
  int ux, uy;
  glt_project(&f->cameras[0], (keel_vec3){0, 2.5f, 0.25f}, w, h, &ux, &uy);
  CU_ASSERT(uy < (int)h / 2);
  glt_shade(f, glt_unproject(&f->cameras[0], ux, uy, w, h, 0.25f), glt_probe_draws[1].color, want);
  KT_ASSERT_PIXEL(img, ux, uy, want[0], want[1], want[2], want[3], 1);
  /* The sphere, left of the cube, only the directional light reaching it:
   * grey, its brightest near the middle, never above 0.6 * 0.65. */
  int sx, sy;
  glt_project(&f->cameras[0], (keel_vec3){-3, 0, 0.5f}, w, h, &sx, &sy);
  CU_ASSERT(sx < cx);
  const uint8_t *s = kt_image_at(img, (uint32_t)sx, (uint32_t)sy);
  CU_ASSERT(s[0] == s[1] && s[1] == s[2] && s[0] <= glt_unorm(0.6f * 0.65f) && s[0] >= glt_unorm(0.6f * 0.5f));
  /* Screen layer: the yellow box over the top-left quarter, unlit. */
  KT_ASSERT_PIXEL(img, 40, 25, 255, 255, 0, 255, 0);
  KT_ASSERT_PIXEL(img, 30, 20, 255, 255, 0, 255, 0);
  KT_ASSERT_PIXEL(img, 49, 29, 255, 255, 0, 255, 0);
  /* Mirrored vertically it is not there (the image is not upside down). */
  KT_ASSERT_PIXEL(img, 40, (int)h - 1 - 25, glt_unorm(0.1f), glt_unorm(0.2f), glt_unorm(0.3f), 255, 0);
  /* Overlap: the magenta box (z 10) is nearer than the blue one (z -10);
   * alpha is written as given. */
  KT_ASSERT_PIXEL(img, 125, 75, 255, 0, 255, 255, 0);
  KT_ASSERT_PIXEL(img, 112, 62, 0, 0, 255, glt_unorm(0.5f), 0);
}

/* Depth is Vulkan's 0..1: the near plane (0.1) clips what is nearer. With
 * GL's own -1..1 left in place, the near plane would sit at 0.05. */
static void glt_check_near_plane(keel_renderer *r) {
  keel_mesh cube = glt_mesh(r, KEEL_MESH_CUBE);
  glt_frame f;
  memset(&f, 0, sizeof f);
  f.clear = (keel_color){0, 0, 0, 1};
  f.cameras[0] = glt_world_camera((keel_vec3){0, 0, 10}, (keel_vec3){0, 0, 0}, GLT_WIDTH, GLT_HEIGHT);
  f.cameras[1] = glt_screen_camera(GLT_WIDTH, GLT_HEIGHT);
  keel_draw d = {.mesh = cube, .color = {1, 1, 1, 1}, .model = glt_trs(0, 0, 10.0f - 0.07f, 0.02f, 0.02f, 0.001f)};
  f.draws[0] = &d;
  f.counts[0] = 1;
  CU_ASSERT_EQUAL(glt_render(r, &f, 1), KEEL_OK);
  kt_image img = glt_pixels(r);
  KT_ASSERT_PIXEL(&img, img.width / 2, img.height / 2, 0, 0, 0, 255, 0); /* 0.07 away: clipped */
  kt_image_free(&img);
  d.model = glt_trs(0, 0, 10.0f - 0.15f, 0.02f, 0.02f, 0.001f);
  CU_ASSERT_EQUAL(glt_render(r, &f, 1), KEEL_OK);
  img = glt_pixels(r);
  KT_ASSERT_PIXEL(&img, img.width / 2, img.height / 2, 38, 38, 38, 255, 0); /* 0.15 away: seen, ambient only */
  kt_image_free(&img);
}

/* No debug message, and no error logged, since the renderer was made. */
static void glt_assert_clean(keel_renderer *r) {
  keel_renderer_stats s = {.struct_size = KEEL_STRUCT_SIZE(keel_renderer_stats)};
  CU_ASSERT_EQUAL(glt_api->stats(r, &s), KEEL_OK);
  CU_ASSERT_EQUAL(s.debug_messages, 0);
  CU_ASSERT_EQUAL(s.errors, 0);
  if (glt_host.log_errors) fake_host_log_dump(&glt_host);
  CU_ASSERT_EQUAL(glt_host.log_errors, 0);
}

#endif
