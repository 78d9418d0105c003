/* The plugin loader against real shared objects: the ABI matrix, each failure's
 * exact one-line message, unloading on refusal, the fallback chain, the
 * listing (which must never create anything) and the export rule for every
 * plugin the build makes. Test plugins come from tests/plugins/. */
// keel-test-labels: plugin
// keel-test-depends: renderer_null keel_test_plugins
#include "keel_test.h"

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../plugins/test_plugin_abi.h"
#include "plugin/loader.h"

#include <keel/script.h>

/* tests/plugins/CMakeLists.txt builds the test plugins here. */
#define TP_DIR KEEL_TEST_BINARY_DIR "/test-plugins"
#define TP_FILE(stem) TP_DIR "/keel_" stem ".so"

static kc_plugin_loader loader;

/* A loader over the test plugins acting as host ABI TP_HOST_MAJOR.TP_HOST_MINOR. */
static void loader_as_newer_host(void) {
  kc_plugin_loader_free(&loader);
  kc_plugin_loader_init(&loader);
  loader.host_abi_major = TP_HOST_MAJOR;
  loader.host_abi_minor = TP_HOST_MINOR;
  CU_ASSERT_EQUAL_FATAL(kc_plugin_loader_add_dir(&loader, TP_DIR, NULL), KEEL_OK);
}

/* A loader over the test plugins with the real host ABI. */
static void loader_as_this_host(void) {
  kc_plugin_loader_free(&loader);
  kc_plugin_loader_init(&loader);
  CU_ASSERT_EQUAL_FATAL(kc_plugin_loader_add_dir(&loader, TP_DIR, NULL), KEEL_OK);
}

static int suite_cleanup(void) {
  kc_plugin_loader_free(&loader);
  return 0;
}

/* True while the dynamic linker still has `file` mapped. */
static bool still_loaded(const char *file) {
  void *h = dlopen(file, RTLD_NOW | RTLD_NOLOAD);
  if (!h) return false;
  dlclose(h);
  return true;
}

/* Opens renderer `name`, expects refusal with `status`, `code` and exactly
 * `message`, and that the refused file is no longer loaded. */
static void expect_refusal(const char *name, kc_plugin_status status, keel_result code, const char *message) {
  kc_plugin *p = (kc_plugin *)1;
  kc_plugin_status st = KC_PLUGIN_OK;
  kc_err err;
  kc_err_clear(&err);
  keel_result r = kc_plugin_open(&loader, KEEL_PLUGIN_RENDERER, name, &p, &st, &err);
  CU_ASSERT_EQUAL(r, code);
  CU_ASSERT_EQUAL(err.code, code);
  CU_ASSERT_EQUAL(st, status);
  CU_ASSERT_PTR_NULL(p);
  if (strcmp(err.msg, message) != 0) fprintf(stderr, "\n  expected: %s\n  got:      %s\n", message, err.msg);
  CU_ASSERT_STRING_EQUAL(err.msg, message);
  char file[512];
  snprintf(file, sizeof file, "%s/keel_renderer_%s.so", TP_DIR, name);
  CU_ASSERT_FALSE(still_loaded(file));
}

static kc_plugin *expect_load(keel_plugin_kind kind, const char *name) {
  kc_plugin *p = NULL;
  kc_plugin_status st = KC_PLUGIN_NOT_FOUND;
  kc_err err;
  kc_err_clear(&err);
  keel_result r = kc_plugin_open(&loader, kind, name, &p, &st, &err);
  if (r != KEEL_OK) fprintf(stderr, "\n  open %s: %s\n", name, err.msg);
  CU_ASSERT_EQUAL(r, KEEL_OK);
  CU_ASSERT_EQUAL(st, KC_PLUGIN_OK);
  CU_ASSERT_PTR_NOT_NULL(p);
  return p;
}

/* ---- ABI matrix ---- */

static void test_abi_same_version_loads(void) {
  loader_as_newer_host();
  kc_plugin *p = expect_load(KEEL_PLUGIN_RENDERER, "abi_same");
  if (!p) return;
  CU_ASSERT_EQUAL(p->manifest->abi_major, TP_HOST_MAJOR);
  CU_ASSERT_EQUAL(p->manifest->abi_minor, TP_HOST_MINOR);
  CU_ASSERT_STRING_EQUAL(p->manifest->name, "abi_same");
  CU_ASSERT_STRING_EQUAL(p->file, TP_FILE("renderer_abi_same"));
  CU_ASSERT_EQUAL(((const keel_renderer_api *)p->interface)->struct_size, sizeof(keel_renderer_api));
  CU_ASSERT_TRUE(still_loaded(p->file));
  kc_plugin_close(p);
  CU_ASSERT_FALSE(still_loaded(TP_FILE("renderer_abi_same")));
}

static void test_abi_older_minor_loads(void) {
  loader_as_newer_host();
  kc_plugin *p = expect_load(KEEL_PLUGIN_RENDERER, "abi_older");
  if (p) CU_ASSERT_EQUAL(p->manifest->abi_minor, TP_HOST_MINOR - 1);
  kc_plugin_close(p);
  /* Built against the real SDK: older than this (pretend) host's minor too. */
  p = expect_load(KEEL_PLUGIN_RENDERER, "probe");
  kc_plugin_close(p);
}

static void test_abi_newer_minor_refused(void) {
  loader_as_newer_host();
  char want[512];
  snprintf(want, sizeof want,
           "%s: ABI refused: plugin ABI %d.%d, host ABI %d.%d: the minor must not be newer than the host's",
           TP_FILE("renderer_abi_newer"), TP_HOST_MAJOR, TP_HOST_MINOR + 1, TP_HOST_MAJOR, TP_HOST_MINOR);
  expect_refusal("abi_newer", KC_PLUGIN_ABI_REFUSED, KEEL_ERR_VERSION, want);
}

static void test_abi_other_major_refused(void) {
  loader_as_newer_host();
  char want[512];
  snprintf(want, sizeof want, "%s: ABI refused: plugin ABI %d.%d, host ABI %d.%d: the major must match",
           TP_FILE("renderer_abi_major"), TP_HOST_MAJOR + 1, TP_HOST_MINOR, TP_HOST_MAJOR, TP_HOST_MINOR);
  expect_refusal("abi_major", KC_PLUGIN_ABI_REFUSED, KEEL_ERR_VERSION, want);
}

/* The same files against the host this build really is. */
static void test_abi_this_host(void) {
  loader_as_this_host();
  CU_ASSERT_EQUAL(loader.host_abi_major, KEEL_ABI_MAJOR);
  CU_ASSERT_EQUAL(loader.host_abi_minor, KEEL_ABI_MINOR);
  kc_plugin_close(expect_load(KEEL_PLUGIN_RENDERER, "probe"));
  char want[512];
  snprintf(want, sizeof want,
           "%s: ABI refused: plugin ABI %d.%d, host ABI %d.%d: the minor must not be newer than the host's",
           TP_FILE("renderer_abi_same"), TP_HOST_MAJOR, TP_HOST_MINOR, KEEL_ABI_MAJOR, KEEL_ABI_MINOR);
  expect_refusal("abi_same", KC_PLUGIN_ABI_REFUSED, KEEL_ERR_VERSION, want);
}

