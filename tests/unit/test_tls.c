/* TLS engine: real handshakes between a tx_tls_t and an in-process OpenSSL server over memory
 * BIOs (no sockets), with certificates made by tests/tls/mkcerts.sh in a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "upstream/tls.h"

#include "tls_certs.h"

/* ---- the in-process server -------------------------------------------------------------- */

static int alpn_offered; /* the last ClientHello offered http/1.1 */

static int on_alpn(SSL *s, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned inlen, void *arg)
{
    (void)s;
    (void)arg;
    static const unsigned char ours[] = "\x08http/1.1";
    alpn_offered = inlen == sizeof ours - 1 && memcmp(in, ours, inlen) == 0;
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof ours - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* A server context: `maxver` 0 for OpenSSL's default (TLS 1.3), or a cap. An old cap also opens
 * the floor and drops the security level so that the server really speaks that version. */
static SSL_CTX *server_ctx(const char *name, int maxver)
{
    char crt[64], key[64];
    snprintf(crt, sizeof crt, "%s.pem", name);
    snprintf(key, sizeof key, "%s.key", name);
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    assert_non_null(c);
    assert_int_equal(SSL_CTX_use_certificate_chain_file(c, cert(crt)), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(c, cert(key), SSL_FILETYPE_PEM), 1);
    if (maxver) {
        assert_int_equal(SSL_CTX_set_max_proto_version(c, maxver), 1);
        if (maxver < TLS1_2_VERSION) {
            SSL_CTX_set_security_level(c, 0);
            assert_int_equal(SSL_CTX_set_min_proto_version(c, TLS1_VERSION), 1);
            assert_int_equal(SSL_CTX_set_cipher_list(c, "DEFAULT:@SECLEVEL=0"), 1);
        }
    }
    SSL_CTX_set_alpn_select_cb(c, on_alpn, NULL);
    return c;
}

typedef struct {
    tx_tls_t *c;
    SSL *s;
    BIO *sin, *sout; /* the server's input and output, owned by s */
    size_t piece;    /* bytes per transfer: 0 = pseudo-random 1..4096 */
    uint32_t rnd;
    char cgot[1 << 18]; /* plaintext the client read */
    size_t cgot_n;
    ssize_t crc;        /* the client's last negative result, 0 if none */
    char sgot[1 << 18]; /* plaintext the server read */
    size_t sgot_n;
    int s_err;    /* the server's SSL_get_error after a failure, 0 if none */
    int s_reason; /* and the OpenSSL reason code of its first error */
    int s_closed; /* the server read close_notify */
} pair_t;

static pair_t *pair_new(SSL_CTX *sctx, tx_tls_t *c)
{
    pair_t *p = calloc(1, sizeof *p);
    assert_non_null(p);
    assert_non_null(c);
    p->c = c;
    p->s = SSL_new(sctx);
    p->sin = BIO_new(BIO_s_mem());
    p->sout = BIO_new(BIO_s_mem());
    assert_true(p->s && p->sin && p->sout);
    SSL_set_bio(p->s, p->sin, p->sout);
    SSL_set_accept_state(p->s);
    p->piece = 16384;
    p->rnd = 12345;
    return p;
}

static void pair_free(pair_t *p)
{
    tx__tls_free(p->c);
    SSL_free(p->s);
    free(p);
}

static size_t piece(pair_t *p)
{
    if (p->piece) return p->piece;
    p->rnd = p->rnd * 1103515245u + 12345u;
    return 1 + (p->rnd >> 8) % 4096;
}

static void client_drain(pair_t *p)
{
    ssize_t r;
    while ((r = tx__tls_read(p->c, p->cgot + p->cgot_n, sizeof p->cgot - p->cgot_n)) > 0)
        p->cgot_n += (size_t)r;
    if (r < 0) p->crc = r;
}

static void server_step(pair_t *p)
{
    if (p->s_err || p->s_closed) return;
    if (!SSL_is_init_finished(p->s)) {
        int r = SSL_do_handshake(p->s);
        if (r != 1 && SSL_get_error(p->s, r) != SSL_ERROR_WANT_READ) {
            p->s_err = SSL_get_error(p->s, r);
            p->s_reason = ERR_GET_REASON(ERR_peek_error());
            ERR_clear_error();
            return;
        }
        if (r != 1) return;
    }
    size_t got;
    int r;
    while ((r = SSL_read_ex(p->s, p->sgot + p->sgot_n, sizeof p->sgot - p->sgot_n, &got)) == 1)
        p->sgot_n += got;
    int e = SSL_get_error(p->s, r);
    if (e == SSL_ERROR_ZERO_RETURN)
        p->s_closed = 1;
    else if (e != SSL_ERROR_WANT_READ) {
        p->s_err = e;
        p->s_reason = ERR_GET_REASON(ERR_peek_error());
    }
    ERR_clear_error();
}

/* Moves bytes both ways (in `piece`-sized transfers), running the server and reading on the
 * client after every transfer, until nothing moves. */
static void pump(pair_t *p)
{
    char buf[16384];
    for (int round = 0; round < 100000; round++) {
        size_t moved = 0;
        while (tx__tls_pending(p->c) > 0) {
            size_t want = piece(p);
            size_t n = tx__tls_take(p->c, buf, want < sizeof buf ? want : sizeof buf);
            assert_true(n > 0);
            assert_int_equal(BIO_write(p->sin, buf, (int)n), (int)n);
            moved += n;
            server_step(p);
        }
        server_step(p);
        while (BIO_ctrl_pending(p->sout) > 0) {
            size_t want = piece(p);
            int n = BIO_read(p->sout, buf, (int)(want < sizeof buf ? want : sizeof buf));
            assert_true(n > 0);
            moved += (size_t)n;
            int rc = tx__tls_feed(p->c, buf, (size_t)n);
            if (rc < 0) p->crc = rc;
            client_drain(p);
        }
        client_drain(p);
        if (moved == 0) return;
    }
    fail_msg("pump did not settle");
}

static void server_write(pair_t *p, const char *data, size_t n)
{
    size_t w;
    assert_int_equal(SSL_write_ex(p->s, data, n, &w), 1);
    assert_int_equal(w, n);
}

static tx_tls_ctx_t *client_ctx(void)
{
    char err[256];
    tx_tls_ctx_t *c = tx__tls_ctx_new(cert("ca.pem"), err, sizeof err);
    if (c == NULL) fail_msg("tx__tls_ctx_new: %s", err);
    return c;
}

/* ---- cases ------------------------------------------------------------------------------ */

static void good_certificate(void **state)
{
    (void)state;
    tx_tls_ctx_t *ctx = client_ctx();
    SSL_CTX *sctx = server_ctx("server", 0);
    alpn_offered = 0;
    pair_t *p = pair_new(sctx, tx__tls_new(ctx, "localhost", "https://localhost:443"));
    assert_true(tx__tls_pending(p->c) > 0); /* the ClientHello is ready at once */
    assert_false(tx__tls_handshake_done(p->c));
    static const char req[] = "GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal(tx__tls_write(p->c, req, sizeof req - 1), 0); /* queued until the end */
    pump(p);
    assert_true(tx__tls_handshake_done(p->c));
    assert_null(tx__tls_error(p->c));
    assert_int_equal(p->crc, 0);
    assert_int_equal(p->s_err, 0);
    assert_false(tx__tls_reused(p->c));
    assert_string_equal(tx__tls_version(p->c), "TLSv1.3");
    assert_string_equal(tx__tls_alpn(p->c), "http/1.1");
    assert_true(alpn_offered);
    assert_string_equal(SSL_get_servername(p->s, TLSEXT_NAMETYPE_host_name), "localhost");
    assert_int_equal(p->sgot_n, sizeof req - 1);
    assert_memory_equal(p->sgot, req, sizeof req - 1);

    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    server_write(p, resp, sizeof resp - 1);
    pump(p);
    assert_int_equal(p->cgot_n, sizeof resp - 1);
    assert_memory_equal(p->cgot, resp, sizeof resp - 1);
    assert_int_equal(tx__tls_write(p->c, "again", 5), 0); /* after the handshake: at once */
    assert_true(tx__tls_pending(p->c) > 0);
    pump(p);
    assert_int_equal(p->sgot_n, sizeof req - 1 + 5);
    pair_free(p);
    SSL_CTX_free(sctx);
    tx__tls_ctx_free(ctx);
}

static void tls12_server(void **state)
{
    (void)state;
    tx_tls_ctx_t *ctx = client_ctx();
    SSL_CTX *sctx = server_ctx("server", TLS1_2_VERSION);
    pair_t *p = pair_new(sctx, tx__tls_new(ctx, "localhost", NULL));
    pump(p);
    assert_true(tx__tls_handshake_done(p->c));
    assert_string_equal(tx__tls_version(p->c), "TLSv1.2");
    assert_string_equal(tx__tls_alpn(p->c), "http/1.1");
    pair_free(p);
    SSL_CTX_free(sctx);
    tx__tls_ctx_free(ctx);
}

/* Runs a handshake that must fail verification; returns the client's error text. */
static void expect_verify_failure(const char *server, const char *host, const char *reason)
{
    tx_tls_ctx_t *ctx = client_ctx();
    SSL_CTX *sctx = server_ctx(server, 0);
    pair_t *p = pair_new(sctx, tx__tls_new(ctx, host, "k"));
    tx__tls_write(p->c, "GET / HTTP/1.1\r\n\r\n", 18);
    pump(p);
    assert_int_equal(p->crc, TX_TLS_EVERIFY);
    assert_false(tx__tls_handshake_done(p->c));
    assert_false(tx__tls_reused(p->c));
    assert_non_null(tx__tls_error(p->c));
    char want[160];
    snprintf(want, sizeof want, "certificate verify failed: %s", reason);
    assert_string_equal(tx__tls_error(p->c), want);
    assert_int_not_equal(p->s_err, 0); /* the server got the client's alert */
    assert_int_equal(p->sgot_n, 0);    /* the queued request never left */
    /* the failure is sticky */
    assert_int_equal(tx__tls_write(p->c, "x", 1), TX_TLS_EVERIFY);
    char b[16];
    assert_int_equal(tx__tls_read(p->c, b, sizeof b), TX_TLS_EVERIFY);
    assert_int_equal(tx__tls_feed(p->c, "x", 1), TX_TLS_EVERIFY);
    pair_free(p);
    SSL_CTX_free(sctx);
    tx__tls_ctx_free(ctx);
}

static void untrusted_certificate(void **state)
{
    (void)state;
    expect_verify_failure("untrusted", "localhost", "unable to get local issuer certificate");
}

static void wrong_host_name(void **state)
{
    (void)state;
    expect_verify_failure("wronghost", "localhost", "hostname mismatch");
    /* the same server certificate under the name it was made for is good */
    expect_verify_failure("server", "other.localhost", "hostname mismatch");
    expect_verify_failure("server", "localhost.localdomain", "hostname mismatch");
    tx_tls_ctx_t *ctx = client_ctx();
    SSL_CTX *sctx = server_ctx("wronghost", 0);
    const char *names[] = {"wrong.example", "WRONG.example", "wrong.example."};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        pair_t *p = pair_new(sctx, tx__tls_new(ctx, names[i], NULL));
        pump(p);
        assert_true(tx__tls_handshake_done(p->c));
        assert_null(tx__tls_error(p->c));
        assert_string_equal(SSL_get_servername(p->s, TLSEXT_NAMETYPE_host_name),
                            i == 1 ? "WRONG.example" : "wrong.example");
        pair_free(p);
    }
    SSL_CTX_free(sctx);
    tx__tls_ctx_free(ctx);
}

