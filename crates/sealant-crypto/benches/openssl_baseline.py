"""OpenSSL baseline for the sealant-crypto benchmark, via Python `cryptography`.

Reads a JSON job from stdin: {"key_pem": path, "blobs": [{"sealed_b64", "label"}], "rounds": n,
"keygen": n}. Unseals every blob `rounds` times (RSA-OAEP-SHA256 + AES-256-GCM, zero nonce),
seals the same plaintexts, optionally generates RSA-4096 keys, and prints per-operation times in
milliseconds as JSON on stdout. Plaintext never leaves this process.
"""

import base64
import json
import os
import sys
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def oaep(label):
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label or None)


def unseal(key, blob, label):
    n = int.from_bytes(blob[:2], "big")
    session = key.decrypt(blob[2 : 2 + n], oaep(label))
    return AESGCM(session).decrypt(b"\0" * 12, blob[2 + n :], None)


def seal(pub, plaintext, label):
    session = os.urandom(32)
    rsa_ct = pub.encrypt(session, oaep(label))
    return len(rsa_ct).to_bytes(2, "big") + rsa_ct + AESGCM(session).encrypt(b"\0" * 12, plaintext, None)


def main():
    job = json.load(sys.stdin)
    with open(job["key_pem"], "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    blobs = [(base64.b64decode(b["sealed_b64"]), b["label"].encode()) for b in job["blobs"]]
    plains = [unseal(key, blob, label) for blob, label in blobs]

    start = time.perf_counter()
    for _ in range(job["rounds"]):
        for blob, label in blobs:
            unseal(key, blob, label)
    unseal_ms = (time.perf_counter() - start) * 1000 / (job["rounds"] * len(blobs))

    pub = key.public_key()
    start = time.perf_counter()
    for _ in range(job["rounds"]):
        for (_, label), plain in zip(blobs, plains):
            seal(pub, plain, label)
    seal_ms = (time.perf_counter() - start) * 1000 / (job["rounds"] * len(blobs))

    keygen_ms = None
    if job.get("keygen"):
        start = time.perf_counter()
        for _ in range(job["keygen"]):
            rsa.generate_private_key(public_exponent=65537, key_size=4096)
        keygen_ms = (time.perf_counter() - start) * 1000 / job["keygen"]

    json.dump({"unseal_ms": unseal_ms, "seal_ms": seal_ms, "keygen_ms": keygen_ms}, sys.stdout)


if __name__ == "__main__":
    main()
