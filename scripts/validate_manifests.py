#!/usr/bin/env python3
"""Offline checks of deploy/kubernetes/ (run by scripts/test.sh, so by .ci/run).

    scripts/validate_manifests.py           # check; exit 1 on any finding
    scripts/validate_manifests.py --sync    # refresh deploy/kubernetes/files/ from config/ and queries/

1. Sync: deploy/kubernetes/files/ holds copies of config/bridge.yaml and queries/*.sql (kustomize
   reads no file outside its folder); each copy must equal its original, every query the pipeline
   file names must be in the queries ConfigMap, and every file must be in the configMapGenerator.
2. Render: the kustomization (resources, namespace, images, configMapGenerator with a content-hash
   suffix and the references to it rewritten), by this script, so no kustomize binary is needed.
   Where `kustomize` or `kubectl` is installed, its own rendering is checked too.
3. Schema: every object against the Kubernetes JSON schemas bundled in the PyPI package
   kubernetes-validate (strict: an unknown or misspelt field fails), for each version in
   KUBERNETES_VERSIONS. No network.
4. Policy, what a schema cannot say: the security context of every container, secrets only through
   secretKeyRef, the CronJob's concurrency and deadlines, probes on the health port, a grace period
   above BRIDGE_SHUTDOWN_TIMEOUT, mounts that match the image's paths, ...
5. Image libraries: when a built otel-bridge is there (.build/{release,debug}/otel-bridge; test.sh
   builds one for the fault suite), every shared library it loads outside the Swift toolchain (the
   image links that statically) must come from a `runtime` package of deploy/apt-packages.txt, a
   package those depend on, or a package of priority `required` (what debian:bookworm-slim holds).
6. Self-test: a set of broken variants of the rendered manifests (a missing securityContext, a
   literal password, concurrencyPolicy Allow, a misspelt field, ...), each of which must be caught;
   so this check is known to be able to fail.
"""
from __future__ import annotations

import argparse
import copy
import filecmp
import functools
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
KDIR = ROOT / "deploy" / "kubernetes"
FILES = KDIR / "files"
# The oldest Kubernetes the manifests claim (CronJob timeZone and podFailurePolicy are GA there)
# and the newest whose schemas kubernetes-validate bundles.
KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]
# Where the image keeps config and queries (Dockerfile: WORKDIR /opt/otel-bridge).
IMAGE_CONFIG_DIR = "/opt/otel-bridge/config"
IMAGE_QUERIES_DIR = "/opt/otel-bridge/queries"
SECRET_ENV = {"CLICKHOUSE_PASSWORD", "CHECKPOINT_DATABASE_URL", "OTEL_EXPORTER_OTLP_HEADERS",
              "OTEL_EXPORTER_OTLP_METRICS_HEADERS", "PGPASSWORD",
              "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_HEADERS"}
REQUIRED_ENV = {"CLICKHOUSE_URL", "CLICKHOUSE_PASSWORD", "CHECKPOINT_DATABASE_URL", "OTEL_PUSH_ENABLED",
                "OTEL_EXPORTER_OTLP_HEADERS"}
DEFAULT_SHUTDOWN_TIMEOUT = 20


# ---------------------------------------------------------------------------------------------
# 1. sync

def sync_pairs() -> list[tuple[Path, Path]]:
    pairs = [(ROOT / "config" / "bridge.yaml", FILES / "bridge.yaml")]
    pairs += [(q, FILES / q.name) for q in sorted((ROOT / "queries").glob("*.sql"))]
    return pairs


def do_sync() -> None:
    FILES.mkdir(parents=True, exist_ok=True)
    for src, dst in sync_pairs():
        shutil.copyfile(src, dst)
        print(f"copied {src.relative_to(ROOT)} -> {dst.relative_to(ROOT)}")
    print("now list any new query file under configMapGenerator in deploy/kubernetes/kustomization.yaml")


