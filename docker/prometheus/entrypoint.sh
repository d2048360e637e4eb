#!/bin/sh
# The compose Prometheus: its configuration and secrets rendered into a private
# directory, then Prometheus on loopback (PROMETHEUS_LISTEN, 127.0.0.1:9090 by default).
set -eu
config=$(mktemp -d)
ringbridge-prometheus-config /usr/share/ringbridge/prometheus.yml "$config"
exec prometheus --config.file="$config/prometheus.yml" \
    --storage.tsdb.path=/var/lib/prometheus/metrics2 \
    --web.listen-address="${PROMETHEUS_LISTEN:-127.0.0.1:9090}"
