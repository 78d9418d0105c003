// keel-test-labels: plugin concurrency
// keel-test-depends: renderer_null script_lua script_js
// keel-test-timeout: 600
/* Script hot reload as a user sees it, in Lua and in JavaScript: `keel`
 * runs a game while the test edits its files the way editors save them,
 * and the game's log shows what code runs. Every wait is for a line to
 * appear (with a generous deadline), never a measured duration. */
#include <keel_test.h>

#include "../unit/trace_check.h"
#include "frame/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUT_CAP (4u << 20)
#define WAIT_S 60

/* ---- a running keel, its output read as it comes -------------------------- */

typedef struct proc {
  pid_t pid;
  int fd;
  char *out;
  size_t len;
} proc;

static void proc_start(proc *p, const char *args) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "exec %s --frames 0 --set renderer.backend=null %s 2>&1", KEEL_TEST_KEEL_EXE, args);
  int fds[2];
  CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
  p->out = calloc(1, OUT_CAP);
  p->len = 0;
  p->pid = fork();
  if (p->pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  p->fd = fds[0];
  fcntl(p->fd, F_SETFL, O_NONBLOCK);
}

/* Reads what is there, waiting up to ms for something. false at EOF. */
static bool proc_read(proc *p, int ms) {
  struct pollfd pf = {.fd = p->fd, .events = POLLIN};
  if (poll(&pf, 1, ms) <= 0) return true;
  ssize_t n = read(p->fd, p->out + p->len, OUT_CAP - 1 - p->len);
  if (n == 0) return false;
  if (n > 0) p->len += (size_t)n;
  p->out[p->len] = '\0';
  return true;
}

/* Waits for `needle` at or after offset `from`; returns where it ends, or
 * 0 (with the output printed) when the deadline passes or keel exits. */
static size_t proc_wait(proc *p, const char *needle, size_t from) {
  uint64_t deadline = kt_now_ns() + (uint64_t)WAIT_S * 1000000000ull;
  for (;;) {
    const char *hit = from <= p->len ? strstr(p->out + from, needle) : NULL;
    if (hit) return (size_t)(hit - p->out) + strlen(needle);
    if (kt_now_ns() > deadline || !proc_read(p, 50)) {
      fprintf(stderr, "\nnever saw '%s' after offset %zu in:\n%s\n", needle, from, p->out);
      return 0;
    }
  }
}

