#!/bin/bash
# t_scheduler: dater-scheduler enqueues each schedule once per slot however
# often it runs (twice in a minute: once; after a three-hour gap: once,
# not once per missed slot; several schedulers racing: no duplicates),
# refuses a bad cron expression with exit 78, and enqueues the domain's
# due work: openers for consenting new contacts within the daily cap,
# follow-ups for conversations that went quiet (within the loop guard).
. "$(dirname "$0")/blackbox-lib.sh"

S=$BIN/dater-scheduler
[ -x "$S" ] || die "dater-scheduler is not built"

write_conf "" '
schedules = (
	{ name = "every-minute"; cron = "* * * * *"; job = "noop"; },
	{ name = "nightly"; cron = "15 3 * * *"; job = "noop";
	  payload = "{\"sleep_ms\": 1}"; priority = 7; },
	{ name = "quarterly"; cron = "*/15 * * * *"; job = "noop"; }
);
scheduler = { initiate = false; followup = false; };'
migrate || die "migrate"
sched() { "$S" -c "$CONF" -d "$DB" "$@"; }
per() { q "SELECT count(*) FROM jobs WHERE unique_key LIKE 'schedule:$1:%'"; }

# First sight at 10:00:20: the current minute fires; nightly (03:15) and
# the quarter-hour (10:00) slots: only those of this minute.
run sched --now 2026-11-25T10:00:20Z
is "$RC" 0 "a run exits 0"
is "$(per every-minute)" 1 "every-minute fired in its minute"
is "$(per quarterly)" 1 "the quarter-hour slot of this minute fired"
is "$(per nightly)" 0 "a nightly schedule seen first at 10:00 waits for 03:15"

run sched --now 2026-11-25T10:00:50Z
is "$(per every-minute)" 1 "twice in one minute: still one job"
is "$(per quarterly)" 1 "... and one quarter-hour job"

run sched --now 2026-11-25T10:01:05Z
is "$(per every-minute)" 2 "the next minute fires again"
is "$(per quarterly)" 1 "10:01 is not a quarter hour"

# Three hours of downtime: one job per schedule, not one per slot.
run sched --now 2026-11-25T13:07:00Z
is "$(per every-minute)" 3 "after 3 h down: one more every-minute job"
is "$(per quarterly)" 2 "... and one more quarter-hour job (13:00)"

run sched --now 2026-11-26T03:15:30Z
is "$(per nightly)" 1 "the nightly one fires at 03:15"
is "$(q "SELECT priority || ' ' || $(jx payload sleep_ms)
         FROM jobs WHERE unique_key LIKE 'schedule:nightly:%'")" "7 1" \
    "with its priority and payload"

# Racing schedulers: eight at once, same minute: one job per schedule.
for i in 1 2 3 4 5 6 7 8; do
	sched --now 2026-11-26T04:00:10Z &
done
wait
is "$(q "SELECT count(*) FROM jobs WHERE unique_key =
         'schedule:every-minute:$(date -u -d 2026-11-26T04:00:00Z +%s)'")" 1 \
    "eight racing schedulers enqueue the every-minute slot once"
is "$(q "SELECT count(*) FROM jobs WHERE unique_key LIKE 'schedule:quarterly:%'
         AND unique_key = 'schedule:quarterly:$(date -u -d 2026-11-26T04:00:00Z +%s)'")" 1 \
    "... and the quarter-hour slot once"

# A dry run lists and writes nothing.
before=$(count_jobs)
run sched --dry-run --now 2026-11-26T05:00:00Z
like "$OUT" "would enqueue noop" "a dry run says what it would enqueue"
is "$(count_jobs)" "$before" "a dry run enqueues nothing"

# A bad cron expression is a configuration error.
cp "$CONF" "$TMP/good.conf"
write_conf "" 'schedules = ( { name = "bad"; cron = "61 * * * *"; job = "noop"; } );'
run sched
is "$RC" 78 "a bad cron expression exits 78"
like "$ERR" "bad.*minute|minute.*61" "the error names the schedule and the field"
cp "$TMP/good.conf" "$CONF"

# ---- the domain's due work ----
write_conf "" '
scheduler = { initiate = true; followup = true; };
bots = ( { name = "anna"; transport = { driver = "console";
	   path = "'"$TMP"'/outbox.jsonl"; };
	   quiet_hours = "off"; reply_delay = [0, 0];
	   max_initiations_per_day = 2; max_unanswered = 3;
	   followup_after = "1h"; } );'
for i in 1 2 3; do
	enqueue contact "{\"bot\":\"anna\",\"platform_id\":\"c$i\",\"consent\":true}" >/dev/null
done
enqueue contact '{"bot":"anna","platform_id":"nope","consent":false}' >/dev/null
drain -q || die "drain contacts"
run sched
is "$(count_jobs "type = 'initiate'")" 2 "openers for consenting contacts, within the daily cap of 2"
is "$(count_jobs "type = 'initiate' AND $(jxn payload contact) = 4")" 0 \
    "none for a contact without consent"
run sched
is "$(count_jobs "type = 'initiate'")" 2 "a second run adds none while they are queued"
drain -q
is "$(q "SELECT count(*) FROM messages WHERE kind = 'opener' AND status = 'sent'")" 2 \
    "two openers went out"
run sched
is "$(count_jobs "type = 'initiate'")" 2 "the cap is spent for today: no third opener"

# A conversation gone quiet for over an hour gets one follow-up.
q "UPDATE contacts SET last_outbound_at = last_outbound_at - 7200000"
q "UPDATE messages SET sent_at = sent_at - 7200000"
run sched
is "$(count_jobs "type = 'followup'")" 2 "quiet conversations get follow-ups"
run sched
is "$(count_jobs "type = 'followup'")" 2 "... once while they are queued"
drain -q
is "$(q "SELECT count(*) FROM messages WHERE kind = 'followup' AND status = 'sent'")" 2 \
    "the follow-ups went out"
run sched
is "$(count_jobs "type = 'followup'")" 2 "a fresh follow-up is not due again at once"

# The jobs dater enqueued itself pass dater-enqueue's payload checks.
replay_jobs
is "$RC" 0 "every job made here (the scheduler's initiate and followup, and their sends) passes dater-enqueue's checks"
is "$ERR" "" "... with nothing to say"

bb_done
