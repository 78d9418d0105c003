/* The world: three state buffers (entities, cameras, lights), the script
 * worker's view of the ids it handed out, and the application of commands on
 * the main thread. See world.h for the thread split. */
#include "world/world.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* World ids (keel/types.h's layout): the 32-bit index holds the kind in its
 * top two bits (entity 0, camera 1, light 2: entity ids are the small ones)
 * and the slot + 1 below them, so no id is 0 even at generation 0, and
 * object_get needs only the id. Generations start at 0 and wrap before
 * KEEL_ID_GENERATION_MAX; the state buffers count theirs from 1, so theirs
 * is ours + 1. The first entities are 1, 2, 3 ..., the first camera
 * 1073741825, the first light 2147483649, and a slot reused once gives
 * 4294967297 + slot: at most 10 digits for a slot's first three
 * generations. */
#define KIND_SHIFT 30u
#define SLOT_MASK ((1u << KIND_SHIFT) - 1u) /* slot + 1 */
#define GEN_WRAP KEEL_ID_GENERATION_MAX      /* generations 0 .. GEN_WRAP - 1 */
#define KIND_COUNT 3

enum { VIEW_FREE = 0, VIEW_RESERVED = 1, VIEW_LIVE = 2 };

/* The worker's view of one kind's ids. Touched by the script worker only. */
typedef struct id_view {
  uint32_t capacity;
  uint32_t hwm;        /* slots ever handed out */
  uint32_t *gen;       /* current generation per slot */
  uint8_t *state;      /* VIEW_* per slot */
  uint32_t *free_list; /* LIFO stack of freed slots */
  uint32_t free_count;
} id_view;

struct kc_world {
  kc_state_buffer *buf[KIND_COUNT];
  id_view view[KIND_COUNT];
  keel_id active_camera_back; /* main thread's idea of the active camera */
  char meshes[KC_WORLD_MESH_MAX][KEEL_NAME_MAX];
  uint32_t mesh_count;
  uint64_t applied, failed; /* main thread */
  _Atomic uint64_t refused; /* counted by the script worker, read by main's stats */

  /* Ids of creates the main thread refused (an unknown mesh): handed back
   * to the worker's view, which frees them, so refused creates never use
   * up the id table. Cold path: a lock, and a count the worker reads
   * without it. */
  pthread_mutex_t released_lock;
  keel_id *released;
  size_t released_count, released_cap;
  _Atomic size_t released_pending;
};

static const char *const kind_names[KIND_COUNT] = {"entity", "camera", "light"};

static int kind_index(keel_object_kind kind) {
  return kind >= KEEL_OBJECT_ENTITY && kind <= KEEL_OBJECT_LIGHT ? (int)kind - 1 : -1;
}

/* The kind an id names, or 0 for a value that is no id (0, bits above 2^53,
 * a kind code that does not exist). */
static keel_object_kind id_kind(keel_id id) {
  uint32_t index = keel_id_index(id);
  if ((id >> (KEEL_ID_INDEX_BITS + KEEL_ID_GENERATION_BITS)) != 0 || (index & SLOT_MASK) == 0) return 0;
  uint32_t code = index >> KIND_SHIFT;
  return code < KIND_COUNT ? (keel_object_kind)(code + 1) : 0;
}

/* The slot of an id id_kind accepted. */
static uint32_t id_slot(keel_id id) { return (keel_id_index(id) & SLOT_MASK) - 1u; }

static keel_id world_id(keel_object_kind kind, uint32_t slot, uint32_t gen) {
  return keel_id_make(((uint32_t)(kind - 1) << KIND_SHIFT) | (slot + 1u), gen);
}

static kc_state_id state_id(keel_id id) { return kc_state_id_make(id_slot(id), keel_id_generation(id) + 1u); }

static keel_id from_state_id(keel_object_kind kind, kc_state_id sid) {
  return world_id(kind, kc_state_id_index(sid), kc_state_id_generation(sid) - 1u);
}

static void view_free(id_view *v) {
  free(v->gen);
  free(v->state);
  free(v->free_list);
}

static bool view_init(id_view *v, uint32_t capacity) {
  memset(v, 0, sizeof *v);
  v->capacity = capacity;
  v->gen = calloc(capacity, sizeof *v->gen);
  v->state = calloc(capacity, sizeof *v->state);
  v->free_list = malloc((size_t)capacity * sizeof *v->free_list);
  return v->gen && v->state && v->free_list;
}

