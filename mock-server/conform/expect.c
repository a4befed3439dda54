/*
 * expect.c — the payloads a sender must deliver (the profiles rendered with
 * the mapping by qx-send's renderer) and the seeded plan of faults over
 * them.
 *
 * Payloads are told apart by their text as compact JSON with sorted keys,
 * so a sender may order keys as it likes. The plan shuffles the payloads
 * (sorted by that text first, so the input order does not matter) with the
 * seed and gives the first ones a fault program each, in the order of
 * fault_program: a small profile set gets the most telling faults first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform_internal.h"
#include "qx_rng.h"
#include "qx_utf8.h"
#include "qxs_mapping.h"
#include "qxs_render.h"

static const struct {
    const char *name;
    qxm_planned_fault steps[FP_MAX_STEPS];
} programs[FP_COUNT] = {
    [FP_NONE] = {"none", {{0}}},
    [FP_400_ALWAYS] = {"400 every time", {{.status = 400}, {.status = 400}}},
    [FP_503] = {"503 once", {{.status = 503}}},
    [FP_429_1S] = {"429 with Retry-After: 1 once", {{.status = 429, .retry_after_s = 1}}},
    [FP_DROP_BEFORE] = {"connection dropped before the run, once", {{.drop_before = true}}},
    [FP_503_500] = {"503, then 500", {{.status = 503}, {.status = 500}}},
    [FP_500] = {"500 once", {{.status = 500}}},
    [FP_DROP_AFTER] = {"run recorded, then the connection dropped, once", {{.drop_after = true}}},
    [FP_429_2S] = {"429 with Retry-After: 2 once", {{.status = 429, .retry_after_s = 2}}},
    [FP_502_503] = {"502, then 503", {{.status = 502}, {.status = 503}}},
    [FP_502] = {"502 once", {{.status = 502}}},
    [FP_504] = {"504 once", {{.status = 504}}},
    [FP_408] = {"408 once", {{.status = 408}}},
};

const char *conform_program_name(fault_program fp)
{
    return fp >= 0 && fp < FP_COUNT ? programs[fp].name : "?";
}

qxm_planned_fault conform_program_step(const expected_payload *p)
{
    if (p->program == FP_400_ALWAYS)
        return programs[FP_400_ALWAYS].steps[0];
    if (p->steps_imposed < 0 || p->steps_imposed >= FP_MAX_STEPS)
        return (qxm_planned_fault){0};
    return programs[p->program].steps[p->steps_imposed];
}

long conform_expect_find(const conform_expect *e, const json_t *doc)
{
    char *key = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *v = key != NULL ? json_object_get(e->index, key) : NULL;
    free(key);
    return v != NULL ? (long)json_integer_value(v) : -1;
}

/* True when the payload carries an audience with status exited. */
static bool has_exit(const json_t *payload)
{
    json_t *ups = json_object_get(json_object_get(payload, "segmentMembership"), "ups");
    const char *id;
    json_t *entry;
    json_object_foreach(ups, id, entry)
    {
        const char *st = json_string_value(json_object_get(entry, "status"));
        if (st != NULL && strcmp(st, "exited") == 0)
            return true;
    }
    return false;
}

/* Adds one rendered payload (borrowed) of input line `line`. */
static int add_payload(conform_expect *e, const json_t *payload, long line, qx_error *err)
{
    char *key = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
    if (key == NULL) {
        qx_error_set(err, "out of memory");
        return -1;
    }
    json_t *at = json_object_get(e->index, key);
    if (at != NULL) {
        e->p[json_integer_value(at)].multiplicity++;
        free(key);
        return 0;
    }
    expected_payload *grown = realloc(e->p, (e->n + 1) * sizeof *grown);
    if (grown == NULL || json_object_set_new(e->index, key, json_integer((json_int_t)e->n)) != 0) {
        if (grown != NULL)
            e->p = grown;
        free(key);
        qx_error_set(err, "out of memory");
        return -1;
    }
    e->p = grown;
    e->p[e->n++] = (expected_payload){.key = key,
                                      .identity = qxs_payload_identity_key(payload),
                                      .line = line,
                                      .multiplicity = 1,
                                      .has_exit = has_exit(payload)};
    return 0;
}

