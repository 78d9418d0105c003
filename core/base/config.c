/* See config.h. libinih splits lines into section/key/value; a reader of our
 * own feeds it one line at a time, which is how we know each key's line
 * (Debian's inih is built without INI_HANDLER_LINENO), normalises CRLF, the
 * BOM and indentation (so inih's multi-line continuation never kicks in),
 * and catches syntax errors itself so that every one of them is reported,
 * not just the first inih would return. */
#include "base/config.h"

#include "base/cvar.h"
#include "base/path.h"
#include "base/setting.h"
#include "base/suggest.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- the schema ------------------------------------------------------------ */

#define INT_KEY(sec, key, fl, lo, hi, d, h) \
  {.section = sec, .name = key, .type = KC_CONFIG_INT, .flags = fl, .imin = lo, .imax = hi, .def = d, .help = h}
#define FLOAT_KEY(sec, key, lo, hi, d, h) \
  {.section = sec, .name = key, .type = KC_CONFIG_FLOAT, .fmin = lo, .fmax = hi, .def = d, .help = h}
#define BOOL_KEY(sec, key, d, h) {.section = sec, .name = key, .type = KC_CONFIG_BOOL, .def = d, .help = h}
#define ENUM_KEY(sec, key, ch, d, h) \
  {.section = sec, .name = key, .type = KC_CONFIG_ENUM, .choices = ch, .def = d, .help = h}
#define STRING_KEY(sec, key, fl, ch, d, h) \
  {.section = sec, .name = key, .type = KC_CONFIG_STRING, .flags = fl, .choices = ch, .def = d, .help = h}
#define LIST_KEY(sec, key, fl, ch, d, h) \
  {.section = sec, .name = key, .type = KC_CONFIG_LIST, .flags = fl, .choices = ch, .def = d, .help = h}

static const kc_config_key k_keys[] = {
    INT_KEY("engine", "target_fps", 0, 0, 1000, "60", "frames per second the main loop paces itself to; 0 = unthrottled"),
    INT_KEY("engine", "threads", KC_CONFIG_AUTO, 1, 64, "auto",
            "job threads, the main thread included; auto = one per online CPU"),
    BOOL_KEY("engine", "lockstep", "false",
             "run exactly one script tick per frame (deterministic runs for tests and replays)"),
    INT_KEY("engine", "frames", 0, 0, 2147483647, "0",
            "stop after this many frames; 0 = run until quit (not set at all and headless: 300)"),
    ENUM_KEY("engine", "headless", "auto|true|false", "auto",
             "true = no window, render offscreen; auto = headless when no window can be opened"),
    FLOAT_KEY("engine", "stats_interval_s", 0.0, 3600.0, "1",
              "seconds between frame statistics reports; 0 = only at exit"),
    ENUM_KEY("engine", "log_level", "error|warn|info|debug|trace", "info",
             "most verbose log level written; KEEL_LOG in the environment overrides it"),
    BOOL_KEY("engine", "malloc_tuning", "true",
             "raise glibc's malloc mmap and trim thresholds at startup, so software renderers do not return and "
             "re-fault their large blocks every frame (docs/rendering.md)"),

    STRING_KEY("renderer", "backend", KC_CONFIG_IDENT, "vulkan|gl|null", "vulkan",
               "renderer plugin to use: vulkan, gl, null or a third-party renderer's name"),
    LIST_KEY("renderer", "fallback", KC_CONFIG_IDENT, "vulkan|gl|null", "gl, null",
             "renderers to try in order when the backend cannot be loaded or started"),
    INT_KEY("renderer", "width", 0, 16, 16384, "1280", "window or offscreen image width in pixels"),
    INT_KEY("renderer", "height", 0, 16, 16384, "720", "window or offscreen image height in pixels"),
    BOOL_KEY("renderer", "vsync", "true", "wait for the display refresh when presenting (ignored when headless)"),
    INT_KEY("renderer", "frames_in_flight", 0, 1, 4, "2", "frames the CPU may record ahead of the GPU"),
    INT_KEY("renderer", "swap_timeout_ms", 0, 1, 1000, "10",
            "longest wait for the state swap before a frame keeps the previous state"),
    STRING_KEY("renderer", "device", 0, NULL, "",
               "graphics device: empty = the best one (discrete > integrated > virtual > CPU), "
               "else an index or part of the device's name"),
    ENUM_KEY("renderer", "validation", "auto|on|off", "auto",
             "graphics API validation (Vulkan layer, GL debug context): auto = on in dev and sanitizer "
             "builds when installed, on = required, off"),

    STRING_KEY("script", "runtime", KC_CONFIG_IDENT, "lua|js", "lua",
               "script plugin to use: lua, js or a third-party runtime's name"),
    STRING_KEY("script", "main", KC_CONFIG_PATH, NULL, "samples/orbit/main.lua",
               "the game's entry script; a relative path starts at the directory of the engine.ini that sets it"),
    FLOAT_KEY("script", "tick_rate", 1.0, 1000.0, "30", "game-logic ticks per second on the script worker"),
    INT_KEY("script", "tick_budget_ms", 0, 1, 10000, "50",
            "CPU time one tick (or one-off script) may use before it is interrupted; the wall-clock backstop is "
            "10 x this + 1 s"),
    INT_KEY("script", "load_budget_ms", 0, 1, 600000, "5000",
            "CPU time for init: compiling and running the main script and its modules, then init()"),
    INT_KEY("script", "shutdown_timeout_ms", 0, 1, 600000, "2000",
            "time shutdown() gets at exit before it is interrupted; a worker still stuck 0.5 s later is given up "
            "(exit 1)"),
    INT_KEY("script", "instruction_budget", 0, 0, 1000000000000, "0",
            "VM instructions one script call may run before it is interrupted; 0 = no limit (tick_budget_ms still applies)"),
    INT_KEY("script", "memory_limit_mb", 0, 1, 4096, "64", "heap limit of one script VM in MiB"),
    INT_KEY("script", "seed", 0, 0, INT64_MAX, "1", "seed of the scripts' random generator, for reproducible runs"),
    ENUM_KEY("script", "hot_reload", "auto|true|false", "auto",
             "re-run a game's source file in the running game when it changes on disk; "
             "auto = on for windowed, non-lockstep runs"),

    LIST_KEY("plugins", "path", KC_CONFIG_PATH, NULL, "",
             "extra plugin directories, searched in order before the built-in one"),
};
#define KEY_COUNT (sizeof k_keys / sizeof k_keys[0])

static const char *const k_sections[] = {"engine", "renderer", "script", "cvars", "plugins", NULL};

const kc_config_key *kc_config_keys(size_t *count) {
  if (count) *count = KEY_COUNT;
  return k_keys;
}

const char *const *kc_config_sections(void) { return k_sections; }

static int key_index(const char *section, const char *name) {
  if (!section || !name) return -1;
  for (size_t i = 0; i < KEY_COUNT; i++)
    if (strcmp(k_keys[i].section, section) == 0 && strcmp(k_keys[i].name, name) == 0) return (int)i;
  return -1;
}

static bool is_ident(const char *s);

/* "plugin.NAME": a plugin's settings section. */
#define PLUGIN_SECTION_PREFIX "plugin."

static bool is_plugin_section(const char *name) {
  return strncmp(name, PLUGIN_SECTION_PREFIX, strlen(PLUGIN_SECTION_PREFIX)) == 0 &&
         is_ident(name + strlen(PLUGIN_SECTION_PREFIX)) && strlen(name) < 64;
}

