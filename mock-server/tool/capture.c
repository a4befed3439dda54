/*
 * capture.c — `qx-mock capture --config FILE --workflow ID [options]`: serve
 * like qx-mock with capture armed for one workflow, wait for its sample
 * (woken by the engine when it comes, or at the deadline), print a
 * ready-to-paste "eventData" block for it, and exit.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_log.h"
#include "qxm_capture.h"
#include "qxm_config.h"
#include "tool.h"

static void capture_usage(FILE *out)
{
    fputs("Usage: qx-mock capture --config FILE --workflow ID [options]\n"
          "\n"
          "Serves like qx-mock with capture armed for one workflow (Qualtrics' \"capture\n"
          "event\"): the next request to its JSON event URL that passes the checks is\n"
          "kept as the sample and starts no run. Prints the listening line and the URL\n"
          "to send the sample to, waits for it, prints a ready-to-paste\n"
          "\"eventData\": {...} block (a field per leaf of the sample) and exits.\n"
          "\n"
          "Options:\n"
          "  -c, --config FILE       users and workflows (JSON; see README)\n"
          "  -w, --workflow ID       the workflow to capture a sample for\n"
          "  -l, --listen HOST:PORT  address to listen on (default 127.0.0.1:8080)\n"
          "      --timeout-ms N      give up after N ms (default 300000, at most 3600000)\n"
          "  -v, --verbose           log to stderr (twice: debug)\n"
          "  -h, --help              show this help\n"
          "\n"
          "Exit status: 0 once a sample was captured, 1 when none came in time (or a\n"
          "signal stopped it first) or on a runtime error, 2 on bad usage.\n",
          out);
}

typedef struct capture_options {
    const char *config_path;
    const char *workflow;
    int64_t timeout_ms;
    int verbose;
    qxm_options mock;
} capture_options;

/* Returns -1 to go on, else the exit status (with a message). */
static int parse(int argc, char **argv, capture_options *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"workflow", required_argument, NULL, 'w'},
        {"listen", required_argument, NULL, 'l'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (capture_options){.timeout_ms = QXM_CAPTURE_DEFAULT_TIMEOUT_MS};
    unsigned long long v;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:w:l:vh", longopts, NULL)) != -1) {
        if (c == 'c') {
            o->config_path = optarg;
        } else if (c == 'w') {
            o->workflow = optarg;
        } else if (c == 'l') {
            if (tool_check_listen("qx-mock capture", optarg) != 0)
                return EXIT_USAGE;
            o->mock.listen = optarg;
        } else if (c == 't') {
            if (tool_parse_positive("--timeout-ms", optarg, QXM_CAPTURE_MAX_TIMEOUT_MS, &v) != 0)
                return EXIT_USAGE;
            o->timeout_ms = (int64_t)v;
        } else if (c == 'v') {
            o->verbose++;
        } else if (c == 'h') {
            capture_usage(stdout);
            return 0;
        } else {
            return tool_option_error("qx-mock capture", c, argv, longopts);
        }
    }
    if (optind < argc || o->config_path == NULL || o->workflow == NULL) {
        fputs(optind < argc ? "qx-mock capture: unexpected argument\n"
                            : "qx-mock capture: --config FILE and --workflow ID are required "
                              "(try --help)\n",
              stderr);
        return EXIT_USAGE;
    }
    return -1;
}

/* Signals end the wait: the capture is disarmed, so the waiter wakes. */
typedef struct signal_watch {
    sigset_t sigs;
    qxm_capture *capture;
    size_t wi;
} signal_watch;

static void *watch_signals(void *arg)
{
    signal_watch *w = arg;
    int sig = 0;
    sigwait(&w->sigs, &sig);
    (void)qxm_capture_disarm(w->capture, w->wi);
    return NULL;
}

