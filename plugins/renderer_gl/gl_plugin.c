/* The OpenGL renderer plugin: keel.renderer/1 and keel.renderer.readback/1
 * on OpenGL 3.3 core or newer. Encoders are CPU command lists that any job
 * worker fills without touching GL; end_frame replays them on the main
 * thread, the only thread that owns the context. This file holds the entry
 * points and the rules of the contract (the same refusals as the null
 * renderer, since a GL call on the wrong thread would crash rather than
 * fail); the GL work is in gl_draw.c, the context in gl_context.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gl_internal.h"

_Static_assert(offsetof(keel_draw, model) == offsetof(keel_draw, color) + sizeof(keel_color),
               "keel_draw's colour and model are one 80-byte block");
_Static_assert(sizeof(glr_instance) == sizeof(keel_color) + sizeof(keel_mat4), "glr_instance is colour + model");

/* A number per thread, unique for the process's life (thread-local
 * addresses are reused after a thread exits). 0 is never issued. */
static _Atomic uint64_t glr_next_thread_id = 1;
/* initial-exec, never __tls_get_addr: see renderer_null.c (LeakSanitizer). */
static _Thread_local uint64_t glr_thread_id_value __attribute__((tls_model("initial-exec")));

static uint64_t glr_thread_id(void) {
  if (!glr_thread_id_value) glr_thread_id_value = atomic_fetch_add(&glr_next_thread_id, 1);
  return glr_thread_id_value;
}

static void glr_vlog(const keel_renderer *r, keel_log_level level, const char *fmt, va_list ap) {
  const keel_host *h = r->host;
  /* A host may lend a partial table (older minor, or tests): check first. */
  if (!h || !KEEL_HAS_MEMBER(h, keel_host, log) || !h->log) return;
  char text[KEEL_MESSAGE_MAX * 2];
  vsnprintf(text, sizeof text, fmt, ap);
  h->log(h, level, "%s", text);
}

void glr_log(const keel_renderer *r, keel_log_level level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  glr_vlog(r, level, fmt, ap);
  va_end(ap);
}

keel_result glr_refuse(keel_renderer *r, keel_result code, const char *fmt, ...) {
  atomic_fetch_add_explicit(&r->errors, 1, memory_order_relaxed);
  va_list ap;
  va_start(ap, fmt);
  glr_vlog(r, KEEL_LOG_ERROR, fmt, ap);
  va_end(ap);
  return code;
}

void glr_set_error(keel_message *error, const char *fmt, ...) {
  if (!error) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(error->text, sizeof error->text, fmt, ap);
  va_end(ap);
}

static bool glr_on_main(const keel_renderer *r) { return glr_thread_id() == r->main_thread; }

static keel_result glr_refuse_off_main(keel_renderer *r, const char *call) {
  return glr_refuse(r, KEEL_ERR_WRONG_STATE,
                    "%s: called off the main thread (main-thread calls must come from the thread that called create)",
                    call);
}

/* ---- create / destroy */

static void glr_free(keel_renderer *r) {
  if (r->encoders) {
    for (uint32_t i = 0; i < r->pass_count * r->max_workers; i++) {
      free(r->encoders[i].instances);
      free(r->encoders[i].cmds);
      free(r->encoders[i].cameras);
    }
  }
  free(r->encoders);
  free(r->ended);
  free(r->meshes);
  free(r);
}

