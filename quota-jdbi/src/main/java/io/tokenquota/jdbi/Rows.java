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
     * Reads reservations whose {@code expires_at} is stored in the database's clock, which is
     * {@code dbOffset} ahead of the policy's; every instant the store hands out is in the policy's clock.
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
                instant(rs, "created_at"),
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

    static final RowMapper<LedgerEvent> EVENT = (rs, ctx) -> {
        long id = rs.getLong("id");
        EventKind kind = EventKind.valueOf(rs.getString("kind"));
        String reservationId = rs.getString("reservation_id");
        if (reservationId == null && kind == EventKind.COMMITTED && rs.getBoolean("is_consume")) {
            // a consume without an idempotency key has no reservation row; its id is its event's
            reservationId = keylessConsumeId(id);
        }
        return new LedgerEvent(id, rs.getString("subject"), month(rs, "plan_month"), kind, rs.getLong("tokens"),
                rs.getLong("overage"), reservationId, rs.getString("transaction_id"), rs.getString("detail"),
                instant(rs, "occurred_at"), usage(rs));
    };

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
     * decimal. Hold ids are UUIDs, so the two never meet.
     */
    static String keylessConsumeId(long eventId) {
        return Long.toString(eventId);
    }

    /** The event id behind {@link #keylessConsumeId}, or -1 when {@code id} cannot be one. */
    static long eventIdOfKeylessConsume(String id) {
        if (id.isEmpty() || id.length() > 18) {
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

    /** A consume without an idempotency key, rebuilt from its COMMITTED event ({@code Sql.selectKeylessConsume}). */
    static final RowMapper<Reservation> KEYLESS_CONSUME = (rs, ctx) -> {
        long tokens = rs.getLong("tokens");
        Instant at = instant(rs, "occurred_at");
        return new Reservation(keylessConsumeId(rs.getLong("id")), rs.getString("subject"), month(rs, "plan_month"),
                tokens, ReservationState.COMMITTED, tokens, tokens, 0, null, rs.getString("detail"), at, at, at);
    };

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
