/*
 * test_render.c — profile → payload. Data-driven: every directory under
 * tests/data/render/ is one test, named after it, holding
 *   profile.json, mapping.json, and either
 *   expected.json  (the payload, compared as JSON and as compact text, so the
 *                   order of its keys counts) or
 *   excluded.txt   (the exclusion reason, e.g. "hashedEmailOnly"),
 *   warnings.txt   (optional: one expected warning substring per line; when
 *                   absent, rendering must give no warning),
 *   policy.json + actions.txt (optional: a policy and the marketing actions
 *                   in force, one per line; the profile is then rendered
 *                   with qxs_render_governed).
 * Adding a case is adding a directory. The seed tests render fixtures/seed/
 * and compare with the SPEC's example payload, verbatim: as JSON, and as the
 * text that is sent (keys in the example's order).
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
#include <sys/stat.h>

#include "qx_ndjson.h"
#include "qxs_policy.h"
#include "qxs_render.h"

#define RENDER_CASES QX_SOURCE_DIR "/tests/data/render"
#define MAX_CASES 256

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (buf == NULL)
        buf = calloc(1, 1);
    buf[len] = '\0';
    return buf;
}

static json_t *load_json(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_error_t jerr;
    json_t *v = json_load_file(path, 0, &jerr);
    if (v == NULL)
        print_error("%s: %s\n", path, jerr.text);
    return v;
}

static void dump_mismatch(const char *what, const json_t *got, const json_t *want)
{
    char *g = json_dumps(got, JSON_INDENT(2) | JSON_SORT_KEYS);
    char *w = json_dumps(want, JSON_INDENT(2) | JSON_SORT_KEYS);
    print_error("%s\n--- got:\n%s\n--- expected:\n%s\n", what, g ? g : "(null)", w ? w : "(null)");
    free(g);
    free(w);
}

/* The payload's text as sent equals want's compact text: same keys in the
 * same order (jansson keeps a loaded object's key order). */
static void assert_same_text(const json_t *payload, const json_t *want)
{
    qx_buf got = {0};
    assert_true(qxs_payload_dump(payload, &got) > 0);
    char *w = json_dumps(want, JSON_COMPACT);
    assert_non_null(w);
    if (strcmp(got.data, w) != 0)
        print_error("payload text differs (key order)\n--- got:\n%s\n--- expected:\n%s\n", got.data,
                    w);
    assert_string_equal(got.data, w);
    free(w);
    qx_buf_free(&got);
}

/* The case's policy with its actions in force, or NULL when it has none. */
static qxs_policy *load_policy(const char *dir)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/policy.json", dir);
    if (stat(path, &st) != 0)
        return NULL;
    qx_error err;
    qxs_policy *p = qxs_policy_load_file(path, &err);
    if (p == NULL)
        print_error("%s\n", err.text);
    assert_non_null(p);
    snprintf(path, sizeof path, "%s/actions.txt", dir);
    char *text = read_text(path);
    assert_non_null(text);
    const char *actions[16];
    size_t n = 0;
    for (char *tok = strtok(text, "\r\n"); tok != NULL && n < 16; tok = strtok(NULL, "\r\n"))
        actions[n++] = tok;
    assert_int_equal(qxs_policy_set_actions(p, actions, n, &err), 0);
    free(text);
    return p;
}

