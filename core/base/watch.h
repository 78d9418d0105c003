/* kc_watch: tells which of a set of files changed on disk, for script hot
 * reload (DESIGN §7b). It watches each file's directory with inotify on a
 * thread of its own, so an editor that saves by writing a new file and
 * renaming it over the old one is seen as well as one that truncates and
 * rewrites in place; a file is reported once it has been quiet for a short
 * settle time, so one save is one report however many writes it took. */
#ifndef KC_WATCH_H
#define KC_WATCH_H

#include <keel/abi.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* How long a file must stay quiet after its last close-after-write or
 * rename before it is reported. */
#define KC_WATCH_SETTLE_NS_DEFAULT (30u * 1000u * 1000u)
#define KC_WATCH_MAX_FILES 256

typedef struct kc_watch kc_watch;

/* Starts the watcher thread ("keel-watch"). settle_ns 0 = the default.
 * KEEL_ERR_BACKEND when inotify or the thread cannot be had (the message
 * says which). Any thread. */
keel_result kc_watch_create(uint64_t settle_ns, kc_watch **out, kc_err *err);
/* Stops and joins the thread, frees everything. NULL is fine. */
void kc_watch_destroy(kc_watch *w);

/* Watches `path` (absolute; copied). Adding a path twice is one watch.
 * KEEL_ERR_FULL past KC_WATCH_MAX_FILES, KEEL_ERR_IO when its directory
 * cannot be watched. Any thread. */
keel_result kc_watch_add(kc_watch *w, const char *path, kc_err *err);

/* True when some watched file has changed since the last take. One relaxed
 * atomic load: cheap enough for every tick. Any thread. */
bool kc_watch_pending(const kc_watch *w);

/* Moves the changed files' paths into paths[0..cap) (pointers into the
 * watcher, valid until the next take or destroy; one taker at a time) in
 * the order they were first added, and returns how many. Any thread. */
uint32_t kc_watch_take(kc_watch *w, const char **paths, uint32_t cap);

/* Watched files and change reports so far (tests, stats). Any thread. */
uint32_t kc_watch_count(const kc_watch *w);
uint64_t kc_watch_reports(const kc_watch *w);

#endif
