/*
 * test_capture.c — capture event in the engine (engine/capture.c,
 * engine/capture_fields.c): a sample's leaves as JSONPath (bracket notation,
 * arrays, nesting, document order, each path reading back to its value),
 * the eventData names made from them, and arming, taking, expiring and
 * waiting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_jsonpath.h"
#include "qxm_capture.h"

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    if (v == NULL)
        fail_msg("bad test JSON: %s", jerr.text);
    return v;
}

/* The "path" of every field, one per line. */
static char *paths_of(json_t *fields)
{
    static char out[4096];
    size_t len = 0;
    size_t i;
    json_t *f;
    out[0] = '\0';
    json_array_foreach(fields, i, f)
    {
        len += (size_t)snprintf(out + len, sizeof out - len, "%s\n",
                                json_string_value(json_object_get(f, "path")));
    }
    return out;
}

/* Every field's path compiles and extracts exactly its value from doc. */
static void assert_paths_read_back(json_t *doc, json_t *fields)
{
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f)
    {
        const char *path = json_string_value(json_object_get(f, "path"));
        qx_error err;
        qx_jsonpath *p = qx_jsonpath_compile(path, &err);
        if (p == NULL)
            fail_msg("%s does not compile: %s", path, err.text);
        assert_true(qx_jsonpath_is_singular(p));
        json_t *got = qx_jsonpath_extract(p, doc);
        if (!json_equal(got, json_object_get(f, "value")))
            fail_msg("%s does not read back to its value", path);
        json_decref(got);
        qx_jsonpath_free(p);
    }
}

static const char seed[] =
    "{\"person\": {\"name\": {\"firstName\": \"Dave\"}},"
    " \"mobilePhone\": {\"number\": \"0123456789\"},"
    " \"identityMap\": {\"Email\": [{\"id\": \"Email-2Sf6C\"}]},"
    " \"segmentMembership\": {\"ups\": {"
    "  \"046456e3b-18e1\": {\"lastQualificationTime\": \"2023-09-05T10:43:55Z\","
    " \"status\": \"realized\"}}}}";

static void test_fields_list_nested_leaves_and_arrays_in_document_order(void **state)
{
    (void)state;
    json_t *doc = parse(seed);
    json_t *fields = qxm_capture_fields(doc);
    assert_non_null(fields);
    assert_string_equal(paths_of(fields),
                        "$.person.name.firstName\n"
                        "$.mobilePhone.number\n"
                        "$.identityMap.Email[0].id\n"
                        "$.segmentMembership.ups['046456e3b-18e1'].lastQualificationTime\n"
                        "$.segmentMembership.ups['046456e3b-18e1'].status\n");
    json_t *third = json_array_get(fields, 2);
    assert_string_equal(json_string_value(json_object_get(third, "value")), "Email-2Sf6C");
    assert_string_equal(json_string_value(json_object_get(third, "type")), "string");
    assert_paths_read_back(doc, fields);
    json_decref(fields);
    json_decref(doc);
}

static void test_fields_keep_the_order_of_the_text_not_sorted(void **state)
{
    (void)state;
    json_t *doc = parse("{\"zeta\": 1, \"alpha\": [3, [4, 5]], \"mid\": {\"b\": 6, \"a\": 7}}");
    json_t *fields = qxm_capture_fields(doc);
    assert_string_equal(paths_of(fields), "$.zeta\n$.alpha[0]\n$.alpha[1][0]\n$.alpha[1][1]\n"
                                          "$.mid.b\n$.mid.a\n");
    assert_paths_read_back(doc, fields);
    json_decref(fields);
    json_decref(doc);
}

