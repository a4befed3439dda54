/*
 * page.c — the run-history web page served at GET /.
 *
 * One self-contained HTML document (no CDN, no external fonts) that reads the
 * admin API; embedded in the binary so the page works offline.
 */
#include <string.h>

#include "mock_internal.h"

static const char page[] =
    "<!doctype html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>qx-mock run history</title>\n"
    "<style>body{font:14px system-ui,sans-serif;margin:1.5rem}table{border-collapse:collapse;"
    "width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd}"
    ".SUCCESS{color:#0a6b2d}.FAILURE{color:#b00020}.RUNNING{color:#805b00}</style>\n"
    "</head><body>\n"
    "<h1>Run history</h1>\n"
    "<table><caption>Workflow runs, newest first</caption><thead><tr><th scope=\"col\">Received"
    "</th><th scope=\"col\">Workflow</th><th scope=\"col\">Status</th><th scope=\"col\">Error"
    "</th></tr></thead><tbody id=\"runs\"></tbody></table>\n"
    "<script>\n"
    "async function load(){const r=await fetch('/_qx/v1/runs?order=desc&limit=100');"
    "const j=await r.json();const tb=document.getElementById('runs');tb.textContent='';"
    "for(const run of j.runs){const tr=document.createElement('tr');"
    "for(const v of [run.receivedAt,run.workflowName||run.workflowId,run.status,run.error||''])"
    "{const td=document.createElement('td');td.textContent=v;tr.appendChild(td);}"
    "tr.children[2].className=run.status;tb.appendChild(tr);}}\n"
    "load();setInterval(load,2000);\n"
    "</script></body></html>\n";

const char *qxm_page_html(size_t *len)
{
    *len = sizeof page - 1;
    return page;
}
