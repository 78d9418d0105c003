/* keel/script.h: the script runtime interface, "keel.script/1".
 *
 * A script plugin runs a game's logic (Lua, JavaScript) on the core's one
 * long-lived script worker thread. It never touches engine state: it sends
 * POD commands (create/update/destroy entities, cameras, lights) through the
 * world table, reads the last published snapshot, and receives events
 * (command completions by callback id, cvar changes) at the start of each
 * tick. Callback ids cross threads, never functions: the plugin owns the
 * id -> function map. Every call into the VM is protected; a script error is
 * a returned KEEL_ERR_SCRIPT with a message, never a crash. */
#ifndef KEEL_SCRIPT_H
#define KEEL_SCRIPT_H

#include <keel/abi.h>
#include <keel/host.h>
#include <keel/input.h>
#include <keel/types.h>

KEEL_BEGIN_DECLS

#define KEEL_SCRIPT_INTERFACE "keel.script/1"

#define KEEL_NAME_MAX 32 /* mesh names, cvar names in events */

typedef enum keel_object_kind {
  KEEL_OBJECT_ENTITY = 1,
  KEEL_OBJECT_CAMERA = 2,
  KEEL_OBJECT_LIGHT = 3
} keel_object_kind;

/* Which members of a fields struct a command sets. */
enum {
  KEEL_FIELD_MESH = 1u << 0,
  KEEL_FIELD_POSITION = 1u << 1,
  KEEL_FIELD_ROTATION = 1u << 2,
  KEEL_FIELD_SCALE = 1u << 3,
  KEEL_FIELD_COLOR = 1u << 4,
  KEEL_FIELD_TARGET = 1u << 5,    /* camera look-at point */
  KEEL_FIELD_FOV = 1u << 6,       /* camera vertical field of view, degrees */
  KEEL_FIELD_INTENSITY = 1u << 7, /* light */
  KEEL_FIELD_RANGE = 1u << 8,     /* light */
  KEEL_FIELD_LIGHT_KIND = 1u << 9,
  KEEL_FIELD_LAYER = 1u << 10       /* 1.1: entity layer */
};

/* Entities, cameras and lights share one fields record; each kind uses the
 * members that make sense for it (the mask says which are set). */
typedef struct keel_object_fields {
  uint32_t mask;                /* KEEL_FIELD_* */
  char mesh[KEEL_NAME_MAX];     /* entity: "cube", "sphere", "plane" or a registered name */
  keel_vec3 position;
  keel_quat rotation;
  keel_vec3 scale;
  keel_color color;             /* entity colour, light colour */
  keel_vec3 target;             /* camera */
  float fov_degrees;            /* camera */
  float intensity;              /* light */
  float range;                  /* light */
  /* One object is one kind, so these share their bytes: the layout is 1.0's,
   * and a runtime built against 1.0 sends and reads the same bytes. */
  union {
    keel_light_kind light_kind; /* light */
    keel_layer layer;           /* entity (1.1); KEEL_LAYER_WORLD when not set */
  };
} keel_object_fields;

typedef enum keel_command_type {
  KEEL_CMD_CREATE = 1,     /* create object `id` (reserved with id_reserve) with fields */
  KEEL_CMD_UPDATE = 2,     /* set the masked fields of `id` */
  KEEL_CMD_DESTROY = 3,    /* destroy `id` */
  KEEL_CMD_SET_ACTIVE = 4  /* cameras: make `id` the active camera */
} keel_command_type;

/* A command, by value. The core applies commands in the order they were
 * pushed; if callback_id is non-zero it posts a KEEL_EVENT_COMPLETED event
 * with the result. */
typedef struct keel_command {
  keel_command_type type;
  keel_object_kind kind;
  keel_id id;
  uint32_t callback_id; /* 0 = no completion event */
  keel_object_fields fields;
} keel_command;

