// keel-test-labels: plugin
// keel-test-depends: script_lua
/* Crash isolation of the Lua runtime: syntax and runtime errors, errors in
 * callbacks and cvar handlers, runaway loops (also ones that swallow errors
 * or hide in coroutines), the instruction budget, interrupt() from another
 * thread, deep recursion and memory bombs. After each one the next tick must
 * run (the script's tick counter moves) and the log must carry file:line. */
#include "test_script_lua.h"

#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUDGET_MS 100

static lt_opts limit_opts(void) {
  lt_opts o = {.budget_ms = BUDGET_MS, .memory_mb = 64, .seed = 1};
  return o;
}

/* Runs errors.lua's case `name` for one tick; returns the tick's result and
 * how long it took. */
static keel_result run_case(lt *t, const char *name, double *ms) {
  lt_set(t, "case", name);
  uint64_t t0 = kt_now_ns();
  keel_result r = lt_tick(t);
  if (ms) *ms = (double)(kt_now_ns() - t0) / 1e6;
  lt_set(t, "case", "");
  return r;
}

/* The next tick runs normally and counts itself. */
static void assert_next_tick_runs(lt *t) {
  int64_t before = lt_cvar(t, "ticks")->i;
  keel_result r = lt_tick(t);
  if (r != KEEL_OK) fprintf(stderr, "\nnext tick failed: %s\n", t->err.text);
  CU_ASSERT_EQUAL(r, KEEL_OK);
  CU_ASSERT_EQUAL(lt_cvar(t, "ticks")->i, before + 1);
}

static void open_errors(lt *t) {
  lt_opts o = limit_opts();
  CU_ASSERT_EQUAL_FATAL(lt_open_with(t, "errors.lua", &o), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(t), KEEL_OK);
}

/* The error is errors.lua:<line of marker>: <text>, in *error and in the log. */
static void assert_error_at(lt *t, const char *marker, const char *text) {
  char want[256];
  snprintf(want, sizeof want, "errors.lua:%d: %s", lt_line_of("errors.lua", marker), text);
  CU_ASSERT(lt_err_is(t, want));
  LT_LOG_HAS(t, want);
}

/* ---- errors ------------------------------------------------------------------ */

static void test_syntax_error(void) {
  lt t;
  lt_opts o = limit_opts();
  CU_ASSERT_EQUAL_FATAL(lt_open_with(&t, "syntax.lua", &o), KEEL_OK);
  CU_ASSERT_EQUAL(lt_init(&t), KEEL_ERR_SCRIPT);
  char want[64];
  snprintf(want, sizeof want, "syntax.lua:%d: unexpected symbol near '='", lt_line_of("syntax.lua", "syntax"));
  CU_ASSERT(lt_err_is(&t, want));
  LT_LOG_HAS(&t, want);
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_OK); /* nothing was defined: the tick runs and does nothing */
  CU_ASSERT_EQUAL(lt_stats(&t).errors, 1);
  lt_close(&t);
}

static void test_runtime_errors(void) {
  lt t;
  open_errors(&t);
  CU_ASSERT_EQUAL(run_case(&t, "runtime", NULL), KEEL_ERR_SCRIPT);
  assert_error_at(&t, "runtime", "attempt to index a nil value (local 't')");
  LT_LOG_HAS(&t, "update(dt): errors.lua:");
  KT_ASSERT_CONTAINS(t.err.text, "stack traceback:");
  assert_next_tick_runs(&t);
  CU_ASSERT_EQUAL(run_case(&t, "raise", NULL), KEEL_ERR_SCRIPT);
  assert_error_at(&t, "raise", "boom from errors.lua");
  assert_next_tick_runs(&t);
  CU_ASSERT_EQUAL(run_case(&t, "destroyed", NULL), KEEL_ERR_SCRIPT);
  char want[128];
  snprintf(want, sizeof want, "errors.lua:%d: entity.update: id ", lt_line_of("errors.lua", "destroyed"));
  KT_ASSERT_CONTAINS(t.err.text, want);
  KT_ASSERT_CONTAINS(t.err.text, " is not a live entity");
  assert_next_tick_runs(&t);
  CU_ASSERT_EQUAL(run_case(&t, "require_broken", NULL), KEEL_ERR_SCRIPT);
  snprintf(want, sizeof want, "lib/broken.lua:%d:", lt_line_of("lib/broken.lua", "broken"));
  KT_ASSERT_CONTAINS(t.err.text, want);
  assert_next_tick_runs(&t);
  keel_script_stats st = lt_stats(&t);
  CU_ASSERT_EQUAL(st.errors, 4);
  CU_ASSERT_EQUAL(st.interrupts, 0);
  lt_close(&t);
}

