/* The GL renderer's shared state, between its three files: gl_plugin.c (the
 * keel.renderer/1 entry points, the encoders and their rules), gl_context.c
 * (EGL surfaceless or the host's window, debug output) and gl_draw.c (GL
 * objects, meshes, the replay of the command lists). Prefix glr_. */
#ifndef GLR_INTERNAL_H
#define GLR_INTERNAL_H

#include <epoxy/egl.h>
#include <epoxy/gl.h>
#include <keel/host.h>
#include <keel/plugin.h>
#include <keel/renderer.h>
#include <stdalign.h>
#include <stdatomic.h>

/* Mesh handle: slot index in the low 16 bits, generation (1..65535) in the
 * high 16, so no live handle is 0. */
#define GLR_MESH_SLOTS 4096u
#define GLR_MESH_INDEX_MASK 0xffffu
#define GLR_MAX_FRAMES_IN_FLIGHT 4u
/* How long begin_frame waits for the frame frames_in_flight ago. */
#define GLR_FENCE_TIMEOUT_NS 5000000000ull

/* One draw in the per-frame instance buffer: what the vertex shader reads
 * with divisor 1 (attributes 2..6). It is keel_draw's colour and model, in
 * keel_draw's order, so recording a draw is one 80-byte copy, and the upload
 * one copy per encoder. */
typedef struct glr_instance {
  float color[4];
  float model[16];
} glr_instance;

/* A command of an encoder's list. CAMERA: `arg` indexes the encoder's
 * cameras. RUN: `arg` is a mesh handle, drawn `count` times with the
 * encoder's instances [first, first + count). */
enum { GLR_CMD_CAMERA = 0, GLR_CMD_RUN = 1 };
typedef struct glr_cmd {
  uint32_t kind, arg, first, count;
} glr_cmd;

/* A camera as replay uses it: the SDK's view, and its projection in GL's
 * clip space (the same matrix unless the depth range is adapted in it). */
typedef struct glr_camera {
  float view[16];
  float projection[16];
} glr_camera;

/* An encoder's state and the thread that began it share one atomic word, so
 * "open, and begun by me" is one load. */
enum { GLR_ENC_IDLE = 0, GLR_ENC_OPEN = 1, GLR_ENC_ENDED = 2 };
#define GLR_ENC_STATE(word) ((unsigned)((word) & 0xffu))
#define GLR_ENC_OWNER(word) ((word) >> 8)
#define GLR_ENC_WORD(owner, state) (((uint64_t)(owner) << 8) | (uint64_t)(state))

/* A CPU command list: POD arrays that keep their capacity from frame to
 * frame, so recording allocates only while a list grows past its largest
 * size so far. Written by the thread that began it, read by end_frame after
 * it acquired ENDED. Aligned so two workers never share a cache line. */
struct keel_encoder {
  alignas(64) _Atomic uint64_t word;
  struct keel_renderer *renderer;
  uint32_t pass, worker;
  glr_instance *instances;
  uint32_t instance_count, instance_capacity;
  glr_cmd *cmds;
  uint32_t cmd_count, cmd_capacity;
  glr_camera *cameras;
  uint32_t camera_count, camera_capacity;
  uint32_t open_run;   /* index in cmds of the run the next draw may extend, or UINT32_MAX */
  uint32_t last_valid; /* the mesh handle last checked live in this encoder (0 = none) */
  uint32_t base;       /* end_frame: where this list's instances start in the buffer */
};

typedef struct glr_mesh {
  _Atomic uint32_t live; /* the live handle, 0 when free: workers check draws against it */
  uint16_t generation;   /* main thread only, from here down */
  uint32_t next_free;
  GLuint vao, vbo, ibo;
  uint32_t index_count;
} glr_mesh;

/* A linked program and its uniforms. Pass 0 draws the world with a program
 * built for the frame's number of lights (the count a compile-time
 * constant, as the Vulkan renderer's specialization constant: the light
 * loop unrolls); every later pass draws a screen layer (keel/renderer.h
 * defines pass 1; passes after it are more screen layers, each over the
 * last, as in the Vulkan renderer). */
typedef struct glr_program {
  GLuint id; /* 0: not built yet */
  GLint loc_view, loc_projection, loc_lights;
} glr_program;

