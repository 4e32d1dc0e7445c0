/* Registers the families listed in tx_metrics.h. */
#include <stdio.h>
#include <string.h>

#include "obs/tx_metrics.h"

typedef struct {
    tx_metric_type_t type;
    const char *name, *help, *labels;
    int latency;
    size_t max_series;
} std_def_t;

#define TX_B_NONE 0
#define TX_B_LATENCY 1
static const std_def_t std_defs[TX_M__LAST] = {
#define TX_METRICS_STD_DEF(id, type, name, help, labels, buckets, max)                             \
    {TX_METRIC_##type, name, help, labels, TX_B_##buckets, max},
    TX_METRICS_STD(TX_METRICS_STD_DEF)
#undef TX_METRICS_STD_DEF
};

int tx__metrics_std_register(tx_metrics_t *m, tx_metric_family_t *fams[TX_M__LAST])
{
    if (m == NULL || fams == NULL) return -1;
    for (int i = 0; i < TX_M__LAST; i++) {
        const std_def_t *d = &std_defs[i];
        char copy[128];
        const char *names[TX_METRICS_MAX_LABELS];
        size_t n = 0;
        snprintf(copy, sizeof(copy), "%s", d->labels);
        for (char *save = NULL, *tok = strtok_r(copy, ",", &save);
             tok != NULL && n < TX_METRICS_MAX_LABELS; tok = strtok_r(NULL, ",", &save))
            names[n++] = tok;
        fams[i] = tx__metrics_register(m, d->type, d->name, d->help, n, names,
                                       d->latency ? tx_metrics_latency_buckets : NULL,
                                       d->latency ? TX_METRICS_LATENCY_NBUCKETS : 0, d->max_series);
        if (fams[i] == NULL) return -1;
    }
    return 0;
}
