"""The Rakuichi protocol, sans-IO: records, kinds, validation, views, reconciliation, bundles.

This is the public face that ``node/`` imports from (``from protocol import Record, parse``).
The submodules stay importable for what is not listed here. Two functions are exported under
longer names so that they do not hide the submodule of the same name: ``validate_record`` is
``protocol.validate.validate`` and ``reputation_from_views`` is ``protocol.reputation.reputation``.
"""

from protocol import kinds
from protocol.builder import Draft, sign_record
from protocol.bundle import BundleError, BundleReport, read_bundle, verify_bundle, write_bundle
from protocol.credential import (
    CONTEXT_PATH,
    NotIssuable,
    context_document,
    context_url,
    issue_credential,
)
from protocol.credential_check import CredentialError, CredentialReport, check_credential
from protocol.domainproof import (
    MAX_PROOF_BYTES,
    WELL_KNOWN_PATH,
    normalise_domain,
    proof_holds,
    proof_url,
)
from protocol.encoding import MAX_RECORD_BYTES, decode, encode
from protocol.errors import (
    EncodingError,
    PolicyError,
    Rejected,
    SchemaError,
    SignatureError,
    SizeError,
    TimeError,
)
from protocol.identityviews import IdentityViews, derive_identities
from protocol.itemset import Item, ItemSet, MemoryItemSet
from protocol.jsonview import body_from_json, from_json, to_json
from protocol.keyevents import (
    KEY_EVENT_KINDS,
    KEY_INCEPTION,
    KEY_ROTATION,
    KeyEvent,
    inception,
    parse_event,
    rotation,
)
from protocol.keyhistory import KeyHistories, KeyHistory, key_histories
from protocol.kinds import CLAIMS
from protocol.reconcile import Initiator, respond
from protocol.record import Record, Signature, record_from_trusted
from protocol.reputation import Reputation
from protocol.reputation import reputation as reputation_from_views
from protocol.validate import (
    ALLOW_ALL,
    Policy,
    check_after_signatures,
    check_before_signatures,
    check_signer_set,
    check_time,
    parse,
    verify_each,
    verify_signatures,
)
from protocol.validate import validate as validate_record
from protocol.views import (
    GROUNDED,
    UNGROUNDED,
    AllianceState,
    AttestationState,
    Tombstone,
    Views,
    derive,
)

__all__ = [
    "MAX_PROOF_BYTES",
    "WELL_KNOWN_PATH",
    "normalise_domain",
    "proof_holds",
    "proof_url",
    "ALLOW_ALL",
    "CLAIMS",
    "CONTEXT_PATH",
    "GROUNDED",
    "KEY_EVENT_KINDS",
    "KEY_INCEPTION",
    "KEY_ROTATION",
    "MAX_RECORD_BYTES",
    "UNGROUNDED",
    "AllianceState",
    "AttestationState",
    "BundleError",
    "BundleReport",
    "CredentialError",
    "CredentialReport",
    "Draft",
    "EncodingError",
    "IdentityViews",
    "Initiator",
    "Item",
    "ItemSet",
    "KeyEvent",
    "KeyHistories",
    "KeyHistory",
    "MemoryItemSet",
    "Policy",
    "PolicyError",
    "Record",
    "Rejected",
    "Reputation",
    "SchemaError",
    "Signature",
    "SignatureError",
    "SizeError",
    "TimeError",
    "Tombstone",
    "Views",
    "body_from_json",
    "from_json",
    "check_after_signatures",
    "check_before_signatures",
    "check_credential",
    "check_signer_set",
    "check_time",
    "context_document",
    "context_url",
    "decode",
    "derive",
    "derive_identities",
    "encode",
    "inception",
    "issue_credential",
    "NotIssuable",
    "key_histories",
    "kinds",
    "parse",
    "parse_event",
    "read_bundle",
    "record_from_trusted",
    "reputation_from_views",
    "respond",
    "rotation",
    "sign_record",
    "to_json",
    "validate_record",
    "verify_bundle",
    "verify_each",
    "verify_signatures",
    "write_bundle",
]
