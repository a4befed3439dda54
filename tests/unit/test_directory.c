/* test_directory.c — the emulated XM Directory on its own: contacts found
 * and updated by email or extRef, distributions, reset, seeded ids, and
 * contacts read back from its SQLite storage exactly as they were written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qxm_workflow.h"

#define SEED 20240601
#define ID_MAX 32
#define MANY_CONTACTS 10000
/* Longer than the 1 KiB documents that directory.c serialises on its stack. */
#define LONG_NOTE_CHARS 3000

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (j == NULL)
        fail_msg("test JSON %s: %s", text, jerr.text);
    return j;
}

/* Upserts fields given as JSON text, writes the contact id into id
 * (ID_MAX bytes) and returns whether the contact was created. The test
 * fails unless the upsert succeeds. */
static bool upsert(qxm_directory *d, const char *fields_json, qx_rng *rng, char *id)
{
    json_t *fields = parse(fields_json);
    qx_error err = {{0}};
    json_t *r = qxm_directory_upsert_contact(d, fields, rng, &err);
    json_decref(fields);
    if (r == NULL)
        fail_msg("upsert %s: %s", fields_json, err.text);
    snprintf(id, ID_MAX, "%s", str(r, "contactId"));
    const char *action = str(r, "action");
    assert_true(strcmp(action, "created") == 0 || strcmp(action, "updated") == 0);
    bool created = strcmp(action, "created") == 0;
    json_decref(r);
    return created;
}

/* Fails unless got equals the JSON text want (printf format). */
static void assert_json_eq(const json_t *got, const char *want_fmt, ...) QX_PRINTF(2, 3);

static void assert_json_eq(const json_t *got, const char *want_fmt, ...)
{
    char text[8192];
    va_list ap;
    va_start(ap, want_fmt);
    vsnprintf(text, sizeof text, want_fmt, ap);
    va_end(ap);
    json_t *want = parse(text);
    if (!json_equal(got, want)) {
        char *g = got != NULL ? json_dumps(got, JSON_SORT_KEYS) : NULL;
        fail_msg("got %s\nwant %s", g != NULL ? g : "NULL", text);
    }
    json_decref(want);
}

static void test_contact_updated_by_email_keeps_its_id(void **state)
{
    (void)state;
    qxm_directory *d = qxm_directory_new();
    assert_non_null(d);
    qx_rng *rng = qx_rng_new(SEED);
    char first[ID_MAX], again[ID_MAX];
    assert_true(upsert(d, "{\"email\": \"Ana@Example.com\", \"firstName\": \"Ana\"}", rng, first));
    assert_false(upsert(d,
                        "{\"email\": \"ana@EXAMPLE.COM\", \"lastName\": \"Diaz\","
                        " \"embeddedData\": {\"plan\": \"gold\"}}",
                        rng, again));
    assert_string_equal(first, again);
    assert_int_equal(qxm_directory_contacts(d), 1);

    json_t *c = qxm_directory_lookup(d, "ANA@example.com", NULL);
    assert_json_eq(c,
                   "{\"contactId\": \"%s\", \"email\": \"ana@EXAMPLE.COM\", \"firstName\": \"Ana\","
                   " \"lastName\": \"Diaz\", \"embeddedData\": {\"plan\": \"gold\"}}",
                   first);
    json_decref(c);
    qx_rng_free(rng);
    qxm_directory_free(d);
}

/* The same profile sent again changes nothing (and writes nothing); a
 * change after it, and the first values back again, are both kept. */
