/* kc_script_worker: the one long-lived thread that runs game logic (DESIGN §2)
 * and its handshake with the main thread. The worker sends commands and an
 * end-of-tick marker through an SPSC ring; the main thread drains the ring
 * every frame, and only when it has drained tick k's marker (so all of tick
 * k's commands are in the back state) does it publish the world and trigger
 * tick k+1. The main thread never waits, except in lockstep mode. */
#ifndef KC_SCRIPT_WORKER_H
#define KC_SCRIPT_WORKER_H

#include <keel/script.h>

#include <signal.h>

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

/* Completions a script may wait for at once (commands sent with a callback
 * id whose event has not reached it yet). A command that would pass this is
 * refused with KEEL_ERR_FULL at the script's own line, so no event is ever
 * dropped: events the ring cannot take wait on the main thread for the next
 * tick, and this bounds how many can wait. */
#define KC_SCRIPT_CALLBACKS_MAX KEEL_SCRIPT_CALLBACKS_MAX

typedef struct kc_script_worker_config {
  kc_world *world;             /* borrowed; must outlive the worker */
  kc_tick_source_factory factory;
  kc_tick_source_release release;
  void *user;                  /* passed to factory and release */
  uint32_t command_capacity;   /* power of two; 0 = KEEL_SCRIPT_COMMAND_QUEUE */
  uint32_t event_capacity;     /* power of two; 0 = KEEL_SCRIPT_EVENT_QUEUE */
  uint32_t callbacks_max;      /* 0 = KC_SCRIPT_CALLBACKS_MAX */
  uint64_t create_timeout_ns;  /* how long start waits for the factory; 0 = 10 s */
  /* Hot reload: files the runtime reports loaded are added here, and the
   * changed ones are reloaded at the start of the next tick. NULL = off.
   * Borrowed; must outlive the worker. */
  kc_watch *watch;
} kc_script_worker_config;

/* What the worker thread is doing, for bounded waits and their reports. */
typedef enum kc_worker_phase {
  KC_WORKER_CREATING = 0, /* the factory (a runtime's create) */
  KC_WORKER_INIT,         /* init(): loading the game, then its init() */
  KC_WORKER_IDLE,
  KC_WORKER_TICK,
  KC_WORKER_SHUTDOWN,     /* shutdown() */
  KC_WORKER_RELEASE,      /* the release step (a runtime's destroy) */
  KC_WORKER_DONE          /* the thread has returned or is returning */
} kc_worker_phase;

typedef struct kc_script_worker_stats {
  uint64_t markers;          /* end markers drained: init's, then one per tick */
  uint64_t ticks;            /* ticks completed (marker drained), init not counted */
  uint64_t tick_errors;      /* ticks whose call returned an error */
  uint64_t init_errors;
  uint64_t shutdown_errors;  /* 0 or 1: shutdown() returned an error */
  uint64_t commands;         /* commands drained and applied or failed */
  uint64_t commands_failed;  /* failed on the main thread */
  uint64_t commands_full;    /* refused to the script: queue full */
  uint64_t callbacks_posted; /* completion events handed to the worker */
  uint64_t callbacks_full;   /* commands refused to the script: KC_SCRIPT_CALLBACKS_MAX completions pending */
  uint64_t events_overflow;  /* events held back a frame because the ring was full (none is dropped) */
  uint64_t last_tick_ns;     /* duration of the last completed tick */
  uint64_t wakes;            /* triggers that had to wake the sleeping worker (a syscall on main) */
  uint64_t reloads;          /* hot reloads run (one per tick that found changed files) */
  uint64_t reload_errors;    /* of those, reloads that reported an error (the old code kept running) */
} kc_script_worker_stats;

/* Fill of the worker's two queues, read by the main thread for the queue
 * alerts (docs/runner.md). */
typedef struct kc_script_worker_fill {
  uint64_t commands, commands_capacity;   /* worker -> main ring: the most it held at a drain since the last
                                             call; the capacity when a command was refused since then */
  uint64_t commands_hwm;                  /* the most it held at any drain (the capacity once one was refused) */
  uint64_t callbacks, callbacks_capacity; /* completions pending, of callbacks_max */
  uint64_t events_waiting;                /* events held on the main thread for a later tick */
} kc_script_worker_fill;

