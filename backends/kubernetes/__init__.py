"""The live Kubernetes backend: a custom scheduler that runs any registered policy, a node agent for emulated
or local-hardware nodes, a worker entrypoint, and an experiment driver with the simulator's results table.

Only stable core/v1 APIs are used (Pods, Nodes, Binding, Events), so it runs on current clusters; the CI
fixture is a loopback kube-apiserver v1.20.2 (see controlplane/).
"""
