"""Key succession on disk (revision 3 proposal): a signing-key file and its two companions.

For a key file ``K`` (a node home's ``org.key``, or a member's wallet):

- ``K`` holds the current **signing key** (PKCS#8, as before);
- ``K.next`` holds the committed next **rotation key** (absent once exported and removed);
- ``K.events`` holds the identity's key events, one hex line of wire bytes each, in order.

``incept`` starts a history (a new identity, or an old single-key one that adopts key events),
``rotate`` makes the next step with the committed rotation key (from ``K.next`` or a file kept
offline) and destroys the keys it retires, ``export_next`` copies the rotation key out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from crypto import KeyFileError, SigningKey, load_signing_key, save_signing_key, sha256
from protocol import KeyHistory, Record, inception, key_histories, parse, parse_event, rotation


class KeyringError(Exception):
    """A key operation that cannot be done, with the reason in one line."""


def next_path(keyfile: Path) -> Path:
    return keyfile.with_name(keyfile.name + ".next")


def events_path(keyfile: Path) -> Path:
    return keyfile.with_name(keyfile.name + ".events")


def read_events(keyfile: Path) -> list[Record]:
    """The key events kept beside ``keyfile`` (none for a key without a history)."""
    path = events_path(keyfile)
    if not path.exists():
        return []
    try:
        return [parse(bytes.fromhex(line)) for line in path.read_text().split() if line]
    except ValueError as exc:
        raise KeyringError(f"{path}: not a key event list ({exc})") from None


def _append_event(keyfile: Path, record: Record) -> None:
    parse_event(record)
    with events_path(keyfile).open("a") as f:
        f.write(record.wire.hex() + "\n")
        f.flush()
        os.fsync(f.fileno())


@dataclass(frozen=True)
class KeyState:
    """What ``keys show`` prints: the identity, its current key and its commitment."""

    identity: bytes
    signing: bytes
    history: KeyHistory | None  # None: a single key without key events
    next_held: bool  # whether K.next is present

    @property
    def seq(self) -> int | None:
        return self.history.chain[-1].seq if self.history and self.history.chain else None


def identity_of(keyfile: Path, signing: bytes) -> bytes:
    events = read_events(keyfile)
    return events[0].author if events else signing


def state(keyfile: Path, passphrase: str | None) -> KeyState:
    signing = _load(keyfile, passphrase).public_key.raw
    events = read_events(keyfile)
    history = None
    if events:
        history = key_histories(events).history(events[0].author)
    return KeyState(identity_of(keyfile, signing), signing, history, next_path(keyfile).exists())


def _load(path: Path, passphrase: str | None) -> SigningKey:
    try:
        return load_signing_key(path, passphrase)
    except KeyFileError as exc:
        raise KeyringError(str(exc)) from None


def _replace_key(path: Path, key: SigningKey, passphrase: str | None) -> None:
    """Write ``key`` to ``path`` atomically (a new file renamed over the old one)."""
    fresh = path.with_name(path.name + ".new")
    fresh.unlink(missing_ok=True)
    save_signing_key(fresh, key, passphrase)
    fresh.replace(path)


def incept(
    keyfile: Path,
    passphrase: str | None,
    now_ms: int,
    first: SigningKey | None = None,
    cutoff: int | None = None,
) -> Record:
    """Start the key history of ``keyfile``'s identity and write the first signing key.

    With ``first`` None a new identity is made: a first key that signs the inception (with
    ``cutoff: 0``: it never speaks for the identity) and is then forgotten. Otherwise ``first``
    is the single key an existing identity used so far: its earlier records keep counting.
    """
    if read_events(keyfile):
        raise KeyringError(f"{keyfile}: this identity already has key events")
    signing, rotation_key = SigningKey.generate(), SigningKey.generate()
    if first is None:
        record = inception(SigningKey.generate(), signing, rotation_key.public_key, now_ms, 0)
    else:
        record = inception(first, signing, rotation_key.public_key, now_ms, cutoff)
    save_signing_key(next_path(keyfile), rotation_key, passphrase)
    _append_event(keyfile, record)
    if keyfile.exists():
        _replace_key(keyfile, signing, passphrase)
    else:
        save_signing_key(keyfile, signing, passphrase)
    return record


def rotate(
    keyfile: Path,
    passphrase: str | None,
    now_ms: int,
    next_file: Path | None = None,
    cutoff: int | None = None,
) -> Record:
    """Make the next step with the committed rotation key; install the new signing key.

    The rotation key comes from ``next_file`` (kept offline) or ``K.next``; it must be the one
    the last step committed to. The signing key does not need to be readable (recovery after
    losing it). The used rotation key in ``K.next`` and the old signing key are destroyed.
    """
    events = read_events(keyfile)
    if not events:
        raise KeyringError(f"{keyfile}: no key events yet (incept first)")
    history = key_histories(events).history(events[0].author)
    if history is None or not history.chain or history.next is None:
        raise KeyringError(f"{keyfile}: the key history is not usable (duplicitous or empty)")
    source = next_file or next_path(keyfile)
    if not source.exists():
        raise KeyringError(
            f"{source}: no committed rotation key here (give the exported one with --next)"
        )
    rotation_key = _load(source, passphrase)
    if sha256(rotation_key.public_key.raw) != history.next:
        raise KeyringError(f"{source}: not the rotation key the identity committed to")
    last = history.chain[-1]
    signing, following = SigningKey.generate(), SigningKey.generate()
    record = rotation(
        rotation_key,
        signing,
        history.identity,
        last.seq + 1,
        last.id,
        following.public_key,
        max(now_ms, last.created + 1),
        cutoff,
    )
    fresh_next = next_path(keyfile).with_name(next_path(keyfile).name + ".new")
    fresh_next.unlink(missing_ok=True)
    save_signing_key(fresh_next, following, passphrase)
    _append_event(keyfile, record)
    fresh_next.replace(next_path(keyfile))  # destroys the used rotation key kept here
    if keyfile.exists():
        _replace_key(keyfile, signing, passphrase)
    else:
        save_signing_key(keyfile, signing, passphrase)
    return record


def export_next(keyfile: Path, out: Path, remove: bool = False) -> None:
    """Copy the committed rotation key to ``out`` (refusing to overwrite); ``remove`` then
    deletes it from beside ``keyfile`` so that only the offline copy remains."""
    source = next_path(keyfile)
    if not source.exists():
        raise KeyringError(f"{source}: no committed rotation key here")
    data = source.read_bytes()
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyringError(f"{out}: already exists, not overwriting") from None
    except OSError as exc:
        raise KeyringError(f"{out}: cannot create: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    if remove:
        source.unlink()
