/*
 * html: the dashboard page. Two halves: dash_read() fills a
 * struct dash from the database inside one read transaction, and the
 * writers turn that struct into HTML with no further query, so the page
 * is one snapshot.
 *
 * The charts share one drawing model: a 640x330 SVG viewBox (scaled to
 * the card's width by CSS), a legend in the top band, the plot area in
 * struct plot, and a struct scale per value axis that picks 1-2-5 steps
 * (time steps for durations). Colours come from CSS classes or from a
 * fixed palette, never from the database; every database string goes
 * through esc().
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "../clock.h"
#include "../log.h"
#include "report.h"
#include "html.h"
#include "../banned.h"

#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
#define NSTATES 5		/* report_states, in that order */
#define NHOURS REPORT_HTML_HOURS
#define NDAYS REPORT_HTML_DAYS

/* One bot's messages per day. */
struct bot_series {
	char *name;		/* owned */
	const char *colour;	/* bot_colours: from the name */
	int64_t recv[NDAYS];
	int64_t sent[NDAYS];
	int64_t total;
};

/* Everything the page shows, read in one snapshot. */
struct dash {
	const struct cfg *cfg;
	const char *db_path;		/* borrowed */
	int64_t now;
	int64_t hour0;			/* start of the first hour bar */
	int64_t day0;			/* start of the first day (UTC) */
	char day[NDAYS][11];		/* "YYYY-MM-DD" of each day */
	int64_t jobs[NHOURS][NSTATES];
	struct bot_series *bots;	/* owned; by total, descending */
	int nbots;
	int folded;			/* the last is "N other bots" */
	int64_t tok_in[NDAYS], tok_out[NDAYS], calls[NDAYS];
	double cost[NDAYS];
	int64_t p50[NDAYS], p90[NDAYS], nlat[NDAYS];
	int64_t *lat;			/* scratch: one day's latencies */
	size_t nbuf, capbuf;
	int64_t latday;			/* the day in lat */
	json_t *queue;			/* report_queue's document */
	json_t *botdoc;			/* report_bots' document */
	json_t *health;			/* report_health's document */
	json_t *workerdoc;		/* report_workers' document */
	json_t *trouble;		/* dead (a day) and retrying jobs */
	int64_t drafts;			/* review drafts waiting */
	int refresh_s;			/* meta refresh; 0: none */
	int64_t workers, live, dead_hour;
};

static int
oom(void)
{
	log_err("out of memory building the dashboard");
	return -1;
}

/* ---- reading --------------------------------------------------------- */

/* Finished jobs in the hour they finished (the jobs_finished index),
 * live ones in the hour they were created. */
static const char sql_jobs_hourly[] =
    "SELECT (finished_at - ?1) / 3600000, state, count(*) FROM jobs"
    " WHERE state IN ('succeeded','dead','cancelled')"
    " AND finished_at >= ?1 AND finished_at < ?2 GROUP BY 1, 2"
    " UNION ALL"
    " SELECT (created_at - ?1) / 3600000, state, count(*) FROM jobs"
    " WHERE state IN ('queued','running')"
    " AND created_at >= ?1 AND created_at < ?2 GROUP BY 1, 2";

static int
jobs_row(struct dbst *st, void *arg)
{
	struct dash *d = arg;

	int64_t h = db_col_int64(st, 0);
	const char *state = db_col_text(st, 1);
	int i;

	if (state == NULL || h < 0 || h >= NHOURS)
		return 0;
	for (i = 0; i < NSTATES; i++)
		if (strcmp(state, report_states[i]) == 0)
			d->jobs[h][i] += db_col_int64(st, 2);
	return 0;
}

static const char sql_metrics[] =
    "SELECT bot, day, received, sent, tokens_in, tokens_out, cost_usd,"
    " llm_calls FROM metrics_daily WHERE day >= ?1 AND day <= ?2"
    " ORDER BY bot, day";

static int
day_index(const struct dash *d, const char *day)
{
	int i;

	for (i = 0; day != NULL && i < NDAYS; i++)
		if (strcmp(day, d->day[i]) == 0)
			return i;
	return -1;
}

/* The series of bot name: the last one (rows come ordered by bot) or a
 * new one. NULL (logged) if out of memory. */
static struct bot_series *
bot_series(struct dash *d, const char *name)
{
	struct bot_series *b;

	if (d->nbots > 0 && strcmp(d->bots[d->nbots - 1].name, name) == 0)
		return &d->bots[d->nbots - 1];
	b = reallocarray(d->bots, d->nbots + 1, sizeof(*b));
	if (b == NULL) {
		oom();
		return NULL;
	}
	d->bots = b;
	b = &d->bots[d->nbots];
	memset(b, 0, sizeof(*b));
	if ((b->name = strdup(name)) == NULL) {
		oom();
		return NULL;
	}
	d->nbots++;
	return b;
}

static int
metrics_row(struct dbst *st, void *arg)
{
	struct dash *d = arg;

	const char *bot = db_col_text(st, 0);
	int i = day_index(d, db_col_text(st, 1));
	int64_t recv = db_col_int64(st, 2);
	int64_t sent = db_col_int64(st, 3);
	struct bot_series *b;

	if (i < 0)
		return 0;
	d->tok_in[i] += db_col_int64(st, 4);
	d->tok_out[i] += db_col_int64(st, 5);
	d->cost[i] += db_col_double(st, 6);
	d->calls[i] += db_col_int64(st, 7);
	if (bot == NULL || (recv <= 0 && sent <= 0))
		return 0;
	if ((b = bot_series(d, bot)) == NULL)
		return -1;
	b->recv[i] += recv;
	b->sent[i] += sent;
	b->total += recv + sent;
	return 0;
}

/*
 * Per inbound message that starts a wait (the contact's previous message
 * is not inbound): its day, and the time to the first outbound message
 * sent to the contact after it. Ordered so that each day's latencies
 * come sorted, for the percentiles.
 */
static const char sql_latency[] = REPORT_SQL_REPLY_LATENCY;

/* Nearest-rank percentiles of the day collected in d->lat (sorted). */
static void
latency_flush(struct dash *d)
{
	size_t n = d->nbuf;

	d->nbuf = 0;
	if (n == 0 || d->latday < 0 || d->latday >= NDAYS)
		return;
	d->nlat[d->latday] = (int64_t)n;
	d->p50[d->latday] = d->lat[(n + 1) / 2 - 1];
	d->p90[d->latday] = d->lat[(9 * n + 9) / 10 - 1];
}

static int
latency_row(struct dbst *st, void *arg)
{
	struct dash *d = arg;

	int64_t day = db_col_int64(st, 0);
	int64_t *p;
	size_t cap;

	if (day != d->latday) {
		latency_flush(d);
		d->latday = day;
	}
	if (d->nbuf == d->capbuf) {
		cap = d->capbuf ? d->capbuf * 2 : 64;
		if ((p = reallocarray(d->lat, cap, sizeof(*p))) == NULL)
			return oom();
		d->lat = p;
		d->capbuf = cap;
	}
	d->lat[d->nbuf++] = db_col_int64(st, 1);
	return 0;
}

static const char sql_health[] =
    "SELECT (SELECT count(*) FROM workers),"
    " (SELECT count(*) FROM workers WHERE heartbeat_at >= ?1),"
    " (SELECT count(*) FROM jobs WHERE state = 'dead'"
    "  AND finished_at >= ?2)";

static int
health_row(struct dbst *st, void *arg)
{
	struct dash *d = arg;

	d->workers = db_col_int64(st, 0);
	d->live = db_col_int64(st, 1);
	d->dead_hour = db_col_int64(st, 2);
	return 0;
}

