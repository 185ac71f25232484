/*
 * mta_tls.c - STARTTLS on an outbound connection, with OpenSSL on
 * memory BIOs so that libuv keeps doing all the socket I/O.
 *
 * Bytes from the network go into the SSL's read BIO; whatever OpenSSL
 * wants to send (handshake records, encrypted data) is taken from its
 * write BIO and written with uv_write by the session.  The dialogue above
 * (mta_smtp.c) sees plain text either way.
 *
 * The policy is opportunistic, as PowerMTA's: the receiver's certificate
 * is not verified (most MX certificates would not pass), but the
 * protocol and cipher are recorded in the accounting file.  A queue with
 * smtp-tls-ca-file verifies: the chain against that bundle (sent by
 * ternd, DLV_TLS_CA) and the name (or address) the session connected to
 * against the certificate.  A failed verification is a failed handshake.
 */
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mta.h"
#include "util.h"

#define MTA_TLS_MAX_CA	64

/* A CA bundle and the context that trusts it. */
struct mta_tls_ca {
	char	*file;		/* as written in the config */
	SSL_CTX	*ctx;
};
static struct mta_tls_ca tls_cas[MTA_TLS_MAX_CA];
static int		 ntls_cas;
static SSL_CTX		*tls_ctx_none;	/* verifies, trusts nothing */

struct mta_tls {
	SSL	*ssl;
	BIO	*rbio;		/* network -> OpenSSL */
	BIO	*wbio;		/* OpenSSL -> network */
	int	 done;		/* handshake finished */
};

static SSL_CTX	*tls_ctx;

static SSL_CTX *
mta_tls_ctx(void)
{
	if (tls_ctx != NULL)
		return tls_ctx;
	if ((tls_ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		fatalx("SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
	return tls_ctx;
}

static SSL_CTX *
mta_tls_verify_ctx(void)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		fatalx("SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

/* DLV_TLS_CA from ternd: a bundle's certificates, trusted by a context
 * of their own. */
void
mta_tls_ca_recv(struct imsg *imsg)
{
	const char *file, *pem;
	STACK_OF(X509_INFO) *infos;
	X509_INFO *xi;
	X509_STORE *store;
	struct msg m;
	BIO *bio;
	int i, n = 0;

	m_msg(&m, imsg);
	m_get_string(&m, &file);
	m_get_string(&m, &pem);
	m_end(&m);
	if (file == NULL || pem == NULL || ntls_cas == MTA_TLS_MAX_CA)
		return;
	tls_cas[ntls_cas].file = xstrdup(file);
	tls_cas[ntls_cas].ctx = mta_tls_verify_ctx();
	store = SSL_CTX_get_cert_store(tls_cas[ntls_cas].ctx);
	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL)
		fatalx("BIO_new_mem_buf");
	infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	for (i = 0; infos != NULL && i < sk_X509_INFO_num(infos); i++) {
		xi = sk_X509_INFO_value(infos, i);
		if (xi->x509 != NULL && X509_STORE_add_cert(store, xi->x509))
			n++;
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	if (n == 0)
		log_warnx("smtp-tls-ca-file %s: no certificate", file);
	ntls_cas++;
}

/* The context for a queue's smtp-tls-ca-file (NULL: no verification). */
static SSL_CTX *
mta_tls_ctx_for(const char *cafile)
{
	int i;

	if (cafile == NULL)
		return mta_tls_ctx();
	for (i = 0; i < ntls_cas; i++)
		if (strcmp(tls_cas[i].file, cafile) == 0)
			return tls_cas[i].ctx;
	/* Named but not readable: trust nothing rather than everything. */
	if (tls_ctx_none == NULL)
		tls_ctx_none = mta_tls_verify_ctx();
	return tls_ctx_none;
}

/* Check the certificate against the host we meant to reach. */
static void
mta_tls_expect(SSL *ssl, const char *host)
{
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	struct in6_addr a;

	if (host == NULL || host[0] == '\0')
		return;
	if (inet_pton(AF_INET, host, &a) == 1 ||
	    inet_pton(AF_INET6, host, &a) == 1)
		X509_VERIFY_PARAM_set1_ip_asc(vp, host);
	else
		SSL_set1_host(ssl, host);
}

struct mta_tls *
mta_tls_new(const char *servername, const char *cafile)
{
	struct mta_tls *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		fatal("mta_tls_new");
	if ((t->ssl = SSL_new(mta_tls_ctx_for(cafile))) == NULL ||
	    (t->rbio = BIO_new(BIO_s_mem())) == NULL ||
	    (t->wbio = BIO_new(BIO_s_mem())) == NULL)
		fatalx("mta_tls_new: out of memory");
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	SSL_set_connect_state(t->ssl);
	if (cafile != NULL)
		mta_tls_expect(t->ssl, servername);
	if (servername != NULL && servername[0] != '\0' &&
	    strchr(servername, ':') == NULL)
		SSL_set_tlsext_host_name(t->ssl, servername);
	return t;
}

void
mta_tls_free(struct mta_tls *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl);	/* frees the BIOs too */
	free(t);
}

int
mta_tls_done(const struct mta_tls *t)
{
	return t->done;
}

/* Bytes OpenSSL wants sent, in a mta_session_wbuf() buffer; NULL if
 * none. */
char *
mta_tls_pending(struct mta_tls *t, size_t *len)
{
	size_t n = BIO_ctrl_pending(t->wbio);
	char *buf;
	int r;

	if (n == 0)
		return NULL;
	buf = mta_session_wbuf(n);
	if ((r = BIO_read(t->wbio, buf, n)) <= 0) {
		mta_session_wbuf_free(buf);
		return NULL;
	}
	*len = r;
	return buf;
}

static void
mta_tls_errstr(char *err, size_t errsz)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		strlcpy(err, "TLS handshake failed", errsz);
	else
		ERR_error_string_n(e, err, errsz);
	ERR_clear_error();
}

/* Drive the handshake.  1: finished, 0: needs more, -1: failed. */
int
mta_tls_handshake(struct mta_tls *t, char *err, size_t errsz)
{
	int r;

	if (t->done)
		return 1;
	ERR_clear_error();
	if ((r = SSL_do_handshake(t->ssl)) == 1) {
		t->done = 1;
		return 1;
	}
	switch (SSL_get_error(t->ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	default:
		mta_tls_errstr(err, errsz);
		return -1;
	}
}

/* Network bytes in. */
int
mta_tls_feed(struct mta_tls *t, const char *data, size_t len)
{
	return BIO_write(t->rbio, data, len) == (int)len ? 0 : -1;
}

/* Decrypted bytes out: >0, 0 when none is ready, -1 on error. */
ssize_t
mta_tls_read(struct mta_tls *t, char *buf, size_t len, char *err,
    size_t errsz)
{
	int r;

	ERR_clear_error();
	if ((r = SSL_read(t->ssl, buf, len)) > 0)
		return r;
	switch (SSL_get_error(t->ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		strlcpy(err, "TLS session closed by server", errsz);
		return -1;
	default:
		mta_tls_errstr(err, errsz);
		return -1;
	}
}

/* Plain text to send: encrypted into the write BIO.  0 or -1. */
int
mta_tls_write(struct mta_tls *t, const char *data, size_t len)
{
	ERR_clear_error();
	if (len == 0)
		return 0;
	return SSL_write(t->ssl, data, len) == (int)len ? 0 : -1;
}

const char *
mta_tls_protocol(const struct mta_tls *t)
{
	return SSL_get_version(t->ssl);
}

const char *
mta_tls_cipher(const struct mta_tls *t)
{
	return SSL_get_cipher_name(t->ssl);
}
