/* The three futex calls the core's sleepers need (the job pool's eventcount,
 * the script worker's trigger), in one place: Linux only, private futexes,
 * 32-bit words. A spurious or early return is always possible; callers loop
 * on their own condition. */
#ifndef KC_SYNC_FUTEX_H
#define KC_SYNC_FUTEX_H

#include <stdatomic.h>
#include <stdint.h>

/* Sleeps while *addr == expect, at most timeout_ns (relative). */
void kc_futex_wait(_Atomic uint32_t *addr, uint32_t expect, uint64_t timeout_ns);

/* Sleeps while *addr == expect, until deadline_ns on kc_clock_now_ns's clock
 * (CLOCK_MONOTONIC); UINT64_MAX = no deadline. */
void kc_futex_wait_until(_Atomic uint32_t *addr, uint32_t expect, uint64_t deadline_ns);

/* Wakes up to n threads sleeping on addr. */
void kc_futex_wake(_Atomic uint32_t *addr, int n);

#endif
