/*
 * test_policy.c — policy files (strict loading, every refusal naming its
 * entry), the marketing actions in force, consent checks per profile and
 * per identity, label rules against a mapping's labelled attributes, and
 * the labels of a mapping file. Rendering with a policy is test_render's
 * (tests/data/render/consent-*).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qxs_mapping.h"
#include "qxs_policy.h"

#define EMAIL_RULE                                                                                 \
    "{\"name\": \"email-consent\", \"marketingAction\": \"emailTargeting\", \"path\": "            \
    "\"consents.marketing.email.val\", \"in\": [\"y\"]}"
#define C2_RULE                                                                                    \
    "{\"name\": \"no-third-party\", \"marketingAction\": \"exportToThirdParty\", \"labels\": "     \
    "[\"C2\"]}"

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    if (doc == NULL)
        print_error("%s: %s\n", text, jerr.text);
    assert_non_null(doc);
    return doc;
}

static qxs_policy *policy_from(const char *text, qx_error *err)
{
    json_t *doc = parse(text);
    qxs_policy *p = qxs_policy_from_json(doc, err);
    json_decref(doc);
    return p;
}

/* A policy with both example rules and the given actions in force. */
static qxs_policy *example_policy(const char *const *actions, size_t n)
{
    qx_error err;
    qxs_policy *p = policy_from("{\"name\": \"p\", \"consentRules\": [" EMAIL_RULE
                                "], \"labelRules\": [" C2_RULE "]}",
                                &err);
    if (p == NULL)
        print_error("%s\n", err.text);
    assert_non_null(p);
    assert_int_equal(qxs_policy_set_actions(p, actions, n, &err), 0);
    return p;
}

static void test_policy_loads_the_email_survey_fixture(void **state)
{
    (void)state;
    qx_error err;
    qxs_policy *p =
        qxs_policy_load_file(QX_SOURCE_DIR "/fixtures/policies/email-survey.json", &err);
    if (p == NULL)
        print_error("%s\n", err.text);
    assert_non_null(p);
    assert_true(p->n_consent >= 2);
    assert_true(p->n_label >= 1);
    assert_string_equal(p->consent[0].path, "consents.marketing.email.val");
    assert_false(p->consent[0].missing_denies);
    assert_int_equal(p->n_actions, 0);
    qxs_policy_free(p);
}

static void test_policy_errors_name_the_entry(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"{\"name\": \"p\", \"consentRules\": [" EMAIL_RULE "], \"extra\": 1}",
         "policy: unknown key \"extra\""},
        {"{\"consentRules\": [" EMAIL_RULE "]}", "policy: missing \"name\""},
        {"{\"name\": \"p\"}", "policy: no rule"},
        {"{\"name\": \"p\", \"consentRules\": [{\"name\": \"a\", \"marketingAction\": \"m\", "
         "\"path\": \"consents.share.val\", \"in\": [\"y\"], \"when\": 1}]}",
         "policy.consentRules[0]: unknown key \"when\""},
        {"{\"name\": \"p\", \"consentRules\": [{\"name\": \"a\", \"marketingAction\": \"m\", "
         "\"path\": \"person.email\", \"in\": [\"y\"]}]}",
         "policy.consentRules[0].path: \"person.email\" is not a dotted path under consents"},
        {"{\"name\": \"p\", \"consentRules\": [{\"name\": \"a\", \"marketingAction\": \"m\", "
         "\"path\": \"consents.idSpecific.Email\", \"in\": [\"y\"]}]}",
         "policy.consentRules[0].path"},
        {"{\"name\": \"p\", \"consentRules\": [{\"name\": \"a\", \"marketingAction\": \"m\", "
         "\"path\": \"consents.share.val\", \"in\": []}]}",
         "policy.consentRules[0].in: expected an array of 1 to"},
        {"{\"name\": \"p\", \"consentRules\": [{\"name\": \"a\", \"marketingAction\": \"m\", "
         "\"path\": \"consents.share.val\", \"in\": [\"y\"], \"missing\": \"maybe\"}]}",
         "policy.consentRules[0].missing: expected \"allow\" or \"deny\""},
        {"{\"name\": \"p\", \"labelRules\": [{\"name\": \"a\", \"marketingAction\": \"m\"}]}",
         "policy.labelRules[0]: missing \"labels\""},
        {"{\"name\": \"p\", \"labelRules\": [{\"name\": \"a\", \"marketingAction\": \"m\", "
         "\"labels\": [\"C2\", \"C2\"]}]}",
         "policy.labelRules[0].labels[1]: \"C2\" is listed twice"},
        {"{\"name\": \"p\", \"consentRules\": [" EMAIL_RULE "], \"labelRules\": [{\"name\": "
         "\"email-consent\", \"marketingAction\": \"m\", \"labels\": [\"C2\"]}]}",
         "two rules are named \"email-consent\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qx_error err = {{0}};
        qxs_policy *p = policy_from(cases[i].text, &err);
        if (p != NULL || strstr(err.text, cases[i].want) == NULL)
            print_error("case %zu: got \"%s\", want \"%s\"\n", i, err.text, cases[i].want);
        assert_null(p);
        assert_non_null(strstr(err.text, cases[i].want));
    }
}

