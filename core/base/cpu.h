/* kc_cpu_pause: the one spin-wait hint every busy-wait in keel uses (the
 * job pool, the action queue, the script worker), so each spin loop yields
 * the core's pipeline to its sibling the same way on every architecture. */
#ifndef KC_CPU_H
#define KC_CPU_H

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void kc_cpu_pause(void) { _mm_pause(); }
#elif defined(__aarch64__) || defined(__arm__)
static inline void kc_cpu_pause(void) { __asm__ __volatile__("yield" ::: "memory"); }
#else
static inline void kc_cpu_pause(void) {}
#endif

#endif
