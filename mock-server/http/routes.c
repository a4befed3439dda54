/*
 * routes.c — the route table: every path qx-mock serves, with the methods,
 * body limit, authentication and handler of each, in the manner of redis'
 * command table. server.c looks a request's route up once its headers are
 * in, reads the body up to the route's limit, and dispatches here.
 *
 * A path no route takes is answered 404; a known path with a method no
 * route of it takes, 405 with Allow listing the methods that are. Both, and
 * every admin route, are behind the admin token when qx-mock has one.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http_internal.h"
#include "qx_secret.h"

#define ADMIN QXM_MAX_ADMIN_BODY_BYTES

/* clang-format off */
static const qxm_route ROUTES[] = {
    /* method   path                                      body limit          auth            event handler */
    {NULL,     "/inbound-event/v1/events/json/triggers", QXM_MAX_BODY_BYTES, QXM_AUTH_EVENT, true,  qxm_ingest_handle, NULL},
    {NULL,     "/inbound-event/v1/events/JSON/triggers", QXM_MAX_BODY_BYTES, QXM_AUTH_EVENT, true,  qxm_ingest_handle, NULL},
    {NULL,     "/",                                      ADMIN,              QXM_AUTH_NONE,  false, qxm_page_handle, NULL},
    {NULL,     "/index.html",                            ADMIN,              QXM_AUTH_NONE,  false, qxm_page_handle, NULL},
    {"GET",    "/metrics",                               ADMIN,              QXM_AUTH_ADMIN, false, qxm_admin_metrics, NULL},
    {"GET",    "/_qx/v1/health",                         ADMIN,              QXM_AUTH_ADMIN, false, qxm_admin_health, NULL},
    {"GET",    "/_qx/v1/workflows",                      ADMIN,              QXM_AUTH_ADMIN, false, qxm_admin_workflows, NULL},
    {"GET",    "/_qx/v1/workflows/{id}/capture",         ADMIN,              QXM_AUTH_ADMIN, false, qxm_admin_capture_get, NULL},
    {"POST",   "/_qx/v1/workflows/{id}/capture",         ADMIN,              QXM_AUTH_ADMIN, false, qxm_admin_capture_arm, NULL},
    {"DELETE", "/_qx/v1/workflows/{id}/capture",         ADMIN,              QXM_AUTH_ADMIN, false, qxm_admin_capture_delete, NULL},
    {"GET",    "/_qx/v1/runs",                           ADMIN,              QXM_AUTH_ADMIN, false, qxm_admin_list_runs, NULL},
    {"DELETE", "/_qx/v1/runs",                           ADMIN,              QXM_AUTH_ADMIN, false, qxm_admin_reset, NULL},
    {"GET",    "/_qx/v1/runs/wait",                      ADMIN,              QXM_AUTH_ADMIN, false, qxm_admin_wait, NULL},
    {"GET",    "/_qx/v1/runs/{id}",                      ADMIN,              QXM_AUTH_ADMIN, false, qxm_admin_get_run, NULL},
    {"GET",    "/_qx/v1/requests",                       ADMIN,              QXM_AUTH_ADMIN, false, qxm_admin_requests, NULL},
    {"GET",    "/_qx/v1/stats",                          ADMIN,              QXM_AUTH_ADMIN, false, qxm_admin_stats, NULL},
    {"GET",    "/_qx/v1/export",                         ADMIN,              QXM_AUTH_ADMIN, false, qxm_admin_export, NULL},
    {"POST",   "/_qx/v1/import",                         QXM_MAX_IMPORT_BYTES, QXM_AUTH_ADMIN, false, qxm_admin_import,
     "method not allowed: POST an NDJSON history"},
    {"GET",    "/_qx/v1/faults",                         ADMIN,              QXM_AUTH_ADMIN, false, qxm_admin_faults_get, NULL},
    {"PUT",    "/_qx/v1/faults",                         ADMIN,              QXM_AUTH_ADMIN, false, qxm_admin_faults_put, NULL},
    {"DELETE", "/_qx/v1/faults",                         ADMIN,              QXM_AUTH_ADMIN, false, qxm_admin_faults_delete, NULL},
};
/* clang-format on */
#define N_ROUTES (sizeof ROUTES / sizeof ROUTES[0])

static qxm_handler refuse_route;
/* Taken by every request no route of the table takes. */
static const qxm_route NO_ROUTE = {NULL, NULL, ADMIN, QXM_AUTH_ADMIN, false, refuse_route, NULL};

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

/* True when no admin token is required or req carries it. */
static bool admin_authorized(const qxm_mock *m, const qxm_request *req)
{
    if (m->admin_token == NULL)
        return true;
    const char *given = req->admin_token_header;
    if (given == NULL && req->authorization != NULL &&
        strncasecmp(req->authorization, "Bearer ", 7) == 0)
        given = req->authorization + 7;
    return qx_secret_equals(given, m->admin_token);
}

void qxm_route_dispatch(qxm_mock *m, const qxm_route *r, const qxm_request *req, qxm_answer *ans)
{
    if (r->auth == QXM_AUTH_ADMIN && !admin_authorized(m, req)) {
        qxm_answer_error(ans, 401,
                         "admin token required: send Authorization: Bearer <token> or "
                         "X-QX-ADMIN-TOKEN",
                         "QX_ADMIN_AUTH", NULL);
        ans->challenge = QXM_ADMIN_CHALLENGE;
        return;
    }
    r->handler(m, req, ans);
}
