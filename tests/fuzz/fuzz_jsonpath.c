/*
 * fuzz_jsonpath.c — JSONPath compile + evaluate on arbitrary input.
 * Input: a JSONPath expression, a NUL byte, then a JSON document (optional).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qx_jsonpath.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t expr_len = nul != NULL ? (size_t)(nul - data) : size;
    char *expr = malloc(expr_len + 1);
    if (expr == NULL)
        return 0;
    memcpy(expr, data, expr_len);
    expr[expr_len] = '\0';
    json_t *doc = NULL;
    if (nul != NULL)
        doc = json_loadb((const char *)nul + 1, size - expr_len - 1, 0, NULL);
    if (doc == NULL)
        doc = json_loads(
            "{\"store\":{\"book\":[{\"a\":1,\"t\":\"x\"},{\"a\":2}],\"b\":{\"c\":[1,[2,3]]}}}", 0,
            NULL);
    qx_error err;
    qx_jsonpath *p = qx_jsonpath_compile(expr, &err);
    if (p != NULL) {
        json_t *r = qx_jsonpath_query(p, doc);
        json_decref(r);
        r = qx_jsonpath_extract(p, doc);
        json_decref(r);
        (void)qx_jsonpath_is_singular(p);
        qx_jsonpath_free(p);
    }
    json_decref(doc);
    free(expr);
    return 0;
}
