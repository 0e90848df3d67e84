/*
 * schema: every table and index dater uses. All times are integer
 * milliseconds since the epoch (UTC).
 *
 * jobs_due covers only runnable rows, in claim order, so a claim costs the
 * same with millions of finished rows; jobs_next answers "when is the next
 * job due" for an idle worker's sleep; jobs_unique makes unique_key unique
 * among live jobs only.
 */
#include "schema.h"

const char *const schema_migrations[] = {
	/* 1: the job queue */
	"CREATE TABLE jobs ("
	" id INTEGER PRIMARY KEY,"
	" type TEXT NOT NULL,"
	" queue TEXT NOT NULL DEFAULT 'default',"
	" bot TEXT,"
	" payload TEXT NOT NULL DEFAULT '{}',"
	" state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN"
	"  ('queued','running','succeeded','dead','cancelled')),"
	" priority INTEGER NOT NULL DEFAULT 100,"
	" run_at INTEGER NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" max_attempts INTEGER NOT NULL DEFAULT 25,"
	" lease_until INTEGER,"
	" worker TEXT,"
	" unique_key TEXT,"
	" errors TEXT NOT NULL DEFAULT '[]',"
	" created_at INTEGER NOT NULL,"
	" started_at INTEGER,"
	" finished_at INTEGER"
	");"
	"CREATE INDEX jobs_due ON jobs(priority, run_at, id)"
	" WHERE state = 'queued';"
	"CREATE INDEX jobs_next ON jobs(run_at) WHERE state = 'queued';"
	"CREATE INDEX jobs_running ON jobs(worker) WHERE state = 'running';"
	"CREATE UNIQUE INDEX jobs_unique ON jobs(unique_key)"
	" WHERE unique_key IS NOT NULL AND state IN ('queued','running');"
	"CREATE INDEX jobs_finished ON jobs(finished_at)"
	" WHERE state IN ('succeeded','dead','cancelled');"
	"CREATE TABLE workers ("
	" id TEXT PRIMARY KEY,"
	" pid INTEGER NOT NULL,"
	" host TEXT NOT NULL,"
	" queues TEXT NOT NULL DEFAULT '',"
	" started_at INTEGER NOT NULL,"
	" heartbeat_at INTEGER NOT NULL"
	");"
	"CREATE TABLE kv ("
	" key TEXT PRIMARY KEY,"
	" value TEXT NOT NULL,"
	" updated_at INTEGER NOT NULL"
	");",

	/* 2: conversations. unanswered counts outbound messages sent since
	 * the contact last wrote (the loop guard); summary_upto is the last
	 * message id folded into the summary. messages_platform stores a
	 * re-delivered update once (platform message ids are unique per
	 * chat, as Telegram's are, so per contact); messages_job gives each
	 * generating job at most one message, so a re-run job finds its own
	 * draft. */
	"CREATE TABLE contacts ("
	" id INTEGER PRIMARY KEY,"
	" bot TEXT NOT NULL,"
	" platform_id TEXT NOT NULL,"
	" handle TEXT,"
	" name TEXT,"
	" profile TEXT NOT NULL DEFAULT '{}',"
	" status TEXT NOT NULL DEFAULT 'new' CHECK (status IN"
	"  ('new','active','paused','opted_out','blocked')),"
	" consent INTEGER NOT NULL DEFAULT 0,"
	" timezone TEXT,"
	" summary TEXT,"
	" summary_upto INTEGER NOT NULL DEFAULT 0,"
	" unanswered INTEGER NOT NULL DEFAULT 0,"
	" last_inbound_at INTEGER,"
	" last_outbound_at INTEGER,"
	" initiated_at INTEGER,"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL,"
	" UNIQUE (bot, platform_id)"
	");"
	"CREATE INDEX contacts_status ON contacts(bot, status);"
	"CREATE TABLE messages ("
	" id INTEGER PRIMARY KEY,"
	" contact INTEGER NOT NULL REFERENCES contacts(id),"
	" bot TEXT NOT NULL,"
	" direction TEXT NOT NULL CHECK (direction IN ('in','out')),"
	" kind TEXT NOT NULL DEFAULT 'message' CHECK (kind IN"
	"  ('message','reply','opener','followup','optout')),"
	" text TEXT NOT NULL,"
	" platform_msg_id TEXT,"
	" status TEXT CHECK (status IS NULL OR status IN"
	"  ('draft','queued','sending','sent','failed','uncertain')),"
	" job_id INTEGER,"
	" model TEXT,"
	" tokens_in INTEGER,"
	" tokens_out INTEGER,"
	" cost_usd REAL,"
	" error TEXT,"
	" created_at INTEGER NOT NULL,"
	" sent_at INTEGER"
	");"
	"CREATE UNIQUE INDEX messages_platform ON messages(contact,"
	" platform_msg_id)"
	" WHERE direction = 'in' AND platform_msg_id IS NOT NULL;"
	"CREATE UNIQUE INDEX messages_job ON messages(job_id)"
	" WHERE job_id IS NOT NULL;"
	"CREATE INDEX messages_contact ON messages(contact, id);"
	"CREATE INDEX messages_sent ON messages(bot, sent_at)"
	" WHERE direction = 'out' AND sent_at IS NOT NULL;"
	"CREATE INDEX messages_contact_sent ON messages(contact, sent_at)"
	" WHERE direction = 'out' AND sent_at IS NOT NULL;"
	"CREATE TABLE metrics_daily ("
	" bot TEXT NOT NULL,"
	" day TEXT NOT NULL,"
	" received INTEGER NOT NULL DEFAULT 0,"
	" sent INTEGER NOT NULL DEFAULT 0,"
	" initiations INTEGER NOT NULL DEFAULT 0,"
	" initiation_replies INTEGER NOT NULL DEFAULT 0,"
	" llm_calls INTEGER NOT NULL DEFAULT 0,"
	" tokens_in INTEGER NOT NULL DEFAULT 0,"
	" tokens_out INTEGER NOT NULL DEFAULT 0,"
	" cost_usd REAL NOT NULL DEFAULT 0,"
	" job_failures INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY (bot, day)"
	");",

	/* 3: nudge_hold is set on contacts that dater-migrate import-legacy
	 * brought in: no opener or follow-up goes to them until they write
	 * again (an inbound message clears it). */
	"ALTER TABLE contacts ADD COLUMN nudge_hold INTEGER NOT NULL"
	" DEFAULT 0;",

	/* 4: live inbound. listeners holds the lease of each bot's
	 * long-poll listener: the dater-worker tree (holder, "host:pid" of
	 * its supervisor) whose listener process (pid) may call getUpdates
	 * until lease_until; since is when that tree took it. parts_sent
	 * counts the parts of a long outbound message already delivered
	 * (a send that resumes starts after them). */
	"CREATE TABLE listeners ("
	" bot TEXT PRIMARY KEY,"
	" holder TEXT NOT NULL,"
	" host TEXT NOT NULL,"
	" pid INTEGER NOT NULL,"
	" since INTEGER NOT NULL,"
	" lease_until INTEGER NOT NULL"
	");"
	"ALTER TABLE messages ADD COLUMN parts_sent INTEGER NOT NULL"
	" DEFAULT 0;",

	/* 5: operator control (dater-ctl). bot_state holds a bot's pause
	 * (a bot without a row is active); a contact is paused or taken
	 * over by a person (takeover_by), each with who and when; a
	 * message's author is the person who wrote it (NULL: the bot);
	 * audit records every dater-ctl command with its effect, in the
	 * same transaction. */
	"CREATE TABLE bot_state ("
	" bot TEXT PRIMARY KEY,"
	" paused INTEGER NOT NULL DEFAULT 0,"
	" paused_by TEXT,"
	" paused_at INTEGER,"
	" reason TEXT,"
	" updated_at INTEGER NOT NULL"
	");"
	"ALTER TABLE contacts ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE contacts ADD COLUMN paused_by TEXT;"
	"ALTER TABLE contacts ADD COLUMN paused_at INTEGER;"
	"ALTER TABLE contacts ADD COLUMN takeover_by TEXT;"
	"ALTER TABLE contacts ADD COLUMN takeover_at INTEGER;"
	"ALTER TABLE messages ADD COLUMN author TEXT;"
	"CREATE TABLE audit ("
	" id INTEGER PRIMARY KEY,"
	" at INTEGER NOT NULL,"
	" actor TEXT NOT NULL,"
	" command TEXT NOT NULL,"
	" bot TEXT,"
	" contact INTEGER,"
	" detail TEXT NOT NULL DEFAULT '{}'"
	");"
	"CREATE INDEX audit_bot ON audit(bot, id);",
};

