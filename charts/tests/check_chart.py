#!/usr/bin/env python3
"""Offline checks of the Helm chart and the example manifests (run by .ci/run).

- Renders charts/sealant with the real Helm engine (helm-python-sdk: Helm's Go SDK in a bundled
  shared library, no helm binary, no network) and runs `helm lint --strict` for several value sets
  and for the oldest and newest Kubernetes versions the chart claims (Chart.yaml kubeVersion).
- Asserts properties of the rendered objects: hardened pod, probes, port names, RBAC scope
  (no ClusterRole in namespace-scoped mode, key Secrets only in the release namespace, lease
  rights only with leader election), migration names, optional objects.
- Feeds the rendered controller arguments to the real `sealant-controller` binary, which must
  accept them, and checks that every flag of `sealant-controller --help` has a chart value.
- Refuses, at render time, values that would give a broken or unsafe cluster (several active
  controllers, a PodDisruptionBudget that blocks drains, watch.namespaces ignored), and checks
  that the values schema for securityContext and resources has exactly the fields Kubernetes has.
- Runs the real binary as the chart's ServiceAccount, with only the chart's RBAC objects, against
  the real fake-apiserver binary (whose authorizer enforces them), once cluster-wide and once
  namespace-scoped; derives the rules it needed from the requests it made and compares them with
  the rules the chart grants (rbac_from_requests.py).
- Validates every rendered and example object against the Kubernetes OpenAPI schema
  (kubernetes-validate, strict) for both Kubernetes versions, and every SealedSecret against the
  chart CRD's openAPIV3Schema (jsonschema).
- Opens every example SealedSecret with the test key through the independent Python oracle
  (cli/tests/oracle/open_sealed.py) and compares the values with the expected ones.

Usage: check_chart.py --controller-bin target/debug/sealant-controller
                      [--fake-apiserver-bin target/debug/fake-apiserver] [--vectors DIR]
Exit status 1 with one line per failure; nothing is written.
"""

from __future__ import annotations

import argparse
import base64
import copy
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import helm_python as helm
import jsonschema
import kubernetes_validate
import kubernetes_validate.utils as kv_utils
import yaml

import rbac_from_requests

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "sealant"
EXAMPLES = ROOT / "examples"
# Oldest and newest Kubernetes minor versions the chart supports (Chart.yaml kubeVersion >=1.33;
# k8s-openapi 0.29 covers 1.33 to 1.37).
KUBE_VERSIONS = ["1.33.0", "1.37.0"]
MAX_MANIFEST_BYTES = 1 << 20

# Example SealedSecrets and the plaintext they must unseal to (public demo values).
EXPECTED_SEALED = {
    "plain/db-credentials.sealedsecret.yaml": (
        "demo/db-credentials",
        {"username": "demo", "password": "change-me-demo"},
    ),
    "kustomize/overlays/staging/db-credentials.sealedsecret.yaml": (
        "shop-staging/db-credentials",
        {"username": "shop", "password": "staging-not-secret"},
    ),
    "kustomize/overlays/production/db-credentials.sealedsecret.yaml": (
        "shop-prod/db-credentials",
        {"username": "shop", "password": "production-example-only"},
    ),
    "flux/apps/demo/api-token.sealedsecret.yaml": (
        "team-a/api-token",
        {"token": "flux-demo-token"},
    ),
}

# Kinds with no schema in kubernetes-validate, and the fields they must have.
FLUX_REQUIRED = {
    ("source.toolkit.fluxcd.io/v1", "GitRepository"): ["spec.interval", "spec.url"],
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"): [
        "spec.interval",
        "spec.sourceRef.kind",
        "spec.sourceRef.name",
        "spec.prune",
    ],
    ("helm.toolkit.fluxcd.io/v2", "HelmRelease"): [
        "spec.interval",
        "spec.chart.spec.chart",
        "spec.chart.spec.sourceRef.kind",
        "spec.chart.spec.sourceRef.name",
    ],
}

# Controller flags deliberately without a chart value of their own.
FLAGS_WITHOUT_VALUE = {
    "namespace": "the release namespace, from env POD_NAMESPACE",
    "all-namespaces": "derived from watch.scope",
    "additional-namespaces": "derived from watch.scope/watch.namespaces",
    "leader-elect": "derived from leaderElection.enabled/replicas",
    "help": "",
    "version": "",
}

FAILURES: list[str] = []


def fail(msg: str) -> None:
    FAILURES.append(msg)


def check(cond: bool, msg: str) -> None:
    if not cond:
        fail(msg)


def dig(obj, path: str):
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def load_docs(text: str, where: str) -> list[dict]:
    if len(text.encode()) > MAX_MANIFEST_BYTES:
        fail(f"{where}: larger than {MAX_MANIFEST_BYTES} bytes")
        return []
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        fail(f"{where}: invalid YAML: {str(e).splitlines()[0]}")
        return []
    out = []
    for d in docs:
        if not isinstance(d, dict) or "kind" not in d or "apiVersion" not in d:
            fail(f"{where}: a document is not a Kubernetes object")
            continue
        out.append(d)
    return out


def kn(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj['kind']} {ns + '/' if ns else ''}{meta.get('name')}"


