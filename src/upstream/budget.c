/* The retry budget (budget.h): ring of one-second buckets with running sums. */
#include "upstream/budget.h"

#include <string.h>

void tx__budget_init(tx_budget_t *b, unsigned percent, unsigned min_per_s)
{
    memset(b, 0, sizeof *b);
    b->percent = percent;
    b->min_per_s = min_per_s;
    b->head = INT64_MIN;
    b->last_log = INT64_MIN;
}

void tx__budget_set(tx_budget_t *b, unsigned percent, unsigned min_per_s)
{
    b->percent = percent;
    b->min_per_s = min_per_s;
}

static int64_t second_of(tx_ms_t now)
{
    return now >= 0 ? now / 1000 : -((-now + 999) / 1000);
}

/* Moves the window to `now`: buckets older than the window are emptied. A clock that goes back
 * counts in the newest bucket. */
static unsigned advance(tx_budget_t *b, tx_ms_t now)
{
    int64_t s = second_of(now);
    if (b->head == INT64_MIN || s - b->head >= TX_BUDGET_WINDOW_S) {
        memset(b->first, 0, sizeof b->first);
        memset(b->retry, 0, sizeof b->retry);
        b->sum_first = b->sum_retry = 0;
        b->head = s;
    }
    while (b->head < s) {
        b->head++;
        unsigned i =
            (unsigned)(((b->head % TX_BUDGET_WINDOW_S) + TX_BUDGET_WINDOW_S) % TX_BUDGET_WINDOW_S);
        b->sum_first -= b->first[i];
        b->sum_retry -= b->retry[i];
        b->first[i] = b->retry[i] = 0;
    }
    return (unsigned)(((b->head % TX_BUDGET_WINDOW_S) + TX_BUDGET_WINDOW_S) % TX_BUDGET_WINDOW_S);
}

void tx__budget_on_first(tx_budget_t *b, tx_ms_t now)
{
    unsigned i = advance(b, now);
    if (b->first[i] < UINT32_MAX) {
        b->first[i]++;
        b->sum_first++;
    }
}

/* At least one retry per window whatever the settings: the budget throttles retries, it never
 * stops them, so a job item it parks is worked again even with both knobs at 0 and no new work. */
static uint64_t allowed(const tx_budget_t *b)
{
    uint64_t a = b->sum_first * b->percent / 100u + (uint64_t)b->min_per_s * TX_BUDGET_WINDOW_S;
    return a > 0 ? a : 1;
}

uint64_t tx__budget_available(tx_budget_t *b, tx_ms_t now)
{
    advance(b, now);
    uint64_t a = allowed(b);
    return a > b->sum_retry ? a - b->sum_retry : 0;
}

int tx__budget_try_retry(tx_budget_t *b, tx_ms_t now)
{
    unsigned i = advance(b, now);
    if (b->sum_retry >= allowed(b) || b->retry[i] == UINT32_MAX) {
        b->exhausted++;
        return 0;
    }
    b->retry[i]++;
    b->sum_retry++;
    return 1;
}

int tx__budget_log_due(tx_budget_t *b, tx_ms_t now)
{
    if (b->last_log != INT64_MIN && now - b->last_log < 1000 && now >= b->last_log) return 0;
    b->last_log = now;
    return 1;
}
