/*
 * runs.c — putting runs into the store: the stored text and payload hash
 * (prepared on the caller's thread), the duplicate lookup, the per-batch
 * tally of run_counts, group inserts, finishing due runs, and importing
 * exported runs.
 */
#include "store_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_clock.h"
#include "qx_json_write.h"
#include "qx_log.h"

/* 64-bit FNV-1a (Fowler–Noll–Vo) parameters. */
#define FNV_OFFSET_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z. */
#define STORE_TIME_MIN_MS (-62135596800000LL)
#define STORE_TIME_MAX_MS 253402300799999LL

/* A run row as it is inserted. */
struct run_row {
    const char *id, *workflow_id, *status, *final_status;
    int64_t received_ms, due_ms;
    int64_t finished_ms; /* meaningful when is_finished */
    bool is_finished;
    json_t *doc;           /* borrowed; "status" and "finishedAt" are dropped; or NULL */
    const char *text;      /* doc as stored, when serialised beforehand; else NULL */
    uint64_t payload_hash; /* with text: the payload's hash (has_payload) */
    bool has_payload;
    size_t n_identities; /* without doc: the identity values after text's NUL */
    bool mark_duplicate; /* look for an earlier run of the same payload */
    int64_t duplicate_since_ms;
    int64_t entered_ms; /* when it entered this store: retention counts from it */
};

/* Runs inserted in one transaction, counted per (workflow, status) and added
 * to run_counts once per pair rather than once per run. The strings are
 * borrowed from the rows (their documents, or the caller's strings), which
 * outlive the transaction. */
#define TALLY_MAX 8
struct tally {
    size_t n;
    struct {
        const char *workflow_id, *status;
        int64_t n;
    } e[TALLY_MAX];
};

static void fnv1a64_add(uint64_t *h, const void *data, size_t n)
{
    for (const unsigned char *p = data; n-- > 0; p++) {
        *h ^= *p;
        *h *= FNV_PRIME;
    }
}

/* splitmix64's finaliser: spreads an object member's hash before the
 * members are summed. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Adds v to h so that values equal as JSON hash alike, whatever their key
 * order or whitespace: every value tagged with its type, strings and keys
 * with their length, arrays in order, and an object as its size and the
 * sum of its members' hashes (each member — key and value — hashed on its
 * own and mixed), which no order changes. Neither sorting nor allocating:
 * this runs for every stored run. */
static void hash_json(const json_t *v, uint64_t *h)
{
    unsigned char tag = (unsigned char)json_typeof(v);
    fnv1a64_add(h, &tag, 1);
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        uint64_t n = json_object_size(v), sum = 0;
        const char *key;
        size_t key_len;
        json_t *member;
        json_object_keylen_foreach((json_t *)v, key, key_len, member)
        {
            uint64_t m = FNV_OFFSET_BASIS, len = key_len;
            fnv1a64_add(&m, &len, sizeof len);
            fnv1a64_add(&m, key, key_len);
            hash_json(member, &m);
            sum += mix64(m);
        }
        fnv1a64_add(h, &n, sizeof n);
        fnv1a64_add(h, &sum, sizeof sum);
        return;
    }
    case JSON_ARRAY: {
        uint64_t n = json_array_size(v);
        fnv1a64_add(h, &n, sizeof n);
        for (size_t i = 0; i < n; i++)
            hash_json(json_array_get(v, i), h);
        return;
    }
    case JSON_STRING: {
        uint64_t len = json_string_length(v);
        fnv1a64_add(h, &len, sizeof len);
        fnv1a64_add(h, json_string_value(v), len);
        return;
    }
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        fnv1a64_add(h, &i, sizeof i);
        return;
    }
    case JSON_REAL: {
        double d = json_real_value(v);
        fnv1a64_add(h, &d, sizeof d);
        return;
    }
    default: /* true, false, null: the tag says it all */
        return;
    }
}

/* Two payloads are the same when their 64-bit hashes are: a collision
 * among a store's runs is ~n^2/2^65 likely (1e-7 for a million runs of one
 * workflow), a price worth not keeping and comparing a second copy of
 * every payload. */
uint64_t qxm_payload_hash(const json_t *payload)
{
    uint64_t hash = FNV_OFFSET_BASIS;
    hash_json(payload, &hash);
    return hash;
}

/* The stored text of a run document: compact, without "status" and
 * "finishedAt" (columns, put back on every read). New malloc'd text or NULL. */