static void run_case(void **state)
{
    const char *dir = *state;
    qx_error err;
    char path[1024];
    snprintf(path, sizeof path, "%s/mapping.json", dir);
    qxs_mapping *m = qxs_mapping_load_file(path, &err);
    if (m == NULL)
        print_error("%s\n", err.text);
    assert_non_null(m);
    json_t *profile = load_json(dir, "profile.json");
    assert_non_null(profile);

    qxs_policy *policy = load_policy(dir);
    qxs_render_result res;
    if (policy != NULL)
        assert_int_equal(qxs_render_governed(m, policy, profile, &res, &err), 0);
    else
        assert_int_equal(qxs_render(m, profile, &res, &err), 0);

    snprintf(path, sizeof path, "%s/excluded.txt", dir);
    char *excluded = read_text(path);
    json_t *expected = excluded == NULL ? load_json(dir, "expected.json") : NULL;
    if (excluded != NULL) {
        excluded[strcspn(excluded, "\r\n")] = '\0';
        if (res.payload != NULL)
            dump_mismatch("expected an exclusion, got a payload", res.payload, NULL);
        assert_null(res.payload);
        assert_string_equal(qxs_exclusion_name(res.excluded), excluded);
        assert_true(res.detail[0] != '\0');
    } else {
        assert_non_null(expected);
        assert_int_equal(res.excluded, QXS_NOT_EXCLUDED);
        if (!json_equal(res.payload, expected))
            dump_mismatch("payload differs", res.payload, expected);
        assert_true(json_equal(res.payload, expected));
        assert_same_text(res.payload, expected);
    }

    snprintf(path, sizeof path, "%s/warnings.txt", dir);
    char *warnings = read_text(path);
    size_t want = 0;
    for (char *line = warnings, *next; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (*line == '\0')
            continue;
        want++;
        bool found = false;
        size_t i;
        json_t *w;
        json_array_foreach(res.warnings, i, w) found =
            found || strstr(json_string_value(w), line) != NULL;
        if (!found) {
            json_t *line_value = json_string(line);
            dump_mismatch("missing warning (see warnings.txt)", res.warnings, line_value);
            json_decref(line_value);
        }
        assert_true(found);
    }
    if (json_array_size(res.warnings) != want)
        dump_mismatch("unexpected warnings", res.warnings, NULL);
    assert_int_equal(json_array_size(res.warnings), want);

    free(warnings);
    free(excluded);
    json_decref(expected);
    qxs_render_result_clear(&res);
    json_decref(profile);
    qxs_policy_free(policy);
    qxs_mapping_free(m);
}

static void test_render_seed_gives_the_spec_payload(void **state)
{
    (void)state;
    qx_error err;
    qxs_mapping *m = qxs_mapping_load_file(QX_SOURCE_DIR "/fixtures/seed/mapping.json", &err);
    assert_non_null(m);
    json_t *expected =
        json_load_file(QX_SOURCE_DIR "/fixtures/seed/expected-payload.json", 0, NULL);
    assert_non_null(expected);
    FILE *f = fopen(QX_SOURCE_DIR "/fixtures/seed/profile.ndjson", "r");
    assert_non_null(f);
    qx_ndjson_reader *r = qx_ndjson_open(f);
    json_t *profile = NULL;
    assert_int_equal(qx_ndjson_next(r, &profile, NULL, &err), 1);
    qxs_render_result res;
    assert_int_equal(qxs_render(m, profile, &res, &err), 0);
    if (!json_equal(res.payload, expected))
        dump_mismatch("seed payload differs from fixtures/seed/expected-payload.json", res.payload,
                      expected);
    assert_true(json_equal(res.payload, expected));
    assert_int_equal(json_array_size(res.warnings), 0);
    qxs_render_result_clear(&res);
    json_decref(profile);
    qx_ndjson_close(r);
    fclose(f);
    json_decref(expected);
    qxs_mapping_free(m);
}

/* The text sent for the seed profile is the seed example's, key for key in
 * its order: attributes in mapping order, then identityMap, then
 * segmentMembership with each audience's lastQualificationTime before its
 * status, as in the profile (and the example). */
static void test_render_seed_text_is_the_spec_example_text(void **state)
{
    (void)state;
    qx_error err;
    qxs_mapping *m = qxs_mapping_load_file(QX_SOURCE_DIR "/fixtures/seed/mapping.json", &err);
    assert_non_null(m);
    json_t *expected =
        json_load_file(QX_SOURCE_DIR "/fixtures/seed/expected-payload.json", 0, NULL);
    assert_non_null(expected);
    char *want = json_dumps(expected, JSON_COMPACT);
    assert_non_null(want);
    /* the example's own order, written out: a loader that sorted keys would
     * make the comparison below vacuous */
    assert_non_null(strstr(want, "{\"person\":{\"name\":{\"firstName\":\"Dave\"}},"
                                 "\"mobilePhone\":{\"number\":\"0123456789\"},"
                                 "\"identityMap\":{\"Email\":[{\"id\":\"Email-2Sf6C\"}]},"
                                 "\"segmentMembership\":{\"ups\":{\"046456e3b-18e1-48a6-9bda-"
                                 "d68547861283\":{\"lastQualificationTime\":"));
    FILE *f = fopen(QX_SOURCE_DIR "/fixtures/seed/profile.ndjson", "r");
    assert_non_null(f);
    qx_ndjson_reader *r = qx_ndjson_open(f);
    json_t *profile = NULL;
    assert_int_equal(qx_ndjson_next(r, &profile, NULL, &err), 1);
    qxs_render_result res;
    assert_int_equal(qxs_render(m, profile, &res, &err), 0);
    assert_non_null(res.payload);
    qx_buf text = {0};
    assert_true(qxs_payload_dump(res.payload, &text) > 0);
    if (strcmp(text.data, want) != 0)
        print_error("--- rendered:\n%s\n--- fixtures/seed/expected-payload.json:\n%s\n", text.data,
                    want);
    assert_string_equal(text.data, want);
    qx_buf_free(&text);
    qxs_render_result_clear(&res);
    json_decref(profile);
    qx_ndjson_close(r);
    fclose(f);
    free(want);
    json_decref(expected);
    qxs_mapping_free(m);
}

