/* See setting.h. Values are parsed with the cvar registry's own parsers, so
 * a setting accepts exactly what the cvar it becomes will accept. */
#include "base/setting.h"

#include "base/cvar.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *kc_setting_type_name(keel_cvar_type type) {
  switch (type) {
    case KEEL_CVAR_BOOL: return "bool";
    case KEEL_CVAR_INT: return "int";
    case KEEL_CVAR_FLOAT: return "float";
    case KEEL_CVAR_STRING: return "string";
  }
  return "?";
}

/* Calls fn on each comma-separated choice (trimmed); stops when it returns false. */
typedef bool (*choice_fn)(const char *choice, size_t len, void *user);
static void each_choice(const char *choices, choice_fn fn, void *user) {
  for (const char *p = choices; p && *p;) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    const char *c = p;
    size_t len = n;
    while (len && *c == ' ') c++, len--;
    while (len && c[len - 1] == ' ') len--;
    if (!fn(c, len, user)) return;
    p += n + (e ? 1 : 0);
  }
}

typedef struct describe_ctx {
  char *buf;
  size_t cap, off;
  bool first;
} describe_ctx;

static bool describe_choice(const char *c, size_t len, void *user) {
  describe_ctx *d = user;
  if (d->off < d->cap)
    d->off += (size_t)snprintf(d->buf + d->off, d->cap - d->off, "%s%.*s", d->first ? "" : ", ", (int)len, c);
  d->first = false;
  return true;
}

const char *kc_setting_describe(const keel_setting *s, char *buf, size_t cap) {
  if (!cap) return buf;
  buf[0] = '\0';
  char lo[32], hi[32];
  switch (s->type) {
    case KEEL_CVAR_BOOL: snprintf(buf, cap, "%s", KC_CVAR_BOOL_SPELLINGS); break;
    case KEEL_CVAR_INT: snprintf(buf, cap, "an integer in %.0f..%.0f", s->min, s->max); break;
    case KEEL_CVAR_FLOAT:
      kc_cvar_format_float(s->min, lo, sizeof lo);
      kc_cvar_format_float(s->max, hi, sizeof hi);
      snprintf(buf, cap, "a number in %s..%s", lo, hi);
      break;
    case KEEL_CVAR_STRING:
      if (s->choices && *s->choices) {
        describe_ctx d = {buf, cap, (size_t)snprintf(buf, cap, "one of: "), true};
        each_choice(s->choices, describe_choice, &d);
      } else {
        snprintf(buf, cap, "text of up to %d bytes", KC_CVAR_STRING_MAX - 1);
      }
      break;
    default: snprintf(buf, cap, "nothing (unknown type %d)", (int)s->type); break;
  }
  return buf;
}

typedef struct match_ctx {
  const char *text;
  bool found;
} match_ctx;

static bool match_choice(const char *c, size_t len, void *user) {
  match_ctx *m = user;
  if (strlen(m->text) == len && strncmp(m->text, c, len) == 0) m->found = true;
  return !m->found;
}

bool kc_setting_check(const keel_setting *s, const char *text, char *msg, size_t cap) {
  char range[256];
  kc_setting_describe(s, range, sizeof range);
  const char *problem = NULL;
  bool out_of_range = false;
  if (!text) text = "";
  switch (s->type) {
    case KEEL_CVAR_BOOL:
      if (!kc_cvar_parse_bool(text, NULL)) problem = "'%s' is not a boolean";
      break;
    case KEEL_CVAR_INT: {
      int64_t v;
      if (!kc_cvar_parse_int(text, &v))
        problem = "'%s' is not an integer";
      else if ((double)v < s->min || (double)v > s->max)
        out_of_range = true;
      break;
    }
    case KEEL_CVAR_FLOAT: {
      double v;
      if (!kc_cvar_parse_float(text, &v))
        problem = "'%s' is not a number";
      else if (v < s->min || v > s->max)
        out_of_range = true;
      break;
    }
    case KEEL_CVAR_STRING:
      if (strlen(text) >= KC_CVAR_STRING_MAX) {
        problem = "the text is too long";
      } else if (s->choices && *s->choices) {
        match_ctx m = {text, false};
        each_choice(s->choices, match_choice, &m);
        if (!m.found) problem = "'%s' is not a valid choice";
      }
      break;
    default: problem = "a setting of unknown type cannot hold '%s'"; break;
  }
  if (!problem && !out_of_range) return true;
  char what[160];
  if (out_of_range)
    snprintf(what, sizeof what, "%.64s is out of range", text);
  else
    snprintf(what, sizeof what, problem, text);
  snprintf(msg, cap, "%s (expected %s)", what, range);
  return false;
}

