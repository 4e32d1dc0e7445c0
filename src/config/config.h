/* Layered configuration (docs/config.md): defaults in code < environment < live config file ("kv").
 * A load produces an immutable, reference-counted snapshot; a reload builds a new one and swaps
 * the pointer while calls in flight keep the snapshot they started with. */
#ifndef TX_CONFIG_CONFIG_H
#define TX_CONFIG_CONFIG_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "tenax/backoff.h"
#include "tenax/error.h"

/* Every key, written once: X(id, name, alias, type, field, default, min, max).
 * type: INT (int64_t field), STR (char *), JITTER, LIST (tx_config_list_t),
 * ENDPOINTS (tx_config_endpoints_t), PROVIDERS (tx_config_providers_t), SECRET (char *, environment
 * only), SECRET_LIST (tx_config_list_t, environment only, comma-separated). For INT the default is
 * the number; for the others it is text parsed like an env value. */
#define TX_CONFIG_KEYS(X)                                                                          \
    X(AI_BASE_URLS, "AI_BASE_URLS", "aiBaseUrls", ENDPOINTS, endpoints,                            \
      "[\"https://api.openai.com/v1\"]", 1, 16)                                                    \
    X(AI_PROVIDERS, "AI_PROVIDERS", "aiProviders", PROVIDERS, providers, "[]", 0, 32)              \
    X(AI_MODEL, "AI_MODEL", NULL, STR, ai_model, "gpt-4o-mini", 1, 256)                            \
    X(AI_FALLBACK_MODELS, "AI_FALLBACK_MODELS", NULL, LIST, ai_fallback_models, "[]", 0, 8)        \
    X(AI_MAX_CONCURRENCY, "AI_MAX_CONCURRENCY", NULL, INT, ai_max_concurrency, 4, 1, 4096)         \
    X(AI_QUEUE_MAX_SIZE, "AI_QUEUE_MAX_SIZE", NULL, INT, ai_queue_max_size, 64, 0, 1000000)        \
    X(AI_TIMEOUT_MS, "AI_TIMEOUT_MS", NULL, INT, ai_timeout_ms, 18000, 1000, 600000)               \
    X(AI_DEADLINE_MS, "AI_DEADLINE_MS", NULL, INT, ai_deadline_ms, 60000, 1000, 3600000)           \
    X(AI_RETRY_MAX, "AI_RETRY_MAX", NULL, INT, ai_retry_max, 3, 1, 20)                             \
    X(AI_FALLBACK_ATTEMPTS, "AI_FALLBACK_ATTEMPTS", NULL, INT, ai_fallback_attempts, 1, 1, 20)     \
    X(AI_RETRY_DELAY_MS, "AI_RETRY_DELAY_MS", NULL, INT, ai_retry_delay_ms, 2000, 0, 600000)       \
    X(AI_RETRY_MAX_DELAY_MS, "AI_RETRY_MAX_DELAY_MS", NULL, INT, ai_retry_max_delay_ms, 30000, 0,  \
      3600000)                                                                                     \
    X(AI_RETRY_JITTER, "AI_RETRY_JITTER", NULL, JITTER, ai_retry_jitter, "full", 0, 0)             \
    X(AI_RETRY_AFTER_MAX_MS, "AI_RETRY_AFTER_MAX_MS", NULL, INT, ai_retry_after_max_ms, 60000, 0,  \
      3600000)                                                                                     \
    X(AI_ENDPOINT_FAILOVER_THRESHOLD, "AI_ENDPOINT_FAILOVER_THRESHOLD", NULL, INT,                 \
      ai_endpoint_failover_threshold, 3, 1, 100)                                                   \
    X(AI_ENDPOINT_COOLDOWN_MS, "AI_ENDPOINT_COOLDOWN_MS", NULL, INT, ai_endpoint_cooldown_ms,      \
      30000, 0, 3600000)                                                                           \
    X(AI_RETRY_BUDGET_PERCENT, "AI_RETRY_BUDGET_PERCENT", NULL, INT, ai_retry_budget_percent, 20,  \
      0, 1000)                                                                                     \
    X(AI_RETRY_BUDGET_MIN_PER_S, "AI_RETRY_BUDGET_MIN_PER_S", NULL, INT,                           \
      ai_retry_budget_min_per_s, 10, 0, 100000)                                                    \
    X(AI_ADAPTIVE_CONCURRENCY, "AI_ADAPTIVE_CONCURRENCY", NULL, STR, ai_adaptive_concurrency,      \
      "on", 0, 16)                                                                                 \
    X(AI_CA_FILE, "AI_CA_FILE", NULL, STR, ai_ca_file, "", 0, 4096)                                \
    X(AI_PROXY, "AI_PROXY", NULL, STR, ai_proxy, "", 0, 2048)                                      \
    X(JOB_MAX_ATTEMPTS, "JOB_MAX_ATTEMPTS", "TAGGING_MAX_ATTEMPTS", INT, job_max_attempts, 5, 1,   \
      100)                                                                                         \
    X(JOB_BATCH_SIZE, "JOB_BATCH_SIZE", "TAGGING_BATCH_SIZE", INT, job_batch_size, 10, 1, 10000)   \
    X(JOB_PARK_BASE_MS, "JOB_PARK_BASE_MS", NULL, INT, job_park_base_ms, 30000, 0, 86400000)       \
    X(JOB_PARK_MAX_MS, "JOB_PARK_MAX_MS", NULL, INT, job_park_max_ms, 480000, 0, 86400000)         \
    X(JOB_LEASE_MS, "JOB_LEASE_MS", NULL, INT, job_lease_ms, 120000, 1000, 86400000)               \
    X(JOB_PROBE_INTERVAL_MS, "JOB_PROBE_INTERVAL_MS", NULL, INT, job_probe_interval_ms, 60000,     \
      1000, 86400000)                                                                              \
    X(NOTIFY_WEBHOOK_URL, "NOTIFY_WEBHOOK_URL", NULL, STR, notify_webhook_url, "", 0, 2048)        \
    X(NOTIFY_QUOTA_INTERVAL_S, "NOTIFY_QUOTA_INTERVAL_S", NULL, INT, notify_quota_interval_s, 900, \
      0, 604800)                                                                                   \
    X(NOTIFY_RATE_LIMIT_INTERVAL_S, "NOTIFY_RATE_LIMIT_INTERVAL_S", NULL, INT,                     \
      notify_rate_limit_interval_s, 300, 0, 604800)                                                \
    X(CLIENT_RATE_LIMIT_RPM, "CLIENT_RATE_LIMIT_RPM", NULL, INT, client_rate_limit_rpm, 0, 0,      \
      1000000)                                                                                     \
    X(CACHE_TTL_S, "CACHE_TTL_S", NULL, INT, cache_ttl_s, 0, 0, 31536000)                          \
    X(CACHE_MAX_ENTRIES, "CACHE_MAX_ENTRIES", NULL, INT, cache_max_entries, 10000, 0, 10000000)    \
    X(TENAX_LISTEN, "TENAX_LISTEN", NULL, STR, listen, "127.0.0.1:8010", 3, 262)                   \
    X(TENAX_STORE, "TENAX_STORE", NULL, STR, store, "sqlite:tenax.db", 8, 4096)                    \
    X(TENAX_MAX_BODY_BYTES, "TENAX_MAX_BODY_BYTES", NULL, INT, max_body_bytes, 4194304, 1024,      \
      1073741824)                                                                                  \
    X(TENAX_MAX_CONNECTIONS, "TENAX_MAX_CONNECTIONS", NULL, INT, max_connections, 1024, 1,         \
      1000000)                                                                                     \
    X(TENAX_HEADER_TIMEOUT_MS, "TENAX_HEADER_TIMEOUT_MS", NULL, INT, header_timeout_ms, 10000,     \
      100, 600000)                                                                                 \
    X(TENAX_IDLE_TIMEOUT_MS, "TENAX_IDLE_TIMEOUT_MS", NULL, INT, idle_timeout_ms, 60000, 100,      \
      3600000)                                                                                     \
    X(AI_API_KEY, "AI_API_KEY", "OPENAI_API_KEY", SECRET, api_key, "", 0, 0)                       \
    X(TENAX_ADMIN_TOKEN, "TENAX_ADMIN_TOKEN", NULL, SECRET, admin_token, "", 0, 0)                 \
    X(TENAX_CLIENT_KEYS, "TENAX_CLIENT_KEYS", NULL, SECRET_LIST, client_keys, "", 0, 4096)

