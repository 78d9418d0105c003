/* Input recordings (`--record-input FILE`, `--replay-input FILE`): every
 * frame's input sample (kc_input's frame, see input.h) in a small versioned
 * binary file, so a session can be fed back instead of the window, headless
 * too, and a lockstep replay ends with the recorded world hash. The format
 * is documented in docs/configuration.md; a file that is not one, is from a
 * newer format or is cut short is refused with the reason, never half-read. */
#ifndef KC_PLATFORM_INPUT_RECORD_H
#define KC_PLATFORM_INPUT_RECORD_H

#include <stdio.h>

#include <keel/input.h>

#include "base/err.h"

#define KC_INPUT_RECORD_VERSION 1u

typedef struct kc_input_recorder kc_input_recorder;

/* Creates (truncates) `path` and writes the header. KEEL_ERR_IO with the
 * system's reason when it cannot. Main thread. */
keel_result kc_input_recorder_open(const char *path, kc_input_recorder **out, kc_err *err);
/* Appends frame `frame`'s sample; frames must come in order from 0. A write
 * error is returned once and later frames are dropped (close reports it
 * again). Main thread. */
keel_result kc_input_recorder_write(kc_input_recorder *rec, uint64_t frame, const keel_input_state *sample,
                                    kc_err *err);
/* Frames written so far. */
uint64_t kc_input_recorder_frames(const kc_input_recorder *rec);
/* Writes the end marker (frame count and checksum) and closes the file;
 * frees rec (NULL is fine). A file without the end marker is refused by
 * kc_input_replay_load as truncated. Main thread. */
keel_result kc_input_recorder_close(kc_input_recorder *rec, kc_err *err);

/* A recording read whole into memory. */
typedef struct kc_input_replay {
  keel_input_state *frames; /* frame i's sample */
  uint64_t count;
  char path[512];
} kc_input_replay;

/* Reads and checks `path` whole: KEEL_ERR_IO when it cannot be read,
 * KEEL_ERR_PARSE when it is not a keel input recording, is of a newer
 * version, is truncated or corrupt (err says which, naming the file). Any
 * thread. */
keel_result kc_input_replay_load(const char *path, kc_input_replay *out, kc_err *err);
void kc_input_replay_free(kc_input_replay *replay);

#endif
