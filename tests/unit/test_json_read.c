/*
 * test_json_read.c — qx_json_read, core's in-place JSON reader, against
 * jansson's json_loadb: whatever it reads must be exactly what json_loadb
 * gives (same types, same members in the same order), and
 * what it cannot be sure of it hands back (NULL) for json_loadb to read or
 * explain. Hand-picked texts of both kinds, the demo profiles and generated
 * ones, and mutations of a profile (bytes changed, dropped, doubled; a fixed
 * seed) on which the two must never disagree.
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

#include "qx_rng.h"
#include "qx_json_read.h"

/* Checks that qx_json_read either hands text back or reads it as json_loadb
 * does. Returns whether it read it. */
static bool same_as_jansson(const char *text, size_t len)
{
    /* a block of exactly len bytes: a read past the end shows under valgrind */
    char *exact = malloc(len > 0 ? len : 1);
    assert_non_null(exact);
    memcpy(exact, text, len);
    json_t *fast = qx_json_read(exact, len);
    free(exact);
    if (fast == NULL)
        return false;
    json_error_t jerr;
    json_t *ref = json_loadb(text, len, JSON_ALLOW_NUL, &jerr);
    if (ref == NULL)
        fail_msg("read what jansson rejects (%s): %.*s", jerr.text, (int)len, text);
    char *a = json_dumps(fast, JSON_COMPACT | JSON_ENCODE_ANY);
    char *b = json_dumps(ref, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!json_equal(fast, ref) || strcmp(a, b) != 0)
        fail_msg("read %s where jansson reads %s", a, b);
    free(a);
    free(b);
    json_decref(fast);
    json_decref(ref);
    return true;
}

static void test_reads_what_jansson_reads(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "{}",
        "[]",
        " \t\r\n{ \"a\" : 1 , \"b\":[ ] }\r\n",
        "{\"a\":1,\"b\":2,\"a\":3}", /* a repeated key: first place, last value */
        "{\"\":\"\"}",
        "[0,-0,1,-1,9223372036854775807,-9223372036854775808]",
        "[0.0,-0.5,1.5e3,1E+2,2e-2,1e-400,12345678901234567890.5,1.7976931348623157e308]",
        "[true,false,null,[true],{\"t\":false}]",
        "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\",\"k\\n\":\"x\\ty\"}",
        "{\"k\\\"1\":{\"k\\\"2\":\"v\\\"2\"},\"k\\\"3\":\"v\\\"3\"}", /* escaped keys, nested */
        "[\"caf\xc3\xa9\",\"\xe2\x82\xac\",\"\xf0\x9f\x98\x80\",\"\xed\x9f\xbf\",\"\xef\xbf\xbf\","
        "\"\xf4\x8f\xbf\xbf\",\"\x7f\"]",
        "{\"identityMap\":{\"Email\":[{\"id\":\"user1@example.com\",\"primary\":true}]}}",
        ("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]"
         "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"),
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (!same_as_jansson(texts[i], strlen(texts[i])))
            fail_msg("handed back: %s", texts[i]);
}