typedef enum {
#define TX_CONFIG_KEY_ENUM(id, name, alias, type, field, def, lo, hi) TX_CFG_##id,
    TX_CONFIG_KEYS(TX_CONFIG_KEY_ENUM)
#undef TX_CONFIG_KEY_ENUM
        TX_CFG__LAST
} tx_config_key_t;

/* Where an effective value came from. */
typedef enum { TX_CONFIG_SRC_DEFAULT, TX_CONFIG_SRC_ENV, TX_CONFIG_SRC_KV } tx_config_source_t;

/* The jitter family is the core's (same names, same order): one enum, so a file may include
 * both this header and tenax/policy.h. */
typedef tx_jitter_t tx_config_jitter_t;

typedef struct {
    char **v;
    size_t n;
} tx_config_list_t;

/* One upstream endpoint. `api_key` was resolved from the environment variable `api_key_env`
 * when given, else from AI_API_KEY/OPENAI_API_KEY; NULL means none (pass the client's own
 * Authorization through). `api_key_env` may be NULL. */
typedef struct {
    char *url;
    char *name;
    char *api_key_env;
    char *api_key;
} tx_config_endpoint_t;

typedef struct {
    tx_config_endpoint_t *v;
    size_t n;
} tx_config_endpoints_t;

/* Providers and model routes (docs/providers.md). A provider's endpoints are its `base_urls`
 * (each with the provider's key); `models` maps the names clients use to the provider's own
 * names; `star` serves any other name unchanged. Without AI_PROVIDERS the snapshot holds one
 * implicit provider `default` built from AI_BASE_URLS (each endpoint with its own key) serving
 * every model. */
