// keel-test-timeout: 60
/* engine.ini as an attacker writes it: far more [cvars] lines than any real
 * file, and paths that name something other than a regular file. Each must
 * end quickly with every problem reported, never hang. The timeout above is
 * the assertion for the size case: 500,000 lines take about a second here
 * and took minutes when each line was compared with every earlier one. */
#include "base/config.h"
#include "base/cvar.h"
#include "keel_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int suite_init(void) {
  kc_cvar_shutdown();
  return kc_cvar_register_engine(NULL) == KEEL_OK ? 0 : 1;
}

static int suite_cleanup(void) {
  kc_cvar_shutdown();
  return 0;
}

/* Every unknown name is reported with its own line, and a duplicate of a
 * registered cvar is still caught after them all. */
static void test_many_cvar_lines(void) {
  enum { LINES = 500000 };
  size_t cap = (size_t)LINES * 16 + 64;
  char *text = malloc(cap);
  CU_ASSERT_PTR_NOT_NULL_FATAL(text);
  size_t n = (size_t)snprintf(text, cap, "[cvars]\nsim_speed = 2\n");
  for (int i = 0; i < LINES; i++) n += (size_t)snprintf(text + n, cap - n, "a%d = 1\n", i);
  snprintf(text + n, cap - n, "sim_speed = 3\n");
  kc_config *cfg = kc_config_create();
  CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
  kc_err err;
  CU_ASSERT_EQUAL(kc_config_load_string(cfg, text, "big.ini", &err), KEEL_ERR_PARSE);
  CU_ASSERT_EQUAL_FATAL(kc_config_error_count(cfg), (size_t)LINES + 1);
  KT_ASSERT_CONTAINS(kc_config_error(cfg, 0), "big.ini:3: unknown cvar 'a0' in [cvars]");
  KT_ASSERT_CONTAINS(kc_config_error(cfg, LINES - 1), "big.ini:500002: unknown cvar 'a499999'");
  KT_ASSERT_CONTAINS(kc_config_error(cfg, LINES),
                     "big.ini:500003: duplicate cvar 'sim_speed' in [cvars] (first set at line 2)");
  kc_config_destroy(cfg);
  free(text);
}

/* The same for a plugin's section: its keys are only checked against the
 * plugin's settings later, so all of them are kept, and a repeated one is
 * still found. */
static void test_many_plugin_keys(void) {
  enum { LINES = 500000 };
  size_t cap = (size_t)LINES * 16 + 64;
  char *text = malloc(cap);
  CU_ASSERT_PTR_NOT_NULL_FATAL(text);
  size_t n = (size_t)snprintf(text, cap, "[plugin.game]\n");
  for (int i = 0; i < LINES; i++) n += (size_t)snprintf(text + n, cap - n, "k%d = 1\n", i);
  snprintf(text + n, cap - n, "k7 = 2\n");
  kc_config *cfg = kc_config_create();
  CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
  kc_err err;
  CU_ASSERT_EQUAL(kc_config_load_string(cfg, text, "big.ini", &err), KEEL_ERR_PARSE);
  CU_ASSERT_EQUAL_FATAL(kc_config_error_count(cfg), 1);
  KT_ASSERT_CONTAINS(kc_config_error(cfg, 0), "big.ini:500002: duplicate key 'k7' in [plugin.game] (first set at line 9)");
  CU_ASSERT_STRING_EQUAL(kc_config_plugin_value(cfg, "game", "k499999"), "1");
  kc_config_destroy(cfg);
  free(text);
}

static CU_TestInfo tests[] = {
    {"500,000 [cvars] lines", test_many_cvar_lines},
    {"500,000 keys of a plugin section", test_many_plugin_keys},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"config_hostile", suite_init, suite_cleanup, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
