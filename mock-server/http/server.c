/*
 * server.c — the libmicrohttpd front of the emulator.
 *
 * It only translates: an HTTP request becomes a qxm_request (its route looked
 * up once the headers are in, the body gathered up to the route's limit),
 * the route's
 * handler produces a qxm_answer, and this file turns that into a response.
 * An answer that waits suspends its connection: a run to commit (the
 * engine's committer resumes it once the run is stored) or a long-poll (GET
 * /_qx/v1/runs/wait; the engine's scheduler resumes it when enough runs
 * have finished or the wait times out), so no worker thread ever blocks.
 *
 * Daemon mode: an internal epoll thread pool (one thread per CPU by default),
 * a bounded connection count and an idle timeout, so slow clients cannot
 * starve the others. A client that is never idle but never done (one
 * header line every few seconds) is cut off by the watchdog (watchdog.h):
 * its connection is added on libmicrohttpd's start notice and removed on
 * its close notice, and a request is armed from the connection's start or
 * the end of the previous answer until it is complete (on_access); an
 * import's body has its own, longer deadline from the end of its headers.
 * Long-polls are capped (--max-waiters): each holds a connection for up to
 * its timeoutMs, so without a cap they could take every connection. With
 * the cap reached, a long-poll whose client has hung up (libmicrohttpd does
 * not watch a suspended socket) is closed and gives its slot to the new one.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "compress.h"
#include "http_internal.h"
#include "listen.h"
#include "qx_buf.h"
#include "qx_clock.h"
#include "qx_json_write.h"
#include "qx_log.h"
#include "watchdog.h"

/* Seconds a client refused for too many long-polls is told to wait. */
#define QXM_WAITERS_RETRY_AFTER_S 1

/* libmicrohttpd's per-connection memory pool bounds the request line and
 * headers; a larger header block is answered 431 by the library. The body
 * is not kept there. The library zeroes the pool for every request, so its
 * size is paid per request: 16 KiB holds any header block a sender sends
 * (nginx's default limit is 8 KiB), and costs a quarter of 64 KiB. */
#define QXM_CONNECTION_MEMORY_BYTES (16 * 1024)

typedef struct conn_state {
    const qxm_route *route;
    qx_buf body;
    bool too_large;
    qxm_waiter *waiter; /* owned while suspended or resumed */
    qxm_answer pending; /* the answer held back until its run is committed */
    bool committing;
    int64_t start_us;
    int64_t received_ms;
    void *sink_ctx;  /* the route's sink (qxm_body_sink) the body streams to */
    size_t streamed; /* bytes given to it */
    bool refused;    /* refused before its body: early is the answer */
    qxm_answer early;
    bool cacheable; /* a GET or HEAD of the page or the admin API (compress.h) */
} conn_state;

typedef struct stream_state {
    qxm_mock *m;
    qxm_chunk_fn *chunk;
    int64_t cursor;
    char *piece;
    size_t len, off;
} stream_state;

static const char *query_value(void *ctx, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)ctx, MHD_GET_ARGUMENT_KIND, name);
}

static int append_body(conn_state *st, const char *data, size_t n)
{
    if (st->too_large || st->body.len + n > st->route->body_limit) {
        /* Keep reading (and dropping) so the client gets our answer rather
         * than a reset connection. */
        st->too_large = true;
        qx_buf_free(&st->body);
        return 0;
    }
    /* A body usually comes in one piece; the buffer fits it (rounded up to
     * a power of two) and doubles for more. A fixed 8 KiB first buffer cost
     * a trip through malloc's large-chunk path on every request (callgrind:
     * ~11k instructions a request, a tenth of what serving one costs). */
    return qx_buf_add(&st->body, data, n);
}

/* A piece of a body that is streamed (the route has a sink) or refused
 * before it was read (dropped); else kept. Returns 0, or -1 (out of memory). */
