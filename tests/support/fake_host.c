/* See fake_host.h. */
#include "fake_host.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t fake_log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};

static void fake_log(const keel_host *h, keel_log_level level, const char *fmt, ...) {
  fake_host *fh = (fake_host *)h;
  char text[480];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  /* "@sleep-ms:N": wall-clock time passes, no CPU time is used (what a
   * busy machine does to a script's thread). */
  const char *sleep_at = strstr(text, FAKE_SLEEP_TAG);
  if (sleep_at) {
    long ms = strtol(sleep_at + strlen(FAKE_SLEEP_TAG), NULL, 10);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
  }
  pthread_mutex_lock(&fake_log_lock);
  snprintf(fh->log_lines[fh->log_count % FAKE_MAX_LOG], 512, "%s: %s",
           level_names[level <= KEEL_LOG_TRACE ? level : KEEL_LOG_TRACE], text);
  fh->log_count++;
  if (level == KEEL_LOG_ERROR) fh->log_errors++;
  pthread_mutex_unlock(&fake_log_lock);
}

static bool fake_log_enabled(const keel_host *h, keel_log_level level) {
  (void)h;
  return level <= KEEL_LOG_DEBUG;
}

static int cvar_find(const fake_host *fh, const char *name) {
  for (uint32_t i = 0; i < fh->cvar_count; i++)
    if (strcmp(fh->cvar_names[i], name) == 0) return (int)i;
  return -1;
}

static keel_result fake_cvar_get(const keel_host *h, const char *name, keel_cvar_value *out) {
  const fake_host *fh = (const fake_host *)h;
  int i = name ? cvar_find(fh, name) : -1;
  if (i < 0) return KEEL_ERR_NOT_FOUND;
  *out = fh->cvar_values[i];
  return KEEL_OK;
}

static keel_result fake_cvar_set(const keel_host *h, const char *name, const char *value, keel_message *error) {
  fake_host *fh = (fake_host *)h;
  int i = name ? cvar_find(fh, name) : -1;
  if (i < 0) {
    if (error) snprintf(error->text, sizeof error->text, "unknown cvar '%s'", name ? name : "(null)");
    return KEEL_ERR_NOT_FOUND;
  }
  keel_cvar_value *v = &fh->cvar_values[i];
  char *end = NULL;
  switch (v->type) {
    case KEEL_CVAR_BOOL:
      if (strcmp(value, "true") && strcmp(value, "false")) goto bad;
      v->b = strcmp(value, "true") == 0;
      break;
    case KEEL_CVAR_INT:
      v->i = strtoll(value, &end, 10);
      if (!end || *end) goto bad;
      break;
    case KEEL_CVAR_FLOAT:
      v->f = strtod(value, &end);
      if (!end || *end) goto bad;
      break;
    case KEEL_CVAR_STRING: break;
  }
  snprintf(v->text, sizeof v->text, "%s", value);
  if (fh->event_count < 1024) {
    keel_script_event *e = &fh->events[fh->event_count++];
    memset(e, 0, sizeof *e);
    e->type = KEEL_EVENT_CVAR_CHANGED;
    snprintf(e->name, sizeof e->name, "%s", name);
    e->value = *v;
  }
  return KEEL_OK;
bad:
  if (error) snprintf(error->text, sizeof error->text, "cvar '%s': bad value '%s'", name, value);
  return KEEL_ERR_INVALID_ARGUMENT;
}

static keel_result fake_cvar_on_change(const keel_host *h, const char *name, keel_cvar_change_fn fn, void *user) {
  (void)h, (void)name, (void)fn, (void)user;
  return KEEL_ERR_UNSUPPORTED;
}

