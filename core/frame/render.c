/* See render.h. Extract and Prepare are written for 10k+ entities a frame:
 * one pass over the front records, keys sorted with an LSD radix sort
 * (stable, so ties keep id order and the lists are the same however many
 * workers record them). Entities go to the pass of their layer (world or
 * screen), each pass with its own camera; lights are chosen here too. */
#include "frame/render.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "frame/meshgen.h"

/* keel_draw as ABI 1.0 laid it out: what a 1.1 host hands a 1.0 plugin. */
typedef struct draw_1_0 {
  keel_mesh mesh;
  keel_color color;
  keel_mat4 model;
} draw_1_0;

typedef struct item {
  uint32_t key;
  uint32_t index;
} item;

#define KEY_DEAD UINT32_MAX
/* Fewer draws than this per slice are not worth another thread: handing a
 * tiny slice to a worker that the OS has just preempted (the script worker
 * may be busy on the other core) would make the main thread wait for it. */
#define MIN_DRAWS_PER_SLICE 512u
/* Draws gathered and handed to the encoder at a time (on the stack). */
#define GATHER_CHUNK 128u
/* Extract works in ranges of this many slots. */
#define RANGE_GRAIN 1024u

struct kc_render {
  kc_render_config cfg;
  keel_mesh meshes[KC_WORLD_MESH_MAX + 1]; /* world mesh id → renderer handle */

  /* Extract output, indexed by entity slot (so parallel ranges write fixed
   * places and the result does not depend on the worker count); dead slots
   * carry KEY_DEAD and sort last. */
  keel_draw *draws;
  uint32_t *mesh_of;
  item *items, *scratch;
  uint32_t slots, capacity; /* slots extracted this frame, allocated */
  uint32_t count;           /* live entities */
  keel_camera cameras[2];   /* the world's perspective camera, the screen's orthographic one */
  keel_vec3 cam_pos, cam_forward;
  const kc_state_buffer *entities; /* during extract */
  keel_light lights[KEEL_RENDERER_MAX_LIGHTS];
  uint32_t light_count;
  double last_time; /* game time of the previous frame, for its dt */
  bool timed;       /* last_time holds a frame's time */
  keel_frame_desc frame_desc; /* lent to the renderer until end_frame */

  /* Prepare output: draws sorted by key, grouped by pass. */
  keel_draw *sorted;
  const item *order; /* the sorted items */
  bool sorted_valid; /* `sorted` holds this frame's lists (kc_render_draws) */
  uint32_t pass_begin[KEEL_RENDERER_MAX_PASSES + 1];
  kc_render_slice slices[KEEL_RENDERER_MAX_PASSES * KEEL_RENDERER_MAX_WORKERS];
  _Atomic uint32_t record_errors;
  _Atomic bool record_lost; /* an encoder call returned KEEL_ERR_DEVICE_LOST */

  kc_render_stats stats;
};

/* ---- math: column-major, m[col * 4 + row] ---- */

static void mat_model(float *m, keel_vec3 p, keel_quat q, keel_vec3 s) {
  float x = q.x, y = q.y, z = q.z, w = q.w;
  float xx = x * x, yy = y * y, zz = z * z, xy = x * y, xz = x * z, yz = y * z, wx = w * x, wy = w * y, wz = w * z;
  m[0] = (1 - 2 * (yy + zz)) * s.x;
  m[1] = 2 * (xy + wz) * s.x;
  m[2] = 2 * (xz - wy) * s.x;
  m[3] = 0;
  m[4] = 2 * (xy - wz) * s.y;
  m[5] = (1 - 2 * (xx + zz)) * s.y;
  m[6] = 2 * (yz + wx) * s.y;
  m[7] = 0;
  m[8] = 2 * (xz + wy) * s.z;
  m[9] = 2 * (yz - wx) * s.z;
  m[10] = (1 - 2 * (xx + yy)) * s.z;
  m[11] = 0;
  m[12] = p.x;
  m[13] = p.y;
  m[14] = p.z;
  m[15] = 1;
}