/* Events reach the runtime at the start of each tick, in the order they
 * arrived: a COMPLETED for each command with a callback id that the main
 * thread applied (or refused) since the last tick, and a CVAR_CHANGED for
 * each change of any cvar registered when the runtime started: the
 * engine's (sim_speed, show_stats, r_debug_view) and every plugin
 * setting's "NAME.key", whoever set it (engine.ini's [cvars] at start,
 * a script, the console, a plugin). See KEEL_SCRIPT_EVENT_QUEUE. */
typedef enum keel_event_type {
  KEEL_EVENT_COMPLETED = 1,    /* a command with a callback id finished */
  KEEL_EVENT_CVAR_CHANGED = 2  /* a cvar changed (dispatched on the main thread first) */
} keel_event_type;

/* An event delivered to the script at the start of a tick, by value. */
typedef struct keel_script_event {
  keel_event_type type;
  uint32_t callback_id;     /* COMPLETED */
  keel_id id;               /* COMPLETED: the object the command was about */
  keel_result result;       /* COMPLETED: KEEL_OK or why it failed */
  char name[KEEL_NAME_MAX]; /* CVAR_CHANGED: the cvar */
  keel_cvar_value value;    /* CVAR_CHANGED: its new value */
  char message[KEEL_MESSAGE_MAX]; /* COMPLETED with an error: the reason */
} keel_script_event;

/* The last published snapshot of one object, by value. */
typedef struct keel_object_snapshot {
  keel_object_kind kind;
  keel_id id;
  keel_object_fields fields; /* mask = every field the object has */
} keel_object_snapshot;

/* The host's capacities, for planning (not part of the ABI: a host may
 * give more). Commands: 16384 queued from the worker to the main thread
 * (each tick's end marker takes one of the slots), which drains them
 * every frame; when the queue is full command_push
 * refuses at once with KEEL_ERR_FULL and queues nothing (the host counts
 * it; try again next tick). Events: at most 4096 are delivered to a tick;
 * the rest wait on the main thread, in order, for the next ticks, and none
 * is dropped. What bounds them: at most 65536 commands with a callback id
 * may wait for their completion at once; command_push refuses one more
 * with KEEL_ERR_FULL (back-pressure at the script's own line), and cvar
 * changes wait in the cvar registry while many events are waiting. */
#define KEEL_SCRIPT_COMMAND_QUEUE 16384u
#define KEEL_SCRIPT_EVENT_QUEUE 4096u
#define KEEL_SCRIPT_CALLBACKS_MAX 65536u

/* What the core lends a script runtime besides keel_host, from create until
 * destroy returns; the table and ctx are the host's. Thread rule: id_reserve,
 * command_push and file_loaded on the script worker thread only (the thread
 * that calls create, init, tick, shutdown); object_get and object_count on
 * any thread (the worker reads without locks; another thread, e.g. a one-off
 * script, briefly holds the snapshot so a publish cannot change it under
 * the read). `ctx` is the core's, passed back to every function. */
typedef struct keel_script_world {
  uint32_t struct_size;
  void *ctx;
  /* Script worker only. Reserves a fresh id of `kind` for a CREATE command
   * pushed afterwards, so scripts get ids at once. KEEL_ID_INVALID when the
   * kind's table is full. */
  keel_id (*id_reserve)(void *ctx, keel_object_kind kind);
  /* Script worker only. Queues a copy of *command (the caller keeps it)
   * for the main thread. Refused at once, with nothing queued:
   * KEEL_ERR_FULL when the queue is full (KEEL_SCRIPT_COMMAND_QUEUE; the
   * core counts it) or when the command has a callback id and
   * KEEL_SCRIPT_CALLBACKS_MAX completions are already pending;
   * KEEL_ERR_STALE_ID when `id` is not, as far as this thread's own earlier
   * commands go, a live id of `kind` (CREATE needs a reserved, not yet
   * created id; the others need a created, not destroyed one), so a script
   * using a destroyed id gets the error at its own line; and
   * KEEL_ERR_INVALID_ARGUMENT for a malformed command. A command accepted
   * here can still fail on the main thread (an unknown mesh, say): that is
   * reported through the callback id, or logged when there is none. */
  keel_result (*command_push)(void *ctx, const keel_command *command);
  /* Any thread. Copies the object from the last published snapshot into
   * *out (the caller's); on the worker without locks (the core publishes
   * only between ticks, so tick k sees every command of the ticks before
   * it). KEEL_ERR_NOT_FOUND / KEEL_ERR_STALE_ID for ids that are not live
   * in it. object_count: any thread, the same snapshot. */
  keel_result (*object_get)(void *ctx, keel_id id, keel_object_snapshot *out);
  uint32_t (*object_count)(void *ctx, keel_object_kind kind);
  /* ---- 1.1 */
  /* Script worker only. Tells the core that the game loaded the source file
   * `path` (absolute; copied): the main script and every module it
   * requires, so the core can watch them for hot reload. Check
   * KEEL_HAS_MEMBER(world, keel_script_world, file_loaded) first. */
  void (*file_loaded)(void *ctx, const char *path);
} keel_script_world;

