/* The plugin loader: search path, dlopen, manifest and interface checks, the
 * fallback chain and the listing behind `keel --list-plugins`. The checks live
 * in one place (plugin_probe) so opening and listing can never disagree about
 * whether a file would load. */
#include "plugin/loader.h"

#include "base/log.h"
#include "base/setting.h"

#include <keel/script.h>

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bytes of `type` up to and including `member`: what a reader needs a
 * writer's struct_size to cover before it touches that member. */
#define SIZE_THROUGH(type, member) ((uint32_t)(offsetof(type, member) + sizeof(((type *)0)->member)))

/* A member of an interface table the host calls or reads; NULL is refused at
 * load time so a half-filled table is a message, not a crash later. */
typedef struct member_rule {
  size_t offset;
  size_t size;
  const char *name;
} member_rule;
#define MEMBER(type, m) {offsetof(type, m), sizeof(((type *)0)->m), #m}

static const member_rule renderer_members[] = {
    MEMBER(keel_renderer_api, create),        MEMBER(keel_renderer_api, destroy),
    MEMBER(keel_renderer_api, begin_frame),   MEMBER(keel_renderer_api, encoder_begin),
    MEMBER(keel_renderer_api, encoder_set_camera), MEMBER(keel_renderer_api, encoder_draw),
    MEMBER(keel_renderer_api, encoder_end),   MEMBER(keel_renderer_api, end_frame),
    MEMBER(keel_renderer_api, present),       MEMBER(keel_renderer_api, resize),
    MEMBER(keel_renderer_api, mesh_create),   MEMBER(keel_renderer_api, mesh_destroy),
    MEMBER(keel_renderer_api, stats),
};

static const member_rule script_members[] = {
    MEMBER(keel_script_api, language), MEMBER(keel_script_api, file_extension),
    MEMBER(keel_script_api, create),   MEMBER(keel_script_api, destroy),
    MEMBER(keel_script_api, init),     MEMBER(keel_script_api, tick),
    MEMBER(keel_script_api, shutdown), MEMBER(keel_script_api, interrupt),
    MEMBER(keel_script_api, oneoff_run), MEMBER(keel_script_api, stats),
};

/* What each kind must provide. min_size is the ABI 1.0 table up to its last
 * member: a plugin built against a newer minor has a larger table, which is
 * fine; members added later are checked by the host with KEEL_HAS_MEMBER. */
typedef struct kind_rule {
  keel_plugin_kind kind;
  const char *word;
  const char *interface_id;
  uint32_t min_size;
  uint32_t max_size; /* this host's table: no plugin of an ABI minor it reads has a larger one */
  const member_rule *members;
  size_t member_count;
} kind_rule;

static const kind_rule kind_rules[] = {
    {KEEL_PLUGIN_RENDERER, "renderer", KEEL_RENDERER_INTERFACE, SIZE_THROUGH(keel_renderer_api, stats),
     KEEL_STRUCT_SIZE(keel_renderer_api), renderer_members, sizeof renderer_members / sizeof renderer_members[0]},
    {KEEL_PLUGIN_SCRIPT, "script", KEEL_SCRIPT_INTERFACE, SIZE_THROUGH(keel_script_api, stats),
     KEEL_STRUCT_SIZE(keel_script_api), script_members, sizeof script_members / sizeof script_members[0]},
};

static const kind_rule *kind_rule_find(keel_plugin_kind kind) {
  for (size_t i = 0; i < sizeof kind_rules / sizeof kind_rules[0]; i++)
    if (kind_rules[i].kind == kind) return &kind_rules[i];
  return NULL;
}

const char *kc_plugin_kind_text(keel_plugin_kind kind) {
  const kind_rule *rule = kind_rule_find(kind);
  return rule ? rule->word : "unknown";
}

const char *kc_plugin_status_text(kc_plugin_status status) {
  switch (status) {
    case KC_PLUGIN_OK: return "ok";
    case KC_PLUGIN_NOT_FOUND: return "not found";
    case KC_PLUGIN_NOT_LOADABLE: return "not loadable";
    case KC_PLUGIN_NO_ENTRY: return "no entry symbol";
    case KC_PLUGIN_ABI_REFUSED: return "ABI refused";
    case KC_PLUGIN_WRONG_KIND: return "wrong kind";
    case KC_PLUGIN_INTERFACE_MISSING: return "interface missing";
    case KC_PLUGIN_CREATE_FAILED: return "create failed";
    case KC_PLUGIN_BAD_SETTINGS: return "bad settings";
  }
  return "unknown status";
}

/* Copies a string the plugin owns into a fixed buffer; NULL reads as "". */
static void copy_text(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : ""); }

/* copy_text for a manifest string keel prints: a control character (a
 * newline, an escape sequence) becomes '?', so a plugin's name, version or
 * description can never break a listing or a log line in two. */
static void copy_shown(char *dst, size_t cap, const char *src) {
  copy_text(dst, cap, src);
  for (char *c = dst; *c; c++)
    if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f) *c = '?';
}

static keel_plugin_kind kind_from_file_name(const char *base, char *name, size_t cap);
static const char *base_name(const char *path);

/* ---- search path ---- */

/* Room left in a plugin path for "/keel_<kind>_<name>.so". */
#define DIR_MAX (KC_PLUGIN_FILE_MAX - KC_PLUGIN_NAME_MAX - 32)

