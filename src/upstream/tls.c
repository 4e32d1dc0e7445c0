/* Client TLS over OpenSSL with a BIO of our own: the handshake and records run on bytes the
 * caller moves, so this file never touches a socket, a clock beyond time() for session expiry, or
 * a lock. The BIO reads and writes plain byte buffers, shared by the connections of a context
 * (no BIO_s_mem: its BUF_MEM bookkeeping and the BIO_ctrl calls to ask what it holds cost more
 * than the copies, and two of them per connection stay allocated while it idles). */
#include "upstream/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

typedef struct {
    char *key; /* "host\nsession_key" */
    SSL_SESSION *sess;
    uint64_t used;
} slot_t;

/* The largest record plaintext (SSL3_RT_MAX_PLAIN_LENGTH): writes are grouped into records of
 * this size, one SSL_write each. */
#define REC_MAX 16384

/* Bytes p[off, off + len) of a buffer of cap bytes; emptied, it keeps its memory when cap <= keep
 * (0 for a connection's own buffer, which only ever holds leftovers). */
typedef struct {
    char *p;
    size_t off, len, cap, keep;
} buf_t;

struct tx_tls_ctx {
    SSL_CTX *ssl;
    BIO_METHOD *bio; /* the connections' BIO: reads t->in, writes t->out */
    char *stage;     /* REC_MAX bytes: small pieces of one tx__tls_writev become one record */
    /* Ciphertext buffers the connections share: bytes come in, are taken by OpenSSL; OpenSSL's
     * records go out, are taken by the socket, mostly within one call. One connection owns each
     * at a time; another that needs it moves the owner's leftover bytes (a record cut by the
     * socket, what the socket did not take yet) into the owner's own buffer first. So the
     * common path touches the same warm memory for every connection, and an idle connection
     * keeps no ciphertext buffer of its own. */
    buf_t in, out;
    tx_tls_t *in_owner, *out_owner;
    unsigned refs; /* the caller's + one per connection */
    uint64_t tick;
    slot_t slots[TX_TLS_SESSION_CACHE];
};

typedef enum { ST_HANDSHAKE, ST_OPEN, ST_DONE } state_t;

struct tx_tls {
    tx_tls_ctx_t *ctx;
    SSL *ssl;
    buf_t *in;  /* ciphertext fed and not yet taken by OpenSSL: ctx->in or own_in */
    buf_t *out; /* ciphertext OpenSSL wrote, for the socket: ctx->out or own_out */
    buf_t own_in, own_out;
    int oom;     /* a buffer could not grow: OpenSSL's failure is out of memory */
    char *key;   /* session cache key, NULL: no resumption */
    char *queue; /* plaintext written before the handshake ended */
    size_t qlen, qcap;
    state_t state;
    int code;   /* sticky: TX_TLS_EOF or a failure, 0 while alive */
    int closed; /* tx__tls_close was called */
    int eof;    /* the socket has no more input */
    char alpn[32];
    char err[200];
};

/* ---- session cache ---------------------------------------------------------------------- */

static slot_t *cache_find(tx_tls_ctx_t *c, const char *key)
{
    for (size_t i = 0; i < TX_TLS_SESSION_CACHE; i++)
        if (c->slots[i].key && strcmp(c->slots[i].key, key) == 0) return &c->slots[i];
    return NULL;
}

static void slot_clear(slot_t *s)
{
    free(s->key);
    SSL_SESSION_free(s->sess);
    memset(s, 0, sizeof *s);
}

static int expired(SSL_SESSION *s)
{
    return (int64_t)SSL_SESSION_get_time(s) + (int64_t)SSL_SESSION_get_timeout(s) <=
           (int64_t)time(NULL);
}

/* OpenSSL's new-session callback (after a full handshake in TLS 1.2, for each ticket in 1.3):
 * keep the newest session per key. Returning 1 keeps OpenSSL's reference. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    tx_tls_t *t = SSL_get_app_data(ssl);
    if (t == NULL || t->key == NULL || !SSL_SESSION_is_resumable(sess)) return 0;
    tx_tls_ctx_t *c = t->ctx;
    slot_t *s = cache_find(c, t->key);
    if (s == NULL) {
        for (size_t i = 0; i < TX_TLS_SESSION_CACHE; i++) { /* a free slot, else the LRU one */
            if (c->slots[i].key == NULL) {
                s = &c->slots[i];
                break;
            }
            if (s == NULL || c->slots[i].used < s->used) s = &c->slots[i];
        }
        char *k = strdup(t->key);
        if (k == NULL) return 0;
        slot_clear(s);
        s->key = k;
    }
    SSL_SESSION_free(s->sess);
    s->sess = sess;
    s->used = ++c->tick;
    return 1;
}