static int take_body(conn_state *st, const char *data, size_t n)
{
    if (st->refused)
        return 0;
    if (st->sink_ctx == NULL)
        return append_body(st, data, n);
    if (st->too_large || st->streamed + n > st->route->body_limit) {
        st->too_large = true;
        return 0;
    }
    st->streamed += n;
    st->route->sink->feed(st->sink_ctx, data, n);
    return 0;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream_state *ss = cls;
    while (ss->piece == NULL || ss->off == ss->len) {
        free(ss->piece);
        ss->piece = NULL;
        ss->off = 0;
        if (ss->cursor < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        ss->piece = ss->chunk(ss->m, &ss->cursor, &ss->len);
        if (ss->piece == NULL && ss->cursor >= 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = ss->len - ss->off;
    if (n > max)
        n = max;
    memcpy(buf, ss->piece + ss->off, n);
    ss->off += n;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    stream_state *ss = cls;
    free(ss->piece);
    free(ss);
}

/* The response for a body in memory (malloc'd; taken, *body set to NULL,
 * once the response holds it): with ETag, 304 and gzip (compress.h) for a
 * cacheable request's 200, as it is for any other. */
static struct MHD_Response *buffer_response(struct MHD_Connection *conn, const conn_state *st,
                                            qxm_answer *ans, char **body, size_t len)
{
    if (st->cacheable && ans->status == 200)
        return qxm_cacheable_response(
            body, len,
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH),
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING),
            &ans->status);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, *body, MHD_RESPMEM_MUST_FREE);
    if (resp != NULL)
        *body = NULL; /* MHD frees it now */
    return resp;
}

/* The response for ans's body (JSON, text or a stream); NULL when memory
 * runs out. Takes what it uses from ans. */
static struct MHD_Response *make_response(qxm_mock *m, struct MHD_Connection *conn,
                                          const conn_state *st, qxm_answer *ans)
{
    struct MHD_Response *resp = NULL;
    if (ans->chunk != NULL) {
        stream_state *ss = calloc(1, sizeof *ss);
        if (ss != NULL) {
            *ss = (stream_state){.m = m, .chunk = ans->chunk};
            resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_reader, ss,
                                                     stream_free);
            if (resp == NULL)
                free(ss);
        }
    } else if (ans->json != NULL) {
        qx_buf text = {0};
        if (qx_json_write(&text, ans->json, NULL) == 0 && qx_buf_add(&text, "\n", 1) == 0)
            resp = buffer_response(conn, st, ans, &text.data, text.len);
        qx_buf_free(&text);
    } else {
        resp = buffer_response(conn, st, ans, &ans->text, ans->text_len);
    }
    return resp;
}

static enum MHD_Result send_answer(qxm_mock *m, struct MHD_Connection *conn, conn_state *st,
                                   qxm_answer *ans)
{
    /* Injected latency: this worker thread waits, as a slow service would
     * keep the client waiting (documented: it occupies one HTTP thread). */
    if (ans->delay_ms > 0)
        qx_sleep_ms(ans->delay_ms);
    if (ans->drop) {
        qxm_metrics_observe(m->metrics, st->route->event, 0, qx_mono_us() - st->start_us);
        qxm_answer_clear(ans);
        return MHD_NO; /* libmicrohttpd closes the connection unanswered */
    }
    struct MHD_Response *resp = make_response(m, conn, st, ans);
    if (resp == NULL) {
        qxm_answer_clear(ans);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            ans->content_type != NULL ? ans->content_type : "application/json");
    if (!st->route->event)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (ans->retry_after_s > 0) {
        char v[24];
        snprintf(v, sizeof v, "%u", ans->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
    }
    if (ans->allow[0] != '\0')
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, ans->allow);
    if (ans->challenge != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, ans->challenge);
    if (ans->close)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    int status = ans->status != 0 ? ans->status : 500;
    enum MHD_Result r = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    qxm_metrics_observe(m->metrics, st->route->event, status, qx_mono_us() - st->start_us);
    qxm_answer_clear(ans);
    return r;
}

/* A suspended connection was resumed: its run is committed, or its
 * long-poll is done. */
