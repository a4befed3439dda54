/*
 * test_mapping.c — loading mapping files: the good shape, and every refusal
 * naming the entry it refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qxs_mapping.h"

static qxs_mapping *from_text(const char *text, qx_error *err)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    assert_non_null(doc);
    qxs_mapping *m = qxs_mapping_from_json(doc, err);
    json_decref(doc);
    return m;
}

static void test_mapping_loads_seed_mapping(void **state)
{
    (void)state;
    qx_error err;
    qxs_mapping *m = qxs_mapping_load_file(QX_SOURCE_DIR "/fixtures/seed/mapping.json", &err);
    assert_non_null(m);
    assert_int_equal(m->n_audiences, 2);
    assert_string_equal(m->audiences[0], "046456e3b-18e1-48a6-9bda-d68547861283");
    assert_int_equal(m->n_identities, 1);
    assert_string_equal(m->identities[0].source, "Email");
    assert_int_equal(m->identities[0].target, QXS_TARGET_EMAIL);
    assert_int_equal(m->n_attributes, 2);
    assert_string_equal(m->attributes[1].source, "mobilePhone.number");
    assert_string_equal(m->attributes[1].target, "mobilePhone.number");
    assert_true(qxs_mapping_is_activated(m, "007844dd1-9e5d-4531-a4ee-05470doe759dd"));
    assert_false(qxs_mapping_is_activated(m, "007844dd1"));
    qxs_mapping_free(m);
}

static void test_mapping_loads_both_identity_targets(void **state)
{
    (void)state;
    qx_error err;
    qxs_mapping *m = from_text("{\"audiences\": [\"s1\"], \"identities\": ["
                               "{\"source\": \"Email\", \"target\": \"email\"},"
                               "{\"source\": \"ECID\", \"target\": \"external_id\"}]}",
                               &err);
    assert_non_null(m);
    assert_int_equal(m->identities[1].target, QXS_TARGET_EXTERNAL_ID);
    assert_string_equal(qxs_identity_target_name(m->identities[1].target), "external_id");
    assert_int_equal(m->n_attributes, 0); /* attributes are optional */
    qxs_mapping_free(m);
}

/* The payload keys identityMap by the target identity: "Email" (as the seed
 * example) and "external_id"; a mapping file may write the email target as
 * "email" or "Email". */
static void test_mapping_identity_targets_and_their_payload_keys(void **state)
{
    (void)state;
    qx_error err;
    qxs_mapping *m = from_text("{\"audiences\": [\"s1\"], \"identities\": ["
                               "{\"source\": \"Email\", \"target\": \"email\"},"
                               "{\"source\": \"ECID\", \"target\": \"external_id\"},"
                               "{\"source\": \"WorkEmail\", \"target\": \"Email\"}]}",
                               &err);
    if (m == NULL)
        print_error("%s\n", err.text);
    assert_non_null(m);
    assert_int_equal(m->n_identities, 3);
    assert_int_equal(m->identities[0].target, QXS_TARGET_EMAIL);
    assert_int_equal(m->identities[1].target, QXS_TARGET_EXTERNAL_ID);
    assert_int_equal(m->identities[2].target, QXS_TARGET_EMAIL); /* "Email": an alias */
    assert_string_equal(qxs_identity_target_key(QXS_TARGET_EMAIL), "Email");
    assert_string_equal(qxs_identity_target_key(QXS_TARGET_EXTERNAL_ID), "external_id");
    qxs_mapping_free(m);

    m = from_text("{\"audiences\": [\"s1\"], \"identities\": ["
                  "{\"source\": \"Email\", \"target\": \"EMAIL\"}]}",
                  &err);
    assert_null(m);
    assert_string_equal(err.text,
                        "mapping.identities[0].target: \"EMAIL\" is not email or external_id");
}

