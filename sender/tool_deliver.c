/*
 * tool_deliver.c — the tool's side of `send` and `replay` (see
 * tool_deliver.h): every file is opened, and every option checked, before
 * the qxsend library's qxs_send_run sends anything; then the outcome
 * becomes messages, a report file and an exit status.
 */
#include "tool_deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qxs_deliver.h"
#include "qxs_destination.h"
#include "qxs_mapping.h"
#include "qxs_report.h"
#include "qxs_send.h"
#include "qxs_state.h"
#include "tool_governance.h"
#include "tool_progress.h"

/* Everything one run holds; closed by close_delivery. */
typedef struct delivery {
    const char *cmd; /* "send" or "replay" */
    bool replay;
    tool_options o;
    qxs_mapping *m;
    qxs_destination *dest;
    qxs_report *report;
    qxs_state *state;
    qxs_policy *policy; /* send: --policy, else the destination's */
    qxs_alerts *alerts; /* send */
    FILE *dead, *trace;
    int fd;
} delivery;

static int stop_pipe[2] = {-1, -1};

static void on_stop_signal(int sig)
{
    (void)sig;
    int saved = errno;
    char c = 's';
    /* async-signal-safe: the delivery loop and the reader poll this pipe */
    ssize_t n = write(stop_pipe[1], &c, 1);
    (void)n;
    errno = saved;
}

