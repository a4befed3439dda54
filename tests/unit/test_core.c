/*
 * test_core.c — the small shared modules: time format, seeded RNG, email
 * checks, NDJSON reading, error prefixes, the growable buffer, the secret
 * compare and the JSON-file loader's messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qx_base64.h"
#include "qx_buf.h"
#include "qx_clock.h"
#include "qx_email.h"
#include "qx_error.h"
#include "qx_json_file.h"
#include "qx_ndjson.h"
#include "qx_utf8.h"
#include "qx_rng.h"
#include "qx_secret.h"

static void test_format_time_is_iso8601_utc_with_millis(void **state)
{
    (void)state;
    char buf[QX_TIME_TEXT_MAX];
    assert_string_equal(qx_format_time(0, buf), "1970-01-01T00:00:00.000Z");
    assert_string_equal(qx_format_time(1693910635602, buf), "2023-09-05T10:43:55.602Z");
    assert_string_equal(qx_format_time(-1, buf), "1969-12-31T23:59:59.999Z");
    assert_string_equal(qx_format_time(-62135596800000LL, buf), "0001-01-01T00:00:00.000Z");
    assert_string_equal(qx_format_time(253402300799999LL, buf), "9999-12-31T23:59:59.999Z");
    assert_string_equal(qx_format_time(253402300800000LL, buf), "10000-01-01T00:00:00.000Z");
    /* Across the years, as printf writes it. */
    qx_rng *rng = qx_rng_new(20261202);
    assert_non_null(rng);
    for (int i = 0; i < 10000; i++) {
        int64_t ms = -62135596800000LL + (int64_t)(qx_rng_next(rng) % 315537897600000ULL);
        time_t secs = (time_t)(ms / 1000);
        int millis = (int)(ms % 1000);
        if (millis < 0) {
            millis += 1000;
            secs -= 1;
        }
        struct tm tm;
        gmtime_r(&secs, &tm);
        char want[QX_TIME_TEXT_MAX];
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
        assert_string_equal(qx_format_time(ms, buf), want);
    }
    qx_rng_free(rng);
}

static void test_parse_time_accepts_rfc3339_and_millis(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(qx_parse_time("2023-09-05T10:43:55.602687Z", &ms), 0);
    assert_int_equal(ms, 1693910635602);
    assert_int_equal(qx_parse_time("2023-09-05T12:43:55+02:00", &ms), 0);
    assert_int_equal(ms, 1693910635000);
    assert_int_equal(qx_parse_time("1693910635602", &ms), 0);
    assert_int_equal(ms, 1693910635602);
    char buf[QX_TIME_TEXT_MAX];
    assert_int_equal(qx_parse_time(qx_format_time(1764387674123, buf), &ms), 0);
    assert_int_equal(ms, 1764387674123);
}

