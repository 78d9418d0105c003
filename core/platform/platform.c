/* See platform.h. The only file of keel that includes GLFW: window
 * creation per graphics API, events into kc_input, resize and minimise
 * tracking, quit on close or Escape, and the entries renderers reach through
 * the host (Vulkan surface and instance extensions, GL context). */
#include "platform/platform.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

/* GLFW declares its Vulkan entry points only when the Vulkan types exist.
 * The core passes Vulkan handles through without using them, so it declares
 * the few types those prototypes name, as vulkan_core.h does on 64-bit
 * targets, rather than depend on the Vulkan headers. */
_Static_assert(sizeof(void *) == 8, "Vulkan's non-dispatchable handles are pointers only on 64-bit targets");
#define VK_VERSION_1_0 1
typedef struct VkInstance_T *VkInstance;
typedef struct VkPhysicalDevice_T *VkPhysicalDevice;
typedef struct VkSurfaceKHR_T *VkSurfaceKHR;
typedef struct VkAllocationCallbacks VkAllocationCallbacks;
typedef int VkResult;
#define KC_VK_SUCCESS 0
#define GLFW_INCLUDE_NONE
#include <GLFW/glfw3.h>

struct kc_platform {
  GLFWwindow *window;
  keel_graphics_api window_api; /* the kind the open window was made for */
  char title[400];
  uint32_t width, height; /* size asked for when a window opens */
  bool vsync, gl_debug;
  bool gl_swap_interval_set;
  kc_input *sink; /* during kc_platform_poll only */
  const char *quit_reason;
  bool iconified;
  uint32_t fb_width, fb_height;
  bool left_shift, right_shift, left_ctrl, right_ctrl, left_alt, right_alt;
};

/* GLFW reports errors through one process-wide callback: the last message
 * is kept for the error the failing call returns (main thread only). */
static char g_glfw_error[512];
static bool g_platform_live;

static void on_glfw_error(int code, const char *description) {
  snprintf(g_glfw_error, sizeof g_glfw_error, "%s (GLFW error 0x%x)", description ? description : "unknown", code);
}

static const char *glfw_error_text(void) { return g_glfw_error[0] ? g_glfw_error : "GLFW gave no reason"; }

static keel_key key_from_glfw(int key) {
  if (key >= GLFW_KEY_A && key <= GLFW_KEY_Z) return (keel_key)(KEEL_KEY_A + (key - GLFW_KEY_A));
  if (key >= GLFW_KEY_0 && key <= GLFW_KEY_9) return (keel_key)(KEEL_KEY_0 + (key - GLFW_KEY_0));
  if (key >= GLFW_KEY_F1 && key <= GLFW_KEY_F12) return (keel_key)(KEEL_KEY_F1 + (key - GLFW_KEY_F1));
  switch (key) {
    case GLFW_KEY_SPACE: return KEEL_KEY_SPACE;
    case GLFW_KEY_ENTER:
    case GLFW_KEY_KP_ENTER: return KEEL_KEY_ENTER;
    case GLFW_KEY_ESCAPE: return KEEL_KEY_ESCAPE;
    case GLFW_KEY_TAB: return KEEL_KEY_TAB;
    case GLFW_KEY_BACKSPACE: return KEEL_KEY_BACKSPACE;
    case GLFW_KEY_LEFT: return KEEL_KEY_LEFT;
    case GLFW_KEY_RIGHT: return KEEL_KEY_RIGHT;
    case GLFW_KEY_UP: return KEEL_KEY_UP;
    case GLFW_KEY_DOWN: return KEEL_KEY_DOWN;
    case GLFW_KEY_INSERT: return KEEL_KEY_INSERT;
    case GLFW_KEY_DELETE: return KEEL_KEY_DELETE;
    case GLFW_KEY_HOME: return KEEL_KEY_HOME;
    case GLFW_KEY_END: return KEEL_KEY_END;
    case GLFW_KEY_PAGE_UP: return KEEL_KEY_PAGEUP;
    case GLFW_KEY_PAGE_DOWN: return KEEL_KEY_PAGEDOWN;
    case GLFW_KEY_MINUS: return KEEL_KEY_MINUS;
    case GLFW_KEY_EQUAL: return KEEL_KEY_EQUAL;
    case GLFW_KEY_COMMA: return KEEL_KEY_COMMA;
    case GLFW_KEY_PERIOD: return KEEL_KEY_PERIOD;
    case GLFW_KEY_SLASH: return KEEL_KEY_SLASH;
    case GLFW_KEY_SEMICOLON: return KEEL_KEY_SEMICOLON;
    case GLFW_KEY_APOSTROPHE: return KEEL_KEY_APOSTROPHE;
    case GLFW_KEY_LEFT_BRACKET: return KEEL_KEY_LEFTBRACKET;
    case GLFW_KEY_RIGHT_BRACKET: return KEEL_KEY_RIGHTBRACKET;
    case GLFW_KEY_BACKSLASH: return KEEL_KEY_BACKSLASH;
    case GLFW_KEY_GRAVE_ACCENT: return KEEL_KEY_GRAVE;
    default: return KEEL_KEY_NONE;
  }
}

