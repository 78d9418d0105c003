/* What a state-buffer swap costs on the main thread with 1000 live records
 * of 64 bytes: a FULL copy, and DIRTY copies of 10 and 100 records, next to
 * a plain memcpy of the same 64 KB as the floor a full copy can reach. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "sync/state_buffer.h"

enum { LIVE = 1000, RS = 64, SAMPLES = 21, SWAPS_PER_SAMPLE = 2000 };

static uint64_t rng_state = 0x5eed;
static uint32_t rng_below(uint32_t n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state % n);
}

static kc_state_buffer *make_buffer(kc_state_id *ids) {
  kc_state_config cfg = {.record_size = RS, .capacity = LIVE, .name = "bench"};
  kc_state_buffer *buf = NULL;
  kc_err err;
  if (kc_state_init(&buf, &cfg, &err) != KEEL_OK) {
    fprintf(stderr, "bench_state_buffer: %s\n", err.msg);
    exit(1);
  }
  unsigned char rec[RS];
  for (uint32_t i = 0; i < LIVE; i++) {
    memset(rec, (int)i, sizeof rec);
    kc_state_create(buf, rec, &ids[i], NULL);
  }
  kc_state_swap(buf, NULL);
  return buf;
}

/* Median over SAMPLES of the mean time of one swap, in microseconds. Only
 * the swap is inside the clock; marking the records dirty (what the command
 * drain does during the frame) is outside it. */
static double swap_us(kc_state_buffer *buf, const kc_state_id *ids, kc_state_copy_mode mode, uint32_t dirty) {
  double samples[SAMPLES + 1];
  uint64_t stamp = 0;
  for (int s = 0; s < SAMPLES + 1; s++) { /* sample 0 warms caches and is dropped */
    uint64_t total = 0;
    for (int k = 0; k < SWAPS_PER_SAMPLE; k++) {
      uint32_t start = rng_below(LIVE);
      for (uint32_t d = 0; d < dirty; d++) { /* distinct records, spread over the array */
        void *p;
        kc_state_back_get(buf, ids[(start + d * 97u) % LIVE], &p, NULL);
        memcpy(p, &stamp, sizeof stamp);
        stamp++;
      }
      uint64_t t0 = bench_now_ns();
      keel_result r = kc_state_swap_mode(buf, mode, NULL);
      uint64_t t1 = bench_now_ns();
      if (r != KEEL_OK) {
        fprintf(stderr, "bench_state_buffer: swap failed: %s\n", keel_result_name(r));
        exit(1);
      }
      total += t1 - t0;
    }
    samples[s] = (double)total / SWAPS_PER_SAMPLE / 1000.0;
  }
  return bench_percentile(samples + 1, SAMPLES, 0.5);
}

static double memcpy_us(void) {
  size_t n = (size_t)LIVE * RS;
  unsigned char *a = aligned_alloc(64, n), *b = aligned_alloc(64, n);
  memset(a, 1, n);
  memset(b, 2, n);
  double samples[SAMPLES];
  for (int s = 0; s < SAMPLES; s++) {
    uint64_t t0 = bench_now_ns();
    for (int k = 0; k < SWAPS_PER_SAMPLE; k++) {
      a[k % n] = (unsigned char)k; /* keep each copy live */
      memcpy(b, a, n);
      __asm__ __volatile__("" : : "r"(b) : "memory");
    }
    samples[s] = (double)(bench_now_ns() - t0) / SWAPS_PER_SAMPLE / 1000.0;
  }
  bench_consume(b[n - 1]);
  free(a);
  free(b);
  return bench_percentile(samples, SAMPLES, 0.5);
}

static double clock_ns(void) {
  uint64_t t0 = bench_now_ns(), x = 0;
  for (int i = 0; i < 100000; i++) x += bench_now_ns();
  bench_consume(x);
  return (double)(bench_now_ns() - t0) / 100000.0;
}

int main(void) {
  bench_print_machine("state_buffer");
  printf("setup: %d live records of %d bytes, median of %d samples x %d swaps, clock read around each swap\n",
         LIVE, RS, SAMPLES, SWAPS_PER_SAMPLE);
  kc_state_id ids[LIVE];
  kc_state_buffer *buf = make_buffer(ids);

  double full = swap_us(buf, ids, KC_STATE_COPY_FULL, 10);
  double d10 = swap_us(buf, ids, KC_STATE_COPY_DIRTY, 10);
  double d100 = swap_us(buf, ids, KC_STATE_COPY_DIRTY, 100);
  bench_report("memcpy_64000_bytes_us", memcpy_us(), "us");
  bench_report("clock_read_ns", clock_ns(), "ns (inside each swap figure once)");
  bench_report("state_swap_full_1000_us", full, "us");
  bench_report("state_swap_dirty10_of_1000_us", d10, "us");
  bench_report("state_swap_dirty10_speedup_x", full / d10, "x");
  bench_report("state_swap_dirty100_of_1000_us", d100, "us");

  kc_state_metrics m;
  kc_state_get_metrics(buf, &m);
  if (m.errors || m.timeouts) {
    fprintf(stderr, "bench_state_buffer: %llu errors, %llu timeouts\n", (unsigned long long)m.errors,
            (unsigned long long)m.timeouts);
    return 1;
  }
  kc_state_destroy(buf);
  return 0;
}
