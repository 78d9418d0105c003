/* keel/renderer.h: the renderer interface, "keel.renderer/1".
 *
 * A frame: the main thread calls begin_frame; any number of threads then each
 * take an encoder for a (pass, worker) pair, record cameras and draws into
 * it and end it; the main thread calls end_frame, which submits every
 * encoder's work in pass order (and worker order within a pass), then
 * present. Vulkan records secondary command buffers from per-thread pools;
 * GL records CPU command lists the main thread replays; the null renderer
 * records nothing and checks every rule.
 *
 * Meshes are renderer resources: created once (shared by every entity that
 * uses that mesh) and referred to by handle; they never live in world state.
 *
 * Passes and shading (ABI 1.1). A 1.1 host always asks for two passes with a
 * fixed meaning, so two backends given the same frame draw the same image:
 *   pass 0, KEEL_PASS_WORLD: cleared to the frame's clear colour and depth
 *     1.0; depth test LESS and depth write on; back faces culled (meshes are
 *     counter-clockwise seen from outside, in a right-handed, y-up world);
 *     the camera is the scene's perspective camera. Shaded:
 *       n   = normalize(cofactor(mat3(model)) * normal)     (world space)
 *       rgb = color.rgb * (KEEL_SHADING_AMBIENT + sum over lights of
 *               light.color.rgb * light.intensity * max(dot(n, l), 0) * att)
 *     per fragment, where for a directional light l = -light.direction and
 *     att = 1, and for a point light l = normalize(light.position - p),
 *     d = |light.position - p|, att = clamp(1 - d / light.range, 0, 1)^2
 *     (p: the fragment's world position). cofactor(M) has the columns
 *     cross(M[1], M[2]), cross(M[2], M[0]), cross(M[0], M[1]): the normal
 *     matrix up to a scale, exact for any non-uniform scale.
 *   pass 1, KEEL_PASS_SCREEN: the screen layer, drawn over pass 0. Depth
 *     cleared to 1.0 (colour kept); depth test LESS and write on; no culling;
 *     unlit: rgb = color.rgb. Its camera is orthographic in pixel units:
 *     x right and y down from the top-left corner of the target, larger z
 *     nearer the viewer (z in -1000..1000).
 * Both passes write rgb clamped to [0, 1] and alpha = color.a, with no
 * blending, into an RGBA8 UNORM target (linear values, no sRGB encoding).
 * Clip space is Vulkan's: y down, depth 0..1 (GL adapts, see docs). */
#ifndef KEEL_RENDERER_H
#define KEEL_RENDERER_H

#include <keel/abi.h>
#include <keel/host.h>
#include <keel/types.h>

KEEL_BEGIN_DECLS

#define KEEL_RENDERER_INTERFACE "keel.renderer/1"
#define KEEL_RENDERER_READBACK_INTERFACE "keel.renderer.readback/1"

/* Upper bounds the host never exceeds; renderers may size tables by them. */
#define KEEL_RENDERER_MAX_PASSES 8u
#define KEEL_RENDERER_MAX_WORKERS 64u
/* 1.1: lights handed to a frame. A scene with more gives the renderer the
 * first KEEL_RENDERER_MAX_LIGHTS (directional lights first, then point
 * lights nearest the camera) and counts the rest as dropped. */
#define KEEL_RENDERER_MAX_LIGHTS 16u

/* 1.1: the passes' fixed meanings (see the top of this file). */
#define KEEL_PASS_WORLD 0u
#define KEEL_PASS_SCREEN 1u
/* 1.1: the constant ambient term of the shading model. */
#define KEEL_SHADING_AMBIENT 0.15f

typedef struct keel_renderer keel_renderer; /* opaque, owned by the plugin */
typedef struct keel_encoder keel_encoder;   /* opaque, owned by the renderer */

/* The window API a renderer needs, so the host opens the right kind of window. */
typedef enum keel_graphics_api {
  KEEL_GRAPHICS_NONE = 0,   /* renders nowhere or to its own surface */
  KEEL_GRAPHICS_VULKAN = 1,
  KEEL_GRAPHICS_GL = 2
} keel_graphics_api;

/* 1.1: whether the graphics API's validation or debug output is on. The
 * host resolves `[renderer] validation = auto` to IF_AVAILABLE in its
 * debug and sanitizer builds and to OFF in release builds. */
typedef enum keel_validation {
  KEEL_VALIDATION_OFF = 0,
  KEEL_VALIDATION_IF_AVAILABLE = 1, /* on when installed; else say so in one log line and go on */
  KEEL_VALIDATION_REQUIRED = 2      /* on, or create fails with the reason */
} keel_validation;

