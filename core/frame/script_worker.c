/* The script worker thread and its lock-free handshake with the main thread;
 * see script_worker.h for the protocol. The main thread's side never blocks:
 * it pops what is there and triggers a tick with one atomic add. */
#include "frame/script_worker.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/cpu.h"
#include "base/log.h"
#include "base/trace.h"
#include "sync/futex.h"
#include "sync/spsc.h"

enum { MSG_COMMAND = 1, MSG_TICK_END = 2 };

/* What crosses the worker → main ring: a command, or the end of a tick. */
typedef struct worker_msg {
  uint32_t type;
  uint16_t failed; /* MSG_TICK_END: the call returned an error */
  uint16_t init;   /* MSG_TICK_END: marks the end of init(), not of a tick */
  uint64_t tick_ns;
  keel_command cmd;
} worker_msg;


/* Waking a thread asleep in a futex costs the waker a system call and, when
 * the sleeper's CPU is idle, an inter-processor interrupt: 10-30 us of the
 * main thread's frame on this class of VM, measured in the handoff with a
 * 30 ms/tick script. So the main thread says when it expects to trigger the
 * next tick, and the idle worker sets its own timer for WAKE_EARLY_NS before
 * that. A trigger that finds the worker in a sleep due to end within
 * WAKE_LAZY_NS does not wake it: the tick starts when its timer fires (a
 * timer wake is 80-240 us late on this VM). The worker also spins a moment
 * after each tick, for a trigger that follows at once (lockstep, unthrottled
 * loops), and around the expected time. */
#define WAKE_SPIN_NS 30000u
#define WAKE_EARLY_NS 100000u
#define WAKE_LATE_NS 250000u       /* spin this long past an expected trigger (main wakes late too) */
#define WAKE_LAZY_NS 500000u       /* the longest a trigger leaves a tick waiting for the worker's timer */
#define WAKE_RECHECK_NS 250000u    /* a missed expectation is re-read this often (< LAZY) */
#define WAKE_GIVE_UP_NS 100000000u /* until it is this stale: then sleep until woken */
#define SLEEP_FOREVER UINT64_MAX

#define DRAIN_BATCH 64

struct kc_script_worker {
  kc_script_worker_config cfg;
  kc_world *world;
  keel_script_world world_table;
  kc_tick_source source;
  bool source_ok;

  kc_spsc commands; /* worker → main: worker_msg */
  kc_spsc events;   /* main → worker: keel_script_event */

  pthread_t thread;
  pthread_t self; /* written by the worker itself before start returns */
  _Atomic uint32_t go; /* bumped by main for each trigger and for quit; the worker's futex */
  _Atomic bool quit;
  bool abandoned; /* start or stop gave the thread up: nothing it may touch is freed */
  bool joined;    /* stop joined the thread */

  /* What the worker is doing (kc_script_worker_phase). phase_lock orders a
   * phase change with an interrupt, so an interrupt meant for a tick never
   * lands in the shutdown() that follows it. */
  pthread_mutex_t phase_lock;
  _Atomic uint32_t phase;
  _Atomic uint64_t phase_since;
  _Atomic uint64_t phase_tick;
  _Atomic bool shutdown_failed;

  /* Completions the script waits for: raised by the worker when it sends a
   * command with a callback id, lowered when it takes the event. */
  _Atomic uint32_t callbacks_pending;
  uint32_t callbacks_max;
  _Atomic uint64_t callbacks_full;
  keel_tick_info next_tick; /* written by main before bumping `go` */
  keel_input_state next_input; /* the input next_tick carries, copied with it */

  /* start handshake */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool started;
  keel_result start_result;
  keel_message start_error;

  /* When the main thread expects to bump `go` next (kc_clock_now_ns), 0 for
   * no expectation. Written by main, read by the waiting worker; on its own
   * line so that the main thread's other writes do not disturb the wait. */
  _Alignas(KC_CACHE_LINE) _Atomic uint64_t expect_ns;
  /* When the worker's sleep ends: 0 while it is awake, SLEEP_FOREVER for no
   * timer. Written by the worker, read by main's trigger. */
  _Atomic uint64_t sleep_until;

