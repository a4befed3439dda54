/* listen.c — the emulator's listening socket (see listen.h). */
#include "listen.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

int qxm_listen_open(const struct sockaddr *addr, socklen_t len, const char *host, int port,
                    qx_error *err)
{
    const char *step = "socket";
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    int on = 1;
    step = "setsockopt";
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0)
        goto fail;
    /* "[::]:PORT" is IPv6 alone, as libmicrohttpd does without dual stack */
    if (addr->sa_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0)
        goto fail;
    step = "bind";
    if (bind(fd, addr, len) != 0)
        goto fail;
    step = "listen";
    if (listen(fd, QXM_LISTEN_BACKLOG) != 0)
        goto fail;
    return fd;
fail:;
    int e = errno;
    if (fd >= 0)
        close(fd);
    /* bind's errors speak for themselves; the rarer steps are named */
    if (strcmp(step, "bind") == 0)
        qx_error_set(err, "cannot listen on %s:%d: %s", host, port, strerror(e));
    else
        qx_error_set(err, "cannot listen on %s:%d: %s: %s", host, port, step, strerror(e));
    return -1;
}

int qxm_listen_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}
