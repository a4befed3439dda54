/*
 * conform_internal.h — the parts of the conformance kit (qxm_conform.h):
 * the expected payloads and the fault plan (expect.c), the tape of what the
 * emulator saw (tape.c), the rules (rules.c, rules_delivery.c), the outputs
 * (output.c) and the built-in profiles and mapping (builtin.c).
 *
 * Locks: the tape's mutex guards its records and each expected payload's
 * steps_imposed (the only field of the plan that changes during a run);
 * everything else is written before the emulator starts and read after it
 * stopped.
 */
#ifndef CONFORM_INTERNAL_H
#define CONFORM_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qx_error.h"
#include "qxm_conform.h"
#include "qxm_engine.h"

extern const char conform_builtin_mapping[];
extern const char conform_builtin_profiles[];

/* ---- expect.c: what the sender must send, and the faults it meets ------ */

/* A payload's fault program: the faults its attempts meet, in order. */
typedef enum fault_program {
    FP_NONE = 0,
    FP_400_ALWAYS, /* 400 every time: a client error, never to be retried */
    FP_503,        /* 503 once */
    FP_429_1S,     /* 429 with Retry-After: 1 once */
    FP_DROP_BEFORE,
    FP_503_500, /* two in a row: the second retry must wait longer */
    FP_500,
    FP_DROP_AFTER, /* the run is recorded, the answer lost */
    FP_429_2S,
    FP_502_503,
    FP_502,
    FP_504,
    FP_408,
    FP_COUNT
} fault_program;

/* The faults each program imposes, one per attempt that meets one. */
#define FP_MAX_STEPS 2

typedef struct expected_payload {
    char *key;      /* owned: the payload as compact JSON with sorted keys */
    char *identity; /* owned: "<namespace>:<id>" of its first identity, or NULL */
    long line;      /* the first input line rendering to it */
    int multiplicity;
    bool has_exit; /* an audience with status exited */
    fault_program program;
    int steps_imposed; /* faults of the program imposed so far (tape's lock) */
} expected_payload;

typedef struct conform_expect {
    expected_payload *p; /* owned, in input order of first appearance */
    size_t n;
    json_t *index;     /* owned object: key -> index in p */
    size_t n_excluded; /* profiles the destination does not send */
    size_t n_faulted;  /* payloads with a fault program */
    size_t planned_retries;
} conform_expect;

/* Renders the profiles text (NDJSON) with the mapping document into e.
 * Returns 0, or -1 with err naming the line (where is the file's name). */
QX_MUST_CHECK int conform_expect_build(conform_expect *e, json_t *mapping, const char *profiles,
                                       size_t len, const char *where, qx_error *err);

/* Draws the fault plan over e's payloads with seed. */
void conform_expect_plan(conform_expect *e, uint64_t seed);

/* The fault the next attempt of payload p meets (its program's step
 * p->steps_imposed); all zero when none. */
qxm_planned_fault conform_program_step(const expected_payload *p);

/* A program's name for evidence ("503 once"). Static. */
const char *conform_program_name(fault_program fp);

/* The payload index of doc (compact JSON with sorted keys), or -1. */
long conform_expect_find(const conform_expect *e, const json_t *doc);

void conform_expect_free(conform_expect *e);

/* ---- tape.c: every JSON event the emulator saw ------------------------- */

typedef enum auth_kind {
    AUTH_NONE,      /* no credentials */
    AUTH_BASIC,     /* Authorization: Basic */
    AUTH_API_TOKEN, /* X-API-TOKEN */
    AUTH_OTHER      /* another scheme, or malformed Basic */
} auth_kind;

typedef struct conform_request {
    int64_t at_ms;       /* monotonic ms since the sender started, when its body was in */
    int64_t answered_ms; /* same clock, when its outcome was decided */
    long expected;       /* payload index; -1: no expected payload */
    auth_kind auth;
    bool token_in_url; /* the API token rode in the URL */
    char problem[240]; /* what breaks the payload rule; "" when nothing */
    qxm_planned_fault planned;
    bool ended;
    int status;      /* answered; 0 when the connection was dropped first */
    bool drop_after; /* the run was recorded, the answer dropped */
    unsigned retry_after_s;
    char request_id[QXM_REQUEST_ID_LEN + 1];
} conform_request;

