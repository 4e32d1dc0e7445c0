/* A bounded map from byte-string keys to pointers with least-recently-used eviction: a chained
 * hash table plus a doubly linked recency list, so get, put and remove are O(1). Used by the
 * client rate limiter and the response cache. Single-threaded. */
#ifndef TX_SERVER_LRU_H
#define TX_SERVER_LRU_H

#include <stddef.h>
#include <stdint.h>

typedef struct tx_lru tx_lru_t;

/* Called with the creator's `ud` and a value when its entry leaves the map (evicted, removed,
 * replaced, destroyed). */
typedef void (*tx_lru_free_fn)(void *ud, void *value);

/* A map holding at most `max_entries` (≥ 1) entries; `free_value` may be NULL. NULL when out of
 * memory or max_entries is 0. */
tx_lru_t *tx__lru_create(size_t max_entries, tx_lru_free_fn free_value, void *ud);

/* Frees every entry (values through free_value) and the map. NULL: no-op. */
void tx__lru_destroy(tx_lru_t *l);

/* The value under the key and marks it most recently used, or NULL when absent. */
void *tx__lru_get(tx_lru_t *l, const void *key, size_t keylen);

/* The value without touching recency, or NULL. */
void *tx__lru_peek(const tx_lru_t *l, const void *key, size_t keylen);

/* Stores value under a copy of the key as most recently used, replacing (and freeing) an older
 * value under that key, evicting the least recently used entry when full. Returns 0, or -1 when
 * out of memory (then nothing changed and the caller still owns value). */
int tx__lru_put(tx_lru_t *l, const void *key, size_t keylen, void *value);

/* Removes the key (freeing its value). Returns 1 when it was there, else 0. */
int tx__lru_remove(tx_lru_t *l, const void *key, size_t keylen);

/* The least recently used value (its key in *key and *keylen when not NULL), or NULL when empty. */
void *tx__lru_oldest(const tx_lru_t *l, const void **key, size_t *keylen);

/* Changes the bound (≥ 1), evicting least recently used entries down to it. */
void tx__lru_set_max(tx_lru_t *l, size_t max_entries);

size_t tx__lru_count(const tx_lru_t *l);
/* Entries evicted to respect the bound, since creation. */
uint64_t tx__lru_evictions(const tx_lru_t *l);

#endif