/* ---- the BIO ---------------------------------------------------------------------------- */

/* The shared buffers keep their memory for the next request, up to this much (two of the
 * client's 64 KiB reads) when emptied. */
#define BUF_KEEP (128 * 1024)

static int buf_append(buf_t *b, const char *p, size_t n)
{
    if (b->len == 0) b->off = 0;
    if (n > b->cap - b->off - b->len) {
        if (b->off > 0) { /* slide the unread bytes down first */
            memmove(b->p, b->p + b->off, b->len);
            b->off = 0;
        }
        if (n > b->cap - b->len) {
            size_t cap = b->cap ? b->cap : 4096;
            while (cap - b->len < n) {
                if (cap > SIZE_MAX / 2) return -1;
                cap *= 2;
            }
            char *q = realloc(b->p, cap);
            if (q == NULL) return -1;
            b->p = q;
            b->cap = cap;
        }
    }
    memcpy(b->p + b->off + b->len, p, n);
    b->len += n;
    return 0;
}

/* Drops the first n bytes (n <= len). */
static void buf_drop(buf_t *b, size_t n)
{
    b->off += n;
    b->len -= n;
    if (b->len == 0) {
        b->off = 0;
        if (b->cap > b->keep) { /* a burst (a large body) does not pin its memory */
            free(b->p);
            b->p = NULL;
            b->cap = 0;
        }
    }
}

static void buf_free(buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->off = b->len = b->cap = 0;
}

/* The buffer t's next bytes go to: where its unread bytes are, else the shared one (its owner's
 * leftover moved out first; if that cannot be done, t's own). `shared`/`owner` are the context's
 * in or out pair, `own` t's own buffer, `cur` t->in or t->out. */
static buf_t *claim(tx_tls_t *t, buf_t **cur, buf_t *own, buf_t *shared, tx_tls_t **owner)
{
    if ((*cur)->len > 0 || *cur == shared) return *cur;
    tx_tls_t *u = *owner;
    if (u != NULL) {
        buf_t *uown = shared == &t->ctx->in ? &u->own_in : &u->own_out;
        buf_t **ucur = shared == &t->ctx->in ? &u->in : &u->out;
        if (shared->len > 0) {
            if (buf_append(uown, shared->p + shared->off, shared->len) != 0) return *cur;
            shared->off = shared->len = 0;
        }
        *ucur = uown;
    }
    buf_free(own);
    *owner = t;
    *cur = shared;
    return shared;
}

/* t is going: the shared buffers forget its bytes. */
static void release(tx_tls_t *t)
{
    tx_tls_ctx_t *c = t->ctx;
    if (c->in_owner == t) {
        c->in_owner = NULL;
        c->in.off = c->in.len = 0;
    }
    if (c->out_owner == t) {
        c->out_owner = NULL;
        c->out.off = c->out.len = 0;
    }
}

/* OpenSSL reads ciphertext: what was fed, else "retry" (as an empty memory BIO: the end of the
 * socket is tx__tls_eof's business, not the BIO's). */
static int bio_read(BIO *bio, char *p, size_t n, size_t *got)
{
    tx_tls_t *t = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    buf_t *b = t->in;
    if (b->len == 0) {
        BIO_set_retry_read(bio);
        *got = 0;
        return 0;
    }
    if (n > b->len) n = b->len;
    memcpy(p, b->p + b->off, n);
    buf_drop(b, n);
    *got = n;
    return 1;
}

static int bio_write(BIO *bio, const char *p, size_t n, size_t *put)
{
    tx_tls_t *t = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    *put = 0;
    tx_tls_ctx_t *c = t->ctx;
    if (buf_append(claim(t, &t->out, &t->own_out, &c->out, &c->out_owner), p, n) != 0) {
        t->oom = 1;
        return 0;
    }
    *put = n;
    return 1;
}

static long bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    tx_tls_t *t = BIO_get_data(bio);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_PENDING:
        return (long)(t->in->len > LONG_MAX ? LONG_MAX : t->in->len);
    case BIO_CTRL_WPENDING:
        return (long)(t->out->len > LONG_MAX ? LONG_MAX : t->out->len);
    default:
        return 0;
    }
}