void kc_plugin_loader_init(kc_plugin_loader *loader) {
  memset(loader, 0, sizeof *loader);
  loader->host_abi_major = KEEL_ABI_MAJOR;
  loader->host_abi_minor = KEEL_ABI_MINOR;
}

void kc_plugin_loader_free(kc_plugin_loader *loader) {
  if (!loader) return;
  for (size_t i = 0; i < loader->dir_count; i++) free(loader->dirs[i]);
  free(loader->dirs);
  loader->dirs = NULL;
  loader->dir_count = loader->dir_capacity = 0;
}

static keel_result loader_add_span(kc_plugin_loader *loader, const char *dir, size_t len, kc_err *err) {
  /* A trailing slash would make "/a" and "/a/" two entries and print "//". */
  while (len > 1 && dir[len - 1] == '/') len--;
  if (len == 0) return KEEL_OK;
  if (len >= DIR_MAX)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "plugin directory is too long (%zu bytes, at most %d): %.64s...",
                      len, DIR_MAX - 1, dir);
  for (size_t i = 0; i < loader->dir_count; i++)
    if (strlen(loader->dirs[i]) == len && memcmp(loader->dirs[i], dir, len) == 0) return KEEL_OK;
  if (loader->dir_count == loader->dir_capacity) {
    size_t cap = loader->dir_capacity ? loader->dir_capacity * 2 : 8;
    char **grown = realloc(loader->dirs, cap * sizeof *grown);
    if (!grown) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "out of memory growing the plugin search path");
    loader->dirs = grown;
    loader->dir_capacity = cap;
  }
  char *copy = malloc(len + 1);
  if (!copy) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "out of memory adding a plugin directory");
  memcpy(copy, dir, len);
  copy[len] = '\0';
  loader->dirs[loader->dir_count++] = copy;
  return KEEL_OK;
}

keel_result kc_plugin_loader_add_dir(kc_plugin_loader *loader, const char *dir, kc_err *err) {
  return dir ? loader_add_span(loader, dir, strlen(dir), err) : KEEL_OK;
}

keel_result kc_plugin_loader_add_dirs(kc_plugin_loader *loader, const char *colon_list, kc_err *err) {
  if (!colon_list) return KEEL_OK;
  const char *p = colon_list;
  for (;;) {
    const char *colon = strchr(p, ':');
    size_t len = colon ? (size_t)(colon - p) : strlen(p);
    keel_result r = loader_add_span(loader, p, len, err);
    if (r != KEEL_OK) return r;
    if (!colon) return KEEL_OK;
    p = colon + 1;
  }
}

/* ---- checks shared by open and list ---- */

/* dlerror() usually starts with the file name, which the line already has. */
static const char *dlerror_reason(const char *file) {
  const char *why = dlerror();
  if (!why) return "unknown reason";
  size_t n = strlen(file);
  if (strncmp(why, file, n) == 0 && why[n] == ':' && why[n + 1] == ' ') why += n + 2;
  return why;
}

static bool member_present(const void *table, const member_rule *m) {
  const unsigned char *bytes = (const unsigned char *)table + m->offset;
  for (size_t i = 0; i < m->size; i++)
    if (bytes[i]) return true;
  return false;
}

/* The manifest's settings when it is large enough to have them (1.1). */
static const keel_setting *manifest_settings(const keel_plugin_manifest *m, uint32_t *count) {
  *count = 0;
  if (!KEEL_HAS_MEMBER(m, keel_plugin_manifest, setting_count) || m->setting_count == 0) return NULL;
  *count = m->setting_count;
  return m->settings;
}

const keel_setting *kc_plugin_settings(const kc_plugin *plugin, uint32_t *count) {
  *count = 0;
  return plugin && plugin->manifest ? manifest_settings(plugin->manifest, count) : NULL;
}

/* Everything after dlopen: entry symbol, manifest, ABI, kind, interface.
 * want == 0 means the caller does not know the kind (a listed file whose name
 * says neither); that is reported as a wrong kind once the ABI is checked.
 * *manifest is set as soon as the manifest's fixed header is readable, so a
 * listing can show the versions of a plugin it refuses. */
