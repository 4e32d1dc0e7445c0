/* Copies what the job engine needs out of a config snapshot (see params.h for why this is a
 * separate file). */
#include "jobs/params.h"

#include <string.h>

#include "config/config.h"

void tx__jobs_params_from(const struct tx_config *cfg, tx_jobs_params_t *p)
{
    if (p == NULL) return;
    memset(p, 0, sizeof *p);
    if (cfg == NULL) return;
    p->model = cfg->ai_model;
    for (size_t i = 0; i < cfg->ai_fallback_models.n && i < TX_JOBS_PARAMS_MAX_FALLBACKS; i++)
        p->fallbacks[p->n_fallbacks++] = cfg->ai_fallback_models.v[i];
    p->retry_max = cfg->ai_retry_max;
    p->fallback_attempts = cfg->ai_fallback_attempts;
    p->max_attempts = cfg->job_max_attempts;
    p->retry_delay_ms = cfg->ai_retry_delay_ms;
    p->retry_max_delay_ms = cfg->ai_retry_max_delay_ms;
    p->jitter = (int)cfg->ai_retry_jitter;
    p->timeout_ms = cfg->ai_timeout_ms;
    p->batch_size = cfg->job_batch_size;
    p->park_base_ms = cfg->job_park_base_ms;
    p->park_max_ms = cfg->job_park_max_ms;
    p->lease_ms = cfg->job_lease_ms;
    p->probe_interval_ms = cfg->job_probe_interval_ms;
    p->max_concurrency = cfg->ai_max_concurrency;
}

struct tx_config *tx__jobs_cfg_ref(struct tx_config *cfg)
{
    return tx__config_ref(cfg);
}

void tx__jobs_cfg_unref(struct tx_config *cfg)
{
    tx__config_unref(cfg);
}