/* Prints the sample's "eventData" block. Returns 0, or 1 (out of memory). */
static int print_event_data(qxm_capture *cap, size_t wi)
{
    json_t *sample = qxm_capture_sample(cap, wi);
    json_t *fields = sample != NULL ? qxm_capture_fields(sample) : NULL;
    json_t *data = fields != NULL ? qxm_capture_event_data(fields) : NULL;
    char *text = data != NULL ? json_dumps(data, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (text != NULL)
        printf("\"eventData\": %s\n", text);
    else
        fputs("qx-mock capture: out of memory\n", stderr);
    free(text);
    json_decref(data);
    json_decref(fields);
    json_decref(sample);
    return text != NULL ? 0 : 1;
}

/* Serves until the sample comes or the time is up. The exit status. */
static int serve_until_captured(qxm_mock *m, const capture_options *o, size_t wi, const char *token,
                                signal_watch *watch)
{
    qx_error err;
    if (qxm_mock_start(m, &err) != 0) {
        fprintf(stderr, "qx-mock capture: %s\n", err.text);
        return 1;
    }
    qxm_capture *cap = qxm_mock_capture(m);
    /* armed before the URL is printed: whoever reads it is captured */
    uint64_t arm = qxm_capture_arm(cap, wi, o->timeout_ms);
    printf("qx-mock listening on %s\n", qxm_mock_url(m));
    printf("send one sample to: %s/inbound-event/v1/events/json/triggers?urlTokenId=%s\n",
           qxm_mock_url(m), token);
    fflush(stdout);
    watch->capture = cap;
    watch->wi = wi;
    pthread_t watcher;
    if (pthread_create(&watcher, NULL, watch_signals, watch) != 0) {
        fputs("qx-mock capture: cannot start the signal thread\n", stderr);
        return 1;
    }
    qxm_capture_end end = qxm_capture_wait(cap, wi, arm);
    pthread_kill(watcher, SIGTERM); /* taken by its sigwait */
    pthread_join(watcher, NULL);
    if (end == QXM_CAPTURE_CAPTURED)
        return print_event_data(cap, wi);
    if (end == QXM_CAPTURE_EXPIRED)
        fprintf(stderr, "qx-mock capture: no sample for %s within %lld ms\n", o->workflow,
                (long long)o->timeout_ms);
    else
        fprintf(stderr, "qx-mock capture: stopped before a sample for %s came\n", o->workflow);
    return 1;
}

int tool_capture(int argc, char **argv)
{
    capture_options o;
    int status = parse(argc, argv, &o);
    if (status >= 0)
        return status;
    qx_log_init(stderr, o.verbose >= 2 ? QX_LOG_DEBUG : o.verbose == 1 ? QX_LOG_INFO : QX_LOG_WARN);
    signal_watch watch;
    sigemptyset(&watch.sigs);
    sigaddset(&watch.sigs, SIGINT);
    sigaddset(&watch.sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &watch.sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    qx_error err;
    qxm_config *cfg = qxm_config_load_file(o.config_path, &err);
    if (cfg == NULL) {
        fprintf(stderr, "qx-mock capture: %s\n", err.text);
        return EXIT_USAGE;
    }
    const qxm_workflow *wf = qxm_config_find_by_id(cfg, o.workflow);
    if (wf == NULL) {
        fprintf(stderr, "qx-mock capture: --workflow %s: no workflow with this id in %s\n",
                o.workflow, o.config_path);
        qxm_config_free(cfg);
        return EXIT_USAGE;
    }
    size_t wi = (size_t)(wf - cfg->workflows);
    char *token = strdup(wf->url_token_id);
    qxm_mock *m = token != NULL ? qxm_mock_new(cfg, &o.mock, &err) : NULL;
    if (m == NULL) {
        fprintf(stderr, "qx-mock capture: %s\n", token != NULL ? err.text : "out of memory");
        if (token == NULL)
            qxm_config_free(cfg);
        free(token);
        return 1;
    }
    status = serve_until_captured(m, &o, wi, token, &watch);
    fflush(stdout);
    qxm_mock_free(m);
    free(token);
    return status;
}
