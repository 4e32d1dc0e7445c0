/* Bounded LRU map: chained hash buckets (grown ×2 at load 1) and an intrusive recency list whose
 * head is the most recently used entry. */
#include <stdlib.h>
#include <string.h>

#include "server/lru.h"

typedef struct entry {
    struct entry *chain;       /* next in the hash bucket */
    struct entry *prev, *next; /* recency list: prev is more recent */
    uint64_t hash;
    void *value;
    size_t keylen;
    unsigned char key[];
} entry_t;

struct tx_lru {
    entry_t **buckets;
    size_t nbuckets; /* power of two */
    size_t count, max;
    uint64_t evictions;
    entry_t *head, *tail;
    tx_lru_free_fn free_value;
    void *ud;
};

static uint64_t hash_key(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

tx_lru_t *tx__lru_create(size_t max_entries, tx_lru_free_fn free_value, void *ud)
{
    if (max_entries == 0) return NULL;
    tx_lru_t *l = calloc(1, sizeof(*l));
    if (l == NULL) return NULL;
    l->nbuckets = 16;
    l->buckets = calloc(l->nbuckets, sizeof(*l->buckets));
    if (l->buckets == NULL) {
        free(l);
        return NULL;
    }
    l->max = max_entries;
    l->free_value = free_value;
    l->ud = ud;
    return l;
}

static void list_unlink(tx_lru_t *l, entry_t *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        l->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_push_front(tx_lru_t *l, entry_t *e)
{
    e->prev = NULL;
    e->next = l->head;
    if (l->head != NULL) l->head->prev = e;
    l->head = e;
    if (l->tail == NULL) l->tail = e;
}

static entry_t **find_slot(const tx_lru_t *l, const void *key, size_t keylen, uint64_t h)
{
    entry_t **pp = &l->buckets[h & (l->nbuckets - 1)];
    while (*pp != NULL) {
        entry_t *e = *pp;
        if (e->hash == h && e->keylen == keylen && memcmp(e->key, key, keylen) == 0) return pp;
        pp = &e->chain;
    }
    return pp;
}

/* Unlinks *pp from its bucket and the list and frees it. */
static void drop(tx_lru_t *l, entry_t **pp)
{
    entry_t *e = *pp;
    *pp = e->chain;
    list_unlink(l, e);
    if (l->free_value != NULL) l->free_value(l->ud, e->value);
    free(e);
    l->count--;
}

static void evict_one(tx_lru_t *l)
{
    entry_t *e = l->tail;
    if (e == NULL) return;
    drop(l, find_slot(l, e->key, e->keylen, e->hash));
    l->evictions++;
}

void tx__lru_destroy(tx_lru_t *l)
{
    if (l == NULL) return;
    entry_t *e = l->head;
    while (e != NULL) {
        entry_t *next = e->next;
        if (l->free_value != NULL) l->free_value(l->ud, e->value);
        free(e);
        e = next;
    }
    free(l->buckets);
    free(l);
}

void *tx__lru_peek(const tx_lru_t *l, const void *key, size_t keylen)
{
    if (l == NULL || (key == NULL && keylen > 0)) return NULL;
    entry_t *e = *find_slot(l, key, keylen, hash_key(key, keylen));
    return e != NULL ? e->value : NULL;
}

void *tx__lru_get(tx_lru_t *l, const void *key, size_t keylen)
{
    if (l == NULL || (key == NULL && keylen > 0)) return NULL;
    entry_t *e = *find_slot(l, key, keylen, hash_key(key, keylen));
    if (e == NULL) return NULL;
    if (l->head != e) {
        list_unlink(l, e);
        list_push_front(l, e);
    }
    return e->value;
}

static void grow(tx_lru_t *l)
{
    size_t n = l->nbuckets * 2;
    entry_t **b = calloc(n, sizeof(*b));
    if (b == NULL) return; /* keep the old table: longer chains, still correct */
    for (size_t i = 0; i < l->nbuckets; i++) {
        entry_t *e = l->buckets[i];
        while (e != NULL) {
            entry_t *next = e->chain;
            e->chain = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(l->buckets);
    l->buckets = b;
    l->nbuckets = n;
}

int tx__lru_put(tx_lru_t *l, const void *key, size_t keylen, void *value)
{
    if (l == NULL || (key == NULL && keylen > 0)) return -1;
    uint64_t h = hash_key(key, keylen);
    entry_t **pp = find_slot(l, key, keylen, h);
    if (*pp != NULL) {
        entry_t *e = *pp;
        if (l->free_value != NULL && e->value != value) l->free_value(l->ud, e->value);
        e->value = value;
        list_unlink(l, e);
        list_push_front(l, e);
        return 0;
    }
    entry_t *e = malloc(sizeof(*e) + keylen);
    if (e == NULL) return -1;
    e->hash = h;
    e->value = value;
    e->keylen = keylen;
    if (keylen > 0) memcpy(e->key, key, keylen);
    while (l->count >= l->max)
        evict_one(l);
    if (l->count + 1 > l->nbuckets) grow(l);
    pp = &l->buckets[h & (l->nbuckets - 1)];
    e->chain = *pp;
    *pp = e;
    list_push_front(l, e);
    l->count++;
    return 0;
}

int tx__lru_remove(tx_lru_t *l, const void *key, size_t keylen)
{
    if (l == NULL || (key == NULL && keylen > 0)) return 0;
    entry_t **pp = find_slot(l, key, keylen, hash_key(key, keylen));
    if (*pp == NULL) return 0;
    drop(l, pp);
    return 1;
}

void *tx__lru_oldest(const tx_lru_t *l, const void **key, size_t *keylen)
{
    if (l == NULL || l->tail == NULL) return NULL;
    if (key != NULL) *key = l->tail->key;
    if (keylen != NULL) *keylen = l->tail->keylen;
    return l->tail->value;
}

void tx__lru_set_max(tx_lru_t *l, size_t max_entries)
{
    if (l == NULL || max_entries == 0) return;
    l->max = max_entries;
    while (l->count > l->max)
        evict_one(l);
}

size_t tx__lru_count(const tx_lru_t *l)
{
    return l != NULL ? l->count : 0;
}

uint64_t tx__lru_evictions(const tx_lru_t *l)
{
    return l != NULL ? l->evictions : 0;
}
