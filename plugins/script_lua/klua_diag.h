/* A plugin-private interface of the Lua runtime, "keel.script.lua.diag/1",
 * for its own tests and benchmark: direct access to the one-off pool, so the
 * cost of acquire + release can be measured without compiling a chunk, and
 * the pool's growth bound can be checked. Engines have no use for it. */
#ifndef KLUA_DIAG_H
#define KLUA_DIAG_H

#include <keel/script.h>

#define KLUA_DIAG_INTERFACE "keel.script.lua.diag/1"

typedef struct klua_diag_api {
  uint32_t struct_size;
  /* Takes a ready pool VM (growing the pool up to its bound) and resets it
   * for a run; NULL with a message when the pool is exhausted. Any thread. */
  void *(*pool_acquire)(keel_script *script, keel_message *error);
  /* Gives it back (stack cleared, stop flags reset). Any thread. */
  void (*pool_release)(keel_script *script, void *vm);
  /* States created so far, and the bound. */
  uint32_t (*pool_size)(keel_script *script, uint32_t *max);
} klua_diag_api;

#endif
