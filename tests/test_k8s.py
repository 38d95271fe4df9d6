"""k8s/ manifests: render every kustomization, validate it against the Kubernetes 1.32 schemas
(strict: unknown fields fail) and enforce the project's policies (least privilege, non-root,
resources, probes, pinned images, no Secret with data in any rendered kustomization). Also lints
the kind scripts and the backup scripts, and runs the credential generator.

The policy checks are plain functions returning a list of violations, so
``test_policy_checks_catch_a_bad_deployment`` can prove each of them fires.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "k8s"
KUSTOMIZATIONS = ["k8s/base", "k8s/overlays/kind", "k8s/overlays/gpu"]
K8S_VERSION = "1.32"
NAMESPACE = "lstmtune"
SCRIPTS = sorted((ROOT / "scripts").glob("*.sh"))
BACKUP_SCRIPTS = sorted((K8S / "base" / "backup").glob("*.sh"))

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
KATIB_RESOURCES = {"experiments", "trials", "suggestions"}
KATIB_VERBS = {"create", "get", "list", "watch", "delete", "patch"}
POD_READ_VERBS = {"get", "list", "watch"}
# Secret name -> keys the manifests and lstmtune (ClusterConfig) may read from it
SECRET_KEYS = {
    "lstmtune-postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"},
    "lstmtune-s3": {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"},
    "lstmtune-optuna": {"LSTMTUNE_STORAGE_URL"},
    "lstmtune-mlflow-auth": {
        "MLFLOW_AUTH_ADMIN_USERNAME",
        "MLFLOW_AUTH_ADMIN_PASSWORD",
        "MLFLOW_FLASK_SERVER_SECRET_KEY",
    },
    # cluster.mlflow_secret: Katib trials load it whole (envFrom), so exactly these two keys
    "lstmtune-mlflow": {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"},
}
# Secrets pipeline pods need in `kubeflow`, where KFP standalone runs them (kind)
PIPELINE_SECRETS = ("lstmtune-s3", "lstmtune-optuna", "lstmtune-mlflow")


# --------------------------------------------------------------------------- rendering


@functools.cache
def _render(path: str) -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed")
    proc = subprocess.run(
        [kubectl, "kustomize", str(ROOT / path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"kubectl kustomize {path} failed:\n{proc.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(proc.stdout) if doc)


def render(path: str) -> list[dict[str, Any]]:
    return list(_render(path))


def ident(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata", {})
    return f"{doc.get('kind')}/{meta.get('namespace', '-')}/{meta.get('name')}"


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    hits = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(hits) == 1, f"expected exactly one {kind}/{name}, found {len(hits)}"
    return hits[0]


# --------------------------------------------------------------------------- policy checks


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a workload (None for anything else)."""
    kind = doc.get("kind")
    if kind not in WORKLOAD_KINDS:
        return None
    spec = doc.get("spec", {})
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return spec.get("template", {}).get("spec", {})


def containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(field) or []:
            yield f"{field}[{c.get('name')}]", c


def check_pod_security(doc: dict[str, Any]) -> list[str]:
    spec = pod_spec(doc)
    if spec is None:
        return []
    where, out = ident(doc), []
    pod_sc = spec.get("securityContext") or {}
    if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
        out.append(f"{where}: uses host namespaces")
    for name, c in containers(spec):
        sc = c.get("securityContext") or {}
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
            out.append(f"{where} {name}: runAsNonRoot is not true")
        uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
        if not isinstance(uid, int) or isinstance(uid, bool) or uid == 0:
            out.append(f"{where} {name}: needs a numeric non-zero runAsUser")
        if sc.get("privileged"):
            out.append(f"{where} {name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{where} {name}: allowPrivilegeEscalation must be false")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            out.append(f"{where} {name}: capabilities must drop ALL")
        if (sc.get("capabilities") or {}).get("add"):
            out.append(f"{where} {name}: adds capabilities")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{where} {name}: seccompProfile must be RuntimeDefault")
    return out


def check_resources(doc: dict[str, Any]) -> list[str]:
    spec = pod_spec(doc)
    if spec is None:
        return []
    out = []
    for name, c in containers(spec):
        res = c.get("resources") or {}
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in (res.get(section) or {}):
                    out.append(f"{ident(doc)} {name}: missing resources.{section}.{resource}")
    return out


def check_probes(doc: dict[str, Any]) -> list[str]:
    spec = pod_spec(doc)
    if spec is None or doc["kind"] in ("Job", "CronJob"):
        return []
    return [
        f"{ident(doc)} {name}: missing {probe}"
        for name, c in containers(spec)
        if name.startswith("containers")
        for probe in ("readinessProbe", "livenessProbe")
        if not c.get(probe)
    ]


