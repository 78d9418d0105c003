/* See input_record.h. The file is little-endian whatever the machine, in
 * three parts: a 32-byte header, one 96-byte record per frame, and a 24-byte
 * end marker with the frame count and an FNV-1a checksum of the records. The
 * end marker is written last, so a recording cut short by a crash or a kill
 * is recognised as truncated. */
#include "platform/input_record.h"

#include "base/path.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_SIZE 32u
#define FRAME_SIZE 96u
#define FOOTER_SIZE 24u
static const char k_magic[8] = {'K', 'E', 'E', 'L', 'I', 'N', 'P', 'T'};
static const char k_end[8] = {'K', 'E', 'E', 'L', 'E', 'N', 'D', '.'};

_Static_assert(KEEL_KEY_COUNT <= 128, "a recording stores 128 key bits");

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_f32(uint8_t *p, float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  put_u32(p, u);
}
static uint32_t get_u32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
  return v;
}
static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}
static float get_f32(const uint8_t *p) {
  uint32_t u = get_u32(p);
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}
#define FNV_OFFSET 0xcbf29ce484222325ull

static void encode_header(uint8_t *h) {
  memset(h, 0, HEADER_SIZE);
  memcpy(h, k_magic, 8);
  put_u32(h + 8, KC_INPUT_RECORD_VERSION);
  put_u32(h + 12, HEADER_SIZE);
  put_u32(h + 16, FRAME_SIZE);
  put_u32(h + 20, KEEL_KEY_COUNT);
  put_u32(h + 24, KEEL_MOUSE_BUTTON_COUNT);
}

static void encode_frame(uint8_t *p, uint64_t frame, const keel_input_state *s) {
  memset(p, 0, FRAME_SIZE);
  put_u64(p, frame);
  put_u32(p + 8, s->live ? 1u : 0u);
  put_u32(p + 12, s->screen_width);
  put_u32(p + 16, s->screen_height);
  for (int i = 0; i < 2; i++) {
    put_u64(p + 20 + 8 * i, s->keys_down[i]);
    put_u64(p + 36 + 8 * i, s->keys_pressed[i]);
    put_u64(p + 52 + 8 * i, s->keys_released[i]);
  }
  put_u32(p + 68, s->buttons_down);
  put_u32(p + 72, s->buttons_pressed);
  put_u32(p + 76, s->buttons_released);
  put_f32(p + 80, s->mouse_x);
  put_f32(p + 84, s->mouse_y);
  put_f32(p + 88, s->wheel_x);
  put_f32(p + 92, s->wheel_y);
}

static void decode_frame(const uint8_t *p, keel_input_state *s) {
  memset(s, 0, sizeof *s);
  s->struct_size = KEEL_STRUCT_SIZE(keel_input_state);
  s->live = (get_u32(p + 8) & 1u) != 0;
  s->screen_width = get_u32(p + 12);
  s->screen_height = get_u32(p + 16);
  for (int i = 0; i < 2; i++) {
    s->keys_down[i] = get_u64(p + 20 + 8 * i);
    s->keys_pressed[i] = get_u64(p + 36 + 8 * i);
    s->keys_released[i] = get_u64(p + 52 + 8 * i);
  }
  s->buttons_down = get_u32(p + 68);
  s->buttons_pressed = get_u32(p + 72);
  s->buttons_released = get_u32(p + 76);
  s->mouse_x = get_f32(p + 80);
  s->mouse_y = get_f32(p + 84);
  s->wheel_x = get_f32(p + 88);
  s->wheel_y = get_f32(p + 92);
}

/* ---- writing ---- */

struct kc_input_recorder {
  FILE *f;
  char path[512];
  uint64_t frames;
  uint64_t checksum;
  bool failed;
  char why[256];
};

keel_result kc_input_recorder_open(const char *path, kc_input_recorder **out, kc_err *err) {
  *out = NULL;
  kc_input_recorder *rec = calloc(1, sizeof *rec);
  if (!rec) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  snprintf(rec->path, sizeof rec->path, "%s", path);
  rec->f = kc_path_open_output(path, "the input recording", err);
  if (!rec->f) {
    free(rec);
    return KEEL_ERR_IO;
  }
  uint8_t h[HEADER_SIZE];
  encode_header(h);
  if (fwrite(h, 1, sizeof h, rec->f) != sizeof h) {
    keel_result r = kc_err_set(err, KEEL_ERR_IO, "%s: cannot write the input recording: %s", path, strerror(errno));
    fclose(rec->f);
    free(rec);
    return r;
  }
  rec->checksum = FNV_OFFSET;
  *out = rec;
  return KEEL_OK;
}

