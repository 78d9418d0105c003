/* kc_plugin: finds keel_<kind>_<name>.so on a search path, dlopens it, checks
 * its manifest against the host's ABI and its kind's interface, and picks the
 * first usable plugin of a fallback chain. Every refusal is one line naming the
 * file and the cause, so `keel` can say exactly why a renderer did not load. */
#ifndef KC_PLUGIN_LOADER_H
#define KC_PLUGIN_LOADER_H

#include <keel/abi.h>
#include <keel/plugin.h>
#include <keel/renderer.h>
#include <keel/types.h>

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define KC_PLUGIN_FILE_MAX 1024 /* a plugin file's full path, NUL included */
#define KC_PLUGIN_NAME_MAX 64   /* a plugin name ([a-z0-9_]+) as read or asked for */
#define KC_PLUGIN_VERSION_MAX 32
#define KC_PLUGIN_DESCRIPTION_MAX 256

/* Why a plugin was or was not usable. Exactly one per attempt or listed file. */
typedef enum kc_plugin_status {
  KC_PLUGIN_OK = 0,
  KC_PLUGIN_NOT_FOUND,         /* no keel_<kind>_<name>.so in any search directory */
  KC_PLUGIN_NOT_LOADABLE,      /* dlopen refused it (not ELF, unresolved symbol, ...) */
  KC_PLUGIN_NO_ENTRY,          /* keel_plugin_entry is not exported */
  KC_PLUGIN_ABI_REFUSED,       /* ABI major/minor rule, or a manifest too small to read */
  KC_PLUGIN_WRONG_KIND,        /* the manifest's kind is not the one asked for */
  KC_PLUGIN_INTERFACE_MISSING, /* the kind's interface is absent, too small or incomplete */
  KC_PLUGIN_CREATE_FAILED,     /* the caller's create step failed with the plugin's reason */
  KC_PLUGIN_BAD_SETTINGS       /* the manifest's settings table breaks a rule of keel/plugin.h */
} kc_plugin_status;

/* "ok", "not found", "not loadable", "no entry symbol", "ABI refused",
 * "wrong kind", "interface missing", "create failed", "bad settings".
 * Never NULL. Any thread. */
const char *kc_plugin_status_text(kc_plugin_status status);

/* "renderer", "script", or "unknown". Never NULL. Any thread. */
const char *kc_plugin_kind_text(keel_plugin_kind kind);

/* The search path and the ABI the loader accepts. Init it, add directories in
 * order of precedence (the runner: --plugin-path, [plugins] path,
 * KEEL_PLUGIN_PATH, then the build's or install's plugin dir), then open,
 * select or list. Not thread-safe while being built; once built, open/select/
 * list may run from any thread concurrently (they only read it). */
typedef struct kc_plugin_loader {
  char **dirs; /* owned; in search order, no duplicates, never "" */
  size_t dir_count;
  size_t dir_capacity;
  /* The ABI this host implements; init sets KEEL_ABI_MAJOR/MINOR. Tests
   * change them to act as a newer host (there is no minor older than 0). */
  uint16_t host_abi_major;
  uint16_t host_abi_minor;
} kc_plugin_loader;

/* Empty search path, host ABI = the SDK this core was built with. */
void kc_plugin_loader_init(kc_plugin_loader *loader);
/* Frees the directory list; the loader can be init'ed again. NULL is fine. */
void kc_plugin_loader_free(kc_plugin_loader *loader);
/* Appends one directory (copied). NULL, "" and a directory already on the
 * path are skipped (KEEL_OK): the current directory is searched only when
 * named, e.g. ".". KEEL_ERR_INVALID_ARGUMENT for a directory too long to hold
 * a plugin path; KEEL_ERR_OUT_OF_MEMORY. */
keel_result kc_plugin_loader_add_dir(kc_plugin_loader *loader, const char *dir, kc_err *err);
/* Appends each entry of a colon-separated list (KEEL_PLUGIN_PATH) with
 * kc_plugin_loader_add_dir; empty entries are skipped, not taken as ".". */
