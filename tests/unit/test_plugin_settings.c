// keel-test-labels: plugin
// keel-test-depends: renderer_null script_lua keel_test_plugins
/* Plugin settings (keel_setting, ABI 1.1) from the host's side: the loader
 * checks a plugin's table, `keel --list-plugins [--verbose]` and
 * `--check-config` show the settings without creating the plugin,
 * [plugin.NAME] in engine.ini and --set plugin.NAME.key=value are checked
 * against them with file:line, and while a plugin starts its settings are
 * the cvars "NAME.key", taken back when it fails. Also the two helpers
 * behind the messages: the table check and "did you mean". */
#include "keel_test.h"

#include "base/setting.h"
#include "base/suggest.h"

#include <stdio.h>
#include <string.h>

static char out[1 << 17];

/* keel with the test plugins first on the path, unthrottled. */
static int keel(const char *args) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "env -u KEEL_LOG %s --plugin-path %s/test-plugins --set engine.target_fps=0 %s",
           KEEL_TEST_KEEL_EXE, KEEL_TEST_BINARY_DIR, args);
  return kt_run(cmd, out, sizeof out);
}

static void test_list_shows_settings_without_creating(void) {
  CU_ASSERT_EQUAL(keel("--list-plugins"), 0);
  KT_ASSERT_CONTAINS(out, "    settings: level, mode, gain, verbose (--verbose for details)\n");
  CU_ASSERT_EQUAL(keel("--list-plugins --verbose"), 0);
  KT_ASSERT_CONTAINS(out, "    settings ([plugin.settings] in engine.ini, --set plugin.settings.KEY=VALUE, the cvar "
                          "settings.KEY while it runs):\n"
                          "      level = 2 (int, an integer in 1..5): how much\n"
                          "      mode = fast (string, one of: fast, exact): which way\n"
                          "      gain = 0.5 (float, a number in 0..1): scale\n"
                          "      verbose = false (bool, true/false, yes/no, on/off, 1/0): say more\n");
  /* Listing created nothing. */
  CU_ASSERT_PTR_NULL(strstr(out, "settings read in create"));
}

static void test_bad_table_is_refused(void) {
  CU_ASSERT_EQUAL(keel("--list-plugins"), 0);
  KT_ASSERT_CONTAINS(out, "bad_settings renderer  0.0.1     ");
  KT_ASSERT_CONTAINS(out, "bad settings:\n");
  KT_ASSERT_CONTAINS(out, "keel_renderer_bad_settings.so: bad settings: setting 'level': default 9 is out of range "
                          "(expected an integer in 1..5)\n");
  CU_ASSERT_EQUAL(keel("--frames 2 --set script.runtime=native --set renderer.backend=bad_settings "
                       "--set renderer.fallback=null"),
                  0);
  KT_ASSERT_CONTAINS(out, "renderer 'bad_settings': ");
  KT_ASSERT_CONTAINS(out, "renderer: null ");
}

static void test_check_config_shows_values_and_sources(void) {
  const char *ini = kt_write_temp("settings.ini", "[plugin.settings]\nlevel = 4\nmode = exact\n[script]\nruntime = native\n");
  char args[1024], want[1024];
  snprintf(args, sizeof args, "--check-config --config %s --set plugin.settings.mode=fast", ini);
  CU_ASSERT_EQUAL(keel(args), 0);
  snprintf(want, sizeof want, "plugin.settings.level      = 4                       [%s:2]\n", ini);
  KT_ASSERT_CONTAINS(out, want);
  KT_ASSERT_CONTAINS(out, "plugin.settings.mode       = fast                    [command line (--set)]\n");
  KT_ASSERT_CONTAINS(out, "plugin.settings.gain       = 0.5                     [default]\n");
  KT_ASSERT_CONTAINS(out, "plugin.settings.verbose    = false                   [default]\n");
}

static void test_bad_values_are_config_errors(void) {
  const char *ini = kt_write_temp("settings_bad.ini",
                                  "[plugin.settings]\n"
                                  "level = 9\n"
                                  "mode = slow\n"
                                  "levle = 1\n"
                                  "level = 3\n"
                                  "[plugin.setings]\n"
                                  "gain = 1\n"
                                  "[plugin.null]\n"
                                  "x = 1\n"
                                  "[script]\n"
                                  "runtime = native\n");
  char args[1024], want[1024];
  snprintf(args, sizeof args, "--check-config --config %s --set plugin.settings.gain=2 --set plugin.settings=1", ini);
  CU_ASSERT_EQUAL(keel(args), 2);
  snprintf(want, sizeof want, "%s:2: plugin.settings.level: 9 is out of range (expected an integer in 1..5)\n", ini);
  KT_ASSERT_CONTAINS(out, want);
  snprintf(want, sizeof want,
           "%s:3: plugin.settings.mode: 'slow' is not a valid choice (expected one of: fast, exact)\n", ini);
  KT_ASSERT_CONTAINS(out, want);
  snprintf(want, sizeof want,
           "%s:4: unknown setting 'levle' of plugin 'settings' (its settings: level, mode, gain, verbose; did you "
           "mean 'level'?)\n",
           ini);
  KT_ASSERT_CONTAINS(out, want);
  snprintf(want, sizeof want, "%s:5: duplicate key 'level' in [plugin.settings] (first set at line 2)\n", ini);
  KT_ASSERT_CONTAINS(out, want);
  snprintf(want, sizeof want, "%s:7: [plugin.setings]: no plugin named 'setings' on the plugin search path (plugins "
           "with settings: settings; did you mean 'settings'?)\n", ini);
  KT_ASSERT_CONTAINS(out, want);
  snprintf(want, sizeof want, "%s:9: unknown setting 'x': plugin 'null' declares no settings\n", ini);
  KT_ASSERT_CONTAINS(out, want);
  KT_ASSERT_CONTAINS(out, "--set plugin.settings.gain=2: plugin.settings.gain: 2 is out of range (expected a number "
                          "in 0..1)\n");
  KT_ASSERT_CONTAINS(out, "--set plugin.settings=1: expected plugin.NAME.key=value");
  KT_ASSERT_CONTAINS(out, "keel: 8 configuration errors\n");
  /* The run refuses the same way, before anything starts. */
  snprintf(args, sizeof args, "--frames 2 --config %s", ini);
  CU_ASSERT_EQUAL(keel(args), 2);
  CU_ASSERT_PTR_NULL(strstr(out, "job workers"));
}