static keel_result glr_check_desc(const keel_renderer_desc *desc, keel_message *error) {
  if (!desc || !KEEL_HAS_MEMBER(desc, keel_renderer_desc, pass_count)) {
    glr_set_error(error, "create: the renderer desc is missing or older than keel.renderer/1");
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  if (desc->width == 0 || desc->height == 0) {
    glr_set_error(error, "create: size %ux%u, both must be at least 1", desc->width, desc->height);
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  if (desc->pass_count == 0 || desc->pass_count > KEEL_RENDERER_MAX_PASSES) {
    glr_set_error(error, "create: pass_count %u out of range 1..%u", desc->pass_count, KEEL_RENDERER_MAX_PASSES);
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  if (desc->max_workers == 0 || desc->max_workers > KEEL_RENDERER_MAX_WORKERS) {
    glr_set_error(error, "create: max_workers %u out of range 1..%u", desc->max_workers, KEEL_RENDERER_MAX_WORKERS);
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  if (desc->frames_in_flight == 0 || desc->frames_in_flight > GLR_MAX_FRAMES_IN_FLIGHT) {
    glr_set_error(error, "create: frames_in_flight %u out of range 1..%u", desc->frames_in_flight,
                  GLR_MAX_FRAMES_IN_FLIGHT);
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  return KEEL_OK;
}

static keel_result glr_create(const keel_renderer_desc *desc, keel_renderer **out, keel_message *error) {
  if (!out) {
    glr_set_error(error, "create: out is NULL");
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  *out = NULL;
  keel_result res = glr_check_desc(desc, error);
  if (res != KEEL_OK) return res;
  keel_renderer *r = calloc(1, sizeof *r);
  size_t encoder_count = (size_t)desc->pass_count * desc->max_workers;
  if (r) r->encoders = aligned_alloc(64, encoder_count * sizeof *r->encoders);
  if (r && r->encoders) memset(r->encoders, 0, encoder_count * sizeof *r->encoders);
  if (r) r->ended = calloc(encoder_count, sizeof *r->ended);
  if (r) r->meshes = calloc(GLR_MESH_SLOTS, sizeof *r->meshes);
  if (!r || !r->encoders || !r->ended || !r->meshes) {
    if (r) glr_free(r);
    glr_set_error(error, "create: out of memory");
    return KEEL_ERR_OUT_OF_MEMORY;
  }
  r->host = desc->host;
  r->main_thread = glr_thread_id();
  r->width = desc->width;
  r->height = desc->height;
  r->pass_count = desc->pass_count;
  r->max_workers = desc->max_workers;
  r->frames_in_flight = desc->frames_in_flight;
  for (uint32_t p = 0; p < r->pass_count; p++) {
    for (uint32_t w = 0; w < r->max_workers; w++) {
      struct keel_encoder *e = &r->encoders[p * r->max_workers + w];
      e->renderer = r;
      e->pass = p;
      e->worker = w;
    }
  }
  for (uint32_t i = 0; i < GLR_MESH_SLOTS; i++) r->meshes[i].next_free = i + 1;

  res = glr_context_create(r, desc, error);
  if (res != KEEL_OK) {
    glr_free(r);
    return res;
  }
  res = glr_draw_init(r, error);
  if (res != KEEL_OK) {
    glr_draw_shutdown(r);
    glr_context_destroy(r);
    glr_free(r);
    return res;
  }
  glr_log(r, KEEL_LOG_INFO, "%s on %s, %s, %ux%u, depth 0..1 by %s, debug output %s", r->ctx.version_text,
          r->ctx.renderer_name, r->ctx.kind == GLR_CONTEXT_EGL ? "headless (EGL surfaceless)" : "the host's window",
          r->width, r->height, r->ctx.clip_control ? "glClipControl" : "the projection", r->ctx.debug ? "on" : "off");
  *out = r;
  return KEEL_OK;
}

static void glr_destroy(keel_renderer *r) {
  if (!r) return;
  /* destroy cannot refuse (it returns nothing): say so and free anyway. */
  if (!glr_on_main(r)) glr_refuse_off_main(r, "destroy");
  if (glr_context_make_current(r) == KEEL_OK) {
    glFinish();
    for (uint32_t i = 0; i < GLR_MESH_SLOTS; i++)
      if (atomic_load_explicit(&r->meshes[i].live, memory_order_relaxed)) glr_mesh_release(&r->meshes[i]);
    glr_draw_shutdown(r);
  }
  glr_context_destroy(r);
  glr_free(r);
}

/* ---- the frame */

static keel_result glr_begin_frame(keel_renderer *r, const keel_frame_desc *frame) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!glr_on_main(r)) return glr_refuse_off_main(r, "begin_frame");
  if (!frame || !KEEL_HAS_MEMBER(frame, keel_frame_desc, clear_color))
    return glr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "begin_frame: the frame desc is missing or too small");
  if (atomic_load_explicit(&r->in_frame, memory_order_relaxed))
    return glr_refuse(r, KEEL_ERR_WRONG_STATE, "begin_frame: a frame is already open (end_frame was not called)");
  uint32_t lights = 0;
  if (KEEL_HAS_MEMBER(frame, keel_frame_desc, light_count)) {
    lights = frame->light_count;
    if (lights > KEEL_RENDERER_MAX_LIGHTS)
      return glr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "begin_frame: %u lights, more than KEEL_RENDERER_MAX_LIGHTS (%u)",
                        lights, KEEL_RENDERER_MAX_LIGHTS);
    if (lights && !frame->lights)
      return glr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "begin_frame: %u lights from NULL", lights);
    for (uint32_t i = 0; i < lights; i++) {
      const keel_light *l = &frame->lights[i];
      if (l->kind != KEEL_LIGHT_POINT && l->kind != KEEL_LIGHT_DIRECTIONAL)
        return glr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "begin_frame: light %u has unknown kind %d", i, (int)l->kind);
    }
  }
  keel_result res = glr_context_make_current(r);
  if (res != KEEL_OK) return res;
  res = glr_draw_wait_slot(r);
  if (res != KEEL_OK) return res;
  /* The lights in the layout keel_light_term reads: three vec4 each. */
  for (uint32_t i = 0; i < lights; i++) {
    const keel_light *l = &frame->lights[i];
    float *v = r->lights[i * 3];
    v[0] = l->position.x, v[1] = l->position.y, v[2] = l->position.z;
    v[3] = l->kind == KEEL_LIGHT_DIRECTIONAL ? 1.0f : 0.0f;
    v[4] = l->direction.x, v[5] = l->direction.y, v[6] = l->direction.z, v[7] = l->range;
    v[8] = l->color.r, v[9] = l->color.g, v[10] = l->color.b, v[11] = l->intensity;
  }
  r->light_count = lights;
  r->clear = frame->clear_color;
  /* Release: workers that see the frame open see everything set before. */
  atomic_store_explicit(&r->in_frame, true, memory_order_release);
  return KEEL_OK;
}

