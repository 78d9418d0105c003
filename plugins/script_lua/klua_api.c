/* The script API as Lua sees it (entity, camera, light, cvar, log, engine)
 * and the delivery of a tick's events to callbacks and cvar handlers. Names,
 * argument shapes and error texts follow docs/scripting.md §3-4 exactly: the
 * JavaScript plugin raises the same messages, so keep both in step. */
#include "klua.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *klua_typename(lua_State *L, int idx) {
  int t = lua_type(L, idx);
  return t == LUA_TNONE ? "nil" : lua_typename(L, t);
}

/* ---- object kinds ---------------------------------------------------- */

typedef struct klua_kind {
  const char *noun;
  keel_object_kind kind;
  uint32_t allowed; /* KEEL_FIELD_* a desc/fields table may carry */
  const char *create_fn, *update_fn, *destroy_fn;
} klua_kind;

static const klua_kind klua_entity = {"entity", KEEL_OBJECT_ENTITY,
                                      KEEL_FIELD_MESH | KEEL_FIELD_POSITION | KEEL_FIELD_ROTATION |
                                          KEEL_FIELD_SCALE | KEEL_FIELD_COLOR | KEEL_FIELD_LAYER,
                                      "entity.create", "entity.update", "entity.destroy"};
static const klua_kind klua_camera = {"camera", KEEL_OBJECT_CAMERA,
                                      KEEL_FIELD_POSITION | KEEL_FIELD_TARGET | KEEL_FIELD_FOV, "camera.create",
                                      "camera.update", "camera.destroy"};
static const klua_kind klua_light = {"light", KEEL_OBJECT_LIGHT,
                                     KEEL_FIELD_LIGHT_KIND | KEEL_FIELD_POSITION | KEEL_FIELD_COLOR |
                                         KEEL_FIELD_INTENSITY | KEEL_FIELD_RANGE,
                                     "light.create", "light.update", "light.destroy"};

static const struct {
  const char *name;
  uint32_t bit;
} klua_field_names[] = {
    {"mesh", KEEL_FIELD_MESH},     {"position", KEEL_FIELD_POSITION}, {"rotation", KEEL_FIELD_ROTATION},
    {"scale", KEEL_FIELD_SCALE},   {"color", KEEL_FIELD_COLOR},       {"target", KEEL_FIELD_TARGET},
    {"fov", KEEL_FIELD_FOV},       {"intensity", KEEL_FIELD_INTENSITY}, {"range", KEEL_FIELD_RANGE},
    {"kind", KEEL_FIELD_LIGHT_KIND}, {"layer", KEEL_FIELD_LAYER},
};

static void klua_defaults(const klua_kind *k, keel_object_fields *f) {
  memset(f, 0, sizeof *f);
  f->mask = k->allowed;
  memcpy(f->mesh, "cube", 5);
  f->rotation.w = 1.0f;
  f->scale = (keel_vec3){1.0f, 1.0f, 1.0f};
  f->color = (keel_color){1.0f, 1.0f, 1.0f, 1.0f};
  f->target = (keel_vec3){0.0f, 0.0f, -1.0f};
  f->fov_degrees = 60.0f;
  f->intensity = 1.0f;
  f->range = 10.0f;
  f->light_kind = KEEL_LIGHT_POINT;
}

/* A number a command carries as a float: finite (NaN and infinity would
 * reach float-to-integer conversions in the renderers) and within float
 * range. `comp` is the component ("y" of "position.y") or NULL. */
static float klua_to_float(lua_State *L, double d, const char *fn, const char *field, const char *comp) {
  char name[96];
  snprintf(name, sizeof name, "%s%s%s", field, comp ? "." : "", comp ? comp : "");
  if (isnan(d)) luaL_error(L, "%s: field '%s' must be a finite number, got nan", fn, name);
  if (isinf(d)) luaL_error(L, "%s: field '%s' must be a finite number, got %s", fn, name, d > 0 ? "inf" : "-inf");
  if (d > FLT_MAX || d < -FLT_MAX) {
    char num[40];
    snprintf(num, sizeof num, "%.14g", d);
    luaL_error(L, "%s: field '%s' is out of range (beyond +-3.4e38), got %s", fn, name, num);
  }
  return (float)d;
}