static bool known_section(const char *name) {
  for (size_t i = 0; k_sections[i]; i++)
    if (strcmp(k_sections[i], name) == 0) return true;
  return is_plugin_section(name);
}

/* Appends "a, b, c" from a '|'-separated choice string. */
static size_t append_choices(char *buf, size_t cap, size_t off, const char *choices) {
  for (const char *p = choices; *p && off < cap;) {
    const char *e = strchr(p, '|');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    off += (size_t)snprintf(buf + off, cap - off, "%s%.*s", p == choices ? "" : ", ", (int)n, p);
    p += n + (e ? 1 : 0);
  }
  return off;
}

const char *kc_config_describe_key(const kc_config_key *key, char *buf, size_t cap) {
  if (!cap) return buf;
  buf[0] = '\0';
  size_t off = 0;
  switch (key->type) {
    case KC_CONFIG_BOOL: snprintf(buf, cap, "%s", KC_CVAR_BOOL_SPELLINGS); break;
    case KC_CONFIG_INT:
      snprintf(buf, cap, "%san integer in %lld..%lld", key->flags & KC_CONFIG_AUTO ? "auto or " : "",
               (long long)key->imin, (long long)key->imax);
      break;
    case KC_CONFIG_FLOAT: {
      char lo[32], hi[32];
      kc_cvar_format_float(key->fmin, lo, sizeof lo);
      kc_cvar_format_float(key->fmax, hi, sizeof hi);
      snprintf(buf, cap, "a number in %s..%s", lo, hi);
      break;
    }
    case KC_CONFIG_ENUM:
      off = (size_t)snprintf(buf, cap, "one of: ");
      append_choices(buf, cap, off, key->choices);
      break;
    case KC_CONFIG_STRING:
    case KC_CONFIG_LIST: {
      const char *what = key->flags & KC_CONFIG_IDENT ? "a name of lowercase letters, digits and '_'"
                         : key->flags & KC_CONFIG_PATH ? "a path"
                                                       : "text";
      if (key->type == KC_CONFIG_LIST)
        what = key->flags & KC_CONFIG_IDENT ? "a comma-separated list of names of lowercase letters, digits and '_'"
               : key->flags & KC_CONFIG_PATH ? "a comma-separated list of paths"
                                             : "a comma-separated list";
      off = (size_t)snprintf(buf, cap, "%s", what);
      if (key->choices && off < cap) {
        off += (size_t)snprintf(buf + off, cap - off, ", e.g. ");
        append_choices(buf, cap, off, key->choices);
      }
      break;
    }
  }
  return buf;
}

/* ---- the configuration ---------------------------------------------------- */

typedef struct cfg_value {
  bool b;
  int64_t i;
  double f;
  char *text;   /* as written in engine.ini; never NULL once created */
  char **items; /* KC_CONFIG_LIST */
  size_t nitems;
  kc_config_source source;
  const char *file; /* interned in kc_config.files */
  int line;
  char *origin;   /* command-line flag */
  char *base_dir; /* anchor of relative paths; NULL = default dir */
} cfg_value;

typedef struct cvar_entry {
  char *name;
  char *value;
  kc_config_source source;
  const char *file;
  int line;
  char *origin;
} cvar_entry;

/* A plugin's declared settings, borrowed from whoever read its manifest. */
typedef struct plugin_schema {
  char *plugin;
  const keel_setting *settings;
  uint32_t count;
} plugin_schema;

/* A line printed under a key by kc_config_write_effective. */
typedef struct key_note {
  char *key; /* "section.name" */
  char *text;
} key_note;

struct kc_config {
  cfg_value values[KEY_COUNT];
  cvar_entry *cvars;
  size_t ncvars, cap_cvars;
  cvar_entry *psets; /* [plugin.NAME] key = value, named "NAME.key" (the cvar it becomes) */
  size_t npsets, cap_psets;
  /* Open addressing over psets (position + 1; 0 = empty): a file may set any
   * number of keys, so finding one must not walk them all. */
  size_t *pset_index;
  size_t pset_index_cap; /* 0 or a power of two, at least twice npsets */
  plugin_schema *schemas;
  size_t nschemas;
  key_note *notes;
  size_t nnotes;
  char **errors;
  size_t nerrors, cap_errors;
  char **files;
  size_t nfiles;
  char *default_dir;
  bool oom; /* an allocation failed somewhere; reported by the next load */
};

static char *dup_str(kc_config *cfg, const char *s) {
  char *d = strdup(s ? s : "");
  if (!d) cfg->oom = true;
  return d;
}

static void value_free(cfg_value *v) {
  free(v->text);
  for (size_t i = 0; i < v->nitems; i++) free(v->items[i]);
  free(v->items);
  free(v->origin);
  free(v->base_dir);
  memset(v, 0, sizeof *v);
}

static void add_error(kc_config *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_error(kc_config *cfg, const char *fmt, ...) {
  char msg[KC_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n >= (int)sizeof msg) memcpy(msg + sizeof msg - 4, "...", 4);
  if (cfg->nerrors == cfg->cap_errors) {
    size_t cap = cfg->cap_errors ? cfg->cap_errors * 2 : 8;
    char **e = realloc(cfg->errors, cap * sizeof *e);
    if (!e) {
      cfg->oom = true;
      return;
    }
    cfg->errors = e;
    cfg->cap_errors = cap;
  }
  char *d = dup_str(cfg, msg);
  if (d) cfg->errors[cfg->nerrors++] = d;
}

static bool is_ident(const char *s) {
  if (!*s) return false;
  for (; *s; s++)
    if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_')) return false;
  return true;
}

static bool enum_has(const char *choices, const char *text) {
  size_t tl = strlen(text);
  for (const char *p = choices; *p;) {
    const char *e = strchr(p, '|');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == tl && strncmp(p, text, n) == 0) return true;
    p += n + (e ? 1 : 0);
  }
  return false;
}

