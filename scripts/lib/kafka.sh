# shellcheck shell=bash
# Single-node Apache Kafka (KRaft, combined broker+controller) from Maven Central jars.
# Sourced by scripts/services.sh after lib/common.sh.

KAFKA_HOME_DIR="$FINSENT_CACHE_DIR/kafka/$FINSENT_KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME_DIR/libs"
KAFKA_STATE="$FINSENT_STATE_DIR/kafka"
KAFKA_PID_FILE="$FINSENT_STATE_DIR/kafka.pid"
KAFKA_LOG="$FINSENT_STATE_DIR/kafka.log"
KAFKA_CDS="$KAFKA_STATE/kafka-$FINSENT_KAFKA_VERSION.jsa"
LOG4J_VERSION="2.25.3"

kafka_pom() {
    cat <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>finsent.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>$FINSENT_KAFKA_VERSION</version>
    </dependency>
    <!-- Kafka's pom leaves the logging backend to the distribution; without one it is silent. -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
POM
}

# Jars land in a temporary folder renamed into place at the end, so an interrupted
# download never looks like a cache hit.
kafka_ensure_jars() {
    if [[ -f $KAFKA_LIBS/kafka_2.13-$FINSENT_KAFKA_VERSION.jar ]]; then
        log "cache hit: kafka jars $FINSENT_KAFKA_VERSION in $KAFKA_LIBS"
        return 0
    fi
    log "cache miss: kafka jars $FINSENT_KAFKA_VERSION not in $KAFKA_LIBS, fetching from Maven Central"
    ensure_command java openjdk-17-jre-headless
    ensure_command mvn maven
    local work="$KAFKA_HOME_DIR/fetch.$$"
    rm -rf "$KAFKA_HOME_DIR"/fetch.* && mkdir -p "$work"
    kafka_pom >"$work/pom.xml"
    if ! mvn -q -B -f "$work/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$work/libs" >"$work/mvn.log" 2>&1; then
        show_log_tail "$work/mvn.log"
        die "maven could not fetch kafka_2.13:$FINSENT_KAFKA_VERSION"
    fi
    rm -rf "$KAFKA_LIBS" && mv "$work/libs" "$KAFKA_LIBS" && rm -rf "$work"
    log "fetched $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars into $KAFKA_LIBS"
}

kafka_write_config() {
    mkdir -p "$KAFKA_STATE/data"
    cat >"$KAFKA_STATE/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$FINSENT_KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$FINSENT_KAFKA_PORT,CONTROLLER://127.0.0.1:$FINSENT_KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$FINSENT_KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_STATE/data
# Topics come from 'finsent topics ensure' only, never from a typo in a producer.
auto.create.topics.enable=false
message.max.bytes=1048576
replica.fetch.max.bytes=1048576
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
# Tests create and delete many topics; their files go after 1 s instead of a minute.
file.delete.delay.ms=1000
PROPS
    cat >"$KAFKA_STATE/log4j2.properties" <<'PROPS'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
PROPS
}

# The JVM command line shared by the storage tool and the server.
kafka_jvm() {
    # shellcheck disable=SC2206  # heap options are a list of words on purpose
    KAFKA_JVM=(java $FINSENT_KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError
        -Djava.awt.headless=true
        "-Dlog4j2.configurationFile=$KAFKA_STATE/log4j2.properties"
        -cp "$KAFKA_LIBS/*")
}

# A class-data archive of the broker's own classes starts it ~40% faster on busy cores.
# The first clean stop writes it (.new); kafka_stop keeps it only if the JVM exited cleanly.
kafka_cds_options() {
    if [[ -f $KAFKA_CDS ]]; then
        echo "-XX:SharedArchiveFile=$KAFKA_CDS"
    else
        echo "-XX:ArchiveClassesAtExit=$KAFKA_CDS.new"
    fi
    echo "-Xlog:cds*=error"
}