  /* main-thread only */
  _Alignas(KC_CACHE_LINE) bool busy;
  /* Events the ring could not take, in order, for a later tick: a growing
   * circular FIFO (callbacks_max bounds the completions in it). */
  keel_script_event *overflow;
  uint32_t overflow_head, overflow_count, overflow_cap;
  uint64_t commands_fill; /* the ring's fill at the last drain */
  uint64_t commands_hwm;  /* the most it held at a drain */
  uint64_t commands_peak; /* ... since the last kc_script_worker_fill_get */
  uint64_t full_seen;     /* commands_full at the last kc_script_worker_fill_get */
  kc_script_worker_stats stats;
  _Atomic uint64_t reloads, reload_errors; /* counted on the worker */
  bool watch_full_logged;
  _Atomic uint64_t commands_full; /* counted on the worker */
};

/* ---- the world table lent to the tick source (worker thread) ---- */

static keel_id table_id_reserve(void *ctx, keel_object_kind kind) {
  kc_script_worker *sw = ctx;
  return kc_world_reserve(sw->world, kind);
}

static keel_result table_command_push(void *ctx, const keel_command *cmd) {
  kc_script_worker *sw = ctx;
  if (!cmd) return KEEL_ERR_INVALID_ARGUMENT;
  uint32_t pending = atomic_load_explicit(&sw->callbacks_pending, memory_order_relaxed);
  if (cmd->callback_id && pending >= sw->callbacks_max) {
    /* Back-pressure at the script's own line rather than an event dropped
     * later: the script retries once its callbacks have run. The id it
     * reserved for this create goes back. */
    atomic_fetch_add_explicit(&sw->callbacks_full, 1, memory_order_relaxed);
    if (cmd->type == KEEL_CMD_CREATE) kc_world_unreserve(sw->world, cmd->id);
    return KEEL_ERR_FULL;
  }
  keel_result r = kc_world_check(sw->world, cmd);
  if (r != KEEL_OK) {
    /* A refused create must not keep its reserved id (it would never be
     * freed: ids are finite). */
    if (cmd->type == KEEL_CMD_CREATE) kc_world_unreserve(sw->world, cmd->id);
    return r;
  }
  worker_msg m = {.type = MSG_COMMAND, .cmd = *cmd};
  if (!kc_spsc_push(&sw->commands, &m)) {
    kc_world_uncheck(sw->world, cmd);
    atomic_fetch_add_explicit(&sw->commands_full, 1, memory_order_relaxed);
    return KEEL_ERR_FULL;
  }
  if (cmd->callback_id) atomic_store_explicit(&sw->callbacks_pending, pending + 1, memory_order_relaxed);
  return KEEL_OK;
}

/* The worker reads the front without locks: the main thread publishes only
 * while it is idle. Any other thread (a one-off script on a job worker) may
 * overlap a publish, so it reads inside the buffer's read section. */
static keel_result table_object_get(void *ctx, keel_id id, keel_object_snapshot *out) {
  kc_script_worker *sw = ctx;
  if (pthread_equal(pthread_self(), sw->self)) return kc_world_get(sw->world, id, out);
  return kc_world_get_shared(sw->world, id, out);
}

static uint32_t table_object_count(void *ctx, keel_object_kind kind) {
  kc_script_worker *sw = ctx;
  if (pthread_equal(pthread_self(), sw->self)) return kc_world_count(sw->world, kind);
  return kc_world_count_shared(sw->world, kind);
}

/* Hot reload: the runtime names each source file it loads; the watcher
 * reports the ones that change. Without a watcher this does nothing. */
static void table_file_loaded(void *ctx, const char *path) {
  kc_script_worker *sw = ctx;
  if (!sw->cfg.watch || !path) return;
  kc_err err;
  if (kc_watch_add(sw->cfg.watch, path, &err) != KEEL_OK && !sw->watch_full_logged) {
    sw->watch_full_logged = true;
    kc_log_write(KC_LOG_WARN, "hot reload: %s", err.msg);
  }
}

/* ---- worker thread ---- */

#define RELOAD_BATCH 64

/* At the start of a tick: re-runs the files that changed since the last
 * one, if any. Worker thread. */
