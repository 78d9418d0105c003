/* See preflight.h. The names keel ships are taken from the schema's own
 * lists (config.c), so a new shipped plugin is one edit there. */
#include "app/preflight.h"

#include "base/path.h"
#include "base/suggest.h"

#include <keel/script.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define NAMES_MAX 64

/* The plugins of `kind` found on the path, by the name their file gives
 * (keel_<kind>_<name>.so), each once. */
static size_t found_names(const kc_plugin_catalog *cat, const char *kind, char names[][KC_PLUGIN_NAME_MAX],
                          size_t cap) {
  size_t n = 0;
  char prefix[32];
  snprintf(prefix, sizeof prefix, "keel_%s_", kind);
  for (size_t i = 0; i < cat->count && n < cap; i++) {
    const char *slash = strrchr(cat->items[i].file, '/');
    const char *base = slash ? slash + 1 : cat->items[i].file;
    size_t plen = strlen(prefix), blen = strlen(base);
    if (strncmp(base, prefix, plen) != 0 || blen <= plen + 3) continue;
    char name[KC_PLUGIN_NAME_MAX];
    snprintf(name, sizeof name, "%.*s", (int)(blen - plen - 3), base + plen);
    bool seen = false;
    for (size_t k = 0; k < n && !seen; k++) seen = strcmp(names[k], name) == 0;
    if (!seen) snprintf(names[n++], KC_PLUGIN_NAME_MAX, "%s", name);
  }
  return n;
}

/* True when `name` is one of the '|'-separated names keel ships for a key. */
static bool shipped(const char *section, const char *key, const char *name) {
  size_t count;
  const kc_config_key *keys = kc_config_keys(&count);
  for (size_t i = 0; i < count; i++) {
    if (strcmp(keys[i].section, section) != 0 || strcmp(keys[i].name, key) != 0 || !keys[i].choices) continue;
    size_t n = strlen(name);
    for (const char *p = keys[i].choices; *p;) {
      const char *e = strchr(p, '|');
      size_t len = e ? (size_t)(e - p) : strlen(p);
      if (len == n && strncmp(p, name, n) == 0) return true;
      p += len + (e ? 1 : 0);
    }
  }
  return false;
}

/* One name of [renderer] backend / fallback or [script] runtime. */
static void check_name(kc_config *cfg, const kc_plugin_catalog *cat, const char *kind, const char *plural,
                       const char *section, const char *key, const char *name, const char *what) {
  char names[NAMES_MAX][KC_PLUGIN_NAME_MAX];
  size_t n = found_names(cat, kind, names, NAMES_MAX);
  for (size_t i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0) return;
  if (shipped(section, key, name)) {
    kc_config_note(cfg, section, key, "%s: keel_%s_%s.so is not on the plugin search path; the run will skip it",
                   name, kind, name);
    return;
  }
  /* Suggestions come from what exists and what keel ships. */
  const char *candidates[NAMES_MAX + 8];
  size_t nc = 0;
  char list[512] = "";
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    candidates[nc++] = names[i];
    if (off < sizeof list) off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "", names[i]);
  }
  static const char *const shipped_names[] = {"vulkan", "gl", "null", "lua", "js", "native"};
  for (size_t i = 0; i < sizeof shipped_names / sizeof shipped_names[0]; i++)
    if (shipped(section, key, shipped_names[i])) candidates[nc++] = shipped_names[i];
  if (strcmp(kind, "script") == 0) candidates[nc++] = "native";
  const char *guess = kc_suggest(name, candidates, nc);
  char hint[128] = "";
  if (guess) snprintf(hint, sizeof hint, "; did you mean '%s'?", guess);
  kc_config_report(cfg, section, key,
                   "%s.%s: %sno %s plugin '%s' (keel_%s_%s.so) on the plugin search path (%s found: %s%s)", section,
                   key, what, kind, name, kind, name, plural, off ? list : "none", hint);
}

static const kc_plugin_info *usable(const kc_plugin_catalog *cat, keel_plugin_kind kind, const char *name) {
  for (size_t i = 0; i < cat->count; i++) {
    const kc_plugin_info *p = &cat->items[i];
    if (!p->shadowed && p->status == KC_PLUGIN_OK && p->kind == kind && strcmp(p->name, name) == 0) return p;
  }
  return NULL;
}

static const char *extension_of(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *dot = strrchr(slash ? slash : path, '.');
  return dot ? dot : "";
}

