/*
 * destination.c — loading a destination file and its API token.
 *
 * The URL is checked with libcurl's own parser (curl_url), the one that will
 * use it: an http or https URL with a host, and without "user:password@" —
 * credentials in a URL end up in logs and traces, which is what passwordEnv
 * and passwordFile exist to avoid.
 */
#include "qxs_destination.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_json_file.h"
#include "qxs_pace.h"

static const char *const dest_keys[] = {
    "name",         "description",        "url",    "username",         "passwordEnv",
    "passwordFile", "rateLimitPerMinute", "policy", "marketingActions", NULL};

static char *string_member(const json_t *doc, const char *key, bool required, qx_error *err)
{
    json_t *v = json_object_get(doc, key);
    if (v == NULL) {
        if (required)
            qx_error_set(err, "destination: missing \"%s\"", key);
        return required ? NULL : strdup("");
    }
    if (!json_is_string(v) || (required && json_string_length(v) == 0)) {
        qx_error_set(err, "destination.%s: expected a %sstring", key, required ? "non-empty " : "");
        return NULL;
    }
    char *s = strdup(json_string_value(v));
    if (s == NULL)
        qx_error_set(err, "destination.%s: out of memory", key);
    return s;
}

static int check_url(const char *url, qx_error *err)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL, *password = NULL;
    int rc = -1;
    if (u == NULL) {
        qx_error_set(err, "destination.url: out of memory");
        return -1;
    }
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (uc != CURLUE_OK) {
        qx_error_set(err, "destination.url: \"%s\" is not a URL (%s)", url, curl_url_strerror(uc));
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        qx_error_set(err, "destination.url: \"%s\" is not an http or https URL", url);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0') {
        qx_error_set(err, "destination.url: \"%s\" has no host", url);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK) {
        /* not echoing the URL: it holds a credential */
        qx_error_set(err, "destination.url: credentials do not belong in the URL; use username "
                          "and passwordEnv or passwordFile");
        goto out;
    }
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(password);
    curl_url_cleanup(u);
    return rc;
}

static char *token_from_env(const char *var, qx_error *err)
{
    const char *v = getenv(var);
    if (v == NULL || *v == '\0') {
        qx_error_set(err, "destination.passwordEnv: environment variable %s is not set", var);
        return NULL;
    }
    char *s = strdup(v);
    if (s == NULL)
        qx_error_set(err, "destination.passwordEnv: out of memory");
    return s;
}