keel_result kc_world_create(const kc_world_config *cfg, kc_world **out, kc_err *err) {
  *out = NULL;
  kc_world_config c = cfg ? *cfg : (kc_world_config){0};
  uint32_t caps[KIND_COUNT] = {c.max_entities ? c.max_entities : 65536, c.max_cameras ? c.max_cameras : 64,
                               c.max_lights ? c.max_lights : 256};
  uint32_t sizes[KIND_COUNT] = {sizeof(kc_entity_rec), sizeof(kc_camera_rec), sizeof(kc_light_rec)};
  kc_world *w = calloc(1, sizeof *w);
  if (!w) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "world: out of memory");
  pthread_mutex_init(&w->released_lock, NULL);
  for (int k = 0; k < KIND_COUNT; k++) {
    if (caps[k] >= SLOT_MASK) {
      kc_world_destroy(w);
      return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "world: at most %u %ss, not %" PRIu32, SLOT_MASK,
                        kind_names[k], caps[k]);
    }
    kc_state_config sc = {.record_size = sizes[k],
                          .capacity = caps[k],
                          .copy_mode = c.copy_mode,
                          .lock_timeout_ns = c.swap_timeout_ns,
                          .name = kind_names[k],
                          .external_ids = true};
    keel_result r = kc_state_init(&w->buf[k], &sc, err);
    if (r != KEEL_OK) {
      kc_world_destroy(w);
      return r;
    }
    if (!view_init(&w->view[k], caps[k])) {
      kc_world_destroy(w);
      return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "world: out of memory for %u %s ids", caps[k], kind_names[k]);
    }
  }
  kc_world_mesh_register(w, "cube");
  kc_world_mesh_register(w, "sphere");
  kc_world_mesh_register(w, "plane");
  *out = w;
  return KEEL_OK;
}

void kc_world_destroy(kc_world *w) {
  if (!w) return;
  for (int k = 0; k < KIND_COUNT; k++) {
    kc_state_destroy(w->buf[k]);
    view_free(&w->view[k]);
  }
  pthread_mutex_destroy(&w->released_lock);
  free(w->released);
  free(w);
}

/* ---- worker side ---- */

/* The view slot an id names, or NULL when the id is not current. */
static id_view *view_lookup(kc_world *w, keel_id id, keel_object_kind kind, uint32_t *slot) {
  int k = kind_index(kind);
  if (k < 0 || id_kind(id) != kind) return NULL;
  id_view *v = &w->view[k];
  uint32_t s = id_slot(id);
  if (s >= v->hwm || v->gen[s] != keel_id_generation(id)) return NULL;
  *slot = s;
  return v;
}

/* Frees, in the worker's view, the ids whose create the main thread
 * refused (and that the script has not destroyed or reused since). */
static void take_released(kc_world *w) {
  if (atomic_load_explicit(&w->released_pending, memory_order_acquire) == 0) return;
  pthread_mutex_lock(&w->released_lock);
  keel_id *ids = w->released;
  size_t n = w->released_count;
  w->released = NULL;
  w->released_count = w->released_cap = 0;
  atomic_store_explicit(&w->released_pending, 0, memory_order_relaxed);
  pthread_mutex_unlock(&w->released_lock);
  for (size_t i = 0; i < n; i++) {
    uint32_t slot;
    id_view *v = view_lookup(w, ids[i], id_kind(ids[i]), &slot);
    if (!v || v->state[slot] != VIEW_LIVE) continue;
    v->state[slot] = VIEW_FREE;
    v->free_list[v->free_count++] = slot;
  }
  free(ids);
}

keel_id kc_world_reserve(kc_world *w, keel_object_kind kind) {
  int k = kind_index(kind);
  if (k < 0) return KEEL_ID_INVALID;
  take_released(w);
  id_view *v = &w->view[k];
  uint32_t slot, gen;
  if (v->free_count) {
    slot = v->free_list[--v->free_count];
    gen = (v->gen[slot] + 1u) % GEN_WRAP;
  } else if (v->hwm < v->capacity) {
    slot = v->hwm++;
    gen = 0;
  } else {
    return KEEL_ID_INVALID;
  }
  v->gen[slot] = gen;
  v->state[slot] = VIEW_RESERVED;
  return world_id(kind, slot, gen);
}

/* What a command may carry, checked before it is queued so the main thread
 * and the renderer never see it: finite numbers in the float range (NaN or
 * infinity would reach float-to-integer conversions), a NUL-terminated
 * mesh name, a known layer and light kind. Runtimes check the same with
 * better messages; this holds for every runtime. */
