/*
 * llm_load: the LLM server's own limit, with no dater code around it.
 *
 *   llm_load -c CONC -n TOTAL URL BODYFILE
 *
 * CONC processes (as many as dater's workers) each POST BODYFILE to URL
 * (a chat completions endpoint) one request after another, TOTAL
 * requests in all, and do nothing else. Each request gets a fresh curl
 * easy handle (so a new connection), "Expect:" off, as dater's lib/http
 * does: the only difference left from dater's respond job is everything
 * dater does around the call. A reply must be 200 and mention "choices".
 *
 * Prints "requests elapsed_us cpu_us failures": cpu_us is the user+system
 * time of the client processes (not of the server).
 */
#include <curl/curl.h>
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

struct sink {
	char buf[65536];
	size_t len;
};

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t k = size * n, room = sizeof(s->buf) - 1 - s->len;

	memcpy(s->buf + s->len, p, k < room ? k : room);
	s->len += k < room ? k : room;
	return k;
}

static char *
slurp(const char *path, size_t *len)
{
	char *buf;
	FILE *f;
	long n;

	if ((f = fopen(path, "re")) == NULL)
		err(66, "open '%s'", path);
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		err(74, "'%s'", path);
	if ((buf = malloc((size_t)n + 1)) == NULL)
		err(71, "malloc");
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		err(74, "read '%s'", path);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* One client: n requests in a row; returns the number that failed. */
static int
client(const char *url, const char *body, size_t len, long n)
{
	struct curl_slist *hdrs = NULL;
	struct sink *s;
	long i, status;
	int bad = 0;
	CURL *h;

	if ((s = malloc(sizeof(*s))) == NULL)
		err(71, "malloc");
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	for (i = 0; i < n; i++) {
		if ((h = curl_easy_init()) == NULL)
			errx(71, "curl_easy_init");
		s->len = 0;
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
		status = 0;
		if (curl_easy_perform(h) != CURLE_OK ||
		    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) !=
		    CURLE_OK || status != 200)
			bad++;
		else {
			s->buf[s->len] = '\0';
			if (strstr(s->buf, "\"choices\"") == NULL)
				bad++;
		}
		curl_easy_cleanup(h);
	}
	curl_slist_free_all(hdrs);
	free(s);
	return bad;
}

int
main(int argc, char *argv[])
{
	struct rusage ru;
	char *body;
	size_t len;
	long conc = 1, total = 0, i, share;
	int64_t t0, elapsed;
	int ch, st, fails = 0;
	pid_t pid;

	while ((ch = getopt(argc, argv, "c:n:")) != -1) {
		switch (ch) {
		case 'c':
			conc = bench_count(optarg, "-c");
			break;
		case 'n':
			total = bench_count(optarg, "-n");
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 2 || total == 0)
		goto usage;
	body = slurp(argv[optind + 1], &len);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		errx(71, "curl_global_init");
	t0 = bench_mono_us();
	for (i = 0; i < conc; i++) {
		share = total / conc + (i < total % conc);
		if ((pid = fork()) < 0)
			err(71, "fork");
		if (pid == 0)
			_exit(client(argv[optind], body, len, share) > 0);
	}
	while ((pid = wait(&st)) > 0 || errno == EINTR)
		if (pid > 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
			fails++;
	elapsed = bench_mono_us() - t0;
	getrusage(RUSAGE_CHILDREN, &ru);
	printf("%ld %lld %lld %d\n", total, (long long)elapsed,
	    (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	    ru.ru_utime.tv_usec + ru.ru_stime.tv_usec, fails);
	free(body);
	return fails > 0;
usage:
	fprintf(stderr, "usage: llm_load -c conc -n total url body\n");
	return 64;
}
