/* kc_suggest: the "did you mean" of configuration errors. A name typed
 * wrong ("vulcan") is matched against the names that exist, so the message
 * can offer the one the user most likely meant. */
#ifndef KC_SUGGEST_H
#define KC_SUGGEST_H

#include <stddef.h>

/* Edit distance (insertions, deletions, substitutions, and swaps of two
 * neighbouring letters each cost 1) between a and b; names longer than 63
 * bytes count as far apart. Any thread. */
size_t kc_suggest_distance(const char *a, const char *b);

/* The candidate closest to `word` when it is close enough to be a typo
 * (distance at most 1 for words of up to 4 letters, 2 for longer ones, and
 * never the word itself), else NULL. Ties go to the first. The result
 * points into `candidates`. Any thread. */
const char *kc_suggest(const char *word, const char *const *candidates, size_t count);

#endif