/* Where the GL context comes from. */
typedef enum glr_context_kind { GLR_CONTEXT_EGL = 1, GLR_CONTEXT_HOST_WINDOW = 2 } glr_context_kind;

typedef struct glr_context {
  glr_context_kind kind;
  EGLDisplay display; /* EGL only */
  EGLContext context;
  int gl_version;     /* major * 10 + minor */
  bool debug;         /* KHR_debug output is on */
  bool clip_control;  /* glClipControl gives depth 0..1; else the projection adapts */
  char renderer_name[128];
  char version_text[128];
} glr_context;

struct keel_renderer {
  const keel_host *host;
  uint64_t main_thread;
  glr_context ctx;
  uint32_t width, height;
  uint32_t pass_count, max_workers, frames_in_flight;
  struct keel_encoder *encoders; /* pass-major: [pass * max_workers + worker] */
  bool *ended;                   /* end_frame: which encoders are submitted */
  glr_mesh *meshes;
  uint32_t free_head; /* GLR_MESH_SLOTS = none free */
  uint32_t live_meshes;

  /* GL objects (main thread only) */
  GLuint fbo, color_rb, depth_rb;
  glr_program world[KEEL_RENDERER_MAX_LIGHTS + 1]; /* by light count, each built on first use */
  glr_program screen;
  GLuint instance_vbo[GLR_MAX_FRAMES_IN_FLIGHT]; /* one per frame in flight */
  size_t instance_bytes[GLR_MAX_FRAMES_IN_FLIGHT];
  GLsync fences[GLR_MAX_FRAMES_IN_FLIGHT];

  /* the frame */
  _Atomic bool in_frame; /* read by encoder_begin on any thread */
  keel_color clear;      /* main thread only, from here down */
  float lights[KEEL_RENDERER_MAX_LIGHTS * 3][4];
  uint32_t light_count;
  bool presentable;
  bool frame_completed; /* the target holds a completed frame of the current size */
  uint32_t last_width, last_height;

  /* counters */
  uint64_t frames, passes, encoders_ended, draws, draw_calls;
  _Atomic uint64_t errors;         /* refusals happen on any thread */
  _Atomic uint64_t debug_messages; /* KHR_debug callback (main thread, synchronous output) */
};

/* ---- gl_plugin.c */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
keel_result glr_refuse(keel_renderer *r, keel_result code, const char *fmt, ...);
void glr_log(const keel_renderer *r, keel_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void glr_set_error(keel_message *error, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- gl_context.c (main thread) */
/* Creates the context (EGL surfaceless when headless, the host's window's
 * otherwise), makes it current and checks what keel needs. On failure
 * returns the error with a one-line reason in *error and leaves nothing. */
keel_result glr_context_create(keel_renderer *r, const keel_renderer_desc *desc, keel_message *error);
void glr_context_destroy(keel_renderer *r);
/* Makes r's context current on the calling thread if it is not. */
keel_result glr_context_make_current(keel_renderer *r);
keel_result glr_context_swap(keel_renderer *r);

/* ---- gl_draw.c (main thread) */
keel_result glr_draw_init(keel_renderer *r, keel_message *error);
void glr_draw_shutdown(keel_renderer *r);
keel_result glr_draw_resize(keel_renderer *r, uint32_t width, uint32_t height, keel_message *error);
keel_result glr_mesh_upload(keel_renderer *r, glr_mesh *m, const keel_mesh_desc *d, keel_message *error);
void glr_mesh_release(glr_mesh *m);
/* Waits until at most frames_in_flight - 1 frames are unfinished. */
keel_result glr_draw_wait_slot(keel_renderer *r);
/* Replays the ended encoders (`ended[pass * max_workers + worker]`) into
 * the target, fences the frame and flushes. */
keel_result glr_draw_replay(keel_renderer *r, const bool *ended);
keel_result glr_draw_present(keel_renderer *r);
keel_result glr_draw_readback(keel_renderer *r, uint8_t *pixels);
/* Logs and counts a pending GL error after `call`; KEEL_OK when none. */
keel_result glr_check(keel_renderer *r, const char *call);

/* The camera matrix replay uses, from the SDK's (Vulkan clip space). Any thread. */
void glr_camera_from_sdk(glr_camera *out, const keel_camera *camera, bool clip_control);

#endif