/*
 * On PostgreSQL, SQLite's JSON functions as the SQL uses them (pg.c's
 * pg_translate renames json_extract to dater_json_extract and so on):
 * paths are "$", ".key", "[N]" and "[#-N]" (N from the end); "$[#]" in
 * json_insert appends; a string comes back unquoted, true and false as
 * 1 and 0, anything else as JSON text; total() as SQLite's (a sum that
 * is 0.0 over no rows; a boolean counts 1). Installed (replaced) by every
 * dater-migrate up, before the migrations.
 */
const char schema_pg_compat[] =
	"CREATE OR REPLACE FUNCTION dater_json_at(doc text, path text)"
	" RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $f$"
	" DECLARE j jsonb; rest text; m text[];"
	" BEGIN"
	"  IF doc IS NULL OR path IS NULL OR left(path, 1) <> '$' THEN"
	"   RETURN NULL; END IF;"
	"  j := doc::jsonb; rest := substr(path, 2);"
	"  WHILE rest <> '' AND j IS NOT NULL LOOP"
	"   IF left(rest, 1) = '.' THEN"
	"    m := regexp_match(rest, '^\\.([^.\\[]+)(.*)$');"
	"    IF m IS NULL OR jsonb_typeof(j) <> 'object' THEN RETURN NULL;"
	"    END IF;"
	"    j := j -> m[1];"
	"   ELSIF left(rest, 2) = '[#' THEN"
	"    m := regexp_match(rest, '^\\[#-([0-9]+)\\](.*)$');"
	"    IF m IS NULL OR jsonb_typeof(j) <> 'array' THEN RETURN NULL;"
	"    END IF;"
	"    j := j -> (jsonb_array_length(j) - m[1]::int);"
	"   ELSE"
	"    m := regexp_match(rest, '^\\[([0-9]+)\\](.*)$');"
	"    IF m IS NULL OR jsonb_typeof(j) <> 'array' THEN RETURN NULL;"
	"    END IF;"
	"    j := j -> m[1]::int;"
	"   END IF;"
	"   rest := m[2];"
	"  END LOOP;"
	"  RETURN j;"
	" END $f$;"
	"CREATE OR REPLACE FUNCTION dater_json_extract(doc text, path text)"
	" RETURNS text LANGUAGE sql IMMUTABLE AS $f$"
	" SELECT CASE jsonb_typeof(j) WHEN 'string' THEN j #>> '{}'"
	"  WHEN 'null' THEN NULL"
	"  WHEN 'boolean' THEN CASE WHEN j = 'true' THEN '1' ELSE '0' END"
	"  ELSE j::text END"
	" FROM dater_json_at(doc, path) AS j $f$;"
	"CREATE OR REPLACE FUNCTION dater_json_valid(doc text)"
	" RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $f$"
	" BEGIN PERFORM doc::jsonb; RETURN doc IS NOT NULL;"
	" EXCEPTION WHEN others THEN RETURN false; END $f$;"
	"CREATE OR REPLACE FUNCTION dater_json_insert(doc text, path text,"
	" val json) RETURNS text LANGUAGE sql IMMUTABLE AS $f$"
	" SELECT CASE WHEN path = '$[#]' AND jsonb_typeof(doc::jsonb) = 'array'"
	"  THEN (doc::jsonb || jsonb_build_array(val::jsonb))::text"
	"  ELSE doc END $f$;"
	"CREATE OR REPLACE FUNCTION dater_json_remove(doc text, path text)"
	" RETURNS text LANGUAGE sql IMMUTABLE AS $f$"
	" SELECT CASE WHEN path ~ '^\\$\\.[^.\\[]+$'"
	"  THEN (doc::jsonb - substr(path, 3))::text ELSE doc END $f$;"
	"CREATE OR REPLACE FUNCTION dater_json_array_length(doc text)"
	" RETURNS bigint LANGUAGE sql IMMUTABLE AS $f$"
	" SELECT CASE WHEN jsonb_typeof(doc::jsonb) = 'array'"
	"  THEN jsonb_array_length(doc::jsonb) ELSE 0 END $f$;"
	"CREATE OR REPLACE FUNCTION dater_total_b(s float8, b boolean)"
	" RETURNS float8 LANGUAGE sql IMMUTABLE STRICT AS $f$"
	" SELECT s + CASE WHEN b THEN 1 ELSE 0 END $f$;"
	"CREATE OR REPLACE AGGREGATE dater_total(float8)"
	" (SFUNC = float8pl, STYPE = float8, INITCOND = '0');"
	"CREATE OR REPLACE AGGREGATE dater_total(boolean)"
	" (SFUNC = dater_total_b, STYPE = float8, INITCOND = '0');"
	"CREATE OR REPLACE FUNCTION dater_json_each(doc text)"
	" RETURNS TABLE (value text) LANGUAGE sql IMMUTABLE AS $f$"
	" SELECT jsonb_array_elements_text(doc::jsonb) $f$;";

const int schema_nmigrations =
    (int)(sizeof(schema_migrations) / sizeof(schema_migrations[0]));
