/* The GL renderer's failures as a user meets them, through `keel`: no EGL
 * device, a context older than OpenGL 3.3, a shader the driver will not
 * compile, a device that is not there. Each is one line naming the cause,
 * and the fallback chain goes on to the next renderer. The faults are real
 * ones, made with the loader's and Mesa's own environment switches. */
// keel-test-labels: plugin gl
// keel-test-depends: renderer_gl renderer_null
#include <keel_test.h>

#include <stdio.h>
#include <string.h>

static char out[1 << 16];

/* keel with GL first and null after it, the environment `env` prepended. */
static int keel_gl(const char *env, const char *args) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "env %s %s --set engine.target_fps=0 --frames 3 --set script.runtime=native --set renderer.backend=gl "
           "--set renderer.fallback=null %s",
           env, KEEL_TEST_KEEL_EXE, args);
  return kt_run(cmd, out, sizeof out);
}

static void assert_fell_back(const char *reason) {
  KT_ASSERT_CONTAINS(out, "renderer 'gl': ");
  KT_ASSERT_CONTAINS(out, "keel_renderer_gl.so: create failed: ");
  KT_ASSERT_CONTAINS(out, reason);
  KT_ASSERT_CONTAINS(out, "info  main: renderer: null ");
}

static void test_runs_on_gl(void) {
  CU_ASSERT_EQUAL(keel_gl("", "--stats-json /dev/stdout"), 0);
  KT_ASSERT_CONTAINS(out, "info  main: renderer: gl ");
  KT_ASSERT_CONTAINS(out, "headless (EGL surfaceless)");
  KT_ASSERT_CONTAINS(out, "\"debug_messages\": 0");
  KT_ASSERT_CONTAINS(out, "\"errors\": {\"total\": 0,");
}

static void test_no_egl_device(void) {
  /* libglvnd finds no EGL driver at all. */
  CU_ASSERT_EQUAL(keel_gl("__EGL_VENDOR_LIBRARY_FILENAMES=/nonexistent.json", ""), 0);
  assert_fell_back("no EGL device: EGL offers no surfaceless platform (EGL_MESA_platform_surfaceless; install "
                   "Mesa's libegl-mesa0)\n");
}

static void test_context_too_old(void) {
  CU_ASSERT_EQUAL(keel_gl("MESA_GL_VERSION_OVERRIDE=3.2", ""), 0);
  assert_fell_back("no OpenGL 3.3 core context: eglCreateContext failed (EGL_BAD_MATCH)\n");
}

static void test_shader_does_not_compile(void) {
  CU_ASSERT_EQUAL(keel_gl("MESA_GL_VERSION_OVERRIDE=3.3 MESA_GLSL_VERSION_OVERRIDE=130", ""), 0);
  assert_fell_back("keel_gl.vert does not compile on llvmpipe");
  KT_ASSERT_CONTAINS(out, "error: GLSL 3.30 is not supported");
}

static void test_device_not_found(void) {
  CU_ASSERT_EQUAL(keel_gl("", "--set renderer.device=nosuch"), 0);
  assert_fell_back("device 'nosuch' matches no GL device; EGL surfaceless offers one: 0 llvmpipe");
}

static void test_validation_off(void) {
  CU_ASSERT_EQUAL(keel_gl("", "--set renderer.validation=off"), 0);
  KT_ASSERT_CONTAINS(out, "debug output off");
  CU_ASSERT_EQUAL(keel_gl("", "--set renderer.validation=on"), 0);
  KT_ASSERT_CONTAINS(out, "debug output on");
}

static CU_TestInfo fault_tests[] = {
    {"runs on GL", test_runs_on_gl},
    {"no EGL device", test_no_egl_device},
    {"context older than 3.3", test_context_too_old},
    {"shader does not compile", test_shader_does_not_compile},
    {"device not found", test_device_not_found},
    {"validation on and off", test_validation_off},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"renderer gl faults", NULL, NULL, NULL, NULL, fault_tests},
    CU_SUITE_INFO_NULL,
};
