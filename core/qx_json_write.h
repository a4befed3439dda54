/*
 * qx_json_write.h — compact JSON text of a jansson value, fast.
 *
 * The same text as json_dumps(v, JSON_COMPACT) — members in the object's
 * order, UTF-8 left as it is, reals as "%.17g" with ".0" added when that
 * reads as an integer — without what makes jansson's dump slow on the hot
 * path of the emulator (a hash table of parent containers keyed by their
 * printed address, built for every dump, and a callback per token). Values
 * built by jansson are trees, so there is no cycle to look for.
 */
#ifndef QX_JSON_WRITE_H
#define QX_JSON_WRITE_H

#include <jansson.h>
#include <stddef.h>

#include "qx_buf.h"
#include "qx_error.h"

/* Appends v as compact JSON. skip, when not NULL, is a NULL-terminated list
 * of keys left out of v itself (when v is an object; nested objects keep
 * theirs). Returns 0, or -1 when memory runs out (b keeps what it had). */
QX_MUST_CHECK int qx_json_write(qx_buf *b, const json_t *v, const char *const *skip);

/* Appends the n bytes at s as a JSON string, escaped as qx_json_write
 * escapes strings (for text built without a jansson value). Returns 0, or
 * -1 when memory runs out. */
QX_MUST_CHECK int qx_json_write_string(qx_buf *b, const char *s, size_t n);

/* Appends the JSON text s[0..n) without the whitespace between its tokens:
 * the same value, written as its sender wrote it (key order, duplicate
 * keys, number forms and escapes kept). s must be valid JSON (qx_json_read
 * or jansson accepted it); other text is copied as far as it goes, never
 * read past n. Returns 0, or -1 when memory runs out (b keeps what it
 * had). */
QX_MUST_CHECK int qx_json_minify(qx_buf *b, const char *s, size_t n);

/* v as new compact JSON text (owned: free()), or NULL when memory runs out. */
char *qx_json_compact(const json_t *v, const char *const *skip);

#endif
