/* See cli.h. Each option's kind says how its argument is stored, so later
 * flags (--frames N as an alias of --set engine.frames=N, --headless as
 * engine.headless=true, --stats-json FILE as a string field, --plugin-path
 * DIR as a repeatable list) are each one row in k_options. */
#include "cli.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum opt_kind {
  OPT_ACTION, /* sets opts->action to .action (highest wins) */
  OPT_FLAG,   /* sets the bool at .offset */
  OPT_STRING, /* stores the argument at .offset (const char *); last wins */
  OPT_LIST,   /* appends the argument to the kc_cli_strings at .offset */
  OPT_SET,    /* the argument is "section.key=value": a config override */
  OPT_ALIAS   /* a config override of .key with the argument, or with .value when the option takes none */
} opt_kind;

typedef struct opt {
  const char *name; /* long name, without "--" */
  char short_name;  /* 0 = none */
  const char *arg;  /* argument name for --help; NULL = takes no argument */
  opt_kind kind;
  kc_app_action action;
  size_t offset;
  const char *key;   /* OPT_ALIAS: "section.key" */
  const char *value; /* OPT_ALIAS without argument */
  const char *help;
} opt;

static const opt k_options[] = {
    {.name = "help", .short_name = 'h', .kind = OPT_ACTION, .action = KC_APP_HELP, .help = "show this help and exit"},
    {.name = "version", .short_name = 'V', .kind = OPT_ACTION, .action = KC_APP_VERSION,
     .help = "print the version and exit"},
    {.name = "config", .short_name = 'c', .arg = "FILE", .kind = OPT_STRING,
     .offset = offsetof(kc_cli_options, config_path),
     .help = "engine.ini to use (default: the one of this build or install, share/keel/engine.ini)"},
    {.name = "set", .short_name = 's', .arg = "SECTION.KEY=VALUE", .kind = OPT_SET,
     .help = "override one configuration key or cvar (cvars.NAME=VALUE) for this run; repeatable"},
    {.name = "check-config", .kind = OPT_ACTION, .action = KC_APP_CHECK_CONFIG,
     .help = "validate the configuration, print every effective value with its source, and exit"},
    {.name = "list-plugins", .kind = OPT_ACTION, .action = KC_APP_LIST_PLUGINS,
     .help = "list every plugin on the search path with its name, kind, version, ABI and status, "
             "without initialising any, and exit"},
    {.name = "verbose", .short_name = 'v', .kind = OPT_FLAG, .offset = offsetof(kc_cli_options, verbose),
     .help = "with --list-plugins: each plugin's settings in full (type, valid values, default, help)"},
    {.name = "dump-schedule", .kind = OPT_ACTION, .action = KC_APP_DUMP_SCHEDULE,
     .help = "print the frame's schedule (stages, and the batches of systems that run in parallel) and exit"},
    {.name = "plugin-path", .short_name = 'p', .arg = "DIR", .kind = OPT_LIST,
     .offset = offsetof(kc_cli_options, plugin_path),
     .help = "search DIR for plugins before [plugins] path, KEEL_PLUGIN_PATH and the built-in directory; "
             "repeatable"},
    {.name = "frames", .short_name = 'n', .arg = "N", .kind = OPT_ALIAS, .key = "engine.frames",
     .help = "stop after N frames (same as --set engine.frames=N)"},
    {.name = "headless", .kind = OPT_ALIAS, .key = "engine.headless", .value = "true",
     .help = "no window: render offscreen (same as --set engine.headless=true)"},
    {.name = "lockstep", .kind = OPT_ALIAS, .key = "engine.lockstep", .value = "true",
     .help = "one script tick per frame with a fixed dt, the main thread waiting for each "
             "(same as --set engine.lockstep=true)"},
    {.name = "exec", .short_name = 'e', .arg = "CODE", .kind = OPT_LIST, .offset = offsetof(kc_cli_options, exec),
     .help = "run CODE once on a one-off script VM after the game's init and print its result; repeatable. "
             "When stdin is a terminal, each line typed is run the same way"},
    {.name = "stats-json", .arg = "FILE", .kind = OPT_STRING, .offset = offsetof(kc_cli_options, stats_json),
     .help = "write the run's statistics to FILE as JSON at exit"},
    {.name = "screenshot", .arg = "FILE.png", .kind = OPT_STRING, .offset = offsetof(kc_cli_options, screenshot),
     .help = "write the last frame (or frame N of --screenshot-frame) as a PNG; needs a renderer with readback "
             "(exit 2 without one)"},
    {.name = "screenshot-frame", .arg = "N", .kind = OPT_STRING, .offset = offsetof(kc_cli_options, screenshot_frame),
     .help = "take the --screenshot after the N-th frame (1 = the first) instead of the last; the run goes on"},
    {.name = "trace", .arg = "FILE.json", .kind = OPT_STRING, .offset = offsetof(kc_cli_options, trace),
     .help = "write a frame trace (Chrome Trace Event JSON: open it in Perfetto or chrome://tracing): "
             "each thread's stages, systems, jobs and script ticks, frame by frame"},
    {.name = "trace-frames", .arg = "A:B", .kind = OPT_STRING, .offset = offsetof(kc_cli_options, trace_frames),
     .help = "trace only frames A to B (the first frame is 0; A: = from A to the end; A = that frame)"},
    {.name = "record-input", .arg = "FILE", .kind = OPT_STRING, .offset = offsetof(kc_cli_options, record_input),
     .help = "write every frame's keyboard and mouse input to FILE, for --replay-input"},
    {.name = "replay-input", .arg = "FILE", .kind = OPT_STRING, .offset = offsetof(kc_cli_options, replay_input),
     .help = "feed the input recorded in FILE to the game instead of the window's (headless too); the run "
             "stops where the recording ends. With --lockstep it ends with the recorded world hash"},
};
#define OPT_COUNT (sizeof k_options / sizeof k_options[0])

