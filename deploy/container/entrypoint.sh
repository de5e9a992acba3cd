#!/bin/sh
# Create the node's home on first start, then run it.
#   RAKUICHI_URL               the public URL peers use (the reverse proxy's)
#   RAKUICHI_TRUSTED_PROXIES   addresses/networks whose X-Forwarded-For is believed
#   RAKUICHI_PASSPHRASE        when set, the keys are encrypted with it (and unlocked with it)
set -eu
if [ ! -f "$RAKUICHI_HOME/config.toml" ]; then
  rakuichi init --home "$RAKUICHI_HOME" --name "$RAKUICHI_NAME" \
    --listen "$RAKUICHI_LISTEN" --url "${RAKUICHI_URL:-}"
fi
if [ -n "${RAKUICHI_TRUSTED_PROXIES:-}" ]; then
  python - "$RAKUICHI_HOME/config.toml" "$RAKUICHI_TRUSTED_PROXIES" <<'PY'
import sys
from pathlib import Path

from node.tomlfile import edited_toml

with edited_toml(Path(sys.argv[1])) as document:
    document["node"]["trusted_proxies"] = sys.argv[2].replace(",", " ").split()
PY
fi
exec rakuichi run --home "$RAKUICHI_HOME" --log-format json "$@"
