/* tenax mock (docs/mock.md): a fault-injecting OpenAI-compatible upstream on the tenax HTTP server.
 * Faults are drawn per request from a seeded generator (repeatable), or scripted per test case
 * with the request field "tenax_mock":{"id":…,"script":[…]}; /mock/stats counts what happened. */
#ifndef TX_MOCK_MOCK_H
#define TX_MOCK_MOCK_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "server/router.h"
#include "tenax/error.h"

#define TX_MOCK_KIND_MAP(X)                                                                        \
    X(OK, "ok")                                                                                    \
    X(E500, "500")                                                                                 \
    X(E502, "502")                                                                                 \
    X(E503, "503")                                                                                 \
    X(E504, "504")                                                                                 \
    X(E429, "429")                                                                                 \
    X(E1302, "1302")                                                                               \
    X(QUOTA, "quota")                                                                              \
    X(E401, "401")                                                                                 \
    X(E404, "404")                                                                                 \
    X(TIMEOUT, "timeout")                                                                          \
    X(RESET, "reset")                                                                              \
    X(SLOW, "slow")                                                                                \
    X(ERR200, "err200")                                                                            \
    X(EMPTY, "empty")                                                                              \
    X(BADJSON, "badjson")                                                                          \
    X(MIDSTREAM, "midstream")                                                                      \
    X(STREAMFAIL, "streamfail")                                                                    \
    X(DOWN, "down")

typedef enum {
#define TX_MOCK_KIND_ENUM(name, str) TX_MOCK_##name,
    TX_MOCK_KIND_MAP(TX_MOCK_KIND_ENUM)
#undef TX_MOCK_KIND_ENUM
        TX_MOCK__LAST
} tx_mock_kind_t;

/* "500", "quota", ...; "unknown" out of range. Static. */
const char *tx__mock_kind_name(tx_mock_kind_t k);
/* The kind named `name` ("ok" included; "down" is not nameable: it comes from --down-models),
 * or -1. */
int tx__mock_kind_from_name(const char *name);

#define TX_MOCK_MAX_FAULTS 32
#define TX_MOCK_MAX_DOWN 16
#define TX_MOCK_MAX_EXPECT 4
#define TX_MOCK_MAX_MODELS 16

typedef struct {
    struct {
        tx_mock_kind_t kind;
        double prob;
    } faults[TX_MOCK_MAX_FAULTS];
    size_t nfaults;
    unsigned retry_after_s; /* Retry-After of 429 and 1302; default 1 */
    unsigned latency_ms;    /* added before every completion answer */
    unsigned slow_ms;       /* `slow`: delay between dribbled pieces; default 100 */
    uint64_t seed;
    char down_models[TX_MOCK_MAX_DOWN][128];
    size_t ndown;
    unsigned max_inflight; /* > 0: a completion beyond this many in flight gets Z.AI's 1302 */
    /* acting as one provider among several */
    char expect_key[256]; /* non-empty: requests must carry it (Bearer or api-key), else 401 */
    char expect_headers[TX_MOCK_MAX_EXPECT][256]; /* "Name: value" each request must carry */
    size_t nexpect_headers;
    char expect_query[TX_MOCK_MAX_EXPECT][256]; /* "k=v" each request's query must hold */
    size_t nexpect_query;
    char models[TX_MOCK_MAX_MODELS][128]; /* non-empty: the only models served (404 else) */
    size_t nmodels;
} tx_mock_config_t;

void tx__mock_config_defaults(tx_mock_config_t *cfg);

/* Parses "500:0.1,429:0.05,timeout:2%" into cfg->faults (replacing them). Probabilities are in
 * [0,1] (or percentages) and add up to at most 1. Returns 0, or -1 with `err` saying what is
 * wrong and which kinds exist. */
int tx__mock_parse_faults(const char *spec, tx_mock_config_t *cfg, tx_error_t *err);
/* Parses "a,b" into cfg->down_models. -1 with `err` when too many or too long. */
int tx__mock_parse_down_models(const char *list, tx_mock_config_t *cfg, tx_error_t *err);
/* Sets the option `name` (without "--": "expect-key", "expect-header", "expect-query",
 * "models") from `value`; one table in faults.c holds them, so adding one is one row. Returns 0,
 * 1 when `name` is not one of them, or -1 with `err` saying what is wrong with the value. */
int tx__mock_set_option(tx_mock_config_t *cfg, const char *name, const char *value,
                        tx_error_t *err);

/* The faults as text for the startup line ("500:0.1,429:0.05" or "none"). */
void tx__mock_describe_faults(const tx_mock_config_t *cfg, char *out, size_t cap);

typedef struct tx_mock tx_mock_t;

/* A mock using `loop` for its timers. `cfg` copied. NULL on out of memory. */
tx_mock_t *tx__mock_new(uv_loop_t *loop, const tx_mock_config_t *cfg);
/* Frees the mock; call after the server has stopped (its requests are then all finished). */
void tx__mock_destroy(tx_mock_t *m);
/* Registers the mock's routes (/v1/chat/completions, /v1/completions, /v1/embeddings,
 * /v1/responses, /v1/models, /mock/stats, /mock/reset, /healthz) on `r`. */
tx_err_t tx__mock_routes(tx_mock_t *m, tx_router_t *r);

#endif
