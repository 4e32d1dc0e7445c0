/* Error classes of docs/classifier.md: every failed attempt gets exactly one. Append-only: never
 * renumber, add new classes before TX_CLASS__LAST. */
#ifndef TENAX_CLASS_H
#define TENAX_CLASS_H

#define TX_CLASS_MAP(X)                                                                            \
    X(OK, "ok")                                                                                    \
    X(NETWORK, "network")                                                                          \
    X(TIMEOUT, "timeout")                                                                          \
    X(SERVER, "server")                                                                            \
    X(GATEWAY, "gateway")                                                                          \
    X(RATE_LIMIT, "rate_limit")                                                                    \
    X(CONCURRENCY, "concurrency")                                                                  \
    X(QUOTA, "quota")                                                                              \
    X(AUTH, "auth")                                                                                \
    X(BAD_REQUEST, "bad_request")                                                                  \
    X(CONTEXT_LENGTH, "context_length")                                                            \
    X(CONTENT_FILTER, "content_filter")                                                            \
    X(MODEL_UNAVAILABLE, "model_unavailable")                                                      \
    X(INVALID_RESPONSE, "invalid_response")                                                        \
    X(INVALID_OUTPUT, "invalid_output")                                                            \
    X(ABORTED, "aborted")

typedef enum {
#define TX_CLASS_ENUM(name, str) TX_CLASS_##name,
    TX_CLASS_MAP(TX_CLASS_ENUM)
#undef TX_CLASS_ENUM
        TX_CLASS__LAST
} tx_class_t;

/* The documented name of a class ("rate_limit"); "unknown" for a value out of range. Static string.
 */
const char *tx_class_name(tx_class_t cls);

/* The class named `name`, or -1 when no class has that name (NULL included). */
int tx_class_from_name(const char *name);

/* What docs/classifier.md says happens after a failed attempt of this class. */
int tx_class_retryable(tx_class_t cls);       /* retried on the same model */
int tx_class_counts_failover(tx_class_t cls); /* counts toward endpoint failover */
int tx_class_next_model(tx_class_t cls);      /* moves to the next model at once */
int tx_class_pauses_jobs(tx_class_t cls);     /* quota, auth */
int tx_class_parks_jobs(tx_class_t cls);      /* rate_limit, concurrency */

#endif
