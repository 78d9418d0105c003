/* The GL renderer at 10,000 entities, 1280x720, headless on llvmpipe:
 *   1. in this process, the render half of a frame on the GL plugin (as
 *      bench_frame does on the null renderer): the CPU time of Record (the
 *      engine's gather plus the plugin filling its command lists), of the
 *      plugin's encoder_draw alone, and of end_frame's replay, per draw;
 *   2. the whole engine (`keel` running tests/bench/scenes/ring_field, the
 *      raw render programs' scene as a Lua game) against the raw GL program
 *      of ../shared/anchors/render at N=10000 in the same run, rounds
 *      alternating between them: keel as it runs by default (malloc
 *      thresholds raised, docs/rendering.md) against the raw program with
 *      the same thresholds through GLIBC_TUNABLES, then both untuned.
 * Part 2 needs the raw program built outside the repository:
 *   cp -r ../shared/anchors/render /tmp/keel-anchors && make -C /tmp/keel-anchors
 * (found there, or at KEEL_ANCHOR_GL). KEEL_BENCH_ROUNDS (default 3) and
 * KEEL_BENCH_FRAMES (default 60) size it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "base/malloc_tune.h"
#include "bench_util.h"
#include "frame/host.h"
#include "frame/render.h"
#include "plugin/loader.h"
#include "world/world.h"

#define ENTITIES 10000u
#define WIDTH 1280u
#define HEIGHT 720u
#define WARMUP 10u
#define MAX_FRAMES 400u

/* The runner's thresholds (base/malloc_tune.h), for the raw program. */
static const char *const ANCHOR_TUNABLES =
    "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=2147483647";

static double thread_cpu_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void print_load(const char *when) {
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) == 3) printf("load %s: %.2f %.2f %.2f\n", when, load[0], load[1], load[2]);
  fflush(stdout);
}

static uint32_t env_u32(const char *name, uint32_t fallback, uint32_t max) {
  const char *v = getenv(name);
  long n = v ? strtol(v, NULL, 10) : 0;
  return n > 0 && (unsigned long)n <= max ? (uint32_t)n : fallback;
}

/* ---- 1. the render half in this process */

/* A ring field like the scene file's: an annulus 6..18 wide, +-2 high,
 * every third entity a sphere (xorshift, not the raw program's hash: the
 * CPU costs measured here do not depend on where each object is). */
static kc_world *make_world(void) {
  kc_world *w = NULL;
  kc_world_config wc = {.max_entities = ENTITIES + 16};
  if (kc_world_create(&wc, &w, NULL) != KEEL_OK) return NULL;
  uint32_t s = 0x9e3779b9u;
#define NEXT() (s ^= s << 13, s ^= s >> 17, s ^= s << 5, (float)(s >> 8) / 16777216.0f)
  keel_command c;
  memset(&c, 0, sizeof c);
  c.type = KEEL_CMD_CREATE;
  c.kind = KEEL_OBJECT_CAMERA;
  c.id = kc_world_reserve(w, KEEL_OBJECT_CAMERA);
  c.fields.mask = KEEL_FIELD_POSITION | KEEL_FIELD_TARGET | KEEL_FIELD_FOV;
  c.fields.position = (keel_vec3){27.0f * sinf(0.6f), 17.0f, 27.0f * cosf(0.6f)};
  c.fields.target = (keel_vec3){0, -3, 0};
  c.fields.fov_degrees = 55;
  kc_world_check(w, &c);
  kc_world_apply(w, &c, NULL);
  keel_id cam = c.id;
  memset(&c, 0, sizeof c);
  c.type = KEEL_CMD_SET_ACTIVE;
  c.kind = KEEL_OBJECT_CAMERA;
  c.id = cam;
  kc_world_check(w, &c);
  kc_world_apply(w, &c, NULL);
  memset(&c, 0, sizeof c);
  c.type = KEEL_CMD_CREATE;
  c.kind = KEEL_OBJECT_LIGHT;
  c.id = kc_world_reserve(w, KEEL_OBJECT_LIGHT);
  c.fields.mask = KEEL_FIELD_POSITION | KEEL_FIELD_INTENSITY | KEEL_FIELD_LIGHT_KIND;
  c.fields.position = (keel_vec3){0.43f, 0.86f, 0.26f};
  c.fields.intensity = 0.75f;
  c.fields.light_kind = KEEL_LIGHT_DIRECTIONAL;
  kc_world_check(w, &c);
  kc_world_apply(w, &c, NULL);
  for (uint32_t i = 0; i < ENTITIES; i++) {
    memset(&c, 0, sizeof c);
    c.type = KEEL_CMD_CREATE;
    c.kind = KEEL_OBJECT_ENTITY;
    c.id = kc_world_reserve(w, KEEL_OBJECT_ENTITY);
    c.fields.mask = KEEL_FIELD_MESH | KEEL_FIELD_POSITION | KEEL_FIELD_SCALE | KEEL_FIELD_COLOR;
    strcpy(c.fields.mesh, i % 3 == 2 ? "sphere" : "cube");
    float a = 6.2831853f * NEXT(), r = sqrtf(36.0f + NEXT() * (324.0f - 36.0f)), y = (NEXT() * 2 - 1) * 2;
    float sc = 0.5f * (0.75f + 0.5f * NEXT());
    c.fields.position = (keel_vec3){r * cosf(a), y, r * sinf(a)};
    c.fields.scale = (keel_vec3){sc, sc, sc};
    c.fields.color = (keel_color){NEXT(), NEXT(), NEXT(), 1};
    kc_world_check(w, &c);
    kc_world_apply(w, &c, NULL);
  }
#undef NEXT
  kc_world_publish(w, NULL);
  return w;
}

