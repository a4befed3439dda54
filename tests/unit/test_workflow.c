/* test_workflow.c — one run of a workflow: event data, conditions, piped
 * text, tasks and the XM Directory they act on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qxm_config.h"
#include "qxm_workflow.h"

#define DEMO_CONFIG QX_SOURCE_DIR "/fixtures/workflows/demo.json"

/* The destination documentation's own example payload (SPEC §2), verbatim. */
static const char SEED_PAYLOAD[] =
    "{\"person\": {\"name\": {\"firstName\": \"Dave\"}},"
    " \"mobilePhone\": {\"number\": \"0123456789\"},"
    " \"identityMap\": {\"Email\": [{\"id\": \"Email-2Sf6C\"}]},"
    " \"segmentMembership\": {\"ups\": {"
    "  \"046456e3b-18e1-48a6-9bda-d68547861283\": {\"lastQualificationTime\": "
    "\"2023-09-05T10:43:55.602687Z\", \"status\": \"realized\"},"
    "  \"007844dd1-9e5d-4531-a4ee-05470doe759dd\": {\"lastQualificationTime\": "
    "\"2023-09-05T10:43:55.602689Z\", \"status\": \"realized\"}}}}";

/* The seed-example scenario's capture workflow: event data only. */
static const char CAPTURE_WORKFLOW[] =
    "{\"id\": \"WF_seed_example\", \"urlTokenId\": \"t-seed\","
    " \"eventData\": {\"firstName\": \"$.person.name.firstName\","
    "  \"email\": \"$.identityMap.Email[0].id\","
    "  \"segment1Status\": "
    "\"$.segmentMembership.ups['046456e3b-18e1-48a6-9bda-d68547861283'].status\","
    "  \"phone\": \"$.mobilePhone.number\", \"missing\": \"$.nothing.here\"},"
    " \"conditions\": [{\"field\": \"firstName\", \"op\": \"exists\"}]}";

/* A config holding one workflow given as JSON text; the test fails on error. */
static qxm_config *config_with(const char *workflow_json)
{
    char text[8192];
    snprintf(text, sizeof text, "{\"users\": [], \"workflows\": [%s]}", workflow_json);
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (root == NULL)
        fail_msg("test config JSON: %s", jerr.text);
    qx_error err;
    qxm_config *c = qxm_config_from_json(root, &err);
    json_decref(root);
    if (c == NULL)
        fail_msg("test config: %s", err.text);
    return c;
}

static qxm_config *demo_config(void)
{
    qx_error err;
    qxm_config *c = qxm_config_load_file(DEMO_CONFIG, &err);
    if (c == NULL)
        fail_msg("%s", err.text);
    return c;
}

static json_t *payload(const char *text)
{
    json_error_t jerr;
    json_t *p = json_loads(text, 0, &jerr);
    if (p == NULL)
        fail_msg("test payload: %s", jerr.text);
    return p;
}

/* Runs w on payload text with a fresh reference on the outcome. */
static json_t *run(const qxm_workflow *w, const char *payload_text, qxm_directory *d, qx_rng *rng)
{
    json_t *p = payload(payload_text);
    json_t *out = qxm_workflow_execute(w, p, d, rng);
    json_decref(p);
    assert_non_null(out);
    return out;
}

static const char *str(const json_t *o, const char *path_a, const char *path_b)
{
    const json_t *v = json_object_get(o, path_a);
    if (path_b != NULL)
        v = json_object_get(v, path_b);
    return json_string_value(v);
}

static json_t *task(const json_t *outcome, size_t i)
{
    return json_array_get(json_object_get(outcome, "tasks"), i);
}

static void assert_json_eq(const json_t *got, const char *want_text)
{
    json_t *want = json_loads(want_text, JSON_DECODE_ANY, NULL);
    assert_non_null(want);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS | JSON_ENCODE_ANY);
        fail_msg("got %s\nwant %s", g, want_text);
    }
    json_decref(want);
}

static const char *email_payload(const char *email, char *buf, size_t size)
{
    snprintf(buf, size,
             "{\"identityMap\": {\"Email\": [{\"id\": \"%s\"}]},"
             " \"person\": {\"name\": {\"firstName\": \"Dana\"}}}",
             email);
    return buf;
}

