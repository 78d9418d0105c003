/* See cvar.h. Numeric values live in one 64-bit atomic each; strings live in
 * an inline buffer of atomic words guarded by a sequence counter (a seqlock),
 * so readers on any thread never lock and never see half a string, and every
 * access is atomic, which keeps ThreadSanitizer quiet for the right reason.
 * Writers, the pending-change ring and the handler table share one mutex:
 * sets are rare and must be totally ordered for in-order dispatch. */
#include "base/cvar.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WORDS (KC_CVAR_STRING_MAX / 8)
_Static_assert(KC_CVAR_STRING_MAX % 8 == 0, "string buffer is copied in 8-byte words");

struct kc_cvar {
  /* Immutable once the slot is published by g_count. */
  char name[KC_CVAR_NAME_MAX];
  char help[KC_CVAR_HELP_MAX];
  kc_cvar_type type;
  uint32_t flags;
  int64_t imin, imax;
  double fmin, fmax;
  int nchoices;
  char choices[KC_CVAR_CHOICES_MAX][KC_CVAR_CHOICE_MAX];
  kc_cvar_value def;
  /* The live value. */
  atomic_int_least64_t num;     /* bool (0/1), int, or a float's bits */
  atomic_uint seq;              /* odd while a string write is in progress */
  atomic_uint_least64_t str[WORDS];
};

typedef struct pending_change {
  size_t index;
  kc_cvar_value old_value, new_value;
} pending_change;

typedef struct handler {
  size_t index; /* the cvar */
  kc_cvar_change_fn fn;
  void *user;
} handler;

static kc_cvar g_cvars[KC_CVAR_MAX];
static atomic_size_t g_count;

static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
/* Guarded by g_mutex. */
static pending_change g_pending[KC_CVAR_PENDING_MAX];
static size_t g_pending_head, g_pending_len;
static atomic_size_t g_pending_count; /* mirror of g_pending_len for lock-free reads */
static handler g_handlers[KC_CVAR_HANDLERS_MAX];
static size_t g_handler_count;

/* ---- parsing ---------------------------------------------------------- */

/* Copies text without surrounding whitespace; false if it does not fit. */
static bool trim_copy(const char *text, char *buf, size_t cap) {
  while (*text && isspace((unsigned char)*text)) text++;
  size_t n = strlen(text);
  while (n && isspace((unsigned char)text[n - 1])) n--;
  if (n + 1 > cap) return false;
  memcpy(buf, text, n);
  buf[n] = '\0';
  return true;
}

bool kc_cvar_parse_bool(const char *text, bool *out) {
  static const char *const yes[] = {"true", "yes", "on", "1"};
  static const char *const no[] = {"false", "no", "off", "0"};
  char buf[16];
  if (!text || !trim_copy(text, buf, sizeof buf)) return false;
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
    if (strcasecmp(buf, yes[i]) == 0) {
      if (out) *out = true;
      return true;
    }
    if (strcasecmp(buf, no[i]) == 0) {
      if (out) *out = false;
      return true;
    }
  }
  return false;
}

bool kc_cvar_parse_int(const char *text, int64_t *out) {
  char buf[64];
  if (!text || !trim_copy(text, buf, sizeof buf) || !buf[0]) return false;
  char *end;
  errno = 0;
  long long v = strtoll(buf, &end, 10);
  if (errno || *end) return false;
  if (out) *out = (int64_t)v;
  return true;
}

bool kc_cvar_parse_float(const char *text, double *out) {
  char buf[64];
  if (!text || !trim_copy(text, buf, sizeof buf) || !buf[0]) return false;
  char *end;
  errno = 0;
  double v = strtod(buf, &end);
  if (*end || !isfinite(v) || (errno == ERANGE && v != 0.0)) return false;
  if (out) *out = v;
  return true;
}

void kc_cvar_format_float(double value, char *buf, size_t cap) {
  snprintf(buf, cap, "%.15g", value);
  if (strtod(buf, NULL) != value) snprintf(buf, cap, "%.17g", value);
}

/* ---- values ------------------------------------------------------------ */

