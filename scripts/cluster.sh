#!/usr/bin/env bash
# A gateway fleet on loopback: a throw-away PostgreSQL cluster, N `catimage serve` replicas and nginx in front.
#
#   scripts/cluster.sh postgres-start [--dir DIR] [--postgres-port P] # PostgreSQL only; prints the env line tests need
#   scripts/cluster.sh postgres-halt  [--dir DIR]                 # stop the server, keep data and port
#   scripts/cluster.sh postgres-stop  [--dir DIR]                 # stop it and delete the cluster
#   scripts/cluster.sh start --config gateway.yaml [--replicas N] [--dir DIR] [--port PORT] [--binary PATH]
#   scripts/cluster.sh status [--dir DIR]
#   scripts/cluster.sh stop [--dir DIR]                            # replicas, nginx, and PostgreSQL if it started it
#
# PostgreSQL: Debian's server binaries (/usr/lib/postgresql/*/bin), a cluster made by initdb in DIR/postgres (trust
# authentication on 127.0.0.1 only, superuser `catimage`, database `catimage`), run as the invoking user, or as the
# `postgres` user when invoked as root (PostgreSQL refuses to run as root). `start` uses the PostgreSQL of
# $CATIMAGE_TEST_POSTGRES (HOST:PORT) when set, else starts its own on --postgres-port (default 15432;
# postgres-start alone picks a free port).
# Replicas: `catimage serve --config FILE --port P` for P = PORT+1 ... PORT+N; the config's log.postgres must point at
# the cluster's PostgreSQL (`start` prints it). nginx: deploy/nginx/catimage.conf rendered into DIR/nginx, listening
# on 127.0.0.1:PORT (default 18400).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
command="${1:-}"
shift || true
dir="${CATIMAGE_CLUSTER_DIR:-/tmp/catimage-cluster}"
replicas=2
port=18400
pg_port=""
config=""
binary="$root/.build/debug/catimage"
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) dir="$2"; shift 2 ;;
        --replicas) replicas="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        --postgres-port) pg_port="$2"; shift 2 ;;
        --config) config="$2"; shift 2 ;;
        --binary) binary="$2"; shift 2 ;;
        *) echo "cluster.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

pg_bin() {
    local found
    found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    if [ -z "$found" ] || [ ! -x "$found/initdb" ]; then
        echo "cluster.sh: PostgreSQL's server is not installed: apt-get install -y postgresql" >&2
        exit 1
    fi
    echo "$found"
}

# Runs a command as the owner of the PostgreSQL folder (postgres when we are root).
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

postgres_start() {
    local bin data
    bin="$(pg_bin)"
    data="$dir/postgres"
    mkdir -p "$dir"
    if [ -f "$data/port" ] && as_pg "$bin/pg_ctl" -D "$data/data" status >/dev/null 2>&1; then
        echo "CATIMAGE_TEST_POSTGRES=127.0.0.1:$(cat "$data/port")"
        return
    fi
    # A halted cluster comes back on its port.
    [ -n "$pg_port" ] || pg_port="$(cat "$data/port" 2>/dev/null || free_port)"
    mkdir -p "$data"
    # The postgres user must reach its folder through ours (mktemp -d makes it 700).
    if [ "$(id -u)" = 0 ]; then chmod o+x "$dir"; chown postgres: "$data"; chmod 700 "$data"; fi
    if [ ! -f "$data/data/PG_VERSION" ]; then
        as_pg "$bin/initdb" -D "$data/data" -U catimage --auth=trust -E UTF8 --locale=C >"$data/initdb.log" 2>&1 || {
            cat "$data/initdb.log" >&2; exit 1; }
    fi
    # Durable commits (fsync on), loopback only, socket in the cluster's own folder.
    as_pg "$bin/pg_ctl" -D "$data/data" -l "$data/server.log" -w -t 60 start \
        -o "-p $pg_port -k $data -c listen_addresses=127.0.0.1 -c max_connections=200" >/dev/null
    echo "$pg_port" >"$data/port"
    as_pg "$bin/psql" -h 127.0.0.1 -p "$pg_port" -U catimage -d postgres -qtA \
        -c "SELECT 1 FROM pg_database WHERE datname = 'catimage'" | grep -q 1 ||
        as_pg "$bin/createdb" -h 127.0.0.1 -p "$pg_port" -U catimage catimage
    echo "CATIMAGE_TEST_POSTGRES=127.0.0.1:$pg_port"
}

# Stops the server, keeping its data and port (postgres-start brings it back).
postgres_halt() {
    local data="$dir/postgres"
    [ -d "$data/data" ] || return 0
    as_pg "$(pg_bin)/pg_ctl" -D "$data/data" -m fast -w stop >/dev/null
}

