/*
 * suite.c — running one scenario directory end to end.
 *
 * scenario.json: {"name", "description", "workflows", "mapping" | "destinations",
 *                 "profiles", "expect", "seed", "credentials", "concurrency"}
 * "destinations" lists {"workflowId", "mapping"} pairs when the profiles go
 * to several workflows (one platform destination per workflow); the sender
 * runs once per destination, in order. A single "mapping" targets
 * "workflowId" (default: the first workflow).
 *
 * The emulator runs in this process (seeded with the scenario's seed), the
 * sender as a child process whose only view of the emulator is its URL and
 * credentials, passed through the environment: the token never appears on a
 * command line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qx_clock.h"
#include "qxm_mock.h"
#include "qxm_store.h"
#include "suite_internal.h"

#define DEFAULT_SCENARIO_TIMEOUT_MS 120000
#define WRONG_TOKEN_PREFIX "WRONG-"

static int rm_tree(const char *dir)
{
    /* Only files we created: destination, report and log files. */
    char path[PATH_MAX];
    for (size_t i = 0; i < MAX_DESTINATIONS; i++) {
        const char *names[] = {"destination-%zu.json", "report-%zu.json", "sender-%zu.out",
                               "sender-%zu.err"};
        for (size_t k = 0; k < 4; k++) {
            char name[64];
            suite_text_set(name, sizeof name, names[k], i);
            suite_text_set(path, sizeof path, "%s/%s", dir, name);
            unlink(path);
        }
    }
    return rmdir(dir);
}

static void fail(qxm_scenario_result *out, const char *fmt, ...) QX_PRINTF(2, 3);
static void fail(qxm_scenario_result *out, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    out->passed = false;
    free(out->failure);
    out->failure = strdup(msg);
}

/* The sender's output kept for the report, at most, per stream and destination. */
#define SENDER_OUTPUT_TAIL 16384

/* Appends the last SENDER_OUTPUT_TAIL bytes of path (from a line start)
 * to *text (owned), under a heading when the scenario has several
 * destinations. */
static void add_tail(char **text, const char *path, size_t index, size_t n_dest)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char *tail = malloc(SENDER_OUTPUT_TAIL + 1);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > SENDER_OUTPUT_TAIL ? size - SENDER_OUTPUT_TAIL : 0, SEEK_SET);
    size_t n = tail != NULL ? fread(tail, 1, SENDER_OUTPUT_TAIL, f) : 0;
    fclose(f);
    if (n == 0) {
        free(tail);
        return;
    }
    tail[n] = '\0';
    const char *from = tail;
    if (size > SENDER_OUTPUT_TAIL && strchr(tail, '\n') != NULL)
        from = strchr(tail, '\n') + 1;
    char *joined = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&joined, &len);
    if (m != NULL) {
        if (*text != NULL)
            fputs(*text, m);
        if (n_dest > 1)
            fprintf(m, "--- destination %zu ---\n", index + 1);
        fputs(from, m);
        if (fclose(m) == 0) {
            free(*text);
            *text = joined;
        } else {
            free(joined);
        }
    }
    free(tail);
}

/* The outputs of the senders that ran, into the result. */
static void keep_sender_output(qxm_scenario_result *out, const char *workdir, size_t n)
{
    char path[PATH_MAX];
    for (size_t i = 0; i < n; i++) {
        suite_text_set(path, sizeof path, "%s/sender-%zu.out", workdir, i);
        add_tail(&out->sender_out, path, i, n);
        suite_text_set(path, sizeof path, "%s/sender-%zu.err", workdir, i);
        add_tail(&out->sender_err, path, i, n);
    }
}

/* One scenario being run. */
typedef struct run_ctx {
    const qxm_suite_options *opt;
    scenario sc;
    json_t *expected, *expected_req; /* expected_req NULL when not given */
    qxm_mock *m;
    char urls[MAX_DESTINATIONS][1024];
    char username[256], token[300];
    unsigned rate_limit_per_minute; /* the emulator's, for QX_RATE_LIMIT_PER_MINUTE */
    char workdir[PATH_MAX];         /* "" until made */
    int64_t t0, timeout_ms;
} run_ctx;

/* The expected runs and requests, and the emulator's config: on success
 * *cfg is the config (owned) and each destination's urlTokenId is in
 * tokens. */
