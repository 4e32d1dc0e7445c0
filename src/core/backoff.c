/* Waits between attempts: the kind gives a value, the cap bounds it, the jitter spreads it, and a
 * Retry-After is a floor that nothing undercuts. All arithmetic saturates at INT64_MAX. */
#include <stdint.h>
#include <string.h>

#include "tenax/backoff.h"

static const char *const jitter_names[] = {"none", "full", "equal", "decorrelated"};

static tx_ms_t cap_of(const tx_backoff_t *b)
{
    return b->cap_ms < 0 ? INT64_MAX : b->cap_ms;
}

static tx_ms_t min_ms(tx_ms_t a, tx_ms_t b)
{
    return a < b ? a : b;
}

tx_ms_t tx_backoff_exp(tx_ms_t base_ms, unsigned n, tx_ms_t cap_ms)
{
    tx_ms_t cap = cap_ms < 0 ? INT64_MAX : cap_ms;
    if (base_ms <= 0) return 0;
    if (n == 0) n = 1;
    unsigned shift = n - 1;
    tx_ms_t v;
    /* base << shift overflows exactly when base > INT64_MAX >> shift. */
    if (shift >= 63 || base_ms > (INT64_MAX >> shift))
        v = INT64_MAX;
    else
        v = base_ms << shift;
    return min_ms(v, cap);
}

/* The un-jittered, capped value for the n-th wait. */
static tx_ms_t value_of(const tx_backoff_t *b, unsigned n)
{
    tx_ms_t cap = cap_of(b);
    tx_ms_t base = b->base_ms < 0 ? 0 : b->base_ms;
    switch (b->kind) {
    case TX_BACKOFF_EXPONENTIAL:
        return tx_backoff_exp(base, n, cap);
    case TX_BACKOFF_CHAIN: {
        size_t len = b->chain_len > TX_BACKOFF_CHAIN_MAX ? TX_BACKOFF_CHAIN_MAX : b->chain_len;
        if (len == 0) return min_ms(base, cap);
        size_t i = n == 0 ? 0 : n - 1;
        if (i >= len) i = len - 1;
        tx_ms_t v = b->chain_ms[i] < 0 ? 0 : b->chain_ms[i];
        return min_ms(v, cap);
    }
    case TX_BACKOFF_FIXED:
    default:
        return min_ms(base, cap);
    }
}

tx_ms_t tx_backoff_delay(const tx_backoff_t *b, unsigned n, tx_ms_t prev_ms, tx_ms_t retry_after_ms,
                         tx_rng_t *rng)
{
    tx_ms_t d = 0;
    if (b != NULL) {
        tx_ms_t v = value_of(b, n);
        switch (b->jitter) {
        case TX_JITTER_FULL:
            d = tx_rng_range(rng, 0, v);
            break;
        case TX_JITTER_EQUAL: {
            tx_ms_t half = v / 2;
            d = half + tx_rng_range(rng, 0, v - half);
            break;
        }
        case TX_JITTER_DECORRELATED: {
            tx_ms_t base = b->base_ms < 0 ? 0 : b->base_ms;
            tx_ms_t prev = prev_ms < base ? base : prev_ms;
            tx_ms_t hi = prev > INT64_MAX / 3 ? INT64_MAX : prev * 3;
            d = min_ms(cap_of(b), tx_rng_range(rng, base, hi));
            break;
        }
        case TX_JITTER_NONE:
        default:
            d = v;
            break;
        }
    }
    if (retry_after_ms > d) d = retry_after_ms;
    return d;
}

int tx_jitter_from_name(const char *name)
{
    if (name == NULL) return -1;
    for (int i = 0; i < TX_JITTER__LAST; i++)
        if (strcmp(jitter_names[i], name) == 0) return i;
    return -1;
}

const char *tx_jitter_name(tx_jitter_t j)
{
    if ((unsigned)j >= TX_JITTER__LAST) return "unknown";
    return jitter_names[j];
}
