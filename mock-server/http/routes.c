/*
 * routes.c — the route table: every path qx-mock serves, with the methods,
 * body limit, authentication and handler of each, in the manner of redis'
 * command table. server.c looks a request's route up once its headers are
 * in, reads the body up to the route's limit, and dispatches here.
 *
 * A path no route takes is answered 404; a known path with a method no
 * route of it takes, 405 with Allow listing the methods that are. Both, and
 * every admin route, are behind the admin token when qx-mock has one; the
 * health check is always open (container and CI probes carry no token),
 * and /metrics is behind a token of its own only when given one
 * (--metrics-token-env). Each admin route takes the query parameters
 * ROUTE_PARAMS lists and no other.
 *
 * Browser-safe routes (the page and the admin API, not the JSON-event
 * endpoint, /_qx/v1/health or /metrics) are guarded against other web
 * pages in the same browser: a page cannot read a cross-origin answer, but
 * it can send a "simple" request (POST with text/plain, no preflight), and
 * through DNS rebinding a hostile name can come to resolve to 127.0.0.1
 * and read answers as its own origin. So, while qx-mock listens on
 * loopback, the Host header must name a loopback address, localhost or an
 * --allow-host name (421 otherwise: the rebinding page's Host is its own
 * name), and a state-changing request (POST, PUT, DELETE) whose Origin is
 * not the Host it was sent to is refused 403 (a forged form or fetch from
 * another origin carries that origin).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_internal.h"
#include "qx_secret.h"

#define ADMIN QXM_MAX_ADMIN_BODY_BYTES

/* clang-format off */
static const qxm_route ROUTES[] = {
    /* method   path                                      body limit          auth            event  browser  handler, sink */
    {NULL,     "/inbound-event/v1/events/json/triggers", QXM_MAX_BODY_BYTES, QXM_AUTH_EVENT, true,  false, qxm_ingest_handle, NULL, NULL},
    {NULL,     "/inbound-event/v1/events/JSON/triggers", QXM_MAX_BODY_BYTES, QXM_AUTH_EVENT, true,  false, qxm_ingest_handle, NULL, NULL},
    {NULL,     "/",                                      ADMIN,              QXM_AUTH_NONE,  false, true,  qxm_page_handle, NULL, NULL},
    {NULL,     "/index.html",                            ADMIN,              QXM_AUTH_NONE,  false, true,  qxm_page_handle, NULL, NULL},
    {"GET",    "/favicon.ico",                           ADMIN,              QXM_AUTH_NONE,  false, true,  qxm_page_favicon, NULL, NULL},
    {"GET",    "/metrics",                               ADMIN,              QXM_AUTH_METRICS, false, false, qxm_admin_metrics, NULL, NULL},
    {"GET",    "/_qx/v1/health",                         ADMIN,              QXM_AUTH_NONE,  false, false, qxm_admin_health, NULL, NULL},
    {"GET",    "/_qx/v1/workflows",                      ADMIN,              QXM_AUTH_ADMIN, false, true,  qxm_admin_workflows, NULL, NULL},
    {"GET",    "/_qx/v1/workflows/{id}/capture",         ADMIN,              QXM_AUTH_ADMIN, false, true,  qxm_admin_capture_get, NULL, NULL},
    {"POST",   "/_qx/v1/workflows/{id}/capture",         ADMIN,              QXM_AUTH_ADMIN, false, true,  qxm_admin_capture_arm, NULL, NULL},
    {"DELETE", "/_qx/v1/workflows/{id}/capture",         ADMIN,              QXM_AUTH_ADMIN, false, true,  qxm_admin_capture_delete, NULL, NULL},
    {"GET",    "/_qx/v1/runs",                           ADMIN,              QXM_AUTH_ADMIN, false, true,  qxm_admin_list_runs, NULL, NULL},
    {"DELETE", "/_qx/v1/runs",                           ADMIN,              QXM_AUTH_ADMIN, false, true,  qxm_admin_reset, NULL, NULL},
    {"GET",    "/_qx/v1/runs/wait",                      ADMIN,              QXM_AUTH_ADMIN, false, true,  qxm_admin_wait, NULL, NULL},
    {"GET",    "/_qx/v1/runs/{id}",                      ADMIN,              QXM_AUTH_ADMIN, false, true,  qxm_admin_get_run, NULL, NULL},
    {"GET",    "/_qx/v1/requests",                       ADMIN,              QXM_AUTH_ADMIN, false, true,  qxm_admin_requests, NULL, NULL},
    {"GET",    "/_qx/v1/requests/{id}",                  ADMIN,              QXM_AUTH_ADMIN, false, true,  qxm_admin_get_request, NULL, NULL},
    {"GET",    "/_qx/v1/stats",                          ADMIN,              QXM_AUTH_ADMIN, false, true,  qxm_admin_stats, NULL, NULL},
    {"GET",    "/_qx/v1/export",                         ADMIN,              QXM_AUTH_ADMIN, false, true,  qxm_admin_export, NULL, NULL},
    {"POST",   "/_qx/v1/import",                         QXM_MAX_IMPORT_BYTES, QXM_AUTH_ADMIN, false, true, qxm_admin_import,
     "method not allowed: POST an NDJSON history", &qxm_import_sink},
    {"GET",    "/_qx/v1/faults",                         ADMIN,              QXM_AUTH_ADMIN, false, true,  qxm_admin_faults_get, NULL, NULL},
    {"PUT",    "/_qx/v1/faults",                         ADMIN,              QXM_AUTH_ADMIN, false, true,  qxm_admin_faults_put, NULL, NULL},
    {"DELETE", "/_qx/v1/faults",                         ADMIN,              QXM_AUTH_ADMIN, false, true,  qxm_admin_faults_delete, NULL, NULL},
    {"GET",    "/_qx/v1/alerts",                         ADMIN,              QXM_AUTH_ADMIN, false, true,  qxm_admin_alerts_list, NULL, NULL},
    {"POST",   "/_qx/v1/alerts",                         QXM_MAX_ALERT_BODY_BYTES, QXM_AUTH_ADMIN, false, true, qxm_admin_alerts_post, NULL, NULL},
    {"DELETE", "/_qx/v1/alerts",                         ADMIN,              QXM_AUTH_ADMIN, false, true,  qxm_admin_alerts_delete, NULL, NULL},
};
/* clang-format on */
#define N_ROUTES (sizeof ROUTES / sizeof ROUTES[0])

