/* One Lua VM as keel runs it: a counting allocator that enforces the memory
 * cap, the count hook that turns the watchdog's stop request into an error at
 * the script's own line, and the sandbox (what a game script may reach). The
 * game VM and the one-off pool VMs are both built here. */
#include "klua.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint64_t klua_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void klua_budget_start(klua_vm *vm, uint64_t budget_ns, const char *name) {
  uint64_t now = klua_now_ns();
  vm->budget_ns = budget_ns;
  vm->budget_name = name;
  vm->check_at_ns = now + budget_ns;
  vm->backstop_ns = budget_ns ? now + keel_script_backstop_ms((uint32_t)(budget_ns / 1000000u)) * 1000000u : 0;
  vm->cpu_start_ns = 0;
  struct timespec ts;
  if (pthread_getcpuclockid(pthread_self(), &vm->cpu_clock) == 0 && clock_gettime(vm->cpu_clock, &ts) == 0) {
    vm->cpu_start_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
  } else {
    vm->cpu_clock = CLOCK_MONOTONIC; /* no CPU clock: the wall clock is the budget */
    vm->cpu_start_ns = now;
  }
}

/* The CPU budget first: past the backstop too, a call that has spent its
 * CPU time is reported as over budget (the real cause), and the backstop
 * only when the thread got too little CPU to spend it. */
int klua_budget_check(klua_vm *vm, uint64_t now) {
  if (!vm->budget_ns) return KLUA_STOP_NONE;
  bool past_backstop = now >= vm->backstop_ns;
  if (now < vm->check_at_ns && !past_backstop) return KLUA_STOP_NONE;
  struct timespec ts;
  if (clock_gettime(vm->cpu_clock, &ts) != 0) return KLUA_STOP_BUDGET;
  uint64_t cpu = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
  uint64_t used = cpu > vm->cpu_start_ns ? cpu - vm->cpu_start_ns : 0;
  if (used >= vm->budget_ns) return KLUA_STOP_BUDGET;
  if (past_backstop) return KLUA_STOP_BACKSTOP;
  vm->check_at_ns = now + (vm->budget_ns - used);
  return KLUA_STOP_NONE;
}

void klua_message_set(keel_message *m, const char *fmt, ...) {
  if (!m) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m->text, sizeof m->text, fmt, ap);
  va_end(ap);
}

void klua_vm_lock(klua_vm *vm) {
  if (vm->mu) pthread_mutex_lock(vm->mu);
}
void klua_vm_unlock(klua_vm *vm) {
  if (vm->mu) pthread_mutex_unlock(vm->mu);
}

/* ---- allocator -------------------------------------------------------- */

/* Two thresholds: crossing the soft one (limit - limit/16) during a call asks
 * the hook to raise "not enough memory" at the next instruction, so the error
 * carries file:line and a traceback; the hard one is never passed (NULL, and
 * Lua raises its own memory error after an emergency collection). */
static void *klua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  klua_vm *vm = ud;
  size_t old = ptr ? osize : 0; /* with ptr NULL, osize is a type tag */
  if (nsize == 0) {
    free(ptr);
    vm->used -= old;
    if (vm->mem_tripped && vm->used < vm->soft_limit) vm->mem_tripped = false;
    return NULL;
  }
  if (vm->limit && nsize > old) {
    size_t grow = nsize - old;
    if (vm->used + grow > vm->limit) {
      vm->refusals++;
      return NULL;
    }
    if (!vm->mem_tripped && vm->in_call && vm->used + grow > vm->soft_limit) {
      vm->mem_tripped = true;
      vm->mem_crossed = true;
      vm->refusals++;
      klua_request_stop(vm, KLUA_STOP_MEMORY);
    }
  }
  void *p = realloc(ptr, nsize);
  if (!p) return NULL;
  vm->used = vm->used - old + nsize;
  if (vm->mem_tripped && vm->used < vm->soft_limit) vm->mem_tripped = false;
  return p;
}

/* ---- watchdog hook ---------------------------------------------------- */

static void klua_hook(lua_State *L, lua_Debug *ar);
static void klua_stop_text(const klua_vm *vm, int stop, char *what, size_t cap);
static void klua_push_where(lua_State *L);

void klua_arm_main(klua_vm *vm) {
  lua_State *L = vm->L;
  const klua_script *s = vm->script;
  int stop = atomic_load_explicit(&vm->stop, memory_order_relaxed);
  int count = 0;
  if (vm->in_call && stop != KLUA_STOP_NONE) {
    count = 1; /* raise at every instruction until the outer call returns */
  } else if (vm->is_pool) {
    count = KLUA_HOOK_COUNT; /* pool VMs watch their own clock */
  } else if (vm->in_call && s->instr_budget) {
    uint64_t left = s->instr_budget > vm->instr_used ? s->instr_budget - vm->instr_used : 1;
    count = left > (1u << 30) ? (1 << 30) : (int)left;
  }
  int cur = lua_gethookmask(L) ? lua_gethookcount(L) : 0;
  if (cur == count) return; /* lua_sethook walks the whole call chain: skip it when possible */
  if (count)
    lua_sethook(L, klua_hook, LUA_MASKCOUNT, count);
  else
    lua_sethook(L, NULL, 0, 0);
}

void klua_request_stop(klua_vm *vm, int reason) {
  klua_vm_lock(vm);
  int cur = atomic_load_explicit(&vm->stop, memory_order_relaxed);
  if (vm->in_call && (cur == KLUA_STOP_NONE || (cur == KLUA_STOP_MEMORY && reason != KLUA_STOP_MEMORY))) {
    atomic_store_explicit(&vm->stop, reason, memory_order_release);
    klua_arm_main(vm);
  }
  klua_vm_unlock(vm);
}

