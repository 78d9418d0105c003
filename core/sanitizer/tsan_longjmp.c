/* ThreadSanitizer builds only (cmake/KeelSanitizer.cmake adds this file to
 * every executable). Debian's liblua5.4 is built with _FORTIFY_SOURCE, so a
 * Lua error leaves C through __longjmp_chk, which GCC 12's TSan does not
 * intercept: the frames an error unwinds stay on TSan's shadow stack, and
 * after about 22,000 errors raised by keel's C functions the shadow stack
 * (64Ki entries) overflows into the thread's TSan state; the run then
 * crashes, or hangs inside TSan's own report. Sending __longjmp_chk to
 * longjmp, which TSan intercepts, unwinds the shadow stack too. The
 * executable exports the symbol, so it wins over libc's for every library
 * loaded after it (the Lua plugin's liblua; the JS plugin compiles Duktape
 * itself, without fortify, so its longjmp was always seen). The only thing
 * lost is glibc's check that the jump goes up the stack. */
#include <setjmp.h>

__attribute__((visibility("default"), noreturn)) void __longjmp_chk(struct __jmp_buf_tag env[1], int val);

void __longjmp_chk(struct __jmp_buf_tag env[1], int val) { longjmp(env, val); }