/* Reads the number components `names` of the table at `idx` into out. */
static void klua_get_components(lua_State *L, int idx, const char *fn, const char *field, const char *shape,
                                const char *const *names, int count, int optional_last, float *out) {
  if (lua_type(L, idx) != LUA_TTABLE)
    luaL_error(L, "%s: field '%s' must be a table %s, got %s", fn, field, shape, klua_typename(L, idx));
  for (int i = 0; i < count; i++) {
    int t = lua_getfield(L, idx, names[i]);
    if (t == LUA_TNUMBER) {
      out[i] = klua_to_float(L, lua_tonumber(L, -1), fn, field, names[i]);
    } else if (t == LUA_TNIL && optional_last && i == count - 1) {
      out[i] = 1.0f;
    } else {
      luaL_error(L, "%s: field '%s.%s' must be a number, got %s", fn, field, names[i], klua_typename(L, -1));
    }
    lua_pop(L, 1);
  }
}

static const char *const klua_xyz[] = {"x", "y", "z"};
static const char *const klua_xyzw[] = {"x", "y", "z", "w"};
static const char *const klua_rgba[] = {"r", "g", "b", "a"};

static void klua_get_vec3(lua_State *L, int idx, const char *fn, const char *field, keel_vec3 *v) {
  float c[3];
  klua_get_components(L, idx, fn, field, "{x, y, z}", klua_xyz, 3, 0, c);
  *v = (keel_vec3){c[0], c[1], c[2]};
}

static float klua_get_number(lua_State *L, int idx, const char *fn, const char *field) {
  if (lua_type(L, idx) != LUA_TNUMBER)
    luaL_error(L, "%s: field '%s' must be a number, got %s", fn, field, klua_typename(L, idx));
  return klua_to_float(L, lua_tonumber(L, idx), fn, field, NULL);
}