typedef struct inproc {
  double record_us_per_draw, encode_us_per_draw, replay_cpu_us_per_draw, replay_wall_us_per_draw;
  double frame_ms, draw_calls_per_frame;
} inproc;

/* The plugin alone: the sorted lists recorded straight into one encoder per
 * pass, as Record would after its gather. Returns the CPU µs of the
 * encoder calls. */
static double encode_only(const keel_renderer_api *api, keel_renderer *rr, kc_render *r) {
  keel_frame_desc fd = {.struct_size = sizeof fd, .clear_color = {0, 0, 0, 1}};
  if (api->begin_frame(rr, &fd) != KEEL_OK) return -1;
  double cpu = 0;
  for (uint32_t p = 0; p < 2; p++) {
    uint32_t n = 0;
    const keel_draw *d = kc_render_draws(r, p, &n);
    keel_camera cam = {.struct_size = sizeof cam, .projection_kind = p ? KEEL_PROJECTION_ORTHOGRAPHIC : 0};
    cam.view.m[0] = cam.view.m[5] = cam.view.m[10] = cam.view.m[15] = 1;
    cam.projection = cam.view;
    double t0 = thread_cpu_us();
    keel_encoder *e = NULL;
    if (api->encoder_begin(rr, p, 0, &e) != KEEL_OK) return -1;
    api->encoder_set_camera(e, &cam);
    for (uint32_t i = 0; i < n; i += 128) api->encoder_draw(e, d + i, n - i < 128 ? n - i : 128);
    api->encoder_end(e);
    cpu += thread_cpu_us() - t0;
  }
  api->end_frame(rr);
  api->present(rr);
  return cpu;
}

