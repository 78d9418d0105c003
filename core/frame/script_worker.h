/* kc_script_worker: the one long-lived thread that runs game logic (DESIGN §2)
 * and its handshake with the main thread. The worker sends commands and an
 * end-of-tick marker through an SPSC ring; the main thread drains the ring
 * every frame, and only when it has drained tick k's marker (so all of tick
 * k's commands are in the back state) does it publish the world and trigger
 * tick k+1. The main thread never waits, except in lockstep mode. */
#ifndef KC_SCRIPT_WORKER_H
#define KC_SCRIPT_WORKER_H

#include <keel/script.h>

#include "base/err.h"
#include "base/watch.h"
#include "world/world.h"

/* What the worker runs: a script runtime plugin, or a native producer (the
 * built-in demo, tests). All functions are called on the worker thread,
 * except interrupt (any thread). */
typedef struct kc_tick_source {
  void *ctx;
  keel_result (*init)(void *ctx, keel_message *error);
  keel_result (*tick)(void *ctx, const keel_tick_info *tick, const keel_script_event *events, uint32_t count,
                      keel_message *error);
  keel_result (*shutdown)(void *ctx, keel_message *error);
  void (*interrupt)(void *ctx); /* may be NULL */
  /* Hot reload of changed files (absolute paths), at the start of a tick
   * before its events; NULL when the source cannot reload. */
  keel_result (*reload)(void *ctx, const char *const *paths, uint32_t count, keel_message *error);
} kc_tick_source;

/* Builds the tick source once the worker thread exists (runtimes must be
 * created on the thread that will run them). Returns the source in *out. */
typedef keel_result (*kc_tick_source_factory)(void *user, const keel_script_world *world, kc_tick_source *out,
                                              keel_message *error);
/* Frees what the factory made; called on the worker thread after shutdown. */
typedef void (*kc_tick_source_release)(void *user, kc_tick_source *source);

typedef struct kc_script_worker_config {
  kc_world *world;             /* borrowed; must outlive the worker */
  kc_tick_source_factory factory;
  kc_tick_source_release release;
  void *user;                  /* passed to factory and release */
  uint32_t command_capacity;   /* power of two; 0 = 16384 */
  uint32_t event_capacity;     /* power of two; 0 = 4096 */
  /* Hot reload: files the runtime reports loaded are added here, and the
   * changed ones are reloaded at the start of the next tick. NULL = off.
   * Borrowed; must outlive the worker. */
  kc_watch *watch;
} kc_script_worker_config;

typedef struct kc_script_worker_stats {
  uint64_t markers;          /* end markers drained: init's, then one per tick */
  uint64_t ticks;            /* ticks completed (marker drained), init not counted */
  uint64_t tick_errors;      /* ticks whose call returned an error */
  uint64_t init_errors;
  uint64_t commands;         /* commands drained and applied or failed */
  uint64_t commands_failed;  /* failed on the main thread */
  uint64_t commands_full;    /* refused to the script: queue full */
  uint64_t callbacks_posted; /* completion events handed to the worker */
  uint64_t events_overflow;  /* events held back a frame because the ring was full */
  uint64_t last_tick_ns;     /* duration of the last completed tick */
  uint64_t wakes;            /* triggers that had to wake the sleeping worker (a syscall on main) */
  uint64_t reloads;          /* hot reloads run (one per tick that found changed files) */
  uint64_t reload_errors;    /* of those, reloads that reported an error (the old code kept running) */
} kc_script_worker_stats;

typedef struct kc_script_worker kc_script_worker;

/* Starts the thread; it builds the source and runs init() before it reports
 * tick 0 as done. Thread: main. */
keel_result kc_script_worker_start(const kc_script_worker_config *cfg, kc_script_worker **out, kc_err *err);

/* Main thread, once a frame: applies every queued command to the world's
 * back state (completion events go back to the worker) and returns true when
 * the worker is idle — its last tick's commands are all applied, so the world
 * may be published and the next tick triggered. */
bool kc_script_worker_drain(kc_script_worker *sw);

/* Main thread, only when kc_script_worker_drain returned true: starts the
 * next tick with `info` (copied). Queued events (completions, cvar changes)
 * are delivered at its start. */
void kc_script_worker_trigger(kc_script_worker *sw, const keel_tick_info *info);

/* Main thread: says when it expects to trigger the next tick, in
 * kc_clock_now_ns time, or 0 for "not known" (lockstep, shutdown). The idle
 * worker sets its timer for just before then, so the trigger need not wake
 * it (see WAKE_EARLY_NS in script_worker.c). A wrong guess costs one wake. */
void kc_script_worker_expect_trigger(kc_script_worker *sw, uint64_t when_ns);

/* Queues a cvar change for the script (delivered at the next tick). Main. */
void kc_script_worker_post_event(kc_script_worker *sw, const keel_script_event *event);

/* Lockstep: waits until the running tick's marker is drained (applying its
 * commands). Returns false if the worker died or `timeout_ns` passed. Main. */
bool kc_script_worker_wait_idle(kc_script_worker *sw, uint64_t timeout_ns);

/* Asks a running tick to stop (the runtime's watchdog path). Any thread. */
void kc_script_worker_interrupt(kc_script_worker *sw);

void kc_script_worker_stats_get(const kc_script_worker *sw, kc_script_worker_stats *out);

/* Stops the thread: interrupts a running tick, runs shutdown(), releases the
 * source, joins. NULL is fine. Main. */
void kc_script_worker_stop(kc_script_worker *sw);

#endif
