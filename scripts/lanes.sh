# Runs commands side by side, one per core, for scripts whose steps are
# single-threaded (Miri). Sourced:
#   lane NAME TARGET_DIR COMMAND...   start COMMAND with CARGO_TARGET_DIR set,
#                                     its output kept in TARGET_DIR/lane-NAME.log
#   lanes_wait                        wait for every lane, print each log in
#                                     order, and fail if any lane failed
lane_names=()
lane_pids=()
lane_logs=()

lane() {
    local name=$1 dir=$2
    shift 2
    mkdir -p "$dir"
    local log=$dir/lane-$name.log
    CARGO_TARGET_DIR=$dir "$@" > "$log" 2>&1 &
    lane_names+=("$name")
    lane_pids+=($!)
    lane_logs+=("$log")
}

lanes_wait() {
    local i status failed=0
    for i in "${!lane_pids[@]}"; do
        status=0
        wait "${lane_pids[$i]}" || status=$?
        echo "--- lane ${lane_names[$i]} (exit $status)"
        cat "${lane_logs[$i]}"
        [ "$status" -eq 0 ] || failed=1
    done
    lane_names=(); lane_pids=(); lane_logs=()
    return $failed
}
