/* The dashboard's sliding window (window.h): a ring of per-second slots and a ring of latency
 * samples. A slot is reused when its second has passed out of the window. */
#include "core/clock.h"
#include "obs/window.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void tx__window_init(tx_window_t *w)
{
    memset(w, 0, sizeof *w);
    for (size_t i = 0; i < TX_WIN_SECONDS; i++)
        w->slot[i].sec = -1;
    w->ep_max = -1;
}

/* The slot of `now`'s second, emptied first when it held an older second. */
static tx_win_counts_t *slot(tx_window_t *w, tx_ms_t now)
{
    int64_t sec = (int64_t)(now / 1000);
    tx_win_slot_t *s = &w->slot[(size_t)(sec % TX_WIN_SECONDS)];
    if (s->sec != sec) {
        s->sec = sec;
        memset(&s->c, 0, sizeof s->c);
    }
    return &s->c;
}

void tx__window_request(tx_window_t *w, tx_ms_t now, int status, double total_ms,
                        double upstream_ms)
{
    if (w == NULL || now < 0) return;
    tx_win_counts_t *c = slot(w, now);
    int ok = status >= 200 && status < 300;
    c->requests++;
    w->total.requests++;
    c->ok += ok;
    w->total.ok += ok;
    if (!(total_ms >= 0)) total_ms = 0; /* NaN too */
    double added = total_ms - (upstream_ms > 0 ? upstream_ms : 0);
    tx_win_sample_t *s = &w->sample[w->next];
    s->at = now;
    s->total_ms = (float)total_ms;
    s->added_ms = (float)(added > 0 ? added : 0);
    w->next = (w->next + 1) % TX_WIN_SAMPLES;
    if (w->nsample < TX_WIN_SAMPLES) w->nsample++;
}

void tx__window_attempt(tx_window_t *w, tx_ms_t now, int endpoint, tx_class_t cls, int attempt,
                        int gateway)
{
    if (w == NULL || now < 0 || (int)cls < 0 || cls >= TX_CLASS__LAST) return;
    if (endpoint >= 0 && endpoint < TX_WIN_ENDPOINTS) {
        w->ep_class[endpoint][cls]++;
        if (endpoint > w->ep_max) w->ep_max = endpoint;
    }
    if (!gateway || attempt < 1) return;
    tx_win_counts_t *c = slot(w, now);
    if (attempt == 1) {
        c->first++;
        w->total.first++;
        if (cls == TX_CLASS_OK) {
            c->first_ok++;
            w->total.first_ok++;
        }
    } else if (cls == TX_CLASS_OK) {
        c->rescued++;
        w->total.rescued++;
    }
}

void tx__window_retry(tx_window_t *w, tx_ms_t now)
{
    if (w == NULL || now < 0) return;
    slot(w, now)->retries++;
    w->total.retries++;
}

void tx__window_retry_after(tx_window_t *w, tx_ms_t now, int endpoint, double ms)
{
    if (w == NULL || now <= 0 || endpoint < 0 || endpoint >= TX_WIN_ENDPOINTS || !(ms >= 0)) return;
    w->ep_retry_after_ms[endpoint] = ms;
    w->ep_retry_after_at[endpoint] = now;
    if (endpoint > w->ep_max) w->ep_max = endpoint;
}

void tx__window_failover(tx_window_t *w, tx_ms_t now)
{
    if (w == NULL || now < 0) return;
    slot(w, now)->failovers++;
    w->total.failovers++;
}

/* The k-th smallest (0-based) of v[0..n-1] by quickselect with Hoare's partition (v is
 * reordered): O(n) on average, so a poll of the summary does not sort the whole sample ring. */
static float select_kth(float *v, size_t n, size_t k)
{
    ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, kk = (ptrdiff_t)k;
    while (lo < hi) {
        float pivot = v[lo + (hi - lo) / 2];
        ptrdiff_t i = lo - 1, j = hi + 1;
        for (;;) {
            do
                i++;
            while (v[i] < pivot);
            do
                j--;
            while (v[j] > pivot);
            if (i >= j) break;
            float t = v[i];
            v[i] = v[j];
            v[j] = t;
        }
        /* v[lo..j] <= pivot <= v[j+1..hi], lo <= j < hi */
        if (kk <= j)
            hi = j;
        else
            lo = j + 1;
    }
    return v[kk];
}

/* Nearest rank: the smallest value with at least p% of the values at or below it. */
static double rank(float *v, size_t n, double p)
{
    size_t k = (size_t)((p * (double)n + 99.0) / 100.0); /* ceil(p/100 * n) */
    if (k < 1) k = 1;
    if (k > n) k = n;
    return (double)select_kth(v, n, k - 1);
}

double tx__window_elapsed_s(tx_ms_t now, unsigned seconds)
{
    if (seconds < 1) seconds = 1;
    if (seconds > TX_WIN_SECONDS) seconds = TX_WIN_SECONDS;
    return (double)(seconds - 1) + (double)((now < 0 ? 0 : now % 1000) + 1) / 1000.0;
}

void tx__window_counts(const tx_window_t *w, tx_ms_t now, unsigned seconds, tx_win_counts_t *out)
{
    memset(out, 0, sizeof *out);
    if (w == NULL || seconds < 1) return;
    if (seconds > TX_WIN_SECONDS) seconds = TX_WIN_SECONDS;
    int64_t cur = (int64_t)(now / 1000), from = cur - (int64_t)seconds + 1;
    for (size_t i = 0; i < TX_WIN_SECONDS; i++) {
        const tx_win_slot_t *s = &w->slot[i];
        if (s->sec < from || s->sec > cur) continue;
        out->requests += s->c.requests;
        out->ok += s->c.ok;
        out->first += s->c.first;
        out->first_ok += s->c.first_ok;
        out->rescued += s->c.rescued;
        out->retries += s->c.retries;
        out->failovers += s->c.failovers;
    }
}

void tx__window_summary(const tx_window_t *w, tx_ms_t now, unsigned seconds, tx_win_summary_t *out)
{
    memset(out, 0, sizeof *out);
    if (seconds < 1) seconds = 1;
    if (seconds > TX_WIN_SECONDS) seconds = TX_WIN_SECONDS;
    out->seconds = seconds;
    out->client_success = out->first_success = -1;
    out->p50_ms = out->p95_ms = out->added_p50_ms = out->added_p95_ms = -1;
    if (w == NULL) return;
    tx__window_counts(w, now, seconds, &out->c);
    int64_t cur = (int64_t)(now / 1000), from = cur - (int64_t)seconds + 1;
    out->rps = (double)out->c.requests / tx__window_elapsed_s(now, seconds);
    if (out->c.requests > 0) out->client_success = (double)out->c.ok / (double)out->c.requests;
    if (out->c.first > 0) out->first_success = (double)out->c.first_ok / (double)out->c.first;

    if (w->nsample == 0) return;
    float *total = malloc(2 * w->nsample * sizeof *total);
    if (total == NULL) return; /* no percentiles rather than none of the summary */
    float *added = total + w->nsample;
    size_t n = 0;
    for (size_t i = 0; i < w->nsample; i++) {
        const tx_win_sample_t *s = &w->sample[i];
        int64_t sec = (int64_t)(s->at / 1000);
        if (sec < from || sec > cur) continue;
        total[n] = s->total_ms;
        added[n] = s->added_ms;
        n++;
    }
    out->samples = n;
    if (n > 0) {
        out->p50_ms = rank(total, n, 50);
        out->p95_ms = rank(total, n, 95);
        out->added_p50_ms = rank(added, n, 50);
        out->added_p95_ms = rank(added, n, 95);
    }
    free(total);
}
