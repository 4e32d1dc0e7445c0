/* Fills a tx_error_t with a code and a printf-style message: the one helper every module
 * uses to report a failure (config checks, the job store and its backends). */
#ifndef TX_CORE_ERRFMT_H
#define TX_CORE_ERRFMT_H

#include <stdarg.h>

#include "tenax/error.h"

/* Fills err (when not NULL) with code and the formatted message (cut to err->detail);
 * err->msg points at err->detail. Returns code. err NULL = only return code. */
tx_err_t tx__error_setf(tx_error_t *err, tx_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* As tx__error_setf, with a va_list (for wrappers). ap is consumed only when err is not NULL. */
tx_err_t tx__error_vsetf(tx_error_t *err, tx_err_t code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