/* Renders one profile line (n bytes). */
static int render_line(conform_expect *e, const qxs_mapping *m, const char *text, size_t n,
                       long line, const char *where, qx_error *err)
{
    json_error_t jerr;
    json_t *profile = json_loadb(text, n, 0, &jerr);
    if (profile == NULL) {
        qx_error_set(err, "%s:%ld: not a JSON document: %s", where, line, jerr.text);
        return -1;
    }
    qxs_render_result rr;
    qx_error rerr;
    int rc = qxs_render(m, profile, &rr, &rerr);
    json_decref(profile);
    if (rc != 0) {
        qx_error_set(err, "%s:%ld: %s", where, line, rerr.text);
        qxs_render_result_clear(&rr);
        return -1;
    }
    if (rr.payload != NULL)
        rc = add_payload(e, rr.payload, line, err);
    else
        e->n_excluded++;
    qxs_render_result_clear(&rr);
    return rc;
}

int conform_expect_build(conform_expect *e, json_t *mapping, const char *profiles, size_t len,
                         const char *where, qx_error *err)
{
    *e = (conform_expect){.index = json_object()};
    qxs_mapping *m = qxs_mapping_from_json(mapping, err);
    if (m == NULL || e->index == NULL) {
        if (e->index == NULL)
            qx_error_set(err, "out of memory");
        qxs_mapping_free(m);
        return -1;
    }
    long line = 0;
    int rc = 0;
    /* A byte order mark may start the file (qx_utf8.h). */
    for (size_t at = qx_utf8_bom_len(profiles, len); at < len && rc == 0;) {
        const char *nl = memchr(profiles + at, '\n', len - at);
        size_t n = nl != NULL ? (size_t)(nl - (profiles + at)) : len - at;
        line++;
        size_t blank = 0;
        while (blank < n && strchr(" \t\r", profiles[at + blank]) != NULL)
            blank++;
        if (blank < n)
            rc = render_line(e, m, profiles + at, n, line, where, err);
        at += n + 1;
    }
    qxs_mapping_free(m);
    if (rc == 0 && e->n == 0) {
        qx_error_set(err, "%s: no profile renders to a payload (%zu excluded): nothing to grade",
                     where, e->n_excluded);
        rc = -1;
    }
    return rc;
}

static int by_key(const void *a, const void *b)
{
    return strcmp((*(expected_payload *const *)a)->key, (*(expected_payload *const *)b)->key);
}

void conform_expect_plan(conform_expect *e, uint64_t seed)
{
    expected_payload **order = malloc(e->n * sizeof *order);
    qx_rng *rng = qx_rng_new(seed);
    if (order == NULL || rng == NULL) {
        free(order);
        qx_rng_free(rng);
        return; /* out of memory: no faults, which the summary shows */
    }
    for (size_t i = 0; i < e->n; i++)
        order[i] = &e->p[i];
    qsort(order, e->n, sizeof *order, by_key);
    for (size_t i = e->n; i > 1; i--) {
        size_t j = (size_t)qx_rng_range(rng, 0, i - 1);
        expected_payload *tmp = order[i - 1];
        order[i - 1] = order[j];
        order[j] = tmp;
    }
    /* Leave at least a third of the payloads without a fault. */
    size_t faulted = e->n - e->n / 3;
    if (faulted > FP_COUNT - 1)
        faulted = FP_COUNT - 1;
    e->n_faulted = faulted;
    e->planned_retries = 0;
    for (size_t i = 0; i < faulted; i++) {
        order[i]->program = (fault_program)(i + 1);
        if (order[i]->program != FP_400_ALWAYS)
            e->planned_retries += programs[order[i]->program].steps[1].status != 0 ? 2 : 1;
    }
    free(order);
    qx_rng_free(rng);
}

void conform_expect_free(conform_expect *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->p[i].key);
        free(e->p[i].identity);
    }
    free(e->p);
    json_decref(e->index);
    *e = (conform_expect){0};
}