/* Run sql with ?1, ?2 bound to a, b over fn. */
static int
query(struct db *db, const char *sql, int64_t a, int64_t b,
    int (*fn)(struct dbst *, void *), struct dash *d)
{
	struct dbst *st = db_stmt(db, sql);

	if (st == NULL)
		return -1;
	db_bind_int64(st, 1, a);
	db_bind_int64(st, 2, b);
	return report_each_row(db, st, fn, d);
}

static int
metrics_read(struct db *db, struct dash *d)
{
	struct dbst *st = db_stmt(db, sql_metrics);

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, d->day[0]);
	db_bind_text(st, 2, d->day[NDAYS - 1]);
	return report_each_row(db, st, metrics_row, d);
}

static int
cmp_bot(const void *a, const void *b)
{
	const struct bot_series *x = a, *y = b;

	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Sort the bots by volume and fold those past REPORT_HTML_BOTS - 1 into
 * one "others" series. */
static int
bots_fold(struct dash *d)
{
	struct bot_series *o;
	char name[64];
	int i, j, keep = REPORT_HTML_BOTS - 1;

	if (d->nbots > 1)
		qsort(d->bots, d->nbots, sizeof(*d->bots), cmp_bot);
	if (d->nbots <= REPORT_HTML_BOTS)
		return 0;
	o = &d->bots[keep];
	snprintf(name, sizeof(name), "%d other bots", d->nbots - keep);
	for (i = keep + 1; i < d->nbots; i++) {
		for (j = 0; j < NDAYS; j++) {
			o->recv[j] += d->bots[i].recv[j];
			o->sent[j] += d->bots[i].sent[j];
		}
		o->total += d->bots[i].total;
		free(d->bots[i].name);
	}
	d->nbots = REPORT_HTML_BOTS;
	d->folded = 1;
	free(o->name);
	if ((o->name = strdup(name)) == NULL)
		return oom();
	return 0;
}

/* Jobs that need a look: dead in the last day, or queued again after a
 * failed attempt; newest first. */
static const char sql_trouble[] =
    "SELECT id, type, bot, state, attempts, max_attempts,"
    " coalesce(finished_at, run_at), json_extract(errors, '$[#-1].error')"
    " FROM jobs WHERE (state = 'dead' AND finished_at >= ?1)"
    " OR (state = 'queued' AND attempts > 0)"
    " ORDER BY id DESC LIMIT ?2";
static const char sql_drafts[] =
    "SELECT count(*) FROM messages WHERE status = 'draft'";

#define TROUBLE_ROWS 20		/* rows of the jobs-needing-a-look table */

static int
trouble_row(struct dbst *st, void *arg)
{
	struct dash *d = arg;

	char at[CLOCK_RFC3339_LEN];
	const char *bot = db_col_text(st, 2);
	const char *err = db_col_text(st, 7);
	json_t *o;

	o = json_pack("{s:I, s:s, s:s?, s:s, s:I, s:I, s:s, s:s?}",
	    "id", (json_int_t)db_col_int64(st, 0),
	    "type", db_col_text(st, 1),
	    "bot", bot,
	    "state", db_col_text(st, 3),
	    "attempts", (json_int_t)db_col_int64(st, 4),
	    "max_attempts", (json_int_t)db_col_int64(st, 5),
	    "at", clock_format(db_col_int64(st, 6), at, sizeof(at)),
	    "error", err);
	if (o == NULL || json_array_append_new(d->trouble, o) < 0)
		return oom();
	return 0;
}

static int
drafts_row(struct dbst *st, void *arg)
{
	struct dash *d = arg;

	d->drafts = db_col_int64(st, 0);
	return 0;
}

/* FNV-1a, 32 bits: a bot's colour depends on its name only. */
static uint32_t
name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The bots' colours (Tableau 10), and the "other bots" grey. */
static const char *const palette[REPORT_HTML_BOTS] = {
	"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948",
	"#b07aa1", "#9c755f"
};
#define OTHER_COLOUR "#9aa5b1"

/*
 * Give each charted bot a stable colour: palette[hash(name) % 8], or
 * the next free one when two names meet, taken in name order so the
 * result depends only on which bots are charted, not on their rank.
 * The "N other bots" row is grey.
 */
static void
bot_colours(struct dash *d)
{
	int used[REPORT_HTML_BOTS] = { 0 }, order[REPORT_HTML_BOTS];
	int i, j, k, n = d->nbots, t;

	if (n > 0 && d->folded) {
		d->bots[n - 1].colour = OTHER_COLOUR;
		n--;
	}
	for (i = 0; i < n; i++)
		order[i] = i;
	for (i = 1; i < n; i++)		/* insertion sort by name */
		for (j = i; j > 0 && strcmp(d->bots[order[j - 1]].name,
		    d->bots[order[j]].name) > 0; j--) {
			t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (i = 0; i < n; i++) {
		k = (int)(name_hash(d->bots[order[i]].name) % REPORT_HTML_BOTS);
		while (used[k])
			k = (k + 1) % REPORT_HTML_BOTS;
		used[k] = 1;
		d->bots[order[i]].colour = palette[k];
	}
}

static int
dash_read(struct db *db, struct dash *d)
{
	/* The configured thresholds (health = { ... }). */
	static const struct report_health_opts defaults = { 0, 0, -1 };
	int own = !db_in_tx(db), rc = -1;

	if (own && db_exec(db, "BEGIN") < 0)
		return -1;
	if (query(db, sql_jobs_hourly, d->hour0, d->hour0 + NHOURS * HOUR_MS,
	    jobs_row, d) < 0 || metrics_read(db, d) < 0 ||
	    query(db, sql_latency, d->day0, d->day0 + NDAYS * DAY_MS,
	    latency_row, d) < 0 ||
	    query(db, sql_health, d->now - report_heartbeat_max_ms(d->cfg),
	    d->now - HOUR_MS, health_row, d) < 0)
		goto out;
	latency_flush(d);
	if ((d->queue = report_queue(db, d->now)) == NULL ||
	    (d->botdoc = report_bots(db, d->cfg, d->now)) == NULL ||
	    (d->health = report_health(db, d->cfg, &defaults, d->now)) ==
	    NULL || (d->workerdoc = report_workers(db, d->now)) == NULL ||
	    (d->trouble = json_array()) == NULL ||
	    query(db, sql_trouble, d->now - DAY_MS, TROUBLE_ROWS, trouble_row,
	    d) < 0 || query(db, sql_drafts, 0, 0, drafts_row, d) < 0)
		goto out;
	if ((rc = bots_fold(d)) == 0)
		bot_colours(d);
out:
	if (own)
		db_rollback(db);	/* nothing was written */
	return rc;
}

static void
dash_init(struct dash *d, const struct cfg *cfg, const char *db_path,
    int64_t now)
{
	struct tm tm;
	time_t t;
	int i;

	memset(d, 0, sizeof(*d));
	d->cfg = cfg;
	d->db_path = db_path;
	d->now = now < 0 ? 0 : now;
	d->hour0 = d->now / HOUR_MS * HOUR_MS - (NHOURS - 1) * HOUR_MS;
	d->day0 = d->now / DAY_MS * DAY_MS - (NDAYS - 1) * DAY_MS;
	d->latday = -1;
	for (i = 0; i < NDAYS; i++) {
		t = (time_t)((d->day0 + i * DAY_MS) / 1000);
		if (gmtime_r(&t, &tm) == NULL ||
		    strftime(d->day[i], sizeof(d->day[i]), "%Y-%m-%d",
		    &tm) == 0)
			d->day[i][0] = '\0';
	}
}

static void
dash_release(struct dash *d)
{
	int i;

	for (i = 0; i < d->nbots; i++)
		free(d->bots[i].name);
	free(d->bots);
	free(d->lat);
	json_decref(d->queue);
	json_decref(d->botdoc);
	json_decref(d->health);
	json_decref(d->workerdoc);
	json_decref(d->trouble);
	memset(d, 0, sizeof(*d));
}

/* ---- HTML primitives --------------------------------------------------- */

/* Write s HTML-escaped (text and attribute values alike); control
 * characters other than tab and newline become U+FFFD. */
static void
esc(FILE *out, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", out);
			break;
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		case '\'':
			fputs("&#39;", out);
			break;
		case '\t':
		case '\n':
			fputc(*s, out);
			break;
		default:
			if ((unsigned char)*s < 0x20 || *s == 0x7f)
				fputs("&#xFFFD;", out);
			else
				fputc(*s, out);
		}
	}
}

