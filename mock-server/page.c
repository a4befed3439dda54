/*
 * page.c — the run-history web page served at GET /.
 *
 * The page's sources are mock-server/page/index.html, style.css and app.js;
 * at build time page/embed.cmake inlines the CSS and JS into the HTML and
 * turns the document into the array below (page_document.c in the build
 * folder). It is one self-contained document — no CDN, no external fonts, no
 * second request — that reads the admin API, so it works offline.
 */
#include <stddef.h>

#include "mock_internal.h"

/* Defined in the generated page_document.c; NUL-terminated, len excludes it. */
extern const unsigned char qxm_page_document[];
extern const size_t qxm_page_document_len;

const char *qxm_page_html(size_t *len)
{
    *len = qxm_page_document_len;
    return (const char *)qxm_page_document;
}
