# Project set-up shared by scripts/setup, scripts/up, scripts/compose and scripts/test. Sourced.
# shellcheck source=scripts/lib/docker.sh
source "$(dirname "${BASH_SOURCE[0]}")/docker.sh"

# .venv with ringbridge and its test extras; reinstalled only when pyproject.toml changed.
ensure_venv() {
    local top=$1 stamp
    if [ ! -x "$top/.venv/bin/python" ]; then
        log "creating the virtualenv .venv"
        if ! python3 -m venv "$top/.venv" 2>/dev/null; then
            rm -rf "$top/.venv"
            ensure_debs python3-venv  # Debian's python3 has venv in a package of its own
            python3 -m venv "$top/.venv" || die "python3 -m venv failed"
        fi
    fi
    stamp="$top/.venv/.ringbridge-installed"
    if [ ! -f "$stamp" ] || [ "$top/pyproject.toml" -nt "$stamp" ]; then
        log "installing ringbridge and its test tools into .venv"
        "$top/.venv/bin/pip" install -q --upgrade pip >/dev/null
        "$top/.venv/bin/pip" install -q -e "$top[test]" || die "pip install failed"
        touch "$stamp"
    fi
}

random_secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }

# var/asterisk.env (the container's environment) and var/ringbridge.env (the bridge's),
# generated once with fresh random secrets; never committed (var/ is git-ignored).
ensure_secrets() {
    local var=$1/var ari ami sip name
    mkdir -p "$var"
    if [ -f "$var/asterisk.env" ] && [ -f "$var/ringbridge.env" ]; then
        ensure_metrics_secrets "$var"
        return 0
    fi
    log "generating ARI, AMI and SIP secrets into var/"
    ari=$(random_secret); ami=$(random_secret); sip=""
    for name in 1001 1002 1003 1004 1005 1006 1007 1008 1009 1010; do
        sip="$sip $name=$(random_secret)"
    done
    ( umask 077
      printf 'ARI_PASSWORD=%s\nAMI_SECRET=%s\nSIP_SECRETS=%s\n' "$ari" "$ami" "${sip# }" \
          >"$var/asterisk.env"
      printf 'RINGBRIDGE_ARI_PASSWORD=%s\nRINGBRIDGE_AMI_SECRET=%s\nRINGBRIDGE_DATABASE_URL=sqlite:///%s\n' \
          "$ari" "$ami" "$var/ringbridge.db" >"$var/ringbridge.env" )
    ensure_metrics_secrets "$var"
}

# What Prometheus scrapes with (docs/metrics.md): ringbridge's bearer token and the
# password of Asterisk's own metrics, added to environment files made before either;
# then var/prometheus.env, the scraper's own: those two secrets and the two ports, no
# other secret (monitoring/render-config reads it).
ensure_metrics_secrets() {
    local var=$1
    ensure_secret "$var/ringbridge.env" RINGBRIDGE_METRICS_TOKEN
    ensure_secret "$var/asterisk.env" PROMETHEUS_PASSWORD
    ( umask 077
      printf 'RINGBRIDGE_METRICS_TOKEN=%s\nPROMETHEUS_PASSWORD=%s\nRINGBRIDGE_PORT=%s\nARI_PORT=%s\n' \
          "$(env_setting "$var/ringbridge.env" RINGBRIDGE_METRICS_TOKEN "")" \
          "$(env_setting "$var/asterisk.env" PROMETHEUS_PASSWORD "")" \
          "$(env_setting "$var/ringbridge.env" RINGBRIDGE_HTTP_PORT 8887)" \
          "$(env_setting "$var/asterisk.env" ARI_PORT 8088)" >"$var/prometheus.env" )
}

# The value of NAME in the environment file ENV, or DEFAULT.
env_setting() {
    grep -oP "^$2=\\K.*" "$1" || echo "$3"
}

ensure_secret() {
    local env=$1 name=$2
    grep -q "^$name=" "$env" && return 0
    ( umask 077; printf '%s=%s\n' "$name" "$(random_secret)" >>"$env" )
}

setup_all() {
    local top=$1
    ensure_docker_engine
    build_asterisk_image "$top"
    ensure_venv "$top"
    ensure_secrets "$top"
}

# Wait until GET /health on PORT answers 200, at most SECONDS; else die with HINT.
wait_healthy() {
    local port=$1 seconds=$2 hint=$3 code=""
    for _ in $(seq 1 $((seconds * 2))); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health" || true)
        [ "$code" = 200 ] && return 0
        sleep 0.5
    done
    die "ringbridge is not healthy after $seconds s (GET /health: ${code:-no answer}); $hint"
}

# Wait until URL answers 2xx, at most SECONDS; else die with WHY.
wait_ready() {
    local url=$1 seconds=$2 why=$3
    for _ in $(seq 1 $((seconds * 2))); do
        curl -sf -o /dev/null "$url" && return 0
        sleep 0.5
    done
    die "$why"
}

# What scripts/up and scripts/compose print once ringbridge is healthy: where the API
# and the registrar are, LOGS and STOP (how to read the logs, how to stop), MORE (lines
# after the metrics', optional), and the demo extensions with their passwords.
print_up_info() {
    local top=$1 port=$2 logs=$3 stop=$4 more=${5:-} sip_port ari_port
    sip_port=$(env_setting "$top/var/asterisk.env" SIP_PORT 5060)
    ari_port=$(env_setting "$top/var/asterisk.env" ARI_PORT 8088)
    cat <<INFO

ringbridge is up.
  API:        http://127.0.0.1:$port  (health: /health, OpenAPI: /openapi.json, docs: /docs)
  Panel:      http://127.0.0.1:$port/panel  (sign in as a tenant user with a password: docs/panel.md)
  Metrics:    http://127.0.0.1:$port/metrics  (Bearer RINGBRIDGE_METRICS_TOKEN of var/ringbridge.env)
              Asterisk's: http://127.0.0.1:$ari_port/metrics  (user prometheus, PROMETHEUS_PASSWORD of var/asterisk.env)${more:+
$more}
  SIP:        registrar <this machine's address>:$sip_port, UDP
  Log:        $logs
  Stop:       $stop

Demo extensions (username = extension, domain = the registrar's address):
INFO
    grep -oP '^SIP_SECRETS=\K.*' "$top/var/asterisk.env" | tr ' ' '\n' | grep -v '^carrier=' \
        | sed 's/=/   password: /; s/^/  /'
}

# Refuse to start when a container of the other deployment (scripts/up's or
# scripts/compose's) runs: both use the same SIP, ARI, AMI and API ports.
refuse_if_running() {
    local container=$1 stop=$2
    if [ -n "$(docker ps -q --filter "name=^${container}\$" 2>/dev/null)" ]; then
        die "container $container is running and uses the same ports; stop it first ($stop)"
    fi
}
