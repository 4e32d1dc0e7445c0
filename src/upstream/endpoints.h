/* Endpoint health and failover (docs/upstream.md), pure logic: the caller passes the clock, asks
 * which endpoint to use, reports each attempt's outcome, and logs the events this returns.
 *
 * Health is kept per endpoint (network and timeout failures: the endpoint as a whole is down)
 * and per (endpoint, model) pair (other failures counted toward failover: only that model is
 * down there). Endpoints belong to providers (an index per endpoint): a provider's own state
 * (e.g. a retry budget) and an endpoint's own limits (e.g. an adaptive concurrency limit) hang
 * on the structs below without changing how endpoints are picked. */
#ifndef TX_UPSTREAM_ENDPOINTS_H
#define TX_UPSTREAM_ENDPOINTS_H

#include <stddef.h>

#include "tenax/error.h"
#include "tenax/types.h"

#define TX_ENDPOINTS_MAX 64 /* across all providers */
#define TX_EP_PAIRS_MAX 8   /* (endpoint, model) pairs with a failure run remembered per endpoint */
#define TX_EP_MODEL_MAX 128 /* longest model name a pair remembers (longer ones are cut) */

typedef enum { TX_EP_HEALTHY, TX_EP_DOWN } tx_ep_health_t;

typedef enum {
    TX_EP_OK,        /* the attempt succeeded */
    TX_EP_FAIL,      /* a failure of the endpoint as a whole (network, timeout) */
    TX_EP_NEUTRAL,   /* the endpoint answered with an error that does not count (429, 400 …):
                        the failure run is left as it is; a probe answered this way is a success */
    TX_EP_CANCELLED, /* the attempt ended without an answer from the endpoint (client gone) */
    TX_EP_FAIL_MODEL /* a failure counted toward failover for the (endpoint, model) pair only
                        (server, gateway, invalid answers): without a model, like TX_EP_FAIL */
} tx_ep_outcome_t;

/* What pick chose. `gen` ties the choice to the endpoint list it came from. */
typedef struct {
    int index;
    int probe;      /* 1: the single half-open probe of a down endpoint */
    int pair_probe; /* 1: the single probe of a down (endpoint, model) pair */
    int all_down;   /* 1: no candidate was healthy for the model (the earliest cooldown won) */
    unsigned gen;
} tx_ep_pick_t;

typedef enum {
    TX_EP_EV_NONE,
    TX_EP_EV_FAILOVER,       /* endpoint `from` went down, `to` is active */
    TX_EP_EV_RECOVERED,      /* endpoint `from` is healthy again, `to` is active */
    TX_EP_EV_MODEL_DOWN,     /* the pair (from, model) went down */
    TX_EP_EV_MODEL_RECOVERED /* the pair (from, model) is healthy again */
} tx_ep_event_kind_t;

/* An event for the caller to log: FAILOVER → `[ai][failover] from=<from> to=<to>`. */
typedef struct {
    tx_ep_event_kind_t kind;
    int from, to;
} tx_ep_event_t;

/* One endpoint of a new list: what identifies it across reloads (e.g. provider and URL), its
 * URL and its provider's index (0.. in the caller's provider list). */
typedef struct {
    const char *ident;
    const char *url;
    int provider;
} tx_ep_spec_t;

/* A pair as the snapshot shows it. */
typedef struct {
    const char *model; /* valid until the set changes */
    tx_ep_health_t health;
    int failures;
    tx_ms_t down_until;
    int probing;
} tx_ep_pair_state_t;

typedef struct {
    const char *url; /* valid until the next tx__endpoints_replace */
    int provider;
    tx_ep_health_t health;
    int failures;       /* consecutive failures counted toward failover */
    tx_ms_t down_until; /* meaningful when DOWN */
    int probing;        /* a probe is in flight */
    unsigned failovers; /* times it was marked down (failoverCounts.endpoint_<i>) */
    size_t npairs;
    tx_ep_pair_state_t pairs[TX_EP_PAIRS_MAX];
} tx_ep_state_t;

