/*
 * rules_delivery.c — the rules about each payload's attempts: retry,
 * retry-after, no-retry-on-4xx, no-duplicates and order (see rules.c).
 *
 * An attempt's wait is the time from the previous attempt's answer (or
 * dropped connection) to the retry's arrival, on the emulator's monotonic
 * clock: a sender cannot retry before it has the answer, so a wait is never
 * shorter than the sender's own.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conform_internal.h"

/* A retry waits longer than the one before it when it waits at least a
 * quarter longer and at least this much longer: more than a loopback
 * round trip and scheduling noise make of two immediate retries. */
#define BACKOFF_MIN_GROWTH_MS 20

static const char *answer_name(const conform_request *rq, char *buf, size_t size)
{
    if (rq->status == 0)
        return "a dropped connection";
    if (rq->drop_after)
        return "a dropped connection (after the run was recorded)";
    snprintf(buf, size, "HTTP %d", rq->status);
    return buf;
}

/* The wait before request j, the retry of request i. */
static int64_t wait_ms(const conform_request *i, const conform_request *j)
{
    return j->at_ms - i->answered_ms;
}

/* Backoff of one chain of retries from request i on: each wait after a
 * failure without Retry-After is longer than the wait before it. */
static void check_backoff(rule_acc *a, const grade_ctx *g, size_t i, size_t *grew)
{
    const conform_request *r = g->t->r;
    size_t j = g->next[i];
    if (j == SIZE_MAX || r[i].status == 429 || !conform_retryable(&r[i]))
        return;
    size_t k = g->next[j];
    if (k == SIZE_MAX || r[j].status == 429 || !conform_retryable(&r[j]))
        return;
    int64_t w1 = wait_ms(&r[i], &r[j]), w2 = wait_ms(&r[j], &r[k]);
    if (w2 < w1 + BACKOFF_MIN_GROWTH_MS || w2 * 4 < w1 * 5)
        rule_fail(a, &r[k], NULL,
                  "retried after %lld ms, having waited %lld ms before the previous retry: no "
                  "backoff (each retry must wait longer)",
                  (long long)w2, (long long)w1);
    else
        (*grew)++;
}

int rules_retry(const grade_ctx *g, qxm_rule_result *res)
{
    rule_acc a;
    rule_begin(&a, g, res, "retry",
               "platform streaming retry policy: 403, 408, 409, 429, 500, 502, 503, 504 and "
               "connection errors are retried, with growing waits (15 s, then 30 s)");
    size_t retryable = 0, grew = 0;
    char buf[32];
    for (size_t i = 0; i < g->t->n; i++) {
        const conform_request *rq = &g->t->r[i];
        if (rq->expected < 0 || !conform_retryable(rq))
            continue;
        retryable++;
        if (g->next[i] == SIZE_MAX)
            rule_fail(&a, rq, NULL, "answered with %s, never retried",
                      answer_name(rq, buf, sizeof buf));
        check_backoff(&a, g, i, &grew);
    }
    return rule_end(&a,
                    "%zu retryable answers, each retried; %zu chains of two failures in a row, "
                    "each with a longer second wait",
                    retryable, grew);
}

int rules_retry_after(const grade_ctx *g, qxm_rule_result *res)
{
    rule_acc a;
    rule_begin(&a, g, res, "retry-after",
               "RFC 9110 §10.2.3 Retry-After; Qualtrics answers 429 over its rate limit");
    size_t given = 0;
    for (size_t i = 0; i < g->t->n; i++) {
        const conform_request *rq = &g->t->r[i];
        if (!rq->ended || rq->status != 429 || rq->retry_after_s == 0)
            continue;
        given++;
        size_t j = g->next[i];
        if (j == SIZE_MAX)
            continue;
        int64_t w = wait_ms(rq, &g->t->r[j]);
        if (w < (int64_t)rq->retry_after_s * 1000)
            rule_fail(&a, &g->t->r[j], NULL,
                      "retried %lld ms after a 429 with Retry-After: %u (request %s)", (long long)w,
                      rq->retry_after_s, rq->request_id);
    }
    return rule_end(&a, "%zu answers with Retry-After, none retried early", given);
}

