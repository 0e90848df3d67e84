#!/bin/bash
# Old conversations are not nudged. A legacy history whose last message
# (the bot's) is 640 days old is imported with `dater-migrate
# import-legacy`: the scheduler enqueues no follow-up for it, and no
# opener for an imported contact who never had a conversation (imported
# contacts are held from nudges). A live conversation quiet for longer
# than followup_horizon gets no follow-up either, one inside it does.
# After the imported person writes again (an inbound message), the hold
# is gone and follow-ups follow the usual rules. Offline LLM, console
# transport; time passing is --now for the scheduler and moved
# timestamps in the database.
. "$(dirname "$0")/blackbox-lib.sh"

S=$BIN/dater-scheduler
[ -x "$S" ] || die "dater-scheduler is not built"
DAY=86400000
now_s=$(date +%s)
now=$((now_s * 1000))

write_conf "" "
llm = { provider = \"offline\"; };
scheduler = { initiate = true; followup = true; };
defaults = { reply_delay = [0, 0]; quiet_hours = \"off\"; max_per_hour = 0;
             max_per_chat_hour = 0; max_unanswered = 3;
             followup_after = \"1h\"; };
bots = ( { name = \"anna\"; transport = { driver = \"console\";
           path = \"$TMP/out.jsonl\"; }; } );
"
migrate || die "dater-migrate up failed"
sched() { "$S" -q -c "$CONF" -d "$DB" --now "$1"; }
idle() {
	[ "$(count_jobs "state = 'running' OR (state = 'queued' AND run_at <= $(now_ms))")" = 0 ]
}
settle() { drain -q >>"$TMP/drain.log" 2>&1; drain_until 30 idle || fail "the queue did not settle"; }
cid() { q "SELECT id FROM contacts WHERE platform_id = '$1'"; }
# quiet_since PLATFORM_ID AGO_MS: the conversation, a message in and our
# reply, happened AGO_MS before $now. The times are set, not moved: a
# reply stored in the millisecond its message came in would keep the tie
# (and the scheduler's query wants the reply strictly after it).
quiet_since() {
	q "UPDATE messages SET created_at = CASE direction WHEN 'in'
	     THEN $now - $2 - 60000 ELSE $now - $2 END,
	     sent_at = CASE WHEN sent_at IS NULL THEN NULL ELSE $now - $2 END
	     WHERE contact = $(cid "$1") AND created_at >= $now"
	q "UPDATE contacts SET last_inbound_at = $now - $2 - 60000,
	     last_outbound_at = $now - $2 WHERE platform_id = '$1'"
}
# The scheduler's jobs for a contact (they carry a unique key; one enqueued
# by hand does not).
followups() { count_jobs "type = 'followup' AND unique_key = 'followup:$(cid "$1")'"; }
openers() { count_jobs "type = 'initiate' AND unique_key = 'initiate:$(cid "$1")'"; }

# ---- a legacy export: one old conversation, one contact never written to
L=$TMP/legacy
mkdir -p "$L/girls_data" "$L/conversations"
cat >"$L/girls_data/old.json" <<EOF
[{"id": 5005, "username": "olga", "name": "Olga", "consent": true},
 {"id": 6006, "username": "nina", "name": "Nina", "consent": true}]
EOF
cat >"$L/conversations/5005.json" <<EOF
[{"id": 1, "role": "user", "text": "see you!", "timestamp": $(( (now - 641 * DAY) / 1000 ))},
 {"id": 2, "role": "assistant", "text": "see you, take care", "timestamp": $(( (now - 640 * DAY) / 1000 ))}]
EOF
run "$BIN/dater-migrate" -c "$CONF" -d "$DB" import-legacy "$L"
is "$RC" 0 "the legacy export is imported"
is "$(q "SELECT unanswered, CAST(last_outbound_at > last_inbound_at AS INTEGER) FROM contacts
         WHERE platform_id = '5005'")" "1|1" \
    "the old conversation ends with the bot's message, unanswered"
is "$(q "SELECT $(agg nudge_hold) FROM (SELECT nudge_hold FROM contacts ORDER BY id) c")" "1,1" \
    "import-legacy marks the contacts it brought in"

run sched "$now_s"
is "$RC" 0 "the scheduler runs"
is "$(followups 5005)" 0 "no follow-up for a conversation last active 640 days ago"
is "$(openers 6006)" 0 "no opener for an imported contact"
run sched "$((now_s + 7200))"
is "$(count_jobs "type IN ('followup', 'initiate')")" 0 "... not later either"

# A follow-up enqueued by hand is refused by the job itself.
enqueue -q followup "{\"contact\": $(cid 5005)}" >/dev/null
settle
is "$(q "SELECT count(*) FROM messages WHERE kind = 'followup'")" 0 \
    "a follow-up job for a held contact writes nothing"

# ---- the horizon on live conversations ---------------------------------
for p in 7007 8008; do
	enqueue -q inbound "{\"bot\": \"anna\", \"platform_id\": \"$p\",
	    \"message_id\": \"m$p\", \"text\": \"hello\"}" >/dev/null
done
settle
is "$(q "SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'sent'
         AND contact IN ($(cid 7007), $(cid 8008))")" 2 "two live conversations got replies"
# 7007 went quiet 20 days ago, 8008 3 days ago (default horizon: 14 days)
quiet_since 7007 $((20 * DAY))
quiet_since 8008 $((3 * DAY))
run sched "$now_s"
is "$(followups 7007)" 0 "no follow-up past the 14-day horizon"
is "$(followups 8008)" 1 "a conversation quiet for 3 days gets its follow-up"

# ---- the imported person writes again -----------------------------------
enqueue -q inbound '{"bot": "anna", "platform_id": "5005", "message_id": "m-back",
    "text": "hi again, remember me?"}' >/dev/null
settle
is "$(q "SELECT nudge_hold FROM contacts WHERE platform_id = '5005'")" 0 \
    "an inbound message clears the hold"
is "$(q "SELECT count(*) FROM messages WHERE contact = $(cid 5005)
         AND direction = 'out' AND status = 'sent' AND sent_at >= $now")" 1 \
    "... and she gets her reply"
run sched "$now_s"
is "$(followups 5005)" 0 "no follow-up before followup_after has passed"
# two hours pass (for the scheduler and for the follow-up job itself)
quiet_since 5005 7200000
run sched "$now_s"
is "$(followups 5005)" 1 "two hours later: the usual follow-up is enqueued"
settle
is "$(q "SELECT count(*) FROM messages WHERE contact = $(cid 5005)
         AND kind = 'followup' AND status = 'sent'")" 1 "... and sent"
is "$(openers 6006)" 0 "the imported contact who never wrote still gets no opener"

bb_done