/* ---- event data and conditions ---- */

static void test_seed_payload_through_capture_workflow_succeeds(void **state)
{
    (void)state;
    qxm_config *c = config_with(CAPTURE_WORKFLOW);
    qxm_directory *d = qxm_directory_new();
    json_t *out = run(&c->workflows[0], SEED_PAYLOAD, d, NULL);
    assert_string_equal(str(out, "status", NULL), "SUCCESS");
    assert_true(json_is_true(json_object_get(out, "conditionsMet")));
    assert_true(json_is_null(json_object_get(out, "error")));
    assert_json_eq(json_object_get(out, "eventData"),
                   "{\"firstName\": \"Dave\", \"email\": \"Email-2Sf6C\","
                   " \"segment1Status\": \"realized\", \"phone\": \"0123456789\","
                   " \"missing\": null}");
    assert_json_eq(json_object_get(out, "conditions"),
                   "[{\"field\": \"firstName\", \"op\": \"exists\", \"actual\": \"Dave\","
                   " \"met\": true}]");
    assert_int_equal(json_array_size(json_object_get(out, "tasks")), 0);
    json_decref(out);
    qxm_directory_free(d);
    qxm_config_free(c);
}

/* "Email-2Sf6C" is the seed's placeholder, not an address: the XM Directory
 * task refuses it, as Qualtrics would, and with "continue" the distribution
 * still runs (and fails on the same email). */
static void test_seed_payload_through_demo_workflow_fails_on_its_placeholder_email(void **state)
{
    (void)state;
    qxm_config *c = demo_config();
    qxm_directory *d = qxm_directory_new();
    json_t *out = run(qxm_config_find_by_id(c, "WF_csat_purchase"), SEED_PAYLOAD, d, NULL);
    assert_string_equal(str(out, "status", NULL), "FAILURE");
    assert_true(json_is_true(json_object_get(out, "conditionsMet")));
    assert_json_eq(json_object_get(out, "eventData"),
                   "{\"email\": \"Email-2Sf6C\", \"firstName\": \"Dave\"}");
    assert_string_equal(str(out, "error", NULL),
                        "task 1 (xm_directory_contact): invalid email \"Email-2Sf6C\"");
    assert_string_equal(str(task(out, 0), "status", NULL), "FAILURE");
    assert_string_equal(str(task(out, 1), "status", NULL), "FAILURE");
    assert_string_equal(str(task(out, 1), "error", NULL), "invalid email \"Email-2Sf6C\"");
    assert_int_equal(qxm_directory_contacts(d), 0);
    json_decref(out);
    qxm_directory_free(d);
    qxm_config_free(c);
}

static void test_valid_email_runs_both_tasks(void **state)
{
    (void)state;
    char buf[512];
    qxm_config *c = demo_config();
    qxm_directory *d = qxm_directory_new();
    json_t *out =
        run(&c->workflows[0], email_payload("dana@example.com", buf, sizeof buf), d, NULL);
    assert_string_equal(str(out, "status", NULL), "SUCCESS");
    assert_true(json_is_null(json_object_get(out, "error")));
    json_t *t1 = task(out, 0), *t2 = task(out, 1);
    assert_string_equal(str(t1, "type", NULL), "xm_directory_contact");
    assert_string_equal(str(t1, "status", NULL), "SUCCESS");
    assert_true(json_is_null(json_object_get(t1, "error")));
    assert_json_eq(json_object_get(t1, "inputs"),
                   "{\"email\": \"dana@example.com\", \"firstName\": \"Dana\"}");
    assert_string_equal(str(t1, "result", "action"), "created");
    const char *cid = str(t1, "result", "contactId");
    assert_int_equal(strlen(cid), 4 + 15);
    assert_true(strncmp(cid, "CID_", 4) == 0);
    assert_string_equal(str(t2, "status", NULL), "SUCCESS");
    assert_string_equal(str(t2, "result", "surveyId"), "SV_abc");
    assert_string_equal(str(t2, "result", "email"), "dana@example.com");
    assert_string_equal(str(t2, "result", "subject"), "Hi Dana");
    const char *did = str(t2, "result", "distributionId");
    assert_int_equal(strlen(did), 4 + 15);
    assert_true(strncmp(did, "EMD_", 4) == 0);
    assert_int_equal(qxm_directory_contacts(d), 1);
    assert_int_equal(qxm_directory_distributions(d), 1);
    json_decref(out);
    qxm_directory_free(d);
    qxm_config_free(c);
}

