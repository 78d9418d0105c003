/* One Duktape heap as keel runs it: a capped allocator with size headers, the
 * watchdog Duktape polls every 4Ki instructions, clocks that follow game
 * time in lockstep, a fatal handler that unwinds instead of aborting, the
 * protected entry every call goes through, and error text with file:line. */
#include "kjs_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* 32 bytes, so the payload keeps malloc's 16-byte alignment. */
struct kjs_block {
  kjs_block *prev, *next;
  size_t size;
  size_t reserved;
};
_Static_assert(sizeof(kjs_block) % 16 == 0, "block header must keep 16-byte alignment");

/* Instructions between two watchdog checks: Duktape's DUK_HTHREAD_INTCTR_DEFAULT,
 * which CMakeLists.txt sets in the build's copy of duktape.c and passes here. */
#if !defined(KJS_CHECK_INTERVAL)
#error "KJS_CHECK_INTERVAL comes from plugins/script_js/CMakeLists.txt"
#endif
#define KJS_STACK_LINES 8

/* The heap inside kjs_enter on this thread: the fatal handler's fallback
 * when Duktape calls it without udata (only its disabled assertions do). */
/* initial-exec, never __tls_get_addr: see renderer_null.c (LeakSanitizer). */
static _Thread_local kjs_vm *kjs_tls_vm __attribute__((tls_model("initial-exec")));

/* Headroom left below the last native-stack check: the deepest C path
 * between two checks (a call's setup, a regexp, a sort) fits in it.
 * Sanitizers make frames several times larger. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define KJS_STACK_MARGIN (768u * 1024u)
#else
#define KJS_STACK_MARGIN (192u * 1024u)
#endif

/* Lowest address this thread's C stack may reach, 0 when unknown (then
 * only Duktape's own depth limits apply), and the extra room raising the
 * error may use. Found once per thread. Read on every Duktape call, so the
 * initial-exec model: a plain %fs-relative load instead of __tls_get_addr
 * (these few bytes fit glibc's static TLS surplus for dlopen'ed objects). */
#define KJS_TLS _Thread_local __attribute__((tls_model("initial-exec")))
static KJS_TLS uintptr_t kjs_stack_floor;
static KJS_TLS uintptr_t kjs_stack_grace;
static KJS_TLS bool kjs_stack_probed;
static KJS_TLS bool kjs_stack_tripped;

static void kjs_stack_probe(void) {
  if (kjs_stack_probed) return;
  kjs_stack_probed = true;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
  void *addr = NULL;
  size_t size = 0;
  uintptr_t here = (uintptr_t)__builtin_frame_address(0);
  if (pthread_attr_getstack(&attr, &addr, &size) == 0 && addr && here > (uintptr_t)addr &&
      here < (uintptr_t)addr + size) {
    /* What is left below this frame, not the size: the static TLS sits at
     * the top of a thread's stack, and TSan's takes most of a 1 MB one. A
     * small stack keeps half of what is left as the margin. */
    size_t left = (size_t)(here - (uintptr_t)addr);
    size_t margin = left > 2u * KJS_STACK_MARGIN ? KJS_STACK_MARGIN : left / 2u;
    kjs_stack_floor = (uintptr_t)addr + margin;
    kjs_stack_grace = margin / 3u;
  }
  pthread_attr_destroy(&attr);
}

int kjs_native_stack_low(void) {
  /* The frame address, not a local's: ASan may keep locals on a fake stack. */
  uintptr_t here = (uintptr_t)__builtin_frame_address(0);
  if (kjs_stack_floor == 0 || here >= kjs_stack_floor) {
    kjs_stack_tripped = false;
    return 0;
  }
  /* First time below the floor: throw. While that error is being raised
   * (the errThrow hook is a call too) a little more room is allowed, so it
   * arrives as itself and not as Duktape's DoubleError. */
  if (!kjs_stack_tripped) {
    kjs_stack_tripped = true;
    return 1;
  }
  return here < kjs_stack_floor - kjs_stack_grace;
}

uint64_t kjs_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- allocator ---- */