static void klua_hook(lua_State *L, lua_Debug *ar) {
  klua_vm *vm = klua_vm_of(L);
  const klua_script *s = vm->script;
  int stop = atomic_load_explicit(&vm->stop, memory_order_acquire);
  if (stop == KLUA_STOP_NONE) {
    if (!vm->in_call) return;
    int reason = KLUA_STOP_NONE;
    if (s->instr_budget) {
      vm->instr_used += (uint64_t)lua_gethookcount(L);
      if (vm->instr_used >= s->instr_budget) reason = KLUA_STOP_INSTRUCTIONS;
    }
    /* The game VM's watchdog thread judges its budget (coroutines included);
     * pool VMs judge their own here. */
    if (!reason && vm->is_pool) reason = klua_budget_check(vm, klua_now_ns());
    if (!reason) {
      if (L == vm->L) {
        klua_vm_lock(vm);
        klua_arm_main(vm);
        klua_vm_unlock(vm);
      } else if (lua_gethookcount(L) != KLUA_HOOK_COUNT) {
        /* a coroutine made while a stop was pending: back to the normal pace */
        lua_sethook(L, klua_hook, LUA_MASKCOUNT, KLUA_HOOK_COUNT);
      }
      return;
    }
    klua_request_stop(vm, reason);
    stop = atomic_load_explicit(&vm->stop, memory_order_acquire);
  }
  if (stop == KLUA_STOP_MEMORY) {
    /* one-shot: the script may catch it and free memory */
    klua_vm_lock(vm);
    int expected = KLUA_STOP_MEMORY;
    atomic_compare_exchange_strong(&vm->stop, &expected, KLUA_STOP_NONE);
    klua_arm_main(vm);
    klua_vm_unlock(vm);
    if (expected != KLUA_STOP_MEMORY) stop = expected; /* a harder stop came in meanwhile */
    if (stop == KLUA_STOP_MEMORY) {
      /* Only memory the script still holds is "not enough memory": with
       * the collector stopped (collectgarbage("stop")) or behind, the
       * line was crossed by garbage, and a full collection takes it back.
       * The collection runs even when the script stopped the collector. */
      lua_gc(L, LUA_GCCOLLECT);
      if (vm->used < vm->soft_limit) return;
    }
  }
  char what[160];
  klua_stop_text(vm, stop, what, sizeof what);
  /* A coroutine has its own hook: keep it raising too, so a loop of pcalls
   * inside the coroutine cannot outlast the stop. */
  if (stop != KLUA_STOP_MEMORY && L != vm->L && lua_gethookcount(L) != 1)
    lua_sethook(L, klua_hook, LUA_MASKCOUNT, 1);
  const char *msg;
  if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
    msg = lua_pushfstring(L, "%s:%d: %s", ar->short_src, ar->currentline, what);
  else
    msg = lua_pushstring(L, what);
  vm->hook_msg = msg; /* see klua_xpcall */
  lua_error(L);
}

/* What a stop says (after file:line). */
static void klua_stop_text(const klua_vm *vm, int stop, char *what, size_t cap) {
  const klua_script *s = vm->script;
  switch (stop) {
    case KLUA_STOP_MEMORY: snprintf(what, cap, "not enough memory"); break;
    case KLUA_STOP_BUDGET:
      snprintf(what, cap, "%s budget of %llu ms exceeded", vm->budget_name ? vm->budget_name : "tick",
               (unsigned long long)(vm->budget_ns / 1000000u));
      break;
    case KLUA_STOP_BACKSTOP:
      snprintf(what, cap, "%s stopped after %llu ms of wall-clock time (the backstop of a %llu ms budget)",
               vm->budget_name ? vm->budget_name : "tick",
               (unsigned long long)keel_script_backstop_ms((uint32_t)(vm->budget_ns / 1000000u)),
               (unsigned long long)(vm->budget_ns / 1000000u));
      break;
    case KLUA_STOP_INSTRUCTIONS:
      snprintf(what, cap, "instruction budget of %llu exceeded", (unsigned long long)s->instr_budget);
      break;
    default: snprintf(what, cap, "interrupted"); break;
  }
}

/* For the C loops whose length a script sets (table.move, insert, remove):
 * hooks do not run inside a C function, so the loop asks here every 4096
 * elements. A budget, backstop, instruction or interrupt stop that is
 * pending is raised at the script's line, as the hook raises it; pool VMs
 * judge their budget here as their hook does. */
static void klua_loop_check(lua_State *L) {
  klua_vm *vm = klua_vm_of(L);
  int stop = atomic_load_explicit(&vm->stop, memory_order_acquire);
  if (stop < KLUA_STOP_BUDGET && vm->in_call && vm->is_pool) {
    int reason = klua_budget_check(vm, klua_now_ns());
    if (reason != KLUA_STOP_NONE) klua_request_stop(vm, reason);
    stop = atomic_load_explicit(&vm->stop, memory_order_acquire);
  }
  if (stop < KLUA_STOP_BUDGET) return;
  char what[160];
  klua_stop_text(vm, stop, what, sizeof what);
  if (L != vm->L && lua_gethookcount(L) != 1) lua_sethook(L, klua_hook, LUA_MASKCOUNT, 1);
  klua_push_where(L); /* the script's line, also when pcall is the caller */
  lua_pushstring(L, what);
  lua_concat(L, 2);
  vm->hook_msg = lua_tostring(L, -1); /* see klua_xpcall */
  lua_error(L);
}

/* ---- message handler, panic, warnings ------------------------------------ */

