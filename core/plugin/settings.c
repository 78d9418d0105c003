/* See settings.h. The cvar takes the setting's type, range, choices and
 * help as declared; the configured value is set after registration, so the
 * cvar's default stays the plugin's own. */
#include "plugin/settings.h"

#include "base/cvar.h"
#include "base/setting.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Splits "a, b,c" into the NULL-terminated array kc_cvar_register_string takes. */
static void split_choices(const char *choices, char storage[][KC_SETTING_CHOICE_MAX], const char **out) {
  size_t n = 0;
  for (const char *p = choices; p && *p && n < KC_SETTING_CHOICES_MAX;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    const char *c = p;
    size_t clen = len;
    while (clen && *c == ' ') c++, clen--;
    while (clen && c[clen - 1] == ' ') clen--;
    snprintf(storage[n], KC_SETTING_CHOICE_MAX, "%.*s", (int)clen, c);
    out[n] = storage[n];
    n++;
    p += len + (e ? 1 : 0);
  }
  out[n] = NULL;
}

static keel_result register_one(const char *plugin, const keel_setting *s, kc_err *err) {
  char name[2 * KC_CVAR_NAME_MAX]; /* too long a name is refused by the registry */
  snprintf(name, sizeof name, "%s.%s", plugin, s->name);
  switch (s->type) {
    case KEEL_CVAR_BOOL: {
      bool def = false;
      kc_cvar_parse_bool(s->default_value, &def);
      return kc_cvar_register_bool(name, def, 0, s->help, NULL, err);
    }
    case KEEL_CVAR_INT: {
      int64_t def = 0;
      kc_cvar_parse_int(s->default_value, &def);
      return kc_cvar_register_int(name, def, (int64_t)s->min, (int64_t)s->max, 0, s->help, NULL, err);
    }
    case KEEL_CVAR_FLOAT: {
      double def = 0;
      kc_cvar_parse_float(s->default_value, &def);
      return kc_cvar_register_float(name, def, s->min, s->max, 0, s->help, NULL, err);
    }
    case KEEL_CVAR_STRING: {
      char storage[KC_SETTING_CHOICES_MAX][KC_SETTING_CHOICE_MAX];
      const char *choices[KC_SETTING_CHOICES_MAX + 1];
      split_choices(s->choices, storage, choices);
      return kc_cvar_register_string(name, s->default_value, s->choices && *s->choices ? choices : NULL, 0, s->help,
                                     NULL, err);
    }
  }
  return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "setting '%s': unknown type %d", name, (int)s->type);
}

keel_result kc_plugin_settings_register(const kc_plugin *plugin, const kc_config *cfg, kc_err *err) {
  uint32_t count = 0;
  const keel_setting *settings = kc_plugin_settings(plugin, &count);
  size_t before = kc_cvar_count();
  for (uint32_t i = 0; i < count; i++) {
    const keel_setting *s = &settings[i];
    kc_err e;
    kc_err_clear(&e);
    keel_result r = register_one(plugin->name, s, &e);
    const char *value = r == KEEL_OK && cfg ? kc_config_plugin_value(cfg, plugin->name, s->name) : NULL;
    if (r == KEEL_OK && value) {
      char name[2 * KC_CVAR_NAME_MAX];
      snprintf(name, sizeof name, "%s.%s", plugin->name, s->name);
      r = kc_cvar_set(name, value, &e);
    }
    if (r != KEEL_OK) {
      kc_cvar_truncate(before);
      return kc_err_set(err, r, "%s: settings: %s", plugin->file, e.msg);
    }
  }
  return KEEL_OK;
}
