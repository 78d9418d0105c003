/* A third-party renderer for keel that draws to the terminal: each entity
 * becomes a character at its projected screen position. It is the smallest
 * complete renderer plugin and uses nothing but the installed SDK headers
 * (and libc), as any plugin author's would.
 *
 * It builds against every 1.x SDK, as a third party supporting old keels
 * would: against 1.1 or later it declares settings (`[plugin.ascii]
 * columns, rows, every` in engine.ini, read in create as the cvars
 * "ascii.columns" ...); against 1.0, which has no settings, the grid is
 * 64x20 and KEEL_ASCII_EVERY in the environment says how often to print. */
#include <keel/plugin.h>
#include <keel/renderer.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The grid when nothing configures it (and always under SDK 1.0). */
#define GRID_W 64
#define GRID_H 20
#define PRINT_EVERY 60

struct keel_encoder {
  struct keel_renderer *owner;
  keel_camera camera;
  bool has_camera;
  bool open;
};

struct keel_renderer {
  const keel_host *host;
  uint32_t max_workers, pass_count;
  struct keel_encoder *encoders; /* pass_count * max_workers */
  int columns, rows;
  char *grid; /* rows lines of columns characters and a NUL */
  _Atomic uint64_t draws;
  uint64_t frames, encoders_ended;
  uint32_t meshes;
  uint32_t print_every;
};

static char *grid_row(struct keel_renderer *r, int y) { return r->grid + (size_t)y * (size_t)(r->columns + 1); }

static void grid_clear(struct keel_renderer *r) {
  for (int y = 0; y < r->rows; y++) {
    memset(grid_row(r, y), '.', (size_t)r->columns);
    grid_row(r, y)[r->columns] = '\0';
  }
}

#if KEEL_ABI_MINOR >= 1
/* The settings keel shows in --list-plugins and --check-config and checks
 * in engine.ini, all without creating this renderer. */
static const keel_setting ascii_settings[] = {
    {.name = "columns", .type = KEEL_CVAR_INT, .default_value = "64", .min = 8, .max = 400,
     .help = "characters per line of the picture"},
    {.name = "rows", .type = KEEL_CVAR_INT, .default_value = "20", .min = 4, .max = 200,
     .help = "lines of the picture"},
    {.name = "every", .type = KEEL_CVAR_INT, .default_value = "60", .min = 0, .max = 1000000,
     .help = "print the picture of frames 1, 1 + every, 1 + 2*every ...; 0 = never"},
};

/* A setting's value while the renderer runs: the cvar "ascii.<name>". */
static int ascii_setting(const keel_host *host, const char *name, int fallback) {
  keel_cvar_value v;
  return host && host->cvar_get && host->cvar_get(host, name, &v) == KEEL_OK ? (int)v.i : fallback;
}
#endif

static keel_result ascii_create(const keel_renderer_desc *desc, keel_renderer **out, keel_message *error) {
  *out = NULL;
  if (!desc || desc->max_workers == 0 || desc->pass_count == 0) {
    if (error) snprintf(error->text, sizeof error->text, "ascii: need at least one worker and one pass");
    return KEEL_ERR_INVALID_ARGUMENT;
  }
  struct keel_renderer *r = calloc(1, sizeof *r);
  if (!r) return KEEL_ERR_OUT_OF_MEMORY;
  r->host = desc->host;
  r->max_workers = desc->max_workers;
  r->pass_count = desc->pass_count;
  r->encoders = calloc((size_t)desc->max_workers * desc->pass_count, sizeof *r->encoders);
  if (!r->encoders) {
    free(r);
    return KEEL_ERR_OUT_OF_MEMORY;
  }
#if KEEL_ABI_MINOR >= 1
  r->columns = ascii_setting(desc->host, "ascii.columns", GRID_W);
  r->rows = ascii_setting(desc->host, "ascii.rows", GRID_H);
  r->print_every = (uint32_t)ascii_setting(desc->host, "ascii.every", PRINT_EVERY);
#else
  const char *every = getenv("KEEL_ASCII_EVERY");
  r->columns = GRID_W;
  r->rows = GRID_H;
  r->print_every = every ? (uint32_t)atoi(every) : PRINT_EVERY;
#endif
  r->grid = malloc((size_t)r->rows * (size_t)(r->columns + 1));
  if (!r->grid) {
    free(r->encoders);
    free(r);
    return KEEL_ERR_OUT_OF_MEMORY;
  }
  grid_clear(r);
  *out = r;
  return KEEL_OK;
}

static void ascii_destroy(keel_renderer *r) {
  if (!r) return;
  free(r->grid);
  free(r->encoders);
  free(r);
}

static keel_result ascii_begin_frame(keel_renderer *r, const keel_frame_desc *frame) {
  (void)frame;
  grid_clear(r);
  return KEEL_OK;
}

static keel_result ascii_encoder_begin(keel_renderer *r, uint32_t pass, uint32_t worker, keel_encoder **out) {
  if (pass >= r->pass_count || worker >= r->max_workers) return KEEL_ERR_INVALID_ARGUMENT;
  struct keel_encoder *e = &r->encoders[pass * r->max_workers + worker];
  e->owner = r;
  e->open = true;
  e->has_camera = false;
  *out = e;
  return KEEL_OK;
}