static bool is_ident(const char *s) {
  if (!s || !*s) return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return false;
  return true;
}

typedef struct limit_ctx {
  size_t count;
  bool too_long, empty;
} limit_ctx;

static bool count_choice(const char *c, size_t len, void *user) {
  (void)c;
  limit_ctx *l = user;
  l->count++;
  if (len >= KC_SETTING_CHOICE_MAX) l->too_long = true;
  if (len == 0) l->empty = true;
  return true;
}

bool kc_setting_check_table(const char *plugin, const keel_setting *settings, uint32_t count, char *msg,
                            size_t cap) {
  if (count == 0) return true;
  if (!settings) {
    snprintf(msg, cap, "setting_count is %u but settings is NULL", (unsigned)count);
    return false;
  }
  size_t plen = plugin ? strlen(plugin) : 0;
  for (uint32_t i = 0; i < count; i++) {
    const keel_setting *s = &settings[i];
    if (!is_ident(s->name)) {
      snprintf(msg, cap, "setting %u: name '%.64s' is not [a-z0-9_]+", (unsigned)i + 1, s->name ? s->name : "(null)");
      return false;
    }
    if (plen + 1 + strlen(s->name) > KC_SETTING_CVAR_NAME_MAX) {
      snprintf(msg, cap, "setting '%s': its cvar name '%s.%s' is longer than %d bytes", s->name, plugin, s->name,
               KC_SETTING_CVAR_NAME_MAX);
      return false;
    }
    for (uint32_t j = 0; j < i; j++) {
      if (strcmp(settings[j].name, s->name) == 0) {
        snprintf(msg, cap, "setting '%s' is declared twice (settings %u and %u)", s->name, (unsigned)j + 1,
                 (unsigned)i + 1);
        return false;
      }
    }
    if (s->type < KEEL_CVAR_BOOL || s->type > KEEL_CVAR_STRING) {
      snprintf(msg, cap, "setting '%s': type %d is not a keel_cvar_type", s->name, (int)s->type);
      return false;
    }
    if ((s->type == KEEL_CVAR_INT || s->type == KEEL_CVAR_FLOAT) &&
        (!isfinite(s->min) || !isfinite(s->max) || s->min > s->max)) {
      snprintf(msg, cap, "setting '%s': the range min %g .. max %g is not a range", s->name, s->min, s->max);
      return false;
    }
    if (s->type == KEEL_CVAR_INT && (s->min != floor(s->min) || s->max != floor(s->max) || s->min < -9.0e15 ||
                                     s->max > 9.0e15)) {
      snprintf(msg, cap, "setting '%s': an int setting's min and max must be whole numbers within +-9e15", s->name);
      return false;
    }
    if (s->type == KEEL_CVAR_STRING && s->choices) {
      limit_ctx l = {0, false, false};
      each_choice(s->choices, count_choice, &l);
      if (l.count > KC_SETTING_CHOICES_MAX || l.too_long || l.empty) {
        snprintf(msg, cap, "setting '%s': choices must be at most %d non-empty names of fewer than %d bytes",
                 s->name, KC_SETTING_CHOICES_MAX, KC_SETTING_CHOICE_MAX);
        return false;
      }
    }
    if (!s->help || !*s->help) {
      snprintf(msg, cap, "setting '%s' has no help line", s->name);
      return false;
    }
    char why[320];
    if (!s->default_value) {
      snprintf(msg, cap, "setting '%s' has no default_value", s->name);
      return false;
    }
    if (!kc_setting_check(s, s->default_value, why, sizeof why)) {
      snprintf(msg, cap, "setting '%s': default %s", s->name, why);
      return false;
    }
  }
  return true;
}
