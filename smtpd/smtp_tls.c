/*
 * smtp_tls.c - STARTTLS (RFC 3207) with OpenSSL.
 *
 * libuv owns the socket, so OpenSSL never sees it: each session's SSL
 * object sits on two memory BIOs.  Ciphertext read from the socket is
 * written into the read BIO (smtp_tls_input); plaintext comes out of
 * SSL_read into the session's input buffer (smtp_tls_pull).  Replies go
 * through SSL_write and whatever lands in the write BIO is handed to
 * uv_write (smtp_tls_drain).  The handshake happens inside SSL_read.
 *
 * The certificate and key never touch our file system view: we are
 * chrooted.  ternd reads the file and sends the PEM text
 * (SMTPD_TLS_CERT); it is parsed here from memory.  There is one SSL_CTX
 * per certificate: smtp-server-tls-certificate, and the tls-certificate
 * of each <smtp-listener> block that has one (PowerMTA's per-listener
 * certificate; the others inherit the global one).
 *
 * Protocol versions and ciphers are set on each SSL object when STARTTLS
 * begins, from the current config: the listener block's tls-allow-tlsv1.2,
 * tls-allow-tlsv1.3 and tls-ciphers, else the global smtp-server-tls-*
 * ones.  TLS 1.0 and 1.1 (and SSLv3) are never offered, whatever the
 * allow-tlsv1 and allow-tlsv1.1 knobs say.
 */
#include <string.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "log.h"
#include "smtpd.h"
#include "util.h"

#define SMTP_TLS_MAX_CERTS	16

struct smtp_tls_cert {
	char		*listener;	/* <smtp-listener> argument, NULL: global */
	SSL_CTX		*ctx;
};

static struct smtp_tls_cert	 smtp_tls_certs[SMTP_TLS_MAX_CERTS];
static int			 smtp_tls_ncerts;

enum { SMTP_TLS_V12 = 0x01, SMTP_TLS_V13 = 0x02 };

static void
smtp_tls_log_errors(const char *what)
{
	unsigned long e;
	char buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_warnx("%s: %s", what, buf);
	}
}

/* Never prompt on a terminal: the password is the config's or none. */
static int
smtp_tls_pw_cb(char *buf, int size, int rwflag, void *u)
{
	const char *pw = u;
	size_t len;

	if (pw == NULL || (len = strlen(pw)) >= (size_t)size)
		return 0;
	memcpy(buf, pw, len);
	return len;
}

/* The certificate (with its chain) and the key from one PEM text, in any
 * order: PEM readers skip blocks of another kind. */
static int
smtp_tls_load(SSL_CTX *ctx, const char *pem, const char *password)
{
	BIO *b;
	X509 *x;
	EVP_PKEY *key = NULL;
	int ok = -1;

	if ((b = BIO_new_mem_buf(pem, -1)) == NULL)
		return -1;
	x = PEM_read_bio_X509_AUX(b, NULL, smtp_tls_pw_cb, (void *)password);
	if (x == NULL || SSL_CTX_use_certificate(ctx, x) != 1)
		goto done;
	/* The rest of the certificates are the chain. */
	for (;;) {
		X509_free(x);
		x = PEM_read_bio_X509(b, NULL, smtp_tls_pw_cb,
		    (void *)password);
		if (x == NULL)
			break;
		if (SSL_CTX_add1_chain_cert(ctx, x) != 1)
			goto done;
	}
	ERR_clear_error();
	BIO_free(b);
	if ((b = BIO_new_mem_buf(pem, -1)) == NULL)
		return -1;
	key = PEM_read_bio_PrivateKey(b, NULL, smtp_tls_pw_cb,
	    (void *)password);
	if (key != NULL && SSL_CTX_use_PrivateKey(ctx, key) == 1 &&
	    SSL_CTX_check_private_key(ctx) == 1)
		ok = 0;
done:
	EVP_PKEY_free(key);
	X509_free(x);
	BIO_free(b);
	return ok;
}

static struct smtp_tls_cert *
smtp_tls_find(const char *listener)
{
	int i;

	for (i = 0; i < smtp_tls_ncerts; i++)
		if ((listener == NULL && smtp_tls_certs[i].listener == NULL) ||
		    (listener != NULL && smtp_tls_certs[i].listener != NULL &&
		    strcmp(listener, smtp_tls_certs[i].listener) == 0))
			return &smtp_tls_certs[i];
	return NULL;
}

/* A certificate from ternd, for one listener or (NULL) for all.  Returns
 * 0, or -1 (logged) leaving the previous one, if any, in place. */
