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

#define OVERFLOW_MAX KEEL_SCRIPT_EVENT_QUEUE /* keel/script.h states it */

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
  keel_script_event *overflow;
  uint32_t overflow_count;
  kc_script_worker_stats stats;
  _Atomic uint64_t commands_full; /* counted on the worker */
  _Atomic uint64_t reloads, reload_errors; /* counted on the worker */
  bool watch_full_logged;
};

/* ---- the world table lent to the tick source (worker thread) ---- */

static keel_id table_id_reserve(void *ctx, keel_object_kind kind) {
  kc_script_worker *sw = ctx;
  return kc_world_reserve(sw->world, kind);
}

static keel_result table_command_push(void *ctx, const keel_command *cmd) {
  kc_script_worker *sw = ctx;
  if (!cmd) return KEEL_ERR_INVALID_ARGUMENT;
  keel_result r = kc_world_check(sw->world, cmd);
  if (r != KEEL_OK) return r;
  worker_msg m = {.type = MSG_COMMAND, .cmd = *cmd};
  if (!kc_spsc_push(&sw->commands, &m)) {
    kc_world_uncheck(sw->world, cmd);
    atomic_fetch_add_explicit(&sw->commands_full, 1, memory_order_relaxed);
    return KEEL_ERR_FULL;
  }
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

static void *worker_main(void *arg) {
  kc_script_worker *sw = arg;
  sw->self = pthread_self();
  kc_log_set_thread_name("script");
  kc_trace_thread_begin();
  keel_message msg = {{0}};
  keel_result r = sw->cfg.factory(sw->cfg.user, &sw->world_table, &sw->source, &msg);
  if (r != KEEL_OK) {
    sw->start_error = msg;
    signal_started(sw, r);
    return NULL;
  }
  sw->source_ok = true;
  uint64_t t0 = kc_clock_now_ns();
  msg.text[0] = '\0';
  bool traced = KC_TRACE_BEGIN("init");
  r = sw->source.init ? sw->source.init(sw->source.ctx, &msg) : KEEL_OK;
  KC_TRACE_END(traced);
  if (r != KEEL_OK) {
    /* The game keeps running: its update may still work, and the error is
     * already logged by the runtime with its file and line. */
    kc_log_write(KC_LOG_DEBUG, "script init returned %s: %s", keel_result_name(r), msg.text);
  }
  push_tick_end(sw, true, r != KEEL_OK, kc_clock_now_ns() - t0);
  signal_started(sw, KEEL_OK);

  keel_script_event *events = malloc(sizeof *events * kc_spsc_capacity(&sw->events));
  uint32_t seen = 0;
  for (;;) {
    wait_for_trigger(sw, &seen);
    if (atomic_load_explicit(&sw->quit, memory_order_acquire)) break;
    keel_tick_info info = sw->next_tick;
    keel_input_state input = sw->next_input;
    info.input = &input;
    reload_changed(sw);
    uint32_t n = events ? (uint32_t)kc_spsc_pop_batch(&sw->events, events, kc_spsc_capacity(&sw->events)) : 0;
    msg.text[0] = '\0';
    t0 = kc_clock_now_ns();
    traced = KC_TRACE_BEGIN_ARG("tick", "tick", info.tick);
    r = sw->source.tick(sw->source.ctx, &info, events, n, &msg);
    KC_TRACE_END(traced);
    push_tick_end(sw, false, r != KEEL_OK, kc_clock_now_ns() - t0);
  }
  free(events);
  msg.text[0] = '\0';
  traced = KC_TRACE_BEGIN("shutdown");
  if (sw->source.shutdown) sw->source.shutdown(sw->source.ctx, &msg);
  KC_TRACE_END(traced);
  if (sw->cfg.release) sw->cfg.release(sw->cfg.user, &sw->source);
  return NULL;
}

/* ---- main thread ---- */

static void worker_free(kc_script_worker *sw) {
  kc_spsc_destroy(&sw->commands);
  kc_spsc_destroy(&sw->events);
  pthread_mutex_destroy(&sw->lock);
  pthread_cond_destroy(&sw->cond);
  free(sw->overflow);
  free(sw);
}

keel_result kc_script_worker_start(const kc_script_worker_config *cfg, kc_script_worker **out, kc_err *err) {
  *out = NULL;
  kc_script_worker *sw = aligned_alloc(KC_CACHE_LINE, (sizeof *sw + KC_CACHE_LINE - 1) / KC_CACHE_LINE * KC_CACHE_LINE);
  if (!sw) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "script worker: out of memory");
  memset(sw, 0, sizeof *sw);
  sw->cfg = *cfg;
  sw->world = cfg->world;
  sw->world_table = (keel_script_world){.struct_size = KEEL_STRUCT_SIZE(keel_script_world),
                                        .ctx = sw,
                                        .id_reserve = table_id_reserve,
                                        .command_push = table_command_push,
                                        .object_get = table_object_get,
                                        .object_count = table_object_count,
                                        .file_loaded = table_file_loaded};
  pthread_mutex_init(&sw->lock, NULL);
  pthread_cond_init(&sw->cond, NULL);
  sw->overflow = malloc(sizeof *sw->overflow * OVERFLOW_MAX);
  keel_result r = kc_spsc_init(&sw->commands, sizeof(worker_msg), cfg->command_capacity ? cfg->command_capacity : KEEL_SCRIPT_COMMAND_QUEUE, err);
  if (r == KEEL_OK)
    r = kc_spsc_init(&sw->events, sizeof(keel_script_event), cfg->event_capacity ? cfg->event_capacity : KEEL_SCRIPT_EVENT_QUEUE, err);
  if (r == KEEL_OK && !sw->overflow) r = kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "script worker: out of memory");
  if (r != KEEL_OK) {
    worker_free(sw);
    return r;
  }
  sw->busy = true; /* until init's marker is drained */
  if (pthread_create(&sw->thread, NULL, worker_main, sw) != 0) {
    worker_free(sw);
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "script worker: cannot start a thread");
  }
  pthread_mutex_lock(&sw->lock);
  while (!sw->started) pthread_cond_wait(&sw->cond, &sw->lock);
  r = sw->start_result;
  pthread_mutex_unlock(&sw->lock);
  if (r != KEEL_OK) {
    pthread_join(sw->thread, NULL);
    kc_err_set(err, r, "%s", sw->start_error.text[0] ? sw->start_error.text : keel_result_name(r));
    worker_free(sw);
    return r;
  }
  *out = sw;
  return KEEL_OK;
}

