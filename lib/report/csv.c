/*
 * csv.c: CSV (RFC 4180) over a view's rows, safe for spreadsheets.
 */
#include <stdio.h>
#include <string.h>

#include "report.h"
#include "../banned.h"

/*
 * The one CSV field writer every view goes through. Names and texts come
 * from remote users, so a field is made safe for a spreadsheet (OWASP,
 * CSV injection): one that starts with '=', '+', '-', '@', a tab or a CR
 * gets a single quote in front, inside the quotes, so no formula runs.
 * Control characters (C0 but newline, so tab and CR too; DEL; the C1
 * range U+0080..U+009F in UTF-8) cannot reach a terminal or a parser:
 * each becomes "\xHH" (its byte, or its code point for C1); a backslash
 * stays as it is. Quoted when it holds a comma, a quote, a newline, a
 * quote mark in front or an escape; quotes are doubled.
 */
static void
csv_field(FILE *out, const char *s)
{
	const unsigned char *p;
	int formula = strchr("=+-@\t\r", s[0]) != NULL && s[0] != '\0';
	int quote = formula || strpbrk(s, ",\"\n") != NULL;

	for (p = (const unsigned char *)s; *p != '\0' && !quote; p++)
		if ((*p < 0x20 && *p != '\n') || *p == 0x7f ||
		    (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			quote = 1;
	if (!quote) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	if (formula)
		fputc('\'', out);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"') {
			fputs("\"\"", out);
		} else if ((*p < 0x20 && *p != '\n') || *p == 0x7f) {
			fprintf(out, "\\x%02x", *p);
		} else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			fprintf(out, "\\x%02x", p[1]);
			p++;
		} else {
			fputc(*p, out);
		}
	}
	fputc('"', out);
}

/* A JSON value as CSV text: null is empty, times stay RFC 3339, objects
 * and arrays are compact JSON. */
static void
csv_value(FILE *out, const json_t *v)
{
	char buf[64], *s;

	if (v == NULL || json_is_null(v)) {
		return;
	} else if (json_is_string(v)) {
		csv_field(out, json_string_value(v));
	} else if (json_is_integer(v)) {
		fprintf(out, "%lld", (long long)json_integer_value(v));
	} else if (json_is_real(v)) {
		snprintf(buf, sizeof(buf), "%.10g", json_real_value(v));
		fputs(buf, out);
	} else if (json_is_boolean(v)) {
		fputs(json_is_true(v) ? "true" : "false", out);
	} else if ((s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) !=
	    NULL) {
		csv_field(out, s);
		free(s);
	}
}

/* rows (objects) as CSV with a header row of keys; CRLF line ends. */
void
csv_print(FILE *out, const json_t *rows, const char *const *keys)
{
	const json_t *row;
	size_t r;
	int k;

	for (k = 0; keys[k] != NULL; k++) {
		if (k > 0)
			fputc(',', out);
		csv_field(out, keys[k]);
	}
	fputs("\r\n", out);
	json_array_foreach((json_t *)rows, r, row) {
		for (k = 0; keys[k] != NULL; k++) {
			if (k > 0)
				fputc(',', out);
			csv_value(out, json_object_get(row, keys[k]));
		}
		fputs("\r\n", out);
	}
}
