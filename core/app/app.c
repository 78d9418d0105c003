/* See app.h. Startup order matters: the log first (so everything after can
 * log), then the engine's cvars (engine.ini's [cvars] is checked against
 * them), then engine.ini and the --set overrides, all of whose problems are
 * printed together before the process gives up. */
#include "app.h"

#include "app/preflight.h"

#include "base/config.h"
#include "base/cvar.h"
#include "base/log.h"
#include "base/malloc_tune.h"
#include "base/path.h"
#include "base/setting.h"
#include "base/trace.h"
#include "cli.h"
#include "frame/engine.h"
#include "platform/input_record.h"
#include "plugin/loader.h"
#include "sched/schedule.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef KEEL_VERSION_STRING
#error "KEEL_VERSION_STRING is set by core/CMakeLists.txt"
#endif

static int usage_error(const char *msg) {
  fprintf(stderr, "keel: %s\nRun 'keel --help' for usage.\n", msg);
  return KC_EXIT_USAGE;
}

/* Prints every recorded configuration problem; they already carry
 * file:line or the --set that caused them. */
static int config_errors(const kc_config *cfg) {
  size_t n = kc_config_error_count(cfg);
  for (size_t i = 0; i < n; i++) fprintf(stderr, "%s\n", kc_config_error(cfg, i));
  fprintf(stderr, "keel: %zu configuration error%s\n", n, n == 1 ? "" : "s");
  return KC_EXIT_USAGE;
}

/* Builds the effective configuration from defaults, the file and the
 * overrides, recording every problem in it (finish_configuration prints
 * them, together with the problems found once the plugins are known).
 * Returns an exit code for what stops everything at once (no file, out of
 * memory); *out is set on success. */
static int load_configuration(const kc_cli_options *opts, kc_config **out) {
  kc_err err;
  *out = NULL;
  if (kc_cvar_register_engine(&err) != KEEL_OK) {
    fprintf(stderr, "keel: %s\n", err.msg);
    return KC_EXIT_FAILURE;
  }
  kc_config *cfg = kc_config_create();
  if (!cfg) {
    fprintf(stderr, "keel: out of memory\n");
    return KC_EXIT_FAILURE;
  }
  char data_dir[KC_PATH_MAX], default_ini[KC_PATH_MAX];
  if (kc_path_data_dir(data_dir, sizeof data_dir, &err) == KEEL_OK)
    kc_config_set_default_dir(cfg, data_dir, NULL);
  else
    KC_LOG_WARN("%s; relative default paths resolve against the current directory", err.msg);

  const char *path = opts->config_path;
  bool fallback_ok = false; /* the implicit default file may be missing */
  if (!path) {
    if (kc_path_default_config(default_ini, sizeof default_ini, &err) != KEEL_OK) {
      fprintf(stderr, "keel: %s\n", err.msg);
      kc_config_destroy(cfg);
      return KC_EXIT_USAGE;
    }
    path = default_ini;
    fallback_ok = true;
  }
  struct stat st;
  if (fallback_ok && stat(path, &st) != 0 && errno == ENOENT) {
    KC_LOG_WARN("no engine.ini at %s; using built-in defaults", path);
  } else {
    keel_result r = kc_config_load_file(cfg, path, &err);
    if (r != KEEL_OK && r != KEEL_ERR_PARSE) {
      fprintf(stderr, "keel: %s\n", err.msg);
      kc_config_destroy(cfg);
      return KC_EXIT_USAGE;
    }
  }
  /* Every override is tried even after a bad one, so all problems show at once. */
  for (size_t i = 0; i < opts->override_count; i++)
    kc_config_set_override(cfg, opts->overrides[i].assignment, opts->overrides[i].origin, NULL);
  *out = cfg;
  return KC_EXIT_OK;
}

/* Prints every problem recorded (exit 2), or applies the log level and the
 * [cvars] of a configuration without any. */