static void test_repeated_update_changes_nothing_and_a_change_is_kept(void **state)
{
    (void)state;
    qxm_directory *d = qxm_directory_new();
    assert_non_null(d);
    char id[ID_MAX], same[ID_MAX];
    const char *ana = "{\"email\": \"ana@example.com\", \"firstName\": \"Ana\","
                      " \"embeddedData\": {\"plan\": \"gold\"}}";
    assert_true(upsert(d, ana, NULL, id));
    for (int i = 0; i < 3; i++) {
        assert_false(upsert(d, ana, NULL, same));
        assert_string_equal(id, same);
    }
    json_t *c = qxm_directory_lookup(d, "ana@example.com", NULL);
    assert_json_eq(c,
                   "{\"contactId\": \"%s\", \"email\": \"ana@example.com\", \"firstName\": \"Ana\","
                   " \"embeddedData\": {\"plan\": \"gold\"}}",
                   id);
    json_decref(c);
    assert_false(upsert(d,
                        "{\"email\": \"ana@example.com\", \"firstName\": \"Anna\","
                        " \"embeddedData\": {\"plan\": \"silver\"}}",
                        NULL, same));
    c = qxm_directory_lookup(d, "ana@example.com", NULL);
    assert_json_eq(
        c,
        "{\"contactId\": \"%s\", \"email\": \"ana@example.com\", \"firstName\": \"Anna\","
        " \"embeddedData\": {\"plan\": \"silver\"}}",
        id);
    json_decref(c);
    assert_false(upsert(d, ana, NULL, same));
    c = qxm_directory_lookup(d, "ana@example.com", NULL);
    assert_json_eq(c,
                   "{\"contactId\": \"%s\", \"email\": \"ana@example.com\", \"firstName\": \"Ana\","
                   " \"embeddedData\": {\"plan\": \"gold\"}}",
                   id);
    json_decref(c);
    /* The address in other letters is the same contact, and a change. */
    assert_false(upsert(d, "{\"email\": \"ANA@example.com\"}", NULL, same));
    c = qxm_directory_lookup(d, "ana@example.com", NULL);
    assert_string_equal(json_string_value(json_object_get(c, "email")), "ANA@example.com");
    json_decref(c);
    assert_int_equal(qxm_directory_contacts(d), 1);
    qxm_directory_free(d);
}

static void test_lookup_by_ext_ref_after_an_update_by_email(void **state)
{
    (void)state;
    qxm_directory *d = qxm_directory_new();
    assert_non_null(d);
    char id[ID_MAX], same[ID_MAX];
    assert_true(upsert(d, "{\"email\": \"bo@example.com\"}", NULL, id));
    assert_null(qxm_directory_lookup(d, NULL, "EXT-7"));
    assert_false(upsert(d, "{\"email\": \"Bo@example.com\", \"extRef\": \"EXT-7\"}", NULL, same));
    assert_string_equal(id, same);

    json_t *c = qxm_directory_lookup(d, NULL, "EXT-7");
    assert_json_eq(
        c, "{\"contactId\": \"%s\", \"email\": \"Bo@example.com\", \"extRef\": \"EXT-7\"}", id);
    json_decref(c);
    /* extRef keys are exact, not case-folded as emails are. */
    assert_null(qxm_directory_lookup(d, NULL, "ext-7"));

    /* A new extRef replaces the old one as a key. */
    assert_false(upsert(d, "{\"email\": \"bo@example.com\", \"extRef\": \"EXT-8\"}", NULL, same));
    assert_null(qxm_directory_lookup(d, NULL, "EXT-7"));
    c = qxm_directory_lookup(d, NULL, "EXT-8");
    assert_non_null(c);
    assert_string_equal(str(c, "contactId"), id);
    json_decref(c);
    assert_int_equal(qxm_directory_contacts(d), 1);
    qxm_directory_free(d);
}

/* A contact found by extRef takes the email it is given: the old address no
 * longer finds it, the new one does. */
static void test_email_given_to_a_contact_found_by_ext_ref_replaces_its_old_one(void **state)
{
    (void)state;
    qxm_directory *d = qxm_directory_new();
    assert_non_null(d);
    char id[ID_MAX], same[ID_MAX];
    assert_true(upsert(d, "{\"extRef\": \"E-1\", \"email\": \"old@example.com\"}", NULL, id));
    assert_false(upsert(d, "{\"extRef\": \"E-1\", \"email\": \"new@example.com\"}", NULL, same));
    assert_string_equal(id, same);
    assert_null(qxm_directory_lookup(d, "old@example.com", NULL));
    json_t *c = qxm_directory_lookup(d, "NEW@example.com", NULL);
    assert_json_eq(
        c, "{\"contactId\": \"%s\", \"email\": \"new@example.com\", \"extRef\": \"E-1\"}", id);
    json_decref(c);
    /* The old address is free: it makes a new contact. */
    assert_true(upsert(d, "{\"email\": \"old@example.com\"}", NULL, same));
    assert_string_not_equal(id, same);
    assert_int_equal(qxm_directory_contacts(d), 2);
    qxm_directory_free(d);
}

/* The contact found by email takes an extRef another contact holds; that
 * contact loses it and stays findable by its email. */
