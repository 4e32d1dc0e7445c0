/* The clocks (internal): monotonic time for durations and deadlines, wall time for what is stored
 * or shown (due times, timestamps). One set for the whole tree; inline, so a call costs what
 * clock_gettime costs. The retry engine itself never reads a clock: its callers pass one in. */
#ifndef TX_CORE_CLOCK_H
#define TX_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

#include "tenax/types.h"

/* Nanoseconds of clock `id`. */
static inline int64_t tx__clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Milliseconds of clock `id`. */
static inline tx_ms_t tx__clock_ms(clockid_t id)
{
    return tx__clock_ns(id) / 1000000;
}

/* Milliseconds of CLOCK_MONOTONIC: never jumps, meaningless across processes. */
static inline tx_ms_t tx__clock_mono_ms(void)
{
    return tx__clock_ms(CLOCK_MONOTONIC);
}

/* Microseconds of CLOCK_MONOTONIC. */
static inline int64_t tx__clock_mono_us(void)
{
    return tx__clock_ns(CLOCK_MONOTONIC) / 1000;
}

/* Milliseconds of CLOCK_MONOTONIC_COARSE (a tick or so behind, much cheaper), for counters that
 * bucket by the second. */
static inline tx_ms_t tx__clock_coarse_ms(void)
{
    return tx__clock_ms(CLOCK_MONOTONIC_COARSE);
}

/* Unix milliseconds (CLOCK_REALTIME): may jump with the system clock. */
static inline tx_ms_t tx__clock_wall_ms(void)
{
    return tx__clock_ms(CLOCK_REALTIME);
}

#endif