def check_sync(kust: dict) -> list[str]:
    errors = []
    for src, dst in sync_pairs():
        if not dst.exists():
            errors.append(f"sync: {dst.relative_to(ROOT)} is missing (run scripts/validate_manifests.py --sync)")
        elif not filecmp.cmp(src, dst, shallow=False):
            errors.append(f"sync: {dst.relative_to(ROOT)} differs from {src.relative_to(ROOT)} "
                          "(run scripts/validate_manifests.py --sync)")
    gens = {g["name"]: g for g in kust.get("configMapGenerator", [])}
    config_keys = {key for key, _ in generator_files(gens.get("otel-bridge-config", {}))}
    query_keys = {key for key, _ in generator_files(gens.get("otel-bridge-queries", {}))}
    if "bridge.yaml" not in config_keys:
        errors.append("sync: configMapGenerator otel-bridge-config must hold bridge.yaml")
    for q in sorted((ROOT / "queries").glob("*.sql")):
        if q.name not in query_keys:
            errors.append(f"sync: queries/{q.name} is not in configMapGenerator otel-bridge-queries")
    pipeline_file = yaml.safe_load((ROOT / "config" / "bridge.yaml").read_text())
    for p in pipeline_file.get("pipelines", []):
        query = str(p.get("query", ""))
        if not query.startswith("../queries/"):
            errors.append(f"sync: pipeline {p.get('name')}: query {query!r} is not under ../queries/, "
                          "which is where the ConfigMap is mounted")
        elif query.removeprefix("../queries/") not in query_keys:
            errors.append(f"sync: pipeline {p.get('name')}: {query} is not in the queries ConfigMap")
    return errors


# ---------------------------------------------------------------------------------------------
# 2. render

def generator_files(gen: dict) -> list[tuple[str, Path]]:
    out = []
    for entry in gen.get("files", []):
        key, _, path = entry.partition("=") if "=" in entry else (Path(entry).name, "", entry)
        out.append((key, KDIR / path))
    return out


def kustomize_hash(configmap: dict) -> str:
    """A content hash suffix as kustomize adds one (not byte-identical to kustomize's; any
    content change changes it, which is what rolls the pods)."""
    digest = hashlib.sha256(json.dumps(configmap, sort_keys=True).encode()).hexdigest()
    return "".join(c for c in digest if c in "bcdfghkmt2456789")[:10]


def pod_spec(doc: dict) -> dict | None:
    kind = doc.get("kind")
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return doc["spec"]["template"]["spec"]
    if kind == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if kind == "Pod":
        return doc["spec"]
    return None


def all_containers(spec: dict) -> list[dict]:
    return list(spec.get("initContainers", [])) + list(spec.get("containers", []))


def render() -> tuple[dict, list[dict]]:
    kust = yaml.safe_load((KDIR / "kustomization.yaml").read_text())
    docs: list[dict] = []
    for res in kust.get("resources", []):
        docs += [d for d in yaml.safe_load_all((KDIR / res).read_text()) if d]
    renamed = {}
    for gen in kust.get("configMapGenerator", []):
        data = {key: path.read_text() for key, path in generator_files(gen)}
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": data}
        name = f"{gen['name']}-{kustomize_hash(cm)}"
        renamed[gen["name"]] = name
        cm["metadata"]["name"] = name
        docs.append(cm)
    namespace = kust.get("namespace")
    images = {i["name"]: i for i in kust.get("images", [])}
    for d in docs:
        if namespace and d["kind"] != "Namespace":
            d["metadata"]["namespace"] = namespace
        spec = pod_spec(d)
        if spec is None:
            continue
        for v in spec.get("volumes", []):
            if "configMap" in v and v["configMap"].get("name") in renamed:
                v["configMap"]["name"] = renamed[v["configMap"]["name"]]
        for c in all_containers(spec):
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("configMapKeyRef")
                if ref and ref.get("name") in renamed:
                    ref["name"] = renamed[ref["name"]]
            name, _, tag = c.get("image", "").partition(":")
            if name in images:
                i = images[name]
                c["image"] = f"{i.get('newName', name)}:{i.get('newTag', tag or 'latest')}"
    return kust, docs


def external_render() -> tuple[str, list[dict]] | None:
    for cmd in (["kustomize", "build", str(KDIR)], ["kubectl", "kustomize", str(KDIR)]):
        if shutil.which(cmd[0]) is None:
            continue
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0:
            return " ".join(cmd[:2]), [d for d in yaml.safe_load_all(out.stdout) if d]
        return " ".join(cmd[:2]), [{"__error__": out.stderr.strip()}]
    return None


# ---------------------------------------------------------------------------------------------
# 3. schema

