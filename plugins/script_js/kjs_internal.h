/* Shared internals of keel's JavaScript plugin: one Duktape heap wrapped with
 * its allocator cap, watchdog and fatal-error boundary (kjs_vm), the runtime
 * that owns the game heap and a pool of one-off heaps (keel_script), and the
 * functions the three source files lend each other. Not part of the SDK. */
#ifndef KJS_INTERNAL_H
#define KJS_INTERNAL_H

#include <keel/host.h>
#include <keel/script.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>

#include "duktape.h"

/* Why a call stopped early; sticky until the outermost protected call of
 * the entry has returned, so a script that catches the RangeError in a loop
 * keeps being thrown out. */
typedef enum kjs_stop {
  KJS_STOP_NONE = 0,
  KJS_STOP_TIMEOUT,  /* the entry's CPU-time budget is spent */
  KJS_STOP_BACKSTOP, /* the wall-clock backstop passed (keel_script_backstop_ms) */
  KJS_STOP_INSTRUCTIONS,
  KJS_STOP_INTERRUPT
} kjs_stop;

typedef struct kjs_block kjs_block;

typedef struct kjs_vm {
  duk_context *ctx;
  struct keel_script *script; /* owner; for desc, world, counters */
  bool pool;                  /* one-off heap: no command API */

  /* Allocator: every block carries a header (size, list links) because
   * Duktape does not pass old sizes, and so a heap that died in a fatal
   * error can be released without asking Duktape. */
  kjs_block *blocks;
  size_t bytes;
  size_t limit; /* 0 = no cap */
  bool refused; /* an allocation was refused during the current entry */

  /* Watchdog, read by kjs_exec_timeout_check at each of Duktape's executor
   * interrupts, whose spacing kjs_exec_interval sets from the time the last
   * stretch took (so a loop of costly built-ins is checked often). */
  uint32_t budget_ms;       /* CPU time of this entry; 0 = none */
  const char *budget_name;  /* "tick", "load", "shutdown" */
  uint64_t cpu_start_ns;    /* CLOCK_THREAD_CPUTIME_ID at the entry */
  uint64_t check_at_ns;     /* wall-clock time before which the CPU budget cannot be spent */
  uint64_t backstop_ns;     /* wall-clock time the entry is stopped at whatever its CPU time */
  uint64_t instructions;    /* executed in this entry, counted at each interrupt */
  uint32_t interval;        /* instructions until the next interrupt */
  uint64_t last_interrupt_ns;
  atomic_bool *interrupt; /* the runtime's interrupt() flag; NULL for pool heaps */
  kjs_stop stop;

  /* Fatal errors: the handler longjmps to the boundary kjs_enter set up. */
  jmp_buf *fatal_jmp;
  bool dead;
  char fatal_msg[160];

  /* The first error of the current entry, returned in the caller's *error. */
  keel_message first;
  bool first_set;

  /* Where the last value was thrown: "file:line" and stack lines, from the
   * call stack (Errors carry their creation site under hidden keys). */
  char throw_where[128];
  char throw_trace[1024];
  bool keep_throw_where; /* the next throw is a rethrow from C: keep the above */

  uint64_t rng; /* splitmix64 state */

  /* Callback slots (game heap only): callback_id = slot + 1 + (generation << 20). */
  uint32_t *cb_ids;
  uint32_t *cb_free;
  uint32_t cb_cap, cb_used, cb_free_count;
  void *cb_array;  /* heap pointer of the bare object holding the functions by slot */
  void *oc_object; /* heap pointer of name -> handler list (bare objects) for cvar.on_change */

  /* Counters of this heap, read back by the runtime's stats. */
  uint64_t calls, errors, interrupts, refusals;
} kjs_vm;

#define KJS_CB_SLOT_BITS 20u
#define KJS_CB_SLOTS_MAX (1u << KJS_CB_SLOT_BITS)

#define KJS_POOL_MAX 4

typedef struct keel_script {
  keel_script_desc desc;
  const keel_host *host;
  const keel_script_world *world;
  char *main_path;     /* our copy of desc->main_path */
  char main_name[128]; /* the main script's name in messages: relative to game_dir */
  char *game_real;     /* the game directory's real path (require's root); NULL if it did not resolve */

  kjs_vm *game;
  atomic_bool interrupt;

  /* The current tick, read by engine.* on any heap (one-offs run on other
   * threads, hence atomics; doubles are stored as their bits). */
  atomic_uint_fast64_t tick_frame;
  atomic_uint_fast64_t tick_time_bits;
  atomic_uint_fast64_t tick_dt_bits;
  /* The current tick's input (game heap, worker only) and its screen size
   * (width in the high 32 bits; engine.screen() reads it on any heap). */
  keel_input_state input;
  atomic_uint_fast64_t screen_size;

  /* One-off heaps: checked out under the lock, used by one thread. */
  pthread_mutex_t pool_lock;
  kjs_vm *pool[KJS_POOL_MAX];
  uint32_t pool_idle;
  /* Counters of heaps that are gone or in the pool (any thread). */
  atomic_uint_fast64_t pool_calls, pool_errors, pool_interrupts, pool_refusals;
  bool reload_ready; /* init has set up hot reload's helper (script worker only) */
} keel_script;

/* ---- kjs_vm.c ---- */

/* Creates a heap with the sandbox, Math.random, and the API (restricted for
 * pool heaps). Returns NULL with the reason in *error. */
