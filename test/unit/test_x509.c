/* test/unit/test_x509.c: common/x509.c, what the proxy reads from
 * certificates: base64, PEM bundles, PKCS#7, serials and issuer DNs,
 * the SAN set, the key-use check of a returned leaf, and the facts
 * x509_cert_parse gives the ACME core.
 *
 * Vectors: test/unit/vectors/ (cert_ec, cert_rsa_empty_subject, chain,
 * spki_p256, csr_ec_sans) and test/unit/vectors/x509/ (gen.sh and
 * README.md there say how each was made). Run from the repository root.
 * Expected values were read with `openssl x509` (serials, dates, RFC 2253
 * subjects), independently of the code under test; key identifiers are
 * read here with OpenSSL's accessors. Every table row is its own cmocka
 * test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/unit/rows.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <dirent.h>
#include <unistd.h>

#include "common/ca.h"
#include "common/pem.h"
#include "common/x509.h"
#include "common/x509_int.h"

#define V "test/unit/vectors/"
#define VX V "x509/"

/* ---- helpers ------------------------------------------------------- */

/* The whole file as a NUL-terminated buffer (caller frees). */
static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long size;

    if (f == NULL) {
        print_error("cannot open %s (run from the repository root)\n", path);
    }
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size > 0);
    rewind(f);
    buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    buf[size] = '\0';
    assert_int_equal(fclose(f), 0);
    if (len != NULL) {
        *len = (size_t)size;
    }
    return buf;
}

/* A vector as PEM text: .der files are armoured here (caller frees). */
static char *
vector_pem(const char *path)
{
    size_t len = 0;
    char *data = slurp(path, &len);
    char *pem;

    if (strstr(path, ".der") == NULL) {
        return data;
    }
    pem = pem_encode((const unsigned char *)data, len, "CERTIFICATE");
    assert_non_null(pem);
    free(data);
    return pem;
}

/* text with every "\n" turned into "\r\n" (caller frees). */
static char *
crlf_of(const char *text)
{
    char *out = malloc(strlen(text) * 2 + 1);
    size_t k = 0;

    assert_non_null(out);
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '\n') {
            out[k++] = '\r';
        }
        out[k++] = *p;
    }
    out[k] = '\0';
    return out;
}

/* The base64 body of the first PEM block, without line breaks. */
static char *
body_of(const char *pem)
{
    const char *b = strstr(pem, "-----\n");
    const char *e;
    char *out;
    size_t k = 0;

    assert_non_null(b);
    b += 6;
    e = strstr(b, "-----END");
    assert_non_null(e);
    out = calloc(1, (size_t)(e - b) + 1);
    assert_non_null(out);
    for (const char *p = b; p < e; p++) {
        if (*p != '\n' && *p != '\r') {
            out[k++] = *p;
        }
    }
    return out;
}

/* Concatenation of two strings (caller frees). */
static char *
cat2(const char *a, const char *b)
{
    size_t la = strlen(a);
    size_t lb = strlen(b);
    char *out = malloc(la + lb + 1);

    assert_non_null(out);
    memcpy(out, a, la);
    memcpy(out + la, b, lb + 1);
    return out;
}

/* The subjectKeyIdentifier of the certificate in a PEM file, read with
 * OpenSSL's accessor: the AKI its leaves must carry. */
static size_t
ski_of(const char *path, unsigned char *out, size_t outlen)
{
    char *pem = slurp(path, NULL);
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    const ASN1_OCTET_STRING *ski;
    size_t n;

    assert_non_null(x);
    ski = X509_get0_subject_key_id(x);
    assert_non_null(ski);
    n = (size_t)ASN1_STRING_length(ski);
    assert_true(n <= outlen);
    memcpy(out, ASN1_STRING_get0_data(ski), n);
    X509_free(x);
    BIO_free(bio);
    free(pem);
    return n;
}

/* ---- x509_b64_decode ----------------------------------------------- */

struct b64_row {
    const char *name;
    const char *in;     /* NULL: X509_MAX_BUNDLE + 1 'A's */
    ap_err want;
    const char *out;    /* decoded text on AP_OK */
};

static const struct b64_row b64_rows[] = {
    { "b64: padded", "aGVsbG8=", AP_OK, "hello" },
    { "b64: no padding needed", "aGVsbG8h", AP_OK, "hello!" },
    { "b64: white space anywhere", " aGVs\r\n\tbG8=\n", AP_OK, "hello" },
    { "b64: two pad characters", "aGk/Pw==", AP_OK, "hi??" },
    { "b64 bad: missing padding", "aGVsbG8", AP_EPARSE, NULL },
    { "b64 bad: padding in the middle", "aGk=aGk=", AP_EPARSE, NULL },
    { "b64 bad: three pad characters", "aGVsbG8===", AP_EPARSE, NULL },
    { "b64 bad: only padding", "====", AP_EPARSE, NULL },
    { "b64 bad: base64url alphabet", "a-_b", AP_EPARSE, NULL },
    { "b64 bad: a hyphen (PEM end marker)", "aGVs-bG8=", AP_EPARSE, NULL },
    { "b64 bad: NUL-free binary", "\x80\x81\x82\x83", AP_EPARSE, NULL },
    { "b64 bad: empty", "", AP_EPARSE, NULL },
    { "b64 bad: white space only", " \n\t ", AP_EPARSE, NULL },
    { "b64 bad: over the cap", NULL, AP_ETOOBIG, NULL },
};

