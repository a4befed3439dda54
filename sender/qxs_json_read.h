/*
 * qxs_json_read.h — a faster json_loadb for the input lines of `send`,
 * `replay` and `render` (qxs_input), for the JSON that profiles are made of.
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
 * would reject or that does not fit, nesting deeper than QXS_JSON_READ_DEPTH,
 * a value that is not an object or an array, text after the value. Then the
 * caller parses with json_loadb, which gives its usual value or message: the
 * reader never makes a message of its own.
 *
 * Owns: nothing beyond the returned tree. Locks: none. Fails: NULL (see above).
 */
#ifndef QXS_JSON_READ_H
#define QXS_JSON_READ_H

#include <jansson.h>
#include <stddef.h>

/* Nesting beyond this is handed back (jansson's own limit is 2048). */
#define QXS_JSON_READ_DEPTH 64

/* The object or array that buf[0..len) holds, surrounded by nothing but
 * JSON white space (space, tab, CR, LF), as json_loadb(buf, len,
 * JSON_ALLOW_NUL, NULL) would return it; NULL when the reader hands the
 * text back (then use json_loadb). Returns a new reference. */
json_t *qxs_json_read(const char *buf, size_t len);

#endif
