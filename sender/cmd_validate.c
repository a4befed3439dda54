/*
 * cmd_validate.c — `qx-send validate`: a mapping checked against sample
 * profiles and a workflow (the checks are qxs_validate's); the findings on
 * standard output, then a summary line.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "qx_json_file.h"
#include "qxs_mapping.h"
#include "qxs_validate.h"
#include "tool_cmds.h"
#include "tool_governance.h"
#include "tool_options.h"

static const char usage_validate[] =
    "Usage: qx-send validate --mapping MAP.json [--profiles FILE]\n"
    "                        [--workflow CONFIG.json --workflow-id ID]\n"
    "                        [--policy FILE --marketing-action NAME]\n"
    "\n"
    "Checks a mapping: target names not camelCase (warning), source paths found\n"
    "in none of the sample profiles, hashed emails in the samples, and event-data\n"
    "JSONPaths of the workflow (from a qx-mock config) that no rendered payload\n"
    "satisfies; with a policy, attributes whose data usage labels a rule forbids\n"
    "for the marketing actions (error) and samples excluded by consent. Exit 1\n"
    "when there are errors.\n"
    "\n"
    "  -m, --mapping FILE       mapping file\n"
    "  -p, --profiles FILE      sample profiles (NDJSON)\n"
    "  -w, --workflow FILE      a qx-mock config file holding the workflow\n"
    "  -i, --workflow-id ID     the workflow's id in that file\n"
    "      --policy FILE        data usage and consent policy\n"
    "      --marketing-action NAME  a marketing action the destination performs\n"
    "                           (repeatable; required with --policy)\n"
    "  -h, --help               this text\n";

/* Prints the findings and the summary line. Returns the exit status. */
static int print_findings(const char *mapping_path, const json_t *findings)
{
    size_t i;
    json_t *f;
    json_array_foreach(findings, i, f)
        printf("%s: %s\n", json_string_value(json_object_get(f, "severity")),
               json_string_value(json_object_get(f, "message")));
    size_t errors = qxs_validate_count(findings, "error");
    size_t warnings = qxs_validate_count(findings, "warning");
    printf("%s: %zu error%s, %zu warning%s\n", mapping_path, errors, errors == 1 ? "" : "s",
           warnings, warnings == 1 ? "" : "s");
    return errors > 0 ? TOOL_EXIT_FAILED : 0;
}

/* Opens the samples and the workflow config, runs the checks and prints
 * them. Returns the exit status. */
static int validate(const tool_options *o, const qxs_mapping *m, const qxs_policy *policy)
{
    qx_error err;
    FILE *profiles = NULL;
    json_t *config = NULL, *findings = NULL;
    int rc = TOOL_EXIT_USAGE;
    if (o->profiles != NULL && (profiles = fopen(o->profiles, "r")) == NULL) {
        fprintf(stderr, "qx-send: %s: %s\n", o->profiles, strerror(errno));
        goto out;
    }
    if (o->workflow != NULL && (config = qx_json_load_file(o->workflow, 0, &err)) == NULL) {
        fprintf(stderr, "qx-send: %s\n", err.text);
        goto out;
    }
    qxs_validate_input in = {.mapping = m,
                             .profiles = profiles,
                             .workflow_config = config,
                             .workflow_id = o->workflow_id,
                             .policy = policy};
    findings = qxs_validate(&in, &err);
    if (findings == NULL) {
        fprintf(stderr, "qx-send validate: %s\n", err.text);
        goto out;
    }
    rc = print_findings(o->mapping, findings);
out:
    json_decref(findings);
    json_decref(config);
    if (profiles != NULL)
        fclose(profiles);
    return rc;
}

int tool_cmd_validate(int argc, char **argv)
{
    static const tool_command cmd = {.name = "validate",
                                     .usage = usage_validate,
                                     .shortopts = "m:p:w:i:h",
                                     .accepts = TOOL_OPTS_MAPPING | TOOL_OPTS_VALIDATE |
                                                TOOL_OPTS_POLICY | TOOL_OPTS_ACTION};
    tool_options o = {0};
    int rc = tool_parse_options(&cmd, argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (o.mapping == NULL)
        return tool_usage_error("validate", "%s", "--mapping is required");
    if ((o.workflow == NULL) != (o.workflow_id == NULL))
        return tool_usage_error("validate", "%s", "--workflow and --workflow-id go together");
    if (o.input != NULL)
        return tool_usage_error("validate", "unexpected argument %s (sample profiles: --profiles)",
                                o.input);
    qx_error err;
    qxs_mapping *m = qxs_mapping_load_file(o.mapping, &err);
    if (m == NULL) {
        printf("error: %s\n", err.text);
        return TOOL_EXIT_FAILED;
    }
    qxs_policy *policy = NULL;
    rc = tool_policy_open("validate", o.policy, o.actions, o.n_actions, "--marketing-action",
                          &policy);
    if (rc == 0)
        rc = validate(&o, m, policy);
    qxs_policy_free(policy);
    qxs_mapping_free(m);
    return rc;
}
