/* Where the GL renderer's context comes from: EGL surfaceless (Mesa's
 * EGL_PLATFORM_SURFACELESS_MESA) when headless, or the host's window through
 * platform_gl_* when not (the plugin never opens a window itself). Each way
 * ends in the same checks: OpenGL 3.3 or newer, the device asked for,
 * KHR_debug output when validation is on, glClipControl when there is one.
 * libepoxy aborts the process when asked for a library or an entry point
 * that is missing, so every such thing is checked before it is called. */
#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gl_internal.h"

#ifndef EGL_PLATFORM_SURFACELESS_MESA
#define EGL_PLATFORM_SURFACELESS_MESA 0x31DD
#endif

/* The renderer whose context this thread made current last: switching
 * between two renderers on one thread (tests do) makes the other current. */
/* initial-exec, never __tls_get_addr: see renderer_null.c (LeakSanitizer). */
static _Thread_local keel_renderer *glr_current __attribute__((tls_model("initial-exec")));

static const char *egl_error_name(EGLint e) {
  switch (e) {
    case EGL_SUCCESS: return "EGL_SUCCESS";
    case EGL_NOT_INITIALIZED: return "EGL_NOT_INITIALIZED";
    case EGL_BAD_ACCESS: return "EGL_BAD_ACCESS";
    case EGL_BAD_ALLOC: return "EGL_BAD_ALLOC";
    case EGL_BAD_ATTRIBUTE: return "EGL_BAD_ATTRIBUTE";
    case EGL_BAD_CONFIG: return "EGL_BAD_CONFIG";
    case EGL_BAD_CONTEXT: return "EGL_BAD_CONTEXT";
    case EGL_BAD_CURRENT_SURFACE: return "EGL_BAD_CURRENT_SURFACE";
    case EGL_BAD_DISPLAY: return "EGL_BAD_DISPLAY";
    case EGL_BAD_MATCH: return "EGL_BAD_MATCH";
    case EGL_BAD_NATIVE_PIXMAP: return "EGL_BAD_NATIVE_PIXMAP";
    case EGL_BAD_NATIVE_WINDOW: return "EGL_BAD_NATIVE_WINDOW";
    case EGL_BAD_PARAMETER: return "EGL_BAD_PARAMETER";
    case EGL_BAD_SURFACE: return "EGL_BAD_SURFACE";
    case EGL_CONTEXT_LOST: return "EGL_CONTEXT_LOST";
  }
  return "unknown EGL error";
}

/* True when the space-separated `list` holds `name` as a whole word. */
static bool ext_listed(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; p && (p = strstr(p, name)) != NULL; p += n)
    if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return true;
  return false;
}

/* libepoxy dlopens these on first use and aborts when it cannot. */
static bool library_present(const char *const *names) {
  for (; *names; names++) {
    void *h = dlopen(*names, RTLD_NOW | RTLD_LOCAL);
    if (h) {
      dlclose(h);
      return true;
    }
  }
  return false;
}