static void test_render_refuses_non_object_profile(void **state)
{
    (void)state;
    qx_error err;
    qxs_mapping *m = qxs_mapping_load_file(QX_SOURCE_DIR "/fixtures/seed/mapping.json", &err);
    assert_non_null(m);
    json_t *arr = json_array();
    qxs_render_result res;
    assert_int_equal(qxs_render(m, arr, &res, &err), -1);
    assert_string_equal(err.text, "profile is not a JSON object");
    assert_null(res.payload);
    qxs_render_result_clear(&res);
    json_decref(arr);
    qxs_mapping_free(m);
}

static void test_path_get_and_set(void **state)
{
    (void)state;
    json_t *root = json_object();
    assert_int_equal(qxs_path_set(root, "a.b.c", json_integer(1)), 0);
    assert_int_equal(qxs_path_set(root, "a.b.d", json_integer(2)), 0);
    assert_int_equal(json_integer_value(qxs_path_get(root, "a.b.c")), 1);
    assert_int_equal(json_integer_value(qxs_path_get(root, "a.b.d")), 2);
    assert_null(qxs_path_get(root, "a.b.c.x"));
    assert_null(qxs_path_get(root, "a.x"));
    assert_int_equal(qxs_path_set(root, "a.b.c.x", json_integer(3)), -1); /* c is a number */
    json_decref(root);
}

/* The payload's wire text is json_dumps' compact text, whatever the buffer
 * it starts with; the buffer grows and is reused. */
static void test_payload_dump_is_the_compact_text(void **state)
{
    (void)state;
    json_t *p = json_pack("{s:{s:[{s:s}]}, s:s, s:f}", "identityMap", "Email", "id",
                          "a@example.com", "note", "x\u00e9\"y", "score", 1.5);
    assert_non_null(p);
    char *want = json_dumps(p, JSON_COMPACT);
    size_t want_len = strlen(want);
    qx_buf buf = {0};
    assert_int_equal(qxs_payload_dump(p, &buf), want_len);
    assert_int_equal(buf.len, want_len);
    assert_memory_equal(buf.data, want, want_len);
    assert_true(buf.cap >= want_len);
    char *kept = buf.data;
    assert_int_equal(qxs_payload_dump(p, &buf), want_len); /* big enough: reused */
    assert_ptr_equal(buf.data, kept);
    assert_memory_equal(buf.data, want, want_len);
    qx_buf_free(&buf);
    assert_int_equal(qx_buf_add(&buf, "xyz", 3), 0); /* holding other text to start with */
    assert_int_equal(qxs_payload_dump(p, &buf), want_len);
    assert_int_equal(buf.len, want_len);
    assert_string_equal(buf.data, want);
    qx_buf_free(&buf);
    buf.data = malloc(4); /* too small to start with */
    buf.cap = 4;
    assert_int_equal(qxs_payload_dump(p, &buf), want_len);
    assert_string_equal(buf.data, want);
    qx_buf_free(&buf);
    free(want);
    json_decref(p);
}

static void test_identity_key_is_first_identity(void **state)
{
    (void)state;
    json_t *p = json_loads("{\"identityMap\": {\"Email\": [{\"id\": \"a@b.com\"}], \"ECID\": "
                           "[{\"id\": \"42\"}]}}",
                           0, NULL);
    char *key = qxs_payload_identity_key(p);
    assert_string_equal(key, "Email:a@b.com");
    free(key);
    json_decref(p);
    p = json_loads("{\"person\": {}}", 0, NULL);
    assert_null(qxs_payload_identity_key(p));
    json_decref(p);
}

