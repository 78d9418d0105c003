// screen.vert: the screen layer (pass 1 and later): world.vert's inputs
// without the normal (unlit), so only the colour goes on to screen.frag.
#version 450

layout(location = 0) in vec3 in_position;
layout(location = 2) in vec4 in_model0;
layout(location = 3) in vec4 in_model1;
layout(location = 4) in vec4 in_model2;
layout(location = 5) in vec4 in_model3;
layout(location = 6) in vec4 in_color;

layout(push_constant) uniform Camera {
  mat4 view;
  mat4 projection;
} camera;

layout(location = 0) out vec4 out_color;

void main() {
  mat4 model = mat4(in_model0, in_model1, in_model2, in_model3);
  out_color = in_color;
  gl_Position = camera.projection * (camera.view * (model * vec4(in_position, 1.0)));
}
