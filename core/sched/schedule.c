/* kc_schedule implementation: a builder that copies stage and system
 * descriptions, a build step that resolves names, orders stages (Kahn's
 * algorithm, ties by add order) and packs conflict-free batches over interned
 * resource bitsets, and a runner that turns each batch into one pool batch. */
#include "sched/schedule.h"

#include "base/trace.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- builder ------------------------------------------------------------- */

typedef struct sb_list {
  char **items;
  uint32_t count;
} sb_list;

typedef struct sb_stage {
  char *name;
  sb_list after;
  sb_list before;
} sb_stage;

typedef struct sb_system {
  char *name;
  char *stage;
  sb_list reads;
  sb_list writes;
  kc_system_fn fn;
  void *user;
  bool main_only;
} sb_system;

struct kc_schedule_builder {
  sb_stage *stages;
  uint32_t n_stages, cap_stages;
  sb_system *systems;
  uint32_t n_systems, cap_systems;
};

static const char *const k_builtin_stages[] = {KC_STAGE_UPDATE, KC_STAGE_EXTRACT, KC_STAGE_PREPARE,
                                               KC_STAGE_RECORD, KC_STAGE_SUBMIT,  KC_STAGE_PRESENT};
#define K_BUILTIN_COUNT 6u

static void list_free(sb_list *l) {
  for (uint32_t i = 0; i < l->count; i++) free(l->items[i]);
  free(l->items);
  l->items = NULL;
  l->count = 0;
}

static keel_result check_name(const char *what, const char *owner, const char *name, kc_err *err) {
  if (!name || !*name)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "%s%s%s%s: name is %s", what, owner ? " '" : "",
                      owner ? owner : "", owner ? "'" : "", name ? "empty" : "NULL");
  if (strlen(name) >= KC_SCHED_NAME_MAX)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "%s name '%.40s...' is longer than %d bytes", what, name,
                      KC_SCHED_NAME_MAX - 1);
  return KEEL_OK;
}

/* Copies a NULL-terminated name list, checking each name. */
static keel_result list_copy(sb_list *out, const char *const *names, const char *what, const char *owner,
                             kc_err *err) {
  out->items = NULL;
  out->count = 0;
  if (!names) return KEEL_OK;
  uint32_t n = 0;
  while (names[n]) {
    keel_result r = check_name(what, owner, names[n], err);
    if (r != KEEL_OK) return r;
    n++;
  }
  if (n == 0) return KEEL_OK;
  out->items = calloc(n, sizeof *out->items);
  if (!out->items) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "schedule: out of memory");
  for (uint32_t i = 0; i < n; i++) {
    out->items[i] = strdup(names[i]);
    out->count = i + 1;
    if (!out->items[i]) {
      list_free(out);
      return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "schedule: out of memory");
    }
  }
  return KEEL_OK;
}

static bool grow(void **arr, uint32_t *cap, uint32_t need, size_t elem) {
  if (need <= *cap) return true;
  uint32_t nc = *cap ? *cap * 2 : 16;
  while (nc < need) nc *= 2;
  void *p = realloc(*arr, (size_t)nc * elem);
  if (!p) return false;
  *arr = p;
  *cap = nc;
  return true;
}

keel_result kc_schedule_builder_create(kc_schedule_builder **out, kc_err *err) {
  if (!out) return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "kc_schedule_builder_create: out is NULL");
  *out = NULL;
  kc_schedule_builder *b = calloc(1, sizeof *b);
  if (!b) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "schedule: out of memory");
  for (uint32_t i = 0; i < K_BUILTIN_COUNT; i++) {
    const char *prev[] = {i ? k_builtin_stages[i - 1] : NULL, NULL};
    kc_stage_desc d = {k_builtin_stages[i], i ? prev : NULL, NULL};
    keel_result r = kc_schedule_add_stage(b, &d, err);
    if (r != KEEL_OK) {
      kc_schedule_builder_destroy(b);
      return r;
    }
  }
  *out = b;
  return KEEL_OK;
}

