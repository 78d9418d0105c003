/* kc_cvar: typed console variables. Any thread reads them without locks (the
 * render loop reads every frame); any thread may set them, and the change is
 * queued so handlers run later on the main thread, in order, where engine
 * state may be touched. engine.ini's [cvars] and `--set cvars.X=V` feed it. */
#ifndef KC_CVAR_H
#define KC_CVAR_H

#include "base/err.h"

#include <keel/abi.h>

/* Values equal keel_cvar_type in the SDK so the host service can cast. */
typedef enum kc_cvar_type {
  KC_CVAR_BOOL = 1,
  KC_CVAR_INT = 2,
  KC_CVAR_FLOAT = 3,
  KC_CVAR_STRING = 4
} kc_cvar_type;

#define KC_CVAR_MAX 256          /* registered cvars */
#define KC_CVAR_NAME_MAX 64      /* name bytes including NUL */
#define KC_CVAR_HELP_MAX 160     /* help bytes including NUL (longer is cut) */
#define KC_CVAR_STRING_MAX 128   /* string value bytes including NUL */
#define KC_CVAR_CHOICES_MAX 16   /* choices of a string cvar */
#define KC_CVAR_CHOICE_MAX 32    /* bytes of one choice including NUL */
#define KC_CVAR_HANDLERS_MAX 256 /* on_change subscriptions, all cvars together */
#define KC_CVAR_PENDING_MAX 1024 /* changes waiting for kc_cvar_dispatch_pending */

/* Flags. */
#define KC_CVAR_READONLY (1u << 0) /* keeps its default: every set is refused */
#define KC_CVAR_ARCHIVE (1u << 1)  /* meant to be saved with the user's settings (saving comes later) */

/* Spellings a bool accepts (case-insensitive), for messages. */
#define KC_CVAR_BOOL_SPELLINGS "true/false, yes/no, on/off, 1/0"

/* A value by copy. Only the member matching `type` is meaningful; `text` is
 * always the value as it would be written in engine.ini. Same layout as the
 * SDK's keel_cvar_value. */
typedef struct kc_cvar_value {
  kc_cvar_type type;
  bool b;
  int64_t i;
  double f;
  char text[KC_CVAR_STRING_MAX];
} kc_cvar_value;

/* A change handler. Runs on the main thread inside kc_cvar_dispatch_pending,
 * once per change, in the order the changes were made. Pointers are valid
 * for the call only. Argument order matches the SDK's keel_cvar_change_fn,
 * so script and plugin handlers can be adapted without a shim. */
typedef void (*kc_cvar_change_fn)(void *user, const char *name, const kc_cvar_value *old_value,
                                  const kc_cvar_value *new_value);

/* A registered cvar. Handles stay valid until kc_cvar_shutdown. */
typedef struct kc_cvar kc_cvar;

/* ---- registration. Main thread (serialised with a lock, so another thread
 * registering is safe too). Names match [a-z_][a-z0-9_]*, optionally
 * followed by ".[a-z0-9_]+" parts (a plugin setting is "plugin.key"), and are at most
 * KC_CVAR_NAME_MAX-1 bytes; the name, help and choices are copied. A
 * default outside its own range, a duplicate name or a full registry is
 * refused with KEEL_ERR_INVALID_ARGUMENT / KEEL_ERR_FULL. *out (may be NULL)
 * receives the handle. */
keel_result kc_cvar_register_bool(const char *name, bool def, uint32_t flags, const char *help, kc_cvar **out,
                                  kc_err *err);
keel_result kc_cvar_register_int(const char *name, int64_t def, int64_t min, int64_t max, uint32_t flags,
                                 const char *help, kc_cvar **out, kc_err *err);
keel_result kc_cvar_register_float(const char *name, double def, double min, double max, uint32_t flags,
                                   const char *help, kc_cvar **out, kc_err *err);
/* `choices`: NULL-terminated list of allowed values, or NULL for any string
 * shorter than KC_CVAR_STRING_MAX. */
keel_result kc_cvar_register_string(const char *name, const char *def, const char *const *choices, uint32_t flags,
                                    const char *help, kc_cvar **out, kc_err *err);

/* Registers the engine's own cvars (sim_speed, show_stats, r_debug_view;
 * see docs/configuration.md). Main thread, once, before engine.ini's
 * [cvars] is validated. */
keel_result kc_cvar_register_engine(kc_err *err);

/* Forgets the cvars registered after the first `count` (kc_cvar_count()
 * taken before registering them), their handlers and their pending
 * changes: how the engine takes back a plugin's setting cvars when that
 * plugin fails to start. Main thread, while no other thread holds those
 * cvars' handles. */
void kc_cvar_truncate(size_t count);

/* Forgets every cvar, handler and pending change, so tests can start over.
 * Main thread, when no other thread uses cvars; handles become invalid. */
