/* Fills a tx_error_t with a code and a formatted message (see errfmt.h); shared by the
 * config loader and the job store so the logic lives in one place. */
#include "core/errfmt.h"

#include <stdio.h>

tx_err_t tx__error_vsetf(tx_error_t *err, tx_err_t code, const char *fmt, va_list ap)
{
    if (err != NULL) {
        vsnprintf(err->detail, sizeof err->detail, fmt, ap);
        err->code = code;
        err->msg = err->detail;
    }
    return code;
}

tx_err_t tx__error_setf(tx_error_t *err, tx_err_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tx__error_vsetf(err, code, fmt, ap);
    va_end(ap);
    return code;
}
