// keel-test-labels: plugin
// keel-test-depends: renderer_null keel_test_plugins
/* `keel --screenshot` with a renderer that reads back (the null renderer:
 * the clear colour everywhere) and one that cannot (exit 2), and the image
 * test support every renderer's tests use: PNG round trip, the comparison
 * with its 2/255 channel tolerance, the diff image. */
#include <keel_test.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

#include "../plugins/test_plugin_abi.h"

static char out[1 << 16];

static int keel(const char *args) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "%s --set engine.target_fps=0 --set script.runtime=native --set renderer.backend=null %s",
           KEEL_TEST_KEEL_EXE, args);
  return kt_run(cmd, out, sizeof out);
}

/* The engine's clear colour (0.05, 0.06, 0.08, 1) as UNORM8. */
static void expect_clear_everywhere(const kt_image *img) {
  kt_image want;
  CU_ASSERT_TRUE_FATAL(kt_image_alloc(&want, img->width, img->height));
  for (size_t i = 0; i < (size_t)img->width * img->height; i++) {
    uint8_t *p = want.pixels + i * 4;
    p[0] = 13, p[1] = 15, p[2] = 20, p[3] = 255;
  }
  kt_image_diff d = kt_image_compare(img, &want, KT_IMAGE_CHANNEL_TOLERANCE);
  CU_ASSERT_EQUAL(d.off, 0);
  kt_image_free(&want);
}

static void test_screenshot_of_a_chosen_frame(void) {
  const char *png = kt_image_out_path("screenshot_null_frame3.png");
  remove(png);
  char args[2048];
  snprintf(args, sizeof args, "--frames 6 --set renderer.width=64 --set renderer.height=32 --screenshot %s "
                              "--screenshot-frame 3", png);
  CU_ASSERT_EQUAL_FATAL(keel(args), 0);
  KT_ASSERT_CONTAINS(out, "screenshot: frame 3 (64x32) written to ");
  KT_ASSERT_CONTAINS(out, "keel: 6 frames in "); /* the run goes on after the screenshot */
  kt_image img = {0};
  CU_ASSERT_TRUE_FATAL(kt_image_load(&img, png));
  CU_ASSERT_EQUAL(img.width, 64);
  CU_ASSERT_EQUAL(img.height, 32);
  expect_clear_everywhere(&img);
  kt_image_free(&img);
}

static void test_screenshot_defaults_to_the_last_frame(void) {
  const char *png = kt_image_out_path("screenshot_null_last.png");
  remove(png);
  char args[2048];
  snprintf(args, sizeof args, "--frames 4 --set renderer.width=32 --set renderer.height=16 --screenshot %s", png);
  CU_ASSERT_EQUAL_FATAL(keel(args), 0);
  KT_ASSERT_CONTAINS(out, "screenshot: frame 4 (32x16) written to ");
  kt_image img = {0};
  CU_ASSERT_TRUE_FATAL(kt_image_load(&img, png));
  expect_clear_everywhere(&img);
  kt_image_free(&img);
}

static void test_no_readback_exits_2(void) {
  char args[2048];
  snprintf(args, sizeof args, "--frames 3 --plugin-path %s/test-plugins --set renderer.backend=probe --screenshot %s",
           KEEL_TEST_BINARY_DIR, kt_image_out_path("never.png"));
  CU_ASSERT_EQUAL(keel(args), 2);
  KT_ASSERT_CONTAINS(out, "--screenshot: renderer 'probe' cannot read its frames back (no keel.renderer.readback/1)");
  CU_ASSERT_PTR_NULL(strstr(out, "frames in"));
}

/* A third-party readback that breaks its contract: the sizes it reports
 * are checked before they size an allocation or reach the PNG writer, and
 * a table without its function counts as no readback. */
static void test_lying_readback_refused(void) {
  static const struct {
    const char *mode;
    int status;
    const char *says;
  } cases[] = {
      {"null", 2, "--screenshot: renderer 'bad_readback' cannot read its frames back"},
      {"huge", 1, "--screenshot: renderer 'bad_readback' says its frame is 4294967295x4294967295 pixels (expected "
                  "1..16384 each); not written"},
      {"zero", 1, "--screenshot: renderer 'bad_readback' says its frame is 0x0 pixels (expected 1..16384 each); not "
                  "written"},
      {"grows", 1, "--screenshot: renderer 'bad_readback' read back 64x64 pixels after saying 4x4; not written"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *png = kt_image_out_path("lying_readback.png");
    remove(png);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             TP_READBACK_ENV "=%s %s --set engine.target_fps=0 --set script.runtime=native --frames 2 "
             "--plugin-path %s/test-plugins --set renderer.backend=bad_readback --screenshot %s",
             cases[i].mode, KEEL_TEST_KEEL_EXE, KEEL_TEST_BINARY_DIR, png);
    CU_ASSERT_EQUAL(kt_run(cmd, out, sizeof out), cases[i].status);
    KT_ASSERT_CONTAINS(out, cases[i].says);
    CU_ASSERT_PTR_NULL(strstr(out, "Sanitizer"));
    FILE *f = fopen(png, "rb");
    CU_ASSERT_PTR_NULL(f);
    if (f) fclose(f);
  }
}

