/* Client-side TLS for the upstream client, without I/O: OpenSSL over in-memory buffers. The caller
 * moves bytes between the socket and this engine (feed what it read, take what it must write);
 * the engine verifies the server (chain and host name, never off), speaks TLS 1.2 or 1.3 with ALPN
 * http/1.1, refuses renegotiation and resumes sessions per origin. One thread per context. */
#ifndef TX_UPSTREAM_TLS_H
#define TX_UPSTREAM_TLS_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Return codes (negative, so tx__tls_read can return byte counts). Not tx_err_t: a TLS failure
 * has one meaning for the caller (the connection is dead) and the text says the rest. */
#define TX_TLS_EOF (-1)     /* the server sent close_notify: a clean end of the stream */
#define TX_TLS_ETRUNC (-2)  /* the socket ended (tx__tls_eof) without close_notify */
#define TX_TLS_EVERIFY (-3) /* the server's certificate or host name did not verify */
#define TX_TLS_EPROTO (-4)  /* handshake or record failure, an alert, garbage from the peer */
#define TX_TLS_ENOMEM (-5)
#define TX_TLS_EINVAL (-6) /* a call that makes no sense in this state (write after close) */

/* Sessions kept per context (least recently used goes first). */
#define TX_TLS_SESSION_CACHE 64

typedef struct tx_tls_ctx tx_tls_ctx_t;
typedef struct tx_tls tx_tls_t;

/* A client context: TLS 1.2 minimum, peer verification against the PEM bundle `ca_file` (NULL:
 * OpenSSL's default paths, i.e. the system store), ALPN http/1.1, no renegotiation, a session
 * cache of TX_TLS_SESSION_CACHE entries. NULL on failure with the reason in `err` (when
 * err/errlen are given), e.g. "cannot load CA file /x.pem: no such file". Not thread-safe: use a
 * context from one thread (the loop's), or one context per thread. */
tx_tls_ctx_t *tx__tls_ctx_new(const char *ca_file, char *err, size_t errlen);

/* Drops the caller's reference: the context and its cached sessions are freed once the last
 * connection made from it is freed too. NULL: no-op. */
void tx__tls_ctx_free(tx_tls_ctx_t *ctx);

/* A new client connection for `host` (a DNS name, or an IPv4/IPv6 literal, IPv6 with or without
 * brackets; a DNS name's trailing dot is dropped). A name is sent as SNI and must match the
 * certificate's DNS names (no partial wildcards); an IP literal sends no SNI and must match an IP
 * address entry. `session_key` (e.g. "https://api.example.com:443"; NULL: no resumption) selects
 * the cached session to resume; sessions are also keyed by `host`, so one is never offered to
 * another name. Both strings are copied. The handshake starts at once: the ClientHello is waiting
 * in tx__tls_pending. NULL when out of memory or for a NULL/empty host (nothing is left behind). */
tx_tls_t *tx__tls_new(tx_tls_ctx_t *ctx, const char *host, const char *session_key);

/* Frees the connection (no close_notify is sent: see tx__tls_close). NULL: no-op. */
void tx__tls_free(tx_tls_t *t);

/* Gives the engine `n` bytes read from the socket (copied) and advances the handshake. Returns 0,
 * or a negative code when the connection has failed (then and from then on: every later call
 * returns the same code; tx__tls_error says why; an alert for the server may be in
 * tx__tls_pending). After the handshake, records are only decrypted by tx__tls_read: call it until
 * it returns <= 0 after each feed. Always send tx__tls_pending bytes after feed/read/write. */
int tx__tls_feed(tx_tls_t *t, const char *cipher, size_t n);

/* Tells the engine the socket reached EOF: no more input. Later reads return what is still
 * buffered, then TX_TLS_EOF if the server had sent close_notify, else TX_TLS_ETRUNC (and the
 * caller decides: an EOF without close_notify is acceptable only when the HTTP framing had
 * already completed; tx__tls_close_notify_seen tells it without reading). */
void tx__tls_eof(tx_tls_t *t);

/* Decrypts into `plain`: > 0 bytes; 0 when more input is needed (the handshake may not be done
 * yet); TX_TLS_EOF on close_notify (sticky); another negative code on failure. */
ssize_t tx__tls_read(tx_tls_t *t, char *plain, size_t cap);

/* Encrypts `n` bytes into the output (tx__tls_pending). Before the handshake ends they are copied
 * into a queue and encrypted when it completes. 0, or a negative code (the connection's failure,
 * TX_TLS_EINVAL after tx__tls_close, TX_TLS_ENOMEM). */
int tx__tls_write(tx_tls_t *t, const char *plain, size_t n);

/* Encrypts the `nv` pieces as one stream (as tx__tls_write of each in turn would), in as few
 * records as their total length allows: a request's head and body in one record, not two (each
 * record costs a seal, a header and a tag). Same results as tx__tls_write. */
int tx__tls_writev(tx_tls_t *t, const struct iovec *v, size_t nv);

/* Ciphertext waiting to go to the socket, and taking it out (copied into `cipher`, at most `cap`
 * bytes; returns how many). */
size_t tx__tls_pending(tx_tls_t *t);
size_t tx__tls_take(tx_tls_t *t, char *cipher, size_t cap);

/* The same without a copy: the waiting ciphertext in place (`*n` bytes, NULL when none), valid
 * until the next call on `t` or on another connection of the same context (they share buffers);
 * then tx__tls_consume drops the first `n` bytes of it (what the socket took; more than is
 * waiting drops all). */
const char *tx__tls_output(tx_tls_t *t, size_t *n);
void tx__tls_consume(tx_tls_t *t, size_t n);

/* Queues close_notify for the server (after any queued writes); later writes are refused. 0 or
 * the connection's failure code. */
int tx__tls_close(tx_tls_t *t);

/* 1 when input fed to t is still unread: ciphertext not yet processed, or decrypted bytes not
 * yet taken by tx__tls_read. */
int tx__tls_has_input(tx_tls_t *t);

/* 1 once the handshake completed and the server verified. */
int tx__tls_handshake_done(tx_tls_t *t);
/* 1 when the handshake resumed a cached session (no certificate was sent). */
int tx__tls_reused(tx_tls_t *t);
/* 1 once the server's close_notify has been read. */
int tx__tls_close_notify_seen(tx_tls_t *t);
/* The negotiated TLS version ("TLSv1.3") and ALPN protocol ("http/1.1", "" when none); valid
 * while the connection lives. */
const char *tx__tls_version(tx_tls_t *t);
const char *tx__tls_alpn(tx_tls_t *t);

/* Why the connection failed, NULL while it has not: "certificate verify failed: hostname
 * mismatch", "handshake failed: tlsv1 alert protocol version", "unexpected EOF without
 * close_notify"... Owned by `t`, valid until tx__tls_free. */
const char *tx__tls_error(tx_tls_t *t);

#endif
