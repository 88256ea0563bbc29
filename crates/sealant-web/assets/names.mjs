// Kubernetes' rules for the names a sealed value is bound to, as `sealant seal` applies them
// (crates/sealant-api/src/names.rs; a test checks that both agree on the same corpus). Each
// function returns why the value is invalid, or null.

export const MAX_NAME_LEN = 253;
export const MAX_NAMESPACE_LEN = 63;
export const MAX_ITEM_KEY_LEN = 253;

const encoder = new TextEncoder();
// Lengths are counted in UTF-8 bytes, as Kubernetes (Go) does.
const bytes = (s) => encoder.encode(s).length;

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function objectNameProblem(name) {
  if (name.length === 0) return "must not be empty";
  if (bytes(name) > MAX_NAME_LEN) {
    return `is ${bytes(name)} characters, more than the ${MAX_NAME_LEN} allowed`;
  }
  if (!name.split(".").every((l) => LABEL.test(l))) {
    return "must consist of lower case letters, digits, '-' and '.', and start and end with a letter or digit (RFC 1123 subdomain, e.g. 'db-password')";
  }
  return null;
}

export function namespaceProblem(namespace) {
  if (namespace.length === 0) return "must not be empty";
  if (bytes(namespace) > MAX_NAMESPACE_LEN) {
    return `is ${bytes(namespace)} characters, more than the ${MAX_NAMESPACE_LEN} allowed`;
  }
  if (!LABEL.test(namespace)) {
    return "must consist of lower case letters, digits and '-', and start and end with a letter or digit (RFC 1123 label, e.g. 'prod')";
  }
  return null;
}

export function itemKeyProblem(key) {
  if (key.length === 0) return "must not be empty";
  if (bytes(key) > MAX_ITEM_KEY_LEN) {
    return `is ${bytes(key)} characters, more than the ${MAX_ITEM_KEY_LEN} allowed`;
  }
  if (!/^[-._a-zA-Z0-9]+$/.test(key)) {
    return "must consist of letters, digits, '-', '_' and '.' (e.g. 'tls.crt')";
  }
  if (key === "." || key === ".." || key.startsWith("..")) {
    return "must not be '.' or '..' or start with '..'";
  }
  return null;
}