static void test_hands_back_what_it_is_not_sure_of(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "",
        "   ",
        "1", /* not an object or an array (jansson's message follows) */
        "\"s\"",
        "{} x", /* text after the value */
        "{}{}",
        "{\"a\":1,}",
        "[1,]",
        "{\"a\" 1}",
        "{a:1}",
        "[01]", /* numbers jansson rejects */
        "[-]",
        "[1.]",
        "[.5]",
        "[1e]",
        "[1e+]",
        "[+1]",
        "[0x10]",
        "[9223372036854775808]", /* too big */
        "[-9223372036854775809]",
        "[1e400]", /* real number overflow */
        "[truex]",
        "[nul]",
        "[True]",
        "[\"\\u0041\"]", /* \u escapes: jansson's */
        "{\"\\u0000\":1}",
        "[\"\\x\"]",
        "[\"a\tb\"]", /* a control character */
        "[\"a\nb\"]",
        "[\"\xc0\x80\"]", /* UTF-8 jansson rejects: overlong, surrogate, too big, cut */
        "[\"\xed\xa0\x80\"]",
        "[\"\xf4\x90\x80\x80\"]",
        "[\"\xf5\x80\x80\x80\"]",
        "[\"\xe2\x82\"]",
        "[\"\x80\"]",
        "[\"abc",
        "{\"a\":[1,2}",
        ("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]"
         "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"), /* deeper than QX_JSON_READ_DEPTH */
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        json_t *v = qx_json_read(texts[i], strlen(texts[i]));
        if (v != NULL)
            fail_msg("read, not handed back: %s", texts[i]);
    }
    /* a NUL byte in the text, and a number at the very end of the bytes given */
    assert_null(qx_json_read("[\"a\0b\"]", 7));
    assert_null(qx_json_read("[1", 2));
    assert_null(qx_json_read("[12345", 6));
}

/* Every line of an NDJSON file, read the same, all of them. */
static void check_file(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (!same_as_jansson(line, (size_t)len))
            fail_msg("%s: handed back: %s", path, line);
        n++;
    }
    free(line);
    fclose(f);
    assert_true(n > 0);
}

static void test_profiles_are_read_in_place(void **state)
{
    (void)state;
    check_file(QX_SOURCE_DIR "/fixtures/profiles/demo.ndjson");
    char path[] = "/tmp/test_json_read_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s/fixtures/profiles/generate' 2000 7 > '%s'", QX_SOURCE_DIR, path);
    assert_int_equal(system(cmd), 0);
    check_file(path);
    unlink(path);
}

static void test_mutations_never_disagree(void **state)
{
    (void)state;
    static const char seed[] =
        "{\"identityMap\": {\"Email\": [{\"id\": \"l\xc3\xa9"
        "a@example.com\", \"primary\": true}], "
        "\"ECID\": [{\"id\": \"00000000000426280000000000000001\"}]}, \"person\": {\"name\": "
        "{\"firstName\": \"L\xc3\xa9\\\"a\\n\"}}, \"loyalty\": {\"tier\": \"bronze\", \"points\": "
        "-12.5e2, \"visits\": 17, \"vip\": false, \"note\": null}, \"segmentMembership\": "
        "{\"ups\": {\"a1f5c3e0-0001\": {\"status\": \"realized\", \"lastQualificationTime\": "
        "\"2026-11-10T21:46:04.529Z\"}}}, \"tags\": [\"\xe2\x82\xac\", 0, [], {}]}\n";
    static const char alphabet[] = "{}[]\":,\\ \n0123456789-+.eEtrufalsn\x80\xc3\xff\x01u";
    qx_rng *rng = qx_rng_new(17);
    assert_non_null(rng);
    size_t n = sizeof seed - 1, read = 0;
    char buf[2 * sizeof seed];
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(buf, seed, n);
        size_t len = n;
        int edits = 1 + (int)(qx_rng_unit(rng) * 3);
        for (int k = 0; k < edits; k++) {
            size_t at = (size_t)(qx_rng_unit(rng) * (double)len);
            double kind = qx_rng_unit(rng);
            if (kind < 0.5) { /* a byte changed */
                buf[at] = alphabet[(size_t)(qx_rng_unit(rng) * (sizeof alphabet - 1))];
            } else if (kind < 0.75 && len > 1) { /* a byte dropped */
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
            } else if (len < sizeof buf) { /* a byte doubled */
                memmove(buf + at + 1, buf + at, len - at);
                len++;
            }
        }
        read += same_as_jansson(buf, len);
    }
    qx_rng_free(rng);
    assert_true(read > 1000); /* about a third are still JSON, and read (7,008 with this seed) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_what_jansson_reads),
        cmocka_unit_test(test_hands_back_what_it_is_not_sure_of),
        cmocka_unit_test(test_profiles_are_read_in_place),
        cmocka_unit_test(test_mutations_never_disagree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