static kc_plugin_status plugin_probe(const kc_plugin_loader *loader, void *handle, const char *file,
                                     keel_plugin_kind want, const keel_plugin_manifest **manifest,
                                     const void **interface, kc_err *err) {
  *manifest = NULL;
  *interface = NULL;
  keel_plugin_entry_fn entry;
  void *sym = dlsym(handle, KEEL_PLUGIN_ENTRY_SYMBOL);
  if (!sym) {
    kc_err_set(err, KEEL_ERR_UNSUPPORTED, "%s: no entry symbol: %s is not exported", file, KEEL_PLUGIN_ENTRY_SYMBOL);
    return KC_PLUGIN_NO_ENTRY;
  }
  /* POSIX dlsym returns functions as void *; memcpy is the portable cast. */
  memcpy(&entry, &sym, sizeof entry);

  const keel_plugin_manifest *m = entry();
  if (!m) {
    kc_err_set(err, KEEL_ERR_VERSION, "%s: ABI refused: %s returned no manifest", file, KEEL_PLUGIN_ENTRY_SYMBOL);
    return KC_PLUGIN_ABI_REFUSED;
  }
  const uint32_t header = SIZE_THROUGH(keel_plugin_manifest, name);
  if (m->struct_size < header) {
    kc_err_set(err, KEEL_ERR_VERSION, "%s: ABI refused: the manifest is %u bytes, smaller than its %u-byte header", file,
               (unsigned)m->struct_size, (unsigned)header);
    return KC_PLUGIN_ABI_REFUSED;
  }
  if (!m->name) {
    kc_err_set(err, KEEL_ERR_VERSION, "%s: ABI refused: the manifest's name is NULL", file);
    return KC_PLUGIN_ABI_REFUSED;
  }
  *manifest = m;
  unsigned pmaj = m->abi_major, pmin = m->abi_minor;
  unsigned hmaj = loader->host_abi_major, hmin = loader->host_abi_minor;
  if (pmaj != hmaj) {
    kc_err_set(err, KEEL_ERR_VERSION, "%s: ABI refused: plugin ABI %u.%u, host ABI %u.%u: the major must match", file,
               pmaj, pmin, hmaj, hmin);
    return KC_PLUGIN_ABI_REFUSED;
  }
  if (pmin > hmin) {
    kc_err_set(err, KEEL_ERR_VERSION,
               "%s: ABI refused: plugin ABI %u.%u, host ABI %u.%u: the minor must not be newer than the host's", file,
               pmaj, pmin, hmaj, hmin);
    return KC_PLUGIN_ABI_REFUSED;
  }
  const uint32_t full = SIZE_THROUGH(keel_plugin_manifest, get_interface);
  if (m->struct_size < full) {
    kc_err_set(err, KEEL_ERR_VERSION,
               "%s: ABI refused: plugin ABI %u.%u, host ABI %u.%u: the manifest is %u bytes, the host reads %u", file,
               pmaj, pmin, hmaj, hmin, (unsigned)m->struct_size, (unsigned)full);
    return KC_PLUGIN_ABI_REFUSED;
  }
  /* Structs only grow with the minor, so a plugin of a minor this host
   * was built with cannot have a larger manifest: a larger struct_size is
   * a wrong one, and trusting it would read members past its end. */
  if (pmin <= KEEL_ABI_MINOR && m->struct_size > KEEL_STRUCT_SIZE(keel_plugin_manifest)) {
    kc_err_set(err, KEEL_ERR_VERSION,
               "%s: ABI refused: the manifest's struct_size is %u, larger than the %u bytes of an ABI %d.%d manifest, "
               "the newest this host knows (set it to KEEL_STRUCT_SIZE(keel_plugin_manifest))",
               file, (unsigned)m->struct_size, (unsigned)KEEL_STRUCT_SIZE(keel_plugin_manifest), KEEL_ABI_MAJOR,
               KEEL_ABI_MINOR);
    return KC_PLUGIN_ABI_REFUSED;
  }

  /* Every string of the manifest is shown in lists and logs: a NULL one is
   * refused, never printed as "(null)". */
  if (!m->version || !m->description) {
    kc_err_set(err, KEEL_ERR_VERSION, "%s: ABI refused: the manifest's %s is NULL", file,
               !m->version ? "version" : "description");
    return KC_PLUGIN_ABI_REFUSED;
  }
  const kind_rule *rule = kind_rule_find(m->kind);
  if (want == 0 || m->kind != want || !rule) {
    char says[32];
    if (rule)
      snprintf(says, sizeof says, "%s", rule->word);
    else
      snprintf(says, sizeof says, "kind %d", (int)m->kind);
    if (want == 0)
      kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT,
                 "%s: wrong kind: the manifest says %s, the file name says neither renderer nor script "
                 "(keel_<kind>_<name>.so)",
                 file, says);
    else
      kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "%s: wrong kind: the manifest says %s, expected %s", file, says,
                 kc_plugin_kind_text(want));
    return KC_PLUGIN_WRONG_KIND;
  }

  if (!m->get_interface) {
    kc_err_set(err, KEEL_ERR_UNSUPPORTED, "%s: interface missing: the manifest has no get_interface", file);
    return KC_PLUGIN_INTERFACE_MISSING;
  }
  const void *table = m->get_interface(rule->interface_id);
  if (!table) {
    kc_err_set(err, KEEL_ERR_UNSUPPORTED, "%s: interface missing: get_interface(\"%s\") returned NULL", file,
               rule->interface_id);
    return KC_PLUGIN_INTERFACE_MISSING;
  }
  /* Every interface table starts with uint32_t struct_size (SDK rule). */
  uint32_t size;
  memcpy(&size, table, sizeof size);
  if (size < rule->min_size) {
    kc_err_set(err, KEEL_ERR_UNSUPPORTED, "%s: interface missing: %s table is %u bytes, the host needs %u", file,
               rule->interface_id, (unsigned)size, (unsigned)rule->min_size);
    return KC_PLUGIN_INTERFACE_MISSING;
  }
  if (pmin <= KEEL_ABI_MINOR && size > rule->max_size) {
    kc_err_set(err, KEEL_ERR_VERSION,
               "%s: ABI refused: the %s table's struct_size is %u, larger than the %u bytes of an ABI %d.%d table, "
               "the newest this host knows (set it to KEEL_STRUCT_SIZE of the table's type)",
               file, rule->interface_id, (unsigned)size, (unsigned)rule->max_size, KEEL_ABI_MAJOR, KEEL_ABI_MINOR);
    return KC_PLUGIN_ABI_REFUSED;
  }
  for (size_t i = 0; i < rule->member_count; i++) {
    if (!member_present(table, &rule->members[i])) {
      kc_err_set(err, KEEL_ERR_UNSUPPORTED, "%s: interface missing: %s has no %s", file, rule->interface_id,
                 rule->members[i].name);
      return KC_PLUGIN_INTERFACE_MISSING;
    }
  }
  /* 1.1: the declared settings are the host's to read without creating
   * the plugin, so a table that breaks the rules is refused here, where
   * every listing and open sees it. */
  uint32_t count = 0;
  const keel_setting *settings = manifest_settings(m, &count);
  char why[KC_ERR_MSG_MAX / 2];
  /* engine.ini, --set and the cvars know a plugin's settings by the name
   * its file gives, the checks below by the manifest's: they must agree,
   * or configured values would be checked under one name and looked up
   * under the other (and silently ignored). */
  char file_name[KC_PLUGIN_NAME_MAX];
  kind_from_file_name(base_name(file), file_name, sizeof file_name);
  if (count && strcmp(file_name, m->name) != 0) {
    char shown[KC_PLUGIN_NAME_MAX];
    copy_shown(shown, sizeof shown, m->name);
    kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT,
               "%s: bad settings: the manifest names the plugin '%s' and its file '%s'; settings are known by the "
               "file's name, so the two must be the same (rename one of them)",
               file, shown, file_name);
    return KC_PLUGIN_BAD_SETTINGS;
  }
  if (!kc_setting_check_table(m->name, settings, count, why, sizeof why)) {
    kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "%s: bad settings: %s", file, why);
    return KC_PLUGIN_BAD_SETTINGS;
  }
  *interface = table;
  return KC_PLUGIN_OK;
}