void kc_schedule_builder_destroy(kc_schedule_builder *b) {
  if (!b) return;
  for (uint32_t i = 0; i < b->n_stages; i++) {
    free(b->stages[i].name);
    list_free(&b->stages[i].after);
    list_free(&b->stages[i].before);
  }
  for (uint32_t i = 0; i < b->n_systems; i++) {
    free(b->systems[i].name);
    free(b->systems[i].stage);
    list_free(&b->systems[i].reads);
    list_free(&b->systems[i].writes);
  }
  free(b->stages);
  free(b->systems);
  free(b);
}

keel_result kc_schedule_add_stage(kc_schedule_builder *b, const kc_stage_desc *desc, kc_err *err) {
  if (!b || !desc)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "kc_schedule_add_stage: %s is NULL", b ? "desc" : "builder");
  keel_result r = check_name("stage", NULL, desc->name, err);
  if (r != KEEL_OK) return r;
  if (!grow((void **)&b->stages, &b->cap_stages, b->n_stages + 1, sizeof *b->stages))
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "schedule: out of memory");
  sb_stage st = {0};
  st.name = strdup(desc->name);
  if (!st.name) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "schedule: out of memory");
  if ((r = list_copy(&st.after, desc->after, "stage 'after' entry of", desc->name, err)) != KEEL_OK ||
      (r = list_copy(&st.before, desc->before, "stage 'before' entry of", desc->name, err)) != KEEL_OK) {
    free(st.name);
    list_free(&st.after);
    return r;
  }
  b->stages[b->n_stages++] = st;
  return KEEL_OK;
}

keel_result kc_schedule_add_system(kc_schedule_builder *b, const kc_system_desc *desc, kc_err *err) {
  if (!b || !desc)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "kc_schedule_add_system: %s is NULL",
                      b ? "desc" : "builder");
  keel_result r = check_name("system", NULL, desc->name, err);
  if (r != KEEL_OK) return r;
  if ((r = check_name("stage of system", desc->name, desc->stage, err)) != KEEL_OK) return r;
  if (!desc->fn)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "system '%s': fn is NULL", desc->name);
  if (!grow((void **)&b->systems, &b->cap_systems, b->n_systems + 1, sizeof *b->systems))
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "schedule: out of memory");
  sb_system sy = {0};
  sy.name = strdup(desc->name);
  sy.stage = strdup(desc->stage);
  sy.fn = desc->fn;
  sy.user = desc->user;
  sy.main_only = desc->main_thread_only;
  if (!sy.name || !sy.stage) {
    r = kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "schedule: out of memory");
  } else if ((r = list_copy(&sy.reads, desc->reads, "resource read by system", desc->name, err)) == KEEL_OK) {
    r = list_copy(&sy.writes, desc->writes, "resource written by system", desc->name, err);
  }
  if (r != KEEL_OK) {
    free(sy.name);
    free(sy.stage);
    list_free(&sy.reads);
    list_free(&sy.writes);
    return r;
  }
  b->systems[b->n_systems++] = sy;
  return KEEL_OK;
}

/* ---- the built schedule ---------------------------------------------------- */

typedef struct ks_system {
  char name[KC_SCHED_NAME_MAX];
  const char *trace_name; /* the name as the frame trace keeps it (kc_trace_intern) */
  kc_system_fn fn;
  void *user;
  kc_schedule *sched;
  uint32_t index;
  uint32_t stage; /* run order */
  uint32_t batch;
  bool main_only;
  keel_result result; /* of the last run; written by the system's worker */
} ks_system;

typedef struct ks_batch {
  uint32_t first;   /* into order[] (add order) and exec[] / descs[] */
  uint32_t count;
  uint32_t workers; /* exec[first .. first+workers) may run anywhere, the rest on main */
} ks_batch;

