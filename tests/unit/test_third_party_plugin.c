// keel-test-depends: renderer_null script_lua
// keel-test-timeout: 600
/* A plugin author's path, for real: install keel to a temporary prefix,
 * build samples/third_party_plugin out of tree with plain cmake against that
 * prefix (find_package(keel) and nothing else from the tree), and run the
 * installed keel with that renderer selected in an engine.ini. */
#include <keel_test.h>

#include <keel/abi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char out[1 << 17];
static char work[512];

static int sh(const char *fmt, const char *a, const char *b) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, fmt, a, b);
  int rc = kt_run(cmd, out, sizeof out);
  if (rc != 0) fprintf(stderr, "\n$ %s\n%s\n", cmd, out);
  return rc;
}

static void test_install_build_out_of_tree_and_run(void) {
  snprintf(work, sizeof work, "%s/keel-tpp-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
  char prefix[600], build[600];
  snprintf(prefix, sizeof prefix, "%s/prefix", work);
  snprintf(build, sizeof build, "%s/build", work);
  sh("rm -rf %s%s", work, "");
  CU_ASSERT_EQUAL_FATAL(sh("cmake --install %s --prefix %s >/dev/null", KEEL_TEST_BINARY_DIR, prefix), 0);
  /* The installed SDK: headers, CMake package, pkg-config, runner, plugins, config. */
  const char *installed[] = {"include/keel/abi.h", "include/keel/renderer.h", "lib/cmake/keel/keelConfig.cmake",
                             "lib/pkgconfig/keel.pc", "bin/keel", "share/keel/engine.ini",
                             "share/keel/samples/orbit/main.lua", "share/keel/samples/orbit/main.js",
                             "share/doc/keel/README.md", "share/doc/keel/docs/plugins.md",
                             "share/doc/keel/docs/configuration.md",
                             "share/doc/keel/samples/third_party_plugin/ascii_renderer.c"};
  for (size_t i = 0; i < sizeof installed / sizeof installed[0]; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", prefix, installed[i]);
    if (access(path, R_OK) != 0) fprintf(stderr, "\nnot installed: %s\n", path);
    CU_ASSERT_EQUAL(access(path, R_OK), 0);
  }
  CU_ASSERT_EQUAL(sh("PKG_CONFIG_PATH=%s/lib/pkgconfig pkg-config --cflags keel | grep -q -- '-I%s/lib/pkgconfig/../../include'",
                     prefix, prefix), 0);
  /* Out of tree: the sample's own folder, the installed prefix, nothing else. */
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "cmake -S %s/samples/third_party_plugin -B %%s -DCMAKE_PREFIX_PATH=%%s && "
           "cmake --build %s/build 2>&1", KEEL_TEST_SOURCE_DIR, work);
  CU_ASSERT_EQUAL_FATAL(sh(cmd, build, prefix), 0);
  /* The package says which ABI its headers are. */
  char abi[64];
  snprintf(abi, sizeof abi, "plugin ABI %d.%d (", KEEL_ABI_MAJOR, KEEL_ABI_MINOR);
  KT_ASSERT_CONTAINS(out, abi);
  CU_ASSERT_EQUAL(sh("PKG_CONFIG_PATH=%s/lib/pkgconfig pkg-config --variable=abi_minor keel %s", prefix, ""), 0);
  CU_ASSERT_EQUAL(atoi(out), KEEL_ABI_MINOR);
  /* The plugin exports its entry symbol and nothing else. */
  CU_ASSERT_EQUAL(sh("nm -D --defined-only %s/keel_renderer_ascii.so | awk '{print $3}' | sort | tr '\\n' ' ' %s", build, ""), 0);
  CU_ASSERT_STRING_EQUAL(out, "keel_plugin_entry ");
  /* Selected in an engine.ini, run by the installed keel. */
  char ini[4096];
  snprintf(ini, sizeof ini,
           "[engine]\nframes = 61\ntarget_fps = 0\n[renderer]\nbackend = ascii\nfallback = null\n"
           "[script]\nruntime = lua\nmain = %s/share/keel/samples/orbit/main.lua\ntick_budget_ms = 10000\n"
           "[plugins]\npath = %s\n[plugin.ascii]\nevery = 60\ncolumns = 48\n",
           prefix, build);
  const char *ini_path = kt_write_temp("third_party.ini", ini);
  snprintf(cmd, sizeof cmd, "%%s/bin/keel --config %%s");
  CU_ASSERT_EQUAL_FATAL(sh(cmd, prefix, ini_path), 0);
  KT_ASSERT_CONTAINS(out, "info  main: renderer: ascii 1.0.0 (");
  KT_ASSERT_CONTAINS(out, "keel_renderer_ascii.so)");
  KT_ASSERT_CONTAINS(out, "ascii frame 61\n");
  KT_ASSERT_CONTAINS(out, "keel: renderer ascii, script lua");
  KT_ASSERT_CONTAINS(out, "keel: 300 entities");
  /* Entities drawn as characters: the grid is not all dots, and it is as
   * wide as [plugin.ascii] columns says. */
  CU_ASSERT(strchr(out, 'o') != NULL || strchr(out, '*') != NULL);
  const char *pic = strstr(out, "ascii frame 61\n");
  if (pic) CU_ASSERT_EQUAL(strcspn(pic + strlen("ascii frame 61\n"), "\n"), 48);
  /* Its settings, known without creating it. */
  CU_ASSERT_EQUAL(sh("%s/bin/keel --list-plugins --verbose --plugin-path %s", prefix, build), 0);
  KT_ASSERT_CONTAINS(out, "      columns = 64 (int, an integer in 8..400): characters per line of the picture\n");
  /* The README's JavaScript example, from the install: the path is the
   * installed sample's (a relative --set path starts at the current directory). */
  snprintf(cmd, sizeof cmd, "%%s/bin/keel --frames 30 --set script.runtime=js --set script.main=%%s/share/keel/samples/orbit/main.js");
  char prefix2[700];
  snprintf(prefix2, sizeof prefix2, "%s", prefix);
  CU_ASSERT_EQUAL(sh(cmd, prefix, prefix2), 0);
  KT_ASSERT_CONTAINS(out, ", script js: "); /* on the default renderer chain's first that starts */
  sh("rm -rf %s %s", work, "");
}

static CU_TestInfo tests[] = {
    {"install, build out of tree, run", test_install_build_out_of_tree_and_run},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"third-party plugin", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
