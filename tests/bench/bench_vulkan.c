/* The Vulkan renderer's figures (issue 9), each printed with its target:
 * - vk_frame_ms_10k: 10,000 entities of the native demo at 1280x720,
 *   headless, through the whole engine, beside the raw Vulkan anchor's
 *   instanced mode (shared/anchors/render vk_cubes --mode c) at N=10000 run
 *   in the same process tree, same malloc thresholds;
 * - vk_record_us_per_draw: CPU time of the Record stage per draw;
 * - vk_record_speedup_2_workers: Record's wall time, 1 worker vs 2;
 * - the malloc thresholds' effect (page faults, CPU per frame);
 * - the main thread's frame p99 with a 30 ms/tick script vs an idle one.
 * The machine is shared: the load average is printed beside each part. */
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/config.h"
#include "base/cvar.h"
#include "base/log.h"
#include "base/malloc_tune.h"
#include "bench_util.h"
#include "frame/engine.h"
#include "frame/host.h"
#include "frame/render.h"
#include "plugin/loader.h"
#include "sched/pool.h"
#include "world/world.h"

extern char **environ;

#define ANCHOR_TUNABLES "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=2147483647"

static void print_load(const char *when) {
  FILE *f = fopen("/proc/loadavg", "r");
  char line[128] = "?";
  if (f) {
    if (!fgets(line, sizeof line, f)) line[0] = '\0';
    fclose(f);
  }
  line[strcspn(line, "\n")] = '\0';
  printf("load (%s): %s\n", when, line);
  fflush(stdout);
}

static double cpu_ms(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec * 1e3 + (double)ru.ru_utime.tv_usec / 1e3 + (double)ru.ru_stime.tv_sec * 1e3 +
         (double)ru.ru_stime.tv_usec / 1e3;
}

static double thread_cpu_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static double json_number(const char *json, const char *key) {
  const char *p = strstr(json, key);
  return p ? strtod(p + strlen(key), NULL) : -1;
}

/* ---- 1. the whole engine, native demo, N entities ---- */

typedef struct engine_run {
  double seconds, cpu_ms, p50_ms;
  uint64_t frames;
} engine_run;

static bool engine_once(uint32_t entities, uint32_t frames, engine_run *out) {
  kc_config *cfg = kc_config_create();
  const char *sets[] = {"renderer.backend=vulkan", "renderer.fallback=vulkan", "renderer.validation=off",
                        "renderer.width=1280",     "renderer.height=720",      "script.runtime=native",
                        "engine.target_fps=0",     "engine.stats_interval_s=0", "engine.headless=true"};
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) kc_config_set_override(cfg, sets[i], "bench", NULL);
  kc_err err;
  if (kc_config_error_count(cfg) || kc_config_apply_cvars(cfg, &err) != KEEL_OK) {
    fprintf(stderr, "bench_vulkan: configuration refused\n");
    kc_config_destroy(cfg);
    return false;
  }
  kc_plugin_loader loader;
  kc_plugin_loader_init(&loader);
  kc_plugin_loader_add_dir(&loader, KEEL_BENCH_PLUGIN_DIR, NULL);
  kc_engine_options eo = {.config = cfg, .loader = &loader, .frames = frames, .headless = 1, .lockstep = 0,
                          .native_entities = entities};
  kc_engine *e = NULL;
  bool ok = false;
  if (kc_engine_create(&eo, &e, &err) == KEEL_OK) {
    double c0 = cpu_ms();
    if (kc_engine_run(e, &err) == KEEL_OK) {
      out->cpu_ms = cpu_ms() - c0;
      char path[] = "/tmp/keel-bench-vk-XXXXXX";
      int fd = mkstemp(path);
      if (fd >= 0 && kc_engine_write_stats_json(e, path, &err) == KEEL_OK) {
        static char json[16384];
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(json, 1, sizeof json - 1, f) : 0;
        json[n] = '\0';
        if (f) fclose(f);
        out->seconds = json_number(json, "\"seconds\": ");
        out->p50_ms = json_number(json, "\"p50\": ");
        out->frames = frames;
        ok = strstr(json, "\"renderer\": \"vulkan\"") && strstr(json, "\"debug_messages\": 0");
      }
      if (fd >= 0) close(fd), remove(path);
    }
    kc_engine_destroy(e);
  }
  if (!ok) fprintf(stderr, "bench_vulkan: engine run failed: %s\n", err.msg);
  kc_plugin_loader_free(&loader);
  kc_config_destroy(cfg);
  return ok;
}

