/*
 * sched: see sched.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cron.h"
#include "log.h"
#include "policy.h"
#include "queue.h"
#include "sched.h"
#include "store.h"
#include "jobtypes.h"
#include "banned.h"

#define SCHED_DUE_MAX 500	/* contacts looked at per bot and run */

int
sched_check(const struct cfg *cfg, const struct job_type *const *types)
{
	const struct cfg_schedule *sc;
	const struct job_type *t;
	struct cron c;
	json_t *p;
	char err[256];
	int i, rc;

	for (i = 0; i < cfg->nschedules; i++) {
		sc = &cfg->schedules[i];
		if (cron_parse(sc->cron, &c, err, sizeof(err)) < 0) {
			log_err("schedule '%s': cron '%s': %s", sc->name,
			    sc->cron, err);
			return -1;
		}
		if ((t = job_find(types, sc->job)) == NULL) {
			log_err("schedule '%s': unknown job type '%s'",
			    sc->name, sc->job);
			return -1;
		}
		p = json_loads(sc->payload, 0, NULL);
		rc = job_check(t, cfg, p, err, sizeof(err));
		json_decref(p);
		if (rc < 0) {
			log_err("schedule '%s': payload%s%s", sc->name,
			    err[0] == '.' ? "" : ": ", err);
			return -1;
		}
	}
	return 0;
}

/* Enqueue one job (inside the open transaction): the type's settings
 * from the file, then a schedule's own queue and priority if it has
 * them. */
static int
enqueue(struct db *db, const struct cfg *cfg, const char *type,
    const char *payload, const char *queue, int priority, const char *bot,
    const char *key, int *added)
{
	struct queue_new q;
	int64_t id;
	int existed = 0, rc;

	queue_new_init(&q);
	q.type = type;
	q.payload = payload;
	queue_new_configure(&q, cfg);
	if (queue != NULL && *queue != '\0')
		q.queue = queue;
	if (priority >= 0)
		q.priority = priority;
	q.bot = bot;
	q.unique_key = key;
	rc = queue_add(db, &q, &id, &existed);
	if (rc == 0 && !existed)
		(*added)++;
	return rc;
}

/* Fire one schedule if its slot has come; *fired says whether. Inside
 * the open transaction, so the slot and the job commit together. */
static int
schedule_one(struct db *db, const struct cfg *cfg,
    const struct cfg_schedule *sc, int64_t now_ms, int dry_run, FILE *out,
    int *fired)
{
	struct cron c;
	char err[256], key[96], val[32], ukey[160], slot_txt[32];
	int64_t slot, last = 0, now_s = now_ms / 1000;
	int found, due;

	*fired = 0;
	if (cron_parse(sc->cron, &c, err, sizeof(err)) < 0) {
		log_err("schedule '%s': cron '%s': %s", sc->name, sc->cron,
		    err);
		return -1;
	}
	if (cron_prev(&c, cfg->sched_timezone, now_s, &slot) < 0)
		return 0;
	snprintf(key, sizeof(key), "schedule.%s", sc->name);
	if ((found = store_kv_get(db, key, val, sizeof(val))) < 0)
		return -1;
	if (found)
		last = strtonum(val, 0, INT64_MAX, NULL);
	/* First sight: only the current minute's slot fires. */
	due = found ? slot > last : now_s - slot < 60;
	if (dry_run) {
		if (due && out != NULL)
			fprintf(out, "would enqueue %s %s (schedule '%s', slot "
			    "%s)\n", sc->job, sc->payload, sc->name,
			    clock_format(slot * 1000, slot_txt,
			    sizeof(slot_txt)));
		*fired = due;
		return 0;
	}
	snprintf(val, sizeof(val), "%lld", (long long)slot);
	if (!found || due)
		if (store_kv_set(db, key, val) < 0)
			return -1;
	if (!due)
		return 0;
	snprintf(ukey, sizeof(ukey), "schedule:%s:%lld", sc->name,
	    (long long)slot);
	if (enqueue(db, cfg, sc->job, sc->payload, sc->queue, sc->priority, NULL,
	    ukey, fired) < 0)
		return -1;
	if (*fired)
		log_info("schedule '%s': enqueued %s", sc->name, sc->job);
	return 0;
}

/* initiate/followup jobs for the bot's due contacts. */
static int
domain(struct db *db, const struct cfg *cfg, const struct cfg_bot *bot,
    int64_t now_ms, int dry_run, FILE *out, struct sched_report *r)
{
	static const char *kinds[] = { JT_INITIATE, JT_FOLLOWUP };
	const struct cfg_policy *p = &bot->policy;
	struct store_metrics m;
	int64_t ids[SCHED_DUE_MAX];
	char day[16], payload[64], key[64];
	int i, k, n = 0, room, added;

	for (k = 0; k < 2; k++) {
		added = 0;
		if (k == 0) {
			if (!cfg->sched_initiate)
				continue;
			if (store_metrics_get(db, bot->name, policy_day(now_ms,
			    day, sizeof(day)), &m) < 0)
				return -1;
			room = p->max_initiations_per_day - m.initiations;
			if (room > SCHED_DUE_MAX)
				room = SCHED_DUE_MAX;
			if (room <= 0)
				continue;
			if (store_due_openers(db, bot->name, room, ids, &n) < 0)
				return -1;
		} else {
			if (!cfg->sched_followup || p->max_unanswered < 2)
				continue;
			if (store_due_followups(db, bot->name, now_ms -
			    p->followup_after_ms, p->followup_horizon_ms > 0 ?
			    now_ms - p->followup_horizon_ms : 0,
			    p->max_unanswered, SCHED_DUE_MAX, ids, &n) < 0)
				return -1;
		}
		for (i = 0; i < n; i++) {
			snprintf(payload, sizeof(payload), "{\"contact\":%lld}",
			    (long long)ids[i]);
			snprintf(key, sizeof(key), "%s:%lld", kinds[k],
			    (long long)ids[i]);
			if (dry_run) {
				if (out != NULL)
					fprintf(out, "would enqueue %s %s\n",
					    kinds[k], payload);
				added++;
			} else if (enqueue(db, cfg, kinds[k], payload, NULL, -1,
			    bot->name, key, &added) < 0) {
				return -1;
			}
		}
		/* Only the jobs added: one still queued from an earlier run
		 * holds its unique key and is not counted again. */
		if (k == 0)
			r->openers += added;
		else
			r->followups += added;
	}
	return 0;
}

int
sched_run(struct db *db, const struct cfg *cfg, int64_t now_ms, int dry_run,
    FILE *out, struct sched_report *r)
{
	int i, fired;

	memset(r, 0, sizeof(*r));
	if (db_begin(db) < 0)
		return -1;
	for (i = 0; i < cfg->nschedules; i++) {
		if (schedule_one(db, cfg, &cfg->schedules[i], now_ms, dry_run,
		    out, &fired) < 0)
			goto fail;
		r->fired += fired;
	}
	for (i = 0; i < cfg->nbots; i++)
		if (domain(db, cfg, &cfg->bots[i], now_ms, dry_run, out, r) < 0)
			goto fail;
	if (dry_run) {
		db_rollback(db);
		return 0;
	}
	return db_commit(db);
fail:
	db_rollback(db);
	return -1;
}