# ---------------------------------------------------------------------------------------------
# Schema validation


def openapi_to_jsonschema(node):
    """The CRD's structural OpenAPI v3 schema as JSON Schema: `nullable` becomes a null type."""
    if isinstance(node, list):
        return [openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: openapi_to_jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    if out.get("format") == "byte":
        out.pop("format")
    return out


class Validator:
    def __init__(self, crd: dict):
        versions = crd["spec"]["versions"]
        self.crd_group = crd["spec"]["group"]
        self.crd_kind = crd["spec"]["names"]["kind"]
        self.crd_schemas = {}
        for v in versions:
            schema = openapi_to_jsonschema(v["schema"]["openAPIV3Schema"])
            jsonschema.Draft7Validator.check_schema(schema)
            self.crd_schemas[f"{self.crd_group}/{v['name']}"] = jsonschema.Draft7Validator(schema)

    def validate(self, obj: dict, where: str, extra_kinds: dict | None = None) -> None:
        api, kind = obj["apiVersion"], obj["kind"]
        if kind == self.crd_kind and api in self.crd_schemas:
            errors = sorted(self.crd_schemas[api].iter_errors(obj), key=lambda e: list(e.path))
            for e in errors[:3]:
                path = ".".join(str(p) for p in e.path) or "(root)"
                fail(f"{where}: {kn(obj)}: CRD schema: {path}: {e.message}")
            meta = obj.get("metadata") or {}
            check(bool(meta.get("name")), f"{where}: {kn(obj)}: metadata.name missing")
            return
        if extra_kinds is not None and (api, kind) in extra_kinds:
            for field in extra_kinds[(api, kind)]:
                check(dig(obj, field) is not None, f"{where}: {kn(obj)}: {field} missing")
            return
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path) or "(root)"
                fail(f"{where}: {kn(obj)}: Kubernetes {version} schema: {path}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError:
                fail(f"{where}: {kn(obj)}: no {api} {kind} in Kubernetes {version}")


# ---------------------------------------------------------------------------------------------
# Chart


def render(values: dict, namespace: str, release: str = "sealant") -> list[dict]:
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values)
        manifests = chart.render(values, name=release, namespace=namespace, is_install=True)
    objs = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        objs.extend(load_docs(text, path))
    return objs


def lint(values: dict, namespace: str, where: str) -> None:
    for version in KUBE_VERSIONS:
        report = helm.lint(str(CHART), values, strict=True, namespace=namespace, kube_version=f"v{version}")
        for m in report.get("messages", []):
            # severity 1 = INFO (e.g. "icon is recommended"); 2 = WARNING, 3 = ERROR.
            if m.get("severity", 0) >= 2:
                fail(f"{where}: helm lint --strict (Kubernetes {version}): {m.get('path')}: {m.get('error')}")
        for e in report.get("errors", []):
            fail(f"{where}: helm lint --strict (Kubernetes {version}): {e}")


def by_kind(objs: list[dict], kind: str) -> list[dict]:
    return [o for o in objs if o["kind"] == kind]


def one(objs: list[dict], kind: str, where: str) -> dict:
    found = by_kind(objs, kind)
    if len(found) != 1:
        fail(f"{where}: expected one {kind}, found {len(found)}")
        return {}
    return found[0]


def controller_container(objs: list[dict], where: str) -> dict:
    dep = one(objs, "Deployment", where)
    containers = dig(dep, "spec.template.spec.containers") or [{}]
    return containers[0]


def args_of(objs: list[dict], where: str) -> list[str]:
    return controller_container(objs, where).get("args") or []


def rules_of(role: dict) -> list[tuple[str, str, str, tuple]]:
    out = []
    for r in role.get("rules") or []:
        for g in r.get("apiGroups") or [""]:
            for res in r.get("resources") or []:
                for verb in r.get("verbs") or []:
                    out.append((g, res, verb, tuple(r.get("resourceNames") or ())))
    return out


def grants(roles: list[dict], group: str, resource: str, verb: str) -> list[dict]:
    return [r for r in roles if any(g == group and res == resource and v == verb for g, res, v, _ in rules_of(r))]


