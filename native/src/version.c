/* The version compiled into the extension (see native/_version.py). */
#include "appliance_native.h"

#ifndef APPL_NATIVE_VERSION
#define APPL_NATIVE_VERSION "unversioned" /* test drivers built outside the package build */
#endif

const char *appl_native_version(void) { return APPL_NATIVE_VERSION; }
