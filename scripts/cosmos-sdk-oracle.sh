#!/usr/bin/env bash
# The Cosmos DB stand-in checked against Microsoft's azure-cosmos SDK: makes a virtualenv in
# .engram/cosmos-sdk-venv (azure-cosmos 4.17.1, or the newest 4.x pip finds if that one is gone),
# starts Tests/CosmosStandIn/cosmos_standin.py on a free port with a pre-created legacy container,
# and runs Tests/CosmosStandIn/sdk_oracle.py against it (one PASS/FAIL line per check; non-zero
# exit on a FAIL). The SDK's requests are logged to .engram/cosmos-sdk-requests.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.engram/cosmos-sdk-venv
want=4.17.1
if [ ! -x "$venv/bin/python" ]; then
  mkdir -p .engram
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check "azure-cosmos==$want" || {
  echo "cosmos-sdk-oracle: azure-cosmos $want not found, installing the newest 4.x" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "azure-cosmos>=4,<5"
}
echo "cosmos-sdk-oracle: azure-cosmos $("$venv/bin/python" -c 'from azure.cosmos import __version__; print(__version__)')"

log=.engram/cosmos-sdk-requests.jsonl
out="$(mktemp)"
: >"$log"
python3 Tests/CosmosStandIn/cosmos_standin.py --port 0 --log-requests "$log" \
  --precreate 'legacy={"partitionKey": {"paths": ["/project_id"], "kind": "Hash"}}' >"$out" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 100); do
  grep -q '^listening ' "$out" && break
  kill -0 "$pid" 2>/dev/null || { echo "cosmos-sdk-oracle: the stand-in did not start" >&2; exit 1; }
  sleep 0.1
done
port="$(awk '/^listening /{print $2}' "$out")"
[ -n "$port" ] || { echo "cosmos-sdk-oracle: the stand-in did not say its port" >&2; exit 1; }
timeout 300 "$venv/bin/python" Tests/CosmosStandIn/sdk_oracle.py --endpoint "http://127.0.0.1:$port"
