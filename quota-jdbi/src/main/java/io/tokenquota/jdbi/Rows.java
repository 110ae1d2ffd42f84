package io.tokenquota.jdbi;

import io.tokenquota.Currency;
import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.TokenUsage;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.List;
import org.jdbi.v3.core.argument.Argument;
import org.jdbi.v3.core.mapper.RowMapper;

/**
 * Row mappers and argument binders shared by both dialects. Instants travel as
 * {@link OffsetDateTime} in UTC, which both drivers map to {@code TIMESTAMP WITH TIME ZONE} without
 * consulting the JVM's default zone. Not API. Thread-safe (stateless).
 */
final class Rows {
    static final String ACCOUNT_COLUMNS =
            "subject, plan_month, allocated, granted, carried, used, reserved, created_at, updated_at";
    static final String RESERVATION_COLUMNS = "id, subject, plan_month, held, state, charged, actual, overage,"
            + " idempotency_key, endpoint, is_consume, created_at, expires_at, finished_at, team_subject";
    static final String PURCHASE_COLUMNS = "transaction_id, subject, tokens, purchase_type, status, payment_method,"
            + " amount, currency, reason, plan_month, unrecovered, created_at, processed_at";
    /** The usage of a charge event (schema version 2), NULL on other events. */
    static final String USAGE_COLUMNS = "model, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens";
    static final String EVENT_COLUMNS = "id, subject, plan_month, kind, tokens, overage, reservation_id,"
            + " transaction_id, detail, is_consume, occurred_at, " + USAGE_COLUMNS;

    static final RowMapper<QuotaAccount> ACCOUNT = (rs, ctx) -> new QuotaAccount(
            rs.getString("subject"),
            month(rs, "plan_month"),
            rs.getLong("allocated"),
            rs.getLong("granted"),
            rs.getLong("carried"),
            rs.getLong("used"),
            rs.getLong("reserved"),
            instant(rs, "created_at"),
            instant(rs, "updated_at"));

    /** A stored reservation and whether it was a one-step consume (idempotent replays must tell them apart). */
    record StoredReservation(Reservation reservation, boolean consume) {
    }

    /**
     * Reads reservations whose {@code created_at} and {@code expires_at} are stored in the database's
     * clock, which is {@code dbOffset} ahead of the policy's; every instant the store hands out is in the
     * policy's clock, and a hold's life ({@code expiresAt - createdAt}, which an idempotent replay's TTL is
     * measured against) is the same through every instance. Round 326: {@code created_at} was stored in
     * the creating instance's clock and read as it was, {@code expires_at} through the reader's offset, so
     * an instance whose clock lagged 90 s saw a 5-minute hold live 3.5 minutes (the same request's retry
     * was IDEMPOTENCY_CONFLICT) and one 90 s ahead of the creator 6.5 (a longer hold was "replayed").
     * {@code finished_at} stays in the finishing instance's clock: nothing measures against it.
     */
    static RowMapper<StoredReservation> reservations(Duration dbOffset) {
        return (rs, ctx) -> new StoredReservation(new Reservation(
                rs.getString("id"),
                rs.getString("subject"),
                month(rs, "plan_month"),
                rs.getLong("held"),
                ReservationState.valueOf(rs.getString("state")),
                rs.getLong("charged"),
                nullableLong(rs, "actual"),
                rs.getLong("overage"),
                rs.getString("idempotency_key"),
                rs.getString("endpoint"),
                instant(rs, "created_at").minus(dbOffset),
                instant(rs, "expires_at").minus(dbOffset),
                instant(rs, "finished_at"),
                io.tokenquota.Team.id(rs.getString("team_subject"))),
                rs.getBoolean("is_consume"));
    }

    /** A hold finished in one statement, the account as that statement left it, and the event it logged. */
    record FinishedHold(Reservation reservation, QuotaAccount account, long eventId) {
    }

