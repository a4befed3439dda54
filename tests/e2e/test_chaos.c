/*
 * test_chaos.c — 5,000 generated profiles through qx-send into a qx-mock
 * injecting 20% 503s, 5% dropped connections (before and after recording),
 * a tight rate limit and latency. Every profile ends as a run or in the
 * dead-letter file, the counts add up, and replaying the dead-letter file
 * with faults off completes the set. Retry delays are shortened by option.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define PROFILES 5000
#define QX_SEND QX_BIN_DIR "/qx-send"

static const char config_text[] =
    "{\"users\": [{\"username\": \"chaos@example.com\", \"apiToken\": \"QX-CHAOS-TOKEN\"}],"
    " \"rateLimitPerMinute\": 0,"
    " \"workflows\": [{\"id\": \"WF_chaos\", \"urlTokenId\": \"chaos\","
    "   \"eventData\": {\"email\": \"$.identityMap.Email[0].id\", \"externalId\": "
    "\"$.identityMap.external_id[0].id\"},"
    "   \"faults\": {\"latencyMs\": [0, 2], \"errorRate\": 0.2, \"errorStatus\": 503,"
    "              \"dropRate\": 0.05, \"dropPhase\": \"both\", \"rateLimitPerMinute\": 5600}}]}";

/* The identity a payload was rendered from (first id of its identityMap). */
static const char *payload_key(json_t *payload)
{
    json_t *im = json_object_get(payload, "identityMap");
    const char *ns;
    json_t *list;
    json_object_foreach(im, ns, list)
    {
        return json_string_value(json_object_get(json_array_get(list, 0), "id"));
    }
    return NULL;
}

