// Secrets and SealedSecrets as the CLI reads and writes them (crates/sealant-api: stream.rs,
// seal.rs, limits.rs), for the sealing page: reading a pasted Secret manifest or SealedSecret
// (YAML or JSON, bounded), checking a sealing request, and building the SealedSecret `sealant
// seal` would build (or merging into an existing one as `sealant seal --merge-into`).

import { CORE_SCHEMA, loadAll } from "./vendor/js-yaml.mjs";
import { itemKeyProblem, namespaceProblem, objectNameProblem } from "./names.mjs";
import {
  ANNOTATION_CLUSTER_WIDE,
  ANNOTATION_KEY_IDS,
  ANNOTATION_NAMESPACE_WIDE,
  ANNOTATION_SEALED_FOR,
  SCOPES,
  base64Decode,
  base64Encode,
  labelFor,
  layout,
  sealValue,
  sealedFor,
} from "./sealing.mjs";

/** A Secret's values may add up to at most 1 MiB (Kubernetes' limit, as the CLI checks). */
export const MAX_SECRET_DATA_BYTES = 1024 * 1024;
/** Pasted inputs over 16 MiB are refused (the CLI's input limit). */
export const MAX_INPUT_BYTES = 16 * 1024 * 1024;
/** No string of a valid input is longer: the base64 of 1 MiB sealed for an 8192-bit key. */
export const MAX_STRING_BYTES = Math.ceil((MAX_SECRET_DATA_BYTES + 2 + 1024 + 16) / 3) * 4;
/** Nesting deeper than this is refused while parsing (Secret manifests need about 6). */
export const MAX_DEPTH = 64;
/** At most this many ids are kept in `sealant.dev/key-ids`. */
export const MAX_KEY_ID_HINTS = 8;

const KUBECTL_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";
const KUBECFG_LAST_APPLIED = "kubecfg.ksonnet.io/last-applied-configuration";

/** An error about one field of an input (`field` names it for the page, `path` for people). */
export class InputError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

function typeName(v) {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "boolean") return "a boolean";
  if (typeof v === "number") return "a number";
  return "a string";
}