static bool finite_all(const float *v, int n) {
  for (int i = 0; i < n; i++)
    if (!isfinite(v[i])) return false;
  return true;
}

static bool fields_valid(const keel_object_fields *f) {
  uint32_t m = f->mask;
  if ((m & KEEL_FIELD_MESH) && !memchr(f->mesh, '\0', sizeof f->mesh)) return false;
  if ((m & KEEL_FIELD_POSITION) && !finite_all(&f->position.x, 3)) return false;
  if ((m & KEEL_FIELD_ROTATION) && !finite_all(&f->rotation.x, 4)) return false;
  if ((m & KEEL_FIELD_SCALE) && !finite_all(&f->scale.x, 3)) return false;
  if ((m & KEEL_FIELD_COLOR) && !finite_all(&f->color.r, 4)) return false;
  if ((m & KEEL_FIELD_TARGET) && !finite_all(&f->target.x, 3)) return false;
  if ((m & KEEL_FIELD_FOV) && !isfinite(f->fov_degrees)) return false;
  if ((m & KEEL_FIELD_INTENSITY) && !isfinite(f->intensity)) return false;
  if ((m & KEEL_FIELD_RANGE) && !isfinite(f->range)) return false;
  return true;
}

keel_result kc_world_check(kc_world *w, const keel_command *cmd) {
  take_released(w);
  uint32_t slot = 0; /* set whenever view_lookup finds a view; the optimiser cannot tell */
  id_view *v = view_lookup(w, cmd->id, cmd->kind, &slot);
  if (cmd->type < KEEL_CMD_CREATE || cmd->type > KEEL_CMD_SET_ACTIVE ||
      (cmd->type == KEEL_CMD_SET_ACTIVE && cmd->kind != KEEL_OBJECT_CAMERA) ||
      ((cmd->type == KEEL_CMD_CREATE || cmd->type == KEEL_CMD_UPDATE) && !fields_valid(&cmd->fields))) {
    atomic_fetch_add_explicit(&w->refused, 1, memory_order_relaxed);
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  uint8_t want = cmd->type == KEEL_CMD_CREATE ? VIEW_RESERVED : VIEW_LIVE;
  if (!v || v->state[slot] != want) {
    atomic_fetch_add_explicit(&w->refused, 1, memory_order_relaxed);
    return KEEL_ERR_STALE_ID;
  }
  if (cmd->type == KEEL_CMD_CREATE) {
    v->state[slot] = VIEW_LIVE;
  } else if (cmd->type == KEEL_CMD_DESTROY) {
    v->state[slot] = VIEW_FREE;
    v->free_list[v->free_count++] = slot;
  }
  return KEEL_OK;
}

void kc_world_unreserve(kc_world *w, keel_id id) {
  uint32_t slot;
  id_view *v = view_lookup(w, id, id_kind(id), &slot);
  if (!v || v->state[slot] != VIEW_RESERVED) return;
  v->state[slot] = VIEW_FREE;
  v->free_list[v->free_count++] = slot;
}

void kc_world_uncheck(kc_world *w, const keel_command *cmd) {
  uint32_t slot;
  id_view *v = view_lookup(w, cmd->id, cmd->kind, &slot);
  if (!v) return;
  if (cmd->type == KEEL_CMD_CREATE) {
    /* The id never reached the script as created: release the reservation. */
    v->state[slot] = VIEW_FREE;
    v->free_list[v->free_count++] = slot;
  } else if (cmd->type == KEEL_CMD_DESTROY && v->state[slot] == VIEW_FREE && v->free_count &&
             v->free_list[v->free_count - 1] == slot) {
    v->free_count--;
    v->state[slot] = VIEW_LIVE;
  }
}

/* ---- main side ---- */

static uint32_t mesh_find(const kc_world *w, const char *name) {
  for (uint32_t i = 0; i < w->mesh_count; i++)
    if (strncmp(w->meshes[i], name, KEEL_NAME_MAX) == 0) return i + 1;
  return 0;
}

uint32_t kc_world_mesh_register(kc_world *w, const char *name) {
  uint32_t known = mesh_find(w, name);
  if (known) return known;
  if (w->mesh_count == KC_WORLD_MESH_MAX || !name[0]) return 0;
  size_t n = strnlen(name, KEEL_NAME_MAX - 1);
  memcpy(w->meshes[w->mesh_count], name, n);
  w->meshes[w->mesh_count][n] = '\0';
  return ++w->mesh_count;
}

const char *kc_world_mesh_name(const kc_world *w, uint32_t mesh) {
  return mesh >= 1 && mesh <= w->mesh_count ? w->meshes[mesh - 1] : NULL;
}

/* Messages name the failure, not the id: they reach the script as the
 * callback's error (docs/scripting.md §3); the log line adds the id. */
static keel_result fail(kc_world *w, kc_err *err, keel_result code, const char *fmt, const char *a) {
  w->failed++;
  return kc_err_set(err, code, fmt, a);
}

/* Merges the masked fields of f into the record of kind k. Unknown meshes
 * fail before anything is written. */
static keel_result merge(kc_world *w, int k, void *rec, const keel_object_fields *f, kc_err *err) {
  uint32_t m = f->mask;
  if (k == 0) {
    kc_entity_rec *e = rec;
    if ((m & KEEL_FIELD_LAYER) && f->layer != KEEL_LAYER_WORLD && f->layer != KEEL_LAYER_SCREEN) {
      w->failed++;
      return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "unknown layer %u (0 world, 1 screen)", (unsigned)f->layer);
    }
    if (m & KEEL_FIELD_MESH) {
      char name[KEEL_NAME_MAX];
      memcpy(name, f->mesh, KEEL_NAME_MAX);
      name[KEEL_NAME_MAX - 1] = '\0';
      uint32_t mesh = mesh_find(w, name);
      if (!mesh) {
        char known[KC_WORLD_MESH_MAX * 8] = "";
        for (uint32_t i = 0; i < w->mesh_count && strlen(known) + KEEL_NAME_MAX + 2 < sizeof known; i++) {
          if (i) strcat(known, ", ");
          strcat(known, w->meshes[i]);
        }
        w->failed++;
        return kc_err_set(err, KEEL_ERR_NOT_FOUND, "unknown mesh '%s' (known: %s)", name, known);
      }
      e->mesh = mesh;
    }
    if (m & KEEL_FIELD_POSITION) e->position = f->position;
    if (m & KEEL_FIELD_ROTATION) e->rotation = f->rotation;
    if (m & KEEL_FIELD_SCALE) e->scale = f->scale;
    if (m & KEEL_FIELD_COLOR) e->color = f->color;
    if (m & KEEL_FIELD_LAYER) e->layer = (uint32_t)f->layer;
  } else if (k == 1) {
    kc_camera_rec *c = rec;
    if (m & KEEL_FIELD_POSITION) c->position = f->position;
    if (m & KEEL_FIELD_TARGET) c->target = f->target;
    if (m & KEEL_FIELD_FOV) c->fov_degrees = f->fov_degrees;
  } else {
    kc_light_rec *l = rec;
    if (m & KEEL_FIELD_POSITION) l->position = f->position;
    if (m & KEEL_FIELD_COLOR) l->color = f->color;
    if (m & KEEL_FIELD_INTENSITY) l->intensity = f->intensity;
    if (m & KEEL_FIELD_RANGE) l->range = f->range;
    if (m & KEEL_FIELD_LIGHT_KIND) l->kind = (uint32_t)f->light_kind;
  }
  return KEEL_OK;
}

