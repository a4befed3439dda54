/*
 * tool.h — qx-mock the program (mock-server/tool/): option parsing and one
 * file per command, over the emulator libraries (qxm_mock.h, qxm_suite.h),
 * in the manner of curl's src/ over lib/. No shared state.
 */
#ifndef QXM_TOOL_H
#define QXM_TOOL_H

#include <getopt.h>
#include <stdio.h>

#include "qxm_mock.h"

#define EXIT_USAGE 2

/* What `qx-mock --config FILE [options]` was asked to do. */
typedef struct serve_options {
    const char *config_path;
    const char *history;     /* --history FILE, or NULL */
    const char *admin_env;   /* --admin-token-env VAR, or NULL */
    const char *metrics_env; /* --metrics-token-env VAR, or NULL */
    const char *tls_cert;    /* --tls-cert / --tls-key paths, or NULL */
    const char *tls_key;
    int verbose;
    qxm_options mock; /* listen, db, seed, threads, bounds */
} serve_options;

/* options.c: qx-mock's usage text. */
void tool_usage(FILE *out);

/* options.c: a whole number up to max, or -1 with a message naming opt. */
int tool_parse_uint(const char *opt, const char *s, unsigned long long max,
                    unsigned long long *out);

/* options.c: a whole number from 1 to max, or -1 with a message naming opt. */
int tool_parse_positive(const char *opt, const char *s, unsigned long long max,
                        unsigned long long *out);

/* options.c: an option getopt_long refused (c is '?' or ':'; the parsers
 * pass optstrings with a leading ':' and set opterr to 0), told in one line
 * "<who>: unknown option '--confg' (did you mean '--config'?); try '<who>
 * --help'". Returns EXIT_USAGE. */
int tool_option_error(const char *who, int c, char **argv, const struct option *longopts);

/* options.c: a --listen address that cannot be one (a port over 65535, no
 * host) is bad usage: returns 0, or -1 with "<who>: <why>" printed. */
int tool_check_listen(const char *who, const char *listen);

/* options.c: an output file (path, NULL: none) that cannot be written is
 * told before a long run, not after: returns 0, or -1 with a message
 * "<who>: <opt> <path>: <strerror>". Leaves an empty file where none was. */
int tool_check_writable(const char *who, const char *opt, const char *path);

/* options.c: parses qx-mock's options into *o. Returns -1 to go on, else
 * the exit status to end with (0 after --help or --version, EXIT_USAGE on
 * bad usage, with a message). */
int tool_parse_serve(int argc, char **argv, serve_options *o);

/* serve.c: runs an emulator until SIGINT or SIGTERM; the exit status. */
int tool_serve(const serve_options *o);

/* suite.c: `qx-mock suite DIR... [options]` (argv[0] is "suite"). */
int tool_suite(int argc, char **argv);

/* suite.c: the path of the qx-send installed beside this qx-mock (or
 * "qx-send", found on PATH, when that cannot be told) into out. */
void tool_sibling_sender(char *out, size_t size);

/* conform.c: `qx-mock conform [options]` (argv[0] is "conform"): grades a
 * sender. The exit status: 0 every rule passed, 1 not, EXIT_USAGE. */
int tool_conform(int argc, char **argv);

/* capture.c: `qx-mock capture --config FILE --workflow ID [options]`
 * (argv[0] is "capture"): waits for one sample, prints its eventData block.
 * The exit status: 0 captured, 1 none in time, EXIT_USAGE. */
int tool_capture(int argc, char **argv);

/* whatif.c: `qx-mock whatif --history FILE --config NEW [options]` (argv[0]
 * is "whatif"): replays a history against a new config. The exit status:
 * 0 nothing changed (with --expect-changes: something did), 1 otherwise or
 * on a runtime error, EXIT_USAGE. */
int tool_whatif(int argc, char **argv);

#endif
