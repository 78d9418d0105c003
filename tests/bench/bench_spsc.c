/* Measures kc_spsc the way the engine uses it: one producer and one consumer
 * thread pinned to different cores, 8-byte items, single and batched
 * operations, and the round-trip latency of a ping-pong over two rings.
 * Each figure is the median over RUNS runs. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "base/cpu.h"
#include "sync/spsc.h"


KC_SPSC_DEFINE_TYPED(bench_u64, uint64_t)

enum {
  RUNS = 7,
  RING_CAPACITY = 4096,            /* 32 KiB of 8-byte items */
  BATCH = 32,
  RT_CAPACITY = 64,
  RT_SAMPLES = 100000,             /* round trips per run */
};
static const uint64_t ITEMS = 50000000; /* per throughput run */

/* What a polling side does when the ring is empty (consumer) or full
 * (producer): wait ~0.8 µs (32 pauses of ~25 ns here) before looking again.
 * Every look pulls the other side's index line, and the slot line it is
 * working on, over to this core; looking again at once keeps the ring at the
 * edge and pays that transfer for every element, while waiting lets a few
 * lines of elements accumulate and be moved at cache speed. (Measured on this
 * VM: a 1-pause retry gave medians of 40-90 M ops/s where 32 pauses gave
 * 75-170.) The round-trip test retries at once: there latency is the point. */
enum { EDGE_BACKOFF_PAUSES = 32 };

static void edge_backoff(void) {
  for (int i = 0; i < EDGE_BACKOFF_PAUSES; i++) kc_cpu_pause();
}

static kc_spsc ring_a, ring_b;
static _Atomic int go;

static void start_together(void) {
  atomic_fetch_add(&go, 1);
  while (atomic_load(&go) < 2) kc_cpu_pause();
}

/* ---- spsc_push_pop_1 ---- */

static void *single_producer(void *arg) {
  (void)arg;
  bench_pin_thread(0);
  start_together();
  for (uint64_t i = 0; i < ITEMS; i++) {
    while (!bench_u64_push(&ring_a, &i)) edge_backoff();
  }
  return NULL;
}

static double run_single(void) {
  kc_spsc_init(&ring_a, sizeof(uint64_t), RING_CAPACITY, NULL);
  atomic_store(&go, 0);
  pthread_t t;
  pthread_create(&t, NULL, single_producer, NULL);
  bench_pin_thread(1);
  start_together();
  uint64_t t0 = bench_now_ns(), sum = 0, v;
  for (uint64_t i = 0; i < ITEMS; i++) {
    while (!bench_u64_pop(&ring_a, &v)) edge_backoff();
    sum += v;
  }
  uint64_t dt = bench_now_ns() - t0;
  pthread_join(t, NULL);
  if (sum != ITEMS * (ITEMS - 1) / 2) {
    fprintf(stderr, "spsc_push_pop_1: checksum mismatch\n");
    exit(1);
  }
  kc_spsc_destroy(&ring_a);
  return (double)ITEMS / ((double)dt / 1e9) / 1e6;
}

/* ---- spsc_batch32 ---- */

static void *batch_producer(void *arg) {
  (void)arg;
  bench_pin_thread(0);
  uint64_t buf[BATCH];
  start_together();
  for (uint64_t next = 0; next < ITEMS;) {
    size_t n = ITEMS - next < BATCH ? (size_t)(ITEMS - next) : BATCH;
    for (size_t i = 0; i < n; i++) buf[i] = next + i;
    size_t done = 0;
    while (done < n) {
      size_t k = kc_spsc_push_batch(&ring_a, buf + done, n - done);
      if (k == 0) edge_backoff();
      done += k;
    }
    next += n;
  }
  return NULL;
}

