/*
 * compress.h — how an admin GET's answer goes on the wire: a validator and
 * compression, so the page's polls cost little when nothing changed.
 *
 * ETag: a weak validator computed from the body the handler produced
 * (64-bit FNV-1a of its bytes). It is not the store's state: an answer can
 * change with nothing written (a run finishing by the clock, a sliding time
 * window, eviction), and the body is the one thing sure to say so. A request
 * whose If-None-Match names it is answered 304 with no body: the handler's
 * work is done again, the transfer is saved.
 *
 * gzip: a body of QXM_GZIP_MIN_BYTES or more is compressed (zlib) when the
 * client's Accept-Encoding takes gzip; the answer then says Vary:
 * Accept-Encoding. libmicrohttpd compresses nothing by itself.
 *
 * Used by server.c for GET and HEAD on the browser-safe routes (the page and
 * the admin API, routes.c), answers 200 only. No state; thread-safe.
 */
#ifndef QXM_COMPRESS_H
#define QXM_COMPRESS_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

/* Smaller bodies fit one packet anyway: not worth compressing. */
#define QXM_GZIP_MIN_BYTES 1024
/* W/"<16 hex digits>" and its NUL. */
#define QXM_ETAG_MAX 24

/* The weak ETag of body into etag. */
void qxm_etag_of(const char *body, size_t len, char etag[QXM_ETAG_MAX]);

/* Whether an If-None-Match value (NULL: absent) names etag, by weak
 * comparison (RFC 9110 section 13.1.2): "*", or one of its comma-separated
 * entity tags with the same opaque tag, W/ or not. */
bool qxm_etag_matches(const char *if_none_match, const char *etag);

/* Whether an Accept-Encoding value (NULL: absent) takes gzip: "gzip" (or
 * "x-gzip"), else "*", with a q-value above 0. */
bool qxm_accepts_gzip(const char *accept_encoding);

/* body gzip-compressed: a new buffer (owned, malloc'd) with its length in
 * *out_len, or NULL when memory runs out. */
char *qxm_gzip(const char *body, size_t len, size_t *out_len);

/* The response for an answer of 200 with body (malloc'd; taken and set to
 * NULL once the response holds it, or freed when a 304 or a compressed copy
 * replaces it) to a GET or HEAD whose If-None-Match and Accept-Encoding are
 * given (NULL: absent): 304 without a body when the ETag matches (*status
 * is then 304), else the body, gzip-compressed when accepted and worth it,
 * with ETag and Vary. NULL when memory runs out (*body is then still the
 * caller's). */
struct MHD_Response *qxm_cacheable_response(char **body, size_t len, const char *if_none_match,
                                            const char *accept_encoding, int *status);

#endif
