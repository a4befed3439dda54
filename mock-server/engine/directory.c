/*
 * directory.c — the emulator's XM Directory: contacts and email distributions.
 *
 * The directory is a private SQLite database of its own, opened with the
 * filename "": SQLite keeps such a database in its page cache until the
 * cache is full and then spills pages to a temporary file that it has
 * already unlinked. Resident memory is therefore bounded by the page cache
 * (cache_size, 2 MiB) however many contacts the workflows create; what
 * grows instead is that file, in SQLite's temporary directory
 * (SQLITE_TMPDIR, else /var/tmp, /usr/tmp or /tmp): 1,000,000 contacts,
 * each with a distribution row as there once was, took 300 MB. A reset frees its pages for reuse
 * but does not shrink it. The directory does not survive the process, so it
 * has no journal and no sync: there is no crash to recover from.
 *
 * A contact is a row holding its JSON document and, as UNIQUE columns, the
 * two keys it is found by: email_lc, the lower-cased address (the XM
 * Directory deduplicates emails case-insensitively), and ext_ref. A contact
 * given an extRef that another contact holds takes it, and the other
 * contact loses its extRef member, so every contact's email and extRef stay
 * findable. An email is never taken that way: a contact holding it would
 * have been the one found and updated. An update that changes nothing (the
 * same profile sent again) writes nothing. A distribution is only counted:
 * its record goes back to the workflow for the run, and nothing reads a
 * distribution back but the count, so storing each one (a row, a serialised
 * document and a write per run) bought nothing.
 *
 * One connection, opened without SQLite's own mutex and guarded by the
 * directory's: the engine runs workflows from several threads and the admin
 * API resets the directory. Statements are prepared once and take bound
 * parameters only. The counts are kept in memory, so reading them costs no
 * query.
 *
 * Every write is its own (autocommit) transaction. Over 1,000,000 new
 * contacts, each with a distribution (then a row too), a contact and its
 * distribution cost 7.1-8.1 µs in autocommit and 5.8-6.7 µs in transactions
 * of 1,000 writes (runs taken in turn on a shared 2-core machine; the
 * jansson tables this replaced: 10-11 µs). About 1.3 µs is not worth a
 * transaction left open:
 * an I/O error inside one lets SQLite roll back up to 1,000 earlier writes,
 * which without a journal it cannot do cleanly, and the counts would still
 * hold them. In autocommit an error costs at most the write that failed.
 *
 * An upsert reads the rows it needs, then builds and serialises every
 * document it will write, and only then writes: running out of memory
 * leaves the directory as it was. A write fails only when SQLite does (its
 * temporary file cannot grow). Taking an extRef from another contact is
 * written first, so a failure between the two writes leaves that extRef
 * with nobody rather than with two contacts.
 *
 * Ids come from the caller's seeded generator so a seeded emulator repeats
 * them, or from per-directory counters when there is none; the counters
 * survive reset so ids stay unique for the life of the process.
 */
#include "qxm_workflow.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_buf.h"
#include "qx_json_read.h"
#include "qx_json_write.h"
#include "qx_log.h"

/* Qualtrics ids are a prefix and 15 characters: CID_..., EMD_... */
#define ID_CHARS 15
#define ID_MAX 32

/* Documents are stored as compact JSON (qx_json_write: json_dumps's
 * JSON_COMPACT text, without its cost); a contact with a few fields is
 * about 100 bytes. */
#define DOC_FIRST_CAP 256

/* The contact members a task may set besides embeddedData. */
static const char *const CONTACT_FIELDS[] = {"email", "extRef",   "firstName", "lastName",
                                             "phone", "language", NULL};

/* A 2 MiB page cache (-2048 KiB) bounds the directory's memory; it holds
 * the upper levels of both indexes and the pages being appended to. Debian
 * builds SQLite with SECURE_DELETE, which zeroes every page a reset frees;
 * FAST zeroes only where that costs no extra I/O (a reset after 1,000,000
 * contacts and distributions: ~0.25 s instead of ~0.5 s). */
static const char SETUP_SQL[] = "PRAGMA cache_size = -2048;"
                                "PRAGMA journal_mode = OFF;"
                                "PRAGMA synchronous = OFF;"
                                "PRAGMA secure_delete = FAST;"
                                "CREATE TABLE contacts ("
                                "  seq INTEGER PRIMARY KEY,"
                                "  email_lc TEXT UNIQUE,"
                                "  ext_ref TEXT UNIQUE,"
                                "  doc TEXT NOT NULL);";