static char *stored_text(const json_t *doc)
{
    static const char *const columns[] = {"status", "finishedAt", NULL};
    return qx_json_compact(doc, columns);
}

int qxm_run_insert_prepare(qxm_run_insert *in, qx_error *err)
{
    json_t *p = json_object_get(in->doc, "payload");
    in->has_payload_hash = p != NULL;
    in->payload_hash = p != NULL ? qxm_payload_hash(p) : 0;
    if ((in->text = stored_text(in->doc)) == NULL) {
        qx_error_set(err, "out of memory serialising a run");
        return -1;
    }
    return 0;
}

/* The most recent run of workflow_id received at or after since_ms with this
 * payload hash; its id is copied into out (empty when there is none). The
 * caller holds the lock; inside a transaction this sees the rows inserted so
 * far, so identical requests of one batch find each other. */
static int find_duplicate(qxm_store *s, const char *workflow_id, uint64_t hash, int64_t since_ms,
                          char *out, size_t out_size, qx_error *err)
{
    sqlite3_stmt *stmt = s->w.st[ST_FIND_DUPLICATE];
    out[0] = '\0';
    store_bind_text(stmt, 1, workflow_id);
    sqlite3_bind_int64(stmt, 2, (int64_t)hash);
    sqlite3_bind_int64(stmt, 3, since_ms);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(stmt, 0);
        snprintf(out, out_size, "%s", id != NULL ? id : "");
    } else if (rc != SQLITE_DONE) {
        store_db_error(s, err, QXM_STATEMENTS[ST_FIND_DUPLICATE].name);
    }
    store_done(stmt);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static void tally_add(struct tally *t, const char *workflow_id, const char *status)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->e[i].status, status) == 0 && strcmp(t->e[i].workflow_id, workflow_id) == 0) {
            t->e[i].n++;
            return;
        }
    assert(t->n < TALLY_MAX); /* flushed by insert_row when full */
    t->e[t->n].workflow_id = workflow_id;
    t->e[t->n].status = status;
    t->e[t->n].n = 1;
    t->n++;
}

/* Adds the tally to run_counts and empties it; the caller holds the lock
 * and the transaction. Returns 0 or -1 with err set. */
static int tally_flush(qxm_store *s, struct tally *t, qx_error *err)
{
    sqlite3_stmt *stmt = s->w.st[ST_COUNT_ADD];
    for (size_t i = 0; i < t->n; i++) {
        store_bind_text(stmt, 1, t->e[i].workflow_id);
        store_bind_text(stmt, 2, t->e[i].status);
        sqlite3_bind_int64(stmt, 3, t->e[i].n);
        if (store_exec_stmt(s, ST_COUNT_ADD, err) != 0)
            return -1;
    }
    t->n = 0;
    return 0;
}

int qxm_run_identities(const json_t *payload, const json_t *event_data,
                       int (*fn)(void *ud, const char *value, size_t len), void *ud)
{
    static const char *const event_keys[] = {"email", "extRef", "externalId"};
    int rc = 0;
    json_t *map = json_object_get(payload, "identityMap");
    size_t n = json_is_object(map) ? json_object_size(map) : json_array_size(map);
    void *it = json_is_object(map) ? json_object_iter(map) : NULL;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *ns = json_is_object(map) ? json_object_iter_value(it) : json_array_get(map, i);
        it = json_is_object(map) ? json_object_iter_next(map, it) : NULL;
        for (size_t k = 0; json_is_array(ns) && k < json_array_size(ns) && rc == 0; k++) {
            json_t *v = json_object_get(json_array_get(ns, k), "id");
            if (json_is_string(v) && json_string_length(v) > 0)
                rc = fn(ud, json_string_value(v), json_string_length(v));
        }
    }
    for (size_t k = 0; k < sizeof event_keys / sizeof event_keys[0] && rc == 0; k++) {
        json_t *v = json_object_get(event_data, event_keys[k]);
        if (json_is_string(v) && json_string_length(v) > 0)
            rc = fn(ud, json_string_value(v), json_string_length(v));
    }
    return rc;
}

/* Where add_identity records a run's identity values. */
struct identity_sink {
    qxm_store *s;
    int64_t seq;
    qx_error *err;
};

/* Records one identity value of a run; the caller holds the writer and the
 * transaction. A qxm_run_identities callback: returns 0, or -1 with err
 * set. */