static keel_result egl_create(keel_renderer *r, keel_validation validation, keel_message *error) {
  static const char *const egl_libs[] = {"libEGL.so.1", NULL};
  static const char *const gl_libs[] = {"libOpenGL.so.0", "libGL.so.1", NULL};
  if (!library_present(egl_libs) || !library_present(gl_libs)) {
    glr_set_error(error, "no EGL device: libEGL.so.1 or libOpenGL.so.0 cannot be loaded (install libegl1 and "
                         "libopengl0, and Mesa's libegl-mesa0 for llvmpipe)");
    return KEEL_ERR_UNSUPPORTED;
  }
  const char *client = eglQueryString(EGL_NO_DISPLAY, EGL_EXTENSIONS);
  if (!client || !ext_listed(client, "EGL_EXT_platform_base") || !ext_listed(client, "EGL_MESA_platform_surfaceless")) {
    glr_set_error(error, "no EGL device: EGL offers no surfaceless platform (EGL_MESA_platform_surfaceless; "
                         "install Mesa's libegl-mesa0)");
    return KEEL_ERR_UNSUPPORTED;
  }
  EGLDisplay dpy = eglGetPlatformDisplayEXT(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, NULL);
  if (dpy == EGL_NO_DISPLAY) {
    glr_set_error(error, "no EGL device: eglGetPlatformDisplayEXT(EGL_PLATFORM_SURFACELESS_MESA) failed (%s)",
                  egl_error_name(eglGetError()));
    return KEEL_ERR_UNSUPPORTED;
  }
  /* The display is shared by every renderer of the process and left to
   * EGL's exit handler: eglTerminate would pull it from under another
   * renderer still using it (initialising it again is harmless). */
  EGLint major = 0, minor = 0;
  if (!eglInitialize(dpy, &major, &minor)) {
    glr_set_error(error, "no EGL device: eglInitialize on the surfaceless platform failed (%s)",
                  egl_error_name(eglGetError()));
    return KEEL_ERR_UNSUPPORTED;
  }
  const char *exts = eglQueryString(dpy, EGL_EXTENSIONS);
  bool egl15 = major > 1 || (major == 1 && minor >= 5);
  if (!egl15 && !ext_listed(exts, "EGL_KHR_create_context")) {
    glr_set_error(error, "EGL %d.%d without EGL_KHR_create_context cannot make an OpenGL 3.3 core context", major,
                  minor);
    return KEEL_ERR_UNSUPPORTED;
  }
  if (!ext_listed(exts, "EGL_KHR_surfaceless_context")) {
    glr_set_error(error, "EGL %d.%d has no EGL_KHR_surfaceless_context: cannot render without a window", major, minor);
    return KEEL_ERR_UNSUPPORTED;
  }
  if (!eglBindAPI(EGL_OPENGL_API)) {
    glr_set_error(error, "EGL cannot bind desktop OpenGL (%s)", egl_error_name(eglGetError()));
    return KEEL_ERR_UNSUPPORTED;
  }
  EGLConfig config = EGL_NO_CONFIG_KHR;
  if (!ext_listed(exts, "EGL_KHR_no_config_context")) {
    const EGLint want[] = {EGL_SURFACE_TYPE, EGL_PBUFFER_BIT, EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT, EGL_NONE};
    EGLint n = 0;
    if (!eglChooseConfig(dpy, want, &config, 1, &n) || n < 1) {
      glr_set_error(error, "EGL has no config for desktop OpenGL (%s)", egl_error_name(eglGetError()));
      return KEEL_ERR_UNSUPPORTED;
    }
  }
  /* Asking for 3.3 core gives the newest core version the driver has. */
  bool want_debug = validation != KEEL_VALIDATION_OFF;
  EGLContext ctx = EGL_NO_CONTEXT;
  EGLint failure = EGL_SUCCESS;
  for (int attempt = want_debug ? 0 : 1; attempt < 2 && ctx == EGL_NO_CONTEXT; attempt++) {
    bool debug = attempt == 0;
    EGLint attrs[16], n = 0;
    attrs[n++] = EGL_CONTEXT_MAJOR_VERSION_KHR, attrs[n++] = 3;
    attrs[n++] = EGL_CONTEXT_MINOR_VERSION_KHR, attrs[n++] = 3;
    attrs[n++] = EGL_CONTEXT_OPENGL_PROFILE_MASK_KHR, attrs[n++] = EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT_KHR;
    if (debug && egl15) attrs[n++] = EGL_CONTEXT_OPENGL_DEBUG, attrs[n++] = EGL_TRUE;
    if (debug && !egl15) attrs[n++] = EGL_CONTEXT_FLAGS_KHR, attrs[n++] = EGL_CONTEXT_OPENGL_DEBUG_BIT_KHR;
    attrs[n++] = EGL_NONE;
    ctx = eglCreateContext(dpy, config, EGL_NO_CONTEXT, attrs);
    if (ctx == EGL_NO_CONTEXT) failure = eglGetError();
    /* validation = on: a context without the debug flag would not do. */
    if (ctx == EGL_NO_CONTEXT && debug && validation == KEEL_VALIDATION_REQUIRED) break;
  }
  if (ctx == EGL_NO_CONTEXT) {
    glr_set_error(error, "no OpenGL 3.3 core %scontext: eglCreateContext failed (%s)",
                  validation == KEEL_VALIDATION_REQUIRED ? "debug " : "", egl_error_name(failure));
    return KEEL_ERR_UNSUPPORTED;
  }
  if (!eglMakeCurrent(dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, ctx)) {
    EGLint e = eglGetError();
    eglDestroyContext(dpy, ctx);
    glr_set_error(error, "eglMakeCurrent without a surface failed (%s)", egl_error_name(e));
    return KEEL_ERR_BACKEND;
  }
  r->ctx.kind = GLR_CONTEXT_EGL;
  r->ctx.display = dpy;
  r->ctx.context = ctx;
  glr_current = r;
  return KEEL_OK;
}

