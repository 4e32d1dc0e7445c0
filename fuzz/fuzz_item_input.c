/* Fuzzes the POST /v1/items body parser (src/jobs/item_input.c): any bytes, never a crash; a
 * success always yields 1..10000 items each with an id of 1..256 bytes, an owner, a valid task
 * name and a text; a failure always says why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/item_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tx_item_batch_t b;
    char param[64], msg[256];
    int rc =
        tx__item_batch_parse((const char *)data, size, &b, param, sizeof param, msg, sizeof msg);
    if (rc == TX_EOK) {
        if (b.n == 0 || b.n > TX_ITEM_BATCH_MAX || !b.items) abort();
        for (size_t i = 0; i < b.n; i++) {
            const tx_item_input_t *in = &b.items[i];
            size_t idlen = in->external_id ? strlen(in->external_id) : 0;
            if (idlen == 0 || idlen > TX_ITEM_ID_MAX || !in->owner || !in->owner[0] || !in->text ||
                !tx__task_name_valid(in->task))
                abort();
        }
        tx__item_batch_free(&b);
    } else if (!msg[0] || b.items || b.doc) {
        abort();
    }
    return 0;
}