static void reload_changed(kc_script_worker *sw) {
  if (!sw->cfg.watch || !sw->source.reload || !kc_watch_pending(sw->cfg.watch)) return;
  const char *paths[RELOAD_BATCH];
  uint32_t n = kc_watch_take(sw->cfg.watch, paths, RELOAD_BATCH);
  if (n == 0) return;
  keel_message msg = {{0}};
  bool traced = KC_TRACE_BEGIN_ARG("reload", "files", n);
  keel_result r = sw->source.reload(sw->source.ctx, paths, n, &msg);
  KC_TRACE_END(traced);
  atomic_fetch_add_explicit(&sw->reloads, 1, memory_order_relaxed);
  if (r != KEEL_OK) atomic_fetch_add_explicit(&sw->reload_errors, 1, memory_order_relaxed);
}

/* Returns once `go` has moved past *seen (a trigger or quit); see
 * WAKE_EARLY_NS for the timing. Worker thread. */
static void wait_for_trigger(kc_script_worker *sw, uint32_t *seen) {
  uint64_t spin_until = kc_clock_now_ns() + WAKE_SPIN_NS;
  for (;;) {
    uint32_t go = atomic_load_explicit(&sw->go, memory_order_acquire);
    if (go != *seen) {
      *seen = go;
      return;
    }
    uint64_t now = kc_clock_now_ns();
    uint64_t expect = atomic_load_explicit(&sw->expect_ns, memory_order_relaxed);
    if (now < spin_until || (expect && now + WAKE_EARLY_NS >= expect && now < expect + WAKE_LATE_NS)) {
      kc_cpu_pause();
      continue;
    }
    uint64_t until = SLEEP_FOREVER;
    if (expect > now + WAKE_EARLY_NS)
      until = expect - WAKE_EARLY_NS;
    else if (expect && now < expect + WAKE_GIVE_UP_NS)
      until = now + WAKE_RECHECK_NS; /* main was late: it will say when next */
    /* Dekker with kc_script_worker_trigger: either main sees this sleep, or
     * this load sees main's bump (all four accesses are seq_cst). */
    atomic_store_explicit(&sw->sleep_until, until, memory_order_seq_cst);
    if (atomic_load_explicit(&sw->go, memory_order_seq_cst) == *seen) kc_futex_wait_until(&sw->go, *seen, until);
    atomic_store_explicit(&sw->sleep_until, 0, memory_order_relaxed);
  }
}

static void set_phase(kc_script_worker *sw, kc_worker_phase phase, uint64_t tick) {
  pthread_mutex_lock(&sw->phase_lock);
  atomic_store_explicit(&sw->phase_tick, tick, memory_order_relaxed);
  atomic_store_explicit(&sw->phase_since, kc_clock_now_ns(), memory_order_relaxed);
  atomic_store_explicit(&sw->phase, (uint32_t)phase, memory_order_release);
  pthread_mutex_unlock(&sw->phase_lock);
}

/* The marker must not be lost, and the main thread drains every frame, so the
 * worker (never the main thread) waits for room. */
static void push_tick_end(kc_script_worker *sw, bool init, bool failed, uint64_t ns) {
  worker_msg m = {.type = MSG_TICK_END, .failed = failed, .init = init, .tick_ns = ns};
  for (unsigned spins = 0; !kc_spsc_push(&sw->commands, &m); spins++) {
    if (atomic_load_explicit(&sw->quit, memory_order_acquire)) return;
    if (spins < 64)
      sched_yield();
    else
      kc_clock_sleep_ns(100000);
  }
}

static void signal_started(kc_script_worker *sw, keel_result r) {
  pthread_mutex_lock(&sw->lock);
  sw->started = true;
  sw->start_result = r;
  pthread_cond_signal(&sw->cond);
  pthread_mutex_unlock(&sw->lock);
}

/* Takes the events that arrived since the last tick (at most a ring's
 * worth: the rest wait for the next tick) and returns how many. */
static uint32_t take_events(kc_script_worker *sw, keel_script_event *events) {
  if (!events) return 0;
  uint32_t n = (uint32_t)kc_spsc_pop_batch(&sw->events, events, kc_spsc_capacity(&sw->events));
  uint32_t done = 0;
  for (uint32_t i = 0; i < n; i++) done += events[i].type == KEEL_EVENT_COMPLETED && events[i].callback_id != 0;
  if (done) {
    uint32_t pending = atomic_load_explicit(&sw->callbacks_pending, memory_order_relaxed);
    atomic_store_explicit(&sw->callbacks_pending, pending > done ? pending - done : 0, memory_order_relaxed);
  }
  return n;
}