bool klua_has_location(const char *msg) {
  /* "chunk:12: ..." at the start, as luaL_where and the runtime's own
   * errors put it: a chunk name, then ':', digits and ": ". A chunk name is
   * a "[string "..."]" (which may hold any character), or text up to the
   * first ':' with no blank in it ("main.lua", "exec", "...h/to/a.lua")
   * unless it ends in ".lua" (a file name with a blank). A message with
   * colons of its own ("at 12:30:00", "at 12:30: noon") gets the location
   * in front. */
  const char *p = msg;
  if (strncmp(p, "[string \"", 9) == 0) {
    const char *end = strstr(p, "\"]:");
    if (!end) return false;
    p = end + 2;
  } else {
    bool blank = false;
    while (*p && *p != ':' && *p != '\n') blank |= (*p == ' ' || *p == '\t'), p++;
    if (p == msg || (blank && !(p - msg > 4 && memcmp(p - 4, ".lua", 4) == 0))) return false;
  }
  if (*p != ':' || !(p[1] >= '0' && p[1] <= '9')) return false;
  const char *q = p + 1;
  while (*q >= '0' && *q <= '9') q++;
  return q[0] == ':' && q[1] == ' ';
}

/* Pushes "file:line: " of the innermost Lua function on L's stack (the
 * script's line a C function was called from), or "" when there is none. */
static void klua_push_where(lua_State *L) {
  lua_Debug ar;
  for (int level = 1; lua_getstack(L, level, &ar); level++) {
    if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
      lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
      return;
    }
  }
  lua_pushliteral(L, "");
}

/* Every message starts with file:line, whatever the error value is: an
 * error({}) or error(nil), a string raised without a position (error(msg,
 * 0), "attempt to yield from outside a coroutine", raised by a C
 * function), get the line of the innermost Lua function. */
