"""The loopback test control plane (etcd + kube-apiserver) from Python: start, stop, restart by PID.

A thin wrapper over controlplane/{build,start,stop}.sh, which own the details. Used by the tests, the
benchmark and ``backend.control_plane=local``; never needed on a real cluster.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from synergai.errors import SynergAIError

SCRIPTS = Path(__file__).resolve().parent / "controlplane"
DEFAULT_STATE = Path(os.environ.get("SYNERGAI_K8S_STATE", "/tmp/synergai-k8s"))


class ControlPlane:
    def __init__(self, state_dir: str | Path = DEFAULT_STATE, api_port: int | None = None,
                 etcd_port: int | None = None):
        self.state_dir = Path(state_dir)
        self.env = dict(os.environ)
        if api_port:
            self.env["SYNERGAI_K8S_API_PORT"] = str(api_port)
        if etcd_port:
            self.env["SYNERGAI_K8S_ETCD_PORT"] = str(etcd_port)

    @property
    def admin_kubeconfig(self) -> Path:
        return self.state_dir / "admin.kubeconfig"

    @property
    def scheduler_kubeconfig(self) -> Path:
        """The synergai-scheduler service account's identity: only what deploy/rbac.yaml grants it."""
        return self.state_dir / "scheduler.kubeconfig"

    def _script(self, name: str, *args: str, timeout_s: float = 900) -> None:
        r = subprocess.run(["bash", str(SCRIPTS / name), str(self.state_dir), *args], capture_output=True,
                           text=True, timeout=timeout_s, env=self.env)
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise SynergAIError(f"control plane: {name} failed: {last}")

    def start(self) -> ControlPlane:
        """Start whatever is not running (builds the binaries on first use, ~4-6 min) and wait for /readyz.

        On failure, whatever this call started is stopped again (a half-started control plane would hold its
        ports and make the next start fail for another reason)."""
        before = {c: self.pid(c) for c in ("etcd", "apiserver")}
        try:
            self._script("start.sh")
        except Exception:
            for c, pid in before.items():
                if pid is None and self.pid(c) is not None:
                    try:
                        self.stop(c)
                    except Exception:  # noqa: BLE001  -- report the start failure, not the cleanup's
                        pass
            raise
        return self

    def stop(self, component: str = "all") -> None:
        self._script("stop.sh", component, timeout_s=60)

    def restart_apiserver(self) -> None:
        self.stop("apiserver")
        self.start()

    def pid(self, component: str) -> int | None:
        f = self.state_dir / f"{component}.pid"
        return int(f.read_text()) if f.exists() else None


def api_client(kubeconfig: str | Path | None = None, key: str = "backend.kubeconfig"):
    """A CoreV1Api from a kubeconfig file, else in-cluster credentials, else ~/.kube/config.
    ``key`` names the setting in errors (a config key or a command-line flag)."""
    from kubernetes import client, config

    try:
        if kubeconfig:
            path = Path(kubeconfig)
            if not path.is_file():
                raise SynergAIError(f"{key}: {path}: file not found")
            c = client.Configuration()
            config.load_kube_config(config_file=str(path), client_configuration=c)
        else:
            c = client.Configuration()
            try:
                config.load_incluster_config(client_configuration=c)
            except config.ConfigException:
                config.load_kube_config(client_configuration=c)
    except config.ConfigException as exc:  # message names the file, never its contents
        raise SynergAIError(f"{key}: cannot load credentials: {str(exc).splitlines()[0]}") from None
    c.retries = 0  # the components retry themselves, with backoff, and must notice an outage
    c.connection_pool_maxsize = 32  # watches + writer threads share one client
    return client.CoreV1Api(client.ApiClient(c))
