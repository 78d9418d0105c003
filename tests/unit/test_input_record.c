/* The input recording format (--record-input / --replay-input): what is
 * written reads back the same, and a file that is not a recording, is of a
 * newer version, is cut short anywhere or has a flipped byte is refused
 * with the reason, never half-read. */
#include <keel_test.h>

#include "platform/input.h"
#include "platform/input_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *temp_path(const char *name) { return kt_write_temp(name, ""); }

/* Three frames that use every field. */
static void sample_frames(keel_input_state out[3]) {
  kc_input in;
  kc_input_init(&in, true, 1024, 768);
  kc_input_key(&in, KEEL_KEY_A, true);
  kc_input_key(&in, KEEL_KEY_GRAVE, true);
  kc_input_mouse(&in, 10.25f, 20);
  kc_input_end_frame(&in, &out[0]);
  kc_input_key(&in, KEEL_KEY_A, false);
  kc_input_button(&in, KEEL_MOUSE_MIDDLE, true);
  kc_input_wheel(&in, -1, 3.5f);
  kc_input_end_frame(&in, &out[1]);
  kc_input_resize(&in, 640, 360);
  kc_input_button(&in, KEEL_MOUSE_MIDDLE, false);
  kc_input_key(&in, KEEL_KEY_F12, true);
  kc_input_key(&in, KEEL_KEY_F12, false);
  kc_input_end_frame(&in, &out[2]);
}

