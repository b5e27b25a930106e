#!/usr/bin/env bash
# Make sure the services the test suite needs are listening on 127.0.0.1:
#   PostgreSQL 5432, Redis 6379, RabbitMQ 5672.
# A service that is down is started, then we wait (up to OMH_SERVICE_WAIT
# seconds, default 60) for its port. Exits 1 if any service cannot be brought up.
set -euo pipefail

WAIT_SECS="${OMH_SERVICE_WAIT:-60}"
HOST=127.0.0.1

tcp_open() { # tcp_open PORT
  timeout 2 bash -c "exec 3<>/dev/tcp/${HOST}/$1" >/dev/null 2>&1
}

pg_up() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$HOST" -p 5432 -t 2
  else
    tcp_open 5432
  fi
}

redis_up() {
  if command -v redis-cli >/dev/null 2>&1; then
    local reply
    reply="$(timeout 5 redis-cli -h "$HOST" -p 6379 ping 2>&1 || true)"
    # NOAUTH still means a server is answering on the port.
    [[ "$reply" == PONG* || "$reply" == NOAUTH* ]]
  else
    tcp_open 6379
  fi
}

rabbitmq_up() {
  tcp_open 5672
}

pg_start() {
  # shellcheck disable=SC2046  # one cluster version directory is expected
  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
}

redis_start() {
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

rabbitmq_start() {
  rabbitmq-server -detached
}

failed=()

ensure() { # ensure NAME CHECK_FN START_FN
  local name="$1" check="$2" start="$3"
  if "$check"; then
    echo "$name: up"
    return 0
  fi
  echo "$name: down, starting it" >&2
  local rc=0
  "$start" >&2 || rc=$?
  if ((rc != 0)); then
    echo "$name: start command exited with status $rc (waiting for the port anyway)" >&2
  fi
  local deadline=$((SECONDS + WAIT_SECS))
  while ((SECONDS < deadline)); do
    if "$check"; then
      echo "$name: up (started)"
      return 0
    fi
    sleep 1
  done
  echo "ERROR: $name is not reachable on $HOST after ${WAIT_SECS}s (start exit status $rc)" >&2
  failed+=("$name")
  return 0
}

ensure postgresql pg_up pg_start
ensure redis redis_up redis_start
ensure rabbitmq rabbitmq_up rabbitmq_start

if ((${#failed[@]})); then
  echo "ERROR: could not bring up: ${failed[*]}" >&2
  exit 1
fi
