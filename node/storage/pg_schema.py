"""The PostgreSQL schema: the same tables and views as the SQLite one (node/storage/schema.py),
kept up to date by PL/pgSQL triggers in the same transaction as the records.

Each trigger recomputes the one key a new or retracted record touches from the base rows, as
the SQLite triggers do, and with the same SQL fragments (``schema._recompute_*``,
``schema._grounded``), so the two engines cannot drift apart on a rule. Full-text search is
PostgreSQL's own: a generated ``tsvector`` over the opportunity facts with a GIN index.
Migrations are numbered in ``schema_version``; this engine's history starts at revision 2.
"""

from __future__ import annotations

from node.storage.private import PG_SCHEMA as PRIVATE_PG_SCHEMA
from node.storage.schema import (
    KEY_EVENT_KINDS,
    NOT_RETRACTABLE,
    NOT_RETRACTABLE_V1,
    READ_ORDER,
    _grounded,
    _recompute_current,
    _recompute_end_v4,
)
from node.storage.summaries import POSTGRES as SUMMARIES


def _record_arrives(verb: str, not_retractable: str) -> str:
    """The function behind the ``record_arrives`` trigger (``verb``: CREATE, or CREATE OR
    REPLACE in a migration), with the kinds a retract cannot erase."""
    return f"""
{verb} FUNCTION record_arrives() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- a retract erases its target when both are held (whichever arrived first)
  IF NEW.kind = 'retract' THEN
    UPDATE records SET retracted = 1, wire = NULL
    WHERE id = NEW.ref AND author = NEW.author AND kind NOT IN {not_retractable}
      AND retracted = 0;
  END IF;
  IF NEW.kind NOT IN {not_retractable} AND EXISTS (
      SELECT 1 FROM records r WHERE r.ref = NEW.id AND r.kind = 'retract'
        AND r.author = NEW.author) THEN
    UPDATE records SET retracted = 1, wire = NULL WHERE seq = NEW.seq AND retracted = 0;
  END IF;
  IF NEW.slot IS NOT NULL THEN
    {_recompute_current("NEW")}
  END IF;
  IF NEW.kind = 'alliance' THEN
    INSERT INTO alliances (id, org, member, tour, alumni, starts, created, relation)
      SELECT NEW.id, NEW.author, NEW.subject, f.tour, f.alumni, f.starts, NEW.created, f.relation
      FROM alliance_facts f WHERE f.id = NEW.id
      ON CONFLICT DO NOTHING;
    {_recompute_end_v4("NEW.id")}
  ELSIF NEW.kind = 'alliance.end' THEN
    {_recompute_end_v4("NEW.ref")}
  ELSIF NEW.kind = 'attestation' THEN
    INSERT INTO attestations
      (id, issuer, subject, claim, skill, level, score, expires, alliance, grounded, created)
      SELECT r.id, r.author, r.subject, f.claim, f.skill, f.level, f.score, f.expires, r.ref,
        0, r.created
      FROM records r JOIN attestation_facts f ON f.id = r.id
      WHERE r.seq = NEW.seq AND r.retracted = 0
      ON CONFLICT (id) DO NOTHING;
    UPDATE attestations SET grounded = ({_grounded("attestations")})::int WHERE id = NEW.id;
  END IF;
  RETURN NULL;
END $$;
"""


