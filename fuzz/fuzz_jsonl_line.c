/* Fuzz target for the job input line parser: any bytes as one JSONL line; a parsed line must
 * have a non-empty id and owner, and a failure must say why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/jsonl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tx_jobs_line_t l;
    char why[200];
    why[0] = '\0';
    int rc = tx__jobs_parse_line((const char *)data, size, 7, &l, why, sizeof why);
    if (rc == 1) {
        if (l.id == NULL || l.id[0] == '\0' || l.owner == NULL || l.owner[0] == '\0') abort();
        if (l.text != NULL) (void)strlen(l.text);
        tx__jobs_line_clear(&l);
    } else if (rc < 0) {
        if (why[0] == '\0') abort();
    } else if (rc != 0) {
        abort();
    }
    return 0;
}
