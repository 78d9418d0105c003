/* The engine: plugin selection, the world, the script worker and the main
 * loop of DESIGN §3. The main thread never waits for the script worker
 * (except in lockstep): it drains what the worker sent, publishes and
 * triggers the next tick only when the worker is idle, and otherwise renders
 * the last published state and counts a skip. */
#include "frame/engine.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/clock.h"
#include "base/cvar.h"
#include "base/json.h"
#include "base/log.h"
#include "base/path.h"
#include "base/trace.h"
#include "base/png.h"
#include "base/watch.h"
#include "frame/demo_source.h"
#include "frame/host.h"
#include "frame/render.h"
#include "frame/script_worker.h"
#include "frame/stats.h"
#include "plugin/settings.h"
#include "platform/input.h"
#include "platform/input_record.h"
#include "platform/platform.h"
#include "sched/pool.h"
#include "sched/schedule.h"
#include "sync/action_queue.h"
#include "world/world.h"

#define NAME_MAX_LEN 64

/* A script runtime plugin seen as a tick source. Built on the worker thread;
 * the plugin's counters are copied into atomics after each call so the main
 * thread can report them. */
typedef struct script_source {
  const keel_script_api *api;
  keel_script *vm;
  keel_script_desc desc;
  _Atomic uint64_t errors, interrupts;
} script_source;

/* A one-off script's result, worker → main through the action queue. */
typedef struct exec_result {
  uint64_t seq;
  keel_result result;
  char text[KEEL_MESSAGE_MAX];
} exec_result;

#define EXEC_MAX_IN_FLIGHT 64

struct kc_engine {
  kc_actionq actions; /* first: 128-byte aligned, see kc_engine_create */
  kc_engine_options opts;
  const kc_config *cfg;

  kc_host_services services;
  kc_host renderer_host, script_host;

  kc_plugin *renderer_plugin;
  const keel_renderer_api *rapi;
  const keel_renderer_readback_api *readback; /* NULL when the renderer has none */
  bool screenshot_taken;
  keel_renderer *renderer;
  char renderer_name[NAME_MAX_LEN];

  kc_plugin *script_plugin;
  char script_name[NAME_MAX_LEN];
  char script_main[KC_PATH_MAX];
  script_source script;

  kc_world *world;
  kc_render *render;
  kc_watch *watch; /* hot reload; NULL when off */
  kc_script_worker *worker;
  kc_pool *pool;
  kc_schedule *schedule;
  kc_err frame_err;         /* a failure a system hit this frame (lockstep timeout) */
  keel_result frame_result;
  uint32_t native_entities;

  /* the window (NULL when headless) and the input it, or a replay, gives */
  kc_platform *platform;
  kc_input in;
  kc_input_recorder *recorder;    /* borrowed from the options; NULL = not recording */
  const kc_input_replay *replay;  /* borrowed from the options; NULL = the window's input */
  bool recorder_failed;
  bool minimised;                 /* nothing is drawn; the game keeps ticking */
  bool frame_open;                /* this frame's begin_frame succeeded: record, submit and present it */
  uint32_t draw_width, draw_height; /* the renderer's current size */
  uint64_t title_t0, title_frames;

  /* settings */
  uint32_t tick_budget_ms, load_budget_ms, shutdown_timeout_ms;
  uint64_t frames_limit; /* 0 = until quit */
  bool headless;         /* no window: nothing to close, no input (a replay aside) */
  bool window_required;  /* [engine] headless = false */
  bool lockstep;
  uint64_t frame_ns;     /* 0 = unthrottled */
  double tick_interval_s;
  double stats_interval_s;
  keel_color clear;

  /* state */
  uint64_t frame;
  uint64_t ticks_triggered, skips, publish_errors;
  uint64_t last_tick_start_ns, next_tick_ns;
  double game_time;      /* of the last tick triggered */
  double published_time; /* of the last tick whose state is published: what a frame draws */
  keel_input_state input; /* handed to each tick: kc_input's state at the trigger */
  uint64_t run_ns;
  uint64_t ticks_published; /* end markers whose state has been published (init's included) */
  uint64_t frame_t0;        /* start of the current frame */
  uint64_t frame_due;       /* when it was due: its deadline, or frame_t0 if unthrottled */

  /* one-off scripts (console, --exec): any thread submits, main prints */
  pthread_mutex_t exec_lock;
  keel_job_counter exec_jobs[EXEC_MAX_IN_FLIGHT];
  uint64_t exec_seq;              /* submitted (or waiting for init) */
  _Atomic uint64_t exec_printed;  /* results the main thread printed */
  uint64_t exec_refused;          /* refused: EXEC_MAX_IN_FLIGHT not printed yet */
  bool init_done;                 /* one-offs may start: init() has ended */
  struct exec_job *exec_pending, **exec_pending_tail;
  kc_frame_stats stats;
  uint64_t ticks_at_last_line;
  uint64_t final_hash;

  /* queue alerts (docs/runner.md): commands, callbacks, one-off results */
  kc_queue_watch queues[3];

  /* the renderer failure policy (render_policy) */
  keel_result render_failure;     /* the frame's first failed renderer call */
  const char *render_failed_call;
  uint32_t render_failed_frames;  /* frames in a row with a failed call */

  /* bounded waits on the script worker */
  bool init_waited;        /* init's marker was waited for (kc_engine_run) */
  bool worker_stopped;     /* shutdown ran and the thread was joined, or it was given up */
  bool abandoned;          /* a thread (the worker, a one-off) is stuck: nothing it may touch is freed */
  uint64_t tick_warned;    /* the tick the watchdog last interrupted, + 1 */
};

/* ---- bounds of every wait on the script worker ----
 * A runtime stops a call at its CPU budget, or at the wall-clock backstop
 * whatever its CPU time (keel/script.h). The main thread waits that long
 * plus a grace, then interrupts the call, then waits the grace again; a
 * worker still not back is stuck in native code, and is reported and given
 * up (docs/runner.md, "Bounded waits"). */
#define GRACE_NS 500000000ull

static uint64_t call_bound_ns(uint32_t budget_ms) { return keel_script_backstop_ms(budget_ms) * 1000000ull + GRACE_NS; }

static void queues_init(kc_engine *e);

/* ---- script runtime plugin as a tick source (worker thread) ---- */

static void script_refresh_stats(script_source *s) {
  keel_script_stats st = {.struct_size = KEEL_STRUCT_SIZE(keel_script_stats)};
  if (s->api->stats && s->api->stats(s->vm, &st) == KEEL_OK) {
    atomic_store_explicit(&s->errors, st.errors, memory_order_relaxed);
    atomic_store_explicit(&s->interrupts, st.interrupts, memory_order_relaxed);
  }
}

static keel_result script_init(void *ctx, keel_message *error) {
  script_source *s = ctx;
  keel_result r = s->api->init(s->vm, error);
  script_refresh_stats(s);
  return r;
}

static keel_result script_tick(void *ctx, const keel_tick_info *tick, const keel_script_event *events, uint32_t n,
                               keel_message *error) {
  script_source *s = ctx;
  keel_result r = s->api->tick(s->vm, tick, events, n, error);
  script_refresh_stats(s);
  return r;
}

static keel_result script_shutdown(void *ctx, keel_message *error) {
  script_source *s = ctx;
  keel_result r = s->api->shutdown(s->vm, error);
  script_refresh_stats(s);
  return r;
}

static keel_result script_reload(void *ctx, const char *const *paths, uint32_t count, keel_message *error) {
  script_source *s = ctx;
  keel_result r = s->api->reload(s->vm, paths, count, error);
  script_refresh_stats(s);
  return r;
}

static void script_interrupt(void *ctx) {
  script_source *s = ctx;
  s->api->interrupt(s->vm);
}

static keel_result script_factory(void *user, const keel_script_world *world, kc_tick_source *out,
                                  keel_message *error) {
  kc_engine *e = user;
  script_source *s = &e->script;
  s->desc.world = world;
  s->vm = NULL;
  keel_result r = s->api->create(&s->desc, &s->vm, error);
  if (r != KEEL_OK) return r;
  if (!s->vm) {
    /* init, tick and shutdown would all get NULL: refused like a renderer
     * that does the same. */
    snprintf(error->text, sizeof error->text, "create returned KEEL_OK without a runtime object (a plugin bug)");
    return KEEL_ERR_BACKEND;
  }
  *out = (kc_tick_source){.ctx = s, .init = script_init, .tick = script_tick, .shutdown = script_shutdown,
                          .interrupt = script_interrupt};
  if (KEEL_HAS_MEMBER(s->api, keel_script_api, reload) && s->api->reload) out->reload = script_reload;
  return KEEL_OK;
}

static void script_release(void *user, kc_tick_source *source) {
  (void)source;
  kc_engine *e = user;
  e->script.api->destroy(e->script.vm);
  e->script.vm = NULL;
}

/* ---- cvars → script events (main thread, during dispatch) ---- */

static void on_cvar_change(void *user, const char *name, const kc_cvar_value *old_value,
                           const kc_cvar_value *new_value) {
  (void)old_value;
  kc_engine *e = user;
  if (!e->worker) return;
  keel_script_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = KEEL_EVENT_CVAR_CHANGED;
  snprintf(ev.name, sizeof ev.name, "%s", name);
  memcpy(&ev.value, new_value, sizeof ev.value);
  kc_script_worker_post_event(e->worker, &ev);
}

/* ---- the host's job entries, on the engine's pool ---- */

static keel_result jobs_submit(void *jobs, const keel_job_desc *descs, uint32_t count, keel_job_counter *out) {
  return kc_pool_submit(jobs, descs, count, out, NULL);
}
static keel_result jobs_wait(void *jobs, keel_job_counter counter) { return kc_pool_wait(jobs, counter, NULL); }
static keel_result jobs_parallel_for(void *jobs, uint32_t count, uint32_t grain, keel_range_fn fn, void *user) {
  return kc_pool_parallel_for(jobs, count, grain, fn, user, NULL);
}
static uint32_t jobs_worker_count(void *jobs) { return kc_pool_worker_count(jobs); }
static uint32_t jobs_worker_index(void *jobs) { return kc_pool_worker_index(jobs); }

/* ---- renderer selection ---- */