/* The budgets of keel_script_desc are CPU time: a runtime stops a call once
 * its thread has used the budget (CLOCK_THREAD_CPUTIME_ID), so a busy
 * machine never stops an innocent script. Whatever its CPU time, a call is
 * also stopped once this much wall-clock time has passed (a backstop for a
 * thread that is starved or blocked). The core bounds its own waits on the
 * worker with the same figure. Any thread. */
static inline uint64_t keel_script_backstop_ms(uint32_t budget_ms) { return (uint64_t)budget_ms * 10u + 1000u; }

/* The largest script source file (the main script, a module) keel's
 * runtimes load; a bigger one, or anything that is not a regular file (a
 * FIFO, /dev/zero), is refused with the reason instead of read. */
#define KEEL_SCRIPT_SOURCE_MAX (16u * 1024u * 1024u)

typedef struct keel_script_desc {
  uint32_t struct_size;
  const keel_host *host;         /* lent for the runtime's lifetime */
  const keel_script_world *world;
  const char *main_path;         /* absolute path of the game's entry script */
  const char *game_dir;          /* sandbox root: loading outside it is refused */
  uint32_t memory_limit_mb;      /* per VM; reaching it is a script error */
  uint32_t tick_budget_ms;       /* CPU time per tick (and per one-off); see keel_script_backstop_ms */
  uint64_t instruction_budget;   /* 0 = no instruction limit */
  uint64_t seed;                 /* seeds math.random / Math.random */
  bool lockstep;                 /* fixed dt, no wall clock inside the VM */
  /* ---- 1.1 */
  uint32_t load_budget_ms;       /* CPU time for init: loading main and its modules, then init(); 0 = tick_budget_ms */
  uint32_t shutdown_budget_ms;   /* CPU time for shutdown(); 0 = tick_budget_ms */
} keel_script_desc;

typedef struct keel_tick_info {
  uint32_t struct_size;
  uint64_t tick;        /* 0, 1, 2 ... */
  uint64_t frame;       /* the main thread's frame when the tick was triggered */
  double dt;            /* seconds since the previous tick (fixed in lockstep) */
  double time;          /* seconds of game time */
  /* ---- 1.1 */
  const keel_input_state *input; /* never NULL from a 1.1 host; valid during the call */
} keel_tick_info;

typedef struct keel_script_stats {
  uint32_t struct_size;
  uint64_t calls;        /* protected calls into the VM */
  uint64_t errors;       /* calls that raised an error */
  uint64_t interrupts;   /* calls stopped by the watchdog */
  uint64_t memory_bytes; /* current heap of the main VM */
  uint64_t memory_refusals; /* allocations refused by the memory cap */
} keel_script_stats;

/* The random sequence every runtime gives scripts (math.random,
 * Math.random), so one game draws the same numbers in Lua and in JS:
 * splitmix64 over a 64-bit state seeded with keel_script_desc.seed, and a
 * double in [0, 1) from its top 53 bits. Any thread; the caller owns the
 * state. */