static int64_t float_bits(double f) {
  int64_t b;
  memcpy(&b, &f, sizeof b);
  return b;
}

static double bits_float(int64_t b) {
  double f;
  memcpy(&f, &b, sizeof f);
  return f;
}

static void value_format(kc_cvar_value *v) {
  switch (v->type) {
    case KC_CVAR_BOOL: snprintf(v->text, sizeof v->text, "%s", v->b ? "true" : "false"); break;
    case KC_CVAR_INT: snprintf(v->text, sizeof v->text, "%lld", (long long)v->i); break;
    case KC_CVAR_FLOAT: kc_cvar_format_float(v->f, v->text, sizeof v->text); break;
    case KC_CVAR_STRING: break;
  }
}

static bool value_equal(const kc_cvar_value *a, const kc_cvar_value *b) {
  switch (a->type) {
    case KC_CVAR_BOOL: return a->b == b->b;
    case KC_CVAR_INT: return a->i == b->i;
    case KC_CVAR_FLOAT: return float_bits(a->f) == float_bits(b->f);
    case KC_CVAR_STRING: return strcmp(a->text, b->text) == 0;
  }
  return false;
}

/* Seqlock read: retries while a writer is inside or finished during the copy. */
static void read_string(const kc_cvar *cv, char out[KC_CVAR_STRING_MAX]) {
  kc_cvar *m = (kc_cvar *)cv; /* atomics are read through non-const pointers */
  uint64_t words[WORDS];
  for (;;) {
    unsigned s1 = atomic_load_explicit(&m->seq, memory_order_acquire);
    if (s1 & 1u) {
      sched_yield();
      continue;
    }
    /* Acquire loads keep the second seq load after them (GCC refuses
     * atomic_thread_fence under TSan, so the ordering rides on the loads). A
     * word from a newer write carries that writer's odd seq with it. */
    for (size_t i = 0; i < WORDS; i++) words[i] = atomic_load_explicit(&m->str[i], memory_order_acquire);
    if (atomic_load_explicit(&m->seq, memory_order_relaxed) == s1) break;
  }
  memcpy(out, words, KC_CVAR_STRING_MAX);
  out[KC_CVAR_STRING_MAX - 1] = '\0';
}

/* Seqlock write; callers hold g_mutex, so there is one writer at a time. */
static void write_string(kc_cvar *cv, const char *text) {
  uint64_t words[WORDS];
  memset(words, 0, sizeof words);
  memcpy(words, text, strnlen(text, KC_CVAR_STRING_MAX - 1));
  unsigned s = atomic_load_explicit(&cv->seq, memory_order_relaxed);
  atomic_store_explicit(&cv->seq, s + 1, memory_order_relaxed);
  /* Release stores publish the odd seq before each word (see read_string). */
  for (size_t i = 0; i < WORDS; i++) atomic_store_explicit(&cv->str[i], words[i], memory_order_release);
  atomic_store_explicit(&cv->seq, s + 2, memory_order_release);
}

static void store_value(kc_cvar *cv, const kc_cvar_value *v) {
  switch (cv->type) {
    case KC_CVAR_BOOL: atomic_store_explicit(&cv->num, v->b ? 1 : 0, memory_order_release); break;
    case KC_CVAR_INT: atomic_store_explicit(&cv->num, v->i, memory_order_release); break;
    case KC_CVAR_FLOAT: atomic_store_explicit(&cv->num, float_bits(v->f), memory_order_release); break;
    case KC_CVAR_STRING: write_string(cv, v->text); break;
  }
}

void kc_cvar_get_value(const kc_cvar *cv, kc_cvar_value *out) {
  kc_cvar *m = (kc_cvar *)cv;
  memset(out, 0, sizeof *out);
  out->type = cv->type;
  int64_t n = cv->type == KC_CVAR_STRING ? 0 : atomic_load_explicit(&m->num, memory_order_acquire);
  switch (cv->type) {
    case KC_CVAR_BOOL:
      out->b = n != 0;
      out->i = out->b;
      out->f = out->b;
      break;
    case KC_CVAR_INT:
      out->i = n;
      out->b = n != 0;
      out->f = (double)n;
      break;
    case KC_CVAR_FLOAT:
      out->f = bits_float(n);
      out->b = out->f != 0.0;
      out->i = (int64_t)out->f;
      break;
    case KC_CVAR_STRING: read_string(cv, out->text); return;
  }
  value_format(out);
}