static void *worker_main(void *arg) {
  kc_script_worker *sw = arg;
  sw->self = pthread_self();
  kc_log_set_thread_name("script");
  kc_trace_thread_begin();
  keel_message msg = {{0}};
  keel_result r = sw->cfg.factory(sw->cfg.user, &sw->world_table, &sw->source, &msg);
  if (r != KEEL_OK) {
    sw->start_error = msg;
    set_phase(sw, KC_WORKER_DONE, 0);
    signal_started(sw, r);
    return NULL;
  }
  pthread_mutex_lock(&sw->phase_lock);
  sw->source_ok = true; /* read under phase_lock by kc_script_worker_interrupt */
  pthread_mutex_unlock(&sw->phase_lock);
  signal_started(sw, KEEL_OK);

  /* init runs here, not in start: the main thread drains its commands while
   * it runs, so a game that sends more than the ring holds cannot hang. */
  bool failed = false;
  uint64_t t0 = kc_clock_now_ns();
  if (!atomic_load_explicit(&sw->quit, memory_order_acquire) && sw->source.init) {
    set_phase(sw, KC_WORKER_INIT, 0);
    msg.text[0] = '\0';
    bool traced = KC_TRACE_BEGIN("init");
    r = sw->source.init(sw->source.ctx, &msg);
    KC_TRACE_END(traced);
    /* The game keeps running: its update may still work, and the error is
     * already logged by the runtime with its file and line. */
    if (r != KEEL_OK) kc_log_write(KC_LOG_DEBUG, "script init returned %s: %s", keel_result_name(r), msg.text);
    failed = r != KEEL_OK;
  }
  push_tick_end(sw, true, failed, kc_clock_now_ns() - t0);
  set_phase(sw, KC_WORKER_IDLE, 0);

  keel_script_event *events = malloc(sizeof *events * kc_spsc_capacity(&sw->events));
  uint32_t seen = 0;
  for (;;) {
    wait_for_trigger(sw, &seen);
    if (atomic_load_explicit(&sw->quit, memory_order_acquire)) break;
    keel_tick_info info = sw->next_tick;
    keel_input_state input = sw->next_input;
    info.input = &input;
    /* The reload runs script code: it is part of the tick, bounded with it. */
    set_phase(sw, KC_WORKER_TICK, info.tick);
    reload_changed(sw);
    uint32_t n = take_events(sw, events);
    msg.text[0] = '\0';
    t0 = kc_clock_now_ns();
    bool traced = KC_TRACE_BEGIN_ARG("tick", "tick", info.tick);
    r = sw->source.tick(sw->source.ctx, &info, events, n, &msg);
    KC_TRACE_END(traced);
    push_tick_end(sw, false, r != KEEL_OK, kc_clock_now_ns() - t0);
    set_phase(sw, KC_WORKER_IDLE, 0);
  }
  free(events);
  if (sw->source.shutdown) {
    set_phase(sw, KC_WORKER_SHUTDOWN, 0);
    msg.text[0] = '\0';
    bool traced = KC_TRACE_BEGIN("shutdown");
    if (sw->source.shutdown(sw->source.ctx, &msg) != KEEL_OK)
      atomic_store_explicit(&sw->shutdown_failed, true, memory_order_relaxed);
    KC_TRACE_END(traced);
  }
  set_phase(sw, KC_WORKER_RELEASE, 0);
  if (sw->cfg.release) sw->cfg.release(sw->cfg.user, &sw->source);
  set_phase(sw, KC_WORKER_DONE, 0);
  return NULL;
}

/* ---- main thread ---- */

static void worker_free(kc_script_worker *sw) {
  kc_spsc_destroy(&sw->commands);
  kc_spsc_destroy(&sw->events);
  pthread_mutex_destroy(&sw->lock);
  pthread_mutex_destroy(&sw->phase_lock);
  pthread_cond_destroy(&sw->cond);
  free(sw->overflow);
  free(sw);
}

