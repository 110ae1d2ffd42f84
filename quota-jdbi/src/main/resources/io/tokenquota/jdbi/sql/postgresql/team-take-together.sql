-- Reserves and consumes without idempotency keys of several team members (the store's group commit for
-- members), in one statement and one commit, as take-together.sql does for plain users. A call is a
-- consume when :consumeList says so, else a hold; :expiryList is its row's expiry in the database's
-- clock, in microseconds since the epoch (a consume's is its instant, as in team-take.sql, whose row a
-- member's consume keeps too). :teamList names the team the store last saw each member in, :idList
-- each new row's id; :accountList is every team and member the calls name, :teamsList the teams.
-- The accounts of the month are locked teams first, then members, each in subject order: the order of
-- every path that locks a team's row and a member's (team-take, team-finish, the locked path), so no two
-- of them deadlock. A call is granted only if, on the rows as locked, the member is still in that team,
-- both accounts are the latest of their owners with no stale hold, and each has room for the sum of all
-- the batch's calls on it: the check of team-take.sql, for every call at once. Then each granted call
-- fits after those before it in queue order (balances only go down by what the calls ask), so granting
-- them is what running them one after another would do. An account short of its sum grants none of its
-- calls (a team short of its members' sum, none of theirs), and a call not granted changes nothing: its
-- caller runs it alone, on the path that decides one call at a time and explains refusals. Both balances
-- of each granted call move, and its hold (which remembers the team) is written, with one event per
-- account for a consume. One row back per granted call (ord, 1-based) with the member's and the team's
-- account as the statement left them and both events' ids.
-- :month is the leader's clock's month: an account with a later month is not locked (NOT EXISTS on later
-- months), so a call whose member or team has moved on is not granted here and runs alone on the store's
-- transaction path, which starts from the member's latest month (round 323). The store sends only calls
-- made in :month; each is made at its own instant (round 343): :nowList in the policy's clock (its
-- events' time, a consume's finished_at), :dbNowList the same in the database's clock (its row's
-- creation), microseconds since the epoch; an account's updated_at is its last granted call's. :dbNow is
-- the last call's instant, at which no account may have a stale hold.
WITH calls AS (
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
), demand AS (
    -- what the batch asks of each account: the calls of its member, or of its team's members
    SELECT o.subject, SUM(c.tokens) AS tokens
      FROM calls AS c CROSS JOIN LATERAL (VALUES (c.subject), (c.team)) AS o(subject)
     GROUP BY o.subject
), fits AS (
    -- the locked accounts with room for every call the batch asks of them, as locked (the newest versions)
    SELECT l.subject, l.team_subject
      FROM locked AS l JOIN demand AS d ON d.subject = l.subject
     WHERE l.available >= d.tokens
), accepted AS (
    -- a call is granted when its member (still in its team) and its team both have room for all their
    -- calls here: then it fits after the calls before it, since balances only go down by what the calls
    -- ask. A granted hold's id is two numbers drawn from the event log's sequence in queue order, the
    -- member's and the team's, joined by 't': the ids its two RESERVED events are listed under (a hold
    -- writes no event, see team-take.sql); a consume keeps the id it was given and logs both events
    SELECT g.ord, g.subject, g.team, g.tokens, g.endpoint, g.expires_at, g.consume, g.member_number, g.team_number,
           g.call_at, g.call_db_at,
           CASE WHEN g.consume THEN g.id
                ELSE CAST(g.member_number AS VARCHAR) || 't' || CAST(g.team_number AS VARCHAR) END AS id
      FROM (SELECT c.ord, c.subject, c.team, c.tokens, c.endpoint, c.id, c.expires_at, c.consume, c.call_at,
                   c.call_db_at,
                   CASE WHEN c.consume THEN NULL ELSE nextval('tq_event_id_seq') END AS member_number,
                   CASE WHEN c.consume THEN NULL ELSE nextval('tq_event_id_seq') END AS team_number
              FROM calls AS c
             WHERE EXISTS (SELECT 1 FROM fits AS m WHERE m.subject = c.subject AND m.team_subject = c.team)
               AND EXISTS (SELECT 1 FROM fits AS t WHERE t.subject = c.team AND t.team_subject IS NULL)
             ORDER BY c.ord
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
    -- snapshot's balance, older than the one `fits` tested, and could drop a row another transaction freed
    -- room in meanwhile (the team's, so the members' rows moved alone); `fits` has checked every sum against
    -- its row as locked, and the lock keeps that row until commit. The new values come from a subquery per
    -- row and the rows from the key's index (the subjects an init plan lists), not from a join: a row
    -- another transaction changed since the snapshot (a team's row, nearly always) is evaluated again on
    -- its newest version, and that re-evaluation costs what the update's own plan costs to start
    UPDATE tq_account AS a
       SET (used, reserved, updated_at) = (SELECT a.used + s.consumed, a.reserved + s.held, s.last_at
                                             FROM sums AS s WHERE s.subject = a.subject)
     WHERE a.subject = ANY(ARRAY(SELECT subject FROM sums)) AND a.plan_month = :month
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
