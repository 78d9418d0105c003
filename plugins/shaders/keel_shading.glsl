// keel_shading.glsl: the shading model of keel/renderer.h, in the one copy
// that every GPU renderer's shaders include, so Vulkan and GL compute the
// very same formula and their images can be compared pixel for pixel.
// Valid GLSL 3.30 core and 4.50; it declares no inputs, outputs or uniforms:
// the including shader owns its bindings and calls these functions.

#define KEEL_MAX_LIGHTS 16     // KEEL_RENDERER_MAX_LIGHTS
#define KEEL_AMBIENT 0.15      // KEEL_SHADING_AMBIENT
#define KEEL_LIGHT_POINT 0.0
#define KEEL_LIGHT_DIRECTIONAL 1.0

// The world-space normal: the cofactor of the model matrix's upper 3x3 is
// the normal matrix up to a scale, exact for any non-uniform scale, and
// costs three cross products instead of an inverse.
vec3 keel_world_normal(mat3 model, vec3 normal) {
  mat3 cof = mat3(cross(model[1], model[2]), cross(model[2], model[0]), cross(model[0], model[1]));
  return normalize(cof * normal);
}

// One light's diffuse contribution at world position p with unit normal n.
// A light is three vec4s, the layout keel_light maps to:
//   position_kind   xyz = position (point), w = kind (0 point, 1 directional)
//   direction_range xyz = direction the light travels (directional), w = range
//   color_intensity rgb = colour, a = intensity
vec3 keel_light_term(vec3 n, vec3 p, vec4 position_kind, vec4 direction_range, vec4 color_intensity) {
  vec3 l;
  float att;
  if (position_kind.w == KEEL_LIGHT_DIRECTIONAL) {
    l = -direction_range.xyz;
    att = 1.0;
  } else {
    vec3 to_light = position_kind.xyz - p;
    float d = length(to_light);
    l = d > 0.0 ? to_light / d : vec3(0.0, 1.0, 0.0);
    float fade = direction_range.w > 0.0 ? clamp(1.0 - d / direction_range.w, 0.0, 1.0) : 0.0;
    att = fade * fade;
  }
  return color_intensity.rgb * color_intensity.a * max(dot(n, l), 0.0) * att;
}

// The world pass's colour from the entity's colour and the sum of
// keel_light_term over the frame's lights; the screen pass writes the
// entity's colour unlit. Both clamp to [0, 1] for the UNORM target.
vec3 keel_shade_world(vec3 base, vec3 light_sum) { return clamp(base * (KEEL_AMBIENT + light_sum), 0.0, 1.0); }
vec3 keel_shade_screen(vec3 base) { return clamp(base, 0.0, 1.0); }
