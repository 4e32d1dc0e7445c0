/* When to give up: after N attempts, after a deadline, before a wait that would cross a deadline,
 * and any/all combinations of those (tenacity's stop_any / stop_all). Nodes are plain values:
 * build them on the stack or statically, nothing is allocated. */
#ifndef TENAX_STOP_H
#define TENAX_STOP_H

#include <stddef.h>

#include "tenax/types.h"

typedef enum {
    TX_STOP_NEVER,         /* never fires (also: "did not fire") */
    TX_STOP_AFTER_ATTEMPT, /* attempts >= value */
    TX_STOP_AFTER_DELAY,   /* elapsed >= value */
    TX_STOP_BEFORE_DELAY,  /* elapsed + next_delay > value: do not start a wait that crosses it */
    TX_STOP_ANY,           /* one of the children fires */
    TX_STOP_ALL,           /* every child fires (none: never) */
    TX_STOP__LAST
} tx_stop_kind_t;

/* One condition. For ANY/ALL `kids` points at `n_kids` nodes the caller keeps alive (borrowed).
 * Trees deeper than TX_STOP_MAX_DEPTH are cut there (a deeper node counts as not firing). */
typedef struct tx_stop {
    tx_stop_kind_t kind;
    int64_t value;
    const struct tx_stop *kids;
    size_t n_kids;
} tx_stop_t;

#define TX_STOP_MAX_DEPTH 8

/* What the conditions look at. `attempts`: attempts made so far; `elapsed_ms`: since the first
 * attempt started; `next_delay_ms`: the wait about to start (0 when unknown). */
typedef struct {
    unsigned attempts;
    tx_ms_t elapsed_ms;
    tx_ms_t next_delay_ms;
} tx_stop_input_t;

tx_stop_t tx_stop_after_attempt(unsigned n);
tx_stop_t tx_stop_after_delay(tx_ms_t ms);
tx_stop_t tx_stop_before_delay(tx_ms_t ms);
/* `kids` is borrowed: it must outlive every use of the returned node. */
tx_stop_t tx_stop_any(const tx_stop_t *kids, size_t n);
tx_stop_t tx_stop_all(const tx_stop_t *kids, size_t n);

/* The leaf condition that fired (AFTER_ATTEMPT, AFTER_DELAY or BEFORE_DELAY; for ALL the last
 * child's), or TX_STOP_NEVER when the call should go on. NULL `s` or `in`: TX_STOP_NEVER. */
tx_stop_kind_t tx_stop_check(const tx_stop_t *s, const tx_stop_input_t *in);

#endif
