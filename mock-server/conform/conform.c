/*
 * conform.c — one run of the conformance kit (qxm_conform.h): the expected
 * payloads and their fault plan, an emulator with a tap, the sender as a
 * child process, the grade.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conform_internal.h"
#include "qx_clock.h"
#include "qx_json_file.h"
#include "qx_rng.h"
#include "qxm_mock.h"
#include "qxm_suite.h"

#define CONFORM_USER "conform@example.com"
#define CONFORM_WORKFLOW "WF_conform"
#define CONFORM_URL_TOKEN "CONFORM"
/* The run a paced sender should take, to pick the rate limit. */
#define CONFORM_TARGET_S 10
/* The least rate limit: its bucket (one second's worth) holds 4 calls, so
 * a paced sender's retries and the network's jitter fit. */
#define CONFORM_MIN_RATE 240
/* The output of the sender shown with the result, at most. */
#define SENDER_OUTPUT_TAIL 2048

typedef struct conform_run {
    const qxm_conform_options *opt;
    conform_expect expect;
    conform_tape tape;
    bool tape_ready;
    qxm_mock *m;
    char token[41]; /* secret: random, this run's only */
    unsigned rate, burst;
    char workdir[PATH_MAX / 2]; /* "" until made; room for a file name after it */
    char profiles[PATH_MAX], mapping[PATH_MAX], log[PATH_MAX];
} conform_run;

