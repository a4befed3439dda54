/*
 * test_jsonpath.c — RFC 9535 JSONPath. Data-driven: every directory under
 *   tests/data/jsonpath/valid/<case>/    document.json, query.txt, expected.json
 *   tests/data/jsonpath/invalid/<case>/  query.txt, error.txt
 * is one test named after it. query.txt holds the expression (one final
 * newline is dropped); expected.json the selected nodes in document order;
 * error.txt a substring the compile error must contain. Valid cases also
 * check qx_jsonpath_extract against the query result. Adding a case is
 * adding a directory (see tests/data/jsonpath/README.md).
 * The unit tests below cover what files cannot: messages, limits, references.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qx_jsonpath.h"

#define CASES QX_SOURCE_DIR "/tests/data/jsonpath"
#define MAX_CASES 1024

static char *read_text(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t len = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        buf = realloc(buf, len + n + 1);
        assert_non_null(buf);
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (buf == NULL)
        buf = calloc(1, 1);
    assert_non_null(buf);
    buf[len] = '\0';
    if (len > 0 && buf[len - 1] == '\n')
        buf[len - 1] = '\0';
    return buf;
}

static json_t *load_json(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_error_t jerr;
    json_t *v = json_load_file(path, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (v == NULL)
        print_error("%s: %s\n", path, jerr.text);
    return v;
}

static void dump_mismatch(const char *what, const char *expr, const json_t *got, const json_t *want)
{
    char *g = json_dumps(got, JSON_ENCODE_ANY);
    char *w = json_dumps(want, JSON_ENCODE_ANY);
    print_error("%s for %s\n--- got:\n%s\n--- expected:\n%s\n", what, expr, g ? g : "(null)",
                w ? w : "(null)");
    free(g);
    free(w);
}

static void run_valid_case(void **state)
{
    const char *dir = *state;
    qx_error err;
    char *expr = read_text(dir, "query.txt");
    assert_non_null(expr);
    json_t *doc = load_json(dir, "document.json");
    json_t *expected = load_json(dir, "expected.json");
    assert_non_null(doc);
    assert_non_null(expected);

    qx_jsonpath *p = qx_jsonpath_compile(expr, &err);
    if (p == NULL)
        print_error("%s\n", err.text);
    assert_non_null(p);
    json_t *got = qx_jsonpath_query(p, doc);
    assert_non_null(got);
    if (!json_equal(got, expected))
        dump_mismatch("nodelist differs", expr, got, expected);
    assert_true(json_equal(got, expected));

    /* extract: the value (singular) or the array (else); null for nothing */
    json_t *extracted = qx_jsonpath_extract(p, doc);
    assert_non_null(extracted);
    json_t *want = json_array_size(got) == 0    ? json_null()
                   : qx_jsonpath_is_singular(p) ? json_incref(json_array_get(got, 0))
                                                : json_incref(got);
    if (!json_equal(extracted, want))
        dump_mismatch("extract differs", expr, extracted, want);
    assert_true(json_equal(extracted, want));

    json_decref(want);
    json_decref(extracted);
    json_decref(got);
    qx_jsonpath_free(p);
    json_decref(expected);
    json_decref(doc);
    free(expr);
}

static void run_invalid_case(void **state)
{
    const char *dir = *state;
    qx_error err;
    qx_error_clear(&err);
    char *expr = read_text(dir, "query.txt");
    char *want = read_text(dir, "error.txt");
    assert_non_null(expr);
    assert_non_null(want);
    qx_jsonpath *p = qx_jsonpath_compile(expr, &err);
    if (p != NULL)
        print_error("%s compiled, expected an error containing: %s\n", expr, want);
    assert_null(p);
    if (strstr(err.text, want) == NULL)
        print_error("error: %s\nexpected it to contain: %s\n", err.text, want);
    assert_non_null(strstr(err.text, want));
    assert_true(strncmp(err.text, "jsonpath \"", 10) == 0);
    free(want);
    free(expr);
}

/* ---- unit tests ---- */

