/* The AIMD limit of limiter.h. */
#include "upstream/limiter.h"

#include <string.h>

void tx__limiter_init(tx_limiter_t *l, unsigned max, int adaptive)
{
    memset(l, 0, sizeof *l);
    l->max = l->limit = max > 0 ? max : 1;
    l->adaptive = adaptive != 0;
}

void tx__limiter_configure(tx_limiter_t *l, unsigned max, int adaptive)
{
    l->max = max > 0 ? max : 1;
    l->adaptive = adaptive != 0;
    if (!l->adaptive || l->limit > l->max || l->limit == 0) l->limit = l->max;
    l->streak = 0;
}

int tx__limiter_has_room(const tx_limiter_t *l)
{
    return !l->adaptive || l->in_flight < l->limit;
}

tx_lim_ticket_t tx__limiter_take(tx_limiter_t *l)
{
    l->in_flight++;
    tx_lim_ticket_t t = {++l->seq, l->in_flight >= l->limit};
    return t;
}

int tx__limiter_done(tx_limiter_t *l, tx_lim_ticket_t t, tx_lim_outcome_t o, unsigned *old)
{
    if (t.seq == 0) return 0;
    if (l->in_flight > 0) l->in_flight--;
    if (!l->adaptive) return 0;
    unsigned was = l->limit;
    if (o == TX_LIM_OVERLOAD || o == TX_LIM_CONCURRENCY) {
        if (t.seq <= l->cut_seq) return 0; /* the same round trip as the last cut */
        l->cut_seq = l->seq;
        l->streak = 0;
        unsigned next = o == TX_LIM_CONCURRENCY ? l->limit * 3u / 4u : l->limit * 9u / 10u;
        if (next >= l->limit) next = l->limit - 1;
        l->limit = next >= 1 ? next : 1;
        if (l->limit == was) return 0;
        l->cuts++;
    } else if (o == TX_LIM_SUCCESS && t.at_limit && l->limit < l->max) {
        if (++l->streak < TX_LIM_STREAK * l->limit) return 0;
        l->streak = 0;
        l->limit++;
        l->raises++;
    } else {
        return 0;
    }
    if (old != NULL) *old = was;
    return 1;
}