/* Trimmed copy of [s, s+n). */
static char *dup_trim(const char *s, size_t n) {
  while (n && isspace((unsigned char)*s)) s++, n--;
  while (n && isspace((unsigned char)s[n - 1])) n--;
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

/* Parses text for key k into *out (fresh; text and items allocated). On a bad
 * value writes "<section>.<name>: <problem> (expected <range>)" into msg. */
static bool parse_value(kc_config *cfg, const kc_config_key *k, const char *text, cfg_value *out, char *msg,
                        size_t cap) {
  memset(out, 0, sizeof *out);
  char range[256], canon[64];
  kc_config_describe_key(k, range, sizeof range);
  const char *problem_fmt = NULL; /* "%s" gets the text */
  bool out_of_range = false;
  const char *canon_text = text;
  switch (k->type) {
    case KC_CONFIG_BOOL:
      if (!kc_cvar_parse_bool(text, &out->b)) problem_fmt = "'%s' is not a boolean";
      canon_text = out->b ? "true" : "false";
      break;
    case KC_CONFIG_INT:
      if ((k->flags & KC_CONFIG_AUTO) && strcmp(text, "auto") == 0) {
        out->i = 0;
        canon_text = "auto";
      } else if (!kc_cvar_parse_int(text, &out->i)) {
        problem_fmt = k->flags & KC_CONFIG_AUTO ? "'%s' is not an integer or auto" : "'%s' is not an integer";
      } else if (out->i < k->imin || out->i > k->imax) {
        out_of_range = true;
      } else {
        snprintf(canon, sizeof canon, "%lld", (long long)out->i);
        canon_text = canon;
      }
      break;
    case KC_CONFIG_FLOAT:
      if (!kc_cvar_parse_float(text, &out->f)) {
        problem_fmt = "'%s' is not a number";
      } else if (!(out->f >= k->fmin && out->f <= k->fmax)) {
        out_of_range = true;
      } else {
        kc_cvar_format_float(out->f, canon, sizeof canon);
        canon_text = canon;
      }
      break;
    case KC_CONFIG_ENUM:
      if (!enum_has(k->choices, text)) problem_fmt = "'%s' is not a valid choice";
      break;
    case KC_CONFIG_STRING:
      if ((k->flags & KC_CONFIG_IDENT) && !is_ident(text))
        problem_fmt = *text ? "'%s' is not a valid name" : "the value is empty%s";
      else if ((k->flags & KC_CONFIG_PATH) && !*text)
        problem_fmt = "the value is empty%s";
      break;
    case KC_CONFIG_LIST: {
      /* Count, then split, so items is allocated once. */
      size_t n = 0;
      if (*text) {
        n = 1;
        for (const char *p = text; *p; p++) n += *p == ',';
      }
      out->items = n ? calloc(n, sizeof *out->items) : NULL;
      if (n && !out->items) {
        cfg->oom = true;
        snprintf(msg, cap, "%s.%s: out of memory", k->section, k->name);
        return false;
      }
      const char *p = text;
      for (size_t i = 0; i < n; i++) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char *item = dup_trim(p, len);
        if (!item) {
          cfg->oom = true;
          break;
        }
        out->items[out->nitems++] = item;
        if (!*item) {
          snprintf(msg, cap, "%s.%s: item %zu of the list is empty (expected %s)", k->section, k->name, i + 1,
                   range);
          value_free(out);
          return false;
        }
        if ((k->flags & KC_CONFIG_IDENT) && !is_ident(item)) {
          snprintf(msg, cap, "%s.%s: '%s' is not a valid name (expected %s)", k->section, k->name, item, range);
          value_free(out);
          return false;
        }
        p = e ? e + 1 : p + len;
      }
      /* Canonical "a, b, c". */
      size_t total = 1;
      for (size_t i = 0; i < out->nitems; i++) total += strlen(out->items[i]) + 2;
      out->text = malloc(total);
      if (!out->text) {
        cfg->oom = true;
        value_free(out);
        snprintf(msg, cap, "%s.%s: out of memory", k->section, k->name);
        return false;
      }
      size_t off = 0;
      out->text[0] = '\0';
      for (size_t i = 0; i < out->nitems; i++)
        off += (size_t)snprintf(out->text + off, total - off, "%s%s", i ? ", " : "", out->items[i]);
      return true;
    }
  }
  if (problem_fmt || out_of_range) {
    char problem[160];
    if (out_of_range)
      snprintf(problem, sizeof problem, "%.64s is out of range", text);
    else
      snprintf(problem, sizeof problem, problem_fmt, *text ? text : "");
    snprintf(msg, cap, "%s.%s: %s (expected %s)", k->section, k->name, problem, range);
    return false;
  }
  out->text = dup_str(cfg, canon_text);
  if (!out->text) {
    snprintf(msg, cap, "%s.%s: out of memory", k->section, k->name);
    return false;
  }
  return true;
}

kc_config *kc_config_create(void) {
  kc_config *cfg = calloc(1, sizeof *cfg);
  if (!cfg) return NULL;
  char msg[512];
  for (size_t i = 0; i < KEY_COUNT; i++) {
    /* The table's own defaults go through the same checks; test_config
     * asserts they all pass, so a failure here means out of memory. */
    if (!parse_value(cfg, &k_keys[i], k_keys[i].def, &cfg->values[i], msg, sizeof msg)) {
      kc_config_destroy(cfg);
      return NULL;
    }
    cfg->values[i].source = KC_CONFIG_FROM_DEFAULT;
  }
  return cfg;
}

static void cvar_entry_free(cvar_entry *e) {
  free(e->name);
  free(e->value);
  free(e->origin);
}

void kc_config_destroy(kc_config *cfg) {
  if (!cfg) return;
  for (size_t i = 0; i < KEY_COUNT; i++) value_free(&cfg->values[i]);
  for (size_t i = 0; i < cfg->ncvars; i++) cvar_entry_free(&cfg->cvars[i]);
  free(cfg->cvars);
  for (size_t i = 0; i < cfg->npsets; i++) cvar_entry_free(&cfg->psets[i]);
  free(cfg->pset_index);
  free(cfg->psets);
  for (size_t i = 0; i < cfg->nschemas; i++) free(cfg->schemas[i].plugin);
  free(cfg->schemas);
  for (size_t i = 0; i < cfg->nnotes; i++) {
    free(cfg->notes[i].key);
    free(cfg->notes[i].text);
  }
  free(cfg->notes);
  for (size_t i = 0; i < cfg->nerrors; i++) free(cfg->errors[i]);
  free(cfg->errors);
  for (size_t i = 0; i < cfg->nfiles; i++) free(cfg->files[i]);
  free(cfg->files);
  free(cfg->default_dir);
  free(cfg);
}

keel_result kc_config_set_default_dir(kc_config *cfg, const char *dir, kc_err *err) {
  char *d = strdup(dir ? dir : "");
  if (!d) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "out of memory");
  free(cfg->default_dir);
  cfg->default_dir = d;
  return KEEL_OK;
}

size_t kc_config_error_count(const kc_config *cfg) { return cfg->nerrors; }

const char *kc_config_error(const kc_config *cfg, size_t index) {
  return index < cfg->nerrors ? cfg->errors[index] : NULL;
}

const char *kc_config_file(const kc_config *cfg) { return cfg->nfiles ? cfg->files[cfg->nfiles - 1] : NULL; }

/* Errors [first, nerrors) joined into err, one per line. */
static keel_result report(kc_config *cfg, size_t first, kc_err *err) {
  if (cfg->oom) {
    cfg->oom = false;
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "out of memory while reading the configuration");
  }
  if (cfg->nerrors == first) {
    kc_err_clear(err);
    return KEEL_OK;
  }
  if (!err) return KEEL_ERR_PARSE;
  err->code = KEEL_ERR_PARSE;
  size_t off = 0;
  err->msg[0] = '\0';
  for (size_t i = first; i < cfg->nerrors; i++) {
    size_t left = cfg->nerrors - i;
    char more[48];
    snprintf(more, sizeof more, "(and %zu more)", left);
    size_t need = strlen(cfg->errors[i]) + 1;
    /* Keep room for the "(and N more)" line unless this is the last error. */
    size_t reserve = left > 1 ? strlen(more) + 1 : 0;
    if (off + need + reserve >= sizeof err->msg) {
      snprintf(err->msg + off, sizeof err->msg - off, "%s%s", off ? "\n" : "", more);
      break;
    }
    off += (size_t)snprintf(err->msg + off, sizeof err->msg - off, "%s%s", off ? "\n" : "", cfg->errors[i]);
  }
  return KEEL_ERR_PARSE;
}

static const char *intern_file(kc_config *cfg, const char *name) {
  char **f = realloc(cfg->files, (cfg->nfiles + 1) * sizeof *f);
  if (!f) {
    cfg->oom = true;
    return "?";
  }
  cfg->files = f;
  char *d = dup_str(cfg, name);
  if (!d) return "?";
  cfg->files[cfg->nfiles++] = d;
  return d;
}

/* Replaces values[idx] with nv (moved) unless the current value outranks it. */
static void assign(kc_config *cfg, size_t idx, cfg_value *nv) {
  cfg_value *cur = &cfg->values[idx];
  if (cur->source == KC_CONFIG_FROM_COMMAND_LINE && nv->source != KC_CONFIG_FROM_COMMAND_LINE) {
    value_free(nv);
    return;
  }
  value_free(cur);
  *cur = *nv;
  memset(nv, 0, sizeof *nv);
}