static int add_identity(void *ud, const char *value, size_t len)
{
    struct identity_sink *k = ud;
    sqlite3_stmt *stmt = k->s->w.st[ST_ADD_IDENTITY];
    sqlite3_bind_int64(stmt, 1, k->seq);
    sqlite3_bind_text(stmt, 2, value, (int)len, SQLITE_STATIC);
    return store_exec_stmt(k->s, ST_ADD_IDENTITY, k->err);
}

/* Records the identity values of run seq — from its document when it has
 * one, else the ones written after its text (qxm_run_insert) — as
 * IDENTITIES_OF (sql.c) reads them from the stored text for an import or
 * an upgrade; reading the text again in SQL doubled the cost of storing a
 * run. The caller holds the writer and the transaction. Returns 0 or -1
 * with err set. */
static int add_identities(qxm_store *s, int64_t seq, const struct run_row *r, qx_error *err)
{
    struct identity_sink k = {.s = s, .seq = seq, .err = err};
    if (r->doc != NULL)
        return qxm_run_identities(json_object_get(r->doc, "payload"),
                                  json_object_get(r->doc, "eventData"), add_identity, &k);
    const char *v = r->text + strlen(r->text) + 1;
    for (size_t i = 0; i < r->n_identities; i++) {
        size_t len = strlen(v);
        if (add_identity(&k, v, len) != 0)
            return -1;
        v += len + 1;
    }
    return 0;
}

/* Inserts one row and counts it in t; the caller holds the lock and the
 * transaction, and flushes t before committing. Returns 0 or -1 with err
 * set. */
static int insert_row(qxm_store *s, const struct run_row *r, struct tally *t, qx_error *err)
{
    int rc = -1;
    sqlite3_stmt *stmt = s->w.st[ST_INSERT_RUN];
    char *own_text = NULL;
    const char *text = r->text;
    uint64_t hash = r->payload_hash;
    bool hashed = r->has_payload;
    char duplicate[128] = "";
    if (t->n == TALLY_MAX && tally_flush(s, t, err) != 0)
        return -1;
    if (text == NULL) {
        json_t *p = json_object_get(r->doc, "payload");
        hashed = p != NULL;
        hash = p != NULL ? qxm_payload_hash(p) : 0;
        if ((text = own_text = stored_text(r->doc)) == NULL) {
            qx_error_set(err, "out of memory storing run \"%s\"", r->id);
            return -1;
        }
    }
    if (hashed && r->mark_duplicate &&
        find_duplicate(s, r->workflow_id, hash, r->duplicate_since_ms, duplicate, sizeof duplicate,
                       err) != 0)
        goto out;

    store_bind_text(stmt, 1, r->id);
    store_bind_text(stmt, 2, r->workflow_id);
    store_bind_text(stmt, 3, r->status);
    store_bind_text(stmt, 4, r->final_status);
    sqlite3_bind_int64(stmt, 5, r->received_ms);
    sqlite3_bind_int64(stmt, 6, r->due_ms);
    if (r->is_finished)
        sqlite3_bind_int64(stmt, 7, r->finished_ms);
    if (hashed)
        sqlite3_bind_int64(stmt, 8, (int64_t)hash);
    store_bind_text(stmt, 9, text);
    store_bind_text(stmt, 10, duplicate[0] != '\0' ? duplicate : NULL);
    sqlite3_bind_int64(stmt, 11, r->entered_ms);
    int step = sqlite3_step(stmt);
    if (step == SQLITE_DONE) {
        tally_add(t, r->workflow_id, r->status);
        rc = 0;
    } else if (step == SQLITE_CONSTRAINT_UNIQUE) {
        qx_error_set(err, "run \"%s\" already exists", r->id);
    } else {
        store_db_error(s, err, QXM_STATEMENTS[ST_INSERT_RUN].name);
    }
    store_done(stmt);
    if (rc == 0)
        rc = add_identities(s, sqlite3_last_insert_rowid(s->w.db), r, err);
out:
    free(own_text);
    return rc;
}

static bool is_final_status(const char *st)
{
    return st != NULL && (strcmp(st, "SUCCESS") == 0 || strcmp(st, "FAILURE") == 0);
}

