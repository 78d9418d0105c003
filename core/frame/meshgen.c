/* See meshgen.h. Shapes follow keel/renderer.h: a unit cube centred on the
 * origin, a unit-diameter UV sphere, a unit square in the XZ plane facing
 * +Y. Faces wind counter-clockwise seen from outside (right-handed, y up). */
#include "frame/meshgen.h"

#include <math.h>
#include <string.h>

static void put3(float *dst, uint32_t i, float x, float y, float z) {
  dst[i * 3 + 0] = x;
  dst[i * 3 + 1] = y;
  dst[i * 3 + 2] = z;
}

/* A quad centred at n/2 with edges along u and v, where u x v = n, so the
 * corners -u-v, +u-v, +u+v, -u+v run counter-clockwise around n. */
static void quad(kc_mesh_data *m, const float n[3], const float u[3], const float v[3], float half) {
  static const float su[4] = {-1, 1, 1, -1}, sv[4] = {-1, -1, 1, 1};
  uint32_t base = m->vertex_count;
  for (int c = 0; c < 4; c++) {
    float p[3];
    for (int k = 0; k < 3; k++) p[k] = n[k] * half + (u[k] * su[c] + v[k] * sv[c]) * half;
    put3(m->positions, base + (uint32_t)c, p[0], p[1], p[2]);
    put3(m->normals, base + (uint32_t)c, n[0], n[1], n[2]);
  }
  static const uint32_t tri[6] = {0, 1, 2, 0, 2, 3};
  for (int i = 0; i < 6; i++) m->indices[m->index_count++] = base + tri[i];
  m->vertex_count += 4;
}

static void cube(kc_mesh_data *m) {
  /* normal, u, v with u x v = normal */
  static const float faces[6][3][3] = {
      {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},  {{-1, 0, 0}, {0, 0, 1}, {0, 1, 0}},
      {{0, 1, 0}, {0, 0, 1}, {1, 0, 0}},  {{0, -1, 0}, {1, 0, 0}, {0, 0, 1}},
      {{0, 0, 1}, {1, 0, 0}, {0, 1, 0}},  {{0, 0, -1}, {0, 1, 0}, {1, 0, 0}},
  };
  for (int f = 0; f < 6; f++) quad(m, faces[f][0], faces[f][1], faces[f][2], 0.5f);
}

static void plane(kc_mesh_data *m) {
  static const float n[3] = {0, 1, 0}, u[3] = {0, 0, 1}, v[3] = {1, 0, 0};
  quad(m, n, u, v, 0.5f);
  /* quad() lifts the square by half its normal; the plane lies at y = 0. */
  for (uint32_t i = 0; i < 4; i++) m->positions[i * 3 + 1] = 0.0f;
}

static void sphere(kc_mesh_data *m) {
  const uint32_t slices = KC_MESHGEN_SPHERE_SLICES, stacks = KC_MESHGEN_SPHERE_STACKS;
  const double pi = 3.14159265358979323846;
  for (uint32_t i = 0; i <= stacks; i++) {
    double theta = pi * (double)i / (double)stacks; /* 0 at +Y */
    for (uint32_t j = 0; j <= slices; j++) {
      double phi = 2.0 * pi * (double)j / (double)slices;
      float x = (float)(sin(theta) * cos(phi)), y = (float)cos(theta), z = (float)(sin(theta) * sin(phi));
      if (j == slices) { /* the seam repeats the first column exactly */
        x = m->normals[(i * (slices + 1)) * 3 + 0];
        z = m->normals[(i * (slices + 1)) * 3 + 2];
      }
      uint32_t v = i * (slices + 1) + j;
      put3(m->normals, v, x, y, z);
      put3(m->positions, v, x * 0.5f, y * 0.5f, z * 0.5f);
    }
  }
  m->vertex_count = (slices + 1) * (stacks + 1);
  /* With theta growing downwards and phi turning from +X towards +Z, the
   * quad a(i,j) b(i+1,j) c(i+1,j+1) d(i,j+1) runs clockwise seen from
   * outside, so its triangles are a-c-b and a-d-c. The pole rows lose the
   * triangle whose two corners coincide at the pole. */
  for (uint32_t i = 0; i < stacks; i++) {
    for (uint32_t j = 0; j < slices; j++) {
      uint32_t a = i * (slices + 1) + j, b = a + slices + 1, c = b + 1, d = a + 1;
      if (i != stacks - 1) {
        m->indices[m->index_count++] = a;
        m->indices[m->index_count++] = c;
        m->indices[m->index_count++] = b;
      }
      if (i != 0) {
        m->indices[m->index_count++] = a;
        m->indices[m->index_count++] = d;
        m->indices[m->index_count++] = c;
      }
    }
  }
}

bool kc_meshgen_builtin(keel_mesh_builtin kind, kc_mesh_data *out) {
  out->vertex_count = out->index_count = 0;
  switch (kind) {
    case KEEL_MESH_CUBE: cube(out); return true;
    case KEEL_MESH_SPHERE: sphere(out); return true;
    case KEEL_MESH_PLANE: plane(out); return true;
    case KEEL_MESH_CUSTOM: break;
  }
  return false;
}

keel_mesh_desc kc_meshgen_desc(keel_mesh_builtin kind, const kc_mesh_data *data) {
  keel_mesh_desc d;
  memset(&d, 0, sizeof d);
  d.struct_size = KEEL_STRUCT_SIZE(keel_mesh_desc);
  d.builtin = kind;
  d.positions = data->positions;
  d.normals = data->normals;
  d.vertex_count = data->vertex_count;
  d.indices = data->indices;
  d.index_count = data->index_count;
  return d;
}
