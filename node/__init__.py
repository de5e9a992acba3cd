"""The Rakuichi node: storage, federation API, replication, peers, configuration and CLI."""

__version__ = "0.1.0"
