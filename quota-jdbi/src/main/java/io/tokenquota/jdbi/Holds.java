package io.tokenquota.jdbi;

import static io.tokenquota.jdbi.Accounts.adjust;
import static io.tokenquota.jdbi.Accounts.update;
import static io.tokenquota.jdbi.Operations.contended;
import static io.tokenquota.jdbi.Operations.optionalTransaction;
import static io.tokenquota.jdbi.Operations.transaction;

import io.tokenquota.ErrorCode;
import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.TokenUsage;
import io.tokenquota.Reserved;
import io.tokenquota.Team;
import io.tokenquota.internal.LedgerRules;
import io.tokenquota.jdbi.Accounts.Committed;
import io.tokenquota.jdbi.Operations.Conflict;
import io.tokenquota.jdbi.Operations.Op;
import io.tokenquota.jdbi.Rows.StoredReservation;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantLock;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.HandleCallback;
import org.jdbi.v3.core.JdbiException;
import org.jdbi.v3.core.mapper.RowMapper;
import org.jdbi.v3.core.statement.UnableToExecuteStatementException;
import org.jdbi.v3.core.statement.Update;

/**
 * Holds and one-step consumes ({@code tq_reservation}): reserve and consume ({@link #take}, alone, in
 * turn on a subject stripe, or combined with other callers' in one statement by the
 * {@link Combiner}), commit and release ({@link #finishLiveHold} for a held hold of the subject's
 * latest month, {@link #finishLocked} for any other), expiry of holds past their TTL, and reservation
 * look-ups. The statements of the hot path are bound by position ({@link Positional}).
 *
 * <p>Lock order: the hot path locks one hold, then one account, by one conditional update each; the
 * locked path ({@link #finishLocked}) locks the hold, its month's account, then the subject's latest
 * account if that is a later month, months ascending as a first touch locks them.
 */
final class Holds {
    // logged under the store's name, as before the families were split out of it
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(SqlQuotaStore.class);
    /** A reserve/consume tries at most this often: once, and again after creating the account or sweeping stale holds. */
    static final int MAX_TAKE_ATTEMPTS = 4;
    private static final int SUBJECT_STRIPES = 4096;

    private final Sql sql;
    /** The statements of reserve, consume, commit and release, in JDBC's positional form. */
    private final Sql.Hot hot;
    private final QuotaPolicy policy;
    private final Accounts accounts;
    /** How far the database's clock is ahead of the policy's; {@code expires_at} is stored in the database's. */
    private final Duration dbOffset;
    /** Reads reservations back into the policy's clock. */
    private final RowMapper<StoredReservation> reservations;
    private final RowMapper<Rows.FinishedHold> finishedHolds;
    /** Reads a key-less consume, or a key-less hold whose row was deleted, from its event. */
    private final RowMapper<StoredReservation> finishedByEvent;
    /**
     * On PostgreSQL, reserves and consumes of one subject in this JVM take turns here instead of
     * queueing on the account's row lock, which their one statement holds from its first part to its
     * end: the database still decides, but a hot subject keeps one backend busy rather than a queue of
     * backends that each wake, re-check the row and go back to waiting. Striped, so unrelated subjects
     * rarely share a lock; only ever held around one reserve or consume.
     */
    private final ReentrantLock[] subjectStripes = new ReentrantLock[SUBJECT_STRIPES];
    /**
     * On PostgreSQL, reserves and consumes without idempotency keys in this JVM are combined into one
     * statement and one commit when they arrive together (a group commit): a hot subject is then not
     * held to one round trip and one WAL flush per call, and spread subjects share round trips.
     */
    private final Combiner<KeylessTake, Combined> takes = new Combiner<>();
    /** The same for commits and releases of held holds of the latest month, in lanes by hold id. */
    private final Combiner<LiveCall, LiveFinish> finishes = new Combiner<>();
    /**
     * The same for team members' keyless reserves and consumes, in lanes by team: members of one team
     * otherwise queue on their team's row one statement and one commit at a time.
     */
    private final Combiner<MemberTake, TeamGrant> teamTakes = new Combiner<>();
    /** The same for commits and releases of members' held holds, in lanes by hold id. */
    private final Combiner<LiveCall, TeamFinish> teamFinishes = new Combiner<>();
    /**
     * Subjects this JVM last saw in a team, and that team's subject, so that their holds try the team
     * path first instead of a plain statement that skips them. Only a hint: every statement reads the
     * membership itself, so a stale entry costs one statement that changes nothing. Bounded; cleared
     * when full.
     */
    private final Map<String, String> members = new java.util.concurrent.ConcurrentHashMap<>();
    private static final int MAX_REMEMBERED_MEMBERS = 100_000;

    Holds(Sql sql, QuotaPolicy policy, Accounts accounts, Duration dbOffset) {
        this.sql = sql;
        this.hot = sql.hot();
        this.policy = policy;
        this.accounts = accounts;
        this.dbOffset = dbOffset;
        for (int i = 0; i < SUBJECT_STRIPES; i++) {
            subjectStripes[i] = new ReentrantLock();
        }
        this.reservations = Rows.reservations(dbOffset);
        this.finishedHolds = Rows.finishedHolds(reservations);
        this.finishedByEvent = Rows.finishedByEvent(dbOffset);
    }

    /**
     * A hold ({@code ttl != null}) or a one-step consume ({@code ttl == null}). The common case
     * (account exists, no stale hold, tokens available) is one attempt; anything else makes the
     * attempt change nothing, and only then does the store read to find out why: a replayed key,
     * the month's first touch (create the account), stale holds (expire them), or a refusal.
     */
    Reserved take(Op op, String subject, long tokens, String key, String endpoint, Duration ttl, TokenUsage usage) {
        String team = members.isEmpty() ? null : members.get(subject);
        if (team != null) {
            Reserved held = takeAsMember(op, subject, team, tokens, key, endpoint, ttl, usage);
            if (held != null) {
                return held;
            }
            // no longer a member (another instance took it out): the plain path
            members.remove(subject);
        }
        if (!sql.oneStatementPerChange()) {
            // H2's transaction locks the row only for its last statement; queueing the whole take would
            // serialize the inserts that can run side by side
            return takeInTurn(op, subject, tokens, key, endpoint, ttl, usage);
        }
        // a consume with a usage runs alone: the combined statement carries no usage (holds never do)
        if (key == null && usage == null && sql.takeTogetherInOneStatement != null) {
            Combined combined = takes.submit(subject, new KeylessTake(subject, tokens, endpoint, ttl, op.now), op,
                    calls -> takeTogether(op, calls),
                    () -> new Combined(takeInTurn(op, subject, tokens, null, endpoint, ttl, null), null, null));
            if (combined != null) {
                if (combined.event != null) {
                    // decided in another caller's statement: this caller's listeners hear of it
                    op.logged(combined.event);
                    op.changed(combined.before, combined.reserved.account());
                }
                return combined.reserved;
            }
        }
        ReentrantLock stripe = subjectStripes[Math.floorMod(subject.hashCode(), SUBJECT_STRIPES)];
        lockWithoutConnection(op, stripe);
        try {
            return takeInTurn(op, subject, tokens, key, endpoint, ttl, usage);
        } finally {
            stripe.unlock();
        }
    }

    /**
     * Takes a subject stripe. No thread waits for a lock or a combiner while it holds a connection
     * (round 326, {@link Op#releaseConnection}): the stripe's holder may be waiting for a connection
     * itself, so a thread that already has one (a combiner's leader whose statement left its own call
     * undecided, a member take that fell back from the team path) gives it back before it waits; one that
     * gets the stripe at once keeps it. Round 326: on a host pool of one connection, the leader kept the
     * pool's only connection while it waited here for the stripe, whose holder waited for that connection,
     * until the pool's timeout failed them.
     */
    private static void lockWithoutConnection(Op op, ReentrantLock stripe) {
        if (stripe.tryLock()) {
            return;
        }
        op.releaseConnection();
        stripe.lock();
    }

    private Reserved takeInTurn(Op op, String subject, long tokens, String key, String endpoint, Duration ttl,
                                TokenUsage usage) {
        boolean consume = ttl == null;
        // a consume without a key keeps no reservation row; it is handed out under its event's id
        boolean keepsRow = !consume || key != null;
        YearMonth month = policy.monthOf(op.now);
        // a hold is numbered by the statement that grants it (see Rows.holdNumbers); a consume with a key
        // keeps a row under an id of its own
        String id = consume && key != null ? holdId(false) : null;
        Instant expiresAt = consume ? op.now : op.now.plus(ttl);
        EventKind kind = consume ? EventKind.COMMITTED : EventKind.RESERVED;
        for (int attempt = 1; ; attempt++) {
            Reservation granted = new Reservation(id, subject, month, tokens,
                    consume ? ReservationState.COMMITTED : ReservationState.HELD, consume ? tokens : 0,
                    consume ? Long.valueOf(tokens) : null, 0, key, endpoint, op.now, expiresAt, consume ? op.now : null);
            Optional<Committed> done;
            try {
                done = tryTake(op, granted, consume, keepsRow, kind, op.dbNow, usage);
            } catch (JdbiException e) {
                if (key != null && Failures.isUniqueViolation(e)) {
                    // the key was used before, or a concurrent call with it won the insert: answer as its
                    // replay (if it is gone again, that call rolled back: run this one again), after the
                    // first touch and the sweep any reserve does, in that order: a new month's account
                    // carries over what the old month had before its stale holds are returned, and a
                    // stale hold's replay answers it EXPIRED
                    accounts.currentAccount(op, subject);
                    expireStaleOf(op, subject);
                    StoredReservation existing = reservationByKey(op, subject, key).orElseThrow(() -> new Conflict(e));
                    return replayed(op, replay(existing, tokens, consume, ttl, endpoint),
                            accounts.currentAccount(op, subject));
                }
                throw e;
            }
            if (done.isPresent()) {
                QuotaAccount after = done.get().account();
                QuotaAccount before = consume ? adjust(after, -tokens, 0, 0) : adjust(after, 0, -tokens, 0);
                if (!consume) {
                    // the hold's number: its id, and the id its RESERVED event is listed under
                    granted = withId(granted, Long.toString(done.get().eventId()));
                } else if (!keepsRow) {
                    granted = withId(granted, Rows.keylessConsumeId(done.get().eventId()));
                }
                op.logged(new LedgerEvent(done.get().eventId(), subject, month, kind, tokens, 0, granted.id(), null,
                        endpoint, op.now, usage));
                op.changed(before, after);
                return new Reserved(granted, after, false);
            }
            // it changed nothing: find out why, fixing what is ours to fix, then try again or refuse
            YearMonth probed = month;
            Probe probe = op.with(h -> h.createQuery(sql.probeSubject)
                    .bind("subject", subject).bind("month", Rows.month(probed))
                    .bind("dbNow", Rows.timestamp(op.dbNow))
                    .map((rs, ctx) -> new Probe(Rows.nullableLong(rs, "available"), rs.getString("later_month"),
                            rs.getLong("stale"), rs.getString("team_subject"))).one());
            boolean canRetry = attempt < MAX_TAKE_ATTEMPTS;
            // another instance, whose clock is ahead, may have opened the next month: write there, never behind it
            YearMonth latest = probe.laterMonth == null ? month : YearMonth.parse(probe.laterMonth);
            if (probe.team != null) {
                // a team member (its latest account says so): the plain statements skip it; its holds are
                // held against both accounts, from the month this one's writes land in (round 323: the team
                // path started from the clock's month, whose account said no team, and answered "not a
                // member"; this loop went round again without end, a query per pass, on H2 and PostgreSQL)
                rememberMember(subject, probe.team);
                Reserved held = takeForTeam(op, subject, tokens, key, endpoint, ttl, usage, latest);
                if (held != null) {
                    return held;
                }
                // it is not (any more): membership sync took it out meanwhile. Bounded as every pass here,
                // so that no disagreement between the two paths can ever spin
                members.remove(subject);
                if (!canRetry) {
                    throw contended(consume ? "consume" : "reserve", subject);
                }
                month = latest;
                continue;
            }
            if (probe.laterMonth != null && canRetry) {
                month = latest;
                continue;
            }
            if (probe.available == null && canRetry) {
                accounts.currentAccount(op, subject);
                continue;
            }
            if (probe.stale > 0 && canRetry) {
                // the replay of a stale hold's key must answer it EXPIRED, so the sweep comes first
                expireStaleOf(op, subject);
                continue;
            }
            if (key != null) {
                Optional<StoredReservation> existing = reservationByKey(op, subject, key);
                if (existing.isPresent()) {
                    return replayed(op, replay(existing.get(), tokens, consume, ttl, endpoint),
                            accounts.currentAccount(op, subject));
                }
            }
            // enough again by now (a concurrent first touch, release or credit): the refusal was stale
            if (probe.available != null && probe.available >= tokens && canRetry) {
                continue;
            }
            throw reject(op, subject, month, tokens, endpoint);
        }
    }

