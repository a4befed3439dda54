/*
 * tool_options.h — qx-send's command line (the tool, not the qxsend
 * library): the options every command may take, parsed with getopt_long,
 * the exit statuses, and the small steps the commands share (a usage error,
 * the log level, loading the mapping, opening the input).
 *
 * Owns: nothing; the strings in tool_options point into argv.
 * Locks: none; no shared state besides getopt's globals, which each parse
 * resets (one thread, one parse at a time).
 * Fails: by printing to standard error ("qx-send CMD: ..." and a pointer to
 * --help for bad usage, "qx-send: ..." otherwise) and returning
 * TOOL_EXIT_USAGE or NULL / -1; nothing is left to free.
 */
#ifndef TOOL_OPTIONS_H
#define TOOL_OPTIONS_H

#include <stdbool.h>

#include "qxs_mapping.h"
#include "qxs_retry.h"

/* Exit statuses: 0 nothing failed; 1 something failed (a payload, a
 * validation error, a malformed line); 2 bad usage or configuration; 3 a
 * --state run stopped by a signal with lines still pending. */
#define TOOL_EXIT_FAILED 1
#define TOOL_EXIT_USAGE 2
#define TOOL_EXIT_PAUSED 3

/* Groups of long options; a command refuses the groups it does not take as
 * it refuses unknown options. -v, -q and -h are always taken. */
#define TOOL_OPTS_MAPPING 1u  /* -m */
#define TOOL_OPTS_DELIVERY 2u /* -d, -c, --dead-letter, --report, ... */
#define TOOL_OPTS_VALIDATE 4u /* -p, -w, -i */
#define TOOL_OPTS_POLICY 8u   /* --policy */
#define TOOL_OPTS_ACTION 16u  /* --marketing-action */
#define TOOL_OPTS_ALERTS 32u  /* --alert-skipped-rate, --alert-webhook, --alert-token-env */

/* --marketing-action may be given this many times. */
#define TOOL_MAX_ACTIONS 16

typedef struct tool_command {
    const char *name;      /* "send", as messages name it */
    const char *usage;     /* the --help text */
    const char *shortopts; /* getopt's short options */
    unsigned accepts;      /* TOOL_OPTS_* */
} tool_command;

typedef struct tool_options {
    const char *destination, *mapping, *dead_letter, *report, *trace, *state, *cacert;
    const char *profiles, *workflow, *workflow_id;
    const char *input; /* the one operand, NULL when none */
    int concurrency;
    long timeout_ms;
    long from_line;       /* --from-line; 0 when not given */
    long rate_per_minute; /* --rate, per minute; 0 when not given */
    qxs_retry_policy retry;
    bool retry_set;
    int verbosity;                         /* -1 quiet, 0 warnings, 1 info, 2 debug */
    const char *policy;                    /* --policy */
    const char *actions[TOOL_MAX_ACTIONS]; /* --marketing-action, in order */
    size_t n_actions;
    double alert_rate; /* --alert-skipped-rate; meaningful when alert_rate_set */
    bool alert_rate_set;
    const char *alert_webhook, *alert_token_env;
    int progress; /* --progress: TOOL_PROGRESS_* (tool_progress.h); 0: auto */
} tool_options;

/* Parses argv (argv[0] is the command's name) into o, whose defaults the
 * caller set. Returns 0; TOOL_EXIT_USAGE after printing why; or -1 after
 * printing cmd's --help text on standard output. */
int tool_parse_options(const tool_command *cmd, int argc, char **argv, tool_options *o);

/* Prints "qx-send CMD: " fmt (with arg) and where the usage is; returns
 * TOOL_EXIT_USAGE. */
int tool_usage_error(const char *cmd, const char *fmt, const char *arg);

/* Starts the log on standard error at o's verbosity. */
void tool_init_log(const tool_options *o);

/* Loads the mapping file at path. Returns it (owned), or NULL after
 * printing why. */
qxs_mapping *tool_load_mapping(const char *path);

/* Opens path, or standard input for NULL or "-", for reading. Returns the
 * descriptor, or -1 after printing why. */
int tool_open_input(const char *path);

#endif
