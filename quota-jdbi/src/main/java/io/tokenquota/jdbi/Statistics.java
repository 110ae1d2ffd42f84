package io.tokenquota.jdbi;

import io.tokenquota.Currency;
import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStatistics.BlockStats;
import io.tokenquota.QuotaStatistics.ConsumerUsage;
import io.tokenquota.QuotaStatistics.PurchaseTotal;
import io.tokenquota.QuotaStatistics.UsageForecast;
import io.tokenquota.Team;
import io.tokenquota.internal.DailyTally;
import io.tokenquota.internal.LedgerRules;
import io.tokenquota.jdbi.Operations.Op;
import java.math.BigDecimal;
import java.time.Instant;
import java.time.LocalDate;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.jdbi.v3.core.statement.Query;

/**
 * The reports: daily usage, top consumers, block (refusal) counts, the month's forecast, open holds,
 * purchase totals and a month's events. Reads only, each one statement at READ COMMITTED, except the
 * forecast, which reads the subject's account as {@link Holds#freshAccount} does (a first touch and a
 * sweep of stale holds, with their locks).
 */
final class Statistics {
    /** The LIKE pattern of team subjects (the prefix has no LIKE wildcards). */
    private static final String TEAMS = Team.SUBJECT_PREFIX + "%";
    private final Sql sql;
    private final QuotaPolicy policy;
    private final Holds holds;
    /**
     * How far the database's clock is ahead of the policy's: a reserve's instant ({@code held_at}, a
     * hold's {@code created_at}) is kept in the database's clock, as its expiry is (round 326).
     */
    private final java.time.Duration dbOffset;

    Statistics(Sql sql, QuotaPolicy policy, Holds holds, java.time.Duration dbOffset) {
        this.sql = sql;
        this.policy = policy;
        this.holds = holds;
        this.dbOffset = dbOffset;
    }

    /** Adds the request events of the days {@code from} to {@code to} to {@code tally}. */
    void dailyUsage(Op op, DailyTally tally, String subject, LocalDate from, LocalDate to) {
        Instant start = from.atStartOfDay(policy.zone()).toInstant();
        Instant end = to.plusDays(1).atStartOfDay(policy.zone()).toInstant();
        op.with(h -> {
            Query query = h.createQuery(subject == null ? sql.selectRequestEventsOfUsers : sql.selectRequestEventsOfSubject)
                    .bind("from", Rows.timestamp(start)).bind("to", Rows.timestamp(end))
                    // a reserve's instant is kept in the database's clock (Sql's REQUEST_EVENTS, round 326)
                    .bind("dbFrom", Rows.timestamp(start.plus(dbOffset))).bind("dbTo", Rows.timestamp(end.plus(dbOffset)))
                    .bind("fromMonth", Rows.month(YearMonth.from(from))).bind("toMonth", Rows.month(YearMonth.from(to)));
            bindSubject(query, subject);
            // bucketed here rather than in SQL: a day is a calendar day in the policy's zone, which
            // the two databases would each need their own time zone arithmetic for
            query.map((rs, ctx) -> {
                Instant at = Rows.instant(rs, "occurred_at");
                if (rs.getBoolean("db_clock")) {
                    at = at.minus(dbOffset);
                }
                tally.add(LedgerRules.reportDay(YearMonth.parse(rs.getString("plan_month")), at, policy),
                        EventKind.valueOf(rs.getString("kind")),
                        rs.getLong("tokens"), rs.getBoolean("is_consume"));
                return Boolean.TRUE;
            }).forEach(ignored -> { });
            return null;
        });
    }

    List<ConsumerUsage> topConsumers(Op op, YearMonth month, int limit) {
        return op.with(h -> h.createQuery(sql.selectTopConsumers)
                .bind("month", Rows.month(month)).bind("limit", limit).bind("teams", TEAMS)
                .map((rs, ctx) -> new ConsumerUsage(rs.getString("subject"), rs.getLong("used"), rs.getLong("month_limit")))
                .list());
    }

    List<ConsumerUsage> topTeams(Op op, YearMonth month, int limit) {
        return op.with(h -> h.createQuery(sql.selectTopTeams)
                .bind("month", Rows.month(month)).bind("limit", limit).bind("teams", TEAMS)
                .map((rs, ctx) -> new ConsumerUsage(Team.id(rs.getString("subject")), rs.getLong("used"),
                        rs.getLong("month_limit")))
                .list());
    }

    /** A subject's own rows, or (for {@code null}) every user's: team accounts repeat their members' figures. */
    private static void bindSubject(Query query, String subject) {
        if (subject == null) {
            query.bind("teams", TEAMS);
        } else {
            query.bind("subject", subject);
        }
    }

    BlockStats blockStats(Op op, String subject, YearMonth month) {
        return op.with(h -> {
            Query query = h.createQuery(subject == null ? sql.countBlocksOfUsers : sql.countBlocksOfSubject)
                    .bind("month", Rows.month(month));
            bindSubject(query, subject);
            return query.map((rs, ctx) -> {
                long granted = rs.getLong("granted_holds");
                long rejected = rs.getLong("rejected_holds");
                double ratio = granted + rejected == 0 ? 0.0 : (double) rejected / (granted + rejected);
                return new BlockStats(granted, rejected, ratio);
            }).one();
        });
    }

