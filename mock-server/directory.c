/*
 * directory.c — the emulator's in-memory XM Directory.
 *
 * Contacts are jansson objects held in two jansson hash tables: by_email
 * (keyed by the lower-cased address, as the XM Directory deduplicates emails
 * case-insensitively) and by_ext_ref (keyed by the external reference). A
 * contact with both keys is the same object in both tables. Distributions
 * are appended to an array. All of it sits behind one mutex: the engine runs
 * workflows from several threads and the admin API resets the directory.
 *
 * The directory lives in memory and grows with distinct contacts; it is
 * emptied by reset (DELETE /_qx/v1/runs). Ids come from the caller's seeded
 * generator so a seeded emulator repeats them, or from per-directory counters
 * when there is none; the counters survive reset so ids stay unique for the
 * life of the process.
 */
#include "qxm_workflow.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Qualtrics ids are a prefix and 15 characters: CID_..., EMD_... */
#define ID_CHARS 15
#define ID_MAX 32

/* The contact members a task may set besides embeddedData. */
static const char *const CONTACT_FIELDS[] = {"email", "extRef",   "firstName", "lastName",
                                             "phone", "language", NULL};

struct qxm_directory {
    pthread_mutex_t lock;
    json_t *by_email;      /* lower-cased email -> contact */
    json_t *by_ext_ref;    /* extRef -> contact (the same object) */
    json_t *distributions; /* array of distribution records */
    size_t n_contacts;
    uint64_t contact_seq; /* fallback ids when no rng is given */
    uint64_t distribution_seq;
};

qxm_directory *qxm_directory_new(void)
{
    qxm_directory *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    d->by_email = json_object();
    d->by_ext_ref = json_object();
    d->distributions = json_array();
    if (d->by_email == NULL || d->by_ext_ref == NULL || d->distributions == NULL ||
        pthread_mutex_init(&d->lock, NULL) != 0) {
        json_decref(d->by_email);
        json_decref(d->by_ext_ref);
        json_decref(d->distributions);
        free(d);
        return NULL;
    }
    return d;
}

void qxm_directory_free(qxm_directory *d)
{
    if (d == NULL)
        return;
    json_decref(d->by_email);
    json_decref(d->by_ext_ref);
    json_decref(d->distributions);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

void qxm_directory_reset(qxm_directory *d)
{
    pthread_mutex_lock(&d->lock);
    json_object_clear(d->by_email);
    json_object_clear(d->by_ext_ref);
    json_array_clear(d->distributions);
    d->n_contacts = 0;
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
    size_t n = json_array_size(d->distributions);
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

json_t *qxm_directory_lookup(qxm_directory *d, const char *email, const char *ext_ref)
{
    json_t *copy = NULL;
    char *key = NULL;
    pthread_mutex_lock(&d->lock);
    json_t *c = NULL;
    if (email != NULL) {
        key = lower_dup(email);
        if (key != NULL)
            c = json_object_get(d->by_email, key);
    } else if (ext_ref != NULL) {
        c = json_object_get(d->by_ext_ref, ext_ref);
    }
    if (c != NULL)
        copy = json_deep_copy(c);
    pthread_mutex_unlock(&d->lock);
    free(key);
    return copy;
}

/* Points index[key] at contact. A different contact that held the key loses
 * its member (field), so every contact's email/extRef stays findable. Called
 * with the lock held. Returns 0, -1 when memory runs out. */
static int claim_key(json_t *index, const char *key, json_t *contact, const char *field)
{
    json_t *holder = json_object_get(index, key);
    if (holder == contact)
        return 0;
    if (holder != NULL)
        json_object_del(holder, field);
    return json_object_set(index, key, contact);
}

/* Removes index[key] when it points at contact. Called with the lock held. */
static void release_key(json_t *index, const char *key, const json_t *contact)
{
    if (key != NULL && json_object_get(index, key) == contact)
        json_object_del(index, key);
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

/* The body of qxm_directory_upsert_contact, called with the lock held.
 * key is the lower-cased email or NULL. NULL when memory runs out. */
static json_t *upsert_locked(qxm_directory *d, const json_t *fields, const char *key,
                             const char *ext_ref, qx_rng *rng)
{
    json_t *result = NULL, *contact = NULL;
    char *old_key = NULL, *old_ext = NULL;
    bool created = false;
    if (key != NULL)
        contact = json_object_get(d->by_email, key);
    if (contact == NULL && ext_ref != NULL)
        contact = json_object_get(d->by_ext_ref, ext_ref);
    if (contact != NULL) {
        json_incref(contact);
        /* The keys it is filed under now, to refile it if they change. */
        const char *e = nonempty(contact, "email"), *x = nonempty(contact, "extRef");
        if ((e != NULL && (old_key = lower_dup(e)) == NULL) ||
            (x != NULL && (old_ext = strdup(x)) == NULL))
            goto out;
    } else {
        char id[ID_MAX];
        new_id("CID_", rng, &d->contact_seq, id);
        if ((contact = json_pack("{s:s}", "contactId", id)) == NULL)
            goto out;
        created = true;
    }
    if (set_contact_fields(contact, fields) != 0)
        goto out;
    if (key != NULL) {
        if (old_key != NULL && strcmp(old_key, key) != 0)
            release_key(d->by_email, old_key, contact);
        if (claim_key(d->by_email, key, contact, "email") != 0)
            goto out;
    }
    if (ext_ref != NULL) {
        if (old_ext != NULL && strcmp(old_ext, ext_ref) != 0)
            release_key(d->by_ext_ref, old_ext, contact);
        if (claim_key(d->by_ext_ref, ext_ref, contact, "extRef") != 0)
            goto out;
    }
    result = json_pack("{s:O, s:s}", "contactId", json_object_get(contact, "contactId"), "action",
                       created ? "created" : "updated");
    if (result != NULL && created)
        d->n_contacts++;
out:
    /* A failed creation leaves nothing filed; a failed update may have set
     * some fields, which is harmless. */
    if (result == NULL && created) {
        release_key(d->by_email, key, contact);
        release_key(d->by_ext_ref, ext_ref, contact);
    }
    json_decref(contact);
    free(old_key);
    free(old_ext);
    return result;
}

json_t *qxm_directory_upsert_contact(qxm_directory *d, const json_t *fields, qx_rng *rng,
                                     qx_error *err)
{
    const char *email = nonempty(fields, "email");
    const char *ext_ref = nonempty(fields, "extRef");
    char *key = NULL;
    json_t *result = NULL;
    if (email == NULL && ext_ref == NULL) {
        qx_error_set(err, "needs an email or an extRef");
        return NULL;
    }
    if (email == NULL || (key = lower_dup(email)) != NULL) {
        pthread_mutex_lock(&d->lock);
        result = upsert_locked(d, fields, key, ext_ref, rng);
        pthread_mutex_unlock(&d->lock);
    }
    if (result == NULL)
        qx_error_set(err, "out of memory");
    free(key);
    return result;
}

json_t *qxm_directory_add_distribution(qxm_directory *d, const char *survey_id, const char *email,
                                       const char *subject, qx_rng *rng)
{
    char id[ID_MAX];
    json_t *result = NULL;
    pthread_mutex_lock(&d->lock);
    new_id("EMD_", rng, &d->distribution_seq, id);
    json_t *record = json_pack("{s:s, s:s, s:s, s:s*}", "distributionId", id, "surveyId", survey_id,
                               "email", email, "subject", subject);
    if (record != NULL && json_array_append(d->distributions, record) == 0)
        result = json_deep_copy(record);
    pthread_mutex_unlock(&d->lock);
    json_decref(record);
    return result;
}