/* Compact numbers for labels: 950, 1.5k, 12k, 2.3M. */
static char *
fmt_num(char *buf, size_t len, double v)
{
	if (v >= 1e6 || v <= -1e6)
		snprintf(buf, len, "%.3gM", v / 1e6);
	else if (v >= 1e3 || v <= -1e3)
		snprintf(buf, len, "%.3gk", v / 1e3);
	else
		snprintf(buf, len, "%.3g", v);
	return buf;
}

/* Write at most max bytes of s escaped, cut at a character boundary,
 * with an ellipsis if cut (for legends). */
static void
esc_cut(FILE *out, const char *s, size_t max)
{
	char buf[128];
	size_t n = strlen(s);

	if (n <= max || max >= sizeof(buf)) {
		esc(out, s);
		return;
	}
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;	/* do not split a UTF-8 sequence */
	memcpy(buf, s, max);
	buf[max] = '\0';
	esc(out, buf);
	fputs("\u2026", out);
}

static char *
fmt_usd(char *buf, size_t len, double v, double step)
{
	double unit = 0.01;
	int dec = 2;

	while (dec < 6 && step > 0 && step < unit) {
		dec++;
		unit /= 10;
	}
	snprintf(buf, len, "$%.*f", dec, v);
	return buf;
}

/* Durations on an axis: whole units where they are whole ("90s" is
 * "1m30s", but a tick of 5 min is "5m"). */
static char *
fmt_ms(char *buf, size_t len, int64_t ms)
{
	if (ms == 0)
		snprintf(buf, len, "0");
	else if (ms % DAY_MS == 0)
		snprintf(buf, len, "%lldd", (long long)(ms / DAY_MS));
	else if (ms % HOUR_MS == 0)
		snprintf(buf, len, "%lldh", (long long)(ms / HOUR_MS));
	else if (ms % 60000 == 0)
		snprintf(buf, len, "%lldm", (long long)(ms / 60000));
	else
		clock_format_duration(ms, buf, len);
	return buf;
}

/* "YYYY-MM-DD HH:00" of the hour starting at ms. */
static char *
fmt_hour(char *buf, size_t len, int64_t ms)
{
	struct tm tm;
	time_t t = (time_t)(ms / 1000);

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:00",
	    &tm) == 0)
		snprintf(buf, len, "?");
	return buf;
}

/* ---- charts ------------------------------------------------------------ */

#define SVG_W 640
#define SVG_H 330
#define PLOT_TOP 54		/* above: one row of legend */
#define PLOT_BOTTOM 46		/* below: tick labels and the axis title */
#define PLOT_LEFT 64
#define PLOT_RIGHT 16
#define PLOT_RIGHT_AXIS 64	/* with a right-hand axis */

/* The plot area in viewBox units; y is its top. */
struct plot {
	double x, y, w, h;
};

enum scale_kind { SCALE_COUNT, SCALE_USD, SCALE_MS };

/* A value axis from 0 to top in n steps. */
struct scale {
	enum scale_kind kind;
	double step, top;
	int n;
};


/* The smallest 1, 2 or 5 times a power of ten that is >= raw. */
static double
nice_step(double raw)
{
	double e = 1;

	if (!(raw > 0))
		return 1;
	if (raw > 1e15)
		raw = 1e15;
	while (e * 10 <= raw)
		e *= 10;
	while (e > raw)
		e /= 10;
	if (raw <= e)
		return e;
	if (raw <= 2 * e)
		return 2 * e;
	return raw <= 5 * e ? 5 * e : 10 * e;
}

/* The smallest step of a clock's divisions that is >= raw ms. */
static double
ms_step(double raw)
{
	static const double steps[] = {
		100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000,
		120000, 300000, 600000, 900000, 1800000, 3600000, 7200000,
		10800000, 21600000, 43200000, 86400000
	};
	size_t i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (raw <= steps[i])
			return steps[i];
	return nice_step(raw / DAY_MS) * DAY_MS;
}

/* About four steps from 0 to at least max. */
static void
scale_init(struct scale *s, double max, enum scale_kind kind)
{
	if (!(max > 0))
		max = kind == SCALE_MS ? 1000 : kind == SCALE_USD ? 0.01 : 1;
	s->kind = kind;
	s->step = kind == SCALE_MS ? ms_step(max / 4) : nice_step(max / 4);
	if (kind == SCALE_COUNT && s->step < 1)
		s->step = 1;
	s->n = (int)(max / s->step);
	if (s->n * s->step < max * (1 - 1e-9))
		s->n++;
	if (s->n < 1)
		s->n = 1;
	s->top = s->n * s->step;
}

static char *
scale_label(const struct scale *s, double v, char *buf, size_t len)
{
	if (s->kind == SCALE_MS)
		return fmt_ms(buf, len, (int64_t)(v + 0.5));
	if (s->kind == SCALE_USD)
		return fmt_usd(buf, len, v, s->step);
	return fmt_num(buf, len, v);
}

/* The y of value v. */
static double
ypos(const struct plot *p, const struct scale *s, double v)
{
	if (!(v > 0))
		v = 0;
	if (v > s->top)
		v = s->top;
	return p->y + p->h - v / s->top * p->h;
}

/* Slot i's left edge, of n slots across the plot. */
static double
xslot(const struct plot *p, int n, int i)
{
	return p->x + p->w * i / n;
}

/* A value axis on the left (with grid lines) or on the right. */
static void
axis_y(FILE *out, const struct plot *p, const struct scale *s,
    const char *title, int right)
{
	double x = right ? p->x + p->w : p->x, y;
	char buf[32];
	int i;

	for (i = 0; i <= s->n; i++) {
		y = ypos(p, s, i * s->step);
		if (!right && i > 0)
			fprintf(out, "<line class=\"gl\" x1=\"%.1f\" y1=\"%.1f\""
			    " x2=\"%.1f\" y2=\"%.1f\"/>\n", p->x, y,
			    p->x + p->w, y);
		fprintf(out, "<text class=\"tl\" x=\"%.1f\" y=\"%.1f\""
		    " dy=\"0.32em\" text-anchor=\"%s\">%s</text>\n",
		    right ? x + 6 : x - 6, y, right ? "start" : "end",
		    scale_label(s, i * s->step, buf, sizeof(buf)));
	}
	fprintf(out, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\""
	    " y2=\"%.1f\"/>\n", x, p->y, x, p->y + p->h);
	fprintf(out, "<text class=\"at\" text-anchor=\"middle\""
	    " transform=\"translate(%.1f %.1f) rotate(-90)\">%s</text>\n",
	    right ? (double)SVG_W - 10 : 14.0, p->y + p->h / 2, title);
}

static const char *
hour_label(const struct dash *d, int i, char *buf, size_t len)
{
	int64_t t = d->hour0 + i * HOUR_MS;
	int h = (int)(t / HOUR_MS % 24);

	if (h % 6 != 0)
		return NULL;
	fmt_hour(buf, len, t);	/* "YYYY-MM-DD HH:00" */
	if (h == 0) {
		memmove(buf, buf + 5, 5);	/* "MM-DD" at midnight */
		buf[5] = '\0';
	} else {
		memmove(buf, buf + 11, 6);	/* "HH:00" */
	}
	return buf;
}