/* shift, ctrl and alt are "either side": one goes up only when both are. */
static bool modifier_side(kc_platform *p, int key, bool down, keel_key *which, bool *now) {
  bool *side = NULL, *other = NULL;
  switch (key) {
    case GLFW_KEY_LEFT_SHIFT: side = &p->left_shift, other = &p->right_shift, *which = KEEL_KEY_SHIFT; break;
    case GLFW_KEY_RIGHT_SHIFT: side = &p->right_shift, other = &p->left_shift, *which = KEEL_KEY_SHIFT; break;
    case GLFW_KEY_LEFT_CONTROL: side = &p->left_ctrl, other = &p->right_ctrl, *which = KEEL_KEY_CTRL; break;
    case GLFW_KEY_RIGHT_CONTROL: side = &p->right_ctrl, other = &p->left_ctrl, *which = KEEL_KEY_CTRL; break;
    case GLFW_KEY_LEFT_ALT: side = &p->left_alt, other = &p->right_alt, *which = KEEL_KEY_ALT; break;
    case GLFW_KEY_RIGHT_ALT: side = &p->right_alt, other = &p->left_alt, *which = KEEL_KEY_ALT; break;
    default: return false;
  }
  bool before = *side || *other;
  *side = down;
  *now = *side || *other;
  /* The combined key changes only when the first side goes down or the last goes up. */
  return before != *now;
}

static void on_key(GLFWwindow *w, int key, int scancode, int action, int mods) {
  (void)scancode, (void)mods;
  kc_platform *p = glfwGetWindowUserPointer(w);
  if (!p || action == GLFW_REPEAT) return;
  bool down = action == GLFW_PRESS;
  if (key == GLFW_KEY_ESCAPE && down && !p->quit_reason) p->quit_reason = "Escape was pressed";
  keel_key k;
  bool now;
  if (modifier_side(p, key, down, &k, &now)) {
    if (p->sink) kc_input_key(p->sink, k, now);
    return;
  }
  if (key >= GLFW_KEY_LEFT_SHIFT && key <= GLFW_KEY_RIGHT_ALT) return; /* the other side still holds it */
  k = key_from_glfw(key);
  if (k != KEEL_KEY_NONE && p->sink) kc_input_key(p->sink, k, down);
}

static int button_from_glfw(int button) {
  switch (button) {
    case GLFW_MOUSE_BUTTON_LEFT: return KEEL_MOUSE_LEFT;
    case GLFW_MOUSE_BUTTON_RIGHT: return KEEL_MOUSE_RIGHT;
    case GLFW_MOUSE_BUTTON_MIDDLE: return KEEL_MOUSE_MIDDLE;
    default: return -1;
  }
}

static void on_button(GLFWwindow *w, int button, int action, int mods) {
  (void)mods;
  kc_platform *p = glfwGetWindowUserPointer(w);
  int b = button_from_glfw(button);
  if (p && p->sink && b >= 0) kc_input_button(p->sink, b, action == GLFW_PRESS);
}

/* GLFW gives the cursor in screen coordinates; scripts get framebuffer
 * pixels, the unit of the screen layer (the same on X11, not on HiDPI). */
static void on_cursor(GLFWwindow *w, double x, double y) {
  kc_platform *p = glfwGetWindowUserPointer(w);
  if (!p || !p->sink) return;
  int ww = 0, wh = 0;
  glfwGetWindowSize(w, &ww, &wh);
  double sx = ww > 0 ? (double)p->fb_width / ww : 1.0, sy = wh > 0 ? (double)p->fb_height / wh : 1.0;
  kc_input_mouse(p->sink, (float)(x * sx), (float)(y * sy));
}

static void on_scroll(GLFWwindow *w, double dx, double dy) {
  kc_platform *p = glfwGetWindowUserPointer(w);
  if (p && p->sink) kc_input_wheel(p->sink, (float)dx, (float)dy);
}

static void on_framebuffer_size(GLFWwindow *w, int width, int height) {
  kc_platform *p = glfwGetWindowUserPointer(w);
  if (!p) return;
  p->fb_width = width > 0 ? (uint32_t)width : 0;
  p->fb_height = height > 0 ? (uint32_t)height : 0;
  if (p->sink) kc_input_resize(p->sink, p->fb_width, p->fb_height);
}

