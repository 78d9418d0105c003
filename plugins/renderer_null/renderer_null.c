/* The null renderer: the whole keel.renderer/1 contract with nothing drawn, so
 * CI and headless runs exercise the frame pipeline without a GPU, and so a host
 * that breaks a rule (wrong thread, wrong order, stale mesh) is told which call
 * broke which rule instead of corrupting a real backend. SDK headers only. */
#include <keel/host.h>
#include <keel/plugin.h>
#include <keel/renderer.h>

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Mesh handle: slot index in the low 16 bits, generation (1..65535, never 0,
 * so no live handle is 0) in the high 16. */
#define NULLR_MESH_SLOTS 4096u
#define NULLR_MESH_INDEX_MASK 0xffffu

/* An encoder's state and the thread that began it share one atomic word, so
 * a check of "open, and begun by me" can never see one without the other. */
enum { ENC_IDLE = 0, ENC_OPEN = 1, ENC_ENDED = 2 };
#define ENC_STATE(word) ((unsigned)((word) & 0xffu))
#define ENC_OWNER(word) ((word) >> 8)
#define ENC_WORD(owner, state) (((uint64_t)(owner) << 8) | (uint64_t)(state))

struct keel_encoder {
  struct keel_renderer *renderer;
  uint32_t pass;
  uint32_t worker;
  _Atomic uint64_t word;
  /* Written by the owning thread, read by end_frame once the encoder is
   * ended; atomic (relaxed) so that even a misusing thread that keeps
   * drawing after end_frame is a refusal, not a data race. */
  _Atomic uint64_t draws;
  /* Owner thread only (reset by encoder_begin, read by end_frame after the
   * acquire of ENDED): the camera set (-1 none, else keel_projection), and
   * the draw calls a real backend would issue, one per run of one mesh. */
  int camera;
  uint32_t last_mesh;
  uint64_t calls;
};

typedef struct nullr_mesh {
  _Atomic uint32_t live; /* the live handle, 0 when free: workers validate draws against it */
  uint16_t generation;   /* main thread only */
  uint32_t next_free;    /* main thread only */
} nullr_mesh;

struct keel_renderer {
  const keel_host *host;
  uint64_t main_thread; /* nullr_thread_id() of the thread that called create */
  uint32_t width, height;
  uint32_t pass_count, max_workers;
  struct keel_encoder *encoders; /* pass-major: [pass * max_workers + worker] */

  _Atomic bool in_frame; /* read by encoder_begin on any thread */
  keel_color clear;      /* main thread only, from here down */
  bool presentable;
  bool frame_completed;
  keel_color last_clear;
  uint32_t last_width, last_height;

  nullr_mesh *meshes;
  uint32_t free_head; /* NULLR_MESH_SLOTS = none free */
  uint32_t live_meshes;

  uint64_t frames, passes, encoders_ended, draws, draw_calls;
  _Atomic uint64_t errors; /* refusals happen on any thread */
};

/* A number per thread, unique for the life of the process: thread-local
 * addresses and pthread ids are reused once a thread exits, which would let
 * a new thread pass for an encoder's dead owner. 0 is never issued. */
static _Atomic uint64_t nullr_next_thread_id = 1;
/* initial-exec: a %fs-relative load, never __tls_get_addr. GCC 12's
 * LeakSanitizer records the dynamic TLS blocks __tls_get_addr hands out and
 * walks them at exit; after the plugin loader's dlopen/dlclose of other
 * plugins it found a stale entry and crashed ("Tracer caught signal 11",
 * exit 1, in unit_test_runner_run under ASan). 8 bytes fit glibc's static
 * TLS room for dlopen'ed objects. */
static _Thread_local uint64_t nullr_thread_id_value __attribute__((tls_model("initial-exec")));

