// keel-test-labels: plugin
// keel-test-depends: keel_test_plugins
/* ABI 1.1 keeps 1.0 plugins working: the third-party sample renderer, built
 * once against the SDK as released at 1.0 (tests/plugins/sdk_1_0) and once
 * against today's, loads in this 1.1 host and draws the very same picture
 * of the same lockstep game. A host that handed a 1.0 plugin 1.1-sized
 * draws (or any other grown struct it cannot read) would scramble the first
 * one's picture. */
#include "keel_test.h"

#include <keel/abi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char out_old[1 << 16], out_new[1 << 16];

/* Runs keel on the native demo game with the ascii renderer found in
 * test-plugins/sdk_<sdk>, printing frames 1, 3 and 5: through its setting
 * when it has settings (1.1), through the environment when built against
 * 1.0, which has none. */
static int run_ascii(const char *sdk, char *out, size_t cap) {
  char cmd[2048];
  bool settings = strcmp(sdk, "1_0") != 0;
  snprintf(cmd, sizeof cmd,
           "%s %s --frames 6 --lockstep --plugin-path %s/test-plugins/sdk_%s %s "
           "--set renderer.backend=ascii --set renderer.fallback= --set script.runtime=native 2>&1",
           settings ? "" : "KEEL_ASCII_EVERY=2", KEEL_TEST_KEEL_EXE, KEEL_TEST_BINARY_DIR, sdk,
           settings ? "--set plugin.ascii.every=2" : "");
  int rc = kt_run(cmd, out, cap);
  if (rc != 0) fprintf(stderr, "\n$ %s\n%s\n", cmd, out);
  return rc;
}

/* The pictures only: from the first "ascii frame" line to the summary. */
static const char *pictures(char *out) {
  char *start = strstr(out, "ascii frame ");
  if (!start) return "";
  char *end = strstr(start, "keel: ");
  if (end) *end = '\0';
  return start;
}

static void test_sdk_1_0_plugin_draws_like_a_1_1_build(void) {
  CU_ASSERT_EQUAL_FATAL(run_ascii("1_0", out_old, sizeof out_old), 0);
  KT_ASSERT_CONTAINS(out_old, "renderer: ascii 1.0.0");
  CU_ASSERT_EQUAL_FATAL(run_ascii("current", out_new, sizeof out_new), 0);
  KT_ASSERT_CONTAINS(out_new, "renderer: ascii 1.0.0");
  const char *a = pictures(out_old), *b = pictures(out_new);
  /* Three pictures, with entities on them. */
  int frames = 0;
  for (const char *p = a; (p = strstr(p, "ascii frame ")) != NULL; p++) frames++;
  CU_ASSERT_EQUAL(frames, 3);
  CU_ASSERT_PTR_NOT_NULL(strpbrk(a, "o*"));
  if (strcmp(a, b) != 0) fprintf(stderr, "\n1.0 build:\n%s\n1.1 build:\n%s\n", a, b);
  CU_ASSERT_STRING_EQUAL(a, b);
}

/* --list-plugins says what each build is. */
static void test_list_shows_both_minors(void) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s --list-plugins --plugin-path %s/test-plugins/sdk_1_0", KEEL_TEST_KEEL_EXE,
           KEEL_TEST_BINARY_DIR);
  CU_ASSERT_EQUAL(kt_run(cmd, out_old, sizeof out_old), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(out_old, "ascii        renderer  1.0.0     1.0   ok"));
  snprintf(cmd, sizeof cmd, "%s --list-plugins --plugin-path %s/test-plugins/sdk_current", KEEL_TEST_KEEL_EXE,
           KEEL_TEST_BINARY_DIR);
  CU_ASSERT_EQUAL(kt_run(cmd, out_new, sizeof out_new), 0);
  char want[128];
  snprintf(want, sizeof want, "ascii        renderer  1.0.0     %d.%d   ok", KEEL_ABI_MAJOR, KEEL_ABI_MINOR);
  CU_ASSERT_PTR_NOT_NULL(strstr(out_new, want));
  if (!strstr(out_old, "1.0   ok") || !strstr(out_new, want)) fprintf(stderr, "\n%s\n%s\n", out_old, out_new);
}

/* The 1.1 build's settings change its picture (a 32x8 grid); the 1.0 build
 * has no settings, so setting one is a configuration error naming it. */
static void test_settings_only_in_the_1_1_build(void) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "%s --frames 2 --lockstep --plugin-path %s/test-plugins/sdk_current --set renderer.backend=ascii "
           "--set renderer.fallback= --set script.runtime=native --set plugin.ascii.columns=32 "
           "--set plugin.ascii.rows=8 --set plugin.ascii.every=1",
           KEEL_TEST_KEEL_EXE, KEEL_TEST_BINARY_DIR);
  CU_ASSERT_EQUAL(kt_run(cmd, out_new, sizeof out_new), 0);
  const char *pic = strstr(out_new, "ascii frame 1\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(pic);
  pic = strchr(pic, '\n') + 1;
  CU_ASSERT_EQUAL(strcspn(pic, "\n"), 32); /* 32 columns */
  int lines = 0;
  for (const char *p = pic; *p && *p != 'a' && *p != 'k' && *p != '['; p = strchr(p, '\n') + 1) lines++;
  CU_ASSERT_EQUAL(lines, 8);
  snprintf(cmd, sizeof cmd,
           "%s --check-config --plugin-path %s/test-plugins/sdk_1_0 --set plugin.ascii.columns=32 "
           "--set script.runtime=native",
           KEEL_TEST_KEEL_EXE, KEEL_TEST_BINARY_DIR);
  CU_ASSERT_EQUAL(kt_run(cmd, out_old, sizeof out_old), 2);
  KT_ASSERT_CONTAINS(out_old, "--set plugin.ascii.columns=32: unknown setting 'columns': plugin 'ascii' declares no "
                              "settings");
}

static CU_TestInfo compat_tests[] = {
    {"a plugin built against SDK 1.0 draws like one built against 1.1", test_sdk_1_0_plugin_draws_like_a_1_1_build},
    {"--list-plugins shows each plugin's ABI", test_list_shows_both_minors},
    {"settings exist only in the 1.1 build", test_settings_only_in_the_1_1_build},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"sdk 1.0 compatibility", NULL, NULL, NULL, NULL, compat_tests},
    CU_SUITE_INFO_NULL,
};