typedef struct {
    size_t n;
    int active; /* what pick would return now for an ordinary request */
    int threshold;
    tx_ms_t cooldown_ms;
    tx_ep_state_t ep[TX_ENDPOINTS_MAX];
} tx_endpoints_snap_t;

typedef struct tx_endpoints tx_endpoints_t;

/* A set of 1..TX_ENDPOINTS_MAX endpoints in order of preference (urls are copied; each its own
 * identity and provider 0), all healthy. threshold >= 1, cooldown_ms >= 0. NULL on bad
 * arguments or out of memory. */
tx_endpoints_t *tx__endpoints_new(const char *const *urls, size_t n, int threshold,
                                  tx_ms_t cooldown_ms);
void tx__endpoints_free(tx_endpoints_t *e); /* NULL: no-op */

/* Changes threshold and cooldown; they apply to later failures. TX_EINVAL when out of range. */
tx_err_t tx__endpoints_set_policy(tx_endpoints_t *e, int threshold, tx_ms_t cooldown_ms);

/* Replaces the list (config reload), URLs as identities, provider 0. See replace_specs. */
tx_err_t tx__endpoints_replace(tx_endpoints_t *e, const char *const *urls, size_t n);

/* Replaces the list. An endpoint whose identity stays keeps its health, failure run, cooldown,
 * failover count and pairs wherever it moves; new ones start healthy. Outstanding picks become
 * stale: their reports are ignored, and a probe in flight is forgotten (another may go). On
 * failure (TX_EINVAL, TX_ENOMEM) the old list stays. */
tx_err_t tx__endpoints_replace_specs(tx_endpoints_t *e, const tx_ep_spec_t *specs, size_t n);

/* The endpoint for the next attempt at time `now` among all: the most preferred healthy one,
 * unless a down endpoint preferred over it has finished its cooldown and has no probe in
 * flight: then that one, as the probe. With every endpoint down and no probe due, the one whose
 * cooldown ends first. Never refuses. */
tx_ep_pick_t tx__endpoints_pick(tx_endpoints_t *e, tx_ms_t now);

/* The same among the candidate endpoints `cands` (indexes, in order of preference; NULL: all)
 * for `model` (NULL: any): an endpoint counts as healthy for it when the endpoint and the pair
 * are both healthy, and a probe may be due for either. `avoid` (-1: none) is taken only when no
 * other candidate is healthy (a retry moves off the endpoint that just failed). Never refuses:
 * with no healthy candidate, all_down is set and the candidate whose cooldown ends first is
 * chosen. No allocation. */
tx_ep_pick_t tx__endpoints_pick_for(tx_endpoints_t *e, const int *cands, size_t n,
                                    const char *model, int avoid, tx_ms_t now);

/* 1 when some candidate is healthy for `model` or due for a probe (what pick_for would take
 * without setting all_down). `avoid` as in pick_for, but here excluded outright: "is there
 * another endpoint to move to?". Read only. */
int tx__endpoints_available(const tx_endpoints_t *e, const int *cands, size_t n, const char *model,
                            int avoid, tx_ms_t now);

/* Reports the outcome of an attempt made on `pick`. Returns 1 and fills `ev` (may be NULL) when
 * the caller should log an event. Stale picks (an older list) are ignored. */
int tx__endpoints_report(tx_endpoints_t *e, tx_ep_pick_t pick, tx_ep_outcome_t outcome, tx_ms_t now,
                         tx_ep_event_t *ev);

/* The same for an attempt on `model` (NULL: like tx__endpoints_report). */
int tx__endpoints_report_for(tx_endpoints_t *e, tx_ep_pick_t pick, const char *model,
                             tx_ep_outcome_t outcome, tx_ms_t now, tx_ep_event_t *ev);

/* The number of endpoints (0 for NULL), and the URL at `index` (owned by the set, valid until
 * the next replace). */
size_t tx__endpoints_count(const tx_endpoints_t *e);
const char *tx__endpoints_url(const tx_endpoints_t *e, int index); /* NULL when out of range */

/* A copy of the state for diag into `out` (all zero for a NULL set). */
void tx__endpoints_snapshot(const tx_endpoints_t *e, tx_ms_t now, tx_endpoints_snap_t *out);

#endif
