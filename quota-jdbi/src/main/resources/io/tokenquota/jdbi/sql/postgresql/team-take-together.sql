-- Reserves and consumes without idempotency keys of several team members (the store's group commit for
-- members), in one statement and one commit, as take-together.sql does for plain users. A call is a
-- consume when :consumeList says so, else a hold; :expiryList is its row's expiry in the database's
-- clock, in microseconds since the epoch (a consume's is its instant, as in team-take.sql, whose row a
-- member's consume keeps too). :teamList names the team the store last saw each member in, :idList
-- each new row's id; :accountList is every team and member the calls name, :teamsList the teams.
-- The accounts of the month are locked teams first, then members, each in subject order: the order of
-- every path that locks a team's row and a member's (team-take, team-finish, the locked path), so no two
-- of them deadlock. Each call is then walked in queue order and granted only if, on the rows as locked,
-- the member is still in that team, both accounts are the latest of their owners with no stale hold,
-- and both still have its tokens after the calls granted before it: the check of team-take.sql, made
-- against what the earlier calls left. A call not granted changes nothing (its caller runs alone, on the
-- path that explains refusals). Both balances of each granted call move, and its hold (which remembers
-- the team) is written, with one event per account for a consume. One row back per granted call (ord, 1-based) with the
-- member's and the team's account as the statement left them and both events' ids.
-- :month is the leader's clock's month: an account with a later month is not locked (NOT EXISTS on later
-- months), so a call whose member or team has moved on is not granted here and runs alone on the store's
-- transaction path, which starts from the member's latest month (round 323). The store sends only calls
-- made in :month; each is made at its own instant (round 343): :nowList in the policy's clock (its
-- events' time, a consume's finished_at), :dbNowList the same in the database's clock (its row's
-- creation), microseconds since the epoch; an account's updated_at is its last granted call's. :dbNow is
-- the last call's instant, at which no account may have a stale hold.
WITH RECURSIVE calls AS (
    SELECT t.ord, t.subject, t.team, t.tokens, t.endpoint, t.id, t.consume,
           TIMESTAMPTZ 'epoch' + t.expiry * INTERVAL '1 microsecond' AS expires_at,
           TIMESTAMPTZ 'epoch' + t.call_at * INTERVAL '1 microsecond' AS call_at,
           TIMESTAMPTZ 'epoch' + t.call_db_at * INTERVAL '1 microsecond' AS call_db_at
      FROM unnest(CAST(:subjectList AS VARCHAR[]), CAST(:teamList AS VARCHAR[]), CAST(:tokenList AS BIGINT[]),
                  CAST(:endpointList AS VARCHAR[]), CAST(:idList AS VARCHAR[]), CAST(:consumeList AS BOOLEAN[]),
                  CAST(:expiryList AS BIGINT[]), CAST(:nowList AS BIGINT[]), CAST(:dbNowList AS BIGINT[]))
           WITH ORDINALITY AS t(subject, team, tokens, endpoint, id, consume, expiry, call_at, call_db_at, ord)
), locked AS MATERIALIZED (
    -- teams first, then members, each in subject order (see above); the same conditions as a single
    -- member's take on each row, so a row that fails them is not locked and grants none of its calls
    SELECT a.subject, a.team_subject, a.allocated + a.granted + a.carried - a.used - a.reserved AS available
      FROM tq_account AS a
     -- the subjects straight from the parameter, so the key's index finds them whatever the statistics say
     -- the list read through a scalar subquery (cast again: ANY over a bare subquery would compare with its rows),
     -- so that the planner does not plan anew for each batch's length
     -- (docs/storage.md, "One plan per statement")
     WHERE a.subject = ANY(CAST((SELECT CAST(:accountList AS VARCHAR[])) AS VARCHAR[])) AND a.plan_month = :month
       AND NOT a.superseded
       -- OFFSET 0 keeps each NOT EXISTS a probe per account (the account key; the open-holds indexes of a
       -- member and of a team), never an anti-join against a scan of every account or open hold
       AND NOT EXISTS (SELECT 1 FROM tq_account AS later WHERE later.subject = a.subject AND later.plan_month > :month
                       OFFSET 0)
       AND NOT EXISTS (SELECT 1 FROM tq_reservation AS stale
                        WHERE stale.subject = a.subject AND stale.finished_at IS NULL AND stale.expires_at <= :dbNow
                       OFFSET 0)
       AND NOT EXISTS (SELECT 1 FROM tq_reservation AS stale
                        WHERE stale.team_subject = a.subject AND stale.finished_at IS NULL
                          AND stale.expires_at <= :dbNow
                       OFFSET 0)
     ORDER BY a.subject = ANY(CAST(:teamsList AS VARCHAR[])) DESC, a.subject
       FOR UPDATE OF a
), slots AS (
    -- each locked account's place in the walk's array of balances
    SELECT subject, team_subject, available, row_number() OVER (ORDER BY subject) AS pos FROM locked
), demand AS (
    -- what the batch asks of each account: the calls of its member, or of its team's members
    SELECT o.subject, SUM(c.tokens) AS tokens
      FROM calls AS c CROSS JOIN LATERAL (VALUES (c.subject), (c.team)) AS o(subject)
     GROUP BY o.subject
), everyone_fits AS (
    -- the usual batch: every call's member (still in its team) and team are locked, and each account has
    -- room for all the calls on it at once. Then each call fits after those before it (balances only go
    -- down by what the calls ask), so the walk below, one call after another, is not needed
    SELECT NOT EXISTS (SELECT 1 FROM calls AS c
                        WHERE NOT EXISTS (SELECT 1 FROM slots AS m WHERE m.subject = c.subject AND m.team_subject = c.team)
                           OR NOT EXISTS (SELECT 1 FROM slots AS t WHERE t.subject = c.team AND t.team_subject IS NULL))
       AND NOT EXISTS (SELECT 1 FROM demand AS d JOIN slots AS s ON s.subject = d.subject WHERE s.available < d.tokens)
           AS yes
), walk (k, balances, fits) AS (
    SELECT CAST(0 AS BIGINT), (SELECT array_agg(available ORDER BY pos) FROM slots), FALSE
    UNION ALL
    -- call k + 1 against the balances the calls before it left: both its member's (still in its team)
    -- and its team's must hold its tokens, and then both go down by them
    SELECT c.ord,
           CASE WHEN g.fits
                THEN (SELECT array_agg(CASE WHEN u.i IN (g.member_pos, g.team_pos) THEN u.balance - c.tokens
                                            ELSE u.balance END ORDER BY u.i)
                        FROM unnest(w.balances) WITH ORDINALITY AS u(balance, i))
                ELSE w.balances END,
           g.fits
      FROM walk AS w JOIN calls AS c ON c.ord = w.k + 1
     CROSS JOIN LATERAL (
            SELECT m.pos AS member_pos, t.pos AS team_pos,
                   COALESCE(w.balances[m.pos] >= c.tokens AND w.balances[t.pos] >= c.tokens, FALSE) AS fits
              FROM (SELECT 1) AS one
              LEFT JOIN slots AS m ON m.subject = c.subject AND m.team_subject = c.team
              LEFT JOIN slots AS t ON t.subject = c.team AND t.team_subject IS NULL) AS g
), accepted AS (
    -- a granted hold's id is two numbers drawn from the event log's sequence, the member's and the team's,
    -- joined by 't': the ids its two RESERVED events are listed under (a hold writes no event, see
    -- team-take.sql); a consume keeps the id it was given and logs both events
    SELECT g.ord, g.subject, g.team, g.tokens, g.endpoint, g.expires_at, g.consume, g.member_number, g.team_number,
           g.call_at, g.call_db_at,
           CASE WHEN g.consume THEN g.id
                ELSE CAST(g.member_number AS VARCHAR) || 't' || CAST(g.team_number AS VARCHAR) END AS id
      FROM (SELECT c.ord, c.subject, c.team, c.tokens, c.endpoint, c.id, c.expires_at, c.consume, c.call_at,
                   c.call_db_at,
                   CASE WHEN c.consume THEN NULL ELSE nextval('tq_event_id_seq') END AS member_number,
                   CASE WHEN c.consume THEN NULL ELSE nextval('tq_event_id_seq') END AS team_number
              FROM (SELECT c.ord AS k FROM calls AS c WHERE (SELECT yes FROM everyone_fits)
                    UNION ALL
                    -- only when some call may not fit: the walk runs only when this branch is read
                    SELECT w.k FROM walk AS w WHERE NOT (SELECT yes FROM everyone_fits) AND w.fits) AS w
              JOIN calls AS c ON c.ord = w.k
             OFFSET 0) AS g
), sums AS (
    -- each granted call moves its member's account and its team's by the same tokens
    SELECT o.subject, SUM(CASE WHEN x.consume THEN x.tokens ELSE 0 END) AS consumed,
           SUM(CASE WHEN x.consume THEN 0 ELSE x.tokens END) AS held, SUM(x.tokens) AS total,
           MAX(x.call_at) AS last_at
      FROM accepted AS x CROSS JOIN LATERAL (VALUES (x.subject), (x.team)) AS o(subject)
     GROUP BY o.subject
), account AS (
    -- by the key alone, each row moved from its own columns: PostgreSQL finds the rows to update as of
    -- this statement's snapshot and tests the WHERE on that version first; only a row that passes is
    -- tested again on its newest version (the one locked above). A balance test here would read the
    -- snapshot's balance, older than the one the walk granted against, and could drop a row another
    -- transaction freed room in meanwhile (the team's, so the members' rows moved alone). The walk has
    -- checked every sum against its row as locked; the key and the lock keep that row until commit.
    UPDATE tq_account AS a SET used = a.used + s.consumed, reserved = a.reserved + s.held, updated_at = s.last_at
      FROM sums AS s
     WHERE a.subject = s.subject AND a.plan_month = :month
       -- a no-op filter (the summed subjects are calls' accounts) that lets the key's index find the rows
       AND a.subject = ANY(CAST((SELECT CAST(:accountList AS VARCHAR[])) AS VARCHAR[]))
    RETURNING a.subject, a.plan_month, a.allocated, a.granted, a.carried, a.used, a.reserved, a.created_at,
              a.updated_at
), hold AS (
    -- created_at in the database's clock, as expires_at (see reserve.sql, round 326)
    INSERT INTO tq_reservation (id, subject, plan_month, held, state, charged, actual, overage, idempotency_key,
                                endpoint, is_consume, created_at, expires_at, finished_at, team_subject)
    SELECT x.id, x.subject, :month, x.tokens, CASE WHEN x.consume THEN 'COMMITTED' ELSE 'HELD' END,
           CASE WHEN x.consume THEN x.tokens ELSE 0 END, CASE WHEN x.consume THEN x.tokens END, 0,
           CAST(NULL AS VARCHAR), x.endpoint, x.consume, x.call_db_at, x.expires_at,
           CASE WHEN x.consume THEN x.call_at END, x.team
      FROM accepted AS x
), event AS (
    INSERT INTO tq_event (subject, plan_month, kind, tokens, overage, reservation_id, transaction_id, detail,
                          is_consume, occurred_at)
    SELECT o.subject, :month, 'COMMITTED', x.tokens, 0, x.id, NULL, x.endpoint, TRUE, x.call_at
      FROM accepted AS x CROSS JOIN LATERAL (VALUES (x.subject, 0), (x.team, 1)) AS o(subject, n)
     WHERE x.consume
     ORDER BY x.ord, o.n
    RETURNING id, subject, reservation_id
)
-- per call: its consume events' ids, or its RESERVED events' (the hold's numbers)
SELECT x.ord, m.subject, m.plan_month, m.allocated, m.granted, m.carried, m.used, m.reserved, m.created_at,
       m.updated_at, t.subject AS team_subject, t.allocated AS team_allocated, t.granted AS team_granted,
       t.carried AS team_carried, t.used AS team_used, t.reserved AS team_reserved,
       t.created_at AS team_created_at, t.updated_at AS team_updated_at,
       COALESCE(em.id, x.member_number) AS event_id, COALESCE(et.id, x.team_number) AS team_event_id,
       x.id AS hold_id
  FROM accepted AS x
  JOIN account AS m ON m.subject = x.subject
  JOIN account AS t ON t.subject = x.team
  LEFT JOIN event AS em ON em.reservation_id = x.id AND em.subject = x.subject
  LEFT JOIN event AS et ON et.reservation_id = x.id AND et.subject = x.team
 ORDER BY x.ord