int rules_no_retry_4xx(const grade_ctx *g, qxm_rule_result *res)
{
    rule_acc a;
    rule_begin(&a, g, res, "no-retry-on-4xx",
               "platform streaming retry policy: only 403, 408, 409, 429, 500, 502, 503 and 504 "
               "are retried; 400, 401, 404, 413 and 415 fail at once");
    size_t errors = 0;
    for (size_t i = 0; i < g->t->n; i++) {
        const conform_request *rq = &g->t->r[i];
        int s = rq->ended ? rq->status : 0;
        if (s != 400 && s != 401 && s != 404 && s != 413 && s != 415)
            continue;
        errors++;
        if (rq->expected >= 0 && g->next[i] != SIZE_MAX)
            rule_fail(&a, &g->t->r[g->next[i]], NULL, "sent again after request %s was answered %d",
                      rq->request_id, s);
    }
    return rule_end(&a, "%zu client errors, none retried", errors);
}

int rules_no_duplicates(const grade_ctx *g, qxm_rule_result *res)
{
    rule_acc a;
    rule_begin(&a, g, res, "no-duplicates",
               "Qualtrics: each JSON event starts a workflow run; a payload answered 200 "
               "resent starts a second one");
    int *seen = calloc(g->e->n + 1, sizeof *seen);
    if (seen == NULL)
        return -1;
    size_t answered = 0;
    for (size_t i = 0; i < g->t->n; i++) {
        const conform_request *rq = &g->t->r[i];
        if (rq->expected < 0)
            continue;
        const expected_payload *p = &g->e->p[rq->expected];
        if (seen[rq->expected] >= p->multiplicity)
            rule_fail(&a, rq, NULL, "sent again after it was answered 200");
        if (rq->ended && rq->status == 200 && !rq->drop_after) {
            seen[rq->expected]++;
            answered++;
        }
    }
    free(seen);
    return rule_end(&a, "%zu answers 200, no payload sent again after one", answered);
}

int rules_order(const grade_ctx *g, qxm_rule_result *res)
{
    rule_acc a;
    rule_begin(&a, g, res, "order",
               "platform: a profile's updates are exported in the order they happen");
    size_t *taken = malloc((g->e->n + 1) * sizeof *taken);
    json_t *last = json_object();
    if (taken == NULL || last == NULL) {
        free(taken);
        json_decref(last);
        return -1;
    }
    for (size_t i = 0; i < g->e->n; i++)
        taken[i] = SIZE_MAX;
    for (size_t i = 0; i < g->t->n; i++) {
        long p = g->t->r[i].expected;
        if (p >= 0 && taken[p] == SIZE_MAX && conform_accepted(&g->t->r[i]))
            taken[p] = i;
    }
    size_t pairs = 0;
    for (size_t i = 0; i < g->e->n; i++) {
        const expected_payload *p = &g->e->p[i];
        if (p->identity == NULL || p->multiplicity > 1 || taken[i] == SIZE_MAX)
            continue;
        json_t *prev = json_object_get(last, p->identity);
        if (prev != NULL) {
            size_t q = (size_t)json_integer_value(prev);
            pairs++;
            if (taken[i] < taken[q])
                rule_fail(&a, &g->t->r[taken[i]], p,
                          "profile line %ld was taken before line %ld (request %s) of the same "
                          "identity",
                          p->line, g->e->p[q].line, g->t->r[taken[q]].request_id);
        }
        json_object_set_new(last, p->identity, json_integer((json_int_t)i));
    }
    free(taken);
    json_decref(last);
    return rule_end(&a, "%zu successive updates of one identity, each taken in input order", pairs);
}