static void
test_b64(void **state)
{
    const struct b64_row *row = *state;
    unsigned char *out = NULL;
    size_t len = 0;
    char *big = NULL;
    const char *in = row->in;

    if (in == NULL) {
        big = malloc(X509_MAX_BUNDLE + 2);
        assert_non_null(big);
        memset(big, 'A', X509_MAX_BUNDLE + 1);
        big[X509_MAX_BUNDLE + 1] = '\0';
        in = big;
    }
    assert_int_equal(x509_b64_decode(in, &out, &len), row->want);
    if (row->want == AP_OK) {
        assert_int_equal(len, strlen(row->out));
        assert_memory_equal(out, row->out, len);
        free(out);
    }
    free(big);
}

/* ---- x509_pem_normalize -------------------------------------------- */

enum norm_input {
    NI_FILE,        /* the file as it is */
    NI_CRLF,        /* the file with CRLF line ends */
    NI_JUNK,        /* text, a PKCS7 block and text around the file */
    NI_TWICE_17,    /* the file 17 times */
    NI_HUGE,        /* the file after X509_MAX_BUNDLE bytes of text */
};

struct norm_row {
    const char *name;
    const char *file;      /* NULL: text is the input */
    const char *text;
    enum norm_input how;
    size_t skip;
    ap_err want;
    size_t n;              /* certificates out */
    const char *same_as;   /* file the output must equal, or NULL */
};

static const struct norm_row norm_rows[] = {
    { "normalize: one certificate comes back byte for byte", VX "leaf_ok.pem",
      NULL, NI_FILE, 0, AP_OK, 1, VX "leaf_ok.pem" },
    { "normalize: CRLF", VX "leaf_ok.pem", NULL, NI_CRLF, 0, AP_OK, 1,
      VX "leaf_ok.pem" },
    { "normalize: text and other blocks around it", VX "leaf_ok.pem", NULL,
      NI_JUNK, 0, AP_OK, 1, VX "leaf_ok.pem" },
    { "normalize: a chain with text in front, both certificates",
      V "chain.pem", NULL, NI_FILE, 0, AP_OK, 2, NULL },
    { "normalize: skip 1 gives the second (empty subject)", V "chain.pem",
      NULL, NI_FILE, 1, AP_OK, 1, V "cert_rsa_empty_subject.pem" },
    { "normalize bad: skip all", V "chain.pem", NULL, NI_FILE, 2, AP_EPARSE,
      0, NULL },
    { "normalize bad: 17 certificates", VX "leaf_ok.pem", NULL, NI_TWICE_17,
      0, AP_ETOOBIG, 0, NULL },
    { "normalize bad: over X509_MAX_BUNDLE", VX "leaf_ok.pem", NULL, NI_HUGE,
      0, AP_ETOOBIG, 0, NULL },
    { "normalize bad: empty", NULL, "", NI_FILE, 0, AP_EPARSE, 0, NULL },
    { "normalize bad: text only", NULL, "no certificate here\n", NI_FILE, 0,
      AP_EPARSE, 0, NULL },
    { "normalize bad: no END line", NULL,
      "-----BEGIN CERTIFICATE-----\nAAAA", NI_FILE, 0, AP_EPARSE, 0, NULL },
    { "normalize bad: END of another label", NULL,
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END X509 CRL-----\n",
      NI_FILE, 0, AP_EPARSE, 0, NULL },
    { "normalize bad: not base64", NULL,
      "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
      NI_FILE, 0, AP_EPARSE, 0, NULL },
    { "normalize bad: base64 of something else", NULL,
      "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
      NI_FILE, 0, AP_EPARSE, 0, NULL },
    { "normalize bad: encrypted-looking block", NULL,
      "-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n"
      "DEK-Info: AES-128-CBC,00000000000000000000000000000000\n\n"
      "aGVsbG8=\n-----END CERTIFICATE-----\n",
      NI_FILE, 0, AP_EPARSE, 0, NULL },
};

static char *
norm_input(const struct norm_row *row)
{
    char *file;
    char *out = NULL;

    if (row->file == NULL) {
        out = strdup(row->text);
        assert_non_null(out);
        return out;
    }
    file = slurp(row->file, NULL);
    switch (row->how) {
    case NI_FILE:
        return file;
    case NI_CRLF:
        out = crlf_of(file);
        break;
    case NI_JUNK: {
        char *a = cat2("Issued by the PKI.\n-----BEGIN PKCS7-----\nAAAA\n"
                       "-----END PKCS7-----\nmore text\n",
                       file);

        out = cat2(a, "trailing words\n");
        free(a);
        break;
    }
    case NI_TWICE_17: {
        out = strdup("");
        assert_non_null(out);
        for (int i = 0; i < 17; i++) {
            char *more = cat2(out, file);

            free(out);
            out = more;
        }
        break;
    }
    case NI_HUGE:
        out = malloc(X509_MAX_BUNDLE + strlen(file) + 1);
        assert_non_null(out);
        memset(out, '\n', X509_MAX_BUNDLE);
        memcpy(out + X509_MAX_BUNDLE, file, strlen(file) + 1);
        break;
    default:
        fail();
    }
    free(file);
    return out;
}

