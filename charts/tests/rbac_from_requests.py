"""The RBAC the controller needs, derived from what it does, compared with what the chart grants.

Runs the real `sealant-controller` binary with the arguments the chart renders against the real
`fake-apiserver` binary, through every path that calls the API: unsealing into new Secrets,
taking over an existing managed Secret (update), writing status, publishing events, generating
a key (none exists at start) and leader election (get, create and renew the Lease). The
SealedSecrets are sealed with the test key, which is added once the controller has made its own,
so they first fail and then unseal when the keyring changes.
The fake API server counts every request per (verb, resource); those counts, resolved to API
groups through discovery, are the rules the controller needs (a resource served by two groups,
`events`, needs a grant in one of them, and a grant in both counts as one unused). The rules of the Roles and
ClusterRoles bound to the controller's ServiceAccount must be exactly those: nothing missing
(the controller would be forbidden) and nothing unused.

The controller runs as the chart's ServiceAccount (the kubeconfig impersonates it) with the
chart's RBAC objects stored in the fake API server, whose authorizer evaluates them as the real
one does (namespaces, `resourceNames`): a right the chart lacks makes a request fail there, and
the run then misses its end state.

The wait is on the request counters themselves (`/fake/counts` is not counted) and on the
controller's own metrics (keys loaded), so the check adds no API request of its own to what it
measures; the end state is verified after the snapshot.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

RELEASE_NS = "sealant"
WAIT_SECONDS = 90

# Example SealedSecrets sealed with testdata/vectors/cert-4096.pem, and their namespaces.
SEALED_EXAMPLES = [
    ("plain/db-credentials.sealedsecret.yaml", "demo"),
    ("kustomize/overlays/staging/db-credentials.sealedsecret.yaml", "shop-staging"),
    ("kustomize/overlays/production/db-credentials.sealedsecret.yaml", "shop-prod"),
]


class Fake:
    """The fake-apiserver binary on loopback."""

    def __init__(self, binary: Path, workdir: Path):
        self.kubeconfig = workdir / "kubeconfig"
        self.proc = subprocess.Popen(
            [str(binary), "--listen", "127.0.0.1:0", "--kubeconfig", str(self.kubeconfig)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.url = (self.proc.stdout.readline() if self.proc.stdout else "").strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"fake-apiserver did not start (printed {self.url!r})")

    def request(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def create(self, path: str, obj: dict) -> None:
        self.request("POST", path, obj)

    def counts(self) -> dict[tuple[str, str], int]:
        return {(c["verb"], c["resource"]): c["count"] for c in self.request("GET", "/fake/counts")}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def keys_loaded(port: int) -> int:
    """`sealed_secrets_controller_keys` from the controller's /metrics (0 when unreachable)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("sealed_secrets_controller_keys "):
            return int(float(line.split()[1]))
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def groups_by_resource(fake: Fake) -> dict[str, set[str]]:
    """Plural (and `plural/status`) -> API groups serving it, from discovery."""
    out: dict[str, set[str]] = {}
    lists = [("", fake.request("GET", "/api/v1"))]
    for g in fake.request("GET", "/apis")["groups"]:
        lists.append((g["name"], fake.request("GET", f"/apis/{g['preferredVersion']['groupVersion']}")))
    for group, rl in lists:
        for r in rl["resources"]:
            out.setdefault(r["name"], set()).add(group)
    return out


def needed_rules(fake: Fake, counts: dict[tuple[str, str], int]) -> set[tuple[tuple[str, ...], str, str]]:
    """(groups, resource, verb) for every request the controller made. The counters name the
    resource, not its group: `groups` are the API groups serving that resource (one, except for
    `events`, which both the core group and events.k8s.io serve)."""
    groups = groups_by_resource(fake)
    return {(tuple(sorted(groups.get(resource, {"?"}))), resource, verb)
            for (verb, resource), n in counts.items() if n > 0}


