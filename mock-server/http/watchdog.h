/*
 * watchdog.h — whole-request deadlines for the HTTP front (internal to
 * http/).
 *
 * libmicrohttpd 0.9.75 only knows idle timeouts: a client that sends one
 * header line every few seconds is never idle and holds its connection for
 * ever (slowloris). The watchdog gives each connection a deadline for its
 * request as a whole and shuts the socket down (shutdown(2), SHUT_RDWR) when
 * it passes; libmicrohttpd then sees the connection end and closes it as it
 * would any other, so the descriptor stays libmicrohttpd's to close.
 *
 * server.c drives it from libmicrohttpd's callbacks: a connection is added
 * when it starts, armed for a request (QXM_DEADLINE_REQUEST) from then and
 * again after each answer, re-armed for an import's body
 * (QXM_DEADLINE_IMPORT) once an import's headers are in, disarmed once the
 * request is complete (dispatched: the answer, a commit or a long-poll is
 * not the client's to hurry), and removed on libmicrohttpd's close notice,
 * which comes before libmicrohttpd closes the descriptor. Add, arm, disarm,
 * remove and the shutdown all happen under the watchdog's lock, so a socket
 * is never shut down after its removal, and a reused descriptor never
 * touched.
 *
 * Every deadline of one kind is "armed time + that kind's timeout", with
 * the time read under the lock: each kind's armed connections form a list
 * already ordered by deadline (arming appends), so arming, disarming and
 * finding the earliest deadline cost O(1). The thread sleeps on a condition
 * variable (CLOCK_MONOTONIC) until the earliest deadline, or for ever when
 * nothing is armed; arming wakes it only when its deadline becomes a list's
 * first.
 *
 * Owns: the thread and every qxm_watch (until removed). Locks: `lock` in
 * watchdog.c guards every list and every qxm_watch; nothing
 * else is shared. No function calls back out of the watchdog.
 */
#ifndef QXM_WATCHDOG_H
#define QXM_WATCHDOG_H

#include <stdint.h>

#include "qx_error.h"

typedef struct qxm_watchdog qxm_watchdog;
typedef struct qxm_watch qxm_watch; /* one connection */

typedef enum qxm_deadline_kind {
    QXM_DEADLINE_REQUEST, /* headers, and any body but an import's */
    QXM_DEADLINE_IMPORT,  /* the body of POST /_qx/v1/import */
    QXM_DEADLINE_KINDS
} qxm_deadline_kind;

/* Starts a watchdog whose deadlines are request_ms and import_ms (both > 0)
 * after arming. Returns it (owned), or NULL when its thread or memory
 * cannot be had. */
QX_MUST_CHECK qxm_watchdog *qxm_watchdog_new(int64_t request_ms, int64_t import_ms);

/* Stops the thread and frees the watchdog, once libmicrohttpd has stopped
 * (its close notices have removed every connection; one still armed is
 * freed, its socket untouched). NULL is a no-op. */
void qxm_watchdog_free(qxm_watchdog *w);

/* Adds the connection on socket fd, armed for a request from now. Returns
 * its handle (owned by the watchdog until qxm_watchdog_remove), or NULL
 * when memory runs out. */
QX_MUST_CHECK qxm_watch *qxm_watchdog_add(qxm_watchdog *w, int fd);

/* (Re-)arms c: its deadline is now + kind's timeout, whatever it was. A
 * connection already shut down stays so. NULL c is a no-op. */
void qxm_watchdog_arm(qxm_watchdog *w, qxm_watch *c, qxm_deadline_kind kind);

/* Lifts c's deadline until it is armed again. NULL c is a no-op. */
void qxm_watchdog_disarm(qxm_watchdog *w, qxm_watch *c);

/* Forgets c and frees it; its socket is never touched again. Call it
 * before the socket is closed. NULL c is a no-op. */
void qxm_watchdog_remove(qxm_watchdog *w, qxm_watch *c);

#endif
