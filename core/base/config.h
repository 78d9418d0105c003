/* kc_config: engine.ini. One table declares every section and key with its
 * type, range, default and help; the parser (libinih underneath) checks a
 * file against it and reports every problem as `file:line: message`, and
 * each effective value remembers whether it came from the default, a file
 * line or the command line. */
#ifndef KC_CONFIG_H
#define KC_CONFIG_H

#include "base/err.h"

#include <keel/abi.h>
#include <keel/plugin.h>
#include <stdio.h>

typedef enum kc_config_type {
  KC_CONFIG_BOOL,
  KC_CONFIG_INT,
  KC_CONFIG_FLOAT,
  KC_CONFIG_STRING,
  KC_CONFIG_ENUM,
  KC_CONFIG_LIST /* comma-separated; "" is the empty list */
} kc_config_type;

/* Key flags. */
#define KC_CONFIG_IDENT (1u << 0) /* string / list items match [a-z0-9_]+ */
#define KC_CONFIG_AUTO (1u << 1)  /* int also accepts "auto", read back as 0 */
#define KC_CONFIG_PATH (1u << 2)  /* string / list items are paths, see kc_config_resolve_path */

/* One row of the schema. */
typedef struct kc_config_key {
  const char *section;
  const char *name;
  kc_config_type type;
  uint32_t flags;
  int64_t imin, imax; /* KC_CONFIG_INT */
  double fmin, fmax;  /* KC_CONFIG_FLOAT */
  /* KC_CONFIG_ENUM: the choices, '|'-separated ("auto|true|false").
   * KC_CONFIG_IDENT strings and lists: the values keel ships, for help
   * text only (plugins may add more). */
  const char *choices;
  const char *def; /* the default as it would be written in engine.ini */
  const char *help;
} kc_config_key;

/* Where an effective value came from. */
typedef enum kc_config_source {
  KC_CONFIG_FROM_DEFAULT,
  KC_CONFIG_FROM_FILE,
  KC_CONFIG_FROM_COMMAND_LINE
} kc_config_source;

/* ---- the schema. Immutable; any thread. */

/* The table, in engine.ini order; *count receives its length. */
const kc_config_key *kc_config_keys(size_t *count);
/* The sections, NULL-terminated: engine, renderer, script, cvars, plugins. */
const char *const *kc_config_sections(void);
/* What a valid value of `key` looks like, as used in messages: "an integer
 * in 0..1000", "one of: auto, true, false". Writes into buf; returns buf. */
const char *kc_config_describe_key(const kc_config_key *key, char *buf, size_t cap);

/* ---- a configuration. A kc_config is used by one thread at a time
 * (loading happens on the main thread before others start); the caller owns
 * it and frees it with kc_config_destroy. Strings it returns live as long as
 * the kc_config and until the value is set again. */
typedef struct kc_config kc_config;

/* Every key at its default. NULL when out of memory. */
kc_config *kc_config_create(void);
void kc_config_destroy(kc_config *cfg);

/* Directory that relative path defaults resolve against (the directory of
 * the default engine.ini). Until set, kc_path_data_dir() is used. */
keel_result kc_config_set_default_dir(kc_config *cfg, const char *dir, kc_err *err);

/* Reads an engine.ini. Every problem of the file is collected (see
 * kc_config_error_count); on any problem the result is KEEL_ERR_PARSE and
 * err->msg holds the messages one per line, cut with "(and N more)" when
 * they do not fit. KEEL_ERR_IO when the file cannot be read. Values from
 * the file replace defaults and earlier files, never command-line values.
 * [cvars] keys are checked against the cvar registry as it is now, so
 * register the engine's cvars first. Accepts LF and CRLF line endings and a
 * UTF-8 byte-order mark. A configuration that failed to load holds the
 * values that were valid; do not run with it. */
keel_result kc_config_load_file(kc_config *cfg, const char *path, kc_err *err);
/* The same for text in memory; `name` stands for the file in messages and
 * its directory anchors relative paths (like a file of that name). */
keel_result kc_config_load_string(kc_config *cfg, const char *text, const char *name, kc_err *err);

/* Applies "section.key=value" from the command line, checked like a file
 * line; it beats defaults and files whatever the order of calls, and a
 * later override of the same key beats an earlier one. `origin` is the
 * flag that carried it, for messages ("--set" when NULL). Errors read
 * "--set section.key=value: <problem>" and are also added to the error list. */
keel_result kc_config_set_override(kc_config *cfg, const char *assignment, const char *origin, kc_err *err);

/* Problems recorded by loads and overrides so far, in the order found,
 * each "file:line: message" or "--set ...: message". */