/* ---- what a file is, before dlopen ----
 * dlopen's own reasons mislead: an ELF object of another architecture is
 * "No such file or directory" when the loader cannot find its interpreter
 * libraries, a text file is "file too short" or "invalid ELF header". The
 * first bytes say what the file is. */

#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#elif defined(__i386__)
#define HOST_MACHINE EM_386
#elif defined(__arm__)
#define HOST_MACHINE EM_ARM
#elif defined(__riscv)
#define HOST_MACHINE EM_RISCV
#elif defined(__powerpc64__)
#define HOST_MACHINE EM_PPC64
#else
#define HOST_MACHINE EM_NONE
#endif
#define HOST_CLASS (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32)

static const char *machine_name(unsigned machine) {
  switch (machine) {
    case EM_X86_64: return "x86-64";
    case EM_386: return "x86";
    case EM_AARCH64: return "AArch64";
    case EM_ARM: return "ARM";
    case EM_RISCV: return "RISC-V";
    case EM_PPC64: return "PowerPC 64";
    case EM_PPC: return "PowerPC";
    case EM_MIPS: return "MIPS";
    case EM_S390: return "IBM S/390";
    default: return NULL;
  }
}

/* The bytes a shared object of this host's class needs: its program
 * headers and every loadable segment's file part. dlopen maps a segment
 * past the end of a truncated file and the process dies of SIGBUS when the
 * loader touches it, so this is checked first. 0 when the header is not
 * one of this host's (the checks after say what it is) or cannot be read. */
static uint64_t elf_bytes_needed(int fd) {
  ElfW(Ehdr) eh;
  if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || eh.e_ident[EI_CLASS] != HOST_CLASS ||
      eh.e_phentsize != sizeof(ElfW(Phdr)))
    return 0;
  uint64_t needed = (uint64_t)eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(ElfW(Phdr));
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    ElfW(Phdr) ph;
    if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph)) != (ssize_t)sizeof ph) break;
    if (ph.p_type != PT_LOAD) continue;
    uint64_t end = (uint64_t)ph.p_offset + ph.p_filesz;
    if (end < ph.p_offset) return UINT64_MAX; /* wraps: no file holds it */
    if (end > needed) needed = end;
  }
  return needed;
}

/* False with "PATH: not loadable: <what the file is>" when the file cannot
 * be a shared object for this host. */
