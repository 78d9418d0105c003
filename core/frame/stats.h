/* kc_frame_stats: frame-time statistics for the runner — whole-run
 * percentiles from fixed histograms (no allocation per frame; exact to the
 * microsecond below 100 ms, to the millisecond from there to 60 s, which a
 * CPU rasteriser's 10,000-entity frames reach) and per-interval percentiles
 * for the stats line printed once a second on long runs. */
#ifndef KC_FRAME_STATS_H
#define KC_FRAME_STATS_H

#include <stdbool.h>
#include <stdint.h>

#define KC_STATS_BUCKETS 100000u     /* 1 µs buckets: 0 .. 99.999 ms */
#define KC_STATS_SLOW_BUCKETS 59900u /* then 1 ms buckets: 100 .. 59,999 ms, then overflow */
#define KC_STATS_INTERVAL_MAX 8192u

typedef struct kc_frame_stats {
  uint64_t frames;
  uint64_t total_ns;
  uint64_t max_ns;
  uint64_t overflow;  /* frames of 60 s or more */
  uint32_t *histogram; /* KC_STATS_BUCKETS, then KC_STATS_SLOW_BUCKETS */
  /* current interval */
  uint64_t interval_start_ns;
  uint32_t interval_count;
  uint32_t interval_us[KC_STATS_INTERVAL_MAX];
} kc_frame_stats;

/* false when the histogram cannot be allocated. Main thread. */
bool kc_frame_stats_init(kc_frame_stats *s, uint64_t now_ns);
void kc_frame_stats_free(kc_frame_stats *s);
void kc_frame_stats_add(kc_frame_stats *s, uint64_t frame_ns);
/* Whole-run percentile (0..1) in milliseconds. */
double kc_frame_stats_percentile_ms(const kc_frame_stats *s, double p);
/* Percentile over the current interval, in milliseconds; 0 when empty. */
double kc_frame_stats_interval_percentile_ms(kc_frame_stats *s, double p);
void kc_frame_stats_interval_reset(kc_frame_stats *s, uint64_t now_ns);

/* A queue's fill alert (docs/runner.md, "Queue alerts"): a sample at or
 * above 80% of the capacity warns once; the next warning comes only after a
 * sample below 50%, so a queue that stays full says so once, not every
 * frame. Keeps the high-water mark. Main thread. */
typedef struct kc_queue_watch {
  const char *name;   /* "commands" */
  const char *advice; /* what it means and what happens when it is full */
  uint64_t capacity, high_water, warnings;
  bool high; /* warned; quiet until a sample below half */
} kc_queue_watch;

/* Samples `fill` (and a high-water mark seen elsewhere, 0 = none); logs the
 * warning and returns true when this sample crossed the 80% line. */
bool kc_queue_watch_sample(kc_queue_watch *q, uint64_t fill, uint64_t high_water);

#endif
