// keel-test-labels: package
// keel-test-depends: renderer_null script_lua script_js
// keel-test-timeout: 600
// keel-test-no-sanitizer
/* The packages, as a user gets them: CPack makes the .deb and the .tar.gz
 * of this build tree (what `cmake --build --preset release --target
 * package` does for the release tree; reusing this tree's build costs no
 * rebuild), the .deb is unpacked into a temporary root without installing
 * it, and that keel runs: --version, --list-plugins, the default game
 * headless and the README's JavaScript example; the third-party sample the
 * package ships is built against it with find_package(keel) and run. Its
 * dependencies come from dpkg-shlibdeps. Not under the sanitizers: a
 * package of an instrumented build is not one anybody ships. */
#include <keel_test.h>

#include <keel/abi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char out[1 << 17];
static char work[512];

static int sh(const char *cmd) {
  int rc = kt_run(cmd, out, sizeof out);
  if (rc != 0) fprintf(stderr, "\n$ %s\n%s\n", cmd, out);
  return rc;
}

static void test_deb_and_tgz(void) {
  snprintf(work, sizeof work, "%s/keel-package-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
  char cmd[8192], deb[700], tgz[700], root[700], keel[800];
  snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s && cd %s && cpack -G 'DEB;TGZ' -B %s/out", work, work,
           KEEL_TEST_BINARY_DIR, work);
  CU_ASSERT_EQUAL_FATAL(sh(cmd), 0);
  snprintf(deb, sizeof deb, "%s/out/keel_0.1.0_amd64.deb", work);
  snprintf(tgz, sizeof tgz, "%s/out/keel-0.1.0-Linux.tar.gz", work);
  CU_ASSERT_EQUAL_FATAL(access(deb, R_OK), 0);
  CU_ASSERT_EQUAL_FATAL(access(tgz, R_OK), 0);

  /* The .deb: its metadata, dependencies computed from what keel links. */
  snprintf(cmd, sizeof cmd, "dpkg-deb -f %s Package Version Depends", deb);
  CU_ASSERT_EQUAL(sh(cmd), 0);
  KT_ASSERT_CONTAINS(out, "Package: keel\n");
  KT_ASSERT_CONTAINS(out, "Version: 0.1.0\n");
  KT_ASSERT_CONTAINS(out, "libc6 (>= ");
  KT_ASSERT_CONTAINS(out, "liblua5.4-0 (>= ");
  KT_ASSERT_CONTAINS(out, "libinih1 (>= ");

  /* Unpacked, not installed: the runner finds its plugins and data next to itself. */
  snprintf(root, sizeof root, "%s/root", work);
  snprintf(keel, sizeof keel, "%s/usr/bin/keel", root);
  snprintf(cmd, sizeof cmd, "dpkg-deb -x %s %s", deb, root);
  CU_ASSERT_EQUAL_FATAL(sh(cmd), 0);
  snprintf(cmd, sizeof cmd, "%s --version", keel);
  CU_ASSERT_EQUAL(sh(cmd), 0);
  char want[1024];
  snprintf(want, sizeof want, "keel 0.1.0 (plugin ABI %d.%d)\n", KEEL_ABI_MAJOR, KEEL_ABI_MINOR);
  CU_ASSERT_STRING_EQUAL(out, want);
  snprintf(cmd, sizeof cmd, "env -u KEEL_PLUGIN_PATH %s --list-plugins", keel);
  CU_ASSERT_EQUAL(sh(cmd), 0);
  snprintf(want, sizeof want, "  1. %s/usr/lib/keel/plugins\n", root);
  KT_ASSERT_CONTAINS(out, want);
  KT_ASSERT_CONTAINS(out, "null         renderer  ");
  KT_ASSERT_CONTAINS(out, "lua          script    ");
  KT_ASSERT_CONTAINS(out, "js           script    ");
  CU_ASSERT_PTR_NULL(strstr(out, "refused"));

  /* The default game, headless: the packaged engine.ini and sample. */
  snprintf(cmd, sizeof cmd, "cd %s && env -u KEEL_PLUGIN_PATH %s --headless --frames 30", work, keel);
  CU_ASSERT_EQUAL(sh(cmd), 0);
  snprintf(want, sizeof want, "game %s/usr/share/keel/samples/orbit/main.lua", root);
  KT_ASSERT_CONTAINS(out, want);
  KT_ASSERT_CONTAINS(out, "keel: 30 frames in ");
  KT_ASSERT_CONTAINS(out, ", script lua: ");
  /* The README's JavaScript example, from the package. */
  snprintf(cmd, sizeof cmd, "%s --headless --frames 10 --set script.runtime=js --set "
           "script.main=%s/usr/share/keel/samples/orbit/main.js", keel, root);
  CU_ASSERT_EQUAL(sh(cmd), 0);
  KT_ASSERT_CONTAINS(out, ", script js: ");

  /* The third-party sample the package ships, built against the package. */
  snprintf(cmd, sizeof cmd,
           "cmake -S %s/usr/share/doc/keel/samples/third_party_plugin -B %s/ascii -DCMAKE_PREFIX_PATH=%s/usr && "
           "cmake --build %s/ascii",
           root, work, root, work);
  CU_ASSERT_EQUAL_FATAL(sh(cmd), 0);
  snprintf(want, sizeof want, "plugin ABI %d.%d (%s/usr/lib/cmake/keel)", KEEL_ABI_MAJOR, KEEL_ABI_MINOR, root);
  KT_ASSERT_CONTAINS(out, want);
  snprintf(cmd, sizeof cmd,
           "%s --plugin-path %s/ascii --set renderer.backend=ascii --set renderer.fallback= --set script.runtime=native "
           "--frames 3 --lockstep --set plugin.ascii.every=2",
           keel, work);
  CU_ASSERT_EQUAL(sh(cmd), 0);
  KT_ASSERT_CONTAINS(out, "renderer: ascii 1.0.0 (");
  KT_ASSERT_CONTAINS(out, "ascii frame 3\n");

  /* The .tar.gz: the same install, relocatable, under keel-0.1.0-Linux/. */
  snprintf(cmd, sizeof cmd, "tar tzf %s", tgz);
  CU_ASSERT_EQUAL(sh(cmd), 0);
  const char *files[] = {"keel-0.1.0-Linux/bin/keel\n", "keel-0.1.0-Linux/lib/keel/plugins/keel_renderer_null.so\n",
                         "keel-0.1.0-Linux/include/keel/abi.h\n", "keel-0.1.0-Linux/lib/cmake/keel/keelConfig.cmake\n",
                         "keel-0.1.0-Linux/share/keel/engine.ini\n", "keel-0.1.0-Linux/share/doc/keel/README.md\n"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) KT_ASSERT_CONTAINS(out, files[i]);
  snprintf(cmd, sizeof cmd, "cd %s && tar xzf %s && keel-0.1.0-Linux/bin/keel --headless --frames 5 "
           "--set script.runtime=native", work, tgz);
  CU_ASSERT_EQUAL(sh(cmd), 0);
  KT_ASSERT_CONTAINS(out, "keel: 5 frames in ");

  snprintf(cmd, sizeof cmd, "rm -rf %s", work);
  sh(cmd);
}

static CU_TestInfo tests[] = {
    {".deb and .tar.gz: unpacked, run, built against", test_deb_and_tgz},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"packages", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
