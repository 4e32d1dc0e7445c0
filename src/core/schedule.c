/* The attempt schedule of docs/retry-engine.md: which model each attempt uses — the primary for the
 * first retry_max attempts, then each fallback for fallback_attempts — and how long the chain is.
 */
#include <limits.h>

#include "tenax/policy.h"

unsigned tx_schedule_models(const tx_schedule_t *s)
{
    if (s == NULL) return 0;
    unsigned n =
        s->n_fallbacks > TX_SCHEDULE_MAX_FALLBACKS ? TX_SCHEDULE_MAX_FALLBACKS : s->n_fallbacks;
    return 1 + n;
}

unsigned tx_schedule_attempts_on(const tx_schedule_t *s, unsigned idx)
{
    if (s == NULL || idx >= tx_schedule_models(s)) return 0;
    return idx == 0 ? s->retry_max : s->fallback_attempts;
}

unsigned tx_schedule_length(const tx_schedule_t *s)
{
    if (s == NULL) return 0;
    unsigned long long total = 0;
    for (unsigned i = 0; i < tx_schedule_models(s); i++)
        total += tx_schedule_attempts_on(s, i);
    return total > UINT_MAX ? UINT_MAX : (unsigned)total;
}

int tx_schedule_model_for(const tx_schedule_t *s, unsigned n)
{
    if (s == NULL || n == 0) return -1;
    if (s->budget > 0 && n > s->budget) return -1;
    unsigned left = n;
    for (unsigned i = 0; i < tx_schedule_models(s); i++) {
        unsigned k = tx_schedule_attempts_on(s, i);
        if (left <= k) return (int)i;
        left -= k;
    }
    return -1;
}

const char *tx_schedule_model_name(const tx_schedule_t *s, unsigned idx)
{
    if (s == NULL || idx >= tx_schedule_models(s)) return NULL;
    return idx == 0 ? s->primary : s->fallbacks[idx - 1];
}