/* While a plugin starts, its settings are cvars holding the configured
 * values; when its create fails they are taken back, so the next
 * candidate's run does not carry them. */
static void test_settings_are_cvars_while_the_plugin_starts(void) {
  CU_ASSERT_EQUAL(keel("--frames 5 --set renderer.backend=settings --set renderer.fallback=null "
                       "--set plugin.settings.level=3 --set plugin.settings.verbose=yes "
                       "--exec 'return cvar.get(\"settings.level\")'"),
                  0);
  KT_ASSERT_CONTAINS(out, "[settings] settings read in create: level=3 mode=fast gain=0.5 verbose=true\n");
  KT_ASSERT_CONTAINS(out, "renderer: null ");
  KT_ASSERT_CONTAINS(out, "[exec 1] error: exec:1: cvar.get: unknown cvar 'settings.level'");
}

static void test_table_rules(void) {
  char msg[512];
  keel_setting s[2] = {
      {.name = "rows", .type = KEEL_CVAR_INT, .default_value = "20", .min = 4, .max = 40, .help = "rows"},
      {.name = "style", .type = KEEL_CVAR_STRING, .default_value = "dots", .choices = "dots, blank", .help = "style"},
  };
  CU_ASSERT_TRUE(kc_setting_check_table("ascii", s, 2, msg, sizeof msg));
  CU_ASSERT_TRUE(kc_setting_check_table("ascii", NULL, 0, msg, sizeof msg));
  CU_ASSERT_FALSE(kc_setting_check_table("ascii", NULL, 1, msg, sizeof msg));
  KT_ASSERT_CONTAINS(msg, "setting_count is 1 but settings is NULL");
  s[1].name = "rows";
  CU_ASSERT_FALSE(kc_setting_check_table("ascii", s, 2, msg, sizeof msg));
  KT_ASSERT_CONTAINS(msg, "setting 'rows' is declared twice (settings 1 and 2)");
  s[1].name = "Style";
  CU_ASSERT_FALSE(kc_setting_check_table("ascii", s, 2, msg, sizeof msg));
  KT_ASSERT_CONTAINS(msg, "setting 2: name 'Style' is not [a-z0-9_]+");
  s[1].name = "style";
  s[1].default_value = "lines";
  CU_ASSERT_FALSE(kc_setting_check_table("ascii", s, 2, msg, sizeof msg));
  KT_ASSERT_CONTAINS(msg, "setting 'style': default 'lines' is not a valid choice (expected one of: dots, blank)");
  s[1].default_value = "dots";
  s[0].min = 4.5;
  CU_ASSERT_FALSE(kc_setting_check_table("ascii", s, 2, msg, sizeof msg));
  KT_ASSERT_CONTAINS(msg, "whole numbers");
  s[0].min = 4;
  s[0].help = NULL;
  CU_ASSERT_FALSE(kc_setting_check_table("ascii", s, 2, msg, sizeof msg));
  KT_ASSERT_CONTAINS(msg, "setting 'rows' has no help line");
  s[0].help = "rows";
  /* The cvar name "plugin.key" must fit a script event's name. */
  CU_ASSERT_FALSE(kc_setting_check_table("a_rather_long_plugin_name_x", s, 2, msg, sizeof msg));
  KT_ASSERT_CONTAINS(msg, "is longer than 31 bytes");
}

static void test_did_you_mean(void) {
  const char *names[] = {"vulkan", "gl", "null", "ascii"};
  CU_ASSERT_STRING_EQUAL(kc_suggest("vulcan", names, 4), "vulkan");
  CU_ASSERT_STRING_EQUAL(kc_suggest("nul", names, 4), "null");
  CU_ASSERT_STRING_EQUAL(kc_suggest("acsii", names, 4), "ascii"); /* a swap is one edit */
  CU_ASSERT_PTR_NULL(kc_suggest("metal", names, 4));
  CU_ASSERT_PTR_NULL(kc_suggest("null", names, 4)); /* never the word itself */
  CU_ASSERT_EQUAL(kc_suggest_distance("kitten", "sitting"), 3);
}

static CU_TestInfo tests[] = {
    {"--list-plugins shows settings without creating", test_list_shows_settings_without_creating},
    {"a bad settings table is refused", test_bad_table_is_refused},
    {"--check-config shows values and sources", test_check_config_shows_values_and_sources},
    {"bad values are configuration errors with file:line", test_bad_values_are_config_errors},
    {"settings are cvars while the plugin starts, taken back when it fails",
     test_settings_are_cvars_while_the_plugin_starts},
    {"table rules", test_table_rules},
    {"did you mean", test_did_you_mean},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo keel_test_suites[] = {
    {"plugin settings", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
