/* The player's input as Lua sees it: the `input` table (keys, mouse, wheel)
 * and engine.screen(), reading the state the core handed the current tick.
 * Names and error texts follow docs/scripting.md ("input"); the JavaScript
 * plugin's kjs_input.c raises the same messages, so keep both in step. */
#include "klua.h"

#include <stdio.h>
#include <string.h>

static const char *klua_input_typename(lua_State *L, int idx) {
  int t = lua_type(L, idx);
  return t == LUA_TNONE ? "nil" : lua_typename(L, t);
}

/* "a, b, ..., grave": every valid key (or button) name, for the error. */
static void klua_input_names(char *out, size_t cap, bool keys) {
  size_t used = 0;
  out[0] = '\0';
  int n = keys ? KEEL_KEY_COUNT : KEEL_MOUSE_BUTTON_COUNT;
  for (int i = keys ? 1 : 0; i < n && used < cap; i++) {
    const char *name = keys ? keel_key_name((keel_key)i) : keel_mouse_button_name(i);
    used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? ", " : "", name);
  }
}

static keel_key klua_check_key(lua_State *L, const char *fn) {
  if (lua_type(L, 1) != LUA_TSTRING)
    luaL_error(L, "%s: argument 'key' must be a string, got %s", fn, klua_input_typename(L, 1));
  size_t len = 0;
  const char *name = lua_tolstring(L, 1, &len);
  /* "a\0b" must not read as "a" */
  if (strlen(name) != len) luaL_error(L, "%s: argument 'key' contains a NUL byte", fn);
  keel_key k = keel_key_from_name(name);
  if (k == KEEL_KEY_NONE) {
    char valid[1024];
    klua_input_names(valid, sizeof valid, true);
    luaL_error(L, "%s: unknown key '%s' (valid keys: %s)", fn, name, valid);
  }
  return k;
}

static int klua_check_button(lua_State *L, const char *fn) {
  if (lua_type(L, 1) != LUA_TSTRING)
    luaL_error(L, "%s: argument 'button' must be a string, got %s", fn, klua_input_typename(L, 1));
  size_t len = 0;
  const char *name = lua_tolstring(L, 1, &len);
  if (strlen(name) != len) luaL_error(L, "%s: argument 'button' contains a NUL byte", fn);
  int b = keel_mouse_button_from_name(name);
  if (b < 0) {
    char valid[128];
    klua_input_names(valid, sizeof valid, false);
    luaL_error(L, "%s: unknown button '%s' (valid buttons: %s)", fn, name, valid);
  }
  return b;
}

static const keel_input_state *klua_input_of(lua_State *L) { return &klua_vm_of(L)->script->input; }

static int klua_key_in(lua_State *L, const char *fn, size_t set_offset) {
  keel_key k = klua_check_key(L, fn);
  const uint64_t *set = (const uint64_t *)((const char *)klua_input_of(L) + set_offset);
  lua_pushboolean(L, keel_input_key_bit(set, k));
  return 1;
}
static int klua_input_down(lua_State *L) {
  return klua_key_in(L, "input.down", offsetof(keel_input_state, keys_down));
}
static int klua_input_pressed(lua_State *L) {
  return klua_key_in(L, "input.pressed", offsetof(keel_input_state, keys_pressed));
}
static int klua_input_released(lua_State *L) {
  return klua_key_in(L, "input.released", offsetof(keel_input_state, keys_released));
}

static int klua_button_in(lua_State *L, const char *fn, uint32_t set) {
  int b = klua_check_button(L, fn);
  lua_pushboolean(L, (set >> b) & 1u);
  return 1;
}
static int klua_input_mouse_down(lua_State *L) {
  return klua_button_in(L, "input.mouse_down", klua_input_of(L)->buttons_down);
}
static int klua_input_mouse_pressed(lua_State *L) {
  return klua_button_in(L, "input.mouse_pressed", klua_input_of(L)->buttons_pressed);
}
static int klua_input_mouse_released(lua_State *L) {
  return klua_button_in(L, "input.mouse_released", klua_input_of(L)->buttons_released);
}

static int klua_push_pair(lua_State *L, const char *a, double va, const char *b, double vb) {
  lua_createtable(L, 0, 2);
  lua_pushnumber(L, va);
  lua_setfield(L, -2, a);
  lua_pushnumber(L, vb);
  lua_setfield(L, -2, b);
  return 1;
}
static int klua_input_mouse(lua_State *L) {
  const keel_input_state *in = klua_input_of(L);
  return klua_push_pair(L, "x", in->mouse_x, "y", in->mouse_y);
}
static int klua_input_wheel(lua_State *L) {
  const keel_input_state *in = klua_input_of(L);
  return klua_push_pair(L, "x", in->wheel_x, "y", in->wheel_y);
}

/* Any VM: one-offs read the size the last tick was given. */
static int klua_engine_screen(lua_State *L) {
  uint64_t wh = atomic_load_explicit(&klua_vm_of(L)->script->screen_size, memory_order_relaxed);
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, (lua_Integer)(wh >> 32));
  lua_setfield(L, -2, "width");
  lua_pushinteger(L, (lua_Integer)(wh & 0xffffffffu));
  lua_setfield(L, -2, "height");
  return 1;
}

void klua_input_open(lua_State *L, klua_vm *vm) {
  if (lua_getglobal(L, "engine") == LUA_TTABLE) {
    lua_pushcfunction(L, klua_engine_screen);
    lua_setfield(L, -2, "screen");
  }
  lua_pop(L, 1);
  if (vm->is_pool) return; /* input belongs to the game's ticks */
  static const luaL_Reg fns[] = {{"down", klua_input_down},
                                 {"pressed", klua_input_pressed},
                                 {"released", klua_input_released},
                                 {"mouse", klua_input_mouse},
                                 {"mouse_down", klua_input_mouse_down},
                                 {"mouse_pressed", klua_input_mouse_pressed},
                                 {"mouse_released", klua_input_mouse_released},
                                 {"wheel", klua_input_wheel},
                                 {NULL, NULL}};
  luaL_newlib(L, fns);
  lua_setglobal(L, "input");
}

void klua_input_tick(klua_script *s, const keel_tick_info *tick) {
  const keel_input_state *in = KEEL_HAS_MEMBER(tick, keel_tick_info, input) ? tick->input : NULL;
  memset(&s->input, 0, sizeof s->input);
  if (in) memcpy(&s->input, in, in->struct_size < sizeof s->input ? in->struct_size : sizeof s->input);
  s->input.struct_size = KEEL_STRUCT_SIZE(keel_input_state);
  uint64_t wh = ((uint64_t)s->input.screen_width << 32) | s->input.screen_height;
  atomic_store_explicit(&s->screen_size, wh, memory_order_relaxed);
}