static keel_result glr_encoder_begin(keel_renderer *r, uint32_t pass, uint32_t worker, keel_encoder **out) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!out) return glr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "encoder_begin: out is NULL");
  *out = NULL;
  if (!atomic_load_explicit(&r->in_frame, memory_order_acquire))
    return glr_refuse(r, KEEL_ERR_WRONG_STATE,
                      "encoder_begin: no frame is open (call begin_frame first; encoders live until end_frame)");
  if (pass >= r->pass_count)
    return glr_refuse(r, KEEL_ERR_WRONG_STATE, "encoder_begin: pass %u out of range (pass_count %u)", pass,
                      r->pass_count);
  if (worker >= r->max_workers)
    return glr_refuse(r, KEEL_ERR_WRONG_STATE, "encoder_begin: worker %u out of range (max_workers %u)", worker,
                      r->max_workers);
  struct keel_encoder *e = &r->encoders[pass * r->max_workers + worker];
  uint64_t word = atomic_load_explicit(&e->word, memory_order_acquire);
  if (GLR_ENC_STATE(word) != GLR_ENC_IDLE ||
      !atomic_compare_exchange_strong_explicit(&e->word, &word, GLR_ENC_WORD(glr_thread_id(), GLR_ENC_OPEN),
                                               memory_order_acq_rel, memory_order_acquire))
    return glr_refuse(r, KEEL_ERR_WRONG_STATE,
                      "encoder_begin: pass %u, worker %u already has an encoder in this frame (one per pass and worker)",
                      pass, worker);
  e->instance_count = 0;
  e->cmd_count = 0;
  e->camera_count = 0;
  e->open_run = UINT32_MAX;
  e->last_valid = 0;
  *out = e;
  return KEEL_OK;
}

/* The rule every encoder call shares: the encoder is open, and this thread
 * began it. */
static keel_result glr_check_encoder(struct keel_encoder *e, const char *call) {
  keel_renderer *r = e->renderer;
  uint64_t word = atomic_load_explicit(&e->word, memory_order_acquire);
  unsigned state = GLR_ENC_STATE(word);
  if (state != GLR_ENC_IDLE && GLR_ENC_OWNER(word) != glr_thread_id())
    return glr_refuse(r, KEEL_ERR_WRONG_STATE,
                      "%s: encoder (pass %u, worker %u) was begun by another thread; an encoder is used only by the "
                      "thread that began it",
                      call, e->pass, e->worker);
  if (state == GLR_ENC_ENDED)
    return glr_refuse(r, KEEL_ERR_WRONG_STATE, "%s: encoder (pass %u, worker %u) is not open: it was already ended",
                      call, e->pass, e->worker);
  if (state == GLR_ENC_IDLE) {
    bool frame_open = atomic_load_explicit(&r->in_frame, memory_order_acquire);
    return glr_refuse(r, KEEL_ERR_WRONG_STATE, "%s: encoder (pass %u, worker %u) is not open: %s", call, e->pass,
                      e->worker,
                      frame_open ? "it was not begun in this frame"
                                 : "no frame is open (after end_frame, or before begin_frame)");
  }
  return KEEL_OK;
}