postgres_stop() {
    local data="$dir/postgres"
    [ -d "$data/data" ] || return 0
    as_pg "$(pg_bin)/pg_ctl" -D "$data/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$data"
}

nginx_start() {
    local servers="" nginx_dir="$dir/nginx" nginx_bin
    nginx_bin="${CATIMAGE_NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"
    [ -x "$nginx_bin" ] || { echo "cluster.sh: nginx is not installed: apt-get install -y nginx" >&2; exit 1; }
    mkdir -p "$nginx_dir/tmp"
    chmod 777 "$nginx_dir/tmp"
    for p in "$@"; do
        servers+="        server 127.0.0.1:$p max_fails=2 fail_timeout=5s;"$'\n'
    done
    python3 - "$root/deploy/nginx/catimage.conf" "$nginx_dir/nginx.conf" "127.0.0.1:$port" "$nginx_dir" \
        "$servers" <<'PY'
import sys
template, out, listen, prefix, servers = sys.argv[1:]
text = open(template).read().replace("@LISTEN@", listen).replace("@PREFIX@", prefix)
open(out, "w").write(text.replace("@SERVERS@\n", servers))
PY
    "$nginx_bin" -t -q -p "$nginx_dir" -c "$nginx_dir/nginx.conf"
    "$nginx_bin" -p "$nginx_dir" -c "$nginx_dir/nginx.conf"
    echo "$port" >"$nginx_dir/port"
}

nginx_stop() {
    local nginx_dir="$dir/nginx"
    if [ -f "$nginx_dir/nginx.pid" ]; then
        kill "$(cat "$nginx_dir/nginx.pid")" 2>/dev/null || true
        for _ in $(seq 50); do [ -f "$nginx_dir/nginx.pid" ] || break; sleep 0.1; done
    fi
    rm -rf "$nginx_dir"
}

start() {
    [ -n "$config" ] || { echo "cluster.sh start: give --config gateway.yaml (with log.postgres)" >&2; exit 2; }
    [ -x "$binary" ] || { echo "cluster.sh: no catimage binary at $binary (swift build, or --binary)" >&2; exit 1; }
    mkdir -p "$dir"
    if [ -n "${CATIMAGE_TEST_POSTGRES:-}" ]; then
        echo "using PostgreSQL at $CATIMAGE_TEST_POSTGRES"
    else
        # A fixed port by default, so the config's log.postgres can name it.
        [ -n "$pg_port" ] || pg_port=15432
        postgres_start
        touch "$dir/postgres/started-by-cluster"
    fi
    local ports=()
    for i in $(seq 1 "$replicas"); do
        local p=$((port + i))
        "$binary" serve --config "$config" --port "$p" --log-level notice >"$dir/replica-$i.log" 2>&1 &
        echo $! >"$dir/replica-$i.pid"
        echo "$p" >"$dir/replica-$i.port"
        ports+=("$p")
    done
    for i in $(seq 1 "$replicas"); do
        for _ in $(seq 600); do
            grep -q "listening on" "$dir/replica-$i.log" && break
            if ! kill -0 "$(cat "$dir/replica-$i.pid")" 2>/dev/null; then
                echo "cluster.sh: replica $i exited:" >&2; cat "$dir/replica-$i.log" >&2; exit 1
            fi
            sleep 0.2
        done
        grep -q "listening on" "$dir/replica-$i.log" || { echo "cluster.sh: replica $i did not start" >&2; exit 1; }
    done
    nginx_start "${ports[@]}"
    echo "$replicas" >"$dir/replicas"
    status
}

status() {
    local n
    n="$(cat "$dir/replicas" 2>/dev/null || echo 0)"
    if [ -f "$dir/postgres/port" ]; then echo "postgres: 127.0.0.1:$(cat "$dir/postgres/port") ($dir/postgres)"; fi
    for i in $(seq 1 "$n"); do
        local pid state="stopped"
        pid="$(cat "$dir/replica-$i.pid" 2>/dev/null || echo)"
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && state="running"
        echo "replica $i: http://127.0.0.1:$(cat "$dir/replica-$i.port") pid $pid $state"
    done
    if [ -f "$dir/nginx/port" ]; then echo "nginx: http://127.0.0.1:$(cat "$dir/nginx/port") ($dir/nginx/nginx.conf)"; fi
}

stop() {
    nginx_stop
    for pidfile in "$dir"/replica-*.pid; do
        [ -f "$pidfile" ] || continue
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    done
    if [ -f "$dir/postgres/started-by-cluster" ]; then postgres_stop; fi
    rm -f "$dir"/replica-* "$dir/replicas"
}

case "$command" in
    postgres-start) postgres_start ;;
    postgres-halt) postgres_halt ;;
    postgres-stop) postgres_stop ;;
    start) start ;;
    status) status ;;
    stop) stop ;;
    *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
