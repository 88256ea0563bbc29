// Runs the sealing page's modules in Node (same WebCrypto API as the browser) for
// tests/page_logic.rs: reads `{ cert, cases }` as JSON on stdin, runs each case and prints one
// JSON array of results. Bytes travel as base64 both ways.

import { parseCertificate, pemToDer } from "../../assets/der.mjs";
import {
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
    default:
      throw new Error(`unknown op ${c.op}`);
  }
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
