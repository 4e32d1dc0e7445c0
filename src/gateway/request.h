/* Gateway request handling that needs no sockets: validation of the client's JSON body (one pass
 * of the strict scanner, no tree, when it is good and no cache key is wanted; else parsed once
 * with cJSON) and the body for an attempt's model (the client's bytes when
 * the model is unchanged, else re-serialised with jansson). Pure functions. */
#ifndef TX_GATEWAY_REQUEST_H
#define TX_GATEWAY_REQUEST_H

#include <stddef.h>

#include "server/cache.h"

typedef enum {
    TX_ROUTE_CHAT,        /* POST /v1/chat/completions */
    TX_ROUTE_COMPLETIONS, /* POST /v1/completions */
    TX_ROUTE_EMBEDDINGS,  /* POST /v1/embeddings */
    TX_ROUTE_MODELS,      /* GET /v1/models */
    TX_ROUTE_RESPONSES,   /* POST /v1/responses (OpenAI's Responses API) */
    TX_ROUTE__LAST
} tx_route_kind_t;

/* The upstream path of a route, relative to an endpoint's base URL ("/chat/completions");
 * NULL when out of range. Static. */
const char *tx__route_upstream_path(tx_route_kind_t r);

/* The client-facing path ("/v1/chat/completions"); NULL when out of range. Static. */
const char *tx__route_path(tx_route_kind_t r);

/* Why a request was refused: HTTP status, OpenAI error type and code, and a message. */
typedef struct {
    int status;       /* 400 or 413 (500 when out of memory) */
    const char *type; /* "invalid_request_error" ("server_error" with 500) */
    const char *code; /* "invalid_json", "invalid_type", "missing_field", "body_too_large" */
    char message[256];
} tx_request_reject_t;

/* The validated request. `model` is the body's "model" (NULL when it names none), owned:
 * release with tx__request_free; `stream` is 1 for `"stream": true`; `parsed` is 1 when a body
 * was parsed (0 for a route without one). */
typedef struct {
    char *model;
    int stream;
    int parsed;
} tx_request_t;

/* Validates `len` bytes of `body` for `route`: JSON (400 invalid_json: not JSON, not UTF-8, a raw
 * control character, a key twice at the top level), an object, `model` a string when present,
 * `stream` a boolean when present, for chat `messages` an array of objects, for completions
 * `prompt` present, for embeddings `input` present; a body longer than `max_len` (0: no limit)
 * is 413. Returns 0 and fills `out`, or -1 and fills `rej` (out is then zeroed). NULL body with
 * len 0 counts as empty (not JSON). */
int tx__request_parse(tx_route_kind_t route, const char *body, size_t len, size_t max_len,
                      tx_request_t *out, tx_request_reject_t *rej);

/* tx__request_parse on the cJSON tree alone (no one-pass check): what the one-pass check must
 * agree with, for the differential tests. */
int tx__request_parse_tree(tx_route_kind_t route, const char *body, size_t len, size_t max_len,
                           tx_request_t *out, tx_request_reject_t *rej);

/* The checks of tx__request_parse in one pass of the strict scanner, no tree, for a body they
 * accept: 1 with `out` filled (as tx__request_parse fills it); 0 when the tree path must judge
 * the body (`out` untouched). No size or route checks. */
int tx__request_check_one_pass(tx_route_kind_t route, const char *body, size_t len,
                               tx_request_t *out);

/* tx__request_parse that also fills `cr` (when not NULL) from the same parse: the response cache's
 * key of the request for `cache_route` (e.g. "/v1/chat/completions"; `default_model` when the
 * body names none) and its model (borrowed from `out`, else `default_model`). cr->result is
 * TX_CACHE_KEY_INVALID when the body is refused. */
int tx__request_parse_keyed(tx_route_kind_t route, const char *body, size_t len, size_t max_len,
                            const char *cache_route, const char *default_model, tx_cache_req_t *cr,
                            tx_request_t *out, tx_request_reject_t *rej);

/* Frees what tx__request_parse allocated and zeroes `rq`. NULL: no-op. */
void tx__request_free(tx_request_t *rq);

/* The body to send for `model`: when `model` is NULL or equals the body's own model
 * (`doc_model`), *out is set to NULL (send the client's bytes as they are) and 0 is returned.
 * Otherwise *out is a copy of the `len` bytes of `body` (a JSON object tx__request_parse
 * accepted) with the top-level "model" value replaced by `model` (or "model" added first when it
 * has none), every other byte as the client sent it (the caller frees it), and *out_len its
 * length. -1 on out of memory or a body that is not a JSON object. */
int tx__request_body_for_model(const char *body, size_t len, const char *doc_model,
                               const char *model, char **out, size_t *out_len);

#endif
