/* See input.h. Two copies of keel_input_state: the frame being sampled and
 * the tick being accumulated; closing a frame ORs its edges into the tick's,
 * taking a tick clears them. */
#include "platform/input.h"

#include <string.h>

static void set_bit(uint64_t set[2], unsigned k, bool on) {
  uint64_t bit = 1ull << (k % 64u);
  if (on)
    set[k / 64u] |= bit;
  else
    set[k / 64u] &= ~bit;
}

static void clear_edges(keel_input_state *s) {
  memset(s->keys_pressed, 0, sizeof s->keys_pressed);
  memset(s->keys_released, 0, sizeof s->keys_released);
  s->buttons_pressed = s->buttons_released = 0;
  s->wheel_x = s->wheel_y = 0;
}

void kc_input_init(kc_input *in, bool live, uint32_t width, uint32_t height) {
  memset(in, 0, sizeof *in);
  in->frame.struct_size = KEEL_STRUCT_SIZE(keel_input_state);
  in->frame.live = live;
  in->frame.screen_width = width;
  in->frame.screen_height = height;
  in->tick = in->frame;
}

void kc_input_key(kc_input *in, keel_key key, bool down) {
  unsigned k = (unsigned)key;
  if (k == KEEL_KEY_NONE || k >= KEEL_KEY_COUNT) return;
  set_bit(in->frame.keys_down, k, down);
  set_bit(down ? in->frame.keys_pressed : in->frame.keys_released, k, true);
}

void kc_input_button(kc_input *in, int button, bool down) {
  if (button < 0 || button >= KEEL_MOUSE_BUTTON_COUNT) return;
  uint32_t bit = 1u << button;
  if (down) {
    in->frame.buttons_down |= bit;
    in->frame.buttons_pressed |= bit;
  } else {
    in->frame.buttons_down &= ~bit;
    in->frame.buttons_released |= bit;
  }
}

void kc_input_mouse(kc_input *in, float x, float y) {
  in->frame.mouse_x = x;
  in->frame.mouse_y = y;
}

void kc_input_wheel(kc_input *in, float dx, float dy) {
  in->frame.wheel_x += dx;
  in->frame.wheel_y += dy;
}

void kc_input_resize(kc_input *in, uint32_t width, uint32_t height) {
  in->frame.screen_width = width;
  in->frame.screen_height = height;
}

void kc_input_set_frame(kc_input *in, const keel_input_state *sample) {
  in->frame = *sample;
  in->frame.struct_size = KEEL_STRUCT_SIZE(keel_input_state);
}

void kc_input_end_frame(kc_input *in, keel_input_state *sample) {
  const keel_input_state *f = &in->frame;
  if (sample) *sample = *f;
  keel_input_state *t = &in->tick;
  for (int i = 0; i < 2; i++) {
    t->keys_down[i] = f->keys_down[i];
    t->keys_pressed[i] |= f->keys_pressed[i];
    t->keys_released[i] |= f->keys_released[i];
  }
  t->buttons_down = f->buttons_down;
  t->buttons_pressed |= f->buttons_pressed;
  t->buttons_released |= f->buttons_released;
  t->wheel_x += f->wheel_x;
  t->wheel_y += f->wheel_y;
  t->mouse_x = f->mouse_x;
  t->mouse_y = f->mouse_y;
  t->screen_width = f->screen_width;
  t->screen_height = f->screen_height;
  t->live = f->live;
  clear_edges(&in->frame);
}

void kc_input_take(kc_input *in, keel_input_state *out) {
  *out = in->tick;
  clear_edges(&in->tick);
}