static bool kjs_admit(kjs_vm *vm, size_t grow) {
  if (vm->limit && (grow > vm->limit || vm->bytes > vm->limit - grow)) {
    vm->refusals++;
    vm->refused = true;
    return false;
  }
  return true;
}

static void kjs_link(kjs_vm *vm, kjs_block *b) {
  b->prev = NULL;
  b->next = vm->blocks;
  if (vm->blocks) vm->blocks->prev = b;
  vm->blocks = b;
}

static void *kjs_alloc(void *udata, duk_size_t size) {
  kjs_vm *vm = udata;
  if (size == 0) return NULL; /* Duktape accepts NULL for a zero-size request */
  if (size > SIZE_MAX - sizeof(kjs_block) || !kjs_admit(vm, size)) return NULL;
  kjs_block *b = malloc(sizeof *b + size);
  if (!b) return NULL;
  b->size = size;
  kjs_link(vm, b);
  vm->bytes += size;
  return b + 1;
}

static void kjs_free(void *udata, void *ptr) {
  if (!ptr) return;
  kjs_vm *vm = udata;
  kjs_block *b = (kjs_block *)ptr - 1;
  if (b->prev)
    b->prev->next = b->next;
  else
    vm->blocks = b->next;
  if (b->next) b->next->prev = b->prev;
  vm->bytes -= b->size;
  free(b);
}

static void *kjs_realloc(void *udata, void *ptr, duk_size_t size) {
  kjs_vm *vm = udata;
  if (!ptr) return kjs_alloc(udata, size);
  if (size == 0) {
    kjs_free(udata, ptr);
    return NULL;
  }
  kjs_block *b = (kjs_block *)ptr - 1;
  size_t old = b->size;
  if (size > old && !kjs_admit(vm, size - old)) return NULL;
  if (size > SIZE_MAX - sizeof(kjs_block)) return NULL;
  kjs_block *nb = realloc(b, sizeof *nb + size);
  if (!nb) return NULL; /* the old block is untouched and still linked */
  /* The neighbours still point at the old address. */
  if (nb->prev)
    nb->prev->next = nb;
  else
    vm->blocks = nb;
  if (nb->next) nb->next->prev = nb;
  nb->size = size;
  vm->bytes = vm->bytes - old + size;
  return nb + 1;
}

static void kjs_free_all_blocks(kjs_vm *vm) {
  kjs_block *b = vm->blocks;
  while (b) {
    kjs_block *next = b->next;
    free(b);
    b = next;
  }
  vm->blocks = NULL;
  vm->bytes = 0;
}

/* ---- hooks named in duk_config.h ---- */

static uint64_t kjs_thread_cpu_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return kjs_now_ns();
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The entry's budget, on the thread running it: the wall clock first, and
 * the thread's CPU clock (a system call) only once the wall clock says the
 * budget could be spent. Past the backstop too, a call that has spent its
 * CPU time is reported as over budget (the real cause; a long compile is
 * not interruptible, so both may have passed at the first check), and the
 * backstop only when the thread got too little CPU to spend it. */
static kjs_stop kjs_budget_check(kjs_vm *vm, uint64_t now) {
  if (!vm->budget_ms) return KJS_STOP_NONE;
  bool past_backstop = now >= vm->backstop_ns;
  if (now < vm->check_at_ns && !past_backstop) return KJS_STOP_NONE;
  uint64_t used = kjs_thread_cpu_ns() - vm->cpu_start_ns;
  uint64_t budget = (uint64_t)vm->budget_ms * 1000000ull;
  if (used >= budget) return KJS_STOP_TIMEOUT;
  if (past_backstop) return KJS_STOP_BACKSTOP;
  vm->check_at_ns = now + (budget - used);
  return KJS_STOP_NONE;
}

int kjs_exec_timeout_check(void *udata) {
  kjs_vm *vm = udata;
  if (!vm) return 0;
  if (vm->stop != KJS_STOP_NONE) return 1;
  const keel_script_desc *d = &vm->script->desc;
  if (vm->interrupt && atomic_load_explicit(vm->interrupt, memory_order_relaxed))
    vm->stop = KJS_STOP_INTERRUPT;
  else if (d->instruction_budget && vm->instructions >= d->instruction_budget)
    vm->stop = KJS_STOP_INSTRUCTIONS;
  else
    vm->stop = kjs_budget_check(vm, kjs_now_ns());
  return vm->stop != KJS_STOP_NONE;
}

