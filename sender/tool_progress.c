/*
 * tool_progress.c — qx-send's progress on standard error (see
 * tool_progress.h).
 *
 * The rate behind the time left is of lines finished since the first call,
 * so that lines a resumed run found finished do not count as fast ones.
 */
#include "tool_progress.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qx_clock.h"
#include "qxs_progress.h"

/* Not on a terminal, a line at most this often: a log, not an animation. */
#define PLAIN_LINE_INTERVAL_MS 1000

int tool_progress_parse(const char *when, int *mode)
{
    static const char *const words[] = {"auto", "always", "never"};
    for (int i = 0; i < 3; i++) {
        if (strcmp(when, words[i]) == 0) {
            *mode = i;
            return 0;
        }
    }
    return -1;
}

void tool_progress_begin(tool_progress *p, const char *cmd, int mode, int input_fd)
{
    *p = (tool_progress){.cmd = cmd, .mode = mode, .bytes_total = -1};
    p->live = mode != TOOL_PROGRESS_NEVER && isatty(STDERR_FILENO);
    struct winsize ws;
    if (p->live && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0)
        p->cols = ws.ws_col;
    struct stat st;
    if (fstat(input_fd, &st) == 0 && S_ISREG(st.st_mode))
        p->bytes_total = (int64_t)st.st_size;
    p->printed_ms = qx_mono_ms();
}

static void on_progress(const qxs_counts *c, double per_sec, const qxs_throttle *t, bool final,
                        void *ud)
{
    tool_progress *p = ud;
    if (final)
        return; /* tool_progress_end writes the summary */
    int64_t now = qx_mono_ms();
    if (!p->live && now - p->printed_ms < PLAIN_LINE_INTERVAL_MS)
        return;
    int64_t finished = c->activated + c->excluded + c->failed;
    if (p->base_ms == 0) {
        p->base_lines = finished;
        p->base_ms = now;
    }
    qxs_progress view = {
        .counts = *c, .per_sec = per_sec, .throttle = *t, .bytes_total = p->bytes_total};
    if (now > p->base_ms)
        view.lines_per_sec =
            (double)(finished - p->base_lines) * 1000.0 / (double)(now - p->base_ms);
    char line[QXS_PROGRESS_LINE_MAX];
    qxs_progress_line(&view, line, sizeof line);
    if (p->live) {
        /* longer than the terminal it would wrap, and \r redraw only the tail */
        if (p->cols > 1 && strlen(line) >= (size_t)p->cols)
            line[p->cols - 1] = '\0';
        fprintf(stderr, "\r%s\033[K", line);
        p->drawn = true;
    } else {
        fprintf(stderr, "%s\n", line);
    }
    p->printed_ms = now;
    fflush(stderr);
}

qxs_progress_fn tool_progress_callback(const tool_progress *p)
{
    return p->live || p->mode == TOOL_PROGRESS_ALWAYS ? on_progress : NULL;
}

void tool_progress_end(tool_progress *p, const qxs_report *report)
{
    if (p->mode == TOOL_PROGRESS_NEVER)
        return;
    if (p->drawn)
        fputs("\r\033[K", stderr);
    qxs_counts c = qxs_report_counts(report);
    int64_t elapsed = qxs_report_elapsed_ms(report);
    double per_sec =
        elapsed > 0 ? (double)(c.activated - c.earlier_activated) * 1000.0 / (double)elapsed : 0.0;
    char line[QXS_PROGRESS_LINE_MAX];
    fprintf(stderr, "%s\n", qxs_progress_summary(p->cmd, &c, elapsed, per_sec, line, sizeof line));
    fflush(stderr);
}
