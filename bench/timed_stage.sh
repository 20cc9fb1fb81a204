# Sourced by the chain scripts: `stage NAME COMMAND...` runs the command and appends its wall time
# to $OUT/times.txt.
stage() {
  local name=$1 start=$SECONDS
  shift
  "$@"
  echo "$name $((SECONDS - start)) s" | tee -a "$OUT/times.txt"
}
