/* options.c — qx-mock's command line (see tool.h). */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_suggest.h"
#include "tool.h"

void tool_usage(FILE *out)
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
          "      --request-timeout S   a request's headers and body must be in within S\n"
          "                            seconds of its start, however they trickle\n"
          "                            (default 30; imports: --import-timeout)\n"
          "      --import-timeout S    an import's body must be in within S seconds of\n"
          "                            its headers (default 600)\n"
          "      --max-waiters N       long-polls (/_qx/v1/runs/wait) at once; more are\n"
          "                            answered 503 (default: a quarter of\n"
          "                            --max-connections, at least 1)\n"
          "      --admin-token-env VAR  require the token in environment variable VAR\n"
          "                            for the admin API (Authorization: Bearer TOKEN);\n"
          "                            /_qx/v1/health stays open\n"
          "      --metrics-token-env VAR  require the token in VAR for /metrics\n"
          "                            (Authorization: Bearer TOKEN; default: open)\n"
          "      --allow-host NAME     accept Host NAME on the admin API and the page\n"
          "                            besides loopback and localhost (repeatable)\n"
          "      --tls-cert FILE       serve HTTPS with this PEM certificate (chain)\n"
          "      --tls-key FILE        and this PEM private key\n"
          "  -v, --verbose             log requests and runs to stderr (twice: debug)\n"
          "  -h, --help                show this help\n"
          "      --version             show the version\n"
          "\n"
          "\n"
          "       qx-mock suite DIR... [--sender-cmd CMD] [--junit FILE] [--keep-history DIR]\n"
          "                     runs scenario directories end to end (see README, \"CI suites\")\n"
          "       qx-mock conform [--sender-cmd CMD] [--profiles FILE --mapping FILE]\n"
          "                     [--seed N] [--junit FILE] [--report FILE]\n"
          "                     grades a sender against the destination's contract\n"
          "       qx-mock whatif --history FILE --config NEW [--mapping NEW --profiles FILE\n"
          "                     --old-mapping OLD] [--junit FILE] [--report FILE]\n"
          "                     replays a history through a changed config or mapping\n"
          "                     and names every run that would change\n"
          "       qx-mock capture --config FILE --workflow ID [--listen HOST:PORT]\n"
          "                       [--timeout-ms N]\n"
          "                     waits for one sample request to a workflow and prints an\n"
          "                     \"eventData\" block for its fields (see README)\n"
          "\n"
          "When ready it prints one line: qx-mock listening on http://HOST:PORT\n"
          "SIGINT/SIGTERM stop it gracefully (in-flight runs finish, the store is\n"
          "flushed). Exit status: 0 after a clean stop, 1 on a runtime error,\n"
          "2 on bad usage or configuration.\n",
          out);
}

int tool_parse_uint(const char *opt, const char *s, unsigned long long max, unsigned long long *out)
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

int tool_parse_positive(const char *opt, const char *s, unsigned long long max,
                        unsigned long long *out)
{
    if (tool_parse_uint(opt, s, max, out) != 0)
        return -1;
    if (*out == 0) {
        fprintf(stderr, "qx-mock: %s: must be at least 1\n", opt);
        return -1;
    }
    return 0;
}

int tool_option_error(const char *who, int c, char **argv, const struct option *longopts)
{
    char line[1024];
    fprintf(stderr, "%s\n",
            qx_option_error(line, sizeof line, who, c, argv[optind - 1], optopt, longopts));
    return EXIT_USAGE;
}

int tool_check_listen(const char *who, const char *listen)
{
    qx_error err;
    if (qxm_mock_check_listen(listen, &err) == 0)
        return 0;
    fprintf(stderr, "%s: %s\n", who, err.text);
    return -1;
}

/* "qx-mock sute": an operand where none is taken, likely a mistyped
 * command. Returns EXIT_USAGE after one line saying so. */
static int unexpected_operand(const char *arg)
{
    static const char *const commands[] = {"suite", "conform", "whatif", "capture"};
    const char *best = qx_suggest(arg, commands, sizeof commands / sizeof commands[0]);
    if (best != NULL)
        fprintf(stderr,
                "qx-mock: unexpected argument '%s' (did you mean 'qx-mock %s'?); try "
                "'qx-mock --help'\n",
                arg, best);
    else
        fprintf(stderr, "qx-mock: unexpected argument '%s'; try 'qx-mock --help'\n", arg);
    return EXIT_USAGE;
}

enum {
    OPT_DB = 256,
    OPT_SEED,
    OPT_HISTORY,
    OPT_MAX_CONN,
    OPT_THREADS,
    OPT_CONN_TIMEOUT,
    OPT_REQUEST_TIMEOUT,
    OPT_IMPORT_TIMEOUT,
    OPT_MAX_WAITERS,
    OPT_VERSION,
    OPT_ADMIN_TOKEN_ENV,
    OPT_METRICS_TOKEN_ENV,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_ALLOW_HOST
};

/* --allow-host NAME: kept in o->mock (by value). Returns 0 or -1 with a message. */
static int add_allow_host(qxm_options *mo, const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= QXM_ALLOW_HOST_MAX || strpbrk(name, " \t/@") != NULL) {
        fprintf(stderr, "qx-mock: --allow-host \"%s\": expected a host name\n", name);
        return -1;
    }
    if (mo->n_allow_hosts == QXM_MAX_ALLOW_HOSTS) {
        fprintf(stderr, "qx-mock: --allow-host: at most %d names\n", QXM_MAX_ALLOW_HOSTS);
        return -1;
    }
    memcpy(mo->allow_hosts[mo->n_allow_hosts++], name, n + 1);
    return 0;
}

