/* Fuzz target: a model label (any bytes) and token counts through the observer, then the
 * /metrics rendering (label escaping); must never crash and always render. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "obs/observe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tx_obs_opts_t o = {.metrics = 1, .access_log = 0};
    tx_obs_t *obs = tx__obs_create(&o);
    if (obs == NULL) abort();
    /* The first bytes (up to a NUL) are the model label, the rest the body. */
    const char *p = (const char *)data;
    size_t k = 0;
    while (k < size && k < 200 && p[k] != '\0')
        k++;
    char model[201];
    memcpy(model, p, k);
    model[k] = '\0';
    /* the byte after the label picks the counts: negative ones must count nothing */
    int64_t n = k + 1 < size ? (int64_t)(int8_t)data[k + 1] : -1;
    tx__obs_on_usage(obs, model, n, n * 3);
    tx__obs_on_request_done(obs, "/v1/chat/completions", model, 200, (double)size, 1.0);
    size_t len = 0;
    char *text = tx__obs_render(obs, &len);
    if (text == NULL || strlen(text) != len) abort();
    free(text);
    tx__obs_destroy(obs);
    return 0;
}