static uint64_t nullr_thread_id(void) {
  if (!nullr_thread_id_value) nullr_thread_id_value = atomic_fetch_add(&nullr_next_thread_id, 1);
  return nullr_thread_id_value;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static keel_result nullr_refuse(keel_renderer *r, keel_result code, const char *fmt, ...) {
  atomic_fetch_add_explicit(&r->errors, 1, memory_order_relaxed);
  const keel_host *h = r->host;
  /* A host may lend a partial table (older minor, or tests): check first. */
  if (h && KEEL_HAS_MEMBER(h, keel_host, log) && h->log) {
    char text[KEEL_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    h->log(h, KEEL_LOG_ERROR, "%s", text);
  }
  return code;
}

static bool nullr_on_main(const keel_renderer *r) { return nullr_thread_id() == r->main_thread; }

static keel_result nullr_refuse_off_main(keel_renderer *r, const char *call) {
  return nullr_refuse(r, KEEL_ERR_WRONG_STATE,
                      "%s: called off the main thread (main-thread calls must come from the thread that called create)",
                      call);
}

static void nullr_set_error(keel_message *error, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void nullr_set_error(keel_message *error, const char *fmt, ...) {
  if (!error) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(error->text, sizeof error->text, fmt, ap);
  va_end(ap);
}

static keel_result nullr_create(const keel_renderer_desc *desc, keel_renderer **out, keel_message *error) {
  if (!out) {
    nullr_set_error(error, "create: out is NULL");
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  *out = NULL;
  if (!desc || !KEEL_HAS_MEMBER(desc, keel_renderer_desc, pass_count)) {
    nullr_set_error(error, "create: the renderer desc is missing or older than keel.renderer/1");
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  if (desc->width == 0 || desc->height == 0) {
    nullr_set_error(error, "create: size %ux%u, both must be at least 1", desc->width, desc->height);
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  if (desc->pass_count == 0 || desc->pass_count > KEEL_RENDERER_MAX_PASSES) {
    nullr_set_error(error, "create: pass_count %u out of range 1..%u", desc->pass_count, KEEL_RENDERER_MAX_PASSES);
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  if (desc->max_workers == 0 || desc->max_workers > KEEL_RENDERER_MAX_WORKERS) {
    nullr_set_error(error, "create: max_workers %u out of range 1..%u", desc->max_workers, KEEL_RENDERER_MAX_WORKERS);
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  if (desc->frames_in_flight == 0 || desc->frames_in_flight > 4) {
    nullr_set_error(error, "create: frames_in_flight %u out of range 1..4", desc->frames_in_flight);
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  keel_renderer *r = calloc(1, sizeof *r);
  size_t encoder_count = (size_t)desc->pass_count * desc->max_workers;
  if (r) r->encoders = calloc(encoder_count, sizeof *r->encoders);
  if (r && r->encoders) r->meshes = calloc(NULLR_MESH_SLOTS, sizeof *r->meshes);
  if (!r || !r->encoders || !r->meshes) {
    if (r) free(r->encoders);
    free(r);
    nullr_set_error(error, "create: out of memory");
    return KEEL_ERR_OUT_OF_MEMORY;
  }
  r->host = desc->host;
  r->main_thread = nullr_thread_id();
  r->width = desc->width;
  r->height = desc->height;
  r->pass_count = desc->pass_count;
  r->max_workers = desc->max_workers;
  for (uint32_t p = 0; p < r->pass_count; p++) {
    for (uint32_t w = 0; w < r->max_workers; w++) {
      struct keel_encoder *e = &r->encoders[p * r->max_workers + w];
      e->renderer = r;
      e->pass = p;
      e->worker = w;
    }
  }
  for (uint32_t i = 0; i < NULLR_MESH_SLOTS; i++) r->meshes[i].next_free = i + 1;
  r->free_head = 0;
  *out = r;
  return KEEL_OK;
}

static void nullr_destroy(keel_renderer *r) {
  if (!r) return;
  /* destroy cannot refuse (it returns nothing); say so and free anyway. */
  if (!nullr_on_main(r)) nullr_refuse_off_main(r, "destroy");
  free(r->meshes);
  free(r->encoders);
  free(r);
}

static keel_result nullr_begin_frame(keel_renderer *r, const keel_frame_desc *frame) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!nullr_on_main(r)) return nullr_refuse_off_main(r, "begin_frame");
  if (!frame || !KEEL_HAS_MEMBER(frame, keel_frame_desc, clear_color))
    return nullr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "begin_frame: the frame desc is missing or too small");
  if (atomic_load_explicit(&r->in_frame, memory_order_relaxed))
    return nullr_refuse(r, KEEL_ERR_WRONG_STATE, "begin_frame: a frame is already open (end_frame was not called)");
  if (KEEL_HAS_MEMBER(frame, keel_frame_desc, light_count)) {
    if (frame->light_count > KEEL_RENDERER_MAX_LIGHTS)
      return nullr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "begin_frame: %u lights, more than KEEL_RENDERER_MAX_LIGHTS (%u)",
                          frame->light_count, KEEL_RENDERER_MAX_LIGHTS);
    if (frame->light_count && !frame->lights)
      return nullr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "begin_frame: %u lights from NULL", frame->light_count);
    for (uint32_t i = 0; i < frame->light_count; i++) {
      const keel_light *l = &frame->lights[i];
      if (l->kind != KEEL_LIGHT_POINT && l->kind != KEEL_LIGHT_DIRECTIONAL)
        return nullr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "begin_frame: light %u has unknown kind %d", i, (int)l->kind);
      if (!(l->intensity >= 0) || (l->kind == KEEL_LIGHT_POINT && !(l->range >= 0)))
        return nullr_refuse(r, KEEL_ERR_INVALID_ARGUMENT,
                            "begin_frame: light %u has intensity %g and range %g (both must be >= 0)", i,
                            (double)l->intensity, (double)l->range);
    }
  }
  r->clear = frame->clear_color;
  /* Release: workers that see the frame open see everything set before. */
  atomic_store_explicit(&r->in_frame, true, memory_order_release);
  return KEEL_OK;
}

static keel_result nullr_encoder_begin(keel_renderer *r, uint32_t pass, uint32_t worker, keel_encoder **out) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!out) return nullr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "encoder_begin: out is NULL");
  *out = NULL;
  if (!atomic_load_explicit(&r->in_frame, memory_order_acquire))
    return nullr_refuse(r, KEEL_ERR_WRONG_STATE,
                        "encoder_begin: no frame is open (call begin_frame first; encoders live until end_frame)");
  if (pass >= r->pass_count)
    return nullr_refuse(r, KEEL_ERR_WRONG_STATE, "encoder_begin: pass %u out of range (pass_count %u)", pass,
                        r->pass_count);
  if (worker >= r->max_workers)
    return nullr_refuse(r, KEEL_ERR_WRONG_STATE, "encoder_begin: worker %u out of range (max_workers %u)", worker,
                        r->max_workers);
  struct keel_encoder *e = &r->encoders[pass * r->max_workers + worker];
  uint64_t word = atomic_load_explicit(&e->word, memory_order_acquire);
  if (ENC_STATE(word) != ENC_IDLE ||
      !atomic_compare_exchange_strong_explicit(&e->word, &word, ENC_WORD(nullr_thread_id(), ENC_OPEN),
                                               memory_order_acq_rel, memory_order_acquire))
    return nullr_refuse(r, KEEL_ERR_WRONG_STATE,
                        "encoder_begin: pass %u, worker %u already has an encoder in this frame (one per pass and "
                        "worker)",
                        pass, worker);
  atomic_store_explicit(&e->draws, 0, memory_order_relaxed);
  e->camera = -1;
  e->last_mesh = 0;
  e->calls = 0;
  *out = e;
  return KEEL_OK;
}