/* ---- checks and messages ----------------------------------------------- */

const char *kc_cvar_type_name(kc_cvar_type type) {
  switch (type) {
    case KC_CVAR_BOOL: return "bool";
    case KC_CVAR_INT: return "int";
    case KC_CVAR_FLOAT: return "float";
    case KC_CVAR_STRING: return "string";
  }
  return "?";
}

const char *kc_cvar_describe_range(const kc_cvar *cv, char *buf, size_t cap) {
  if (!cap) return buf;
  switch (cv->type) {
    case KC_CVAR_BOOL: snprintf(buf, cap, "%s", KC_CVAR_BOOL_SPELLINGS); break;
    case KC_CVAR_INT: snprintf(buf, cap, "an integer in %lld..%lld", (long long)cv->imin, (long long)cv->imax); break;
    case KC_CVAR_FLOAT: {
      char lo[32], hi[32];
      kc_cvar_format_float(cv->fmin, lo, sizeof lo);
      kc_cvar_format_float(cv->fmax, hi, sizeof hi);
      snprintf(buf, cap, "a number in %s..%s", lo, hi);
      break;
    }
    case KC_CVAR_STRING:
      if (cv->nchoices) {
        size_t off = (size_t)snprintf(buf, cap, "one of: ");
        for (int i = 0; i < cv->nchoices && off < cap; i++)
          off += (size_t)snprintf(buf + off, cap - off, "%s%s", i ? ", " : "", cv->choices[i]);
      } else {
        snprintf(buf, cap, "a string of at most %d bytes", KC_CVAR_STRING_MAX - 1);
      }
      break;
  }
  return buf;
}

static keel_result refuse(const kc_cvar *cv, kc_err *err, const char *what) {
  char range[KC_CVAR_CHOICES_MAX * KC_CVAR_CHOICE_MAX + 16];
  kc_cvar_describe_range(cv, range, sizeof range);
  return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "cvar '%s': %s (expected %s)", cv->name, what, range);
}

/* Range and choice checks on an already typed value. */
static keel_result check_value(const kc_cvar *cv, kc_cvar_value *v, kc_err *err) {
  char what[KC_CVAR_STRING_MAX + 64];
  value_format(v);
  switch (cv->type) {
    case KC_CVAR_BOOL: return KEEL_OK;
    case KC_CVAR_INT:
      if (v->i < cv->imin || v->i > cv->imax) {
        snprintf(what, sizeof what, "%s is out of range", v->text);
        return refuse(cv, err, what);
      }
      return KEEL_OK;
    case KC_CVAR_FLOAT:
      if (!(v->f >= cv->fmin && v->f <= cv->fmax)) {
        snprintf(what, sizeof what, "%s is out of range", v->text);
        return refuse(cv, err, what);
      }
      return KEEL_OK;
    case KC_CVAR_STRING:
      if (cv->nchoices) {
        for (int i = 0; i < cv->nchoices; i++)
          if (strcmp(cv->choices[i], v->text) == 0) return KEEL_OK;
        snprintf(what, sizeof what, "'%s' is not a valid choice", v->text);
        return refuse(cv, err, what);
      }
      return KEEL_OK;
  }
  return KEEL_OK;
}

