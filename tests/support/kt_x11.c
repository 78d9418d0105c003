/* See kt_x11.h. */
#include "kt_x11.h"

#include <X11/Xatom.h>
#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void kt_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

bool kt_xvfb_start(kt_xvfb *x) {
  memset(x, 0, sizeof *x);
  int fds[2];
  if (pipe(fds) != 0) return false;
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the test */
    close(fds[0]);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) dup2(null, 0), dup2(null, 1), dup2(null, 2);
    char fd[16];
    snprintf(fd, sizeof fd, "%d", fds[1]);
    execlp("Xvfb", "Xvfb", "-displayfd", fd, "-screen", "0", "1280x1024x24", "-nolisten", "tcp", "-noreset",
           (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  char buf[32] = {0};
  size_t used = 0;
  uint64_t deadline = now_ms() + 30000;
  while (used < sizeof buf - 1 && !memchr(buf, '\n', used) && now_ms() < deadline) {
    struct pollfd p = {.fd = fds[0], .events = POLLIN};
    if (poll(&p, 1, 200) <= 0) continue;
    ssize_t n = read(fds[0], buf + used, sizeof buf - 1 - used);
    if (n <= 0) break;
    used += (size_t)n;
  }
  close(fds[0]);
  if (!memchr(buf, '\n', used)) {
    fprintf(stderr, "Xvfb did not start (is the xvfb package installed? packaging/install-deps.sh)\n");
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return false;
  }
  x->pid = pid;
  x->display = atoi(buf);
  snprintf(x->name, sizeof x->name, ":%d", x->display);
  setenv("DISPLAY", x->name, 1);
  unsetenv("WAYLAND_DISPLAY");
  return true;
}

void kt_xvfb_stop(kt_xvfb *x) {
  if (x->pid <= 0) return;
  kill(x->pid, SIGTERM);
  waitpid(x->pid, NULL, 0);
  x->pid = 0;
  unsetenv("DISPLAY");
}

bool kt_proc_start(kt_proc *p, const char *cmdline, const char *log_path) {
  memset(p, 0, sizeof *p);
  snprintf(p->log_path, sizeof p->log_path, "%s", log_path);
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int null = open("/dev/null", O_RDONLY);
    if (fd < 0 || null < 0) _exit(127);
    dup2(null, 0), dup2(fd, 1), dup2(fd, 2);
    execl("/bin/sh", "sh", "-c", cmdline, (char *)NULL);
    _exit(127);
  }
  p->pid = pid;
  return true;
}

int kt_proc_wait(kt_proc *p, int timeout_s) {
  if (p->pid <= 0) return -1;
  uint64_t deadline = now_ms() + (uint64_t)timeout_s * 1000u;
  int st = 0;
  for (;;) {
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) break;
    if (r < 0 && errno != EINTR) return -1;
    if (now_ms() > deadline) {
      fprintf(stderr, "process %d did not exit within %d s; killed\n", (int)p->pid, timeout_s);
      kill(p->pid, SIGKILL);
      waitpid(p->pid, NULL, 0);
      p->pid = 0;
      return -1;
    }
    kt_sleep_ms(20);
  }
  p->pid = 0;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void kt_proc_signal(kt_proc *p, int sig) {
  if (p->pid > 0) kill(p->pid, sig);
}