static void
test_normalize(void **state)
{
    const struct norm_row *row = *state;
    char *in = norm_input(row);
    char *out = NULL;
    size_t n = 99;

    assert_int_equal(x509_pem_normalize(in, row->skip, &out, &n), row->want);
    if (row->want == AP_OK) {
        assert_int_equal(n, row->n);
        assert_null(strchr(out, '\r'));
        if (row->same_as != NULL) {
            char *want = slurp(row->same_as, NULL);

            assert_string_equal(out, want);
            free(want);
        }
        free(out);
    } else {
        assert_null(out);
    }
    free(in);
}

/* ---- x509_b64der_to_pem -------------------------------------------- */

static void
test_b64der_to_pem(void **state)
{
    char *pem = slurp(V "cert_ec.pem", NULL);
    char *body = body_of(pem);
    char *wrapped = crlf_of(pem); /* armour and CRLF: not plain base64 */
    char *out = NULL;
    char *padded;

    (void)state;
    assert_int_equal(x509_b64der_to_pem(body, &out), AP_OK);
    assert_string_equal(out, pem);
    free(out);
    out = NULL;
    /* The same with white space inside, as a PKI may send it. */
    padded = malloc(strlen(body) * 2 + 4);
    assert_non_null(padded);
    {
        size_t k = 0;

        padded[k++] = ' ';
        for (size_t i = 0; body[i] != '\0'; i++) {
            padded[k++] = body[i];
            if (i % 60 == 59) {
                padded[k++] = '\r';
                padded[k++] = '\n';
            }
        }
        padded[k] = '\0';
    }
    assert_int_equal(x509_b64der_to_pem(padded, &out), AP_OK);
    assert_string_equal(out, pem);
    free(out);
    out = NULL;
    free(padded);
    /* bad input */
    assert_int_equal(x509_b64der_to_pem(wrapped, &out), AP_EPARSE);
    assert_int_equal(x509_b64der_to_pem("aGVsbG8=", &out), AP_EPARSE);
    assert_int_equal(x509_b64der_to_pem("", &out), AP_EPARSE);
    /* A certificate and one byte more: not one certificate. */
    {
        size_t len = 0;
        char *der = slurp(V "cert_ec.der", &len);
        char *more = malloc(len + 1);
        char *p;
        char *b;

        assert_non_null(more);
        memcpy(more, der, len);
        more[len] = 0;
        p = pem_encode((const unsigned char *)more, len + 1, "X");
        b = body_of(p);
        assert_int_equal(x509_b64der_to_pem(b, &out), AP_EPARSE);
        free(b);
        free(p);
        free(more);
        free(der);
    }
    assert_null(out);
    free(wrapped);
    free(body);
    free(pem);
}

/* ---- x509_cert_ids ------------------------------------------------- */

struct ids_row {
    const char *name;
    const char *file;
    ap_err want;
    const char *serial;
    const char *issuer_dn;
    long long not_after;
};

static const struct ids_row ids_rows[] = {
    { "ids: plain issuer", VX "ca.pem", AP_OK,
      "3d246ba6414b712567fa08f056662dc8da0010ca",
      "CN=Example Issuing CA,OU=PKI,O=Example Corp,C=US", 2427112961LL },
    { "ids: escapes, multi-valued RDN, DC", VX "dn_special.pem", AP_OK,
      "6369836210cde4d7b636f92dba59663f93b5a4dd",
      "CN=a\\,b\\;c=d #x\\ ,OU=b+OU=a,O=Ex \\\"q\\\" \\<x\\>,DC=example,"
      "DC=com",
      2427112961LL },
    { "ids: UTF-8 as is, leading #, trailing backslash", VX "dn_utf8.pem",
      AP_OK, "73da1fc7d19432206af50a00a48a129ea4f3524f",
      "CN=\\#lead\\, trail \\\\,O=B\xc3\xbc" "cher & S\xc3\xb6hne,C=DE",
      2427112961LL },
    { "ids: emailAddress, serialNumber, L, ST", VX "dn_email.pem", AP_OK,
      "34a15147ba2d7e02a1962f25a1e89402dd4b45b8",
      "CN=x,serialNumber=42,ST=ZH,L=Z\xc3\xbcrich,"
      "emailAddress=pki@example.com",
      2427112961LL },
    { "ids: unknown attribute as OID=#hex (RFC 4514 2.4)", VX "dn_oid.der",
      AP_OK, "4d", "CN=Crafted CA,1.2.3.4=#0C06637573746F6D",
      2051222400LL },
    { "ids: leaf, serial with the top bit set", VX "leaf_ok.pem", AP_OK,
      "c0ffee01", "CN=Example Issuing CA,OU=PKI,O=Example Corp,C=US",
      1867672962LL },
    { "ids: negative serial as its two's complement", VX "leaf_neg.pem",
      AP_OK, "fb2e", "CN=Example Issuing CA,OU=PKI,O=Example Corp,C=US",
      1867672963LL },
    { "ids: empty issuer", V "cert_rsa_empty_subject.pem", AP_OK, "01", "",
      1803671503LL },
    { "ids: the first of a chain", V "chain.pem", AP_OK, "8badf00d1234",
      "CN=Test EC", 2111255503LL },
    { "ids bad: a CSR", V "csr_ec_sans.der", AP_EPARSE, NULL, NULL, 0 },
};

