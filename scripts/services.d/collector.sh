# shellcheck shell=bash
# The OpenTelemetry Collector of the multi-service demo, sourced by scripts/services.
#
#   scripts/services start collector    build it when missing (or when the manifest changed), start it
#   scripts/services stop collector
#   scripts/services status collector
#
# The binary is built with the OpenTelemetry Collector Builder (ocb) from collector/builder-config.yaml;
# the builder, Go's module cache and its build cache all live under .cache/collector/ (gitignored),
# so only the first build is slow (~2.5 min on two cores, downloading included) and later starts
# are instant. It runs with collector/config.yaml on loopback:
#
#   INSTRUMENTARIUM_COLLECTOR_GRPC_PORT=14317   OTLP/gRPC    (not 4317: leave a user's collector be)
#   INSTRUMENTARIUM_COLLECTOR_HTTP_PORT=14318   OTLP/HTTP
#   INSTRUMENTARIUM_COLLECTOR_OUTPUT_DIR=$RUN_DIR/collector/output   traces/metrics/logs .jsonl
#   INSTRUMENTARIUM_COLLECTOR_CACHE=.cache/collector   builder, Go caches, build/ (the binary)
#   INSTRUMENTARIUM_COLLECTOR_BIN=$INSTRUMENTARIUM_COLLECTOR_CACHE/build/otelcol-instrumentarium
#                                                (a prebuilt binary: no build; tests/support/services.py reads it too)

# Run directly (`bash scripts/services.d/collector.sh build`) it only builds: for CI and
# scripts/demo-services. Then it needs what scripts/services would have set up.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    cd "$(dirname "$0")/../.."
    RUN_DIR=${INSTRUMENTARIUM_SERVICES_DIR:-$PWD/.cache/services}
    die() { printf 'collector: %s\n' "$*" >&2; exit 1; }
    say() { printf '%s\n' "$*" >&2; }
fi

SERVICES+=(collector)

COLLECTOR_RELEASE=v0.161.0  # the builder's version; the manifest pins every module to this release
# CI may keep this outside the clone (e.g. under $HOME/.cache) so that later runs reuse it.
COLLECTOR_CACHE=${INSTRUMENTARIUM_COLLECTOR_CACHE:-$PWD/.cache/collector}
COLLECTOR_BIN=${INSTRUMENTARIUM_COLLECTOR_BIN:-$COLLECTOR_CACHE/build/otelcol-instrumentarium}
COLLECTOR_MANIFEST=$PWD/collector/builder-config.yaml
COLLECTOR_CONFIG=$PWD/collector/config.yaml
COLLECTOR_DIR=$RUN_DIR/collector
COLLECTOR_GRPC_PORT=${INSTRUMENTARIUM_COLLECTOR_GRPC_PORT:-14317}
COLLECTOR_HTTP_PORT=${INSTRUMENTARIUM_COLLECTOR_HTTP_PORT:-14318}
COLLECTOR_OUTPUT_DIR=${INSTRUMENTARIUM_COLLECTOR_OUTPUT_DIR:-$COLLECTOR_DIR/output}

# Go's caches under .cache/collector/, whatever the user's GOPATH: a second build is instant and
# nothing outside the checkout is written.
collector_go_env() {
    export GOPATH=$COLLECTOR_CACHE/gopath
    export GOMODCACHE=$COLLECTOR_CACHE/gopath/pkg/mod
    export GOCACHE=$COLLECTOR_CACHE/gocache
    export GOFLAGS=-modcacherw  # so that `rm -rf .cache` works
    export GOTELEMETRY=off
}

collector_manifest_stamp() { sha256sum "$COLLECTOR_MANIFEST" | cut -d' ' -f1; }

