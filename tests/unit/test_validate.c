/*
 * test_validate.c — `qx-send validate`: camelCase targets, source paths
 * against sample profiles, hashed emails, and a workflow's event-data paths
 * against rendered (or, without samples, synthetic) payloads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qxs_validate.h"

#define DEMO_MAPPING QX_SOURCE_DIR "/fixtures/mappings/demo.json"
#define DEMO_PROFILES QX_SOURCE_DIR "/fixtures/profiles/demo.ndjson"
#define DEMO_WORKFLOWS QX_SOURCE_DIR "/fixtures/workflows/demo.json"

static qxs_mapping *mapping_from(const char *text)
{
    json_t *doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    qx_error err;
    qxs_mapping *m = qxs_mapping_from_json(doc, &err);
    if (m == NULL)
        print_error("%s\n", err.text);
    assert_non_null(m);
    json_decref(doc);
    return m;
}

/* The findings of one validation; the profiles are text (may be NULL). */
static json_t *validate(const qxs_mapping *m, const char *profiles, const char *wf_id)
{
    FILE *p = NULL;
    if (profiles != NULL) {
        p = fmemopen((void *)profiles, strlen(profiles), "r");
        assert_non_null(p);
    }
    json_t *cfg = wf_id != NULL ? json_load_file(DEMO_WORKFLOWS, 0, NULL) : NULL;
    qxs_validate_input in = {
        .mapping = m, .profiles = p, .workflow_config = cfg, .workflow_id = wf_id};
    qx_error err;
    json_t *findings = qxs_validate(&in, &err);
    if (findings == NULL)
        print_error("%s\n", err.text);
    assert_non_null(findings);
    json_decref(cfg);
    if (p != NULL)
        fclose(p);
    return findings;
}

/* True when a finding of severity contains text. */
static bool has_finding(const json_t *findings, const char *severity, const char *text)
{
    size_t i;
    json_t *f;
    json_array_foreach(
        findings, i,
        f) if (strcmp(json_string_value(json_object_get(f, "severity")), severity) == 0 &&
               strstr(json_string_value(json_object_get(f, "message")), text) != NULL) return true;
    char *dump = json_dumps(findings, JSON_INDENT(2));
    print_error("no %s containing \"%s\" in\n%s\n", severity, text, dump);
    free(dump);
    return false;
}

static const char one_profile[] =
    "{\"identityMap\": {\"Email\": [{\"id\": \"ana@example.com\"}]}, \"person\": {\"name\": "
    "{\"firstName\": \"Ana\"}}, \"interests\": [\"golf\"], \"segmentMembership\": {\"ups\": "
    "{\"a1f5c3e0-purchase-completed-0001\": {\"status\": \"realized\"}}}}\n";

static void test_camel_case_paths(void **state)
{
    (void)state;
    assert_true(qxs_is_camel_case_path("loyaltyTier"));
    assert_true(qxs_is_camel_case_path("person.name.firstName"));
    assert_true(qxs_is_camel_case_path("_acme.loyaltyTier"));
    assert_true(qxs_is_camel_case_path("tier2"));
    assert_false(qxs_is_camel_case_path("LoyaltyTier"));
    assert_false(qxs_is_camel_case_path("loyalty_tier"));
    assert_false(qxs_is_camel_case_path("first-name"));
    assert_false(qxs_is_camel_case_path("person.Name"));
    assert_false(qxs_is_camel_case_path("2tier"));
}

static void test_demo_fixtures_validate_without_errors(void **state)
{
    (void)state;
    qx_error err;
    qxs_mapping *m = qxs_mapping_load_file(DEMO_MAPPING, &err);
    assert_non_null(m);
    char *profiles = NULL;
    size_t len = 0;
    FILE *f = fopen(DEMO_PROFILES, "r");
    assert_non_null(f);
    FILE *mem = open_memstream(&profiles, &len);
    int c;
    while ((c = fgetc(f)) != EOF)
        fputc(c, mem);
    fclose(f);
    fclose(mem);
    json_t *findings = validate(m, profiles, "WF_csat_purchase");
    if (qxs_validate_count(findings, "error") != 0) {
        char *dump = json_dumps(findings, JSON_INDENT(2));
        print_error("%s\n", dump);
        free(dump);
    }
    assert_int_equal(qxs_validate_count(findings, "error"), 0);
    assert_true(
        has_finding(findings, "warning", "profiles line 8: identityMap.Email[0] is a hashed"));
    assert_true(has_finding(findings, "warning", "profiles line 13: identityMap.Email[0]"));
    json_decref(findings);
    free(profiles);
    qxs_mapping_free(m);
}