static void
test_ids(void **state)
{
    const struct ids_row *row = *state;
    char *pem = vector_pem(row->file);
    struct x509_ids ids;

    memset(&ids, 0, sizeof(ids));
    assert_int_equal(x509_cert_ids(pem, &ids), row->want);
    if (row->want == AP_OK) {
        assert_string_equal(ids.serial_hex, row->serial);
        assert_string_equal(ids.issuer_dn, row->issuer_dn);
        assert_int_equal(ids.not_after, row->not_after);
    } else {
        assert_null(ids.serial_hex);
        assert_null(ids.issuer_dn);
    }
    x509_ids_fini(&ids);
    x509_ids_fini(NULL);
    free(pem);
}

static void
test_ids_bad(void **state)
{
    struct x509_ids ids;

    (void)state;
    assert_int_equal(x509_cert_ids("garbage", &ids), AP_EPARSE);
    assert_int_equal(x509_cert_ids("", &ids), AP_EPARSE);
    assert_int_equal(x509_cert_ids("-----BEGIN CERTIFICATE-----\nMAA=\n"
                                   "-----END CERTIFICATE-----\n",
                                   &ids),
                     AP_EPARSE);
}

/* ---- x509_check_names ---------------------------------------------- */

struct names_row {
    const char *name;
    const char *file;
    const char *dns[4];
    const char *ips[4];
    ap_err want;
    const char *why_has;
};

static const struct names_row names_rows[] = {
    { "names: exact", VX "leaf_ok.pem",
      { "leaf.example.com", "www.leaf.example.com" },
      { "192.0.2.7", "2001:db8::7" }, AP_OK, NULL },
    { "names: case and order do not matter, IPv6 by value",
      VX "leaf_ok.pem", { "WWW.leaf.example.COM", "leaf.example.com" },
      { "2001:DB8:0::7", "192.0.2.7" }, AP_OK, NULL },
    { "names: duplicates in the order are one name", VX "leaf_ok.pem",
      { "leaf.example.com", "leaf.example.com", "www.leaf.example.com" },
      { "192.0.2.7", "2001:db8::7" }, AP_OK, NULL },
    { "names bad: one DNS name missing from the order", VX "leaf_ok.pem",
      { "leaf.example.com" }, { "192.0.2.7", "2001:db8::7" }, AP_EINVAL,
      "extra [www.leaf.example.com]" },
    { "names bad: one more in the order", VX "leaf_ok.pem",
      { "leaf.example.com", "www.leaf.example.com", "x.example.com" },
      { "192.0.2.7", "2001:db8::7" }, AP_EINVAL, "missing [x.example.com]" },
    { "names bad: another IP address", VX "leaf_ok.pem",
      { "leaf.example.com", "www.leaf.example.com" },
      { "192.0.2.8", "2001:db8::7" }, AP_EINVAL,
      "extra [192.0.2.7], missing [192.0.2.8]" },
    { "names bad: an e-mail SAN", VX "leaf_email.pem",
      { "leaf.example.com" }, { NULL }, AP_EINVAL,
      "(a SAN that is not a DNS name or IP address)" },
    { "names bad: no SAN at all", VX "leaf_nosan.pem",
      { "leaf_nosan.example.com" }, { NULL }, AP_EINVAL,
      "missing [leaf_nosan.example.com]" },
    { "names bad: two subjectAltName extensions", VX "leaf_dup_san.der",
      { "leaf_dup_san.example.com" }, { NULL }, AP_EINVAL,
      "appears twice" },
    { "names bad: a CSR is no leaf", V "csr_ec_sans.der", { "a" }, { NULL },
      AP_EPARSE, "does not parse" },
};

static size_t
count(const char *const *list)
{
    size_t n = 0;

    while (n < 4 && list[n] != NULL) {
        n++;
    }
    return n;
}

static void
test_names(void **state)
{
    const struct names_row *row = *state;
    char *pem = vector_pem(row->file);
    char why[400] = "";

    assert_int_equal(x509_check_names(pem, row->dns, count(row->dns),
                                      row->ips, count(row->ips), why,
                                      sizeof(why)),
                     row->want);
    if (row->why_has != NULL && strstr(why, row->why_has) == NULL) {
        print_error("why \"%s\" lacks \"%s\"\n", why, row->why_has);
        fail();
    }
    free(pem);
}

/* ---- x509_check_leaf_use ------------------------------------------- */

struct use_row {
    const char *name;
    const char *file;
    bool tls_server;
    ap_err want;
    const char *why_has;
};

