/* json_file.c — JSON files with uniform error messages (see qx_json_file.h). */
#include "qx_json_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

json_t *qx_json_load_file(const char *path, size_t flags, qx_error *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        qx_error_set(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    /* A byte order mark at the start is skipped (qx_utf8.h). */
    int c = getc(f);
    if (c == 0xEF && (getc(f) != 0xBB || getc(f) != 0xBF)) {
        fclose(f);
        qx_error_set(err,
                     "%s:1:1: not JSON: the file starts with a byte that is neither JSON "
                     "nor a UTF-8 byte order mark",
                     path);
        return NULL;
    }
    if (c != 0xEF && c != EOF)
        ungetc(c, f);
    json_error_t jerr;
    json_t *doc = json_loadf(f, flags, &jerr);
    int read_error = ferror(f);
    fclose(f);
    if (doc != NULL)
        return doc;
    if (read_error)
        qx_error_set(err, "%s: cannot be read", path);
    else if (jerr.line > 0)
        qx_error_set(err, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
    else
        qx_error_set(err, "%s: %s", path, jerr.text);
    return NULL;
}
