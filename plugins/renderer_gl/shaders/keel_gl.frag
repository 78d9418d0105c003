// keel_gl.frag: the GL renderer's fragment shader, both passes: with
// KEEL_GL_SCREEN defined it is the screen layer's (unlit), else the world's
// (the lights of the frame, summed in order). The plugin prepends
// "#version 330 core", the pass's #define and keel_shading.glsl.

in vec3 v_world;
in vec3 v_normal;
in vec4 v_color;

// Three vec4 per light, the layout keel_light_term reads.
uniform vec4 u_lights[KEEL_MAX_LIGHTS * 3];
uniform int u_light_count;

layout(location = 0) out vec4 o_color;

void main() {
#ifdef KEEL_GL_SCREEN
  o_color = vec4(keel_shade_screen(v_color.rgb), v_color.a);
#else
  vec3 n = normalize(v_normal);
  vec3 sum = vec3(0.0);
  for (int i = 0; i < u_light_count; i++)
    sum += keel_light_term(n, v_world, u_lights[i * 3], u_lights[i * 3 + 1], u_lights[i * 3 + 2]);
  o_color = vec4(keel_shade_world(v_color.rgb, sum), v_color.a);
#endif
}
