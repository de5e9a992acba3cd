"""Checking a posted bundle off the event loop, capped, and never a 500 for hostile JSON.

The check runs in the node's verifier workers (``Verifier.run``): other requests keep being
served while it runs. A bundle is capped in bytes by the body limits (``bundle_max_bytes``) and
here in records (``bundle_max_records``); whatever a body does to the parser (not JSON, too
deeply nested, wrong types) is answered 400 ``bundle``.
"""

from __future__ import annotations

from typing import Any

from protocol import BundleError, read_bundle, verify_bundle


def check_bundle(data: bytes, now_ms: int, max_records: int) -> dict[str, Any] | str:
    """Runs in a worker process: the report's JSON, or (a string) why ``data`` is refused."""
    try:
        _, wires = read_bundle(data)
        if len(wires) > max_records:
            return f"bundle holds {len(wires)} records, over this node's {max_records}"
        return verify_bundle(data, now_ms).to_json()
    except BundleError as exc:
        return str(exc)
    except (RecursionError, MemoryError, ValueError, TypeError, KeyError, AttributeError) as exc:
        return f"not a bundle: {type(exc).__name__}"
