/* See suggest.h. Names are short (plugin names, keys), so the plain
 * dynamic-programming distance on the stack is all this needs. */
#include "base/suggest.h"

#include <string.h>

#define NAME_CAP 64

size_t kc_suggest_distance(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b);
  if (n >= NAME_CAP || m >= NAME_CAP) return (size_t)-1;
  size_t d[NAME_CAP][NAME_CAP];
  for (size_t i = 0; i <= n; i++) d[i][0] = i;
  for (size_t j = 0; j <= m; j++) d[0][j] = j;
  for (size_t i = 1; i <= n; i++) {
    for (size_t j = 1; j <= m; j++) {
      size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  }
  return d[n][m];
}

const char *kc_suggest(const char *word, const char *const *candidates, size_t count) {
  if (!word) return NULL;
  size_t limit = strlen(word) <= 4 ? 1 : 2;
  const char *best = NULL;
  size_t best_d = limit + 1;
  for (size_t i = 0; i < count; i++) {
    if (!candidates[i] || strcmp(candidates[i], word) == 0) continue;
    size_t d = kc_suggest_distance(word, candidates[i]);
    if (d < best_d) {
      best = candidates[i];
      best_d = d;
    }
  }
  return best;
}
