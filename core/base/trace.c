/* See trace.h. Each thread owns a ring of fixed-size events and is its only
 * writer; when the ring is full the thread drops its oldest frame's events.
 * The writer cuts every thread's events at the newest frame any thread
 * dropped from, so the file covers the same frames on every track, and it
 * keeps only begins and ends that pair up on their thread (a slice whose
 * begin was dropped loses its end too). */
#include "base/trace.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/path.h"

_Atomic uint32_t kc_trace_recording;

typedef struct tr_event {
  uint64_t ts;
  uint64_t frame;
  const char *name;
  const char *arg_name; /* NULL = no argument */
  union {
    uint64_t u;
    double d;
  } arg;
  char ph; /* 'B', 'E', 'C', 'i' */
} tr_event;

typedef struct tr_buf {
  struct tr_buf *next;
  tr_event *ev;
  uint32_t cap;
  uint32_t tid;
  /* Events written, first kept (ring positions). Only the owner writes
   * them; they are atomic (a release store, a plain move on x86) so that a
   * trace written while a given-up thread may still record reads whole
   * events. */
  _Atomic uint64_t head, tail;
  uint64_t dropped_below; /* frames below this lost events here */
  char name[32];
} tr_buf;

typedef struct tr_name {
  struct tr_name *next;
  char text[];
} tr_name;

static struct {
  pthread_mutex_t lock; /* bufs, next_tid, names; session start and stop */
  bool active;
  _Atomic uint64_t session; /* bumped by each start: stale thread buffers are dropped */
  kc_trace_config cfg;
  tr_buf *bufs;
  uint32_t next_tid;
  uint64_t t0;
  _Atomic uint64_t frame;
  tr_name *names; /* interned; kept for the life of the process */
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local tr_buf *tls_buf;
static _Thread_local uint64_t tls_session;
static _Thread_local char tls_name[32];

keel_result kc_trace_parse_frames(const char *text, kc_trace_config *cfg, kc_err *err) {
  const char *p = text ? text : "";
  char *end = NULL;
  errno = 0;
  unsigned long long a = *p >= '0' && *p <= '9' ? strtoull(p, &end, 10) : 0;
  unsigned long long b = a;
  bool ok = end && end != p && errno == 0;
  if (ok && *end == ':') {
    const char *q = end + 1;
    if (*q == '\0') {
      b = KC_TRACE_FRAME_END;
      end = (char *)q;
    } else if (*q >= '0' && *q <= '9') {
      b = strtoull(q, &end, 10);
      ok = errno == 0 && b >= a;
    } else {
      ok = false;
    }
  }
  if (!ok || *end != '\0')
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT,
                      "--trace-frames '%s': expected A:B (frames A to B, B >= A), A: (from A on) or A", p);
  cfg->first_frame = a;
  cfg->last_frame = b;
  return KEEL_OK;
}

const char *kc_trace_intern(const char *name) {
  if (!name) return NULL;
  pthread_mutex_lock(&g.lock);
  tr_name *n = g.names;
  while (n && strcmp(n->text, name) != 0) n = n->next;
  if (!n) {
    size_t len = strlen(name);
    n = malloc(sizeof *n + len + 1);
    if (n) {
      memcpy(n->text, name, len + 1);
      n->next = g.names;
      g.names = n;
    }
  }
  pthread_mutex_unlock(&g.lock);
  return n ? n->text : NULL;
}

void kc_trace_thread_name(const char *name) {
  snprintf(tls_name, sizeof tls_name, "%s", name ? name : "");
  if (tls_buf && tls_session == atomic_load_explicit(&g.session, memory_order_relaxed))
    snprintf(tls_buf->name, sizeof tls_buf->name, "%s", tls_name);
}

/* The calling thread's buffer in the current session, made on first use. */
static tr_buf *thread_buf(void) {
  uint64_t session = atomic_load_explicit(&g.session, memory_order_relaxed);
  if (tls_buf && tls_session == session) return tls_buf;
  tr_buf *b = NULL;
  pthread_mutex_lock(&g.lock);
  if (g.active && session == atomic_load_explicit(&g.session, memory_order_relaxed)) {
    b = calloc(1, sizeof *b);
    if (b) b->ev = malloc(sizeof *b->ev * g.cfg.events_per_thread);
    if (b && b->ev) {
      b->cap = g.cfg.events_per_thread;
      b->tid = ++g.next_tid;
      snprintf(b->name, sizeof b->name, "%s", tls_name[0] ? tls_name : kc_log_thread_name());
      b->next = g.bufs;
      g.bufs = b;
    } else if (b) {
      free(b);
      b = NULL;
    }
  }
  pthread_mutex_unlock(&g.lock);
  tls_buf = b;
  tls_session = session;
  return b;
}

void kc_trace_thread_begin(void) { (void)thread_buf(); }