/* Compiles expr, which must fail; returns the message (static storage). */
static const char *compile_error(const char *expr)
{
    static qx_error err;
    qx_error_clear(&err);
    qx_jsonpath *p = qx_jsonpath_compile(expr, &err);
    if (p != NULL)
        print_error("%s compiled\n", expr);
    assert_null(p);
    return err.text;
}

static void test_compile_error_names_expression_and_position(void **state)
{
    (void)state;
    assert_string_equal(compile_error("$.a["),
                        "jsonpath \"$.a[\": unexpected end of expression at position 4");
    assert_string_equal(
        compile_error("$[?@.a == 1 @]"),
        "jsonpath \"$[?@.a == 1 @]\": expected ',' or ']', found '@' at position 12");
}

static void test_compile_refuses_null_expression(void **state)
{
    (void)state;
    qx_error err;
    assert_null(qx_jsonpath_compile(NULL, &err));
    assert_string_equal(err.text, "jsonpath: no expression");
    assert_null(qx_jsonpath_compile(NULL, NULL)); /* no error struct: message dropped */
    assert_null(qx_jsonpath_compile("$[", NULL));
}

static void test_compile_refuses_invalid_utf8(void **state)
{
    (void)state;
    assert_non_null(strstr(compile_error("$['\xff']"), "invalid UTF-8 at position 3"));
    assert_non_null(strstr(compile_error("$.\xc3"), "invalid UTF-8 at position 2"));
    assert_non_null(strstr(compile_error("$['\xed\xa0\x80']"), "invalid UTF-8")); /* surrogate */
    assert_non_null(strstr(compile_error("$['\xc0\xaf']"), "invalid UTF-8"));     /* overlong */
}

static void test_error_message_escapes_and_shortens_expression(void **state)
{
    (void)state;
    const char *msg = compile_error("$[?@ ==\x01]");
    assert_non_null(strstr(msg, "\"$[?@ ==\\x01]\""));
    assert_non_null(strstr(msg, "found a control character at position 7"));
    assert_non_null(strstr(compile_error("$[\"a\" x]"), "\"$[\\\"a\\\" x]\""));

    char long_expr[2000];
    memset(long_expr, 'a', sizeof long_expr);
    memcpy(long_expr, "$.", 2);
    memcpy(long_expr + sizeof long_expr - 3, "[[", 3); /* ends the string */
    msg = compile_error(long_expr);
    assert_non_null(strstr(msg, "...\": expected a selector"));
    assert_non_null(strstr(msg, "at position 1998"));
}

/* Builds "$[?" + n "(" + "@" + n ")" + "]". */
static char *parenthesised(int n)
{
    char *s = malloc((size_t)n * 2 + 8);
    assert_non_null(s);
    size_t o = 0;
    memcpy(s, "$[?", 3);
    o = 3;
    for (int i = 0; i < n; i++)
        s[o++] = '(';
    s[o++] = '@';
    for (int i = 0; i < n; i++)
        s[o++] = ')';
    s[o++] = ']';
    s[o] = '\0';
    return s;
}

/* Builds "$" + n "[?@" + n "]". */
static char *nested_filters(int n)
{
    char *s = malloc((size_t)n * 4 + 2);
    assert_non_null(s);
    size_t o = 0;
    s[o++] = '$';
    for (int i = 0; i < n; i++) {
        memcpy(s + o, "[?@", 3);
        o += 3;
    }
    for (int i = 0; i < n; i++)
        s[o++] = ']';
    s[o] = '\0';
    return s;
}

