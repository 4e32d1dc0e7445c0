/* What the TLS engine costs the client, in-process over memory BIOs against an OpenSSL server:
 * full and resumed handshakes, a small request/response round, bulk download, heap per idle
 * connection. Not part of the suite; tests/tls/tls_cost.sh builds and runs it (and counts
 * instructions with callgrind). Usage: tls_cost CERTDIR; env N (handshakes), R (rounds),
 * B (MiB downloaded). */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ssl.h>

#include "upstream/tls.h"

static double client_ns; /* time spent inside tx_tls_* calls */
static char wire[1 << 16], plain[1 << 16];

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

typedef struct {
    tx_tls_t *c;
    SSL *s;
    BIO *in, *out;
} pair_t;

static void pump(pair_t *p)
{
    for (;;) {
        size_t moved = 0, n;
        double t0 = now_ns();
        while ((n = tx__tls_take(p->c, wire, sizeof wire)) > 0) {
            client_ns += now_ns() - t0;
            if (p->s) BIO_write(p->in, wire, (int)n);
            moved += n;
            t0 = now_ns();
        }
        client_ns += now_ns() - t0;
        if (p->s == NULL) return;
        if (!SSL_is_init_finished(p->s)) {
            SSL_do_handshake(p->s);
        } else {
            size_t got;
            while (SSL_read_ex(p->s, plain, sizeof plain, &got) == 1)
                continue;
        }
        int k;
        while ((k = BIO_read(p->out, wire, sizeof wire)) > 0) {
            moved += (size_t)k;
            t0 = now_ns();
            tx__tls_feed(p->c, wire, (size_t)k);
            while (tx__tls_read(p->c, plain, sizeof plain) > 0)
                continue;
            client_ns += now_ns() - t0;
        }
        if (moved == 0) return;
    }
}

static pair_t *pair_new(SSL_CTX *sctx, tx_tls_ctx_t *cctx, const char *key)
{
    pair_t *p = calloc(1, sizeof *p);
    double t0 = now_ns();
    p->c = tx__tls_new(cctx, "localhost", key);
    client_ns += now_ns() - t0;
    p->s = SSL_new(sctx);
    p->in = BIO_new(BIO_s_mem());
    p->out = BIO_new(BIO_s_mem());
    SSL_set_bio(p->s, p->in, p->out);
    SSL_set_accept_state(p->s);
    return p;
}

static void pair_free(pair_t *p)
{
    double t0 = now_ns();
    tx__tls_free(p->c);
    client_ns += now_ns() - t0;
    SSL_free(p->s);
    free(p);
}

static int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    return v && *v ? (int)strtol(v, NULL, 10) : dflt;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CERTDIR\n", argv[0]);
        return 2;
    }
    char ca[4096], crt[4096], key[4096], err[256];
    snprintf(ca, sizeof ca, "%s/ca.pem", argv[1]);
    snprintf(crt, sizeof crt, "%s/server.pem", argv[1]);
    snprintf(key, sizeof key, "%s/server.key", argv[1]);
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    if (!SSL_CTX_use_certificate_chain_file(sctx, crt) ||
        !SSL_CTX_use_PrivateKey_file(sctx, key, SSL_FILETYPE_PEM)) {
        fprintf(stderr, "cannot load %s\n", crt);
        return 1;
    }
    tx_tls_ctx_t *cctx = tx__tls_ctx_new(ca, err, sizeof err);
    if (cctx == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int n = env_int("N", 300), rounds = env_int("R", 100000), mib = env_int("B", 200);

    client_ns = 0;
    for (int i = 0; i < n; i++) {
        pair_t *p = pair_new(sctx, cctx, NULL);
        pump(p);
        if (!tx__tls_handshake_done(p->c)) return 1;
        pair_free(p);
    }
    printf("full handshake:     %6.0f us of client CPU\n", client_ns / n / 1e3);

    pair_t *p = pair_new(sctx, cctx, "k");
    pump(p);
    pair_free(p);
    client_ns = 0;
    int reused = 0;
    for (int i = 0; i < n; i++) {
        p = pair_new(sctx, cctx, "k");
        pump(p);
        reused += tx__tls_reused(p->c);
        pair_free(p);
    }
    printf("resumed handshake:  %6.0f us of client CPU (%d of %d resumed)\n", client_ns / n / 1e3,
           reused, n);

    p = pair_new(sctx, cctx, NULL);
    pump(p);
    static char req[400], resp[1200];
    memset(req, 'q', sizeof req);
    memset(resp, 'r', sizeof resp);
    client_ns = 0;
    for (int i = 0; i < rounds; i++) {
        double t0 = now_ns();
        tx__tls_write(p->c, req, sizeof req);
        client_ns += now_ns() - t0;
        pump(p);
        size_t w;
        SSL_write_ex(p->s, resp, sizeof resp, &w);
        pump(p);
    }
    if (rounds > 0)
        printf("400 B up, 1200 B down: %6.2f us of client CPU per round\n",
               client_ns / rounds / 1e3);

    static char big[1 << 20];
    client_ns = 0;
    for (int i = 0; i < mib; i++) {
        size_t w;
        SSL_write_ex(p->s, big, sizeof big, &w);
        pump(p);
    }
    if (mib > 0)
        printf("bulk download:      %6.0f MB/s\n", mib * 1048576.0 / (client_ns / 1e9) / 1e6);
    pair_free(p);

    enum { IDLE = 200 };
    static pair_t *idle[IDLE];
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < IDLE; i++) {
        idle[i] = pair_new(sctx, cctx, NULL);
        pump(idle[i]);
        SSL_free(idle[i]->s); /* count the client's heap only */
        idle[i]->s = NULL;
    }
    struct mallinfo2 after = mallinfo2();
    printf("idle connection:    %6.1f KiB of heap each\n",
           (double)(after.uordblks - before.uordblks) / IDLE / 1024);
    for (int i = 0; i < IDLE; i++)
        pair_free(idle[i]);
    tx__tls_ctx_free(cctx);
    SSL_CTX_free(sctx);
    return 0;
}