static const struct use_row use_rows[] = {
    { "use: serverAuth leaf, TLS server profile", VX "leaf_ok.pem", true,
      AP_OK, NULL },
    { "use: serverAuth leaf, other profile", VX "leaf_ok.pem", false, AP_OK,
      NULL },
    { "use: clientAuth only, not a TLS server profile", VX "leaf_client.pem",
      false, AP_OK, NULL },
    { "use: no extendedKeyUsage, not a TLS server profile",
      VX "leaf_noeku.pem", false, AP_OK, NULL },
    { "use bad: cA=TRUE with keyCertSign", VX "leaf_ca.pem", true, AP_EINVAL,
      "CA certificate" },
    { "use bad: cA=TRUE alone, even for another profile",
      VX "leaf_ca_only.pem", false, AP_EINVAL, "cA=TRUE" },
    { "use bad: keyCertSign without basicConstraints", VX "leaf_kcs.pem",
      false, AP_EINVAL, "keyCertSign" },
    { "use bad: cRLSign", VX "leaf_crl.pem", true, AP_EINVAL, "cRLSign" },
    { "use bad: clientAuth only, TLS server profile", VX "leaf_client.pem",
      true, AP_EINVAL, "lacks serverAuth" },
    { "use bad: no extendedKeyUsage, TLS server profile",
      VX "leaf_noeku.pem", true, AP_EINVAL, "no extendedKeyUsage" },
    { "use bad: anyExtendedKeyUsage is not serverAuth", VX "leaf_anyeku.pem",
      true, AP_EINVAL, "lacks serverAuth" },
    { "use bad: basicConstraints that does not decode",
      VX "leaf_bad_bc.der", false, AP_EINVAL, "malformed or repeated" },
    { "use bad: subjectAltName twice", VX "leaf_dup_san.der", false,
      AP_EINVAL, "malformed or repeated" },
    { "use bad: a self-signed CA", VX "ca.pem", false, AP_EINVAL,
      "CA certificate" },
    { "use bad: openssl req -x509 makes a CA (v3_ca)",
      V "cert_rsa_empty_subject.pem", false, AP_EINVAL, "cA=TRUE" },
    { "use bad: a CSR", V "csr_ec_sans.der", false, AP_EPARSE,
      "does not parse" },
};

static void
test_use(void **state)
{
    const struct use_row *row = *state;
    char *pem = vector_pem(row->file);
    char why[400] = "";

    assert_int_equal(x509_check_leaf_use(pem, row->tls_server, why,
                                         sizeof(why)),
                     row->want);
    if (row->why_has != NULL && strstr(why, row->why_has) == NULL) {
        print_error("why \"%s\" lacks \"%s\"\n", why, row->why_has);
        fail();
    }
    free(pem);
}

/* ---- x509_pkcs7_to_pem --------------------------------------------- */

enum p7_form {
    P7_PEM,      /* as openssl wrote it: PKCS7 armour */
    P7_BARE,     /* the base64 alone, on one line */
    P7_ADCS,     /* armoured as CERTIFICATE, CRLF: what AD CS sends */
    P7_CUT,      /* the DER without its last 10 bytes, base64 */
    P7_NOEND,    /* no END line */
};

struct p7_row {
    const char *name;
    const char *file;
    enum p7_form form;
    ap_err want;
};

static const struct p7_row p7_rows[] = {
    { "pkcs7: PEM", VX "p7_chain.p7b", P7_PEM, AP_OK },
    { "pkcs7: bare base64", VX "p7_chain.p7b", P7_BARE, AP_OK },
    { "pkcs7: CERTIFICATE armour and CRLF (AD CS)", VX "p7_chain.p7b",
      P7_ADCS, AP_OK },
    { "pkcs7 bad: no certificates", VX "p7_empty.p7b", P7_PEM, AP_EPARSE },
    { "pkcs7 bad: data, not signedData", VX "p7_data.p7b", P7_PEM,
      AP_EPARSE },
    { "pkcs7 bad: 17 certificates", VX "p7_17.p7b", P7_PEM, AP_ETOOBIG },
    { "pkcs7 bad: truncated", VX "p7_chain.p7b", P7_CUT, AP_EPARSE },
    { "pkcs7 bad: no END line", VX "p7_chain.p7b", P7_NOEND, AP_EPARSE },
};

static char *
p7_input(const struct p7_row *row)
{
    char *pem = slurp(row->file, NULL);
    char *body;
    char *out = NULL;

    switch (row->form) {
    case P7_PEM:
        return pem;
    case P7_BARE:
        out = body_of(pem);
        break;
    case P7_ADCS: {
        char *b = body_of(pem);
        unsigned char *der = NULL;
        size_t len = 0;
        char *p;

        assert_int_equal(x509_b64_decode(b, &der, &len), AP_OK);
        p = pem_encode(der, len, "CERTIFICATE");
        out = crlf_of(p);
        free(p);
        free(der);
        free(b);
        break;
    }
    case P7_CUT: {
        unsigned char *der = NULL;
        size_t len = 0;
        char *p;

        body = body_of(pem);
        assert_int_equal(x509_b64_decode(body, &der, &len), AP_OK);
        assert_true(len > 10);
        p = pem_encode(der, len - 10, "X");
        out = body_of(p);
        free(p);
        free(der);
        free(body);
        break;
    }
    case P7_NOEND:
        out = strdup(pem);
        assert_non_null(out);
        *strstr(out, "-----END") = '\0';
        break;
    default:
        fail();
    }
    free(pem);
    return out;
}

static void
test_pkcs7(void **state)
{
    const struct p7_row *row = *state;
    char *in = p7_input(row);
    char *out = NULL;

    assert_int_equal(x509_pkcs7_to_pem(in, &out), row->want);
    if (row->want == AP_OK) {
        /* leaf then CA, in the order of the SignedData */
        char *leaf = slurp(VX "leaf_ok.pem", NULL);
        char *ca = slurp(VX "ca.pem", NULL);
        char *both = cat2(leaf, ca);

        assert_string_equal(out, both);
        free(both);
        free(leaf);
        free(ca);
        free(out);
    } else {
        assert_null(out);
    }
    free(in);
}

