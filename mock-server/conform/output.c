/* output.c — a conformance run as JUnit XML and as a JSON report
 * (qxm_conform.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform_internal.h"
#include "qxm_suite.h"

int qxm_conform_write_junit(const char *path, const qxm_conform_result *r, qx_error *err)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        qx_error_set(err, "--junit %s: %s", path, strerror(errno));
        return -1;
    }
    size_t failures = 0;
    for (size_t i = 0; i < r->n_rules; i++)
        failures += !r->rules[i].passed;
    double secs = (double)r->elapsed_ms / 1000;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites tests=\"%zu\" failures=\"%zu\" time=\"%.3f\">\n", r->n_rules, failures,
            secs);
    fprintf(f,
            "  <testsuite name=\"qx-mock conform\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
            "time=\"%.3f\">\n",
            r->n_rules, failures, secs);
    for (size_t i = 0; i < r->n_rules; i++) {
        const qxm_rule_result *rule = &r->rules[i];
        fputs("    <testcase classname=\"qxharness.conform\" name=\"", f);
        qxm_xml_escaped(f, rule->rule);
        fputs("\">\n", f);
        if (!rule->passed) {
            fputs("      <failure message=\"", f);
            qxm_xml_escaped(f, rule->summary);
            fputs("\">", f);
            char *evidence = json_dumps(rule->evidence, JSON_INDENT(2));
            qxm_xml_escaped(f, evidence != NULL ? evidence : rule->summary);
            free(evidence);
            fputs("</failure>\n", f);
        }
        fputs("      <system-out>", f);
        qxm_xml_escaped(f, rule->summary);
        fputs("\nsource: ", f);
        qxm_xml_escaped(f, rule->source);
        fputs("</system-out>\n    </testcase>\n", f);
    }
    fputs("  </testsuite>\n</testsuites>\n", f);
    if (fclose(f) != 0) {
        qx_error_set(err, "--junit %s: write failed", path);
        return -1;
    }
    return 0;
}

int qxm_conform_write_report(const char *path, const qxm_conform_result *r, qx_error *err)
{
    json_t *rules = json_array();
    for (size_t i = 0; rules != NULL && i < r->n_rules; i++) {
        const qxm_rule_result *rule = &r->rules[i];
        json_array_append_new(rules,
                              json_pack("{s:s, s:s, s:s, s:O, s:s}", "rule", rule->rule, "verdict",
                                        rule->passed ? "pass" : "fail", "summary", rule->summary,
                                        "evidence", rule->evidence, "source", rule->source));
    }
    json_t *doc = json_pack(
        "{s:b, s:o, s:{s:I, s:s?, s:I}, s:I, s:I, s:I}", "passed", qxm_conform_passed(r), "rules",
        rules, "sender", "exitStatus", (json_int_t)r->sender_status, "problem",
        r->sender_problem[0] != '\0' ? r->sender_problem : NULL, "elapsedMs",
        (json_int_t)r->elapsed_ms, "rateLimitPerMinute", (json_int_t)r->rate_limit_per_minute,
        "payloads", (json_int_t)r->payloads, "requests", (json_int_t)r->requests);
    int rc = doc != NULL ? json_dump_file(doc, path, JSON_INDENT(2)) : -1;
    json_decref(doc);
    if (rc != 0)
        qx_error_set(err, "--report %s: cannot write it", path);
    return rc;
}
