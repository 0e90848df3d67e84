/*
 * report_html: the operator's dashboard, one self-contained HTML5 page
 * (inline CSS and inline SVG; no script, no external asset, readable
 * offline and in print) built from the database:
 *
 *   chart-jobs       jobs per hour by state, the last REPORT_HTML_HOURS
 *                    hours, stacked bars: finished jobs (succeeded, dead,
 *                    cancelled) in the hour of finished_at, live ones
 *                    (queued, running) in the hour of created_at;
 *   chart-messages   messages per day per bot, received and sent, the
 *                    last REPORT_HTML_DAYS days (metrics_daily);
 *   chart-latency    reply latency per day: the median and p90 (nearest
 *                    rank) of the time from an inbound message that
 *                    starts a wait (the contact's previous message is not
 *                    inbound) to the first outbound message sent to the
 *                    contact after it, by the inbound's day (messages);
 *   chart-tokens     LLM tokens in and out (stacked bars) and cost in USD
 *                    (a line on the right axis) per day (metrics_daily);
 *
 * and the tables table-queue (jobs per state, oldest due job, next
 * scheduled), table-types (jobs per type and state) and table-health
 * (oldest due job age, live workers by heartbeat, dead jobs in the last
 * hour, expired leases, each with "ok" or "attention").
 *
 * Each chart is an <svg class="chart"> with a <title>, labelled axes, a
 * legend and a <title> on every bar and point for hover; a chart without
 * data keeps its axes and says "no data yet". Days and hours are UTC.
 */
#ifndef DATER_REPORT_HTML_H
#define DATER_REPORT_HTML_H

#include <stdint.h>
#include <stdio.h>

#include "../cfg.h"
#include "../db.h"

#define REPORT_HTML_HOURS 48		/* hours in chart-jobs */
#define REPORT_HTML_DAYS 30		/* days in the daily charts */
#define REPORT_HTML_BOTS 8		/* bots charted; the rest are "other" */

/*
 * Write the dashboard for time now (ms since the epoch) to out; with
 * refresh_s > 0 a browser reloads it that often (meta refresh). Every
 * query runs in one read transaction (the caller's, if one is open), so
 * the page is one consistent snapshot; nothing is written, so db may be
 * opened with DB_READONLY. Health is report_health's. Every string
 * from the database is HTML-escaped. out stays the caller's (not closed); on error part of
 * the page may have been written. Returns 0, or -1 (logged: a database
 * error, out of memory, or a write error on out).
 */
int report_html(struct db *db, const struct cfg *cfg, int64_t now,
    int refresh_s, FILE *out);

#endif
