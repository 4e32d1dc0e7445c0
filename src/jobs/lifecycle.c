/* The item lifecycle of docs/jobs.md as one table: which status changes are legal. The engine's
 * single transition function checks every change against it before writing. */
#include "jobs/engine.h"

int tx__jobs_transition_ok(tx_item_status_t from, tx_item_status_t to)
{
    if ((unsigned)from >= TX_ITEM__LAST || (unsigned)to >= TX_ITEM__LAST) return 0;
    /* clang-format off */
    static const unsigned char ok[TX_ITEM__LAST][TX_ITEM__LAST] = {
        /*                      pend proc succ retr fail skip */
        [TX_ITEM_PENDING]    = {0,   1,   0,   0,   0,   0},
        [TX_ITEM_PROCESSING] = {1,   0,   1,   1,   1,   0},
        [TX_ITEM_SUCCESS]    = {1,   0,   0,   0,   0,   0}, /* regenerate */
        [TX_ITEM_RETRYING]   = {1,   1,   0,   0,   0,   0}, /* retry / due again */
        [TX_ITEM_FAILED]     = {1,   0,   0,   0,   0,   0}, /* forced retry, regenerate */
        [TX_ITEM_SKIPPED]    = {0,   0,   0,   0,   0,   0},
    };
    /* clang-format on */
    return ok[from][to];
}
