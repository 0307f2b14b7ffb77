# processes.sh - sourced by run-demo.sh and run-cluster.sh: the processes a
# demo starts (append each pid to `pids`) and its data directory, all
# stopped and removed by pid when the demo ends (Ctrl-C, an error, or the
# end of the script). Set `demo_name` and `data` before sourcing.
pids=()

stop_all() {
  trap - INT TERM EXIT
  echo
  echo "$demo_name: stopping ${#pids[@]} processes"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$data"
}
trap stop_all INT TERM EXIT