static int run_inproc(inproc *out, uint32_t frames) {
  kc_plugin_loader loader;
  kc_plugin_loader_init(&loader);
  kc_plugin_loader_add_dir(&loader, KEEL_BENCH_PLUGIN_DIR, NULL);
  kc_plugin *plugin = NULL;
  kc_err err;
  if (kc_plugin_open(&loader, KEEL_PLUGIN_RENDERER, "gl", &plugin, NULL, &err) != KEEL_OK) {
    fprintf(stderr, "bench_gl: %s\n", err.msg);
    return 1;
  }
  const keel_renderer_api *api = plugin->interface;
  kc_world *w = make_world();
  kc_host_services svc = {.width = WIDTH, .height = HEIGHT};
  kc_host host;
  kc_host_init(&host, &svc, "gl", plugin->file);
  keel_renderer_desc d = {.struct_size = sizeof d, .host = &host.pub, .width = WIDTH, .height = HEIGHT,
                          .headless = true, .frames_in_flight = 2, .max_workers = 1, .pass_count = 2,
                          .device = "", .validation = KEEL_VALIDATION_OFF};
  keel_renderer *rr = NULL;
  keel_message msg = {{0}};
  if (!w || api->create(&d, &rr, &msg) != KEEL_OK) {
    fprintf(stderr, "bench_gl: the GL renderer did not start: %s\n", msg.text);
    return 1;
  }
  kc_render *r = NULL;
  kc_render_config rc = {.api = api, .renderer = rr, .plugin_abi_minor = KEEL_ABI_MINOR, .pass_count = 2,
                         .workers = 1, .width = WIDTH, .height = HEIGHT, .pool = NULL};
  if (kc_render_create(&rc, &r, &err) != KEEL_OK) return 1;
  static double rec[MAX_FRAMES], enc[MAX_FRAMES], rep_cpu[MAX_FRAMES], rep_wall[MAX_FRAMES], frame[MAX_FRAMES];
  uint64_t calls_before = 0;
  for (uint32_t f = 0; f < WARMUP + frames; f++) {
    uint64_t t0 = bench_now_ns();
    kc_render_extract(r, w, f);
    kc_render_prepare(r);
    kc_render_begin(r, (keel_color){0.05f, 0.06f, 0.08f, 1}, 0.0);
    double c0 = thread_cpu_us();
    kc_render_record_all(r);
    double c1 = thread_cpu_us();
    uint64_t s0 = bench_now_ns();
    kc_render_submit(r);
    uint64_t s1 = bench_now_ns();
    double c2 = thread_cpu_us();
    kc_render_present(r);
    uint64_t t1 = bench_now_ns();
    if (f + 1 == WARMUP) {
      keel_renderer_stats st = {.struct_size = sizeof st};
      api->stats(rr, &st);
      calls_before = st.draw_calls;
    }
    if (f < WARMUP) continue;
    uint32_t i = f - WARMUP;
    rec[i] = (c1 - c0) / ENTITIES;
    rep_cpu[i] = (c2 - c1) / ENTITIES;
    rep_wall[i] = (double)(s1 - s0) / 1e3 / ENTITIES;
    frame[i] = (double)(t1 - t0) / 1e6;
    enc[i] = encode_only(api, rr, r) / ENTITIES;
  }
  keel_renderer_stats st = {.struct_size = sizeof st};
  api->stats(rr, &st);
  /* encode_only's frames count too: two frames per measured frame. */
  out->draw_calls_per_frame = (double)(st.draw_calls - calls_before) / (2.0 * frames);
  out->record_us_per_draw = bench_percentile(rec, frames, 0.5);
  out->encode_us_per_draw = bench_percentile(enc, frames, 0.5);
  out->replay_cpu_us_per_draw = bench_percentile(rep_cpu, frames, 0.5);
  out->replay_wall_us_per_draw = bench_percentile(rep_wall, frames, 0.5);
  out->frame_ms = bench_percentile(frame, frames, 0.5);
  if (st.errors || st.debug_messages)
    fprintf(stderr, "bench_gl: the renderer counted %llu errors\n", (unsigned long long)st.errors);
  kc_render_destroy(r);
  api->destroy(rr);
  kc_world_destroy(w);
  kc_plugin_close(plugin);
  kc_plugin_loader_free(&loader);
  return 0;
}

/* ---- 2. the whole engine against the raw GL program */

/* Runs `cmd`, returns its output (static buffer) or NULL. */
static const char *run_capture(const char *cmd) {
  static char out[1 << 16];
  FILE *p = popen(cmd, "r");
  if (!p) return NULL;
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = '\0';
  int status = pclose(p);
  if (status != 0) {
    fprintf(stderr, "bench_gl: `%s` failed (status %d):\n%s\n", cmd, status, out);
    return NULL;
  }
  return out;
}

