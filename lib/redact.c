/*
 * redact: the set of secrets is the one piece of process-wide state here,
 * like the log module's settings: registered once from the configuration
 * and read by every redact_str() call, so that the log and the stored
 * error texts need no configuration handed down to them. It is a list of
 * byte strings, longest first, so that of two overlapping secrets the
 * longer one is cut out whole.
 *
 * redact_str() walks the text once: at each position the longest secret
 * that starts there is replaced; a "scheme://" starts a URL whose user
 * info (up to the last '@' of the authority) and whose query string and
 * fragment (from '?' or '#' to the end of the URL) are replaced.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redact.h"
#include "banned.h"

struct redact_secret {
	char *s;
	size_t n;
};

struct redact_set {
	struct redact_secret *v;	/* longest first */
	size_t n, cap;
};

static struct redact_set redact_secrets;

static void
set_free(struct redact_set *set)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		explicit_bzero(set->v[i].s, set->v[i].n);
		free(set->v[i].s);
	}
	free(set->v);
	memset(set, 0, sizeof(*set));
}

/* Add a copy of p[0..n), keeping the longest first; a duplicate once. */
static int
set_put(struct redact_set *set, const char *p, size_t n)
{
	struct redact_secret *nv;
	size_t i, cap;
	char *c;

	if (n == 0 || memchr(p, '\0', n) != NULL)
		return 0;
	for (i = 0; i < set->n && set->v[i].n >= n; i++)
		if (set->v[i].n == n && memcmp(set->v[i].s, p, n) == 0)
			return 0;
	if (set->n == set->cap) {
		cap = set->cap == 0 ? 16 : set->cap * 2;
		if ((nv = reallocarray(set->v, cap, sizeof(*nv))) == NULL)
			return -1;
		set->v = nv;
		set->cap = cap;
	}
	if ((c = malloc(n + 1)) == NULL)
		return -1;
	memcpy(c, p, n);
	c[n] = '\0';
	memmove(&set->v[i + 1], &set->v[i], (set->n - i) * sizeof(*set->v));
	set->v[i].s = c;
	set->v[i].n = n;
	set->n++;
	return 0;
}