keel_result kc_cvar_check(const kc_cvar *cv, const char *text, kc_cvar_value *out, kc_err *err) {
  if (!cv || !text) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "cvar check: NULL argument");
  kc_cvar_value v;
  memset(&v, 0, sizeof v);
  v.type = cv->type;
  char what[KC_CVAR_STRING_MAX + 64];
  /* Show at most this much of a rejected text, so the message stays readable. */
  const int shown = 64;
  switch (cv->type) {
    case KC_CVAR_BOOL:
      if (!kc_cvar_parse_bool(text, &v.b)) {
        snprintf(what, sizeof what, "'%.*s' is not a boolean", shown, text);
        return refuse(cv, err, what);
      }
      break;
    case KC_CVAR_INT:
      if (!kc_cvar_parse_int(text, &v.i)) {
        snprintf(what, sizeof what, "'%.*s' is not an integer", shown, text);
        return refuse(cv, err, what);
      }
      break;
    case KC_CVAR_FLOAT:
      if (!kc_cvar_parse_float(text, &v.f)) {
        snprintf(what, sizeof what, "'%.*s' is not a number", shown, text);
        return refuse(cv, err, what);
      }
      break;
    case KC_CVAR_STRING: {
      size_t len = strlen(text);
      if (len >= KC_CVAR_STRING_MAX) {
        snprintf(what, sizeof what, "value is %zu bytes long", len);
        return refuse(cv, err, what);
      }
      memcpy(v.text, text, len + 1);
      break;
    }
  }
  keel_result r = check_value(cv, &v, err);
  if (r == KEEL_OK && out) *out = v;
  return r;
}

/* ---- registration ------------------------------------------------------ */

/* [a-z_][a-z0-9_]*, then any number of ".[a-z0-9_]+" (a plugin setting's
 * cvar is "plugin.key"). */
static bool valid_name(const char *name) {
  if (!name || !name[0] || strlen(name) >= KC_CVAR_NAME_MAX) return false;
  if (!(islower((unsigned char)name[0]) || name[0] == '_')) return false;
  for (const char *p = name; *p; p++) {
    if (*p == '.' && p[1] && p[1] != '.') continue;
    if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_')) return false;
  }
  return true;
}

kc_cvar *kc_cvar_find(const char *name) {
  if (!name) return NULL;
  size_t n = atomic_load_explicit(&g_count, memory_order_acquire);
  for (size_t i = 0; i < n; i++)
    if (strcmp(g_cvars[i].name, name) == 0) return &g_cvars[i];
  return NULL;
}

/* Fills and publishes a slot; `proto` carries type, range and choices. */
static keel_result register_common(kc_cvar *proto, const char *name, const char *def_text, uint32_t flags,
                                   const char *help, kc_cvar **out, kc_err *err) {
  if (out) *out = NULL;
  if (!valid_name(name))
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT,
                      "cvar name '%s' is not valid (expected [a-z_][a-z0-9_]*, optionally followed by "
                      ".[a-z0-9_]+ parts, at most %d bytes)",
                      name ? name : "(null)", KC_CVAR_NAME_MAX - 1);
  snprintf(proto->name, sizeof proto->name, "%s", name);
  snprintf(proto->help, sizeof proto->help, "%s", help ? help : "");
  proto->flags = flags;
  kc_err cerr;
  if (kc_cvar_check(proto, def_text, &proto->def, &cerr) != KEEL_OK)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "default refused: %s", cerr.msg);

  pthread_mutex_lock(&g_mutex);
  size_t n = atomic_load_explicit(&g_count, memory_order_relaxed);
  keel_result r = KEEL_OK;
  if (kc_cvar_find(name)) {
    r = kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "cvar '%s' is already registered", name);
  } else if (n >= KC_CVAR_MAX) {
    r = kc_err_set(err, KEEL_ERR_FULL, "cannot register cvar '%s': all %d slots are used", name, KC_CVAR_MAX);
  } else {
    kc_cvar *cv = &g_cvars[n];
    memcpy(cv->name, proto->name, sizeof cv->name);
    memcpy(cv->help, proto->help, sizeof cv->help);
    cv->type = proto->type;
    cv->flags = proto->flags;
    cv->imin = proto->imin;
    cv->imax = proto->imax;
    cv->fmin = proto->fmin;
    cv->fmax = proto->fmax;
    cv->nchoices = proto->nchoices;
    memcpy(cv->choices, proto->choices, sizeof cv->choices);
    cv->def = proto->def;
    atomic_store_explicit(&cv->seq, 0, memory_order_relaxed);
    store_value(cv, &cv->def);
    /* Publishing the count releases the filled slot to kc_cvar_find. */
    atomic_store_explicit(&g_count, n + 1, memory_order_release);
    if (out) *out = cv;
  }
  pthread_mutex_unlock(&g_mutex);
  return r;
}