static void test_missing_email_means_conditions_not_met_and_no_task(void **state)
{
    (void)state;
    qxm_config *c = demo_config();
    qxm_directory *d = qxm_directory_new();
    json_t *out = run(&c->workflows[0],
                      "{\"identityMap\": {\"external_id\": [{\"id\": \"123\"}]},"
                      " \"person\": {\"name\": {\"firstName\": \"Eve\"}}}",
                      d, NULL);
    assert_string_equal(str(out, "status", NULL), "SUCCESS");
    assert_true(json_is_false(json_object_get(out, "conditionsMet")));
    assert_true(json_is_null(json_object_get(out, "error")));
    assert_int_equal(json_array_size(json_object_get(out, "tasks")), 0);
    assert_json_eq(
        json_object_get(out, "conditions"),
        "[{\"field\": \"email\", \"op\": \"exists\", \"actual\": null, \"met\": false}]");
    assert_int_equal(qxm_directory_contacts(d), 0);
    assert_int_equal(qxm_directory_distributions(d), 0);
    json_decref(out);
    qxm_directory_free(d);
    qxm_config_free(c);
}

static void test_empty_string_does_not_exist(void **state)
{
    (void)state;
    char buf[512];
    qxm_config *c = demo_config();
    qxm_directory *d = qxm_directory_new();
    json_t *out = run(&c->workflows[0], email_payload("", buf, sizeof buf), d, NULL);
    assert_true(json_is_false(json_object_get(out, "conditionsMet")));
    json_decref(out);
    qxm_directory_free(d);
    qxm_config_free(c);
}

static const char OPS_WORKFLOW[] =
    "{\"id\": \"WF_ops\", \"urlTokenId\": \"t-ops\","
    " \"eventData\": {\"tags\": \"$.tags\", \"score\": \"$.score\", \"city\": \"$.city\","
    "  \"gone\": \"$.gone\"},"
    " \"conditions\": [{\"field\": \"tags\", \"op\": \"contains\", \"value\": \"vip\"},"
    "  {\"field\": \"tags\", \"op\": \"contains\", \"value\": 7},"
    "  {\"field\": \"city\", \"op\": \"contains\", \"value\": \"Frank\"},"
    "  {\"field\": \"score\", \"op\": \"equals\", \"value\": 5},"
    "  {\"field\": \"score\", \"op\": \"not_equals\", \"value\": \"5\"},"
    "  {\"field\": \"gone\", \"op\": \"not_exists\"},"
    "  {\"field\": \"city\", \"op\": \"equals\", \"value\": \"Frankfurt\"}]}";

/* Every op, one condition each; all hold for this payload. */
static void test_every_op_holds_on_matching_data(void **state)
{
    (void)state;
    qxm_config *c = config_with(OPS_WORKFLOW);
    qxm_directory *d = qxm_directory_new();
    json_t *out =
        run(&c->workflows[0],
            "{\"tags\": [\"new\", \"vip\", 7], \"score\": 5, \"city\": \"Frankfurt\"}", d, NULL);
    json_t *conds = json_object_get(out, "conditions");
    assert_int_equal(json_array_size(conds), 7);
    for (size_t i = 0; i < json_array_size(conds); i++)
        if (!json_is_true(json_object_get(json_array_get(conds, i), "met")))
            fail_msg("condition %zu not met", i);
    assert_true(json_is_true(json_object_get(out, "conditionsMet")));
    assert_json_eq(json_array_get(conds, 3),
                   "{\"field\": \"score\", \"op\": \"equals\", \"value\": 5, \"actual\": 5,"
                   " \"met\": true}");
    json_decref(out);
    qxm_directory_free(d);
    qxm_config_free(c);
}

