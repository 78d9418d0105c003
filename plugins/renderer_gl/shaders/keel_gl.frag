// keel_gl.frag: the GL renderer's fragment shader, both kinds of program.
// With KEEL_GL_SCREEN defined it is the screen layers' (unlit); else the
// world's, with KEEL_GL_LIGHT_COUNT the frame's number of lights, a
// compile-time constant as in the Vulkan renderer (the loop unrolls), summed
// in order. The plugin prepends "#version 330 core", the program's #define
// and keel_shading.glsl.

in vec3 v_world;
in vec3 v_normal;
in vec4 v_color;

layout(location = 0) out vec4 o_color;

#ifdef KEEL_GL_SCREEN
void main() { o_color = vec4(keel_shade_screen(v_color.rgb), v_color.a); }
#else
#if KEEL_GL_LIGHT_COUNT > 0
// Three vec4 per light, the layout keel_light_term reads.
uniform vec4 u_lights[KEEL_GL_LIGHT_COUNT * 3];
#endif

void main() {
  // Interpolation shortens the per-vertex unit normals: renormalise.
  vec3 n = normalize(v_normal);
  vec3 sum = vec3(0.0);
#if KEEL_GL_LIGHT_COUNT > 0
  for (int i = 0; i < KEEL_GL_LIGHT_COUNT; i++)
    sum += keel_light_term(n, v_world, u_lights[i * 3], u_lights[i * 3 + 1], u_lights[i * 3 + 2]);
#endif
  o_color = vec4(keel_shade_world(v_color.rgb, sum), v_color.a);
}
#endif