/* ---- watchdog ---------------------------------------------------------------- */

static void check_runaway(const char *name, const char *marker) {
  lt t;
  open_errors(&t);
  double ms = 0;
  CU_ASSERT_EQUAL(run_case(&t, name, &ms), KEEL_ERR_SCRIPT);
  char text[64];
  snprintf(text, sizeof text, "tick budget of %d ms exceeded", BUDGET_MS);
  if (marker)
    assert_error_at(&t, marker, text);
  else
    KT_ASSERT_CONTAINS(t.err.text, text);
  LT_LOG_HAS(&t, "errors.lua:");
  /* stopped near the budget; generous upper bound for sanitizer builds on a
   * loaded machine */
  CU_ASSERT(ms >= BUDGET_MS - 1);
  CU_ASSERT(ms < BUDGET_MS + 900);
  if (ms >= BUDGET_MS + 900) fprintf(stderr, "\n%s stopped after %.1f ms\n", name, ms);
  CU_ASSERT_EQUAL(lt_stats(&t).interrupts, 1);
  assert_next_tick_runs(&t);
  assert_next_tick_runs(&t);
  lt_close(&t);
}

static void test_runaway_loop(void) { check_runaway("runaway", "runaway"); }
static void test_swallowing_runaway(void) { check_runaway("swallow", "swallow"); }
static void test_swallowing_xpcall_runaway(void) { check_runaway("swallow_xpcall", NULL); }
static void test_coroutine_runaway(void) { check_runaway("coroutine", NULL); }
static void test_coroutine_swallowing_runaway(void) { check_runaway("coroutine_swallow", NULL); }

/* Opens `text` as <tmp>/name (its own game dir) with `o`. */
static keel_result open_source(lt *t, const char *name, const char *text, lt_opts *o) {
  const char *path = kt_write_temp(name, text);
  static char dir[512];
  snprintf(dir, sizeof dir, "%s", path);
  *strrchr(dir, '/') = '\0';
  o->game_dir = dir;
  return lt_open_with(t, name, o);
}

/* The budget counts the script thread's CPU time: wall-clock time that
 * passes without CPU (a busy machine, here a host call that sleeps) does
 * not stop an innocent tick; the wall-clock backstop still does. */
static void test_budget_is_cpu_time(void) {
  lt t;
  lt_opts o = {.budget_ms = 50, .memory_mb = 64, .seed = 1};
  CU_ASSERT_EQUAL_FATAL(open_source(&t, "sleepy.lua",
                                    "function update()\n"
                                    "  local n = tonumber(cvar.get('code')) or 0\n"
                                    "  for i = 1, n do log.info('@sleep-ms:5') end\n"
                                    "end\n",
                                    &o),
                        KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  lt_set(&t, "code", "60"); /* 300 ms of wall-clock time, a 50 ms budget */
  keel_result r = lt_tick(&t);
  if (r != KEEL_OK) fprintf(stderr, "\ninnocent tick stopped: %s\n", t.err.text);
  CU_ASSERT_EQUAL(r, KEEL_OK);
  lt_set(&t, "code", "400"); /* 2 s: past the 1.5 s backstop */
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "sleepy.lua:3: tick stopped after 1500 ms of wall-clock time (the backstop of a 50 ms budget)");
  lt_set(&t, "code", "0");
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_OK);
  lt_close(&t);
}

