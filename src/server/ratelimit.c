/* Token buckets in integer units: one token is 60000 units and a bucket gains `rpm` units per
 * millisecond, so a minute refills exactly `rpm` tokens with no rounding drift. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/lru.h"
#include "server/ratelimit.h"

#define UNITS_PER_TOKEN 60000ull

typedef struct {
    uint64_t units;
    tx_ms_t last;
} bucket_t;

struct tx_ratelimit {
    uint32_t rpm;
    tx_lru_t *buckets;
};

static void free_bucket(void *ud, void *bucket)
{
    (void)ud;
    free(bucket);
}

tx_ratelimit_t *tx__ratelimit_create(uint32_t rpm, size_t max_clients)
{
    if (max_clients == 0) return NULL;
    tx_ratelimit_t *rl = calloc(1, sizeof(*rl));
    if (rl == NULL) return NULL;
    rl->rpm = rpm;
    rl->buckets = tx__lru_create(max_clients, free_bucket, NULL);
    if (rl->buckets == NULL) {
        free(rl);
        return NULL;
    }
    return rl;
}

void tx__ratelimit_destroy(tx_ratelimit_t *rl)
{
    if (rl == NULL) return;
    tx__lru_destroy(rl->buckets);
    free(rl);
}

void tx__ratelimit_set_rpm(tx_ratelimit_t *rl, uint32_t rpm)
{
    if (rl != NULL) rl->rpm = rpm;
}

uint32_t tx__ratelimit_rpm(const tx_ratelimit_t *rl)
{
    return rl != NULL ? rl->rpm : 0;
}

static uint64_t capacity(uint32_t rpm)
{
    return (uint64_t)rpm * UNITS_PER_TOKEN;
}

/* Brings a bucket to `now` at the current rate and capacity. */
static void refill(bucket_t *b, uint32_t rpm, tx_ms_t now)
{
    uint64_t cap = capacity(rpm);
    if (now > b->last) {
        uint64_t elapsed = (uint64_t)(now - b->last);
        /* a full refill takes 60 s; anything longer cannot add more and must not overflow */
        uint64_t gain = elapsed >= 60000 ? cap : elapsed * rpm;
        b->units = cap - b->units <= gain ? cap : b->units + gain;
        b->last = now;
    } /* a clock going backwards adds nothing; `last` stays the latest time seen */
    if (b->units > cap) b->units = cap;
}

static tx_ms_t ms_until(uint64_t missing_units, uint32_t rpm)
{
    return (tx_ms_t)((missing_units + rpm - 1) / rpm);
}

static void fill_info(tx_ratelimit_info_t *info, int allowed, uint32_t rpm, const bucket_t *b)
{
    if (info == NULL) return;
    uint64_t cap = capacity(rpm);
    info->allowed = allowed;
    info->limit = rpm;
    info->remaining = (uint32_t)(b->units / UNITS_PER_TOKEN);
    info->reset_ms = ms_until(cap - b->units, rpm);
    if (allowed) {
        info->retry_after_ms = 0;
        info->retry_after_s = 0;
    } else {
        info->retry_after_ms = ms_until(UNITS_PER_TOKEN - b->units, rpm);
        info->retry_after_s = (uint32_t)((info->retry_after_ms + 999) / 1000);
        if (info->retry_after_s == 0) info->retry_after_s = 1;
    }
}

int tx__ratelimit_take(tx_ratelimit_t *rl, const char *client, tx_ms_t now,
                       tx_ratelimit_info_t *info)
{
    if (info != NULL) memset(info, 0, sizeof(*info));
    if (info != NULL) info->allowed = 1;
    if (rl == NULL || rl->rpm == 0) return 1;
    if (client == NULL) client = "";
    size_t klen = strnlen(client, 256);
    bucket_t *b = tx__lru_get(rl->buckets, client, klen);
    if (b == NULL) {
        b = malloc(sizeof(*b));
        if (b == NULL || tx__lru_put(rl->buckets, client, klen, b) != 0) {
            free(b);
            bucket_t full = {capacity(rl->rpm), now};
            fill_info(info, 1, rl->rpm, &full);
            return 1;
        }
        b->units = capacity(rl->rpm);
        b->last = now;
    }
    refill(b, rl->rpm, now);
    if (b->units < UNITS_PER_TOKEN) {
        fill_info(info, 0, rl->rpm, b);
        return 0;
    }
    b->units -= UNITS_PER_TOKEN;
    fill_info(info, 1, rl->rpm, b);
    return 1;
}

size_t tx__ratelimit_sweep(tx_ratelimit_t *rl, tx_ms_t now)
{
    if (rl == NULL) return 0;
    size_t dropped = 0, n = tx__lru_count(rl->buckets);
    /* walk from the least recently used; a bucket that is not full yet is rotated to the front
     * so every bucket is looked at once */
    for (size_t i = 0; i < n; i++) {
        const void *key;
        size_t klen;
        bucket_t *b = tx__lru_oldest(rl->buckets, &key, &klen);
        if (b == NULL) break;
        refill(b, rl->rpm, now);
        if (rl->rpm == 0 || b->units >= capacity(rl->rpm)) {
            tx__lru_remove(rl->buckets, key, klen);
            dropped++;
        } else {
            tx__lru_get(rl->buckets, key, klen);
        }
    }
    return dropped;
}

size_t tx__ratelimit_clients(const tx_ratelimit_t *rl)
{
    return rl != NULL ? tx__lru_count(rl->buckets) : 0;
}

int tx__ratelimit_format_reset(tx_ms_t ms, char *buf, size_t cap)
{
    if (buf == NULL || cap == 0) return -1;
    if (ms < 0) ms = 0;
    if (ms < 1000) return snprintf(buf, cap, "%lldms", (long long)ms);
    long long s = (long long)((ms + 999) / 1000);
    long long h = s / 3600, m = (s % 3600) / 60;
    s %= 60;
    if (h > 0) return snprintf(buf, cap, "%lldh%lldm%llds", h, m, s);
    if (m > 0) return snprintf(buf, cap, "%lldm%llds", m, s);
    return snprintf(buf, cap, "%llds", s);
}
