/*
 * tool_options.c — qx-send's option parsing and the steps its commands share
 * (see tool_options.h).
 */
#include "tool_options.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qx_log.h"
#include "qx_suggest.h"
#include "qxs_deliver.h"
#include "qxs_pace.h"
#include "tool_progress.h"

enum {
    OPT_DEAD_LETTER = 256,
    OPT_REPORT,
    OPT_RETRY_SCHEDULE,
    OPT_TIMEOUT_MS,
    OPT_TRACE,
    OPT_STATE,
    OPT_CACERT,
    OPT_FROM_LINE,
    OPT_RATE,
    OPT_POLICY,
    OPT_MARKETING_ACTION,
    OPT_ALERT_RATE,
    OPT_ALERT_WEBHOOK,
    OPT_ALERT_TOKEN_ENV,
    OPT_PROGRESS,
};

static const struct option longopts[] = {
    {"destination", required_argument, NULL, 'd'},
    {"mapping", required_argument, NULL, 'm'},
    {"concurrency", required_argument, NULL, 'c'},
    {"dead-letter", required_argument, NULL, OPT_DEAD_LETTER},
    {"report", required_argument, NULL, OPT_REPORT},
    {"retry-schedule", required_argument, NULL, OPT_RETRY_SCHEDULE},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT_MS},
    {"trace", required_argument, NULL, OPT_TRACE},
    {"state", required_argument, NULL, OPT_STATE},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"from-line", required_argument, NULL, OPT_FROM_LINE},
    {"rate", required_argument, NULL, OPT_RATE},
    {"policy", required_argument, NULL, OPT_POLICY},
    {"marketing-action", required_argument, NULL, OPT_MARKETING_ACTION},
    {"alert-skipped-rate", required_argument, NULL, OPT_ALERT_RATE},
    {"alert-webhook", required_argument, NULL, OPT_ALERT_WEBHOOK},
    {"alert-token-env", required_argument, NULL, OPT_ALERT_TOKEN_ENV},
    {"progress", required_argument, NULL, OPT_PROGRESS},
    {"profiles", required_argument, NULL, 'p'},
    {"workflow", required_argument, NULL, 'w'},
    {"workflow-id", required_argument, NULL, 'i'},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int tool_usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "qx-send %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "; try 'qx-send %s --help'\n", cmd);
    return TOOL_EXIT_USAGE;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* The group of long options option c belongs to; 0 for those every command
 * takes (and for unknown ones). */
static unsigned option_group(int c)
{
    switch (c) {
    case 'm':
        return TOOL_OPTS_MAPPING;
    case 'd':
    case 'c':
    case OPT_DEAD_LETTER:
    case OPT_REPORT:
    case OPT_RETRY_SCHEDULE:
    case OPT_TIMEOUT_MS:
    case OPT_TRACE:
    case OPT_STATE:
    case OPT_CACERT:
    case OPT_FROM_LINE:
    case OPT_RATE:
    case OPT_PROGRESS:
        return TOOL_OPTS_DELIVERY;
    case 'p':
    case 'w':
    case 'i':
        return TOOL_OPTS_VALIDATE;
    case OPT_POLICY:
        return TOOL_OPTS_POLICY;
    case OPT_MARKETING_ACTION:
        return TOOL_OPTS_ACTION;
    case OPT_ALERT_RATE:
    case OPT_ALERT_WEBHOOK:
    case OPT_ALERT_TOKEN_ENV:
        return TOOL_OPTS_ALERTS;
    default:
        return 0;
    }
}

/* The options with a number or a schedule to check. Returns 0, or
 * TOOL_EXIT_USAGE after printing why. */
static int take_checked_option(const tool_command *cmd, int c, tool_options *o)
{
    long v;
    qx_error err;
    switch (c) {
    case 'c':
        if (parse_long(optarg, 1, QXS_MAX_CONCURRENCY, &v) != 0)
            return tool_usage_error(cmd->name, "--concurrency %s: expected 1 to 256", optarg);
        o->concurrency = (int)v;
        return 0;
    case OPT_RETRY_SCHEDULE:
        if (qxs_retry_schedule_parse(optarg, &o->retry, &err) != 0)
            return tool_usage_error(cmd->name, "--retry-schedule: %s", err.text);
        o->retry_set = true;
        return 0;
    case OPT_TIMEOUT_MS:
        if (parse_long(optarg, 1, 600000, &v) != 0)
            return tool_usage_error(cmd->name, "--timeout-ms %s: expected 1 to 600000", optarg);
        o->timeout_ms = v;
        return 0;
    case OPT_FROM_LINE:
        if (parse_long(optarg, 1, LONG_MAX, &v) != 0)
            return tool_usage_error(cmd->name, "--from-line %s: expected a line number from 1",
                                    optarg);
        o->from_line = v;
        return 0;
    case OPT_RATE:
        if (qxs_pace_parse_rate(optarg, &o->rate_per_minute, &err) != 0)
            return tool_usage_error(cmd->name, "--rate %s", err.text);
        return 0;
    case OPT_PROGRESS:
        if (tool_progress_parse(optarg, &o->progress) != 0)
            return tool_usage_error(cmd->name, "--progress %s: expected auto, always or never",
                                    optarg);
        return 0;
    }
    return 0;
}

/* The data governance and alert options. Returns 0, or TOOL_EXIT_USAGE
 * after printing why. */
