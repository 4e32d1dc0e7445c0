/* Integers as text without printf, for the hot paths (status line, Content-Length, chunk sizes,
 * header and label values). Each writes the digits and a NUL into `out` and returns the digit
 * count. */
#ifndef TX_CORE_NUMFMT_H
#define TX_CORE_NUMFMT_H

#include <stddef.h>
#include <stdint.h>

/* Room for any result: "-9223372036854775808" plus the NUL. */
#define TX_NUMFMT_MAX 21

/* `v` in decimal ("0", "18446744073709551615"); `out` holds at least TX_NUMFMT_MAX bytes. */
size_t tx__fmt_u64(char *out, uint64_t v);
/* `v` in decimal with a '-' when negative (INT64_MIN included); as printf's "%lld". */
size_t tx__fmt_i64(char *out, int64_t v);
/* `v` in lowercase hexadecimal without prefix ("0", "1f"); as printf's "%llx". */
size_t tx__fmt_hex(char *out, uint64_t v);

#endif
