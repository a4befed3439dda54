/*
 * main.c — qx-send, the streaming destination: option parsing, the terminal,
 * signals and exit codes. Everything else is the qxsend library.
 *
 * Exit status: 0 nothing failed; 1 something failed (a payload, a validation
 * error, a malformed line); 2 bad usage or configuration; 3 a --state run
 * stopped by a signal with lines still pending.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qx_log.h"
#include "qxs_deliver.h"
#include "qxs_destination.h"
#include "qxs_input.h"
#include "qxs_mapping.h"
#include "qxs_render.h"
#include "qxs_report.h"
#include "qxs_retry.h"
#include "qxs_send.h"
#include "qxs_state.h"
#include "qxs_validate.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define EXIT_PAUSED 3

static const char usage_main[] =
    "Usage: qx-send COMMAND [OPTIONS] [FILE]\n"
    "\n"
    "The streaming destination of qxharness: maps customer profiles to Qualtrics\n"
    "JSON-event payloads and delivers them, as the platform's Qualtrics Automations\n"
    "destination does.\n"
    "\n"
    "Commands:\n"
    "  send      map profiles (NDJSON) and deliver them to the destination\n"
    "  render    print the payloads that would be sent; send nothing\n"
    "  validate  check a mapping against sample profiles and a workflow\n"
    "  replay    re-send the payloads of a dead-letter file or a qx-mock history export\n"
    "\n"
    "Run 'qx-send COMMAND --help' for a command's options.\n"
    "Exit status: 0 nothing failed, 1 something failed, 2 bad usage or configuration,\n"
    "3 stopped with lines pending in a --state file.\n";

static const char usage_send[] =
    "Usage: qx-send send --destination DEST.json --mapping MAP.json [OPTIONS] [FILE|-]\n"
    "\n"
    "Reads profiles as NDJSON from FILE or standard input (a stream: each line is\n"
    "sent as soon as it arrives), renders each with the mapping and POSTs the\n"
    "payload to the destination's URL with Basic auth (username, API token).\n"
    "\n"
    "  -d, --destination FILE   destination file (name, url, username, passwordEnv|passwordFile)\n"
    "  -m, --mapping FILE       mapping file (audiences, identities, attributes)\n"
    "  -c, --concurrency N      requests in flight at most (default 8, 1..256)\n"
    "      --cacert FILE        CA certificates (PEM) to verify an https destination with,\n"
    "                           instead of the system's; certificates are always verified\n"
    "      --dead-letter FILE   append payloads that finally failed, as NDJSON\n"
    "      --report FILE        write the JSON report (counts, retries, latency, throughput)\n"
    "      --retry-schedule L   retry delays, e.g. 100ms,200ms (units ms, s; 'none': no\n"
    "                           retries); default 15s,30s, the platform's policy\n"
    "      --state FILE         checkpoint progress in FILE; run again with the same FILE\n"
    "                           (and input FILE) to resume after a crash or a signal\n"
    "      --timeout-ms N       time limit of one HTTP call (default 2000)\n"
    "      --trace FILE         write every HTTP call as NDJSON (Authorization redacted)\n"
    "  -v, --verbose            log retries and exclusions too (twice: every delivery)\n"
    "  -q, --quiet              log errors only\n"
    "  -h, --help               this text\n"
    "\n"
    "Exit status: 0 when every line was activated or excluded, 1 when any failed,\n"
    "2 on bad usage or configuration, 3 when a --state run was stopped with lines\n"
    "pending. SIGINT/SIGTERM stop reading, finish the requests in flight,\n"
    "dead-letter the rest (with --state: keep it pending) and write the report.\n";

static const char usage_replay[] =
    "Usage: qx-send replay --destination DEST.json [OPTIONS] FILE|-\n"
    "\n"
    "Re-sends the \"payload\" of every line of FILE, in file order: a dead-letter\n"
    "file written by 'send --dead-letter', or a qx-mock history export\n"
    "(GET /_qx/v1/export). Payloads are sent as recorded, not re-rendered.\n"
    "\n"
    "  -d, --destination FILE   destination file\n"
    "  -c, --concurrency N      requests in flight at most (default 1: original order)\n"
    "      --cacert FILE        CA certificates (PEM) for an https destination\n"
    "      --dead-letter FILE   append payloads that failed again\n"
    "      --report FILE        write the JSON report\n"
    "      --retry-schedule L   retry delays (default 15s,30s)\n"
    "      --state FILE         checkpoint progress; run again with it to resume\n"
    "      --timeout-ms N       time limit of one HTTP call (default 2000)\n"
    "      --trace FILE         write every HTTP call as NDJSON\n"
    "  -v, --verbose / -q, --quiet / -h, --help\n";

static const char usage_render[] =
    "Usage: qx-send render --mapping MAP.json [FILE|-]\n"
    "\n"
    "Prints the payload each profile would be sent as, one JSON per line, on\n"
    "standard output; excluded profiles and warnings go to standard error with\n"
    "their line number and reason. Sends nothing. Exit 1 when a line is not a\n"
    "JSON object.\n"
    "\n"
    "  -m, --mapping FILE   mapping file\n"
    "  -h, --help           this text\n";

static const char usage_validate[] =
    "Usage: qx-send validate --mapping MAP.json [--profiles FILE]\n"
    "                        [--workflow CONFIG.json --workflow-id ID]\n"
    "\n"
    "Checks a mapping: target names not camelCase (warning), source paths found\n"
    "in none of the sample profiles, hashed emails in the samples, and event-data\n"
    "JSONPaths of the workflow (from a qx-mock config) that no rendered payload\n"
    "satisfies. Exit 1 when there are errors.\n"
    "\n"
    "  -m, --mapping FILE       mapping file\n"
    "  -p, --profiles FILE      sample profiles (NDJSON)\n"
    "  -w, --workflow FILE      a qx-mock config file holding the workflow\n"
    "  -i, --workflow-id ID     the workflow's id in that file\n"
    "  -h, --help               this text\n";

enum {
    OPT_DEAD_LETTER = 256,
    OPT_REPORT,
    OPT_RETRY_SCHEDULE,
    OPT_TIMEOUT_MS,
    OPT_TRACE,
    OPT_STATE,
    OPT_CACERT,
};

typedef struct options {
    const char *destination, *mapping, *dead_letter, *report, *trace, *state, *cacert;
    const char *profiles, *workflow, *workflow_id;
    const char *input;
    int concurrency;
    long timeout_ms;
    qxs_retry_policy retry;
    bool retry_set;
    int verbosity; /* -1 quiet, 0 warnings, 1 info, 2 debug */
} options;

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

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "qx-send %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nRun 'qx-send %s --help' for usage.\n", cmd);
    return EXIT_USAGE;
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