static bool file_looks_loadable(const char *file, kc_err *err) {
  int fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    kc_err_set(err, KEEL_ERR_IO, "%s: not loadable: cannot open: %s", file, strerror(errno));
    return false;
  }
  unsigned char h[EI_NIDENT + 16];
  memset(h, 0, sizeof h);
  ssize_t n = read(fd, h, sizeof h);
  struct stat st;
  bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  uint64_t needed = regular ? elf_bytes_needed(fd) : 0;
  close(fd);
  if (!regular) {
    kc_err_set(err, KEEL_ERR_IO, "%s: not loadable: not a regular file", file);
    return false;
  }
  if (n <= 0) {
    kc_err_set(err, KEEL_ERR_IO, "%s: not loadable: the file is empty, not a shared object", file);
    return false;
  }
  if (n < SELFMAG || memcmp(h, ELFMAG, SELFMAG) != 0) {
    bool text = true;
    for (ssize_t i = 0; i < n && text; i++)
      text = h[i] == '\n' || h[i] == '\r' || h[i] == '\t' || (h[i] >= 0x20 && h[i] < 0x7f) || h[i] >= 0x80;
    if (text)
      kc_err_set(err, KEEL_ERR_IO, "%s: not loadable: a text file, not a shared object (ELF)", file);
    else
      kc_err_set(err, KEEL_ERR_IO, "%s: not loadable: not a shared object (no ELF header; it starts with %02x %02x %02x %02x)",
                 file, h[0], h[1], h[2], h[3]);
    return false;
  }
  if (n < EI_NIDENT + 4) {
    kc_err_set(err, KEEL_ERR_IO, "%s: not loadable: a truncated ELF file (%lld bytes, shorter than an ELF header)", file,
               (long long)st.st_size);
    return false;
  }
  unsigned cls = h[EI_CLASS], data = h[EI_DATA];
  unsigned type = 0, machine = 0;
  if (n >= EI_NIDENT + 4) {
    /* e_type and e_machine follow e_ident, in the file's byte order. */
    if (data == ELFDATA2LSB) {
      type = (unsigned)h[EI_NIDENT] | (unsigned)h[EI_NIDENT + 1] << 8;
      machine = (unsigned)h[EI_NIDENT + 2] | (unsigned)h[EI_NIDENT + 3] << 8;
    } else {
      type = (unsigned)h[EI_NIDENT] << 8 | (unsigned)h[EI_NIDENT + 1];
      machine = (unsigned)h[EI_NIDENT + 2] << 8 | (unsigned)h[EI_NIDENT + 3];
    }
  }
  const char *host = machine_name(HOST_MACHINE);
  if (HOST_MACHINE != EM_NONE && (machine != HOST_MACHINE || cls != HOST_CLASS)) {
    const char *theirs = machine_name(machine);
    char what[48];
    if (theirs)
      snprintf(what, sizeof what, "%s", theirs);
    else
      snprintf(what, sizeof what, "machine %u", machine);
    kc_err_set(err, KEEL_ERR_IO, "%s: not loadable: an ELF file for %s (%d-bit), and this host is %s (%d-bit)", file,
               what, cls == ELFCLASS64 ? 64 : 32, host ? host : "?", HOST_CLASS == ELFCLASS64 ? 64 : 32);
    return false;
  }
  if (type != ET_DYN) {
    kc_err_set(err, KEEL_ERR_IO, "%s: not loadable: an ELF %s, not a shared object (build it with -shared)", file,
               type == ET_EXEC ? "executable" : type == ET_REL ? "object file (.o)" : type == ET_CORE ? "core dump" : "file");
    return false;
  }
  if (needed > (uint64_t)st.st_size) {
    kc_err_set(err, KEEL_ERR_IO,
               "%s: not loadable: truncated or corrupt: the file is %lld bytes and its ELF headers and segments "
               "need %llu (copy or build it again)",
               file, (long long)st.st_size, (unsigned long long)needed);
    return false;
  }
  return true;
}

/* ASan builds keep plugins that have thread-locals mapped after dlclose:
 * GCC 12's LeakSanitizer walks each thread's dynamic TLS at exit and crashes
 * ("Tracer caught signal 11", exit 1) on the entry of such a library once it
 * is unloaded, which a run that reads every plugin's settings table (the
 * null, GL, Vulkan and JS plugins have thread-locals) leaves behind. Plugins
 * without a TLS segment are unloaded as in every other build. */
#if defined(KEEL_SANITIZER_ASAN)
static int dlopen_extra(const char *file) {
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ElfW(Ehdr) eh;
  bool tls = false;
  if (pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh && eh.e_phentsize == sizeof(ElfW(Phdr))) {
    for (unsigned i = 0; i < eh.e_phnum && !tls; i++) {
      ElfW(Phdr) ph;
      if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (ElfW(Off))i * sizeof ph)) != (ssize_t)sizeof ph) break;
      tls = ph.p_type == PT_TLS;
    }
  }
  close(fd);
  return tls ? RTLD_NODELETE : 0;
}
#else
static int dlopen_extra(const char *file) {
  (void)file;
  return 0;
}
#endif

/* dlopen + plugin_probe. *handle stays open even when a check fails, so a
 * listing can still read the refused manifest; the caller closes it. */
static kc_plugin_status plugin_load(const kc_plugin_loader *loader, const char *file, keel_plugin_kind want,
                                    void **handle, const keel_plugin_manifest **manifest, const void **interface,
                                    kc_err *err) {
  *manifest = NULL;
  *interface = NULL;
  *handle = NULL;
  if (!file_looks_loadable(file, err)) return KC_PLUGIN_NOT_LOADABLE;
  /* NOW: an unresolved symbol is refused here with a message, not later as a
   * crash mid-frame. LOCAL: two plugins' symbols never interpose each other. */
  *handle = dlopen(file, RTLD_NOW | RTLD_LOCAL | dlopen_extra(file));
  if (!*handle) {
    kc_err_set(err, KEEL_ERR_IO, "%s: not loadable: %s", file, dlerror_reason(file));
    return KC_PLUGIN_NOT_LOADABLE;
  }
  return plugin_probe(loader, *handle, file, want, manifest, interface, err);
}