/* Each condition is recorded even after one fails; any failing one means not met. */
static void test_every_op_fails_on_other_data(void **state)
{
    (void)state;
    qxm_config *c = config_with(OPS_WORKFLOW);
    qxm_directory *d = qxm_directory_new();
    json_t *out = run(&c->workflows[0],
                      "{\"tags\": [\"new\", \"vipx\", \"7\"], \"score\": 5.0, \"city\": \"Berlin\","
                      " \"gone\": \"here\"}",
                      d, NULL);
    json_t *conds = json_object_get(out, "conditions");
    assert_int_equal(json_array_size(conds), 7);
    /* score 5.0 is a real, not the integer 5: json_equal keeps them apart. */
    static const bool want[] = {false, false, false, false, true, false, false};
    for (size_t i = 0; i < 7; i++)
        if (json_is_true(json_object_get(json_array_get(conds, i), "met")) != want[i])
            fail_msg("condition %zu: met should be %d", i, want[i]);
    assert_true(json_is_false(json_object_get(out, "conditionsMet")));
    assert_string_equal(str(out, "status", NULL), "SUCCESS");
    json_decref(out);
    qxm_directory_free(d);
    qxm_config_free(c);
}

/* ---- tasks ---- */

static void test_invalid_email_fails_naming_task_1(void **state)
{
    (void)state;
    char buf[512];
    qxm_config *c = demo_config();
    qxm_directory *d = qxm_directory_new();
    json_t *out =
        run(&c->workflows[0], email_payload("carol(at)example.com", buf, sizeof buf), d, NULL);
    assert_string_equal(str(out, "status", NULL), "FAILURE");
    assert_string_equal(str(out, "error", NULL),
                        "task 1 (xm_directory_contact): invalid email \"carol(at)example.com\"");
    assert_string_equal(str(task(out, 0), "error", NULL), "invalid email \"carol(at)example.com\"");
    assert_true(json_is_null(json_object_get(task(out, 0), "result")));
    json_decref(out);
    qxm_directory_free(d);
    qxm_config_free(c);
}

/* An invalid address longer than the reason quotes, with a two-byte
 * character where the quote ends, is quoted up to the character before it:
 * the run fails with its reason (the reason is valid UTF-8), it is not lost. */
static void test_a_long_invalid_email_is_quoted_whole_characters(void **state)
{
    (void)state;
    char email[128], buf[512], want[256];
    memset(email, 'x', 99);
    memcpy(email + 99, "\xC3\xA9y", 4); /* 'é' across the 100th byte, 'y', NUL */
    qxm_config *c = demo_config();
    qxm_directory *d = qxm_directory_new();
    json_t *out = run(&c->workflows[0], email_payload(email, buf, sizeof buf), d, NULL);
    assert_non_null(out);
    assert_string_equal(str(out, "status", NULL), "FAILURE");
    snprintf(want, sizeof want, "invalid email \"%.99s...\"", email);
    assert_string_equal(str(task(out, 0), "error", NULL), want);
    json_decref(out);
    qxm_directory_free(d);
    qxm_config_free(c);
}

static const char TWO_TASKS[] =
    "{\"id\": \"WF_two\", \"urlTokenId\": \"t-two\", \"onTaskFailure\": \"%s\","
    " \"eventData\": {\"email\": \"$.email\", \"ext\": \"$.ext\"},"
    " \"tasks\": [{\"type\": \"email_distribution\", \"inputs\": {\"email\": \"~{aedj://email}\"}},"
    "  {\"type\": \"xm_directory_contact\", \"inputs\": {\"extRef\": \"~{aedj://ext}\"}}]}";

static void test_continue_runs_the_tasks_after_a_failure(void **state)
{
    (void)state;
    char wf[1024];
    snprintf(wf, sizeof wf, TWO_TASKS, "continue");
    qxm_config *c = config_with(wf);
    qxm_directory *d = qxm_directory_new();
    json_t *out =
        run(&c->workflows[0], "{\"email\": \"a@example.com\", \"ext\": \"E-1\"}", d, NULL);
    assert_string_equal(str(out, "status", NULL), "FAILURE");
    /* The distribution task has no surveyId. */
    assert_string_equal(str(out, "error", NULL),
                        "task 1 (email_distribution): no surveyId: the task has no survey to send");
    assert_string_equal(str(task(out, 0), "status", NULL), "FAILURE");
    assert_string_equal(str(task(out, 1), "status", NULL), "SUCCESS");
    assert_string_equal(str(task(out, 1), "result", "action"), "created");
    assert_int_equal(qxm_directory_contacts(d), 1);
    json_decref(out);
    qxm_directory_free(d);
    qxm_config_free(c);
}