int klua_msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      msg = lua_tostring(L, -1);
    else
      msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  if (!klua_has_location(msg)) {
    int at = lua_gettop(L);
    klua_push_where(L);
    lua_pushvalue(L, at);
    lua_concat(L, 2);
    msg = lua_tostring(L, -1);
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Only reached by a bug in this plugin (every entry is protected); Lua aborts
 * after it returns, so at least say why. */
static int klua_panic(lua_State *L) {
  klua_vm *vm = klua_vm_of(L);
  const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
  vm->script->host->log(vm->script->host, KEEL_LOG_ERROR, "unprotected Lua error (plugin bug): %s", msg);
  return 0;
}

static void klua_warnf(void *ud, const char *msg, int tocont) {
  klua_vm *vm = ud;
  if (!tocont && vm->warn_len == 0 && msg[0] == '@') return; /* "@on" / "@off": always on here */
  size_t n = strlen(msg);
  size_t room = sizeof vm->warn_buf - 1 - vm->warn_len;
  if (n > room) n = room;
  memcpy(vm->warn_buf + vm->warn_len, msg, n);
  vm->warn_len += n;
  vm->warn_buf[vm->warn_len] = '\0';
  if (!tocont) {
    vm->script->host->log(vm->script->host, KEEL_LOG_WARN, "warning: %s", vm->warn_buf);
    vm->warn_len = 0;
  }
}

/* ---- files ------------------------------------------------------------- */

static const char *klua_file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

/* Script sources are regular files of at most KEEL_SCRIPT_SOURCE_MAX bytes:
 * a FIFO would block the open and /dev/zero would never end, so the file is
 * opened without waiting and looked at before it is read. */
bool klua_read_file(const char *path, char **out, size_t *len, char *err, size_t cap) {
  *out = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    snprintf(err, cap, "cannot open '%s': %s", path, strerror(errno));
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > KEEL_SCRIPT_SOURCE_MAX) {
    if (fstat(fd, &st) != 0)
      snprintf(err, cap, "cannot read '%s': %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
      snprintf(err, cap, "cannot load '%s': it is %s, not a regular file", path, klua_file_kind(st.st_mode));
    else
      snprintf(err, cap, "cannot load '%s': %llu bytes, more than the %u a script file may have", path,
               (unsigned long long)st.st_size, KEEL_SCRIPT_SOURCE_MAX);
    close(fd);
    return false;
  }
  size_t size = (size_t)st.st_size;
  char *buf = malloc(size + 1);
  if (!buf) {
    close(fd);
    snprintf(err, cap, "cannot read '%s': out of memory", path);
    return false;
  }
  size_t n = 0;
  while (n <= size) { /* one byte more than fstat said, to see a file that grew */
    ssize_t got = read(fd, buf + n, size + 1 - n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      snprintf(err, cap, "cannot read '%s': %s", path, strerror(errno));
      close(fd);
      free(buf);
      return false;
    }
    if (got == 0) break;
    n += (size_t)got;
  }
  close(fd);
  if (n > size) {
    free(buf);
    snprintf(err, cap, "cannot load '%s': it grew while being read", path);
    return false;
  }
  *out = buf;
  *len = n;
  return true;
}

/* ---- sandbox ------------------------------------------------------------- */

static const char *klua_typename(lua_State *L, int idx) {
  int t = lua_type(L, idx);
  return t == LUA_TNONE ? "nil" : lua_typename(L, t);
}

/* load(chunk [, chunkname [, mode [, env]]]) with mode forced to "t": a
 * binary chunk can crash the VM, so only source is accepted. */
static int klua_load(lua_State *L) {
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  if (n >= 2)
    lua_pushvalue(L, 2);
  else
    lua_pushnil(L);
  lua_pushliteral(L, "t");
  int nargs = 3;
  if (n >= 4) {
    lua_pushvalue(L, 4);
    nargs = 4;
  }
  lua_call(L, nargs, LUA_MULTRET);
  return lua_gettop(L) - n;
}

/* Lua 5.4 runs finalizers with hooks off, so a __gc that loops could never
 * be stopped; scripts have no userdata that would need one. */
static int klua_setmetatable(lua_State *L) {
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    int t = lua_rawget(L, 2);
    lua_pop(L, 1);
    if (t != LUA_TNIL) return luaL_error(L, "setmetatable: __gc metamethods are not allowed");
  }
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

/* Lua calls a message handler with hooks still off when the error was raised
 * by a hook, so `xpcall(f, function() while true do end end)` could never be
 * stopped. The handler is wrapped: for an error the hook raised it is
 * skipped and the message passes through (as Lua does for memory errors). */
static int klua_xpcall_handler(lua_State *L) {
  klua_vm *vm = klua_vm_of(L);
  if (vm->hook_msg && lua_type(L, 1) == LUA_TSTRING && lua_tostring(L, 1) == vm->hook_msg) {
    vm->hook_msg = NULL;
    lua_settop(L, 1);
    return 1;
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

static int klua_xpcall(lua_State *L) {
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, klua_xpcall_handler, 1);
  lua_replace(L, 2);
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

/* A coroutine is a separate lua_State with its own hook, which the game VM's
 * main thread does not pass on (it runs unhooked between stops): give every
 * new coroutine the self-checking count hook. */
static void klua_hook_coroutine(klua_vm *vm, lua_State *co) {
  int stop = atomic_load_explicit(&vm->stop, memory_order_relaxed);
  lua_sethook(co, klua_hook, LUA_MASKCOUNT,
              vm->in_call && stop != KLUA_STOP_NONE && stop != KLUA_STOP_MEMORY ? 1 : KLUA_HOOK_COUNT);
}

static int klua_co_create(lua_State *L) {
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, 1);
  lua_State *co = lua_tothread(L, -1);
  if (co) klua_hook_coroutine(klua_vm_of(L), co);
  return 1;
}

/* coroutine.wrap's function: resumes the coroutine; an error is passed
 * on with the caller's position in front only when it has none. Lua's own
 * wrap adds one at each level, so nested wraps repeated the prefix until
 * the message was cut before its cause. Upvalue 1: the coroutine. */
static int klua_auxwrap(lua_State *L) {
  lua_State *co = lua_tothread(L, lua_upvalueindex(1));
  int narg = lua_gettop(L);
  if (!lua_checkstack(co, narg)) return luaL_error(L, "too many arguments to resume");
  /* lua_resume itself refuses a dead coroutine and one that is running or
   * resuming another (the wrap called from inside its own coroutine):
   * co == L is then fine, lua_xmove does nothing. */
  lua_xmove(L, co, narg);
  int nres = 0;
  int status = lua_resume(co, L, narg, &nres);
  if (status == LUA_OK || status == LUA_YIELD) {
    if (!lua_checkstack(L, nres + 1)) {
      lua_pop(co, nres);
      return luaL_error(L, "too many results to resume");
    }
    lua_xmove(co, L, nres);
    return nres;
  }
  /* Only a coroutine that failed is closed (its to-be-closed variables run;
   * the error stays on top). A refused resume leaves co as it was: resetting
   * a running coroutine would unwind the frames still executing on it. */
  int co_status = lua_status(co);
  if (co_status != LUA_OK && co_status != LUA_YIELD) lua_resetthread(co);
  lua_xmove(co, L, 1);
  if (status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING && !klua_has_location(lua_tostring(L, -1))) {
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

/* Upvalue 1: the library's coroutine.create. */
static int klua_co_wrap(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  lua_State *co = lua_tothread(L, -1);
  if (co) klua_hook_coroutine(klua_vm_of(L), co);
  lua_pushcclosure(L, klua_auxwrap, 1);
  return 1;
}

static lua_Integer klua_random_int_arg(lua_State *L, int idx, const char *fn) {
  int ok = 0;
  lua_Integer v = lua_tointegerx(L, idx, &ok);
  if (!ok || lua_type(L, idx) != LUA_TNUMBER)
    luaL_error(L, "%s: argument #%d must be an integer, got %s", fn, idx, klua_typename(L, idx));
  return v;
}

/* splitmix64, so Lua and JS draw the same sequence (docs/scripting.md §5). */
static int klua_random(lua_State *L) {
  klua_vm *vm = klua_vm_of(L);
  lua_Integer lo, hi;
  switch (lua_gettop(L)) {
    case 0:
      lua_pushnumber(L, (lua_Number)keel_script_random_unit(&vm->rng));
      return 1;
    case 1:
      lo = 1;
      hi = klua_random_int_arg(L, 1, "math.random");
      break;
    case 2:
      lo = klua_random_int_arg(L, 1, "math.random");
      hi = klua_random_int_arg(L, 2, "math.random");
      break;
    default: return luaL_error(L, "math.random: wrong number of arguments");
  }
  if (lo > hi) return luaL_error(L, "math.random: interval is empty");
  double r = keel_script_random_unit(&vm->rng);
  double span = (double)((lua_Unsigned)hi - (lua_Unsigned)lo) + 1.0;
  lua_Unsigned off = (lua_Unsigned)(r * span); /* r*span >= 0, so the cast floors */
  lua_pushinteger(L, (lua_Integer)((lua_Unsigned)lo + off));
  return 1;
}

static int klua_randomseed(lua_State *L) {
  klua_vm *vm = klua_vm_of(L);
  if (lua_gettop(L) == 0)
    vm->rng = vm->script->seed;
  else
    vm->rng = (uint64_t)klua_random_int_arg(L, 1, "math.randomseed");
  return 0;
}

/* require("a.b") -> <game_dir>/a/b.lua, else <game_dir>/a/b/init.lua (Lua's
 * own "?.lua;?/init.lua" order), nothing outside the game dir. A module
 * that is not there returns the searcher's line of require's "module 'a.b'
 * not found:" message, without a leading "\n\t" (require puts one in front
 * of each searcher's text). */
static int klua_searcher(lua_State *L) {
  klua_vm *vm = klua_vm_of(L);
  klua_script *s = vm->script;
  size_t len = 0;
  const char *name = luaL_checklstring(L, 1, &len);
  if (len == 0 || strlen(name) != len || name[0] == '/' || strstr(name, "..") || strchr(name, '\\')) {
    luaL_where(L, 2); /* the script's require call, not require itself */
    lua_pushfstring(L, "require: module name '%s' leaves the game directory", name);
    lua_concat(L, 2);
    return lua_error(L);
  }
  char rel[PATH_MAX], path[PATH_MAX], real[PATH_MAX];
  if (len + sizeof "/init.lua" > sizeof rel) {
    lua_pushfstring(L, "module name too long (%d bytes at most)", (int)(sizeof rel - sizeof "/init.lua"));
    return 1;
  }
  for (size_t i = 0; i < len; i++) rel[i] = name[i] == '.' ? '/' : name[i];
  memcpy(rel + len, ".lua", 5);
  int n = snprintf(path, sizeof path, "%s/%s", s->game_real, rel);
  bool found = n >= 0 && (size_t)n < sizeof path && realpath(path, real);
  if (!found) {
    memcpy(rel + len, "/init.lua", sizeof "/init.lua");
    n = snprintf(path, sizeof path, "%s/%s", s->game_real, rel);
    found = n >= 0 && (size_t)n < sizeof path && realpath(path, real);
  }
  if (!found) {
    rel[len] = '\0';
    lua_pushfstring(L, "no file '%s.lua' or '%s/init.lua' in the game directory", rel, rel);
    return 1;
  }
  size_t root = strlen(s->game_real);
  if (strncmp(real, s->game_real, root) != 0 || real[root] != '/') {
    luaL_where(L, 2);
    lua_pushfstring(L, "require: module '%s' resolves outside the game directory", name);
    lua_concat(L, 2);
    return lua_error(L);
  }
  char *buf = NULL;
  size_t blen = 0;
  char err[KEEL_MESSAGE_MAX];
  if (!klua_read_file(real, &buf, &blen, err, sizeof err)) return luaL_error(L, "require: %s", err);
  lua_pushfstring(L, "@%s", rel);
  int st = luaL_loadbufferx(L, buf, blen, lua_tostring(L, -1), "t");
  free(buf);
  /* Watched for hot reload even when it does not compile: fixing it reloads it. */
  if (!vm->is_pool) klua_file_loaded(L, vm->script, real, name, lua_tostring(L, -2));
  if (st != LUA_OK) return lua_error(L); /* "a/b.lua:3: syntax error ..." */
  lua_pushstring(L, rel);
  return 2;
}

/* string.rep(s, n [, sep]) around Lua's own (upvalue 1). With s and sep
 * both empty, Lua's loops n times copying nothing: string.rep("", 1e15)
 * never came back, no memory is asked for, and no hook runs in C. The
 * result is "", returned at once; any other result is bounded by the
 * memory cap. */
static int klua_string_rep(lua_State *L) {
  size_t l = 0, lsep = 0;
  luaL_checklstring(L, 1, &l);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_optlstring(L, 3, "", &lsep);
  if (n <= 0 || (l == 0 && lsep == 0)) {
    lua_pushliteral(L, "");
    return 1;
  }
  int nargs = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, nargs, 1);
  return 1;
}

/* table.move, table.insert and table.remove as the manual describes them
 * (§6.6), with the loop check above every 4096 elements: their loops run
 * in C, as long as the script says (table.move({}, 1, 1e12, 1, {}), or a
 * __len that returns 1e12 for insert and remove), and no hook stops them. */
#define KLUA_LOOP_CHECK_MASK 0xfff

/* A table, or a value whose metatable gives it table access. */
static void klua_check_tab(lua_State *L, int arg) {
  if (lua_type(L, arg) == LUA_TTABLE) return;
  if (lua_getmetatable(L, arg)) {
    lua_pop(L, 1);
    return;
  }
  luaL_checktype(L, arg, LUA_TTABLE);
}

static int klua_table_move(lua_State *L) {
  lua_Integer f = luaL_checkinteger(L, 2);
  lua_Integer e = luaL_checkinteger(L, 3);
  lua_Integer t = luaL_checkinteger(L, 4);
  int to = lua_isnoneornil(L, 5) ? 1 : 5;
  klua_check_tab(L, 1);
  klua_check_tab(L, to);
  if (e >= f) {
    luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3, "too many elements to move");
    lua_Integer n = e - f; /* elements to move, minus one */
    luaL_argcheck(L, t <= LUA_MAXINTEGER - n, 4, "destination wrap around");
    /* Backwards when the ranges overlap with the destination after the source. */
    bool backwards = t > f && t <= e && (to == 1 || lua_compare(L, 1, to, LUA_OPEQ));
    for (lua_Integer i = 0; i <= n; i++) {
      if ((i & KLUA_LOOP_CHECK_MASK) == 0) klua_loop_check(L);
      lua_Integer k = backwards ? n - i : i;
      lua_geti(L, 1, f + k);
      lua_seti(L, to, t + k);
    }
  }
  lua_pushvalue(L, to);
  return 1;
}

static int klua_table_insert(lua_State *L) {
  klua_check_tab(L, 1);
  lua_Integer end = luaL_len(L, 1) + 1; /* the first empty slot */
  lua_Integer pos;
  switch (lua_gettop(L)) {
    case 2: pos = end; break;
    case 3:
      pos = luaL_checkinteger(L, 2);
      luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)end, 2, "position out of bounds");
      for (lua_Integer i = end; i > pos; i--) {
        if (((end - i) & KLUA_LOOP_CHECK_MASK) == 0) klua_loop_check(L);
        lua_geti(L, 1, i - 1);
        lua_seti(L, 1, i);
      }
      break;
    default: return luaL_error(L, "wrong number of arguments to 'insert'");
  }
  lua_seti(L, 1, pos); /* the value, on top */
  return 0;
}