static void
test_pkcs7_bad(void **state)
{
    char *out = NULL;

    (void)state;
    assert_int_equal(x509_pkcs7_to_pem("aGVsbG8=", &out), AP_EPARSE);
    assert_int_equal(x509_pkcs7_to_pem("", &out), AP_EPARSE);
    assert_int_equal(x509_pkcs7_to_pem("-----BEGIN PKCS7-----\n!!!!\n"
                                       "-----END PKCS7-----\n",
                                       &out),
                     AP_EPARSE);
    assert_int_equal(x509_pkcs7_to_pem(NULL, &out), AP_EINVAL);
    assert_null(out);
}

/* ---- x509_cert_parse, x509_pem_cert_to_der ------------------------- */

struct cert_row {
    const char *name;
    const char *file;
    size_t cut;            /* bytes dropped from the end */
    bool extra;            /* one byte appended */
    ap_err want;
    const char *serial_hex;
    long long not_before;  /* from `openssl x509 -dates` and date +%s */
    long long not_after;
    const char *aki_of;    /* the file whose SKI is the AKI, or NULL */
};

static const struct cert_row cert_rows[] = {
    { "cert: P-256 self-signed, serial with the top bit set", V "cert_ec.der",
      0, false, AP_OK, "8badf00d1234", 1795895503LL, 2111255503LL,
      V "cert_ec.pem" },
    { "cert: RSA, empty subject, critical SAN",
      V "cert_rsa_empty_subject.der", 0, false, AP_OK, "01", 1795895503LL,
      1803671503LL, V "cert_rsa_empty_subject.pem" },
    { "cert: a leaf with an AKI", VX "leaf_ok.pem", 0, false, AP_OK,
      "c0ffee01", 1796392962LL, 1867672962LL, VX "ca.pem" },
    { "cert: negative serial", VX "leaf_neg.pem", 0, false, AP_OK, "fb2e",
      1796392963LL, 1867672963LL, VX "ca.pem" },
    { "cert: subjectAltName twice still gives its facts",
      VX "leaf_dup_san.der", 0, false, AP_OK, "4d", 1735689600LL,
      2051222400LL, NULL },
    { "cert bad: truncated certificate", V "cert_ec.der", 1, false,
      AP_EPARSE, NULL, 0, 0, NULL },
    { "cert bad: a byte after the certificate", V "cert_ec.der", 0, true,
      AP_EPARSE, NULL, 0, 0, NULL },
    { "cert bad: a CSR, not a certificate", V "csr_ec_sans.der", 0, false,
      AP_EPARSE, NULL, 0, 0, NULL },
    { "cert bad: PEM text, not DER", V "cert_ec.pem", 0, false, AP_EPARSE,
      NULL, 0, 0, NULL },
};

static void
test_cert(void **state)
{
    const struct cert_row *row = *state;
    struct x509_cert *cert = NULL;
    unsigned char *der = NULL;
    size_t len = 0;

    if (strstr(row->file, "x509/") != NULL && strstr(row->file, ".pem")) {
        char *pem = slurp(row->file, NULL);

        assert_int_equal(x509_pem_cert_to_der(pem, &der, &len), AP_OK);
        free(pem);
    } else {
        der = (unsigned char *)slurp(row->file, &len);
    }
    if (row->extra) {
        der = realloc(der, len + 1);
        assert_non_null(der);
        der[len++] = 0;
    }
    assert_int_equal(x509_cert_parse(der, len - row->cut, &cert), row->want);
    if (row->want != AP_OK) {
        assert_null(cert);
        free(der);
        return;
    }
    assert_string_equal(cert->serial_hex, row->serial_hex);
    assert_int_equal(cert->not_before, row->not_before);
    assert_int_equal(cert->not_after, row->not_after);
    assert_int_equal(cert->pubkey_der[0], 0x30);
    /* serial_raw: the DER content octets (sign octet included). */
    if (strcmp(row->serial_hex, "c0ffee01") == 0) {
        static const unsigned char raw[] = { 0x00, 0xc0, 0xff, 0xee, 0x01 };

        assert_int_equal(cert->serial_raw_len, sizeof(raw));
        assert_memory_equal(cert->serial_raw, raw, sizeof(raw));
    }
    if (strcmp(row->serial_hex, "fb2e") == 0) {
        static const unsigned char raw[] = { 0xfb, 0x2e };

        assert_int_equal(cert->serial_raw_len, sizeof(raw));
        assert_memory_equal(cert->serial_raw, raw, sizeof(raw));
    }
    if (strcmp(row->file, V "cert_ec.der") == 0) {
        size_t spki_len = 0;
        char *spki = slurp(V "spki_p256.der", &spki_len);

        assert_int_equal(cert->pubkey_der_len, spki_len);
        assert_memory_equal(cert->pubkey_der, spki, spki_len);
        free(spki);
    }
    if (row->aki_of != NULL) {
        unsigned char ski[64];
        size_t n = ski_of(row->aki_of, ski, sizeof(ski));

        assert_non_null(cert->aki);
        assert_int_equal(cert->aki_len, n);
        assert_memory_equal(cert->aki, ski, n);
    } else {
        assert_null(cert->aki);
    }
    x509_cert_free(cert);
    free(der);
}

static void
test_cert_args(void **state)
{
    struct x509_cert *cert = NULL;

    (void)state;
    assert_int_equal(x509_cert_parse((const unsigned char *)"", 0, &cert),
                     AP_EPARSE);
    assert_int_equal(x509_cert_parse(NULL, 5, &cert), AP_EINVAL);
    assert_int_equal(x509_cert_parse((const unsigned char *)"x", 1, NULL),
                     AP_EINVAL);
    assert_null(cert);
    x509_cert_free(NULL);
}

