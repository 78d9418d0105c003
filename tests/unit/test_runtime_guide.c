// keel-test-labels: plugin
// keel-test-depends: renderer_null script_lua script_js
// keel-test-timeout: 600
/* docs/runtimes.md, done as a reader would: install keel to a temporary
 * prefix, write the page's code blocks (```c mini.c, ```cmake
 * CMakeLists.txt, ```text game.mini) into an empty folder, build the
 * runtime out of tree against the installed SDK, and run the page's
 * commands, checking what the page says they print. The guide cannot drift
 * from the code without this failing. */
#include <keel_test.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char out[1 << 17];
static char work[512], prefix[600], dir[600];

static int sh(const char *cmd) {
  int rc = kt_run(cmd, out, sizeof out);
  if (rc != 0) fprintf(stderr, "\n$ %s\n%s\n", cmd, out);
  return rc;
}

/* Appends every fenced block of `page` whose info string is "<lang> <file>"
 * to dir/<file>, in order. Returns how many blocks it wrote. */
static int extract(const char *page, const char *lang, const char *file) {
  FILE *in = fopen(page, "r");
  if (!in) return -1;
  char path[1024], fence[128], line[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  snprintf(fence, sizeof fence, "```%s %s\n", lang, file);
  FILE *o = fopen(path, "w");
  if (!o) {
    fclose(in);
    return -1;
  }
  int blocks = 0;
  bool inside = false;
  while (fgets(line, sizeof line, in)) {
    if (!inside && strcmp(line, fence) == 0) {
      inside = true;
      blocks++;
    } else if (inside && strncmp(line, "```", 3) == 0) {
      inside = false;
      fputc('\n', o);
    } else if (inside) {
      fputs(line, o);
    }
  }
  fclose(in);
  fclose(o);
  return blocks;
}

static void test_the_guide_builds_and_runs(void) {
  snprintf(work, sizeof work, "%s/keel-guide-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
  snprintf(prefix, sizeof prefix, "%s/keel", work);
  snprintf(dir, sizeof dir, "%s/mini", work);
  char cmd[8192], page[1024];
  snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s && cmake --install %s --prefix %s >/dev/null", work, dir,
           KEEL_TEST_BINARY_DIR, prefix);
  CU_ASSERT_EQUAL_FATAL(sh(cmd), 0);
  snprintf(page, sizeof page, "%s/docs/runtimes.md", KEEL_TEST_SOURCE_DIR);
  CU_ASSERT_EQUAL(extract(page, "cmake", "CMakeLists.txt"), 1);
  CU_ASSERT_EQUAL(extract(page, "c", "mini.c"), 6);
  CU_ASSERT_EQUAL(extract(page, "text", "game.mini"), 1);

  /* §6: build against the installed SDK, nothing from the tree. */
  snprintf(cmd, sizeof cmd, "cd %s && cmake -S . -B build -DCMAKE_PREFIX_PATH=%s >/dev/null && cmake --build build", dir,
           prefix);
  CU_ASSERT_EQUAL_FATAL(sh(cmd), 0);
  snprintf(cmd, sizeof cmd, "nm -D --defined-only %s/build/keel_script_mini.so | awk '{print $3}' | tr '\\n' ' '", dir);
  CU_ASSERT_EQUAL(sh(cmd), 0);
  CU_ASSERT_STRING_EQUAL(out, "keel_plugin_entry ");
  /* keel_add_plugin links libm: mini calls sin and cos. */
  snprintf(cmd, sizeof cmd, "readelf -d %s/build/keel_script_mini.so | grep -c 'NEEDED.*libm\\.so'", dir);
  CU_ASSERT_EQUAL(sh(cmd), 0);

  /* §6: the listing. */
  snprintf(cmd, sizeof cmd, "cd %s && %s/bin/keel --plugin-path build --list-plugins", dir, prefix);
  CU_ASSERT_EQUAL(sh(cmd), 0);
  KT_ASSERT_CONTAINS(out, "mini         script    0.1.0     ");
  KT_ASSERT_CONTAINS(out, "    runs mini games: [script] main is a .mini file\n");

  /* §6: the run, and what the page says it prints. */
  snprintf(cmd, sizeof cmd,
           "cd %s && %s/bin/keel --plugin-path build --set script.runtime=mini --set script.main=game.mini "
           "--frames 60 --lockstep --exec count --exec nope",
           dir, prefix);
  CU_ASSERT_EQUAL(sh(cmd), 0);
  KT_ASSERT_CONTAINS(out, "[mini] hello from mini\n");
  KT_ASSERT_CONTAINS(out, "[exec 1] ");
  KT_ASSERT_CONTAINS(out, "[exec 2] error: exec:1: mini one-offs know only 'count'\n");
  KT_ASSERT_CONTAINS(out, "[mini] turned 180 degrees\n");
  KT_ASSERT_CONTAINS(out, ", script mini (lockstep): 60 ticks, 0 script errors");
  KT_ASSERT_CONTAINS(out, "keel: 4 entities; ");

  /* A line mini does not know: logged with file:line, counted, the run goes on. */
  snprintf(cmd, sizeof cmd, "cd %s && printf 'say hi\\njump 3\\n' > bad.mini && %s/bin/keel --plugin-path build "
           "--set script.runtime=mini --set script.main=bad.mini --frames 10 --lockstep", dir, prefix);
  CU_ASSERT_EQUAL(sh(cmd), 0);
  KT_ASSERT_CONTAINS(out, "[mini] bad.mini:2: expected 'entity MESH X Y Z', 'spin DEGREES' or 'say TEXT'\n");
  KT_ASSERT_CONTAINS(out, "10 ticks, 1 script errors");

  /* A game in another language is refused before the run. */
  snprintf(cmd, sizeof cmd, "cd %s && touch game.lua && %s/bin/keel --plugin-path build --set script.runtime=mini "
           "--set script.main=game.lua --frames 10", dir, prefix);
  CU_ASSERT_EQUAL(kt_run(cmd, out, sizeof out), 2);
  KT_ASSERT_CONTAINS(out, "script.runtime 'mini' runs '.mini' files");

  snprintf(cmd, sizeof cmd, "rm -rf %s", work);
  sh(cmd);
}

static CU_TestInfo tests[] = {
    {"docs/runtimes.md builds and runs as written", test_the_guide_builds_and_runs},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"runtime guide", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