/* Fills r from a run to insert. Returns 0 or -1 with err set. */
static int row_from_insert(const qxm_run_insert *in, size_t index, int64_t entered_ms,
                           struct run_row *r, qx_error *err)
{
    memset(r, 0, sizeof *r);
    r->entered_ms = entered_ms;
    if (in->doc == NULL) {
        if (in->text == NULL) {
            qx_error_set(err, "runs[%zu]: neither a document nor its text", index);
            return -1;
        }
        r->id = in->id;
        r->workflow_id = in->workflow_id;
        r->final_status = in->final_status;
        r->n_identities = in->n_identities;
    } else if (!json_is_object(in->doc)) {
        qx_error_set(err, "runs[%zu]: the document is not a JSON object", index);
        return -1;
    } else {
        r->doc = in->doc;
        r->id = json_string_value(json_object_get(in->doc, "id"));
        r->workflow_id = json_string_value(json_object_get(in->doc, "workflowId"));
        r->final_status = json_string_value(json_object_get(in->doc, "status"));
    }
    if (r->id == NULL || r->id[0] == '\0') {
        qx_error_set(err, "runs[%zu]: \"id\" is missing or not a string", index);
        return -1;
    }
    if (r->workflow_id == NULL) {
        qx_error_set(err, "run \"%s\": \"workflowId\" is missing or not a string", r->id);
        return -1;
    }
    if (!is_final_status(r->final_status)) {
        qx_error_set(err, "run \"%s\": \"status\" must be the final status, SUCCESS or FAILURE",
                     r->id);
        return -1;
    }
    r->received_ms = in->received_ms;
    r->due_ms = in->due_ms;
    r->is_finished = in->due_ms <= in->received_ms;
    /* A run cannot finish before it was received. */
    r->finished_ms = in->received_ms;
    r->status = r->is_finished ? r->final_status : "RUNNING";
    r->text = in->text;
    r->payload_hash = in->payload_hash;
    r->has_payload = in->text != NULL && in->has_payload_hash;
    r->mark_duplicate = in->mark_duplicate;
    r->duplicate_since_ms = in->duplicate_since_ms;
    return 0;
}

int qxm_store_insert_runs(qxm_store *s, const qxm_run_insert *runs, size_t n, qx_error *err)
{
    int rc = -1;
    if (n == 0)
        return 0;
    pthread_mutex_lock(&s->w.lock);
    /* The batch enters the store together; taken under the lock, entry
     * times grow with seq (see EVICT_RUNS in sql.c). */
    int64_t entered_ms = qx_now_ms();
    if (store_exec_stmt(s, ST_BEGIN, err) != 0)
        goto out;
    struct tally t = {0};
    for (size_t i = 0; i < n; i++) {
        struct run_row r;
        if (row_from_insert(&runs[i], i, entered_ms, &r, err) != 0 ||
            insert_row(s, &r, &t, err) != 0) {
            store_rollback(s);
            goto out;
        }
    }
    if (tally_flush(s, &t, err) != 0 || store_exec_stmt(s, ST_COMMIT, err) != 0) {
        store_rollback(s);
        goto out;
    }
    rc = 0;
out:
    pthread_mutex_unlock(&s->w.lock);
    return rc;
}

int64_t qxm_store_finish_due(qxm_store *s, int64_t now_ms, qx_error *err)
{
    int64_t n = -1;
    pthread_mutex_lock(&s->w.lock);
    sqlite3_bind_int64(s->w.st[ST_FINISH_DUE], 1, now_ms);
    if (store_exec_stmt(s, ST_FINISH_DUE, err) == 0)
        n = sqlite3_changes64(s->w.db);
    pthread_mutex_unlock(&s->w.lock);
    return n;
}

int64_t qxm_store_next_due(qxm_store *s)
{
    int64_t due = INT64_MAX;
    pthread_mutex_lock(&s->w.lock);
    sqlite3_stmt *stmt = s->w.st[ST_NEXT_DUE];
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL)
        due = sqlite3_column_int64(stmt, 0);
    else if (rc != SQLITE_ROW)
        qx_log(QX_LOG_ERROR, "%s: next due run: %s", s->name, sqlite3_errmsg(s->w.db));
    store_done(stmt);
    pthread_mutex_unlock(&s->w.lock);
    return due;
}

/* The document of the current row of a RUN_COLUMNS statement, with its
 * visible status, and finishedAt after receivedAt (null while RUNNING), in
 * the order the admin API documents. New reference, or NULL with err set. */
