/* Endpoint state machine of docs/upstream.md: HEALTHY --threshold failures--> DOWN(cooldown)
 * --cooldown over--> one probe --ok--> HEALTHY | --fail--> DOWN(cooldown re-armed). The same
 * machine runs for each (endpoint, model) pair that has a failure run; a pair without one takes
 * no room (most endpoints have none, and picking then costs one check per candidate). */
#include "upstream/endpoints.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int used;
    char model[TX_EP_MODEL_MAX];
    tx_ep_health_t health;
    int failures;
    tx_ms_t down_until;
    int probing;
} pair_t;

typedef struct {
    char *ident;
    char *url;
    int provider;
    tx_ep_health_t health;
    int failures;
    tx_ms_t down_until;
    int probing;
    unsigned failovers;
    unsigned npairs; /* pairs in use */
    pair_t pairs[TX_EP_PAIRS_MAX];
    /* room for an endpoint's own limits (in-flight count, adaptive limit) */
} ep_t;

struct tx_endpoints {
    size_t n;
    int threshold;
    tx_ms_t cooldown;
    unsigned gen;
    ep_t *ep; /* n of them */
};

static int valid_specs(const tx_ep_spec_t *s, size_t n)
{
    if (s == NULL || n == 0 || n > TX_ENDPOINTS_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i].url == NULL || s[i].url[0] == '\0' || s[i].ident == NULL || s[i].provider < 0)
            return 0;
    return 1;
}

static void eps_free(ep_t *v, size_t n)
{
    if (v == NULL) return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].ident);
        free(v[i].url);
    }
    free(v);
}

/* A new endpoint array for `specs`, carrying over the state of `old` by identity. */
static ep_t *build(const tx_ep_spec_t *specs, size_t n, const ep_t *old, size_t nold)
{
    ep_t *v = calloc(n, sizeof *v);
    if (v == NULL) return NULL;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < nold; j++) {
            if (strcmp(old[j].ident, specs[i].ident) == 0) {
                v[i] = old[j];
                v[i].probing = 0;
                for (size_t k = 0; k < TX_EP_PAIRS_MAX; k++)
                    v[i].pairs[k].probing = 0;
                break;
            }
        }
        v[i].ident = strdup(specs[i].ident);
        v[i].url = strdup(specs[i].url);
        v[i].provider = specs[i].provider;
        if (v[i].ident == NULL || v[i].url == NULL) {
            eps_free(v, i + 1);
            return NULL;
        }
    }
    return v;
}

static tx_err_t url_specs(const char *const *urls, size_t n, tx_ep_spec_t *out)
{
    if (urls == NULL || n == 0 || n > TX_ENDPOINTS_MAX) return TX_EINVAL;
    for (size_t i = 0; i < n; i++)
        out[i] = (tx_ep_spec_t){urls[i], urls[i], 0};
    return TX_EOK;
}

tx_endpoints_t *tx__endpoints_new(const char *const *urls, size_t n, int threshold,
                                  tx_ms_t cooldown_ms)
{
    tx_ep_spec_t specs[TX_ENDPOINTS_MAX];
    if (url_specs(urls, n, specs) != TX_EOK || !valid_specs(specs, n) || threshold < 1 ||
        cooldown_ms < 0)
        return NULL;
    tx_endpoints_t *e = calloc(1, sizeof *e);
    if (e == NULL) return NULL;
    e->threshold = threshold;
    e->cooldown = cooldown_ms;
    if ((e->ep = build(specs, n, NULL, 0)) == NULL) {
        free(e);
        return NULL;
    }
    e->n = n;
    return e;
}

void tx__endpoints_free(tx_endpoints_t *e)
{
    if (e == NULL) return;
    eps_free(e->ep, e->n);
    free(e);
}

tx_err_t tx__endpoints_set_policy(tx_endpoints_t *e, int threshold, tx_ms_t cooldown_ms)
{
    if (e == NULL || threshold < 1 || cooldown_ms < 0) return TX_EINVAL;
    e->threshold = threshold;
    e->cooldown = cooldown_ms;
    return TX_EOK;
}

tx_err_t tx__endpoints_replace_specs(tx_endpoints_t *e, const tx_ep_spec_t *specs, size_t n)
{
    if (e == NULL || !valid_specs(specs, n)) return TX_EINVAL;
    ep_t *v = build(specs, n, e->ep, e->n);
    if (v == NULL) return TX_ENOMEM;
    eps_free(e->ep, e->n);
    e->ep = v;
    e->n = n;
    e->gen++;
    return TX_EOK;
}

tx_err_t tx__endpoints_replace(tx_endpoints_t *e, const char *const *urls, size_t n)
{
    tx_ep_spec_t specs[TX_ENDPOINTS_MAX];
    if (e == NULL || url_specs(urls, n, specs) != TX_EOK) return TX_EINVAL;
    return tx__endpoints_replace_specs(e, specs, n);
}