def check_images(doc: dict[str, Any]) -> list[str]:
    spec = pod_spec(doc)
    if spec is None:
        return []
    out = []
    for name, c in containers(spec):
        image = c.get("image", "")
        if "@sha256:" in image:
            continue
        last = image.rsplit("/", 1)[-1]
        tag = last.split(":", 1)[1] if ":" in last else ""
        if not tag or tag == "latest":
            out.append(f"{ident(doc)} {name}: image {image!r} is not pinned to a tag or digest")
    return out


def check_env_expansion(doc: dict[str, Any]) -> list[str]:
    """Every $(VAR) in command/args is defined in env (Kubernetes leaves unknown ones verbatim)."""
    spec = pod_spec(doc)
    if spec is None:
        return []
    out = []
    for name, c in containers(spec):
        defined = {e["name"] for e in c.get("env") or []}
        for arg in (c.get("command") or []) + (c.get("args") or []):
            for var in re.findall(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", arg):
                if var not in defined:
                    out.append(f"{ident(doc)} {name}: $({var}) is not in env")
    return out


def check_rbac(doc: dict[str, Any]) -> list[str]:
    kind, out = doc.get("kind"), []
    if kind in ("ClusterRole", "ClusterRoleBinding"):
        out.append(f"{ident(doc)}: cluster-scoped RBAC is not allowed")
    if kind == "Role":
        for i, rule in enumerate(doc.get("rules") or []):
            for field in ("verbs", "resources", "apiGroups"):
                if "*" in (rule.get(field) or []):
                    out.append(f"{ident(doc)} rules[{i}].{field}: wildcard '*'")
            for verb in ("escalate", "bind", "impersonate"):
                if verb in (rule.get("verbs") or []):
                    out.append(f"{ident(doc)} rules[{i}]: grants {verb}")
    if kind == "RoleBinding" and doc.get("roleRef", {}).get("kind") == "ClusterRole":
        out.append(f"{ident(doc)}: binds a ClusterRole")
    return out


def check_secret(doc: dict[str, Any]) -> list[str]:
    """No kustomization commits credentials, not even labelled dev-only ones: Secrets are
    created out of band (make kind-up generates them into the gitignored k8s/secrets/*.env)."""
    if doc.get("kind") != "Secret" or not (doc.get("data") or doc.get("stringData")):
        return []
    return [f"{ident(doc)}: Secret with committed data"]


def violations(docs: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for doc in docs:
        for check in (
            check_pod_security,
            check_resources,
            check_probes,
            check_images,
            check_env_expansion,
            check_rbac,
        ):
            out += check(doc)
        out += check_secret(doc)
    return out


# --------------------------------------------------------------------------- the policy checks work


def bad_deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bad", "namespace": NAMESPACE},
        "spec": {
            "selector": {"matchLabels": {"app": "bad"}},
            "template": {
                "metadata": {"labels": {"app": "bad"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:latest",
                            "args": ["--dsn=$(UNDEFINED_DSN)"],
                            "securityContext": {
                                "privileged": True,
                                "allowPrivilegeEscalation": True,
                            },
                            "resources": {"requests": {"cpu": "100m"}},
                        },
                        {
                            "name": "sidecar",
                            "image": "busybox",
                            "readinessProbe": {"exec": {"command": ["true"]}},
                        },
                    ]
                },
            },
        },
    }


def test_policy_checks_catch_a_bad_deployment() -> None:
    doc = bad_deployment()
    security = " ".join(check_pod_security(doc))
    for expected in (
        "runAsNonRoot",
        "runAsUser",
        "privileged",
        "allowPrivilegeEscalation",
        "drop ALL",
        "seccompProfile",
    ):
        assert expected in security, expected
    resources = check_resources(doc)
    assert "containers[web]: missing resources.requests.memory" in " ".join(resources)
    assert len(resources) == 3 + 4  # web has requests.cpu only; sidecar has nothing
    probes = check_probes(doc)
    assert any("web" in p and "readinessProbe" in p for p in probes)
    assert any("sidecar" in p and "livenessProbe" in p for p in probes)
    assert not any("sidecar" in p and "readinessProbe" in p for p in probes)
    images = check_images(doc)
    assert len(images) == 2 and "nginx:latest" in images[0] and "busybox" in images[1]
    assert check_env_expansion(doc) == [
        f"{ident(doc)} containers[web]: $(UNDEFINED_DSN) is not in env"
    ]
    assert violations([doc])  # and the aggregate reports it