/* Wall-clock time wanted between two checks: a loop of built-ins that each
 * take long (a join of a big array, a costly regexp) is then checked after
 * about this long, or after one call when a single call takes longer. */
#define KJS_CHECK_TARGET_NS 1000000u

unsigned int kjs_exec_interval(void *udata) {
  kjs_vm *vm = udata;
  if (!vm) return KJS_CHECK_INTERVAL;
  uint64_t now = kjs_now_ns();
  uint32_t ran = vm->interval ? vm->interval : KJS_CHECK_INTERVAL;
  vm->instructions += ran;
  uint64_t took = vm->last_interrupt_ns && now > vm->last_interrupt_ns ? now - vm->last_interrupt_ns : 0;
  uint64_t next = ran;
  if (took > KJS_CHECK_TARGET_NS)
    next = (uint64_t)ran * KJS_CHECK_TARGET_NS / took; /* costly instructions: check sooner */
  else if (took < KJS_CHECK_TARGET_NS / 4)
    next = (uint64_t)ran * 2; /* cheap ones: back towards the normal spacing, gradually */
  if (next > KJS_CHECK_INTERVAL) next = KJS_CHECK_INTERVAL;
  if (next < 1) next = 1;
  const keel_script_desc *d = &vm->script->desc;
  if (d->instruction_budget) {
    uint64_t left = d->instruction_budget > vm->instructions ? d->instruction_budget - vm->instructions : 1;
    if (next > left) next = left; /* the instruction budget stops on time */
  }
  vm->interval = (uint32_t)next;
  vm->last_interrupt_ns = now;
  return (uint32_t)next;
}

static double kjs_game_ms(const keel_script *s) {
  uint64_t bits = atomic_load_explicit(&s->tick_time_bits, memory_order_relaxed);
  double t;
  memcpy(&t, &bits, sizeof t);
  return floor(t * 1000.0);
}

