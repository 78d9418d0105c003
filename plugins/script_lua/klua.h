/* Internal header of the Lua 5.4 script plugin (keel.script/1): the runtime's
 * and each VM's state, shared by the plugin entry, the VM setup (allocator,
 * watchdog hook, sandbox), the script API bindings and the one-off pool.
 * Nothing here leaves the plugin: every symbol is hidden. */
#ifndef KLUA_H
#define KLUA_H

#include <keel/plugin.h>
#include <keel/script.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <pthread.h>
#include <time.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Instructions between two checks of the clock and the stop flag on the VMs
 * that check for themselves (pool VMs, coroutines of the game VM). */
#define KLUA_HOOK_COUNT 1000
/* The game VM's main thread keeps the traceback handler and the callback and
 * cvar-handler tables at the bottom of its stack between calls. */
#define KLUA_SLOT_MSGH 1
#define KLUA_SLOT_CBS 2
#define KLUA_SLOT_CVH 3
#define KLUA_SLOT_CVN 4
#define KLUA_GAME_BASE_TOP 4
#define KLUA_POOL_BASE_TOP 1
#define KLUA_POOL_INITIAL 2
#define KLUA_POOL_MAX 8

/* Why a running call must stop. MEMORY is one-shot (raised once, then the VM
 * may go on if the script catches it); the others stay until the call ends. */
enum {
  KLUA_STOP_NONE = 0,
  KLUA_STOP_MEMORY,
  KLUA_STOP_BUDGET,   /* the call's CPU time reached its budget */
  KLUA_STOP_BACKSTOP, /* the wall-clock backstop passed (keel_script_backstop_ms) */
  KLUA_STOP_INSTRUCTIONS,
  KLUA_STOP_INTERRUPT
};

typedef struct klua_script klua_script;

typedef struct klua_vm {
  lua_State *L;
  klua_script *script;
  /* The game VM shares the watchdog's mutex: it guards in_call, the budget
   * fields and every lua_sethook on the main thread. NULL for pool VMs,
   * which only their current user touches. */
  pthread_mutex_t *mu;
  bool is_pool;
  bool in_call;
  bool mem_tripped;
  bool mem_crossed; /* the soft line was crossed during this call: collect at its end */
  _Atomic int stop;
  /* The call's budget: CPU time of the thread running it, with a
   * wall-clock backstop (docs/scripting.md §6). */
  uint64_t budget_ns;    /* 0 = none */
  const char *budget_name; /* "tick", "load", "shutdown": names it in the error */
  clockid_t cpu_clock;   /* the running thread's CPU-time clock */
  uint64_t cpu_start_ns;
  uint64_t backstop_ns;  /* wall-clock time the call is stopped at whatever its CPU time */
  uint64_t check_at_ns;  /* wall-clock time before which the CPU budget cannot be spent */
  uint64_t instr_used;
  /* heap accounting (Lua tells the allocator old sizes, so no header) */
  size_t used;
  size_t limit;      /* hard: allocations past it are refused (0 = none) */
  size_t soft_limit; /* crossing it raises "not enough memory" where the script is */
  uint64_t refusals;
  uint64_t rng; /* splitmix64 state */
  const char *hook_msg; /* the last error the hook raised (klua_xpcall) */
  char warn_buf[KEEL_MESSAGE_MAX];
  size_t warn_len;
  struct klua_vm *next_free;
} klua_vm;

typedef struct klua_pool {
  pthread_mutex_t mu;
  klua_vm *free_list;
  klua_vm *all[KLUA_POOL_MAX];
  uint32_t total;    /* created or being created */
  uint32_t building; /* bit i: slot i is being created outside the lock */
} klua_pool;

typedef struct klua_cv_handler {
  char name[KEEL_NAME_MAX];
} klua_cv_handler;

/* A source file the game loaded, for hot reload: the main script (module
 * NULL) or a module found by require. */
typedef struct klua_file {
  char *path;   /* real path, as reported through world->file_loaded */
  char *module; /* require name ("a.b"); NULL for the main script */
  char *chunk;  /* "@a/b.lua": the chunk name its errors carry */
} klua_file;

struct klua_script {
  const keel_host *host;
  const keel_script_world *world;
  char *main_path;
  char *game_real;  /* realpath of the sandbox root */
  char *main_chunk; /* "@main.lua": main_path relative to the game dir */
  uint64_t seed;
  uint64_t budget_ns;          /* ticks and one-offs */
  uint64_t load_budget_ns;     /* init: loading the main script and its modules, then init() */
  uint64_t shutdown_budget_ns; /* shutdown() */
  uint64_t instr_budget;
  uint32_t memory_limit_mb;
  bool lockstep;

  klua_vm vm; /* the game VM, script worker thread only */

  /* engine.frame/time/dt: written by the worker, read by pool VMs too */
  _Atomic uint64_t tick_frame;
  _Atomic uint64_t tick_time_bits;
  _Atomic uint64_t tick_dt_bits;
  /* the current tick's input (worker only) and its screen size (width in
   * the high 32 bits; engine.screen() reads it on pool VMs too) */
  keel_input_state input;
  _Atomic uint64_t screen_size;

