/* Items, pages, stats and task versions as JSON (docs/api.md, docs/classifier.md), in the tenax
 * form and the seed-compatible form of the original tagging service. Pure functions over store
 * structs: shared by the HTTP routes (api.c) and the offline CLI (stats, export). */
#ifndef TX_JOBS_ITEM_JSON_H
#define TX_JOBS_ITEM_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "store/store.h"

typedef enum {
    TX_ITEM_JSON_TENAX = 0, /* docs/api.md field names */
    TX_ITEM_JSON_SEED = 1,  /* the same plus tags, tagging_status, tagging_attempts, … */
} tx_item_json_form_t;

/* Writes `ms` (Unix ms) as RFC 3339 UTC with milliseconds ("2026-11-25T21:42:41.123Z") into
 * buf (≥ 25 bytes). Returns buf, or NULL when cap is too small or ms is out of range. */
char *tx__json_time(int64_t ms, char *buf, size_t cap);

/* A time as a JSON string, or JSON null when ms is 0 (unset). New reference (NULL: no memory). */
json_t *tx__json_time_value(int64_t ms);

/* The item's stored result (JSON text) as JSON: for the `tags` task always an array of strings
 * (a `{"tags":[…]}` object is unwrapped, anything else gives []); for other tasks the parsed
 * value, or the text as a JSON string when it is not JSON. NULL result → JSON null.
 * New reference (NULL: no memory). */
json_t *tx__item_result_json(const tx_item_t *it);

/* The item as a JSON object: every field of docs/api.md, GET /v1/items/{id}; `history` (one object
 * per attempt: n, model, endpoint, class or "ok", http_status, latency_ms, at) only when
 * with_history. The seed form adds tags, tagging_status, tagging_attempts, last_tagging_attempt,
 * tagging_error and user_id (a number when the owner is a decimal integer). New reference owned by
 * the caller; NULL when it is NULL or on out of memory. */
json_t *tx__item_json(const tx_item_t *it, tx_item_json_form_t form, int with_history);

/* The stats of docs/api.md. owner NULL = every owner (then "owner"/"user_id" is null). `enabled` is
 * 1 when job work is not paused. New reference; NULL on out of memory or st NULL. */
json_t *tx__stats_json(const char *owner, const tx_store_stats_t *st, int enabled, int max_attempts,
                       tx_item_json_form_t form);

/* The owner as JSON: a number when it is a decimal integer that fits in int64 without a
 * leading zero ("1" → 1), else a string. New reference; NULL owner → JSON null. */
json_t *tx__owner_json(const char *owner);

/* A stored task version as JSON: name, version, active, system_prompt, user_template,
 * response_format (parsed JSON when it is JSON, else a string, or null), parser, model,
 * created_at. New reference; NULL on out of memory or t NULL. */
json_t *tx__task_json(const tx_task_t *t);

#endif
