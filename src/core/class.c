/* Names and properties of the error classes of docs/classifier.md. */
#include <string.h>

#include "tenax/class.h"
#include "tenax/error.h"

static const char *const class_names[] = {
#define TX_CLASS_STR(name, str) str,
    TX_CLASS_MAP(TX_CLASS_STR)
#undef TX_CLASS_STR
};

const char *tx_class_name(tx_class_t cls)
{
    if ((unsigned)cls >= TX_CLASS__LAST) return "unknown";
    return class_names[cls];
}

int tx_class_from_name(const char *name)
{
    if (name == NULL) return -1;
    for (int i = 0; i < TX_CLASS__LAST; i++)
        if (strcmp(class_names[i], name) == 0) return i;
    return -1;
}

int tx_class_retryable(tx_class_t cls)
{
    switch (cls) {
    case TX_CLASS_NETWORK:
    case TX_CLASS_TIMEOUT:
    case TX_CLASS_SERVER:
    case TX_CLASS_GATEWAY:
    case TX_CLASS_RATE_LIMIT:
    case TX_CLASS_CONCURRENCY:
    case TX_CLASS_INVALID_RESPONSE:
    case TX_CLASS_INVALID_OUTPUT:
        return 1;
    default:
        return 0;
    }
}

int tx_class_counts_failover(tx_class_t cls)
{
    return cls == TX_CLASS_NETWORK || cls == TX_CLASS_TIMEOUT || cls == TX_CLASS_SERVER ||
           cls == TX_CLASS_GATEWAY;
}

int tx_class_next_model(tx_class_t cls)
{
    return cls == TX_CLASS_MODEL_UNAVAILABLE || cls == TX_CLASS_CONTEXT_LENGTH ||
           cls == TX_CLASS_CONTENT_FILTER;
}

int tx_class_pauses_jobs(tx_class_t cls)
{
    return cls == TX_CLASS_QUOTA || cls == TX_CLASS_AUTH;
}

int tx_class_parks_jobs(tx_class_t cls)
{
    return cls == TX_CLASS_RATE_LIMIT || cls == TX_CLASS_CONCURRENCY;
}

static const char *const err_names[] = {
#define TX_ERR_STR(name, str) str,
    TX_ERR_MAP(TX_ERR_STR)
#undef TX_ERR_STR
};

const char *tx_strerror(tx_err_t err)
{
    if ((unsigned)err >= TX_E__LAST) return "unknown error";
    return err_names[err];
}
