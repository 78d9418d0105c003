/* The ABI numbers the test plugins declare, shared with the loader tests.
 * keel's real ABI is 1.0, so no plugin can be "an older minor" than the real
 * host; the tests act as a host of TP_HOST_MINOR (kc_plugin_loader's
 * host_abi_minor) and the plugins declare versions around it. */
#ifndef KEEL_TEST_PLUGIN_ABI_H
#define KEEL_TEST_PLUGIN_ABI_H

#include <keel/abi.h>

#define TP_HOST_MAJOR KEEL_ABI_MAJOR
#define TP_HOST_MINOR (KEEL_ABI_MINOR + 2)

/* The environment variable naming a file each test plugin's create appends
 * "<name>\n" to: proof of whether create ran. */
#define TP_CREATE_MARKER_ENV "KEEL_TEST_CREATE_MARKER"

#define TP_CREATE_FAILS_MESSAGE "no device here (test plugin create_fails)"

/* script_hang (TP_HANG): the step whose call never returns, blocked in
 * native code and deaf to interrupt(): "create", "init", "tick",
 * "shutdown" or "destroy"; unset = none. */
#define TP_HANG_ENV "KEEL_TEST_HANG"

/* bad_readback (TP_BAD_READBACK): how its readback breaks the contract:
 * "huge", "zero", "grows" or "null" (see test_plugin.c). */
#define TP_READBACK_ENV "KEEL_TEST_READBACK"

#endif