static void test_fields_use_brackets_for_names_that_are_not_identifiers(void **state)
{
    (void)state;
    json_t *doc = parse("{\"a b\": 1, \"it's\": 2, \"back\\\\slash\": 3, \"\": 4, \"1st\": 5,"
                        " \"caf\\u00e9\": 6, \"tab\\there\": 7, \"dash-ed\": {\"_ok9\": 8},"
                        " \"ctl\\u0001\": 9}");
    json_t *fields = qxm_capture_fields(doc);
    assert_string_equal(paths_of(fields), "$['a b']\n"
                                          "$['it\\'s']\n"
                                          "$['back\\\\slash']\n"
                                          "$['']\n"
                                          "$['1st']\n"
                                          "$['caf\xc3\xa9']\n"
                                          "$['tab\\there']\n"
                                          "$['dash-ed']._ok9\n"
                                          "$['ctl\\u0001']\n");
    assert_paths_read_back(doc, fields);
    json_decref(fields);
    json_decref(doc);
}

static void test_fields_give_types_and_empty_containers_as_leaves(void **state)
{
    (void)state;
    json_t *doc = parse("{\"s\": \"x\", \"i\": 3, \"r\": 1.5, \"t\": true, \"f\": false,"
                        " \"n\": null, \"o\": {}, \"l\": []}");
    json_t *fields = qxm_capture_fields(doc);
    const char *types[] = {"string",  "number", "number", "boolean",
                           "boolean", "null",   "object", "array"};
    assert_int_equal(json_array_size(fields), 8);
    for (size_t i = 0; i < 8; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(fields, i), "type")),
                            types[i]);
    assert_paths_read_back(doc, fields);
    json_decref(fields);
    json_decref(doc);

    json_t *scalar = json_integer(42);
    fields = qxm_capture_fields(scalar);
    assert_string_equal(paths_of(fields), "$\n");
    json_decref(fields);
    json_decref(scalar);
}

static void test_event_data_names_each_leaf_uniquely_from_its_last_member(void **state)
{
    (void)state;
    json_t *doc =
        parse("{\"identityMap\": {\"Email\": [{\"id\": \"e\"}], \"ECID\": [{\"id\": \"c\"}]},"
              " \"person\": {\"first name\": \"D\"}, \"tags\": [\"a\", \"b\"],"
              " \"1st\": 1, \"\": 2, \"id2\": 3, \"x\": {\"it's\": 4}}");
    json_t *fields = qxm_capture_fields(doc);
    json_t *names = qxm_capture_event_data(fields);
    json_t *want = parse("{\"id\": \"$.identityMap.Email[0].id\","
                         " \"id2\": \"$.identityMap.ECID[0].id\","
                         " \"firstName\": \"$.person['first name']\","
                         " \"tags\": \"$.tags[0]\", \"tags2\": \"$.tags[1]\","
                         " \"field1st\": \"$['1st']\", \"field\": \"$['']\","
                         " \"id22\": \"$.id2\", \"itS\": \"$.x['it\\\\'s']\"}");
    char *got_text = json_dumps(names, JSON_SORT_KEYS);
    char *want_text = json_dumps(want, JSON_SORT_KEYS);
    assert_string_equal(got_text, want_text);
    /* in the order of the fields */
    const char *first = json_object_iter_key(json_object_iter(names));
    assert_string_equal(first, "id");
    free(got_text);
    free(want_text);
    json_decref(want);
    json_decref(names);
    json_decref(fields);
    json_decref(doc);
}

static void test_armed_capture_takes_one_sample_then_disarms(void **state)
{
    (void)state;
    qxm_capture *c = qxm_capture_new(2);
    json_t *doc = parse("{\"a\": 1}");
    assert_false(qxm_capture_is_armed(c, 0));
    assert_false(qxm_capture_take(c, 0, doc));
    uint64_t arm = qxm_capture_arm(c, 0, 60000);
    assert_true(qxm_capture_is_armed(c, 0));
    assert_false(qxm_capture_is_armed(c, 1));
    assert_true(qxm_capture_take(c, 0, doc));
    assert_false(qxm_capture_take(c, 0, doc)); /* one sample per arming */
    assert_int_equal(qxm_capture_wait(c, 0, arm), QXM_CAPTURE_CAPTURED);
    json_t *st = qxm_capture_state(c, 0);
    assert_false(json_boolean_value(json_object_get(st, "armed")));
    assert_true(json_is_null(json_object_get(st, "expiresAt")));
    assert_true(json_equal(json_object_get(st, "sample"), doc));
    assert_int_equal(json_array_size(json_object_get(st, "fields")), 1);
    json_decref(st);
    /* disarming keeps the sample */
    (void)qxm_capture_arm(c, 0, 60000);
    assert_true(qxm_capture_disarm(c, 0));
    assert_false(qxm_capture_disarm(c, 0));
    json_t *sample = qxm_capture_sample(c, 0);
    assert_true(json_equal(sample, doc));
    json_decref(sample);
    assert_null(qxm_capture_sample(c, 1));
    json_decref(doc);
    qxm_capture_free(c);
}