size_t kc_config_error_count(const kc_config *cfg);
const char *kc_config_error(const kc_config *cfg, size_t index);

/* The last file given to kc_config_load_file / _string, or NULL. */
const char *kc_config_file(const kc_config *cfg);

/* ---- effective values. Asking for a key that is not in the table or with
 * a getter of another type returns 0 / false / "" (a programming error;
 * nothing aborts). Enum and string values read with kc_config_get_string;
 * lists read item by item. */
bool kc_config_get_bool(const kc_config *cfg, const char *section, const char *name);
int64_t kc_config_get_int(const kc_config *cfg, const char *section, const char *name);
double kc_config_get_float(const kc_config *cfg, const char *section, const char *name);
const char *kc_config_get_string(const kc_config *cfg, const char *section, const char *name);
size_t kc_config_list_count(const kc_config *cfg, const char *section, const char *name);
const char *kc_config_list_item(const kc_config *cfg, const char *section, const char *name, size_t index);
/* The value as it would be written in engine.ini ("auto", "gl, null", "1.5"). */
const char *kc_config_get_text(const kc_config *cfg, const char *section, const char *name);

/* Where the value of section.name came from; *line (may be NULL) receives
 * the file line for KC_CONFIG_FROM_FILE. */
kc_config_source kc_config_get_source(const kc_config *cfg, const char *section, const char *name, int *line);
/* The same as text: "default", "<file>:<line>" or "command line (--set)".
 * Works for "cvars" too (a cvar not in the configuration is "default"). */
const char *kc_config_describe_source(const kc_config *cfg, const char *section, const char *name, char *buf,
                                      size_t cap);

/* Resolves `value` (a PATH string or list item of section.name) to a path:
 * absolute values stay; relative ones are taken relative to the directory
 * of the engine.ini that set the key, to the current directory when it came
 * from the command line, and to the default directory (see
 * kc_config_set_default_dir) for defaults. */
keel_result kc_config_resolve_path(const kc_config *cfg, const char *section, const char *name, const char *value,
                                   char *out, size_t cap, kc_err *err);

/* ---- [cvars]. Entries are name = value pairs already checked against the
 * registry at load time. */
size_t kc_config_cvar_count(const kc_config *cfg);
/* *name / *value (either may be NULL) of entry `index`; false past the end. */
bool kc_config_cvar_at(const kc_config *cfg, size_t index, const char **name, const char **value);
/* Sets every [cvars] entry in the registry (each becomes a pending change).
 * Stops at the first refusal (the registry may have changed since load).
 * Main thread. */
keel_result kc_config_apply_cvars(const kc_config *cfg, kc_err *err);

/* ---- [plugin.NAME]: plugin settings. A file's `[plugin.NAME] key = value`
 * and `--set plugin.NAME.key=value` are recorded as written (NAME and key
 * must be [a-z0-9_]+, a key once per file); they are checked against the
 * plugins' declared settings once those are known. */

/* Declares plugin `plugin` and its settings (keel/plugin.h), as read from
 * its manifest; count may be 0 (a plugin that declares none). The table is
 * borrowed: it must outlive cfg. When two plugins share a name, the first
 * declared wins. */
keel_result kc_config_add_plugin_schema(kc_config *cfg, const char *plugin, const keel_setting *settings,
                                        uint32_t count, kc_err *err);
/* Checks every recorded plugin setting against the declared ones: an
 * unknown plugin (with the plugins that have settings and a "did you
 * mean"), an unknown key (with the plugin's keys), a bad value (with its
 * range). Each problem joins the error list with its file:line or --set.
 * Returns how many it added. */
size_t kc_config_check_plugin_settings(kc_config *cfg);
/* The text configured for plugin.key (file or --set), or NULL when the
 * default applies. */
const char *kc_config_plugin_value(const kc_config *cfg, const char *plugin, const char *key);

/* ---- checks made after loading (the runner's, which need the plugin
 * search path). Both are main thread. */

/* Adds a problem about section.name to the error list, located where the
 * value came from: "file:line: ", "--set section.name=value: " or
 * "default: ", then the printf-style message. section may be "cvars" or
 * "plugin.NAME". */
void kc_config_report(kc_config *cfg, const char *section, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A line kc_config_write_effective prints under section.name, "# text":
 * what the value means for this run when that is not the value itself. */
void kc_config_note(kc_config *cfg, const char *section, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes the effective configuration, one aligned line per key, then per
 * registered cvar, then per declared plugin setting:
 * `engine.target_fps = 60   [default]`, each key's notes under it. The
 * cvar values are read from the registry. Main thread. KEEL_ERR_IO when
 * writing fails. */
keel_result kc_config_write_effective(const kc_config *cfg, FILE *out, kc_err *err);

#endif
