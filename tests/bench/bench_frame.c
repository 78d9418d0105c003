/* The render half of a frame at scale: 10,000 entities, 10% of them moved
 * each frame (applied and published like script commands), then Extract +
 * Prepare + Record + Submit on the null renderer. Also the same frame with
 * 1 and 2 recording workers, for the speed-up, and the frame run through a
 * schedule like the engine's with the frame trace off and on, for what
 * tracing costs (trace_overhead_percent). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/trace.h"
#include "bench_util.h"
#include "frame/host.h"
#include "frame/render.h"
#include "plugin/loader.h"
#include "sched/pool.h"
#include "sched/schedule.h"
#include "world/world.h"

#define ENTITIES 10000
#define FRAMES 400

static kc_world *make_world(keel_id *ids) {
  kc_world *w = NULL;
  kc_world_config wc = {.max_entities = ENTITIES + 16};
  if (kc_world_create(&wc, &w, NULL) != KEEL_OK) return NULL;
  for (uint32_t i = 0; i < ENTITIES; i++) {
    keel_command c;
    memset(&c, 0, sizeof c);
    c.type = KEEL_CMD_CREATE;
    c.kind = KEEL_OBJECT_ENTITY;
    c.id = ids[i] = kc_world_reserve(w, KEEL_OBJECT_ENTITY);
    c.fields.mask = KEEL_FIELD_MESH | KEEL_FIELD_POSITION | KEEL_FIELD_COLOR;
    strcpy(c.fields.mesh, i % 3 ? "cube" : "sphere");
    c.fields.position = (keel_vec3){(float)(i % 100) - 50.0f, 0.0f, (float)(i / 100) - 50.0f};
    c.fields.color = (keel_color){1, 1, 1, i % 10 ? 1.0f : 0.5f};
    kc_world_check(w, &c);
    kc_world_apply(w, &c, NULL);
  }
  kc_world_publish(w, NULL);
  return w;
}

static void move_tenth(kc_world *w, const keel_id *ids, uint32_t frame) {
  keel_command c;
  memset(&c, 0, sizeof c);
  c.type = KEEL_CMD_UPDATE;
  c.kind = KEEL_OBJECT_ENTITY;
  c.fields.mask = KEEL_FIELD_POSITION;
  for (uint32_t i = frame % 10; i < ENTITIES; i += 10) {
    c.id = ids[i];
    c.fields.position = (keel_vec3){(float)frame * 0.01f, 1.0f, (float)i * 0.001f};
    kc_world_apply(w, &c, NULL);
  }
}

typedef struct stage_us {
  double extract, prepare, record, submit, total, publish;
} stage_us;

/* Medians over FRAMES frames of each part of the render half, in µs. */
static void run(const keel_renderer_api *api, keel_renderer *rr, kc_pool *pool, uint32_t workers, kc_world *w,
                const keel_id *ids, stage_us *out) {
  kc_render *r = NULL;
  kc_render_config rc = {.api = api, .renderer = rr, .plugin_abi_minor = KEEL_ABI_MINOR, .pass_count = 2,
                         .workers = workers, .width = 1280, .height = 720, .pool = pool};
  if (kc_render_create(&rc, &r, NULL) != KEEL_OK) return;
  static double t[6][FRAMES];
  for (uint32_t f = 0; f < FRAMES; f++) {
    move_tenth(w, ids, f);
    uint64_t t0 = bench_now_ns();
    kc_world_publish(w, NULL);
    uint64_t t1 = bench_now_ns();
    kc_render_extract(r, w, f);
    uint64_t t2 = bench_now_ns();
    kc_render_prepare(r);
    uint64_t t3 = bench_now_ns();
    kc_render_begin(r, (keel_color){0, 0, 0, 1}, 0.0);
    kc_render_record_all(r);
    uint64_t t4 = bench_now_ns();
    kc_render_submit(r);
    kc_render_present(r);
    uint64_t t5 = bench_now_ns();
    t[0][f] = (double)(t2 - t1) / 1e3;
    t[1][f] = (double)(t3 - t2) / 1e3;
    t[2][f] = (double)(t4 - t3) / 1e3;
    t[3][f] = (double)(t5 - t4) / 1e3;
    t[4][f] = (double)(t5 - t1) / 1e3;
    t[5][f] = (double)(t1 - t0) / 1e3;
  }
  kc_render_destroy(r);
  out->extract = bench_percentile(t[0], FRAMES, 0.5);
  out->prepare = bench_percentile(t[1], FRAMES, 0.5);
  out->record = bench_percentile(t[2], FRAMES, 0.5);
  out->submit = bench_percentile(t[3], FRAMES, 0.5);
  out->total = bench_percentile(t[4], FRAMES, 0.5);
  out->publish = bench_percentile(t[5], FRAMES, 0.5);
}

