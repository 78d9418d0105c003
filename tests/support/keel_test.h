/* Shared pieces of every keel test executable: a CUnit main that runs the
 * file's suites (optionally one, named on the command line) and helpers to
 * size stress loops for sanitizer builds and to run the `keel` binary. */
#ifndef KEEL_TEST_H
#define KEEL_TEST_H

#include <CUnit/CUnit.h>
#include <stddef.h>
#include <stdint.h>

/* Each test file defines this NULL-terminated table (CU_SUITE_INFO_NULL). */
extern CU_SuiteInfo keel_test_suites[];

/* n for normal builds; smaller under sanitizers, whose atomics cost 10-50x.
 * KEEL_TEST_FULL=1 in the environment forces n. Never below min(n, 1000). */
uint64_t kt_scaled(uint64_t n);

/* Runs `cmdline` through /bin/sh with stdout+stderr captured into out
 * (NUL-terminated, truncated to cap). Returns the exit status, or -1. */
int kt_run(const char *cmdline, char *out, size_t cap);

/* Writes `text` to a fresh file under a per-process temp dir; returns its
 * path in a static buffer slot (valid until 16 more calls). */
const char *kt_write_temp(const char *name, const char *text);

/* Monotonic nanoseconds. */
uint64_t kt_now_ns(void);

/* Asserts that `haystack` contains `needle`, printing both when it does not. */
#define KT_ASSERT_CONTAINS(haystack, needle) \
  kt_assert_contains((haystack), (needle), __FILE__, __LINE__)
void kt_assert_contains(const char *haystack, const char *needle, const char *file, int line);

#endif
