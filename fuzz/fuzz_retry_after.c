/* Fuzz target for the Retry-After family: the input is tried as every header form and as a
 * message; any result must be -1 or within [0, TX_RETRY_AFTER_MAX_MS]. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tenax/retry_after.h"

static void check(tx_ms_t v)
{
    if (v != -1 && (v < 0 || v > TX_RETRY_AFTER_MAX_MS)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    check(tx_retry_after_header(s, 1700000000000LL));
    check(tx_retry_after_ms_header(s));
    check(tx_retry_after_duration(s, size));
    check(tx_retry_after_from_message(s, size));
    tx_header_t h[] = {
        {"retry-after", s}, {"x-ratelimit-reset-tokens", s}, {"x-ratelimit-remaining-tokens", s}};
    check(tx_retry_after_effective(429, h, 3, 1700000000000LL));
    free(s);
    return 0;
}
