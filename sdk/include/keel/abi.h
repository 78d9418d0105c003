/* keel/abi.h: the versioned C ABI between the keel host and its plugins.
 * Everything a plugin and the host must agree on byte for byte starts here:
 * the ABI version, result codes, the export macro and struct_size helpers.
 * Includes only <stddef.h>, <stdint.h>, <stdbool.h>. */
#ifndef KEEL_ABI_H
#define KEEL_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Compatibility rule (enforced by the host's loader): a plugin loads when its
 * ABI major equals the host's and its minor is not newer than the host's.
 * History: 1.0 the first ABI; 1.1 lights, game time, cameras per pass,
 * entity ids and a screen layer for renderers, input and hot reload for
 * script runtimes, plugin settings in the manifest (each member marked
 * "1.1" where it is declared).
 * Within a major, structs only grow at the end; a reader checks struct_size
 * before touching a member a newer writer may have added (KEEL_HAS_MEMBER). */
#define KEEL_ABI_MAJOR 1
#define KEEL_ABI_MINOR 1

#ifdef __cplusplus
#define KEEL_EXTERN_C extern "C"
#define KEEL_BEGIN_DECLS extern "C" {
#define KEEL_END_DECLS }
#else
#define KEEL_EXTERN_C
#define KEEL_BEGIN_DECLS
#define KEEL_END_DECLS
#endif

/* Marks the one symbol a plugin exports. Plugins are built with hidden
 * visibility, so nothing else leaves the shared object. */
#if defined(_WIN32)
#define KEEL_EXPORT KEEL_EXTERN_C __declspec(dllexport)
#else
#define KEEL_EXPORT KEEL_EXTERN_C __attribute__((visibility("default")))
#endif

/* Result of every fallible call across the ABI. 0 is success; errors are
 * negative so `if (r < 0)` reads naturally. Codes are never renumbered; new
 * ones are appended. */
typedef enum keel_result {
  KEEL_OK = 0,
  KEEL_ERR_INVALID_ARGUMENT = -1, /* a caller's argument is out of its contract */
  KEEL_ERR_NOT_FOUND = -2,        /* a named thing (file, key, id, interface) does not exist */
  KEEL_ERR_UNSUPPORTED = -3,      /* this build or backend does not provide the feature */
  KEEL_ERR_OUT_OF_MEMORY = -4,    /* an allocation or a configured memory cap failed */
  KEEL_ERR_FULL = -5,             /* a bounded queue or table is full; retry later */
  KEEL_ERR_EMPTY = -6,            /* nothing to take */
  KEEL_ERR_TIMEOUT = -7,          /* a bounded wait ran out */
  KEEL_ERR_WRONG_STATE = -8,      /* call made in the wrong order or on the wrong thread */
  KEEL_ERR_VERSION = -9,          /* ABI or format version refused */
  KEEL_ERR_IO = -10,              /* the operating system refused a file or device operation */
  KEEL_ERR_PARSE = -11,           /* malformed input (config, script source) */
  KEEL_ERR_SCRIPT = -12,          /* a script raised an error or was interrupted */
  KEEL_ERR_BACKEND = -13,         /* the graphics or script backend failed */
  KEEL_ERR_STALE_ID = -14,        /* a generational id whose slot was destroyed or reused */
  KEEL_ERR_DEVICE_LOST = -15      /* 1.1: the graphics device is gone; the renderer cannot go on */
} keel_result;

/* A short, stable name for a result ("KEEL_ERR_FULL"); never NULL. Any
 * thread; the string is static. */
static inline const char *keel_result_name(keel_result r) {
  switch (r) {
    case KEEL_OK: return "KEEL_OK";
    case KEEL_ERR_INVALID_ARGUMENT: return "KEEL_ERR_INVALID_ARGUMENT";
    case KEEL_ERR_NOT_FOUND: return "KEEL_ERR_NOT_FOUND";
    case KEEL_ERR_UNSUPPORTED: return "KEEL_ERR_UNSUPPORTED";
    case KEEL_ERR_OUT_OF_MEMORY: return "KEEL_ERR_OUT_OF_MEMORY";
    case KEEL_ERR_FULL: return "KEEL_ERR_FULL";
    case KEEL_ERR_EMPTY: return "KEEL_ERR_EMPTY";
    case KEEL_ERR_TIMEOUT: return "KEEL_ERR_TIMEOUT";
    case KEEL_ERR_WRONG_STATE: return "KEEL_ERR_WRONG_STATE";
    case KEEL_ERR_VERSION: return "KEEL_ERR_VERSION";
    case KEEL_ERR_IO: return "KEEL_ERR_IO";
    case KEEL_ERR_PARSE: return "KEEL_ERR_PARSE";
    case KEEL_ERR_SCRIPT: return "KEEL_ERR_SCRIPT";
    case KEEL_ERR_BACKEND: return "KEEL_ERR_BACKEND";
    case KEEL_ERR_STALE_ID: return "KEEL_ERR_STALE_ID";
    case KEEL_ERR_DEVICE_LOST: return "KEEL_ERR_DEVICE_LOST";
  }
  return "KEEL_ERR_UNKNOWN";
}

/* The size a struct's writer must store in struct_size. */
#define KEEL_STRUCT_SIZE(type) ((uint32_t)sizeof(type))

/* True when `ptr` (whose first member is uint32_t struct_size) is large
 * enough to contain `member` of `type`: the check a reader makes before
 * using a member added in a later minor version. */
#define KEEL_HAS_MEMBER(ptr, type, member) \
  ((ptr) != NULL && (ptr)->struct_size >= offsetof(type, member) + sizeof(((type *)0)->member))

/* Fixed capacity of messages that cross the ABI inline (never pointers into
 * another thread's heap). */
#define KEEL_MESSAGE_MAX 256

#endif /* KEEL_ABI_H */
