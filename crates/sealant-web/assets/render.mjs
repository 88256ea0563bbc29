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
  // Go writes \b and \f as \u0008 and \u000c. Escapes are read pairwise, so the `\b` of an
  // escaped backslash followed by "b" is left alone.
  const short = { b: "\\u0008", f: "\\u000c" };
  return goEscape(JSON.stringify(s)).replace(/\\(u[0-9a-fA-F]{4}|.)/g, (e, c) => short[c] || e);
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

// Scalar styles as serde-saphyr 2.1 (the CLI's YAML writer, YAML 1.1-compatible mode) picks
// them: plain unless the text could read as something else (null, booleans of YAML 1.1,
// numbers, timestamps, merge keys) or holds indicators, comment starts, edge whitespace or
// characters that need escapes; then double-quoted with YAML's escapes. Keys are stricter.

const isDigitIn = (c, radix) => {
  const d = parseInt(c, radix);
  return c.length === 1 && /[0-9a-zA-Z]/.test(c) && !Number.isNaN(d) && d < radix;
};

function digitRun(s, radix, strict) {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (isDigitIn(c, radix)) continue;
    if (c === "_" && (!strict || (i > 0 && isDigitIn(s[i - 1], radix) && i + 1 < s.length && isDigitIn(s[i + 1], radix)))) {
      continue;
    }
    return false;
  }
  return true;
}

const stripSign = (s) => (s[0] === "+" || s[0] === "-" ? s.slice(1) : s);

function radixDigits(s) {
  if (s.length >= 2 && s[0] === "0") {
    const r = { b: 2, B: 2, o: 8, O: 8, x: 16, X: 16 }[s[1]];
    if (r) return [r, s.slice(2)];
  }
  return null;
}

function splitOnce(s, chars) {
  for (let i = 0; i < s.length; i++) if (chars.includes(s[i])) return [s.slice(0, i), s.slice(i + 1)];
  return null;
}

function isSexagesimal(s) {
  const unsigned = stripSign(s);
  const dot = splitOnce(unsigned, ".");
  const [integer, fraction] = dot ? dot : [unsigned, null];
  const colon = splitOnce(integer, ":");
  if (!colon) return false;
  const [first, rest] = colon;
  if (first.length === 0 || !/[0-9]/.test(first[0])) return false;
  if ((fraction === null && first[0] === "0") || !/^[0-9_]*$/.test(first)) return false;
  if (!rest.split(":").every((p) => /^[0-9]$/.test(p) || /^[0-5][0-9]$/.test(p))) return false;
  return fraction === null || /^[0-9_]*$/.test(fraction);
}

function isNumeric(s, yaml12) {
  if (!/^[0-9+\-._]/.test(s)) return false;
  let unsigned = stripSign(s);
  if (/^\.(inf|nan)$/i.test(unsigned)) return true;
  if (!yaml12) {
    if (isSexagesimal(s)) return true;
    const rd = radixDigits(unsigned);
    if (rd && digitRun(rd[1], rd[0], false)) return true;
  }
  const t = !yaml12 && s.includes("_") ? s.replaceAll("_", "") : s;
  unsigned = stripSign(t);
  const rd = radixDigits(unsigned);
  if (rd) {
    let digits = rd[1];
    if (!yaml12 && (t.startsWith("0b") || t.startsWith("0o"))) digits = stripSign(digits);
    return digitRun(digits, rd[0], true);
  }
  let mantissa = unsigned;
  const exp = splitOnce(unsigned, "eE");
  if (exp) {
    if (!digitRun(stripSign(exp[1]), 10, true)) return false;
    mantissa = exp[0];
  }
  const dot = splitOnce(mantissa, ".");
  if (!dot) return digitRun(mantissa, 10, true);
  const [whole, fraction] = dot;
  if (whole.length > 0 && !digitRun(whole, 10, true)) return false;
  if (!yaml12) return /^[0-9.]*$/.test(fraction);
  return fraction.length === 0 ? whole.length > 0 : digitRun(fraction, 10, true);
}

