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
 * uses that mesh) and referred to by handle; they never live in world state. */
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

typedef struct keel_renderer keel_renderer; /* opaque, owned by the plugin */
typedef struct keel_encoder keel_encoder;   /* opaque, owned by the renderer */

/* The window API a renderer needs, so the host opens the right kind of window. */
typedef enum keel_graphics_api {
  KEEL_GRAPHICS_NONE = 0,   /* renders nowhere or to its own surface */
  KEEL_GRAPHICS_VULKAN = 1,
  KEEL_GRAPHICS_GL = 2
} keel_graphics_api;

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
} keel_renderer_desc;

typedef struct keel_frame_desc {
  uint32_t struct_size;
  uint64_t frame_index;
  keel_color clear_color;
} keel_frame_desc;

typedef struct keel_camera {
  uint32_t struct_size;
  keel_mat4 view;
  keel_mat4 projection; /* Vulkan-style clip space: y down, depth 0..1; GL adapts */
  keel_vec3 position;
} keel_camera;

/* One draw: a mesh, a model transform and a flat colour. */
typedef struct keel_draw {
  keel_mesh mesh;
  keel_color color;
  keel_mat4 model;
} keel_draw;

/* Built-in meshes every renderer provides; shared per kind. */
typedef enum keel_mesh_builtin {
  KEEL_MESH_CUSTOM = 0,
  KEEL_MESH_CUBE = 1,   /* unit cube centred on the origin */
  KEEL_MESH_SPHERE = 2, /* unit-diameter UV sphere */
  KEEL_MESH_PLANE = 3   /* unit square in the XZ plane, normal +Y */
} keel_mesh_builtin;

typedef struct keel_mesh_desc {
  uint32_t struct_size;
  keel_mesh_builtin builtin; /* non-zero: the arrays below are ignored */
  const float *positions;    /* xyz per vertex; copied, caller keeps ownership */
  const float *normals;      /* xyz per vertex, or NULL */
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

  /* Creates a renderer. On failure returns an error, leaves *out NULL and
   * explains in *error (may be NULL). */
  keel_result (*create)(const keel_renderer_desc *desc, keel_renderer **out, keel_message *error);
  /* Waits for the GPU and frees everything, meshes included. NULL is fine. */
  void (*destroy)(keel_renderer *renderer);

  keel_result (*begin_frame)(keel_renderer *renderer, const keel_frame_desc *frame);
  keel_result (*encoder_begin)(keel_renderer *renderer, uint32_t pass, uint32_t worker, keel_encoder **out);
  /* The camera used by the draws recorded after it in this encoder. The
   * struct is copied. */
  keel_result (*encoder_set_camera)(keel_encoder *encoder, const keel_camera *camera);
  /* Records `count` draws; the array is copied before the call returns. */
  keel_result (*encoder_draw)(keel_encoder *encoder, const keel_draw *draws, uint32_t count);
  keel_result (*encoder_end)(keel_encoder *encoder);
  /* Submits every ended encoder in pass order, then worker order. An
   * encoder still open is an error (its work is dropped and counted). */
  keel_result (*end_frame)(keel_renderer *renderer);
  keel_result (*present)(keel_renderer *renderer);
  keel_result (*resize)(keel_renderer *renderer, uint32_t width, uint32_t height);

  keel_result (*mesh_create)(keel_renderer *renderer, const keel_mesh_desc *desc, keel_mesh *out);
  keel_result (*mesh_destroy)(keel_renderer *renderer, keel_mesh mesh);

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