/* The rule every encoder call shares: the encoder is open, and this thread
 * began it. */
static keel_result nullr_check_encoder(struct keel_encoder *e, const char *call) {
  keel_renderer *r = e->renderer;
  uint64_t word = atomic_load_explicit(&e->word, memory_order_acquire);
  unsigned state = ENC_STATE(word);
  if (state != ENC_IDLE && ENC_OWNER(word) != nullr_thread_id())
    return nullr_refuse(r, KEEL_ERR_WRONG_STATE,
                        "%s: encoder (pass %u, worker %u) was begun by another thread; an encoder is used only by the "
                        "thread that began it",
                        call, e->pass, e->worker);
  if (state == ENC_ENDED)
    return nullr_refuse(r, KEEL_ERR_WRONG_STATE, "%s: encoder (pass %u, worker %u) is not open: it was already ended",
                        call, e->pass, e->worker);
  if (state == ENC_IDLE) {
    bool frame_open = atomic_load_explicit(&r->in_frame, memory_order_acquire);
    return nullr_refuse(r, KEEL_ERR_WRONG_STATE, "%s: encoder (pass %u, worker %u) is not open: %s", call, e->pass,
                        e->worker,
                        frame_open ? "it was not begun in this frame"
                                   : "no frame is open (after end_frame, or before begin_frame)");
  }
  return KEEL_OK;
}

