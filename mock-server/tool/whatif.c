/*
 * whatif.c — `qx-mock whatif --history FILE --config NEW [options]`: what
 * a changed config would have done with recorded traffic (qxm_whatif.h).
 * Prints a line per run that differs, the summary table, and writes the
 * JUnit and JSON reports asked for.
 */
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qx_log.h"
#include "qxm_whatif.h"
#include "tool.h"

#define WHATIF_DEFAULT_SEED 1

static void whatif_usage(FILE *out)
{
    fputs("Usage: qx-mock whatif --history FILE --config NEW [options]\n"
          "       qx-mock whatif --history FILE --config NEW --mapping NEW --profiles FILE\n"
          "                      --old-mapping OLD [options]\n"
          "\n"
          "Replays the payloads of an exported history (GET /_qx/v1/export; journal\n"
          "entries of GET /_qx/v1/requests may be added, one per line), in order and\n"
          "each under its recorded workflow, through an in-process emulator built from\n"
          "the NEW config, and compares each new run with the recorded one: status,\n"
          "conditionsMet, eventData field by field, tasks (type, status, error), error\n"
          "text. A run that no longer starts is GONE, a run where none was is NEW.\n"
          "\n"
          "Options:\n"
          "  -H, --history FILE      the recorded history (NDJSON)\n"
          "  -c, --config NEW        the changed users and workflows (JSON; see README)\n"
          "  -s, --seed N            the emulator's seed (default 1)\n"
          "      --junit FILE        JUnit XML: one testcase per recorded run\n"
          "      --report FILE       JSON: every difference of every run\n"
          "      --expect-changes    succeed only when something changes\n"
          "      --mapping NEW       with --profiles and --old-mapping: render the\n"
          "                          profiles with both mappings (the qx-send beside\n"
          "                          qx-mock), list the payload differences, and replay\n"
          "                          each recorded run with its profile's new payload\n"
          "      --profiles FILE     the profiles (NDJSON) behind the history\n"
          "      --old-mapping OLD   the mapping that recorded the history (required:\n"
          "                          an export does not name it)\n"
          "  -v, --verbose           log to stderr (twice: debug)\n"
          "  -h, --help              show this help\n"
          "\n"
          "Exit status: 0 when nothing changed (no run, no payload), 1 when something\n"
          "did (with --expect-changes: 0 when something changed, 1 when nothing did);\n"
          "2 on bad usage or a file that cannot be read or written.\n",
          out);
}

typedef struct whatif_options {
    qxm_whatif_options run;
    qxm_whatif_mapping mapping;
    char sender[PATH_MAX];
    const char *junit;
    const char *report;
    bool expect_changes;
    int verbose;
} whatif_options;

enum { OPT_JUNIT = 256, OPT_REPORT, OPT_EXPECT, OPT_MAPPING, OPT_PROFILES, OPT_OLD_MAPPING };

/* The mapping options go together. Returns -1 when they are right, else
 * EXIT_USAGE (with a message). */
static int check_mapping(whatif_options *o)
{
    qxm_whatif_mapping *m = &o->mapping;
    if (m->new_mapping == NULL && m->profiles == NULL && m->old_mapping == NULL)
        return -1;
    if (m->new_mapping == NULL || m->profiles == NULL || m->old_mapping == NULL) {
        fprintf(stderr, "qx-mock whatif: --mapping NEW, --profiles FILE and --old-mapping OLD go "
                        "together (an exported history does not name its mapping)\n");
        return EXIT_USAGE;
    }
    tool_sibling_sender(o->sender, sizeof o->sender);
    m->sender = o->sender;
    o->run.mapping = m;
    return -1;
}

/* Returns -1 to go on, else the exit status (with a message). */
static int parse(int argc, char **argv, whatif_options *o)
{
    static const struct option longopts[] = {
        {"history", required_argument, NULL, 'H'},
        {"config", required_argument, NULL, 'c'},
        {"seed", required_argument, NULL, 's'},
        {"junit", required_argument, NULL, OPT_JUNIT},
        {"report", required_argument, NULL, OPT_REPORT},
        {"expect-changes", no_argument, NULL, OPT_EXPECT},
        {"mapping", required_argument, NULL, OPT_MAPPING},
        {"profiles", required_argument, NULL, OPT_PROFILES},
        {"old-mapping", required_argument, NULL, OPT_OLD_MAPPING},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (whatif_options){.run = {.seed = WHATIF_DEFAULT_SEED}};
    unsigned long long v;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":H:c:s:vh", longopts, NULL)) != -1) {
        if (c == 'H') {
            o->run.history_path = optarg;
        } else if (c == 'c') {
            o->run.config_path = optarg;
        } else if (c == 's') {
            if (tool_parse_uint("--seed", optarg, UINT64_MAX, &v) != 0)
                return EXIT_USAGE;
            o->run.seed = v;
        } else if (c == OPT_JUNIT) {
            o->junit = optarg;
        } else if (c == OPT_REPORT) {
            o->report = optarg;
        } else if (c == OPT_EXPECT) {
            o->expect_changes = true;
        } else if (c == OPT_MAPPING) {
            o->mapping.new_mapping = optarg;
        } else if (c == OPT_PROFILES) {
            o->mapping.profiles = optarg;
        } else if (c == OPT_OLD_MAPPING) {
            o->mapping.old_mapping = optarg;
        } else if (c == 'v') {
            o->verbose++;
        } else if (c == 'h') {
            whatif_usage(stdout);
            return 0;
        } else {
            return tool_option_error("qx-mock whatif", c, argv, longopts);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "qx-mock whatif: unexpected argument: %s\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (o->run.history_path == NULL || o->run.config_path == NULL) {
        fprintf(stderr, "qx-mock whatif: --history FILE and --config NEW are required "
                        "(see --help)\n");
        return EXIT_USAGE;
    }
    return check_mapping(o);
}

int tool_whatif(int argc, char **argv)
{
    whatif_options o;
    int status = parse(argc, argv, &o);
    if (status >= 0)
        return status;
    qx_log_init(stderr, o.verbose >= 2 ? QX_LOG_DEBUG : o.verbose == 1 ? QX_LOG_INFO : QX_LOG_WARN);
    o.run.lines = stdout;
    qx_error err;
    qxm_whatif_counts counts;
    json_t *report = qxm_whatif_run(&o.run, &counts, &err);
    if (report == NULL) {
        fprintf(stderr, "qx-mock whatif: %s\n", err.text);
        return EXIT_USAGE;
    }
    qxm_whatif_print_summary(stdout, &counts);
    fflush(stdout);
    status = 0;
    if ((o.junit != NULL && qxm_whatif_write_junit(o.junit, report, &err) != 0) ||
        (o.report != NULL && qxm_whatif_write_report(o.report, report, &err) != 0)) {
        fprintf(stderr, "qx-mock whatif: %s\n", err.text);
        status = EXIT_USAGE;
    }
    json_decref(report);
    if (status != 0)
        return status;
    bool changed = qxm_whatif_differing(&counts) > 0;
    return changed == o.expect_changes ? 0 : 1;
}