typedef struct ks_stage {
  char name[KC_SCHED_NAME_MAX];
  const char *trace_name;
  uint32_t first_batch;
  uint32_t batches;
} ks_stage;

struct kc_schedule {
  ks_stage *stages;
  uint32_t n_stages;
  ks_batch *batches;
  uint32_t n_batches;
  ks_system *systems; /* add order */
  uint32_t n_systems;
  uint32_t n_resources;
  uint32_t *order;       /* run order, add order inside a batch (the dump's) */
  uint32_t *exec;        /* run order, a batch's main-only systems last */
  keel_job_desc *descs;  /* parallel to exec */
  kc_pool *run_pool;     /* set by the running thread before any job is submitted */
  void *run_frame;
};

void kc_schedule_destroy(kc_schedule *s) {
  if (!s) return;
  free(s->stages);
  free(s->batches);
  free(s->systems);
  free(s->order);
  free(s->exec);
  free(s->descs);
  free(s);
}

/* Collects every problem of a build into one message. */
typedef struct ks_problems {
  kc_err *err;
  keel_result first;
  uint32_t count;
  size_t len;
  char buf[KC_ERR_MSG_MAX];
} ks_problems;

static void problem(ks_problems *p, keel_result code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(ks_problems *p, keel_result code, const char *fmt, ...) {
  if (p->count++ == 0) p->first = code;
  if (p->len + 1 >= sizeof p->buf) return;
  if (p->count > 1) p->len += (size_t)snprintf(p->buf + p->len, sizeof p->buf - p->len, "; ");
  if (p->len + 1 >= sizeof p->buf) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(p->buf + p->len, sizeof p->buf - p->len, fmt, ap);
  va_end(ap);
  if (n > 0) p->len += (size_t)n;
  if (p->len >= sizeof p->buf) p->len = sizeof p->buf - 1;
}

static int stage_lookup(const kc_schedule_builder *b, const char *name) {
  for (uint32_t i = 0; i < b->n_stages; i++)
    if (strcmp(b->stages[i].name, name) == 0) return (int)i;
  return -1;
}

/* Interned resource names for one build. */
typedef struct ks_names {
  const char **items;
  uint32_t count, cap;
} ks_names;

static int intern(ks_names *n, const char *name) {
  for (uint32_t i = 0; i < n->count; i++)
    if (strcmp(n->items[i], name) == 0) return (int)i;
  if (!grow((void **)&n->items, &n->cap, n->count + 1, sizeof *n->items)) return -1;
  n->items[n->count] = name;
  return (int)n->count++;
}

/* Finds a cycle among stages that Kahn's algorithm could not place (each has
 * an unplaced predecessor) by walking predecessors until one repeats, and
 * writes it forwards: "A -> B -> A". */
static void describe_cycle(const kc_schedule_builder *b, const uint8_t *edge, const bool *placed, uint32_t n,
                           ks_problems *pr) {
  uint32_t *path = malloc(sizeof(uint32_t) * (n + 1));
  int32_t *pos = malloc(sizeof(int32_t) * n);
  if (!path || !pos) {
    free(path);
    free(pos);
    problem(pr, KEEL_ERR_INVALID_ARGUMENT, "stage cycle (out of memory describing it)");
    return;
  }
  for (uint32_t i = 0; i < n; i++) pos[i] = -1;
  uint32_t v = 0;
  while (placed[v]) v++;
  uint32_t len = 0;
  while (pos[v] < 0) {
    pos[v] = (int32_t)len;
    path[len++] = v;
    uint32_t u = 0;
    while (u < n && (placed[u] || !edge[(size_t)u * n + v])) u++;
    v = u; /* exists: v was left unplaced because of an unplaced predecessor */
  }
  /* path[pos[v]..len) walks backwards along edges: reverse it, and start at
   * the stage added first so the same cycle always reads the same way. */
  uint32_t clen = len - (uint32_t)pos[v], *cyc = path + pos[v], start = 0;
  for (uint32_t i = 0; i < clen / 2; i++) {
    uint32_t t = cyc[i];
    cyc[i] = cyc[clen - 1 - i];
    cyc[clen - 1 - i] = t;
  }
  for (uint32_t i = 1; i < clen; i++)
    if (cyc[i] < cyc[start]) start = i;
  char text[600];
  size_t tl = 0;
  text[0] = '\0';
  for (uint32_t i = 0; i <= clen && tl + 1 < sizeof text; i++)
    tl += (size_t)snprintf(text + tl, sizeof text - tl, "%s%s", i ? " -> " : "",
                           b->stages[cyc[(start + i) % clen]].name);
  char sys[300];
  size_t sl = 0;
  uint32_t nsys = 0;
  sys[0] = '\0';
  for (uint32_t i = 0; i < b->n_systems; i++) {
    int st = stage_lookup(b, b->systems[i].stage);
    if (st < 0 || placed[st] || pos[st] < 0 || pos[st] < pos[v]) continue;
    if (sl + 1 < sizeof sys)
      sl += (size_t)snprintf(sys + sl, sizeof sys - sl, "%s%s", nsys ? ", " : "", b->systems[i].name);
    nsys++;
  }
  if (sl >= sizeof sys) sl = sizeof sys - 1;
  problem(pr, KEEL_ERR_INVALID_ARGUMENT, "stage cycle: %s (systems in these stages: %s)", text,
          nsys ? sys : "none");
  free(path);
  free(pos);
}

static bool conflicts(const uint64_t *ra, const uint64_t *wa, const uint64_t *rb, const uint64_t *wb,
                      uint32_t words) {
  for (uint32_t i = 0; i < words; i++)
    if ((wa[i] & (rb[i] | wb[i])) | (wb[i] & ra[i])) return true;
  return false;
}

static void sys_job(void *user, uint32_t worker) {
  ks_system *sys = user;
  kc_schedule *s = sys->sched;
  kc_system_ctx ctx = {s->run_pool, s->run_frame, sys->user, sys->name, worker, sys->index};
  bool traced = KC_TRACE_BEGIN(sys->trace_name);
  sys->result = sys->fn(&ctx);
  KC_TRACE_END(traced);
}

keel_result kc_schedule_build(const kc_schedule_builder *b, kc_schedule **out, kc_err *err) {
  if (!b || !out)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "kc_schedule_build: %s is NULL", b ? "out" : "builder");
  *out = NULL;
  ks_problems pr = {0};
  uint32_t ns = b->n_stages, nsys = b->n_systems;

  /* Names: duplicates, then references. */
  for (uint32_t i = 0; i < ns; i++)
    for (uint32_t j = 0; j < i; j++)
      if (strcmp(b->stages[i].name, b->stages[j].name) == 0) {
        problem(&pr, KEEL_ERR_INVALID_ARGUMENT, "duplicate stage '%s' (%s #%u and stage #%u)", b->stages[i].name,
                j < K_BUILTIN_COUNT ? "built-in stage" : "stage", j, i);
        break;
      }
  for (uint32_t i = 0; i < nsys; i++)
    for (uint32_t j = 0; j < i; j++)
      if (strcmp(b->systems[i].name, b->systems[j].name) == 0) {
        problem(&pr, KEEL_ERR_INVALID_ARGUMENT, "duplicate system '%s' (systems #%u and #%u, in stages %s and %s)",
                b->systems[i].name, j, i, b->systems[j].stage, b->systems[i].stage);
        break;
      }
  uint8_t *edge = calloc((size_t)ns * ns, 1);
  int *sys_stage = calloc(nsys ? nsys : 1, sizeof(int));
  if (!edge || !sys_stage) {
    free(edge);
    free(sys_stage);
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "schedule: out of memory");
  }
  for (uint32_t i = 0; i < ns; i++) {
    const sb_stage *st = &b->stages[i];
    for (uint32_t k = 0; k < st->after.count; k++) {
      int o = stage_lookup(b, st->after.items[k]);
      if (o < 0)
        problem(&pr, KEEL_ERR_NOT_FOUND, "stage '%s' is after unknown stage '%s'", st->name, st->after.items[k]);
      else if ((uint32_t)o == i)
        problem(&pr, KEEL_ERR_INVALID_ARGUMENT, "stage cycle: %s -> %s (a stage after itself)", st->name, st->name);
      else
        edge[(size_t)o * ns + i] = 1;
    }
    for (uint32_t k = 0; k < st->before.count; k++) {
      int o = stage_lookup(b, st->before.items[k]);
      if (o < 0)
        problem(&pr, KEEL_ERR_NOT_FOUND, "stage '%s' is before unknown stage '%s'", st->name,
                st->before.items[k]);
      else if ((uint32_t)o == i)
        problem(&pr, KEEL_ERR_INVALID_ARGUMENT, "stage cycle: %s -> %s (a stage before itself)", st->name,
                st->name);
      else
        edge[(size_t)i * ns + o] = 1;
    }
  }
  for (uint32_t i = 0; i < nsys; i++) {
    sys_stage[i] = stage_lookup(b, b->systems[i].stage);
    if (sys_stage[i] < 0)
      problem(&pr, KEEL_ERR_NOT_FOUND, "system '%s' is in unknown stage '%s'", b->systems[i].name,
              b->systems[i].stage);
  }

  /* Stage order: Kahn's algorithm, always taking the lowest add index that
   * is ready, so the order is deterministic and the built-ins lead. */
  uint32_t *topo = malloc(sizeof(uint32_t) * (ns ? ns : 1));
  uint32_t *indeg = calloc(ns ? ns : 1, sizeof(uint32_t));
  bool *placed = calloc(ns ? ns : 1, sizeof(bool));
  uint32_t *stage_pos = malloc(sizeof(uint32_t) * (ns ? ns : 1));
  keel_result oom = KEEL_OK;
  if (!topo || !indeg || !placed || !stage_pos) oom = KEEL_ERR_OUT_OF_MEMORY;
  uint32_t nt = 0;
  if (oom == KEEL_OK) {
    for (uint32_t u = 0; u < ns; u++)
      for (uint32_t v = 0; v < ns; v++) indeg[v] += edge[(size_t)u * ns + v];
    while (nt < ns) {
      uint32_t pick = ns;
      for (uint32_t v = 0; v < ns; v++)
        if (!placed[v] && indeg[v] == 0) {
          pick = v;
          break;
        }
      if (pick == ns) break;
      placed[pick] = true;
      stage_pos[pick] = nt;
      topo[nt++] = pick;
      for (uint32_t v = 0; v < ns; v++)
        if (edge[(size_t)pick * ns + v]) indeg[v]--;
    }
    if (nt < ns) describe_cycle(b, edge, placed, ns, &pr);
  }

  /* Resources and batches. */
  ks_names names = {0};
  uint64_t *bits = NULL;
  uint32_t words = 0;
  kc_schedule *s = NULL;
  if (oom == KEEL_OK && pr.count == 0) {
    for (uint32_t i = 0; i < nsys && oom == KEEL_OK; i++) {
      const sb_system *sy = &b->systems[i];
      for (uint32_t k = 0; k < sy->reads.count; k++)
        if (intern(&names, sy->reads.items[k]) < 0) oom = KEEL_ERR_OUT_OF_MEMORY;
      for (uint32_t k = 0; k < sy->writes.count; k++)
        if (intern(&names, sy->writes.items[k]) < 0) oom = KEEL_ERR_OUT_OF_MEMORY;
    }
    words = (names.count + 63) / 64;
    if (words == 0) words = 1;
    /* Per system: read bits then write bits. */
    if (oom == KEEL_OK) bits = calloc((size_t)(nsys ? nsys : 1) * 2 * words, sizeof(uint64_t));
    s = calloc(1, sizeof *s);
    if (!bits || !s) oom = KEEL_ERR_OUT_OF_MEMORY;
    if (oom == KEEL_OK) {
      s->n_stages = ns;
      s->n_systems = nsys;
      s->n_resources = names.count;
      s->stages = calloc(ns ? ns : 1, sizeof *s->stages);
      s->systems = calloc(nsys ? nsys : 1, sizeof *s->systems);
      s->order = calloc(nsys ? nsys : 1, sizeof *s->order);
      s->exec = calloc(nsys ? nsys : 1, sizeof *s->exec);
      s->descs = calloc(nsys ? nsys : 1, sizeof *s->descs);
      s->batches = calloc(nsys ? nsys : 1, sizeof *s->batches); /* at most one batch per system */
      if (!s->stages || !s->systems || !s->order || !s->exec || !s->descs || !s->batches)
        oom = KEEL_ERR_OUT_OF_MEMORY;
    }
  }
  if (oom == KEEL_OK && pr.count == 0) {
    for (uint32_t i = 0; i < nsys; i++) {
      const sb_system *sy = &b->systems[i];
      uint64_t *rb = bits + (size_t)i * 2 * words, *wb = rb + words;
      for (uint32_t k = 0; k < sy->writes.count; k++) {
        uint32_t id = (uint32_t)intern(&names, sy->writes.items[k]);
        wb[id / 64] |= 1ull << (id % 64);
      }
      for (uint32_t k = 0; k < sy->reads.count; k++) {
        uint32_t id = (uint32_t)intern(&names, sy->reads.items[k]);
        if (!(wb[id / 64] & (1ull << (id % 64)))) rb[id / 64] |= 1ull << (id % 64);
      }
      ks_system *ks = &s->systems[i];
      snprintf(ks->name, sizeof ks->name, "%s", sy->name);
      ks->trace_name = kc_trace_intern(ks->name);
      if (!ks->trace_name) ks->trace_name = ks->name;
      ks->fn = sy->fn;
      ks->user = sy->user;
      ks->sched = s;
      ks->index = i;
      ks->stage = stage_pos[sys_stage[i]];
      ks->main_only = sy->main_only;
      ks->result = KEEL_OK;
    }
    /* Greedy layering within each stage, in add order: one batch after the
     * latest earlier system it conflicts with. */
    uint32_t *members = malloc(sizeof(uint32_t) * (nsys ? nsys : 1));
    if (!members) oom = KEEL_ERR_OUT_OF_MEMORY;
    uint32_t placed_sys = 0;
    for (uint32_t t = 0; t < ns && oom == KEEL_OK; t++) {
      ks_stage *kst = &s->stages[t];
      snprintf(kst->name, sizeof kst->name, "%s", b->stages[topo[t]].name);
      kst->trace_name = kc_trace_intern(kst->name);
      if (!kst->trace_name) kst->trace_name = kst->name;
      uint32_t m = 0;
      for (uint32_t i = 0; i < nsys; i++)
        if (s->systems[i].stage == t) members[m++] = i;
      uint32_t nb = 0;
      for (uint32_t a = 0; a < m; a++) {
        uint32_t i = members[a], batch = 0;
        const uint64_t *ri = bits + (size_t)i * 2 * words, *wi = ri + words;
        for (uint32_t c = 0; c < a; c++) {
          uint32_t j = members[c];
          const uint64_t *rj = bits + (size_t)j * 2 * words, *wj = rj + words;
          if (s->systems[j].batch + 1 > batch && conflicts(ri, wi, rj, wj, words)) batch = s->systems[j].batch + 1;
        }
        s->systems[i].batch = batch;
        if (batch + 1 > nb) nb = batch + 1;
      }
      kst->first_batch = s->n_batches;
      kst->batches = nb;
      for (uint32_t k = 0; k < nb; k++) {
        ks_batch *kb = &s->batches[s->n_batches++];
        kb->first = placed_sys;
        for (uint32_t a = 0; a < m; a++)
          if (s->systems[members[a]].batch == k) s->order[placed_sys + kb->count++] = members[a];
        uint32_t e = 0;
        for (int pass = 0; pass < 2; pass++)
          for (uint32_t a = 0; a < kb->count; a++) {
            uint32_t i = s->order[kb->first + a];
            if (s->systems[i].main_only != (pass == 1)) continue;
            s->exec[kb->first + e] = i;
            s->descs[kb->first + e] = (keel_job_desc){sys_job, &s->systems[i]};
            e++;
            if (pass == 0) kb->workers++;
          }
        placed_sys += kb->count;
      }
    }
    free(members);
  }

  free(edge);
  free(sys_stage);
  free(topo);
  free(indeg);
  free(placed);
  free(stage_pos);
  free(names.items);
  free(bits);
  if (oom != KEEL_OK || pr.count != 0) {
    kc_schedule_destroy(s);
    if (oom != KEEL_OK && pr.count == 0) return kc_err_set(err, oom, "schedule: out of memory");
    return kc_err_set(err, pr.first, "schedule: %u problem%s: %s", pr.count, pr.count == 1 ? "" : "s", pr.buf);
  }
  *out = s;
  return KEEL_OK;
}

