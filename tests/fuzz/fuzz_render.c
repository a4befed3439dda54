/*
 * fuzz_render.c — mapping load and render on arbitrary input.
 * Input: a mapping document, a NUL byte, then a profile (NDJSON line).
 */
#include <stdint.h>
#include <string.h>

#include "qxs_mapping.h"
#include "qxs_render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char default_mapping[] =
    "{\"audiences\":[\"s1\",\"s2\"],\"identities\":[{\"source\":\"Email\",\"target\":\"email\"},"
    "{\"source\":\"ECID\",\"target\":\"external_id\"}],\"attributes\":[{\"source\":\"person.name."
    "firstName\",\"target\":\"person.name.firstName\"},{\"source\":\"a.b\",\"target\":\"x\"}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    json_t *mdoc = NULL, *profile;
    if (nul != NULL) {
        mdoc = json_loadb((const char *)data, (size_t)(nul - data), 0, NULL);
        profile = json_loadb((const char *)nul + 1, size - (size_t)(nul - data) - 1, 0, NULL);
    } else {
        profile = json_loadb((const char *)data, size, 0, NULL);
    }
    if (mdoc == NULL)
        mdoc = json_loads(default_mapping, 0, NULL);
    qx_error err;
    qxs_mapping *m = qxs_mapping_from_json(mdoc, &err);
    if (m != NULL && profile != NULL) {
        qxs_render_result r;
        if (qxs_render(m, profile, &r, &err) == 0)
            qxs_render_result_clear(&r);
    }
    qxs_mapping_free(m);
    json_decref(mdoc);
    json_decref(profile);
    return 0;
}