/* Records kept at most: a sender looping forever cannot exhaust memory. */
#define CONFORM_MAX_REQUESTS 200000

typedef struct conform_tape {
    pthread_mutex_t lock; /* guards r, n, cap, overflow and expect->p[].steps_imposed */
    conform_request *r;
    size_t n, cap;
    bool overflow; /* more than CONFORM_MAX_REQUESTS came */
    conform_expect *expect;
    const char *token; /* secret: to find it in a URL; never printed */
    int64_t t0_ms;     /* monotonic, the sender's start */
} conform_tape;

/* A tape over expect (borrowed) for the user's token (borrowed). Returns 0,
 * or -1 when its lock cannot be made. */
QX_MUST_CHECK int conform_tape_init(conform_tape *t, conform_expect *expect, const char *token);
void conform_tape_free(conform_tape *t);

/* The engine tap recording onto t. */
qxm_event_tap conform_tape_tap(conform_tape *t);

/* ---- rules.c, rules_delivery.c ------------------------------------------ */

/* What the rules read: the tape, and the order of each payload's attempts. */
typedef struct grade_ctx {
    const conform_tape *t;
    const conform_expect *e;
    size_t *next;  /* per request: the next one carrying the same payload, or SIZE_MAX */
    unsigned rate; /* the emulator's rateLimitPerMinute and rateLimitBurst */
    unsigned burst;
} grade_ctx;

/* Grades every rule into out->rules (after the emulator stopped). Returns
 * 0, or -1 when memory runs out. */
int conform_grade(const conform_tape *t, unsigned rate, unsigned burst, qxm_conform_result *out);

/* For the rules: the rule's result, with evidence added by these. */
typedef struct rule_acc {
    qxm_rule_result *res;
    const grade_ctx *g;
    size_t failures; /* evidence items found, kept or not */
    char first[512]; /* the first, for the summary */
} rule_acc;

void rule_begin(rule_acc *a, const grade_ctx *g, qxm_rule_result *res, const char *rule,
                const char *source);
/* One piece of evidence against the rule, about request rq (NULL: none)
 * or else expected payload p (NULL: none). */
void rule_fail(rule_acc *a, const conform_request *rq, const expected_payload *p, const char *fmt,
               ...) __attribute__((format(printf, 4, 5)));
/* Ends the rule: passed when there is no evidence; the summary is the pass
 * text then, else the first evidence and how many more. Returns 0, or -1
 * when memory runs out. */
int rule_end(rule_acc *a, const char *pass_fmt, ...) __attribute__((format(printf, 2, 3)));

/* True when status (0: dropped) is one the platform retries. */
bool conform_retryable(const conform_request *rq);
/* True when the request's payload was taken: answered 200, or its run
 * recorded and the answer lost. */
bool conform_accepted(const conform_request *rq);

int rules_auth(const grade_ctx *g, qxm_rule_result *res);
int rules_payload(const grade_ctx *g, qxm_rule_result *res);
int rules_rate(const grade_ctx *g, qxm_rule_result *res);
int rules_exits(const grade_ctx *g, qxm_rule_result *res);
int rules_complete(const grade_ctx *g, qxm_rule_result *res);
int rules_retry(const grade_ctx *g, qxm_rule_result *res);
int rules_retry_after(const grade_ctx *g, qxm_rule_result *res);
int rules_no_retry_4xx(const grade_ctx *g, qxm_rule_result *res);
int rules_no_duplicates(const grade_ctx *g, qxm_rule_result *res);
int rules_order(const grade_ctx *g, qxm_rule_result *res);

/* The structure problem of one request's body (its content type, its size
 * len, doc its JSON or NULL when it is none, identityMap,
 * segmentMembership) into problem, "" when none. doc is borrowed. */
void conform_check_payload(const char *content_type, json_t *doc, size_t len, char *problem,
                           size_t size);

#endif