static void test_policy_file_errors_name_the_file(void **state)
{
    (void)state;
    qx_error err;
    assert_null(qxs_policy_load_file(QX_SOURCE_DIR "/fixtures/policies/no-such.json", &err));
    assert_non_null(strstr(err.text, "no-such.json"));
}

static void test_policy_actions_are_checked(void **state)
{
    (void)state;
    qx_error err;
    const char *twice[] = {"emailTargeting", "emailTargeting"};
    const char *empty[] = {""};
    qxs_policy *p = example_policy(twice, 1);
    assert_true(qxs_policy_performs(p, "emailTargeting"));
    assert_false(qxs_policy_performs(p, "exportToThirdParty"));
    assert_int_equal(qxs_policy_set_actions(p, twice, 2, &err), -1);
    assert_non_null(strstr(err.text, "listed twice"));
    assert_int_equal(qxs_policy_set_actions(p, empty, 1, &err), -1);
    assert_int_equal(qxs_policy_set_actions(p, twice, 0, &err), -1);
    /* a refused set leaves the earlier one in force */
    assert_true(qxs_policy_performs(p, "emailTargeting"));
    qxs_policy_free(p);
}

static void test_policy_profile_consent(void **state)
{
    (void)state;
    const char *email[] = {"emailTargeting"};
    qxs_policy *p = example_policy(email, 1);
    json_t *yes = parse("{\"consents\": {\"marketing\": {\"email\": {\"val\": \"y\"}}}}");
    json_t *no = parse("{\"consents\": {\"marketing\": {\"email\": {\"val\": \"n\"}}}}");
    json_t *none = parse("{\"person\": {}}");
    json_t *null = parse("{\"consents\": {\"marketing\": {\"email\": {\"val\": null}}}}");
    assert_null(qxs_policy_profile_denied(p, yes));
    const qxs_consent_rule *r = qxs_policy_profile_denied(p, no);
    assert_non_null(r);
    assert_string_equal(r->name, "email-consent");
    assert_null(qxs_policy_profile_denied(p, none)); /* missing: allow by default */
    assert_null(qxs_policy_profile_denied(p, null));
    p->consent[0].missing_denies = true;
    assert_non_null(qxs_policy_profile_denied(p, none));
    assert_null(qxs_policy_profile_denied(NULL, no));
    qxs_policy_free(p);
    /* the rule's action is not performed: the rule does not apply */
    const char *other[] = {"exportToThirdParty"};
    p = example_policy(other, 1);
    assert_null(qxs_policy_profile_denied(p, no));
    qxs_policy_free(p);
    json_decref(yes);
    json_decref(no);
    json_decref(none);
    json_decref(null);
}