static void test_ext_ref_moves_to_the_contact_it_is_given_to(void **state)
{
    (void)state;
    qxm_directory *d = qxm_directory_new();
    assert_non_null(d);
    char holder[ID_MAX], taker[ID_MAX], id[ID_MAX];
    assert_true(upsert(d, "{\"email\": \"h@example.com\", \"extRef\": \"X\"}", NULL, holder));
    assert_true(upsert(d, "{\"email\": \"t@example.com\"}", NULL, taker));
    assert_false(upsert(d, "{\"email\": \"t@example.com\", \"extRef\": \"X\"}", NULL, id));
    assert_string_equal(id, taker);

    json_t *c = qxm_directory_lookup(d, NULL, "X");
    assert_non_null(c);
    assert_string_equal(str(c, "contactId"), taker);
    json_decref(c);
    c = qxm_directory_lookup(d, "h@example.com", NULL);
    assert_json_eq(c, "{\"contactId\": \"%s\", \"email\": \"h@example.com\"}", holder);
    json_decref(c);
    assert_int_equal(qxm_directory_contacts(d), 2);
    qxm_directory_free(d);
}

static void test_reset_empties_the_directory_and_zeroes_the_counts(void **state)
{
    (void)state;
    qxm_directory *d = qxm_directory_new();
    assert_non_null(d);
    char id[ID_MAX];
    assert_true(upsert(d, "{\"email\": \"a@example.com\"}", NULL, id));
    assert_true(upsert(d, "{\"extRef\": \"R-1\"}", NULL, id));
    for (int i = 0; i < 3; i++) {
        json_t *r = qxm_directory_add_distribution(d, "SV_1", "a@example.com", NULL, NULL);
        assert_non_null(r);
        json_decref(r);
    }
    assert_int_equal(qxm_directory_contacts(d), 2);
    assert_int_equal(qxm_directory_distributions(d), 3);

    qxm_directory_reset(d);
    assert_int_equal(qxm_directory_contacts(d), 0);
    assert_int_equal(qxm_directory_distributions(d), 0);
    assert_null(qxm_directory_lookup(d, "a@example.com", NULL));
    assert_null(qxm_directory_lookup(d, NULL, "R-1"));

    /* The same keys make new contacts; counter ids do not start over. */
    assert_true(upsert(d, "{\"email\": \"a@example.com\"}", NULL, id));
    assert_string_equal(id, "CID_000000000000003");
    json_t *r = qxm_directory_add_distribution(d, "SV_1", "a@example.com", "Hi", NULL);
    assert_json_eq(r, "{\"distributionId\": \"EMD_000000000000004\", \"surveyId\": \"SV_1\","
                      " \"email\": \"a@example.com\", \"subject\": \"Hi\"}");
    json_decref(r);
    assert_int_equal(qxm_directory_contacts(d), 1);
    assert_int_equal(qxm_directory_distributions(d), 1);
    qxm_directory_reset(d);
    qxm_directory_reset(d);
    assert_int_equal(qxm_directory_contacts(d), 0);
    qxm_directory_free(d);
}

/* One directory's history in steps of three: a new contact, the same
 * contact again (an update), a distribution. Every id returned is written
 * into ids[n][ID_MAX]. */
static void seeded_history(uint64_t seed, char ids[][ID_MAX], size_t n)
{
    qxm_directory *d = qxm_directory_new();
    assert_non_null(d);
    qx_rng *rng = qx_rng_new(seed);
    for (size_t i = 0; i < n; i++) {
        char text[128];
        if (i % 3 == 2) {
            snprintf(text, sizeof text, "C%zu@example.com", i / 3);
            json_t *r = qxm_directory_add_distribution(d, "SV_1", text, NULL, rng);
            assert_non_null(r);
            snprintf(ids[i], ID_MAX, "%s", str(r, "distributionId"));
            json_decref(r);
        } else {
            snprintf(text, sizeof text, "{\"email\": \"c%zu@example.com\"}", i / 3);
            assert_int_equal(upsert(d, text, rng, ids[i]), i % 3 == 0);
        }
    }
    qx_rng_free(rng);
    qxm_directory_free(d);
}

/* Seeded ids repeat, and each is the next draw of the caller's generator:
 * one per new contact and per distribution, in call order, none for an
 * update. That is what keeps a seeded emulator's history identical. */
static void test_seeded_ids_repeat_and_follow_the_generator(void **state)
{
    (void)state;
    enum { N = 60 };
    char a[N][ID_MAX], b[N][ID_MAX], other[N][ID_MAX];
    seeded_history(SEED, a, N);
    seeded_history(SEED, b, N);
    seeded_history(SEED + 1, other, N);
    qx_rng *ref = qx_rng_new(SEED);
    char want[ID_MAX] = "";
    for (size_t i = 0; i < N; i++) {
        assert_string_equal(a[i], b[i]);
        assert_string_not_equal(a[i], other[i]);
        /* The update (i % 3 == 1) returns the id drawn just before. */
        if (i % 3 != 1)
            qx_rng_id(ref, i % 3 == 0 ? "CID_" : "EMD_", 15, want, sizeof want);
        assert_string_equal(a[i], want);
    }
    qx_rng_free(ref);
}