def check_common(objs: list[dict], ns: str, fullname: str, where: str) -> None:
    dep = one(objs, "Deployment", where)
    pod = dig(dep, "spec.template.spec") or {}
    c = controller_container(objs, where)
    psc, csc = pod.get("securityContext") or {}, c.get("securityContext") or {}
    check(psc.get("runAsNonRoot") is True, f"{where}: pod securityContext.runAsNonRoot is not true")
    check(dig(psc, "seccompProfile.type") == "RuntimeDefault", f"{where}: pod seccompProfile is not RuntimeDefault")
    check(csc.get("readOnlyRootFilesystem") is True, f"{where}: container rootfs is not read-only")
    check(csc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation is not false")
    check(dig(csc, "capabilities.drop") == ["ALL"], f"{where}: capabilities are not all dropped")
    check(csc.get("runAsNonRoot") is True, f"{where}: container runAsNonRoot is not true")
    check(bool(dig(c, "resources.requests.cpu")) and bool(dig(c, "resources.requests.memory")),
          f"{where}: no CPU/memory requests")
    check(dig(c, "livenessProbe.httpGet.path") == "/healthz", f"{where}: liveness probe is not /healthz")
    check(dig(c, "readinessProbe.httpGet.path") == "/readyz", f"{where}: readiness probe is not /readyz")
    env = {e["name"]: dig(e, "valueFrom.fieldRef.fieldPath") for e in c.get("env") or []}
    check(env.get("POD_NAME") == "metadata.name", f"{where}: env POD_NAME is not the pod name")
    check(env.get("POD_NAMESPACE") == "metadata.namespace", f"{where}: env POD_NAMESPACE is not the pod namespace")
    ports = {p["name"]: p["containerPort"] for p in c.get("ports") or []}
    check(ports == {"http": 8080, "metrics": 8081}, f"{where}: container ports are {ports}")
    args = c.get("args") or []
    check("--listen-addr=:8080" in args and "--listen-metrics-addr=:8081" in args,
          f"{where}: listen addresses do not match the container ports: {args}")

    services = {s["metadata"]["name"]: s for s in by_kind(objs, "Service")}
    main = services.get(fullname)
    check(main is not None, f"{where}: no Service named {fullname}")
    if main:
        first = (dig(main, "spec.ports") or [{}])[0]
        check(first.get("name") == "http" and first.get("targetPort") == "http",
              f"{where}: Service {fullname} first port must be named http (kubeseal's service proxy path)")
    metrics = services.get(f"{fullname}-metrics")
    check(metrics is not None and (dig(metrics, "spec.ports") or [{}])[0].get("name") == "metrics",
          f"{where}: no metrics Service with a port named metrics")

    for o in objs:
        meta = o.get("metadata") or {}
        if o["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            check(meta.get("namespace") is not None, f"{where}: {kn(o)} has no namespace")
        if o["kind"] != "Namespace":
            check(dig(o, "metadata.labels")["app.kubernetes.io/instance"] is not None if dig(o, "metadata.labels") else False,
                  f"{where}: {kn(o)} has no app.kubernetes.io/instance label")

    roles = by_kind(objs, "Role") + by_kind(objs, "ClusterRole")
    # Nothing may delete Secrets, touch SealedSecret specs, or use wildcards.
    for r in roles:
        for g, res, verb, _ in rules_of(r):
            check("*" not in (g, res, verb), f"{where}: {kn(r)} uses a wildcard")
            check(not (res == "secrets" and verb in ("delete", "deletecollection", "patch")),
                  f"{where}: {kn(r)} may {verb} secrets")
            check(not (res == "sealedsecrets" and verb in ("create", "update", "patch", "delete")),
                  f"{where}: {kn(r)} may {verb} sealedsecrets")
    # Key Secrets live in the release namespace, which the unsealer rules always cover (the
    # release namespace is always watched): no separate key-admin Role.
    check(not [r for r in by_kind(objs, "Role") if r["metadata"]["name"].endswith("-key-admin")],
          f"{where}: a key-admin Role duplicates the unsealer rules")
    # Service proxy Role: exactly the controller Service.
    proxier = [r for r in by_kind(objs, "Role") if r["metadata"]["name"] == f"{fullname}-service-proxier"]
    check(len(proxier) == 1, f"{where}: no service-proxier Role")
    if proxier:
        names = {n for _, res, _, rn in rules_of(proxier[0]) if res == "services/proxy" for n in rn}
        check(f"http:{fullname}:http" in names and f"http:{fullname}:" in names,
              f"{where}: service-proxier Role does not allow services/proxy http:{fullname}:http")
        check(all(rn for _, _, _, rn in rules_of(proxier[0])), f"{where}: service-proxier Role has a rule without resourceNames")
    # Events through events.k8s.io.
    check(bool(grants(roles, "events.k8s.io", "events", "create")), f"{where}: no events.k8s.io events create")


def check_lease(objs: list[dict], ns: str, lease: str | None, where: str) -> None:
    roles = by_kind(objs, "Role") + by_kind(objs, "ClusterRole")
    lease_roles = [r for r in roles if any(res == "leases" for _, res, _, _ in rules_of(r))]
    args = args_of(objs, where)
    if lease is None:
        check(not lease_roles, f"{where}: lease RBAC without leader election")
        check(not any(a.startswith("--leader-elect") for a in args), f"{where}: leader election on: {args}")
        return
    check(len(lease_roles) == 1 and lease_roles[0]["kind"] == "Role" and lease_roles[0]["metadata"]["namespace"] == ns,
          f"{where}: lease Role missing or not in the release namespace")
    if lease_roles:
        got = {(g, v, rn) for g, res, v, rn in rules_of(lease_roles[0])}
        check(("coordination.k8s.io", "create", ()) in got, f"{where}: lease Role cannot create the Lease")
        for verb in ("get", "update"):
            check(("coordination.k8s.io", verb, (lease,)) in got, f"{where}: lease Role cannot {verb} Lease {lease}")
    check("--leader-elect=true" in args and f"--leader-elect-lease-name={lease}" in args,
          f"{where}: leader election flags missing: {args}")


def check_args_with_binary(args: list[str], binary: Path, where: str) -> None:
    # clap parses (and rejects) every argument before acting on --help at the end.
    proc = subprocess.run([str(binary), *args, "--help"], capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ.get("PATH", "")})
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["?"])[0]
        fail(f"{where}: sealant-controller rejects the rendered arguments: {first}")