/* Walks the desc/fields table once: every key must be a field of this kind. */
static void klua_parse_fields(lua_State *L, int t, const klua_kind *k, const char *fn, keel_object_fields *f,
                              uint32_t *given) {
  *given = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    int v = lua_gettop(L);
    uint32_t bit = 0;
    const char *key = NULL;
    if (lua_type(L, -2) == LUA_TSTRING) {
      size_t klen = 0;
      key = lua_tolstring(L, -2, &klen);
      /* "mesh\0x" is not "mesh": a key is compared whole */
      if (strlen(key) != klen)
        luaL_error(L, "%s: unknown field '%s' (the name contains a NUL byte)", fn, key);
      for (size_t i = 0; i < sizeof klua_field_names / sizeof klua_field_names[0]; i++)
        if (strcmp(key, klua_field_names[i].name) == 0) bit = klua_field_names[i].bit;
    }
    if (!(bit & k->allowed)) {
      luaL_tolstring(L, -2, NULL);
      luaL_error(L, "%s: unknown field '%s'", fn, lua_tostring(L, -1));
    }
    switch (bit) {
      case KEEL_FIELD_MESH: {
        if (lua_type(L, v) != LUA_TSTRING)
          luaL_error(L, "%s: field 'mesh' must be a string, got %s", fn, klua_typename(L, v));
        size_t len;
        const char *mesh = lua_tolstring(L, v, &len);
        if (len >= KEEL_NAME_MAX) luaL_error(L, "%s: field 'mesh' is longer than %d bytes", fn, KEEL_NAME_MAX - 1);
        if (strlen(mesh) != len) luaL_error(L, "%s: field 'mesh' contains a NUL byte", fn);
        memset(f->mesh, 0, sizeof f->mesh);
        memcpy(f->mesh, mesh, len);
        break;
      }
      case KEEL_FIELD_POSITION: klua_get_vec3(L, v, fn, key, &f->position); break;
      case KEEL_FIELD_TARGET: klua_get_vec3(L, v, fn, key, &f->target); break;
      case KEEL_FIELD_SCALE: klua_get_vec3(L, v, fn, key, &f->scale); break;
      case KEEL_FIELD_ROTATION: {
        float c[4];
        klua_get_components(L, v, fn, key, "{x, y, z, w}", klua_xyzw, 4, 0, c);
        f->rotation = (keel_quat){c[0], c[1], c[2], c[3]};
        break;
      }
      case KEEL_FIELD_COLOR: {
        float c[4];
        klua_get_components(L, v, fn, key, "{r, g, b [, a]}", klua_rgba, 4, 1, c);
        f->color = (keel_color){c[0], c[1], c[2], c[3]};
        break;
      }
      case KEEL_FIELD_FOV: f->fov_degrees = klua_get_number(L, v, fn, key); break;
      case KEEL_FIELD_INTENSITY: f->intensity = klua_get_number(L, v, fn, key); break;
      case KEEL_FIELD_RANGE: f->range = klua_get_number(L, v, fn, key); break;
      case KEEL_FIELD_LIGHT_KIND: {
        const char *s = lua_type(L, v) == LUA_TSTRING ? lua_tostring(L, v) : NULL;
        if (s && strcmp(s, "point") == 0)
          f->light_kind = KEEL_LIGHT_POINT;
        else if (s && strcmp(s, "directional") == 0)
          f->light_kind = KEEL_LIGHT_DIRECTIONAL;
        else if (s)
          luaL_error(L, "%s: field 'kind' must be \"point\" or \"directional\", got \"%s\"", fn, s);
        else
          luaL_error(L, "%s: field 'kind' must be \"point\" or \"directional\", got %s", fn, klua_typename(L, v));
        break;
      }
      case KEEL_FIELD_LAYER: {
        const char *s = lua_type(L, v) == LUA_TSTRING ? lua_tostring(L, v) : NULL;
        if (s && strcmp(s, "world") == 0)
          f->layer = KEEL_LAYER_WORLD;
        else if (s && strcmp(s, "screen") == 0)
          f->layer = KEEL_LAYER_SCREEN;
        else if (s)
          luaL_error(L, "%s: field 'layer' must be \"world\" or \"screen\", got \"%s\"", fn, s);
        else
          luaL_error(L, "%s: field 'layer' must be \"world\" or \"screen\", got %s", fn, klua_typename(L, v));
        break;
      }
      default: break;
    }
    *given |= bit;
    lua_settop(L, v - 1);
  }
}

/* ids are positive integers below 2^53; a float with an integral value is
 * accepted (JS has no integers). Returns false for a number that cannot be
 * an id; raises for a non-number. */
static bool klua_get_id(lua_State *L, int idx, const char *fn, keel_id *out) {
  if (lua_type(L, idx) != LUA_TNUMBER)
    luaL_error(L, "%s: argument 'id' must be an integer id, got %s", fn, klua_typename(L, idx));
  int isint = 0;
  lua_Integer v = lua_tointegerx(L, idx, &isint);
  if (!isint || v <= 0 || v >= ((lua_Integer)1 << 53)) return false;
  *out = (keel_id)v;
  return true;
}

static int klua_not_live(lua_State *L, int idx, const char *fn, const klua_kind *k) {
  if (lua_isinteger(L, idx)) return luaL_error(L, "%s: id %I is not a live %s", fn, lua_tointeger(L, idx), k->noun);
  return luaL_error(L, "%s: id %f is not a live %s", fn, lua_tonumber(L, idx), k->noun);
}

