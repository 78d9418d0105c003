/* keel/plugin.h: how a shared object becomes a keel plugin.
 *
 * A plugin exports exactly one symbol, keel_plugin_entry, returning a static
 * manifest. The host reads the manifest before anything else and decides
 * whether to load the plugin; reading it must have no side effects, so
 * `keel --list-plugins` can show every plugin found without initialising it.
 * Everything else a plugin offers is an interface looked up by string id
 * through get_interface, so adding an optional feature never bumps the ABI.
 *
 * A minimal renderer plugin (see docs/plugins.md for the whole tutorial):
 *
 *     #include <keel/plugin.h>
 *     #include <keel/renderer.h>
 *
 *     static const keel_renderer_api my_api = { KEEL_STRUCT_SIZE(keel_renderer_api), ... };
 *     static const void *my_get_interface(const char *id) {
 *       return keel_interface_is(id, KEEL_RENDERER_INTERFACE) ? &my_api : NULL;
 *     }
 *     static const keel_plugin_manifest my_manifest = {
 *       .struct_size = KEEL_STRUCT_SIZE(keel_plugin_manifest),
 *       .abi_major = KEEL_ABI_MAJOR, .abi_minor = KEEL_ABI_MINOR,
 *       .name = "mine", .kind = KEEL_PLUGIN_RENDERER, .version = "1.0.0",
 *       .description = "What it does, in one line",
 *       .get_interface = my_get_interface,
 *     };
 *     KEEL_PLUGIN_ENTRY(&my_manifest)
 *
 * Build it as a shared object with -fvisibility=hidden; the CMake package's
 * keel_add_plugin() does that for you. */
#ifndef KEEL_PLUGIN_H
#define KEEL_PLUGIN_H

#include <keel/abi.h>
#include <keel/host.h>

KEEL_BEGIN_DECLS

typedef enum keel_plugin_kind {
  KEEL_PLUGIN_RENDERER = 1,
  KEEL_PLUGIN_SCRIPT = 2
} keel_plugin_kind;

/* 1.1: one setting a plugin declares. The host knows it without creating
 * the plugin: `[plugin.NAME] key = value` in engine.ini and
 * `--set plugin.NAME.key=value` are checked against it, `--check-config` and
 * `--list-plugins --verbose` show it, and from just before the plugin's
 * create until exit it is the cvar "NAME.key" (read it with
 * host->cvar_get), holding the configured value. The host takes the cvars
 * back if create fails. Everything is static and owned by the plugin; the
 * host reads the table on any thread, and copies what it keeps.
 * The loader refuses a table ("bad settings") unless: name is [a-z0-9_]+,
 * unique, and "NAME.name" fits in KEEL_NAME_MAX - 1 (31) bytes; type is a
 * keel_cvar_type; INT/FLOAT have min <= max (whole numbers for INT);
 * STRING choices are NULL or at most 16 names of up to 31 bytes; help is
 * set; default_value is valid for the setting. See docs/plugins.md §8. */
typedef struct keel_setting {
  const char *name;          /* [a-z0-9_]+, unique within the plugin */
  keel_cvar_type type;
  const char *default_value; /* as it would be written in engine.ini */
  double min, max;           /* KEEL_CVAR_INT / FLOAT: the valid range (inclusive) */
  const char *choices;       /* KEEL_CVAR_STRING: comma-separated valid values, or NULL for any text */
  const char *help;          /* one line, shown by --list-plugins --verbose */
} keel_setting;

/* The manifest. Its first four members (struct_size, abi_major, abi_minor,
 * name) keep their place in every ABI major, so a host can always read the
 * versions of a plugin it is about to refuse and say why. */
typedef struct keel_plugin_manifest {
  uint32_t struct_size;  /* KEEL_STRUCT_SIZE(keel_plugin_manifest) at build time */
  uint16_t abi_major;    /* KEEL_ABI_MAJOR the plugin was built against */
  uint16_t abi_minor;    /* KEEL_ABI_MINOR the plugin was built against */
  const char *name;      /* short identifier used in engine.ini: [a-z0-9_]+ */
  keel_plugin_kind kind;
  const char *version;     /* the plugin's own version, "MAJOR.MINOR.PATCH" */
  const char *description; /* one line, shown by --list-plugins */
  /* Returns the static table of the interface `id` (e.g. "keel.renderer/1"),
   * or NULL when the plugin does not provide it. Any thread; must not
   * allocate or initialise anything. The table lives as long as the plugin
   * stays loaded. */
  const void *(*get_interface)(const char *id);
  /* ---- 1.1 */
  const keel_setting *settings; /* the plugin's settings (static), or NULL */
  uint32_t setting_count;       /* entries in settings; 0 = none */
} keel_plugin_manifest;

/* The one exported symbol. Any thread; no side effects; the manifest is
 * static and owned by the plugin. */
typedef const keel_plugin_manifest *(*keel_plugin_entry_fn)(void);
#define KEEL_PLUGIN_ENTRY_SYMBOL "keel_plugin_entry"

#define KEEL_PLUGIN_ENTRY(manifest_ptr) \
  KEEL_EXPORT const keel_plugin_manifest *keel_plugin_entry(void) { return (manifest_ptr); }

/* String compare for interface ids without <string.h>. Any thread. */
static inline bool keel_interface_is(const char *id, const char *want) {
  if (!id || !want) return false;
  while (*id && *id == *want) {
    id++;
    want++;
  }
  return *id == *want;
}

KEEL_END_DECLS

#endif /* KEEL_PLUGIN_H */