static void record_defaults(int k, void *rec) {
  if (k == 0) {
    kc_entity_rec *e = rec;
    memset(e, 0, sizeof *e);
    e->rotation.w = 1.0f;
    e->scale = (keel_vec3){1.0f, 1.0f, 1.0f};
    e->color = (keel_color){1.0f, 1.0f, 1.0f, 1.0f};
    e->mesh = 1; /* cube */
  } else if (k == 1) {
    kc_camera_rec *c = rec;
    memset(c, 0, sizeof *c);
    c->fov_degrees = 60.0f;
  } else {
    kc_light_rec *l = rec;
    memset(l, 0, sizeof *l);
    l->color = (keel_color){1.0f, 1.0f, 1.0f, 1.0f};
    l->intensity = 1.0f;
    l->range = 10.0f;
  }
}

/* A create the main thread refused: its id goes back to the worker. */
static void release_id(kc_world *w, keel_id id) {
  pthread_mutex_lock(&w->released_lock);
  if (w->released_count == w->released_cap) {
    size_t cap = w->released_cap ? w->released_cap * 2 : 64;
    keel_id *grown = realloc(w->released, cap * sizeof *grown);
    if (!grown) {
      pthread_mutex_unlock(&w->released_lock);
      return; /* the slot stays taken: out of memory on a cold path */
    }
    w->released = grown;
    w->released_cap = cap;
  }
  w->released[w->released_count++] = id;
  atomic_store_explicit(&w->released_pending, w->released_count, memory_order_release);
  pthread_mutex_unlock(&w->released_lock);
}

