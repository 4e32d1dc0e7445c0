/* Response cache for identical non-stream requests (CACHE_TTL_S, CACHE_MAX_ENTRIES): the key is
 * the SHA-256 of a canonical form of the request, entries live in an LRU with a TTL (clock
 * passed in) and hold the status, selected headers and body bytes. Requests with
 * `"stream": true` are never cached: tx__cache_key refuses them. Single-threaded. */
#ifndef TX_SERVER_CACHE_H
#define TX_SERVER_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "tenax/error.h"
#include "tenax/types.h"

#define TX_CACHE_KEY_LEN 32
/* Bodies larger than this are not stored. */
#define TX_CACHE_MAX_ENTRY_BYTES (1u << 20)
/* Default budget for all entries together (headers and bodies); see tx__cache_set_max_bytes. */
#define TX_CACHE_DEFAULT_MAX_BYTES ((size_t)256 << 20)

typedef enum {
    TX_CACHE_KEY_OK = 0, /* key computed */
    TX_CACHE_KEY_STREAM, /* "stream": true: never cached */
    TX_CACHE_KEY_INVALID /* not a JSON object (or duplicate keys, bad UTF-8): do not cache */
} tx_cache_key_result_t;

/* The request fields that make up the key besides the route and the model, in no particular
 * order; NULL-terminated. Any other field (user, stream_options, metadata …) does not. */
extern const char *const tx_cache_key_fields[];

/* Computes the key of request body `body` (len bytes of JSON) sent to `route` (e.g.
 * "/v1/chat/completions"); `default_model` stands in when the body has no "model" (may be
 * NULL). The canonical form is {"route","model"} plus the tx_cache_key_fields present, dumped
 * compact with every object's keys sorted (integers as integers, other numbers as %.17g), so
 * key order and whitespace do not matter. `key` is left unspecified unless TX_CACHE_KEY_OK is
 * returned. */
tx_cache_key_result_t tx__cache_key(const char *route, const char *default_model, const char *body,
                                    size_t len, unsigned char key[TX_CACHE_KEY_LEN]);

struct cJSON;

/* The same for a request already parsed (the gateway's one parse; borrowed, not modified). An
 * object with a key twice anywhere is TX_CACHE_KEY_INVALID. */
tx_cache_key_result_t tx__cache_key_tree(const char *route, const char *default_model,
                                         const struct cJSON *req,
                                         unsigned char key[TX_CACHE_KEY_LEN]);

/* What the cache needs of a request (the gateway fills it from its parse). */
typedef struct {
    tx_cache_key_result_t result;
    unsigned char key[TX_CACHE_KEY_LEN];
    const char *model; /* the request's model, else the default (borrowed) */
} tx_cache_req_t;

/* A stored answer. Read-only for callers; it stays valid until tx__cache_release, even if the
 * cache evicts or replaces it meanwhile. */
typedef struct {
    int status;
    size_t nheaders;
    const tx_header_t *headers; /* copies owned by the entry */
    const unsigned char *body;
    size_t body_len;
    tx_ms_t stored_at; /* the `now` of tx__cache_put */
} tx_cache_entry_t;

typedef struct {
    uint64_t hits, misses, stores, evictions, expired;
    size_t entries, bytes;
} tx_cache_stats_t;

typedef struct tx_cache tx_cache_t;

/* A cache keeping answers for `ttl_s` seconds (0 = off: get always misses uncounted, put
 * stores nothing) and at most `max_entries` (≥ 1) of them. NULL when out of memory or
 * max_entries is 0. */
tx_cache_t *tx__cache_create(uint32_t ttl_s, size_t max_entries);

/* Frees the cache; entries still referenced by callers live until released. NULL: no-op. */
void tx__cache_destroy(tx_cache_t *c);

/* Run-time changes. A new TTL applies to stored entries too; a smaller max evicts the least
 * recently used entries down to it (0 is ignored). */
void tx__cache_set_ttl(tx_cache_t *c, uint32_t ttl_s);
void tx__cache_set_max_entries(tx_cache_t *c, size_t max_entries);
/* Memory budget for all entries (default TX_CACHE_DEFAULT_MAX_BYTES): least recently used
 * entries are evicted to stay within it (0 is ignored). */
void tx__cache_set_max_bytes(tx_cache_t *c, size_t max_bytes);
int tx__cache_enabled(const tx_cache_t *c);

/* Looks the key up at monotonic time `now`. A hit returns a reference the caller must give back
 * with tx__cache_release and counts a hit; an absent or expired entry (dropped) counts a miss and
 * returns NULL. NULL cache or cache off: NULL, nothing counted. */
const tx_cache_entry_t *tx__cache_get(tx_cache_t *c, const unsigned char key[TX_CACHE_KEY_LEN],
                                      tx_ms_t now);

/* Gives back a reference from tx__cache_get. NULL: no-op. */
void tx__cache_release(const tx_cache_entry_t *e);

/* Stores a copy of an answer (status 200–299, headers copied, body up to
 * TX_CACHE_MAX_ENTRY_BYTES) under the key, replacing an older one, evicting least recently used
 * entries to stay within the entry and byte limits. Returns TX_EOK, TX_EINVAL (bad argument,
 * status not 2xx, or the cache is off), TX_ERANGE (body too large for an entry or the whole
 * budget) or TX_ENOMEM; on TX_EINVAL/TX_ERANGE the cache is unchanged, on TX_ENOMEM an older
 * entry under the key may be gone. */
tx_err_t tx__cache_put(tx_cache_t *c, const unsigned char key[TX_CACHE_KEY_LEN], int status,
                       const tx_header_t *headers, size_t nheaders, const void *body,
                       size_t body_len, tx_ms_t now);

/* Drops the entries expired at `now`; returns how many. */
size_t tx__cache_sweep(tx_cache_t *c, tx_ms_t now);

/* Counters since creation and the current number of entries. Zeros for NULL. */
void tx__cache_stats(const tx_cache_t *c, tx_cache_stats_t *out);

#endif