double kjs_date_now(void *ctx) {
  kjs_vm *vm = ctx ? kjs_vm_of(ctx) : NULL;
  if (vm && vm->script && vm->script->desc.lockstep) return kjs_game_ms(vm->script);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return floor((double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6);
}

double kjs_monotonic_ms(void *ctx) {
  kjs_vm *vm = ctx ? kjs_vm_of(ctx) : NULL;
  if (vm && vm->script && vm->script->desc.lockstep) return kjs_game_ms(vm->script);
  return (double)kjs_now_ns() / 1e6;
}

int kjs_local_tzoffset(double d) {
  (void)d;
  return 0;
}

void kjs_fatal_handler(void *udata, const char *msg) {
  kjs_vm *vm = udata ? (kjs_vm *)udata : kjs_tls_vm;
  if (vm) {
    vm->dead = true;
    snprintf(vm->fatal_msg, sizeof vm->fatal_msg, "%s", msg ? msg : "(no message)");
    const keel_host *host = vm->script ? vm->script->host : NULL;
    if (host && host->log)
      host->log(host, KEEL_LOG_ERROR, "Duktape fatal error in the %s heap, the heap is stopped: %s",
                vm->pool ? "one-off" : "game", vm->fatal_msg);
    if (vm->fatal_jmp) longjmp(*vm->fatal_jmp, 1);
  }
  /* Unreachable: every Duktape call of this plugin runs inside kjs_enter or
   * a boundary of its own. Duktape must not regain control and abort() is
   * ruled out, so this thread parks. */
  fprintf(stderr, "keel js: Duktape fatal error outside any boundary: %s\n", msg ? msg : "");
  for (;;) pause();
}

/* ---- heap life ---- */

/* ---- where an error comes from ----
 * Every message keeps file:line whatever the script does to errors and
 * prototypes: the location and the stack lines are taken from the call
 * stack when an Error is created (Duktape.errCreate) and when anything is
 * thrown (Duktape.errThrow), never from the error's fileName, lineNumber or
 * stack properties, which a script may redefine as getters that throw or
 * loop (the stack's first line even calls Error.prototype.toString). An
 * Error keeps them under hidden keys a script cannot name. */

typedef struct kjs_prop_read {
  const char *key;
  char *out;
  size_t cap;
} kjs_prop_read;

/* [fn] -> [fn]; out = fn[key] when it is a string. A safe call's body: the
 * property may be a script's getter. */
static duk_ret_t kjs_read_string_body(duk_context *ctx, void *udata) {
  kjs_prop_read *r = udata;
  duk_get_prop_string(ctx, -1, r->key);
  if (duk_is_string(ctx, -1) && !duk_is_symbol(ctx, -1)) snprintf(r->out, r->cap, "%s", duk_get_string(ctx, -1));
  duk_pop(ctx);
  return 0;
}

static void kjs_read_string(duk_context *ctx, const char *key, char *out, size_t cap) {
  out[0] = '\0';
  kjs_prop_read r = {key, out, cap};
  duk_dup_top(ctx); /* the safe call takes this copy */
  duk_safe_call(ctx, kjs_read_string_body, &r, 1, 1);
  duk_pop(ctx); /* its result */
}

/* The location ("file:line" of the nearest frame that has a file) and up to
 * KJS_STACK_LINES stack lines, from the call stack below the hook. */
static void kjs_capture(duk_context *ctx, char *where, size_t wcap, char *trace, size_t tcap) {
  where[0] = '\0';
  trace[0] = '\0';
  size_t used = 0;
  int lines = 0;
  for (duk_int_t level = -2; level >= -64 && lines < KJS_STACK_LINES; level--) {
    duk_inspect_callstack_entry(ctx, level); /* a bare object: no script code */
    if (!duk_is_object(ctx, -1)) {
      duk_pop(ctx);
      break;
    }
    duk_get_prop_string(ctx, -1, "lineNumber");
    long line = (long)duk_get_int(ctx, -1);
    duk_pop(ctx);
    duk_get_prop_string(ctx, -1, "function");
    char file[96] = "", name[64] = "";
    if (duk_is_object(ctx, -1)) {
      kjs_read_string(ctx, "fileName", file, sizeof file);
      kjs_read_string(ctx, "name", name, sizeof name);
    }
    duk_pop_2(ctx);
    if (file[0] && !where[0]) snprintf(where, wcap, "%s:%ld", file, line);
    int n;
    if (file[0])
      n = snprintf(trace + used, tcap - used, "%s    at %s (%s:%ld)", lines ? "\n" : "", name[0] ? name : "[anon]",
                   file, line);
    else
      n = snprintf(trace + used, tcap - used, "%s    at %s (native)", lines ? "\n" : "", name[0] ? name : "[anon]");
    if (n < 0 || (size_t)n >= tcap - used) break;
    used += (size_t)n;
    lines++;
  }
}

/* Duktape.errCreate: stores where the Error was made on it, out of reach. */
static duk_ret_t kjs_on_create_body(duk_context *ctx, void *udata) {
  (void)udata;
  char where[128], trace[1024];
  kjs_capture(ctx, where, sizeof where, trace, sizeof trace);
  duk_push_string(ctx, where);
  duk_put_prop_string(ctx, -2, KJS_WHERE);
  duk_push_string(ctx, trace);
  duk_put_prop_string(ctx, -2, KJS_TRACE);
  return 0;
}

static duk_ret_t kjs_on_create(duk_context *ctx) {
  duk_set_top(ctx, 1);
  if (duk_is_object(ctx, 0)) {
    duk_dup(ctx, 0);
    /* A failure here (memory) must not replace the error being made. */
    duk_safe_call(ctx, kjs_on_create_body, NULL, 1, 1);
    duk_pop(ctx);
  }
  return 1;
}

/* Duktape.errThrow: where any value was thrown (the location of a thrown
 * string or object, which carry none of their own). */
static duk_ret_t kjs_on_throw(duk_context *ctx) {
  duk_set_top(ctx, 1);
  kjs_vm *vm = kjs_vm_of(ctx);
  if (vm->keep_throw_where) { /* a rethrow from C (require): the first throw's site stays */
    vm->keep_throw_where = false;
    return 1;
  }
  kjs_capture(ctx, vm->throw_where, sizeof vm->throw_where, vm->throw_trace, sizeof vm->throw_trace);
  return 1;
}

static duk_ret_t kjs_math_random(duk_context *ctx) {
  kjs_vm *vm = kjs_vm_of(ctx);
  duk_push_number(ctx, keel_script_random_unit(&vm->rng));
  return 1;
}

static duk_ret_t kjs_setup(duk_context *ctx, void *udata) {
  kjs_vm *vm = udata;
  duk_get_global_string(ctx, "Duktape");
  duk_push_c_function(ctx, kjs_on_throw, 1);
  duk_put_prop_string(ctx, -2, "errThrow");
  duk_push_c_function(ctx, kjs_on_create, 1);
  duk_put_prop_string(ctx, -2, "errCreate");
  duk_pop(ctx);
  /* The sandbox: nothing of Duktape's own object stays reachable (fin runs
   * script code at GC time, errCreate/errThrow rewrite errors, Thread,
   * act, info, env and gc expose the engine). The internal reference the
   * errThrow hook is read through is not the global binding. */
  static const char *const removed[] = {"Duktape", "require", "print", "alert", "module", "exports"}; /* require: ours below */
  for (size_t i = 0; i < sizeof removed / sizeof removed[0]; i++) {
    duk_push_global_object(ctx);
    duk_del_prop_string(ctx, -1, removed[i]);
    duk_pop(ctx);
  }
  duk_get_global_string(ctx, "Math");
  duk_push_c_function(ctx, kjs_math_random, 0);
  duk_put_prop_string(ctx, -2, "random");
  duk_pop(ctx);
  kjs_api_install(ctx, vm->pool);
  kjs_input_install(ctx, vm->pool);
  kjs_require_install(ctx);
  return 0;
}

/* The setjmp boundaries live in functions of their own, so no local of a
 * longer function is ever live across a longjmp. */
static void kjs_create_heap(kjs_vm *vm) {
  jmp_buf jb;
  vm->fatal_jmp = &jb;
  if (setjmp(jb) == 0) vm->ctx = duk_create_heap(kjs_alloc, kjs_realloc, kjs_free, vm, kjs_fatal_handler);
  vm->fatal_jmp = NULL;
}

static void kjs_destroy_heap(kjs_vm *vm) {
  jmp_buf jb;
  vm->fatal_jmp = &jb;
  if (setjmp(jb) == 0) duk_destroy_heap(vm->ctx);
  vm->fatal_jmp = NULL;
}

kjs_vm *kjs_vm_create(keel_script *script, bool pool, keel_message *error) {
  kjs_vm *vm = calloc(1, sizeof *vm);
  if (!vm) {
    if (error) snprintf(error->text, sizeof error->text, "js: out of memory creating a heap");
    return NULL;
  }
  const keel_script_desc *d = &script->desc;
  vm->script = script;
  vm->pool = pool;
  vm->limit = (size_t)d->memory_limit_mb * 1024u * 1024u;
  vm->interrupt = pool ? NULL : &script->interrupt;
  vm->rng = d->seed;

  kjs_create_heap(vm);
  if (!vm->ctx || vm->dead) {
    if (error)
      snprintf(error->text, sizeof error->text, "js: cannot create a Duktape heap%s%s", vm->dead ? ": " : "",
               vm->dead ? vm->fatal_msg : (vm->refused ? " within memory_limit_mb" : ""));
    vm->ctx = NULL;
    kjs_vm_destroy(vm);
    return NULL;
  }
  if (kjs_enter(vm, kjs_setup, vm, d->tick_budget_ms, "tick") != 0) {
    if (error)
      snprintf(error->text, sizeof error->text, "js: setting up the heap failed: %.200s",
               vm->first_set ? vm->first.text : vm->fatal_msg);
    kjs_vm_destroy(vm);
    return NULL;
  }
  vm->first_set = false;
  vm->calls = vm->errors = vm->interrupts = 0;
  return vm;
}

void kjs_vm_destroy(kjs_vm *vm) {
  if (!vm) return;
  /* No script code runs here: Duktape.fin is gone, so no object has a
   * finalizer. The boundary is only for a fatal error during teardown. */
  if (vm->ctx && !vm->dead) kjs_destroy_heap(vm);
  vm->ctx = NULL;
  kjs_free_all_blocks(vm); /* everything after a fatal error; nothing otherwise */
  free(vm->cb_ids);
  free(vm->cb_free);
  free(vm);
}

/* ---- entries ---- */

static void kjs_note_first(kjs_vm *vm, const char *text) {
  if (vm->first_set) return;
  /* Truncated to the message's capacity on purpose: the log has it whole. */
  size_t n = strlen(text);
  if (n > sizeof vm->first.text - 1) n = sizeof vm->first.text - 1;
  memcpy(vm->first.text, text, n);
  vm->first.text[n] = '\0';
  vm->first_set = true;
}

/* duk_safe_call inside the fatal-error boundary: -1 when the heap died. */
static int kjs_guarded(kjs_vm *vm, duk_safe_call_function fn, void *udata) {
  kjs_stack_probe();
  jmp_buf jb;
  jmp_buf *prev_jmp = vm->fatal_jmp;
  kjs_vm *prev_tls = kjs_tls_vm;
  vm->fatal_jmp = &jb;
  kjs_tls_vm = vm;
  volatile int rc = -1;
  if (setjmp(jb) == 0) {
    rc = duk_safe_call(vm->ctx, fn, udata, 0, 1);
    if (rc != DUK_EXEC_SUCCESS) {
      /* The body itself failed outside the calls it protects (memory, most
       * likely): the value is still an error worth reporting. */
      kjs_report_error(vm, "js");
    } else {
      duk_pop(vm->ctx);
    }
  }
  vm->fatal_jmp = prev_jmp;
  kjs_tls_vm = prev_tls;
  return vm->dead ? -1 : rc;
}

int kjs_enter(kjs_vm *vm, duk_safe_call_function fn, void *udata, uint32_t budget_ms, const char *budget_name) {
  vm->first_set = false;
  vm->first.text[0] = '\0';
  if (vm->dead || !vm->ctx) return -1;
  if (vm->interrupt) atomic_store_explicit(vm->interrupt, false, memory_order_relaxed);
  vm->stop = KJS_STOP_NONE;
  vm->refused = false;
  vm->throw_where[0] = '\0';
  vm->throw_trace[0] = '\0';
  uint64_t now = kjs_now_ns();
  vm->budget_ms = budget_ms;
  vm->budget_name = budget_name;
  vm->cpu_start_ns = kjs_thread_cpu_ns();
  vm->check_at_ns = now + (uint64_t)budget_ms * 1000000ull;
  vm->backstop_ns = now + keel_script_backstop_ms(budget_ms) * 1000000ull;
  vm->instructions = 0;
  vm->last_interrupt_ns = now;

  int rc = kjs_guarded(vm, fn, udata);
  if (rc < 0) {
    char text[sizeof vm->fatal_msg + 32];
    snprintf(text, sizeof text, "Duktape fatal error: %s", vm->fatal_msg);
    kjs_note_first(vm, text);
  }
  if (vm->stop != KJS_STOP_NONE) vm->interrupts++;
  vm->stop = KJS_STOP_NONE;
  vm->budget_ms = 0;
  return rc;
}

/* ---- error text ---- */

typedef struct kjs_fmt {
  kjs_vm *vm;
  char *out;
  size_t cap;
} kjs_fmt;

static void kjs_appendf(char *out, size_t cap, const char *fmt, ...) {
  size_t len = strlen(out);
  if (len + 1 >= cap) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out + len, cap - len, fmt, ap);
  va_end(ap);
}

