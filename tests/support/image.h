/* Image test support shared by every renderer's tests (Vulkan, GL, null):
 * PNG files in and out, a per-pixel comparison with a tolerance, a diff
 * image written when a comparison fails, and golden files that a documented
 * command regenerates. One rule everywhere: a pixel is "off" when any of its
 * channels differs by more than KT_IMAGE_CHANNEL_TOLERANCE (2/255), and an
 * image matches when the fraction of pixels off is at most the test's
 * stated tolerance. */
#ifndef KEEL_TEST_IMAGE_H
#define KEEL_TEST_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest per-channel difference (out of 255) that still counts as equal. */
#define KT_IMAGE_CHANNEL_TOLERANCE 2

/* Tightly packed RGBA8, top row first. */
typedef struct kt_image {
  uint8_t *pixels; /* malloc'ed; kt_image_free releases it */
  uint32_t width, height;
} kt_image;

typedef struct kt_image_diff {
  uint64_t pixels;        /* pixels compared */
  uint64_t off;           /* pixels with a channel off by more than the channel tolerance */
  double fraction_off;    /* off / pixels (1.0 when the sizes differ) */
  int max_channel_diff;   /* largest difference of any channel, 0..255 */
  uint32_t first_x, first_y; /* first pixel off (row-major), when off > 0 */
  bool size_mismatch;
} kt_image_diff;

/* A width x height image filled with zeros; false when out of memory. */
bool kt_image_alloc(kt_image *img, uint32_t width, uint32_t height);
void kt_image_free(kt_image *img);
/* PNG in and out (libpng through the core's kc_png). On failure returns
 * false and prints the reason to stderr. */
bool kt_image_load(kt_image *img, const char *path);
bool kt_image_save(const kt_image *img, const char *path);

/* The pixel at (x, y) as 4 bytes (NULL outside the image). */
const uint8_t *kt_image_at(const kt_image *img, uint32_t x, uint32_t y);

/* Compares two images pixel by pixel with a channel tolerance (0..255;
 * use KT_IMAGE_CHANNEL_TOLERANCE). Images of different sizes compare as
 * entirely off. */
kt_image_diff kt_image_compare(const kt_image *actual, const kt_image *expected, int channel_tolerance);

/* Writes a diff image: pixels off in red (brighter = larger difference),
 * the rest as a dimmed grey copy of `expected`. Same size images only. */
bool kt_image_write_diff(const kt_image *actual, const kt_image *expected, int channel_tolerance, const char *path);

/* A CUnit assertion: the pixel at (x, y) is within `tolerance` (per channel,
 * out of 255) of rgba; prints both values when it is not. */
#define KT_ASSERT_PIXEL(img, x, y, r, g, b, a, tolerance) \
  kt_assert_pixel((img), (x), (y), (r), (g), (b), (a), (tolerance), __FILE__, __LINE__)
void kt_assert_pixel(const kt_image *img, uint32_t x, uint32_t y, int r, int g, int b, int a, int tolerance,
                     const char *file, int line);

/* A CUnit assertion against the golden file tests/golden/<name>.png: the
 * fraction of pixels off by more than KT_IMAGE_CHANNEL_TOLERANCE is at most
 * max_fraction_off. The actual image is always written to
 * <build>/test-images/<name>.png; on failure also <name>.diff.png, and the
 * figures are printed. With KEEL_GOLDEN_UPDATE=1 in the environment the
 * golden file is (re)written from the actual image instead, and the
 * assertion passes: the documented way to regenerate goldens
 * (docs/rendering.md). */
#define KT_ASSERT_GOLDEN(img, name, max_fraction_off) \
  kt_assert_golden((img), (name), (max_fraction_off), __FILE__, __LINE__)
void kt_assert_golden(const kt_image *img, const char *name, double max_fraction_off, const char *file, int line);

/* <build>/test-images/<name>, the directory created: where tests leave the
 * images they made. Returns a static buffer slot (valid for 8 more calls). */
const char *kt_image_out_path(const char *name);

#endif
