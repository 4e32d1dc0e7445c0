/* The retry decision of docs/retry-engine.md: success, a class that is not retried, a model switch,
 * the chain and the budget, an over-long Retry-After, backoff with its floor, then the deadline and
 * the extra stop conditions. Constant time, no allocation, no strings. */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "tenax/error.h"
#include "tenax/policy.h"

static const char *const reason_names[] = {
#define TX_STOP_REASON_STR(name, str) str,
    TX_STOP_REASON_MAP(TX_STOP_REASON_STR)
#undef TX_STOP_REASON_STR
};

const char *tx_stop_reason_name(tx_stop_reason_t r)
{
    if ((unsigned)r >= TX_REASON__LAST) return "unknown";
    return reason_names[r];
}

void tx_policy_init(tx_policy_t *p, const char *model)
{
    if (p == NULL) return;
    memset(p, 0, sizeof(*p));
    p->schedule.primary = model;
    p->schedule.retry_max = 3;
    p->schedule.fallback_attempts = 1;
    p->backoff.kind = TX_BACKOFF_EXPONENTIAL;
    p->backoff.jitter = TX_JITTER_FULL;
    p->backoff.base_ms = 2000;
    p->backoff.cap_ms = 30000;
    p->retry_after_max_ms = 60000;
    p->deadline_ms = 60000;
}

int tx_policy_validate(const tx_policy_t *p)
{
    if (p == NULL) return TX_EINVAL;
    const tx_schedule_t *s = &p->schedule;
    if (s->retry_max == 0 || s->fallback_attempts == 0) return TX_ERANGE;
    if (s->n_fallbacks > TX_SCHEDULE_MAX_FALLBACKS) return TX_ERANGE;
    if ((unsigned)p->backoff.kind >= TX_BACKOFF__LAST) return TX_ERANGE;
    if ((unsigned)p->backoff.jitter >= TX_JITTER__LAST) return TX_ERANGE;
    if (p->backoff.chain_len > TX_BACKOFF_CHAIN_MAX) return TX_ERANGE;
    return TX_EOK;
}

/* now - start, never negative, never overflowing. */
static tx_ms_t elapsed_since(tx_ms_t start, tx_ms_t now)
{
    tx_ms_t e;
    if (now <= start) return 0;
    if (__builtin_sub_overflow(now, start, &e)) return INT64_MAX;
    return e;
}

static void begin(tx_call_state_t *st, tx_ms_t now)
{
    memset(st, 0, sizeof(*st));
    st->stats.start_ms = now;
    st->stats.last_class = TX_CLASS_OK;
}

static void fire_before_attempt(const tx_policy_t *p, const tx_call_state_t *st)
{
    if (p->hooks.before_attempt != NULL)
        p->hooks.before_attempt(p->hooks.user, st, st->attempts,
                                tx_schedule_model_name(&p->schedule, st->model_idx));
}

int tx_policy_start(const tx_policy_t *p, tx_call_state_t *st, tx_ms_t now)
{
    return tx_policy_resume(p, st, 0, now);
}

int tx_policy_resume(const tx_policy_t *p, tx_call_state_t *st, unsigned used, tx_ms_t now)
{
    if (st == NULL) return TX_EINVAL;
    begin(st, now);
    int rc = tx_policy_validate(p);
    if (rc != TX_EOK) {
        st->done = 1;
        return rc;
    }
    const tx_schedule_t *s = &p->schedule;
    st->attempts = used;
    if ((s->budget > 0 && used >= s->budget) || used == UINT_MAX) {
        st->done = 1;
        st->stats.final = TX_REASON_BUDGET;
        return TX_ESTOPPED;
    }
    int idx = tx_schedule_model_for(s, used + 1);
    if (idx < 0) {
        st->done = 1;
        st->stats.final = TX_REASON_EXHAUSTED;
        return TX_ESTOPPED;
    }
    unsigned before = 0;
    for (int i = 0; i < idx; i++)
        before += tx_schedule_attempts_on(s, (unsigned)i);
    st->attempts = used + 1;
    st->model_idx = (unsigned)idx;
    st->on_model = st->attempts - before;
    st->stats.attempts = 1;
    fire_before_attempt(p, st);
    return TX_EOK;
}

const char *tx_policy_model(const tx_policy_t *p, const tx_call_state_t *st)
{
    if (p == NULL || st == NULL) return NULL;
    return tx_schedule_model_name(&p->schedule, st->model_idx);
}

static int stop(tx_call_state_t *st, tx_decision_t *d, tx_stop_reason_t why)
{
    st->done = 1;
    st->stats.final = why;
    d->action = TX_ACT_STOP;
    d->reason = why;
    return TX_EOK;
}