enum stmt_id {
    ST_BY_EMAIL,
    ST_BY_EXT_REF,
    ST_INSERT_CONTACT,
    ST_UPDATE_CONTACT,
    ST_DROP_EXT_REF,
    ST_CLEAR_CONTACTS,
    ST_N
};

static const struct {
    const char *name; /* what the statement does, for error messages */
    const char *sql;
} STATEMENTS[ST_N] = {
    [ST_BY_EMAIL] = {"finding a contact by email",
                     "SELECT seq, doc FROM contacts WHERE email_lc = ?1"},
    [ST_BY_EXT_REF] = {"finding a contact by extRef",
                       "SELECT seq, doc FROM contacts WHERE ext_ref = ?1"},
    [ST_INSERT_CONTACT] = {"adding a contact",
                           "INSERT INTO contacts (email_lc, ext_ref, doc) VALUES (?1, ?2, ?3)"},
    [ST_UPDATE_CONTACT] = {"updating a contact", "UPDATE contacts SET email_lc = ?1, ext_ref = ?2,"
                                                 " doc = ?3 WHERE seq = ?4"},
    [ST_DROP_EXT_REF] = {"taking an extRef from a contact",
                         "UPDATE contacts SET ext_ref = NULL, doc = ?1 WHERE seq = ?2"},
    [ST_CLEAR_CONTACTS] = {"removing the contacts", "DELETE FROM contacts"},
};

struct qxm_directory {
    pthread_mutex_t lock;
    sqlite3 *db;
    sqlite3_stmt *st[ST_N];
    size_t n_contacts;
    size_t n_distributions;
    uint64_t contact_seq; /* fallback ids when no rng is given */
    uint64_t distribution_seq;
};

/* A contact row read back: its rowid, its document (owned) and the text
 * it was read from (owned), to tell whether an update changes it. */
typedef struct contact_row {
    sqlite3_int64 seq;
    json_t *doc;
    char *text;
    size_t len;
} contact_row;

/* A document's JSON text (owned: qx_buf_free). */
typedef struct doc_text {
    const char *text;
    int len;
    qx_buf buf;
} doc_text;

static void db_error(qxm_directory *d, qx_error *err, enum stmt_id id)
{
    qx_error_set(err, "XM Directory: %s: %s", STATEMENTS[id].name, sqlite3_errmsg(d->db));
}

/* Makes a used statement reusable and drops its bindings (which point into
 * the caller's strings). */
