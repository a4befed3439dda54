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
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qxm_mock.h"
#include "qxm_store.h"
#include "qx_clock.h"
#include "qx_ndjson.h"
#include "qxm_suite.h"

extern char **environ;

#define DEFAULT_SCENARIO_TIMEOUT_MS 120000
#define MAX_DESTINATIONS 16
#define MAX_EXPECTED 100000
#define WRONG_TOKEN_PREFIX "WRONG-"

typedef struct destination {
    char workflow_id[256];
    char mapping[PATH_MAX];
} destination;

typedef struct scenario {
    char name[256];
    char workflows[PATH_MAX];
    char profiles[PATH_MAX];
    char expect[PATH_MAX];
    char expect_requests[PATH_MAX]; /* "" when absent */
    destination dest[MAX_DESTINATIONS];
    size_t n_dest;
    uint64_t seed;
    bool wrong_token;
    int concurrency;
} scenario;

/* snprintf for messages and paths where cutting a long value short is the
 * intended behaviour (vsnprintf keeps -Wformat-truncation for real bugs). */
static void text_set(char *out, size_t size, const char *fmt, ...) QX_PRINTF(3, 4);
static void text_set(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, size, fmt, ap);
    va_end(ap);
}

static int join_path(char *out, size_t size, const char *dir, const char *name)
{
    int n =
        name[0] == '/' ? snprintf(out, size, "%s", name) : snprintf(out, size, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static const char *const scenario_keys[] = {"name",         "description", "workflows",   "mapping",
                                            "destinations", "workflowId",  "profiles",    "expect",
                                            "seed",         "credentials", "concurrency", NULL};

static int load_scenario(const char *dir, scenario *sc, qx_error *err)
{
    char path[PATH_MAX];
    json_error_t jerr;
    int rc = -1;
    memset(sc, 0, sizeof *sc);
    if (join_path(path, sizeof path, dir, "scenario.json") != 0) {
        qx_error_set(err, "%s: path too long", dir);
        return -1;
    }
    json_t *root = json_load_file(path, 0, &jerr);
    if (root == NULL) {
        qx_error_set(err, "%s: %s (line %d)", path, jerr.text, jerr.line);
        return -1;
    }
    if (!json_is_object(root)) {
        qx_error_set(err, "%s: expected a JSON object", path);
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        bool known = false;
        for (size_t i = 0; scenario_keys[i] != NULL; i++)
            known |= strcmp(key, scenario_keys[i]) == 0;
        if (!known) {
            qx_error_set(err, "%s: unknown key \"%s\"", path, key);
            goto out;
        }
    }
    const char *name = json_string_value(json_object_get(root, "name"));
    const char *wf = json_string_value(json_object_get(root, "workflows"));
    const char *profiles = json_string_value(json_object_get(root, "profiles"));
    const char *expect = json_string_value(json_object_get(root, "expect"));
    const char *base = strrchr(dir, '/') != NULL ? strrchr(dir, '/') + 1 : dir;
    text_set(sc->name, sizeof sc->name, "%s", name != NULL ? name : base);
    if (join_path(sc->workflows, sizeof sc->workflows, dir, wf ? wf : "workflows.json") ||
        join_path(sc->profiles, sizeof sc->profiles, dir,
                  profiles ? profiles : "profiles.ndjson") ||
        join_path(sc->expect, sizeof sc->expect, dir, expect ? expect : "expected-runs.ndjson") ||
        join_path(sc->expect_requests, sizeof sc->expect_requests, dir,
                  "expected-requests.ndjson")) {
        qx_error_set(err, "%s: path too long", path);
        goto out;
    }
    if (!file_exists(sc->expect_requests))
        sc->expect_requests[0] = '\0';
    json_t *seed = json_object_get(root, "seed");
    if (seed != NULL && (!json_is_integer(seed) || json_integer_value(seed) < 0)) {
        qx_error_set(err, "%s: seed: expected a non-negative integer", path);
        goto out;
    }
    sc->seed = seed != NULL ? (uint64_t)json_integer_value(seed) : 1;
    json_t *conc = json_object_get(root, "concurrency");
    sc->concurrency = conc != NULL ? (int)json_integer_value(conc) : 1;
    if (conc != NULL && (!json_is_integer(conc) || sc->concurrency < 1 || sc->concurrency > 64)) {
        qx_error_set(err, "%s: concurrency: expected 1 to 64", path);
        goto out;
    }
    const char *cred = json_string_value(json_object_get(root, "credentials"));
    if (json_object_get(root, "credentials") != NULL &&
        (cred == NULL || (strcmp(cred, "valid") != 0 && strcmp(cred, "wrong-token") != 0))) {
        qx_error_set(err, "%s: credentials: expected \"valid\" or \"wrong-token\"", path);
        goto out;
    }
    sc->wrong_token = cred != NULL && strcmp(cred, "wrong-token") == 0;

    json_t *dests = json_object_get(root, "destinations");
    const char *mapping = json_string_value(json_object_get(root, "mapping"));
    if (dests != NULL) {
        if (!json_is_array(dests) || json_array_size(dests) == 0 ||
            json_array_size(dests) > MAX_DESTINATIONS) {
            qx_error_set(err, "%s: destinations: expected 1 to %d {workflowId, mapping}", path,
                         MAX_DESTINATIONS);
            goto out;
        }
        size_t i;
        json_t *d;
        json_array_foreach(dests, i, d)
        {
            const char *w = json_string_value(json_object_get(d, "workflowId"));
            const char *m = json_string_value(json_object_get(d, "mapping"));
            if (w == NULL || m == NULL || json_object_size(d) != 2) {
                qx_error_set(err, "%s: destinations[%zu]: expected {\"workflowId\", \"mapping\"}",
                             path, i);
                goto out;
            }
            text_set(sc->dest[i].workflow_id, sizeof sc->dest[i].workflow_id, "%s", w);
            if (join_path(sc->dest[i].mapping, sizeof sc->dest[i].mapping, dir, m) != 0)
                goto out;
        }
        sc->n_dest = json_array_size(dests);
    } else {
        const char *w = json_string_value(json_object_get(root, "workflowId"));
        text_set(sc->dest[0].workflow_id, sizeof sc->dest[0].workflow_id, "%s", w ? w : "");
        if (join_path(sc->dest[0].mapping, sizeof sc->dest[0].mapping, dir,
                      mapping ? mapping : "mapping.json") != 0)
            goto out;
        sc->n_dest = 1;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* Reads an NDJSON file into a new array; NULL with err on error. */
static json_t *load_ndjson(const char *path, qx_error *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        qx_error_set(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    json_t *all = json_array();
    qx_ndjson_reader *r = qx_ndjson_open(f);
    json_t *v;
    int rc;
    while ((rc = qx_ndjson_next(r, &v, NULL, err)) == 1) {
        if (!json_is_object(v) || json_array_size(all) >= MAX_EXPECTED) {
            json_decref(v);
            qx_error_set(err, "expected one JSON object per line");
            rc = -1;
            break;
        }
        json_array_append_new(all, v);
    }
    qx_ndjson_close(r);
    fclose(f);
    if (rc != 0) {
        qx_error_prefix(err, "%s", path);
        json_decref(all);
        return NULL;
    }
    return all;
}

/* Runs the sender for one destination; returns its exit status or -1. */
static int run_sender(const qxm_suite_options *opt, const scenario *sc, const destination *d,
                      const char *url, const char *username, const char *token, const char *workdir,
                      size_t index, int64_t timeout_ms, char *why, size_t why_size)
{
    char dest_path[PATH_MAX], report[PATH_MAX], log_path[PATH_MAX], conc[16];
    text_set(dest_path, sizeof dest_path, "%s/destination-%zu.json", workdir, index);
    text_set(report, sizeof report, "%s/report-%zu.json", workdir, index);
    text_set(log_path, sizeof log_path, "%s/sender-%zu.log", workdir, index);
    text_set(conc, sizeof conc, "%d", sc->concurrency);

    json_t *dj =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", sc->name, "description", "qx-mock suite",
                  "url", url, "username", username, "passwordEnv", "QX_API_TOKEN");
    int wrc = dj != NULL ? json_dump_file(dj, dest_path, JSON_INDENT(2)) : -1;
    json_decref(dj);
    if (wrc != 0) {
        text_set(why, why_size, "cannot write %s", dest_path);
        return -1;
    }

    /* Environment: ours plus the scenario's. */
    size_t n_env = 0;
    while (environ[n_env] != NULL)
        n_env++;
    char **env = calloc(n_env + 8, sizeof *env);
    char e_url[2048], e_user[512], e_tok[512], e_prof[PATH_MAX + 16], e_map[PATH_MAX + 16];
    text_set(e_url, sizeof e_url, "QX_URL=%s", url);
    text_set(e_user, sizeof e_user, "QX_USERNAME=%s", username);
    text_set(e_tok, sizeof e_tok, "QX_API_TOKEN=%s", token);
    text_set(e_prof, sizeof e_prof, "QX_PROFILES=%s", sc->profiles);
    text_set(e_map, sizeof e_map, "QX_MAPPING=%s", d->mapping);
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++) {
        if (strncmp(environ[i], "QX_", 3) != 0)
            env[k++] = environ[i];
    }
    env[k++] = e_url;
    env[k++] = e_user;
    env[k++] = e_tok;
    env[k++] = e_prof;
    env[k++] = e_map;
    env[k] = NULL;

    const char *argv_default[] = {opt->sender_path,   "send",       "--destination", dest_path,
                                  "--mapping",        d->mapping,   "--concurrency", conc,
                                  "--retry-schedule", "50ms,100ms", "--report",      report,
                                  sc->profiles,       NULL};
    const char *argv_cmd[] = {"/bin/sh", "-c", opt->sender_cmd, NULL};
    const char *const *argv = opt->sender_cmd != NULL ? argv_cmd : argv_default;

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log_path, O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    if (rc != 0) {
        text_set(why, why_size, "cannot start the sender %s: %s", argv[0], strerror(rc));
        return -1;
    }
    int status = 0;
    int64_t deadline = qx_mono_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (qx_mono_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            text_set(why, why_size, "the sender did not finish within %lld ms",
                     (long long)timeout_ms);
            return -1;
        }
        qx_sleep_ms(5); /* polling a child's exit, not waiting for runs */
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool str_contains(json_t *hay, const char *needle)
{
    const char *h = json_string_value(hay);
    return h != NULL && strstr(h, needle) != NULL;
}

/* Compares one run with its expectation; writes the first difference. */
static bool run_matches(size_t i, json_t *run, json_t *exp, char *diff, size_t size)
{
    const char *key;
    json_t *want;
    json_object_foreach(exp, key, want)
    {
        json_t *got = json_object_get(run, key);
        if (strcmp(key, "error") == 0) {
            if (json_is_null(want) ? !json_is_null(got) && got != NULL
                                   : !str_contains(got, json_string_value(want))) {
                char *g = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;
                text_set(diff, size, "run %zu (%s): error %s, expected it to contain %s", i + 1,
                         json_string_value(json_object_get(run, "id")), g ? g : "null",
                         json_string_value(want) ? json_string_value(want) : "null");
                free(g);
                return false;
            }
            continue;
        }
        if (got == NULL || !json_equal(got, want)) {
            char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            char *w = json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT);
            const char *err = json_string_value(json_object_get(run, "error"));
            text_set(diff, size, "run %zu (%s): %s is %s, expected %s%s%s", i + 1,
                     json_string_value(json_object_get(run, "id")), key, g ? g : "absent",
                     w ? w : "?", err ? " — run error: " : "", err ? err : "");
            free(g);
            free(w);
            return false;
        }
    }
    return true;
}

static bool request_matches(size_t i, json_t *entry, json_t *exp, char *diff, size_t size)
{
    json_t *st = json_object_get(exp, "httpStatus");
    const char *reason = json_string_value(json_object_get(exp, "reason"));
    const char *wf = json_string_value(json_object_get(exp, "workflowId"));
    json_int_t got = json_integer_value(json_object_get(entry, "httpStatus"));
    if (st != NULL && got != json_integer_value(st)) {
        text_set(diff, size, "request %zu: httpStatus %lld, expected %lld (reason: %s)", i + 1,
                 (long long)got, (long long)json_integer_value(st),
                 json_string_value(json_object_get(entry, "reason")));
        return false;
    }
    if (reason != NULL && !str_contains(json_object_get(entry, "reason"), reason)) {
        text_set(diff, size, "request %zu: reason \"%s\", expected it to contain \"%s\"", i + 1,
                 json_string_value(json_object_get(entry, "reason")), reason);
        return false;
    }
    if (wf != NULL && !str_contains(json_object_get(entry, "workflowId"), wf)) {
        text_set(diff, size, "request %zu: workflowId %s, expected %s", i + 1,
                 json_string_value(json_object_get(entry, "workflowId")), wf);
        return false;
    }
    return true;
}

/* Sum of a report field over the destinations' reports; -1 if unreadable. */
static int64_t report_sum(const char *workdir, size_t n, const char *field)
{
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        text_set(path, sizeof path, "%s/report-%zu.json", workdir, i);
        json_t *r = json_load_file(path, 0, NULL);
        json_t *v = json_object_get(r, field);
        if (!json_is_integer(v)) {
            json_decref(r);
            return -1;
        }
        sum += json_integer_value(v);
        json_decref(r);
    }
    return sum;
}

static int rm_tree(const char *dir)
{
    /* Only files we created: destination, report and log files. */
    char path[PATH_MAX];
    for (size_t i = 0; i < MAX_DESTINATIONS; i++) {
        const char *names[] = {"destination-%zu.json", "report-%zu.json", "sender-%zu.log"};
        for (size_t k = 0; k < 3; k++) {
            char name[64];
            text_set(name, sizeof name, names[k], i);
            text_set(path, sizeof path, "%s/%s", dir, name);
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

/* Appends the tail of a sender log to a failure, so CI shows why. */
static void add_sender_log(qxm_scenario_result *out, const char *workdir, size_t index)
{
    char path[PATH_MAX];
    text_set(path, sizeof path, "%s/sender-%zu.log", workdir, index);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char tail[600];
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > 500 ? size - 500 : 0, SEEK_SET);
    size_t n = fread(tail, 1, sizeof tail - 1, f);
    tail[n] = '\0';
    fclose(f);
    char *msg = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&msg, &len);
    fprintf(m, "%s\n    sender output: %s", out->failure, tail);
    fclose(m);
    free(out->failure);
    out->failure = msg;
}

int qxm_suite_run_scenario(const char *dir, const qxm_suite_options *opt, qxm_scenario_result *out)
{
    memset(out, 0, sizeof *out);
    int64_t t0 = qx_mono_ms();
    int64_t timeout = opt->timeout_ms > 0 ? opt->timeout_ms : DEFAULT_SCENARIO_TIMEOUT_MS;
    scenario sc;
    qx_error err;
    json_t *expected = NULL, *expected_req = NULL, *runs = NULL, *journal = NULL;
    qxm_mock *m = NULL;
    char workdir[PATH_MAX] = "";
    int rc = -1;

    if (load_scenario(dir, &sc, &err) != 0) {
        const char *base = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
        out->name = strdup(base);
        fail(out, "%s", err.text);
        goto out;
    }
    out->name = strdup(sc.name);
    expected = load_ndjson(sc.expect, &err);
    if (expected == NULL) {
        fail(out, "%s", err.text);
        goto out;
    }
    if (sc.expect_requests[0] != '\0') {
        expected_req = load_ndjson(sc.expect_requests, &err);
        if (expected_req == NULL) {
            fail(out, "%s", err.text);
            goto out;
        }
    }
    qxm_config *cfg = qxm_config_load_file(sc.workflows, &err);
    if (cfg == NULL) {
        fail(out, "%s", err.text);
        goto out;
    }
    if (cfg->n_users == 0 || cfg->n_workflows == 0) {
        qxm_config_free(cfg);
        fail(out, "%s: a scenario needs at least one user and one workflow", sc.workflows);
        goto out;
    }
    /* Resolve each destination's workflow before the config moves. */
    char urls[MAX_DESTINATIONS][1024];
    char username[256], token[300];
    text_set(username, sizeof username, "%s", cfg->users[0].username);
    text_set(token, sizeof token, "%s%s", sc.wrong_token ? WRONG_TOKEN_PREFIX : "",
             cfg->users[0].api_token);
    char tokens[MAX_DESTINATIONS][256];
    for (size_t i = 0; i < sc.n_dest; i++) {
        const qxm_workflow *w = sc.dest[i].workflow_id[0] != '\0'
                                    ? qxm_config_find_by_id(cfg, sc.dest[i].workflow_id)
                                    : &cfg->workflows[0];
        if (w == NULL) {
            fail(out, "destination %zu: no workflow \"%s\" in %s", i + 1, sc.dest[i].workflow_id,
                 sc.workflows);
            qxm_config_free(cfg);
            goto out;
        }
        text_set(tokens[i], sizeof tokens[i], "%s", w->url_token_id);
    }
    qxm_options mo = {.listen = "127.0.0.1:0", .seeded = true, .seed = sc.seed, .threads = 2};
    m = qxm_mock_new(cfg, &mo, &err);
    if (m == NULL || qxm_mock_start(m, &err) != 0) {
        fail(out, "cannot start the emulator: %s", err.text);
        goto out;
    }
    for (size_t i = 0; i < sc.n_dest; i++)
        text_set(urls[i], sizeof urls[i], "%s/inbound-event/v1/events/json/triggers?urlTokenId=%s",
                 qxm_mock_url(m), tokens[i]);

    const char *tmp = getenv("TMPDIR");
    text_set(workdir, sizeof workdir, "%s/qx-suite.XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(workdir) == NULL) {
        fail(out, "cannot create a temporary directory: %s", strerror(errno));
        workdir[0] = '\0';
        goto out;
    }
    for (size_t i = 0; i < sc.n_dest; i++) {
        char why[512] = "";
        int64_t left = timeout - (qx_mono_ms() - t0);
        int st = run_sender(opt, &sc, &sc.dest[i], urls[i], username, token, workdir, i,
                            left > 1000 ? left : 1000, why, sizeof why);
        if (st < 0 || st > 1) {
            fail(out, "sender for destination %zu: %s", i + 1,
                 why[0]    ? why
                 : st == 2 ? "exit status 2 (bad usage or configuration)"
                           : "crashed or was killed");
            add_sender_log(out, workdir, i);
            goto out;
        }
    }

    size_t n_exp = json_array_size(expected);
    size_t n_req = expected_req != NULL ? json_array_size(expected_req) : 0;
    int64_t left = timeout - (qx_mono_ms() - t0);
    /* The sender has exited, so every request it made has been answered,
     * and an answered request's run or journal entry is already stored:
     * what is left is runs still in their configured delay. */
    int w = qxm_mock_wait_idle(m, left > 0 ? left : 0, &err);
    if (w < 0) {
        fail(out, "%s", err.text);
        goto out;
    }
    qxm_run_filter all = {.limit = 1000};
    int64_t next = 0;
    runs = qxm_store_list_runs(qxm_mock_store(m), &all, &next, &err);
    journal = qxm_store_list_requests(qxm_mock_store(m), 0, 1000, &next, &err);
    if (runs == NULL || journal == NULL) {
        fail(out, "%s", err.text);
        goto out;
    }
    out->runs = (int64_t)json_array_size(runs);
    qxm_run_filter running = {.status = "RUNNING"};
    int64_t n_running = qxm_store_count_runs(qxm_mock_store(m), &running, &err);
    if (json_array_size(runs) != n_exp || n_running > 0) {
        fail(out, "%zu runs recorded (%lld still RUNNING), expected %zu", json_array_size(runs),
             (long long)n_running, n_exp);
        if (json_array_size(runs) < n_exp && json_array_size(journal) > 0) {
            json_t *e = json_array_get(journal, 0);
            char *prev = out->failure;
            size_t len = strlen(prev) + 512;
            out->failure = malloc(len);
            text_set(out->failure, len, "%s; first request without a run: %lld %s", prev,
                     (long long)json_integer_value(json_object_get(e, "httpStatus")),
                     json_string_value(json_object_get(e, "reason")));
            free(prev);
        }
        goto out;
    }
    char diff[1024];
    for (size_t i = 0; i < n_exp; i++) {
        if (!run_matches(i, json_array_get(runs, i), json_array_get(expected, i), diff,
                         sizeof diff)) {
            fail(out, "%s", diff);
            goto out;
        }
    }
    if (expected_req != NULL) {
        if (json_array_size(journal) != n_req) {
            fail(out, "%zu requests started no run, expected %zu", json_array_size(journal), n_req);
            goto out;
        }
        for (size_t i = 0; i < n_req; i++) {
            if (!request_matches(i, json_array_get(journal, i), json_array_get(expected_req, i),
                                 diff, sizeof diff)) {
                fail(out, "%s", diff);
                goto out;
            }
        }
    }
    if (opt->sender_cmd == NULL) {
        /* The sender's own account must agree with what the emulator saw:
         * everything it delivered (2xx) is a run or a journalled 200. */
        int64_t delivered = report_sum(workdir, sc.n_dest, "activated");
        int64_t failed = report_sum(workdir, sc.n_dest, "failed");
        size_t n_req_ok = 0;
        for (size_t i = 0; i < n_req; i++)
            n_req_ok += json_integer_value(
                            json_object_get(json_array_get(expected_req, i), "httpStatus")) == 200;
        if (delivered < 0) {
            fail(out, "the sender wrote no readable report");
            goto out;
        }
        if ((size_t)delivered != n_exp + n_req_ok) {
            fail(out,
                 "sender report: activated %lld, expected %zu (runs %zu + accepted requests "
                 "without a run %zu)",
                 (long long)delivered, n_exp + n_req_ok, n_exp, n_req_ok);
            goto out;
        }
        if ((size_t)(delivered + failed) != n_exp + n_req) {
            fail(out, "sender report: activated + failed = %lld, expected %zu requests",
                 (long long)(delivered + failed), n_exp + n_req);
            goto out;
        }
    }
    out->passed = true;
out:
    rc = out->name != NULL ? 0 : -1;
    if (m != NULL && opt->keep_history != NULL) {
        char path[PATH_MAX];
        text_set(path, sizeof path, "%s/%s.ndjson", opt->keep_history, out->name);
        mkdir(opt->keep_history, 0755);
        FILE *f = fopen(path, "w");
        if (f == NULL || qxm_mock_export(m, f, &err) < 0) {
            if (out->passed)
                fail(out, "--keep-history: cannot write %s", path);
        }
        if (f != NULL)
            fclose(f);
    }
    qxm_mock_free(m);
    if (workdir[0] != '\0')
        rm_tree(workdir);
    json_decref(expected);
    json_decref(expected_req);
    json_decref(runs);
    json_decref(journal);
    out->elapsed_ms = qx_mono_ms() - t0;
    return rc;
}

void qxm_scenario_result_clear(qxm_scenario_result *r)
{
    free(r->name);
    free(r->failure);
    memset(r, 0, sizeof *r);
}

static void xml_escaped(FILE *f, const char *s)
{
    for (; s != NULL && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&apos;", f);
            break;
        default:
            /* XML 1.0 forbids most control characters. */
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t' && *s != '\r')
                fputc('?', f);
            else
                fputc(*s, f);
        }
    }
}

int qxm_suite_write_junit(const char *path, const qxm_scenario_result *results, size_t n,
                          qx_error *err)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        qx_error_set(err, "--junit %s: %s", path, strerror(errno));
        return -1;
    }
    size_t failures = 0;
    int64_t total_ms = 0;
    for (size_t i = 0; i < n; i++) {
        failures += !results[i].passed;
        total_ms += results[i].elapsed_ms;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites tests=\"%zu\" failures=\"%zu\" time=\"%.3f\">\n", n, failures,
            (double)total_ms / 1000);
    fprintf(f,
            "  <testsuite name=\"qx-mock suite\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
            "time=\"%.3f\">\n",
            n, failures, (double)total_ms / 1000);
    for (size_t i = 0; i < n; i++) {
        fputs("    <testcase classname=\"qxharness.scenario\" name=\"", f);
        xml_escaped(f, results[i].name);
        fprintf(f, "\" time=\"%.3f\"", (double)results[i].elapsed_ms / 1000);
        if (results[i].passed) {
            fputs("/>\n", f);
            continue;
        }
        fputs(">\n      <failure message=\"", f);
        xml_escaped(f, results[i].failure);
        fputs("\">", f);
        xml_escaped(f, results[i].failure);
        fputs("</failure>\n    </testcase>\n", f);
    }
    fputs("  </testsuite>\n</testsuites>\n", f);
    if (fclose(f) != 0) {
        qx_error_set(err, "--junit %s: write failed", path);
        return -1;
    }
    return 0;
}
