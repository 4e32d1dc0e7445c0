/* Fuzzes the cache key of a request body: any bytes give OK, STREAM or INVALID, never a crash,
 * and the same bytes always give the same key. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char k1[TX_CACHE_KEY_LEN], k2[TX_CACHE_KEY_LEN];
    tx_cache_key_result_t r1 =
        tx__cache_key("/v1/chat/completions", "m", (const char *)data, size, k1);
    tx_cache_key_result_t r2 =
        tx__cache_key("/v1/chat/completions", "m", (const char *)data, size, k2);
    if (r1 != r2) abort();
    if (r1 == TX_CACHE_KEY_OK && memcmp(k1, k2, sizeof(k1)) != 0) abort();
    return 0;
}
