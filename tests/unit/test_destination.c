/*
 * test_destination.c — destination files: the token from an environment
 * variable or a file (never from the file itself), URL checks, the optional
 * rateLimitPerMinute, and error messages that never contain the token.
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

#include "qxs_destination.h"

#define TOKEN "QX-TEST-TOKEN-1"
#define URL "http://127.0.0.1:8080/inbound-event/v1/events/json/triggers?urlTokenId=abc"

static char tmpdir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qxs-dest-XXXXXX");
    return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static qxs_destination *from_text(const char *text, qx_error *err)
{
    json_t *doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    qxs_destination *d = qxs_destination_from_json(doc, tmpdir, err);
    json_decref(doc);
    return d;
}

static void test_destination_demo_fixture_reads_token_from_env(void **state)
{
    (void)state;
    setenv("QX_API_TOKEN", TOKEN, 1);
    qx_error err;
    qxs_destination *d =
        qxs_destination_load_file(QX_SOURCE_DIR "/fixtures/destinations/demo.json", &err);
    assert_non_null(d);
    assert_string_equal(d->username, "api-user@example.com");
    assert_string_equal(d->password, TOKEN);
    assert_non_null(strstr(d->url, "urlTokenId=6c1b1e2a-2f7e-4d8e-9a51-0f1d2c3b4a50"));
    assert_true(d->name[0] != '\0');
    qxs_destination_free(d);
    unsetenv("QX_API_TOKEN");
}

static void test_destination_env_unset_names_variable(void **state)
{
    (void)state;
    unsetenv("QX_TEST_UNSET_TOKEN");
    qx_error err;
    qxs_destination *d = from_text("{\"name\": \"n\", \"url\": \"" URL "\", \"username\": \"u\","
                                   " \"passwordEnv\": \"QX_TEST_UNSET_TOKEN\"}",
                                   &err);
    assert_null(d);
    assert_string_equal(
        err.text, "destination.passwordEnv: environment variable QX_TEST_UNSET_TOKEN is not set");
}

static void test_destination_token_file_relative_to_destination(void **state)
{
    (void)state;
    write_file("token.txt", TOKEN "\n");
    char *dest = write_file("dest.json", "{\"name\": \"n\", \"url\": \"" URL "\", \"username\": "
                                         "\"u\", \"passwordFile\": \"token.txt\"}");
    qx_error err;
    qxs_destination *d = qxs_destination_load_file(dest, &err);
    if (d == NULL)
        print_error("%s\n", err.text);
    assert_non_null(d);
    assert_string_equal(d->password, TOKEN); /* trailing newline dropped */
    assert_string_equal(d->description, "");
    qxs_destination_free(d);
}

static void test_destination_token_file_problems(void **state)
{
    (void)state;
    qx_error err;
    write_file("empty.txt", "\n");
    assert_null(from_text("{\"name\": \"n\", \"url\": \"" URL "\", \"username\": \"u\", "
                          "\"passwordFile\": \"empty.txt\"}",
                          &err));
    assert_non_null(strstr(err.text, "must hold the token on one line"));
    write_file("two.txt", "a\nb\n");
    assert_null(from_text("{\"name\": \"n\", \"url\": \"" URL "\", \"username\": \"u\", "
                          "\"passwordFile\": \"two.txt\"}",
                          &err));
    assert_non_null(strstr(err.text, "must hold the token on one line"));
    assert_null(strstr(err.text, "a\nb"));
    assert_null(from_text("{\"name\": \"n\", \"url\": \"" URL "\", \"username\": \"u\", "
                          "\"passwordFile\": \"missing.txt\"}",
                          &err));
    assert_non_null(strstr(err.text, "missing.txt"));
}

/* Each bad destination and the start of its message. */
static const struct {
    const char *doc;
    const char *message;
} bad[] = {
    {"[]", "destination: expected a JSON object"},
    {"{\"url\": \"" URL "\", \"username\": \"u\", \"passwordEnv\": \"X\"}",
     "destination: missing \"name\""},
    {"{\"name\": \"n\", \"username\": \"u\", \"passwordEnv\": \"X\"}",
     "destination: missing \"url\""},
    {"{\"name\": \"n\", \"url\": \"" URL "\", \"passwordEnv\": \"X\"}",
     "destination: missing \"username\""},
    {"{\"name\": \"n\", \"url\": \"" URL "\", \"username\": \"u\"}",
     "destination: exactly one of \"passwordEnv\" and \"passwordFile\" is required"},
    {"{\"name\": \"n\", \"url\": \"" URL "\", \"username\": \"u\", \"passwordEnv\": \"X\", "
     "\"passwordFile\": \"f\"}",
     "destination: exactly one of \"passwordEnv\" and \"passwordFile\" is required"},
    {"{\"name\": \"n\", \"url\": \"" URL "\", \"username\": \"u\", \"password\": \"" TOKEN "\"}",
     "destination: unknown key \"password\" (the token is read from passwordEnv or passwordFile"},
    {"{\"name\": \"n\", \"url\": \"ftp://example.com/x\", \"username\": \"u\", "
     "\"passwordEnv\": \"X\"}",
     "destination.url: \"ftp://example.com/x\" is not an http or https URL"},
    {"{\"name\": \"n\", \"url\": \"not a url\", \"username\": \"u\", \"passwordEnv\": \"X\"}",
     "destination.url: \"not a url\" is not a URL"},
    {"{\"name\": \"n\", \"url\": \"https://u:" TOKEN "@example.com/x\", \"username\": \"u\", "
     "\"passwordEnv\": \"X\"}",
     "destination.url: credentials do not belong in the URL"},
    {"{\"name\": 5, \"url\": \"" URL "\", \"username\": \"u\", \"passwordEnv\": \"X\"}",
     "destination.name: expected a non-empty string"},
    {"{\"name\": \"n\", \"url\": \"" URL "\", \"username\": \"u\", \"passwordEnv\": \"\"}",
     "destination.passwordEnv: expected an environment variable name"},
    {"{\"name\": \"n\", \"url\": \"" URL "\", \"username\": \"u\", \"passwordEnv\": \"X\", "
     "\"rateLimitPerMinute\": 0}",
     "destination.rateLimitPerMinute: expected an integer from 1 to 1000000"},
    {"{\"name\": \"n\", \"url\": \"" URL "\", \"username\": \"u\", \"passwordEnv\": \"X\", "
     "\"rateLimitPerMinute\": 1000001}",
     "destination.rateLimitPerMinute: expected an integer from 1 to 1000000"},
    {"{\"name\": \"n\", \"url\": \"" URL "\", \"username\": \"u\", \"passwordEnv\": \"X\", "
     "\"rateLimitPerMinute\": 300.5}",
     "destination.rateLimitPerMinute: expected an integer from 1 to 1000000"},
    {"{\"name\": \"n\", \"url\": \"" URL "\", \"username\": \"u\", \"passwordEnv\": \"X\", "
     "\"rateLimitPerMinute\": \"300/min\"}",
     "destination.rateLimitPerMinute: expected an integer from 1 to 1000000"},
};