/* The query parameters each route of the admin API (/_qx/v1/..., and
 * /metrics) takes, by method and path as in ROUTES; a route not listed
 * takes none. Any other name is answered 400 naming it, before the
 * handler: a misspelt filter (httpStatuss=200) must not silently list
 * everything. */
/* clang-format off */
static const struct route_params {
    const char *method, *path;
    const char *const names[10];
} ROUTE_PARAMS[] = {
    {"GET", "/_qx/v1/runs",      {"workflowId", "status", "since", "until", "identity", "order", "limit", "cursor", "fields"}},
    {"GET", "/_qx/v1/runs/wait", {"workflowId", "status", "since", "until", "count", "timeoutMs"}},
    {"GET", "/_qx/v1/requests",  {"httpStatus", "reason", "workflowId", "since", "until", "order", "limit", "cursor"}},
    {"GET", "/_qx/v1/stats",     {"workflowId", "status", "since", "until", "bucketMs"}},
    {"GET", "/_qx/v1/alerts",    {"limit"}},
};
/* clang-format on */
#define N_ROUTE_PARAMS (sizeof ROUTE_PARAMS / sizeof ROUTE_PARAMS[0])
#define ADMIN_PREFIX "/_qx/"

static qxm_handler refuse_route;
/* Taken by every request no route of the table takes. */
static const qxm_route NO_ROUTE = {NULL,         NULL, ADMIN, QXM_AUTH_ADMIN, false, true,
                                   refuse_route, NULL, NULL};

/* Whether pattern, which holds one segment "{id}" (the last, or followed
 * by a fixed "/rest"), takes path: equal before and after that segment,
 * which matches one non-empty segment. */