static bool name_is_valid(const char *name) {
  if (!name || !*name || strlen(name) >= KC_PLUGIN_NAME_MAX) return false;
  for (const char *c = name; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_')) return false;
  return true;
}

static bool is_regular_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Appends to a NUL-terminated buffer, marking truncation with "...". */
static void text_append(char *buf, size_t cap, const char *s) {
  size_t n = strlen(buf);
  if (n + 1 >= cap) return;
  int w = snprintf(buf + n, cap - n, "%s", s);
  if (w < 0 || (size_t)w >= cap - n) memcpy(buf + cap - 4, "...", 4);
}

/* kc_plugin_open, also telling select which file it tried. err is required. */
static keel_result plugin_open(const kc_plugin_loader *loader, keel_plugin_kind kind, const char *name, kc_plugin **out,
                               kc_plugin_status *status, char file[KC_PLUGIN_FILE_MAX], kc_err *err) {
  *out = NULL;
  file[0] = '\0';
  *status = KC_PLUGIN_NOT_FOUND;
  const kind_rule *rule = kind_rule_find(kind);
  if (!rule || !name_is_valid(name)) {
    /* Neither can name a file, so nothing could be found. */
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "%s plugin \"%s\": not found (a plugin name is [a-z0-9_]+)",
                      kc_plugin_kind_text(kind), name ? name : "(null)");
  }
  char base[KC_PLUGIN_NAME_MAX + 32];
  snprintf(base, sizeof base, "keel_%s_%s.so", rule->word, name);

  char candidate[KC_PLUGIN_FILE_MAX];
  const char *found = NULL;
  for (size_t i = 0; i < loader->dir_count && !found; i++) {
    /* add_dir bounds a directory so this always fits. */
    snprintf(candidate, sizeof candidate, "%s/%s", loader->dirs[i], base);
    if (is_regular_file(candidate)) found = candidate;
  }
  if (!found) {
    char searched[KC_ERR_MSG_MAX - KC_PLUGIN_NAME_MAX - 64] = "";
    for (size_t i = 0; i < loader->dir_count; i++) {
      if (i) text_append(searched, sizeof searched, ", ");
      text_append(searched, sizeof searched, loader->dirs[i]);
    }
    if (loader->dir_count)
      return kc_err_set(err, KEEL_ERR_NOT_FOUND, "%s: not found (searched %s)", base, searched);
    return kc_err_set(err, KEEL_ERR_NOT_FOUND, "%s: not found (the plugin search path is empty)", base);
  }
  copy_text(file, KC_PLUGIN_FILE_MAX, found);

  void *handle;
  const keel_plugin_manifest *manifest;
  const void *interface;
  *status = plugin_load(loader, file, kind, &handle, &manifest, &interface, err);
  if (*status != KC_PLUGIN_OK) {
    if (handle) dlclose(handle);
    return err->code;
  }

  if (strcmp(manifest->name, name) != 0) {
    char shown[KC_PLUGIN_NAME_MAX];
    copy_shown(shown, sizeof shown, manifest->name);
    kc_log_write(KC_LOG_WARN,
                 "%s: the manifest names the plugin '%s', but keel knows a plugin by its file name: '%s' (rename "
                 "one of them)",
                 file, shown, name);
  }
  kc_plugin *p = calloc(1, sizeof *p);
  if (!p) {
    dlclose(handle);
    return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "%s: out of memory", file);
  }
  copy_text(p->name, sizeof p->name, name);
  p->kind = kind;
  copy_text(p->file, sizeof p->file, file);
  p->manifest = manifest;
  p->interface = interface;
  p->handle = handle;
  *out = p;
  return KEEL_OK;
}

keel_result kc_plugin_open(const kc_plugin_loader *loader, keel_plugin_kind kind, const char *name, kc_plugin **out,
                           kc_plugin_status *status, kc_err *err) {
  char file[KC_PLUGIN_FILE_MAX];
  kc_plugin_status st;
  /* The error code must come back even when the caller passed no kc_err. */
  kc_err local;
  keel_result r = plugin_open(loader, kind, name, out, &st, file, err ? err : &local);
  if (status) *status = st;
  return r;
}

void kc_plugin_close(kc_plugin *plugin) {
  if (!plugin) return;
  if (plugin->handle) dlclose(plugin->handle);
  free(plugin);
}

const void *kc_plugin_find_interface(const kc_plugin *plugin, const char *id, uint32_t min_size) {
  if (!plugin || !plugin->manifest || !plugin->manifest->get_interface || !id) return NULL;
  const void *table = plugin->manifest->get_interface(id);
  if (!table) return NULL;
  uint32_t size;
  memcpy(&size, table, sizeof size);
  return size >= min_size ? table : NULL;
}

keel_result kc_plugin_record_create_failure(const kc_plugin *plugin, keel_result code, const char *plugin_message,
                                            kc_err *err) {
  const char *file = plugin ? plugin->file : "(no plugin)";
  if (plugin_message && *plugin_message)
    return kc_err_set(err, code, "%s: create failed: %s", file, plugin_message);
  return kc_err_set(err, code, "%s: create failed: %s (the plugin gave no reason)", file, keel_result_name(code));
}

keel_result kc_plugin_create_renderer(const kc_plugin *plugin, const keel_renderer_desc *desc, keel_renderer **out,
                                      kc_err *err) {
  *out = NULL;
  if (!plugin || plugin->kind != KEEL_PLUGIN_RENDERER || !plugin->interface)
    return kc_err_set(err, KEEL_ERR_INVALID_ARGUMENT, "kc_plugin_create_renderer: not an open renderer plugin");
  const keel_renderer_api *api = plugin->interface;
  keel_message why;
  why.text[0] = '\0';
  keel_renderer *r = NULL;
  keel_result res = api->create(desc, &r, &why);
  if (res != KEEL_OK || !r) {
    /* A plugin that reports success without a renderer broke its contract;
     * it is refused like any failed create. */
    if (res == KEEL_OK) {
      res = KEEL_ERR_BACKEND;
      copy_text(why.text, sizeof why.text, "create returned KEEL_OK without a renderer");
    } else if (r) {
      api->destroy(r);
    }
    why.text[sizeof why.text - 1] = '\0';
    return kc_plugin_record_create_failure(plugin, res, why.text, err);
  }
  *out = r;
  return KEEL_OK;
}

