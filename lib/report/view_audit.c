/*
 * view_audit: dater-report audit: the dater-ctl commands (the document
 * is ctl_audit_report's).
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../clock.h"
#include "../ctl.h"
#include "../listener.h"
#include "../log.h"
#include "../redact.h"
#include "../store.h"
#include "report.h"
#include "table.h"
#include "../banned.h"

#define DAY_MS (24 * 60 * 60 * 1000LL)

static const char *const audit_keys[] = {
	"id", "at", "actor", "command", "bot", "contact", "detail", NULL
};

/* The audit rows with each detail as compact JSON text (for tables and
 * CSV). */
static json_t *
audit_rows(const json_t *doc)
{
	json_t *rows = json_array(), *row, *r;
	char *d;
	size_t i;

	if (rows == NULL)
		return NULL;
	json_array_foreach(json_object_get(doc, "audit"), i, r) {
		d = json_dumps(json_object_get(r, "detail"), JSON_COMPACT |
		    JSON_SORT_KEYS);
		row = json_copy(r);
		if (d == NULL || row == NULL || json_object_set_new(row,
		    "detail", json_string(d)) < 0 ||
		    json_array_append_new(rows, row) < 0) {
			free(d);
			json_decref(row);
			json_decref(rows);
			return NULL;
		}
		free(d);
	}
	return rows;
}

static int
audit_print(FILE *out, const json_t *doc)
{
	static const struct column cols[] = {
		{ "ID", "id", CELL_NUM, 0, NULL },
		{ "AT", "at", CELL_AGO, 0, NULL },
		{ "ACTOR", "actor", CELL_TEXT, 24, NULL },
		{ "COMMAND", "command", CELL_TEXT, 0, NULL },
		{ "BOT", "bot", CELL_TEXT, 24, NULL },
		{ "CONTACT", "contact", CELL_NUM, 0, NULL },
		{ "DETAIL", "detail", CELL_TEXT, 80, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	json_t *rows = audit_rows(doc);
	int rc;

	if (rows == NULL) {
		log_err("out of memory printing the report");
		return -1;
	}
	rc = table_print_or_none(out, rows, cols, table_generated_at(doc),
	    "no dater-ctl command recorded");
	json_decref(rows);
	return rc;
}

const struct report_text report_text_audit = {
	audit_print, audit_rows, audit_keys
};