static keel_validation validation_setting(const kc_config *cfg) {
  const char *v = kc_config_get_string(cfg, "renderer", "validation");
  if (strcmp(v, "on") == 0) return KEEL_VALIDATION_REQUIRED;
  if (strcmp(v, "off") == 0) return KEEL_VALIDATION_OFF;
  return KEEL_VALIDATION_AUTO_ON ? KEEL_VALIDATION_IF_AVAILABLE : KEEL_VALIDATION_OFF;
}

/* kc_plugin_select's create step for one candidate: its settings become
 * cvars first (create may read them), and are taken back, with any handler
 * it subscribed, when create fails and the next candidate is tried. A
 * windowed run opens the window the candidate needs first (a GL renderer's
 * context comes with its window); a renderer that draws into no window
 * (KEEL_GRAPHICS_NONE, the null renderer) runs headless while the window,
 * opened after selection, still gives input and quit. */
static keel_result create_renderer(void *user, const kc_plugin *plugin, kc_err *err) {
  kc_engine *e = user;
  keel_graphics_api api = ((const keel_renderer_api *)plugin->interface)->api;
  bool windowed = !e->headless && api != KEEL_GRAPHICS_NONE;
  e->services.platform = NULL;
  uint32_t width = e->services.width, height = e->services.height;
  if (windowed) {
    keel_result wr = kc_platform_open_window(e->platform, api, err);
    if (wr != KEEL_OK) return wr;
    e->services.platform = e->platform;
    uint32_t fw, fh;
    kc_platform_framebuffer_size(e->platform, &fw, &fh);
    if (fw && fh) width = fw, height = fh;
  }
  e->draw_width = width;
  e->draw_height = height;
  size_t cvars_before = kc_cvar_count();
  keel_result sr = kc_plugin_settings_register(plugin, e->cfg, err);
  if (sr != KEEL_OK) return sr;
  kc_host_init(&e->renderer_host, &e->services, plugin->name, plugin->file);
  keel_renderer_desc desc = {
      .struct_size = KEEL_STRUCT_SIZE(keel_renderer_desc),
      .host = &e->renderer_host.pub,
      .width = width,
      .height = height,
      .headless = !windowed,
      .vsync = kc_config_get_bool(e->cfg, "renderer", "vsync"),
      .frames_in_flight = (uint32_t)kc_config_get_int(e->cfg, "renderer", "frames_in_flight"),
      .max_workers = kc_pool_worker_count(e->pool),
      .pass_count = 2,
      .device = kc_config_get_string(e->cfg, "renderer", "device"),
      .validation = validation_setting(e->cfg),
  };
  keel_renderer *r = NULL;
  keel_result res = kc_plugin_create_renderer(plugin, &desc, &r, err);
  if (res == KEEL_OK) {
    e->renderer = r;
  } else {
    kc_host_release(&e->renderer_host);
    kc_cvar_truncate(cvars_before);
    e->services.platform = NULL;
  }
  return res;
}

static keel_result select_renderer(kc_engine *e, kc_err *err) {
  const char *names[16];
  size_t n = 0;
  names[n++] = kc_config_get_string(e->cfg, "renderer", "backend");
  size_t fallbacks = kc_config_list_count(e->cfg, "renderer", "fallback");
  for (size_t i = 0; i < fallbacks && n < 16; i++) names[n++] = kc_config_list_item(e->cfg, "renderer", "fallback", i);
  kc_plugin_attempts attempts = {0};
  keel_result r = kc_plugin_select(e->opts.loader, KEEL_PLUGIN_RENDERER, names, n, create_renderer, e,
                                   &e->renderer_plugin, &attempts, err);
  for (size_t i = 0; i < attempts.count; i++)
    if (attempts.items[i].status != KC_PLUGIN_OK)
      kc_log_write(r == KEEL_OK ? KC_LOG_WARN : KC_LOG_ERROR, "renderer '%s': %s", attempts.items[i].name,
                   attempts.items[i].message);
  if (r != KEEL_OK) {
    char summary[KC_ERR_MSG_MAX];
    size_t used = (size_t)snprintf(summary, sizeof summary, "no renderer could be started; tried:");
    for (size_t i = 0; i < attempts.count && used < sizeof summary; i++)
      used += (size_t)snprintf(summary + used, sizeof summary - used, "%s %s (%s)", i ? "," : "",
                               attempts.items[i].name, kc_plugin_status_text(attempts.items[i].status));
    kc_plugin_attempts_free(&attempts);
    return kc_err_set(err, KEEL_ERR_NOT_FOUND, "%s", summary);
  }
  kc_plugin_attempts_free(&attempts);
  e->rapi = e->renderer_plugin->interface;
  e->readback = kc_plugin_find_interface(e->renderer_plugin, KEEL_RENDERER_READBACK_INTERFACE,
                                         KEEL_STRUCT_SIZE(keel_renderer_readback_api));
  if (e->readback && !e->readback->readback_rgba8) {
    /* A table without its function is no readback, not a call through NULL. */
    kc_log_write(KC_LOG_WARN, "%s: the %s table has no readback_rgba8; --screenshot is refused",
                 e->renderer_plugin->file, KEEL_RENDERER_READBACK_INTERFACE);
    e->readback = NULL;
  }
  snprintf(e->renderer_name, sizeof e->renderer_name, "%s", e->renderer_plugin->name);
  kc_log_write(KC_LOG_INFO, "renderer: %s %s (%s)", e->renderer_plugin->name, e->renderer_plugin->manifest->version,
               e->renderer_plugin->file);
  return KEEL_OK;
}

/* ---- script runtime ---- */

bool kc_engine_hot_reload_wanted(const char *setting, bool headless, bool lockstep) {
  if (setting && strcmp(setting, "true") == 0) return true;
  if (setting && strcmp(setting, "false") == 0) return false;
  return !headless && !lockstep; /* auto: someone is watching the window and editing */
}

/* The file watcher for hot reload, when [script] hot_reload asks for it and
 * the runtime can reload. */
static keel_result start_watch(kc_engine *e, kc_err *err) {
  const char *setting = kc_config_get_string(e->cfg, "script", "hot_reload");
  if (!kc_engine_hot_reload_wanted(setting, e->headless, e->lockstep)) return KEEL_OK;
  if (!KEEL_HAS_MEMBER(e->script.api, keel_script_api, reload) || !e->script.api->reload) {
    kc_log_write(KC_LOG_WARN, "hot reload: off, the script runtime '%s' cannot reload (built against SDK 1.0)",
                 e->script_plugin->name);
    return KEEL_OK;
  }
  keel_result r = kc_watch_create(0, &e->watch, err);
  if (r != KEEL_OK) return r;
  kc_log_write(KC_LOG_INFO, "hot reload: on (%s): the game's files are watched", setting);
  return KEEL_OK;
}

static keel_result start_script(kc_engine *e, kc_err *err) {
  const char *runtime = kc_config_get_string(e->cfg, "script", "runtime");
  snprintf(e->script_name, sizeof e->script_name, "%s", runtime);
  kc_script_worker_config wc = {.world = e->world};
  if (strcmp(runtime, "native") == 0) {
    wc.factory = kc_demo_source_create;
    wc.release = kc_demo_source_release;
    wc.user = &e->native_entities;
    kc_log_write(KC_LOG_INFO, "script runtime: native (built-in demo game, %u entities)",
                 e->native_entities ? e->native_entities : 300);
  } else {
    kc_plugin_status status;
    keel_result r = kc_plugin_open(e->opts.loader, KEEL_PLUGIN_SCRIPT, runtime, &e->script_plugin, &status, err);
    if (r != KEEL_OK) {
      kc_log_write(KC_LOG_ERROR, "script runtime '%s': %s", runtime, err->msg);
      return kc_err_set(err, KEEL_ERR_NOT_FOUND, "no script runtime could be started: %s (%s)", runtime,
                        kc_plugin_status_text(status));
    }
    if ((r = kc_plugin_settings_register(e->script_plugin, e->cfg, err)) != KEEL_OK) return r;
    /* A FIFO or a device would hang or never end any runtime that reads it
     * (a missing file is the runtime's to report, as a script error). */
    struct stat st;
    kc_err check;
    if (stat(e->script_main, &st) == 0 &&
        kc_path_check_regular(e->script_main, KEEL_SCRIPT_SOURCE_MAX, "not a script", &check) != KEEL_OK)
      return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "[script] main: %s", check.msg);
    kc_host_init(&e->script_host, &e->services, e->script_plugin->name, e->script_plugin->file);
    e->script.api = e->script_plugin->interface;
    e->script.desc = (keel_script_desc){
        .struct_size = KEEL_STRUCT_SIZE(keel_script_desc),
        .host = &e->script_host.pub,
        .main_path = e->script_main,
        .game_dir = e->services.game_dir,
        .memory_limit_mb = (uint32_t)kc_config_get_int(e->cfg, "script", "memory_limit_mb"),
        .tick_budget_ms = e->tick_budget_ms,
        .load_budget_ms = e->load_budget_ms,
        .shutdown_budget_ms = e->shutdown_timeout_ms,
        .instruction_budget = (uint64_t)kc_config_get_int(e->cfg, "script", "instruction_budget"),
        .seed = (uint64_t)kc_config_get_int(e->cfg, "script", "seed"),
        .lockstep = e->lockstep,
    };
    wc.factory = script_factory;
    wc.release = script_release;
    wc.user = e;
    if ((r = start_watch(e, err)) != KEEL_OK) return r;
    wc.watch = e->watch;
    kc_log_write(KC_LOG_INFO, "script runtime: %s %s (%s), game %s", e->script_plugin->name,
                 e->script_plugin->manifest->version, e->script_plugin->file, e->script_main);
  }
  wc.create_timeout_ns = call_bound_ns(e->load_budget_ms);
  keel_result r = kc_script_worker_start(&wc, &e->worker, err);
  if (r != KEEL_OK && kc_script_worker_abandoned(e->worker)) {
    /* The runtime's create never came back: its thread still uses the
     * world and the plugin, so the engine is never freed (the runner ends
     * the process). */
    e->abandoned = e->worker_stopped = true;
    kc_log_write(KC_LOG_ERROR, "script runtime '%s': %s", runtime, err->msg);
    return r;
  }
  if (r != KEEL_OK) {
    /* Copied first: err->msg cannot be both an argument and the output. */
    char why[KC_ERR_MSG_MAX];
    kc_copy_text(why, sizeof why, err->msg);
    kc_log_write(KC_LOG_ERROR, "script runtime '%s' could not start: %s", runtime, why);
    return kc_err_set(err, KEEL_ERR_NOT_FOUND, "no script runtime could be started: %s: %s", runtime, why);
  }
  /* Every cvar change reaches the script as an event (its on_change handlers
   * filter by name). */
  for (size_t i = 0; i < kc_cvar_count(); i++) kc_cvar_on_change(kc_cvar_name(kc_cvar_at(i)), on_cvar_change, e, NULL);
  return KEEL_OK;
}

