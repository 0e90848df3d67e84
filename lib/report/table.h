/*
 * table.h: the text renderer of dater-report's views: aligned tables and
 * "label  value" lists over a view's JSON document (arrays of objects),
 * cells formatted per column, and CSV (RFC 4180) over the same rows.
 * Every text form (view_*.c) is built from these, so a view's table,
 * CSV and JSON never disagree.
 */
#ifndef DATER_REPORT_TABLE_H
#define DATER_REPORT_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#define CELL_MAX 2048		/* bytes of one formatted cell */

enum cell {
	CELL_TEXT,		/* a string or a number as is */
	CELL_NUM,		/* a number, right-aligned */
	CELL_AGO,		/* a time, relative to generated_at */
	CELL_WHEN,		/* a time, absolute and relative */
	CELL_DURATION,		/* ms, compact */
	CELL_REAL		/* a number, %g */
};

struct column {
	const char *head;		/* NULL ends a list of columns */
	const char *key;
	enum cell kind;
	int maxw;			/* 0: no limit; < 0: optional, none */
	/* Overrides kind: format row into buf. */
	void (*fmt)(const json_t *row, char *buf, size_t len);
};

/* Display width: UTF-8 characters. */
int table_width(const char *s);
/* s for a terminal into out (len bytes): control characters become
 * spaces, wider than maxw (0: no limit) is cut to end in "...". */
void table_clean(const char *s, char *out, size_t len, int maxw);
/* A time string of a document, as ms; 0 if absent or unparsable. */
int64_t table_time(const json_t *v);
/* The document's generated_at, as ms (0 if absent). */
int64_t table_generated_at(const json_t *doc);
/* "3m20s ago", "in 5s", "now": t relative to now. */
void table_ago(int64_t t, int64_t now, char *buf, size_t len);
/* The cell of column c in row; "-" for null or absent. */
void table_cell(const json_t *row, const struct column *c, int64_t now,
    char *buf, size_t len);
/* Tables from now on fit in cols characters (0: no limit): optional
 * columns (maxw < 0) are hidden, rightmost first, then the widest text
 * columns are cut, their cells ending in "...". */
void table_set_width(int cols);
/* rows as a table with a header line: 0 or -1 (out of memory, logged). */
int table_print(FILE *out, const json_t *rows, const struct column *cols,
    int64_t now);
/* table_print, then, when rows is empty, none as an info line on stderr
 * (the header alone on out): a view's empty result said once. 0 or -1
 * as table_print (nothing said). */
int table_print_or_none(FILE *out, const json_t *rows,
    const struct column *cols, int64_t now, const char *none);
/* "label text" on a line, text folded at blanks to the width tables fit
 * in, its lines indented under the text's start. */
void table_para(FILE *out, const char *label, const char *text);
/* "label   value" lines, one per field of obj. */
void table_kv_print(FILE *out, const json_t *obj,
    const struct column *fields, int64_t now);
/* The members of obj as a new array of copies with their names under
 * key; NULL if out of memory. */
json_t *table_obj_rows(const json_t *obj, const char *key);
/* row.key as USD with 4 decimals ("-" if not a number); table_cost of
 * row.cost_usd, as a column's fmt. */
void table_usd(const json_t *row, const char *key, char *buf, size_t len);
void table_cost(const json_t *row, char *buf, size_t len);
/* A new reference to doc.key (an array of rows). */
json_t *table_member_rows(const json_t *doc, const char *key);

#endif