static int klua_table_remove(lua_State *L) {
  klua_check_tab(L, 1);
  lua_Integer size = luaL_len(L, 1);
  lua_Integer pos = luaL_optinteger(L, 2, size);
  if (pos != size) /* 0 when the list is empty, or size + 1, are allowed too */
    luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 2, "position out of bounds");
  lua_geti(L, 1, pos); /* the removed value */
  lua_Integer start = pos;
  for (; pos < size; pos++) {
    if (((pos - start) & KLUA_LOOP_CHECK_MASK) == 0) klua_loop_check(L);
    lua_geti(L, 1, pos + 1);
    lua_seti(L, 1, pos);
  }
  lua_pushnil(L);
  lua_seti(L, 1, pos);
  return 1;
}

/* table.concat(list [, sep [, i [, j]]]) as the manual describes it, with
 * the loop check: a list whose __index is a C function (rawlen) gives a
 * value for every index without running Lua code, up to the memory cap,
 * which took seconds. */
static void klua_concat_add(lua_State *L, luaL_Buffer *b, lua_Integer i) {
  lua_geti(L, 1, i);
  if (!lua_isstring(L, -1))
    luaL_error(L, "invalid value (%s) at index %I in table for 'concat'", luaL_typename(L, -1), (LUAI_UACINT)i);
  luaL_addvalue(b);
}

