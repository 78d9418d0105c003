/* A plugin's declared settings (keel/plugin.h) become cvars named
 * "NAME.key" while the plugin runs: registered just before its create, so
 * create can read them with host->cvar_get, each set to what engine.ini's
 * [plugin.NAME] or `--set plugin.NAME.key=` says (else its default). */
#ifndef KC_PLUGIN_SETTINGS_H
#define KC_PLUGIN_SETTINGS_H

#include "base/config.h"
#include "base/err.h"
#include "plugin/loader.h"

/* Registers a cvar for each setting of `plugin` (nothing for a plugin
 * that declares none) and sets the configured values (already checked by
 * kc_config_check_plugin_settings; a value refused now is an error here
 * too). On failure the cvars registered so far are taken back. Main
 * thread. */
keel_result kc_plugin_settings_register(const kc_plugin *plugin, const kc_config *cfg, kc_err *err);

#endif
