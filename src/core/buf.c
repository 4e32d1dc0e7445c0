/* The out-of-line part of core/buf.h. */
#include "core/buf.h"

#include <stdio.h>

int tx__buf_add_json_string(tx__buf_t *b, const char *s)
{
    if (tx__buf_add(b, "\"", 1) != 0) return -1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e[8];
        size_t n = 1;
        e[0] = (char)*p;
        if (*p == '"' || *p == '\\') {
            e[0] = '\\';
            e[1] = (char)*p;
            n = 2;
        } else if (*p < 0x20) {
            static const char short_esc[] = "btn\0fr"; /* \b \t \n, \f \r */
            if (*p >= 8 && *p <= 13 && *p != 11 && short_esc[*p - 8] != '\0') {
                e[0] = '\\';
                e[1] = short_esc[*p - 8];
                n = 2;
            } else {
                n = (size_t)snprintf(e, sizeof e, "\\u%04X", *p);
            }
        }
        if (tx__buf_add(b, e, n) != 0) return -1;
    }
    return tx__buf_add(b, "\"", 1);
}
