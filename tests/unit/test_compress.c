/*
 * test_compress.c — the pieces of compress.c that read request headers and
 * make the wire body: If-None-Match matching (weak comparison, lists, "*"),
 * Accept-Encoding (q-values, x-gzip, "*"), the ETag's form and gzip that
 * zlib reads back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "compress.h"

static void test_etag_is_weak_and_follows_the_body(void **state)
{
    (void)state;
    char a[QXM_ETAG_MAX], b[QXM_ETAG_MAX], c[QXM_ETAG_MAX];
    qxm_etag_of("{\"runs\":[]}", 11, a);
    qxm_etag_of("{\"runs\":[]}", 11, b);
    qxm_etag_of("{\"runs\":[1]}", 12, c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), 20);
    assert_memory_equal(a, "W/\"", 3);
    assert_int_equal(a[19], '"');
}

static void test_if_none_match_compares_weakly_in_a_list(void **state)
{
    (void)state;
    const char *tag = "W/\"0123456789abcdef\"";
    assert_true(qxm_etag_matches(tag, tag));
    assert_true(qxm_etag_matches("\"0123456789abcdef\"", tag)); /* weak comparison */
    assert_true(qxm_etag_matches("W/\"x\", W/\"0123456789abcdef\"", tag));
    assert_true(qxm_etag_matches(" W/\"x\" ,W/\"0123456789abcdef\" ", tag));
    assert_true(qxm_etag_matches("*", tag));
    assert_false(qxm_etag_matches(NULL, tag));
    assert_false(qxm_etag_matches("", tag));
    assert_false(qxm_etag_matches("W/\"0123456789abcdee\"", tag));
    assert_false(qxm_etag_matches("W/\"0123456789abcdef", tag)); /* not the same tag */
    assert_false(qxm_etag_matches("W/", tag));
}

static void test_accept_encoding_takes_gzip_unless_refused(void **state)
{
    (void)state;
    assert_true(qxm_accepts_gzip("gzip"));
    assert_true(qxm_accepts_gzip("gzip, deflate, br, zstd")); /* Chromium's */
    assert_true(qxm_accepts_gzip("br;q=1.0, GZIP;q=0.5"));
    assert_true(qxm_accepts_gzip("x-gzip"));
    assert_true(qxm_accepts_gzip("*"));
    assert_true(qxm_accepts_gzip("deflate, *;q=0.1"));
    assert_false(qxm_accepts_gzip(NULL));
    assert_false(qxm_accepts_gzip(""));
    assert_false(qxm_accepts_gzip("identity"));
    assert_false(qxm_accepts_gzip("deflate, br"));
    assert_false(qxm_accepts_gzip("gzip;q=0"));
    assert_false(qxm_accepts_gzip("gzip; q=0.000, *"));
    assert_false(qxm_accepts_gzip("*;q=0"));
    assert_false(qxm_accepts_gzip("gzipped"));
}

static void test_gzip_reads_back_with_zlib(void **state)
{
    (void)state;
    size_t len = 64 * 1024;
    char *body = malloc(len);
    assert_non_null(body);
    for (size_t i = 0; i < len; i++)
        body[i] = "{\"id\":\"RUN_x\",\"status\":\"SUCCESS\"},"[i % 34];
    size_t zlen = 0;
    char *z = qxm_gzip(body, len, &zlen);
    assert_non_null(z);
    assert_true(zlen < len / 10);
    assert_int_equal((unsigned char)z[0], 0x1f); /* the gzip magic */
    assert_int_equal((unsigned char)z[1], 0x8b);
    char *back = malloc(len);
    assert_non_null(back);
    z_stream s = {0};
    assert_int_equal(inflateInit2(&s, 15 + 16), Z_OK);
    s.next_in = (Bytef *)z;
    s.avail_in = (uInt)zlen;
    s.next_out = (Bytef *)back;
    s.avail_out = (uInt)len;
    assert_int_equal(inflate(&s, Z_FINISH), Z_STREAM_END);
    assert_int_equal(s.total_out, len);
    inflateEnd(&s);
    assert_memory_equal(back, body, len);
    free(back);
    free(z);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etag_is_weak_and_follows_the_body),
        cmocka_unit_test(test_if_none_match_compares_weakly_in_a_list),
        cmocka_unit_test(test_accept_encoding_takes_gzip_unless_refused),
        cmocka_unit_test(test_gzip_reads_back_with_zlib),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
