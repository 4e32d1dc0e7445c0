/* Fuzzes the command line's store URL checks (src/cli/storeurl.c): any bytes through
 * tx__cli_store_url_problem and tx__url_show (src/core/url.c), never a crash; and a password put
 * into a postgres:// URL built from the input never shows, neither in the shown URL nor in the
 * reason a malformed one is refused. The input is split at the first two NUL bytes into user,
 * password and the rest (host, port, path, query). A message "shows the password" when it
 * holds it and changes when the password's letters and digits change (the same delimiters,
 * so the same parse): that tells a leak from a password that happens to match the wording. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/cli/storeurl.c" /* the CLI is not in libtenax */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t part(const uint8_t *d, size_t n, size_t from, const uint8_t **out)
{
    *out = d + from;
    const uint8_t *z = from < n ? memchr(d + from, 0, n - from) : NULL;
    return z != NULL ? (size_t)(z - (d + from)) : (from < n ? n - from : 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192) return 0;
    char *raw = malloc(size + 1);
    char *shown = malloc(2 * size + 64);
    char *url = malloc(size + 32);
    char why[256];
    if (raw == NULL || shown == NULL || url == NULL) goto out;
    memcpy(raw, data, size);
    raw[size] = '\0';
    tx__cli_store_url_problem(raw, why, sizeof why);
    tx__url_show(raw, shown, 2 * size + 64);

    /* postgres://USER:PASSWORD@REST with a password of 6+ bytes of its own */
    const uint8_t *u, *p, *r;
    size_t ul = part(data, size, 0, &u);
    size_t pl = part(data, size, ul + 1, &p);
    size_t rl = part(data, size, ul + 1 + pl + 1, &r);
    if (pl < 6 || memchr(p, '?', pl) != NULL || memchr(u, '@', ul) != NULL ||
        memchr(u, ':', ul) != NULL || memchr(u, '?', ul) != NULL || memchr(r, '@', rl) != NULL)
        goto out;
    int n = snprintf(url, size + 32, "postgres://%.*s:%.*s@%.*s", (int)ul, (const char *)u, (int)pl,
                     (const char *)p, (int)rl, (const char *)r);
    if (n < 0) goto out;
    char pw[8200];
    memcpy(pw, p, pl);
    pw[pl] = '\0';
    /* the same URL with every letter and digit of the password changed */
    char *url2 = malloc(size + 32), *shown2 = malloc(2 * size + 64);
    char why2[256];
    if (url2 == NULL || shown2 == NULL) {
        free(url2);
        free(shown2);
        goto out;
    }
    memcpy(url2, url, (size_t)n + 1);
    char *q = url2 + 11 + ul + 1;
    int alnum = 0;
    for (size_t i = 0; i < pl; i++) {
        char c = q[i];
        if (c >= 'a' && c <= 'z')
            q[i] = c == 'z' ? 'a' : (char)(c + 1), alnum = 1;
        else if (c >= 'A' && c <= 'Z')
            q[i] = c == 'Z' ? 'A' : (char)(c + 1), alnum = 1;
        else if (c >= '0' && c <= '9')
            q[i] = c == '9' ? '0' : (char)(c + 1), alnum = 1;
    }
    if (alnum) {
        tx__url_show(url, shown, 2 * size + 64);
        tx__url_show(url2, shown2, 2 * size + 64);
        if (strstr(shown, pw) != NULL && strcmp(shown, shown2) != 0) abort();
        int bad1 = tx__cli_store_url_problem(url, why, sizeof why);
        int bad2 = tx__cli_store_url_problem(url2, why2, sizeof why2);
        if (bad1 != 0 && strstr(why, pw) != NULL && (bad2 == 0 || strcmp(why, why2) != 0)) abort();
    }
    free(url2);
    free(shown2);
out:
    free(raw);
    free(shown);
    free(url);
    return 0;
}