static keel_result nullr_encoder_set_camera(keel_encoder *e, const keel_camera *camera) {
  if (!e) return KEEL_ERR_INVALID_ARGUMENT;
  keel_result res = nullr_check_encoder(e, "encoder_set_camera");
  if (res != KEEL_OK) return res;
  if (!camera || !KEEL_HAS_MEMBER(camera, keel_camera, projection_kind))
    return nullr_refuse(e->renderer, KEEL_ERR_INVALID_ARGUMENT,
                        "encoder_set_camera: the camera is missing or older than ABI 1.1 (no projection_kind)");
  keel_projection want = e->pass == KEEL_PASS_SCREEN ? KEEL_PROJECTION_ORTHOGRAPHIC : KEEL_PROJECTION_PERSPECTIVE;
  if (camera->projection_kind != want)
    return nullr_refuse(e->renderer, KEEL_ERR_INVALID_ARGUMENT,
                        "encoder_set_camera: pass %u needs %s camera, got projection_kind %d", e->pass,
                        want == KEEL_PROJECTION_ORTHOGRAPHIC ? "the screen layer's orthographic"
                                                             : "the world's perspective",
                        (int)camera->projection_kind);
  e->camera = (int)camera->projection_kind;
  return KEEL_OK;
}

static keel_result nullr_encoder_draw(keel_encoder *e, const keel_draw *draws, uint32_t count) {
  if (!e) return KEEL_ERR_INVALID_ARGUMENT;
  keel_renderer *r = e->renderer;
  keel_result res = nullr_check_encoder(e, "encoder_draw");
  if (res != KEEL_OK) return res;
  if (count && !draws) return nullr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "encoder_draw: %u draws from NULL", count);
  if (count && e->camera < 0)
    return nullr_refuse(r, KEEL_ERR_WRONG_STATE,
                        "encoder_draw: pass %u, worker %u draws without a camera (set the pass's %s camera first)",
                        e->pass, e->worker, e->pass == KEEL_PASS_SCREEN ? "screen" : "world");
  /* All or nothing: a batch with one bad mesh records none of its draws. */
  for (uint32_t i = 0; i < count; i++) {
    uint32_t id = draws[i].mesh.id;
    uint32_t slot = id & NULLR_MESH_INDEX_MASK;
    if (id == 0 || slot >= NULLR_MESH_SLOTS ||
        atomic_load_explicit(&r->meshes[slot].live, memory_order_acquire) != id)
      return nullr_refuse(r, KEEL_ERR_WRONG_STATE,
                          "encoder_draw: draw %u of %u uses mesh 0x%08x, which is not a live mesh (never created, or "
                          "destroyed)",
                          i, count, id);
  }
  for (uint32_t i = 0; i < count; i++) {
    if (draws[i].mesh.id != e->last_mesh) e->calls++;
    e->last_mesh = draws[i].mesh.id;
  }
  atomic_fetch_add_explicit(&e->draws, count, memory_order_relaxed);
  return KEEL_OK;
}