static int klua_table_concat(lua_State *L) {
  klua_check_tab(L, 1);
  lua_Integer last = luaL_len(L, 1);
  size_t lsep = 0;
  const char *sep = luaL_optlstring(L, 2, "", &lsep);
  lua_Integer i = luaL_optinteger(L, 3, 1);
  last = luaL_optinteger(L, 4, last);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (lua_Integer n = 0; i < last; i++, n++) { /* the last one after the loop: i + 1 may not exist */
    if ((n & KLUA_LOOP_CHECK_MASK) == 0) klua_loop_check(L);
    klua_concat_add(L, &b, i);
    luaL_addlstring(&b, sep, lsep);
  }
  if (i == last) klua_concat_add(L, &b, i);
  luaL_pushresult(&b);
  return 1;
}

/* table.sort(list [, comp]) around Lua's own. Lua's sort reads and writes
 * the list in C, and a list whose __len says 2^31 - 2 and whose __index and
 * __newindex are C functions (rawlen, rawequal) runs no Lua code at all:
 * no hook stopped it. So a list with a metatable is read into a plain table
 * (checking every 4096 elements; the memory cap bounds it), sorted there
 * and written back the same way, and a C comparator is called through a
 * Lua function, where the hook runs. Upvalue 1: Lua's table.sort;
 * upvalue 2: the function that wraps a comparator. */
static int klua_table_sort(lua_State *L) {
  klua_check_tab(L, 1);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  if (lua_iscfunction(L, 2)) {
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushvalue(L, 2);
    lua_call(L, 1, 1);
    lua_replace(L, 2);
  }
  bool plain = lua_type(L, 1) == LUA_TTABLE && !lua_getmetatable(L, 1);
  lua_settop(L, 2);
  if (plain) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 0);
    return 0;
  }
  lua_Integer n = luaL_len(L, 1);
  luaL_argcheck(L, n < INT_MAX, 1, "array too big");
  if (n < 2) return 0;
  lua_createtable(L, (int)n, 0); /* 3: the plain copy */
  for (lua_Integer i = 1; i <= n; i++) {
    if ((i & KLUA_LOOP_CHECK_MASK) == 0) klua_loop_check(L);
    lua_geti(L, 1, i);
    lua_rawseti(L, 3, i);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 2);
  lua_call(L, 2, 0);
  for (lua_Integer i = 1; i <= n; i++) {
    if ((i & KLUA_LOOP_CHECK_MASK) == 0) klua_loop_check(L);
    lua_rawgeti(L, 3, i);
    lua_seti(L, 1, i);
  }
  return 0;
}

/* require(name) as the Lua 5.4 manual describes it (§6.3: package.loaded,
 * then each of package.searchers, then the loader), with one rule more: a
 * name holding a NUL byte is refused whole. Lua's own require reads the
 * name as a C string, so require("lib\0x") loaded lib.lua. Upvalue 1: the
 * package table, as for Lua's own. */