/* Loading is not a tick: the main chunk and init() get load_budget_ms. */
static void test_load_budget(void) {
  const char *heavy = "local x = 0\n"
                      "for i = 1, 3e7 do x = x + i end\n" /* far more than 20 ms of CPU */
                      "function init() end\n";
  lt t;
  lt_opts o = {.budget_ms = 20, .load_budget_ms = 60000, .memory_mb = 64, .seed = 1};
  CU_ASSERT_EQUAL_FATAL(open_source(&t, "heavy.lua", heavy, &o), KEEL_OK);
  keel_result r = lt_init(&t);
  if (r != KEEL_OK) fprintf(stderr, "\nheavy load stopped: %s\n", t.err.text);
  CU_ASSERT_EQUAL(r, KEEL_OK);
  lt_close(&t);
  lt_opts tight = {.budget_ms = 60000, .load_budget_ms = 20, .memory_mb = 64, .seed = 1};
  CU_ASSERT_EQUAL_FATAL(open_source(&t, "heavy.lua", heavy, &tight), KEEL_OK);
  CU_ASSERT_EQUAL(lt_init(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "heavy.lua:2: load budget of 20 ms exceeded");
  lt_close(&t);
}

/* Sources that are not regular files are refused with the reason, never
 * waited on or read without end: the main script and a required module. */
static void test_sources_not_regular_files(void) {
  lt t;
  lt_opts o = {.budget_ms = 1000, .memory_mb = 64, .seed = 1};
  CU_ASSERT_EQUAL_FATAL(open_source(&t, "needs_pipe.lua", "local ok, err = pcall(require, 'pipe')\nlog.info(err)\n", &o),
                        KEEL_OK);
  char fifo[600];
  snprintf(fifo, sizeof fifo, "%s/pipe.lua", o.game_dir);
  unlink(fifo);
  CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0600), 0);
  CU_ASSERT_EQUAL(lt_init(&t), KEEL_OK);
  LT_LOG_HAS(&t, "pipe.lua': it is a FIFO, not a regular file");
  lt_close(&t);
  CU_ASSERT_EQUAL_FATAL(lt_open_with(&t, "pipe.lua", &o), KEEL_OK);
  CU_ASSERT_EQUAL(lt_init(&t), KEEL_ERR_IO);
  KT_ASSERT_CONTAINS(t.err.text, "pipe.lua': it is a FIFO, not a regular file");
  lt_close(&t);
  unlink(fifo);
}

/* Every message starts with file:line, whatever the error value: tables,
 * nil, strings raised without a position, a yield outside a coroutine; and
 * errors passed out through nested coroutine.wrap keep one prefix, so the
 * cause is never cut off. */
static void test_messages_keep_file_line(void) {
  lt t;
  lt_opts o = {.budget_ms = 1000, .memory_mb = 64, .seed = 1};
  CU_ASSERT_EQUAL_FATAL(open_source(&t, "throws.lua",
                                    "local n = 0\n"
                                    "local function nest(k)\n"
                                    "  if k == 0 then error('the cause') end\n"
                                    "  return coroutine.wrap(function() return nest(k - 1) end)()\n"
                                    "end\n"
                                    "function update()\n"
                                    "  n = n + 1\n"
                                    "  if n == 1 then error({}) end\n"
                                    "  if n == 2 then error(nil) end\n"
                                    "  if n == 3 then error('plain', 0) end\n"
                                    "  if n == 4 then coroutine.yield(1) end\n"
                                    "  if n == 5 then nest(150) end\n"
                                    "  if n == 6 then error(setmetatable({}, {__tostring = function() return 'custom' end})) end\n"
                                    "  if n == 7 then error('at 12:30:00', 0) end\n"
                                    "  if n == 8 then error('at 12:30: noon', 0) end\n"
                                    "end\n",
                                    &o),
                        KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "throws.lua:8: (error object is a table value)"));
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "throws.lua:9: (error object is a nil value)"));
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "throws.lua:10: plain"));
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "throws.lua:11: attempt to yield from outside a coroutine"));
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "throws.lua:3: the cause"));
  LT_LOG_HAS(&t, "update(dt): throws.lua:3: the cause");
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "throws.lua:13: custom"));
  /* colons and digits of the message's own are not a location */
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "throws.lua:14: at 12:30:00"));
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "throws.lua:15: at 12:30: noon"));
  lt_close(&t);
}

/* coroutine.wrap's function called from inside its own coroutine is a
 * refused resume, caught by the script's pcall: the coroutine goes on (its
 * to-be-closed variable is not closed early, its error not lost), yields,
 * returns, and is dead afterwards. */
static void test_wrap_called_from_its_own_coroutine(void) {
  lt t;
  lt_opts o = {.budget_ms = 1000, .memory_mb = 64, .seed = 1};
  CU_ASSERT_EQUAL_FATAL(open_source(&t, "selfwrap.lua",
                                    "local w, closed\n"
                                    "w = coroutine.wrap(function()\n"
                                    "  local guard <close> = setmetatable({}, {__close = function() closed = true end})\n"
                                    "  local ok, e = pcall(w, 1, 2)\n"
                                    "  coroutine.yield(tostring(ok) .. ' ' .. tostring(e) .. ' ' .. tostring(closed))\n"
                                    "  return 'done ' .. tostring(closed)\n"
                                    "end)\n"
                                    "local step = 0\n"
                                    "function update()\n"
                                    "  step = step + 1\n"
                                    "  if step == 1 then error(w(), 0) end\n"
                                    "  if step == 2 then error(w(), 0) end\n"
                                    "  if step == 3 then w() end\n"
                                    "end\n",
                                    &o),
                        KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "selfwrap.lua:11: false cannot resume non-suspended coroutine nil"));
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "selfwrap.lua:12: done nil"));
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "selfwrap.lua:13: cannot resume dead coroutine"));
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_OK);
  lt_close(&t);
}

