/*
 * fuzz_llm: the LLM client's response parsers (a completion, an error
 * body), through llm_complete with fake_http.c answering. Input:
 * "STATUS\n" (optional, default 200) and the response body. Checks the
 * contract: OK has text, an error has a status and a reason, and the API
 * key never shows in anything returned.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "../../lib/llm.h"
#include "../../lib/banned.h"

#define KEY "sk-fuzz-Q7c1XbZ9pL3mVt8w"

static struct cfg_llm cfg;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_quiet();
	if (setenv("DATER_FUZZ_LLM_KEY", KEY, 1) == -1)
		abort();
	strlcpy(cfg.provider, "openai", sizeof(cfg.provider));
	cfg.base_url = "http://127.0.0.1:9/v1";
	strlcpy(cfg.model, "fuzz-model", sizeof(cfg.model));
	strlcpy(cfg.api_key_env, "DATER_FUZZ_LLM_KEY",
	    sizeof(cfg.api_key_env));
	cfg.timeout_ms = 1000;
	cfg.price_in_per_mtok = 2.5;
	cfg.price_out_per_mtok = 10;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct llm_msg msgs[] = {
		{ "system", "You are a fuzz target." },
		{ "user", "hello" }
	};
	struct llm_req req = { msgs, 2, NULL };
	struct llm_result out;
	int rc;

	fuzz_http_from(data, size);
	rc = llm_complete(&cfg, &req, &out);
	if (strstr(out.error, KEY) != NULL || strstr(out.model, KEY) != NULL ||
	    (out.text != NULL && strstr(out.text, KEY) != NULL))
		abort();
	if (rc == 0 && (out.status != LLM_OK || out.text == NULL ||
	    out.tokens_in < 0 || out.tokens_out < 0))
		abort();
	if (rc == -1 && (out.status == LLM_OK || out.error[0] == '\0'))
		abort();
	llm_result_release(&out);
	return 0;
}
