/*
 * server.h — the HTTP front's entry points for mock.c (internal).
 */
#ifndef QXM_SERVER_H
#define QXM_SERVER_H

#include <stddef.h>

#include "mock_internal.h"

/* Splits "HOST:PORT" / "[V6]:PORT". Returns 0, or -1 with err set. */
QX_MUST_CHECK int qxm_server_parse_listen(const char *listen, char *host, size_t host_size,
                                          int *port, qx_error *err);

/* Starts the daemon on m->listen_host:m->listen_port; fills m->url and the
 * real port. Returns 0, or -1 with err set. */
QX_MUST_CHECK int qxm_server_start(qxm_mock *m, qx_error *err);

/* Stops accepting new connections. */
void qxm_server_quiesce(qxm_mock *m);

/* Resumes a suspended connection (a long-poll whose answer is ready). */
void qxm_server_resume(void *conn);

/* Closes every connection and stops the threads. */
void qxm_server_stop(qxm_mock *m);

#endif
