/*
 * input.c — the reader thread behind qxs_input.
 *
 * The descriptor is wrapped in a stdio stream whose read function first
 * poll()s the descriptor together with two stop descriptors (our own pipe and
 * the caller's, e.g. the signal self-pipe) and reports end-of-file once a
 * stop descriptor is readable. That makes the blocking, line-oriented core
 * reader (qx_ndjson, built on getline) interruptible without signals or
 * thread cancellation: whatever it has already buffered it still parses and
 * hands over, then it sees EOF. glibc's fopencookie provides the wrapping.
 *
 * The cookie counts the bytes it hands to stdio and answers ftello's
 * "where am I" (a zero SEEK_CUR) with that count; stdio subtracts what it
 * still buffers, so ftello after each line is the offset just after it.
 * Any real seek is refused.
 */
#define _GNU_SOURCE /* fopencookie */
#include "qxs_input.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qx_ndjson.h"

struct qxs_input {
    int fd;
    bool close_fd;
    int stop_pipe[2]; /* written once by qxs_input_stop */
    int ext_stop_fd;
    qxs_input_ready_fn ready;
    void *ud;
    qxs_input_start start;
    uint64_t consumed; /* the input offset after the bytes handed to stdio */

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t space; /* signalled when a record is taken or on discard */
    qxs_record queue[QXS_INPUT_QUEUE_MAX];
    size_t head, count;
    bool ended;   /* the reader pushed its last record */
    bool discard; /* qxs_input_free: drop records, do not wait for space */
};

static ssize_t cookie_read(void *cookie, char *buf, size_t size)
{
    qxs_input *in = cookie;
    for (;;) {
        struct pollfd p[3] = {{.fd = in->stop_pipe[0], .events = POLLIN},
                              {.fd = in->ext_stop_fd, .events = POLLIN},
                              {.fd = in->fd, .events = POLLIN}};
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (p[0].revents != 0 || p[1].revents != 0)
            return 0; /* stopped: end of input */
        if (p[2].revents == 0)
            continue;
        ssize_t n = read(in->fd, buf, size);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n > 0)
            in->consumed += (uint64_t)n;
        return n;
    }
}

static int cookie_seek(void *cookie, off64_t *offset, int whence)
{
    qxs_input *in = cookie;
    if (whence == SEEK_CUR && *offset == 0) {
        *offset = (off64_t)in->consumed;
        return 0;
    }
    errno = ESPIPE;
    return -1;
}

/* The core reader numbers lines from where it started; messages name the
 * line of the whole input: the first number after "line " is moved by base. */
static void rebase_line_text(char *text, size_t size, size_t base)
{
    char *p = strstr(text, "line ");
    if (base == 0 || p == NULL)
        return;
    char *digits = p + 5, *end;
    unsigned long long n = strtoull(digits, &end, 10);
    if (end == digits)
        return;
    char rest[QX_ERROR_TEXT_MAX];
    snprintf(rest, sizeof rest, "%s", end);
    size_t head = (size_t)(digits - text);
    if (snprintf(digits, size - head, "%llu%s", n + base, rest) < 0)
        text[0] = '\0';
}

/* Queues one record; waits for space. Returns false when discarding. */
static bool push(qxs_input *in, const qxs_record *rec, bool last)
{
    bool was_empty, kept = true;
    pthread_mutex_lock(&in->lock);
    while (!in->discard && in->count == QXS_INPUT_QUEUE_MAX)
        pthread_cond_wait(&in->space, &in->lock);
    was_empty = in->count == 0;
    if (in->discard) {
        kept = false;
    } else if (rec != NULL) {
        in->queue[(in->head + in->count) % QXS_INPUT_QUEUE_MAX] = *rec;
        in->count++;
    }
    if (last)
        in->ended = true;
    pthread_mutex_unlock(&in->lock);
    if (!kept && rec != NULL)
        json_decref(rec->value);
    if (kept && (was_empty || last) && in->ready != NULL)
        in->ready(in->ud);
    return kept;
}

