/* Return codes of libtenax functions. Append-only (curl's CURLcode): never renumber. */
#ifndef TENAX_ERROR_H
#define TENAX_ERROR_H

#define TX_ERR_MAP(X)                                                                              \
    X(OK, "success")                                                                               \
    X(NOMEM, "out of memory")                                                                      \
    X(INVAL, "invalid argument")                                                                   \
    X(PARSE, "parse error")                                                                        \
    X(RANGE, "value out of bounds")                                                                \
    X(IO, "input/output error")                                                                    \
    X(NOTFOUND, "not found")                                                                       \
    X(BUSY, "resource busy")                                                                       \
    X(CONFLICT, "conflict")                                                                        \
    X(STORE, "store error")                                                                        \
    X(STOPPED, "stopped")

typedef enum {
#define TX_ERR_ENUM(name, str) TX_E##name,
    TX_ERR_MAP(TX_ERR_ENUM)
#undef TX_ERR_ENUM
        TX_E__LAST
} tx_err_t;

/* Human text for a return code; never NULL, static. */
const char *tx_strerror(tx_err_t err);

/* A richer error for calls that can say more: `msg` is static or points into `detail`;
 * nothing in it needs freeing. */
typedef struct {
    tx_err_t code;
    const char *msg;
    char detail[256];
} tx_error_t;

#endif