char *qxm_store_find_duplicate(qxm_store *s, const char *workflow_id, const char *payload_text,
                               int64_t since_ms)
{
    if (workflow_id == NULL || payload_text == NULL)
        return NULL;
    /* Compared as JSON: the text is parsed and hashed (qxm_payload_hash),
     * so whitespace and key order never count. */
    json_t *payload = json_loads(payload_text, JSON_DECODE_ANY, NULL);
    if (payload == NULL)
        return NULL;
    uint64_t hash = qxm_payload_hash(payload);
    json_decref(payload);
    char found[128];
    qx_error err;
    pthread_mutex_lock(&s->w.lock);
    int rc = find_duplicate(s, workflow_id, hash, since_ms, found, sizeof found, &err);
    pthread_mutex_unlock(&s->w.lock);
    if (rc != 0)
        qx_log(QX_LOG_ERROR, "%s", err.text);
    return rc == 0 && found[0] != '\0' ? strdup(found) : NULL;
}

static const char *inferred_final_status(json_t *doc)
{
    json_t *error = json_object_get(doc, "error");
    if (error != NULL && !json_is_null(error))
        return "FAILURE";
    size_t i;
    json_t *task;
    json_array_foreach(json_object_get(doc, "tasks"), i, task)
    {
        const char *st = json_string_value(json_object_get(task, "status"));
        if (st != NULL && strcmp(st, "FAILURE") == 0)
            return "FAILURE";
    }
    return "SUCCESS";
}

/* Reads the time in doc[key] into *ms. Returns 0 or -1 with err set. */
static int doc_time(json_t *doc, const char *id, const char *key, int64_t *ms, qx_error *err)
{
    const char *text = json_string_value(json_object_get(doc, key));
    if (text == NULL) {
        qx_error_set(err, "run \"%s\": \"%s\" is missing or not a string", id, key);
        return -1;
    }
    /* Within RFC 3339's years 0001 to 9999, so that the history's
     * arithmetic on times (the histogram's buckets) cannot overflow. */
    if (qx_parse_time(text, ms) != 0 || *ms < STORE_TIME_MIN_MS || *ms > STORE_TIME_MAX_MS) {
        qx_error_set(err, "run \"%s\": %s \"%s\" is not an RFC 3339 time", id, key, text);
        return -1;
    }
    return 0;
}

/* Fills r from an exported run document (borrowed) as qxm_store_import_run
 * describes it; a RUNNING run becomes due now. Returns 0 or -1 with err set. */
static int row_from_export(json_t *doc, struct run_row *r, qx_error *err)
{
    *r = (struct run_row){.doc = doc};
    if (!json_is_object(doc)) {
        qx_error_set(err, "a run is not a JSON object");
        return -1;
    }
    r->id = json_string_value(json_object_get(doc, "id"));
    if (r->id == NULL || r->id[0] == '\0') {
        qx_error_set(err, "a run without an \"id\" string");
        return -1;
    }
    r->workflow_id = json_string_value(json_object_get(doc, "workflowId"));
    if (r->workflow_id == NULL || r->workflow_id[0] == '\0') {
        qx_error_set(err, "run \"%s\": \"workflowId\" is missing or not a string", r->id);
        return -1;
    }
    const char *status = json_string_value(json_object_get(doc, "status"));
    if (status == NULL || (!is_final_status(status) && strcmp(status, "RUNNING") != 0)) {
        qx_error_set(err, "run \"%s\": \"status\" must be SUCCESS, FAILURE or RUNNING", r->id);
        return -1;
    }
    if (doc_time(doc, r->id, "receivedAt", &r->received_ms, err) != 0)
        return -1;
    if (is_final_status(status)) {
        if (doc_time(doc, r->id, "finishedAt", &r->finished_ms, err) != 0)
            return -1;
        r->status = r->final_status = status;
        r->due_ms = r->finished_ms;
        r->is_finished = true;
    } else {
        /* Its delay is lost with the process that exported it: due now. */
        r->final_status = inferred_final_status(doc);
        r->due_ms = qx_now_ms();
        r->is_finished = r->due_ms <= r->received_ms;
        r->finished_ms = r->received_ms;
        r->status = r->is_finished ? r->final_status : "RUNNING";
    }
    return 0;
}

