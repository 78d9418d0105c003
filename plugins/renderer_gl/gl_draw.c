/* The GL renderer's GL work, all on the main thread: the target (an FBO of
 * RGBA8 colour and 32-bit float depth), the two programs, the meshes, and
 * end_frame's replay of the encoders' command lists into instanced draws.
 *
 * Clip space. The SDK's projections are Vulkan's (y down, depth 0..1). GL
 * draws them unchanged into the FBO with the lower-left origin, so row 0 of
 * the FBO is the image's top row, exactly as in Vulkan's image: readback
 * copies rows as they are, and the rasteriser sees the very coordinates
 * lavapipe sees. The y flip mirrors the winding, so front faces are
 * clockwise here (GL_CW) for counter-clockwise meshes. Depth 0..1 comes from
 * glClipControl(GL_LOWER_LEFT, GL_ZERO_TO_ONE) when the context has it (GL
 * 4.5 or ARB_clip_control), else from the projection: z' = 2z - w. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gl_internal.h"
#include "glr_shaders.h"

#define INSTANCE_ATTRIB 2u /* attributes 2..5: model columns, 6: colour */
#define INSTANCE_MIN_BYTES (64u * 1024u)

static const char *gl_error_name(GLenum e) {
  switch (e) {
    case GL_INVALID_ENUM: return "GL_INVALID_ENUM";
    case GL_INVALID_VALUE: return "GL_INVALID_VALUE";
    case GL_INVALID_OPERATION: return "GL_INVALID_OPERATION";
    case GL_INVALID_FRAMEBUFFER_OPERATION: return "GL_INVALID_FRAMEBUFFER_OPERATION";
    case GL_OUT_OF_MEMORY: return "GL_OUT_OF_MEMORY";
    case GL_STACK_UNDERFLOW: return "GL_STACK_UNDERFLOW";
    case GL_STACK_OVERFLOW: return "GL_STACK_OVERFLOW";
    case GL_CONTEXT_LOST: return "GL_CONTEXT_LOST";
  }
  return "unknown GL error";
}

keel_result glr_check(keel_renderer *r, const char *call) {
  keel_result res = KEEL_OK;
  /* Several error flags may be set at once; each is reported. A lost
   * context keeps returning GL_CONTEXT_LOST, so the loop is bounded. */
  for (int i = 0; i < 8; i++) {
    GLenum e = glGetError();
    if (e == GL_NO_ERROR) break;
    keel_result code = e == GL_CONTEXT_LOST ? KEEL_ERR_DEVICE_LOST : KEEL_ERR_BACKEND;
    glr_refuse(r, code, "%s raised %s", call, gl_error_name(e));
    if (res != KEEL_ERR_DEVICE_LOST) res = code;
    if (e == GL_CONTEXT_LOST) break;
  }
  return res;
}

/* An error already pending when the renderer starts its work was raised by
 * another user of the context (a host window's context is shared): say so,
 * so that the renderer's own next call is not blamed for it. */
static keel_result check_pending(keel_renderer *r, const char *call) {
  keel_result res = KEEL_OK;
  for (int i = 0; i < 8; i++) {
    GLenum e = glGetError();
    if (e == GL_NO_ERROR) break;
    keel_result code = e == GL_CONTEXT_LOST ? KEEL_ERR_DEVICE_LOST : KEEL_ERR_BACKEND;
    glr_refuse(r, code, "%s: %s was pending before its first GL call (raised by another user of the context)", call,
               gl_error_name(e));
    if (res != KEEL_ERR_DEVICE_LOST) res = code;
    if (e == GL_CONTEXT_LOST) break;
  }
  return res;
}

/* ---- programs */

/* The line of a GL info log that says what went wrong (the first one that
 * mentions an error, else the first), for a one-line reason. */
static void reason_line(char *dst, size_t cap, const char *log) {
  const char *line = log, *err = strstr(log, "error");
  if (err) {
    line = err;
    while (line > log && line[-1] != '\n') line--;
  }
  size_t n = 0;
  while (line[n] && line[n] != '\n' && n + 1 < cap) {
    dst[n] = line[n];
    n++;
  }
  dst[n] = '\0';
}

