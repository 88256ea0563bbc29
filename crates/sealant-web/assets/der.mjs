// Just enough DER to read an X.509 certificate: its SubjectPublicKeyInfo (what WebCrypto
// imports) and its validity. Bounded: certificates over 64 KiB, lengths over 4 bytes and
// elements running past their parent are refused.

export const MAX_CERT_BYTES = 64 * 1024;

/** The DER bytes of the first CERTIFICATE block of a PEM text. */
export function pemToDer(pem) {
  if (typeof pem !== "string" || pem.length > MAX_CERT_BYTES * 2) {
    throw new Error("not a PEM certificate (or larger than 64 KiB)");
  }
  const m = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem);
  if (!m) throw new Error("no PEM CERTIFICATE block found");
  const b64 = m[1].replace(/\s+/g, "");
  let bin;
  try {
    bin = atob(b64);
  } catch {
    throw new Error("the PEM CERTIFICATE block is not valid base64");
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** One element: tag, where its content starts and ends. */
function element(bytes, pos, limit) {
  if (pos + 2 > limit) throw new Error("truncated DER element");
  const tag = bytes[pos];
  let len = bytes[pos + 1];
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error("unsupported DER length");
    if (start + n > limit) throw new Error("truncated DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + bytes[start + i];
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new Error("DER element runs past its parent");
  return { tag, head: pos, start, end };
}

/** The children of a constructed element. */
function children(bytes, parent) {
  const out = [];
  let pos = parent.start;
  while (pos < parent.end) {
    const el = element(bytes, pos, parent.end);
    out.push(el);
    pos = el.end;
    if (out.length > 64) throw new Error("too many DER elements");
  }
  return out;
}

const SEQUENCE = 0x30;
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;
const INTEGER = 0x02;

function readTime(bytes, el) {
  const text = String.fromCharCode(...bytes.subarray(el.start, el.end));
  let m;
  if (el.tag === UTC_TIME) {
    m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text);
    if (m) {
      const yy = Number(m[1]);
      m = [m[0], String(yy < 50 ? 2000 + yy : 1900 + yy), ...m.slice(2)];
    }
  } else if (el.tag === GENERALIZED_TIME) {
    m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text);
  }
  if (!m) throw new Error("unsupported certificate time " + JSON.stringify(text));
  const [, y, mo, d, h, mi, s] = m.map(Number);
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}

/**
 * Reads a DER certificate: `{ spki, notBefore, notAfter, serial }` (spki as bytes, serial as
 * lower-case hex without leading zeros).
 */
export function parseCertificate(der) {
  if (!(der instanceof Uint8Array) || der.length > MAX_CERT_BYTES) {
    throw new Error("not a certificate (or larger than 64 KiB)");
  }
  const cert = element(der, 0, der.length);
  if (cert.tag !== SEQUENCE || cert.end !== der.length) throw new Error("not a DER certificate");
  const [tbsEl] = children(der, cert);
  if (!tbsEl || tbsEl.tag !== SEQUENCE) throw new Error("not a DER certificate");
  const tbs = children(der, tbsEl);
  // An explicit [0] version comes first in v3 certificates.
  const fields = tbs[0] && tbs[0].tag === 0xa0 ? tbs.slice(1) : tbs;
  // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
  if (fields.length < 6) throw new Error("truncated certificate");
  const [serialEl, , , validityEl, , spkiEl] = fields;
  if (serialEl.tag !== INTEGER || validityEl.tag !== SEQUENCE || spkiEl.tag !== SEQUENCE) {
    throw new Error("unexpected certificate structure");
  }
  const validity = children(der, validityEl);
  if (validity.length !== 2) throw new Error("unexpected certificate validity");
  const serial = Array.from(der.subarray(serialEl.start, serialEl.end), (b) =>
    b.toString(16).padStart(2, "0"),
  )
    .join("")
    .replace(/^0+(?=.)/, "");
  return {
    spki: der.slice(spkiEl.head, spkiEl.end),
    notBefore: readTime(der, validity[0]),
    notAfter: readTime(der, validity[1]),
    serial,
  };
}
