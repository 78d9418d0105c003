/* The pool of ready Lua states for one-off scripts (console exec, cvar
 * handlers on job workers): any thread may run code on a pool VM, never on the
 * game VM, and creating a state per run (about 60 us) is what the pool saves.
 * A mutex-protected free list: two uncontended lock/unlock pairs per run. */
#include "klua.h"

#include <stdlib.h>
#include <string.h>

static klua_vm *klua_pool_new_vm(klua_script *s, keel_message *error) {
  klua_vm *vm = malloc(sizeof *vm);
  if (!vm) {
    klua_message_set(error, "one-off pool: out of memory");
    return NULL;
  }
  if (!klua_vm_open(vm, s, true, error)) {
    free(vm);
    return NULL;
  }
  return vm;
}

keel_result klua_pool_init(klua_script *s, keel_message *error) {
  klua_pool *p = &s->pool;
  memset(p, 0, sizeof *p);
  if (pthread_mutex_init(&p->mu, NULL) != 0) {
    klua_message_set(error, "one-off pool: cannot create its mutex");
    return KEEL_ERR_BACKEND;
  }
  for (uint32_t i = 0; i < KLUA_POOL_INITIAL; i++) {
    klua_vm *vm = klua_pool_new_vm(s, error);
    if (!vm) {
      klua_pool_destroy(s);
      return KEEL_ERR_OUT_OF_MEMORY;
    }
    p->all[p->total++] = vm;
    vm->next_free = p->free_list;
    p->free_list = vm;
  }
  return KEEL_OK;
}

/* Every VM must have been released (no one-off running). */
void klua_pool_destroy(klua_script *s) {
  klua_pool *p = &s->pool;
  for (uint32_t i = 0; i < KLUA_POOL_MAX; i++) {
    if (!p->all[i]) continue;
    klua_vm_close(p->all[i]);
    free(p->all[i]);
    p->all[i] = NULL;
  }
  p->free_list = NULL;
  p->total = 0;
  pthread_mutex_destroy(&p->mu);
}

klua_vm *klua_pool_acquire(klua_script *s, keel_message *error) {
  klua_pool *p = &s->pool;
  klua_vm *vm;
  uint32_t slot = KLUA_POOL_MAX;
  pthread_mutex_lock(&p->mu);
  vm = p->free_list;
  if (vm) {
    p->free_list = vm->next_free;
  } else if (p->total < KLUA_POOL_MAX) {
    for (slot = 0; slot < KLUA_POOL_MAX && (p->all[slot] || (p->building & (1u << slot))); slot++) {
    }
    if (slot < KLUA_POOL_MAX) {
      p->building |= 1u << slot; /* reserved; the state is built outside the lock */
      p->total++;
    }
  }
  pthread_mutex_unlock(&p->mu);
  if (!vm) {
    if (slot == KLUA_POOL_MAX) {
      klua_message_set(error, "one-off pool exhausted: all %d Lua states are busy", KLUA_POOL_MAX);
      return NULL;
    }
    vm = klua_pool_new_vm(s, error);
    pthread_mutex_lock(&p->mu);
    p->building &= ~(1u << slot);
    if (vm)
      p->all[slot] = vm;
    else
      p->total--;
    pthread_mutex_unlock(&p->mu);
    if (!vm) return NULL;
  }
  vm->rng = s->seed; /* every run draws the same sequence */
  vm->instr_used = 0;
  vm->mem_tripped = false;
  vm->mem_crossed = false;
  vm->hook_msg = NULL;
  klua_budget_start(vm, s->budget_ns, "tick");
  vm->in_call = true;
  return vm;
}

void klua_pool_release(klua_script *s, klua_vm *vm) {
  klua_pool *p = &s->pool;
  lua_settop(vm->L, KLUA_POOL_BASE_TOP);
  vm->in_call = false;
  atomic_store_explicit(&vm->stop, KLUA_STOP_NONE, memory_order_relaxed);
  klua_arm_main(vm); /* back to the self-checking count if a stop set it to 1 */
  if (vm->refusals) {
    atomic_fetch_add_explicit(&s->pool_refusals, vm->refusals, memory_order_relaxed);
    vm->refusals = 0;
  }
  pthread_mutex_lock(&p->mu);
  vm->next_free = p->free_list;
  p->free_list = vm;
  pthread_mutex_unlock(&p->mu);
}

/* Runs the chunk at index 1 and formats what it returned, inside the
 * protected call because __tostring metamethods are script code. */
static int klua_oneoff_body(lua_State *L) {
  lua_call(L, 0, LUA_MULTRET);
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_tolstring(L, i, NULL);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  return 1;
}

static int klua_gc_body(lua_State *L) {
  lua_gc(L, LUA_GCCOLLECT);
  return 0;
}

keel_result klua_oneoff_run(klua_script *s, const char *code, keel_message *result) {
  if (!s || !code) {
    klua_message_set(result, "oneoff_run: no script or no code");
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  klua_vm *vm = klua_pool_acquire(s, result);
  if (!vm) return KEEL_ERR_FULL;
  lua_State *L = vm->L;
  atomic_fetch_add_explicit(&s->pool_calls, 1, memory_order_relaxed);
  int st = luaL_loadbufferx(L, code, strlen(code), "=exec", "t");
  if (st == LUA_OK) {
    lua_pushcfunction(L, klua_oneoff_body);
    lua_insert(L, -2);
    st = lua_pcall(L, 1, 1, KLUA_SLOT_MSGH);
  }
  const char *text = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
  klua_message_set(result, "%s", text);
  keel_result r = KEEL_OK;
  if (st != LUA_OK) {
    int stop = atomic_load_explicit(&vm->stop, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->pool_errors, 1, memory_order_relaxed);
    if (stop >= KLUA_STOP_BUDGET) atomic_fetch_add_explicit(&s->pool_interrupts, 1, memory_order_relaxed);
    r = KEEL_ERR_SCRIPT;
  }
  lua_settop(L, KLUA_POOL_BASE_TOP);
  if (vm->limit && (vm->used > vm->soft_limit || vm->mem_crossed)) {
    /* still inside the run's budget: the next user gets a VM under its cap */
    lua_pushcfunction(L, klua_gc_body);
    lua_pcall(L, 0, 0, KLUA_SLOT_MSGH);
  }
  klua_pool_release(s, vm);
  return r;
}
