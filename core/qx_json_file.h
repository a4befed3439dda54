/*
 * qx_json_file.h — reading a JSON file that a person wrote (an emulator
 * config, a mapping, a destination, a scenario), with errors named the same
 * way for every kind of file.
 *
 * Error forms, so that an editor can jump to the place:
 *   path: <why it cannot be read>            (missing, unreadable)
 *   path:LINE:COLUMN: <jansson's message>    (not JSON, duplicate key, ...)
 * A loader that then checks the document reports "path: key.path: message"
 * (qx_error_prefix(err, "%s", path) over its own "key.path: message").
 * No state, no locks.
 */
#ifndef QX_JSON_FILE_H
#define QX_JSON_FILE_H

#include <jansson.h>

#include "qx_error.h"

/* Parses the file at path with jansson's decoding flags (e.g.
 * JSON_REJECT_DUPLICATES). Returns a new reference, or NULL with err set. */
QX_MUST_CHECK json_t *qx_json_load_file(const char *path, size_t flags, qx_error *err);

#endif
