/* fuzz_config.c — the emulator's strict config loader on arbitrary JSON. */
#include <stdint.h>

#include "qxm_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    if (doc == NULL)
        return 0;
    qx_error err;
    qxm_config *c = qxm_config_from_json(doc, &err);
    if (c != NULL) {
        for (size_t i = 0; i < c->n_workflows; i++)
            json_decref(qxm_workflow_to_json(&c->workflows[i]));
        qxm_config_free(c);
    }
    json_decref(doc);
    return 0;
}
