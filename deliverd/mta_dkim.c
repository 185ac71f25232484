/*
 * mta_dkim.c - DKIM signatures on outgoing messages.
 *
 * ternd reads the key files of `domain-key SELECTOR,DOMAIN,FILE` lines as
 * root and sends each key down (DLV_DKIM_KEY); deliverd, in its empty
 * chroot, never opens a key file.  A message is signed when its queue has
 * `dkim-sign yes` and a key matches the signing identity: the domain of
 * Sender:, else of From:, or a parent domain of it, or a "*" key (then
 * d= is the identity's domain).  Keys of the queue's VMTA come first.
 *
 * The signature covers the headers of dkim_sign_headers that the message
 * has (the last instance of each) and the body, both canonicalized
 * "relaxed".  The DKIM-Signature header goes in front of the message as
 * it is sent; the spool file is not changed.
 */
#include <sys/types.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "dkim.h"
#include "log.h"
#include "mta.h"
#include "proto.h"
#include "util.h"

#define DKIM_MAX_MSG	(64 * 1024 * 1024)	/* sign no bigger message */

struct dkim_key {
	char		*selector;
	char		*domain;	/* "*": any */
	char		*vmta;		/* NULL: global */
	EVP_PKEY	*pkey;
	int		 ed25519;
};

static struct dkim_key	*keys;
static int		 nkeys;

/* Signed when present (RFC 6376 5.4.1's list, roughly). */
static const char *dkim_sign_headers[] = {
	"from", "sender", "reply-to", "subject", "date", "message-id", "to",
	"cc", "mime-version", "content-type", "content-transfer-encoding",
	"content-id", "content-description", "in-reply-to", "references",
	"list-id", "list-unsubscribe", "list-unsubscribe-post", "feedback-id",
	NULL
};

/* Never signed, even when dkim-headers names them (PowerMTA's list):
 * relays add or drop them. */
static const char *dkim_never_headers[] = {
	"bcc", "received", "return-path", "dkim-signature", "comments",
	"keywords", "resent-bcc", NULL
};

static int
dkim_listed(const char **list, const char *name)
{
	int i;

	for (i = 0; list[i] != NULL; i++)
		if (strcasecmp(list[i], name) == 0)
			return 1;
	return 0;
}

/* One header into the signature, when the message has it. */
static void
dkim_add_header(const char *msg, size_t hend, const char *name,
    struct dkim_buf *data, struct dkim_buf *hl)
{
	const char *h;
	size_t len;

	if ((h = dkim_find_header(msg, hend, name, &len)) == NULL)
		return;
	dkim_canon_header(h, len, 1, data);
	dkim_buf_printf(hl, "%s%s", hl->len ? ":" : "", name);
}

/* dkim-headers: more names (comma or space separated) to sign. */
static void
dkim_extra_headers(const char *msg, size_t hend, const char *extra,
    struct dkim_buf *data, struct dkim_buf *hl)
{
	char *list, *p, *name;
	size_t i;

	if (extra == NULL)
		return;
	list = p = xstrdup(extra);
	while ((name = strsep(&p, ", \t")) != NULL) {
		if (*name == '\0' || *name == '/' || strlen(name) > 64)
			continue;	/* /regex/ entries: not supported */
		for (i = 0; name[i] != '\0'; i++)
			name[i] = tolower((unsigned char)name[i]);
		if (!dkim_listed(dkim_sign_headers, name) &&
		    !dkim_listed(dkim_never_headers, name))
			dkim_add_header(msg, hend, name, data, hl);
	}
	free(list);
}