static double field(const char *text, const char *key) {
  const char *p = text ? strstr(text, key) : NULL;
  return p ? strtod(p + strlen(key), NULL) : -1;
}

/* CPU time of the children reaped so far (user + system), ms. */
static double children_cpu_ms(void) {
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* keel on the ring field for `total` frames: the median main-thread frame
 * time (ms) from its stats JSON; *cpu_ms the whole process's CPU time. */
static double keel_run(const char *keel_args, uint32_t total, double *fps, double *cpu_ms) {
  char json[64], cmd[2048];
  snprintf(json, sizeof json, "/tmp/keel-bench-gl-%d.json", (int)getpid());
  snprintf(cmd, sizeof cmd,
           "%s --frames %u --set engine.target_fps=0 --set engine.headless=true --set renderer.backend=gl "
           "--set renderer.fallback= --set renderer.validation=off --set renderer.width=%u --set renderer.height=%u "
           "--set script.main=%s/tests/bench/scenes/ring_field/main.lua --stats-json %s %s 2>&1",
           KEEL_BENCH_KEEL_EXE, total, WIDTH, HEIGHT, KEEL_BENCH_SOURCE_DIR, json, keel_args);
  double c0 = children_cpu_ms();
  if (!run_capture(cmd)) return -1;
  *cpu_ms = children_cpu_ms() - c0;
  FILE *f = fopen(json, "r");
  static char text[8192];
  size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
  if (f) fclose(f);
  remove(json);
  text[n] = '\0';
  if (!strstr(text, "\"renderer\": \"gl\"")) {
    fprintf(stderr, "bench_gl: keel did not run on GL\n");
    return -1;
  }
  *fps = field(text, "\"fps\": ");
  return field(text, "\"frame_time_ms\": {\"p50\": ");
}

/* The frame time of keel on the ring field (the median over WARMUP +
 * frames frames) and its CPU time per frame once warm: the difference
 * between that run and one of WARMUP frames, so start-up cancels out. */
static double keel_frame_ms(const char *keel_args, uint32_t frames, double *fps, double *cpu_ms_per_frame) {
  double short_fps, short_cpu, long_cpu;
  if (keel_run(keel_args, WARMUP, &short_fps, &short_cpu) < 0) return -1;
  double ms = keel_run(keel_args, WARMUP + frames, fps, &long_cpu);
  *cpu_ms_per_frame = (long_cpu - short_cpu) / frames;
  return ms;
}

/* The raw program in mode a or c: its frame_ms (mean over measured frames),
 * its process CPU per frame and the cores other processes used meanwhile. */
static double anchor_frame_ms(const char *anchor, const char *env, char mode, uint32_t frames, double *cpu,
                              double *foreign) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "env %s %s --mode %c --n %u --size %ux%u --frames %u --warmup %u 2>&1", env, anchor, mode,
           ENTITIES, WIDTH, HEIGHT, frames, WARMUP);
  const char *out = run_capture(cmd);
  const char *result = out ? strstr(out, "RESULT ") : NULL;
  if (!result) return -1;
  *foreign = field(result, "foreign_cores=");
  *cpu = field(result, "proc_cpu_ms_per_frame=");
  return field(result, " frame_ms=");
}

/* suffix: "" for the default (tuned) pair, "_untuned" for the other. */
static void report_named(const char *base, const char *suffix, double value, const char *unit) {
  char name[128];
  snprintf(name, sizeof name, "%s%s", base, suffix);
  bench_report(name, value, unit);
}