/* Makes room for `need` elements of `size` bytes; doubles, so a list that
 * has reached its size stops allocating. */
static bool glr_reserve(void **items, uint32_t *capacity, uint64_t need, size_t size) {
  if (need <= *capacity) return true;
  if (need > UINT32_MAX) return false;
  uint64_t cap = *capacity ? *capacity : 256;
  while (cap < need) cap *= 2;
  if (cap > UINT32_MAX) cap = UINT32_MAX;
  void *p = realloc(*items, (size_t)cap * size);
  if (!p) return false;
  *items = p;
  *capacity = (uint32_t)cap;
  return true;
}

static keel_result glr_encoder_set_camera(keel_encoder *e, const keel_camera *camera) {
  if (!e) return KEEL_ERR_INVALID_ARGUMENT;
  keel_result res = glr_check_encoder(e, "encoder_set_camera");
  if (res != KEEL_OK) return res;
  keel_renderer *r = e->renderer;
  if (!camera || !KEEL_HAS_MEMBER(camera, keel_camera, projection))
    return glr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "encoder_set_camera: the camera is missing or too small");
  if (!glr_reserve((void **)&e->cameras, &e->camera_capacity, (uint64_t)e->camera_count + 1, sizeof *e->cameras) ||
      !glr_reserve((void **)&e->cmds, &e->cmd_capacity, (uint64_t)e->cmd_count + 1, sizeof *e->cmds))
    return glr_refuse(r, KEEL_ERR_OUT_OF_MEMORY, "encoder_set_camera: out of memory for the command list");
  glr_camera_from_sdk(&e->cameras[e->camera_count], camera, r->ctx.clip_control);
  e->cmds[e->cmd_count++] = (glr_cmd){.kind = GLR_CMD_CAMERA, .arg = e->camera_count++};
  e->open_run = UINT32_MAX;
  return KEEL_OK;
}

static keel_result glr_encoder_draw(keel_encoder *e, const keel_draw *draws, uint32_t count) {
  if (!e) return KEEL_ERR_INVALID_ARGUMENT;
  keel_renderer *r = e->renderer;
  keel_result res = glr_check_encoder(e, "encoder_draw");
  if (res != KEEL_OK) return res;
  if (!count) return KEEL_OK;
  if (!draws) return glr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "encoder_draw: %u draws from NULL", count);
  if (!e->camera_count)
    return glr_refuse(r, KEEL_ERR_WRONG_STATE,
                      "encoder_draw: pass %u, worker %u draws without a camera (set the pass's %s camera first)",
                      e->pass, e->worker, e->pass == KEEL_PASS_SCREEN ? "screen" : "world");
  /* All or nothing: a batch with one bad mesh records none of its draws.
   * A mesh is looked up only where the mesh changes (draws come sorted). */
  uint32_t checked = e->last_valid;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t id = draws[i].mesh.id;
    if (id == checked) continue;
    uint32_t slot = id & GLR_MESH_INDEX_MASK;
    if (id == 0 || slot >= GLR_MESH_SLOTS || atomic_load_explicit(&r->meshes[slot].live, memory_order_acquire) != id)
      return glr_refuse(r, KEEL_ERR_WRONG_STATE,
                        "encoder_draw: draw %u of %u uses mesh 0x%08x, which is not a live mesh (never created, or "
                        "destroyed)",
                        i, count, id);
    checked = id;
  }
  if (!glr_reserve((void **)&e->instances, &e->instance_capacity, (uint64_t)e->instance_count + count,
                   sizeof *e->instances) ||
      !glr_reserve((void **)&e->cmds, &e->cmd_capacity, (uint64_t)e->cmd_count + count, sizeof *e->cmds))
    return glr_refuse(r, KEEL_ERR_OUT_OF_MEMORY, "encoder_draw: out of memory for %u more draws", count);
  e->last_valid = checked;
  glr_instance *dst = e->instances + e->instance_count;
  glr_cmd *cmds = e->cmds;
  uint32_t run = e->open_run, first = e->instance_count;
  for (uint32_t i = 0; i < count; i++) {
    memcpy(&dst[i], &draws[i].color, sizeof dst[i]);
    uint32_t mesh = draws[i].mesh.id;
    if (run != UINT32_MAX && cmds[run].arg == mesh) {
      cmds[run].count++;
    } else {
      run = e->cmd_count++;
      cmds[run] = (glr_cmd){.kind = GLR_CMD_RUN, .arg = mesh, .first = first + i, .count = 1};
    }
  }
  e->open_run = run;
  e->instance_count += count;
  return KEEL_OK;
}