static int klua_push_failed(lua_State *L, const char *fn, const klua_kind *k, keel_result r, int id_idx,
                            keel_id id) {
  switch (r) {
    case KEEL_ERR_FULL: return luaL_error(L, "%s: command queue full", fn);
    case KEEL_ERR_STALE_ID:
      if (id_idx) return klua_not_live(L, id_idx, fn, k);
      return luaL_error(L, "%s: id %I is not a live %s", fn, (lua_Integer)id, k->noun);
    default: return luaL_error(L, "%s: command refused (%s)", fn, keel_result_name(r));
  }
}

/* create(desc [, on_created]) -> id; upvalue 1 = the callback table */
static int klua_obj_create(lua_State *L, const klua_kind *k) {
  klua_script *s = klua_vm_of(L)->script;
  const char *fn = k->create_fn;
  if (lua_type(L, 1) != LUA_TTABLE)
    return luaL_error(L, "%s: argument 'desc' must be a table, got %s", fn, klua_typename(L, 1));
  int cbt = lua_type(L, 2);
  if (cbt != LUA_TNONE && cbt != LUA_TNIL && cbt != LUA_TFUNCTION)
    return luaL_error(L, "%s: argument 'on_created' must be a function, got %s", fn, klua_typename(L, 2));
  keel_command c;
  memset(&c, 0, sizeof c);
  c.type = KEEL_CMD_CREATE;
  c.kind = k->kind;
  klua_defaults(k, &c.fields);
  uint32_t given;
  klua_parse_fields(L, 1, k, fn, &c.fields, &given);
  c.id = s->world->id_reserve(s->world->ctx, k->kind);
  if (c.id == KEEL_ID_INVALID) return luaL_error(L, "%s: no free %s id", fn, k->noun);
  int ref = LUA_NOREF;
  if (cbt == LUA_TFUNCTION) {
    lua_pushvalue(L, 2);
    ref = luaL_ref(L, lua_upvalueindex(1));
    c.callback_id = (uint32_t)ref;
    s->cb_pending++;
  }
  keel_result r = s->world->command_push(s->world->ctx, &c);
  if (r != KEEL_OK) {
    if (ref != LUA_NOREF) {
      luaL_unref(L, lua_upvalueindex(1), ref);
      s->cb_pending--;
      /* The host refuses a create with a callback when KEEL_SCRIPT_CALLBACKS_MAX
       * completions are pending (keel/script.h): said in the script's words. */
      if (r == KEEL_ERR_FULL && s->cb_pending >= KEEL_SCRIPT_CALLBACKS_MAX)
        return luaL_error(L, "%s: too many pending callbacks (%d wait for their completion)", fn,
                          (int)KEEL_SCRIPT_CALLBACKS_MAX);
    }
    return klua_push_failed(L, fn, k, r, 0, c.id);
  }
  lua_pushinteger(L, (lua_Integer)c.id);
  return 1;
}

static int klua_obj_command(lua_State *L, const klua_kind *k, keel_command_type type, const char *fn) {
  klua_script *s = klua_vm_of(L)->script;
  keel_command c;
  memset(&c, 0, sizeof c);
  c.type = type;
  c.kind = k->kind;
  if (!klua_get_id(L, 1, fn, &c.id)) return klua_not_live(L, 1, fn, k);
  if (type == KEEL_CMD_UPDATE) {
    if (lua_type(L, 2) != LUA_TTABLE)
      return luaL_error(L, "%s: argument 'fields' must be a table, got %s", fn, klua_typename(L, 2));
    klua_parse_fields(L, 2, k, fn, &c.fields, &c.fields.mask);
  }
  keel_result r = s->world->command_push(s->world->ctx, &c);
  if (r != KEEL_OK) return klua_push_failed(L, fn, k, r, 1, c.id);
  return 0;
}

