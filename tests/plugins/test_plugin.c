/* One source for every test-only plugin: each CMake target compiles it with a
 * few TP_* definitions to get exactly one defect (or none), so the loader tests
 * can check every refusal against a real shared object. SDK headers only. */
#include <keel/plugin.h>
#include <keel/renderer.h>
#include <keel/script.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_plugin_abi.h"

#ifndef TP_NAME
#error "TP_NAME must name the plugin"
#endif
#ifndef TP_KIND
#define TP_KIND KEEL_PLUGIN_RENDERER
#endif
#ifndef TP_ABI_MAJOR
#define TP_ABI_MAJOR KEEL_ABI_MAJOR
#endif
#ifndef TP_ABI_MINOR
#define TP_ABI_MINOR KEEL_ABI_MINOR
#endif

/* Appends our name to the marker file, if the test named one: the only side
 * effect any test plugin has, and only in create. */
static void tp_mark_created(void) {
  const char *path = getenv(TP_CREATE_MARKER_ENV);
  if (!path || !*path) return;
  FILE *f = fopen(path, "a");
  if (!f) return;
  fprintf(f, "%s\n", TP_NAME);
  fclose(f);
}

#if defined(TP_UNRESOLVED)
/* Defined nowhere: dlopen with RTLD_NOW must refuse this plugin. */
extern int tp_absent_function(void);
#endif

/* ---- renderer ---- */

struct keel_renderer {
  int unused;
};

#if defined(TP_LOG_PATHS)
/* What the host's path roots give a renderer during create, logged with our
 * own name in front (the host must not add it a second time). */
static void tp_log_paths(const keel_host *h) {
  char game[1024], plugin[1024], cfg[1024];
  keel_result rg = h->path_resolve(h, KEEL_PATH_GAME, "./main.lua", game, sizeof game);
  keel_result rp = h->path_resolve(h, KEEL_PATH_PLUGIN, "", plugin, sizeof plugin);
  keel_result rc = h->path_resolve(h, KEEL_PATH_CONFIG, "a//b", cfg, sizeof cfg);
  h->log(h, KEEL_LOG_INFO, "%s: game=%s (%s) plugin=%s (%s) config=%s (%s)", TP_NAME, rg == KEEL_OK ? game : "",
         keel_result_name(rg), rp == KEEL_OK ? plugin : "", keel_result_name(rp), rc == KEEL_OK ? cfg : "",
         keel_result_name(rc));
}
#endif

#if defined(TP_SETTINGS) || defined(TP_BAD_SETTINGS)
/* One setting of each type. TP_BAD_SETTINGS breaks the table's rules (a
 * default outside its range), which the loader must refuse. */
static const keel_setting tp_settings[] = {
    {.name = "level", .type = KEEL_CVAR_INT, .min = 1, .max = 5, .help = "how much",
#if defined(TP_BAD_SETTINGS)
     .default_value = "9"},
#else
     .default_value = "2"},
#endif
    {.name = "mode", .type = KEEL_CVAR_STRING, .default_value = "fast", .choices = "fast, exact", .help = "which way"},
    {.name = "gain", .type = KEEL_CVAR_FLOAT, .default_value = "0.5", .min = 0, .max = 1, .help = "scale"},
    {.name = "verbose", .type = KEEL_CVAR_BOOL, .default_value = "false", .help = "say more"},
};

/* What create reads of its own settings, through the host's cvars. */
static __attribute__((unused)) void tp_log_settings(const keel_host *h) {
  static const char *const keys[] = {"level", "mode", "gain", "verbose"};
  char line[512];
  size_t off = 0;
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    char name[64];
    snprintf(name, sizeof name, "%s.%s", TP_NAME, keys[i]);
    keel_cvar_value v;
    keel_result r = h->cvar_get(h, name, &v);
    off += (size_t)snprintf(line + off, sizeof line - off, "%s%s=%s", i ? " " : "", keys[i],
                            r == KEEL_OK ? v.text : keel_result_name(r));
  }
  h->log(h, KEEL_LOG_INFO, "settings read in create: %s", line);
}
#endif

