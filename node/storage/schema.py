"""The SQLite schema: versioned migrations, applied in order at open (``PRAGMA user_version``).

One row per record with its exact wire bytes. Per-kind *facts* (the body fields the views need)
are written by Python beside each record; the derived views are then kept up to date by
triggers inside SQLite, each trigger recomputing the one key a new or retracted record touches.
Recomputing a key from the base rows, rather than patching it, is what makes the views a
function of the set of records and not of their arrival order (PROTOCOL-v1 section 6).
"""

from __future__ import annotations

from node.storage.private import SCHEMA as PRIVATE_SCHEMA
from node.storage.summaries import SQLITE as SUMMARIES
from protocol import KEY_EVENT_KINDS as KEY_EVENT_KIND_NAMES
from protocol import kinds


def _sql_list(names: frozenset[str]) -> str:
    return "(" + ", ".join(f"'{k}'" for k in sorted(names)) + ")"


# The kinds a retract cannot erase, as the triggers of V1 wrote them (frozen: a migration's
# text never changes), and as the kind table says now (key events since V6).
NOT_RETRACTABLE_V1 = "('alliance', 'retract')"
NOT_RETRACTABLE = _sql_list(kinds.NOT_RETRACTABLE)
KEY_EVENT_KINDS = _sql_list(KEY_EVENT_KIND_NAMES)


def _retract_triggers(not_retractable: str) -> str:
    """SQLite: a retract erases its target when both are held (whichever arrived first)."""
    return f"""
CREATE TRIGGER retract_arrives AFTER INSERT ON records WHEN NEW.kind = 'retract' BEGIN
  UPDATE records SET retracted = 1, wire = NULL
  WHERE id = NEW.ref AND author = NEW.author AND kind NOT IN {not_retractable} AND retracted = 0;
END;
CREATE TRIGGER target_arrives AFTER INSERT ON records
WHEN NEW.kind NOT IN {not_retractable} AND EXISTS (
  SELECT 1 FROM records r WHERE r.ref = NEW.id AND r.kind = 'retract' AND r.author = NEW.author)
BEGIN
  UPDATE records SET retracted = 1, wire = NULL WHERE seq = NEW.seq;
END;"""


def _recompute_current(row: str) -> str:
    """SQL that recomputes the current version of the replaceable slot of ``row``."""
    return f"""
    DELETE FROM current WHERE kind = {row}.kind AND author = {row}.author AND slot = {row}.slot;
    INSERT INTO current (kind, author, slot, id, created)
      SELECT kind, author, slot, id, created FROM records
      WHERE kind = {row}.kind AND author = {row}.author AND slot = {row}.slot AND retracted = 0
      ORDER BY created DESC, id DESC LIMIT 1;"""


def _recompute_end(alliance_id: str) -> str:
    """SQL that recomputes which ``alliance.end`` ends the alliance ``alliance_id``."""
    return f"""
    UPDATE alliances SET end_id = (
      SELECT e.id FROM records e
      WHERE e.kind = 'alliance.end' AND e.ref = alliances.id AND e.retracted = 0
        AND (e.author = alliances.org OR e.author = alliances.member)
      ORDER BY e.created, e.id LIMIT 1)
    WHERE id = {alliance_id};"""


