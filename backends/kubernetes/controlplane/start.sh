#!/usr/bin/env bash
# Start (or keep running) the loopback test control plane: etcd + kube-apiserver, both bound to 127.0.0.1.
#   start.sh [STATE_DIR]     state (certs, tokens, kubeconfigs, data, logs, PIDs) goes to STATE_DIR
# Idempotent: a component whose PID file names a live process is left alone, so a test can stop the
# apiserver alone (stop.sh STATE_DIR apiserver) and bring it back with this script.
# Kubeconfigs written (mode 600, never printed): admin.kubeconfig (system:masters) and
# scheduler.kubeconfig (the synergai-scheduler service account's identity: only what deploy/rbac.yaml grants).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
STATE="${1:-${SYNERGAI_K8S_STATE:-/tmp/synergai-k8s}}"
if [ -f "$STATE/ports" ]; then
  . "$STATE/ports"  # a state dir keeps the ports it was created with (its kubeconfigs name them)
else
  API_PORT="${SYNERGAI_K8S_API_PORT:-16443}"
  ETCD_PORT="${SYNERGAI_K8S_ETCD_PORT:-23790}"
fi
ETCD_PEER_PORT=$((ETCD_PORT + 10))
BIN="${SYNERGAI_K8S_CACHE:-$HOME/.cache/synergai/k8s-v1.20.2}/bin"
[ -x "$BIN/kube-apiserver" ] || "$HERE/build.sh"
mkdir -p "$STATE/pki" "$STATE/logs"
chmod 700 "$STATE"
[ -f "$STATE/ports" ] || printf 'API_PORT=%s\nETCD_PORT=%s\n' "$API_PORT" "$ETCD_PORT" > "$STATE/ports"
umask 077

alive() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

PKI="$STATE/pki"
if [ ! -f "$PKI/apiserver.crt" ]; then
  # A throwaway CA and serving certificate for 127.0.0.1 only.
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=synergai-test-ca" \
    -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$PKI/apiserver.key" -out "$PKI/apiserver.csr" 2>/dev/null
  printf "subjectAltName=IP:127.0.0.1,DNS:localhost\n" > "$PKI/san.ext"
  openssl x509 -req -in "$PKI/apiserver.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 30 -extfile "$PKI/san.ext" -out "$PKI/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  tok() { openssl rand -hex 24; }
  ADMIN_TOKEN=$(tok); SCHED_TOKEN=$(tok)
  {
    echo "$ADMIN_TOKEN,admin,admin,\"system:masters\""
    echo "$SCHED_TOKEN,system:serviceaccount:synergai-system:synergai-scheduler,synergai-scheduler,\"system:serviceaccounts,system:serviceaccounts:synergai-system\""
  } > "$PKI/tokens.csv"
  for who in admin scheduler; do
    t=$ADMIN_TOKEN; [ "$who" = scheduler ] && t=$SCHED_TOKEN
    cat > "$STATE/$who.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: synergai-loopback
  cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: "$PKI/ca.crt"}
users:
- name: $who
  user: {token: "$t"}
contexts:
- name: $who
  context: {cluster: synergai-loopback, user: $who}
current-context: $who
KC
  done
fi

if ! alive etcd; then
  nohup etcd --name default --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "default=http://127.0.0.1:$ETCD_PEER_PORT" \
    --quota-backend-bytes 2147483648 >"$STATE/logs/etcd.log" 2>&1 &
  echo $! > "$STATE/etcd.pid"
fi

if ! alive apiserver; then
  nohup "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" --insecure-port 0 \
    --endpoint-reconciler-type none --service-cluster-ip-range 10.96.0.0/24 \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --token-auth-file "$PKI/tokens.csv" --authorization-mode RBAC --anonymous-auth=false \
    --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$PKI/sa.pub" \
    --service-account-signing-key-file "$PKI/sa.key" \
    --disable-admission-plugins ServiceAccount --profiling=false \
    >"$STATE/logs/apiserver.log" 2>&1 &
  echo $! > "$STATE/apiserver.pid"
fi

ADMIN_TOKEN=$(head -1 "$PKI/tokens.csv" | cut -d, -f1)
for _ in $(seq 1 240); do
  if curl -sf --cacert "$PKI/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" \
       "https://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1; then
    echo "start.sh: control plane ready at https://127.0.0.1:$API_PORT (state $STATE)" >&2
    exit 0
  fi
  alive apiserver || { echo "start.sh: kube-apiserver exited; see $STATE/logs/apiserver.log" >&2; exit 1; }
  sleep 0.25
done
echo "start.sh: kube-apiserver not ready after 60 s; see $STATE/logs/apiserver.log" >&2
exit 1