static void on_iconify(GLFWwindow *w, int iconified) {
  kc_platform *p = glfwGetWindowUserPointer(w);
  if (p) p->iconified = iconified != 0;
}

static void on_close(GLFWwindow *w) {
  kc_platform *p = glfwGetWindowUserPointer(w);
  if (p && !p->quit_reason) p->quit_reason = "the window was closed";
}

keel_result kc_platform_create(const kc_platform_config *cfg, kc_platform **out, kc_err *err) {
  *out = NULL;
  if (g_platform_live) return kc_err_set(err, KEEL_ERR_WRONG_STATE, "window: a platform is already running");
  g_glfw_error[0] = '\0';
  glfwSetErrorCallback(on_glfw_error);
  if (!glfwInit()) return kc_err_set(err, KEEL_ERR_UNSUPPORTED, "%s", glfw_error_text());
  kc_platform *p = calloc(1, sizeof *p);
  if (!p) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "window: out of memory");
  snprintf(p->title, sizeof p->title, "%s", cfg->title ? cfg->title : "keel");
  p->width = cfg->width ? cfg->width : 1280;
  p->height = cfg->height ? cfg->height : 720;
  p->vsync = cfg->vsync;
  p->gl_debug = cfg->gl_debug;
  g_platform_live = true;
  *out = p;
  return KEEL_OK;
}

static void close_window(kc_platform *p) {
  if (!p->window) return;
  if (glfwGetCurrentContext() == p->window) glfwMakeContextCurrent(NULL);
  glfwDestroyWindow(p->window);
  p->window = NULL;
  p->window_api = KEEL_GRAPHICS_NONE;
  p->gl_swap_interval_set = false;
  p->iconified = false;
  p->left_shift = p->right_shift = p->left_ctrl = p->right_ctrl = p->left_alt = p->right_alt = false;
}

/* GLFW itself stays initialised until the process exits (glfwInit again is
 * a no-op): glfwTerminate closes the X display, and the GL vendor library
 * (glvnd) then unloads Mesa's driver, leaking its context state (a bare
 * GLFW program that opens a GL window and terminates leaks 5 KB in 256
 * allocations under ASan) in a library that is gone, so neither ASan nor
 * TSan can name it; a run opens one platform, tests a few. */
void kc_platform_destroy(kc_platform *p) {
  if (!p) return;
  close_window(p);
  free(p);
  g_platform_live = false;
}

keel_result kc_platform_open_window(kc_platform *p, keel_graphics_api api, kc_err *err) {
  if (p->window && (api == KEEL_GRAPHICS_NONE || api == p->window_api)) return KEEL_OK;
  close_window(p);
  glfwDefaultWindowHints();
  glfwWindowHint(GLFW_RESIZABLE, GLFW_TRUE);
  glfwWindowHint(GLFW_FOCUSED, GLFW_TRUE);
  if (api == KEEL_GRAPHICS_GL) {
    glfwWindowHint(GLFW_CLIENT_API, GLFW_OPENGL_API);
    glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, KC_PLATFORM_GL_MAJOR);
    glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, KC_PLATFORM_GL_MINOR);
    glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
    glfwWindowHint(GLFW_OPENGL_DEBUG_CONTEXT, p->gl_debug ? GLFW_TRUE : GLFW_FALSE);
    /* The renderer draws to an RGBA8 target and blits it; depth lives there too. */
    glfwWindowHint(GLFW_DEPTH_BITS, 0);
    glfwWindowHint(GLFW_STENCIL_BITS, 0);
  } else {
    glfwWindowHint(GLFW_CLIENT_API, GLFW_NO_API);
  }
  g_glfw_error[0] = '\0';
  GLFWwindow *w = glfwCreateWindow((int)p->width, (int)p->height, p->title, NULL, NULL);
  if (!w) {
    if (api == KEEL_GRAPHICS_GL)
      return kc_err_set(err, KEEL_ERR_UNSUPPORTED, "cannot open a window with an OpenGL %d.%d (or newer) core context: %s",
                        KC_PLATFORM_GL_MAJOR, KC_PLATFORM_GL_MINOR, glfw_error_text());
    return kc_err_set(err, KEEL_ERR_UNSUPPORTED, "cannot open a window: %s", glfw_error_text());
  }
  p->window = w;
  p->window_api = api;
  glfwSetWindowUserPointer(w, p);
  glfwSetKeyCallback(w, on_key);
  glfwSetMouseButtonCallback(w, on_button);
  glfwSetCursorPosCallback(w, on_cursor);
  glfwSetScrollCallback(w, on_scroll);
  glfwSetFramebufferSizeCallback(w, on_framebuffer_size);
  glfwSetWindowIconifyCallback(w, on_iconify);
  glfwSetWindowCloseCallback(w, on_close);
  int fw = 0, fh = 0;
  glfwGetFramebufferSize(w, &fw, &fh);
  p->fb_width = fw > 0 ? (uint32_t)fw : 0;
  p->fb_height = fh > 0 ? (uint32_t)fh : 0;
  return KEEL_OK;
}