function isTimestamp(s) {
  let m = /^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?![0-9])/.exec(s);
  if (!m) return false;
  let rest = s.slice(m[0].length);
  if (rest === "") return true;
  if (rest[0] === "T" || rest[0] === "t") rest = rest.slice(1);
  else {
    const trimmed = rest.replace(/^[ \t]+/, "");
    if (trimmed.length === rest.length) return false;
    rest = trimmed;
  }
  m = /^[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?![0-9])/.exec(rest);
  if (!m) return false;
  rest = rest.slice(m[0].length);
  if (rest[0] === "." || rest[0] === ",") rest = rest.slice(1).replace(/^[0-9]*/, "");
  rest = rest.replace(/^[ \t]+/, "");
  if (rest === "" || rest === "Z") return true;
  m = /^[+-][0-9]{1,2}(?![0-9])/.exec(rest);
  if (!m) return false;
  rest = rest.slice(m[0].length);
  if (rest[0] === ":") {
    m = /^:[0-9]{2}(?![0-9])/.exec(rest);
    if (!m) return false;
    rest = rest.slice(m[0].length);
  }
  return rest === "";
}

const YAML11_BOOL = /^(true|yes|y|on|false|no|n|off)$/i;

function isAmbiguous(s, yaml12) {
  return (
    s === "" ||
    s === "~" ||
    /^(null|true|false|nan|inf|\+inf|-inf)$/i.test(s) ||
    isNumeric(s, yaml12) ||
    (!yaml12 && (YAML11_BOOL.test(s.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, "")) || isTimestamp(s) || s === "<<" || s === "="))
  );
}

const startsWithDocumentMarker = (s) => /^(---|\.\.\.)([ \t\n\f\r]|$)/.test(s);
const ASCII_SPACE = /[ \t\n\f\r]/;
const edgeSpace = (s) => ASCII_SPACE.test(s[0]) || ASCII_SPACE.test(s[s.length - 1]);
// Rust's char::is_whitespace (Unicode White_Space).
const WHITE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;
const NEEDS_ESCAPE = /[\u0000-\u001f\u007f-\u009f\ufeff\u2028\u2029\ufffe\uffff]/u;
const FIRST_INDICATOR = ",:[]{}#&*!|>'\"%@`";

function hasCommentStart(s) {
  const chars = Array.from(s);
  return chars.some((c, i) => c === "#" && i > 0 && WHITE.test(chars[i - 1]));
}

const containsAnyOrControl = (s, list) => NEEDS_ESCAPE.test(s) || list.some((c) => s.includes(c));

function isPlainValueSafe(s, inFlow) {
  if (isAmbiguous(s, false) || startsWithDocumentMarker(s) || edgeSpace(s)) return false;
  if ((s[0] === "-" || s[0] === "?") && (s.length === 1 || ASCII_SPACE.test(s[1]))) return false;
  if (FIRST_INDICATOR.includes(s[0])) return false;
  if (s.includes(": ") || s.trim().endsWith(":")) return false;
  return !containsAnyOrControl(s, inFlow ? [",", "[", "]", "{", "}"] : []) && !hasCommentStart(s);
}

function isPlainKeySafe(s) {
  if (isAmbiguous(s, true) || s === "<<" || startsWithDocumentMarker(s) || edgeSpace(s)) return false;
  if ((s[0] === "-" || s[0] === "?") && (s.length === 1 || ASCII_SPACE.test(s[1]))) return false;
  if (FIRST_INDICATOR.includes(s[0])) return false;
  return !containsAnyOrControl(s, [":"]) && !hasCommentStart(s) && isPlainValueSafe(s, true);
}

const NAMED_ESCAPES = {
  "\\": "\\\\",
  '"': '\\"',
  "\0": "\\0",
  "\u0007": "\\a",
  "\b": "\\b",
  "\t": "\\t",
  "\n": "\\n",
  "\u000b": "\\v",
  "\f": "\\f",
  "\r": "\\r",
  "\u001b": "\\e",
  "\ufeff": "\\uFEFF",
  "\u0085": "\\N",
  "\u2028": "\\L",
  "\u2029": "\\P",
};

function doubleQuoted(s) {
  let out = '"';
  for (const c of s) {
    const cp = c.codePointAt(0);
    if (NAMED_ESCAPES[c]) out += NAMED_ESCAPES[c];
    else if (cp <= 0xff && NEEDS_ESCAPE.test(c)) out += "\\x" + cp.toString(16).toUpperCase().padStart(2, "0");
    else if (NEEDS_ESCAPE.test(c)) out += "\\u" + cp.toString(16).toUpperCase().padStart(4, "0");
    else out += c;
  }
  return out + '"';
}

function yamlString(s) {
  if (s === "." || s === "#" || s === "-") return `'${s}'`;
  return isPlainValueSafe(s, false) ? s : doubleQuoted(s);
}

const yamlKey = (s) => (isPlainKeySafe(s) ? s : doubleQuoted(s));

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
    const key = yamlKey(k);
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
