/* test_json_write.c — the compact writer (core/json_write.c) writes exactly
 * what json_dumps(JSON_COMPACT) writes, for hand-picked edge cases, every
 * JSON file of the fixtures, and seeded random documents; minifying a text
 * keeps it as written, less the whitespace between tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_json_write.h"
#include "qx_rng.h"

/* Fails unless the writer and jansson agree on v. */
static void same_as_jansson(const json_t *v)
{
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    char *got = qx_json_compact(v, NULL);
    assert_non_null(want);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(want);
    free(got);
}

static void test_scalars_and_edge_values(void **state)
{
    (void)state;
    json_t *values[] = {
        json_null(),
        json_true(),
        json_false(),
        json_integer(0),
        json_integer(-42),
        json_integer(INT64_MAX),
        json_integer(INT64_MIN),
        json_real(0.1),
        json_real(1.0),
        json_real(-0.0),
        json_real(1e300),
        json_real(-2.5e-300),
        json_real(123456789012345678.0),
        json_real(3.141592653589793),
        json_string(""),
        json_string("plain"),
        json_string("quote \" backslash \\ slash / tab \t nl \n cr \r bs \b ff \f"),
        json_string("\x01\x1f\x7f"),
        json_string("é ü 日本 😀"),
        json_stringn("nul\0inside", 10),
        json_object(),
        json_array(),
    };
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        assert_non_null(values[i]);
        same_as_jansson(values[i]);
        json_decref(values[i]);
    }
}

static void test_skip_leaves_out_top_level_keys_only(void **state)
{
    (void)state;
    json_t *doc = json_pack("{s:s, s:s, s:{s:s, s:i}, s:i}", "id", "RUN_1", "status", "SUCCESS",
                            "payload", "status", "kept", "n", 1, "finishedAt", 5);
    static const char *const skip[] = {"status", "finishedAt", NULL};
    char *got = qx_json_compact(doc, skip);
    assert_string_equal(got, "{\"id\":\"RUN_1\",\"payload\":{\"status\":\"kept\",\"n\":1}}");
    free(got);
    /* Skipping the first key leaves no stray comma. */
    static const char *const first[] = {"id", NULL};
    got = qx_json_compact(doc, first);
    assert_int_equal(got[1], '"');
    json_t *back = json_loads(got, 0, NULL);
    assert_non_null(back);
    assert_null(json_object_get(back, "id"));
    assert_int_equal(json_object_size(back), 3);
    json_decref(back);
    free(got);
    json_decref(doc);
}

static void test_buffer_appends_and_keeps_text_terminated(void **state)
{
    (void)state;
    qx_buf b = {0};
    assert_int_equal(qx_buf_add(&b, "x=", 2), 0);
    json_t *v = json_pack("[i, s]", 1, "two");
    for (int i = 0; i < 200; i++) /* past several reallocations */
        assert_int_equal(qx_json_write(&b, v, NULL), 0);
    assert_int_equal(b.len, 2 + 200 * strlen("[1,\"two\"]"));
    assert_int_equal(strlen(b.data), b.len);
    assert_memory_equal(b.data, "x=[1,\"two\"][1,", 14);
    json_decref(v);
    free(b.data);
}

/* Every .json file under dir (recursively). */
static size_t check_files(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0) {
            json_t *v = json_load_file(path, JSON_DECODE_ANY, NULL);
            if (v != NULL) {
                same_as_jansson(v);
                json_decref(v);
                n++;
            }
        } else if (de->d_type == DT_DIR) {
            n += check_files(path);
        }
    }
    closedir(d);
    return n;
}

static void test_every_fixture_file(void **state)
{
    (void)state;
    size_t n = check_files(QX_SOURCE_DIR "/fixtures") + check_files(QX_SOURCE_DIR "/tests/data");
    assert_true(n >= 10);
}

