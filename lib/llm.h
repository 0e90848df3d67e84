/*
 * llm: chat completions from an OpenAI-compatible server
 * (POST {base_url}/chat/completions: OpenAI, llama.cpp server, Ollama,
 * vLLM), or from the deterministic `offline` provider (no network; for
 * the demo and dry runs).
 *
 * The API key is read from the environment variable the config names and
 * never logged, stored, or put in an error message.
 */
#ifndef DATER_LLM_H
#define DATER_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

struct llm_msg {
	const char *role;	/* "system", "user", "assistant" */
	const char *content;
};

struct llm_req {
	const struct llm_msg *msgs;
	size_t n;
	const char *model;	/* NULL: cfg->model */
};

enum llm_status {
	LLM_OK = 0,
	LLM_RETRY,		/* no response (connect, timeout, dropped or
				 * truncated), 408, 409, 429, 5xx, a 2xx body
				 * that is not JSON: try later */
	LLM_FATAL		/* other 4xx (400/401/403/404 ...), a 2xx JSON
				 * body without choices[0].message.content as
				 * a string, no key, unknown provider, no
				 * messages: won't succeed as it is */
};

struct llm_result {
	enum llm_status status;
	char *text;		/* owned: the reply (LLM_OK); may be "" (the
				 * caller's draft check judges it) */
	char model[128];	/* the model that answered ("offline") */
	int has_usage;		/* the server reported usage */
	int tokens_in, tokens_out;	/* estimated when !has_usage: the
				 * messages' text plus 3 a message, and
				 * the reply */
	double cost_usd;	/* from the config's prices (offline: 0) */
	int64_t retry_at_ms;	/* LLM_RETRY: earliest retry, wall clock ms
				 * (now + retry-after-ms or Retry-After), 0
				 * if the server gave none */
	char error[512];	/* not OK: the reason, one line, with the
				 * server's message and the HTTP status:
				 * "llm: HTTP 401: Incorrect API key ..." */
};

/*
 * Ask for a completion. Returns 0 with out->status LLM_OK and out->text
 * set, or -1 with out->status LLM_RETRY or LLM_FATAL and out->error.
 * out is always initialized; release it with llm_result_release() either
 * way. Nothing is logged but one debug line on success.
 *
 * provider "openai": POST {base_url}/chat/completions, the model from
 * req->model or cfg->model, max_completion_tokens when > 0, temperature
 * only when has_temperature, "Authorization: Bearer" + the value of
 * $api_key_env (no header when api_key_env is ""; LLM_FATAL naming the
 * variable, never its value, when it is unset or empty). The key never
 * appears in out: the error has it replaced by "[redacted]", and so do
 * the text and model when the key is 8 bytes or more. Text that is not
 * valid UTF-8 is sent with U+FFFD for the bad bytes.
 *
 * provider "offline": no network; a reply that depends only on the
 * messages (the same messages give the same reply): it quotes the last
 * message when that is the user's, else it is an opener (no assistant
 * message yet) or a follow-up. Model "offline", usage estimated, cost 0.
 */
int llm_complete(const struct cfg_llm *cfg, const struct llm_req *req,
    struct llm_result *out);

/* Free out's text; safe on a zeroed struct. */
void llm_result_release(struct llm_result *out);

/* A rough token count for text (about 4 bytes a token, at least 1 for
 * non-empty text; 0 for NULL or ""), for budgets. */
int llm_estimate_tokens(const char *text);

#endif
