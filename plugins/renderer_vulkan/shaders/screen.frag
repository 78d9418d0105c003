// screen.frag: the screen layer (pass 1 and later): unlit, through
// keel_shading.glsl like the world pass.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "keel_shading.glsl"

layout(location = 0) in vec4 in_color;
layout(location = 0) out vec4 out_color;

void main() { out_color = vec4(keel_shade_screen(in_color.rgb), in_color.a); }