/* The pair of `model` on x, or NULL (no failure run there). */
static pair_t *find_pair(const ep_t *x, const char *model)
{
    if (model == NULL || x->npairs == 0) return NULL;
    for (size_t k = 0; k < TX_EP_PAIRS_MAX; k++) {
        const pair_t *p = &x->pairs[k];
        if (p->used && p->model[0] == model[0] &&
            strncmp(p->model, model, TX_EP_MODEL_MAX - 1) == 0)
            return (pair_t *)p;
    }
    return NULL;
}

/* A slot for `model`: a free one, else the healthy one with the shortest run, else the down one
 * whose cooldown ends first. */
static pair_t *add_pair(ep_t *x, const char *model)
{
    pair_t *best = NULL;
    for (size_t k = 0; k < TX_EP_PAIRS_MAX; k++) {
        pair_t *p = &x->pairs[k];
        if (!p->used) {
            best = p;
            break;
        }
        if (best == NULL ||
            (p->health == TX_EP_HEALTHY &&
             (best->health == TX_EP_DOWN || p->failures < best->failures)) ||
            (p->health == TX_EP_DOWN && best->health == TX_EP_DOWN &&
             p->down_until < best->down_until))
            best = p;
    }
    if (!best->used) x->npairs++;
    memset(best, 0, sizeof *best);
    best->used = 1;
    size_t l = strlen(model);
    if (l >= TX_EP_MODEL_MAX) l = TX_EP_MODEL_MAX - 1;
    memcpy(best->model, model, l);
    best->model[l] = '\0';
    return best;
}