static int finish_configuration(kc_config *cfg) {
  if (kc_config_error_count(cfg) > 0) return config_errors(cfg);
  kc_log_level level;
  if (!kc_log_level_from_env() && kc_log_parse_level(kc_config_get_string(cfg, "engine", "log_level"), &level))
    kc_log_set_level(level);
  kc_err err;
  if (kc_config_apply_cvars(cfg, &err) != KEEL_OK) {
    fprintf(stderr, "keel: %s\n", err.msg);
    return KC_EXIT_USAGE;
  }
  return KC_EXIT_OK;
}

/* What --check-config adds under a value when the run will not use it as
 * shown: whether the run is headless, and the frames it will make. */
static void note_run(kc_config *cfg) {
  char why[256];
  bool headless = kc_engine_resolve_headless(cfg, -1);
  if (strcmp(kc_config_get_string(cfg, "engine", "headless"), "auto") == 0) {
    if (headless) {
      kc_engine_window_available(why, sizeof why);
      kc_config_note(cfg, "engine", "headless", "this run: headless (%s)", why);
    } else {
      kc_config_note(cfg, "engine", "headless", "this run: in a window");
    }
  }
  uint64_t frames = kc_engine_resolve_frames(cfg, -1, headless);
  if ((int64_t)frames != kc_config_get_int(cfg, "engine", "frames"))
    kc_config_note(cfg, "engine", "frames",
                   "this run: %llu frames (engine.frames is not set and the run is headless; 0 here or on the "
                   "command line means until quit)",
                   (unsigned long long)frames);
}

/* The checks that need the plugins on the search path (preflight.h). */
static int preflight(kc_config *cfg, const kc_plugin_loader *loader, kc_plugin_catalog *catalog) {
  kc_err err;
  if (kc_app_preflight(cfg, loader, catalog, &err) != KEEL_OK) {
    fprintf(stderr, "keel: %s\n", err.msg);
    return KC_EXIT_FAILURE;
  }
  return KC_EXIT_OK;
}

static int print_configuration(const kc_config *cfg) {
  kc_err err;
  if (kc_config_write_effective(cfg, stdout, &err) != KEEL_OK) {
    fprintf(stderr, "keel: %s\n", err.msg);
    return KC_EXIT_FAILURE;
  }
  return KC_EXIT_OK;
}

/* The plugin search path, in order: --plugin-path, [plugins] path (relative
 * to its engine.ini), KEEL_PLUGIN_PATH, then the build's or install's plugin
 * directory. Never the current directory unless one of them names it. */
static int build_loader(const kc_cli_options *opts, const kc_config *cfg, kc_plugin_loader *loader) {
  kc_err err;
  kc_plugin_loader_init(loader);
  for (size_t i = 0; i < opts->plugin_path.count; i++)
    if (kc_plugin_loader_add_dir(loader, opts->plugin_path.items[i], &err) != KEEL_OK) goto fail;
  for (size_t i = 0; i < kc_config_list_count(cfg, "plugins", "path"); i++) {
    char dir[KC_PATH_MAX];
    const char *item = kc_config_list_item(cfg, "plugins", "path", i);
    if (kc_config_resolve_path(cfg, "plugins", "path", item, dir, sizeof dir, &err) != KEEL_OK ||
        kc_plugin_loader_add_dir(loader, dir, &err) != KEEL_OK)
      goto fail;
  }
  const char *env = getenv("KEEL_PLUGIN_PATH");
  if (env && kc_plugin_loader_add_dirs(loader, env, &err) != KEEL_OK) goto fail;
  char builtin[KC_PATH_MAX];
  if (kc_path_plugin_dir(builtin, sizeof builtin, &err) == KEEL_OK)
    kc_plugin_loader_add_dir(loader, builtin, NULL);
  else
    KC_LOG_WARN("%s; only the configured plugin directories are searched", err.msg);
  return KC_EXIT_OK;
fail:
  fprintf(stderr, "keel: plugin path: %s\n", err.msg);
  kc_plugin_loader_free(loader);
  return KC_EXIT_USAGE;
}