/* The one place that decides whether a window can be opened: a display,
 * and GLFW starting on it. With `keep`, the started platform is handed to
 * the run (the window itself opens with the renderer, which decides its
 * kind); else it is stopped again. On failure *why says what is missing. */
static bool window_check(const kc_config *cfg, kc_platform **keep, char *why, size_t cap) {
  kc_platform_config pc = {.title = "keel"};
  if (cfg) {
    pc.width = (uint32_t)kc_config_get_int(cfg, "renderer", "width");
    pc.height = (uint32_t)kc_config_get_int(cfg, "renderer", "height");
    pc.vsync = kc_config_get_bool(cfg, "renderer", "vsync");
    pc.gl_debug = validation_setting(cfg) != KEEL_VALIDATION_OFF;
  }
  kc_platform *p = NULL;
  kc_err err;
  kc_err_clear(&err);
  if (kc_platform_create(&pc, &p, &err) != KEEL_OK) {
    kc_copy_text(why, cap, err.msg);
    return false;
  }
  if (keep)
    *keep = p;
  else
    kc_platform_destroy(p);
  return true;
}

bool kc_engine_window_available(char *why, size_t cap) { return window_check(NULL, NULL, why, cap); }

bool kc_engine_resolve_headless(const kc_config *cfg, int override) {
  if (override >= 0) return override != 0;
  const char *headless = kc_config_get_string(cfg, "engine", "headless");
  if (strcmp(headless, "true") == 0) return true;
  if (strcmp(headless, "false") == 0) return false;
  char why[256];
  return !kc_engine_window_available(why, sizeof why);
}

uint64_t kc_engine_resolve_frames(const kc_config *cfg, int64_t override, bool headless) {
  if (override >= 0) return (uint64_t)override;
  int64_t frames = kc_config_get_int(cfg, "engine", "frames");
  /* Unset (not 0 by choice) and headless: nobody can close a window, so
   * the run is bounded. */
  if (frames == 0 && headless && kc_config_get_source(cfg, "engine", "frames", NULL) == KC_CONFIG_FROM_DEFAULT)
    return KC_ENGINE_HEADLESS_DEFAULT_FRAMES;
  return (uint64_t)frames;
}

static keel_result no_window_error(kc_engine *e, const char *why, kc_err *err) {
  char src[KC_PATH_MAX + 64];
  return kc_err_set(err, KEEL_ERR_UNSUPPORTED,
                    "cannot open a window: %s (engine.headless = false, from %s); set engine.headless to auto or "
                    "true, or run with --headless",
                    why, e->opts.headless >= 0 ? "the caller"
                                               : kc_config_describe_source(e->cfg, "engine", "headless", src, sizeof src));
}

/* [engine] headless (kc_engine_resolve_headless's rule, deciding once and
 * keeping the platform it started): `true` never opens a window; `auto`
 * opens one when it can, else runs headless and says why in one line;
 * `false` without a window is an error (the runner exits 3), never a
 * silent headless run. */
static keel_result choose_headless(kc_engine *e, kc_err *err) {
  const char *mode = kc_config_get_string(e->cfg, "engine", "headless");
  int forced = e->opts.headless >= 0 ? e->opts.headless : strcmp(mode, "true") == 0 ? 1 : strcmp(mode, "false") == 0 ? 0 : -1;
  if (forced == 1) {
    e->headless = true;
    return KEEL_OK;
  }
  e->window_required = forced == 0;
  char why[KC_ERR_MSG_MAX];
  e->headless = !window_check(e->cfg, &e->platform, why, sizeof why);
  if (!e->headless) return KEEL_OK;
  if (e->window_required) return no_window_error(e, why, err);
  kc_log_write(KC_LOG_INFO, "no window (%s): running headless", why);
  return KEEL_OK;
}

/* After selection: a renderer that draws into no window still gets one
 * when the run is windowed, for input, the title and quitting. */
static keel_result open_input_window(kc_engine *e, kc_err *err) {
  if (e->headless || kc_platform_has_window(e->platform)) return KEEL_OK;
  kc_err werr;
  kc_err_clear(&werr);
  if (kc_platform_open_window(e->platform, KEEL_GRAPHICS_NONE, &werr) == KEEL_OK) return KEEL_OK;
  if (e->window_required) return no_window_error(e, werr.msg, err);
  kc_log_write(KC_LOG_INFO, "no window (%s): running headless", werr.msg);
  kc_platform_destroy(e->platform);
  e->platform = NULL;
  e->headless = true;
  return KEEL_OK;
}

size_t kc_engine_alignment(void) { return _Alignof(kc_engine); }

keel_result kc_engine_create(const kc_engine_options *opts, kc_engine **out, kc_err *err) {
  *out = NULL;
  /* The struct's own alignment: the action queue inside is 128-byte aligned. */
  size_t align = _Alignof(kc_engine);
  size_t size = (sizeof(kc_engine) + align - 1) / align * align;
  kc_engine *e = aligned_alloc(align, size);
  if (!e) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "engine: out of memory");
  memset(e, 0, size);
  pthread_mutex_init(&e->exec_lock, NULL);
  e->exec_pending_tail = &e->exec_pending;
  queues_init(e);
  e->opts = *opts;
  e->cfg = opts->config;
  e->native_entities = opts->native_entities;
  const kc_config *cfg = e->cfg;

  e->recorder = opts->record_input;
  e->replay = opts->replay_input;
  keel_result r;
  if ((r = choose_headless(e, err)) != KEEL_OK) goto fail;
  e->lockstep = opts->lockstep >= 0 ? opts->lockstep != 0 : kc_config_get_bool(cfg, "engine", "lockstep");
  /* A replay runs as long as its recording, headless or not. */
  e->frames_limit = kc_engine_resolve_frames(cfg, opts->frames, e->headless && !e->replay);
  int64_t fps = kc_config_get_int(cfg, "engine", "target_fps");
  e->frame_ns = fps > 0 ? 1000000000ull / (uint64_t)fps : 0;
  e->tick_interval_s = 1.0 / kc_config_get_float(cfg, "script", "tick_rate");
  e->tick_budget_ms = (uint32_t)kc_config_get_int(cfg, "script", "tick_budget_ms");
  e->load_budget_ms = (uint32_t)kc_config_get_int(cfg, "script", "load_budget_ms");
  e->shutdown_timeout_ms = (uint32_t)kc_config_get_int(cfg, "script", "shutdown_timeout_ms");
  e->stats_interval_s = kc_config_get_float(cfg, "engine", "stats_interval_s");
  e->clear = (keel_color){0.05f, 0.06f, 0.08f, 1.0f};
  e->input.struct_size = KEEL_STRUCT_SIZE(keel_input_state); /* headless: nothing pressed */

  e->services.width = (uint32_t)kc_config_get_int(cfg, "renderer", "width");
  e->services.height = (uint32_t)kc_config_get_int(cfg, "renderer", "height");
  kc_path_data_dir(e->services.data_dir, sizeof e->services.data_dir, NULL);
  char config_dir[KC_PATH_MAX];
  if (kc_config_file(cfg) && kc_path_dirname(kc_config_file(cfg), config_dir, sizeof config_dir, NULL) == KEEL_OK)
    kc_path_absolute(config_dir, e->services.config_dir, sizeof e->services.config_dir, NULL);

  /* The game's directory is known before any plugin is created, so a
   * renderer's create can resolve KEEL_PATH_GAME too. */
  const char *main_rel = kc_config_get_string(cfg, "script", "main");
  if ((r = kc_config_resolve_path(cfg, "script", "main", main_rel, e->script_main, sizeof e->script_main, err)) !=
      KEEL_OK)
    goto fail;
  kc_path_dirname(e->script_main, e->services.game_dir, sizeof e->services.game_dir, NULL);
  if ((r = kc_actionq_init(&e->actions, sizeof(exec_result), 256, err)) != KEEL_OK) goto fail;
  kc_pool_desc pd = {.threads = (uint32_t)kc_config_get_int(cfg, "engine", "threads")}; /* 0 = auto */
  if ((r = kc_pool_create(&pd, &e->pool, err)) != KEEL_OK) goto fail;
  e->services.jobs = e->pool;
  e->services.jobs_submit = jobs_submit;
  e->services.jobs_wait = jobs_wait;
  e->services.jobs_parallel_for = jobs_parallel_for;
  e->services.jobs_worker_count = jobs_worker_count;
  e->services.jobs_worker_index = jobs_worker_index;
  kc_log_write(KC_LOG_INFO, "job workers: %u (the main thread included)", kc_pool_worker_count(e->pool));

  if ((r = select_renderer(e, err)) != KEEL_OK) goto fail;
  if ((r = open_input_window(e, err)) != KEEL_OK) goto fail;
  kc_input_init(&e->in, !e->headless || e->replay, e->draw_width, e->draw_height);

  kc_world_config wc = {.swap_timeout_ns = (uint64_t)kc_config_get_int(cfg, "renderer", "swap_timeout_ms") * 1000000u};
  if ((r = kc_world_create(&wc, &e->world, err)) != KEEL_OK) goto fail;

  kc_render_config rc = {.api = e->rapi, .renderer = e->renderer,
                         .plugin_abi_minor = e->renderer_plugin->manifest->abi_minor, .pass_count = 2,
                         .workers = kc_pool_worker_count(e->pool), .width = e->services.width,
                         .height = e->services.height, .pool = e->pool};
  if ((r = kc_render_create(&rc, &e->render, err)) != KEEL_OK) goto fail;
  if ((r = kc_engine_build_schedule(e, &e->schedule, err)) != KEEL_OK) goto fail;

  if (!kc_frame_stats_init(&e->stats, kc_clock_now_ns())) {
    r = kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "engine: out of memory for statistics");
    goto fail;
  }
  if ((r = start_script(e, err)) != KEEL_OK) goto fail;
  *out = e;
  return KEEL_OK;
fail:
  kc_engine_destroy(e);
  return r;
}

/* ---- the frame ---- */

/* Publishes the world when the worker has ended a tick (or init) since the
 * last publish. Called only while the worker is idle, so it never changes
 * the snapshot under a running tick. */