static cvar_entry *find_entry(cvar_entry *list, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(list[i].name, name) == 0) return &list[i];
  return NULL;
}

static uint64_t text_hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static cvar_entry *find_cvar_entry(const kc_config *cfg, const char *name) {
  return find_entry(cfg->cvars, cfg->ncvars, name);
}

static cvar_entry *find_pset_entry(const kc_config *cfg, const char *name) {
  if (!cfg->pset_index_cap) return NULL;
  for (size_t at = (size_t)text_hash(name) & (cfg->pset_index_cap - 1); cfg->pset_index[at];
       at = (at + 1) & (cfg->pset_index_cap - 1))
    if (strcmp(cfg->psets[cfg->pset_index[at] - 1].name, name) == 0) return &cfg->psets[cfg->pset_index[at] - 1];
  return NULL;
}

/* Indexes psets[pos] (just appended); false when out of memory. */
static bool pset_index_add(kc_config *cfg, size_t pos) {
  if ((pos + 1) * 2 > cfg->pset_index_cap) {
    size_t cap = cfg->pset_index_cap ? cfg->pset_index_cap * 2 : 64;
    size_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return false;
    free(cfg->pset_index);
    cfg->pset_index = slots;
    cfg->pset_index_cap = cap;
    for (size_t i = 0; i < pos; i++) {
      size_t at = (size_t)text_hash(cfg->psets[i].name) & (cap - 1);
      while (slots[at]) at = (at + 1) & (cap - 1);
      slots[at] = i + 1;
    }
  }
  size_t at = (size_t)text_hash(cfg->psets[pos].name) & (cfg->pset_index_cap - 1);
  while (cfg->pset_index[at]) at = (at + 1) & (cfg->pset_index_cap - 1);
  cfg->pset_index[at] = pos + 1;
  return true;
}

/* Sets name = value in an entry list ([cvars] or [plugin.NAME]), unless a
 * command-line value already outranks it. `e` is the entry found, or NULL
 * to append one. */
static cvar_entry *set_entry(kc_config *cfg, cvar_entry *e, cvar_entry **list, size_t *n, size_t *capacity,
                             const char *name, const char *value, kc_config_source source, const char *file, int line,
                             const char *origin) {
  if (e && e->source == KC_CONFIG_FROM_COMMAND_LINE && source != KC_CONFIG_FROM_COMMAND_LINE) return NULL;
  if (!e) {
    if (*n == *capacity) {
      size_t cap = *capacity ? *capacity * 2 : 8;
      cvar_entry *grown = realloc(*list, cap * sizeof *grown);
      if (!grown) {
        cfg->oom = true;
        return NULL;
      }
      *list = grown;
      *capacity = cap;
    }
    e = &(*list)[(*n)++];
    memset(e, 0, sizeof *e);
    e->name = dup_str(cfg, name);
  }
  free(e->value);
  free(e->origin);
  e->value = dup_str(cfg, value);
  e->origin = origin ? dup_str(cfg, origin) : NULL;
  e->source = source;
  e->file = file;
  e->line = line;
  return e;
}

static void set_cvar_entry(kc_config *cfg, const char *name, const char *value, kc_config_source source,
                           const char *file, int line, const char *origin) {
  set_entry(cfg, find_cvar_entry(cfg, name), &cfg->cvars, &cfg->ncvars, &cfg->cap_cvars, name, value, source, file,
            line, origin);
}

static void set_pset_entry(kc_config *cfg, const char *name, const char *value, kc_config_source source,
                           const char *file, int line, const char *origin) {
  cvar_entry *found = find_pset_entry(cfg, name);
  cvar_entry *e = set_entry(cfg, found, &cfg->psets, &cfg->npsets, &cfg->cap_psets, name, value, source, file, line,
                            origin);
  if (e && !found && e->name && !pset_index_add(cfg, cfg->npsets - 1)) cfg->oom = true;
}

/* "a, b, c" of the registered cvars, for "unknown cvar" messages. */
static void known_cvars(char *buf, size_t cap) {
  size_t off = 0, n = kc_cvar_count();
  buf[0] = '\0';
  if (n == 0) {
    snprintf(buf, cap, "none are registered");
    return;
  }
  off = (size_t)snprintf(buf, cap, "registered cvars: ");
  for (size_t i = 0; i < n && off < cap; i++)
    off += (size_t)snprintf(buf + off, cap - off, "%s%s", i ? ", " : "", kc_cvar_name(kc_cvar_at(i)));
}

static void known_keys(const char *section, char *buf, size_t cap) {
  size_t off = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < KEY_COUNT && off < cap; i++)
    if (strcmp(k_keys[i].section, section) == 0)
      off += (size_t)snprintf(buf + off, cap - off, "%s%s", off ? ", " : "", k_keys[i].name);
}

static void known_sections(char *buf, size_t cap) {
  size_t off = 0;
  buf[0] = '\0';
  for (size_t i = 0; k_sections[i] && off < cap; i++)
    off += (size_t)snprintf(buf + off, cap - off, "%s%s", i ? ", " : "", k_sections[i]);
  if (off < cap) snprintf(buf + off, cap - off, ", plugin.NAME");
}

/* ---- loading ----------------------------------------------------------------- */

/* Names a file has set, for the duplicate checks: a hash set, because a
 * file may hold any number of lines and comparing each with every earlier
 * one made 90,000 [cvars] lines take 13 s. */
typedef struct seen_name {
  char *name; /* NULL = empty slot */
  int line;
} seen_name;

typedef struct seen_set {
  seen_name *slots;
  size_t cap, count; /* cap: 0 or a power of two */
} seen_set;

/* Records `name` as set at `line`: 0, or the line it was first set at when
 * the set has it already; -1 when out of memory. */
static int seen_set_add(seen_set *set, const char *name, int line) {
  if (set->count * 2 >= set->cap) {
    size_t cap = set->cap ? set->cap * 2 : 64;
    seen_name *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < set->cap; i++) {
      if (!set->slots[i].name) continue;
      size_t at = (size_t)text_hash(set->slots[i].name) & (cap - 1);
      while (slots[at].name) at = (at + 1) & (cap - 1);
      slots[at] = set->slots[i];
    }
    free(set->slots);
    set->slots = slots;
    set->cap = cap;
  }
  size_t at = (size_t)text_hash(name) & (set->cap - 1);
  while (set->slots[at].name) {
    if (strcmp(set->slots[at].name, name) == 0) return set->slots[at].line;
    at = (at + 1) & (set->cap - 1);
  }
  set->slots[at].name = strdup(name);
  if (!set->slots[at].name) return -1;
  set->slots[at].line = line;
  set->count++;
  return 0;
}

static void seen_set_free(seen_set *set) {
  for (size_t i = 0; i < set->cap; i++) free(set->slots[i].name);
  free(set->slots);
  memset(set, 0, sizeof *set);
}

typedef struct load_ctx {
  kc_config *cfg;
  const char *file; /* interned display name */
  char *base_dir;
  const char *p, *end;
  int line;
  char section[64];
  bool in_section;    /* a [section] line has been seen */
  bool section_known; /* ...and it names a known section */
  int first_line[KEY_COUNT];
  seen_set cvars_seen;
  seen_set psets_seen; /* [plugin.NAME] keys as "NAME.key" */
} load_ctx;

