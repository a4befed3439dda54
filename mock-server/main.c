/*
 * qx-mock — a Qualtrics JSON-event emulator that records every workflow run.
 *
 * This file only parses options, wires the emulator up and waits for a
 * signal; the emulator itself is the qxmock library (qxm_mock.h).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_log.h"
#include "qxm_config.h"
#include "qxm_mock.h"
#include "qxm_suite.h"

#include <limits.h>
#include <unistd.h>

#define EXIT_USAGE 2

static void usage(FILE *out)
{
    fputs("Usage: qx-mock --config FILE [options]\n"
          "\n"
          "Emulates the Qualtrics JSON-event endpoint and the workflows behind it,\n"
          "records every run (SUCCESS or FAILURE, with the reason) and serves the\n"
          "run history over an admin API (/_qx/v1) and a web page (/).\n"
          "\n"
          "Options:\n"
          "  -c, --config FILE         users and workflows (JSON; see README)\n"
          "  -l, --listen HOST:PORT    address to listen on (default 127.0.0.1:8080;\n"
          "                            port 0 picks a free port; [::1]:PORT for IPv6)\n"
          "      --db FILE             SQLite file for the history (default: a private\n"
          "                            temporary store, deleted at exit)\n"
          "      --seed N              draw ids, delays and faults from seed N, so the\n"
          "                            same requests give the same history\n"
          "      --history FILE        load an exported history (NDJSON) at start\n"
          "      --max-connections N   concurrent connections (default 512)\n"
          "      --threads N           HTTP worker threads (default: number of CPUs)\n"
          "      --connection-timeout S  drop connections idle this long (default 10)\n"
          "      --admin-token-env VAR  require the token in environment variable VAR\n"
          "                            for the admin API (Authorization: Bearer TOKEN)\n"
          "      --tls-cert FILE       serve HTTPS with this PEM certificate (chain)\n"
          "      --tls-key FILE        and this PEM private key\n"
          "  -v, --verbose             log requests and runs to stderr (twice: debug)\n"
          "  -h, --help                show this help\n"
          "      --version             show the version\n"
          "\n"
          "\n"
          "       qx-mock suite DIR... [--sender-cmd CMD] [--junit FILE] [--keep-history DIR]\n"
          "                     runs scenario directories end to end (see README, \"CI suites\")\n"
          "\n"
          "When ready it prints one line: qx-mock listening on http://HOST:PORT\n"
          "SIGINT/SIGTERM stop it gracefully (in-flight runs finish, the store is\n"
          "flushed). Exit status: 0 after a clean stop, 1 on a runtime error,\n"
          "2 on bad usage or configuration.\n",
          out);
}

static int parse_uint(const char *opt, const char *s, unsigned long long max,
                      unsigned long long *out)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '\0')
        goto bad;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        goto bad;
    *out = v;
    return 0;
bad:
    fprintf(stderr, "qx-mock: %s: expected a whole number up to %llu, got \"%s\"\n", opt, max, s);
    return -1;
}

enum {
    OPT_DB = 256,
    OPT_SEED,
    OPT_HISTORY,
    OPT_MAX_CONN,
    OPT_THREADS,
    OPT_CONN_TIMEOUT,
    OPT_VERSION,
    OPT_ADMIN_TOKEN_ENV,
    OPT_TLS_CERT,
    OPT_TLS_KEY
};

/* Reads a whole (small) file; malloc'd text or NULL with a message. */
static char *read_text_file(const char *opt, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "qx-mock: %s %s: %s\n", opt, path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t cap = 0, len = 0;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *p = realloc(text, cap);
            if (p == NULL) {
                free(text);
                fclose(f);
                return NULL;
            }
            text = p;
        }
        memcpy(text + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (text == NULL)
        text = calloc(1, 1);
    else
        text[len] = '\0';
    return text;
}

static void suite_usage(FILE *out)
{
    fputs("Usage: qx-mock suite DIR... [options]\n"
          "\n"
          "Runs each scenario directory: starts an emulator with the scenario's\n"
          "workflows on a free loopback port, runs the sender, waits until the\n"
          "expected runs are finished and compares them with expected-runs.ndjson.\n"
          "Prints PASS/FAIL per scenario and \"N passed, N failed\".\n"
          "\n"
          "Options:\n"
          "      --sender-cmd CMD    run CMD (with /bin/sh) instead of qx-send; it gets\n"
          "                          QX_URL, QX_USERNAME, QX_API_TOKEN, QX_PROFILES and\n"
          "                          QX_MAPPING in its environment\n"
          "      --junit FILE        write JUnit XML for CI systems\n"
          "      --keep-history DIR  write each scenario's run history (NDJSON export)\n"
          "      --timeout-ms N      per scenario (default 120000)\n"
          "  -h, --help              show this help\n"
          "\n"
          "Exit status: 0 when every scenario passed, 1 otherwise, 2 on bad usage.\n",
          out);
}

/* The qx-send installed beside this qx-mock. */
static void sibling_sender(char *out, size_t size)
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