static bool pattern_matches(const char *pattern, const char *path)
{
    const char *brace = strstr(pattern, "{id}");
    if (brace == NULL)
        return false;
    size_t n = (size_t)(brace - pattern);
    if (strncmp(pattern, path, n) != 0)
        return false;
    size_t id_len = strcspn(path + n, "/");
    return id_len > 0 && strcmp(path + n + id_len, brace + 4) == 0;
}

static bool method_matches(const char *want, const char *method)
{
    if (want == NULL || strcmp(want, method) == 0)
        return true;
    return strcmp(want, "GET") == 0 && strcmp(method, "HEAD") == 0;
}

/* Collects into out the routes that take path: the ones naming it exactly
 * when there are any, else the patterns. Returns how many. */
static size_t routes_of(const char *path, const qxm_route **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < N_ROUTES && n < max; i++)
        if (strcmp(ROUTES[i].path, path) == 0)
            out[n++] = &ROUTES[i];
    if (n > 0)
        return n;
    for (size_t i = 0; i < N_ROUTES && n < max; i++)
        if (pattern_matches(ROUTES[i].path, path))
            out[n++] = &ROUTES[i];
    return n;
}

const qxm_route *qxm_route_find(const char *method, const char *path)
{
    const qxm_route *of_path[8];
    size_t n = routes_of(path, of_path, 8);
    for (size_t i = 0; i < n; i++)
        if (method_matches(of_path[i]->method, method))
            return of_path[i];
    return &NO_ROUTE;
}

/* 405 with Allow for a known path, else 404. */
static void refuse_route(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    (void)m;
    const qxm_route *of_path[8];
    size_t n = routes_of(req->path, of_path, 8);
    if (n == 0) {
        qxm_answer_error(ans, 404, "no such resource", "QX_NOT_FOUND", NULL);
        return;
    }
    size_t len = 0;
    for (size_t i = 0; i < n && of_path[i]->method != NULL; i++) {
        int w = snprintf(ans->allow + len, sizeof ans->allow - len, "%s%s", len ? ", " : "",
                         of_path[i]->method);
        if (w < 0 || (size_t)w >= sizeof ans->allow - len)
            break;
        len += (size_t)w;
    }
    const char *msg = of_path[0]->refusal != NULL ? of_path[0]->refusal : "method not allowed";
    qxm_answer_error(ans, 405, msg, "QX_METHOD_NOT_ALLOWED", NULL);
}

/* Whether r's query parameters are checked: the admin API's and /metrics
 * (the page's and the JSON-event endpoint's are not ours to police). */
static bool checks_params(const qxm_route *r)
{
    return r->path != NULL && (strncmp(r->path, ADMIN_PREFIX, strlen(ADMIN_PREFIX)) == 0 ||
                               strcmp(r->path, "/metrics") == 0);
}

/* The names r takes, NULL-terminated (an empty list when it takes none). */
static const char *const *params_of(const qxm_route *r)
{
    static const char *const none[1] = {NULL};
    const char *method = r->method != NULL ? r->method : "";
    for (size_t i = 0; i < N_ROUTE_PARAMS; i++)
        if (strcmp(ROUTE_PARAMS[i].method, method) == 0 &&
            strcmp(ROUTE_PARAMS[i].path, r->path) == 0)
            return ROUTE_PARAMS[i].names;
    return none;
}

/* True when every query parameter of req is one r takes; else false with
 * ans set to a 400 naming the first that is not, and what r takes. */
