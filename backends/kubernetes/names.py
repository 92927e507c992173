"""Names shared by the scheduler, the node agent, the worker, the driver and the deploy manifests.

Everything a component reads from another travels as a label or an annotation with these keys, so a pod or a
node can be inspected with ``kubectl get -o yaml`` and understood without the code.
"""
from __future__ import annotations

SCHEDULER_NAME = "synergai"
DOMAIN = "synergai.io"

# Node labels (set by whoever provisions the node; the node agent sets them for emulated nodes)
LABEL_DEVICE_TYPE = f"{DOMAIN}/device-type"
LABEL_SITE = f"{DOMAIN}/site"
LABEL_TIER = f"{DOMAIN}/tier"
LABEL_ARCH = "kubernetes.io/arch"
LABEL_AGENT = f"{DOMAIN}/agent"  # nodes registered by the SynergAI node agent (emulated / local hardware)
RESOURCE_ACCEL = f"{DOMAIN}/accel"  # extended resource: accelerator slots a node offers

# Pod annotations: the job (written by whoever submits it, e.g. the experiment driver)
ANN_JOB_ID = f"{DOMAIN}/job-id"
ANN_MODEL = f"{DOMAIN}/model"
ANN_QOS_MS = f"{DOMAIN}/qos-ms"
ANN_ORIGIN_SITE = f"{DOMAIN}/origin-site"
ANN_ARRIVAL_MS = f"{DOMAIN}/arrival-ms"
ANN_QUERIES = f"{DOMAIN}/queries"
ANN_INPUT_BYTES = f"{DOMAIN}/input-bytes"
ANN_PRIVATE = f"{DOMAIN}/private"
ANN_ATTEMPT = f"{DOMAIN}/attempt"  # 0 for the first pod of a job, +1 per retry
# the clock the pod's times are on, "epoch_s=<unix s>,scale=<slow motion>": required with arrival-ms, and a
# scheduler on another clock refuses the pod (SynergAIInvalidJob) instead of predicting on the wrong time base
ANN_CLOCK = f"{DOMAIN}/clock"

# Pod annotations: the decision (written by the scheduler on the Binding, atomically with the node)
ANN_ENGINE = f"{DOMAIN}/engine"
ANN_PRECISION = f"{DOMAIN}/precision"
ANN_BATCH = f"{DOMAIN}/batch"
ANN_THREADS = f"{DOMAIN}/threads"
ANN_POWER_MODE = f"{DOMAIN}/power-mode"
ANN_POLICY = f"{DOMAIN}/policy"
ANN_PREDICTED_LATENCY_MS = f"{DOMAIN}/predicted-latency-ms"
ANN_PREDICTED_SERVICE_MS = f"{DOMAIN}/predicted-service-ms"
ANN_DECISION_MS = f"{DOMAIN}/decision-ms"
ANN_PRIORITY = f"{DOMAIN}/priority"
ANN_HOLD_MS = f"{DOMAIN}/hold-ms"  # late binding: ms the job waited in the scheduler's central queue (0: never)
# cross-job batching (Placement.riders): a rider's Binding names its leader pod; the leader's, bound after its
# riders, names the riders that were bound (comma-separated pod names, same namespace); see scheduler.py
ANN_BATCH_LEADER = f"{DOMAIN}/batch-leader"
ANN_BATCH_RIDERS = f"{DOMAIN}/batch-riders"
# a join (Placement.joins): the joiner's Binding names the leader pod whose bound, unstarted execution it rides in;
# the node agent decides when the joiner's input arrives and writes the outcome ("joined" or "alone") before the
# pod turns Running, so the scheduler's view records a joiner that ran alone as a placement of its own
ANN_BATCH_JOIN = f"{DOMAIN}/batch-join"
ANN_BATCH_JOIN_RESULT = f"{DOMAIN}/batch-join-result"

# Pod annotations: the outcome (written by the node agent / worker)
ANN_START_MS = f"{DOMAIN}/start-ms"
ANN_FINISH_MS = f"{DOMAIN}/finish-ms"
ANN_SERVICE_MS = f"{DOMAIN}/service-ms"
ANN_TRANSFER_MS = f"{DOMAIN}/transfer-ms"
ANN_FAIL_REASON = f"{DOMAIN}/fail-reason"
ANN_BATCH_JOBS = f"{DOMAIN}/batch-jobs"  # a batch's members: pods in the execution (the energy is split by
ANN_BATCH_QUERIES = f"{DOMAIN}/batch-queries"  # queries / batch-queries, the execution's total)

# pod status reason the node agent sets when a pod fails with its node (the driver retries those jobs)
REASON_NODE_LOST = "SynergAINodeLost"

# PodScheduled=False reasons (all are retried by the unschedulable queue, as kube-scheduler retries its own)
REASON_REJECTED = "SynergAIRejected"  # the policy rejected the job
REASON_UNSCHEDULABLE = "SynergAIUnschedulable"  # the policy's placement failed a filter
REASON_INVALID = "SynergAIInvalidJob"  # missing or unreadable job annotations
# not a rejection: the policy holds the job in the scheduler's central queue (late binding); the pod is Pending
REASON_HELD = "SynergAIHeld"

# Least privilege: exactly the API calls the scheduler makes (deploy/rbac.yaml must match; a test checks it)
SCHEDULER_RBAC_RULES = (
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/binding"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["pods/status"], "verbs": ["patch"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
)