/* ---- the same frame as the engine runs it: a schedule, traced or not ---- */

typedef struct sched_frame {
  kc_render *r;
  kc_world *w;
  uint64_t frame;
} sched_frame;

static keel_result sys_publish(const kc_system_ctx *c) {
  sched_frame *f = c->frame;
  if (KC_TRACE_ON()) {
    kc_world_metrics wm;
    kc_world_metrics_get(f->w, &wm);
    KC_TRACE_COUNTER("dirty_ratio", (double)wm.entities.dirty / (wm.entities.live_back ? wm.entities.live_back : 1));
  }
  bool t = KC_TRACE_BEGIN("swap");
  keel_result r = kc_world_publish(f->w, NULL);
  KC_TRACE_END(t);
  return r;
}
static keel_result sys_extract(const kc_system_ctx *c) {
  sched_frame *f = c->frame;
  return kc_render_extract(f->r, f->w, f->frame);
}
static keel_result sys_prepare(const kc_system_ctx *c) { return kc_render_prepare(((sched_frame *)c->frame)->r); }
static keel_result sys_begin(const kc_system_ctx *c) {
  return kc_render_begin(((sched_frame *)c->frame)->r, (keel_color){0, 0, 0, 1}, 0.0);
}
static keel_result sys_record(const kc_system_ctx *c) { return kc_render_record_all(((sched_frame *)c->frame)->r); }
static keel_result sys_submit(const kc_system_ctx *c) { return kc_render_submit(((sched_frame *)c->frame)->r); }
static keel_result sys_present(const kc_system_ctx *c) { return kc_render_present(((sched_frame *)c->frame)->r); }

static kc_schedule *build_schedule(void) {
  static const char *const world[] = {"world", NULL}, *const snapshot[] = {"render_snapshot", NULL},
                           *const lists[] = {"draw_lists", NULL}, *const renderer[] = {"renderer", NULL},
                           *const lists_renderer[] = {"draw_lists", "renderer", NULL},
                           *const encoders[] = {"encoders", NULL},
                           *const renderer_encoders[] = {"renderer", "encoders", NULL};
  const kc_system_desc systems[] = {
      {.name = "script_handoff", .stage = KC_STAGE_UPDATE, .writes = world, .fn = sys_publish, .main_thread_only = true},
      {.name = "extract", .stage = KC_STAGE_EXTRACT, .reads = world, .writes = snapshot, .fn = sys_extract},
      {.name = "prepare", .stage = KC_STAGE_PREPARE, .reads = snapshot, .writes = lists_renderer, .fn = sys_prepare,
       .main_thread_only = true},
      {.name = "begin_frame", .stage = KC_STAGE_RECORD, .writes = renderer, .fn = sys_begin, .main_thread_only = true},
      {.name = "record", .stage = KC_STAGE_RECORD, .reads = lists, .writes = renderer_encoders, .fn = sys_record},
      {.name = "submit", .stage = KC_STAGE_SUBMIT, .reads = encoders, .writes = renderer, .fn = sys_submit,
       .main_thread_only = true},
      {.name = "present", .stage = KC_STAGE_PRESENT, .writes = renderer, .fn = sys_present, .main_thread_only = true},
  };
  kc_schedule_builder *b = NULL;
  kc_schedule *s = NULL;
  if (kc_schedule_builder_create(&b, NULL) != KEEL_OK) return NULL;
  for (size_t i = 0; i < sizeof systems / sizeof systems[0]; i++) kc_schedule_add_system(b, &systems[i], NULL);
  kc_schedule_build(b, &s, NULL);
  kc_schedule_builder_destroy(b);
  return s;
}