static int
hex_val(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* RFC 3986 unreserved characters, the ones never percent-encoded. */
static int
unreserved(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

/*
 * Add p[0..n) (if at least min bytes) with its percent-decoded form and
 * its percent-encoded forms (upper- and lower-case hex digits), since a
 * peer may quote a secret either way.
 */
static int
set_put_forms(struct redact_set *set, const char *p, size_t n, size_t min)
{
	static const char *const digits[] = { "0123456789ABCDEF",
		"0123456789abcdef" };
	const char *d;
	char *b;
	size_t i, k, c;
	int hi, lw, rc = -1;

	if (n == 0 || n < min)
		return 0;
	if (set_put(set, p, n) < 0 || (b = malloc(3 * n + 1)) == NULL)
		return -1;
	for (i = k = 0; i < n; i++) {
		if (p[i] == '%' && i + 2 < n && (hi = hex_val(p[i + 1])) >=
		    0 && (lw = hex_val(p[i + 2])) >= 0) {
			b[k++] = (char)(hi * 16 + lw);
			i += 2;
		} else
			b[k++] = p[i];
	}
	if (k >= min && set_put(set, b, k) < 0)
		goto out;
	for (c = 0; c < 2; c++) {
		d = digits[c];
		for (i = k = 0; i < n; i++) {
			if (unreserved((unsigned char)p[i])) {
				b[k++] = p[i];
				continue;
			}
			b[k++] = '%';
			b[k++] = d[(unsigned char)p[i] >> 4];
			b[k++] = d[(unsigned char)p[i] & 15];
		}
		if (set_put(set, b, k) < 0)
			goto out;
	}
	rc = 0;
out:
	explicit_bzero(b, 3 * n + 1);
	free(b);
	return rc;
}

/* The query whole, and its parts: each value of "name=value" between '&'
 * or ';' (or the whole part when it has no '='), if at least REDACT_PIECE
 * bytes. */
static int
set_put_query(struct redact_set *set, const char *q, size_t n)
{
	const char *end = q + n, *part, *eq;
	size_t pl;

	if (set_put_forms(set, q, n, 1) < 0)
		return -1;
	for (part = q; part < end; part += pl + 1) {
		pl = strcspn(part, "&;");
		if (pl > (size_t)(end - part))
			pl = (size_t)(end - part);
		eq = memchr(part, '=', pl);
		if (eq != NULL && set_put_forms(set, eq + 1,
		    (size_t)(part + pl - eq - 1), REDACT_PIECE) < 0)
			return -1;
		if (eq == NULL && set_put_forms(set, part, pl,
		    REDACT_PIECE) < 0)
			return -1;
	}
	return 0;
}

static int
set_put_url(struct redact_set *set, const char *url)
{
	const char *sch, *auth, *end, *at, *colon, *q, *frag;

	if (url == NULL)
		return 0;
	sch = strstr(url, "://");
	auth = sch != NULL ? sch + 3 : url;
	end = auth + strcspn(auth, "/?#");
	at = NULL;
	for (q = auth; sch != NULL && q < end; q++)
		if (*q == '@')
			at = q;
	if (at != NULL) {
		if (set_put_forms(set, auth, (size_t)(at - auth), 1) < 0)
			return -1;
		/* The password alone; a user name alone only without a
		 * password (then it is the token, as in https://TOKEN@h/). */
		colon = memchr(auth, ':', (size_t)(at - auth));
		if (colon != NULL && set_put_forms(set, colon + 1,
		    (size_t)(at - colon - 1), REDACT_PIECE) < 0)
			return -1;
		if (colon == NULL && set_put_forms(set, auth,
		    (size_t)(at - auth), REDACT_PIECE) < 0)
			return -1;
	}
	frag = strchr(end, '#');
	q = strchr(end, '?');
	if (q != NULL && frag != NULL && frag < q)
		q = NULL;	/* a '?' in the fragment */
	if (q != NULL && set_put_query(set, q + 1, frag != NULL ?
	    (size_t)(frag - q - 1) : strlen(q + 1)) < 0)
		return -1;
	if (frag != NULL && set_put_forms(set, frag + 1, strlen(frag + 1),
	    1) < 0)
		return -1;
	return 0;
}

static int
set_put_env(struct redact_set *set, const char *name)
{
	const char *v;

	if (name[0] == '\0' || (v = getenv(name)) == NULL)
		return 0;
	return set_put_forms(set, v, strlen(v), 1);
}

int
redact_config(const struct cfg *cfg)
{
	struct redact_set set;
	const struct cfg_transport *t;
	const struct cfg_llm *l;
	int i;

	memset(&set, 0, sizeof(set));
	if (set_put_env(&set, cfg->llm.api_key_env) < 0 ||
	    set_put_url(&set, cfg->llm.base_url) < 0)
		goto fail;
	for (i = 0; i < cfg->nbots; i++) {
		t = &cfg->bots[i].transport;
		l = &cfg->bots[i].llm;	/* a bot's own key or server */
		if (set_put_env(&set, t->token_env) < 0 ||
		    set_put_url(&set, t->url) < 0 ||
		    set_put_url(&set, t->base_url) < 0 ||
		    set_put_env(&set, l->api_key_env) < 0 ||
		    set_put_url(&set, l->base_url) < 0)
			goto fail;
	}
	set_free(&redact_secrets);
	redact_secrets = set;
	return 0;
fail:
	set_free(&set);
	log_err("out of memory for the secrets to redact");
	return -1;
}

int
redact_add(const char *secret)
{
	if (set_put_forms(&redact_secrets, secret, strlen(secret), 1) < 0) {
		log_err("out of memory for the secrets to redact");
		return -1;
	}
	return 0;
}

int
redact_add_url(const char *url)
{
	if (set_put_url(&redact_secrets, url) < 0) {
		log_err("out of memory for the secrets to redact");
		return -1;
	}
	return 0;
}

void
redact_clear(void)
{
	set_free(&redact_secrets);
}

/* ---- redacting a text ---------------------------------------------------- */

struct redact_out {
	char *d;
	size_t cap, n;		/* cap: bytes for text, the NUL excluded */
	int full;
};

static void
out_put(struct redact_out *o, const char *p, size_t n)
{
	if (o->full)
		return;
	if (n > o->cap - o->n) {
		n = o->cap - o->n;
		o->full = 1;
	}
	memcpy(o->d + o->n, p, n);
	o->n += n;
}

static int
word_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* Where a URL in running text ends. */
static int
url_end(int c)
{
	return c <= ' ' || c == 0x7f || c == '"' || c == '\'' || c == '<' ||
	    c == '>' || c == '`' || c == '\\';
}

/* Whether secret s matches src[i..n): whole, and for a short secret as a
 * word of its own. */
static int
matches(const char *src, size_t n, size_t i, const char *s, size_t sl)
{
	if (sl == 0 || sl > n - i || src[i] != s[0] ||
	    memcmp(src + i, s, sl) != 0)
		return 0;
	if (sl >= REDACT_SHORT)
		return 1;
	return (i == 0 || !word_char((unsigned char)src[i - 1])) &&
	    (i + sl == n || !word_char((unsigned char)src[i + sl]));
}

/* Whether src[i..n), the end of the text, is a secret cut short. */
static int
cut_secret(const char *src, size_t n, size_t i, const char *s, size_t sl)
{
	size_t rest = n - i;

	return rest >= REDACT_SHORT && rest < sl &&
	    memcmp(src + i, s, rest) == 0;
}

/* Mark in hide[] the bytes of src (length n) that belong to a secret:
 * every occurrence of each, so overlapping ones are hidden as one run. */
static void
mark_secrets(const char *src, size_t n, const char *extra, size_t el,
    unsigned char *hide)
{
	const struct redact_set *set = &redact_secrets;
	size_t i, k;

	for (i = 0; i < n; i++) {
		if (matches(src, n, i, extra, el))
			memset(hide + i, 1, el);
		else if (cut_secret(src, n, i, extra, el))
			memset(hide + i, 1, n - i);
		for (k = 0; k < set->n; k++) {
			if (matches(src, n, i, set->v[k].s, set->v[k].n)) {
				memset(hide + i, 1, set->v[k].n);
				break;	/* the longest; shorter ones lie within */
			}
			if (cut_secret(src, n, i, set->v[k].s, set->v[k].n))
				memset(hide + i, 1, n - i);
		}
	}
	/* Widen each run to whole UTF-8 characters, so valid text stays
	 * valid (a percent-decoded secret may be any bytes). */
	for (i = 1; i < n; i++)
		if (hide[i - 1] && ((unsigned char)src[i] & 0xc0) == 0x80)
			hide[i] = 1;
	for (i = n; i-- > 1; )
		if (hide[i] && ((unsigned char)src[i] & 0xc0) == 0x80)
			hide[i - 1] = 1;
}

/* Bytes of a URL's user info at s (the authority up to and with its last
 * '@'); 0 if it has none. */
static size_t
userinfo_len(const char *s)
{
	size_t i, at = 0;

	for (i = 0; s[i] != '\0' && !url_end((unsigned char)s[i]) &&
	    strchr("/?#", s[i]) == NULL; i++)
		if (s[i] == '@')
			at = i + 1;
	return at;
}

/* n cut back so that it does not end inside a UTF-8 sequence. */
static size_t
utf8_cut(const char *s, size_t n)
{
	size_t k = n, need;
	unsigned char lead;

	while (k > 0 && ((unsigned char)s[k - 1] & 0xc0) == 0x80)
		k--;
	if (k == 0)
		return n;
	lead = (unsigned char)s[k - 1];
	need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
	return n - (k - 1) < need ? k - 1 : n;
}

#define REDACT_STACK 4096

size_t
redact_str(char *dst, size_t len, const char *src, const char *extra)
{
	struct redact_out o = { dst, len - 1, 0, 0 };
	unsigned char stack[REDACT_STACK], *hide = stack;
	size_t n = strlen(src), el = extra != NULL ? strlen(extra) : 0, i, m;
	int in_url = 0;

	if (n > sizeof(stack) && (hide = malloc(n)) == NULL) {
		/* Fail closed: nothing of the text. */
		(void)strlcpy(dst, REDACT_MARK, len);
		return strlen(dst);
	}
	memset(hide, 0, n);
	mark_secrets(src, n, extra, el, hide);
	for (i = 0; i < n && !o.full; ) {
		if (hide[i]) {
			out_put(&o, REDACT_MARK, strlen(REDACT_MARK));
			while (i < n && hide[i])
				i++;
		} else if (src[i] == ':' && i > 0 &&
		    word_char((unsigned char)src[i - 1]) &&
		    strncmp(src + i, "://", 3) == 0) {
			out_put(&o, "://", 3);
			i += 3;
			in_url = 1;
			if ((m = userinfo_len(src + i)) > 0) {
				out_put(&o, REDACT_MARK "@",
				    strlen(REDACT_MARK "@"));
				i += m;
			}
		} else if (in_url && (src[i] == '?' || src[i] == '#')) {
			out_put(&o, src + i, 1);
			for (m = ++i; m < n && !url_end((unsigned char)src[m]);
			    m++)
				;
			if (m > i)
				out_put(&o, REDACT_MARK, strlen(REDACT_MARK));
			i = m;
			in_url = 0;
		} else {
			if (url_end((unsigned char)src[i]))
				in_url = 0;
			out_put(&o, src + i, 1);
			i++;
		}
	}
	if (hide != stack)
		free(hide);
	if (o.full)
		o.n = utf8_cut(dst, o.n);
	dst[o.n] = '\0';
	return o.n;
}