static void publish_ended_ticks(kc_engine *e) {
  kc_script_worker_stats ws;
  kc_script_worker_stats_get(e->worker, &ws);
  if (ws.markers <= e->ticks_published) return;
  e->ticks_published = ws.markers;
  /* Only an idle worker's state is published: every triggered tick ended. */
  e->published_time = e->game_time;
  kc_err err;
  kc_err_clear(&err);
  if (KC_TRACE_ON()) {
    /* What share of the entities this swap copies (the stats' dirty ratio, per swap). */
    kc_world_metrics wm;
    kc_world_metrics_get(e->world, &wm);
    uint32_t live = wm.entities.live_back ? wm.entities.live_back : 1;
    double ratio = (double)wm.entities.dirty / live;
    KC_TRACE_COUNTER("dirty_ratio", ratio < 1.0 ? ratio : 1.0);
  }
  bool traced = KC_TRACE_BEGIN("swap");
  if (kc_world_publish(e->world, &err) != KEEL_OK) {
    e->publish_errors++;
    kc_log_write(KC_LOG_WARN, "state publish kept the previous state: %s", err.msg);
  }
  KC_TRACE_END(traced);
}

/* A tick due within this of a frame's due time runs in that frame: frame and
 * tick intervals are rounded to whole ns, and 60 fps with 30 ticks/s would
 * otherwise miss every other tick by 1 ns. */
#define TICK_SLACK_NS 100000u

static void trigger_tick(kc_engine *e, uint64_t now, double dt) {
  e->game_time += dt;
  kc_input_take(&e->in, &e->input); /* the worker copies it: stable for the whole tick */
  keel_tick_info info = {.struct_size = KEEL_STRUCT_SIZE(keel_tick_info), .tick = e->ticks_triggered,
                         .frame = e->frame, .dt = dt, .time = e->game_time, .input = &e->input};
  kc_script_worker_trigger(e->worker, &info);
  KC_TRACE_INSTANT("trigger", "tick", e->ticks_triggered);
  e->ticks_triggered++;
  e->last_tick_start_ns = now;
}

static double sim_speed(void) {
  kc_cvar *cv = kc_cvar_find("sim_speed");
  return cv ? kc_cvar_get_float(cv) : 1.0;
}

/* ---- queue alerts ----
 * Each queue warns once when it reaches 80% of its capacity and again only
 * after it has drained below 50%, so a queue that stays full says so once,
 * not every frame. High-water marks and refusals go to the summary and the
 * stats JSON. */
enum { QUEUE_COMMANDS, QUEUE_CALLBACKS, QUEUE_RESULTS, QUEUE_COUNT };

/* Main thread, each frame and while waiting on the worker. */
static void queues_sample(kc_engine *e) {
  if (!e->worker) return;
  kc_script_worker_fill f;
  kc_script_worker_fill_get(e->worker, &f);
  kc_queue_watch_sample(&e->queues[QUEUE_COMMANDS], f.commands, f.commands_hwm);
  kc_queue_watch_sample(&e->queues[QUEUE_CALLBACKS], f.callbacks, 0);
  kc_queue_watch_sample(&e->queues[QUEUE_RESULTS], e->exec_seq - atomic_load(&e->exec_printed), 0);
}

static void queues_init(kc_engine *e) {
  e->queues[QUEUE_COMMANDS] = (kc_queue_watch){
      .name = "commands", .capacity = KEEL_SCRIPT_COMMAND_QUEUE,
      .advice = "the script sends commands faster than the main thread applies them; when it is full they are "
                "refused at the script's line ('command queue full')"};
  e->queues[QUEUE_CALLBACKS] = (kc_queue_watch){
      .name = "callbacks", .capacity = KEEL_SCRIPT_CALLBACKS_MAX,
      .advice = "creates with a callback wait for their completion; when it is full more are refused at the "
                "script's line ('too many pending callbacks')"};
  e->queues[QUEUE_RESULTS] = (kc_queue_watch){
      .name = "one-off results", .capacity = EXEC_MAX_IN_FLIGHT,
      .advice = "one-off scripts run or wait to be printed; when it is full more are refused ('exec: 64 one-off "
                "scripts are still running')"};
}

/* kc_script_worker_wait in short steps, so the queues are watched while
 * the main thread waits (init() may flood them before the first frame). */
static kc_wait_result wait_watching(kc_engine *e, uint64_t timeout_ns, const volatile sig_atomic_t *quit) {
  uint64_t deadline = kc_clock_now_ns() + timeout_ns;
  for (;;) {
    uint64_t now = kc_clock_now_ns();
    uint64_t step = deadline > now ? deadline - now : 0;
    if (step > 10000000u) step = 10000000u;
    kc_wait_result w = kc_script_worker_wait(e->worker, step, quit);
    queues_sample(e);
    if (w != KC_WAIT_TIMEOUT || kc_clock_now_ns() >= deadline) return w;
  }
}

typedef enum call_end { CALL_DONE, CALL_QUIT, CALL_STUCK } call_end;

/* Waits for the worker's running call (init's or a tick's) to end, applying
 * its commands: at most its bound, then it is interrupted and gets the
 * grace. CALL_STUCK (err says what it was running) when it did not come
 * back; CALL_QUIT when *quit was set first (the call is interrupted and
 * left to the stop). Main. */
static call_end wait_call(kc_engine *e, uint32_t budget_ms, bool honour_quit, kc_err *err) {
  kc_wait_result w = wait_watching(e, call_bound_ns(budget_ms), honour_quit ? e->opts.quit : NULL);
  if (w == KC_WAIT_IDLE) return CALL_DONE;
  uint64_t tick = 0, since = 0;
  char what[96];
  kc_script_worker_describe(kc_script_worker_phase(e->worker, &tick, &since), tick, what, sizeof what);
  kc_script_worker_interrupt(e->worker);
  if (w == KC_WAIT_QUIT) {
    kc_log_write(KC_LOG_INFO, "quit requested during %s: interrupting it", what);
    return CALL_QUIT;
  }
  kc_log_write(KC_LOG_WARN, "script %s has run for %.1f s (budget %u ms of CPU time, wall-clock backstop %" PRIu64
               " ms): interrupting it", what, (double)(kc_clock_now_ns() - since) / 1e9, budget_ms,
               keel_script_backstop_ms(budget_ms));
  uint64_t give_up = kc_clock_now_ns() + GRACE_NS;
  while (kc_script_worker_wait(e->worker, 50000000ull, NULL) != KC_WAIT_IDLE) {
    if (kc_clock_now_ns() >= give_up) {
      kc_script_worker_describe(kc_script_worker_phase(e->worker, &tick, &since), tick, what, sizeof what);
      kc_err_set(err, KEEL_ERR_TIMEOUT,
                 "script runtime '%s': the script worker is stuck in %s (for %.1f s; it does not answer the "
                 "interrupt: native code that never returns?)",
                 e->script_name, what, (double)(kc_clock_now_ns() - since) / 1e9);
      return CALL_STUCK;
    }
    kc_script_worker_interrupt(e->worker); /* the first may have raced the call's start */
  }
  return CALL_DONE;
}

/* Outside lockstep the main thread never waits for a tick, but a tick far
 * past its bound is interrupted once and said so: the frames go on with the
 * last published state. */
static void watch_tick(kc_engine *e, uint64_t now) {
  uint64_t tick = 0, since = 0;
  if (kc_script_worker_phase(e->worker, &tick, &since) != KC_WORKER_TICK || e->tick_warned == tick + 1 ||
      now < since + call_bound_ns(e->tick_budget_ms))
    return;
  e->tick_warned = tick + 1;
  kc_log_write(KC_LOG_WARN,
               "script tick %" PRIu64 " has run for %.1f s (budget %u ms of CPU time, wall-clock backstop %" PRIu64
               " ms): interrupting it; frames go on with the last published state",
               tick, (double)(now - since) / 1e9, e->tick_budget_ms, keel_script_backstop_ms(e->tick_budget_ms));
  kc_script_worker_interrupt(e->worker);
}

/* Step 2 of DESIGN §3: hand off between the worker and the main thread. */
static keel_result handoff(kc_engine *e, uint64_t now, kc_err *err) {
  if (e->lockstep) {
    /* Deterministic: one tick per frame, fixed dt, the main thread waits
     * (bounded: a stuck worker ends the run). */
    call_end c = wait_call(e, e->tick_budget_ms, true, err);
    if (c == CALL_STUCK) return KEEL_ERR_TIMEOUT;
    if (c == CALL_QUIT) return KEEL_OK;
    trigger_tick(e, now, e->tick_interval_s * sim_speed());
    c = wait_call(e, e->tick_budget_ms, true, err);
    if (c == CALL_STUCK) return KEEL_ERR_TIMEOUT;
    if (c == CALL_DONE) publish_ended_ticks(e);
    return KEEL_OK;
  }
  bool idle = kc_script_worker_drain(e->worker);
  queues_sample(e);
  if (idle)
    publish_ended_ticks(e);
  else
    watch_tick(e, now);
  /* Decided on the frame's due time, not its jittered start, so that
   * expected_trigger_ns can tell the worker in advance. */
  if (e->frame_due + TICK_SLACK_NS >= e->next_tick_ns) {
    if (idle) {
      double dt = e->last_tick_start_ns ? (double)(now - e->last_tick_start_ns) / 1e9 : e->tick_interval_s;
      trigger_tick(e, now, dt * sim_speed());
      uint64_t interval = (uint64_t)(e->tick_interval_s * 1e9);
      e->next_tick_ns += interval;
      if (e->next_tick_ns < now) e->next_tick_ns = now + interval; /* fell behind: do not burst */
    } else {
      e->skips++; /* the worker is late: render the last published state */
    }
  }
  return KEEL_OK;
}

/* ---- the frame's systems (DESIGN §3 steps 2-6) ----
 * Resources: "world" (the back state and its publication), "cvars",
 * "render_snapshot" (Extract's output), "draw_lists" (Prepare's), "renderer"
 * (the renderer's frame and resources: main thread only), "encoders". */

/* When the handoff will next trigger a tick, if the worker is idle by then:
 * at the first frame due at or after next_tick_ns. */