static keel_result tp_renderer_create(const keel_renderer_desc *desc, keel_renderer **out, keel_message *error) {
  (void)desc;
  *out = NULL;
  tp_mark_created();
#if defined(TP_LOG_PATHS)
  tp_log_paths(desc->host);
#endif
#if defined(TP_SETTINGS)
  tp_log_settings(desc->host);
#endif
#if defined(TP_CREATE_FAILS)
  if (error) snprintf(error->text, sizeof error->text, "%s", TP_CREATE_FAILS_MESSAGE);
  return KEEL_ERR_BACKEND;
#else
  (void)error;
#if defined(TP_UNRESOLVED)
  if (tp_absent_function()) return KEEL_ERR_BACKEND;
#endif
  *out = calloc(1, sizeof **out);
  return *out ? KEEL_OK : KEEL_ERR_OUT_OF_MEMORY;
#endif
}
static void tp_renderer_destroy(keel_renderer *r) { free(r); }
static keel_result tp_begin_frame(keel_renderer *r, const keel_frame_desc *f) {
  (void)r, (void)f;
#if defined(TP_BEGIN_FAILS)
  return KEEL_ERR_BACKEND; /* a renderer that can draw nothing */
#else
  return KEEL_OK;
#endif
}
static keel_result tp_encoder_begin(keel_renderer *r, uint32_t pass, uint32_t worker, keel_encoder **out) {
  (void)r, (void)pass, (void)worker;
  *out = NULL;
  return KEEL_ERR_UNSUPPORTED;
}
static keel_result tp_set_camera(keel_encoder *e, const keel_camera *c) {
  (void)e, (void)c;
  return KEEL_ERR_UNSUPPORTED;
}
static __attribute__((unused)) keel_result tp_draw(keel_encoder *e, const keel_draw *d, uint32_t n) {
  (void)e, (void)d, (void)n;
  return KEEL_ERR_UNSUPPORTED;
}
static keel_result tp_encoder_end(keel_encoder *e) {
  (void)e;
  return KEEL_ERR_UNSUPPORTED;
}
static keel_result tp_renderer_only(keel_renderer *r) {
  (void)r;
  return KEEL_OK;
}
#if defined(TP_PRESENT_LOST)
/* The device goes away at the third present. */
static keel_result tp_present_lost(keel_renderer *r) {
  static int presents;
  (void)r;
  return ++presents >= 3 ? KEEL_ERR_DEVICE_LOST : KEEL_OK;
}
#endif
static keel_result tp_resize(keel_renderer *r, uint32_t w, uint32_t h) {
  (void)r, (void)w, (void)h;
  return KEEL_OK;
}
static keel_result tp_mesh_create(keel_renderer *r, const keel_mesh_desc *d, keel_mesh *out) {
  (void)r, (void)d;
  out->id = 0;
  return KEEL_ERR_UNSUPPORTED;
}
static keel_result tp_mesh_destroy(keel_renderer *r, keel_mesh m) {
  (void)r, (void)m;
  return KEEL_ERR_UNSUPPORTED;
}
static keel_result tp_renderer_stats(keel_renderer *r, keel_renderer_stats *out) {
  (void)r;
  memset(out, 0, sizeof *out);
  return KEEL_OK;
}

static const keel_renderer_api tp_renderer_api = {
#if defined(TP_SMALL_TABLE)
    /* Claims to end before encoder_draw: an ABI 1.0 host needs more. */
    .struct_size = (uint32_t)offsetof(keel_renderer_api, encoder_draw),
#elif defined(TP_BIG_TABLE)
    /* Claims members past the end of the table: the host must not read them. */
    .struct_size = KEEL_STRUCT_SIZE(keel_renderer_api) + 64,
#else
    .struct_size = KEEL_STRUCT_SIZE(keel_renderer_api),
#endif
    .api = KEEL_GRAPHICS_NONE,
    .create = tp_renderer_create,
    .destroy = tp_renderer_destroy,
    .begin_frame = tp_begin_frame,
    .encoder_begin = tp_encoder_begin,
    .encoder_set_camera = tp_set_camera,
#if defined(TP_NULL_MEMBER)
    .encoder_draw = NULL, /* a hole in the table: refused, not called */
#else
    .encoder_draw = tp_draw,
#endif
    .encoder_end = tp_encoder_end,
    .end_frame = tp_renderer_only,
#if defined(TP_PRESENT_LOST)
    .present = tp_present_lost,
#else
    .present = tp_renderer_only,
#endif
    .resize = tp_resize,
    .mesh_create = tp_mesh_create,
    .mesh_destroy = tp_mesh_destroy,
    .stats = tp_renderer_stats,
};

