"""Stored summaries for the read side: live records per (author, kind) and the grounded
reputation summary per (subject, claim, skill), kept by triggers in the records' transaction.

Both are functions of the set of records, never of arrival order:

- ``author_counts`` is a sum of +1 per record inserted and -1 per record erased (every record is
  inserted live; ``retracted`` goes from 0 to 1 at most once), added with commutative upserts.
- ``reputation_standing`` holds, per (subject, claim, skill, issuer), the newest grounded live
  attestation (``protocol.reputation``: each issuer counts once per key). It is recomputed from
  the base rows (``attestations``) for the one key a changed attestation touches, as the views
  of ``schema.py`` are. ``reputation_summary`` is the sum over the standing rows, kept by +/-
  on their inserts and deletes; the highest level is read from the standing rows by index.
  Only grounded attestations can stand, so only their changes recompute a standing row.

Expiry depends on the reader's clock, so it is applied when reading (reputation_queries.py):
a (claim, skill) whose standing attestation of some issuer has expired is summed from the base
rows instead. ``skill`` is stored as '' when the attestation names none (a skill is 1..64
characters). The same SQL fragments build the SQLite triggers and the PostgreSQL ones.
"""

from __future__ import annotations


def _recompute_standing(row: str) -> str:
    """SQL: the standing attestation of the (subject, claim, skill, issuer) of ``row``."""
    return f"""
    DELETE FROM reputation_standing WHERE subject = {row}.subject AND claim = {row}.claim
      AND skill = coalesce({row}.skill, '') AND issuer = {row}.issuer;
    INSERT INTO reputation_standing
      (subject, claim, skill, issuer, id, created, score, level, expires)
      SELECT a.subject, a.claim, coalesce(a.skill, ''), a.issuer, a.id, a.created,
        CASE WHEN a.claim = 'rating' THEN a.score END,
        CASE WHEN a.claim = 'skill' THEN a.level END, a.expires
      FROM attestations a
      WHERE a.subject = {row}.subject AND a.issuer = {row}.issuer AND a.claim = {row}.claim
        AND coalesce(a.skill, '') = coalesce({row}.skill, '') AND a.grounded = 1
      ORDER BY a.created DESC, a.id DESC LIMIT 1;"""


def _add_to_summary(row: str, sign: int) -> str:
    """SQL: add (``sign`` 1) or take away (-1) the standing row ``row`` from its summary."""
    return f"""
    INSERT INTO reputation_summary
      (subject, claim, skill, n, score_sum, score_count, level_sum, level_count)
      VALUES ({row}.subject, {row}.claim, {row}.skill, {sign},
        {sign} * coalesce({row}.score, 0),
        {sign} * (CASE WHEN {row}.score IS NULL THEN 0 ELSE 1 END),
        {sign} * coalesce({row}.level, 0),
        {sign} * (CASE WHEN {row}.level IS NULL THEN 0 ELSE 1 END))
      ON CONFLICT (subject, claim, skill) DO UPDATE SET
        n = reputation_summary.n + excluded.n,
        score_sum = reputation_summary.score_sum + excluded.score_sum,
        score_count = reputation_summary.score_count + excluded.score_count,
        level_sum = reputation_summary.level_sum + excluded.level_sum,
        level_count = reputation_summary.level_count + excluded.level_count;"""


def _drop_empty_summary(row: str) -> str:
    return f"""
    DELETE FROM reputation_summary WHERE subject = {row}.subject AND claim = {row}.claim
      AND skill = {row}.skill AND n = 0;"""


def _count_author(row: str, sign: int) -> str:
    return f"""
    INSERT INTO author_counts (author, kind, n) VALUES ({row}.author, {row}.kind, {sign})
      ON CONFLICT (author, kind) DO UPDATE SET n = author_counts.n + excluded.n;"""


_BACKFILL = """
INSERT INTO author_counts (author, kind, n)
  SELECT author, kind, count(*) FROM records WHERE retracted = 0 GROUP BY author, kind;
INSERT INTO reputation_standing (subject, claim, skill, issuer, id, created, score, level, expires)
  SELECT subject, claim, skill, issuer, id, created, score, level, expires FROM (
    SELECT subject, claim, coalesce(skill, '') AS skill, issuer, id, created,
      CASE WHEN claim = 'rating' THEN score END AS score,
      CASE WHEN claim = 'skill' THEN level END AS level, expires,
      row_number() OVER (PARTITION BY subject, claim, coalesce(skill, ''), issuer
                         ORDER BY created DESC, id DESC) AS newest
    FROM attestations WHERE grounded = 1) ranked
  WHERE newest = 1;
INSERT INTO reputation_summary
  (subject, claim, skill, n, score_sum, score_count, level_sum, level_count)
  SELECT subject, claim, skill, count(*), coalesce(sum(score), 0), count(score),
    coalesce(sum(level), 0), count(level)
  FROM reputation_standing GROUP BY subject, claim, skill;
"""