static uint64_t expected_trigger_ns(const kc_engine *e, uint64_t next_due) {
  if (e->next_tick_ns <= next_due + TICK_SLACK_NS) return next_due;
  if (!e->frame_ns) return e->next_tick_ns;
  uint64_t frames = (e->next_tick_ns - TICK_SLACK_NS - next_due + e->frame_ns - 1) / e->frame_ns;
  return next_due + frames * e->frame_ns;
}

static keel_result sys_handoff(const kc_system_ctx *ctx) {
  kc_engine *e = ctx->frame;
  keel_result r = handoff(e, e->frame_t0, &e->frame_err);
  if (r != KEEL_OK) e->frame_result = r;
  return r;
}

static keel_result sys_cvars(const kc_system_ctx *ctx) {
  kc_engine *e = ctx->frame;
  /* Changes reach the script as events. While a ring's worth of events
   * already waits for it, they wait in the cvar registry instead, whose
   * bounded queue then refuses cvar.set at the script's own line: nothing
   * piles up without bound and nothing is dropped. */
  if (e->worker) {
    kc_script_worker_fill f;
    kc_script_worker_fill_get(e->worker, &f);
    if (f.events_waiting >= KEEL_SCRIPT_EVENT_QUEUE) return KEEL_OK;
  }
  kc_cvar_dispatch_pending();
  return KEEL_OK;
}

/* DESIGN §3 step 4: jobs pinned to the main thread, and one-off script
 * results, printed as they arrive. */
static keel_result sys_actions(const kc_system_ctx *ctx) {
  kc_engine *e = ctx->frame;
  if (ctx->pool) kc_pool_run_main_jobs(ctx->pool);
  exec_result res;
  while (kc_actionq_try_pop(&e->actions, &res)) {
    atomic_fetch_add_explicit(&e->exec_printed, 1, memory_order_release);
    if (res.result == KEEL_OK) {
      printf("[exec %" PRIu64 "] %s\n", res.seq, res.text);
    } else {
      /* The runtime has logged it with its stack already. */
      printf("[exec %" PRIu64 "] error: %s\n", res.seq, res.text);
    }
    fflush(stdout);
  }
  return KEEL_OK;
}

static keel_result sys_extract(const kc_system_ctx *ctx) {
  kc_engine *e = ctx->frame;
  if (e->minimised) return KEEL_OK; /* nothing to draw into; the game still ticks */
  return kc_render_extract(e->render, e->world, e->frame);
}

static keel_result sys_prepare(const kc_system_ctx *ctx) {
  kc_engine *e = ctx->frame;
  if (e->minimised) return KEEL_OK;
  return kc_render_prepare(e->render);
}

/* A lost device, or the renderer out of memory in the middle of a run: the
 * frames cannot be trusted to go on (issue: a renderer that cannot allocate
 * its frame would fail every frame after it, or draw half of it). */
static bool render_failure_is_fatal(keel_result r) {
  return r == KEEL_ERR_DEVICE_LOST || r == KEEL_ERR_OUT_OF_MEMORY;
}

/* The renderer's calls of a frame: the first failure is remembered (which
 * call, what result) for the failure policy in kc_engine_run. */
static keel_result renderer_called(kc_engine *e, const char *call, keel_result r) {
  /* The first failure of the frame is the one reported, unless a later one
   * ends the run and it did not. */
  if (r != KEEL_OK && (e->render_failure == KEEL_OK ||
                       (render_failure_is_fatal(r) && !render_failure_is_fatal(e->render_failure)))) {
    e->render_failure = r;
    e->render_failed_call = call;
  }
  return r;
}

static keel_result sys_begin_frame(const kc_system_ctx *ctx) {
  kc_engine *e = ctx->frame;
  e->frame_open = false;
  if (e->minimised) return KEEL_OK;
  keel_result r = renderer_called(e, "begin_frame", kc_render_begin(e->render, e->clear, e->published_time));
  e->frame_open = r == KEEL_OK;
  return r;
}

static keel_result sys_record(const kc_system_ctx *ctx) {
  kc_engine *e = ctx->frame;
  /* A frame begin_frame refused is not open: nothing to record, end or
   * present (the refusal is the frame's one failure). */
  if (e->minimised || !e->frame_open) return KEEL_OK;
  return renderer_called(e, "encoder_begin/draw/end", kc_render_record_all(e->render));
}

static keel_result sys_submit(const kc_system_ctx *ctx) {
  kc_engine *e = ctx->frame;
  if (e->minimised || !e->frame_open) return KEEL_OK;
  return renderer_called(e, "end_frame", kc_render_submit(e->render));
}

static keel_result sys_present(const kc_system_ctx *ctx) {
  kc_engine *e = ctx->frame;
  if (e->minimised || !e->frame_open) return KEEL_OK;
  return renderer_called(e, "present", kc_render_present(e->render));
}

/* The renderer failure policy: a lost device or memory exhausted
 * (KEEL_ERR_DEVICE_LOST, KEEL_ERR_OUT_OF_MEMORY from any call of a frame)
 * ends the run at once; otherwise a
 * failing call is counted and the frames go on, until
 * RENDER_FAILURES_MAX frames in a row had one: then the run ends too, so a
 * renderer that can draw nothing never runs silently to exit 0. Main. */
#define RENDER_FAILURES_MAX 60

static keel_result render_policy(kc_engine *e, kc_err *err) {
  keel_result r = e->render_failure;
  const char *call = e->render_failed_call;
  e->render_failure = KEEL_OK;
  if (r == KEEL_OK) {
    e->render_failed_frames = 0;
    return KEEL_OK;
  }
  if (r == KEEL_ERR_DEVICE_LOST)
    return kc_err_set(err, r, "renderer %s: %s returned KEEL_ERR_DEVICE_LOST: the graphics device is gone; stopping",
                      e->renderer_name, call);
  if (r == KEEL_ERR_OUT_OF_MEMORY)
    return kc_err_set(err, r, "renderer %s: %s returned KEEL_ERR_OUT_OF_MEMORY: the renderer ran out of memory; stopping",
                      e->renderer_name, call);
  if (++e->render_failed_frames == 1)
    kc_log_write(KC_LOG_ERROR, "renderer %s: %s failed (%s); frames go on", e->renderer_name, call,
                 keel_result_name(r));
  if (e->render_failed_frames >= RENDER_FAILURES_MAX)
    return kc_err_set(err, r, "renderer %s: %s failed (%s) in %u frames in a row; stopping", e->renderer_name, call,
                      keel_result_name(r), RENDER_FAILURES_MAX);
  return KEEL_OK;
}

keel_result kc_engine_build_schedule(kc_engine *e, kc_schedule **out, kc_err *err) {
  static const char *const world[] = {"world", NULL}, *const cvars[] = {"cvars", NULL},
                           *const snapshot[] = {"render_snapshot", NULL}, *const lists[] = {"draw_lists", NULL},
                           *const renderer[] = {"renderer", NULL}, *const lists_renderer[] = {"draw_lists", "renderer", NULL},
                           *const encoders[] = {"encoders", NULL}, *const renderer_encoders[] = {"renderer", "encoders", NULL},
                           *const stdout_res[] = {"console", NULL};
  const kc_system_desc systems[] = {
      {.name = "script_handoff", .stage = KC_STAGE_UPDATE, .writes = world, .fn = sys_handoff, .main_thread_only = true},
      {.name = "cvar_dispatch", .stage = KC_STAGE_UPDATE, .writes = cvars, .fn = sys_cvars, .main_thread_only = true},
      {.name = "main_jobs_and_results", .stage = KC_STAGE_UPDATE, .writes = stdout_res, .fn = sys_actions,
       .main_thread_only = true},
      {.name = "extract", .stage = KC_STAGE_EXTRACT, .reads = world, .writes = snapshot, .fn = sys_extract},
      {.name = "prepare", .stage = KC_STAGE_PREPARE, .reads = snapshot, .writes = lists_renderer, .fn = sys_prepare,
       .main_thread_only = true},
      {.name = "begin_frame", .stage = KC_STAGE_RECORD, .writes = renderer, .fn = sys_begin_frame,
       .main_thread_only = true},
      {.name = "record", .stage = KC_STAGE_RECORD, .reads = lists, .writes = renderer_encoders, .fn = sys_record},
      {.name = "submit", .stage = KC_STAGE_SUBMIT, .reads = encoders, .writes = renderer, .fn = sys_submit,
       .main_thread_only = true},
      {.name = "present", .stage = KC_STAGE_PRESENT, .writes = renderer, .fn = sys_present, .main_thread_only = true},
  };
  (void)e;
  kc_schedule_builder *b = NULL;
  keel_result r = kc_schedule_builder_create(&b, err);
  for (size_t i = 0; r == KEEL_OK && i < sizeof systems / sizeof systems[0]; i++)
    r = kc_schedule_add_system(b, &systems[i], err);
  if (r == KEEL_OK) r = kc_schedule_build(b, out, err);
  kc_schedule_builder_destroy(b);
  return r;
}

/* What the summary, the stats JSON and the periodic line report. */
typedef struct report {
  kc_script_worker_stats ws;
  kc_world_metrics wm;
  kc_render_stats rs;
  keel_renderer_stats renderer;
  double seconds, fps;
  uint64_t script_errors, interrupts, errors_total;
} report;
static void report_fill(const kc_engine *e, report *r);

/* The periodic statistics line, when the show_stats cvar is on (it can be
 * turned off while running, e.g. to keep the console quiet). */
static void stats_line(kc_engine *e, uint64_t now) {
  double secs = (double)(now - e->stats.interval_start_ns) / 1e9;
  if (secs <= 0) return;
  kc_cvar *show = kc_cvar_find("show_stats");
  if (show && !kc_cvar_get_bool(show)) {
    kc_frame_stats_interval_reset(&e->stats, now);
    return;
  }
  report r;
  report_fill(e, &r);
  double fps = (double)e->stats.interval_count / secs;
  double p50 = kc_frame_stats_interval_percentile_ms(&e->stats, 0.5);
  double p99 = kc_frame_stats_interval_percentile_ms(&e->stats, 0.99);
  kc_log_write(KC_LOG_INFO,
               "fps %.1f | frame p50 %.3f ms p99 %.3f ms | ticks %" PRIu64 " late %" PRIu64
               " | entities %u | commands %" PRIu64 " | errors %" PRIu64,
               fps, p50, p99, r.ws.ticks - e->ticks_at_last_line, e->skips,
               kc_world_count(e->world, KEEL_OBJECT_ENTITY), r.ws.commands, r.errors_total);
  kc_script_worker_stats ws = r.ws;
  e->ticks_at_last_line = ws.ticks;
  kc_frame_stats_interval_reset(&e->stats, now);
}

