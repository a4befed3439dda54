/*
 * qx_json_read.h — a faster json_loadb for the JSON objects the programs
 * read most: qx-send's input lines (`send`, `replay`, `render`: qxs_input),
 * and qx-mock's event bodies and XM Directory contacts.
 *
 * jansson's parser reads its input a character at a time through a stream
 * and a string buffer (lex_get_save, strbuffer_append_byte): about 140
 * instructions per byte of a generated profile, four fifths of the cost of
 * parsing it (callgrind). This reader scans the bytes in place and builds
 * the same tree with jansson's own constructors, so the tree is jansson's:
 * objects keep their members in input order, a repeated key keeps its first
 * position and takes the last value (json_object_setn_new_nocheck, as
 * jansson's parser does), "1" is an integer and "1.0" a real, strings are
 * checked to be UTF-8.
 *
 * It takes only what it is sure to read exactly as jansson does, and hands
 * everything else back: an error of any kind, a \u escape, a number jansson
 * would reject or that does not fit, nesting deeper than QX_JSON_READ_DEPTH,
 * a value that is not an object or an array, text after the value. Then the
 * caller parses with json_loadb, which gives its usual value or message: the
 * reader never makes a message of its own.
 *
 * qx_json_parse does both: this reader, then json_loadb when it hands back.
 *
 * Owns: nothing beyond the returned tree. Locks: none. Fails: NULL (see above).
 */
#ifndef QX_JSON_READ_H
#define QX_JSON_READ_H

#include <jansson.h>
#include <stddef.h>

/* Nesting beyond this is handed back (jansson's own limit is 2048). */
#define QX_JSON_READ_DEPTH 64

/* The object or array that buf[0..len) holds, surrounded by nothing but
 * JSON white space (space, tab, CR, LF), as json_loadb(buf, len,
 * JSON_ALLOW_NUL, NULL) would return it; NULL when the reader hands the
 * text back (then use json_loadb). Returns a new reference. */
json_t *qx_json_read(const char *buf, size_t len);

/* json_loadb(buf, len, flags, err), read by qx_json_read when it can (then
 * err is left as it was): the same value, or NULL and jansson's message.
 * With any flag the reader does not honour (JSON_DECODE_ANY,
 * JSON_REJECT_DUPLICATES, JSON_DISABLE_EOF_CHECK, JSON_DECODE_INT_AS_REAL),
 * jansson alone reads. */
json_t *qx_json_parse(const char *buf, size_t len, size_t flags, json_error_t *err);

#endif
