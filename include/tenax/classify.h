/* The classifier of docs/classifier.md: turns one upstream answer (status, headers, body), a
 * transport failure, or one SSE event into an error class, the provider's code and message, and the
 * wait the provider asked for. Sans-I/O, no global state, thread-safe; the result is a plain struct
 * that owns nothing. Rules: docs/classifier.md. */
#ifndef TENAX_CLASSIFY_H
#define TENAX_CLASSIFY_H

#include <stddef.h>

#include <stdint.h>

#include "tenax/class.h"
#include "tenax/types.h"

/* What a 2xx body must look like to count as a success. */
typedef enum {
    TX_RESP_ANY,        /* any JSON without an error object */
    TX_RESP_CHAT,       /* choices[0].message.content (or tool_calls) */
    TX_RESP_COMPLETION, /* choices[0].text */
    TX_RESP_EMBEDDING,  /* a non-empty data array */
    TX_RESP_RESPONSES   /* OpenAI Responses: an `output` array, `status` not failed/incomplete */
} tx_resp_kind_t;

typedef struct {
    tx_class_t cls;         /* TX_CLASS_OK when the attempt succeeded */
    int status;             /* HTTP status; 0 for transport errors and stream events */
    char code[48];          /* provider code as text: "1302", "insufficient_quota", "502" */
    char message[384];      /* provider message or our detail, truncated, valid UTF-8 */
    tx_ms_t retry_after_ms; /* -1 when the provider gave none */
    /* A successful reply's top-level "usage" counts (prompt, completion, total); each -1 when
     * absent or not a non-negative integer. Read from the same parse as the class. */
    int64_t prompt_tokens, completion_tokens, total_tokens;
    /* Stream events only: 1 when the event carries output (content, a tool call, a refusal, a
     * finish reason, Responses output text or a completed response), 0 when it does not (a
     * role-only delta, `response.created`, a usage-only chunk). */
    int output;
    /* Answers only: the body's shape as an OpenAI-style error, read from the same parse, so a
     * caller relaying it needs no second parse: TX_ERROR_SHAPE_NONE (not a JSON object with an
     * "error" object holding a string "message"), TX_ERROR_SHAPE_OPENAI (it is, with a "type"
     * member), TX_ERROR_SHAPE_NO_TYPE (it is, without "type", as Azure sends them). */
    int error_shape;
} tx_classification_t;

enum { TX_ERROR_SHAPE_NONE = 0, TX_ERROR_SHAPE_OPENAI = 1, TX_ERROR_SHAPE_NO_TYPE = 2 };

/* Classifies one HTTP answer. h may be NULL when nh is 0; body may be NULL (treated as empty).
 * now_unix_ms is wall-clock time, used for HTTP-date Retry-After values. out must not be NULL;
 * it is always filled. Returns out->cls. */
tx_class_t tx_classify_response(int status, const tx_header_t *h, size_t nh, const char *body,
                                size_t len, tx_resp_kind_t kind, tx_ms_t now_unix_ms,
                                tx_classification_t *out);

typedef enum {
    TX_TRANSPORT_CONNECT, /* connection refused */
    TX_TRANSPORT_RESET,   /* connection reset */
    TX_TRANSPORT_DNS,
    TX_TRANSPORT_TLS,
    TX_TRANSPORT_PARTIAL, /* closed mid-body */
    TX_TRANSPORT_TIMEOUT, /* the attempt timed out */
    TX_TRANSPORT_ABORTED  /* the client went away */
} tx_transport_t;

/* Classifies a failure that produced no HTTP answer: network, timeout or aborted. detail may be
 * NULL; it is copied (truncated, made valid UTF-8) into out->message. Returns out->cls. */
tx_class_t tx_classify_transport(tx_transport_t what, const char *detail, tx_classification_t *out);

/* Classifies one SSE `data:` payload of a stream: "[DONE]" and ordinary chunks are OK; an error
 * object (first event or mid-stream) is classified like an error inside a 200; a chunk with
 * finish_reason "content_filter" is content_filter; a payload that is not JSON is
 * invalid_response. Responses events: `error` and `response.failed` / `response.incomplete`
 * are failures like the same body. Usage in the event (a chat usage chunk, the response of
 * `response.completed`) fills the token counts; `output` says whether it carries output.
 * data may be NULL. Returns out->cls. */
tx_class_t tx_classify_stream_event(const char *data, size_t len, tx_classification_t *out);

#endif