/* A plugin's settings under its entry: names only, or with --verbose one
 * line each with type, valid values, default and help. */
static void list_settings(const kc_plugin_info *p, bool verbose) {
  if (!p->setting_count) return;
  if (!verbose) {
    printf("    settings:");
    for (uint32_t i = 0; i < p->setting_count; i++) printf("%s %s", i ? "," : "", p->settings[i].name);
    printf(" (--verbose for details)\n");
    return;
  }
  printf("    settings ([plugin.%s] in engine.ini, --set plugin.%s.KEY=VALUE, the cvar %s.KEY while it runs):\n",
         p->name, p->name, p->name);
  for (uint32_t i = 0; i < p->setting_count; i++) {
    const keel_setting *s = &p->settings[i];
    char range[256];
    printf("      %s = %s (%s, %s): %s\n", s->name, s->default_value, kc_setting_type_name(s->type),
           kc_setting_describe(s, range, sizeof range), s->help);
  }
}

static int list_plugins(const kc_plugin_loader *loader, bool verbose) {
  kc_plugin_catalog cat = {0};
  kc_err err;
  if (kc_plugin_list(loader, &cat, &err) != KEEL_OK) {
    fprintf(stderr, "keel: %s\n", err.msg);
    return KC_EXIT_FAILURE;
  }
  printf("plugin search path:\n");
  for (size_t i = 0; i < loader->dir_count; i++) printf("  %zu. %s\n", i + 1, loader->dirs[i]);
  printf("%-12s %-9s %-9s %-5s %s\n", "NAME", "KIND", "VERSION", "ABI", "STATUS");
  for (size_t i = 0; i < cat.count; i++) {
    const kc_plugin_info *p = &cat.items[i];
    char abi[16] = "?";
    if (p->manifest_read) snprintf(abi, sizeof abi, "%u.%u", p->abi_major, p->abi_minor);
    printf("%-12s %-9s %-9s %-5s %s%s\n", p->name[0] ? p->name : "?", kc_plugin_kind_text(p->kind),
           p->version[0] ? p->version : "?", abi, p->shadowed ? "shadowed by an earlier directory" : kc_plugin_status_text(p->status),
           p->status != KC_PLUGIN_OK && p->message[0] ? ":" : "");
    if (p->status != KC_PLUGIN_OK && p->message[0]) printf("    %s\n", p->message);
    if (p->status == KC_PLUGIN_OK && p->message[0]) printf("    note: %s\n", p->message);
    if (p->description[0]) printf("    %s\n", p->description);
    printf("    %s\n", p->file);
    if (p->language[0]) printf("    runs %s games: [script] main is a %s file\n", p->language, p->file_extension);
    list_settings(p, verbose);
  }
  if (cat.count == 0) printf("(no keel_*.so plugin found)\n");
  kc_plugin_catalog_free(&cat);
  return KC_EXIT_OK;
}

static int dump_schedule(void) {
  kc_schedule *s = NULL;
  kc_err err;
  if (kc_engine_build_schedule(NULL, &s, &err) != KEEL_OK || kc_schedule_dump_file(s, stdout, &err) != KEEL_OK) {
    fprintf(stderr, "keel: %s\n", err.msg);
    kc_schedule_destroy(s);
    return KC_EXIT_FAILURE;
  }
  kc_schedule_destroy(s);
  return KC_EXIT_OK;
}

/* SIGINT / SIGTERM. Before the engine exists nothing needs cleaning up, so
 * the first signal ends the process at once. From kc_engine_create on, the
 * first asks the engine to stop (it polls quit_requested in every wait) and
 * a second ends the process at once, whatever the engine is doing. */
static volatile sig_atomic_t quit_requested;
static volatile sig_atomic_t quit_deferred;