/* table.move, insert, remove, sort and concat loop in C for as
 * long as the script says (a range of 1e12, a __len of 1e12), where no hook
 * runs: one
 * call ran past every bound and the engine gave the worker up. They stop at
 * the budget, at the script's line, also inside pcall; and they still do
 * what Lua's own do. */
static void test_table_loops_stop(void) {
  lt t;
  lt_opts o = {.budget_ms = 50, .memory_mb = 64, .seed = 1};
  CU_ASSERT_EQUAL_FATAL(open_source(&t, "tables.lua",
                                    "local c = 0\n"
                                    "local huge = setmetatable({}, {__len = function() return 1e12 end})\n"
                                    "local function has(e, text) return tostring(e):find(text, 1, true) ~= nil end\n"
                                    "function update()\n"
                                    "  c = c + 1\n"
                                    "  if c == 1 then table.move({}, 1, 1e12, 1, {}) end\n"
                                    "  if c == 2 then table.insert(huge, 1, 'x') end\n"
                                    "  if c == 3 then table.remove(huge, 1) end\n"
                                    "  if c == 4 then for i = 1, 100 do pcall(table.move, {}, 1, 1e12, 2) end end\n"
                                    "  if c == 5 then\n"
                                    "    local t = {1, 2, 3, 4, 5}\n"
                                    "    table.move(t, 1, 3, 2)\n"
                                    "    local s = {1, 2, 3, 4, 5}\n"
                                    "    table.move(s, 2, 4, 1)\n"
                                    "    local u = table.move({7, 8}, 1, 2, 3, {1, 2})\n"
                                    "    table.insert(u, 'a')\n"
                                    "    table.insert(u, 1, 'b')\n"
                                    "    local r = table.remove(u, 2)\n"
                                    "    local r2 = table.remove(u)\n"
                                    "    local e0 = table.remove({}) == nil and #u\n"
                                    "    local _, e1 = pcall(table.insert, u, 9, 'x')\n"
                                    "    local _, e2 = pcall(table.insert, u)\n"
                                    "    local _, e3 = pcall(table.remove, u, 7)\n"
                                    "    local _, e4 = pcall(table.move, 1, 1, 2, 1)\n"
                                    "    error(table.concat(t, ',') .. ' ' .. table.concat(s, ',') .. ' ' .. table.concat(u, ',') ..\n"
                                    "          ' ' .. r .. ' ' .. r2 .. ' ' .. e0 .. ' ' .. tostring(has(e1, 'position out of bounds')) ..\n"
                                    "          ' ' .. tostring(has(e2, 'wrong number of arguments')) ..\n"
                                    "          ' ' .. tostring(has(e3, 'position out of bounds')) .. ' ' .. tostring(has(e4, 'table expected')), 0)\n"
                                    "  end\n"
                                    "  if c == 6 then table.sort(setmetatable({}, {__len = function() return 2^31 - 2 end,\n"
                                    "                                          __index = rawlen, __newindex = rawequal})) end\n"
                                    "  if c == 7 then\n"
                                    "    local back = {8, 2, 6, 2}\n"
                                    "    local p = setmetatable({}, {__len = function() return #back end, __index = function(_, k) return back[k] end,\n"
                                    "                                __newindex = function(_, k, v) back[k] = v end})\n"
                                    "    table.sort(p, function(a, b) return a > b end)\n"
                                    "    local t = {3, 1, 2}\n"
                                    "    table.sort(t, math.ult)\n"
                                    "    error(table.concat(back, ',') .. ' ' .. table.concat(t, ','), 0)\n"
                                    "  end\n"
                                    "  if c == 8 then table.concat(setmetatable({}, {__index = rawlen}), '', 1, 1e12) end\n"
                                    "  if c == 9 then\n"
                                    "    local _, e = pcall(table.concat, {1, {}, 3})\n"
                                    "    error(table.concat({1, 2.5, 'x'}, '-') .. '|' .. table.concat({}, ',') .. '|' ..\n"
                                    "          table.concat({1, 2, 3}, '', 2, 3) .. '|' .. table.concat({1}, ',', 3, 2) .. '|' .. e, 0)\n"
                                    "  end\n"
                                    "end\n",
                                    &o),
                        KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  for (int line = 6; line <= 9; line++) {
    CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
    char want[64];
    snprintf(want, sizeof want, "tables.lua:%d: tick budget of 50 ms exceeded", line);
    CU_ASSERT(lt_err_is(&t, want));
  }
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "tables.lua:25: 1,1,2,3,5 2,3,4,4,5 b,2,7,8 1 a 4 true true true true"));
  /* a list whose __len, __index and __newindex run no Lua code: sorted
   * through a plain copy, which the memory cap bounds */
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "not enough memory");
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "tables.lua:39: 8,6,2,2 1,2,3"));
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "tables.lua:41: tick budget of 50 ms exceeded"));
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "tables.lua:44: 1-2.5-x||23||invalid value (table) at index 2 in table for 'concat'"));
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_OK);
  CU_ASSERT_EQUAL(lt_stats(&t).interrupts, 5);
  lt_close(&t);
}