static const char *
day_label(const struct dash *d, int i, char *buf, size_t len)
{
	if ((NDAYS - 1 - i) % 5 != 0)
		return NULL;	/* every fifth day, ending today */
	snprintf(buf, len, "%s", d->day[i] + 5);
	return buf;
}

/* The category axis along the bottom: n slots; label(d, i, ...) gives
 * slot i's tick label, or NULL for none. */
static void
axis_x(FILE *out, const struct plot *p, const struct dash *d, int n,
    const char *(*label)(const struct dash *, int, char *, size_t),
    const char *title)
{
	double base = p->y + p->h, x;
	const char *s;
	char buf[32];
	int i;

	fprintf(out, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\""
	    " y2=\"%.1f\"/>\n", p->x, base, p->x + p->w, base);
	for (i = 0; i < n; i++) {
		if ((s = label(d, i, buf, sizeof(buf))) == NULL)
			continue;
		x = (xslot(p, n, i) + xslot(p, n, i + 1)) / 2;
		fprintf(out, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\""
		    " x2=\"%.1f\" y2=\"%.1f\"/>\n<text class=\"tl\" x=\"%.1f\""
		    " y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x, base,
		    x, base + 4, x, base + 16, s);
	}
	fprintf(out, "<text class=\"at\" x=\"%.1f\" y=\"%d\""
	    " text-anchor=\"middle\">%s</text>\n", p->x + p->w / 2, SVG_H - 6,
	    title);
}

/* The legend: a row of swatches above the plot, wrapping. */
struct legend {
	FILE *out;
	double x, y, left, right;
};

enum swatch { SW_BOX, SW_OUTLINE, SW_LINE };

static void
legend_init(struct legend *l, FILE *out, const struct plot *p)
{
	l->out = out;
	l->x = l->left = p->x;
	l->right = p->x + p->w;
	l->y = 16;
}

/* One entry: a swatch of class cls (and colour, if not NULL) and label,
 * escaped and cut to 24 bytes. */
static void
legend_add(struct legend *l, enum swatch sw, const char *cls,
    const char *colour, const char *label)
{
	size_t n = strlen(label);
	double w = 18 + 6.3 * (double)(n > 25 ? 25 : n) + 14;

	if (l->x + w > l->right && l->x > l->left) {
		l->x = l->left;
		l->y += 17;
	}
	if (sw == SW_LINE)
		fprintf(l->out, "<g class=\"lg\"><line class=\"line %s\""
		    " x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
		    "<circle class=\"pt %s\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\"/>",
		    cls, l->x, l->y, l->x + 13, l->y, cls, l->x + 6.5, l->y);
	else
		fprintf(l->out, "<g class=\"lg\"><rect class=\"%s\" x=\"%.1f\""
		    " y=\"%.1f\" width=\"12\" height=\"12\"%s%s%s%s%s%s/>",
		    cls, l->x, l->y - 6, colour ? " fill=\"" : "",
		    colour ? colour : "", colour ? "\"" : "",
		    sw == SW_OUTLINE && colour ? " stroke=\"" : "",
		    sw == SW_OUTLINE && colour ? colour : "",
		    sw == SW_OUTLINE && colour ? "\"" : "");
	fprintf(l->out, "<text x=\"%.1f\" y=\"%.1f\" dy=\"0.32em\">",
	    l->x + 18, l->y);
	esc_cut(l->out, label, 24);
	fputs("</text></g>\n", l->out);
	l->x += w;
}

/* After the last entry: the plot starts below the legend's rows. */
static void
legend_end(struct legend *l, struct plot *p)
{
	p->y = l->y + PLOT_TOP - 16;
	p->h = SVG_H - PLOT_BOTTOM - p->y;
}

static void
chart_begin(FILE *out, const char *id, const char *title, const char *sub)
{
	fprintf(out, "<figure class=\"card\">\n<h2>%s</h2>\n"
	    "<p class=\"sub\">%s</p>\n"
	    "<svg id=\"chart-%s\" class=\"chart\" viewBox=\"0 0 %d %d\""
	    " role=\"img\" aria-labelledby=\"chart-%s-title\">\n"
	    "<title id=\"chart-%s-title\">%s</title>\n",
	    title, sub, id, SVG_W, SVG_H, id, id, title);
}

static void
chart_end(FILE *out, const struct plot *p, int empty)
{
	if (empty)
		fprintf(out, "<text class=\"empty\" x=\"%.1f\" y=\"%.1f\""
		    " text-anchor=\"middle\">no data yet</text>\n",
		    p->x + p->w / 2, p->y + p->h / 2);
	fputs("</svg>\n</figure>\n", out);
}

/* A bar segment with its hover text (escaped). */
static void
bar(FILE *out, double x, double y, double w, double h, const char *cls,
    const char *colour, const char *tip)
{
	fprintf(out, "<rect class=\"%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\""
	    " height=\"%.2f\"", cls, x, y, w, h);
	if (colour != NULL)
		fprintf(out, " fill=\"%s\" stroke=\"%s\"", colour, colour);
	fputs("><title>", out);
	esc(out, tip);
	fputs("</title></rect>\n", out);
}

/* One stacked bar per hour, a segment per state. */
static void
job_bars(FILE *out, const struct dash *d, const struct plot *p,
    const struct scale *s)
{
	char cls[32], hour[32], tip[96];
	double x, w, y, hh;
	int h, i;

	for (h = 0; h < NHOURS; h++) {
		x = xslot(p, NHOURS, h);
		w = xslot(p, NHOURS, h + 1) - x;
		y = p->y + p->h;
		fmt_hour(hour, sizeof(hour), d->hour0 + h * HOUR_MS);
		for (i = 0; i < NSTATES; i++) {
			if (d->jobs[h][i] == 0)
				continue;
			hh = (double)d->jobs[h][i] / s->top * p->h;
			y -= hh;
			snprintf(cls, sizeof(cls), "st-%s", report_states[i]);
			snprintf(tip, sizeof(tip), "%s UTC: %lld %s", hour,
			    (long long)d->jobs[h][i], report_states[i]);
			bar(out, x + w * 0.12, y, w * 0.76, hh, cls, NULL, tip);
		}
	}
}

static void
chart_jobs(FILE *out, const struct dash *d)
{
	struct plot p = { PLOT_LEFT, PLOT_TOP, SVG_W - PLOT_LEFT - PLOT_RIGHT,
	    SVG_H - PLOT_TOP - PLOT_BOTTOM };
	struct scale s;
	struct legend l;
	char cls[32];
	int64_t max = 0, tot;
	int h, i;

	for (h = 0; h < NHOURS; h++) {
		for (tot = 0, i = 0; i < NSTATES; i++)
			tot += d->jobs[h][i];
		max = tot > max ? tot : max;
	}
	scale_init(&s, (double)max, SCALE_COUNT);
	chart_begin(out, "jobs", "Jobs per hour by state", "The last 48 hours."
	    " Finished jobs count in the hour they finished; queued and"
	    " running ones in the hour they were created.");
	legend_init(&l, out, &p);
	for (i = 0; i < NSTATES; i++) {
		snprintf(cls, sizeof(cls), "st-%s", report_states[i]);
		legend_add(&l, SW_BOX, cls, NULL, report_states[i]);
	}
	legend_end(&l, &p);
	axis_y(out, &p, &s, "jobs", 0);
	axis_x(out, &p, d, NHOURS, hour_label, "hour (UTC)");
	job_bars(out, d, &p, &s);
	chart_end(out, &p, max == 0);
}