/* True (and the reason in *error) when the shader's info log reports an
 * error. Mesa may defer compiling to link time (its shader cache), so this
 * is asked after a failed link too. */
static bool stage_failed(keel_renderer *r, GLuint s, const char *file, keel_message *error) {
  GLint ok = GL_FALSE;
  glGetShaderiv(s, GL_COMPILE_STATUS, &ok);
  char log[1024] = "", line[200];
  glGetShaderInfoLog(s, sizeof log, NULL, log);
  if (ok && !strstr(log, "error")) return false;
  reason_line(line, sizeof line, log);
  glr_set_error(error, "%s does not compile on %s: %s", file, r->ctx.renderer_name, line[0] ? line : "(no log)");
  return true;
}

static GLuint compile_stage(GLenum stage, const char *define, const char *body) {
  /* "#line 1 N" numbers the sources in the driver's messages: 1 is
   * keel_shading.glsl, 2 the stage's own file. */
  const char *src[] = {"#version 330 core\n", define, "#line 1 1\n", glr_glsl_shading, "\n#line 1 2\n", body};
  GLuint s = glCreateShader(stage);
  glShaderSource(s, (GLsizei)(sizeof src / sizeof src[0]), src, NULL);
  glCompileShader(s);
  return s;
}

/* Builds the screen program (lights < 0) or the world program for `lights`
 * lights into *p. */
static keel_result build_program(keel_renderer *r, int lights, glr_program *p, keel_message *error) {
  char define[64];
  if (lights < 0)
    snprintf(define, sizeof define, "#define KEEL_GL_SCREEN 1\n");
  else
    snprintf(define, sizeof define, "#define KEEL_GL_LIGHT_COUNT %d\n", lights);
  GLuint vs = compile_stage(GL_VERTEX_SHADER, define, glr_glsl_vertex);
  GLuint fs = compile_stage(GL_FRAGMENT_SHADER, define, glr_glsl_fragment);
  GLuint id = 0;
  if (!stage_failed(r, vs, "keel_gl.vert", error) && !stage_failed(r, fs, "keel_gl.frag", error)) {
    id = glCreateProgram();
    glAttachShader(id, vs);
    glAttachShader(id, fs);
    glLinkProgram(id);
    GLint ok = GL_FALSE;
    glGetProgramiv(id, GL_LINK_STATUS, &ok);
    if (!ok) {
      if (!stage_failed(r, vs, "keel_gl.vert", error) && !stage_failed(r, fs, "keel_gl.frag", error)) {
        char log[1024] = "", line[200];
        glGetProgramInfoLog(id, sizeof log, NULL, log);
        reason_line(line, sizeof line, log);
        glr_set_error(error, "the %s program does not link on %s: %s", lights < 0 ? "screen" : "world",
                      r->ctx.renderer_name, line[0] ? line : "(no log)");
      }
      glDeleteProgram(id);
      id = 0;
    }
  }
  glDeleteShader(vs);
  glDeleteShader(fs);
  if (!id) return KEEL_ERR_UNSUPPORTED;
  p->id = id;
  p->loc_view = glGetUniformLocation(id, "u_view");
  p->loc_projection = glGetUniformLocation(id, "u_projection");
  p->loc_lights = glGetUniformLocation(id, "u_lights");
  return KEEL_OK;
}

/* ---- the target */

