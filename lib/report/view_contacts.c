/*
 * view_contacts: dater-report contacts.
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

static const char *const contact_states[] = {
	"new", "active", "paused", "opted_out", "blocked", NULL
};

int
report_contact_status_known(const char *s)
{
	int i;

	for (i = 0; contact_states[i] != NULL; i++)
		if (strcmp(s, contact_states[i]) == 0)
			return 1;
	return 0;
}

/* ---- contacts ---- */

static const char sql_contacts[] =
    "SELECT c.id, c.bot, c.platform_id, c.handle, c.name, c.status,"
    " c.consent, c.timezone, c.unanswered,"
    " (SELECT count(*) FROM messages m WHERE m.contact = c.id"
    "  AND m.direction = 'in'),"
    " (SELECT count(*) FROM messages m WHERE m.contact = c.id"
    "  AND m.direction = 'out'),"
    " c.last_inbound_at, c.last_outbound_at, c.created_at"
    " FROM contacts c WHERE (?1 IS NULL OR c.bot = ?1)"
    " AND (?2 IS NULL OR c.status = ?2) ORDER BY c.id LIMIT ?3";

struct contacts_acc {
	json_t *rows;
	int limit;
	int more;
};

static int
contact_row(struct dbst *st, void *arg)
{
	struct contacts_acc *acc = arg;
	json_t *o;

	if ((int)json_array_size(acc->rows) == acc->limit) {
		acc->more = 1;
		return 0;
	}
	o = json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:b, s:s?, s:I,"
	    " s:I, s:I, s:o?, s:o?, s:o?}",
	    "id", report_col_int(st, 0), "bot", report_col_text(st, 1),
	    "platform_id", report_col_text(st, 2), "handle", report_col_text(st, 3),
	    "name", report_col_text(st, 4), "status", report_col_text(st, 5),
	    "consent", db_col_int(st, 6) != 0,
	    "timezone", report_col_text(st, 7), "unanswered", report_col_int(st, 8),
	    "messages_in", report_col_int(st, 9), "messages_out", report_col_int(st, 10),
	    "last_inbound_at", report_col_time(st, 11),
	    "last_outbound_at", report_col_time(st, 12),
	    "created_at", report_col_time(st, 13));
	if (o == NULL || json_array_append_new(acc->rows, o) < 0) {
		report_oom_null();
		return -1;
	}
	return 0;
}

json_t *
report_contacts(struct db *db, const struct report_contacts_filter *f,
    int64_t now)
{
	struct contacts_acc acc = { json_array(), 0, 0 };
	struct dbst *st;
	json_t *doc;
	int own, rc = -1;

	acc.limit = f->limit > 0 ? f->limit : REPORT_CONTACTS_LIMIT;
	if (acc.rows == NULL)
		return report_oom_null();
	if (report_snap_begin(db, &own) < 0) {
		json_decref(acc.rows);
		return NULL;
	}
	if ((st = db_stmt(db, sql_contacts)) != NULL) {
		if (f->bot != NULL)
			db_bind_text(st, 1, f->bot);
		if (f->status != NULL)
			db_bind_text(st, 2, f->status);
		db_bind_int64(st, 3, (int64_t)acc.limit + 1);
		rc = report_each_row(db, st, contact_row, &acc);
	}
	report_snap_end(db, own);
	if (rc < 0) {
		json_decref(acc.rows);
		return NULL;
	}
	doc = json_pack("{s:o, s:{s:s?, s:s?, s:i}, s:b, s:o}",
	    "generated_at", report_time_json(now),
	    "filter", "bot", f->bot, "status", f->status, "limit", acc.limit,
	    "truncated", acc.more, "contacts", acc.rows);
	return doc != NULL ? doc : report_oom_null();
}

static const char *const contacts_keys[] = {
	"id", "bot", "platform_id", "handle", "name", "status", "consent",
	"timezone", "unanswered", "messages_in", "messages_out",
	"last_inbound_at", "last_outbound_at", "created_at", NULL
};

static json_t *
contacts_rows(const json_t *doc)
{
	return table_member_rows(doc, "contacts");
}

static int
contacts_print(FILE *out, const json_t *doc)
{
	static const struct column cols[] = {
		{ "ID", "id", CELL_NUM, 0, NULL },
		{ "BOT", "bot", CELL_TEXT, 16, NULL },
		{ "PLATFORM ID", "platform_id", CELL_TEXT, 20, NULL },
		{ "NAME", "name", CELL_TEXT, 24, NULL },
		{ "STATUS", "status", CELL_TEXT, 0, NULL },
		{ "CONSENT", "consent", CELL_TEXT, 0, NULL },
		{ "IN", "messages_in", CELL_NUM, 0, NULL },
		{ "OUT", "messages_out", CELL_NUM, 0, NULL },
		{ "UNANSWERED", "unanswered", CELL_NUM, 0, NULL },
		{ "LAST IN", "last_inbound_at", CELL_AGO, 0, NULL },
		{ "LAST OUT", "last_outbound_at", CELL_AGO, 0, NULL },
		{ NULL, NULL, 0, 0, NULL }
	};
	const json_t *rows = json_object_get(doc, "contacts");

	if (table_print_or_none(out, rows, cols, table_generated_at(doc),
	    "no contacts match") < 0)
		return -1;
	if (json_array_size(rows) > 0 &&
	    json_is_true(json_object_get(doc, "truncated")))
		log_info("showing the first %zu contacts; more match (--limit)",
		    json_array_size(rows));
	return 0;
}

const struct report_text report_text_contacts = {
	contacts_print, contacts_rows, contacts_keys
};
