/*
 * qxs_multi_poll.h — a libcurl multi handle driven by one poll() per wait,
 * together with descriptors of the caller's own (the input, a signal pipe).
 *
 * This is libcurl's event interface (curl_multi_socket_action): libcurl says
 * through its socket and timer callbacks which sockets it waits for and when
 * it wants to run next; a wait polls those sockets and the caller's
 * descriptors at once and hands libcurl only the sockets that are ready.
 * Unlike curl_multi_poll + curl_multi_perform, which walks every transfer
 * and checks each socket with a poll() of its own on every call, the cost
 * of a wait does not grow with the number of requests in flight.
 *
 * Transfers are added and removed with curl_multi_add_handle/remove_handle
 * as usual; a transfer added is started by the next qxs_multi_poll_run_timer
 * (libcurl asks for its timer at once). Completed transfers are read with
 * curl_multi_info_read. One thread only.
 *
 * Owns: its socket table; borrows the multi handle.
 * Locks: none; no shared state (one thread).
 * Fails: -1 with err on a poll or libcurl failure, NULL when memory runs
 * out.
 */
#ifndef QXS_MULTI_POLL_H
#define QXS_MULTI_POLL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qx_error.h"

/* A descriptor of the caller's that a wait watches too. */
typedef struct qxs_watch {
    int fd;     /* -1: none */
    bool ready; /* set by the wait: readable (or hung up) */
} qxs_watch;

typedef struct qxs_multi_poll qxs_multi_poll;

/* Takes over multi's socket and timer callbacks (multi is borrowed; clean it
 * up before freeing the poller: that calls the socket callback).
 * expected_sockets sizes the socket table (it grows beyond). Returns a new
 * poller (owned), or NULL when memory runs out. */
QX_MUST_CHECK qxs_multi_poll *qxs_multi_poll_new(CURLM *multi, size_t expected_sockets);

/* Frees p; NULL is a no-op. */
void qxs_multi_poll_free(qxs_multi_poll *p);

/* Runs libcurl's timer if it is due (new transfers start, time-outs fire).
 * Returns 0, or -1 with err set on a libcurl failure. */
QX_MUST_CHECK int qxs_multi_poll_run_timer(qxs_multi_poll *p, qx_error *err);

/* Waits up to max_wait_ms (less when libcurl's timer is due earlier) for a
 * socket of libcurl's or one of the n_watch descriptors in watch, gives
 * libcurl the ready sockets, runs its timer if due and sets watch[i].ready.
 * A signal ends the wait early (nothing ready). Returns 0, or -1 with err
 * set on a poll or libcurl failure. */
QX_MUST_CHECK int qxs_multi_poll_wait(qxs_multi_poll *p, int64_t max_wait_ms, qxs_watch *watch,
                                      size_t n_watch, qx_error *err);

#endif
