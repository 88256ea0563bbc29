#!/usr/bin/env python3
"""The sealing page in a real headless browser (Debian's chromium through chromedriver).

Starts fake-apiserver with the SealedSecret CRD and the test key imported, and the real
sealant-controller in it; loads the page the controller serves on http://localhost (directly and
through the API server's service proxy), fills the form and seals; checks every output with
`sealant unseal --key`, with the Python `cryptography` oracle (cli/tests/oracle) and by applying
it with kubectl until it is Ready. Covers the three scopes, binary file values, a pasted Secret
manifest, merging into an existing SealedSecret, the raw value form, validation, accessible
names, a narrow screen, the insecure-origin message and `sealant web`. Every request the browser
makes is recorded (Chrome's performance log) and must be a GET of the page's files or the
certificates, none carrying a plaintext value.

Usage: check_page.py --bin-dir target/debug [--screenshot docs/img/web-sealing.png]
"""

import argparse
import base64
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from cryptography.hazmat.primitives import serialization
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "testdata" / "vectors"
KEY = VECTORS / "key-4096.pem"
CERT = VECTORS / "cert-4096.pem"
KEY_2048 = VECTORS / "key-2048-pkcs8.pem"
CERT_2048 = VECTORS / "cert-2048.pem"
CRD = ROOT / "charts" / "sealant" / "crds" / "sealedsecrets.bitnami.com.yaml"
NS = "kube-system"
SVC = "sealed-secrets-controller"
INSECURE_HOST = "sealant-page.test"

# Plaintexts typed into the page; none may appear in any request, log or URL.
PASSWORD = "br0wser-pa55word-never-sent"
MANIFEST_VALUE = "manifest-s3cret-never-sent"
MERGED_VALUE = "merged-s3cret-never-sent"
RAW_VALUE = "raw-s3cret-never-sent"
BINARY = bytes(range(255, -1, -1)) + b"\x00binary-s3cret-never-sent\xff" + bytes(range(256))
PLAINTEXTS = [PASSWORD, MANIFEST_VALUE, MERGED_VALUE, RAW_VALUE, "binary-s3cret-never-sent"]

failures = []


def check(cond, message):
    if not cond:
        failures.append(message)
        print(f"FAIL: {message}", file=sys.stderr)
    return cond