/* Parses argv for cmd; returns 0, EXIT_USAGE, or -1 for --help (printed). */
static int parse_options(const char *cmd, const char *usage, int argc, char **argv,
                         const char *shortopts, options *o)
{
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
        {"profiles", required_argument, NULL, 'p'},
        {"workflow", required_argument, NULL, 'w'},
        {"workflow-id", required_argument, NULL, 'i'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool is_delivery = strcmp(cmd, "send") == 0 || strcmp(cmd, "replay") == 0;
    int c;
    long v;
    qx_error err;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        /* long options a command does not take are refused like unknown ones */
        bool delivery_only = c == 'd' || c == 'c' || c == OPT_DEAD_LETTER || c == OPT_REPORT ||
                             c == OPT_RETRY_SCHEDULE || c == OPT_TIMEOUT_MS || c == OPT_TRACE ||
                             c == OPT_STATE || c == OPT_CACERT;
        bool validate_only = c == 'p' || c == 'w' || c == 'i';
        if ((delivery_only && !is_delivery) || (validate_only && strcmp(cmd, "validate") != 0) ||
            (c == 'm' && strcmp(cmd, "replay") == 0))
            return usage_error(cmd, "option %s does not apply here", argv[optind - 1]);
        switch (c) {
        case 'd':
            o->destination = optarg;
            break;
        case 'm':
            o->mapping = optarg;
            break;
        case 'c':
            if (parse_long(optarg, 1, QXS_MAX_CONCURRENCY, &v) != 0)
                return usage_error(cmd, "--concurrency %s: expected 1 to 256", optarg);
            o->concurrency = (int)v;
            break;
        case OPT_DEAD_LETTER:
            o->dead_letter = optarg;
            break;
        case OPT_REPORT:
            o->report = optarg;
            break;
        case OPT_RETRY_SCHEDULE:
            if (qxs_retry_schedule_parse(optarg, &o->retry, &err) != 0)
                return usage_error(cmd, "--retry-schedule: %s", err.text);
            o->retry_set = true;
            break;
        case OPT_TIMEOUT_MS:
            if (parse_long(optarg, 1, 600000, &v) != 0)
                return usage_error(cmd, "--timeout-ms %s: expected 1 to 600000", optarg);
            o->timeout_ms = v;
            break;
        case OPT_TRACE:
            o->trace = optarg;
            break;
        case OPT_STATE:
            o->state = optarg;
            break;
        case OPT_CACERT:
            o->cacert = optarg;
            break;
        case 'p':
            o->profiles = optarg;
            break;
        case 'w':
            o->workflow = optarg;
            break;
        case 'i':
            o->workflow_id = optarg;
            break;
        case 'v':
            o->verbosity = o->verbosity < 0 ? 1 : o->verbosity + 1;
            break;
        case 'q':
            o->verbosity = -1;
            break;
        case 'h':
            fputs(usage, stdout);
            return -1;
        default:
            return usage_error(cmd, "unknown or incomplete option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        o->input = argv[optind++];
    if (optind < argc)
        return usage_error(cmd, "unexpected argument %s", argv[optind]);
    return 0;
}

static void init_log(const options *o)
{
    qx_log_level lvl = o->verbosity < 0    ? QX_LOG_ERROR
                       : o->verbosity == 0 ? QX_LOG_WARN
                       : o->verbosity == 1 ? QX_LOG_INFO
                                           : QX_LOG_DEBUG;
    qx_log_init(stderr, lvl);
}

static qxs_mapping *load_mapping(const char *path)
{
    qx_error err;
    qxs_mapping *m = qxs_mapping_load_file(path, &err);
    if (m == NULL)
        fprintf(stderr, "qx-send: %s\n", err.text);
    return m;
}

/* Opens FILE or "-" for reading; returns the fd, -1 after printing why. */
static int open_input(const char *path)
{
    if (path == NULL || strcmp(path, "-") == 0)
        return STDIN_FILENO;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fprintf(stderr, "qx-send: %s: %s\n", path, strerror(errno));
    return fd;
}

/* ---- render --------------------------------------------------------------- */

/* Render's output goes out in blocks of this size, and whenever the input has
 * nothing more for now: a file-to-file render makes one write per block, a
 * stream (tail -f | qx-send render) gets each payload as soon as no further
 * line is waiting behind it. */
#define RENDER_OUTPUT_BLOCK 65536

/* Waits until the input may have more. Returns 0, or -1 (errno set). */
static int wait_for_input(const qxs_input *in)
{
    struct pollfd p = {.fd = qxs_input_wait_fd(in), .events = POLLIN};
    while (poll(&p, 1, -1) < 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

static int cmd_render(int argc, char **argv)
{
    options o = {0};
    int rc = parse_options("render", usage_render, argc, argv, "m:h", &o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (o.mapping == NULL)
        return usage_error("render", "%s", "--mapping is required");
    qxs_mapping *m = load_mapping(o.mapping);
    if (m == NULL)
        return EXIT_USAGE;
    int fd = open_input(o.input);
    if (fd < 0) {
        qxs_mapping_free(m);
        return EXIT_USAGE;
    }
    qx_error err;
    qxs_input *in = qxs_input_open(fd, fd != STDIN_FILENO, NULL, &err);
    if (in == NULL)
        fprintf(stderr, "qx-send: %s\n", err.text);
    /* glibc ignores the size unless it is given the buffer; static: stdout
     * may still use it at exit */
    static char out_block[RENDER_OUTPUT_BLOCK];
    if (!isatty(STDOUT_FILENO))
        setvbuf(stdout, out_block, _IOFBF, sizeof out_block);
    rc = in != NULL ? 0 : EXIT_FAILED;
    size_t sent = 0, excluded = 0, bad = 0;
    char *text = NULL;
    size_t text_cap = 0;
    while (in != NULL && rc == 0) {
        qxs_record rec;
        int n = qxs_input_take(in, &rec);
        if (n == 0) {
            /* nothing more for now: what was rendered goes out before waiting */
            if (fflush(stdout) != 0 || wait_for_input(in) != 0) {
                fprintf(stderr, "qx-send: %s\n", strerror(errno));
                rc = EXIT_FAILED;
            }
            continue;
        }
        if (n < 0)
            break;
        if (rec.value == NULL && rec.line_no == 0) {
            fprintf(stderr, "qx-send: %s\n", rec.error); /* a read error ends the input */
            rc = EXIT_FAILED;
            break;
        }
        if (rec.value == NULL) {
            fprintf(stderr, "%s\n", rec.error);
            bad++;
            continue;
        }
        qxs_render_result res;
        if (qxs_render(m, rec.value, &res, &err) != 0) {
            fprintf(stderr, "line %zu: %s\n", rec.line_no, err.text);
            bad++;
        } else {
            size_t i;
            json_t *w;
            json_array_foreach(res.warnings, i, w)
                fprintf(stderr, "line %zu: warning: %s\n", rec.line_no, json_string_value(w));
            if (res.payload != NULL) {
                size_t len = qxs_payload_dump(res.payload, &text, &text_cap);
                if (len == 0 || fwrite(text, 1, len, stdout) != len || putchar('\n') == EOF) {
                    fprintf(stderr, "qx-send: writing the payload: %s\n", strerror(errno));
                    rc = EXIT_FAILED;
                }
                sent++;
            } else {
                fprintf(stderr, "line %zu: excluded (%s): %s\n", rec.line_no,
                        qxs_exclusion_name(res.excluded), res.detail);
                excluded++;
            }
        }
        qxs_render_result_clear(&res);
        json_decref(rec.value);
    }
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "qx-send: writing the payload: %s\n", strerror(errno));
        rc = EXIT_FAILED;
    }
    free(text);
    qxs_input_free(in);
    qxs_mapping_free(m);
    if (rc == 0 && bad > 0)
        rc = EXIT_FAILED;
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "%zu rendered, %zu excluded, %zu malformed\n", sent, excluded, bad);
    return rc;
}

/* ---- validate ------------------------------------------------------------- */

static int cmd_validate(int argc, char **argv)
{
    options o = {0};
    int rc = parse_options("validate", usage_validate, argc, argv, "m:p:w:i:h", &o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (o.mapping == NULL)
        return usage_error("validate", "%s", "--mapping is required");
    if ((o.workflow == NULL) != (o.workflow_id == NULL))
        return usage_error("validate", "%s", "--workflow and --workflow-id go together");
    if (o.input != NULL)
        return usage_error("validate", "unexpected argument %s (sample profiles: --profiles)",
                           o.input);
    qx_error err;
    qxs_mapping *m = qxs_mapping_load_file(o.mapping, &err);
    if (m == NULL) {
        printf("error: %s\n", err.text);
        return EXIT_FAILED;
    }
    FILE *profiles = NULL;
    json_t *config = NULL, *findings = NULL;
    rc = EXIT_USAGE;
    if (o.profiles != NULL && (profiles = fopen(o.profiles, "r")) == NULL) {
        fprintf(stderr, "qx-send: %s: %s\n", o.profiles, strerror(errno));
        goto out;
    }
    if (o.workflow != NULL) {
        json_error_t jerr;
        config = json_load_file(o.workflow, 0, &jerr);
        if (config == NULL) {
            fprintf(stderr, "qx-send: %s:%d: %s\n", o.workflow, jerr.line, jerr.text);
            goto out;
        }
    }
    qxs_validate_input in = {.mapping = m,
                             .profiles = profiles,
                             .workflow_config = config,
                             .workflow_id = o.workflow_id};
    findings = qxs_validate(&in, &err);
    if (findings == NULL) {
        fprintf(stderr, "qx-send validate: %s\n", err.text);
        goto out;
    }
    size_t i;
    json_t *f;
    json_array_foreach(findings, i, f)
        printf("%s: %s\n", json_string_value(json_object_get(f, "severity")),
               json_string_value(json_object_get(f, "message")));
    size_t errors = qxs_validate_count(findings, "error");
    size_t warnings = qxs_validate_count(findings, "warning");
    printf("%s: %zu error%s, %zu warning%s\n", o.mapping, errors, errors == 1 ? "" : "s", warnings,
           warnings == 1 ? "" : "s");
    rc = errors > 0 ? EXIT_FAILED : 0;
out:
    json_decref(findings);
    json_decref(config);
    if (profiles != NULL)
        fclose(profiles);
    qxs_mapping_free(m);
    return rc;
}

/* ---- send / replay -------------------------------------------------------- */

static void draw_progress(const qxs_counts *c, double per_sec, bool final, void *ud)
{
    (void)ud;
    fprintf(stderr,
            "\rread %lld  activated %lld  excluded %lld  failed %lld  retries %lld  %.1f/s\033[K%s",
            (long long)c->read, (long long)c->activated, (long long)c->excluded,
            (long long)c->failed, (long long)c->retries, per_sec, final ? "\n" : "");
    fflush(stderr);
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
static int check_state_path(const options *o, int input_fd)
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

static int cmd_deliver(const char *cmd, int argc, char **argv)
{
    bool replay = strcmp(cmd, "replay") == 0;
    options o = {.concurrency = replay ? 1 : QXS_DEFAULT_CONCURRENCY,
                 .timeout_ms = QXS_DEFAULT_TIMEOUT_MS};
    int rc = parse_options(cmd, replay ? usage_replay : usage_send, argc, argv,
                           replay ? "d:c:vqh" : "d:m:c:vqh", &o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (o.destination == NULL)
        return usage_error(cmd, "%s", "--destination is required");
    if (!replay && o.mapping == NULL)
        return usage_error(cmd, "%s", "--mapping is required");
    if (replay && o.input == NULL)
        return usage_error(cmd, "%s", "the file to replay is required ('-' for standard input)");
    if (o.state != NULL && (o.input == NULL || strcmp(o.input, "-") == 0))
        return usage_error(cmd, "%s",
                           "--state needs an input FILE: standard input cannot be read again");
    init_log(&o);

    qx_error err;
    qxs_mapping *m = NULL;
    qxs_destination *dest = NULL;
    qxs_report *report = NULL;
    qxs_state *state = NULL;
    FILE *dead = NULL, *trace = NULL;
    int fd = -1;
    rc = EXIT_USAGE;
    if (!replay && (m = load_mapping(o.mapping)) == NULL)
        goto out;
    if ((dest = qxs_destination_load_file(o.destination, &err)) == NULL) {
        fprintf(stderr, "qx-send: %s\n", err.text);
        goto out;
    }
    if ((fd = open_input(o.input)) < 0)
        goto out;
    if (same_file(o.dead_letter, fd)) {
        fprintf(stderr, "qx-send: --dead-letter %s is the input file; choose another\n",
                o.dead_letter);
        goto out;
    }
    if (o.state != NULL && check_state_path(&o, fd) != 0)
        goto out;
    if (o.cacert != NULL) {
        /* a typo would otherwise fail every request, one by one */
        FILE *ca = fopen(o.cacert, "r");
        if (ca == NULL) {
            fprintf(stderr, "qx-send: --cacert %s: %s\n", o.cacert, strerror(errno));
            goto out;
        }
        fclose(ca);
    }
    if (o.dead_letter != NULL && (dead = fopen(o.dead_letter, "a")) == NULL) {
        fprintf(stderr, "qx-send: --dead-letter %s: %s\n", o.dead_letter, strerror(errno));
        goto out;
    }
    if (o.report != NULL) {
        /* find out now, not after an hour of sending, that it cannot be written */
        FILE *r = fopen(o.report, "w");
        if (r == NULL) {
            fprintf(stderr, "qx-send: --report %s: %s\n", o.report, strerror(errno));
            goto out;
        }
        fclose(r);
    }
    if (o.trace != NULL && (trace = fopen(o.trace, "w")) == NULL) {
        fprintf(stderr, "qx-send: --trace %s: %s\n", o.trace, strerror(errno));
        goto out;
    }
    if ((report = qxs_report_new()) == NULL) {
        fprintf(stderr, "qx-send: out of memory\n");
        rc = EXIT_FAILED;
        goto out;
    }
    if (o.state != NULL && (state = qxs_state_open(o.state, cmd, fd, report, &err)) == NULL) {
        fprintf(stderr, "qx-send: %s\n", err.text);
        goto out;
    }
    if (pipe(stop_pipe) != 0) {
        fprintf(stderr, "qx-send: pipe: %s\n", strerror(errno));
        rc = EXIT_FAILED;
        goto out;
    }
    fcntl(stop_pipe[1], F_SETFL, O_NONBLOCK);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C ends the process at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    qxs_send_options so = {
        .mapping = m,
        .dest = dest,
        .input_fd = fd,
        .concurrency = o.concurrency,
        .timeout_ms = o.timeout_ms,
        .retry = o.retry_set ? &o.retry : NULL,
        .dead_letter = dead,
        .trace = trace,
        .stop_fd = stop_pipe[0],
        .progress = isatty(STDERR_FILENO) ? draw_progress : NULL,
        .ca_file = o.cacert,
        .state = state,
    };
    if (qxs_send_run(&so, report, &err) != 0) {
        fprintf(stderr, "qx-send: %s\n", err.text);
        rc = EXIT_FAILED;
    } else {
        qxs_counts c = qxs_report_counts(report);
        rc = c.failed > 0 ? EXIT_FAILED : 0;
        if (c.failed > 0 && dead == NULL)
            fprintf(stderr, "qx-send: %lld failed; --dead-letter FILE keeps them for replay\n",
                    (long long)c.failed);
        if (c.in_flight > 0 && state != NULL) {
            fprintf(stderr,
                    "qx-send: stopped with %lld line%s pending; run again with --state %s to "
                    "finish\n",
                    (long long)c.in_flight, c.in_flight == 1 ? "" : "s", o.state);
            rc = EXIT_PAUSED; /* unfinished outranks failed: the work is not done */
        }
    }
    if (qxs_state_close(state, &err) != 0) {
        fprintf(stderr, "qx-send: %s\n", err.text);
        rc = EXIT_FAILED;
    }
    state = NULL;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (o.report != NULL && qxs_report_write_file(report, o.report, &err) != 0) {
        fprintf(stderr, "qx-send: --report %s\n", err.text);
        rc = EXIT_FAILED;
    }
out:
    if (dead != NULL && fclose(dead) != 0) {
        fprintf(stderr, "qx-send: --dead-letter %s: %s\n", o.dead_letter, strerror(errno));
        rc = EXIT_FAILED;
    }
    if (trace != NULL)
        fclose(trace);
    if (fd > STDIN_FILENO)
        close(fd);
    for (int i = 0; i < 2; i++)
        if (stop_pipe[i] >= 0)
            close(stop_pipe[i]);
    if (qxs_state_close(state, &err) != 0)
        fprintf(stderr, "qx-send: %s\n", err.text);
    qxs_report_free(report);
    qxs_destination_free(dest);
    qxs_mapping_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_main, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("qx-send %s (%s)\n", QX_VERSION, curl_version());
        return 0;
    }
    /* SIGPIPE: a closed stdout (render | head) is an error return, not death */
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "qx-send: libcurl cannot start\n");
        return EXIT_FAILED;
    }
    int rc;
    if (strcmp(cmd, "send") == 0 || strcmp(cmd, "replay") == 0)
        rc = cmd_deliver(cmd, argc - 1, argv + 1);
    else if (strcmp(cmd, "render") == 0)
        rc = cmd_render(argc - 1, argv + 1);
    else if (strcmp(cmd, "validate") == 0)
        rc = cmd_validate(argc - 1, argv + 1);
    else {
        fprintf(stderr, "qx-send: unknown command \"%s\"\n\n%s", cmd, usage_main);
        rc = EXIT_USAGE;
    }
    curl_global_cleanup();
    return rc;
}