/* One day's stacked bar of received (sent = 0) or sent messages. */
static void
message_bar(FILE *out, const struct dash *d, const struct plot *p,
    const struct scale *s, int day, int sent)
{
	double x = xslot(p, NDAYS, day), w = xslot(p, NDAYS, day + 1) - x;
	double y = p->y + p->h, hh;
	char tip[160];
	int64_t n;
	int b;

	x += sent ? w * 0.51 : w * 0.11;
	for (b = 0; b < d->nbots; b++) {
		n = sent ? d->bots[b].sent[day] : d->bots[b].recv[day];
		if (n == 0)
			continue;
		hh = (double)n / s->top * p->h;
		y -= hh;
		snprintf(tip, sizeof(tip), "%s, %s: %lld %s", d->day[day],
		    d->bots[b].name, (long long)n, sent ? "sent" : "received");
		bar(out, x, y, w * 0.38, hh, sent ? "sent" : "recv",
		    d->bots[b].colour, tip);
	}
}

static void
chart_messages(FILE *out, const struct dash *d)
{
	struct plot p = { PLOT_LEFT, PLOT_TOP, SVG_W - PLOT_LEFT - PLOT_RIGHT,
	    SVG_H - PLOT_TOP - PLOT_BOTTOM };
	struct scale s;
	struct legend l;
	int64_t max = 0, r, t;
	int b, i;

	for (i = 0; i < NDAYS; i++) {
		for (r = t = 0, b = 0; b < d->nbots; b++) {
			r += d->bots[b].recv[i];
			t += d->bots[b].sent[i];
		}
		max = r > max ? r : max;
		max = t > max ? t : max;
	}
	scale_init(&s, (double)max, SCALE_COUNT);
	chart_begin(out, "messages", "Messages per day per bot", "The last 30"
	    " days. Per day the left bar counts messages received, the right"
	    " one messages sent, stacked by bot.");
	legend_init(&l, out, &p);
	for (b = 0; b < d->nbots; b++)
		legend_add(&l, SW_BOX, "bot", d->bots[b].colour,
		    d->bots[b].name);
	legend_add(&l, SW_OUTLINE, "recv", "#7b8794", "received (light)");
	legend_add(&l, SW_BOX, "sent", "#7b8794", "sent (solid)");
	legend_end(&l, &p);
	axis_y(out, &p, &s, "messages", 0);
	axis_x(out, &p, d, NDAYS, day_label, "day (UTC)");
	for (i = 0; i < NDAYS; i++) {
		message_bar(out, d, &p, &s, i, 0);
		message_bar(out, d, &p, &s, i, 1);
	}
	chart_end(out, &p, max == 0);
}

/* A line through the days where has[] is set, with a hover point at
 * each; a gap in the days breaks the line. */
static void
series(FILE *out, const struct plot *p, const struct scale *s,
    const double *v, const int *has, const char *cls, const char *const *tip)
{
	double x, y;
	int i, open = 0;

	fprintf(out, "<path class=\"line %s\" d=\"", cls);
	for (i = 0; i < NDAYS; i++) {
		if (!has[i]) {
			open = 0;
			continue;
		}
		x = (xslot(p, NDAYS, i) + xslot(p, NDAYS, i + 1)) / 2;
		fprintf(out, "%s%.1f %.1f ", open ? "L" : "M", x,
		    ypos(p, s, v[i]));
		open = 1;
	}
	fputs("\"/>\n", out);
	for (i = 0; i < NDAYS; i++) {
		if (!has[i])
			continue;
		x = (xslot(p, NDAYS, i) + xslot(p, NDAYS, i + 1)) / 2;
		y = ypos(p, s, v[i]);
		fprintf(out, "<circle class=\"pt %s\" cx=\"%.1f\" cy=\"%.1f\""
		    " r=\"4\"><title>", cls, x, y);
		esc(out, tip[i]);
		fputs("</title></circle>\n", out);
	}
}

/* The hover texts of the latency points. */
struct tips {
	char t[NDAYS][128];
	const char *p[NDAYS];
};

static void
chart_latency(FILE *out, const struct dash *d)
{
	struct plot p = { PLOT_LEFT, PLOT_TOP, SVG_W - PLOT_LEFT - PLOT_RIGHT,
	    SVG_H - PLOT_TOP - PLOT_BOTTOM };
	struct scale s;
	struct legend l;
	struct tips tips;
	double v50[NDAYS], v90[NDAYS], max = 0;
	char a[32], b[32];
	int has[NDAYS], i, any = 0;

	for (i = 0; i < NDAYS; i++) {
		has[i] = d->nlat[i] > 0;
		any |= has[i];
		v50[i] = (double)d->p50[i];
		v90[i] = (double)d->p90[i];
		max = v90[i] > max ? v90[i] : max;
		snprintf(tips.t[i], sizeof(tips.t[i]), "%s: median %s, p90 %s"
		    " (%lld %s)", d->day[i], clock_format_duration(d->p50[i],
		    a, sizeof(a)), clock_format_duration(d->p90[i], b,
		    sizeof(b)), (long long)d->nlat[i], d->nlat[i] == 1 ?
		    "reply" : "replies");
		tips.p[i] = tips.t[i];
	}
	scale_init(&s, max, SCALE_MS);
	chart_begin(out, "latency", "Reply latency", "The last 30 days, by the"
	    " day of the message answered: from a contact's first unanswered"
	    " message to the next reply sent.");
	legend_init(&l, out, &p);
	legend_add(&l, SW_LINE, "l-p50", NULL, "median");
	legend_add(&l, SW_LINE, "l-p90", NULL, "90th percentile");
	legend_end(&l, &p);
	axis_y(out, &p, &s, "time to reply", 0);
	axis_x(out, &p, d, NDAYS, day_label, "day (UTC)");
	if (any) {
		series(out, &p, &s, v90, has, "l-p90", tips.p);
		series(out, &p, &s, v50, has, "l-p50", tips.p);
	}
	chart_end(out, &p, !any);
}

/* The cost line of chart_tokens, on the right-hand axis. */
static void
cost_line(FILE *out, const struct dash *d, const struct plot *p,
    const struct scale *s, const int *has)
{
	struct tips tips;
	char a[32];
	int i;

	for (i = 0; i < NDAYS; i++) {
		snprintf(tips.t[i], sizeof(tips.t[i]), "%s: %s estimated cost",
		    d->day[i], fmt_usd(a, sizeof(a), d->cost[i], 0.0001));
		tips.p[i] = tips.t[i];
	}
	series(out, p, s, d->cost, has, "l-cost", tips.p);
}

/* Per day, tokens in with tokens out stacked on top. */
static void
token_bars(FILE *out, const struct dash *d, const struct plot *p,
    const struct scale *s)
{
	char tip[160];
	double x, w, y, hi, ho;
	int i;

	for (i = 0; i < NDAYS; i++) {
		if (d->tok_in[i] + d->tok_out[i] == 0)
			continue;
		x = xslot(p, NDAYS, i);
		w = xslot(p, NDAYS, i + 1) - x;
		hi = (double)d->tok_in[i] / s->top * p->h;
		ho = (double)d->tok_out[i] / s->top * p->h;
		y = p->y + p->h - hi;
		snprintf(tip, sizeof(tip), "%s: %lld tokens in, %lld out"
		    " (%lld LLM calls)", d->day[i], (long long)d->tok_in[i],
		    (long long)d->tok_out[i], (long long)d->calls[i]);
		bar(out, x + w * 0.15, y, w * 0.7, hi, "tk-in", NULL, tip);
		bar(out, x + w * 0.15, y - ho, w * 0.7, ho, "tk-out", NULL, tip);
	}
}

