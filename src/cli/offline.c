/* The offline commands' store and config: one place that decides which store a command reads and
 * refuses to create a missing SQLite file. */
#include "cli/offline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/storeurl.h"
#include "core/url.h"
#include "config/config.h"
#include "core/clock.h"

/* 0 when the URL is not a SQLite file that is missing; else -1 after saying so. */
static int sqlite_file_exists(const char *cmd, const char *url)
{
    if (strncmp(url, "sqlite:", 7) != 0) return 0;
    const char *path = url + 7;
    size_t len = strcspn(path, "?");
    if (len == 8 && strncmp(path, ":memory:", 8) == 0) return 0;
    char *p = strndup(path, len);
    if (!p) {
        fprintf(stderr, "tenax %s: out of memory\n", cmd);
        return -1;
    }
    struct stat st;
    int rc = 0;
    if (len == 0 || stat(p, &st) != 0) {
        fprintf(stderr,
                "tenax %s: no store at '%s': %s (import items with 'tenax run' or the "
                "API first, or pass --store)\n",
                cmd, p, len == 0 ? "empty path" : strerror(errno));
        rc = -1;
    } else if (!S_ISREG(st.st_mode)) {
        fprintf(stderr, "tenax %s: '%s' is not a file\n", cmd, p);
        rc = -1;
    }
    free(p);
    return rc;
}

int tx__cli_store_open(const char *cmd, const char *flag, int *max_attempts, tx_store_t **out)
{
    *out = NULL;
    tx_config_t *cfg = NULL;
    tx_error_t err = {0};
    if (tx__config_load(NULL, NULL, &cfg, &err) != TX_EOK) {
        fprintf(stderr, "tenax %s: config: %s\n", cmd, err.msg ? err.msg : "invalid");
        return 2;
    }
    int from_flag = flag != NULL && *flag != '\0';
    const char *url = from_flag ? flag : cfg->store;
    if (max_attempts) *max_attempts = (int)cfg->job_max_attempts;
    int code = 0;
    if (tx__cli_store_url_check(cmd, from_flag ? "--store" : "TENAX_STORE", url) != 0) {
        code = 2;
    } else if (sqlite_file_exists(cmd, url) != 0) {
        code = 1;
    } else {
        int rc = tx__store_open(url, out, &err);
        if (rc != TX_EOK) {
            char shown[512];
            tx__url_show(url, shown, sizeof shown);
            fprintf(stderr, "tenax %s: store %s: %s\n", cmd, shown, tx__cli_store_error(&err, rc));
            *out = NULL;
            code = 1;
        }
    }
    tx__config_unref(cfg);
    return code;
}
