/* A stand-in host for plugin tests: a keel_host whose log lines are captured,
 * cvars kept in a small table, jobs run inline, and a keel_script_world that
 * applies commands at once to a plain array, so a plugin can be driven
 * through the SDK alone, without the engine. Not thread-safe except log. */
#ifndef KEEL_FAKE_HOST_H
#define KEEL_FAKE_HOST_H

#include <keel/host.h>
#include <keel/script.h>

#define FAKE_MAX_OBJECTS 4096
#define FAKE_MAX_LOG 256
#define FAKE_MAX_CVARS 32
#define FAKE_MAX_COMMANDS 65536
/* A logged line containing "@sleep-ms:N" makes the log call sleep N ms:
 * a script's way to let wall-clock time pass without using CPU time. */
#define FAKE_SLEEP_TAG "@sleep-ms:"

typedef struct fake_object {
  bool live;
  uint32_t generation;
  keel_object_snapshot snap;
} fake_object;

typedef struct fake_host {
  keel_host host;            /* first, so the host pointer is the fake_host */
  keel_script_world world;
  char game_dir[512];

  /* log capture: the last FAKE_MAX_LOG lines, "LEVEL: text" */
  char log_lines[FAKE_MAX_LOG][512];
  uint32_t log_count;        /* total lines ever logged */
  uint32_t log_errors;

  /* cvars */
  char cvar_names[FAKE_MAX_CVARS][KEEL_NAME_MAX];
  keel_cvar_value cvar_values[FAKE_MAX_CVARS];
  uint32_t cvar_count;

  /* world: commands applied at once; completions queued as events */
  fake_object objects[FAKE_MAX_OBJECTS];
  uint32_t next_index;       /* slots handed out so far */
  uint64_t commands;         /* commands accepted */
  uint32_t queue_limit;      /* command_push refuses with FULL past this many per tick; 0 = no limit */
  uint32_t pushed_this_tick;
  keel_script_event events[1024];
  uint32_t event_count;
} fake_host;

/* Fills *fh (caller owns the memory; it is large, use static or heap). */
void fake_host_init(fake_host *fh, const char *game_dir);
/* Adds a cvar the plugin can get/set. */
void fake_host_add_cvar(fake_host *fh, const char *name, const keel_cvar_value *value);
/* True when a captured log line contains `needle`. */
bool fake_host_log_has(const fake_host *fh, const char *needle);
/* Prints every captured line to stderr (for failing tests). */
void fake_host_log_dump(const fake_host *fh);
/* Takes the queued events (for the next tick) into out; returns the count. */
uint32_t fake_host_take_events(fake_host *fh, keel_script_event *out, uint32_t cap);
/* Live objects of a kind. */
uint32_t fake_host_count(const fake_host *fh, keel_object_kind kind);

#endif