static bool params_known(const qxm_route *r, const qxm_request *req, qxm_answer *ans)
{
    if (!checks_params(r))
        return true;
    const char *const *names = params_of(r);
    if (req->more_query_args) {
        qxm_bad_request(ans, "too many query parameters (at most %d)", QXM_EVENT_MAX_QUERY_ARGS);
        return false;
    }
    for (size_t i = 0; i < req->n_query_args; i++) {
        const qxm_header *q = &req->query_args[i];
        bool known = false;
        for (size_t k = 0; names[k] != NULL && !known; k++)
            known = strlen(names[k]) == q->name_len && memcmp(names[k], q->name, q->name_len) == 0;
        if (known)
            continue;
        char expected[256] = "";
        size_t len = 0;
        for (size_t k = 0; names[k] != NULL && len < sizeof expected; k++) {
            int w = snprintf(expected + len, sizeof expected - len, "%s%s", k > 0 ? ", " : "",
                             names[k]);
            len += w > 0 ? (size_t)w : 0;
        }
        /* The name as printable ASCII (the message is JSON text, and a
         * decoded name may hold any byte, NUL and invalid UTF-8 included). */
        char name[101];
        size_t n = q->name_len < sizeof name - 1 ? q->name_len : sizeof name - 1;
        for (size_t k = 0; k < n; k++)
            name[k] = (unsigned char)q->name[k] >= 0x20 && (unsigned char)q->name[k] < 0x7f
                          ? q->name[k]
                          : '?';
        name[n] = '\0';
        if (names[0] == NULL)
            qxm_bad_request(ans, "unknown query parameter \"%s\" (this route takes none)", name);
        else
            qxm_bad_request(ans, "unknown query parameter \"%s\" (expected one of: %s)", name,
                            expected);
        return false;
    }
    return true;
}

/* The token of "Authorization: Bearer TOKEN" (the scheme in any case,
 * the spaces after it skipped; trailing white space is already dropped),
 * with its length; NULL when the request has none. */
