/*
 * qxs_destination.h — the destination file: where payloads go and as whom.
 *
 *   {"name": "CSAT after purchase", "description": "...",
 *    "url": "https://<dc>.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=...",
 *    "username": "api-user@example.com",
 *    "passwordEnv": "QX_API_TOKEN",          -- or "passwordFile": "token.txt"
 *    "rateLimitPerMinute": 3000,             -- optional: pace the calls
 *    "marketingActions": ["emailTargeting"], -- optional
 *    "policy": "policies/email-survey.json"} -- optional
 *
 * These are the destination's fields in the platform (Name, Description, URL)
 * and its credentials: Basic auth with the Qualtrics username and the API
 * token as password. The token is never part of the file, never accepted on
 * a command line and never written anywhere by qx-send: it is read from the
 * named environment variable or file (a relative passwordFile is resolved
 * against the destination file's directory; one trailing newline is
 * dropped). Error messages name the variable or file, never the token.
 *
 * rateLimitPerMinute (an integer, 1 to 1,000,000) asks qx-send to pace its
 * calls to this destination (qxs_pace.h); absent, calls are not paced.
 * `--rate` on the command line overrides it.
 * "marketingActions" are the destination's marketing use cases, which data
 * usage policies are evaluated against; "policy" names a policy file
 * (qxs_policy.h; a relative path is resolved against the destination
 * file's directory, like passwordFile). The file is only named here: the
 * tool loads it.
 *
 * Owns: the destination's strings, the token among them (wiped when freed).
 * Locks: none; no shared state (immutable once loaded).
 * Fails: NULL with err naming the file and the key, never the token.
 */
#ifndef QXS_DESTINATION_H
#define QXS_DESTINATION_H

#include <jansson.h>

#include "qx_error.h"

/* More than any API token; a larger token file is a wrong file. */
#define QXS_TOKEN_MAX_BYTES 4096
#define QXS_DESTINATION_MAX_ACTIONS 16

typedef struct qxs_destination {
    char *name;
    char *description; /* "" when absent */
    char *url;         /* http(s) URL, no credentials in it */
    char *username;
    char *password;             /* the API token; never print or log it */
    long rate_limit_per_minute; /* rateLimitPerMinute; 0 when absent */
    char *policy;               /* the policy file's path, resolved; NULL when none */
    char **marketing_actions;
    size_t n_marketing_actions;
} qxs_destination;

/* Builds a destination from a parsed document (not modified); base_dir
 * resolves a relative passwordFile (NULL: the current directory). Returns a
 * new destination (owned: free with qxs_destination_free) or NULL with err
 * naming the offending key. */
QX_MUST_CHECK qxs_destination *qxs_destination_from_json(const json_t *doc, const char *base_dir,
                                                         qx_error *err);

/* Reads the destination file at path. Returns a new destination (owned) or
 * NULL with err prefixed by the file name. */
QX_MUST_CHECK qxs_destination *qxs_destination_load_file(const char *path, qx_error *err);

/* Wipes the token from memory and frees d; NULL is a no-op. */
void qxs_destination_free(qxs_destination *d);

#endif