static void *reader_main(void *arg)
{
    qxs_input *in = arg;
    cookie_io_functions_t io = {.read = cookie_read, .seek = cookie_seek};
    FILE *f = fopencookie(in, "r", io);
    qx_ndjson_reader *r = f != NULL ? qx_ndjson_open(f) : NULL;
    if (r == NULL) {
        qxs_record rec = {.value = NULL, .line_no = 0};
        snprintf(rec.error, sizeof rec.error, "cannot start reading the input: out of memory");
        push(in, &rec, true);
        goto out;
    }
    for (;;) {
        qxs_record rec;
        qx_error err;
        memset(&rec, 0, sizeof rec);
        err.text[0] = '\0';
        int rc = qx_ndjson_next(r, &rec.value, &rec.line_no, &err);
        if (rc == 0)
            break;
        rec.line_no += in->start.line;
        if (rc < 0) {
            snprintf(rec.error, sizeof rec.error, "%s", err.text);
            rebase_line_text(rec.error, sizeof rec.error, in->start.line);
        }
        off_t at = ftello(f);
        if (at < 0 && rc != -2) {
            /* without the offset a checkpoint could skip lines: stop here */
            json_decref(rec.value);
            rec.value = NULL;
            snprintf(rec.error, sizeof rec.error, "cannot tell the input offset after line %zu",
                     rec.line_no - 1);
            rc = -2;
        }
        rec.end_offset = at >= 0 ? (uint64_t)at : 0;
        if (rc == -2) {
            /* a read error ends the stream; the message says after which line */
            rec.line_no = 0;
            push(in, &rec, true);
            goto out;
        }
        if (!push(in, &rec, false))
            break;
    }
    push(in, NULL, true);
out:
    qx_ndjson_close(r);
    if (f != NULL)
        fclose(f);
    return NULL;
}

qxs_input *qxs_input_open(int fd, bool close_fd, int stop_fd, const qxs_input_start *start,
                          qxs_input_ready_fn ready, void *ud, qx_error *err)
{
    qxs_input *in = calloc(1, sizeof *in);
    if (in == NULL) {
        qx_error_set(err, "input: out of memory");
        if (close_fd)
            close(fd);
        return NULL;
    }
    in->fd = fd;
    in->close_fd = close_fd;
    in->ext_stop_fd = stop_fd;
    in->ready = ready;
    in->ud = ud;
    if (start != NULL)
        in->start = *start;
    in->consumed = in->start.offset;
    in->stop_pipe[0] = in->stop_pipe[1] = -1;
    pthread_mutex_init(&in->lock, NULL);
    pthread_cond_init(&in->space, NULL);
    if (pipe(in->stop_pipe) != 0) {
        qx_error_set(err, "input: pipe: %s", strerror(errno));
        goto fail;
    }
    fcntl(in->stop_pipe[1], F_SETFD, FD_CLOEXEC);
    fcntl(in->stop_pipe[0], F_SETFD, FD_CLOEXEC);
    int rc = pthread_create(&in->thread, NULL, reader_main, in);
    if (rc != 0) {
        qx_error_set(err, "input: cannot start the reader thread: %s", strerror(rc));
        goto fail;
    }
    in->thread_started = true;
    return in;
fail:
    qxs_input_free(in);
    return NULL;
}

int qxs_input_take(qxs_input *in, qxs_record *out)
{
    int rc;
    pthread_mutex_lock(&in->lock);
    if (in->count > 0) {
        *out = in->queue[in->head];
        in->head = (in->head + 1) % QXS_INPUT_QUEUE_MAX;
        in->count--;
        pthread_cond_signal(&in->space);
        rc = 1;
    } else {
        rc = in->ended ? -1 : 0;
    }
    pthread_mutex_unlock(&in->lock);
    return rc;
}

void qxs_input_stop(qxs_input *in)
{
    if (in->stop_pipe[1] >= 0) {
        char c = 's';
        /* the pipe only needs to become readable; a full pipe already is */
        ssize_t n = write(in->stop_pipe[1], &c, 1);
        (void)n;
    }
}

void qxs_input_free(qxs_input *in)
{
    if (in == NULL)
        return;
    if (in->thread_started) {
        qxs_input_stop(in);
        pthread_mutex_lock(&in->lock);
        in->discard = true;
        pthread_cond_broadcast(&in->space);
        pthread_mutex_unlock(&in->lock);
        pthread_join(in->thread, NULL);
    }
    for (size_t i = 0; i < in->count; i++)
        json_decref(in->queue[(in->head + i) % QXS_INPUT_QUEUE_MAX].value);
    for (int i = 0; i < 2; i++)
        if (in->stop_pipe[i] >= 0)
            close(in->stop_pipe[i]);
    if (in->close_fd && in->fd >= 0)
        close(in->fd);
    pthread_cond_destroy(&in->space);
    pthread_mutex_destroy(&in->lock);
    free(in);
}
