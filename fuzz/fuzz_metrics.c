/* Fuzzes label values through the metrics registry and its exposition: whatever the bytes, every
 * sample stays on one line (escaping holds) and the line count matches the series count. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "obs/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tx_metrics_t *m = tx__metrics_create();
    const char *ln[] = {"model", "status"};
    tx_metric_family_t *f =
        tx__metrics_register(m, TX_METRIC_COUNTER, "f_total", "Fuzzed.", 2, ln, NULL, 0, 16);
    char *copy = malloc(size + 2);
    if (m == NULL || f == NULL || copy == NULL) abort();
    memcpy(copy, data, size);
    copy[size] = copy[size + 1] = '\0';
    /* NUL-separated values, taken two at a time */
    const char *vals[2];
    size_t nv = 0;
    for (size_t i = 0; i <= size;) {
        vals[nv++] = copy + i;
        i += strlen(copy + i) + 1;
        if (nv == 2) {
            tx__metrics_inc(f, vals, 1);
            nv = 0;
        }
    }
    size_t len = 0;
    char *text = tx__metrics_render(m, &len);
    if (text == NULL || strlen(text) != len) abort();
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    size_t want = 2 + tx__metrics_series_count(f) + (tx__metrics_refused(f) > 0 ? 3 : 0);
    if (lines != want) abort();
    free(text);
    free(copy);
    tx__metrics_destroy(m);
    return 0;
}
