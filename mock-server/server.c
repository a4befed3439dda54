/*
 * server.c — the libmicrohttpd front of the emulator.
 *
 * It only translates: an HTTP request becomes a qxm_request (body gathered up
 * to the endpoint's limit, Basic credentials decoded by libmicrohttpd), the
 * handlers in ingest.c / admin_api.c produce a qxm_answer, and this file
 * turns that into a response. Long-polls (GET /_qx/v1/runs/wait) suspend
 * their connection; the scheduler thread in mock.c resumes it when enough
 * runs have finished or the wait times out, so no worker thread ever blocks.
 *
 * Daemon mode: an internal epoll thread pool (one thread per CPU by default),
 * a bounded connection count and an idle timeout, so slow clients cannot
 * starve the others.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "commit.h"
#include "qx_json_write.h"
#include "mock_internal.h"
#include "qx_clock.h"
#include "qx_log.h"
#include "server.h"

/* Bodies of admin requests other than import are small JSON. */
#define QXM_MAX_ADMIN_BODY_BYTES (1024 * 1024)
/* libmicrohttpd's per-connection memory pool bounds the request line and
 * headers; a larger header block is answered 431 by the library. The body
 * is not kept there. The library zeroes the pool for every request, so its
 * size is paid per request: 16 KiB holds any header block a sender sends
 * (nginx's default limit is 8 KiB), and costs a quarter of 64 KiB. */
#define QXM_CONNECTION_MEMORY_BYTES (16 * 1024)

typedef enum route { ROUTE_INGEST, ROUTE_ADMIN, ROUTE_IMPORT, ROUTE_PAGE } route;

typedef struct conn_state {
    route route;
    char *body;
    size_t len, cap, limit;
    bool too_large;
    qxm_waiter *waiter; /* owned while resumed or before suspending */
    qxm_answer pending; /* the answer held back until its run is committed */
    bool committing;
    bool suspended;
    int64_t start_us;
    int64_t received_ms;
} conn_state;

typedef struct export_state {
    qxm_mock *m;
    int64_t cursor;
    char *chunk;
    size_t len, off;
} export_state;

static const char *query_value(void *ctx, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)ctx, MHD_GET_ARGUMENT_KIND, name);
}

static route route_of(const char *url)
{
    if (qxm_ingest_is_path(url))
        return ROUTE_INGEST;
    if (strcmp(url, "/_qx/v1/import") == 0)
        return ROUTE_IMPORT;
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
        return ROUTE_PAGE;
    return ROUTE_ADMIN;
}

static size_t body_limit(route r)
{
    switch (r) {
    case ROUTE_INGEST:
        return QXM_MAX_BODY_BYTES;
    case ROUTE_IMPORT:
        return QXM_MAX_IMPORT_BYTES;
    default:
        return QXM_MAX_ADMIN_BODY_BYTES;
    }
}

static int append_body(conn_state *st, const char *data, size_t n)
{
    if (st->too_large || st->len + n > st->limit) {
        /* Keep reading (and dropping) so the client gets our answer rather
         * than a reset connection. */
        st->too_large = true;
        free(st->body);
        st->body = NULL;
        st->len = st->cap = 0;
        return 0;
    }
    if (st->len + n + 1 > st->cap) {
        size_t cap = st->cap ? st->cap : 4096;
        while (cap < st->len + n + 1)
            cap *= 2;
        char *p = realloc(st->body, cap);
        if (p == NULL)
            return -1;
        st->body = p;
        st->cap = cap;
    }
    memcpy(st->body + st->len, data, n);
    st->len += n;
    st->body[st->len] = '\0';
    return 0;
}

