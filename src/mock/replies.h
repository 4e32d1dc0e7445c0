/* Bodies the mock answers with: realistic provider error shapes per fault kind, and the text of
 * a reply (tags for a tagging prompt, an echo otherwise). Internal to src/mock. */
#ifndef TX_MOCK_REPLIES_H
#define TX_MOCK_REPLIES_H

#include <jansson.h>

#include "mock/mock.h"

/* The error reply of a fault kind that answers with a JSON error (500 502 503 504 429 1302
 * quota 401 404 err200 down): status in *status, the body as a new JSON value (caller decrefs).
 * NULL for kinds that are not a JSON error. */
json_t *tx__mock_error(tx_mock_kind_t k, const char *model, unsigned retry_after_s, int *status);

/* The assistant's text for a chat request's `messages` (or a completion's `prompt` string):
 * tags for a tagging prompt, else a short echo. Caller frees. */
char *tx__mock_content(const json_t *messages, const char *prompt, const char *model);

/* Rough token count: words (at least 1). */
int tx__mock_tokens(const char *text);

#endif