    // ---------------------------------------------------------------- team members

    private void rememberMember(String subject, String teamSubject) {
        if (members.size() >= MAX_REMEMBERED_MEMBERS) {
            members.clear();
        }
        members.put(subject, teamSubject);
    }

    /**
     * Puts a subject in a team or takes it out ({@code teamSubject == null}): the membership, and the
     * team on the subject's latest account, which the hold statements read and check on the row they
     * lock. One transaction that locks that account first: a first touch of the next month locks it too
     * before it copies the membership into the new account, so it either sees this change or runs
     * first, and then this finds the account superseded and writes the new month's. The account is
     * opened first, so there always is one to lock.
     */
    void setTeam(Op op, String subject, String teamSubject) {
        for (int attempt = 1; ; attempt++) {
            YearMonth month = accounts.currentAccount(op, subject).month();
            boolean done = transaction(op, h -> {
                boolean superseded = h.createQuery(sql.lockAccountForTeam).bind("subject", subject)
                        .bind("month", Rows.month(month)).mapTo(Boolean.class).one();
                if (superseded) {
                    return false;
                }
                if (teamSubject == null) {
                    update(h, sql.deleteTeamMember).bind("subject", subject).execute();
                } else {
                    update(h, sql.upsertTeamMember).bind("subject", subject).bind("team", teamSubject)
                            .bind("now", Rows.timestamp(op.now)).execute();
                }
                update(h, sql.setTeamOfAccount).bind("team", teamSubject).bind("subject", subject)
                        .bind("month", Rows.month(month)).execute();
                return true;
            });
            if (done) {
                break;
            }
            if (attempt >= MAX_TAKE_ATTEMPTS) {
                throw contended("setTeam", subject);
            }
        }
        if (teamSubject == null) {
            members.remove(subject);
        } else {
            rememberMember(subject, teamSubject);
        }
    }

    Optional<String> teamOf(Op op, String subject) {
        return op.with(h -> h.createQuery(sql.selectTeamOf).bind("subject", subject).mapTo(String.class).findOne());
    }

    /** What one attempt of a team member's take found, under the locks of both accounts. */
    private enum TeamOutcome { NOT_MEMBER, MOVED, NO_ACCOUNT, LATER_MONTH, STALE, REPLAY, REFUSED, GRANTED }

    private record TeamTake(TeamOutcome outcome, String team, QuotaAccount user, QuotaAccount teamAccount,
                            QuotaAccount userAfter, QuotaAccount teamAfter, long userEventId, long teamEventId,
                            StoredReservation replay, String id) {
        static TeamTake of(TeamOutcome outcome, String team) {
            return new TeamTake(outcome, team, null, null, null, null, 0, 0, null, null);
        }
    }

    /**
     * A hold ({@code ttl != null}) or consume of a team member, held against its own account and its
     * team's at once, or refused by the stricter of the two: one short transaction that reads the
     * membership, locks the team's account, then the member's (of one month, in that order everywhere,
     * so members racing each other never deadlock), decides with {@link LedgerRules#refusal}, and writes
     * the hold (which remembers the team), both events and both balances. Anything else it finds (no
     * account yet, a later month, a stale hold) rolls it back, is fixed, and it runs again, a bounded
     * number of times. {@code null} when the subject is not in a team (its latest account says none).
     *
     * @param from the subject's latest month as the caller knows it: the take starts from the later of
     *             it and the clock's month, where the subject's writes land (docs/semantics.md: "a write
     *             lands in the later of the clock's month and the subject's latest account"), and moves
     *             later still when either account turns out to be in a later month
     */
    private Reserved takeForTeam(Op op, String subject, long tokens, String key, String endpoint, Duration ttl,
                                 TokenUsage usage, YearMonth from) {
        boolean consume = ttl == null;
        EventKind kind = consume ? EventKind.COMMITTED : EventKind.RESERVED;
        // a consume keeps a row under an id of its own; a hold is numbered where it is granted
        String consumeId = consume ? holdId(true) : null;
        Instant expiresAt = consume ? op.now : op.now.plus(ttl);
        YearMonth clockMonth = policy.monthOf(op.now);
        // round 323: from the clock's month alone, an instance whose clock lags behind a month another
        // instance opened read that month's membership, not the latest one
        YearMonth month = from != null && from.isAfter(clockMonth) ? from : clockMonth;
        if (hot.teamTakeInOneStatement() != null) {
            Reserved held = teamTakeInOneStatement(op, subject, tokens, key, endpoint, consumeId, expiresAt, consume,
                    month, usage);
            if (held != null) {
                return held;
            }
            // changed nothing: the transaction below finds out why (and refuses, replays or fixes it)
        }
        for (int attempt = 1; ; attempt++) {
            YearMonth m = month;
            TeamTake t;
            try {
                t = transaction(op, h -> {
                    TeamTake result = tryTakeForTeam(h, op, subject, m, consumeId, tokens, key, endpoint, expiresAt,
                            consume, kind, usage);
                    if (result.outcome() != TeamOutcome.GRANTED) {
                        h.rollback();
                    }
                    return result;
                });
            } catch (JdbiException e) {
                if (key != null && Failures.isUniqueViolation(e)) {
                    // a concurrent call with the key won the insert: answer as its replay (see takeInTurn)
                    StoredReservation existing = reservationByKey(op, subject, key).orElseThrow(() -> new Conflict(e));
                    return replayed(op, replay(existing, tokens, consume, ttl, endpoint),
                            accounts.currentAccount(op, subject));
                }
                throw e;
            }
            boolean canRetry = attempt < 2 * MAX_TAKE_ATTEMPTS;
            switch (t.outcome()) {
                case NOT_MEMBER:
                    return null;
                case GRANTED: {
                    QuotaAccount before = t.user();
                    String id = t.id();
                    Reservation granted = new Reservation(id, subject, m, tokens,
                            consume ? ReservationState.COMMITTED : ReservationState.HELD, consume ? tokens : 0,
                            consume ? Long.valueOf(tokens) : null, 0, key, endpoint, op.now, expiresAt,
                            consume ? op.now : null, Team.id(t.team()));
                    op.logged(new LedgerEvent(t.userEventId(), subject, m, kind, tokens, 0, id, null, endpoint, op.now,
                            usage));
                    op.logged(new LedgerEvent(t.teamEventId(), t.team(), m, kind, tokens, 0, id, null, endpoint, op.now,
                            usage));
                    op.changed(before, t.userAfter());
                    op.changed(t.teamAccount(), t.teamAfter());
                    return new Reserved(granted, t.userAfter(), false, t.teamAfter());
                }
                case REPLAY:
                    return replayed(op, replay(t.replay(), tokens, consume, ttl, endpoint), t.user());
                case REFUSED:
                    throw rejectForTeam(op, subject, tokens, endpoint, t.user(), t.teamAccount());
                default:
                    break;
            }
            if (!canRetry) {
                throw contended(consume ? "consume" : "reserve", subject);
            }
            if (t.outcome() == TeamOutcome.MOVED) {
                // the membership changed between the read of the team and the lock of the member's account
                continue;
            }
            if (t.outcome() == TeamOutcome.STALE) {
                // the replay of a stale hold's key must answer it EXPIRED, so the sweep comes first
                expireStaleOf(op, subject);
                expireStaleOf(op, t.team());
                continue;
            }
            // the month's first touch of either account, or a later month opened meanwhile: both write in
            // the later of the two accounts' current months, never behind the month this take is at
            YearMonth userMonth = accounts.openMonth(op, subject, month).month();
            YearMonth teamMonth = accounts.openMonth(op, t.team(), month).month();
            month = userMonth.isAfter(teamMonth) ? userMonth : teamMonth;
            if (!userMonth.equals(teamMonth)) {
                // the one behind opens the later month too
                accounts.openMonth(op, userMonth.isAfter(teamMonth) ? t.team() : subject, month);
            }
        }
    }

    /**
     * A consume's row id (a hold's id is its number, see {@link Rows#holdNumbers}; before schema
     * version 4 a hold's was one of these too): a random UUID whose lowest bit says whether a team
     * member's row was written under it, so that its commit or release goes straight to the statement
     * that settles both accounts, and a plain user's never tries that one first. Only a hint: each
     * statement checks the hold's own row, and a hold either one did not match is finished on the
     * locked path.
     */
    static String holdId(boolean team) {
        UUID random = UUID.randomUUID();
        long low = team ? random.getLeastSignificantBits() | 1L : random.getLeastSignificantBits() & ~1L;
        return new UUID(random.getMostSignificantBits(), low).toString();
    }

    /**
     * A team member's hold's id (reserved since schema version 4): the member's number and the team's,
     * drawn from the event log's sequence, joined by 't', which is also the hint that its commit or
     * release goes straight to the statement that settles both accounts. Each number is the id of the
     * hold's RESERVED event in that account's log, and of the first event that finishes it there.
     */
    static String teamHoldId(long memberNumber, long teamNumber) {
        return memberNumber + "t" + teamNumber;
    }

    /**
     * Whether {@code id} says a team member's hold was granted under it: a 't' between its numbers, or
     * (a hold reserved before schema version 4, or a member's consume) the lowest bit of its UUID. Only
     * a hint, as {@link #holdId} says.
     */
    static boolean isTeamHoldId(String id) {
        return id.indexOf('t') > 0 || (id.length() == 36 && (Character.digit(id.charAt(35), 16) & 1) == 1);
    }

