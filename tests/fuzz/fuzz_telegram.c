/*
 * fuzz_telegram: the Telegram driver's reply parsers, through
 * transport_poll (getUpdates: the update parser) and transport_send
 * (sendMessage's result), with fake_http.c answering. Input: an optional
 * "s" (send instead of poll), then "STATUS\n" (optional, default 200),
 * then the response body. Checks the contract: a result is OK or has an
 * error, the token never shows in it, updates have a chat id and text.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "../../lib/transport.h"
#include "../../lib/banned.h"

#define TOKEN "123456789:AAFuzzTokenZZ_abcdefghijklmnopqrs"

static struct cfg_transport t;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_quiet();
	if (setenv("DATER_FUZZ_TG_TOKEN", TOKEN, 1) == -1)
		abort();
	strlcpy(t.driver, "telegram", sizeof(t.driver));
	t.base_url = "http://127.0.0.1:9";
	strlcpy(t.token_env, "DATER_FUZZ_TG_TOKEN", sizeof(t.token_env));
	t.timeout_ms = 1000;
	return 0;
}

static void
check_result(int rc, const struct transport_result *res)
{
	if (strstr(res->error, TOKEN) != NULL)
		abort();
	if (rc == 0 && res->status != TRANSPORT_OK)
		abort();
	if (rc == -1 && (res->status == TRANSPORT_OK || res->error[0] == '\0'))
		abort();
}

static void
poll_once(void)
{
	struct transport_batch b;
	struct transport_result res;
	size_t i;
	int rc;

	rc = transport_poll(&t, "", 0, &b, &res);
	check_result(rc, &res);
	if (rc == -1 && b.n != 0)
		abort();
	for (i = 0; i < b.n; i++) {
		if (b.ups[i].platform_id[0] == '\0' || b.ups[i].text == NULL ||
		    b.ups[i].at_ms <= 0)
			abort();
	}
	transport_batch_release(&b);
}

static void
send_once(void)
{
	struct transport_out m = { "fuzzbot", 1, "42", 7, "hello" };
	struct transport_result res;
	int rc;

	rc = transport_send(&t, &m, &res);
	check_result(rc, &res);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int send = size > 0 && data[0] == 's';

	if (send) {
		data++;
		size--;
	}
	fuzz_http_from(data, size);
	if (send)
		send_once();
	else
		poll_once();
	return 0;
}
