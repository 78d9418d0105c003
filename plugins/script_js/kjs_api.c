/* The script API as JavaScript globals (entity, camera, light, cvar, log,
 * engine), with the argument checks and error texts docs/scripting.md shares
 * with the Lua runtime, and the delivery of completion and cvar events. */
#include "kjs_internal.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define KJS_ID_LIMIT 9007199254740992.0 /* 2^53: every keel id is below it */

/* Lua's type names, which the shared error texts use in both runtimes. */
static const char *kjs_type_name(duk_context *ctx, duk_idx_t idx) {
  if (duk_is_symbol(ctx, idx)) return "symbol";
  switch (duk_get_type(ctx, idx)) {
    case DUK_TYPE_NONE:
    case DUK_TYPE_UNDEFINED:
    case DUK_TYPE_NULL: return "nil";
    case DUK_TYPE_BOOLEAN: return "boolean";
    case DUK_TYPE_NUMBER: return "number";
    case DUK_TYPE_STRING: return "string";
    case DUK_TYPE_LIGHTFUNC: return "function";
    case DUK_TYPE_OBJECT: return duk_is_function(ctx, idx) ? "function" : "table";
    case DUK_TYPE_BUFFER: return "table";
    case DUK_TYPE_POINTER: return "pointer";
    default: return "unknown";
  }
}

static bool kjs_is_table(duk_context *ctx, duk_idx_t idx) { return strcmp(kjs_type_name(ctx, idx), "table") == 0; }

/* Throws a plain Error blamed on the calling script line (NULL file: no C
 * location is recorded, so fileName/lineNumber are the caller's). The text
 * is formatted here, with the C library, not by Duktape's formatter. */
