/* The `keel` executable's entry point; everything else lives in app.c so it
 * stays one line. */
#include "app.h"

int main(int argc, char **argv) { return kc_app_main(argc, argv); }