static void done(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

/* Binds text, or NULL for a NULL pointer. The text must outlive the step. */
static int bind_text(sqlite3_stmt *stmt, int i, const char *text)
{
    if (text == NULL)
        return sqlite3_bind_null(stmt, i);
    return sqlite3_bind_text(stmt, i, text, -1, SQLITE_STATIC);
}

static int bind_doc(sqlite3_stmt *stmt, int i, const doc_text *doc)
{
    return sqlite3_bind_text(stmt, i, doc->text, doc->len, SQLITE_STATIC);
}

/* Steps statement id, which returns no rows, when binding its parameters
 * gave bound == SQLITE_OK. Returns 0, or -1 with err set. Called with the
 * lock held. */
static int run_write(qxm_directory *d, enum stmt_id id, int bound, qx_error *err)
{
    int rc = bound == SQLITE_OK ? sqlite3_step(d->st[id]) : bound;
    if (rc != SQLITE_DONE)
        db_error(d, err, id);
    done(d->st[id]);
    return rc == SQLITE_DONE ? 0 : -1;
}

qxm_directory *qxm_directory_new(void)
{
    qxm_directory *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    if (pthread_mutex_init(&d->lock, NULL) != 0) {
        free(d);
        return NULL;
    }
    /* The directory's mutex serialises all use, so SQLite's own can go. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    char *msg = NULL;
    if (sqlite3_open_v2("", &d->db, flags, NULL) != SQLITE_OK ||
        sqlite3_exec(d->db, SETUP_SQL, NULL, NULL, &msg) != SQLITE_OK)
        goto fail;
    for (int i = 0; i < ST_N; i++)
        if (sqlite3_prepare_v3(d->db, STATEMENTS[i].sql, -1, SQLITE_PREPARE_PERSISTENT, &d->st[i],
                               NULL) != SQLITE_OK)
            goto fail;
    return d;
fail:
    if (msg == NULL && d->db != NULL)
        qx_log(QX_LOG_ERROR, "XM Directory: cannot create its database: %s", sqlite3_errmsg(d->db));
    else
        qx_log(QX_LOG_ERROR, "XM Directory: cannot create its database: %s",
               msg != NULL ? msg : "out of memory");
    sqlite3_free(msg);
    qxm_directory_free(d);
    return NULL;
}

void qxm_directory_free(qxm_directory *d)
{
    if (d == NULL)
        return;
    for (int i = 0; i < ST_N; i++)
        sqlite3_finalize(d->st[i]);
    /* Closing the connection deletes the temporary database. */
    if (sqlite3_close(d->db) != SQLITE_OK)
        qx_log(QX_LOG_ERROR, "XM Directory: closing: %s", sqlite3_errmsg(d->db));
    pthread_mutex_destroy(&d->lock);
    free(d);
}

void qxm_directory_reset(qxm_directory *d)
{
    qx_error err;
    pthread_mutex_lock(&d->lock);
    /* Without a WHERE clause SQLite drops the pages wholesale rather than
     * deleting row by row. */
    if (run_write(d, ST_CLEAR_CONTACTS, SQLITE_OK, &err) == 0)
        d->n_contacts = 0;
    else
        qx_log(QX_LOG_ERROR, "%s", err.text);
    d->n_distributions = 0;
    pthread_mutex_unlock(&d->lock);
}

size_t qxm_directory_contacts(qxm_directory *d)
{
    pthread_mutex_lock(&d->lock);
    size_t n = d->n_contacts;
    pthread_mutex_unlock(&d->lock);
    return n;
}

size_t qxm_directory_distributions(qxm_directory *d)
{
    pthread_mutex_lock(&d->lock);
    size_t n = d->n_distributions;
    pthread_mutex_unlock(&d->lock);
    return n;
}

/* A malloc'd ASCII-lower-cased copy of s, NULL when memory runs out. */
static char *lower_dup(const char *s)
{
    char *out = strdup(s);
    for (char *p = out; p != NULL && *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return out;
}

/* Writes an id into out (ID_MAX bytes): from rng when there is one, else
 * prefix + the zero-padded counter (digits are alphanumerics too). */
static void new_id(const char *prefix, qx_rng *rng, uint64_t *seq, char *out)
{
    if (rng != NULL)
        qx_rng_id(rng, prefix, ID_CHARS, out, ID_MAX);
    else
        snprintf(out, ID_MAX, "%s%015" PRIu64, prefix, ++*seq);
}

/* A non-empty string member of o, or NULL. */
static const char *nonempty(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* Serialises doc into out; qx_buf_free(&out->buf) afterwards. Returns 0,
 * -1 when memory runs out. */
static int dump_doc(const json_t *doc, doc_text *out)
{
    out->buf = (qx_buf){0};
    if (qx_buf_reserve(&out->buf, DOC_FIRST_CAP) != 0 || qx_json_write(&out->buf, doc, NULL) != 0 ||
        out->buf.len > INT_MAX)
        return -1;
    out->text = out->buf.data;
    out->len = (int)out->buf.len;
    return 0;
}

/* Sets o[key] to v (stolen, also on failure); a NULL v fails, as json_pack
 * would. Keys are literals. Returns 0, or -1. */
static int put(json_t *o, const char *key, json_t *v)
{
    return v != NULL ? json_object_set_new_nocheck(o, key, v) : -1;
}

/* A new object of key and v (stolen, also on failure), or NULL; member by member rather
 * than json_pack, whose format would be parsed for every run. */
static json_t *object_of(const char *key, json_t *v)
{
    json_t *o = json_object();
    if (o == NULL) {
        json_decref(v);
        return NULL;
    }
    if (put(o, key, v) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Reads the contact whose key (email_lc or ext_ref, by id) is key into row.
 * Returns 1, 0 when there is none, -1 with err set when reading fails or
 * memory runs out. Called with the lock held. */
static int find_contact(qxm_directory *d, enum stmt_id id, const char *key, contact_row *row,
                        qx_error *err)
{
    sqlite3_stmt *stmt = d->st[id];
    int found = -1;
    row->doc = NULL;
    row->text = NULL;
    int rc = bind_text(stmt, 1, key);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) {
        found = 0;
    } else if (rc == SQLITE_ROW) {
        row->seq = sqlite3_column_int64(stmt, 0);
        const char *text = (const char *)sqlite3_column_text(stmt, 1);
        row->len = (size_t)sqlite3_column_bytes(stmt, 1);
        /* Documents are ours: they fail to parse only when memory runs out. */
        if (text != NULL && (row->text = malloc(row->len + 1)) != NULL) {
            memcpy(row->text, text, row->len + 1);
            row->doc = qx_json_parse(text, row->len, JSON_ALLOW_NUL, NULL);
        }
        if (row->doc != NULL) {
            found = 1;
        } else {
            free(row->text);
            row->text = NULL;
            qx_error_set(err, "out of memory");
        }
    } else {
        db_error(d, err, id);
    }
    done(stmt);
    return found;
}

json_t *qxm_directory_lookup(qxm_directory *d, const char *email, const char *ext_ref)
{
    contact_row row = {0};
    qx_error err;
    char *key = NULL;
    if (email == NULL && ext_ref == NULL)
        return NULL;
    if (email != NULL && (key = lower_dup(email)) == NULL)
        return NULL;
    pthread_mutex_lock(&d->lock);
    int found = key != NULL ? find_contact(d, ST_BY_EMAIL, key, &row, &err)
                            : find_contact(d, ST_BY_EXT_REF, ext_ref, &row, &err);
    pthread_mutex_unlock(&d->lock);
    if (found < 0)
        qx_log(QX_LOG_ERROR, "%s", err.text);
    free(row.text);
    free(key);
    return row.doc;
}

/* Sets the fields a task gave on contact (non-empty strings overwrite,
 * embeddedData merges). Returns 0, -1 when memory runs out. */
static int set_contact_fields(json_t *contact, const json_t *fields)
{
    for (const char *const *f = CONTACT_FIELDS; *f != NULL; f++) {
        const char *v = nonempty(fields, *f);
        if (v != NULL && json_object_set_new(contact, *f, json_string(v)) != 0)
            return -1;
    }
    json_t *extra = json_object_get(fields, "embeddedData");
    if (json_object_size(extra) == 0)
        return 0;
    json_t *mine = json_object_get(contact, "embeddedData");
    if (mine == NULL)
        return json_object_set_new(contact, "embeddedData", json_deep_copy(extra));
    return json_object_update(mine, extra);
}

/* Writes contact row: a new row (created) or its existing one, filed under
 * email_lc (may be NULL) and its extRef member. Returns 0, -1 with err set.
 * Called with the lock held. */
static int write_contact(qxm_directory *d, const contact_row *row, bool created,
                         const char *email_lc, const doc_text *doc, qx_error *err)
{
    enum stmt_id id = created ? ST_INSERT_CONTACT : ST_UPDATE_CONTACT;
    sqlite3_stmt *stmt = d->st[id];
    int rc = bind_text(stmt, 1, email_lc);
    if (rc == SQLITE_OK)
        rc = bind_text(stmt, 2, nonempty(row->doc, "extRef"));
    if (rc == SQLITE_OK)
        rc = bind_doc(stmt, 3, doc);
    if (rc == SQLITE_OK && !created)
        rc = sqlite3_bind_int64(stmt, 4, row->seq);
    return run_write(d, id, rc, err);
}

/* Writes holder row, which has just lost its extRef member (doc is its new
 * document). Returns 0, -1 with err set. Called with the lock held. */
static int write_without_ext_ref(qxm_directory *d, const contact_row *holder, const doc_text *doc,
                                 qx_error *err)
{
    sqlite3_stmt *stmt = d->st[ST_DROP_EXT_REF];
    int rc = bind_doc(stmt, 1, doc);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 2, holder->seq);
    return run_write(d, ST_DROP_EXT_REF, rc, err);
}

/* The body of qxm_directory_upsert_contact, called with the lock held.
 * key is the lower-cased email or NULL. NULL with err set on failure. */
static json_t *upsert_locked(qxm_directory *d, const json_t *fields, const char *key,
                             const char *ext_ref, qx_rng *rng, qx_error *err)
{
    json_t *result = NULL;
    contact_row mine = {0}, holder = {0};
    doc_text mine_text = {0}, holder_text = {0};
    const char *email;
    char *email_lc = NULL;
    bool created, ext_ref_checked = false;
    int found = 0;

    if (key != NULL)
        found = find_contact(d, ST_BY_EMAIL, key, &mine, err);
    if (found == 0 && ext_ref != NULL) {
        found = find_contact(d, ST_BY_EXT_REF, ext_ref, &mine, err);
        ext_ref_checked = true;
    }
    if (found < 0)
        goto out;
    created = found == 0;
    if (created) {
        char id[ID_MAX];
        new_id("CID_", rng, &d->contact_seq, id);
        if ((mine.doc = object_of("contactId", json_string(id))) == NULL)
            goto oom;
    }
    if (set_contact_fields(mine.doc, fields) != 0)
        goto oom;
    /* Found by email and given an extRef: another contact may hold it. */
    if (ext_ref != NULL && !ext_ref_checked) {
        int held = find_contact(d, ST_BY_EXT_REF, ext_ref, &holder, err);
        if (held < 0)
            goto out;
        if (held == 1 && holder.seq != mine.seq) {
            json_object_del(holder.doc, "extRef");
            if (dump_doc(holder.doc, &holder_text) != 0)
                goto oom;
        }
    }
    /* The contact is filed under its members: those given now, else those
     * it had. */
    email = nonempty(mine.doc, "email");
    if ((email != NULL && (email_lc = lower_dup(email)) == NULL) ||
        dump_doc(mine.doc, &mine_text) != 0)
        goto oom;
    result = object_of("contactId", json_incref(json_object_get(mine.doc, "contactId")));
    if (result == NULL || put(result, "action", json_string(created ? "created" : "updated")) != 0)
        goto oom;

    /* Nothing is written before this point. A contact whose text is what
     * it was (its columns come from the same members) is not written. */
    if (holder_text.text != NULL && write_without_ext_ref(d, &holder, &holder_text, err) != 0)
        goto fail;
    bool unchanged = !created && mine.text != NULL && (size_t)mine_text.len == mine.len &&
                     memcmp(mine_text.text, mine.text, mine.len) == 0;
    if (!unchanged && write_contact(d, &mine, created, email_lc, &mine_text, err) != 0)
        goto fail;
    if (created)
        d->n_contacts++;
    goto out;
oom:
    qx_error_set(err, "out of memory");
fail:
    json_decref(result);
    result = NULL;
out:
    json_decref(mine.doc);
    json_decref(holder.doc);
    free(mine.text);
    free(holder.text);
    qx_buf_free(&mine_text.buf);
    qx_buf_free(&holder_text.buf);
    free(email_lc);
    return result;
}

json_t *qxm_directory_upsert_contact(qxm_directory *d, const json_t *fields, qx_rng *rng,
                                     qx_error *err)
{
    const char *email = nonempty(fields, "email");
    const char *ext_ref = nonempty(fields, "extRef");
    char *key = NULL;
    if (email == NULL && ext_ref == NULL) {
        qx_error_set(err, "needs an email or an extRef");
        return NULL;
    }
    if (email != NULL && (key = lower_dup(email)) == NULL) {
        qx_error_set(err, "out of memory");
        return NULL;
    }
    pthread_mutex_lock(&d->lock);
    json_t *result = upsert_locked(d, fields, key, ext_ref, rng, err);
    pthread_mutex_unlock(&d->lock);
    free(key);
    return result;
}

json_t *qxm_directory_add_distribution(qxm_directory *d, const char *survey_id, const char *email,
                                       const char *subject, qx_rng *rng)
{
    char id[ID_MAX];
    pthread_mutex_lock(&d->lock);
    new_id("EMD_", rng, &d->distribution_seq, id);
    json_t *record = object_of("distributionId", json_string(id));
    if (record != NULL &&
        (put(record, "surveyId", json_string(survey_id)) != 0 ||
         put(record, "email", json_string(email)) != 0 ||
         (subject != NULL && put(record, "subject", json_string(subject)) != 0))) {
        json_decref(record);
        record = NULL;
    }
    if (record != NULL)
        d->n_distributions++;
    pthread_mutex_unlock(&d->lock);
    return record;
}