/* Options that bound each other. Returns -1 to go on, or EXIT_USAGE with a
 * message. */
static int check_bounds(const qxm_options *mo)
{
    unsigned max_conn = mo->max_connections ? mo->max_connections : QXM_DEFAULT_MAX_CONNECTIONS;
    /* A long-poll holds its connection: were there as many as connections,
     * waits alone could take every one and nothing else would be served. */
    if (mo->max_waiters >= max_conn) {
        fprintf(stderr,
                "qx-mock: --max-waiters %u: must be below --max-connections (%u), so that "
                "long-polls never take every connection\n",
                mo->max_waiters, max_conn);
        return EXIT_USAGE;
    }
    return -1;
}

/* The server's numeric bounds: each option, its largest value, and the
 * field of qxm_options it sets (0 there means the default). */
static const struct bound {
    int opt;
    const char *name;
    unsigned long long max;
    size_t field; /* offsetof an unsigned in qxm_options */
} BOUNDS[] = {
    {OPT_MAX_CONN, "--max-connections", 100000, offsetof(qxm_options, max_connections)},
    {OPT_THREADS, "--threads", 256, offsetof(qxm_options, threads)},
    {OPT_CONN_TIMEOUT, "--connection-timeout", 3600, offsetof(qxm_options, connection_timeout_s)},
    {OPT_REQUEST_TIMEOUT, "--request-timeout", 3600, offsetof(qxm_options, request_timeout_s)},
    {OPT_IMPORT_TIMEOUT, "--import-timeout", 86400, offsetof(qxm_options, import_timeout_s)},
    {OPT_MAX_WAITERS, "--max-waiters", 100000, offsetof(qxm_options, max_waiters)},
};

/* One of the server's numeric bounds into mo: 0 when option c is one and
 * arg is valid, -1 (with a message) when arg is not, 1 when c is no bound. */
static int parse_bound(int c, const char *arg, qxm_options *mo)
{
    for (size_t i = 0; i < sizeof BOUNDS / sizeof BOUNDS[0]; i++) {
        if (BOUNDS[i].opt != c)
            continue;
        unsigned long long v;
        if (tool_parse_positive(BOUNDS[i].name, arg, BOUNDS[i].max, &v) != 0)
            return -1;
        *(unsigned *)((char *)mo + BOUNDS[i].field) = (unsigned)v;
        return 0;
    }
    return 1;
}

int tool_parse_serve(int argc, char **argv, serve_options *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"db", required_argument, NULL, OPT_DB},
        {"seed", required_argument, NULL, OPT_SEED},
        {"history", required_argument, NULL, OPT_HISTORY},
        {"max-connections", required_argument, NULL, OPT_MAX_CONN},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"connection-timeout", required_argument, NULL, OPT_CONN_TIMEOUT},
        {"request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT},
        {"import-timeout", required_argument, NULL, OPT_IMPORT_TIMEOUT},
        {"max-waiters", required_argument, NULL, OPT_MAX_WAITERS},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {"admin-token-env", required_argument, NULL, OPT_ADMIN_TOKEN_ENV},
        {"metrics-token-env", required_argument, NULL, OPT_METRICS_TOKEN_ENV},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        {"allow-host", required_argument, NULL, OPT_ALLOW_HOST},
        {NULL, 0, NULL, 0},
    };
    *o = (serve_options){0};
    unsigned long long v;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:l:vh", longopts, NULL)) != -1) {
        int bound = parse_bound(c, optarg, &o->mock);
        if (bound < 0)
            return EXIT_USAGE;
        if (bound == 0)
            continue;
        switch (c) {
        case 'c':
            o->config_path = optarg;
            break;
        case 'l':
            if (tool_check_listen("qx-mock", optarg) != 0)
                return EXIT_USAGE;
            o->mock.listen = optarg;
            break;
        case OPT_DB:
            o->mock.db_path = optarg;
            break;
        case OPT_SEED:
            if (tool_parse_uint("--seed", optarg, UINT64_MAX, &v) != 0)
                return EXIT_USAGE;
            o->mock.seeded = true;
            o->mock.seed = v;
            break;
        case OPT_HISTORY:
            o->history = optarg;
            break;
        case OPT_ADMIN_TOKEN_ENV:
            o->admin_env = optarg;
            break;
        case OPT_METRICS_TOKEN_ENV:
            o->metrics_env = optarg;
            break;
        case OPT_TLS_CERT:
            o->tls_cert = optarg;
            break;
        case OPT_TLS_KEY:
            o->tls_key = optarg;
            break;
        case OPT_ALLOW_HOST:
            if (add_allow_host(&o->mock, optarg) != 0)
                return EXIT_USAGE;
            break;
        case 'v':
            o->verbose++;
            break;
        case 'h':
            tool_usage(stdout);
            return 0;
        case OPT_VERSION:
            puts("qx-mock " QX_VERSION);
            return 0;
        default:
            return tool_option_error("qx-mock", c, argv, longopts);
        }
    }
    if (optind < argc)
        return unexpected_operand(argv[optind]);
    if (o->config_path == NULL) {
        fputs("qx-mock: --config FILE is required (try --help)\n", stderr);
        return EXIT_USAGE;
    }
    return check_bounds(&o->mock);
}

int tool_check_writable(const char *who, const char *opt, const char *path)
{
    if (path == NULL)
        return 0;
    FILE *f = fopen(path, "a");
    if (f == NULL) {
        fprintf(stderr, "%s: %s %s: %s\n", who, opt, path, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}