int
smtp_tls_config(const char *listener, const char *pem, const char *password)
{
	struct smtp_tls_cert *c;
	SSL_CTX *ctx;
	const char *what = listener ? "tls-certificate" :
	    "smtp-server-tls-certificate";

	OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		smtp_tls_log_errors("SSL_CTX_new");
		return -1;
	}
	/* The floor; each session narrows it (smtp_tls_start). */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	ERR_clear_error();
	if (smtp_tls_load(ctx, pem, password) == -1) {
		smtp_tls_log_errors(what);
		log_warnx("%s%s%s: no usable certificate and key: STARTTLS is "
		    "not offered", what, listener ? " of " : "",
		    listener ? listener : "");
		SSL_CTX_free(ctx);
		return -1;
	}
	if ((c = smtp_tls_find(listener)) == NULL) {
		if (smtp_tls_ncerts == SMTP_TLS_MAX_CERTS) {
			log_warnx("too many certificates, %s of %s ignored",
			    what, listener);
			SSL_CTX_free(ctx);
			return -1;
		}
		c = &smtp_tls_certs[smtp_tls_ncerts++];
		c->listener = listener ? xstrdup(listener) : NULL;
	}
	if (c->ctx != NULL)
		SSL_CTX_free(c->ctx);
	c->ctx = ctx;
	log_debug("STARTTLS certificate loaded%s%s", listener ? " for " : "",
	    listener ? listener : "");
	return 0;
}

/* The listener's certificate, else the global one, else NULL. */
static SSL_CTX *
smtp_tls_ctx(const struct smtp_session *s)
{
	struct smtp_tls_cert *c = NULL;

	if (s->listener != NULL)
		c = smtp_tls_find(s->listener);
	if (c == NULL)
		c = smtp_tls_find(NULL);
	return c != NULL ? c->ctx : NULL;
}

/* A setting of the session's <smtp-listener> block if it has it, else
 * the global one. */
static const char *
smtp_tls_setting(const struct cfg_node *lsn, const char *lname,
    const char *gname)
{
	if (lsn != NULL && cfg_child(lsn, lname) != NULL)
		return cfg_str(lsn, lname, NULL);
	return smtpd.cfg != NULL ? cfg_str(smtpd.cfg->root, gname, NULL) :
	    NULL;
}

static int
smtp_tls_allowed(const struct cfg_node *lsn, const char *lname,
    const char *gname)
{
	const char *v, *err;
	int b;

	if ((v = smtp_tls_setting(lsn, lname, gname)) == NULL ||
	    cfg_parse_bool(v, &b, &err) == -1)
		return 1;
	return b;
}

/* SMTP_TLS_V12 | SMTP_TLS_V13: the versions this session may use. */
static int
smtp_tls_versions(const struct cfg_node *lsn)
{
	int v = 0;

	if (smtp_tls_allowed(lsn, "tls-allow-tlsv1.2",
	    "smtp-server-tls-allow-tlsv1.2"))
		v |= SMTP_TLS_V12;
	if (smtp_tls_allowed(lsn, "tls-allow-tlsv1.3",
	    "smtp-server-tls-allow-tlsv1.3"))
		v |= SMTP_TLS_V13;
	return v;
}

/* Whether STARTTLS can be offered to this session. */
int
smtp_tls_available(const struct smtp_session *s)
{
	return smtp_tls_ctx(s) != NULL &&
	    smtp_tls_versions(smtpd_listener_node(s->listener)) != 0;
}

/* Versions and ciphers of the session's listener on its SSL object. */
static int
smtp_tls_session_setup(struct smtp_session *s, SSL *ssl)
{
	const struct cfg_node *lsn = smtpd_listener_node(s->listener);
	const char *ciphers;
	int v = smtp_tls_versions(lsn);

	if (v == 0)
		return -1;
	SSL_set_min_proto_version(ssl, (v & SMTP_TLS_V12) ? TLS1_2_VERSION :
	    TLS1_3_VERSION);
	SSL_set_max_proto_version(ssl, (v & SMTP_TLS_V13) ? TLS1_3_VERSION :
	    TLS1_2_VERSION);
	ciphers = smtp_tls_setting(lsn, "tls-ciphers",
	    "smtp-server-tls-ciphers");
	if (ciphers == NULL)
		ciphers = "HIGH:!ADH:@STRENGTH";
	if (SSL_set_cipher_list(ssl, ciphers) != 1) {
		log_warnx("ciphers \"%s\" not usable, using OpenSSL's "
		    "defaults", ciphers);
		ERR_clear_error();
	}
	return 0;
}