def test_policy_checks_catch_bad_rbac_and_secrets() -> None:
    role = {
        "kind": "Role",
        "metadata": {"name": "r"},
        "rules": [{"apiGroups": ["*"], "resources": ["pods"], "verbs": ["*"]}],
    }
    assert len(check_rbac(role)) == 2
    assert check_rbac({"kind": "ClusterRole", "metadata": {"name": "c"}})
    assert check_rbac({"kind": "ClusterRoleBinding", "metadata": {"name": "c"}})
    assert check_rbac(
        {
            "kind": "RoleBinding",
            "metadata": {"name": "b"},
            "roleRef": {"kind": "ClusterRole", "name": "admin"},
        }
    )
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}}
    assert check_secret(secret)
    # a dev-only label no longer excuses committed credentials
    secret["metadata"]["labels"] = {"lstmtune.io/dev-only": "true"}
    assert check_secret(secret)
    assert check_secret({"kind": "Secret", "metadata": {"name": "d"}, "data": {"k": "dg=="}})
    assert violations([secret])
    assert check_secret({"kind": "Secret", "metadata": {"name": "empty"}}) == []


def test_strict_schema_validation_rejects_unknown_fields() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    doc = bad_deployment()
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # well-formed, merely unsafe
    doc["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}  # typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_policy_checks_accept_a_good_job_without_probes() -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "ok"},
        "spec": {
            "template": {
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 1000,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "c",
                            "image": "registry.example.com:5000/tool:1.2.3",
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "resources": {
                                "requests": {"cpu": "1", "memory": "1Gi"},
                                "limits": {"cpu": "1", "memory": "1Gi"},
                            },
                        }
                    ],
                }
            }
        },
    }
    assert violations([job]) == []
    job["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com:5000/tool"
    assert check_images(job), "a registry port is not a tag"


# --------------------------------------------------------------------------- rendered manifests


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_renders_and_validates_strictly_against_k8s_schemas(path: str) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    docs = render(path)
    assert docs, f"{path} rendered nothing"
    errors = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{ident(doc)}: {exc.message} at {'.'.join(map(str, exc.path))}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_manifests_follow_policy(path: str) -> None:
    assert violations(render(path)) == []


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_everything_namespaced_in_lstmtune(path: str) -> None:
    docs = render(path)
    namespaces = [d for d in docs if d["kind"] == "Namespace"]
    assert [n["metadata"]["name"] for n in namespaces] == [NAMESPACE]
    assert (
        namespaces[0]["metadata"]["labels"]["katib.kubeflow.org/metrics-collector-injection"]
        == "enabled"
    )
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, ident(doc)


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_role_grants_exactly_the_katib_and_pod_log_access(path: str) -> None:
    docs = render(path)
    role = find(docs, "Role", "lstmtune-pipeline")
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "Role"] == ["lstmtune-pipeline"]
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    expected = {("kubeflow.org", r): KATIB_VERBS for r in KATIB_RESOURCES}
    expected |= {("", "pods"): POD_READ_VERBS, ("", "pods/log"): POD_READ_VERBS}
    assert grants == expected
    assert role["metadata"]["namespace"] == NAMESPACE

    sa = find(docs, "ServiceAccount", "lstmtune-pipeline")
    assert sa["metadata"]["namespace"] == NAMESPACE
    trial = find(docs, "ServiceAccount", "lstmtune-trial")  # Katib trials: no rights, no token
    assert trial["automountServiceAccountToken"] is False
    bound = [s for d in docs if d["kind"] == "RoleBinding" for s in d["subjects"]]
    assert not [s for s in bound if s["name"] == "lstmtune-trial"]
    binding = find(docs, "RoleBinding", "lstmtune-pipeline")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "lstmtune-pipeline",
    }
    assert {
        "kind": "ServiceAccount",
        "name": "lstmtune-pipeline",
        "namespace": NAMESPACE,
    } in binding["subjects"]
    for rb in (d for d in docs if d["kind"] == "RoleBinding"):
        assert (
            rb["roleRef"]["name"] == "lstmtune-pipeline"
            and rb["metadata"]["namespace"] == NAMESPACE
        )