static void on_signal(int sig) {
  if (quit_deferred && !quit_requested) {
    quit_requested = sig;
    return;
  }
  /* Only async-signal-safe calls from here. */
  static const char first[] = "keel: interrupted during start-up: exiting\n";
  static const char again[] = "keel: second signal: exiting at once without waiting for the engine\n";
  const char *msg = quit_deferred ? again : first;
  size_t len = quit_deferred ? sizeof again - 1 : sizeof first - 1;
  ssize_t w = write(STDERR_FILENO, msg, len);
  (void)w;
  _exit(128 + sig);
}

static void install_signal_handlers(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

/* Writes the --trace file, if asked for; false when it could not be
 * written (the message is printed). */
static bool write_trace(const kc_cli_options *opts) {
  kc_err err;
  if (!opts->trace || kc_trace_write(opts->trace, &err) == KEEL_OK) return true;
  fprintf(stderr, "keel: %s\n", err.msg);
  return false;
}

/* A thread stuck in native code still uses the engine: nothing may be
 * freed, so the process ends here with what it printed so far. The trace
 * is written (it shows where the thread went in) but not freed: the stuck
 * thread may still record into its buffer. */
static _Noreturn void exit_abandoned(const kc_cli_options *opts) {
  write_trace(opts);
  fflush(stdout);
  fflush(stderr);
  _exit(KC_EXIT_FAILURE);
}

/* The console: when stdin is a terminal, every line typed runs as a one-off
 * script. A thread of its own, so the frame loop never waits for input. */
typedef struct console {
  kc_engine *engine;
  pthread_t thread;
  _Atomic bool stop;
} console;

static void *console_main(void *arg) {
  console *c = arg;
  kc_log_set_thread_name("console");
  char line[4096];
  size_t used = 0;
  while (!atomic_load(&c->stop)) {
    struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = read(STDIN_FILENO, line + used, sizeof line - 1 - used);
    if (n <= 0) break; /* end of input: the game goes on */
    used += (size_t)n;
    char *nl;
    while ((nl = memchr(line, '\n', used)) != NULL) {
      *nl = '\0';
      kc_err err;
      if (line[0] && kc_engine_exec(c->engine, line, &err) != KEEL_OK) printf("[exec] %s\n", err.msg);
      size_t rest = used - (size_t)(nl + 1 - line);
      memmove(line, nl + 1, rest);
      used = rest;
    }
    if (used == sizeof line - 1) used = 0; /* a line too long: dropped */
  }
  return NULL;
}

/* DESIGN §7, measured in docs/rendering.md#malloc-tuning. */
static void tune_malloc(const kc_config *cfg) {
  switch (kc_malloc_tune(kc_config_get_bool(cfg, "engine", "malloc_tuning"))) {
    case KC_MALLOC_TUNED:
      KC_LOG_INFO("malloc: mmap threshold 32 MiB, trim threshold 2 GiB ([engine] malloc_tuning = true)");
      break;
    case KC_MALLOC_OFF: KC_LOG_INFO("malloc: glibc's default thresholds ([engine] malloc_tuning = false)"); break;
    case KC_MALLOC_TUNABLES_SET:
      KC_LOG_INFO("malloc: GLIBC_TUNABLES sets malloc tunables; [engine] malloc_tuning leaves them alone");
      break;
    case KC_MALLOC_REFUSED: KC_LOG_WARN("malloc: mallopt refused the thresholds; running with the defaults"); break;
  }
}

static int run_engine(const kc_cli_options *opts, const kc_config *cfg, const kc_plugin_loader *loader) {
  tune_malloc(cfg);
  kc_engine_options eo = {.config = cfg, .loader = loader, .frames = -1, .headless = -1, .lockstep = -1,
                          .quit = &quit_requested, .screenshot_path = opts->screenshot};
  if (opts->screenshot_frame) {
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(opts->screenshot_frame, &end, 10);
    if (!opts->screenshot) return usage_error("--screenshot-frame needs --screenshot FILE.png");
    if (errno || !end || *end || n == 0 || opts->screenshot_frame[0] == '-')
      return usage_error("--screenshot-frame: N must be a whole number of frames, 1 or more");
    eo.screenshot_frame = n;
  }
  kc_err err;
  kc_err_clear(&err);
  kc_trace_config tc = {.last_frame = KC_TRACE_FRAME_END};
  if (opts->trace_frames && !opts->trace) return usage_error("--trace-frames needs --trace FILE.json");
  if (opts->trace_frames && kc_trace_parse_frames(opts->trace_frames, &tc, &err) != KEEL_OK)
    return usage_error(err.msg);
  /* Both input files are checked before anything starts: a recording that
   * cannot be read, is not one or is cut short is a usage error. */
  kc_input_replay replay = {0};
  kc_input_recorder *recorder = NULL;
  if (opts->replay_input) {
    if (kc_input_replay_load(opts->replay_input, &replay, &err) != KEEL_OK) {
      fprintf(stderr, "keel: --replay-input %s\n", err.msg);
      return KC_EXIT_USAGE;
    }
    eo.replay_input = &replay;
  }
  if (opts->record_input) {
    if (kc_input_recorder_open(opts->record_input, &recorder, &err) != KEEL_OK) {
      fprintf(stderr, "keel: --record-input %s\n", err.msg);
      kc_input_replay_free(&replay);
      return KC_EXIT_USAGE;
    }
    eo.record_input = recorder;
  }
  /* Started before the engine, so start-up (the game's init) is in a trace from frame 0. */
  if (opts->trace && kc_trace_start(&tc, &err) != KEEL_OK) {
    fprintf(stderr, "keel: %s\n", err.msg);
    kc_input_recorder_close(recorder, NULL);
    kc_input_replay_free(&replay);
    return KC_EXIT_FAILURE;
  }
  kc_engine *engine = NULL;
  quit_deferred = 1;
  keel_result r = kc_engine_create(&eo, &engine, &err);
  if (r != KEEL_OK) {
    fprintf(stderr, "keel: %s\n", err.msg);
    kc_input_recorder_close(recorder, NULL);
    kc_input_replay_free(&replay);
    if (r == KEEL_ERR_TIMEOUT) exit_abandoned(opts); /* the runtime's create never returned */
    kc_trace_stop();
    /* No renderer, no script runtime, or no window for a headless = false run. */
    return r == KEEL_ERR_NOT_FOUND || r == KEEL_ERR_UNSUPPORTED ? KC_EXIT_NO_PLUGIN
           : r == KEEL_ERR_INVALID_ARGUMENT                    ? KC_EXIT_USAGE
                                                                : KC_EXIT_FAILURE;
  }
  if (opts->screenshot) {
    const char *why = NULL;
    char msg[512];
    uint64_t limit = kc_engine_frames_limit(engine);
    if (!kc_engine_has_readback(engine)) {
      snprintf(msg, sizeof msg,
               "--screenshot: renderer '%s' cannot read its frames back (no keel.renderer.readback/1); use one "
               "that can: vulkan, gl or null",
               kc_engine_renderer_name(engine));
      why = msg;
    } else if (limit && eo.screenshot_frame > limit) {
      snprintf(msg, sizeof msg, "--screenshot-frame %" PRIu64 ": the run stops after %" PRIu64 " frames",
               eo.screenshot_frame, limit);
      why = msg;
    }
    if (why) {
      kc_engine_destroy(engine);
      kc_trace_stop();
      kc_input_recorder_close(recorder, NULL);
      kc_input_replay_free(&replay);
      return usage_error(why);
    }
  }
  for (size_t i = 0; i < opts->exec.count; i++)
    if (kc_engine_exec(engine, opts->exec.items[i], &err) != KEEL_OK) fprintf(stderr, "keel: %s\n", err.msg);
  console con = {.engine = engine};
  bool console_on = isatty(STDIN_FILENO) && pthread_create(&con.thread, NULL, console_main, &con) == 0;
  int rc = KC_EXIT_OK;
  r = kc_engine_run(engine, &err);
  if (console_on) {
    atomic_store(&con.stop, true);
    pthread_join(con.thread, NULL);
  }
  if (r != KEEL_OK) {
    fprintf(stderr, "keel: %s\n", err.msg);
    rc = KC_EXIT_FAILURE;
  }
  kc_engine_print_summary(engine, stdout);
  if (opts->stats_json && kc_engine_write_stats_json(engine, opts->stats_json, &err) != KEEL_OK) {
    fprintf(stderr, "keel: %s\n", err.msg);
    rc = KC_EXIT_FAILURE;
  }
  if (kc_engine_abandoned(engine)) exit_abandoned(opts);
  kc_engine_destroy(engine);
  /* Every traced thread has been joined by now. */
  if (!write_trace(opts)) rc = KC_EXIT_FAILURE;
  kc_trace_stop();
  if (kc_input_recorder_close(recorder, &err) != KEEL_OK) {
    fprintf(stderr, "keel: %s\n", err.msg);
    rc = KC_EXIT_FAILURE;
  }
  kc_input_replay_free(&replay);
  return rc;
}

int kc_app_main(int argc, char **argv) {
  install_signal_handlers();
  kc_log_init();
  kc_cli_options opts;
  kc_err err;
  if (kc_cli_parse(argc, argv, &opts, &err) != KEEL_OK) {
    kc_cli_options_free(&opts);
    return usage_error(err.msg);
  }
  int rc = KC_EXIT_OK;
  kc_config *cfg = NULL;
  kc_plugin_loader loader;
  kc_plugin_loader_init(&loader);
  kc_plugin_catalog catalog = {0};
  switch (opts.action) {
    case KC_APP_HELP: kc_cli_print_help(stdout); break;
    case KC_APP_VERSION: printf("keel %s (plugin ABI %d.%d)\n", KEEL_VERSION_STRING, KEEL_ABI_MAJOR, KEEL_ABI_MINOR); break;
    case KC_APP_CHECK_CONFIG:
      rc = load_configuration(&opts, &cfg);
      if (rc == KC_EXIT_OK) rc = build_loader(&opts, cfg, &loader);
      if (rc == KC_EXIT_OK) rc = preflight(cfg, &loader, &catalog);
      if (rc == KC_EXIT_OK) rc = finish_configuration(cfg);
      if (rc == KC_EXIT_OK) {
        note_run(cfg);
        rc = print_configuration(cfg);
      }
      break;
    case KC_APP_DUMP_SCHEDULE: rc = dump_schedule(); break;
    case KC_APP_LIST_PLUGINS:
      rc = load_configuration(&opts, &cfg);
      if (rc == KC_EXIT_OK) rc = finish_configuration(cfg);
      if (rc == KC_EXIT_OK) rc = build_loader(&opts, cfg, &loader);
      if (rc == KC_EXIT_OK) rc = list_plugins(&loader, opts.verbose);
      break;
    case KC_APP_RUN:
      rc = load_configuration(&opts, &cfg);
      if (rc == KC_EXIT_OK) rc = build_loader(&opts, cfg, &loader);
      if (rc == KC_EXIT_OK) rc = preflight(cfg, &loader, &catalog);
      if (rc == KC_EXIT_OK) rc = finish_configuration(cfg);
      if (rc == KC_EXIT_OK) rc = run_engine(&opts, cfg, &loader);
      break;
  }
  kc_plugin_loader_free(&loader);
  kc_config_destroy(cfg);
  kc_plugin_catalog_free(&catalog); /* after cfg, which borrows its settings */
  kc_cli_options_free(&opts);
  kc_cvar_shutdown();
  return rc;
}