  uint32_t cb_pending; /* on_created callbacks waiting for their event */
  klua_cv_handler *cv;
  uint32_t cv_count, cv_cap;

  klua_file *files; /* loaded by the game VM (worker only) */
  uint32_t file_count, file_cap;

  /* the watchdog thread, only when tick_budget_ms > 0 */
  pthread_mutex_t mu;
  pthread_cond_t cond;
  pthread_t wd_thread;
  bool wd_started, wd_quit;
  uint64_t wd_next;     /* when the watchdog wakes next */
  uint64_t call_gen;    /* bumped at each call start */
  uint64_t wd_fired_gen;

  /* the entry call in progress (worker only) */
  bool inited, shut;
  keel_message *err_out;
  bool err_set;
  bool call_interrupted;
  const char *ctx;           /* what is running, for error logs */
  const char *ctx_name;      /* cvar name for handler errors */
  char ctx_name_buf[KEEL_NAME_MAX];
  const keel_script_event *events;
  uint32_t event_count, ev_pos;
  lua_Integer ev_sub;

  /* stats: game VM counters (worker only), pool counters (any thread) */
  uint64_t calls, errors, interrupts;
  _Atomic uint64_t pool_calls, pool_errors, pool_interrupts, pool_refusals;

  klua_pool pool;
};

/* ---- klua_vm.c */
uint64_t klua_now_ns(void);
/* Arms vm's budget for a call starting now on the calling thread (0 = no
 * budget). Game VM: under its lock. */
void klua_budget_start(klua_vm *vm, uint64_t budget_ns, const char *name);
/* KLUA_STOP_NONE, KLUA_STOP_BUDGET or KLUA_STOP_BACKSTOP at wall-clock time
 * `now`. The CPU clock is read only once the wall clock says the budget
 * could be spent (one thread's CPU time never runs faster than the wall
 * clock). The thread running the call, or the game VM's watchdog under the
 * lock. */
int klua_budget_check(klua_vm *vm, uint64_t now);
/* Creates a VM (game or pool) with the sandbox and the API; false with a
 * message in *error on failure (nothing left allocated). */
bool klua_vm_open(klua_vm *vm, klua_script *s, bool is_pool, keel_message *error);
void klua_vm_close(klua_vm *vm);
static inline klua_vm *klua_vm_of(lua_State *L) { return *(klua_vm **)lua_getextraspace(L); }
/* Lock helpers for the game VM's hook state (no-ops for pool VMs). */
void klua_vm_lock(klua_vm *vm);
void klua_vm_unlock(klua_vm *vm);
/* Sets the main thread's hook to what the call's state asks for. Lock held. */
void klua_arm_main(klua_vm *vm);
/* Asks the running call to stop for `reason` (lock taken inside). */
void klua_request_stop(klua_vm *vm, int reason);
int klua_msgh(lua_State *L);
/* True when the first line of msg has a "chunk:line:" position. */
bool klua_has_location(const char *msg);
bool klua_read_file(const char *path, char **out, size_t *len, char *err, size_t cap);

/* ---- klua_plugin.c: one entry call on the game VM */
void klua_entry_begin(klua_script *s, keel_message *error);
/* Starts a call on the game VM with budget_ns of CPU time (0 = none),
 * named budget_name ("tick", "load", "shutdown") in the error. */
void klua_call_begin(klua_script *s, uint64_t budget_ns, const char *budget_name);
void klua_call_end(klua_script *s);
bool klua_hard_stop(klua_script *s);
void klua_collect_if_over(klua_script *s);

/* ---- klua_reload.c */
/* Records a file the game VM loaded and reports it to the core (game VM
 * only; a repeat is ignored). Raises a Lua error when out of memory. */
void klua_file_loaded(lua_State *L, klua_script *s, const char *path, const char *module, const char *chunk);
void klua_files_free(klua_script *s);
/* keel_script_api.reload. */
keel_result klua_reload(keel_script *script, const char *const *paths, uint32_t count, keel_message *error);

/* ---- klua_api.c */
/* Registers the script API globals; called inside a protected call. */
void klua_api_open(lua_State *L, klua_vm *vm);
/* Runs the tick's events from s->ev_pos on (protected by the caller). */
int klua_dispatch_body(lua_State *L);

/* ---- klua_input.c */
/* Adds `input` (game VM only) and engine.screen(); the stack is kept. */
void klua_input_open(lua_State *L, klua_vm *vm);
/* Copies the tick's input for the input.* functions (worker thread). */
void klua_input_tick(klua_script *s, const keel_tick_info *tick);

/* ---- klua_pool.c */
keel_result klua_pool_init(klua_script *s, keel_message *error);
void klua_pool_destroy(klua_script *s);
klua_vm *klua_pool_acquire(klua_script *s, keel_message *error);
void klua_pool_release(klua_script *s, klua_vm *vm);
keel_result klua_oneoff_run(klua_script *s, const char *code, keel_message *result);

/* Copies text into a keel_message, truncating. */
void klua_message_set(keel_message *m, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
