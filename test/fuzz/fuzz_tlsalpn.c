/* fuzz_tlsalpn: the tls-alpn-01 client (proxy/val_tlsalpn01.c).
 *
 * An input that starts with 0x30 (a DER SEQUENCE) is a certificate: it
 * goes through val_tlsalpn01_check_cert for a DNS and an IP identifier
 * (OpenSSL's d2i_X509, then our SAN, acmeIdentifier, DER OCTET STRING,
 * constant-time digest and self-signature checks). Any other input is
 * the server's side of a TLS connection: the bytes wait in a socketpair,
 * then end (EOF), and val_tlsalpn01_session runs the OpenSSL client
 * against them with a one-second deadline (our BIO, the verify callback,
 * the ALPN and certificate checks when a handshake gets that far). Bytes
 * that are not a live server can never complete a handshake, so a valid
 * outcome is a finding; so is a detail with control bytes. Seeds
 * (test/fuzz/corpus/tlsalpn): a TLS 1.2 and a TLS 1.3 server flight
 * recorded from an acme-tls/1 responder, the 15 bytes of issue 10, and
 * validation certificates (one good for tls.a.test and the key
 * authorization "token.thumbprint", one with a BER length). */
#include "test/fuzz/fuzz.h"

#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/timeutil.h"
#include "proxy/validate.h"

#define FUZZ_TLS_MAX 65536

static unsigned char digest[32];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    unsigned int n = 0;

    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    if (EVP_Digest("token.thumbprint", 16, digest, &n, EVP_sha256(), NULL) !=
        1) {
        abort();
    }
    return 0;
}

static void
no_control_bytes(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            abort();
        }
    }
}

static void
one_session(const uint8_t *data, size_t size)
{
    struct val_outcome out;
    cJSON *rec = cJSON_CreateObject();
    int sv[2];
    size_t off = 0;

    if (rec == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
                                  sv) != 0) {
        abort();
    }
    while (off < size) {
        ssize_t n = send(sv[1], data + off, size - off, MSG_NOSIGNAL);

        if (n <= 0) {
            abort();
        }
        off += (size_t)n;
    }
    (void)shutdown(sv[1], SHUT_WR);
    memset(&out, 0, sizeof(out));
    val_tlsalpn01_session(sv[0], "fuzz", "tls.a.test", "dns", "tls.a.test",
                          digest, time_mono_ms() + 1000, rec, &out);
    if (out.valid) {
        abort(); /* no handshake can complete against recorded bytes */
    }
    no_control_bytes(out.detail);
    close(sv[0]);
    close(sv[1]);
    cJSON_Delete(rec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[400];

    if (size > FUZZ_TLS_MAX) {
        return 0;
    }
    if (size > 0 && data[0] == 0x30) {
        why[0] = '\0';
        if (!val_tlsalpn01_check_cert(data, size, "dns", "tls.a.test",
                                      digest, why, sizeof(why))) {
            no_control_bytes(why);
        }
        why[0] = '\0';
        if (!val_tlsalpn01_check_cert(data, size, "ip", "192.0.2.7", digest,
                                      why, sizeof(why))) {
            no_control_bytes(why);
        }
        return 0;
    }
    one_session(data, size);
    return 0;
}