static const char *kjs_stop_text(const kjs_vm *vm, char *buf, size_t cap) {
  const keel_script_desc *d = &vm->script->desc;
  switch (vm->stop) {
    case KJS_STOP_TIMEOUT:
      snprintf(buf, cap, "%s budget of %u ms exceeded", vm->budget_name ? vm->budget_name : "tick", vm->budget_ms);
      return buf;
    case KJS_STOP_BACKSTOP:
      snprintf(buf, cap, "%s stopped after %llu ms of wall-clock time (the backstop of a %u ms budget)",
               vm->budget_name ? vm->budget_name : "tick", (unsigned long long)keel_script_backstop_ms(vm->budget_ms),
               vm->budget_ms);
      return buf;
    case KJS_STOP_INSTRUCTIONS:
      snprintf(buf, cap, "instruction budget of %llu exceeded", (unsigned long long)d->instruction_budget);
      return buf;
    case KJS_STOP_INTERRUPT: return "interrupted";
    case KJS_STOP_NONE: break;
  }
  return NULL;
}

/* Duktape's own texts for the limits a script can run into, and the ones
 * the shared API reference uses for them. */
static const char *kjs_runtime_text(const char *msg) {
  static const char *const overflow[] = {"callstack limit", "C stack depth limit", "valstack limit",
                                         "compiler recursion limit"};
  if (!msg) return NULL;
  if (strcmp(msg, "alloc failed") == 0) return "not enough memory";
  /* The compiler appends " (line N)". */
  for (size_t i = 0; i < sizeof overflow / sizeof overflow[0]; i++)
    if (strncmp(msg, overflow[i], strlen(overflow[i])) == 0) return "stack overflow";
  return NULL;
}

