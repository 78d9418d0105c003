/* See clock.h. clock_nanosleep with TIMER_ABSTIME is used for deadlines so an
 * interrupted sleep resumes against the same deadline instead of drifting. */
#include "base/clock.h"

#include <errno.h>
#include <time.h>

static uint64_t ts_to_ns(const struct timespec *ts) {
  return (uint64_t)ts->tv_sec * KC_NS_PER_S + (uint64_t)ts->tv_nsec;
}

static struct timespec ns_to_ts(uint64_t ns) {
  struct timespec ts;
  ts.tv_sec = (time_t)(ns / KC_NS_PER_S);
  ts.tv_nsec = (long)(ns % KC_NS_PER_S);
  return ts;
}

uint64_t kc_clock_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts_to_ns(&ts);
}

uint64_t kc_clock_wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts_to_ns(&ts);
}

void kc_clock_sleep_until_ns(uint64_t deadline_ns) {
  struct timespec ts = ns_to_ts(deadline_ns);
  /* clock_nanosleep returns the error instead of setting errno. */
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

void kc_clock_sleep_ns(uint64_t ns) {
  if (ns == 0) return;
  kc_clock_sleep_until_ns(kc_clock_now_ns() + ns);
}

void kc_clock_sleep_until_precise_ns(uint64_t deadline_ns, uint64_t spin_ns) {
  uint64_t now = kc_clock_now_ns();
  if (now >= deadline_ns) return;
  if (deadline_ns - now > spin_ns) kc_clock_sleep_until_ns(deadline_ns - spin_ns);
  while (kc_clock_now_ns() < deadline_ns) {
  }
}