static keel_result ascii_set_camera(keel_encoder *e, const keel_camera *camera) {
  e->camera = *camera;
  e->has_camera = true;
  return KEEL_OK;
}

/* Projects a world position with projection * view into the grid. Workers
 * write disjoint entities, and a character cell is a byte: a benign overlap
 * of two entities in one cell just shows one of them. */
static keel_result ascii_draw(keel_encoder *e, const keel_draw *draws, uint32_t count) {
  if (!e->open) return KEEL_ERR_WRONG_STATE;
  for (uint32_t i = 0; i < count; i++) {
    const float *m = draws[i].model.m;
    float p[4] = {m[12], m[13], m[14], 1.0f};
    float clip[4] = {p[0], p[1], p[2], 1.0f};
    if (e->has_camera) {
      float v[4];
      const float *V = e->camera.view.m, *P = e->camera.projection.m;
      for (int r = 0; r < 4; r++) v[r] = V[r] * p[0] + V[4 + r] * p[1] + V[8 + r] * p[2] + V[12 + r] * p[3];
      for (int r = 0; r < 4; r++) clip[r] = P[r] * v[0] + P[4 + r] * v[1] + P[8 + r] * v[2] + P[12 + r] * v[3];
    }
    if (clip[3] <= 0.0f) continue;
    float x = clip[0] / clip[3], y = clip[1] / clip[3];
    struct keel_renderer *r = e->owner;
    int gx = (int)((x * 0.5f + 0.5f) * (float)r->columns), gy = (int)((y * 0.5f + 0.5f) * (float)r->rows);
    if (gx >= 0 && gx < r->columns && gy >= 0 && gy < r->rows) {
      char c = draws[i].color.r > draws[i].color.b ? 'o' : '*';
      ((volatile char *)grid_row(r, gy))[gx] = c;
    }
  }
  atomic_fetch_add_explicit(&e->owner->draws, count, memory_order_relaxed);
  return KEEL_OK;
}

static keel_result ascii_encoder_end(keel_encoder *e) {
  if (!e->open) return KEEL_ERR_WRONG_STATE;
  e->open = false;
  return KEEL_OK;
}

static keel_result ascii_end_frame(keel_renderer *r) {
  for (uint32_t i = 0; i < r->pass_count * r->max_workers; i++)
    if (r->encoders[i].open) r->encoders[i].open = false;
  r->frames++;
  return KEEL_OK;
}

static keel_result ascii_present(keel_renderer *r) {
  if (r->print_every && r->frames >= 1 && (r->frames - 1) % r->print_every == 0) {
    printf("ascii frame %llu\n", (unsigned long long)r->frames);
    for (int y = 0; y < r->rows; y++) printf("%s\n", grid_row(r, y));
    fflush(stdout);
  }
  return KEEL_OK;
}

static keel_result ascii_resize(keel_renderer *r, uint32_t w, uint32_t h) {
  (void)r, (void)w, (void)h;
  return KEEL_OK;
}

static keel_result ascii_mesh_create(keel_renderer *r, const keel_mesh_desc *desc, keel_mesh *out) {
  (void)desc;
  out->id = ++r->meshes;
  return KEEL_OK;
}

static keel_result ascii_mesh_destroy(keel_renderer *r, keel_mesh mesh) {
  (void)mesh;
  if (r->meshes) r->meshes--;
  return KEEL_OK;
}

static keel_result ascii_stats(keel_renderer *r, keel_renderer_stats *out) {
  memset(out, 0, sizeof *out);
  out->struct_size = KEEL_STRUCT_SIZE(keel_renderer_stats);
  out->frames = r->frames;
  out->draws = atomic_load(&r->draws);
  out->meshes = r->meshes;
  return KEEL_OK;
}

static const keel_renderer_api ascii_api = {
    .struct_size = KEEL_STRUCT_SIZE(keel_renderer_api),
    .api = KEEL_GRAPHICS_NONE,
    .create = ascii_create,
    .destroy = ascii_destroy,
    .begin_frame = ascii_begin_frame,
    .encoder_begin = ascii_encoder_begin,
    .encoder_set_camera = ascii_set_camera,
    .encoder_draw = ascii_draw,
    .encoder_end = ascii_encoder_end,
    .end_frame = ascii_end_frame,
    .present = ascii_present,
    .resize = ascii_resize,
    .mesh_create = ascii_mesh_create,
    .mesh_destroy = ascii_mesh_destroy,
    .stats = ascii_stats,
};

static const void *ascii_get_interface(const char *id) {
  return keel_interface_is(id, KEEL_RENDERER_INTERFACE) ? &ascii_api : NULL;
}

static const keel_plugin_manifest ascii_manifest = {
    .struct_size = KEEL_STRUCT_SIZE(keel_plugin_manifest),
    .abi_major = KEEL_ABI_MAJOR,
    .abi_minor = KEEL_ABI_MINOR,
    .name = "ascii",
    .kind = KEEL_PLUGIN_RENDERER,
    .version = "1.0.0",
    .description = "Terminal renderer: entities as characters (third-party sample)",
    .get_interface = ascii_get_interface,
#if KEEL_ABI_MINOR >= 1
    .settings = ascii_settings,
    .setting_count = sizeof ascii_settings / sizeof ascii_settings[0],
#endif
};

KEEL_PLUGIN_ENTRY(&ascii_manifest)