typedef struct kc_script_worker kc_script_worker;

/* Starts the thread and waits (at most create_timeout_ns) for the factory;
 * the worker then runs init() by itself, and the main thread sees it busy
 * until init's marker is drained (kc_script_worker_wait), so init's commands
 * are applied while it runs. A factory that has not returned in time is
 * KEEL_ERR_TIMEOUT with *out set to the abandoned worker (see
 * kc_script_worker_abandoned): nothing it may touch can be freed. Main. */
keel_result kc_script_worker_start(const kc_script_worker_config *cfg, kc_script_worker **out, kc_err *err);
/* The alignment struct kc_script_worker needs (its rings are 128-byte
 * aligned): kc_script_worker_start allocates the worker at it. For tests. */
size_t kc_script_worker_alignment(void);

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

typedef enum kc_wait_result {
  KC_WAIT_IDLE = 0, /* the running call's marker is drained */
  KC_WAIT_TIMEOUT,  /* timeout_ns passed first */
  KC_WAIT_QUIT      /* *quit became non-zero first */
} kc_wait_result;

/* Waits until the running call's marker (init's or a tick's) is drained,
 * applying its commands meanwhile; gives up after timeout_ns, or when
 * *quit (may be NULL) is set. Main. */
kc_wait_result kc_script_worker_wait(kc_script_worker *sw, uint64_t timeout_ns, const volatile sig_atomic_t *quit);
/* kc_script_worker_wait without a quit flag: true when idle. Main. */
bool kc_script_worker_wait_idle(kc_script_worker *sw, uint64_t timeout_ns);

/* Asks the running init, tick or shutdown to stop (the runtime's interrupt);
 * nothing when the worker is idle. Any thread. */
void kc_script_worker_interrupt(kc_script_worker *sw);

/* What the worker is doing: its phase, the tick it runs (KC_WORKER_TICK)
 * and since when (kc_clock_now_ns). Any thread. */
kc_worker_phase kc_script_worker_phase(const kc_script_worker *sw, uint64_t *tick, uint64_t *since_ns);
/* "a tick (its events and update(dt))", "init() (...)", ... for reports. */
const char *kc_script_worker_phase_text(kc_worker_phase phase);
/* The same with the tick's number: "tick 42 (its events and update(dt))". */
void kc_script_worker_describe(kc_worker_phase phase, uint64_t tick, char *out, size_t cap);

void kc_script_worker_stats_get(const kc_script_worker *sw, kc_script_worker_stats *out);
/* Main thread. */
void kc_script_worker_fill_get(kc_script_worker *sw, kc_script_worker_fill *out);

/* How long kc_script_worker_stop lets each step take. */
typedef struct kc_script_worker_stop_opts {
  uint64_t call_ns;     /* a running init or tick may go on this long before it is interrupted */
  uint64_t shutdown_ns; /* shutdown() (and the release after it) may run this long before it is interrupted */
  uint64_t grace_ns;    /* after an interrupt, this long to come back before the worker is given up */
} kc_script_worker_stop_opts;

/* Stops the thread: a running init or tick ends (interrupted once it has
 * run opts->call_ns), shutdown() runs, the source is released and the
 * thread is joined: true (stats stay readable until kc_script_worker_free).
 * A worker that does not come back within the bounds (stuck in native code)
 * is given up: false, `report` (may be NULL) says which step it was in and
 * for how long, and the thread is left running, so the caller must not free
 * anything it may touch and should end the process. opts NULL: 1 s, 2 s,
 * 0.5 s. NULL sw is fine (true). Main. */
bool kc_script_worker_stop(kc_script_worker *sw, const kc_script_worker_stop_opts *opts, char *report, size_t cap);

/* Frees a worker: stops it first (default bounds) if that was not done.
 * A given-up worker is left as it is (its thread still uses it). NULL is
 * fine. Main. */
void kc_script_worker_free(kc_script_worker *sw);

/* True when start or stop gave the worker up (see above). */
bool kc_script_worker_abandoned(const kc_script_worker *sw);

#endif