/* ---- run ------------------------------------------------------------------ */

/* One batch: worker systems to the pool (the main thread takes one itself
 * when it has nothing main-only), main-only systems inline, then wait. */
static void run_batch(kc_schedule *s, kc_pool *pool, const ks_batch *kb, uint32_t *failed, uint32_t *first_failed) {
  const keel_job_desc *d = &s->descs[kb->first];
  uint32_t nw = kb->workers, nm = kb->count - kb->workers;
  if (kb->count == 1) {
    sys_job(d[0].user, 0);
  } else {
    /* Without main-only work the main thread takes one system itself
     * rather than waiting idle; with it, the workers get all the rest. */
    uint32_t keep = nm == 0 ? 1 : 0;
    keel_job_counter c = {0};
    if (nw > keep && kc_pool_submit(pool, d + keep, nw - keep, &c, NULL) != KEEL_OK) {
      /* Cannot happen from the main thread with valid descs; stay correct anyway. */
      for (uint32_t k = keep; k < nw; k++) sys_job(d[k].user, 0);
      c.id = 0;
    }
    for (uint32_t k = nw; k < kb->count; k++) sys_job(d[k].user, 0);
    if (keep) sys_job(d[0].user, 0);
    kc_pool_wait(pool, c, NULL);
  }
  for (uint32_t k = 0; k < kb->count; k++) {
    const ks_system *sy = &s->systems[s->exec[kb->first + k]];
    if (sy->result < 0) {
      (*failed)++;
      if (sy->index < *first_failed) *first_failed = sy->index;
    }
  }
}

