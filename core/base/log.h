/* kc_log: the engine's one logging path. Every thread logs through it, every
 * line carries a timestamp and the thread's name, and lines go to one
 * replaceable sink so plugin and script logs can be routed with the rest. */
#ifndef KC_LOG_H
#define KC_LOG_H

#include <keel/abi.h>
#include <stdarg.h>

/* Values equal keel_log_level in the SDK so the host service can cast. */
typedef enum kc_log_level {
  KC_LOG_ERROR = 0,
  KC_LOG_WARN = 1,
  KC_LOG_INFO = 2,
  KC_LOG_DEBUG = 3,
  KC_LOG_TRACE = 4
} kc_log_level;

/* Longest formatted message; longer ones end in "…" (UTF-8, 3 bytes). */
#define KC_LOG_MESSAGE_MAX 1024
/* Longest thread name kept (longer names are cut). */
#define KC_LOG_THREAD_NAME_MAX 32
/* Room kc_log_format_line needs for any record. */
#define KC_LOG_LINE_MAX (KC_LOG_MESSAGE_MAX + KC_LOG_THREAD_NAME_MAX + 48)

/* One message as a sink sees it. Pointers are valid for the sink call only.
 * Grows at the end only (a later `source` member will name the plugin). */
typedef struct kc_log_record {
  kc_log_level level;
  const char *thread_name; /* never NULL */
  const char *message;     /* formatted, no trailing newline added */
  uint64_t time_ns;        /* monotonic ns since the log was initialised */
} kc_log_record;

/* A sink. Calls are serialised by the log (one at a time, any thread), so a
 * sink needs no locking of its own. A sink that logs gets its message
 * written straight to stderr instead of recursing. */
typedef void (*kc_log_sink_fn)(const kc_log_record *record, void *user);

/* Starts the clock that timestamps lines, names the calling thread "main"
 * if it is the first to initialise, and applies KEEL_LOG from the
 * environment (error|warn|info|debug|trace, case-insensitive). A bad
 * KEEL_LOG leaves the level unchanged and logs a warning naming the valid
 * levels. Safe to call again (tests do); the clock starts only once.
 * Main thread, before other threads log (logging before init also works,
 * with the level at info). */
void kc_log_init(void);

/* True when KEEL_LOG held a valid level at the last kc_log_init, i.e. the
 * environment chose the level and engine.ini's log_level should not. Any thread. */
bool kc_log_level_from_env(void);

/* Parses a level name (case-insensitive). false on anything else. Any thread. */
bool kc_log_parse_level(const char *text, kc_log_level *out);

/* "error", "warn", "info", "debug" or "trace"; "?" for a bad value. Any thread. */
const char *kc_log_level_name(kc_log_level level);

/* The valid level names for messages: "error, warn, info, debug, trace". */
#define KC_LOG_LEVEL_NAMES "error, warn, info, debug, trace"

/* Sets / reads the most verbose level written. Any thread (atomic). */
void kc_log_set_level(kc_log_level level);
kc_log_level kc_log_get_level(void);

/* True when a message at `level` would be written; one relaxed atomic load.
 * Any thread. */
bool kc_log_enabled(kc_log_level level);

/* Formats and hands one message to the sink when `level` is enabled. No heap
 * allocation: the message is formatted on the stack and cut at
 * KC_LOG_MESSAGE_MAX bytes with "…". Any thread. */
void kc_log_write(kc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kc_log_writev(kc_log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Names the calling thread in its log lines (copied into thread-local
 * storage, cut at KC_LOG_THREAD_NAME_MAX - 1 bytes; NULL or "" restores the
 * default "t<tid>"). Also sets the OS thread name, best effort. Calling thread. */
void kc_log_set_thread_name(const char *name);
/* The calling thread's log name; valid while the thread lives. Calling thread. */
const char *kc_log_thread_name(void);

/* Replaces the sink (NULL restores the default stderr sink). When it
 * returns, no thread is still inside the previous sink, so the previous
 * `user` may be freed. `user` is owned by the caller and must outlive its
 * installation. Any thread, but not from inside a sink. */
void kc_log_set_sink(kc_log_sink_fn sink, void *user);

/* Formats a record as the default sink does:
 *   "[   12.345] warn  main: message\n"
 * (seconds since init with ms, level padded to 5, thread name). Returns the
 * length written (always NUL-terminated, cut to fit `cap`). Any thread. */
size_t kc_log_format_line(const kc_log_record *record, char *buf, size_t cap);

/* The default sink: one write(2) of the formatted line to stderr, so
 * concurrent lines never interleave. Exposed so a sink can chain to it. */
void kc_log_sink_stderr(const kc_log_record *record, void *user);

#define KC_LOG_ERROR(...) kc_log_write(KC_LOG_ERROR, __VA_ARGS__)
#define KC_LOG_WARN(...) kc_log_write(KC_LOG_WARN, __VA_ARGS__)
#define KC_LOG_INFO(...) kc_log_write(KC_LOG_INFO, __VA_ARGS__)
/* The verbose levels skip argument evaluation when disabled. */
#define KC_LOG_DEBUG(...)                                                   \
  do {                                                                      \
    if (kc_log_enabled(KC_LOG_DEBUG)) kc_log_write(KC_LOG_DEBUG, __VA_ARGS__); \
  } while (0)
#define KC_LOG_TRACE(...)                                                   \
  do {                                                                      \
    if (kc_log_enabled(KC_LOG_TRACE)) kc_log_write(KC_LOG_TRACE, __VA_ARGS__); \
  } while (0)

#endif
