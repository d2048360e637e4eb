# A local PostgreSQL for the API tests' second database. Sourced.
# Installs Debian's postgresql when missing, starts its cluster, and makes a test
# role and database with a password generated now; prints the SQLAlchemy URL.
# Stdout carries the URL alone: everything the tools print goes to stderr
# (pg_ctlcluster says "Removed stale pid file." after an unclean shutdown).
# RINGBRIDGE_TEST_SLOT=N gives a run its own role and database (see tests/support/asterisk.py).

# The role and database are named $1 (default: the test slot's); $2, when given, is the
# role's password (else a new one).
ensure_test_postgres() {
    prepare_test_postgres "$@" >&2
    echo "$test_postgres_url"
}

prepare_test_postgres() {
    ensure_debs postgresql
    local name=${1:-ringbridge_test${RINGBRIDGE_TEST_SLOT:+_$RINGBRIDGE_TEST_SLOT}}
    local version cluster
    version=$(pg_lsclusters -h 2>/dev/null | awk 'NR==1 {print $1}')
    cluster=$(pg_lsclusters -h 2>/dev/null | awk 'NR==1 {print $2}')
    if [ -z "$version" ]; then
        version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
        cluster=main
        as_root pg_createcluster "$version" "$cluster" >/dev/null
    fi
    if ! pg_lsclusters -h | awk -v v="$version" -v c="$cluster" \
            '$1==v && $2==c && $4=="online" {found=1} END {exit !found}'; then
        log "starting PostgreSQL $version/$cluster"
        as_root pg_ctlcluster "$version" "$cluster" start
    fi
    local port password=${2:-$(python3 -c 'import secrets; print(secrets.token_hex(16))')}
    port=$(pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1==v && $2==c {print $3}')
    test_postgres_port=$port
    postgres_sql <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$name') THEN
    CREATE ROLE $name LOGIN;
  END IF;
END \$\$;
ALTER ROLE $name PASSWORD '$password';
SQL
    if ! as_root su postgres -c "psql -p $port -tAc \"SELECT 1 FROM pg_database WHERE datname='$name'\"" | grep -q 1; then
        as_root su postgres -c "createdb -p $port -O $name $name"
    fi
    test_postgres_url="postgresql+psycopg://$name:$password@127.0.0.1:$port/$name"
}

# Runs the SQL on stdin as PostgreSQL's superuser, on the database $1 (default: postgres);
# after prepare_test_postgres (which sets the port).
postgres_sql() {
    # Only warnings and errors reach the terminal, not "already exists, skipping" notices.
    as_root su postgres -c "PGOPTIONS='--client-min-messages=warning' psql -q -p $test_postgres_port -v ON_ERROR_STOP=1 -d ${1:-postgres}" >/dev/null
}