def controller_flags(binary: Path) -> set[str]:
    out = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=60, check=True).stdout
    return set(re.findall(r"^\s+(?:-\w, )?--([a-z0-9-]+)", out, re.M))


def check_chart(binary: Path, validator: Validator) -> int:
    cases = 0
    # The CRD file itself is a valid CustomResourceDefinition for both versions.
    with helm.Chart.load(str(CHART)) as chart:
        crds = chart.crds
    check(len(crds) == 1, f"chart: expected one CRD file in crds/, found {len(crds)}")

    all_flags = {
        "keyPrefix": "my-keys", "keySize": 2048, "keyTTL": "8760h", "myCN": "sealant test",
        "keyRenewPeriod": "0", "keyOrderPriority": "SecretCreationTimestamp",
        "keyCutoffTime": "Mon, 02 Jan 2026 15:04:05 +0000", "acceptDeprecatedV1Data": False,
        "labelSelector": "team=a", "rateLimit": 0.5, "rateLimitBurst": 4,
        "trustedProxies": ["10.0.0.0/8", "192.0.2.1"],
        "privateKeyAnnotations": {"owner": "platform", "backup": "daily"},
        "privateKeyLabels": {"tier": "keys"}, "updateStatus": True, "skipRecreate": True, "disableTemplates": True,
        "disableWeb": True,
        "workers": 8, "maxRetryDelay": "1m30s", "readTimeout": "30s", "writeTimeout": "45s",
        "maxBodyBytes": 4194304, "kubeClientQPS": 0, "kubeClientBurst": 200,
        "logLevel": "debug", "logFormat": "json",
    }
    scenarios = [
        # (name, values, namespace, release, fullname, lease name or None)
        ("default", {}, "sealant", "sealant", "sealant", None),
        ("ha", {"replicas": 3}, "sealant", "sealant", "sealant", "sealant"),
        ("ha-explicit-lease", {"replicas": 2, "leaderElection": {"leaseName": "sl", "leaseDuration": "30s",
                                                               "renewDeadline": "20s", "retryPeriod": "4s"}},
         "ops", "prod", "prod-sealant", "sl"),
        ("single-with-election", {"leaderElection": {"enabled": True}}, "sealant", "sealant", "sealant", "sealant"),
        ("ha-pdb-percent", {"replicas": 3, "podDisruptionBudget": {"minAvailable": "50%"}},
         "sealant", "sealant", "sealant", "sealant"),
        ("namespaced", {"watch": {"scope": "namespaces", "namespaces": ["team-a", "team-b", "sealant"]}},
         "sealant", "sealant", "sealant", None),
        ("migration", {"fullnameOverride": "sealed-secrets-controller"}, "kube-system", "sealed-secrets",
         "sealed-secrets-controller", None),
        ("extras", {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
                    "networkPolicy": {"enabled": True, "httpFrom": [{"namespaceSelector": {}}],
                                      "egress": {"enabled": True, "kubeAPICIDR": "10.0.0.1/32",
                                                 "kubeAPIPorts": [6443]}},
                    "ingress": {"enabled": True, "className": "nginx", "tlsSecretName": "cert-tls"},
                    "image": {"digest": "sha256:" + "ab" * 32}},
         "sealant", "sealant", "sealant", None),
        ("ingress-page", {"ingress": {"enabled": True, "page": True, "tlsSecretName": "page-tls"}},
         "sealant", "sealant", "sealant", None),
        ("all-flags", {"controller": all_flags}, "sealant", "sealant", "sealant", None),
    ]
    for name, values, ns, release, fullname, lease in scenarios:
        where = f"chart[{name}]"
        cases += 1
        lint(values, ns, where)
        try:
            objs = render(values, ns, release)
        except helm.HelmError as e:
            fail(f"{where}: render failed: {str(e).splitlines()[0]}")
            continue
        check_common(objs, ns, fullname, where)
        check_lease(objs, ns, lease, where)
        args = args_of(objs, where)
        check_args_with_binary(args, binary, where)
        for o in objs:
            if o["kind"] == "ServiceMonitor":
                continue  # not a built-in kind; its fields are asserted below
            validator.validate(o, where)

        cluster_roles = by_kind(objs, "ClusterRole")
        pdbs = by_kind(objs, "PodDisruptionBudget")
        dep = one(objs, "Deployment", where)
        replicas = dig(dep, "spec.replicas")
        check(bool(pdbs) == (replicas > 1), f"{where}: PodDisruptionBudget present={bool(pdbs)} with {replicas} replicas")
        if name == "namespaced":
            check(not cluster_roles and not by_kind(objs, "ClusterRoleBinding"),
                  f"{where}: namespace-scoped mode renders a ClusterRole")
            unsealers = [r for r in by_kind(objs, "Role") if grants([r], "", "secrets", "update")]
            check(sorted(r["metadata"]["namespace"] for r in unsealers) == ["sealant", "team-a", "team-b"],
                  f"{where}: unsealer Roles are not exactly in sealant, team-a, team-b")
            check("--all-namespaces=false" in args and "--additional-namespaces=sealant,team-a,team-b" in args,
                  f"{where}: namespace flags wrong: {args}")
        else:
            check(len(cluster_roles) == 1, f"{where}: expected one ClusterRole, found {len(cluster_roles)}")
            check(not any(a.startswith("--all-namespaces") or a.startswith("--additional-namespaces") for a in args),
                  f"{where}: cluster scope passes namespace flags: {args}")
        if name == "migration":
            check(dep["metadata"]["name"] == "sealed-secrets-controller" and dep["metadata"]["namespace"] == "kube-system",
                  f"{where}: Deployment is not kube-system/sealed-secrets-controller")
            check("--key-prefix=sealed-secrets-key" in args, f"{where}: key prefix is not upstream's")
        if name == "default":
            check(set(o["kind"] for o in objs) == {"ServiceAccount", "Deployment", "Service", "ClusterRole",
                                                   "ClusterRoleBinding", "Role", "RoleBinding"},
                  f"{where}: unexpected kinds {sorted(set(o['kind'] for o in objs))}")
        if name == "extras":
            sm = one(objs, "ServiceMonitor", where)
            check(dig(sm, "spec.endpoints") and sm["spec"]["endpoints"][0].get("port") == "metrics",
                  f"{where}: ServiceMonitor does not scrape the metrics port")
            check(dig(sm, "spec.selector.matchLabels") and
                  sm["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/component") == "metrics",
                  f"{where}: ServiceMonitor does not select the metrics Service")
            ing = one(objs, "Ingress", where)
            paths = [p for r in dig(ing, "spec.rules") or [] for p in dig(r, "http.paths") or []]
            check([(p["path"], p["pathType"]) for p in paths] == [("/v1/cert.pem", "Exact")],
                  f"{where}: Ingress must publish exactly /v1/cert.pem")
            netpol = one(objs, "NetworkPolicy", where)
            check(dig(netpol, "spec.policyTypes") == ["Ingress", "Egress"], f"{where}: NetworkPolicy policyTypes")
            api_rule = (dig(netpol, "spec.egress") or [{}, {}])[-1]
            check([p.get("port") for p in api_rule.get("ports") or []] == [6443]
                  and dig(api_rule, "to") == [{"ipBlock": {"cidr": "10.0.0.1/32"}}],
                  f"{where}: API server egress is not 10.0.0.1/32 port 6443: {api_rule}")
            image = controller_container(objs, where).get("image", "")
            check(image.endswith("@sha256:" + "ab" * 32), f"{where}: image digest not used: {image}")
        if name == "ingress-page":
            ing = one(objs, "Ingress", where)
            paths = [p for r in dig(ing, "spec.rules") or [] for p in dig(r, "http.paths") or []]
            check([(p["path"], p["pathType"]) for p in paths] ==
                  [("/v1/cert.pem", "Exact"), ("/", "Exact"), ("/assets/", "Prefix"), ("/v1/certs", "Exact")],
                  f"{where}: Ingress with page must publish the page, its assets and the certificates only")
            check(all(dig(p, "backend.service.port.name") == "http" for p in paths),
                  f"{where}: Ingress paths must go to the http port")
            check(dig(ing, "spec.tls") and ing["spec"]["tls"][0]["secretName"] == "page-tls",
                  f"{where}: Ingress with page has no TLS section")
        if name == "all-flags":
            want = [
                "--key-prefix=my-keys", "--key-size=2048", "--key-ttl=8760h", "--my-cn=sealant test",
                "--key-renew-period=0", "--key-order-priority=SecretCreationTimestamp",
                "--key-cutoff-time=Mon, 02 Jan 2026 15:04:05 +0000", "--accept-deprecated-v1-data=false",
                "--label-selector=team=a", "--rate-limit=0.5", "--rate-limit-burst=4",
                "--trusted-proxies=10.0.0.0/8,192.0.2.1",
                "--privatekey-annotations=backup=daily,owner=platform", "--privatekey-labels=tier=keys",
                "--update-status=true", "--skip-recreate", "--disable-templates", "--disable-web", "--workers=8", "--max-retry-delay=1m30s",
                "--read-timeout=30s", "--write-timeout=45s", "--max-body-bytes=4194304",
                "--kubeclient-qps=0", "--kubeclient-burst=200", "--log-level=debug", "--log-format=json",
            ]
            for w in want:
                check(w in args, f"{where}: missing argument {w!r} in {args}")
            # Every controller flag is reachable from values.
            given = {a[2:].split("=", 1)[0] for a in args}
            ha = render({"replicas": 2, "leaderElection": {"leaseDuration": "30s", "renewDeadline": "20s",
                                                           "retryPeriod": "4s"}}, "sealant")
            given |= {a[2:].split("=", 1)[0] for a in args_of(ha, where)}
            missing = sorted(controller_flags(binary) - given - set(FLAGS_WITHOUT_VALUE))
            check(not missing, f"{where}: controller flags without a chart value: {missing}")
        if name == "default":
            check(args == ["--listen-addr=:8080", "--listen-metrics-addr=:8081", "--key-prefix=sealed-secrets-key"],
                  f"{where}: default values pass flags beyond the defaults: {args}")

    # Default egress: both usual API server endpoint ports (policies match after DNAT).
    objs = render({"networkPolicy": {"enabled": True, "egress": {"enabled": True}}}, "sealant")
    netpol = one(objs, "NetworkPolicy", "chart[egress-default]")
    api_rule = (dig(netpol, "spec.egress") or [{}])[-1]
    check([p.get("port") for p in api_rule.get("ports") or []] == [443, 6443],
          f"chart[egress-default]: API server egress ports are not 443 and 6443: {api_rule}")

    # The values schema rejects mistakes instead of rendering something else.
    with helm.Chart.load(str(CHART)) as chart:
        for bad in ({"replica": 2}, {"controller": {"keySize": "big"}}, {"watch": {"scope": "everything"}},
                    {"controller": {"keyRenewPeriod": "30 days"}}, {"leaderElection": {"enabled": "sometimes"}},
                    # typos inside nested Kubernetes fields would render invalid objects
                    {"containerSecurityContext": {"readOnlyRootFilesytem": True}},
                    {"containerSecurityContext": {"capabilities": {"drops": ["ALL"]}}},
                    {"podSecurityContext": {"runAsUser": "root"}},
                    {"podSecurityContext": {"seccompProfile": {"typ": "RuntimeDefault"}}},
                    {"resources": {"request": {"memory": "1Gi"}}},
                    {"resources": {"requests": {"memroy": "1Gi"}}},
                    {"resources": {"limits": {"memory": "1 Gi"}}},
                    {"podDisruptionBudget": {"minAvailable": "half"}},
                    {"networkPolicy": {"egress": {"kubeAPIPort": 6443}}},
                    {"networkPolicy": {"egress": {"kubeAPIPorts": []}}}):
            cases += 1
            try:
                chart.validate_schema(bad)
                fail(f"chart: values schema accepts {bad}")
            except helm.HelmError:
                pass
        for good in ({"resources": {"requests": {"cpu": 0.5, "memory": "128Mi", "nvidia.com/gpu": 1},
                                    "limits": {"memory": "1Gi", "hugepages-2Mi": "64Mi"}}},
                     {"containerSecurityContext": {"runAsUser": 1001, "seccompProfile": {"type": "Localhost",
                                                                                        "localhostProfile": "p.json"}}}):
            cases += 1
            try:
                chart.validate_schema(good)
            except helm.HelmError as e:
                fail(f"chart: values schema refuses {good}: {str(e).splitlines()[0]}")

    # Values that pass the schema but would render a broken or unsafe cluster are refused at
    # render time with a message naming the values to change.
    refused = [
        ({"replicas": 2, "leaderElection": {"enabled": False}}, "leaderElection.enabled: false would run 2 controllers"),
        ({"podDisruptionBudget": {"enabled": True}}, "allows no pod to be evicted"),
        ({"replicas": 3, "podDisruptionBudget": {"minAvailable": 3}}, "minAvailable: 3 with replicas: 3"),
        ({"replicas": 2, "podDisruptionBudget": {"minAvailable": "100%"}}, "minAvailable: 100%"),
        # Kubernetes rounds a percentage up: 67% of 3 pods is 3, so none may be evicted.
        ({"replicas": 3, "podDisruptionBudget": {"minAvailable": "67%"}}, "minAvailable: 67% with replicas: 3"),
        ({"replicas": 2, "podDisruptionBudget": {"minAvailable": "51%"}}, "minAvailable: 51% with replicas: 2"),
        ({"watch": {"namespaces": ["team-a"]}}, "watch.namespaces (team-a) is only used with watch.scope: namespaces"),
    ]
    for values, message in refused:
        cases += 1
        try:
            render(values, "sealant")
            fail(f"chart: renders {values} instead of refusing it")
        except helm.HelmError as e:
            check(message in str(e), f"chart: {values} refused without the expected message: {str(e).splitlines()[0]}")
    # ...and the boundary is not refused: 66% of 3 pods rounds up to 2, so one may be evicted.
    cases += 1
    try:
        render({"replicas": 3, "podDisruptionBudget": {"minAvailable": "66%"}}, "sealant")
    except helm.HelmError as e:
        fail(f"chart: refuses minAvailable 66% with 3 replicas: {str(e).splitlines()[0]}")
    check_schema_matches_kubernetes()
    return cases


