/* The API's rules, in one place: the validator, its error messages and (through core.rules) the
 * tests all read them from here. Source: ../shared/api/create-conversation.txt and
 * reply-to-conversation.txt. */
#ifndef FB_RULES_H
#define FB_RULES_H

#define FB_OBJECTID_LEN 24       /* from.id, recipient ids, reply id: 24 hex digits */
#define FB_SUBJECT_MAX 500       /* subject: maxLength 500 (code points) */
#define FB_USERID_MAX 255        /* contact reply userId: maxLength 255 (code points) */
#define FB_CONVERSATION_ID_MAX 16 /* path id: minLength 1, maxLength 16 */
#define FB_EMAIL_MAX 254         /* RFC 5321 path limit */
#define FB_MIN_VERSION "2026-01-01" /* these endpoints exist from 2026-01-01.nova on */
#define FB_DEFAULT_VERSION "2026-01-01.nova"
#define FB_DEFAULT_BASE_URL "https://do.featurebase.app"

/* Allowed keys of each request object: anything else is refused by name. */
#define FB_CREATE_KEYS(X) X(bodyMarkdown) X(from) X(channel) X(createdAt) X(recipients) X(subject)
#define FB_FROM_KEYS(X) X(type) X(id)
#define FB_RECIPIENTS_KEYS(X) X(to) X(cc) X(bcc)
#define FB_EMAIL_RECIPIENTS_KEYS(X) X(emails) X(ids)
#define FB_REPLY_KEYS(X) X(type) X(id) X(userId) X(bodyMarkdown) X(messageType) X(skipNotifications)

/* Enumerations. */
#define FB_AUTHOR_TYPES(X) X(contact) X(admin)
#define FB_CHANNELS(X) X(desktop) X(email)
#define FB_CONTACT_MESSAGE_TYPES(X) X(reply)
#define FB_ADMIN_MESSAGE_TYPES(X) X(reply) X(note)

#define FB_STR(name) #name,
#define FB_LIST(M) { M(FB_STR) NULL }

#endif