static void test_policy_identity_consent_walks_keys_with_dots(void **state)
{
    (void)state;
    const char *email[] = {"emailTargeting"};
    qxs_policy *p = example_policy(email, 1);
    json_t *profile = parse("{\"consents\": {\"idSpecific\": {\"email\": {\"ana@example.com\": "
                            "{\"marketing\": {\"email\": {\"val\": \"n\"}}}, \"ben@example.com\": "
                            "{\"marketing\": {\"email\": {\"val\": \"y\"}}}}}}}");
    assert_non_null(qxs_policy_identity_denied(p, profile, "Email", "ana@example.com"));
    assert_null(qxs_policy_identity_denied(p, profile, "Email", "ben@example.com"));
    assert_null(qxs_policy_identity_denied(p, profile, "Email", "cy@example.com"));
    assert_null(qxs_policy_identity_denied(p, profile, "ECID", "ana@example.com"));
    qxs_policy_free(p);
    json_decref(profile);
}

static qxs_mapping *mapping_from(const char *text, qx_error *err)
{
    json_t *doc = parse(text);
    qxs_mapping *m = qxs_mapping_from_json(doc, err);
    json_decref(doc);
    return m;
}

#define LABELLED_MAPPING                                                                           \
    "{\"audiences\": [\"s\"], \"identities\": [{\"source\": \"Email\", \"target\": \"email\"}], "  \
    "\"attributes\": [{\"source\": \"person.name.firstName\", \"target\": \"firstName\"}, "        \
    "{\"source\": \"person.birthDate\", \"target\": \"birthDate\", \"labels\": [\"I2\", "          \
    "\"C2\"]}]}"

static void test_policy_label_violation_names_attribute_label_rule_action(void **state)
{
    (void)state;
    qx_error err;
    qxs_mapping *m = mapping_from(LABELLED_MAPPING, &err);
    assert_non_null(m);
    assert_int_equal(m->attributes[1].n_labels, 2);
    assert_string_equal(m->attributes[1].labels[1], "C2");
    const char *third[] = {"emailTargeting", "exportToThirdParty"};
    qxs_policy *p = example_policy(third, 2);
    json_t *v = qxs_policy_label_violations(p, m);
    assert_int_equal(json_array_size(v), 1);
    json_t *e = json_array_get(v, 0);
    assert_string_equal(json_string_value(json_object_get(e, "attribute")),
                        "mapping.attributes[1]");
    assert_string_equal(json_string_value(json_object_get(e, "label")), "C2");
    assert_string_equal(json_string_value(json_object_get(e, "rule")), "no-third-party");
    assert_string_equal(json_string_value(json_object_get(e, "marketingAction")),
                        "exportToThirdParty");
    const char *msg = json_string_value(json_object_get(e, "message"));
    assert_non_null(strstr(msg, "person.birthDate"));
    json_decref(v);
    qxs_policy_free(p);
    /* without the marketing action the rule forbids, nothing is violated */
    const char *email[] = {"emailTargeting"};
    p = example_policy(email, 1);
    v = qxs_policy_label_violations(p, m);
    assert_int_equal(json_array_size(v), 0);
    json_decref(v);
    qxs_policy_free(p);
    qxs_mapping_free(m);
}

static void test_mapping_labels_are_checked(void **state)
{
    (void)state;
    qx_error err;
    assert_null(mapping_from("{\"audiences\": [\"s\"], \"identities\": [{\"source\": \"Email\", "
                             "\"target\": \"email\"}], \"attributes\": [{\"source\": \"a\", "
                             "\"target\": \"a\", \"labels\": []}]}",
                             &err));
    assert_non_null(strstr(err.text, "mapping.attributes[0].labels"));
    assert_null(mapping_from("{\"audiences\": [\"s\"], \"identities\": [{\"source\": \"Email\", "
                             "\"target\": \"email\"}], \"attributes\": [{\"source\": \"a\", "
                             "\"target\": \"a\", \"labels\": [\"C2\", 3]}]}",
                             &err));
    assert_non_null(strstr(err.text, "mapping.attributes[0].labels[1]"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_loads_the_email_survey_fixture),
        cmocka_unit_test(test_policy_errors_name_the_entry),
        cmocka_unit_test(test_policy_file_errors_name_the_file),
        cmocka_unit_test(test_policy_actions_are_checked),
        cmocka_unit_test(test_policy_profile_consent),
        cmocka_unit_test(test_policy_identity_consent_walks_keys_with_dots),
        cmocka_unit_test(test_policy_label_violation_names_attribute_label_rule_action),
        cmocka_unit_test(test_mapping_labels_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
