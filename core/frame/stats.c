/* See stats.h. */
#include <stdbool.h>

#include "frame/stats.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

bool kc_frame_stats_init(kc_frame_stats *s, uint64_t now_ns) {
  memset(s, 0, sizeof *s);
  s->histogram = calloc(KC_STATS_BUCKETS + KC_STATS_SLOW_BUCKETS, sizeof *s->histogram);
  s->interval_start_ns = now_ns;
  return s->histogram != NULL;
}

void kc_frame_stats_free(kc_frame_stats *s) {
  free(s->histogram);
  s->histogram = NULL;
}

void kc_frame_stats_add(kc_frame_stats *s, uint64_t frame_ns) {
  uint64_t us = frame_ns / 1000u;
  s->frames++;
  s->total_ns += frame_ns;
  if (frame_ns > s->max_ns) s->max_ns = frame_ns;
  uint64_t slow = us / 1000u - KC_STATS_BUCKETS / 1000u; /* only read when us >= KC_STATS_BUCKETS */
  if (us < KC_STATS_BUCKETS)
    s->histogram[us]++;
  else if (slow < KC_STATS_SLOW_BUCKETS)
    s->histogram[KC_STATS_BUCKETS + slow]++;
  else
    s->overflow++;
  if (s->interval_count < KC_STATS_INTERVAL_MAX) s->interval_us[s->interval_count++] = (uint32_t)(us > UINT32_MAX ? UINT32_MAX : us);
}

double kc_frame_stats_percentile_ms(const kc_frame_stats *s, double p) {
  if (s->frames == 0) return 0.0;
  uint64_t rank = (uint64_t)(p * (double)(s->frames - 1) + 0.5) + 1; /* 1-based */
  uint64_t seen = 0;
  for (uint32_t b = 0; b < KC_STATS_BUCKETS; b++) {
    seen += s->histogram[b];
    if (seen >= rank) return (double)b / 1000.0 + 0.0005; /* bucket middle */
  }
  for (uint32_t b = 0; b < KC_STATS_SLOW_BUCKETS; b++) {
    seen += s->histogram[KC_STATS_BUCKETS + b];
    if (seen >= rank) return (double)(KC_STATS_BUCKETS / 1000u + b) + 0.5;
  }
  return (double)s->max_ns / 1e6;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

double kc_frame_stats_interval_percentile_ms(kc_frame_stats *s, double p) {
  if (s->interval_count == 0) return 0.0;
  qsort(s->interval_us, s->interval_count, sizeof s->interval_us[0], cmp_u32);
  uint32_t i = (uint32_t)(p * (double)(s->interval_count - 1) + 0.5);
  return (double)s->interval_us[i] / 1000.0;
}

void kc_frame_stats_interval_reset(kc_frame_stats *s, uint64_t now_ns) {
  s->interval_count = 0;
  s->interval_start_ns = now_ns;
}

bool kc_queue_watch_sample(kc_queue_watch *q, uint64_t fill, uint64_t high_water) {
  if (high_water > q->high_water) q->high_water = high_water;
  if (fill > q->high_water) q->high_water = fill;
  if (!q->high && q->capacity && fill * 5 >= q->capacity * 4) {
    q->high = true;
    q->warnings++;
    kc_log_write(KC_LOG_WARN, "%s queue %.0f%% full (%" PRIu64 " of %" PRIu64 "): %s", q->name,
                 100.0 * (double)fill / (double)q->capacity, fill, q->capacity, q->advice ? q->advice : "");
    return true;
  }
  if (q->high && fill * 2 < q->capacity) q->high = false;
  return false;
}
