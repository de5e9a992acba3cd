"""Errors of the crypto layer: one small hierarchy, each class names its failure."""


class CryptoError(Exception):
    """Base of every error raised by ``crypto``."""


class InvalidKey(CryptoError):
    """A public key that is not a canonical encoding of a point outside the small-order set."""


class InvalidDid(CryptoError):
    """A did:key string that is not an Ed25519 did:key."""


class InvalidSignature(CryptoError):
    """A signature that does not verify under the given key and message."""


class KeyFileError(CryptoError):
    """A key file that cannot be read or written."""


class WrongPassphrase(KeyFileError):
    """The key file is encrypted and the passphrase is missing or wrong."""


class DamagedKeyFile(KeyFileError):
    """The key file is not a PKCS#8 PEM Ed25519 private key."""


class InvalidProof(CryptoError):
    """A Data Integrity proof that is malformed or does not verify."""
