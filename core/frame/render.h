/* kc_render: the render half of a frame (DESIGN §3 step 5): Extract copies
 * the published world into an immutable snapshot, Prepare builds per-pass
 * draw lists sorted by key, Record hands each worker an encoder per pass,
 * Submit and Present run on the main thread. Meshes live in the renderer's
 * resource manager here (world mesh id → renderer handle), never in world
 * state. */
#ifndef KC_RENDER_H
#define KC_RENDER_H

#include <keel/renderer.h>

#include "base/err.h"
#include "sched/pool.h"
#include "world/world.h"

typedef struct kc_render kc_render;

typedef struct kc_render_config {
  const keel_renderer_api *api; /* borrowed from the plugin */
  keel_renderer *renderer;      /* borrowed; the caller destroys it after kc_render_destroy */
  uint32_t plugin_abi_minor;    /* the manifest's: 0 = hand draws over in the 1.0 layout */
  uint32_t pass_count;          /* 1..KEEL_RENDERER_MAX_PASSES */
  uint32_t workers;             /* recording workers, 1..KEEL_RENDERER_MAX_WORKERS */
  uint32_t width, height;       /* for the projection's aspect ratio */
  kc_pool *pool;                /* borrowed; NULL = everything on the calling thread */
} kc_render_config;

typedef struct kc_render_stats {
  uint64_t frames;
  uint64_t draws;          /* draws recorded */
  uint64_t errors;         /* renderer calls that failed */
  uint64_t lights_dropped; /* lights beyond KEEL_RENDERER_MAX_LIGHTS, summed over frames */
  uint32_t last_draws;     /* draws in the last frame */
  uint32_t last_lights;    /* lights handed to the last frame */
  uint32_t meshes;         /* renderer meshes created */
} kc_render_stats;

/* One recording slice: the draws of `pass` from `begin` to `end` in the
 * sorted list, recorded into the encoder (pass, worker). `worker` is an
 * encoder slot, not a thread: the job that records a slice begins and ends
 * its encoder on whatever thread runs it, and end_frame submits slots in
 * order, so the submitted order never depends on which thread recorded. */
typedef struct kc_render_slice {
  uint32_t pass, worker, begin, end;
} kc_render_slice;

keel_result kc_render_create(const kc_render_config *cfg, kc_render **out, kc_err *err);
/* Destroys the meshes it created (the renderer must still be alive). */
void kc_render_destroy(kc_render *r);

/* Main thread, in order, once a frame. */
keel_result kc_render_extract(kc_render *r, const kc_world *w, uint64_t frame_index);
keel_result kc_render_prepare(kc_render *r);
/* begin_frame with the clear colour, the game time of the state drawn (the
 * frame's dt is the change since the previous frame) and the lights
 * Extract gathered. */
keel_result kc_render_begin(kc_render *r, keel_color clear, double game_time);
/* Splits the prepared lists into at most `max_slices` slices, at most one
 * per (pass, worker); returns the count. Main thread. */
uint32_t kc_render_slices(const kc_render *r, kc_render_slice *slices, uint32_t max_slices);
/* Records one slice; any thread (one thread per slice at a time). */
keel_result kc_render_record(kc_render *r, const kc_render_slice *slice);
/* Records every slice of the frame: in parallel on the pool when there is
 * one (one job per slice), else in turn. Any thread. */
keel_result kc_render_record_all(kc_render *r);
/* end_frame (submission in pass order) and present. Main thread. */
keel_result kc_render_submit(kc_render *r);
keel_result kc_render_present(kc_render *r);

/* The whole frame: Extract and Record spread over the pool when there is
 * one, the rest on the calling thread (the main thread). */
keel_result kc_render_frame(kc_render *r, const kc_world *w, uint64_t frame_index, keel_color clear,
                            double game_time);
/* The drawable's new size (a window resize): the cameras' aspect ratio and
 * the screen layer's pixel units follow it. Main thread. */
void kc_render_set_size(kc_render *r, uint32_t width, uint32_t height);

void kc_render_stats_get(const kc_render *r, kc_render_stats *out);
/* The sorted draw list of a pass after Prepare, as Record hands it to the
 * encoders (built on first call per frame; for tests and tools). Main. */
const keel_draw *kc_render_draws(kc_render *r, uint32_t pass, uint32_t *count);

#endif
