#!/usr/bin/env bash
# `make demo`: the embedded default on one machine — the three simulators, a SQLite ledger and
# `airflow standalone` (LocalExecutor, SQLite) with this project's DAGs, all on 127.0.0.1.
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$ROOT/.venv/bin:$PATH"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.airflow}"
PORT="${DEMO_PORT:-8080}"
SIM_PORTS=(--cin7core-port "${DEMO_CIN7CORE_PORT:-8701}" --peoplevox-port "${DEMO_PEOPLEVOX_PORT:-8702}"
           --bluecherry-port "${DEMO_BLUECHERRY_PORT:-8703}")
SMTP_PORT="${DEMO_SMTP_PORT:-8725}"
SLACK_PORT="${DEMO_SLACK_PORT:-8726}"
mkdir -p "$AIRFLOW_HOME"

export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$PORT"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$PORT/execution/"
export AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME=1
# SQLite takes one writer at a time: with Airflow's default of 32 task processes at once, the first runs of every
# DAG all report to the API server together, and a component that waits too long for the write lock dies
# ("database is locked"; standalone restarts nothing). Eight at a time keep a 2-core machine busy without that.
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-8}"
# Everything shares one machine here: a busy API server can take longer than the 5 s default to answer a task's
# start call, and the task's retry of that call is refused, failing a try of a healthy task.
export AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT="${AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT:-30}"
# The scheduler, DAG processor and triggerer wait a minute for that write lock instead of Python's 5 s (the API
# server keeps 5 s: see erp_wms_sync/airflow/metadata_sqlite.py).
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS=erp_wms_sync.airflow.metadata_sqlite.SYNC
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC=erp_wms_sync.airflow.metadata_sqlite.ASYNC
export ERP_WMS_LEDGER_URL="sqlite:///$AIRFLOW_HOME/erp_wms_ledger.db"
export PYTHONPATH="$ROOT/scripts/localhost_only${PYTHONPATH:+:$PYTHONPATH}"
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

PIDS=()
kill_strays() {  # Airflow processes of this demo that left its process groups (a scheduler's task workers...)
  local proc pid
  for proc in /proc/[0-9]*; do
    pid=${proc#/proc/}
    [ "$pid" = "$$" ] && continue
    tr '\0' '\n' < "$proc/cmdline" 2>/dev/null | grep -q airflow || continue
    tr '\0' '\n' < "$proc/environ" 2>/dev/null | grep -qxF "AIRFLOW_HOME=$AIRFLOW_HOME" || continue
    kill -KILL "$pid" 2>/dev/null || true
  done
}
cleanup() {
  trap - INT TERM EXIT
  echo; echo "Stopping the demo..."
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 30); do
    alive=0; for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break; sleep 0.5
  done
  for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  kill_strays
  echo "Stopped."
}
trap cleanup INT TERM EXIT

wait_for_port() {  # host port seconds what
  for _ in $(seq 1 "$3"); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 1
  done
  echo "error: $4 did not start listening on $1:$2 within $3 s (see $AIRFLOW_HOME/*.log)" >&2
  exit 1
}

echo "==> Simulators (Cin7 Core, Peoplevox, BlueCherry) on 127.0.0.1"
rm -f "$AIRFLOW_HOME/simulators.json"
setsid erp-wms-sync sim up "${SIM_PORTS[@]}" --write-json "$AIRFLOW_HOME/simulators.json" \
  > "$AIRFLOW_HOME/simulators.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 30); do [ -s "$AIRFLOW_HOME/simulators.json" ] && break; sleep 0.5; done
[ -s "$AIRFLOW_HOME/simulators.json" ] || { cat "$AIRFLOW_HOME/simulators.log"; exit 1; }
eval "$(python -m erp_wms_sync.demo connections "$AIRFLOW_HOME/simulators.json")"

echo "==> A trading day: catalogue and stock in the ERPs, then orders arriving over the next minutes"
SCENARIO=(--simulators "$AIRFLOW_HOME/simulators.json" --state "$AIRFLOW_HOME/scenario-state.json"
          --seed "${DEMO_SEED:-7}")
python -m erp_wms_simulators scenario seed "${SCENARIO[@]}" --skus "${DEMO_SKUS:-150}" \
  --start "$(date -u +%Y-%m-%dT%H:%M:%S+00:00)" > "$AIRFLOW_HOME/scenario-seed.log" 2>&1 \
  || { tail -20 "$AIRFLOW_HOME/scenario-seed.log"; exit 1; }

echo "==> Alert sinks (SMTP :$SMTP_PORT, Slack webhook :$SLACK_PORT) writing to $AIRFLOW_HOME/alerts/"
setsid python scripts/alert_sinks.py "$AIRFLOW_HOME/alerts" "$SMTP_PORT" "$SLACK_PORT" \
  > "$AIRFLOW_HOME/alert_sinks.log" 2>&1 &
