/* kc_png: RGBA8 images to and from PNG files (libpng), for the runner's
 * --screenshot and for image tests. Kept in base so the runner and the test
 * support share one encoder, and nothing else in the core needs libpng. */
#ifndef KC_PNG_H
#define KC_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Writes width x height tightly packed RGBA8 pixels, top row first, to
 * `path` as an 8-bit RGBA PNG. KEEL_ERR_IO with the path and the reason
 * when the file cannot be written. Any thread. */
keel_result kc_png_write_rgba8(const char *path, const uint8_t *pixels, uint32_t width, uint32_t height, kc_err *err);

/* Reads any PNG (grey, palette, RGB, 16-bit, with or without alpha) as
 * tightly packed RGBA8, top row first, into *pixels (malloc'ed: the caller
 * frees it). KEEL_ERR_IO when the file cannot be opened, KEEL_ERR_PARSE when
 * it is not a valid PNG. Any thread. */
keel_result kc_png_read_rgba8(const char *path, uint8_t **pixels, uint32_t *width, uint32_t *height, kc_err *err);

#endif