/* string.rep of an empty string (and an empty separator) a huge number of
 * times looped in C copying nothing, without memory or hooks, and never
 * came back: the result is "" at once; other results are Lua's. */
static void test_empty_string_rep(void) {
  lt t;
  lt_opts o = {.budget_ms = 50, .memory_mb = 64, .seed = 1};
  CU_ASSERT_EQUAL_FATAL(open_source(&t, "rep.lua",
                                    "function update()\n"
                                    "  local _, e = pcall(string.rep, 'x', 1e15)\n"
                                    "  local _, e2 = pcall(string.rep, 'x', 'y')\n"
                                    "  error('[' .. string.rep('', 1e15) .. (''):rep(1e15, '') .. ('x'):rep(3, ',') ..\n"
                                    "        ('ab'):rep(0) .. (''):rep(3, '-') .. '] ' .. e .. ' ' .. e2, 0)\n"
                                    "end\n",
                                    &o),
                        KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "rep.lua:4: [x,x,x--] resulting string too large "
                          "bad argument #2 to 'string.rep' (number expected, got string)"));
  lt_close(&t);
}

/* A script that switches the collector's modes and stops it, then makes
 * garbage past the memory cap: garbage is collected, not reported as "not
 * enough memory", in that tick and the next ones; memory really held is
 * still refused. */
static void test_stopped_collector_and_the_cap(void) {
  lt t;
  lt_opts o = {.budget_ms = 5000, .memory_mb = 8, .seed = 1};
  CU_ASSERT_EQUAL_FATAL(open_source(&t, "gc.lua",
                                    "local n = 0\n"
                                    "hog = {}\n"
                                    "function update()\n"
                                    "  n = n + 1\n"
                                    "  if n == 1 then\n"
                                    "    collectgarbage('generational'); collectgarbage('incremental'); collectgarbage('stop')\n"
                                    "    for i = 1, 32 * 1024 do local garbage = string.rep('x', 1024 + i % 7) end\n"
                                    "  elseif n == 2 then\n"
                                    "    collectgarbage('restart')\n"
                                    "    local t = {} for i = 1, 1000 do t[i] = {i} end\n"
                                    "  elseif n == 3 then\n"
                                    "    while true do hog[#hog + 1] = string.rep('y', 1024 + #hog) end\n"
                                    "  else\n"
                                    "    hog = {}; local t = {} for i = 1, 1000 do t[i] = {i} end\n"
                                    "  end\n"
                                    "end\n",
                                    &o),
                        KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  keel_result r = lt_tick(&t); /* 32 MB of garbage, the collector stopped, an 8 MB cap */
  if (r != KEEL_OK) fprintf(stderr, "\ngarbage reported: %s\n", t.err.text);
  CU_ASSERT_EQUAL(r, KEEL_OK);
  r = lt_tick(&t);
  if (r != KEEL_OK) fprintf(stderr, "\nthe next tick failed: %s\n", t.err.text);
  CU_ASSERT_EQUAL(r, KEEL_OK);
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT); /* held memory: refused */
  KT_ASSERT_CONTAINS(t.err.text, "not enough memory");
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_OK); /* freed: the game goes on */
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_OK);
  lt_close(&t);
}

