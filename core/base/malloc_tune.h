/* kc_malloc_tune: the runner's malloc thresholds (DESIGN §7). The CPU
 * renderers (lavapipe, llvmpipe) free and re-allocate large blocks every
 * frame; with glibc's dynamic thresholds each one is returned to the kernel
 * and faulted in again, which costs more than the drawing. In one place so
 * the runner and the benchmarks apply exactly the same setting. */
#ifndef KC_MALLOC_TUNE_H
#define KC_MALLOC_TUNE_H

#include <stdbool.h>

#define KC_MALLOC_MMAP_THRESHOLD (32 * 1024 * 1024) /* glibc's largest allowed value on 64-bit */

typedef enum kc_malloc_tuning {
  KC_MALLOC_TUNED = 0,       /* the thresholds are set */
  KC_MALLOC_OFF = 1,         /* not asked for */
  KC_MALLOC_TUNABLES_SET = 2, /* GLIBC_TUNABLES sets glibc.malloc.*: left alone */
  KC_MALLOC_REFUSED = 3      /* mallopt said no (another allocator, e.g. a sanitizer's) */
} kc_malloc_tuning;

/* Sets M_MMAP_THRESHOLD to 32 MiB and M_TRIM_THRESHOLD to INT_MAX when
 * `enable` and the user has not chosen malloc tunables. Process-wide; call
 * once, at startup, before the renderer exists. Main thread. */
kc_malloc_tuning kc_malloc_tune(bool enable);

#endif