/* Waits for the start handshake until deadline_ns (CLOCK_MONOTONIC). */
static bool wait_started(kc_script_worker *sw, uint64_t deadline_ns) {
  struct timespec ts = {(time_t)(deadline_ns / 1000000000u), (long)(deadline_ns % 1000000000u)};
  pthread_mutex_lock(&sw->lock);
  while (!sw->started && pthread_cond_timedwait(&sw->cond, &sw->lock, &ts) != ETIMEDOUT) {
  }
  bool started = sw->started;
  pthread_mutex_unlock(&sw->lock);
  return started;
}

size_t kc_script_worker_alignment(void) { return _Alignof(kc_script_worker); }

keel_result kc_script_worker_start(const kc_script_worker_config *cfg, kc_script_worker **out, kc_err *err) {
  *out = NULL;
  /* Rounded to the struct's own alignment: the rings inside are 128-byte
   * aligned, more than a cache line. */
  size_t align = _Alignof(kc_script_worker);
  kc_script_worker *sw = aligned_alloc(align, (sizeof *sw + align - 1) / align * align);
  if (!sw) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "script worker: out of memory");
  memset(sw, 0, sizeof *sw);
  sw->cfg = *cfg;
  sw->world = cfg->world;
  sw->callbacks_max = cfg->callbacks_max ? cfg->callbacks_max : KC_SCRIPT_CALLBACKS_MAX;
  sw->world_table = (keel_script_world){.struct_size = KEEL_STRUCT_SIZE(keel_script_world),
                                        .ctx = sw,
                                        .id_reserve = table_id_reserve,
                                        .command_push = table_command_push,
                                        .object_get = table_object_get,
                                        .object_count = table_object_count,
                                        .file_loaded = table_file_loaded};
  pthread_mutex_init(&sw->lock, NULL);
  pthread_mutex_init(&sw->phase_lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&sw->cond, &ca);
  pthread_condattr_destroy(&ca);
  keel_result r = kc_spsc_init(&sw->commands, sizeof(worker_msg), cfg->command_capacity ? cfg->command_capacity : KEEL_SCRIPT_COMMAND_QUEUE, err);
  if (r == KEEL_OK)
    r = kc_spsc_init(&sw->events, sizeof(keel_script_event), cfg->event_capacity ? cfg->event_capacity : KEEL_SCRIPT_EVENT_QUEUE, err);
  if (r != KEEL_OK) {
    worker_free(sw);
    return r;
  }
  sw->busy = true; /* until init's marker is drained */
  atomic_store_explicit(&sw->phase_since, kc_clock_now_ns(), memory_order_relaxed);
  if (pthread_create(&sw->thread, NULL, worker_main, sw) != 0) {
    worker_free(sw);
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "script worker: cannot start a thread");
  }
  uint64_t timeout = cfg->create_timeout_ns ? cfg->create_timeout_ns : 10ull * 1000000000ull;
  if (!wait_started(sw, kc_clock_now_ns() + timeout)) {
    /* The factory is native code that never came back: the thread cannot
     * be joined, so the worker stays allocated for it. */
    atomic_store_explicit(&sw->quit, true, memory_order_release);
    sw->abandoned = true;
    *out = sw;
    return kc_err_set(err, KEEL_ERR_TIMEOUT,
                      "script worker: creating the runtime did not return within %.1f s (stuck in native code?)",
                      (double)timeout / 1e9);
  }
  r = sw->start_result;
  if (r != KEEL_OK) {
    pthread_join(sw->thread, NULL);
    kc_err_set(err, r, "%s", sw->start_error.text[0] ? sw->start_error.text : keel_result_name(r));
    worker_free(sw);
    return r;
  }
  *out = sw;
  return KEEL_OK;
}

/* ---- events main → worker: the ring, then an overflow FIFO that never
 * drops (callbacks_max bounds the completions that can wait in it) ---- */