static void ip_literal(void **state)
{
    (void)state;
    tx_tls_ctx_t *ctx = client_ctx();
    SSL_CTX *sctx = server_ctx("server", 0);
    const char *hosts[] = {"127.0.0.1", "::1", "[::1]"};
    for (size_t i = 0; i < sizeof hosts / sizeof *hosts; i++) {
        pair_t *p = pair_new(sctx, tx__tls_new(ctx, hosts[i], NULL));
        pump(p);
        assert_true(tx__tls_handshake_done(p->c));
        assert_null(tx__tls_error(p->c));
        assert_null(SSL_get_servername(p->s, TLSEXT_NAMETYPE_host_name)); /* no SNI */
        pair_free(p);
    }
    SSL_CTX_free(sctx);
    tx__tls_ctx_free(ctx);
    expect_verify_failure("server", "127.0.0.2", "IP address mismatch");
    expect_verify_failure("wronghost", "127.0.0.1", "IP address mismatch");
}

/* One handshake on `sctx` as `host` with `key`; returns whether it resumed. */
static int connect_once(tx_tls_ctx_t *ctx, SSL_CTX *sctx, const char *host, const char *key)
{
    pair_t *p = pair_new(sctx, tx__tls_new(ctx, host, key));
    pump(p); /* pump also reads on the client: TLS 1.3 tickets are processed there */
    assert_true(tx__tls_handshake_done(p->c));
    assert_null(tx__tls_error(p->c));
    int reused = tx__tls_reused(p->c);
    assert_int_equal(reused, SSL_session_reused(p->s));
    pair_free(p);
    return reused;
}

