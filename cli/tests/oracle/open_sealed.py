#!/usr/bin/env python3
"""Independent check of sealant's output with Python `cryptography` (not sealant's code).

Usage:
  open_sealed.py KEY.pem SEALED.json        # concatenated JSON SealedSecrets (sealant seal -o json)
  open_sealed.py KEY.pem --raw LABEL BLOB   # one base64 value sealed under the OAEP label LABEL

Each value is: u16be(len(rsa_ct)) || rsa_ct || AES-256-GCM(ct || tag) with an all-zero 12-byte
nonce and no AAD; rsa_ct is RSA-OAEP(SHA-256, MGF1-SHA-256, label) of the 32-byte AES key. The
label is "namespace/name" (strict), "namespace" (namespace-wide) or "" (cluster-wide), taken
from the SealedSecret's top-level metadata.

Prints JSON: {"namespace/name": {"item": "<base64 of plaintext>"}} or, with --raw, the base64
of the plaintext. Exits non-zero if anything does not decrypt.
"""

import base64
import json
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def open_value(key, blob_b64, label):
    blob = base64.b64decode(blob_b64, validate=True)
    rsa_len = int.from_bytes(blob[:2], "big")
    if len(blob) < 2 + rsa_len + 16:
        raise ValueError("too short")
    rsa_ct, aes_ct = blob[2 : 2 + rsa_len], blob[2 + rsa_len :]
    session = key.decrypt(
        rsa_ct,
        padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()),
            algorithm=hashes.SHA256(),
            label=label if label else None,
        ),
    )
    if len(session) != 32:
        raise ValueError("session key is not 32 bytes")
    return AESGCM(session).decrypt(b"\0" * 12, aes_ct, None)


def label_of(meta):
    annotations = meta.get("annotations") or {}
    ns = meta.get("namespace") or ""
    name = meta.get("name") or ""
    if annotations.get("sealedsecrets.bitnami.com/cluster-wide") == "true":
        return b""
    if annotations.get("sealedsecrets.bitnami.com/namespace-wide") == "true":
        return ns.encode()
    return f"{ns}/{name}".encode()


def objects(text):
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return
        obj, pos = decoder.raw_decode(text, pos)
        yield obj


def main(argv):
    with open(argv[1], "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    if argv[2] == "--raw":
        plain = open_value(key, argv[4], argv[3].encode())
        print(base64.b64encode(plain).decode())
        return 0
    with open(argv[2], encoding="utf-8") as f:
        text = f.read()
    out = {}
    for obj in objects(text):
        assert obj["kind"] == "SealedSecret", obj.get("kind")
        assert obj["apiVersion"] == "bitnami.com/v1alpha1", obj.get("apiVersion")
        meta = obj["metadata"]
        label = label_of(meta)
        items = {}
        for item, blob in sorted(obj["spec"]["encryptedData"].items()):
            items[item] = base64.b64encode(open_value(key, blob, label)).decode()
        out[f"{meta.get('namespace') or ''}/{meta['name']}"] = items
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