/* DLV_DKIM_KEY from ternd. */
void
mta_dkim_key_recv(struct imsg *imsg)
{
	const char *sel, *dom, *vmta, *pem;
	struct dkim_key *k;
	struct msg m;
	BIO *bio;
	EVP_PKEY *pkey;

	m_msg(&m, imsg);
	m_get_string(&m, &sel);
	m_get_string(&m, &dom);
	m_get_string(&m, &vmta);
	m_get_string(&m, &pem);
	m_end(&m);
	if (sel == NULL || dom == NULL || pem == NULL)
		fatalx("DLV_DKIM_KEY without selector, domain or key");
	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL)
		fatalx("BIO_new_mem_buf");
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pkey == NULL || (EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA &&
	    EVP_PKEY_base_id(pkey) != EVP_PKEY_ED25519)) {
		log_warnx("domain-key %s,%s: not an RSA or Ed25519 private key",
		    sel, dom);
		EVP_PKEY_free(pkey);
		return;
	}
	if ((k = reallocarray(keys, nkeys + 1, sizeof(*keys))) == NULL)
		fatal("mta_dkim_key_recv");
	keys = k;
	k = &keys[nkeys++];
	k->selector = strdup(sel);
	k->domain = strdup(dom);
	k->vmta = vmta ? strdup(vmta) : NULL;
	if (k->selector == NULL || k->domain == NULL || (vmta && !k->vmta))
		fatal("mta_dkim_key_recv");
	k->pkey = pkey;
	k->ed25519 = EVP_PKEY_base_id(pkey) == EVP_PKEY_ED25519;
	log_debug("DKIM key %s for %s%s%s (%s)", sel, dom, vmta ?
	    " in VMTA " : "", vmta ? vmta : "", k->ed25519 ? "ed25519" : "rsa");
}

/* Whether key domain kd covers identity domain d (equal or parent). */
static int
mta_dkim_covers(const char *kd, const char *d)
{
	size_t lk = strlen(kd), ld = strlen(d);

	if (strcmp(kd, "*") == 0 || strcasecmp(kd, d) == 0)
		return 1;
	return ld > lk && d[ld - lk - 1] == '.' &&
	    strcasecmp(d + ld - lk, kd) == 0;
}

static const struct dkim_key *
mta_dkim_find(const char *vmta, const char *domain)
{
	int i, pass;

	/* VMTA keys, then global ones; in the order of the config. */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < nkeys; i++) {
			if (pass == 0 && (vmta == NULL || keys[i].vmta == NULL ||
			    strcmp(keys[i].vmta, vmta) != 0))
				continue;
			if (pass == 1 && keys[i].vmta != NULL)
				continue;
			if (mta_dkim_covers(keys[i].domain, domain))
				return &keys[i];
		}
	return NULL;
}

/* The domain of the first address in a From:/Sender: field. */
static int
mta_dkim_identity(const char *h, size_t n, char *dom, size_t domsz)
{
	const char *at = NULL, *p, *end = h + n;
	size_t k = 0;

	for (p = h; p < end; p++)
		if (*p == '@') {
			at = p;
			break;
		}
	if (at == NULL)
		return -1;
	for (p = at + 1; p < end && k + 1 < domsz; p++) {
		if (*p == '>' || *p == ',' || *p == ';' || *p == ')' ||
		    isspace((unsigned char)*p))
			break;
		dom[k++] = tolower((unsigned char)*p);
	}
	dom[k] = '\0';
	return k > 0 ? 0 : -1;
}

static char *
mta_dkim_b64(const unsigned char *p, size_t n)
{
	char *out;

	if ((out = malloc(4 * ((n + 2) / 3) + 1)) == NULL)
		fatal("mta_dkim_b64");
	EVP_EncodeBlock((unsigned char *)out, p, n);
	return out;
}

/* The whole message from the spool file (a local file: short reads only
 * at its end). */
static char *
mta_dkim_read(int fd, uint64_t base, uint64_t size)
{
	char *buf;
	uint64_t off = 0;
	ssize_t r;

	if (size > DKIM_MAX_MSG || (buf = malloc(size + 1)) == NULL)
		return NULL;
	while (off < size) {
		r = pread(fd, buf + off, size - off, base + off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(buf);
			return NULL;
		}
		off += r;
	}
	buf[size] = '\0';
	return buf;
}