static void session_resumed(void **state)
{
    (void)state;
    const int versions[] = {0, TLS1_2_VERSION};
    for (size_t v = 0; v < 2; v++) {
        tx_tls_ctx_t *ctx = client_ctx();
        SSL_CTX *sctx = server_ctx("server", versions[v]);
        const char *k = "https://localhost:8443";
        assert_false(connect_once(ctx, sctx, "localhost", k));
        assert_true(connect_once(ctx, sctx, "localhost", k));
        assert_true(connect_once(ctx, sctx, "localhost", k));
        assert_false(connect_once(ctx, sctx, "localhost", "https://localhost:9443"));
        assert_false(connect_once(ctx, sctx, "localhost", NULL));
        /* sessions are keyed by host too: never offered to another name */
        assert_false(connect_once(ctx, sctx, "127.0.0.1", k));
        assert_true(connect_once(ctx, sctx, "127.0.0.1", k));
        assert_true(connect_once(ctx, sctx, "localhost", k));
        SSL_CTX_free(sctx);
        tx__tls_ctx_free(ctx);
    }
}

/* A session survives a clean end, our close and a bare EOF, not a TLS failure. */
static void session_after_failure(void **state)
{
    (void)state;
    tx_tls_ctx_t *ctx = client_ctx();
    SSL_CTX *sctx = server_ctx("server", 0);
    const char *k = "https://localhost";
    char b[64];
    assert_false(connect_once(ctx, sctx, "localhost", k));

    pair_t *p = pair_new(sctx, tx__tls_new(ctx, "localhost", k)); /* a bare EOF */
    pump(p);
    assert_true(tx__tls_reused(p->c));
    tx__tls_eof(p->c);
    assert_int_equal(tx__tls_read(p->c, b, sizeof b), TX_TLS_ETRUNC);
    pair_free(p);
    assert_true(connect_once(ctx, sctx, "localhost", k));

    p = pair_new(sctx, tx__tls_new(ctx, "localhost", k)); /* the server's close_notify */
    pump(p);
    assert_true(tx__tls_reused(p->c));
    SSL_shutdown(p->s);
    pump(p);
    assert_int_equal(p->crc, TX_TLS_EOF);
    pair_free(p);
    assert_true(connect_once(ctx, sctx, "localhost", k));

    p = pair_new(sctx, tx__tls_new(ctx, "localhost", k)); /* a corrupted record */
    pump(p);
    assert_true(tx__tls_reused(p->c));
    server_write(p, "hello", 5);
    char rec[256];
    int n = BIO_read(p->sout, rec, sizeof rec);
    assert_true(n > 10);
    rec[n - 1] ^= 1;
    assert_int_equal(tx__tls_feed(p->c, rec, (size_t)n), 0);
    assert_int_equal(tx__tls_read(p->c, b, sizeof b), TX_TLS_EPROTO);
    pair_free(p);
    assert_false(connect_once(ctx, sctx, "localhost", k)); /* forgotten */
    assert_true(connect_once(ctx, sctx, "localhost", k));
    SSL_CTX_free(sctx);
    tx__tls_ctx_free(ctx);
}