static int bio_create(BIO *bio)
{
    BIO_set_init(bio, 1);
    return 1;
}

/* ---- context ---------------------------------------------------------------------------- */

static void errtext(char *err, size_t errlen, const char *what, const char *arg)
{
    if (err == NULL || errlen == 0) return;
    unsigned long e = ERR_peek_last_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    snprintf(err, errlen, "%s%s%s: %s", what, arg ? " " : "", arg ? arg : "",
             why ? why : "unknown error");
}

tx_tls_ctx_t *tx__tls_ctx_new(const char *ca_file, char *err, size_t errlen)
{
    static const unsigned char alpn[] = "\x08http/1.1";
    if (err && errlen) err[0] = '\0';
    ERR_clear_error();
    tx_tls_ctx_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        if (err && errlen) snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->refs = 1;
    c->in.keep = c->out.keep = BUF_KEEP;
    if ((c->ssl = SSL_CTX_new(TLS_client_method())) == NULL) {
        errtext(err, errlen, "cannot create a TLS context", NULL);
        goto fail;
    }
    /* Raise the floor to TLS 1.2, never lower what the system configuration asks for. */
    long min = SSL_CTX_get_min_proto_version(c->ssl);
    if ((min == 0 || min < TLS1_2_VERSION) &&
        !SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION)) {
        errtext(err, errlen, "cannot set TLS 1.2 as the minimum", NULL);
        goto fail;
    }
    SSL_CTX_set_options(c->ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /* No SSL_MODE_RELEASE_BUFFERS: freeing and re-allocating the record buffers costs ~1.4k
     * instructions per small request; keeping them costs ~16 KiB per idle pooled connection,
     * and the pool is capped. */
    /* read_ahead: OpenSSL takes whatever was fed in one BIO read, not a record's header and
     * then its body (SSL_has_pending still counts what it took and did not decrypt yet). */
    SSL_CTX_set_read_ahead(c->ssl, 1);
    SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
    int ok = ca_file ? SSL_CTX_load_verify_locations(c->ssl, ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(c->ssl);
    if (!ok) {
        errtext(err, errlen, ca_file ? "cannot load CA file" : "cannot load the system CA store",
                ca_file);
        goto fail;
    }
    if (SSL_CTX_set_alpn_protos(c->ssl, alpn, sizeof alpn - 1) != 0) {
        errtext(err, errlen, "cannot set ALPN", NULL);
        goto fail;
    }
    SSL_CTX_set_session_cache_mode(c->ssl,
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c->ssl, on_new_session);
    if ((c->bio = BIO_meth_new(BIO_TYPE_SOURCE_SINK, "tenax tls")) == NULL ||
        !BIO_meth_set_read_ex(c->bio, bio_read) || !BIO_meth_set_write_ex(c->bio, bio_write) ||
        !BIO_meth_set_ctrl(c->bio, bio_ctrl) || !BIO_meth_set_create(c->bio, bio_create)) {
        errtext(err, errlen, "cannot create a TLS context", NULL);
        goto fail;
    }
    ERR_clear_error();
    return c;
fail:
    ERR_clear_error();
    BIO_meth_free(c->bio);
    SSL_CTX_free(c->ssl);
    free(c);
    return NULL;
}

static void ctx_unref(tx_tls_ctx_t *c)
{
    if (c == NULL || --c->refs > 0) return;
    for (size_t i = 0; i < TX_TLS_SESSION_CACHE; i++)
        slot_clear(&c->slots[i]);
    SSL_CTX_free(c->ssl);
    BIO_meth_free(c->bio); /* after the last connection's BIO */
    free(c->stage);
    buf_free(&c->in);
    buf_free(&c->out);
    free(c);
}

void tx__tls_ctx_free(tx_tls_ctx_t *c)
{
    ctx_unref(c);
}

/* ---- failures --------------------------------------------------------------------------- */

/* SSL_get_error needs an empty error queue before each call. Clearing costs ~800 instructions
 * (16 slots) even when empty; peeking is cheap, and the queue is almost always empty because
 * every failure path here clears it. */
static inline void err_reset(void)
{
    if (ERR_peek_error() != 0) ERR_clear_error();
}

static int fail(tx_tls_t *t, int code, const char *fmt, const char *arg)
{
    if (t->code == 0) {
        t->code = code;
        snprintf(t->err, sizeof t->err, fmt, arg);
    }
    free(t->queue);
    t->queue = NULL;
    t->qlen = t->qcap = 0;
    t->state = ST_DONE;
    ERR_clear_error();
    return t->code;
}

/* Turns an OpenSSL failure (SSL_get_error's `e`) into a code and a text that says why. */
static int fail_ssl(tx_tls_t *t, int e)
{
    if (t->oom) return fail(t, TX_TLS_ENOMEM, "%s", "out of memory");
    long vr = SSL_get_verify_result(t->ssl);
    if (vr != X509_V_OK)
        return fail(t, TX_TLS_EVERIFY, "certificate verify failed: %s",
                    X509_verify_cert_error_string(vr));
    const char *stage = t->state == ST_HANDSHAKE ? "handshake failed" : "TLS failed";
    char buf[160];
    unsigned long err = ERR_peek_error(); /* the first is the cause, later ones the context */
    if (err != 0) {
        if (ERR_GET_REASON(err) == ERR_R_MALLOC_FAILURE)
            return fail(t, TX_TLS_ENOMEM, "%s", "out of memory");
        const char *why = ERR_reason_error_string(err);
        snprintf(buf, sizeof buf, "%s: %s", stage, why ? why : "unknown error");
    } else if (t->eof) {
        snprintf(buf, sizeof buf, "%s: unexpected EOF", stage);
    } else {
        snprintf(buf, sizeof buf, "%s: error %d", stage, e);
    }
    return fail(t, TX_TLS_EPROTO, "%s", buf);
}

/* ---- connection ------------------------------------------------------------------------- */

static int encrypt(tx_tls_t *t, const char *p, size_t n)
{
    if (n == 0) return 0;
    err_reset();
    size_t w = 0;
    int r = SSL_write_ex(t->ssl, p, n, &w);
    if (r == 1 && w == n) return 0;
    return fail_ssl(t, SSL_get_error(t->ssl, r));
}

/* Runs the handshake as far as the input allows; on completion sends what was queued. */
static int advance(tx_tls_t *t)
{
    if (t->state != ST_HANDSHAKE) return t->code;
    err_reset();
    int r = SSL_do_handshake(t->ssl);
    if (r != 1) {
        int e = SSL_get_error(t->ssl, r);
        if (e != SSL_ERROR_WANT_READ) return fail_ssl(t, e);
        if (t->eof) return fail(t, TX_TLS_ETRUNC, "%s", "handshake failed: unexpected EOF");
        return 0;
    }
    t->state = ST_OPEN;
    const unsigned char *proto = NULL;
    unsigned plen = 0;
    SSL_get0_alpn_selected(t->ssl, &proto, &plen);
    if (proto && plen < sizeof t->alpn) memcpy(t->alpn, proto, plen);
    char *q = t->queue;
    size_t qlen = t->qlen;
    t->queue = NULL;
    t->qlen = t->qcap = 0;
    int rc = encrypt(t, q, qlen);
    free(q);
    if (rc == 0 && t->closed) {
        SSL_shutdown(t->ssl);
        ERR_clear_error();
    }
    return rc;
}

static int is_ip(const char *h)
{
    unsigned char a[16];
    return inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1;
}

tx_tls_t *tx__tls_new(tx_tls_ctx_t *ctx, const char *host, const char *session_key)
{
    if (ctx == NULL || host == NULL || host[0] == '\0') {
        errno = EINVAL;
        return NULL;
    }
    tx_tls_t *t = calloc(1, sizeof *t);
    char *name = NULL;
    if (t == NULL) return NULL;
    t->in = &t->own_in;
    t->out = &t->own_out;
    size_t hl = strlen(host);
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']')
        name = strndup(host + 1, hl - 2);
    else
        name = strdup(host);
    if (name == NULL) goto fail;
    size_t nl = strlen(name);
    if (nl > 1 && name[nl - 1] == '.') name[nl - 1] = '\0'; /* "example.com." names the same host */
    if (session_key) {
        size_t kl = strlen(name) + 1 + strlen(session_key) + 1;
        if ((t->key = malloc(kl)) == NULL) goto fail;
        snprintf(t->key, kl, "%s\n%s", name, session_key);
    }
    ERR_clear_error();
    if ((t->ssl = SSL_new(ctx->ssl)) == NULL) goto fail;
    BIO *bio = BIO_new(ctx->bio);
    if (bio == NULL) goto fail;
    BIO_set_data(bio, t);
    SSL_set_bio(t->ssl, bio, bio); /* one BIO both ways: the SSL owns its one reference */
    SSL_set_app_data(t->ssl, t);
    SSL_set_connect_state(t->ssl);
    if (is_ip(name)) {
        if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name)) goto fail;
    } else {
        SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (!SSL_set1_host(t->ssl, name) || !SSL_set_tlsext_host_name(t->ssl, name)) goto fail;
    }
    t->ctx = ctx;
    ctx->refs++;
    if (t->key) {
        slot_t *s = cache_find(ctx, t->key);
        if (s && (!SSL_SESSION_is_resumable(s->sess) || expired(s->sess))) {
            slot_clear(s);
        } else if (s && SSL_set_session(t->ssl, s->sess)) {
            s->used = ++ctx->tick;
        }
    }
    free(name);
    advance(t); /* writes the ClientHello; a failure here is reported by the next call */
    return t;