static void
chart_tokens(FILE *out, const struct dash *d)
{
	struct plot p = { PLOT_LEFT, PLOT_TOP, SVG_W - PLOT_LEFT -
	    PLOT_RIGHT_AXIS, SVG_H - PLOT_TOP - PLOT_BOTTOM };
	struct scale s, c;
	struct legend l;
	double maxc = 0;
	int64_t max = 0, tok;
	int has[NDAYS], i, any = 0;

	for (i = 0; i < NDAYS; i++) {
		tok = d->tok_in[i] + d->tok_out[i];
		has[i] = tok + d->calls[i] > 0 || d->cost[i] > 0;
		any |= has[i];
		max = tok > max ? tok : max;
		maxc = d->cost[i] > maxc ? d->cost[i] : maxc;
	}
	scale_init(&s, (double)max, SCALE_COUNT);
	scale_init(&c, maxc, SCALE_USD);
	chart_begin(out, "tokens", "LLM tokens and cost per day", "The last 30"
	    " days, all bots: tokens in and out (bars, left axis) and the"
	    " estimated cost in USD (line, right axis).");
	legend_init(&l, out, &p);
	legend_add(&l, SW_BOX, "tk-in", NULL, "tokens in");
	legend_add(&l, SW_BOX, "tk-out", NULL, "tokens out");
	legend_add(&l, SW_LINE, "l-cost", NULL, "cost (USD)");
	legend_end(&l, &p);
	axis_y(out, &p, &s, "tokens", 0);
	axis_y(out, &p, &c, "USD", 1);
	axis_x(out, &p, d, NDAYS, day_label, "day (UTC)");
	token_bars(out, d, &p, &s);
	if (any)
		cost_line(out, d, &p, &c, has);
	chart_end(out, &p, !any);
}

/* ---- tables and page ----------------------------------------------------- */

static json_int_t
qint(const struct dash *d, const char *key)
{
	return json_integer_value(json_object_get(d->queue, key));
}

static void
row_count(FILE *out, const char *what, json_int_t n)
{
	fprintf(out, "<tr><td>%s</td><td class=\"n\">%lld</td></tr>\n", what,
	    (long long)n);
}

static void
table_queue(FILE *out, const struct dash *d)
{
	json_t *age = json_object_get(d->queue, "oldest_due_age_ms");
	const char *next = json_string_value(json_object_get(d->queue,
	    "next_scheduled_at"));
	char buf[32];

	fputs("<section class=\"card\">\n<h2>Queue</h2>\n"
	    "<table id=\"table-queue\">\n<thead><tr><th>jobs</th>"
	    "<th class=\"n\">count</th></tr></thead>\n<tbody>\n", out);
	row_count(out, "queued, due now", qint(d, "due"));
	row_count(out, "queued, scheduled later", qint(d, "scheduled"));
	row_count(out, "running", qint(d, "running"));
	row_count(out, "succeeded", qint(d, "succeeded"));
	row_count(out, "dead", qint(d, "dead"));
	row_count(out, "cancelled", qint(d, "cancelled"));
	row_count(out, "total", qint(d, "total"));
	fputs("<tr><td>oldest due job</td><td class=\"n\">", out);
	if (json_is_integer(age)) {
		fprintf(out, "#%lld ", (long long)qint(d, "oldest_due_id"));
		esc(out, json_string_value(json_object_get(d->queue,
		    "oldest_due_type")));
		fprintf(out, ", waiting %s", clock_format_duration(
		    json_integer_value(age), buf, sizeof(buf)));
	} else {
		fputs("none", out);
	}
	fputs("</td></tr>\n<tr><td>next scheduled</td><td class=\"n\">", out);
	esc(out, next != NULL ? next : "none");
	fputs("</td></tr>\n</tbody>\n</table>\n</section>\n", out);
}

static void
table_types(FILE *out, const struct dash *d)
{
	static const char *const cols[] = { "total", "due", "scheduled",
	    "running", "succeeded", "dead", "cancelled", NULL };
	json_t *types = json_object_get(d->queue, "by_type"), *t;
	const char *name;
	int i;

	fputs("<section class=\"card wide\">\n<h2>Jobs by type</h2>\n"
	    "<table id=\"table-types\">\n<thead><tr><th>type</th>", out);
	for (i = 0; cols[i] != NULL; i++)
		fprintf(out, "<th class=\"n\">%s</th>", cols[i]);
	fputs("</tr></thead>\n<tbody>\n", out);
	json_object_foreach(types, name, t) {
		fputs("<tr><td>", out);
		esc(out, name);
		fputs("</td>", out);
		for (i = 0; cols[i] != NULL; i++)
			fprintf(out, "<td class=\"n\">%lld</td>", (long long)
			    json_integer_value(json_object_get(t, cols[i])));
		fputs("</tr>\n", out);
	}
	if (json_object_size(types) == 0)
		fputs("<tr><td colspan=\"8\" class=\"none\">no jobs yet</td>"
		    "</tr>\n", out);
	fputs("</tbody>\n</table>\n</section>\n", out);
}

/* Whether the health check named name passed (1 if it is not there). */
static int
check_ok(const struct dash *d, const char *name)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(d->health, "checks"), i, c)
		if (strcmp(json_string_value(json_object_get(c, "check")),
		    name) == 0)
			return json_is_true(json_object_get(c, "ok"));
	return 1;
}

/* A check's value or threshold in words, by the kind of check. */
static void
check_cell(FILE *out, const char *name, const json_t *v, int threshold)
{
	char b[32];

	if (v == NULL || json_is_null(v))
		fputs("-", out);
	else if (strcmp(name, "due_age") == 0)
		fputs(clock_format_duration(json_integer_value(v), b,
		    sizeof(b)), out);
	else if (strcmp(name, "workers") == 0 && threshold)
		fprintf(out, "heartbeat within %s", clock_format_duration(
		    json_integer_value(v), b, sizeof(b)));
	else if (strncmp(name, "budget:", 7) == 0)
		fputs(fmt_usd(b, sizeof(b), json_number_value(v),
		    json_number_value(v) > 0 && json_number_value(v) < 0.005 ?
		    json_number_value(v) : 0), out);
	else if (strcmp(name, "dead_rate") == 0 && threshold)
		fprintf(out, "at most %lld", (long long)json_integer_value(v));
	else
		fprintf(out, "%lld", (long long)json_integer_value(v));
}

/* report_health's checks (the one definition of health, its thresholds
 * from the configuration): what, the value, the limit, ok or not, and
 * the detail as the row's title. */
static void
table_health(FILE *out, const struct dash *d)
{
	static const char *const labels[][2] = {
		{ "due_age", "oldest due job age" },
		{ "workers", "live workers" },
		{ "dead_rate", "dead jobs in the last hour" },
		{ "lease_expired", "running jobs with an expired lease" },
	};
	const char *name, *label;
	json_t *c;
	size_t i, k;
	int ok;

	fputs("<section class=\"card\">\n<h2>Health</h2>\n"
	    "<table id=\"table-health\">\n<thead><tr><th>check</th>"
	    "<th>value</th><th>limit</th><th>status</th></tr></thead>\n"
	    "<tbody>\n", out);
	json_array_foreach(json_object_get(d->health, "checks"), i, c) {
		name = json_string_value(json_object_get(c, "check"));
		ok = json_is_true(json_object_get(c, "ok"));
		for (k = 0, label = NULL; k < sizeof(labels) / sizeof(labels[0]);
		    k++)
			if (strcmp(labels[k][0], name) == 0)
				label = labels[k][1];
		fputs("<tr title=\"", out);
		esc(out, json_string_value(json_object_get(c, "detail")));
		fputs("\"><td>", out);
		if (label != NULL) {
			fputs(label, out);
		} else {
			fputs("budget of ", out);
			esc(out, name + strlen("budget:"));
			fputs(" today", out);
		}
		fputs("</td><td>", out);
		if (strcmp(name, "due_age") == 0 && strcmp(json_string_value(
		    json_object_get(c, "detail")), "no job is due") == 0)
			fputs("nothing due", out);
		else
			check_cell(out, name, json_object_get(c, "value"), 0);
		fputs("</td><td>", out);
		check_cell(out, name, json_object_get(c, "threshold"), 1);
		fprintf(out, "</td><td><span class=\"badge %s\">%s</span></td>"
		    "</tr>\n", ok ? "ok" : "warn", ok ? "ok" : "attention");
	}
	fputs("</tbody>\n</table>\n</section>\n", out);
}