static void
test_pem_to_der(void **state)
{
    char *chain = slurp(V "chain.pem", NULL);
    size_t first_len = 0;
    char *first = slurp(V "cert_ec.der", &first_len);
    unsigned char *der = NULL;
    size_t der_len = 0;
    char *p7;
    char *mixed;

    (void)state;
    assert_int_equal(x509_pem_cert_to_der(chain, &der, &der_len), AP_OK);
    assert_int_equal(der_len, first_len);
    assert_memory_equal(der, first, first_len);
    free(der);
    der = NULL;
    /* Another label first: skipped. A broken block after the first
     * certificate is not read. */
    p7 = slurp(VX "p7_chain.p7b", NULL);
    mixed = cat2(p7, chain);
    free(p7);
    p7 = cat2(mixed, "-----BEGIN CERTIFICATE-----\n!!!!\n");
    assert_int_equal(x509_pem_cert_to_der(p7, &der, &der_len), AP_OK);
    assert_int_equal(der_len, first_len);
    assert_memory_equal(der, first, first_len);
    free(der);
    der = NULL;
    free(p7);
    free(mixed);
    /* bad input */
    assert_int_equal(x509_pem_cert_to_der("no certificate here", &der,
                                          &der_len),
                     AP_EPARSE);
    assert_int_equal(
        x509_pem_cert_to_der("-----BEGIN CERTIFICATE-----\n!!!!\n"
                             "-----END CERTIFICATE-----\n",
                             &der, &der_len),
        AP_EPARSE);
    assert_int_equal(
        x509_pem_cert_to_der("-----BEGIN CERTIFICATE-----\naGVsbG8=\n"
                             "-----END CERTIFICATE-----\n",
                             &der, &der_len),
        AP_EPARSE);
    assert_int_equal(x509_pem_cert_to_der("", &der, &der_len), AP_EPARSE);
    assert_int_equal(x509_pem_cert_to_der(NULL, &der, &der_len), AP_EINVAL);
    assert_null(der);
    free(chain);
    free(first);
}

/* ---- the anchors' cache of parsed chains (issue 18) ----------------- */

struct chain_ca {
    char dir[64];
    struct ca *ca;
    char *leaf_pem;
    struct x509_leaf *leaf;
};

static void
chain_ca_open(struct chain_ca *c)
{
    const char *dns[] = { "a.test" };
    char errbuf[256];
    char *key_pem = NULL;

    snprintf(c->dir, sizeof(c->dir), "/tmp/test_x509_ca.XXXXXX");
    assert_non_null(mkdtemp(c->dir));
    assert_int_equal(ca_open(c->dir, &c->ca, errbuf, sizeof(errbuf)), AP_OK);
    assert_int_equal(ca_issue_tls(c->ca, dns, 1, NULL, 0, 7, &key_pem,
                                  &c->leaf_pem, errbuf, sizeof(errbuf)),
                     AP_OK);
    free(key_pem);
    assert_int_equal(x509_leaf_parse(c->leaf_pem, &c->leaf), AP_OK);
}

static void
chain_ca_close(struct chain_ca *c)
{
    DIR *d = opendir(c->dir);
    struct dirent *e;
    char path[512];

    x509_leaf_free(c->leaf);
    free(c->leaf_pem);
    ca_free(c->ca);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", c->dir, e->d_name);
        (void)unlink(path);
    }
    closedir(d);
    (void)rmdir(c->dir);
}

static ap_err
leaf_verify(const struct chain_ca *c, const char *chain,
            const struct x509_anchors *anchors)
{
    char why[256] = "";

    return x509_leaf_verify(c->leaf, chain, anchors, why, sizeof(why));
}

/* A chain text is parsed once and its certificates used again; another
 * text (another CA's intermediate) is never served the cached one, and
 * every verification still runs (a leaf the cached intermediate did not
 * sign is refused); at most 8 texts are kept; one that does not parse is
 * not kept. */