/* SIGINT, then the rest of the output; returns the exit status. */
static int proc_stop(proc *p) {
  kill(p->pid, SIGINT);
  while (proc_read(p, 1000)) {
  }
  int st = 0;
  waitpid(p->pid, &st, 0);
  close(p->fd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void proc_free(proc *p) { free(p->out); }

/* ---- the game's files ---------------------------------------------------- */

static char dir[256];

static int setup(void) {
  snprintf(dir, sizeof dir, "%s/keel-reload-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  return mkdtemp(dir) ? 0 : 1;
}

static const char *game_file(const char *name) {
  static char buf[4][512];
  static int next;
  char *p = buf[next++ % 4];
  snprintf(p, 512, "%s/%s", dir, name);
  return p;
}

static void save_truncate(const char *name, const char *text) {
  FILE *f = fopen(game_file(name), "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs(text, f);
  fclose(f);
}

static void save_rename(const char *name, const char *text) {
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s/%s.swp~", dir, name); /* beside it: rename(2) stays in one directory */
  FILE *f = fopen(tmp, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs(text, f);
  fclose(f);
  CU_ASSERT_EQUAL(rename(tmp, game_file(name)), 0);
}

/* The same game in both languages: counts ticks in a global (which must
 * survive a reload) and logs which version of update() ran. */
typedef struct lang {
  const char *name, *ext;
  const char *(*main)(const char *version);
} lang;

static const char *lua_main(const char *version) {
  static char text[512];
  snprintf(text, sizeof text,
           "n = n or 0\n"
           "function update(dt)\n"
           "  n = n + 1\n"
           "  log.info(\"tick\", n, \"%s\")\n"
           "end\n"
           "function on_reload() log.info(\"on_reload at\", n) end\n"
           "function init() for i = 1, 3 do entity.create({mesh = \"cube\"}) end end\n",
           version);
  return text;
}

static const char *js_main(const char *version) {
  static char text[512];
  snprintf(text, sizeof text,
           "var n = n || 0;\n"
           "function update(dt) {\n"
           "  n = n + 1;\n"
           "  log.info(\"tick\", n, \"%s\");\n"
           "}\n"
           "function on_reload() { log.info(\"on_reload at\", n); }\n"
           "function init() { for (var i = 0; i < 3; i++) entity.create({mesh: \"cube\"}); }\n",
           version);
  return text;
}

static const lang langs[] = {{"lua", "lua", lua_main}, {"js", "js", js_main}};

static const char *main_name(const lang *l) {
  static char name[32];
  snprintf(name, sizeof name, "main.%s", l->ext);
  return name;
}

static void start_game(proc *p, const lang *l, const char *extra) {
  save_truncate(main_name(l), l->main("v1"));
  char args[4096];
  snprintf(args, sizeof args, "--set script.runtime=%s --set script.main=%s --stats-json %s %s", l->name,
           game_file(main_name(l)), game_file("stats.json"), extra);
  proc_start(p, args);
}

static char *stats(void) {
  static char buf[1 << 16];
  FILE *f = fopen(game_file("stats.json"), "r");
  if (!f) return strcpy(buf, "");
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* The tick count logged on the line that ends at `at`'s line ("tick N vX"). */
static long tick_before(const proc *p, size_t at) {
  const char *line = p->out + at;
  while (line > p->out && strncmp(line, "tick ", 5) != 0) line--;
  return strtol(line + 5, NULL, 10);
}

/* ---- tests -------------------------------------------------------------- */

/* Both save styles: each is one reload; the next ticks run the new update()
 * with the tick count carried on; on_reload() runs. */
static void run_save_styles(const lang *l) {
  proc p;
  char extra[1024];
  snprintf(extra, sizeof extra, "--set script.hot_reload=true --trace %s", game_file("trace.json"));
  start_game(&p, l, extra);
  size_t at = proc_wait(&p, " v1\n", 0);
  CU_ASSERT_FATAL(at != 0);
  save_truncate(main_name(l), l->main("v2"));
  char reloaded[64];
  snprintf(reloaded, sizeof reloaded, "reloaded %s\n", main_name(l));
  size_t r1 = proc_wait(&p, reloaded, at);
  size_t on = proc_wait(&p, "on_reload at ", r1);
  size_t v2 = proc_wait(&p, " v2\n", r1);
  CU_ASSERT_FATAL(r1 && on && v2);
  CU_ASSERT_PTR_NULL(strstr(p.out + v2, " v1\n")); /* only new code after the reload */
  long before = strtol(p.out + on, NULL, 10), after = tick_before(&p, v2 - 1);
  CU_ASSERT(before >= 1 && after == before + 1); /* the global survived */

  save_rename(main_name(l), l->main("v3"));
  size_t r2 = proc_wait(&p, reloaded, v2);
  size_t v3 = proc_wait(&p, " v3\n", r2);
  CU_ASSERT_FATAL(r2 && v3);
  CU_ASSERT_PTR_NULL(strstr(p.out + v3, " v2\n"));
  CU_ASSERT_EQUAL(proc_stop(&p), 0);
  KT_ASSERT_CONTAINS(stats(), "\"hot_reload\": true, \"reloads\": 2, \"reload_errors\": 0}");
  /* init() is not run again: the world still has its three entities. */
  KT_ASSERT_CONTAINS(stats(), "\"world\": {\"entities\": 3,");
  KT_ASSERT_CONTAINS(p.out, "keel: hot reload: 2 reloads, 0 of them failed and kept the old code");
  proc_free(&p);
  /* The reloads are slices on the script worker's track, beside the ticks. */
  static tc_summary sum;
  if (!tc_check_file(game_file("trace.json"), &sum)) fprintf(stderr, "\n%s\n", sum.error);
  CU_ASSERT_TRUE(sum.ok);
  CU_ASSERT(tc_thread(&sum, "script") >= 0);
  CU_ASSERT_EQUAL(tc_name_tid(&sum, "reload"), tc_thread(&sum, "script"));
  CU_ASSERT_EQUAL(tc_name_tid(&sum, "tick"), tc_thread(&sum, "script"));
}

/* A syntax error, then a top level that raises: each is logged with
 * file:line, the old update() goes on, and fixing the file reloads it. */
static void run_errors_keep_old_code(const lang *l) {
  proc p;
  start_game(&p, l, "--set script.hot_reload=true");
  size_t at = proc_wait(&p, " v1\n", 0);
  CU_ASSERT_FATAL(at != 0);
  char text[1024], expect[128];
  snprintf(text, sizeof text, "%s%s", l->main("broken"), "function (\n");
  save_truncate(main_name(l), text);
  snprintf(expect, sizeof expect, "reloading %s: %s:8: ", main_name(l), main_name(l));
  size_t e1 = proc_wait(&p, expect, at);
  size_t w1 = proc_wait(&p, "the old code keeps running\n", e1);
  size_t still = proc_wait(&p, " v1\n", w1);
  CU_ASSERT_FATAL(e1 && w1 && still);

  /* Compiles, but its top level raises after replacing update(): undone. */
  snprintf(text, sizeof text, "%s%s", l->main("half"), l == &langs[0] ? "error(\"top level fails\")\n" : "throw new Error(\"top level fails\");\n");
  save_rename(main_name(l), text);
  snprintf(expect, sizeof expect, "%s:8: ", main_name(l));
  size_t e2 = proc_wait(&p, expect, still);
  size_t msg = proc_wait(&p, "top level fails", e2);
  size_t w2 = proc_wait(&p, "the old code keeps running\n", msg);
  size_t still2 = proc_wait(&p, " v1\n", w2);
  CU_ASSERT_FATAL(e2 && msg && w2 && still2);
  CU_ASSERT_PTR_NULL(strstr(p.out, " half\n"));
  CU_ASSERT_PTR_NULL(strstr(p.out, " broken\n"));

  save_truncate(main_name(l), l->main("fixed"));
  size_t ok = proc_wait(&p, " fixed\n", still2);
  CU_ASSERT_FATAL(ok != 0);
  CU_ASSERT_EQUAL(proc_stop(&p), 0);
  KT_ASSERT_CONTAINS(stats(), "\"reloads\": 3, \"reload_errors\": 2}");
  proc_free(&p);
}

/* on_reload() that raises undoes the whole reload. */
static void run_on_reload_error(const lang *l) {
  proc p;
  start_game(&p, l, "--set script.hot_reload=true");
  size_t at = proc_wait(&p, " v1\n", 0);
  CU_ASSERT_FATAL(at != 0);
  char text[1024];
  snprintf(text, sizeof text, "%s%s", l->main("v2"),
           l == &langs[0] ? "function on_reload() error(\"on_reload fails\") end\n"
                          : "function on_reload() { throw new Error(\"on_reload fails\"); }\n");
  save_truncate(main_name(l), text);
  size_t e = proc_wait(&p, "on_reload(): ", at);
  size_t m = proc_wait(&p, ":8: ", e);
  size_t w = proc_wait(&p, "on_reload() failed: the reload is undone, the old code keeps running\n", m);
  size_t still = proc_wait(&p, " v1\n", w);
  CU_ASSERT_FATAL(e && m && w && still);
  CU_ASSERT_PTR_NULL(strstr(p.out + w, " v2\n"));
  CU_ASSERT_EQUAL(proc_stop(&p), 0);
  KT_ASSERT_CONTAINS(stats(), "\"reloads\": 1, \"reload_errors\": 1}");
  proc_free(&p);
}

/* 100 saves as fast as the test can write them, both styles: a bounded
 * number of reloads (at most one per tick, and far fewer than saves is
 * expected but not asserted), no crash, and the last version runs. */
static void run_rapid_saves(const lang *l) {
  proc p;
  start_game(&p, l, "--set script.hot_reload=true");
  size_t at = proc_wait(&p, " v1\n", 0);
  CU_ASSERT_FATAL(at != 0);
  for (int i = 0; i < 100; i++) {
    char version[16];
    snprintf(version, sizeof version, "r%d", i);
    if (i % 2)
      save_rename(main_name(l), l->main(version));
    else
      save_truncate(main_name(l), l->main(version));
  }
  size_t last = proc_wait(&p, " r99\n", at);
  CU_ASSERT_FATAL(last != 0);
  CU_ASSERT_EQUAL(proc_stop(&p), 0);
  const char *r = strstr(stats(), "\"reloads\": ");
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  long reloads = strtol(r + 11, NULL, 10);
  const char *t = strstr(stats(), "\"ticks\": ");
  long ticks = t ? strtol(t + 9, NULL, 10) : 0;
  CU_ASSERT(reloads >= 1 && reloads <= 100 && reloads <= ticks);
  KT_ASSERT_CONTAINS(stats(), "\"reload_errors\": 0}");
  proc_free(&p);
}

/* In lockstep, auto means off: the edit is not picked up. Forced on, it is. */
static void run_lockstep(const lang *l) {
  proc p;
  start_game(&p, l, "--lockstep --set engine.target_fps=60 --set script.hot_reload=auto");
  size_t at = proc_wait(&p, " v1\n", 0);
  CU_ASSERT_FATAL(at != 0);
  save_truncate(main_name(l), l->main("v2"));
  /* Well past when a reload would have run: 60 more ticks of the old code. */
  long from = tick_before(&p, at - 1);
  char later[64];
  snprintf(later, sizeof later, "tick %ld v1\n", from + 60);
  CU_ASSERT(proc_wait(&p, later, at) != 0);
  CU_ASSERT_EQUAL(proc_stop(&p), 0);
  CU_ASSERT_PTR_NULL(strstr(p.out, " v2\n"));
  CU_ASSERT_PTR_NULL(strstr(p.out, "reloaded "));
  KT_ASSERT_CONTAINS(stats(), "\"lockstep\": true");
  KT_ASSERT_CONTAINS(stats(), "\"hot_reload\": false, \"reloads\": 0,");
  proc_free(&p);

  start_game(&p, l, "--lockstep --set engine.target_fps=60 --set script.hot_reload=true");
  at = proc_wait(&p, " v1\n", 0);
  CU_ASSERT_FATAL(at != 0);
  save_truncate(main_name(l), l->main("v2"));
  CU_ASSERT(proc_wait(&p, " v2\n", at) != 0);
  CU_ASSERT_EQUAL(proc_stop(&p), 0);
  KT_ASSERT_CONTAINS(stats(), "\"hot_reload\": true, \"reloads\": 1,");
  proc_free(&p);
}

static void test_lua_save_styles(void) { run_save_styles(&langs[0]); }
static void test_js_save_styles(void) { run_save_styles(&langs[1]); }
static void test_lua_errors(void) { run_errors_keep_old_code(&langs[0]); }
static void test_js_errors(void) { run_errors_keep_old_code(&langs[1]); }
static void test_lua_on_reload_error(void) { run_on_reload_error(&langs[0]); }
static void test_js_on_reload_error(void) { run_on_reload_error(&langs[1]); }
static void test_lua_rapid(void) { run_rapid_saves(&langs[0]); }
static void test_js_rapid(void) { run_rapid_saves(&langs[1]); }
static void test_lua_lockstep(void) { run_lockstep(&langs[0]); }
static void test_js_lockstep(void) { run_lockstep(&langs[1]); }

/* Lua: a required module changes; code holding its table (a local of the
 * main script) sees the new functions, and require gives the same table. */
static void test_lua_module(void) {
  save_truncate("util.lua", "local M = {}\nfunction M.word() return \"old\" end\nreturn M\n");
  save_truncate("main.lua",
                "local util = require(\"util\")\n"
                "function update(dt) log.info(\"word\", util.word(), require(\"util\") == util) end\n");
  char args[2048];
  snprintf(args, sizeof args, "--set script.runtime=lua --set script.main=%s --set script.hot_reload=true --stats-json %s",
           game_file("main.lua"), game_file("stats.json"));
  proc p;
  proc_start(&p, args);
  size_t at = proc_wait(&p, "word old true\n", 0);
  CU_ASSERT_FATAL(at != 0);
  save_rename("util.lua", "local M = {}\nfunction M.word() return \"new\" end\nreturn M\n");
  size_t r = proc_wait(&p, "reloaded util.lua\n", at);
  size_t w = proc_wait(&p, "word new true\n", r);
  CU_ASSERT_FATAL(r && w);
  CU_ASSERT_PTR_NULL(strstr(p.out + w, "word old"));
  /* A broken module keeps the old one. */
  save_truncate("util.lua", "local M = {}\nfunction M.word() return \"x\" end\nerror(\"module fails\")\n");
  size_t e = proc_wait(&p, "reloading util.lua: util.lua:3: module fails", w);
  size_t still = proc_wait(&p, "word new true\n", e);
  CU_ASSERT_FATAL(e && still);
  CU_ASSERT_EQUAL(proc_stop(&p), 0);
  CU_ASSERT_PTR_NULL(strstr(p.out, "word x"));
  KT_ASSERT_CONTAINS(stats(), "\"reloads\": 2, \"reload_errors\": 1}");
  proc_free(&p);
}

/* `auto` is on only for a windowed run that is not lockstep; true and false
 * are what they say. */
static void test_decision(void) {
  CU_ASSERT_TRUE(kc_engine_hot_reload_wanted("auto", false, false));
  CU_ASSERT_FALSE(kc_engine_hot_reload_wanted("auto", true, false));
  CU_ASSERT_FALSE(kc_engine_hot_reload_wanted("auto", false, true));
  CU_ASSERT_FALSE(kc_engine_hot_reload_wanted("auto", true, true));
  CU_ASSERT_TRUE(kc_engine_hot_reload_wanted("true", true, true));
  CU_ASSERT_FALSE(kc_engine_hot_reload_wanted("false", false, false));
}

static CU_TestInfo decision_tests[] = {
    {"auto, true, false", test_decision},
    CU_TEST_INFO_NULL,
};

/* JS: the same with a CommonJS module: the exports object a main script
 * holds is updated in place, and require returns that same object. */
static void test_js_module(void) {
  mkdir(game_file("lib"), 0700);
  save_truncate("lib/util.js", "exports.word = function () { return \"old\"; };\n");
  save_truncate("main.js",
                "var util = require(\"lib/util\");\n"
                "function update(dt) { log.info(\"word\", util.word(), require(\"lib/util\") === util); }\n");
  char args[2048];
  snprintf(args, sizeof args, "--set script.runtime=js --set script.main=%s --set script.hot_reload=true --stats-json %s",
           game_file("main.js"), game_file("stats.json"));
  proc p;
  proc_start(&p, args);
  size_t at = proc_wait(&p, "word old true\n", 0);
  CU_ASSERT_FATAL(at != 0);
  save_rename("lib/util.js", "exports.word = function () { return \"new\"; };\n");
  size_t r = proc_wait(&p, "reloaded lib/util.js\n", at);
  size_t w = proc_wait(&p, "word new true\n", r);
  CU_ASSERT_FATAL(r && w);
  CU_ASSERT_PTR_NULL(strstr(p.out + w, "word old"));
  /* A broken module keeps the old one. */
  save_truncate("lib/util.js", "exports.word = function () { return \"x\"; };\nthrow new Error(\"module fails\");\n");
  size_t e = proc_wait(&p, "reloading lib/util.js: lib/util.js:2: module fails", w);
  size_t still = proc_wait(&p, "word new true\n", e);
  CU_ASSERT_FATAL(e && still);
  CU_ASSERT_EQUAL(proc_stop(&p), 0);
  CU_ASSERT_PTR_NULL(strstr(p.out, "word x"));
  KT_ASSERT_CONTAINS(stats(), "\"reloads\": 2, \"reload_errors\": 1}");
  proc_free(&p);
}

static CU_TestInfo lua_tests[] = {
    {"both save styles reload once each, state kept", test_lua_save_styles},
    {"syntax error and raising top level keep the old code", test_lua_errors},
    {"on_reload error undoes the reload", test_lua_on_reload_error},
    {"a required module reloads", test_lua_module},
    {"100 rapid saves", test_lua_rapid},
    {"lockstep: off unless forced", test_lua_lockstep},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo js_tests[] = {
    {"both save styles reload once each, state kept", test_js_save_styles},
    {"syntax error and raising top level keep the old code", test_js_errors},
    {"on_reload error undoes the reload", test_js_on_reload_error},
    {"a required module reloads", test_js_module},
    {"100 rapid saves", test_js_rapid},
    {"lockstep: off unless forced", test_js_lockstep},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"hot reload decision", NULL, NULL, NULL, NULL, decision_tests},
    {"hot reload lua", setup, NULL, NULL, NULL, lua_tests},
    {"hot reload js", setup, NULL, NULL, NULL, js_tests},
    CU_SUITE_INFO_NULL,
};
