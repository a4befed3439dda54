/*
 * progress.c — the text of qx-send's progress line and summary (see
 * qxs_progress.h).
 *
 * Sizes are decimal (kB = 1,000 bytes, as disks and network tools count),
 * in the unit of the total, so "1.2/2.9 MB" reads at a glance. The time
 * left is the time to finish, not to read: reading runs ahead of sending
 * (up to the lines queued for delivery), so the file may be read whole
 * while hundreds of lines wait. The lines the file holds are estimated as
 * the lines read times the size over the bytes they took; those not yet
 * finished go at the rate lines were finished so far.
 */
#include "qxs_progress.h"

#include <stdio.h>

char *qxs_progress_duration(int64_t ms, char *out, size_t size)
{
    int64_t s = (ms + 500) / 1000;
    if (s < 60)
        snprintf(out, size, "%llds", (long long)s);
    else if (s < 3600)
        snprintf(out, size, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else
        snprintf(out, size, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    return out;
}

/* "300/512 B", "1.2/2.9 MB": done and total in total's unit. */
static void format_sizes(int64_t done, int64_t total, char *out, size_t size)
{
    static const struct {
        double scale;
        const char *unit;
    } units[] = {{1e9, "GB"}, {1e6, "MB"}, {1e3, "kB"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if ((double)total >= units[i].scale) {
            snprintf(out, size, "%.1f/%.1f %s", (double)done / units[i].scale,
                     (double)total / units[i].scale, units[i].unit);
            return;
        }
    }
    snprintf(out, size, "%lld/%lld B", (long long)done, (long long)total);
}

/* "42% 1.2/2.9 MB  " and, when it can be told, the ETA into eta; nothing
 * when the total is not known. */
static void format_share(const qxs_progress *p, char *share, size_t share_size, char *eta,
                         size_t eta_size)
{
    share[0] = eta[0] = '\0';
    if (p->bytes_total < 0)
        return;
    const qxs_counts *c = &p->counts;
    int64_t done = c->input_offset < p->bytes_total ? c->input_offset : p->bytes_total;
    if (done < 0)
        done = 0;
    int pct = p->bytes_total > 0 ? (int)(done * 100 / p->bytes_total) : 100;
    char sizes[64];
    format_sizes(done, p->bytes_total, sizes, sizeof sizes);
    snprintf(share, share_size, "%d%% %s  ", pct, sizes);
    if (done <= 0 || c->read <= 0 || p->lines_per_sec <= 0.0)
        return;
    double lines = (double)c->read * (double)p->bytes_total / (double)done;
    double left = lines - (double)(c->activated + c->excluded + c->failed);
    if (left < 0.5)
        return;
    char d[32];
    snprintf(eta, eta_size, "  ETA %s",
             qxs_progress_duration((int64_t)(left * 1000.0 / p->lines_per_sec), d, sizeof d));
}

/* "  throttled: 429 Retry-After 2s (1.4s left)", "  paced at 300/min" or
 * nothing. */
static void format_throttle(const qxs_throttle *t, char *out, size_t size)
{
    out[0] = '\0';
    if (t->pause_left_ms > 0)
        snprintf(out, size, "  throttled: 429 Retry-After %lds (%.1fs left)", t->retry_after_s,
                 (double)t->pause_left_ms / 1000.0);
    else if (t->paced)
        snprintf(out, size, "  paced at %ld/min", t->rate_per_minute);
}

static void format_counts(const qxs_counts *c, char *out, size_t size)
{
    snprintf(out, size, "read %lld  activated %lld  excluded %lld  failed %lld  retries %lld",
             (long long)c->read, (long long)c->activated, (long long)c->excluded,
             (long long)c->failed, (long long)c->retries);
}

char *qxs_progress_line(const qxs_progress *p, char *out, size_t size)
{
    char share[96], eta[48], counts[160], throttle[96];
    format_share(p, share, sizeof share, eta, sizeof eta);
    format_counts(&p->counts, counts, sizeof counts);
    format_throttle(&p->throttle, throttle, sizeof throttle);
    snprintf(out, size, "%s%s  %.1f payloads/s%s%s", share, counts, p->per_sec, eta, throttle);
    return out;
}

char *qxs_progress_summary(const char *cmd, const qxs_counts *c, int64_t elapsed_ms, double per_sec,
                           char *out, size_t size)
{
    char counts[160];
    format_counts(c, counts, sizeof counts);
    /* tenths of a second: a run's length, not the clock's resolution */
    snprintf(out, size, "qx-send %s: %s  in %.1fs  %.1f payloads/s", cmd, counts,
             (double)elapsed_ms / 1000.0, per_sec);
    return out;
}