static keel_result nullr_encoder_end(keel_encoder *e) {
  if (!e) return KEEL_ERR_INVALID_ARGUMENT;
  keel_result res = nullr_check_encoder(e, "encoder_end");
  if (res != KEEL_OK) return res;
  uint64_t open = ENC_WORD(nullr_thread_id(), ENC_OPEN);
  /* Release: end_frame, acquiring ENDED, sees every draw counted before. A
   * failed exchange means end_frame dropped the encoder in between. */
  if (!atomic_compare_exchange_strong_explicit(&e->word, &open, ENC_WORD(nullr_thread_id(), ENC_ENDED),
                                               memory_order_acq_rel, memory_order_acquire))
    return nullr_refuse(e->renderer, KEEL_ERR_WRONG_STATE,
                        "encoder_end: encoder (pass %u, worker %u) is not open: its frame ended first", e->pass,
                        e->worker);
  return KEEL_OK;
}

static keel_result nullr_end_frame(keel_renderer *r) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!nullr_on_main(r)) return nullr_refuse_off_main(r, "end_frame");
  if (!atomic_load_explicit(&r->in_frame, memory_order_relaxed))
    return nullr_refuse(r, KEEL_ERR_WRONG_STATE,
                        "end_frame: no frame is open (end_frame called twice, or before begin_frame)");
  /* Close the frame first, so no encoder can begin while we collect. */
  atomic_store_explicit(&r->in_frame, false, memory_order_release);
  keel_result res = KEEL_OK;
  /* Submission order: pass by pass, worker by worker within a pass. */
  for (uint32_t p = 0; p < r->pass_count; p++) {
    for (uint32_t w = 0; w < r->max_workers; w++) {
      struct keel_encoder *e = &r->encoders[p * r->max_workers + w];
      uint64_t word = atomic_exchange_explicit(&e->word, ENC_WORD(0, ENC_IDLE), memory_order_acq_rel);
      if (ENC_STATE(word) == ENC_ENDED) {
        r->encoders_ended++;
        r->draws += atomic_load_explicit(&e->draws, memory_order_relaxed);
        r->draw_calls += e->calls;
      } else if (ENC_STATE(word) == ENC_OPEN) {
        res = nullr_refuse(r, KEEL_ERR_WRONG_STATE,
                           "end_frame: encoder (pass %u, worker %u) is still open; its work is dropped (call "
                           "encoder_end before end_frame)",
                           p, w);
      }
    }
  }
  r->frames++;
  r->passes += r->pass_count; /* every pass is submitted: pass 0 clears even when empty */
  r->frame_completed = true;
  r->presentable = true;
  r->last_clear = r->clear;
  r->last_width = r->width;
  r->last_height = r->height;
  return res;
}

static keel_result nullr_present(keel_renderer *r) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!nullr_on_main(r)) return nullr_refuse_off_main(r, "present");
  if (atomic_load_explicit(&r->in_frame, memory_order_relaxed))
    return nullr_refuse(r, KEEL_ERR_WRONG_STATE, "present: a frame is open (call end_frame first)");
  if (!r->presentable)
    return nullr_refuse(r, KEEL_ERR_WRONG_STATE,
                        "present: no completed frame to present (present called twice, or before end_frame)");
  r->presentable = false;
  return KEEL_OK;
}

static keel_result nullr_resize(keel_renderer *r, uint32_t width, uint32_t height) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!nullr_on_main(r)) return nullr_refuse_off_main(r, "resize");
  if (atomic_load_explicit(&r->in_frame, memory_order_relaxed))
    return nullr_refuse(r, KEEL_ERR_WRONG_STATE, "resize: a frame is open (resize between frames)");
  if (width == 0 || height == 0)
    return nullr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "resize: size %ux%u, both must be at least 1", width, height);
  r->width = width;
  r->height = height;
  return KEEL_OK;
}

/* The null renderer keeps no geometry, but it refuses what a real backend
 * would choke on, so a host bug shows up here first. */
