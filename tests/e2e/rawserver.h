/*
 * rawserver.h — a misbehaving HTTP server for qx-send's end-to-end tests,
 * on raw sockets so that it can do what no HTTP library would: answer
 * bytes that are not HTTP, never answer, close in the middle of a response.
 * It also answers plainly (200, 200 with a non-JSON body, 401, a redirect)
 * and records every byte it received, so a test can check what reached it
 * (a credential, say) and what did not.
 *
 * One thread accepts on 127.0.0.1:0 and serves one connection at a time
 * (enough for qx-send --concurrency 1), reading each request whole
 * (headers, then Content-Length bytes of body) before acting.
 *
 * Locking: `lock` guards everything the test and the server thread share
 * (location, the counters, seen); the test goes through raw_set_location,
 * raw_requests, raw_connections, raw_saw and raw_seen_len, never the fields.
 *
 * Header-only (static functions, RAW_FN) because each e2e test is one source file
 * plus harness.c; include it in one translation unit only.
 */
#ifndef QX_TEST_RAWSERVER_H
#define QX_TEST_RAWSERVER_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

typedef enum raw_mode {
    RAW_OK,           /* 200 with a JSON body, connection kept */
    RAW_OK_NOT_JSON,  /* 200 with an HTML body, connection kept */
    RAW_UNAUTHORIZED, /* 401 with the emulator's error envelope */
    RAW_REDIRECT,     /* 302 to location, connection kept */
    RAW_GARBAGE,      /* bytes that are not HTTP, then close */
    RAW_SILENT,       /* read the request, never answer, wait for the client to go */
    RAW_HALF,         /* a 200 head promising 100 bytes, 10 of them, then close */
} raw_mode;

/* unused in a test that needs only some of them: not a warning */
#define RAW_FN static __attribute__((unused))

#define RAW_SEEN_MAX (1 << 20)
#define RAW_IO_TIMEOUT_MS 30000

typedef struct raw_server {
    int listen_fd;
    int port;
    int stop_pipe[2];
    pthread_t thread;
    raw_mode mode; /* set before the thread starts, then only read */
    pthread_mutex_t lock;
    char location[256]; /* Location of RAW_REDIRECT answers */
    int requests;       /* complete requests read */
    int connections;    /* accepted */
    char *seen;         /* every byte received, NUL-terminated (up to RAW_SEEN_MAX) */
    size_t seen_len;
} raw_server;

/* Waits until fd is readable; false on stop or time-out. */
RAW_FN bool raw_wait(raw_server *s, int fd)
{
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = s->stop_pipe[0], .events = POLLIN}};
    return poll(p, 2, RAW_IO_TIMEOUT_MS) > 0 && p[1].revents == 0 && p[0].revents != 0;
}

RAW_FN void raw_write(int fd, const char *text, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, text, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        text += w;
        n -= (size_t)w;
    }
}

RAW_FN void raw_record(raw_server *s, const char *data, size_t n)
{
    pthread_mutex_lock(&s->lock);
    if (s->seen_len + n > RAW_SEEN_MAX)
        n = RAW_SEEN_MAX - s->seen_len;
    memcpy(s->seen + s->seen_len, data, n);
    s->seen_len += n;
    s->seen[s->seen_len] = '\0';
    pthread_mutex_unlock(&s->lock);
}

/* Reads one whole request from fd; false when the client went away. */
RAW_FN bool raw_read_request(raw_server *s, int fd)
{
    char buf[65536];
    size_t len = 0;
    char *end = NULL;
    while (end == NULL) {
        if (len == sizeof buf - 1 || !raw_wait(s, fd))
            return false;
        ssize_t r = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (r <= 0)
            return false;
        raw_record(s, buf + len, (size_t)r);
        len += (size_t)r;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t body_have = len - (size_t)(end + 4 - buf);
    size_t body_len = 0;
    for (char *h = buf; h != NULL && h < end; h = strstr(h, "\r\n") ? strstr(h, "\r\n") + 2 : NULL)
        if (strncasecmp(h, "Content-Length:", 15) == 0)
            body_len = strtoul(h + 15, NULL, 10);
    while (body_have < body_len) {
        if (!raw_wait(s, fd))
            return false;
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r <= 0)
            return false;
        raw_record(s, buf, (size_t)r);
        body_have += (size_t)r;
    }
    pthread_mutex_lock(&s->lock);
    s->requests++;
    pthread_mutex_unlock(&s->lock);
    return true;
}

