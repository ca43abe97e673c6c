#!/usr/bin/env bash
# Serve the registered model, show one /classify, /explain and /metadata call, then keep serving.
#   PORT=3000 bash serving/demo.sh          (make demo: train + register first)
#   PORT=3000 bash serving/demo.sh --check-port   (only check that the port is free)
# Ctrl-C stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
export BENTOML_DO_NOT_TRACK=true HF_HUB_OFFLINE=1
PORT="${PORT:-3000}"
BENTOML="${BENTOML:-.venv/bin/bentoml}"
URL="http://127.0.0.1:${PORT}"
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
if port_in_use; then
  echo "error: port $PORT is already in use; stop what serves there, or pick another: make demo PORT=$((PORT + 1))" >&2
  exit 2
fi
[ "${1:-}" = "--check-port" ] && exit 0  # make demo checks before it trains

LOG="$(mktemp -t arabic-news-serve.XXXXXX.log)"

"$BENTOML" serve serving.service:ArabicNewsTopics --host 127.0.0.1 --port "$PORT" >"$LOG" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 180); do
  if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "the server stopped; its log ($LOG):" >&2; tail -40 "$LOG" >&2; exit 1
  fi
  [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$URL/readyz" || true)" = 200 ] && break
  sleep 1
done
[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$URL/readyz" || true)" = 200 ] \
  || { echo "not ready after 180 s; log ($LOG):" >&2; tail -40 "$LOG" >&2; exit 1; }

show() { echo; echo "\$ $1"; shift; curl -s "$@"; echo; }
show "POST /classify" "$URL/classify" -H 'Content-Type: application/json' -d '{
  "texts": ["يستعد المغرب لتنظيم لقاء دولي للتحالف العالمي ضد داعش بمشاركة وزير الخارجية الأمريكي.",
            "فاز المنتخب المغربي على نظيره البرازيلي بهدفين نظيفين في مباراة ودية."],
  "titles": ["المغرب يستضيف اجتماع التحالف الدولي ضد داعش", null]}'
show "POST /explain" "$URL/explain" -H 'Content-Type: application/json' \
  -d '{"text": "أدانت وزارة الخارجية الهجوم الإرهابي الذي استهدف نقطة أمنية.", "top_k": 3}'
show "GET /metadata" "$URL/metadata"
echo
echo "serving on $URL (OpenAPI: $URL/docs.json, log: $LOG); Ctrl-C to stop"
wait "$SERVER"