static void line_error(load_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line_error(load_ctx *c, const char *fmt, ...) {
  char msg[KC_ERR_MSG_MAX - 64];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  add_error(c->cfg, "%s:%d: %s", c->file, c->line, msg);
}

/* Where inih would see an inline comment: ';' after whitespace. */
static bool comment_at(const char *s, size_t i) { return s[i] == ';' && i > 0 && isspace((unsigned char)s[i - 1]); }

/* Our syntax check of one line (already left-trimmed). Returns false when the
 * line is an error (reported), so inih gets a blank line instead. */
static bool check_line(load_ctx *c, const char *s, size_t n, int cap) {
  if (memchr(s, '\0', n)) {
    line_error(c, "syntax error: the line contains a NUL byte");
    return false;
  }
  if (n + 2 > (size_t)cap) {
    line_error(c, "line too long (%zu characters; the limit is %d)", n, cap - 2);
    return false;
  }
  if (n == 0 || s[0] == ';' || s[0] == '#') return true;
  if (s[0] == '[') {
    size_t i = 1;
    while (i < n && s[i] != ']' && !comment_at(s, i)) i++;
    if (i >= n || s[i] != ']') {
      line_error(c, "syntax error: section header has no closing ']'");
      return false;
    }
    size_t j = i + 1;
    while (j < n && isspace((unsigned char)s[j])) j++;
    if (j < n && s[j] != ';' && s[j] != '#') {
      line_error(c, "syntax error: unexpected text after ']'");
      return false;
    }
    char *name = dup_trim(s + 1, i - 1);
    if (!name) {
      c->cfg->oom = true;
      return false;
    }
    snprintf(c->section, sizeof c->section, "%s", name);
    c->in_section = true;
    c->section_known = known_section(name);
    if (!c->section_known) {
      char valid[128];
      known_sections(valid, sizeof valid);
      line_error(c, "unknown section [%s] (valid sections: %s)", name, valid);
    }
    free(name);
    return true;
  }
  size_t i = 0;
  while (i < n && s[i] != '=' && s[i] != ':' && !comment_at(s, i)) i++;
  if (i >= n || (s[i] != '=' && s[i] != ':')) {
    line_error(c, "syntax error: expected 'key = value', '[section]' or a comment");
    return false;
  }
  size_t k = i;
  while (k > 0 && isspace((unsigned char)s[k - 1])) k--;
  if (k == 0) {
    line_error(c, "syntax error: missing key name before '%c'", s[i]);
    return false;
  }
  return true;
}

/* inih's fgets-style reader: one line per call, which keeps c->line equal to
 * the line of the key the handler is called with next. */
static char *read_line(char *str, int num, void *stream) {
  load_ctx *c = stream;
  if (c->p >= c->end) return NULL;
  const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
  const char *s = c->p;
  size_t n = (size_t)((nl ? nl : c->end) - s);
  c->p = nl ? nl + 1 : c->end;
  c->line++;
  if (n && s[n - 1] == '\r') n--;
  if (c->line == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3, n -= 3;
  /* Indented lines would be continuation lines to inih. */
  while (n && (*s == ' ' || *s == '\t')) s++, n--;
  if (!check_line(c, s, n, num)) n = 0;
  memcpy(str, s, n);
  str[n] = '\n';
  str[n + 1] = '\0';
  return str;
}

/* Only registered names are remembered for the duplicate check: an unknown
 * name is an error of its own, and keeping every line's name made a file of
 * many unknown names quadratic (90,000 lines took 13 s). */
static void handle_cvar(load_ctx *c, const char *name, const char *value) {
  int first = seen_set_add(&c->cvars_seen, name, c->line);
  if (first < 0) {
    c->cfg->oom = true;
    return;
  }
  if (first > 0) {
    line_error(c, "duplicate cvar '%s' in [cvars] (first set at line %d)", name, first);
    return;
  }
  kc_cvar *cv = kc_cvar_find(name);
  if (!cv) {
    char known[768];
    known_cvars(known, sizeof known);
    line_error(c, "unknown cvar '%s' in [cvars] (%s)", name, known);
    return;
  }
  kc_err e;
  if (kc_cvar_check(cv, value, NULL, &e) != KEEL_OK) {
    line_error(c, "%s", e.msg);
    return;
  }
  set_cvar_entry(c->cfg, name, value, KC_CONFIG_FROM_FILE, c->file, c->line, NULL);
}

/* [plugin.NAME] key = value: only the shape is checked here; the value is
 * checked against the plugin's declared settings once the plugins on the
 * search path are known (kc_config_check_plugin_settings). */
static void handle_plugin_setting(load_ctx *c, const char *plugin, const char *key, const char *value) {
  if (!is_ident(key)) {
    line_error(c, "'%s' is not a setting name (expected [a-z0-9_]+) in [plugin.%s]", key, plugin);
    return;
  }
  char name[2 * KC_CVAR_NAME_MAX];
  snprintf(name, sizeof name, "%s.%s", plugin, key);
  int first = seen_set_add(&c->psets_seen, name, c->line);
  if (first < 0) {
    c->cfg->oom = true;
    return;
  }
  if (first > 0) {
    line_error(c, "duplicate key '%s' in [plugin.%s] (first set at line %d)", key, plugin, first);
    return;
  }
  set_pset_entry(c->cfg, name, value, KC_CONFIG_FROM_FILE, c->file, c->line, NULL);
}

static int handle_pair(void *user, const char *section, const char *name, const char *value) {
  load_ctx *c = user;
  (void)section; /* ours is trimmed and validated; inih's is raw */
  if (!c->in_section) {
    line_error(c, "key '%s' is outside any section (expected a [section] line above it)", name);
    return 1;
  }
  if (!c->section_known) return 1; /* the header was reported */
  if (strcmp(c->section, "cvars") == 0) {
    handle_cvar(c, name, value);
    return 1;
  }
  if (is_plugin_section(c->section)) {
    handle_plugin_setting(c, c->section + strlen(PLUGIN_SECTION_PREFIX), name, value);
    return 1;
  }
  int idx = key_index(c->section, name);
  if (idx < 0) {
    char valid[512];
    known_keys(c->section, valid, sizeof valid);
    line_error(c, "unknown key '%s' in [%s] (valid keys: %s)", name, c->section, valid);
    return 1;
  }
  if (c->first_line[idx]) {
    line_error(c, "duplicate key '%s' in [%s] (first set at line %d)", name, c->section, c->first_line[idx]);
    return 1;
  }
  c->first_line[idx] = c->line;
  cfg_value nv;
  char msg[768];
  if (!parse_value(c->cfg, &k_keys[idx], value, &nv, msg, sizeof msg)) {
    line_error(c, "%s", msg);
    return 1;
  }
  nv.source = KC_CONFIG_FROM_FILE;
  nv.file = c->file;
  nv.line = c->line;
  nv.base_dir = c->base_dir ? dup_str(c->cfg, c->base_dir) : NULL;
  assign(c->cfg, (size_t)idx, &nv);
  return 1;
}

/* The absolute directory of `file`, the anchor of its relative paths. */
static char *file_dir(kc_config *cfg, const char *file) {
  char dir[KC_PATH_MAX], cwd[KC_PATH_MAX], abs[KC_PATH_MAX];
  if (kc_path_dirname(file, dir, sizeof dir, NULL) != KEEL_OK) return NULL;
  if (!kc_path_is_absolute(dir)) {
    if (kc_path_cwd(cwd, sizeof cwd, NULL) != KEEL_OK) return dup_str(cfg, dir);
    if (kc_path_join(cwd, dir, abs, sizeof abs, NULL) != KEEL_OK) return dup_str(cfg, dir);
    return dup_str(cfg, abs);
  }
  return dup_str(cfg, dir);
}

static keel_result load_text(kc_config *cfg, const char *text, size_t len, const char *name, kc_err *err) {
  size_t first = cfg->nerrors;
  load_ctx c;
  memset(&c, 0, sizeof c);
  c.cfg = cfg;
  c.file = intern_file(cfg, name);
  c.base_dir = file_dir(cfg, name);
  c.p = text;
  c.end = text + len;
  int rc = ini_parse_stream(read_line, &c, handle_pair, &c);
  if (rc > 0) {
    /* Lines we reported reach inih blank, so this is a line inih refused
     * that our check let through; report it rather than lose it. */
    add_error(cfg, "%s:%d: syntax error", c.file, rc);
  } else if (rc == -2) {
    cfg->oom = true;
  }
  seen_set_free(&c.cvars_seen);
  seen_set_free(&c.psets_seen);
  free(c.base_dir);
  return report(cfg, first, err);
}

keel_result kc_config_load_string(kc_config *cfg, const char *text, const char *name, kc_err *err) {
  if (!cfg || !text) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "config load: NULL argument");
  return load_text(cfg, text, strlen(text), name ? name : "(string)", err);
}

/* Config files are small; anything bigger is a wrong path, not a config. */
#define CONFIG_FILE_MAX (1u << 20)

keel_result kc_config_load_file(kc_config *cfg, const char *path, kc_err *err) {
  if (!cfg || !path) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "config load: NULL argument");
  char *buf = NULL;
  size_t n = 0;
  keel_result r = kc_path_read_regular(path, CONFIG_FILE_MAX, "not a configuration file", &buf, &n, err);
  if (r != KEEL_OK) return r;
  r = load_text(cfg, buf, n, path, err);
  free(buf);
  return r;
}

