"""The member's wallet: one PKCS#8 key file, encrypted unless the member opts out, and beside it
``WALLET.pub`` (the wallet's did:key, public) so that ``member whoami`` needs no passphrase.

Passphrase rules of ``member init``: ``--no-passphrase`` makes an unencrypted wallet; a
``--passphrase-file`` or ``RAKUICHI_PASSPHRASE`` is used when given (an empty one is refused);
otherwise, with a terminal attached, the passphrase is asked twice without echo; without a
terminal the wallet is unencrypted and the command says so.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path

from crypto import (
    InvalidDid,
    KeyFileError,
    SigningKey,
    did_from_raw,
    load_signing_key,
    raw_from_did,
)
from crypto import save_signing_key as _save_key
from node.cli.common import CliError, read_passphrase_file
from node.config import passphrase_from_env
from node.keyring import KeyringError, read_events
from protocol import Record

Prompt = Callable[[str], str]


def records_dir(wallet: Path) -> Path:
    """``WALLET.records/``: records the member keeps (the alliances they co-signed)."""
    return wallet.with_name(wallet.name + ".records")


def keep_record(wallet: Path, record: Record) -> Path:
    """Keep a record's wire bytes in the wallet (``WALLET.records/{id}.bin``)."""
    path = records_dir(wallet) / f"{record.id.hex()}.bin"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(record.wire)
    except OSError as exc:
        raise CliError(f"cannot keep {path}: {exc.strerror}") from None
    return path


def public_file(wallet: Path) -> Path:
    """``WALLET.pub``: the member's identity (a did:key) on its first line, no secret; after a
    rotation, a second line ``key DID`` names the signing key the wallet holds now."""
    return wallet.with_name(wallet.name + ".pub")


def write_public_file(wallet: Path, identity: str, signing: str) -> None:
    """Rewrite ``WALLET.pub`` (after ``member keys rotate``: the identity stays, the key moves)."""
    text = identity + "\n" + (f"key {signing}\n" if signing != identity else "")
    try:
        public_file(wallet).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {public_file(wallet)}: {exc.strerror}") from None


def given_passphrase(args: argparse.Namespace) -> str | None:
    """The passphrase from ``--passphrase-file`` or ``RAKUICHI_PASSPHRASE``, if any."""
    return read_passphrase_file(getattr(args, "passphrase_file", None)) or passphrase_from_env()


def load_wallet(args: argparse.Namespace, prompt: Prompt | None = None) -> SigningKey:
    """The wallet's key; an encrypted wallet with no passphrase given is asked for one when a
    terminal is attached."""
    passphrase = given_passphrase(args)
    if passphrase is None and _encrypted(args.wallet) and sys.stdin.isatty():
        passphrase = (prompt or getpass.getpass)(f"Passphrase of {args.wallet}: ")
    return load_signing_key(args.wallet, passphrase)


def _encrypted(path: Path) -> bool:
    try:
        return b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    except OSError:
        return False


def new_passphrase(
    args: argparse.Namespace, terminal: bool, prompt: Prompt | None = None
) -> tuple[str | None, str]:
    """The passphrase of a new wallet and a note saying how it is protected."""
    if args.no_passphrase:
        return None, "unencrypted (--no-passphrase)"
    if getattr(args, "passphrase_file", None) is not None:
        passphrase = read_passphrase_file(args.passphrase_file)
        if not passphrase:
            raise CliError(f"passphrase file {args.passphrase_file} is empty")
        return passphrase, "encrypted with the passphrase file"
    passphrase = passphrase_from_env()
    if passphrase:
        return passphrase, "encrypted with RAKUICHI_PASSPHRASE"
    if not terminal:
        return None, (
            "unencrypted: no terminal to ask a passphrase on (give --passphrase-file or "
            "RAKUICHI_PASSPHRASE to encrypt it)"
        )
    ask = prompt or getpass.getpass
    first = ask("Passphrase for the new wallet (no echo): ")
    if not first:
        raise CliError("an empty passphrase: nothing created (use --no-passphrase to opt out)")
    if ask("The same passphrase again: ") != first:
        raise CliError("the two passphrases differ: nothing created")
    return first, "encrypted with your passphrase"


def create_wallet(wallet: Path, passphrase: str | None) -> SigningKey:
    """A new key in ``wallet`` (refusing to overwrite one) and its ``WALLET.pub``."""
    key = SigningKey.generate()
    _save_key(wallet, key, passphrase)
    try:
        public_file(wallet).write_text(key.public_key.did + "\n", encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {public_file(wallet)}: {exc.strerror}") from None
    return key


def wallet_did(args: argparse.Namespace) -> str:
    """The wallet's did:key: from ``WALLET.pub`` (no passphrase needed), else from the key
    itself (an unencrypted wallet, or one made before ``WALLET.pub`` existed)."""
    pub = public_file(args.wallet)
    if pub.exists():
        lines = pub.read_text(encoding="utf-8").split("\n")
        text = lines[0].strip()
        try:
            raw_from_did(text)
        except InvalidDid:
            raise CliError(f"{pub} does not hold a did:key: {text[:80]!r}") from None
        return text
    try:
        events = read_events(args.wallet)
    except KeyringError as exc:
        raise CliError(str(exc)) from None
    if events:  # the identity is the author of the inception, whatever key signs now
        return did_from_raw(events[0].author)
    try:
        return load_wallet(args).public_key.did
    except KeyFileError as exc:
        raise CliError(str(exc)) from None