    UsageForecast forecast(Op op, String subject) {
        return LedgerRules.forecast(holds.freshAccount(op, subject), op.now, policy);
    }

    long openHolds(Op op) {
        return op.with(h -> h.createQuery(sql.countOpenHolds).mapTo(Long.class).one());
    }

    List<PurchaseTotal> purchaseTotals(Op op, YearMonth month) {
        List<PurchaseTotal> totals = op.with(h ->
                h.createQuery(sql.sumPurchasesOfMonth).bind("month", Rows.month(month))
                        .map((rs, ctx) -> {
                            BigDecimal amount = rs.getBigDecimal("amount");
                            return new PurchaseTotal(PurchaseType.parse(rs.getString("purchase_type")),
                                    Currency.parse(rs.getString("currency").trim()), rs.getLong("purchases"),
                                    // read as a decimal and saturated, as modelUsage's sums are: many
                                    // accounts' purchases may pass 64 bits (round 349)
                                    saturated(rs.getBigDecimal("tokens")), (amount == null ? BigDecimal.ZERO : amount).setScale(2));
                        }).list());
        // the order of wire names, whatever the database's collation
        List<PurchaseTotal> sorted = new ArrayList<>(totals);
        sorted.sort(Comparator.comparing((PurchaseTotal t) -> t.type().wireName())
                .thenComparing(t -> t.currency().name()));
        return sorted;
    }

    /** Charges of the month by model; sums read as decimals and saturated, as the in-memory store's are. */
    List<io.tokenquota.QuotaStatistics.ModelUsage> modelUsage(Op op, String subject, YearMonth month) {
        List<io.tokenquota.QuotaStatistics.ModelUsage> rows = op.with(h -> {
            // over all users, team accounts are left out: their charges repeat their members'
            Query query = h.createQuery((subject == null ? sql.selectModelUsageOfUsers
                    : sql.selectModelUsage + " AND subject = :subject") + sql.groupModelUsage)
                    .bind("month", Rows.month(month));
            if (subject != null) {
                query.bind("subject", subject);
            } else {
                query.bind("teams", TEAMS);
            }
            return query.map((rs, ctx) -> new io.tokenquota.QuotaStatistics.ModelUsage(rs.getString("model"),
                    saturated(rs.getBigDecimal("calls")), saturated(rs.getBigDecimal("input_tokens")),
                    saturated(rs.getBigDecimal("cached_input_tokens")), saturated(rs.getBigDecimal("output_tokens")),
                    saturated(rs.getBigDecimal("reasoning_tokens")), saturated(rs.getBigDecimal("charged")))).list();
        });
        List<io.tokenquota.QuotaStatistics.ModelUsage> sorted = new ArrayList<>(rows);
        sorted.sort(io.tokenquota.internal.ModelUsageTally.ORDER);
        return sorted;
    }

    private static long saturated(java.math.BigDecimal sum) {
        if (sum == null) {
            return 0;
        }
        return sum.compareTo(java.math.BigDecimal.valueOf(Long.MAX_VALUE)) > 0 ? Long.MAX_VALUE : sum.longValue();
    }

    /**
     * The month's log of one account, oldest (lowest id) first: its event rows, the RESERVED events
     * that holds' finishing events record (schema version 4: a hold writes no RESERVED row), and those
     * of its holds still open, from their rows (for a team, the open holds its members held against it).
     * A RESERVED event is listed under the id it was told under when the hold was granted, so the log
     * reads as it did when every RESERVED event was a row; rows written before version 4 read as they are.
     */
    List<LedgerEvent> events(Op op, String subject, YearMonth month) {
        return op.with(h -> {
            // the open holds first, then the rows: a hold finished between the two reads is listed by
            // both, under the same id (its number), and kept once; read the other way round it would be
            // missed by both
            List<LedgerEvent> open = h.createQuery(Team.isTeam(subject) ? sql.selectOpenTeamHoldsOfMonth
                            : sql.selectOpenHoldsOfMonth)
                    .bind("subject", subject).bind("month", Rows.month(month)).map(holds.reservations())
                    .map(r -> Rows.reservedEventOf(r.reservation(), subject)).list();
            List<LedgerEvent> events = new ArrayList<>();
            h.createQuery(sql.selectEvents).bind("subject", subject).bind("month", Rows.month(month))
                    .map((rs, ctx) -> Rows.events(rs, dbOffset)).forEach(events::addAll);
            java.util.Set<Long> listed = new java.util.HashSet<>();
            events.forEach(e -> listed.add(e.id()));
            open.stream().filter(e -> !listed.contains(e.id())).forEach(events::add);
            events.sort(Comparator.comparingLong(LedgerEvent::id));
            return events;
        });
    }
}