int tx_policy_next(const tx_policy_t *p, tx_call_state_t *st, const tx_outcome_t *o, tx_ms_t now,
                   tx_rng_t *rng, tx_decision_t *d)
{
    if (p == NULL || st == NULL || o == NULL || d == NULL) return TX_EINVAL;
    if ((unsigned)o->cls >= TX_CLASS__LAST) return TX_EINVAL;
    const tx_schedule_t *s = &p->schedule;
    tx_ms_t ra = o->retry_after_ms > 0 ? o->retry_after_ms : 0;

    *d = (tx_decision_t){.action = TX_ACT_STOP,
                         .reason = st->stats.final,
                         .cls = o->cls,
                         .retry_after_ms = ra,
                         .attempt = st->attempts,
                         .model_idx = st->model_idx,
                         .model = tx_schedule_model_name(s, st->model_idx)};
    if (st->done) return TX_ESTOPPED;

    tx_ms_t elapsed = elapsed_since(st->stats.start_ms, now);
    st->stats.elapsed_ms = elapsed;
    st->stats.last_class = o->cls;
    st->stats.by_class[o->cls]++;
    if (p->hooks.after_attempt != NULL) p->hooks.after_attempt(p->hooks.user, st, o);

    if (o->cls == TX_CLASS_OK) return stop(st, d, TX_REASON_SUCCESS);
    int skip = tx_class_next_model(o->cls);
    if (!skip && !tx_class_retryable(o->cls)) return stop(st, d, TX_REASON_NOT_RETRYABLE);

    unsigned idx = st->model_idx;
    if (skip || st->on_model >= tx_schedule_attempts_on(s, idx)) idx++;
    if (idx >= tx_schedule_models(s)) return stop(st, d, TX_REASON_EXHAUSTED);
    if ((s->budget > 0 && st->attempts >= s->budget) || st->attempts == UINT_MAX)
        return stop(st, d, TX_REASON_BUDGET);
    if (ra > 0 && p->retry_after_max_ms >= 0 && ra > p->retry_after_max_ms) {
        d->delay_ms = ra;
        return stop(st, d, TX_REASON_RETRY_AFTER_TOO_LONG);
    }

    /* A model skip goes at once; only a Retry-After holds it back. */
    tx_ms_t delay =
        skip ? ra : tx_backoff_delay(&p->backoff, st->attempts, st->prev_delay_ms, ra, rng);

    if (p->deadline_ms > 0 && (elapsed > p->deadline_ms || delay > p->deadline_ms - elapsed))
        return stop(st, d, TX_REASON_DEADLINE);
    if (p->stop != NULL) {
        tx_stop_input_t in = {
            .attempts = st->attempts, .elapsed_ms = elapsed, .next_delay_ms = delay};
        tx_stop_kind_t k = tx_stop_check(p->stop, &in);
        if (k == TX_STOP_AFTER_ATTEMPT) return stop(st, d, TX_REASON_EXHAUSTED);
        if (k != TX_STOP_NEVER) return stop(st, d, TX_REASON_DEADLINE);
    }

    d->model_changed = idx != st->model_idx;
    st->on_model = d->model_changed ? 1 : st->on_model + 1;
    st->model_idx = idx;
    st->attempts++;
    st->prev_delay_ms = delay;
    st->stats.attempts++;
    st->stats.total_wait_ms =
        delay > INT64_MAX - st->stats.total_wait_ms ? INT64_MAX : st->stats.total_wait_ms + delay;

    d->action = TX_ACT_RETRY;
    d->reason = TX_REASON_NONE;
    d->delay_ms = delay;
    d->attempt = st->attempts;
    d->model_idx = idx;
    d->model = tx_schedule_model_name(s, idx);
    if (p->hooks.before_sleep != NULL) p->hooks.before_sleep(p->hooks.user, st, d);
    fire_before_attempt(p, st);
    return TX_EOK;
}

tx_ms_t tx_park_delay(tx_ms_t base_ms, tx_ms_t max_ms, unsigned n, tx_ms_t retry_after_ms)
{
    if (max_ms < 0) max_ms = 0;
    /* tx_backoff_exp counts from 1: base · 2^((n+1)-1) = base · 2^n. */
    unsigned k = n == UINT_MAX ? n : n + 1;
    tx_ms_t d = tx_backoff_exp(base_ms < 0 ? 0 : base_ms, k, max_ms);
    return retry_after_ms > d ? retry_after_ms : d;
}
