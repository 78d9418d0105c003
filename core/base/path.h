/* kc_path: where the engine's files are. The runner lives in <prefix>/bin and
 * finds its default engine.ini and plugins relative to its own executable,
 * the same way in the build tree and an install, so nothing is hard-coded
 * to a prefix. */
#ifndef KC_PATH_H
#define KC_PATH_H

#include "base/err.h"

#include <keel/abi.h>

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

#endif
