// The sealing page: fetches the cluster's public certificates, reads the form, seals in the
// browser (WebCrypto) and shows the result. The only requests it makes are GETs of
// v1/certs and v1/cert.pem (relative, so the page works behind the API server's service
// proxy); values never leave the page. No inline scripts or handlers: the page's
// Content-Security-Policy allows none.

import { MAX_CERT_BYTES, parseCertificate, pemToDer } from "./der.mjs";
import {
  InputError,
  MAX_SECRET_DATA_BYTES,
  checkRequest,
  mergeInto,
  readSealedSecret,
  readSecretManifest,
  sealRaw,
  sealSecret,
} from "./manifest.mjs";
import { toJson, toYaml } from "./render.mjs";
import { importSealingKey, keyIdOf } from "./sealing.mjs";

const $ = (id) => document.getElementById(id);
const MAX_CERTS_RESPONSE = 1024 * 1024;

const state = {
  keys: [], // { keyId, bits, notBefore, notAfter, serial, subject, expired, publicKey }
  items: [], // { id, root, bytes (from a file or a manifest, else null), source }
  nextItem: 1,
  existing: null, // readSealedSecret() result
  manifest: { metadata: {}, immutable: undefined },
  attempted: false,
  output: null, // { text, filename, type }
  generation: 0, // bumped by every change, so a result for older inputs is never shown
};

// ---------------------------------------------------------------------------------------------
// Secure context

function serviceFromPath() {
  const m = /\/api\/v1\/namespaces\/([^/]+)\/services\/(?:https?:)?([^/:]+)(?::[^/]*)?\/proxy\//.exec(
    location.pathname,
  );
  return m ? { namespace: decodeURIComponent(m[1]), service: decodeURIComponent(m[2]) } : null;
}