static int write_text(const char *path, const char *text, qx_error *err)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0) {
        qx_error_set(err, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Reads a whole file into a new string (owned). */
static char *slurp(const char *path, size_t *len, qx_error *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        qx_error_set(err, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t cap = 0;
    FILE *mem = open_memstream(&text, &cap);
    char buf[65536];
    size_t n;
    while (mem != NULL && (n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, mem);
    bool bad = ferror(f);
    fclose(f);
    if (mem == NULL || fclose(mem) != 0 || bad) {
        free(text);
        qx_error_set(err, "cannot read %s", path);
        return NULL;
    }
    *len = cap;
    return text;
}

/* The expected payloads from the given or built-in profiles and mapping,
 * and the files the sender reads. */
static int expect(conform_run *r, qx_error *err)
{
    json_t *mapping = r->opt->mapping != NULL ? qx_json_load_file(r->opt->mapping, 0, err)
                                              : json_loads(conform_builtin_mapping, 0, NULL);
    size_t len = 0;
    char *profiles = r->opt->profiles != NULL ? slurp(r->opt->profiles, &len, err)
                                              : strdup(conform_builtin_profiles);
    if (r->opt->profiles == NULL && profiles != NULL)
        len = strlen(profiles);
    int rc = -1;
    if (mapping != NULL && profiles != NULL)
        rc = conform_expect_build(&r->expect, mapping, profiles, len,
                                  r->opt->profiles != NULL ? r->opt->profiles : "built-in profiles",
                                  err);
    else if (mapping == NULL && r->opt->mapping == NULL)
        qx_error_set(err, "out of memory");
    json_decref(mapping);
    free(profiles);
    if (rc != 0)
        return -1;
    conform_expect_plan(&r->expect, r->opt->seed);
    size_t requests = r->expect.n + r->expect.planned_retries;
    r->rate = (unsigned)((requests * 60 + CONFORM_TARGET_S - 1) / CONFORM_TARGET_S);
    if (r->rate < CONFORM_MIN_RATE)
        r->rate = CONFORM_MIN_RATE;
    r->burst = r->rate / 60;
    return 0;
}

static int make_workdir(conform_run *r, qx_error *err)
{
    const char *tmp = getenv("TMPDIR");
    int n =
        snprintf(r->workdir, sizeof r->workdir, "%s/qx-conform.XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (n < 0 || (size_t)n >= sizeof r->workdir) {
        qx_error_set(err, "TMPDIR is too long a path");
        r->workdir[0] = '\0';
        return -1;
    }
    if (mkdtemp(r->workdir) == NULL) {
        qx_error_set(err, "cannot create a temporary directory: %s", strerror(errno));
        r->workdir[0] = '\0';
        return -1;
    }
    snprintf(r->log, sizeof r->log, "%s/sender.log", r->workdir);
    if (r->opt->profiles != NULL) {
        snprintf(r->profiles, sizeof r->profiles, "%s", r->opt->profiles);
        snprintf(r->mapping, sizeof r->mapping, "%s", r->opt->mapping);
        return 0;
    }
    snprintf(r->profiles, sizeof r->profiles, "%s/profiles.ndjson", r->workdir);
    snprintf(r->mapping, sizeof r->mapping, "%s/mapping.json", r->workdir);
    if (write_text(r->profiles, conform_builtin_profiles, err) != 0 ||
        write_text(r->mapping, conform_builtin_mapping, err) != 0)
        return -1;
    return 0;
}

/* The emulator: one workflow needing credentials, the kit's rate limit. */
static int start_emulator(conform_run *r, qx_error *err)
{
    qx_rng *rng = qx_rng_new_random();
    if (rng == NULL) {
        qx_error_set(err, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < sizeof r->token - 1; i++)
        r->token[i] = "0123456789abcdef"[qx_rng_next(rng) & 15];
    qx_rng_free(rng);
    json_t *doc = json_pack(
        "{s:[{s:s, s:s}], s:[{s:s, s:s, s:s, s:b, s:{s:s, s:s}}], s:I, s:I}", "users", "username",
        CONFORM_USER, "apiToken", r->token, "workflows", "id", CONFORM_WORKFLOW, "name",
        "Conformance kit", "urlTokenId", CONFORM_URL_TOKEN, "authRequired", 1, "eventData", "email",
        "$.identityMap.Email[0].id", "externalId", "$.identityMap.external_id[0].id",
        "rateLimitPerMinute", (json_int_t)r->rate, "rateLimitBurst", (json_int_t)r->burst);
    qxm_config *cfg = doc != NULL ? qxm_config_from_json(doc, err) : NULL;
    json_decref(doc);
    if (cfg == NULL) {
        if (doc == NULL)
            qx_error_set(err, "out of memory");
        return -1;
    }
    if (conform_tape_init(&r->tape, &r->expect, r->token) != 0) {
        qxm_config_free(cfg);
        qx_error_set(err, "cannot create a lock");
        return -1;
    }
    r->tape_ready = true;
    qxm_options mo = {.listen = "127.0.0.1:0", .seeded = true, .seed = r->opt->seed, .threads = 2};
    r->m = qxm_mock_new(cfg, &mo, err);
    if (r->m == NULL)
        return -1;
    qxm_event_tap tap = conform_tape_tap(&r->tape);
    qxm_mock_set_tap(r->m, &tap);
    return qxm_mock_start(r->m, err);
}

/* The destination file qx-send reads (the token comes from QX_API_TOKEN). */
static int write_destination(const char *url, const char *path, qx_error *err)
{
    json_t *d =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", "conform", "description", "qx-mock conform",
                  "url", url, "username", CONFORM_USER, "passwordEnv", "QX_API_TOKEN");
    int rc = d != NULL ? json_dump_file(d, path, JSON_INDENT(2)) : -1;
    json_decref(d);
    if (rc != 0)
        qx_error_set(err, "cannot write %s", path);
    return rc;
}

/* The sender's exit status, or -1 with out->sender_problem. */
static int run_sender(conform_run *r, qxm_conform_result *out, qx_error *err)
{
    char url[1024], dest[PATH_MAX + 32], report[PATH_MAX + 32], rate[32];
    snprintf(url, sizeof url, "%s/inbound-event/v1/events/json/triggers?urlTokenId=%s",
             qxm_mock_url(r->m), CONFORM_URL_TOKEN);
    snprintf(dest, sizeof dest, "%s/destination.json", r->workdir);
    snprintf(report, sizeof report, "%s/report.json", r->workdir);
    snprintf(rate, sizeof rate, "%u/min", r->rate);
    if (write_destination(url, dest, err) != 0)
        return -2;
    char e_url[1100], e_user[64], e_tok[64], e_prof[PATH_MAX + 16], e_map[PATH_MAX + 16];
    char e_rate[64];
    snprintf(e_url, sizeof e_url, "QX_URL=%s", url);
    snprintf(e_user, sizeof e_user, "QX_USERNAME=%s", CONFORM_USER);
    snprintf(e_tok, sizeof e_tok, "QX_API_TOKEN=%s", r->token);
    snprintf(e_prof, sizeof e_prof, "QX_PROFILES=%s", r->profiles);
    snprintf(e_map, sizeof e_map, "QX_MAPPING=%s", r->mapping);
    snprintf(e_rate, sizeof e_rate, "QX_RATE_LIMIT_PER_MINUTE=%u", r->rate);
    const char *env[] = {e_url, e_user, e_tok, e_prof, e_map, e_rate, NULL};
    /* The platform retries after 15 s and 30 s; the kit's waits are as
     * short as a CI job wants and far enough apart that the wait for the
     * pacer's next token cannot make the second look shorter. */
    const char *argv_default[] = {r->opt->sender_path, "send",     "--destination", dest,
                                  "--mapping",         r->mapping, "--rate",        rate,
                                  "--retry-schedule",  "100ms,2s", "--concurrency", "2",
                                  "--report",          report,     r->profiles,     NULL};
    const char *argv_cmd[] = {"/bin/sh", "-c", r->opt->sender_cmd, NULL};
    const char *const *argv = r->opt->sender_cmd != NULL ? argv_cmd : argv_default;
    int64_t timeout = r->opt->timeout_ms > 0 ? r->opt->timeout_ms : 120000;
    int64_t t0 = qx_mono_ms();
    int st = qxm_run_sender_process(argv, env, r->log, NULL, timeout, out->sender_problem,
                                    sizeof out->sender_problem);
    out->elapsed_ms = qx_mono_ms() - t0;
    return st;
}

/* The last SENDER_OUTPUT_TAIL bytes of the sender's output, from a line's start. */
static char *output_tail(const char *path)
{
    qx_error err;
    size_t len = 0;
    char *text = slurp(path, &len, &err);
    if (text == NULL || len == 0) {
        free(text);
        return NULL;
    }
    size_t from = len > SENDER_OUTPUT_TAIL ? len - SENDER_OUTPUT_TAIL : 0;
    while (from > 0 && from < len && text[from - 1] != '\n')
        from++;
    memmove(text, text + from, len - from + 1);
    return text;
}

static void cleanup(conform_run *r)
{
    qxm_mock_free(r->m);
    if (r->tape_ready)
        conform_tape_free(&r->tape);
    conform_expect_free(&r->expect);
    if (r->workdir[0] != '\0') {
        const char *files[] = {"profiles.ndjson", "mapping.json", "destination.json", "report.json",
                               "sender.log"};
        char path[PATH_MAX + 32];
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            snprintf(path, sizeof path, "%s/%s", r->workdir, files[i]);
            unlink(path);
        }
        if (rmdir(r->workdir) != 0)
            fprintf(stderr, "qx-mock conform: left %s (the sender wrote more there)\n", r->workdir);
    }
    explicit_bzero(r->token, sizeof r->token);
}

int qxm_conform_run(const qxm_conform_options *opt, qxm_conform_result *out, qx_error *err)
{
    *out = (qxm_conform_result){.sender_status = -1};
    conform_run r = {.opt = opt};
    int rc = -1;
    if ((opt->profiles == NULL) != (opt->mapping == NULL)) {
        qx_error_set(err, "give both profiles and a mapping, or neither (the built-in ones)");
        return -1;
    }
    if (expect(&r, err) != 0 || make_workdir(&r, err) != 0 || start_emulator(&r, err) != 0)
        goto done;
    out->rate_limit_per_minute = r.rate;
    out->payloads = (int64_t)r.expect.n;
    int st = run_sender(&r, out, err);
    if (st == -2)
        goto done;
    out->sender_status = st;
    qxm_mock_stop(r.m); /* every request in flight is answered and taped */
    out->requests = (int64_t)r.tape.n;
    out->sender_output = output_tail(r.log);
    if (conform_grade(&r.tape, r.rate, r.burst, out) != 0) {
        qx_error_set(err, "out of memory grading");
        goto done;
    }
    rc = 0;
done:
    cleanup(&r);
    if (rc != 0)
        qxm_conform_result_clear(out);
    return rc;
}

bool qxm_conform_passed(const qxm_conform_result *r)
{
    for (size_t i = 0; i < r->n_rules; i++)
        if (!r->rules[i].passed)
            return false;
    return r->n_rules == QXM_CONFORM_RULES;
}

void qxm_conform_result_clear(qxm_conform_result *r)
{
    for (size_t i = 0; i < r->n_rules; i++) {
        free(r->rules[i].summary);
        json_decref(r->rules[i].evidence);
    }
    free(r->sender_output);
    *r = (qxm_conform_result){.sender_status = -1};
}