static void test_nesting_is_limited_to_64(void **state)
{
    (void)state;
    qx_error err;
    char *ok = parenthesised(63), *deep = parenthesised(64);
    qx_jsonpath *p = qx_jsonpath_compile(ok, &err);
    assert_non_null(p);
    qx_jsonpath_free(p);
    assert_non_null(strstr(compile_error(deep), "nested more than 64 deep at position 67"));
    free(ok);
    free(deep);

    ok = nested_filters(64);
    deep = nested_filters(65);
    p = qx_jsonpath_compile(ok, &err);
    assert_non_null(p);
    json_t *doc = json_loads("[[1]]", 0, NULL);
    json_t *r = qx_jsonpath_query(p, doc);
    assert_non_null(r);
    assert_int_equal(json_array_size(r), 0);
    json_decref(r);
    json_decref(doc);
    qx_jsonpath_free(p);
    assert_non_null(strstr(compile_error(deep), "nested more than 64 deep"));
    free(ok);
    free(deep);

    /* function calls count too */
    char calls[1024] = "$[?";
    for (int i = 0; i < 64; i++)
        strcat(calls, "length(");
    strcat(calls, "@");
    for (int i = 0; i < 64; i++)
        strcat(calls, ")");
    strcat(calls, " == 1]");
    assert_non_null(strstr(compile_error(calls), "nested more than 64 deep"));
}

static void test_text_is_the_source(void **state)
{
    (void)state;
    qx_error err;
    qx_jsonpath *p = qx_jsonpath_compile("$.identityMap.ECID[0].id", &err);
    assert_non_null(p);
    assert_string_equal(qx_jsonpath_text(p), "$.identityMap.ECID[0].id");
    qx_jsonpath_free(p);
    qx_jsonpath_free(NULL);
}

static void test_is_singular_follows_rfc(void **state)
{
    (void)state;
    /* One case a line. */
    /* clang-format off */
    static const struct {
        const char *expr;
        bool singular;
    } cases[] = {
        {"$", true},
        {"$.a", true},
        {"$['a'][0][-1].b", true},
        {"$ .a [ 'b' ]", true},
        {"$.*", false},
        {"$[*]", false},
        {"$..a", false},
        {"$[0,1]", false},
        {"$['a','b']", false},
        {"$[0:1]", false},
        {"$[?@.a]", false},
        {"$.a..b", false},
    };
    /* clang-format on */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qx_error err;
        qx_jsonpath *p = qx_jsonpath_compile(cases[i].expr, &err);
        assert_non_null(p);
        if (qx_jsonpath_is_singular(p) != cases[i].singular)
            print_error("%s: expected singular=%d\n", cases[i].expr, cases[i].singular);
        assert_int_equal(qx_jsonpath_is_singular(p), cases[i].singular);
        qx_jsonpath_free(p);
    }
    assert_false(qx_jsonpath_is_singular(NULL));
}

/* Extracts expr from doc and compares with the JSON text want. */
static void check_extract(json_t *doc, const char *expr, const char *want_text)
{
    qx_error err;
    qx_jsonpath *p = qx_jsonpath_compile(expr, &err);
    assert_non_null(p);
    json_t *got = qx_jsonpath_extract(p, doc);
    json_t *want = json_loads(want_text, JSON_DECODE_ANY, NULL);
    assert_non_null(got);
    assert_non_null(want);
    if (!json_equal(got, want))
        dump_mismatch("extract differs", expr, got, want);
    assert_true(json_equal(got, want));
    json_decref(want);
    json_decref(got);
    qx_jsonpath_free(p);
}

static void test_extract_gives_value_array_or_null(void **state)
{
    (void)state;
    json_t *doc = json_loads("{\"identityMap\": {\"ECID\": [{\"id\": \"42\"}, {\"id\": \"43\"}]},"
                             " \"n\": null, \"one\": [7]}",
                             0, NULL);
    assert_non_null(doc);
    check_extract(doc, "$.identityMap.ECID[0].id", "\"42\""); /* singular: the value */
    check_extract(doc, "$.identityMap.ECID[-1]", "{\"id\": \"43\"}");
    check_extract(doc, "$.identityMap.Email[0].id", "null");            /* singular, missing */
    check_extract(doc, "$.n", "null");                                  /* singular, null */
    check_extract(doc, "$.identityMap.ECID[*].id", "[\"42\", \"43\"]"); /* non-singular */
    check_extract(doc, "$.one[*]", "[7]");    /* one node: still an array */
    check_extract(doc, "$..missing", "null"); /* non-singular, empty */
    check_extract(doc, "$",
                  "{\"identityMap\": {\"ECID\": [{\"id\": \"42\"}, {\"id\": \"43\"}]},"
                  " \"n\": null, \"one\": [7]}");
    json_decref(doc);
}