static int take_governance_option(const tool_command *cmd, int c, tool_options *o)
{
    char *end;
    switch (c) {
    case OPT_POLICY:
        o->policy = optarg;
        return 0;
    case OPT_MARKETING_ACTION:
        if (o->n_actions == TOOL_MAX_ACTIONS || optarg[0] == '\0')
            return tool_usage_error(cmd->name, "--marketing-action %s: a name, at most 16 times",
                                    optarg);
        o->actions[o->n_actions++] = optarg;
        return 0;
    case OPT_ALERT_RATE:
        errno = 0;
        o->alert_rate = strtod(optarg, &end);
        if (errno != 0 || end == optarg || *end != '\0' || !(o->alert_rate >= 0) ||
            o->alert_rate > 100)
            return tool_usage_error(cmd->name,
                                    "--alert-skipped-rate %s: expected a percentage from 0 "
                                    "(no alert) to 100",
                                    optarg);
        o->alert_rate_set = true;
        return 0;
    case OPT_ALERT_WEBHOOK:
        o->alert_webhook = optarg;
        return 0;
    case OPT_ALERT_TOKEN_ENV:
        o->alert_token_env = optarg;
        return 0;
    }
    return 0;
}

/* The long options cmd takes, into out (NULL-terminated, at most as many as
 * longopts): the others are unknown to it, also as prefixes. */
static void command_options(const tool_command *cmd, struct option *out)
{
    size_t n = 0;
    for (size_t i = 0; longopts[i].name != NULL; i++) {
        unsigned group = option_group(longopts[i].val);
        if (group == 0 || (cmd->accepts & group) != 0)
            out[n++] = longopts[i];
    }
    out[n] = (struct option){NULL, 0, NULL, 0};
}

/* An option getopt_long refused, in one line. Returns TOOL_EXIT_USAGE. */
static int option_error(const tool_command *cmd, int c, char **argv)
{
    char prog[64], line[1024];
    struct option mine[sizeof longopts / sizeof longopts[0]];
    command_options(cmd, mine);
    snprintf(prog, sizeof prog, "qx-send %s", cmd->name);
    fprintf(stderr, "%s\n",
            qx_option_error(line, sizeof line, prog, c, argv[optind - 1], optopt, mine));
    return TOOL_EXIT_USAGE;
}

/* The option getopt_long returned as c (its argument in optarg). Returns 0,
 * TOOL_EXIT_USAGE after printing why, or -1 after printing the --help text. */
static int take_option(const tool_command *cmd, int c, char **argv, tool_options *o)
{
    switch (c) {
    case 'c':
    case OPT_RETRY_SCHEDULE:
    case OPT_TIMEOUT_MS:
    case OPT_FROM_LINE:
    case OPT_RATE:
    case OPT_PROGRESS:
        return take_checked_option(cmd, c, o);
    case OPT_POLICY:
    case OPT_MARKETING_ACTION:
    case OPT_ALERT_RATE:
    case OPT_ALERT_WEBHOOK:
    case OPT_ALERT_TOKEN_ENV:
        return take_governance_option(cmd, c, o);
    case 'd':
        o->destination = optarg;
        return 0;
    case 'm':
        o->mapping = optarg;
        return 0;
    case OPT_DEAD_LETTER:
        o->dead_letter = optarg;
        return 0;
    case OPT_REPORT:
        o->report = optarg;
        return 0;
    case OPT_TRACE:
        o->trace = optarg;
        return 0;
    case OPT_STATE:
        o->state = optarg;
        return 0;
    case OPT_CACERT:
        o->cacert = optarg;
        return 0;
    case 'p':
        o->profiles = optarg;
        return 0;
    case 'w':
        o->workflow = optarg;
        return 0;
    case 'i':
        o->workflow_id = optarg;
        return 0;
    case 'v':
        o->verbosity = o->verbosity < 0 ? 1 : o->verbosity + 1;
        return 0;
    case 'q':
        o->verbosity = -1;
        return 0;
    case 'h':
        fputs(cmd->usage, stdout);
        return -1;
    default:
        return option_error(cmd, c, argv);
    }
}

int tool_parse_options(const tool_command *cmd, int argc, char **argv, tool_options *o)
{
    int c;
    /* long options a command does not take are unknown to it; a leading ':'
     * tells a missing argument (':') from an unknown option ('?') */
    struct option mine[sizeof longopts / sizeof longopts[0]];
    command_options(cmd, mine);
    char shortopts[64];
    snprintf(shortopts, sizeof shortopts, ":%s", cmd->shortopts);
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, shortopts, mine, NULL)) != -1) {
        int rc = take_option(cmd, c, argv, o);
        if (rc != 0)
            return rc;
    }
    if (optind < argc)
        o->input = argv[optind++];
    if (optind < argc)
        return tool_usage_error(cmd->name, "unexpected argument %s", argv[optind]);
    return 0;
}

void tool_init_log(const tool_options *o)
{
    qx_log_level lvl = o->verbosity < 0    ? QX_LOG_ERROR
                       : o->verbosity == 0 ? QX_LOG_WARN
                       : o->verbosity == 1 ? QX_LOG_INFO
                                           : QX_LOG_DEBUG;
    qx_log_init(stderr, lvl);
}

qxs_mapping *tool_load_mapping(const char *path)
{
    qx_error err;
    qxs_mapping *m = qxs_mapping_load_file(path, &err);
    if (m == NULL)
        fprintf(stderr, "qx-send: %s\n", err.text);
    return m;
}

int tool_open_input(const char *path)
{
    if (path == NULL || strcmp(path, "-") == 0)
        return STDIN_FILENO;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fprintf(stderr, "qx-send: %s: %s\n", path, strerror(errno));
    return fd;
}