PIDS+=($!)
export AIRFLOW_CONN_ERP_WMS_SMTP="{\"conn_type\":\"smtp\",\"host\":\"127.0.0.1\",\"port\":$SMTP_PORT,\"extra\":{\"disable_ssl\":true,\"disable_tls\":true,\"from_email\":\"erp-wms-sync@demo.example\",\"timeout\":5,\"retry_limit\":0}}"
export AIRFLOW_CONN_ERP_WMS_SLACK="{\"conn_type\":\"slackwebhook\",\"host\":\"http://127.0.0.1:$SLACK_PORT/services\",\"password\":\"T000/B000/demo\"}"

echo "==> Ledger and Airflow metadata database"
erp-wms-sync ledger upgrade
airflow db migrate > "$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
# SQLite's default rollback journal lets one reader block the scheduler's writes ("database is locked", which kills
# standalone's scheduler); write-ahead logging lets readers and the one writer go on together. Kept in the file.
[ ! -f "$AIRFLOW_HOME/airflow.db" ] || python - "$AIRFLOW_HOME/airflow.db" <<'PY'
import sqlite3, sys
with sqlite3.connect(sys.argv[1]) as db:
    mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
if mode.lower() != "wal":
    sys.exit(f"could not switch {sys.argv[1]} to write-ahead logging (journal mode {mode})")
PY
erp-wms-sync pools > "$AIRFLOW_HOME/pools.json"
airflow pools import "$AIRFLOW_HOME/pools.json" > /dev/null
erp-wms-sync config validate include/integrations/*.yaml

echo "==> Orders: a first day of ${DEMO_ORDERS:-40} now, then ${DEMO_ORDERS:-40} more arriving, one simulated hour every ${DEMO_PACE:-10} s"
python -m erp_wms_simulators scenario day "${SCENARIO[@]}" --orders "${DEMO_ORDERS:-40}" --pace 0 \
  > "$AIRFLOW_HOME/scenario-day1.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/scenario-day1.log"; exit 1; }
setsid python -m erp_wms_simulators scenario day "${SCENARIO[@]}" --orders "${DEMO_ORDERS:-40}" \
  --pace "${DEMO_PACE:-10}" > "$AIRFLOW_HOME/scenario-day2.log" 2>&1 &
PIDS+=($!)

echo "==> airflow standalone (API/UI on http://127.0.0.1:$PORT)"
setsid airflow standalone > "$AIRFLOW_HOME/standalone.log" 2>&1 &
PIDS+=($!)
wait_for_port 127.0.0.1 "$PORT" 120 "the Airflow API server"
echo "==> Callback subscriptions (Peoplevox despatches, Cin7 Core authorised orders) to the webhook receiver"
erp-wms-sync subscriptions sync > "$AIRFLOW_HOME/subscriptions.log" 2>&1 \
  || { cat "$AIRFLOW_HOME/subscriptions.log"; exit 1; }
PASSWORD=$(python -c "import json,sys; print(json.load(open(sys.argv[1])).get('admin',''))" \
  "$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated" 2>/dev/null || true)

cat <<INFO

  erp-wms-sync demo is running.
    Airflow UI : http://127.0.0.1:$PORT
    Login      : admin / ${PASSWORD:-"(see $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated)"}
    DAGs       : <integration>__item_master_sync, __order_release, __dispatch_confirmation, __inventory_sync,
                 __returns, __reconciliation, __exception_housekeeping, __exception_digest and
                 __webhook_subscriptions for northwind (Cin7 Core <-> Peoplevox) and bluebird (BlueCherry <-> Peoplevox)
    Callbacks  : http://127.0.0.1:$PORT/erp-wms/hooks/... (Peoplevox despatches, Cin7 Core authorised orders)
    Simulators : $(python -c "import json,sys; print(', '.join(f'{k} {v[\"url\"]}' for k,v in json.load(open(sys.argv[1])).items()))" "$AIRFLOW_HOME/simulators.json")
    Ledger     : $ERP_WMS_LEDGER_URL
    Alerts     : $AIRFLOW_HOME/alerts/{email,slack}.jsonl
    Logs       : $AIRFLOW_HOME/standalone.log

  The DAGs start unpaused; each runs its latest window at once, then on its schedule. Orders keep
  arriving for a few minutes: some for a style new to the warehouse (they wait for item master sync),
  some from an unmapped location (held as an exception: the order_release run that first holds one
  turns red and alerts once). As the warehouse despatches, Peoplevox calls back and the dispatch DAG
  confirms each despatch in Cin7 Core within seconds (BlueCherry: in batches). Press Ctrl-C to stop everything.
INFO

wait "${PIDS[3]}"