static keel_result target_alloc(keel_renderer *r, uint32_t width, uint32_t height, keel_message *error) {
  GLint max_rb = 0, max_vp[2] = {0, 0};
  glGetIntegerv(GL_MAX_RENDERBUFFER_SIZE, &max_rb);
  glGetIntegerv(GL_MAX_VIEWPORT_DIMS, max_vp);
  GLint limit_w = max_rb < max_vp[0] ? max_rb : max_vp[0], limit_h = max_rb < max_vp[1] ? max_rb : max_vp[1];
  if ((GLint)width > limit_w || (GLint)height > limit_h) {
    glr_set_error(error, "%ux%u is larger than %s draws (%dx%d at most)", width, height, r->ctx.renderer_name,
                  (int)limit_w, (int)limit_h);
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  glBindRenderbuffer(GL_RENDERBUFFER, r->color_rb);
  glRenderbufferStorage(GL_RENDERBUFFER, GL_RGBA8, (GLsizei)width, (GLsizei)height);
  glBindRenderbuffer(GL_RENDERBUFFER, r->depth_rb);
  glRenderbufferStorage(GL_RENDERBUFFER, GL_DEPTH_COMPONENT32F, (GLsizei)width, (GLsizei)height);
  glBindRenderbuffer(GL_RENDERBUFFER, 0);
  glBindFramebuffer(GL_FRAMEBUFFER, r->fbo);
  glFramebufferRenderbuffer(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_RENDERBUFFER, r->color_rb);
  glFramebufferRenderbuffer(GL_FRAMEBUFFER, GL_DEPTH_ATTACHMENT, GL_RENDERBUFFER, r->depth_rb);
  GLenum status = glCheckFramebufferStatus(GL_FRAMEBUFFER);
  GLenum err = glGetError();
  if (status != GL_FRAMEBUFFER_COMPLETE || err != GL_NO_ERROR) {
    glr_set_error(error, "a %ux%u RGBA8 + D32F target is not possible on %s (status 0x%04x, %s)", width, height,
                  r->ctx.renderer_name, (unsigned)status, err ? gl_error_name(err) : "no GL error");
    return err == GL_OUT_OF_MEMORY ? KEEL_ERR_OUT_OF_MEMORY : KEEL_ERR_BACKEND;
  }
  r->width = width;
  r->height = height;
  return KEEL_OK;
}

keel_result glr_draw_init(keel_renderer *r, keel_message *error) {
  /* The screen program and a one-light world program now, so that a driver
   * that cannot compile them refuses create; other light counts on first use. */
  keel_result res = build_program(r, -1, &r->screen, error);
  if (res == KEEL_OK) res = build_program(r, 1, &r->world[1], error);
  if (res != KEEL_OK) return res;
  glGenFramebuffers(1, &r->fbo);
  glGenRenderbuffers(1, &r->color_rb);
  glGenRenderbuffers(1, &r->depth_rb);
  glGenBuffers((GLsizei)r->frames_in_flight, r->instance_vbo);
  res = target_alloc(r, r->width, r->height, error);
  if (res != KEEL_OK) return res;
  /* State every pass shares, set once: no blending, no dithering (the
   * values written are exactly the shader's, as in Vulkan). */
  glDisable(GL_BLEND);
  glDisable(GL_DITHER);
  glDisable(GL_FRAMEBUFFER_SRGB);
  glDepthFunc(GL_LESS);
  glCullFace(GL_BACK);
  glFrontFace(GL_CW);
  if (r->ctx.clip_control) glClipControl(GL_LOWER_LEFT, GL_ZERO_TO_ONE);
  GLenum err = glGetError();
  if (err != GL_NO_ERROR) {
    glr_set_error(error, "setting up the GL state failed on %s (%s)", r->ctx.renderer_name, gl_error_name(err));
    return KEEL_ERR_BACKEND;
  }
  return KEEL_OK;
}

void glr_draw_shutdown(keel_renderer *r) {
  for (uint32_t i = 0; i < GLR_MAX_FRAMES_IN_FLIGHT; i++) {
    if (r->fences[i]) glDeleteSync(r->fences[i]);
    r->fences[i] = NULL;
  }
  glDeleteBuffers(GLR_MAX_FRAMES_IN_FLIGHT, r->instance_vbo);
  for (uint32_t n = 0; n <= KEEL_RENDERER_MAX_LIGHTS; n++)
    if (r->world[n].id) glDeleteProgram(r->world[n].id);
  if (r->screen.id) glDeleteProgram(r->screen.id);
  glDeleteFramebuffers(1, &r->fbo);
  glDeleteRenderbuffers(1, &r->color_rb);
  glDeleteRenderbuffers(1, &r->depth_rb);
}

keel_result glr_draw_resize(keel_renderer *r, uint32_t width, uint32_t height, keel_message *error) {
  return target_alloc(r, width, height, error);
}

/* ---- meshes */

/* Normals for a mesh given without them: each vertex the normalised sum of
 * its triangles' face normals weighted by area (smooth shading). */
static void normals_from_faces(float *vertices, uint32_t vertex_count, const uint32_t *indices, uint32_t index_count) {
  for (uint32_t t = 0; t + 2 < index_count; t += 3) {
    const float *a = &vertices[indices[t] * 6], *b = &vertices[indices[t + 1] * 6], *c = &vertices[indices[t + 2] * 6];
    float u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, v[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
    float n[3] = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]};
    for (int k = 0; k < 3; k++)
      for (int j = 0; j < 3; j++) vertices[indices[t + (uint32_t)k] * 6 + 3 + (uint32_t)j] += n[j];
  }
  for (uint32_t i = 0; i < vertex_count; i++) {
    float *n = &vertices[i * 6 + 3];
    float len = sqrtf(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    if (len > 0) {
      n[0] /= len, n[1] /= len, n[2] /= len;
    } else {
      n[0] = 0, n[1] = 1, n[2] = 0;
    }
  }
}

keel_result glr_mesh_upload(keel_renderer *r, glr_mesh *m, const keel_mesh_desc *d, keel_message *error) {
  uint32_t vc = d->vertex_count, ic = d->index_count ? d->index_count : d->vertex_count;
  float *vertices = calloc((size_t)vc * 6, sizeof *vertices);
  uint32_t *indices = d->index_count ? NULL : malloc((size_t)ic * sizeof *indices);
  if (!vertices || (!d->index_count && !indices)) {
    free(vertices);
    free(indices);
    glr_set_error(error, "out of memory for a mesh of %u vertices", vc);
    return KEEL_ERR_OUT_OF_MEMORY;
  }
  const uint32_t *idx = d->index_count ? d->indices : indices;
  if (!d->index_count)
    for (uint32_t i = 0; i < ic; i++) indices[i] = i;
  for (uint32_t i = 0; i < vc; i++) {
    memcpy(&vertices[i * 6], &d->positions[i * 3], 3 * sizeof(float));
    if (d->normals) memcpy(&vertices[i * 6 + 3], &d->normals[i * 3], 3 * sizeof(float));
  }
  if (!d->normals) normals_from_faces(vertices, vc, idx, ic);

  glGenVertexArrays(1, &m->vao);
  glGenBuffers(1, &m->vbo);
  glGenBuffers(1, &m->ibo);
  glBindVertexArray(m->vao);
  glBindBuffer(GL_ARRAY_BUFFER, m->vbo);
  glBufferData(GL_ARRAY_BUFFER, (GLsizeiptr)((size_t)vc * 6 * sizeof(float)), vertices, GL_STATIC_DRAW);
  glEnableVertexAttribArray(0);
  glVertexAttribPointer(0, 3, GL_FLOAT, GL_FALSE, 6 * sizeof(float), (const void *)0);
  glEnableVertexAttribArray(1);
  glVertexAttribPointer(1, 3, GL_FLOAT, GL_FALSE, 6 * sizeof(float), (const void *)(3 * sizeof(float)));
  glBindBuffer(GL_ELEMENT_ARRAY_BUFFER, m->ibo);
  glBufferData(GL_ELEMENT_ARRAY_BUFFER, (GLsizeiptr)((size_t)ic * sizeof(uint32_t)), idx, GL_STATIC_DRAW);
  /* The instance attributes: their buffer and offset are set per run. */
  for (GLuint a = INSTANCE_ATTRIB; a < INSTANCE_ATTRIB + 5; a++) {
    glEnableVertexAttribArray(a);
    glVertexAttribDivisor(a, 1);
  }
  glBindVertexArray(0);
  free(vertices);
  free(indices);
  m->index_count = ic;
  GLenum err = glGetError();
  if (err != GL_NO_ERROR) {
    glr_mesh_release(m);
    glr_set_error(error, "uploading a mesh of %u vertices to %s failed (%s)", vc, r->ctx.renderer_name, gl_error_name(err));
    return err == GL_OUT_OF_MEMORY ? KEEL_ERR_OUT_OF_MEMORY : KEEL_ERR_BACKEND;
  }
  return KEEL_OK;
}

void glr_mesh_release(glr_mesh *m) {
  if (m->vao) glDeleteVertexArrays(1, &m->vao);
  if (m->vbo) glDeleteBuffers(1, &m->vbo);
  if (m->ibo) glDeleteBuffers(1, &m->ibo);
  m->vao = m->vbo = m->ibo = 0;
  m->index_count = 0;
}

/* ---- cameras */

void glr_camera_from_sdk(glr_camera *out, const keel_camera *c, bool clip_control) {
  memcpy(out->view, c->view.m, sizeof out->view);
  memcpy(out->projection, c->projection.m, sizeof out->projection);
  /* Without glClipControl, GL clips z to [-w, w]: z' = 2z - w maps the
   * SDK's [0, w] there, and the default depth range maps it back to 0..1. */
  if (!clip_control)
    for (int col = 0; col < 4; col++) {
      float *m = &out->projection[col * 4];
      m[2] = 2.0f * m[2] - m[3];
    }
}

/* ---- the frame */

keel_result glr_draw_wait_slot(keel_renderer *r) {
  uint32_t slot = (uint32_t)(r->frames % r->frames_in_flight);
  GLsync fence = r->fences[slot];
  if (!fence) return KEEL_OK;
  r->fences[slot] = NULL;
  GLenum status = glClientWaitSync(fence, GL_SYNC_FLUSH_COMMANDS_BIT, GLR_FENCE_TIMEOUT_NS);
  glDeleteSync(fence);
  if (status == GL_TIMEOUT_EXPIRED)
    return glr_refuse(r, KEEL_ERR_DEVICE_LOST, "begin_frame: the frame %u frames ago did not finish within %llu s",
                      r->frames_in_flight, (unsigned long long)(GLR_FENCE_TIMEOUT_NS / 1000000000ull));
  if (status == GL_WAIT_FAILED) {
    keel_result res = glr_check(r, "begin_frame: glClientWaitSync");
    return res != KEEL_OK ? res : glr_refuse(r, KEEL_ERR_BACKEND, "begin_frame: glClientWaitSync failed");
  }
  return KEEL_OK;
}

/* A run about to be drawn: merged with the next when that continues it
 * (same mesh and camera, the next instances), even across encoders. */
typedef struct pending_run {
  uint32_t mesh, first, count;
  const glr_camera *camera;
} pending_run;

static keel_result draw_run(keel_renderer *r, const glr_program *program, const pending_run *run,
                            const glr_camera **bound) {
  if (!run->count) return KEEL_OK;
  uint32_t slot = run->mesh & GLR_MESH_INDEX_MASK;
  glr_mesh *m = &r->meshes[slot];
  if (atomic_load_explicit(&m->live, memory_order_relaxed) != run->mesh)
    return glr_refuse(r, KEEL_ERR_WRONG_STATE,
                      "end_frame: mesh 0x%08x was destroyed after %u draws of it were recorded; they are dropped",
                      run->mesh, run->count);
  if (*bound != run->camera && (!*bound || memcmp(*bound, run->camera, sizeof *run->camera) != 0)) {
    glUniformMatrix4fv(program->loc_view, 1, GL_FALSE, run->camera->view);
    glUniformMatrix4fv(program->loc_projection, 1, GL_FALSE, run->camera->projection);
  }
  *bound = run->camera;
  glBindVertexArray(m->vao);
  size_t offset = (size_t)run->first * sizeof(glr_instance);
  for (GLuint k = 0; k < 4; k++)
    glVertexAttribPointer(INSTANCE_ATTRIB + k, 4, GL_FLOAT, GL_FALSE, sizeof(glr_instance),
                          (const void *)(offset + offsetof(glr_instance, model) + k * 4 * sizeof(float)));
  glVertexAttribPointer(INSTANCE_ATTRIB + 4, 4, GL_FLOAT, GL_FALSE, sizeof(glr_instance),
                        (const void *)(offset + offsetof(glr_instance, color)));
  glDrawElementsInstanced(GL_TRIANGLES, (GLsizei)m->index_count, GL_UNSIGNED_INT, NULL, (GLsizei)run->count);
  r->draw_calls++;
  return glr_check(r, "end_frame: glDrawElementsInstanced");
}

static keel_result upload_instances(keel_renderer *r, uint32_t slot, const bool *ended) {
  size_t total = 0;
  for (uint32_t i = 0; i < r->pass_count * r->max_workers; i++) {
    struct keel_encoder *e = &r->encoders[i];
    e->base = (uint32_t)total;
    if (ended[i]) total += e->instance_count;
  }
  if (!total) return KEEL_OK;
  size_t bytes = total * sizeof(glr_instance);
  glBindBuffer(GL_ARRAY_BUFFER, r->instance_vbo[slot]);
  if (bytes > r->instance_bytes[slot]) {
    size_t cap = r->instance_bytes[slot] ? r->instance_bytes[slot] : INSTANCE_MIN_BYTES;
    while (cap < bytes) cap *= 2;
    glBufferData(GL_ARRAY_BUFFER, (GLsizeiptr)cap, NULL, GL_STREAM_DRAW);
    keel_result res = glr_check(r, "end_frame: glBufferData (instance buffer)");
    if (res != KEEL_OK) return res;
    r->instance_bytes[slot] = cap;
  }
  /* The slot's previous frame finished (begin_frame waited for its fence),
   * so writing into the buffer never waits for the GPU. */
  for (uint32_t i = 0; i < r->pass_count * r->max_workers; i++) {
    struct keel_encoder *e = &r->encoders[i];
    if (ended[i] && e->instance_count)
      glBufferSubData(GL_ARRAY_BUFFER, (GLintptr)((size_t)e->base * sizeof(glr_instance)),
                      (GLsizeiptr)((size_t)e->instance_count * sizeof(glr_instance)), e->instances);
  }
  return glr_check(r, "end_frame: glBufferSubData (instance buffer)");
}

/* Pass 0 clears everything and draws the lit world with back faces culled;
 * every later pass clears depth only and draws unlit, nothing culled.
 * Returns the program to draw with, NULL when the world program for this
 * many lights cannot be built (logged and counted; the pass is cleared and
 * left empty). */
static const glr_program *pass_state(keel_renderer *r, uint32_t pass) {
  glDepthMask(GL_TRUE);
  if (pass != KEEL_PASS_WORLD) {
    glClear(GL_DEPTH_BUFFER_BIT);
    glDisable(GL_CULL_FACE);
    glUseProgram(r->screen.id);
    return &r->screen;
  }
  glClearColor(r->clear.r, r->clear.g, r->clear.b, r->clear.a);
  glClearDepth(1.0);
  glEnable(GL_DEPTH_TEST);
  glEnable(GL_CULL_FACE);
  glClear(GL_COLOR_BUFFER_BIT | GL_DEPTH_BUFFER_BIT);
  glr_program *p = &r->world[r->light_count];
  if (!p->id) {
    keel_message why;
    if (build_program(r, (int)r->light_count, p, &why) != KEEL_OK) {
      glr_refuse(r, KEEL_ERR_BACKEND, "end_frame: the world program for %u lights: %s; the world pass is empty",
                 r->light_count, why.text);
      return NULL;
    }
  }
  glUseProgram(p->id);
  if (r->light_count) glUniform4fv(p->loc_lights, (GLsizei)(r->light_count * 3), &r->lights[0][0]);
  return p;
}

keel_result glr_draw_replay(keel_renderer *r, const bool *ended) {
  uint32_t slot = (uint32_t)(r->frames % r->frames_in_flight);
  keel_result res = check_pending(r, "end_frame");
  keel_result up = upload_instances(r, slot, ended);
  if (up != KEEL_OK && res != KEEL_ERR_DEVICE_LOST) res = up;
  /* Without this frame's instances the runs would read stale data: the
   * passes are cleared and left empty. */
  bool draw = up == KEEL_OK;
  glBindFramebuffer(GL_FRAMEBUFFER, r->fbo);
  glViewport(0, 0, (GLsizei)r->width, (GLsizei)r->height);
  for (uint32_t p = 0; p < r->pass_count && res != KEEL_ERR_DEVICE_LOST; p++) {
    const glr_program *program = pass_state(r, p);
    if (!program) {
      if (res != KEEL_ERR_DEVICE_LOST) res = KEEL_ERR_BACKEND;
      continue;
    }
    /* Each pass starts with no camera bound (the screen program is shared
     * by several passes, and each program keeps its own uniforms). */
    const glr_camera *bound = NULL;
    pending_run run = {0};
    glBindBuffer(GL_ARRAY_BUFFER, r->instance_vbo[slot]);
    for (uint32_t w = 0; draw && w < r->max_workers; w++) {
      uint32_t i = p * r->max_workers + w;
      if (!ended[i]) continue;
      struct keel_encoder *e = &r->encoders[i];
      const glr_camera *camera = NULL;
      for (uint32_t c = 0; c < e->cmd_count; c++) {
        const glr_cmd *cmd = &e->cmds[c];
        if (cmd->kind == GLR_CMD_CAMERA) {
          camera = &e->cameras[cmd->arg];
          continue;
        }
        uint32_t first = e->base + cmd->first;
        if (run.count && run.mesh == cmd->arg && run.first + run.count == first &&
            (run.camera == camera || memcmp(run.camera, camera, sizeof *camera) == 0)) {
          run.count += cmd->count;
          continue;
        }
        keel_result d = draw_run(r, program, &run, &bound);
        if (d != KEEL_OK && res != KEEL_ERR_DEVICE_LOST) res = d;
        run = (pending_run){.mesh = cmd->arg, .first = first, .count = cmd->count, .camera = camera};
      }
    }
    keel_result d = draw_run(r, program, &run, &bound);
    if (d != KEEL_OK && res != KEEL_ERR_DEVICE_LOST) res = d;
  }
  glBindVertexArray(0);
  if (r->fences[slot]) glDeleteSync(r->fences[slot]);
  r->fences[slot] = glFenceSync(GL_SYNC_GPU_COMMANDS_COMPLETE, 0);
  glFlush();
  keel_result c = glr_check(r, "end_frame: clear, state or fence");
  return res != KEEL_OK ? res : c;
}

keel_result glr_draw_present(keel_renderer *r) {
  if (r->ctx.kind != GLR_CONTEXT_HOST_WINDOW) return KEEL_OK;
  /* Row 0 of the target is the image's top; the window's row 0 is its
   * bottom: the blit flips. */
  uint32_t ww = r->width, wh = r->height;
  if (r->host->platform_framebuffer_size) r->host->platform_framebuffer_size(r->host, &ww, &wh);
  glBindFramebuffer(GL_READ_FRAMEBUFFER, r->fbo);
  glBindFramebuffer(GL_DRAW_FRAMEBUFFER, 0);
  glBlitFramebuffer(0, 0, (GLint)r->width, (GLint)r->height, 0, (GLint)wh, (GLint)ww, 0, GL_COLOR_BUFFER_BIT,
                    GL_NEAREST);
  keel_result res = glr_check(r, "present: glBlitFramebuffer");
  glBindFramebuffer(GL_FRAMEBUFFER, r->fbo);
  keel_result swap = glr_context_swap(r);
  return res != KEEL_OK ? res : swap;
}

keel_result glr_draw_readback(keel_renderer *r, uint8_t *pixels) {
  glBindFramebuffer(GL_READ_FRAMEBUFFER, r->fbo);
  glReadBuffer(GL_COLOR_ATTACHMENT0);
  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  /* Row 0 is the top row already (see the top of this file). */
  glReadPixels(0, 0, (GLsizei)r->last_width, (GLsizei)r->last_height, GL_RGBA, GL_UNSIGNED_BYTE, pixels);
  return glr_check(r, "readback_rgba8: glReadPixels");
}
