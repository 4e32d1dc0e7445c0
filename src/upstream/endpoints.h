/* Endpoint health and failover (SPEC §3.3), pure logic: the caller passes the clock, asks which
 * endpoint to use, reports each attempt's outcome, and logs the events this returns. */
#ifndef TX_UPSTREAM_ENDPOINTS_H
#define TX_UPSTREAM_ENDPOINTS_H

#include <stddef.h>

#include "tenax/error.h"
#include "tenax/types.h"

#define TX_ENDPOINTS_MAX 16

typedef enum { TX_EP_HEALTHY, TX_EP_DOWN } tx_ep_health_t;

typedef enum {
    TX_EP_OK,        /* the attempt succeeded */
    TX_EP_FAIL,      /* a failure that counts toward failover (network, timeout, server, gateway) */
    TX_EP_NEUTRAL,   /* the endpoint answered with an error that does not count (429, 400 …):
                        the failure run is left as it is; a probe answered this way is a success */
    TX_EP_CANCELLED, /* the attempt ended without an answer from the endpoint (client gone) */
} tx_ep_outcome_t;

/* What pick chose. `gen` ties the choice to the endpoint list it came from. */
typedef struct {
    int index;
    int probe; /* 1: the single half-open probe of a down endpoint */
    unsigned gen;
} tx_ep_pick_t;

typedef enum { TX_EP_EV_NONE, TX_EP_EV_FAILOVER, TX_EP_EV_RECOVERED } tx_ep_event_kind_t;

/* An event for the caller to log: FAILOVER → `[ai][failover] from=<from> to=<to>`; RECOVERED:
 * endpoint `from` is healthy again and `to` is now active. */
typedef struct {
    tx_ep_event_kind_t kind;
    int from, to;
} tx_ep_event_t;

typedef struct {
    const char *url; /* valid until the next tx_endpoints_replace */
    tx_ep_health_t health;
    int failures;        /* consecutive failures counted toward failover */
    tx_ms_t down_until;  /* meaningful when DOWN */
    int probing;         /* a probe is in flight */
    unsigned failovers;  /* times it was marked down (failoverCounts.endpoint_<i>) */
} tx_ep_state_t;

typedef struct {
    size_t n;
    int active; /* what pick would return now for an ordinary request */
    int threshold;
    tx_ms_t cooldown_ms;
    tx_ep_state_t ep[TX_ENDPOINTS_MAX];
} tx_endpoints_snap_t;

typedef struct tx_endpoints tx_endpoints_t;

/* A set of 1..TX_ENDPOINTS_MAX endpoints in order of preference (urls are copied), all healthy.
 * threshold >= 1, cooldown_ms >= 0. NULL on bad arguments or out of memory. */
tx_endpoints_t *tx_endpoints_new(const char *const *urls, size_t n, int threshold,
                                 tx_ms_t cooldown_ms);
void tx_endpoints_free(tx_endpoints_t *e); /* NULL: no-op */

/* Changes threshold and cooldown; they apply to later failures. TX_EINVAL when out of range. */
tx_err_t tx_endpoints_set_policy(tx_endpoints_t *e, int threshold, tx_ms_t cooldown_ms);

/* Replaces the list (config reload). A URL that stays keeps its health, failure run, cooldown
 * and failover count wherever it moves; new URLs start healthy. Outstanding picks become stale:
 * their reports are ignored, and a probe in flight is forgotten (another may go). On failure
 * (TX_EINVAL, TX_ENOMEM) the old list stays. */
tx_err_t tx_endpoints_replace(tx_endpoints_t *e, const char *const *urls, size_t n);

/* The endpoint for the next attempt at time `now`. The most preferred healthy one, unless a down
 * endpoint preferred over it has finished its cooldown and has no probe in flight: then that
 * one, as the probe. With every endpoint down and no probe due, the one whose cooldown ends
 * first. Never refuses. */
tx_ep_pick_t tx_endpoints_pick(tx_endpoints_t *e, tx_ms_t now);

/* Reports the outcome of an attempt made on `pick`. Returns 1 and fills `ev` (may be NULL) when
 * the caller should log an event. Stale picks (an older list) are ignored. */
int tx_endpoints_report(tx_endpoints_t *e, tx_ep_pick_t pick, tx_ep_outcome_t outcome,
                        tx_ms_t now, tx_ep_event_t *ev);

/* The number of endpoints (0 for NULL), and the URL at `index` (owned by the set, valid until
 * the next replace). */
size_t tx_endpoints_count(const tx_endpoints_t *e);
const char *tx_endpoints_url(const tx_endpoints_t *e, int index); /* NULL when out of range */

/* A copy of the state for diag into `out` (all zero for a NULL set). */
void tx_endpoints_snapshot(const tx_endpoints_t *e, tx_ms_t now, tx_endpoints_snap_t *out);

#endif