static void test_parse_time_refuses_garbage(void **state)
{
    (void)state;
    int64_t ms;
    const char *bad[] = {"",
                         "yesterday",
                         "2023-13-01T00:00:00Z",
                         "2023-09-05",
                         "2023-09-05T10:43:55",
                         "2023-09-05T10:43:55Zjunk",
                         "12a",
                         "2023-09-05T10:43:55.Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(qx_parse_time(bad[i], &ms), -1);
}

static void test_seeded_rng_repeats_and_differs_by_seed(void **state)
{
    (void)state;
    qx_rng *a = qx_rng_new(42), *b = qx_rng_new(42), *c = qx_rng_new(43);
    bool differs = false;
    for (int i = 0; i < 100; i++) {
        uint64_t x = qx_rng_next(a);
        assert_true(x == qx_rng_next(b));
        differs |= x != qx_rng_next(c);
    }
    assert_true(differs);
    char u1[QX_UUID_LEN + 1], u2[QX_UUID_LEN + 1];
    qx_rng_uuid(a, u1);
    qx_rng_uuid(b, u2);
    assert_string_equal(u1, u2);
    assert_int_equal(strlen(u1), 36);
    assert_int_equal(u1[14], '4');
    /* A seed's ids are part of what a seeded emulator repeats: the first
     * uuid of seed 42, as printf wrote it before the digits were written by
     * hand. */
    qx_rng *d = qx_rng_new(42);
    qx_rng_uuid(d, u1);
    assert_string_equal(u1, "16c72e0c-2e0b-4815-be3a-116d86d90461");
    qx_rng_free(d);
    qx_rng_free(a);
    qx_rng_free(b);
    qx_rng_free(c);
}

static void test_rng_range_stays_in_bounds_and_covers_it(void **state)
{
    (void)state;
    qx_rng *r = qx_rng_new(7);
    bool seen[6] = {false};
    for (int i = 0; i < 1000; i++) {
        uint64_t v = qx_rng_range(r, 10, 15);
        assert_true(v >= 10 && v <= 15);
        seen[v - 10] = true;
        double u = qx_rng_unit(r);
        assert_true(u >= 0.0 && u < 1.0);
    }
    for (int i = 0; i < 6; i++)
        assert_true(seen[i]);
    assert_int_equal(qx_rng_range(r, 5, 5), 5);
    assert_false(qx_rng_chance(r, 0.0));
    assert_true(qx_rng_chance(r, 1.0));
    char id[32];
    qx_rng_id(r, "RUN_", 15, id, sizeof id);
    assert_int_equal(strlen(id), 19);
    assert_memory_equal(id, "RUN_", 4);
    qx_rng_free(r);
}

static void test_email_validity(void **state)
{
    (void)state;
    const char *good[] = {"a@b.co", "dave.smith+tag@example.com", "x_y@sub.example.org"};
    const char *bad[] = {"",         "not-an-email", "@example.com", "a@",       "a@b",
                         "a@@b.com", "a b@c.com",    "a@-b.com",     "a@b-.com", "a@b..com",
                         ".a@b.com", "a.@b.com",     "Email-2Sf6C"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(qx_is_valid_email(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(qx_is_valid_email(bad[i]));
    assert_false(qx_is_valid_email(NULL));
}

static void test_hashed_email_is_64_hex(void **state)
{
    (void)state;
    assert_true(
        qx_is_hashed_email("2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"));
    assert_true(
        qx_is_hashed_email("2C26B46B68FFC68FF99B453C1D30413413422D706483BFA0F98A5E886266E7AE"));
    assert_false(
        qx_is_hashed_email("2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7a"));
    assert_false(
        qx_is_hashed_email("zc26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"));
    assert_false(qx_is_hashed_email("dave@example.com"));
}

static void test_ndjson_reports_bad_lines_and_goes_on(void **state)
{
    (void)state;
    const char text[] = "{\"a\":1}\n\n  \n{bad\n[1,2]\n{\"b\":2} {\"c\":3}\n{\"d\":4}";
    FILE *f = fmemopen((void *)text, sizeof text - 1, "r");
    qx_ndjson_reader *r = qx_ndjson_open(f);
    json_t *v;
    size_t line;
    qx_error err;
    assert_int_equal(qx_ndjson_next(r, &v, &line, &err), 1);
    assert_int_equal(line, 1);
    json_decref(v);
    assert_int_equal(qx_ndjson_next(r, &v, &line, &err), -1);
    assert_int_equal(line, 4);
    assert_non_null(strstr(err.text, "line 4"));
    assert_int_equal(qx_ndjson_next(r, &v, &line, &err), 1);
    assert_true(json_is_array(v));
    json_decref(v);
    assert_int_equal(qx_ndjson_next(r, &v, &line, &err), -1);
    assert_non_null(strstr(err.text, "line 6"));
    assert_int_equal(qx_ndjson_next(r, &v, &line, &err), 1);
    assert_int_equal(line, 7);
    json_decref(v);
    assert_int_equal(qx_ndjson_next(r, &v, &line, &err), 0);
    qx_ndjson_close(r);
    fclose(f);
}

static void test_error_prefix_names_the_thing(void **state)
{
    (void)state;
    qx_error err;
    qx_error_set(&err, "unknown key \"%s\"", "x");
    qx_error_prefix(&err, "%s", "demo.json");
    assert_string_equal(err.text, "demo.json: unknown key \"x\"");
    qx_error_set(NULL, "ignored");
}

static void test_buf_grows_keeps_binary_and_hands_over(void **state)
{
    (void)state;
    qx_buf b = {0};
    for (int i = 0; i < 1000; i++) /* past several reallocations */
        assert_int_equal(qx_buf_addf(&b, "%03d,", i % 1000), 0);
    assert_int_equal(b.len, 4000);
    assert_memory_equal(b.data + 3996, "999,", 4);
    assert_int_equal(b.data[b.len], '\0');
    assert_int_equal(qx_buf_add(&b, "a\0b", 3), 0); /* a NUL inside is kept */
    assert_int_equal(b.len, 4003);
    assert_memory_equal(b.data + 4000, "a\0b", 3);
    qx_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_int_equal(qx_buf_add(&b, "xy", 2), 0);
    size_t len = 0;
    char *taken = qx_buf_take(&b, &len);
    assert_int_equal(len, 2);
    assert_string_equal(taken, "xy");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(taken);
    assert_int_equal(qx_buf_reserve(&b, SIZE_MAX), -1); /* overflow refused, b unchanged */
    assert_null(b.data);
    qx_buf_free(&b);
}

static void test_secret_equals_only_the_same_text(void **state)
{
    (void)state;
    assert_true(qx_secret_equals("QX-TOKEN-1", "QX-TOKEN-1"));
    assert_false(qx_secret_equals("QX-TOKEN-2", "QX-TOKEN-1"));
    assert_false(qx_secret_equals("QX-TOKEN-1x", "QX-TOKEN-1")); /* longer */
    assert_false(qx_secret_equals("QX-TOKEN-", "QX-TOKEN-1"));   /* a prefix */
    assert_false(qx_secret_equals("", "QX-TOKEN-1"));
    assert_true(qx_secret_equals("", ""));
    assert_false(qx_secret_equals(NULL, "QX-TOKEN-1"));
    assert_false(qx_secret_equals("QX-TOKEN-1", NULL));
}

/* Decodes text strictly; returns the length, or -1 when refused. */
static long decode(const char *text, unsigned char *out, size_t out_size)
{
    size_t n;
    if (qx_base64_decode(text, strlen(text), out, out_size, &n) != 0)
        return -1;
    return (long)n;
}

static void test_base64_decodes_the_rfc4648_vectors(void **state)
{
    (void)state;
    static const char *const vectors[][2] = {
        {"", ""},
        {"Zg==", "f"},
        {"Zm8=", "fo"},
        {"Zm9v", "foo"},
        {"Zm9vYg==", "foob"},
        {"Zm9vYmE=", "fooba"},
        {"Zm9vYmFy", "foobar"},
        {"YXBpLXVzZXJAZXhhbXBsZS5jb206UVgtVEVTVC1UT0tFTi0x",
         "api-user@example.com:QX-TEST-TOKEN-1"},
    };
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        unsigned char out[64];
        long n = decode(vectors[i][0], out, sizeof out);
        if (n != (long)strlen(vectors[i][1]) || memcmp(out, vectors[i][1], (size_t)n) != 0)
            fail_msg("\"%s\" decoded to %ld bytes", vectors[i][0], n);
        assert_true(qx_base64_decoded_max(strlen(vectors[i][0])) >= (size_t)n);
    }
    /* All 64 characters of the alphabet, and every byte value back. */
    unsigned char out[64];
    assert_int_equal(decode("+/+/", out, sizeof out), 3);
    assert_memory_equal(out, "\xfb\xff\xbf", 3);
    assert_int_equal(decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", out, sizeof out), 32);
    for (int i = 0; i < 32; i++)
        assert_int_equal(out[i], i);
}

static void test_base64_keeps_an_embedded_nul_and_its_length(void **state)
{
    (void)state;
    unsigned char out[16];
    /* "u:TOKEN\0junk": a C string would stop at the NUL. */
    assert_int_equal(decode("dTpUT0tFTgBqdW5r", out, sizeof out), 12);
    assert_memory_equal(out, "u:TOKEN\0junk", 12);
}

static void test_base64_refuses_anything_not_strict(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Zg",           /* unpadded */
        "Zg=",          /* short padding */
        "Zm9",          /* length not a multiple of 4 */
        "Z===",         /* three '=' */
        "====",         /* padding only */
        "Zg==Zg==",     /* '=' before the end */
        "Zm=v",         /* '=' inside a group */
        "Zh==",         /* unused bits not zero */
        "Zm9=",         /* unused bits not zero */
        "Zm9v ",        /* trailing space */
        " Zm9v",        /* leading space */
        "Zm9v\nYmFy",   /* a line break */
        "Zm9vYmFy\r\n", /* trailing CRLF */
        "Zm9v!!!!",     /* trailing garbage */
        "-_-_",         /* the URL-safe alphabet */
        "Zm9v\x80YmE",  /* a non-ASCII byte */
    };
    unsigned char out[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (decode(bad[i], out, sizeof out) != -1)
            fail_msg("\"%s\" was accepted", bad[i]);
    /* A NUL in the text itself is not base64 either. */
    size_t n;
    assert_int_equal(qx_base64_decode("Zm\0v", 4, out, sizeof out, &n), -1);
    /* Too small an output is refused, never overrun. */
    assert_int_equal(decode("Zm9vYmFy", out, 5), -1);
    assert_int_equal(decode("Zm9vYmFy", out, 6), 6);
}

static void test_secret_equals_n_counts_every_byte(void **state)
{
    (void)state;
    assert_true(qx_secret_equals_n("TOKEN", 5, "TOKEN", 5));
    /* TOKEN\0junk is not TOKEN: the NUL does not end the text. */
    assert_false(qx_secret_equals_n("TOKEN\0junk", 10, "TOKEN", 5));
    assert_false(qx_secret_equals_n("TOKEN", 5, "TOKEN\0junk", 10));
    assert_false(qx_secret_equals_n("TOKEN\0", 6, "TOKEN", 5));
    assert_true(qx_secret_equals_n("A\0B", 3, "A\0B", 3));
    assert_false(qx_secret_equals_n("A\0B", 3, "A\0C", 3));
    assert_false(qx_secret_equals_n(NULL, 0, "", 0));
    assert_true(qx_secret_equals_n("", 0, "", 0));
}

static void test_json_file_errors_name_path_line_and_column(void **state)
{
    (void)state;
    char dir[] = "/tmp/qx-core-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/bad.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\n  \"a\": 1,\n  \"a\": 2\n}\n", f);
    fclose(f);
    qx_error err;
    assert_null(qx_json_load_file(path, JSON_REJECT_DUPLICATES, &err));
    char want[256];
    snprintf(want, sizeof want, "%s:3:", path);
    if (strncmp(err.text, want, strlen(want)) != 0 || strstr(err.text, "duplicate") == NULL)
        fail_msg("got \"%s\"", err.text);
    json_t *ok = qx_json_load_file(path, 0, &err); /* duplicates allowed: the last wins */
    assert_non_null(ok);
    assert_int_equal(json_integer_value(json_object_get(ok, "a")), 2);
    json_decref(ok);
    remove(path);
    assert_null(qx_json_load_file(path, 0, &err));
    snprintf(want, sizeof want, "%s: No such file or directory", path);
    assert_string_equal(err.text, want);
    rmdir(dir);
}

/* A UTF-8 byte order mark starts a JSON file or an NDJSON stream: skipped
 * there, and only there. */
static void test_a_byte_order_mark_is_accepted_at_the_start(void **state)
{
    (void)state;
    assert_int_equal(qx_utf8_bom_len("\xEF\xBB\xBF{}", 5), 3);
    assert_int_equal(qx_utf8_bom_len("\xEF\xBB", 2), 0);
    assert_int_equal(qx_utf8_bom_len("{}", 2), 0);
    /* A cut falls between characters: "aé€😀" is 1 + 2 + 3 + 4 bytes. */
    const char *mixed = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
    const size_t cuts[][2] = {{0, 0}, {1, 1}, {2, 1},   {3, 3},  {5, 3},
                              {6, 6}, {9, 6}, {10, 10}, {99, 10}};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        assert_int_equal(qx_utf8_prefix_len(mixed, 10, cuts[i][0]), cuts[i][1]);
    assert_int_equal(qx_utf8_prefix_len("a\xFF"
                                        "b",
                                        3, 2),
                     2); /* a stray byte is one */
    char dir[] = "/tmp/qx-core-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/bom.json", dir);
    static const char *const texts[] = {"\xEF\xBB\xBF{\"a\": 1}\n", "\xEF\xBB{\"a\": 1}",
                                        "{\"a\": \"\xEF\xBB\xBF\"}"};
    for (size_t i = 0; i < 3; i++) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(texts[i], f);
        fclose(f);
        qx_error err;
        json_t *doc = qx_json_load_file(path, 0, &err);
        if (i == 0)
            assert_int_equal(json_integer_value(json_object_get(doc, "a")), 1);
        else if (i == 1)
            assert_non_null(strstr(err.text, "byte order mark"));
        else /* inside a string it is text, kept as it is */
            assert_string_equal(json_string_value(json_object_get(doc, "a")), "\xEF\xBB\xBF");
        json_decref(doc);
    }
    remove(path);
    rmdir(dir);

    const char text[] = "\xEF\xBB\xBF{\"a\":1}\n\xEF\xBB\xBF{\"b\":2}\n";
    FILE *f = fmemopen((void *)text, sizeof text - 1, "r");
    qx_ndjson_reader *r = qx_ndjson_open(f);
    json_t *v;
    size_t line;
    qx_error err;
    assert_int_equal(qx_ndjson_next(r, &v, &line, &err), 1);
    assert_int_equal(json_integer_value(json_object_get(v, "a")), 1);
    json_decref(v);
    /* The second line's mark is not at the start of the stream: an error. */
    assert_int_equal(qx_ndjson_next(r, &v, &line, &err), -1);
    assert_int_equal(line, 2);
    qx_ndjson_close(r);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_time_is_iso8601_utc_with_millis),
        cmocka_unit_test(test_parse_time_accepts_rfc3339_and_millis),
        cmocka_unit_test(test_parse_time_refuses_garbage),
        cmocka_unit_test(test_seeded_rng_repeats_and_differs_by_seed),
        cmocka_unit_test(test_rng_range_stays_in_bounds_and_covers_it),
        cmocka_unit_test(test_email_validity),
        cmocka_unit_test(test_hashed_email_is_64_hex),
        cmocka_unit_test(test_ndjson_reports_bad_lines_and_goes_on),
        cmocka_unit_test(test_error_prefix_names_the_thing),
        cmocka_unit_test(test_buf_grows_keeps_binary_and_hands_over),
        cmocka_unit_test(test_secret_equals_only_the_same_text),
        cmocka_unit_test(test_secret_equals_n_counts_every_byte),
        cmocka_unit_test(test_base64_decodes_the_rfc4648_vectors),
        cmocka_unit_test(test_base64_keeps_an_embedded_nul_and_its_length),
        cmocka_unit_test(test_base64_refuses_anything_not_strict),
        cmocka_unit_test(test_json_file_errors_name_path_line_and_column),
        cmocka_unit_test(test_a_byte_order_mark_is_accepted_at_the_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
