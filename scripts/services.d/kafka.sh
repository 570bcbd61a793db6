# shellcheck shell=bash
# Sourced by scripts/services. An Apache Kafka broker in KRaft mode (one node that is broker and
# controller, no ZooKeeper) on loopback, run from Maven Central's jars on the machine's Java 17.
#
#   scripts/services start kafka    fetch the jars once (Maven, cached), format the storage once,
#                                   start the broker, wait until a Metadata request answers
#   scripts/services stop kafka     SIGTERM (controlled shutdown), wait, then forget the data
#   scripts/services status kafka   "kafka: up (127.0.0.1:9392)" or "kafka: down"
#
# The same steps by hand (what start does; <dir> is .cache/services/kafka/9392, one a port):
#
#   mvn -q -B -f scripts/services.d/kafka/pom.xml -Dmaven.repo.local=.cache/kafka/m2 \
#       dependency:copy-dependencies -DincludeScope=runtime \
#       -DoutputDirectory=.cache/kafka/libs-4.1.1
#   java -cp '.cache/kafka/libs-4.1.1/*' kafka.tools.StorageTool format \
#       -t "$(java -cp '.cache/kafka/libs-4.1.1/*' kafka.tools.StorageTool random-uuid)" \
#       -c <dir>/server.properties
#   java -Xmx512m -Dkafka.logs.dir=<dir>/logs \
#       -Dlog4j2.configurationFile=scripts/services.d/kafka/log4j2.properties \
#       -cp '.cache/kafka/libs-4.1.1/*' kafka.Kafka <dir>/server.properties
#
# Variables (tests/support/services.py reads INSTRUMENTARIUM_KAFKA_BOOTSTRAP, same default, for
# the tests, the benchmarks and the examples):
#
#   INSTRUMENTARIUM_KAFKA_PORT=9392              the broker's PLAINTEXT listener
#   INSTRUMENTARIUM_KAFKA_CONTROLLER_PORT=$((INSTRUMENTARIUM_KAFKA_PORT + 1))   the KRaft controller
#   INSTRUMENTARIUM_KAFKA_BOOTSTRAP=127.0.0.1:$INSTRUMENTARIUM_KAFKA_PORT
#   INSTRUMENTARIUM_KAFKA_VERSION=4.1.1          org.apache.kafka:kafka_2.13 version to fetch
#   INSTRUMENTARIUM_KAFKA_HEAP=512m              the JVM's -Xmx
#   JAVA=java, MVN=mvn                           the tools to use
#
# Auto-created topics get 3 partitions (num.partitions), so tests see several partitions without
# an admin call. Consumer groups join without the initial rebalance delay.
#
# A broker is known by its port: each port has its own directory (config, data, logs, pid file),
# and start and stop act only on the broker whose pid file is in that directory and whose command
# line runs kafka.Kafka on that directory's config. A broker this clone runs on another port is
# never taken for it: start on 9392 starts one, stop on 9392 leaves the other one running.