def compare(needed: set, granted: set[tuple[str, str, str]]) -> tuple[list, list]:
    """(missing, unused): requests no granted rule allows, and granted rules no request used."""
    missing = sorted((groups, res, verb) for groups, res, verb in needed
                     if not any((g, res, verb) in granted for g in groups))
    unused = sorted((g, res, verb) for g, res, verb in granted
                    if not any(res == r and verb == v and g in gs for gs, r, v in needed))
    # One request goes to one group: granting it in two groups leaves one grant unused.
    for groups, res, verb in needed:
        both = [(g, res, verb) for g in groups if (g, res, verb) in granted]
        if len(both) > 1:
            unused.extend(both)
    return missing, sorted(set(unused))


def granted_rules(objs: list[dict], sa: str, ns: str) -> set[tuple[str, str, str]]:
    """(group, resource, verb) of every Role/ClusterRole bound to ServiceAccount ns/sa."""
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
             for o in objs if o["kind"] in ("Role", "ClusterRole")}
    out = set()
    for b in objs:
        if b["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(s.get("kind") == "ServiceAccount" and s.get("name") == sa and s.get("namespace") == ns
                   for s in b.get("subjects") or []):
            continue
        ref = b["roleRef"]
        role_ns = None if ref["kind"] == "ClusterRole" else b["metadata"].get("namespace")
        role = roles.get((ref["kind"], role_ns, ref["name"]))
        if role is None:
            continue
        for r in role.get("rules") or []:
            for g in r.get("apiGroups") or []:
                for res in r.get("resources") or []:
                    for verb in r.get("verbs") or []:
                        out.add((g, res, verb))
    return out


RBAC_KINDS = ("ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")


def store_rbac(fake: Fake, objs: list[dict]) -> None:
    """Stores the chart's ServiceAccount, Roles, ClusterRoles and bindings in the fake API server."""
    paths = {"ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
             "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
             "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
             "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
             "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"}
    for kind in RBAC_KINDS:
        for o in objs:
            if o["kind"] == kind:
                fake.create(paths[kind].format(ns=o["metadata"].get("namespace", RELEASE_NS)), o)


def impersonating(kubeconfig: Path, user: str, out: Path) -> Path:
    """A copy of `kubeconfig` whose user acts as `user` (`as:`, sent as Impersonate-User)."""
    cfg = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
    for u in cfg.get("users") or []:
        u.setdefault("user", {})["as"] = user
    out.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return out


def key_secret(vectors: Path) -> dict:
    b64 = lambda p: base64.b64encode(p.read_bytes()).decode()
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": "sealed-secrets-keytest1", "namespace": RELEASE_NS,
                     "labels": {"sealedsecrets.bitnami.com/sealed-secrets-key": "active"}},
        "data": {"tls.crt": b64(vectors / "cert-4096.pem"), "tls.key": b64(vectors / "key-4096.pem")},
    }