static void test_armed_state_shows_expiry_and_no_sample(void **state)
{
    (void)state;
    qxm_capture *c = qxm_capture_new(1);
    (void)qxm_capture_arm(c, 0, 60000);
    json_t *st = qxm_capture_state(c, 0);
    assert_true(json_boolean_value(json_object_get(st, "armed")));
    assert_true(json_is_string(json_object_get(st, "expiresAt")));
    assert_true(json_is_null(json_object_get(st, "sample")));
    assert_int_equal(json_array_size(json_object_get(st, "fields")), 0);
    json_decref(st);
    qxm_capture_free(c);
}

static void test_wait_ends_at_expiry_and_an_expired_capture_takes_nothing(void **state)
{
    (void)state;
    qxm_capture *c = qxm_capture_new(1);
    uint64_t arm = qxm_capture_arm(c, 0, 20);
    /* woken by its deadline, not by polling */
    assert_int_equal(qxm_capture_wait(c, 0, arm), QXM_CAPTURE_EXPIRED);
    assert_false(qxm_capture_is_armed(c, 0));
    json_t *doc = parse("{}");
    assert_false(qxm_capture_take(c, 0, doc));
    json_decref(doc);
    qxm_capture_free(c);
}

typedef struct waiter {
    qxm_capture *c;
    uint64_t arm;
    qxm_capture_end end;
} waiter;

static void *wait_thread(void *arg)
{
    waiter *w = arg;
    w->end = qxm_capture_wait(w->c, 0, w->arm);
    return NULL;
}

static void test_waiter_is_woken_by_a_take_or_a_new_arming(void **state)
{
    (void)state;
    qxm_capture *c = qxm_capture_new(1);
    json_t *doc = parse("{\"k\": true}");
    waiter w = {.c = c, .arm = qxm_capture_arm(c, 0, 600000)};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wait_thread, &w), 0);
    assert_true(qxm_capture_take(c, 0, doc));
    pthread_join(t, NULL);
    assert_int_equal(w.end, QXM_CAPTURE_CAPTURED);

    w.arm = qxm_capture_arm(c, 0, 600000);
    assert_int_equal(pthread_create(&t, NULL, wait_thread, &w), 0);
    (void)qxm_capture_arm(c, 0, 600000); /* replaces the arming waited on */
    pthread_join(t, NULL);
    assert_int_equal(w.end, QXM_CAPTURE_DISARMED);
    json_decref(doc);
    qxm_capture_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_list_nested_leaves_and_arrays_in_document_order),
        cmocka_unit_test(test_fields_keep_the_order_of_the_text_not_sorted),
        cmocka_unit_test(test_fields_use_brackets_for_names_that_are_not_identifiers),
        cmocka_unit_test(test_fields_give_types_and_empty_containers_as_leaves),
        cmocka_unit_test(test_event_data_names_each_leaf_uniquely_from_its_last_member),
        cmocka_unit_test(test_armed_capture_takes_one_sample_then_disarms),
        cmocka_unit_test(test_armed_state_shows_expiry_and_no_sample),
        cmocka_unit_test(test_wait_ends_at_expiry_and_an_expired_capture_takes_nothing),
        cmocka_unit_test(test_waiter_is_woken_by_a_take_or_a_new_arming),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