void kc_cvar_shutdown(void);

/* ---- lookup. Any thread. */
kc_cvar *kc_cvar_find(const char *name); /* NULL when not registered */
size_t kc_cvar_count(void);
kc_cvar *kc_cvar_at(size_t index); /* registration order; NULL past the end */
const char *kc_cvar_name(const kc_cvar *cv);
const char *kc_cvar_help(const kc_cvar *cv);
kc_cvar_type kc_cvar_get_type(const kc_cvar *cv);
uint32_t kc_cvar_flags(const kc_cvar *cv);
const char *kc_cvar_type_name(kc_cvar_type type); /* "bool", "int", "float", "string" */
/* What a valid value looks like, as used in refusals: "a number in 0..10",
 * "one of: none, wireframe, normals", "true/false, yes/no, on/off, 1/0".
 * Writes into buf (caller owns); returns buf. */
const char *kc_cvar_describe_range(const kc_cvar *cv, char *buf, size_t cap);
/* The default value, by copy. */
void kc_cvar_get_default(const kc_cvar *cv, kc_cvar_value *out);

/* ---- reads. Any thread, lock-free, never torn. A getter of another numeric
 * type converts (bool <-> 0/1, float truncates toward zero); numeric getters
 * on a string cvar return 0/false. */
bool kc_cvar_get_bool(const kc_cvar *cv);
int64_t kc_cvar_get_int(const kc_cvar *cv);
double kc_cvar_get_float(const kc_cvar *cv);
/* Copies the value as text (any type) into out, cut to fit cap; returns the
 * full length. */
size_t kc_cvar_get_string(const kc_cvar *cv, char *out, size_t cap);
void kc_cvar_get_value(const kc_cvar *cv, kc_cvar_value *out);
/* By name: KEEL_ERR_NOT_FOUND when not registered. */
keel_result kc_cvar_get(const char *name, kc_cvar_value *out);

/* ---- writes. Any thread (serialised by a lock; reads never wait for it).
 * A valid new value is visible to readers at once and queued as a pending
 * change for the handlers; setting the current value again is a no-op.
 * Refusals leave the value unchanged and name the variable and its valid
 * range or choices in err: KEEL_ERR_INVALID_ARGUMENT for a bad value or a
 * read-only cvar, KEEL_ERR_FULL when KC_CVAR_PENDING_MAX changes are
 * waiting for dispatch. Typed setters accept their own type, and ints for
 * float cvars and integral floats for int cvars. */
keel_result kc_cvar_set_bool(kc_cvar *cv, bool value, kc_err *err);
keel_result kc_cvar_set_int(kc_cvar *cv, int64_t value, kc_err *err);
keel_result kc_cvar_set_float(kc_cvar *cv, double value, kc_err *err);
/* Parses `text` for any type (as engine.ini would). */
keel_result kc_cvar_set_string(kc_cvar *cv, const char *text, kc_err *err);
/* By name; an unregistered name is KEEL_ERR_NOT_FOUND. */
keel_result kc_cvar_set(const char *name, const char *text, kc_err *err);

/* Checks `text` as kc_cvar_set_string would, changing nothing; *out (may be
 * NULL) receives the parsed value. Any thread. */
keel_result kc_cvar_check(const kc_cvar *cv, const char *text, kc_cvar_value *out, kc_err *err);

/* ---- change handlers. Main thread. Several per cvar; they run in
 * subscription order. `user` is owned by the caller and must outlive the
 * subscription. KEEL_ERR_NOT_FOUND for an unknown cvar, KEEL_ERR_FULL when
 * KC_CVAR_HANDLERS_MAX subscriptions exist. */
keel_result kc_cvar_on_change(const char *name, kc_cvar_change_fn fn, void *user, kc_err *err);
/* Removes the subscription with this fn and user; KEEL_ERR_NOT_FOUND if none. */
keel_result kc_cvar_remove_handler(const char *name, kc_cvar_change_fn fn, void *user);

/* Runs the handlers of the changes pending when it was called, oldest first,
 * and returns how many changes it dispatched. Changes made by handlers wait
 * for the next call, so two handlers setting each other cannot loop. No
 * lock is held while a handler runs. Main thread. */
size_t kc_cvar_dispatch_pending(void);
/* Changes waiting for dispatch. Any thread. */
size_t kc_cvar_pending_count(void);

/* ---- parsing shared with engine.ini. Any thread. Whole-string parses: no
 * leading/trailing junk; ints in int64 range; floats finite. */
bool kc_cvar_parse_bool(const char *text, bool *out);
bool kc_cvar_parse_int(const char *text, int64_t *out);
bool kc_cvar_parse_float(const char *text, double *out);
/* Shortest "%.15g"/"%.17g" text that reads back to the same double. */
void kc_cvar_format_float(double value, char *buf, size_t cap);

#endif