static bool overflow_append(kc_script_worker *sw, const keel_script_event *e) {
  if (sw->overflow_count == sw->overflow_cap) {
    uint32_t cap = sw->overflow_cap ? sw->overflow_cap * 2 : 1024;
    keel_script_event *grown = malloc(sizeof *grown * cap);
    if (!grown) return false;
    for (uint32_t i = 0; i < sw->overflow_count; i++)
      grown[i] = sw->overflow[(sw->overflow_head + i) % sw->overflow_cap];
    free(sw->overflow);
    sw->overflow = grown;
    sw->overflow_cap = cap;
    sw->overflow_head = 0;
  }
  sw->overflow[(sw->overflow_head + sw->overflow_count) % sw->overflow_cap] = *e;
  sw->overflow_count++;
  return true;
}

static void post_event(kc_script_worker *sw, const keel_script_event *e) {
  /* Events queued earlier go first, so order is kept. */
  if (sw->overflow_count == 0 && kc_spsc_push(&sw->events, e)) return;
  sw->stats.events_overflow++;
  if (!overflow_append(sw, e))
    kc_log_write(KC_LOG_ERROR, "script events: out of memory holding %" PRIu32 " events for the script; event for "
                 "callback %" PRIu32 " lost", sw->overflow_count, e->callback_id);
}

static void flush_overflow(kc_script_worker *sw) {
  while (sw->overflow_count && kc_spsc_push(&sw->events, &sw->overflow[sw->overflow_head])) {
    sw->overflow_head = (sw->overflow_head + 1) % sw->overflow_cap;
    sw->overflow_count--;
  }
}

static const char *const type_names[] = {"?", "create", "update", "destroy", "set_active"};
static const char *const kind_names[] = {"?", "entity", "camera", "light"};

static void apply_command(kc_script_worker *sw, const keel_command *cmd) {
  kc_err err;
  kc_err_clear(&err);
  keel_result r = kc_world_apply(sw->world, cmd, &err);
  sw->stats.commands++;
  if (r != KEEL_OK) {
    sw->stats.commands_failed++;
    if (!cmd->callback_id)
      kc_log_write(KC_LOG_ERROR, "script command %s.%s of id %" PRIu64 " failed: %s",
                   kind_names[cmd->kind <= 3 ? cmd->kind : 0], type_names[cmd->type <= 4 ? cmd->type : 0],
                   (uint64_t)cmd->id, err.msg);
  }
  if (cmd->callback_id) {
    keel_script_event e;
    memset(&e, 0, sizeof e);
    e.type = KEEL_EVENT_COMPLETED;
    e.callback_id = cmd->callback_id;
    e.id = cmd->id;
    e.result = r;
    if (r != KEEL_OK) kc_copy_text(e.message, sizeof e.message, err.msg);
    post_event(sw, &e);
    sw->stats.callbacks_posted++;
  }
}

bool kc_script_worker_drain(kc_script_worker *sw) {
  flush_overflow(sw);
  sw->commands_fill = kc_spsc_size(&sw->commands);
  if (sw->commands_fill > sw->commands_hwm) sw->commands_hwm = sw->commands_fill;
  if (sw->commands_fill > sw->commands_peak) sw->commands_peak = sw->commands_fill;
  worker_msg batch[DRAIN_BATCH];
  size_t n;
  while ((n = kc_spsc_pop_batch(&sw->commands, batch, DRAIN_BATCH)) > 0) {
    for (size_t i = 0; i < n; i++) {
      if (batch[i].type == MSG_COMMAND) {
        apply_command(sw, &batch[i].cmd);
      } else {
        sw->busy = false;
        sw->stats.markers++;
        if (batch[i].init) {
          if (batch[i].failed) sw->stats.init_errors++;
        } else {
          sw->stats.ticks++;
          sw->stats.last_tick_ns = batch[i].tick_ns;
          if (batch[i].failed) sw->stats.tick_errors++;
        }
      }
    }
  }
  return !sw->busy;
}

void kc_script_worker_trigger(kc_script_worker *sw, const keel_tick_info *info) {
  if (sw->busy) return;
  flush_overflow(sw);
  sw->next_tick = *info;
  /* The tick gets its own copy of the input: the caller's may change while
   * the tick runs. No input at all reads as a headless run's. */
  if (KEEL_HAS_MEMBER(info, keel_tick_info, input) && info->input)
    sw->next_input = *info->input;
  else
    sw->next_input = (keel_input_state){.struct_size = KEEL_STRUCT_SIZE(keel_input_state)};
  sw->busy = true;
  atomic_fetch_add_explicit(&sw->go, 1, memory_order_seq_cst); /* releases next_tick */
  uint64_t until = atomic_load_explicit(&sw->sleep_until, memory_order_seq_cst);
  if (until && until > kc_clock_now_ns() + WAKE_LAZY_NS) {
    kc_futex_wake(&sw->go, 1);
    sw->stats.wakes++;
  }
}

