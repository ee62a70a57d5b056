#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for ferry's tests and benches.
#
#   .ci/postgres.sh start [DIR]   initdb + pg_ctl start on a free loopback port;
#                                 prints `export FERRY_TEST_POSTGRES=...` on stdout
#   .ci/postgres.sh stop  [DIR]   stop it and delete DIR
#   .ci/postgres.sh url   [DIR]   print the URL of a running cluster
#
# DIR defaults to $FERRY_PG_DIR or a fresh temp directory (start prints it to
# stderr). As root the server runs as the `postgres` user (PostgreSQL refuses
# to run as root). Host connections use scram passwords so the tests can check
# a wrong one; the socket lives in DIR, never in /var/run.
# Usage in a shell: eval "$(.ci/postgres.sh start)"
set -euo pipefail

cmd=${1:-}
dir=${2:-${FERRY_PG_DIR:-}}

bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir
    return
  fi
  # Debian puts the server binaries beside each other per major version.
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$newest" ]; then
    echo "postgres.sh: no PostgreSQL found; hint: apt-get install -y postgresql" >&2
    exit 1
  fi
  echo "$newest"
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Ports are drawn below the kernel's ephemeral range: a test binding port 0,
# or any outgoing connection, gets an ephemeral port and could otherwise take
# the one just probed before PostgreSQL binds it (this happened in CI).
free_port() {
  local p low
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [ "$low" -gt 12000 ] 2>/dev/null || low=32768
  for _ in $(seq 1 200); do
    p=$((10000 + RANDOM % (low - 10000)))
    # A refused connection means nobody listens there.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  echo "postgres.sh: no free port found" >&2
  exit 1
}

case "$cmd" in
start)
  bin=$(bindir)
  if [ -z "$dir" ]; then
    dir=$(mktemp -d /tmp/ferry-pg.XXXXXX)
  fi
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$dir"
  fi
  password=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  printf '%s\n' "$password" >"$dir/pwfile"
  chmod 600 "$dir/pwfile"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir/pwfile"
  as_owner "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  # fsync stays on: the bench measures durable appends. The probe and the
  # bind are not atomic, so a port taken in between is retried on another.
  started=
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    rm -f "$dir/server.log"
    if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null; then
      started=1
      break
    fi
    grep -q "Address already in use" "$dir/server.log" 2>/dev/null || break
    echo "postgres.sh: port $port was taken meanwhile; trying another" >&2
  done
  [ -n "$started" ] || { cat "$dir/server.log" >&2; exit 1; }
  # Over the socket in DIR, where local connections are trusted: no password prompt.
  as_owner "$bin/createdb" -h "$dir" -p "$port" -U postgres ferry </dev/null
  url="postgres://postgres:$password@127.0.0.1:$port/ferry"
  printf '%s\n' "$url" >"$dir/url"
  echo "postgres.sh: cluster in $dir on port $port" >&2
  echo "export FERRY_PG_DIR='$dir'"
  echo "export FERRY_TEST_POSTGRES='$url'"
  ;;
stop)
  if [ -z "$dir" ] || [ ! -d "$dir/data" ]; then
    echo "postgres.sh: no cluster to stop (give its directory or set FERRY_PG_DIR)" >&2
    exit 0
  fi
  bin=$(bindir)
  as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
url)
  cat "$dir/url"
  ;;
*)
  echo "usage: $0 start|stop|url [DIR]" >&2
  exit 2
  ;;
esac
