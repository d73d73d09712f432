/* The release version, written here and nowhere else. The Makefile and `make dist` read it from
 * this line, Lua sees it as core._VERSION (featurebase._VERSION), and scripts/check-version.sh
 * checks that the release rockspec, the CHANGELOG and the README agree with it. */
#ifndef FB_VERSION_H
#define FB_VERSION_H

#define FB_VERSION "0.1.0"

#endif