static keel_result nullr_check_mesh_desc(keel_renderer *r, const keel_mesh_desc *d) {
  if (!KEEL_HAS_MEMBER(d, keel_mesh_desc, index_count))
    return nullr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "mesh_create: the mesh desc is too small");
  if (d->builtin != KEEL_MESH_CUSTOM) {
    if (d->builtin < KEEL_MESH_CUBE || d->builtin > KEEL_MESH_PLANE)
      return nullr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "mesh_create: unknown builtin mesh %d", (int)d->builtin);
    /* A 1.1 host sends its geometry with every built-in: check it too. */
    if (!d->positions && !d->indices) return KEEL_OK;
  }
  if (!d->positions || d->vertex_count == 0)
    return nullr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "mesh_create: a custom mesh needs positions and vertex_count");
  if (d->index_count) {
    if (!d->indices || d->index_count % 3)
      return nullr_refuse(r, KEEL_ERR_INVALID_ARGUMENT,
                          "mesh_create: %u indices%s: a triangle list needs a multiple of 3", d->index_count,
                          d->indices ? "" : " from NULL");
    for (uint32_t i = 0; i < d->index_count; i++)
      if (d->indices[i] >= d->vertex_count)
        return nullr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "mesh_create: index %u is %u, past the %u vertices", i,
                            d->indices[i], d->vertex_count);
  } else if (d->vertex_count % 3) {
    return nullr_refuse(r, KEEL_ERR_INVALID_ARGUMENT,
                        "mesh_create: %u vertices without indices: a triangle list needs a multiple of 3",
                        d->vertex_count);
  }
  return KEEL_OK;
}

static keel_result nullr_mesh_create(keel_renderer *r, const keel_mesh_desc *desc, keel_mesh *out) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (out) out->id = 0;
  if (!nullr_on_main(r)) return nullr_refuse_off_main(r, "mesh_create");
  if (!desc || !out) return nullr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "mesh_create: desc or out is NULL");
  keel_result res = nullr_check_mesh_desc(r, desc);
  if (res != KEEL_OK) return res;
  if (r->free_head >= NULLR_MESH_SLOTS)
    return nullr_refuse(r, KEEL_ERR_FULL, "mesh_create: all %u mesh slots are in use", NULLR_MESH_SLOTS);
  uint32_t slot = r->free_head;
  nullr_mesh *m = &r->meshes[slot];
  r->free_head = m->next_free;
  if (++m->generation == 0) m->generation = 1;
  uint32_t id = ((uint32_t)m->generation << 16) | slot;
  atomic_store_explicit(&m->live, id, memory_order_release);
  r->live_meshes++;
  out->id = id;
  return KEEL_OK;
}

static keel_result nullr_mesh_destroy(keel_renderer *r, keel_mesh mesh) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!nullr_on_main(r)) return nullr_refuse_off_main(r, "mesh_destroy");
  uint32_t slot = mesh.id & NULLR_MESH_INDEX_MASK;
  if (mesh.id == 0 || slot >= NULLR_MESH_SLOTS ||
      atomic_load_explicit(&r->meshes[slot].live, memory_order_relaxed) != mesh.id)
    return nullr_refuse(r, KEEL_ERR_STALE_ID, "mesh_destroy: mesh 0x%08x is not a live mesh (never created, or destroyed)",
                        mesh.id);
  atomic_store_explicit(&r->meshes[slot].live, 0, memory_order_release);
  r->meshes[slot].next_free = r->free_head;
  r->free_head = slot;
  r->live_meshes--;
  return KEEL_OK;
}

static keel_result nullr_stats(keel_renderer *r, keel_renderer_stats *out) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!nullr_on_main(r)) return nullr_refuse_off_main(r, "stats");
  if (!out) return nullr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "stats: out is NULL");
  keel_renderer_stats s = {
      .struct_size = KEEL_STRUCT_SIZE(keel_renderer_stats),
      .frames = r->frames,
      .passes = r->passes,
      .encoders = r->encoders_ended,
      .draws = r->draws,
      .errors = atomic_load_explicit(&r->errors, memory_order_relaxed),
      .meshes = r->live_meshes,
      .draw_calls = r->draw_calls,
  };
  /* The caller's struct_size says how much it has room for (an older host's
   * struct is smaller); 0 is read as "the same SDK as this plugin". */
  uint32_t room = out->struct_size ? out->struct_size : s.struct_size;
  if (room < s.struct_size) s.struct_size = room;
  memcpy(out, &s, s.struct_size);
  return KEEL_OK;
}

