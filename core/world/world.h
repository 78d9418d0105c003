/* kc_world: the engine's game state — entities, cameras and lights — kept in
 * double-buffered state buffers (DESIGN §3-§4). Scripts never touch it: the
 * script worker reserves ids and checks its commands against its own view,
 * the main thread applies the commands to the back side and publishes the
 * front between ticks. Render resources (meshes) are not stored here: a
 * record holds a mesh *name id*, the renderer's resource manager maps it. */
#ifndef KC_WORLD_H
#define KC_WORLD_H

#include <keel/script.h>
#include <keel/types.h>

#include "base/err.h"
#include "sync/state_buffer.h"

/* Stored records. POD, fixed size, compared bytewise by the world hash, so
 * every byte (padding included) is always written. */
typedef struct kc_entity_rec {
  keel_vec3 position;
  keel_quat rotation;
  keel_vec3 scale;
  keel_color color;
  uint32_t mesh;  /* kc_world mesh name id, 1.. */
  uint32_t layer; /* keel_layer */
} kc_entity_rec; /* 64 bytes */

typedef struct kc_camera_rec {
  keel_vec3 position;
  keel_vec3 target;
  float fov_degrees;
  uint32_t active; /* 1 for the one active camera */
} kc_camera_rec;

typedef struct kc_light_rec {
  keel_vec3 position;
  keel_color color;
  float intensity;
  float range;
  uint32_t kind; /* keel_light_kind */
} kc_light_rec;

#define KC_WORLD_MESH_MAX 64

typedef struct kc_world_config {
  uint32_t max_entities; /* 0 = 65536 */
  uint32_t max_cameras;  /* 0 = 64 */
  uint32_t max_lights;   /* 0 = 256 */
  kc_state_copy_mode copy_mode;
  uint64_t swap_timeout_ns; /* 0 = the state buffer's default (10 ms) */
} kc_world_config;

/* Counters of the world as a whole: the three buffers' swap metrics added up
 * (the dirty ratio is the entities' one: they dominate), plus commands. */
typedef struct kc_world_metrics {
  kc_state_metrics entities;
  uint64_t swaps, skipped_swaps, records_copied, swap_errors, swap_timeouts;
  uint64_t commands_applied; /* commands that changed the back state */
  uint64_t commands_failed;  /* commands refused on the main thread (unknown mesh, stale id) */
  uint64_t commands_refused; /* commands the worker's check refused (stale id, malformed) */
} kc_world_metrics;

typedef struct kc_world kc_world;

/* Creates an empty world with the built-in meshes "cube", "sphere" and
 * "plane" registered. Thread: main, before other threads see it. The caller
 * owns *out (kc_world_destroy). */
keel_result kc_world_create(const kc_world_config *cfg, kc_world **out, kc_err *err);
void kc_world_destroy(kc_world *w);

/* ---- Script worker side (one thread: the script worker) -------------------
 * The worker's view of which ids it reserved, created and destroyed; commands
 * are applied in FIFO order on the main thread, so the worker can reuse a slot
 * it destroyed at once under the next generation. */

/* A fresh id of `kind`, or KEEL_ID_INVALID when the kind's table is full. */
keel_id kc_world_reserve(kc_world *w, keel_object_kind kind);
/* Checks a command against the worker's view and, if it passes, records its
 * effect there (CREATE makes the id live, DESTROY frees the slot).
 * KEEL_ERR_STALE_ID / KEEL_ERR_INVALID_ARGUMENT with nothing recorded. */
keel_result kc_world_check(kc_world *w, const keel_command *cmd);
/* Gives back an id reserved for a create that is not going to be sent (the
 * worker refused it before its check). Nothing for any other id. */
void kc_world_unreserve(kc_world *w, keel_id id);
/* Undoes kc_world_check's record of a command that could not be queued after
 * all (the queue was full), so the worker's view stays what the main thread
 * will see. */
void kc_world_uncheck(kc_world *w, const keel_command *cmd);

/* ---- Main thread ---------------------------------------------------------- */

/* Applies one command to the back state. An unknown mesh, a stale id or a
 * full table fail with a message in *err and change nothing. */
keel_result kc_world_apply(kc_world *w, const keel_command *cmd, kc_err *err);
/* Publishes the back state to the front (all three buffers). On a failed swap
 * the front stays as it was and the next publish retries (nothing is lost). */
keel_result kc_world_publish(kc_world *w, kc_err *err);
/* Registers a mesh name (or finds it); returns its id 1.., 0 when the table
 * is full. Thread: main. */
uint32_t kc_world_mesh_register(kc_world *w, const char *name);
/* The mesh name for an id, or NULL. Thread: any (names never change). */
const char *kc_world_mesh_name(const kc_world *w, uint32_t mesh);
void kc_world_metrics_get(const kc_world *w, kc_world_metrics *out);
/* Arms state-buffer faults on the entity buffer (tests). */
void kc_world_inject_fault(kc_world *w, unsigned faults);

/* ---- Front side: main thread, or the script worker between ticks ---------
 * The core publishes only while the worker is idle (handoff), so the worker
 * reads the front without locks during a tick. */
keel_result kc_world_get(const kc_world *w, keel_id id, keel_object_snapshot *out);
uint32_t kc_world_count(const kc_world *w, keel_object_kind kind);
/* kc_world_get / kc_world_count for any other thread (one-off scripts on job
 * workers): inside the buffer's read section, so a publish waits for the
 * read (bounded by the swap's lock budget) instead of racing it. */
keel_result kc_world_get_shared(kc_world *w, keel_id id, keel_object_snapshot *out);
uint32_t kc_world_count_shared(kc_world *w, keel_object_kind kind);
/* The active camera on the front, or KEEL_ID_INVALID. */
keel_id kc_world_active_camera(const kc_world *w, kc_camera_rec *out);
/* FNV-1a of the three front buffers' hashes: equal worlds, equal hashes. */
uint64_t kc_world_hash(const kc_world *w);
/* The entity and light buffers, for Extract to walk (kc_state_front_next). */
const kc_state_buffer *kc_world_entities(const kc_world *w);
const kc_state_buffer *kc_world_lights(const kc_world *w);
/* The world id of the object of `kind` in state-buffer slot id `sid` (what
 * kc_state_front_next returns). Any thread. */
keel_id kc_world_object_id(keel_object_kind kind, kc_state_id sid);

#endif
