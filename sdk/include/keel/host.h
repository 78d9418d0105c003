/* keel/host.h: the services the host lends to a plugin, in one table.
 *
 * Plugins never link the core; logging, cvars, jobs, clocks, allocation,
 * paths and the platform (window, Vulkan surface, GL context) all come
 * through keel_host. Every function takes the table itself as its first
 * argument, so the host can tell which plugin is calling. The host owns the
 * table; it stays valid from the plugin's create call until its destroy
 * returns. An entry the host cannot provide in this build returns
 * KEEL_ERR_UNSUPPORTED (or NULL / false where documented), never crashes. */
#ifndef KEEL_HOST_H
#define KEEL_HOST_H

#include <keel/abi.h>
#include <keel/types.h>

KEEL_BEGIN_DECLS

typedef enum keel_log_level {
  KEEL_LOG_ERROR = 0,
  KEEL_LOG_WARN = 1,
  KEEL_LOG_INFO = 2,
  KEEL_LOG_DEBUG = 3,
  KEEL_LOG_TRACE = 4
} keel_log_level;

typedef enum keel_cvar_type {
  KEEL_CVAR_BOOL = 1,
  KEEL_CVAR_INT = 2,
  KEEL_CVAR_FLOAT = 3,
  KEEL_CVAR_STRING = 4
} keel_cvar_type;

#define KEEL_CVAR_STRING_MAX 128

/* A cvar's value, by copy. Only the member matching `type` is meaningful;
 * `text` always holds the value formatted as it would appear in engine.ini. */
typedef struct keel_cvar_value {
  keel_cvar_type type;
  bool b;
  int64_t i;
  double f;
  char text[KEEL_CVAR_STRING_MAX];
} keel_cvar_value;

/* Called on the main thread, in the order changes were made, when the cvar
 * `name` changed. Pointers are valid for the call only. */
typedef void (*keel_cvar_change_fn)(void *user, const char *name, const keel_cvar_value *old_value,
                                    const keel_cvar_value *new_value);

/* A job: fn(user, worker) runs once on some job worker thread (worker 0 is
 * the main thread helping); `user` is the submitter's. */
typedef void (*keel_job_fn)(void *user, uint32_t worker);
/* A slice [begin, end) of a parallel-for, run on the job worker thread
 * `worker`; `user` is the caller's. Workers are numbered
 * 0..worker_count-1, so per-worker partial results can live in an array
 * indexed by worker without locks. */
typedef void (*keel_range_fn)(void *user, uint32_t begin, uint32_t end, uint32_t worker);

typedef struct keel_job_desc {
  keel_job_fn fn;
  void *user; /* owned by the submitter; must outlive the job */
} keel_job_desc;

/* Completion counter of a submitted batch; 0 = none. */
typedef struct keel_job_counter { uint64_t id; } keel_job_counter;

/* Roots that path_resolve resolves against. Each is an absolute,
 * normalised directory, known before any plugin is created (so a
 * renderer's create can use every one of them). */
typedef enum keel_path_root {
  KEEL_PATH_GAME = 1,   /* the directory of [script] main: the game's files */
  KEEL_PATH_DATA = 2,   /* keel's shared data (share/keel) */
  KEEL_PATH_CONFIG = 3, /* the directory of the engine.ini in use; KEEL_ERR_NOT_FOUND when
                           the run uses built-in defaults (no engine.ini) */
  KEEL_PATH_PLUGIN = 4  /* the directory the calling plugin was loaded from */
} keel_path_root;

typedef struct keel_host keel_host;
struct keel_host {
  uint32_t struct_size; /* KEEL_STRUCT_SIZE(keel_host) of the host's build */
  uint16_t abi_major;
  uint16_t abi_minor;