static void push(tr_buf *b, const tr_event *e) {
  uint64_t head = atomic_load_explicit(&b->head, memory_order_relaxed);
  uint64_t tail = atomic_load_explicit(&b->tail, memory_order_relaxed);
  if (head - tail == b->cap) {
    /* Full: the oldest frame goes, all of its events on this thread. */
    uint64_t f0 = b->ev[tail % b->cap].frame;
    while (tail < head && b->ev[tail % b->cap].frame <= f0) tail++;
    atomic_store_explicit(&b->tail, tail, memory_order_relaxed);
    if (f0 + 1 > b->dropped_below) b->dropped_below = f0 + 1;
  }
  b->ev[head % b->cap] = *e;
  atomic_store_explicit(&b->head, head + 1, memory_order_release);
}

static void record(char ph, const char *name, const char *arg_name, uint64_t u, double d) {
  tr_buf *b = thread_buf();
  if (!b) return;
  tr_event e = {.ts = kc_clock_now_ns(),
                .frame = atomic_load_explicit(&g.frame, memory_order_relaxed),
                .name = name,
                .arg_name = arg_name,
                .ph = ph};
  if (ph == 'C')
    e.arg.d = d;
  else
    e.arg.u = u;
  push(b, &e);
}

bool kc_trace_begin_(const char *name, const char *arg_name, uint64_t arg) {
  tr_buf *b = thread_buf();
  if (!b) return false;
  tr_event e = {.ts = kc_clock_now_ns(),
                .frame = atomic_load_explicit(&g.frame, memory_order_relaxed),
                .name = name,
                .arg_name = arg_name,
                .arg.u = arg,
                .ph = 'B'};
  push(b, &e);
  return true;
}

void kc_trace_end_(void) { record('E', NULL, NULL, 0, 0); }
void kc_trace_counter_(const char *name, double value) { record('C', name, NULL, 0, value); }
void kc_trace_instant_(const char *name, const char *arg_name, uint64_t arg) {
  record('i', name, arg_name, arg, 0);
}

static bool in_range(uint64_t frame) { return frame >= g.cfg.first_frame && frame <= g.cfg.last_frame; }

keel_result kc_trace_start(const kc_trace_config *cfg, kc_err *err) {
  pthread_mutex_lock(&g.lock);
  if (g.active) {
    pthread_mutex_unlock(&g.lock);
    return kc_err_set(err, KEEL_ERR_WRONG_STATE, "trace: a trace is already being recorded");
  }
  g.cfg = cfg ? *cfg : (kc_trace_config){.last_frame = KC_TRACE_FRAME_END};
  if (g.cfg.events_per_thread == 0) g.cfg.events_per_thread = KC_TRACE_EVENTS_PER_THREAD_DEFAULT;
  if (g.cfg.events_per_thread < 16) g.cfg.events_per_thread = 16;
  g.active = true;
  g.bufs = NULL;
  g.next_tid = 0;
  g.t0 = kc_clock_now_ns();
  atomic_store_explicit(&g.frame, 0, memory_order_relaxed);
  atomic_fetch_add_explicit(&g.session, 1, memory_order_relaxed);
  pthread_mutex_unlock(&g.lock);
  kc_trace_thread_name("main");
  if (!thread_buf()) {
    kc_trace_stop();
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "trace: out of memory for %u events",
                      (unsigned)g.cfg.events_per_thread);
  }
  atomic_store_explicit(&kc_trace_recording, in_range(0) ? 1u : 0u, memory_order_relaxed);
  return KEEL_OK;
}

bool kc_trace_active(void) {
  pthread_mutex_lock(&g.lock);
  bool a = g.active;
  pthread_mutex_unlock(&g.lock);
  return a;
}

void kc_trace_frame(uint64_t frame) {
  if (!tls_buf) return; /* no session on this thread: nothing to do */
  atomic_store_explicit(&g.frame, frame, memory_order_relaxed);
  uint32_t on = in_range(frame) ? 1u : 0u;
  if (atomic_load_explicit(&kc_trace_recording, memory_order_relaxed) != on)
    atomic_store_explicit(&kc_trace_recording, on, memory_order_relaxed);
}

void kc_trace_stop(void) {
  atomic_store_explicit(&kc_trace_recording, 0, memory_order_relaxed);
  pthread_mutex_lock(&g.lock);
  for (tr_buf *b = g.bufs, *next; b; b = next) {
    next = b->next;
    free(b->ev);
    free(b);
  }
  g.bufs = NULL;
  g.active = false;
  atomic_fetch_add_explicit(&g.session, 1, memory_order_relaxed);
  pthread_mutex_unlock(&g.lock);
  tls_buf = NULL;
}

/* ---- the file ---------------------------------------------------------- */

