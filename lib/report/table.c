/*
 * table.c: the text renderer (table.h): cells, aligned tables,
 * key/value lists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../clock.h"
#include "../log.h"
#include "table.h"
#include "../banned.h"

/* Display width: UTF-8 characters. */
int
table_width(const char *s)
{
	int w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/*
 * Copy s into out (len bytes) for a terminal: control characters become
 * spaces (the text may come from a remote server), and a text wider than
 * maxw characters (0: no limit) is cut to end in "...". Never splits a
 * UTF-8 sequence.
 */
void
table_clean(const char *s, char *out, size_t len, int maxw)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0, seq;
	int keep = -1, w = 0;

	if (maxw > 3 && table_width(s) > maxw)
		keep = maxw - 3;
	for (; *p != '\0' && w != keep; p += seq, w++) {
		seq = 1;
		if (*p >= 0xc0)
			while (seq < 4 && (p[seq] & 0xc0) == 0x80)
				seq++;
		if (n + seq + 4 > len) {
			keep = w;	/* out of room: cut here */
			break;
		}
		if (*p < 0x20 || *p == 0x7f ||
		    (*p == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0)) {
			out[n++] = ' ';	/* C0, DEL, C1 controls */
		} else {
			memcpy(out + n, p, seq);
			n += seq;
		}
	}
	if (w == keep && *p != '\0') {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

/* A time string from a document, as ms; 0 if absent or unparsable. */
int64_t
table_time(const json_t *v)
{
	int64_t ms;

	if (!json_is_string(v) || clock_parse_time(json_string_value(v),
	    &ms) < 0)
		return 0;
	return ms;
}

/* "3m20s ago", "in 5s", "now", relative to now. */
void
table_ago(int64_t t, int64_t now, char *buf, size_t len)
{
	char d[32];

	if (t == now)
		snprintf(buf, len, "now");
	else if (t < now)
		snprintf(buf, len, "%s ago", clock_format_duration(now - t, d,
		    sizeof(d)));
	else
		snprintf(buf, len, "in %s", clock_format_duration(t - now, d,
		    sizeof(d)));
}

/* Format the cell of column c in row; "-" for null or absent. */
void
table_cell(const json_t *row, const struct column *c, int64_t now, char *buf,
    size_t len)
{
	const json_t *v = json_object_get(row, c->key);
	char tmp[CELL_MAX], ago[64];

	tmp[0] = '\0';
	if (c->fmt != NULL) {
		c->fmt(row, tmp, sizeof(tmp));
	} else if (v == NULL || json_is_null(v)) {
		snprintf(tmp, sizeof(tmp), "-");
	} else if (c->kind == CELL_AGO || c->kind == CELL_WHEN) {
		table_ago(table_time(v), now, ago, sizeof(ago));
		if (c->kind == CELL_AGO)
			snprintf(tmp, sizeof(tmp), "%s", ago);
		else
			snprintf(tmp, sizeof(tmp), "%s (%s)",
			    json_string_value(v), ago);
	} else if (c->kind == CELL_DURATION && json_is_integer(v)) {
		clock_format_duration(json_integer_value(v), tmp, sizeof(tmp));
	} else if (c->kind == CELL_REAL && json_is_number(v)) {
		snprintf(tmp, sizeof(tmp), "%g", json_number_value(v));
	} else if (json_is_string(v)) {
		snprintf(tmp, sizeof(tmp), "%s", json_string_value(v));
	} else if (json_is_integer(v)) {
		snprintf(tmp, sizeof(tmp), "%lld",
		    (long long)json_integer_value(v));
	} else if (json_is_boolean(v)) {
		snprintf(tmp, sizeof(tmp), "%s", json_is_true(v) ? "yes" :
		    "no");
	} else {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		snprintf(tmp, sizeof(tmp), "%s", s != NULL ? s : "?");
		free(s);
	}
	if (tmp[0] == '\0' && c->fmt == NULL)
		snprintf(tmp, sizeof(tmp), "-");
	table_clean(tmp, buf, len, c->maxw);
}

#define TABLE_WRAP_MIN 20	/* a wrapped column is not cut narrower first */
#define TABLE_CUT_MIN 16	/* nor the others, then */

/* The terminal's width tables fit in; 0: no limit. */
static int fit_cols;

void
table_set_width(int cols)
{
	fit_cols = cols > 0 ? cols : 0;
}

/* The narrowest a text column is cut to: its header, at least 8. */
static int
floor_of(const struct column *c)
{
	return table_width(c->head) > 8 ? table_width(c->head) : 8;
}

/* Narrow *w towards floor by what total exceeds fit_cols; 1 if it did. */
static int
narrow(int *w, int floor, int *total)
{
	int cut = *w - floor;

	if (*total <= fit_cols || cut <= 0)
		return 0;
	if (cut > *total - fit_cols)
		cut = *total - fit_cols;
	*w -= cut;
	*total -= cut;
	return 1;
}

/* Narrow the widest text column (but skip) in turn, none below its
 * floor_of nor min, while total exceeds fit_cols; 1 if one changed. */
static int
narrow_widest(const struct column *cols, int *w, size_t ncols, size_t skip,
    int min, int *total)
{
	size_t c, widest;
	int changed = 0, lo;

	while (*total > fit_cols) {
		widest = ncols;
		for (c = 0; c < ncols; c++) {
			lo = floor_of(&cols[c]) > min ? floor_of(&cols[c]) : min;
			if (c != skip && cols[c].kind != CELL_NUM && w[c] > lo &&
			    (widest == ncols || w[c] > w[widest]))
				widest = c;
		}
		if (widest == ncols)
			return changed;		/* nothing left to narrow */
		lo = floor_of(&cols[widest]) > min ? floor_of(&cols[widest]) :
		    min;
		changed |= narrow(&w[widest], lo, total);
	}
	return changed;
}

/*
 * Fit the line (the shown columns, two blanks between them) in fit_cols:
 * first the optional columns (maxw < 0) are hidden, rightmost first (w
 * becomes -1), then the widest text column gives way, none below
 * floor_of. Numbers keep their width. Returns 1 if a width changed.
 */
static int
fit(const struct column *cols, int *w, size_t ncols)
{
	size_t c, last;
	int total = -2, changed = 0;

	if (fit_cols == 0)
		return 0;
	for (c = 0; c < ncols; c++)
		total += w[c] + 2;
	for (c = ncols; c-- > 0 && total > fit_cols;) {
		if (cols[c].maxw < 0) {
			total -= w[c] + 2;
			w[c] = -1;
			changed = 1;
		}
	}
	/* A text column last wraps, so it gives way first, to 20; then the
	 * others to 16; then it, and the others, to their floor. */
	for (last = ncols; last-- > 0 && w[last] < 0;)
		;
	if (last >= ncols || cols[last].kind == CELL_NUM)
		last = ncols;
	if (last < ncols)
		changed |= narrow(&w[last], TABLE_WRAP_MIN, &total);
	changed |= narrow_widest(cols, w, ncols, last, TABLE_CUT_MIN, &total);
	if (last < ncols)
		changed |= narrow(&w[last], floor_of(&cols[last]), &total);
	changed |= narrow_widest(cols, w, ncols, last, 0, &total);
	return changed;
}

/* Bytes of s that make its next wrapped line of at most w characters:
 * up to the last blank that fits, else w characters. */
static size_t
chunk(const char *s, int w)
{
	size_t i, blank = 0;
	int n = 0;

	for (i = 0; s[i] != '\0'; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80 && n++ == w)
			return blank > 0 ? blank : i;
		if (s[i] == ' ')
			blank = i;
	}
	return i;
}

/* n without the blanks that end s[0..n). */
static size_t
trim(const char *s, size_t n)
{
	while (n > 0 && s[n - 1] == ' ')
		n--;
	return n;
}

/*
 * Print one line of cells padded to the widths w (columns with w < 0
 * are hidden). Padding is held back until something follows it, so no
 * line ends in blanks. With wrap, the last shown column (text) is folded
 * at blanks into lines of its width, each indented to the column.
 */
static void
put_line(FILE *out, const char *const *cells, const struct column *cols,
    const int *w, size_t ncols, int wrap)
{
	const char *s;
	size_t c, n, last = ncols;
	int pending = 0, pad, indent = 0;

	for (c = 0; c < ncols; c++)
		if (w[c] >= 0)
			last = c;
	for (c = 0; c < ncols; c++) {
		if (w[c] < 0)
			continue;	/* hidden to fit */
		if (wrap && c == last)
			break;
		pad = w[c] - table_width(cells[c]);
		if (cols[c].kind == CELL_NUM)
			pending += pad;
		if (*cells[c] != '\0') {
			fprintf(out, "%*s%s", pending, "", cells[c]);
			pending = 0;
		}
		if (cols[c].kind != CELL_NUM)
			pending += pad;
		pending += 2;
		indent += w[c] + 2;
	}
	if (wrap && last < ncols && *cells[last] != '\0') {
		for (s = cells[last]; *s != '\0'; pending = indent) {
			n = chunk(s, w[last]);
			fprintf(out, "%*s%.*s", pending, "", (int)trim(s, n),
			    s);
			for (s += n; *s == ' '; s++)
				;
			if (*s != '\0')
				fputc('\n', out);
		}
	}
	fputc('\n', out);
}

void
table_para(FILE *out, const char *label, const char *text)
{
	char buf[CELL_MAX];
	const char *s;
	size_t n;
	int w, lw = table_width(label);

	table_clean(text, buf, sizeof(buf), 0);
	w = fit_cols > lw + 20 ? fit_cols - lw : 0;
	fputs(label, out);
	for (s = buf; *s != '\0';) {
		n = w > 0 ? chunk(s, w) : strlen(s);
		fprintf(out, "%.*s\n", (int)trim(s, n), s);
		for (s += n; *s == ' '; s++)
			;
		if (*s != '\0')
			fprintf(out, "%*s", lw, "");
	}
}

/*
 * Print rows (an array of objects) as a table with a header line,
 * columns aligned, numbers right-aligned. Returns 0 or -1 (out of
 * memory, logged).
 */
int
table_print(FILE *out, const json_t *rows, const struct column *cols,
    int64_t now)
{
	size_t nrows = json_array_size(rows), ncols = 0, r, c, last = 0;
	char **cells, buf[CELL_MAX];
	struct column last_col;
	int *w, rc = -1, wrap;

	while (cols[ncols].head != NULL)
		ncols++;
	/* The rows' cells, then the header's (borrowed). */
	cells = calloc((nrows + 1) * ncols, sizeof(*cells));
	w = calloc(ncols, sizeof(*w));
	if (cells == NULL || w == NULL)
		goto out;
	for (c = 0; c < ncols; c++)
		w[c] = table_width(cols[c].head);
	/* Fitting to a terminal, a text column last may wrap: its cells
	 * are not cut to its maxw. */
	last_col = cols[ncols - 1];
	if (fit_cols > 0 && last_col.kind != CELL_NUM && last_col.maxw > 0)
		last_col.maxw = 0;
	for (r = 0; r < nrows; r++) {
		for (c = 0; c < ncols; c++) {
			table_cell(json_array_get(rows, r), c == ncols - 1 ?
			    &last_col : &cols[c], now, buf, sizeof(buf));
			if ((cells[r * ncols + c] = strdup(buf)) == NULL)
				goto out;
			if (table_width(buf) > w[c])
				w[c] = table_width(buf);
		}
	}
	if ((wrap = fit(cols, w, ncols))) {
		for (c = 0; c < ncols; c++)
			if (w[c] >= 0)
				last = c;
		/* A text column last wraps; the others wider than their
		 * narrowed column are cut. */
		wrap = cols[last].kind != CELL_NUM;
		for (r = 0; r < nrows * ncols; r++) {
			c = r % ncols;
			if (w[c] < 0 || (wrap && c == last) ||
			    table_width(cells[r]) <= w[c])
				continue;
			table_clean(cells[r], buf, sizeof(buf), w[c]);
			free(cells[r]);
			if ((cells[r] = strdup(buf)) == NULL)
				goto out;
		}
	}
	for (c = 0; c < ncols; c++)
		cells[nrows * ncols + c] = (char *)cols[c].head;
	put_line(out, (const char *const *)cells + nrows * ncols, cols, w,
	    ncols, 0);
	for (r = 0; r < nrows; r++)
		put_line(out, (const char *const *)cells + r * ncols, cols, w,
		    ncols, wrap);
	rc = 0;
out:
	if (rc < 0)
		log_err("out of memory printing a table");
	for (r = 0; cells != NULL && r < nrows * ncols; r++)
		free(cells[r]);
	free(cells);
	free(w);
	return rc;
}

int
table_print_or_none(FILE *out, const json_t *rows, const struct column *cols,
    int64_t now, const char *none)
{
	if (table_print(out, rows, cols, now) < 0)
		return -1;
	if (json_array_size(rows) == 0)
		log_info("%s", none);
	return 0;
}

/* Print "label   value" lines, one per field of obj. */
void
table_kv_print(FILE *out, const json_t *obj, const struct column *fields,
    int64_t now)
{
	char buf[CELL_MAX];
	int i, w = 0;

	for (i = 0; fields[i].head != NULL; i++)
		if (table_width(fields[i].head) > w)
			w = table_width(fields[i].head);
	for (i = 0; fields[i].head != NULL; i++) {
		table_cell(obj, &fields[i], now, buf, sizeof(buf));
		fprintf(out, "%-*s  %s\n", w, fields[i].head, buf);
	}
}

/*
 * The members of obj (objects) as a new array of copies, each with its
 * member name under key, for table_print. NULL if out of memory.
 */
json_t *
table_obj_rows(const json_t *obj, const char *key)
{
	json_t *rows = json_array(), *v, *row;
	const char *name;

	if (rows == NULL)
		return NULL;
	json_object_foreach((json_t *)obj, name, v) {
		row = json_copy(v);
		if (row == NULL ||
		    json_object_set_new(row, key, json_string(name)) < 0 ||
		    json_array_append_new(rows, row) < 0) {
			json_decref(row);
			json_decref(rows);
			return NULL;
		}
	}
	return rows;
}

/* The document's generated_at, as ms (0 if absent). */
int64_t
table_generated_at(const json_t *doc)
{
	return table_time(json_object_get(doc, "generated_at"));
}


/* A new reference to doc.key (an array of rows). */
json_t *
table_member_rows(const json_t *doc, const char *key)
{
	return json_incref(json_object_get(doc, key));
}

void
table_usd(const json_t *row, const char *key, char *buf, size_t len)
{
	const json_t *v = json_object_get(row, key);

	if (json_is_number(v))
		snprintf(buf, len, "%.4f", json_number_value(v));
	else
		snprintf(buf, len, "-");
}

void
table_cost(const json_t *row, char *buf, size_t len)
{
	table_usd(row, "cost_usd", buf, len);
}
