// Sealing one value with WebCrypto, in sealant's (and Bitnami sealed-secrets') wire format:
//
//   u16be(len(rsa)) || rsa || aes
//
// where rsa = RSA-OAEP(SHA-256, MGF1-SHA-256, label) of a fresh 32-byte key, and aes =
// AES-256-GCM of the value under that key with a 12-byte zero nonce and no associated data
// (tag appended). The zero nonce is safe because each key encrypts exactly one value. The
// label says where the value may be unsealed: "namespace/name" (strict), "namespace"
// (namespace-wide) or empty (cluster-wide). Everything here runs in the browser (or Node):
// nothing is sent anywhere.

export const SCOPES = ["strict", "namespace-wide", "cluster-wide"];

export const ANNOTATION_CLUSTER_WIDE = "sealedsecrets.bitnami.com/cluster-wide";
export const ANNOTATION_NAMESPACE_WIDE = "sealedsecrets.bitnami.com/namespace-wide";
export const ANNOTATION_KEY_IDS = "sealant.dev/key-ids";
export const ANNOTATION_SEALED_FOR = "sealant.dev/sealed-for";

const encoder = new TextEncoder();

function subtle() {
  const s = globalThis.crypto && globalThis.crypto.subtle;
  if (!s) {
    throw new Error(
      "the Web Crypto API is not available: open this page over https:// or on http://localhost",
    );
  }
  return s;
}

/** The OAEP label for a value unsealed as `namespace/name` under `scope`. */
export function labelFor(scope, namespace, name) {
  switch (scope) {
    case "strict":
      return encoder.encode(`${namespace}/${name}`);
    case "namespace-wide":
      return encoder.encode(namespace);
    case "cluster-wide":
      return new Uint8Array(0);
    default:
      throw new Error(`unknown scope ${JSON.stringify(scope)}`);
  }
}

/** Imports a DER SubjectPublicKeyInfo as an RSA-OAEP SHA-256 encryption key. */
export async function importSealingKey(spki) {
  return subtle().importKey("spki", spki, { name: "RSA-OAEP", hash: "SHA-256" }, false, [
    "encrypt",
  ]);
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256(bytes) {
  return new Uint8Array(await subtle().digest("SHA-256", bytes));
}

/** sealant's key id: the first 8 bytes of SHA-256 over the DER SubjectPublicKeyInfo, in hex. */
export async function keyIdOf(spki) {
  return hex((await sha256(spki)).subarray(0, 8));
}

/**
 * The `sealant.dev/sealed-for` value: "v1:" and the first 8 bytes of SHA-256 over
 * "sealant.dev/sealed-for" 0 scope 0 label, in hex.
 */
export async function sealedFor(scope, namespace, name) {
  const parts = [
    encoder.encode(ANNOTATION_SEALED_FOR),
    new Uint8Array([0]),
    encoder.encode(scope),
    new Uint8Array([0]),
    labelFor(scope, namespace, name),
  ];
  const input = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    input.set(p, at);
    at += p.length;
  }
  return "v1:" + hex((await sha256(input)).subarray(0, 8));
}

/** Seals `plaintext` (bytes) for the holder of `publicKey`'s private key under `label`. */
export async function sealValue(publicKey, plaintext, label) {
  const s = subtle();
  const sessionKey = globalThis.crypto.getRandomValues(new Uint8Array(32));
  try {
    const aesKey = await s.importKey("raw", sessionKey, { name: "AES-GCM" }, false, ["encrypt"]);
    const aes = new Uint8Array(
      await s.encrypt({ name: "AES-GCM", iv: new Uint8Array(12), tagLength: 128 }, aesKey, plaintext),
    );
    const rsa = new Uint8Array(await s.encrypt({ name: "RSA-OAEP", label }, publicKey, sessionKey));
    if (rsa.length > 0xffff) throw new Error("RSA ciphertext too long");
    const out = new Uint8Array(2 + rsa.length + aes.length);
    out[0] = rsa.length >> 8;
    out[1] = rsa.length & 0xff;
    out.set(rsa, 2);
    out.set(aes, 2 + rsa.length);
    return out;
  } finally {
    sessionKey.fill(0);
  }
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = new Map(Array.from(B64, (c, i) => [c, i]));

/** Standard, padded base64 without line breaks. */
export function base64Encode(bytes) {
  const parts = [];
  let chunk = "";
  const n = bytes.length;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    chunk += B64[v >> 18] + B64[(v >> 12) & 63] + B64[(v >> 6) & 63] + B64[v & 63];
    if (chunk.length >= 8192) {
      parts.push(chunk);
      chunk = "";
    }
  }
  if (i < n) {
    const v = (bytes[i] << 16) | ((i + 1 < n ? bytes[i + 1] : 0) << 8);
    chunk += B64[v >> 18] + B64[(v >> 12) & 63];
    chunk += i + 1 < n ? B64[(v >> 6) & 63] + "=" : "==";
  }
  parts.push(chunk);
  return parts.join("");
}

/**
 * Decodes standard, padded base64 as the CLI does (Go's rules): `\r` and `\n` are ignored; the
 * URL-safe alphabet, missing padding and non-zero trailing bits are errors.
 */
export function base64Decode(text) {
  const compact = text.replace(/[\r\n]/g, "");
  if (compact.length % 4 !== 0) {
    throw new Error("invalid base64: the length is not a multiple of 4 (missing padding?)");
  }
  const pad = compact.endsWith("==") ? 2 : compact.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((compact.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < compact.length; i += 4) {
    let v = 0;
    for (let j = 0; j < 4; j++) {
      const c = compact[i + j];
      const last = i + 4 === compact.length;
      let d;
      if (c === "=" && last && j >= 4 - pad) {
        d = 0;
      } else {
        d = B64_INDEX.get(c);
        if (d === undefined) {
          throw new Error(`invalid base64: unexpected character at offset ${i + j}`);
        }
      }
      v = (v << 6) | d;
    }
    const triple = [(v >> 16) & 255, (v >> 8) & 255, v & 255];
    const take = i + 4 === compact.length ? 3 - pad : 3;
    if (take < 3 && triple.slice(take).some((b) => b !== 0)) {
      throw new Error("invalid base64: non-zero trailing bits");
    }
    for (let k = 0; k < take; k++) out[o++] = triple[k];
  }
  return out;
}

/** Sealed bytes' structure (no key needed): the RSA part's length and the plaintext length. */
export function layout(sealed) {
  if (sealed.length < 2) throw new Error("sealed value too short");
  const rsaLen = (sealed[0] << 8) | sealed[1];
  if (sealed.length < 2 + rsaLen + 16) throw new Error("sealed value too short");
  return { rsaLen, plaintextLen: sealed.length - 2 - rsaLen - 16 };
}