static void test_stop_skips_the_tasks_after_a_failure(void **state)
{
    (void)state;
    char wf[1024];
    snprintf(wf, sizeof wf, TWO_TASKS, "stop");
    qxm_config *c = config_with(wf);
    qxm_directory *d = qxm_directory_new();
    json_t *out =
        run(&c->workflows[0], "{\"email\": \"a@example.com\", \"ext\": \"E-1\"}", d, NULL);
    assert_string_equal(str(out, "status", NULL), "FAILURE");
    assert_string_equal(str(task(out, 0), "status", NULL), "FAILURE");
    assert_string_equal(str(task(out, 1), "status", NULL), "SKIPPED");
    assert_true(json_is_null(json_object_get(task(out, 1), "error")));
    assert_true(json_is_null(json_object_get(task(out, 1), "result")));
    assert_int_equal(qxm_directory_contacts(d), 0);
    json_decref(out);
    qxm_directory_free(d);
    qxm_config_free(c);
}

static void test_error_names_the_first_failed_task(void **state)
{
    (void)state;
    qxm_config *c = config_with(
        "{\"id\": \"WF_x\", \"urlTokenId\": \"t\", \"eventData\": {\"e\": \"$.e\"},"
        " \"tasks\": [{\"type\": \"xm_directory_contact\", \"inputs\": {\"extRef\": \"X1\"}},"
        "  {\"type\": \"email_distribution\", \"surveyId\": \"SV_1\","
        "   \"inputs\": {\"email\": \"~{aedj://e}\"}},"
        "  {\"type\": \"xm_directory_contact\", \"inputs\": {\"email\": \"~{aedj://e}\"}}]}");
    qxm_directory *d = qxm_directory_new();
    json_t *out = run(&c->workflows[0], "{}", d, NULL);
    assert_string_equal(str(out, "status", NULL), "FAILURE");
    assert_string_equal(
        str(out, "error", NULL),
        "task 2 (email_distribution): no email to send to: input \"email\" is empty");
    assert_string_equal(str(task(out, 2), "error", NULL),
                        "needs a valid email or an extRef, and both inputs are empty");
    json_decref(out);
    qxm_directory_free(d);
    qxm_config_free(c);
}

static void test_directory_creates_then_updates_a_contact(void **state)
{
    (void)state;
    char buf[512];
    qxm_config *c = demo_config();
    qxm_directory *d = qxm_directory_new();
    json_t *first =
        run(&c->workflows[0], email_payload("dana@example.com", buf, sizeof buf), d, NULL);
    json_t *again = run(&c->workflows[0],
                        "{\"identityMap\": {\"Email\": [{\"id\": \"Dana@Example.COM\"}]},"
                        " \"person\": {\"name\": {\"firstName\": \"Danielle\"}}}",
                        d, NULL);
    assert_string_equal(str(task(first, 0), "result", "action"), "created");
    assert_string_equal(str(task(again, 0), "result", "action"), "updated");
    assert_string_equal(str(task(first, 0), "result", "contactId"),
                        str(task(again, 0), "result", "contactId"));
    assert_int_equal(qxm_directory_contacts(d), 1);
    assert_int_equal(qxm_directory_distributions(d), 2);
    json_t *contact = qxm_directory_lookup(d, "DANA@example.com", NULL);
    assert_non_null(contact);
    assert_string_equal(str(contact, "firstName", NULL), "Danielle");
    assert_string_equal(str(contact, "email", NULL), "Dana@Example.COM");
    assert_string_equal(str(contact, "contactId", NULL),
                        str(task(first, 0), "result", "contactId"));
    json_decref(contact);
    assert_null(qxm_directory_lookup(d, "other@example.com", NULL));

    qxm_directory_reset(d);
    assert_int_equal(qxm_directory_contacts(d), 0);
    assert_int_equal(qxm_directory_distributions(d), 0);
    assert_null(qxm_directory_lookup(d, "dana@example.com", NULL));
    json_decref(first);
    json_decref(again);
    qxm_directory_free(d);
    qxm_config_free(c);
}

