/*
 * fuzz_render.c — mapping load and render on arbitrary input.
 * Input: a mapping document, a NUL byte, then a profile (NDJSON line).
 * Each profile is rendered twice: plainly, and under a fixed policy whose
 * consent rules walk consents and consents.idSpecific, with the mapping's
 * label violations computed too.
 */
#include <stdint.h>
#include <string.h>

#include "qxs_mapping.h"
#include "qxs_policy.h"
#include "qxs_render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char default_mapping[] =
    "{\"audiences\":[\"s1\",\"s2\"],\"identities\":[{\"source\":\"Email\",\"target\":\"email\"},"
    "{\"source\":\"ECID\",\"target\":\"external_id\"}],\"attributes\":[{\"source\":\"person.name."
    "firstName\",\"target\":\"person.name.firstName\"},{\"source\":\"a.b\",\"target\":\"x\"}]}";

static const char policy_text[] =
    "{\"name\":\"p\",\"consentRules\":[{\"name\":\"e\",\"marketingAction\":\"emailTargeting\","
    "\"path\":\"consents.marketing.email.val\",\"in\":[\"y\"]},{\"name\":\"s\","
    "\"marketingAction\":\"exportToThirdParty\",\"path\":\"consents.share.val\",\"in\":[\"y\"],"
    "\"missing\":\"deny\"}],\"labelRules\":[{\"name\":\"l\",\"marketingAction\":"
    "\"exportToThirdParty\",\"labels\":[\"C2\"]}]}";

/* The policy every input is rendered under too (made once, kept). */
static qxs_policy *fixed_policy(void)
{
    static qxs_policy *p;
    if (p == NULL) {
        json_t *doc = json_loads(policy_text, 0, NULL);
        const char *actions[] = {"emailTargeting", "exportToThirdParty"};
        p = qxs_policy_from_json(doc, NULL);
        json_decref(doc);
        if (p != NULL && qxs_policy_set_actions(p, actions, 2, NULL) != 0) {
            qxs_policy_free(p);
            p = NULL;
        }
    }
    return p;
}

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
        if (qxs_render_governed(m, fixed_policy(), profile, &r, &err) == 0)
            qxs_render_result_clear(&r);
        json_decref(qxs_policy_label_violations(fixed_policy(), m));
    }
    qxs_mapping_free(m);
    json_decref(mdoc);
    json_decref(profile);
    return 0;
}
