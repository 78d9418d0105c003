/* Reads a frame trace file with a real JSON parser (jansson) and checks
 * the rules every trace keeps, for the trace tests: the file is one JSON
 * object with a traceEvents array; each event has a phase, pid, tid and a
 * timestamp; on each thread the begins and ends pair up and nest, in time
 * order. What it found is summarised for the tests to assert on. */
#ifndef KEEL_TRACE_CHECK_H
#define KEEL_TRACE_CHECK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define TC_MAX_THREADS 32
#define TC_MAX_NAMES 128
#define TC_MAX_ARGS 8192
#define TC_MAX_DEPTH 256

typedef struct tc_summary {
  bool ok;          /* parsed and every rule held */
  char error[512];  /* the first broken rule */
  size_t begins, ends, counters, instants;
  size_t threads;
  int64_t tids[TC_MAX_THREADS];
  char thread_names[TC_MAX_THREADS][64];
  size_t n_names; /* distinct slice names (B) */
  char names[TC_MAX_NAMES][64];
  int64_t name_tid[TC_MAX_NAMES]; /* the thread a name was first seen on */
  size_t n_counter_names;
  char counter_names[TC_MAX_NAMES][64];
  size_t n_frames; /* "frame" slices' frame arguments, in file order */
  uint64_t frames[TC_MAX_ARGS];
  size_t n_ticks; /* "tick" slices' tick arguments */
  uint64_t ticks[TC_MAX_ARGS];
  int64_t dropped_frames, first_frame_kept;
} tc_summary;

static inline void tc_fail(tc_summary *s, const char *fmt, const char *a, long long b) {
  if (!s->ok) return;
  s->ok = false;
  snprintf(s->error, sizeof s->error, fmt, a, b);
}

static inline void tc_add_name(char (*list)[64], size_t *n, const char *name, int64_t *tids, int64_t tid) {
  for (size_t i = 0; i < *n; i++)
    if (strcmp(list[i], name) == 0) return;
  if (*n < TC_MAX_NAMES) {
    snprintf(list[*n], 64, "%s", name);
    if (tids) tids[*n] = tid;
    (*n)++;
  }
}

typedef struct tc_thread_state {
  int64_t tid;
  double last_ts;
  size_t depth;
} tc_thread_state;

static inline bool tc_check_file(const char *path, tc_summary *s) {
  memset(s, 0, sizeof *s);
  s->ok = true;
  s->dropped_frames = s->first_frame_kept = -1;
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  if (!root) {
    snprintf(s->error, sizeof s->error, "%s:%d:%d: not JSON: %s", path, jerr.line, jerr.column, jerr.text);
    s->ok = false;
    return false;
  }
  json_t *events = json_object_get(root, "traceEvents");
  if (!json_is_array(events)) tc_fail(s, "%s: no traceEvents array%lld", path, 0);
  json_t *other = json_object_get(root, "otherData");
  if (json_is_object(other)) {
    s->dropped_frames = json_integer_value(json_object_get(other, "dropped_frames"));
    s->first_frame_kept = json_integer_value(json_object_get(other, "first_frame_kept"));
  }
  static tc_thread_state st[TC_MAX_THREADS];
  size_t nst = 0;
  size_t i;
  json_t *e;
  json_array_foreach(events, i, e) {
    const char *ph = json_string_value(json_object_get(e, "ph"));
    json_t *tidv = json_object_get(e, "tid"), *tsv = json_object_get(e, "ts");
    const char *name = json_string_value(json_object_get(e, "name"));
    json_t *args = json_object_get(e, "args");
    if (!ph || strlen(ph) != 1 || !json_is_integer(tidv) || !json_is_integer(json_object_get(e, "pid"))) {
      tc_fail(s, "event %s#%lld lacks ph, pid or tid", "", (long long)i);
      continue;
    }
    int64_t tid = json_integer_value(tidv);
    if (ph[0] == 'M') {
      if (name && strcmp(name, "thread_name") == 0 && s->threads < TC_MAX_THREADS) {
        s->tids[s->threads] = tid;
        snprintf(s->thread_names[s->threads], 64, "%s", json_string_value(json_object_get(args, "name")));
        s->threads++;
      }
      continue;
    }
    if (!json_is_number(tsv)) {
      tc_fail(s, "event %s#%lld has no ts", "", (long long)i);
      continue;
    }
    double ts = json_number_value(tsv);
    tc_thread_state *t = NULL;
    for (size_t k = 0; k < nst; k++)
      if (st[k].tid == tid) t = &st[k];
    if (!t && nst < TC_MAX_THREADS) {
      t = &st[nst++];
      *t = (tc_thread_state){.tid = tid, .last_ts = ts};
    }
    if (!t) continue;
    if (ts < t->last_ts) tc_fail(s, "%s: time goes back on thread %lld", name ? name : "event", (long long)tid);
    t->last_ts = ts;
    switch (ph[0]) {
      case 'B':
        s->begins++;
        if (!name) tc_fail(s, "a begin without a name%s on thread %lld", "", (long long)tid);
        if (++t->depth > TC_MAX_DEPTH) tc_fail(s, "%snesting deeper than 256 on thread %lld", "", (long long)tid);
        if (name) tc_add_name(s->names, &s->n_names, name, s->name_tid, tid);
        if (name && strcmp(name, "frame") == 0 && s->n_frames < TC_MAX_ARGS)
          s->frames[s->n_frames++] = (uint64_t)json_integer_value(json_object_get(args, "frame"));
        if (name && strcmp(name, "tick") == 0 && s->n_ticks < TC_MAX_ARGS)
          s->ticks[s->n_ticks++] = (uint64_t)json_integer_value(json_object_get(args, "tick"));
        break;
      case 'E':
        s->ends++;
        if (t->depth == 0)
          tc_fail(s, "an end with no begin%s on thread %lld", "", (long long)tid);
        else
          t->depth--;
        break;
      case 'C':
        s->counters++;
        if (!name || !json_is_number(json_object_get(args, "value")))
          tc_fail(s, "counter %s without a value on thread %lld", name ? name : "?", (long long)tid);
        else
          tc_add_name(s->counter_names, &s->n_counter_names, name, NULL, 0);
        break;
      case 'i': s->instants++; break;
      default: tc_fail(s, "unknown phase %s on thread %lld", ph, (long long)tid);
    }
  }
  for (size_t k = 0; k < nst; k++)
    if (st[k].depth) tc_fail(s, "%sa begin without its end on thread %lld", "", (long long)st[k].tid);
  json_decref(root);
  return s->ok;
}

static inline int64_t tc_thread(const tc_summary *s, const char *name) {
  for (size_t i = 0; i < s->threads; i++)
    if (strcmp(s->thread_names[i], name) == 0) return s->tids[i];
  return -1;
}

/* The thread a slice name was first seen on, -1 when never. */
static inline int64_t tc_name_tid(const tc_summary *s, const char *name) {
  for (size_t i = 0; i < s->n_names; i++)
    if (strcmp(s->names[i], name) == 0) return s->name_tid[i];
  return -1;
}

static inline bool tc_has_counter(const tc_summary *s, const char *name) {
  for (size_t i = 0; i < s->n_counter_names; i++)
    if (strcmp(s->counter_names[i], name) == 0) return true;
  return false;
}

#endif
