/* The built-in meshes the host hands every renderer: well-formed triangle
 * lists, unit normals, and every triangle wound counter-clockwise seen from
 * outside (its face normal agrees with its vertex normals), so back-face
 * culling keeps the faces a viewer should see, in every backend. */
#include "keel_test.h"

#include <math.h>

#include "frame/meshgen.h"

static kc_mesh_data mesh;

static void check_builtin(keel_mesh_builtin kind, uint32_t vertices, uint32_t triangles) {
  CU_ASSERT_TRUE_FATAL(kc_meshgen_builtin(kind, &mesh));
  CU_ASSERT_EQUAL(mesh.vertex_count, vertices);
  CU_ASSERT_EQUAL(mesh.index_count, triangles * 3);
  for (uint32_t v = 0; v < mesh.vertex_count; v++) {
    const float *n = &mesh.normals[v * 3];
    CU_ASSERT_DOUBLE_EQUAL(sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]), 1.0, 1e-5);
    for (int k = 0; k < 3; k++) CU_ASSERT(fabsf(mesh.positions[v * 3 + k]) <= 0.5f + 1e-6f); /* unit size */
  }
  uint32_t facing_out = 0;
  for (uint32_t t = 0; t < mesh.index_count; t += 3) {
    const uint32_t *i = &mesh.indices[t];
    CU_ASSERT_FATAL(i[0] < mesh.vertex_count && i[1] < mesh.vertex_count && i[2] < mesh.vertex_count);
    const float *a = &mesh.positions[i[0] * 3], *b = &mesh.positions[i[1] * 3], *c = &mesh.positions[i[2] * 3];
    float e1[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, e2[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
    float face[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]};
    float area = sqrtf(face[0] * face[0] + face[1] * face[1] + face[2] * face[2]);
    CU_ASSERT(area > 1e-7f); /* no degenerate triangle */
    float dot = 0;
    for (int k = 0; k < 3; k++)
      dot += face[k] * (mesh.normals[i[0] * 3 + k] + mesh.normals[i[1] * 3 + k] + mesh.normals[i[2] * 3 + k]);
    if (dot > 0) facing_out++;
  }
  CU_ASSERT_EQUAL(facing_out, triangles);
}

static void test_cube(void) { check_builtin(KEEL_MESH_CUBE, 24, 12); }
static void test_sphere(void) {
  check_builtin(KEEL_MESH_SPHERE, (KC_MESHGEN_SPHERE_SLICES + 1) * (KC_MESHGEN_SPHERE_STACKS + 1), 480);
}
static void test_plane(void) {
  check_builtin(KEEL_MESH_PLANE, 4, 2);
  for (uint32_t v = 0; v < 4; v++) CU_ASSERT_EQUAL(mesh.positions[v * 3 + 1], 0.0f); /* in the XZ plane */
  CU_ASSERT_EQUAL(mesh.normals[1], 1.0f);                                           /* facing +Y */
}
static void test_custom_has_none(void) { CU_ASSERT_FALSE(kc_meshgen_builtin(KEEL_MESH_CUSTOM, &mesh)); }

static CU_TestInfo meshgen_tests[] = {
    {"cube", test_cube},
    {"sphere", test_sphere},
    {"plane", test_plane},
    {"custom is not a built-in", test_custom_has_none},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"built-in meshes", NULL, NULL, NULL, NULL, meshgen_tests},
    CU_SUITE_INFO_NULL,
};