static ssize_t export_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    export_state *es = cls;
    while (es->chunk == NULL || es->off == es->len) {
        free(es->chunk);
        es->chunk = NULL;
        es->off = 0;
        if (es->cursor < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        es->chunk = qxm_admin_export_chunk(es->m, &es->cursor, &es->len);
        if (es->chunk == NULL && es->cursor >= 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = es->len - es->off;
    if (n > max)
        n = max;
    memcpy(buf, es->chunk + es->off, n);
    es->off += n;
    return (ssize_t)n;
}

static void export_free(void *cls)
{
    export_state *es = cls;
    free(es->chunk);
    free(es);
}

static enum MHD_Result send_answer(qxm_mock *m, struct MHD_Connection *conn, conn_state *st,
                                   qxm_answer *ans)
{
    struct MHD_Response *resp = NULL;
    /* Injected latency: this worker thread waits, as a slow service would
     * keep the client waiting (documented: it occupies one HTTP thread). */
    if (ans->delay_ms > 0)
        qx_sleep_ms(ans->delay_ms);
    if (ans->drop) {
        qxm_metrics_observe(m->metrics, st->route == ROUTE_INGEST, 0, qx_mono_us() - st->start_us);
        qxm_answer_clear(ans);
        return MHD_NO; /* libmicrohttpd closes the connection unanswered */
    }
    if (ans->stream_export) {
        export_state *es = calloc(1, sizeof *es);
        if (es != NULL) {
            es->m = m;
            resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, export_reader, es,
                                                     export_free);
            if (resp == NULL)
                free(es);
        }
    } else if (ans->json != NULL) {
        qx_buf text = {0};
        if (qx_json_write(&text, ans->json, NULL) == 0 && qx_buf_add(&text, "\n", 1) == 0) {
            resp = MHD_create_response_from_buffer(text.len, text.data, MHD_RESPMEM_MUST_FREE);
            if (resp != NULL)
                text.data = NULL; /* MHD frees it now */
        }
        free(text.data);
    } else {
        resp = MHD_create_response_from_buffer(ans->text_len, ans->text, MHD_RESPMEM_MUST_FREE);
        if (resp != NULL)
            ans->text = NULL; /* MHD frees it now */
    }
    if (resp == NULL) {
        qxm_answer_clear(ans);
        return MHD_NO;
    }
    const char *ct = ans->content_type;
    if (ct == NULL)
        ct = "application/json";
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ct);
    if (st->route != ROUTE_INGEST)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (ans->retry_after_s > 0) {
        char v[24];
        snprintf(v, sizeof v, "%u", ans->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
    }
    if (ans->allow != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, ans->allow);
    int status = ans->status != 0 ? ans->status : 500;
    enum MHD_Result r = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    qxm_metrics_observe(m->metrics, st->route == ROUTE_INGEST, status, qx_mono_us() - st->start_us);
    qxm_answer_clear(ans);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    qxm_mock *m = cls;
    conn_state *st = *con_cls;
    if (st == NULL) {
        st = calloc(1, sizeof *st);
        if (st == NULL)
            return MHD_NO;
        st->route = route_of(url);
        st->limit = body_limit(st->route);
        st->start_us = qx_mono_us();
        st->received_ms = qx_now_ms();
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (append_body(st, upload_data, *upload_data_size) != 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }

    qxm_answer ans = {0};
    if (st->committing) {
        /* Resumed by the committer. */
        st->committing = false;
        ans = st->pending;
        st->pending = (qxm_answer){0};
        if (ans.commit->rc != 0)
            qxm_answer_error(&ans, 500, "the run could not be recorded", "QX_STORE_ERROR", NULL);
        qxm_commit_free(ans.commit);
        ans.commit = NULL;
        return send_answer(m, conn, st, &ans);
    }
    if (st->waiter != NULL) {
        /* Resumed long-poll: the scheduler decided. */
        qxm_admin_wait_answer(m, st->waiter, &ans);
        free(st->waiter);
        st->waiter = NULL;
        return send_answer(m, conn, st, &ans);
    }

    char *password = NULL;
    char *user = NULL;
    if (st->route == ROUTE_INGEST)
        user = MHD_basic_auth_get_username_password(conn, &password);
    qxm_request req = {
        .method = method,
        .path = url,
        .query = query_value,
        .query_ctx = conn,
        .content_type =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
        .has_authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_AUTHORIZATION) != NULL,
        .basic_user = user,
        .basic_password = password,
        .api_token_header = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-API-TOKEN"),
        .authorization =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
        .admin_token_header =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-QX-ADMIN-TOKEN"),
        .body = st->body,
        .body_len = st->len,
        .body_too_large = st->too_large,
        .received_ms = st->received_ms,
    };
    switch (st->route) {
    case ROUTE_INGEST:
        qxm_ingest_handle(m, &req, &ans);
        break;
    case ROUTE_PAGE: {
        size_t n;
        const char *html = qxm_page_html(&n);
        ans.status = 200;
        ans.text = malloc(n);
        if (ans.text != NULL)
            memcpy(ans.text, html, n);
        ans.text_len = n;
        ans.content_type = "text/html; charset=utf-8";
        break;
    }
    default:
        qxm_admin_handle(m, &req, &ans);
    }
    if (password != NULL) {
        /* The token leaves memory as soon as it has been checked. */
        explicit_bzero(password, strlen(password));
        MHD_free(password);
    }
    if (user != NULL)
        MHD_free(user);

    if (ans.commit != NULL) {
        ans.commit->conn = conn;
        st->pending = ans;
        st->committing = true;
        MHD_suspend_connection(conn);
        qxm_commit_submit(m, st->pending.commit);
        return MHD_YES;
    }
    if (ans.wait) {
        qxm_waiter *w = calloc(1, sizeof *w);
        if (w == NULL)
            return MHD_NO;
        ans.wait = false;
        if (qxm_admin_wait_prepare(m, &req, w, &ans) != 0) {
            free(w);
            return send_answer(m, conn, st, &ans);
        }
        w->conn = conn;
        st->waiter = w;
        MHD_suspend_connection(conn);
        st->suspended = true;
        qxm_mock_add_waiter(m, w);
        return MHD_YES;
    }
    return send_answer(m, conn, st, &ans);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    conn_state *st = *con_cls;
    if (st == NULL)
        return;
    free(st->body);
    free(st->waiter);
    qxm_answer_clear(&st->pending);
    free(st);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    qx_log(QX_LOG_DEBUG, "http: %s", msg);
}

int qxm_server_parse_listen(const char *listen, char *host, size_t host_size, int *port,
                            qx_error *err)
{
    const char *colon;
    const char *h = listen;
    size_t hlen;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (close == NULL || close[1] != ':') {
            qx_error_set(err, "--listen %s: expected [IPv6]:PORT", listen);
            return -1;
        }
        h = listen + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (colon == NULL) {
            qx_error_set(err, "--listen %s: expected HOST:PORT", listen);
            return -1;
        }
        hlen = (size_t)(colon - listen);
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || p < 0 || p > 65535) {
        qx_error_set(err, "--listen %s: port must be 0 to 65535", listen);
        return -1;
    }
    if (hlen == 0 || hlen >= host_size) {
        qx_error_set(err, "--listen %s: missing or overlong host", listen);
        return -1;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)p;
    return 0;
}