static enum MHD_Result on_resumed(qxm_mock *m, struct MHD_Connection *conn, conn_state *st)
{
    qxm_answer ans = {0};
    if (st->committing) {
        st->committing = false;
        ans = st->pending;
        st->pending = (qxm_answer){0};
        if (qxm_commit_result(ans.commit) != 0)
            qxm_answer_error(&ans, 500, "the run could not be recorded", "QX_STORE_ERROR", NULL);
        qxm_commit_free(ans.commit);
        ans.commit = NULL;
    } else {
        qxm_admin_wait_answer(m, st->waiter, &ans);
        /* A dropped waiter's slot went to another long-poll. */
        if (!st->waiter->dropped)
            atomic_fetch_sub(&m->waiters, 1);
        free(st->waiter);
        st->waiter = NULL;
    }
    return send_answer(m, conn, st, &ans);
}

/* The value of request header name and its length in *len, NULL when
 * absent. With its length, a NUL inside cannot cut a token short; trailing
 * whitespace is dropped, as it is no part of a field value (RFC 9110
 * section 5.5; libmicrohttpd drops only the leading). */
static const char *header_n(struct MHD_Connection *conn, const char *name, size_t *len)
{
    const char *v = NULL;
    *len = 0;
    if (MHD_lookup_connection_value_n(conn, MHD_HEADER_KIND, name, strlen(name), &v, len) !=
            MHD_YES ||
        v == NULL)
        return NULL;
    while (*len > 0 && (v[*len - 1] == ' ' || v[*len - 1] == '\t'))
        (*len)--;
    return v;
}

/* libmicrohttpd's iterator: one more header into the request. */
static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    qxm_request *req = cls;
    if (req->n_headers == QXM_EVENT_MAX_HEADERS) {
        req->more_headers = true;
        return MHD_NO;
    }
    req->headers[req->n_headers++] = (qxm_header){.name = key,
                                                  .name_len = key_size,
                                                  .value = value != NULL ? value : "",
                                                  .value_len = value != NULL ? value_size : 0};
    return MHD_YES;
}

/* libmicrohttpd's iterator: one more query argument into the request. */
static enum MHD_Result collect_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                         size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    qxm_request *req = cls;
    if (req->n_query_args == QXM_EVENT_MAX_QUERY_ARGS) {
        req->more_query_args = true;
        return MHD_NO;
    }
    req->query_args[req->n_query_args++] =
        (qxm_header){.name = key,
                     .name_len = key_size,
                     .value = value != NULL ? value : "",
                     .value_len = value != NULL ? value_size : 0};
    return MHD_YES;
}

/* The peer's IP address as text into out ("" when unknown). */
static void client_address(struct MHD_Connection *conn, char *out, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;
    out[0] = '\0';
    if (sa != NULL && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)size);
    else if (sa != NULL && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)size);
}

/* The request as the handlers see it. The Authorization header is passed
 * as it came: libmicrohttpd's Basic helper matches the scheme case-sensitively
 * and hands back C strings, which would cut a password at a NUL, so the
 * event handler decodes it itself (ingest.c). A JSON event's request also
 * carries every header and the client's address, for the journal (which
 * leaves the credentials out). */
static qxm_request read_request(struct MHD_Connection *conn, conn_state *st, const char *url,
                                const char *method)
{
    size_t auth_len, api_token_len, admin_len;
    const char *auth = header_n(conn, MHD_HTTP_HEADER_AUTHORIZATION, &auth_len);
    const char *api_token = header_n(conn, "X-API-TOKEN", &api_token_len);
    const char *admin = header_n(conn, "X-QX-ADMIN-TOKEN", &admin_len);
    qxm_request req = {
        .method = method,
        .path = url,
        .query = query_value,
        .query_ctx = conn,
        .content_type =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
        .api_token_header = api_token,
        .api_token_header_len = api_token_len,
        .authorization = auth,
        .authorization_len = auth_len,
        .admin_token_header = admin,
        .admin_token_header_len = admin_len,
        .body = st->body.data,
        .body_len = st->body.len,
        .body_too_large = st->too_large,
        .received_ms = st->received_ms,
    };
    /* Every route's query arguments: the admin API refuses unknown ones. */
    MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, collect_query_arg, &req);
    if (st->route->event) {
        client_address(conn, req.client_address, sizeof req.client_address);
        MHD_get_connection_values_n(conn, MHD_HEADER_KIND, collect_header, &req);
    }
    return req;
}

