/* See json.h. Bytes from 0x80 up pass through: the strings are UTF-8 names
 * and paths, which JSON takes as they are. */
#include "base/json.h"

void kc_json_write_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}