void kc_script_worker_expect_trigger(kc_script_worker *sw, uint64_t when_ns) {
  /* Main is the only writer, so reading first is exact; an unchanged value
   * is not stored, which would take the line from the waiting worker. */
  if (atomic_load_explicit(&sw->expect_ns, memory_order_relaxed) != when_ns)
    atomic_store_explicit(&sw->expect_ns, when_ns, memory_order_relaxed);
}

void kc_script_worker_post_event(kc_script_worker *sw, const keel_script_event *event) { post_event(sw, event); }

kc_wait_result kc_script_worker_wait(kc_script_worker *sw, uint64_t timeout_ns, const volatile sig_atomic_t *quit) {
  uint64_t deadline = kc_clock_now_ns() + timeout_ns;
  for (unsigned spins = 0;; spins++) {
    if (kc_script_worker_drain(sw)) return KC_WAIT_IDLE;
    if (quit && *quit) return KC_WAIT_QUIT;
    if (kc_clock_now_ns() >= deadline) return KC_WAIT_TIMEOUT;
    if (spins < 256)
      sched_yield();
    else
      kc_clock_sleep_ns(20000);
  }
}

bool kc_script_worker_wait_idle(kc_script_worker *sw, uint64_t timeout_ns) {
  return kc_script_worker_wait(sw, timeout_ns, NULL) == KC_WAIT_IDLE;
}

static bool phase_runs_script(uint32_t phase) {
  return phase == KC_WORKER_INIT || phase == KC_WORKER_TICK || phase == KC_WORKER_SHUTDOWN;
}

void kc_script_worker_interrupt(kc_script_worker *sw) {
  if (!sw) return;
  pthread_mutex_lock(&sw->phase_lock);
  if (sw->source_ok && sw->source.interrupt && phase_runs_script(atomic_load_explicit(&sw->phase, memory_order_relaxed)))
    sw->source.interrupt(sw->source.ctx);
  pthread_mutex_unlock(&sw->phase_lock);
}

kc_worker_phase kc_script_worker_phase(const kc_script_worker *sw, uint64_t *tick, uint64_t *since_ns) {
  kc_script_worker *w = (kc_script_worker *)sw;
  uint32_t phase = atomic_load_explicit(&w->phase, memory_order_acquire);
  if (tick) *tick = atomic_load_explicit(&w->phase_tick, memory_order_relaxed);
  if (since_ns) *since_ns = atomic_load_explicit(&w->phase_since, memory_order_relaxed);
  return (kc_worker_phase)phase;
}

const char *kc_script_worker_phase_text(kc_worker_phase phase) {
  switch (phase) {
    case KC_WORKER_CREATING: return "creating the runtime";
    case KC_WORKER_INIT: return "init() (loading the game, then its init)";
    case KC_WORKER_IDLE: return "idle";
    case KC_WORKER_TICK: return "a tick (its events and update(dt))";
    case KC_WORKER_SHUTDOWN: return "shutdown()";
    case KC_WORKER_RELEASE: return "destroying the runtime";
    case KC_WORKER_DONE: return "done";
  }
  return "?";
}

void kc_script_worker_describe(kc_worker_phase phase, uint64_t tick, char *out, size_t cap) {
  if (phase == KC_WORKER_TICK)
    snprintf(out, cap, "tick %" PRIu64 " (its events and update(dt))", tick);
  else
    snprintf(out, cap, "%s", kc_script_worker_phase_text(phase));
}

void kc_script_worker_stats_get(const kc_script_worker *sw, kc_script_worker_stats *out) {
  *out = sw->stats;
  kc_script_worker *w = (kc_script_worker *)sw;
  out->commands_full = atomic_load_explicit(&w->commands_full, memory_order_relaxed);
  out->callbacks_full = atomic_load_explicit(&w->callbacks_full, memory_order_relaxed);
  out->shutdown_errors = atomic_load_explicit(&w->shutdown_failed, memory_order_relaxed) ? 1 : 0;
  out->reloads = atomic_load_explicit(&w->reloads, memory_order_relaxed);
  out->reload_errors = atomic_load_explicit(&w->reload_errors, memory_order_relaxed);
}