static void test_external_id_workflow_keys_contacts_by_ext_ref(void **state)
{
    (void)state;
    qxm_config *c = demo_config();
    qxm_directory *d = qxm_directory_new();
    const qxm_workflow *w = qxm_config_find_by_id(c, "WF_app_feedback_extid");
    json_t *out =
        run(w,
            "{\"identityMap\": {\"external_id\": [{\"id\": \"72094518263591028374650192837465\"}]},"
            " \"person\": {\"name\": {\"firstName\": \"Finn\"}}}",
            d, NULL);
    assert_string_equal(str(out, "status", NULL), "SUCCESS");
    assert_string_equal(str(task(out, 0), "result", "action"), "created");
    json_t *contact = qxm_directory_lookup(d, NULL, "72094518263591028374650192837465");
    assert_non_null(contact);
    assert_string_equal(str(contact, "firstName", NULL), "Finn");
    assert_null(json_object_get(contact, "email"));
    json_decref(contact);

    /* No external_id: the condition does not hold. */
    json_t *none = run(w, "{\"identityMap\": {\"Email\": [{\"id\": \"x@example.com\"}]}}", d, NULL);
    assert_true(json_is_false(json_object_get(none, "conditionsMet")));
    json_decref(none);
    json_decref(out);
    qxm_directory_free(d);
    qxm_config_free(c);
}

/* "externalId" stands for extRef; inputs without a column become embedded
 * data; a contact found by extRef gains the email it is then given, and an
 * input that expands to "" leaves the stored value alone. */
static void test_contact_inputs_alias_and_embedded_data(void **state)
{
    (void)state;
    qxm_config *c = config_with(
        "{\"id\": \"WF_c\", \"urlTokenId\": \"t\","
        " \"eventData\": {\"id\": \"$.id\", \"email\": \"$.email\", \"plan\": \"$.plan\"},"
        " \"tasks\": [{\"type\": \"xm_directory_contact\", \"inputs\": {"
        "  \"externalId\": \"~{aedj://id}\", \"email\": \"~{aedj://email}\","
        "  \"lastName\": \"Doe\", \"plan\": \"~{aedj://plan}\"}}]}");
    qxm_directory *d = qxm_directory_new();
    json_t *a = run(&c->workflows[0], "{\"id\": \"E-9\", \"plan\": \"gold\"}", d, NULL);
    assert_string_equal(str(a, "status", NULL), "SUCCESS");
    json_t *b = run(&c->workflows[0], "{\"id\": \"E-9\", \"email\": \"j@example.com\"}", d, NULL);
    assert_string_equal(str(task(b, 0), "result", "action"), "updated");
    assert_int_equal(qxm_directory_contacts(d), 1);
    json_t *contact = qxm_directory_lookup(d, "J@example.com", NULL);
    assert_non_null(contact);
    assert_string_equal(str(contact, "extRef", NULL), "E-9");
    assert_string_equal(str(contact, "lastName", NULL), "Doe");
    assert_json_eq(json_object_get(contact, "embeddedData"), "{\"plan\": \"gold\"}");
    json_decref(contact);
    json_decref(a);
    json_decref(b);
    qxm_directory_free(d);
    qxm_config_free(c);
}