static void
test_chain_cache(void **state)
{
    struct chain_ca a;
    struct chain_ca b;
    struct x509_anchors *anchors = NULL;
    struct x509_chain_stats st;
    const char *int_a;
    char *text;
    size_t tlen;

    (void)state;
    chain_ca_open(&a);
    chain_ca_open(&b);
    int_a = ca_intermediate_pem(a.ca);
    assert_int_equal(x509_anchors_load(ca_root_pem(a.ca), &anchors), AP_OK);

    assert_int_equal(leaf_verify(&a, int_a, anchors), AP_OK);
    x509_anchors_chain_stats(anchors, &st);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.hits, 0);
    assert_int_equal(st.entries, 1);
    assert_int_equal(leaf_verify(&a, int_a, anchors), AP_OK);
    x509_anchors_chain_stats(anchors, &st);
    assert_int_equal(st.hits, 1);

    /* another intermediate: a miss, and refused (it does not chain) */
    assert_int_not_equal(leaf_verify(&a, ca_intermediate_pem(b.ca), anchors),
                         AP_OK);
    x509_anchors_chain_stats(anchors, &st);
    assert_int_equal(st.misses, 2);
    assert_int_equal(st.hits, 1);
    /* a hit, but the leaf is B's: refused all the same */
    assert_int_not_equal(leaf_verify(&b, int_a, anchors), AP_OK);
    x509_anchors_chain_stats(anchors, &st);
    assert_int_equal(st.hits, 2);
    /* no chain: nothing cached, refused */
    assert_int_not_equal(leaf_verify(&a, NULL, anchors), AP_OK);
    /* a text that does not parse is refused and not kept */
    assert_int_not_equal(leaf_verify(&a,
                                     "-----BEGIN CERTIFICATE-----\nAAAA\n"
                                     "-----END CERTIFICATE-----\n",
                                     anchors),
                         AP_OK);
    x509_anchors_chain_stats(anchors, &st);
    assert_int_equal(st.entries, 2);

    /* 12 more texts (the same certificate, another trailing line each):
     * never more than 8 entries, each verifies */
    tlen = strlen(int_a) + 32;
    text = malloc(tlen);
    assert_non_null(text);
    for (int i = 0; i < 12; i++) {
        snprintf(text, tlen, "%s# %d\n", int_a, i);
        assert_int_equal(leaf_verify(&a, text, anchors), AP_OK);
        x509_anchors_chain_stats(anchors, &st);
        assert_true(st.entries <= 8);
    }
    assert_int_equal(st.entries, 8);
    assert_int_equal(st.evictions, 6);
    /* the least recently used went: int_a (used before B's) is gone */
    assert_int_equal(leaf_verify(&a, int_a, anchors), AP_OK);
    x509_anchors_chain_stats(anchors, &st);
    assert_int_equal(st.hits, 2);
    free(text);

    x509_anchors_free(anchors);
    chain_ca_close(&a);
    chain_ca_close(&b);
}

/* ---- the syntax check without the key (x509_der_is_cert) ----------- */

/* d2i_X509's verdict on exactly len bytes: what x509_der_is_cert must
 * give without building the key. */
static bool
d2i_verdict(const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    bool ok = x != NULL && p == der + len;

    X509_free(x);
    ERR_clear_error();
    return ok;
}

/* The DER of a vector's first certificate (caller frees). */
static unsigned char *
vector_der(const char *path, size_t *len)
{
    char *pem = vector_pem(path);
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x;
    unsigned char *der = NULL;
    int n;

    assert_non_null(bio);
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    assert_non_null(x);
    n = i2d_X509(x, &der);
    assert_true(n > 0);
    *len = (size_t)n;
    X509_free(x);
    BIO_free(bio);
    free(pem);
    return der;
}

/* Every certificate vector, each truncated at every length and with
 * every byte flipped (inside the key, the names, the extensions, the
 * signature, the lengths and tags): the template check and d2i_X509
 * agree on each, and accept the vector as it is. The flips inside the
 * SubjectPublicKeyInfo give certificates whose key OpenSSL cannot read,
 * which d2i_X509 accepts too (it builds the key only opportunistically). */
static void
test_der_is_cert(void **state)
{
    static const char *const files[] = {
        V "cert_ec.der", V "cert_rsa_empty_subject.der", VX "leaf_ok.pem",
        VX "dn_oid.der", VX "leaf_neg.pem", VX "leaf_dup_san.der",
    };
    size_t accepted = 0;
    size_t refused = 0;

    (void)state;
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        size_t len = 0;
        unsigned char *der = vector_der(files[f], &len);

        assert_true(d2i_verdict(der, len));
        assert_true(x509_der_is_cert(der, len));
        for (size_t n = 0; n < len; n++) {
            assert_false(x509_der_is_cert(der, n));
        }
        for (size_t i = 0; i < len; i++) {
            bool want;
            bool got;

            der[i] ^= 0xff;
            want = d2i_verdict(der, len);
            got = x509_der_is_cert(der, len);
            if (want != got) {
                print_error("%s: byte %zu flipped: d2i_X509 %d, template %d\n",
                            files[f], i, want, got);
            }
            assert_int_equal(got, want);
            accepted += got;
            refused += !got;
            der[i] ^= 0xff;
        }
        OPENSSL_free(der);
    }
    /* Both kinds of verdict were exercised. */
    assert_true(accepted > 100);
    assert_true(refused > 100);
    assert_false(x509_der_is_cert(NULL, 10));
    assert_false(x509_der_is_cert((const unsigned char *)"x", 0));
}

int
main(void)
{
    struct test_list l = { 0 };
    int failed;

    ADD_ROWS(&l, b64_rows, test_b64);
    ADD_ROWS(&l, norm_rows, test_normalize);
    add_test(&l, "b64der to pem", test_b64der_to_pem, NULL);
    ADD_ROWS(&l, ids_rows, test_ids);
    add_test(&l, "ids of no certificate", test_ids_bad, NULL);
    ADD_ROWS(&l, names_rows, test_names);
    ADD_ROWS(&l, use_rows, test_use);
    ADD_ROWS(&l, p7_rows, test_pkcs7);
    add_test(&l, "pkcs7 of no PKCS#7", test_pkcs7_bad, NULL);
    ADD_ROWS(&l, cert_rows, test_cert);
    add_test(&l, "cert arguments", test_cert_args, NULL);
    add_test(&l, "pem to der", test_pem_to_der, NULL);
    add_test(&l, "certificate syntax without the key", test_der_is_cert,
             NULL);
    add_test(&l, "chain cache of the anchors", test_chain_cache, NULL);

    failed = _cmocka_run_group_tests("x509", l.tests, l.n, NULL, NULL);
    free(l.tests);
    return failed;
}
