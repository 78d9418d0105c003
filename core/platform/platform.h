/* kc_platform: the window, its events and what renderers need from it
 * (DESIGN §7a), on GLFW. Only core/platform/platform.c includes GLFW; the
 * engine and the host table see this interface, and renderers reach the
 * window through the host's platform entries. The window follows the
 * renderer's graphics API: a Vulkan renderer gets a window without a client
 * API to put its surface on, a GL renderer a window with a GL 3.3+ core
 * context. Everything here runs on the main thread (GLFW's rule). */
#ifndef KC_PLATFORM_H
#define KC_PLATFORM_H

#include <keel/renderer.h>

#include "base/err.h"
#include "platform/input.h"

/* The least GL a GL window's context offers: what keel's GL renderer needs
 * (core profile; drivers give their newest core version, 4.5 on Mesa). */
#define KC_PLATFORM_GL_MAJOR 3
#define KC_PLATFORM_GL_MINOR 3

typedef struct kc_platform_config {
  const char *title;      /* copied */
  uint32_t width, height; /* the window's size when it opens, in pixels */
  bool vsync;             /* GL: swap interval 1, else 0 (Vulkan renderers pick their present mode) */
  bool gl_debug;          /* GL: ask for a debug context (validation) */
} kc_platform_config;

typedef struct kc_platform kc_platform;

/* Connects to the display and starts GLFW; opens no window yet. When no
 * window can be had (no DISPLAY, no X server answering), fails with
 * KEEL_ERR_UNSUPPORTED and GLFW's reason. One platform at a time per
 * process (GLFW is process-wide): a second create fails with
 * KEEL_ERR_WRONG_STATE. */
keel_result kc_platform_create(const kc_platform_config *cfg, kc_platform **out, kc_err *err);
/* Closes the window. GLFW stays initialised (see platform.c), so a later
 * create is cheap. NULL is fine. */
void kc_platform_destroy(kc_platform *p);

/* Opens the window for a renderer of graphics API `api`, replacing an open
 * window whose kind does not fit (a GL renderer needs a window created with
 * its context). KEEL_GRAPHICS_NONE keeps any open window, else opens one
 * without a client API (for input only). Fails with GLFW's reason. */
keel_result kc_platform_open_window(kc_platform *p, keel_graphics_api api, kc_err *err);
bool kc_platform_has_window(const kc_platform *p);

/* Processes the window's pending events: keys, buttons, cursor and wheel go
 * into `in` (NULL: they are dropped, e.g. during a replay), resizes and
 * minimising are noted, and close or Escape asks to quit. */
void kc_platform_poll(kc_platform *p, kc_input *in);
/* Why the run should stop ("the window was closed", "Escape was pressed"),
 * or NULL. */
const char *kc_platform_quit_reason(const kc_platform *p);
/* True while the window is minimised or its framebuffer is 0 x 0: nothing
 * can be drawn. */
bool kc_platform_minimised(const kc_platform *p);
/* The framebuffer's size in pixels (0 x 0 without a window). */
void kc_platform_framebuffer_size(const kc_platform *p, uint32_t *width, uint32_t *height);
void kc_platform_set_title(kc_platform *p, const char *title);

/* What the host's platform entries forward to (keel/host.h). */
const char *const *kc_platform_vulkan_extensions(kc_platform *p, uint32_t *count);
keel_result kc_platform_vulkan_create_surface(kc_platform *p, void *instance, const void *allocator,
                                              uint64_t *out_surface);
void *kc_platform_gl_proc_address(kc_platform *p, const char *name);
keel_result kc_platform_gl_make_current(kc_platform *p);
keel_result kc_platform_gl_swap_buffers(kc_platform *p);

#endif
