/*
 * tape.c — what the emulator saw of the sender: one record per JSON event,
 * made by the engine's tap (qxm_engine.h) in the order the engine decided
 * the events, with the fault the plan imposed on it and the answer.
 *
 * begin runs under the engine's draw lock: it reads the credentials' kind
 * (never their value), looks for the token in the URL, checks the payload's
 * structure, finds which expected payload it is and hands the engine that
 * payload's next planned fault. end, on the request's thread, records the
 * answer and counts the planned fault as imposed when it was (a request
 * refused earlier, say by the rate limit, did not meet it: the next attempt
 * does).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conform_internal.h"
#include "qx_clock.h"

int conform_tape_init(conform_tape *t, conform_expect *expect, const char *token)
{
    *t = (conform_tape){.expect = expect, .token = token, .t0_ms = qx_mono_ms()};
    return pthread_mutex_init(&t->lock, NULL) == 0 ? 0 : -1;
}

void conform_tape_free(conform_tape *t)
{
    pthread_mutex_destroy(&t->lock);
    free(t->r);
    t->r = NULL;
    t->n = t->cap = 0;
}

static bool contains(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    if (k == 0 || n < k)
        return false;
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return true;
    return false;
}

/* The request's credentials' kind, and whether the token is in its URL. */
static void read_auth(const conform_tape *t, const qxm_event *ev, conform_request *rq)
{
    if (ev->api_token != NULL)
        rq->auth = AUTH_API_TOKEN;
    else if (ev->basic_user != NULL)
        rq->auth = AUTH_BASIC;
    else if (ev->has_authorization)
        rq->auth = AUTH_OTHER;
    else
        rq->auth = AUTH_NONE;
    rq->token_in_url = ev->path != NULL && contains(ev->path, strlen(ev->path), t->token);
    for (size_t i = 0; i < ev->n_query_args && !rq->token_in_url; i++)
        rq->token_in_url =
            contains(ev->query_args[i].value, ev->query_args[i].value_len, t->token) ||
            contains(ev->query_args[i].name, ev->query_args[i].name_len, t->token);
}

static void *tape_begin(void *ctx, const qxm_event *ev, qxm_planned_fault *fault)
{
    conform_tape *t = ctx;
    conform_request rq = {.at_ms = qx_mono_ms() - t->t0_ms, .expected = -1};
    read_auth(t, ev, &rq);
    json_t *doc = ev->body != NULL ? json_loadb(ev->body, ev->body_len, 0, NULL) : NULL;
    conform_check_payload(ev->content_type, doc, ev->body_len, rq.problem, sizeof rq.problem);
    if (doc != NULL)
        rq.expected = conform_expect_find(t->expect, doc);
    json_decref(doc);

    pthread_mutex_lock(&t->lock);
    void *cookie = NULL;
    if (t->n == CONFORM_MAX_REQUESTS) {
        t->overflow = true;
    } else {
        if (t->n == t->cap) {
            size_t cap = t->cap != 0 ? t->cap * 2 : 256;
            conform_request *grown = realloc(t->r, cap * sizeof *grown);
            if (grown != NULL) {
                t->r = grown;
                t->cap = cap;
            }
        }
        if (t->n < t->cap) {
            if (rq.expected >= 0)
                rq.planned = conform_program_step(&t->expect->p[rq.expected]);
            *fault = rq.planned;
            t->r[t->n++] = rq;
            cookie = (void *)(uintptr_t)t->n; /* index + 1 */
        } else {
            t->overflow = true; /* out of memory: counted as too many */
        }
    }
    pthread_mutex_unlock(&t->lock);
    return cookie;
}

/* True when the outcome shows the planned fault p was imposed. */
static bool imposed(const qxm_planned_fault *p, const qxm_event_outcome *out)
{
    if (p->status != 0)
        return out->status == p->status && !out->run_started;
    if (p->drop_before)
        return out->drop && !out->run_started;
    if (p->drop_after)
        return out->drop && out->run_started;
    return false;
}

static void tape_end(void *ctx, void *cookie, const qxm_event_outcome *out)
{
    conform_tape *t = ctx;
    if (cookie == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    conform_request *rq = &t->r[(uintptr_t)cookie - 1];
    rq->ended = true;
    rq->answered_ms = qx_mono_ms() - t->t0_ms;
    rq->status = out->drop && !out->run_started ? 0 : out->status;
    rq->drop_after = out->drop && out->run_started;
    rq->retry_after_s = out->retry_after_s;
    memcpy(rq->request_id, out->request_id, sizeof rq->request_id);
    if (rq->expected >= 0 && imposed(&rq->planned, out))
        t->expect->p[rq->expected].steps_imposed++;
    pthread_mutex_unlock(&t->lock);
}

qxm_event_tap conform_tape_tap(conform_tape *t)
{
    return (qxm_event_tap){.begin = tape_begin, .end = tape_end, .ctx = t};
}
