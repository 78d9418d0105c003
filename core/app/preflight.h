/* The configuration checks that need the plugin search path, made before
 * every run and by --check-config, so a typo is exit 2 with file:line
 * instead of a quiet fallback or a run that fails later: the renderer and
 * script runtime names, [plugin.NAME] settings, and [script] main. */
#ifndef KC_APP_PREFLIGHT_H
#define KC_APP_PREFLIGHT_H

#include "base/config.h"
#include "plugin/loader.h"

/* Lists the plugins on the search path into *catalog (the caller frees it
 * with kc_plugin_catalog_free; it must outlive cfg, which borrows the
 * plugins' settings from it), declares their settings to cfg, and adds to
 * cfg's error list:
 *  - [renderer] backend, each [renderer] fallback and [script] runtime that
 *    names no plugin on the search path and no plugin keel ships (those may
 *    be absent from a build; the fallback chain skips them, and a note
 *    says so), with the plugins found and a "did you mean";
 *  - every [plugin.NAME] problem (kc_config_check_plugin_settings);
 *  - a [script] main that is not a file, or whose extension is not the
 *    runtime's (file_extension), with where a relative path starts and the
 *    fix.
 * Returns KEEL_ERR_OUT_OF_MEMORY when listing fails, else KEEL_OK (the
 * problems are in cfg). Main thread. */
keel_result kc_app_preflight(kc_config *cfg, const kc_plugin_loader *loader, kc_plugin_catalog *catalog, kc_err *err);

#endif
