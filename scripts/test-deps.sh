#!/usr/bin/env bash
# Installs and starts what Roomhub's tests need, idempotently, and fails
# loudly when something cannot be had. Safe to run again and again; when
# everything is already there it only checks, in well under two seconds.
#   - PostgreSQL on 127.0.0.1:5432, with the role roomhub (password roomhub)
#     owning the database roomhub_test, for the store tests
#     (ROOMHUB_TEST_DATABASE_URL defaults to that database);
#   - Redis on 127.0.0.1:6379, for the Redis bus tests;
#   - Chromium, for the browser tests (chromedp drives it);
#   - promtool and prometheus (Debian package prometheus), for the metrics
#     checks and the topology drills (deploy/), which run a private server;
#   - nginx (Debian package nginx-light), for the topology drills, which run
#     a private instance with deploy/nginx.conf.
# A server already answering on either port is reused as it is.
set -euo pipefail

PG_HOST=127.0.0.1
PG_PORT=5432
PG_SOCKET_DIR=/var/run/postgresql
PG_ROLE=roomhub
PG_PASSWORD=roomhub
PG_DB=roomhub_test
REDIS_HOST=127.0.0.1
REDIS_PORT=6379

say() { printf 'test-deps: %s\n' "$*" >&2; }
die() {
  say "ERROR: $*"
  exit 1
}

# One run at a time: two `make test` started together must not race apt or
# start two servers on one port.
exec 9>"${TMPDIR:-/tmp}/roomhub-test-deps.$(id -u).lock"
flock 9

# as_root runs a command as root: directly in CI (root), else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "not root and no sudo, cannot run: $* (run it as root, or install and start the service by hand)"
  fi
}

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    as_root apt-get update -qq >/dev/null || die "apt-get update failed"
    apt_updated=1
  fi
  say "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=120 "$@" >/dev/null ||
    die "apt-get install $* failed"
}

