// Printing SealedSecrets in the layout `sealant seal` prints (crates/sealant-api/src/output.rs):
//
// - JSON: 2-space indent, Go struct field order (kind, apiVersion, metadata, spec...), other map
//   keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped as Go does, trailing newline;
// - YAML: `---`, every mapping key sorted, block style, strings quoted only where YAML needs it;
// - both print `creationTimestamp: null` in metadata and leave out empty metadata maps and lists.
//
// Keys are compared by code point (= UTF-8 byte order, as Rust sorts), never by JavaScript's
// property order (which puts integer-like keys first).

const FIELD_ORDER = {
  root: ["kind", "apiVersion", "metadata", "spec", "immutable", "data", "stringData", "type", "status"],
  meta: [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
  ],
  spec: ["template", "data", "encryptedData"],
  template: ["metadata", "type", "immutable", "data"],
  status: ["conditions", "observedGeneration"],
  condition: [
    "type",
    "status",
    "lastUpdateTime",
    "lastTransitionTime",
    "reason",
    "message",
    "observedGeneration",
  ],
  ownerRef: ["apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"],
  sorted: [],
};

function childContext(ctx, key) {
  if (ctx === "sorted") return "sorted";
  if ((ctx === "root" || ctx === "template") && key === "metadata") return "meta";
  if (ctx === "root" && key === "spec") return "spec";
  if (ctx === "root" && key === "status") return "status";
  if (ctx === "spec" && key === "template") return "template";
  if (ctx === "meta" && key === "ownerReferences") return "ownerRef";
  if (ctx === "status" && key === "conditions") return "condition";
  return "sorted";
}

/** Compares strings by code point, i.e. by their UTF-8 bytes. */
export function compareKeys(a, b) {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done === y.done ? 0 : x.done ? -1 : 1;
    const d = x.value.codePointAt(0) - y.value.codePointAt(0);
    if (d !== 0) return d;
  }
}

function orderedKeys(obj, ctx) {
  const order = FIELD_ORDER[ctx];
  const rank = (k) => {
    const i = order.indexOf(k);
    return i < 0 ? order.length : i;
  };
  return Object.keys(obj).sort((a, b) => rank(a) - rank(b) || compareKeys(a, b));
}

function isPlainObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** The object shaped like the CLI's output: apiVersion and kind set, metadata normalized. */
export function normalizeSealedSecret(ss) {
  const root = { ...ss, apiVersion: "bitnami.com/v1alpha1", kind: "SealedSecret" };
  if (root.status === null) delete root.status;
  root.metadata = normalizeMetadata(root.metadata);
  const spec = isPlainObject(root.spec) ? { ...root.spec } : {};
  if (!isPlainObject(spec.encryptedData)) spec.encryptedData = {};
  const template = isPlainObject(spec.template) ? { ...spec.template } : {};
  template.metadata = normalizeMetadata(template.metadata);
  spec.template = template;
  root.spec = spec;
  return root;
}

function normalizeMetadata(meta) {
  const out = {};
  for (const [k, v] of Object.entries(isPlainObject(meta) ? meta : {})) {
    if (v === null || v === undefined) continue;
    if (isPlainObject(v) && Object.keys(v).length === 0) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    out[k] = v;
  }
  if (!("creationTimestamp" in out)) out.creationTimestamp = null;
  return out;
}

// ---------------------------------------------------------------------------------------------
// JSON

function goEscape(json) {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

function jsonString(s) {
  return goEscape(JSON.stringify(s)).replace(/\\b|\\f/g, (e) => (e === "\\b" ? "\\u0008" : "\\u000c"));
}

function jsonValue(v, ctx, indent) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return jsonString(v);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error("cannot print a non-finite number");
    return String(v);
  }
  if (typeof v === "boolean") return v ? "true" : "false";
  const inner = indent + "  ";
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    return "[\n" + v.map((x) => inner + jsonValue(x, ctx, inner)).join(",\n") + "\n" + indent + "]";
  }
  const keys = orderedKeys(v, ctx);
  if (keys.length === 0) return "{}";
  return (
    "{\n" +
    keys.map((k) => inner + jsonString(k) + ": " + jsonValue(v[k], childContext(ctx, k), inner)).join(",\n") +
    "\n" +
    indent +
    "}"
  );
}

