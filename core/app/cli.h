/* The `keel` command line: one table of options drives parsing and --help,
 * so a new flag is one table entry (plus a field when it is not a config
 * alias). Parsing only records what was asked; core/app/app.c acts on it. */
#ifndef KC_APP_CLI_H
#define KC_APP_CLI_H

#include "base/err.h"

#include <stdio.h>

/* What the run should do; a higher value wins when several are given
 * (so `keel --check-config --help` shows the help). */
typedef enum kc_app_action {
  KC_APP_RUN = 0,          /* the default: run the engine */
  KC_APP_CHECK_CONFIG = 1, /* validate and print the effective configuration */
  KC_APP_LIST_PLUGINS = 2, /* list every plugin found, with its status */
  KC_APP_DUMP_SCHEDULE = 3, /* print the frame's stages and batches */
  KC_APP_VERSION = 4,
  KC_APP_HELP = 5
} kc_app_action;

/* One configuration override from the command line, in command-line order. */
typedef struct kc_cli_override {
  char *assignment;   /* "section.key=value", owned by the options */
  const char *origin; /* the flag that carried it ("--set"), static */
} kc_cli_override;

/* A repeatable string option's values, pointing into argv. */
typedef struct kc_cli_strings {
  const char **items;
  size_t count;
} kc_cli_strings;

typedef struct kc_cli_options {
  kc_app_action action;
  const char *config_path; /* --config; NULL = the build's or install's engine.ini */
  kc_cli_override *overrides;
  size_t override_count;
  const char *stats_json;     /* --stats-json FILE; NULL = none */
  kc_cli_strings plugin_path; /* --plugin-path DIR, in order; searched first */
  kc_cli_strings exec;        /* --exec CODE, in order: one-off scripts run after init */
  bool verbose;               /* --verbose: --list-plugins shows each plugin's settings in full */
  const char *screenshot;       /* --screenshot FILE.png; NULL = none */
  const char *screenshot_frame; /* --screenshot-frame N, unparsed; NULL = the last frame */
  const char *trace;            /* --trace FILE.json; NULL = no trace */
  const char *trace_frames;     /* --trace-frames A:B, unparsed; NULL = every frame */
  const char *record_input;   /* --record-input FILE; NULL = none */
  const char *replay_input;   /* --replay-input FILE; NULL = none */
} kc_cli_options;

/* Parses argv into *opts (zeroed first). Strings point into argv, which
 * must outlive opts, except override assignments, which opts owns. On a
 * usage error returns KEEL_ERR_INVALID_ARGUMENT with a one-line message
 * naming the option. Free with kc_cli_options_free either way. Main thread. */
keel_result kc_cli_parse(int argc, char **argv, kc_cli_options *opts, kc_err *err);
void kc_cli_options_free(kc_cli_options *opts);

/* Writes the --help text, generated from the option table. */
void kc_cli_print_help(FILE *out);

#endif