static bool same_file(const char *a, int fd_b)
{
    struct stat sa, sb;
    return a != NULL && stat(a, &sa) == 0 && fstat(fd_b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Two option values naming one file (the same text, or one existing file). */
static bool same_path(const char *a, const char *b)
{
    struct stat sa, sb;
    if (a == NULL || b == NULL)
        return false;
    return strcmp(a, b) == 0 || (stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
                                 sa.st_ino == sb.st_ino);
}

/* The --state file must be none of the other files: each is written. */
static int check_state_path(const tool_options *o, int input_fd)
{
    const char *other = NULL;
    if (same_file(o->state, input_fd))
        other = "the input file";
    else if (same_path(o->state, o->dead_letter))
        other = "--dead-letter";
    else if (same_path(o->state, o->report))
        other = "--report";
    else if (same_path(o->state, o->trace))
        other = "--trace";
    if (other == NULL)
        return 0;
    fprintf(stderr, "qx-send: --state %s is %s; choose another file\n", o->state, other);
    return -1;
}

/* The options each command requires, and --state's need of a file. Returns
 * 0, or TOOL_EXIT_USAGE after printing why. */
static int check_arguments(const delivery *r)
{
    const char *cmd = r->cmd;
    if (r->o.destination == NULL)
        return tool_usage_error(cmd, "%s", "--destination is required");
    if (!r->replay && r->o.mapping == NULL)
        return tool_usage_error(cmd, "%s", "--mapping is required");
    if (r->replay && r->o.input == NULL)
        return tool_usage_error(cmd, "%s",
                                "the file to replay is required ('-' for standard input)");
    if (r->o.state != NULL && (r->o.input == NULL || strcmp(r->o.input, "-") == 0))
        return tool_usage_error(cmd, "%s",
                                "--state needs an input FILE: standard input cannot be read again");
    if (r->o.state != NULL && r->o.from_line > 0)
        return tool_usage_error(cmd, "%s",
                                "--from-line cannot be used with --state: the state says where "
                                "to resume (run again with the same --state)");
    return 0;
}

/* The mapping (send), the destination and the input, and the files that
 * must not be the input. Returns 0, or -1 after printing why. */
static int open_sources(delivery *r)
{
    qx_error err;
    if (!r->replay && (r->m = tool_load_mapping(r->o.mapping)) == NULL)
        return -1;
    if ((r->dest = qxs_destination_load_file(r->o.destination, &err)) == NULL) {
        fprintf(stderr, "qx-send: %s\n", err.text);
        return -1;
    }
    /* a label violation stops the send here, before any profile is read */
    if (!r->replay && (tool_policy_open(r->cmd, r->o.policy != NULL ? r->o.policy : r->dest->policy,
                                        (const char *const *)r->dest->marketing_actions,
                                        r->dest->n_marketing_actions,
                                        "the destination's marketingActions", &r->policy) != 0 ||
                       tool_policy_check_labels(r->cmd, r->policy, r->m) != 0 ||
                       (r->alerts = tool_alerts_open(r->cmd, &r->o, r->dest->name)) == NULL))
        return -1;
    if ((r->fd = tool_open_input(r->o.input)) < 0)
        return -1;
    if (same_file(r->o.dead_letter, r->fd)) {
        fprintf(stderr, "qx-send: --dead-letter %s is the input file; choose another\n",
                r->o.dead_letter);
        return -1;
    }
    if (r->o.state != NULL && check_state_path(&r->o, r->fd) != 0)
        return -1;
    return 0;
}

/* Opens path with mode only to find out now, not after an hour of sending,
 * that it cannot be read or written. Returns 0, or -1 after printing why. */
static int probe_file(const char *option, const char *path, const char *mode)
{
    FILE *f = fopen(path, mode);
    if (f == NULL) {
        fprintf(stderr, "qx-send: %s %s: %s\n", option, path, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

/* --cacert, --dead-letter, --report and --trace. Returns 0, or -1 after
 * printing why. */
static int open_outputs(delivery *r)
{
    const tool_options *o = &r->o;
    /* a --cacert typo would otherwise fail every request, one by one */
    if (o->cacert != NULL && probe_file("--cacert", o->cacert, "r") != 0)
        return -1;
    if (o->dead_letter != NULL && (r->dead = fopen(o->dead_letter, "a")) == NULL) {
        fprintf(stderr, "qx-send: --dead-letter %s: %s\n", o->dead_letter, strerror(errno));
        return -1;
    }
    if (o->report != NULL && probe_file("--report", o->report, "w") != 0)
        return -1;
    if (o->trace != NULL && (r->trace = fopen(o->trace, "w")) == NULL) {
        fprintf(stderr, "qx-send: --trace %s: %s\n", o->trace, strerror(errno));
        return -1;
    }
    return 0;
}

/* SIGINT and SIGTERM write to the stop pipe; a second one ends the process
 * at once. Returns 0, or -1 after printing why. */
static int catch_stop_signals(void)
{
    if (pipe(stop_pipe) != 0) {
        fprintf(stderr, "qx-send: pipe: %s\n", strerror(errno));
        return -1;
    }
    fcntl(stop_pipe[1], F_SETFL, O_NONBLOCK);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C ends the process at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return 0;
}

/* The report, the state and the stop signals. Returns 0, or the exit
 * status after printing why. */
static int prepare_run(delivery *r)
{
    qx_error err;
    if ((r->report = qxs_report_new()) == NULL) {
        fprintf(stderr, "qx-send: out of memory\n");
        return TOOL_EXIT_FAILED;
    }
    if (r->o.state != NULL &&
        (r->state = qxs_state_open(r->o.state, r->cmd, r->fd, r->report, &err)) == NULL) {
        fprintf(stderr, "qx-send: %s\n", err.text);
        return TOOL_EXIT_USAGE;
    }
    if (catch_stop_signals() != 0)
        return TOOL_EXIT_FAILED;
    return 0;
}

/* After a stop without a state: where the input is to be read on. */
static void tell_resume_line(const delivery *r)
{
    size_t line = qxs_report_resume_line(r->report);
    if (line == 0)
        return;
    fprintf(stderr,
            "qx-send: stopped before input line %zu: every line before it is activated, "
            "excluded or failed%s; to go on: qx-send %s --from-line %zu ...\n",
            line,
            r->dead != NULL && qxs_report_counts(r->report).failed > 0
                ? " (the failed ones with their payloads in the dead-letter file)"
                : "",
            r->cmd, line);
}

/* The exit status of a run that went through, from its counts. */
static int outcome(const delivery *r)
{
    qxs_counts c = qxs_report_counts(r->report);
    int rc = c.failed > 0 ? TOOL_EXIT_FAILED : 0;
    if (c.failed > 0 && r->dead == NULL)
        fprintf(stderr, "qx-send: %lld failed; --dead-letter FILE keeps them for replay\n",
                (long long)c.failed);
    if (c.in_flight > 0 && r->state != NULL) {
        fprintf(stderr,
                "qx-send: stopped with %lld line%s pending; run again with --state %s to "
                "finish\n",
                (long long)c.in_flight, c.in_flight == 1 ? "" : "s", r->o.state);
        rc = TOOL_EXIT_PAUSED; /* unfinished outranks failed: the work is not done */
    }
    return rc;
}

/* Sends, then closes the state and writes the report. Returns the exit
 * status. */
static int run(delivery *r)
{
    qx_error err;
    int rc;
    tool_progress progress;
    tool_progress_begin(&progress, r->cmd, r->o.progress, r->fd);
    qxs_send_options so = {
        .mapping = r->m,
        .dest = r->dest,
        .input_fd = r->fd,
        .concurrency = r->o.concurrency,
        .timeout_ms = r->o.timeout_ms,
        .retry = r->o.retry_set ? &r->o.retry : NULL,
        .dead_letter = r->dead,
        .trace = r->trace,
        .stop_fd = stop_pipe[0],
        .progress = tool_progress_callback(&progress),
        .progress_ud = &progress,
        .ca_file = r->o.cacert,
        .state = r->state,
        .from_line = (size_t)r->o.from_line,
        /* --rate wins over the destination's rateLimitPerMinute */
        .rate_per_minute =
            r->o.rate_per_minute > 0 ? r->o.rate_per_minute : r->dest->rate_limit_per_minute,
        .policy = r->policy,
        .alerts = r->alerts,
    };
    int sent = qxs_send_run(&so, r->report, &err);
    tool_progress_end(&progress, r->report);
    if (sent != 0) {
        fprintf(stderr, "qx-send: %s\n", err.text);
        rc = TOOL_EXIT_FAILED;
    } else {
        rc = outcome(r);
    }
    tell_resume_line(r);
    if (qxs_state_close(r->state, &err) != 0) {
        fprintf(stderr, "qx-send: %s\n", err.text);
        rc = TOOL_EXIT_FAILED;
    }
    r->state = NULL;
    /* the signals stay caught until the report and the dead letters are
     * written (close_delivery): one that comes after the run ended must not
     * kill the process before its report exists */
    if (r->o.report != NULL && qxs_report_write_file(r->report, r->o.report, &err) != 0) {
        fprintf(stderr, "qx-send: --report %s\n", err.text);
        rc = TOOL_EXIT_FAILED;
    }
    return rc;
}

/* Closes and frees what r holds. Returns rc, or TOOL_EXIT_FAILED when the
 * dead-letter file cannot be closed. */
static int close_delivery(delivery *r, int rc)
{
    qx_error err;
    if (r->dead != NULL && fclose(r->dead) != 0) {
        fprintf(stderr, "qx-send: --dead-letter %s: %s\n", r->o.dead_letter, strerror(errno));
        rc = TOOL_EXIT_FAILED;
    }
    if (r->trace != NULL)
        fclose(r->trace);
    if (r->fd > STDIN_FILENO)
        close(r->fd);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    for (int i = 0; i < 2; i++) {
        if (stop_pipe[i] >= 0)
            close(stop_pipe[i]);
        stop_pipe[i] = -1;
    }
    if (qxs_state_close(r->state, &err) != 0)
        fprintf(stderr, "qx-send: %s\n", err.text);
    qxs_report_free(r->report);
    qxs_destination_free(r->dest);
    qxs_policy_free(r->policy);
    qxs_alerts_free(r->alerts);
    qxs_mapping_free(r->m);
    return rc;
}

int tool_deliver(const tool_command *cmd, int argc, char **argv)
{
    delivery r = {.cmd = cmd->name, .replay = strcmp(cmd->name, "replay") == 0, .fd = -1};
    r.o.concurrency = r.replay ? 1 : QXS_DEFAULT_CONCURRENCY;
    r.o.timeout_ms = QXS_DEFAULT_TIMEOUT_MS;
    int rc = tool_parse_options(cmd, argc, argv, &r.o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if ((rc = check_arguments(&r)) != 0)
        return rc;
    tool_init_log(&r.o);
    if (open_sources(&r) != 0 || open_outputs(&r) != 0)
        rc = TOOL_EXIT_USAGE;
    else if ((rc = prepare_run(&r)) == 0)
        rc = run(&r);
    return close_delivery(&r, rc);
}
