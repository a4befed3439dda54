/* suite.c — `qx-mock suite DIR... [options]` (see qxm_suite.h). */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qxm_suite.h"
#include "tool.h"

static void suite_usage(FILE *out)
{
    fputs("Usage: qx-mock suite DIR... [options]\n"
          "\n"
          "Runs each scenario directory: starts an emulator with the scenario's\n"
          "workflows on a free loopback port, runs the sender, waits until the\n"
          "expected runs are finished and compares them with expected-runs.ndjson.\n"
          "Prints PASS/FAIL per scenario (ERROR when the scenario or its sender\n"
          "could not run) and \"N passed, N failed\".\n"
          "\n"
          "Options:\n"
          "      --sender-cmd CMD    run CMD (with /bin/sh) instead of qx-send; it gets\n"
          "                          QX_URL, QX_USERNAME, QX_API_TOKEN, QX_PROFILES,\n"
          "                          QX_MAPPING and QX_RATE_LIMIT_PER_MINUTE in its\n"
          "                          environment\n"
          "      --junit FILE        write JUnit XML for CI systems\n"
          "      --keep-history DIR  write each scenario's run history (NDJSON export)\n"
          "      --timeout-ms N      per scenario (default 120000)\n"
          "  -h, --help              show this help\n"
          "\n"
          "Exit status: 0 when every scenario passed, 1 otherwise, 2 on bad usage.\n",
          out);
}

void tool_sibling_sender(char *out, size_t size)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        snprintf(out, size, "qx-send");
        return;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash != NULL)
        *slash = '\0';
    if (snprintf(out, size, "%s/qx-send", self) >= (int)size)
        snprintf(out, size, "qx-send"); /* too long a path: fall back to PATH */
}

/* Runs each scenario, prints PASS/FAIL lines and the count, writes JUnit.
 * Returns 0 when every scenario passed, else 1. */
static int run_all(char **dirs, size_t n, const qxm_suite_options *opt, const char *junit)
{
    signal(SIGPIPE, SIG_IGN);
    qxm_scenario_result *results = calloc(n, sizeof *results);
    if (results == NULL)
        return 1;
    size_t passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        qxm_suite_run_scenario(dirs[i], opt, &results[i]);
        if (results[i].passed) {
            printf("PASS %s (%lld run%s, %lld ms)\n", results[i].name, (long long)results[i].runs,
                   results[i].runs == 1 ? "" : "s", (long long)results[i].elapsed_ms);
            passed++;
        } else {
            printf("%s %s: %s\n", results[i].error ? "ERROR" : "FAIL", results[i].name,
                   results[i].failure);
            failed++;
        }
        fflush(stdout);
    }
    int rc = failed == 0 ? 0 : 1;
    if (junit != NULL) {
        qx_error err;
        if (qxm_suite_write_junit(junit, results, n, &err) != 0) {
            fprintf(stderr, "qx-mock suite: %s\n", err.text);
            rc = 1;
        }
    }
    printf("%zu passed, %zu failed\n", passed, failed);
    for (size_t i = 0; i < n; i++)
        qxm_scenario_result_clear(&results[i]);
    free(results);
    return rc;
}

/* Two scenarios of one name cannot be told apart in a report: refused
 * before anything runs. A scenario that does not load is left to its run,
 * which reports why. */
static int unique_names(char **dirs, size_t n)
{
    char(*names)[256] = calloc(n, sizeof *names);
    if (names == NULL)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        qx_error err;
        if (qxm_suite_scenario_name(dirs[i], names[i], sizeof names[i], &err) != 0) {
            names[i][0] = '\0';
            continue;
        }
        for (size_t k = 0; k < i; k++) {
            if (names[k][0] != '\0' && strcmp(names[k], names[i]) == 0) {
                fprintf(stderr,
                        "qx-mock suite: %s and %s are both named \"%s\": give each scenario "
                        "its own name\n",
                        dirs[k], dirs[i], names[i]);
                rc = -1;
                break;
            }
        }
    }
    free(names);
    return rc;
}

int tool_suite(int argc, char **argv)
{
    enum { S_SENDER = 1, S_JUNIT, S_KEEP, S_TIMEOUT };
    static const struct option longopts[] = {
        {"sender-cmd", required_argument, NULL, S_SENDER},
        {"junit", required_argument, NULL, S_JUNIT},
        {"keep-history", required_argument, NULL, S_KEEP},
        {"timeout-ms", required_argument, NULL, S_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char sender[PATH_MAX];
    tool_sibling_sender(sender, sizeof sender);
    qxm_suite_options opt = {.sender_path = sender};
    const char *junit = NULL;
    unsigned long long v;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case S_SENDER:
            opt.sender_cmd = optarg;
            break;
        case S_JUNIT:
            junit = optarg;
            break;
        case S_KEEP:
            opt.keep_history = optarg;
            break;
        case S_TIMEOUT:
            if (tool_parse_positive("--timeout-ms", optarg, 3600000, &v) != 0)
                return EXIT_USAGE;
            opt.timeout_ms = (int64_t)v;
            break;
        case 'h':
            suite_usage(stdout);
            return 0;
        default:
            return tool_option_error("qx-mock suite", c, argv, longopts);
        }
    }
    if (optind >= argc) {
        fputs("qx-mock suite: give at least one scenario directory (try --help)\n", stderr);
        return EXIT_USAGE;
    }
    if (opt.sender_cmd == NULL && access(sender, X_OK) != 0) {
        fprintf(stderr, "qx-mock suite: no sender at %s (build qx-send, or use --sender-cmd)\n",
                sender);
        return EXIT_USAGE;
    }
    if (tool_check_writable("qx-mock suite", "--junit", junit) != 0 ||
        unique_names(argv + optind, (size_t)(argc - optind)) != 0)
        return EXIT_USAGE;
    return run_all(argv + optind, (size_t)(argc - optind), &opt, junit);
}