keel_result kc_world_apply(kc_world *w, const keel_command *cmd, kc_err *err) {
  int k = kind_index(cmd->kind);
  if (k < 0 || id_kind(cmd->id) != cmd->kind)
    return fail(w, err, KEEL_ERR_INVALID_ARGUMENT, "command for an id of another kind than %s",
                k < 0 ? "?" : kind_names[k]);
  kc_state_buffer *buf = w->buf[k];
  kc_state_id sid = state_id(cmd->id);
  union {
    kc_entity_rec e;
    kc_camera_rec c;
    kc_light_rec l;
  } rec;
  keel_result r;
  switch (cmd->type) {
    case KEEL_CMD_CREATE:
      record_defaults(k, &rec);
      r = merge(w, k, &rec, &cmd->fields, err);
      if (r == KEEL_OK && (r = kc_state_create_at(buf, sid, &rec, err)) != KEEL_OK) w->failed++;
      if (r != KEEL_OK) {
        release_id(w, cmd->id);
        return r;
      }
      break;
    case KEEL_CMD_UPDATE: {
      void *p = NULL;
      r = kc_state_back_get(buf, sid, &p, NULL);
      if (r != KEEL_OK) return fail(w, err, r, "%s update: not a live object", kind_names[k]);
      /* Merge into a copy so an unknown mesh leaves the record untouched. */
      memcpy(&rec, p, kc_state_record_size(buf));
      r = merge(w, k, &rec, &cmd->fields, err);
      if (r != KEEL_OK) return r;
      memcpy(p, &rec, kc_state_record_size(buf));
      break;
    }
    case KEEL_CMD_DESTROY:
      r = kc_state_remove(buf, sid, NULL);
      if (r != KEEL_OK) return fail(w, err, r, "%s destroy: not a live object", kind_names[k]);
      if (cmd->id == w->active_camera_back) w->active_camera_back = KEEL_ID_INVALID;
      break;
    case KEEL_CMD_SET_ACTIVE: {
      void *p = NULL;
      if (k != 1) return fail(w, err, KEEL_ERR_INVALID_ARGUMENT, "set_active on a %s", kind_names[k]);
      r = kc_state_back_get(buf, sid, &p, NULL);
      if (r != KEEL_OK) return fail(w, err, r, "%s set_active: not a live camera", kind_names[k]);
      if (w->active_camera_back && w->active_camera_back != cmd->id) {
        void *old = NULL;
        if (kc_state_back_get(buf, state_id(w->active_camera_back), &old, NULL) == KEEL_OK)
          ((kc_camera_rec *)old)->active = 0;
      }
      ((kc_camera_rec *)p)->active = 1;
      w->active_camera_back = cmd->id;
      break;
    }
    default:
      return fail(w, err, KEEL_ERR_INVALID_ARGUMENT, "unknown command type for a %s", kind_names[k]);
  }
  w->applied++;
  return KEEL_OK;
}

keel_result kc_world_publish(kc_world *w, kc_err *err) {
  keel_result first = KEEL_OK;
  for (int k = 0; k < KIND_COUNT; k++) {
    keel_result r = kc_state_swap(w->buf[k], first == KEEL_OK ? err : NULL);
    if (r != KEEL_OK && first == KEEL_OK) first = r;
  }
  return first;
}

void kc_world_metrics_get(const kc_world *w, kc_world_metrics *out) {
  memset(out, 0, sizeof *out);
  for (int k = 0; k < KIND_COUNT; k++) {
    kc_state_metrics m;
    kc_state_get_metrics(w->buf[k], &m);
    if (k == 0) out->entities = m;
    out->swaps += m.swaps;
    out->skipped_swaps += m.skipped_swaps;
    out->records_copied += m.records_copied;
    out->swap_errors += m.errors;
    out->swap_timeouts += m.timeouts;
  }
  out->commands_applied = w->applied;
  out->commands_failed = w->failed;
  out->commands_refused = atomic_load_explicit(&w->refused, memory_order_relaxed);
}