/* Writes a complete answer with its Content-Length. */
RAW_FN void raw_answer(int fd, const char *status, const char *headers, const char *body)
{
    char head[1024];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\n\r\n", status,
                     headers, strlen(body));
    if (n > 0 && (size_t)n < sizeof head) {
        raw_write(fd, head, (size_t)n);
        raw_write(fd, body, strlen(body));
    }
}

RAW_FN void raw_serve(raw_server *s, int fd)
{
    static const char garbage[] = "\x01\x02 SSH-2.0-not-http \xff\xfe\r\n\r\n";
    static const char half[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               "Content-Length: 100\r\n\r\n{\"result\":";
    while (raw_read_request(s, fd)) {
        char location[300];
        switch (s->mode) {
        case RAW_OK:
            raw_answer(fd, "200 OK", "Content-Type: application/json\r\n",
                       "{\"result\": {}, \"meta\": {\"httpStatus\": \"200 - OK\"}}");
            continue;
        case RAW_OK_NOT_JSON:
            raw_answer(fd, "200 OK", "Content-Type: text/html\r\n", "<html>thanks! ok.</html>");
            continue;
        case RAW_UNAUTHORIZED:
            raw_answer(fd, "401 Unauthorized", "Content-Type: application/json\r\n",
                       "{\"meta\": {\"httpStatus\": \"401 - Unauthorized\", \"error\": "
                       "{\"errorMessage\": \"bad credentials\", \"errorCode\": \"AUTH\"}}}");
            continue;
        case RAW_REDIRECT:
            pthread_mutex_lock(&s->lock);
            snprintf(location, sizeof location, "Location: %s\r\n", s->location);
            pthread_mutex_unlock(&s->lock);
            raw_answer(fd, "302 Found", location, "");
            continue;
        case RAW_GARBAGE:
            raw_write(fd, garbage, sizeof garbage - 1);
            return;
        case RAW_HALF:
            raw_write(fd, half, sizeof half - 1);
            return;
        case RAW_SILENT: {
            char sink[4096];
            while (raw_wait(s, fd) && recv(fd, sink, sizeof sink, 0) > 0)
                ;
            return;
        }
        }
    }
}

RAW_FN void *raw_main(void *arg)
{
    raw_server *s = arg;
    for (;;) {
        if (!raw_wait(s, s->listen_fd)) {
            char c;
            struct pollfd p = {.fd = s->stop_pipe[0], .events = POLLIN};
            if (poll(&p, 1, 0) > 0 && read(s->stop_pipe[0], &c, 1) >= 0)
                break;
            continue;
        }
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&s->lock);
        s->connections++;
        pthread_mutex_unlock(&s->lock);
        raw_serve(s, fd);
        close(fd);
    }
    return NULL;
}

/* Starts a server on 127.0.0.1:0 in mode; NULL on failure. */
RAW_FN raw_server *raw_start(raw_mode mode)
{
    raw_server *s = calloc(1, sizeof *s);
    s->mode = mode;
    s->seen = calloc(1, RAW_SEEN_MAX + 1);
    pthread_mutex_init(&s->lock, NULL);
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(s->listen_fd, 16) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&a, &alen) != 0 || pipe(s->stop_pipe) != 0 ||
        pthread_create(&s->thread, NULL, raw_main, s) != 0) {
        perror("rawserver");
        return NULL;
    }
    s->port = ntohs(a.sin_port);
    return s;
}

/* Stops the thread and frees s; NULL is a no-op. */
RAW_FN void raw_stop(raw_server *s)
{
    if (s == NULL)
        return;
    ssize_t n = write(s->stop_pipe[1], "s", 1);
    (void)n;
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    pthread_mutex_destroy(&s->lock);
    free(s->seen);
    free(s);
}

/* Where RAW_REDIRECT answers point. */
RAW_FN void raw_set_location(raw_server *s, const char *location)
{
    pthread_mutex_lock(&s->lock);
    snprintf(s->location, sizeof s->location, "%s", location);
    pthread_mutex_unlock(&s->lock);
}

/* Whether text is among the bytes received so far. */
RAW_FN bool raw_saw(raw_server *s, const char *text)
{
    pthread_mutex_lock(&s->lock);
    bool found = strstr(s->seen, text) != NULL;
    pthread_mutex_unlock(&s->lock);
    return found;
}

RAW_FN size_t raw_seen_len(raw_server *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->seen_len;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* Counters read under the lock. */
RAW_FN int raw_requests(raw_server *s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->requests;
    pthread_mutex_unlock(&s->lock);
    return n;
}

RAW_FN int raw_connections(raw_server *s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->connections;
    pthread_mutex_unlock(&s->lock);
    return n;
}

#endif