int qxm_server_start(qxm_mock *m, qx_error *err)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", m->listen_port);
    int gai = getaddrinfo(m->listen_host, port_text, &hints, &ai);
    if (gai != 0) {
        qx_error_set(err, "cannot resolve listen host %s: %s", m->listen_host, gai_strerror(gai));
        return -1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    bool tls = m->tls_cert != NULL && m->tls_key != NULL;
    if (tls)
        flags |= MHD_USE_TLS;
    unsigned threads = m->opt.threads;
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }
    unsigned max_conn =
        m->opt.max_connections ? m->opt.max_connections : QXM_DEFAULT_MAX_CONNECTIONS;
    unsigned timeout = m->opt.connection_timeout_s ? m->opt.connection_timeout_s
                                                   : QXM_DEFAULT_CONNECTION_TIMEOUT_S;
    m->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT, max_conn,
        MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)QXM_CONNECTION_MEMORY_BYTES, MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024,
        tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, m->tls_cert, MHD_OPTION_HTTPS_MEM_KEY,
        m->tls_key, MHD_OPTION_END);
    bool v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    if (m->daemon == NULL) {
        qx_error_set(err, "cannot listen on %s:%d (address in use or not permitted?)",
                     m->listen_host, m->listen_port);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info != NULL && info->port != 0)
        m->listen_port = info->port;
    snprintf(m->url, sizeof m->url, v6 ? "%s://[%s]:%d" : "%s://%s:%d", tls ? "https" : "http",
             m->listen_host, m->listen_port);
    return 0;
}

void qxm_server_quiesce(qxm_mock *m)
{
    if (m->daemon != NULL)
        MHD_quiesce_daemon(m->daemon);
}

void qxm_server_resume(void *conn)
{
    MHD_resume_connection((struct MHD_Connection *)conn);
}

void qxm_server_stop(qxm_mock *m)
{
    if (m->daemon != NULL) {
        MHD_stop_daemon(m->daemon);
        m->daemon = NULL;
    }
}