fail:
    ERR_clear_error();
    free(name);
    if (t->ssl) SSL_free(t->ssl);
    free(t->key);
    free(t);
    return NULL;
}

void tx__tls_free(tx_tls_t *t)
{
    if (t == NULL) return;
    /* OpenSSL drops the session of a connection freed without close_notify sent. Keep it when
     * nothing went wrong at the TLS level (an idle pooled connection, a server's bare close);
     * after a TLS failure let OpenSSL mark it unresumable, and the cache forgets it. */
    if (t->code == 0 || t->code == TX_TLS_EOF || t->code == TX_TLS_ETRUNC)
        SSL_set_shutdown(t->ssl, SSL_get_shutdown(t->ssl) | SSL_SENT_SHUTDOWN);
    release(t);
    SSL_free(t->ssl);
    ctx_unref(t->ctx);
    free(t->key);
    free(t->queue);
    buf_free(&t->own_in);
    buf_free(&t->own_out);
    free(t);
}

int tx__tls_feed(tx_tls_t *t, const char *cipher, size_t n)
{
    if (t->code) return t->code;
    if (t->eof) return TX_TLS_EINVAL;
    tx_tls_ctx_t *c = t->ctx;
    if (n > 0 && buf_append(claim(t, &t->in, &t->own_in, &c->in, &c->in_owner), cipher, n) != 0)
        return fail(t, TX_TLS_ENOMEM, "%s", "out of memory");
    return advance(t);
}

