/* kc_clock: the engine's time source. One monotonic nanosecond clock for
 * frame pacing, stats and log timestamps, and sleeps that survive signals,
 * so no caller reimplements clock_gettime/nanosleep loops. */
#ifndef KC_CLOCK_H
#define KC_CLOCK_H

#include <stdint.h>

#define KC_NS_PER_US 1000ull
#define KC_NS_PER_MS 1000000ull
#define KC_NS_PER_S 1000000000ull

/* Monotonic nanoseconds (CLOCK_MONOTONIC) from an arbitrary origin; never
 * goes back. Any thread. */
uint64_t kc_clock_now_ns(void);

/* Wall-clock nanoseconds since the Unix epoch (CLOCK_REALTIME); may jump.
 * For timestamps shown to people, never for durations. Any thread. */
uint64_t kc_clock_wall_ns(void);

/* Sleeps at least `ns` nanoseconds, resuming after signal interruptions.
 * 0 returns at once. Any thread. */
void kc_clock_sleep_ns(uint64_t ns);

/* Sleeps until kc_clock_now_ns() >= deadline_ns (returns at once when it has
 * passed). Absolute, so repeated frame waits do not drift. Any thread. */
void kc_clock_sleep_until_ns(uint64_t deadline_ns);

/* Like kc_clock_sleep_until_ns but sleeps only until `spin_ns` before the
 * deadline and spins the rest, trading a little CPU for pacing accuracy
 * the scheduler's wake-up latency would otherwise cost. Any thread. */
void kc_clock_sleep_until_precise_ns(uint64_t deadline_ns, uint64_t spin_ns);

/* ns as seconds, for stats and messages. */
static inline double kc_clock_ns_to_s(uint64_t ns) { return (double)ns / 1e9; }

#endif
