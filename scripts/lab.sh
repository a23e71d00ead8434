#!/usr/bin/env bash
# The lab as a plain kubectl + curl script: the seed's flow, scenario by scenario as in
# features/, each in its own namespace, with the same checks. `tox -e bench` times it against
# the suite; it is the yardstick, not a second test suite.
#
# Environment:
#   KUBECONFIG    the cluster (required)
#   KUBECTL       kubectl to use (default: kubectl)
#   ON_NODE       a command that runs its arguments on the node named first, with `ctr`
#                 pointed at the node's CRI containerd (the seed's `vagrant ssh w3`); required
#   WEB_IMAGE, WEB_IMAGE_V2, REDIS_IMAGE   images on the nodes (default kubelab.local/...)
#   RATE          rollout traffic, requests per second per node address (default 70)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
manifests=$here/manifests
kubectl=${KUBECTL:-kubectl}
on_node=${ON_NODE:?ON_NODE must name a command that runs its arguments on a node}
web=${WEB_IMAGE:-kubelab.local/web:1.0}
web2=${WEB_IMAGE_V2:-kubelab.local/web:2.0}
redis=${REDIS_IMAGE:-kubelab.local/redis:7}
rate=${RATE:-70}
wait=120s
work=$(mktemp -d)
namespaces=()

t0=$(date +%s%N)
say() {
    local ms=$((($(date +%s%N) - t0) / 1000000))
    printf '[lab.sh %3d.%03ds] %s\n' $((ms / 1000)) $((ms % 1000)) "$*"
}
fail() { printf 'lab.sh: FAILED: %s\n' "$*" >&2; exit 1; }
k() { "$kubectl" "$@"; }