static void test_abi_manifest_too_small(void) {
  loader_as_this_host();
  char want[512];
  snprintf(want, sizeof want, "%s: ABI refused: plugin ABI %d.%d, host ABI %d.%d: the manifest is %zu bytes, the host reads %zu",
           TP_FILE("renderer_small_manifest"), KEEL_ABI_MAJOR, KEEL_ABI_MINOR, KEEL_ABI_MAJOR, KEEL_ABI_MINOR,
           offsetof(keel_plugin_manifest, get_interface),
           offsetof(keel_plugin_manifest, get_interface) + sizeof(void (*)(void)));
  expect_refusal("small_manifest", KC_PLUGIN_ABI_REFUSED, KEEL_ERR_VERSION, want);
}

/* A struct_size larger than the newest this host knows is a wrong one:
 * trusting it would read members past the end of the plugin's struct. */
static void test_abi_struct_size_too_large(void) {
  loader_as_this_host();
  char want[512];
  snprintf(want, sizeof want,
           "%s: ABI refused: the manifest's struct_size is %zu, larger than the %zu bytes of an ABI %d.%d manifest, "
           "the newest this host knows (set it to KEEL_STRUCT_SIZE(keel_plugin_manifest))",
           TP_FILE("renderer_big_manifest"), sizeof(keel_plugin_manifest) + 64, sizeof(keel_plugin_manifest),
           KEEL_ABI_MAJOR, KEEL_ABI_MINOR);
  expect_refusal("big_manifest", KC_PLUGIN_ABI_REFUSED, KEEL_ERR_VERSION, want);
  snprintf(want, sizeof want,
           "%s: ABI refused: the keel.renderer/1 table's struct_size is %zu, larger than the %zu bytes of an ABI "
           "%d.%d table, the newest this host knows (set it to KEEL_STRUCT_SIZE of the table's type)",
           TP_FILE("renderer_big_table"), sizeof(keel_renderer_api) + 64, sizeof(keel_renderer_api), KEEL_ABI_MAJOR,
           KEEL_ABI_MINOR);
  expect_refusal("big_table", KC_PLUGIN_ABI_REFUSED, KEEL_ERR_VERSION, want);
  /* The test host that pretends to be newer refuses them too. */
  loader_as_newer_host();
  kc_plugin *p = NULL;
  CU_ASSERT_EQUAL(kc_plugin_open(&loader, KEEL_PLUGIN_RENDERER, "big_manifest", &p, NULL, NULL), KEEL_ERR_VERSION);
  CU_ASSERT_PTR_NULL(p);
}

/* ---- failure modes ---- */

