// keel_gl.vert: the GL renderer's vertex shader, both programs. The plugin
// prepends "#version 330 core", the program's #define and keel_shading.glsl.
// One instance per draw: the model matrix and the colour come from the
// per-frame instance buffer, the camera from u_view and u_projection. The
// arithmetic is the Vulkan renderer's, in the same order, so both backends
// place every vertex at the same float position.

layout(location = 0) in vec3 a_position;
layout(location = 1) in vec3 a_normal;
layout(location = 2) in vec4 a_model0;
layout(location = 3) in vec4 a_model1;
layout(location = 4) in vec4 a_model2;
layout(location = 5) in vec4 a_model3;
layout(location = 6) in vec4 a_color;

uniform mat4 u_view;
// The SDK's projection, its depth range adapted when the context has no
// glClipControl (see docs/rendering.md).
uniform mat4 u_projection;

out vec3 v_world;
out vec3 v_normal;
out vec4 v_color;

void main() {
  mat4 model = mat4(a_model0, a_model1, a_model2, a_model3);
  vec4 world = model * vec4(a_position, 1.0);
  v_world = world.xyz;
#ifdef KEEL_GL_SCREEN
  v_normal = vec3(0.0);
#else
  v_normal = keel_world_normal(mat3(model), a_normal);
#endif
  v_color = a_color;
  gl_Position = u_projection * (u_view * world);
}