void tx__tls_eof(tx_tls_t *t)
{
    t->eof = 1;
}

ssize_t tx__tls_read(tx_tls_t *t, char *plain, size_t cap)
{
    if (t->code) return t->code;
    if (t->state == ST_HANDSHAKE) {
        int rc = advance(t);
        if (rc) return rc;
        if (t->state == ST_HANDSHAKE) return 0;
    }
    if (cap == 0) return 0;
    /* Nothing buffered, nothing to parse: skip a failing SSL_read (a third of a small read). */
    if (!t->eof && t->in->len == 0 && !SSL_has_pending(t->ssl)) return 0;
    err_reset();
    size_t got = 0;
    int r = SSL_read_ex(t->ssl, plain, cap > SSIZE_MAX ? SSIZE_MAX : cap, &got);
    if (r == 1) return (ssize_t)got;
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        if (!t->eof) return 0;
        return fail(t, TX_TLS_ETRUNC, "%s", "unexpected EOF without close_notify");
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
        t->code = TX_TLS_EOF;
        t->state = ST_DONE;
        return TX_TLS_EOF;
    }
    return fail_ssl(t, e);
}

/* Queues plaintext written before the handshake ended. */
static int enqueue(tx_tls_t *t, const char *plain, size_t n)
{
    if (n > t->qcap - t->qlen) {
        size_t cap = t->qcap ? t->qcap : 1024;
        while (cap - t->qlen < n) {
            if (cap > SIZE_MAX / 2) return fail(t, TX_TLS_ENOMEM, "%s", "out of memory");
            cap *= 2;
        }
        char *q = realloc(t->queue, cap);
        if (q == NULL) return fail(t, TX_TLS_ENOMEM, "%s", "out of memory");
        t->queue = q;
        t->qcap = cap;
    }
    if (n) memcpy(t->queue + t->qlen, plain, n);
    t->qlen += n;
    return 0;
}