static keel_vec3 v_sub(keel_vec3 a, keel_vec3 b) { return (keel_vec3){a.x - b.x, a.y - b.y, a.z - b.z}; }
static float v_dot(keel_vec3 a, keel_vec3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
static keel_vec3 v_cross(keel_vec3 a, keel_vec3 b) {
  return (keel_vec3){a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}
static keel_vec3 v_norm(keel_vec3 a) {
  float l = sqrtf(v_dot(a, a));
  return l > 0 ? (keel_vec3){a.x / l, a.y / l, a.z / l} : (keel_vec3){0, 0, -1};
}

static void camera_build(keel_camera *c, const kc_camera_rec *rec, float aspect) {
  memset(c, 0, sizeof *c);
  c->struct_size = KEEL_STRUCT_SIZE(keel_camera);
  c->projection_kind = KEEL_PROJECTION_PERSPECTIVE;
  keel_vec3 eye = rec->position, f = v_norm(v_sub(rec->target, rec->position));
  keel_vec3 up = fabsf(f.y) > 0.999f ? (keel_vec3){0, 0, 1} : (keel_vec3){0, 1, 0};
  keel_vec3 s = v_norm(v_cross(f, up)), u = v_cross(s, f);
  float *v = c->view.m;
  v[0] = s.x, v[4] = s.y, v[8] = s.z, v[12] = -v_dot(s, eye);
  v[1] = u.x, v[5] = u.y, v[9] = u.z, v[13] = -v_dot(u, eye);
  v[2] = -f.x, v[6] = -f.y, v[10] = -f.z, v[14] = v_dot(f, eye);
  v[15] = 1;
  /* Vulkan clip space: y down, depth 0..1. */
  float fov = rec->fov_degrees > 1.0f && rec->fov_degrees < 179.0f ? rec->fov_degrees : 60.0f;
  float t = 1.0f / tanf(fov * (float)M_PI / 360.0f), n = 0.1f, fa = 1000.0f;
  float *p = c->projection.m;
  p[0] = t / aspect;
  p[5] = -t;
  p[10] = fa / (n - fa);
  p[11] = -1;
  p[14] = n * fa / (n - fa);
  c->position = eye;
}

/* The screen layer's camera: pixel units, x right and y down from the
 * top-left corner (Vulkan clip space is y down already), z in -1000..1000
 * mapped to depth 1..0 so larger z is nearer. */
static void screen_camera_build(keel_camera *c, uint32_t width, uint32_t height) {
  memset(c, 0, sizeof *c);
  c->struct_size = KEEL_STRUCT_SIZE(keel_camera);
  c->projection_kind = KEEL_PROJECTION_ORTHOGRAPHIC;
  float *v = c->view.m, *p = c->projection.m;
  v[0] = v[5] = v[10] = v[15] = 1.0f;
  p[0] = 2.0f / (float)(width ? width : 1);
  p[5] = 2.0f / (float)(height ? height : 1);
  p[10] = -1.0f / 2000.0f;
  p[12] = -1.0f;
  p[13] = -1.0f;
  p[14] = 0.5f;
  p[15] = 1.0f;
  c->position = (keel_vec3){0, 0, 1000.0f};
}

keel_result kc_render_create(const kc_render_config *cfg, kc_render **out, kc_err *err) {
  *out = NULL;
  if (!cfg->api || !cfg->renderer || cfg->pass_count == 0 || cfg->pass_count > KEEL_RENDERER_MAX_PASSES ||
      cfg->workers == 0 || cfg->workers > KEEL_RENDERER_MAX_WORKERS)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "render: need a renderer, 1..%u passes and 1..%u workers",
                      KEEL_RENDERER_MAX_PASSES, KEEL_RENDERER_MAX_WORKERS);
  kc_render *r = calloc(1, sizeof *r);
  if (!r) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "render: out of memory");
  r->cfg = *cfg;
  *out = r;
  return KEEL_OK;
}

void kc_render_destroy(kc_render *r) {
  if (!r) return;
  for (uint32_t i = 1; i <= KC_WORLD_MESH_MAX; i++)
    if (r->meshes[i].id) r->cfg.api->mesh_destroy(r->cfg.renderer, r->meshes[i]);
  free(r->draws);
  free(r->mesh_of);
  free(r->items);
  free(r->scratch);
  free(r->sorted);
  free(r);
}