/* The badge class of a bot state: ok (active), idle (held by the
 * operator or the clock) or warn (something needs attention). */
static const char *
state_class(const char *state)
{
	if (state == NULL)
		return "warn";
	if (strcmp(state, "active") == 0)
		return "ok";
	if (strcmp(state, "paused") == 0 || strcmp(state, "quiet") == 0)
		return "idle";
	return "warn";
}

/* A cell holding an RFC 3339 time as "YYYY-MM-DD HH:MM", or "-". */
static void
cell_time(FILE *out, const json_t *t)
{
	const char *s = json_string_value(t);

	fputs("<td>", out);
	if (s != NULL && strlen(s) >= 16)
		fprintf(out, "%.10s %.5s", s, s + 11);
	else
		fputs("-", out);
	fputs("</td>", out);
}

/* A cost cell: cents, or more decimals when a real cost rounds to
 * $0.00 (a local model's fractions of a cent stay visible). */
static void
cell_usd(FILE *out, const json_t *v)
{
	double x = json_number_value(v);
	char buf[32];

	if (!json_is_number(v)) {
		fputs("<td class=\"n\">-</td>", out);
		return;
	}
	fprintf(out, "<td class=\"n\">%s</td>", fmt_usd(buf, sizeof(buf), x,
	    x > 0 && x < 0.005 ? x : 0.01));
}

/* One row of the bots table: the bot's state and why, its listener,
 * today's traffic and cost. */
static void
row_bot(FILE *out, const json_t *b)
{
	const json_t *t = json_object_get(b, "today");
	const char *state = json_string_value(json_object_get(b, "state"));
	const char *why = json_string_value(json_object_get(b, "why"));
	const char *holder = json_string_value(json_object_get(b,
	    "listener"));

	fputs("<tr><td>", out);
	esc(out, json_string_value(json_object_get(b, "name")));
	fprintf(out, "</td><td><span class=\"badge %s\">", state_class(state));
	esc(out, state != NULL ? state : "unknown");
	fputs("</span></td><td>", out);
	esc(out, why != NULL ? why : "");
	fputs("</td>", out);
	cell_time(out, json_object_get(b, "state_since"));
	fputs("<td>", out);
	esc(out, holder != NULL ? holder : "-");
	fputs("</td>", out);
	cell_time(out, json_object_get(b, "listener_since"));
	fprintf(out, "<td class=\"n\">%lld / %lld</td>", (long long)
	    json_integer_value(json_object_get(t, "received")), (long long)
	    json_integer_value(json_object_get(t, "sent")));
	cell_usd(out, json_object_get(t, "cost_usd"));
	cell_usd(out, json_object_get(b, "budget_left_usd"));
	fprintf(out, "<td class=\"n\">%lld</td></tr>\n", (long long)
	    json_integer_value(json_object_get(b, "updates_skipped")));
}

/* Every bot (configured ones first) with its state, why and listener
 * (report_bots). */
static void
table_bots(FILE *out, const struct dash *d)
{
	static const char *const cols[] = { "bot", "state", "why", "since",
	    "listener", "listening since", "received / sent today",
	    "cost today", "budget left", "updates skipped", NULL };
	json_t *bots = json_object_get(d->botdoc, "bots"), *b;
	size_t k;
	int i;

	fputs("<section class=\"card wide\">\n<h2>Bots</h2>\n"
	    "<table id=\"table-bots\">\n<thead><tr>", out);
	for (i = 0; cols[i] != NULL; i++)
		fprintf(out, "<th%s>%s</th>", i >= 6 ? " class=\"n\"" : "",
		    cols[i]);
	fputs("</tr></thead>\n<tbody>\n", out);
	json_array_foreach(bots, k, b)
		row_bot(out, b);
	if (json_array_size(bots) == 0)
		fputs("<tr><td colspan=\"10\" class=\"none\">no bots "
		    "configured or found in the data</td></tr>\n", out);
	fputs("</tbody>\n</table>\n</section>\n", out);
}

static void
tile(FILE *out, const char *id, const char *label, const char *value,
    int warn)
{
	fprintf(out, "<div class=\"tile%s\" id=\"tile-%s\"><b>%s</b>"
	    "<span>%s</span></div>\n", warn ? " warn" : "", id, value, label);
}

static void
tiles(FILE *out, const struct dash *d)
{
	int64_t r = 0, s = 0;
	char v[64];
	int b;

	for (b = 0; b < d->nbots; b++) {
		r += d->bots[b].recv[NDAYS - 1];
		s += d->bots[b].sent[NDAYS - 1];
	}
	fputs("<section class=\"tiles\">\n", out);
	snprintf(v, sizeof(v), "%lld", (long long)qint(d, "due"));
	tile(out, "due", "jobs due now", v, 0);
	snprintf(v, sizeof(v), "%lld", (long long)qint(d, "running"));
	tile(out, "running", "jobs running", v, 0);
	snprintf(v, sizeof(v), "%lld", (long long)d->dead_hour);
	tile(out, "dead", "dead in the last hour", v,
	    !check_ok(d, "dead_rate"));
	snprintf(v, sizeof(v), "%lld / %lld", (long long)d->live,
	    (long long)d->workers);
	tile(out, "workers", "live workers", v, !check_ok(d, "workers"));
	snprintf(v, sizeof(v), "%lld / %lld", (long long)r, (long long)s);
	tile(out, "messages", "received / sent today", v, 0);
	tile(out, "cost", "LLM cost today", fmt_usd(v, sizeof(v),
	    d->cost[NDAYS - 1], 0.01), 0);
	snprintf(v, sizeof(v), "%lld", (long long)d->drafts);
	tile(out, "drafts", "drafts to review", v, 0);
	fputs("</section>\n", out);
}