/* The largest side of an image a readback may report: [renderer] width
 * and height stop at 16384, as do the images of the graphics APIs. */
#define READBACK_MAX 16384u

/* --screenshot: reads the last ended frame back and writes it as a PNG. */
static keel_result take_screenshot(kc_engine *e, kc_err *err) {
  const char *path = e->opts.screenshot_path;
  if (!e->readback)
    return kc_err_set(err, KEEL_ERR_UNSUPPORTED, "--screenshot: renderer '%s' has no readback (%s)", e->renderer_name,
                      KEEL_RENDERER_READBACK_INTERFACE);
  uint32_t w = 0, h = 0;
  keel_result r = e->readback->readback_rgba8(e->renderer, NULL, 0, &w, &h);
  if (r != KEEL_OK && r != KEEL_ERR_FULL)
    return kc_err_set(err, r, "--screenshot: the renderer's readback failed (%s)", keel_result_name(r));
  /* The sizes come from the plugin: an image no renderer can draw is
   * refused before it sizes an allocation. */
  if (w == 0 || h == 0 || w > READBACK_MAX || h > READBACK_MAX)
    return kc_err_set(err, KEEL_ERR_BACKEND,
                      "--screenshot: renderer '%s' says its frame is %ux%u pixels (expected 1..%u each); not written",
                      e->renderer_name, w, h, READBACK_MAX);
  size_t size = (size_t)w * h * 4u;
  uint8_t *pixels = malloc(size);
  if (!pixels) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "--screenshot: no memory for a %ux%u image", w, h);
  uint32_t w2 = 0, h2 = 0;
  r = e->readback->readback_rgba8(e->renderer, pixels, size, &w2, &h2);
  if (r == KEEL_OK && (w2 != w || h2 != h))
    r = kc_err_set(err, KEEL_ERR_BACKEND,
                   "--screenshot: renderer '%s' read back %ux%u pixels after saying %ux%u; not written",
                   e->renderer_name, w2, h2, w, h);
  else if (r == KEEL_OK)
    r = kc_png_write_rgba8(path, pixels, w, h, err);
  else
    kc_err_set(err, r, "--screenshot: the renderer's readback failed (%s)", keel_result_name(r));
  free(pixels);
  if (r == KEEL_OK) {
    e->screenshot_taken = true;
    kc_log_write(KC_LOG_INFO, "screenshot: frame %" PRIu64 " (%ux%u) written to %s", e->frame, w, h, path);
  }
  return r;
}

bool kc_engine_has_readback(const kc_engine *e) { return e->readback != NULL; }
const char *kc_engine_renderer_name(const kc_engine *e) { return e->renderer_name; }
uint64_t kc_engine_frames_limit(const kc_engine *e) { return e->frames_limit; }

/* The frame trace's counter tracks: live entities, and the commands
 * drained this frame (counted from the frame's start: `before`). */
static uint64_t commands_drained(const kc_engine *e) {
  kc_script_worker_stats ws;
  kc_script_worker_stats_get(e->worker, &ws);
  return ws.commands;
}

static void trace_counters(kc_engine *e, uint64_t before) {
  KC_TRACE_COUNTER("entities", (double)kc_world_count(e->world, KEEL_OBJECT_ENTITY));
  KC_TRACE_COUNTER("commands", (double)(commands_drained(e) - before));
  kc_script_worker_fill f;
  kc_script_worker_fill_get(e->worker, &f);
  KC_TRACE_COUNTER("command_queue", (double)f.commands);
}

/* ---- step 1: the window, input, record and replay ---- */

/* The renderer and the screen layer follow the window's framebuffer; while
 * it is minimised (or 0 x 0) nothing is drawn and the game keeps ticking. */
static void follow_window_size(kc_engine *e) {
  bool minimised = kc_platform_minimised(e->platform);
  if (minimised != e->minimised)
    kc_log_write(KC_LOG_INFO, minimised ? "window minimised: drawing paused, the game keeps ticking"
                                        : "window restored: drawing resumed");
  e->minimised = minimised;
  uint32_t w, h;
  kc_platform_framebuffer_size(e->platform, &w, &h);
  if (!w || !h || (w == e->draw_width && h == e->draw_height)) return;
  kc_log_write(KC_LOG_INFO, "window resized to %ux%u", w, h);
  keel_result r = e->rapi->resize ? e->rapi->resize(e->renderer, w, h) : KEEL_OK;
  if (r != KEEL_OK)
    kc_log_write(KC_LOG_ERROR, "renderer %s: resize to %ux%u failed: %s", e->renderer_name, w, h,
                 keel_result_name(r));
  kc_render_set_size(e->render, w, h);
  e->draw_width = w;
  e->draw_height = h;
}

/* DESIGN §3 step 1: the window's events (or the replay's next frame) become
 * this frame's input sample, which is recorded and added into the next
 * tick's input. Returns false when the run stops before this frame: the
 * window was closed, Escape was pressed, or the replay has no more frames
 * (so a replay stops where the recorded run stopped). */
static bool begin_frame(kc_engine *e) {
  if (e->platform) {
    kc_platform_poll(e->platform, e->replay ? NULL : &e->in);
    const char *why = kc_platform_quit_reason(e->platform);
    if (why) {
      kc_log_write(KC_LOG_INFO, "quit: %s, after %" PRIu64 " frames", why, e->frame);
      return false;
    }
    follow_window_size(e);
  }
  if (e->replay) {
    if (e->frame >= e->replay->count) {
      kc_log_write(KC_LOG_INFO, "input replay finished after %" PRIu64 " frames (%s)", e->frame, e->replay->path);
      return false;
    }
    kc_input_set_frame(&e->in, &e->replay->frames[e->frame]);
  }
  keel_input_state sample;
  kc_input_end_frame(&e->in, &sample);
  if (e->recorder && !e->recorder_failed) {
    kc_err rerr;
    if (kc_input_recorder_write(e->recorder, e->frame, &sample, &rerr) != KEEL_OK) {
      e->recorder_failed = true;
      kc_log_write(KC_LOG_ERROR, "%s", rerr.msg);
    }
  }
  return true;
}

/* The game's name for the title: its directory (samples/orbit → orbit). */
static void game_name(const kc_engine *e, char *out, size_t cap) {
  if (!e->script_plugin || !e->script_main[0]) {
    snprintf(out, cap, "%s", e->script_name);
    return;
  }
  char dir[KC_PATH_MAX];
  kc_path_dirname(e->script_main, dir, sizeof dir, NULL);
  const char *slash = strrchr(dir, '/');
  kc_copy_text(out, cap, slash && slash[1] ? slash + 1 : dir);
}

/* "orbit - keel (lua, vulkan) - 59.9 fps", refreshed once a second. */
static void update_title(kc_engine *e, uint64_t now, bool force) {
  if (!kc_platform_has_window(e->platform)) return;
  double secs = (double)(now - e->title_t0) / 1e9;
  if (!force && secs < 1.0) return;
  char game[128], title[400];
  game_name(e, game, sizeof game);
  if (force)
    snprintf(title, sizeof title, "%s - keel (%s, %s)", game, e->script_name, e->renderer_name);
  else
    snprintf(title, sizeof title, "%s - keel (%s, %s) - %.1f fps", game, e->script_name, e->renderer_name,
             (double)(e->frame - e->title_frames) / secs);
  kc_platform_set_title(e->platform, title);
  e->title_t0 = now;
  e->title_frames = e->frame;
}

static keel_result stop_worker(kc_engine *e, kc_err *err);
static void exec_release_pending(kc_engine *e);
static bool quit_requested(const kc_engine *e) { return e->opts.quit && *e->opts.quit; }

keel_result kc_engine_run(kc_engine *e, kc_err *err) {
  keel_result result = KEEL_OK;
  if (!e->init_waited) {
    /* The game's init() runs before the first frame; its commands are
     * applied while it runs. */
    e->init_waited = true;
    call_end c = wait_call(e, e->load_budget_ms, true, err);
    if (c == CALL_STUCK) result = KEEL_ERR_TIMEOUT;
    if (c == CALL_DONE) publish_ended_ticks(e);
    if (c != CALL_STUCK) exec_release_pending(e);
  }
  uint64_t start = kc_clock_now_ns();
  e->next_tick_ns = start;
  kc_frame_stats_interval_reset(&e->stats, start);
  uint64_t stats_every = e->stats_interval_s > 0 ? (uint64_t)(e->stats_interval_s * 1e9) : 0;
  uint64_t deadline = start;
  update_title(e, start, true);
  while (result == KEEL_OK && (e->frames_limit == 0 || e->frame < e->frames_limit)) {
    if (quit_requested(e)) {
      kc_log_write(KC_LOG_INFO, "quit requested after %" PRIu64 " frames", e->frame);
      break;
    }
    uint64_t t0 = kc_clock_now_ns();
    /* 1. begin: events and input; 2-6: the schedule. */
    kc_trace_frame(e->frame);
    bool traced = KC_TRACE_BEGIN_ARG("frame", "frame", e->frame);
    bool traced_events = KC_TRACE_BEGIN("events");
    bool go_on = begin_frame(e);
    KC_TRACE_END(traced_events);
    if (!go_on) {
      KC_TRACE_END(traced);
      break;
    }
    e->frame_t0 = t0;
    e->frame_due = e->frame_ns ? deadline : t0;
    e->frame_result = KEEL_OK;
    /* A failing system is counted where it failed (renderer, world, script);
     * the frame goes on. */
    uint64_t commands_before = traced ? commands_drained(e) : 0;
    kc_schedule_run(e->schedule, e->pool, e, NULL);
    if (traced) trace_counters(e, commands_before);
    KC_TRACE_END(traced);
    if (e->frame_result != KEEL_OK) {
      result = kc_err_set(err, e->frame_result, "%s", e->frame_err.msg);
      break;
    }
    if ((result = render_policy(e, err)) != KEEL_OK) break;
    e->frame++;
    if (e->opts.screenshot_path && e->frame == e->opts.screenshot_frame &&
        (result = take_screenshot(e, err)) != KEEL_OK)
      break;
    uint64_t t1 = kc_clock_now_ns();
    kc_frame_stats_add(&e->stats, t1 - t0);
    if (stats_every && t1 - e->stats.interval_start_ns >= stats_every) stats_line(e, t1);
    update_title(e, t1, false);
    if (e->frame_ns) {
      deadline += e->frame_ns;
      if (deadline < t1) deadline = t1; /* late: do not try to catch up */
    }
    if (!e->lockstep) kc_script_worker_expect_trigger(e->worker, expected_trigger_ns(e, e->frame_ns ? deadline : t1));
    if (e->frame_ns) kc_clock_sleep_until_precise_ns(deadline, 200000);
  }
  kc_script_worker_expect_trigger(e->worker, 0);
  e->run_ns = kc_clock_now_ns() - start;
  if (result == KEEL_OK && e->opts.screenshot_path && !e->screenshot_taken) {
    if (e->opts.screenshot_frame == 0 && e->frame > 0)
      result = take_screenshot(e, err);
    else
      result = kc_err_set(err, KEEL_ERR_WRONG_STATE, "--screenshot-frame %" PRIu64 ": the run ended after %" PRIu64
                          " frames, no screenshot written", e->opts.screenshot_frame, e->frame);
  }
  /* Let the last tick land so the final state and hash are complete; a
   * quit does not wait for it (the stop interrupts it), nor does a tick the
   * watchdog already interrupted in vain. */
  uint64_t tick = 0;
  bool interrupted = kc_script_worker_phase(e->worker, &tick, NULL) == KC_WORKER_TICK && e->tick_warned == tick + 1;
  if (result == KEEL_OK && !quit_requested(e) && !interrupted) {
    kc_err werr;
    if (wait_call(e, e->tick_budget_ms, true, &werr) == CALL_DONE) publish_ended_ticks(e);
  } else if (kc_script_worker_drain(e->worker)) {
    publish_ended_ticks(e);
  }
  e->final_hash = kc_world_hash(e->world);
  /* shutdown() belongs to the run: its errors are in the summary. */
  kc_err serr;
  kc_err_clear(&serr);
  if (stop_worker(e, &serr) != KEEL_OK) {
    if (result == KEEL_OK)
      result = kc_err_set(err, serr.code, "%s", serr.msg);
    else
      kc_log_write(KC_LOG_ERROR, "%s", serr.msg);
  }
  return result;
}