#define TRACE_BLOCK 10
#define TRACE_ROUNDS 80

/* One frame as kc_engine_run frames it: the frame slice, the schedule, the
 * counters. Returns its duration in µs. */
static double sched_frame_run(kc_schedule *s, kc_pool *pool, sched_frame *f, const keel_id *ids) {
  move_tenth(f->w, ids, (uint32_t)f->frame);
  uint64_t t0 = bench_now_ns();
  kc_trace_frame(f->frame);
  bool t = KC_TRACE_BEGIN_ARG("frame", "frame", f->frame);
  kc_schedule_run(s, pool, f, NULL);
  if (t) {
    KC_TRACE_COUNTER("entities", (double)kc_world_count(f->w, KEEL_OBJECT_ENTITY));
    KC_TRACE_COUNTER("commands", (double)(ENTITIES / 10));
    KC_TRACE_COUNTER("command_queue", 0.0);
  }
  KC_TRACE_END(t);
  uint64_t t1 = bench_now_ns();
  f->frame++;
  return (double)(t1 - t0) / 1e3;
}

/* Alternating blocks of frames with the trace off and on (recording every
 * frame), so both modes see the same machine load; medians over all frames
 * of each mode. */
static void trace_overhead(const keel_renderer_api *api, keel_renderer *rr, kc_pool *pool, kc_world *w,
                           const keel_id *ids) {
  kc_render *r = NULL;
  kc_render_config rc = {.api = api, .renderer = rr, .plugin_abi_minor = KEEL_ABI_MINOR, .pass_count = 2,
                         .workers = 2, .width = 1280, .height = 720, .pool = pool};
  kc_schedule *s = build_schedule();
  if (!s || kc_render_create(&rc, &r, NULL) != KEEL_OK) {
    fprintf(stderr, "bench_frame: cannot build the traced frame\n");
    return;
  }
  static double off[TRACE_BLOCK * TRACE_ROUNDS], on[TRACE_BLOCK * TRACE_ROUNDS];
  sched_frame f = {.r = r, .w = w};
  for (int i = 0; i < TRACE_BLOCK; i++) sched_frame_run(s, pool, &f, ids); /* warm up */
  double events_per_frame = 0;
  for (int round = 0; round < TRACE_ROUNDS; round++) {
    for (int i = 0; i < TRACE_BLOCK; i++) off[round * TRACE_BLOCK + i] = sched_frame_run(s, pool, &f, ids);
    kc_trace_config tc = {.first_frame = f.frame, .last_frame = KC_TRACE_FRAME_END};
    if (kc_trace_start(&tc, NULL) != KEEL_OK) return;
    for (int i = 0; i < TRACE_BLOCK; i++) on[round * TRACE_BLOCK + i] = sched_frame_run(s, pool, &f, ids);
    char path[64];
    snprintf(path, sizeof path, "/tmp/keel-bench-trace-%d.json", (int)getpid());
    if (round == TRACE_ROUNDS - 1 && kc_trace_write(path, NULL) == KEEL_OK) {
      /* One event a line; the metadata lines ("ph":"M") name the tracks. */
      FILE *tf = fopen(path, "r");
      char line[512];
      size_t events = 0;
      while (tf && fgets(line, sizeof line, tf))
        events += strncmp(line, "{\"ph\":\"", 7) == 0 && line[7] != 'M';
      if (tf) fclose(tf);
      events_per_frame = (double)events / TRACE_BLOCK;
      remove(path);
    }
    kc_trace_stop();
  }
  /* Each round's on/off ratio of block medians, then the median ratio:
   * neighbouring blocks share the load, so drift cancels out. */
  static double ratio[TRACE_ROUNDS];
  for (int round = 0; round < TRACE_ROUNDS; round++)
    ratio[round] = bench_percentile(on + round * TRACE_BLOCK, TRACE_BLOCK, 0.5) /
                   bench_percentile(off + round * TRACE_BLOCK, TRACE_BLOCK, 0.5);
  double m_off = bench_percentile(off, TRACE_BLOCK * TRACE_ROUNDS, 0.5);
  double m_on = bench_percentile(on, TRACE_BLOCK * TRACE_ROUNDS, 0.5);
  bench_report("frame_10k_scheduled_trace_off_us", m_off, "us");
  bench_report("frame_10k_scheduled_trace_on_us", m_on, "us");
  bench_report("trace_events_per_frame", events_per_frame, "events");
  bench_report("trace_overhead_percent", (bench_percentile(ratio, TRACE_ROUNDS, 0.5) - 1.0) * 100.0, "%");
  kc_render_destroy(r);
  kc_schedule_destroy(s);
}