static uint8_t nullr_unorm8(float v) {
  if (!(v > 0.0f)) return 0; /* NaN reads as 0 too */
  if (v >= 1.0f) return 255;
  return (uint8_t)(v * 255.0f + 0.5f);
}

static keel_result nullr_readback_rgba8(keel_renderer *r, uint8_t *pixels, size_t capacity, uint32_t *width,
                                        uint32_t *height) {
  if (!r) return KEEL_ERR_INVALID_ARGUMENT;
  if (!nullr_on_main(r)) return nullr_refuse_off_main(r, "readback_rgba8");
  if (!width || !height) return nullr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "readback_rgba8: width or height is NULL");
  if (!r->frame_completed)
    return nullr_refuse(r, KEEL_ERR_WRONG_STATE, "readback_rgba8: no frame has completed yet (call after end_frame)");
  *width = r->last_width;
  *height = r->last_height;
  size_t need = (size_t)r->last_width * r->last_height * 4u;
  /* Not a refusal: asking with too little room is how a caller learns the size. */
  if (capacity < need) return KEEL_ERR_FULL;
  if (!pixels) return nullr_refuse(r, KEEL_ERR_INVALID_ARGUMENT, "readback_rgba8: pixels is NULL");
  /* What a real backend shows after a frame with nothing drawn: the clear
   * colour everywhere, as UNORM8 of the linear value. */
  const uint8_t px[4] = {nullr_unorm8(r->last_clear.r), nullr_unorm8(r->last_clear.g), nullr_unorm8(r->last_clear.b),
                         nullr_unorm8(r->last_clear.a)};
  for (size_t i = 0; i < need; i += 4) memcpy(pixels + i, px, 4);
  return KEEL_OK;
}

static const keel_renderer_api nullr_api = {
    .struct_size = KEEL_STRUCT_SIZE(keel_renderer_api),
    .api = KEEL_GRAPHICS_NONE,
    .create = nullr_create,
    .destroy = nullr_destroy,
    .begin_frame = nullr_begin_frame,
    .encoder_begin = nullr_encoder_begin,
    .encoder_set_camera = nullr_encoder_set_camera,
    .encoder_draw = nullr_encoder_draw,
    .encoder_end = nullr_encoder_end,
    .end_frame = nullr_end_frame,
    .present = nullr_present,
    .resize = nullr_resize,
    .mesh_create = nullr_mesh_create,
    .mesh_destroy = nullr_mesh_destroy,
    .stats = nullr_stats,
};

static const keel_renderer_readback_api nullr_readback_api = {
    .struct_size = KEEL_STRUCT_SIZE(keel_renderer_readback_api),
    .readback_rgba8 = nullr_readback_rgba8,
};

static const void *nullr_get_interface(const char *id) {
  if (keel_interface_is(id, KEEL_RENDERER_INTERFACE)) return &nullr_api;
  if (keel_interface_is(id, KEEL_RENDERER_READBACK_INTERFACE)) return &nullr_readback_api;
  return NULL;
}

static const keel_plugin_manifest nullr_manifest = {
    .struct_size = KEEL_STRUCT_SIZE(keel_plugin_manifest),
    .abi_major = KEEL_ABI_MAJOR,
    .abi_minor = KEEL_ABI_MINOR,
    .name = "null",
    .kind = KEEL_PLUGIN_RENDERER,
    .version = "1.1.0",
    .description = "Null renderer: draws nothing, checks every rule of keel.renderer/1 and counts the work",
    .get_interface = nullr_get_interface,
};

KEEL_PLUGIN_ENTRY(&nullr_manifest)