def test_kfp_standalone_runner_is_bound_only_in_the_kind_overlay() -> None:
    binding = find(render("k8s/overlays/kind"), "RoleBinding", "lstmtune-pipeline-kfp-runner")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "pipeline-runner", "namespace": "kubeflow"}
    ]
    for path in ("k8s/base", "k8s/overlays/gpu"):
        assert not [
            d for d in render(path) if d["metadata"]["name"] == "lstmtune-pipeline-kfp-runner"
        ]


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_services_and_workloads(path: str) -> None:
    docs = render(path)
    ports = {
        name: sorted(p["port"] for p in find(docs, "Service", name)["spec"]["ports"])
        for name in ("postgres", "minio", "mlflow")
    }
    assert ports == {"postgres": [5432], "minio": [9000, 9001], "mlflow": [5000]}

    postgres = find(docs, "StatefulSet", "postgres")
    (pg,) = postgres["spec"]["template"]["spec"]["containers"]
    assert re.fullmatch(r"(docker\.io/(library/)?)?postgres:16\.\d+(-\w+)?", pg["image"]), pg[
        "image"
    ]
    assert postgres["spec"]["volumeClaimTemplates"], "postgres needs a PVC template"
    mounts = {m["mountPath"]: m["name"] for m in pg["volumeMounts"]}
    assert "/docker-entrypoint-initdb.d" in mounts
    init = next(
        v
        for v in postgres["spec"]["template"]["spec"]["volumes"]
        if v["name"] == mounts["/docker-entrypoint-initdb.d"]
    )
    sql = " ".join(find(docs, "ConfigMap", init["configMap"]["name"])["data"].values())
    assert "CREATE DATABASE mlflow" in sql and "CREATE DATABASE optuna" in sql
    assert {e["name"]: e.get("value") for e in pg["env"]}["PGDATA"].startswith(
        "/var/lib/postgresql/data/"
    )

    minio = find(docs, "Deployment", "minio")
    env = {
        e["name"]: e.get("valueFrom", {}).get("secretKeyRef")
        for e in minio["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["MINIO_ROOT_USER"] == {"name": "lstmtune-s3", "key": "AWS_ACCESS_KEY_ID"}
    assert env["MINIO_ROOT_PASSWORD"] == {"name": "lstmtune-s3", "key": "AWS_SECRET_ACCESS_KEY"}
    buckets = find(docs, "Job", "minio-buckets")["spec"]["template"]["spec"]["containers"][0]
    assert (
        "lstmtune/mlflow" in buckets["args"][0] and "lstmtune/lstmtune-data" in buckets["args"][0]
    )

    (mlflow,) = find(docs, "Deployment", "mlflow")["spec"]["template"]["spec"]["containers"]
    assert mlflow["image"].startswith("ghcr.io/lstmtune/lstmtune:")
    args = " ".join(mlflow["command"] + mlflow["args"])
    assert args.startswith("mlflow server")
    assert (
        "--backend-store-uri=postgresql://$(POSTGRES_USER):$(POSTGRES_PASSWORD)@postgres:5432/mlflow"
        in args
    )
    assert "--artifacts-destination=s3://mlflow/" in args and "--serve-artifacts" in args
    mlflow_env = {e["name"]: e for e in mlflow["env"]}
    assert mlflow_env["MLFLOW_S3_ENDPOINT_URL"]["value"] == "http://minio:9000"
    assert "mlflow.lstmtune.svc.cluster.local:*" in mlflow_env["MLFLOW_SERVER_ALLOWED_HOSTS"][
        "value"
    ].split(",")


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_network_policies_close_ingress_and_open_each_service_port_to_its_clients_only(
    path: str,
) -> None:
    docs = render(path)
    policies = {d["metadata"]["name"]: d for d in docs if d["kind"] == "NetworkPolicy"}
    deny = policies.pop("default-deny-ingress")
    policies.pop("postgres-backup-egress")  # egress: test_backup_pods_reach_postgres_and_minio_only
    katib = policies.pop("katib-suggestion-clients")["spec"]  # pods Katib creates: no Service here
    assert katib["podSelector"] == {
        "matchExpressions": [{"key": "katib.kubeflow.org/suggestion", "operator": "Exists"}]
    }
    assert {p["port"] for p in katib["ingress"][0]["ports"]} == {6789, 6788}
    assert katib["ingress"][0]["from"] == policies["mlflow-clients"]["spec"]["ingress"][0]["from"]
    assert deny["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress"],
    }  # no ingress rule: nothing allowed
    opened = {}
    for name, policy in policies.items():
        assert policy["metadata"]["namespace"] == NAMESPACE
        spec = policy["spec"]
        assert spec["policyTypes"] == ["Ingress"] and len(spec["ingress"]) == 1, name
        (rule,) = spec["ingress"]
        (source,) = rule["from"]  # never an empty `from` (= every source) or an ipBlock
        assert source == {
            "namespaceSelector": {
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "In",
                        "values": [NAMESPACE, "kubeflow"],
                    }
                ]
            }
        }, name
        # the policy selects exactly the pods behind the Service, and opens the port they listen on
        service = find(docs, "Service", name.removesuffix("-clients"))
        assert spec["podSelector"] == {"matchLabels": service["spec"]["selector"]}, name
        workload = next(
            d
            for d in docs
            if d["kind"] in ("Deployment", "StatefulSet")
            and d["metadata"]["name"] == service["metadata"]["name"]
        )
        listening = {
            p["containerPort"]
            for _, c in containers(pod_spec(workload) or {})
            for p in c.get("ports") or []
        }
        ports = {p["port"] for p in rule["ports"]}
        assert ports <= listening and all(p["protocol"] == "TCP" for p in rule["ports"]), name
        opened[service["metadata"]["name"]] = sorted(ports)
    assert opened == {
        "postgres": [5432],
        "minio": [9000],
        "mlflow": [5000],
    }  # MinIO's console stays port-forward only


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_secret_references_use_known_secrets_and_keys(path: str) -> None:
    docs = render(path)
    refs = set()
    for doc in docs:
        spec = pod_spec(doc)
        for _, c in containers(spec or {}):
            for e in c.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    refs.add((ref["name"], ref["key"]))
            assert not c.get("envFrom"), f"{ident(doc)}: use explicit secretKeyRef, not envFrom"
    assert refs, "workloads read their credentials from Secrets"
    for name, key in refs:
        assert key in SECRET_KEYS.get(name, set()), f"unexpected secret reference {name}/{key}"
    # every referenced key has a template line, so the out-of-band Secrets can provide it
    for name, key in refs:
        assert key in _env_keys(K8S / "secrets" / f"{name}.env.example"), f"{name}: {key}"
    assert not [d for d in docs if d["kind"] == "Secret"], "Secrets are created out of band"


