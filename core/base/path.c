/* See path.h. Paths are built in caller buffers so no path helper allocates
 * and every overflow is an error rather than a silently cut path. */
#include "base/path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef KEEL_REL_DATA_DIR
#error "KEEL_REL_DATA_DIR is set by core/CMakeLists.txt"
#endif
#ifndef KEEL_REL_PLUGIN_DIR
#error "KEEL_REL_PLUGIN_DIR is set by core/CMakeLists.txt"
#endif

static keel_result too_long(char *out, size_t cap, kc_err *err, const char *what) {
  if (cap) out[0] = '\0';
  return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "%s: path longer than %zu bytes", what, cap ? cap - 1 : 0);
}

bool kc_path_is_absolute(const char *path) { return path && path[0] == '/'; }

/* Path parts kept by kc_path_normalize; deeper paths are refused. */
#define MAX_PARTS 256

keel_result kc_path_normalize(const char *path, char *out, size_t cap, kc_err *err) {
  if (!path || !cap) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "normalize: NULL path or no room");
  bool abs = path[0] == '/';
  struct {
    const char *p;
    size_t n;
  } parts[MAX_PARTS];
  size_t np = 0;
  for (const char *p = path; *p;) {
    while (*p == '/') p++;
    if (!*p) break;
    const char *e = p;
    while (*e && *e != '/') e++;
    size_t n = (size_t)(e - p);
    bool dot = n == 1 && p[0] == '.';
    bool dotdot = n == 2 && p[0] == '.' && p[1] == '.';
    if (dot) {
      /* nothing */
    } else if (dotdot && np > 0 && !(parts[np - 1].n == 2 && memcmp(parts[np - 1].p, "..", 2) == 0)) {
      np--;
    } else if (dotdot && abs && np == 0) {
      /* "/.." is "/" */
    } else {
      if (np == MAX_PARTS) return too_long(out, cap, err, path);
      parts[np].p = p;
      parts[np].n = n;
      np++;
    }
    p = e;
  }
  size_t len = 0;
  if (abs || np == 0) {
    if (cap < 2) return too_long(out, cap, err, path);
    out[len++] = abs ? '/' : '.';
  }
  for (size_t i = 0; i < np; i++) {
    size_t sep = (i > 0) ? 1 : 0;
    if (len + sep + parts[i].n + 1 > cap) return too_long(out, cap, err, path);
    if (sep) out[len++] = '/';
    memcpy(out + len, parts[i].p, parts[i].n);
    len += parts[i].n;
  }
  out[len] = '\0';
  return KEEL_OK;
}

keel_result kc_path_join(const char *base, const char *rel, char *out, size_t cap, kc_err *err) {
  if (!base || !rel) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "join: NULL path");
  if (kc_path_is_absolute(rel)) return kc_path_normalize(rel, out, cap, err);
  char tmp[2 * KC_PATH_MAX + 2];
  int n = snprintf(tmp, sizeof tmp, "%s/%s", base, rel);
  if (n < 0 || (size_t)n >= sizeof tmp) return too_long(out, cap, err, rel);
  return kc_path_normalize(tmp, out, cap, err);
}

keel_result kc_path_dirname(const char *path, char *out, size_t cap, kc_err *err) {
  if (!path) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "dirname: NULL path");
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/') n--; /* "a/b/" is the directory "a/b" */
  while (n > 0 && path[n - 1] != '/') n--;
  if (n == 0) return kc_path_normalize(".", out, cap, err);
  while (n > 1 && path[n - 1] == '/') n--;
  char tmp[KC_PATH_MAX];
  if (n >= sizeof tmp) return too_long(out, cap, err, path);
  memcpy(tmp, path, n);
  tmp[n] = '\0';
  return kc_path_normalize(tmp, out, cap, err);
}

keel_result kc_path_cwd(char *out, size_t cap, kc_err *err) {
  if (!cap || !getcwd(out, cap)) {
    if (cap) out[0] = '\0';
    return kc_err_set(err, KEEL_ERR_IO, "cannot read the current directory: %s", strerror(errno));
  }
  return KEEL_OK;
}

keel_result kc_path_absolute(const char *path, char *out, size_t cap, kc_err *err) {
  if (!path) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "absolute: NULL path");
  if (kc_path_is_absolute(path)) return kc_path_normalize(path, out, cap, err);
  char cwd[KC_PATH_MAX];
  keel_result r = kc_path_cwd(cwd, sizeof cwd, err);
  if (r != KEEL_OK) {
    if (cap) out[0] = '\0';
    return r;
  }
  return kc_path_join(cwd, path, out, cap, err);
}