void kc_script_worker_fill_get(kc_script_worker *sw, kc_script_worker_fill *out) {
  kc_script_worker *w = sw;
  out->commands = sw->commands_peak;
  sw->commands_peak = sw->commands_fill;
  out->commands_capacity = kc_spsc_capacity(&sw->commands);
  /* A refusal means the ring was full, whatever the drains happened to see
   * (a drain that runs while the script pushes may never start on a full
   * ring): the alert then does not depend on timing. */
  uint64_t full = atomic_load_explicit(&w->commands_full, memory_order_relaxed);
  if (full != sw->full_seen) {
    sw->full_seen = full;
    out->commands = out->commands_capacity;
    sw->commands_hwm = out->commands_capacity;
  }
  out->commands_hwm = sw->commands_hwm;
  out->callbacks = atomic_load_explicit(&w->callbacks_pending, memory_order_relaxed);
  out->callbacks_capacity = sw->callbacks_max;
  out->events_waiting = sw->overflow_count;
}

bool kc_script_worker_abandoned(const kc_script_worker *sw) { return sw && sw->abandoned; }

#define STOP_INTERRUPT_EVERY_NS 50000000ull /* an interrupt can race a call's start: repeat it */

bool kc_script_worker_stop(kc_script_worker *sw, const kc_script_worker_stop_opts *opts, char *report, size_t cap) {
  if (report && cap) report[0] = '\0';
  if (!sw) return true;
  kc_script_worker_stop_opts o = {.call_ns = 1000000000ull, .shutdown_ns = 2000000000ull, .grace_ns = 500000000ull};
  if (opts) o = *opts;
  if (sw->abandoned) {
    if (report) snprintf(report, cap, "the script worker was given up earlier");
    return false;
  }
  if (sw->joined) return true;
  uint64_t stop_start = kc_clock_now_ns();
  atomic_store_explicit(&sw->quit, true, memory_order_release);
  atomic_fetch_add_explicit(&sw->go, 1, memory_order_release);
  kc_futex_wake(&sw->go, 1);
  uint64_t last_interrupt = 0;
  for (;;) {
    uint64_t tick = 0, since = 0;
    kc_worker_phase phase = kc_script_worker_phase(sw, &tick, &since);
    if (phase == KC_WORKER_DONE) break;
    /* The worker may be waiting for room for a marker, or shutdown() may
     * send commands: keep the ring moving. */
    kc_script_worker_drain(sw);
    uint64_t now = kc_clock_now_ns();
    /* A running init or tick is measured from the stop, the steps after it
     * from their own start. */
    uint64_t from = phase == KC_WORKER_SHUTDOWN || phase == KC_WORKER_RELEASE ? since : stop_start;
    uint64_t bound = phase == KC_WORKER_SHUTDOWN || phase == KC_WORKER_RELEASE ? o.shutdown_ns : o.call_ns;
    if (from < since) from = since;
    if (now >= from + bound) {
      if (now - last_interrupt >= STOP_INTERRUPT_EVERY_NS) {
        kc_script_worker_interrupt(sw);
        last_interrupt = now;
      }
      if (now >= from + bound + o.grace_ns) {
        if (report) {
          char what[96];
          kc_script_worker_describe(phase, tick, what, sizeof what);
          snprintf(report, cap,
                   "the script worker thread did not stop: it has been in %s for %.2f s, was interrupted after "
                   "%.2f s and has not come back (stuck in native code?)",
                   what, (double)(now - since) / 1e9, (double)(from + bound - since) / 1e9);
        }
        sw->abandoned = true;
        return false;
      }
    }
    kc_clock_sleep_ns(1000000);
  }
  pthread_join(sw->thread, NULL);
  sw->joined = true;
  return true;
}

void kc_script_worker_free(kc_script_worker *sw) {
  if (!sw || !kc_script_worker_stop(sw, NULL, NULL, 0)) return;
  worker_free(sw);
}
