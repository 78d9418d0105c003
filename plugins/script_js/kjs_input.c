/* The player's input as JavaScript sees it: the `input` object (keys, mouse,
 * wheel) and engine.screen(), reading the state the core handed the current
 * tick. Names and error texts follow docs/scripting.md ("input"); the Lua
 * plugin's klua_input.c raises the same messages, so keep both in step. */
#include "kjs_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Lua's type names, as every shared error text uses them. */
static const char *kjs_input_typename(duk_context *ctx, duk_idx_t idx) {
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
    default: return "unknown";
  }
}

/* Throws a plain Error blamed on the calling script line. The text is
 * longer than kjs_api.c's errors: it lists every key name. */
static _Noreturn void kjs_input_fail(duk_context *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static _Noreturn void kjs_input_fail(duk_context *ctx, const char *fmt, ...) {
  char text[1280];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  duk_error_raw(ctx, DUK_ERR_ERROR, NULL, 0, "%s", text);
  __builtin_unreachable();
}

/* "a, b, ..., grave": every valid key (or button) name, for the error. */
static void kjs_input_names(char *out, size_t cap, bool keys) {
  size_t used = 0;
  out[0] = '\0';
  int n = keys ? KEEL_KEY_COUNT : KEEL_MOUSE_BUTTON_COUNT;
  for (int i = keys ? 1 : 0; i < n && used < cap; i++) {
    const char *name = keys ? keel_key_name((keel_key)i) : keel_mouse_button_name(i);
    used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? ", " : "", name);
  }
}

static keel_key kjs_check_key(duk_context *ctx, const char *fn) {
  if (!duk_is_string(ctx, 0) || duk_is_symbol(ctx, 0))
    kjs_input_fail(ctx, "%s: argument 'key' must be a string, got %s", fn, kjs_input_typename(ctx, 0));
  duk_size_t len = 0;
  const char *name = duk_get_lstring(ctx, 0, &len);
  /* "a\0b" must not read as "a" */
  if (strlen(name) != len) kjs_input_fail(ctx, "%s: argument 'key' contains a NUL byte", fn);
  keel_key k = keel_key_from_name(name);
  if (k == KEEL_KEY_NONE) {
    char valid[1024];
    kjs_input_names(valid, sizeof valid, true);
    kjs_input_fail(ctx, "%s: unknown key '%s' (valid keys: %s)", fn, name, valid);
  }
  return k;
}

static int kjs_check_button(duk_context *ctx, const char *fn) {
  if (!duk_is_string(ctx, 0) || duk_is_symbol(ctx, 0))
    kjs_input_fail(ctx, "%s: argument 'button' must be a string, got %s", fn, kjs_input_typename(ctx, 0));
  duk_size_t len = 0;
  const char *name = duk_get_lstring(ctx, 0, &len);
  if (strlen(name) != len) kjs_input_fail(ctx, "%s: argument 'button' contains a NUL byte", fn);
  int b = keel_mouse_button_from_name(name);
  if (b < 0) {
    char valid[128];
    kjs_input_names(valid, sizeof valid, false);
    kjs_input_fail(ctx, "%s: unknown button '%s' (valid buttons: %s)", fn, name, valid);
  }
  return b;
}

static const keel_input_state *kjs_input_of(duk_context *ctx) { return &kjs_vm_of(ctx)->script->input; }

static duk_ret_t kjs_key_in(duk_context *ctx, const char *fn, size_t set_offset) {
  keel_key k = kjs_check_key(ctx, fn);
  const uint64_t *set = (const uint64_t *)((const char *)kjs_input_of(ctx) + set_offset);
  duk_push_boolean(ctx, keel_input_key_bit(set, k));
  return 1;
}
static duk_ret_t kjs_input_down(duk_context *ctx) {
  return kjs_key_in(ctx, "input.down", offsetof(keel_input_state, keys_down));
}
static duk_ret_t kjs_input_pressed(duk_context *ctx) {
  return kjs_key_in(ctx, "input.pressed", offsetof(keel_input_state, keys_pressed));
}
static duk_ret_t kjs_input_released(duk_context *ctx) {
  return kjs_key_in(ctx, "input.released", offsetof(keel_input_state, keys_released));
}

