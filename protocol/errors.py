"""Why a record is refused: one class per validation step of PROTOCOL-v1 section 4.

Every refusal carries ``klass`` (the wire name of its class) and a human-readable detail.
"""


class Rejected(Exception):
    """A record (or sync message) refused; ``klass`` names the validation step that failed."""

    klass = "invalid"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.klass}: {self.detail}"


class SizeError(Rejected):
    klass = "size"


class EncodingError(Rejected):
    klass = "encoding"


class SchemaError(Rejected):
    klass = "schema"


class SignatureError(Rejected):
    klass = "signature"


class TimeError(Rejected):
    klass = "time"


class PolicyError(Rejected):
    klass = "policy"


REJECTION_CLASSES: dict[str, type[Rejected]] = {
    c.klass: c
    for c in (SizeError, EncodingError, SchemaError, SignatureError, TimeError, PolicyError)
}