const char *kt_read_log(const char *path, char *buf, size_t cap) {
  buf[0] = '\0';
  FILE *f = fopen(path, "rb");
  if (!f) return buf;
  size_t n = fread(buf, 1, cap - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

long kt_wait_for_text(const char *path, const char *needle, long from, int timeout_s) {
  static char buf[1 << 18];
  uint64_t deadline = now_ms() + (uint64_t)timeout_s * 1000u;
  for (;;) {
    kt_read_log(path, buf, sizeof buf);
    size_t len = strlen(buf);
    if (from >= 0 && (size_t)from <= len) {
      const char *hit = strstr(buf + from, needle);
      if (hit) return (long)(hit - buf) + (long)strlen(needle);
    }
    if (now_ms() > deadline) {
      fprintf(stderr, "\nwaited %d s for \"%s\" in %s:\n%s\n", timeout_s, needle, path, buf);
      return -1;
    }
    kt_sleep_ms(20);
  }
}

int kt_xdotool(char *out, size_t cap, const char *fmt, ...) {
  char args[1024], cmd[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "xdotool %s 2>&1", args);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  char sink[256];
  size_t n = 0;
  if (out && cap) out[0] = '\0';
  while (fgets(sink, sizeof sink, p)) {
    if (out && n + strlen(sink) < cap) {
      memcpy(out + n, sink, strlen(sink) + 1);
      n += strlen(sink);
    }
  }
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

unsigned long kt_find_window(const char *name, int timeout_s) {
  uint64_t deadline = now_ms() + (uint64_t)timeout_s * 1000u;
  char out[256], regex[512];
  size_t n = 0;
  for (const char *c = name; *c && n + 3 < sizeof regex; c++) { /* xdotool matches a regex */
    if (strchr("\\.^$|()[]{}*+?'", *c)) regex[n++] = '\\';
    regex[n++] = *c;
  }
  regex[n] = '\0';
  do {
    if (kt_xdotool(out, sizeof out, "search --onlyvisible --name '%s'", regex) == 0 && out[0])
      return strtoul(out, NULL, 10);
    kt_sleep_ms(50);
  } while (now_ms() < deadline);
  fprintf(stderr, "no visible window named like '%s' within %d s\n", name, timeout_s);
  return 0;
}

bool kt_x11_request_close(unsigned long window) {
  Display *d = XOpenDisplay(NULL);
  if (!d) return false;
  XEvent ev;
  memset(&ev, 0, sizeof ev);
  ev.xclient.type = ClientMessage;
  ev.xclient.window = (Window)window;
  ev.xclient.message_type = XInternAtom(d, "WM_PROTOCOLS", False);
  ev.xclient.format = 32;
  ev.xclient.data.l[0] = (long)XInternAtom(d, "WM_DELETE_WINDOW", False);
  ev.xclient.data.l[1] = CurrentTime;
  Status ok = XSendEvent(d, (Window)window, False, NoEventMask, &ev);
  XSync(d, False);
  XCloseDisplay(d);
  return ok != 0;
}

bool kt_x11_set_iconic(unsigned long window, bool iconic) {
  Display *d = XOpenDisplay(NULL);
  if (!d) return false;
  Atom wm_state = XInternAtom(d, "WM_STATE", False);
  long data[2] = {iconic ? IconicState : NormalState, None};
  XChangeProperty(d, (Window)window, wm_state, wm_state, 32, PropModeReplace, (unsigned char *)data, 2);
  XSync(d, False);
  XCloseDisplay(d);
  return true;
}

/* Bits of `mask` to an 8-bit channel. */
static unsigned char channel(unsigned long pixel, unsigned long mask) {
  if (!mask) return 0;
  int shift = 0;
  while (!((mask >> shift) & 1ul)) shift++;
  unsigned long max = mask >> shift, v = (pixel & mask) >> shift;
  return (unsigned char)(v * 255ul / max);
}

bool kt_x11_capture(unsigned long window, unsigned char **pixels, unsigned *width, unsigned *height) {
  *pixels = NULL;
  Display *d = XOpenDisplay(NULL);
  if (!d) return false;
  XWindowAttributes wa;
  bool ok = false;
  if (XGetWindowAttributes(d, (Window)window, &wa) && wa.width > 0 && wa.height > 0) {
    XImage *img = XGetImage(d, (Window)window, 0, 0, (unsigned)wa.width, (unsigned)wa.height, AllPlanes, ZPixmap);
    unsigned char *out = img ? malloc((size_t)wa.width * (size_t)wa.height * 4u) : NULL;
    if (out) {
      for (int y = 0; y < wa.height; y++)
        for (int x = 0; x < wa.width; x++) {
          unsigned long px = XGetPixel(img, x, y);
          unsigned char *o = out + ((size_t)y * (size_t)wa.width + (size_t)x) * 4u;
          o[0] = channel(px, img->red_mask);
          o[1] = channel(px, img->green_mask);
          o[2] = channel(px, img->blue_mask);
          o[3] = 255;
        }
      *pixels = out;
      *width = (unsigned)wa.width;
      *height = (unsigned)wa.height;
      ok = true;
    }
    if (img) XDestroyImage(img);
  }
  XCloseDisplay(d);
  return ok;
}
