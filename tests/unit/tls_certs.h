/* Certificates for the TLS tests: a temporary directory filled by tests/tls/mkcerts.sh (a CA, a
 * server certificate for localhost/127.0.0.1/::1, an untrusted one, a wrong host name), or the
 * directory TX_TLS_CERTS names. Use tls_certs_make / tls_certs_remove as the group's setup and
 * teardown, and cert("server.pem") for a file's path. */
#ifndef TX_TEST_TLS_CERTS_H
#define TX_TEST_TLS_CERTS_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static char certdir[PATH_MAX];
static int made_certdir;

/* The path of `name` in the certificate directory (four rotating buffers: several may be used in
 * one call). */
static const char *cert(const char *name)
{
    static char paths[4][PATH_MAX + 64];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", certdir, name);
    return p;
}

/* Runs argv to its end: its exit status, -1 when it could not run. */
static int run(const char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int tls_certs_make(void **state)
{
    (void)state;
    const char *given = getenv("TX_TLS_CERTS");
    if (given && given[0]) {
        snprintf(certdir, sizeof certdir, "%s", given);
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(certdir, sizeof certdir, "%s/tx_tls_XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(certdir) == NULL) return -1;
    made_certdir = 1;
    const char *data = getenv("TX_TEST_DATA"); /* <source>/tests/data */
    char script[PATH_MAX + 32];
    snprintf(script, sizeof script, "%s/../tls/mkcerts.sh", data ? data : "tests/data");
    const char *argv[] = {"sh", script, certdir, NULL};
    return run(argv) == 0 ? 0 : -1;
}

static int tls_certs_remove(void **state)
{
    (void)state;
    if (!made_certdir) return 0;
    const char *argv[] = {"rm", "-rf", certdir, NULL};
    return run(argv) == 0 ? 0 : -1;
}

#endif