static void test_not_found_lists_searched_paths(void) {
  kc_plugin_loader_free(&loader);
  kc_plugin_loader_init(&loader);
  CU_ASSERT_EQUAL(kc_plugin_loader_add_dir(&loader, TP_DIR, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_plugin_loader_add_dirs(&loader, "/nonexistent/keel-a:/nonexistent/keel-b", NULL), KEEL_OK);
  expect_refusal("vulkan", KC_PLUGIN_NOT_FOUND, KEEL_ERR_NOT_FOUND,
                 "keel_renderer_vulkan.so: not found (searched " TP_DIR ", /nonexistent/keel-a, /nonexistent/keel-b)");
  kc_plugin_loader_free(&loader);
  kc_plugin_loader_init(&loader);
  expect_refusal("vulkan", KC_PLUGIN_NOT_FOUND, KEEL_ERR_NOT_FOUND,
                 "keel_renderer_vulkan.so: not found (the plugin search path is empty)");
}

/* The reason dlopen gives for `file`, without the file name it starts with. */
static void dlopen_reason(const char *file, char *out, size_t cap) {
  void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
  CU_ASSERT_PTR_NULL_FATAL(h);
  const char *why = dlerror();
  size_t n = strlen(file);
  if (strncmp(why, file, n) == 0 && why[n] == ':') why += n + 2;
  snprintf(out, cap, "%s", why);
}

static void test_not_loadable_not_elf(void) {
  loader_as_this_host();
  /* What the file is, not dlopen's "file too short" or "invalid ELF header". */
  char want[1024];
  snprintf(want, sizeof want, "%s: not loadable: a text file, not a shared object (ELF)", TP_FILE("renderer_broken"));
  expect_refusal("broken", KC_PLUGIN_NOT_LOADABLE, KEEL_ERR_IO, want);
}

/* Writes `bytes` as <tmp>/keel_renderer_<name>.so; returns its directory. */
static const char *temp_plugin(const char *name, const void *bytes, size_t len) {
  char base[128];
  snprintf(base, sizeof base, "keel_renderer_%s.so", name);
  const char *path = kt_write_temp(base, "");
  FILE *f = fopen(path, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fwrite(bytes, 1, len, f);
  fclose(f);
  static char dir[512];
  snprintf(dir, sizeof dir, "%s", path);
  *strrchr(dir, '/') = '\0';
  return dir;
}

static char *read_whole(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return buf;
}

/* A shared object for another architecture (a real plugin whose ELF header
 * says AArch64), an ELF executable, an empty file: each refused with what it
 * is, where dlopen said "No such file or directory" or "file too short". */
static void test_not_loadable_says_what_the_file_is(void) {
  size_t len = 0;
  char *so = read_whole(TP_FILE("renderer_probe"), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(so);
  so[18] = (char)EM_AARCH64;
  so[19] = 0;
  const char *dir = temp_plugin("arm", so, len);
  kc_plugin_loader_free(&loader);
  kc_plugin_loader_init(&loader);
  CU_ASSERT_EQUAL_FATAL(kc_plugin_loader_add_dir(&loader, dir, NULL), KEEL_OK);
  kc_plugin *p = NULL;
  kc_err err;
  CU_ASSERT_EQUAL(kc_plugin_open(&loader, KEEL_PLUGIN_RENDERER, "arm", &p, NULL, &err), KEEL_ERR_IO);
  KT_ASSERT_CONTAINS(err.msg, "keel_renderer_arm.so: not loadable: an ELF file for AArch64 (64-bit), and this host is x86-64 (64-bit)");
  so[18] = (char)EM_X86_64;
  so[16] = ET_EXEC;
  temp_plugin("exe", so, len);
  CU_ASSERT_EQUAL(kc_plugin_open(&loader, KEEL_PLUGIN_RENDERER, "exe", &p, NULL, &err), KEEL_ERR_IO);
  KT_ASSERT_CONTAINS(err.msg, "keel_renderer_exe.so: not loadable: an ELF executable, not a shared object");
  temp_plugin("empty", "", 0);
  CU_ASSERT_EQUAL(kc_plugin_open(&loader, KEEL_PLUGIN_RENDERER, "empty", &p, NULL, &err), KEEL_ERR_IO);
  KT_ASSERT_CONTAINS(err.msg, "keel_renderer_empty.so: not loadable: the file is empty, not a shared object");
  free(so);
}

/* A shared object cut short (an unfinished copy): dlopen would map its
 * segments past the end of the file and the process would die of SIGBUS,
 * at open and in a listing alike. The loader reads the ELF headers first. */
static void test_not_loadable_truncated(void) {
  size_t len = 0;
  char *so = read_whole(TP_FILE("renderer_probe"), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(so);
  /* A quarter: past the end of the file are loadable segments, not only
   * section headers (which dlopen does not read). */
  const char *dir = temp_plugin("quarter", so, len / 4);
  temp_plugin("magic", so, 4);
  kc_plugin_loader_free(&loader);
  kc_plugin_loader_init(&loader);
  CU_ASSERT_EQUAL_FATAL(kc_plugin_loader_add_dir(&loader, dir, NULL), KEEL_OK);
  kc_plugin *p = NULL;
  kc_err err;
  CU_ASSERT_EQUAL(kc_plugin_open(&loader, KEEL_PLUGIN_RENDERER, "quarter", &p, NULL, &err), KEEL_ERR_IO);
  char want[256];
  snprintf(want, sizeof want, "keel_renderer_quarter.so: not loadable: truncated or corrupt: the file is %zu bytes and "
           "its ELF headers and segments need ", len / 4);
  KT_ASSERT_CONTAINS(err.msg, want);
  CU_ASSERT_EQUAL(kc_plugin_open(&loader, KEEL_PLUGIN_RENDERER, "magic", &p, NULL, &err), KEEL_ERR_IO);
  KT_ASSERT_CONTAINS(err.msg, "keel_renderer_magic.so: not loadable: a truncated ELF file (4 bytes, shorter than an "
                              "ELF header)");
  kc_plugin_catalog cat = {0};
  CU_ASSERT_EQUAL(kc_plugin_list(&loader, &cat, NULL), KEEL_OK);
  for (size_t i = 0; i < cat.count; i++)
    if (strstr(cat.items[i].file, "keel_renderer_quarter.so")) CU_ASSERT_EQUAL(cat.items[i].status, KC_PLUGIN_NOT_LOADABLE);
  kc_plugin_catalog_free(&cat);
  free(so);
}

/* NULL manifest strings are refused; a manifest name that is not the file's
 * loads (the file name is what keel knows it by) and is warned about. */
static void test_manifest_strings(void) {
  loader_as_this_host();
  char want[1024];
  snprintf(want, sizeof want, "%s: ABI refused: the manifest's version is NULL", TP_FILE("renderer_null_version"));
  expect_refusal("null_version", KC_PLUGIN_ABI_REFUSED, KEEL_ERR_VERSION, want);
  kc_plugin *p = NULL;
  CU_ASSERT_EQUAL(kc_plugin_open(&loader, KEEL_PLUGIN_RENDERER, "misnamed", &p, NULL, NULL), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(p->name, "misnamed");
  kc_plugin_close(p);
  kc_plugin_catalog cat = {0};
  CU_ASSERT_EQUAL_FATAL(kc_plugin_list(&loader, &cat, NULL), KEEL_OK);
  bool seen = false;
  for (size_t i = 0; i < cat.count; i++) {
    if (!strstr(cat.items[i].file, "keel_renderer_misnamed.so")) continue;
    seen = true;
    KT_ASSERT_CONTAINS(cat.items[i].message, "the manifest names it 'other', but keel knows a plugin by its file name: 'misnamed'");
  }
  CU_ASSERT_TRUE(seen);
  for (size_t i = 0; i < cat.count; i++) CU_ASSERT_PTR_NULL(strstr(cat.items[i].version, "(null)"));
  kc_plugin_catalog_free(&cat);
}

/* Settings are configured by the name the file gives ([plugin.NAME],
 * --set plugin.NAME.key, the cvar NAME.key): a manifest that declares
 * them under another name is refused, in a listing and at open alike. */
static void test_settings_under_another_name(void) {
  loader_as_this_host();
  char want[1024];
  snprintf(want, sizeof want,
           "%s: bad settings: the manifest names the plugin 'other' and its file 'settings_misnamed'; settings are "
           "known by the file's name, so the two must be the same (rename one of them)",
           TP_FILE("renderer_settings_misnamed"));
  expect_refusal("settings_misnamed", KC_PLUGIN_BAD_SETTINGS, KEEL_ERR_INVALID_ARGUMENT, want);
  kc_plugin_catalog cat = {0};
  CU_ASSERT_EQUAL_FATAL(kc_plugin_list(&loader, &cat, NULL), KEEL_OK);
  bool seen = false;
  for (size_t i = 0; i < cat.count; i++) {
    if (!strstr(cat.items[i].file, "keel_renderer_settings_misnamed.so")) continue;
    seen = true;
    CU_ASSERT_EQUAL(cat.items[i].status, KC_PLUGIN_BAD_SETTINGS);
    CU_ASSERT_STRING_EQUAL(cat.items[i].message, want);
    CU_ASSERT_EQUAL(cat.items[i].setting_count, 0);
  }
  CU_ASSERT_TRUE(seen);
  kc_plugin_catalog_free(&cat);
}

/* A manifest string with a control character cannot split a listing or a
 * log line: it is shown with '?' in its place. */
static void test_manifest_control_characters_shown(void) {
  loader_as_this_host();
  kc_plugin_catalog cat = {0};
  CU_ASSERT_EQUAL_FATAL(kc_plugin_list(&loader, &cat, NULL), KEEL_OK);
  bool seen = false;
  for (size_t i = 0; i < cat.count; i++) {
    if (!strstr(cat.items[i].file, "keel_renderer_newline_name.so")) continue;
    seen = true;
    CU_ASSERT_STRING_EQUAL(cat.items[i].name, "two?lines");
    KT_ASSERT_CONTAINS(cat.items[i].message, "the manifest names it 'two?lines'");
  }
  CU_ASSERT_TRUE(seen);
  for (size_t i = 0; i < cat.count; i++) {
    CU_ASSERT_PTR_NULL(strchr(cat.items[i].name, '\n'));
    CU_ASSERT_PTR_NULL(strchr(cat.items[i].message, '\n'));
  }
  kc_plugin_catalog_free(&cat);
}

/* A directory without plugin files lists nothing (and sorts nothing: UBSan
 * caught a NULL array handed to qsort). */
static void test_list_empty_directory(void) {
  const char *any = kt_write_temp("not-a-plugin.txt", "x");
  char dir[512];
  snprintf(dir, sizeof dir, "%s", any);
  *strrchr(dir, '/') = '\0';
  char empty[600];
  snprintf(empty, sizeof empty, "%s/empty-dir", dir);
  mkdir(empty, 0700);
  kc_plugin_loader_free(&loader);
  kc_plugin_loader_init(&loader);
  CU_ASSERT_EQUAL_FATAL(kc_plugin_loader_add_dir(&loader, empty, NULL), KEEL_OK);
  kc_plugin_catalog cat = {0};
  CU_ASSERT_EQUAL(kc_plugin_list(&loader, &cat, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(cat.count, 0);
  kc_plugin_catalog_free(&cat);
}

static void test_not_loadable_unresolved_symbol(void) {
  loader_as_this_host();
  char reason[512], want[1024];
  dlopen_reason(TP_FILE("renderer_unresolved"), reason, sizeof reason);
  CU_ASSERT_STRING_EQUAL(reason, "undefined symbol: tp_absent_function");
  snprintf(want, sizeof want, "%s: not loadable: %s", TP_FILE("renderer_unresolved"), reason);
  expect_refusal("unresolved", KC_PLUGIN_NOT_LOADABLE, KEEL_ERR_IO, want);
}

static void test_no_entry_symbol(void) {
  loader_as_this_host();
  expect_refusal("no_entry", KC_PLUGIN_NO_ENTRY, KEEL_ERR_UNSUPPORTED,
                 TP_FILE("renderer_no_entry") ": no entry symbol: keel_plugin_entry is not exported");
}

static void test_wrong_kind(void) {
  loader_as_this_host();
  expect_refusal("kind_wrong", KC_PLUGIN_WRONG_KIND, KEEL_ERR_INVALID_ARGUMENT,
                 TP_FILE("renderer_kind_wrong") ": wrong kind: the manifest says script, expected renderer");
}

static void test_interface_missing(void) {
  loader_as_this_host();
  expect_refusal("no_interface", KC_PLUGIN_INTERFACE_MISSING, KEEL_ERR_UNSUPPORTED,
                 TP_FILE("renderer_no_interface") ": interface missing: get_interface(\"keel.renderer/1\") returned NULL");
}

static void test_interface_table_too_small(void) {
  loader_as_this_host();
  char want[512];
  snprintf(want, sizeof want, "%s: interface missing: keel.renderer/1 table is %zu bytes, the host needs %zu",
           TP_FILE("renderer_small_table"), offsetof(keel_renderer_api, encoder_draw),
           offsetof(keel_renderer_api, stats) + sizeof(void (*)(void)));
  expect_refusal("small_table", KC_PLUGIN_INTERFACE_MISSING, KEEL_ERR_UNSUPPORTED, want);
}

static void test_interface_member_null(void) {
  loader_as_this_host();
  expect_refusal("null_member", KC_PLUGIN_INTERFACE_MISSING, KEEL_ERR_UNSUPPORTED,
                 TP_FILE("renderer_null_member") ": interface missing: keel.renderer/1 has no encoder_draw");
}

static void test_create_failed_has_plugin_message(void) {
  loader_as_this_host();
  kc_plugin *p = expect_load(KEEL_PLUGIN_RENDERER, "create_fails");
  if (!p) return;
  keel_renderer_desc desc = {.struct_size = KEEL_STRUCT_SIZE(keel_renderer_desc)};
  keel_renderer *r = (keel_renderer *)1;
  kc_err err;
  kc_err_clear(&err);
  CU_ASSERT_EQUAL(kc_plugin_create_renderer(p, &desc, &r, &err), KEEL_ERR_BACKEND);
  CU_ASSERT_PTR_NULL(r);
  CU_ASSERT_EQUAL(err.code, KEEL_ERR_BACKEND);
  CU_ASSERT_STRING_EQUAL(err.msg, TP_FILE("renderer_create_fails") ": create failed: " TP_CREATE_FAILS_MESSAGE);
  /* A caller reporting its own create step gets the same line. */
  kc_err_clear(&err);
  CU_ASSERT_EQUAL(kc_plugin_record_create_failure(p, KEEL_ERR_BACKEND, "", &err), KEEL_ERR_BACKEND);
  CU_ASSERT_STRING_EQUAL(err.msg, TP_FILE("renderer_create_fails")
                         ": create failed: KEEL_ERR_BACKEND (the plugin gave no reason)");
  kc_plugin_close(p);
}

static void test_bad_names_and_kinds(void) {
  loader_as_this_host();
  kc_plugin *p = (kc_plugin *)1;
  kc_err err;
  /* A name is never a path: "../x" cannot reach outside the search path. */
  CU_ASSERT_EQUAL(kc_plugin_open(&loader, KEEL_PLUGIN_RENDERER, "../probe", &p, NULL, &err),
                  KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_PTR_NULL(p);
  KT_ASSERT_CONTAINS(err.msg, "[a-z0-9_]+");
  CU_ASSERT_EQUAL(kc_plugin_open(&loader, KEEL_PLUGIN_RENDERER, "", &p, NULL, NULL), KEEL_ERR_INVALID_ARGUMENT);
  CU_ASSERT_EQUAL(kc_plugin_open(&loader, (keel_plugin_kind)7, "probe", &p, NULL, NULL), KEEL_ERR_INVALID_ARGUMENT);
}

static void test_script_kind_loads(void) {
  loader_as_this_host();
  kc_plugin *p = expect_load(KEEL_PLUGIN_SCRIPT, "probe");
  if (!p) return;
  CU_ASSERT_EQUAL(p->kind, KEEL_PLUGIN_SCRIPT);
  CU_ASSERT_STRING_EQUAL(p->file, TP_FILE("script_probe"));
  CU_ASSERT_STRING_EQUAL(((const keel_script_api *)p->interface)->language, "none");
  kc_plugin_close(p);
}

static void test_optional_interface_lookup(void) {
  kc_plugin_loader_free(&loader);
  kc_plugin_loader_init(&loader);
  CU_ASSERT_EQUAL(kc_plugin_loader_add_dir(&loader, KEEL_TEST_PLUGIN_DIR, NULL), KEEL_OK);
  kc_plugin *p = expect_load(KEEL_PLUGIN_RENDERER, "null");
  if (!p) return;
  CU_ASSERT_PTR_NOT_NULL(kc_plugin_find_interface(p, KEEL_RENDERER_READBACK_INTERFACE, sizeof(keel_renderer_readback_api)));
  /* A table older than what the caller needs counts as absent. */
  CU_ASSERT_PTR_NULL(kc_plugin_find_interface(p, KEEL_RENDERER_READBACK_INTERFACE, sizeof(keel_renderer_readback_api) + 8));
  CU_ASSERT_PTR_NULL(kc_plugin_find_interface(p, "keel.nothing/1", 0));
  kc_plugin_close(p);
}

/* ---- search path ---- */

static void test_path_building(void) {
  kc_plugin_loader l;
  kc_plugin_loader_init(&l);
  CU_ASSERT_EQUAL(kc_plugin_loader_add_dirs(&l, "/a::/b/:", NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_plugin_loader_add_dir(&l, "/a/", NULL), KEEL_OK); /* same as /a */
  CU_ASSERT_EQUAL(kc_plugin_loader_add_dir(&l, "", NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_plugin_loader_add_dir(&l, NULL, NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_plugin_loader_add_dirs(&l, "", NULL), KEEL_OK);
  CU_ASSERT_EQUAL(kc_plugin_loader_add_dir(&l, "/c", NULL), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(l.dir_count, 3);
  CU_ASSERT_STRING_EQUAL(l.dirs[0], "/a");
  CU_ASSERT_STRING_EQUAL(l.dirs[1], "/b");
  CU_ASSERT_STRING_EQUAL(l.dirs[2], "/c");
  char long_dir[KC_PLUGIN_FILE_MAX + 8];
  memset(long_dir, 'x', sizeof long_dir - 1);
  long_dir[0] = '/';
  long_dir[sizeof long_dir - 1] = '\0';
  kc_err err;
  CU_ASSERT_EQUAL(kc_plugin_loader_add_dir(&l, long_dir, &err), KEEL_ERR_INVALID_ARGUMENT);
  KT_ASSERT_CONTAINS(err.msg, "too long");
  CU_ASSERT_EQUAL(l.dir_count, 3);
  kc_plugin_loader_free(&l);
}

/* A private directory under the test's temp dir, emptied of earlier runs. */
static const char *temp_dir(const char *name) {
  static char paths[4][512];
  static int next;
  const char *anchor = kt_write_temp("anchor", "");
  char *path = paths[next++ % 4];
  snprintf(path, 512, "%.*s/%s", (int)(strrchr(anchor, '/') - anchor), anchor, name);
  mkdir(path, 0700);
  return path;
}

static void link_plugin(const char *dir, const char *link_name, const char *target_stem) {
  char link_path[600], target[600];
  snprintf(link_path, sizeof link_path, "%s/%s", dir, link_name);
  snprintf(target, sizeof target, "%s/keel_%s.so", TP_DIR, target_stem);
  unlink(link_path);
  CU_ASSERT_EQUAL(symlink(target, link_path), 0);
}

/* The first directory holding the file decides, even when that copy is refused. */
static void test_first_directory_wins(void) {
  const char *a = temp_dir("order-a"), *b = temp_dir("order-b");
  link_plugin(a, "keel_renderer_pick.so", "renderer_abi_newer");
  link_plugin(b, "keel_renderer_pick.so", "renderer_probe");
  kc_plugin_loader_free(&loader);
  kc_plugin_loader_init(&loader);
  kc_plugin_loader_add_dir(&loader, a, NULL);
  kc_plugin_loader_add_dir(&loader, b, NULL);
  kc_plugin *p = NULL;
  kc_plugin_status st;
  kc_err err;
  CU_ASSERT_EQUAL(kc_plugin_open(&loader, KEEL_PLUGIN_RENDERER, "pick", &p, &st, &err), KEEL_ERR_VERSION);
  CU_ASSERT_EQUAL(st, KC_PLUGIN_ABI_REFUSED);
  char file[600];
  snprintf(file, sizeof file, "%s/keel_renderer_pick.so: ABI refused:", a);
  CU_ASSERT_EQUAL(strncmp(err.msg, file, strlen(file)), 0);

  kc_plugin_loader_free(&loader);
  kc_plugin_loader_init(&loader);
  kc_plugin_loader_add_dir(&loader, b, NULL);
  kc_plugin_loader_add_dir(&loader, a, NULL);
  p = expect_load(KEEL_PLUGIN_RENDERER, "pick");
  if (p) CU_ASSERT_STRING_EQUAL(p->manifest->name, "probe");
  kc_plugin_close(p);
}

static void test_current_directory_only_when_named(void) {
  char cwd[1024];
  CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof cwd));
  CU_ASSERT_EQUAL_FATAL(chdir(TP_DIR), 0);
  kc_plugin_loader_free(&loader);
  kc_plugin_loader_init(&loader);
  kc_plugin_loader_add_dirs(&loader, ":/nonexistent/keel-a:", NULL); /* empty entries are not "." */
  kc_plugin *p = NULL;
  CU_ASSERT_EQUAL(kc_plugin_open(&loader, KEEL_PLUGIN_RENDERER, "probe", &p, NULL, NULL), KEEL_ERR_NOT_FOUND);
  kc_plugin_loader_add_dir(&loader, ".", NULL);
  CU_ASSERT_EQUAL(kc_plugin_open(&loader, KEEL_PLUGIN_RENDERER, "probe", &p, NULL, NULL), KEEL_OK);
  if (p) CU_ASSERT_STRING_EQUAL(p->file, "./keel_renderer_probe.so");
  kc_plugin_close(p);
  CU_ASSERT_EQUAL(chdir(cwd), 0);
}

/* ---- fallback chain ---- */

typedef struct create_ctx {
  const keel_renderer_desc *desc;
  keel_renderer *renderer;
  const kc_plugin *created_by;
  int calls;
  char called[8][KC_PLUGIN_NAME_MAX];
} create_ctx;

static keel_result create_renderer(void *user, const kc_plugin *plugin, kc_err *err) {
  create_ctx *c = user;
  if (c->calls < 8) snprintf(c->called[c->calls], KC_PLUGIN_NAME_MAX, "%s", plugin->name);
  c->calls++;
  keel_result r = kc_plugin_create_renderer(plugin, c->desc, &c->renderer, err);
  if (r == KEEL_OK) c->created_by = plugin;
  return r;
}

static const keel_renderer_desc some_desc = {
    .struct_size = KEEL_STRUCT_SIZE(keel_renderer_desc),
    .width = 16, .height = 16, .headless = true, .frames_in_flight = 1, .max_workers = 1, .pass_count = 1,
};

static void test_fallback_order(void) {
  loader_as_this_host();
  const char *names[] = {"vulkan", "broken", "create_fails", "probe", "null"};
  create_ctx ctx = {.desc = &some_desc};
  kc_plugin_attempts attempts = {0};
  kc_plugin *p = NULL;
  kc_err err;
  kc_err_clear(&err);
  keel_result r = kc_plugin_select(&loader, KEEL_PLUGIN_RENDERER, names, 5, create_renderer, &ctx, &p, &attempts, &err);
  CU_ASSERT_EQUAL_FATAL(r, KEEL_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  CU_ASSERT_STRING_EQUAL(p->name, "probe");
  CU_ASSERT_PTR_EQUAL(ctx.created_by, p);
  CU_ASSERT_PTR_NOT_NULL(ctx.renderer);
  /* create ran only for the candidates that loaded, in order */
  CU_ASSERT_EQUAL(ctx.calls, 2);
  CU_ASSERT_STRING_EQUAL(ctx.called[0], "create_fails");
  CU_ASSERT_STRING_EQUAL(ctx.called[1], "probe");

  CU_ASSERT_EQUAL_FATAL(attempts.count, 4);
  const kc_plugin_attempt *a = attempts.items;
  CU_ASSERT_STRING_EQUAL(a[0].name, "vulkan");
  CU_ASSERT_EQUAL(a[0].status, KC_PLUGIN_NOT_FOUND);
  CU_ASSERT_EQUAL(a[0].result, KEEL_ERR_NOT_FOUND);
  CU_ASSERT_STRING_EQUAL(a[0].file, "");
  CU_ASSERT_STRING_EQUAL(a[0].message, "keel_renderer_vulkan.so: not found (searched " TP_DIR ")");
  CU_ASSERT_STRING_EQUAL(a[1].name, "broken");
  CU_ASSERT_EQUAL(a[1].status, KC_PLUGIN_NOT_LOADABLE);
  CU_ASSERT_STRING_EQUAL(a[1].file, TP_FILE("renderer_broken"));
  CU_ASSERT_EQUAL(strncmp(a[1].message, TP_FILE("renderer_broken") ": not loadable: ",
                          strlen(TP_FILE("renderer_broken") ": not loadable: ")), 0);
  CU_ASSERT_STRING_EQUAL(a[2].name, "create_fails");
  CU_ASSERT_EQUAL(a[2].status, KC_PLUGIN_CREATE_FAILED);
  CU_ASSERT_EQUAL(a[2].result, KEEL_ERR_BACKEND);
  CU_ASSERT_STRING_EQUAL(a[2].message, TP_FILE("renderer_create_fails") ": create failed: " TP_CREATE_FAILS_MESSAGE);
  CU_ASSERT_FALSE(still_loaded(TP_FILE("renderer_create_fails")));
  CU_ASSERT_STRING_EQUAL(a[3].name, "probe");
  CU_ASSERT_EQUAL(a[3].status, KC_PLUGIN_OK);
  CU_ASSERT_EQUAL(a[3].result, KEEL_OK);
  CU_ASSERT_STRING_EQUAL(a[3].file, TP_FILE("renderer_probe"));
  CU_ASSERT_STRING_EQUAL(a[3].message, "");

  ((const keel_renderer_api *)p->interface)->destroy(ctx.renderer);
  kc_plugin_close(p);
  kc_plugin_attempts_free(&attempts);
}

static void test_fallback_nothing_left(void) {
  loader_as_this_host();
  const char *names[] = {"vulkan", "abi_same", "vulkan", "create_fails", NULL};
  create_ctx ctx = {.desc = &some_desc};
  kc_plugin_attempts attempts = {0};
  kc_plugin *p = (kc_plugin *)1;
  kc_err err;
  kc_err_clear(&err);
  keel_result r = kc_plugin_select(&loader, KEEL_PLUGIN_RENDERER, names, 5, create_renderer, &ctx, &p, &attempts, &err);
  CU_ASSERT_EQUAL(r, KEEL_ERR_NOT_FOUND);
  CU_ASSERT_EQUAL(err.code, KEEL_ERR_NOT_FOUND);
  CU_ASSERT_PTR_NULL(p);
  CU_ASSERT_STRING_EQUAL(err.msg,
                         "no usable renderer plugin; tried vulkan (not found), abi_same (ABI refused), "
                         "create_fails (create failed)");
  /* every attempt, each name once, in order */
  CU_ASSERT_EQUAL_FATAL(attempts.count, 3);
  CU_ASSERT_STRING_EQUAL(attempts.items[0].name, "vulkan");
  CU_ASSERT_STRING_EQUAL(attempts.items[1].name, "abi_same");
  CU_ASSERT_EQUAL(attempts.items[1].status, KC_PLUGIN_ABI_REFUSED);
  KT_ASSERT_CONTAINS(attempts.items[1].message, "the minor must not be newer than the host's");
  CU_ASSERT_STRING_EQUAL(attempts.items[2].name, "create_fails");
  CU_ASSERT_EQUAL(attempts.items[2].status, KC_PLUGIN_CREATE_FAILED);
  CU_ASSERT_EQUAL(ctx.calls, 1);
  CU_ASSERT_FALSE(still_loaded(TP_FILE("renderer_abi_same")));
  CU_ASSERT_FALSE(still_loaded(TP_FILE("renderer_create_fails")));
  kc_plugin_attempts_free(&attempts);

  CU_ASSERT_EQUAL(kc_plugin_select(&loader, KEEL_PLUGIN_RENDERER, names, 0, NULL, NULL, &p, &attempts, &err),
                  KEEL_ERR_NOT_FOUND);
  CU_ASSERT_EQUAL(attempts.count, 0);
  KT_ASSERT_CONTAINS(err.msg, "the candidate list is empty");
}

/* The runner's real case: [renderer] backend = vulkan, fallback = null. */
static void test_fallback_to_null_renderer(void) {
  kc_plugin_loader_free(&loader);
  kc_plugin_loader_init(&loader);
  kc_plugin_loader_add_dir(&loader, KEEL_TEST_PLUGIN_DIR, NULL);
  const char *names[] = {"does_not_exist", "null"};
  create_ctx ctx = {.desc = &some_desc};
  kc_plugin_attempts attempts = {0};
  kc_plugin *p = NULL;
  CU_ASSERT_EQUAL_FATAL(
      kc_plugin_select(&loader, KEEL_PLUGIN_RENDERER, names, 2, create_renderer, &ctx, &p, &attempts, NULL), KEEL_OK);
  CU_ASSERT_STRING_EQUAL(p->name, "null");
  CU_ASSERT_STRING_EQUAL(p->manifest->name, "null");
  CU_ASSERT_EQUAL(((const keel_renderer_api *)p->interface)->api, KEEL_GRAPHICS_NONE);
  CU_ASSERT_EQUAL(attempts.count, 2);
  CU_ASSERT_EQUAL(attempts.items[0].status, KC_PLUGIN_NOT_FOUND);
  ((const keel_renderer_api *)p->interface)->destroy(ctx.renderer);
  kc_plugin_close(p);
  kc_plugin_attempts_free(&attempts);
}

/* ---- listing ---- */

static const kc_plugin_info *catalog_find(const kc_plugin_catalog *c, const char *file) {
  for (size_t i = 0; i < c->count; i++)
    if (strcmp(c->items[i].file, file) == 0) return &c->items[i];
  return NULL;
}

static size_t count_plugin_files(const char *dir) {
  size_t n = 0;
  DIR *d = opendir(dir);
  if (!d) return 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (strncmp(e->d_name, "keel_", 5) == 0 && len > 3 && strcmp(e->d_name + len - 3, ".so") == 0) n++;
  }
  closedir(d);
  return n;
}

static void test_list_shows_every_file_without_creating(void) {
  const char *marker = kt_write_temp("create-marker", "");
  CU_ASSERT_EQUAL_FATAL(unlink(marker), 0);
  CU_ASSERT_EQUAL_FATAL(setenv(TP_CREATE_MARKER_ENV, marker, 1), 0);

  loader_as_newer_host();
  kc_plugin_loader_add_dir(&loader, "/nonexistent/keel-a", NULL); /* skipped */
  kc_plugin_catalog cat = {0};
  kc_err err;
  CU_ASSERT_EQUAL_FATAL(kc_plugin_list(&loader, &cat, &err), KEEL_OK);
  CU_ASSERT_EQUAL(cat.count, count_plugin_files(TP_DIR));
  CU_ASSERT_TRUE(cat.count >= 16);
  for (size_t i = 1; i < cat.count; i++) CU_ASSERT_TRUE(strcmp(cat.items[i - 1].file, cat.items[i].file) < 0);

  static const struct {
    const char *stem;
    kc_plugin_status status;
    const char *says;
  } want[] = {
      {"renderer_abi_same", KC_PLUGIN_OK, ""},
      {"renderer_abi_older", KC_PLUGIN_OK, ""},
      {"renderer_abi_newer", KC_PLUGIN_ABI_REFUSED, "the minor must not be newer"},
      {"renderer_abi_major", KC_PLUGIN_ABI_REFUSED, "the major must match"},
      {"renderer_probe", KC_PLUGIN_OK, ""},
      {"script_probe", KC_PLUGIN_OK, ""},
      {"renderer_kind_wrong", KC_PLUGIN_WRONG_KIND, "the manifest says script, expected renderer"},
      {"renderer_no_entry", KC_PLUGIN_NO_ENTRY, "no entry symbol"},
      {"renderer_no_interface", KC_PLUGIN_INTERFACE_MISSING, "returned NULL"},
      {"renderer_small_table", KC_PLUGIN_INTERFACE_MISSING, "table is"},
      {"renderer_null_member", KC_PLUGIN_INTERFACE_MISSING, "has no encoder_draw"},
      {"renderer_small_manifest", KC_PLUGIN_ABI_REFUSED, "the manifest is"},
      {"renderer_create_fails", KC_PLUGIN_OK, ""},
      {"renderer_unresolved", KC_PLUGIN_NOT_LOADABLE, "undefined symbol: tp_absent_function"},
      {"renderer_broken", KC_PLUGIN_NOT_LOADABLE, "not loadable"},
      {"renderer_leaky", KC_PLUGIN_OK, ""},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    char file[512];
    snprintf(file, sizeof file, "%s/keel_%s.so", TP_DIR, want[i].stem);
    const kc_plugin_info *info = catalog_find(&cat, file);
    CU_ASSERT_PTR_NOT_NULL(info);
    if (!info) {
      fprintf(stderr, "\n  not listed: %s\n", file);
      continue;
    }
    if (info->status != want[i].status)
      fprintf(stderr, "\n  %s: status %s, want %s (%s)\n", want[i].stem, kc_plugin_status_text(info->status),
              kc_plugin_status_text(want[i].status), info->message);
    CU_ASSERT_EQUAL(info->status, want[i].status);
    CU_ASSERT_FALSE(info->shadowed);
    if (want[i].status == KC_PLUGIN_OK) {
      CU_ASSERT_STRING_EQUAL(info->message, "");
    } else {
      /* the same one-line reason open gives: it starts with the file */
      CU_ASSERT_EQUAL(strncmp(info->message, file, strlen(file)), 0);
      KT_ASSERT_CONTAINS(info->message, want[i].says);
    }
  }

  const kc_plugin_info *probe = catalog_find(&cat, TP_FILE("renderer_probe"));
  if (probe) {
    CU_ASSERT_TRUE(probe->manifest_read);
    CU_ASSERT_STRING_EQUAL(probe->name, "probe");
    CU_ASSERT_EQUAL(probe->kind, KEEL_PLUGIN_RENDERER);
    CU_ASSERT_STRING_EQUAL(probe->version, "0.0.1");
    CU_ASSERT_STRING_EQUAL(probe->description, "keel test plugin probe");
    CU_ASSERT_EQUAL(probe->abi_major, KEEL_ABI_MAJOR);
    CU_ASSERT_EQUAL(probe->abi_minor, KEEL_ABI_MINOR);
  }
  /* Another major: only the manifest's fixed header is trusted. */
  const kc_plugin_info *major = catalog_find(&cat, TP_FILE("renderer_abi_major"));
  if (major) {
    CU_ASSERT_TRUE(major->manifest_read);
    CU_ASSERT_STRING_EQUAL(major->name, "abi_major");
    CU_ASSERT_EQUAL(major->abi_major, TP_HOST_MAJOR + 1);
    CU_ASSERT_EQUAL(major->abi_minor, TP_HOST_MINOR);
    CU_ASSERT_EQUAL(major->kind, KEEL_PLUGIN_RENDERER); /* from the file name */
    CU_ASSERT_STRING_EQUAL(major->version, "");
  }
  const kc_plugin_info *broken = catalog_find(&cat, TP_FILE("renderer_broken"));
  if (broken) {
    CU_ASSERT_FALSE(broken->manifest_read);
    CU_ASSERT_STRING_EQUAL(broken->name, "broken");
    CU_ASSERT_EQUAL(broken->kind, KEEL_PLUGIN_RENDERER);
  }
  const kc_plugin_info *script = catalog_find(&cat, TP_FILE("script_probe"));
  if (script) CU_ASSERT_EQUAL(script->kind, KEEL_PLUGIN_SCRIPT);
  kc_plugin_catalog_free(&cat);

  /* Nothing was created, and nothing stays loaded. */
  struct stat st;
  CU_ASSERT_EQUAL(stat(marker, &st), -1);
  CU_ASSERT_FALSE(still_loaded(TP_FILE("renderer_probe")));
  CU_ASSERT_FALSE(still_loaded(TP_FILE("renderer_create_fails")));

  /* The marker does work: creating through select writes it. */
  const char *names[] = {"create_fails", "probe"};
  create_ctx ctx = {.desc = &some_desc};
  kc_plugin_attempts attempts = {0};
  kc_plugin *p = NULL;
  CU_ASSERT_EQUAL(kc_plugin_select(&loader, KEEL_PLUGIN_RENDERER, names, 2, create_renderer, &ctx, &p, &attempts, NULL),
                  KEEL_OK);
  if (p) {
    ((const keel_renderer_api *)p->interface)->destroy(ctx.renderer);
    kc_plugin_close(p);
  }
  kc_plugin_attempts_free(&attempts);
  char text[64] = "";
  FILE *f = fopen(marker, "r");
  CU_ASSERT_PTR_NOT_NULL(f);
  if (f) {
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
  }
  CU_ASSERT_STRING_EQUAL(text, "create_fails\nprobe\n");
  unsetenv(TP_CREATE_MARKER_ENV);
}

static void test_list_marks_shadowed_and_unknown_kind(void) {
  const char *a = temp_dir("list-a"), *b = temp_dir("list-b");
  link_plugin(a, "keel_renderer_twice.so", "renderer_probe");
  link_plugin(b, "keel_renderer_twice.so", "renderer_probe");
  link_plugin(b, "keel_mystery.so", "renderer_probe");
  kc_plugin_loader_free(&loader);
  kc_plugin_loader_init(&loader);
  kc_plugin_loader_add_dir(&loader, a, NULL);
  kc_plugin_loader_add_dir(&loader, b, NULL);
  kc_plugin_catalog cat = {0};
  CU_ASSERT_EQUAL_FATAL(kc_plugin_list(&loader, &cat, NULL), KEEL_OK);
  CU_ASSERT_EQUAL_FATAL(cat.count, 3);
  /* directory order first, then file names */
  CU_ASSERT_EQUAL(strncmp(cat.items[0].file, a, strlen(a)), 0);
  CU_ASSERT_FALSE(cat.items[0].shadowed);
  CU_ASSERT_EQUAL(cat.items[0].status, KC_PLUGIN_OK);
  KT_ASSERT_CONTAINS(cat.items[1].file, "/keel_mystery.so");
  CU_ASSERT_EQUAL(cat.items[1].status, KC_PLUGIN_WRONG_KIND);
  KT_ASSERT_CONTAINS(cat.items[1].message, "the file name says neither renderer nor script");
  CU_ASSERT_STRING_EQUAL(cat.items[1].name, "probe"); /* the manifest's */
  KT_ASSERT_CONTAINS(cat.items[2].file, "/keel_renderer_twice.so");
  CU_ASSERT_TRUE(cat.items[2].shadowed);
  kc_plugin_catalog_free(&cat);
}

/* ---- exports ---- */

/* Names of the defined function symbols a shared object exports, from its
 * .dynsym, joined by spaces into out. Returns false when `file` is not a
 * 64-bit ELF or has no dynamic symbol table. */
static bool exported_functions(const char *file, char *out, size_t cap) {
  out[0] = '\0';
  FILE *f = fopen(file, "rb");
  if (!f) return false;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = size > 0 ? malloc((size_t)size) : NULL;
  bool ok = buf && fread(buf, 1, (size_t)size, f) == (size_t)size;
  fclose(f);
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)buf;
  ok = ok && (size_t)size >= sizeof *eh && memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
       eh->e_ident[EI_CLASS] == ELFCLASS64 && eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) <= (size_t)size;
  bool found = false;
  for (unsigned i = 0; ok && i < eh->e_shnum; i++) {
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(buf + eh->e_shoff) + i;
    if (sh->sh_type != SHT_DYNSYM || sh->sh_link >= eh->e_shnum) continue;
    const Elf64_Shdr *strs = (const Elf64_Shdr *)(buf + eh->e_shoff) + sh->sh_link;
    found = true;
    for (size_t s = 1; s < sh->sh_size / sizeof(Elf64_Sym); s++) {
      const Elf64_Sym *sym = (const Elf64_Sym *)(buf + sh->sh_offset) + s;
      int type = ELF64_ST_TYPE(sym->st_info), bind = ELF64_ST_BIND(sym->st_info);
      if (sym->st_shndx == SHN_UNDEF || (type != STT_FUNC && type != STT_GNU_IFUNC)) continue;
      if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE) continue;
      const char *name = (const char *)buf + strs->sh_offset + sym->st_name;
      /* The linker's own section entry points, if a toolchain exports them. */
      if (strcmp(name, "_init") == 0 || strcmp(name, "_fini") == 0) continue;
      size_t n = strlen(out);
      snprintf(out + n, cap - n, "%s%s", n ? " " : "", name);
    }
  }
  free(buf);
  return ok && found;
}

static void test_every_plugin_exports_only_the_entry(void) {
  DIR *d = opendir(KEEL_TEST_PLUGIN_DIR);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  struct dirent *e;
  int checked = 0;
  bool saw_null = false;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0) continue;
    char file[1024], names[1024];
    snprintf(file, sizeof file, "%s/%s", KEEL_TEST_PLUGIN_DIR, e->d_name);
    CU_ASSERT_TRUE(exported_functions(file, names, sizeof names));
    if (strcmp(names, KEEL_PLUGIN_ENTRY_SYMBOL) != 0) fprintf(stderr, "\n  %s exports: %s\n", file, names);
    CU_ASSERT_STRING_EQUAL(names, KEEL_PLUGIN_ENTRY_SYMBOL);
    saw_null |= strcmp(e->d_name, "keel_renderer_null.so") == 0;
    checked++;
  }
  closedir(d);
  CU_ASSERT_TRUE(saw_null);
  CU_ASSERT_TRUE(checked >= 1);
}

/* The check catches a leak, and sees an object that exports nothing. */
static void test_export_check_catches_a_leak(void) {
  char names[1024];
  CU_ASSERT_TRUE(exported_functions(TP_FILE("renderer_leaky"), names, sizeof names));
  /* .dynsym order is the linker's: check membership and nothing else. */
  KT_ASSERT_CONTAINS(names, "keel_plugin_entry");
  KT_ASSERT_CONTAINS(names, "tp_leaked_helper");
  CU_ASSERT_EQUAL(strlen(names), strlen("keel_plugin_entry tp_leaked_helper"));
  CU_ASSERT_TRUE(exported_functions(TP_FILE("renderer_no_entry"), names, sizeof names));
  CU_ASSERT_STRING_EQUAL(names, "");
  CU_ASSERT_FALSE(exported_functions(TP_FILE("renderer_broken"), names, sizeof names));
}

static CU_TestInfo abi_tests[] = {
    {"same version loads", test_abi_same_version_loads},
    {"older minor loads", test_abi_older_minor_loads},
    {"newer minor refused", test_abi_newer_minor_refused},
    {"other major refused", test_abi_other_major_refused},
    {"this build's host ABI", test_abi_this_host},
    {"manifest too small refused", test_abi_manifest_too_small},
    {"struct_size larger than the host's refused", test_abi_struct_size_too_large},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo failure_tests[] = {
    {"not found lists the searched paths", test_not_found_lists_searched_paths},
    {"not loadable: not an ELF file", test_not_loadable_not_elf},
    {"not loadable: says what the file is", test_not_loadable_says_what_the_file_is},
    {"not loadable: truncated, never mapped", test_not_loadable_truncated},
    {"manifest strings: NULL refused, another name warned", test_manifest_strings},
    {"settings under a name that is not the file's refused", test_settings_under_another_name},
    {"manifest control characters shown as '?'", test_manifest_control_characters_shown},
    {"listing an empty directory", test_list_empty_directory},
    {"not loadable: unresolved symbol (RTLD_NOW)", test_not_loadable_unresolved_symbol},
    {"no entry symbol", test_no_entry_symbol},
    {"wrong kind", test_wrong_kind},
    {"interface missing", test_interface_missing},
    {"interface table too small", test_interface_table_too_small},
    {"interface with a NULL member", test_interface_member_null},
    {"create failed carries the plugin's message", test_create_failed_has_plugin_message},
    {"bad names and kinds", test_bad_names_and_kinds},
    {"script kind loads", test_script_kind_loads},
    {"optional interface lookup", test_optional_interface_lookup},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo path_tests[] = {
    {"building the search path", test_path_building},
    {"first directory with the file wins", test_first_directory_wins},
    {"current directory only when named", test_current_directory_only_when_named},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo fallback_tests[] = {
    {"candidates tried in order, attempts recorded", test_fallback_order},
    {"nothing left: NOT_FOUND with every attempt", test_fallback_nothing_left},
    {"falls back to the null renderer", test_fallback_to_null_renderer},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo list_tests[] = {
    {"every file with its status, nothing created", test_list_shows_every_file_without_creating},
    {"shadowed files and unknown kinds", test_list_marks_shadowed_and_unknown_kind},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo export_tests[] = {
    {"every built plugin exports only keel_plugin_entry", test_every_plugin_exports_only_the_entry},
    {"the export check catches a leak", test_export_check_catches_a_leak},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"abi_matrix", NULL, suite_cleanup, NULL, NULL, abi_tests},
    {"failures", NULL, suite_cleanup, NULL, NULL, failure_tests},
    {"search_path", NULL, suite_cleanup, NULL, NULL, path_tests},
    {"fallback", NULL, suite_cleanup, NULL, NULL, fallback_tests},
    {"listing", NULL, suite_cleanup, NULL, NULL, list_tests},
    {"exports", NULL, suite_cleanup, NULL, NULL, export_tests},
    CU_SUITE_INFO_NULL,
};
