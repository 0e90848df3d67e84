/*
 * redact: keep secrets out of every text that is logged or stored. A
 * process registers its secrets once, from the configuration (cfg_load
 * does it on every successful load and reload); the log module and the
 * functions that store error texts (queue, store) pass every text through
 * redact_str(), so a new code path cannot forget to.
 *
 * Secrets: the values of the environment variables named by
 * llm.api_key_env and each bot's transport.token_env, and the user info
 * and the query string (and fragment) of every configured URL (webhook
 * url, base_url), each also percent-encoded and percent-decoded. Besides
 * these, the user info and the query string of any URL in a text
 * ("scheme://user:pass@host/path?query") are redacted too.
 */
#ifndef DATER_REDACT_H
#define DATER_REDACT_H

#include <stddef.h>

#include "cfg.h"

#define REDACT_MARK "<redacted>"
/* Secrets shorter than this match only as a whole word (not next to a
 * letter or digit), so a one-letter "key" does not eat every "x". A text
 * ending in the first REDACT_SHORT or more bytes of a secret (a secret
 * cut by truncation) has that end redacted too. */
#define REDACT_SHORT 4
/* Parts of a URL (one query value, a password) are registered alone only
 * from this length, so "?format=json&key=..." does not redact every
 * "json"; the whole query and the whole user info always are. */
#define REDACT_PIECE 8

/*
 * Replace the registered secrets by those of cfg. Returns 0, or -1 when
 * out of memory (logged) with the old set kept.
 */
int redact_config(const struct cfg *cfg);

/* Register one secret (copied) and its percent-encoded and -decoded
 * forms. "" is ignored. Returns 0, or -1 when out of memory (logged). */
int redact_add(const char *secret);

/* Register the user info, the query string and the fragment of url, each
 * whole and in parts (the password, else the user; each query value).
 * Returns 0 or -1 (out of memory, logged). */
int redact_add_url(const char *url);

/* Forget every registered secret. */
void redact_clear(void);

/*
 * Copy src into dst (size len > 0) with every registered secret, extra
 * (one more secret for this call; NULL or "" for none), and the user info
 * and query string of every URL replaced by REDACT_MARK. The copy is cut
 * to fit at a UTF-8 character boundary. dst and src must not overlap.
 * Returns strlen(dst). Never logs.
 */
size_t redact_str(char *dst, size_t len, const char *src, const char *extra);

#endif