#define TX_PROVIDERS_MAX 32
#define TX_ROUTE_EPS_MAX 64 /* endpoints across all providers */
#define TX_ENDPOINTS_PER_PROVIDER 16

typedef enum { TX_AUTH_BEARER, TX_AUTH_API_KEY } tx_config_auth_t;

typedef struct {
    char *name;
    char *value;
} tx_config_pair_t;

typedef struct {
    char *name;
    char *preset;                    /* NULL: none */
    tx_config_endpoints_t base_urls; /* api_key of each resolved */
    char *api_key_env;               /* NULL: no key of its own */
    tx_config_auth_t auth;
    tx_config_pair_t *headers;
    size_t nheaders;
    tx_config_pair_t *query;
    size_t nquery;
    char *query_string;       /* "a=b&c=d", percent-encoded, or NULL */
    tx_config_pair_t *models; /* name clients use -> the provider's own name */
    size_t nmodels;
    int star;        /* "*" is served: any other name, unchanged */
    int implicit;    /* the `default` provider made from AI_BASE_URLS */
    size_t ep_first; /* its first endpoint in tx_config_t.route_eps */
} tx_config_provider_t;

typedef struct {
    tx_config_provider_t *v;
    size_t n;
} tx_config_providers_t;

/* One endpoint of the flat list every provider's base_urls make, in AI_PROVIDERS order. Built
 * once per snapshot so an attempt needs no allocation: `auth_name`/`auth_value` is the header
 * to send ("Authorization" / "Bearer KEY", or "api-key" / "KEY"; NULL without a key);
 * `ident` identifies it across reloads (provider name and URL). */
typedef struct {
    const char *url;
    const char *name;
    const char *auth_name;
    char *auth_value;
    char *ident;
    int provider;
} tx_config_route_ep_t;

/* A model name resolved: the provider and the provider's own name for it (borrowed from the
 * snapshot, or the asked name itself for a "*" route). */
typedef struct {
    int provider;
    const char *model;
} tx_config_route_t;

/* A snapshot. Read-only once loaded: share it with tx__config_ref, never write to it. Secrets
 * (api_key, admin_token, client_keys) are NULL/empty when unset. */
typedef struct tx_config {
    atomic_int refs;
    char *path; /* the config file this came from, or NULL (no kv layer) */
    tx_config_source_t source[TX_CFG__LAST];
    tx_config_endpoints_t endpoints;
    tx_config_providers_t providers; /* as resolved: the implicit `default` when none given */
    tx_config_route_ep_t route_eps[TX_ROUTE_EPS_MAX];
    size_t n_route_eps;
    char *ai_model;
    tx_config_list_t ai_fallback_models;
    int64_t ai_max_concurrency, ai_queue_max_size, ai_timeout_ms, ai_deadline_ms;
    int64_t ai_retry_max, ai_fallback_attempts, ai_retry_delay_ms, ai_retry_max_delay_ms;
    tx_config_jitter_t ai_retry_jitter;
    int64_t ai_retry_after_max_ms, ai_endpoint_failover_threshold, ai_endpoint_cooldown_ms;
    int64_t ai_retry_budget_percent, ai_retry_budget_min_per_s;
    char *ai_adaptive_concurrency; /* "on" or "off" (tx__config_adaptive) */
    char *ai_ca_file; /* PEM CA bundle for upstream TLS; "": the system store (restart to change) */
    char *ai_proxy; /* http:// proxy for upstream requests; "": HTTP(S)_PROXY (restart to change) */
    int64_t job_max_attempts, job_batch_size, job_park_base_ms, job_park_max_ms, job_lease_ms;
    int64_t job_probe_interval_ms;
    char *notify_webhook_url;
    int64_t notify_quota_interval_s, notify_rate_limit_interval_s;
    int64_t client_rate_limit_rpm, cache_ttl_s, cache_max_entries;
    char *listen;
    char *store;
    int64_t max_body_bytes, max_connections, header_timeout_ms, idle_timeout_ms;
    char *api_key;
    char *admin_token;
    tx_config_list_t client_keys;
} tx_config_t;

