/*
 * fuzz_ingest.c — the emulator's request handling: headers + body -> answer.
 *
 * The first input byte picks the request's shape (method, credentials,
 * content type, token); the rest is the body. The emulator is created once
 * (not listening) with a workflow that exercises event data, conditions and
 * both tasks, so accepted bodies run the whole engine and the store.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static qxm_mock *mock;

static const char config_text[] =
    "{\"users\":[{\"username\":\"u@example.com\",\"apiToken\":\"T1\"}],\"rateLimitPerMinute\":0,"
    "\"workflows\":[{\"id\":\"W\",\"urlTokenId\":\"tok\","
    "\"eventData\":{\"email\":\"$.identityMap.Email[0].id\",\"all\":\"$..id\",\"n\":\"$.person."
    "name.firstName\"},"
    "\"conditions\":[{\"field\":\"email\",\"op\":\"exists\"},{\"field\":\"all\",\"op\":"
    "\"contains\",\"value\":\"x\"}],"
    "\"tasks\":[{\"type\":\"xm_directory_contact\",\"inputs\":{\"email\":\"~{aedj://"
    "email}\",\"firstName\":\"~{aedj://n}\"}},"
    "{\"type\":\"email_distribution\",\"inputs\":{\"email\":\"~{aedj://"
    "email}\"},\"surveyId\":\"SV_1\"}]},"
    "{\"id\":\"D\",\"urlTokenId\":\"off\",\"enabled\":false},"
    "{\"id\":\"O\",\"urlTokenId\":\"open\",\"authRequired\":false,\"eventData\":{\"x\":\"$[*]\"}}]"
    "}";

static const char *shape_token;

static const char *query(void *ctx, const char *name)
{
    (void)ctx;
    return strcmp(name, "urlTokenId") == 0 ? shape_token : NULL;
}

static void init(void)
{
    json_t *doc = json_loads(config_text, 0, NULL);
    qx_error err;
    qxm_config *cfg = qxm_config_from_json(doc, &err);
    json_decref(doc);
    if (cfg == NULL)
        abort();
    qxm_options opt = {.listen = "127.0.0.1:0", .seeded = true, .seed = 1};
    mock = qxm_mock_new(cfg, &opt, &err);
    if (mock == NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (mock == NULL)
        init();
    if (size == 0)
        return 0;
    uint8_t shape = data[0];
    static const char *const tokens[] = {"tok", "off", "open", NULL};
    static const char *const types[] = {"application/json", "text/plain", NULL,
                                        "application/json; charset=utf-8"};
    shape_token = tokens[shape & 3];
    /* "u@example.com:T1" or "u@example.com:wrong" */
    const char *auth = !(shape & 0x10)  ? NULL
                       : (shape & 0x20) ? "Basic dUBleGFtcGxlLmNvbTpUMQ=="
                                        : "Basic dUBleGFtcGxlLmNvbTp3cm9uZw==";
    qxm_request req = {
        .method = (shape & 0x80) ? "GET" : "POST",
        .path = "/inbound-event/v1/events/json/triggers",
        .query = query,
        .content_type = types[(shape >> 2) & 3],
        .authorization = auth,
        .authorization_len = auth != NULL ? strlen(auth) : 0,
        .api_token_header = (shape & 0x40) ? "T1" : NULL,
        .api_token_header_len = 2,
        .body = (const char *)data + 1,
        .body_len = size - 1,
        .body_too_large = size - 1 > QXM_MAX_BODY_BYTES,
        .received_ms = 1700000000000,
    };
    qxm_answer ans = {0};
    qxm_ingest_handle(mock, &req, &ans);
    /* every request gets an answer: the envelope as JSON, or (a run
     * started) its text, which must read back as a JSON object */
    if (ans.status == 0 || (ans.json == NULL && ans.text == NULL))
        abort();
    if (ans.text != NULL) {
        json_t *doc = json_loadb(ans.text, ans.text_len, 0, NULL);
        if (!json_is_object(doc))
            abort();
        json_decref(doc);
    }
    qxm_answer_clear(&ans);
    return 0;
}
