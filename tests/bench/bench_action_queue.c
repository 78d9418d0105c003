/* Measures kc_actionq: the cost of one push and one pop with no other thread
 * touching the queue (the common case: a worker posting a result while main
 * is busy elsewhere), throughput with one producer and one consumer on
 * different cores, and how long a consumer asleep in pop_timeout takes to
 * get a message pushed to it. Each figure is the median over RUNS runs. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_util.h"
#include "base/cpu.h"
#include "sync/action_queue.h"


enum {
  RUNS = 7,
  CAPACITY = 4096,
  ROUNDS = 500, /* fill/drain rounds per uncontended run */
  WAKE_SAMPLES = 200,
};
static const uint64_t ITEMS = 20000000; /* per throughput run */

typedef struct bench_msg {
  uint64_t a, b; /* 16 bytes: a small POD message, like an id and a value */
} bench_msg;

static kc_actionq q;

/* As in bench_spsc: a side that finds the queue full (producer) or empty
 * (consumer) waits ~0.8 µs before looking again, so it does not pull the
 * other side's cells across cores once per message. */
static void edge_backoff(void) {
  for (int i = 0; i < 32; i++) kc_cpu_pause();
}

static void print_runs(const char *name, const double *v, int n) {
  fprintf(stderr, "  %s runs:", name);
  for (int r = 0; r < n; r++) fprintf(stderr, " %.1f", v[r]);
  fprintf(stderr, "\n");
}

/* ---- uncontended push / pop ---- */

static void run_uncontended(double *push_ns, double *pop_ns) {
  kc_actionq_init(&q, sizeof(bench_msg), CAPACITY, NULL);
  uint64_t push_total = 0, pop_total = 0, sum = 0;
  for (int round = 0; round < ROUNDS; round++) {
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < CAPACITY; i++) {
      bench_msg m = {i, (uint64_t)round};
      if (!kc_actionq_try_push(&q, &m)) abort();
    }
    uint64_t t1 = bench_now_ns();
    for (uint64_t i = 0; i < CAPACITY; i++) {
      bench_msg m;
      if (!kc_actionq_try_pop(&q, &m)) abort();
      sum += m.a;
    }
    uint64_t t2 = bench_now_ns();
    push_total += t1 - t0;
    pop_total += t2 - t1;
  }
  bench_consume(sum);
  kc_actionq_destroy(&q);
  *push_ns = (double)push_total / ((double)ROUNDS * CAPACITY);
  *pop_ns = (double)pop_total / ((double)ROUNDS * CAPACITY);
}

/* ---- one producer, one consumer ---- */

static _Atomic int go;

static void start_together(void) {
  atomic_fetch_add(&go, 1);
  while (atomic_load(&go) < 2) kc_cpu_pause();
}

static void *producer(void *arg) {
  (void)arg;
  bench_pin_thread(0);
  start_together();
  for (uint64_t i = 0; i < ITEMS; i++) {
    bench_msg m = {i, 0};
    while (!kc_actionq_try_push(&q, &m)) edge_backoff();
  }
  return NULL;
}

static double run_throughput(void) {
  kc_actionq_init(&q, sizeof(bench_msg), CAPACITY, NULL);
  atomic_store(&go, 0);
  pthread_t t;
  pthread_create(&t, NULL, producer, NULL);
  bench_pin_thread(1);
  start_together();
  uint64_t t0 = bench_now_ns(), sum = 0;
  for (uint64_t i = 0; i < ITEMS; i++) {
    bench_msg m;
    while (!kc_actionq_try_pop(&q, &m)) edge_backoff();
    sum += m.a;
  }
  uint64_t dt = bench_now_ns() - t0;
  pthread_join(t, NULL);
  if (sum != ITEMS * (ITEMS - 1) / 2) {
    fprintf(stderr, "action_1p1c: checksum mismatch\n");
    exit(1);
  }
  kc_actionq_destroy(&q);
  return (double)ITEMS / ((double)dt / 1e9) / 1e6;
}

/* ---- wake-up latency of a sleeping consumer ---- */

static void *late_producer(void *arg) {
  (void)arg;
  bench_pin_thread(0);
  for (int i = 0; i < WAKE_SAMPLES; i++) {
    /* 1 ms: far past the consumer's spin, so it is asleep on the condvar. */
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
    bench_msg m = {bench_now_ns(), (uint64_t)i};
    while (!kc_actionq_try_push(&q, &m)) kc_cpu_pause();
  }
  return NULL;
}

static void run_wake(double *median_us, double *p99_us) {
  kc_actionq_init(&q, sizeof(bench_msg), 64, NULL);
  double s[WAKE_SAMPLES];
  pthread_t t;
  pthread_create(&t, NULL, late_producer, NULL);
  bench_pin_thread(1);
  for (int i = 0; i < WAKE_SAMPLES; i++) {
    bench_msg m;
    if (kc_actionq_pop_timeout(&q, &m, 1000000000ull) != KEEL_OK) {
      fprintf(stderr, "action_wake: timed out\n");
      exit(1);
    }
    s[i] = (double)(bench_now_ns() - m.a) / 1000.0;
  }
  pthread_join(t, NULL);
  kc_actionq_destroy(&q);
  *median_us = bench_percentile(s, WAKE_SAMPLES, 0.5);
  *p99_us = bench_percentile(s, WAKE_SAMPLES, 0.99);
}

int main(void) {
  bench_print_machine("bench_action_queue");
  double push[RUNS], pop[RUNS], thr[RUNS], wmed[RUNS], wp99[RUNS];
  bench_pin_thread(1);
  for (int r = 0; r < RUNS; r++) run_uncontended(&push[r], &pop[r]);
  print_runs("action_push_uncontended_ns", push, RUNS);
  print_runs("action_pop_uncontended_ns", pop, RUNS);
  bench_report("action_push_uncontended_ns", bench_percentile(push, RUNS, 0.5), "ns");
  bench_report("action_pop_uncontended_ns", bench_percentile(pop, RUNS, 0.5), "ns");
  for (int r = 0; r < RUNS; r++) thr[r] = run_throughput();
  print_runs("action_1p1c", thr, RUNS);
  bench_report("action_1p1c", bench_percentile(thr, RUNS, 0.5), "M msgs/s");
  for (int r = 0; r < RUNS; r++) run_wake(&wmed[r], &wp99[r]);
  print_runs("action_wake_us_median", wmed, RUNS);
  print_runs("action_wake_us_p99", wp99, RUNS);
  bench_report("action_wake_us_median", bench_percentile(wmed, RUNS, 0.5), "us");
  bench_report("action_wake_us_p99", bench_percentile(wp99, RUNS, 0.5), "us");
  return 0;
}
