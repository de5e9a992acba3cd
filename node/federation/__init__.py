"""Best-effort peer-to-peer replication: push with durable per-peer cursors, anti-entropy,
peers learned without a directory, and signed node-to-node requests."""
