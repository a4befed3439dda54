/*
 * fuzz_admin.c — the admin API's query parser and handlers, through the
 * route table (no network): every numeric and time parameter, the filters,
 * the browser guards (Host, Origin) and the import's NDJSON.
 *
 * The input is text: a request line "METHOD PATH[?QUERY]", then the Host
 * header, then the Origin header (an empty line: absent), then the body.
 * The query is split on '&' and '=' as given (no percent-decoding: the
 * handlers see what libmicrohttpd would hand them). The emulator is created
 * once, not listening, on a loopback address so that the Host guard runs.
 * Every request must get an answer with a status; a long-poll's waiter is
 * answered at once.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PARAMS 32
#define MAX_INPUT 65536

static qxm_mock *mock;

static const char config_text[] =
    "{\"users\":[{\"username\":\"u@example.com\",\"apiToken\":\"T1\"}],"
    "\"workflows\":[{\"id\":\"W\",\"urlTokenId\":\"tok\"}]}";

static struct {
    size_t n;
    const char *name[MAX_PARAMS], *value[MAX_PARAMS];
} params;

static const char *query(void *ctx, const char *name)
{
    (void)ctx;
    for (size_t i = 0; i < params.n; i++)
        if (strcmp(params.name[i], name) == 0)
            return params.value[i];
    return NULL;
}

static void init(void)
{
    json_t *doc = json_loads(config_text, 0, NULL);
    qx_error err;
    qxm_config *cfg = qxm_config_from_json(doc, &err);
    json_decref(doc);
    if (cfg == NULL)
        abort();
    qxm_options opt = {.listen = "127.0.0.1:0", .seeded = true, .seed = 1};
    mock = qxm_mock_new(cfg, &opt, &err);
    if (mock == NULL)
        abort();
}

/* Cuts the next line off *text (NUL-terminating it); NULL when none is left. */
static char *next_line(char **text)
{
    if (*text == NULL)
        return NULL;
    char *line = *text;
    char *nl = strchr(line, '\n');
    if (nl != NULL) {
        *nl = '\0';
        *text = nl + 1;
    } else {
        *text = NULL;
    }
    return line;
}

static void split_query(char *q)
{
    params.n = 0;
    while (q != NULL && *q != '\0' && params.n < MAX_PARAMS) {
        char *amp = strchr(q, '&');
        if (amp != NULL)
            *amp = '\0';
        char *eq = strchr(q, '=');
        if (eq != NULL)
            *eq = '\0';
        params.name[params.n] = q;
        params.value[params.n] = eq != NULL ? eq + 1 : "";
        params.n++;
        q = amp != NULL ? amp + 1 : NULL;
    }
}

/* Reads an export to its end, as server.c's stream reader would. */
static void drain(qxm_answer *ans)
{
    int64_t cursor = 0;
    for (int pages = 0; cursor >= 0 && pages < 1000; pages++) {
        size_t len = 0;
        char *piece = ans->chunk(mock, &cursor, &len);
        free(piece);
        if (piece == NULL)
            break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (mock == NULL)
        init();
    if (size == 0 || size > MAX_INPUT)
        return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char *rest = text;
    char *line = next_line(&rest);
    char *host = next_line(&rest);
    char *origin = next_line(&rest);
    char *sp = strchr(line, ' ');
    if (sp == NULL) {
        free(text);
        return 0;
    }
    *sp = '\0';
    const char *method = line;
    char *path = sp + 1;
    char *q = strchr(path, '?');
    if (q != NULL)
        *q++ = '\0';
    split_query(q);
    const qxm_route *r = qxm_route_find(method, path);
    if (r->event) { /* the JSON-event endpoint has fuzz_ingest */
        free(text);
        return 0;
    }
    const char *body = rest != NULL ? rest : "";
    qxm_request req = {
        .method = method,
        .path = path,
        .query = query,
        .content_type = "application/x-ndjson",
        .host = host != NULL && *host != '\0' ? host : NULL,
        .origin = origin != NULL && *origin != '\0' ? origin : NULL,
        .body = body,
        .body_len = strlen(body),
        .received_ms = 1700000000000,
    };
    /* The names, as server.c collects them for the unknown-parameter check. */
    for (size_t i = 0; i < params.n; i++) {
        if (req.n_query_args == QXM_EVENT_MAX_QUERY_ARGS) {
            req.more_query_args = true;
            break;
        }
        req.query_args[req.n_query_args++] = (qxm_header){.name = params.name[i],
                                                          .name_len = strlen(params.name[i]),
                                                          .value = params.value[i],
                                                          .value_len = strlen(params.value[i])};
    }
    qxm_answer ans = {0};
    qxm_route_dispatch(mock, r, &req, &ans);
    if (ans.waiter != NULL) {
        qxm_waiter *w = ans.waiter;
        ans.waiter = NULL;
        qxm_answer_clear(&ans);
        qxm_admin_wait_answer(mock, w, &ans);
        free(w);
    }
    if (ans.chunk != NULL)
        drain(&ans);
    /* every request gets an answer, with a body unless it is one that has
     * none (204 for /favicon.ico, 304 for a validator that still holds) */
    bool bodiless = ans.status == 204 || ans.status == 304;
    if (ans.status < 100 || ans.status > 599 ||
        (ans.json == NULL && ans.text == NULL && ans.chunk == NULL && !bodiless))
        abort();
    qxm_answer_clear(&ans);
    free(text);
    return 0;
}