static void compare(const char *anchor, const char *label, const char *suffix, const char *keel_args,
                    const char *anchor_env, uint32_t rounds, uint32_t frames) {
  double k[16], a[16], c[16], kfps[16], kcpu[16], acpu[16], ccpu[16], fa[16], fc[16];
  for (uint32_t i = 0; i < rounds; i++) {
    k[i] = keel_frame_ms(keel_args, frames, &kfps[i], &kcpu[i]);
    a[i] = anchor_frame_ms(anchor, anchor_env, 'a', frames, &acpu[i], &fa[i]);
    c[i] = anchor_frame_ms(anchor, anchor_env, 'c', frames, &ccpu[i], &fc[i]);
    printf("round %u (%s): keel %.1f ms (CPU %.1f ms), raw GL mode a %.1f ms (CPU %.1f ms), mode c %.1f ms (CPU %.1f "
           "ms); other processes used %.2f and %.2f cores\n",
           i + 1, label, k[i], kcpu[i], a[i], acpu[i], c[i], ccpu[i], fa[i], fc[i]);
    fflush(stdout);
  }
  /* Each round's ratio compares runs made minutes apart at most: their
   * median resists the machine's load drifting over the whole benchmark. */
  double ratio[16];
  for (uint32_t i = 0; i < rounds; i++) ratio[i] = k[i] / (a[i] < c[i] ? a[i] : c[i]);
  double km = bench_percentile(k, rounds, 0.5), am = bench_percentile(a, rounds, 0.5);
  double cm = bench_percentile(c, rounds, 0.5), best = am < cm ? am : cm;
  double kc = bench_percentile(kcpu, rounds, 0.5), ac = bench_percentile(acpu, rounds, 0.5);
  double cc = bench_percentile(ccpu, rounds, 0.5);
  report_named("gl_frame_ms_10k", suffix, km, "ms");
  report_named("gl_anchor_best_frame_ms_10k", suffix, best, "ms");
  printf("gl_anchor_best_mode%s: %c\n", suffix, am < cm ? 'a' : 'c');
  report_named("gl_frame_10k_ratio_of_medians", suffix, km / best, "x");
  report_named("gl_frame_10k_ratio_to_anchor", suffix, bench_percentile(ratio, rounds, 0.5), "x");
  if (!suffix[0]) printf("  (median of the rounds' ratios to that round's best raw mode) target <= 1.2x\n");
  report_named("gl_cpu_ms_per_frame_10k", suffix, kc, "ms");
  report_named("gl_anchor_cpu_ms_per_frame_10k_mode_a", suffix, ac, "ms");
  report_named("gl_anchor_cpu_ms_per_frame_10k_mode_c", suffix, cc, "ms");
}

int main(void) {
  bench_print_machine("gl");
  print_load("at start");
  /* As the runner does by default (docs/rendering.md, Malloc tuning). */
  kc_malloc_tune(true);
  uint32_t frames = env_u32("KEEL_BENCH_FRAMES", 60, MAX_FRAMES);
  uint32_t rounds = env_u32("KEEL_BENCH_ROUNDS", 3, 16);
  inproc ip;
  if (run_inproc(&ip, frames) != 0) return 1;
  bench_report("gl_record_us_per_draw", ip.record_us_per_draw, "us");
  printf("  target <= 0.1 us\n");
  bench_report("gl_encoder_draw_us_per_draw", ip.encode_us_per_draw, "us");
  bench_report("gl_replay_cpu_us_per_draw", ip.replay_cpu_us_per_draw, "us");
  bench_report("gl_replay_wall_us_per_draw", ip.replay_wall_us_per_draw, "us");
  bench_report("gl_draw_calls_per_frame", ip.draw_calls_per_frame, "calls");
  bench_report("gl_render_half_frame_ms_10k", ip.frame_ms, "ms");
  print_load("after part 1");
  const char *anchor = getenv("KEEL_ANCHOR_GL");
  if (!anchor) anchor = "/tmp/keel-anchors/build/gl_cubes";
  if (access(anchor, X_OK) != 0) {
    printf("gl_frame_ms_10k: not compared (%s not found: see the top of bench_gl.c)\n", anchor);
    double fps = 0, cpu = 0;
    bench_report("gl_frame_ms_10k", keel_frame_ms("", frames, &fps, &cpu), "ms");
    bench_report("gl_cpu_ms_per_frame_10k", cpu, "ms");
    return 0;
  }
  compare(anchor, "malloc tuned, keel's default", "", "", ANCHOR_TUNABLES, rounds, frames);
  print_load("after the tuned pair");
  compare(anchor, "untuned", "_untuned", "--set engine.malloc_tuning=false", "", rounds, frames);
  print_load("at end");
  return 0;
}
