// world.frag: pass 0, the shading model of keel/renderer.h per fragment,
// through keel_shading.glsl (the GL renderer includes the same file).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "keel_shading.glsl"

// The frame's light count is a specialization constant (one pipeline per
// count, so the loop unrolls), and the lights are a storage buffer: lavapipe
// (Mesa 22.3) "inlines" uniform-buffer values that decide branches into a
// new shader variant, compiled, and leaked, on every frame.
layout(constant_id = 0) const uint LIGHT_COUNT = 0u;

layout(location = 0) in vec3 in_world;
layout(location = 1) in vec3 in_normal;
layout(location = 2) in vec4 in_color;

// The frame's lights, three vec4 each (see keel_light_term).
layout(std430, set = 0, binding = 0) readonly buffer Lights {
  vec4 data[KEEL_MAX_LIGHTS * 3];
} lights;

layout(location = 0) out vec4 out_color;

void main() {
  // Interpolation shortens the per-vertex unit normals: renormalise.
  vec3 n = normalize(in_normal);
  vec3 sum = vec3(0.0);
  for (uint i = 0u; i < LIGHT_COUNT; i++)
    sum += keel_light_term(n, in_world, lights.data[i * 3u], lights.data[i * 3u + 1u], lights.data[i * 3u + 2u]);
  out_color = vec4(keel_shade_world(in_color.rgb, sum), in_color.a);
}