/* Allocation failures (jansson's allocator hook, as jansson's own
 * test_chaos.c): failing the Nth allocation for every N must give a clean
 * result or a clean error, never a crash or a leak (ASan / valgrind). */
static int alloc_countdown = -1;
static bool alloc_refused;

static void *chaos_malloc(size_t n)
{
    if (alloc_countdown == 0) {
        alloc_refused = true; /* refuse this one only, as jansson's test_chaos.c */
        alloc_countdown = -1;
        return NULL;
    }
    if (alloc_countdown > 0)
        alloc_countdown--;
    return malloc(n);
}

static void test_render_fails_cleanly_when_memory_runs_out(void **state)
{
    (void)state;
    qx_error err;
    json_t *mdoc = json_load_file(QX_SOURCE_DIR "/fixtures/mappings/demo.json", 0, NULL);
    assert_non_null(mdoc);
    json_t *profile = json_loads(
        "{\"identityMap\": {\"Email\": [{\"id\": "
        "\"5d41402abc4b2a76b9719d911017c592c8f3bd1d0e0e0b1e2a6a7"
        "a2e4f0b9c3d\"}, {\"id\": \"ana@example.com\"}], \"ECID\": [{\"id\": \"1\"}]}, \"person\": "
        "{\"name\": {\"firstName\": \"Ana\", \"lastName\": \"S\"}}, \"loyalty\": {\"tier\": [1]}, "
        "\"segmentMembership\": {\"ups\": {\"a1f5c3e0-purchase-completed-0001\": {\"status\": "
        "\"realized\", \"lastQualificationTime\": \"t\"}}}}",
        0, NULL);
    assert_non_null(profile);
    json_set_alloc_funcs(chaos_malloc, free);
    bool completed = false;
    for (int n = 0; n < 10000 && !completed; n++) {
        alloc_countdown = n;
        alloc_refused = false;
        qxs_mapping *m = qxs_mapping_from_json(mdoc, &err);
        if (m == NULL)
            continue;
        qxs_render_result res;
        int rc = qxs_render(m, profile, &res, &err);
        if (rc == 0) {
            assert_true(res.payload != NULL || res.excluded != QXS_NOT_EXCLUDED);
            /* success only when no allocation was refused: nothing silently dropped */
            if (alloc_refused)
                print_error("allocation %d refused, yet rendering succeeded\n", n + 1);
            assert_false(alloc_refused);
            completed = true;
        } else {
            assert_null(res.payload);
            assert_string_equal(err.text, "out of memory while rendering");
        }
        qxs_render_result_clear(&res);
        qxs_mapping_free(m);
    }
    alloc_countdown = -1;
    json_set_alloc_funcs(malloc, free);
    assert_true(completed);
    json_decref(profile);
    json_decref(mdoc);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    static struct CMUnitTest tests[MAX_CASES + 8];
    static char *dirs[MAX_CASES];
    size_t n = 0, n_dirs = 0;
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_render_seed_gives_the_spec_payload);
    tests[n++] =
        (struct CMUnitTest)cmocka_unit_test(test_render_seed_text_is_the_spec_example_text);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_render_refuses_non_object_profile);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_path_get_and_set);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_identity_key_is_first_identity);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_payload_dump_is_the_compact_text);
    tests[n++] =
        (struct CMUnitTest)cmocka_unit_test(test_render_fails_cleanly_when_memory_runs_out);

    DIR *d = opendir(RENDER_CASES);
    if (d == NULL) {
        fprintf(stderr, "cannot open %s\n", RENDER_CASES);
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n_dirs < MAX_CASES) {
        if (e->d_name[0] == '.')
            continue;
        dirs[n_dirs++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(dirs, n_dirs, sizeof *dirs, by_name);
    static char paths[MAX_CASES][512];
    for (size_t i = 0; i < n_dirs; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%s", RENDER_CASES, dirs[i]);
        tests[n++] =
            (struct CMUnitTest){.name = dirs[i], .test_func = run_case, .initial_state = paths[i]};
    }
    int rc = _cmocka_run_group_tests("render", tests, n, NULL, NULL);
    for (size_t i = 0; i < n_dirs; i++)
        free(dirs[i]);
    return rc;
}