static void test_non_camel_case_target_is_a_warning(void **state)
{
    (void)state;
    qxs_mapping *m = mapping_from(
        "{\"audiences\": [\"a1f5c3e0-purchase-completed-0001\"], \"identities\": [{\"source\": "
        "\"Email\", \"target\": \"email\"}], \"attributes\": [{\"source\": "
        "\"person.name.firstName\", \"target\": \"First_Name\"}]}");
    json_t *findings = validate(m, NULL, NULL);
    assert_true(has_finding(findings, "warning",
                            "mapping.attributes[0].target: \"First_Name\" is not camelCase"));
    assert_int_equal(qxs_validate_count(findings, "error"), 0);
    json_decref(findings);
    qxs_mapping_free(m);
}

static void test_source_path_missing_from_samples_is_an_error(void **state)
{
    (void)state;
    qxs_mapping *m = mapping_from(
        "{\"audiences\": [\"a1f5c3e0-purchase-completed-0001\"], \"identities\": [{\"source\": "
        "\"Email\", \"target\": \"email\"}, {\"source\": \"ECID\", \"target\": \"external_id\"}],"
        " \"attributes\": [{\"source\": \"person.name.firstName\", \"target\": \"firstName\"},"
        " {\"source\": \"loyalty.tier\", \"target\": \"loyaltyTier\"},"
        " {\"source\": \"interests\", \"target\": \"interests\"}]}");
    json_t *findings = validate(m, one_profile, NULL);
    assert_true(has_finding(findings, "error",
                            "mapping.attributes[1].source: \"loyalty.tier\" is in none of the 1"));
    assert_true(has_finding(findings, "error",
                            "mapping.attributes[2].source: \"interests\" is an array or object"));
    assert_true(has_finding(findings, "warning",
                            "mapping.identities[1].source: namespace \"ECID\" is in none"));
    assert_int_equal(qxs_validate_count(findings, "error"), 2);
    json_decref(findings);
    qxs_mapping_free(m);
}

static void test_malformed_sample_is_an_error(void **state)
{
    (void)state;
    qxs_mapping *m = mapping_from("{\"audiences\": [\"a1f5c3e0-purchase-completed-0001\"], "
                                  "\"identities\": [{\"source\": \"Email\", \"target\": "
                                  "\"email\"}]}");
    json_t *findings = validate(m, "{oops\n[]\n", NULL);
    assert_true(has_finding(findings, "error", "line 1"));
    assert_true(has_finding(findings, "error", "profiles line 2: not a JSON object"));
    json_decref(findings);
    qxs_mapping_free(m);
}

static void test_event_data_the_mapping_never_produces_is_an_error(void **state)
{
    (void)state;
    /* no firstName mapped: the workflow's $.person.name.firstName stays empty */
    qxs_mapping *m = mapping_from("{\"audiences\": [\"a1f5c3e0-purchase-completed-0001\"], "
                                  "\"identities\": [{\"source\": \"Email\", \"target\": "
                                  "\"email\"}]}");
    json_t *findings = validate(m, NULL, "WF_csat_purchase");
    assert_true(has_finding(findings, "error",
                            "workflow WF_csat_purchase eventData.firstName: "
                            "\"$.person.name.firstName\" matches nothing the mapping produces"));
    assert_int_equal(qxs_validate_count(findings, "error"), 1); /* email is produced */
    json_decref(findings);
    qxs_mapping_free(m);
}

