#!/usr/bin/env bash
# Stop the loopback control plane started by start.sh, by PID.   stop.sh [STATE_DIR] [apiserver|etcd|all]
set -uo pipefail
STATE="${1:-${SYNERGAI_K8S_STATE:-/tmp/synergai-k8s}}"
WHAT="${2:-all}"
stop_one() {
  local f="$STATE/$1.pid"
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    # kube-apiserver keeps no state of its own (etcd does): 3 s of grace, then it is killed
    local grace=30; [ "$1" = etcd ] && grace=100
    for _ in $(seq 1 "$grace"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}
case "$WHAT" in
  apiserver) stop_one apiserver ;;
  etcd) stop_one etcd ;;
  all) stop_one kube-scheduler; stop_one apiserver; stop_one etcd ;;
  *) echo "stop.sh: unknown component $WHAT (apiserver|etcd|all)" >&2; exit 2 ;;
esac