/* ---- fallback chain ---- */

void kc_plugin_attempts_free(kc_plugin_attempts *attempts) {
  if (!attempts) return;
  free(attempts->items);
  attempts->items = NULL;
  attempts->count = attempts->capacity = 0;
}

static kc_plugin_attempt *attempts_push(kc_plugin_attempts *a) {
  if (a->count == a->capacity) {
    size_t cap = a->capacity ? a->capacity * 2 : 4;
    kc_plugin_attempt *grown = realloc(a->items, cap * sizeof *grown);
    if (!grown) return NULL;
    a->items = grown;
    a->capacity = cap;
  }
  kc_plugin_attempt *at = &a->items[a->count++];
  memset(at, 0, sizeof *at);
  return at;
}

static bool name_tried_before(const char *const *names, size_t i) {
  for (size_t j = 0; j < i; j++)
    if (names[j] && strcmp(names[j], names[i]) == 0) return true;
  return false;
}

keel_result kc_plugin_select(const kc_plugin_loader *loader, keel_plugin_kind kind, const char *const *names,
                             size_t name_count, kc_plugin_create_fn create, void *user, kc_plugin **out,
                             kc_plugin_attempts *attempts, kc_err *err) {
  *out = NULL;
  char summary[KC_ERR_MSG_MAX] = "";
  for (size_t i = 0; i < name_count; i++) {
    if (!names[i] || name_tried_before(names, i)) continue;
    kc_plugin_attempt *at = attempts_push(attempts);
    if (!at) return kc_err_set(err, KEEL_ERR_OUT_OF_MEMORY, "out of memory recording plugin attempts");
    copy_text(at->name, sizeof at->name, names[i]);

    kc_err e;
    kc_err_clear(&e);
    kc_plugin *p = NULL;
    at->result = plugin_open(loader, kind, names[i], &p, &at->status, at->file, &e);
    if (at->result == KEEL_OK && create) {
      kc_err ce;
      kc_err_clear(&ce);
      keel_result r = create(user, p, &ce);
      if (r != KEEL_OK) {
        if (!ce.msg[0]) kc_plugin_record_create_failure(p, r, NULL, &ce);
        at->status = KC_PLUGIN_CREATE_FAILED;
        at->result = r;
        e = ce;
        kc_plugin_close(p);
        p = NULL;
      }
    }
    if (at->result == KEEL_OK) {
      *out = p;
      return KEEL_OK;
    }
    copy_text(at->message, sizeof at->message, e.msg);
    char part[KC_PLUGIN_NAME_MAX + 32];
    snprintf(part, sizeof part, "%s%s (%s)", summary[0] ? ", " : "", names[i], kc_plugin_status_text(at->status));
    text_append(summary, sizeof summary - 64, part);
  }
  if (!summary[0])
    return kc_err_set(err, KEEL_ERR_NOT_FOUND, "no %s plugin to try: the candidate list is empty",
                      kc_plugin_kind_text(kind));
  return kc_err_set(err, KEEL_ERR_NOT_FOUND, "no usable %s plugin; tried %s", kc_plugin_kind_text(kind), summary);
}

/* ---- listing ---- */

void kc_plugin_catalog_free(kc_plugin_catalog *catalog) {
  if (!catalog) return;
  for (size_t i = 0; i < catalog->count; i++) free(catalog->items[i].settings);
  free(catalog->items);
  catalog->items = NULL;
  catalog->count = catalog->capacity = 0;
}

