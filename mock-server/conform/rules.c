/*
 * rules.c — grading: the evidence helpers, the rules about each request
 * (auth, payload) and about the whole run (rate, exits, complete), and
 * conform_grade, which runs them all. The rules about one payload's
 * attempts are in rules_delivery.c.
 *
 * Every rule lists its evidence (request id, time since the sender started,
 * the payload's identity, the answer) and names its source; README.md,
 * "Conformance kit", states each rule as it is graded here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conform_internal.h"
#include "qx_clock.h"
#include "qx_email.h"

/* Evidence items kept per rule; the count says how many there were. */
#define MAX_EVIDENCE 20

void rule_begin(rule_acc *a, const grade_ctx *g, qxm_rule_result *res, const char *rule,
                const char *source)
{
    *res = (qxm_rule_result){.rule = rule, .source = source, .evidence = json_array()};
    *a = (rule_acc){.res = res, .g = g};
}

void rule_fail(rule_acc *a, const conform_request *rq, const expected_payload *p, const char *fmt,
               ...)
{
    char detail[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (p == NULL && rq != NULL && rq->expected >= 0)
        p = &a->g->e->p[rq->expected];
    const char *identity = p != NULL && p->identity != NULL ? p->identity : NULL;
    if (a->failures == 0) {
        char where[160] = "";
        if (rq != NULL)
            snprintf(where, sizeof where, "request %s at +%lld ms",
                     rq->request_id[0] != '\0' ? rq->request_id : "(unanswered)",
                     (long long)rq->at_ms);
        else if (p != NULL)
            snprintf(where, sizeof where, "profile line %ld", p->line);
        snprintf(a->first, sizeof a->first, "%s%s%s%s%s", where, identity != NULL ? " (" : "",
                 identity != NULL ? identity : "", identity != NULL ? ")" : "",
                 where[0] != '\0' || identity != NULL ? ": " : "");
        size_t used = strlen(a->first);
        snprintf(a->first + used, sizeof a->first - used, "%s", detail);
    }
    a->failures++;
    if (a->res->evidence == NULL || json_array_size(a->res->evidence) >= MAX_EVIDENCE)
        return;
    json_t *item = json_object();
    if (item == NULL)
        return;
    if (rq != NULL) {
        if (rq->request_id[0] != '\0')
            json_object_set_new(item, "requestId", json_string(rq->request_id));
        json_object_set_new(item, "atMs", json_integer((json_int_t)rq->at_ms));
        json_object_set_new(item, "status", json_integer((json_int_t)rq->status));
    }
    if (identity != NULL)
        json_object_set_new(item, "identity", json_string(identity));
    if (p != NULL)
        json_object_set_new(item, "line", json_integer((json_int_t)p->line));
    json_object_set_new(item, "detail", json_string(detail));
    json_array_append_new(a->res->evidence, item);
}

int rule_end(rule_acc *a, const char *pass_fmt, ...)
{
    char text[640];
    a->res->passed = a->failures == 0;
    if (a->res->passed) {
        va_list ap;
        va_start(ap, pass_fmt);
        vsnprintf(text, sizeof text, pass_fmt, ap);
        va_end(ap);
    } else if (a->failures == 1) {
        snprintf(text, sizeof text, "%s", a->first);
    } else {
        snprintf(text, sizeof text, "%s (and %zu more)", a->first, a->failures - 1);
    }
    a->res->summary = strdup(text);
    return a->res->summary != NULL && a->res->evidence != NULL ? 0 : -1;
}

bool conform_retryable(const conform_request *rq)
{
    switch (rq->status) {
    case 0:
    case 408:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
        return rq->ended;
    default:
        return rq->drop_after;
    }
}

bool conform_accepted(const conform_request *rq)
{
    return rq->ended && rq->status == 200;
}

int rules_auth(const grade_ctx *g, qxm_rule_result *res)
{
    rule_acc a;
    rule_begin(&a, g, res, "auth",
               "destination docs: Basic auth, username + API token (SPEC §2); Qualtrics API: "
               "X-API-TOKEN header");
    size_t basic = 0, header = 0;
    for (size_t i = 0; i < g->t->n; i++) {
        const conform_request *rq = &g->t->r[i];
        basic += rq->auth == AUTH_BASIC;
        header += rq->auth == AUTH_API_TOKEN;
        if (rq->auth == AUTH_NONE)
            rule_fail(&a, rq, NULL, "no credentials");
        else if (rq->auth == AUTH_OTHER)
            rule_fail(&a, rq, NULL, "credentials neither Basic nor X-API-TOKEN, or malformed");
        else if (rq->status == 401)
            rule_fail(&a, rq, NULL, "answered 401: the credentials were not accepted");
        if (rq->token_in_url)
            rule_fail(&a, rq, NULL, "the API token is in the URL");
    }
    if (g->t->n == 0)
        rule_fail(&a, NULL, NULL, "the sender sent no request");
    return rule_end(&a, "%zu requests: %zu with Basic, %zu with X-API-TOKEN, no token in a URL",
                    g->t->n, basic, header);
}

int rules_payload(const grade_ctx *g, qxm_rule_result *res)
{
    rule_acc a;
    rule_begin(&a, g, res, "payload",
               "destination docs: payload structure (SPEC §2), identities Email and external_id, "
               "no hashed email; Qualtrics: 100 KB at most");
    for (size_t i = 0; i < g->t->n; i++)
        if (g->t->r[i].problem[0] != '\0')
            rule_fail(&a, &g->t->r[i], NULL, "%s", g->t->r[i].problem);
    return rule_end(&a,
                    "%zu requests: JSON objects of at most 100 KB as application/json, identityMap "
                    "by target namespace, segmentMembership.ups realized|exited with RFC 3339 "
                    "times",
                    g->t->n);
}

int rules_rate(const grade_ctx *g, qxm_rule_result *res)
{
    rule_acc a;
    rule_begin(&a, g, res, "rate",
               "Qualtrics API: 3,000 calls per minute per user; the kit's bucket holds one "
               "second's worth");
    size_t over = 0;
    for (size_t i = 0; i < g->t->n; i++)
        over += g->t->r[i].ended && g->t->r[i].status == 429 && g->t->r[i].planned.status != 429;
    size_t total = g->t->n;
    if (total > 0 && over * 100 >= total) {
        for (size_t i = 0; i < g->t->n; i++) {
            const conform_request *rq = &g->t->r[i];
            if (rq->ended && rq->status == 429 && rq->planned.status != 429)
                rule_fail(&a, rq, NULL,
                          "%zu of %zu requests (%.1f%%) answered 429 by the rate limit of %u/min "
                          "(burst %u): at least 1%%",
                          over, total, 100.0 * (double)over / (double)total, g->rate, g->burst);
        }
    }
    return rule_end(&a, "%zu of %zu requests answered 429 by the rate limit of %u/min (burst %u)",
                    over, total, g->rate, g->burst);
}

int rules_exits(const grade_ctx *g, qxm_rule_result *res)
{
    rule_acc a;
    rule_begin(&a, g, res, "exits",
               "Destination SDK: exports are triggered by a qualification or an exit; streaming "
               "destinations receive exited audiences");
    bool *taken = calloc(g->e->n + 1, sizeof *taken);
    if (taken == NULL)
        return -1;
    /* Sent at all: whether it was taken is the complete rule's. */
    for (size_t i = 0; i < g->t->n; i++)
        if (g->t->r[i].expected >= 0)
            taken[g->t->r[i].expected] = true;
    size_t exits = 0;
    for (size_t i = 0; i < g->e->n; i++) {
        if (!g->e->p[i].has_exit)
            continue;
        exits++;
        if (!taken[i])
            rule_fail(&a, NULL, &g->e->p[i], "its exit (status exited) was never sent");
    }
    free(taken);
    return rule_end(&a, "%zu payloads with an exit, each sent", exits);
}

int rules_complete(const grade_ctx *g, qxm_rule_result *res)
{
    rule_acc a;
    rule_begin(&a, g, res, "complete",
               "SPEC: nothing is lost; every activation ends activated, excluded or failed");
    int *taken = calloc(g->e->n + 1, sizeof *taken);
    if (taken == NULL)
        return -1;
    for (size_t i = 0; i < g->t->n; i++) {
        const conform_request *rq = &g->t->r[i];
        if (rq->expected >= 0 && conform_accepted(rq))
            taken[rq->expected]++;
        else if (rq->expected < 0)
            rule_fail(&a, rq, NULL, "a payload no profile renders to (with the mapping given)");
    }
    size_t by_design = 0;
    for (size_t i = 0; i < g->e->n; i++) {
        const expected_payload *p = &g->e->p[i];
        if (p->program == FP_400_ALWAYS)
            by_design++;
        else if (taken[i] < p->multiplicity)
            rule_fail(&a, NULL, p, "never answered 200 (its faults: %s)",
                      conform_program_name(p->program));
    }
    if (g->t->overflow)
        rule_fail(&a, NULL, NULL, "more than %d requests: the rest were not graded",
                  CONFORM_MAX_REQUESTS);
    free(taken);
    return rule_end(&a, "%zu of %zu payloads answered 200 (%zu answered 400 by design)",
                    g->e->n - by_design, g->e->n, by_design);
}

/* Per request, the next request carrying the same payload. */
static size_t *next_attempts(const conform_tape *t, size_t n_payloads)
{
    size_t *next = malloc((t->n + 1) * sizeof *next);
    size_t *last = malloc((n_payloads + 1) * sizeof *last);
    if (next == NULL || last == NULL) {
        free(next);
        free(last);
        return NULL;
    }
    for (size_t i = 0; i < n_payloads; i++)
        last[i] = SIZE_MAX;
    for (size_t i = 0; i < t->n; i++) {
        next[i] = SIZE_MAX;
        long p = t->r[i].expected;
        if (p < 0)
            continue;
        if (last[p] != SIZE_MAX)
            next[last[p]] = i;
        last[p] = i;
    }
    free(last);
    return next;
}

int conform_grade(const conform_tape *t, unsigned rate, unsigned burst, qxm_conform_result *out)
{
    static int (*const rules[])(const grade_ctx *, qxm_rule_result *) = {
        rules_auth,          rules_payload, rules_retry, rules_retry_after, rules_no_retry_4xx,
        rules_no_duplicates, rules_rate,    rules_order, rules_exits,       rules_complete};
    _Static_assert(sizeof rules / sizeof rules[0] == QXM_CONFORM_RULES, "one result per rule");
    grade_ctx g = {.t = t,
                   .e = t->expect,
                   .next = next_attempts(t, t->expect->n),
                   .rate = rate,
                   .burst = burst};
    if (g.next == NULL)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < QXM_CONFORM_RULES; i++) {
        if (rules[i](&g, &out->rules[i]) != 0)
            rc = -1;
        out->n_rules = i + 1;
    }
    free(g.next);
    return rc;
}