static int prepare(run_ctx *r, qxm_config **cfg, char tokens[][256], qxm_scenario_result *out)
{
    qx_error err;
    if ((r->expected = suite_load_ndjson(r->sc.expect, &err)) == NULL ||
        (r->sc.expect_requests[0] != '\0' &&
         (r->expected_req = suite_load_ndjson(r->sc.expect_requests, &err)) == NULL) ||
        (*cfg = qxm_config_load_file(r->sc.workflows, &err)) == NULL) {
        fail(out, "%s", err.text);
        return -1;
    }
    if ((*cfg)->n_users == 0 || (*cfg)->n_workflows == 0) {
        fail(out, "%s: a scenario needs at least one user and one workflow", r->sc.workflows);
        return -1;
    }
    suite_text_set(r->username, sizeof r->username, "%s", (*cfg)->users[0].username);
    suite_text_set(r->token, sizeof r->token, "%s%s", r->sc.wrong_token ? WRONG_TOKEN_PREFIX : "",
                   (*cfg)->users[0].api_token);
    for (size_t i = 0; i < r->sc.n_dest; i++) {
        const char *id = r->sc.dest[i].workflow_id;
        const qxm_workflow *w =
            id[0] != '\0' ? qxm_config_find_by_id(*cfg, id) : &(*cfg)->workflows[0];
        if (w == NULL) {
            fail(out, "destination %zu: no workflow \"%s\" in %s", i + 1, id, r->sc.workflows);
            return -1;
        }
        suite_text_set(tokens[i], 256, "%s", w->url_token_id);
    }
    return 0;
}

/* The emulator (seeded with the scenario's seed) and a scratch directory. */
static int start(run_ctx *r, qxm_config *cfg, char tokens[][256], qxm_scenario_result *out)
{
    qx_error err;
    qxm_options mo = {.listen = "127.0.0.1:0", .seeded = true, .seed = r->sc.seed, .threads = 2};
    r->rate_limit_per_minute = cfg->rate_limit_per_minute;
    r->m = qxm_mock_new(cfg, &mo, &err);
    if (r->m == NULL || qxm_mock_start(r->m, &err) != 0) {
        fail(out, "cannot start the emulator: %s", err.text);
        return -1;
    }
    for (size_t i = 0; i < r->sc.n_dest; i++)
        suite_text_set(r->urls[i], sizeof r->urls[i],
                       "%s/inbound-event/v1/events/json/triggers?urlTokenId=%s", qxm_mock_url(r->m),
                       tokens[i]);
    const char *tmp = getenv("TMPDIR");
    suite_text_set(r->workdir, sizeof r->workdir, "%s/qx-suite.XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(r->workdir) == NULL) {
        fail(out, "cannot create a temporary directory: %s", strerror(errno));
        r->workdir[0] = '\0';
        return -1;
    }
    return 0;
}

static int64_t time_left(const run_ctx *r)
{
    return r->timeout_ms - (qx_mono_ms() - r->t0);
}

/* The sender, once per destination, in order. Exit status 0 or 1 is judged
 * by what the emulator recorded; 3 (stopped with lines pending) fails the
 * scenario; anything else means the sender could not run or broke: an
 * error, not a difference. */
static int send_all(run_ctx *r, qxm_scenario_result *out)
{
    size_t i = 0;
    int rc = 0;
    for (; i < r->sc.n_dest && rc == 0; i++) {
        char why[512] = "", end[80];
        int64_t left = time_left(r);
        int st = suite_run_sender(r->opt, &r->sc, &r->sc.dest[i], r->urls[i], r->username, r->token,
                                  r->rate_limit_per_minute, r->workdir, i,
                                  left > 1000 ? left : 1000, why, sizeof why);
        if (st == 0 || st == 1)
            continue;
        rc = -1;
        if (st == 3) {
            fail(out,
                 "sender for destination %zu exited with status 3: stopped with lines "
                 "still pending",
                 i + 1);
            continue;
        }
        out->error = true;
        fail(out, "sender for destination %zu: %s%s", i + 1,
             st < 0 ? why : qxm_sender_exit_text(st, end, sizeof end),
             st == 2 ? " (bad usage or configuration)" : "");
    }
    keep_sender_output(out, r->workdir, i);
    return rc;
}