# --------------------------------------------------------------------------- lstmtune configs


def _config_from_configmap(path: str) -> Any:
    from lstmtune.config import RunConfig

    cm = find(render(path), "ConfigMap", "lstmtune-config")
    return RunConfig.model_validate(yaml.safe_load(cm["data"]["lstmtune.yaml"]))


@pytest.mark.parametrize("path", ["k8s/base", "k8s/overlays/gpu"])
def test_shipped_configs_pass_the_checks_a_run_makes_before_it_starts(path: str) -> None:
    """The ConfigMap's config had no tune.katib.data_uri: compile took it, and the run stopped
    at the cluster's tune step after the prepare step had run."""
    from lstmtune.run_checks import check_study_config

    check_study_config(_config_from_configmap(path))


def test_base_config_targets_the_cluster_services() -> None:
    cfg = _config_from_configmap("k8s/base")
    assert cfg.mlflow.tracking_uri == "http://mlflow.lstmtune.svc.cluster.local:5000"
    assert cfg.data.path is not None and cfg.data.path.startswith("s3://lstmtune-data/")
    assert cfg.cluster.gpus == 0 and cfg.cluster.s3_secret == "lstmtune-s3"
    assert cfg.cluster.storage_secret == "lstmtune-optuna"
    assert cfg.tune.storage is None, (
        "the Optuna storage URL comes from the Secret, not the ConfigMap"
    )
    assert (
        cfg.tune.katib.namespace == NAMESPACE and cfg.tune.katib.service_account == "lstmtune-trial"
    )


def test_gpu_config_requests_gpus_on_gpu_nodes() -> None:
    cfg = _config_from_configmap("k8s/overlays/gpu")
    assert cfg.cluster.gpus == 1 and cfg.cluster.accelerator_type == "nvidia.com/gpu"
    assert {
        "key": "nvidia.com/gpu",
        "operator": "Exists",
        "effect": "NoSchedule",
    } in cfg.cluster.tolerations
    assert cfg.cluster.node_selector
    docs = render("k8s/overlays/gpu")
    quota = find(docs, "ResourceQuota", "lstmtune-gpu")
    assert "requests.nvidia.com/gpu" in quota["spec"]["hard"]
    for item in find(docs, "LimitRange", "lstmtune-defaults")["spec"]["limits"]:
        for section in ("default", "defaultRequest", "max", "min"):
            assert "nvidia.com/gpu" not in item.get(section, {}), (
                "a LimitRange GPU entry would give every container a GPU"
            )
    assert not [d for d in render("k8s/base") if d["kind"] in ("ResourceQuota", "LimitRange")]


def test_kind_e2e_config_is_a_tiny_cpu_katib_run() -> None:
    from lstmtune.config import load_config

    cfg = load_config(str(K8S / "kind" / "e2e-config.yaml"))
    assert cfg.tune.backend == "katib" and cfg.cluster.gpus == 0
    assert cfg.tune.n_trials <= 3
    assert cfg.evaluate.gate == "naive"  # the script requires @champion; 3 trials lose to ARIMA
    assert cfg.mlflow.tracking_uri == "http://mlflow.lstmtune.svc.cluster.local:5000"
    assert cfg.mlflow.model_name


# ---------------------------------------------------------------------- versions, kind, secrets


