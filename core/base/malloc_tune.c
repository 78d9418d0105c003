/* See malloc_tune.h. */
#include "base/malloc_tune.h"

#include <limits.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

kc_malloc_tuning kc_malloc_tune(bool enable) {
  if (!enable) return KC_MALLOC_OFF;
  const char *tunables = getenv("GLIBC_TUNABLES");
  if (tunables && strstr(tunables, "glibc.malloc.")) return KC_MALLOC_TUNABLES_SET;
  /* Fixed thresholds also switch off glibc's dynamic raising of them. */
  if (mallopt(M_MMAP_THRESHOLD, KC_MALLOC_MMAP_THRESHOLD) != 1 || mallopt(M_TRIM_THRESHOLD, INT_MAX) != 1)
    return KC_MALLOC_REFUSED;
  return KC_MALLOC_TUNED;
}