static keel_result window_create(keel_renderer *r, keel_message *error) {
  const keel_host *h = r->host;
  if (!h || !KEEL_HAS_MEMBER(h, keel_host, platform_gl_swap_buffers) || !h->platform_has_window ||
      !h->platform_gl_make_current || !h->platform_gl_get_proc_address || !h->platform_gl_swap_buffers) {
    glr_set_error(error, "windowed: the host lends no GL window entries (platform_gl_*); use headless = true");
    return KEEL_ERR_UNSUPPORTED;
  }
  if (!h->platform_has_window(h)) {
    glr_set_error(error, "windowed: the host has no window to draw into (run headless, or with a display)");
    return KEEL_ERR_UNSUPPORTED;
  }
  keel_result res = h->platform_gl_make_current(h);
  if (res != KEEL_OK) {
    glr_set_error(error, "windowed: the host's GL context cannot be made current (%s)", keel_result_name(res));
    return res == KEEL_ERR_UNSUPPORTED ? KEEL_ERR_UNSUPPORTED : KEEL_ERR_BACKEND;
  }
  /* The host's loader is the authority on its context: ask it before
   * libepoxy (which resolves through the same GLX or EGL) is used. */
  typedef const GLubyte *(*get_string_fn)(GLenum);
  void *fn = h->platform_gl_get_proc_address(h, "glGetString");
  const GLubyte *version = fn ? ((get_string_fn)fn)(GL_VERSION) : NULL;
  if (!version) {
    glr_set_error(error, "windowed: the host's window has no usable GL context (glGetString%s)",
                  fn ? "(GL_VERSION) is NULL" : " is not found");
    return KEEL_ERR_UNSUPPORTED;
  }
  r->ctx.kind = GLR_CONTEXT_HOST_WINDOW;
  glr_current = r;
  return KEEL_OK;
}

static const char *debug_source(GLenum s) {
  switch (s) {
    case GL_DEBUG_SOURCE_API: return "api";
    case GL_DEBUG_SOURCE_WINDOW_SYSTEM: return "window system";
    case GL_DEBUG_SOURCE_SHADER_COMPILER: return "shader compiler";
    case GL_DEBUG_SOURCE_THIRD_PARTY: return "third party";
    case GL_DEBUG_SOURCE_APPLICATION: return "application";
  }
  return "other";
}

static const char *debug_type(GLenum t) {
  switch (t) {
    case GL_DEBUG_TYPE_ERROR: return "error";
    case GL_DEBUG_TYPE_DEPRECATED_BEHAVIOR: return "deprecated";
    case GL_DEBUG_TYPE_UNDEFINED_BEHAVIOR: return "undefined behaviour";
    case GL_DEBUG_TYPE_PORTABILITY: return "portability";
    case GL_DEBUG_TYPE_PERFORMANCE: return "performance";
    case GL_DEBUG_TYPE_MARKER: return "marker";
  }
  return "other";
}

