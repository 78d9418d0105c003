/* The SDK's promise that every function states its thread rule where it is
 * declared (docs/plugins.md §1), checked on the headers themselves: each
 * function pointer, function typedef and inline function in
 * sdk/include/keel/ (every .h) must have a comment right above it (a group of
 * declarations may share one) that says which thread may call it. A
 * declaration added without one fails here, naming the file and line. */
#include "keel_test.h"

#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINES_MAX 2000
#define LINE_CAP 512

static char lines[LINES_MAX][LINE_CAP];

static bool is_comment_line(const char *l) {
  while (*l == ' ') l++;
  return strncmp(l, "/*", 2) == 0 || strncmp(l, "*", 1) == 0;
}

/* A declaration of something callable: "(*name)(" or "static inline". */
static bool declares_function(const char *l) {
  if (is_comment_line(l) || l[0] == '#') return false;
  const char *star = strstr(l, "(*");
  if (star) {
    const char *p = star + 2;
    while (isalnum((unsigned char)*p) || *p == '_') p++;
    if (p > star + 2 && p[0] == ')' && p[1] == '(') return true;
  }
  return strncmp(l, "static inline", 13) == 0;
}

/* The nearest comment at or above line i (its text, lowercased): a
 * comment on the line itself, or the closest block above. */
static void comment_for(int i, char *out, size_t cap) {
  out[0] = '\0';
  const char *same = strstr(lines[i], "/*");
  if (same) {
    snprintf(out, cap, "%s", same);
  } else {
    int end = i - 1;
    while (end >= 0 && !strstr(lines[end], "*/")) end--;
    int start = end;
    while (start >= 0 && !strstr(lines[start], "/*")) start--;
    size_t off = 0;
    for (int k = start < 0 ? 0 : start; k <= end && off < cap; k++)
      off += (size_t)snprintf(out + off, cap - off, "%s ", lines[k]);
  }
  for (char *p = out; *p; p++) *p = (char)tolower((unsigned char)*p);
}

static void test_every_function_states_its_thread(void) {
  char dirpath[1024];
  snprintf(dirpath, sizeof dirpath, "%s/sdk/include/keel", KEEL_TEST_SOURCE_DIR);
  DIR *d = opendir(dirpath);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  struct dirent *e;
  int headers = 0, functions = 0, missing = 0;
  while ((e = readdir(d)) != NULL) {
    size_t n = strlen(e->d_name);
    if (n < 3 || strcmp(e->d_name + n - 2, ".h") != 0) continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dirpath, e->d_name);
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    int count = 0;
    while (count < LINES_MAX && fgets(lines[count], LINE_CAP, f)) count++;
    fclose(f);
    headers++;
    for (int i = 0; i < count; i++) {
      if (!declares_function(lines[i])) continue;
      functions++;
      char comment[4096];
      comment_for(i, comment, sizeof comment);
      if (!strstr(comment, "thread") && !strstr(comment, "worker")) {
        fprintf(stderr, "\n%s:%d: no thread rule in the comment above:\n  %s", e->d_name, i + 1, lines[i]);
        missing++;
      }
    }
  }
  closedir(d);
  CU_ASSERT(headers >= 7);
  CU_ASSERT(functions >= 60); /* the tables of host.h, renderer.h, script.h and the inline helpers */
  CU_ASSERT_EQUAL(missing, 0);
}

static CU_TestInfo tests[] = {
    {"every SDK function states its thread rule", test_every_function_states_its_thread},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"sdk docs", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
