#!/bin/sh
# Regenerates the crypto unit-test vectors (see README.md). Keys are
# throw-away and are deleted at the end; the JWS vectors are printed as
# JSON to be pasted into test/unit/test_crypto.c. Run from this directory.
set -eu
umask 077
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# ---- CSRs made by openssl req ------------------------------------------
openssl ecparam -name prime256v1 -genkey -noout -out "$T/p256.key"
openssl ecparam -name secp384r1 -genkey -noout -out "$T/p384.key"
openssl ecparam -name secp521r1 -genkey -noout -out "$T/p521.key"
openssl ecparam -name secp256k1 -genkey -noout -out "$T/k256.key"
openssl genrsa -out "$T/rsa2048.key" 2048
openssl genrsa -out "$T/rsa3072.key" 3072

openssl req -new -key "$T/p256.key" -sha256 -subj "/CN=a.example.com" \
    -addext "subjectAltName=DNS:a.example.com,DNS:www.example.com,DNS:b.example.net,IP:192.0.2.1,IP:2001:db8::1" \
    -outform DER -out csr_ec_sans.der
openssl req -new -key "$T/rsa2048.key" -sha256 -subj "/CN=pss.example.com" \
    -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
    -addext "subjectAltName=DNS:pss.example.com" \
    -outform DER -out csr_rsa_pss.der
openssl req -new -key "$T/p384.key" -sha384 -subj "/" \
    -addext "subjectAltName=DNS:nosubject.example.org" \
    -outform DER -out csr_empty_subject.der
openssl req -new -key "$T/rsa3072.key" -sha384 -subj "/O=Example/CN=cn-only.example.com" \
    -outform DER -out csr_rsa_cn_only.der
openssl req -new -key "$T/p521.key" -sha512 -subj "/" \
    -addext "subjectAltName=DNS:p521.example.com" \
    -outform DER -out csr_p521.der
openssl req -new -key "$T/p256.key" -sha256 -subj "/" \
    -addext "subjectAltName=email:a@example.com,DNS:x.example.com" \
    -outform DER -out csr_email_san.der
openssl req -new -key "$T/p256.key" -sha1 -subj "/" \
    -addext "subjectAltName=DNS:sha1.example.com" \
    -outform DER -out csr_sha1.der
openssl req -new -key "$T/k256.key" -sha256 -subj "/" \
    -addext "subjectAltName=DNS:k1.example.com" \
    -outform DER -out csr_secp256k1.der
names=$(seq 1 101 | sed 's/.*/DNS:n&.example.com/' | paste -sd, -)
openssl req -new -key "$T/p256.key" -sha256 -subj "/" \
    -addext "subjectAltName=$names" -outform DER -out csr_101_names.der

# ---- CSRs openssl will not make: DER by der.py, signed by openssl dgst --
openssl ec -in "$T/p256.key" -pubout -outform DER -out "$T/p256.spki"
python3 der.py crafted "$T/p256.key" "$T/p256.spki" .

# ---- certificates ------------------------------------------------------
openssl req -x509 -new -key "$T/p256.key" -sha256 -subj "/CN=Test EC" \
    -set_serial 0x8badf00d1234 -days 3650 -out cert_ec.pem
openssl x509 -in cert_ec.pem -outform DER -out cert_ec.der
openssl req -x509 -new -key "$T/rsa2048.key" -sha256 -subj "/" \
    -addext "subjectAltName=critical,DNS:empty-subject.example.com" \
    -set_serial 0x01 -days 90 -out cert_rsa_empty_subject.pem
openssl x509 -in cert_rsa_empty_subject.pem -outform DER \
    -out cert_rsa_empty_subject.der
{ printf 'A chain, as a PKI returns it.\n'; cat cert_ec.pem \
    cert_rsa_empty_subject.pem; } > chain.pem
openssl x509 -in cert_ec.der -inform DER -noout -serial -dates
openssl x509 -in cert_rsa_empty_subject.der -inform DER -noout -serial -dates

# ---- JWS vectors (printed) ---------------------------------------------
openssl ec -in "$T/p384.key" -pubout -outform DER -out "$T/p384.spki"
openssl ec -in "$T/p521.key" -pubout -outform DER -out "$T/p521.spki"
python3 der.py ec-jws "$T/p384.key" "$T/p384.spki" P-384 48 sha384 \
    "eyJhbGciOiJFUzM4NCJ9.eyJ2ZWN0b3IiOiJFUzM4NCJ9"
python3 der.py ec-jws "$T/p521.key" "$T/p521.spki" P-521 66 sha512 \
    "eyJhbGciOiJFUzUxMiJ9.eyJ2ZWN0b3IiOiJFUzUxMiJ9"
python3 der.py rsa-jws "$T/rsa2048.key" 32 \
    "eyJhbGciOiJQUzI1NiJ9.eyJ2ZWN0b3IiOiJQUzI1NiJ9"
python3 der.py rsa-jws "$T/rsa2048.key" max \
    "eyJhbGciOiJQUzI1NiJ9.eyJ2ZWN0b3IiOiJQUzI1NiJ9"
python3 der.py rsa-jws "$T/rsa2048.key" pkcs1 \
    "eyJhbGciOiJSUzI1NiJ9.eyJ2ZWN0b3IiOiJSUzI1NiJ9"
# A 1024-bit RSA key, to be refused.
openssl genrsa -out "$T/rsa1024.key" 1024
python3 der.py rsa-jws "$T/rsa1024.key" pkcs1 "x"

# SubjectPublicKeyInfo of the P-256 key (csr_ec_sans.der, cert_ec.der).
openssl x509 -in cert_ec.pem -noout -pubkey |
    openssl pkey -pubin -outform DER -out spki_p256.der
chmod 644 ./*.der ./*.pem