static keel_result glr_encoder_end(keel_encoder *e) {
  if (!e) return KEEL_ERR_INVALID_ARGUMENT;
  keel_result res = glr_check_encoder(e, "encoder_end");
  if (res != KEEL_OK) return res;
  uint64_t open = GLR_ENC_WORD(glr_thread_id(), GLR_ENC_OPEN);
  /* Release: end_frame, acquiring ENDED, sees the whole list. A failed
   * exchange means end_frame dropped the encoder in between. */
  if (!atomic_compare_exchange_strong_explicit(&e->word, &open, GLR_ENC_WORD(glr_thread_id(), GLR_ENC_ENDED),
                                               memory_order_acq_rel, memory_order_acquire))
    return glr_refuse(e->renderer, KEEL_ERR_WRONG_STATE,
                      "encoder_end: encoder (pass %u, worker %u) is not open: its frame ended first", e->pass,
                      e->worker);
  return KEEL_OK;
}

static keel_result glr_end_frame(keel_renderer *r) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!glr_on_main(r)) return glr_refuse_off_main(r, "end_frame");
  if (!atomic_load_explicit(&r->in_frame, memory_order_relaxed))
    return glr_refuse(r, KEEL_ERR_WRONG_STATE,
                      "end_frame: no frame is open (end_frame called twice, or before begin_frame)");
  /* Close the frame first, so no encoder can begin while we collect. */
  atomic_store_explicit(&r->in_frame, false, memory_order_release);
  keel_result res = KEEL_OK;
  uint64_t draws = 0, ended = 0;
  for (uint32_t p = 0; p < r->pass_count; p++) {
    for (uint32_t w = 0; w < r->max_workers; w++) {
      uint32_t i = p * r->max_workers + w;
      struct keel_encoder *e = &r->encoders[i];
      uint64_t word = atomic_exchange_explicit(&e->word, GLR_ENC_WORD(0, GLR_ENC_IDLE), memory_order_acq_rel);
      r->ended[i] = GLR_ENC_STATE(word) == GLR_ENC_ENDED;
      if (r->ended[i]) {
        ended++;
        draws += e->instance_count;
      } else if (GLR_ENC_STATE(word) == GLR_ENC_OPEN) {
        res = glr_refuse(r, KEEL_ERR_WRONG_STATE,
                         "end_frame: encoder (pass %u, worker %u) is still open; its work is dropped (call "
                         "encoder_end before end_frame)",
                         p, w);
      }
    }
  }
  keel_result gl = glr_context_make_current(r);
  if (gl == KEEL_OK) gl = glr_draw_replay(r, r->ended);
  r->frames++;
  r->passes += r->pass_count;
  r->encoders_ended += ended;
  r->draws += draws;
  r->frame_completed = true;
  r->presentable = true;
  r->last_width = r->width;
  r->last_height = r->height;
  return gl != KEEL_OK ? gl : res;
}

static keel_result glr_present(keel_renderer *r) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!glr_on_main(r)) return glr_refuse_off_main(r, "present");
  if (atomic_load_explicit(&r->in_frame, memory_order_relaxed))
    return glr_refuse(r, KEEL_ERR_WRONG_STATE, "present: a frame is open (call end_frame first)");
  if (!r->presentable)
    return glr_refuse(r, KEEL_ERR_WRONG_STATE,
                      "present: no completed frame to present (present called twice, or before end_frame)");
  r->presentable = false;
  keel_result res = glr_context_make_current(r);
  return res != KEEL_OK ? res : glr_draw_present(r);
}