void kc_world_inject_fault(kc_world *w, unsigned faults) { kc_state_inject_fault(w->buf[0], faults); }

/* ---- front side ---- */

keel_result kc_world_get(const kc_world *w, keel_id id, keel_object_snapshot *out) {
  keel_object_kind kind = id_kind(id);
  int k = kind_index(kind);
  if (k < 0 || id == KEEL_ID_INVALID) return KEEL_ERR_NOT_FOUND;
  const void *p = NULL;
  keel_result r = kc_state_front_get(w->buf[k], state_id(id), &p, NULL);
  if (r != KEEL_OK) return r == KEEL_ERR_INVALID_ARGUMENT ? KEEL_ERR_NOT_FOUND : r;
  memset(out, 0, sizeof *out);
  out->kind = kind;
  out->id = id;
  keel_object_fields *f = &out->fields;
  if (k == 0) {
    const kc_entity_rec *e = p;
    f->mask = KEEL_FIELD_MESH | KEEL_FIELD_POSITION | KEEL_FIELD_ROTATION | KEEL_FIELD_SCALE | KEEL_FIELD_COLOR |
              KEEL_FIELD_LAYER;
    const char *name = kc_world_mesh_name(w, e->mesh);
    snprintf(f->mesh, sizeof f->mesh, "%s", name ? name : "");
    f->position = e->position;
    f->rotation = e->rotation;
    f->scale = e->scale;
    f->color = e->color;
    f->layer = (keel_layer)e->layer;
  } else if (k == 1) {
    const kc_camera_rec *c = p;
    f->mask = KEEL_FIELD_POSITION | KEEL_FIELD_TARGET | KEEL_FIELD_FOV;
    f->position = c->position;
    f->target = c->target;
    f->fov_degrees = c->fov_degrees;
  } else {
    const kc_light_rec *l = p;
    f->mask = KEEL_FIELD_POSITION | KEEL_FIELD_COLOR | KEEL_FIELD_INTENSITY | KEEL_FIELD_RANGE | KEEL_FIELD_LIGHT_KIND;
    f->position = l->position;
    f->color = l->color;
    f->intensity = l->intensity;
    f->range = l->range;
    f->light_kind = (keel_light_kind)l->kind;
  }
  return KEEL_OK;
}

uint32_t kc_world_count(const kc_world *w, keel_object_kind kind) {
  int k = kind_index(kind);
  return k < 0 ? 0 : kc_state_front_count(w->buf[k]);
}

keel_result kc_world_get_shared(kc_world *w, keel_id id, keel_object_snapshot *out) {
  int k = kind_index(id_kind(id));
  if (k < 0 || id == KEEL_ID_INVALID) return KEEL_ERR_NOT_FOUND;
  kc_state_read_begin(w->buf[k]);
  keel_result r = kc_world_get(w, id, out);
  kc_state_read_end(w->buf[k]);
  return r;
}

uint32_t kc_world_count_shared(kc_world *w, keel_object_kind kind) {
  int k = kind_index(kind);
  if (k < 0) return 0;
  kc_state_read_begin(w->buf[k]);
  uint32_t n = kc_state_front_count(w->buf[k]);
  kc_state_read_end(w->buf[k]);
  return n;
}

keel_id kc_world_active_camera(const kc_world *w, kc_camera_rec *out) {
  uint32_t cursor = 0;
  kc_state_id sid;
  const void *rec;
  while (kc_state_front_next(w->buf[1], &cursor, &sid, &rec)) {
    const kc_camera_rec *c = rec;
    if (c->active) {
      if (out) *out = *c;
      return from_state_id(KEEL_OBJECT_CAMERA, sid);
    }
  }
  return KEEL_ID_INVALID;
}

uint64_t kc_world_hash(const kc_world *w) {
  uint64_t h = 1469598103934665603ull;
  for (int k = 0; k < KIND_COUNT; k++) {
    uint64_t part = kc_state_front_hash(w->buf[k]);
    for (int b = 0; b < 8; b++) {
      h ^= (part >> (8 * b)) & 0xffu;
      h *= 1099511628211ull;
    }
  }
  return h;
}

const kc_state_buffer *kc_world_entities(const kc_world *w) { return w->buf[0]; }
const kc_state_buffer *kc_world_lights(const kc_world *w) { return w->buf[2]; }

keel_id kc_world_object_id(keel_object_kind kind, kc_state_id sid) { return from_state_id(kind, sid); }