keel_result kc_schedule_run(kc_schedule *s, kc_pool *pool, void *frame, kc_err *err) {
  if (!s || !pool)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "kc_schedule_run: %s is NULL", s ? "pool" : "schedule");
  if (kc_pool_worker_index(pool) != 0)
    return kc_err_set(err, KEEL_ERR_WRONG_STATE, "kc_schedule_run: not called on the pool's main thread");
  s->run_pool = pool;
  s->run_frame = frame;
  uint32_t failed = 0, first_failed = UINT32_MAX;
  for (uint32_t t = 0; t < s->n_stages; t++) {
    const ks_stage *st = &s->stages[t];
    bool traced = KC_TRACE_BEGIN(st->trace_name);
    for (uint32_t bi = st->first_batch; bi < st->first_batch + st->batches; bi++)
      run_batch(s, pool, &s->batches[bi], &failed, &first_failed);
    KC_TRACE_END(traced);
  }
  if (failed == 0) return KEEL_OK;
  const ks_system *f = &s->systems[first_failed];
  return kc_err_set(err, f->result, "system '%s' (stage %s) failed with %s; %u of %u systems failed this run",
                    f->name, s->stages[f->stage].name, keel_result_name(f->result), failed, s->n_systems);
}

/* ---- dump and queries ------------------------------------------------------- */

