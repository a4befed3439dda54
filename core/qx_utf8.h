/*
 * qx_utf8.h — telling valid UTF-8 (RFC 3629) from bytes that are not, for
 * text that must stay valid in JSON and XML (journal entries, JUnit).
 *
 * Owns nothing; no state; cannot fail.
 */
#ifndef QX_UTF8_H
#define QX_UTF8_H

#include <stddef.h>

/* The length (1 to 4) of the valid UTF-8 character at p, n bytes left; 0
 * when the byte there starts none (an overlong form, a surrogate, past
 * U+10FFFF, a truncated sequence) or is a NUL. */
size_t qx_utf8_char_len(const unsigned char *p, size_t n);

#endif
