/* The GL renderer on a context without glClipControl (OpenGL 3.3, as an
 * older driver gives): depth 0..1 then comes from the projection, and the
 * probe scene and the near plane must come out as with glClipControl. Mesa's
 * own overrides make llvmpipe that context; they are read once per process,
 * at the first context, hence a suite of its own. */
// keel-test-labels: plugin gl
// keel-test-depends: renderer_gl
#include "test_renderer_gl.h"

static int noclip_init(void) {
  setenv("MESA_GL_VERSION_OVERRIDE", "3.3", 1);
  setenv("MESA_EXTENSION_OVERRIDE", "-GL_ARB_clip_control", 1);
  return glt_suite_init();
}

static void test_context_without_clip_control(void) {
  keel_renderer *r = glt_make();
  CU_ASSERT_TRUE(fake_host_log_has(&glt_host, "3.3 (Core Profile)"));
  CU_ASSERT_TRUE(fake_host_log_has(&glt_host, "depth 0..1 by the projection"));
  glt_assert_clean(r);
  glt_api->destroy(r);
}

static void test_probe_scene(void) {
  keel_renderer *r = glt_make();
  keel_mesh cube = glt_mesh(r, KEEL_MESH_CUBE), sphere = glt_mesh(r, KEEL_MESH_SPHERE);
  glt_frame f = glt_probe_frame(cube, sphere);
  CU_ASSERT_EQUAL(glt_render(r, &f, 2), KEEL_OK);
  kt_image img = glt_pixels(r);
  glt_check_probe(&img, &f);
  kt_image_free(&img);
  glt_assert_clean(r);
  glt_api->destroy(r);
}

static void test_near_plane(void) {
  keel_renderer *r = glt_make();
  glt_check_near_plane(r);
  glt_assert_clean(r);
  glt_api->destroy(r);
}

static CU_TestInfo noclip_tests[] = {
    {"a 3.3 context without glClipControl", test_context_without_clip_control},
    {"probe scene pixels", test_probe_scene},
    {"near plane at 0.1, depth 0..1", test_near_plane},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"renderer gl without glClipControl", noclip_init, glt_suite_cleanup, NULL, NULL, noclip_tests},
    CU_SUITE_INFO_NULL,
};
