/*
 * fuzz_json_read.c — qx_json_read, core's in-place JSON reader, against
 * jansson on arbitrary bytes: whatever it reads must be read by
 * json_loadb(JSON_ALLOW_NUL) too, as the same value (same types, same
 * members in the same order); anything else it must hand back (NULL). A
 * disagreement aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qx_json_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *fast = qx_json_read((const char *)data, size);
    if (fast == NULL)
        return 0;
    json_t *ref = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL);
    if (ref == NULL)
        abort(); /* read what jansson rejects */
    char *a = json_dumps(fast, JSON_COMPACT | JSON_ENCODE_ANY);
    char *b = json_dumps(ref, JSON_COMPACT | JSON_ENCODE_ANY);
    if (a == NULL || b == NULL || strcmp(a, b) != 0 || !json_equal(fast, ref))
        abort(); /* read differently */
    free(a);
    free(b);
    json_decref(fast);
    json_decref(ref);
    return 0;
}
