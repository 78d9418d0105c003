/* Raw futex system calls; see futex.h. glibc has no wrapper, and a semaphore
 * post always wakes a sleeper, where the script worker's trigger decides
 * whether a wake is worth its cost. */
#include "sync/futex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"

void kc_futex_wait(_Atomic uint32_t *addr, uint32_t expect, uint64_t timeout_ns) {
  struct timespec ts = {(time_t)(timeout_ns / KC_NS_PER_S), (long)(timeout_ns % KC_NS_PER_S)};
  (void)syscall(SYS_futex, (uint32_t *)(void *)addr, FUTEX_WAIT_PRIVATE, expect, &ts, NULL, 0);
}

void kc_futex_wait_until(_Atomic uint32_t *addr, uint32_t expect, uint64_t deadline_ns) {
  struct timespec ts = {(time_t)(deadline_ns / KC_NS_PER_S), (long)(deadline_ns % KC_NS_PER_S)};
  /* The bitset form takes an absolute CLOCK_MONOTONIC deadline. */
  (void)syscall(SYS_futex, (uint32_t *)(void *)addr, FUTEX_WAIT_BITSET_PRIVATE, expect,
                deadline_ns == UINT64_MAX ? NULL : &ts, NULL, FUTEX_BITSET_MATCH_ANY);
}

void kc_futex_wake(_Atomic uint32_t *addr, int n) {
  (void)syscall(SYS_futex, (uint32_t *)(void *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}
