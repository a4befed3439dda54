/* junit.c — the results of a suite as JUnit XML (see qxm_suite.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "qx_utf8.h"
#include "qxm_suite.h"

void qxm_xml_escaped(FILE *f, const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    for (size_t i = 0; i < n;) {
        size_t len = qx_utf8_char_len((const unsigned char *)s + i, n - i);
        char c = s[i];
        if (len == 0) {
            fputc('?', f); /* not UTF-8: XML cannot carry it */
            i++;
            continue;
        }
        if (len > 1) {
            fwrite(s + i, 1, len, f);
        } else if (c == '<') {
            fputs("&lt;", f);
        } else if (c == '>') {
            fputs("&gt;", f);
        } else if (c == '&') {
            fputs("&amp;", f);
        } else if (c == '"') {
            fputs("&quot;", f);
        } else if (c == '\'') {
            fputs("&apos;", f);
        } else if ((unsigned char)c < 0x20 && c != '\n' && c != '\t' && c != '\r') {
            fputc('?', f); /* XML 1.0 forbids most control characters */
        } else {
            fputc(c, f);
        }
        i += len;
    }
}

/* One scenario's testcase: a failure (a difference from what was
 * expected) or an error (the scenario or its sender could not run), and the
 * sender's output. */
static void write_case(FILE *f, const qxm_scenario_result *r)
{
    fputs("    <testcase classname=\"qxharness.scenario\" name=\"", f);
    qxm_xml_escaped(f, r->name);
    fprintf(f, "\" time=\"%.3f\"", (double)r->elapsed_ms / 1000);
    if (r->passed && r->sender_out == NULL && r->sender_err == NULL) {
        fputs("/>\n", f);
        return;
    }
    fputs(">\n", f);
    if (!r->passed) {
        const char *tag = r->error ? "error" : "failure";
        fprintf(f, "      <%s message=\"", tag);
        qxm_xml_escaped(f, r->failure);
        fputs("\">", f);
        qxm_xml_escaped(f, r->failure);
        fprintf(f, "</%s>\n", tag);
    }
    if (r->sender_out != NULL) {
        fputs("      <system-out>", f);
        qxm_xml_escaped(f, r->sender_out);
        fputs("</system-out>\n", f);
    }
    if (r->sender_err != NULL) {
        fputs("      <system-err>", f);
        qxm_xml_escaped(f, r->sender_err);
        fputs("</system-err>\n", f);
    }
    fputs("    </testcase>\n", f);
}

int qxm_suite_write_junit(const char *path, const qxm_scenario_result *results, size_t n,
                          qx_error *err)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        qx_error_set(err, "--junit %s: %s", path, strerror(errno));
        return -1;
    }
    size_t failures = 0, errors = 0;
    int64_t total_ms = 0;
    for (size_t i = 0; i < n; i++) {
        failures += !results[i].passed && !results[i].error;
        errors += results[i].error;
        total_ms += results[i].elapsed_ms;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" time=\"%.3f\">\n", n,
            failures, errors, (double)total_ms / 1000);
    fprintf(f,
            "  <testsuite name=\"qx-mock suite\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
            "time=\"%.3f\">\n",
            n, failures, errors, (double)total_ms / 1000);
    for (size_t i = 0; i < n; i++)
        write_case(f, &results[i]);
    fputs("  </testsuite>\n</testsuites>\n", f);
    if (fclose(f) != 0) {
        qx_error_set(err, "--junit %s: write failed", path);
        return -1;
    }
    return 0;
}