/* Move what OpenSSL wants to send to the socket. */
static void
smtp_tls_drain(struct smtp_session *s)
{
	BIO *wbio = SSL_get_wbio(s->ssl);
	size_t n;
	char *buf;
	int r;

	while ((n = BIO_ctrl_pending(wbio)) > 0) {
		if ((buf = malloc(n)) == NULL)
			fatal("smtp_tls_drain");
		if ((r = BIO_read(wbio, buf, n)) <= 0) {
			free(buf);
			return;
		}
		if (smtp_write_raw(s, buf, r) == -1)
			return;
	}
}

/* The STARTTLS command: the 220 goes out in clear, then TLS starts. */
void
smtp_tls_cmd(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	if (!smtp_tls_available(s) || !s->allow_starttls) {
		smtp_error(s, "502 5.5.1 STARTTLS not available");
		return;
	}
	if (s->ssl != NULL) {
		smtp_error(s, "503 5.5.1 TLS already active");
		return;
	}
	if (s->state != SMTP_S_INIT && s->state != SMTP_S_HELO) {
		smtp_error(s, "503 5.5.1 bad sequence of commands");
		return;
	}
	smtp_reply(s, "220 2.0.0 ready to start TLS");
	/* smtp_process() drops what the client sent after this line
	 * (RFC 3207 section 6) and calls smtp_tls_start() after the flush. */
	s->starttls = 1;
}

int
smtp_tls_start(struct smtp_session *s)
{
	SSL *ssl;
	BIO *rbio, *wbio;

	if (smtp_tls_ctx(s) == NULL || (ssl = SSL_new(smtp_tls_ctx(s))) == NULL)
		return -1;
	if (smtp_tls_session_setup(s, ssl) == -1) {
		SSL_free(ssl);
		return -1;
	}
	rbio = BIO_new(BIO_s_mem());
	wbio = BIO_new(BIO_s_mem());
	if (rbio == NULL || wbio == NULL) {
		BIO_free(rbio);
		BIO_free(wbio);
		SSL_free(ssl);
		return -1;
	}
	/* An empty memory BIO means "try again", not end of file. */
	BIO_set_mem_eof_return(rbio, -1);
	SSL_set_bio(ssl, rbio, wbio);
	SSL_set_accept_state(ssl);
	s->ssl = ssl;
	/* RFC 3207 4.2: forget everything learnt before TLS. */
	smtp_tx_free(s);
	s->state = SMTP_S_INIT;
	s->esmtp = 0;
	s->helo[0] = '\0';
	s->authuser[0] = '\0';
	return 0;
}

/* Ciphertext from the socket. */
int
smtp_tls_input(struct smtp_session *s, const char *p, size_t n)
{
	if (BIO_write(SSL_get_rbio(s->ssl), p, n) != (int)n)
		return -1;
	return 0;
}

/* Plaintext into buf; 0 when none is ready.  Runs the handshake, and
 * closes the session on a TLS error or the client's close_notify. */
size_t
smtp_tls_pull(struct smtp_session *s, char *buf, size_t room)
{
	SSL *ssl = s->ssl;
	int r, err;

	if (room == 0 || s->tls_closed)
		return 0;
	r = SSL_read(ssl, buf, room > INT32_MAX ? INT32_MAX : (int)room);
	err = r > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, r);
	smtp_tls_drain(s);
	if (!s->tls_up && SSL_is_init_finished(ssl)) {
		s->tls_up = 1;
		log_info("%08x: TLS from %s: %s %s", s->id, s->ip,
		    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	}
	if (r > 0)
		return r;
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
		return 0;
	if (err == SSL_ERROR_ZERO_RETURN)
		smtp_close(s, "TLS closed by client");
	else {
		smtp_tls_log_errors("TLS");
		smtp_close(s, s->tls_up ? "TLS error" : "TLS handshake failed");
	}
	return 0;
}

/* Replies, encrypted. */
void
smtp_tls_output(struct smtp_session *s, const char *p, size_t n)
{
	if (n > 0 && s->tls_up && !s->tls_closed &&
	    SSL_write(s->ssl, p, n) <= 0)
		smtp_tls_log_errors("SSL_write");
	smtp_tls_drain(s);
}

/* Say goodbye properly before the TCP FIN. */
void
smtp_tls_shutdown(struct smtp_session *s)
{
	if (s->ssl == NULL || s->tls_closed)
		return;
	s->tls_closed = 1;
	if (s->tls_up) {
		SSL_shutdown(s->ssl);
		smtp_tls_drain(s);
	}
}

void
smtp_tls_free(struct smtp_session *s)
{
	if (s->ssl != NULL)
		SSL_free(s->ssl);
	s->ssl = NULL;
	free(s->tlsbuf);
	s->tlsbuf = NULL;
}
