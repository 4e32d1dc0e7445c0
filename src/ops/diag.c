/* GET /admin/diag?q=ai-queue (docs/operations.md): effective limits and their sources, endpoints
 * and their health, admission numbers, job pause state and counts, config errors. Field names are
 * the ones docs/operations.md lists, exactly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/store_health.h"
#include "obs/notify.h"
#include "ops/ops_internal.h"

static json_t *endpoint_parts(const tx_endpoints_snap_t *s, json_t **backups, json_t **counts)
{
    json_t *active = s->n > 0 && s->active >= 0 && (size_t)s->active < s->n
                         ? json_string(s->ep[s->active].url)
                         : json_null();
    *backups = json_array();
    *counts = json_object();
    for (size_t i = 0; i < s->n; i++) {
        if ((int)i != s->active) json_array_append_new(*backups, json_string(s->ep[i].url));
        char k[32];
        snprintf(k, sizeof k, "endpoint_%zu", i);
        json_object_set_new(*counts, k, json_integer(s->ep[i].failovers));
    }
    return active;
}

json_t *tx__ops_diag_json(tx_app_t *app)
{
    if (app == NULL || app->config == NULL) return NULL;
    const tx_config_t *c = app->config;
    tx_ops_state_t *ops = app->ops;
    json_t *d = json_object();
    if (d == NULL) return NULL;
    json_object_set_new(d, "maxConcurrency", json_integer(c->ai_max_concurrency));
    json_object_set_new(d, "maxQueue", json_integer(c->ai_queue_max_size));
    json_object_set_new(d, "requestTimeoutMs", json_integer(c->ai_timeout_ms));
    json_object_set_new(d, "retryMax", json_integer(c->ai_retry_max));
    json_object_set_new(d, "endpointFailoverThreshold",
                        json_integer(c->ai_endpoint_failover_threshold));

    /* sources keyed like the fields they explain (the operators' runbook reads
     * sources.maxConcurrency); a key without a diag field of its own under its config name */
    static const struct {
        tx_config_key_t key;
        const char *field;
    } field_of[] = {
        {TX_CFG_AI_MAX_CONCURRENCY, "maxConcurrency"},
        {TX_CFG_AI_QUEUE_MAX_SIZE, "maxQueue"},
        {TX_CFG_AI_TIMEOUT_MS, "requestTimeoutMs"},
        {TX_CFG_AI_RETRY_MAX, "retryMax"},
        {TX_CFG_AI_ENDPOINT_FAILOVER_THRESHOLD, "endpointFailoverThreshold"},
        {TX_CFG_AI_BASE_URLS, "baseUrls"},
        {TX_CFG_AI_PROVIDERS, "providers"},
    };
    json_t *sources = json_object();
    for (int i = 0; i < TX_CFG__LAST; i++) {
        const char *name = tx__config_key_name((tx_config_key_t)i);
        for (size_t k = 0; k < sizeof field_of / sizeof field_of[0]; k++)
            if (field_of[k].key == (tx_config_key_t)i) name = field_of[k].field;
        json_object_set_new(sources, name, json_string(tx__config_source_name(c->source[i])));
    }
    json_object_set_new(d, "sources", sources);

    tx_endpoints_snap_t *snap = malloc(sizeof *snap); /* large: not on the stack */
    if (snap == NULL) {
        json_decref(d);
        return NULL;
    }
    tx__endpoints_snapshot(app->endpoints, tx__app_now(app), snap);
    json_t *backups, *counts;
    json_t *active = endpoint_parts(snap, &backups, &counts);
    json_object_set_new(d, "activeBaseUrl", active);
    json_object_set_new(d, "backupBaseUrls", backups);
    json_object_set_new(d, "failoverCounts", counts);

    json_t *eps = json_object();
    json_t *health = json_object(), *list = json_array();
    tx_ms_t now = tx__app_now(app);
    json_t *provs = json_array();
    json_t *pjs[TX_PROVIDERS_MAX] = {0};
    for (size_t i = 0; i < c->providers.n && i < TX_PROVIDERS_MAX; i++) {
        const tx_config_provider_t *p = &c->providers.v[i];
        tx_budget_t *b = &app->budgets[i];
        pjs[i] = json_pack("{s:s,s:s?,s:s,s:[],s:[],s:{s:I,s:I}}", "name", p->name, "preset",
                           p->preset, "auth", p->auth == TX_AUTH_API_KEY ? "api-key" : "bearer",
                           "endpoints", "downModels", "retryBudget", "available",
                           (json_int_t)tx__budget_available(b, now), "exhaustedSinceBoot",
                           (json_int_t)b->exhausted);
        json_array_append_new(provs, pjs[i]);
    }
    for (size_t i = 0; i < snap->n; i++) {
        const tx_ep_state_t *e = &snap->ep[i];
        const char *h = e->health == TX_EP_HEALTHY ? "healthy" : "down";
        char k[32];
        snprintf(k, sizeof k, "endpoint_%zu", i);
        json_object_set_new(health, k, json_string(h));
        const char *name = i < c->n_route_eps ? c->route_eps[i].name : NULL;
        const char *prov = e->provider >= 0 && (size_t)e->provider < c->providers.n
                               ? c->providers.v[e->provider].name
                               : NULL;
        tx_ms_t left = e->health == TX_EP_DOWN && e->down_until > now ? e->down_until - now : 0;
        json_t *down = json_array();
        for (size_t q = 0; q < e->npairs; q++) {
            const tx_ep_pair_state_t *ps = &e->pairs[q];
            tx_ms_t pl =
                ps->health == TX_EP_DOWN && ps->down_until > now ? ps->down_until - now : 0;
            if (ps->health != TX_EP_DOWN) continue;
            json_array_append_new(down, json_pack("{s:s,s:I,s:I,s:b}", "model", ps->model,
                                                  "cooldownLeftMs", (json_int_t)pl, "endpoint",
                                                  (json_int_t)i, "probing", ps->probing));
        }
        const tx_limiter_t *lim = i < TX_ENDPOINTS_MAX ? &app->limits[i] : NULL;
        json_int_t climit = lim != NULL ? (json_int_t)lim->limit : 0;
        json_int_t cin = lim != NULL ? (json_int_t)lim->in_flight : 0;
        json_t *ej = json_pack("{s:I,s:s,s:s?,s:s?,s:s,s:b,s:i,s:I,s:b,s:I,s:O,s:I,s:I}", "index",
                               (json_int_t)i, "url", e->url ? e->url : "", "name", name, "provider",
                               prov, "health", h, "active", (int)i == snap->active, "failures",
                               e->failures, "cooldownLeftMs", (json_int_t)left, "probing",
                               e->probing, "failovers", (json_int_t)e->failovers, "downModels",
                               down, "concurrencyLimit", climit, "inFlight", cin);
        json_array_append_new(list, ej);
        if (prov != NULL && (size_t)e->provider < TX_PROVIDERS_MAX && pjs[e->provider] != NULL) {
            json_t *pj = pjs[e->provider];
            json_array_append_new(json_object_get(pj, "endpoints"),
                                  json_pack("{s:I,s:s,s:s,s:I,s:I}", "index", (json_int_t)i, "url",
                                            e->url ? e->url : "", "health", h, "concurrencyLimit",
                                            climit, "inFlight", cin));
            size_t q;
            json_t *dm;
            json_array_foreach(down, q, dm)
                json_array_append(json_object_get(pj, "downModels"), dm);
        }
        json_decref(down);
    }
    free(snap);
    json_object_set_new(eps, "health", health);
    json_object_set_new(eps, "list", list);
    json_object_set_new(d, "endpoints", eps);
    json_object_set_new(d, "providers", provs);

    tx_adm_stats_t st;
    tx__admission_stats(app->admission, &st);
    json_object_set_new(d, "inFlight", json_integer(st.in_flight));
    json_object_set_new(d, "queued", json_integer((json_int_t)st.queued_gateway));
    json_object_set_new(d, "queuedJobs", json_integer((json_int_t)st.queued_jobs));
    json_object_set_new(d, "droppedSinceBoot", json_integer((json_int_t)st.dropped));
    json_object_set_new(d, "avgWaitMs", json_real(st.avg_wait_ms));

    json_t *jobs = ops != NULL && ops->has_jobs && ops->jobs.status != NULL
                       ? ops->jobs.status(ops->jobs.ud)
                       : NULL;
    if (!json_is_object(jobs)) {
        json_decref(jobs);
        jobs = json_pack("{s:b,s:n,s:{},s:b}", "paused", 0, "pauseReason", "counts", "running", 0);
    }
    json_object_set_new(d, "jobs", jobs);
    json_object_set_new(d, "store", tx__store_health_json(app)); /* ops/store_health.h */

    const char *cerr = ops != NULL && ops->watch != NULL ? tx__config_watch_error(ops->watch) : "";
    json_object_set_new(d, "configError", cerr[0] != '\0' ? json_string(cerr) : json_null());
    tx_ms_t at =
        ops != NULL ? (ops->watch != NULL ? tx__config_watch_loaded_at(ops->watch) : ops->loaded_at)
                    : 0;
    char ts[40];
    json_object_set_new(d, "configLoadedAt",
                        at > 0 && tx__notify_rfc3339(at, ts, sizeof ts) == 0 ? json_string(ts)
                                                                             : json_null());
    json_object_set_new(d, "configFileWatched", json_boolean(ops != NULL && ops->watch != NULL));

    /* Beyond the documented diag core: the client protections and notifications at a glance. */
    if (ops != NULL && ops->started) {
        tx_cache_stats_t cs;
        tx__cache_stats(tx__filters_cache(ops->filters), &cs);
        json_object_set_new(d, "cache",
                            json_pack("{s:b,s:I,s:I,s:I,s:I}", "enabled",
                                      tx__cache_enabled(tx__filters_cache(ops->filters)), "entries",
                                      (json_int_t)cs.entries, "hits", (json_int_t)cs.hits, "misses",
                                      (json_int_t)cs.misses, "bytes", (json_int_t)cs.bytes));
        json_object_set_new(d, "clientRateLimitRpm",
                            json_integer(tx__ratelimit_rpm(tx__filters_ratelimit(ops->filters))));
        tx_notify_stats_t ns;
        tx__notify_stats(ops->notify, &ns);
        json_object_set_new(d, "notifications",
                            json_pack("{s:I,s:I,s:I}", "sent", (json_int_t)ns.sent, "failed",
                                      (json_int_t)ns.failed, "suppressed",
                                      (json_int_t)ns.suppressed));
    }
    return d;
}