static int klua_require(lua_State *L) {
  size_t len = 0;
  const char *name = luaL_checklstring(L, 1, &len);
  if (strlen(name) != len) return luaL_error(L, "require: module name '%s' leaves the game directory", name);
  lua_settop(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE); /* 2 */
  lua_getfield(L, 2, name);
  if (lua_toboolean(L, -1)) return 1; /* loaded already */
  lua_pop(L, 1);
  if (lua_getfield(L, lua_upvalueindex(1), "searchers") != LUA_TTABLE) /* 3 */
    return luaL_error(L, "'package.searchers' must be a table");
  lua_pushfstring(L, "module '%s' not found:", name); /* 4: what each searcher said */
  for (lua_Integer i = 1;; i++) {
    if (lua_rawgeti(L, 3, i) == LUA_TNIL) {
      lua_settop(L, 4);
      luaL_where(L, 1);
      lua_insert(L, -2);
      lua_concat(L, 2);
      return lua_error(L);
    }
    lua_pushvalue(L, 1);
    lua_call(L, 1, 2); /* 5, 6: loader and its data, or a message */
    if (lua_isfunction(L, 5)) break;
    if (lua_isstring(L, 5)) {
      lua_pop(L, 1);
      lua_pushliteral(L, "\n\t");
      lua_insert(L, 5);
      lua_concat(L, 3);
    } else {
      lua_pop(L, 2);
    }
  }
  lua_pushvalue(L, 5);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 6);
  lua_call(L, 2, 1); /* 7: what the module returned */
  if (!lua_isnil(L, 7))
    lua_setfield(L, 2, name);
  else
    lua_pop(L, 1);
  if (lua_getfield(L, 2, name) == LUA_TNIL) { /* nothing set: the module is `true` */
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, 2, name);
  }
  lua_pushvalue(L, 6);
  return 2;
}

/* ---- game time for os.* in lockstep ---- */

static double klua_game_seconds(lua_State *L) {
  const klua_script *s = klua_vm_of(L)->script;
  uint64_t bits = atomic_load_explicit(&((klua_script *)s)->tick_time_bits, memory_order_relaxed);
  double t;
  memcpy(&t, &bits, sizeof t);
  return t;
}

/* os.clock(): the game's time in seconds (a CPU clock would differ run to
 * run). */
static int klua_game_os_clock(lua_State *L) {
  lua_pushnumber(L, klua_game_seconds(L));
  return 1;
}

static int klua_date_field(lua_State *L, const char *key, int d, bool required) {
  int t = lua_getfield(L, 1, key);
  int isnum = 0;
  lua_Integer v = lua_tointegerx(L, -1, &isnum);
  lua_pop(L, 1);
  if (!isnum) {
    if (t != LUA_TNIL) return luaL_error(L, "field '%s' is not an integer", key);
    if (required) return luaL_error(L, "field '%s' missing in date table", key);
    return d;
  }
  if (v < INT_MIN / 2 || v > INT_MAX / 2) return luaL_error(L, "field '%s' is out-of-bound", key);
  return (int)v;
}

/* os.time([t]): without t, the game's time in whole seconds since
 * 1970-01-01T00:00:00Z; with a table, the table read as UTC (like
 * JavaScript's Date.UTC), never the machine's time zone. */
static int klua_game_os_time(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    lua_pushinteger(L, (lua_Integer)floor(klua_game_seconds(L)));
    return 1;
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  tm.tm_year = klua_date_field(L, "year", 0, true) - 1900;
  tm.tm_mon = klua_date_field(L, "month", 0, true) - 1;
  tm.tm_mday = klua_date_field(L, "day", 0, true);
  tm.tm_hour = klua_date_field(L, "hour", 12, false);
  tm.tm_min = klua_date_field(L, "min", 0, false);
  tm.tm_sec = klua_date_field(L, "sec", 0, false);
  time_t t = timegm(&tm);
  if (t == (time_t)-1) return luaL_error(L, "time result cannot be represented in this installation");
  lua_pushinteger(L, (lua_Integer)t);
  return 1;
}

/* os.date([format [, t]]): t defaults to the game's time, and the date is
 * always UTC ("!" is added), as JavaScript's is. Upvalue 1: the library's
 * os.date. */
static int klua_game_os_date(lua_State *L) {
  const char *fmt = luaL_optstring(L, 1, "%c");
  bool has_t = !lua_isnoneornil(L, 2);
  lua_pushvalue(L, lua_upvalueindex(1));
  if (fmt[0] == '!')
    lua_pushstring(L, fmt);
  else
    lua_pushfstring(L, "!%s", fmt);
  if (has_t)
    lua_pushvalue(L, 2);
  else
    lua_pushinteger(L, (lua_Integer)floor(klua_game_seconds(L)));
  lua_call(L, 2, 1);
  return 1;
}

static void klua_copy_field(lua_State *L, int from, int to, const char *name) {
  lua_getfield(L, from, name);
  lua_setfield(L, to, name);
}

static void klua_wrap_field(lua_State *L, int table, const char *name, lua_CFunction fn) {
  lua_getfield(L, table, name);
  lua_pushcclosure(L, fn, 1);
  lua_setfield(L, table, name);
}

/* Runs protected: any allocation failure here is an error, not a panic.
 * Returns the game VM's callback and cvar-handler tables (none for pools). */