/** Sets an own property, also for keys such as `__proto__` (plain assignment would not). */
function setOwn(obj, key, value) {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Parses a pasted YAML stream or JSON text into its non-empty documents. Bounded: 16 MiB of
 * text, nesting 64 deep, no YAML aliases (a Secret manifest never needs them, and they are how
 * small inputs blow up), no string over the longest a valid value can be, text only.
 */
export function parseDocuments(text, field) {
  if (text.length > MAX_INPUT_BYTES) {
    throw new InputError(field, `the input is ${text.length} characters, more than the 16 MiB limit`);
  }
  if (typeof text.isWellFormed === "function" && !text.isWellFormed()) {
    throw new InputError(field, "the input is not valid Unicode text");
  }
  const body = text.replace(/^\ufeff/, "");
  let docs;
  if (/^\s*[{[]/.test(body)) {
    try {
      docs = [JSON.parse(body)];
    } catch (jsonError) {
      // A YAML flow mapping also starts with `{`: fall back to YAML, but report JSON's error.
      try {
        docs = loadYaml(body);
      } catch {
        throw new InputError(field, `not valid JSON: ${jsonError.message}`);
      }
    }
  } else {
    try {
      docs = loadYaml(body);
    } catch (e) {
      throw new InputError(field, `not valid YAML: ${String(e.message).split("\n")[0]}`);
    }
  }
  docs = docs.filter((d) => d !== null && d !== undefined);
  for (const doc of docs) checkValue(doc, field, "", 0);
  return docs;
}

function loadYaml(text) {
  return loadAll(text, { schema: CORE_SCHEMA, maxDepth: MAX_DEPTH, maxAliases: 0 });
}

function checkValue(v, field, path, depth) {
  if (depth > MAX_DEPTH) throw new InputError(field, "nested too deeply");
  if (typeof v === "string") {
    if (v.length > MAX_STRING_BYTES) {
      throw new InputError(
        field,
        `${path || "(value)"}: value is ${v.length} characters, more than the ${MAX_STRING_BYTES}-character limit (a Secret's data holds at most 1 MiB)`,
      );
    }
  } else if (typeof v === "number" && !Number.isFinite(v)) {
    throw new InputError(field, `${path || "(value)"}: not a finite number`);
  } else if (Array.isArray(v)) {
    v.forEach((x, i) => checkValue(x, field, `${path}[${i}]`, depth + 1));
  } else if (isObject(v)) {
    for (const [k, x] of Object.entries(v)) checkValue(x, field, path ? `${path}.${k}` : k, depth + 1);
  }
}

function stringMap(obj, key, field, path) {
  const v = obj[key];
  if (v === undefined || v === null) return null;
  if (!isObject(v)) throw new InputError(field, `${path}: expected a mapping, found ${typeName(v)}`);
  const out = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== "string") {
      throw new InputError(field, `${path}.${k}: expected a string, found ${typeName(x)} (quote the value in YAML)`);
    }
    setOwn(out, k, x);
  }
  return out;
}

/** Template metadata fields the CLI carries from an input Secret (others are server-set). */
const TEMPLATE_META_FIELDS = ["name", "namespace", "generateName", "labels", "annotations", "finalizers", "managedFields"];

/**
 * Reads one pasted Secret manifest into `{ namespace, name, type, immutable, items, metadata }`:
 * `items` is a list of `{ key, bytes }` (`data` decoded from base64, then `stringData`, which
 * wins on a name clash), `metadata` the rest of the metadata the CLI copies into the template.
 */
export function readSecretManifest(text) {
  const field = "manifest";
  const docs = parseDocuments(text, field);
  if (docs.length !== 1) {
    throw new InputError(field, docs.length === 0 ? "no Secret found" : `paste one Secret (found ${docs.length} documents)`);
  }
  const doc = docs[0];
  if (!isObject(doc)) throw new InputError(field, `expected a Secret (a mapping), found ${typeName(doc)}`);
  const kind = doc.kind;
  if (kind === "SealedSecret") {
    throw new InputError(field, "kind: this is a SealedSecret, which is already sealed: paste it under “Add to an existing SealedSecret”");
  }
  if (kind !== undefined && kind !== null && kind !== "Secret") {
    throw new InputError(field, `kind: expected kind Secret, found ${JSON.stringify(kind)}: only Secrets can be sealed`);
  }
  const meta = doc.metadata === undefined || doc.metadata === null ? {} : doc.metadata;
  if (!isObject(meta)) throw new InputError(field, `metadata: expected a mapping, found ${typeName(meta)}`);
  const metadata = {};
  for (const k of TEMPLATE_META_FIELDS) {
    const v = meta[k];
    if (v === undefined || v === null) continue;
    if (["name", "namespace", "generateName"].includes(k) && typeof v !== "string") {
      throw new InputError(field, `metadata.${k}: expected a string, found ${typeName(v)}`);
    }
    if (k === "labels" || k === "annotations") {
      metadata[k] = stringMap(meta, k, field, `metadata.${k}`);
      continue;
    }
    if (k === "finalizers" && !(Array.isArray(v) && v.every((x) => typeof x === "string"))) {
      throw new InputError(field, "metadata.finalizers: expected a list of strings");
    }
    if (k === "managedFields" && !(Array.isArray(v) && v.every(isObject))) {
      throw new InputError(field, "metadata.managedFields: expected a list of mappings");
    }
    metadata[k] = v;
  }
  if (doc.type !== undefined && doc.type !== null && typeof doc.type !== "string") {
    throw new InputError(field, `type: expected a string, found ${typeName(doc.type)}`);
  }
  if (doc.immutable !== undefined && doc.immutable !== null && typeof doc.immutable !== "boolean") {
    throw new InputError(field, `immutable: expected a boolean, found ${typeName(doc.immutable)}`);
  }
  const items = new Map();
  const data = stringMap(doc, "data", field, "data");
  for (const [k, v] of Object.entries(data || {})) {
    let bytes;
    try {
      bytes = base64Decode(v);
    } catch (e) {
      throw new InputError(field, `data.${k}: ${e.message}; use stringData for values that are not base64`);
    }
    items.set(k, bytes);
  }
  const stringData = stringMap(doc, "stringData", field, "stringData");
  for (const [k, v] of Object.entries(stringData || {})) items.set(k, new TextEncoder().encode(v));
  const { name = "", namespace = "" } = metadata;
  delete metadata.name;
  delete metadata.namespace;
  const annotations = metadata.annotations || {};
  return {
    namespace,
    name,
    scope: scopeFromAnnotations(annotations),
    type: doc.type || "",
    immutable: doc.immutable === true || doc.immutable === false ? doc.immutable : undefined,
    items: [...items.entries()].map(([key, bytes]) => ({ key, bytes })),
    metadata,
  };
}

/** The scope the annotations declare, as upstream: cluster-wide first, exact "true". */
export function scopeFromAnnotations(annotations) {
  if (annotations && annotations[ANNOTATION_CLUSTER_WIDE] === "true") return "cluster-wide";
  if (annotations && annotations[ANNOTATION_NAMESPACE_WIDE] === "true") return "namespace-wide";
  return "strict";
}

function setScopeAnnotations(annotations, scope) {
  delete annotations[ANNOTATION_CLUSTER_WIDE];
  delete annotations[ANNOTATION_NAMESPACE_WIDE];
  if (scope === "namespace-wide") annotations[ANNOTATION_NAMESPACE_WIDE] = "true";
  if (scope === "cluster-wide") annotations[ANNOTATION_CLUSTER_WIDE] = "true";
}

/** Reads one pasted SealedSecret (apiVersion and kind required, as the CLI). */
export function readSealedSecret(text) {
  const field = "existing";
  const docs = parseDocuments(text, field);
  if (docs.length !== 1) {
    throw new InputError(
      field,
      docs.length === 0 ? "no SealedSecret found" : `paste one SealedSecret (found ${docs.length} documents)`,
    );
  }
  const ss = docs[0];
  if (!isObject(ss)) throw new InputError(field, `expected a SealedSecret (a mapping), found ${typeName(ss)}`);
  if (ss.kind === "Secret") {
    throw new InputError(field, "kind: this is a plain Secret, not a SealedSecret: paste it under “Start from a Secret manifest”");
  }
  if (ss.apiVersion !== "bitnami.com/v1alpha1" || ss.kind !== "SealedSecret") {
    throw new InputError(field, "not a SealedSecret: apiVersion bitnami.com/v1alpha1 and kind SealedSecret are required");
  }
  if (!isObject(ss.spec)) throw new InputError(field, "spec: missing (it is required)");
  if (ss.spec.data !== undefined && ss.spec.data !== null) {
    throw new InputError(field, "spec.data: a deprecated v1 SealedSecret cannot be merged into; re-seal it first");
  }
  if (ss.spec.encryptedData !== undefined && ss.spec.encryptedData !== null && !isObject(ss.spec.encryptedData)) {
    throw new InputError(field, "spec.encryptedData: expected a mapping");
  }
  const meta = isObject(ss.metadata) ? ss.metadata : {};
  if (typeof meta.name !== "string" || meta.name === "") {
    throw new InputError(field, "cannot merge into this SealedSecret: it has no metadata.name");
  }
  if (meta.namespace !== undefined && meta.namespace !== null && typeof meta.namespace !== "string") {
    throw new InputError(field, "metadata.namespace: expected a string");
  }
  const annotations = isObject(meta.annotations) ? meta.annotations : {};
  const template = isObject(ss.spec.template) ? ss.spec.template : {};
  return {
    object: ss,
    namespace: meta.namespace || "",
    name: meta.name,
    scope: scopeFromAnnotations(annotations),
    type: typeof template.type === "string" ? template.type : "",
    items: Object.keys(isObject(ss.spec.encryptedData) ? ss.spec.encryptedData : {}),
  };
}

/**
 * Checks a sealing request; returns a list of `InputError`s (empty when it can be sealed).
 * `request`: `{ namespace, name, scope, type, items: [{ key, bytes, id }], mode }` with mode
 * "object" (a SealedSecret), "raw" (one value) or "merge" (into `existing`).
 */
export function checkRequest(request, existing) {
  const errors = [];
  const add = (field, message) => errors.push(new InputError(field, message));
  const { scope, mode } = request;
  if (!SCOPES.includes(scope)) add("scope", `unknown scope ${JSON.stringify(scope)}`);
  if (mode === "merge") {
    if (!existing) add("existing", "paste the SealedSecret to add the items to");
  } else {
    const needNamespace = scope !== "cluster-wide";
    if (request.namespace !== "" || needNamespace) {
      const why = request.namespace === "" ? "is required for this scope" : namespaceProblem(request.namespace);
      if (why) add("namespace", `Namespace ${why}`);
    }
    const needName = mode === "object" || scope === "strict";
    if (request.name !== "" || needName) {
      const why = request.name === "" ? "is required" + (mode === "raw" ? " for the strict scope" : "") : objectNameProblem(request.name);
      if (why) add("name", `Name ${why}`);
    }
    if (mode !== "raw" && request.type !== "" && !/^[\x21-\x7e]{1,253}$/.test(request.type)) {
      add("type", "Type must be 1 to 253 visible ASCII characters (e.g. Opaque, kubernetes.io/tls)");
    }
  }
  if (request.items.length === 0) add("items", "add at least one item");
  if (mode === "raw" && request.items.length > 1) {
    add("items", "a raw value is one value: keep exactly one item");
  }
  const seen = new Set();
  let total = 0;
  for (const item of request.items) {
    if (mode !== "raw") {
      const why = itemKeyProblem(item.key);
      if (why) add(`item-${item.id}-key`, `Key ${why}`);
      else if (seen.has(item.key)) add(`item-${item.id}-key`, `Key ${JSON.stringify(item.key)} is used twice`);
      seen.add(item.key);
    }
    if (item.bytes === null) add(`item-${item.id}-value`, "the file could not be read");
    else if (item.bytes.length === 0) add(`item-${item.id}-value`, "Value is empty: type a value or choose a file");
    else total += item.bytes.length;
  }
  if (mode === "merge" && existing) {
    // The existing items that stay count too (sizes read from the sealed values' structure).
    for (const [key, value] of Object.entries(existing.object.spec.encryptedData || {})) {
      if (seen.has(key) || typeof value !== "string") continue;
      try {
        total += layout(base64Decode(value)).plaintextLen;
      } catch {
        // Values that are not well-formed are left to fail on their own, as in the CLI.
      }
    }
  }
  if (total > MAX_SECRET_DATA_BYTES) {
    add(
      "items",
      `the values add up to ${total} bytes, more than the ${MAX_SECRET_DATA_BYTES} bytes (1 MiB) Kubernetes allows in a Secret's data`,
    );
  }
  return errors;
}

async function sealItems(items, key, label) {
  const out = {};
  for (const item of items) setOwn(out, item.key, base64Encode(await sealValue(key.publicKey, item.bytes, label)));
  return out;
}

/**
 * The SealedSecret `sealant seal --scope SCOPE` makes of a Secret with these fields (`key`:
 * `{ publicKey, keyId }`). `metadata` holds the other metadata of a pasted manifest.
 */
export async function sealSecret(request, key) {
  const { scope, name, namespace } = request;
  const meta = structuredClone(request.metadata || {});
  const annotations = meta.annotations || {};
  setScopeAnnotations(annotations, scope);
  delete annotations[KUBECTL_LAST_APPLIED];
  delete annotations[KUBECFG_LAST_APPLIED];
  meta.annotations = annotations;
  const templateMeta = { name };
  if (namespace) templateMeta.namespace = namespace;
  for (const [k, v] of Object.entries(meta)) setOwn(templateMeta, k, v);
  const top = { [ANNOTATION_KEY_IDS]: key.keyId, [ANNOTATION_SEALED_FOR]: await sealedFor(scope, namespace, name) };
  setScopeAnnotations(top, scope);
  const template = { metadata: templateMeta };
  if (request.type) template.type = request.type;
  if (request.immutable !== undefined) template.immutable = request.immutable;
  const metadata = { name };
  if (namespace) metadata.namespace = namespace;
  metadata.annotations = top;
  return {
    apiVersion: "bitnami.com/v1alpha1",
    kind: "SealedSecret",
    metadata,
    spec: {
      template,
      encryptedData: await sealItems(request.items, key, labelFor(scope, namespace, name)),
    },
  };
}

/** One value, as `sealant seal --raw`: base64 without a trailing newline. */
export async function sealRaw(request, key) {
  const { scope } = request;
  const namespace = scope === "cluster-wide" ? "" : request.namespace;
  const name = scope === "strict" ? request.name : "";
  return base64Encode(await sealValue(key.publicKey, request.items[0].bytes, labelFor(scope, namespace, name)));
}

function parseKeyIds(list) {
  const ids = [];
  for (const s of String(list).split(",").slice(0, MAX_KEY_ID_HINTS)) {
    const id = s.trim();
    if (/^[0-9a-f]{16}$/.test(id) && !ids.includes(id)) ids.push(id);
  }
  return ids;
}

/**
 * Seals the items into a copy of `existing` (from `readSealedSecret`), as `sealant seal
 * --merge-into`: sealed for the existing object's name, namespace and scope; other items kept
 * byte for byte; the input's labels and annotations merged into the template (scope and
 * last-applied annotations excepted); the new key id first in `sealant.dev/key-ids`;
 * `sealant.dev/sealed-for` added only when every value is known to be sealed for the object.
 */
export async function mergeInto(existing, request, key) {
  const ss = structuredClone(existing.object);
  const { name, namespace, scope } = existing;
  if (!isObject(ss.metadata)) ss.metadata = {};
  const annotations = isObject(ss.metadata.annotations) ? ss.metadata.annotations : {};
  ss.metadata.annotations = annotations;
  const encrypted = isObject(ss.spec.encryptedData) ? ss.spec.encryptedData : {};
  const sealed = await sealItems(request.items, key, labelFor(scope, namespace, name));
  const othersUnknown = Object.keys(encrypted).some((k) => !(k in sealed));
  for (const [k, v] of Object.entries(sealed)) setOwn(encrypted, k, v);
  ss.spec.encryptedData = encrypted;
  if (!(ANNOTATION_SEALED_FOR in annotations) && !othersUnknown) {
    annotations[ANNOTATION_SEALED_FOR] = await sealedFor(scope, namespace, name);
  }
  const input = request.metadata || {};
  if (!isObject(ss.spec.template)) ss.spec.template = {};
  const template = ss.spec.template;
  if (!isObject(template.metadata)) template.metadata = {};
  if (input.labels && Object.keys(input.labels).length > 0) {
    template.metadata.labels = { ...(isObject(template.metadata.labels) ? template.metadata.labels : {}), ...input.labels };
  }
  const merged = Object.entries(input.annotations || {}).filter(
    ([k]) => ![KUBECTL_LAST_APPLIED, KUBECFG_LAST_APPLIED, ANNOTATION_CLUSTER_WIDE, ANNOTATION_NAMESPACE_WIDE].includes(k),
  );
  if (merged.length > 0) {
    template.metadata.annotations = {
      ...(isObject(template.metadata.annotations) ? template.metadata.annotations : {}),
      ...Object.fromEntries(merged),
    };
  }
  const old = annotations[ANNOTATION_KEY_IDS] === undefined ? [] : parseKeyIds(annotations[ANNOTATION_KEY_IDS]);
  annotations[ANNOTATION_KEY_IDS] = [key.keyId, ...old.filter((id) => id !== key.keyId)].slice(0, MAX_KEY_ID_HINTS).join(",");
  return ss;
}