/* What the emulator recorded against what the scenario expects. */
static int verify(run_ctx *r, qxm_scenario_result *out)
{
    qx_error err;
    int64_t left = time_left(r);
    /* The sender has exited, so every request it made has been answered,
     * and an answered request's run or journal entry is already stored:
     * what is left is runs still in their configured delay. */
    if (qxm_mock_wait_idle(r->m, left > 0 ? left : 0, &err) < 0) {
        fail(out, "%s", err.text);
        return -1;
    }
    qxm_store *store = qxm_mock_store(r->m);
    qxm_run_filter all = {.limit = 1000}, running = {.status = "RUNNING"};
    int64_t next = 0;
    json_t *runs = qxm_store_list_runs(store, &all, &next, &err);
    json_t *journal = runs != NULL ? qxm_store_list_requests(store, 0, 1000, &next, &err) : NULL;
    int64_t n_running = journal != NULL ? qxm_store_count_runs(store, &running, &err) : -1;
    int rc = -1;
    char diff[1024];
    if (journal == NULL || n_running < 0) {
        fail(out, "%s", err.text);
    } else {
        out->runs = (int64_t)json_array_size(runs);
        bool same = suite_compare(runs, journal, n_running, r->expected, r->expected_req, diff,
                                  sizeof diff);
        if (same && r->opt->sender_cmd == NULL)
            same = suite_check_reports(r->workdir, r->sc.n_dest, r->expected, r->expected_req, diff,
                                       sizeof diff) &&
                   suite_check_excluded(r->workdir, &r->sc, diff, sizeof diff);
        if (same)
            rc = 0;
        else
            fail(out, "%s", diff);
    }
    json_decref(runs);
    json_decref(journal);
    return rc;
}

/* --keep-history: the scenario's history as DIR/<directory name>.ndjson
 * (directory names are unique where scenario names need not be). */
static void keep_history(run_ctx *r, const char *dir, qxm_scenario_result *out)
{
    char path[PATH_MAX], base[NAME_MAX + 1];
    qx_error err;
    qxm_suite_dir_name(dir, base, sizeof base);
    suite_text_set(path, sizeof path, "%s/%s.ndjson", r->opt->keep_history, base);
    mkdir(r->opt->keep_history, 0755);
    FILE *f = fopen(path, "w");
    if ((f == NULL || qxm_mock_export(r->m, f, &err) < 0) && out->passed)
        fail(out, "--keep-history: cannot write %s", path);
    if (f != NULL)
        fclose(f);
}

int qxm_suite_run_scenario(const char *dir, const qxm_suite_options *opt, qxm_scenario_result *out)
{
    memset(out, 0, sizeof *out);
    out->dir = strdup(dir);
    run_ctx r = {.opt = opt, .t0 = qx_mono_ms()};
    r.timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : DEFAULT_SCENARIO_TIMEOUT_MS;
    qx_error err;
    if (suite_load_scenario(dir, &r.sc, &err) != 0) {
        char base[NAME_MAX + 1];
        out->name = strdup(qxm_suite_dir_name(dir, base, sizeof base));
        out->error = true;
        fail(out, "%s", err.text);
    } else {
        out->name = strdup(r.sc.name);
        qxm_config *cfg = NULL;
        char tokens[MAX_DESTINATIONS][256];
        if (prepare(&r, &cfg, tokens, out) != 0)
            qxm_config_free(cfg);
        else if (start(&r, cfg, tokens, out) == 0 && send_all(&r, out) == 0 && verify(&r, out) == 0)
            out->passed = true;
    }
    if (r.m != NULL && opt->keep_history != NULL)
        keep_history(&r, dir, out);
    qxm_mock_free(r.m);
    if (r.workdir[0] != '\0')
        rm_tree(r.workdir);
    json_decref(r.expected);
    json_decref(r.expected_req);
    out->elapsed_ms = qx_mono_ms() - r.t0;
    return out->name != NULL ? 0 : -1;
}

void qxm_scenario_result_clear(qxm_scenario_result *r)
{
    free(r->name);
    free(r->dir);
    free(r->failure);
    free(r->sender_out);
    free(r->sender_err);
    memset(r, 0, sizeof *r);
}
