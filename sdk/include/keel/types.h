/* keel/types.h: plain value types shared by the host and every plugin:
 * generational ids, vectors, rotations, colours, matrices and handles.
 * All are POD, safe to copy across threads and through queues. */
#ifndef KEEL_TYPES_H
#define KEEL_TYPES_H

#include <keel/abi.h>

/* An id of an entity, camera or light. Opaque to plugins and scripts:
 * compare it, copy it, hand it back, print it; never take it apart or make
 * one (the core's layout may change in any release, and the helpers below
 * are the core's). It stays below 2^53, so a JavaScript number or a JSON
 * encoder that writes %.14g holds it exactly, and the ids a game sees first
 * are small: 1, 2, 3 ... for entities, and at most 10 digits for a slot's
 * first three generations (a slot reused twice). 0 is never a valid id.
 * Today's layout:
 *   bits  0..31  index (the core's slot and kind)
 *   bits 32..52  generation (0.., advanced when a slot is reused)
 *   bits 53..63  always 0 */
typedef uint64_t keel_id;
#define KEEL_ID_INVALID ((keel_id)0)
#define KEEL_ID_GENERATION_BITS 21u
#define KEEL_ID_INDEX_BITS 32u
#define KEEL_ID_GENERATION_MAX ((1u << KEEL_ID_GENERATION_BITS) - 1u)

/* Packing and unpacking ids (the core's: see above). Pure functions, any
 * thread. */
static inline keel_id keel_id_make(uint32_t index, uint32_t generation) {
  return ((keel_id)(generation & KEEL_ID_GENERATION_MAX) << KEEL_ID_INDEX_BITS) | (keel_id)index;
}
static inline uint32_t keel_id_index(keel_id id) { return (uint32_t)id; }
static inline uint32_t keel_id_generation(keel_id id) {
  return (uint32_t)(id >> KEEL_ID_INDEX_BITS) & KEEL_ID_GENERATION_MAX;
}

typedef struct keel_vec3 { float x, y, z; } keel_vec3;
/* Unit quaternion; identity is {0, 0, 0, 1}. */
typedef struct keel_quat { float x, y, z, w; } keel_quat;
/* Linear RGBA, components in [0, 1]. */
typedef struct keel_color { float r, g, b, a; } keel_color;
/* Column-major 4x4 matrix (m[column * 4 + row]), the layout GLSL and cglm use. */
typedef struct keel_mat4 { float m[16]; } keel_mat4;

typedef struct keel_transform {
  keel_vec3 position;
  keel_quat rotation;
  keel_vec3 scale;
} keel_transform;

/* What a light is. Used by scripts (keel/script.h) and renderers. */
typedef enum keel_light_kind {
  KEEL_LIGHT_POINT = 0,      /* shines from a position, fading out at its range */
  KEEL_LIGHT_DIRECTIONAL = 1 /* shines from far away along one direction (the sun) */
} keel_light_kind;

/* Which layer an entity is drawn in (1.1). */
typedef enum keel_layer {
  KEEL_LAYER_WORLD = 0, /* the 3D scene: the active camera, lit, depth-tested */
  KEEL_LAYER_SCREEN = 1 /* over the world: pixel units, origin top-left, unlit */
} keel_layer;

/* Renderer resource handle: index + generation in 32 bits, 0 = invalid.
 * Owned by the renderer that returned it. */
typedef struct keel_mesh { uint32_t id; } keel_mesh;

/* Fixed inline text for error messages that cross the ABI: the callee fills
 * it, the caller owns it. Never a pointer into another module's heap. */
typedef struct keel_message { char text[KEEL_MESSAGE_MAX]; } keel_message;

#endif /* KEEL_TYPES_H */