/* Takes one of the --max-waiters slots for a long-poll; false when all are
 * taken. on_resumed, or on_completed for a connection closed while it
 * waited, gives it back, unless the waiter was dropped: then its slot has
 * passed to the long-poll that dropped it (answer_or_suspend). */
static bool take_waiter_slot(qxm_mock *m)
{
    unsigned n = atomic_load(&m->waiters);
    do {
        if (n >= m->max_waiters)
            return false;
    } while (!atomic_compare_exchange_weak(&m->waiters, &n, n + 1));
    return true;
}

/* Whether the client of a suspended connection has hung up: its socket
 * reads end-of-file (it closed, or half-closed, with nothing unread) or is
 * in error. libmicrohttpd does not watch a suspended socket, so a client
 * gone from a long-poll would otherwise hold its slot (and its connection)
 * until the wait's deadline. A qxm_engine_drop_waiter callback. */
static bool client_gone(void *conn, void *ud)
{
    (void)ud;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci == NULL)
        return false;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0)
        return false;
    if ((p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0)
        return true;
    char c;
    return recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* Sends ans, or suspends the connection when it must wait. */
static enum MHD_Result answer_or_suspend(qxm_mock *m, struct MHD_Connection *conn, conn_state *st,
                                         qxm_answer *ans)
{
    if (ans->commit != NULL) {
        st->pending = *ans;
        st->committing = true;
        MHD_suspend_connection(conn);
        qxm_engine_commit(m->engine, st->pending.commit, conn);
        return MHD_YES;
    }
    /* With every slot taken, a long-poll whose client hung up is dropped
     * and its slot passes to this one. */
    if (ans->waiter != NULL && !take_waiter_slot(m) &&
        !qxm_engine_drop_waiter(m->engine, client_gone, NULL)) {
        free(ans->waiter);
        ans->waiter = NULL;
        qxm_answer_clear(ans);
        char msg[128];
        snprintf(msg, sizeof msg, "too many long-polls waiting (at most %u): retry later",
                 m->max_waiters);
        qxm_answer_error(ans, 503, msg, "QX_TOO_MANY_WAITERS", NULL);
        ans->retry_after_s = QXM_WAITERS_RETRY_AFTER_S;
    }
    if (ans->waiter != NULL) {
        st->waiter = ans->waiter;
        ans->waiter = NULL;
        st->waiter->conn = conn;
        qxm_answer_clear(ans);
        MHD_suspend_connection(conn);
        qxm_engine_add_waiter(m->engine, st->waiter);
        return MHD_YES;
    }
    return send_answer(m, conn, st, ans);
}

/* The headers that frame a request's body, and Host, as counted by
 * count_framing. */
struct framing {
    int content_length, transfer_encoding, host;
    bool chunked; /* every Transfer-Encoding is exactly "chunked" */
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    struct framing *f = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        f->content_length++;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->transfer_encoding++;
        size_t n = strlen(value);
        while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
            n--;
        f->chunked = f->transfer_encoding == 1 && n == 7 && strncasecmp(value, "chunked", 7) == 0;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0) {
        f->host++;
    }
    return MHD_YES;
}

/* RFC 9112: a request whose body could be framed two ways is refused
 * before the body is read (section 6.3: Content-Length and
 * Transfer-Encoding together, a Transfer-Encoding other than chunked;
 * several Content-Lengths, even equal ones, as the simpler of the two
 * choices section 6.3 allows), and so is an HTTP/1.1 request without
 * exactly one Host (section 3.2). libmicrohttpd 0.9.75 takes all of these
 * (the first Content-Length wins, an unknown coding waits for the close).
 * Returns the reason, or NULL when the framing is sound. */
static const char *framing_fault(struct MHD_Connection *conn, const char *version)
{
    struct framing f = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &f);
    if (f.content_length > 1)
        return "several Content-Length headers";
    if (f.content_length > 0 && f.transfer_encoding > 0)
        return "Content-Length together with Transfer-Encoding";
    if (f.transfer_encoding > 0 && !f.chunked)
        return "a Transfer-Encoding other than chunked";
    if (f.host > 1)
        return "several Host headers";
    if (f.host == 0 && strcmp(version, MHD_HTTP_VERSION_1_1) == 0)
        return "an HTTP/1.1 request without Host";
    return NULL;
}

