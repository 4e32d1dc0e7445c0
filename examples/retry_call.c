/* tx_retry_call in a dozen lines: a function that fails twice with a 503 and then succeeds,
 * retried under the default policy with short delays; prints what the call went through. */
#include <stdio.h>

#include "tenax/error.h"
#include "tenax/retry_call.h"

static tx_outcome_t flaky(void *ctx, unsigned attempt, const char *model)
{
    int *failures_left = ctx;
    printf("attempt %u on %s\n", attempt, model);
    if (*failures_left > 0) {
        (*failures_left)--;
        return (tx_outcome_t){.cls = TX_CLASS_SERVER}; /* an HTTP 503 */
    }
    return (tx_outcome_t){.cls = TX_CLASS_OK};
}

int main(void)
{
    tx_policy_t p;
    tx_policy_init(&p, "gpt-4o-mini");
    p.backoff.base_ms = 50; /* 50 ms, 100 ms … instead of 2 s, 4 s … */
    p.backoff.cap_ms = 1000;
    int failures_left = 2;
    tx_stats_t st;
    int rc = tx_retry_call(&p, flaky, &failures_left, &st);
    printf("result: %s (%s)\n", tx_strerror(rc), tx_stop_reason_name(st.final));
    printf("attempts=%u total_wait_ms=%lld elapsed_ms=%lld server_errors=%u\n", st.attempts,
           (long long)st.total_wait_ms, (long long)st.elapsed_ms, st.by_class[TX_CLASS_SERVER]);
    return rc == TX_EOK ? 0 : 1;
}