def load_oracle():
    path = ROOT / "cli" / "tests" / "oracle" / "open_sealed.py"
    spec = importlib.util.spec_from_file_location("open_sealed", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wait_for(what, fn, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status
    except Exception:  # noqa: BLE001 - anything but 200 means "not yet"
        return 0


class Cluster:
    """fake-apiserver + the controller, with the test key imported."""

    def __init__(self, bins, work):
        self.work = work
        self.kubeconfig = work / "kubeconfig"
        self.port = free_port()
        self.procs = []
        log = open(work / "fake-apiserver.log", "wb")
        api = subprocess.Popen(
            [bins / "fake-apiserver", "--listen", "127.0.0.1:0", "--kubeconfig", self.kubeconfig,
             "--proxy", f"{NS}/{SVC}=127.0.0.1:{self.port}"],
            stdout=subprocess.PIPE, stderr=log)
        self.procs.append(api)
        self.api_url = api.stdout.readline().decode().strip()
        assert self.api_url.startswith("http://127.0.0.1:"), self.api_url
        self.kubectl("apply", "--validate=false", "-f", str(CRD))
        key_secret = {
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "imported-key", "namespace": NS,
                         "labels": {"sealedsecrets.bitnami.com/sealed-secrets-key": "active"}},
            "type": "kubernetes.io/tls",
            "data": {"tls.key": b64(KEY.read_bytes()), "tls.crt": b64(CERT.read_bytes())},
        }
        (work / "key.json").write_text(json.dumps(key_secret))
        self.kubectl("apply", "--validate=false", "-f", str(work / "key.json"))
        self.controller_log = work / "controller.log"
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig), POD_NAMESPACE=NS)
        ctl = subprocess.Popen(
            [bins / "sealant-controller", "--listen-addr", f"127.0.0.1:{self.port}",
             "--listen-metrics-addr", f"127.0.0.1:{free_port()}", "--log-format", "json",
             "--log-level", "debug"],
            env=env, stdout=open(self.controller_log, "wb"), stderr=subprocess.STDOUT)
        self.procs.append(ctl)
        wait_for("controller /readyz", lambda: http_status(f"http://127.0.0.1:{self.port}/readyz") == 200, 60)

    def kubectl(self, *args, check_ok=True):
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        out = subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=60)
        if check_ok and out.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {out.stderr}")
        return out

    def wait_ready(self, ns, name):
        def ready():
            out = self.kubectl("get", "sealedsecret", name, "-n", ns, "-o", "json", check_ok=False)
            if out.returncode != 0:
                return None
            ss = json.loads(out.stdout)
            status = ss.get("status") or {}
            if status.get("observedGeneration") != ss["metadata"].get("generation"):
                return None
            for c in status.get("conditions") or []:
                if c.get("type") == "Ready":
                    return c if c.get("status") in ("True", "False") else None
            return None
        return wait_for(f"{ns}/{name} Ready", ready, 30)

    def secret_data(self, ns, name):
        out = self.kubectl("get", "secret", name, "-n", ns, "-o", "json")
        data = json.loads(out.stdout).get("data") or {}
        return {k: base64.b64decode(v) for k, v in data.items()}

    def logs(self):
        text = ""
        for name in ("fake-apiserver.log", "controller.log"):
            p = self.work / name
            if p.exists():
                text += p.read_text(errors="replace")
        return text

    def stop(self):
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64(data):
    return base64.b64encode(data).decode()


def start_browser(work):
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-proxy-server", "--window-size=1100,1400", f"--user-data-dir={work / 'chromium'}",
                 f"--host-resolver-rules=MAP {INSECURE_HOST} 127.0.0.1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    options.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True, "enablePage": False})
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(work / "downloads")})
    return driver


class Page:
    def __init__(self, driver, url):
        self.d = driver
        self.url = url
        self.requests = []

    def by_id(self, id_):
        return self.d.find_element(By.ID, id_)

    def open(self):
        self.d.get(self.url)
        WebDriverWait(self.d, 30).until(lambda d: d.find_element(By.ID, "seal").is_enabled())

    def set_text(self, id_, text):
        el = self.by_id(id_)
        el.clear()
        if text:
            el.send_keys(text)

    def paste(self, id_, text):
        """Sets a textarea as a paste would (one input event)."""
        self.d.execute_script(
            "const el = document.getElementById(arguments[0]); el.value = arguments[1];"
            "el.dispatchEvent(new Event('input', {bubbles: true}));", id_, text)

    def items(self):
        return self.d.find_elements(By.CSS_SELECTOR, "#items fieldset.item")

    def fill(self, namespace, name, scope, items, type_="Opaque"):
        self.set_text("namespace", namespace)
        self.set_text("name", name)
        Select(self.by_id("scope")).select_by_value(scope)
        self.set_text("type", type_)
        for i, (key, value) in enumerate(items):
            if i >= len(self.items()):
                self.by_id("add-item").click()
            item = self.items()[i]
            key_el = item.find_element(By.CSS_SELECTOR, ".item-key")
            key_el.clear()
            key_el.send_keys(key)
            if isinstance(value, Path):
                item.find_element(By.CSS_SELECTOR, ".item-file").send_keys(str(value))
                WebDriverWait(self.d, 10).until(
                    lambda d: "bytes" in item.find_element(By.CSS_SELECTOR, ".item-file-info").text)
            else:
                val = item.find_element(By.CSS_SELECTOR, ".item-value")
                val.clear()
                val.send_keys(value)

    def seal(self, fmt="yaml"):
        self.d.find_element(By.CSS_SELECTOR, f'input[name="format"][value="{fmt}"]').click()
        self.by_id("seal").click()
        WebDriverWait(self.d, 30).until(
            lambda d: d.find_element(By.ID, "output").get_property("value")
            or "Nothing" in d.find_element(By.ID, "seal-status").text)
        return self.by_id("output").get_property("value")

    def collect_requests(self):
        for entry in self.d.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg.get("method") == "Network.requestWillBeSent":
                # Requests of the browser's own pages (chrome://downloads, the new tab page) are
                # not the sealing page's.
                if urlsplit(msg["params"].get("documentURL", "")).scheme not in ("http", "https", "blob"):
                    continue
                self.requests.append(msg["params"]["request"])


