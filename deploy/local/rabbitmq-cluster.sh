#!/usr/bin/env bash
# A RabbitMQ cluster of three nodes on this machine, beside (never instead of) its own broker.
#
#   deploy/local/rabbitmq-cluster.sh up       start the nodes and join them into one cluster
#   deploy/local/rabbitmq-cluster.sh down     stop the nodes and remove their data
#   deploy/local/rabbitmq-cluster.sh status   the cluster as its first node sees it
#   deploy/local/rabbitmq-cluster.sh uri VHOST   AMQP_URI listing every node, for failover
#   deploy/local/rabbitmq-cluster.sh stop N   stop node N's broker (stop_app: its Erlang node stays)
#   deploy/local/rabbitmq-cluster.sh start N  start it again and wait until it serves
#
# Node N (1..NODES) is rabbitN@localhost: AMQP on 127.0.0.1:$((BASE_PORT + N)) (5681, 5682,
# 5683), its management API on 1568N, Erlang distribution on 2568N, data and logs under
# $CLUSTER_DIR/rabbitN. Each node has a config file of its own, because the machine's
# /etc/rabbitmq/rabbitmq.conf may pin the listener's port. The nodes run as the rabbitmq user,
# so that they and rabbitmqctl share that user's Erlang cookie. Needs root (installs
# rabbitmq-server when missing).
set -euo pipefail

NODES=${NODES:-3}
BASE_PORT=${BASE_PORT:-5680}
CLUSTER_DIR=${CLUSTER_DIR:-/tmp/shop-rabbitmq-cluster}

say() { printf '  %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

node() { echo "rabbit$1@localhost"; }
port() { echo $((BASE_PORT + $1)); }
as_rabbitmq() { (cd / && runuser -u rabbitmq -- env HOME=/var/lib/rabbitmq "$@"); }
ctl() { as_rabbitmq rabbitmqctl -q -n "$(node "$1")" "${@:2}"; }

require_root() {
  [[ $(id -u) -eq 0 ]] || die "the cluster's nodes run as the rabbitmq user: run this as root"
  if ! command -v rabbitmq-server >/dev/null; then
    command -v apt-get >/dev/null || die "rabbitmq-server is missing and this is not Debian/Ubuntu"
    say "apt-get install rabbitmq-server"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      rabbitmq-server >/dev/null
  fi
}

start_node() {
  local n=$1 dir="$CLUSTER_DIR/rabbit$1"
  install -d -o rabbitmq -g rabbitmq "$dir" "$dir/mnesia" "$dir/log"
  cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.local = 127.0.0.1:$(port "$n")
management.tcp.port = $((10000 + $(port "$n")))
management.tcp.ip = 127.0.0.1
# A node cut off from the others stops serving rather than diverging from them.
cluster_partition_handling = pause_minority
# Quorum queues' leaders spread over the nodes, not all on the node that declared them.
queue_leader_locator = balanced
EOF
  echo '[rabbitmq_management].' >"$dir/plugins"
  chown rabbitmq:rabbitmq "$dir/rabbitmq.conf" "$dir/plugins"
  if ctl "$n" ping >/dev/null 2>&1; then
    say "$(node "$n") already running"
    return 0
  fi
  say "starting $(node "$n") on 127.0.0.1:$(port "$n")"
  as_rabbitmq env RABBITMQ_NODENAME="$(node "$n")" RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
    RABBITMQ_DIST_PORT=$((20000 + $(port "$n"))) RABBITMQ_MNESIA_BASE="$dir/mnesia" \
    RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_ENABLED_PLUGINS_FILE="$dir/plugins" \
    rabbitmq-server -detached >/dev/null 2>&1
}

cmd_up() {
  require_root
  local n
  for ((n = 1; n <= NODES; n++)); do start_node "$n"; done
  for ((n = 1; n <= NODES; n++)); do
    timeout 120 bash -c "until $(declare -f as_rabbitmq node); \
      as_rabbitmq rabbitmqctl -q -n $(node "$n") await_startup >/dev/null 2>&1; do sleep 1; done" \
      || die "$(node "$n") did not start: see $CLUSTER_DIR/rabbit$n/log/"
  done
  for ((n = 2; n <= NODES; n++)); do
    if ctl 1 cluster_status --formatter json | grep -q "\"$(node "$n")\""; then continue; fi
    say "joining $(node "$n") to $(node 1)"
    ctl "$n" stop_app
    ctl "$n" join_cluster "$(node 1)"
    ctl "$n" start_app
  done
  cmd_status
}

cmd_down() {
  require_root
  local n
  for ((n = NODES; n >= 1; n--)); do
    # ping, not status: a node left alone pauses its broker (pause_minority), but still runs.
    if ctl "$n" ping >/dev/null 2>&1; then
      say "stopping $(node "$n")"
      ctl "$n" stop >/dev/null
    fi
  done
  rm -rf "$CLUSTER_DIR"
}

cmd_status() {
  local running
  running=$(ctl 1 cluster_status --formatter json \
    | python3 -c 'import json, sys; print(" ".join(json.load(sys.stdin)["running_nodes"]))')
  say "running nodes: $running"
  [[ $(wc -w <<<"$running") -eq $NODES ]] || die "$NODES nodes expected"
}

cmd_uri() {  # amqp://guest:guest@127.0.0.1:5681/VHOST;amqp://...:5682/VHOST;...
  local vhost=${1:-} n uris=()
  for ((n = 1; n <= NODES; n++)); do uris+=("amqp://guest:guest@127.0.0.1:$(port "$n")/$vhost"); done
  (IFS=';'; echo "${uris[*]}")
}

cmd_stop() { require_root; say "stopping $(node "$1")'s broker"; ctl "$1" stop_app; }

cmd_start() {
  require_root
  say "starting $(node "$1")'s broker"
  ctl "$1" start_app
  ctl "$1" await_startup
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  uri) cmd_uri "${2:-}" ;;
  stop) cmd_stop "${2:?which node: 1..$NODES}" ;;
  start) cmd_start "${2:?which node: 1..$NODES}" ;;
  *) die "usage: $0 up|down|status|uri [VHOST]|stop N|start N" ;;
esac