static bool grow(kc_render *r, uint32_t need) {
  if (need <= r->capacity) return true;
  uint32_t cap = r->capacity ? r->capacity : 1024;
  while (cap < need) cap *= 2;
  keel_draw *d = realloc(r->draws, cap * sizeof *d);
  if (d) r->draws = d;
  uint32_t *mo = realloc(r->mesh_of, cap * sizeof *mo);
  if (mo) r->mesh_of = mo;
  item *it = realloc(r->items, cap * sizeof *it);
  if (it) r->items = it;
  item *sc = realloc(r->scratch, cap * sizeof *sc);
  if (sc) r->scratch = sc;
  keel_draw *so = realloc(r->sorted, cap * sizeof *so);
  if (so) r->sorted = so;
  if (!d || !mo || !it || !sc || !so) return false;
  r->capacity = cap;
  return true;
}

/* 0..65535 over 0..1000 units, front first. Written so that NaN lands on
 * 0 instead of reaching the float-to-integer conversion. */
static uint32_t depth_bits(float depth) {
  float d = depth > 0 ? depth : 0;
  if (!(d < 1000.0f)) d = 1000.0f;
  return (uint32_t)(d * 65.535f);
}

/* Extracts slots [begin, end): the draw, its mesh id and its sort key.
 * key: pass (3 bits) | mesh (7) | material (6, none yet) | depth (16).
 * The pass is the entity's layer; both passes sort front to back (depth
 * along the world camera's view; the screen layer's z, larger nearer). */
static void extract_range(void *user, uint32_t begin, uint32_t end, uint32_t worker) {
  (void)worker;
  kc_render *r = user;
  uint32_t passes = r->cfg.pass_count;
  for (uint32_t i = begin; i < end; i++) r->items[i] = (item){KEY_DEAD, i};
  uint32_t cursor = begin;
  kc_state_id sid;
  const void *rec;
  while (kc_state_front_next(r->entities, &cursor, &sid, &rec)) {
    uint32_t i = kc_state_id_index(sid);
    if (i >= end) break;
    const kc_entity_rec *e = rec;
    keel_draw *d = &r->draws[i];
    mat_model(d->model.m, e->position, e->rotation, e->scale);
    d->color = e->color;
    d->mesh.id = 0;
    d->reserved = 0;
    d->entity = kc_world_object_id(KEEL_OBJECT_ENTITY, sid);
    r->mesh_of[i] = e->mesh;
    bool screen = passes > 1 && e->layer == KEEL_LAYER_SCREEN;
    uint32_t pass = screen ? KEEL_PASS_SCREEN : KEEL_PASS_WORLD;
    float depth = screen ? (1000.0f - e->position.z) * 0.5f : v_dot(v_sub(e->position, r->cam_pos), r->cam_forward);
    r->items[i].key = pass << 29 | (e->mesh & 0x7fu) << 22 | depth_bits(depth);
  }
}

/* A light's claim to one of the KEEL_RENDERER_MAX_LIGHTS places:
 * directional lights first (in id order), then point lights nearest the
 * camera. Lower sorts first. */
typedef struct light_pick {
  float rank;
  uint32_t order;
  keel_light light;
} light_pick;

