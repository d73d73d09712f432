/* The API's limits and enumerations, in one place: the description (fb_api.c), the validator, its
 * error messages and (through core.rules) the tests all read them from here. Source: ../shared/api/. */
#ifndef FB_RULES_H
#define FB_RULES_H

#define FB_OBJECTID_LEN 24        /* contacts, admins, teams, tags: 24 hex digits */
#define FB_SHORT_ID_MAX 16        /* conversation and part ids: 1-16 letters and digits */
#define FB_SUBJECT_MAX 500        /* subject: maxLength 500 (code points) */
#define FB_USERID_MAX 255         /* your own user id (reply, participant, by-user-id paths) */
#define FB_EMAIL_MAX 254          /* RFC 5321 path limit */
#define FB_RECIPIENTS_MAX 50      /* each of recipients.to/cc/bcc .emails and .ids */
#define FB_TITLE_MAX 255          /* conversation title */
#define FB_MARK_READ_MAX 255      /* markAsRead.adminIds / contactIds */
#define FB_LIMIT_MAX 100          /* list page size: 1-100 */
#define FB_CURSOR_MAX 512         /* opaque paging cursor */
#define FB_CONTACT_TEXT_MAX 500   /* contact email, userId, name, phone; company fields */
#define FB_HASH_MAX 256           /* userHash, companyHash */
#define FB_LOCALE_MAX 10
#define FB_LIST_MAX 100           /* contact companies, roles */
#define FB_ROLE_MAX 255
#define FB_MIN_VERSION "2026-01-01" /* these endpoints exist from 2026-01-01.nova on */
#define FB_DEFAULT_VERSION "2026-01-01.nova"
#define FB_DEFAULT_BASE_URL "https://do.featurebase.app"

/* Enumerations. */
#define FB_AUTHOR_TYPES(X) X(contact) X(admin)
#define FB_CHANNELS(X) X(desktop) X(email)
#define FB_MESSAGE_TYPES(X) X(reply) X(note)
#define FB_CONTACT_MESSAGE_TYPES(X) X(reply)
#define FB_STATES(X) X(open) X(closed) X(snoozed)
#define FB_CONTACT_TYPES(X) X(customer) X(lead) X(all)
#define FB_REDACT_TYPES(X) X(conversation_part)

#define FB_STR(name) #name,
#define FB_LIST(M) { M(FB_STR) NULL }

#endif