/* Marks which begins and ends of b (positions from..head) pair up. */
static void pair_up(const tr_buf *b, uint64_t from, uint64_t head, uint8_t *keep, uint64_t *stack) {
  uint64_t depth = 0;
  for (uint64_t i = from; i < head; i++) {
    const tr_event *e = &b->ev[i % b->cap];
    uint64_t k = i - from;
    keep[k] = e->ph == 'C' || e->ph == 'i';
    if (e->ph == 'B') {
      stack[depth++] = k;
    } else if (e->ph == 'E' && depth > 0) {
      keep[stack[--depth]] = 1;
      keep[k] = 1;
    }
  }
}

static void write_event(FILE *f, const tr_buf *b, const tr_event *e, uint64_t t0) {
  double ts = (double)(e->ts >= t0 ? e->ts - t0 : 0) / 1000.0;
  fprintf(f, ",\n{\"ph\":\"%c\",\"pid\":1,\"tid\":%u,\"ts\":%.3f", e->ph, b->tid, ts);
  if (e->name) {
    fputs(",\"name\":", f);
    kc_json_write_string(f, e->name);
  }
  if (e->ph == 'i') fputs(",\"s\":\"t\"", f);
  if (e->ph == 'C') {
    fprintf(f, ",\"args\":{\"value\":%.6g}", e->arg.d);
  } else if (e->arg_name) {
    fputs(",\"args\":{", f);
    kc_json_write_string(f, e->arg_name);
    fprintf(f, ":%" PRIu64 "}", e->arg.u);
  }
  fputc('}', f);
}

keel_result kc_trace_write(const char *path, kc_err *err) {
  pthread_mutex_lock(&g.lock);
  if (!g.active) {
    pthread_mutex_unlock(&g.lock);
    return kc_err_set(err, KEEL_ERR_WRONG_STATE, "trace: no trace is being recorded");
  }
  FILE *f = kc_path_open_output(path, "the trace", err);
  if (!f) {
    pthread_mutex_unlock(&g.lock);
    return KEEL_ERR_IO;
  }
  uint64_t cut = 0, cap = 0;
  for (const tr_buf *b = g.bufs; b; b = b->next) {
    if (b->dropped_below > cut) cut = b->dropped_below;
    if (b->cap > cap) cap = b->cap;
  }
  uint8_t *keep = malloc(cap ? cap : 1);
  uint64_t *stack = malloc(sizeof *stack * (cap ? cap : 1));
  uint64_t dropped = cut > g.cfg.first_frame ? cut - g.cfg.first_frame : 0, events = 0;
  fputs("{\"traceEvents\":[\n{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"process_name\",\"args\":{\"name\":\"keel\"}}", f);
  for (const tr_buf *b = g.bufs; b; b = b->next) {
    fprintf(f, ",\n{\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"name\":\"thread_name\",\"args\":{\"name\":", b->tid);
    kc_json_write_string(f, b->name);
    fprintf(f, "}},\n{\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"name\":\"thread_sort_index\",\"args\":{\"sort_index\":%u}}",
            b->tid, b->tid);
  }
  for (tr_buf *b = g.bufs; b && keep && stack; b = b->next) {
    uint64_t head = atomic_load_explicit(&b->head, memory_order_acquire);
    uint64_t from = atomic_load_explicit(&b->tail, memory_order_relaxed);
    while (from < head && b->ev[from % b->cap].frame < cut) from++;
    pair_up(b, from, head, keep, stack);
    for (uint64_t i = from; i < head; i++) {
      if (!keep[i - from]) continue;
      write_event(f, b, &b->ev[i % b->cap], g.t0);
      events++;
    }
  }
  fputs("\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{\"generator\":\"keel --trace\",\"first_frame\":", f);
  fprintf(f, "%" PRIu64 ",\"last_frame\":", g.cfg.first_frame);
  if (g.cfg.last_frame == KC_TRACE_FRAME_END)
    fputs("null", f);
  else
    fprintf(f, "%" PRIu64, g.cfg.last_frame);
  fprintf(f, ",\"dropped_frames\":%" PRIu64 ",\"first_frame_kept\":%" PRIu64 ",\"events\":%" PRIu64
             ",\"events_per_thread\":%u}}\n",
          dropped, cut > g.cfg.first_frame ? cut : g.cfg.first_frame, events, (unsigned)g.cfg.events_per_thread);
  bool oom = !keep || !stack;
  free(keep);
  free(stack);
  pthread_mutex_unlock(&g.lock);
  bool failed = ferror(f) != 0;
  if (fclose(f) != 0 || failed) return kc_err_set(err, KEEL_ERR_IO, "%s: writing the trace failed", path);
  if (oom) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "%s: out of memory while writing the trace", path);
  if (dropped)
    kc_log_write(KC_LOG_WARN,
                 "trace: the buffers were full, the oldest %" PRIu64 " frames were dropped (%s keeps frames %" PRIu64
                 " on)",
                 dropped, path, cut);
  return KEEL_OK;
}
