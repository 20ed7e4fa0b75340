#!/bin/sh
# Regenerates the certificate vectors of test/unit/test_x509.c (see
# README.md). Keys are throw-away and deleted at the end; dates and serials
# that the test checks are printed. Run from this directory.
set -eu
umask 077
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

ca() { # ca NAME SUBJECT [extra req options]: a self-signed P-256 CA
    name=$1 subj=$2
    shift 2
    openssl ecparam -name prime256v1 -genkey -noout -out "$T/$name.key"
    openssl req -x509 -new -key "$T/$name.key" -sha256 -subj "$subj" \
        -days 7300 -utf8 -multivalue-rdn \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" "$@" \
        -out "$name.pem"
}

# leaf NAME SERIAL EXTFILE-LINES...: a P-256 leaf signed by ca.pem
leaf() {
    name=$1 serial=$2
    shift 2
    printf '%s\n' "$@" > "$T/$name.ext"
    openssl ecparam -name prime256v1 -genkey -noout -out "$T/$name.key"
    openssl req -new -key "$T/$name.key" -subj "/CN=$name.example.com" \
        -out "$T/$name.csr"
    openssl x509 -req -in "$T/$name.csr" -CA ca.pem -CAkey "$T/ca.key" \
        -set_serial "$serial" -days 825 -sha256 -extfile "$T/$name.ext" \
        -out "$name.pem"
}

# ---- issuers: the DN strings x509_cert_ids must print --------------------
ca ca "/C=US/O=Example Corp/OU=PKI/CN=Example Issuing CA"
ca dn_special "/DC=com/DC=example/O=Ex \"q\" <x>/OU=a+OU=b/CN=a\,b;c=d #x "
ca dn_utf8 "/C=DE/O=Bücher & Söhne/CN=#lead, trail \\\\"
ca dn_email "/emailAddress=pki@example.com/L=Zürich/ST=ZH/serialNumber=42/CN=x"

# ---- leaves of ca.pem ----------------------------------------------------
SAN="subjectAltName=DNS:leaf.example.com,DNS:www.leaf.example.com,IP:192.0.2.7,IP:2001:db8::7"
leaf leaf_ok 0x00c0ffee01 "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth,clientAuth" \
    "$SAN" "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid:always"
leaf leaf_ca 2 "basicConstraints=critical,CA:TRUE" \
    "keyUsage=critical,digitalSignature,keyCertSign" \
    "extendedKeyUsage=serverAuth" "$SAN"
leaf leaf_ca_only 3 "basicConstraints=critical,CA:TRUE" \
    "extendedKeyUsage=serverAuth" "$SAN"
leaf leaf_kcs 4 "keyUsage=critical,digitalSignature,keyCertSign" \
    "extendedKeyUsage=serverAuth" "$SAN"
leaf leaf_crl 5 "keyUsage=critical,cRLSign" "extendedKeyUsage=serverAuth" "$SAN"
leaf leaf_client 6 "basicConstraints=critical,CA:FALSE" \
    "extendedKeyUsage=clientAuth" "$SAN"
leaf leaf_noeku 7 "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "$SAN"
leaf leaf_anyeku 8 "extendedKeyUsage=anyExtendedKeyUsage" "$SAN"
leaf leaf_email 9 "extendedKeyUsage=serverAuth" \
    "subjectAltName=DNS:leaf.example.com,email:a@example.com"
leaf leaf_nosan 10 "extendedKeyUsage=serverAuth"
leaf leaf_neg -1234 "extendedKeyUsage=serverAuth" "$SAN"

# Certificates openssl will not make (two subjectAltName extensions, a
# basicConstraints that does not decode, an issuer attribute without a
# name) are written with `openssl asn1parse -genconf`; their signature is
# not valid, which the functions under test do not look at.
openssl x509 -in leaf_ok.pem -noout -pubkey |
    openssl pkey -pubin -outform DER -out "$T/spki.der"
point=$(tail -c 65 "$T/spki.der" | od -An -v -tx1 | tr -d ' \n')
crafted() { # crafted NAME ISSUER-RDN-OID ISSUER-VALUE EXT1 EXT2
    cat > "$T/$1.cnf" <<CNF
asn1 = SEQUENCE:cert
[cert]
tbs = SEQUENCE:tbs
alg = SEQUENCE:ecdsa256
sig = FORMAT:HEX,BITSTRING:3006020101020101
[tbs]
ver = EXPLICIT:0,INTEGER:2
serial = INTEGER:77
alg = SEQUENCE:ecdsa256
issuer = SEQUENCE:issuer
validity = SEQUENCE:validity
subject = SEQUENCE:subject
spki = SEQUENCE:spki
exts = EXPLICIT:3,SEQUENCE:exts
[ecdsa256]
oid = OID:ecdsa-with-SHA256
[issuer]
rdn1 = SET:irdn1
rdn2 = SET:irdn2
[irdn1]
a = SEQUENCE:iattr1
[iattr1]
oid = OID:$2
val = UTF8:$3
[irdn2]
a = SEQUENCE:iattr2
[iattr2]
oid = OID:commonName
val = UTF8:Crafted CA
[subject]
rdn = SET:srdn
[srdn]
a = SEQUENCE:sattr
[sattr]
oid = OID:commonName
val = UTF8:$1.example.com
[validity]
nb = UTCTIME:250101000000Z
na = UTCTIME:350101000000Z
[spki]
alg = SEQUENCE:ecpk
key = FORMAT:HEX,BITSTRING:$point
[ecpk]
oid = OID:id-ecPublicKey
curve = OID:prime256v1
[exts]
e1 = SEQUENCE:$4
e2 = SEQUENCE:$5
[san]
oid = OID:subjectAltName
val = OCTWRAP,SEQUENCE:sanval
[sanval]
d = IMPLICIT:2,IA5STRING:$1.example.com
[eku]
oid = OID:extendedKeyUsage
val = OCTWRAP,SEQUENCE:ekuval
[ekuval]
a = OID:serverAuth
[badbc]
oid = OID:basicConstraints
crit = BOOLEAN:true
val = FORMAT:HEX,OCT:0500
CNF
    openssl asn1parse -genconf "$T/$1.cnf" -noout -out "$1.der"
}
crafted leaf_dup_san organizationName Example san san
crafted leaf_bad_bc organizationName Example badbc san
crafted dn_oid 1.2.3.4 custom eku san

# ---- PKCS#7 (.p7b), as AD CS returns a chain ----------------------------
openssl crl2pkcs7 -nocrl -certfile leaf_ok.pem -certfile ca.pem -out p7_chain.p7b
openssl crl2pkcs7 -nocrl -out p7_empty.p7b
printf 'not signed data\n' > "$T/data.txt"
openssl cms -data_create -in "$T/data.txt" -outform PEM -out p7_data.p7b
set --
for i in $(seq 1 17); do set -- "$@" -certfile leaf_ok.pem; done
openssl crl2pkcs7 -nocrl "$@" -out p7_17.p7b

for f in ca dn_special dn_utf8 dn_email leaf_ok leaf_neg; do
    printf '%s: ' "$f"
    openssl x509 -in "$f.pem" -noout -serial -enddate -nameopt RFC2253 -subject |
        tr '\n' ' '
    date -u -d "$(openssl x509 -in "$f.pem" -noout -enddate | cut -d= -f2)" +%s
done
chmod 644 ./*.pem ./*.der ./*.p7b
chmod 755 gen.sh
