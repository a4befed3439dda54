/*
 * listen.h — the emulator's listening socket, opened by us rather than by
 * libmicrohttpd: MHD_start_daemon only answers NULL when it cannot bind,
 * while a socket of our own tells the system's reason (errno) for a port in
 * use or not permitted. The socket is then handed to libmicrohttpd
 * (MHD_OPTION_LISTEN_SOCKET), which closes it when the daemon stops.
 *
 * Owns: nothing once the socket is returned (the caller owns it).
 * Locks: none.
 * Fails: -1 with err set to "cannot listen on HOST:PORT: <strerror>".
 */
#ifndef QXM_LISTEN_H
#define QXM_LISTEN_H

#include <sys/socket.h>

#include "qx_error.h"

/* How many connections may wait to be accepted. */
#define QXM_LISTEN_BACKLOG 1024

/* Opens a TCP socket bound to addr (SO_REUSEADDR, so a restart need not
 * wait out TIME_WAIT; an IPv6 address listens on IPv6 only), listening,
 * non-blocking and close-on-exec. host and port name the address in the
 * message. Returns the socket (owned: close it, or give it to
 * libmicrohttpd), or -1 with err set. */
QX_MUST_CHECK int qxm_listen_open(const struct sockaddr *addr, socklen_t len, const char *host,
                                  int port, qx_error *err);

/* The port the socket is bound to (the one picked for port 0), or -1. */
int qxm_listen_port(int fd);

#endif
