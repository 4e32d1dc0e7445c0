/* The classifier with the caller's way to delete its parse tree (internal to tenax): the
 * tenax program parses inside its cJSON arena (gateway/json_arena.h) and can skip the delete
 * walk; tx_classify_response and tx_classify_stream_event are these with cJSON_Delete, and
 * neither touches cJSON's process-wide allocator. */
#ifndef TX_CORE_CLASSIFY_TREE_H
#define TX_CORE_CLASSIFY_TREE_H

#include <stddef.h>

#include "tenax/classify.h"

struct cJSON;

/* Deletes a tree the classifier parsed (with the allocator in place when it parsed). */
typedef void (*tx__cjson_delete_fn)(struct cJSON *root);

/* tx_classify_response, deleting its tree with `del`. */
tx_class_t tx__classify_response_with(int status, const tx_header_t *h, size_t nh, const char *body,
                                      size_t len, tx_resp_kind_t kind, tx_ms_t now_unix_ms,
                                      tx_classification_t *out, tx__cjson_delete_fn del);

/* tx_classify_response on the cJSON tree alone (no fast path): what the fast path must agree
 * with, for the differential tests. */
tx_class_t tx__classify_response_tree(int status, const tx_header_t *h, size_t nh, const char *body,
                                      size_t len, tx_resp_kind_t kind, tx_ms_t now_unix_ms,
                                      tx_classification_t *out, tx__cjson_delete_fn del);

/* The fast path alone: 1 when the body of a 2xx answer (a plain success shape, strictly valid
 * JSON) was classified into *out, which holds init's state and the Retry-After wait; 0 when it
 * is for the tree path (*out untouched). */
int tx__classify_skim(const char *body, size_t len, tx_resp_kind_t kind, tx_classification_t *out);

/* tx_classify_stream_event, deleting its tree with `del`. */
tx_class_t tx__classify_stream_event_with(const char *data, size_t len, tx_classification_t *out,
                                          tx__cjson_delete_fn del);

/* The stream event fast path alone: 1 when the event (a plain chat chunk, strictly valid JSON)
 * was classified into *out, which holds init's state; 0 when it is for the tree path. */
int tx__classify_event_skim(const char *data, size_t len, tx_classification_t *out);

/* tx_classify_stream_event on the cJSON tree alone (no fast path), for the differential tests. */
tx_class_t tx__classify_stream_event_tree(const char *data, size_t len, tx_classification_t *out,
                                          tx__cjson_delete_fn del);

#endif
