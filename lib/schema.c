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
};

const int schema_nmigrations =
    (int)(sizeof(schema_migrations) / sizeof(schema_migrations[0]));
