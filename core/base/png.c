/* See png.h. libpng reports errors by longjmp; each call keeps its own
 * jmp_buf and returns a result instead, and every resource is released on
 * both paths. */
#include "base/png.h"

#include "base/path.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libpng's message for the last failure of one call, kept for the kc_err. */
typedef struct png_ctx {
  char msg[256];
} png_ctx;

static void png_on_error(png_structp png, png_const_charp msg) {
  png_ctx *ctx = png_get_error_ptr(png);
  snprintf(ctx->msg, sizeof ctx->msg, "%s", msg);
  png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

keel_result kc_png_write_rgba8(const char *path, const uint8_t *pixels, uint32_t width, uint32_t height, kc_err *err) {
  if (!path || !pixels || width == 0 || height == 0)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "png: nothing to write (%ux%u)", width, height);
  FILE *f = kc_path_open_output(path, NULL, err);
  if (!f) return KEEL_ERR_IO;
  png_ctx ctx = {{0}};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_error, png_on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  png_bytep *rows = malloc(sizeof *rows * height);
  if (!png || !info || !rows) {
    png_destroy_write_struct(&png, &info);
    free(rows);
    fclose(f);
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    free(rows);
    fclose(f);
    return kc_err_set(err, KEEL_ERR_IO, "%s: cannot write the PNG: %s", path, ctx.msg);
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB_ALPHA, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  for (uint32_t y = 0; y < height; y++) rows[y] = (png_bytep)(pixels + (size_t)y * width * 4u);
  png_set_rows(png, info, rows);
  png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
  png_destroy_write_struct(&png, &info);
  free(rows);
  if (fclose(f) != 0) return kc_err_set(err, KEEL_ERR_IO, "%s: write failed: %s", path, strerror(errno));
  return KEEL_OK;
}

keel_result kc_png_read_rgba8(const char *path, uint8_t **pixels, uint32_t *width, uint32_t *height, kc_err *err) {
  *pixels = NULL;
  *width = *height = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return kc_err_set(err, KEEL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  uint8_t sig[8];
  if (fread(sig, 1, sizeof sig, f) != sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0) {
    fclose(f);
    return kc_err_set(err, KEEL_ERR_PARSE, "%s: not a PNG file", path);
  }
  png_ctx ctx = {{0}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_error, png_on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!png || !info) {
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  }
  /* volatile: modified between setjmp and a possible longjmp. */
  uint8_t *volatile data = NULL;
  png_bytep *volatile rows = NULL;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, NULL);
    free(data);
    free(rows);
    fclose(f);
    return kc_err_set(err, KEEL_ERR_PARSE, "%s: not a valid PNG: %s", path, ctx.msg);
  }
  png_init_io(png, f);
  png_set_sig_bytes(png, sizeof sig);
  png_read_info(png, info);
  uint32_t w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  int type = png_get_color_type(png, info);
  /* Everything becomes 8-bit RGBA. */
  if (png_get_bit_depth(png, info) == 16) png_set_strip_16(png);
  if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (type == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  if (!(type & PNG_COLOR_MASK_ALPHA) && !png_get_valid(png, info, PNG_INFO_tRNS))
    png_set_filler(png, 0xff, PNG_FILLER_AFTER);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != (size_t)w * 4u) png_error(png, "unexpected row size after conversion to RGBA8");
  data = malloc((size_t)w * h * 4u);
  rows = malloc(sizeof *rows * (h ? h : 1));
  if (!data || !rows) png_error(png, "out of memory");
  for (uint32_t y = 0; y < h; y++) rows[y] = data + (size_t)y * w * 4u;
  png_read_image(png, rows);
  png_read_end(png, NULL);
  png_destroy_read_struct(&png, &info, NULL);
  free(rows);
  fclose(f);
  *pixels = data;
  *width = w;
  *height = h;
  return KEEL_OK;
}