collector_build() {
    local stamp_file=$COLLECTOR_CACHE/build/.manifest.sha256
    if [[ -x "$COLLECTOR_BIN" && -f "$stamp_file" \
          && "$(cat "$stamp_file")" == "$(collector_manifest_stamp)" ]]; then
        return 0
    fi
    if [[ -n "${INSTRUMENTARIUM_COLLECTOR_BIN:-}" ]]; then
        [[ -x "$COLLECTOR_BIN" ]] && return 0
        say "collector: INSTRUMENTARIUM_COLLECTOR_BIN=$COLLECTOR_BIN is not executable"
        return 1
    fi
    if ! command -v go >/dev/null; then
        say "collector: the go command is needed to build the collector (Go >= 1.24)"
        return 1
    fi
    mkdir -p "$COLLECTOR_CACHE"
    local started builder=$COLLECTOR_CACHE/bin/builder log=$COLLECTOR_CACHE/build.log
    started=$(date +%s)
    : >"$log"
    if [[ ! -x "$builder" || "$("$builder" version 2>&1)" != *"$COLLECTOR_RELEASE"* ]]; then
        say "collector: installing ocb $COLLECTOR_RELEASE into $COLLECTOR_CACHE/bin"
        ( collector_go_env; GOBIN=$COLLECTOR_CACHE/bin go install \
            "go.opentelemetry.io/collector/cmd/builder@$COLLECTOR_RELEASE" ) >>"$log" 2>&1 \
            || { say "collector: installing ocb failed; see $log"; return 1; }
    fi
    say "collector: building with ocb from collector/builder-config.yaml (log: $log)"
    # The manifest's output_path, pointed at this cache (it may live outside the checkout).
    local manifest=$COLLECTOR_CACHE/builder-config.yaml
    sed "s|^\( *output_path:\).*|\1 $COLLECTOR_CACHE/build|" "$COLLECTOR_MANIFEST" >"$manifest"
    ( collector_go_env; "$builder" --config "$manifest" ) >>"$log" 2>&1 \
        || { say "collector: the build failed; see $log"; return 1; }
    collector_manifest_stamp >"$stamp_file"
    say "collector: built $COLLECTOR_BIN in $(( $(date +%s) - started ))s"
}

collector_pid() {
    local pid
    [[ -f "$COLLECTOR_DIR/collector.pid" ]] || return 1
    pid=$(cat "$COLLECTOR_DIR/collector.pid")
    # Only our own collector: the pid file is ours and the process runs our binary.
    kill -0 "$pid" 2>/dev/null && grep -q otelcol-instrumentarium "/proc/$pid/cmdline" 2>/dev/null \
        && echo "$pid"
}

collector_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

collector_ready() {
    collector_pid >/dev/null && grep -q 'Everything is ready' "$COLLECTOR_DIR/collector.log" \
        && collector_port_open "$COLLECTOR_GRPC_PORT" && collector_port_open "$COLLECTOR_HTTP_PORT"
}

# Failures return 1 rather than exit: `scripts/services start` goes on with the other services.
collector_start() {
    collector_build || return 1
    if collector_pid >/dev/null; then
        say "collector: already up"
        return 0
    fi
    if collector_port_open "$COLLECTOR_GRPC_PORT" || collector_port_open "$COLLECTOR_HTTP_PORT"; then
        say "collector: port $COLLECTOR_GRPC_PORT or $COLLECTOR_HTTP_PORT is taken by another" \
            "process; set INSTRUMENTARIUM_COLLECTOR_GRPC_PORT / _HTTP_PORT"
        return 1
    fi
    mkdir -p "$COLLECTOR_DIR" "$COLLECTOR_OUTPUT_DIR"
    INSTRUMENTARIUM_COLLECTOR_HOST=127.0.0.1 \
    INSTRUMENTARIUM_COLLECTOR_GRPC_PORT=$COLLECTOR_GRPC_PORT \
    INSTRUMENTARIUM_COLLECTOR_HTTP_PORT=$COLLECTOR_HTTP_PORT \
    INSTRUMENTARIUM_COLLECTOR_OUTPUT_DIR=$COLLECTOR_OUTPUT_DIR \
        setsid "$COLLECTOR_BIN" --config "$COLLECTOR_CONFIG" \
        >"$COLLECTOR_DIR/collector.log" 2>&1 </dev/null &
    echo $! >"$COLLECTOR_DIR/collector.pid"
    wait_until "$WAIT_SECONDS" \
        "collector: OTLP on 127.0.0.1:$COLLECTOR_GRPC_PORT (gRPC) and :$COLLECTOR_HTTP_PORT (HTTP), output in $COLLECTOR_OUTPUT_DIR" \
        collector_ready \
        || { say "collector: not ready after ${WAIT_SECONDS}s; see $COLLECTOR_DIR/collector.log"; return 1; }
}

collector_stop() {
    local pid
    if pid=$(collector_pid); then
        kill "$pid" 2>/dev/null || true
        local deadline=$(( $(date +%s) + 10 ))
        while kill -0 "$pid" 2>/dev/null && (( $(date +%s) < deadline )); do sleep 0.1; done
    fi
    rm -f "$COLLECTOR_DIR/collector.pid"
    say "collector: stopped"
}

collector_status() {
    if collector_ready; then
        echo "collector: up (127.0.0.1:$COLLECTOR_GRPC_PORT gRPC, 127.0.0.1:$COLLECTOR_HTTP_PORT HTTP, output $COLLECTOR_OUTPUT_DIR)"
    else
        echo "collector: down"
        return 1
    fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    [[ "${1:-}" == build ]] || die "usage: bash scripts/services.d/collector.sh build"
    collector_build || exit 1
    say "collector: $COLLECTOR_BIN"
fi
