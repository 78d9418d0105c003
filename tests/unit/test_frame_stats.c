/* The runner's frame-time statistics: whole-run percentiles exact to the
 * microsecond below 100 ms and to the millisecond above (frames of a CPU
 * rasteriser at 10,000 entities take 100-300 ms: their median must not read
 * as the slowest frame), the slowest frame kept exactly. */
#include "keel_test.h"

#include "frame/stats.h"

static void test_fast_frames(void) {
  kc_frame_stats s;
  CU_ASSERT_TRUE_FATAL(kc_frame_stats_init(&s, 0));
  for (uint64_t us = 1000; us <= 3000; us += 1000) kc_frame_stats_add(&s, us * 1000u + 7);
  CU_ASSERT_DOUBLE_EQUAL(kc_frame_stats_percentile_ms(&s, 0.5), 2.0005, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(kc_frame_stats_percentile_ms(&s, 1.0), 3.0005, 1e-9);
  kc_frame_stats_free(&s);
}

static void test_slow_frames(void) {
  kc_frame_stats s;
  CU_ASSERT_TRUE_FATAL(kc_frame_stats_init(&s, 0));
  const uint64_t ms[] = {50, 150, 150, 250, 900, 45000, 70000};
  for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) kc_frame_stats_add(&s, ms[i] * 1000000u + 300000u);
  CU_ASSERT_DOUBLE_EQUAL(kc_frame_stats_percentile_ms(&s, 0.0), 50.3005, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(kc_frame_stats_percentile_ms(&s, 0.5), 250.5, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(kc_frame_stats_percentile_ms(&s, 0.3), 150.5, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(kc_frame_stats_percentile_ms(&s, 0.8), 45000.5, 1e-9);
  /* Past 60 s only the maximum is known. */
  CU_ASSERT_DOUBLE_EQUAL(kc_frame_stats_percentile_ms(&s, 1.0), 70000.3, 1e-6);
  CU_ASSERT_EQUAL(s.overflow, 1);
  kc_frame_stats_free(&s);
}

/* A queue warns when it reaches 80%, once, and again only after it has been
 * seen below 50%: a queue hovering around the line says so once. */
static void test_queue_alert_hysteresis(void) {
  kc_queue_watch q = {.name = "test", .capacity = 100};
  const uint64_t fills[] = {10, 79, 80, 95, 60, 85, 50, 99, 49, 80, 100, 0};
  const bool warns[] = {false, false, true, false, false, false, false, false, false, true, false, false};
  for (size_t i = 0; i < sizeof fills / sizeof fills[0]; i++)
    CU_ASSERT_EQUAL(kc_queue_watch_sample(&q, fills[i], 0), warns[i]);
  CU_ASSERT_EQUAL(q.warnings, 2);
  CU_ASSERT_EQUAL(q.high_water, 100);
  /* A high-water mark seen elsewhere (between samples) is kept too. */
  CU_ASSERT_FALSE(kc_queue_watch_sample(&q, 3, 120));
  CU_ASSERT_EQUAL(q.high_water, 120);
}

static CU_TestInfo stats_tests[] = {
    {"queue alerts: at 80%, again after below 50%", test_queue_alert_hysteresis},
    {"frames under 100 ms, to the microsecond", test_fast_frames},
    {"frames over 100 ms, to the millisecond", test_slow_frames},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"frame stats", NULL, NULL, NULL, NULL, stats_tests},
    CU_SUITE_INFO_NULL,
};