keel_result kc_input_recorder_write(kc_input_recorder *rec, uint64_t frame, const keel_input_state *sample,
                                    kc_err *err) {
  if (rec->failed) return KEEL_ERR_IO;
  if (frame != rec->frames) {
    rec->failed = true;
    snprintf(rec->why, sizeof rec->why, "frame %llu given after %llu frames", (unsigned long long)frame,
             (unsigned long long)rec->frames);
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "%s: input recording stopped: %s", rec->path, rec->why);
  }
  uint8_t p[FRAME_SIZE];
  encode_frame(p, frame, sample);
  if (fwrite(p, 1, sizeof p, rec->f) != sizeof p) {
    rec->failed = true;
    snprintf(rec->why, sizeof rec->why, "write failed after %llu frames: %s", (unsigned long long)rec->frames,
             strerror(errno));
    return kc_err_set(err, KEEL_ERR_IO, "%s: input recording stopped: %s", rec->path, rec->why);
  }
  rec->checksum = fnv1a(rec->checksum, p, sizeof p);
  rec->frames++;
  return KEEL_OK;
}

uint64_t kc_input_recorder_frames(const kc_input_recorder *rec) { return rec ? rec->frames : 0; }

keel_result kc_input_recorder_close(kc_input_recorder *rec, kc_err *err) {
  if (!rec) return KEEL_OK;
  keel_result r = KEEL_OK;
  if (rec->failed) {
    r = kc_err_set(err, KEEL_ERR_IO, "%s: the input recording is incomplete: %s", rec->path, rec->why);
  } else {
    uint8_t t[FOOTER_SIZE];
    memcpy(t, k_end, 8);
    put_u64(t + 8, rec->frames);
    put_u64(t + 16, rec->checksum);
    if (fwrite(t, 1, sizeof t, rec->f) != sizeof t || fflush(rec->f) != 0)
      r = kc_err_set(err, KEEL_ERR_IO, "%s: cannot finish the input recording: %s", rec->path, strerror(errno));
  }
  if (fclose(rec->f) != 0 && r == KEEL_OK)
    r = kc_err_set(err, KEEL_ERR_IO, "%s: cannot finish the input recording: %s", rec->path, strerror(errno));
  free(rec);
  return r;
}

/* ---- reading ---- */

