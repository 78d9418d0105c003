/* Helpers shared by the test executables; see keel_test.h. */
#include "keel_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint64_t kt_scaled(uint64_t n) {
  const char *full = getenv("KEEL_TEST_FULL");
  if (full && full[0] == '1') return n;
  uint64_t div = 1;
#if defined(KEEL_SANITIZER_TSAN)
  div = 20;
#elif defined(KEEL_SANITIZER_ASAN)
  div = 4;
#endif
  uint64_t floor = n < 1000 ? n : 1000;
  uint64_t s = n / div;
  return s < floor ? floor : s;
}

int kt_run(const char *cmdline, char *out, size_t cap) {
  char full[8192];
  snprintf(full, sizeof full, "%s 2>&1", cmdline);
  FILE *p = popen(full, "r");
  if (!p) return -1;
  size_t n = 0;
  if (cap) out[0] = '\0';
  char chunk[4096];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, p)) > 0) {
    if (cap && n + 1 < cap) {
      size_t take = got < cap - 1 - n ? got : cap - 1 - n;
      memcpy(out + n, chunk, take);
      n += take;
      out[n] = '\0';
    }
  }
  int st = pclose(p);
  if (st == -1) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

const char *kt_write_temp(const char *name, const char *text) {
  static char dir[256];
  static char paths[16][512];
  static int next;
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "%s/keel-test-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    mkdir(dir, 0700);
  }
  char *path = paths[next++ % 16];
  snprintf(path, 512, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) return NULL;
  fputs(text, f);
  fclose(f);
  return path;
}

uint64_t kt_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void kt_assert_contains(const char *haystack, const char *needle, const char *file, int line) {
  int ok = haystack && needle && strstr(haystack, needle) != NULL;
  if (!ok) fprintf(stderr, "\n%s:%d: expected to find:\n  %s\nin:\n%s\n", file, line, needle ? needle : "(null)", haystack ? haystack : "(null)");
  CU_assertImplementation(ok, (unsigned)line, "output contains expected text", file, "", CU_FALSE);
}