static void test_results_hold_their_own_references(void **state)
{
    (void)state;
    qx_error err;
    json_t *doc = json_loads("{\"a\": [{\"b\": \"x\"}, {\"b\": \"y\"}]}", 0, NULL);
    qx_jsonpath *all = qx_jsonpath_compile("$.a[*]", &err);
    qx_jsonpath *one = qx_jsonpath_compile("$.a[1].b", &err);
    assert_non_null(all);
    assert_non_null(one);
    json_t *nodes = qx_jsonpath_query(all, doc);
    json_t *value = qx_jsonpath_extract(one, doc);
    json_decref(doc); /* the results must survive their document */
    assert_int_equal(json_array_size(nodes), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(nodes, 0), "b")), "x");
    assert_string_equal(json_string_value(value), "y");
    json_decref(value);
    json_decref(nodes);
    qx_jsonpath_free(one);
    qx_jsonpath_free(all);
}

static void test_query_without_document_is_empty(void **state)
{
    (void)state;
    qx_error err;
    qx_jsonpath *p = qx_jsonpath_compile("$.a", &err);
    assert_non_null(p);
    json_t *r = qx_jsonpath_query(p, NULL);
    assert_non_null(r);
    assert_int_equal(json_array_size(r), 0);
    json_decref(r);
    r = qx_jsonpath_extract(p, NULL);
    assert_true(json_is_null(r));
    json_decref(r);
    qx_jsonpath_free(p);
}

/* jansson will not load "\u0000" in a key, so this document is built. */
static void test_name_with_nul_matches_the_exact_key(void **state)
{
    (void)state;
    qx_error err;
    json_t *doc = json_object();
    json_object_setn_new(doc, "a\0b", 3, json_integer(1));
    json_object_set_new(doc, "a", json_integer(2));
    qx_jsonpath *p = qx_jsonpath_compile("$['a\\u0000b', \"a\", 'a\\u0000']", &err);
    assert_non_null(p);
    json_t *r = qx_jsonpath_query(p, doc);
    assert_non_null(r);
    assert_int_equal(json_array_size(r), 2);
    assert_int_equal(json_integer_value(json_array_get(r, 0)), 1);
    assert_int_equal(json_integer_value(json_array_get(r, 1)), 2);
    json_decref(r);
    qx_jsonpath_free(p);
    json_decref(doc);
}

/* Each [0,0] doubles the nodelist: 40 of them would want 2^40 nodes. */
static void test_runaway_query_fails_instead_of_exhausting_memory(void **state)
{
    (void)state;
    qx_error err;
    char expr[512] = "$";
    json_t *doc = json_integer(1);
    for (int i = 0; i < 40; i++) {
        strcat(expr, "[0,0]");
        json_t *wrap = json_array();
        json_array_append_new(wrap, doc);
        doc = wrap;
    }
    qx_jsonpath *p = qx_jsonpath_compile(expr, &err);
    assert_non_null(p);
    assert_null(qx_jsonpath_query(p, doc));
    assert_null(qx_jsonpath_extract(p, doc));
    qx_jsonpath_free(p);
    json_decref(doc);
}

/* $[?count($[*]) == N] over N elements is N^2 steps if $[*] is evaluated per
 * element — over the step budget for N = 3000 — and 2N when computed once. */
static void test_absolute_query_in_filter_is_evaluated_once(void **state)
{
    (void)state;
    qx_error err;
    json_t *doc = json_array();
    for (int i = 0; i < 3000; i++)
        json_array_append_new(doc, json_integer(i));
    qx_jsonpath *p = qx_jsonpath_compile("$[?count($[*]) == 3000 && $[0] == 0]", &err);
    assert_non_null(p);
    json_t *r = qx_jsonpath_query(p, doc);
    assert_non_null(r);
    assert_int_equal(json_array_size(r), 3000);
    json_decref(r);
    qx_jsonpath_free(p);
    json_decref(doc);
}