kjs_vm *kjs_vm_create(keel_script *script, bool pool, keel_message *error);
/* Destroys the heap (finalizers run under a fresh watchdog) or, for a heap
 * that died in a fatal error, frees its blocks directly. NULL is fine. */
void kjs_vm_destroy(kjs_vm *vm);

/* Runs fn inside the fatal-error boundary and duk_safe_call, with the
 * watchdog armed for this entry: budget_ms of the calling thread's CPU time
 * (0 = none), named `budget_name` in the error. Returns duk_safe_call's
 * result (0 = the body returned), or -1 when the heap died in a fatal error
 * (vm->dead). Errors are logged and counted; the first one is in vm->first. */
int kjs_enter(kjs_vm *vm, duk_safe_call_function fn, void *udata, uint32_t budget_ms, const char *budget_name);

/* Inside an entry: calls the function at [-nargs-1] with nargs arguments
 * under duk_pcall. On error logs it as "<what>: <text>", counts it, keeps
 * the entry's first text in vm->first and returns false. Leaves nothing on
 * the stack. */
bool kjs_call(kjs_vm *vm, duk_idx_t nargs, const char *what);
/* kjs_call logging "<what> for '<name>': <text>". */
bool kjs_call_named(kjs_vm *vm, duk_idx_t nargs, const char *what, const char *name);
/* Inside an entry: describes, logs ("<what>: <text>", what may be NULL)
 * and counts the error value at the top, keeps it as the entry's first
 * message if it is, and pops it. */
void kjs_report_error(kjs_vm *vm, const char *what);
/* The same without the log line: for an error the caller returns instead
 * (a one-off script's, which the host reports). */
void kjs_record_error(kjs_vm *vm);
/* Inside an entry: formats the error value at the top as "file:line: text"
 * plus stack lines, and pops it. */
void kjs_describe_error(kjs_vm *vm, char *out, size_t cap);

/* The vm of a context: the allocator's udata. */
static inline kjs_vm *kjs_vm_of(duk_context *ctx) {
  duk_memory_functions f;
  duk_get_memory_functions(ctx, &f);
  return (kjs_vm *)f.udata;
}

uint64_t kjs_now_ns(void);

/* Hidden keys an Error keeps its creation site under ("file:line" and stack
 * lines): a script cannot name them. */
#define KJS_WHERE DUK_HIDDEN_SYMBOL("kwhere")
#define KJS_TRACE DUK_HIDDEN_SYMBOL("ktrace")

/* ---- script_js.c ---- */

/* Reads a script source: a regular file of at most KEEL_SCRIPT_SOURCE_MAX
 * bytes (a FIFO or a device is refused, never waited on). A new buffer of
 * *len bytes, or NULL with the reason in *error. */
char *kjs_read_file(const char *path, size_t *len, keel_message *error);

/* ---- kjs_api.c ---- */

/* Installs entity, camera, light, cvar, log, engine (the game heap) or the
 * one-off subset (pool heaps) as globals. Runs inside a safe call. */
void kjs_api_install(duk_context *ctx, bool pool);
/* Delivers one event (its callback or cvar handlers) inside an entry. */
void kjs_api_deliver(kjs_vm *vm, const keel_script_event *ev);
/* Drops one event without running script code (the tick's budget is gone):
 * a completion's callback slot is freed. */
void kjs_api_drop(kjs_vm *vm, const keel_script_event *ev);

/* ---- kjs_require.c ---- */

/* Adds the global `require` (CommonJS, confined to the game directory).
 * Inside a safe call, on every heap. */
void kjs_require_install(duk_context *ctx);
/* Hot reload of a module the game heap required, by its real path: 1 = it
 * ran again (its old exports object patched in place when both are plain
 * objects, so code holding it sees the new functions), 0 = it failed (the
 * error is logged; the cache and the globals are as before), -1 = no
 * module of this game. Undo entries go into the array at `undo`. Inside an
 * entry on the game heap. */
int kjs_require_reload(kjs_vm *vm, const char *real_path, duk_idx_t undo);
/* Puts back every module of the undo array (on_reload() failed). */
void kjs_require_undo(kjs_vm *vm, duk_idx_t undo);

/* ---- script_js.c: snapshots for hot reload, in C (a heap stopped by the
 * budget runs no script code, and these run none) ---- */

/* Pushes a bare object with the own enumerable properties of the object
 * at obj. */
void kjs_object_snap(duk_context *ctx, duk_idx_t obj);
/* Makes the object at obj hold what the snapshot at snap holds: own
 * enumerable properties the snapshot lacks are deleted (when
 * configurable), the others set to the snapshot's values. */
void kjs_object_restore(duk_context *ctx, duk_idx_t obj, duk_idx_t snap);
void kjs_object_snap_globals(duk_context *ctx);
void kjs_object_restore_globals(duk_context *ctx, duk_idx_t snap);
/* kjs_object_snap_globals, protected, for a reload of `file`: false (the
 * failure reported, nothing pushed) when a getter raised. */
bool kjs_reload_snap_globals(kjs_vm *vm, const char *file);

/* ---- kjs_input.c ---- */

/* Adds `input` (the game heap only) and engine.screen(). Inside a safe call,
 * after kjs_api_install. */
void kjs_input_install(duk_context *ctx, bool pool);
/* Copies the tick's input for the input.* functions (worker thread). */
void kjs_input_tick(keel_script *s, const keel_tick_info *tick);

#endif /* KJS_INTERNAL_H */