# Formatting is what makes a data dir a KRaft log; done once, skipped when meta.properties exists.
kafka_format_storage() {
    [[ -f $KAFKA_STATE/data/meta.properties ]] && return 0
    local cluster_id
    cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    log "formatting KRaft storage in $KAFKA_STATE/data (cluster id $cluster_id)"
    kafka_jvm
    "${KAFKA_JVM[@]}" kafka.tools.StorageTool format -t "$cluster_id" \
        -c "$KAFKA_STATE/server.properties" >>"$KAFKA_LOG" 2>&1 \
        || { show_log_tail "$KAFKA_LOG"; die "kafka storage format failed"; }
}

kafka_pid() {
    local pid
    pid=$(pid_from_file "$KAFKA_PID_FILE")
    if pid_runs "$pid" kafka.Kafka; then echo "$pid"; fi
    return 0
}

# Starts the broker in its own session so it outlives the caller; returns at once.
kafka_start() {
    if [[ -n $(kafka_pid) ]]; then
        log "kafka already running (pid $(kafka_pid))"
        return 0
    fi
    port_open "$FINSENT_KAFKA_PORT" \
        && die "port $FINSENT_KAFKA_PORT is taken by a process this script did not start (set FINSENT_KAFKA_PORT)"
    rm -f "$KAFKA_PID_FILE"
    rotate_log "$KAFKA_LOG"
    kafka_write_config
    kafka_format_storage
    log "starting kafka $FINSENT_KAFKA_VERSION on 127.0.0.1:$FINSENT_KAFKA_PORT"
    kafka_jvm
    mapfile -t -O "${#KAFKA_JVM[@]}" KAFKA_JVM < <(kafka_cds_options)
    # bash records its own pid and then becomes the JVM, so the pid file names the broker;
    # fd 9 (services.lock) is closed so the broker does not hold the lock for its lifetime.
    # shellcheck disable=SC2016  # expanded by the inner bash
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$KAFKA_PID_FILE" \
        "${KAFKA_JVM[@]}" kafka.Kafka "$KAFKA_STATE/server.properties" \
        </dev/null >>"$KAFKA_LOG" 2>&1 9>&- &
    local tries=50
    until [[ -s $KAFKA_PID_FILE ]] || ((--tries == 0)); do sleep 0.1; done
}

# Ready means: the server logged that it started (broker unfenced) and the port accepts.
kafka_wait() {
    local deadline=$((SECONDS + FINSENT_SERVICES_TIMEOUT))
    while ((SECONDS < deadline)); do
        if [[ -z $(kafka_pid) ]]; then
            show_log_tail "$KAFKA_LOG"; die "kafka exited during start-up"
        fi
        if grep -q 'Kafka Server started' "$KAFKA_LOG" && port_open "$FINSENT_KAFKA_PORT"; then
            log "kafka is up (pid $(kafka_pid), 127.0.0.1:$FINSENT_KAFKA_PORT)"
            return 0
        fi
        sleep 0.5
    done
    show_log_tail "$KAFKA_LOG"
    die "kafka did not answer within ${FINSENT_SERVICES_TIMEOUT}s"
}

kafka_stop() {
    local pid
    pid=$(kafka_pid)
    if [[ -z $pid ]]; then
        log "kafka is not running"; rm -f "$KAFKA_PID_FILE"; return 0
    fi
    log "stopping kafka (pid $pid)"
    kill -TERM "$pid"
    local deadline=$((SECONDS + 60))
    while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.3; done
    if pid_alive "$pid"; then
        log "kafka ignored SIGTERM for 60s: killing"
        kill -KILL "$pid"
        rm -f "$KAFKA_CDS.new"
    elif [[ -f $KAFKA_CDS.new ]]; then
        mv -f "$KAFKA_CDS.new" "$KAFKA_CDS"
    fi
    rm -f "$KAFKA_PID_FILE"
}

kafka_status() {
    local pid
    pid=$(kafka_pid)
    if [[ -n $pid ]] && port_open "$FINSENT_KAFKA_PORT"; then
        echo "kafka: running (pid $pid, 127.0.0.1:$FINSENT_KAFKA_PORT, log $KAFKA_LOG)"
    elif [[ -n $pid ]]; then
        echo "kafka: starting or stuck (pid $pid, port $FINSENT_KAFKA_PORT closed, log $KAFKA_LOG)"; return 1
    else
        echo "kafka: stopped"; return 1
    fi
}