/* Prototypes are big (choices), so they are not put on small thread stacks twice. */
static kc_cvar *proto_new(kc_cvar_type type) {
  kc_cvar *p = calloc(1, sizeof *p);
  if (p) p->type = type;
  return p;
}

keel_result kc_cvar_register_bool(const char *name, bool def, uint32_t flags, const char *help, kc_cvar **out,
                                  kc_err *err) {
  kc_cvar *p = proto_new(KC_CVAR_BOOL);
  if (!p) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "cvar '%s': out of memory", name ? name : "");
  keel_result r = register_common(p, name, def ? "true" : "false", flags, help, out, err);
  free(p);
  return r;
}

keel_result kc_cvar_register_int(const char *name, int64_t def, int64_t min, int64_t max, uint32_t flags,
                                 const char *help, kc_cvar **out, kc_err *err) {
  if (min > max)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "cvar '%s': min %lld > max %lld", name ? name : "",
                      (long long)min, (long long)max);
  kc_cvar *p = proto_new(KC_CVAR_INT);
  if (!p) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "cvar '%s': out of memory", name ? name : "");
  p->imin = min;
  p->imax = max;
  char text[32];
  snprintf(text, sizeof text, "%lld", (long long)def);
  keel_result r = register_common(p, name, text, flags, help, out, err);
  free(p);
  return r;
}

keel_result kc_cvar_register_float(const char *name, double def, double min, double max, uint32_t flags,
                                   const char *help, kc_cvar **out, kc_err *err) {
  if (!isfinite(min) || !isfinite(max) || min > max || !isfinite(def))
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "cvar '%s': range or default is not finite or min > max",
                      name ? name : "");
  kc_cvar *p = proto_new(KC_CVAR_FLOAT);
  if (!p) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "cvar '%s': out of memory", name ? name : "");
  p->fmin = min;
  p->fmax = max;
  char text[40];
  kc_cvar_format_float(def, text, sizeof text);
  keel_result r = register_common(p, name, text, flags, help, out, err);
  free(p);
  return r;
}

keel_result kc_cvar_register_string(const char *name, const char *def, const char *const *choices, uint32_t flags,
                                    const char *help, kc_cvar **out, kc_err *err) {
  kc_cvar *p = proto_new(KC_CVAR_STRING);
  if (!p) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "cvar '%s': out of memory", name ? name : "");
  keel_result r = KEEL_OK;
  for (size_t i = 0; choices && choices[i]; i++) {
    if (i >= KC_CVAR_CHOICES_MAX || strlen(choices[i]) >= KC_CVAR_CHOICE_MAX) {
      r = kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "cvar '%s': more than %d choices or a choice of %d bytes or more",
                     name ? name : "", KC_CVAR_CHOICES_MAX, KC_CVAR_CHOICE_MAX);
      break;
    }
    snprintf(p->choices[i], KC_CVAR_CHOICE_MAX, "%s", choices[i]);
    p->nchoices = (int)i + 1;
  }
  if (r == KEEL_OK) r = register_common(p, name, def ? def : "", flags, help, out, err);
  free(p);
  return r;
}

keel_result kc_cvar_register_engine(kc_err *err) {
  static const char *const debug_views[] = {"none", "wireframe", "normals", NULL};
  keel_result r;
  if ((r = kc_cvar_register_float("sim_speed", 1.0, 0.0, 10.0, KC_CVAR_ARCHIVE,
                                  "multiplier on the game time scripts see; 0 pauses the simulation", NULL,
                                  err)) != KEEL_OK)
    return r;
  if ((r = kc_cvar_register_bool("show_stats", true, KC_CVAR_ARCHIVE,
                                 "log a frame statistics line every [engine] stats_interval_s; false = only the "
                                 "summary at exit",
                                 NULL, err)) != KEEL_OK)
    return r;
  return kc_cvar_register_string("r_debug_view", "none", debug_views, 0,
                                 "renderer debug view; a renderer that lacks one draws normally", NULL, err);
}