keel_result kc_config_set_override(kc_config *cfg, const char *assignment, const char *origin, kc_err *err) {
  if (!cfg || !assignment) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "config override: NULL argument");
  if (!origin) origin = "--set";
  size_t first = cfg->nerrors;
  const char *eq = strchr(assignment, '=');
  const char *dot = eq ? memchr(assignment, '.', (size_t)(eq - assignment)) : NULL;
  if (!eq || !dot) {
    add_error(cfg, "%s %s: expected section.key=value", origin, assignment);
    return report(cfg, first, err);
  }
  char *section = dup_trim(assignment, (size_t)(dot - assignment));
  char *name = dup_trim(dot + 1, (size_t)(eq - dot - 1));
  char *value = dup_trim(eq + 1, strlen(eq + 1));
  if (!section || !name || !value) {
    cfg->oom = true;
  } else if (strcmp(section, "plugin") == 0) {
    const char *dot2 = strchr(name, '.');
    char *plugin = dot2 ? dup_trim(name, (size_t)(dot2 - name)) : NULL;
    if (!dot2 || !plugin || !is_ident(plugin) || !is_ident(dot2 + 1))
      add_error(cfg, "%s %s: expected plugin.NAME.key=value (NAME and key made of [a-z0-9_])", origin, assignment);
    else
      set_pset_entry(cfg, name, value, KC_CONFIG_FROM_COMMAND_LINE, NULL, 0, origin);
    free(plugin);
  } else if (!known_section(section)) {
    char valid[128];
    known_sections(valid, sizeof valid);
    add_error(cfg, "%s %s: unknown section [%s] (valid sections: %s)", origin, assignment, section, valid);
  } else if (strcmp(section, "cvars") == 0) {
    kc_cvar *cv = kc_cvar_find(name);
    kc_err e;
    if (!cv) {
      char known[768];
      known_cvars(known, sizeof known);
      add_error(cfg, "%s %s: unknown cvar '%s' (%s)", origin, assignment, name, known);
    } else if (kc_cvar_check(cv, value, NULL, &e) != KEEL_OK) {
      add_error(cfg, "%s %s: %s", origin, assignment, e.msg);
    } else {
      set_cvar_entry(cfg, name, value, KC_CONFIG_FROM_COMMAND_LINE, NULL, 0, origin);
    }
  } else {
    int idx = key_index(section, name);
    cfg_value nv;
    char msg[768];
    if (idx < 0) {
      char valid[512];
      known_keys(section, valid, sizeof valid);
      add_error(cfg, "%s %s: unknown key '%s' in [%s] (valid keys: %s)", origin, assignment, name, section, valid);
    } else if (!parse_value(cfg, &k_keys[idx], value, &nv, msg, sizeof msg)) {
      add_error(cfg, "%s %s: %s", origin, assignment, msg);
    } else {
      nv.source = KC_CONFIG_FROM_COMMAND_LINE;
      nv.origin = dup_str(cfg, origin);
      char cwd[KC_PATH_MAX];
      nv.base_dir = kc_path_cwd(cwd, sizeof cwd, NULL) == KEEL_OK ? dup_str(cfg, cwd) : NULL;
      assign(cfg, (size_t)idx, &nv);
    }
  }
  free(section);
  free(name);
  free(value);
  return report(cfg, first, err);
}

/* ---- reading values ------------------------------------------------------- */

static const cfg_value *get(const kc_config *cfg, const char *section, const char *name, const kc_config_key **k) {
  int idx = key_index(section, name);
  if (idx < 0 || !cfg) return NULL;
  if (k) *k = &k_keys[idx];
  return &cfg->values[idx];
}

bool kc_config_get_bool(const kc_config *cfg, const char *section, const char *name) {
  const kc_config_key *k;
  const cfg_value *v = get(cfg, section, name, &k);
  return v && k->type == KC_CONFIG_BOOL && v->b;
}

int64_t kc_config_get_int(const kc_config *cfg, const char *section, const char *name) {
  const kc_config_key *k;
  const cfg_value *v = get(cfg, section, name, &k);
  return v && k->type == KC_CONFIG_INT ? v->i : 0;
}

double kc_config_get_float(const kc_config *cfg, const char *section, const char *name) {
  const kc_config_key *k;
  const cfg_value *v = get(cfg, section, name, &k);
  if (!v) return 0.0;
  if (k->type == KC_CONFIG_FLOAT) return v->f;
  if (k->type == KC_CONFIG_INT) return (double)v->i;
  return 0.0;
}

const char *kc_config_get_text(const kc_config *cfg, const char *section, const char *name) {
  const cfg_value *v = get(cfg, section, name, NULL);
  return v && v->text ? v->text : "";
}

const char *kc_config_get_string(const kc_config *cfg, const char *section, const char *name) {
  const kc_config_key *k;
  const cfg_value *v = get(cfg, section, name, &k);
  if (!v || !(k->type == KC_CONFIG_STRING || k->type == KC_CONFIG_ENUM)) return "";
  return v->text ? v->text : "";
}

size_t kc_config_list_count(const kc_config *cfg, const char *section, const char *name) {
  const kc_config_key *k;
  const cfg_value *v = get(cfg, section, name, &k);
  return v && k->type == KC_CONFIG_LIST ? v->nitems : 0;
}

const char *kc_config_list_item(const kc_config *cfg, const char *section, const char *name, size_t index) {
  const kc_config_key *k;
  const cfg_value *v = get(cfg, section, name, &k);
  return v && k->type == KC_CONFIG_LIST && index < v->nitems ? v->items[index] : NULL;
}