/* Deeper than jansson's parser allows: the descendant walk does not recurse. */
static void test_descendant_walks_deep_documents(void **state)
{
    (void)state;
    qx_error err;
    json_t *doc = json_object();
    json_object_set_new(doc, "x", json_string("bottom"));
    for (int i = 0; i < 5000; i++) {
        json_t *wrap = json_array();
        json_array_append_new(wrap, doc);
        doc = wrap;
    }
    qx_jsonpath *p = qx_jsonpath_compile("$..x", &err);
    assert_non_null(p);
    json_t *r = qx_jsonpath_query(p, doc);
    assert_non_null(r);
    assert_int_equal(json_array_size(r), 1);
    assert_string_equal(json_string_value(json_array_get(r, 0)), "bottom");
    json_decref(r);
    qx_jsonpath_free(p);
    json_decref(doc);
}

/* Every prefix of a valid expression either compiles or fails with a
 * positioned message; random token soup never crashes (ASan/valgrind watch). */
static void test_prefixes_and_random_expressions_are_safe(void **state)
{
    (void)state;
    static const char *full[] = {
        "$..book[?@.price < 10 && !(@.isbn || @['a\\u00e9'] == \"x\")].title",
        "$[1:-1:2, 'a', *, ?count(@..*) >= 2 || length($.a[0]) != null][-3]",
        "$[?value(@..c) == -1.5e+3 && @.d <= 'z\\uD834\\uDD1E']",
    };
    /* Chunks that make valid segments, and debris that breaks them. */
    static const char *tokens[] = {
        ".a",
        ".b",
        "..a",
        "..*",
        ".*",
        "[0]",
        "[-1]",
        "[1:]",
        "[::-1]",
        "[0:2:0]",
        "['a']",
        "[\"b\", 0]",
        "[*]",
        "[?@.a]",
        "[?@ > 1]",
        "[?!@.b || $.a[0] == 1]",
        "[?count(@.*) > 1]",
        "[?length(@) == 1]",
        "[?value(@..c) != null]",
        "[?(@ < 'x')]",
        "[",
        "]",
        "(",
        ")",
        "?",
        "@",
        "'",
        "\"",
        "\\",
        " ",
        ",",
        ":",
        "-",
        "!",
        "==",
        "&&",
        "||",
        "\\u00",
        "\xe2\x98\xba",
        "length(",
        "match(",
        "true",
        "1e9",
    };
    json_t *doc = json_loads("{\"a\": [1, {\"a\": \"x\", \"b\": [true, null]}, [2, 3]],"
                             " \"b\": {\"c\": 1.5}, \"book\": [{\"price\": 8}]}",
                             0, NULL);
    assert_non_null(doc);
    char expr[512];
    for (size_t f = 0; f < sizeof full / sizeof full[0]; f++) {
        size_t len = strlen(full[f]);
        for (size_t n = 1; n <= len; n++) {
            qx_error err;
            memcpy(expr, full[f], n);
            expr[n] = '\0';
            qx_jsonpath *p = qx_jsonpath_compile(expr, &err);
            if (p == NULL) {
                assert_non_null(strstr(err.text, " at position "));
                continue;
            }
            json_decref(qx_jsonpath_query(p, doc));
            json_decref(qx_jsonpath_extract(p, doc));
            qx_jsonpath_free(p);
        }
        qx_error err;
        qx_jsonpath *p = qx_jsonpath_compile(full[f], &err);
        if (p == NULL)
            print_error("%s\n", err.text);
        assert_non_null(p);
        qx_jsonpath_free(p);
    }
    uint32_t seed = 12345;
    size_t n_tokens = sizeof tokens / sizeof tokens[0], compiled = 0;
    for (int i = 0; i < 20000; i++) {
        size_t o = 0;
        seed = seed * 1103515245u + 12345u;
        int n = 1 + (int)((seed >> 16) % 8);
        if ((seed >> 8) % 8 != 0)
            expr[o++] = '$';
        for (int t = 0; t < n; t++) {
            seed = seed * 1103515245u + 12345u;
            /* three chunks in four, then anything */
            size_t pick = (seed >> 16) % 4 != 0 ? (seed >> 18) % 20 : (seed >> 18) % n_tokens;
            const char *tok = tokens[pick];
            size_t tl = strlen(tok);
            memcpy(expr + o, tok, tl);
            o += tl;
        }
        expr[o] = '\0';
        qx_error err;
        qx_jsonpath *p = qx_jsonpath_compile(expr, &err);
        if (p == NULL) {
            assert_non_null(strstr(err.text, " at position "));
            continue;
        }
        compiled++;
        json_t *r = qx_jsonpath_query(p, doc);
        assert_non_null(r);
        json_decref(r);
        r = qx_jsonpath_extract(p, doc);
        assert_non_null(r);
        json_decref(r);
        qx_jsonpath_free(p);
    }
    if (compiled < 2000)
        print_error("only %zu of 20000 random expressions compiled\n", compiled);
    assert_true(compiled >= 2000); /* the soup does reach evaluation */
    json_decref(doc);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends one test per directory under CASES/kind. */
static int add_cases(const char *kind, void (*fn)(void **), struct CMUnitTest *tests, size_t *n,
                     char **names, char **dirs, size_t *n_cases)
{
    char root[512];
    snprintf(root, sizeof root, "%s/%s", CASES, kind);
    DIR *d = opendir(root);
    if (d == NULL) {
        fprintf(stderr, "cannot open %s\n", root);
        return -1;
    }
    size_t first = *n_cases;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && *n_cases < MAX_CASES) {
        if (e->d_name[0] == '.')
            continue;
        size_t len = strlen(kind) + strlen(e->d_name) + 2;
        names[*n_cases] = malloc(len);
        snprintf(names[*n_cases], len, "%s/%s", kind, e->d_name);
        (*n_cases)++;
    }
    closedir(d);
    qsort(names + first, *n_cases - first, sizeof *names, by_name);
    for (size_t i = first; i < *n_cases; i++) {
        size_t len = strlen(CASES) + strlen(names[i]) + 2;
        dirs[i] = malloc(len);
        snprintf(dirs[i], len, "%s/%s", CASES, names[i]);
        tests[(*n)++] =
            (struct CMUnitTest){.name = names[i], .test_func = fn, .initial_state = dirs[i]};
    }
    return 0;
}