static void test_mapping_error_names_identity_entry(void **state)
{
    (void)state;
    qx_error err;
    qxs_mapping *m = from_text("{\"audiences\": [\"s1\"], \"identities\": ["
                               "{\"source\": \"Email\", \"target\": \"email\"},"
                               "{\"source\": \"Phone\", \"target\": \"phone\"}]}",
                               &err);
    assert_null(m);
    assert_string_equal(err.text,
                        "mapping.identities[1].target: \"phone\" is not email or external_id");
}

/* Each bad mapping and the start of the message it must produce. */
static const struct {
    const char *doc;
    const char *message;
} bad_mappings[] = {
    {"[]", "mapping: expected a JSON object"},
    {"{\"identities\": [{\"source\": \"Email\", \"target\": \"email\"}]}",
     "mapping: missing \"audiences\""},
    {"{\"audiences\": [\"s1\"]}", "mapping: missing \"identities\""},
    {"{\"audiences\": [\"s1\"], \"identities\": [], \"attributes\": []}",
     "mapping.identities: at least one identity mapping is required"},
    {"{\"audiences\": [], \"identities\": [{\"source\": \"Email\", \"target\": \"email\"}]}",
     "mapping.audiences: at least one activated audience is required"},
    {"{\"audiences\": [\"s1\", 7], \"identities\": [{\"source\": \"Email\", \"target\": "
     "\"email\"}]}",
     "mapping.audiences[1]: expected a non-empty segment id string"},
    {"{\"audiences\": [\"s1\", \"s1\"], \"identities\": [{\"source\": \"Email\", \"target\": "
     "\"email\"}]}",
     "mapping.audiences[1]: \"s1\" is listed twice"},
    {"{\"audiences\": [\"s1\"], \"identities\": [{\"source\": \"Email\", \"target\": "
     "\"email\"}], \"segments\": []}",
     "mapping: unknown key \"segments\""},
    {"{\"audiences\": [\"s1\"], \"identities\": [{\"source\": \"Email\", \"target\": "
     "\"email\", \"primary\": true}]}",
     "mapping.identities[0]: unknown key \"primary\""},
    {"{\"audiences\": [\"s1\"], \"identities\": [{\"target\": \"email\"}]}",
     "mapping.identities[0]: missing \"source\""},
    {"{\"audiences\": [\"s1\"], \"identities\": [{\"source\": \"Email\", \"target\": "
     "\"email\"}, {\"source\": \"Email\", \"target\": \"external_id\"}]}",
     "mapping.identities[1].source: namespace \"Email\" is already mapped by identities[0]"},
    {"{\"audiences\": [\"s1\"], \"identities\": [{\"source\": \"Email\", \"target\": "
     "\"email\"}], \"attributes\": [{\"source\": \"a..b\", \"target\": \"x\"}]}",
     "mapping.attributes[0].source: \"a..b\" is not a dotted path"},
    {"{\"audiences\": [\"s1\"], \"identities\": [{\"source\": \"Email\", \"target\": "
     "\"email\"}], \"attributes\": [{\"source\": \"a\", \"target\": \".x\"}]}",
     "mapping.attributes[0].target: \".x\" is not a dotted path"},
    {"{\"audiences\": [\"s1\"], \"identities\": [{\"source\": \"Email\", \"target\": "
     "\"email\"}], \"attributes\": [{\"source\": \"a\"}]}",
     "mapping.attributes[0]: missing \"target\""},
    {"{\"audiences\": [\"s1\"], \"identities\": [{\"source\": \"Email\", \"target\": "
     "\"email\"}], \"attributes\": [{\"source\": \"a\", \"target\": \"identityMap.x\"}]}",
     "mapping.attributes[0].target: \"identityMap.x\" would overwrite the payload's identityMap"},
    {"{\"audiences\": [\"s1\"], \"identities\": [{\"source\": \"Email\", \"target\": "
     "\"email\"}], \"attributes\": [{\"source\": \"segmentMembership.ups\", \"target\": "
     "\"x\"}]}",
     "mapping.attributes[0].source: \"segmentMembership.ups\" is filled from mapping.audiences"},
    {"{\"audiences\": [\"s1\"], \"identities\": [{\"source\": \"Email\", \"target\": "
     "\"email\"}], \"attributes\": [{\"source\": \"a\", \"target\": \"person.name\"}, "
     "{\"source\": \"b\", \"target\": \"person\"}]}",
     "mapping.attributes[1].target: \"person\" collides with attributes[0].target "
     "\"person.name\""},
    {"{\"audiences\": [\"s1\"], \"identities\": [{\"source\": \"Email\", \"target\": "
     "\"email\"}], \"attributes\": [{\"source\": \"a\", \"target\": \"t\"}, "
     "{\"source\": \"b\", \"target\": \"t\"}]}",
     "mapping.attributes[1].target: \"t\" collides with attributes[0].target \"t\""},
    {"{\"audiences\": [\"s1\"], \"identities\": [{\"source\": \"Email\", \"target\": "
     "\"email\"}], \"attributes\": {}}",
     "mapping.attributes: expected an array"},
    {"{\"audiences\": [\"s1\"], \"identities\": [{\"source\": \"Email\", \"target\": "
     "\"email\"}], \"attributes\": [{\"source\": \"a\", \"target\": "
     "\"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g\"}]}",
     "mapping.attributes[0].target: \"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p....\" has 33 segments; at "
     "most 32"},
};

