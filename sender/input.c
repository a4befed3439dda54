/*
 * input.c — qxs_input: NDJSON lines out of a descriptor, without a thread.
 *
 * Bytes are read in chunks (QXS_INPUT_CHUNK) into one buffer; complete lines
 * are cut out of it with memchr and parsed in place (qx_json_read, and
 * json_loadb for what that hands back). The buffer holds at
 * most one incomplete line besides what is not yet taken, so it is moved to
 * the front before each read and grows only for a line longer than a chunk.
 * A regular file is read whenever the buffer has no complete line; any
 * other descriptor is first asked with a zero-timeout poll() whether a read
 * would wait, so a pipe fed line by line never blocks the delivery loop.
 *
 * A line means what it meant for core's getline()-based qx_ndjson reader
 * (which the other commands use; both follow its messages): the bytes up
 * to and including a newline, or up to the end of the input; blank lines
 * (spaces, tabs, CR) are skipped but counted; one JSON value per line, and
 * only white space after it. The offset of a record is the byte just after
 * its line, counted from the start of the input.
 */
#include "qxs_input.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qx_utf8.h"
#include "qx_json_read.h"

struct qxs_input {
    int fd;
    bool close_fd;
    bool is_regular;
    char *buf;
    size_t cap;
    size_t start;  /* first byte not handed over */
    size_t scan;   /* no newline in [start, scan) */
    size_t end;    /* bytes read into buf */
    uint64_t base; /* input offset of buf[0] */
    size_t line_no;
    size_t from_line; /* lines before it are read and skipped (0, 1: none) */
    bool at_eof;      /* read returned 0 */
    bool stopped;     /* qxs_input_stop */
    int read_errno;   /* a read failed (0: none) */
    bool error_told;
};

static bool is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/* Reads once into the buffer. Returns 1 when something changed (bytes, EOF
 * or an error were recorded), 0 when a read would have to wait. */