static void test_event_data_checked_against_rendered_samples(void **state)
{
    (void)state;
    qx_error err;
    qxs_mapping *m = qxs_mapping_load_file(DEMO_MAPPING, &err);
    assert_non_null(m);
    /* firstName is mapped, but the only sample has none */
    const char *profile =
        "{\"identityMap\": {\"Email\": [{\"id\": \"ivan@example.com\"}]}, \"segmentMembership\":"
        " {\"ups\": {\"a1f5c3e0-purchase-completed-0001\": {\"status\": \"realized\"}}}}\n";
    json_t *findings = validate(m, profile, "WF_csat_purchase");
    assert_true(has_finding(findings, "error",
                            "eventData.firstName: \"$.person.name.firstName\" matches nothing in "
                            "any of the 1 rendered payloads"));
    json_decref(findings);
    qxs_mapping_free(m);
}

/* A workflow keyed on the platform's identities, "Email" and "external_id". */
static const char app_workflows[] =
    "{\"workflows\": [{\"id\": \"WF_app\", \"eventData\": {\"email\": "
    "\"$.identityMap.Email[0].id\", \"externalId\": \"$.identityMap.external_id[0].id\"}},"
    " {\"id\": \"WF_old\", \"eventData\": {\"externalId\": \"$.identityMap.ECID[0].id\"}}]}";

static const char ecid_mapping[] =
    "{\"audiences\": [\"a1f5c3e0-purchase-completed-0001\"], \"identities\": [{\"source\": "
    "\"Email\", \"target\": \"email\"}, {\"source\": \"ECID\", \"target\": "
    "\"external_id\"}]}";

/* The findings of one validation against a workflow given as text. */
static json_t *validate_against(const qxs_mapping *m, const char *profiles, const char *config,
                                const char *wf_id)
{
    FILE *p = NULL;
    if (profiles != NULL) {
        p = fmemopen((void *)profiles, strlen(profiles), "r");
        assert_non_null(p);
    }
    json_t *cfg = json_loads(config, 0, NULL);
    assert_non_null(cfg);
    qxs_validate_input in = {
        .mapping = m, .profiles = p, .workflow_config = cfg, .workflow_id = wf_id};
    qx_error err;
    json_t *findings = qxs_validate(&in, &err);
    if (findings == NULL)
        print_error("%s\n", err.text);
    assert_non_null(findings);
    json_decref(cfg);
    if (p != NULL)
        fclose(p);
    return findings;
}

static void assert_no_error(const json_t *findings)
{
    if (qxs_validate_count(findings, "error") != 0) {
        char *dump = json_dumps(findings, JSON_INDENT(2));
        print_error("%s\n", dump);
        free(dump);
    }
    assert_int_equal(qxs_validate_count(findings, "error"), 0);
}

/* The payload keys identityMap by the target identity: a workflow reading
 * $.identityMap.external_id[0].id is satisfied by an ECID mapped to
 * external_id, in the rendered samples and in the stand-in payload. */
static void test_event_data_reads_identities_by_their_target(void **state)
{
    (void)state;
    qxs_mapping *m = mapping_from(ecid_mapping);
    json_t *findings = validate_against(m, NULL, app_workflows, "WF_app");
    assert_no_error(findings);
    json_decref(findings);
    const char *profiles =
        "{\"identityMap\": {\"ECID\": [{\"id\": \"42\"}]}, \"segmentMembership\": {\"ups\":"
        " {\"a1f5c3e0-purchase-completed-0001\": {\"status\": \"realized\"}}}}\n"
        "{\"identityMap\": {\"Email\": [{\"id\": \"ana@example.com\"}]}, \"segmentMembership\":"
        " {\"ups\": {\"a1f5c3e0-purchase-completed-0001\": {\"status\": \"realized\"}}}}\n";
    findings = validate_against(m, profiles, app_workflows, "WF_app");
    assert_no_error(findings);
    json_decref(findings);
    /* the source namespace is no payload key: the old path matches nothing */
    findings = validate_against(m, NULL, app_workflows, "WF_old");
    assert_true(has_finding(findings, "error",
                            "workflow WF_old eventData.externalId: \"$.identityMap.ECID[0].id\" "
                            "matches nothing the mapping produces"));
    json_decref(findings);
    qxs_mapping_free(m);
}

