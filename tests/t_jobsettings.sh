#!/bin/bash
# jobs.TYPE settings (queue, priority, max_attempts) reach the jobs that
# handlers and the scheduler create, not only those of dater-enqueue:
# with `jobs.send = { queue = "tx"; max_attempts = 2; }` the send a
# respond enqueues is in queue tx with 2 attempts; jobs.respond's
# priority applies to the respond an inbound message creates; the
# scheduler's openers take jobs.initiate's queue, and a schedule's own
# queue and priority still win over the type's. An inbound message
# added without a priority goes ahead of bulk work (the type's default,
# 60, over queue.priority) unless jobs.inbound or --priority says
# otherwise. Offline LLM, console transport.
. "$(dirname "$0")/blackbox-lib.sh"

write_conf "" "
llm = { provider = \"offline\"; };
jobs = {
	send = { queue = \"tx\"; max_attempts = 2; };
	respond = { priority = 7; };
	initiate = { queue = \"open\"; max_attempts = 3; };
	noop = { queue = \"slow\"; priority = 300; };
};
schedules = (
	{ name = \"tick\"; cron = \"* * * * *\"; job = \"noop\"; },
	{ name = \"own\"; cron = \"* * * * *\"; job = \"noop\";
	  queue = \"mine\"; priority = 9; }
);
scheduler = { initiate = true; followup = false; };
defaults = { reply_delay = [0, 0]; quiet_hours = \"off\"; };
bots = ( { name = \"anna\"; transport = { driver = \"console\";
	   path = \"$TMP/out.jsonl\"; }; } );
"
migrate || die "dater-migrate up failed"

enqueue -q inbound '{"bot": "anna", "platform_id": "p1", "message_id": "m1",
    "text": "hello there"}' >/dev/null || die "enqueue inbound"
drain -q >>"$TMP/drain.log" 2>&1
drain_until 30 '[ "$(count_jobs "type = '"'send'"' AND state = '"'succeeded'"'")" = 1 ]' ||
    fail "the reply was not sent"

is "$(q "SELECT priority FROM jobs WHERE type = 'inbound'")" 60 \
    "an inbound message without a priority gets its type's, 60"
is "$(q "SELECT queue || ' ' || max_attempts FROM jobs WHERE type = 'send'")" "tx 2" \
    "the send a respond enqueued is in queue tx with max_attempts 2"
is "$(q "SELECT priority FROM jobs WHERE type = 'respond'")" 7 \
    "the respond an inbound enqueued has jobs.respond's priority"
is "$(q "SELECT queue || ' ' || max_attempts FROM jobs WHERE type = 'respond'")" \
    "default 8" "respond keeps the global queue and its own built-in attempts"

enqueue -q contact '{"bot": "anna", "platform_id": "p2", "consent": true}' >/dev/null
drain -q >>"$TMP/drain.log" 2>&1
run "$BIN/dater-scheduler" -c "$CONF" -d "$DB"
is "$RC" 0 "the scheduler runs"
is "$(q "SELECT queue || ' ' || max_attempts FROM jobs WHERE type = 'initiate'")" "open 3" \
    "the scheduler's opener has jobs.initiate's queue and max_attempts"
is "$(q "SELECT queue || ' ' || priority FROM jobs WHERE unique_key LIKE 'schedule:tick:%'")" \
    "slow 300" "a schedule without its own queue takes jobs.noop's"
is "$(q "SELECT queue || ' ' || priority FROM jobs WHERE unique_key LIKE 'schedule:own:%'")" \
    "mine 9" "a schedule's own queue and priority win over the type's"

# jobs.inbound's priority wins over the type's default, --priority
# over both.
id=$(enqueue inbound '{"bot": "anna", "platform_id": "p3", "text": "hi"}')
id2=$(enqueue --priority 70 inbound '{"bot": "anna", "platform_id": "p4",
    "text": "hi"}')
sed -i 's/respond = { priority = 7; };/respond = { priority = 7; };\n\tinbound = { priority = 40; };/' "$CONF"
id3=$(enqueue inbound '{"bot": "anna", "platform_id": "p5", "text": "hi"}')
id4=$(enqueue --priority 70 inbound '{"bot": "anna", "platform_id": "p6",
    "text": "hi"}')
is "$(q "SELECT $(agg priority ' ') FROM (SELECT priority FROM jobs
    WHERE id IN (${id:-0}, ${id2:-0}, ${id3:-0}, ${id4:-0}) ORDER BY id) p")" \
    "60 70 40 70" "inbound: the type's 60, --priority, jobs.inbound's, --priority"

bb_done
