"""Live reload: notice edits to config.toml and peers.toml and read them again."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from node.config import FederationConfig, load_config
from node.federation.peersfile import SeedPeer, read_peers
from node.tomlfile import ConfigError

log = logging.getLogger("rakuichi.federation")


@dataclass(frozen=True)
class Reloaded:
    federation: FederationConfig
    seeds: list[SeedPeer]


class ConfigWatcher:
    """Reads the federation settings and the seed peers again when either file changed."""

    def __init__(self, home: Path, config_path: Path, peers_path: Path) -> None:
        self.home = home
        self.config_path = config_path
        self.peers_path = peers_path
        self._mtimes: tuple[float, float] = (0.0, 0.0)

    def changed(self, force: bool = False) -> Reloaded | None:
        """The fresh settings when a file changed since the last call (or ``force``), else None.

        A file that does not parse is logged and ignored: the settings in force stay.
        """
        try:
            mtimes = (self.config_path.stat().st_mtime, self.peers_path.stat().st_mtime)
        except OSError:
            return None
        if mtimes == self._mtimes and not force:
            return None
        self._mtimes = mtimes
        try:
            fresh = load_config(self.home)
            seeds = read_peers(self.peers_path)
        except ConfigError as exc:
            log.error("configuration not reloaded: %s", exc)
            return None
        return Reloaded(fresh.federation, seeds)