def open_with_oracle(oracle, key, text):
    ss = yaml.safe_load(text) if not text.lstrip().startswith("{") else json.loads(text)
    label = oracle.label_of(ss["metadata"])
    return {k: oracle.open_value(key, v, label) for k, v in ss["spec"]["encryptedData"].items()}


def unseal_with_cli(bins, path):
    out = subprocess.run([bins / "sealant", "unseal", "--key", str(KEY), "-f", str(path), "-o", "json"],
                         capture_output=True, text=True, timeout=60)
    if not check(out.returncode == 0, f"sealant unseal {path.name}: {out.stderr}"):
        return {}
    secret = json.loads(out.stdout)
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


def verify_object(ctx, label, text, expect, apply=True):
    """Opens `text` three ways and applies it; `expect` maps item -> bytes."""
    bins, work, oracle, key, cluster = ctx
    path = work / f"{label}.yaml"
    path.write_text(text)
    check(unseal_with_cli(bins, path) == expect, f"{label}: sealant unseal gave other values")
    try:
        check(open_with_oracle(oracle, key, text) == expect, f"{label}: the oracle gave other values")
    except Exception as e:  # noqa: BLE001
        check(False, f"{label}: the oracle could not open it: {e}")
    if apply:
        ss = yaml.safe_load(text) if not text.lstrip().startswith("{") else json.loads(text)
        ns, name = ss["metadata"]["namespace"], ss["metadata"]["name"]
        cluster.kubectl("create", "namespace", ns, check_ok=False)
        cluster.kubectl("apply", "-f", str(path))
        cond = cluster.wait_ready(ns, name)
        check(cond.get("status") == "True", f"{label}: Ready={cond.get('status')} {cond.get('message')}")
        check(cluster.secret_data(ns, name) == expect, f"{label}: the Secret in the cluster has other data")