static void session_cache_evicts_lru(void **state)
{
    (void)state;
    tx_tls_ctx_t *ctx = client_ctx();
    SSL_CTX *sctx = server_ctx("server", 0);
    char key[32];
    for (int i = 0; i < TX_TLS_SESSION_CACHE; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_false(connect_once(ctx, sctx, "localhost", key));
    }
    assert_true(connect_once(ctx, sctx, "localhost", "k0"));   /* k1 is now the oldest */
    assert_false(connect_once(ctx, sctx, "localhost", "new")); /* evicts k1 */
    assert_true(connect_once(ctx, sctx, "localhost", "k0"));
    assert_true(connect_once(ctx, sctx, "localhost", "k2"));
    assert_false(connect_once(ctx, sctx, "localhost", "k1"));
    SSL_CTX_free(sctx);
    tx__tls_ctx_free(ctx);
}

static void fill(char *buf, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        buf[i] = (char)(seed >> 24);
    }
}

static void exchange_in_pieces(size_t piece_size, int tls12)
{
    tx_tls_ctx_t *ctx = client_ctx();
    SSL_CTX *sctx = server_ctx("server", tls12 ? TLS1_2_VERSION : 0);
    pair_t *p = pair_new(sctx, tx__tls_new(ctx, "localhost", NULL));
    p->piece = piece_size;
    enum { N = 150000 };
    static char up[N], down[N];
    fill(up, N, 1);
    fill(down, N, 2);
    size_t off = 0, w = 1;
    while (off < N) { /* client writes of 1, 2, 3, ... bytes, some before the handshake ends */
        size_t n = w < N - off ? w : N - off;
        assert_int_equal(tx__tls_write(p->c, up + off, n), 0);
        off += n;
        w = w * 3 % 4099 + 1;
        if (off > 2000) pump(p);
    }
    for (off = 0, w = 7; off < N;) {
        size_t n = w < N - off ? w : N - off;
        server_write(p, down + off, n);
        off += n;
        w = w * 5 % 20011 + 1;
        pump(p);
    }
    pump(p);
    assert_int_equal(p->crc, 0);
    assert_int_equal(p->s_err, 0);
    assert_int_equal(p->sgot_n, N);
    assert_memory_equal(p->sgot, up, N);
    assert_int_equal(p->cgot_n, N);
    assert_memory_equal(p->cgot, down, N);
    pair_free(p);
    SSL_CTX_free(sctx);
    tx__tls_ctx_free(ctx);
}

static void data_in_small_pieces(void **state)
{
    (void)state;
    exchange_in_pieces(1, 0);
    exchange_in_pieces(1, 1);
    exchange_in_pieces(7, 0);
    exchange_in_pieces(0, 0); /* pseudo-random pieces */
}

static pair_t *open_pair(tx_tls_ctx_t *ctx, SSL_CTX *sctx)
{
    pair_t *p = pair_new(sctx, tx__tls_new(ctx, "localhost", NULL));
    pump(p);
    assert_true(tx__tls_handshake_done(p->c));
    return p;
}

static void close_notify_vs_eof(void **state)
{
    (void)state;
    tx_tls_ctx_t *ctx = client_ctx();
    SSL_CTX *sctx = server_ctx("server", 0);
    char b[64];

    /* close_notify after the data: a clean end, even once the socket reports EOF */
    pair_t *p = open_pair(ctx, sctx);
    server_write(p, "bye", 3);
    SSL_shutdown(p->s);
    pump(p);
    assert_int_equal(p->cgot_n, 3);
    assert_memory_equal(p->cgot, "bye", 3);
    assert_int_equal(p->crc, TX_TLS_EOF);
    assert_true(tx__tls_close_notify_seen(p->c));
    assert_null(tx__tls_error(p->c));
    tx__tls_eof(p->c);
    assert_int_equal(tx__tls_read(p->c, b, sizeof b), TX_TLS_EOF);
    pair_free(p);

    /* a bare EOF after whole records: the data, then TX_TLS_ETRUNC */
    p = open_pair(ctx, sctx);
    server_write(p, "partial", 7);
    pump(p);
    assert_int_equal(p->cgot_n, 7);
    assert_int_equal(p->crc, 0);
    assert_false(tx__tls_close_notify_seen(p->c));
    assert_int_equal(tx__tls_read(p->c, b, sizeof b), 0);
    tx__tls_eof(p->c);
    assert_int_equal(tx__tls_read(p->c, b, sizeof b), TX_TLS_ETRUNC);
    assert_string_equal(tx__tls_error(p->c), "unexpected EOF without close_notify");
    pair_free(p);

    /* EOF in the middle of a record: the half record is never returned */
    p = open_pair(ctx, sctx);
    server_write(p, "0123456789", 10);
    char rec[256];
    int n = BIO_read(p->sout, rec, sizeof rec);
    assert_true(n > 10);
    assert_int_equal(tx__tls_feed(p->c, rec, (size_t)n - 3), 0);
    assert_int_equal(tx__tls_read(p->c, b, sizeof b), 0);
    tx__tls_eof(p->c);
    assert_int_equal(tx__tls_read(p->c, b, sizeof b), TX_TLS_ETRUNC);
    pair_free(p);

    /* EOF during the handshake */
    p = pair_new(sctx, tx__tls_new(ctx, "localhost", NULL));
    tx__tls_eof(p->c);
    assert_int_equal(tx__tls_feed(p->c, "x", 1), TX_TLS_EINVAL); /* no input after EOF */
    assert_int_equal(tx__tls_read(p->c, b, sizeof b), TX_TLS_ETRUNC);
    assert_false(tx__tls_handshake_done(p->c));
    assert_string_equal(tx__tls_error(p->c), "handshake failed: unexpected EOF");
    pair_free(p);

    /* our close_notify reaches the server after the data; writes are refused after it */
    p = open_pair(ctx, sctx);
    assert_int_equal(tx__tls_write(p->c, "last", 4), 0);
    assert_int_equal(tx__tls_close(p->c), 0);
    assert_int_equal(tx__tls_write(p->c, "more", 4), TX_TLS_EINVAL);
    pump(p);
    assert_int_equal(p->sgot_n, 4);
    assert_true(p->s_closed);
    pair_free(p);

    /* tx__tls_close before the handshake ends: queued data, then close_notify */
    p = pair_new(sctx, tx__tls_new(ctx, "localhost", NULL));
    assert_int_equal(tx__tls_write(p->c, "early", 5), 0);
    assert_int_equal(tx__tls_close(p->c), 0);
    pump(p);
    assert_int_equal(p->sgot_n, 5);
    assert_memory_equal(p->sgot, "early", 5);
    assert_true(p->s_closed);
    pair_free(p);

    SSL_CTX_free(sctx);
    tx__tls_ctx_free(ctx);
}

