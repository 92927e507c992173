"""Shared builders: small hand-made testbeds and profiles, so tests state their numbers explicitly."""
from __future__ import annotations

import math

import numpy as np
import pytest

from synergai.domain import Config, Node, Site
from synergai.network import Link, Network
from synergai.profile import DeterministicDist, ExponentialDist, PerformanceProfile, ProfileEntry
from synergai.testbed import Testbed

TRT = Config("tensorrt", "int8", 1, 0, "MAXN")


def entry(device_type, model, dist, config=TRT, resource="accel", units=1, power_w=math.nan):
    return ProfileEntry(device_type, model, config, resource, units, dist, power_w=power_w,
                        source_kind="derived", source="test")


def single_node_testbed(slots=1, device_type="dev", tier="edge"):
    site = Site("s", tier)  # zero LAN latency, infinite bandwidth: transfer time 0
    node = Node("n0", device_type, tier, "arm64", "s", cpu_cores=0, accel_slots=slots)
    return Testbed("single", [node], Network([site], []))


def two_site_testbed():
    """edge site `e` (two boards: fast, slow) and a cloud site `c` 10 ms away at 100 Mbps."""
    sites = [Site("e", "edge", 0.5, 1000.0), Site("c", "cloud", 0.0, 10000.0)]
    nodes = [Node("fast", "fastdev", "edge", "arm64", "e", 4, 1),
             Node("slow", "slowdev", "edge", "arm64", "e", 4, 1),
             Node("vm", "vmdev", "cloud", "amd64", "c", 2, 0)]
    return Testbed("two-site", nodes, Network(sites, [Link("e", "c", 10.0, 100.0)]))


def two_site_profile():
    cpu1 = Config("onnxruntime", "fp32", 1, 1, "default")
    cpu2 = Config("onnxruntime", "fp32", 1, 2, "default")
    return PerformanceProfile([
        entry("fastdev", "m", DeterministicDist(2.0)),
        entry("slowdev", "m", DeterministicDist(8.0)),
        entry("vmdev", "m", DeterministicDist(20.0), config=cpu1, resource="cpu", units=1),
        entry("vmdev", "m", DeterministicDist(12.0), config=cpu2, resource="cpu", units=2),
        entry("fastdev", "big", ExponentialDist(50.0)),
    ])


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# ---------------------------------------------------------------------------- live Kubernetes
@pytest.fixture(scope="session")
def k8s(tmp_path_factory):
    """The loopback control plane (etcd + kube-apiserver v1.20.2) for the whole session, on test-only ports.

    Built by backends/kubernetes/controlplane/build.sh (the README's test command runs it first). Set
    SYNERGAI_SKIP_LIVE=1 to skip the live tests explicitly; they never skip silently.
    """
    import os

    if os.environ.get("SYNERGAI_SKIP_LIVE") == "1":
        pytest.skip("SYNERGAI_SKIP_LIVE=1: live Kubernetes tests skipped on request")
    from backends.kubernetes.controlplane import ControlPlane

    cp = ControlPlane(tmp_path_factory.mktemp("k8s"), api_port=16543, etcd_port=23890)
    cp.start()
    yield cp
    cp.stop()
