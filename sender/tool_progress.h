/*
 * tool_progress.h — qx-send's progress on standard error for send and
 * replay (--progress auto|always|never): on a terminal one line redrawn in
 * place (qxs_progress.h's text, cut to the terminal's width); written to a
 * file or a pipe with --progress always, that line once a second; and, but
 * with never, one summary line at the end. The input's size, when it is a
 * regular file, gives the total, the share and the time left; a pipe has
 * none.
 *
 * Owns: nothing (the input descriptor is borrowed, only its size read).
 * Locks: none; the callback runs on the delivery thread, the only one
 * that touches a tool_progress between begin and end.
 * Fails: never; what cannot be told (a size, a width) is left out.
 */
#ifndef TOOL_PROGRESS_H
#define TOOL_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "qxs_report.h"
#include "qxs_send.h"

/* --progress: auto (a live line on a terminal, else the summary only),
 * always (the line even when not a terminal), never. */
enum { TOOL_PROGRESS_AUTO = 0, TOOL_PROGRESS_ALWAYS, TOOL_PROGRESS_NEVER };

/* --progress WHEN into *mode. Returns 0, or -1 for another word. */
int tool_progress_parse(const char *when, int *mode);

typedef struct tool_progress {
    const char *cmd;     /* "send", "replay" */
    int mode;            /* TOOL_PROGRESS_* */
    bool live;           /* standard error is a terminal: redraw in place */
    int cols;            /* its width; 0: not known */
    int64_t bytes_total; /* -1: not a regular file */
    int64_t base_lines;  /* lines finished at the first call (a resume's earlier ones) */
    int64_t base_ms;     /* when; 0: no call yet */
    int64_t printed_ms;  /* the last line written (not live) */
    bool drawn;          /* a live line is on the terminal */
} tool_progress;

/* Starts p for a run of cmd reading input_fd. */
void tool_progress_begin(tool_progress *p, const char *cmd, int mode, int input_fd);

/* The callback for qxs_send_options.progress (with p as progress_ud), or
 * NULL when nothing is shown while the run goes on. */
qxs_progress_fn tool_progress_callback(const tool_progress *p);

/* Ends the live line and writes the summary of report (not with never). */
void tool_progress_end(tool_progress *p, const qxs_report *report);

#endif
