/*
 * tool_governance.c — policies and alerts as the commands take them (see
 * tool_governance.h).
 */
#include "tool_governance.h"

#include <stdio.h>
#include <stdlib.h>

int tool_policy_open(const char *cmd, const char *path, const char *const *actions, size_t n,
                     const char *where_actions, qxs_policy **out)
{
    qx_error err;
    *out = NULL;
    if (path == NULL)
        return 0;
    if (n == 0) {
        /* a policy is evaluated against marketing actions: without any, no
         * rule would apply and the policy would silently do nothing */
        fprintf(stderr, "qx-send %s: the policy %s applies to marketing actions; %s names none\n",
                cmd, path, where_actions);
        return TOOL_EXIT_USAGE;
    }
    qxs_policy *p = qxs_policy_load_file(path, &err);
    if (p == NULL || qxs_policy_set_actions(p, actions, n, &err) != 0) {
        fprintf(stderr, "qx-send %s: %s\n", cmd, err.text);
        qxs_policy_free(p);
        return TOOL_EXIT_USAGE;
    }
    *out = p;
    return 0;
}

int tool_policy_check_labels(const char *cmd, const qxs_policy *p, const qxs_mapping *m)
{
    if (p == NULL)
        return 0;
    json_t *v = qxs_policy_label_violations(p, m);
    if (v == NULL) {
        fprintf(stderr, "qx-send %s: out of memory\n", cmd);
        return TOOL_EXIT_USAGE;
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) fprintf(stderr, "qx-send %s: data usage policy violation: %s\n",
                                        cmd, json_string_value(json_object_get(e, "message")));
    size_t n = json_array_size(v);
    json_decref(v);
    if (n > 0)
        fprintf(stderr,
                "qx-send %s: nothing sent: remove the labelled attributes from the "
                "mapping, or the marketing action from the destination\n",
                cmd);
    return n > 0 ? TOOL_EXIT_USAGE : 0;
}

qxs_alerts *tool_alerts_open(const char *cmd, const tool_options *o, const char *destination)
{
    qx_error err;
    const char *token = NULL;
    if (o->alert_token_env != NULL && o->alert_webhook == NULL) {
        fprintf(stderr, "qx-send %s: --alert-token-env goes with --alert-webhook\n", cmd);
        return NULL;
    }
    if (o->alert_token_env != NULL) {
        token = getenv(o->alert_token_env);
        if (token == NULL || token[0] == '\0') {
            fprintf(stderr, "qx-send %s: --alert-token-env: environment variable %s is not set\n",
                    cmd, o->alert_token_env);
            return NULL;
        }
    }
    qxs_alert_options ao = {
        .threshold_pct = o->alert_rate_set ? o->alert_rate : QXS_ALERT_DEFAULT_THRESHOLD_PCT,
        .destination = destination,
        .webhook_url = o->alert_webhook,
        .webhook_token = token,
        .ca_file = o->cacert,
    };
    qxs_alerts *a = qxs_alerts_new(&ao, &err);
    if (a == NULL)
        fprintf(stderr, "qx-send %s: %s\n", cmd, err.text);
    return a;
}