/* Steady state: the difference between a long and a short run, so the
 * start (device, pipelines, the first frames' shader compiles) cancels. */
static bool engine_frame_ms(uint32_t entities, uint32_t frames, double *wall_ms, double *cpu_ms_per_frame,
                            double *p50_ms) {
  engine_run s = {0}, l = {0};
  if (!engine_once(entities, 10, &s) || !engine_once(entities, 10 + frames, &l)) return false;
  *wall_ms = (l.seconds - s.seconds) * 1e3 / frames;
  *cpu_ms_per_frame = (l.cpu_ms - s.cpu_ms) / frames;
  *p50_ms = l.p50_ms;
  return true;
}

/* Runs the raw anchor; returns its frame_ms (and CPU per frame), or -1. */
static double anchor_frame_ms(const char *anchor, uint32_t n, uint32_t frames, double *cpu_ms_per_frame) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s %s --mode c --n %u --size 1280x720 --frames %u --warmup 10 2>&1", ANCHOR_TUNABLES,
           anchor, n, frames);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  char line[2048];
  double ms = -1;
  while (fgets(line, sizeof line, p)) {
    if (strncmp(line, "RESULT ", 7) != 0) continue;
    ms = json_number(line, "frame_ms=");
    *cpu_ms_per_frame = json_number(line, "proc_cpu_ms_per_frame=");
  }
  pclose(p);
  return ms;
}

/* The anchor's own recording, 1 thread vs 2 (mode b, --record-only): how
 * much parallel room the machine has at the moment, for comparison. */
static double anchor_record_speedup(const char *anchor) {
  double med[2] = {0, 0};
  for (int t = 1; t <= 2; t++) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s %s --mode b --threads %d --record-only 1 --n 50000 --size 320x180 --frames 100 --warmup 10 2>&1",
             ANCHOR_TUNABLES, anchor, t);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[2048];
    while (fgets(line, sizeof line, p))
      if (strncmp(line, "RESULT ", 7) == 0) med[t - 1] = json_number(line, "rec_us_med=");
    pclose(p);
  }
  return med[0] > 0 && med[1] > 0 ? med[0] / med[1] : -1;
}

/* ---- 2. Record through kc_render on the Vulkan plugin ---- */

#define REC_ENTITIES 50000
#define REC_FRAMES 200

static kc_world *make_world(void) {
  kc_world *w = NULL;
  kc_world_config wc = {.max_entities = REC_ENTITIES + 16};
  if (kc_world_create(&wc, &w, NULL) != KEEL_OK) return NULL;
  for (uint32_t i = 0; i < REC_ENTITIES; i++) {
    keel_command c;
    memset(&c, 0, sizeof c);
    c.type = KEEL_CMD_CREATE;
    c.kind = KEEL_OBJECT_ENTITY;
    c.id = kc_world_reserve(w, KEEL_OBJECT_ENTITY);
    c.fields.mask = KEEL_FIELD_MESH | KEEL_FIELD_POSITION | KEEL_FIELD_COLOR | KEEL_FIELD_SCALE;
    strcpy(c.fields.mesh, i % 3 ? "cube" : "sphere");
    c.fields.position = (keel_vec3){(float)(i % 250) - 125.0f, 0.0f, (float)(i / 250) - 100.0f};
    c.fields.scale = (keel_vec3){0.3f, 0.3f, 0.3f};
    c.fields.color = (keel_color){0.8f, 0.7f, 0.6f, 1};
    kc_world_check(w, &c);
    kc_world_apply(w, &c, NULL);
  }
  kc_world_publish(w, NULL);
  return w;
}

/* Medians over REC_FRAMES of Record's wall time (µs) and of the calling
 * thread's CPU time in Record per draw (µs; meaningful with 1 worker, when
 * the calling thread records everything). Each frame is read back before
 * the next is recorded, so lavapipe's threads (which rasterise on the same
 * two cores) are idle while Record runs: Record alone, like the anchor's
 * --record-only. */
