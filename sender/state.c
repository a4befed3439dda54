/*
 * state.c — the --state checkpoint: a snapshot line and appended events
 * (the format and the guarantees are in qxs_state.h).
 *
 * In memory the state is the input position, the pending lines (a vector
 * sorted by line number, since lines are read in order; an ended line leaves
 * a hole until the next snapshot squeezes the holes out) and a buffer of
 * events not yet written. The counts are not kept here: they are the
 * report's, which the same code paths update together with the events, so a
 * snapshot taken between two events sees both agree.
 *
 * Loading replays the events into the report through its ordinary
 * functions, so a resumed report is built exactly as the first one was.
 */
#include "qxs_state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qx_buf.h"
#include "qx_clock.h"

#define STATE_FILE_MODE 0600 /* it holds payloads: personal data */
#define PENDING_MIN_CAP 64

typedef struct pend {
    size_t line;
    json_t *payload; /* NULL: the line has ended (a hole) */
} pend;

struct qxs_state {
    char *path, *tmp_path, *lock_path;
    char *command;
    int fd; /* the state file, appended to */
    int lock_fd;
    int input_fd;
    qxs_report *report;
    char fingerprint[17];
    size_t fingerprint_bytes;
    uint64_t offset;
    size_t line;
    pend *pend;
    size_t n_pend, cap_pend, holes;
    qx_buf events;          /* events not yet written */
    uint64_t journal_bytes; /* events in the file since its snapshot */
    int64_t last_sync_ms;
    bool unsynced;
    bool broken; /* an event was lost or a write failed */
    char broken_text[QX_ERROR_TEXT_MAX];
};

/* ---- small helpers ---------------------------------------------------- */

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (s != NULL)
        snprintf(s, n, "%s%s", a, b);
    return s;
}