/* A plain OpenSSL client against `sctx`; returns whether the handshake completed. */
static int raw_client_handshake(SSL_CTX *cctx, SSL_CTX *sctx)
{
    SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
    BIO *c2s = BIO_new(BIO_s_mem()), *s2c = BIO_new(BIO_s_mem());
    BIO_up_ref(c2s);
    BIO_up_ref(s2c);
    SSL_set_bio(c, s2c, c2s);
    SSL_set_bio(s, c2s, s2c);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    int cd = 0, sd = 0;
    for (int i = 0; i < 20 && !(cd == 1 && sd == 1); i++) {
        if (cd != 1) cd = SSL_do_handshake(c);
        if (sd != 1) sd = SSL_do_handshake(s);
    }
    ERR_clear_error();
    SSL_free(c);
    SSL_free(s);
    return cd == 1 && sd == 1;
}

static void tls11_server_refused(void **state)
{
    (void)state;
    SSL_CTX *sctx = server_ctx("server", TLS1_1_VERSION);
    /* control: the server does speak TLS 1.1 to a client that allows it */
    SSL_CTX *old = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_security_level(old, 0);
    assert_int_equal(SSL_CTX_set_min_proto_version(old, TLS1_VERSION), 1);
    assert_int_equal(SSL_CTX_set_max_proto_version(old, TLS1_1_VERSION), 1);
    assert_int_equal(SSL_CTX_set_cipher_list(old, "DEFAULT:@SECLEVEL=0"), 1);
    assert_true(raw_client_handshake(old, sctx));
    SSL_CTX_free(old);

    tx_tls_ctx_t *ctx = client_ctx();
    pair_t *p = pair_new(sctx, tx__tls_new(ctx, "localhost", NULL));
    pump(p);
    assert_int_equal(p->crc, TX_TLS_EPROTO);
    assert_false(tx__tls_handshake_done(p->c));
    assert_string_equal(tx__tls_error(p->c), "handshake failed: tlsv1 alert protocol version");
    pair_free(p);
    SSL_CTX_free(sctx);
    tx__tls_ctx_free(ctx);
}

static void renegotiation_refused(void **state)
{
    (void)state;
    tx_tls_ctx_t *ctx = client_ctx();
    SSL_CTX *sctx = server_ctx("server", TLS1_2_VERSION);
    pair_t *p = open_pair(ctx, sctx);
    assert_string_equal(tx__tls_version(p->c), "TLSv1.2");
    assert_int_equal(SSL_renegotiate(p->s), 1);
    SSL_do_handshake(p->s); /* sends HelloRequest */
    ERR_clear_error();
    assert_true(BIO_ctrl_pending(p->sout) > 0);
    pump(p);
    /* the client answered with a no_renegotiation alert, not a ClientHello: the server gives
     * up (OpenSSL servers treat that alert as fatal) and the client sees the server's alert */
    assert_int_equal(p->s_err, SSL_ERROR_SSL);
    assert_int_equal(p->s_reason, SSL_R_NO_RENEGOTIATION);
    assert_int_equal(p->crc, TX_TLS_EPROTO);
    assert_string_equal(tx__tls_error(p->c), "TLS failed: sslv3 alert handshake failure");
    pair_free(p);
    SSL_CTX_free(sctx);
    tx__tls_ctx_free(ctx);
}