static int klua_entity_create(lua_State *L) { return klua_obj_create(L, &klua_entity); }
static int klua_entity_update(lua_State *L) {
  return klua_obj_command(L, &klua_entity, KEEL_CMD_UPDATE, "entity.update");
}
static int klua_entity_destroy(lua_State *L) {
  return klua_obj_command(L, &klua_entity, KEEL_CMD_DESTROY, "entity.destroy");
}
static int klua_camera_create(lua_State *L) { return klua_obj_create(L, &klua_camera); }
static int klua_camera_update(lua_State *L) {
  return klua_obj_command(L, &klua_camera, KEEL_CMD_UPDATE, "camera.update");
}
static int klua_camera_set_active(lua_State *L) {
  return klua_obj_command(L, &klua_camera, KEEL_CMD_SET_ACTIVE, "camera.set_active");
}
static int klua_camera_destroy(lua_State *L) {
  return klua_obj_command(L, &klua_camera, KEEL_CMD_DESTROY, "camera.destroy");
}
static int klua_light_create(lua_State *L) { return klua_obj_create(L, &klua_light); }
static int klua_light_update(lua_State *L) {
  return klua_obj_command(L, &klua_light, KEEL_CMD_UPDATE, "light.update");
}
static int klua_light_destroy(lua_State *L) {
  return klua_obj_command(L, &klua_light, KEEL_CMD_DESTROY, "light.destroy");
}

static void klua_push_vec(lua_State *L, const char *const *names, const float *c, int n) {
  lua_createtable(L, 0, n);
  for (int i = 0; i < n; i++) {
    lua_pushnumber(L, c[i]);
    lua_setfield(L, -2, names[i]);
  }
}

static int klua_entity_get(lua_State *L) {
  klua_script *s = klua_vm_of(L)->script;
  keel_id id;
  keel_object_snapshot snap;
  if (!klua_get_id(L, 1, "entity.get", &id) || s->world->object_get(s->world->ctx, id, &snap) != KEEL_OK ||
      snap.kind != KEEL_OBJECT_ENTITY) {
    lua_pushnil(L);
    return 1;
  }
  const keel_object_fields *f = &snap.fields;
  lua_createtable(L, 0, 7);
  lua_pushinteger(L, (lua_Integer)snap.id);
  lua_setfield(L, -2, "id");
  lua_pushlstring(L, f->mesh, strnlen(f->mesh, sizeof f->mesh));
  lua_setfield(L, -2, "mesh");
  klua_push_vec(L, klua_xyz, &f->position.x, 3);
  lua_setfield(L, -2, "position");
  klua_push_vec(L, klua_xyzw, &f->rotation.x, 4);
  lua_setfield(L, -2, "rotation");
  klua_push_vec(L, klua_xyz, &f->scale.x, 3);
  lua_setfield(L, -2, "scale");
  klua_push_vec(L, klua_rgba, &f->color.r, 4);
  lua_setfield(L, -2, "color");
  lua_pushstring(L, f->layer == KEEL_LAYER_SCREEN ? "screen" : "world");
  lua_setfield(L, -2, "layer");
  return 1;
}

static int klua_entity_count(lua_State *L) {
  klua_script *s = klua_vm_of(L)->script;
  lua_pushinteger(L, (lua_Integer)s->world->object_count(s->world->ctx, KEEL_OBJECT_ENTITY));
  return 1;
}

/* ---- cvar ----------------------------------------------------------- */

/* A cvar name: a string without NUL bytes (the engine would read it cut
 * at the first one, and set another cvar than the script named). */
static const char *klua_check_name(lua_State *L, const char *fn) {
  if (lua_type(L, 1) != LUA_TSTRING)
    luaL_error(L, "%s: argument 'name' must be a string, got %s", fn, klua_typename(L, 1));
  size_t len = 0;
  const char *name = lua_tolstring(L, 1, &len);
  if (strlen(name) != len) luaL_error(L, "%s: argument 'name' contains a NUL byte", fn);
  return name;
}

static void klua_push_cvar(lua_State *L, const keel_cvar_value *v) {
  switch (v->type) {
    case KEEL_CVAR_BOOL: lua_pushboolean(L, v->b); break;
    case KEEL_CVAR_INT: lua_pushinteger(L, (lua_Integer)v->i); break;
    case KEEL_CVAR_FLOAT: lua_pushnumber(L, v->f); break;
    default: lua_pushlstring(L, v->text, strnlen(v->text, sizeof v->text)); break;
  }
}

