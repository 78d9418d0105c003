/* Windowed tests without a real display: a private Xvfb started and stopped
 * by the test itself (CI has no display), `keel` run in the background with
 * its output in a file the test watches, and the two things a window
 * manager would do that xdotool cannot on a bare X server: ask a window to
 * close (WM_DELETE_WINDOW) and mark it minimised (WM_STATE). Keys, mouse
 * and resizes are sent with xdotool, as real X events. Linked only into the
 * tests that say `// keel-test-libs: keel_test_x11`. */
#ifndef KT_X11_H
#define KT_X11_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct kt_xvfb {
  pid_t pid;
  int display;   /* :N */
  char name[32]; /* ":N", also put in DISPLAY */
} kt_xvfb;

/* Starts Xvfb on a free display (-displayfd), waits until it accepts
 * clients and sets DISPLAY for this process and its children. The server
 * dies with the test process. False (with the reason on stderr) when it
 * cannot start. */
bool kt_xvfb_start(kt_xvfb *x);
void kt_xvfb_stop(kt_xvfb *x);

/* A command run in the background through /bin/sh, stdout and stderr into
 * `log_path`. */
typedef struct kt_proc {
  pid_t pid;
  char log_path[512];
} kt_proc;

bool kt_proc_start(kt_proc *p, const char *cmdline, const char *log_path);
/* Waits up to timeout_s for the exit; returns the exit status (128+signal
 * when killed by one), or -1 after killing it when it did not exit in time. */
int kt_proc_wait(kt_proc *p, int timeout_s);
/* Sends `sig` to the process. */
void kt_proc_signal(kt_proc *p, int sig);

/* Sleeps (to poll something, never to wait for a guessed duration). */
void kt_sleep_ms(int ms);
/* Reads the whole log into buf (NUL-terminated, cut to cap). */
const char *kt_read_log(const char *path, char *buf, size_t cap);
/* Waits up to timeout_s until the log holds `needle` after byte `from`;
 * returns the offset just past it, or -1 (and prints the log) on timeout.
 * The timeout only bounds a failing test: nothing is asserted on time. */
long kt_wait_for_text(const char *path, const char *needle, long from, int timeout_s);

/* Runs an xdotool command line ("key a", "search ...") on the test display;
 * its stdout into out (may be NULL). Returns the exit status. */
int kt_xdotool(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The id of the first visible window whose name contains `name`, waiting up
 * to timeout_s for it to appear; 0 on timeout. */
unsigned long kt_find_window(const char *name, int timeout_s);

/* What a window manager sends when the user clicks the close button. */
bool kt_x11_request_close(unsigned long window);
/* What a window manager sets when the user minimises (iconic = true) or
 * restores a window. */
bool kt_x11_set_iconic(unsigned long window, bool iconic);

/* The window's pixels as the X server shows them (what was presented),
 * as tightly packed RGBA8, top row first, alpha 255: malloc'ed into
 * *pixels (the caller frees). False when the window cannot be read. */
bool kt_x11_capture(unsigned long window, unsigned char **pixels, unsigned *width, unsigned *height);

#endif