keel_result kc_path_exe_dir(char *out, size_t cap, kc_err *err) {
  char exe[KC_PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n < 0) {
    if (cap) out[0] = '\0';
    return kc_err_set(err, KEEL_ERR_IO, "cannot find the executable (/proc/self/exe): %s", strerror(errno));
  }
  if ((size_t)n >= sizeof exe - 1) return too_long(out, cap, err, "/proc/self/exe");
  exe[n] = '\0';
  return kc_path_dirname(exe, out, cap, err);
}

static keel_result exe_relative(const char *rel, char *out, size_t cap, kc_err *err) {
  char dir[KC_PATH_MAX];
  keel_result r = kc_path_exe_dir(dir, sizeof dir, err);
  if (r != KEEL_OK) {
    if (cap) out[0] = '\0';
    return r;
  }
  return kc_path_join(dir, rel, out, cap, err);
}

keel_result kc_path_data_dir(char *out, size_t cap, kc_err *err) {
  return exe_relative(KEEL_REL_DATA_DIR, out, cap, err);
}

keel_result kc_path_plugin_dir(char *out, size_t cap, kc_err *err) {
  return exe_relative(KEEL_REL_PLUGIN_DIR, out, cap, err);
}

keel_result kc_path_default_config(char *out, size_t cap, kc_err *err) {
  return exe_relative(KEEL_REL_DATA_DIR "/engine.ini", out, cap, err);
}

/* ---- files that may not be files ---- */

const char *kc_path_file_kind(unsigned mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

/* Opens for reading without waiting (a FIFO would block open until a writer
 * comes) and checks what it is. Returns the descriptor or -1 with err. */
static int open_regular(const char *path, size_t max_bytes, const char *what, struct stat *st, kc_err *err) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    kc_err_set(err, KEEL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  if (fstat(fd, st) != 0) {
    kc_err_set(err, KEEL_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  if (!S_ISREG(st->st_mode)) {
    kc_err_set(err, KEEL_ERR_IO, "%s: is %s, not a regular file", path, kc_path_file_kind(st->st_mode));
    close(fd);
    return -1;
  }
  if ((uint64_t)st->st_size > max_bytes) {
    kc_err_set(err, KEEL_ERR_IO, "%s: larger than %zu bytes; %s", path, max_bytes, what);
    close(fd);
    return -1;
  }
  return fd;
}

keel_result kc_path_check_regular(const char *path, size_t max_bytes, const char *what, kc_err *err) {
  struct stat st;
  int fd = open_regular(path, max_bytes, what, &st, err);
  if (fd < 0) return KEEL_ERR_IO;
  close(fd);
  return KEEL_OK;
}

keel_result kc_path_read_regular(const char *path, size_t max_bytes, const char *what, char **out, size_t *len,
                                 kc_err *err) {
  *out = NULL;
  *len = 0;
  struct stat st;
  int fd = open_regular(path, max_bytes, what, &st, err);
  if (fd < 0) return KEEL_ERR_IO;
  /* Sized by fstat, not by the limit (a replay may allow a GiB), plus one
   * byte to see a file that grew since; it grows up to the limit if so. */
  size_t cap = (size_t)st.st_size + 2;
  char *buf = malloc(cap);
  if (!buf) {
    close(fd);
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  }
  size_t n = 0;
  while (n <= max_bytes) {
    if (n + 1 >= cap) {
      size_t grown_cap = cap * 2 < max_bytes + 2 ? cap * 2 : max_bytes + 2;
      char *grown = realloc(buf, grown_cap);
      if (!grown) {
        close(fd);
        free(buf);
        return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
      }
      buf = grown;
      cap = grown_cap;
    }
    size_t room = cap - 1 - n < max_bytes + 1 - n ? cap - 1 - n : max_bytes + 1 - n;
    ssize_t got = read(fd, buf + n, room);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int e = errno;
      close(fd);
      free(buf);
      return kc_err_set(err, KEEL_ERR_IO, "%s: cannot read: %s", path, strerror(e));
    }
    if (got == 0) break;
    n += (size_t)got;
  }
  close(fd);
  if (n > max_bytes) {
    free(buf);
    return kc_err_set(err, KEEL_ERR_IO, "%s: larger than %zu bytes; %s", path, max_bytes, what);
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return KEEL_OK;
}

FILE *kc_path_open_output(const char *path, const char *what, kc_err *err) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0644);
  if (fd < 0) {
    if (errno == ENXIO)
      kc_err_set(err, KEEL_ERR_IO, "%s: is a FIFO no process reads; not written", path);
    else
      kc_err_set(err, KEEL_ERR_IO, "%s: cannot write%s%s: %s", path, what ? " " : "", what ? what : "",
                 strerror(errno));
    return NULL;
  }
  /* Writes may block like any file's from here on (a full pipe). */
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  FILE *f = fdopen(fd, "w");
  if (!f) {
    kc_err_set(err, KEEL_ERR_IO, "%s: cannot write%s%s: %s", path, what ? " " : "", what ? what : "",
               strerror(errno));
    close(fd);
  }
  return f;
}