/* What on_request reads besides read_request: the headers of the browser
 * guards (routes.c). */
static void read_browser_headers(struct MHD_Connection *conn, qxm_request *req)
{
    req->host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    req->origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN);
}

/* The first callback, headers in and no body yet: an ambiguous framing is
 * answered 400 now, and the connection closed (what follows cannot be told
 * from a second request); a route whose body is streamed is admitted and
 * its sink opened, so that no byte of a refused body is taken. */
static enum MHD_Result on_headers(qxm_mock *m, struct MHD_Connection *conn, conn_state *st,
                                  const char *url, const char *method, const char *version)
{
    const char *fault = framing_fault(conn, version);
    if (fault != NULL) {
        qxm_answer ans = {0};
        char msg[96];
        snprintf(msg, sizeof msg, "bad request framing: %s", fault);
        qxm_answer_error(&ans, 400, msg, "QX_BAD_FRAMING", NULL);
        ans.close = true;
        return send_answer(m, conn, st, &ans);
    }
    if (st->route->sink == NULL)
        return MHD_YES;
    qxm_request req = read_request(conn, st, url, method);
    read_browser_headers(conn, &req);
    if (qxm_route_admit(m, st->route, &req, &st->early))
        st->sink_ctx = st->route->sink->open(m, &req, &st->early);
    st->refused = st->sink_ctx == NULL;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    qxm_mock *m = cls;
    conn_state *st = *con_cls;
    if (st == NULL) {
        st = calloc(1, sizeof *st);
        if (st == NULL)
            return MHD_NO;
        st->route = qxm_route_find(method, url);
        st->cacheable = st->route->browser && (strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
                                               strcmp(method, MHD_HTTP_METHOD_HEAD) == 0);
        st->start_us = qx_mono_us();
        st->received_ms = qx_now_ms();
        *con_cls = st;
        pthread_mutex_lock(&m->inflight_lock);
        m->inflight++;
        pthread_mutex_unlock(&m->inflight_lock);
        return on_headers(m, conn, st, url, method, version);
    }
    if (*upload_data_size > 0) {
        if (take_body(st, upload_data, *upload_data_size) != 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (st->committing || st->waiter != NULL)
        return on_resumed(m, conn, st);

    if (st->refused) {
        qxm_answer early = st->early;
        st->early = (qxm_answer){0};
        return send_answer(m, conn, st, &early);
    }
    qxm_request req = read_request(conn, st, url, method);
    read_browser_headers(conn, &req);
    req.sink_ctx = st->sink_ctx;
    qxm_answer ans = {0};
    qxm_route_dispatch(m, st->route, &req, &ans);
    return answer_or_suspend(m, conn, st, &ans);
}

/* The watchdog's handle of conn's socket (on_connection); NULL when it has
 * none. */
static qxm_watch *watch_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

/* libmicrohttpd's access handler: on_request, told to the watchdog. The
 * first call of a request comes once its headers are in: an import's body
 * gets its own deadline from then. A later call without body data means
 * the request is complete (or was suspended and is resumed): no deadline
 * until its answer is sent (on_completed arms the next request's), so a
 * run being committed or a long-poll is never overdue. */
static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    qxm_mock *m = cls;
    bool headers_in = *con_cls == NULL;
    if (!headers_in && *upload_data_size == 0)
        qxm_watchdog_disarm(m->watchdog, watch_of(conn));
    enum MHD_Result r =
        on_request(cls, conn, url, method, version, upload_data, upload_data_size, con_cls);
    const conn_state *st = *con_cls;
    if (headers_in && st != NULL && st->route->handler == qxm_admin_import)
        qxm_watchdog_arm(m->watchdog, watch_of(conn), QXM_DEADLINE_IMPORT);
    return r;
}

/* libmicrohttpd's start and close notices of a connection: the watchdog
 * learns of its socket, armed for its first request, and forgets it before
 * libmicrohttpd closes the descriptor (the close notice comes first). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    qxm_mock *m = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        qxm_watchdog_remove(m->watchdog, *socket_context);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci == NULL)
        return;
    *socket_context = qxm_watchdog_add(m->watchdog, ci->connect_fd);
    if (*socket_context == NULL) {
        /* Out of memory: a connection without a deadline could be held for
         * ever, so it is refused. */
        qx_log(QX_LOG_WARN, "http: out of memory: connection refused");
        shutdown(ci->connect_fd, SHUT_RDWR);
    }
}

