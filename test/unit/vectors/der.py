#!/usr/bin/env python3
"""Helpers for gen.sh (standard library only): a tiny DER writer, the
hand-crafted CSRs openssl will not produce, and JWS vector formatting.
Every signature is still made by `openssl dgst`."""
import base64
import ipaddress
import json
import subprocess
import sys


def tlv(tag, body):
    n = len(body)
    if n < 0x80:
        head = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + head + body


def seq(*parts):
    return tlv(0x30, b"".join(parts))


def oid(dotted):
    arcs = [int(a) for a in dotted.split(".")]
    out = bytes([40 * arcs[0] + arcs[1]])
    for a in arcs[2:]:
        enc = [a & 0x7F]
        a >>= 7
        while a:
            enc.append(0x80 | (a & 0x7F))
            a >>= 7
        out += bytes(reversed(enc))
    return tlv(0x06, out)


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def der_sig_to_raw(der, flen):
    # SEQUENCE { INTEGER r, INTEGER s }
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        ln = der[i + 1]
        v = der[i + 2:i + 2 + ln]
        out += int.from_bytes(v, "big").to_bytes(flen, "big")
        i += 2 + ln
    return out


OID_SAN = "2.5.29.17"
OID_EXT_REQ = "1.2.840.113549.1.9.14"
OID_CN = "2.5.4.3"
OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2"


def ext(oid_s, value):
    return seq(oid(oid_s), tlv(0x04, value))


def ext_req(exts):
    return seq(oid(OID_EXT_REQ), tlv(0x31, seq(*exts)))


def crafted_csr(key, spki, cn, attrs, out):
    subject = seq()
    if cn is not None:
        subject = seq(tlv(0x31, seq(oid(OID_CN), tlv(0x0C, cn.encode()))))
    cri_body = tlv(0x02, b"\x00") + subject + spki
    if attrs is not None:
        cri_body += tlv(0xA0, b"".join(attrs))
    cri = tlv(0x30, cri_body)
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                         input=cri, capture_output=True, check=True).stdout
    csr = seq(cri, seq(oid(OID_ECDSA_SHA256)), tlv(0x03, b"\x00" + sig))
    with open(out, "wb") as f:
        f.write(csr)


def crafted(key, spki_file, outdir):
    spki = open(spki_file, "rb").read()
    good = ext(OID_SAN, tlv(0x30, tlv(0x82, b"crafted.example.com")))
    # Attributes left out entirely: accepted.
    crafted_csr(key, spki, "crafted.example.com", None,
                outdir + "/csr_no_attrs.der")
    # The same extension twice in one extensionRequest.
    crafted_csr(key, spki, None, [ext_req([good, good])],
                outdir + "/csr_dup_san.der")
    # Two extensionRequest attributes.
    crafted_csr(key, spki, None, [ext_req([good]), ext_req([good])],
                outdir + "/csr_dup_extreq.der")
    # A dNSName with a control byte.
    bad = ext(OID_SAN, tlv(0x30, tlv(0x82, b"a\x01b.example.com")))
    crafted_csr(key, spki, None, [ext_req([bad])],
                outdir + "/csr_ctrl_dns.der")
    # An iPAddress of 5 bytes.
    bad = ext(OID_SAN, tlv(0x30, tlv(0x87, b"\xc0\x00\x02\x01\x00")))
    crafted_csr(key, spki, None, [ext_req([bad])],
                outdir + "/csr_bad_ip.der")


def ec_jws(key, spki_file, crv, flen, md, signing_input):
    spki = open(spki_file, "rb").read()
    point = spki[-(1 + 2 * flen):]
    assert point[0] == 4
    der = subprocess.run(["openssl", "dgst", "-" + md, "-sign", key],
                         input=signing_input.encode(), capture_output=True,
                         check=True).stdout
    jwk = {"kty": "EC", "crv": crv, "x": b64u(point[1:1 + flen]),
           "y": b64u(point[1 + flen:])}
    print(json.dumps({"jwk": jwk, "input": signing_input,
                      "sig": b64u(der_sig_to_raw(der, flen))}, indent=1))


def rsa_jws(key, saltlen, signing_input):
    mod = subprocess.run(["openssl", "rsa", "-in", key, "-noout", "-modulus"],
                         capture_output=True, check=True).stdout.decode()
    n = bytes.fromhex(mod.strip().split("=", 1)[1])
    args = ["openssl", "dgst", "-sha256", "-sign", key]
    if saltlen is not None:
        args += ["-sigopt", "rsa_padding_mode:pss", "-sigopt",
                 "rsa_pss_saltlen:" + saltlen, "-sigopt", "rsa_mgf1_md:sha256"]
    sig = subprocess.run(args, input=signing_input.encode(),
                         capture_output=True, check=True).stdout
    jwk = {"kty": "RSA", "n": b64u(n), "e": "AQAB"}
    print(json.dumps({"jwk": jwk, "input": signing_input, "sig": b64u(sig)},
                     indent=1))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "crafted":
        crafted(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "ec-jws":
        ec_jws(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]),
               sys.argv[6], sys.argv[7])
    elif cmd == "rsa-jws":
        salt = None if sys.argv[3] == "pkcs1" else sys.argv[3]
        rsa_jws(sys.argv[2], salt, sys.argv[4])
    else:
        sys.exit("unknown command")