static const opt *find_long(const char *name, size_t len) {
  for (size_t i = 0; i < OPT_COUNT; i++)
    if (strlen(k_options[i].name) == len && strncmp(k_options[i].name, name, len) == 0) return &k_options[i];
  return NULL;
}

static const opt *find_short(char c) {
  for (size_t i = 0; i < OPT_COUNT; i++)
    if (k_options[i].short_name && k_options[i].short_name == c) return &k_options[i];
  return NULL;
}

static keel_result add_override(kc_cli_options *opts, const char *key, const char *value, const char *origin,
                                kc_err *err) {
  kc_cli_override *o = realloc(opts->overrides, (opts->override_count + 1) * sizeof *o);
  if (!o) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "out of memory");
  opts->overrides = o;
  size_t n = strlen(key) + (value ? strlen(value) + 1 : 0) + 1;
  char *a = malloc(n);
  if (!a) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "out of memory");
  snprintf(a, n, value ? "%s=%s" : "%s", key, value ? value : "");
  o[opts->override_count++] = (kc_cli_override){.assignment = a, .origin = origin};
  return KEEL_OK;
}

static keel_result apply(const opt *o, const char *arg, kc_cli_options *opts, kc_err *err) {
  char *base = (char *)opts;
  switch (o->kind) {
    case OPT_ACTION:
      if (o->action > opts->action) opts->action = o->action;
      return KEEL_OK;
    case OPT_FLAG: *(bool *)(base + o->offset) = true; return KEEL_OK;
    case OPT_STRING: *(const char **)(base + o->offset) = arg; return KEEL_OK;
    case OPT_LIST: {
      kc_cli_strings *l = (kc_cli_strings *)(base + o->offset);
      const char **items = realloc(l->items, (l->count + 1) * sizeof *items);
      if (!items) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "out of memory");
      items[l->count++] = arg;
      l->items = items;
      return KEEL_OK;
    }
    case OPT_SET: return add_override(opts, arg, NULL, "--set", err);
    case OPT_ALIAS: return add_override(opts, o->key, arg ? arg : o->value, o->name, err);
  }
  return KEEL_OK;
}

keel_result kc_cli_parse(int argc, char **argv, kc_cli_options *opts, kc_err *err) {
  memset(opts, 0, sizeof *opts);
  kc_err_clear(err);
  bool options_done = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (options_done || a[0] != '-' || a[1] == '\0')
      return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "unexpected argument '%s'", a);
    if (strcmp(a, "--") == 0) {
      options_done = true;
      continue;
    }
    const opt *o;
    const char *inline_arg = NULL; /* --name=value */
    char shown[64];                /* the option as the user wrote it, for messages */
    if (a[1] == '-') {
      const char *name = a + 2;
      const char *eq = strchr(name, '=');
      size_t len = eq ? (size_t)(eq - name) : strlen(name);
      o = find_long(name, len);
      snprintf(shown, sizeof shown, "--%.*s", (int)len, name);
      if (eq) inline_arg = eq + 1;
    } else {
      o = a[2] == '\0' ? find_short(a[1]) : NULL;
      snprintf(shown, sizeof shown, "%s", a);
    }
    if (!o) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "unknown option '%s'", shown);
    const char *arg = NULL;
    if (o->arg) {
      if (inline_arg) {
        arg = inline_arg;
      } else if (i + 1 < argc) {
        arg = argv[++i];
      } else {
        return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "option '%s' needs an argument (%s)", shown, o->arg);
      }
    } else if (inline_arg) {
      return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "option '%s' takes no argument", shown);
    }
    keel_result r = apply(o, arg, opts, err);
    if (r != KEEL_OK) return r;
  }
  return KEEL_OK;
}

void kc_cli_options_free(kc_cli_options *opts) {
  for (size_t i = 0; i < opts->override_count; i++) free(opts->overrides[i].assignment);
  free(opts->overrides);
  /* OPT_LIST fields own their item arrays. */
  for (size_t i = 0; i < OPT_COUNT; i++)
    if (k_options[i].kind == OPT_LIST) free(((kc_cli_strings *)((char *)opts + k_options[i].offset))->items);
  memset(opts, 0, sizeof *opts);
}

void kc_cli_print_help(FILE *out) {
  fputs("Usage: keel [OPTION]...\n"
        "Run a keel game: engine.ini picks the renderer and script plugins.\n"
        "\n"
        "Options:\n",
        out);
  for (size_t i = 0; i < OPT_COUNT; i++) {
    const opt *o = &k_options[i];
    char left[96];
    int n = snprintf(left, sizeof left, "  %c%c%s--%s%s%s", o->short_name ? '-' : ' ',
                     o->short_name ? o->short_name : ' ', o->short_name ? ", " : "  ", o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
    if (n > 30)
      fprintf(out, "%s\n%32s%s\n", left, "", o->help);
    else
      fprintf(out, "%-32s%s\n", left, o->help);
  }
  fputs("\n"
        "Environment:\n"
        "  KEEL_LOG=LEVEL                log level (error, warn, info, debug, trace);\n"
        "                                overrides [engine] log_level\n"
        "  KEEL_PLUGIN_PATH=DIR[:DIR]    plugin directories, searched after [plugins] path\n"
        "\n"
        "Exit status: 0 success, 1 runtime failure, 2 bad usage or bad configuration,\n"
        "3 no renderer or script runtime could be started, or no window for headless = false.\n"
        "Every key, flag and cvar: docs/configuration.md.\n",
        out);
}
