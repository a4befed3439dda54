/*
 * qx_utf8.h — telling valid UTF-8 (RFC 3629) from bytes that are not, for
 * text that must stay valid in JSON and XML (journal entries, JUnit).
 *
 * Owns nothing; no state; cannot fail.
 */
#ifndef QX_UTF8_H
#define QX_UTF8_H

#include <stddef.h>

/* The UTF-8 byte order mark: some editors (Notepad, Excel's "CSV UTF-8")
 * start a file with it. Every JSON and NDJSON file qxharness reads accepts
 * one at its start, and nowhere else (RFC 8259 section 8.1 lets a parser
 * ignore it). */
#define QX_UTF8_BOM "\xEF\xBB\xBF"
#define QX_UTF8_BOM_LEN 3

/* The length (1 to 4) of the valid UTF-8 character at p, n bytes left; 0
 * when the byte there starts none (an overlong form, a surrogate, past
 * U+10FFFF, a truncated sequence) or is a NUL. */
size_t qx_utf8_char_len(const unsigned char *p, size_t n);

/* The length of the longest prefix of the n bytes at p that is at most max
 * bytes and ends between two characters, so that text cut there stays
 * valid UTF-8 (a byte that starts no valid character counts as one). */
size_t qx_utf8_prefix_len(const char *p, size_t n, size_t max);

/* QX_UTF8_BOM_LEN when the n bytes at p start with the byte order mark,
 * else 0. */
size_t qx_utf8_bom_len(const char *p, size_t n);

#endif