#if defined(TP_BAD_READBACK)
/* How the readback lies, from KEEL_TEST_READBACK (TP_READBACK_ENV):
 * "huge" an image of 2^32-1 x 2^32-1, "zero" one of 0 x 0, "grows" 4 x 4
 * when asked for the size and then, reading into a 4 x 4 buffer, 64 x 64
 * with KEEL_OK; "null" offers a table without its function. */
static const char *tp_readback_mode(void) {
  const char *m = getenv(TP_READBACK_ENV);
  return m ? m : "";
}
static keel_result tp_readback(keel_renderer *r, uint8_t *pixels, size_t capacity, uint32_t *width,
                               uint32_t *height) {
  (void)r;
  const char *mode = tp_readback_mode();
  uint32_t side = 4u;
  if (strcmp(mode, "huge") == 0)
    side = 0xffffffffu;
  else if (strcmp(mode, "zero") == 0)
    side = 0u;
  else if (strcmp(mode, "grows") == 0 && pixels)
    side = 64u;
  *width = *height = side;
  if (side == 64u) {
    /* Fills what it was given and claims a larger image, KEEL_OK. */
    memset(pixels, 0x80, capacity);
    return KEEL_OK;
  }
  if (!pixels || capacity < (size_t)side * side * 4u) return KEEL_ERR_FULL;
  memset(pixels, 0x80, (size_t)side * side * 4u);
  return KEEL_OK;
}
static const keel_renderer_readback_api tp_readback_api = {
    .struct_size = KEEL_STRUCT_SIZE(keel_renderer_readback_api),
    .readback_rgba8 = tp_readback,
};
static const keel_renderer_readback_api tp_readback_null_api = {
    .struct_size = KEEL_STRUCT_SIZE(keel_renderer_readback_api),
    .readback_rgba8 = NULL,
};
#endif

/* ---- script ---- */

struct keel_script {
  int unused;
};

#if defined(TP_HANG)
#include <unistd.h>
/* A third-party runtime stuck in native code: the named step sleeps
 * forever, whatever interrupt() says. */
static void tp_maybe_hang(const char *step) {
  const char *hang = getenv(TP_HANG_ENV);
  if (!hang || strcmp(hang, step) != 0) return;
  fprintf(stderr, "test plugin hang: blocking in %s\n", step);
  for (;;) sleep(1);
}
#else
static void tp_maybe_hang(const char *step) { (void)step; }
#endif

static keel_result tp_script_create(const keel_script_desc *desc, keel_script **out, keel_message *error) {
  (void)desc, (void)error;
  tp_mark_created();
  tp_maybe_hang("create");
#if defined(TP_CREATE_NULL)
  /* Claims success without an object: the host must refuse it. */
  *out = NULL;
  return KEEL_OK;
#else
  *out = calloc(1, sizeof **out);
  return *out ? KEEL_OK : KEEL_ERR_OUT_OF_MEMORY;
#endif
}
static void tp_script_destroy(keel_script *s) {
  tp_maybe_hang("destroy");
  free(s);
}
static keel_result tp_script_init(keel_script *s, keel_message *error) {
  (void)s, (void)error;
  tp_maybe_hang("init");
  return KEEL_OK;
}
static keel_result tp_script_shutdown(keel_script *s, keel_message *error) {
  (void)s, (void)error;
  tp_maybe_hang("shutdown");
  return KEEL_OK;
}
static keel_result tp_script_tick(keel_script *s, const keel_tick_info *t, const keel_script_event *ev, uint32_t n,
                                  keel_message *error) {
  (void)s, (void)t, (void)ev, (void)n, (void)error;
  tp_maybe_hang("tick");
  return KEEL_OK;
}
static void tp_script_interrupt(keel_script *s) { (void)s; }
static keel_result tp_script_oneoff(keel_script *s, const char *code, keel_message *result) {
  (void)s, (void)code, (void)result;
  return KEEL_ERR_UNSUPPORTED;
}
static keel_result tp_script_stats(keel_script *s, keel_script_stats *out) {
  (void)s;
  memset(out, 0, sizeof *out);
  return KEEL_OK;
}