/* ---- the payload's structure ------------------------------------------- */

static bool is_rfc3339(const json_t *v)
{
    const char *s = json_string_value(v);
    int64_t ms;
    return s != NULL && strchr(s, 'T') != NULL && qx_parse_time(s, &ms) == 0;
}

static void check_identity_map(json_t *im, char *problem, size_t size)
{
    if (!json_is_object(im) || json_object_size(im) == 0) {
        snprintf(problem, size, "no identityMap object with an identity");
        return;
    }
    const char *ns;
    json_t *ids;
    json_object_foreach(im, ns, ids)
    {
        if (strcmp(ns, "Email") != 0 && strcmp(ns, "external_id") != 0) {
            snprintf(problem, size,
                     "identityMap keyed by \"%.60s\": the destination's target identities are "
                     "Email and external_id",
                     ns);
            return;
        }
        if (!json_is_array(ids) || json_array_size(ids) == 0) {
            snprintf(problem, size, "identityMap.%s is not a non-empty array", ns);
            return;
        }
        size_t i;
        json_t *entry;
        json_array_foreach(ids, i, entry)
        {
            const char *id = json_string_value(json_object_get(entry, "id"));
            if (id == NULL || id[0] == '\0') {
                snprintf(problem, size, "identityMap.%s[%zu] has no \"id\" string", ns, i);
                return;
            }
            if (strcmp(ns, "Email") == 0 && qx_is_hashed_email(id)) {
                snprintf(problem, size,
                         "identityMap.Email[%zu] is a hashed email: the destination takes "
                         "plain-text emails only",
                         i);
                return;
            }
        }
    }
}