typedef struct keel_renderer_desc {
  uint32_t struct_size;
  const keel_host *host;  /* lent for the renderer's lifetime */
  uint32_t width;         /* drawable size in pixels (offscreen target when headless) */
  uint32_t height;
  bool headless;          /* true: no window; render offscreen, readback works */
  bool vsync;
  uint32_t frames_in_flight; /* 1..4 */
  uint32_t max_workers;      /* encoders per pass: workers are 0..max_workers-1 */
  uint32_t pass_count;       /* passes are 0..pass_count-1; pass 0 clears */
  /* ---- 1.1 */
  /* `[renderer] device`: "" = pick the best device; else a decimal index
   * into the API's device list or a case-insensitive substring of the
   * device's name. A device that matches nothing fails create with the
   * list of devices. Borrowed for the create call only. */
  const char *device;
  keel_validation validation; /* `[renderer] validation`, resolved */
} keel_renderer_desc;

/* 1.1: one light, as the renderer needs it (world space). */
typedef struct keel_light {
  keel_light_kind kind;
  keel_vec3 position;  /* point: where it shines from */
  keel_vec3 direction; /* directional: unit vector the light travels along */
  keel_color color;    /* linear rgb; a is ignored */
  float intensity;     /* >= 0 */
  float range;         /* point: > 0, the distance where it has faded to 0 */
} keel_light;

typedef struct keel_frame_desc {
  uint32_t struct_size;
  uint64_t frame_index;
  keel_color clear_color;
  /* ---- 1.1 */
  double time;              /* seconds of game time of the state drawn */
  double dt;                /* seconds of game time since the previous frame */
  const keel_light *lights; /* owned by the host, valid until end_frame returns */
  uint32_t light_count;     /* 0..KEEL_RENDERER_MAX_LIGHTS */
} keel_frame_desc;

/* 1.1: how a camera projects. */
typedef enum keel_projection {
  KEEL_PROJECTION_PERSPECTIVE = 0,
  KEEL_PROJECTION_ORTHOGRAPHIC = 1
} keel_projection;

typedef struct keel_camera {
  uint32_t struct_size;
  keel_mat4 view;
  keel_mat4 projection; /* Vulkan-style clip space: y down, depth 0..1; GL adapts */
  keel_vec3 position;
  /* ---- 1.1 */
  keel_projection projection_kind; /* pass 0: PERSPECTIVE; pass 1: ORTHOGRAPHIC */
} keel_camera;

/* One draw: a mesh, a model transform and a flat colour. Draws are handed
 * over in arrays, so this struct has no struct_size: a 1.1 host hands a
 * plugin built against 1.0 (manifest abi_minor 0) arrays of the 1.0 layout,
 * without `entity`. */
typedef struct keel_draw {
  keel_mesh mesh;
  keel_color color;
  keel_mat4 model;
  /* ---- 1.1 */
  uint32_t reserved; /* 0; makes the layout free of hidden padding */
  keel_id entity;    /* the entity drawn (picking, debugging); 0 = none */
} keel_draw;

/* Built-in meshes every renderer provides; shared per kind. */
typedef enum keel_mesh_builtin {
  KEEL_MESH_CUSTOM = 0,
  KEEL_MESH_CUBE = 1,   /* unit cube centred on the origin */
  KEEL_MESH_SPHERE = 2, /* unit-diameter UV sphere */
  KEEL_MESH_PLANE = 3   /* unit square in the XZ plane, normal +Y */
} keel_mesh_builtin;

/* A mesh's geometry: a triangle list, counter-clockwise seen from outside.
 * Every index must be below vertex_count and index_count a non-zero
 * multiple of 3; a renderer refuses anything else with the reason. */
typedef struct keel_mesh_desc {
  uint32_t struct_size;
  /* Non-zero: one of the built-ins. A 1.0 host leaves the arrays below NULL
   * and the renderer builds the shape; a 1.1 host always fills them with its
   * own geometry for that shape, so every backend draws the same triangles
   * (a renderer should use them). */
  keel_mesh_builtin builtin;
  const float *positions;    /* xyz per vertex; copied, caller keeps ownership */
  const float *normals;      /* xyz per vertex, unit length, or NULL */
  uint32_t vertex_count;
  const uint32_t *indices;   /* triangle list */
  uint32_t index_count;
} keel_mesh_desc;

typedef struct keel_renderer_stats {
  uint32_t struct_size;
  uint64_t frames;   /* completed end_frame calls */
  uint64_t passes;   /* passes submitted */
  uint64_t encoders; /* encoders ended */
  uint64_t draws;    /* draws submitted */
  uint64_t errors;   /* calls refused (misuse or backend failure) */
  uint32_t meshes;   /* live meshes */
  /* ---- 1.1 */
  uint64_t draw_calls;     /* draw calls issued to the API (instanced runs count once) */
  uint64_t debug_messages; /* validation / debug-output messages received (each is also logged) */
} keel_renderer_stats;

