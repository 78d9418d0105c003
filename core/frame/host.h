/* kc_host: the core's implementation of the SDK's keel_host service table.
 * Each plugin gets its own instance (so log lines and paths can name the
 * plugin); they share the engine-wide services behind it. */
#ifndef KC_HOST_H
#define KC_HOST_H

#include <keel/host.h>

#include "base/err.h"

/* Engine-wide services the host tables forward to. Filled by the engine;
 * jobs may be NULL (jobs then run inline on the caller). */
typedef struct kc_host_services {
  char game_dir[4096];   /* KEEL_PATH_GAME */
  char data_dir[4096];   /* KEEL_PATH_DATA */
  char config_dir[4096]; /* KEEL_PATH_CONFIG */
  uint32_t width, height; /* the offscreen image's size when there is no renderer window */
  /* The window the renderer draws into; NULL when headless or when the
   * renderer draws into no window (KEEL_GRAPHICS_NONE). */
  struct kc_platform *platform;
  /* Job system hooks (the scheduler); NULL = inline on the caller. */
  void *jobs;
  keel_result (*jobs_submit)(void *jobs, const keel_job_desc *descs, uint32_t count, keel_job_counter *out);
  keel_result (*jobs_wait)(void *jobs, keel_job_counter counter);
  keel_result (*jobs_parallel_for)(void *jobs, uint32_t count, uint32_t grain, keel_range_fn fn, void *user);
  uint32_t (*jobs_worker_count)(void *jobs);
  uint32_t (*jobs_worker_index)(void *jobs);
} kc_host_services;

/* Change handlers a plugin subscribed through its host table; removed when
 * the plugin goes away, so no handler outlives the code it points to. */
#define KC_HOST_SUBSCRIPTIONS_MAX 64

typedef struct kc_host_subscription {
  char name[64];
  keel_cvar_change_fn fn;
  void *user;
} kc_host_subscription;

typedef struct kc_host {
  keel_host pub;                   /* first: plugins get &pub */
  const kc_host_services *services; /* borrowed */
  char plugin_name[64];
  char plugin_dir[4096];           /* KEEL_PATH_PLUGIN */
  kc_host_subscription subs[KC_HOST_SUBSCRIPTIONS_MAX];
  size_t nsubs;
} kc_host;

/* Fills *host for the plugin `name` whose file is `plugin_file` (NULL for
 * built-ins). services must outlive the host. Thread: main. */
void kc_host_init(kc_host *host, const kc_host_services *services, const char *name, const char *plugin_file);

/* Removes every change handler the plugin subscribed through this host:
 * after its create failed, or before it is destroyed. Main thread. */
void kc_host_release(kc_host *host);

#endif
