/*
 * http_tls.c - HTTPS for the management interface: the certificate
 * chain and private key of http-mgmt-tls-certificate (one PEM file,
 * read by ternd and passed down in a memfd) become an OpenSSL context
 * that h2o uses on every accepted connection.  TLS 1.2 at least.
 */
#include <stdlib.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "log.h"
#include "http.h"

#define PEM_MAX	(1024 * 1024)

static char *
http_tls_read(int fd, size_t *len)
{
	off_t size;
	char *buf;

	if ((size = lseek(fd, 0, SEEK_END)) <= 0 || size > PEM_MAX ||
	    (buf = malloc(size)) == NULL)
		return NULL;
	if (pread(fd, buf, size, 0) != size) {
		free(buf);
		return NULL;
	}
	*len = size;
	return buf;
}

/* Certificate, then the rest of the chain, then the key, from pem. */
static int
http_tls_load(SSL_CTX *ctx, const char *pem, size_t len)
{
	BIO *bio;
	X509 *x;
	EVP_PKEY *key;
	int n = 0, ok = 0;

	if ((bio = BIO_new_mem_buf(pem, len)) == NULL)
		return 0;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (n++ == 0) {
			ok = SSL_CTX_use_certificate(ctx, x);
			X509_free(x);
		} else if (!SSL_CTX_add_extra_chain_cert(ctx, x))
			X509_free(x);
		if (!ok)
			break;
	}
	ERR_clear_error();
	BIO_free(bio);
	if (!ok || (bio = BIO_new_mem_buf(pem, len)) == NULL)
		return 0;
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (key == NULL)
		return 0;
	ok = SSL_CTX_use_PrivateKey(ctx, key) && SSL_CTX_check_private_key(ctx);
	EVP_PKEY_free(key);
	return ok;
}

SSL_CTX *
http_tls_context(int fd)
{
	SSL_CTX *ctx;
	size_t len;
	char *pem;

	pem = http_tls_read(fd, &len);
	close(fd);
	if (pem == NULL) {
		log_warnx("http-mgmt-tls-certificate: cannot read the content "
		    "ternd sent");
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		fatalx("SSL_CTX_new");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	if (!http_tls_load(ctx, pem, len)) {
		log_warnx("http-mgmt-tls-certificate: no certificate and "
		    "matching private key in the file; HTTP stays off");
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
	OPENSSL_cleanse(pem, len);
	free(pem);
	return ctx;
}