void kc_cvar_truncate(size_t count) {
  pthread_mutex_lock(&g_mutex);
  size_t n = atomic_load_explicit(&g_count, memory_order_relaxed);
  if (count < n) {
    size_t kept = 0;
    for (size_t i = 0; i < g_handler_count; i++)
      if (g_handlers[i].index < count) g_handlers[kept++] = g_handlers[i];
    g_handler_count = kept;
    /* Pending changes of the forgotten cvars go; the rest keep their order. */
    size_t len = 0;
    for (size_t i = 0; i < g_pending_len; i++) {
      pending_change pc = g_pending[(g_pending_head + i) % KC_CVAR_PENDING_MAX];
      if (pc.index < count) g_pending[(g_pending_head + len++) % KC_CVAR_PENDING_MAX] = pc;
    }
    g_pending_len = len;
    atomic_store_explicit(&g_pending_count, len, memory_order_relaxed);
    atomic_store_explicit(&g_count, count, memory_order_release);
    for (size_t i = count; i < n; i++) g_cvars[i].name[0] = '\0';
  }
  pthread_mutex_unlock(&g_mutex);
}

void kc_cvar_shutdown(void) {
  pthread_mutex_lock(&g_mutex);
  size_t n = atomic_load_explicit(&g_count, memory_order_relaxed);
  atomic_store_explicit(&g_count, 0, memory_order_release);
  for (size_t i = 0; i < n; i++) {
    g_cvars[i].name[0] = '\0';
    atomic_store_explicit(&g_cvars[i].num, 0, memory_order_relaxed);
  }
  g_pending_head = g_pending_len = 0;
  atomic_store(&g_pending_count, 0);
  g_handler_count = 0;
  pthread_mutex_unlock(&g_mutex);
}

/* ---- lookup ------------------------------------------------------------- */

size_t kc_cvar_count(void) { return atomic_load_explicit(&g_count, memory_order_acquire); }

kc_cvar *kc_cvar_at(size_t index) { return index < kc_cvar_count() ? &g_cvars[index] : NULL; }

const char *kc_cvar_name(const kc_cvar *cv) { return cv->name; }
const char *kc_cvar_help(const kc_cvar *cv) { return cv->help; }
kc_cvar_type kc_cvar_get_type(const kc_cvar *cv) { return cv->type; }
uint32_t kc_cvar_flags(const kc_cvar *cv) { return cv->flags; }
void kc_cvar_get_default(const kc_cvar *cv, kc_cvar_value *out) { *out = cv->def; }

/* ---- reads -------------------------------------------------------------- */

bool kc_cvar_get_bool(const kc_cvar *cv) {
  if (cv->type == KC_CVAR_STRING) return false;
  int64_t n = atomic_load_explicit(&((kc_cvar *)cv)->num, memory_order_acquire);
  return cv->type == KC_CVAR_FLOAT ? bits_float(n) != 0.0 : n != 0;
}

int64_t kc_cvar_get_int(const kc_cvar *cv) {
  if (cv->type == KC_CVAR_STRING) return 0;
  int64_t n = atomic_load_explicit(&((kc_cvar *)cv)->num, memory_order_acquire);
  return cv->type == KC_CVAR_FLOAT ? (int64_t)bits_float(n) : n;
}

double kc_cvar_get_float(const kc_cvar *cv) {
  if (cv->type == KC_CVAR_STRING) return 0.0;
  int64_t n = atomic_load_explicit(&((kc_cvar *)cv)->num, memory_order_acquire);
  return cv->type == KC_CVAR_FLOAT ? bits_float(n) : (double)n;
}

size_t kc_cvar_get_string(const kc_cvar *cv, char *out, size_t cap) {
  kc_cvar_value v;
  kc_cvar_get_value(cv, &v);
  size_t len = strlen(v.text);
  if (cap) snprintf(out, cap, "%s", v.text);
  return len;
}