static char *token_from_file(const char *file, const char *base_dir, qx_error *err)
{
    char path[4096];
    int n = (file[0] == '/' || base_dir == NULL || base_dir[0] == '\0')
                ? snprintf(path, sizeof path, "%s", file)
                : snprintf(path, sizeof path, "%s/%s", base_dir, file);
    if (n < 0 || (size_t)n >= sizeof path) {
        qx_error_set(err, "destination.passwordFile: path too long");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        qx_error_set(err, "destination.passwordFile: cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = calloc(1, QXS_TOKEN_MAX_BYTES + 2);
    size_t len = buf != NULL ? fread(buf, 1, QXS_TOKEN_MAX_BYTES + 1, f) : 0;
    bool read_error = ferror(f) != 0;
    fclose(f);
    if (buf == NULL || read_error) {
        qx_error_set(err, "destination.passwordFile: cannot read %s", path);
        goto fail;
    }
    if (len > QXS_TOKEN_MAX_BYTES) {
        qx_error_set(err, "destination.passwordFile: %s is larger than %d bytes: not a token", path,
                     QXS_TOKEN_MAX_BYTES);
        goto fail;
    }
    if (len > 0 && buf[len - 1] == '\n')
        buf[--len] = '\0';
    if (len > 0 && buf[len - 1] == '\r')
        buf[--len] = '\0';
    if (len == 0 || memchr(buf, '\n', len) != NULL || strlen(buf) != len) {
        qx_error_set(err, "destination.passwordFile: %s must hold the token on one line", path);
        goto fail;
    }
    return buf;
fail:
    if (buf != NULL)
        memset(buf, 0, QXS_TOKEN_MAX_BYTES + 2);
    free(buf);
    return NULL;
}

/* rateLimitPerMinute, when present, into d. Returns 0, or -1 with err set. */
static int rate_member(const json_t *doc, qxs_destination *d, qx_error *err)
{
    json_t *v = json_object_get(doc, "rateLimitPerMinute");
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > QXS_PACE_MAX_PER_MINUTE) {
        qx_error_set(err, "destination.rateLimitPerMinute: expected an integer from 1 to %ld",
                     QXS_PACE_MAX_PER_MINUTE);
        return -1;
    }
    d->rate_limit_per_minute = (long)json_integer_value(v);
    return 0;
}

/* "policy" (a path, resolved against base_dir) and "marketingActions". */
static int read_governance(qxs_destination *d, const json_t *doc, const char *base_dir,
                           qx_error *err)
{
    json_t *policy = json_object_get(doc, "policy");
    json_t *actions = json_object_get(doc, "marketingActions");
    if (policy != NULL) {
        const char *p = json_string_value(policy);
        if (p == NULL || *p == '\0') {
            qx_error_set(err, "destination.policy: expected a policy file path");
            return -1;
        }
        size_t n = strlen(p) + (base_dir != NULL ? strlen(base_dir) : 0) + 2;
        if ((d->policy = malloc(n)) == NULL) {
            qx_error_set(err, "destination.policy: out of memory");
            return -1;
        }
        if (p[0] == '/' || base_dir == NULL || base_dir[0] == '\0')
            snprintf(d->policy, n, "%s", p);
        else
            snprintf(d->policy, n, "%s/%s", base_dir, p);
    }
    if (actions == NULL)
        return 0;
    size_t n = json_array_size(actions);
    if (!json_is_array(actions) || n == 0 || n > QXS_DESTINATION_MAX_ACTIONS) {
        qx_error_set(err, "destination.marketingActions: expected 1 to %d marketing action names",
                     QXS_DESTINATION_MAX_ACTIONS);
        return -1;
    }
    if ((d->marketing_actions = calloc(n, sizeof *d->marketing_actions)) == NULL) {
        qx_error_set(err, "destination.marketingActions: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *a = json_string_value(json_array_get(actions, i));
        if (a == NULL || *a == '\0') {
            qx_error_set(err, "destination.marketingActions[%zu]: expected a name", i);
            return -1;
        }
        if ((d->marketing_actions[i] = strdup(a)) == NULL) {
            qx_error_set(err, "destination.marketingActions: out of memory");
            return -1;
        }
        d->n_marketing_actions = i + 1;
    }
    return 0;
}

qxs_destination *qxs_destination_from_json(const json_t *doc, const char *base_dir, qx_error *err)
{
    if (!json_is_object(doc)) {
        qx_error_set(err, "destination: expected a JSON object");
        return NULL;
    }
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)doc, key, value)
    {
        bool known = false;
        for (size_t i = 0; dest_keys[i] != NULL; i++)
            known = known || strcmp(dest_keys[i], key) == 0;
        if (!known) {
            qx_error_set(err, "destination: unknown key \"%s\"%s", key,
                         strcmp(key, "password") == 0 || strcmp(key, "apiToken") == 0
                             ? " (the token is read from passwordEnv or passwordFile, never "
                               "from the file itself)"
                             : "");
            return NULL;
        }
    }
    qxs_destination *d = calloc(1, sizeof *d);
    if (d == NULL) {
        qx_error_set(err, "destination: out of memory");
        return NULL;
    }
    if ((d->name = string_member(doc, "name", true, err)) == NULL ||
        (d->description = string_member(doc, "description", false, err)) == NULL ||
        (d->url = string_member(doc, "url", true, err)) == NULL ||
        (d->username = string_member(doc, "username", true, err)) == NULL)
        goto fail;
    if (check_url(d->url, err) != 0 || rate_member(doc, d, err) != 0 ||
        read_governance(d, doc, base_dir, err) != 0)
        goto fail;
    json_t *env = json_object_get(doc, "passwordEnv");
    json_t *file = json_object_get(doc, "passwordFile");
    if ((env == NULL) == (file == NULL)) {
        qx_error_set(err, "destination: exactly one of \"passwordEnv\" and \"passwordFile\" is "
                          "required");
        goto fail;
    }
    if (env != NULL) {
        if (!json_is_string(env) || json_string_length(env) == 0) {
            qx_error_set(err, "destination.passwordEnv: expected an environment variable name");
            goto fail;
        }
        d->password = token_from_env(json_string_value(env), err);
    } else {
        if (!json_is_string(file) || json_string_length(file) == 0) {
            qx_error_set(err, "destination.passwordFile: expected a file path");
            goto fail;
        }
        d->password = token_from_file(json_string_value(file), base_dir, err);
    }
    if (d->password == NULL)
        goto fail;
    return d;
fail:
    qxs_destination_free(d);
    return NULL;
}

qxs_destination *qxs_destination_load_file(const char *path, qx_error *err)
{
    json_t *doc = qx_json_load_file(path, JSON_REJECT_DUPLICATES, err);
    if (doc == NULL)
        return NULL;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        dir[0] = '\0';
    if (slash == dir)
        snprintf(dir, sizeof dir, "/");
    qxs_destination *d = qxs_destination_from_json(doc, dir, err);
    json_decref(doc);
    if (d == NULL)
        qx_error_prefix(err, "%s", path);
    return d;
}

void qxs_destination_free(qxs_destination *d)
{
    if (d == NULL)
        return;
    if (d->password != NULL) {
        /* volatile so the wipe of a buffer about to be freed is not elided */
        volatile char *p = d->password;
        while (*p)
            *p++ = '\0';
        free(d->password);
    }
    free(d->name);
    free(d->description);
    free(d->url);
    free(d->username);
    free(d->policy);
    for (size_t i = 0; i < d->n_marketing_actions; i++)
        free(d->marketing_actions[i]);
    free(d->marketing_actions);
    free(d);
}
