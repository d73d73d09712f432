/* libcurl, and the oldest version featurebase builds against: FB_CURL_MIN_VERSION (stated in the
 * README and the rockspecs; scripts/check-version.sh keeps them equal). Anything libcurl added
 * after it is used only under FB_CURL_VER_GE, with a fallback, as Lua-cURLv3 does with
 * LCURL_CURL_VER_GE. `make check-oldcurl` compiles every source as that oldest version sees it:
 * LIBCURL_VERSION_NUM forced down and every newer libcurl symbol poisoned (scripts/check-oldcurl.sh). */
#ifndef FB_CURL_H
#define FB_CURL_H

#include <curl/curl.h>

#define FB_CURL_MIN_VERSION "7.61.0"
#define FB_CURL_MIN_VERSION_NUM 0x073D00

/* true when the curl/curl.h compiled against is libcurl major.minor.patch or newer */
#define FB_CURL_VER_GE(major, minor, patch) \
    (LIBCURL_VERSION_NUM >= (((major) << 16) | ((minor) << 8) | (patch)))

#if LIBCURL_VERSION_NUM < FB_CURL_MIN_VERSION_NUM
#error "featurebase needs libcurl 7.61.0 or newer: this curl/curl.h is older"
#endif

#endif