def _tables(blob: str, integer: str, without_rowid: str) -> str:
    return f"""
CREATE TABLE author_counts (
  author {blob} NOT NULL, kind TEXT NOT NULL, n {integer} NOT NULL,
  PRIMARY KEY (author, kind)
){without_rowid};
CREATE TABLE reputation_standing (
  subject {blob} NOT NULL, claim TEXT NOT NULL, skill TEXT NOT NULL, issuer {blob} NOT NULL,
  id {blob} NOT NULL, created {integer} NOT NULL, score {integer}, level {integer},
  expires {integer},
  PRIMARY KEY (subject, claim, skill, issuer)
){without_rowid};
CREATE INDEX reputation_standing_level ON reputation_standing (subject, claim, skill, level);
CREATE INDEX reputation_standing_expires ON reputation_standing (subject, expires)
  WHERE expires IS NOT NULL;
CREATE TABLE reputation_summary (
  subject {blob} NOT NULL, claim TEXT NOT NULL, skill TEXT NOT NULL, n {integer} NOT NULL,
  score_sum {integer} NOT NULL, score_count {integer} NOT NULL,
  level_sum {integer} NOT NULL, level_count {integer} NOT NULL,
  PRIMARY KEY (subject, claim, skill)
){without_rowid};
-- the standing attestation of one issuer; the newest ones about a subject, by state (this
-- one serves every lookup by subject: it replaces (subject, created), one index less to keep)
CREATE INDEX attestations_issuer ON attestations (subject, issuer, claim);
CREATE INDEX attestations_state ON attestations (subject, grounded, created);
DROP INDEX IF EXISTS attestations_subject;
"""


SQLITE = f"""
{_tables("BLOB", "INTEGER", " WITHOUT ROWID")}
{_BACKFILL}
CREATE TRIGGER author_counted AFTER INSERT ON records BEGIN
  {_count_author("NEW", 1)}
END;
CREATE TRIGGER author_uncounted AFTER UPDATE OF retracted ON records
WHEN NEW.retracted = 1 AND OLD.retracted = 0 BEGIN
  {_count_author("OLD", -1)}
END;
CREATE TRIGGER standing_attestation_added AFTER INSERT ON attestations
WHEN NEW.grounded = 1 BEGIN
  {_recompute_standing("NEW")}
END;
CREATE TRIGGER standing_attestation_removed AFTER DELETE ON attestations
WHEN OLD.grounded = 1 BEGIN
  {_recompute_standing("OLD")}
END;
CREATE TRIGGER standing_attestation_grounding AFTER UPDATE OF grounded ON attestations
WHEN OLD.grounded != NEW.grounded BEGIN
  {_recompute_standing("NEW")}
END;
CREATE TRIGGER summary_standing_added AFTER INSERT ON reputation_standing BEGIN
  {_add_to_summary("NEW", 1)}
END;
CREATE TRIGGER summary_standing_removed AFTER DELETE ON reputation_standing BEGIN
  {_add_to_summary("OLD", -1)}
  {_drop_empty_summary("OLD")}
END;
"""

POSTGRES = f"""
{_tables("BYTEA", "BIGINT", "")}
{_BACKFILL}
CREATE FUNCTION author_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {_count_author("NEW", 1)}
  ELSIF NEW.retracted = 1 AND OLD.retracted = 0 THEN
    {_count_author("OLD", -1)}
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER author_counts AFTER INSERT OR UPDATE OF retracted ON records
  FOR EACH ROW EXECUTE FUNCTION author_counts();

CREATE FUNCTION reputation_standing() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.grounded = 1 THEN
      {_recompute_standing("OLD")}
    END IF;
  ELSIF (TG_OP = 'INSERT' AND NEW.grounded = 1)
     OR (TG_OP = 'UPDATE' AND OLD.grounded != NEW.grounded) THEN
    {_recompute_standing("NEW")}
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER reputation_standing AFTER INSERT OR DELETE OR UPDATE OF grounded ON attestations
  FOR EACH ROW EXECUTE FUNCTION reputation_standing();

CREATE FUNCTION reputation_summary() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {_add_to_summary("NEW", 1)}
  ELSE
    {_add_to_summary("OLD", -1)}
    {_drop_empty_summary("OLD")}
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER reputation_summary AFTER INSERT OR DELETE ON reputation_standing
  FOR EACH ROW EXECUTE FUNCTION reputation_summary();
"""
