/* Raw futex system calls; see futex.h. glibc has no wrapper, and a semaphore
 * would hide whether a post had to wake a sleeper, which the script worker's
 * trigger needs to know. */
#include "sync/futex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void kc_futex_wait(_Atomic uint32_t *addr, uint32_t expect, uint64_t timeout_ns) {
  struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
  (void)syscall(SYS_futex, (uint32_t *)(void *)addr, FUTEX_WAIT_PRIVATE, expect, &ts, NULL, 0);
}

void kc_futex_wait_until(_Atomic uint32_t *addr, uint32_t expect, uint64_t deadline_ns) {
  struct timespec ts = {(time_t)(deadline_ns / 1000000000u), (long)(deadline_ns % 1000000000u)};
  /* The bitset form takes an absolute CLOCK_MONOTONIC deadline. */
  (void)syscall(SYS_futex, (uint32_t *)(void *)addr, FUTEX_WAIT_BITSET_PRIVATE, expect,
                deadline_ns == UINT64_MAX ? NULL : &ts, NULL, FUTEX_BITSET_MATCH_ANY);
}

void kc_futex_wake(_Atomic uint32_t *addr, int n) {
  (void)syscall(SYS_futex, (uint32_t *)(void *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}
