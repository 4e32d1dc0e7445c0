/* Endpoint state machine of SPEC §3.3: HEALTHY --threshold failures--> DOWN(cooldown)
 * --cooldown over--> one probe --ok--> HEALTHY | --fail--> DOWN(cooldown re-armed). */
#include "upstream/endpoints.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *url;
    tx_ep_health_t health;
    int failures;
    tx_ms_t down_until;
    int probing;
    unsigned failovers;
} ep_t;

struct tx_endpoints {
    size_t n;
    int threshold;
    tx_ms_t cooldown;
    unsigned gen;
    ep_t ep[TX_ENDPOINTS_MAX];
};

static int valid_list(const char *const *urls, size_t n)
{
    if (urls == NULL || n == 0 || n > TX_ENDPOINTS_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (urls[i] == NULL || urls[i][0] == '\0') return 0;
    return 1;
}

tx_endpoints_t *tx_endpoints_new(const char *const *urls, size_t n, int threshold,
                                 tx_ms_t cooldown_ms)
{
    if (!valid_list(urls, n) || threshold < 1 || cooldown_ms < 0) return NULL;
    tx_endpoints_t *e = calloc(1, sizeof *e);
    if (e == NULL) return NULL;
    e->threshold = threshold;
    e->cooldown = cooldown_ms;
    for (size_t i = 0; i < n; i++) {
        e->ep[i].url = strdup(urls[i]);
        if (e->ep[i].url == NULL) {
            e->n = i;
            tx_endpoints_free(e);
            return NULL;
        }
    }
    e->n = n;
    return e;
}

void tx_endpoints_free(tx_endpoints_t *e)
{
    if (e == NULL) return;
    for (size_t i = 0; i < e->n; i++) free(e->ep[i].url);
    free(e);
}

tx_err_t tx_endpoints_set_policy(tx_endpoints_t *e, int threshold, tx_ms_t cooldown_ms)
{
    if (e == NULL || threshold < 1 || cooldown_ms < 0) return TX_EINVAL;
    e->threshold = threshold;
    e->cooldown = cooldown_ms;
    return TX_EOK;
}

tx_err_t tx_endpoints_replace(tx_endpoints_t *e, const char *const *urls, size_t n)
{
    if (e == NULL || !valid_list(urls, n)) return TX_EINVAL;
    ep_t next[TX_ENDPOINTS_MAX];
    memset(next, 0, sizeof next);
    for (size_t i = 0; i < n; i++) {
        next[i].url = strdup(urls[i]);
        if (next[i].url == NULL) {
            for (size_t k = 0; k < i; k++) free(next[k].url);
            return TX_ENOMEM;
        }
        for (size_t j = 0; j < e->n; j++) {
            if (strcmp(e->ep[j].url, urls[i]) == 0) {
                next[i].health = e->ep[j].health;
                next[i].failures = e->ep[j].failures;
                next[i].down_until = e->ep[j].down_until;
                next[i].failovers = e->ep[j].failovers;
                break;
            }
        }
    }
    for (size_t j = 0; j < e->n; j++) free(e->ep[j].url);
    memcpy(e->ep, next, sizeof next);
    e->n = n;
    e->gen++;
    return TX_EOK;
}

static int first_healthy(const tx_endpoints_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->ep[i].health == TX_EP_HEALTHY) return (int)i;
    return -1;
}

static int earliest_down(const tx_endpoints_t *e)
{
    int best = 0;
    for (size_t i = 1; i < e->n; i++)
        if (e->ep[i].down_until < e->ep[best].down_until) best = (int)i;
    return best;
}

/* The endpoint an ordinary (non-probe) request goes to. */
static int active(const tx_endpoints_t *e)
{
    int h = first_healthy(e);
    return h >= 0 ? h : earliest_down(e);
}

tx_ep_pick_t tx_endpoints_pick(tx_endpoints_t *e, tx_ms_t now)
{
    tx_ep_pick_t p = {0, 0, 0};
    if (e == NULL) return p;
    p.gen = e->gen;
    int h = first_healthy(e);
    int limit = h >= 0 ? h : (int)e->n;
    for (int i = 0; i < limit; i++) {
        ep_t *x = &e->ep[i];
        if (x->health == TX_EP_DOWN && !x->probing && now >= x->down_until) {
            x->probing = 1;
            p.index = i;
            p.probe = 1;
            return p;
        }
    }
    p.index = h >= 0 ? h : earliest_down(e);
    return p;
}

int tx_endpoints_report(tx_endpoints_t *e, tx_ep_pick_t pick, tx_ep_outcome_t outcome,
                        tx_ms_t now, tx_ep_event_t *ev)
{
    tx_ep_event_t dummy;
    if (ev == NULL) ev = &dummy;
    ev->kind = TX_EP_EV_NONE;
    ev->from = ev->to = -1;
    if (e == NULL || pick.gen != e->gen || pick.index < 0 || (size_t)pick.index >= e->n)
        return 0;
    ep_t *x = &e->ep[pick.index];
    int before = active(e);
    if (pick.probe) x->probing = 0;
    if (outcome == TX_EP_CANCELLED) return 0;
    if (x->health == TX_EP_DOWN) {
        if (outcome == TX_EP_FAIL) {
            x->down_until = now + e->cooldown; /* re-armed: wait a whole cooldown again */
            return 0;
        }
        if (outcome == TX_EP_NEUTRAL && !pick.probe) return 0;
        x->health = TX_EP_HEALTHY;
        x->failures = 0;
        int after = active(e);
        if (after != before || after == pick.index) {
            ev->kind = TX_EP_EV_RECOVERED;
            ev->from = pick.index;
            ev->to = after;
            return 1;
        }
        return 0;
    }
    if (outcome == TX_EP_OK) {
        x->failures = 0;
        return 0;
    }
    if (outcome != TX_EP_FAIL) return 0;
    if (++x->failures < e->threshold) return 0;
    x->health = TX_EP_DOWN;
    x->failures = 0;
    x->down_until = now + e->cooldown;
    x->failovers++;
    ev->kind = TX_EP_EV_FAILOVER;
    ev->from = pick.index;
    ev->to = active(e);
    return 1;
}

size_t tx_endpoints_count(const tx_endpoints_t *e) { return e ? e->n : 0; }

const char *tx_endpoints_url(const tx_endpoints_t *e, int index)
{
    if (e == NULL || index < 0 || (size_t)index >= e->n) return NULL;
    return e->ep[index].url;
}

void tx_endpoints_snapshot(const tx_endpoints_t *e, tx_ms_t now, tx_endpoints_snap_t *out)
{
    (void)now;
    if (out == NULL) return;
    memset(out, 0, sizeof *out);
    if (e == NULL) return;
    out->n = e->n;
    out->active = active(e);
    out->threshold = e->threshold;
    out->cooldown_ms = e->cooldown;
    for (size_t i = 0; i < e->n; i++) {
        const ep_t *x = &e->ep[i];
        out->ep[i] = (tx_ep_state_t){x->url, x->health, x->failures, x->down_until, x->probing,
                                     x->failovers};
    }
}