static inline uint64_t keel_script_random_next(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static inline double keel_script_random_unit(uint64_t *state) {
  return (double)(keel_script_random_next(state) >> 11) * (1.0 / 9007199254740992.0); /* 2^-53 */
}

typedef struct keel_script keel_script; /* opaque, owned by the plugin */

/* Thread rules: create, init, tick, reload, shutdown, destroy and stats run
 * on the script worker thread only, one at a time. interrupt: any thread.
 * oneoff_run: any thread, also while a tick runs; it uses a separate VM
 * from the runtime's pool (Lua: a pool of ready states; JS: a heap used by
 * one thread at a time), never the game's VM.
 * Errors of init, tick, reload and shutdown: the runtime logs each one
 * (host->log, "file:line: message" and the stack; the host adds the
 * plugin's name), counts it in stats, and returns KEEL_ERR_SCRIPT with the
 * first one in *error (caller-owned, may be NULL); the host counts the
 * failed call and does not log it again. docs/runtimes.md is the guide. */
typedef struct keel_script_api {
  uint32_t struct_size;
  /* The language's name ("lua", "js"), shown by keel --list-plugins. Static. */
  const char *language;
  /* The extension of the game's files (".lua", ".js"): before a run keel
   * refuses a [script] main without it. Static. */
  const char *file_extension;

  /* Script worker. Creates the game VM with the sandbox, the memory cap
   * and the API globals, but runs no game code yet. `desc` is borrowed for
   * the call (copy it); what it points to (host, world, paths) is lent
   * until destroy returns. *out is the plugin's until destroy. */
  keel_result (*create)(const keel_script_desc *desc, keel_script **out, keel_message *error);
  /* Script worker. Frees the VM and every pool VM. NULL is fine. */
  void (*destroy)(keel_script *script);
  /* Script worker. Loads main_path and calls its init(). */
  keel_result (*init)(keel_script *script, keel_message *error);
  /* Script worker. Delivers `events` (callbacks run, cvar handlers run)
   * then calls update(dt). `tick`, its input and the events array are the
   * caller's, read during the call only. An error in one callback is
   * reported and the rest still run. */
  keel_result (*tick)(keel_script *script, const keel_tick_info *tick, const keel_script_event *events,
                      uint32_t event_count, keel_message *error);
  /* Script worker. Calls shutdown() if the game defines it. */
  keel_result (*shutdown)(keel_script *script, keel_message *error);
  /* Any thread; harmless when idle. Asks the running call to stop as soon
   * as it can (it then returns KEEL_ERR_SCRIPT "interrupted"). */
  void (*interrupt)(keel_script *script);
  /* Any thread. Runs `code` (the caller's, read during the call) on a pool
   * VM and writes its result (or error) as text into *result (caller owns). An error is returned (KEEL_ERR_SCRIPT,
   * "file:line: message" and the stack in *result) and not logged: the host
   * reports it once, with the request it answers. */
  keel_result (*oneoff_run)(keel_script *script, const char *code, keel_message *result);
  /* Script worker. *out is the caller's; write at most out->struct_size
   * bytes. */
  keel_result (*stats)(keel_script *script, keel_script_stats *out);
  /* ---- 1.1 */
  /* Hot reload, called at the start of a tick, before its events: re-runs
   * the changed files (absolute paths the runtime reported through
   * world->file_loaded; the array is the caller's, read during the call)
   * in the game's VM, so state kept in globals survives and later requires
   * of a changed module see its new code; then calls on_reload() when the
   * game defines it. A file that fails to compile or whose top level
   * raises is an error and the old code keeps running. NULL: the runtime
   * cannot reload. Script worker. */
  keel_result (*reload)(keel_script *script, const char *const *paths, uint32_t count, keel_message *error);
} keel_script_api;

KEEL_END_DECLS

#endif /* KEEL_SCRIPT_H */