static bool is_plugin_file_name(const char *n) {
  size_t len = strlen(n);
  return len > 8 && strncmp(n, "keel_", 5) == 0 && strcmp(n + len - 3, ".so") == 0;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The kind and name a file name promises: keel_<kind>_<name>.so. */
static keel_plugin_kind kind_from_file_name(const char *base, char *name, size_t cap) {
  const char *stem = base + 5; /* after "keel_" */
  size_t stem_len = strlen(stem) - 3; /* before ".so" */
  for (size_t i = 0; i < sizeof kind_rules / sizeof kind_rules[0]; i++) {
    size_t w = strlen(kind_rules[i].word);
    if (stem_len > w + 1 && strncmp(stem, kind_rules[i].word, w) == 0 && stem[w] == '_') {
      snprintf(name, cap, "%.*s", (int)(stem_len - w - 1), stem + w + 1);
      return kind_rules[i].kind;
    }
  }
  snprintf(name, cap, "%.*s", (int)stem_len, stem);
  return 0;
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* One allocation holding the table and every string it points to, so the
 * copy outlives the plugin's dlclose and frees with one free(). */
static keel_setting *settings_copy(const keel_setting *src, uint32_t count) {
  size_t bytes = count * sizeof *src;
  for (uint32_t i = 0; i < count; i++) {
    const char *strs[] = {src[i].name, src[i].default_value, src[i].choices, src[i].help};
    for (size_t k = 0; k < 4; k++) bytes += strs[k] ? strlen(strs[k]) + 1 : 0;
  }
  keel_setting *dst = malloc(bytes ? bytes : 1);
  if (!dst) return NULL;
  char *text = (char *)(dst + count);
  for (uint32_t i = 0; i < count; i++) {
    dst[i] = src[i];
    const char **fields[] = {&dst[i].name, &dst[i].default_value, &dst[i].choices, &dst[i].help};
    for (size_t k = 0; k < 4; k++) {
      if (!*fields[k]) continue;
      size_t n = strlen(*fields[k]) + 1;
      memcpy(text, *fields[k], n);
      *fields[k] = text;
      text += n;
    }
  }
  return dst;
}

static void info_fill(const kc_plugin_loader *loader, kc_plugin_info *info, const char *base) {
  keel_plugin_kind want = kind_from_file_name(base, info->name, sizeof info->name);
  char file_name[KC_PLUGIN_NAME_MAX];
  copy_text(file_name, sizeof file_name, info->name);
  info->kind = want;
  void *handle;
  const keel_plugin_manifest *m;
  const void *interface;
  kc_err e;
  kc_err_clear(&e);
  info->status = plugin_load(loader, info->file, want, &handle, &m, &interface, &e);
  if (info->status != KC_PLUGIN_OK) copy_text(info->message, sizeof info->message, e.msg);
  if (m) {
    info->manifest_read = true;
    copy_shown(info->name, sizeof info->name, m->name);
    info->abi_major = m->abi_major;
    info->abi_minor = m->abi_minor;
    /* Another major only promises the four header members (plugin.h). */
    if (m->abi_major == loader->host_abi_major &&
        m->struct_size >= SIZE_THROUGH(keel_plugin_manifest, description)) {
      info->kind = m->kind;
      copy_shown(info->version, sizeof info->version, m->version);
      copy_shown(info->description, sizeof info->description, m->description);
    }
  }
  if (info->status == KC_PLUGIN_OK) {
    if (file_name[0] && strcmp(file_name, info->name) != 0)
      snprintf(info->message, sizeof info->message,
               "the manifest names it '%s', but keel knows a plugin by its file name: '%s'", info->name, file_name);
    if (info->kind == KEEL_PLUGIN_SCRIPT) {
      const keel_script_api *api = interface;
      copy_shown(info->language, sizeof info->language, api->language);
      copy_shown(info->file_extension, sizeof info->file_extension, api->file_extension);
    }
    uint32_t count = 0;
    const keel_setting *settings = manifest_settings(m, &count);
    if (count) {
      info->settings = settings_copy(settings, count);
      info->setting_count = info->settings ? count : 0;
    }
  }
  if (handle) dlclose(handle);
}

keel_result kc_plugin_list(const kc_plugin_loader *loader, kc_plugin_catalog *catalog, kc_err *err) {
  for (size_t d = 0; d < loader->dir_count; d++) {
    DIR *dir = opendir(loader->dirs[d]);
    if (!dir) continue;
    char **names = NULL;
    size_t count = 0, cap = 0;
    keel_result r = KEEL_OK;
    struct dirent *ent;
    while ((ent = readdir(dir)) != NULL) {
      if (!is_plugin_file_name(ent->d_name)) continue;
      char path[KC_PLUGIN_FILE_MAX];
      /* A path that does not fit could not be opened either. */
      int len = snprintf(path, sizeof path, "%s/%s", loader->dirs[d], ent->d_name);
      if (len < 0 || (size_t)len >= sizeof path || !is_regular_file(path)) continue;
      if (count == cap) {
        cap = cap ? cap * 2 : 16;
        char **grown = realloc(names, cap * sizeof *grown);
        if (!grown) {
          r = KEEL_ERR_OUT_OF_MEMORY;
          break;
        }
        names = grown;
      }
      names[count] = strdup(ent->d_name);
      if (!names[count]) {
        r = KEEL_ERR_OUT_OF_MEMORY;
        break;
      }
      count++;
    }
    closedir(dir);
    /* An empty directory leaves names NULL, which qsort must not get. */
    if (r == KEEL_OK && count > 1) qsort(names, count, sizeof *names, compare_names);
    for (size_t i = 0; i < count && r == KEEL_OK; i++) {
      if (catalog->count == catalog->capacity) {
        size_t ncap = catalog->capacity ? catalog->capacity * 2 : 16;
        kc_plugin_info *grown = realloc(catalog->items, ncap * sizeof *grown);
        if (!grown) {
          r = KEEL_ERR_OUT_OF_MEMORY;
          break;
        }
        catalog->items = grown;
        catalog->capacity = ncap;
      }
      kc_plugin_info *info = &catalog->items[catalog->count];
      memset(info, 0, sizeof *info);
      snprintf(info->file, sizeof info->file, "%s/%s", loader->dirs[d], names[i]);
      for (size_t j = 0; j < catalog->count && !info->shadowed; j++)
        info->shadowed = strcmp(base_name(catalog->items[j].file), names[i]) == 0;
      info_fill(loader, info, names[i]);
      catalog->count++;
    }
    for (size_t i = 0; i < count; i++) free(names[i]);
    free(names);
    if (r != KEEL_OK) return kc_err_set(err, r, "out of memory listing plugins in %s", loader->dirs[d]);
  }
  return KEEL_OK;
}