static int klua_cvar_get(lua_State *L) {
  klua_script *s = klua_vm_of(L)->script;
  const char *name = klua_check_name(L, "cvar.get");
  keel_cvar_value v;
  memset(&v, 0, sizeof v);
  keel_result r = s->host->cvar_get ? s->host->cvar_get(s->host, name, &v) : KEEL_ERR_UNSUPPORTED;
  if (r == KEEL_ERR_NOT_FOUND) return luaL_error(L, "cvar.get: unknown cvar '%s'", name);
  if (r != KEEL_OK) return luaL_error(L, "cvar.get: cannot read cvar '%s' (%s)", name, keel_result_name(r));
  klua_push_cvar(L, &v);
  return 1;
}

/* Numbers in the shortest text that reads back exactly, as JS's String()
 * writes them for ordinary values. */
static void klua_format_number(lua_State *L, int idx, char *out, size_t cap) {
  if (lua_isinteger(L, idx)) {
    snprintf(out, cap, "%lld", (long long)lua_tointeger(L, idx));
    return;
  }
  double d = lua_tonumber(L, idx);
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(out, cap, "%.*g", prec, d);
    if (strtod(out, NULL) == d) return;
  }
}

static int klua_cvar_set(lua_State *L) {
  klua_script *s = klua_vm_of(L)->script;
  const char *name = klua_check_name(L, "cvar.set");
  char num[64];
  const char *text;
  switch (lua_type(L, 2)) {
    case LUA_TBOOLEAN: text = lua_toboolean(L, 2) ? "true" : "false"; break;
    case LUA_TNUMBER:
      klua_format_number(L, 2, num, sizeof num);
      text = num;
      break;
    case LUA_TSTRING: {
      size_t len = 0;
      text = lua_tolstring(L, 2, &len);
      if (strlen(text) != len) return luaL_error(L, "cvar.set: argument 'value' contains a NUL byte");
      break;
    }
    default:
      return luaL_error(L, "cvar.set: argument 'value' must be a boolean, number or string, got %s",
                        klua_typename(L, 2));
  }
  keel_message msg;
  msg.text[0] = '\0';
  keel_result r = s->host->cvar_set ? s->host->cvar_set(s->host, name, text, &msg) : KEEL_ERR_UNSUPPORTED;
  if (r != KEEL_OK) {
    if (msg.text[0]) return luaL_error(L, "cvar.set: %s", msg.text);
    return luaL_error(L, "cvar.set: cvar '%s' refused '%s' (%s)", name, text, keel_result_name(r));
  }
  return 0;
}

/* cvar.on_change(name, fn); upvalues: 1 = handler lists, 2 = their names */
static int klua_cvar_on_change(lua_State *L) {
  klua_script *s = klua_vm_of(L)->script;
  const char *name = klua_check_name(L, "cvar.on_change");
  if (lua_type(L, 2) != LUA_TFUNCTION)
    return luaL_error(L, "cvar.on_change: argument 'fn' must be a function, got %s", klua_typename(L, 2));
  keel_cvar_value v;
  if (!s->host->cvar_get || s->host->cvar_get(s->host, name, &v) != KEEL_OK)
    return luaL_error(L, "cvar.on_change: unknown cvar '%s'", name);
  char key[KEEL_NAME_MAX];
  snprintf(key, sizeof key, "%s", name); /* events carry names cut to this size */
  uint32_t slot = 0;
  for (uint32_t i = 0; i < s->cv_count && !slot; i++)
    if (strcmp(s->cv[i].name, key) == 0) slot = i + 1;
  if (!slot) {
    if (s->cv_count == s->cv_cap) {
      uint32_t ncap = s->cv_cap ? s->cv_cap * 2 : 8;
      klua_cv_handler *n = realloc(s->cv, ncap * sizeof *n);
      if (!n) return luaL_error(L, "cvar.on_change: out of memory");
      s->cv = n;
      s->cv_cap = ncap;
    }
    /* the Lua side first: if it fails, the C list is untouched */
    lua_newtable(L);
    lua_rawseti(L, lua_upvalueindex(1), (lua_Integer)s->cv_count + 1);
    lua_pushstring(L, key);
    lua_rawseti(L, lua_upvalueindex(2), (lua_Integer)s->cv_count + 1);
    memcpy(s->cv[s->cv_count].name, key, sizeof key);
    slot = ++s->cv_count;
  }
  lua_rawgeti(L, lua_upvalueindex(1), slot);
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  return 0;
}

