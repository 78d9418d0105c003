/* kc_path: where the engine's files are. The runner lives in <prefix>/bin and
 * finds its default engine.ini and plugins relative to its own executable,
 * the same way in the build tree and an install, so nothing is hard-coded
 * to a prefix. */
#ifndef KC_PATH_H
#define KC_PATH_H

#include "base/err.h"

#include <keel/abi.h>

#include <stdio.h>

/* Capacity every kc_path caller can use for a path buffer. */
#define KC_PATH_MAX 4096

/* All functions: any thread; write a NUL-terminated result into out
 * (caller owns, `cap` bytes); a result that does not fit is refused with
 * KEEL_ERR_INVALID_ARGUMENT and out holds "". */

/* True for "/..." paths. */
bool kc_path_is_absolute(const char *path);

/* Lexical clean-up: collapses "//", drops "." parts and folds "name/.."
 * (leading ".." of a relative path stay). Symlinks are not resolved, so use
 * it on paths whose directories are real (the executable's, a config's). */
keel_result kc_path_normalize(const char *path, char *out, size_t cap, kc_err *err);

/* base/rel normalised; rel when rel is absolute; base when rel is "". */
keel_result kc_path_join(const char *base, const char *rel, char *out, size_t cap, kc_err *err);

/* The directory part: "a/b/c.ini" -> "a/b", "c.ini" -> ".", "/c" -> "/". */
keel_result kc_path_dirname(const char *path, char *out, size_t cap, kc_err *err);

/* The current working directory. */
keel_result kc_path_cwd(char *out, size_t cap, kc_err *err);

/* `path` made absolute (against the current directory) and normalised. */
keel_result kc_path_absolute(const char *path, char *out, size_t cap, kc_err *err);

/* The directory of the running executable (from /proc/self/exe). */
keel_result kc_path_exe_dir(char *out, size_t cap, kc_err *err);

/* <exe_dir>/<KEEL_REL_DATA_DIR>: share/keel of the build or install that
 * holds the running executable. */
keel_result kc_path_data_dir(char *out, size_t cap, kc_err *err);

/* <exe_dir>/<KEEL_REL_PLUGIN_DIR>: lib/keel/plugins of that build or install. */
keel_result kc_path_plugin_dir(char *out, size_t cap, kc_err *err);

/* <data_dir>/engine.ini: the configuration `keel` uses without --config. */
keel_result kc_path_default_config(char *out, size_t cap, kc_err *err);

/* Files named by users or scripts may be anything: a FIFO (opening it would
 * wait for a writer), a device (/dev/zero never ends), a directory. These
 * open without waiting (O_NONBLOCK), refuse what is not a regular file with
 * the reason, and refuse a file larger than max_bytes. */

/* "a FIFO", "a directory", "a character device", ... for st_mode. */
const char *kc_path_file_kind(unsigned mode);

/* Reads the whole regular file at `path` into a new NUL-terminated buffer
 * (*out, the caller frees it) of *len bytes. KEEL_ERR_IO with
 * "PATH: cannot open: reason", "PATH: is a FIFO, not a regular file" or
 * "PATH: larger than MAX bytes; WHAT" (what says what the file is not). */
keel_result kc_path_read_regular(const char *path, size_t max_bytes, const char *what, char **out, size_t *len,
                                 kc_err *err);

/* Checks without reading: `path` exists, is a regular file and has at most
 * max_bytes. Same messages as kc_path_read_regular. */
keel_result kc_path_check_regular(const char *path, size_t max_bytes, const char *what, kc_err *err);

/* Opens `path` for writing (created or truncated) without waiting: a FIFO
 * no process reads is refused ("PATH: is a FIFO no process reads; not
 * written") instead of blocking; a terminal or a pipe with a reader is
 * accepted. Every file keel writes is opened here, so none can hang a run.
 * Returns a stdio stream or NULL with err set: "PATH: cannot write WHAT:
 * reason" (`what`, e.g. "the trace", may be NULL). */
FILE *kc_path_open_output(const char *path, const char *what, kc_err *err);

#endif