static const keel_script_api tp_script_api = {
    .struct_size = KEEL_STRUCT_SIZE(keel_script_api),
    .language = "none",
    .file_extension = ".none",
    .create = tp_script_create,
    .destroy = tp_script_destroy,
    .init = tp_script_init,
    .tick = tp_script_tick,
    .shutdown = tp_script_shutdown,
    .interrupt = tp_script_interrupt,
    .oneoff_run = tp_script_oneoff,
    .stats = tp_script_stats,
};

/* ---- manifest ---- */

static const void *tp_get_interface(const char *id) {
#if defined(TP_NO_INTERFACE)
  /* The tables still exist (and stay referenced); they are just not offered. */
  (void)id, (void)&tp_renderer_api, (void)&tp_script_api;
  return NULL;
#else
  if (keel_interface_is(id, KEEL_RENDERER_INTERFACE)) return &tp_renderer_api;
  if (keel_interface_is(id, KEEL_SCRIPT_INTERFACE)) return &tp_script_api;
#if defined(TP_BAD_READBACK)
  if (keel_interface_is(id, KEEL_RENDERER_READBACK_INTERFACE))
    return strcmp(tp_readback_mode(), "null") == 0 ? &tp_readback_null_api : &tp_readback_api;
#endif
  return NULL;
#endif
}

static const keel_plugin_manifest tp_manifest = {
#if defined(TP_SMALL_MANIFEST)
    /* Ends before get_interface: the host could not find the interfaces. */
    .struct_size = (uint32_t)offsetof(keel_plugin_manifest, get_interface),
#elif defined(TP_BIG_MANIFEST)
    /* Claims members past the end of the manifest: refused, never read. */
    .struct_size = KEEL_STRUCT_SIZE(keel_plugin_manifest) + 64,
#else
    .struct_size = KEEL_STRUCT_SIZE(keel_plugin_manifest),
#endif
    .abi_major = TP_ABI_MAJOR,
    .abi_minor = TP_ABI_MINOR,
#if defined(TP_MANIFEST_NAME)
    .name = TP_MANIFEST_NAME, /* differs from the file name */
#else
    .name = TP_NAME,
#endif
    .kind = TP_KIND,
#if defined(TP_NULL_VERSION)
    .version = NULL, /* refused: never printed as "(null)" */
#else
    .version = "0.0.1",
#endif
    .description = "keel test plugin " TP_NAME,
    .get_interface = tp_get_interface,
#if defined(TP_SETTINGS) || defined(TP_BAD_SETTINGS)
    .settings = tp_settings,
    .setting_count = sizeof tp_settings / sizeof tp_settings[0],
#endif
};

#if defined(TP_NO_ENTRY)
/* Everything above is hidden and nothing is exported; this keeps the
 * manifest referenced so the object is not empty. */
const keel_plugin_manifest *tp_hidden_entry(void);
__attribute__((visibility("hidden"))) const keel_plugin_manifest *tp_hidden_entry(void) { return &tp_manifest; }
#else
KEEL_PLUGIN_ENTRY(&tp_manifest)
#endif

#if defined(TP_LEAK)
/* A second exported function: what the symbol test must catch. */
KEEL_EXPORT int tp_leaked_helper(void);
KEEL_EXPORT int tp_leaked_helper(void) { return 42; }
#endif