static keel_result glr_resize(keel_renderer *r, uint32_t width, uint32_t height) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!glr_on_main(r)) return glr_refuse_off_main(r, "resize");
  if (atomic_load_explicit(&r->in_frame, memory_order_relaxed))
    return glr_refuse(r, KEEL_ERR_WRONG_STATE, "resize: a frame is open (resize between frames)");
  if (width == 0 || height == 0)
    return glr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "resize: size %ux%u, both must be at least 1", width, height);
  keel_result res = glr_context_make_current(r);
  if (res != KEEL_OK) return res;
  if (width == r->width && height == r->height) return KEEL_OK;
  keel_message why;
  uint32_t old_w = r->width, old_h = r->height;
  res = glr_draw_resize(r, width, height, &why);
  if (res != KEEL_OK) {
    glr_refuse(r, res, "resize: %s; keeping %ux%u", why.text, old_w, old_h);
    keel_message again;
    if (glr_draw_resize(r, old_w, old_h, &again) != KEEL_OK) glr_refuse(r, res, "resize: %s", again.text);
    return res;
  }
  /* The image of the last frame went with the old target. */
  r->frame_completed = false;
  return KEEL_OK;
}

/* ---- meshes */

static keel_result glr_check_mesh_desc(keel_renderer *r, const keel_mesh_desc *d) {
  if (!KEEL_HAS_MEMBER(d, keel_mesh_desc, index_count))
    return glr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "mesh_create: the mesh desc is too small");
  if (d->builtin != KEEL_MESH_CUSTOM && (d->builtin < KEEL_MESH_CUBE || d->builtin > KEEL_MESH_PLANE))
    return glr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "mesh_create: unknown builtin mesh %d", (int)d->builtin);
  if (!d->positions || d->vertex_count == 0)
    return glr_refuse(r, KEEL_ERR_INVALID_ARGUMENT,
                      "mesh_create: a mesh needs positions and vertex_count (an ABI 1.1 host sends the geometry of "
                      "every built-in)");
  if (d->index_count) {
    if (!d->indices || d->index_count % 3)
      return glr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "mesh_create: %u indices%s: a triangle list needs a multiple of 3",
                        d->index_count, d->indices ? "" : " from NULL");
    for (uint32_t i = 0; i < d->index_count; i++)
      if (d->indices[i] >= d->vertex_count)
        return glr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "mesh_create: index %u is %u, past the %u vertices", i,
                          d->indices[i], d->vertex_count);
  } else if (d->vertex_count % 3) {
    return glr_refuse(r, KEEL_ERR_INVALID_ARGUMENT,
                      "mesh_create: %u vertices without indices: a triangle list needs a multiple of 3",
                      d->vertex_count);
  }
  return KEEL_OK;
}

static keel_result glr_mesh_create(keel_renderer *r, const keel_mesh_desc *desc, keel_mesh *out) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (out) out->id = 0;
  if (!glr_on_main(r)) return glr_refuse_off_main(r, "mesh_create");
  if (!desc || !out) return glr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "mesh_create: desc or out is NULL");
  keel_result res = glr_check_mesh_desc(r, desc);
  if (res != KEEL_OK) return res;
  if (r->free_head >= GLR_MESH_SLOTS)
    return glr_refuse(r, KEEL_ERR_FULL, "mesh_create: all %u mesh slots are in use", GLR_MESH_SLOTS);
  if ((res = glr_context_make_current(r)) != KEEL_OK) return res;
  uint32_t slot = r->free_head;
  glr_mesh *m = &r->meshes[slot];
  keel_message why;
  res = glr_mesh_upload(r, m, desc, &why);
  if (res != KEEL_OK) return glr_refuse(r, res, "mesh_create: %s", why.text);
  r->free_head = m->next_free;
  if (++m->generation == 0) m->generation = 1;
  uint32_t id = ((uint32_t)m->generation << 16) | slot;
  atomic_store_explicit(&m->live, id, memory_order_release);
  r->live_meshes++;
  out->id = id;
  return KEEL_OK;
}

static keel_result glr_mesh_destroy(keel_renderer *r, keel_mesh mesh) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!glr_on_main(r)) return glr_refuse_off_main(r, "mesh_destroy");
  uint32_t slot = mesh.id & GLR_MESH_INDEX_MASK;
  if (mesh.id == 0 || slot >= GLR_MESH_SLOTS ||
      atomic_load_explicit(&r->meshes[slot].live, memory_order_relaxed) != mesh.id)
    return glr_refuse(r, KEEL_ERR_STALE_ID, "mesh_destroy: mesh 0x%08x is not a live mesh (never created, or destroyed)",
                      mesh.id);
  keel_result res = glr_context_make_current(r);
  if (res != KEEL_OK) return res;
  atomic_store_explicit(&r->meshes[slot].live, 0, memory_order_release);
  /* GL keeps the buffers alive for draws already submitted. */
  glr_mesh_release(&r->meshes[slot]);
  r->meshes[slot].next_free = r->free_head;
  r->free_head = slot;
  r->live_meshes--;
  return KEEL_OK;
}