kc_config_source kc_config_get_source(const kc_config *cfg, const char *section, const char *name, int *line) {
  if (line) *line = 0;
  if (section && strcmp(section, "cvars") == 0) {
    const cvar_entry *e = cfg ? find_cvar_entry(cfg, name) : NULL;
    if (!e) return KC_CONFIG_FROM_DEFAULT;
    if (line) *line = e->line;
    return e->source;
  }
  const cfg_value *v = get(cfg, section, name, NULL);
  if (!v) return KC_CONFIG_FROM_DEFAULT;
  if (line) *line = v->line;
  return v->source;
}

static const char *describe(kc_config_source src, const char *file, int line, const char *origin, char *buf,
                            size_t cap) {
  switch (src) {
    case KC_CONFIG_FROM_DEFAULT: snprintf(buf, cap, "default"); break;
    case KC_CONFIG_FROM_FILE: snprintf(buf, cap, "%s:%d", file ? file : "?", line); break;
    case KC_CONFIG_FROM_COMMAND_LINE: snprintf(buf, cap, "command line (%s)", origin ? origin : "--set"); break;
  }
  return buf;
}

const char *kc_config_describe_source(const kc_config *cfg, const char *section, const char *name, char *buf,
                                      size_t cap) {
  if (!cap) return buf;
  if (section && strcmp(section, "cvars") == 0) {
    const cvar_entry *e = cfg ? find_cvar_entry(cfg, name) : NULL;
    if (!e) return describe(KC_CONFIG_FROM_DEFAULT, NULL, 0, NULL, buf, cap);
    return describe(e->source, e->file, e->line, e->origin, buf, cap);
  }
  const cfg_value *v = get(cfg, section, name, NULL);
  if (!v) return describe(KC_CONFIG_FROM_DEFAULT, NULL, 0, NULL, buf, cap);
  return describe(v->source, v->file, v->line, v->origin, buf, cap);
}

keel_result kc_config_resolve_path(const kc_config *cfg, const char *section, const char *name, const char *value,
                                   char *out, size_t cap, kc_err *err) {
  const cfg_value *v = get(cfg, section, name, NULL);
  if (!v || !value) return kc_err_set(err, KEEL_ERR_NOT_FOUND, "no key %s.%s", section ? section : "?", name ? name : "?");
  if (kc_path_is_absolute(value)) return kc_path_normalize(value, out, cap, err);
  if (v->base_dir) return kc_path_join(v->base_dir, value, out, cap, err);
  if (cfg->default_dir) return kc_path_join(cfg->default_dir, value, out, cap, err);
  char dir[KC_PATH_MAX];
  keel_result r = kc_path_data_dir(dir, sizeof dir, err);
  if (r != KEEL_OK) return r;
  return kc_path_join(dir, value, out, cap, err);
}

size_t kc_config_cvar_count(const kc_config *cfg) { return cfg->ncvars; }

bool kc_config_cvar_at(const kc_config *cfg, size_t index, const char **name, const char **value) {
  if (index >= cfg->ncvars) return false;
  if (name) *name = cfg->cvars[index].name;
  if (value) *value = cfg->cvars[index].value;
  return true;
}

keel_result kc_config_apply_cvars(const kc_config *cfg, kc_err *err) {
  for (size_t i = 0; i < cfg->ncvars; i++) {
    keel_result r = kc_cvar_set(cfg->cvars[i].name, cfg->cvars[i].value, err);
    if (r != KEEL_OK) return r;
  }
  return KEEL_OK;
}

/* ---- problems found after loading, and notes ------------------------------- */

/* Where the value of section.name came from, as the start of a message:
 * "file:line: ", "--set section.name=value: " or "default: ". */
static void where_prefix(const kc_config *cfg, const char *section, const char *name, char *buf, size_t cap) {
  kc_config_source src = KC_CONFIG_FROM_DEFAULT;
  const char *file = NULL, *origin = NULL, *text = "";
  int line = 0;
  const cvar_entry *e = NULL;
  if (strcmp(section, "cvars") == 0) {
    e = find_cvar_entry(cfg, name);
  } else if (is_plugin_section(section)) {
    char full[2 * KC_CVAR_NAME_MAX];
    snprintf(full, sizeof full, "%s.%s", section + strlen(PLUGIN_SECTION_PREFIX), name);
    e = find_pset_entry(cfg, full);
  } else {
    int idx = key_index(section, name);
    if (idx >= 0) {
      const cfg_value *v = &cfg->values[idx];
      src = v->source, file = v->file, line = v->line, origin = v->origin, text = v->text ? v->text : "";
    }
  }
  if (e) src = e->source, file = e->file, line = e->line, origin = e->origin, text = e->value ? e->value : "";
  switch (src) {
    case KC_CONFIG_FROM_FILE: snprintf(buf, cap, "%s:%d: ", file ? file : "?", line); break;
    case KC_CONFIG_FROM_COMMAND_LINE:
      snprintf(buf, cap, "%s %s.%s=%s: ", origin ? origin : "--set", section, name, text);
      break;
    case KC_CONFIG_FROM_DEFAULT: snprintf(buf, cap, "default: "); break;
  }
}

void kc_config_report(kc_config *cfg, const char *section, const char *name, const char *fmt, ...) {
  char where[KC_PATH_MAX + 160], msg[KC_ERR_MSG_MAX];
  where_prefix(cfg, section, name, where, sizeof where);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  add_error(cfg, "%.*s%s", (int)(KC_ERR_MSG_MAX / 2), where, msg);
}

void kc_config_note(kc_config *cfg, const char *section, const char *name, const char *fmt, ...) {
  key_note *grown = realloc(cfg->notes, (cfg->nnotes + 1) * sizeof *grown);
  if (!grown) {
    cfg->oom = true;
    return;
  }
  cfg->notes = grown;
  char key[160], text[512];
  snprintf(key, sizeof key, "%s.%s", section, name);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  key_note *n = &cfg->notes[cfg->nnotes];
  n->key = dup_str(cfg, key);
  n->text = dup_str(cfg, text);
  if (n->key && n->text) {
    cfg->nnotes++;
  } else {
    free(n->key);
    free(n->text);
  }
}

/* ---- [plugin.NAME] ----------------------------------------------------------- */

keel_result kc_config_add_plugin_schema(kc_config *cfg, const char *plugin, const keel_setting *settings,
                                        uint32_t count, kc_err *err) {
  if (!plugin) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "plugin schema: no plugin name");
  for (size_t i = 0; i < cfg->nschemas; i++)
    if (strcmp(cfg->schemas[i].plugin, plugin) == 0) return KEEL_OK; /* the first one found wins */
  plugin_schema *grown = realloc(cfg->schemas, (cfg->nschemas + 1) * sizeof *grown);
  if (!grown) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "out of memory");
  cfg->schemas = grown;
  char *name = strdup(plugin);
  if (!name) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "out of memory");
  cfg->schemas[cfg->nschemas++] = (plugin_schema){.plugin = name, .settings = settings, .count = settings ? count : 0};
  return KEEL_OK;
}

static const plugin_schema *find_schema(const kc_config *cfg, const char *plugin, size_t len) {
  for (size_t i = 0; i < cfg->nschemas; i++)
    if (strlen(cfg->schemas[i].plugin) == len && strncmp(cfg->schemas[i].plugin, plugin, len) == 0)
      return &cfg->schemas[i];
  return NULL;
}

static const keel_setting *find_setting(const plugin_schema *s, const char *key) {
  for (uint32_t i = 0; i < s->count; i++)
    if (strcmp(s->settings[i].name, key) == 0) return &s->settings[i];
  return NULL;
}

/* "a, b, c" of the plugins that declare settings; *names gets them too
 * (up to cap), for suggestions. */
