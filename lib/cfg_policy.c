/*
 * cfg_policy: the built-in defaults of a bot's policy (the persona, the
 * limits, the opt-out phrases in nine languages, the disclosure) and the
 * parser of a quiet-hours window: configuration, so they live with the
 * loader (cfg.c), which needs no policy code to fill and check a
 * struct cfg_policy. policy.c applies the policy at run time.
 */
#include <stdint.h>
#include <string.h>

#include "cfg.h"
#include "banned.h"

static const char default_persona[] =
    "You are texting on behalf of the account owner with someone they "
    "matched with on a dating app. Be warm, friendly and honest: be "
    "curious about them, ask a question now and then, keep things light, "
    "kind and respectful, and never pressure anyone. Never ask for money, "
    "gifts, documents, codes or passwords, and never promise a meeting in "
    "person on the owner's behalf. You are an AI assistant: if they "
    "sincerely ask whether they are talking to a person or a bot, say so "
    "honestly.";

/* Whole-message opt-outs; matched after folding (see above), so accents,
 * case, apostrophes and hyphens need no variants. Kept a few below
 * CFG_MAX_OPT_OUT so that a config can add its own. */
static const char *const default_opt_out[] = {
	/* English */
	"stop", "unsubscribe", "opt out", "stop texting me",
	"stop messaging me", "leave me alone", "don't text me",
	"don't message me", "don't contact me", "do not contact me",
	"remove me",
	/* German */
	"stopp", "abmelden", "hör auf", "lass mich in ruhe",
	"schreib mir nicht mehr",
	/* French */
	"arrête", "arrêtez", "désabonner", "laisse-moi tranquille",
	"ne m'écris plus", "ne me contacte plus",
	/* Spanish */
	"para", "basta", "déjame en paz", "no me escribas más",
	"darme de baja",
	/* Italian ("basta" above) */
	"smettila", "lasciami in pace", "non scrivermi più",
	/* Portuguese */
	"pare", "chega", "me deixa em paz", "não me mande mensagens",
	/* Russian */
	"стоп", "хватит", "отпишись", "отстань", "не пиши мне",
	/* Ukrainian ("стоп" above) */
	"досить", "не пиши мені",
	/* Polish ("stop" above) */
	"przestań", "wypisz mnie", "nie pisz do mnie",
};

void
cfg_policy_defaults(struct cfg_policy *p)
{
	size_t n = sizeof(default_opt_out) / sizeof(default_opt_out[0]);

	memset(p, 0, sizeof(*p));
	p->persona = default_persona;
	p->reply_delay_min_s = 20;
	p->reply_delay_max_s = 90;
	p->quiet_start_min = 23 * 60;
	p->quiet_end_min = 8 * 60;
	p->has_quiet = 1;
	p->max_per_hour = 30;
	p->max_per_chat_hour = 6;
	p->max_initiations_per_day = 10;
	p->max_unanswered = 2;
	p->followup_after_ms = (int64_t)2 * 86400 * 1000;
	p->followup_horizon_ms = (int64_t)14 * 86400 * 1000;
	p->opt_out = default_opt_out;
	p->n_opt_out = n < CFG_MAX_OPT_OUT ? (int)n : CFG_MAX_OPT_OUT;
	p->opt_out_reply = "Understood. You won't hear from me again. "
	    "Take care!";
	p->disclosure = "(Automated assistant: replies are written with AI "
	    "help. Reply STOP to opt out.)";
	p->review = 0;
	p->daily_budget_usd = 0;
	p->history_messages = 20;
	p->summary_after = 40;
	p->max_reply_chars = 1000;
}

/* Two digits at s, at most max. */
static int
two_digits(const char *s, int max, int *v)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	*v = (s[0] - '0') * 10 + (s[1] - '0');
	return *v <= max ? 0 : -1;
}

int
cfg_parse_quiet(const char *s, int *start_min, int *end_min)
{
	int h1, m1, h2, m2;

	if (s == NULL || strlen(s) != 11 || s[2] != ':' || s[5] != '-' ||
	    s[8] != ':')
		return -1;
	if (two_digits(s, 23, &h1) || two_digits(s + 3, 59, &m1) ||
	    two_digits(s + 6, 23, &h2) || two_digits(s + 9, 59, &m2))
		return -1;
	*start_min = h1 * 60 + m1;
	*end_min = h2 * 60 + m2;
	return 0;
}
