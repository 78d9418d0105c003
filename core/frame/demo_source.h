/* The built-in native game ([script] runtime = native): rings of entities
 * orbiting the origin, a camera and a light, a part of the entities moved
 * each tick. It drives the world through the same keel_script_world table a
 * script runtime gets, so the frame loop runs end to end with no plugin. */
#ifndef KC_DEMO_SOURCE_H
#define KC_DEMO_SOURCE_H

#include "frame/script_worker.h"

/* Factory/release pair for kc_script_worker_config; user = a uint32_t*
 * holding the entity count (0 = 300). */
keel_result kc_demo_source_create(void *user, const keel_script_world *world, kc_tick_source *out,
                                  keel_message *error);
void kc_demo_source_release(void *user, kc_tick_source *source);

#endif