static _Noreturn void kjs_fail(duk_context *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static _Noreturn void kjs_fail(duk_context *ctx, const char *fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  duk_error_raw(ctx, DUK_ERR_ERROR, NULL, 0, "%s", text);
  /* duk_error_raw longjmps; Duktape drops its noreturn mark for GCC 5+. */
  __builtin_unreachable();
}

static void kjs_format_id(double d, char *buf, size_t cap) {
  if (d == floor(d) && fabs(d) < 9.2e18)
    snprintf(buf, cap, "%.0f", d);
  else
    snprintf(buf, cap, "%.14g", d);
}

typedef struct kjs_kind_info {
  keel_object_kind kind;
  const char *noun; /* "entity" */
} kjs_kind_info;

static const kjs_kind_info kjs_entity = {KEEL_OBJECT_ENTITY, "entity"};
static const kjs_kind_info kjs_camera = {KEEL_OBJECT_CAMERA, "camera"};
static const kjs_kind_info kjs_light = {KEEL_OBJECT_LIGHT, "light"};

static _Noreturn void kjs_not_live(duk_context *ctx, const char *fname, double d, const kjs_kind_info *k) {
  char idbuf[40];
  kjs_format_id(d, idbuf, sizeof idbuf);
  kjs_fail(ctx, "%s: id %s is not a live %s", fname, idbuf, k->noun);
}

/* An id argument: a number; one that cannot be any live id is refused here
 * without bothering the world. */
static keel_id kjs_require_id(duk_context *ctx, duk_idx_t idx, const char *fname, const kjs_kind_info *k) {
  if (!duk_is_number(ctx, idx))
    kjs_fail(ctx, "%s: argument 'id' must be an integer id, got %s", fname, kjs_type_name(ctx, idx));
  double d = duk_get_number(ctx, idx);
  if (!(d >= 1.0 && d < KJS_ID_LIMIT && d == floor(d))) kjs_not_live(ctx, fname, d, k);
  return (keel_id)d;
}

static void kjs_throw_refusal(duk_context *ctx, const char *fname, const kjs_kind_info *k, const keel_command *cmd,
                              keel_result r) {
  if (r == KEEL_ERR_FULL) kjs_fail(ctx, "%s: command queue full", fname);
  if (r == KEEL_ERR_STALE_ID && cmd->type != KEEL_CMD_CREATE) kjs_not_live(ctx, fname, (double)cmd->id, k);
  kjs_fail(ctx, "%s: command refused (%s)", fname, keel_result_name(r));
}

static void kjs_push_command(duk_context *ctx, kjs_vm *vm, const char *fname, const kjs_kind_info *k,
                             const keel_command *cmd) {
  const keel_script_world *w = vm->script->world;
  keel_result r = w->command_push(w->ctx, cmd);
  if (r != KEEL_OK) kjs_throw_refusal(ctx, fname, k, cmd, r);
}

/* ---- desc / fields tables ---- */

typedef enum kjs_field_type {
  KJS_F_MESH,
  KJS_F_VEC3,
  KJS_F_QUAT,
  KJS_F_COLOR,
  KJS_F_NUMBER,
  KJS_F_LIGHT_KIND,
  KJS_F_LAYER
} kjs_field_type;

typedef struct kjs_field {
  const char *key;
  kjs_field_type type;
  uint32_t mask;
} kjs_field;

static const kjs_field kjs_entity_fields[] = {
    {"mesh", KJS_F_MESH, KEEL_FIELD_MESH},         {"position", KJS_F_VEC3, KEEL_FIELD_POSITION},
    {"rotation", KJS_F_QUAT, KEEL_FIELD_ROTATION}, {"scale", KJS_F_VEC3, KEEL_FIELD_SCALE},
    {"color", KJS_F_COLOR, KEEL_FIELD_COLOR},      {"layer", KJS_F_LAYER, KEEL_FIELD_LAYER},
    {NULL, KJS_F_NUMBER, 0}};
static const kjs_field kjs_camera_fields[] = {{"position", KJS_F_VEC3, KEEL_FIELD_POSITION},
                                              {"target", KJS_F_VEC3, KEEL_FIELD_TARGET},
                                              {"fov", KJS_F_NUMBER, KEEL_FIELD_FOV},
                                              {NULL, KJS_F_NUMBER, 0}};
static const kjs_field kjs_light_fields[] = {
    {"kind", KJS_F_LIGHT_KIND, KEEL_FIELD_LIGHT_KIND}, {"position", KJS_F_VEC3, KEEL_FIELD_POSITION},
    {"color", KJS_F_COLOR, KEEL_FIELD_COLOR},          {"intensity", KJS_F_NUMBER, KEEL_FIELD_INTENSITY},
    {"range", KJS_F_NUMBER, KEEL_FIELD_RANGE},         {NULL, KJS_F_NUMBER, 0}};

/* A number a command carries as a float: finite (NaN and infinity would
 * reach float-to-integer conversions in the renderers) and within float
 * range. `comp` is the component ("y" of "position.y") or NULL. */
static float kjs_to_float(duk_context *ctx, double d, const char *fname, const char *field, const char *comp) {
  char name[96];
  snprintf(name, sizeof name, "%s%s%s", field, comp ? "." : "", comp ? comp : "");
  if (isnan(d)) kjs_fail(ctx, "%s: field '%s' must be a finite number, got nan", fname, name);
  if (isinf(d)) kjs_fail(ctx, "%s: field '%s' must be a finite number, got %s", fname, name, d > 0 ? "inf" : "-inf");
  if (d > FLT_MAX || d < -FLT_MAX)
    kjs_fail(ctx, "%s: field '%s' is out of range (beyond +-3.4e38), got %.14g", fname, name, d);
  return (float)d;
}

/* Reads components `names` of the vector at idx into out; the last one is
 * optional (default 1) when last_optional. */
static void kjs_read_vector(duk_context *ctx, duk_idx_t idx, const char *fname, const char *key, const char *shape,
                            const char *const *names, int n, bool last_optional, float *out) {
  if (!kjs_is_table(ctx, idx))
    kjs_fail(ctx, "%s: field '%s' must be a table %s, got %s", fname, key, shape, kjs_type_name(ctx, idx));
  for (int i = 0; i < n; i++) {
    duk_get_prop_string(ctx, idx, names[i]);
    if (duk_is_number(ctx, -1)) {
      out[i] = kjs_to_float(ctx, duk_get_number(ctx, -1), fname, key, names[i]);
    } else if (i == n - 1 && last_optional && duk_is_null_or_undefined(ctx, -1)) {
      out[i] = 1.0f;
    } else {
      kjs_fail(ctx, "%s: field '%s.%s' must be a number, got %s", fname, key, names[i], kjs_type_name(ctx, -1));
    }
    duk_pop(ctx);
  }
}

static void kjs_read_field(duk_context *ctx, duk_idx_t idx, const char *fname, const kjs_field *f,
                           keel_object_fields *out) {
  static const char *const xyz[] = {"x", "y", "z"};
  static const char *const xyzw[] = {"x", "y", "z", "w"};
  static const char *const rgba[] = {"r", "g", "b", "a"};
  switch (f->type) {
    case KJS_F_MESH: {
      if (!duk_is_string(ctx, idx) || duk_is_symbol(ctx, idx))
        kjs_fail(ctx, "%s: field 'mesh' must be a string, got %s", fname, kjs_type_name(ctx, idx));
      duk_size_t len = 0;
      const char *s = duk_get_lstring(ctx, idx, &len);
      if (len > KEEL_NAME_MAX - 1) kjs_fail(ctx, "%s: field 'mesh' is longer than %d bytes", fname, KEEL_NAME_MAX - 1);
      if (strlen(s) != len) kjs_fail(ctx, "%s: field 'mesh' contains a NUL byte", fname);
      memset(out->mesh, 0, sizeof out->mesh);
      memcpy(out->mesh, s, len);
      break;
    }
    case KJS_F_VEC3: {
      float v[3];
      kjs_read_vector(ctx, idx, fname, f->key, "{x, y, z}", xyz, 3, false, v);
      keel_vec3 r = {v[0], v[1], v[2]};
      if (f->mask == KEEL_FIELD_POSITION)
        out->position = r;
      else if (f->mask == KEEL_FIELD_SCALE)
        out->scale = r;
      else
        out->target = r;
      break;
    }
    case KJS_F_QUAT: {
      float v[4];
      kjs_read_vector(ctx, idx, fname, f->key, "{x, y, z, w}", xyzw, 4, false, v);
      out->rotation = (keel_quat){v[0], v[1], v[2], v[3]};
      break;
    }
    case KJS_F_COLOR: {
      float v[4];
      kjs_read_vector(ctx, idx, fname, f->key, "{r, g, b [, a]}", rgba, 4, true, v);
      out->color = (keel_color){v[0], v[1], v[2], v[3]};
      break;
    }
    case KJS_F_NUMBER: {
      if (!duk_is_number(ctx, idx))
        kjs_fail(ctx, "%s: field '%s' must be a number, got %s", fname, f->key, kjs_type_name(ctx, idx));
      float v = kjs_to_float(ctx, duk_get_number(ctx, idx), fname, f->key, NULL);
      if (f->mask == KEEL_FIELD_FOV)
        out->fov_degrees = v;
      else if (f->mask == KEEL_FIELD_INTENSITY)
        out->intensity = v;
      else
        out->range = v;
      break;
    }
    case KJS_F_LIGHT_KIND: {
      const char *s = duk_is_string(ctx, idx) && !duk_is_symbol(ctx, idx) ? duk_get_string(ctx, idx) : NULL;
      if (s && strcmp(s, "point") == 0)
        out->light_kind = KEEL_LIGHT_POINT;
      else if (s && strcmp(s, "directional") == 0)
        out->light_kind = KEEL_LIGHT_DIRECTIONAL;
      else if (s)
        kjs_fail(ctx, "%s: field 'kind' must be \"point\" or \"directional\", got \"%s\"", fname, s);
      else
        kjs_fail(ctx, "%s: field 'kind' must be \"point\" or \"directional\", got %s", fname,
                 kjs_type_name(ctx, idx));
      break;
    }
    case KJS_F_LAYER: {
      const char *s = duk_is_string(ctx, idx) && !duk_is_symbol(ctx, idx) ? duk_get_string(ctx, idx) : NULL;
      if (s && strcmp(s, "world") == 0)
        out->layer = KEEL_LAYER_WORLD;
      else if (s && strcmp(s, "screen") == 0)
        out->layer = KEEL_LAYER_SCREEN;
      else if (s)
        kjs_fail(ctx, "%s: field 'layer' must be \"world\" or \"screen\", got \"%s\"", fname, s);
      else
        kjs_fail(ctx, "%s: field 'layer' must be \"world\" or \"screen\", got %s", fname, kjs_type_name(ctx, idx));
      break;
    }
  }
  out->mask |= f->mask;
}

/* Reads the desc/fields table at idx: every own key must be a known field. */
static void kjs_read_fields(duk_context *ctx, duk_idx_t idx, const char *fname, const char *argname,
                            const kjs_field *fields, keel_object_fields *out) {
  if (!kjs_is_table(ctx, idx))
    kjs_fail(ctx, "%s: argument '%s' must be a table, got %s", fname, argname, kjs_type_name(ctx, idx));
  duk_enum(ctx, idx, DUK_ENUM_OWN_PROPERTIES_ONLY);
  while (duk_next(ctx, -1, 1)) {
    duk_size_t klen = 0;
    const char *key = duk_get_lstring(ctx, -2, &klen);
    if (!key) key = "?"; /* enumeration yields strings; a Proxy trap cannot change that, but be sure */
    /* "mesh\0x" is not "mesh": a key is compared whole */
    if (strlen(key) != klen) kjs_fail(ctx, "%s: unknown field '%s' (the name contains a NUL byte)", fname, key);
    const kjs_field *f = fields;
    while (f->key && strcmp(f->key, key) != 0) f++;
    if (!f->key) kjs_fail(ctx, "%s: unknown field '%s'", fname, key);
    kjs_read_field(ctx, duk_normalize_index(ctx, -1), fname, f, out);
    duk_pop_2(ctx);
  }
  duk_pop(ctx);
}

/* ---- callbacks: slot table in C, functions in a stash array ---- */

static bool kjs_cb_reserve(kjs_vm *vm) {
  if (vm->cb_free_count > 0 || vm->cb_used < vm->cb_cap) return true;
  if (vm->cb_cap >= KJS_CB_SLOTS_MAX) return false;
  uint32_t cap = vm->cb_cap ? vm->cb_cap * 2 : 64;
  if (cap > KJS_CB_SLOTS_MAX) cap = KJS_CB_SLOTS_MAX;
  uint32_t *ids = realloc(vm->cb_ids, cap * sizeof *ids);
  if (!ids) return false;
  vm->cb_ids = ids;
  uint32_t *fr = realloc(vm->cb_free, cap * sizeof *fr);
  if (!fr) return false;
  vm->cb_free = fr;
  vm->cb_cap = cap;
  return true;
}

/* The slot the next kjs_cb_take returns (after kjs_cb_reserve succeeded). */
static uint32_t kjs_cb_peek(const kjs_vm *vm) {
  return vm->cb_free_count ? vm->cb_free[vm->cb_free_count - 1] : vm->cb_used;
}

static uint32_t kjs_cb_take(kjs_vm *vm) {
  uint32_t slot;
  uint32_t generation = 0;
  if (vm->cb_free_count) {
    slot = vm->cb_free[--vm->cb_free_count];
    generation = (vm->cb_ids[slot] >> KJS_CB_SLOT_BITS) + 1;
  } else {
    slot = vm->cb_used++;
  }
  uint32_t id = (slot + 1) | (generation << KJS_CB_SLOT_BITS); /* never 0: slot + 1 >= 1 */
  vm->cb_ids[slot] = id;
  return id;
}

static void kjs_cb_release(duk_context *ctx, kjs_vm *vm, uint32_t slot) {
  vm->cb_ids[slot] &= ~((1u << KJS_CB_SLOT_BITS) - 1u); /* keep the generation, mark the slot free */
  vm->cb_free[vm->cb_free_count++] = slot;
  duk_push_heapptr(ctx, vm->cb_array);
  duk_push_undefined(ctx);
  duk_put_prop_index(ctx, -2, slot);
  duk_pop(ctx);
}

/* Slot of a live callback id, or UINT32_MAX. */
static uint32_t kjs_cb_find(const kjs_vm *vm, uint32_t callback_id) {
  uint32_t low = callback_id & (KJS_CB_SLOTS_MAX - 1u);
  if (low == 0 || low > vm->cb_used) return UINT32_MAX;
  uint32_t slot = low - 1;
  return vm->cb_ids[slot] == callback_id ? slot : UINT32_MAX;
}

/* ---- create / update / destroy ---- */

static void kjs_defaults(keel_object_kind kind, keel_object_fields *f) {
  memset(f, 0, sizeof *f);
  switch (kind) {
    case KEEL_OBJECT_ENTITY:
      f->mask = KEEL_FIELD_MESH | KEEL_FIELD_POSITION | KEEL_FIELD_ROTATION | KEEL_FIELD_SCALE | KEEL_FIELD_COLOR |
                KEEL_FIELD_LAYER;
      f->layer = KEEL_LAYER_WORLD;
      memcpy(f->mesh, "cube", 5);
      f->rotation = (keel_quat){0, 0, 0, 1};
      f->scale = (keel_vec3){1, 1, 1};
      f->color = (keel_color){1, 1, 1, 1};
      break;
    case KEEL_OBJECT_CAMERA:
      f->mask = KEEL_FIELD_POSITION | KEEL_FIELD_TARGET | KEEL_FIELD_FOV;
      f->target = (keel_vec3){0, 0, -1};
      f->fov_degrees = 60.0f;
      break;
    case KEEL_OBJECT_LIGHT:
      f->mask = KEEL_FIELD_LIGHT_KIND | KEEL_FIELD_POSITION | KEEL_FIELD_COLOR | KEEL_FIELD_INTENSITY | KEEL_FIELD_RANGE;
      f->light_kind = KEEL_LIGHT_POINT;
      f->color = (keel_color){1, 1, 1, 1};
      f->intensity = 1.0f;
      f->range = 10.0f;
      break;
  }
}

static duk_ret_t kjs_create(duk_context *ctx, const char *fname, const kjs_kind_info *k, const kjs_field *fields) {
  kjs_vm *vm = kjs_vm_of(ctx);
  keel_command cmd;
  memset(&cmd, 0, sizeof cmd);
  cmd.type = KEEL_CMD_CREATE;
  cmd.kind = k->kind;
  kjs_defaults(k->kind, &cmd.fields);
  kjs_read_fields(ctx, 0, fname, "desc", fields, &cmd.fields);
  bool has_cb = !duk_is_null_or_undefined(ctx, 1);
  if (has_cb && !duk_is_function(ctx, 1))
    kjs_fail(ctx, "%s: argument 'on_created' must be a function, got %s", fname, kjs_type_name(ctx, 1));
  uint32_t slot = UINT32_MAX;
  if (has_cb) {
    if (!kjs_cb_reserve(vm)) kjs_fail(ctx, "%s: too many pending callbacks", fname);
    /* Store the function before taking the slot: the store may throw. */
    slot = kjs_cb_peek(vm);
    duk_push_heapptr(ctx, vm->cb_array);
    duk_dup(ctx, 1);
    duk_put_prop_index(ctx, -2, slot);
    duk_pop(ctx);
  }
  const keel_script_world *w = vm->script->world;
  cmd.id = w->id_reserve(w->ctx, k->kind);
  if (cmd.id == KEEL_ID_INVALID) {
    if (has_cb) {
      duk_push_heapptr(ctx, vm->cb_array);
      duk_push_undefined(ctx);
      duk_put_prop_index(ctx, -2, slot);
      duk_pop(ctx);
    }
    kjs_fail(ctx, "%s: no free %s id", fname, k->noun);
  }
  if (has_cb) cmd.callback_id = kjs_cb_take(vm);
  keel_result r = w->command_push(w->ctx, &cmd);
  if (r != KEEL_OK) {
    if (has_cb) {
      kjs_cb_release(ctx, vm, slot);
      /* The host refuses a create with a callback when KEEL_SCRIPT_CALLBACKS_MAX
       * completions are pending (keel/script.h): said in the script's words. */
      if (r == KEEL_ERR_FULL && vm->cb_used - vm->cb_free_count >= KEEL_SCRIPT_CALLBACKS_MAX)
        kjs_fail(ctx, "%s: too many pending callbacks (%u wait for their completion)", fname,
                 KEEL_SCRIPT_CALLBACKS_MAX);
    }
    kjs_throw_refusal(ctx, fname, k, &cmd, r);
  }
  duk_push_number(ctx, (double)cmd.id);
  return 1;
}

static duk_ret_t kjs_update(duk_context *ctx, const char *fname, const kjs_kind_info *k, const kjs_field *fields) {
  kjs_vm *vm = kjs_vm_of(ctx);
  keel_command cmd;
  memset(&cmd, 0, sizeof cmd);
  cmd.type = KEEL_CMD_UPDATE;
  cmd.kind = k->kind;
  cmd.id = kjs_require_id(ctx, 0, fname, k);
  kjs_read_fields(ctx, 1, fname, "fields", fields, &cmd.fields);
  kjs_push_command(ctx, vm, fname, k, &cmd);
  return 0;
}

static duk_ret_t kjs_simple(duk_context *ctx, const char *fname, const kjs_kind_info *k, keel_command_type type) {
  kjs_vm *vm = kjs_vm_of(ctx);
  keel_command cmd;
  memset(&cmd, 0, sizeof cmd);
  cmd.type = type;
  cmd.kind = k->kind;
  cmd.id = kjs_require_id(ctx, 0, fname, k);
  kjs_push_command(ctx, vm, fname, k, &cmd);
  return 0;
}

static duk_ret_t kjs_entity_create(duk_context *ctx) { return kjs_create(ctx, "entity.create", &kjs_entity, kjs_entity_fields); }
static duk_ret_t kjs_entity_update(duk_context *ctx) { return kjs_update(ctx, "entity.update", &kjs_entity, kjs_entity_fields); }
static duk_ret_t kjs_entity_destroy(duk_context *ctx) { return kjs_simple(ctx, "entity.destroy", &kjs_entity, KEEL_CMD_DESTROY); }
static duk_ret_t kjs_camera_create(duk_context *ctx) { return kjs_create(ctx, "camera.create", &kjs_camera, kjs_camera_fields); }
static duk_ret_t kjs_camera_update(duk_context *ctx) { return kjs_update(ctx, "camera.update", &kjs_camera, kjs_camera_fields); }
static duk_ret_t kjs_camera_set_active(duk_context *ctx) { return kjs_simple(ctx, "camera.set_active", &kjs_camera, KEEL_CMD_SET_ACTIVE); }
static duk_ret_t kjs_camera_destroy(duk_context *ctx) { return kjs_simple(ctx, "camera.destroy", &kjs_camera, KEEL_CMD_DESTROY); }
static duk_ret_t kjs_light_create(duk_context *ctx) { return kjs_create(ctx, "light.create", &kjs_light, kjs_light_fields); }
static duk_ret_t kjs_light_update(duk_context *ctx) { return kjs_update(ctx, "light.update", &kjs_light, kjs_light_fields); }
static duk_ret_t kjs_light_destroy(duk_context *ctx) { return kjs_simple(ctx, "light.destroy", &kjs_light, KEEL_CMD_DESTROY); }

/* ---- snapshot reads ---- */

/* Defines key = the value on top as an own data property of the object
 * below it: unlike a put, no setter a script put on Object.prototype sees
 * it. */
static void kjs_def_own(duk_context *ctx, const char *key) {
  duk_push_string(ctx, key);
  duk_insert(ctx, -2);
  duk_def_prop(ctx, -3,
               DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_SET_WRITABLE | DUK_DEFPROP_SET_ENUMERABLE |
                   DUK_DEFPROP_SET_CONFIGURABLE);
}

static void kjs_put_vec(duk_context *ctx, const char *key, const char *const *names, const float *v, int n) {
  duk_push_object(ctx);
  for (int i = 0; i < n; i++) {
    duk_push_number(ctx, (double)v[i]);
    kjs_def_own(ctx, names[i]);
  }
  kjs_def_own(ctx, key);
}

static duk_ret_t kjs_entity_get(duk_context *ctx) {
  static const char *const xyz[] = {"x", "y", "z"};
  static const char *const xyzw[] = {"x", "y", "z", "w"};
  static const char *const rgba[] = {"r", "g", "b", "a"};
  if (!duk_is_number(ctx, 0))
    kjs_fail(ctx, "entity.get: argument 'id' must be an integer id, got %s", kjs_type_name(ctx, 0));
  double d = duk_get_number(ctx, 0);
  if (!(d >= 1.0 && d < KJS_ID_LIMIT && d == floor(d))) {
    duk_push_null(ctx);
    return 1;
  }
  kjs_vm *vm = kjs_vm_of(ctx);
  const keel_script_world *w = vm->script->world;
  keel_object_snapshot snap;
  if (w->object_get(w->ctx, (keel_id)d, &snap) != KEEL_OK || snap.kind != KEEL_OBJECT_ENTITY) {
    duk_push_null(ctx);
    return 1;
  }
  const keel_object_fields *f = &snap.fields;
  duk_push_object(ctx);
  duk_push_number(ctx, (double)snap.id);
  kjs_def_own(ctx, "id");
  char mesh[KEEL_NAME_MAX + 1];
  memcpy(mesh, f->mesh, KEEL_NAME_MAX);
  mesh[KEEL_NAME_MAX] = '\0';
  duk_push_string(ctx, mesh);
  kjs_def_own(ctx, "mesh");
  kjs_put_vec(ctx, "position", xyz, &f->position.x, 3);
  kjs_put_vec(ctx, "rotation", xyzw, &f->rotation.x, 4);
  kjs_put_vec(ctx, "scale", xyz, &f->scale.x, 3);
  kjs_put_vec(ctx, "color", rgba, &f->color.r, 4);
  duk_push_string(ctx, f->layer == KEEL_LAYER_SCREEN ? "screen" : "world");
  kjs_def_own(ctx, "layer");
  return 1;
}

static duk_ret_t kjs_entity_count(duk_context *ctx) {
  kjs_vm *vm = kjs_vm_of(ctx);
  const keel_script_world *w = vm->script->world;
  duk_push_uint(ctx, w->object_count(w->ctx, KEEL_OBJECT_ENTITY));
  return 1;
}

/* ---- cvar ---- */

/* A cvar name: a string without NUL bytes (the engine would read it cut
 * at the first one, and set another cvar than the script named). */
static const char *kjs_require_name(duk_context *ctx, const char *fname) {
  if (!duk_is_string(ctx, 0) || duk_is_symbol(ctx, 0))
    kjs_fail(ctx, "%s: argument 'name' must be a string, got %s", fname, kjs_type_name(ctx, 0));
  duk_size_t len = 0;
  const char *name = duk_get_lstring(ctx, 0, &len);
  if (strlen(name) != len) kjs_fail(ctx, "%s: argument 'name' contains a NUL byte", fname);
  return name;
}

static void kjs_push_cvar(duk_context *ctx, const keel_cvar_value *v) {
  switch (v->type) {
    case KEEL_CVAR_BOOL: duk_push_boolean(ctx, v->b); break;
    case KEEL_CVAR_INT: duk_push_number(ctx, (double)v->i); break;
    case KEEL_CVAR_FLOAT: duk_push_number(ctx, v->f); break;
    case KEEL_CVAR_STRING:
    default: {
      char text[KEEL_CVAR_STRING_MAX + 1];
      memcpy(text, v->text, KEEL_CVAR_STRING_MAX);
      text[KEEL_CVAR_STRING_MAX] = '\0';
      duk_push_string(ctx, text);
      break;
    }
  }
}

static duk_ret_t kjs_cvar_get(duk_context *ctx) {
  const char *name = kjs_require_name(ctx, "cvar.get");
  kjs_vm *vm = kjs_vm_of(ctx);
  const keel_host *h = vm->script->host;
  keel_cvar_value v;
  memset(&v, 0, sizeof v);
  keel_result r = h->cvar_get(h, name, &v);
  if (r == KEEL_ERR_NOT_FOUND) kjs_fail(ctx, "cvar.get: unknown cvar '%s'", name);
  if (r != KEEL_OK) kjs_fail(ctx, "cvar.get: cannot read cvar '%s' (%s)", name, keel_result_name(r));
  kjs_push_cvar(ctx, &v);
  return 1;
}

static duk_ret_t kjs_cvar_set(duk_context *ctx) {
  const char *name = kjs_require_name(ctx, "cvar.set");
  char text[64];
  const char *value;
  if (duk_is_boolean(ctx, 1)) {
    value = duk_get_boolean(ctx, 1) ? "true" : "false";
  } else if (duk_is_number(ctx, 1)) {
    double d = duk_get_number(ctx, 1);
    /* Integers without a decimal point, other numbers with %.17g. */
    if (d == floor(d) && fabs(d) < 9.2e18)
      snprintf(text, sizeof text, "%lld", (long long)d);
    else
      snprintf(text, sizeof text, "%.17g", d);
    value = text;
  } else if (duk_is_string(ctx, 1) && !duk_is_symbol(ctx, 1)) {
    duk_size_t len = 0;
    value = duk_get_lstring(ctx, 1, &len);
    if (strlen(value) != len) kjs_fail(ctx, "cvar.set: argument 'value' contains a NUL byte");
  } else {
    kjs_fail(ctx, "cvar.set: argument 'value' must be a boolean, number or string, got %s", kjs_type_name(ctx, 1));
  }
  kjs_vm *vm = kjs_vm_of(ctx);
  const keel_host *h = vm->script->host;
  keel_message err;
  err.text[0] = '\0';
  keel_result r = h->cvar_set(h, name, value, &err);
  if (r != KEEL_OK) {
    err.text[sizeof err.text - 1] = '\0';
    if (err.text[0]) kjs_fail(ctx, "cvar.set: %s", err.text);
    kjs_fail(ctx, "cvar.set: cvar '%s' refused '%s' (%s)", name, value, keel_result_name(r));
  }
  return 0;
}

/* Handler lists are bare objects (see kjs_api_install) whose length is kept
 * under a hidden key: a script cannot reach either. */
#define KJS_LIST_COUNT DUK_HIDDEN_SYMBOL("count")

static duk_uarridx_t kjs_list_count(duk_context *ctx, duk_idx_t list) {
  duk_get_prop_string(ctx, list, KJS_LIST_COUNT);
  duk_uarridx_t n = (duk_uarridx_t)duk_get_uint(ctx, -1);
  duk_pop(ctx);
  return n;
}

static duk_ret_t kjs_cvar_on_change(duk_context *ctx) {
  const char *name = kjs_require_name(ctx, "cvar.on_change");
  if (!duk_is_function(ctx, 1))
    kjs_fail(ctx, "cvar.on_change: argument 'fn' must be a function, got %s", kjs_type_name(ctx, 1));
  kjs_vm *vm = kjs_vm_of(ctx);
  const keel_host *h = vm->script->host;
  keel_cvar_value v;
  if (h->cvar_get(h, name, &v) != KEEL_OK) kjs_fail(ctx, "cvar.on_change: unknown cvar '%s'", name);
  /* Keyed by the name as events carry it: cut to KEEL_NAME_MAX - 1 bytes. */
  duk_push_heapptr(ctx, vm->oc_object);
  duk_push_lstring(ctx, name, strnlen(name, KEEL_NAME_MAX - 1));
  duk_dup_top(ctx);
  if (!duk_get_prop(ctx, -3)) {
    duk_pop(ctx);
    duk_push_bare_object(ctx);
    duk_dup(ctx, -2);
    duk_dup(ctx, -2);
    duk_put_prop(ctx, -5);
  }
  /* [oc key handlers]: a bare object, its count under a hidden key */
  duk_uarridx_t n = kjs_list_count(ctx, -1);
  duk_dup(ctx, 1);
  duk_put_prop_index(ctx, -2, n);
  duk_push_uint(ctx, n + 1);
  duk_put_prop_string(ctx, -2, KJS_LIST_COUNT);
  return 0;
}

/* ---- log, engine ---- */

static duk_ret_t kjs_log(duk_context *ctx, keel_log_level level) {
  duk_idx_t n = duk_get_top(ctx);
  for (duk_idx_t i = 0; i < n; i++) {
    if (duk_is_symbol(ctx, i)) {
      /* String(sym) works where ToString(sym) throws. */
      duk_get_prop_string(ctx, i, "toString");
      duk_dup(ctx, i);
      duk_call_method(ctx, 0);
      duk_replace(ctx, i);
    } else {
      duk_to_string(ctx, i);
    }
  }
  duk_push_string(ctx, " ");
  duk_insert(ctx, 0);
  duk_join(ctx, n);
  kjs_vm *vm = kjs_vm_of(ctx);
  const keel_host *h = vm->script->host;
  h->log(h, level, "%s", duk_get_string(ctx, -1));
  return 0;
}

static duk_ret_t kjs_log_info(duk_context *ctx) { return kjs_log(ctx, KEEL_LOG_INFO); }
static duk_ret_t kjs_log_warn(duk_context *ctx) { return kjs_log(ctx, KEEL_LOG_WARN); }
static duk_ret_t kjs_log_error(duk_context *ctx) { return kjs_log(ctx, KEEL_LOG_ERROR); }

static double kjs_bits_to_double(uint64_t bits) {
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}

static duk_ret_t kjs_engine_frame(duk_context *ctx) {
  kjs_vm *vm = kjs_vm_of(ctx);
  duk_push_number(ctx, (double)atomic_load_explicit(&vm->script->tick_frame, memory_order_relaxed));
  return 1;
}

static duk_ret_t kjs_engine_time(duk_context *ctx) {
  kjs_vm *vm = kjs_vm_of(ctx);
  duk_push_number(ctx, kjs_bits_to_double(atomic_load_explicit(&vm->script->tick_time_bits, memory_order_relaxed)));
  return 1;
}

static duk_ret_t kjs_engine_dt(duk_context *ctx) {
  kjs_vm *vm = kjs_vm_of(ctx);
  duk_push_number(ctx, kjs_bits_to_double(atomic_load_explicit(&vm->script->tick_dt_bits, memory_order_relaxed)));
  return 1;
}

/* ---- installation ---- */

typedef struct kjs_fn_def {
  const char *name;
  duk_c_function fn;
  duk_idx_t nargs;
  bool game_only; /* sends commands or needs ticks: not in one-off heaps */
} kjs_fn_def;

static const kjs_fn_def kjs_entity_fns[] = {{"create", kjs_entity_create, 2, true},
                                            {"update", kjs_entity_update, 2, true},
                                            {"destroy", kjs_entity_destroy, 1, true},
                                            {"get", kjs_entity_get, 1, false},
                                            {"count", kjs_entity_count, 0, false},
                                            {NULL, NULL, 0, false}};
static const kjs_fn_def kjs_camera_fns[] = {{"create", kjs_camera_create, 2, true},
                                            {"update", kjs_camera_update, 2, true},
                                            {"set_active", kjs_camera_set_active, 1, true},
                                            {"destroy", kjs_camera_destroy, 1, true},
                                            {NULL, NULL, 0, false}};
static const kjs_fn_def kjs_light_fns[] = {{"create", kjs_light_create, 2, true},
                                           {"update", kjs_light_update, 2, true},
                                           {"destroy", kjs_light_destroy, 1, true},
                                           {NULL, NULL, 0, false}};
static const kjs_fn_def kjs_cvar_fns[] = {{"get", kjs_cvar_get, 1, false},
                                          {"set", kjs_cvar_set, 2, false},
                                          {"on_change", kjs_cvar_on_change, 2, true},
                                          {NULL, NULL, 0, false}};
static const kjs_fn_def kjs_log_fns[] = {{"info", kjs_log_info, DUK_VARARGS, false},
                                         {"warn", kjs_log_warn, DUK_VARARGS, false},
                                         {"error", kjs_log_error, DUK_VARARGS, false},
                                         {NULL, NULL, 0, false}};
static const kjs_fn_def kjs_engine_fns[] = {{"frame", kjs_engine_frame, 0, false},
                                            {"time", kjs_engine_time, 0, false},
                                            {"dt", kjs_engine_dt, 0, false},
                                            {NULL, NULL, 0, false}};

static void kjs_install_object(duk_context *ctx, const char *object, const kjs_fn_def *defs, bool pool) {
  bool any = false;
  for (const kjs_fn_def *d = defs; d->name; d++) any |= !(pool && d->game_only);
  if (!any) return; /* camera and light do not exist in one-off heaps */
  duk_push_object(ctx);
  for (const kjs_fn_def *d = defs; d->name; d++) {
    if (pool && d->game_only) continue;
    duk_push_c_function(ctx, d->fn, d->nargs);
    /* A name, so stack traces read "at entity.create (native)". */
    duk_push_string(ctx, "name");
    duk_push_sprintf(ctx, "%s.%s", object, d->name);
    duk_def_prop(ctx, -3, DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_FORCE);
    duk_put_prop_string(ctx, -2, d->name);
  }
  duk_put_global_string(ctx, object);
}

void kjs_api_install(duk_context *ctx, bool pool) {
  kjs_install_object(ctx, "entity", kjs_entity_fns, pool);
  kjs_install_object(ctx, "camera", kjs_camera_fns, pool);
  kjs_install_object(ctx, "light", kjs_light_fns, pool);
  kjs_install_object(ctx, "cvar", kjs_cvar_fns, pool);
  kjs_install_object(ctx, "log", kjs_log_fns, pool);
  kjs_install_object(ctx, "engine", kjs_engine_fns, pool);
  if (pool) return;
  /* The id -> function map the core never sees, out of the script's reach. */
  kjs_vm *vm = kjs_vm_of(ctx);
  /* Bare objects (no prototype): reading or writing a slot never looks at
   * Array.prototype or Object.prototype, where a script's getter or setter
   * would get the map as `this`. */
  duk_push_heap_stash(ctx);
  duk_push_bare_object(ctx);
  vm->cb_array = duk_get_heapptr(ctx, -1);
  duk_put_prop_string(ctx, -2, "keel_callbacks");
  duk_push_bare_object(ctx);
  vm->oc_object = duk_get_heapptr(ctx, -1);
  duk_put_prop_string(ctx, -2, "keel_on_change");
  duk_pop(ctx);
}

/* ---- event delivery ---- */

void kjs_api_deliver(kjs_vm *vm, const keel_script_event *ev) {
  duk_context *ctx = vm->ctx;
  if (ev->type == KEEL_EVENT_COMPLETED) {
    uint32_t slot = kjs_cb_find(vm, ev->callback_id);
    if (slot == UINT32_MAX) return; /* not ours, or already delivered */
    duk_push_heapptr(ctx, vm->cb_array);
    duk_get_prop_index(ctx, -1, slot);
    duk_remove(ctx, -2);
    kjs_cb_release(ctx, vm, slot);
    duk_push_number(ctx, (double)ev->id);
    if (ev->result == KEEL_OK) {
      duk_push_null(ctx);
    } else {
      char msg[KEEL_MESSAGE_MAX + 1];
      memcpy(msg, ev->message, KEEL_MESSAGE_MAX);
      msg[KEEL_MESSAGE_MAX] = '\0';
      duk_push_string(ctx, msg[0] ? msg : keel_result_name(ev->result));
    }
    kjs_call(vm, 2, "on_created callback");
  } else if (ev->type == KEEL_EVENT_CVAR_CHANGED) {
    /* The name is interned once and serves as key and as argument. */
    duk_push_heapptr(ctx, vm->oc_object);
    duk_push_lstring(ctx, ev->name, strnlen(ev->name, KEEL_NAME_MAX - 1));
    duk_dup_top(ctx);
    if (!duk_get_prop(ctx, -3)) {
      duk_pop_3(ctx);
      return;
    }
    /* [oc name handlers]; handlers registered by a handler wait for the next change. */
    duk_size_t n = kjs_list_count(ctx, -1);
    const char *name = duk_get_string(ctx, -2); /* stays valid: the string stays on the stack */
    for (duk_size_t i = 0; i < n && vm->stop == KJS_STOP_NONE; i++) {
      duk_get_prop_index(ctx, -1, (duk_uarridx_t)i);
      kjs_push_cvar(ctx, &ev->value);
      duk_dup(ctx, -4);
      kjs_call_named(vm, 2, "cvar.on_change handler", name);
    }
    duk_pop_3(ctx);
  }
}

void kjs_api_drop(kjs_vm *vm, const keel_script_event *ev) {
  if (ev->type != KEEL_EVENT_COMPLETED) return;
  uint32_t slot = kjs_cb_find(vm, ev->callback_id);
  if (slot != UINT32_MAX) kjs_cb_release(vm->ctx, vm, slot);
}