/* A finding whose message is exactly text (of any severity); prints them all
 * otherwise. */
static bool has_message(const json_t *findings, const char *text)
{
    size_t i;
    json_t *f;
    json_array_foreach(findings, i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "message")), text) == 0)
            return true;
    }
    char *dump = json_dumps(findings, JSON_INDENT(2));
    print_error("no finding \"%s\" in\n%s\n", text, dump);
    free(dump);
    return false;
}

/* The trap: a workflow that reads the source namespace ($.identityMap.ECID)
 * matches nothing in what is sent; the message says what the payloads'
 * identityMap has instead, its keys in the order first seen. */
static void test_event_data_reading_a_source_namespace_names_the_target_keys(void **state)
{
    (void)state;
    qxs_mapping *m = mapping_from(ecid_mapping);
    const char *profiles =
        "{\"identityMap\": {\"ECID\": [{\"id\": \"42\"}]}, \"segmentMembership\": {\"ups\":"
        " {\"a1f5c3e0-purchase-completed-0001\": {\"status\": \"realized\"}}}}\n"
        "{\"identityMap\": {\"Email\": [{\"id\": \"ana@example.com\"}], \"ECID\": [{\"id\":"
        " \"43\"}]}, \"segmentMembership\": {\"ups\": {\"a1f5c3e0-purchase-completed-0001\":"
        " {\"status\": \"realized\"}}}}\n";
    json_t *findings = validate_against(m, profiles, app_workflows, "WF_old");
    assert_true(has_message(findings,
                            "workflow WF_old eventData.externalId: "
                            "\"$.identityMap.ECID[0].id\" matches nothing in any of the 2 "
                            "rendered payloads; their identityMap has external_id, Email"));
    assert_int_equal(qxs_validate_count(findings, "error"), 1);
    json_decref(findings);
    /* without samples: the stand-in payload, keys in mapping order */
    findings = validate_against(m, NULL, app_workflows, "WF_old");
    assert_true(has_message(findings,
                            "workflow WF_old eventData.externalId: \"$.identityMap.ECID[0].id\" "
                            "matches nothing the mapping produces; the payload's identityMap has "
                            "Email, external_id"));
    json_decref(findings);
    qxs_mapping_free(m);
}

/* A path outside identityMap gets no identityMap hint. */
static void test_event_data_outside_identity_map_has_no_identity_hint(void **state)
{
    (void)state;
    qxs_mapping *m = mapping_from(ecid_mapping);
    json_t *findings = validate(m, NULL, "WF_csat_purchase");
    assert_true(has_message(findings, "workflow WF_csat_purchase eventData.firstName: "
                                      "\"$.person.name.firstName\" matches nothing the mapping "
                                      "produces"));
    json_decref(findings);
    qxs_mapping_free(m);
}

static void test_unknown_workflow_id_cannot_be_checked(void **state)
{
    (void)state;
    qxs_mapping *m = mapping_from("{\"audiences\": [\"s\"], \"identities\": [{\"source\": "
                                  "\"Email\", \"target\": \"email\"}]}");
    json_t *cfg = json_load_file(DEMO_WORKFLOWS, 0, NULL);
    qxs_validate_input in = {.mapping = m, .workflow_config = cfg, .workflow_id = "WF_nope"};
    qx_error err;
    assert_null(qxs_validate(&in, &err));
    assert_string_equal(err.text, "workflow \"WF_nope\" is not in the config's workflows");
    json_decref(cfg);
    qxs_mapping_free(m);
}

