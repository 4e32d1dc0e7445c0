/* The job engine's view of a config snapshot: the numbers and names it needs, copied out of
 * tx_config_t. (config.h and tenax/backoff.h both define TX_JITTER_*, so the engine, which
 * needs the policy, never includes config.h; this file is the bridge.) */
#ifndef TX_JOBS_PARAMS_H
#define TX_JOBS_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#define TX_JOBS_PARAMS_MAX_FALLBACKS 8

struct tx_config;

/* Strings are borrowed from the snapshot: valid while a reference to it is held. */
typedef struct {
    const char *model;
    const char *fallbacks[TX_JOBS_PARAMS_MAX_FALLBACKS];
    unsigned n_fallbacks;
    int64_t retry_max, fallback_attempts, max_attempts;
    int64_t retry_delay_ms, retry_max_delay_ms;
    int jitter; /* same order as tx_jitter_t: none, full, equal, decorrelated */
    int64_t timeout_ms, batch_size, park_base_ms, park_max_ms, lease_ms, probe_interval_ms;
    int64_t max_concurrency;
} tx_jobs_params_t;

/* Fills `p` from `cfg` (zeros for NULL). */
void tx__jobs_params_from(const struct tx_config *cfg, tx_jobs_params_t *p);
/* tx__config_ref / tx__config_unref for code that cannot include config.h. */
struct tx_config *tx__jobs_cfg_ref(struct tx_config *cfg);
void tx__jobs_cfg_unref(struct tx_config *cfg);

#endif
