/* junit.c — the results of a suite as JUnit XML (see qxm_suite.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "qxm_suite.h"

void qxm_xml_escaped(FILE *f, const char *s)
{
    for (; s != NULL && *s; s++) {
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
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t' && *s != '\r')
                fputc('?', f);
            else
                fputc(*s, f);
        }
    }
}

int qxm_suite_write_junit(const char *path, const qxm_scenario_result *results, size_t n,
                          qx_error *err)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        qx_error_set(err, "--junit %s: %s", path, strerror(errno));
        return -1;
    }
    size_t failures = 0;
    int64_t total_ms = 0;
    for (size_t i = 0; i < n; i++) {
        failures += !results[i].passed;
        total_ms += results[i].elapsed_ms;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites tests=\"%zu\" failures=\"%zu\" time=\"%.3f\">\n", n, failures,
            (double)total_ms / 1000);
    fprintf(f,
            "  <testsuite name=\"qx-mock suite\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
            "time=\"%.3f\">\n",
            n, failures, (double)total_ms / 1000);
    for (size_t i = 0; i < n; i++) {
        fputs("    <testcase classname=\"qxharness.scenario\" name=\"", f);
        qxm_xml_escaped(f, results[i].name);
        fprintf(f, "\" time=\"%.3f\"", (double)results[i].elapsed_ms / 1000);
        if (results[i].passed) {
            fputs("/>\n", f);
            continue;
        }
        fputs(">\n      <failure message=\"", f);
        qxm_xml_escaped(f, results[i].failure);
        fputs("\">", f);
        qxm_xml_escaped(f, results[i].failure);
        fputs("</failure>\n    </testcase>\n", f);
    }
    fputs("  </testsuite>\n</testsuites>\n", f);
    if (fclose(f) != 0) {
        qx_error_set(err, "--junit %s: write failed", path);
        return -1;
    }
    return 0;
}