static void test_event_data_path_that_does_not_compile_is_an_error(void **state)
{
    (void)state;
    qxs_mapping *m = mapping_from("{\"audiences\": [\"s\"], \"identities\": [{\"source\": "
                                  "\"Email\", \"target\": \"email\"}]}");
    json_t *cfg = json_loads("{\"workflows\": [{\"id\": \"WF\", \"eventData\": {\"email\": "
                             "\"$.identityMap.Email[0].id\", \"broken\": \"$.a[\"}}]}",
                             0, NULL);
    qxs_validate_input in = {.mapping = m, .workflow_config = cfg, .workflow_id = "WF"};
    qx_error err;
    json_t *findings = qxs_validate(&in, &err);
    assert_non_null(findings);
    assert_true(has_finding(findings, "error", "workflow WF eventData.broken: "));
    assert_int_equal(qxs_validate_count(findings, "error"), 1);
    json_decref(findings);
    json_decref(cfg);
    qxs_mapping_free(m);
}

/* A policy's label rule in force makes a labelled attribute an error that
 * names the attribute, the label, the rule and the marketing action; its
 * consent rules count the samples they exclude. */
static void test_policy_label_violation_is_an_error_and_consent_is_counted(void **state)
{
    (void)state;
    qx_error err;
    qxs_mapping *m = mapping_from(
        "{\"audiences\": [\"a1f5c3e0-purchase-completed-0001\"], \"identities\": [{\"source\": "
        "\"Email\", \"target\": \"email\"}], \"attributes\": [{\"source\": "
        "\"person.name.firstName\", \"target\": \"firstName\", \"labels\": [\"C2\"]}]}");
    qxs_policy *p =
        qxs_policy_load_file(QX_SOURCE_DIR "/fixtures/policies/email-survey.json", &err);
    assert_non_null(p);
    const char *actions[] = {"emailTargeting", "exportToThirdParty"};
    assert_int_equal(qxs_policy_set_actions(p, actions, 2, &err), 0);
    static const char profiles[] =
        "{\"identityMap\": {\"Email\": [{\"id\": \"ana@example.com\"}]}, \"person\": {\"name\": "
        "{\"firstName\": \"Ana\"}}, \"consents\": {\"marketing\": {\"email\": {\"val\": "
        "\"n\"}}}, \"segmentMembership\": {\"ups\": {\"a1f5c3e0-purchase-completed-0001\": "
        "{\"status\": \"realized\"}}}}\n";
    FILE *f = fmemopen((void *)profiles, strlen(profiles), "r");
    assert_non_null(f);
    qxs_validate_input in = {.mapping = m, .profiles = f, .policy = p};
    json_t *findings = qxs_validate(&in, &err);
    assert_non_null(findings);
    assert_true(has_finding(findings, "error",
                            "mapping.attributes[0] (source \"person.name.firstName\"): label C2"));
    assert_true(has_finding(findings, "error", "\"exportToThirdParty\""));
    assert_true(has_finding(findings, "error", "restrict-third-party-export"));
    assert_true(has_finding(findings, "warning", "1 of the 1 sample profiles are excluded"));
    json_decref(findings);
    fclose(f);
    /* without the marketing action, the label is no violation */
    assert_int_equal(qxs_policy_set_actions(p, actions, 1, &err), 0);
    qxs_validate_input alone = {.mapping = m, .policy = p};
    findings = qxs_validate(&alone, &err);
    assert_int_equal(qxs_validate_count(findings, "error"), 0);
    json_decref(findings);
    qxs_policy_free(p);
    qxs_mapping_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_camel_case_paths),
        cmocka_unit_test(test_demo_fixtures_validate_without_errors),
        cmocka_unit_test(test_non_camel_case_target_is_a_warning),
        cmocka_unit_test(test_source_path_missing_from_samples_is_an_error),
        cmocka_unit_test(test_malformed_sample_is_an_error),
        cmocka_unit_test(test_event_data_the_mapping_never_produces_is_an_error),
        cmocka_unit_test(test_event_data_checked_against_rendered_samples),
        cmocka_unit_test(test_event_data_reads_identities_by_their_target),
        cmocka_unit_test(test_event_data_reading_a_source_namespace_names_the_target_keys),
        cmocka_unit_test(test_event_data_outside_identity_map_has_no_identity_hint),
        cmocka_unit_test(test_unknown_workflow_id_cannot_be_checked),
        cmocka_unit_test(test_event_data_path_that_does_not_compile_is_an_error),
        cmocka_unit_test(test_policy_label_violation_is_an_error_and_consent_is_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