static void record_run(const keel_renderer_api *api, const keel_renderer_readback_api *readback, keel_renderer *rr,
                       kc_pool *pool, uint32_t workers, kc_world *w, double *wall_us, double *cpu_us_per_draw) {
  kc_render *r = NULL;
  kc_render_config rc = {.api = api, .renderer = rr, .plugin_abi_minor = KEEL_ABI_MINOR, .pass_count = 2,
                         .workers = workers, .width = 320, .height = 180, .pool = pool};
  if (kc_render_create(&rc, &r, NULL) != KEEL_OK) return;
  static double wall[REC_FRAMES], cpu[REC_FRAMES];
  for (uint32_t f = 0; f < REC_FRAMES; f++) {
    kc_render_extract(r, w, f);
    kc_render_prepare(r);
    kc_render_begin(r, (keel_color){0, 0, 0, 1}, 0.0);
    double c0 = thread_cpu_us();
    uint64_t t0 = bench_now_ns();
    kc_render_record_all(r);
    uint64_t t1 = bench_now_ns();
    cpu[f] = (thread_cpu_us() - c0) / REC_ENTITIES;
    wall[f] = (double)(t1 - t0) / 1e3;
    kc_render_submit(r);
    kc_render_present(r);
    uint32_t rw = 0, rh = 0;
    static uint8_t px[320 * 180 * 4];
    readback->readback_rgba8(rr, px, sizeof px, &rw, &rh);
  }
  kc_render_destroy(r);
  *wall_us = bench_percentile(wall, REC_FRAMES, 0.5);
  *cpu_us_per_draw = bench_percentile(cpu, REC_FRAMES, 0.5);
}

static void record_bench(void) {
  kc_plugin_loader loader;
  kc_plugin_loader_init(&loader);
  kc_plugin_loader_add_dir(&loader, KEEL_BENCH_PLUGIN_DIR, NULL);
  kc_plugin *plugin = NULL;
  kc_err err;
  if (kc_plugin_open(&loader, KEEL_PLUGIN_RENDERER, "vulkan", &plugin, NULL, &err) != KEEL_OK) {
    fprintf(stderr, "bench_vulkan: %s\n", err.msg);
    return;
  }
  const keel_renderer_api *api = plugin->interface;
  const keel_renderer_readback_api *readback =
      kc_plugin_find_interface(plugin, KEEL_RENDERER_READBACK_INTERFACE, sizeof *readback);
  kc_world *w = make_world();
  kc_pool *pool = NULL;
  kc_pool_desc pd = {.threads = 2};
  if (!w || kc_pool_create(&pd, &pool, &err) != KEEL_OK) return;
  kc_host_services svc = {.width = 320, .height = 180};
  kc_host host;
  kc_host_init(&host, &svc, "vulkan", plugin->file);
  double wall[2] = {0}, cpu[2] = {0};
  for (uint32_t workers = 1; workers <= 2; workers++) {
    keel_renderer_desc d = {.struct_size = sizeof d, .host = &host.pub, .width = 320, .height = 180,
                            .headless = true, .frames_in_flight = 2, .max_workers = workers, .pass_count = 2,
                            .device = "", .validation = KEEL_VALIDATION_OFF};
    keel_renderer *rr = NULL;
    keel_message msg = {{0}};
    if (api->create(&d, &rr, &msg) != KEEL_OK) {
      fprintf(stderr, "bench_vulkan: create: %s\n", msg.text);
      return;
    }
    record_run(api, readback, rr, workers == 1 ? NULL : pool, workers, w, &wall[workers - 1], &cpu[workers - 1]);
    keel_renderer_stats st = {.struct_size = sizeof st};
    api->stats(rr, &st);
    if (st.errors) fprintf(stderr, "bench_vulkan: the renderer counted %" PRIu64 " errors\n", st.errors);
    printf("record scene: %u entities (a third spheres), 320x180, %u frames; %" PRIu64 " draw calls a frame with %u "
           "worker%s\n",
           REC_ENTITIES, REC_FRAMES, st.frames ? st.draw_calls / st.frames : 0, workers, workers > 1 ? "s" : "");
    api->destroy(rr);
  }
  bench_report("vk_record_us_per_draw", cpu[0], "us");
  printf("  target <= 0.1 us: ratio %.2fx of the target\n", cpu[0] / 0.1);
  bench_report("vk_record_1_worker_wall_us", wall[0], "us");
  bench_report("vk_record_2_workers_wall_us", wall[1], "us");
  bench_report("vk_record_speedup_2_workers", wall[0] / wall[1], "x");
  printf("  aim >= 1.3x\n");
  kc_pool_destroy(pool);
  kc_world_destroy(w);
  kc_plugin_close(plugin);
  kc_plugin_loader_free(&loader);
}

