/* See image.h. PNG coding is the core's (base/png.c), so tests read and
 * write exactly what `keel --screenshot` does. */
#include "image.h"

#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/png.h"

bool kt_image_alloc(kt_image *img, uint32_t width, uint32_t height) {
  img->width = width;
  img->height = height;
  img->pixels = calloc((size_t)width * height, 4);
  return img->pixels != NULL || (size_t)width * height == 0;
}

void kt_image_free(kt_image *img) {
  free(img->pixels);
  img->pixels = NULL;
  img->width = img->height = 0;
}

bool kt_image_load(kt_image *img, const char *path) {
  kc_err err;
  if (kc_png_read_rgba8(path, &img->pixels, &img->width, &img->height, &err) != KEEL_OK) {
    fprintf(stderr, "\n  %s\n", err.msg);
    return false;
  }
  return true;
}

bool kt_image_save(const kt_image *img, const char *path) {
  kc_err err;
  if (kc_png_write_rgba8(path, img->pixels, img->width, img->height, &err) != KEEL_OK) {
    fprintf(stderr, "\n  %s\n", err.msg);
    return false;
  }
  return true;
}

const uint8_t *kt_image_at(const kt_image *img, uint32_t x, uint32_t y) {
  if (!img->pixels || x >= img->width || y >= img->height) return NULL;
  return img->pixels + ((size_t)y * img->width + x) * 4u;
}

static int channel_diff(const uint8_t *a, const uint8_t *b) {
  int worst = 0;
  for (int c = 0; c < 4; c++) {
    int d = abs((int)a[c] - (int)b[c]);
    if (d > worst) worst = d;
  }
  return worst;
}

kt_image_diff kt_image_compare(const kt_image *actual, const kt_image *expected, int channel_tolerance) {
  kt_image_diff d;
  memset(&d, 0, sizeof d);
  if (actual->width != expected->width || actual->height != expected->height || !actual->pixels ||
      !expected->pixels) {
    d.size_mismatch = true;
    d.pixels = (uint64_t)expected->width * expected->height;
    d.off = d.pixels;
    d.fraction_off = 1.0;
    d.max_channel_diff = 255;
    return d;
  }
  d.pixels = (uint64_t)actual->width * actual->height;
  for (uint32_t y = 0; y < actual->height; y++) {
    for (uint32_t x = 0; x < actual->width; x++) {
      int diff = channel_diff(kt_image_at(actual, x, y), kt_image_at(expected, x, y));
      if (diff > d.max_channel_diff) d.max_channel_diff = diff;
      if (diff > channel_tolerance) {
        if (d.off == 0) d.first_x = x, d.first_y = y;
        d.off++;
      }
    }
  }
  d.fraction_off = d.pixels ? (double)d.off / (double)d.pixels : 0.0;
  return d;
}

bool kt_image_write_diff(const kt_image *actual, const kt_image *expected, int channel_tolerance, const char *path) {
  if (actual->width != expected->width || actual->height != expected->height) return false;
  kt_image out;
  if (!kt_image_alloc(&out, actual->width, actual->height)) return false;
  for (uint32_t y = 0; y < out.height; y++) {
    for (uint32_t x = 0; x < out.width; x++) {
      const uint8_t *a = kt_image_at(actual, x, y), *e = kt_image_at(expected, x, y);
      uint8_t *o = out.pixels + ((size_t)y * out.width + x) * 4u;
      int diff = channel_diff(a, e);
      if (diff > channel_tolerance) {
        o[0] = (uint8_t)(128 + (diff > 127 ? 127 : diff));
        o[1] = o[2] = 0;
      } else {
        uint8_t grey = (uint8_t)(((int)e[0] + e[1] + e[2]) / 12);
        o[0] = o[1] = o[2] = grey;
      }
      o[3] = 255;
    }
  }
  bool ok = kt_image_save(&out, path);
  kt_image_free(&out);
  return ok;
}