static int suite_main(int argc, char **argv)
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
    sibling_sender(sender, sizeof sender);
    qxm_suite_options opt = {.sender_path = sender};
    const char *junit = NULL;
    unsigned long long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
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
            if (parse_uint("--timeout-ms", optarg, 3600000, &v) != 0 || v == 0)
                return EXIT_USAGE;
            opt.timeout_ms = (int64_t)v;
            break;
        case 'h':
            suite_usage(stdout);
            return 0;
        default:
            suite_usage(stderr);
            return EXIT_USAGE;
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
    signal(SIGPIPE, SIG_IGN);
    size_t n = (size_t)(argc - optind);
    qxm_scenario_result *results = calloc(n, sizeof *results);
    if (results == NULL)
        return 1;
    size_t passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        qxm_suite_run_scenario(argv[optind + (int)i], &opt, &results[i]);
        if (results[i].passed) {
            printf("PASS %s (%lld runs, %lld ms)\n", results[i].name, (long long)results[i].runs,
                   (long long)results[i].elapsed_ms);
            passed++;
        } else {
            printf("FAIL %s: %s\n", results[i].name, results[i].failure);
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

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "suite") == 0)
        return suite_main(argc - 1, argv + 1);

    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"db", required_argument, NULL, OPT_DB},
        {"seed", required_argument, NULL, OPT_SEED},
        {"history", required_argument, NULL, OPT_HISTORY},
        {"max-connections", required_argument, NULL, OPT_MAX_CONN},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"connection-timeout", required_argument, NULL, OPT_CONN_TIMEOUT},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {"admin-token-env", required_argument, NULL, OPT_ADMIN_TOKEN_ENV},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *history = NULL;
    const char *admin_env = NULL, *tls_cert = NULL, *tls_key = NULL;
    qxm_options opt = {0};
    int verbose = 0;
    unsigned long long v;
    int c;
    while ((c = getopt_long(argc, argv, "c:l:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'l':
            opt.listen = optarg;
            break;
        case OPT_DB:
            opt.db_path = optarg;
            break;
        case OPT_SEED:
            if (parse_uint("--seed", optarg, UINT64_MAX, &v) != 0)
                return EXIT_USAGE;
            opt.seeded = true;
            opt.seed = v;
            break;
        case OPT_HISTORY:
            history = optarg;
            break;
        case OPT_MAX_CONN:
            if (parse_uint("--max-connections", optarg, 100000, &v) != 0 || v == 0)
                return EXIT_USAGE;
            opt.max_connections = (unsigned)v;
            break;
        case OPT_THREADS:
            if (parse_uint("--threads", optarg, 256, &v) != 0 || v == 0)
                return EXIT_USAGE;
            opt.threads = (unsigned)v;
            break;
        case OPT_CONN_TIMEOUT:
            if (parse_uint("--connection-timeout", optarg, 3600, &v) != 0 || v == 0)
                return EXIT_USAGE;
            opt.connection_timeout_s = (unsigned)v;
            break;
        case OPT_ADMIN_TOKEN_ENV:
            admin_env = optarg;
            break;
        case OPT_TLS_CERT:
            tls_cert = optarg;
            break;
        case OPT_TLS_KEY:
            tls_key = optarg;
            break;
        case 'v':
            verbose++;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case OPT_VERSION:
            puts("qx-mock " QX_VERSION);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "qx-mock: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (config_path == NULL) {
        fputs("qx-mock: --config FILE is required (try --help)\n", stderr);
        return EXIT_USAGE;
    }
    qx_log_init(stderr, verbose >= 2 ? QX_LOG_DEBUG : verbose == 1 ? QX_LOG_INFO : QX_LOG_WARN);
    if (admin_env != NULL) {
        opt.admin_token = getenv(admin_env);
        if (opt.admin_token == NULL || *opt.admin_token == '\0') {
            fprintf(stderr, "qx-mock: --admin-token-env %s: the variable is not set or empty\n",
                    admin_env);
            return EXIT_USAGE;
        }
    }
    if ((tls_cert == NULL) != (tls_key == NULL)) {
        fputs("qx-mock: --tls-cert and --tls-key go together\n", stderr);
        return EXIT_USAGE;
    }
    char *cert_pem = NULL, *key_pem = NULL;
    if (tls_cert != NULL) {
        cert_pem = read_text_file("--tls-cert", tls_cert);
        key_pem = read_text_file("--tls-key", tls_key);
        if (cert_pem == NULL || key_pem == NULL) {
            free(cert_pem);
            free(key_pem);
            return EXIT_USAGE;
        }
        opt.tls_cert_pem = cert_pem;
        opt.tls_key_pem = key_pem;
    }

    qx_error err;
    qxm_config *cfg = qxm_config_load_file(config_path, &err);
    if (cfg == NULL) {
        fprintf(stderr, "qx-mock: %s\n", err.text);
        return EXIT_USAGE;
    }
    /* Signals are taken by sigwait below: block them before any thread
     * starts so every thread inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    qxm_mock *m = qxm_mock_new(cfg, &opt, &err);
    free(cert_pem);
    if (key_pem != NULL) {
        explicit_bzero(key_pem, strlen(key_pem));
        free(key_pem);
    }
    if (m == NULL) {
        fprintf(stderr, "qx-mock: %s\n", err.text);
        return 1;
    }
    if (history != NULL) {
        int64_t n = qxm_mock_import_file(m, history, &err);
        if (n < 0) {
            fprintf(stderr, "qx-mock: --history %s\n", err.text);
            qxm_mock_free(m);
            return EXIT_USAGE;
        }
        qx_log(QX_LOG_INFO, "loaded %" PRId64 " runs from %s", n, history);
    }
    if (qxm_mock_start(m, &err) != 0) {
        fprintf(stderr, "qx-mock: %s\n", err.text);
        qxm_mock_free(m);
        return 1;
    }
    if (!qxm_mock_is_loopback(m) && admin_env == NULL)
        fprintf(stderr,
                "qx-mock: warning: listening beyond loopback with an open admin API; "
                "anyone who can reach %s can read and clear the run history "
                "(set --admin-token-env)\n",
                qxm_mock_url(m));
    printf("qx-mock listening on %s\n", qxm_mock_url(m));
    fflush(stdout);

    int sig = 0;
    sigwait(&sigs, &sig);
    qx_log(QX_LOG_INFO, "%s received: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    qxm_mock_free(m);
    return 0;
}