def check_schema(docs: list[dict]) -> list[str]:
    import kubernetes_validate
    from kubernetes_validate import utils as kv

    errors = []
    for d in docs:
        what = f"{d.get('kind')}/{d.get('metadata', {}).get('name')}"
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(d, version, strict=True)
            except kv.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                errors.append(f"schema {version}: {what}: {path}: {e.message}")
            except kv.SchemaNotFoundError as e:
                errors.append(f"schema {version}: {what}: {e.message}")
    return errors


# ---------------------------------------------------------------------------------------------
# 4. policy

def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


def check_policy(docs: list[dict]) -> list[str]:
    errors: list[str] = []
    err = errors.append

    for kind in ("Namespace", "ServiceAccount", "Secret", "Deployment", "CronJob"):
        if not by_kind(docs, kind):
            err(f"policy: no {kind}")
    configmaps = {d["metadata"]["name"] for d in by_kind(docs, "ConfigMap")}
    secrets = {d["metadata"]["name"]: d for d in by_kind(docs, "Secret")}
    accounts = {d["metadata"]["name"]: d for d in by_kind(docs, "ServiceAccount")}

    for sa in accounts.values():
        if sa.get("automountServiceAccountToken") is not False:
            err(f"policy: ServiceAccount/{sa['metadata']['name']}: automountServiceAccountToken must be false")
    for s in secrets.values():
        values = {**s.get("stringData", {}), **s.get("data", {})}
        if not all("REPLACE-ME" in str(v) for v in values.values()):
            err(f"policy: Secret/{s['metadata']['name']}: every value in the shipped example must be a "
                "REPLACE-ME placeholder")

    for cj in by_kind(docs, "CronJob"):
        name = f"CronJob/{cj['metadata']['name']}"
        spec = cj["spec"]
        if spec.get("concurrencyPolicy") != "Forbid":
            err(f"policy: {name}: concurrencyPolicy must be Forbid")
        for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
            if key not in spec:
                err(f"policy: {name}: {key} must be set")
        job = spec["jobTemplate"]["spec"]
        for key in ("activeDeadlineSeconds", "backoffLimit"):
            if key not in job:
                err(f"policy: {name}: jobTemplate.spec.{key} must be set")
        if job["template"]["spec"].get("restartPolicy") not in ("Never", "OnFailure"):
            err(f"policy: {name}: restartPolicy must be Never or OnFailure")
        args = [a for c in job["template"]["spec"]["containers"] for a in c.get("args", [])]
        if "run" not in args:
            err(f"policy: {name}: the container must run `otel-bridge run`")

    for dep in by_kind(docs, "Deployment"):
        name = f"Deployment/{dep['metadata']['name']}"
        spec = dep["spec"]["template"]["spec"]
        for c in spec["containers"]:
            if "serve" not in c.get("args", []):
                err(f"policy: {name}: container {c['name']} must run `otel-bridge serve`")
            env = {e["name"]: e for e in c.get("env", [])}
            port_value = env.get("BRIDGE_HEALTH_PORT", {}).get("value", "8080")
            ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
            for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
                get = c.get(probe, {}).get("httpGet")
                if not get:
                    err(f"policy: {name}: {probe} must be an httpGet probe")
                    continue
                if get.get("path") != path:
                    err(f"policy: {name}: {probe} must probe {path}, not {get.get('path')}")
                port = ports.get(get.get("port"), get.get("port"))
                if str(port) != str(port_value):
                    err(f"policy: {name}: {probe} probes port {get.get('port')}, the health port is "
                        f"BRIDGE_HEALTH_PORT={port_value}")
            timeout = int(env.get("BRIDGE_SHUTDOWN_TIMEOUT", {}).get("value", DEFAULT_SHUTDOWN_TIMEOUT))
            grace = spec.get("terminationGracePeriodSeconds", 30)
            if grace <= timeout:
                err(f"policy: {name}: terminationGracePeriodSeconds {grace} must be above "
                    f"BRIDGE_SHUTDOWN_TIMEOUT {timeout}")

    for d in docs:
        spec = pod_spec(d)
        if spec is None:
            continue
        name = f"{d['kind']}/{d['metadata']['name']}"
        pod_sc = spec.get("securityContext", {})
        if spec.get("automountServiceAccountToken") is not False:
            err(f"policy: {name}: pod automountServiceAccountToken must be false")
        sa = spec.get("serviceAccountName")
        if sa not in accounts:
            err(f"policy: {name}: serviceAccountName {sa!r} is not a ServiceAccount of the kustomization")
        if pod_sc.get("runAsNonRoot") is not True:
            err(f"policy: {name}: pod securityContext.runAsNonRoot must be true")
        if pod_sc.get("runAsUser") == 0:
            err(f"policy: {name}: pod must not run as uid 0")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for v in volumes.values():
            ref = v.get("configMap", {}).get("name")
            if ref is not None and ref not in configmaps:
                err(f"policy: {name}: volume {v['name']} names ConfigMap {ref}, which the kustomization "
                    "does not generate")
        for c in all_containers(spec):
            cname = f"{name} container {c['name']}"
            sc = c.get("securityContext", {})
            eff = {**pod_sc, **sc}
            if eff.get("runAsNonRoot") is not True:
                err(f"policy: {cname}: runAsNonRoot must be true")
            if sc.get("allowPrivilegeEscalation") is not False:
                err(f"policy: {cname}: allowPrivilegeEscalation must be false")
            if sc.get("readOnlyRootFilesystem") is not True:
                err(f"policy: {cname}: readOnlyRootFilesystem must be true")
            if sc.get("privileged"):
                err(f"policy: {cname}: must not be privileged")
            caps = sc.get("capabilities", {})
            if [x.upper() for x in caps.get("drop", [])] != ["ALL"]:
                err(f"policy: {cname}: capabilities.drop must be [ALL]")
            if caps.get("add"):
                err(f"policy: {cname}: must add no capability")
            if eff.get("seccompProfile", {}).get("type") != "RuntimeDefault":
                err(f"policy: {cname}: seccompProfile must be RuntimeDefault")
            res = c.get("resources", {})
            for part in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in res.get(part, {}):
                        err(f"policy: {cname}: resources.{part}.{r} must be set")
            image = c.get("image", "")
            if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
                err(f"policy: {cname}: image {image!r} must have a pinned tag")
            mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
            tmp = mounts.get("/tmp")
            if not tmp or "emptyDir" not in volumes.get(tmp["name"], {}):
                err(f"policy: {cname}: /tmp must be an emptyDir (the root filesystem is read-only)")
            for path, cm in ((IMAGE_CONFIG_DIR, "otel-bridge-config"), (IMAGE_QUERIES_DIR, "otel-bridge-queries")):
                m = mounts.get(path)
                ref = volumes.get(m["name"], {}).get("configMap", {}).get("name", "") if m else ""
                if not ref.startswith(cm):
                    err(f"policy: {cname}: {path} must be mounted from ConfigMap {cm}")
                elif not m.get("readOnly"):
                    err(f"policy: {cname}: {path} must be mounted readOnly")
            env = {e["name"]: e for e in c.get("env", [])}
            for var in sorted(REQUIRED_ENV - env.keys()):
                err(f"policy: {cname}: env {var} must be set")
            config = env.get("BRIDGE_CONFIG", {}).get("value")
            if config is not None and config != f"{IMAGE_CONFIG_DIR}/bridge.yaml":
                err(f"policy: {cname}: BRIDGE_CONFIG must be {IMAGE_CONFIG_DIR}/bridge.yaml (the mount)")
            for var, e in env.items():
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if var in SECRET_ENV:
                    if "value" in e or not ref:
                        err(f"policy: {cname}: env {var} is a secret and must come from a secretKeyRef")
                    elif ref.get("name") not in secrets:
                        err(f"policy: {cname}: env {var} names Secret {ref.get('name')}, which the "
                            "kustomization does not hold")
                    else:
                        s = secrets[ref["name"]]
                        if ref.get("key") not in {**s.get("stringData", {}), **s.get("data", {})}:
                            err(f"policy: {cname}: env {var} names key {ref.get('key')} missing from "
                                f"Secret {ref['name']}")
                elif "value" in e and any(w in var for w in ("PASSWORD", "TOKEN", "HEADERS", "SECRET")):
                    err(f"policy: {cname}: env {var} looks like a secret and must come from a secretKeyRef")
                if "value" in e and "://" in str(e["value"]) and "@" in str(e["value"]).split("://", 1)[1].split("/", 1)[0]:
                    err(f"policy: {cname}: env {var} holds credentials in a URL; use a secretKeyRef")
            if c.get("envFrom"):
                err(f"policy: {cname}: envFrom hides which variable comes from where; name each env")
    return errors


