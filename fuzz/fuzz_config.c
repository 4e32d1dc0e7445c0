/* Fuzz target: a live config file body (docs/config.md) through the whole loader (providers and
 * model routes included: each load also resolves a few names), plus to_json and a diff against the
 * defaults when it loads. Must never crash, leak or echo a secret. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

static const char *lookup(void *ud, const char *name)
{
    (void)ud;
    if (strcmp(name, "AI_API_KEY") == 0) return "sk-fuzz-secret";
    if (strcmp(name, "EP_KEY") == 0) return "ep-fuzz-secret";
    if (strcmp(name, "OPENAI_API_KEY") == 0) return "oai-fuzz-secret"; /* presets' variables */
    if (strcmp(name, "OPENROUTER_API_KEY") == 0) return "or-fuzz-secret";
    return NULL;
}

static void on_diff(const char *key, const char *value, const char *source, void *ud)
{
    (void)key, (void)source;
    if (*(int *)ud && strstr(value, "fuzz-secret") != NULL) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tx_config_env_t env = {lookup, NULL};
    /* The input may spell the secret itself (libFuzzer learns it from strcmp); an echo of the
     * input is no leak, so the secret checks apply only when the input does not contain it. */
    int oracle = memmem(data, size, "fuzz-secret", 11) == NULL;
    tx_config_t *base = NULL, *c = NULL;
    tx_error_t err = {0};
    if (tx__config_load_text(&env, NULL, 0, &base, &err) != TX_EOK) abort();
    if (tx__config_load_text(&env, (const char *)data, size, &c, &err) == TX_EOK) {
        json_t *j = tx__config_to_json(c);
        char *text = j != NULL ? json_dumps(j, 0) : NULL;
        if (oracle && text != NULL && strstr(text, "fuzz-secret") != NULL) abort();
        free(text);
        json_decref(j);
        tx__config_diff(base, c, on_diff, &oracle);
        tx_config_route_t r[4];
        static const char *const names[] = {"gpt-4o", "*", "", "claude"};
        for (size_t i = 0; i < 4; i++)
            if (tx__config_resolve(c, names[i], r, 4) > 0 &&
                ((size_t)r[0].provider >= c->providers.n || r[0].model == NULL))
                abort();
        json_decref(tx__config_model_names(c));
        tx__config_unref(c);
    } else if (err.msg == NULL || (oracle && strstr(err.msg, "fuzz-secret") != NULL)) {
        abort();
    }
    tx__config_unref(base);
    return 0;
}
