// keel-test-labels: plugin
// keel-test-depends: renderer_null
/* Structs with over-aligned members are allocated at their own alignment
 * (issue 11: kc_engine needs 128 bytes and was allocated at 64). Several
 * are held at once, so an allocator that happens to return one well-placed
 * block does not hide a wrong request; UBSan's alignment check in the asan
 * build catches any member access the pointer test does not. */
#include <keel_test.h>

#include <stdint.h>

#include "base/config.h"
#include "base/cvar.h"
#include "frame/engine.h"
#include "frame/script_worker.h"
#include "plugin/loader.h"
#include "world/world.h"

#define HELD 12

static keel_result quiet_init(void *ctx, keel_message *error) {
  (void)ctx;
  (void)error;
  return KEEL_OK;
}

static keel_result quiet_tick(void *ctx, const keel_tick_info *tick, const keel_script_event *events, uint32_t count,
                              keel_message *error) {
  (void)ctx, (void)tick, (void)events, (void)count, (void)error;
  return KEEL_OK;
}

static keel_result quiet_factory(void *user, const keel_script_world *world, kc_tick_source *out,
                                 keel_message *error) {
  (void)user, (void)world, (void)error;
  *out = (kc_tick_source){.init = quiet_init, .tick = quiet_tick};
  return KEEL_OK;
}

static void test_script_workers_aligned(void) {
  CU_ASSERT(kc_script_worker_alignment() >= 128);
  kc_world *w = NULL;
  kc_world_config wc = {.max_entities = 64};
  CU_ASSERT_EQUAL_FATAL(kc_world_create(&wc, &w, NULL), KEEL_OK);
  kc_script_worker *sw[HELD] = {0};
  for (int i = 0; i < HELD; i++) {
    kc_script_worker_config cfg = {.world = w, .factory = quiet_factory, .command_capacity = 64};
    kc_err err;
    CU_ASSERT_EQUAL_FATAL(kc_script_worker_start(&cfg, &sw[i], &err), KEEL_OK);
    CU_ASSERT_EQUAL((uintptr_t)sw[i] % kc_script_worker_alignment(), 0);
  }
  for (int i = 0; i < HELD; i++) kc_script_worker_free(sw[i]);
  kc_world_destroy(w);
}

static void test_engines_aligned(void) {
  CU_ASSERT(kc_engine_alignment() >= 128);
  kc_config *cfg = kc_config_create();
  const char *sets[] = {"renderer.backend=null", "renderer.fallback=null", "script.runtime=native",
                        "engine.target_fps=0", "engine.stats_interval_s=0", "engine.headless=true"};
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) kc_config_set_override(cfg, sets[i], "test", NULL);
  kc_err err;
  CU_ASSERT_EQUAL_FATAL(kc_config_error_count(cfg), 0);
  CU_ASSERT_EQUAL_FATAL(kc_config_apply_cvars(cfg, &err), KEEL_OK);
  kc_plugin_loader loader;
  kc_plugin_loader_init(&loader);
  kc_plugin_loader_add_dir(&loader, KEEL_TEST_PLUGIN_DIR, NULL);
  kc_engine_options eo = {.config = cfg, .loader = &loader, .frames = 2, .headless = 1, .lockstep = 0,
                          .native_entities = 4};
  kc_engine *e[4] = {0};
  for (int i = 0; i < 4; i++) {
    CU_ASSERT_EQUAL_FATAL(kc_engine_create(&eo, &e[i], &err), KEEL_OK);
    CU_ASSERT_EQUAL((uintptr_t)e[i] % kc_engine_alignment(), 0);
  }
  CU_ASSERT_EQUAL(kc_engine_run(e[0], &err), KEEL_OK);
  for (int i = 0; i < 4; i++) kc_engine_destroy(e[i]);
  kc_plugin_loader_free(&loader);
  kc_config_destroy(cfg);
}

static CU_TestInfo tests[] = {
    {"script workers at their own alignment", test_script_workers_aligned},
    {"engines at their own alignment", test_engines_aligned},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"alignment", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
