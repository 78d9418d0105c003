/* kc_json: the one JSON string writer of the files keel writes (the stats
 * JSON, the frame trace), so every one escapes names and paths the same
 * way. */
#ifndef KC_JSON_H
#define KC_JSON_H

#include <stdio.h>

/* Writes s as a JSON string literal: quotes, '"' and '\\' escaped, control
 * characters as \u00XX; NULL is written as "". Any thread. */
void kc_json_write_string(FILE *f, const char *s);

#endif