/* Adds the identity of each NDJSON line's "payload" to set; returns lines. */
static size_t collect(const char *text, json_t *set)
{
    size_t n = 0;
    char *copy = strdup(text);
    for (char *line = strtok(copy, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_t *doc = json_loads(line, 0, NULL);
        assert_non_null(doc);
        const char *key = payload_key(json_object_get(doc, "payload"));
        assert_non_null(key);
        json_object_set_new(set, key, json_true());
        json_decref(doc);
        n++;
    }
    free(copy);
    return n;
}

static json_int_t field(json_t *report, const char *name)
{
    return json_integer_value(json_object_get(report, name));
}

static void test_chaos_every_profile_ends_as_a_run_or_dead_letter(void **state)
{
    (void)state;
    char *dir = qxt_tempdir();
    char *config = qxt_write_file(dir, "config.json", config_text);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s/fixtures/profiles/generate' %d 42 > '%s/profiles.ndjson'",
             QX_SOURCE_DIR, PROFILES, dir);
    assert_int_equal(system(cmd), 0);
    qxt_mock m;
    const char *const extra[] = {"--seed", "42", "--threads", "4", NULL};
    assert_int_equal(qxt_mock_start(&m, config, extra), 0);
    char dest_text[512];
    snprintf(dest_text, sizeof dest_text,
             "{\"name\": \"chaos\", \"url\": "
             "\"%s/inbound-event/v1/events/json/triggers?urlTokenId=chaos\","
             " \"username\": \"chaos@example.com\", \"passwordEnv\": \"QX_API_TOKEN\"}",
             m.base_url);
    char *dest = qxt_write_file(dir, "dest.json", dest_text);
    char profiles[600], dl[600], report[600], report2[600];
    snprintf(profiles, sizeof profiles, "%s/profiles.ndjson", dir);
    snprintf(dl, sizeof dl, "%s/dead.ndjson", dir);
    snprintf(report, sizeof report, "%s/report.json", dir);
    snprintf(report2, sizeof report2, "%s/replay.json", dir);
    const char *env[] = {"QX_API_TOKEN=QX-CHAOS-TOKEN", NULL};
    const char *send[] = {QX_SEND,
                          "send",
                          "--destination",
                          dest,
                          "--mapping",
                          QX_SOURCE_DIR "/fixtures/mappings/demo.json",
                          "--concurrency",
                          "32",
                          "--retry-schedule",
                          "20ms,40ms",
                          "--timeout-ms",
                          "5000",
                          "--dead-letter",
                          dl,
                          "--report",
                          report,
                          profiles,
                          NULL};
    char *err = NULL;
    int rc = qxt_run(send, NULL, env, NULL, &err, 120000);
    assert_true(rc == 0 || rc == 1); /* 1: some payloads failed */
    free(err);

    json_t *r = json_load_file(report, 0, NULL);
    assert_non_null(r);
    json_int_t read = field(r, "read"), act = field(r, "activated"), exc = field(r, "excluded"),
               fail = field(r, "failed");
    assert_int_equal(read, PROFILES);
    assert_int_equal(act + exc + fail, read);
    assert_true(field(r, "retries") > 0);

    /* Every sent profile is a run or a dead letter. */
    qxt_response resp;
    char url[512];
    snprintf(url, sizeof url, "%s/_qx/v1/export", m.base_url);
    assert_int_equal(qxt_http("GET", url, NULL, 0, NULL, NULL, &resp), 0);
    json_t *seen = json_object();
    size_t runs = collect(resp.body, seen);
    qxt_response_free(&resp);
    char *dead = qxt_read_file(dl);
    size_t dead_lines = dead != NULL ? collect(dead, seen) : 0;
    free(dead);
    assert_int_equal(dead_lines, (size_t)fail);
    assert_int_equal(json_object_size(seen), (size_t)(act + fail));
    assert_true(runs >= (size_t)act); /* drops after recording give extra runs */

    /* What the faults did, from the journal (requests that started no run). */
    size_t injected = 0, dropped = 0, limited = 0;
    int64_t cursor = 0;
    do {
        snprintf(url, sizeof url, "%s/_qx/v1/requests?limit=1000&cursor=%lld", m.base_url,
                 (long long)cursor);
        assert_int_equal(qxt_http("GET", url, NULL, 0, NULL, NULL, &resp), 0);
        json_t *j = qxt_response_json(&resp);
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(j, "requests"), i, e)
        {
            json_int_t st = json_integer_value(json_object_get(e, "httpStatus"));
            injected += st == 503;
            dropped += st == 0;
            limited += st == 429;
        }
        const char *next = json_string_value(json_object_get(j, "nextCursor"));
        cursor = next != NULL ? strtoll(next, NULL, 10) : 0;
        json_decref(j);
        qxt_response_free(&resp);
    } while (cursor != 0);
    assert_true(injected > 0 && dropped > 0);

    /* Faults off; the dead letters replayed complete the set. */
    snprintf(url, sizeof url, "%s/_qx/v1/faults", m.base_url);
    const char *const ct[] = {"Content-Type: application/json", NULL};
    assert_int_equal(qxt_http("PUT", url, "{}", 2, ct, NULL, &resp), 0);
    assert_int_equal(resp.status, 200);
    qxt_response_free(&resp);
    if (fail > 0) {
        const char *replay[] = {QX_SEND,
                                "replay",
                                "--destination",
                                dest,
                                "--concurrency",
                                "8",
                                "--retry-schedule",
                                "20ms",
                                "--report",
                                report2,
                                dl,
                                NULL};
        assert_int_equal(qxt_run(replay, NULL, env, NULL, NULL, 120000), 0);
        json_t *r2 = json_load_file(report2, 0, NULL);
        assert_int_equal(field(r2, "activated"), fail);
        json_decref(r2);
    }
    snprintf(url, sizeof url, "%s/_qx/v1/export", m.base_url);
    assert_int_equal(qxt_http("GET", url, NULL, 0, NULL, NULL, &resp), 0);
    json_t *final = json_object();
    collect(resp.body, final);
    qxt_response_free(&resp);
    assert_int_equal(json_object_size(final), (size_t)(act + fail));

    printf("chaos: %d profiles, %lld activated, %lld excluded, %lld failed then replayed, "
           "%lld retries; injected 503: %zu, dropped: %zu, 429: %zu; runs: %zu\n",
           PROFILES, (long long)act, (long long)exc, (long long)fail,
           (long long)field(r, "retries"), injected, dropped, limited, runs);
    json_decref(final);
    json_decref(seen);
    json_decref(r);
    qxt_mock_stop(&m, SIGTERM);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(dest);
    free(config);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chaos_every_profile_ends_as_a_run_or_dead_letter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