int qxm_store_import_run(qxm_store *s, json_t *doc, qx_error *err)
{
    struct run_row r;
    if (row_from_export(doc, &r, err) != 0)
        return -1;
    struct tally t = {0};
    int rc = -1;
    pthread_mutex_lock(&s->w.lock);
    /* Retention counts from now, not from receivedAt: an old history
     * brought home can always be loaded and studied. */
    r.entered_ms = qx_now_ms();
    if (store_exec_stmt(s, ST_BEGIN, err) == 0) {
        if (insert_row(s, &r, &t, err) == 0 && tally_flush(s, &t, err) == 0 &&
            store_exec_stmt(s, ST_COMMIT, err) == 0)
            rc = 0;
        else
            store_rollback(s);
    }
    pthread_mutex_unlock(&s->w.lock);
    return rc;
}

/* ---- a streamed, atomic import -------------------------------------------
 *
 * The rows of an import wait in the writer connection's temporary table
 * import_staging (temp storage: SQLite's page cache, spilling to a file, so
 * memory stays bounded whatever the size of the history) under an id of
 * their own, each added in a statement of its own as its line arrives.
 * Commit moves them into runs in one transaction, after looking for an id
 * already present; abort deletes them. Readers never see a staged row. The
 * statements are prepared per import (an import is rare) because the
 * temporary table exists on the writer connection only. */

enum { IMP_ADD, IMP_CLASH, IMP_MOVE, IMP_COUNT, IMP_IDENTITIES, IMP_DELETE, IMP_N };

struct qxm_store_import {
    qxm_store *s;
    int64_t id;
    sqlite3_stmt *st[IMP_N];
};

static _Atomic int64_t next_import_id = 1;

/* With the writer lock held: finalizes imp's statements. */
static void import_finalize(qxm_store_import *imp)
{
    for (int i = 0; i < IMP_N; i++)
        sqlite3_finalize(imp->st[i]);
}

qxm_store_import *qxm_store_import_begin(qxm_store *s, qx_error *err)
{
    qxm_store_import *imp = calloc(1, sizeof *imp);
    if (imp == NULL) {
        qx_error_set(err, "out of memory");
        return NULL;
    }
    imp->s = s;
    imp->id = next_import_id++;
    static const char *const sql[IMP_N] = {QXM_IMPORT_ADD_SQL,        QXM_IMPORT_CLASH_SQL,
                                           QXM_IMPORT_MOVE_SQL,       QXM_IMPORT_COUNT_SQL,
                                           QXM_IMPORT_IDENTITIES_SQL, QXM_IMPORT_DELETE_SQL};
    int rc = SQLITE_OK;
    pthread_mutex_lock(&s->w.lock);
    rc = sqlite3_exec(s->w.db, QXM_IMPORT_SCHEMA_SQL, NULL, NULL, NULL);
    for (int i = 0; i < IMP_N && rc == SQLITE_OK; i++)
        rc = sqlite3_prepare_v3(s->w.db, sql[i], -1, 0, &imp->st[i], NULL);
    if (rc != SQLITE_OK) {
        store_db_error(s, err, "preparing an import");
        import_finalize(imp);
        free(imp);
        imp = NULL;
    }
    pthread_mutex_unlock(&s->w.lock);
    return imp;
}

int qxm_store_import_add(qxm_store_import *imp, json_t *doc, int64_t line, qx_error *err)
{
    struct run_row r;
    uint64_t hash = 0;
    if (row_from_export(doc, &r, err) != 0)
        return -1;
    json_t *p = json_object_get(doc, "payload");
    char *text = stored_text(doc);
    if (p != NULL)
        hash = qxm_payload_hash(p);
    if (text == NULL) {
        free(text);
        qx_error_set(err, "out of memory storing run \"%s\"", r.id);
        return -1;
    }
    qxm_store *s = imp->s;
    sqlite3_stmt *stmt = imp->st[IMP_ADD];
    pthread_mutex_lock(&s->w.lock);
    sqlite3_bind_int64(stmt, 1, imp->id);
    sqlite3_bind_int64(stmt, 2, line);
    store_bind_text(stmt, 3, r.id);
    store_bind_text(stmt, 4, r.workflow_id);
    store_bind_text(stmt, 5, r.status);
    store_bind_text(stmt, 6, r.final_status);
    sqlite3_bind_int64(stmt, 7, r.received_ms);
    sqlite3_bind_int64(stmt, 8, r.due_ms);
    if (r.is_finished)
        sqlite3_bind_int64(stmt, 9, r.finished_ms);
    if (p != NULL)
        sqlite3_bind_int64(stmt, 10, (int64_t)hash);
    store_bind_text(stmt, 11, text);
    int step = sqlite3_step(stmt);
    int rc = 0;
    if (step == SQLITE_CONSTRAINT_UNIQUE) {
        qx_error_set(err, "run \"%s\" appears twice in the history", r.id);
        rc = -1;
    } else if (step != SQLITE_DONE) {
        store_db_error(s, err, "staging an imported run");
        rc = -1;
    }
    store_done(stmt);
    pthread_mutex_unlock(&s->w.lock);
    free(text);
    return rc;
}

