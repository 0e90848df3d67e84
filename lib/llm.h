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
	LLM_RETRY,		/* 429, 5xx, timeout, connection: try later */
	LLM_FATAL		/* 400/401/403/404, bad body: won't succeed */
};

struct llm_result {
	enum llm_status status;
	char *text;		/* owned: the reply (LLM_OK) */
	char model[128];	/* the model that answered */
	int has_usage;		/* the server reported usage */
	int tokens_in, tokens_out;	/* estimated when !has_usage */
	double cost_usd;	/* from the config's prices */
	int64_t retry_at_ms;	/* LLM_RETRY: earliest retry (Retry-After,
				 * retry-after-ms), 0 if the server gave none */
	char error[512];	/* not OK: the reason, with the server's
				 * message and the HTTP status */
};

/*
 * Ask for a completion. Returns 0 with out->status LLM_OK and out->text
 * set, or -1 with out->status LLM_RETRY or LLM_FATAL and out->error.
 * Release out with llm_result_release().
 */
int llm_complete(const struct cfg_llm *cfg, const struct llm_req *req,
    struct llm_result *out);

void llm_result_release(struct llm_result *out);

/* A rough token count for text (about 4 bytes a token), for budgets. */
int llm_estimate_tokens(const char *text);

#endif