static void test_destination_errors_name_the_key_not_the_token(void **state)
{
    (void)state;
    setenv("X", TOKEN, 1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        qx_error err = {{0}};
        qxs_destination *d = from_text(bad[i].doc, &err);
        if (d != NULL || strncmp(err.text, bad[i].message, strlen(bad[i].message)) != 0) {
            print_error("case %zu: %s\n  got:      %s\n  expected: %s...\n", i, bad[i].doc,
                        d != NULL ? "(accepted)" : err.text, bad[i].message);
            qxs_destination_free(d);
            fail();
        }
        assert_null(strstr(err.text, TOKEN));
    }
    unsetenv("X");
}

static void test_destination_rate_limit_is_read_and_optional(void **state)
{
    (void)state;
    setenv("X", TOKEN, 1);
    qx_error err;
    qxs_destination *d = from_text("{\"name\": \"n\", \"url\": \"" URL "\", \"username\": \"u\","
                                   " \"passwordEnv\": \"X\", \"rateLimitPerMinute\": 3000}",
                                   &err);
    assert_non_null(d);
    assert_int_equal(d->rate_limit_per_minute, 3000);
    qxs_destination_free(d);
    d = from_text("{\"name\": \"n\", \"url\": \"" URL "\", \"username\": \"u\","
                  " \"passwordEnv\": \"X\"}",
                  &err);
    assert_non_null(d);
    assert_int_equal(d->rate_limit_per_minute, 0); /* absent: not paced */
    qxs_destination_free(d);
    unsetenv("X");
}

static void test_destination_policy_and_marketing_actions(void **state)
{
    (void)state;
    qx_error err;
    setenv("QXS_TEST_TOKEN", "t0k3n", 1);
    qxs_destination *d = from_text("{\"name\": \"n\", \"url\": \"" URL "\", \"username\": \"u\", "
                                   "\"passwordEnv\": \"QXS_TEST_TOKEN\", \"policy\": \"p.json\", "
                                   "\"marketingActions\": [\"emailTargeting\", "
                                   "\"exportToThirdParty\"]}",
                                   &err);
    assert_non_null(d);
    char want[128];
    snprintf(want, sizeof want, "%s/p.json", tmpdir); /* relative to the file's directory */
    assert_string_equal(d->policy, want);
    assert_int_equal(d->n_marketing_actions, 2);
    assert_string_equal(d->marketing_actions[1], "exportToThirdParty");
    qxs_destination_free(d);
    d = from_text("{\"name\": \"n\", \"url\": \"" URL "\", \"username\": \"u\", "
                  "\"passwordEnv\": \"QXS_TEST_TOKEN\"}",
                  &err);
    assert_non_null(d);
    assert_null(d->policy);
    assert_int_equal(d->n_marketing_actions, 0);
    qxs_destination_free(d);
    assert_null(from_text("{\"name\": \"n\", \"url\": \"" URL "\", \"username\": \"u\", "
                          "\"passwordEnv\": \"QXS_TEST_TOKEN\", \"marketingActions\": [\"\"]}",
                          &err));
    assert_non_null(strstr(err.text, "destination.marketingActions[0]"));
    assert_null(from_text("{\"name\": \"n\", \"url\": \"" URL "\", \"username\": \"u\", "
                          "\"passwordEnv\": \"QXS_TEST_TOKEN\", \"policy\": 3}",
                          &err));
    assert_non_null(strstr(err.text, "destination.policy"));
}

static void test_destination_free_null_is_noop(void **state)
{
    (void)state;
    qxs_destination_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_destination_demo_fixture_reads_token_from_env),
        cmocka_unit_test(test_destination_env_unset_names_variable),
        cmocka_unit_test(test_destination_token_file_relative_to_destination),
        cmocka_unit_test(test_destination_token_file_problems),
        cmocka_unit_test(test_destination_errors_name_the_key_not_the_token),
        cmocka_unit_test(test_destination_rate_limit_is_read_and_optional),
        cmocka_unit_test(test_destination_policy_and_marketing_actions),
        cmocka_unit_test(test_destination_free_null_is_noop),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