typedef struct ks_out {
  char *buf;
  size_t cap;
  size_t len;
  FILE *f;
  bool io_error;
} ks_out;

static void out_str(ks_out *o, const char *text) {
  size_t n = strlen(text);
  if (o->f) {
    if (fputs(text, o->f) == EOF) o->io_error = true;
  } else if (o->cap) {
    if (o->len + 1 < o->cap) {
      size_t room = o->cap - 1 - o->len;
      memcpy(o->buf + o->len, text, n < room ? n : room);
      o->buf[o->len + (n < room ? n : room)] = '\0';
    }
  }
  o->len += n;
}

static void dump_to(const kc_schedule *s, ks_out *o) {
  if (o->cap) o->buf[0] = '\0';
  if (!s) return;
  char line[64];
  for (uint32_t t = 0; t < s->n_stages; t++) {
    const ks_stage *st = &s->stages[t];
    out_str(o, "stage ");
    out_str(o, st->name);
    out_str(o, "\n");
    if (st->batches == 0) out_str(o, "  (no systems)\n");
    for (uint32_t k = 0; k < st->batches; k++) {
      const ks_batch *kb = &s->batches[st->first_batch + k];
      snprintf(line, sizeof line, "  batch %u: ", k);
      out_str(o, line);
      for (uint32_t a = 0; a < kb->count; a++) {
        const ks_system *sy = &s->systems[s->order[kb->first + a]];
        if (a) out_str(o, ", ");
        out_str(o, sy->name);
        if (sy->main_only) out_str(o, " [main]");
      }
      out_str(o, "\n");
    }
  }
}