def _versions() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in (K8S / "versions.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    return {k.strip(): v.strip() for k, v in pairs}


def test_versions_are_pinned() -> None:
    v = _versions()
    assert re.fullmatch(r"kindest/node:v1\.32\.\d+@sha256:[0-9a-f]{64}", v["KIND_NODE_IMAGE"])
    assert re.fullmatch(r"v0\.\d+\.\d+", v["KIND_VERSION"])
    assert re.fullmatch(r"2\.\d+\.\d+", v["PIPELINE_VERSION"])
    assert v["KATIB_VERSION"] == "v0.19.0"
    assert v["LSTMTUNE_IMAGE"] == "ghcr.io/lstmtune/lstmtune:0.1.0"
    cluster = yaml.safe_load((K8S / "kind" / "cluster.yaml").read_text())
    assert cluster["kind"] == "Cluster" and cluster["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert {n["image"] for n in cluster["nodes"]} == {v["KIND_NODE_IMAGE"]}
    assert cluster["name"] == v["KIND_CLUSTER_NAME"]
    up = (ROOT / "scripts" / "kind-up.sh").read_text()
    assert (
        "cluster-scoped-resources?ref=$PIPELINE_VERSION" in up
        and "env/platform-agnostic?ref=$PIPELINE_VERSION" in up
    )
    assert "github.com/kubeflow/katib.git/manifests/v1beta1/installs/katib-standalone" in up
    assert "?ref=$KATIB_VERSION" in up


def _env_file(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    return {k: v for k, v in pairs}


def _env_keys(path: Path) -> set[str]:
    return set(_env_file(path))


def test_no_real_secrets_in_the_tree() -> None:
    ignore = (K8S / ".gitignore").read_text().splitlines()
    assert "secrets/*.env" in ignore
    committed = subprocess.run(
        ["git", "ls-files", "k8s"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    assert not [f for f in committed if f.endswith(".env") and "/secrets/" in f]
    examples = sorted(p.name for p in (K8S / "secrets").glob("*.env.example"))
    assert examples == sorted(f"{name}.env.example" for name in SECRET_KEYS)
    for example in (K8S / "secrets").glob("*.env.example"):
        assert _env_keys(example) <= SECRET_KEYS[example.name.removesuffix(".env.example")]
    # no kustomization generates Secrets: credentials never enter git, not even dev-only ones
    for kustomization in K8S.rglob("kustomization.yaml"):
        text = kustomization.read_text()
        assert "secretGenerator" not in text, kustomization
        assert "dev-only" not in text, kustomization


def test_makefile_has_kind_targets() -> None:
    targets = set(re.findall(r"^([A-Za-z0-9_.-]+):", (ROOT / "Makefile").read_text(), re.M))
    assert {"kind-up", "kind-e2e", "kind-down", "k8s-validate"} <= targets


def test_workflow_runs_kind_e2e() -> None:
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "kind-e2e.yml").read_text())
    triggers = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "workflow_dispatch" in triggers and triggers["schedule"]
    steps = [s.get("run", "") for s in wf["jobs"]["kind-e2e"]["steps"]]
    assert "make kind-up" in steps and "make kind-e2e" in steps
    assert any("sha256sum -c" in s for s in steps), "kind binary is verified"


# --------------------------------------------------------------------------- scripts


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_parses(script: Path) -> None:
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    if script.name != "lib.sh":
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash\n")
        assert re.search(r"^set -E?euo pipefail$", text, re.M)
        assert script.stat().st_mode & 0o111, f"{script.name} is not executable"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_passes_shellcheck(script: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (apt-get install -y shellcheck)")
    proc = subprocess.run(
        [shellcheck, "-x", "--severity=style", str(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_scripts_check_their_tools() -> None:
    up = (ROOT / "scripts" / "kind-up.sh").read_text()
    e2e = (ROOT / "scripts" / "kind-e2e.sh").read_text()
    assert re.search(r"^require docker kind kubectl", up, re.M)
    assert re.search(r"^require docker kind kubectl", e2e, re.M)
    assert 'docker build -f "$ROOT/images/Dockerfile"' in up and "kind load docker-image" in up
    assert 'apply -k "$ROOT/k8s/overlays/kind"' in up
    for flag in ("--host", "--namespace lstmtune", "--experiment kind-e2e", "--config", "--wait"):
        assert flag in e2e
    assert 'get_model_version_by_alias(name, "champion")' in e2e
    assert "lstmtune-mlflow.env" in e2e and "401" in e2e  # logs in; anonymous is refused


@pytest.mark.parametrize("script", BACKUP_SCRIPTS, ids=lambda p: p.name)
def test_backup_script_is_posix_sh_and_passes_shellcheck(script: Path) -> None:
    text = script.read_text()
    assert text.startswith("#!/bin/sh\n") and re.search(r"^set -eu$", text, re.M)
    proc = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (apt-get install -y shellcheck)")
    proc = subprocess.run(
        [shellcheck, "--shell=sh", "--severity=style", str(script)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- credentials


def test_gen_secrets_writes_random_url_safe_credentials_once(tmp_path: Path) -> None:
    script = ROOT / "scripts" / "gen-secrets.sh"
    first, second = tmp_path / "a", tmp_path / "b"
    for target in (first, second, first):
        proc = subprocess.run(["bash", str(script), str(target)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    made = {p.name.removesuffix(".env"): _env_file(p) for p in first.glob("*.env")}
    assert {name: set(env) for name, env in made.items()} == SECRET_KEYS
    for name, env in made.items():
        assert (first / f"{name}.env").stat().st_mode & 0o077 == 0, f"{name}.env is not private"
        for key, value in env.items():
            assert value and re.fullmatch(r"[A-Za-z0-9._~:/@-]+", value), (name, key, value)
    pg_env = made["lstmtune-postgres"]
    for name, key in (
        ("lstmtune-postgres", "POSTGRES_PASSWORD"),
        ("lstmtune-s3", "AWS_SECRET_ACCESS_KEY"),
        ("lstmtune-mlflow-auth", "MLFLOW_AUTH_ADMIN_PASSWORD"),
        ("lstmtune-mlflow-auth", "MLFLOW_FLASK_SERVER_SECRET_KEY"),
        ("lstmtune-mlflow", "MLFLOW_TRACKING_PASSWORD"),
    ):
        value = made[name][key]
        assert re.fullmatch(r"[0-9a-f]{32,}", value), (name, key)  # >= 128 random bits
        assert value != _env_file(second / f"{name}.env")[key], "not random"
    assert made["lstmtune-optuna"]["LSTMTUNE_STORAGE_URL"] == (
        f"postgresql://{pg_env['POSTGRES_USER']}:{pg_env['POSTGRES_PASSWORD']}"
        "@postgres.lstmtune.svc.cluster.local:5432/optuna"
    )
    # the third run above kept the first run's files: PostgreSQL was initialised with them
    (first / "lstmtune-mlflow.env").unlink()
    before = _env_file(first / "lstmtune-postgres.env")
    subprocess.run(["bash", str(script), str(first)], capture_output=True, check=True)
    assert _env_file(first / "lstmtune-postgres.env") == before
    assert set(_env_file(first / "lstmtune-mlflow.env")) == SECRET_KEYS["lstmtune-mlflow"]


def test_kind_up_creates_every_secret_from_the_generated_files() -> None:
    up = (ROOT / "scripts" / "kind-up.sh").read_text()
    names = re.search(r"^SECRET_NAMES=\((.*)\)$", up, re.M)
    assert names and set(names.group(1).split()) == set(SECRET_KEYS)
    assert re.search(r'for name in "\$\{SECRET_NAMES\[@\]\}"; do apply_secret lstmtune', up)
    kubeflow = re.search(r"^for name in (.*); do apply_secret kubeflow", up, re.M)
    assert kubeflow and tuple(kubeflow.group(1).split()) == PIPELINE_SECRETS
    assert '--from-env-file="$SECRETS_DIR/$2.env"' in up and "gen-secrets.sh" in up
    # Secrets exist before the workloads that read them are applied
    assert up.index("apply_secret lstmtune") < up.index('apply -k "$ROOT/k8s/overlays/kind"')
    # the pipeline's credentials are what its config names
    for path in ("k8s/base", "k8s/overlays/gpu"):
        cluster = _config_from_configmap(path).cluster
        assert (cluster.s3_secret, cluster.storage_secret, cluster.mlflow_secret) == (
            PIPELINE_SECRETS
        )
    from lstmtune.config import load_config

    e2e = load_config(str(K8S / "kind" / "e2e-config.yaml")).cluster
    assert (e2e.s3_secret, e2e.storage_secret, e2e.mlflow_secret) == PIPELINE_SECRETS


# --------------------------------------------------------------------------- MLflow authentication


def _env_map(container: dict[str, Any]) -> dict[str, Any]:
    return {
        e["name"]: e.get("value", (e.get("valueFrom") or {}).get("secretKeyRef"))
        for e in container.get("env") or []
    }


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_mlflow_server_requires_a_login(path: str) -> None:
    docs = render(path)
    spec = find(docs, "Deployment", "mlflow")["spec"]["template"]["spec"]
    (server,) = spec["containers"]
    assert "--app-name=basic-auth" in server["args"]
    env = _env_map(server)
    for key in (
        "MLFLOW_AUTH_ADMIN_USERNAME",
        "MLFLOW_AUTH_ADMIN_PASSWORD",
        "MLFLOW_FLASK_SERVER_SECRET_KEY",
    ):
        assert env[key] == {"name": "lstmtune-mlflow-auth", "key": key}
    config_path = env["MLFLOW_AUTH_CONFIG_PATH"]
    # the auth config (it holds the auth database password) lives in a memory-backed volume
    # that only the init container writes
    (init,) = spec["initContainers"]
    mounts = {m["mountPath"]: m for m in server["volumeMounts"]}
    mount = mounts[str(Path(config_path).parent)]
    assert mount.get("readOnly") is True
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert volume["emptyDir"]["medium"] == "Memory"
    assert mount["name"] in {m["name"] for m in init["volumeMounts"]}
    script = init["args"][0]
    assert f"cat >{config_path} <<EOF" in script and "umask 077" in script
    assert "default_permission = NO_PERMISSIONS" in script
    assert "database_uri = postgresql://${PGUSER}:${PGPASSWORD}@postgres:5432/mlflow_auth" in script
    assert "CREATE DATABASE mlflow_auth" in script
    assert _env_map(init)["PGPASSWORD"] == {"name": "lstmtune-postgres", "key": "POSTGRES_PASSWORD"}
    assert "CREATE DATABASE mlflow_auth" in (K8S / "base/config/postgres-initdb.sql").read_text()

    job = find(docs, "Job", "mlflow-users")["spec"]["template"]["spec"]
    (users,) = job["containers"]
    assert users["command"] == ["python", "-m", "lstmtune.mlflow_users"]
    assert users["image"] == server["image"]
    job_env = _env_map(users)
    assert job_env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert job_env["MLFLOW_TRACKING_PASSWORD"] == {
        "name": "lstmtune-mlflow-auth",
        "key": "MLFLOW_AUTH_ADMIN_PASSWORD",
    }
    assert job_env["LSTMTUNE_MLFLOW_PASSWORD"] == {
        "name": "lstmtune-mlflow",
        "key": "MLFLOW_TRACKING_PASSWORD",
    }
    import lstmtune.mlflow_users  # the module the Job runs exists

    assert callable(lstmtune.mlflow_users.main)


# --------------------------------------------------------------------------- backups


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_backup_cronjob_dumps_every_database_to_minio_with_retention(path: str) -> None:
    docs = render(path)
    cron = find(docs, "CronJob", "postgres-backup")
    spec = cron["spec"]
    assert len(spec["schedule"].split()) == 5 and spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == "postgres-backup"
    pod_spec = pod["spec"]
    assert pod_spec["restartPolicy"] == "Never"
    (dump,) = pod_spec["initContainers"]
    (upload,) = pod_spec["containers"]
    # pg_dump of the server's major version
    (pg,) = find(docs, "StatefulSet", "postgres")["spec"]["template"]["spec"]["containers"]
    assert dump["image"] == pg["image"]
    assert upload["image"].startswith("quay.io/minio/mc:RELEASE.")
    dump_env, upload_env = _env_map(dump), _env_map(upload)
    assert set(dump_env["BACKUP_DATABASES"].split()) == {"mlflow", "mlflow_auth", "optuna"}
    assert dump_env["PGHOST"] == "postgres"
    assert dump_env["PGPASSWORD"] == {"name": "lstmtune-postgres", "key": "POSTGRES_PASSWORD"}
    assert int(upload_env["BACKUP_KEEP"]) >= 1
    assert upload_env["BACKUP_TARGET"].startswith("lstmtune/")
    assert upload_env["AWS_SECRET_ACCESS_KEY"] == {
        "name": "lstmtune-s3",
        "key": "AWS_SECRET_ACCESS_KEY",
    }
    # both read the same dump directory; the uploader cannot change it
    dump_mounts = {m["name"]: m for m in dump["volumeMounts"]}
    upload_mounts = {m["name"]: m for m in upload["volumeMounts"]}
    assert dump_mounts["backup"]["mountPath"] == dump_env["BACKUP_DIR"]
    assert upload_mounts["backup"]["mountPath"] == upload_env["BACKUP_DIR"]
    assert upload_mounts["backup"].get("readOnly") is True
    # the committed scripts are what runs (tests/test_backup.py runs the same pg-dump.sh)
    volume = next(v for v in pod_spec["volumes"] if v["name"] == "scripts")
    scripts = find(docs, "ConfigMap", volume["configMap"]["name"])["data"]
    assert scripts == {p.name: p.read_text() for p in BACKUP_SCRIPTS}
    assert dump["command"] == ["/bin/sh", "/scripts/pg-dump.sh"]
    assert upload["command"] == ["/bin/sh", "/scripts/upload.sh"]
    assert "pg_dump --format=custom" in scripts["pg-dump.sh"]
    assert 'mc rm --recursive --force "$target/$name/"' in scripts["upload.sh"]


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_backup_pods_reach_postgres_and_minio_only(path: str) -> None:
    docs = render(path)
    policy = find(docs, "NetworkPolicy", "postgres-backup-egress")["spec"]
    assert policy["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "postgres-backup"}}
    assert policy["policyTypes"] == ["Egress"]
    allowed = set()
    for rule in policy["egress"]:
        (peer,) = rule["to"]  # never an empty `to` (= anywhere) or an ipBlock
        assert "ipBlock" not in peer
        for port in rule["ports"]:
            allowed.add((_json_key(peer), port["protocol"], port["port"]))
    assert allowed == {
        ('{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "postgres"}}}', "TCP", 5432),
        ('{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "minio"}}}', "TCP", 9000),
        (DNS_PEER, "UDP", 53),
        (DNS_PEER, "TCP", 53),
    }
    # and the ingress side lets them in: same namespace
    for name in ("postgres-clients", "minio-clients"):
        ingress = find(docs, "NetworkPolicy", name)["spec"]["ingress"][0]["from"][0]
        assert NAMESPACE in ingress["namespaceSelector"]["matchExpressions"][0]["values"]


DNS_PEER = (
    '{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}, '
    '"podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}'
)


def _json_key(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)
