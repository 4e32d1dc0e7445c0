/* xoshiro256** (Blackman & Vigna) seeded through splitmix64, and an unbiased bounded draw
 * (rejection of the short tail), for backoff jitter. */
#include <stddef.h>

#include "tenax/rng.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void tx_rng_seed(tx_rng_t *r, uint64_t seed)
{
    if (r == NULL) return;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

uint64_t tx_rng_next(tx_rng_t *r)
{
    if (r == NULL) return 0;
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

int64_t tx_rng_range(tx_rng_t *r, int64_t lo, int64_t hi)
{
    if (r == NULL || hi <= lo) return lo;
    /* Width as unsigned: hi - lo + 1 may wrap to 0, meaning the full 64-bit range. */
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1;
    uint64_t x = tx_rng_next(r);
    if (span != 0) {
        /* Reject the last partial block so every value is equally likely. */
        uint64_t limit = UINT64_MAX - (UINT64_MAX % span + 1) % span;
        while (x > limit)
            x = tx_rng_next(r);
        x %= span;
    }
    return (int64_t)((uint64_t)lo + x);
}