/* Thread rules: create, destroy, begin_frame, end_frame, present, resize,
 * mesh_create and mesh_destroy are main thread only. encoder_begin may be
 * called on any thread between begin_frame and end_frame, once per
 * (pass, worker); the encoder it returns is used by that thread only, until
 * encoder_end. stats: main thread. A call that breaks a rule returns
 * KEEL_ERR_WRONG_STATE and logs which rule; it never crashes. */
typedef struct keel_renderer_api {
  uint32_t struct_size;
  keel_graphics_api api;

  /* Main thread (the one that calls it becomes the renderer's main thread).
   * Creates a renderer. `desc` is borrowed for the call (copy what you
   * keep); desc->host is lent until destroy returns. *out is the plugin's
   * until destroy. On failure returns an error, leaves *out NULL and
   * explains in *error (caller-owned, may be NULL). */
  keel_result (*create)(const keel_renderer_desc *desc, keel_renderer **out, keel_message *error);
  /* Main thread. Waits for the GPU and frees everything, meshes included.
   * NULL is fine. */
  void (*destroy)(keel_renderer *renderer);

  /* Main thread. The frame desc (and what it points to, the lights) is the
   * host's, valid until end_frame returns. */
  keel_result (*begin_frame)(keel_renderer *renderer, const keel_frame_desc *frame);
  /* Any thread, between begin_frame and end_frame, once per (pass, worker).
   * *out is the renderer's, used by the calling thread only, until
   * encoder_end. */
  keel_result (*encoder_begin)(keel_renderer *renderer, uint32_t pass, uint32_t worker, keel_encoder **out);
  /* The encoder's thread. The camera used by the draws recorded after it in
   * this encoder. The struct is copied. A 1.1 host sets it first in every
   * encoder: the scene's perspective camera in pass 0, the screen camera in
   * pass 1. */
  keel_result (*encoder_set_camera)(keel_encoder *encoder, const keel_camera *camera);
  /* The encoder's thread. Records `count` draws; the array (the caller's)
   * is copied before the call returns. */
  keel_result (*encoder_draw)(keel_encoder *encoder, const keel_draw *draws, uint32_t count);
  /* The encoder's thread. Ends the encoder; it may not be used again. */
  keel_result (*encoder_end)(keel_encoder *encoder);
  /* Main thread. Submits every ended encoder in pass order, then worker
   * order. An encoder still open is an error (its work is dropped and
   * counted). KEEL_ERR_DEVICE_LOST (1.1) when the device is gone: the host
   * then stops the run with exit status 1 instead of calling it again. A
   * renderer may hand the submission to a thread of its own; a failure found
   * there is then returned by a later main-thread call (the begin_frame that
   * reuses that frame's resources, or a readback), so a host treats a result
   * alike whichever call returns it. */
  keel_result (*end_frame)(keel_renderer *renderer);
  /* Main thread, after end_frame: shows the frame (a no-op when headless). */
  keel_result (*present)(keel_renderer *renderer);
  /* Main thread, between frames. The drawable is now width x height pixels
   * (a window resize); 0 x 0 is never passed (the host skips frames while
   * minimised). */
  keel_result (*resize)(keel_renderer *renderer, uint32_t width, uint32_t height);

  /* Main thread. The desc and its arrays are the caller's, copied before
   * the call returns; *out is a handle the renderer owns until
   * mesh_destroy (or destroy). */
  keel_result (*mesh_create)(keel_renderer *renderer, const keel_mesh_desc *desc, keel_mesh *out);
  /* Main thread. */
  keel_result (*mesh_destroy)(keel_renderer *renderer, keel_mesh mesh);

  /* Main thread. *out is the caller's; write at most out->struct_size
   * bytes (a host built against an older SDK passes a smaller struct). */
  keel_result (*stats)(keel_renderer *renderer, keel_renderer_stats *out);
} keel_renderer_api;

/* Optional interface "keel.renderer.readback/1". */
typedef struct keel_renderer_readback_api {
  uint32_t struct_size;
  /* Copies the last completed frame as tightly packed RGBA8, top row first,
   * into pixels (caller owns, `capacity` bytes). Writes the size to *width
   * and *height; KEEL_ERR_FULL when capacity < width*height*4 (the sizes
   * are still written). Main thread only, after end_frame. */
  keel_result (*readback_rgba8)(keel_renderer *renderer, uint8_t *pixels, size_t capacity, uint32_t *width,
                                uint32_t *height);
} keel_renderer_readback_api;

KEEL_END_DECLS

#endif /* KEEL_RENDERER_H */