static const char *bearer_token(const qxm_request *req, size_t *len)
{
    const char *h = req->authorization;
    size_t n = req->authorization_len;
    if (h == NULL || n < 7 || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    size_t skip = 7;
    while (skip < n && h[skip] == ' ')
        skip++;
    *len = n - skip;
    return h + skip;
}

/* True when the token given (len bytes, NULL: none) is expected, compared
 * in constant time over its length: a NUL inside cannot cut it short. */
static bool token_matches(const char *given, size_t len, const char *expected)
{
    return given != NULL && qx_secret_equals_n(given, len, expected, strlen(expected));
}

/* True when no admin token is required or req carries it. */
static bool admin_authorized(const qxm_mock *m, const qxm_request *req)
{
    if (m->admin_token == NULL)
        return true;
    size_t len = req->admin_token_header_len;
    const char *given = req->admin_token_header;
    if (given == NULL)
        given = bearer_token(req, &len);
    return token_matches(given, len, m->admin_token);
}

/* True when no token is required for r or req carries it: the admin token
 * (as Bearer or X-QX-ADMIN-TOKEN) for the admin API, the metrics token (as
 * Bearer, what Prometheus sends) for /metrics. */
static bool token_authorized(const qxm_mock *m, const qxm_route *r, const qxm_request *req)
{
    if (r->auth == QXM_AUTH_METRICS) {
        if (m->metrics_token == NULL)
            return true;
        size_t len = 0;
        const char *given = bearer_token(req, &len);
        return token_matches(given, len, m->metrics_token);
    }
    return r->auth != QXM_AUTH_ADMIN || admin_authorized(m, req);
}

/* Whether host (lowercase, no brackets, no port) is a loopback address
 * (127.0.0.0/8, ::1) or localhost. */
static bool is_loopback_host(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strcmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* Splits an authority "host[:port]" or "[v6][:port]" into host (lowercased,
 * without brackets) and *port (default_port when absent). Returns 0, or -1
 * when a is not one. */
static int split_authority(const char *a, size_t len, char *host, size_t host_size,
                           long default_port, long *port)
{
    const char *h = a, *colon = NULL;
    size_t hlen;
    if (len > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', len);
        if (close == NULL)
            return -1;
        h = a + 1;
        hlen = (size_t)(close - h);
        if (close + 1 < a + len) {
            if (close[1] != ':')
                return -1;
            colon = close + 1;
        }
    } else {
        colon = memchr(a, ':', len);
        hlen = colon != NULL ? (size_t)(colon - a) : len;
    }
    if (hlen == 0 || hlen >= host_size)
        return -1;
    for (size_t i = 0; i < hlen; i++)
        host[i] = (char)(h[i] >= 'A' && h[i] <= 'Z' ? h[i] - 'A' + 'a' : h[i]);
    host[hlen] = '\0';
    *port = default_port;
    if (colon == NULL)
        return 0;
    const char *p = colon + 1, *end = a + len;
    if (p == end || end - p > 5)
        return -1;
    long v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v > 65535)
        return -1;
    *port = v;
    return 0;
}

/* 421 unless the Host header names loopback, localhost or an --allow-host
 * name (checked only while listening on loopback; no Host at all is an
 * HTTP/1.0 client, not a browser). */
static bool host_allowed(const qxm_mock *m, const char *host_header)
{
    char host[QXM_ALLOW_HOST_MAX];
    long port;
    /* Listening on loopback (as qxm_mock_is_loopback, without calling up
     * into mock.c). */
    if (host_header == NULL || !is_loopback_host(m->listen_host))
        return true;
    if (split_authority(host_header, strlen(host_header), host, sizeof host, 0, &port) != 0)
        return false;
    if (is_loopback_host(host))
        return true;
    for (unsigned i = 0; i < m->opt.n_allow_hosts; i++)
        if (strcasecmp(host, m->opt.allow_hosts[i]) == 0)
            return true;
    return false;
}

/* Whether a state-changing request's Origin (absent: not a browser's
 * cross-origin request) is the origin it was sent to: the same host and
 * port as its Host header. "null" (a sandboxed or file: page) is not. */
static bool origin_matches(const qxm_mock *m, const qxm_request *req)
{
    if (req->origin == NULL)
        return true;
    if (req->host == NULL)
        return false;
    const char *o = req->origin;
    long default_port;
    if (strncasecmp(o, "http://", 7) == 0) {
        default_port = 80;
        o += 7;
    } else if (strncasecmp(o, "https://", 8) == 0) {
        default_port = 443;
        o += 8;
    } else {
        return false;
    }
    char oh[QXM_ALLOW_HOST_MAX], hh[QXM_ALLOW_HOST_MAX];
    long op, hp;
    long own_port = m->tls_cert != NULL ? 443 : 80;
    return split_authority(o, strlen(o), oh, sizeof oh, default_port, &op) == 0 &&
           split_authority(req->host, strlen(req->host), hh, sizeof hh, own_port, &hp) == 0 &&
           op == hp && strcmp(oh, hh) == 0;
}

static bool changes_state(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
           strcmp(method, "DELETE") == 0 || strcmp(method, "PATCH") == 0;
}

bool qxm_route_admit(qxm_mock *m, const qxm_route *r, const qxm_request *req, qxm_answer *ans)
{
    if (r->browser && !host_allowed(m, req->host)) {
        qxm_answer_error(ans, 421,
                         "misdirected request: the Host header is not this server's "
                         "(a loopback address, localhost or an --allow-host name)",
                         "QX_MISDIRECTED", NULL);
        return false;
    }
    if (r->browser && changes_state(req->method) && !origin_matches(m, req)) {
        qxm_answer_error(ans, 403, "cross-origin request refused: Origin is not this server",
                         "QX_FORBIDDEN_ORIGIN", NULL);
        return false;
    }
    if (r->auth == QXM_AUTH_METRICS && !token_authorized(m, r, req)) {
        qxm_answer_error(ans, 401, "metrics token required: send Authorization: Bearer <token>",
                         "QX_METRICS_AUTH", NULL);
        ans->challenge = QXM_METRICS_CHALLENGE;
        return false;
    }
    if (r->auth == QXM_AUTH_ADMIN && !token_authorized(m, r, req)) {
        qxm_answer_error(ans, 401,
                         "admin token required: send Authorization: Bearer <token> or "
                         "X-QX-ADMIN-TOKEN",
                         "QX_ADMIN_AUTH", NULL);
        ans->challenge = QXM_ADMIN_CHALLENGE;
        return false;
    }
    return params_known(r, req, ans);
}

void qxm_route_dispatch(qxm_mock *m, const qxm_route *r, const qxm_request *req, qxm_answer *ans)
{
    if (qxm_route_admit(m, r, req, ans))
        r->handler(m, req, ans);
}
