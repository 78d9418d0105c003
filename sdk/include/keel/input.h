/* keel/input.h: the player's input as a script runtime sees it (ABI 1.1).
 *
 * The host samples the window's keyboard and mouse on the main thread every
 * frame and hands the script worker one keel_input_state per tick (through
 * keel_tick_info.input), so a tick reads a view that does not change under
 * it. Held state is as of the frame that triggered the tick; edges (pressed,
 * released, wheel) add up everything since the game's previous tick, so a
 * press and release that both fall between two ticks show as both. Keys and
 * buttons are named by the strings below in every script language; the
 * tables here are the one definition, so every runtime accepts the same
 * names. A headless run without a replayed recording has no input: every
 * key and button up, the mouse at 0,0, no edges, `live` false. */
#ifndef KEEL_INPUT_H
#define KEEL_INPUT_H

#include <keel/abi.h>

KEEL_BEGIN_DECLS

/* Keys. Values never change; new keys are appended before KEEL_KEY_COUNT. */
typedef enum keel_key {
  KEEL_KEY_NONE = 0,
  KEEL_KEY_A, KEEL_KEY_B, KEEL_KEY_C, KEEL_KEY_D, KEEL_KEY_E, KEEL_KEY_F, KEEL_KEY_G, KEEL_KEY_H, KEEL_KEY_I,
  KEEL_KEY_J, KEEL_KEY_K, KEEL_KEY_L, KEEL_KEY_M, KEEL_KEY_N, KEEL_KEY_O, KEEL_KEY_P, KEEL_KEY_Q, KEEL_KEY_R,
  KEEL_KEY_S, KEEL_KEY_T, KEEL_KEY_U, KEEL_KEY_V, KEEL_KEY_W, KEEL_KEY_X, KEEL_KEY_Y, KEEL_KEY_Z,
  KEEL_KEY_0, KEEL_KEY_1, KEEL_KEY_2, KEEL_KEY_3, KEEL_KEY_4, KEEL_KEY_5, KEEL_KEY_6, KEEL_KEY_7, KEEL_KEY_8,
  KEEL_KEY_9,
  KEEL_KEY_SPACE, KEEL_KEY_ENTER, KEEL_KEY_ESCAPE, KEEL_KEY_TAB, KEEL_KEY_BACKSPACE,
  KEEL_KEY_LEFT, KEEL_KEY_RIGHT, KEEL_KEY_UP, KEEL_KEY_DOWN,
  KEEL_KEY_SHIFT, KEEL_KEY_CTRL, KEEL_KEY_ALT, /* either side */
  KEEL_KEY_INSERT, KEEL_KEY_DELETE, KEEL_KEY_HOME, KEEL_KEY_END, KEEL_KEY_PAGEUP, KEEL_KEY_PAGEDOWN,
  KEEL_KEY_F1, KEEL_KEY_F2, KEEL_KEY_F3, KEEL_KEY_F4, KEEL_KEY_F5, KEEL_KEY_F6, KEEL_KEY_F7, KEEL_KEY_F8,
  KEEL_KEY_F9, KEEL_KEY_F10, KEEL_KEY_F11, KEEL_KEY_F12,
  KEEL_KEY_MINUS, KEEL_KEY_EQUAL, KEEL_KEY_COMMA, KEEL_KEY_PERIOD, KEEL_KEY_SLASH, KEEL_KEY_SEMICOLON,
  KEEL_KEY_APOSTROPHE, KEEL_KEY_LEFTBRACKET, KEEL_KEY_RIGHTBRACKET, KEEL_KEY_BACKSLASH, KEEL_KEY_GRAVE,
  KEEL_KEY_COUNT /* not a key; at most 128 */
} keel_key;

/* Mouse buttons. */
typedef enum keel_mouse_button {
  KEEL_MOUSE_LEFT = 0,
  KEEL_MOUSE_RIGHT = 1,
  KEEL_MOUSE_MIDDLE = 2,
  KEEL_MOUSE_BUTTON_COUNT = 3
} keel_mouse_button;

/* One tick's input. Bit k of a key set is key k (word k / 64, bit k % 64);
 * bit b of a button set is button b. Owned by the host; valid during the
 * call it is passed to; read it, never write it. */
typedef struct keel_input_state {
  uint32_t struct_size;
  bool live;                   /* false: no window and no replay, so nothing can be pressed */
  uint64_t keys_down[2];       /* held when the tick was triggered */
  uint64_t keys_pressed[2];    /* went down since the game's previous tick */
  uint64_t keys_released[2];   /* went up since the game's previous tick */
  float mouse_x, mouse_y;      /* cursor in window pixels from the top-left */
  uint32_t buttons_down, buttons_pressed, buttons_released;
  float wheel_x, wheel_y;      /* scroll since the game's previous tick (y > 0: away from the user) */
  /* The drawable's size in pixels, the space mouse_x/y and the screen layer
   * are in: the window's framebuffer, or the offscreen image when headless
   * (a replay: the recorded window's). 0 from a host that does not say. */
  uint32_t screen_width, screen_height;
} keel_input_state;

/* Whether `key` is in a key set of keel_input_state. Any thread. */
static inline bool keel_input_key_bit(const uint64_t set[2], keel_key key) {
  return (unsigned)key < KEEL_KEY_COUNT && ((set[(unsigned)key / 64u] >> ((unsigned)key % 64u)) & 1u) != 0;
}

/* The name scripts use for `key` ("" for KEEL_KEY_NONE and out-of-range
 * values). Any thread; the string is static. */
static inline const char *keel_key_name(keel_key key) {
  static const char *const names[KEEL_KEY_COUNT] = {
      "", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u",
      "v", "w", "x", "y", "z", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
      "space", "enter", "escape", "tab", "backspace", "left", "right", "up", "down", "shift", "ctrl", "alt",
      "insert", "delete", "home", "end", "pageup", "pagedown",
      "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10", "f11", "f12",
      "minus", "equal", "comma", "period", "slash", "semicolon", "apostrophe", "leftbracket", "rightbracket",
      "backslash", "grave"};
  return (unsigned)key < KEEL_KEY_COUNT ? names[key] : "";
}

/* The name scripts use for mouse button `button` ("left", "right",
 * "middle"; "" out of range). Any thread; the string is static. */
static inline const char *keel_mouse_button_name(int button) {
  static const char *const names[KEEL_MOUSE_BUTTON_COUNT] = {"left", "right", "middle"};
  return button >= 0 && button < KEEL_MOUSE_BUTTON_COUNT ? names[button] : "";
}

/* Internal to the two lookups below: exact string compare. Any thread. */
static inline bool keel_input_name_equal_(const char *a, const char *b) {
  while (*a && *a == *b) {
    a++;
    b++;
  }
  return *a == *b;
}

/* The key named `name` (exact, lowercase), or KEEL_KEY_NONE. Any thread. */
static inline keel_key keel_key_from_name(const char *name) {
  if (!name || !*name) return KEEL_KEY_NONE;
  for (unsigned k = 1; k < KEEL_KEY_COUNT; k++)
    if (keel_input_name_equal_(name, keel_key_name((keel_key)k))) return (keel_key)k;
  return KEEL_KEY_NONE;
}

/* The button named `name`, or -1. Any thread. */
static inline int keel_mouse_button_from_name(const char *name) {
  if (!name) return -1;
  for (int b = 0; b < KEEL_MOUSE_BUTTON_COUNT; b++)
    if (keel_input_name_equal_(name, keel_mouse_button_name(b))) return b;
  return -1;
}

KEEL_END_DECLS

#endif /* KEEL_INPUT_H */
