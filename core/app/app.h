/* The runner's top level: what `keel` does with parsed options. Kept apart
 * from main(): parse, then load the configuration, then one action. */
#ifndef KC_APP_APP_H
#define KC_APP_APP_H

/* Exit codes of `keel`. */
#define KC_EXIT_OK 0
#define KC_EXIT_FAILURE 1 /* the engine failed while running */
#define KC_EXIT_USAGE 2   /* bad command line or bad configuration */
#define KC_EXIT_NO_PLUGIN 3 /* no renderer, script runtime or (headless = false) window could be started */

/* Runs `keel` with its arguments and returns the process exit code. Prints
 * results on stdout and problems on stderr. Main thread. */
int kc_app_main(int argc, char **argv);

#endif
