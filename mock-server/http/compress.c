/*
 * compress.c — ETag, 304 and gzip for the admin API's GETs and the page
 * (compress.h says when and why). zlib does the compression; the rest is
 * parsing two request headers by RFC 9110.
 */
#include "compress.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* FNV-1a, 64 bits (the offset basis and prime of its definition). */
#define FNV64_OFFSET 14695981039346656037ULL
#define FNV64_PRIME 1099511628211ULL
/* deflateInit2's window bits: 15, plus 16 for a gzip header and trailer. */
#define GZIP_WINDOW_BITS (15 + 16)
#define GZIP_MEM_LEVEL 8

void qxm_etag_of(const char *body, size_t len, char etag[QXM_ETAG_MAX])
{
    uint64_t h = FNV64_OFFSET;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)body[i];
        h *= FNV64_PRIME;
    }
    snprintf(etag, QXM_ETAG_MAX, "W/\"%016llx\"", (unsigned long long)h);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* The opaque tag of an entity tag (without W/), as [*start, *start + *len). */
static void opaque_tag(const char *tag, size_t n, const char **start, size_t *len)
{
    if (n >= 2 && tag[0] == 'W' && tag[1] == '/') {
        tag += 2;
        n -= 2;
    }
    *start = tag;
    *len = n;
}

bool qxm_etag_matches(const char *if_none_match, const char *etag)
{
    if (if_none_match == NULL)
        return false;
    const char *want;
    size_t want_len;
    opaque_tag(etag, strlen(etag), &want, &want_len);
    const char *p = if_none_match;
    while (*p != '\0') {
        while (is_space(*p) || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t t = n;
        while (t > 0 && is_space(p[t - 1]))
            t--;
        if (t == 1 && p[0] == '*')
            return true;
        const char *got;
        size_t got_len;
        opaque_tag(p, t, &got, &got_len);
        if (got_len == want_len && got_len > 0 && memcmp(got, want, want_len) == 0)
            return true;
        p += n;
    }
    return false;
}

/* The q-value of one Accept-Encoding member's parameters (";q=0.5"); 1
 * when none is given. */
static double q_value(const char *params, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (params[i] != ';')
            continue;
        size_t k = i + 1;
        while (k < n && is_space(params[k]))
            k++;
        if (k + 1 < n && (params[k] == 'q' || params[k] == 'Q') && params[k + 1] == '=') {
            char text[8] = "";
            size_t len = n - (k + 2) < sizeof text - 1 ? n - (k + 2) : sizeof text - 1;
            memcpy(text, params + k + 2, len);
            return strtod(text, NULL);
        }
    }
    return 1.0;
}

bool qxm_accepts_gzip(const char *accept_encoding)
{
    if (accept_encoding == NULL)
        return false;
    double gzip = -1, any = -1;
    const char *p = accept_encoding;
    while (*p != '\0') {
        while (is_space(*p) || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t name = strcspn(p, ";, \t");
        if (name > n)
            name = n;
        double q = q_value(p + name, n - name);
        if ((name == 4 && strncasecmp(p, "gzip", 4) == 0) ||
            (name == 6 && strncasecmp(p, "x-gzip", 6) == 0))
            gzip = q;
        else if (name == 1 && p[0] == '*')
            any = q;
        p += n;
    }
    return gzip >= 0 ? gzip > 0 : any > 0;
}

char *qxm_gzip(const char *body, size_t len, size_t *out_len)
{
    z_stream z = {0};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, GZIP_WINDOW_BITS, GZIP_MEM_LEVEL,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    uLong bound = deflateBound(&z, (uLong)len);
    char *out = malloc(bound);
    if (out == NULL) {
        deflateEnd(&z);
        return NULL;
    }
    z.next_in = (Bytef *)(uintptr_t)body;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)bound;
    /* deflateBound is enough for one Z_FINISH call. */
    int rc = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

struct MHD_Response *qxm_cacheable_response(char **body, size_t len, const char *if_none_match,
                                            const char *accept_encoding, int *status)
{
    char etag[QXM_ETAG_MAX];
    qxm_etag_of(*body, len, etag);
    struct MHD_Response *resp = NULL;
    bool gzip = false;
    if (qxm_etag_matches(if_none_match, etag)) {
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (resp != NULL) {
            *status = MHD_HTTP_NOT_MODIFIED;
            free(*body);
            *body = NULL;
        }
    } else if (len >= QXM_GZIP_MIN_BYTES && len <= UINT32_MAX &&
               qxm_accepts_gzip(accept_encoding)) {
        size_t zlen = 0;
        char *z = qxm_gzip(*body, len, &zlen);
        if (z != NULL)
            resp = MHD_create_response_from_buffer(zlen, z, MHD_RESPMEM_MUST_FREE);
        if (resp != NULL) {
            gzip = true;
            free(*body);
            *body = NULL;
        } else {
            free(z);
        }
    }
    if (resp == NULL) {
        resp = MHD_create_response_from_buffer(len, *body, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL)
            return NULL;
        *body = NULL; /* MHD frees it now */
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    if (gzip)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    return resp;
}