static void set_broken(qxs_state *st, const char *why)
{
    if (!st->broken)
        snprintf(st->broken_text, sizeof st->broken_text, "%s", why);
    st->broken = true;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Syncs the directory holding path, so that a rename in it is durable. */
static int sync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* FNV-1a over the first up-to-max bytes of fd; *n receives how many. */
static int fingerprint(int fd, size_t max, char out[17], size_t *n)
{
    char buf[QXS_STATE_FINGERPRINT_BYTES];
    size_t got = 0;
    if (max > sizeof buf)
        max = sizeof buf;
    while (got < max) {
        ssize_t r = pread(fd, buf + got, max - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < got; i++)
        h = (h ^ (unsigned char)buf[i]) * 1099511628211ULL;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
    *n = got;
    return 0;
}

/* ---- pending lines ------------------------------------------------------ */

static int pend_add(qxs_state *st, size_t line, json_t *payload)
{
    if (st->n_pend == st->cap_pend) {
        size_t cap = st->cap_pend ? st->cap_pend * 2 : PENDING_MIN_CAP;
        pend *p = realloc(st->pend, cap * sizeof *p);
        if (p == NULL)
            return -1;
        st->pend = p;
        st->cap_pend = cap;
    }
    st->pend[st->n_pend].line = line;
    st->pend[st->n_pend].payload = json_incref(payload);
    st->n_pend++;
    return 0;
}

/* Ends pending line; returns -1 when it is not pending. */
static int pend_end(qxs_state *st, size_t line)
{
    size_t lo = 0, hi = st->n_pend;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (st->pend[mid].line < line)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == st->n_pend || st->pend[lo].line != line || st->pend[lo].payload == NULL)
        return -1;
    json_decref(st->pend[lo].payload);
    st->pend[lo].payload = NULL;
    st->holes++;
    return 0;
}

static void pend_squeeze(qxs_state *st)
{
    size_t w = 0;
    for (size_t r = 0; r < st->n_pend; r++)
        if (st->pend[r].payload != NULL)
            st->pend[w++] = st->pend[r];
    st->n_pend = w;
    st->holes = 0;
}

/* ---- events ---------------------------------------------------------------- */

static void append_event(qxs_state *st, json_t *ev)
{
    if (ev == NULL) {
        set_broken(st, "out of memory");
        return;
    }
    size_t need = json_dumpb(ev, NULL, 0, JSON_COMPACT);
    if (need == 0) {
        json_decref(ev);
        set_broken(st, "cannot encode an event");
        return;
    }
    qx_buf *b = &st->events;
    if (qx_buf_reserve(b, need + 1) != 0) {
        json_decref(ev);
        set_broken(st, "out of memory");
        return;
    }
    /* dumped in place, then the newline and the buffer's NUL */
    b->len += json_dumpb(ev, b->data + b->len, need, JSON_COMPACT);
    b->data[b->len++] = '\n';
    b->data[b->len] = '\0';
    json_decref(ev);
}

static void advance(qxs_state *st, size_t line, uint64_t offset)
{
    if (line <= st->line || offset < st->offset)
        set_broken(st, "lines recorded out of order"); /* a bug of ours */
    st->line = line;
    st->offset = offset;
}

void qxs_state_queued(qxs_state *st, size_t line, uint64_t offset, json_t *payload)
{
    if (st == NULL)
        return;
    advance(st, line, offset);
    if (pend_add(st, line, payload) != 0) {
        set_broken(st, "out of memory");
        return;
    }
    append_event(st, json_pack("{s:s, s:I, s:I, s:O}", "e", "queued", "line", (json_int_t)line,
                               "offset", (json_int_t)offset, "payload", payload));
}

static void read_event(qxs_state *st, const char *kind, size_t line, uint64_t offset,
                       const char *reason)
{
    if (st == NULL)
        return;
    advance(st, line, offset);
    append_event(st, json_pack("{s:s, s:I, s:I, s:s}", "e", kind, "line", (json_int_t)line,
                               "offset", (json_int_t)offset, "reason", reason));
}

void qxs_state_excluded(qxs_state *st, size_t line, uint64_t offset, const char *reason)
{
    read_event(st, "excluded", line, offset, reason);
}

void qxs_state_rejected(qxs_state *st, size_t line, uint64_t offset, const char *reason)
{
    read_event(st, "rejected", line, offset, reason);
}

void qxs_state_retry(qxs_state *st, size_t line)
{
    if (st != NULL)
        append_event(st, json_pack("{s:s, s:I}", "e", "retry", "line", (json_int_t)line));
}

void qxs_state_activated(qxs_state *st, size_t line)
{
    if (st == NULL)
        return;
    if (pend_end(st, line) != 0)
        set_broken(st, "a line ended that was not pending"); /* a bug of ours */
    append_event(st, json_pack("{s:s, s:I}", "e", "activated", "line", (json_int_t)line));
}

void qxs_state_failed(qxs_state *st, size_t line, const char *reason)
{
    if (st == NULL)
        return;
    if (pend_end(st, line) != 0)
        set_broken(st, "a line ended that was not pending");
    append_event(st, json_pack("{s:s, s:I, s:s}", "e", "failed", "line", (json_int_t)line, "reason",
                               reason));
}

/* ---- snapshots ------------------------------------------------------------- */

static json_t *snapshot_json(qxs_state *st)
{
    json_t *pending = json_array();
    for (size_t i = 0; pending != NULL && i < st->n_pend; i++) {
        if (st->pend[i].payload == NULL)
            continue;
        if (json_array_append_new(pending,
                                  json_pack("{s:I, s:O}", "line", (json_int_t)st->pend[i].line,
                                            "payload", st->pend[i].payload)) != 0) {
            json_decref(pending);
            return NULL;
        }
    }
    json_t *counts = qxs_report_counts_to_json(st->report);
    if (pending == NULL || counts == NULL) {
        json_decref(pending);
        json_decref(counts);
        return NULL;
    }
    return json_pack("{s:i, s:s, s:{s:s, s:I}, s:I, s:I, s:o, s:o}", "qxSendState",
                     QXS_STATE_VERSION, "command", st->command, "input", "fingerprint",
                     st->fingerprint, "fingerprintBytes", (json_int_t)st->fingerprint_bytes,
                     "offset", (json_int_t)st->offset, "line", (json_int_t)st->line, "counts",
                     counts, "pending", pending);
}

/* Replaces the file with one snapshot line: FILE.tmp written and synced,
 * renamed over FILE, the directory synced; then appends go to it. */
static int snapshot(qxs_state *st, qx_error *err)
{
    json_t *snap = snapshot_json(st);
    char *text = snap != NULL ? json_dumps(snap, JSON_COMPACT) : NULL;
    json_decref(snap);
    if (text == NULL) {
        qx_error_set(err, "state %s: out of memory", st->path);
        return -1;
    }
    int fd =
        open(st->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, STATE_FILE_MODE);
    int rc = -1;
    if (fd < 0) {
        qx_error_set(err, "state %s: %s", st->tmp_path, strerror(errno));
        goto out;
    }
    if (write_all(fd, text, strlen(text)) != 0 || write_all(fd, "\n", 1) != 0 || fsync(fd) != 0) {
        qx_error_set(err, "state %s: %s", st->tmp_path, strerror(errno));
        goto out;
    }
    if (rename(st->tmp_path, st->path) != 0) {
        qx_error_set(err, "state %s: rename: %s", st->path, strerror(errno));
        goto out;
    }
    /* FILE is the new file now: append to it whatever comes next */
    if (st->fd >= 0)
        close(st->fd);
    st->fd = fd;
    fd = -1;
    st->journal_bytes = 0;
    st->unsynced = false;
    st->last_sync_ms = qx_mono_ms();
    pend_squeeze(st);
    if (sync_dir_of(st->path) != 0) {
        qx_error_set(err, "state %s: syncing its directory: %s", st->path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0) {
        close(fd);
        unlink(st->tmp_path);
    }
    free(text);
    return rc;
}

int qxs_state_flush(qxs_state *st, qx_error *err)
{
    if (st == NULL)
        return 0;
    if (!st->broken && st->events.len > 0) {
        if (write_all(st->fd, st->events.data, st->events.len) != 0) {
            char why[QX_ERROR_TEXT_MAX];
            snprintf(why, sizeof why, "write: %s", strerror(errno));
            set_broken(st, why);
        } else {
            st->journal_bytes += st->events.len;
            qx_buf_reset(&st->events);
            st->unsynced = true;
        }
    }
    if (st->broken) {
        qx_error_set(err, "state %s: %s", st->path, st->broken_text);
        return -1;
    }
    if (st->journal_bytes >= QXS_STATE_COMPACT_BYTES) {
        if (snapshot(st, err) != 0) {
            set_broken(st, err != NULL ? err->text : "snapshot failed");
            return -1;
        }
    } else if (st->unsynced && qx_mono_ms() - st->last_sync_ms >= QXS_STATE_SYNC_MS) {
        if (fdatasync(st->fd) != 0) {
            qx_error_set(err, "state %s: sync: %s", st->path, strerror(errno));
            set_broken(st, err != NULL ? err->text : "sync failed");
            return -1;
        }
        st->unsynced = false;
        st->last_sync_ms = qx_mono_ms();
    }
    return 0;
}

/* ---- loading ------------------------------------------------------------------ */

static int load_snapshot(qxs_state *st, const json_t *snap, qx_error *err)
{
    int version;
    const char *command, *fp;
    json_int_t fp_bytes, offset, line;
    json_t *counts, *pending;
    json_error_t jerr;
    if (json_unpack_ex((json_t *)snap, &jerr, JSON_STRICT,
                       "{s:i, s:s, s:{s:s, s:I}, s:I, s:I, s:o, s:o}", "qxSendState", &version,
                       "command", &command, "input", "fingerprint", &fp, "fingerprintBytes",
                       &fp_bytes, "offset", &offset, "line", &line, "counts", &counts, "pending",
                       &pending) != 0) {
        qx_error_set(err, "line 1: not a qx-send state snapshot (%s)", jerr.text);
        return -1;
    }
    if (version != QXS_STATE_VERSION) {
        qx_error_set(err, "version %d: this qx-send reads version %d", version, QXS_STATE_VERSION);
        return -1;
    }
    if (strcmp(command, st->command) != 0) {
        qx_error_set(err, "written by \"qx-send %s\", not \"qx-send %s\"", command, st->command);
        return -1;
    }
    if (offset < 0 || line < 0 || fp_bytes < 0 || fp_bytes > QXS_STATE_FINGERPRINT_BYTES ||
        strlen(fp) != 16 || !json_is_array(pending)) {
        qx_error_set(err, "line 1: bad offset, line, input or pending");
        return -1;
    }
    /* the same input: as long as it was then, and the same first bytes */
    struct stat sb;
    char now_fp[17];
    size_t now_bytes;
    if (fstat(st->input_fd, &sb) != 0 ||
        fingerprint(st->input_fd, (size_t)fp_bytes, now_fp, &now_bytes) != 0) {
        qx_error_set(err, "cannot read the input: %s", strerror(errno));
        return -1;
    }
    if (now_bytes != (size_t)fp_bytes || strcmp(now_fp, fp) != 0 || sb.st_size < offset) {
        qx_error_set(err, "was written for another input file (its first bytes differ, or it is "
                          "shorter than the offset reached)");
        return -1;
    }
    snprintf(st->fingerprint, sizeof st->fingerprint, "%s", fp);
    st->fingerprint_bytes = (size_t)fp_bytes;
    st->offset = (uint64_t)offset;
    st->line = (size_t)line;
    if (qxs_report_add_counts(st->report, counts, err) != 0)
        return -1;
    size_t i;
    json_t *p;
    size_t last = 0;
    json_array_foreach(pending, i, p)
    {
        json_int_t pl;
        json_t *payload;
        if (json_unpack(p, "{s:I, s:o}", "line", &pl, "payload", &payload) != 0 || pl <= 0 ||
            (size_t)pl <= last || (size_t)pl > st->line || !json_is_object(payload)) {
            qx_error_set(err, "line 1: pending[%zu] is not {\"line\", \"payload\"} in line order",
                         i);
            return -1;
        }
        last = (size_t)pl;
        if (pend_add(st, (size_t)pl, payload) != 0) {
            qx_error_set(err, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int apply_event(qxs_state *st, const json_t *ev, qx_error *err)
{
    const char *e = NULL, *reason = NULL;
    json_int_t line = 0, offset = -1;
    json_t *payload = NULL;
    if (json_unpack((json_t *)ev, "{s:s, s:I, s?I, s?s, s?o}", "e", &e, "line", &line, "offset",
                    &offset, "reason", &reason, "payload", &payload) != 0 ||
        line <= 0) {
        qx_error_set(err, "not an event");
        return -1;
    }
    bool is_read =
        strcmp(e, "queued") == 0 || strcmp(e, "excluded") == 0 || strcmp(e, "rejected") == 0;
    if (is_read) {
        if (offset < 0 || (size_t)line <= st->line || (uint64_t)offset < st->offset) {
            qx_error_set(err, "%s: line or offset out of order", e);
            return -1;
        }
        st->line = (size_t)line;
        st->offset = (uint64_t)offset;
        qxs_report_read(st->report);
    }
    int rc = 0;
    if (strcmp(e, "queued") == 0) {
        if (!json_is_object(payload)) {
            qx_error_set(err, "queued: no payload");
            return -1;
        }
        rc = pend_add(st, (size_t)line, payload);
    } else if (strcmp(e, "excluded") == 0 && reason != NULL) {
        rc = qxs_report_excluded(st->report, reason);
    } else if (strcmp(e, "rejected") == 0 && reason != NULL) {
        rc = qxs_report_failed(st->report, reason);
    } else if (strcmp(e, "retry") == 0) {
        qxs_report_retry(st->report);
    } else if (strcmp(e, "activated") == 0 || (strcmp(e, "failed") == 0 && reason != NULL)) {
        if (pend_end(st, (size_t)line) != 0) {
            qx_error_set(err, "%s: line %lld is not pending", e, (long long)line);
            return -1;
        }
        if (e[0] == 'a')
            qxs_report_activated(st->report);
        else
            rc = qxs_report_failed(st->report, reason);
    } else {
        qx_error_set(err, "unknown event \"%s\" or no reason", e);
        return -1;
    }
    if (rc != 0)
        qx_error_set(err, "out of memory");
    return rc;
}

/* Reads an existing state file; *found false when there is none (or it is
 * empty). */
static int load(qxs_state *st, bool *found, qx_error *err)
{
    *found = false;
    FILE *f = fopen(st->path, "rb");
    if (f == NULL) {
        if (errno == ENOENT)
            return 0;
        qx_error_set(err, "%s", strerror(errno));
        return -1;
    }
    char *text = NULL;
    size_t cap = 0;
    size_t no = 0;
    int rc = 0;
    ssize_t n;
    while ((n = getline(&text, &cap, f)) > 0) {
        no++;
        if (text[n - 1] != '\n')
            break; /* torn by a kill during the write: the event never happened */
        json_error_t jerr;
        json_t *v = json_loadb(text, (size_t)n, JSON_ALLOW_NUL, &jerr);
        if (v == NULL) {
            qx_error_set(err, "line %zu: %s", no, jerr.text);
            rc = -1;
        } else if (no == 1) {
            rc = load_snapshot(st, v, err);
            *found = true;
        } else {
            rc = apply_event(st, v, err);
            if (rc != 0)
                qx_error_prefix(err, "line %zu", no);
        }
        json_decref(v);
        if (rc != 0)
            break;
    }
    if (rc == 0 && ferror(f)) {
        qx_error_set(err, "%s", strerror(errno));
        rc = -1;
    }
    if (rc == 0 && no == 1 && !*found) {
        /* only a torn first line: the file was never completely written */
        qx_error_set(err, "line 1 is incomplete");
        rc = -1;
    }
    free(text);
    fclose(f);
    return rc;
}

/* ---- open and close ------------------------------------------------------------- */

static void state_free(qxs_state *st)
{
    if (st == NULL)
        return;
    if (st->fd >= 0)
        close(st->fd);
    if (st->lock_fd >= 0)
        close(st->lock_fd); /* releases the flock */
    for (size_t i = 0; i < st->n_pend; i++)
        json_decref(st->pend[i].payload);
    free(st->pend);
    qx_buf_free(&st->events);
    free(st->path);
    free(st->tmp_path);
    free(st->lock_path);
    free(st->command);
    free(st);
}

qxs_state *qxs_state_open(const char *path, const char *command, int input_fd, qxs_report *report,
                          qx_error *err)
{
    qxs_state *st = calloc(1, sizeof *st);
    if (st == NULL) {
        qx_error_set(err, "state %s: out of memory", path);
        return NULL;
    }
    st->fd = st->lock_fd = -1;
    st->input_fd = input_fd;
    st->report = report;
    st->path = strdup(path);
    st->tmp_path = join(path, ".tmp");
    st->lock_path = join(path, ".lock");
    st->command = strdup(command);
    if (st->path == NULL || st->tmp_path == NULL || st->lock_path == NULL || st->command == NULL) {
        qx_error_set(err, "state %s: out of memory", path);
        goto fail;
    }
    struct stat sb;
    if (fstat(input_fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        qx_error_set(err,
                     "state %s: the input must be a regular file (it is read again from an "
                     "offset), not standard input or a pipe",
                     path);
        goto fail;
    }
    st->lock_fd = open(st->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, STATE_FILE_MODE);
    if (st->lock_fd < 0) {
        qx_error_set(err, "state %s: %s", st->lock_path, strerror(errno));
        goto fail;
    }
    if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        qx_error_set(err, "state %s: %s", path,
                     errno == EWOULDBLOCK ? "in use by another qx-send" : strerror(errno));
        goto fail;
    }
    /* load counts into a scratch report, copied to report only once the
     * whole state is accepted: a refused state leaves report untouched */
    qxs_report *scratch = qxs_report_new();
    if (scratch == NULL) {
        qx_error_set(err, "state %s: out of memory", path);
        goto fail;
    }
    st->report = scratch;
    bool found;
    int rc = load(st, &found, err);
    if (rc == 0 && found && (fstat(input_fd, &sb) != 0 || (uint64_t)sb.st_size < st->offset)) {
        qx_error_set(err, "was written for another input file (it is shorter than the offset "
                          "reached)");
        rc = -1;
    }
    json_t *counts = rc == 0 ? qxs_report_counts_to_json(scratch) : NULL;
    st->report = report;
    qxs_report_free(scratch);
    if (rc != 0) {
        qx_error_prefix(err, "state %s", path);
        goto fail;
    }
    if (counts == NULL || qxs_report_add_counts(report, counts, err) != 0) {
        json_decref(counts);
        qx_error_prefix(err, "state %s", path);
        goto fail;
    }
    json_decref(counts);
    if (!found && fingerprint(input_fd, QXS_STATE_FINGERPRINT_BYTES, st->fingerprint,
                              &st->fingerprint_bytes) != 0) {
        qx_error_set(err, "state %s: cannot read the input: %s", path, strerror(errno));
        goto fail;
    }
    if (snapshot(st, err) != 0)
        goto fail;
    return st;
fail:
    state_free(st);
    return NULL;
}

int qxs_state_close(qxs_state *st, qx_error *err)
{
    if (st == NULL)
        return 0;
    int rc = qxs_state_flush(st, err);
    if (rc == 0)
        rc = snapshot(st, err);
    state_free(st);
    return rc;
}

uint64_t qxs_state_offset(const qxs_state *st)
{
    return st->offset;
}

size_t qxs_state_line(const qxs_state *st)
{
    return st->line;
}

size_t qxs_state_pending_count(const qxs_state *st)
{
    return st->n_pend;
}

size_t qxs_state_pending_at(const qxs_state *st, size_t i, json_t **payload)
{
    if (i >= st->n_pend) {
        *payload = NULL;
        return 0;
    }
    *payload = st->pend[i].payload;
    return st->pend[i].line;
}