V1 = f"""
CREATE TABLE records (
  seq       INTEGER PRIMARY KEY,   -- arrival order: stable pagination cursor
  id        BLOB NOT NULL UNIQUE,
  kind      TEXT NOT NULL,
  author    BLOB NOT NULL,
  created   INTEGER NOT NULL,
  subject   BLOB,                  -- alliance member, attestation subject
  ref       BLOB,                  -- end -> alliance, attestation -> alliance, retract -> target
  slot      TEXT,                  -- replaceable kinds: '' for profiles, the slug for opportunities
  wire      BLOB,                  -- NULL once retracted: the id stays as a tombstone
  retracted INTEGER NOT NULL DEFAULT 0,
  received  INTEGER NOT NULL
);
CREATE INDEX records_kind ON records (kind, seq);
CREATE INDEX records_author ON records (author, seq);
CREATE INDEX records_subject ON records (subject, seq) WHERE subject IS NOT NULL;
CREATE INDEX records_created ON records (created, id);
CREATE INDEX records_ref ON records (ref) WHERE ref IS NOT NULL;
CREATE INDEX records_slot ON records (kind, author, slot, created) WHERE slot IS NOT NULL;

CREATE TABLE current (
  kind TEXT NOT NULL, author BLOB NOT NULL, slot TEXT NOT NULL,
  id BLOB NOT NULL, created INTEGER NOT NULL,
  PRIMARY KEY (kind, author, slot)
) WITHOUT ROWID;
CREATE INDEX current_kind ON current (kind, created);

CREATE TABLE opportunity_facts (
  rowid INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE,
  title TEXT NOT NULL, summary TEXT NOT NULL, skills TEXT NOT NULL,
  tour TEXT NOT NULL, status TEXT NOT NULL, remote INTEGER NOT NULL,
  audience TEXT NOT NULL, location TEXT NOT NULL
);
CREATE VIRTUAL TABLE opportunity_search USING fts5(
  title, summary, skills, content='opportunity_facts', content_rowid='rowid',
  tokenize='unicode61 remove_diacritics 2'
);
CREATE TABLE alliance_facts (
  id BLOB PRIMARY KEY, tour TEXT NOT NULL, alumni INTEGER NOT NULL, starts INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE end_facts (id BLOB PRIMARY KEY, outcome TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE attestation_facts (
  id BLOB PRIMARY KEY, claim TEXT NOT NULL, skill TEXT, level INTEGER, score INTEGER,
  expires INTEGER
) WITHOUT ROWID;

CREATE TABLE alliances (
  id BLOB PRIMARY KEY, org BLOB NOT NULL, member BLOB NOT NULL, tour TEXT NOT NULL,
  alumni INTEGER NOT NULL, starts INTEGER NOT NULL, created INTEGER NOT NULL, end_id BLOB
) WITHOUT ROWID;
CREATE INDEX alliances_org ON alliances (org);
CREATE INDEX alliances_member ON alliances (member);

CREATE TABLE attestations (
  id BLOB PRIMARY KEY, issuer BLOB NOT NULL, subject BLOB NOT NULL, claim TEXT NOT NULL,
  skill TEXT, level INTEGER, score INTEGER, expires INTEGER, alliance BLOB,
  grounded INTEGER NOT NULL, created INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX attestations_subject ON attestations (subject, created);
CREATE INDEX attestations_alliance ON attestations (alliance) WHERE alliance IS NOT NULL;

-- A retract erases its target when both are held (whichever arrived first).
{_retract_triggers(NOT_RETRACTABLE_V1)}

-- Replaceable kinds: the current version per (kind, author, slot).
CREATE TRIGGER replaceable_arrives AFTER INSERT ON records WHEN NEW.slot IS NOT NULL BEGIN
  {_recompute_current("NEW")}
END;

-- Opportunity search covers current opportunities only.
CREATE TRIGGER current_added AFTER INSERT ON current WHEN NEW.kind = 'opportunity' BEGIN
  INSERT INTO opportunity_search (rowid, title, summary, skills)
    SELECT rowid, title, summary, skills FROM opportunity_facts WHERE id = NEW.id;
END;
CREATE TRIGGER current_removed AFTER DELETE ON current WHEN OLD.kind = 'opportunity' BEGIN
  INSERT INTO opportunity_search (opportunity_search, rowid, title, summary, skills)
    SELECT 'delete', rowid, title, summary, skills FROM opportunity_facts WHERE id = OLD.id;
END;

CREATE TRIGGER alliance_arrives AFTER INSERT ON records WHEN NEW.kind = 'alliance' BEGIN
  INSERT OR IGNORE INTO alliances (id, org, member, tour, alumni, starts, created)
    SELECT NEW.id, NEW.author, NEW.subject, f.tour, f.alumni, f.starts, NEW.created
    FROM alliance_facts f WHERE f.id = NEW.id;
  {_recompute_end("NEW.id")}
  UPDATE attestations SET grounded = 1
    WHERE alliance = NEW.id AND ((issuer = NEW.author AND subject = NEW.subject)
                              OR (issuer = NEW.subject AND subject = NEW.author));
END;
CREATE TRIGGER end_arrives AFTER INSERT ON records WHEN NEW.kind = 'alliance.end' BEGIN
  {_recompute_end("NEW.ref")}
END;
CREATE TRIGGER attestation_arrives AFTER INSERT ON records WHEN NEW.kind = 'attestation' BEGIN
  INSERT OR REPLACE INTO attestations
    (id, issuer, subject, claim, skill, level, score, expires, alliance, grounded, created)
    SELECT r.id, r.author, r.subject, f.claim, f.skill, f.level, f.score, f.expires, r.ref,
      EXISTS (SELECT 1 FROM alliances a WHERE a.id = r.ref
              AND ((a.org = r.author AND a.member = r.subject)
                OR (a.member = r.author AND a.org = r.subject))),
      r.created
    FROM records r JOIN attestation_facts f ON f.id = r.id
    WHERE r.seq = NEW.seq AND r.retracted = 0;
END;

-- A record erased by a retract leaves every view it was part of, and its facts go.
CREATE TRIGGER record_retracted AFTER UPDATE OF retracted ON records
WHEN NEW.retracted = 1 AND OLD.retracted = 0 BEGIN
  {_recompute_current("OLD")}
  DELETE FROM attestations WHERE id = OLD.id;
  {_recompute_end("CASE WHEN OLD.kind = 'alliance.end' THEN OLD.ref END")}
  DELETE FROM attestation_facts WHERE id = OLD.id;
  DELETE FROM end_facts WHERE id = OLD.id;
  DELETE FROM opportunity_facts WHERE id = OLD.id;
END;
"""