/* More contacts than the 2 MiB page cache holds, so lookups read pages the
 * cache has spilled: each is found by email (any case) and by extRef, with
 * its own document. */
static void test_ten_thousand_contacts_are_each_found(void **state)
{
    (void)state;
    qxm_directory *d = qxm_directory_new();
    assert_non_null(d);
    char(*ids)[ID_MAX] = calloc(MANY_CONTACTS, ID_MAX);
    assert_non_null(ids);
    qx_rng *rng = qx_rng_new(SEED);
    for (int i = 0; i < MANY_CONTACTS; i++) {
        char fields[512];
        snprintf(fields, sizeof fields,
                 "{\"email\": \"Person%d@Example.com\", \"extRef\": \"ref-%d\","
                 " \"firstName\": \"P%d\", \"embeddedData\": {\"n\": \"%d\", \"note\":"
                 " \"a note long enough that ten thousand contacts outgrow the page cache"
                 " of two mebibytes, so that lookups read spilled pages back\"}}",
                 i, i, i, i);
        assert_true(upsert(d, fields, rng, ids[i]));
    }
    assert_int_equal(qxm_directory_contacts(d), MANY_CONTACTS);
    for (int i = 0; i < MANY_CONTACTS; i++) {
        char email[64], ext_ref[32], first[32];
        snprintf(email, sizeof email, "PERSON%d@example.COM", i);
        snprintf(ext_ref, sizeof ext_ref, "ref-%d", i);
        snprintf(first, sizeof first, "P%d", i);
        json_t *by_email = qxm_directory_lookup(d, email, NULL);
        json_t *by_ext_ref = qxm_directory_lookup(d, NULL, ext_ref);
        assert_non_null(by_email);
        assert_string_equal(str(by_email, "contactId"), ids[i]);
        assert_string_equal(str(by_email, "firstName"), first);
        assert_true(json_equal(by_email, by_ext_ref));
        json_decref(by_email);
        json_decref(by_ext_ref);
    }
    assert_null(qxm_directory_lookup(d, "person10000@example.com", NULL));
    assert_null(qxm_directory_lookup(d, NULL, "ref-10000"));
    qx_rng_free(rng);
    free(ids);
    qxm_directory_free(d);
}

/* Whatever JSON a contact holds comes back equal: nested embedded data,
 * numbers, escapes, non-ASCII text, and a document too long for the
 * stack buffer. */
static void test_lookup_returns_the_contact_as_written(void **state)
{
    (void)state;
    qxm_directory *d = qxm_directory_new();
    assert_non_null(d);
    char *note = malloc(LONG_NOTE_CHARS + 1);
    assert_non_null(note);
    for (int i = 0; i < LONG_NOTE_CHARS; i++)
        note[i] = (char)('a' + i % 26);
    note[LONG_NOTE_CHARS] = '\0';
    json_t *embedded =
        json_pack("{s:s, s:f, s:I, s:b, s:n, s:[i,s], s:{s:s}, s:s}", "quote", "\"q\" \\ /\n\t",
                  "real", 0.1, "big", (json_int_t)1 << 53, "yes", 1, "nothing", "list", 1, "x",
                  "nested", "k", "v", "ünïcødé ✓", "日本語");
    json_t *fields = json_pack("{s:s, s:s, s:s, s:O}", "email", "Long@Example.com", "extRef", "L-1",
                               "language", "FR", "embeddedData", embedded);
    assert_non_null(fields);
    json_t *r = qxm_directory_upsert_contact(d, fields, NULL, NULL);
    assert_non_null(r);
    json_decref(r);
    json_decref(fields);
    fields = json_pack("{s:s, s:{s:s}}", "extRef", "L-1", "embeddedData", "note", note);
    r = qxm_directory_upsert_contact(d, fields, NULL, NULL);
    assert_non_null(r);
    assert_string_equal(str(r, "action"), "updated");
    json_decref(r);
    json_decref(fields);

    json_t *want = json_pack("{s:s, s:s, s:s, s:s, s:o}", "contactId", "CID_000000000000001",
                             "email", "Long@Example.com", "extRef", "L-1", "language", "FR",
                             "embeddedData", json_deep_copy(embedded));
    assert_non_null(want);
    json_object_set_new(json_object_get(want, "embeddedData"), "note", json_string(note));
    json_t *got = qxm_directory_lookup(d, "long@example.com", NULL);
    assert_non_null(got);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    json_decref(embedded);
    free(note);
    qxm_directory_free(d);
}