/* Where an error comes from: its location and stack lines. */
typedef struct kjs_loc {
  char where[128];
  char trace[1024];
} kjs_loc;

/* [value] -> [value]: an object's hidden keys (no getter and no Proxy trap
 * can answer those) replace the throw site in *udata; an Error made before
 * any script frame existed (a syntax error of the main script) gives its
 * fileName and lineNumber instead. Protected by the caller: the latter two
 * may be a script's getters. */
static duk_ret_t kjs_where_body(duk_context *ctx, void *udata) {
  kjs_loc *l = udata;
  /* A safe call keeps the caller's frame: the argument is on top, not at 0. */
  duk_idx_t ev = duk_normalize_index(ctx, -1);
  if (duk_is_object(ctx, ev)) {
    duk_get_prop_string(ctx, ev, KJS_WHERE);
    if (duk_is_string(ctx, -1) && duk_get_length(ctx, -1) > 0) {
      snprintf(l->where, sizeof l->where, "%s", duk_get_string(ctx, -1));
      duk_get_prop_string(ctx, ev, KJS_TRACE);
      snprintf(l->trace, sizeof l->trace, "%s", duk_is_string(ctx, -1) ? duk_get_string(ctx, -1) : "");
      return 0;
    }
    duk_pop(ctx);
  }
  if (!l->where[0] && duk_is_error(ctx, ev)) {
    duk_get_prop_string(ctx, ev, "fileName");
    duk_get_prop_string(ctx, ev, "lineNumber");
    if (duk_is_string(ctx, -2) && duk_is_number(ctx, -1))
      snprintf(l->where, sizeof l->where, "%s:%ld", duk_get_string(ctx, -2), (long)duk_get_int(ctx, -1));
  }
  return 0;
}

