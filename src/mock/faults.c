/* The mock's fault kinds, the --faults and --down-models parsers, and the seeded draw. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock/mock.h"

static const char *const kind_names[] = {
#define TX_MOCK_KIND_STR(name, str) str,
    TX_MOCK_KIND_MAP(TX_MOCK_KIND_STR)
#undef TX_MOCK_KIND_STR
};

const char *tx__mock_kind_name(tx_mock_kind_t k)
{
    return (unsigned)k < TX_MOCK__LAST ? kind_names[k] : "unknown";
}

int tx__mock_kind_from_name(const char *name)
{
    if (name == NULL) return -1;
    for (int i = 0; i < TX_MOCK__LAST; i++)
        if (i != TX_MOCK_DOWN && strcmp(kind_names[i], name) == 0) return i;
    return -1;
}

void tx__mock_config_defaults(tx_mock_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->retry_after_s = 1;
    cfg->slow_ms = 100;
    cfg->seed = 1;
}

static int set_err(tx_error_t *err, const char *fmt, const char *a, const char *b)
{
    if (err) {
        err->code = TX_EINVAL;
        snprintf(err->detail, sizeof err->detail, fmt, a, b);
        err->msg = err->detail;
    }
    return -1;
}

#define KINDS_HELP                                                                                 \
    "500 502 503 504 429 1302 quota 401 404 timeout reset slow err200 empty badjson midstream "    \
    "streamfail"

int tx__mock_parse_faults(const char *spec, tx_mock_config_t *cfg, tx_error_t *err)
{
    if (spec == NULL || cfg == NULL) return set_err(err, "no fault list given%s%s", "", "");
    cfg->nfaults = 0;
    double sum = 0;
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[64];
        if (len == 0 || len >= sizeof item)
            return set_err(
                err, "bad fault '%.60s' in --faults (expected KIND:PROB, e.g. 500:0.1)%s", p, "");
        memcpy(item, p, len);
        item[len] = '\0';
        char *colon = strchr(item, ':');
        if (colon == NULL)
            return set_err(err, "fault '%s' has no probability (write %s:0.1 or %s:10%%)", item,
                           item);
        *colon = '\0';
        int k = tx__mock_kind_from_name(item);
        if (k < 0 || k == TX_MOCK_OK)
            return set_err(err, "unknown fault kind '%s'; kinds: %s", item, KINDS_HELP);
        char *e;
        double prob = strtod(colon + 1, &e);
        if (*e == '%') {
            prob /= 100.0;
            e++;
        }
        if (e == colon + 1 || *e != '\0' || !(prob >= 0.0 && prob <= 1.0))
            return set_err(err,
                           "probability of '%s' must be between 0 and 1 (or 0%%..100%%), got '%s'",
                           item, colon + 1);
        if (cfg->nfaults == TX_MOCK_MAX_FAULTS) return set_err(err, "too many faults%s%s", "", "");
        cfg->faults[cfg->nfaults].kind = (tx_mock_kind_t)k;
        cfg->faults[cfg->nfaults].prob = prob;
        cfg->nfaults++;
        sum += prob;
        p += len;
        if (*p == ',') p++;
    }
    if (sum > 1.0 + 1e-9) {
        cfg->nfaults = 0;
        return set_err(err, "fault probabilities add up to more than 1 in '%.120s'%s", spec, "");
    }
    return 0;
}

int tx__mock_parse_down_models(const char *list, tx_mock_config_t *cfg, tx_error_t *err)
{
    cfg->ndown = 0;
    const char *p = list ? list : "";
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len >= sizeof cfg->down_models[0])
            return set_err(err, "model name too long in --down-models: '%.60s'%s", p, "");
        if (cfg->ndown == TX_MOCK_MAX_DOWN)
            return set_err(err, "at most 16 models in --down-models%s%s", "", "");
        if (len > 0) {
            memcpy(cfg->down_models[cfg->ndown], p, len);
            cfg->down_models[cfg->ndown++][len] = '\0';
        }
        p += len;
        if (*p == ',') p++;
    }
    return 0;
}

void tx__mock_describe_faults(const tx_mock_config_t *cfg, char *out, size_t cap)
{
    if (cap == 0) return;
    out[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < cfg->nfaults && used < cap; i++) {
        int n = snprintf(out + used, cap - used, "%s%s:%g", i ? "," : "",
                         tx__mock_kind_name(cfg->faults[i].kind), cfg->faults[i].prob);
        if (n < 0) break;
        used += (size_t)n;
    }
    if (cfg->nfaults == 0) snprintf(out, cap, "none");
}

/* Copies `value` into a fixed slot: -1 with `err` when too long or empty. */
static int put(char *slot, size_t cap, const char *value, const char *flag, tx_error_t *err)
{
    size_t len = strlen(value);
    if (len == 0 || len >= cap)
        return set_err(err, "--%s expects 1..255 bytes, got '%.60s'", flag, value);
    memcpy(slot, value, len + 1);
    return 0;
}

static int opt_expect_key(tx_mock_config_t *c, const char *v, tx_error_t *err)
{
    return put(c->expect_key, sizeof c->expect_key, v, "expect-key", err);
}

static int opt_expect_header(tx_mock_config_t *c, const char *v, tx_error_t *err)
{
    if (c->nexpect_headers == TX_MOCK_MAX_EXPECT)
        return set_err(err, "at most 4 --expect-header options%s%s", "", "");
    const char *colon = strchr(v, ':');
    if (colon == NULL || colon == v)
        return set_err(err, "--expect-header expects 'Name: value', got '%.60s'%s", v, "");
    return put(c->expect_headers[c->nexpect_headers++], sizeof c->expect_headers[0], v,
               "expect-header", err);
}

static int opt_expect_query(tx_mock_config_t *c, const char *v, tx_error_t *err)
{
    if (c->nexpect_query == TX_MOCK_MAX_EXPECT)
        return set_err(err, "at most 4 --expect-query options%s%s", "", "");
    return put(c->expect_query[c->nexpect_query++], sizeof c->expect_query[0], v, "expect-query",
               err);
}

static int opt_models(tx_mock_config_t *c, const char *v, tx_error_t *err)
{
    c->nmodels = 0;
    const char *p = v;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len >= sizeof c->models[0])
            return set_err(err, "model name too long in --models: '%.60s'%s", p, "");
        if (c->nmodels == TX_MOCK_MAX_MODELS)
            return set_err(err, "at most 16 models in --models%s%s", "", "");
        if (len > 0) {
            memcpy(c->models[c->nmodels], p, len);
            c->models[c->nmodels++][len] = '\0';
        }
        if (end == NULL) break;
        p = end + 1;
    }
    return 0;
}

static const struct {
    const char *name;
    int (*set)(tx_mock_config_t *c, const char *value, tx_error_t *err);
} options[] = {
    {"expect-key", opt_expect_key},
    {"expect-header", opt_expect_header},
    {"expect-query", opt_expect_query},
    {"models", opt_models},
};

int tx__mock_set_option(tx_mock_config_t *cfg, const char *name, const char *value, tx_error_t *err)
{
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (strcmp(options[i].name, name) == 0)
            return options[i].set(cfg, value != NULL ? value : "", err) != 0 ? -1 : 0;
    return 1;
}