static const char css[] =
    ":root{color-scheme:light}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:#f4f6f8;color:#1f2933;"
    "font:14px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,"
    "\"DejaVu Sans\",sans-serif}\n"
    "header{background:#fff;border-bottom:1px solid #dde2e8;"
    "padding:14px 28px}\n"
    "h1{margin:0;font-size:21px;font-weight:600}\n"
    ".meta{margin:2px 0 0;color:#616e7c;font-size:13px}\n"
    "main{max-width:1400px;margin:0 auto;padding:18px 28px 28px}\n"
    ".tiles{display:grid;gap:12px;margin-bottom:16px;"
    "grid-template-columns:repeat(auto-fit,minmax(160px,1fr))}\n"
    ".tile{background:#fff;border:1px solid #dde2e8;border-radius:8px;"
    "padding:10px 14px}\n"
    ".tile b{display:block;font-size:24px;font-weight:600;"
    "font-variant-numeric:tabular-nums}\n"
    ".tile span{color:#616e7c;font-size:12px}\n"
    ".tile.warn{border-color:#f5b5ae;background:#fff5f4}\n"
    ".tile.warn b{color:#b3261e}\n"
    ".grid{display:grid;gap:16px;margin-bottom:16px;"
    "grid-template-columns:repeat(auto-fit,minmax(540px,1fr))}\n"
    ".card{background:#fff;border:1px solid #dde2e8;border-radius:8px;"
    "margin:0;padding:14px 16px}\n"
    "h2{margin:0 0 2px;font-size:16px;font-weight:600}\n"
    ".sub{margin:0 0 8px;color:#616e7c;font-size:12px}\n"
    "svg.chart{display:block;width:100%;height:auto}\n"
    "svg text{font-size:11px;fill:#3e4c59}\n"
    "svg .at{font-size:12px;fill:#52606d}\n"
    "svg .tl{fill:#616e7c}\n"
    "svg .empty{font-size:16px;font-style:italic;fill:#9aa5b1}\n"
    ".axis{stroke:#9aa5b1;stroke-width:1}\n"
    ".gl{stroke:#e4e7eb;stroke-width:1}\n"
    ".st-queued{fill:#7cb4e8}.st-running{fill:#f2a541}"
    ".st-succeeded{fill:#5bb974}.st-dead{fill:#d9534f}"
    ".st-cancelled{fill:#b8c0c8}\n"
    "rect.recv{fill-opacity:.35;stroke-width:1}\n"
    "rect.sent{stroke-width:0}\n"
    ".tk-in{fill:#9cc3ea}.tk-out{fill:#3f7fc4}\n"
    ".line{fill:none;stroke-width:2}\n"
    ".line.l-p50,.pt.l-p50{stroke:#2f6fba}.pt.l-p50{fill:#2f6fba}\n"
    ".line.l-p90,.pt.l-p90{stroke:#e07b24}.pt.l-p90{fill:#e07b24}\n"
    ".line.l-cost,.pt.l-cost{stroke:#2e9e5b}.pt.l-cost{fill:#2e9e5b}\n"
    ".pt{stroke-width:1;stroke:#fff}\n"
    ".tables{display:grid;gap:16px;"
    "grid-template-columns:repeat(auto-fit,minmax(440px,1fr))}\n"
    ".tables .card{overflow-x:auto}\n"
    ".wide{grid-column:1/-1}\n"
    "td.err{font-family:\"DejaVu Sans Mono\",monospace;font-size:12px;"
    "overflow-wrap:anywhere}\n"
    "table{width:100%;border-collapse:collapse}\n"
    "th,td{padding:5px 8px;text-align:left;"
    "border-bottom:1px solid #edf0f3}\n"
    "th{color:#616e7c;font-weight:600;font-size:12px}\n"
    "tbody tr:nth-child(even){background:#fafbfc}\n"
    ".n{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".none{color:#9aa5b1;font-style:italic}\n"
    ".badge{display:inline-block;padding:1px 9px;border-radius:10px;"
    "font-size:12px}\n"
    ".badge.ok{background:#e3f4e8;color:#1e7b34}\n"
    ".badge.warn{background:#fdecea;color:#b3261e}\n"
    ".badge.idle{background:#eef1f4;color:#52606d}\n"
    "footer{color:#7b8794;font-size:12px;padding:0 28px 24px;"
    "max-width:1400px;margin:0 auto}\n"
    "@media print{body{background:#fff}.card,.tile{break-inside:avoid}}\n";

/* Dead (in the last day) and retrying jobs, newest first, with their
 * last error. */
static void
table_trouble(FILE *out, const struct dash *d)
{
	json_t *j;
	size_t i;

	fputs("<section class=\"card wide\">\n<h2>Jobs that need a look</h2>\n"
	    "<table id=\"table-trouble\">\n<thead><tr><th class=\"n\">job</th>"
	    "<th>type</th><th>bot</th><th>state</th><th class=\"n\">"
	    "attempts</th><th>when</th><th>last error</th></tr></thead>\n"
	    "<tbody>\n", out);
	json_array_foreach(d->trouble, i, j) {
		fprintf(out, "<tr><td class=\"n\">%lld</td><td>",
		    (long long)json_integer_value(json_object_get(j, "id")));
		esc(out, json_string_value(json_object_get(j, "type")));
		fputs("</td><td>", out);
		esc(out, json_is_string(json_object_get(j, "bot")) ?
		    json_string_value(json_object_get(j, "bot")) : "-");
		fprintf(out, "</td><td><span class=\"badge %s\">%s</span></td>"
		    "<td class=\"n\">%lld/%lld</td><td>",
		    strcmp(json_string_value(json_object_get(j, "state")),
		    "dead") == 0 ? "warn" : "idle",
		    strcmp(json_string_value(json_object_get(j, "state")),
		    "dead") == 0 ? "dead" : "retrying",
		    (long long)json_integer_value(json_object_get(j,
		    "attempts")), (long long)json_integer_value(
		    json_object_get(j, "max_attempts")));
		cell_time(out, json_object_get(j, "at"));
		fputs("</td><td class=\"err\">", out);
		esc_cut(out, json_is_string(json_object_get(j, "error")) ?
		    json_string_value(json_object_get(j, "error")) : "-", 200);
		fputs("</td></tr>\n", out);
	}
	if (json_array_size(d->trouble) == 0)
		fputs("<tr><td colspan=\"7\" class=\"none\">no job died in the"
		    " last day and none is retrying</td></tr>\n", out);
	fputs("</tbody>\n</table>\n</section>\n", out);
}

/* The registered workers: where, since when, their last heartbeat and
 * the jobs they run. */
static void
table_workers(FILE *out, const struct dash *d)
{
	json_t *w, *ws = json_object_get(d->workerdoc, "workers");
	char b[32];
	size_t i;

	fputs("<section class=\"card\">\n<h2>Workers</h2>\n"
	    "<table id=\"table-workers\">\n<thead><tr><th>worker</th>"
	    "<th>started</th><th>heartbeat</th><th class=\"n\">jobs</th>"
	    "</tr></thead>\n<tbody>\n", out);
	json_array_foreach(ws, i, w) {
		fputs("<tr><td>", out);
		esc(out, json_string_value(json_object_get(w, "id")));
		fputs("</td><td>", out);
		cell_time(out, json_object_get(w, "started_at"));
		fprintf(out, "</td><td>%s ago</td><td class=\"n\">%zu</td>"
		    "</tr>\n", clock_format_duration(json_integer_value(
		    json_object_get(w, "heartbeat_age_ms")), b, sizeof(b)),
		    json_array_size(json_object_get(w, "jobs")));
	}
	if (json_array_size(ws) == 0)
		fputs("<tr><td colspan=\"4\" class=\"none\">no worker"
		    " registered</td></tr>\n", out);
	fputs("</tbody>\n</table>\n</section>\n", out);
}

static void
page_begin(FILE *out, const struct dash *d)
{
	char at[CLOCK_RFC3339_LEN];

	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width,"
	    " initial-scale=1\">\n<meta name=\"generator\" content=\"dater\">\n",
	    out);
	if (d->refresh_s > 0)
		fprintf(out, "<meta http-equiv=\"refresh\" content=\"%d\">\n",
		    d->refresh_s);
	fputs("<title>dater dashboard</title>\n<style>\n", out);
	fputs(css, out);
	fputs("</style>\n</head>\n<body>\n<header>\n<h1>dater dashboard</h1>\n"
	    "<p class=\"meta\">Generated ", out);
	esc(out, clock_format(d->now, at, sizeof(at)));
	fputs(" from <code>", out);
	esc(out, d->db_path);
	fputs("</code>. All times UTC.</p>\n</header>\n<main>\n", out);
}

static void
page_write(FILE *out, const struct dash *d)
{
	page_begin(out, d);
	tiles(out, d);
	fputs("<section class=\"grid\">\n", out);
	chart_jobs(out, d);
	chart_messages(out, d);
	chart_latency(out, d);
	chart_tokens(out, d);
	fputs("</section>\n<section class=\"tables\">\n", out);
	table_bots(out, d);
	table_queue(out, d);
	table_health(out, d);
	table_trouble(out, d);
	table_workers(out, d);
	table_types(out, d);
	fputs("</section>\n</main>\n<footer>dater-report html: one read"
	    " snapshot of the database; no script, no external asset."
	    "</footer>\n</body>\n</html>\n", out);
}

int
report_html(struct db *db, const struct cfg *cfg, int64_t now, int refresh_s,
    FILE *out)
{
	struct dash d;
	int rc = -1;

	dash_init(&d, cfg, db->path, now);
	d.refresh_s = refresh_s > 0 ? refresh_s : 0;
	if (dash_read(db, &d) < 0)
		goto out;
	page_write(out, &d);
	if (fflush(out) == EOF || ferror(out)) {
		log_err("write the dashboard: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	dash_release(&d);
	return rc;
}