/* ---- log, engine ------------------------------------------------------ */

static int klua_log_at(lua_State *L, keel_log_level level) {
  const keel_host *h = klua_vm_of(L)->script->host;
  if (h->log_enabled && !h->log_enabled(h, level)) return 0;
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    if (i > 1) luaL_addchar(&b, ' ');
    luaL_tolstring(L, i, NULL);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  h->log(h, level, "%s", lua_tostring(L, -1));
  return 0;
}
static int klua_log_info(lua_State *L) { return klua_log_at(L, KEEL_LOG_INFO); }
static int klua_log_warn(lua_State *L) { return klua_log_at(L, KEEL_LOG_WARN); }
static int klua_log_error(lua_State *L) { return klua_log_at(L, KEEL_LOG_ERROR); }

static double klua_bits_double(uint64_t bits) {
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}
static int klua_engine_frame(lua_State *L) {
  klua_script *s = klua_vm_of(L)->script;
  lua_pushinteger(L, (lua_Integer)atomic_load_explicit(&s->tick_frame, memory_order_relaxed));
  return 1;
}
static int klua_engine_time(lua_State *L) {
  klua_script *s = klua_vm_of(L)->script;
  lua_pushnumber(L, klua_bits_double(atomic_load_explicit(&s->tick_time_bits, memory_order_relaxed)));
  return 1;
}
static int klua_engine_dt(lua_State *L) {
  klua_script *s = klua_vm_of(L)->script;
  lua_pushnumber(L, klua_bits_double(atomic_load_explicit(&s->tick_dt_bits, memory_order_relaxed)));
  return 1;
}

/* ---- events ----------------------------------------------------------- */

/* Delivers s->events from s->ev_pos on. The position moves past a handler
 * before the handler runs, so after an error the caller re-enters here and
 * the next handler runs: one protected call per batch, not per event.
 * Arguments: 1 = callback table, 2 = cvar handler lists, 3 = their names. */
int klua_dispatch_body(lua_State *L) {
  klua_script *s = klua_vm_of(L)->script;
  const keel_script_event *ev = s->events;
  uint32_t n = s->event_count;
  while (s->ev_pos < n) {
    const keel_script_event *e = &ev[s->ev_pos];
    if (e->type == KEEL_EVENT_COMPLETED) {
      s->ev_pos++;
      if (e->callback_id == 0 || e->callback_id > INT32_MAX) continue;
      int ref = (int)e->callback_id;
      if (lua_rawgeti(L, 1, ref) != LUA_TFUNCTION) {
        lua_pop(L, 1);
        continue;
      }
      luaL_unref(L, 1, ref);
      s->cb_pending--;
      lua_pushinteger(L, (lua_Integer)e->id);
      if (e->result == KEEL_OK)
        lua_pushnil(L);
      else if (e->message[0])
        lua_pushlstring(L, e->message, strnlen(e->message, sizeof e->message));
      else
        lua_pushstring(L, keel_result_name(e->result));
      s->calls++;
      s->ctx = "on_created callback";
      lua_call(L, 2, 0);
    } else if (e->type == KEEL_EVENT_CVAR_CHANGED) {
      uint32_t slot = 0;
      for (uint32_t i = 0; i < s->cv_count; i++)
        if (strncmp(s->cv[i].name, e->name, KEEL_NAME_MAX) == 0) {
          slot = i + 1;
          break;
        }
      if (!slot) {
        s->ev_pos++;
        continue;
      }
      lua_rawgeti(L, 2, slot);
      int list = lua_gettop(L);
      lua_Integer count = (lua_Integer)lua_rawlen(L, list);
      s->ctx = "cvar.on_change handler";
      memcpy(s->ctx_name_buf, s->cv[slot - 1].name, sizeof s->ctx_name_buf); /* s->cv may move */
      s->ctx_name = s->ctx_name_buf;
      while (s->ev_sub < count) {
        lua_rawgeti(L, list, ++s->ev_sub);
        klua_push_cvar(L, &e->value);
        lua_rawgeti(L, 3, slot);
        s->calls++;
        lua_call(L, 2, 0);
      }
      lua_settop(L, list - 1);
      s->ev_pos++;
      s->ev_sub = 0;
    } else {
      s->ev_pos++;
    }
  }
  return 0;
}

