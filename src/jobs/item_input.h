/* The body of POST /v1/items (docs/api.md) parsed and validated: one {"owner","id","text","task"}
 * object or an array of them, into store inputs. Pure (no store, no loop): used by the API and
 * fuzzed by fuzz/fuzz_item_input.c. */
#ifndef TX_JOBS_ITEM_INPUT_H
#define TX_JOBS_ITEM_INPUT_H

#include <jansson.h>
#include <stddef.h>

#include "store/store.h"

#define TX_ITEM_BATCH_MAX 10000 /* items per request */
#define TX_ITEM_ID_MAX 256      /* bytes of an owner or an id */
#define TX_TASK_NAME_MAX 64     /* bytes of a task name */

/* A parsed batch. The inputs' strings point into `doc`; release with tx__item_batch_free. */
typedef struct {
    json_t *doc;
    tx_item_input_t *items;
    size_t n;
    int single; /* the body was one object, not an array */
} tx_item_batch_t;

/* Parses `len` bytes of `body`. Rules: `id` required, a string of 1..256 bytes or an integer
 * (then its decimal text); `owner` the same, absent/null → "default"; `text` a string or
 * absent/null (→ empty → stored as skipped); `task` a task name or absent/null (→ "tags");
 * other fields ignored; 1..TX_ITEM_BATCH_MAX items.
 * Returns TX_EOK with *out filled, or (with *out empty and nothing to free):
 *   TX_EPARSE  not JSON (msg says where)
 *   TX_EINVAL  a rule broken: `param` names the field ("id" for one object, "items[3].id" in an
 *              array; "" for the body as a whole), `msg` says why
 *   TX_ENOMEM  out of memory.
 * param/msg (may be NULL) are always NUL-terminated when their capacity is > 0. */
int tx__item_batch_parse(const char *body, size_t len, tx_item_batch_t *out, char *param,
                         size_t pcap, char *msg, size_t mcap);

/* Frees what the batch owns and zeroes it; NULL is a no-op. */
void tx__item_batch_free(tx_item_batch_t *b);

/* 1 when `s` is a task name: 1..64 of A-Z a-z 0-9 _ - . (NULL → 0). */
int tx__task_name_valid(const char *s);

#endif
