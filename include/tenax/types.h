/* Small types shared across libtenax modules. */
#ifndef TENAX_TYPES_H
#define TENAX_TYPES_H

#include <stddef.h>
#include <stdint.h>

/* One HTTP header as seen by the classifier and the upstream client. Neither string is owned
 * by the header; both are NUL-terminated. Names compare case-insensitively. */
typedef struct {
    const char *name;
    const char *value;
} tx_header_t;

/* Milliseconds. Monotonic time for durations and deadlines; Unix epoch time for anything that is
 * stored or shown (RFC 3339 in JSON). */
typedef int64_t tx_ms_t;

#endif