# wait_for tries a command up to $1 times, 0.25 s apart.
wait_for() {
  local tries=$1
  shift
  for ((i = 0; i < tries; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  return 1
}

# PostgreSQL.

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; }

command -v pg_isready >/dev/null 2>&1 || apt_install postgresql-client
if ! pg_up; then
  if ! ls /etc/postgresql/*/main/postgresql.conf >/dev/null 2>&1; then
    apt_install postgresql
  fi
  # The newest installed cluster; Debian 12 has 15/main.
  pg_version=$(ls /etc/postgresql | sort -n | tail -1)
  [ -f "/etc/postgresql/$pg_version/main/postgresql.conf" ] ||
    die "no PostgreSQL cluster in /etc/postgresql after installing postgresql"
  if ! pg_up; then # installing may have started it
    say "starting PostgreSQL $pg_version/main"
    as_root pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start ||
      die "pg_ctlcluster $pg_version main start failed (see /var/log/postgresql/postgresql-$pg_version-main.log)"
  fi
  wait_for 120 pg_up ||
    die "PostgreSQL $pg_version/main started but nothing answers on $PG_HOST:$PG_PORT (is the cluster's port $PG_PORT? see /etc/postgresql/$pg_version/main/postgresql.conf)"
fi

# pg_admin runs psql as a superuser, reading SQL on stdin: over the local
# socket as postgres without a password (trust), else as the postgres OS user
# (peer, a fresh Debian install), else over TCP with PGPASSWORD if given.
pg_admin_cmd=()
for candidate in \
  "psql -X -w -h $PG_SOCKET_DIR -p $PG_PORT -U postgres -d postgres" \
  "as_root runuser -u postgres -- psql -X -w -h $PG_SOCKET_DIR -p $PG_PORT -d postgres" \
  "psql -X -w -h $PG_HOST -p $PG_PORT -U postgres -d postgres"; do
  read -r -a cmd <<<"$candidate"
  if [ "$(echo 'SELECT 1' | "${cmd[@]}" -qAt 2>/dev/null)" = 1 ]; then
    pg_admin_cmd=("${cmd[@]}")
    break
  fi
done
[ ${#pg_admin_cmd[@]} -gt 0 ] ||
  die "PostgreSQL answers on $PG_HOST:$PG_PORT but no superuser login works (tried postgres over $PG_SOCKET_DIR with trust and peer, and over TCP with PGPASSWORD): create role $PG_ROLE (password $PG_PASSWORD, LOGIN CREATEDB) and database $PG_DB owned by it by hand"
pg_admin() { "${pg_admin_cmd[@]}" -q -v ON_ERROR_STOP=1 >/dev/null; }

# The role and database, created when missing and otherwise brought back to
# what the tests expect. CREATE DATABASE cannot run inside DO, hence \gexec.
ensure_role_and_db() {
  pg_admin <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
    CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END
\$\$;
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_ROLE'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$PG_DB') \gexec
ALTER DATABASE $PG_DB OWNER TO $PG_ROLE;
SQL
}
# A second try covers a concurrent creator (another machine user, or a CI step).
ensure_role_and_db || ensure_role_and_db ||
  die "could not create role $PG_ROLE and database $PG_DB (run the SQL in scripts/test-deps.sh by hand as a superuser)"

pg_version_line=$(PGPASSWORD=$PG_PASSWORD psql -X -w -qAt -h "$PG_HOST" -p "$PG_PORT" -U "$PG_ROLE" -d "$PG_DB" \
  -c 'SHOW server_version' 2>&1) ||
  die "cannot log in as $PG_ROLE to $PG_DB over TCP at $PG_HOST:$PG_PORT with the password: $pg_version_line"
say "postgresql: $pg_version_line at $PG_HOST:$PG_PORT (postgres://$PG_ROLE:***@$PG_HOST:$PG_PORT/$PG_DB)"

# Redis.

redis_up() { [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>&1)" = PONG ]; }

command -v redis-cli >/dev/null 2>&1 || apt_install redis-tools
if ! redis_up; then
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  if ! redis_up; then # installing may have started it
    say "starting redis-server on $REDIS_HOST:$REDIS_PORT"
    redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" --save "" --appendonly no >/dev/null ||
      die "redis-server failed to start"
  fi
  wait_for 40 redis_up ||
    die "nothing answers PONG on $REDIS_HOST:$REDIS_PORT: $(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>&1)"
fi
redis_version=$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" INFO server | tr -d '\r' | sed -n 's/^redis_version://p')
say "redis: $redis_version at $REDIS_HOST:$REDIS_PORT"

# Chromium.
if ! command -v chromium >/dev/null 2>&1; then
  apt_install chromium
fi
command -v chromium >/dev/null 2>&1 || die "chromium is not on PATH after installing it"
say "chromium: $(chromium --version 2>/dev/null | head -1)"

# promtool and prometheus (Debian package prometheus), for the metrics
# checks and the topology drills. The package's own service is not
# started: the drills run private servers.
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  apt_install prometheus
fi
command -v promtool >/dev/null 2>&1 || die "promtool is not on PATH after installing prometheus"
command -v prometheus >/dev/null 2>&1 || die "prometheus is not on PATH after installing prometheus"
say "promtool: $(promtool --version 2>&1 | head -1)"

# nginx (Debian package nginx-light), for the topology drills: a private
# instance per test with deploy/nginx.conf; the package's service is not
# needed.
nginx_bin() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; }; }
if [ -z "$(nginx_bin)" ]; then
  apt_install nginx-light
fi
[ -n "$(nginx_bin)" ] || die "nginx is not installed after installing nginx-light"
say "nginx: $("$(nginx_bin)" -v 2>&1 | head -1)"

# The Standard Webhooks reference verifier (npm standardwebhooks, pinned),
# for the test that verifies Roomhub's webhook signatures in another
# language. Node from Debian; the package under .cache/node, next to the
# repository (ROOMHUB_NODE_MODULES tells the test where).
SW_VERSION=1.1.1
SW_DIR="$(cd "$(dirname "$0")/.." && pwd)/.cache/node"
command -v node >/dev/null 2>&1 || apt_install nodejs
command -v npm >/dev/null 2>&1 || apt_install npm
sw_installed() { [ "$(node -p "require('$SW_DIR/node_modules/standardwebhooks/package.json').version" 2>/dev/null)" = "$SW_VERSION" ]; }
if ! sw_installed; then
  say "installing npm standardwebhooks@$SW_VERSION into $SW_DIR"
  mkdir -p "$SW_DIR"
  npm install --silent --no-audit --no-fund --prefix "$SW_DIR" "standardwebhooks@$SW_VERSION" >/dev/null ||
    die "npm install standardwebhooks@$SW_VERSION failed"
  sw_installed || die "standardwebhooks@$SW_VERSION is not in $SW_DIR after installing it"
fi
say "standardwebhooks: $SW_VERSION (npm) in $SW_DIR, node $(node --version)"