/* The environment the loader reads, passed explicitly so tests never touch the process's.
 * `lookup` returns the value of `name` or NULL when unset; the string must stay valid for the
 * duration of the load call (the loader copies what it keeps). */
typedef struct {
    const char *(*lookup)(void *ud, const char *name);
    void *ud;
} tx_config_env_t;

/* An environment over a NULL-terminated "NAME=value" array (like `environ`); ud is the array. */
const char *tx__config_envp_lookup(void *envp, const char *name);

/* Builds a snapshot from defaults, then `env` (NULL: the process environment), then the file at
 * `path` (NULL: the file named by TENAX_CONFIG in `env`; none when that is unset or empty).
 * On success *out holds a snapshot with one reference (the caller's) and TX_EOK is returned.
 * On failure *out is untouched, `err` (may be NULL) says which key, value and bound, and the
 * code is TX_EIO (file unreadable), TX_EPARSE (not JSON / not an object), TX_ERANGE (out of
 * bounds), TX_EINVAL (wrong type, unknown key, secret in the file, bad env value) or TX_ENOMEM. */
tx_err_t tx__config_load(const tx_config_env_t *env, const char *path, tx_config_t **out,
                         tx_error_t *err);

/* Like tx__config_load with the kv layer given as text (`len` bytes; NULL/0: no kv layer). The
 * snapshot's `path` is NULL. Used by the file loader, the fuzz target and tests. */
tx_err_t tx__config_load_text(const tx_config_env_t *env, const char *text, size_t len,
                              tx_config_t **out, tx_error_t *err);

/* Adds a reference; returns cfg (NULL stays NULL). Thread-safe. */
tx_config_t *tx__config_ref(tx_config_t *cfg);

/* Drops a reference; the last one frees the snapshot. NULL is a no-op. Thread-safe. */
void tx__config_unref(tx_config_t *cfg);

/* A key's canonical name ("AI_MODEL"), or NULL when out of range. Static. */
const char *tx__config_key_name(tx_config_key_t key);

/* "default", "env" or "kv". Static, never NULL. */
const char *tx__config_source_name(tx_config_source_t src);

/* 1 when the key holds a secret (shown only as "set"/"unset"). */
int tx__config_key_is_secret(tx_config_key_t key);

/* One key's effective value as JSON (secrets as "set"/"unset", endpoints with their api key
 * as "set"/"unset"). New reference owned by the caller; NULL on bad arguments or no memory. */
json_t *tx__config_value_json(const tx_config_t *cfg, tx_config_key_t key);

/* Every key in table order: {"AI_MODEL": {"value": …, "source": "env"}, …}. Never contains a
 * secret's value. New reference owned by the caller; NULL on bad arguments or no memory. */
json_t *tx__config_to_json(const tx_config_t *cfg);

/* Called by tx__config_diff for each key whose value differs: `value` is the new value as
 * compact JSON text (secrets "set"/"unset"), `source` the new source name. Strings are valid
 * only during the call. */
typedef void (*tx_config_diff_cb)(const char *key, const char *value, const char *source, void *ud);

/* Calls cb for every key whose effective value differs between old and new (a secret counts
 * when its value changed, but is shown as "set"/"unset"). Returns the number of changed keys,
 * or -1 on bad arguments or no memory (then cb may have been called for some keys). */
int tx__config_diff(const tx_config_t *old, const tx_config_t *new_cfg, tx_config_diff_cb cb,
                    void *ud);

/* The routes of `model` in AI_PROVIDERS order, at most `cap` of them written to `out`. Returns
 * how many providers serve it (0: none: model_not_found). A scan of the providers' model lists,
 * no allocation. */
size_t tx__config_resolve(const tx_config_t *cfg, const char *model, tx_config_route_t *out,
                          size_t cap);

/* The names clients may use (every provider's model names, once, "*" left out) as a JSON
 * array of strings. New reference; NULL on no memory. */
json_t *tx__config_model_names(const tx_config_t *cfg);

/* 1 when AI_ADAPTIVE_CONCURRENCY is on (the default), 0 when off or cfg is NULL. */
int tx__config_adaptive(const tx_config_t *cfg);

#endif
