/* conform.c — `qx-mock conform [options]` (see qxm_conform.h). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qxm_conform.h"
#include "qxm_suite.h"
#include "tool.h"

static void conform_usage(FILE *out)
{
    fputs("Usage: qx-mock conform [options]\n"
          "\n"
          "Grades a sender against the contract of the platform's streaming destination\n"
          "to a Qualtrics JSON-event URL. Starts an emulator on a free loopback port,\n"
          "runs the sender against it with a seeded plan of faults (5xx, 408, 429 with\n"
          "Retry-After, dropped connections, one 400) and a rate limit whose bucket\n"
          "holds one second's worth, then prints one line per rule, PASS or FAIL with\n"
          "its evidence, and \"N passed, N failed\". Rules: auth, payload, retry,\n"
          "retry-after, no-retry-on-4xx, no-duplicates, rate, order, exits, complete\n"
          "(README, \"Conformance kit\").\n"
          "\n"
          "Options:\n"
          "      --sender-cmd CMD    run CMD (with /bin/sh) instead of the qx-send beside\n"
          "                          qx-mock; it gets QX_URL, QX_USERNAME, QX_API_TOKEN,\n"
          "                          QX_PROFILES, QX_MAPPING and QX_RATE_LIMIT_PER_MINUTE\n"
          "                          in its environment\n"
          "      --profiles FILE     NDJSON profiles to send (with --mapping; default:\n"
          "                          built-in profiles covering activations, exits,\n"
          "                          updates of one identity, ECID-only and hashed emails)\n"
          "      --mapping FILE      qx-send mapping for --profiles\n"
          "      --seed N            the fault plan's seed (default 1)\n"
          "      --junit FILE        write JUnit XML, one testcase per rule\n"
          "      --report FILE       write a JSON report: every rule with its verdict,\n"
          "                          evidence and source\n"
          "      --timeout-ms N      the sender's time limit (default 120000)\n"
          "  -h, --help              show this help\n"
          "\n"
          "Exit status: 0 when every rule passed, 1 otherwise, 2 on bad usage.\n",
          out);
}

/* Prints the rules and the count; returns the exit status. */
static int print_result(const qxm_conform_result *r)
{
    char why[80];
    size_t passed = 0, failed = 0;
    for (size_t i = 0; i < r->n_rules; i++) {
        const qxm_rule_result *rule = &r->rules[i];
        if (rule->passed) {
            printf("PASS %s\n", rule->rule);
            passed++;
        } else {
            printf("FAIL %s: %s\n", rule->rule, rule->summary);
            failed++;
        }
    }
    printf("%zu passed, %zu failed\n", passed, failed);
    if (r->sender_status < 0 || r->sender_status > 1) {
        if (r->sender_status < 0)
            fprintf(stderr, "qx-mock conform: the sender: %s\n", r->sender_problem);
        else
            fprintf(stderr, "qx-mock conform: the sender %s\n",
                    qxm_sender_exit_text(r->sender_status, why, sizeof why));
        if (r->sender_output != NULL)
            fprintf(stderr, "--- the sender's last output ---\n%s", r->sender_output);
    }
    fprintf(stderr,
            "qx-mock conform: %lld payloads, %lld requests, rate limit %u/min, sender ran "
            "%lld ms\n",
            (long long)r->payloads, (long long)r->requests, r->rate_limit_per_minute,
            (long long)r->elapsed_ms);
    return failed == 0 && passed > 0 ? 0 : 1;
}

/* The options of the command line into *opt; the exit status to end with,
 * or -1 to go on. */
static int parse(int argc, char **argv, qxm_conform_options *opt, const char **junit,
                 const char **report)
{
    enum { C_SENDER = 1, C_PROFILES, C_MAPPING, C_SEED, C_JUNIT, C_REPORT, C_TIMEOUT };
    static const struct option longopts[] = {
        {"sender-cmd", required_argument, NULL, C_SENDER},
        {"profiles", required_argument, NULL, C_PROFILES},
        {"mapping", required_argument, NULL, C_MAPPING},
        {"seed", required_argument, NULL, C_SEED},
        {"junit", required_argument, NULL, C_JUNIT},
        {"report", required_argument, NULL, C_REPORT},
        {"timeout-ms", required_argument, NULL, C_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    unsigned long long v;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case C_SENDER:
            opt->sender_cmd = optarg;
            break;
        case C_PROFILES:
            opt->profiles = optarg;
            break;
        case C_MAPPING:
            opt->mapping = optarg;
            break;
        case C_SEED:
            if (tool_parse_uint("--seed", optarg, UINT64_MAX, &v) != 0)
                return EXIT_USAGE;
            opt->seed = v;
            break;
        case C_JUNIT:
            *junit = optarg;
            break;
        case C_REPORT:
            *report = optarg;
            break;
        case C_TIMEOUT:
            if (tool_parse_positive("--timeout-ms", optarg, 3600000, &v) != 0)
                return EXIT_USAGE;
            opt->timeout_ms = (int64_t)v;
            break;
        case 'h':
            conform_usage(stdout);
            return 0;
        default:
            return tool_option_error("qx-mock conform", c, argv, longopts);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "qx-mock conform: unexpected argument \"%s\" (try --help)\n", argv[optind]);
        return EXIT_USAGE;
    }
    if ((opt->profiles == NULL) != (opt->mapping == NULL)) {
        fputs("qx-mock conform: give --profiles and --mapping together, or neither\n", stderr);
        return EXIT_USAGE;
    }
    return -1;
}

int tool_conform(int argc, char **argv)
{
    char sender[PATH_MAX];
    tool_sibling_sender(sender, sizeof sender);
    qxm_conform_options opt = {.sender_path = sender, .seed = 1};
    const char *junit = NULL, *report = NULL;
    int st = parse(argc, argv, &opt, &junit, &report);
    if (st >= 0)
        return st;
    if (opt.sender_cmd == NULL && access(sender, X_OK) != 0) {
        fprintf(stderr, "qx-mock conform: no sender at %s (build qx-send, or use --sender-cmd)\n",
                sender);
        return EXIT_USAGE;
    }
    if (tool_check_writable("qx-mock conform", "--junit", junit) != 0 ||
        tool_check_writable("qx-mock conform", "--report", report) != 0)
        return EXIT_USAGE;
    signal(SIGPIPE, SIG_IGN);
    qxm_conform_result r;
    qx_error err;
    if (qxm_conform_run(&opt, &r, &err) != 0) {
        fprintf(stderr, "qx-mock conform: %s\n", err.text);
        return EXIT_USAGE;
    }
    int rc = print_result(&r);
    if (junit != NULL && qxm_conform_write_junit(junit, &r, &err) != 0) {
        fprintf(stderr, "qx-mock conform: %s\n", err.text);
        rc = 1;
    }
    if (report != NULL && qxm_conform_write_report(report, &r, &err) != 0) {
        fprintf(stderr, "qx-mock conform: %s\n", err.text);
        rc = 1;
    }
    qxm_conform_result_clear(&r);
    return rc;
}