static int fill(qxs_input *in)
{
    if (!in->is_regular) {
        struct pollfd p = {.fd = in->fd, .events = POLLIN};
        int n = poll(&p, 1, 0);
        if (n == 0 || (n < 0 && errno == EINTR))
            return 0; /* a read would wait: the delivery loop polls the fd */
        if (n < 0) {
            in->read_errno = errno;
            return 1;
        }
    }
    if (in->start > 0) {
        memmove(in->buf, in->buf + in->start, in->end - in->start);
        in->base += in->start;
        in->end -= in->start;
        in->scan -= in->start;
        in->start = 0;
    }
    if (in->cap - in->end < QXS_INPUT_CHUNK) {
        size_t cap = in->end + QXS_INPUT_CHUNK; /* a line longer than a chunk */
        char *b = realloc(in->buf, cap);
        if (b == NULL) {
            in->read_errno = ENOMEM;
            return 1;
        }
        in->buf = b;
        in->cap = cap;
    }
    for (;;) {
        ssize_t n = read(in->fd, in->buf + in->end, in->cap - in->end);
        if (n > 0) {
            in->end += (size_t)n;
            return 1;
        }
        if (n == 0) {
            in->at_eof = true;
            return 1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        in->read_errno = errno;
        return 1;
    }
}

/* Parses one non-blank line into out. */
static void parse_line(const char *line, size_t len, size_t line_no, qxs_record *out)
{
    json_error_t jerr;
    out->error[0] = '\0';
    /* the usual line, read in place; anything else (errors included) is
     * jansson's to read and to explain */
    if ((out->value = qx_json_read(line, len)) != NULL)
        return;
    out->value = json_loadb(line, len, JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, &jerr);
    if (out->value == NULL) {
        snprintf(out->error, sizeof out->error, "line %zu: invalid JSON: %s (column %d)", line_no,
                 jerr.text, jerr.column);
        return;
    }
    /* anything but white space after the value is a second value: not NDJSON */
    size_t at = jerr.position > 0 ? (size_t)jerr.position : 0;
    if (at < len && !is_blank(line + at, len - at)) {
        json_decref(out->value);
        out->value = NULL;
        snprintf(out->error, sizeof out->error,
                 "line %zu: unexpected text after the JSON value (column %d)", line_no,
                 jerr.position + 1);
    }
}

int qxs_input_take(qxs_input *in, qxs_record *out)
{
    if (in->stopped)
        return -1; /* what was read and not taken is left to a later run */
    for (;;) {
        size_t len;
        char *nl = in->end > in->scan ? memchr(in->buf + in->scan, '\n', in->end - in->scan) : NULL;
        if (nl != NULL) {
            len = (size_t)(nl + 1 - (in->buf + in->start));
        } else if (in->read_errno != 0) {
            /* the incomplete line is not handed over: a later run (--state)
             * reads it again from its start */
            if (in->error_told)
                return -1;
            in->error_told = true;
            out->value = NULL;
            out->line_no = 0;
            out->end_offset = in->base + in->start;
            snprintf(out->error, sizeof out->error, "read error after line %zu: %s", in->line_no,
                     strerror(in->read_errno));
            return 1;
        } else if (in->at_eof) {
            if (in->end == in->start)
                return -1;
            /* the last line, without its newline: only a real end of input
             * ends a line, never a stop (its rest may still be coming) */
            len = in->end - in->start;
        } else {
            in->scan = in->end;
            if (fill(in) == 0)
                return 0;
            continue;
        }
        const char *line = in->buf + in->start;
        in->start += len;
        in->scan = in->start;
        in->line_no++;
        if (in->line_no < in->from_line ||
            is_blank(line + (in->line_no == 1 ? qx_utf8_bom_len(line, len) : 0),
                     len - (in->line_no == 1 ? qx_utf8_bom_len(line, len) : 0)))
            continue; /* skipped (--from-line) or blank: not a record */
        out->line_no = in->line_no;
        out->end_offset = in->base + in->start;
        /* A byte order mark may start the first line (qx_utf8.h). */
        size_t bom = in->line_no == 1 ? qx_utf8_bom_len(line, len) : 0;
        parse_line(line + bom, len - bom, in->line_no, out);
        return 1;
    }
}

int qxs_input_wait_fd(const qxs_input *in)
{
    if (in->is_regular || in->at_eof || in->stopped || in->read_errno != 0)
        return -1;
    if (in->end > in->scan && memchr(in->buf + in->scan, '\n', in->end - in->scan) != NULL)
        return -1;
    return in->fd;
}

qxs_input *qxs_input_open(int fd, bool close_fd, const qxs_input_start *start, qx_error *err)
{
    struct stat st;
    qxs_input *in = calloc(1, sizeof *in);
    if (in == NULL || (in->buf = malloc(2 * QXS_INPUT_CHUNK)) == NULL) {
        qx_error_set(err, "input: out of memory");
        free(in);
        if (close_fd)
            close(fd);
        return NULL;
    }
    in->cap = 2 * QXS_INPUT_CHUNK;
    in->fd = fd;
    in->close_fd = close_fd;
    in->is_regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    if (start != NULL) {
        in->base = start->offset;
        in->line_no = start->line;
        in->from_line = start->from_line;
    }
    return in;
}

void qxs_input_stop(qxs_input *in)
{
    in->stopped = true;
}

size_t qxs_input_next_line(const qxs_input *in)
{
    if (in->at_eof && in->end == in->start && in->read_errno == 0)
        return 0; /* read to its end, every line taken */
    size_t next = in->line_no + 1;
    return next > in->from_line ? next : in->from_line;
}

void qxs_input_free(qxs_input *in)
{
    if (in == NULL)
        return;
    if (in->close_fd && in->fd >= 0)
        close(in->fd);
    free(in->buf);
    free(in);
}