int main(void) {
  bench_print_machine("frame");
  kc_plugin_loader loader;
  kc_plugin_loader_init(&loader);
  kc_plugin_loader_add_dir(&loader, KEEL_BENCH_PLUGIN_DIR, NULL);
  kc_plugin *plugin = NULL;
  kc_err err;
  if (kc_plugin_open(&loader, KEEL_PLUGIN_RENDERER, "null", &plugin, NULL, &err) != KEEL_OK) {
    fprintf(stderr, "bench_frame: %s\n", err.msg);
    return 1;
  }
  const keel_renderer_api *api = plugin->interface;
  static keel_id ids[ENTITIES];
  kc_world *w = make_world(ids);
  kc_pool *pool = NULL;
  kc_pool_desc pd = {.threads = 2};
  if (!w || kc_pool_create(&pd, &pool, &err) != KEEL_OK) return 1;
  kc_host_services svc = {.width = 1280, .height = 720};
  kc_host host;
  kc_host_init(&host, &svc, "null", plugin->file);
  stage_us us[2] = {{0}};
  for (uint32_t workers = 1; workers <= 2; workers++) {
    keel_renderer_desc d = {.struct_size = sizeof d, .host = &host.pub, .width = 1280, .height = 720,
                            .headless = true, .frames_in_flight = 2, .max_workers = workers, .pass_count = 2};
    keel_renderer *rr = NULL;
    if (api->create(&d, &rr, NULL) != KEEL_OK) return 1;
    run(api, rr, workers == 1 ? NULL : pool, workers, w, ids, &us[workers - 1]);
    if (workers == 2) trace_overhead(api, rr, pool, w, ids);
    keel_renderer_stats st = {.struct_size = sizeof st};
    api->stats(rr, &st);
    if (st.errors) fprintf(stderr, "bench_frame: the renderer counted %llu errors\n", (unsigned long long)st.errors);
    api->destroy(rr);
  }
  bench_report("frame_10k_entities_null_renderer_us", us[0].total, "us");
  bench_report("frame_10k_entities_null_renderer_2_workers_us", us[1].total, "us");
  bench_report("record_speedup_2_workers", us[0].record / us[1].record, "x");
  bench_report("frame_speedup_2_workers", us[0].total / us[1].total, "x");
  const char *names[4] = {"extract", "prepare", "record", "submit_present"};
  for (int k = 0; k < 2; k++) {
    const double parts[4] = {us[k].extract, us[k].prepare, us[k].record, us[k].submit};
    for (int i = 0; i < 4; i++) {
      char name[96];
      snprintf(name, sizeof name, "frame_10k_%s_%u_worker%s_us", names[i], k + 1, k ? "s" : "");
      bench_report(name, parts[i], "us");
    }
  }
  bench_report("state_publish_10k_dirty10_us", us[0].publish, "us");
  kc_pool_destroy(pool);
  kc_world_destroy(w);
  kc_plugin_close(plugin);
  kc_plugin_loader_free(&loader);
  return 0;
}