def kubernetes_definitions(version: str) -> dict:
    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{version}-local-strict"
    return json.loads((base / "_definitions.json").read_text(encoding="utf-8"))["$defs"]


def check_schema_matches_kubernetes() -> None:
    """The values schema's securityContext and resources objects have exactly Kubernetes' fields
    (recursively), so a typo is refused and no real field is."""
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    local = schema.get("definitions", {})

    def resolve(node):
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            node = local.get(ref.rsplit("/", 1)[-1]) if ref.startswith("#/definitions/") else None
        return node

    def compare(ours, theirs, defs, path):
        ours, theirs = resolve(ours), theirs
        while isinstance(theirs, dict) and "$ref" in theirs:
            theirs = defs.get(theirs["$ref"].rsplit("/", 1)[-1])
        if not isinstance(ours, dict) or not isinstance(theirs, dict):
            return
        if "items" in theirs:
            compare(ours.get("items"), theirs["items"], defs, path + "[]")
            return
        if "properties" not in theirs:
            return
        got, want = set((ours.get("properties") or {})), set(theirs["properties"])
        check(got == want and ours.get("additionalProperties") is False,
              f"values.schema.json {path}: fields {sorted(got)} differ from Kubernetes' {sorted(want)} "
              f"(or extra fields are allowed)")
        check(set(ours.get("required") or []) == set(theirs.get("required") or []),
              f"values.schema.json {path}: required {ours.get('required')} differs from Kubernetes' {theirs.get('required')}")
        for name in got & want:
            if name not in ("requests", "limits"):  # maps of quantities, checked by the cases above
                compare(ours["properties"][name], theirs["properties"][name], defs, f"{path}.{name}")

    for version in KUBE_VERSIONS:
        defs = kubernetes_definitions(version)
        for value, kind in (("containerSecurityContext", "SecurityContext"),
                            ("podSecurityContext", "PodSecurityContext"), ("resources", "ResourceRequirements")):
            compare(schema["properties"][value], defs[f"io.k8s.api.core.v1.{kind}"], defs, f"{value} (Kubernetes {version})")


