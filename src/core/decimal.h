/* Decimal text of an integer without the printf machinery, for the hot paths that put a status,
 * a count or an index into a header or a metric label. */
#ifndef TX_CORE_DECIMAL_H
#define TX_CORE_DECIMAL_H

#include <stddef.h>

/* Longest output of tx__decimal (a 64-bit minimum: sign and 19 digits) plus the NUL. */
#define TX_DECIMAL_MAX 21

/* Writes `v` in decimal ("-12", "0") into buf as a NUL-terminated string, as snprintf "%lld"
 * would. Returns its length; when it does not fit in `cap` bytes nothing is written but "" (when
 * cap > 0) and 0 is returned. buf may be NULL only with cap 0. */
size_t tx__decimal(char *buf, size_t cap, long long v);

#endif