static int klua_setup(lua_State *L) {
  klua_vm *vm = klua_vm_of(L);
  const klua_script *s = vm->script;
  luaL_openlibs(L);
  lua_pushglobaltable(L);
  int G = lua_gettop(L);
  static const char *const drop[] = {"io", "debug", "dofile", "loadfile", NULL};
  for (int i = 0; drop[i]; i++) {
    lua_pushnil(L);
    lua_setfield(L, G, drop[i]);
  }
  lua_getfield(L, G, "package");
  int pkg = lua_gettop(L);
  lua_getfield(L, pkg, "loaded");
  int loaded = lua_gettop(L);
  lua_pushnil(L);
  lua_setfield(L, loaded, "io");
  lua_pushnil(L);
  lua_setfield(L, loaded, "debug");

  /* os: only the clock functions; in lockstep they give game time, as
   * JavaScript's Date does, so a run repeats on every machine */
  lua_getfield(L, G, "os");
  int oldos = lua_gettop(L);
  lua_createtable(L, 0, 4);
  int os = lua_gettop(L);
  klua_copy_field(L, oldos, os, "difftime");
  if (!s->lockstep) {
    klua_copy_field(L, oldos, os, "time");
    klua_copy_field(L, oldos, os, "clock");
    klua_copy_field(L, oldos, os, "date");
  } else {
    lua_pushcfunction(L, klua_game_os_time);
    lua_setfield(L, os, "time");
    lua_pushcfunction(L, klua_game_os_clock);
    lua_setfield(L, os, "clock");
    klua_wrap_field(L, oldos, "date", klua_game_os_date);
    lua_getfield(L, oldos, "date");
    lua_setfield(L, os, "date");
  }
  lua_pushvalue(L, os);
  lua_setfield(L, G, "os");
  lua_pushvalue(L, os);
  lua_setfield(L, loaded, "os");
  lua_settop(L, loaded);

  /* package: no C modules, no file probing, only our searcher */
  lua_pushnil(L);
  lua_setfield(L, pkg, "loadlib");
  lua_pushnil(L);
  lua_setfield(L, pkg, "searchpath");
  lua_pushliteral(L, "");
  lua_setfield(L, pkg, "cpath");
  lua_pushliteral(L, "");
  lua_setfield(L, pkg, "path");
  lua_getfield(L, pkg, "searchers");
  lua_createtable(L, 2, 0);
  lua_rawgeti(L, -2, 1); /* the preload searcher */
  lua_rawseti(L, -2, 1);
  lua_pushcfunction(L, klua_searcher);
  lua_rawseti(L, -2, 2);
  lua_setfield(L, pkg, "searchers");
  lua_pushvalue(L, pkg);
  lua_pushcclosure(L, klua_require, 1);
  lua_setfield(L, G, "require");
  lua_settop(L, G);

  klua_wrap_field(L, G, "load", klua_load);
  klua_wrap_field(L, G, "setmetatable", klua_setmetatable);
  klua_wrap_field(L, G, "xpcall", klua_xpcall);
  lua_getfield(L, G, "coroutine");
  int co = lua_gettop(L);
  lua_getfield(L, co, "create"); /* wrap's upvalue: the library's create */
  lua_pushcclosure(L, klua_co_wrap, 1);
  lua_setfield(L, co, "wrap");
  klua_wrap_field(L, co, "create", klua_co_create);
  lua_pop(L, 1);
  lua_getfield(L, G, "string");
  klua_wrap_field(L, lua_gettop(L), "rep", klua_string_rep);
  lua_pop(L, 1);
  lua_getfield(L, G, "table");
  lua_pushcfunction(L, klua_table_move);
  lua_setfield(L, -2, "move");
  lua_pushcfunction(L, klua_table_insert);
  lua_setfield(L, -2, "insert");
  lua_pushcfunction(L, klua_table_remove);
  lua_setfield(L, -2, "remove");
  lua_pushcfunction(L, klua_table_concat);
  lua_setfield(L, -2, "concat");
  lua_getfield(L, -1, "sort");
  if (luaL_loadstring(L, "local f = ...\nreturn function(a, b) return f(a, b) end") != LUA_OK) lua_error(L);
  lua_pushcclosure(L, klua_table_sort, 2);
  lua_setfield(L, -2, "sort");
  lua_pop(L, 1);
  lua_getfield(L, G, "math");
  lua_pushcfunction(L, klua_random);
  lua_setfield(L, -2, "random");
  lua_pushcfunction(L, klua_randomseed);
  lua_setfield(L, -2, "randomseed");
  lua_pop(L, 1);
  lua_settop(L, 0);

  klua_api_open(L, vm);
  klua_input_open(L, vm);
  return lua_gettop(L);
}

bool klua_vm_open(klua_vm *vm, klua_script *s, bool is_pool, keel_message *error) {
  memset(vm, 0, sizeof *vm);
  vm->script = s;
  vm->is_pool = is_pool;
  vm->mu = is_pool ? NULL : &s->mu;
  atomic_init(&vm->stop, KLUA_STOP_NONE);
  vm->rng = s->seed;
  if (s->memory_limit_mb) {
    vm->limit = (size_t)s->memory_limit_mb << 20;
    vm->soft_limit = vm->limit - vm->limit / 16;
  }
  lua_State *L = lua_newstate(klua_alloc, vm);
  if (!L) {
    klua_message_set(error, "cannot create a Lua state (memory_limit_mb = %u)", s->memory_limit_mb);
    return false;
  }
  vm->L = L;
  *(klua_vm **)lua_getextraspace(L) = vm;
  lua_atpanic(L, klua_panic);
  lua_setwarnf(L, klua_warnf, vm);
  lua_pushcfunction(L, klua_msgh); /* KLUA_SLOT_MSGH */
  lua_pushcfunction(L, klua_setup);
  int want = is_pool ? 0 : KLUA_GAME_BASE_TOP - 1;
  if (lua_pcall(L, 0, want, KLUA_SLOT_MSGH) != LUA_OK) {
    klua_message_set(error, "cannot set up the Lua state: %s",
                     lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
    lua_close(L);
    vm->L = NULL;
    return false;
  }
  klua_arm_main(vm);
  return true;
}

void klua_vm_close(klua_vm *vm) {
  if (!vm || !vm->L) return;
  lua_close(vm->L);
  vm->L = NULL;
}