/* [script] main: a file, with the runtime's extension. */
static void check_main(kc_config *cfg, const kc_plugin_catalog *cat, const char *runtime) {
  const char *value = kc_config_get_string(cfg, "script", "main");
  char path[KC_PATH_MAX];
  kc_err e;
  if (kc_config_resolve_path(cfg, "script", "main", value, path, sizeof path, &e) != KEEL_OK) {
    kc_config_report(cfg, "script", "main", "script.main: %s", e.msg);
    return;
  }
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
    char anchor[KC_PATH_MAX + 96] = "";
    if (!kc_path_is_absolute(value)) {
      kc_config_source src = kc_config_get_source(cfg, "script", "main", NULL);
      if (src == KC_CONFIG_FROM_COMMAND_LINE)
        snprintf(anchor, sizeof anchor, "; a relative path on the command line starts at the current directory");
      else if (src == KC_CONFIG_FROM_FILE)
        snprintf(anchor, sizeof anchor, "; a relative path in engine.ini starts at that file's directory");
      else
        snprintf(anchor, sizeof anchor, "; the default is relative to keel's data directory");
    }
    char is_what[64];
    if (stat(path, &st) != 0)
      snprintf(is_what, sizeof is_what, "does not exist");
    else
      snprintf(is_what, sizeof is_what, "is %s, not a regular file", kc_path_file_kind(st.st_mode));
    kc_config_report(cfg, "script", "main", "script.main: %s %s%s; set script.main to the game's entry script", path,
                     is_what, anchor);
    return;
  }
  /* A script file is at most KEEL_SCRIPT_SOURCE_MAX bytes (the runtimes
   * refuse more). */
  if ((uint64_t)st.st_size > KEEL_SCRIPT_SOURCE_MAX) {
    kc_config_report(cfg, "script", "main", "script.main: %s is %llu bytes, more than the %u a script file may have",
                     path, (unsigned long long)st.st_size, KEEL_SCRIPT_SOURCE_MAX);
    return;
  }
  /* The runtime's extension: from its plugin when it is usable here, else
   * what the runtimes keel ships use. */
  const kc_plugin_info *rt = usable(cat, KEEL_PLUGIN_SCRIPT, runtime);
  const char *want = rt && rt->file_extension[0] ? rt->file_extension
                     : strcmp(runtime, "lua") == 0 ? ".lua"
                     : strcmp(runtime, "js") == 0  ? ".js"
                                                   : NULL;
  const char *have = extension_of(path);
  if (!want || strcmp(want, have) == 0) return;
  /* The fix: the same game in the runtime's language next to it, or the
   * runtime that runs this file. */
  char fix[KC_PATH_MAX + 128] = "";
  char sibling[KC_PATH_MAX];
  int n = snprintf(sibling, sizeof sibling, "%.*s%s", (int)(strlen(path) - strlen(have)), path, want);
  if (n > 0 && (size_t)n < sizeof sibling && stat(sibling, &st) == 0 && S_ISREG(st.st_mode))
    snprintf(fix, sizeof fix, "set script.main=%s", sibling);
  for (size_t i = 0; i < cat->count && !fix[0]; i++) {
    const kc_plugin_info *p = &cat->items[i];
    if (!p->shadowed && p->status == KC_PLUGIN_OK && p->kind == KEEL_PLUGIN_SCRIPT && strcmp(p->file_extension, have) == 0)
      snprintf(fix, sizeof fix, "set script.runtime=%s, or script.main to a %s file", p->name, want);
  }
  if (!fix[0]) snprintf(fix, sizeof fix, "set script.main to the game's %s file", want);
  kc_config_report(cfg, "script", "main", "script.main: %s is a '%s' file, but script.runtime '%s' runs '%s' files; %s",
                   path, have, runtime, want, fix);
}

keel_result kc_app_preflight(kc_config *cfg, const kc_plugin_loader *loader, kc_plugin_catalog *catalog, kc_err *err) {
  keel_result r = kc_plugin_list(loader, catalog, err);
  if (r != KEEL_OK) return r;
  for (size_t i = 0; i < catalog->count; i++) {
    const kc_plugin_info *p = &catalog->items[i];
    if (p->shadowed || p->status != KC_PLUGIN_OK) continue;
    if ((r = kc_config_add_plugin_schema(cfg, p->name, p->settings, p->setting_count, err)) != KEEL_OK) return r;
  }
  kc_config_check_plugin_settings(cfg);

  check_name(cfg, catalog, "renderer", "renderers", "renderer", "backend", kc_config_get_string(cfg, "renderer", "backend"), "");
  size_t fallbacks = kc_config_list_count(cfg, "renderer", "fallback");
  for (size_t i = 0; i < fallbacks; i++) {
    char what[32];
    snprintf(what, sizeof what, "item %zu: ", i + 1);
    check_name(cfg, catalog, "renderer", "renderers", "renderer", "fallback", kc_config_list_item(cfg, "renderer", "fallback", i),
               fallbacks > 1 ? what : "");
  }
  const char *runtime = kc_config_get_string(cfg, "script", "runtime");
  if (strcmp(runtime, "native") != 0) {
    size_t before = kc_config_error_count(cfg);
    check_name(cfg, catalog, "script", "script runtimes", "script", "runtime", runtime, "");
    if (kc_config_error_count(cfg) == before) check_main(cfg, catalog, runtime);
  }
  return KEEL_OK;
}