size_t kc_schedule_dump(const kc_schedule *s, char *buf, size_t cap) {
  ks_out o = {buf, buf ? cap : 0, 0, NULL, false};
  dump_to(s, &o);
  return o.len;
}

keel_result kc_schedule_dump_file(const kc_schedule *s, FILE *f, kc_err *err) {
  if (!s || !f)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "kc_schedule_dump_file: %s is NULL", s ? "stream" : "schedule");
  ks_out o = {NULL, 0, 0, f, false};
  dump_to(s, &o);
  if (o.io_error || fflush(f) == EOF)
    return kc_err_set(err, KEEL_ERR_IO, "kc_schedule_dump_file: writing the schedule failed");
  return KEEL_OK;
}

uint32_t kc_schedule_stage_count(const kc_schedule *s) { return s ? s->n_stages : 0; }

const char *kc_schedule_stage_name(const kc_schedule *s, uint32_t stage) {
  return s && stage < s->n_stages ? s->stages[stage].name : NULL;
}

uint32_t kc_schedule_batch_count(const kc_schedule *s, uint32_t stage) {
  return s && stage < s->n_stages ? s->stages[stage].batches : 0;
}

uint32_t kc_schedule_system_count(const kc_schedule *s) { return s ? s->n_systems : 0; }

uint32_t kc_schedule_resource_count(const kc_schedule *s) { return s ? s->n_resources : 0; }

bool kc_schedule_find_system(const kc_schedule *s, const char *name, uint32_t *stage, uint32_t *batch) {
  if (!s || !name) return false;
  for (uint32_t i = 0; i < s->n_systems; i++)
    if (strcmp(s->systems[i].name, name) == 0) {
      if (stage) *stage = s->systems[i].stage;
      if (batch) *batch = s->systems[i].batch;
      return true;
    }
  return false;
}
