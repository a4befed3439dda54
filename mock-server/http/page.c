/*
 * page.c — the run-history web page served at GET /.
 *
 * The page's sources are mock-server/http/page/index.html, style.css and app.js;
 * at build time page/embed.cmake inlines the CSS and JS into the HTML and
 * turns the document into the array below (page_document.c in the build
 * folder). It is one self-contained document — no CDN, no external fonts, no
 * second request — that reads the admin API, so it works offline. Its icon
 * is a data: URL in the document; /favicon.ico, which browsers ask for
 * when a document names no icon (an admin API answer opened in a tab),
 * is 204 No Content rather than a 404 in every log.
 */
#include <stddef.h>

#include <stdlib.h>
#include <string.h>

#include "http_internal.h"

/* Defined in the generated page_document.c; NUL-terminated, len excludes it. */
extern const unsigned char qxm_page_document[];
extern const size_t qxm_page_document_len;

void qxm_page_handle(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    (void)m;
    (void)req;
    ans->status = 200;
    ans->text = malloc(qxm_page_document_len);
    if (ans->text != NULL)
        memcpy(ans->text, qxm_page_document, qxm_page_document_len);
    ans->text_len = qxm_page_document_len;
    ans->content_type = "text/html; charset=utf-8";
}

void qxm_page_favicon(qxm_mock *m, const qxm_request *req, qxm_answer *ans)
{
    (void)m;
    (void)req;
    ans->status = 204;
    ans->content_type = "image/x-icon";
}
