/* A small seeded pseudo-random generator (xoshiro256**, seeded through splitmix64) for jitter.
 * Deterministic for a given seed so tests and simulations repeat; not for anything secret. */
#ifndef TENAX_RNG_H
#define TENAX_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} tx_rng_t;

/* Seeds `r` from `seed` (any value, 0 included). NULL `r` is a no-op. */
void tx_rng_seed(tx_rng_t *r, uint64_t seed);

/* The next 64 random bits. A NULL `r` returns 0. */
uint64_t tx_rng_next(tx_rng_t *r);

/* A uniform integer in [lo, hi], both included, without modulo bias. When hi <= lo, returns lo
 * (no draw). A NULL `r` returns lo. */
int64_t tx_rng_range(tx_rng_t *r, int64_t lo, int64_t hi);

#endif