def run(controller_bin: Path, fake_bin: Path, examples: Path, vectors: Path, crd: dict,
        objs: list[dict], args: list[str], load_docs) -> tuple[list[str], set, set]:
    """Returns (failures, needed, granted)."""
    failures: list[str] = []
    sa = next((o["spec"]["template"]["spec"]["serviceAccountName"] for o in objs if o["kind"] == "Deployment"), "")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fake = Fake(fake_bin, work)
        ctl = None
        try:
            fake.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
            for ns in [RELEASE_NS] + [ns for _, ns in SEALED_EXAMPLES]:
                fake.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            for rel, ns in SEALED_EXAMPLES:
                for doc in load_docs((examples / rel).read_text(encoding="utf-8"), rel):
                    fake.create(f"/apis/bitnami.com/v1alpha1/namespaces/{ns}/sealedsecrets", doc)
            # An existing Secret marked managed: the controller takes it over with an update.
            fake.create("/api/v1/namespaces/demo/secrets", {
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "db-credentials", "namespace": "demo",
                             "annotations": {"sealedsecrets.bitnami.com/managed": "true"}},
                "data": {"username": base64.b64encode(b"old").decode()}})
            store_rbac(fake, objs)
            fake.request("POST", "/fake/reset-counts")

            # The chart's arguments; only the listeners move to free loopback ports.
            run_args = [a for a in args if not a.startswith(("--listen-addr=", "--listen-metrics-addr="))]
            metrics_port = free_port()
            run_args += [f"--listen-addr=127.0.0.1:{free_port()}", f"--listen-metrics-addr=127.0.0.1:{metrics_port}"]
            kubeconfig = impersonating(fake.kubeconfig, f"system:serviceaccount:{RELEASE_NS}:{sa}",
                                       work / "kubeconfig-sa")
            env = {"PATH": os.environ.get("PATH", ""), "KUBECONFIG": str(kubeconfig), "NO_COLOR": "1",
                   "POD_NAMESPACE": RELEASE_NS, "POD_NAME": "sealant-0"}
            log = (work / "controller.log").open("w")
            ctl = subprocess.Popen([str(controller_bin), *run_args], env=env, stdout=log, stderr=log)

            want = {("update", "sealedsecrets/status"): len(SEALED_EXAMPLES),
                    ("update", "secrets"): 1,
                    ("create", "secrets"): len(SEALED_EXAMPLES),  # the generated key + two unsealed
                    ("create", "events"): 1,
                    ("create", "leases"): 1,
                    ("update", "leases"): 1}
            # The generated key shows in the controller's own metrics (not an API request); then
            # the test key is added (that one request is not the controller's: taken off below).
            deadline = time.monotonic() + WAIT_SECONDS
            while keys_loaded(metrics_port) < 1:
                if time.monotonic() > deadline or ctl.poll() is not None:
                    tail = (work / "controller.log").read_text(errors="replace").splitlines()[-5:]
                    failures.append(f"controller run: no key generated after {WAIT_SECONDS}s; log: {tail}")
                    return failures, set(), set()
                time.sleep(0.2)
            fake.create(f"/api/v1/namespaces/{RELEASE_NS}/secrets", key_secret(vectors))
            ours = {("create", "secrets"): 1}
            counts = fake.counts()
            while any(counts.get(k, 0) - ours.get(k, 0) < n for k, n in want.items()) or keys_loaded(metrics_port) < 2:
                if time.monotonic() > deadline or ctl.poll() is not None:
                    short = {k: counts.get(k, 0) for k in want}
                    tail = (work / "controller.log").read_text(errors="replace").splitlines()[-5:]
                    failures.append(f"controller run: requests {short} after {WAIT_SECONDS}s, wanted {want}; log: {tail}")
                    return failures, set(), set()
                time.sleep(0.2)
                counts = fake.counts()
            time.sleep(1.0)  # let in-flight work finish, then snapshot
            counts = {k: n - ours.get(k, 0) for k, n in fake.counts().items()}
            ctl.terminate()
            ctl.wait(timeout=30)
            ctl = None

            # The end state the counted requests produced.
            for _, ns in SEALED_EXAMPLES:
                for ss in fake.request("GET", f"/apis/bitnami.com/v1alpha1/namespaces/{ns}/sealedsecrets")["items"]:
                    conds = {c["type"]: c["status"] for c in (ss.get("status") or {}).get("conditions") or []}
                    if conds.get("Ready") != "True":
                        failures.append(f"controller run: SealedSecret {ns}/{ss['metadata']['name']} not Ready: {conds}")
            keys = fake.request("GET", f"/api/v1/namespaces/{RELEASE_NS}/secrets?labelSelector="
                                       "sealedsecrets.bitnami.com%2Fsealed-secrets-key")["items"]
            if len(keys) < 2:
                failures.append(f"controller run: {len(keys)} key Secrets, expected the generated one and the test key")
            managed = fake.request("GET", "/api/v1/namespaces/demo/secrets/db-credentials")
            if (managed.get("data") or {}).get("username") == base64.b64encode(b"old").decode():
                failures.append("controller run: the managed Secret demo/db-credentials was not updated")

            needed = needed_rules(fake, counts)
        finally:
            if ctl is not None:
                ctl.kill()
                ctl.wait()
            fake.stop()

    granted = granted_rules(objs, sa, RELEASE_NS)
    return failures, needed, granted