# Federation: where each record came from (no echo back to it) and each peer's state,
# including the cursor into records.seq up to which it has been offered everything.
V2 = """
ALTER TABLE records ADD COLUMN origin TEXT;
CREATE TABLE peers (
  url           TEXT PRIMARY KEY,
  source        TEXT NOT NULL,          -- 'seed' (peers.toml) or 'learned'
  node_key      TEXT,                   -- did:key the peer signs with, once known
  org           TEXT,                   -- did:key of the peer's organisation, once known
  cursor        INTEGER NOT NULL DEFAULT 0,
  last_success  INTEGER,
  last_error    INTEGER,
  error         TEXT,
  failures      INTEGER NOT NULL DEFAULT 0,
  last_sync     INTEGER,
  added         INTEGER NOT NULL
) WITHOUT ROWID;
"""

# Alliance drafts: signed by the organisation only, kept at its node for the member to co-sign.
# Never federated, never part of any view.
V3 = """
CREATE TABLE drafts (
  id      BLOB PRIMARY KEY,
  member  BLOB NOT NULL,
  wire    BLOB NOT NULL,
  created INTEGER NOT NULL
) WITHOUT ROWID;
"""


def _recompute_end_v4(alliance_id: str) -> str:
    """As ``_recompute_end``, with revision 2's rule: an end dated before its alliance has no
    effect (``created`` below the alliance's)."""
    return f"""
    UPDATE alliances SET end_id = (
      SELECT e.id FROM records e
      WHERE e.kind = 'alliance.end' AND e.ref = alliances.id AND e.retracted = 0
        AND (e.author = alliances.org OR e.author = alliances.member)
        AND e.created >= alliances.created
      ORDER BY e.created, e.id LIMIT 1)
    WHERE id = {alliance_id};"""


def _grounded(att: str) -> str:
    """SQL: whether the attestation row ``att`` (of ``attestations``) is grounded (revision 2):
    its alliance is held with exactly its two parties, and a ``tour.completed`` claim needs that
    alliance's end with outcome ``completed``."""
    return f"""EXISTS (SELECT 1 FROM alliances a WHERE a.id = {att}.alliance
      AND ((a.org = {att}.issuer AND a.member = {att}.subject)
        OR (a.member = {att}.issuer AND a.org = {att}.subject))
      AND ({att}.claim != 'tour.completed' OR EXISTS (
        SELECT 1 FROM end_facts f WHERE f.id = a.end_id AND f.outcome = 'completed')))"""