static void test_instruction_budget(void) {
  lt t;
  lt_opts o = limit_opts();
  o.budget_ms = 10000;
  o.instructions = 1000000;
  CU_ASSERT_EQUAL_FATAL(lt_open_with(&t, "errors.lua", &o), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  double ms = 0;
  CU_ASSERT_EQUAL(run_case(&t, "swallow", &ms), KEEL_ERR_SCRIPT);
  assert_error_at(&t, "swallow", "instruction budget of 1000000 exceeded");
  CU_ASSERT(ms < 5000);
  /* a normal tick is far below the budget */
  assert_next_tick_runs(&t);
  assert_next_tick_runs(&t);
  CU_ASSERT_EQUAL(lt_stats(&t).interrupts, 1);
  lt_close(&t);
}

typedef struct interrupter {
  const keel_script_api *api;
  keel_script *s;
  unsigned delay_ms;
} interrupter;

static void *interrupt_later(void *arg) {
  interrupter *it = arg;
  struct timespec ts = {0, (long)it->delay_ms * 1000000L};
  nanosleep(&ts, NULL);
  it->api->interrupt(it->s);
  return NULL;
}

static void test_interrupt_from_another_thread(void) {
  lt t;
  lt_opts o = limit_opts();
  o.budget_ms = 0; /* no watchdog at all: only interrupt() can stop it */
  CU_ASSERT_EQUAL_FATAL(lt_open_with(&t, "spin.lua", &o), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  lt_api->interrupt(t.s); /* idle: harmless, the next tick is not affected */
  assert_next_tick_runs(&t);
  lt_set(&t, "code", "spin");
  interrupter it = {lt_api, t.s, 50};
  pthread_t th;
  /* t0 before the interrupter starts its 50 ms sleep, so `ms >= 45` below
   * holds however late this thread runs again after pthread_create. */
  uint64_t t0 = kt_now_ns();
  CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, interrupt_later, &it), 0);
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_ERR_SCRIPT);
  double ms = (double)(kt_now_ns() - t0) / 1e6;
  pthread_join(th, NULL);
  lt_set(&t, "code", "");
  char want[64];
  snprintf(want, sizeof want, "spin.lua:%d: interrupted", lt_line_of("spin.lua", "spin"));
  CU_ASSERT(lt_err_is(&t, want));
  LT_LOG_HAS(&t, want);
  CU_ASSERT(ms >= 45 && ms < 2000);
  CU_ASSERT_EQUAL(lt_stats(&t).interrupts, 1);
  assert_next_tick_runs(&t);
  lt_close(&t);
}

/* ---- recursion and memory ------------------------------------------------------- */

