/* kc_input: the player's input on its way from the window to the script
 * worker. Events land in the current frame's sample; once a frame the
 * sample is closed (a recording stores exactly these samples, a replay
 * feeds them back instead of the window) and added into the state the next
 * tick will be handed, so a press and a release that both fall between two
 * ticks both reach the game. Main thread only; no windowing library here. */
#ifndef KC_PLATFORM_INPUT_H
#define KC_PLATFORM_INPUT_H

#include <keel/input.h>

typedef struct kc_input {
  keel_input_state frame; /* held state now; edges and wheel since the last kc_input_end_frame */
  keel_input_state tick;  /* held state as of the last frame; edges and wheel since the last take */
} kc_input;

/* Everything up, the mouse at 0,0. `live`: whether anything can be pressed
 * (a window or a replay); the drawable is width x height pixels. */
void kc_input_init(kc_input *in, bool live, uint32_t width, uint32_t height);

/* Events, in the order they happened. A key or button going down sets its
 * held bit and its pressed edge; going up clears the held bit and sets the
 * released edge, so a tap inside one frame leaves both edges and the key up.
 * Out-of-range keys and buttons are ignored. */
void kc_input_key(kc_input *in, keel_key key, bool down);
void kc_input_button(kc_input *in, int button, bool down);
void kc_input_mouse(kc_input *in, float x, float y);
void kc_input_wheel(kc_input *in, float dx, float dy);
void kc_input_resize(kc_input *in, uint32_t width, uint32_t height);

/* Replaces this frame's events with a recorded frame sample (a replay). */
void kc_input_set_frame(kc_input *in, const keel_input_state *sample);

/* Closes the frame: copies its sample to *sample (may be NULL), adds it into
 * the next tick's state and starts the next frame with no edges. */
void kc_input_end_frame(kc_input *in, keel_input_state *sample);

/* At a tick's trigger: copies what the tick sees into *out and clears the
 * edges, which from now on count towards the following tick. */
void kc_input_take(kc_input *in, keel_input_state *out);

#endif