/* [value] -> [value]: the text after "file:line: ". Script code may run (a
 * message getter, an object's toString), so the caller protects it. */
static duk_ret_t kjs_text_body(duk_context *ctx, void *udata) {
  kjs_fmt *f = udata;
  kjs_vm *vm = f->vm;
  duk_idx_t ev = duk_normalize_index(ctx, -1); /* the safe call's argument, on top */
  char stopbuf[96];
  const char *stop = kjs_stop_text(vm, stopbuf, sizeof stopbuf);
  f->out[0] = '\0';
  if (duk_is_error(ctx, ev)) {
    duk_get_prop_string(ctx, ev, "message");
    const char *msg = duk_is_string(ctx, -1) && !duk_is_symbol(ctx, -1) ? duk_get_string(ctx, -1) : "";
    const char *mapped = stop ? stop : kjs_runtime_text(msg);
    if (mapped) {
      snprintf(f->out, f->cap, "%s", mapped);
    } else {
      duk_get_prop_string(ctx, ev, "name");
      const char *name = duk_is_string(ctx, -1) && !duk_is_symbol(ctx, -1) ? duk_get_string(ctx, -1) : "";
      /* A plain Error reads like Lua's error(): just its text. */
      if (name[0] && strcmp(name, "Error") != 0) kjs_appendf(f->out, f->cap, "%s: ", name);
      kjs_appendf(f->out, f->cap, "%s", msg);
      duk_pop(ctx);
    }
    duk_pop(ctx);
  } else if (stop) {
    snprintf(f->out, f->cap, "%s", stop);
  } else if (duk_is_symbol(ctx, ev)) {
    snprintf(f->out, f->cap, "(a symbol)");
  } else {
    duk_dup(ctx, ev);
    snprintf(f->out, f->cap, "%s", duk_to_string(ctx, -1)); /* an object's toString runs here */
    duk_pop(ctx);
  }
  return 0;
}