function checkSecureContext() {
  if (globalThis.isSecureContext && globalThis.crypto && globalThis.crypto.subtle) return true;
  $("insecure").hidden = false;
  $("insecure-origin").textContent = location.origin;
  const svc = serviceFromPath();
  if (svc) {
    $("insecure-port-forward").textContent = `kubectl port-forward -n ${svc.namespace} service/${svc.service} 8080:http`;
    $("insecure-proxy").textContent = `http://localhost:8001/api/v1/namespaces/${svc.namespace}/services/http:${svc.service}:http/proxy/`;
  }
  $("key-status").textContent = "Sealing is not possible on this origin (see above).";
  $("seal").disabled = true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// Certificates

async function fetchText(path, limit) {
  const resp = await fetch(path, { cache: "no-store", credentials: "same-origin", redirect: "error" });
  if (!resp.ok) throw new Error(`${path}: HTTP ${resp.status}`);
  const text = await resp.text();
  if (text.length > limit) throw new Error(`${path}: the response is larger than expected`);
  return text;
}

async function keyFromPem(pem, info) {
  const cert = parseCertificate(pemToDer(pem));
  const keyId = await keyIdOf(cert.spki);
  if (info && info.keyId && info.keyId !== keyId) {
    throw new Error(`the certificate listed as key ${info.keyId} has key id ${keyId}`);
  }
  const publicKey = await importSealingKey(cert.spki);
  return {
    keyId,
    bits: publicKey.algorithm.modulusLength,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    serial: cert.serial,
    subject: info && typeof info.subject === "string" ? info.subject : "",
    expired: cert.notAfter.getTime() < Date.now(),
    publicKey,
  };
}

async function loadKeys() {
  const [list, current] = await Promise.allSettled([
    fetchText("v1/certs", MAX_CERTS_RESPONSE),
    fetchText("v1/cert.pem", MAX_CERT_BYTES * 2),
  ]);
  const keys = [];
  const problems = [];
  if (list.status === "fulfilled") {
    let entries = [];
    try {
      const doc = JSON.parse(list.value);
      entries = Array.isArray(doc.certificates) ? doc.certificates.slice(0, 100) : [];
    } catch {
      problems.push("v1/certs is not JSON");
    }
    for (const entry of entries) {
      if (!entry || typeof entry.certificate !== "string") continue;
      try {
        keys.push(await keyFromPem(entry.certificate, entry));
      } catch (e) {
        problems.push(e.message);
      }
    }
  } else {
    problems.push(list.reason.message);
  }
  let newest = null;
  if (current.status === "fulfilled") {
    try {
      const key = await keyFromPem(current.value, null);
      newest = key.keyId;
      if (!keys.some((k) => k.keyId === key.keyId)) keys.unshift(key);
    } catch (e) {
      problems.push(`v1/cert.pem: ${e.message}`);
    }
  } else {
    problems.push(current.reason.message);
  }
  state.keys = keys;
  const select = $("sealing-key");
  select.replaceChildren();
  for (const key of keys) {
    const option = document.createElement("option");
    option.value = key.keyId;
    const parts = [key.keyId, `expires ${key.notAfter.toISOString().slice(0, 10)}`, `RSA-${key.bits}`];
    if (key.keyId === newest) parts.push("newest");
    if (key.expired) parts.push("EXPIRED");
    option.textContent = parts.join(" · ");
    option.disabled = key.expired;
    select.append(option);
  }
  const usable = keys.filter((k) => !k.expired);
  const preferred = usable.find((k) => k.keyId === newest) || usable[0];
  if (preferred) {
    select.value = preferred.keyId;
    select.disabled = false;
    $("seal").disabled = false;
    $("key-status").textContent =
      `${keys.length} certificate${keys.length === 1 ? "" : "s"} loaded` +
      (problems.length ? ` (ignored: ${problems.join("; ")})` : "") +
      ". Sealing needs no further network access.";
  } else {
    $("key-status").textContent = `No certificate to seal with: ${problems.join("; ") || "every certificate has expired"}.`;
    $("key-status").classList.add("error");
  }
  showKeyDetails();
}

function selectedKey() {
  return state.keys.find((k) => k.keyId === $("sealing-key").value && !k.expired) || null;
}

function showKeyDetails() {
  const key = selectedKey();
  $("sealing-key-details").textContent = key
    ? `Key id ${key.keyId}, RSA ${key.bits} bits, valid from ${key.notBefore.toISOString()} until ${key.notAfter.toISOString()}` +
      (key.subject ? `, subject ${key.subject}` : "") +
      `, serial ${key.serial}.`
    : "";
}

// ---------------------------------------------------------------------------------------------
// Items

function addItem(initial) {
  const id = state.nextItem++;
  const root = $("item-template").content.firstElementChild.cloneNode(true);
  const item = { id, root, bytes: null, source: null };
  root.dataset.item = String(id);
  const wire = (cls, suffix) => {
    const el = root.querySelector(cls);
    el.id = `item-${id}-${suffix}`;
    return el;
  };
  const key = wire(".item-key", "key");
  const value = wire(".item-value", "value");
  const file = wire(".item-file", "file");
  const keyError = wire(".item-key-error", "key-error");
  const valueError = wire(".item-value-error", "value-error");
  const fileInfo = wire(".item-file-info", "file-info");
  const labels = root.querySelectorAll("label");
  labels[0].htmlFor = key.id;
  labels[1].htmlFor = value.id;
  labels[2].htmlFor = file.id;
  key.setAttribute("aria-describedby", keyError.id);
  value.setAttribute("aria-describedby", `${valueError.id} ${fileInfo.id}`);
  const clear = root.querySelector(".item-clear-file");
  const remove = root.querySelector(".item-remove");
  file.addEventListener("change", async () => {
    const f = file.files && file.files[0];
    if (!f) return;
    if (f.size > MAX_SECRET_DATA_BYTES) {
      setBytes(item, null, `${f.name} is ${f.size} bytes, more than the 1 MiB a Secret can hold`);
    } else {
      try {
        setBytes(item, new Uint8Array(await f.arrayBuffer()), `from the file ${f.name}`);
      } catch {
        setBytes(item, null, `${f.name} could not be read`);
      }
    }
    changed();
  });
  clear.addEventListener("click", () => {
    file.value = "";
    setBytes(item, undefined, "");
    value.focus();
    changed();
  });
  remove.addEventListener("click", () => {
    const index = state.items.indexOf(item);
    state.items.splice(index, 1);
    root.remove();
    renumber();
    changed();
    const next = state.items[Math.min(index, state.items.length - 1)];
    (next ? next.root.querySelector(".item-key") : $("add-item")).focus();
  });
  state.items.push(item);
  $("items").append(root);
  if (initial) {
    key.value = initial.key;
    if (initial.text !== undefined) value.value = initial.text;
    else setBytes(item, initial.bytes, "binary value from the manifest");
  }
  renumber();
  return item;
}

/** Sets an item's value to bytes (`undefined`: back to the typed value; `null`: unreadable). */
function setBytes(item, bytes, source) {
  item.bytes = bytes === undefined ? null : bytes;
  item.source = bytes === undefined ? null : source;
  const value = item.root.querySelector(".item-value");
  const info = item.root.querySelector(".item-file-info");
  const clear = item.root.querySelector(".item-clear-file");
  const fromBytes = bytes !== undefined;
  value.disabled = fromBytes;
  if (fromBytes) value.value = "";
  value.placeholder = fromBytes && bytes ? `(${bytes.length} bytes ${source})` : "";
  info.textContent = fromBytes ? (bytes ? `Value: ${bytes.length} bytes ${source}.` : source) : "";
  clear.hidden = !fromBytes;
}

function renumber() {
  state.items.forEach((item, i) => {
    item.root.querySelector("legend").textContent = `Item ${i + 1}`;
    item.root.querySelector(".item-remove").textContent = `Remove item ${i + 1}`;
  });
}

function itemBytes(item) {
  if (item.source !== null) return item.bytes;
  return new TextEncoder().encode(item.root.querySelector(".item-value").value);
}

// ---------------------------------------------------------------------------------------------
// Reading the form

function format() {
  return document.querySelector('input[name="format"]:checked').value;
}

function request() {
  const mode = format() === "raw" ? "raw" : $("existing").value.trim() !== "" ? "merge" : "object";
  return {
    mode,
    namespace: $("namespace").value.trim(),
    name: $("name").value.trim(),
    scope: $("scope").value,
    type: $("type").value.trim(),
    immutable: state.manifest.immutable,
    metadata: state.manifest.metadata,
    items: state.items.map((item) => ({
      id: item.id,
      key: item.root.querySelector(".item-key").value.trim(),
      bytes: itemBytes(item),
    })),
  };
}

function readExisting() {
  const text = $("existing").value;
  state.existing = null;
  if (text.trim() === "") return [];
  try {
    state.existing = readSealedSecret(text);
    return [];
  } catch (e) {
    return [e instanceof InputError ? e : new InputError("existing", e.message)];
  }
}

/** While merging, the object's own namespace, name, scope and type apply and cannot be edited. */
function applyExisting() {
  const locked = state.existing !== null && format() !== "raw";
  for (const id of ["namespace", "name", "type"]) $(id).readOnly = locked;
  $("scope").disabled = locked;
  const note = $("merge-note");
  note.hidden = !locked;
  if (locked) {
    const e = state.existing;
    $("namespace").value = e.namespace;
    $("name").value = e.name;
    $("scope").value = e.scope;
    $("type").value = e.type;
    note.textContent =
      `Adding to SealedSecret ${e.namespace ? e.namespace + "/" : ""}${e.name} (${e.scope}); ` +
      (e.items.length ? `its items ${e.items.join(", ")} stay unless an item below has the same key.` : "it has no items yet.");
  }
}

const FIELDS = ["namespace", "name", "scope", "type", "existing", "sealing-key"];

function showErrors(errors, all) {
  const byField = new Map();
  for (const e of errors) if (!byField.has(e.field)) byField.set(e.field, e.message);
  const show = (control, errorEl, field) => {
    const message = byField.get(field);
    const visible = message !== undefined && (all || control === null || control.dataset.touched === "true");
    errorEl.hidden = !visible;
    errorEl.textContent = visible ? message : "";
    if (control) {
      if (visible) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    }
  };
  for (const field of FIELDS) show($(field), $(`${field}-error`), field);
  show(null, $("items-error"), "items");
  for (const item of state.items) {
    for (const part of ["key", "value"]) {
      show($(`item-${item.id}-${part}`), $(`item-${item.id}-${part}-error`), `item-${item.id}-${part}`);
    }
  }
}

function validate(all) {
  const errors = readExisting();
  applyExisting();
  if (!selectedKey()) errors.push(new InputError("sealing-key", "choose a certificate that has not expired"));
  errors.push(...checkRequest(request(), state.existing));
  showErrors(errors, all);
  return errors;
}

// ---------------------------------------------------------------------------------------------
// Output

function setOutput(output) {
  state.output = output;
  $("output").value = output ? output.text : "";
  $("copy").disabled = !output;
  $("download").disabled = !output;
}

/** Any change makes the shown output stale: it is removed, never left beside new inputs. */
function changed() {
  state.generation++;
  if (state.output) {
    setOutput(null);
    $("seal-status").textContent = "The inputs changed: seal again.";
  }
  validate(state.attempted);
}

async function seal(event) {
  event.preventDefault();
  state.attempted = true;
  setOutput(null);
  $("seal-error").hidden = true;
  const errors = validate(true);
  if (errors.length > 0) {
    $("seal-status").textContent = `Nothing was sealed: ${errors.length} problem${errors.length === 1 ? "" : "s"} to fix.`;
    const first = document.querySelector('[aria-invalid="true"]');
    if (first) first.focus();
    return;
  }
  const req = request();
  const key = selectedKey();
  const generation = state.generation;
  $("seal-status").textContent = "Sealing…";
  try {
    let text;
    let filename;
    let type = "application/yaml";
    if (req.mode === "raw") {
      text = await sealRaw(req, key);
      filename = `${req.name || req.namespace || "value"}.sealed.txt`;
      type = "text/plain";
    } else {
      const ss = req.mode === "merge" ? await mergeInto(state.existing, req, key) : await sealSecret(req, key);
      const json = format() === "json";
      text = json ? toJson(ss) : toYaml(ss);
      filename = `${ss.metadata.name}.sealed.${json ? "json" : "yaml"}`;
      if (json) type = "application/json";
    }
    // The inputs may have changed while sealing: only a result for the current inputs is shown.
    if (generation !== state.generation) {
      $("seal-status").textContent = "The inputs changed while sealing: seal again.";
      return;
    }
    setOutput({ text, filename, type });
    const n = req.items.length;
    $("seal-status").textContent =
      `Sealed ${n} value${n === 1 ? "" : "s"} with key ${key.keyId}` +
      (req.mode === "merge" ? ` into ${state.existing.name}.` : ".") +
      " Copy or download it below.";
  } catch (e) {
    $("seal-status").textContent = "Nothing was sealed.";
    $("seal-error").textContent = `Sealing failed: ${e.message}`;
    $("seal-error").hidden = false;
  }
}

async function copy() {
  if (!state.output) return;
  try {
    await navigator.clipboard.writeText(state.output.text);
  } catch {
    $("output").select();
    document.execCommand("copy");
  }
  $("seal-status").textContent = "Copied to the clipboard.";
}

function download() {
  if (!state.output) return;
  const url = URL.createObjectURL(new Blob([state.output.text], { type: state.output.type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = state.output.filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  $("seal-status").textContent = `Downloaded ${state.output.filename}.`;
}

// ---------------------------------------------------------------------------------------------
// Loading a manifest

function textOf(bytes) {
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    // A textarea would change \r and could not show other control characters faithfully.
    return /[\x00-\x08\x0b-\x1f\x7f]/.test(text) ? undefined : text;
  } catch {
    return undefined;
  }
}

function loadManifest() {
  const error = $("manifest-error");
  let secret;
  try {
    secret = readSecretManifest($("manifest").value);
  } catch (e) {
    error.textContent = e.message;
    error.hidden = false;
    $("manifest").setAttribute("aria-invalid", "true");
    $("manifest").focus();
    return;
  }
  error.hidden = true;
  $("manifest").removeAttribute("aria-invalid");
  state.manifest = { metadata: secret.metadata, immutable: secret.immutable };
  if (!state.existing) {
    $("namespace").value = secret.namespace;
    $("name").value = secret.name;
    $("scope").value = secret.scope;
    $("type").value = secret.type;
  }
  for (const item of [...state.items]) item.root.remove();
  state.items = [];
  for (const { key, bytes } of secret.items) {
    const text = textOf(bytes);
    addItem(text === undefined ? { key, bytes } : { key, text });
  }
  if (state.items.length === 0) addItem();
  const kept = Object.keys(secret.metadata).filter((k) => k !== "annotations" || Object.keys(secret.metadata[k]).length);
  $("manifest-loaded").textContent =
    `Loaded ${secret.items.length} item${secret.items.length === 1 ? "" : "s"}` +
    (kept.length ? `; the manifest's ${kept.join(", ")} are kept in the template.` : ".");
  changed();
}

// ---------------------------------------------------------------------------------------------

function init() {
  const form = $("form");
  form.addEventListener("submit", seal);
  form.addEventListener("input", (e) => {
    if (e.target.id === "output") return;
    changed();
  });
  form.addEventListener("change", (e) => {
    if (e.target.id === "sealing-key") showKeyDetails();
    if (e.target.id !== "output") changed();
  });
  form.addEventListener("focusout", (e) => {
    if (e.target.matches("input, select, textarea") && e.target.value !== "") {
      e.target.dataset.touched = "true";
      validate(state.attempted);
    }
  });
  $("add-item").addEventListener("click", () => {
    const item = addItem();
    item.root.querySelector(".item-key").focus();
    changed();
  });
  $("load-manifest").addEventListener("click", loadManifest);
  $("copy").addEventListener("click", copy);
  $("download").addEventListener("click", download);
  addItem();
  if (!checkSecureContext()) return;
  loadKeys().catch((e) => {
    $("key-status").textContent = `Could not load the certificates: ${e.message}`;
    $("key-status").classList.add("error");
  });
}

init();