/* KHR_debug delivers every message here, on the thread of the GL call that
 * caused it (synchronous output): each one is an error in the engine log
 * and counted, whatever its severity, as the validation contract says. */
static void GLAPIENTRY glr_debug_message(GLenum source, GLenum type, GLuint id, GLenum severity, GLsizei length,
                                         const GLchar *message, const void *user) {
  (void)severity, (void)length;
  keel_renderer *r = (keel_renderer *)(uintptr_t)user;
  atomic_fetch_add_explicit(&r->debug_messages, 1, memory_order_relaxed);
  glr_log(r, KEEL_LOG_ERROR, "GL debug message (%s, %s, id %u): %s", debug_source(source), debug_type(type),
          (unsigned)id, message ? message : "");
}

/* True when `device` ("" = any, a decimal index, or part of the name, any
 * case) names the one device this context runs on. */
static bool device_matches(const char *device, const char *name) {
  if (!device || !device[0]) return true;
  char *end = NULL;
  unsigned long index = strtoul(device, &end, 10);
  if (end && end != device && *end == '\0') return index == 0;
  size_t n = strlen(device);
  for (const char *p = name; *p; p++) {
    size_t i = 0;
    while (i < n && p[i] && tolower((unsigned char)p[i]) == tolower((unsigned char)device[i])) i++;
    if (i == n) return true;
  }
  return false;
}

static keel_result context_check(keel_renderer *r, const keel_renderer_desc *desc, keel_message *error) {
  int version = epoxy_gl_version();
  const char *name = (const char *)glGetString(GL_RENDERER);
  const char *text = (const char *)glGetString(GL_VERSION);
  snprintf(r->ctx.renderer_name, sizeof r->ctx.renderer_name, "%s", name ? name : "unknown");
  snprintf(r->ctx.version_text, sizeof r->ctx.version_text, "%s", text ? text : "unknown");
  r->ctx.gl_version = version;
  if (version < 33 || !epoxy_is_desktop_gl()) {
    glr_set_error(error, "the context is %s %d.%d (%s): keel needs OpenGL 3.3 or newer",
                  epoxy_is_desktop_gl() ? "OpenGL" : "OpenGL ES", version / 10, version % 10, r->ctx.renderer_name);
    return KEEL_ERR_UNSUPPORTED;
  }
  const char *device = KEEL_HAS_MEMBER(desc, keel_renderer_desc, device) ? desc->device : NULL;
  if (!device_matches(device, r->ctx.renderer_name)) {
    glr_set_error(error, "device '%s' matches no GL device; %s offers one: 0 %s", device,
                  r->ctx.kind == GLR_CONTEXT_EGL ? "EGL surfaceless" : "the host's window", r->ctx.renderer_name);
    return KEEL_ERR_NOT_FOUND;
  }
  keel_validation validation = KEEL_HAS_MEMBER(desc, keel_renderer_desc, validation) ? desc->validation
                                                                                     : KEEL_VALIDATION_OFF;
  if (validation != KEEL_VALIDATION_OFF) {
    bool khr_debug = version >= 43 || epoxy_has_gl_extension("GL_KHR_debug");
    GLint flags = 0;
    glGetIntegerv(GL_CONTEXT_FLAGS, &flags);
    bool debug_context = (flags & GL_CONTEXT_FLAG_DEBUG_BIT) != 0;
    if (!khr_debug || (!debug_context && r->ctx.kind == GLR_CONTEXT_EGL)) {
      if (validation == KEEL_VALIDATION_REQUIRED) {
        glr_set_error(error, "validation = on needs a GL debug context with KHR_debug; %s has %s",
                      r->ctx.renderer_name, khr_debug ? "no debug context" : "no KHR_debug");
        return KEEL_ERR_UNSUPPORTED;
      }
      glr_log(r, KEEL_LOG_WARN, "validation: %s, running without GL debug output",
              khr_debug ? "no debug context" : "the context has no KHR_debug");
    } else {
      /* A host window's context may not be a debug one: KHR_debug output
       * can still be enabled on it, with whatever checks the driver makes. */
      if (!debug_context)
        glr_log(r, KEEL_LOG_WARN, "validation: the host's GL context is not a debug context; KHR_debug output is on");
      glEnable(GL_DEBUG_OUTPUT);
      glEnable(GL_DEBUG_OUTPUT_SYNCHRONOUS);
      glDebugMessageCallback(glr_debug_message, r);
      glDebugMessageControl(GL_DONT_CARE, GL_DONT_CARE, GL_DONT_CARE, 0, NULL, GL_TRUE);
      r->ctx.debug = true;
    }
  }
  r->ctx.clip_control = version >= 45 || epoxy_has_gl_extension("GL_ARB_clip_control");
  return KEEL_OK;
}