static void test_deep_recursion(void) {
  lt t;
  lt_opts o = limit_opts();
  o.budget_ms = 10000; /* some 200k frames, stack reallocations: slow under sanitizers */
  CU_ASSERT_EQUAL_FATAL(lt_open_with(&t, "errors.lua", &o), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  CU_ASSERT_EQUAL(run_case(&t, "recursion", NULL), KEEL_ERR_SCRIPT);
  char want[64];
  snprintf(want, sizeof want, "errors.lua:%d: stack overflow", lt_line_of("errors.lua", "recursion"));
  KT_ASSERT_CONTAINS(t.err.text, want);
  LT_LOG_HAS(&t, want);
  assert_next_tick_runs(&t);
  CU_ASSERT_EQUAL(run_case(&t, "c_recursion", NULL), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "stack overflow");
  KT_ASSERT_CONTAINS(t.err.text, "errors.lua:");
  assert_next_tick_runs(&t);
  lt_close(&t);
}

static void test_memory_bomb(void) {
  lt t;
  lt_opts o = limit_opts();
  o.memory_mb = 16;
  o.budget_ms = 5000;
  CU_ASSERT_EQUAL_FATAL(lt_open_with(&t, "errors.lua", &o), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  CU_ASSERT_EQUAL(run_case(&t, "bomb", NULL), KEEL_ERR_SCRIPT);
  assert_error_at(&t, "bomb", "not enough memory");
  keel_script_stats st = lt_stats(&t);
  CU_ASSERT(st.memory_refusals >= 1);
  CU_ASSERT(st.memory_bytes < 16u << 20);
  CU_ASSERT_EQUAL(st.interrupts, 0);
  assert_next_tick_runs(&t);
  /* the bomb's garbage was collected: well under the cap again */
  CU_ASSERT(lt_stats(&t).memory_bytes < 4u << 20);

  /* one allocation past the cap: refused outright, Lua's own memory error
   * (Lua 5.4 runs no message handler for it, so no file:line) */
  CU_ASSERT_EQUAL(run_case(&t, "big_alloc", NULL), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "not enough memory"));
  LT_LOG_HAS(&t, "update(dt): not enough memory");
  CU_ASSERT(lt_stats(&t).memory_refusals > st.memory_refusals);
  assert_next_tick_runs(&t);

  /* a script that catches the memory error and tries again is stopped by the
   * tick budget */
  CU_ASSERT_EQUAL(run_case(&t, "bomb_swallow", NULL), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(t.err.text, "errors.lua:");
  KT_ASSERT_CONTAINS(t.err.text, "tick budget of 5000 ms exceeded");
  assert_next_tick_runs(&t);
  lt_close(&t);
}

static void test_oneoff_limits(void) {
  lt t;
  lt_opts o = limit_opts();
  o.memory_mb = 4;
  CU_ASSERT_EQUAL_FATAL(lt_open_with(&t, "probe.lua", &o), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  keel_message r;
  CU_ASSERT_EQUAL(lt_api->oneoff_run(t.s, "return 1 + 2, 'x', nil, {} ~= nil", &r), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(r.text, "3\tx\tnil\ttrue");
  CU_ASSERT_EQUAL(lt_api->oneoff_run(t.s, "local x = = 1", &r), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(r.text, "exec:1: unexpected symbol near '='");
  CU_ASSERT_EQUAL(lt_api->oneoff_run(t.s, "\n error('bad')", &r), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(r.text, "exec:2: bad");
  /* Returned, not logged: the host reports a one-off's error once. */
  CU_ASSERT_FALSE(fake_host_log_has(t.fh, "exec:2: bad"));
  uint64_t t0 = kt_now_ns();
  CU_ASSERT_EQUAL(lt_api->oneoff_run(t.s, "while true do pcall(function() while true do end end) end", &r),
                  KEEL_ERR_SCRIPT);
  double ms = (double)(kt_now_ns() - t0) / 1e6;
  KT_ASSERT_CONTAINS(r.text, "exec:1: tick budget of 100 ms exceeded");
  CU_ASSERT(ms >= BUDGET_MS - 1 && ms < BUDGET_MS + 900);
  /* no world commands from the pool; the read side is there */
  CU_ASSERT_EQUAL(lt_api->oneoff_run(t.s, "entity.create({})", &r), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(r.text, "attempt to call a nil value (field 'create')");
  CU_ASSERT_EQUAL(lt_api->oneoff_run(t.s, "return camera, light, cvar.on_change", &r), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(r.text, "nil\tnil\tnil");
  CU_ASSERT_EQUAL(lt_api->oneoff_run(t.s, "return entity.count(), cvar.get('ticks'), engine.frame()", &r), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(r.text, "0\t0\t0");
  CU_ASSERT_EQUAL(lt_api->oneoff_run(t.s, "return io, debug, os.execute", &r), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(r.text, "nil\tnil\tnil");
  /* after all that the pool still works */
  CU_ASSERT_EQUAL(lt_api->oneoff_run(t.s, "return 6 * 7", &r), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(r.text, "42");
  keel_script_stats st = lt_stats(&t);
  CU_ASSERT_EQUAL(st.errors, 4);
  CU_ASSERT_EQUAL(st.interrupts, 1);
  assert_next_tick_runs(&t);
  lt_close(&t);

  /* the pool VMs have the memory cap too (a roomy budget: the machine may be
   * loaded, and the budget is wall-clock) */
  o.budget_ms = 5000;
  CU_ASSERT_EQUAL_FATAL(lt_open_with(&t, "probe.lua", &o), KEEL_OK);
  CU_ASSERT_EQUAL(lt_api->oneoff_run(t.s, "local t = {} for i = 1, 1e9 do t[i] = {i} end", &r), KEEL_ERR_SCRIPT);
  KT_ASSERT_CONTAINS(r.text, "exec:1: not enough memory");
  CU_ASSERT(lt_stats(&t).memory_refusals >= 1);
  CU_ASSERT_EQUAL(lt_api->oneoff_run(t.s, "return 6 * 7", &r), KEEL_OK);
  lt_close(&t);
}

static void test_pool_bound(void) {
  lt t;
  CU_ASSERT_EQUAL_FATAL(lt_open(&t, "probe.lua"), KEEL_OK);
  uint32_t max = 0;
  CU_ASSERT_EQUAL(lt_diag->pool_size(t.s, &max), 2);
  CU_ASSERT_FATAL(max >= 2 && max <= 64);
  void *vms[64];
  keel_message m;
  for (uint32_t i = 0; i < max; i++) {
    vms[i] = lt_diag->pool_acquire(t.s, &m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(vms[i]);
  }
  CU_ASSERT_EQUAL(lt_diag->pool_size(t.s, NULL), max);
  CU_ASSERT_PTR_NULL(lt_diag->pool_acquire(t.s, &m));
  KT_ASSERT_CONTAINS(m.text, "one-off pool exhausted");
  keel_message r;
  CU_ASSERT_EQUAL(lt_api->oneoff_run(t.s, "return 1", &r), KEEL_ERR_FULL);
  KT_ASSERT_CONTAINS(r.text, "one-off pool exhausted");
  for (uint32_t i = 0; i < max; i++) lt_diag->pool_release(t.s, vms[i]);
  CU_ASSERT_EQUAL(lt_api->oneoff_run(t.s, "return 1", &r), KEEL_OK);
  CU_ASSERT_EQUAL(lt_diag->pool_size(t.s, NULL), max);
  lt_close(&t);
}

static void test_shutdown_error(void) {
  const char *main = kt_write_temp("shut.lua", "function shutdown()\n  error('bye')\nend\n");
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", main);
  *strrchr(dir, '/') = '\0';
  lt t;
  lt_opts o = limit_opts();
  o.game_dir = dir;
  CU_ASSERT_EQUAL_FATAL(lt_open_with(&t, "shut.lua", &o), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(lt_init(&t), KEEL_OK);
  CU_ASSERT_EQUAL(lt_tick(&t), KEEL_OK);
  CU_ASSERT_EQUAL(lt_api->shutdown(t.s, &t.err), KEEL_ERR_SCRIPT);
  CU_ASSERT(lt_err_is(&t, "shut.lua:2: bye"));
  LT_LOG_HAS(&t, "shutdown(): shut.lua:2: bye");
  lt_close(&t);
}

static int suite_init(void) { return lt_suite_init(); }
static int suite_clean(void) { return lt_suite_clean(); }

static CU_TestInfo error_tests[] = {
    {"syntax error in the main script", test_syntax_error},
    {"runtime errors, destroyed id, broken module", test_runtime_errors},
    {"error in shutdown()", test_shutdown_error},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo watchdog_tests[] = {
    {"runaway loop", test_runaway_loop},
    {"runaway loop swallowing errors with pcall", test_swallowing_runaway},
    {"runaway loop swallowing errors with xpcall", test_swallowing_xpcall_runaway},
    {"runaway loop in a coroutine", test_coroutine_runaway},
    {"runaway coroutines resumed in a loop", test_coroutine_swallowing_runaway},
    {"instruction budget", test_instruction_budget},
    {"the budget is CPU time, with a wall-clock backstop", test_budget_is_cpu_time},
    {"loading gets load_budget_ms", test_load_budget},
    {"sources that are not regular files", test_sources_not_regular_files},
    {"messages keep file:line whatever is raised", test_messages_keep_file_line},
    {"coroutine.wrap called from its own coroutine", test_wrap_called_from_its_own_coroutine},
    {"table.move, insert, remove, sort and concat over a huge range stop", test_table_loops_stop},
    {"string.rep of an empty string a huge number of times", test_empty_string_rep},
    {"a stopped collector and the memory cap", test_stopped_collector_and_the_cap},
    {"interrupt from another thread", test_interrupt_from_another_thread},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo memory_tests[] = {
    {"deep recursion", test_deep_recursion},
    {"memory bombs", test_memory_bomb},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo pool_tests[] = {
    {"one-off errors, budget, memory, API subset", test_oneoff_limits},
    {"pool grows to its bound, then refuses", test_pool_bound},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"lua errors", suite_init, suite_clean, NULL, NULL, error_tests},
    {"lua watchdog", suite_init, suite_clean, NULL, NULL, watchdog_tests},
    {"lua recursion and memory", suite_init, suite_clean, NULL, NULL, memory_tests},
    {"lua one-off pool", suite_init, suite_clean, NULL, NULL, pool_tests},
    CU_SUITE_INFO_NULL,
};
