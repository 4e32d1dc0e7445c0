/* Fuzz target for the SSE parser: the input is fed whole and then again split at a point taken
 * from its first byte; both must give the same number of events and never crash. */
#include <stdint.h>
#include <stdlib.h>

#include "upstream/sse.h"

static int count(void *ud, const tx_sse_event_t *ev)
{
    size_t *n = ud;
    if (ev->data[ev->data_len] != '\0' || ev->event[ev->event_len] != '\0') abort();
    (*n)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t a = 0, b = 0;
    tx_sse_t *p = tx__sse_new(4096);
    tx_err_t r1 = tx__sse_feed(p, (const char *)data, size, count, &a);
    tx__sse_free(p);
    size_t cut = size ? data[0] % (size + 1) : 0;
    p = tx__sse_new(4096);
    tx_err_t r2 = tx__sse_feed(p, (const char *)data, cut, count, &b);
    if (r2 == TX_EOK) r2 = tx__sse_feed(p, (const char *)data + cut, size - cut, count, &b);
    tx__sse_free(p);
    if (r1 == TX_EOK && r2 == TX_EOK && a != b) abort();
    return 0;
}
