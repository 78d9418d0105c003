/* See app.h. Startup order matters: the log first (so everything after can
 * log), then the engine's cvars (engine.ini's [cvars] is checked against
 * them), then engine.ini and the --set overrides, all of whose problems are
 * printed together before the process gives up. */
#include "app.h"

#include "base/config.h"
#include "base/cvar.h"
#include "base/log.h"
#include "base/path.h"
#include "cli.h"

#include <errno.h>
#include <stdio.h>
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
 * overrides. Returns an exit code; *out is set on success. */
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
  if (kc_config_error_count(cfg) > 0) {
    int rc = config_errors(cfg);
    kc_config_destroy(cfg);
    return rc;
  }

  kc_log_level level;
  if (!kc_log_level_from_env() && kc_log_parse_level(kc_config_get_string(cfg, "engine", "log_level"), &level))
    kc_log_set_level(level);
  if (kc_config_apply_cvars(cfg, &err) != KEEL_OK) {
    fprintf(stderr, "keel: %s\n", err.msg);
    kc_config_destroy(cfg);
    return KC_EXIT_USAGE;
  }
  *out = cfg;
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

int kc_app_main(int argc, char **argv) {
  kc_log_init();
  kc_cli_options opts;
  kc_err err;
  if (kc_cli_parse(argc, argv, &opts, &err) != KEEL_OK) {
    kc_cli_options_free(&opts);
    return usage_error(err.msg);
  }
  int rc = KC_EXIT_OK;
  kc_config *cfg = NULL;
  switch (opts.action) {
    case KC_APP_HELP: kc_cli_print_help(stdout); break;
    case KC_APP_VERSION: printf("keel %s (plugin ABI %d.%d)\n", KEEL_VERSION_STRING, KEEL_ABI_MAJOR, KEEL_ABI_MINOR); break;
    case KC_APP_CHECK_CONFIG:
      rc = load_configuration(&opts, &cfg);
      if (rc == KC_EXIT_OK) rc = print_configuration(cfg);
      break;
    case KC_APP_RUN:
      rc = load_configuration(&opts, &cfg);
      if (rc == KC_EXIT_OK) {
        /* The frame loop is not built yet; until it is, a run shows what it
         * would run with. */
        KC_LOG_INFO("keel %s: no frame loop yet; printing the effective configuration", KEEL_VERSION_STRING);
        rc = print_configuration(cfg);
      }
      break;
  }
  kc_config_destroy(cfg);
  kc_cli_options_free(&opts);
  kc_cvar_shutdown();
  return rc;
}