static keel_result fake_jobs_submit(const keel_host *h, const keel_job_desc *jobs, uint32_t count,
                                    keel_job_counter *out) {
  (void)h;
  for (uint32_t i = 0; i < count; i++) jobs[i].fn(jobs[i].user, 0);
  if (out) out->id = 0;
  return KEEL_OK;
}
static keel_result fake_jobs_wait(const keel_host *h, keel_job_counter c) {
  (void)h, (void)c;
  return KEEL_OK;
}
static keel_result fake_parallel_for(const keel_host *h, uint32_t count, uint32_t grain, keel_range_fn fn,
                                     void *user) {
  (void)h, (void)grain;
  if (count) fn(user, 0, count, 0);
  return KEEL_OK;
}
static uint32_t fake_worker_count(const keel_host *h) {
  (void)h;
  return 1;
}
static uint32_t fake_worker_index(const keel_host *h) {
  (void)h;
  return 0;
}
static uint64_t fake_now_ns(const keel_host *h) {
  (void)h;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static void *fake_alloc(const keel_host *h, size_t size, size_t align) {
  (void)h;
  void *p = NULL;
  if (align < sizeof(void *)) align = sizeof(void *);
  return posix_memalign(&p, align, size ? size : 1) == 0 ? p : NULL;
}
static void *fake_realloc(const keel_host *h, void *ptr, size_t size) {
  (void)h;
  return realloc(ptr, size);
}
static void fake_free(const keel_host *h, void *ptr) {
  (void)h;
  free(ptr);
}
static keel_result fake_path_resolve(const keel_host *h, keel_path_root root, const char *rel, char *out,
                                     uint32_t cap) {
  const fake_host *fh = (const fake_host *)h;
  if (!rel || strstr(rel, "..")) return KEEL_ERR_INVALID_ARGUMENT;
  if (root != KEEL_PATH_GAME) return KEEL_ERR_UNSUPPORTED;
  int n = snprintf(out, cap, "%s/%s", fh->game_dir, rel);
  return n < 0 || (uint32_t)n >= cap ? KEEL_ERR_FULL : KEEL_OK;
}
static bool fake_has_window(const keel_host *h) {
  (void)h;
  return false;
}

/* ---- world ---- */

static keel_id fake_id_reserve(void *ctx, keel_object_kind kind) {
  fake_host *fh = ctx;
  (void)kind;
  for (uint32_t i = 1; i < FAKE_MAX_OBJECTS; i++) {
    uint32_t idx = (fh->next_index + i) % FAKE_MAX_OBJECTS;
    if (idx == 0) continue;
    fake_object *o = &fh->objects[idx];
    if (!o->live && o->snap.id == 0) {
      o->generation++;
      o->snap.id = keel_id_make(idx, o->generation); /* reserved, not live yet */
      fh->next_index = idx;
      return o->snap.id;
    }
  }
  return KEEL_ID_INVALID;
}

static fake_object *fake_lookup(fake_host *fh, keel_id id) {
  uint32_t idx = keel_id_index(id);
  if (idx == 0 || idx >= FAKE_MAX_OBJECTS) return NULL;
  fake_object *o = &fh->objects[idx];
  return o->snap.id == id ? o : NULL;
}

static void fake_complete(fake_host *fh, const keel_command *c, keel_result r, const char *msg) {
  if (!c->callback_id || fh->event_count >= 1024) return;
  keel_script_event *e = &fh->events[fh->event_count++];
  memset(e, 0, sizeof *e);
  e->type = KEEL_EVENT_COMPLETED;
  e->callback_id = c->callback_id;
  e->id = c->id;
  e->result = r;
  snprintf(e->message, sizeof e->message, "%s", msg);
}

static void merge_fields(keel_object_fields *dst, const keel_object_fields *src) {
  uint32_t m = src->mask;
  if (m & KEEL_FIELD_MESH) memcpy(dst->mesh, src->mesh, sizeof dst->mesh);
  if (m & KEEL_FIELD_POSITION) dst->position = src->position;
  if (m & KEEL_FIELD_ROTATION) dst->rotation = src->rotation;
  if (m & KEEL_FIELD_SCALE) dst->scale = src->scale;
  if (m & KEEL_FIELD_COLOR) dst->color = src->color;
  if (m & KEEL_FIELD_TARGET) dst->target = src->target;
  if (m & KEEL_FIELD_FOV) dst->fov_degrees = src->fov_degrees;
  if (m & KEEL_FIELD_INTENSITY) dst->intensity = src->intensity;
  if (m & KEEL_FIELD_RANGE) dst->range = src->range;
  if (m & KEEL_FIELD_LIGHT_KIND) dst->light_kind = src->light_kind;
  if (m & KEEL_FIELD_LAYER) dst->layer = src->layer;
  dst->mask |= m;
}

static keel_result fake_command_push(void *ctx, const keel_command *c) {
  fake_host *fh = ctx;
  if (fh->queue_limit && fh->pushed_this_tick >= fh->queue_limit) return KEEL_ERR_FULL;
  fake_object *o = fake_lookup(fh, c->id);
  if (c->type != KEEL_CMD_CREATE && (!o || !o->live || o->snap.kind != c->kind)) return KEEL_ERR_STALE_ID;
  if (c->type == KEEL_CMD_CREATE && (!o || o->live)) return KEEL_ERR_STALE_ID;
  fh->pushed_this_tick++;
  fh->commands++;
  switch (c->type) {
    case KEEL_CMD_CREATE:
      if (!o || o->live) {
        fake_complete(fh, c, KEEL_ERR_STALE_ID, "create: id was not reserved");
        break;
      }
      if (c->kind == KEEL_OBJECT_ENTITY && (c->fields.mask & KEEL_FIELD_MESH) && strcmp(c->fields.mesh, "cube") &&
          strcmp(c->fields.mesh, "sphere") && strcmp(c->fields.mesh, "plane")) {
        char msg[128];
        snprintf(msg, sizeof msg, "unknown mesh '%s' (known: cube, sphere, plane)", c->fields.mesh);
        o->snap.id = 0;
        fake_complete(fh, c, KEEL_ERR_NOT_FOUND, msg);
        break;
      }
      o->live = true;
      o->snap.kind = c->kind;
      memset(&o->snap.fields, 0, sizeof o->snap.fields);
      merge_fields(&o->snap.fields, &c->fields);
      fake_complete(fh, c, KEEL_OK, "");
      break;
    case KEEL_CMD_UPDATE:
    case KEEL_CMD_SET_ACTIVE:
      if (!o || !o->live) {
        fake_complete(fh, c, KEEL_ERR_STALE_ID, "stale id");
        break;
      }
      if (c->type == KEEL_CMD_UPDATE) merge_fields(&o->snap.fields, &c->fields);
      fake_complete(fh, c, KEEL_OK, "");
      break;
    case KEEL_CMD_DESTROY:
      if (!o || !o->live) {
        fake_complete(fh, c, KEEL_ERR_STALE_ID, "stale id");
        break;
      }
      o->live = false;
      o->snap.id = 0;
      fake_complete(fh, c, KEEL_OK, "");
      break;
  }
  return KEEL_OK;
}

static keel_result fake_object_get(void *ctx, keel_id id, keel_object_snapshot *out) {
  fake_host *fh = ctx;
  fake_object *o = fake_lookup(fh, id);
  if (!o || !o->live) return KEEL_ERR_STALE_ID;
  *out = o->snap;
  return KEEL_OK;
}

static uint32_t fake_object_count(void *ctx, keel_object_kind kind) { return fake_host_count(ctx, kind); }

void fake_host_init(fake_host *fh, const char *game_dir) {
  memset(fh, 0, sizeof *fh);
  fh->host.struct_size = KEEL_STRUCT_SIZE(keel_host);
  fh->host.abi_major = KEEL_ABI_MAJOR;
  fh->host.abi_minor = KEEL_ABI_MINOR;
  fh->host.log = fake_log;
  fh->host.log_enabled = fake_log_enabled;
  fh->host.cvar_get = fake_cvar_get;
  fh->host.cvar_set = fake_cvar_set;
  fh->host.cvar_on_change = fake_cvar_on_change;
  fh->host.jobs_submit = fake_jobs_submit;
  fh->host.jobs_wait = fake_jobs_wait;
  fh->host.jobs_parallel_for = fake_parallel_for;
  fh->host.jobs_worker_count = fake_worker_count;
  fh->host.jobs_worker_index = fake_worker_index;
  fh->host.clock_now_ns = fake_now_ns;
  fh->host.mem_alloc = fake_alloc;
  fh->host.mem_realloc = fake_realloc;
  fh->host.mem_free = fake_free;
  fh->host.path_resolve = fake_path_resolve;
  fh->host.platform_has_window = fake_has_window;
  fh->world.struct_size = KEEL_STRUCT_SIZE(keel_script_world);
  fh->world.ctx = fh;
  fh->world.id_reserve = fake_id_reserve;
  fh->world.command_push = fake_command_push;
  fh->world.object_get = fake_object_get;
  fh->world.object_count = fake_object_count;
  snprintf(fh->game_dir, sizeof fh->game_dir, "%s", game_dir ? game_dir : ".");
}

void fake_host_add_cvar(fake_host *fh, const char *name, const keel_cvar_value *value) {
  if (fh->cvar_count >= FAKE_MAX_CVARS) return;
  snprintf(fh->cvar_names[fh->cvar_count], KEEL_NAME_MAX, "%s", name);
  fh->cvar_values[fh->cvar_count++] = *value;
}

bool fake_host_log_has(const fake_host *fh, const char *needle) {
  uint32_t n = fh->log_count < FAKE_MAX_LOG ? fh->log_count : FAKE_MAX_LOG;
  for (uint32_t i = 0; i < n; i++)
    if (strstr(fh->log_lines[i], needle)) return true;
  return false;
}

void fake_host_log_dump(const fake_host *fh) {
  uint32_t n = fh->log_count < FAKE_MAX_LOG ? fh->log_count : FAKE_MAX_LOG;
  for (uint32_t i = 0; i < n; i++) fprintf(stderr, "  log[%u] %s\n", i, fh->log_lines[i]);
}

uint32_t fake_host_take_events(fake_host *fh, keel_script_event *out, uint32_t cap) {
  uint32_t n = fh->event_count < cap ? fh->event_count : cap;
  memcpy(out, fh->events, n * sizeof *out);
  memmove(fh->events, fh->events + n, (fh->event_count - n) * sizeof *out);
  fh->event_count -= n;
  fh->pushed_this_tick = 0;
  return n;
}

uint32_t fake_host_count(const fake_host *fh, keel_object_kind kind) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < FAKE_MAX_OBJECTS; i++)
    if (fh->objects[i].live && fh->objects[i].snap.kind == kind) n++;
  return n;
}