  /* ---- log. Any thread. fmt is printf-style; the formatted text is
   * copied (cut at about 1 KiB). The host prefixes the line with the
   * plugin's name ("[ascii] ...") and routes it to the engine's log, so do
   * not start messages with your own name: a leading "NAME: " or
   * "[NAME] " is dropped rather than shown twice. */
  void (*log)(const keel_host *host, keel_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
      __attribute__((format(printf, 3, 4)))
#endif
      ;
  /* True when a message at `level` would be written. Any thread. */
  bool (*log_enabled)(const keel_host *host, keel_log_level level);

  /* ---- cvars. get: any thread, copies the value into *out (caller owns).
   * set: any thread; the value is parsed and range-checked now (refusal
   * fills *error with the variable's valid range) and takes effect at
   * once for readers; handlers run later on the main thread.
   * on_change: main thread only; `user` is owned by the caller and must
   * outlive the subscription. The host removes the plugin's subscriptions
   * when it destroys the plugin (or when its create fails); at most 64 per
   * plugin (KEEL_ERR_FULL), KEEL_ERR_NOT_FOUND for an unknown cvar. A
   * plugin's own settings are the cvars "NAME.key" (keel/plugin.h). */
  keel_result (*cvar_get)(const keel_host *host, const char *name, keel_cvar_value *out);
  keel_result (*cvar_set)(const keel_host *host, const char *name, const char *value, keel_message *error);
  keel_result (*cvar_on_change)(const keel_host *host, const char *name, keel_cvar_change_fn fn, void *user);

  /* ---- jobs. submit: any thread; copies the descs, so the array may be
   * reused at once; out_counter (may be NULL) completes when all have run.
   * wait: any thread; a job worker (the main thread included) runs other
   * jobs while it waits, any other thread just waits.
   * parallel_for: any thread; splits [0, count) in slices of about `grain`
   * items (0 = pick), runs them on the job workers (the caller too when it
   * is one), and returns when every slice has run. worker_count: any
   * thread, >= 1.
   * worker_index: the calling thread's worker number, or UINT32_MAX for a
   * thread that is not a job worker. */
  keel_result (*jobs_submit)(const keel_host *host, const keel_job_desc *jobs, uint32_t count,
                             keel_job_counter *out_counter);
  keel_result (*jobs_wait)(const keel_host *host, keel_job_counter counter);
  keel_result (*jobs_parallel_for)(const keel_host *host, uint32_t count, uint32_t grain, keel_range_fn fn,
                                   void *user);
  uint32_t (*jobs_worker_count)(const keel_host *host);
  uint32_t (*jobs_worker_index)(const keel_host *host);

  /* ---- clocks. Any thread. Monotonic nanoseconds since an arbitrary origin. */
  uint64_t (*clock_now_ns)(const keel_host *host);

  /* ---- allocation. Any thread. align is a power of two (0 = 16).
   * Memory from alloc/realloc is freed with free on any thread. NULL on
   * failure; free(NULL) does nothing. */
  void *(*mem_alloc)(const keel_host *host, size_t size, size_t align);
  void *(*mem_realloc)(const keel_host *host, void *ptr, size_t size);
  void (*mem_free)(const keel_host *host, void *ptr);

  /* ---- paths. Any thread, from create on. Writes root/relative,
   * absolute and normalised ("a/./b" gives root/a/b; "" gives the root
   * itself), into out (caller owns, `capacity` bytes, NUL-terminated).
   * KEEL_ERR_INVALID_ARGUMENT for an absolute `relative` or one with a ".."
   * part (nothing escapes its root), KEEL_ERR_NOT_FOUND when the root does
   * not exist in this run, KEEL_ERR_FULL when out is too small. */
  keel_result (*path_resolve)(const keel_host *host, keel_path_root root, const char *relative, char *out,
                              uint32_t capacity);

  /* ---- platform. Main thread only. Only the core links the windowing
   * library; renderers reach the window through these.
   * has_window: false when headless (render offscreen then).
   * framebuffer_size: current drawable size in pixels.
   * vulkan_instance_extensions: the instance extensions presenting to the
   * window needs; the array is owned by the host and lives until shutdown.
   * vulkan_create_surface: `instance` is a VkInstance, `allocator` a
   * const VkAllocationCallbacks* (may be NULL), *out_surface a VkSurfaceKHR.
   * gl_get_proc_address: NULL when the name is unknown or there is no GL
   * window. gl_make_current / gl_swap_buffers: the window's GL context. */
  bool (*platform_has_window)(const keel_host *host);
  keel_result (*platform_framebuffer_size)(const keel_host *host, uint32_t *width, uint32_t *height);
  const char *const *(*platform_vulkan_instance_extensions)(const keel_host *host, uint32_t *count);
  keel_result (*platform_vulkan_create_surface)(const keel_host *host, void *instance, const void *allocator,
                                                uint64_t *out_surface);
  void *(*platform_gl_get_proc_address)(const keel_host *host, const char *name);
  keel_result (*platform_gl_make_current)(const keel_host *host);
  keel_result (*platform_gl_swap_buffers)(const keel_host *host);

  /* New services are appended here, within a major. A plugin checks
   * KEEL_HAS_MEMBER(host, keel_host, member) before using one newer than
   * the minor it was built against. */
};

KEEL_END_DECLS

#endif /* KEEL_HOST_H */
