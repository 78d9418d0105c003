/* See bench_util.h. */
#include "bench_util.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

void bench_print_machine(const char *bench_name) {
  char model[256] = "unknown cpu";
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    char line[512];
    while (fgets(line, sizeof line, f)) {
      if (strncmp(line, "model name", 10) == 0) {
        char *c = strchr(line, ':');
        if (c) {
          c++;
          while (*c == ' ') c++;
          c[strcspn(c, "\n")] = '\0';
          snprintf(model, sizeof model, "%s", c);
        }
        break;
      }
    }
    fclose(f);
  }
  struct utsname u;
  uname(&u);
#ifdef NDEBUG
  const char *build = "optimised";
#else
  const char *build = "debug (use the release preset for figures)";
#endif
  printf("benchmark: %s\n", bench_name);
  printf("machine: %s, %ld cores, %s %s, %s build\n", model, sysconf(_SC_NPROCESSORS_ONLN), u.sysname,
         u.release, build);
  fflush(stdout);
}

uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_percentile(double *v, size_t n, double p) {
  if (n == 0) return 0.0;
  qsort(v, n, sizeof *v, cmp_double);
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);
  return v[i < n ? i : n - 1];
}

int bench_pin_thread(int cpu) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % (n > 0 ? n : 1), &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

void bench_report(const char *name, double value, const char *unit) {
  if (value >= 100.0)
    printf("%s: %.0f %s\n", name, value, unit);
  else if (value >= 1.0)
    printf("%s: %.2f %s\n", name, value, unit);
  else
    printf("%s: %.4f %s\n", name, value, unit);
  fflush(stdout);
}

static volatile uint64_t bench_sink;
void bench_consume(uint64_t v) { bench_sink += v; }