void kjs_describe_error(kjs_vm *vm, char *out, size_t cap) {
  duk_context *ctx = vm->ctx;
  /* The throw site, copied before anything below throws again. */
  kjs_loc loc;
  snprintf(loc.where, sizeof loc.where, "%s", vm->throw_where);
  snprintf(loc.trace, sizeof loc.trace, "%s", vm->throw_trace);
  duk_idx_t base = duk_get_top(ctx) - 1;
  bool is_error = duk_is_error(ctx, base);
  duk_dup(ctx, base);
  duk_safe_call(ctx, kjs_where_body, &loc, 1, 1);
  duk_pop(ctx);
  /* The text, separately: if describing the value raises, the location stays. */
  char text[600] = "";
  kjs_fmt ft = {vm, text, sizeof text};
  duk_dup(ctx, base);
  if (duk_safe_call(ctx, kjs_text_body, &ft, 1, 1) != DUK_EXEC_SUCCESS || !text[0]) {
    char stopbuf[96];
    const char *stop = kjs_stop_text(vm, stopbuf, sizeof stopbuf);
    snprintf(text, sizeof text, "%s",
             stop       ? stop
             : is_error ? "(an error whose name or message could not be read: reading it raised another error)"
                        : "(a thrown value that could not be described: its toString raised an error)");
  }
  duk_pop(ctx);
  out[0] = '\0';
  if (loc.where[0]) kjs_appendf(out, cap, "%s: ", loc.where);
  kjs_appendf(out, cap, "%s", text);
  /* Stack lines for Errors; a thrown string or object gets its line only. */
  if (is_error && loc.trace[0]) kjs_appendf(out, cap, "\n%s", loc.trace);
  duk_pop(ctx); /* the value */
}

static void kjs_report(kjs_vm *vm, const char *what, const char *name) {
  vm->errors++;
  char text[1024];
  kjs_describe_error(vm, text, sizeof text);
  /* The same context words as the Lua runtime's log lines. */
  const keel_host *h = vm->script->host;
  if (what && name)
    h->log(h, KEEL_LOG_ERROR, "%s for '%s': %s", what, name, text);
  else if (what)
    h->log(h, KEEL_LOG_ERROR, "%s: %s", what, text);
  else
    h->log(h, KEEL_LOG_ERROR, "%s", text);
  kjs_note_first(vm, text);
}

void kjs_report_error(kjs_vm *vm, const char *what) { kjs_report(vm, what, NULL); }

void kjs_record_error(kjs_vm *vm) {
  vm->errors++;
  char text[1024];
  kjs_describe_error(vm, text, sizeof text);
  kjs_note_first(vm, text);
}

bool kjs_call_named(kjs_vm *vm, duk_idx_t nargs, const char *what, const char *name) {
  vm->calls++;
  if (duk_pcall(vm->ctx, nargs) == DUK_EXEC_SUCCESS) {
    duk_pop(vm->ctx);
    return true;
  }
  kjs_report(vm, what, name);
  return false;
}

bool kjs_call(kjs_vm *vm, duk_idx_t nargs, const char *what) { return kjs_call_named(vm, nargs, what, NULL); }