/* ---- 3. and 4.: the keel executable as a child ---- */

typedef struct child_run {
  int status;
  double cpu_ms;
  long minflt;
} child_run;

static child_run run_child(char *const argv[]) {
  child_run cr = {.status = -1};
  pid_t pid;
  posix_spawn_file_actions_t quiet;
  posix_spawn_file_actions_init(&quiet);
  posix_spawn_file_actions_addopen(&quiet, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&quiet, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  int spawned = posix_spawn(&pid, argv[0], &quiet, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&quiet);
  if (spawned != 0) return cr;
  int st = 0;
  struct rusage ru;
  if (wait4(pid, &st, 0, &ru) < 0) return cr;
  cr.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  cr.cpu_ms = (double)ru.ru_utime.tv_sec * 1e3 + (double)ru.ru_utime.tv_usec / 1e3 + (double)ru.ru_stime.tv_sec * 1e3 +
              (double)ru.ru_stime.tv_usec / 1e3;
  cr.minflt = ru.ru_minflt;
  return cr;
}

/* keel on the 4010-entity scene of the Vulkan tests, 1280x720, with the
 * malloc thresholds and without; alternating, medians of 3 each. */
static void malloc_bench(void) {
  enum { FRAMES = 110, RUNS = 3 };
  char frames[16], main_set[1024];
  snprintf(frames, sizeof frames, "%d", FRAMES);
  snprintf(main_set, sizeof main_set, "script.main=%s/tests/scripts/render/many/main.lua", KEEL_BENCH_SOURCE_DIR);
  double cpu[2][RUNS], faults[2][RUNS];
  for (int run = 0; run < RUNS; run++) {
    for (int tuned = 0; tuned <= 1; tuned++) {
      char *argv[] = {KEEL_BENCH_KEEL_EXE, "--frames", frames, "--lockstep", "--set", "engine.target_fps=0", "--set",
                      main_set, "--set", "script.tick_budget_ms=10000", "--set", "renderer.validation=off", "--set",
                      tuned ? "engine.malloc_tuning=true" : "engine.malloc_tuning=false", NULL};
      child_run cr = run_child(argv);
      if (cr.status != 0) {
        fprintf(stderr, "bench_vulkan: keel exited with %d\n", cr.status);
        return;
      }
      cpu[tuned][run] = cr.cpu_ms / FRAMES;
      faults[tuned][run] = (double)cr.minflt;
    }
  }
  printf("malloc scene: keel, tests/scripts/render/many (4010 entities), vulkan, 1280x720, %d lockstep frames, "
         "medians of %d alternating runs\n",
         FRAMES, RUNS);
  bench_report("vk_malloc_default_page_faults", bench_percentile(faults[0], RUNS, 0.5), "faults");
  bench_report("vk_malloc_tuned_page_faults", bench_percentile(faults[1], RUNS, 0.5), "faults");
  bench_report("vk_malloc_default_cpu_ms_per_frame", bench_percentile(cpu[0], RUNS, 0.5), "ms");
  bench_report("vk_malloc_tuned_cpu_ms_per_frame", bench_percentile(cpu[1], RUNS, 0.5), "ms");
}

static double run_keel_p99(const char *game) {
  char path[] = "/tmp/keel-bench-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  close(fd);
  char main_set[1024];
  snprintf(main_set, sizeof main_set, "script.main=%s/tests/scripts/engine/js/%s/main.js", KEEL_BENCH_SOURCE_DIR,
           game);
  char *argv[] = {KEEL_BENCH_KEEL_EXE, "--frames", "300", "--set", "engine.target_fps=60", "--set",
                  "renderer.backend=vulkan", "--set", "renderer.validation=off", "--set", "script.runtime=js",
                  "--set", "script.tick_rate=30", "--set", main_set, "--set", "engine.log_level=error",
                  "--stats-json", path, NULL};
  double p99 = -1;
  if (run_child(argv).status == 0) {
    FILE *f = fopen(path, "r");
    char json[8192];
    size_t n = f ? fread(json, 1, sizeof json - 1, f) : 0;
    json[n] = '\0';
    if (f) fclose(f);
    if (strstr(json, "\"renderer\": \"vulkan\"")) p99 = json_number(json, "\"p99\": ");
  }
  remove(path);
  return p99;
}

int main(int argc, char **argv) {
  bench_print_machine("vulkan");
  kc_log_init();
  kc_log_set_level(KC_LOG_WARN);
  kc_cvar_register_engine(NULL);
  /* As the runner does (docs/rendering.md, Malloc tuning); the anchor runs with the
   * same thresholds through GLIBC_TUNABLES. */
  kc_malloc_tune(true);
  const char *only = argc > 1 ? argv[1] : "";
  const char *anchor = getenv("KEEL_ANCHOR_VK");
  if (!anchor) anchor = "/tmp/keel-anchors/build/vk_cubes";

  if (!*only || strcmp(only, "frame") == 0) {
    print_load("before vk_frame_ms_10k");
    double wall = 0, cpu = 0, p50 = 0, a_cpu = 0;
    if (engine_frame_ms(10000, 60, &wall, &cpu, &p50)) {
      bench_report("vk_frame_ms_10k", wall, "ms");
      bench_report("vk_frame_cpu_ms_10k", cpu, "ms");
      bench_report("vk_frame_p50_main_thread_ms_10k", p50, "ms");
    }
    double a = access(anchor, X_OK) == 0 ? anchor_frame_ms(anchor, 10000, 60, &a_cpu) : -1;
    if (a > 0) {
      bench_report("anchor_vk_instanced_frame_ms_10k", a, "ms");
      bench_report("anchor_vk_instanced_cpu_ms_10k", a_cpu, "ms");
      bench_report("vk_frame_ms_10k_ratio_to_anchor", wall / a, "x");
      printf("  target <= 1.2x\n");
      bench_report("vk_frame_cpu_ratio_to_anchor", cpu / a_cpu, "x");
    } else {
      printf("anchor: %s not found or failed (cp -r ../shared/anchors/render /tmp/keel-anchors && make -C "
             "/tmp/keel-anchors, or set KEEL_ANCHOR_VK)\n",
             anchor);
    }
    print_load("after vk_frame_ms_10k");
  }
  if (!*only || strcmp(only, "record") == 0) {
    print_load("before record");
    record_bench();
    double as = access(anchor, X_OK) == 0 ? anchor_record_speedup(anchor) : -1;
    if (as > 0) bench_report("anchor_vk_record_speedup_2_threads", as, "x");
    print_load("after record");
  }
  if (!*only || strcmp(only, "malloc") == 0) {
    print_load("before malloc");
    malloc_bench();
    print_load("after malloc");
  }
  if (!*only || strcmp(only, "p99") == 0) {
    print_load("before p99");
    enum { RUNS = 7 };
    double idle[RUNS], slow[RUNS];
    for (int i = 0; i < RUNS; i++) {
      idle[i] = run_keel_p99("idle");
      slow[i] = run_keel_p99("slow");
    }
    double pi = bench_percentile(idle, RUNS, 0.5), ps = bench_percentile(slow, RUNS, 0.5);
    bench_report("vk_main_frame_p99_idle_script_ms", pi, "ms");
    bench_report("vk_main_frame_p99_slow_script_ms", ps, "ms");
    bench_report("vk_main_p99_ratio_slow_script", pi > 0 ? ps / pi : 0, "x");
    printf("  target <= 1.1x (medians of %d alternating runs of 300 frames at 60 fps)\n", RUNS);
    print_load("after p99");
  }
  kc_cvar_shutdown();
  return 0;
}