static int light_pick_cmp(const void *a, const void *b) {
  const light_pick *x = a, *y = b;
  if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

static void lights_choose(kc_render *r, const kc_state_buffer *lights) {
  enum { MAX_SCAN = 4096 };
  light_pick picks[KEEL_RENDERER_MAX_LIGHTS + 1];
  uint32_t kept = 0, seen = 0, cursor = 0;
  kc_state_id sid;
  const void *rec;
  /* Keep the best MAX_LIGHTS seen so far, sorted, with one spare place for
   * the candidate: insertion keeps this O(lights x MAX_LIGHTS). */
  while (seen < MAX_SCAN && kc_state_front_next(lights, &cursor, &sid, &rec)) {
    const kc_light_rec *l = rec;
    light_pick p = {.order = seen++};
    p.light.kind = l->kind == KEEL_LIGHT_DIRECTIONAL ? KEEL_LIGHT_DIRECTIONAL : KEEL_LIGHT_POINT;
    p.light.position = l->position;
    p.light.color = l->color;
    p.light.intensity = l->intensity > 0 ? l->intensity : 0;
    p.light.range = l->range > 0 ? l->range : 0;
    if (p.light.kind == KEEL_LIGHT_DIRECTIONAL) {
      /* A directional light shines from its position towards the origin. */
      keel_vec3 d = {-l->position.x, -l->position.y, -l->position.z};
      p.light.direction = v_dot(d, d) > 0 ? v_norm(d) : (keel_vec3){0, -1, 0};
      p.rank = -1.0f;
    } else {
      keel_vec3 off = v_sub(l->position, r->cam_pos);
      float dist = v_dot(off, off);
      p.rank = dist >= 0 ? dist : INFINITY; /* NaN positions rank last */
    }
    uint32_t at = kept;
    while (at > 0 && light_pick_cmp(&p, &picks[at - 1]) < 0) {
      picks[at] = picks[at - 1];
      at--;
    }
    picks[at] = p;
    if (kept < KEEL_RENDERER_MAX_LIGHTS) kept++;
  }
  uint32_t total = kc_state_front_count(lights);
  for (uint32_t i = 0; i < kept; i++) r->lights[i] = picks[i].light;
  r->light_count = kept;
  r->stats.last_lights = kept;
  r->stats.lights_dropped += total - kept;
}

static void run_ranges(kc_render *r, uint32_t count, uint32_t grain, keel_range_fn fn) {
  if (r->cfg.pool && count > grain)
    kc_pool_parallel_for(r->cfg.pool, count, grain, fn, r, NULL);
  else if (count)
    fn(r, 0, count, 0);
}

keel_result kc_render_extract(kc_render *r, const kc_world *w, uint64_t frame_index) {
  (void)frame_index;
  const kc_state_buffer *ents = kc_world_entities(w);
  uint32_t slots = kc_state_front_slots(ents);
  if (!grow(r, slots)) return KEEL_ERR_OUT_OF_MEMORY;
  kc_camera_rec cam = {.position = {0, 12, 24}, .target = {0, 0, 0}, .fov_degrees = 60};
  kc_world_active_camera(w, &cam);
  float aspect = r->cfg.height ? (float)r->cfg.width / (float)r->cfg.height : 16.0f / 9.0f;
  camera_build(&r->cameras[0], &cam, aspect);
  screen_camera_build(&r->cameras[1], r->cfg.width, r->cfg.height);
  r->cam_pos = cam.position;
  r->cam_forward = v_norm(v_sub(cam.target, cam.position));
  lights_choose(r, kc_world_lights(w));
  r->entities = ents;
  r->slots = slots;
  r->count = kc_state_front_count(ents);
  run_ranges(r, slots, RANGE_GRAIN, extract_range);
  r->entities = NULL;
  return KEEL_OK;
}

/* The renderer's handle for a world mesh id, created on first use. */
static keel_mesh mesh_resolve(kc_render *r, uint32_t mesh) {
  if (mesh == 0 || mesh > KC_WORLD_MESH_MAX) mesh = 1;
  if (r->meshes[mesh].id) return r->meshes[mesh];
  /* World mesh ids 1..3 are the built-ins, registered first by kc_world_create;
   * other names have no geometry yet and draw as cubes. Every built-in comes
   * with the host's geometry, so every backend draws the same triangles. */
  keel_mesh_builtin kind = mesh <= 3 ? (keel_mesh_builtin)mesh : KEEL_MESH_CUBE;
  static kc_mesh_data data; /* main thread only, and only while creating */
  kc_meshgen_builtin(kind, &data);
  keel_mesh_desc desc = kc_meshgen_desc(kind, &data);
  keel_mesh h = {0};
  if (r->cfg.api->mesh_create(r->cfg.renderer, &desc, &h) != KEEL_OK) {
    r->stats.errors++;
    return h;
  }
  r->meshes[mesh] = h;
  r->stats.meshes++;
  return h;
}

keel_result kc_render_prepare(kc_render *r) {
  uint32_t n = r->slots;
  /* LSD radix sort of the keys, 4 passes of 8 bits; stable, so ties keep
   * slot (= id) order. Dead slots (KEY_DEAD) end up last. */
  item *src = r->items, *dst = r->scratch;
  for (uint32_t shift = 0; n > 0 && shift < 32; shift += 8) {
    uint32_t counts[257] = {0};
    for (uint32_t i = 0; i < n; i++) counts[((src[i].key >> shift) & 0xffu) + 1]++;
    if (counts[1 + ((src[0].key >> shift) & 0xffu)] == n) continue; /* one bucket: this byte is sorted */
    for (uint32_t b = 0; b < 256; b++) counts[b + 1] += counts[b];
    for (uint32_t i = 0; i < n; i++) dst[counts[(src[i].key >> shift) & 0xffu]++] = src[i];
    item *t = src;
    src = dst;
    dst = t;
  }
  r->order = src;
  /* Renderer meshes are created here, on the main thread, the first time a
   * world mesh is drawn; Record's gather only reads the table. */
  memset(r->pass_begin, 0, sizeof r->pass_begin);
  for (uint32_t i = 0; i < r->count; i++) {
    r->pass_begin[(src[i].key >> 29) + 1]++;
    mesh_resolve(r, r->mesh_of[src[i].index]);
  }
  for (uint32_t p = 0; p < r->cfg.pass_count; p++) r->pass_begin[p + 1] += r->pass_begin[p];
  r->sorted_valid = false;
  return KEEL_OK;
}

/* Gathers sorted draws [begin, end) into dst with their renderer meshes. */
static void gather(const kc_render *r, uint32_t begin, uint32_t end, keel_draw *dst) {
  for (uint32_t i = begin; i < end; i++) {
    uint32_t src = r->order[i].index;
    keel_draw *d = &dst[i - begin];
    *d = r->draws[src];
    uint32_t mesh = r->mesh_of[src];
    d->mesh = r->meshes[mesh >= 1 && mesh <= KC_WORLD_MESH_MAX ? mesh : 1];
  }
}

keel_result kc_render_begin(kc_render *r, keel_color clear, double game_time) {
  keel_frame_desc fd = {.struct_size = KEEL_STRUCT_SIZE(keel_frame_desc), .frame_index = r->stats.frames,
                        .clear_color = clear, .time = game_time, .dt = r->timed ? game_time - r->last_time : 0.0,
                        .lights = r->lights, .light_count = r->light_count};
  r->last_time = game_time;
  r->timed = true;
  r->frame_desc = fd;
  keel_result res = r->cfg.api->begin_frame(r->cfg.renderer, &r->frame_desc);
  if (res != KEEL_OK) r->stats.errors++;
  return res;
}

uint32_t kc_render_slices(const kc_render *r, kc_render_slice *slices, uint32_t max_slices) {
  uint32_t n = 0;
  for (uint32_t p = 0; p < r->cfg.pass_count; p++) {
    uint32_t begin = r->pass_begin[p], end = r->pass_begin[p + 1], len = end - begin;
    uint32_t wanted = (len + MIN_DRAWS_PER_SLICE - 1) / MIN_DRAWS_PER_SLICE;
    /* Every pass gets at least one encoder so pass 0 still clears when empty. */
    uint32_t used = wanted == 0 ? 1 : wanted < r->cfg.workers ? wanted : r->cfg.workers;
    for (uint32_t w = 0; w < used && n < max_slices; w++) {
      slices[n++] = (kc_render_slice){.pass = p, .worker = w, .begin = begin + (uint32_t)((uint64_t)len * w / used),
                                      .end = begin + (uint32_t)((uint64_t)len * (w + 1) / used)};
    }
  }
  return n;
}

/* The 1.0 layout of draws [0, n) of chunk, in place: each 1.0 record is
 * no larger than a 1.1 one, so front to back never overwrites a draw not
 * yet converted. */
static const keel_draw *draws_as_1_0(keel_draw *chunk, uint32_t n) {
  draw_1_0 *out = (draw_1_0 *)(void *)chunk;
  for (uint32_t i = 0; i < n; i++) {
    draw_1_0 d = {chunk[i].mesh, chunk[i].color, chunk[i].model};
    memcpy(&out[i], &d, sizeof d);
  }
  return chunk;
}

keel_result kc_render_record(kc_render *r, const kc_render_slice *s) {
  const keel_renderer_api *api = r->cfg.api;
  keel_encoder *enc = NULL;
  keel_result res = api->encoder_begin(r->cfg.renderer, s->pass, s->worker, &enc);
  if (res != KEEL_OK) return res;
  res = api->encoder_set_camera(enc, &r->cameras[s->pass == KEEL_PASS_SCREEN ? 1 : 0]);
  /* The copy into sorted order happens here, in chunks, on the recording
   * thread: Prepare only sorts keys, so this work spreads over the workers. */
  keel_draw chunk[GATHER_CHUNK];
  bool legacy = r->cfg.plugin_abi_minor == 0;
  for (uint32_t i = s->begin; res == KEEL_OK && i < s->end; i += GATHER_CHUNK) {
    uint32_t n = s->end - i < GATHER_CHUNK ? s->end - i : GATHER_CHUNK;
    gather(r, i, i + n, chunk);
    res = api->encoder_draw(enc, legacy ? draws_as_1_0(chunk, n) : chunk, n);
  }
  keel_result end = api->encoder_end(enc);
  return res != KEEL_OK ? res : end;
}

keel_result kc_render_submit(kc_render *r) {
  keel_result res = r->cfg.api->end_frame(r->cfg.renderer);
  if (res != KEEL_OK) r->stats.errors++;
  r->stats.frames++;
  r->stats.draws += r->count;
  r->stats.last_draws = r->count;
  return res;
}

keel_result kc_render_present(kc_render *r) {
  keel_result res = r->cfg.api->present(r->cfg.renderer);
  if (res != KEEL_OK) r->stats.errors++;
  return res;
}

static void record_range(void *user, uint32_t begin, uint32_t end, uint32_t worker) {
  (void)worker;
  kc_render *r = user;
  for (uint32_t i = begin; i < end; i++) {
    keel_result res = kc_render_record(r, &r->slices[i]);
    if (res != KEEL_OK) atomic_fetch_add(&r->record_errors, 1);
    if (res == KEEL_ERR_DEVICE_LOST) atomic_store(&r->record_lost, true);
  }
}

keel_result kc_render_record_all(kc_render *r) {
  uint32_t n = kc_render_slices(r, r->slices, sizeof r->slices / sizeof r->slices[0]);
  atomic_store(&r->record_errors, 0);
  atomic_store(&r->record_lost, false);
  if (r->count >= 2 * MIN_DRAWS_PER_SLICE)
    run_ranges(r, n, 1, record_range);
  else
    record_range(r, 0, n, 0);
  uint32_t failed = atomic_load(&r->record_errors);
  r->stats.errors += failed;
  /* A lost device is passed on as such: the engine stops on it at once. */
  return atomic_load(&r->record_lost) ? KEEL_ERR_DEVICE_LOST : failed ? KEEL_ERR_BACKEND : KEEL_OK;
}

keel_result kc_render_frame(kc_render *r, const kc_world *w, uint64_t frame_index, keel_color clear,
                            double game_time) {
  keel_result res = kc_render_extract(r, w, frame_index);
  if (res == KEEL_OK) res = kc_render_prepare(r);
  if (res != KEEL_OK) return res;
  if ((res = kc_render_begin(r, clear, game_time)) != KEEL_OK) return res;
  res = kc_render_record_all(r);
  keel_result sub = kc_render_submit(r);
  keel_result pre = kc_render_present(r);
  return res != KEEL_OK ? res : sub != KEEL_OK ? sub : pre;
}

void kc_render_stats_get(const kc_render *r, kc_render_stats *out) { *out = r->stats; }

void kc_render_set_size(kc_render *r, uint32_t width, uint32_t height) {
  r->cfg.width = width;
  r->cfg.height = height;
}

const keel_draw *kc_render_draws(kc_render *r, uint32_t pass, uint32_t *count) {
  if (pass >= r->cfg.pass_count) {
    *count = 0;
    return NULL;
  }
  if (!r->sorted_valid) {
    gather(r, 0, r->count, r->sorted);
    r->sorted_valid = true;
  }
  *count = r->pass_begin[pass + 1] - r->pass_begin[pass];
  return r->sorted + r->pass_begin[pass];
}