/* ---- one-off scripts ---- */

typedef struct exec_job {
  kc_engine *engine;
  uint64_t seq;
  struct exec_job *next; /* while it waits for init() */
  char code[];
} exec_job;

/* On a job worker: runs the code on one of the runtime's pool VMs, never
 * the game's, and hands the result to the main thread. */
static void exec_run(void *user, uint32_t worker) {
  (void)worker;
  exec_job *j = user;
  kc_engine *e = j->engine;
  exec_result res = {.seq = j->seq + 1}; /* printed from 1 */
  keel_message msg = {{0}};
  res.result = e->script.api->oneoff_run(e->script.vm, j->code, &msg);
  kc_copy_text(res.text, sizeof res.text, msg.text);
  free(j);
  if (!kc_actionq_try_push(&e->actions, &res))
    kc_log_write(KC_LOG_ERROR, "exec %" PRIu64 ": result dropped, %zu results already wait for the main thread",
                 res.seq, kc_actionq_capacity(&e->actions));
}

/* Submits a job made by kc_engine_exec. exec_lock held. */
static keel_result exec_submit(kc_engine *e, exec_job *j, kc_err *err) {
  keel_job_desc job = {.fn = exec_run, .user = j};
  keel_result r = kc_pool_submit(e->pool, &job, 1, &e->exec_jobs[j->seq % EXEC_MAX_IN_FLIGHT], err);
  if (r != KEEL_OK) free(j);
  return r;
}

keel_result kc_engine_exec(kc_engine *e, const char *code, kc_err *err) {
  if (!code) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "exec: no code");
  if (!e->script_plugin || !e->script.vm)
    return kc_err_set(err, KEEL_ERR_UNSUPPORTED, "exec: the script runtime '%s' runs no one-off scripts",
                      e->script_name);
  size_t len = strlen(code);
  exec_job *j = malloc(sizeof *j + len + 1);
  if (!j) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "exec: out of memory");
  j->engine = e;
  memcpy(j->code, code, len + 1);
  pthread_mutex_lock(&e->exec_lock);
  /* Back-pressure instead of a dropped result: at most EXEC_MAX_IN_FLIGHT
   * one-offs are running or have a result the main thread has not printed
   * yet, which the result queue always has room for. */
  if (e->exec_seq - atomic_load_explicit(&e->exec_printed, memory_order_acquire) >= EXEC_MAX_IN_FLIGHT) {
    pthread_mutex_unlock(&e->exec_lock);
    free(j);
    e->exec_refused++;
    return kc_err_set(err, KEEL_ERR_FULL, "exec: %d one-off scripts are still running or waiting to be printed",
                      EXEC_MAX_IN_FLIGHT);
  }
  j->seq = e->exec_seq++;
  keel_result r = KEEL_OK;
  if (!e->init_done) {
    /* One-offs run after the game's init(), which may still be running. */
    j->next = NULL;
    *e->exec_pending_tail = j;
    e->exec_pending_tail = &j->next;
  } else if ((r = exec_submit(e, j, err)) != KEEL_OK) {
    e->exec_seq--;
  }
  pthread_mutex_unlock(&e->exec_lock);
  return r;
}

/* Submits the one-offs that waited for init(). Main. */
static void exec_release_pending(kc_engine *e) {
  pthread_mutex_lock(&e->exec_lock);
  e->init_done = true;
  exec_job *j = e->exec_pending;
  e->exec_pending = NULL;
  e->exec_pending_tail = &e->exec_pending;
  while (j) {
    exec_job *next = j->next;
    kc_err err;
    uint64_t seq = j->seq;
    if (exec_submit(e, j, &err) != KEEL_OK) {
      kc_log_write(KC_LOG_ERROR, "exec %" PRIu64 ": %s", seq + 1, err.msg);
      atomic_fetch_add_explicit(&e->exec_printed, 1, memory_order_release);
    }
    j = next;
  }
  pthread_mutex_unlock(&e->exec_lock);
}

/* Waits for every one-off still running: they use the runtime's VMs. A
 * one-off stops at its own budget, so the wait is bounded like a tick's;
 * one stuck in a native call past that is given up with the engine. With
 * one job thread the main thread runs them itself and must wait. */
static bool exec_wait_all(kc_engine *e) {
  if (!e->pool) return true;
  bool ok = true;
  pthread_mutex_lock(&e->exec_lock);
  uint64_t give_up = kc_clock_now_ns() + call_bound_ns(e->tick_budget_ms) + GRACE_NS;
  for (int i = 0; i < EXEC_MAX_IN_FLIGHT && ok; i++) {
    if (kc_pool_worker_count(e->pool) == 1) {
      kc_pool_wait(e->pool, e->exec_jobs[i], NULL);
      continue;
    }
    while (!kc_pool_done(e->pool, e->exec_jobs[i])) {
      if (kc_clock_now_ns() >= give_up) {
        kc_log_write(KC_LOG_ERROR, "a one-off script has not ended %.1f s after its budget (stuck in native code?); "
                     "it is given up", (double)(call_bound_ns(e->tick_budget_ms) + GRACE_NS) / 1e9);
        ok = false;
        break;
      }
      kc_pool_run_main_jobs(e->pool);
      kc_clock_sleep_ns(1000000);
    }
  }
  pthread_mutex_unlock(&e->exec_lock);
  /* Print what arrived meanwhile. */
  kc_system_ctx ctx = {.frame = e};
  sys_actions(&ctx);
  return ok;
}

/* Ends the script worker: one-offs first (they use the runtime), then the
 * running call is interrupted, shutdown() gets [script] shutdown_timeout_ms,
 * the runtime is destroyed and the thread joined. A thread that does not
 * come back is given up: the engine is then never freed and err says why.
 * Main. */
static keel_result stop_worker(kc_engine *e, kc_err *err) {
  if (e->worker_stopped) return KEEL_OK;
  e->worker_stopped = true;
  if (!e->worker) return KEEL_OK;
  bool execs_done = exec_wait_all(e);
  kc_script_worker_stop_opts o = {.call_ns = 0, .shutdown_ns = (uint64_t)e->shutdown_timeout_ms * 1000000ull,
                                  .grace_ns = GRACE_NS};
  char why[KC_ERR_MSG_MAX - 64];
  if (!execs_done) {
    e->abandoned = true;
    return kc_err_set(err, KEEL_ERR_TIMEOUT, "script runtime '%s': a one-off script is stuck; exiting without it",
                      e->script_name);
  }
  if (!kc_script_worker_stop(e->worker, &o, why, sizeof why)) {
    e->abandoned = true;
    return kc_err_set(err, KEEL_ERR_TIMEOUT, "script runtime '%s': %s", e->script_name, why);
  }
  return KEEL_OK;
}

bool kc_engine_abandoned(const kc_engine *e) { return e && e->abandoned; }

/* ---- reporting ---- */


static void report_fill(const kc_engine *e, report *r) {
  memset(r, 0, sizeof *r);
  kc_script_worker_stats_get(e->worker, &r->ws);
  kc_world_metrics_get(e->world, &r->wm);
  kc_render_stats_get(e->render, &r->rs);
  r->renderer.struct_size = KEEL_STRUCT_SIZE(keel_renderer_stats);
  if (e->rapi->stats) e->rapi->stats(e->renderer, &r->renderer);
  r->seconds = (double)e->run_ns / 1e9;
  r->fps = r->seconds > 0 ? (double)e->frame / r->seconds : 0;
  r->script_errors = atomic_load(&((kc_engine *)e)->script.errors);
  r->interrupts = atomic_load(&((kc_engine *)e)->script.interrupts);
  r->errors_total = r->ws.init_errors + r->ws.tick_errors + r->ws.shutdown_errors + r->ws.commands_failed +
                    r->wm.swap_errors + r->wm.swap_timeouts + r->rs.errors + r->renderer.errors;
}

/* Refusals of each queue when full. */
static void queue_refusals(const kc_engine *e, const report *r, uint64_t out[QUEUE_COUNT]) {
  out[QUEUE_COMMANDS] = r->ws.commands_full;
  out[QUEUE_CALLBACKS] = r->ws.callbacks_full;
  out[QUEUE_RESULTS] = e->exec_refused;
}

/* Plain words, so the summary reads without docs/runner.md: the count and
 * then what it counts. "Swaps" are the world's state-buffer swaps (one per
 * kind of object at each publication); a swap with nothing changed is
 * skipped, which is normal. */
