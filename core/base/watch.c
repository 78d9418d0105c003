/* See watch.h. Directories are watched, not files: a save by rename gives
 * the file a new inode, which a watch on the old inode would never see.
 * Only IN_CLOSE_WRITE and IN_MOVED_TO count, so a file is never reported
 * between a truncate and the write that follows it. */
#include "base/watch.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"

#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO)

typedef struct watch_dir {
  char *path;
  int wd; /* -1 once the kernel dropped it (directory removed) */
} watch_dir;

typedef struct watch_file {
  char *path;          /* as added */
  const char *name;    /* into path: after the last '/' */
  uint32_t dir;        /* index into dirs */
  bool settling;       /* an event came; reported once quiet */
  bool ready;          /* reported, not yet taken */
  uint64_t last_event; /* kc_clock_now_ns of the latest event */
} watch_file;

struct kc_watch {
  int fd;    /* inotify */
  int wake;  /* eventfd: destroy wakes the thread */
  pthread_t thread;
  uint64_t settle_ns;
  pthread_mutex_t lock; /* dirs, files, their flags */
  watch_dir dirs[KC_WATCH_MAX_FILES];
  watch_file files[KC_WATCH_MAX_FILES];
  uint32_t n_dirs, n_files;
  _Atomic bool pending;
  _Atomic bool quit;
  _Atomic uint64_t reports;
};

/* Marks the files an event names. Lock held. */
static void on_event(kc_watch *w, const struct inotify_event *ev, uint64_t now) {
  if (ev->mask & IN_Q_OVERFLOW) {
    /* Events were lost: every file may have changed. */
    for (uint32_t i = 0; i < w->n_files; i++) {
      w->files[i].settling = true;
      w->files[i].last_event = now;
    }
    return;
  }
  for (uint32_t d = 0; d < w->n_dirs; d++) {
    if (w->dirs[d].wd != ev->wd) continue;
    if (ev->mask & IN_IGNORED) {
      w->dirs[d].wd = -1;
      return;
    }
    if (!(ev->mask & WATCH_MASK) || ev->len == 0) return;
    for (uint32_t i = 0; i < w->n_files; i++) {
      watch_file *f = &w->files[i];
      if (f->dir == d && strcmp(f->name, ev->name) == 0) {
        f->settling = true;
        f->last_event = now;
      }
    }
    return;
  }
}

/* Reports the files quiet for settle_ns; returns the ms until the next one
 * is due, or -1 for none. Lock held. */
static int settle(kc_watch *w, uint64_t now) {
  uint64_t next = UINT64_MAX;
  for (uint32_t i = 0; i < w->n_files; i++) {
    watch_file *f = &w->files[i];
    if (!f->settling) continue;
    uint64_t due = f->last_event + w->settle_ns;
    if (now >= due) {
      f->settling = false;
      f->ready = true;
      atomic_fetch_add_explicit(&w->reports, 1, memory_order_relaxed);
      atomic_store_explicit(&w->pending, true, memory_order_release);
    } else if (due < next) {
      next = due;
    }
  }
  if (next == UINT64_MAX) return -1;
  return (int)((next - now + 999999u) / 1000000u);
}

static void *watch_main(void *arg) {
  kc_watch *w = arg;
  kc_log_set_thread_name("watch");
  _Alignas(struct inotify_event) char buf[16384];
  int timeout = -1;
  while (!atomic_load_explicit(&w->quit, memory_order_acquire)) {
    struct pollfd p[2] = {{.fd = w->fd, .events = POLLIN}, {.fd = w->wake, .events = POLLIN}};
    int n = poll(p, 2, timeout);
    if (n < 0 && errno != EINTR) {
      kc_log_write(KC_LOG_ERROR, "hot reload: the file watcher stopped: poll: %s", strerror(errno));
      break;
    }
    uint64_t now = kc_clock_now_ns();
    pthread_mutex_lock(&w->lock);
    if (n > 0 && (p[0].revents & POLLIN)) {
      ssize_t len = read(w->fd, buf, sizeof buf);
      for (ssize_t off = 0; len > 0 && off < len;) {
        const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
        on_event(w, ev, now);
        off += (ssize_t)(sizeof *ev + ev->len);
      }
    }
    timeout = settle(w, now);
    pthread_mutex_unlock(&w->lock);
  }
  return NULL;
}

