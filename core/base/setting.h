/* kc_setting: the host's reading of a plugin's declared settings
 * (keel_setting in keel/plugin.h). The loader checks a plugin's table with
 * it, the configuration checks `[plugin.NAME]` values with it, and the
 * engine turns each setting into the cvar "NAME.key", all with the same
 * rules and the same messages as engine.ini's own keys and cvars. */
#ifndef KC_SETTING_H
#define KC_SETTING_H

#include <keel/plugin.h>
#include <keel/script.h>

#include <stddef.h>

/* The longest cvar name a setting may make, "NAME.key" without the NUL:
 * it travels in keel_script_event.name. */
#define KC_SETTING_CVAR_NAME_MAX (KEEL_NAME_MAX - 1)
/* A string setting's choices: at most this many, each shorter than
 * KC_SETTING_CHOICE_MAX bytes (the cvar registry's limits). */
#define KC_SETTING_CHOICES_MAX 16
#define KC_SETTING_CHOICE_MAX 32

/* "bool", "int", "float", "string" ("?" for anything else). Any thread. */
const char *kc_setting_type_name(keel_cvar_type type);

/* What a valid value looks like, as in every configuration message: "an
 * integer in 4..40", "a number in 0..1", "true/false, yes/no, on/off, 1/0",
 * "one of: a, b", "text of up to 127 bytes". Writes into buf; returns buf.
 * Any thread. */
const char *kc_setting_describe(const keel_setting *s, char *buf, size_t cap);

/* Checks `text` as a value of `s`. False with "<problem> (expected
 * <description>)" in msg when it is not valid. Any thread. */
bool kc_setting_check(const keel_setting *s, const char *text, char *msg, size_t cap);

/* Checks a plugin's whole table: names [a-z0-9_]+, unique, "plugin.name"
 * short enough for a cvar name, a known type, min <= max, choices within
 * the limits above, help present, and every default valid for its own
 * setting. NULL with count 0 is a valid empty table. False with the first
 * problem in msg ("setting 'rows': default 99 is out of range (expected
 * an integer in 4..40)"). Any thread. */
bool kc_setting_check_table(const char *plugin, const keel_setting *settings, uint32_t count, char *msg,
                            size_t cap);

#endif
