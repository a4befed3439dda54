/*
 * qx_base64.h — strict base64 decoding (RFC 4648 section 4), for HTTP Basic
 * credentials (RFC 7617), whose decoded text may hold any byte: it is
 * decoded with its length, never as a C string.
 *
 * Strict, because a lenient decoder would accept texts the real service may
 * not: only the standard alphabet (A-Z a-z 0-9 + /), the length a multiple
 * of 4, '=' padding only at the end (one or two), the unused bits of the
 * last group zero (section 3.5, so every byte string has exactly one
 * encoding). Whitespace, line breaks, the URL-safe alphabet and unpadded
 * text are all refused. libmicrohttpd 0.9.75, jansson and libcurl export no
 * base64 decoder.
 *
 * Pure functions, no state, no locks.
 */
#ifndef QX_BASE64_H
#define QX_BASE64_H

#include <stddef.h>

#include "qx_error.h"

/* The most bytes in_len characters of base64 decode to. */
size_t qx_base64_decoded_max(size_t in_len);

/* Decodes in[0..in_len) into out (out_size bytes; qx_base64_decoded_max
 * is always enough) and sets *out_len to the bytes written. Returns 0, or
 * -1 when in is not strict base64 or out is too small (out's content is
 * then unspecified: clear it if it may hold a secret). */
QX_MUST_CHECK int qx_base64_decode(const char *in, size_t in_len, unsigned char *out,
                                   size_t out_size, size_t *out_len);

#endif
