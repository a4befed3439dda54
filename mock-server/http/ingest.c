/*
 * ingest.c — the JSON-event endpoint over HTTP:
 *   POST /inbound-event/v1/events/json/triggers?urlTokenId=<token>
 * (or the older .../JSON/triggers?...&triggerId=<token>). It hands the
 * request to the engine (qxm_engine_event decides everything: checks,
 * faults, the run) and answers in the Qualtrics API envelope.
 *
 * Basic credentials are read here rather than by libmicrohttpd's helper,
 * which matches the scheme name case-sensitively and returns C strings (a
 * password "TOKEN\0junk" would pass as "TOKEN"): the scheme in any case
 * (RFC 9110 section 11.1), the credentials strict base64 decoded with their
 * length (core/qx_base64.h), refused when the decoded text holds a NUL or no
 * colon. The decoded text is cleared as soon as the engine has checked it.
 * Every 401 carries WWW-Authenticate: Basic, so challenge-driven clients
 * (Python's HTTPBasicAuthHandler, curl --anyauth) send their credentials.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_internal.h"
#include "qx_base64.h"

/* Reads the Authorization header h (h_len bytes) into ev. Basic credentials are decoded
 * into *text (owned: *size bytes the caller clears and frees) and ev points
 * into it; malformed ones set ev->bad_credentials. Another scheme, or no
 * header, leaves ev for the engine (unsupported, or missing credentials). */
static void read_basic(const char *h, size_t h_len, qxm_event *ev, unsigned char **text,
                       size_t *size)
{
    *text = NULL;
    *size = 0;
    if (h == NULL || h_len < 5 || strncasecmp(h, "Basic", 5) != 0 || (h_len > 5 && h[5] != ' '))
        return;
    size_t skip = 5;
    while (skip < h_len && h[skip] == ' ')
        skip++;
    const char *b64 = h + skip;
    size_t n = h_len - skip, len = 0;
    if (n == 0) {
        ev->bad_credentials = "malformed Basic credentials: nothing after the scheme";
        return;
    }
    *size = qx_base64_decoded_max(n) + 1;
    *text = malloc(*size);
    if (*text == NULL) {
        ev->bad_credentials = "Basic credentials could not be read: out of memory";
        return;
    }
    if (qx_base64_decode(b64, n, *text, *size, &len) != 0) {
        ev->bad_credentials = "malformed Basic credentials: not strict base64 (RFC 4648, "
                              "padded, nothing after it)";
        return;
    }
    const unsigned char *colon = memchr(*text, ':', len);
    if (memchr(*text, '\0', len) != NULL) {
        ev->bad_credentials = "malformed Basic credentials: the decoded text holds a NUL byte";
    } else if (colon == NULL) {
        ev->bad_credentials = "malformed Basic credentials: no colon between username and "
                              "API token";
    } else {
        ev->basic_user = (const char *)*text;
        ev->basic_user_len = (size_t)(colon - *text);
        ev->basic_password = (const char *)colon + 1;
        ev->basic_password_len = len - ev->basic_user_len - 1;
    }
}

void qxm_ingest_handle(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    const char *token = req->query(req->query_ctx, "urlTokenId");
    if (token == NULL)
        token = req->query(req->query_ctx, "triggerId");
    qxm_event ev = {
        .method = req->method,
        .path = req->path,
        .url_token = token,
        .content_type = req->content_type,
        .has_authorization = req->authorization != NULL,
        .api_token = req->api_token_header,
        .api_token_len = req->api_token_header_len,
        .body = req->body,
        .body_len = req->body_len,
        .body_too_large = req->body_too_large,
        .received_ms = req->received_ms,
        .client_address = req->client_address[0] != '\0' ? req->client_address : NULL,
        .headers = req->headers,
        .n_headers = req->n_headers,
        .more_headers = req->more_headers,
        .query_args = req->n_query_args > 0 ? req->query_args : NULL,
        .n_query_args = req->n_query_args,
    };
    unsigned char *credentials;
    size_t credentials_size;
    read_basic(req->authorization, req->authorization_len, &ev, &credentials, &credentials_size);
    qxm_event_outcome out;
    qxm_engine_event(m->engine, &ev, &out);
    if (credentials != NULL) {
        /* The token leaves memory as soon as it has been checked. */
        explicit_bzero(credentials, credentials_size);
        free(credentials);
    }
    ans->delay_ms = out.delay_ms;
    ans->drop = out.drop;
    ans->retry_after_s = out.retry_after_s;
    if (out.allow != NULL)
        snprintf(ans->allow, sizeof ans->allow, "%s", out.allow);
    if (out.drop && out.status == 0)
        return; /* closed before the run: nothing is sent */
    ans->status = out.status;
    ans->commit = out.commit;
    if (out.status == 401)
        ans->challenge = QXM_EVENT_CHALLENGE;
    if (out.error_code != NULL) {
        qxm_answer_error(ans, out.status, out.message, out.error_code, out.request_id);
        return;
    }
    if (out.run_started) { /* the hot path: its text written as is */
        ans->text = qxm_envelope_run_text(out.status, out.run_id, out.workflow_id, out.request_id,
                                          &ans->text_len);
        if (ans->text != NULL)
            return;
    }
    json_t *result =
        out.run_started
            ? json_pack("{s:s, s:s}", "runId", out.run_id, "workflowId", out.workflow_id)
        : out.captured ? json_pack("{s:b, s:s}", "captured", 1, "workflowId", out.workflow_id)
                       : json_object();
    ans->json = qxm_envelope_ok(result, out.request_id, out.status);
}