cleanup() {
    local jobs
    jobs=$(jobs -p)
    [[ -z $jobs ]] || kill $jobs 2>/dev/null || true
    if ((${#namespaces[@]})); then
        remove_ns "${namespaces[-1]}"
        k wait namespace "${namespaces[@]}" --for=delete --timeout=$wait >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

remove_ns() { # as the suite does: in the background, the pods given 1 s (not 30 s) to stop
    k delete namespace "$1" --wait=false >/dev/null 2>&1 || true
    k -n "$1" delete pods --all --grace-period=1 --wait=false >/dev/null 2>&1 || true
}

new_ns() { # a fresh namespace for one scenario (the previous one goes), labelled like the suite's
    if ((${#namespaces[@]})); then remove_ns "${namespaces[-1]}"; fi
    ns=labsh-$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
    k create namespace "$ns" >/dev/null
    k label namespace "$ns" app.kubernetes.io/managed-by=kubelab-script >/dev/null
    namespaces+=("$ns")
}

create() { # create the seed's object(s) from manifests/, images filled in
    local f
    for f in "$@"; do
        sed "s#WEB_IMAGE#$web#; s#REDIS_IMAGE#$redis#" "$manifests/$f.yml"
        echo ---
    done | k -n "$ns" create -f - >/dev/null
}

ready() { k -n "$ns" wait --for=condition=Ready --timeout=$wait "$@" >/dev/null; }

poll() { # poll WHAT EXPECTED CMD...: until CMD prints EXPECTED (kubectl wait cannot count)
    local what=$1 expected=$2 i got
    shift 2
    for i in $(seq 480); do
        got=$("$@") && [[ $got == "$expected" ]] && return
        sleep 0.25
    done
    fail "$what: expected $expected, last saw $got"
}

endpoints() { # wait until service $1 has $2 ready endpoint addresses
    poll "ready endpoints of $1" "$2" ready_endpoints "$1"
}

ready_endpoints() {
    k -n "$ns" get endpointslice -l kubernetes.io/service-name="$1" \
        -o jsonpath='{range .items[*].endpoints[*]}{.conditions.ready}{"\n"}{end}' | grep -c true
}

node_of() { k -n "$ns" get pod "$1" -o jsonpath='{.spec.nodeName}'; }

curl_pod_from_node() { # the seed: ssh to the web pod's node, curl the pod's address
    local ip
    ip=$(k -n "$ns" get pod web -o jsonpath='{.status.podIP}')
    $on_node "$(node_of web)" curl -sS --max-time 10 "http://$ip:5000/"
}

node_urls() { # the web NodePort on every node's address
    local port
    port=$(k -n "$ns" get svc web -o jsonpath='{.spec.ports[0].nodePort}')
    k get nodes -o jsonpath='{range .items[*]}{.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}' |
        sed "s#.*#http://&:$port/#"
}

web_can_reach_redis() { # kube-proxy has programmed the redis Service for the web pod
    local i
    for i in $(seq 60); do
        k -n "$ns" exec web -- python3 -c \
            'import socket; socket.create_connection(("redis", 6379), 2).close()' 2>/dev/null && return
        sleep 0.25
    done
    fail "web pod cannot connect to redis:6379"
}

# ---- Prepare the lab environment ---------------------------------------------------------------
cluster_scenarios() {
    say "Every node of the cluster is Ready"
    local states workers
    states=$(k get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')
    grep -qv '=True$' <<<"$states" && fail "nodes not Ready: $states"
    workers=$(k get nodes -l '!node-role.kubernetes.io/control-plane' -o name | wc -l)
    ((workers >= 2)) || fail "only $workers worker nodes"

    say "The control-plane node takes no workload"
    local cp
    cp=$(k get nodes -l node-role.kubernetes.io/control-plane -o jsonpath='{range .items[*]}{.metadata.name} {.spec.unschedulable} {.spec.taints[*].effect}{"\n"}{end}')
    [[ -n $cp ]] || fail "no control-plane node"
    grep -Evq 'NoSchedule|NoExecute| true' <<<"$cp" && fail "control plane takes workload: $cp"

    say "The API server and every kubelet report their versions"
    local server minor
    server=$(k version -o json | sed -n 's/.*"gitVersion": "\(v[0-9.]*\).*/\1/p' | tail -1)
    [[ $server =~ ^v1\.([0-9]+)\. ]] || fail "server version $server"
    minor=${BASH_REMATCH[1]}
    for v in $(k get nodes -o jsonpath='{.items[*].status.nodeInfo.kubeletVersion}'); do
        [[ $v =~ ^v1\.([0-9]+)\. ]] && ((BASH_REMATCH[1] <= minor && BASH_REMATCH[1] >= minor - 3)) ||
            fail "kubelet $v vs server $server"
    done
}

# ---- Create pods -------------------------------------------------------------------------------
pod_scenario() { # $1: redis or web
    say "The $1 pod runs on a worker node, in that node's container runtime"
    new_ns
    if [[ $1 == redis ]]; then create db-pod; else create web-pod; fi
    ready "pod/$1"
    local node id
    node=$(node_of "$1")
    k get node "$node" -o jsonpath='{.metadata.labels}' | grep -q node-role.kubernetes.io/control-plane &&
        fail "$1 runs on control-plane node $node"
    id=$(k -n "$ns" get pod "$1" -o jsonpath='{.status.containerStatuses[0].containerID}')
    $on_node "$node" ctr tasks ls | grep -q "^${id#containerd://} .*RUNNING" ||
        fail "container $id of $1 is not running in $node's runtime"
}

# ---- Create services ---------------------------------------------------------------------------
services_scenarios() {
    local got
    say "The web pod cannot resolve redis before its Service exists"
    new_ns
    create db-pod web-pod
    ready pod/redis pod/web
    got=$(curl_pod_from_node)
    [[ $got == "Error -2 connecting to redis:6379. Name or service not known." ]] || fail "answer: $got"

    say "The web pod counts visits once the redis Service exists"
    new_ns
    create db-pod web-pod
    ready pod/redis pod/web
    create db-svc
    endpoints redis 1
    web_can_reach_redis
    got=$(curl_pod_from_node; curl_pod_from_node)
    [[ $got == $'Hello Container World! I have been seen 1 times.\nHello Container World! I have been seen 2 times.' ]] ||
        fail "answers: $got"

    say "The web Service answers on every node, and the counter continues across nodes"
    new_ns
    create db-pod web-pod
    ready pod/redis pod/web
    create db-svc web-svc
    endpoints redis 1
    endpoints web 1
    web_can_reach_redis
    local url counts=() i
    for url in $(node_urls); do
        for i in $(seq 60); do # each node's kube-proxy programs the new port on its own schedule
            got=$(curl -sS --max-time 5 "$url" 2>/dev/null) && break
            sleep 0.25
        done
        [[ $got =~ seen\ ([0-9]+)\ times ]] || fail "$url answered: $got"
        counts+=("${BASH_REMATCH[1]}")
    done
    for ((i = 1; i < ${#counts[@]}; i++)); do
        ((counts[i] == counts[i - 1] + 1)) || fail "counts ${counts[*]}"
    done
}

# ---- Scale pods with a ReplicationController ---------------------------------------------------
replication_scenario() {
    say "The ReplicationController adopts the web pod and creates only the missing two"
    new_ns
    create db-pod web-pod
    ready pod/redis pod/web
    create web-rc
    k -n "$ns" wait rc/web --for=jsonpath='{.status.readyReplicas}'=3 --timeout=$wait >/dev/null
    [[ $(k -n "$ns" get pods -l app=web -o name | wc -l) == 3 ]] || fail "not 3 web pods"
    [[ $(k -n "$ns" get pod web -o jsonpath='{.metadata.ownerReferences[?(@.controller==true)].kind}/{.metadata.ownerReferences[?(@.controller==true)].name}') == ReplicationController/web ]] ||
        fail "web pod not owned by the RC"
    [[ $(k -n "$ns" get pods -l app=web -o jsonpath='{range .items[?(@.metadata.generateName=="web-")]}{.metadata.name}{"\n"}{end}' | wc -l) == 2 ]] ||
        fail "the RC did not create exactly 2 pods"
}

# ---- Update the web app without an outage ------------------------------------------------------
rc_wait() { k -n "$ns" wait "rc/$1" --timeout=$wait --for=jsonpath="{.status.$2}"="$3" >/dev/null; }

new_rc() { # the web RC with 2.0, named $1, $2 replicas, its pods labelled deployment=v2
    sed "s#WEB_IMAGE#$web2#" "$manifests/web-rc.yml" | k patch --local -f - --type=merge -o json -p \
        "{\"metadata\":{\"name\":\"$1\"},\"spec\":{\"replicas\":$2,\"selector\":{\"deployment\":\"v2\"},\"template\":{\"metadata\":{\"labels\":{\"deployment\":\"v2\"}}}}}"
}

rolling_update_rc() { # kubectl rolling-update's algorithm (removed in 1.18), step by step
    local old new=web-v2 replicas=3 up=0 down=3 pod
    old=$(k -n "$ns" get rc web -o jsonpath='{.spec.template}' | sha256sum | cut -c1-32)
    k -n "$ns" patch rc web --type=merge -p "{\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"deployment\":\"$old\"}}}}}" >/dev/null
    for pod in $(k -n "$ns" get pods -l app=web -o name); do
        k -n "$ns" label "$pod" deployment="$old" >/dev/null
    done
    k -n "$ns" patch rc web --type=merge -p "{\"spec\":{\"selector\":{\"deployment\":\"$old\"}}}" >/dev/null
    new_rc "$new" 0 | k -n "$ns" create -f - >/dev/null
    while ((up < replicas || down > 0)); do
        if ((up < replicas)); then
            up=$((up + 1)); k -n "$ns" scale rc "$new" --replicas=$up >/dev/null
            rc_wait "$new" readyReplicas "$up"
        fi
        if ((down > 0)); then
            down=$((down - 1)); k -n "$ns" scale rc web --replicas=$down >/dev/null
            rc_wait web replicas "$down"
        fi
    done
    k -n "$ns" delete rc web --cascade=foreground >/dev/null
    k -n "$ns" delete rc "$new" --cascade=orphan >/dev/null
    new_rc web "$replicas" | k -n "$ns" create -f - >/dev/null
    rc_wait web readyReplicas 3
    echo "deployment=$old"
}

rolling_update_deployment() {
    local old
    old=$(k -n "$ns" get rs -o jsonpath='{.items[0].metadata.labels.pod-template-hash}')
    k -n "$ns" set image deployment/web web="$web2" >/dev/null
    k -n "$ns" rollout status deployment/web --timeout=$wait >/dev/null
    echo "pod-template-hash=$old"
}

rolling_update_scenario() { # $1: ReplicationController or Deployment
    say "Moving web from 1.0 to 2.0 under a $1 drops no request"
    new_ns
    create db-pod
    ready pod/redis
    create db-svc web-svc
    endpoints redis 1
    if [[ $1 == ReplicationController ]]; then
        create web-pod
        ready pod/web
        create web-rc
        rc_wait web readyReplicas 3
    else
        create web-deployment
        k -n "$ns" rollout status deployment/web --timeout=$wait >/dev/null
    fi
    endpoints web 3
    local urls url
    urls=$(node_urls)
    for url in $urls; do # every node's kube-proxy serves the port before traffic starts
        for _ in $(seq 120); do curl -sf --max-time 5 -o /dev/null "$url" && break; sleep 0.25; done
    done
    # The pod watch: every event, to count pods (not shutting down) and ready pods at each moment.
    "$kubectl" -n "$ns" get pods -l app=web -w --output-watch-events \
        -o jsonpath='{.type}|{.object.metadata.name}|{.object.metadata.deletionTimestamp}|{.object.status.conditions[?(@.type=="Ready")].status}{"\n"}' \
        >"$work/watch" &
    local watcher=$!
    # The traffic: one curl per node address, a new connection per request, every one recorded.
    local i=0 pids=()
    for url in $urls; do
        i=$((i + 1))
        awk -v url="$url" -v n=$((rate * 600)) 'BEGIN { for (; n > 0; n--) print "url = " url }' >"$work/urls$i"
        curl -s --rate "$rate/s" --max-time 2 -H 'Connection: close' -K "$work/urls$i" \
            -w '\t%{http_code}\t%header{x-app-version}\t%header{x-hostname}\n' >"$work/traffic$i" 2>/dev/null &
        pids+=($!)
    done
    local old
    if [[ $1 == ReplicationController ]]; then old=$(rolling_update_rc); else old=$(rolling_update_deployment); fi
    # Traffic until every old web pod has exited.
    k -n "$ns" wait pod -l "$old" --for=delete --timeout=$wait >/dev/null 2>&1 ||
        poll "old web pods to exit" "" k -n "$ns" get pods -l "$old" -o name
    say "  last old pod gone"
    kill "${pids[@]}" "$watcher" 2>/dev/null || true
    wait "${pids[@]}" "$watcher" 2>/dev/null || true

    local failed total counts
    cat "$work"/traffic* >"$work/traffic"
    total=$(grep -c $'^\t' "$work/traffic" || true)
    failed=$(grep $'^\t' "$work/traffic" | grep -vc $'^\t200\t' || true)
    say "  $total requests, $failed failed"
    ((total > 0 && failed == 0)) || fail "$failed of $total requests failed during the update"
    # The first 3 events are the watch's initial listing of the 3 running pods.
    read -r most fewest < <(awk -F'|' -v listed=3 '
        { live[$2] = ($1 != "DELETED" && $3 == ""); ready[$2] = live[$2] && $4 == "True" }
        NR >= listed { n = 0; r = 0; for (p in live) { n += live[p]; r += ready[p] }
          if (NR == listed || n > most) most = n; if (NR == listed || r < fewest) fewest = r }
        END { print most, fewest }' "$work/watch")
    ((most <= 4)) || fail "the watch saw $most web pods at once"
    ((fewest >= 3)) || fail "the watch saw only $fewest ready web pods"
    [[ $(k -n "$ns" get pods -l app=web -o jsonpath='{.items[*].spec.containers[0].image}') == "$web2 $web2 $web2" ]] ||
        fail "not all 3 web pods run $web2"
    local after hosts max_during
    after=$(for i in $(seq 20); do for url in $urls; do
        curl -sS --max-time 5 -w '\t%header{x-app-version}\t%header{x-hostname}\n' "$url"
    done; done)
    # Each answer is its body's line, then a line of a tab, the version and the hostname.
    awk -F'\t' '/^\t/ { if ($2 != "2.0" || body !~ ("my hostname is " $3 "\\.$")) bad++; body = ""; next }
        { body = $0 } END { exit bad > 0 }' <<<"$after" ||
        fail "an answer after the update is not from 2.0 naming its pod's hostname"
    counts=$(grep -o 'seen [0-9]* times' "$work/traffic" | cut -d' ' -f2 | sort -n)
    [[ -z $(uniq -d <<<"$counts") ]] || fail "counts answered twice during the update"
    max_during=$(tail -1 <<<"$counts")
    (($(grep -o 'seen [0-9]* times' <<<"$after" | cut -d' ' -f2 | sort -n | head -1) > max_during)) ||
        fail "the counter went backwards"
    hosts=$(awk -F'\t' '/^\t/ { print $3 }' <<<"$after" | sort -u | tr '\n' ' ')
    [[ $hosts == "$(k -n "$ns" get pods -l app=web -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | sort | tr '\n' ' ')" ]] ||
        fail "answers came from $hosts only"
}

# ---- Clear the environment ---------------------------------------------------------------------
clear_scenario() {
    say "Deleting the services, the ReplicationController and the pods leaves nothing behind"
    new_ns
    create db-pod web-pod
    ready pod/redis pod/web
    create db-svc web-svc web-rc
    k -n "$ns" wait rc/web --for=jsonpath='{.status.readyReplicas}'=3 --timeout=$wait >/dev/null
    k -n "$ns" delete services web
    k -n "$ns" delete services redis
    k -n "$ns" delete rc web
    k -n "$ns" delete pod redis
    k -n "$ns" delete pod web --ignore-not-found
    poll "nothing of the lab left" "" k -n "$ns" get pods,services,rc,deployments,replicasets,endpointslices -o name
}

cluster_scenarios
pod_scenario redis
pod_scenario web
services_scenarios
replication_scenario
rolling_update_scenario ReplicationController
rolling_update_scenario Deployment
clear_scenario
say "every scenario passed; deleting ${#namespaces[@]} namespaces"