keel_result kc_plugin_loader_add_dirs(kc_plugin_loader *loader, const char *colon_list, kc_err *err);

/* A loaded plugin that passed every check. Owned by whoever opened it; close
 * it with kc_plugin_close after destroying what its interface created. The
 * members are read-only for the caller. */
typedef struct kc_plugin {
  char name[KC_PLUGIN_NAME_MAX];
  keel_plugin_kind kind;
  char file[KC_PLUGIN_FILE_MAX];        /* the path dlopen was given */
  const keel_plugin_manifest *manifest; /* the plugin's static manifest */
  /* The kind's interface (keel_renderer_api for KEEL_RENDERER_INTERFACE,
   * keel_script_api for KEEL_SCRIPT_INTERFACE), its struct_size and every
   * function member checked. Lives until kc_plugin_close. */
  const void *interface;
  void *handle; /* dlopen handle */
} kc_plugin;

/* The settings a loaded plugin declares (its manifest's, ABI 1.1; checked
 * when it was opened): *count gets their number, 0 for a 1.0 plugin. The
 * table is the plugin's, valid until kc_plugin_close. Any thread. */
const keel_setting *kc_plugin_settings(const kc_plugin *plugin, uint32_t *count);

/* Finds keel_<kind>_<name>.so in the first search directory that has it (later
 * directories are not tried: the path order decides which copy wins), dlopens
 * it RTLD_NOW | RTLD_LOCAL, and checks the manifest and the kind's interface.
 * On success *out is a new kc_plugin. On failure *out is NULL, anything
 * opened is closed again, err gets the one-line reason (see docs/plugins.md),
 * *status (may be NULL) says which check failed, and the result is
 * KEEL_ERR_NOT_FOUND (not found), KEEL_ERR_IO (not loadable),
 * KEEL_ERR_UNSUPPORTED (no entry symbol, interface missing),
 * KEEL_ERR_VERSION (ABI refused), KEEL_ERR_INVALID_ARGUMENT (wrong kind or a
 * bad name) or KEEL_ERR_OUT_OF_MEMORY. Nothing is created: the plugin's
 * create is the caller's step (kc_plugin_create_renderer). Any thread. */
keel_result kc_plugin_open(const kc_plugin_loader *loader, keel_plugin_kind kind, const char *name,
                           kc_plugin **out, kc_plugin_status *status, kc_err *err);
/* dlcloses and frees. Everything the plugin created must be destroyed first.
 * NULL is fine. Any thread, once nothing uses the plugin. */
void kc_plugin_close(kc_plugin *plugin);

/* An optional interface (e.g. KEEL_RENDERER_READBACK_INTERFACE) whose table is
 * at least min_size bytes, or NULL when the plugin lacks it or its table is
 * older than that. Any thread; the table lives until kc_plugin_close. */
const void *kc_plugin_find_interface(const kc_plugin *plugin, const char *id, uint32_t min_size);

/* Writes the "create failed" line for `plugin` into err and returns code: how
 * a caller that calls the interface's create itself reports the failure the
 * same way as the loader's own. plugin_message may be NULL or empty. */
keel_result kc_plugin_record_create_failure(const kc_plugin *plugin, keel_result code, const char *plugin_message,
                                            kc_err *err);

/* Calls the renderer interface's create(desc, out). desc->host is the host
 * table the renderer keeps for its lifetime (owned by the caller). On failure
 * *out is NULL and err has the "create failed" line with the plugin's own
 * message. Main thread (the renderer's main thread is the one creating it). */
keel_result kc_plugin_create_renderer(const kc_plugin *plugin, const keel_renderer_desc *desc, keel_renderer **out,
                                      kc_err *err);

/* One try of kc_plugin_select. */
typedef struct kc_plugin_attempt {
  char name[KC_PLUGIN_NAME_MAX];
  char file[KC_PLUGIN_FILE_MAX]; /* the file tried; "" when not found */
  kc_plugin_status status;
  keel_result result;
  char message[KC_ERR_MSG_MAX]; /* the one-line reason; "" when ok */
} kc_plugin_attempt;