/** A SealedSecret as the CLI's JSON (`sealant seal -o json`). */
export function toJson(ss) {
  return jsonValue(normalizeSealedSecret(ss), "root", "") + "\n";
}

// ---------------------------------------------------------------------------------------------
// YAML

const RESERVED = /^(true|false|yes|no|on|off|y|n|null|~|=|<<)$/i;
const NUMBER_LIKE =
  /^[-+]?(\.[0-9]|[0-9])[0-9_.:]*([eE][-+]?[0-9]+)?$|^[-+]?0[xob][0-9a-fA-F_]+$|^[-+]?\.(inf|nan)$/i;
const PLAIN = /^[\p{L}\p{N}_./+=\\-][\p{L}\p{N}_./+=:@, &*!|>'"%?`~()$^;\\-]*$/u;

function plainAllowed(s) {
  return (
    s.length > 0 &&
    PLAIN.test(s) &&
    !/^[-.?:]/.test(s) &&
    !s.endsWith(" ") &&
    !s.endsWith(":") &&
    !s.includes(": ") &&
    !s.includes(" #") &&
    !RESERVED.test(s) &&
    !NUMBER_LIKE.test(s)
  );
}

// Characters printed as escapes inside double quotes: everything outside YAML's printable set,
// line and tab characters, and the ones YAML 1.1 readers take as line breaks (U+0085, U+2028,
// U+2029) or a byte order mark.
const ESCAPED = /[^\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]|[\u2028\u2029\ufeff]/gu;
const SHORT_ESCAPES = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function yamlString(s) {
  if (plainAllowed(s)) return s;
  const escaped = s.replace(/[\\"]/g, (c) => "\\" + c).replace(ESCAPED, (c) => {
    if (SHORT_ESCAPES[c]) return SHORT_ESCAPES[c];
    const cp = c.codePointAt(0);
    return cp > 0xffff ? "\\U" + cp.toString(16).padStart(8, "0") : "\\u" + cp.toString(16).padStart(4, "0");
  });
  return '"' + escaped + '"';
}

function yamlScalar(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return yamlString(v);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error("cannot print a non-finite number");
    return String(v);
  }
  if (typeof v === "boolean") return v ? "true" : "false";
  if (Array.isArray(v) && v.length === 0) return "[]";
  if (isPlainObject(v) && Object.keys(v).length === 0) return "{}";
  return null;
}

function yamlLines(v, indent, out) {
  if (Array.isArray(v)) {
    for (const item of v) {
      const scalar = yamlScalar(item);
      if (scalar !== null) {
        out.push(indent + "- " + scalar);
      } else {
        // The first line of a nested block goes after the dash.
        const nested = [];
        yamlLines(item, indent + "  ", nested);
        out.push(indent + "- " + nested[0].slice(indent.length + 2));
        out.push(...nested.slice(1));
      }
    }
    return;
  }
  for (const k of Object.keys(v).sort(compareKeys)) {
    const value = v[k];
    const scalar = yamlScalar(value);
    const key = yamlString(k);
    if (scalar !== null) {
      out.push(indent + key + ": " + scalar);
    } else if (Array.isArray(value)) {
      out.push(indent + key + ":");
      yamlLines(value, indent, out);
    } else {
      out.push(indent + key + ":");
      yamlLines(value, indent + "  ", out);
    }
  }
}

/** A SealedSecret as the CLI's YAML (`sealant seal`). */
export function toYaml(ss) {
  const out = ["---"];
  yamlLines(normalizeSealedSecret(ss), "", out);
  return out.join("\n") + "\n";
}