    /** Reads what {@code Sql.commitInOneStatement}/{@code releaseInOneStatement} return. */
    static RowMapper<FinishedHold> finishedHolds(RowMapper<StoredReservation> reservations) {
        return (rs, ctx) -> {
            Reservation hold = reservations.map(rs, ctx).reservation();
            return new FinishedHold(hold, new QuotaAccount(
                    hold.subject(),
                    hold.month(),
                    rs.getLong("account_allocated"),
                    rs.getLong("account_granted"),
                    rs.getLong("account_carried"),
                    rs.getLong("account_used"),
                    rs.getLong("account_reserved"),
                    instant(rs, "account_created_at"),
                    instant(rs, "account_updated_at")),
                    rs.getLong("event_id"));
        };
    }

    static final RowMapper<Purchase> PURCHASE = (rs, ctx) -> new Purchase(
            rs.getString("transaction_id"),
            rs.getString("subject"),
            rs.getLong("tokens"),
            PurchaseType.parse(rs.getString("purchase_type")),
            PurchaseStatus.parse(rs.getString("status")),
            rs.getString("payment_method"),
            rs.getBigDecimal("amount"),
            Currency.parse(rs.getString("currency").trim()),
            rs.getString("reason"),
            month(rs, "plan_month"),
            rs.getLong("unrecovered"),
            instant(rs, "created_at"),
            instant(rs, "processed_at"));

    /**
     * An event row of {@code Sql.selectEvents}, listed under its {@code listed_id}; for a hold's
     * finishing event that records its reserve (schema version 4), also the RESERVED event it records:
     * listed under the row's own id (the hold's number), at the reserve's instant ({@code held_at}, kept
     * in the database's clock as the hold's {@code created_at} is, read back through {@code dbOffset}).
     * Either way in the shape the event had when it was told to listeners.
     */
    static List<LedgerEvent> events(ResultSet rs, Duration dbOffset) throws SQLException {
        long id = rs.getLong("listed_id");
        EventKind kind = EventKind.valueOf(rs.getString("kind"));
        String reservationId = rs.getString("reservation_id");
        if (reservationId == null && kind == EventKind.COMMITTED && rs.getBoolean("is_consume")) {
            // a consume without an idempotency key has no reservation row; its id is its event's
            reservationId = keylessConsumeId(id);
        }
        String subject = rs.getString("subject");
        YearMonth month = month(rs, "plan_month");
        String detail = rs.getString("detail");
        LedgerEvent event = new LedgerEvent(id, subject, month, kind, rs.getLong("tokens"), rs.getLong("overage"),
                reservationId, rs.getString("transaction_id"), detail, instant(rs, "occurred_at"), usage(rs));
        Long held = nullableLong(rs, "held_tokens");
        if (held == null) {
            return List.of(event);
        }
        return List.of(new LedgerEvent(rs.getLong("id"), subject, month, EventKind.RESERVED, held, 0, reservationId,
                null, detail, instant(rs, "held_at").minus(dbOffset)), event);
    }

    /**
     * The RESERVED event an open hold reserved since schema version 4 records, listed under its number
     * for {@code owner}: the member's, or (for {@code owner} its team) the team's.
     */
    static LedgerEvent reservedEventOf(Reservation hold, String owner) {
        long[] numbers = holdNumbers(hold.id());
        long id = numbers.length == 2 && !owner.equals(hold.subject()) ? numbers[1] : numbers[0];
        return new LedgerEvent(id, owner, hold.month(), EventKind.RESERVED, hold.held(), 0, hold.id(), null,
                hold.endpoint(), hold.createdAt());
    }

    /**
     * The numbers in the id of a hold reserved since schema version 4, drawn from the event log's
     * sequence: its RESERVED event's id, and the id of the first event that finishes it ({@code [n]}),
     * or for a team member's hold the member's and the team's ({@code "<n>t<m>"}, {@code [n, m]});
     * empty for any other id (a UUID, reserved before version 4, whose events are rows of their own).
     */
    static long[] holdNumbers(String id) {
        int t = id.indexOf('t');
        if (t < 0) {
            long n = eventIdOfKeylessConsume(id);
            return n < 0 ? new long[0] : new long[] {n};
        }
        long member = eventIdOfKeylessConsume(id.substring(0, t));
        long team = eventIdOfKeylessConsume(id.substring(t + 1));
        return member < 0 || team < 0 ? new long[0] : new long[] {member, team};
    }