keel_result glr_context_create(keel_renderer *r, const keel_renderer_desc *desc, keel_message *error) {
  keel_validation validation = KEEL_HAS_MEMBER(desc, keel_renderer_desc, validation) ? desc->validation
                                                                                     : KEEL_VALIDATION_OFF;
  keel_result res = desc->headless ? egl_create(r, validation, error) : window_create(r, error);
  if (res != KEEL_OK) return res;
  res = context_check(r, desc, error);
  if (res != KEEL_OK) {
    glr_context_destroy(r);
    return res;
  }
  return KEEL_OK;
}

void glr_context_destroy(keel_renderer *r) {
  if (r->ctx.debug && glr_context_make_current(r) == KEEL_OK) {
    glDebugMessageCallback(NULL, NULL);
    r->ctx.debug = false;
  }
  if (r->ctx.kind == GLR_CONTEXT_EGL) {
    if (eglGetCurrentContext() == r->ctx.context)
      eglMakeCurrent(r->ctx.display, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
    eglDestroyContext(r->ctx.display, r->ctx.context);
  }
  if (glr_current == r) glr_current = NULL;
  r->ctx.kind = 0;
  r->ctx.context = EGL_NO_CONTEXT;
}

keel_result glr_context_make_current(keel_renderer *r) {
  if (r->ctx.kind == GLR_CONTEXT_EGL) {
    if (eglGetCurrentContext() == r->ctx.context) return KEEL_OK;
    if (!eglMakeCurrent(r->ctx.display, EGL_NO_SURFACE, EGL_NO_SURFACE, r->ctx.context))
      return glr_refuse(r, KEEL_ERR_BACKEND, "eglMakeCurrent failed (%s)", egl_error_name(eglGetError()));
  } else if (r->ctx.kind == GLR_CONTEXT_HOST_WINDOW) {
    if (glr_current == r) return KEEL_OK;
    keel_result res = r->host->platform_gl_make_current(r->host);
    if (res != KEEL_OK)
      return glr_refuse(r, KEEL_ERR_BACKEND, "platform_gl_make_current failed (%s)", keel_result_name(res));
  } else {
    return glr_refuse(r, KEEL_ERR_WRONG_STATE, "the renderer has no GL context");
  }
  glr_current = r;
  return KEEL_OK;
}

keel_result glr_context_swap(keel_renderer *r) {
  if (r->ctx.kind != GLR_CONTEXT_HOST_WINDOW) return KEEL_OK;
  keel_result res = r->host->platform_gl_swap_buffers(r->host);
  if (res != KEEL_OK)
    return glr_refuse(r, KEEL_ERR_BACKEND, "present: platform_gl_swap_buffers failed (%s)", keel_result_name(res));
  return KEEL_OK;
}
