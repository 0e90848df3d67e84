/*
 * fuzz: what the harnesses in tests/fuzz share. Each fuzz_NAME.c defines
 * LLVMFuzzerInitialize (set-up once) and LLVMFuzzerTestOneInput (one
 * input; must not leak or keep state that changes the next input's
 * outcome). Linked with libFuzzer (clang, `make fuzz`) or with replay.c
 * (any compiler, `make fuzz-regress`: runs files through them once).
 *
 * Both builds link fake_http.c in place of lib/http.c: http_do answers
 * with what the harness set, so the parsers behind a request get the
 * fuzzer's bytes and nothing reaches the network.
 */
#ifndef DATER_FUZZ_H
#define DATER_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The next http_do's response: status (0: no response, HTTP_FAIL_OTHER),
 * the body (copied) and retry_after_ms (-1: none).
 */
void fuzz_http_set(long status, const uint8_t *body, size_t len,
    int64_t retry_after_ms);

/*
 * Split "STATUS\nBODY" (STATUS: up to three digits; anything else, or no
 * newline within 4 bytes, is 200 and the whole input is the body) and set
 * it as the next response.
 */
void fuzz_http_from(const uint8_t *data, size_t size);

/* Log errors only, under the name "fuzz". */
void fuzz_log_quiet(void);

/* A new private directory under $TMPDIR (or /tmp) into dir; aborts on
 * failure (a harness cannot run without it). The first one is removed
 * at exit. */
void fuzz_tmpdir(char *dir, size_t len);

/* Write data to path (0600, replacing it); aborts on failure. */
void fuzz_write(const char *path, const uint8_t *data, size_t size);

#endif