# Revision 2: alliance relations; ends dated before their alliance have no effect; tour.completed
# is grounded only once its alliance ended completed (so grounding follows the alliance's end);
# replies are a replaceable kind (slot = the target's id in hex), kept in ``current``.
V4 = f"""
ALTER TABLE alliance_facts ADD COLUMN relation TEXT NOT NULL DEFAULT 'member';
ALTER TABLE alliances ADD COLUMN relation TEXT NOT NULL DEFAULT 'member';
UPDATE alliances SET relation = 'member';
CREATE INDEX current_reply ON current (slot) WHERE kind = 'reply';

DROP TRIGGER alliance_arrives;
CREATE TRIGGER alliance_arrives AFTER INSERT ON records WHEN NEW.kind = 'alliance' BEGIN
  INSERT OR IGNORE INTO alliances (id, org, member, tour, alumni, starts, created, relation)
    SELECT NEW.id, NEW.author, NEW.subject, f.tour, f.alumni, f.starts, NEW.created, f.relation
    FROM alliance_facts f WHERE f.id = NEW.id;
  {_recompute_end_v4("NEW.id")}
END;
CREATE TRIGGER alliance_end_set AFTER UPDATE OF end_id ON alliances BEGIN
  UPDATE attestations SET grounded = {_grounded("attestations")} WHERE alliance = NEW.id;
END;

DROP TRIGGER end_arrives;
CREATE TRIGGER end_arrives AFTER INSERT ON records WHEN NEW.kind = 'alliance.end' BEGIN
  {_recompute_end_v4("NEW.ref")}
END;

DROP TRIGGER attestation_arrives;
CREATE TRIGGER attestation_arrives AFTER INSERT ON records WHEN NEW.kind = 'attestation' BEGIN
  INSERT OR REPLACE INTO attestations
    (id, issuer, subject, claim, skill, level, score, expires, alliance, grounded, created)
    SELECT r.id, r.author, r.subject, f.claim, f.skill, f.level, f.score, f.expires, r.ref,
      0, r.created
    FROM records r JOIN attestation_facts f ON f.id = r.id
    WHERE r.seq = NEW.seq AND r.retracted = 0;
  UPDATE attestations SET grounded = {_grounded("attestations")} WHERE id = NEW.id;
END;

DROP TRIGGER record_retracted;
CREATE TRIGGER record_retracted AFTER UPDATE OF retracted ON records
WHEN NEW.retracted = 1 AND OLD.retracted = 0 BEGIN
  {_recompute_current("OLD")}
  DELETE FROM attestations WHERE id = OLD.id;
  {_recompute_end_v4("CASE WHEN OLD.kind = 'alliance.end' THEN OLD.ref END")}
  DELETE FROM attestation_facts WHERE id = OLD.id;
  DELETE FROM end_facts WHERE id = OLD.id;
  DELETE FROM opportunity_facts WHERE id = OLD.id;
END;

-- a database written before revision 2: its ends and groundings under the new rules
{_recompute_end_v4("alliances.id")}
"""

# Private alliances and what names them: node-local, outside ``records`` (node/storage/private.py).
V5 = PRIVATE_SCHEMA

# Revision 3 proposal: key events are known kinds and not retractable. The retract triggers
# are rebuilt with the kind table's list; a key event that a retract erased before (its wire
# bytes are gone) is forgotten, so that it can be received again and count.
# ``migration.refused_key_events`` then removes stored key events that the kind table refuses.
V6 = f"""
DROP TRIGGER retract_arrives;
DROP TRIGGER target_arrives;
{_retract_triggers(NOT_RETRACTABLE)}
DELETE FROM records WHERE kind IN {KEY_EVENT_KINDS} AND retracted = 1;
"""

# Stored summaries for the read side: live records per author and kind, the grounded
# reputation summary per subject (node/storage/summaries.py), backfilled from the base rows.
V7 = SUMMARIES

# Reads that stay flat as a store grows (issue 16): a party's alliances newest first walk an
# index in their order and stop at the page (instead of sorting every alliance of a big
# organisation: 19 ms -> under 2 ms at 10^6 records), and the "N more" counts of a page read
# only the index (expires is in it). The standing triggers look up grounded attestations only:
# their index holds no other (about 20 bytes less per record in the benchmark store).
# Current versions of a kind newest first (the board's filters: 40 ms -> 0.2 ms at 10^6
# records) are SQLite's own step here (PostgreSQL's V4).
READ_ORDER = """
DROP INDEX IF EXISTS alliances_org;
CREATE INDEX alliances_org ON alliances (org, created, id);
DROP INDEX IF EXISTS alliances_member;
CREATE INDEX alliances_member ON alliances (member, created, id);
DROP INDEX IF EXISTS attestations_state;
CREATE INDEX attestations_state ON attestations (subject, grounded, created, expires);
DROP INDEX IF EXISTS attestations_issuer;
CREATE INDEX attestations_issuer ON attestations (subject, issuer, claim) WHERE grounded = 1;
"""
V8 = f"""{READ_ORDER}
DROP INDEX IF EXISTS current_kind;
CREATE INDEX IF NOT EXISTS current_kind_order ON current (kind, created, id);
"""

MIGRATIONS: tuple[str, ...] = (V1, V2, V3, V4, V5, V6, V7, V8)
KEY_EVENTS_KNOWN = 6  # the version from which key events are known kinds