SERVICES+=(kafka)
KAFKA_PORT=${INSTRUMENTARIUM_KAFKA_PORT:-9392}
KAFKA_CONTROLLER_PORT=${INSTRUMENTARIUM_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
KAFKA_VERSION=${INSTRUMENTARIUM_KAFKA_VERSION:-4.1.1}
KAFKA_HEAP=${INSTRUMENTARIUM_KAFKA_HEAP:-512m}
KAFKA_LIBS=$PWD/.cache/kafka/libs-$KAFKA_VERSION
KAFKA_DIR=$RUN_DIR/kafka/$KAFKA_PORT
KAFKA_START_SECONDS=${INSTRUMENTARIUM_KAFKA_WAIT:-90}

kafka_require() {
    command -v "${JAVA:-java}" >/dev/null \
        || die "java not found; install Java 17: apt-get install openjdk-17-jre-headless"
}

# The jars: kafka_2.13 and its runtime dependencies plus a log4j2 binding, fetched once.
kafka_fetch() {
    [[ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]] && return 0
    command -v "${MVN:-mvn}" >/dev/null || die "mvn not found; install Maven: apt-get install maven"
    say "kafka: fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central"
    mkdir -p "$PWD/.cache/kafka"
    local partial="$KAFKA_LIBS.partial"
    rm -rf "$partial"
    "${MVN:-mvn}" -q -B -f scripts/services.d/kafka/pom.xml \
        -Dmaven.repo.local="$PWD/.cache/kafka/m2" -Dkafka.version="$KAFKA_VERSION" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$partial" \
        >"$PWD/.cache/kafka/fetch.log" 2>&1 \
        || die "kafka: Maven could not fetch the broker; see .cache/kafka/fetch.log"
    mv "$partial" "$KAFKA_LIBS"
}

kafka_java() { "${JAVA:-java}" -cp "$KAFKA_LIBS/*" "$@"; }

kafka_write_config() {
    mkdir -p "$KAFKA_DIR/logs"
    cat >"$KAFKA_DIR/server.properties" <<PROPERTIES
# Written by scripts/services.d/kafka.sh; rewritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=1
PROPERTIES
}

# A Metadata request (api key 3, v4) over bash's /dev/tcp; true when the answer carries our
# correlation id and at least one broker, i.e. the broker serves clients, not just a listener.
kafka_answers() {
    local reply
    reply=$(timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "\x00\x00\x00\x14\x00\x03\x00\x04\x00\x00\x00\x07\x00\x05ready\xff\xff\xff\xff\x00" >&3
        head -c 16 <&3 | od -An -v -tx1 | tr -d " \n"
    ' _ "$KAFKA_PORT" 2>/dev/null) || return 1
    # size(4) correlation id(4) throttle(4) broker count(4)
    [[ ${#reply} == 32 && ${reply:8:8} == 00000007 && ${reply:24:8} != 00000000 ]]
}

# The pid of our broker on KAFKA_PORT, or false: the pid file of this port's directory names a
# live process whose arguments are exactly `kafka.Kafka <this port's dir>/server.properties`, and
# that config listens on this port (a pid file left behind whose pid now belongs to another
# process, or a broker on another port, is not ours).
kafka_pid() {
    local pid args
    [[ -f "$KAFKA_DIR/kafka.pid" ]] || return 1
    pid=$(<"$KAFKA_DIR/kafka.pid")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    args=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $'\n'$args$'\n' == *$'\n'kafka.Kafka$'\n'"$KAFKA_DIR/server.properties"$'\n'* ]] || return 1
    grep -q "^listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT," "$KAFKA_DIR/server.properties" \
        2>/dev/null || return 1
    echo "$pid"
}

kafka_start() {
    if kafka_answers; then
        say "kafka: already up (127.0.0.1:$KAFKA_PORT)"
        return 0
    fi
    kafka_require
    kafka_fetch
    if ! kafka_pid >/dev/null; then
        kafka_write_config
        if [[ ! -f "$KAFKA_DIR/data/meta.properties" ]]; then
            local cluster_id
            cluster_id=$(kafka_java kafka.tools.StorageTool random-uuid 2>/dev/null) \
                || die "kafka: could not run the storage tool (java -cp $KAFKA_LIBS/*)"
            kafka_java -Dlog4j2.configurationFile="$PWD/scripts/services.d/kafka/log4j2.properties" \
                -Dkafka.logs.dir="$KAFKA_DIR/logs" \
                kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_DIR/server.properties" \
                >"$KAFKA_DIR/logs/format.log" 2>&1 \
                || die "kafka: formatting the storage failed; see $KAFKA_DIR/logs/format.log"
        fi
        # setsid: the broker outlives this script and is not in its process group.
        setsid "${JAVA:-java}" -Xms128m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
            -Dkafka.logs.dir="$KAFKA_DIR/logs" \
            -Dlog4j2.configurationFile="$PWD/scripts/services.d/kafka/log4j2.properties" \
            -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_DIR/server.properties" \
            </dev/null >"$KAFKA_DIR/logs/stdout.log" 2>&1 &
        echo $! >"$KAFKA_DIR/kafka.pid"
    fi
    wait_until "$KAFKA_START_SECONDS" "kafka: 127.0.0.1:$KAFKA_PORT (KRaft, controller on $KAFKA_CONTROLLER_PORT)" \
        kafka_answers \
        || die "kafka did not answer on 127.0.0.1:$KAFKA_PORT within ${KAFKA_START_SECONDS}s; if" \
               "another process holds the port, set INSTRUMENTARIUM_KAFKA_PORT (log:" \
               "$KAFKA_DIR/logs/server.log, $KAFKA_DIR/logs/stdout.log)"
}

kafka_stop() {
    local pid
    if pid=$(kafka_pid); then
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$(( $(date +%s) + 30 ))
        while kill -0 "$pid" 2>/dev/null && (( $(date +%s) < deadline )); do sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            say "kafka: no clean shutdown within 30s; killing $pid"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    # Topics and offsets live in data/; stopping means starting fresh next time.
    rm -rf "$KAFKA_DIR"
    rmdir "$RUN_DIR/kafka" 2>/dev/null || true
    if kafka_answers; then
        say "kafka: 127.0.0.1:$KAFKA_PORT still answers: a broker this clone did not start" \
            "(no pid file of ours in $KAFKA_DIR); left running"
    else
        say "kafka: stopped"
    fi
}

kafka_status() {
    if kafka_answers; then
        echo "kafka: up (127.0.0.1:$KAFKA_PORT)"
    else
        echo "kafka: down"
        return 1
    fi
}