/* With the lock and the transaction held: err names the first staged run
 * whose id the history already has ("line N: ..."). Returns 1 when there
 * is one, 0 when none, -1 on error. */
static int import_clash(qxm_store_import *imp, qx_error *err)
{
    sqlite3_stmt *stmt = imp->st[IMP_CLASH];
    sqlite3_bind_int64(stmt, 1, imp->id);
    int step = sqlite3_step(stmt);
    if (step == SQLITE_ROW)
        qx_error_set(err, "line %lld: run \"%s\" already exists",
                     (long long)sqlite3_column_int64(stmt, 0),
                     (const char *)sqlite3_column_text(stmt, 1));
    else if (step != SQLITE_DONE)
        store_db_error(imp->s, err, "checking imported ids");
    store_done(stmt);
    return step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : -1;
}

/* With the lock held: runs statement i of imp bound to its id (and ?2 to
 * entered_ms for the move; the identities' ?1 is the last seq before the
 * move, passed as entered_ms). Returns 0 or -1 with err set. */
static int import_step(qxm_store_import *imp, int i, int64_t entered_ms, qx_error *err)
{
    sqlite3_stmt *stmt = imp->st[i];
    sqlite3_bind_int64(stmt, 1, i == IMP_IDENTITIES ? entered_ms : imp->id);
    if (i == IMP_MOVE)
        sqlite3_bind_int64(stmt, 2, entered_ms);
    int step = sqlite3_step(stmt);
    if (step != SQLITE_DONE)
        store_db_error(imp->s, err, "moving imported runs");
    store_done(stmt);
    return step == SQLITE_DONE ? 0 : -1;
}

/* With the writer held: the largest run seq, 0 when there is none, -1 on
 * error. */
static int64_t last_run_seq(qxm_store *s)
{
    sqlite3_stmt *stmt = s->w.st[ST_LAST_RUN_SEQ];
    int64_t seq = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    store_done(stmt);
    return seq;
}

int64_t qxm_store_last_run_seq(qxm_store *s)
{
    pthread_mutex_lock(&s->w.lock);
    int64_t seq = last_run_seq(s);
    pthread_mutex_unlock(&s->w.lock);
    return seq;
}

int64_t qxm_store_import_commit(qxm_store_import *imp, qx_error *err)
{
    qxm_store *s = imp->s;
    int64_t n = -1;
    pthread_mutex_lock(&s->w.lock);
    /* Retention counts from now, not from receivedAt: an old history
     * brought home can always be loaded and studied. */
    int64_t entered_ms = qx_now_ms();
    if (store_exec_stmt(s, ST_BEGIN, err) != 0)
        goto out;
    /* Within the transaction the moved runs take the seqs past the last. */
    int64_t last_seq = last_run_seq(s);
    if (last_seq < 0 || import_clash(imp, err) != 0 ||
        import_step(imp, IMP_MOVE, entered_ms, err) != 0) {
        if (last_seq < 0)
            store_db_error(s, err, "reading the last run");
        store_rollback(s);
        goto out;
    }
    int64_t moved = sqlite3_changes64(s->w.db);
    if (import_step(imp, IMP_COUNT, 0, err) != 0 ||
        import_step(imp, IMP_IDENTITIES, last_seq, err) != 0 ||
        import_step(imp, IMP_DELETE, 0, err) != 0 || store_exec_stmt(s, ST_COMMIT, err) != 0) {
        store_rollback(s);
        goto out;
    }
    n = moved;
out:
    pthread_mutex_unlock(&s->w.lock);
    return n;
}

void qxm_store_import_free(qxm_store_import *imp)
{
    if (imp == NULL)
        return;
    qx_error err;
    pthread_mutex_lock(&imp->s->w.lock);
    /* Nothing left after a commit; what an abandoned import staged. */
    if (import_step(imp, IMP_DELETE, 0, &err) != 0)
        qx_log(QX_LOG_ERROR, "%s", err.text);
    import_finalize(imp);
    pthread_mutex_unlock(&imp->s->w.lock);
    free(imp);
}