static void test_bad_screenshot_frame_exits_2(void) {
  CU_ASSERT_EQUAL(keel("--frames 3 --screenshot /tmp/x.png --screenshot-frame 9"), 2);
  KT_ASSERT_CONTAINS(out, "--screenshot-frame 9: the run stops after 3 frames");
  CU_ASSERT_EQUAL(keel("--frames 3 --screenshot /tmp/x.png --screenshot-frame 0"), 2);
  KT_ASSERT_CONTAINS(out, "--screenshot-frame: N must be a whole number of frames, 1 or more");
  CU_ASSERT_EQUAL(keel("--frames 3 --screenshot-frame 2"), 2);
  KT_ASSERT_CONTAINS(out, "--screenshot-frame needs --screenshot FILE.png");
}

static void test_unwritable_screenshot_fails_run(void) {
  CU_ASSERT_EQUAL(keel("--frames 2 --screenshot /nonexistent-dir/x.png"), 1);
  KT_ASSERT_CONTAINS(out, "/nonexistent-dir/x.png: cannot write: ");
}

/* ---- the image support itself ---- */

static void fill(kt_image *img, uint8_t r, uint8_t g, uint8_t b) {
  for (size_t i = 0; i < (size_t)img->width * img->height; i++) {
    uint8_t *p = img->pixels + i * 4;
    p[0] = r, p[1] = g, p[2] = b, p[3] = 255;
  }
}

static void test_png_round_trip(void) {
  kt_image a, b = {0};
  CU_ASSERT_TRUE_FATAL(kt_image_alloc(&a, 7, 5));
  for (size_t i = 0; i < 7 * 5 * 4; i++) a.pixels[i] = (uint8_t)(i * 37 + 11);
  const char *path = kt_image_out_path("roundtrip.png");
  CU_ASSERT_TRUE_FATAL(kt_image_save(&a, path));
  CU_ASSERT_TRUE_FATAL(kt_image_load(&b, path));
  CU_ASSERT_EQUAL(b.width, 7);
  CU_ASSERT_EQUAL(b.height, 5);
  CU_ASSERT_EQUAL(memcmp(a.pixels, b.pixels, 7 * 5 * 4), 0);
  kt_image_free(&a);
  kt_image_free(&b);
  /* Not a PNG: refused, not crashed. */
  kt_image c = {0};
  CU_ASSERT_FALSE(kt_image_load(&c, kt_write_temp("not.png", "GIF89a, or anything else")));
  CU_ASSERT_PTR_NULL(c.pixels);
}

static void test_compare_counts_pixels_beyond_2_of_255(void) {
  kt_image a, b;
  CU_ASSERT_TRUE_FATAL(kt_image_alloc(&a, 10, 10));
  CU_ASSERT_TRUE_FATAL(kt_image_alloc(&b, 10, 10));
  fill(&a, 100, 100, 100);
  fill(&b, 100, 100, 100);
  b.pixels[(3 * 10 + 4) * 4 + 1] = 102; /* off by 2: equal */
  b.pixels[(5 * 10 + 6) * 4 + 2] = 103; /* off by 3: off */
  b.pixels[(9 * 10 + 9) * 4 + 0] = 0;   /* off by 100 */
  kt_image_diff d = kt_image_compare(&a, &b, KT_IMAGE_CHANNEL_TOLERANCE);
  CU_ASSERT_EQUAL(d.pixels, 100);
  CU_ASSERT_EQUAL(d.off, 2);
  CU_ASSERT_DOUBLE_EQUAL(d.fraction_off, 0.02, 1e-12);
  CU_ASSERT_EQUAL(d.max_channel_diff, 100);
  CU_ASSERT_EQUAL(d.first_x, 6);
  CU_ASSERT_EQUAL(d.first_y, 5);
  KT_ASSERT_PIXEL(&b, 4, 3, 100, 102, 100, 255, 0);
  /* The diff image marks exactly the pixels off. */
  const char *path = kt_image_out_path("compare.diff.png");
  CU_ASSERT_TRUE_FATAL(kt_image_write_diff(&a, &b, KT_IMAGE_CHANNEL_TOLERANCE, path));
  kt_image diff = {0};
  CU_ASSERT_TRUE_FATAL(kt_image_load(&diff, path));
  uint32_t red = 0;
  for (size_t i = 0; i < 100; i++) red += diff.pixels[i * 4] >= 128 && diff.pixels[i * 4 + 1] == 0;
  CU_ASSERT_EQUAL(red, 2);
  /* Different sizes: all off. */
  kt_image small;
  CU_ASSERT_TRUE_FATAL(kt_image_alloc(&small, 3, 3));
  d = kt_image_compare(&small, &a, KT_IMAGE_CHANNEL_TOLERANCE);
  CU_ASSERT_TRUE(d.size_mismatch);
  CU_ASSERT_DOUBLE_EQUAL(d.fraction_off, 1.0, 0);
  kt_image_free(&small);
  kt_image_free(&diff);
  kt_image_free(&a);
  kt_image_free(&b);
}

static CU_TestInfo tests[] = {
    {"screenshot of a chosen frame", test_screenshot_of_a_chosen_frame},
    {"screenshot defaults to the last frame", test_screenshot_defaults_to_the_last_frame},
    {"no readback exits 2", test_no_readback_exits_2},
    {"a readback that lies about its image is refused", test_lying_readback_refused},
    {"bad --screenshot-frame exits 2", test_bad_screenshot_frame_exits_2},
    {"unwritable screenshot fails the run", test_unwritable_screenshot_fails_run},
    {"PNG round trip", test_png_round_trip},
    {"compare counts pixels beyond 2/255", test_compare_counts_pixels_beyond_2_of_255},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"screenshot", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
