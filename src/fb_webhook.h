/* Webhook deliveries: HMAC-SHA256 signatures (OpenSSL libcrypto), checked in constant time, with a
 * timestamp tolerance; the verified body is decoded like every response. */
#ifndef FB_WEBHOOK_H
#define FB_WEBHOOK_H

#include "fb_compat.h"

/* The two headers Featurebase signs a delivery with, as the API documents them. */
#define FB_WEBHOOK_SIGNATURE_HEADER "X-Webhook-Signature"
#define FB_WEBHOOK_TIMESTAMP_HEADER "X-Webhook-Timestamp"
#define FB_WEBHOOK_TOLERANCE 300 /* seconds either way, as in Featurebase's own example */
#define FB_WEBHOOK_SIG_HEX 64    /* hex characters of an HMAC-SHA256 */

/* Adds core.webhook_verify and core.webhook_sign to the module table at the top of the stack. */
void fb_webhook_init(lua_State *L);

#endif