    /** The usage kept on a charge event, or {@code null} when it was recorded without one. */
    static TokenUsage usage(ResultSet rs) throws SQLException {
        long input = rs.getLong("input_tokens");
        if (rs.wasNull()) {
            return null;
        }
        return new TokenUsage(rs.getString("model"), input, rs.getLong("cached_input_tokens"),
                rs.getLong("output_tokens"), rs.getLong("reasoning_tokens"));
    }

    /**
     * The id a consume without an idempotency key is handed out under: its COMMITTED event's id, in
     * decimal. A hold's number is drawn from the same sequence, so the two never meet.
     */
    static String keylessConsumeId(long eventId) {
        return Long.toString(eventId);
    }

    /**
     * The event id behind {@link #keylessConsumeId}, or -1 when {@code id} cannot be one: exactly as that
     * writes it, so a copy with leading zeros ({@code "057"}) names nothing, as in memory (round 375: it read,
     * replayed and extended consume {@code "57"}).
     */
    static long eventIdOfKeylessConsume(String id) {
        if (id.isEmpty() || id.length() > 18 || id.length() > 1 && id.charAt(0) == '0') {
            return -1;
        }
        for (int i = 0; i < id.length(); i++) {
            char c = id.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
        }
        return Long.parseLong(id);
    }

    /**
     * A consume without an idempotency key, rebuilt from its COMMITTED event, or a key-less hold whose
     * row was deleted at its commit or release, from its finishing event ({@code Sql.selectFinishedByEventId};
     * a team member's, from the member's, with the team its team's event names,
     * {@code Sql.selectFinishedTeamHoldByEventIds}), as the hold's row would read: the charge's actual
     * tokens are what a commit was asked to charge (more than the hold under CHARGE_ACTUAL, the capped
     * charge plus the overage otherwise). The reserve's instants ({@code held_at}, {@code held_until}) are
     * both in the database's clock, as the hold's row kept them (round 326: {@code held_at} was the
     * creating instance's clock), and read back through {@code dbOffset}.
     */
    static RowMapper<StoredReservation> finishedByEvent(Duration dbOffset) {
        return (rs, ctx) -> {
            long tokens = rs.getLong("tokens");
            Instant at = instant(rs, "occurred_at");
            YearMonth month = month(rs, "plan_month");
            Long held = nullableLong(rs, "held_tokens");
            if (held == null) {
                return new StoredReservation(new Reservation(keylessConsumeId(rs.getLong("id")), rs.getString("subject"),
                        month, tokens, ReservationState.COMMITTED, tokens, tokens, 0, null, rs.getString("detail"),
                        at, at, at), true);
            }
            ReservationState state = ReservationState.valueOf(rs.getString("kind"));
            long overage = rs.getLong("overage");
            boolean committed = state == ReservationState.COMMITTED;
            Long actual = !committed ? null : tokens > held ? tokens : tokens + overage;
            return new StoredReservation(new Reservation(rs.getString("reservation_id"), rs.getString("subject"),
                    month, held, state, committed ? tokens : 0, actual, committed ? overage : 0, null,
                    rs.getString("detail"), instant(rs, "held_at").minus(dbOffset), instant(rs, "held_until").minus(dbOffset), at,
                    io.tokenquota.Team.id(rs.getString("team_subject"))), false);
        };
    }

    private Rows() {
    }

    /** Binds an instant (or SQL NULL) as a UTC timestamp with time zone. */
    static Argument timestamp(Instant instant) {
        if (instant == null) {
            return (position, statement, ctx) -> statement.setNull(position, Types.TIMESTAMP_WITH_TIMEZONE);
        }
        OffsetDateTime value = instant.atOffset(ZoneOffset.UTC);
        return (position, statement, ctx) -> statement.setObject(position, value);
    }

    static Instant instant(ResultSet rs, String column) throws SQLException {
        OffsetDateTime value = rs.getObject(column, OffsetDateTime.class);
        return value == null ? null : value.toInstant();
    }

    static String month(YearMonth month) {
        return month == null ? null : month.toString();
    }

    private static YearMonth month(ResultSet rs, String column) throws SQLException {
        String value = rs.getString(column);
        return value == null ? null : YearMonth.parse(value.trim());
    }

    static Long nullableLong(ResultSet rs, String column) throws SQLException {
        long value = rs.getLong(column);
        return rs.wasNull() ? null : value;
    }
}
