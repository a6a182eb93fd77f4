#!/usr/bin/env bash
# The main job, from a fresh machine: set up, start the server on the embedded defaults
# (Milvus Lite in ./vigil-data, packaged models), stream a sample video through it, search it.
#   scripts/demo.sh          # stops the server at the end
#   scripts/demo.sh --keep   # leaves it running (its address is printed)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

data="${VIGIL_DATA_DIR:-vigil-data}"
mkdir -p "$data"
sample=$(.venv/bin/python scripts/sample_media.py "$data/sample")
echo "demo: sample video $sample (3 photos from scikit-image, espeak-ng speech)"

log="$data/server.log"
.venv/bin/vigil-server --listen "${VIGIL_LISTEN:-127.0.0.1:0}" --data-dir "$data" >"$log" 2>&1 &
server=$!
[ "${1:-}" = "--keep" ] || trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
    address=$(sed -n 's/^vigil-server listening on //p' "$log")
    [ -n "$address" ] && break
    kill -0 $server 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.1
done
echo "demo: server on $address, loading models (log: $log)"
vigil=(.venv/bin/vigil --server "$address")
"${vigil[@]}" health --wait 300

# Moderation: flag the cat photo and watch for a spoken phrase; the ingest below prints ALERT lines.
photo="$data/flagged-cat.jpg"
.venv/bin/python -c "import sys; from PIL import Image; from scripts.sample_media import skimage_photo
Image.fromarray(skimage_photo('chelsea')).save(sys.argv[1])" "$photo"
id_of() { .venv/bin/python -c "import json, sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
# A fresh store has too little speech to calibrate on, hence the low threshold (see docs/moderation.md).
echo "demo: vigil bank add $photo --bank demo --label \"flagged cat\""
echo "demo: vigil query add \"the lighthouse keeper painted the door orange\" --threshold 2.5"
item=$("${vigil[@]}" bank add "$photo" --bank demo --label "flagged cat" --archive-window -1 --json | id_of item_id)
query=$("${vigil[@]}" query add "the lighthouse keeper painted the door orange" --threshold 2.5 --label lighthouse \
    --json | id_of query_id)
forget_flags() { "${vigil[@]}" bank remove "$item" >/dev/null; "${vigil[@]}" query remove "$query" >/dev/null; }

stream="demo-$(date +%s)"
"${vigil[@]}" ingest "$sample" --stream "$stream"
forget_flags
for query in "a cat" "a cup of coffee" "a rocket" "what did the lighthouse keeper paint"; do
    echo
    echo "demo: vigil search \"$query\" --top-k 3"
    "${vigil[@]}" search "$query" --top-k 3 --stream "$stream"
done
if [ "${1:-}" = "--keep" ]; then
    echo "demo: server still running on $address (pid $server)"
fi
