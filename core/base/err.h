/* kc_err: how every fallible core function reports failure. The function
 * returns a keel_result; when the caller passed a kc_err it also gets a
 * human-readable message (with file:line where there is one) to show. The
 * core never prints and swallows an error. */
#ifndef KC_ERR_H
#define KC_ERR_H

#include <keel/abi.h>

#define KC_ERR_MSG_MAX 1024

typedef struct kc_err {
  keel_result code;
  char msg[KC_ERR_MSG_MAX];
} kc_err;

/* Records code and a printf-style message in *err (err may be NULL) and
 * returns code, so `return kc_err_set(err, KEEL_ERR_PARSE, "...")` reads well. */
keel_result kc_err_set(kc_err *err, keel_result code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies src into dst (capacity cap > 0), cut to fit and always
 * NUL-terminated: how a core message enters a fixed ABI field such as
 * keel_message. Returns dst. */
char *kc_copy_text(char *dst, size_t cap, const char *src);

/* Resets *err to KEEL_OK with an empty message (err may be NULL). */
void kc_err_clear(kc_err *err);

#endif