keel_result kc_cvar_get(const char *name, kc_cvar_value *out) {
  kc_cvar *cv = kc_cvar_find(name);
  if (!cv) return KEEL_ERR_NOT_FOUND;
  kc_cvar_get_value(cv, out);
  return KEEL_OK;
}

/* ---- writes ------------------------------------------------------------- */

/* Stores a checked value and queues the change, under the writer lock. */
static keel_result commit(kc_cvar *cv, const kc_cvar_value *nv, kc_err *err) {
  if (cv->flags & KC_CVAR_READONLY)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "cvar '%s' is read-only", cv->name);
  pthread_mutex_lock(&g_mutex);
  keel_result r = KEEL_OK;
  kc_cvar_value old;
  kc_cvar_get_value(cv, &old);
  if (value_equal(&old, nv)) {
    /* nothing changed, nothing to tell */
  } else if (g_pending_len == KC_CVAR_PENDING_MAX) {
    r = kc_err_set(err, KEEL_ERR_FULL,
                   "cvar '%s' not changed: %d changes are waiting for the main thread to dispatch them", cv->name,
                   KC_CVAR_PENDING_MAX);
  } else {
    store_value(cv, nv);
    pending_change *pc = &g_pending[(g_pending_head + g_pending_len) % KC_CVAR_PENDING_MAX];
    pc->index = (size_t)(cv - g_cvars);
    pc->old_value = old;
    pc->new_value = *nv;
    g_pending_len++;
    atomic_store_explicit(&g_pending_count, g_pending_len, memory_order_relaxed);
  }
  pthread_mutex_unlock(&g_mutex);
  return r;
}

keel_result kc_cvar_set_string(kc_cvar *cv, const char *text, kc_err *err) {
  if (!cv || !text) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "cvar set: NULL argument");
  kc_cvar_value v;
  keel_result r = kc_cvar_check(cv, text, &v, err);
  return r == KEEL_OK ? commit(cv, &v, err) : r;
}

static keel_result wrong_type(const kc_cvar *cv, const char *given, kc_err *err) {
  return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "cvar '%s' is %s %s, not %s", cv->name,
                    cv->type == KC_CVAR_INT ? "an" : "a", kc_cvar_type_name(cv->type), given);
}

keel_result kc_cvar_set_bool(kc_cvar *cv, bool value, kc_err *err) {
  if (!cv) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "cvar set: NULL cvar");
  if (cv->type != KC_CVAR_BOOL) return wrong_type(cv, "a bool", err);
  kc_cvar_value v = {.type = KC_CVAR_BOOL, .b = value};
  keel_result r = check_value(cv, &v, err);
  return r == KEEL_OK ? commit(cv, &v, err) : r;
}

keel_result kc_cvar_set_int(kc_cvar *cv, int64_t value, kc_err *err) {
  if (!cv) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "cvar set: NULL cvar");
  kc_cvar_value v = {.type = cv->type};
  if (cv->type == KC_CVAR_INT)
    v.i = value;
  else if (cv->type == KC_CVAR_FLOAT)
    v.f = (double)value;
  else
    return wrong_type(cv, "an int", err);
  keel_result r = check_value(cv, &v, err);
  return r == KEEL_OK ? commit(cv, &v, err) : r;
}

keel_result kc_cvar_set_float(kc_cvar *cv, double value, kc_err *err) {
  if (!cv) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "cvar set: NULL cvar");
  kc_cvar_value v = {.type = cv->type};
  char what[64], num[40];
  if (!isfinite(value)) return refuse(cv, err, "the value is not finite");
  if (cv->type == KC_CVAR_FLOAT) {
    v.f = value;
  } else if (cv->type == KC_CVAR_INT) {
    /* Only integral values in int64 range convert without loss. */
    if (value != floor(value) || value < -9.2233720368547758e18 || value >= 9.2233720368547758e18) {
      kc_cvar_format_float(value, num, sizeof num);
      snprintf(what, sizeof what, "%s is not an integer", num);
      return refuse(cv, err, what);
    }
    v.i = (int64_t)value;
  } else {
    return wrong_type(cv, "a float", err);
  }
  keel_result r = check_value(cv, &v, err);
  return r == KEEL_OK ? commit(cv, &v, err) : r;
}

