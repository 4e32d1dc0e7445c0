/* GET /admin/diag?q=ai-queue (SPEC §4.7): effective limits and their sources, endpoints and
 * their health, admission numbers, job pause state and counts, config errors. Field names are
 * the SPEC's, exactly. */
#include <stdio.h>
#include <string.h>

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

json_t *tx_ops_diag_json(tx_app_t *app)
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

    json_t *sources = json_object();
    for (int i = 0; i < TX_CFG__LAST; i++)
        json_object_set_new(sources, tx_config_key_name((tx_config_key_t)i),
                            json_string(tx_config_source_name(c->source[i])));
    json_object_set_new(sources, "baseUrls",
                        json_string(tx_config_source_name(c->source[TX_CFG_AI_BASE_URLS])));
    json_object_set_new(d, "sources", sources);

    tx_endpoints_snap_t snap;
    tx_endpoints_snapshot(app->endpoints, tx_app_now(app), &snap);
    json_t *backups, *counts;
    json_t *active = endpoint_parts(&snap, &backups, &counts);
    json_object_set_new(d, "activeBaseUrl", active);
    json_object_set_new(d, "backupBaseUrls", backups);
    json_object_set_new(d, "failoverCounts", counts);

    json_t *eps = json_object();
    json_t *b2, *c2;
    json_object_set_new(eps, "activeBaseUrl", endpoint_parts(&snap, &b2, &c2));
    json_object_set_new(eps, "backupBaseUrls", b2);
    json_object_set_new(eps, "failoverCounts", c2);
    json_t *health = json_object(), *list = json_array();
    tx_ms_t now = tx_app_now(app);
    for (size_t i = 0; i < snap.n; i++) {
        const tx_ep_state_t *e = &snap.ep[i];
        const char *h = e->health == TX_EP_HEALTHY ? "healthy" : "down";
        char k[32];
        snprintf(k, sizeof k, "endpoint_%zu", i);
        json_object_set_new(health, k, json_string(h));
        const char *name = i < c->endpoints.n ? c->endpoints.v[i].name : NULL;
        tx_ms_t left = e->health == TX_EP_DOWN && e->down_until > now ? e->down_until - now : 0;
        json_array_append_new(
            list, json_pack("{s:I,s:s,s:s?,s:s,s:b,s:i,s:I,s:b,s:I}", "index", (json_int_t)i,
                            "url", e->url ? e->url : "", "name", name, "health", h, "active",
                            (int)i == snap.active, "failures", e->failures, "cooldownLeftMs",
                            (json_int_t)left, "probing", e->probing, "failovers",
                            (json_int_t)e->failovers));
    }
    json_object_set_new(eps, "health", health);
    json_object_set_new(eps, "list", list);
    json_object_set_new(d, "endpoints", eps);

    tx_adm_stats_t st;
    tx_admission_stats(app->admission, &st);
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
        jobs = json_pack("{s:b,s:n,s:{},s:b}", "paused", 0, "pauseReason", "counts", "running",
                         0);
    }
    json_object_set_new(d, "jobs", jobs);

    const char *cerr = ops != NULL && ops->watch != NULL ? tx_config_watch_error(ops->watch) : "";
    json_object_set_new(d, "configError", cerr[0] != '\0' ? json_string(cerr) : json_null());
    tx_ms_t at = ops != NULL ? (ops->watch != NULL ? tx_config_watch_loaded_at(ops->watch)
                                                   : ops->loaded_at)
                             : 0;
    char ts[40];
    json_object_set_new(d, "configLoadedAt",
                        at > 0 && tx_notify_rfc3339(at, ts, sizeof ts) == 0 ? json_string(ts)
                                                                            : json_null());
    json_object_set_new(d, "configFileWatched", json_boolean(ops != NULL && ops->watch != NULL));

    /* Beyond §4.7: the client protections and notifications at a glance. */
    if (ops != NULL && ops->started) {
        tx_cache_stats_t cs;
        tx_cache_stats(tx_filters_cache(ops->filters), &cs);
        json_object_set_new(d, "cache",
                            json_pack("{s:b,s:I,s:I,s:I,s:I}", "enabled",
                                      tx_cache_enabled(tx_filters_cache(ops->filters)), "entries",
                                      (json_int_t)cs.entries, "hits", (json_int_t)cs.hits,
                                      "misses", (json_int_t)cs.misses, "bytes",
                                      (json_int_t)cs.bytes));
        json_object_set_new(d, "clientRateLimitRpm",
                            json_integer(tx_ratelimit_rpm(tx_filters_ratelimit(ops->filters))));
        tx_notify_stats_t ns;
        tx_notify_stats(ops->notify, &ns);
        json_object_set_new(d, "notifications",
                            json_pack("{s:I,s:I,s:I}", "sent", (json_int_t)ns.sent, "failed",
                                      (json_int_t)ns.failed, "suppressed",
                                      (json_int_t)ns.suppressed));
    }
    return d;
}
