/* kc_engine: everything `keel` runs — the renderer and script plugins chosen
 * by engine.ini with their fallbacks, the world, the script worker and the
 * main loop of DESIGN §3 — plus the statistics it reports. The runner parses
 * the command line; this is the part tests can drive directly. */
#ifndef KC_ENGINE_H
#define KC_ENGINE_H

#include <signal.h>
#include <stdio.h>

#include "base/config.h"
#include "base/err.h"
#include "plugin/loader.h"

/* Frames a headless run makes when [engine] frames is not set at all (an
 * explicit 0 still means "until quit"): nobody can close a window. */
#define KC_ENGINE_HEADLESS_DEFAULT_FRAMES 300

typedef struct kc_engine_options {
  const kc_config *config;        /* validated; borrowed for the engine's life */
  const kc_plugin_loader *loader; /* search path in the runner's order; borrowed */
  int64_t frames;                 /* < 0: [engine] frames (and the headless default) */
  int headless;                   /* < 0: [engine] headless */
  int lockstep;                   /* < 0: [engine] lockstep */
  const volatile sig_atomic_t *quit; /* set by a signal handler; may be NULL */
  /* Entities of the built-in native game ([script] runtime = native); 0 = 300. */
  uint32_t native_entities;
  /* --screenshot: the frame to write as a PNG once it has ended (1 = the
   * first; 0 = the last frame of the run). NULL = no screenshot. The runner
   * checks kc_engine_has_readback before running. */
  const char *screenshot_path;
  uint64_t screenshot_frame;
  /* --record-input: every frame's input is written here (the caller opens
   * and closes it). NULL = not recording. Borrowed. */
  struct kc_input_recorder *record_input;
  /* --replay-input: the frames fed to the game instead of the window's
   * input; the run stops when they run out. NULL = none. Borrowed. */
  const struct kc_input_replay *replay_input;
} kc_engine_options;

typedef struct kc_engine kc_engine;

/* The alignment struct kc_engine needs (its action queue is 128-byte
 * aligned): kc_engine_create allocates the engine at it. For tests. */
size_t kc_engine_alignment(void);

/* Whether a window can be opened now: a display, and GLFW starting on it
 * (started and stopped again: kc_engine_create keeps the one it starts).
 * When not, *why (caller's buffer) says why in a few words. Main thread. */
bool kc_engine_window_available(char *why, size_t cap);
/* Whether a run is headless: `override` >= 0 wins (0 = no), else
 * [engine] headless, where auto means "when no window can be opened". */
bool kc_engine_resolve_headless(const kc_config *cfg, int override);
/* The frames a run makes (0 = until quit): `override` >= 0 wins, else
 * [engine] frames, and KC_ENGINE_HEADLESS_DEFAULT_FRAMES for a headless run
 * whose frames are not set anywhere. --check-config shows the same. */
uint64_t kc_engine_resolve_frames(const kc_config *cfg, int64_t override, bool headless);

/* Opens the window unless the run is headless (DESIGN §7a), loads and
 * creates the renderer (backend, then the fallback list, each failure
 * logged as one line), the script runtime, the world and the worker.
 * KEEL_ERR_NOT_FOUND when no renderer or no script runtime could be started
 * (err then summarises every attempt), KEEL_ERR_UNSUPPORTED when the run is
 * not headless and no window can be opened: the runner exits 3 for both.
 * The worker goes on to run the game's init(); kc_engine_run waits for it.
 * KEEL_ERR_TIMEOUT when the script runtime's create never returned: its
 * thread still uses the engine's memory, which is therefore not freed, and
 * the caller should end the process. Main thread. */
keel_result kc_engine_create(const kc_engine_options *opts, kc_engine **out, kc_err *err);

/* Waits for the game's init(), runs frames until the frame count is reached
 * or *quit is set, then stops the script worker (shutdown() runs). Script
 * errors never end the run; a failure of the engine itself does, and so
 * does a script worker stuck past the bounds of docs/runner.md
 * (KEEL_ERR_TIMEOUT, err says what it was running). Every wait on the
 * worker is bounded. Main. */
keel_result kc_engine_run(kc_engine *e, kc_err *err);

/* True when a thread (the script worker, a one-off script) is stuck in
 * native code and was given up: kc_engine_destroy then frees nothing, and
 * the caller should end the process at once (the runner exits with 1). */
bool kc_engine_abandoned(const kc_engine *e);

/* Runs `code` once on one of the script runtime's pool VMs (never the
 * game's), on a job worker; the result is printed by the main thread at the
 * start of a later frame ("[exec N] result"); code given before the game's
 * init() has ended waits for it. KEEL_ERR_UNSUPPORTED for the native
 * runtime, KEEL_ERR_FULL when 64 are still running or have results not yet
 * printed (so no result is ever dropped). Any thread,
 * between kc_engine_create and kc_engine_destroy. With [engine] threads = 1
 * the only worker is the main thread, which then runs it while it waits. */
keel_result kc_engine_exec(kc_engine *e, const char *code, kc_err *err);

/* True when the renderer chosen offers keel.renderer.readback/1 (what
 * --screenshot needs). Main thread. */
bool kc_engine_has_readback(const kc_engine *e);
/* The renderer plugin's name ("vulkan", "null"...). */
const char *kc_engine_renderer_name(const kc_engine *e);
/* Frames the run will make: 0 = until quit. */
uint64_t kc_engine_frames_limit(const kc_engine *e);

/* Writes the statistics as JSON (see docs/runner.md for the fields). Main. */
keel_result kc_engine_write_stats_json(const kc_engine *e, const char *path, kc_err *err);
/* Writes the human summary printed at exit. Main. */
void kc_engine_print_summary(const kc_engine *e, FILE *out);

/* Builds the frame's schedule (the systems of DESIGN §3 steps 2-6 in the
 * stages Update → Extract → Prepare → Record → Submit → Present). `e` may
 * be NULL to build it only to look at it (--dump-schedule). Main thread. */
struct kc_schedule;
keel_result kc_engine_build_schedule(kc_engine *e, struct kc_schedule **out, kc_err *err);

/* Whether script hot reload runs, from [script] hot_reload ("auto", "true",
 * "false") and the run's mode: auto = on for windowed runs that are not
 * lockstep. Any thread. */
bool kc_engine_hot_reload_wanted(const char *setting, bool headless, bool lockstep);

/* Stops the worker (if kc_engine_run did not), destroys the renderer and
 * closes the plugins; frees nothing when the engine was abandoned. NULL ok. */
void kc_engine_destroy(kc_engine *e);

#endif