bool kc_platform_has_window(const kc_platform *p) { return p && p->window; }

void kc_platform_poll(kc_platform *p, kc_input *in) {
  if (!p->window) return;
  p->sink = in;
  glfwPollEvents();
  p->sink = NULL;
  if (in) kc_input_resize(in, p->fb_width, p->fb_height);
}

const char *kc_platform_quit_reason(const kc_platform *p) { return p ? p->quit_reason : NULL; }

bool kc_platform_minimised(const kc_platform *p) {
  return p && p->window && (p->iconified || p->fb_width == 0 || p->fb_height == 0);
}

void kc_platform_framebuffer_size(const kc_platform *p, uint32_t *width, uint32_t *height) {
  *width = p && p->window ? p->fb_width : 0;
  *height = p && p->window ? p->fb_height : 0;
}

void kc_platform_set_title(kc_platform *p, const char *title) {
  if (!p->window || strcmp(p->title, title) == 0) return;
  snprintf(p->title, sizeof p->title, "%s", title);
  glfwSetWindowTitle(p->window, p->title);
}

const char *const *kc_platform_vulkan_extensions(kc_platform *p, uint32_t *count) {
  (void)p;
  uint32_t n = 0;
  const char **ext = glfwVulkanSupported() ? glfwGetRequiredInstanceExtensions(&n) : NULL;
  if (count) *count = ext ? n : 0;
  return ext;
}

keel_result kc_platform_vulkan_create_surface(kc_platform *p, void *instance, const void *allocator,
                                              uint64_t *out_surface) {
  if (out_surface) *out_surface = 0;
  if (!instance || !out_surface) return KEEL_ERR_INVALID_ARGUMENT;
  if (!p->window || p->window_api != KEEL_GRAPHICS_VULKAN) {
    kc_log_write(KC_LOG_ERROR, "window: a Vulkan surface was asked for, but the window is not open for Vulkan");
    return KEEL_ERR_WRONG_STATE;
  }
  VkSurfaceKHR surface = NULL;
  g_glfw_error[0] = '\0';
  VkResult vr = glfwCreateWindowSurface((VkInstance)instance, p->window, (const VkAllocationCallbacks *)allocator,
                                        &surface);
  if (vr != KC_VK_SUCCESS) {
    kc_log_write(KC_LOG_ERROR, "window: Vulkan surface creation failed (VkResult %d): %s", vr, glfw_error_text());
    return KEEL_ERR_BACKEND;
  }
  *out_surface = (uint64_t)(uintptr_t)surface;
  return KEEL_OK;
}

void *kc_platform_gl_proc_address(kc_platform *p, const char *name) {
  if (!name || !p->window || p->window_api != KEEL_GRAPHICS_GL || glfwGetCurrentContext() != p->window) return NULL;
  return (void *)glfwGetProcAddress(name);
}

keel_result kc_platform_gl_make_current(kc_platform *p) {
  if (!p->window || p->window_api != KEEL_GRAPHICS_GL) return KEEL_ERR_WRONG_STATE;
  glfwMakeContextCurrent(p->window);
  if (!p->gl_swap_interval_set) {
    glfwSwapInterval(p->vsync ? 1 : 0);
    p->gl_swap_interval_set = true;
    kc_log_write(KC_LOG_INFO, "window: OpenGL swap interval %d (%s)", p->vsync ? 1 : 0,
                 p->vsync ? "vsync: [renderer] vsync = true" : "no vsync: [renderer] vsync = false");
  }
  return KEEL_OK;
}

keel_result kc_platform_gl_swap_buffers(kc_platform *p) {
  if (!p->window || p->window_api != KEEL_GRAPHICS_GL) return KEEL_ERR_WRONG_STATE;
  g_glfw_error[0] = '\0';
  glfwSwapBuffers(p->window);
  if (g_glfw_error[0]) {
    kc_log_write(KC_LOG_ERROR, "window: swapping buffers failed: %s", g_glfw_error);
    return KEEL_ERR_BACKEND;
  }
  return KEEL_OK;
}
