// Runs the sealing page's modules in Node (same WebCrypto API as the browser) for
// tests/page_logic.rs: reads `{ cert, cases }` as JSON on stdin, runs each case and prints one
// JSON array of results. Bytes travel as base64 both ways.

import { parseCertificate, pemToDer } from "../../assets/der.mjs";
import {
  InputError,
  checkRequest,
  mergeInto,
  readSealedSecret,
  readSecretManifest,
  sealRaw,
  sealSecret,
} from "../../assets/manifest.mjs";
import { itemKeyProblem, namespaceProblem, objectNameProblem } from "../../assets/names.mjs";
import { toJson, toYaml } from "../../assets/render.mjs";
import { base64Decode, base64Encode, importSealingKey, keyIdOf } from "../../assets/sealing.mjs";

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

function request(r) {
  return {
    mode: r.mode || "object",
    namespace: r.namespace || "",
    name: r.name || "",
    scope: r.scope || "strict",
    type: r.type || "",
    immutable: r.immutable,
    metadata: r.metadata || {},
    items: (r.items || []).map((item, i) => ({ id: i + 1, key: item.key, bytes: base64Decode(item.value) })),
  };
}

// A small seeded generator (mulberry32), so a failing run can be repeated.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = ["&a ", "*a", "<<: *a", "!!binary ", "!!js/function ", "{", "}", "[", "]", ": ", "- ", "\n  ",
  "\n", "'", '"', "#", "|", ">", "---\n", "...\n", "__proto__: {polluted: yes}\n", "constructor: ",
  "? ", "%YAML 1.2\n", "\t", "\u0000", "\ufeff", "\ud800", "9e999", "0x", "~", "null", "data:", "kind: Secret\n"];

/**
 * Mutates the base inputs `count` times and reads each as a Secret manifest and as a
 * SealedSecret: any failure other than an InputError (an exception the page would not show next
 * to the field), or a polluted prototype, is reported.
 */
function fuzz(seed, count, base) {
  const next = rng(seed);
  const pick = (n) => Math.floor(next() * n);
  const unexpected = [];
  for (let i = 0; i < count; i++) {
    let text = base[pick(base.length)];
    for (let m = 1 + pick(4); m > 0; m--) {
      const at = pick(text.length + 1);
      switch (pick(4)) {
        case 0:
          text = text.slice(0, at) + PIECES[pick(PIECES.length)] + text.slice(at);
          break;
        case 1:
          text = text.slice(0, at) + text.slice(at + 1 + pick(20));
          break;
        case 2:
          text = text.slice(0, at) + text.slice(pick(text.length), at + pick(40)) + text.slice(at);
          break;
        default:
          text = text.slice(0, at) + String.fromCharCode(pick(0x3000)) + text.slice(at);
      }
    }
    for (const read of [readSecretManifest, readSealedSecret]) {
      try {
        read(text);
      } catch (e) {
        if (!(e instanceof InputError)) unexpected.push({ input: text, message: String(e && e.message) });
      }
    }
    if ({}.polluted !== undefined) unexpected.push({ input: text, message: "Object.prototype polluted" });
  }
  return { runs: count, unexpected: unexpected.slice(0, 5) };
}

const render = (ss, format) => (format === "json" ? toJson(ss) : toYaml(ss));

async function run(c, key) {
  switch (c.op) {
    case "key":
      return { keyId: key.keyId, notAfter: key.notAfter.toISOString(), serial: key.serial };
    case "seal": {
      const req = request(c.request);
      const errors = checkRequest(req, null);
      if (errors.length) return { errors: errors.map((e) => `${e.field}: ${e.message}`) };
      return { text: render(await sealSecret(req, key), c.format) };
    }
    case "manifest": {
      const secret = readSecretManifest(c.text);
      const req = {
        mode: "object",
        ...secret,
        scope: c.scope || secret.scope,
        items: secret.items.map((item, i) => ({ id: i + 1, ...item })),
      };
      const errors = checkRequest(req, null);
      if (errors.length) return { errors: errors.map((e) => `${e.field}: ${e.message}`) };
      return { text: render(await sealSecret(req, key), c.format) };
    }
    case "merge": {
      const existing = readSealedSecret(c.existing);
      const req = { ...request(c.request), mode: "merge" };
      const errors = checkRequest(req, existing);
      if (errors.length) return { errors: errors.map((e) => `${e.field}: ${e.message}`) };
      return { text: render(await mergeInto(existing, req, key), c.format) };
    }
    case "raw": {
      const req = { ...request(c.request), mode: "raw" };
      const errors = checkRequest(req, null);
      if (errors.length) return { errors: errors.map((e) => `${e.field}: ${e.message}`) };
      return { text: await sealRaw(req, key) };
    }
    case "check":
      return { errors: checkRequest(request(c.request), null).map((e) => `${e.field}: ${e.message}`) };
    case "names":
      return {
        objectName: c.values.map(objectNameProblem),
        namespace: c.values.map(namespaceProblem),
        itemKey: c.values.map(itemKeyProblem),
      };
    case "base64":
      return {
        encoded: c.values.map((v) => base64Encode(base64Decode(v))),
        decoded: c.invalid.map((v) => {
          try {
            base64Decode(v);
            return null;
          } catch (e) {
            return e.message;
          }
        }),
      };
    case "fuzz":
      return fuzz(c.seed, c.count, c.base);
    default:
      throw new Error(`unknown op ${c.op}`);
  }
}

// Node 18 (Debian bookworm's) has WebCrypto only as node:crypto's `webcrypto`; browsers and
// Node 19+ have it as the global the page's modules use.
if (!globalThis.crypto || !globalThis.crypto.subtle) {
  globalThis.crypto = (await import("node:crypto")).webcrypto;
}
const input = JSON.parse(await readStdin());
const cert = parseCertificate(pemToDer(input.cert));
const key = {
  keyId: await keyIdOf(cert.spki),
  publicKey: await importSealingKey(cert.spki),
  notAfter: cert.notAfter,
  serial: cert.serial,
};
const results = [];
for (const c of input.cases) {
  try {
    results.push(await run(c, key));
  } catch (e) {
    results.push({ error: String(e.message) });
  }
}
process.stdout.write(JSON.stringify(results));