static duk_ret_t kjs_button_in(duk_context *ctx, const char *fn, uint32_t set) {
  int b = kjs_check_button(ctx, fn);
  duk_push_boolean(ctx, (set >> b) & 1u);
  return 1;
}
static duk_ret_t kjs_input_mouse_down(duk_context *ctx) {
  return kjs_button_in(ctx, "input.mouse_down", kjs_input_of(ctx)->buttons_down);
}
static duk_ret_t kjs_input_mouse_pressed(duk_context *ctx) {
  return kjs_button_in(ctx, "input.mouse_pressed", kjs_input_of(ctx)->buttons_pressed);
}
static duk_ret_t kjs_input_mouse_released(duk_context *ctx) {
  return kjs_button_in(ctx, "input.mouse_released", kjs_input_of(ctx)->buttons_released);
}

static duk_ret_t kjs_push_pair(duk_context *ctx, const char *a, double va, const char *b, double vb) {
  duk_push_object(ctx);
  duk_push_number(ctx, va);
  duk_put_prop_string(ctx, -2, a);
  duk_push_number(ctx, vb);
  duk_put_prop_string(ctx, -2, b);
  return 1;
}
static duk_ret_t kjs_input_mouse(duk_context *ctx) {
  const keel_input_state *in = kjs_input_of(ctx);
  return kjs_push_pair(ctx, "x", in->mouse_x, "y", in->mouse_y);
}
static duk_ret_t kjs_input_wheel(duk_context *ctx) {
  const keel_input_state *in = kjs_input_of(ctx);
  return kjs_push_pair(ctx, "x", in->wheel_x, "y", in->wheel_y);
}

/* Any heap: one-offs read the size the last tick was given. */
static duk_ret_t kjs_engine_screen(duk_context *ctx) {
  uint64_t wh = atomic_load_explicit(&kjs_vm_of(ctx)->script->screen_size, memory_order_relaxed);
  return kjs_push_pair(ctx, "width", (double)(wh >> 32), "height", (double)(wh & 0xffffffffu));
}

static void kjs_input_put_fn(duk_context *ctx, const char *object, const char *name, duk_c_function fn,
                             duk_idx_t nargs) {
  duk_push_c_function(ctx, fn, nargs);
  /* A name, so stack traces read "at input.down (native)". */
  duk_push_string(ctx, "name");
  duk_push_sprintf(ctx, "%s.%s", object, name);
  duk_def_prop(ctx, -3, DUK_DEFPROP_HAVE_VALUE | DUK_DEFPROP_FORCE);
  duk_put_prop_string(ctx, -2, name);
}

void kjs_input_install(duk_context *ctx, bool pool) {
  if (duk_get_global_string(ctx, "engine") && duk_is_object(ctx, -1))
    kjs_input_put_fn(ctx, "engine", "screen", kjs_engine_screen, 0);
  duk_pop(ctx);
  if (pool) return; /* input belongs to the game's ticks */
  static const struct {
    const char *name;
    duk_c_function fn;
    duk_idx_t nargs;
  } fns[] = {{"down", kjs_input_down, 1},
             {"pressed", kjs_input_pressed, 1},
             {"released", kjs_input_released, 1},
             {"mouse", kjs_input_mouse, 0},
             {"mouse_down", kjs_input_mouse_down, 1},
             {"mouse_pressed", kjs_input_mouse_pressed, 1},
             {"mouse_released", kjs_input_mouse_released, 1},
             {"wheel", kjs_input_wheel, 0}};
  duk_push_object(ctx);
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
    kjs_input_put_fn(ctx, "input", fns[i].name, fns[i].fn, fns[i].nargs);
  duk_put_global_string(ctx, "input");
}

void kjs_input_tick(keel_script *s, const keel_tick_info *tick) {
  const keel_input_state *in = KEEL_HAS_MEMBER(tick, keel_tick_info, input) ? tick->input : NULL;
  memset(&s->input, 0, sizeof s->input);
  if (in) memcpy(&s->input, in, in->struct_size < sizeof s->input ? in->struct_size : sizeof s->input);
  s->input.struct_size = KEEL_STRUCT_SIZE(keel_input_state);
  uint64_t wh = ((uint64_t)s->input.screen_width << 32) | s->input.screen_height;
  atomic_store_explicit(&s->screen_size, wh, memory_order_relaxed);
}