def check_rbac_matches_requests(binary: Path, fake_bin: Path, vectors: Path, crd: dict) -> None:
    """The rules bound to the controller's ServiceAccount are exactly the requests it makes, in
    both scopes: cluster-wide (a ClusterRole) and namespaced (a Role in each watched namespace)."""
    common = {"replicas": 2, "controller": {"keySize": 2048},
              "leaderElection": {"leaseDuration": "3s", "renewDeadline": "2s", "retryPeriod": "500ms"}}
    watched = sorted({ns for _, ns in rbac_from_requests.SEALED_EXAMPLES})
    for scope, values in (("cluster", common),
                          ("namespaces", {**common, "watch": {"scope": "namespaces", "namespaces": watched}})):
        objs = render(values, rbac_from_requests.RELEASE_NS)
        args = args_of(objs, f"rbac-run ({scope})")
        failures, needed, granted = rbac_from_requests.run(binary, fake_bin, EXAMPLES, vectors, crd, objs, args, load_docs)
        for f in failures:
            fail(f"rbac ({scope} scope): {f}")
        missing, unused = rbac_from_requests.compare(needed, granted)
        check(not missing, f"rbac ({scope} scope): the controller made requests the chart does not grant: {missing}")
        check(not unused, f"rbac ({scope} scope): the chart grants rules the controller never used: {unused}")


