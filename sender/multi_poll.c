/*
 * multi_poll.c — libcurl's socket and timer callbacks, and the poll() that
 * serves them.
 *
 * The socket table is a plain array of pollfd, searched linearly: it holds a
 * socket per request in flight (at most --concurrency, 256) and changes a
 * few times per request, so a search costs less than the bookkeeping of
 * anything cleverer. A wait copies it, appends the caller's descriptors and
 * polls the copy, because libcurl may close and open sockets (and so change
 * the table) while it is handed the ready ones.
 */
#include "qxs_multi_poll.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "qx_clock.h"

struct qxs_multi_poll {
    CURLM *multi;
    struct pollfd *socks; /* the sockets libcurl waits for, and for what */
    size_t n_socks, cap_socks;
    struct pollfd *set; /* the poll set of one wait: socks, then the caller's */
    size_t cap_set;
    int64_t timer_due_ms; /* libcurl's timer (monotonic); -1: none */
};

/* CURLMOPT_SOCKETFUNCTION: what libcurl wants to wait for on socket s. */
static int on_socket(CURL *h, curl_socket_t s, int what, void *ud, void *socketp)
{
    (void)h;
    (void)socketp;
    qxs_multi_poll *p = ud;
    size_t i = 0;
    while (i < p->n_socks && p->socks[i].fd != s)
        i++;
    if (what == CURL_POLL_REMOVE) {
        if (i < p->n_socks)
            p->socks[i] = p->socks[--p->n_socks];
        return 0;
    }
    if (i == p->n_socks) {
        if (p->n_socks == p->cap_socks) {
            size_t cap = p->cap_socks * 2;
            struct pollfd *s2 = realloc(p->socks, cap * sizeof *s2);
            if (s2 == NULL)
                return -1; /* libcurl fails the transfer */
            p->socks = s2;
            p->cap_socks = cap;
        }
        p->socks[p->n_socks++].fd = s;
    }
    p->socks[i].events =
        (short)(((what & CURL_POLL_IN) ? POLLIN : 0) | ((what & CURL_POLL_OUT) ? POLLOUT : 0));
    p->socks[i].revents = 0;
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: when libcurl wants to run next without a socket
 * event (a transfer just added: at once; time-outs). */
static int on_timer(CURLM *m, long timeout_ms, void *ud)
{
    (void)m;
    qxs_multi_poll *p = ud;
    p->timer_due_ms = timeout_ms < 0 ? -1 : qx_mono_ms() + timeout_ms;
    return 0;
}

static int socket_action(qxs_multi_poll *p, curl_socket_t s, int bits, qx_error *err)
{
    int running;
    CURLMcode mc = curl_multi_socket_action(p->multi, s, bits, &running);
    if (mc != CURLM_OK) {
        qx_error_set(err, "curl_multi_socket_action: %s", curl_multi_strerror(mc));
        return -1;
    }
    return 0;
}

/* What poll() saw on a socket, as libcurl's event bits. A hang-up or an
 * error is handed over as readable (or writable) so that libcurl's own read
 * (or connect check) finds out which error it is and reports it. */
static int event_bits(const struct pollfd *s)
{
    int bits = 0;
    if ((s->events & POLLIN) && (s->revents & (POLLIN | POLLHUP | POLLERR)))
        bits |= CURL_CSELECT_IN;
    if ((s->events & POLLOUT) && (s->revents & (POLLOUT | POLLHUP | POLLERR)))
        bits |= CURL_CSELECT_OUT;
    return bits != 0 ? bits : CURL_CSELECT_ERR;
}

qxs_multi_poll *qxs_multi_poll_new(CURLM *multi, size_t expected_sockets)
{
    qxs_multi_poll *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->multi = multi;
    p->cap_socks = expected_sockets > 0 ? expected_sockets : 1;
    p->socks = calloc(p->cap_socks, sizeof *p->socks);
    if (p->socks == NULL) {
        free(p);
        return NULL;
    }
    p->timer_due_ms = -1;
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, p);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, p);
    return p;
}

void qxs_multi_poll_free(qxs_multi_poll *p)
{
    if (p == NULL)
        return;
    free(p->socks);
    free(p->set);
    free(p);
}

int qxs_multi_poll_run_timer(qxs_multi_poll *p, qx_error *err)
{
    if (p->timer_due_ms < 0 || p->timer_due_ms > qx_mono_ms())
        return 0;
    p->timer_due_ms = -1; /* libcurl sets the next one */
    return socket_action(p, CURL_SOCKET_TIMEOUT, 0, err);
}

int qxs_multi_poll_wait(qxs_multi_poll *p, int64_t max_wait_ms, qxs_watch *watch, size_t n_watch,
                        qx_error *err)
{
    int64_t wait = max_wait_ms < 0 ? 0 : max_wait_ms;
    if (p->timer_due_ms >= 0) {
        int64_t until = p->timer_due_ms - qx_mono_ms();
        if (until < wait)
            wait = until > 0 ? until : 0;
    }
    if (wait > INT_MAX)
        wait = INT_MAX;
    size_t n_socks = p->n_socks, n = n_socks + n_watch;
    if (n > p->cap_set) {
        struct pollfd *set = realloc(p->set, n * sizeof *set);
        if (set == NULL) {
            qx_error_set(err, "poll: out of memory");
            return -1;
        }
        p->set = set;
        p->cap_set = n;
    }
    memcpy(p->set, p->socks, n_socks * sizeof *p->set);
    for (size_t i = 0; i < n_watch; i++)
        p->set[n_socks + i] = (struct pollfd){.fd = watch[i].fd, .events = POLLIN};
    int ready = poll(p->set, (nfds_t)n, (int)wait);
    if (ready < 0 && errno != EINTR) {
        qx_error_set(err, "poll: %s", strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < n_watch; i++)
        watch[i].ready = ready > 0 && watch[i].fd >= 0 && p->set[n_socks + i].revents != 0;
    for (size_t i = 0; ready > 0 && i < n_socks; i++)
        if (p->set[i].revents != 0 &&
            socket_action(p, p->set[i].fd, event_bits(&p->set[i]), err) != 0)
            return -1;
    return qxs_multi_poll_run_timer(p, err);
}