def run(args):
    bins = Path(args.bin_dir).resolve()
    work = Path(tempfile.mkdtemp(prefix="sealant-browser-"))
    (work / "downloads").mkdir()
    oracle = load_oracle()
    key = serialization.load_pem_private_key(KEY.read_bytes(), password=None)
    blob_file = work / "blob.bin"
    blob_file.write_bytes(BINARY)
    cluster = Cluster(bins, work)
    ctx = (bins, work, oracle, key, cluster)
    driver = start_browser(work)
    web = None
    try:
        page = Page(driver, f"http://localhost:{cluster.port}/")
        page.open()
        check(driver.execute_script("return window.isSecureContext"), "localhost is not a secure context")

        # The key list: the newest (only) key selected, key id and expiry shown.
        key_id = key_id_of(CERT)
        selected = Select(page.by_id("sealing-key")).first_selected_option.text
        check(key_id and key_id in selected and "expires 2036-11-19" in selected and "newest" in selected,
              f"key option {selected!r} does not show key id {key_id} and expiry")

        # Accessible names of the controls.
        names = {"namespace": "Namespace", "name": "Name", "scope": "Scope", "type": "Type",
                 "seal": "Seal", "copy": "Copy", "download": "Download"}
        for id_, want in names.items():
            got = page.by_id(id_).accessible_name
            check(got == want, f"#{id_} has accessible name {got!r}, expected {want!r}")
        item = page.items()[0]
        for cls, want in ((".item-key", "Key"), (".item-value", "Value")):
            got = item.find_element(By.CSS_SELECTOR, cls).accessible_name
            check(got == want, f"item {cls} has accessible name {got!r}, expected {want!r}")

        # Validation: errors next to the field, nothing produced.
        page.fill("prod", "Bad_Name", "strict", [("bad/key", PASSWORD)])
        out = page.seal()
        check(out == "", "invalid input produced output")
        check("Name must consist" in page.by_id("name-error").text, "no error next to Name")
        check(page.by_id("name").get_attribute("aria-invalid") == "true", "Name not marked invalid")
        item_error = page.items()[0].find_element(By.CSS_SELECTOR, ".item-key-error").text
        check("Key must consist" in item_error, f"no error next to Key: {item_error!r}")
        check(not page.by_id("copy").is_enabled(), "Copy enabled without output")

        # The three scopes, a typed and a binary file value, YAML and JSON.
        sealed = {}
        for scope, fmt in (("strict", "yaml"), ("namespace-wide", "json"), ("cluster-wide", "yaml")):
            page.open()
            name = f"web-{scope}"
            page.fill("prod", name, scope, [("password", PASSWORD), ("blob.bin", blob_file)])
            text = page.seal(fmt)
            check(text != "", f"{scope}: nothing sealed: {page.by_id('seal-status').text}")
            if fmt == "json":
                check(text.startswith('{\n  "kind": "SealedSecret"'), f"{scope}: not the CLI's JSON layout")
            else:
                check(text.startswith("---\napiVersion: bitnami.com/v1alpha1\n"), f"{scope}: not the CLI's YAML")
            obj = yaml.safe_load(text) if fmt == "yaml" else json.loads(text)
            ann = obj["metadata"].get("annotations") or {}
            check(ann.get("sealant.dev/key-ids") == key_id, f"{scope}: key-ids annotation {ann}")
            check(ann.get("sealant.dev/sealed-for", "").startswith("v1:"), f"{scope}: no sealed-for annotation")
            verify_object(ctx, scope, text, {"password": PASSWORD.encode(), "blob.bin": BINARY})
            sealed[scope] = text

        # Copy and Download of the last output.
        page.by_id("copy").click()
        check("Copied" in page.by_id("seal-status").text or page.by_id("seal-status").text, "Copy did nothing")
        page.by_id("download").click()
        downloaded = wait_for("download", lambda: list((work / "downloads").glob("*.yaml")), 10)
        check(downloaded[0].read_text() == sealed["cluster-wide"], "the download differs from the output")
        check(downloaded[0].name == "web-cluster-wide.sealed.yaml", f"download named {downloaded[0].name}")

        # Merge into the strict SealedSecret: one item replaced... here one added, others untouched.
        page.open()
        driver.find_element(By.CSS_SELECTOR, "#existing-box summary").click()
        page.paste("existing", sealed["strict"])
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "name").get_property("value") == "web-strict")
        check(page.by_id("name").get_property("readOnly"), "Name is editable while merging")
        item = page.items()[0]
        item.find_element(By.CSS_SELECTOR, ".item-key").send_keys("added")
        item.find_element(By.CSS_SELECTOR, ".item-value").send_keys(MERGED_VALUE)
        merged = page.seal("yaml")
        before = yaml.safe_load(sealed["strict"])["spec"]["encryptedData"]
        after = yaml.safe_load(merged)["spec"]["encryptedData"] if merged else {}
        check(all(after.get(k) == v for k, v in before.items()), "merge changed an existing item")
        verify_object(ctx, "merged", merged,
                      {"password": PASSWORD.encode(), "blob.bin": BINARY, "added": MERGED_VALUE.encode()})

        # A pasted Secret manifest (keyboard only: Tab and Enter, no clicks).
        page.open()
        manifest = (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: from-manifest\n  namespace: team-a\n"
                    f"  labels:\n    app: web\ntype: Opaque\nstringData:\n  token: {MANIFEST_VALUE}\n"
                    f"data:\n  blob: {b64(BINARY)}\n")
        driver.find_element(By.CSS_SELECTOR, "#manifest-box summary").send_keys(Keys.ENTER)
        page.paste("manifest", manifest)
        page.by_id("manifest").send_keys(Keys.TAB)
        check(driver.switch_to.active_element.get_attribute("id") == "load-manifest", "Tab does not reach Load")
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "name").get_property("value") == "from-manifest")
        page.by_id("seal").send_keys(Keys.ENTER)
        WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "output").get_property("value"))
        from_manifest = page.by_id("output").get_property("value")
        check("app: web" in from_manifest, "the manifest's labels are not in the template")
        verify_object(ctx, "manifest", from_manifest, {"token": MANIFEST_VALUE.encode(), "blob": BINARY})

        # The raw value form, sealed with the network cut off after loading (works offline).
        page.open()
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.emulateNetworkConditions",
                               {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        page.fill("prod", "db", "strict", [("ignored", RAW_VALUE)])
        raw = page.seal("raw")
        driver.execute_cdp_cmd("Network.emulateNetworkConditions",
                               {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        check(raw != "", f"nothing sealed offline: {page.by_id('seal-status').text}")
        try:
            opened = oracle.open_value(key, raw.strip(), b"prod/db")
            check(opened == RAW_VALUE.encode(), "raw value opens to something else")
        except Exception as e:  # noqa: BLE001
            check(False, f"raw value does not open with label prod/db: {e}")
        check("\n" not in raw, "raw output has a newline")

        # Through the API server's service proxy: every URL is relative.
        proxy = Page(driver, f"{cluster.api_url.replace('127.0.0.1', 'localhost').rstrip('/')}"
                             f"/api/v1/namespaces/{NS}/services/http:{SVC}:http/proxy/")
        proxy.open()
        proxy.fill("prod", "via-proxy", "strict", [("password", PASSWORD)])
        via_proxy = proxy.seal("yaml")
        verify_object(ctx, "via-proxy", via_proxy, {"password": PASSWORD.encode()})

        # Narrow screen: no horizontal scrolling.
        page.open()
        page.fill("prod", "db-credentials", "strict", [("password", PASSWORD), ("tls.key", blob_file)])
        page.seal("yaml")
        if args.screenshot:
            # The whole page, top to bottom, with the sealed output.
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(900, min(height + 140, 4000))
            driver.execute_script("window.scrollTo(0, 0)")
            Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(args.screenshot)
            driver.set_window_size(1100, 1400)
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 360, "height": 800, "deviceScaleFactor": 2, "mobile": True})
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        wide = driver.execute_script(
            "const w = document.documentElement.clientWidth; return [...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right > w).map(e => e.tagName + '#' + e.id + '.' + e.className)")
        check(overflow <= 0, f"on a 360 px screen the page scrolls sideways by {overflow} px: {wide}")
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

        # Every request: a GET of the page's files or the certificates, no plaintext anywhere.
        page.collect_requests()
        check_requests(page.requests, cluster.api_url)

        check_console(driver)

        # Insecure origin: a plain-http name that is not localhost.
        insecure = f"http://{INSECURE_HOST}:{cluster.port}/"
        driver.get(insecure)
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "insecure").is_displayed())
        banner = page.by_id("insecure").text
        check("kubectl port-forward" in banner and "kubectl proxy" in banner and "https" in banner,
              f"the insecure-origin message does not say how to open the page safely: {banner!r}")
        check(INSECURE_HOST in banner, "the insecure-origin message does not name the origin")
        check(not page.by_id("seal").is_enabled(), "Seal is enabled on an insecure origin")

        driver.get_log("browser")  # the insecure origin's expected warnings

        # `sealant web`: the same page offline, certificates from the command line.
        web = subprocess.Popen([bins / "sealant", "web", "--cert", str(CERT), "--cert", str(CERT_2048),
                                "--listen", "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        url = web.stdout.readline().decode().strip()
        check(url.startswith("http://127.0.0.1:"), f"sealant web printed {url!r}")
        offline = Page(driver, url.replace("127.0.0.1", "localhost"))
        offline.open()
        choice = Select(offline.by_id("sealing-key"))
        options = [o.get_attribute("value") for o in choice.options]
        check(options == [key_id, key_id_of(CERT_2048)], f"sealant web offers keys {options}")
        check(choice.first_selected_option.get_attribute("value") == key_id, "the first --cert is not the default")
        offline.fill("prod", "offline", "namespace-wide", [("password", PASSWORD)])
        verify_object(ctx, "offline", offline.seal("yaml"), {"password": PASSWORD.encode()})
        # The other key, chosen by the user: only its private key opens the value.
        choice.select_by_value(key_id_of(CERT_2048))
        other = yaml.safe_load(offline.seal("yaml"))
        key_2048 = serialization.load_pem_private_key(KEY_2048.read_bytes(), password=None)
        check(other["metadata"]["annotations"].get("sealant.dev/key-ids") == key_id_of(CERT_2048),
              "the chosen key is not recorded in sealant.dev/key-ids")
        try:
            value = oracle.open_value(key_2048, other["spec"]["encryptedData"]["password"], b"prod")
            check(value == PASSWORD.encode(), "the value sealed with the chosen key opens to something else")
        except Exception as e:  # noqa: BLE001
            check(False, f"the value sealed with the chosen key does not open with it: {e}")
        offline.collect_requests()
        check_requests(offline.requests, cluster.api_url)

        check_console(driver)

        logs = cluster.logs()
        for value in PLAINTEXTS:
            check(value not in logs and b64(value.encode()) not in logs, "a plaintext value reached a log")
    finally:
        if web:
            web.terminate()
            web.wait(timeout=10)
        driver.quit()
        cluster.stop()
        if not failures:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work directory kept: {work}", file=sys.stderr)


def check_console(driver):
    """No Content-Security-Policy or Trusted Types violation, no script error so far."""
    for entry in driver.get_log("browser"):
        message = entry.get("message", "")
        check(entry.get("level") != "SEVERE", f"browser console: {message}")
        check("Content Security Policy" not in message and "TrustedHTML" not in message,
              f"policy violation: {message}")


def key_id_of(cert_path):
    """sealant's key id, computed independently: SHA-256 of the SubjectPublicKeyInfo, 8 bytes."""
    import hashlib
    from cryptography import x509
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()[:16]


def check_requests(requests, api_url):
    check(len(requests) > 0, "no requests recorded (is the performance log on?)")
    proxy_prefix = f"/api/v1/namespaces/{NS}/services/http:{SVC}:http/proxy"
    allowed_exact = {"/", "/index.html", "/v1/certs", "/v1/cert.pem"}
    for req in requests:
        url = req["url"]
        parts = urlsplit(url)
        if parts.scheme == "blob":  # the Download button's local object URL
            continue
        path = parts.path
        if path.startswith(proxy_prefix):
            path = path[len(proxy_prefix):] or "/"
        check(req["method"] == "GET", f"{req['method']} {url}: only GET requests are allowed")
        check(not req.get("hasPostData") and "postData" not in req, f"{url}: a request with a body")
        check(parts.hostname in ("localhost", "127.0.0.1", INSECURE_HOST), f"{url}: another host")
        check(path in allowed_exact or path.startswith("/assets/"), f"{url}: not the page's files or certificates")
        blob = json.dumps(req)
        for value in PLAINTEXTS:
            check(value not in blob and b64(value.encode()) not in blob, f"{url}: carries a plaintext value")
    return requests


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--screenshot")
    args = parser.parse_args()
    started = time.monotonic()
    run(args)
    took = time.monotonic() - started
    if failures:
        print(f"{len(failures)} browser check(s) failed ({took:.0f} s)", file=sys.stderr)
        return 1
    print(f"browser checks passed ({took:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
