/* See log.h. The level is one atomic so disabled messages cost a load; the
 * sink runs under one mutex so sinks stay simple and swapping a sink is safe;
 * nothing here allocates, so logging works when memory has run out. */
#include "base/log.h"

#include "base/clock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_int g_level = KC_LOG_INFO;
static atomic_uint_least64_t g_start_ns;
static atomic_bool g_main_named;
static atomic_bool g_level_from_env;

static pthread_mutex_t g_sink_mutex = PTHREAD_MUTEX_INITIALIZER;
static kc_log_sink_fn g_sink = kc_log_sink_stderr; /* guarded by g_sink_mutex */
static void *g_sink_user;                          /* guarded by g_sink_mutex */

static _Thread_local char tls_name[KC_LOG_THREAD_NAME_MAX];
static _Thread_local bool tls_in_sink;

static const char *const k_level_names[] = {"error", "warn", "info", "debug", "trace"};

static uint64_t start_ns(void) {
  uint64_t s = atomic_load_explicit(&g_start_ns, memory_order_acquire);
  if (s) return s;
  uint64_t now = kc_clock_now_ns();
  uint64_t expected = 0;
  /* First caller wins; a loser uses the winner's origin. */
  if (atomic_compare_exchange_strong_explicit(&g_start_ns, &expected, now, memory_order_acq_rel,
                                              memory_order_acquire))
    return now;
  return expected;
}

bool kc_log_parse_level(const char *text, kc_log_level *out) {
  if (!text) return false;
  for (int i = 0; i <= KC_LOG_TRACE; i++) {
    if (strcasecmp(text, k_level_names[i]) == 0) {
      if (out) *out = (kc_log_level)i;
      return true;
    }
  }
  return false;
}

const char *kc_log_level_name(kc_log_level level) {
  if ((int)level < 0 || level > KC_LOG_TRACE) return "?";
  return k_level_names[level];
}

void kc_log_init(void) {
  (void)start_ns();
  bool expected = false;
  if (atomic_compare_exchange_strong(&g_main_named, &expected, true) && !tls_name[0])
    kc_log_set_thread_name("main");
  const char *env = getenv("KEEL_LOG");
  kc_log_level level;
  if (env && *env) {
    if (kc_log_parse_level(env, &level)) {
      kc_log_set_level(level);
      atomic_store(&g_level_from_env, true);
    } else {
      atomic_store(&g_level_from_env, false);
      kc_log_write(KC_LOG_WARN, "KEEL_LOG='%s' is not a log level (valid: " KC_LOG_LEVEL_NAMES "); keeping '%s'",
                   env, kc_log_level_name(kc_log_get_level()));
    }
  } else {
    atomic_store(&g_level_from_env, false);
  }
}

bool kc_log_level_from_env(void) { return atomic_load(&g_level_from_env); }

void kc_log_set_level(kc_log_level level) {
  if ((int)level < 0) level = KC_LOG_ERROR;
  if (level > KC_LOG_TRACE) level = KC_LOG_TRACE;
  atomic_store_explicit(&g_level, (int)level, memory_order_relaxed);
}

kc_log_level kc_log_get_level(void) {
  return (kc_log_level)atomic_load_explicit(&g_level, memory_order_relaxed);
}

bool kc_log_enabled(kc_log_level level) {
  return (int)level <= atomic_load_explicit(&g_level, memory_order_relaxed);
}

void kc_log_set_thread_name(const char *name) {
  if (!name || !*name) {
    tls_name[0] = '\0';
    return;
  }
  snprintf(tls_name, sizeof tls_name, "%s", name);
  /* The OS limit is 15 bytes; a longer name is refused there, not cut, so
   * cut it ourselves. Purely for debuggers, so failure is ignored. */
  char os_name[16];
  snprintf(os_name, sizeof os_name, "%s", name);
  (void)pthread_setname_np(pthread_self(), os_name);
}

const char *kc_log_thread_name(void) {
  if (!tls_name[0]) snprintf(tls_name, sizeof tls_name, "t%ld", (long)syscall(SYS_gettid));
  return tls_name;
}

void kc_log_set_sink(kc_log_sink_fn sink, void *user) {
  pthread_mutex_lock(&g_sink_mutex);
  g_sink = sink ? sink : kc_log_sink_stderr;
  g_sink_user = sink ? user : NULL;
  pthread_mutex_unlock(&g_sink_mutex);
}

size_t kc_log_format_line(const kc_log_record *record, char *buf, size_t cap) {
  if (!cap) return 0;
  uint64_t ms = record->time_ns / KC_NS_PER_MS;
  int n = snprintf(buf, cap, "[%6llu.%03llu] %-5s %s: %s\n", (unsigned long long)(ms / 1000),
                   (unsigned long long)(ms % 1000), kc_log_level_name(record->level), record->thread_name,
                   record->message);
  if (n < 0) {
    buf[0] = '\0';
    return 0;
  }
  if ((size_t)n >= cap) {
    /* Cut, but keep the line a line. */
    if (cap >= 2) buf[cap - 2] = '\n';
    return cap - 1;
  }
  return (size_t)n;
}

void kc_log_sink_stderr(const kc_log_record *record, void *user) {
  (void)user;
  char line[KC_LOG_LINE_MAX];
  size_t len = kc_log_format_line(record, line, sizeof line);
  /* One write per line: the kernel keeps a single write to a pipe or file
   * whole, so lines from different threads never mix. */
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(STDERR_FILENO, line + off, len - off);
    if (w <= 0) break;
    off += (size_t)w;
  }
}

/* Ends a message cut by vsnprintf with "…" on a UTF-8 character boundary. */
static void mark_truncated(char *buf, size_t cap) {
  static const char ellipsis[] = "\xE2\x80\xA6";
  size_t pos = cap - sizeof ellipsis; /* room for the 3 bytes and the NUL */
  while (pos > 0 && ((unsigned char)buf[pos] & 0xC0) == 0x80) pos--;
  memcpy(buf + pos, ellipsis, sizeof ellipsis);
}

void kc_log_writev(kc_log_level level, const char *fmt, va_list ap) {
  if (!kc_log_enabled(level)) return;
  char msg[KC_LOG_MESSAGE_MAX];
  int n = vsnprintf(msg, sizeof msg, fmt ? fmt : "", ap);
  if (n < 0)
    snprintf(msg, sizeof msg, "(bad log format)");
  else if ((size_t)n >= sizeof msg)
    mark_truncated(msg, sizeof msg);
  uint64_t origin = start_ns(); /* before now, so the difference cannot wrap */
  kc_log_record rec = {
      .level = level,
      .thread_name = kc_log_thread_name(),
      .message = msg,
      .time_ns = kc_clock_now_ns() - origin,
  };
  if (tls_in_sink) {
    /* A sink that logs would deadlock on the sink mutex. */
    kc_log_sink_stderr(&rec, NULL);
    return;
  }
  pthread_mutex_lock(&g_sink_mutex);
  tls_in_sink = true;
  g_sink(&rec, g_sink_user);
  tls_in_sink = false;
  pthread_mutex_unlock(&g_sink_mutex);
}

void kc_log_write(kc_log_level level, const char *fmt, ...) {
  if (!kc_log_enabled(level)) return;
  va_list ap;
  va_start(ap, fmt);
  kc_log_writev(level, fmt, ap);
  va_end(ap);
}
