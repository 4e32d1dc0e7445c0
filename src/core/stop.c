/* Stop conditions as a small tree of plain nodes, evaluated recursively with a depth limit so a
 * cyclic or absurdly deep tree built by mistake cannot overflow the stack. */
#include <stdint.h>

#include "tenax/stop.h"

tx_stop_t tx_stop_after_attempt(unsigned n)
{
    return (tx_stop_t){.kind = TX_STOP_AFTER_ATTEMPT, .value = n};
}

tx_stop_t tx_stop_after_delay(tx_ms_t ms)
{
    return (tx_stop_t){.kind = TX_STOP_AFTER_DELAY, .value = ms};
}

tx_stop_t tx_stop_before_delay(tx_ms_t ms)
{
    return (tx_stop_t){.kind = TX_STOP_BEFORE_DELAY, .value = ms};
}

tx_stop_t tx_stop_any(const tx_stop_t *kids, size_t n)
{
    return (tx_stop_t){.kind = TX_STOP_ANY, .kids = kids, .n_kids = kids ? n : 0};
}

tx_stop_t tx_stop_all(const tx_stop_t *kids, size_t n)
{
    return (tx_stop_t){.kind = TX_STOP_ALL, .kids = kids, .n_kids = kids ? n : 0};
}

static tx_stop_kind_t check(const tx_stop_t *s, const tx_stop_input_t *in, int depth)
{
    if (depth > TX_STOP_MAX_DEPTH) return TX_STOP_NEVER;
    switch (s->kind) {
    case TX_STOP_AFTER_ATTEMPT:
        return (int64_t)in->attempts >= s->value ? TX_STOP_AFTER_ATTEMPT : TX_STOP_NEVER;
    case TX_STOP_AFTER_DELAY:
        return in->elapsed_ms >= s->value ? TX_STOP_AFTER_DELAY : TX_STOP_NEVER;
    case TX_STOP_BEFORE_DELAY: {
        tx_ms_t delay = in->next_delay_ms < 0 ? 0 : in->next_delay_ms;
        tx_ms_t elapsed = in->elapsed_ms < 0 ? 0 : in->elapsed_ms;
        /* elapsed + delay > value, written so the sum cannot overflow. */
        int fire = elapsed > s->value || delay > s->value - elapsed;
        return fire ? TX_STOP_BEFORE_DELAY : TX_STOP_NEVER;
    }
    case TX_STOP_ANY:
        for (size_t i = 0; i < s->n_kids; i++) {
            tx_stop_kind_t k = check(&s->kids[i], in, depth + 1);
            if (k != TX_STOP_NEVER) return k;
        }
        return TX_STOP_NEVER;
    case TX_STOP_ALL: {
        tx_stop_kind_t last = TX_STOP_NEVER;
        for (size_t i = 0; i < s->n_kids; i++) {
            last = check(&s->kids[i], in, depth + 1);
            if (last == TX_STOP_NEVER) return TX_STOP_NEVER;
        }
        return last;
    }
    case TX_STOP_NEVER:
    default:
        return TX_STOP_NEVER;
    }
}

tx_stop_kind_t tx_stop_check(const tx_stop_t *s, const tx_stop_input_t *in)
{
    if (s == NULL || in == NULL) return TX_STOP_NEVER;
    return check(s, in, 0);
}
