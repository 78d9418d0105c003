// world.vert: the world pass (pass 0). Per vertex: position and
// normal of the mesh; per instance (one draw of the sorted list): the model
// matrix and the colour, from the frame's instance buffer. The camera of the
// encoder comes as push constants.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "keel_shading.glsl"

layout(location = 0) in vec3 in_position;
layout(location = 1) in vec3 in_normal;
layout(location = 2) in vec4 in_model0;
layout(location = 3) in vec4 in_model1;
layout(location = 4) in vec4 in_model2;
layout(location = 5) in vec4 in_model3;
layout(location = 6) in vec4 in_color;

layout(push_constant) uniform Camera {
  mat4 view;
  mat4 projection;
} camera;

layout(location = 0) out vec3 out_world;
layout(location = 1) out vec3 out_normal;
layout(location = 2) out vec4 out_color;

void main() {
  mat4 model = mat4(in_model0, in_model1, in_model2, in_model3);
  vec4 world = model * vec4(in_position, 1.0);
  out_world = world.xyz;
  out_normal = keel_world_normal(mat3(model), in_normal);
  out_color = in_color;
  gl_Position = camera.projection * (camera.view * world);
}