static void test_mapping_errors_name_the_entry(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_mappings / sizeof bad_mappings[0]; i++) {
        qx_error err = {{0}};
        qxs_mapping *m = from_text(bad_mappings[i].doc, &err);
        if (m != NULL ||
            strncmp(err.text, bad_mappings[i].message, strlen(bad_mappings[i].message)) != 0) {
            print_error("case %zu: %s\n  got:      %s\n  expected: %s...\n", i, bad_mappings[i].doc,
                        m != NULL ? "(accepted)" : err.text, bad_mappings[i].message);
            qxs_mapping_free(m);
            fail();
        }
    }
}

static void test_mapping_targets_may_share_a_parent(void **state)
{
    (void)state;
    qx_error err;
    qxs_mapping *m = from_text(
        "{\"audiences\": [\"s1\"], \"identities\": [{\"source\": \"Email\", \"target\": "
        "\"email\"}], \"attributes\": [{\"source\": \"a\", \"target\": \"person.name.firstName\"}, "
        "{\"source\": \"b\", \"target\": \"person.name.lastName\"}, {\"source\": \"c\", "
        "\"target\": \"personal\"}]}",
        &err);
    assert_non_null(m);
    qxs_mapping_free(m);
}

static void test_mapping_file_errors_name_the_file(void **state)
{
    (void)state;
    qx_error err;
    assert_null(qxs_mapping_load_file("/nonexistent/map.json", &err));
    assert_non_null(strstr(err.text, "/nonexistent/map.json"));
    char path[] = "/tmp/qxs-mapping-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("{\"audiences\": [\"s1\"], \"identities\": [{\"source\": \"E\", \"target\": \"x\"}]}", f);
    fclose(f);
    assert_null(qxs_mapping_load_file(path, &err));
    char expected[256];
    snprintf(expected, sizeof expected,
             "%s: mapping.identities[0].target: \"x\" is not email or external_id", path);
    assert_string_equal(err.text, expected);
    unlink(path);
}

static void test_mapping_free_null_is_noop(void **state)
{
    (void)state;
    qxs_mapping_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mapping_loads_seed_mapping),
        cmocka_unit_test(test_mapping_loads_both_identity_targets),
        cmocka_unit_test(test_mapping_identity_targets_and_their_payload_keys),
        cmocka_unit_test(test_mapping_error_names_identity_entry),
        cmocka_unit_test(test_mapping_errors_name_the_entry),
        cmocka_unit_test(test_mapping_targets_may_share_a_parent),
        cmocka_unit_test(test_mapping_file_errors_name_the_file),
        cmocka_unit_test(test_mapping_free_null_is_noop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