static void garbage_from_server(void **state)
{
    (void)state;
    tx_tls_ctx_t *ctx = client_ctx();
    /* an HTTP answer where the ServerHello should be */
    tx_tls_t *t = tx__tls_new(ctx, "localhost", "k");
    assert_non_null(t);
    char out[4096];
    assert_true(tx__tls_take(t, out, sizeof out) > 0);
    static const char http[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(tx__tls_feed(t, http, sizeof http - 1), TX_TLS_EPROTO);
    assert_string_equal(tx__tls_error(t), "handshake failed: wrong version number");
    assert_int_equal(tx__tls_read(t, out, sizeof out), TX_TLS_EPROTO);
    assert_int_equal(tx__tls_write(t, "x", 1), TX_TLS_EPROTO);
    assert_false(tx__tls_handshake_done(t));
    tx__tls_free(t);

    /* random bytes after a good handshake */
    SSL_CTX *sctx = server_ctx("server", 0);
    pair_t *p = open_pair(ctx, sctx);
    char junk[512];
    fill(junk, sizeof junk, 99);
    int rc = tx__tls_feed(p->c, junk, sizeof junk);
    assert_int_equal(rc, 0); /* records are only parsed by read */
    assert_int_equal(tx__tls_read(p->c, out, sizeof out), TX_TLS_EPROTO);
    assert_non_null(strstr(tx__tls_error(p->c), "TLS failed: "));
    assert_true(tx__tls_pending(p->c) > 0); /* an alert for the server */
    pair_free(p);

    /* a record whose bytes were flipped in transit */
    p = open_pair(ctx, sctx);
    server_write(p, "hello", 5);
    char rec[256];
    int n = BIO_read(p->sout, rec, sizeof rec);
    assert_true(n > 10);
    rec[n - 2] ^= 0x40;
    assert_int_equal(tx__tls_feed(p->c, rec, (size_t)n), 0);
    assert_int_equal(tx__tls_read(p->c, out, sizeof out), TX_TLS_EPROTO);
    assert_non_null(tx__tls_error(p->c));
    pair_free(p);
    SSL_CTX_free(sctx);
    tx__tls_ctx_free(ctx);
}

/* Whole TLS records in `n` bytes of ciphertext: how many, and whether they end exactly at n. */
static size_t records(const char *c, size_t n, int *whole)
{
    const unsigned char *p = (const unsigned char *)c;
    size_t count = 0, off = 0;
    while (off + 5 <= n) {
        size_t len = (size_t)p[off + 3] << 8 | p[off + 4];
        if (off + 5 + len > n) break;
        off += 5 + len;
        count++;
    }
    *whole = off == n;
    return count;
}

/* Writes `nv` pieces with tx__tls_writev on an open connection; checks the number of records it
 * made and that the server reads the pieces back to back. */
static void writev_case(tx_tls_ctx_t *ctx, SSL_CTX *sctx, const size_t *lens, size_t nv,
                        size_t want_records)
{
    pair_t *p = open_pair(ctx, sctx);
    struct iovec v[8];
    static char data[8][70000];
    size_t total = 0;
    assert_true(nv <= 8);
    for (size_t i = 0; i < nv; i++) {
        assert_true(lens[i] <= sizeof data[i]);
        fill(data[i], lens[i], (uint32_t)(i + 7));
        v[i].iov_base = data[i];
        v[i].iov_len = lens[i];
        total += lens[i];
    }
    assert_int_equal(tx__tls_pending(p->c), 0);
    assert_int_equal(tx__tls_writev(p->c, v, nv), 0);
    size_t n;
    const char *out = tx__tls_output(p->c, &n);
    assert_int_equal(n, tx__tls_pending(p->c));
    int whole;
    assert_int_equal(records(out, n, &whole), want_records);
    assert_true(whole);
    pump(p);
    assert_int_equal(p->s_err, 0);
    assert_int_equal(p->sgot_n, total);
    size_t off = 0;
    for (size_t i = 0; i < nv; i++) {
        assert_memory_equal(p->sgot + off, data[i], lens[i]);
        off += lens[i];
    }
    pair_free(p);
}

static void writev_fills_records(void **state)
{
    (void)state;
    tx_tls_ctx_t *ctx = client_ctx();
    for (int tls12 = 0; tls12 < 2; tls12++) {
        SSL_CTX *sctx = server_ctx("server", tls12 ? TLS1_2_VERSION : 0);
        /* a request's head and body: one record, where two writes make two */
        const size_t req[] = {180, 260};
        writev_case(ctx, sctx, req, 2, 1);
        pair_t *p = open_pair(ctx, sctx);
        static char head[180], body[260];
        assert_int_equal(tx__tls_write(p->c, head, sizeof head), 0);
        assert_int_equal(tx__tls_write(p->c, body, sizeof body), 0);
        size_t n;
        int whole;
        const char *out = tx__tls_output(p->c, &n);
        assert_int_equal(records(out, n, &whole), 2);
        pair_free(p);
        /* empty pieces are skipped; one piece goes as it is */
        const size_t gaps[] = {0, 100, 0, 0, 5, 0};
        writev_case(ctx, sctx, gaps, 6, 1);
        const size_t one[] = {0, 40000, 0};
        writev_case(ctx, sctx, one, 3, 3);
        /* full records from the stage and straight from the caller's memory, the last short */
        const size_t mixed[] = {100, 40000, 3, 0, 20000};
        writev_case(ctx, sctx, mixed, 5, 4); /* 60103 bytes: 4 records */
        const size_t exact[] = {16384, 16384, 16383, 1};
        writev_case(ctx, sctx, exact, 4, 3); /* 3 x 16384 */
        const size_t across[] = {16383, 2, 16383};
        writev_case(ctx, sctx, across, 3, 2);
        const size_t big_first[] = {65536 + 7, 9};
        writev_case(ctx, sctx, big_first, 2, 5);
        SSL_CTX_free(sctx);
    }
    tx__tls_ctx_free(ctx);
}

static void writev_states(void **state)
{
    (void)state;
    tx_tls_ctx_t *ctx = client_ctx();
    SSL_CTX *sctx = server_ctx("server", 0);
    /* before the handshake ends: queued in order, sent once it is done */
    pair_t *p = pair_new(sctx, tx__tls_new(ctx, "localhost", NULL));
    struct iovec v[3] = {{"head|", 5}, {"", 0}, {"body", 4}};
    assert_int_equal(tx__tls_writev(p->c, v, 3), 0);
    assert_int_equal(tx__tls_write(p->c, "|more", 5), 0);
    pump(p);
    assert_true(tx__tls_handshake_done(p->c));
    assert_int_equal(p->sgot_n, 14);
    assert_memory_equal(p->sgot, "head|body|more", 14);
    /* after close: refused; nothing written */
    assert_int_equal(tx__tls_close(p->c), 0);
    assert_int_equal(tx__tls_writev(p->c, v, 3), TX_TLS_EINVAL);
    pair_free(p);
    /* a failed connection: its code */
    p = pair_new(sctx, tx__tls_new(ctx, "localhost", NULL));
    assert_int_equal(tx__tls_feed(p->c, "HTTP/1.1 400 Bad\r\n\r\n", 20), TX_TLS_EPROTO);
    assert_int_equal(tx__tls_writev(p->c, v, 3), TX_TLS_EPROTO);
    pair_free(p);
    SSL_CTX_free(sctx);
    tx__tls_ctx_free(ctx);
}

/* Ciphertext taken in place: consumed in parts, the rest taken with a copy, all of it in order. */
static void output_in_place(void **state)
{
    (void)state;
    tx_tls_ctx_t *ctx = client_ctx();
    SSL_CTX *sctx = server_ctx("server", 0);
    pair_t *p = open_pair(ctx, sctx);
    size_t n;
    assert_null(tx__tls_output(p->c, &n));
    assert_int_equal(n, 0);
    static char msg[3000];
    fill(msg, sizeof msg, 5);
    assert_int_equal(tx__tls_write(p->c, msg, sizeof msg), 0);
    const char *out = tx__tls_output(p->c, &n);
    assert_non_null(out);
    assert_true(n > sizeof msg);
    static char all[4096];
    assert_true(n <= sizeof all);
    memcpy(all, out, n);
    size_t total = n, got = 0;
    char *copy = malloc(total);
    assert_non_null(copy);
    while (got < 100) { /* as a socket taking a few bytes at a time */
        out = tx__tls_output(p->c, &n);
        memcpy(copy + got, out, 7);
        tx__tls_consume(p->c, 7);
        got += 7;
        assert_int_equal(tx__tls_pending(p->c), total - got);
    }
    got += tx__tls_take(p->c, copy + got, total - got);
    assert_int_equal(got, total);
    assert_memory_equal(copy, all, total);
    tx__tls_consume(p->c, 5); /* nothing waits: no-op */
    assert_int_equal(tx__tls_pending(p->c), 0);
    assert_int_equal(BIO_write(p->sin, copy, (int)total), (int)total);
    free(copy);
    pump(p);
    assert_int_equal(p->sgot_n, sizeof msg);
    assert_memory_equal(p->sgot, msg, sizeof msg);
    /* consuming more than waits drops all of it */
    assert_int_equal(tx__tls_write(p->c, "x", 1), 0);
    tx__tls_consume(p->c, 1 << 20);
    assert_int_equal(tx__tls_pending(p->c), 0);
    pair_free(p);
    SSL_CTX_free(sctx);
    tx__tls_ctx_free(ctx);
}

/* Three records from the server, fed in two parts split at every byte: the plaintext comes out
 * whole and in order, whatever the split, and nothing is returned before its record is whole. */
static void records_split_everywhere(void **state)
{
    (void)state;
    tx_tls_ctx_t *ctx = client_ctx();
    SSL_CTX *sctx = server_ctx("server", 0);
    static const char *msgs[] = {"a", "second record", "the third record, a little longer"};
    size_t want = 0;
    char plain[128];
    for (size_t m = 0; m < 3; m++) {
        memcpy(plain + want, msgs[m], strlen(msgs[m]));
        want += strlen(msgs[m]);
    }
    size_t total = 0;
    for (size_t split = 0;; split++) {
        pair_t *p = pair_new(sctx, tx__tls_new(ctx, "localhost", "split"));
        pump(p);
        assert_true(tx__tls_handshake_done(p->c));
        for (size_t m = 0; m < 3; m++)
            server_write(p, msgs[m], strlen(msgs[m]));
        char rec[1024];
        int n = BIO_read(p->sout, rec, sizeof rec);
        assert_true(n > 0 && BIO_ctrl_pending(p->sout) == 0);
        if (total == 0) total = (size_t)n;
        assert_int_equal((size_t)n, total); /* the same records each time */
        int whole;
        assert_int_equal(records(rec, total, &whole), 3);
        assert_int_equal(tx__tls_feed(p->c, rec, split), 0);
        client_drain(p);
        size_t first = p->cgot_n;
        assert_int_equal(p->crc, 0);
        assert_int_equal(records(rec, split, &whole) == 0 ? 0 : 1, first > 0); /* whole ones only */
        assert_int_equal(tx__tls_feed(p->c, rec + split, total - split), 0);
        client_drain(p);
        assert_int_equal(p->crc, 0);
        assert_int_equal(p->cgot_n, want);
        assert_memory_equal(p->cgot, plain, want);
        assert_false(tx__tls_has_input(p->c));
        pair_free(p);
        if (split == total) break;
    }
    SSL_CTX_free(sctx);
    tx__tls_ctx_free(ctx);
}

/* Connections of one context share its ciphertext buffers: bytes one of them leaves there (half
 * a record fed, output not yet taken) survive other connections' traffic, and a connection freed
 * while it owns them leaves nothing behind. */
static void connections_share_buffers(void **state)
{
    (void)state;
    tx_tls_ctx_t *ctx = client_ctx();
    SSL_CTX *sctx = server_ctx("server", 0);
    pair_t *a = open_pair(ctx, sctx), *b = open_pair(ctx, sctx);
    static const char to_a[] = "response for a, in one record";
    static const char to_b[] = "response for b";
    char rec[512];

    server_write(a, to_a, sizeof to_a - 1);
    int na = BIO_read(a->sout, rec, sizeof rec);
    assert_true(na > 20);
    assert_int_equal(tx__tls_feed(a->c, rec, 10), 0); /* half a record: waits in the buffer */
    client_drain(a);
    assert_int_equal(a->cgot_n, 0);
    assert_true(tx__tls_has_input(a->c));
    assert_int_equal(tx__tls_write(a->c, "request a", 9), 0); /* output not taken yet */
    size_t pa = tx__tls_pending(a->c);
    assert_true(pa > 9);

    server_write(b, to_b, sizeof to_b - 1); /* b's traffic both ways meanwhile */
    pump(b);
    assert_int_equal(b->cgot_n, sizeof to_b - 1);
    assert_memory_equal(b->cgot, to_b, sizeof to_b - 1);
    assert_int_equal(tx__tls_write(b->c, "request b", 9), 0);
    assert_int_equal(tx__tls_pending(a->c), pa); /* a's output is still whole */
    pump(b);
    assert_int_equal(b->sgot_n, 9);
    assert_memory_equal(b->sgot, "request b", 9);

    assert_int_equal(tx__tls_feed(a->c, rec + 10, (size_t)na - 10), 0); /* the rest of a's */
    client_drain(a);
    assert_int_equal(a->crc, 0);
    assert_int_equal(a->cgot_n, sizeof to_a - 1);
    assert_memory_equal(a->cgot, to_a, sizeof to_a - 1);
    pump(a);
    assert_int_equal(a->s_err, 0);
    assert_int_equal(a->sgot_n, 9);
    assert_memory_equal(a->sgot, "request a", 9);

    /* a leaves output and half a record behind and is freed; b carries on */
    assert_int_equal(tx__tls_write(a->c, "never sent", 10), 0);
    server_write(a, "x", 1);
    na = BIO_read(a->sout, rec, sizeof rec);
    assert_int_equal(tx__tls_feed(a->c, rec, 4), 0);
    pair_free(a);
    assert_int_equal(tx__tls_pending(b->c), 0);
    assert_false(tx__tls_has_input(b->c));
    server_write(b, "more", 4);
    assert_int_equal(tx__tls_write(b->c, "again", 5), 0);
    pump(b);
    assert_int_equal(b->crc, 0);
    assert_int_equal(b->cgot_n, sizeof to_b - 1 + 4);
    assert_memory_equal(b->cgot + sizeof to_b - 1, "more", 4);
    assert_int_equal(b->sgot_n, 14);
    assert_memory_equal(b->sgot, "request bagain", 14);
    pair_free(b);
    SSL_CTX_free(sctx);
    tx__tls_ctx_free(ctx);
}

static void context_errors(void **state)
{
    (void)state;
    char err[256];
    char missing[PATH_MAX + 32];
    snprintf(missing, sizeof missing, "%s/no-such-ca.pem", certdir);
    assert_null(tx__tls_ctx_new(missing, err, sizeof err));
    assert_non_null(strstr(err, "cannot load CA file "));
    assert_non_null(strstr(err, missing));
    assert_null(tx__tls_ctx_new(cert("server.key"), err, sizeof err)); /* not a certificate */
    assert_non_null(strstr(err, "cannot load CA file"));

    tx_tls_ctx_t *sys = tx__tls_ctx_new(NULL, err, sizeof err); /* the system store */
    assert_non_null(sys);
    /* the system store does not know the test CA */
    SSL_CTX *sctx = server_ctx("server", 0);
    pair_t *p = pair_new(sctx, tx__tls_new(sys, "localhost", NULL));
    pump(p);
    assert_int_equal(p->crc, TX_TLS_EVERIFY);
    pair_free(p);

    assert_null(tx__tls_new(sys, "", NULL));
    assert_null(tx__tls_new(sys, NULL, NULL));
    tx__tls_ctx_free(sys);
    tx__tls_ctx_free(NULL);
    tx__tls_free(NULL);

    /* a context freed while a connection lives: the connection still completes and caches */
    tx_tls_ctx_t *ctx = client_ctx();
    p = pair_new(sctx, tx__tls_new(ctx, "localhost", "k"));
    tx__tls_ctx_free(ctx);
    pump(p);
    assert_true(tx__tls_handshake_done(p->c));
    pair_free(p);
    SSL_CTX_free(sctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_certificate),
        cmocka_unit_test(tls12_server),
        cmocka_unit_test(untrusted_certificate),
        cmocka_unit_test(wrong_host_name),
        cmocka_unit_test(ip_literal),
        cmocka_unit_test(session_resumed),
        cmocka_unit_test(session_after_failure),
        cmocka_unit_test(session_cache_evicts_lru),
        cmocka_unit_test(data_in_small_pieces),
        cmocka_unit_test(close_notify_vs_eof),
        cmocka_unit_test(tls11_server_refused),
        cmocka_unit_test(renegotiation_refused),
        cmocka_unit_test(garbage_from_server),
        cmocka_unit_test(context_errors),
        cmocka_unit_test(writev_fills_records),
        cmocka_unit_test(writev_states),
        cmocka_unit_test(output_in_place),
        cmocka_unit_test(records_split_everywhere),
        cmocka_unit_test(connections_share_buffers),
    };
    return cmocka_run_group_tests(tests, tls_certs_make, tls_certs_remove);
}