/* ---- stats, readback */

static keel_result glr_stats(keel_renderer *r, keel_renderer_stats *out) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!glr_on_main(r)) return glr_refuse_off_main(r, "stats");
  if (!out) return glr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "stats: out is NULL");
  keel_renderer_stats s = {
      .struct_size = KEEL_STRUCT_SIZE(keel_renderer_stats),
      .frames = r->frames,
      .passes = r->passes,
      .encoders = r->encoders_ended,
      .draws = r->draws,
      .errors = atomic_load_explicit(&r->errors, memory_order_relaxed),
      .meshes = r->live_meshes,
      .draw_calls = r->draw_calls,
      .debug_messages = atomic_load_explicit(&r->debug_messages, memory_order_relaxed),
  };
  /* The caller's struct_size says how much room it has (an older host's is
   * smaller); 0 reads as "the same SDK as this plugin". */
  uint32_t room = out->struct_size ? out->struct_size : s.struct_size;
  if (room < s.struct_size) s.struct_size = room;
  memcpy(out, &s, s.struct_size);
  return KEEL_OK;
}

static keel_result glr_readback_rgba8(keel_renderer *r, uint8_t *pixels, size_t capacity, uint32_t *width,
                                      uint32_t *height) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!glr_on_main(r)) return glr_refuse_off_main(r, "readback_rgba8");
  if (!width || !height) return glr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "readback_rgba8: width or height is NULL");
  if (!r->frame_completed)
    return glr_refuse(r, KEEL_ERR_WRONG_STATE,
                      "readback_rgba8: no completed frame at the current size (call after end_frame; a resize "
                      "discards the last image)");
  *width = r->last_width;
  *height = r->last_height;
  size_t need = (size_t)r->last_width * r->last_height * 4u;
  /* Not a refusal: asking with too little room is how a caller learns the size. */
  if (capacity < need) return KEEL_ERR_FULL;
  if (!pixels) return glr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "readback_rgba8: pixels is NULL");
  keel_result res = glr_context_make_current(r);
  return res != KEEL_OK ? res : glr_draw_readback(r, pixels);
}

static const keel_renderer_api glr_api = {
    .struct_size = KEEL_STRUCT_SIZE(keel_renderer_api),
    .api = KEEL_GRAPHICS_GL,
    .create = glr_create,
    .destroy = glr_destroy,
    .begin_frame = glr_begin_frame,
    .encoder_begin = glr_encoder_begin,
    .encoder_set_camera = glr_encoder_set_camera,
    .encoder_draw = glr_encoder_draw,
    .encoder_end = glr_encoder_end,
    .end_frame = glr_end_frame,
    .present = glr_present,
    .resize = glr_resize,
    .mesh_create = glr_mesh_create,
    .mesh_destroy = glr_mesh_destroy,
    .stats = glr_stats,
};

static const keel_renderer_readback_api glr_readback_api = {
    .struct_size = KEEL_STRUCT_SIZE(keel_renderer_readback_api),
    .readback_rgba8 = glr_readback_rgba8,
};

static const void *glr_get_interface(const char *id) {
  if (keel_interface_is(id, KEEL_RENDERER_INTERFACE)) return &glr_api;
  if (keel_interface_is(id, KEEL_RENDERER_READBACK_INTERFACE)) return &glr_readback_api;
  return NULL;
}

static const keel_plugin_manifest glr_manifest = {
    .struct_size = KEEL_STRUCT_SIZE(keel_plugin_manifest),
    .abi_major = KEEL_ABI_MAJOR,
    .abi_minor = KEEL_ABI_MINOR,
    .name = "gl",
    .kind = KEEL_PLUGIN_RENDERER,
    .version = "1.1.0",
    .description = "OpenGL 3.3+ renderer (libepoxy): EGL surfaceless headless or the host's window, instanced replay",
    .get_interface = glr_get_interface,
};

KEEL_PLUGIN_ENTRY(&glr_manifest)