keel_result kc_cvar_set(const char *name, const char *text, kc_err *err) {
  kc_cvar *cv = kc_cvar_find(name);
  if (!cv) return kc_err_set(err, KEEL_ERR_NOT_FOUND, "unknown cvar '%s'", name ? name : "(null)");
  return kc_cvar_set_string(cv, text, err);
}

/* ---- handlers and dispatch ----------------------------------------------- */

keel_result kc_cvar_on_change(const char *name, kc_cvar_change_fn fn, void *user, kc_err *err) {
  kc_cvar *cv = kc_cvar_find(name);
  if (!cv) return kc_err_set(err, KEEL_ERR_NOT_FOUND, "unknown cvar '%s'", name ? name : "(null)");
  if (!fn) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "cvar '%s': NULL handler", name);
  pthread_mutex_lock(&g_mutex);
  keel_result r = KEEL_OK;
  if (g_handler_count == KC_CVAR_HANDLERS_MAX) {
    r = kc_err_set(err, KEEL_ERR_FULL, "cvar '%s': all %d handler slots are used", name, KC_CVAR_HANDLERS_MAX);
  } else {
    g_handlers[g_handler_count++] = (handler){.index = (size_t)(cv - g_cvars), .fn = fn, .user = user};
  }
  pthread_mutex_unlock(&g_mutex);
  return r;
}

keel_result kc_cvar_remove_handler(const char *name, kc_cvar_change_fn fn, void *user) {
  kc_cvar *cv = kc_cvar_find(name);
  if (!cv) return KEEL_ERR_NOT_FOUND;
  size_t index = (size_t)(cv - g_cvars);
  keel_result r = KEEL_ERR_NOT_FOUND;
  pthread_mutex_lock(&g_mutex);
  for (size_t i = 0; i < g_handler_count; i++) {
    if (g_handlers[i].index == index && g_handlers[i].fn == fn && g_handlers[i].user == user) {
      /* Shift, not swap, so the remaining handlers keep subscription order. */
      memmove(&g_handlers[i], &g_handlers[i + 1], (g_handler_count - i - 1) * sizeof g_handlers[0]);
      g_handler_count--;
      r = KEEL_OK;
      break;
    }
  }
  pthread_mutex_unlock(&g_mutex);
  return r;
}

size_t kc_cvar_pending_count(void) { return atomic_load_explicit(&g_pending_count, memory_order_relaxed); }

size_t kc_cvar_dispatch_pending(void) {
  pthread_mutex_lock(&g_mutex);
  size_t batch = g_pending_len;
  pthread_mutex_unlock(&g_mutex);

  /* Copies, so handlers can set cvars and (un)subscribe while they run. */
  pending_change change;
  handler subs[KC_CVAR_HANDLERS_MAX];
  for (size_t done = 0; done < batch; done++) {
    pthread_mutex_lock(&g_mutex);
    if (g_pending_len == 0) { /* kc_cvar_shutdown from a handler */
      pthread_mutex_unlock(&g_mutex);
      return done;
    }
    change = g_pending[g_pending_head];
    g_pending_head = (g_pending_head + 1) % KC_CVAR_PENDING_MAX;
    g_pending_len--;
    atomic_store_explicit(&g_pending_count, g_pending_len, memory_order_relaxed);
    size_t nsubs = 0;
    for (size_t i = 0; i < g_handler_count; i++)
      if (g_handlers[i].index == change.index) subs[nsubs++] = g_handlers[i];
    pthread_mutex_unlock(&g_mutex);
    const char *name = g_cvars[change.index].name;
    for (size_t i = 0; i < nsubs; i++) subs[i].fn(subs[i].user, name, &change.old_value, &change.new_value);
  }
  return batch;
}
