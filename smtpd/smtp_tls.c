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
 * (SMTPD_TLS_CERT); it is parsed here from memory.
 */
#include <string.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "log.h"
#include "smtpd.h"

static SSL_CTX	*smtp_tls_ctx;

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

/* A new certificate from ternd.  Returns 0, or -1 (logged) leaving the
 * previous one, if any, in place. */
int
smtp_tls_config(const char *pem, const char *password)
{
	SSL_CTX *ctx;
	const char *ciphers = "HIGH:!ADH:@STRENGTH";

	if (smtpd.cfg != NULL)
		ciphers = cfg_str(smtpd.cfg->root, "smtp-server-tls-ciphers",
		    ciphers);
	OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		smtp_tls_log_errors("SSL_CTX_new");
		return -1;
	}
	/* TLS 1.2 and later only, whatever the old allow-tlsv1 knobs say. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1)
		log_warnx("smtp-server-tls-ciphers \"%s\" not usable, "
		    "using OpenSSL's defaults", ciphers);
	ERR_clear_error();
	if (smtp_tls_load(ctx, pem, password) == -1) {
		smtp_tls_log_errors("smtp-server-tls-certificate");
		log_warnx("smtp-server-tls-certificate: no usable certificate "
		    "and key: STARTTLS is not offered");
		SSL_CTX_free(ctx);
		return -1;
	}
	if (smtp_tls_ctx != NULL)
		SSL_CTX_free(smtp_tls_ctx);
	smtp_tls_ctx = ctx;
	log_debug("STARTTLS certificate loaded");
	return 0;
}

int
smtp_tls_available(void)
{
	return smtp_tls_ctx != NULL;
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
	if (!smtp_tls_available() || !s->allow_starttls) {
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

	if ((ssl = SSL_new(smtp_tls_ctx)) == NULL)
		return -1;
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