/* Each directory has a private database: what one holds, another lacks. */
static void test_directories_are_independent(void **state)
{
    (void)state;
    qxm_directory *a = qxm_directory_new(), *b = qxm_directory_new();
    assert_non_null(a);
    assert_non_null(b);
    char id[ID_MAX];
    assert_true(upsert(a, "{\"email\": \"only-a@example.com\"}", NULL, id));
    assert_null(qxm_directory_lookup(b, "only-a@example.com", NULL));
    assert_int_equal(qxm_directory_contacts(b), 0);
    qxm_directory_reset(b);
    json_t *c = qxm_directory_lookup(a, "only-a@example.com", NULL);
    assert_non_null(c);
    json_decref(c);
    qxm_directory_free(a);
    qxm_directory_free(b);
}

/* ---- allocation failures ---- */

/* jansson's allocator hook fails the Nth allocation from arming on. */
static long allocs_left = -1;

static void *failing_malloc(size_t n)
{
    if (allocs_left == 0)
        return NULL;
    if (allocs_left > 0)
        allocs_left--;
    return malloc(n);
}

/* An upsert that runs out of memory changes nothing: the contact keeps its
 * fields and keys, the extRef stays with its holder, the count stays. */
static void test_upsert_out_of_memory_leaves_the_directory_unchanged(void **state)
{
    (void)state;
    qxm_directory *d = qxm_directory_new();
    assert_non_null(d);
    char id[ID_MAX], holder[ID_MAX];
    assert_true(upsert(d, "{\"email\": \"m@example.com\", \"firstName\": \"Old\"}", NULL, id));
    assert_true(upsert(d, "{\"email\": \"h@example.com\", \"extRef\": \"X\"}", NULL, holder));
    json_t *fields =
        parse("{\"email\": \"M@example.com\", \"extRef\": \"X\", \"firstName\": \"New\","
              " \"embeddedData\": {\"k\": \"v\"}}");
    long n;
    json_t *r = NULL;
    for (n = 0; n < 1000 && r == NULL; n++) {
        qx_error err = {{0}};
        json_set_alloc_funcs(failing_malloc, free);
        allocs_left = n;
        r = qxm_directory_upsert_contact(d, fields, NULL, &err);
        allocs_left = -1;
        json_set_alloc_funcs(malloc, free);
        if (r != NULL)
            break;
        assert_string_equal(err.text, "out of memory");
        json_t *c = qxm_directory_lookup(d, "m@example.com", NULL);
        assert_json_eq(c,
                       "{\"contactId\": \"%s\", \"email\": \"m@example.com\","
                       " \"firstName\": \"Old\"}",
                       id);
        json_decref(c);
        c = qxm_directory_lookup(d, NULL, "X");
        assert_non_null(c);
        assert_string_equal(str(c, "contactId"), holder);
        json_decref(c);
        assert_int_equal(qxm_directory_contacts(d), 2);
    }
    print_message("tried %ld allocation failure points\n", n);
    assert_true(n > 3 && n < 1000);
    assert_string_equal(str(r, "action"), "updated");
    json_t *c = qxm_directory_lookup(d, NULL, "X");
    assert_json_eq(c,
                   "{\"contactId\": \"%s\", \"email\": \"M@example.com\", \"extRef\": \"X\","
                   " \"firstName\": \"New\", \"embeddedData\": {\"k\": \"v\"}}",
                   id);
    json_decref(c);
    json_decref(r);
    json_decref(fields);
    qxm_directory_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contact_updated_by_email_keeps_its_id),
        cmocka_unit_test(test_repeated_update_changes_nothing_and_a_change_is_kept),
        cmocka_unit_test(test_lookup_by_ext_ref_after_an_update_by_email),
        cmocka_unit_test(test_email_given_to_a_contact_found_by_ext_ref_replaces_its_old_one),
        cmocka_unit_test(test_ext_ref_moves_to_the_contact_it_is_given_to),
        cmocka_unit_test(test_reset_empties_the_directory_and_zeroes_the_counts),
        cmocka_unit_test(test_seeded_ids_repeat_and_follow_the_generator),
        cmocka_unit_test(test_ten_thousand_contacts_are_each_found),
        cmocka_unit_test(test_lookup_returns_the_contact_as_written),
        cmocka_unit_test(test_directories_are_independent),
        cmocka_unit_test(test_upsert_out_of_memory_leaves_the_directory_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
