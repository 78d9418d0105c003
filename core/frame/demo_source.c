/* See demo_source.h. Deterministic: positions depend only on the tick
 * number and dt, so two lockstep runs give the same world hash. */
#include "frame/demo_source.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RINGS 5

typedef struct demo {
  const keel_script_world *world;
  uint32_t count;
  keel_id *ids;
  double time;
} demo;

static keel_vec3 orbit_position(uint32_t i, uint32_t count, double t) {
  uint32_t ring = i % RINGS;
  uint32_t per_ring = (count + RINGS - 1) / RINGS;
  double radius = 4.0 + 3.0 * ring;
  double speed = 0.2 + 0.1 * ring;
  double angle = (double)(i / RINGS) * (2.0 * M_PI / per_ring) + speed * t;
  return (keel_vec3){(float)(radius * cos(angle)), (float)(0.5 * ring), (float)(radius * sin(angle))};
}

static keel_result demo_push(demo *d, keel_command *c, keel_message *error) {
  keel_result r = d->world->command_push(d->world->ctx, c);
  if (r != KEEL_OK && error) snprintf(error->text, sizeof error->text, "demo: command refused: %s", keel_result_name(r));
  return r;
}

static keel_result demo_init(void *ctx, keel_message *error) {
  demo *d = ctx;
  keel_command c;
  memset(&c, 0, sizeof c);
  c.type = KEEL_CMD_CREATE;
  c.kind = KEEL_OBJECT_CAMERA;
  c.id = d->world->id_reserve(d->world->ctx, KEEL_OBJECT_CAMERA);
  c.fields.mask = KEEL_FIELD_POSITION | KEEL_FIELD_TARGET | KEEL_FIELD_FOV;
  c.fields.position = (keel_vec3){0.0f, 12.0f, 24.0f};
  c.fields.fov_degrees = 60.0f;
  keel_result r = demo_push(d, &c, error);
  if (r != KEEL_OK) return r;
  keel_id camera = c.id;
  memset(&c, 0, sizeof c);
  c.type = KEEL_CMD_SET_ACTIVE;
  c.kind = KEEL_OBJECT_CAMERA;
  c.id = camera;
  if ((r = demo_push(d, &c, error)) != KEEL_OK) return r;

  memset(&c, 0, sizeof c);
  c.type = KEEL_CMD_CREATE;
  c.kind = KEEL_OBJECT_LIGHT;
  c.id = d->world->id_reserve(d->world->ctx, KEEL_OBJECT_LIGHT);
  c.fields.mask = KEEL_FIELD_POSITION | KEEL_FIELD_COLOR | KEEL_FIELD_INTENSITY;
  c.fields.position = (keel_vec3){0.0f, 20.0f, 0.0f};
  c.fields.color = (keel_color){1.0f, 0.95f, 0.9f, 1.0f};
  c.fields.intensity = 2.0f;
  if ((r = demo_push(d, &c, error)) != KEEL_OK) return r;

  for (uint32_t i = 0; i < d->count; i++) {
    memset(&c, 0, sizeof c);
    c.type = KEEL_CMD_CREATE;
    c.kind = KEEL_OBJECT_ENTITY;
    c.id = d->world->id_reserve(d->world->ctx, KEEL_OBJECT_ENTITY);
    if (c.id == KEEL_ID_INVALID) {
      if (error) snprintf(error->text, sizeof error->text, "demo: entity table full after %u entities", i);
      return KEEL_ERR_FULL;
    }
    c.fields.mask = KEEL_FIELD_MESH | KEEL_FIELD_POSITION | KEEL_FIELD_SCALE | KEEL_FIELD_COLOR;
    snprintf(c.fields.mesh, sizeof c.fields.mesh, "%s", i % 3 == 0 ? "sphere" : "cube");
    c.fields.position = orbit_position(i, d->count, 0.0);
    c.fields.scale = (keel_vec3){0.5f, 0.5f, 0.5f};
    uint32_t ring = i % RINGS;
    c.fields.color = (keel_color){0.2f + 0.15f * ring, 0.5f, 1.0f - 0.15f * ring, 1.0f};
    if ((r = demo_push(d, &c, error)) != KEEL_OK) return r;
    d->ids[i] = c.id;
  }
  return KEEL_OK;
}

/* Moves one ring in four each tick, so about a quarter of the entities are
 * dirty per tick and the state buffer's dirty copy matters. */
static keel_result demo_tick(void *ctx, const keel_tick_info *tick, const keel_script_event *events, uint32_t count,
                             keel_message *error) {
  (void)events, (void)count;
  demo *d = ctx;
  d->time += tick->dt;
  keel_command c;
  memset(&c, 0, sizeof c);
  c.type = KEEL_CMD_UPDATE;
  c.kind = KEEL_OBJECT_ENTITY;
  c.fields.mask = KEEL_FIELD_POSITION;
  for (uint32_t i = (uint32_t)(tick->tick % 4); i < d->count; i += 4) {
    c.id = d->ids[i];
    c.fields.position = orbit_position(i, d->count, d->time);
    keel_result r = demo_push(d, &c, error);
    if (r != KEEL_OK) return r;
  }
  return KEEL_OK;
}

keel_result kc_demo_source_create(void *user, const keel_script_world *world, kc_tick_source *out,
                                  keel_message *error) {
  uint32_t n = user ? *(const uint32_t *)user : 0;
  demo *d = calloc(1, sizeof *d);
  if (d) {
    d->count = n ? n : 300;
    d->ids = calloc(d->count, sizeof *d->ids);
  }
  if (!d || !d->ids) {
    if (d) free(d);
    if (error) snprintf(error->text, sizeof error->text, "demo: out of memory");
    return KEEL_ERR_OUT_OF_MEMORY;
  }
  d->world = world;
  *out = (kc_tick_source){.ctx = d, .init = demo_init, .tick = demo_tick};
  return KEEL_OK;
}

void kc_demo_source_release(void *user, kc_tick_source *source) {
  (void)user;
  demo *d = source->ctx;
  if (d) free(d->ids);
  free(d);
  source->ctx = NULL;
}