    /**
     * The common case of a member's take on PostgreSQL as one statement ({@code team-take.sql}): both
     * accounts locked team first, checked and moved, the hold and both events written; {@code null}
     * when it changed nothing (not a member, no account yet, a later month, a stale hold, a refusal, a
     * replayed key), which the transaction path then sorts out.
     */
    private Reserved teamTakeInOneStatement(Op op, String subject, long tokens, String key, String endpoint,
                                            String consumeId, Instant expiresAt, boolean consume, YearMonth month,
                                            TokenUsage usage) {
        Map<String, QuotaAccount> after = new java.util.HashMap<>(4);
        Map<String, Long> eventIds = new java.util.HashMap<>(4);
        String id = null;
        Connection c = op.handle().getConnection();
        try (PreparedStatement ps = hot.teamTakeInOneStatement().prepare(c, withUsage(usage, "subject", subject,
                "month", Rows.month(month), "tokens", tokens, "consume", consume, "key", key, "endpoint", endpoint,
                "id", consumeId, "now", op.now, "expiresAt", expiresAt.plus(dbOffset), "dbNow", op.dbNow));
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                QuotaAccount account = Rows.ACCOUNT.map(rs, null);
                after.put(account.subject(), account);
                // a consume's event ids, or a hold's numbers (its RESERVED events' ids)
                eventIds.put(account.subject(), rs.getLong("event_id"));
                id = rs.getString("hold_id");
            }
        } catch (SQLException e) {
            if ((key != null && Failures.isUniqueViolation(e)) || Failures.isOverflow(e)) {
                // a replay of the key, or a balance past 64 bits: undone whole; the transaction path answers
                return null;
            }
            throw new UnableToExecuteStatementException(e, null);
        }
        QuotaAccount userAfter = after.remove(subject);
        if (userAfter == null || after.size() != 1) {
            return null;
        }
        QuotaAccount teamAfter = after.values().iterator().next();
        String team = teamAfter.subject();
        EventKind kind = consume ? EventKind.COMMITTED : EventKind.RESERVED;
        Reservation granted = new Reservation(id, subject, month, tokens,
                consume ? ReservationState.COMMITTED : ReservationState.HELD, consume ? tokens : 0,
                consume ? Long.valueOf(tokens) : null, 0, key, endpoint, op.now, expiresAt, consume ? op.now : null,
                Team.id(team));
        op.logged(new LedgerEvent(eventIds.get(subject), subject, month, kind, tokens, 0, id, null, endpoint, op.now,
                usage));
        op.logged(new LedgerEvent(eventIds.get(team), team, month, kind, tokens, 0, id, null, endpoint, op.now, usage));
        op.changed(consume ? adjust(userAfter, -tokens, 0, 0) : adjust(userAfter, 0, -tokens, 0), userAfter);
        op.changed(consume ? adjust(teamAfter, -tokens, 0, 0) : adjust(teamAfter, 0, -tokens, 0), teamAfter);
        rememberMember(subject, team);
        return new Reserved(granted, userAfter, false, teamAfter);
    }

    /**
     * Commits ({@code actual} set) or releases a member's held hold of the latest month of both its
     * accounts in one statement ({@code team-finish.sql}); empty, and nothing changed, for any other
     * hold, which the locked path then finishes.
     */
    private Optional<Reservation> finishTeamHold(Op op, String reservationId, Long actual, TokenUsage usage) {
        boolean commit = actual != null;
        Reservation finished = null;
        Map<String, QuotaAccount> after = new java.util.LinkedHashMap<>(4);
        Map<String, Long> eventIds = new java.util.HashMap<>(4);
        Connection c = op.handle().getConnection();
        try (PreparedStatement ps = hot.teamFinishInOneStatement().prepare(c, withUsage(commit ? usage : null,
                "id", reservationId, "commit", commit, "actual", actual, "capAtHeld", capAtHeld(),
                "month", Rows.month(policy.monthOf(op.now)), "now", op.now));
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                finished = reservations.map(rs, null).reservation();
                String owner = rs.getString("account_subject");
                after.put(owner, new QuotaAccount(owner, finished.month(), rs.getLong("account_allocated"),
                        rs.getLong("account_granted"), rs.getLong("account_carried"), rs.getLong("account_used"),
                        rs.getLong("account_reserved"), Rows.instant(rs, "account_created_at"),
                        Rows.instant(rs, "account_updated_at")));
                eventIds.put(owner, rs.getLong("event_id"));
            }
        } catch (SQLException e) {
            throw new UnableToExecuteStatementException(e, null);
        }
        if (finished == null) {
            return Optional.empty();
        }
        EventKind kind = commit ? EventKind.COMMITTED : EventKind.RELEASED;
        long tokens = commit ? finished.charged() : finished.held();
        for (Map.Entry<String, QuotaAccount> e : after.entrySet()) {
            QuotaAccount a = e.getValue();
            op.logged(new LedgerEvent(eventIds.get(e.getKey()), e.getKey(), finished.month(), kind, tokens,
                    finished.overage(), finished.id(), null, finished.endpoint(), op.now, commit ? usage : null));
            op.changed(adjust(a, commit ? -tokens : 0, finished.held(), 0), a);
        }
        return Optional.of(finished);
    }

    private TeamTake tryTakeForTeam(Handle h, Op op, String subject, YearMonth month, String id, long tokens, String key,
                                    String endpoint, Instant expiresAt, boolean consume, EventKind kind,
                                    TokenUsage usage) {
        // the team the member's latest account says, read before any lock (the team's row is locked first);
        // the membership itself when the member has no account of the month yet (its first touch copies
        // it). The latest account, not the month's: membership sync writes the latest, which an instance
        // whose clock is ahead may have opened (round 323: January's row said no team, or the old one)
        Optional<String[]> ofAccount = h.createQuery(sql.selectTeamOfLatestAccount).bind("subject", subject)
                .bind("month", Rows.month(month))
                .map((rs, ctx) -> new String[] {rs.getString("plan_month"), rs.getString("team_subject")}).findOne();
        String team = ofAccount.isPresent() ? ofAccount.get()[1]
                : h.createQuery(sql.selectTeamOf).bind("subject", subject).mapTo(String.class).findOne().orElse(null);
        if (team == null) {
            return TeamTake.of(TeamOutcome.NOT_MEMBER, null);
        }
        if (ofAccount.isPresent() && YearMonth.parse(ofAccount.get()[0]).isAfter(month)) {
            // a member in a later month: the caller opens it for the team too and runs again there
            return TeamTake.of(TeamOutcome.LATER_MONTH, team);
        }
        Optional<Locked> teamLocked = lockIfExists(h, team, month);
        Optional<Locked> userLocked = teamLocked.isEmpty() ? Optional.empty() : lockIfExists(h, subject, month);
        if (teamLocked.isEmpty() || userLocked.isEmpty()) {
            return TeamTake.of(TeamOutcome.NO_ACCOUNT, team);
        }
        if (!team.equals(userLocked.get().team())) {
            return TeamTake.of(userLocked.get().team() == null ? TeamOutcome.NOT_MEMBER : TeamOutcome.MOVED, team);
        }
        if (teamLocked.get().superseded() || userLocked.get().superseded()) {
            return TeamTake.of(TeamOutcome.LATER_MONTH, team);
        }
        long stale = h.createQuery(sql.countStaleOfMember).bind("subject", subject).bind("team", team)
                .bind("dbNow", Rows.timestamp(op.dbNow)).mapTo(Long.class).one();
        if (stale > 0) {
            return TeamTake.of(TeamOutcome.STALE, team);
        }
        QuotaAccount user = userLocked.get().account();
        QuotaAccount teamAccount = teamLocked.get().account();
        if (key != null) {
            Optional<StoredReservation> existing = h.createQuery(sql.selectReservationByKey)
                    .bind("subject", subject).bind("key", key).map(reservations).findOne();
            if (existing.isPresent()) {
                return new TeamTake(TeamOutcome.REPLAY, team, user, teamAccount, null, null, 0, 0, existing.get(), null);
            }
        }
        if (LedgerRules.refusal(user, teamAccount, tokens) != null) {
            return new TeamTake(TeamOutcome.REFUSED, team, user, teamAccount, null, null, 0, 0, null, null);
        }
        long userUsed = consume ? LedgerRules.add(user.used(), tokens) : user.used();
        long userReserved = consume ? user.reserved() : LedgerRules.add(user.reserved(), tokens);
        long teamUsed = consume ? LedgerRules.add(teamAccount.used(), tokens) : teamAccount.used();
        long teamReserved = consume ? teamAccount.reserved() : LedgerRules.add(teamAccount.reserved(), tokens);
        LedgerRules.checkFits(userUsed, userReserved);
        LedgerRules.checkFits(teamUsed, teamReserved);
        // a hold's id is its two numbers, the member's and the team's (see teamHoldId); a consume keeps its own
        long memberNumber = consume ? 0 : h.createQuery(sql.selectNextEventId).mapTo(Long.class).one();
        long teamNumber = consume ? 0 : h.createQuery(sql.selectNextEventId).mapTo(Long.class).one();
        String rowId = consume ? id : teamHoldId(memberNumber, teamNumber);
        update(h, sql.insertTeamReservation).bind("id", rowId).bind("subject", subject).bind("month", Rows.month(month))
                .bind("held", tokens).bind("state", (consume ? ReservationState.COMMITTED : ReservationState.HELD).name())
                .bind("charged", consume ? tokens : 0).bind("actual", consume ? Long.valueOf(tokens) : null)
                .bind("key", key).bind("endpoint", endpoint).bind("consume", consume)
                .bind("dbNow", Rows.timestamp(op.dbNow)).bind("expiresAt", Rows.timestamp(expiresAt.plus(dbOffset)))
                .bind("finishedAt", Rows.timestamp(consume ? op.now : null)).bind("team", team).execute();
        // a hold writes no event: its RESERVED events are listed under its numbers
        long userEventId = consume
                ? accounts.insertChargeEvent(h, subject, month, kind, tokens, 0, id, endpoint, true, op.now, usage)
                : memberNumber;
        long teamEventId = consume
                ? accounts.insertChargeEvent(h, team, month, kind, tokens, 0, id, endpoint, true, op.now, usage)
                : teamNumber;
        QuotaAccount teamAfter = accounts.setBalance(h, teamAccount, teamAccount.granted(), teamUsed, teamReserved,
                op.now);
        QuotaAccount userAfter = accounts.setBalance(h, user, user.granted(), userUsed, userReserved, op.now);
        return new TeamTake(TeamOutcome.GRANTED, team, user, teamAccount, userAfter, teamAfter, userEventId,
                teamEventId, null, rowId);
    }

    private record Locked(QuotaAccount account, boolean superseded, String team) {
    }

    private Optional<Locked> lockIfExists(Handle h, String subject, YearMonth month) {
        return h.createQuery(sql.lockAccountIfCurrent).bind("subject", subject).bind("month", Rows.month(month))
                .map((rs, ctx) -> new Locked(Rows.ACCOUNT.map(rs, ctx), rs.getBoolean("superseded"),
                        rs.getString("team_subject"))).findOne();
    }

    /**
     * A replay's answer: the first hold as it is now, beside the subject's current account and the
     * account of the team the hold was held against ({@code null} when it was the subject's alone),
     * whatever team the subject is in now, of the same month: the later of the two owners' current
     * months, opened for the other if need be, as a member's hold would land (round 323: the team's was
     * read from the hold's month, so a replay on the next month answered {@code available()} from
     * February's member and January's team, a limit that refused nothing). The team's holds past their
     * TTL are expired first, as every read of an account does.
     */
    private Reserved replayed(Op op, Reservation hold, QuotaAccount user) {
        if (hold.teamId() == null) {
            return new Reserved(hold, user, true, null);
        }
        String teamSubject = Team.subject(hold.teamId());
        QuotaAccount team = accounts.openMonth(op, teamSubject, user.month());
        if (team.month().isAfter(user.month())) {
            user = accounts.openMonth(op, hold.subject(), team.month());
        }
        if (expireStaleOf(op, teamSubject) > 0) {
            team = accounts.storedAccount(op, teamSubject, team.month()).orElseThrow();
        }
        return new Reserved(hold, user, true, team);
    }

    /**
     * Logs a member's refusal (on the team's account too when the team refused) and builds its exception. The
     * events are the attempt's last statements, and two are written in one transaction: the first kept alone
     * would be logged again by the operation run again after a session ended between them (round 438, see
     * {@link #reject}).
     */
    private QuotaExceededException rejectForTeam(Op op, String subject, long tokens, String endpoint, QuotaAccount user,
                                                 QuotaAccount team) {
        QuotaExceededException.Scope scope = LedgerRules.refusal(user, team, tokens);
        List<String> owners = scope == QuotaExceededException.Scope.TEAM ? List.of(subject, team.subject())
                : List.of(subject);
        HandleCallback<List<Long>, RuntimeException> insert = h -> owners.stream().map(owner -> accounts.insertEvent(h,
                owner, user.month(), EventKind.REJECTED, tokens, 0, null, null, endpoint, false, op.now)).toList();
        List<Long> eventIds = owners.size() == 1 ? op.with(insert) : transaction(op, insert);
        for (int i = 0; i < owners.size(); i++) {
            op.logged(new LedgerEvent(eventIds.get(i), owners.get(i), user.month(), EventKind.REJECTED, tokens, 0, null,
                    null, endpoint, op.now));
        }
        return LedgerRules.refused(subject, tokens, user, team, scope, policy);
    }

    // ---------------------------------------------------------------- team members, combined

    /**
     * A member's reserve or consume: without an idempotency key or a usage (which the combined
     * statement does not carry) combined with other members' that arrive together, else, and for any
     * call the combined statement did not grant, {@link #takeForTeam}. {@code null} when the subject is
     * not in a team.
     */
    private Reserved takeAsMember(Op op, String subject, String team, long tokens, String key, String endpoint,
                                  Duration ttl, TokenUsage usage) {
        if (key == null && usage == null && hot.teamTakeTogetherInOneStatement() != null) {
            TeamGrant grant = teamTakes.submit(team, new MemberTake(subject, team, tokens, endpoint, ttl, op.now), op,
                    calls -> teamTakeTogether(op, calls),
                    () -> new TeamGrant(takeForTeam(op, subject, tokens, null, endpoint, ttl, null, null), null));
            if (grant != null) {
                if (grant.heard != null) {
                    grant.heard.tell(op);
                }
                return grant.reserved;
            }
        }
        return takeForTeam(op, subject, tokens, key, endpoint, ttl, usage, null);
    }

    /**
     * A member's reserve ({@code ttl} set) or consume without an idempotency key, waiting to be combined;
     * {@code now} is its caller's instant ({@link Op#now}), see {@link #inTurn}.
     */
    private record MemberTake(String subject, String team, long tokens, String endpoint, Duration ttl, Instant now) {
    }

    /**
     * What a combined statement did for one member call, for that caller's listeners (the statement
     * logs nothing on the leader's operation, so the leader tells its own too): the call's two events,
     * and its member's and team's accounts before and after it.
     */
    private record Heard(LedgerEvent memberEvent, LedgerEvent teamEvent, QuotaAccount memberBefore,
                         QuotaAccount memberAfter, QuotaAccount teamBefore, QuotaAccount teamAfter) {
        void tell(Op op) {
            op.logged(memberEvent);
            op.logged(teamEvent);
            op.changed(memberBefore, memberAfter);
            op.changed(teamBefore, teamAfter);
        }
    }

    /**
     * A combined member take's grant ({@code null}: not a member) and, when a combined statement
     * decided it, what to tell.
     */
    private record TeamGrant(Reserved reserved, Heard heard) {
    }

    /**
     * A combined member finish's outcome (as {@link #finishTeamHold}'s) and, when a combined statement
     * decided it, what to tell.
     */
    private record TeamFinish(Optional<Reservation> done, Heard heard) {
    }

    /** The team's account as a combined member statement returns it, beside the member's: {@code team_}-prefixed. */
    private static QuotaAccount teamAccount(ResultSet rs, String teamSubject, YearMonth month) throws SQLException {
        return new QuotaAccount(teamSubject, month, rs.getLong("team_allocated"), rs.getLong("team_granted"),
                rs.getLong("team_carried"), rs.getLong("team_used"), rs.getLong("team_reserved"),
                Rows.instant(rs, "team_created_at"), Rows.instant(rs, "team_updated_at"));
    }

    // ---------------------------------------------------------------- combined calls' instants

    /**
     * Each combined call's instant, in the statement's order (the leader's call first, then the lane's
     * queue): the call's own clock reading, taken when its operation started ({@link Op#now}), or the
     * instant of the call before it when that one is later, so that the instants never go backwards along
     * the statement, which applies the calls one after another in that order. Each lies within its own
     * call: no earlier than its start, and no later than the latest start among the batch's calls, all
     * made before the leader ran the batch, while each caller was still waiting for its outcome. The
     * call's month, its hold's creation and expiry, its event's time and its finish's are taken from it,
     * and the database's clock is it plus the store's measured offset, as {@link Op#dbNow} is.
     *
     * <p>Round 343: a batch ran every call at its leader's instant, taken when the leader's operation
     * started, before it queued or waited on a row lock, while the callers it picked up may have started
     * any time after that: a consume made on 1 February, queued behind a January call held up on its
     * account's row lock, was charged to January, and a one-hour hold asked for at 13:30 expired at 13:00.
     * One instant for the whole batch, taken when its leader runs it, would be inside every call too, but
     * it would move the leader's own January call, and every other call of the batch, to that later
     * instant and month: each call keeps its own.
     */
    private static Instant[] inTurn(List<Instant> starts) {
        Instant[] at = new Instant[starts.size()];
        for (int i = 0; i < at.length; i++) {
            Instant start = starts.get(i);
            at[i] = i > 0 && at[i - 1].isAfter(start) ? at[i - 1] : start;
        }
        return at;
    }

    /**
     * Microseconds since the epoch (the instants are whole microseconds, {@link Operations#operation}).
     * Not {@code ChronoUnit.MICROS.between}, which counts in nanoseconds first and overflows past 2262, a
     * year a policy clock may read (the database's own clock is then far behind, see {@link Op#dbNow}).
     */
    private static long micros(Instant instant) {
        return Math.addExact(Math.multiplyExact(instant.getEpochSecond(), 1_000_000L), instant.getNano() / 1_000);
    }

    /** The earlier of two instants, either of which may be {@code null} (none). */
    private static Instant earlier(Instant a, Instant b) {
        return a == null ? b : b == null || a.isBefore(b) ? a : b;
    }

    /**
     * Runs {@code calls} (two or more member takes, of one team or several) as one statement on the
     * leading caller's connection ({@code team-take-together.sql}), each at its own instant
     * ({@link #inTurn}): one result per call, {@code null} for each call it did not grant (a refusal by
     * either account, a member who left or changed teams, no account yet, a stale hold, a later month, a
     * call made in a later month than the first, a call by whose instant a hold granted before it in the
     * statement has expired, a database error that shows it did not commit), which its caller then runs
     * alone on {@link #takeForTeam}; a failure after which it may have committed fails every call it carried
     * ({@link #afterCombinedFailure}).
     */
    private List<TeamGrant> teamTakeTogether(Op op, List<MemberTake> calls) {
        int n = calls.size();
        List<TeamGrant> results = new ArrayList<>(java.util.Collections.nCopies(n, null));
        Instant[] at = inTurn(calls.stream().map(MemberTake::now).toList());
        YearMonth month = policy.monthOf(at[0]);
        // the calls the statement can decide as if they ran one after another, each at its instant
        List<Integer> sent = new ArrayList<>(n);
        Map<String, Instant> heldUntil = new java.util.HashMap<>();
        for (int i = 0; i < n; i++) {
            MemberTake call = calls.get(i);
            if (!policy.monthOf(at[i]).equals(month)) {
                // made in a later month, as is every call after it: alone, it lands in the later of that
                // month and its member's and team's latest accounts
                break;
            }
            Instant until = earlier(heldUntil.get(call.subject()), heldUntil.get(call.team()));
            if (until != null && !at[i].isBefore(until)) {
                // a hold granted before it here (its member's, or one held against its team) has expired by
                // its instant: run one after another it would sweep that hold first, which the statement
                // cannot (it sees no stale hold of its own); alone, the call does
                continue;
            }
            sent.add(i);
            if (call.ttl() != null) {
                Instant expiry = at[i].plus(call.ttl());
                heldUntil.merge(call.subject(), expiry, Holds::earlier);
                heldUntil.merge(call.team(), expiry, Holds::earlier);
            }
        }
        int m = sent.size();
        String[] subjects = new String[m];
        String[] teams = new String[m];
        Long[] tokens = new Long[m];
        String[] endpoints = new String[m];
        String[] ids = new String[m];
        Boolean[] consumes = new Boolean[m];
        Long[] expiries = new Long[m];
        Long[] nows = new Long[m];
        Long[] dbNows = new Long[m];
        Instant[] expiresAt = new Instant[m];
        java.util.Set<String> accountSet = new java.util.LinkedHashSet<>();
        java.util.Set<String> teamSet = new java.util.LinkedHashSet<>();
        for (int k = 0; k < m; k++) {
            MemberTake call = calls.get(sent.get(k));
            Instant now = at[sent.get(k)];
            subjects[k] = call.subject();
            teams[k] = call.team();
            tokens[k] = call.tokens();
            endpoints[k] = call.endpoint();
            consumes[k] = call.ttl() == null;
            // a consume keeps a row under an id of its own; a hold is numbered by the statement
            ids[k] = consumes[k] ? holdId(true) : null;
            // a consume's row expires at its instant, as takeForTeam's does
            expiresAt[k] = call.ttl() == null ? now : now.plus(call.ttl());
            expiries[k] = micros(expiresAt[k].plus(dbOffset));
            nows[k] = micros(now);
            dbNows[k] = micros(now.plus(dbOffset));
            teamSet.add(call.team());
            accountSet.add(call.subject());
        }
        accountSet.addAll(teamSet);
        List<Integer> granted = new ArrayList<>();
        List<long[]> eventIds = new ArrayList<>();
        Map<String, QuotaAccount> last = new java.util.HashMap<>();
        boolean prepared = false;
        boolean answered = false;
        try {
            Connection c = op.handle().getConnection();
            try (PreparedStatement ps = hot.teamTakeTogetherInOneStatement().prepare(c,
                    "subjectList", c.createArrayOf("varchar", subjects), "teamList", c.createArrayOf("varchar", teams),
                    "tokenList", c.createArrayOf("bigint", tokens),
                    "endpointList", c.createArrayOf("varchar", endpoints), "idList", c.createArrayOf("varchar", ids),
                    "consumeList", c.createArrayOf("boolean", consumes),
                    "expiryList", c.createArrayOf("bigint", expiries),
                    "nowList", c.createArrayOf("bigint", nows), "dbNowList", c.createArrayOf("bigint", dbNows),
                    "accountList", c.createArrayOf("varchar", accountSet.toArray()),
                    "teamsList", c.createArrayOf("varchar", teamSet.toArray()),
                    // stale holds as of the last call's instant: a hold stale by then keeps its accounts' calls
                    // out of the statement, and each caller sweeps it (or not) at its own instant, alone
                    "month", Rows.month(month), "dbNow", at[sent.get(m - 1)].plus(dbOffset))) {
                prepared = true;
                try (ResultSet rs = ps.executeQuery()) {
                    answered = true;
                    while (rs.next()) {
                        QuotaAccount member = Rows.ACCOUNT.map(rs, null);
                        int k = (int) rs.getLong("ord") - 1;
                        // every row of one account carries it as the statement left it: the first one read will do
                        last.putIfAbsent(member.subject(), member);
                        last.putIfAbsent(teams[k], teamAccount(rs, teams[k], month));
                        granted.add(k);
                        eventIds.add(new long[] {rs.getLong("event_id"), rs.getLong("team_event_id")});
                        ids[k] = rs.getString("hold_id");
                    }
                }
            }
        } catch (SQLException | JdbiException e) {
            return afterCombinedFailure(op, results, sent, e, prepared, answered, m + " member takes");
        }
        // walk back from each account as the statement left it to each grant's own after
        for (int g = granted.size() - 1; g >= 0; g--) {
            int k = granted.get(g);
            int index = sent.get(k);
            Instant now = at[index];
            MemberTake call = calls.get(index);
            boolean consume = consumes[k];
            long t = call.tokens();
            QuotaAccount memberAfter = last.get(call.subject());
            QuotaAccount teamAfter = last.get(call.team());
            QuotaAccount memberBefore = consume ? adjust(memberAfter, -t, 0, 0) : adjust(memberAfter, 0, -t, 0);
            QuotaAccount teamBefore = consume ? adjust(teamAfter, -t, 0, 0) : adjust(teamAfter, 0, -t, 0);
            EventKind kind = consume ? EventKind.COMMITTED : EventKind.RESERVED;
            Reservation hold = new Reservation(ids[k], call.subject(), month, t,
                    consume ? ReservationState.COMMITTED : ReservationState.HELD, consume ? t : 0,
                    consume ? Long.valueOf(t) : null, 0, null, call.endpoint(), now, expiresAt[k],
                    consume ? now : null, Team.id(call.team()));
            LedgerEvent memberEvent = new LedgerEvent(eventIds.get(g)[0], call.subject(), month, kind, t, 0,
                    ids[k], null, call.endpoint(), now);
            LedgerEvent teamEvent = new LedgerEvent(eventIds.get(g)[1], call.team(), month, kind, t, 0, ids[k],
                    null, call.endpoint(), now);
            results.set(index, new TeamGrant(new Reserved(hold, memberAfter, false, teamAfter),
                    new Heard(memberEvent, teamEvent, memberBefore, memberAfter, teamBefore, teamAfter)));
            last.put(call.subject(), memberBefore);
            last.put(call.team(), teamBefore);
        }
        return results;
    }

    /**
     * The calls of a combined commit or release, each hold once (a second call for the same hold runs
     * alone and finds it finished), made in the month of the first call (the leader's; a call made in a
     * later month, as is every call after it, runs alone, where the statement's month is its own: round
     * 343), as the parameter lists both finish statements take, with each call's instant
     * ({@link #inTurn}).
     *
     * @param sent which calls were sent, by their index among the calls, in the statement's order
     * @param at each call's instant, by its index among the calls
     * @param month the statement's month, the first call's
     */
    private record FinishBatch(List<Integer> sent, Instant[] at, YearMonth month, String[] ids, Long[] actuals,
                               Long[] nows, String[] models, Long[][] counts) {
        static FinishBatch of(List<LiveCall> calls, QuotaPolicy policy) {
            Instant[] at = inTurn(calls.stream().map(LiveCall::now).toList());
            YearMonth month = policy.monthOf(at[0]);
            List<Integer> sent = new ArrayList<>(calls.size());
            java.util.Set<String> seen = new java.util.HashSet<>();
            for (int i = 0; i < calls.size() && policy.monthOf(at[i]).equals(month); i++) {
                if (seen.add(calls.get(i).id())) {
                    sent.add(i);
                }
            }
            FinishBatch b = new FinishBatch(sent, at, month, new String[sent.size()], new Long[sent.size()],
                    new Long[sent.size()], new String[sent.size()], new Long[4][sent.size()]);
            for (int k = 0; k < sent.size(); k++) {
                LiveCall call = calls.get(sent.get(k));
                b.ids[k] = call.id();
                b.actuals[k] = call.actual();
                b.nows[k] = micros(at[sent.get(k)]);
                // a release carries no usage
                TokenUsage u = call.actual() == null ? null : call.usage();
                if (u != null) {
                    b.models[k] = u.model();
                    b.counts[0][k] = u.input();
                    b.counts[1][k] = u.cachedInput();
                    b.counts[2][k] = u.output();
                    b.counts[3][k] = u.reasoning();
                }
            }
            return b;
        }

        PreparedStatement prepare(Positional statement, Connection c, int capAtHeld) throws SQLException {
            return statement.prepare(c, "idList", c.createArrayOf("varchar", ids), "actualList", c.createArrayOf("bigint", actuals),
                    "nowList", c.createArrayOf("bigint", nows),
                    "modelList", c.createArrayOf("varchar", models), "inputList", c.createArrayOf("bigint", counts[0]),
                    "cachedList", c.createArrayOf("bigint", counts[1]), "outputList", c.createArrayOf("bigint", counts[2]),
                    "reasoningList", c.createArrayOf("bigint", counts[3]),
                    "capAtHeld", capAtHeld, "month", Rows.month(month));
        }
    }

    /**
     * Runs {@code calls} (two or more commits and releases of members' holds) as one statement on the
     * leading caller's connection ({@code team-finish-together.sql}), each at its own instant
     * ({@link #inTurn}): one result per call, {@code null} for each call it did not finish (not a member's
     * held hold of the latest month, a repeated id, a call made in a later month than the first, a
     * database failure that shows it did not commit), which its caller then runs alone; a failure after
     * which it may have committed fails every call it carried ({@link #afterCombinedFailure}).
     */
    private List<TeamFinish> teamFinishTogether(Op op, List<LiveCall> calls) {
        int n = calls.size();
        List<TeamFinish> results = new ArrayList<>(java.util.Collections.nCopies(n, null));
        FinishBatch batch = FinishBatch.of(calls, policy);
        List<Integer> sent = batch.sent();
        List<Rows.FinishedHold> finished = new ArrayList<>();
        List<Integer> order = new ArrayList<>();
        List<Long> teamEventIds = new ArrayList<>();
        Map<String, QuotaAccount> last = new java.util.HashMap<>();
        boolean prepared = false;
        boolean answered = false;
        try {
            Connection c = op.handle().getConnection();
            try (PreparedStatement ps = batch.prepare(hot.teamFinishTogetherInOneStatement(), c, capAtHeld())) {
                prepared = true;
                try (ResultSet rs = ps.executeQuery()) {
                    answered = true;
                    while (rs.next()) {
                        Rows.FinishedHold f = finishedHolds.map(rs, null);
                        String team = rs.getString("team_subject");
                        // every row of one account carries it as the statement left it: the first one read will do
                        last.putIfAbsent(f.reservation().subject(), f.account());
                        last.putIfAbsent(team, teamAccount(rs, team, f.reservation().month()));
                        finished.add(f);
                        order.add(sent.get((int) rs.getLong("ord") - 1));
                        teamEventIds.add(rs.getLong("team_event_id"));
                    }
                }
            }
        } catch (SQLException | JdbiException e) {
            return afterCombinedFailure(op, results, sent, e, prepared, answered, sent.size() + " member commits and releases");
        }
        // walk back from each account as the statement left it to each finish's own after
        for (int i = finished.size() - 1; i >= 0; i--) {
            Rows.FinishedHold f = finished.get(i);
            Reservation r = f.reservation();
            Instant now = batch.at()[order.get(i)];
            String team = Team.subject(r.teamId());
            boolean committed = r.state() == ReservationState.COMMITTED;
            long tokens = committed ? r.charged() : r.held();
            EventKind kind = committed ? EventKind.COMMITTED : EventKind.RELEASED;
            TokenUsage usage = committed ? calls.get(order.get(i)).usage() : null;
            QuotaAccount memberAfter = last.get(r.subject());
            QuotaAccount teamAfter = last.get(team);
            QuotaAccount memberBefore = adjust(memberAfter, committed ? -tokens : 0, r.held(), 0);
            QuotaAccount teamBefore = adjust(teamAfter, committed ? -tokens : 0, r.held(), 0);
            LedgerEvent memberEvent = new LedgerEvent(f.eventId(), r.subject(), r.month(), kind, tokens, r.overage(),
                    r.id(), null, r.endpoint(), now, usage);
            LedgerEvent teamEvent = new LedgerEvent(teamEventIds.get(i), team, r.month(), kind, tokens, r.overage(),
                    r.id(), null, r.endpoint(), now, usage);
            results.set(order.get(i), new TeamFinish(Optional.of(r),
                    new Heard(memberEvent, teamEvent, memberBefore, memberAfter, teamBefore, teamAfter)));
            last.put(r.subject(), memberBefore);
            last.put(team, teamBefore);
        }
        return results;
    }

    /**
     * A reserve ({@code ttl} set) or consume without an idempotency key, waiting to be combined; {@code now}
     * is its caller's instant ({@link Op#now}), see {@link #inTurn}.
     */
    private record KeylessTake(String subject, long tokens, String endpoint, Duration ttl, Instant now) {
    }

    /**
     * What a combined take gets back: the grant and, when another caller's statement decided it, the
     * event and the account before it, for this caller's listeners ({@code null} when the caller ran it
     * itself and its operation already logged them).
     */
    private record Combined(Reserved reserved, LedgerEvent event, QuotaAccount before) {
    }

    /**
     * Runs {@code calls} (two or more takes, of one subject or several) as one statement on the leading
     * caller's connection, each at its own instant ({@link #inTurn}): one result per call, {@code null}
     * for each call the statement did not grant (a refusal, a subject whose calls in the batch do not all fit
     * together, or anything that needs the single-call path: no account yet, a stale hold, a later month, a call made in a later month than the first, a call by
     * whose instant a hold granted before it in the statement has expired, a database error that shows it
     * did not commit), which its caller then runs alone; a failure after which it may have committed fails
     * every call it carried ({@link #afterCombinedFailure}).
     */
    private List<Combined> takeTogether(Op op, List<KeylessTake> calls) {
        int n = calls.size();
        List<Combined> results = new ArrayList<>(java.util.Collections.nCopies(n, null));
        Instant[] at = inTurn(calls.stream().map(KeylessTake::now).toList());
        YearMonth month = policy.monthOf(at[0]);
        // the calls the statement can decide as if they ran one after another, each at its instant
        List<Integer> sent = new ArrayList<>(n);
        Map<String, Instant> heldUntil = new java.util.HashMap<>();
        for (int i = 0; i < n; i++) {
            KeylessTake call = calls.get(i);
            if (!policy.monthOf(at[i]).equals(month)) {
                // made in a later month, as is every call after it: alone, it lands in the later of that
                // month and its subject's latest account
                break;
            }
            Instant until = heldUntil.get(call.subject());
            if (until != null && !at[i].isBefore(until)) {
                // a hold granted before it here has expired by its instant: run one after another it would
                // sweep that hold first, which the statement cannot (it sees no stale hold of its own);
                // alone, the call does
                continue;
            }
            sent.add(i);
            if (call.ttl() != null) {
                heldUntil.merge(call.subject(), at[i].plus(call.ttl()), Holds::earlier);
            }
        }
        int m = sent.size();
        String[] subjects = new String[m];
        Long[] tokens = new Long[m];
        String[] endpoints = new String[m];
        Long[] expiries = new Long[m];
        Long[] nows = new Long[m];
        Long[] dbNows = new Long[m];
        for (int k = 0; k < m; k++) {
            KeylessTake call = calls.get(sent.get(k));
            Instant now = at[sent.get(k)];
            subjects[k] = call.subject();
            tokens[k] = call.tokens();
            endpoints[k] = call.endpoint();
            if (call.ttl() != null) {
                expiries[k] = micros(now.plus(call.ttl()).plus(dbOffset));
            }
            nows[k] = micros(now);
            dbNows[k] = micros(now.plus(dbOffset));
        }
        List<long[]> accepted = new ArrayList<>();
        Map<String, QuotaAccount> last = new java.util.HashMap<>();
        boolean prepared = false;
        boolean answered = false;
        try {
            Connection c = op.handle().getConnection();
            try (PreparedStatement ps = hot.takeTogetherInOneStatement().prepare(c,
                    "subjectList", c.createArrayOf("varchar", subjects), "tokenList", c.createArrayOf("bigint", tokens),
                    "endpointList", c.createArrayOf("varchar", endpoints),
                    "expiryList", c.createArrayOf("bigint", expiries),
                    "nowList", c.createArrayOf("bigint", nows), "dbNowList", c.createArrayOf("bigint", dbNows),
                    // stale holds as of the last call's instant: a hold stale by then keeps its subject's calls
                    // out of the statement, and each caller sweeps it (or not) at its own instant, alone
                    "month", Rows.month(month), "dbNow", at[sent.get(m - 1)].plus(dbOffset))) {
                prepared = true;
                try (ResultSet rs = ps.executeQuery()) {
                    answered = true;
                    while (rs.next()) {
                        QuotaAccount account = Rows.ACCOUNT.map(rs, null);
                        last.put(account.subject(), account);
                        accepted.add(new long[] {sent.get((int) rs.getLong("ord") - 1), rs.getLong("event_id")});
                    }
                }
            }
        } catch (SQLException | JdbiException e) {
            return afterCombinedFailure(op, results, sent, e, prepared, answered, m + " takes");
        }
        // the statement hands back each account after all its grants; walk back to each grant's own after
        for (int i = accepted.size() - 1; i >= 0; i--) {
            int index = (int) accepted.get(i)[0];
            long eventId = accepted.get(i)[1];
            Instant now = at[index];
            KeylessTake call = calls.get(index);
            String subject = call.subject();
            QuotaAccount after = last.get(subject);
            boolean consume = call.ttl() == null;
            QuotaAccount before = consume ? adjust(after, -call.tokens(), 0, 0) : adjust(after, 0, -call.tokens(), 0);
            // a consume's event id, or a hold's number (its id, and its RESERVED event's)
            String id = consume ? Rows.keylessConsumeId(eventId) : Long.toString(eventId);
            Reservation granted = consume
                    ? new Reservation(id, subject, month, call.tokens(), ReservationState.COMMITTED, call.tokens(),
                            call.tokens(), 0, null, call.endpoint(), now, now, now)
                    : new Reservation(id, subject, month, call.tokens(), ReservationState.HELD, 0, null, 0, null,
                            call.endpoint(), now, now.plus(call.ttl()), null);
            LedgerEvent event = new LedgerEvent(eventId, subject, month,
                    consume ? EventKind.COMMITTED : EventKind.RESERVED, call.tokens(), 0, id, null, call.endpoint(),
                    now);
            results.set(index, new Combined(new Reserved(granted, after, false), event, before));
            last.put(subject, before);
        }
        return results;
    }

    /**
     * The one rule for a combined statement that failed (all four: {@link #takeTogether},
     * {@link #teamTakeTogether}, {@link #finishTogether}, {@link #teamFinishTogether}): its calls run again
     * each alone ({@link #eachAlone}) only when the failure shows it did not commit: it came before the
     * statement was prepared ({@code prepared} false: no connection, a type lookup; nothing sent), or the
     * statement failed on the server ({@link Failures#mayHaveCommitted} false: retryable, or the server's own
     * error such as an overflow, which the call that caused it then reports alone). Otherwise every call the
     * statement carried ({@code sent}) fails as a lone call whose answer was lost does, {@code STORE_UNAVAILABLE},
     * and none runs again (each caller with a copy, {@link Combiner.CarriedFailed}; the batch's calls left out of
     * the statement were never sent and run alone): a combined statement runs
     * in autocommit, so the server commits it at the protocol's Sync and only then writes the answer, and a
     * connection lost between the two (08006) leaves a statement that committed. Round 442: the batch's
     * key-less consumes, each run again alone, were charged twice (member and team alike), since nothing
     * identifies a key-less consume on its second run; a lone consume cut the same way was reported
     * {@code STORE_UNAVAILABLE} and charged once. A failure raised while reading the answer ({@code answered})
     * comes after the commit. A finish run again would have been harmless (it finds its hold finished and
     * answers from it: {@code LedgerRules.commitOfFinished}, {@code releaseOfFinished}), but it keeps the
     * rule too, so that a call hears the same of the same failure whether it ran alone or combined.
     */
    private static <R> List<R> afterCombinedFailure(Op op, List<R> results, List<Integer> sent, Exception failure,
                                                    boolean prepared, boolean answered, String calls) {
        if (!prepared || (!answered && !Failures.mayHaveCommitted(failure))) {
            // said at debug level: each call's own path reports whatever is still wrong, and runs it again
            // when worth it (a deadlock, a session ended for idleness)
            LOG.debug("a combined statement of {} failed; they run one by one", calls, failure);
            return eachAlone(op, results);
        }
        // only the calls the statement carried: the batch's others (a later month's, one behind an expired hold)
        // were never sent, and run alone; the leader's own among them on another connection (round 438: the
        // failure may have closed this one)
        if (!sent.contains(0)) {
            op.close();
        }
        throw new Combiner.CarriedFailed(new QuotaException(ErrorCode.STORE_UNAVAILABLE, "a combined statement of "
                + calls + " failed and may have committed, so none runs again: " + failure.getMessage(), failure), sent);
    }

    /**
     * A combined statement failed and did not commit ({@link #afterCombinedFailure}; {@code results} all
     * {@code null}): each of its calls runs alone, the
     * leader's on its own operation, which first gives back the connection the statement ran on, so that
     * its call takes another. The failure may have ended that connection, and not every such failure says
     * so: round 438, the server ended the leader's session for idleness (57P05) just before a combined
     * commit of two holds; the queued commit, alone on a connection of its own, was charged its 2,000
     * tokens, while the leader's, run on the same handle, failed "Connection is closed" (HikariCP's, no
     * SQLSTATE, so not run again): {@code STORE_UNAVAILABLE}, the model call's 2,500 tokens never charged
     * and its hold left open until it expired (a combined key-less reserve the same: refused). A
     * connection still sound goes back to the pool; it is the leader's alone, in autocommit, outside any
     * transaction, and a failed statement is rare. Whatever fails on the new connection fails on the
     * call's own path, which runs its operation again when worth it ({@link Failures#isRetryable}).
     */
    private static <R> List<R> eachAlone(Op op, List<R> results) {
        op.close();
        return results;
    }

    /**
     * One attempt at granting {@code hold}; empty, with nothing changed, when the conditional update
     * matched no row. Bound by position on the handle's connection (see {@link Positional}).
     */
    private Optional<Committed> tryTake(Op op, Reservation hold, boolean consume, boolean keepsRow, EventKind kind,
                                        Instant dbNow, TokenUsage usage) {
        Object[] values = withUsage(usage, "id", hold.id(), "subject", hold.subject(), "month", Rows.month(hold.month()),
            "tokens", hold.held(), "held", hold.held(), "state", hold.state().name(), "charged", hold.charged(),
            "actual", hold.actual(), "key", hold.idempotencyKey(), "endpoint", hold.endpoint(), "consume", consume,
            "now", hold.createdAt(), "expiresAt", hold.expiresAt().plus(dbOffset), "dbNow", dbNow,
            "finishedAt", hold.finishedAt(),
            "kind", kind.name(), "overage", 0L, "reservationId", hold.id(), "tx", null, "detail", hold.endpoint());
        Connection c = op.handle().getConnection();
        try {
            if (sql.oneStatementPerChange()) {
                Positional statement = !keepsRow ? hot.consumeWithoutHoldInOneStatement()
                        : consume ? hot.consumeInOneStatement() : hot.reserveInOneStatement();
                try (PreparedStatement ps = statement.prepare(c, values); ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? Optional.of(new Committed(rs.getLong("event_id"), Rows.ACCOUNT.map(rs, null)))
                            : Optional.empty();
                }
            }
            // the account's update comes last, so its row lock is held for one statement and the commit
            return rawTransaction(op, () -> {
                Object[] bound = values;
                long eventId = 0;
                if (!consume) {
                    // a hold writes its row and no event: its number, drawn from the event log's sequence, is
                    // its id and its RESERVED event's, which its finishing event records
                    eventId = nextEventId(c);
                    bound = new Object[values.length + 2];
                    bound[0] = "id";
                    bound[1] = Long.toString(eventId);
                    System.arraycopy(values, 0, bound, 2, values.length);
                }
                if (keepsRow) {
                    try (PreparedStatement ps = hot.insertReservation().prepare(c, bound)) {
                        ps.executeUpdate();
                    }
                }
                if (consume) {
                    eventId = eventId(c, hot.insertChargeEvent(), bound);
                }
                long logged = eventId;
                try (PreparedStatement ps = (consume ? hot.consumeIfAvailable() : hot.reserveIfAvailable())
                        .prepare(c, bound); ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? Optional.of(new Committed(logged, Rows.ACCOUNT.map(rs, null)))
                            : Optional.empty();
                }
            });
        } catch (SQLException e) {
            throw new UnableToExecuteStatementException(e, null);
        }
    }

    /** Draws an id from the event log's sequence (a hold's number, or a finishing event's listed id). */
    private long nextEventId(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql.selectNextEventId); ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** {@code bindings} (name, value, ...) followed by the usage's: the model and counts, all null for none. */
    private static Object[] withUsage(TokenUsage usage, Object... bindings) {
        Object[] values = java.util.Arrays.copyOf(bindings, bindings.length + 10);
        int i = bindings.length;
        values[i] = "model";
        values[i + 1] = usage == null ? null : usage.model();
        values[i + 2] = "inputTokens";
        values[i + 3] = usage == null ? null : usage.input();
        values[i + 4] = "cachedTokens";
        values[i + 5] = usage == null ? null : usage.cachedInput();
        values[i + 6] = "outputTokens";
        values[i + 7] = usage == null ? null : usage.output();
        values[i + 8] = "reasoningTokens";
        values[i + 9] = usage == null ? null : usage.reasoning();
        return values;
    }

    private static Reservation withId(Reservation r, String id) {
        return new Reservation(id, r.subject(), r.month(), r.held(), r.state(), r.charged(), r.actual(), r.overage(),
                r.idempotencyKey(), r.endpoint(), r.createdAt(), r.expiresAt(), r.finishedAt());
    }

    private long eventId(Connection c, Positional insert, Object[] values) throws SQLException {
        try (PreparedStatement ps = insert.prepare(c, values); ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /**
     * A body that works on the handle's raw connection (see {@link Positional}) inside one of the
     * handle's transactions, so JDBI begins, commits and rolls back; returning empty undoes it.
     */
    private static <T> Optional<T> rawTransaction(Op op, SqlBody<Optional<T>> body) {
        return optionalTransaction(op, h -> {
            try {
                return body.run();
            } catch (SQLException e) {
                throw new UnableToExecuteStatementException(e, null);
            }
        });
    }

    @FunctionalInterface
    private interface SqlBody<T> {
        T run() throws SQLException;
    }

    /** The first call's hold, if the replay asks for the same thing (TTLs compared in the policy's clock). */
    private static Reservation replay(StoredReservation existing, long tokens, boolean consume, Duration ttl,
                                      String endpoint) {
        LedgerRules.checkReplay(existing.reservation(), existing.consume(), consume, tokens, ttl, endpoint);
        return existing.reservation();
    }

    /**
     * Logs a refusal and builds its exception. The REJECTED event, kept in autocommit, is the attempt's last
     * statement: an operation is run again whole when the server ends its session for idleness
     * ({@link Failures#isRetryable}), so nothing it keeps may come before a statement that can still fail.
     * Round 438: the event was inserted before the account's read; the session ended between the two, and
     * the reserve run again logged a second REJECTED event for the one refused call.
     */
    private QuotaExceededException reject(Op op, String subject, YearMonth month, long tokens, String endpoint) {
        QuotaAccount account = accounts.storedAccount(op, subject, month).orElseThrow();
        long eventId = op.with(h -> accounts.insertEvent(h, subject, month, EventKind.REJECTED, tokens, 0, null, null,
                endpoint, false, op.now));
        op.logged(new LedgerEvent(eventId, subject, month, EventKind.REJECTED, tokens, 0, null, null, endpoint, op.now));
        return new QuotaExceededException(subject, tokens, account.limit(), account.available(), policy.resetOf(month));
    }

    /** Commits a hold: the fast path for a held hold of the latest month, else the locked one. */
    Reservation commit(Op op, String reservationId, long actualTokens, TokenUsage usage) {
        Optional<Reservation> live = finishLive(op, reservationId, actualTokens, usage);
        if (live.isPresent()) {
            return live.get();
        }
        // not a held hold of the latest month: a hold of an earlier month, a finished one, or none
        for (int attempt = 1; ; attempt++) {
            Reservation hold = stored(op, reservationId);
            Finish finish = Finish.COMMIT;
            if (hold.state() != ReservationState.HELD) {
                Reservation answer = LedgerRules.commitOfFinished(hold, actualTokens);
                if (answer != null) {
                    return answer;
                }
                finish = Finish.LATE_COMMIT;
                // charged within what the account has once the other holds past their TTL are expired, as a
                // read counts it (round 318: a stale hold nothing had swept yet capped it under CAP_AT_HOLD)
                expireStaleOf(op, hold.subject());
                if (hold.teamId() != null) {
                    expireStaleOf(op, Team.subject(hold.teamId()));
                }
            }
            Optional<Reservation> done = finishLocked(op, reservationId, finish, actualTokens, usage);
            if (done.isPresent()) {
                return done.get();
            }
            // another call finished the hold between our read and our lock: answer from its outcome. Each
            // pass moves the hold on (HELD, EXPIRED, COMMITTED), so a few suffice; bounded, as every retry of
            // the hold paths is since round 323, so that a read and a lock that disagree can never spin
            if (attempt >= 2 * MAX_TAKE_ATTEMPTS) {
                throw contended("commit", reservationId);
            }
        }
    }

    /** Releases a hold: the fast path for a held hold of the latest month, else the locked one. */
    Reservation release(Op op, String reservationId) {
        Optional<Reservation> live = finishLive(op, reservationId, null, null);
        if (live.isPresent()) {
            return live.get();
        }
        for (int attempt = 1; ; attempt++) {
            Reservation hold = stored(op, reservationId);
            if (hold.state() != ReservationState.HELD) {
                return LedgerRules.releaseOfFinished(hold);
            }
            Optional<Reservation> done = finishLocked(op, reservationId, Finish.RELEASE, 0, null);
            if (done.isPresent()) {
                return done.get();
            }
            // another call finished it first: the next pass answers from its outcome (bounded, see commit)
            if (attempt >= 2 * MAX_TAKE_ATTEMPTS) {
                throw contended("release", reservationId);
            }
        }
    }

    /**
     * Commits ({@code actualTokens} set) or releases a held hold of the subject's latest month, combined
     * with other callers' commits and releases into one statement when they arrive together (on
     * PostgreSQL), else alone ({@link #finishLiveHold}); empty, and nothing changed, for any other hold.
     */
    private Optional<Reservation> finishLive(Op op, String reservationId, Long actualTokens, TokenUsage usage) {
        if (hot.teamFinishInOneStatement() != null && isTeamHoldId(reservationId)) {
            // a member's hold (by its id): the statement that settles both accounts, combined with other
            // members' when they arrive together, else the locked path
            if (hot.teamFinishTogetherInOneStatement() != null) {
                TeamFinish finished = teamFinishes.submit(reservationId,
                        new LiveCall(reservationId, actualTokens, usage, op.now), op,
                        calls -> teamFinishTogether(op, calls),
                        () -> new TeamFinish(finishTeamHold(op, reservationId, actualTokens, usage), null));
                if (finished != null) {
                    if (finished.heard != null) {
                        finished.heard.tell(op);
                    }
                    return finished.done;
                }
            }
            return finishTeamHold(op, reservationId, actualTokens, usage);
        }
        if (hot.finishTogetherInOneStatement() != null) {
            LiveFinish finished = finishes.submit(reservationId,
                    new LiveCall(reservationId, actualTokens, usage, op.now), op,
                    calls -> finishTogether(op, calls),
                    () -> new LiveFinish(finishLiveHoldOf(op, reservationId, actualTokens, usage), null, null, null));
            if (finished != null) {
                if (finished.event != null) {
                    // decided in another caller's statement: this caller's listeners hear of it
                    op.logged(finished.event);
                    op.changed(finished.before, finished.after);
                }
                return finished.done;
            }
        }
        return finishLiveHoldOf(op, reservationId, actualTokens, usage);
    }

    private Optional<Reservation> finishLiveHoldOf(Op op, String reservationId, Long actualTokens, TokenUsage usage) {
        return actualTokens == null ? finishLiveHold(op, reservationId, EventKind.RELEASED, null)
                : finishLiveHold(op, reservationId, EventKind.COMMITTED, usage,
                        withUsage(usage, "actual", actualTokens, "capAtHeld", capAtHeld()));
    }

    private int capAtHeld() {
        return policy.overrunPolicy() == OverrunPolicy.CHARGE_ACTUAL ? 0 : 1;
    }

    /**
     * A commit ({@code actual} set) or release waiting to be combined; {@code now} is its caller's instant
     * ({@link Op#now}), see {@link #inTurn}.
     */
    private record LiveCall(String id, Long actual, TokenUsage usage, Instant now) {
    }

    /**
     * What a combined finish gets back: the finished hold (empty: not a held hold of the latest month)
     * and, when another caller's statement decided it, its event and the account before and after it
     * for this caller's listeners ({@code null} when the caller's own operation already told them).
     */
    private record LiveFinish(Optional<Reservation> done, LedgerEvent event, QuotaAccount before,
                              QuotaAccount after) {
    }

    /**
     * Runs {@code calls} (two or more commits and releases) as one statement on the leading caller's
     * connection, each at its own instant ({@link #inTurn}): one result per call, {@code null} for each
     * call it did not finish (not a held hold of the latest month, a repeated id, a call made in a later
     * month than the first, a database failure that shows it did not commit), which its caller then runs
     * alone; a failure after which it may have committed fails every call it carried ({@link #afterCombinedFailure}).
     */
    private List<LiveFinish> finishTogether(Op op, List<LiveCall> calls) {
        int n = calls.size();
        List<LiveFinish> results = new ArrayList<>(java.util.Collections.nCopies(n, null));
        FinishBatch batch = FinishBatch.of(calls, policy);
        List<Integer> sent = batch.sent();
        List<Rows.FinishedHold> finished = new ArrayList<>();
        List<Integer> order = new ArrayList<>();
        boolean prepared = false;
        boolean answered = false;
        try {
            Connection c = op.handle().getConnection();
            try (PreparedStatement ps = batch.prepare(hot.finishTogetherInOneStatement(), c, capAtHeld())) {
                prepared = true;
                try (ResultSet rs = ps.executeQuery()) {
                    answered = true;
                    while (rs.next()) {
                        finished.add(finishedHolds.map(rs, null));
                        order.add(sent.get((int) rs.getLong("ord") - 1));
                    }
                }
            }
        } catch (SQLException | JdbiException e) {
            return afterCombinedFailure(op, results, sent, e, prepared, answered, sent.size() + " commits and releases");
        }
        // each account comes back as the statement left it; walk back to each finish's own after
        Map<String, QuotaAccount> last = new java.util.HashMap<>();
        for (int i = finished.size() - 1; i >= 0; i--) {
            Rows.FinishedHold f = finished.get(i);
            Reservation r = f.reservation();
            boolean committed = r.state() == ReservationState.COMMITTED;
            QuotaAccount after = last.getOrDefault(r.subject(), f.account());
            long tokens = committed ? r.charged() : r.held();
            QuotaAccount before = adjust(after, committed ? -tokens : 0, r.held(), 0);
            LedgerEvent event = new LedgerEvent(f.eventId(), r.subject(), r.month(),
                    committed ? EventKind.COMMITTED : EventKind.RELEASED, tokens, r.overage(), r.id(), null,
                    r.endpoint(), batch.at()[order.get(i)], committed ? calls.get(order.get(i)).usage() : null);
            results.set(order.get(i), new LiveFinish(Optional.of(r), event, before, after));
            last.put(r.subject(), before);
        }
        return results;
    }

    /**
     * Commits or releases a held hold of the subject's latest month (the common case) with a first
     * statement that is the conditional update of the hold itself, so it costs no read before it (on
     * PostgreSQL the whole change is that one statement); empty, and nothing changed, for any other
     * hold, which the caller then reads to decide. {@code bindings} are the commit's own (name, value, ...).
     */
    private Optional<Reservation> finishLiveHold(Op op, String reservationId, EventKind kind, TokenUsage usage,
                                                 Object... bindings) {
        boolean committed = kind == EventKind.COMMITTED;
        Object[] values = new Object[bindings.length + 6];
        System.arraycopy(bindings, 0, values, 0, bindings.length);
        values[bindings.length] = "id";
        values[bindings.length + 1] = reservationId;
        values[bindings.length + 2] = "now";
        values[bindings.length + 3] = op.now;
        values[bindings.length + 4] = "month";
        values[bindings.length + 5] = Rows.month(policy.monthOf(op.now));
        Connection c = op.handle().getConnection();
        Optional<Finished> done;
        try {
            if (sql.oneStatementPerChange()) {
                try (PreparedStatement ps = (committed ? hot.commitInOneStatement() : hot.releaseInOneStatement())
                        .prepare(c, values); ResultSet rs = ps.executeQuery()) {
                    done = rs.next() ? Optional.of(finishedHolds.map(rs, null))
                            .map(f -> new Finished(f.reservation(), new Committed(f.eventId(), f.account())))
                            : Optional.empty();
                }
            } else {
                done = rawTransaction(op, () -> {
                    Reservation r;
                    try (PreparedStatement ps = (committed ? hot.commitLiveHold() : hot.releaseLiveHold()).prepare(c, values);
                         ResultSet rs = ps.executeQuery()) {
                        if (!rs.next()) {
                            return Optional.empty();
                        }
                        r = reservations.map(rs, null).reservation();
                    }
                    long tokens = committed ? r.charged() : r.held();
                    long eventId = logFinish(op.handle(), r, r.subject(), kind, tokens, r.overage(), usage, op.now);
                    try (PreparedStatement ps = (committed ? hot.chargeHold() : hot.returnHold()).prepare(c, "subject",
                            r.subject(), "month", Rows.month(r.month()), "now", op.now, "held", r.held(),
                            "charged", r.charged());
                         ResultSet rs = ps.executeQuery()) {
                        // no row: the month was superseded meanwhile; undo, and the locked path finishes it
                        return rs.next() ? Optional.of(new Finished(r, new Committed(eventId, Rows.ACCOUNT.map(rs, null))))
                                : Optional.empty();
                    }
                });
            }
        } catch (SQLException e) {
            throw new UnableToExecuteStatementException(e, null);
        }
        // told to the listeners only once the change committed
        done.ifPresent(f -> {
            Reservation r = f.reservation;
            long tokens = kind == EventKind.COMMITTED ? r.charged() : r.held();
            QuotaAccount after = f.committed.account();
            op.logged(new LedgerEvent(f.committed.eventId(), r.subject(), r.month(), kind, tokens, r.overage(), r.id(),
                    null, r.endpoint(), op.now, usage));
            op.changed(adjust(after, kind == EventKind.COMMITTED ? -tokens : 0, r.held(), 0), after);
        });
        return done.map(Finished::reservation);
    }

    /** The reservation as stored. */
    private Reservation stored(Op op, String reservationId) {
        return reservationById(op, reservationId).map(StoredReservation::reservation).orElseThrow(() ->
                new QuotaException(ErrorCode.RESERVATION_NOT_FOUND, "no reservation " + reservationId));
    }

    /** How {@link #finishLocked} finishes a hold. */
    private enum Finish {
        COMMIT(ReservationState.HELD, ReservationState.COMMITTED, EventKind.COMMITTED),
        LATE_COMMIT(ReservationState.EXPIRED, ReservationState.COMMITTED, EventKind.LATE_COMMITTED),
        RELEASE(ReservationState.HELD, ReservationState.RELEASED, EventKind.RELEASED),
        EXPIRE(ReservationState.HELD, ReservationState.EXPIRED, EventKind.EXPIRED);

        final ReservationState from;
        final ReservationState to;
        final EventKind kind;

        Finish(ReservationState from, ReservationState to, EventKind kind) {
            this.from = from;
            this.to = to;
            this.kind = kind;
        }

        boolean charges() {
            return kind.charges();
        }
    }

    /**
     * Finishes a hold in a transaction that locks it, then its month's account, then the subject's
     * latest account if that is a later month (months ascending, as a first touch locks them, so the
     * two cannot deadlock): the slow path of a hold of a closed month, a late commit, and a hold the
     * fast path did not match. The hold's month is charged as {@link LedgerRules} says, and the change
     * in its purchased consumption moves to the latest account ({@link LedgerRules#lateTransfer}).
     * Empty when the hold was no longer in the state {@code finish} starts from (a concurrent call won).
     */
    private Optional<Reservation> finishLocked(Op op, String reservationId, Finish finish, long actual,
                                               TokenUsage usage) {
        Optional<LockedFinish> done = optionalTransaction(op, h -> {
            Reservation hold = h.createQuery(sql.lockReservation).bind("id", reservationId).map(reservations)
                    .findOne().map(StoredReservation::reservation).orElse(null);
            if (hold == null || hold.state() != finish.from
                    || (finish == Finish.EXPIRE && hold.expiresAt().isAfter(op.now))) {
                return Optional.empty();
            }
            // a team hold's accounts: the team's months first, then the member's (the order of every team path)
            String teamSubject = hold.teamId() == null ? null : Team.subject(hold.teamId());
            QuotaAccount teamBefore = teamSubject == null ? null : accounts.lockAccount(h, teamSubject, hold.month());
            List<QuotaAccount> teamLater = teamSubject == null ? List.of()
                    : accounts.lockAfter(h, teamSubject, hold.month());
            QuotaAccount before = accounts.lockAccount(h, hold.subject(), hold.month());
            List<QuotaAccount> later = accounts.lockAfter(h, hold.subject(), hold.month());
            long charged = 0;
            long overage = 0;
            if (finish == Finish.COMMIT || finish == Finish.LATE_COMMIT) {
                LedgerRules.Charge charge = finish == Finish.COMMIT
                        ? LedgerRules.charge(policy.overrunPolicy(), hold.held(), actual)
                        : LedgerRules.lateCharge(policy.overrunPolicy(), hold.held(), actual,
                                LedgerRules.available(before, teamBefore));
                charged = charge.charged();
                overage = charge.overage();
            }
            // a late commit's tokens were returned when the hold expired
            long returned = finish == Finish.LATE_COMMIT ? 0 : hold.held();
            long used = LedgerRules.add(before.used(), charged);
            LedgerRules.checkFits(used, before.reserved() - returned);
            long teamUsed = teamBefore == null ? 0 : LedgerRules.add(teamBefore.used(), charged);
            if (teamBefore != null) {
                LedgerRules.checkFits(teamUsed, teamBefore.reserved() - returned);
            }
            if (sql.deletesKeylessHolds() && (finish == Finish.COMMIT || finish == Finish.RELEASE)
                    && hold.idempotencyKey() == null && Rows.holdNumbers(hold.id()).length > 0) {
                // a key-less hold's finishing event (a member's: its two), under its number, is its record
                // from now on (commit.sql, team-finish.sql)
                update(h, sql.deleteHold).bind("id", reservationId).execute();
            } else {
                update(h, sql.finishLockedHold).bind("id", reservationId).bind("state", finish.to.name())
                        .bind("charged", charged).bind("actual", finish.charges() ? actual : null)
                        .bind("overage", overage).bind("now", Rows.timestamp(op.now)).execute();
            }
            long tokens = finish.charges() ? charged : hold.held();
            List<QuotaAccount[]> changes = new ArrayList<>();
            List<LedgerEvent> events = new ArrayList<>();
            TokenUsage charge = finish.charges() ? usage : null;
            settle(h, op, hold, finish, tokens, overage, charge, before, used, before.reserved() - returned, later,
                    changes, events);
            if (teamBefore != null) {
                settle(h, op, hold, finish, tokens, overage, charge, teamBefore, teamUsed,
                        teamBefore.reserved() - returned, teamLater, changes, events);
            }
            Reservation finished = new Reservation(hold.id(), hold.subject(), hold.month(), hold.held(), finish.to,
                    charged, finish.charges() ? Long.valueOf(actual) : null, overage, hold.idempotencyKey(),
                    hold.endpoint(), hold.createdAt(), hold.expiresAt(), op.now, hold.teamId());
            return Optional.of(new LockedFinish(finished, events, changes));
        });
        done.ifPresent(f -> {
            f.events.forEach(op::logged);
            f.changes.forEach(change -> op.changed(change[0], change[1]));
        });
        return done.map(LockedFinish::reservation);
    }

    private record LockedFinish(Reservation reservation, List<LedgerEvent> events, List<QuotaAccount[]> changes) {
    }

    /**
     * Writes one account a locked finish settles (the member's or its team's, of the hold's month), its
     * event, and when the hold's month is closed the move of purchased tokens to that owner's latest
     * account ({@link LedgerRules#lateTransfer}); a late charge the latest account cannot cover takes
     * from the months between ({@link LedgerRules#heldTake}), newest first. With rollover off a charge reaching
     * into the tokens lapsed refunds left in the closed month's {@code granted} drops them
     * ({@link LedgerRules#lateLapsed}, round 431).
     *
     * @param later the owner's accounts after the hold's month, locked, oldest first
     */
    private void settle(Handle h, Op op, Reservation hold, Finish finish, long tokens, long overage, TokenUsage usage,
                        QuotaAccount before, long used, long reserved, List<QuotaAccount> later,
                        List<QuotaAccount[]> changes, List<LedgerEvent> events) {
        long granted = before.granted();
        long transfer = 0;
        long lapsed = 0;
        long dropped = 0;
        QuotaAccount latest = later.isEmpty() ? null : later.get(later.size() - 1);
        if (latest != null) {
            QuotaAccount changed = new QuotaAccount(before.subject(), before.month(), before.allocated(), granted,
                    before.carried(), used, reserved, before.createdAt(), op.now);
            transfer = LedgerRules.lateTransfer(before, changed, latest, policy);
            long shortfall = LedgerRules.lateShortfall(before, changed, transfer, policy);
            for (int i = later.size() - 2; i >= 0 && shortfall > 0; i--) {
                QuotaAccount between = later.get(i);
                long take = LedgerRules.heldTake(between, shortfall);
                if (take > 0) {
                    changes.add(new QuotaAccount[] {between, accounts.setBalance(h, between,
                            between.granted() - LedgerRules.refundTakeLowering(between, take),
                            between.used(), between.reserved(), op.now)});
                    shortfall -= take;
                }
            }
            granted = LedgerRules.closedGranted(changed, shortfall);
            if (!policy.rolloverPurchased()) {
                // a charge reaching into tokens lapsed refunds left in granted drops them: the refunded tokens it
                // spends show as overdraft (round 431: 3,000 of a lapsed pack spent unrecorded)
                lapsed = accounts.refundLapsed(h, before);
                dropped = LedgerRules.lateLapsed(changed, lapsed, policy);
                granted -= dropped;
            }
        }
        // one write of the month's row either way (docs/storage.md, Locking 1)
        QuotaAccount after = dropped > 0
                ? accounts.setBalance(h, before, granted, used, reserved, lapsed - dropped, op.now)
                : accounts.setBalance(h, before, granted, used, reserved, op.now);
        long eventId = logFinish(h, hold, before.subject(), finish.kind, tokens, overage, usage, op.now);
        changes.add(new QuotaAccount[] {before, after});
        events.add(new LedgerEvent(eventId, before.subject(), hold.month(), finish.kind, tokens, overage, hold.id(),
                null, hold.endpoint(), op.now, usage));
        if (latest != null) {
            if (transfer != 0) {
                QuotaAccount latestAfter = accounts.accountQuery(h, sql.addCarried, before.subject(), latest.month(),
                        op.now).bind("transfer", transfer).map(Rows.ACCOUNT).one();
                changes.add(new QuotaAccount[] {latest, latestAfter});
            }
        }
    }
    /**
     * Logs an event that finishes {@code hold} in {@code owner}'s log (the member's, or the team's it
     * was held against); the id it is listed under. The first one of a hold reserved since schema
     * version 4 (COMMITTED, RELEASED or EXPIRED) records the reserve and takes the hold's number for
     * that owner as its id, listed under an id drawn now (see commit.sql); any other (a late commit, the
     * finish of a hold from before version 4, whose RESERVED row exists) is a plain event.
     */
    private long logFinish(Handle h, Reservation hold, String owner, EventKind kind, long tokens, long overage,
                           TokenUsage usage, Instant now) {
        long[] numbers = Rows.holdNumbers(hold.id());
        if (numbers.length == 0 || kind == EventKind.LATE_COMMITTED) {
            return kind.charges()
                    ? accounts.insertChargeEvent(h, owner, hold.month(), kind, tokens, overage, hold.id(),
                            hold.endpoint(), false, now, usage)
                    : accounts.insertEvent(h, owner, hold.month(), kind, tokens, overage, hold.id(), null,
                            hold.endpoint(), false, now);
        }
        long number = numbers.length == 2 && !owner.equals(hold.subject()) ? numbers[1] : numbers[0];
        long logged = h.createQuery(sql.selectNextEventId).mapTo(Long.class).one();
        TokenUsage charge = kind.charges() ? usage : null;
        update(h, sql.insertFinishEvent).bind("number", number).bind("loggedId", logged).bind("subject", owner)
                .bind("month", Rows.month(hold.month())).bind("kind", kind.name()).bind("tokens", tokens)
                .bind("overage", overage).bind("reservationId", hold.id()).bind("detail", hold.endpoint())
                .bind("now", Rows.timestamp(now))
                .bind("model", charge == null ? null : charge.model())
                .bind("inputTokens", charge == null ? null : charge.input())
                .bind("cachedTokens", charge == null ? null : charge.cachedInput())
                .bind("outputTokens", charge == null ? null : charge.output())
                .bind("reasoningTokens", charge == null ? null : charge.reasoning())
                // both of the reserve's instants in the database's clock, as the hold's row keeps them (round 326)
                .bind("heldTokens", hold.held()).bind("heldAt", Rows.timestamp(hold.createdAt().plus(dbOffset)))
                .bind("heldUntil", Rows.timestamp(hold.expiresAt().plus(dbOffset))).execute();
        return logged;
    }

    /**
     * Moves a HELD reservation of the latest month to its final state, logs the event and returns
     * the hold to its account; empty when the update matched nothing (another call finished the hold,
     * or it is a hold of a closed month, which {@link #finishLocked} finishes).
     */
    private Optional<Committed> finishHold(Op op, Reservation hold, EventKind kind, long tokens, long overage,
                                           java.util.function.Function<Handle, Update> finish) {
        Optional<Committed> done = optionalTransaction(op, h -> {
            if (finish.apply(h).bind("id", hold.id()).bind("now", Rows.timestamp(op.now)).execute() == 0) {
                return Optional.empty();
            }
            long eventId = logFinish(h, hold, hold.subject(), kind, tokens, overage, null, op.now);
            // no row: the month was superseded meanwhile; undo, and the locked path finishes it
            return accounts.accountQuery(h, sql.returnHold, hold.subject(), hold.month(), op.now)
                    .bind("held", hold.held()).map(Rows.ACCOUNT).findOne().map(after -> new Committed(eventId, after));
        });
        done.ifPresent(c -> op.logged(new LedgerEvent(c.eventId(), hold.subject(), hold.month(), kind, tokens, overage,
                hold.id(), null, hold.endpoint(), op.now)));
        return done;
    }

    /** Expires one stale hold; false when another call finished it first. */
    private boolean expire(Op op, Reservation hold) {
        Optional<Committed> done = finishHold(op, hold, EventKind.EXPIRED, hold.held(), 0,
                h -> update(h, sql.expireHoldOfLatestMonth).bind("month", Rows.month(hold.month()))
                        .bind("dbNow", Rows.timestamp(op.dbNow)));
        if (done.isPresent()) {
            op.changed(adjust(done.get().account(), 0, hold.held(), 0), done.get().account());
            return true;
        }
        return finishLocked(op, hold.id(), Finish.EXPIRE, 0, null).isPresent();
    }

    /**
     * Expires the subject's holds past their TTL (for a team's subject: the holds its members held
     * against it); how many. Cheap when there are none (one indexed read).
     */
    int expireStaleOf(Op op, String subject) {
        boolean team = Team.isTeam(subject);
        return expireAll(op, op.with(h -> h.createQuery(team ? sql.selectStaleHoldsOfTeam : sql.selectStaleHoldsOfSubject)
                .bind(team ? "team" : "subject", subject).bind("dbNow", Rows.timestamp(op.dbNow))
                .map(reservations).map(StoredReservation::reservation).list()));
    }

    /** Expires every hold past its TTL; how many. */
    int expireStale(Op op) {
        return expireAll(op, op.with(h -> h.createQuery(sql.selectStaleHolds)
                .bind("dbNow", Rows.timestamp(op.dbNow))
                .map(reservations).map(StoredReservation::reservation).list()));
    }

    /** Expires each of {@code stale} that no other call finished first; how many. */
    private int expireAll(Op op, List<Reservation> stale) {
        int expired = 0;
        for (Reservation hold : stale) {
            if (expire(op, hold)) {
                expired++;
            }
        }
        return expired;
    }

    /** The current month's account without holds past their TTL: a read never counts them as reserved. */
    QuotaAccount freshAccount(Op op, String subject) {
        QuotaAccount account = accounts.currentAccount(op, subject);
        return expireStaleOf(op, subject) == 0 ? account
                : accounts.storedAccount(op, subject, account.month()).orElseThrow();
    }

    /**
     * Keeps a held hold alive: one conditional update moves its expiry to {@code ttl} from now in the
     * database's clock ({@link Op#dbNow}), never earlier, held past its expiry or not (only a sweep or a
     * reserve ends a hold). A hold no longer held, including a key-less one whose row its commit or
     * release deleted, is read back as {@link #reservationById} reads it, unchanged.
     */
    Reservation extend(Op op, String reservationId, Duration ttl) {
        Optional<Reservation> extended = op.with(h -> h.createQuery(sql.extendHeldHold).bind("id", reservationId)
                .bind("expiresAt", Rows.timestamp(op.dbNow.plus(ttl))).map(reservations).findOne())
                .map(StoredReservation::reservation);
        if (extended.isPresent()) {
            return extended.get();
        }
        return reservationById(op, reservationId).map(StoredReservation::reservation).orElseThrow(
                () -> new QuotaException(ErrorCode.RESERVATION_NOT_FOUND, "no reservation " + reservationId));
    }

    RowMapper<StoredReservation> reservations() {
        return reservations;
    }

    Optional<StoredReservation> reservationById(Op op, String id) {
        Optional<StoredReservation> stored = op.with(h -> h.createQuery(sql.selectReservation).bind("id", id)
                .map(reservations).findOne());
        long[] numbers = Rows.holdNumbers(id);
        if (stored.isPresent() || numbers.length == 0) {
            return stored;
        }
        // a key-less consume, or a key-less hold committed or released (its row deleted): its event
        if (numbers.length == 2) {
            return op.with(h -> h.createQuery(sql.selectFinishedTeamHoldByEventIds).bind("number", numbers[0])
                    .bind("teamNumber", numbers[1]).bind("holdId", id).map(finishedByEvent).findOne());
        }
        return op.with(h -> h.createQuery(sql.selectFinishedByEventId).bind("id", numbers[0]).bind("holdId", id)
                .map(finishedByEvent).findOne());
    }

    private Optional<StoredReservation> reservationByKey(Op op, String subject, String key) {
        return op.with(h -> h.createQuery(sql.selectReservationByKey)
                .bind("subject", subject).bind("key", key).map(reservations).findOne());
    }


    /** What a refused reserve/consume reads: the account's available tokens ({@code null}: no account yet), stale holds. */
    private record Probe(Long available, String laterMonth, long stale, String team) {
    }

    private record Finished(Reservation reservation, Committed committed) {
    }
}