/* A request is over: answered, or its connection closed. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    qxm_mock *m = cls;
    /* A keep-alive connection's next request has its deadline from now. */
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        qxm_watchdog_arm(m->watchdog, watch_of(conn), QXM_DEADLINE_REQUEST);
    conn_state *st = *con_cls;
    if (st == NULL)
        return;
    qx_buf_free(&st->body);
    if (st->waiter != NULL && !st->waiter->dropped) /* closed while it waited */
        atomic_fetch_sub(&m->waiters, 1);
    free(st->waiter);
    qxm_answer_clear(&st->pending);
    qxm_answer_clear(&st->early);
    if (st->sink_ctx != NULL)
        st->route->sink->close(st->sink_ctx);
    free(st);
    *con_cls = NULL;
    pthread_mutex_lock(&m->inflight_lock);
    if (--m->inflight == 0)
        pthread_cond_broadcast(&m->inflight_done);
    pthread_mutex_unlock(&m->inflight_lock);
}

bool qxm_server_drain(qxm_mock *m, int64_t timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m->inflight_lock);
    int rc = 0;
    while (m->inflight > 0 && rc == 0)
        rc = pthread_cond_timedwait(&m->inflight_done, &m->inflight_lock, &until);
    bool drained = m->inflight == 0;
    pthread_mutex_unlock(&m->inflight_lock);
    return drained;
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

/* The bounds not given to libmicrohttpd: the long-poll cap and the
 * watchdog (whole-request deadlines). Returns 0, or -1 with err set. */
static int start_bounds(qxm_mock *m, unsigned max_conn, qx_error *err)
{
    m->max_waiters = m->opt.max_waiters;
    if (m->max_waiters == 0)
        m->max_waiters = max_conn / 4 > 0 ? max_conn / 4 : 1;
    int64_t request_s =
        m->opt.request_timeout_s ? m->opt.request_timeout_s : QXM_DEFAULT_REQUEST_TIMEOUT_S;
    int64_t import_s =
        m->opt.import_timeout_s ? m->opt.import_timeout_s : QXM_DEFAULT_IMPORT_TIMEOUT_S;
    m->watchdog = qxm_watchdog_new(request_s * 1000, import_s * 1000);
    if (m->watchdog == NULL) {
        qx_error_set(err, "cannot start the request watchdog");
        return -1;
    }
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
    int fd = qxm_listen_open(ai->ai_addr, ai->ai_addrlen, m->listen_host, m->listen_port, err);
    if (fd < 0 || start_bounds(m, max_conn, err) != 0) {
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    int port = qxm_listen_port(fd);
    /* From here the socket is libmicrohttpd's: it closes it at stop (and on
     * a failed start). */
    m->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, m, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT, max_conn,
        MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)QXM_CONNECTION_MEMORY_BYTES, MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, m, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, m->tls_cert, MHD_OPTION_HTTPS_MEM_KEY,
        m->tls_key, MHD_OPTION_END);
    bool v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    if (m->daemon == NULL) {
        qxm_watchdog_free(m->watchdog);
        m->watchdog = NULL;
        qx_error_set(err,
                     "cannot serve on %s:%d: the HTTP server did not start (run with -vv "
                     "for its reason)",
                     m->listen_host, m->listen_port);
        return -1;
    }
    if (port > 0)
        m->listen_port = port;
    snprintf(m->url, sizeof m->url, v6 ? "%s://[%s]:%d" : "%s://%s:%d", tls ? "https" : "http",
             m->listen_host, m->listen_port);
    return 0;
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
    /* After the daemon: its close notices have removed every connection. */
    qxm_watchdog_free(m->watchdog);
    m->watchdog = NULL;
}