/* Every try, in order. Zero-initialise it; owned by the caller, who frees it
 * with kc_plugin_attempts_free (the list may be reused after that). */
typedef struct kc_plugin_attempts {
  kc_plugin_attempt *items;
  size_t count;
  size_t capacity;
} kc_plugin_attempts;
void kc_plugin_attempts_free(kc_plugin_attempts *attempts);

/* The caller's create step for kc_plugin_select: create what the plugin is for
 * (e.g. with kc_plugin_create_renderer) and keep it in `user`. Return KEEL_OK
 * to take this plugin; otherwise fill err (kc_plugin_create_renderer and
 * kc_plugin_record_create_failure do) and the next candidate is tried. */
typedef keel_result (*kc_plugin_create_fn)(void *user, const kc_plugin *plugin, kc_err *err);

/* Tries names[0], names[1], ... (the primary, then the fallbacks; a repeated
 * name is tried once) with kc_plugin_open and then `create` (NULL = accept on
 * load), appending one kc_plugin_attempt per name to *attempts. The first that
 * loads and creates wins: *out is it, KEEL_OK. When none does, *out is NULL,
 * every plugin opened was closed, and the result is KEEL_ERR_NOT_FOUND with a
 * one-line summary in err and the reasons in *attempts. KEEL_ERR_OUT_OF_MEMORY
 * when the attempt list cannot grow. Thread: the caller's; `create` runs on it. */
keel_result kc_plugin_select(const kc_plugin_loader *loader, keel_plugin_kind kind, const char *const *names,
                             size_t name_count, kc_plugin_create_fn create, void *user, kc_plugin **out,
                             kc_plugin_attempts *attempts, kc_err *err);

/* One keel_*.so file found by kc_plugin_list. */
typedef struct kc_plugin_info {
  char file[KC_PLUGIN_FILE_MAX];
  bool manifest_read; /* false: name/kind come from the file name, the rest is empty */
  char name[KC_PLUGIN_NAME_MAX];
  keel_plugin_kind kind; /* 0 when neither the manifest nor the file name says */
  char version[KC_PLUGIN_VERSION_MAX];
  char description[KC_PLUGIN_DESCRIPTION_MAX];
  uint16_t abi_major;
  uint16_t abi_minor;
  kc_plugin_status status;      /* what kc_plugin_open would decide for this file */
  char message[KC_ERR_MSG_MAX]; /* the one-line reason; "" when ok */
  bool shadowed;                /* an earlier directory has the same file name, so open never picks this */
  char language[32];            /* a usable script runtime's language ("lua"); "" otherwise */
  char file_extension[16];      /* a usable script runtime's file_extension (".lua"); "" otherwise */
  /* A usable plugin's declared settings (ABI 1.1), copied: they stay valid
   * after the file is closed, until kc_plugin_catalog_free. NULL / 0 when
   * it declares none. */
  keel_setting *settings;
  uint32_t setting_count;
} kc_plugin_info;

typedef struct kc_plugin_catalog {
  kc_plugin_info *items; /* directory by directory in search order, by file name within one */
  size_t count;
  size_t capacity;
} kc_plugin_catalog;

/* Lists every keel_*.so in every search directory (missing directories are
 * skipped), compatible or not, with the same checks as kc_plugin_open and the
 * kind taken from the file name (keel_renderer_* / keel_script_*). Per file it
 * dlopens, calls only keel_plugin_entry and get_interface (side-effect free by
 * the SDK's rule), copies what it reads (settings included) and dlcloses:
 * nothing is created. Note that dlopen itself
 * runs a library's ELF constructors, which plugins should not have.
 * *catalog must be zeroed or freed; KEEL_ERR_OUT_OF_MEMORY is the only
 * failure. Owned by the caller: kc_plugin_catalog_free. Any thread. */
keel_result kc_plugin_list(const kc_plugin_loader *loader, kc_plugin_catalog *catalog, kc_err *err);
void kc_plugin_catalog_free(kc_plugin_catalog *catalog);

#endif /* KC_PLUGIN_LOADER_H */
