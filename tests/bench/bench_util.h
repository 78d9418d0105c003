/* Shared benchmark plumbing: the machine header every benchmark prints first,
 * a monotonic clock, medians over repeated runs, thread pinning, and the one
 * output format `name: value unit` that closing notes quote. */
#ifndef KEEL_BENCH_UTIL_H
#define KEEL_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Prints "machine: <cpu model>, <n> cores, <kernel>, <build type>". */
void bench_print_machine(const char *bench_name);
uint64_t bench_now_ns(void);
/* Sorts v in place and returns its median (p=0.5) or another percentile. */
double bench_percentile(double *v, size_t n, double p);
/* Pins the calling thread to cpu (mod core count); returns 0 or an errno. */
int bench_pin_thread(int cpu);
/* Prints "name: value unit" with a precision that suits the value. */
void bench_report(const char *name, double value, const char *unit);
/* Keeps the optimiser from deleting a computed value. */
void bench_consume(uint64_t v);

#endif