# ---------------------------------------------------------------------------------------------
# Examples


def load_oracle():
    path = ROOT / "cli" / "tests" / "oracle" / "open_sealed.py"
    spec = importlib.util.spec_from_file_location("open_sealed", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_examples(validator: Validator, key_path: Path) -> int:
    from cryptography.hazmat.primitives import serialization

    oracle = load_oracle()
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    files = sorted(p for p in EXAMPLES.rglob("*.yaml"))
    check(len(files) >= 10, f"examples: only {len(files)} manifests found")
    # Strategic-merge patches are partial objects: they are validated as part of the built overlay.
    patches = set()
    for f in files:
        if f.name == "kustomization.yaml":
            for patch in (yaml.safe_load(f.read_text(encoding="utf-8")) or {}).get("patches") or []:
                if isinstance(patch, dict) and "path" in patch:
                    patches.add((f.parent / patch["path"]).resolve())
    seen_sealed = set()
    count = 0
    for f in files:
        rel = f.relative_to(EXAMPLES).as_posix()
        if f.name.startswith("values") or f.resolve() in patches:
            # Helm values (checked by rendering in check_chart) and kustomize patches.
            continue
        docs = load_docs(f.read_text(encoding="utf-8"), f"examples/{rel}")
        for obj in docs:
            count += 1
            if obj["apiVersion"] == "kustomize.config.k8s.io/v1beta1":
                for res in obj.get("resources") or []:
                    check((f.parent / res).exists(), f"examples/{rel}: resource {res} does not exist")
                continue
            validator.validate(obj, f"examples/{rel}", FLUX_REQUIRED)
            if obj["kind"] == "SealedSecret":
                seen_sealed.add(rel)
                expected = EXPECTED_SEALED.get(rel)
                if expected is None:
                    fail(f"examples/{rel}: SealedSecret without expected values in check_chart.py")
                    continue
                meta = obj["metadata"]
                label = oracle.label_of(meta)
                check(f"{meta.get('namespace')}/{meta.get('name')}" == expected[0],
                      f"examples/{rel}: sealed for {meta.get('namespace')}/{meta.get('name')}, expected {expected[0]}")
                got = {}
                for item, blob in (dig(obj, "spec.encryptedData") or {}).items():
                    try:
                        got[item] = oracle.open_value(key, blob, label).decode()
                    except Exception as e:  # noqa: BLE001 - any failure to open is a finding
                        fail(f"examples/{rel}: item {item} does not unseal with the test key ({type(e).__name__})")
                # Values are compared, never printed.
                check(got == expected[1], f"examples/{rel}: unsealed items differ from the expected values "
                                          f"(items {sorted(got)} vs {sorted(expected[1])})")
    check(seen_sealed == set(EXPECTED_SEALED), f"examples: SealedSecrets missing: {sorted(set(EXPECTED_SEALED) - seen_sealed)}")

    # kustomize overlays build (kubectl's built-in kustomize, offline) and keep the SealedSecret's
    # namespace/name the one it was sealed for.
    kubectl = shutil_which("kubectl")
    for overlay in sorted((EXAMPLES / "kustomize" / "overlays").iterdir()) + [EXAMPLES / "flux" / "apps" / "demo"]:
        rel = overlay.relative_to(EXAMPLES).as_posix()
        if kubectl is None:
            fail("examples: kubectl not found (needed for `kubectl kustomize`)")
            break
        proc = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            fail(f"examples/{rel}: kubectl kustomize failed: {(proc.stderr.strip().splitlines() or ['?'])[0]}")
            continue
        for obj in load_docs(proc.stdout, f"examples/{rel} (built)"):
            validator.validate(obj, f"examples/{rel} (built)")
            if obj["kind"] == "SealedSecret":
                sealed_rel = next((k for k in EXPECTED_SEALED if k.startswith(rel + "/")), None)
                want = EXPECTED_SEALED[sealed_rel][0] if sealed_rel else None
                got = f"{obj['metadata'].get('namespace')}/{obj['metadata'].get('name')}"
                check(got == want, f"examples/{rel}: the build renames the SealedSecret to {got} (sealed for {want})")
    # The migration values render the upstream names.
    values = yaml.safe_load((EXAMPLES / "migration" / "values-migration.yaml").read_text(encoding="utf-8"))
    objs = render(values, "kube-system", "sealed-secrets-controller")
    check(any(o["kind"] == "Service" and o["metadata"]["name"] == "sealed-secrets-controller" for o in objs),
          "examples/migration/values-migration.yaml: no Service sealed-secrets-controller")
    # Not upstream's ServiceAccount name: a leftover binding to it would apply to sealant's pod.
    dep = one(objs, "Deployment", "examples/migration/values-migration.yaml")
    sa = dig(dep, "spec.template.spec.serviceAccountName")
    check(sa not in (None, "sealed-secrets-controller", "sealed-secrets"),
          f"examples/migration/values-migration.yaml: sealant runs as upstream's ServiceAccount name {sa!r}")
    check(not [o for o in objs if o["kind"] in ("ClusterRole", "ClusterRoleBinding")
               and o["metadata"]["name"] in ("secrets-unsealer", "sealed-secrets-controller")],
          "examples/migration/values-migration.yaml: a cluster-scoped object takes an upstream name")
    return count


def shutil_which(name: str):
    import shutil

    return shutil.which(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--controller-bin", type=Path, default=ROOT / "target" / "debug" / "sealant-controller")
    parser.add_argument("--fake-apiserver-bin", type=Path, default=ROOT / "target" / "debug" / "fake-apiserver")
    parser.add_argument("--vectors", type=Path, default=Path(os.environ.get("SEALANT_VECTORS", ROOT / "testdata" / "vectors")))
    opts = parser.parse_args()
    for binary, package in ((opts.controller_bin, "sealant-controller"), (opts.fake_apiserver_bin, "fake-apiserver")):
        if not binary.is_file():
            print(f"check_chart: {binary}: no such file (build {package} first)", file=sys.stderr)
            return 1
    key_path = opts.vectors / "key-4096.pem"
    if not key_path.is_file():
        print(f"check_chart: {key_path}: no such file (set --vectors)", file=sys.stderr)
        return 1

    crd_text = (CHART / "crds" / "sealedsecrets.bitnami.com.yaml").read_text(encoding="utf-8")
    crd_docs = load_docs(crd_text, "crds/sealedsecrets.bitnami.com.yaml")
    if len(crd_docs) != 1:
        print("check_chart: crds/sealedsecrets.bitnami.com.yaml must hold one CRD", file=sys.stderr)
        return 1
    validator = Validator(crd_docs[0])
    validator.validate(crd_docs[0], "crds/sealedsecrets.bitnami.com.yaml")

    # The versions checked are the ones the chart claims, and the schemas for them are bundled.
    chart_meta = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    check(chart_meta.get("kubeVersion") == f">={KUBE_VERSIONS[0]}-0",
          f"Chart.yaml: kubeVersion {chart_meta.get('kubeVersion')!r} is not >={KUBE_VERSIONS[0]}-0 (update KUBE_VERSIONS)")
    bundled = {kv_utils.major_minor(v) for v in kv_utils.all_versions()}
    for version in KUBE_VERSIONS:
        check(kv_utils.major_minor(version) in bundled,
              f"kubernetes-validate has no schemas for Kubernetes {version}")

    cases = check_chart(opts.controller_bin, validator)
    objects = check_examples(validator, key_path)
    check_rbac_matches_requests(opts.controller_bin, opts.fake_apiserver_bin, opts.vectors, crd_docs[0])
    for f in FAILURES:
        print(f"check_chart: {f}", file=sys.stderr)
    if FAILURES:
        return 1
    print(f"check_chart: ok ({cases} chart cases, Kubernetes {' and '.join(KUBE_VERSIONS)}; {objects} example objects)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