keel_result kc_watch_create(uint64_t settle_ns, kc_watch **out, kc_err *err) {
  *out = NULL;
  kc_watch *w = calloc(1, sizeof *w);
  if (!w) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "file watcher: out of memory");
  w->settle_ns = settle_ns ? settle_ns : KC_WATCH_SETTLE_NS_DEFAULT;
  w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  w->wake = w->fd >= 0 ? eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) : -1;
  if (w->fd < 0 || w->wake < 0) {
    int e = errno;
    const char *what = w->fd < 0 ? "inotify_init1" : "eventfd";
    if (w->fd >= 0) close(w->fd);
    free(w);
    return kc_err_set(err, KEEL_ERR_BACKEND, "file watcher: %s: %s", what, strerror(e));
  }
  pthread_mutex_init(&w->lock, NULL);
  int e = pthread_create(&w->thread, NULL, watch_main, w);
  if (e != 0) {
    close(w->fd);
    close(w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return kc_err_set(err, KEEL_ERR_BACKEND, "file watcher: cannot start its thread: %s", strerror(e));
  }
  *out = w;
  return KEEL_OK;
}

void kc_watch_destroy(kc_watch *w) {
  if (!w) return;
  atomic_store_explicit(&w->quit, true, memory_order_release);
  uint64_t one = 1;
  if (write(w->wake, &one, sizeof one) < 0) { /* a full counter still wakes poll */
  }
  pthread_join(w->thread, NULL);
  close(w->fd);
  close(w->wake);
  for (uint32_t i = 0; i < w->n_dirs; i++) free(w->dirs[i].path);
  for (uint32_t i = 0; i < w->n_files; i++) free(w->files[i].path);
  pthread_mutex_destroy(&w->lock);
  free(w);
}

keel_result kc_watch_add(kc_watch *w, const char *path, kc_err *err) {
  const char *slash = path ? strrchr(path, '/') : NULL;
  if (!w || !slash || slash[1] == '\0')
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "file watcher: '%s' is not an absolute file path",
                      path ? path : "(null)");
  keel_result r = KEEL_OK;
  pthread_mutex_lock(&w->lock);
  for (uint32_t i = 0; i < w->n_files; i++)
    if (strcmp(w->files[i].path, path) == 0) goto done;
  if (w->n_files == KC_WATCH_MAX_FILES) {
    r = kc_err_set(err, KEEL_ERR_FULL, "file watcher: %s not watched: %d files are already", path, KC_WATCH_MAX_FILES);
    goto done;
  }
  size_t dlen = slash == path ? 1 : (size_t)(slash - path);
  uint32_t d = 0;
  while (d < w->n_dirs && !(strlen(w->dirs[d].path) == dlen && strncmp(w->dirs[d].path, path, dlen) == 0)) d++;
  if (d == w->n_dirs || w->dirs[d].wd < 0) {
    char *dir = strndup(path, dlen);
    int wd = dir ? inotify_add_watch(w->fd, dir, WATCH_MASK) : -1;
    if (wd < 0) {
      r = kc_err_set(err, dir ? KEEL_ERR_IO : KEEL_ERR_OUT_OF_MEMORY, "file watcher: cannot watch %s: %s",
                     dir ? dir : path, dir ? strerror(errno) : "out of memory");
      free(dir);
      goto done;
    }
    if (d == w->n_dirs) {
      w->dirs[w->n_dirs++] = (watch_dir){.path = dir, .wd = wd};
    } else {
      free(w->dirs[d].path);
      w->dirs[d] = (watch_dir){.path = dir, .wd = wd};
    }
  }
  char *copy = strdup(path);
  if (!copy) {
    r = kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "file watcher: out of memory");
    goto done;
  }
  w->files[w->n_files++] = (watch_file){.path = copy, .name = copy + (slash - path) + 1, .dir = d};
done:
  pthread_mutex_unlock(&w->lock);
  return r;
}

bool kc_watch_pending(const kc_watch *w) {
  return w && atomic_load_explicit(&((kc_watch *)w)->pending, memory_order_relaxed);
}

uint32_t kc_watch_take(kc_watch *w, const char **paths, uint32_t cap) {
  if (!w) return 0;
  uint32_t n = 0;
  pthread_mutex_lock(&w->lock);
  atomic_store_explicit(&w->pending, false, memory_order_relaxed);
  for (uint32_t i = 0; i < w->n_files; i++) {
    if (!w->files[i].ready) continue;
    if (n == cap) {
      atomic_store_explicit(&w->pending, true, memory_order_relaxed); /* the rest next time */
      break;
    }
    w->files[i].ready = false;
    paths[n++] = w->files[i].path;
  }
  pthread_mutex_unlock(&w->lock);
  return n;
}

uint32_t kc_watch_count(const kc_watch *w) {
  pthread_mutex_lock(&((kc_watch *)w)->lock);
  uint32_t n = w->n_files;
  pthread_mutex_unlock(&((kc_watch *)w)->lock);
  return n;
}

uint64_t kc_watch_reports(const kc_watch *w) { return atomic_load_explicit(&w->reports, memory_order_relaxed); }