static double run_batch(void) {
  kc_spsc_init(&ring_a, sizeof(uint64_t), RING_CAPACITY, NULL);
  atomic_store(&go, 0);
  pthread_t t;
  pthread_create(&t, NULL, batch_producer, NULL);
  bench_pin_thread(1);
  uint64_t buf[BATCH], sum = 0, got = 0;
  start_together();
  uint64_t t0 = bench_now_ns();
  while (got < ITEMS) {
    size_t k = kc_spsc_pop_batch(&ring_a, buf, BATCH);
    if (k == 0) {
      edge_backoff();
      continue;
    }
    for (size_t i = 0; i < k; i++) sum += buf[i];
    got += k;
  }
  uint64_t dt = bench_now_ns() - t0;
  pthread_join(t, NULL);
  if (sum != ITEMS * (ITEMS - 1) / 2) {
    fprintf(stderr, "spsc_batch32: checksum mismatch\n");
    exit(1);
  }
  kc_spsc_destroy(&ring_a);
  return (double)ITEMS / ((double)dt / 1e9) / 1e6;
}

/* ---- spsc_round_trip_ns ---- */

static void *echo(void *arg) {
  (void)arg;
  bench_pin_thread(0);
  start_together();
  uint64_t v;
  for (uint64_t i = 0; i < RT_SAMPLES; i++) {
    while (!bench_u64_pop(&ring_a, &v)) kc_cpu_pause();
    while (!bench_u64_push(&ring_b, &v)) kc_cpu_pause();
  }
  return NULL;
}

static void run_round_trip(double *median, double *p99) {
  kc_spsc_init(&ring_a, sizeof(uint64_t), RT_CAPACITY, NULL);
  kc_spsc_init(&ring_b, sizeof(uint64_t), RT_CAPACITY, NULL);
  atomic_store(&go, 0);
  double *s = malloc(sizeof(double) * RT_SAMPLES);
  pthread_t t;
  pthread_create(&t, NULL, echo, NULL);
  bench_pin_thread(1);
  start_together();
  for (uint64_t i = 0; i < RT_SAMPLES; i++) {
    uint64_t t0 = bench_now_ns(), v = i;
    while (!bench_u64_push(&ring_a, &v)) kc_cpu_pause();
    while (!bench_u64_pop(&ring_b, &v)) kc_cpu_pause();
    s[i] = (double)(bench_now_ns() - t0);
    if (v != i) {
      fprintf(stderr, "spsc_round_trip: wrong echo\n");
      exit(1);
    }
  }
  pthread_join(t, NULL);
  *median = bench_percentile(s, RT_SAMPLES, 0.5);
  *p99 = bench_percentile(s, RT_SAMPLES, 0.99);
  free(s);
  kc_spsc_destroy(&ring_a);
  kc_spsc_destroy(&ring_b);
}

/* The spread behind a median, on stderr so stdout keeps one line per figure. */
static void print_runs(const char *name, const double *v) {
  fprintf(stderr, "  %s runs:", name);
  for (int r = 0; r < RUNS; r++) fprintf(stderr, " %.1f", v[r]);
  fprintf(stderr, "\n");
}

int main(void) {
  bench_print_machine("bench_spsc");
  double single[RUNS], batch[RUNS], rt_med[RUNS], rt_p99[RUNS];
  for (int r = 0; r < RUNS; r++) single[r] = run_single();
  print_runs("spsc_push_pop_1", single);
  bench_report("spsc_push_pop_1", bench_percentile(single, RUNS, 0.5), "M ops/s");
  for (int r = 0; r < RUNS; r++) batch[r] = run_batch();
  print_runs("spsc_batch32", batch);
  bench_report("spsc_batch32", bench_percentile(batch, RUNS, 0.5), "M items/s");
  for (int r = 0; r < RUNS; r++) run_round_trip(&rt_med[r], &rt_p99[r]);
  print_runs("spsc_round_trip_ns_median", rt_med);
  print_runs("spsc_round_trip_ns_p99", rt_p99);
  bench_report("spsc_round_trip_ns_median", bench_percentile(rt_med, RUNS, 0.5), "ns");
  bench_report("spsc_round_trip_ns_p99", bench_percentile(rt_p99, RUNS, 0.5), "ns");
  return 0;
}