static int
mta_dkim_sign_data(const struct dkim_key *k, const struct dkim_buf *data,
    unsigned char *sig, size_t *siglen)
{
	unsigned char hash[32];
	unsigned int hlen = 0;
	EVP_MD_CTX *ctx;
	int ok;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (k->ed25519) {
		/* RFC 8463: Ed25519 over the SHA-256 of the data. */
		ok = EVP_Digest(data->data, data->len, hash, &hlen,
		    EVP_sha256(), NULL) == 1 &&
		    EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
		    EVP_DigestSign(ctx, sig, siglen, hash, hlen) == 1;
	} else
		ok = EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL,
		    k->pkey) == 1 &&
		    EVP_DigestSign(ctx, sig, siglen,
		    (const unsigned char *)data->data, data->len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* Append "; tag=value", folding before it when the line would get long
 * (folding is part of what is signed: relaxed canonicalization makes it
 * one space on both sides). */
static void
mta_dkim_tag(struct dkim_buf *h, size_t *col, const char *tag,
    const char *val)
{
	size_t n = strlen(tag) + strlen(val) + 2;

	if (h->len == 0)
		dkim_buf_printf(h, "%s=%s", tag, val);
	else if (*col + n > 76) {
		dkim_buf_printf(h, ";\r\n\t%s=%s", tag, val);
		*col = 1;
	} else
		dkim_buf_printf(h, "; %s=%s", tag, val);
	*col += n;
}

/*
 * A "DKIM-Signature: ...\r\n" header for the message in fd, or NULL
 * (not signed: no key, unreadable, too big; logged when it matters).
 */
char *
mta_dkim_sign(int fd, uint64_t base, uint64_t size, const char *vmta,
    const char *qid, const char *extra)
{
	struct dkim_buf body = { 0 }, hdr = { 0 }, data = { 0 }, hl = { 0 };
	struct dkim_buf full = { 0 };
	const struct dkim_key *k;
	unsigned char hash[32], sig[1024];
	size_t hend, len, siglen = sizeof(sig), col;
	unsigned int hlen;
	const char *h;
	char dom[256], ts[32], *msg, *bh = NULL, *b = NULL, *out = NULL;
	int i;

	if (nkeys == 0 || (msg = mta_dkim_read(fd, base, size)) == NULL)
		return NULL;
	hend = dkim_header_end(msg, size);
	if (((h = dkim_find_header(msg, hend, "sender", &len)) == NULL ||
	    mta_dkim_identity(h, len, dom, sizeof(dom)) == -1) &&
	    ((h = dkim_find_header(msg, hend, "from", &len)) == NULL ||
	    mta_dkim_identity(h, len, dom, sizeof(dom)) == -1))
		goto done;
	if ((k = mta_dkim_find(vmta, dom)) == NULL) {
		log_debug("%s: no DKIM key for %s", qid, dom);
		goto done;
	}
	dkim_canon_body(msg + hend, size - hend, &body);
	EVP_Digest(body.data ? body.data : "", body.len, hash, &hlen,
	    EVP_sha256(), NULL);
	bh = mta_dkim_b64(hash, hlen);
	/* Signed headers, canonicalized, and their names for h=. */
	for (i = 0; dkim_sign_headers[i] != NULL; i++)
		dkim_add_header(msg, hend, dkim_sign_headers[i], &data, &hl);
	dkim_extra_headers(msg, hend, extra, &data, &hl);
	/* The signature header with an empty b=, signed as it will be sent. */
	col = strlen("DKIM-Signature: ");
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	mta_dkim_tag(&hdr, &col, "v", "1");
	mta_dkim_tag(&hdr, &col, "a", k->ed25519 ? "ed25519-sha256" :
	    "rsa-sha256");
	mta_dkim_tag(&hdr, &col, "c", "relaxed/relaxed");
	mta_dkim_tag(&hdr, &col, "d", strcmp(k->domain, "*") == 0 ? dom :
	    k->domain);
	mta_dkim_tag(&hdr, &col, "s", k->selector);
	mta_dkim_tag(&hdr, &col, "t", ts);
	mta_dkim_tag(&hdr, &col, "h", hl.data);
	mta_dkim_tag(&hdr, &col, "bh", bh);
	mta_dkim_tag(&hdr, &col, "b", "");
	dkim_buf_printf(&full, "DKIM-Signature: %s", hdr.data);
	dkim_canon_header(full.data, full.len, 0, &data);
	if (mta_dkim_sign_data(k, &data, sig, &siglen) == -1) {
		log_warnx("%s: DKIM signing with %s,%s failed", qid,
		    k->selector, k->domain);
		goto done;
	}
	b = mta_dkim_b64(sig, siglen);
	if (asprintf(&out, "DKIM-Signature: %s%s\r\n", hdr.data, b) == -1)
		fatal("mta_dkim_sign");
	log_debug("%s: DKIM-signed d=%s s=%s", qid, strcmp(k->domain, "*") ?
	    k->domain : dom, k->selector);
done:
	free(msg);
	free(bh);
	free(b);
	dkim_buf_free(&body);
	dkim_buf_free(&hdr);
	dkim_buf_free(&data);
	dkim_buf_free(&hl);
	dkim_buf_free(&full);
	return out;
}