/* ---- registration ------------------------------------------------------ */

static void klua_set_fn(lua_State *L, const char *name, lua_CFunction fn, int nup) {
  lua_pushcclosure(L, fn, nup);
  lua_setfield(L, -2, name);
}

/* Game VM: everything; leaves its callback table and cvar handler tables
 * on the stack. Pool VM: what is safe away from the script worker. */
void klua_api_open(lua_State *L, klua_vm *vm) {
  if (!vm->is_pool) {
    lua_newtable(L); /* callbacks by id */
    lua_newtable(L); /* cvar handler lists */
    lua_newtable(L); /* cvar names */
  }
  int base = lua_gettop(L);
  int cbs = base - 2;

  lua_newtable(L);
  if (!vm->is_pool) {
    lua_pushvalue(L, cbs);
    klua_set_fn(L, "create", klua_entity_create, 1);
    klua_set_fn(L, "update", klua_entity_update, 0);
    klua_set_fn(L, "destroy", klua_entity_destroy, 0);
  }
  klua_set_fn(L, "get", klua_entity_get, 0);
  klua_set_fn(L, "count", klua_entity_count, 0);
  lua_setglobal(L, "entity");

  if (!vm->is_pool) {
    lua_newtable(L);
    lua_pushvalue(L, cbs);
    klua_set_fn(L, "create", klua_camera_create, 1);
    klua_set_fn(L, "update", klua_camera_update, 0);
    klua_set_fn(L, "set_active", klua_camera_set_active, 0);
    klua_set_fn(L, "destroy", klua_camera_destroy, 0);
    lua_setglobal(L, "camera");

    lua_newtable(L);
    lua_pushvalue(L, cbs);
    klua_set_fn(L, "create", klua_light_create, 1);
    klua_set_fn(L, "update", klua_light_update, 0);
    klua_set_fn(L, "destroy", klua_light_destroy, 0);
    lua_setglobal(L, "light");
  }

  lua_newtable(L);
  klua_set_fn(L, "get", klua_cvar_get, 0);
  klua_set_fn(L, "set", klua_cvar_set, 0);
  if (!vm->is_pool) {
    lua_pushvalue(L, cbs + 1);
    lua_pushvalue(L, cbs + 2);
    klua_set_fn(L, "on_change", klua_cvar_on_change, 2);
  }
  lua_setglobal(L, "cvar");

  lua_newtable(L);
  klua_set_fn(L, "info", klua_log_info, 0);
  klua_set_fn(L, "warn", klua_log_warn, 0);
  klua_set_fn(L, "error", klua_log_error, 0);
  lua_setglobal(L, "log");
  lua_pushcfunction(L, klua_log_info);
  lua_setglobal(L, "print");

  lua_newtable(L);
  klua_set_fn(L, "frame", klua_engine_frame, 0);
  klua_set_fn(L, "time", klua_engine_time, 0);
  klua_set_fn(L, "dt", klua_engine_dt, 0);
  lua_setglobal(L, "engine");
  lua_settop(L, base);
}