V1 = f"""
CREATE TABLE records (
  seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id        BYTEA NOT NULL UNIQUE,
  kind      TEXT NOT NULL,
  author    BYTEA NOT NULL,
  created   BIGINT NOT NULL,
  subject   BYTEA,
  ref       BYTEA,
  slot      TEXT,
  wire      BYTEA,
  retracted INTEGER NOT NULL DEFAULT 0,
  received  BIGINT NOT NULL,
  origin    TEXT
);
CREATE INDEX records_kind ON records (kind, seq);
CREATE INDEX records_author ON records (author, seq);
CREATE INDEX records_subject ON records (subject, seq) WHERE subject IS NOT NULL;
CREATE INDEX records_created ON records (created, id);
CREATE INDEX records_ref ON records (ref) WHERE ref IS NOT NULL;
CREATE INDEX records_slot ON records (kind, author, slot, created) WHERE slot IS NOT NULL;

CREATE TABLE current (
  kind TEXT NOT NULL, author BYTEA NOT NULL, slot TEXT NOT NULL,
  id BYTEA NOT NULL, created BIGINT NOT NULL,
  PRIMARY KEY (kind, author, slot)
);
CREATE INDEX current_kind ON current (kind, created);
CREATE INDEX current_reply ON current (slot) WHERE kind = 'reply';

CREATE TABLE opportunity_facts (
  id BYTEA PRIMARY KEY,
  title TEXT NOT NULL, summary TEXT NOT NULL, skills TEXT NOT NULL,
  tour TEXT NOT NULL, status TEXT NOT NULL, remote INTEGER NOT NULL,
  audience TEXT NOT NULL, location TEXT NOT NULL,
  search TSVECTOR GENERATED ALWAYS AS
    (to_tsvector('simple', title || ' ' || summary || ' ' || skills)) STORED
);
CREATE INDEX opportunity_search ON opportunity_facts USING GIN (search);
CREATE TABLE alliance_facts (
  id BYTEA PRIMARY KEY, tour TEXT NOT NULL, alumni INTEGER NOT NULL, starts BIGINT NOT NULL,
  relation TEXT NOT NULL DEFAULT 'member'
);
CREATE TABLE end_facts (id BYTEA PRIMARY KEY, outcome TEXT NOT NULL);
CREATE TABLE attestation_facts (
  id BYTEA PRIMARY KEY, claim TEXT NOT NULL, skill TEXT, level BIGINT, score BIGINT,
  expires BIGINT
);

CREATE TABLE alliances (
  id BYTEA PRIMARY KEY, org BYTEA NOT NULL, member BYTEA NOT NULL, tour TEXT NOT NULL,
  alumni INTEGER NOT NULL, starts BIGINT NOT NULL, created BIGINT NOT NULL, end_id BYTEA,
  relation TEXT NOT NULL DEFAULT 'member'
);
CREATE INDEX alliances_org ON alliances (org);
CREATE INDEX alliances_member ON alliances (member);

CREATE TABLE attestations (
  id BYTEA PRIMARY KEY, issuer BYTEA NOT NULL, subject BYTEA NOT NULL, claim TEXT NOT NULL,
  skill TEXT, level BIGINT, score BIGINT, expires BIGINT, alliance BYTEA,
  grounded INTEGER NOT NULL, created BIGINT NOT NULL
);
CREATE INDEX attestations_subject ON attestations (subject, created);
CREATE INDEX attestations_alliance ON attestations (alliance) WHERE alliance IS NOT NULL;

CREATE TABLE peers (
  url TEXT PRIMARY KEY, source TEXT NOT NULL, node_key TEXT, org TEXT,
  cursor BIGINT NOT NULL DEFAULT 0, last_success BIGINT, last_error BIGINT, error TEXT,
  failures INTEGER NOT NULL DEFAULT 0, last_sync BIGINT, added BIGINT NOT NULL
);
CREATE TABLE drafts (
  id BYTEA PRIMARY KEY, member BYTEA NOT NULL, wire BYTEA NOT NULL, created BIGINT NOT NULL
);

{_record_arrives("CREATE", NOT_RETRACTABLE_V1)}
CREATE TRIGGER record_arrives AFTER INSERT ON records
  FOR EACH ROW EXECUTE FUNCTION record_arrives();

-- a record erased by a retract leaves every view it was part of, and its facts go
CREATE FUNCTION record_retracted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.retracted = 1 AND OLD.retracted = 0 THEN
    {_recompute_current("OLD")}
    DELETE FROM attestations WHERE id = OLD.id;
    IF OLD.kind = 'alliance.end' THEN
      {_recompute_end_v4("OLD.ref")}
    END IF;
    DELETE FROM attestation_facts WHERE id = OLD.id;
    DELETE FROM end_facts WHERE id = OLD.id;
    DELETE FROM opportunity_facts WHERE id = OLD.id;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER record_retracted AFTER UPDATE OF retracted ON records
  FOR EACH ROW EXECUTE FUNCTION record_retracted();

-- grounding follows the alliance's end (tour.completed needs an end with outcome completed)
CREATE FUNCTION alliance_end_set() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE attestations SET grounded = ({_grounded("attestations")})::int
  WHERE alliance = NEW.id;
  RETURN NULL;
END $$;
CREATE TRIGGER alliance_end_set AFTER UPDATE OF end_id ON alliances
  FOR EACH ROW EXECUTE FUNCTION alliance_end_set();
"""

# Private alliances and what names them: node-local, outside ``records`` (private.py).
V2 = PRIVATE_PG_SCHEMA

# What the process leading the federation shows the node's other processes (``/v1/peers``):
# one JSON document per name, rewritten by the leader (a node of several workers only).
V3 = """
CREATE TABLE shared_status (
  name TEXT PRIMARY KEY, body TEXT NOT NULL, updated BIGINT NOT NULL
);
"""

# Current opportunities newest first, in the board's and the API's exact order: a search or a
# filter walks them and stops at the page (PROTOCOL order: created, then id), instead of
# matching every version ever held and sorting (1.8 s -> 15 ms at 10^6 records).
V4 = """
CREATE INDEX current_kind_order ON current (kind, created DESC, id DESC);
"""

# Revision 3 proposal: key events are known kinds and not retractable (as SQLite's V6).
V5 = f"""
{_record_arrives("CREATE OR REPLACE", NOT_RETRACTABLE)}
DELETE FROM records WHERE kind IN {KEY_EVENT_KINDS} AND retracted = 1;
"""

# Stored summaries for the read side (node/storage/summaries.py), backfilled.
V6 = SUMMARIES

# Reads that stay flat as a store grows (as SQLite's V8).
V7 = READ_ORDER

MIGRATIONS: tuple[str, ...] = (V1, V2, V3, V4, V5, V6, V7)
KEY_EVENTS_KNOWN = 5  # the version from which key events are known kinds
