// keel-test-labels: concurrency plugin
// keel-test-depends: renderer_null
/* The render half of the frame spread over workers: 10,000 entities give the
 * same sorted draw lists, the same renderer counters and no renderer error
 * whether one thread or several record them; each draw lands in its layer's
 * pass with its entity's id. */
#include <keel_test.h>

#include <stdlib.h>
#include <string.h>

#include "frame/host.h"
#include "frame/render.h"
#include "plugin/loader.h"
#include "sched/pool.h"
#include "world/world.h"

#define ENTITIES 10000

static kc_world *make_world(void) {
  kc_world *w = NULL;
  kc_world_config wc = {.max_entities = ENTITIES + 16};
  CU_ASSERT_FATAL(kc_world_create(&wc, &w, NULL) == KEEL_OK);
  static keel_id ids[ENTITIES]; /* ids are opaque: kept, never built */
  for (uint32_t i = 0; i < ENTITIES; i++) {
    keel_command c;
    memset(&c, 0, sizeof c);
    c.type = KEEL_CMD_CREATE;
    c.kind = KEEL_OBJECT_ENTITY;
    c.id = ids[i] = kc_world_reserve(w, KEEL_OBJECT_ENTITY);
    c.fields.mask = KEEL_FIELD_MESH | KEEL_FIELD_POSITION | KEEL_FIELD_COLOR | KEEL_FIELD_LAYER;
    c.fields.layer = i % 4 ? KEEL_LAYER_WORLD : KEEL_LAYER_SCREEN;
    strcpy(c.fields.mesh, i % 3 == 0 ? "sphere" : i % 3 == 1 ? "cube" : "plane");
    /* Many equal depths, so ties (kept in id order) matter. */
    c.fields.position = (keel_vec3){(float)(i % 50), (float)(i % 7), (float)(i / 50 % 40)};
    c.fields.color = (keel_color){(float)(i % 11) / 10.0f, 0.5f, 0.5f, 1.0f};
    CU_ASSERT_EQUAL(kc_world_check(w, &c), KEEL_OK);
    CU_ASSERT_EQUAL(kc_world_apply(w, &c, NULL), KEEL_OK);
  }
  /* Remove a few so the slot range has holes. */
  for (uint32_t i = 0; i < ENTITIES; i += 97) {
    keel_command c;
    memset(&c, 0, sizeof c);
    c.type = KEEL_CMD_DESTROY;
    c.kind = KEEL_OBJECT_ENTITY;
    c.id = ids[i];
    CU_ASSERT_EQUAL(kc_world_check(w, &c), KEEL_OK);
    CU_ASSERT_EQUAL(kc_world_apply(w, &c, NULL), KEEL_OK);
  }
  CU_ASSERT_EQUAL(kc_world_publish(w, NULL), KEEL_OK);
  return w;
}

typedef struct frame_result {
  keel_draw *draws[2];
  uint32_t counts[2];
  keel_renderer_stats stats;
} frame_result;

static void render_with(kc_world *w, const kc_plugin *plugin, uint32_t threads, frame_result *out) {
  const keel_renderer_api *api = plugin->interface;
  kc_pool *pool = NULL;
  if (threads > 1) {
    kc_pool_desc pd = {.threads = threads};
    CU_ASSERT_FATAL(kc_pool_create(&pd, &pool, NULL) == KEEL_OK);
  }
  kc_host_services svc = {.width = 640, .height = 480};
  kc_host host;
  kc_host_init(&host, &svc, "null", plugin->file);
  keel_renderer_desc d = {.struct_size = sizeof d, .host = &host.pub, .width = 640, .height = 480, .headless = true,
                          .frames_in_flight = 2, .max_workers = threads, .pass_count = 2};
  keel_renderer *rr = NULL;
  CU_ASSERT_FATAL(api->create(&d, &rr, NULL) == KEEL_OK);
  kc_render *r = NULL;
  kc_render_config rc = {.api = api, .renderer = rr, .plugin_abi_minor = KEEL_ABI_MINOR, .pass_count = 2,
                         .workers = threads, .width = 640, .height = 480, .pool = pool};
  CU_ASSERT_FATAL(kc_render_create(&rc, &r, NULL) == KEEL_OK);
  for (int f = 0; f < 3; f++) CU_ASSERT_EQUAL(kc_render_frame(r, w, (uint64_t)f, (keel_color){0, 0, 0, 1}, 0.0), KEEL_OK);
  for (uint32_t p = 0; p < 2; p++) {
    const keel_draw *draws = kc_render_draws(r, p, &out->counts[p]);
    out->draws[p] = malloc(out->counts[p] * sizeof(keel_draw) + 1);
    memcpy(out->draws[p], draws, out->counts[p] * sizeof(keel_draw));
  }
  out->stats.struct_size = sizeof out->stats;
  api->stats(rr, &out->stats);
  kc_render_destroy(r);
  api->destroy(rr);
  kc_pool_destroy(pool);
}