static keel_result refuse(kc_err *err, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static keel_result refuse(kc_err *err, const char *path, const char *fmt, ...) {
  char why[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  return kc_err_set(err, KEEL_ERR_PARSE, "%s: %s", path, why);
}

static keel_result check_header(const uint8_t *d, size_t size, const char *path, kc_err *err) {
  if (size == 0) return refuse(err, path, "truncated: the file is empty (no header)");
  size_t cmp = size < 8 ? size : 8;
  if (memcmp(d, k_magic, cmp) != 0)
    return refuse(err, path, "not a keel input recording (it does not start with \"KEELINPT\")");
  if (size < HEADER_SIZE)
    return refuse(err, path, "truncated: %zu bytes, shorter than the %u-byte header", size, HEADER_SIZE);
  uint32_t version = get_u32(d + 8);
  if (version != KC_INPUT_RECORD_VERSION)
    return refuse(err, path, "input recording format version %u; this keel reads version %u", version,
                  KC_INPUT_RECORD_VERSION);
  uint32_t hs = get_u32(d + 12), fs = get_u32(d + 16), keys = get_u32(d + 20), buttons = get_u32(d + 24);
  if (hs != HEADER_SIZE || fs != FRAME_SIZE || keys > 128 || buttons > 32)
    return refuse(err, path,
                  "corrupt header (header %u bytes, frame %u bytes, %u keys, %u buttons; version 1 has %u, %u, "
                  "at most 128, at most 32)",
                  hs, fs, keys, buttons, HEADER_SIZE, FRAME_SIZE);
  return KEEL_OK;
}

/* A recording is 96 bytes a frame: 1 GiB is two days at 60 fps. The limit
 * keeps a wrong path (/dev/zero is refused as not regular; a huge file by
 * this) from eating memory before the header is even checked. */
#define REPLAY_FILE_MAX ((size_t)1 << 30)

static keel_result read_all(const char *path, uint8_t **data, size_t *size, kc_err *err) {
  kc_err e;
  char *buf = NULL;
  keel_result r = kc_path_read_regular(path, REPLAY_FILE_MAX, "not a keel input recording", &buf, size, &e);
  if (r != KEEL_OK) {
    /* e.msg is "PATH: why"; say what was being read. */
    size_t n = strlen(path);
    const char *why = strncmp(e.msg, path, n) == 0 && e.msg[n] == ':' ? e.msg + n + 2 : e.msg;
    return kc_err_set(err, r, "%s: cannot read the input recording: %s", path, why);
  }
  *data = (uint8_t *)buf;
  return KEEL_OK;
}

keel_result kc_input_replay_load(const char *path, kc_input_replay *out, kc_err *err) {
  memset(out, 0, sizeof *out);
  snprintf(out->path, sizeof out->path, "%s", path);
  uint8_t *d = NULL;
  size_t size = 0;
  keel_result r = read_all(path, &d, &size, err);
  if (r != KEEL_OK) return r;
  if ((r = check_header(d, size, path, err)) != KEEL_OK) goto done;
  size_t body = size - HEADER_SIZE;
  bool has_end = body >= FOOTER_SIZE && (body - FOOTER_SIZE) % FRAME_SIZE == 0 &&
                 memcmp(d + size - FOOTER_SIZE, k_end, 8) == 0;
  if (!has_end) {
    r = refuse(err, path,
               "truncated: %zu whole frames and %zu more bytes, without the end marker (the recording did not "
               "finish: was keel killed?)",
               body / FRAME_SIZE, body % FRAME_SIZE);
    goto done;
  }
  uint64_t frames = (body - FOOTER_SIZE) / FRAME_SIZE;
  uint64_t said = get_u64(d + size - FOOTER_SIZE + 8);
  if (said != frames) {
    r = refuse(err, path, "corrupt: the end marker says %llu frames, the file holds %llu", (unsigned long long)said,
               (unsigned long long)frames);
    goto done;
  }
  const uint8_t *rec = d + HEADER_SIZE;
  if (fnv1a(FNV_OFFSET, rec, (size_t)frames * FRAME_SIZE) != get_u64(d + size - FOOTER_SIZE + 16)) {
    r = refuse(err, path, "corrupt: the checksum of the %llu frames does not match the end marker",
               (unsigned long long)frames);
    goto done;
  }
  out->frames = calloc(frames ? frames : 1, sizeof *out->frames);
  if (!out->frames) {
    r = kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "%s: out of memory for %llu frames", path, (unsigned long long)frames);
    goto done;
  }
  for (uint64_t i = 0; i < frames; i++) {
    const uint8_t *p = rec + i * FRAME_SIZE;
    if (get_u64(p) != i) {
      r = refuse(err, path, "corrupt: record %llu is for frame %llu", (unsigned long long)i,
                 (unsigned long long)get_u64(p));
      goto done;
    }
    keel_input_state *s = &out->frames[i];
    decode_frame(p, s);
    if (!isfinite(s->mouse_x) || !isfinite(s->mouse_y) || !isfinite(s->wheel_x) || !isfinite(s->wheel_y)) {
      r = refuse(err, path, "corrupt: frame %llu has a mouse position or wheel that is not a finite number",
                 (unsigned long long)i);
      goto done;
    }
    /* Bits of keys and buttons this build does not know are dropped. */
    for (unsigned k = KEEL_KEY_COUNT; k < 128; k++) {
      uint64_t mask = ~(1ull << (k % 64));
      s->keys_down[k / 64] &= mask;
      s->keys_pressed[k / 64] &= mask;
      s->keys_released[k / 64] &= mask;
    }
    s->keys_down[0] &= ~1ull; /* KEEL_KEY_NONE */
    s->keys_pressed[0] &= ~1ull;
    s->keys_released[0] &= ~1ull;
    uint32_t bmask = (1u << KEEL_MOUSE_BUTTON_COUNT) - 1;
    s->buttons_down &= bmask;
    s->buttons_pressed &= bmask;
    s->buttons_released &= bmask;
  }
  out->count = frames;
done:
  free(d);
  if (r != KEEL_OK) kc_input_replay_free(out);
  return r;
}

void kc_input_replay_free(kc_input_replay *replay) {
  if (!replay) return;
  free(replay->frames);
  replay->frames = NULL;
  replay->count = 0;
}
