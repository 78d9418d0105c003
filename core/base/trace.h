/* kc_trace: the frame trace of `keel --trace FILE.json` (DESIGN §7b), in
 * the Chrome Trace Event Format that Perfetto and chrome://tracing open.
 * Every thread records into a bounded buffer of its own, with no lock and
 * no allocation after its first event; the file is written once the traced
 * threads are done. When tracing is off an event site costs one relaxed
 * load and a branch that is always predicted (KC_TRACE_ON), and the end of
 * a slice tests a local variable.
 *
 *   bool t = KC_TRACE_BEGIN("extract");
 *   ...
 *   KC_TRACE_END(t);
 *
 * Names are not copied: they must stay valid until kc_trace_write (string
 * literals, or kc_trace_intern). */
#ifndef KC_TRACE_H
#define KC_TRACE_H

#include <keel/abi.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

/* Events one thread's buffer holds before the oldest frames are dropped. */
#define KC_TRACE_EVENTS_PER_THREAD_DEFAULT (1u << 17)
#define KC_TRACE_FRAME_END UINT64_MAX

/* Nonzero while events are being recorded. Read through KC_TRACE_ON. */
extern _Atomic uint32_t kc_trace_recording;

#define KC_TRACE_ON() __builtin_expect(atomic_load_explicit(&kc_trace_recording, memory_order_relaxed) != 0, 0)

typedef struct kc_trace_config {
  uint32_t events_per_thread; /* 0 = KC_TRACE_EVENTS_PER_THREAD_DEFAULT */
  uint64_t first_frame;       /* record frames first_frame..last_frame, inclusive */
  uint64_t last_frame;        /* KC_TRACE_FRAME_END = to the end of the run */
} kc_trace_config;

/* Parses "A:B" (frames A to B inclusive, B >= A), "A:" (from A on) or "A"
 * (that frame only) into cfg's frame range. KEEL_ERR_INVALID_ARGUMENT with
 * a message naming the text otherwise. Any thread. */
keel_result kc_trace_parse_frames(const char *text, kc_trace_config *cfg, kc_err *err);

/* Starts a session (cfg may be NULL: every frame) and names the calling
 * thread's track "main". Recording starts at once when the range starts at
 * frame 0 (so start-up is in the trace), else at kc_trace_frame(first).
 * KEEL_ERR_WRONG_STATE when a session is running. Main thread. */
keel_result kc_trace_start(const kc_trace_config *cfg, kc_err *err);
/* True between kc_trace_start and kc_trace_stop. Any thread. */
bool kc_trace_active(void);
/* Called by the main thread as frame `frame` starts: events are stamped
 * with it, and recording turns on inside the range and off after it. */
void kc_trace_frame(uint64_t frame);
/* Writes the session's events to `path` as JSON. Every thread that recorded
 * must be done (joined, or idle for good): their buffers are read as they
 * are. Main thread. */
keel_result kc_trace_write(const char *path, kc_err *err);
/* Recording off, buffers freed. Same rule as kc_trace_write. NULL-safe to
 * call without a session. Main thread. */
void kc_trace_stop(void);

/* A copy of `name` that lives until kc_trace_stop (for names that are not
 * literals, such as the schedule's system names; the same text gives the
 * same pointer). NULL without a session or out of memory. Any thread. */
const char *kc_trace_intern(const char *name);

/* Gives the calling thread its track now, when a session is running, so a
 * thread that records nothing (an idle job worker) still shows. Call it at
 * thread start, after naming the thread. Any thread. */
void kc_trace_thread_begin(void);

/* Names the calling thread's track (the log's thread name is used when
 * this is not called). Any thread. */
void kc_trace_thread_name(const char *name);

/* Event sites: call only through the macros below. */
bool kc_trace_begin_(const char *name, const char *arg_name, uint64_t arg);
void kc_trace_end_(void);
void kc_trace_counter_(const char *name, double value);
void kc_trace_instant_(const char *name, const char *arg_name, uint64_t arg);

/* Opens a slice on this thread; the value says whether it was recorded and
 * is given back to KC_TRACE_END, so a slice open when recording stops still
 * gets its end. */
#define KC_TRACE_BEGIN(name) (KC_TRACE_ON() && kc_trace_begin_((name), NULL, 0))
#define KC_TRACE_BEGIN_ARG(name, arg_name, arg) (KC_TRACE_ON() && kc_trace_begin_((name), (arg_name), (arg)))
#define KC_TRACE_END(token)                          \
  do {                                               \
    if (__builtin_expect((token), 0)) kc_trace_end_(); \
  } while (0)
/* A counter track's value from now on (Perfetto draws one track per name). */
#define KC_TRACE_COUNTER(name, value)                  \
  do {                                                 \
    if (KC_TRACE_ON()) kc_trace_counter_((name), (value)); \
  } while (0)
/* A point in time on this thread's track, with one integer argument. */
#define KC_TRACE_INSTANT(name, arg_name, arg)                     \
  do {                                                            \
    if (KC_TRACE_ON()) kc_trace_instant_((name), (arg_name), (arg)); \
  } while (0)

#endif