static void write_recording(const char *path, const keel_input_state *frames, int n) {
  kc_input_recorder *rec = NULL;
  kc_err err;
  CU_ASSERT_EQUAL_FATAL(kc_input_recorder_open(path, &rec, &err), KEEL_OK);
  for (int i = 0; i < n; i++) CU_ASSERT_EQUAL(kc_input_recorder_write(rec, (uint64_t)i, &frames[i], &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_input_recorder_frames(rec), (uint64_t)n);
  CU_ASSERT_EQUAL(kc_input_recorder_close(rec, &err), KEEL_OK);
}

static long file_bytes(const char *path, unsigned char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  long n = (long)fread(buf, 1, cap, f);
  fclose(f);
  return n;
}

static void put_bytes(const char *path, const unsigned char *buf, size_t n) {
  FILE *f = fopen(path, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  if (n) CU_ASSERT_EQUAL(fwrite(buf, 1, n, f), n);
  fclose(f);
}

static bool same_state(const keel_input_state *a, const keel_input_state *b) {
  return a->live == b->live && memcmp(a->keys_down, b->keys_down, sizeof a->keys_down) == 0 &&
         memcmp(a->keys_pressed, b->keys_pressed, sizeof a->keys_pressed) == 0 &&
         memcmp(a->keys_released, b->keys_released, sizeof a->keys_released) == 0 && a->mouse_x == b->mouse_x &&
         a->mouse_y == b->mouse_y && a->buttons_down == b->buttons_down && a->buttons_pressed == b->buttons_pressed &&
         a->buttons_released == b->buttons_released && a->wheel_x == b->wheel_x && a->wheel_y == b->wheel_y &&
         a->screen_width == b->screen_width && a->screen_height == b->screen_height;
}

static void test_round_trip(void) {
  keel_input_state frames[3];
  sample_frames(frames);
  const char *path = temp_path("round.keelinput");
  write_recording(path, frames, 3);
  kc_input_replay r;
  kc_err err;
  CU_ASSERT_EQUAL_FATAL(kc_input_replay_load(path, &r, &err), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(r.count, 3);
  for (int i = 0; i < 3; i++) CU_ASSERT(same_state(&r.frames[i], &frames[i]));
  CU_ASSERT(r.frames[1].wheel_y == 3.5f && r.frames[2].screen_width == 640);
  CU_ASSERT(keel_input_key_bit(r.frames[2].keys_pressed, KEEL_KEY_F12));
  kc_input_replay_free(&r);
}

static void test_empty_recording(void) {
  const char *path = temp_path("empty.keelinput");
  write_recording(path, NULL, 0);
  kc_input_replay r;
  kc_err err;
  CU_ASSERT_EQUAL(kc_input_replay_load(path, &r, &err), KEEL_OK);
  CU_ASSERT_EQUAL(r.count, 0);
  kc_input_replay_free(&r);
}

static void expect_refused(const char *path, const char *why) {
  kc_input_replay r;
  kc_err err;
  kc_err_clear(&err);
  CU_ASSERT_EQUAL(kc_input_replay_load(path, &r, &err), KEEL_ERR_PARSE);
  KT_ASSERT_CONTAINS(err.msg, path);
  KT_ASSERT_CONTAINS(err.msg, why);
  CU_ASSERT_PTR_NULL(r.frames);
}

static void test_foreign_files(void) {
  expect_refused(kt_write_temp("a.png", "\x89PNG\r\n\x1a\nrest of an image"), "not a keel input recording");
  expect_refused(kt_write_temp("engine.ini", "[engine]\nframes = 3\n"), "not a keel input recording");
  expect_refused(kt_write_temp("nothing", ""), "truncated: the file is empty");
  kc_input_replay r;
  kc_err err;
  CU_ASSERT_EQUAL(kc_input_replay_load("/nonexistent/keel.input", &r, &err), KEEL_ERR_IO);
  KT_ASSERT_CONTAINS(err.msg, "/nonexistent/keel.input: cannot read the input recording");
}

/* Cut after any number of bytes, the file is refused (and names why). */
static void test_every_truncation_is_refused(void) {
  keel_input_state frames[3];
  sample_frames(frames);
  const char *path = temp_path("full.keelinput");
  write_recording(path, frames, 3);
  static unsigned char buf[4096];
  long n = file_bytes(path, buf, sizeof buf);
  CU_ASSERT_EQUAL_FATAL(n, 32 + 3 * 96 + 24);
  const char *cut = temp_path("cut.keelinput");
  for (long len = 0; len < n; len++) {
    put_bytes(cut, buf, (size_t)len);
    kc_input_replay r;
    kc_err err;
    CU_ASSERT_EQUAL(kc_input_replay_load(cut, &r, &err), KEEL_ERR_PARSE);
    if (!strstr(err.msg, "truncated")) {
      fprintf(stderr, "\ncut at %ld: %s\n", len, err.msg);
      CU_FAIL("a cut file is not called truncated");
    }
  }
  put_bytes(cut, buf, 32 + 96 + 50);
  expect_refused(cut, "truncated: 1 whole frames and 50 more bytes, without the end marker");
}

static void test_newer_version_and_corruption(void) {
  keel_input_state frames[3];
  sample_frames(frames);
  const char *path = temp_path("v.keelinput");
  write_recording(path, frames, 3);
  static unsigned char buf[4096];
  long n = file_bytes(path, buf, sizeof buf);
  const char *bad = temp_path("bad.keelinput");

  buf[8] = 2; /* version */
  put_bytes(bad, buf, (size_t)n);
  expect_refused(bad, "input recording format version 2; this keel reads version 1");
  buf[8] = 1;

  buf[32 + 96 + 30] ^= 0x10; /* a key bit of frame 1 */
  put_bytes(bad, buf, (size_t)n);
  expect_refused(bad, "corrupt: the checksum of the 3 frames does not match the end marker");
  buf[32 + 96 + 30] ^= 0x10;

  buf[16] = 64; /* frame size */
  put_bytes(bad, buf, (size_t)n);
  expect_refused(bad, "corrupt header");
}

static void test_recorder_refuses_out_of_order_and_bad_paths(void) {
  kc_input_recorder *rec = NULL;
  kc_err err;
  CU_ASSERT_EQUAL(kc_input_recorder_open("/nonexistent/dir/x.keelinput", &rec, &err), KEEL_ERR_IO);
  KT_ASSERT_CONTAINS(err.msg, "/nonexistent/dir/x.keelinput: cannot write the input recording: ");
  const char *path = temp_path("order.keelinput");
  CU_ASSERT_EQUAL_FATAL(kc_input_recorder_open(path, &rec, &err), KEEL_OK);
  keel_input_state s = {.struct_size = KEEL_STRUCT_SIZE(keel_input_state)};
  CU_ASSERT_EQUAL(kc_input_recorder_write(rec, 0, &s, &err), KEEL_OK);
  CU_ASSERT_EQUAL(kc_input_recorder_write(rec, 5, &s, &err), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_EQUAL(kc_input_recorder_close(rec, &err), KEEL_ERR_IO);
  KT_ASSERT_CONTAINS(err.msg, "the input recording is incomplete: frame 5 given after 1 frames");
  expect_refused(path, "truncated");
}

static CU_TestInfo tests[] = {
    {"round trip", test_round_trip},
    {"a recording of no frames", test_empty_recording},
    {"foreign and missing files", test_foreign_files},
    {"every truncation is refused", test_every_truncation_is_refused},
    {"newer version and corruption", test_newer_version_and_corruption},
    {"recorder: order and paths", test_recorder_refuses_out_of_order_and_bad_paths},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"input_record", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
