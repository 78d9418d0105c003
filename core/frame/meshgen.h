/* kc_meshgen: the geometry of the built-in meshes (cube, sphere, plane). The
 * host hands it to every renderer with mesh_create (ABI 1.1), so two
 * backends draw the very same triangles and their images can be compared
 * pixel for pixel. */
#ifndef KC_MESHGEN_H
#define KC_MESHGEN_H

#include <keel/renderer.h>

/* Sphere tessellation: 24 slices x 11 stacks, 480 triangles (the same
 * density as the render anchors' sphere, so benchmarks compare like with
 * like). */
#define KC_MESHGEN_SPHERE_SLICES 24u
#define KC_MESHGEN_SPHERE_STACKS 11u
#define KC_MESHGEN_MAX_VERTICES ((KC_MESHGEN_SPHERE_SLICES + 1u) * (KC_MESHGEN_SPHERE_STACKS + 1u))
#define KC_MESHGEN_MAX_INDICES (KC_MESHGEN_SPHERE_SLICES * KC_MESHGEN_SPHERE_STACKS * 6u)

typedef struct kc_mesh_data {
  float positions[KC_MESHGEN_MAX_VERTICES * 3];
  float normals[KC_MESHGEN_MAX_VERTICES * 3];
  uint32_t indices[KC_MESHGEN_MAX_INDICES];
  uint32_t vertex_count, index_count;
} kc_mesh_data;

/* Fills *out with the built-in `kind` (a triangle list, counter-clockwise
 * seen from outside, unit normals) and returns true; false for
 * KEEL_MESH_CUSTOM or an unknown kind. Any thread. */
bool kc_meshgen_builtin(keel_mesh_builtin kind, kc_mesh_data *out);

/* A mesh desc pointing into *data (which must outlive its use). */
keel_mesh_desc kc_meshgen_desc(keel_mesh_builtin kind, const kc_mesh_data *data);

#endif