int main(void)
{
    static struct CMUnitTest tests[MAX_CASES + 32];
    static char *names[MAX_CASES], *dirs[MAX_CASES];
    size_t n = 0, n_cases = 0;
    tests[n++] =
        (struct CMUnitTest)cmocka_unit_test(test_compile_error_names_expression_and_position);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_compile_refuses_null_expression);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_compile_refuses_invalid_utf8);
    tests[n++] =
        (struct CMUnitTest)cmocka_unit_test(test_error_message_escapes_and_shortens_expression);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_nesting_is_limited_to_64);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_text_is_the_source);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_is_singular_follows_rfc);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_extract_gives_value_array_or_null);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_results_hold_their_own_references);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_query_without_document_is_empty);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_name_with_nul_matches_the_exact_key);
    tests[n++] =
        (struct CMUnitTest)cmocka_unit_test(test_runaway_query_fails_instead_of_exhausting_memory);
    tests[n++] =
        (struct CMUnitTest)cmocka_unit_test(test_absolute_query_in_filter_is_evaluated_once);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_descendant_walks_deep_documents);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_prefixes_and_random_expressions_are_safe);
    if (add_cases("valid", run_valid_case, tests, &n, names, dirs, &n_cases) < 0 ||
        add_cases("invalid", run_invalid_case, tests, &n, names, dirs, &n_cases) < 0)
        return 1;
    int rc = _cmocka_run_group_tests("jsonpath", tests, n, NULL, NULL);
    for (size_t i = 0; i < n_cases; i++) {
        free(names[i]);
        free(dirs[i]);
    }
    return rc;
}
