/*
 * whatif_out.c — what `qx-mock whatif` writes (qxm_whatif.h): a line per
 * entry that differs, the summary table, JUnit XML and the JSON report.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "whatif_internal.h"

static const char *member(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

void qxm_whatif_print_line(FILE *f, const json_t *entry)
{
    char verdict[16];
    const char *v = member(entry, "verdict");
    size_t i = 0;
    for (; v[i] != '\0' && i + 1 < sizeof verdict; i++)
        verdict[i] = (char)(v[i] >= 'a' && v[i] <= 'z' ? v[i] - 'a' + 'A' : v[i]);
    verdict[i] = '\0';
    const char *wf = member(entry, "workflowId"), *cause = member(entry, "cause");
    fprintf(f, "%s %s%s%s%s%s%s%s: %s\n", verdict, member(entry, "id"), *wf ? " (" : "", wf,
            *wf ? ")" : "", *cause ? " [" : "", cause, *cause ? "]" : "", member(entry, "text"));
}

void qxm_whatif_print_payloads(FILE *f, const json_t *report)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(report, "payloads"), i, p)
    {
        fprintf(f, "PAYLOAD profile line %lld: %s\n",
                (long long)json_integer_value(json_object_get(p, "profileLine")),
                member(p, "text"));
    }
}

void qxm_whatif_print_summary(FILE *f, const qxm_whatif_counts *c)
{
    fprintf(f, "\n%-18s %8s\n", "what-if", "entries");
    fprintf(f, "%-18s %8lld\n", "unchanged", (long long)c->unchanged);
    fprintf(f, "%-18s %8lld\n", "changed", (long long)c->changed);
    for (int k = 0; k < QXM_WHATIF_N_RUN_KINDS; k++)
        fprintf(f, "  %-16s %8lld\n", qxm_whatif_kind_name((qxm_whatif_kind)k),
                (long long)c->by_kind[k]);
    fprintf(f, "%-18s %8lld\n", "new", (long long)c->added);
    fprintf(f, "%-18s %8lld\n", "gone", (long long)c->gone);
    fprintf(f, "%-18s %8lld\n", "skipped", (long long)c->skipped);
    if (c->payloads > 0)
        fprintf(f, "%-18s %8lld\n", "payloads changed", (long long)c->payloads);
    fprintf(f, "%lld unchanged, %lld changed\n", (long long)c->unchanged,
            (long long)(c->changed + c->added + c->gone));
}

static void xml_text(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&apos;", f);
            break;
        default:
            /* XML 1.0 forbids most control characters. */
            fputc((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t' ? '?' : *s, f);
        }
    }
}

static void junit_case(FILE *f, const json_t *entry)
{
    const char *verdict = member(entry, "verdict");
    fputs("    <testcase classname=\"whatif.", f);
    xml_text(f, *member(entry, "workflowId") ? member(entry, "workflowId") : "none");
    fputs("\" name=\"", f);
    xml_text(f, member(entry, "id"));
    fprintf(f, " (line %lld)\"", (long long)json_integer_value(json_object_get(entry, "line")));
    if (strcmp(verdict, "unchanged") == 0) {
        fputs("/>\n", f);
        return;
    }
    if (strcmp(verdict, "skipped") == 0) {
        fputs(">\n      <skipped message=\"", f);
        xml_text(f, member(entry, "text"));
        fputs("\"/>\n    </testcase>\n", f);
        return;
    }
    fputs(">\n      <failure type=\"", f);
    xml_text(f, verdict);
    fputs("\" message=\"", f);
    xml_text(f, member(entry, "text"));
    fputs("\">", f);
    xml_text(f, member(entry, "text"));
    fputs("</failure>\n    </testcase>\n", f);
}

int qxm_whatif_write_junit(const char *path, const json_t *report, qx_error *err)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        qx_error_set(err, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    const json_t *s = json_object_get(report, "summary");
    json_int_t failures = json_integer_value(json_object_get(s, "changed")) +
                          json_integer_value(json_object_get(s, "new")) +
                          json_integer_value(json_object_get(s, "gone"));
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite "
            "name=\"qx-mock whatif\" tests=\"%lld\" failures=\"%lld\" skipped=\"%lld\">\n",
            (long long)json_array_size(json_object_get(report, "entries")), (long long)failures,
            (long long)json_integer_value(json_object_get(s, "skipped")));
    size_t i;
    json_t *entry;
    json_array_foreach(json_object_get(report, "entries"), i, entry)
    {
        junit_case(f, entry);
    }
    fputs("  </testsuite>\n</testsuites>\n", f);
    if (ferror(f) | (fclose(f) != 0)) {
        qx_error_set(err, "%s: cannot write", path);
        return -1;
    }
    return 0;
}

int qxm_whatif_write_report(const char *path, const json_t *report, qx_error *err)
{
    if (json_dump_file(report, path, JSON_INDENT(1)) != 0) {
        qx_error_set(err, "%s: cannot write the report", path);
        return -1;
    }
    return 0;
}