/* A random value of at most depth levels, drawn from rng. */
static json_t *random_value(qx_rng *rng, int depth)
{
    static const char *const pieces[] = {"a", "é", "\"", "\\", "\n", "\x02", "日", "😀", "/", " "};
    unsigned kind = (unsigned)(qx_rng_next(rng) % (depth > 0 ? 8 : 6));
    switch (kind) {
    case 0:
        return json_null();
    case 1:
        return json_boolean(qx_rng_next(rng) & 1);
    case 2:
        return json_integer((json_int_t)qx_rng_next(rng));
    case 3: {
        double d = (double)(int64_t)qx_rng_next(rng) / (double)(1 + (qx_rng_next(rng) % 1000000));
        return json_real(d);
    }
    case 4:
    case 5: {
        char s[64] = "";
        size_t n = qx_rng_next(rng) % 8;
        for (size_t i = 0; i < n; i++)
            strcat(s, pieces[qx_rng_next(rng) % 10]);
        return json_string(s);
    }
    case 6: {
        json_t *a = json_array();
        size_t n = qx_rng_next(rng) % 5;
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, random_value(rng, depth - 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        size_t n = qx_rng_next(rng) % 5;
        for (size_t i = 0; i < n; i++) {
            char key[16];
            snprintf(key, sizeof key, "%s%zu", pieces[qx_rng_next(rng) % 10], i);
            json_object_set_new(o, key, random_value(rng, depth - 1));
        }
        return o;
    }
    }
}

static void test_random_documents(void **state)
{
    (void)state;
    qx_rng *rng = qx_rng_new(20261129);
    assert_non_null(rng);
    for (int i = 0; i < 2000; i++) {
        json_t *v = random_value(rng, 5);
        assert_non_null(v);
        same_as_jansson(v);
        json_decref(v);
    }
    qx_rng_free(rng);
}

/* A string written alone is written as in a document: jansson's text of a
 * JSON string holding the same bytes (quotes, escapes, UTF-8, NUL inside). */
static void test_string_alone_as_in_a_document(void **state)
{
    (void)state;
    static const char *const cases[] = {"",
                                        "RUN_0123456789abcde",
                                        "say \"hi\"\\ /x",
                                        "tab\tnl\n\x01\x1f",
                                        "caf\xc3\xa9 \xe2\x82\xac",
                                        "WF_<b>&'"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qx_buf b = {0};
        assert_int_equal(qx_json_write_string(&b, cases[i], strlen(cases[i])), 0);
        json_t *v = json_string(cases[i]);
        char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        assert_string_equal(b.data, want);
        free(want);
        json_decref(v);
        qx_buf_free(&b);
    }
    qx_buf b = {0};
    assert_int_equal(qx_json_write_string(&b, "a\0b", 3), 0);
    assert_string_equal(b.data, "\"a\\u0000b\"");
    qx_buf_free(&b);
}

/* Minifying drops the whitespace between tokens and nothing else: the
 * sender's key order, duplicate keys, number forms and escapes stay, and
 * so does whitespace inside strings, after escaped quotes and backslashes
 * too. */
static void test_minify_keeps_the_text_as_written(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {" { \"b\" : [ 1 , 2.50 , 1e2, -0 ] ,\n\t\"a\" : \"x  y\" }\r\n",
         "{\"b\":[1,2.50,1e2,-0],\"a\":\"x  y\"}"},
        {"{\"q\\\" \" : \" \\\\\" , \"k\": \"\\u00e9 \\/\" }",
         "{\"q\\\" \":\" \\\\\",\"k\":\"\\u00e9 \\/\"}"},
        {"{\"k\": 1, \"k\" : 2}", "{\"k\":1,\"k\":2}"},
        {"[ ]", "[]"},
        {"\"caf\xc3\xa9 \xe2\x82\xac\"", "\"caf\xc3\xa9 \xe2\x82\xac\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qx_buf b = {0};
        assert_int_equal(qx_buf_add(&b, "<", 1), 0);
        assert_int_equal(qx_json_minify(&b, cases[i][0], strlen(cases[i][0])), 0);
        assert_int_equal(b.len, 1 + strlen(cases[i][1]));
        assert_string_equal(b.data + 1, cases[i][1]);
        qx_buf_free(&b);
    }
}

/* Seeded random documents, written indented by jansson and minified, read
 * as jansson's compact text of the same document. */
static void test_minify_random_indented_documents(void **state)
{
    (void)state;
    qx_rng *rng = qx_rng_new(20261202);
    assert_non_null(rng);
    for (int i = 0; i < 2000; i++) {
        json_t *v = random_value(rng, 5);
        assert_non_null(v);
        char *pretty = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
        char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        assert_non_null(pretty);
        assert_non_null(want);
        qx_buf b = {0};
        assert_int_equal(qx_json_minify(&b, pretty, strlen(pretty)), 0);
        assert_string_equal(b.data, want);
        qx_buf_free(&b);
        free(pretty);
        free(want);
        json_decref(v);
    }
    qx_rng_free(rng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars_and_edge_values),
        cmocka_unit_test(test_skip_leaves_out_top_level_keys_only),
        cmocka_unit_test(test_buffer_appends_and_keeps_text_terminated),
        cmocka_unit_test(test_every_fixture_file),
        cmocka_unit_test(test_random_documents),
        cmocka_unit_test(test_string_alone_as_in_a_document),
        cmocka_unit_test(test_minify_keeps_the_text_as_written),
        cmocka_unit_test(test_minify_random_indented_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