static void test_same_draw_lists_any_worker_count(void) {
  kc_plugin_loader loader;
  kc_plugin_loader_init(&loader);
  kc_plugin_loader_add_dir(&loader, KEEL_TEST_PLUGIN_DIR, NULL);
  kc_plugin *plugin = NULL;
  CU_ASSERT_FATAL(kc_plugin_open(&loader, KEEL_PLUGIN_RENDERER, "null", &plugin, NULL, NULL) == KEEL_OK);
  kc_world *w = make_world();
  uint32_t live = kc_world_count(w, KEEL_OBJECT_ENTITY);
  CU_ASSERT_EQUAL(live, ENTITIES - (ENTITIES + 96) / 97);
  frame_result one, many[3];
  uint32_t threads[3] = {2, 3, 4};
  render_with(w, plugin, 1, &one);
  CU_ASSERT_EQUAL(one.counts[0] + one.counts[1], live);
  CU_ASSERT_EQUAL(one.counts[1], (ENTITIES + 3) / 4 - (ENTITIES + 387) / 388); /* the screen layer's, less removed */
  /* Each draw names its entity, sits in its layer's pass and carries its
   * position. */
  for (uint32_t p = 0; p < 2; p++) {
    for (uint32_t i = 0; i < one.counts[p]; i++) {
      const keel_draw *d = &one.draws[p][i];
      keel_object_snapshot snap;
      CU_ASSERT_EQUAL_FATAL(kc_world_get(w, d->entity, &snap), KEEL_OK);
      CU_ASSERT_EQUAL(snap.fields.layer, p == 1 ? KEEL_LAYER_SCREEN : KEEL_LAYER_WORLD);
      CU_ASSERT_EQUAL(d->model.m[12], snap.fields.position.x);
      CU_ASSERT_EQUAL(d->model.m[14], snap.fields.position.z);
      CU_ASSERT_EQUAL(d->reserved, 0);
    }
  }
  CU_ASSERT_EQUAL(one.stats.errors, 0);
  CU_ASSERT_EQUAL(one.stats.draws, 3ull * live);
  for (int k = 0; k < 3; k++) {
    render_with(w, plugin, threads[k], &many[k]);
    for (uint32_t p = 0; p < 2; p++) {
      CU_ASSERT_EQUAL(many[k].counts[p], one.counts[p]);
      CU_ASSERT_EQUAL(memcmp(many[k].draws[p], one.draws[p], one.counts[p] * sizeof(keel_draw)), 0);
      free(many[k].draws[p]);
    }
    CU_ASSERT_EQUAL(many[k].stats.errors, 0);
    CU_ASSERT_EQUAL(many[k].stats.draws, one.stats.draws);
    CU_ASSERT_EQUAL(many[k].stats.frames, 3);
    /* More workers, more encoders: the recording really was split. */
    CU_ASSERT(many[k].stats.encoders > one.stats.encoders);
  }
  /* Sorted by key: pass 0 front to back within each mesh. */
  for (uint32_t i = 1; i < one.counts[0]; i++) CU_ASSERT(one.draws[0][i - 1].mesh.id <= one.draws[0][i].mesh.id);
  free(one.draws[0]);
  free(one.draws[1]);
  kc_world_destroy(w);
  kc_plugin_close(plugin);
  kc_plugin_loader_free(&loader);
}

static CU_TestInfo tests[] = {
    {"10k entities: the same draw lists with 1, 2, 3, 4 workers", test_same_draw_lists_any_worker_count},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"frame pipeline", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