# ---------------------------------------------------------------------------------------------
# 5. the image's runtime libraries

APT_LIST = ROOT / "deploy" / "apt-packages.txt"


def apt_packages(role: str) -> list[str]:
    out = []
    for line in APT_LIST.read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[0] == role:
            out.append(fields[1])
    return out


def built_binary() -> Path | None:
    found = [p for p in (ROOT / ".build" / "release" / "otel-bridge", ROOT / ".build" / "debug" / "otel-bridge") if p.exists()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def run(cmd: list[str]) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout


@functools.lru_cache(maxsize=None)
def library_packages(binary: Path) -> dict[str, str]:
    """Each shared library the binary loads (outside the Swift toolchain) -> its Debian package."""
    paths = {}
    for line in run(["ldd", str(binary)]).splitlines():
        parts = line.split("=>")
        if len(parts) != 2 or not parts[1].strip().startswith("/"):
            continue
        path = parts[1].split("(")[0].strip()
        if "/lib/swift/" in path:
            continue  # the Swift runtime: linked statically in the image (--static-swift-stdlib)
        # usrmerge: dpkg knows a library under /lib or under /usr/lib, whichever its package ships.
        other = path.replace("/usr/lib/", "/lib/", 1) if path.startswith("/usr/lib/") else "/usr" + path
        paths[parts[0].strip()] = (path, other)
    owners = {}
    candidates = [c for pair in paths.values() for c in pair]
    for line in run(["dpkg", "-S", *candidates]).splitlines() if candidates else []:
        package, _, file = line.partition(": ")
        owners[file.strip()] = package.split(":", 1)[0]
    return {lib: owners.get(a) or owners.get(b) or "" for lib, (a, b) in paths.items()}


def runtime_closure(runtime: list[str]) -> set[str]:
    out = run(["apt-cache", "depends", "--recurse", "--installed", "--no-recommends", "--no-suggests",
               "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *runtime])
    closure = {l.strip().split(":", 1)[0] for l in out.splitlines() if l and not l[0].isspace() and not l.startswith("<")}
    required = run(["dpkg-query", "-W", "-f", "${Package} ${Priority}\n"])
    closure |= {l.split()[0] for l in required.splitlines() if l.endswith(" required")}
    return closure


def check_runtime_libraries(runtime: list[str], binary: Path) -> list[str]:
    closure = runtime_closure(runtime)
    errors = []
    for lib, owner in sorted(library_packages(binary).items()):
        if not owner:
            errors.append(f"image: {binary.name} loads {lib}, which no Debian package provides here")
        elif owner not in closure:
            errors.append(f"image: {binary.name} loads {lib} from package {owner}, which the runtime "
                          f"packages of deploy/apt-packages.txt ({' '.join(runtime)}) do not bring")
    return errors


# ---------------------------------------------------------------------------------------------
# 6. self-test: broken variants that must be caught

def find(docs, kind):
    return next(d for d in docs if d["kind"] == kind)


def container(docs, kind):
    return pod_spec(find(docs, kind))["containers"][0]


def env_entry(docs, kind, var):
    return next(e for e in container(docs, kind)["env"] if e["name"] == var)


MUTATIONS = {
    "CronJob concurrencyPolicy Allow": lambda d: find(d, "CronJob")["spec"].update(concurrencyPolicy="Allow"),
    "CronJob without startingDeadlineSeconds": lambda d: find(d, "CronJob")["spec"].pop("startingDeadlineSeconds"),
    "Job without activeDeadlineSeconds": lambda d: find(d, "CronJob")["spec"]["jobTemplate"]["spec"].pop("activeDeadlineSeconds"),
    "container without securityContext": lambda d: container(d, "Deployment").pop("securityContext"),
    "writable root filesystem": lambda d: container(d, "CronJob")["securityContext"].update(readOnlyRootFilesystem=False),
    "capability added": lambda d: container(d, "Deployment")["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
    "seccomp Unconfined": lambda d: container(d, "CronJob")["securityContext"].update(seccompProfile={"type": "Unconfined"}),
    "password as a literal": lambda d: env_entry(d, "Deployment", "CLICKHOUSE_PASSWORD").update(value="hunter2"),
    "token mounted": lambda d: pod_spec(find(d, "Deployment")).update(automountServiceAccountToken=True),
    "ServiceAccount mounts its token": lambda d: find(d, "ServiceAccount").update(automountServiceAccountToken=True),
    "liveness on the wrong path": lambda d: container(d, "Deployment")["livenessProbe"]["httpGet"].update(path="/healthz"),
    "grace period below the shutdown timeout": lambda d: pod_spec(find(d, "Deployment")).update(terminationGracePeriodSeconds=10),
    "no memory limit": lambda d: container(d, "Deployment")["resources"]["limits"].pop("memory"),
    "misspelt field (schema)": lambda d: container(d, "Deployment").update(imagePullPolicyy="Always"),
    "wrong type (schema)": lambda d: find(d, "CronJob")["spec"].update(startingDeadlineSeconds="two minutes"),
    "a real-looking secret value": lambda d: find(d, "Secret")["stringData"].update({"clickhouse-password": "s3cr3t"}),
    "secretKeyRef to a missing key": lambda d: env_entry(d, "CronJob", "CHECKPOINT_DATABASE_URL")["valueFrom"]["secretKeyRef"].update(key="nope"),
    "queries not mounted": lambda d: container(d, "CronJob").update(volumeMounts=[m for m in container(d, "CronJob")["volumeMounts"] if m["mountPath"] != IMAGE_QUERIES_DIR]),
}


def self_test(docs: list[dict]) -> list[str]:
    failures = []
    for what, mutate in MUTATIONS.items():
        broken = copy.deepcopy(docs)
        mutate(broken)
        if not (check_policy(broken) or check_schema(broken)):
            failures.append(f"self-test: a manifest with '{what}' passed; the check cannot catch it")
    return failures


# ---------------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sync", action="store_true", help="copy config/bridge.yaml and queries/*.sql into deploy/kubernetes/files/")
    ap.add_argument("--no-self-test", action="store_true", help="skip the broken-variant self-test")
    args = ap.parse_args()
    if args.sync:
        do_sync()
        return 0

    kust, docs = render()
    errors = check_sync(kust) + check_schema(docs) + check_policy(docs)
    checked = [f"{d['kind']}/{d['metadata']['name']}" for d in docs]
    external = external_render()
    if external:
        tool, ext_docs = external
        if ext_docs and "__error__" in ext_docs[0]:
            errors.append(f"{tool}: {ext_docs[0]['__error__']}")
        else:
            errors += [f"{tool}: {e}" for e in check_schema(ext_docs) + check_policy(ext_docs)]
            ours = sorted((d["kind"], d["metadata"]["name"].rsplit("-", 1)[0] if d["kind"] == "ConfigMap" else d["metadata"]["name"]) for d in docs)
            theirs = sorted((d["kind"], d["metadata"]["name"].rsplit("-", 1)[0] if d["kind"] == "ConfigMap" else d["metadata"]["name"]) for d in ext_docs)
            if ours != theirs:
                errors.append(f"{tool} renders {theirs}, this script {ours}")
    binary = built_binary() if shutil.which("ldd") and shutil.which("dpkg") and shutil.which("apt-cache") else None
    runtime = apt_packages("runtime")
    if binary:
        errors += check_runtime_libraries(runtime, binary)
    if not errors and not args.no_self_test:
        errors += self_test(docs)
        if binary and "libpq5" in runtime and not check_runtime_libraries([p for p in runtime if p != "libpq5"], binary):
            errors.append("self-test: a runtime list without libpq5 passed the image library check")

    for e in errors:
        print(f"validate_manifests: {e}", file=sys.stderr)
    if errors:
        print(f"validate_manifests: FAILED, {len(errors)} finding(s)", file=sys.stderr)
        return 1
    extra = f"; also rendered by {external[0]}" if external else ""
    extra += (f"; every library {binary.relative_to(ROOT)} loads comes from the runtime packages" if binary
              else "; image libraries not checked (no built otel-bridge)")
    selft = "" if args.no_self_test else f"; {len(MUTATIONS)} broken variants all caught"
    print(f"validate_manifests: {len(checked)} objects valid against Kubernetes "
          f"{', '.join(KUBERNETES_VERSIONS)} (strict) and policy{extra}{selft}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