static size_t plugins_with_settings(const kc_config *cfg, char *buf, size_t cap, const char **names, size_t ncap) {
  size_t off = 0, n = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < cfg->nschemas; i++) {
    if (n < ncap) names[n++] = cfg->schemas[i].plugin;
    if (cfg->schemas[i].count == 0 || off >= cap) continue;
    off += (size_t)snprintf(buf + off, cap - off, "%s%s", off ? ", " : "", cfg->schemas[i].plugin);
  }
  if (!buf[0]) snprintf(buf, cap, "none");
  return n;
}

size_t kc_config_check_plugin_settings(kc_config *cfg) {
  size_t before = cfg->nerrors;
  for (size_t i = 0; i < cfg->npsets; i++) {
    const cvar_entry *e = &cfg->psets[i];
    const char *dot = strchr(e->name, '.');
    if (!dot) continue;
    size_t plen = (size_t)(dot - e->name);
    char section[KC_CVAR_NAME_MAX + 16];
    snprintf(section, sizeof section, PLUGIN_SECTION_PREFIX "%.*s", (int)plen, e->name);
    const char *key = dot + 1;
    const plugin_schema *schema = find_schema(cfg, e->name, plen);
    if (!schema) {
      char list[512], plugin[KC_CVAR_NAME_MAX];
      const char *names[64];
      size_t n = plugins_with_settings(cfg, list, sizeof list, names, 64);
      snprintf(plugin, sizeof plugin, "%.*s", (int)plen, e->name);
      const char *guess = kc_suggest(plugin, names, n);
      char hint[128] = "";
      if (guess) snprintf(hint, sizeof hint, "; did you mean '%s'?", guess);
      kc_config_report(cfg, section, key,
                       "[%s]: no plugin named '%s' on the plugin search path (plugins with settings: %s%s)", section,
                       plugin, list, hint);
      continue;
    }
    const keel_setting *s = find_setting(schema, key);
    if (!s) {
      char valid[512] = "";
      const char *names[64];
      size_t off = 0, n = 0;
      for (uint32_t k = 0; k < schema->count; k++) {
        if (n < 64) names[n++] = schema->settings[k].name;
        if (off < sizeof valid)
          off += (size_t)snprintf(valid + off, sizeof valid - off, "%s%s", off ? ", " : "", schema->settings[k].name);
      }
      const char *guess = kc_suggest(key, names, n);
      char hint[128] = "";
      if (guess) snprintf(hint, sizeof hint, "; did you mean '%s'?", guess);
      if (schema->count == 0)
        kc_config_report(cfg, section, key, "unknown setting '%s': plugin '%s' declares no settings", key,
                         schema->plugin);
      else
        kc_config_report(cfg, section, key, "unknown setting '%s' of plugin '%s' (its settings: %s%s)", key,
                         schema->plugin, valid, hint);
      continue;
    }
    char why[512];
    if (!kc_setting_check(s, e->value, why, sizeof why))
      kc_config_report(cfg, section, key, "%s.%s: %s", section, key, why);
  }
  return cfg->nerrors - before;
}

const char *kc_config_plugin_value(const kc_config *cfg, const char *plugin, const char *key) {
  char name[2 * KC_CVAR_NAME_MAX];
  snprintf(name, sizeof name, "%s.%s", plugin ? plugin : "", key ? key : "");
  const cvar_entry *e = find_pset_entry(cfg, name);
  return e ? e->value : NULL;
}

/* ---- printing ------------------------------------------------------------------ */

/* Values longer than this push their source column out rather than widen all. */
#define VALUE_COLUMN_MAX 32

keel_result kc_config_write_effective(const kc_config *cfg, FILE *out, kc_err *err) {
  size_t name_w = 0, value_w = 0;
  for (size_t i = 0; i < KEY_COUNT; i++) {
    size_t n = strlen(k_keys[i].section) + 1 + strlen(k_keys[i].name);
    if (n > name_w) name_w = n;
    size_t v = strlen(cfg->values[i].text ? cfg->values[i].text : "");
    if (v > value_w) value_w = v;
  }
  size_t ncv = kc_cvar_count();
  for (size_t i = 0; i < ncv; i++) {
    kc_cvar_value v;
    kc_cvar_get_value(kc_cvar_at(i), &v);
    size_t n = strlen("cvars.") + strlen(kc_cvar_name(kc_cvar_at(i)));
    if (n > name_w) name_w = n;
    if (strlen(v.text) > value_w) value_w = strlen(v.text);
  }
  for (size_t i = 0; i < cfg->nschemas; i++) {
    for (uint32_t k = 0; k < cfg->schemas[i].count; k++) {
      size_t n = strlen(PLUGIN_SECTION_PREFIX) + strlen(cfg->schemas[i].plugin) + 1 + strlen(cfg->schemas[i].settings[k].name);
      if (n > name_w) name_w = n;
    }
  }
  if (value_w > VALUE_COLUMN_MAX) value_w = VALUE_COLUMN_MAX;

  const char *file = kc_config_file(cfg);
  fprintf(out, "# configuration file: %s\n", file ? file : "none (built-in defaults)");
  const char *prev_section = NULL;
  char qual[160], src[KC_PATH_MAX + 64];
  for (size_t i = 0; i < KEY_COUNT; i++) {
    const kc_config_key *k = &k_keys[i];
    if (prev_section && strcmp(prev_section, k->section) != 0) fputc('\n', out);
    prev_section = k->section;
    snprintf(qual, sizeof qual, "%s.%s", k->section, k->name);
    kc_config_describe_source(cfg, k->section, k->name, src, sizeof src);
    fprintf(out, "%-*s = %-*s  [%s]\n", (int)name_w, qual, (int)value_w, cfg->values[i].text, src);
    for (size_t n = 0; n < cfg->nnotes; n++)
      if (strcmp(cfg->notes[n].key, qual) == 0) fprintf(out, "    # %s\n", cfg->notes[n].text);
  }
  if (ncv) fputc('\n', out);
  for (size_t i = 0; i < ncv; i++) {
    kc_cvar *cv = kc_cvar_at(i);
    kc_cvar_value v;
    kc_cvar_get_value(cv, &v);
    snprintf(qual, sizeof qual, "cvars.%s", kc_cvar_name(cv));
    kc_config_describe_source(cfg, "cvars", kc_cvar_name(cv), src, sizeof src);
    fprintf(out, "%-*s = %-*s  [%s]\n", (int)name_w, qual, (int)value_w, v.text, src);
  }
  /* Every setting of every plugin found, whether or not the file sets it. */
  for (size_t i = 0; i < cfg->nschemas; i++) {
    const plugin_schema *sc = &cfg->schemas[i];
    if (sc->count) fputc('\n', out);
    for (uint32_t k = 0; k < sc->count; k++) {
      const keel_setting *s = &sc->settings[k];
      char name[2 * KC_CVAR_NAME_MAX];
      snprintf(name, sizeof name, "%s.%s", sc->plugin, s->name);
      snprintf(qual, sizeof qual, PLUGIN_SECTION_PREFIX "%s", name);
      const cvar_entry *e = find_pset_entry(cfg, name);
      if (e)
        describe(e->source, e->file, e->line, e->origin, src, sizeof src);
      else
        snprintf(src, sizeof src, "default");
      fprintf(out, "%-*s = %-*s  [%s]\n", (int)name_w, qual, (int)value_w, e ? e->value : s->default_value, src);
    }
  }
  if (fflush(out) != 0 || ferror(out))
    return kc_err_set(err, KEEL_ERR_IO, "cannot write the configuration: %s", strerror(errno));
  return KEEL_OK;
}
