/* Plugins see the SDK and nothing of the core: no plugin source includes a core
 * header, and the build gives no plugin target the core's include directory.
 * (That each SDK header compiles alone as C11 and C++ is checked by the
 * sdk_header_* tests in tests/plugins/CMakeLists.txt.) */
// keel-test-labels: plugin
#include "keel_test.h"

#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Offending includes found by the last scan, one per line. */
static char offences[8192];
static int scanned_files;

static bool has_source_suffix(const char *path) {
  static const char *const suffixes[] = {".c", ".h", ".cc", ".cpp", ".hpp", ".inc"};
  size_t n = strlen(path);
  for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
    size_t s = strlen(suffixes[i]);
    if (n > s && strcmp(path + n - s, suffixes[i]) == 0) return true;
  }
  return false;
}

/* A target that names the core: a path through core/, or a header that
 * exists in a core layer ("base/err.h", "plugin/loader.h"). */
static bool names_core_header(const char *target) {
  if (strstr(target, "core/")) return true;
  char path[1024];
  snprintf(path, sizeof path, "%s/core/%s", KEEL_TEST_SOURCE_DIR, target);
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void scan_file(const char *file) {
  FILE *f = fopen(file, "r");
  if (!f) return;
  scanned_files++;
  char line[1024];
  int number = 0;
  while (fgets(line, sizeof line, f)) {
    number++;
    const char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (*p++ != '#') continue;
    while (*p == ' ' || *p == '\t') p++;
    if (strncmp(p, "include", 7) != 0) continue;
    p += 7;
    while (*p == ' ' || *p == '\t') p++;
    char close = *p == '<' ? '>' : *p == '"' ? '"' : 0;
    if (!close) continue;
    const char *end = strchr(p + 1, close);
    if (!end) continue;
    char target[512];
    snprintf(target, sizeof target, "%.*s", (int)(end - p - 1), p + 1);
    if (names_core_header(target)) {
      size_t n = strlen(offences);
      snprintf(offences + n, sizeof offences - n, "%s:%d: #include %c%s%c\n", file, number, *p, target, close);
    }
  }
  fclose(f);
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st, (void)ftw;
  if (type == FTW_F && has_source_suffix(path)) scan_file(path);
  return 0;
}

static void scan_tree(const char *root) {
  offences[0] = '\0';
  scanned_files = 0;
  nftw(root, visit, 16, FTW_PHYS);
}

static void test_no_plugin_includes_a_core_header(void) {
  scan_tree(KEEL_TEST_SOURCE_DIR "/plugins");
  CU_ASSERT_TRUE(scanned_files >= 1); /* at least the null renderer */
  if (offences[0]) fprintf(stderr, "\n%s", offences);
  CU_ASSERT_STRING_EQUAL(offences, "");
  /* the test plugins follow the same rule */
  scan_tree(KEEL_TEST_SOURCE_DIR "/tests/plugins");
  CU_ASSERT_TRUE(scanned_files >= 1);
  CU_ASSERT_STRING_EQUAL(offences, "");
}

/* The scan is not vacuous: it sees both spellings of a core include. */
static void test_scan_catches_core_includes(void) {
  const char *file = kt_write_temp("bad_plugin.c",
                                   "#include <keel/plugin.h>\n"
                                   "#include \"base/err.h\"\n"
                                   "  #  include <stdio.h>\n"
                                   "#include \"../../core/plugin/loader.h\"\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(file);
  offences[0] = '\0';
  scan_file(file);
  KT_ASSERT_CONTAINS(offences, "bad_plugin.c:2: #include \"base/err.h\"");
  KT_ASSERT_CONTAINS(offences, "bad_plugin.c:4: #include \"../../core/plugin/loader.h\"");
  CU_ASSERT_PTR_NULL(strstr(offences, "keel/plugin.h"));
  CU_ASSERT_PTR_NULL(strstr(offences, "stdio.h"));
}

/* Reads compile_commands.json (CMAKE_EXPORT_COMPILE_COMMANDS) and checks, for
 * every source under `prefix`, whether its command has the core include dir.
 * Returns how many entries matched `prefix`; *with_core counts those that have it. */
static int compile_commands_under(const char *prefix, int *with_core) {
  *with_core = 0;
  FILE *f = fopen(KEEL_TEST_BINARY_DIR "/compile_commands.json", "r");
  if (!f) return -1;
  static char line[65536];
  char command[65536] = "";
  int matched = 0;
  const char *core_include = "-I" KEEL_TEST_SOURCE_DIR "/core ";
  /* CMake writes one "key": value per line; "command" precedes "file". */
  while (fgets(line, sizeof line, f)) {
    const char *p = line;
    while (*p == ' ') p++;
    if (strncmp(p, "\"command\":", 10) == 0) {
      snprintf(command, sizeof command, "%s", p + 10);
    } else if (strncmp(p, "\"file\":", 7) == 0) {
      const char *q = strchr(p + 7, '"');
      if (q && strncmp(q + 1, prefix, strlen(prefix)) == 0) {
        matched++;
        if (strstr(command, core_include)) (*with_core)++;
      }
      command[0] = '\0';
    }
  }
  fclose(f);
  return matched;
}

static void test_no_plugin_target_sees_the_core(void) {
  int with_core = 0;
  int plugins = compile_commands_under(KEEL_TEST_SOURCE_DIR "/plugins/", &with_core);
  CU_ASSERT_TRUE(plugins >= 1);
  CU_ASSERT_EQUAL(with_core, 0);
  int test_plugins = compile_commands_under(KEEL_TEST_SOURCE_DIR "/tests/plugins/", &with_core);
  CU_ASSERT_TRUE(test_plugins >= 1);
  CU_ASSERT_EQUAL(with_core, 0);
  /* The check would see it: the core's own sources are compiled with it. */
  int core = compile_commands_under(KEEL_TEST_SOURCE_DIR "/core/", &with_core);
  CU_ASSERT_TRUE(core >= 1);
  CU_ASSERT_EQUAL(with_core, core);
}

static CU_TestInfo include_tests[] = {
    {"no plugin source includes a core header", test_no_plugin_includes_a_core_header},
    {"the include scan catches core includes", test_scan_catches_core_includes},
    {"no plugin target has the core include path", test_no_plugin_target_sees_the_core},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"plugin_includes", NULL, NULL, NULL, NULL, include_tests},
    CU_SUITE_INFO_NULL,
};