static void check_membership(json_t *sm, char *problem, size_t size)
{
    json_t *ups = json_object_get(sm, "ups");
    if (!json_is_object(ups) || json_object_size(ups) == 0) {
        snprintf(problem, size, "no segmentMembership.ups object with an audience");
        return;
    }
    const char *id;
    json_t *entry;
    json_object_foreach(ups, id, entry)
    {
        const char *st = json_string_value(json_object_get(entry, "status"));
        if (st == NULL || (strcmp(st, "realized") != 0 && strcmp(st, "exited") != 0)) {
            snprintf(problem, size,
                     "segmentMembership.ups[\"%.60s\"].status is not \"realized\" or \"exited\"",
                     id);
            return;
        }
        if (!is_rfc3339(json_object_get(entry, "lastQualificationTime"))) {
            snprintf(problem, size,
                     "segmentMembership.ups[\"%.60s\"].lastQualificationTime is not an RFC 3339 "
                     "time",
                     id);
            return;
        }
    }
}

void conform_check_payload(const char *content_type, json_t *doc, size_t len, char *problem,
                           size_t size)
{
    problem[0] = '\0';
    size_t n = content_type != NULL ? strcspn(content_type, "; ") : 0;
    if (content_type == NULL || n != 16 || strncasecmp(content_type, "application/json", 16) != 0) {
        snprintf(problem, size, "Content-Type is %.80s, not application/json",
                 content_type != NULL ? content_type : "missing");
        return;
    }
    if (len > QXM_MAX_BODY_BYTES) {
        snprintf(problem, size, "body of %zu bytes: over 100 KB (%d bytes)", len,
                 QXM_MAX_BODY_BYTES);
        return;
    }
    if (!json_is_object(doc)) {
        snprintf(problem, size, "body is not a JSON object");
        return;
    }
    check_identity_map(json_object_get(doc, "identityMap"), problem, size);
    if (problem[0] == '\0')
        check_membership(json_object_get(doc, "segmentMembership"), problem, size);
}