static void test_seeded_rng_gives_the_same_ids_twice(void **state)
{
    (void)state;
    char buf[512];
    qxm_config *c = demo_config();
    char ids[2][2][32];
    for (int round = 0; round < 2; round++) {
        qxm_directory *d = qxm_directory_new();
        qx_rng *rng = qx_rng_new(42);
        json_t *out =
            run(&c->workflows[0], email_payload("dana@example.com", buf, sizeof buf), d, rng);
        snprintf(ids[round][0], 32, "%s", str(task(out, 0), "result", "contactId"));
        snprintf(ids[round][1], 32, "%s", str(task(out, 1), "result", "distributionId"));
        json_decref(out);
        qx_rng_free(rng);
        qxm_directory_free(d);
    }
    assert_string_equal(ids[0][0], ids[1][0]);
    assert_string_equal(ids[0][1], ids[1][1]);
    assert_string_not_equal(ids[0][0] + 4, ids[0][1] + 4);
    for (const char *p = ids[0][0] + 4; *p; p++)
        assert_true((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9'));
    qxm_config_free(c);
}

static void test_without_rng_ids_come_from_a_counter(void **state)
{
    (void)state;
    qxm_directory *d = qxm_directory_new();
    json_t *fields = json_pack("{s:s}", "extRef", "A");
    json_t *r1 = qxm_directory_upsert_contact(d, fields, NULL, NULL);
    json_decref(fields);
    fields = json_pack("{s:s}", "extRef", "B");
    json_t *r2 = qxm_directory_upsert_contact(d, fields, NULL, NULL);
    json_decref(fields);
    assert_string_equal(str(r1, "contactId", NULL), "CID_000000000000001");
    assert_string_equal(str(r2, "contactId", NULL), "CID_000000000000002");
    json_t *dist = qxm_directory_add_distribution(d, "SV_1", "a@example.com", NULL, NULL);
    assert_json_eq(dist, "{\"distributionId\": \"EMD_000000000000001\", \"surveyId\": \"SV_1\","
                         " \"email\": \"a@example.com\"}");
    qx_error err;
    fields = json_object();
    assert_null(qxm_directory_upsert_contact(d, fields, NULL, &err));
    assert_string_equal(err.text, "needs an email or an extRef");
    json_decref(fields);
    json_decref(dist);
    json_decref(r1);
    json_decref(r2);
    qxm_directory_free(d);
    qxm_directory_free(NULL);
}

typedef struct upsert_job {
    qxm_directory *d;
    int base;
} upsert_job;

static void *upsert_many(void *arg)
{
    upsert_job *job = arg;
    char email[64];
    for (int i = 0; i < 200; i++) {
        /* Half the addresses are shared with the other threads. */
        snprintf(email, sizeof email, "u%d@example.com", i % 2 == 0 ? i : job->base + i);
        json_t *fields = json_pack("{s:s}", "email", email);
        json_t *r = qxm_directory_upsert_contact(job->d, fields, NULL, NULL);
        json_decref(r);
        json_decref(fields);
    }
    return NULL;
}

static void test_directory_is_safe_across_threads(void **state)
{
    (void)state;
    qxm_directory *d = qxm_directory_new();
    pthread_t th[4];
    upsert_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (upsert_job){.d = d, .base = (i + 1) * 1000};
        assert_int_equal(pthread_create(&th[i], NULL, upsert_many, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    /* 100 shared even addresses + 4 x 100 odd ones of each thread. */
    assert_int_equal(qxm_directory_contacts(d), 100 + 400);
    qxm_directory_free(d);
}

/* ---- piped text ---- */

static void expect_expand(const char *tmpl, const json_t *data, const char *want)
{
    char *got = qxm_pipe_expand(tmpl, data);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_pipe_expand_strings_numbers_and_missing_fields(void **state)
{
    (void)state;
    json_t *data = json_pack("{s:s, s:I, s:f, s:f, s:b, s:n, s:[i,s], s:s}", "name", "Dave", "n",
                             (json_int_t)-42, "pi", 3.25, "tenth", 0.1, "yes", 1, "nothing", "list",
                             1, "a", "empty", "");
    expect_expand("Hi ~{aedj://name}!", data, "Hi Dave!");
    expect_expand("~{aedj://n}/~{aedj://pi}/~{aedj://tenth}", data, "-42/3.25/0.1");
    expect_expand("~{aedj://yes}", data, "true");
    expect_expand("[~{aedj://nothing}][~{aedj://absent}][~{aedj://empty}]", data, "[][][]");
    expect_expand("~{aedj://list}", data, "[1,\"a\"]");
    expect_expand("~{aedj://name}~{aedj://name}", data, "DaveDave");
    expect_expand("no piping here", data, "no piping here");
    expect_expand("", data, "");
    expect_expand("open ~{aedj://name", data, "open ~{aedj://name");
    expect_expand("~{other://name} ~{aedj://name}", data, "~{other://name} Dave");
    expect_expand("~{aedj://name}", NULL, "");
    json_decref(data);
}

static void test_piped_inputs_appear_expanded_in_the_run(void **state)
{
    (void)state;
    qxm_config *c = config_with(
        "{\"id\": \"WF_p\", \"urlTokenId\": \"t\", \"eventData\": {\"e\": \"$.e\", \"n\": \"$.n\","
        " \"x\": \"$.x\"},"
        " \"tasks\": [{\"type\": \"email_distribution\", \"surveyId\": \"SV_p\", \"inputs\": {"
        "  \"email\": \"~{aedj://e}\", \"subject\": \"Order ~{aedj://n}~{aedj://x}\"}}]}");
    qxm_directory *d = qxm_directory_new();
    json_t *out = run(&c->workflows[0], "{\"e\": \"z@example.com\", \"n\": 1234}", d, NULL);
    assert_json_eq(json_object_get(task(out, 0), "inputs"),
                   "{\"email\": \"z@example.com\", \"subject\": \"Order 1234\"}");
    assert_string_equal(str(task(out, 0), "result", "subject"), "Order 1234");
    json_decref(out);
    qxm_directory_free(d);
    qxm_config_free(c);
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

/* Every run cut short by a failed allocation returns NULL or a whole
 * outcome, and leaks nothing (the sanitizer or valgrind checks that). */
static void test_execute_survives_allocation_failures(void **state)
{
    (void)state;
    char buf[512];
    qxm_config *c = demo_config();
    qxm_directory *d = qxm_directory_new();
    json_t *p = payload(email_payload("dana@example.com", buf, sizeof buf));
    json_set_alloc_funcs(failing_malloc, free);
    long n;
    for (n = 0; n < 10000; n++) {
        qxm_directory_reset(d);
        allocs_left = n;
        json_t *out = qxm_workflow_execute(&c->workflows[0], p, d, NULL);
        bool exhausted = allocs_left == 0;
        allocs_left = -1;
        if (out != NULL) {
            assert_non_null(json_object_get(out, "status"));
            assert_non_null(json_object_get(out, "tasks"));
        }
        json_decref(out);
        if (!exhausted) {
            /* Nothing failed this time: every failure point was tried. */
            assert_non_null(out);
            break;
        }
    }
    json_set_alloc_funcs(malloc, free);
    print_message("tried %ld allocation failure points\n", n);
    assert_true(n > 10 && n < 10000);
    json_decref(p);
    qxm_directory_free(d);
    qxm_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_payload_through_capture_workflow_succeeds),
        cmocka_unit_test(test_seed_payload_through_demo_workflow_fails_on_its_placeholder_email),
        cmocka_unit_test(test_valid_email_runs_both_tasks),
        cmocka_unit_test(test_missing_email_means_conditions_not_met_and_no_task),
        cmocka_unit_test(test_empty_string_does_not_exist),
        cmocka_unit_test(test_every_op_holds_on_matching_data),
        cmocka_unit_test(test_every_op_fails_on_other_data),
        cmocka_unit_test(test_invalid_email_fails_naming_task_1),
        cmocka_unit_test(test_a_long_invalid_email_is_quoted_whole_characters),
        cmocka_unit_test(test_continue_runs_the_tasks_after_a_failure),
        cmocka_unit_test(test_stop_skips_the_tasks_after_a_failure),
        cmocka_unit_test(test_error_names_the_first_failed_task),
        cmocka_unit_test(test_directory_creates_then_updates_a_contact),
        cmocka_unit_test(test_external_id_workflow_keys_contacts_by_ext_ref),
        cmocka_unit_test(test_contact_inputs_alias_and_embedded_data),
        cmocka_unit_test(test_seeded_rng_gives_the_same_ids_twice),
        cmocka_unit_test(test_without_rng_ids_come_from_a_counter),
        cmocka_unit_test(test_directory_is_safe_across_threads),
        cmocka_unit_test(test_pipe_expand_strings_numbers_and_missing_fields),
        cmocka_unit_test(test_piped_inputs_appear_expanded_in_the_run),
        cmocka_unit_test(test_execute_survives_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