static void drop_pair(ep_t *x, pair_t *p)
{
    if (p == NULL || !p->used) return;
    memset(p, 0, sizeof *p);
    x->npairs--;
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

static int healthy_for(const ep_t *x, const pair_t *p)
{
    return x->health == TX_EP_HEALTHY && (p == NULL || p->health == TX_EP_HEALTHY);
}

/* A candidate with something down whose cooldown is over and no probe in flight, and nothing
 * else down that is not. */
static int probe_due(const ep_t *x, const pair_t *p, tx_ms_t now)
{
    int ep_ok = x->health == TX_EP_HEALTHY || (!x->probing && now >= x->down_until);
    int pair_ok = p == NULL || p->health == TX_EP_HEALTHY || (!p->probing && now >= p->down_until);
    return ep_ok && pair_ok && !healthy_for(x, p);
}

/* When a candidate is usable again: the later of its own and its pair's cooldown. */
static tx_ms_t back_at(const ep_t *x, const pair_t *p)
{
    tx_ms_t t = x->health == TX_EP_DOWN ? x->down_until : 0;
    if (p != NULL && p->health == TX_EP_DOWN && p->down_until > t) t = p->down_until;
    return t;
}

#define CAND(i) (cands != NULL ? cands[i] : (int)(i))

static int cand_ok(const tx_endpoints_t *e, int c)
{
    return c >= 0 && (size_t)c < e->n;
}

static tx_ep_pick_t take(tx_endpoints_t *e, int c, const char *model, int probe, tx_ep_pick_t p)
{
    p.index = c;
    if (probe) {
        ep_t *x = &e->ep[c];
        pair_t *q = find_pair(x, model);
        if (x->health == TX_EP_DOWN) {
            x->probing = 1;
            p.probe = 1;
        }
        if (q != NULL && q->health == TX_EP_DOWN) {
            q->probing = 1;
            p.pair_probe = 1;
        }
    }
    return p;
}

tx_ep_pick_t tx__endpoints_pick_for(tx_endpoints_t *e, const int *cands, size_t n,
                                    const char *model, int avoid, tx_ms_t now)
{
    tx_ep_pick_t p = {0, 0, 0, 0, 0};
    if (e == NULL) return p;
    p.gen = e->gen;
    if (cands == NULL) n = e->n;
    int h = -1; /* position of the first healthy candidate other than `avoid` */
    for (size_t i = 0; i < n && h < 0; i++) {
        int c = CAND(i);
        if (cand_ok(e, c) && c != avoid && healthy_for(&e->ep[c], find_pair(&e->ep[c], model)))
            h = (int)i;
    }
    size_t limit = h >= 0 ? (size_t)h : n;
    for (size_t i = 0; i < limit; i++) {
        int c = CAND(i);
        if (cand_ok(e, c) && c != avoid && probe_due(&e->ep[c], find_pair(&e->ep[c], model), now))
            return take(e, c, model, 1, p);
    }
    if (h >= 0) return take(e, CAND(h), model, 0, p);
    if (cand_ok(e, avoid)) {
        int in = cands == NULL;
        for (size_t i = 0; !in && i < n; i++)
            in = cands[i] == avoid;
        const pair_t *q = in ? find_pair(&e->ep[avoid], model) : NULL;
        if (in && healthy_for(&e->ep[avoid], q)) return take(e, avoid, model, 0, p);
        if (in && probe_due(&e->ep[avoid], q, now)) return take(e, avoid, model, 1, p);
    }
    /* nothing healthy: the candidate back soonest */
    p.all_down = 1;
    int best = -1;
    tx_ms_t best_t = 0;
    for (size_t i = 0; i < n; i++) {
        int c = CAND(i);
        if (!cand_ok(e, c)) continue;
        tx_ms_t t = back_at(&e->ep[c], find_pair(&e->ep[c], model));
        if (best < 0 || t < best_t) {
            best = c;
            best_t = t;
        }
    }
    p.index = best >= 0 ? best : 0;
    return p;
}

tx_ep_pick_t tx__endpoints_pick(tx_endpoints_t *e, tx_ms_t now)
{
    return tx__endpoints_pick_for(e, NULL, 0, NULL, -1, now);
}

int tx__endpoints_available(const tx_endpoints_t *e, const int *cands, size_t n, const char *model,
                            int avoid, tx_ms_t now)
{
    if (e == NULL) return 0;
    if (cands == NULL) n = e->n;
    for (size_t i = 0; i < n; i++) {
        int c = CAND(i);
        if (!cand_ok(e, c) || c == avoid) continue;
        const pair_t *q = find_pair(&e->ep[c], model);
        if (healthy_for(&e->ep[c], q) || probe_due(&e->ep[c], q, now)) return 1;
    }
    return 0;
}

int tx__endpoints_report_for(tx_endpoints_t *e, tx_ep_pick_t pick, const char *model,
                             tx_ep_outcome_t outcome, tx_ms_t now, tx_ep_event_t *ev)
{
    tx_ep_event_t dummy;
    if (ev == NULL) ev = &dummy;
    ev->kind = TX_EP_EV_NONE;
    ev->from = ev->to = -1;
    if (e == NULL || pick.gen != e->gen || pick.index < 0 || (size_t)pick.index >= e->n) return 0;
    ep_t *x = &e->ep[pick.index];
    pair_t *q = find_pair(x, model);
    int before = active(e);
    if (pick.probe) x->probing = 0;
    if (pick.pair_probe && q != NULL) q->probing = 0;
    if (outcome == TX_EP_CANCELLED) return 0;
    if (outcome == TX_EP_FAIL_MODEL && model == NULL) outcome = TX_EP_FAIL;
    if (x->health == TX_EP_DOWN) {
        if (outcome == TX_EP_FAIL) {
            x->down_until = now + e->cooldown; /* re-armed: wait a whole cooldown again */
            return 0;
        }
        if (outcome != TX_EP_OK && !pick.probe) return 0;
        /* it answered: the endpoint is back (a model's failure counts for the pair below) */
        x->health = TX_EP_HEALTHY;
        x->failures = 0;
        int after = active(e);
        if (after != before || after == pick.index) {
            ev->kind = TX_EP_EV_RECOVERED;
            ev->from = pick.index;
            ev->to = after;
        }
    } else if (outcome == TX_EP_OK) {
        x->failures = 0;
    } else if (outcome == TX_EP_FAIL) {
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
    if (model == NULL) return ev->kind != TX_EP_EV_NONE;
    int set = ev->kind != TX_EP_EV_NONE;
    if (outcome == TX_EP_OK || (outcome == TX_EP_NEUTRAL && pick.pair_probe)) {
        if (q != NULL && q->health == TX_EP_DOWN && !set) {
            ev->kind = TX_EP_EV_MODEL_RECOVERED;
            ev->from = ev->to = pick.index;
            set = 1;
        }
        drop_pair(x, q);
    } else if (outcome == TX_EP_FAIL_MODEL) {
        if (q == NULL) q = add_pair(x, model);
        if (q->health == TX_EP_DOWN) {
            q->down_until = now + e->cooldown;
        } else if (++q->failures >= e->threshold) {
            q->health = TX_EP_DOWN;
            q->failures = 0;
            q->down_until = now + e->cooldown;
            if (!set) {
                ev->kind = TX_EP_EV_MODEL_DOWN;
                ev->from = ev->to = pick.index;
                set = 1;
            }
        }
    }
    return set;
}

int tx__endpoints_report(tx_endpoints_t *e, tx_ep_pick_t pick, tx_ep_outcome_t outcome, tx_ms_t now,
                         tx_ep_event_t *ev)
{
    return tx__endpoints_report_for(e, pick, NULL, outcome, now, ev);
}

size_t tx__endpoints_count(const tx_endpoints_t *e)
{
    return e ? e->n : 0;
}

const char *tx__endpoints_url(const tx_endpoints_t *e, int index)
{
    if (e == NULL || index < 0 || (size_t)index >= e->n) return NULL;
    return e->ep[index].url;
}

void tx__endpoints_snapshot(const tx_endpoints_t *e, tx_ms_t now, tx_endpoints_snap_t *out)
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
        tx_ep_state_t *s = &out->ep[i];
        s->url = x->url;
        s->provider = x->provider;
        s->health = x->health;
        s->failures = x->failures;
        s->down_until = x->down_until;
        s->probing = x->probing;
        s->failovers = x->failovers;
        for (size_t k = 0; k < TX_EP_PAIRS_MAX; k++) {
            const pair_t *p = &x->pairs[k];
            if (p->used)
                s->pairs[s->npairs++] = (tx_ep_pair_state_t){p->model, p->health, p->failures,
                                                             p->down_until, p->probing};
        }
    }
}