static void post_event(kc_script_worker *sw, const keel_script_event *e) {
  /* Events queued earlier go first, so order is kept. */
  if (sw->overflow_count == 0 && kc_spsc_push(&sw->events, e)) return;
  if (sw->overflow_count < OVERFLOW_MAX) {
    sw->overflow[sw->overflow_count++] = *e;
    sw->stats.events_overflow++;
  } else {
    sw->stats.events_overflow++;
    kc_log_write(KC_LOG_ERROR, "script events: %u events already wait for the script; event for callback %" PRIu32
                 " dropped", OVERFLOW_MAX, e->callback_id);
  }
}

static void flush_overflow(kc_script_worker *sw) {
  uint32_t i = 0;
  while (i < sw->overflow_count && kc_spsc_push(&sw->events, &sw->overflow[i])) i++;
  memmove(sw->overflow, sw->overflow + i, (sw->overflow_count - i) * sizeof *sw->overflow);
  sw->overflow_count -= i;
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
      kc_log_write(KC_LOG_ERROR, "script command %s.%s failed: %s",
                   kind_names[cmd->kind <= 3 ? cmd->kind : 0], type_names[cmd->type <= 4 ? cmd->type : 0], err.msg);
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

bool kc_script_worker_wait_idle(kc_script_worker *sw, uint64_t timeout_ns) {
  uint64_t deadline = kc_clock_now_ns() + timeout_ns;
  for (unsigned spins = 0;; spins++) {
    if (kc_script_worker_drain(sw)) return true;
    if (kc_clock_now_ns() >= deadline) return false;
    if (spins < 256)
      sched_yield();
    else
      kc_clock_sleep_ns(20000);
  }
}

void kc_script_worker_interrupt(kc_script_worker *sw) {
  if (sw && sw->source_ok && sw->source.interrupt) sw->source.interrupt(sw->source.ctx);
}

void kc_script_worker_stats_get(const kc_script_worker *sw, kc_script_worker_stats *out) {
  *out = sw->stats;
  out->commands_full = atomic_load_explicit(&sw->commands_full, memory_order_relaxed);
  out->reloads = atomic_load_explicit(&sw->reloads, memory_order_relaxed);
  out->reload_errors = atomic_load_explicit(&sw->reload_errors, memory_order_relaxed);
}

void kc_script_worker_stop(kc_script_worker *sw) {
  if (!sw) return;
  atomic_store_explicit(&sw->quit, true, memory_order_release);
  atomic_fetch_add_explicit(&sw->go, 1, memory_order_release);
  kc_futex_wake(&sw->go, 1);
  /* Let a running tick finish for a moment before interrupting it: an
   * interrupt that lands after the tick would cut shutdown() short instead.
   * The worker may be waiting for room for a marker, so keep draining. */
  uint64_t interrupt_at = kc_clock_now_ns() + 250000000ull;
  bool interrupted = false;
  while (pthread_tryjoin_np(sw->thread, NULL) == EBUSY) {
    kc_script_worker_drain(sw);
    if (!interrupted && kc_clock_now_ns() >= interrupt_at) {
      kc_script_worker_interrupt(sw);
      interrupted = true;
    }
    kc_clock_sleep_ns(200000);
  }
  worker_free(sw);
}