int tx__tls_write(tx_tls_t *t, const char *plain, size_t n)
{
    if (t->code) return t->code;
    if (t->closed) return TX_TLS_EINVAL;
    if (t->state == ST_OPEN) return encrypt(t, plain, n);
    return enqueue(t, plain, n);
}

/* Every SSL_write makes at least one record, and a record costs about as much to seal as a few
 * KiB to copy: pieces are gathered into full records (REC_MAX bytes of plaintext, the last one
 * shorter) in the context's stage; a piece that starts a record and fills whole ones goes
 * straight from the caller's memory. */
int tx__tls_writev(tx_tls_t *t, const struct iovec *v, size_t nv)
{
    if (t->code) return t->code;
    if (t->closed) return TX_TLS_EINVAL;
    size_t live = 0; /* pieces with bytes */
    for (size_t i = 0; i < nv; i++)
        live += v[i].iov_len > 0;
    for (size_t i = 0; i < nv && (live <= 1 || t->state != ST_OPEN); i++) {
        int rc = tx__tls_write(t, v[i].iov_base, v[i].iov_len);
        if (rc != 0) return rc;
    }
    if (live <= 1 || t->state != ST_OPEN) return 0;
    tx_tls_ctx_t *c = t->ctx;
    if (c->stage == NULL && (c->stage = malloc(REC_MAX)) == NULL)
        return fail(t, TX_TLS_ENOMEM, "%s", "out of memory");
    size_t staged = 0;
    for (size_t i = 0; i < nv; i++) {
        const char *p = v[i].iov_base;
        size_t n = v[i].iov_len;
        while (n > 0) {
            size_t k;
            int rc = 0;
            if (staged == 0 && n >= REC_MAX) {
                k = n - n % REC_MAX;
                rc = encrypt(t, p, k);
            } else {
                k = REC_MAX - staged < n ? REC_MAX - staged : n;
                memcpy(c->stage + staged, p, k);
                staged += k;
                if (staged == REC_MAX) {
                    rc = encrypt(t, c->stage, staged);
                    staged = 0;
                }
            }
            if (rc != 0) return rc;
            p += k;
            n -= k;
        }
    }
    return encrypt(t, c->stage, staged);
}

size_t tx__tls_pending(tx_tls_t *t)
{
    return t->out->len;
}

size_t tx__tls_take(tx_tls_t *t, char *cipher, size_t cap)
{
    buf_t *b = t->out;
    size_t n = cap < b->len ? cap : b->len;
    if (n == 0) return 0;
    memcpy(cipher, b->p + b->off, n);
    buf_drop(b, n);
    return n;
}

const char *tx__tls_output(tx_tls_t *t, size_t *n)
{
    buf_t *b = t->out;
    *n = b->len;
    return b->len ? b->p + b->off : NULL;
}

void tx__tls_consume(tx_tls_t *t, size_t n)
{
    buf_drop(t->out, n < t->out->len ? n : t->out->len);
}

int tx__tls_close(tx_tls_t *t)
{
    if (t->code && t->code != TX_TLS_EOF) return t->code;
    if (t->closed) return 0;
    t->closed = 1;
    if (t->state == ST_HANDSHAKE) return 0; /* sent after the queued writes, once open */
    err_reset();
    SSL_shutdown(t->ssl); /* 0: ours sent, theirs not yet seen; both are fine here */
    ERR_clear_error();
    return 0;
}

int tx__tls_handshake_done(tx_tls_t *t)
{
    return SSL_is_init_finished(t->ssl) && t->code != TX_TLS_EVERIFY;
}

int tx__tls_reused(tx_tls_t *t)
{
    return tx__tls_handshake_done(t) && SSL_session_reused(t->ssl);
}

int tx__tls_has_input(tx_tls_t *t)
{
    return t->in->len > 0 || SSL_has_pending(t->ssl);
}

int tx__tls_close_notify_seen(tx_tls_t *t)
{
    return (SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN) != 0;
}

const char *tx__tls_version(tx_tls_t *t)
{
    return SSL_get_version(t->ssl);
}

const char *tx__tls_alpn(tx_tls_t *t)
{
    return t->alpn;
}

const char *tx__tls_error(tx_tls_t *t)
{
    return t->err[0] ? t->err : NULL;
}