void kt_assert_pixel(const kt_image *img, uint32_t x, uint32_t y, int r, int g, int b, int a, int tolerance,
                     const char *file, int line) {
  const uint8_t *p = kt_image_at(img, x, y);
  const int want[4] = {r, g, b, a};
  bool ok = p != NULL;
  for (int c = 0; ok && c < 4; c++) ok = abs((int)p[c] - want[c]) <= tolerance;
  if (!ok) {
    if (p)
      fprintf(stderr, "\n%s:%d: pixel (%u, %u) is (%d, %d, %d, %d), expected (%d, %d, %d, %d) within %d\n", file, line,
              x, y, p[0], p[1], p[2], p[3], r, g, b, a, tolerance);
    else
      fprintf(stderr, "\n%s:%d: pixel (%u, %u) is outside the %ux%u image\n", file, line, x, y, img->width,
              img->height);
  }
  CU_assertImplementation(ok, (unsigned)line, "pixel within tolerance", file, "", CU_FALSE);
}

const char *kt_image_out_path(const char *name) {
  static char paths[8][1300];
  static int next;
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/test-images", KEEL_TEST_BINARY_DIR);
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) fprintf(stderr, "\n  cannot create %s: %s\n", dir, strerror(errno));
  char *p = paths[next++ % 8];
  snprintf(p, sizeof paths[0], "%s/%s", dir, name);
  return p;
}

void kt_assert_golden(const kt_image *img, const char *name, double max_fraction_off, const char *file, int line) {
  char golden[1024], actual_name[256], diff_name[256];
  snprintf(golden, sizeof golden, "%s/tests/golden/%s.png", KEEL_TEST_SOURCE_DIR, name);
  snprintf(actual_name, sizeof actual_name, "%s.png", name);
  snprintf(diff_name, sizeof diff_name, "%s.diff.png", name);
  const char *actual_path = kt_image_out_path(actual_name);
  kt_image_save(img, actual_path);
  const char *update = getenv("KEEL_GOLDEN_UPDATE");
  if (update && update[0] == '1') {
    bool ok = kt_image_save(img, golden);
    fprintf(stderr, "\n  KEEL_GOLDEN_UPDATE=1: %s %s\n", ok ? "wrote" : "could not write", golden);
    CU_assertImplementation(ok, (unsigned)line, "golden file written", file, "", CU_FALSE);
    return;
  }
  kt_image expected = {0};
  bool loaded = kt_image_load(&expected, golden);
  if (!loaded) {
    fprintf(stderr, "\n%s:%d: no golden image %s (regenerate: KEEL_GOLDEN_UPDATE=1, see docs/rendering.md)\n", file,
            line, golden);
    CU_assertImplementation(false, (unsigned)line, "golden image exists", file, "", CU_FALSE);
    return;
  }
  kt_image_diff d = kt_image_compare(img, &expected, KT_IMAGE_CHANNEL_TOLERANCE);
  bool ok = !d.size_mismatch && d.fraction_off <= max_fraction_off;
  if (!ok) {
    const char *diff_path = kt_image_out_path(diff_name);
    bool wrote = kt_image_write_diff(img, &expected, KT_IMAGE_CHANNEL_TOLERANCE, diff_path);
    if (d.size_mismatch)
      fprintf(stderr, "\n%s:%d: %s: image is %ux%u, golden %ux%u\n", file, line, name, img->width, img->height,
              expected.width, expected.height);
    else
      fprintf(stderr,
              "\n%s:%d: %s: %.6f of the pixels are off by more than %d/255 (%llu of %llu, first at %u,%u, largest "
              "difference %d), allowed %.6f\n  actual %s\n  diff   %s\n",
              file, line, name, d.fraction_off, KT_IMAGE_CHANNEL_TOLERANCE, (unsigned long long)d.off,
              (unsigned long long)d.pixels, d.first_x, d.first_y, d.max_channel_diff, max_fraction_off, actual_path,
              wrote ? diff_path : "(not written)");
  }
  kt_image_free(&expected);
  CU_assertImplementation(ok, (unsigned)line, "image matches its golden", file, "", CU_FALSE);
}
