/* See host.h. Every entry checks its arguments and returns an error result
 * rather than trusting a plugin; entries a run cannot provide (a window
 * when headless) say so with KEEL_ERR_UNSUPPORTED or NULL. */
#include "frame/host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/cvar.h"
#include "base/log.h"
#include "base/path.h"
#include "platform/platform.h"

static const kc_host *host_of(const keel_host *h) { return (const kc_host *)h; }

/* The host prefixes the plugin's name; a plugin that also starts its line
 * with it ("ascii: ...", "[ascii] ...") would be named twice, so that
 * prefix is dropped. */
static const char *without_own_prefix(const char *text, const char *name) {
  size_t n = strlen(name);
  if (n == 0) return text;
  if (strncmp(text, name, n) == 0 && text[n] == ':' && text[n + 1] == ' ') return text + n + 2;
  if (text[0] == '[' && strncmp(text + 1, name, n) == 0 && text[n + 1] == ']' && text[n + 2] == ' ')
    return text + n + 3;
  return text;
}

static void host_log(const keel_host *h, keel_log_level level, const char *fmt, ...) {
  if (!h || !fmt || (unsigned)level > KEEL_LOG_TRACE) return;
  if (!kc_log_enabled((kc_log_level)level)) return;
  char text[KC_LOG_MESSAGE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  const char *name = host_of(h)->plugin_name;
  kc_log_write((kc_log_level)level, "[%s] %s", name, without_own_prefix(text, name));
}

static bool host_log_enabled(const keel_host *h, keel_log_level level) {
  (void)h;
  return (unsigned)level <= KEEL_LOG_TRACE && kc_log_enabled((kc_log_level)level);
}

/* kc_cvar_value and keel_cvar_value share their layout (cvar.h says so);
 * these asserts keep it that way. */
_Static_assert(sizeof(kc_cvar_value) == sizeof(keel_cvar_value), "cvar value layouts differ");
_Static_assert(KC_CVAR_STRING_MAX == KEEL_CVAR_STRING_MAX, "cvar string sizes differ");

static keel_result host_cvar_get(const keel_host *h, const char *name, keel_cvar_value *out) {
  (void)h;
  if (!name || !out) return KEEL_ERR_INVALID_ARGUMENT;
  kc_cvar_value v;
  keel_result r = kc_cvar_get(name, &v);
  if (r == KEEL_OK) memcpy(out, &v, sizeof v);
  return r;
}

static keel_result host_cvar_set(const keel_host *h, const char *name, const char *value, keel_message *error) {
  (void)h;
  if (!name || !value) return KEEL_ERR_INVALID_ARGUMENT;
  kc_err err;
  kc_err_clear(&err);
  keel_result r = kc_cvar_set(name, value, &err);
  if (r != KEEL_OK && error) kc_copy_text(error->text, sizeof error->text, err.msg);
  return r;
}

static keel_result host_cvar_on_change(const keel_host *h, const char *name, keel_cvar_change_fn fn, void *user) {
  kc_host *host = (kc_host *)host_of(h); /* the plugin sees it const; main thread only */
  if (!name || !fn) return KEEL_ERR_INVALID_ARGUMENT;
  if (strlen(name) >= sizeof host->subs[0].name) return KEEL_ERR_NOT_FOUND;
  if (host->nsubs == KC_HOST_SUBSCRIPTIONS_MAX) return KEEL_ERR_FULL;
  /* Same argument order and value layout, see the asserts above. */
  keel_result r = kc_cvar_on_change(name, (kc_cvar_change_fn)(void (*)(void))fn, user, NULL);
  if (r == KEEL_OK) {
    kc_host_subscription *s = &host->subs[host->nsubs++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->fn = fn;
    s->user = user;
  }
  return r;
}

void kc_host_release(kc_host *host) {
  for (size_t i = 0; i < host->nsubs; i++)
    kc_cvar_remove_handler(host->subs[i].name, (kc_cvar_change_fn)(void (*)(void))host->subs[i].fn, host->subs[i].user);
  host->nsubs = 0;
}

static keel_result host_jobs_submit(const keel_host *h, const keel_job_desc *jobs, uint32_t count,
                                    keel_job_counter *out) {
  const kc_host_services *s = host_of(h)->services;
  if (!jobs && count) return KEEL_ERR_INVALID_ARGUMENT;
  if (s->jobs_submit) return s->jobs_submit(s->jobs, jobs, count, out);
  for (uint32_t i = 0; i < count; i++)
    if (jobs[i].fn) jobs[i].fn(jobs[i].user, 0);
  if (out) out->id = 0;
  return KEEL_OK;
}

static keel_result host_jobs_wait(const keel_host *h, keel_job_counter counter) {
  const kc_host_services *s = host_of(h)->services;
  return s->jobs_wait ? s->jobs_wait(s->jobs, counter) : KEEL_OK;
}

static keel_result host_parallel_for(const keel_host *h, uint32_t count, uint32_t grain, keel_range_fn fn,
                                     void *user) {
  const kc_host_services *s = host_of(h)->services;
  if (!fn) return KEEL_ERR_INVALID_ARGUMENT;
  if (s->jobs_parallel_for) return s->jobs_parallel_for(s->jobs, count, grain, fn, user);
  if (count) fn(user, 0, count, 0);
  return KEEL_OK;
}

static uint32_t host_worker_count(const keel_host *h) {
  const kc_host_services *s = host_of(h)->services;
  return s->jobs_worker_count ? s->jobs_worker_count(s->jobs) : 1;
}

static uint32_t host_worker_index(const keel_host *h) {
  const kc_host_services *s = host_of(h)->services;
  return s->jobs_worker_index ? s->jobs_worker_index(s->jobs) : 0;
}

static uint64_t host_now_ns(const keel_host *h) {
  (void)h;
  return kc_clock_now_ns();
}

static void *host_alloc(const keel_host *h, size_t size, size_t align) {
  (void)h;
  if (align == 0) align = 16;
  if (align & (align - 1)) return NULL;
  if (align < sizeof(void *)) align = sizeof(void *);
  void *p = NULL;
  return posix_memalign(&p, align, size ? size : 1) == 0 ? p : NULL;
}

static void *host_realloc(const keel_host *h, void *ptr, size_t size) {
  (void)h;
  return realloc(ptr, size);
}

static void host_free(const keel_host *h, void *ptr) {
  (void)h;
  free(ptr);
}

/* True when `rel` is relative and no component is "..". */
static bool path_stays_inside(const char *rel) {
  if (rel[0] == '/') return false;
  for (const char *p = rel; *p;) {
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (len == 2 && p[0] == '.' && p[1] == '.') return false;
    p += len + (slash ? 1 : 0);
  }
  return true;
}

static keel_result host_path_resolve(const keel_host *h, keel_path_root root, const char *rel, char *out,
                                     uint32_t capacity) {
  const kc_host *host = host_of(h);
  if (!rel || !out || capacity == 0) return KEEL_ERR_INVALID_ARGUMENT;
  if (!path_stays_inside(rel)) return KEEL_ERR_INVALID_ARGUMENT;
  const char *base = root == KEEL_PATH_GAME     ? host->services->game_dir
                     : root == KEEL_PATH_DATA   ? host->services->data_dir
                     : root == KEEL_PATH_CONFIG ? host->services->config_dir
                     : root == KEEL_PATH_PLUGIN ? host->plugin_dir
                                                : NULL;
  if (!base) return KEEL_ERR_INVALID_ARGUMENT;
  if (!base[0]) return KEEL_ERR_NOT_FOUND;
  /* Normalised ("a/./b" and "a//b" come out as "a/b"), so a plugin can
   * compare and print what it gets. */
  char joined[KC_PATH_MAX];
  if (kc_path_join(base, rel, joined, sizeof joined, NULL) != KEEL_OK) return KEEL_ERR_FULL;
  int n = snprintf(out, capacity, "%s", joined);
  return n < 0 || (uint32_t)n >= capacity ? KEEL_ERR_FULL : KEEL_OK;
}

/* The platform entries reach the window only when the renderer draws into
 * one; headless, they refuse plainly. */
static struct kc_platform *window_of(const keel_host *h) {
  struct kc_platform *p = host_of(h)->services->platform;
  return kc_platform_has_window(p) ? p : NULL;
}

static bool host_has_window(const keel_host *h) { return window_of(h) != NULL; }

static keel_result host_framebuffer_size(const keel_host *h, uint32_t *w, uint32_t *ht) {
  if (!w || !ht) return KEEL_ERR_INVALID_ARGUMENT;
  struct kc_platform *p = window_of(h);
  if (p) {
    kc_platform_framebuffer_size(p, w, ht);
  } else {
    *w = host_of(h)->services->width;
    *ht = host_of(h)->services->height;
  }
  return KEEL_OK;
}

static const char *const *host_vk_extensions(const keel_host *h, uint32_t *count) {
  struct kc_platform *p = window_of(h);
  if (!p) {
    if (count) *count = 0;
    return NULL;
  }
  return kc_platform_vulkan_extensions(p, count);
}

static keel_result host_vk_surface(const keel_host *h, void *instance, const void *allocator, uint64_t *out) {
  struct kc_platform *p = window_of(h);
  if (!p) {
    if (out) *out = 0;
    return KEEL_ERR_UNSUPPORTED;
  }
  return kc_platform_vulkan_create_surface(p, instance, allocator, out);
}

static void *host_gl_proc(const keel_host *h, const char *name) {
  struct kc_platform *p = window_of(h);
  return p ? kc_platform_gl_proc_address(p, name) : NULL;
}

static keel_result host_gl_make_current(const keel_host *h) {
  struct kc_platform *p = window_of(h);
  return p ? kc_platform_gl_make_current(p) : KEEL_ERR_UNSUPPORTED;
}

static keel_result host_gl_swap_buffers(const keel_host *h) {
  struct kc_platform *p = window_of(h);
  return p ? kc_platform_gl_swap_buffers(p) : KEEL_ERR_UNSUPPORTED;
}

void kc_host_init(kc_host *host, const kc_host_services *services, const char *name, const char *plugin_file) {
  memset(host, 0, sizeof *host);
  host->services = services;
  snprintf(host->plugin_name, sizeof host->plugin_name, "%s", name ? name : "?");
  /* KEEL_PATH_PLUGIN is absolute and normalised even when the plugin was
   * found through a relative --plugin-path. */
  char dir[KC_PATH_MAX];
  if (plugin_file && kc_path_dirname(plugin_file, dir, sizeof dir, NULL) == KEEL_OK)
    kc_path_absolute(dir, host->plugin_dir, sizeof host->plugin_dir, NULL);
  keel_host *p = &host->pub;
  p->struct_size = KEEL_STRUCT_SIZE(keel_host);
  p->abi_major = KEEL_ABI_MAJOR;
  p->abi_minor = KEEL_ABI_MINOR;
  p->log = host_log;
  p->log_enabled = host_log_enabled;
  p->cvar_get = host_cvar_get;
  p->cvar_set = host_cvar_set;
  p->cvar_on_change = host_cvar_on_change;
  p->jobs_submit = host_jobs_submit;
  p->jobs_wait = host_jobs_wait;
  p->jobs_parallel_for = host_parallel_for;
  p->jobs_worker_count = host_worker_count;
  p->jobs_worker_index = host_worker_index;
  p->clock_now_ns = host_now_ns;
  p->mem_alloc = host_alloc;
  p->mem_realloc = host_realloc;
  p->mem_free = host_free;
  p->path_resolve = host_path_resolve;
  p->platform_has_window = host_has_window;
  p->platform_framebuffer_size = host_framebuffer_size;
  p->platform_vulkan_instance_extensions = host_vk_extensions;
  p->platform_vulkan_create_surface = host_vk_surface;
  p->platform_gl_get_proc_address = host_gl_proc;
  p->platform_gl_make_current = host_gl_make_current;
  p->platform_gl_swap_buffers = host_gl_swap_buffers;
}
