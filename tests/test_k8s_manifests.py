"""The deploy manifests and the worker image: least privilege, hardened pods, and an example job the scheduler
and the worker both accept. Static checks only (no cluster, no Docker)."""
from __future__ import annotations

import csv
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

yaml = pytest.importorskip("yaml")

from backends.kubernetes import names as N  # noqa: E402
from backends.kubernetes import worker as W  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "backends" / "kubernetes" / "deploy"
DOCKERFILE = ROOT / "backends" / "kubernetes" / "Dockerfile"
NAMESPACE, SA = "synergai-system", "synergai-scheduler"
JOB_ANNOTATIONS = (N.ANN_JOB_ID, N.ANN_MODEL, N.ANN_QOS_MS, N.ANN_ORIGIN_SITE, N.ANN_QUERIES,
                   N.ANN_INPUT_BYTES, N.ANN_PRIVATE)
DECISION_ANNOTATIONS = (N.ANN_ENGINE, N.ANN_PRECISION, N.ANN_BATCH, N.ANN_THREADS, N.ANN_POWER_MODE, N.ANN_POLICY)


def docs(name: str) -> list[dict]:
    with open(DEPLOY / name, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def one(name: str, kind: str) -> dict:
    found = [d for d in docs(name) if d["kind"] == kind]
    assert len(found) == 1, f"{name}: {len(found)} {kind} objects"
    return found[0]


def pod_spec_volumes(spec: dict) -> dict[str, dict]:
    return {v["name"]: v for v in spec.get("volumes", [])}


@pytest.mark.parametrize("name, kinds", [
    ("namespace.yaml", ["Namespace"]),
    ("rbac.yaml", ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"]),
    ("scheduler.yaml", ["ConfigMap", "Deployment"]),
    ("example-job.yaml", ["Pod"]),
])
def test_manifests_parse(name, kinds):
    got = docs(name)
    assert [d["kind"] for d in got] == kinds
    for d in got:
        assert d["apiVersion"] and d["metadata"]["name"]


def test_manifests_use_only_known_fields():
    """Round trip through the typed Kubernetes models: a misspelt field would be dropped and differ."""
    kubernetes = pytest.importorskip("kubernetes")
    api = kubernetes.client.ApiClient()
    for name in ("namespace.yaml", "rbac.yaml", "scheduler.yaml", "example-job.yaml"):
        for d in docs(name):
            version = d["apiVersion"].split("/")[-1]
            obj = api._ApiClient__deserialize(d, f"{version.capitalize()}{d['kind']}")
            assert api.sanitize_for_serialization(obj) == d, f"{name} {d['kind']}"


def test_cluster_role_is_exactly_what_the_scheduler_uses():
    role = one("rbac.yaml", "ClusterRole")
    assert role["rules"] == [dict(r) for r in N.SCHEDULER_RBAC_RULES]
    for r in role["rules"]:
        assert set(r) == {"apiGroups", "resources", "verbs"}
        assert "*" not in r["apiGroups"] + r["resources"] + r["verbs"]
    assert "aggregationRule" not in role


def test_binding_grants_the_role_to_the_service_account_only():
    sa = one("rbac.yaml", "ServiceAccount")
    assert sa["metadata"] == {**sa["metadata"], "name": SA, "namespace": NAMESPACE}
    binding = one("rbac.yaml", "ClusterRoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": one("rbac.yaml", "ClusterRole")["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SA, "namespace": NAMESPACE}]
    assert one("namespace.yaml", "Namespace")["metadata"]["name"] == NAMESPACE


def test_scheduler_deployment():
    dep = one("scheduler.yaml", "Deployment")
    # two replicas: leader election makes one decide, the other stand by
    assert dep["metadata"]["namespace"] == NAMESPACE and dep["spec"]["replicas"] == 2
    tmpl = dep["spec"]["template"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= tmpl["metadata"]["labels"].items()
    spec = tmpl["spec"]
    assert spec["serviceAccountName"] == SA
    assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
    (c,) = spec["containers"]
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["runAsNonRoot"] is True and sc["capabilities"]["drop"] == ["ALL"] and not sc.get("privileged")
    for part in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][part]), part
    assert c["command"] == ["synergai-scheduler"]
    argv = c["args"]
    opts = dict(zip(argv[::2], argv[1::2]))
    assert opts == {"--policy": "synergai", "--cluster": "/etc/synergai/cluster.yaml", "--traces": "/app/traces",
                    "--leader-elect": "true", "--serve-port": "10251"}
    from backends.kubernetes.cli import scheduler_parser

    scheduler_parser().parse_args(argv)  # the command line the scheduler accepts
    (port,) = c["ports"]
    assert port["containerPort"] == int(opts["--serve-port"])
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in c["env"]
    assert {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}} in c["env"]
    # --cluster is a key of the mounted ConfigMap; no host paths anywhere
    vols = pod_spec_volumes(spec)
    assert not any("hostPath" in v for v in vols.values())
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    cm_vol = vols[mounts["/etc/synergai"]]
    assert cm_vol["configMap"]["name"] == one("scheduler.yaml", "ConfigMap")["metadata"]["name"]
    assert "cluster.yaml" in one("scheduler.yaml", "ConfigMap")["data"]
    # the image the Dockerfile builds carries the traces where --traces points
    assert re.search(r"^COPY traces /app/traces$", DOCKERFILE.read_text(), re.M)


def test_cluster_configmap_is_a_valid_testbed_without_nodes():
    from synergai.testbed import testbed_from_dict

    cm = one("scheduler.yaml", "ConfigMap")
    assert cm["metadata"]["namespace"] == NAMESPACE
    cfg = yaml.safe_load(cm["data"]["cluster.yaml"])
    assert set(cfg) == {"name", "sites", "links", "device_types"}  # nodes come from the Node objects
    # the example describes the default testbed's network and device types
    default = yaml.safe_load((ROOT / "configs" / "cluster" / "default.yaml").read_text())
    for key in ("sites", "links", "device_types"):
        assert cfg[key] == default[key], key
    # valid as a testbed once nodes are added (one per device type at a site of its tier)
    sites = {s["tier"]: s["name"] for s in cfg["sites"]}
    nodes = [{"name": f"n-{dt}", "device_type": dt, "site": sites[spec["tier"]]}
             for dt, spec in cfg["device_types"].items()]
    tb = testbed_from_dict({**cfg, "nodes": nodes})
    assert len(tb.nodes) == len(cfg["device_types"])


def test_scheduler_reads_the_cluster_configmap(tmp_path):
    from backends.kubernetes.cli import load_cluster

    path = tmp_path / "cluster.yaml"
    path.write_text(one("scheduler.yaml", "ConfigMap")["data"]["cluster.yaml"])
    tb, order = load_cluster(str(path), need_nodes=False)
    assert order == [] and set(tb.network.sites) == {"edge-a", "edge-b", "cloud"}


def _trace_models() -> set[str]:
    models = set()
    for path in (ROOT / "traces").glob("*.csv"):
        with open(path, newline="") as f:
            models |= {r["model"] for r in csv.DictReader(f)}
    return models


def test_example_job_pod():
    pod = one("example-job.yaml", "Pod")
    spec, ann = pod["spec"], pod["metadata"]["annotations"]
    assert spec["schedulerName"] == N.SCHEDULER_NAME and spec["restartPolicy"] == "Never"
    assert "nodeName" not in spec  # the scheduler binds it
    # every job annotation, as strings; none of the scheduler's decision annotations yet
    missing = [k for k in JOB_ANNOTATIONS if k not in ann]
    assert not missing, missing
    assert all(isinstance(v, str) for v in ann.values())
    assert not [k for k in DECISION_ANNOTATIONS if k in ann]
    # valid values
    sites = {s["name"] for s in yaml.safe_load(one("scheduler.yaml", "ConfigMap")["data"]["cluster.yaml"])["sites"]}
    assert ann[N.ANN_MODEL] in _trace_models() and ann[N.ANN_MODEL] in W.MODELS
    assert float(ann[N.ANN_QOS_MS]) > 0
    # no arrival-ms: on the scheduler's unix-time clock "0" would be 56 years ago; the job arrives when seen
    assert N.ANN_ARRIVAL_MS not in ann and N.ANN_CLOCK not in ann
    assert ann[N.ANN_ORIGIN_SITE] in sites
    assert int(ann[N.ANN_QUERIES]) >= 1 and int(ann[N.ANN_INPUT_BYTES]) >= 0
    assert ann[N.ANN_PRIVATE] in ("true", "false")
    # the scheduler reads it as a job ...
    from backends.kubernetes.convert import pod_job

    job = pod_job(SimpleNamespace(metadata=SimpleNamespace(annotations=ann)), 1, 0.0, _trace_models(), sites)
    assert (job.model, job.origin_site, job.queries) == (ann[N.ANN_MODEL], ann[N.ANN_ORIGIN_SITE], 1)
    # ... and once bound (decision annotations added), the worker reads the downward-API file it mounts
    bound = {**ann, N.ANN_ENGINE: "onnxruntime", N.ANN_PRECISION: "fp32", N.ANN_BATCH: "1", N.ANN_THREADS: "1",
             N.ANN_POWER_MODE: "default"}
    text = W.format_annotations(bound)
    assert W.job_from_annotations(W.parse_annotations(text))["model"] == ann[N.ANN_MODEL]

    (c,) = spec["containers"]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    vols = pod_spec_volumes(spec)
    assert not any("hostPath" in v for v in vols.values())
    (podinfo,) = [n for n, v in vols.items() if "downwardAPI" in v]
    (item,) = vols[podinfo]["downwardAPI"]["items"]
    assert item["fieldRef"]["fieldPath"] == "metadata.annotations"
    assert f"{mounts[podinfo]}/{item['path']}" == W.DEFAULT_ANNOTATIONS
    assert c.get("args") == ["--annotations", W.DEFAULT_ANNOTATIONS] and "command" not in c  # ENTRYPOINT
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    dep = one("scheduler.yaml", "Deployment")
    assert c["image"] == dep["spec"]["template"]["spec"]["containers"][0]["image"]


def test_dockerfile_and_entrypoint():
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM (.+)$", text, re.M)
    assert len(stages) == 2 and "--platform=$BUILDPLATFORM" in stages[0] and stages[1].endswith("AS runtime")
    assert 'ENTRYPOINT ["synergai-worker"]' in text
    users = re.findall(r"^USER (\d+)(?::(\d+))?$", text, re.M)
    assert users and users[-1][0] != "0"
    dep = one("scheduler.yaml", "Deployment")["spec"]["template"]["spec"]
    pod = one("example-job.yaml", "Pod")["spec"]
    assert str(dep["securityContext"]["runAsUser"]) == users[-1][0] == str(pod["securityContext"]["runAsUser"])
    runtime = text.split("AS runtime", 1)[1]
    assert "torch" not in re.sub(r"#.*", "", runtime)  # torch only in the export stage
    assert "COPY --from=export" in runtime
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["synergai-worker"] == "backends.kubernetes.worker:main"
    ignore = [x.strip() for x in (ROOT / ".dockerignore").read_text().splitlines()
              if x.strip() and not x.startswith("#")]
    for needed in ("pyproject.toml", "README.md", "synergai", "backends", "traces"):
        assert needed not in ignore


# ----------------------------------------------------------------------------- kustomize
KUBECTL = shutil.which("kubectl")


def kustomize(path: Path) -> list[dict]:
    r = subprocess.run([KUBECTL, "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed: `kubectl kustomize` not run (the static "
                                            "checks above still cover every base file)")
def test_kustomize_base_renders_the_manifests_unchanged():
    got = kustomize(DEPLOY)
    want = [d for f in ("namespace.yaml", "rbac.yaml", "scheduler.yaml") for d in docs(f)]
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    assert sorted(got, key=key) == sorted(want, key=key)


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed: `kubectl kustomize` not run")
def test_kustomize_overlay_sets_image_namespace_and_cluster(tmp_path):
    kubernetes = pytest.importorskip("kubernetes")
    overlay = ROOT / "backends" / "kubernetes" / "overlays" / "example"
    conf = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    objs = kustomize(overlay)
    api = kubernetes.client.ApiClient()
    for d in objs:  # valid objects: every field known to the typed models
        version = d["apiVersion"].split("/")[-1]
        obj = api._ApiClient__deserialize(d, f"{version.capitalize()}{d['kind']}")
        assert api.sanitize_for_serialization(obj) == d, d["kind"]
    by = {d["kind"]: d for d in objs}
    ns = conf["namespace"]
    assert by["Namespace"]["metadata"]["name"] == ns
    for k in ("ServiceAccount", "ConfigMap", "Deployment"):
        assert by[k]["metadata"]["namespace"] == ns, k
    assert by["ClusterRoleBinding"]["subjects"] == [{"kind": "ServiceAccount", "name": SA, "namespace": ns}]
    assert by["ClusterRole"]["rules"] == [dict(r) for r in N.SCHEDULER_RBAC_RULES]
    (img,) = conf["images"]
    (c,) = by["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert c["image"] == f"{img['newName']}:{img['newTag']}"
    cm = by["ConfigMap"]
    assert cm["data"]["cluster.yaml"] == (overlay / "cluster.yaml").read_text()
    vols = pod_spec_volumes(by["Deployment"]["spec"]["template"]["spec"])
    assert any(v.get("configMap", {}).get("name") == cm["metadata"]["name"] for v in vols.values())
    from backends.kubernetes.cli import load_cluster

    p = tmp_path / "cluster.yaml"
    p.write_text(cm["data"]["cluster.yaml"])
    tb, _ = load_cluster(str(p), need_nodes=False)
    assert set(tb.network.sites) == {"factory", "region"}


# ----------------------------------------------------------------------------- the image
BUILD = ROOT / "backends" / "kubernetes" / "build-image.sh"


def test_runtime_requirements_are_the_projects_and_carry_no_plotting_stack():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = set(proj["dependencies"]) | {d for ds in proj["optional-dependencies"].values() for d in ds}
    reqs = [ln.strip() for ln in (DOCKERFILE.parent / "requirements-runtime.txt").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]
    assert set(reqs) <= declared, set(reqs) - declared
    names = {re.split(r"[<>=]", r)[0] for r in reqs}
    assert not names & {"matplotlib", "seaborn", "hydra-core", "torch"}
    text = DOCKERFILE.read_text()
    assert "pip install --no-deps /src" in text and "requirements-runtime.txt" in text
    assert "download.pytorch.org" not in re.sub(r"^#.*$", "", text, flags=re.M)  # no hard-coded index


def test_build_script_builds_with_buildah_or_says_it_cannot():
    if shutil.which("buildah") is None:
        r = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, timeout=30,
                           env={"PATH": "/usr/bin:/bin"})
        assert r.returncode == 3 and r.stderr.strip().startswith("build-image.sh: buildah not found")
        pytest.skip("buildah not installed: the image build was not run (the script says so, exit 3)")
    import os

    base = os.environ.get("SYNERGAI_BASE_IMAGE")
    if not base:
        pytest.skip("buildah present but SYNERGAI_BASE_IMAGE unset: a base image (e.g. made with mmdebstrap) is "
                    "needed to build without a registry")
    r = subprocess.run(["bash", str(BUILD), "-t", "synergai:test", "-b", base, "-m", "mobilenet-v2"],
                       capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run(["buildah", "--storage-driver", "vfs", "inspect", "--format", "{{.OCIv1.Config.User}}",
                        "synergai:test"], capture_output=True, text=True)
    assert r.stdout.strip() == "10001:10001"