void kc_engine_print_summary(const kc_engine *e, FILE *out) {
  report r;
  report_fill(e, &r);
  fprintf(out,
          "keel: %" PRIu64 " frames in %.2f s (%.1f fps); main-thread frame time p50 %.3f ms, p99 %.3f ms, max %.3f ms\n"
          "keel: renderer %s, script %s%s: %" PRIu64 " ticks, %" PRIu64 " script errors%s; %" PRIu64
          " frames found the script still busy when a tick was due (they drew the previous state)\n"
          "keel: %u entities; %" PRIu64 " commands from the script (%" PRIu64 " failed, %" PRIu64
          " refused because the queue was full); %" PRIu64 " callbacks\n"
          "keel: world state: %" PRIu64 " buffer swaps published, %" PRIu64
          " skipped because nothing had changed; %" PRIu64 " records copied, %.1f%% of entities changed per swap\n"
          "keel: errors: %" PRIu64 " in all = %" PRIu64 " failed ticks (init and shutdown included) + %" PRIu64
          " failed commands + %" PRIu64
          " failed state swaps + %" PRIu64 " render errors\n"
          "keel: world hash %016" PRIx64 "\n",
          e->frame, r.seconds, r.fps, kc_frame_stats_percentile_ms(&e->stats, 0.5),
          kc_frame_stats_percentile_ms(&e->stats, 0.99), (double)e->stats.max_ns / 1e6, e->renderer_name,
          e->script_name, e->lockstep ? " (lockstep)" : "", r.ws.ticks, r.script_errors,
          r.ws.shutdown_errors ? " (shutdown() failed)" : "", e->skips,
          kc_world_count(e->world, KEEL_OBJECT_ENTITY), r.ws.commands, r.ws.commands_failed, r.ws.commands_full,
          r.ws.callbacks_posted, r.wm.swaps, r.wm.skipped_swaps, r.wm.records_copied,
          100.0 * r.wm.entities.dirty_ratio_avg, r.errors_total, r.ws.init_errors + r.ws.tick_errors + r.ws.shutdown_errors,
          r.ws.commands_failed,
          r.wm.swap_errors + r.wm.swap_timeouts, r.rs.errors + r.renderer.errors, e->final_hash);
  if (e->watch)
    fprintf(out, "keel: hot reload: %" PRIu64 " reloads, %" PRIu64 " of them failed and kept the old code\n",
            r.ws.reloads, r.ws.reload_errors);
  uint64_t refused[QUEUE_COUNT];
  queue_refusals(e, &r, refused);
  fprintf(out, "keel: queues, most held of capacity (refused when full): commands %" PRIu64 "/%" PRIu64 " (%" PRIu64
          "), callbacks %" PRIu64 "/%" PRIu64 " (%" PRIu64 "), one-off results %" PRIu64 "/%" PRIu64 " (%" PRIu64 ")\n",
          e->queues[0].high_water, e->queues[0].capacity, refused[0], e->queues[1].high_water, e->queues[1].capacity,
          refused[1], e->queues[2].high_water, e->queues[2].capacity, refused[2]);
}

keel_result kc_engine_write_stats_json(const kc_engine *e, const char *path, kc_err *err) {
  FILE *f = kc_path_open_output(path, NULL, err);
  if (!f) return err->code;
  report r;
  report_fill(e, &r);
  fprintf(f, "{\n  \"frames\": %" PRIu64 ",\n  \"seconds\": %.6f,\n  \"fps\": %.3f,\n", e->frame, r.seconds, r.fps);
  fprintf(f, "  \"frame_time_ms\": {\"p50\": %.4f, \"p99\": %.4f, \"max\": %.4f, \"mean\": %.4f},\n",
          kc_frame_stats_percentile_ms(&e->stats, 0.5), kc_frame_stats_percentile_ms(&e->stats, 0.99),
          (double)e->stats.max_ns / 1e6, e->frame ? (double)e->stats.total_ns / 1e6 / (double)e->frame : 0.0);
  fprintf(f, "  \"script\": {\"runtime\": ");
  kc_json_write_string(f, e->script_name);
  fprintf(f, ", \"lockstep\": %s, \"ticks\": %" PRIu64 ", \"skips\": %" PRIu64 ", \"tick_errors\": %" PRIu64
             ", \"init_errors\": %" PRIu64 ", \"shutdown_errors\": %" PRIu64
             ", \"errors\": %" PRIu64 ", \"interrupts\": %" PRIu64 ", \"last_tick_ms\": %.4f, \"wakes\": %" PRIu64
             ", \"hot_reload\": %s, \"reloads\": %" PRIu64 ", \"reload_errors\": %" PRIu64 "},\n",
          e->lockstep ? "true" : "false", r.ws.ticks, e->skips, r.ws.tick_errors, r.ws.init_errors,
          r.ws.shutdown_errors, r.script_errors, r.interrupts,
          (double)r.ws.last_tick_ns / 1e6, r.ws.wakes, e->watch ? "true" : "false", r.ws.reloads,
          r.ws.reload_errors);
  fprintf(f, "  \"swap\": {\"swaps\": %" PRIu64 ", \"skipped\": %" PRIu64 ", \"records_copied\": %" PRIu64
             ", \"dirty_ratio_avg\": %.4f, \"errors\": %" PRIu64 ", \"timeouts\": %" PRIu64 "},\n",
          r.wm.swaps, r.wm.skipped_swaps, r.wm.records_copied, r.wm.entities.dirty_ratio_avg, r.wm.swap_errors,
          r.wm.swap_timeouts);
  fprintf(f, "  \"commands\": {\"total\": %" PRIu64 ", \"applied\": %" PRIu64 ", \"failed\": %" PRIu64
             ", \"refused_full\": %" PRIu64 "},\n",
          r.ws.commands, r.wm.commands_applied, r.ws.commands_failed, r.ws.commands_full);
  fprintf(f, "  \"callbacks\": {\"posted\": %" PRIu64 ", \"overflow\": %" PRIu64 "},\n", r.ws.callbacks_posted,
          r.ws.events_overflow);
  uint64_t refused[QUEUE_COUNT];
  queue_refusals(e, &r, refused);
  static const char *const keys[QUEUE_COUNT] = {"commands", "callbacks", "oneoff_results"};
  fprintf(f, "  \"queues\": {");
  for (int q = 0; q < QUEUE_COUNT; q++)
    fprintf(f, "%s\"%s\": {\"capacity\": %" PRIu64 ", \"high_water\": %" PRIu64 ", \"refused\": %" PRIu64
               ", \"warnings\": %" PRIu64 "}",
            q ? ", " : "", keys[q], e->queues[q].capacity, e->queues[q].high_water, refused[q], e->queues[q].warnings);
  fprintf(f, "},\n");
  fprintf(f, "  \"errors\": {\"total\": %" PRIu64 ", \"script\": %" PRIu64 ", \"commands\": %" PRIu64
             ", \"publish\": %" PRIu64 ", \"render\": %" PRIu64 ", \"renderer\": %" PRIu64 "},\n",
          r.errors_total, r.script_errors, r.ws.commands_failed, e->publish_errors, r.rs.errors,
          r.renderer.errors);
  fprintf(f, "  \"plugins\": {\"renderer\": ");
  kc_json_write_string(f, e->renderer_name);
  fprintf(f, ", \"renderer_file\": ");
  kc_json_write_string(f, e->renderer_plugin ? e->renderer_plugin->file : "");
  fprintf(f, ", \"script\": ");
  kc_json_write_string(f, e->script_name);
  fprintf(f, ", \"script_file\": ");
  kc_json_write_string(f, e->script_plugin ? e->script_plugin->file : "");
  fprintf(f, "},\n");
  fprintf(f, "  \"renderer\": {\"frames\": %" PRIu64 ", \"passes\": %" PRIu64 ", \"encoders\": %" PRIu64
             ", \"draws\": %" PRIu64 ", \"draw_calls\": %" PRIu64 ", \"errors\": %" PRIu64
             ", \"debug_messages\": %" PRIu64 ", \"meshes\": %u, \"lights\": %u, \"lights_dropped\": %" PRIu64 "},\n",
          r.renderer.frames, r.renderer.passes, r.renderer.encoders, r.renderer.draws, r.renderer.draw_calls,
          r.renderer.errors, r.renderer.debug_messages, r.renderer.meshes, r.rs.last_lights, r.rs.lights_dropped);
  fprintf(f, "  \"world\": {\"entities\": %u, \"cameras\": %u, \"lights\": %u, \"hash\": \"%016" PRIx64 "\"}\n}\n",
          kc_world_count(e->world, KEEL_OBJECT_ENTITY), kc_world_count(e->world, KEEL_OBJECT_CAMERA),
          kc_world_count(e->world, KEEL_OBJECT_LIGHT), e->final_hash);
  if (fclose(f) != 0) return kc_err_set(err, KEEL_ERR_IO, "%s: write failed", path);
  return KEEL_OK;
}

void kc_engine_destroy(kc_engine *e) {
  if (!e) return;
  for (size_t i = 0; i < kc_cvar_count(); i++) kc_cvar_remove_handler(kc_cvar_name(kc_cvar_at(i)), on_cvar_change, e);
  kc_err err;
  if (stop_worker(e, &err) != KEEL_OK) kc_log_write(KC_LOG_ERROR, "%s", err.msg);
  /* A stuck thread still uses the world, the pool and the plugins: leave
   * everything to the process's exit. */
  if (e->abandoned) return;
  for (exec_job *j = e->exec_pending, *next; j; j = next) {
    next = j->next;
    free(j);
  }
  kc_script_worker_free(e->worker);
  kc_watch_destroy(e->watch);
  kc_schedule_destroy(e->schedule);
  kc_render_destroy(e->render);
  kc_host_release(&e->script_host);
  kc_host_release(&e->renderer_host);
  if (e->renderer) e->rapi->destroy(e->renderer);
  kc_platform_destroy(e->platform); /* after the renderer: its surface or context lives on the window */
  kc_plugin_close(e->renderer_plugin);
  kc_plugin_close(e->script_plugin);
  kc_world_destroy(e->world);
  kc_pool_destroy(e->pool);
  kc_actionq_destroy(&e->actions);
  pthread_mutex_destroy(&e->exec_lock);
  kc_frame_stats_free(&e->stats);
  free(e);
}
