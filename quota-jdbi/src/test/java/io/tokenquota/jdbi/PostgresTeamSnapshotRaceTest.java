package io.tokenquota.jdbi;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.jdbi.testing.RowRace;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The combined statements against a row that another transaction frees room in between the statement's
 * snapshot and its lock (READ COMMITTED). The statement's UPDATE finds the row as of its snapshot and
 * evaluates its WHERE on that version first; only a row that passes is re-checked on the newest version
 * (EvalPlanQual). A balance check in that WHERE therefore dropped the team's row (10 tokens left as of
 * the snapshot) although the walk granted the calls on the row as locked (60 left): the members' rows
 * moved, the team's did not, and no hold or event was written. Made deterministic here: the statement
 * starts while the release holds the team's row, and the release commits once the statement waits. A plain
 * user's combined take (one conditional update per subject, no walk) grants all of a subject's calls or none.
 */
class PostgresTeamSnapshotRaceTest {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();
    private static final RowRace RACE = new RowRace(DB);

    private static final String MONTH = "2026-12";

    @Test
    void membersTakenTogetherWhileTheirTeamIsFreedMoveBothAccounts() throws Exception {
        RACE.emptyLedger();
        RACE.exec("INSERT INTO tq_account (subject, plan_month, allocated, reserved, created_at, updated_at, team_subject)"
                + " VALUES ('team', '" + MONTH + "', 100, 90, now(), now(), NULL),"
                + " ('m1', '" + MONTH + "', 1000, 0, now(), now(), 'team'),"
                + " ('m2', '" + MONTH + "', 1000, 0, now(), now(), 'team')");
        Positional take = Positional.of(new Sql(Dialect.POSTGRESQL).teamTakeTogetherInOneStatement);
        List<String> rows = RACE.raceAgainst(
                List.of("UPDATE tq_account SET reserved = reserved - 50 WHERE subject = 'team'"), c -> {
            Instant now = Instant.now();
            try (PreparedStatement ps = take.prepare(c,
                    "subjectList", c.createArrayOf("varchar", new String[] {"m1", "m2"}),
                    "teamList", c.createArrayOf("varchar", new String[] {"team", "team"}),
                    "tokenList", c.createArrayOf("bigint", new Long[] {10L, 20L}),
                    "endpointList", c.createArrayOf("varchar", new String[] {"e", "e"}),
                    "idList", c.createArrayOf("varchar", new String[] {"t-h1", "t-h2"}),
                    "consumeList", c.createArrayOf("boolean", new Boolean[] {false, false}),
                    "expiryList", c.createArrayOf("bigint", new Long[] {RowRace.micros(now) + 3_600_000_000L,
                            RowRace.micros(now) + 3_600_000_000L}),
                    "accountList", c.createArrayOf("varchar", new String[] {"m1", "m2", "team"}),
                    "teamsList", c.createArrayOf("varchar", new String[] {"team"}),
                    // each call's own instant (round 343)
                    "nowList", c.createArrayOf("bigint", new Long[] {RowRace.micros(now), RowRace.micros(now)}),
                    "dbNowList", c.createArrayOf("bigint", new Long[] {RowRace.micros(now), RowRace.micros(now)}),
                    "month", MONTH, "dbNow", now);
                 ResultSet rs = ps.executeQuery()) {
                List<String> out = new ArrayList<>();
                while (rs.next()) {
                    out.add(rs.getString("subject") + ":" + rs.getLong("reserved") + "/" + rs.getLong("team_reserved"));
                }
                return out;
            }
        });
        // both calls granted on the team's row as locked (60 left), each account moved once by its sum
        assertEquals(List.of("m1:10/70", "m2:20/70"), rows);
        assertEquals(List.of("m1:0/10", "m2:0/20", "team:0/70"), RACE.accounts());
        assertEquals(2L, RACE.count("SELECT COUNT(*) FROM tq_reservation WHERE state = 'HELD'"));
        // a hold writes no event: its finishing events record the reserve
        assertEquals(0L, RACE.count("SELECT COUNT(*) FROM tq_event"));
    }

    /**
     * A plain user's combined take tests the balance in its update, as a single consume does: on the row as of
     * its snapshot, and again on the newest version of a row another transaction changed meanwhile. A row drained
     * meanwhile is re-checked on its newest version: nothing is granted past the balance, and nothing is written.
     */
    @Test
    void callsTakenTogetherWhileTheirAccountIsDrainedAreNotGranted() throws Exception {
        RACE.emptyLedger();
        RACE.exec("INSERT INTO tq_account (subject, plan_month, allocated, reserved, created_at, updated_at)"
                + " VALUES ('u', '" + MONTH + "', 100, 0, now(), now())");
        // another transaction holds 90 of the 100; the statement's snapshot still has room for its 30
        List<String> rows = RACE.raceAgainst(
                List.of("UPDATE tq_account SET reserved = reserved + 90 WHERE subject = 'u'"),
                PostgresTeamSnapshotRaceTest::holdAndConsume);
        assertEquals(List.of(), rows);
        assertEquals(List.of("u:0/90"), RACE.accounts());
        assertEquals(0L, RACE.count("SELECT COUNT(*) FROM tq_reservation"));
        assertEquals(0L, RACE.count("SELECT COUNT(*) FROM tq_event"));
    }

    /**
     * A row freed by a transaction that commits after the statement's snapshot is short of the calls' sum as of
     * that snapshot: the statement waits for the row (its lock comes first, in subject order), then grants none of
     * the calls and writes nothing (no account moved without its calls' holds and events), and its callers run
     * them alone, on a snapshot that sees the room.
     */
    @Test
    void callsTakenTogetherWhileTheirAccountIsFreedChangeNothing() throws Exception {
        RACE.emptyLedger();
        RACE.exec("INSERT INTO tq_account (subject, plan_month, allocated, reserved, created_at, updated_at)"
                + " VALUES ('u', '" + MONTH + "', 100, 90, now(), now())");
        // the statement's snapshot: 10 left, not yet the 60 the release leaves
        List<String> rows = RACE.raceAgainst(
                List.of("UPDATE tq_account SET reserved = reserved - 50 WHERE subject = 'u'"),
                PostgresTeamSnapshotRaceTest::holdAndConsume);
        assertEquals(List.of(), rows);
        assertEquals(List.of("u:0/40"), RACE.accounts());
        assertEquals(0L, RACE.count("SELECT COUNT(*) FROM tq_reservation"));
        assertEquals(0L, RACE.count("SELECT COUNT(*) FROM tq_event"));
    }

    /** A hold of 10 and a consume of 20 of {@code u}, combined; each granted call's {@code ord:used/reserved}. */
    private static List<String> holdAndConsume(Connection c) throws SQLException {
        Positional take = Positional.of(new Sql(Dialect.POSTGRESQL).takeTogetherInOneStatement);
        Instant now = Instant.now();
        try (PreparedStatement ps = take.prepare(c,
                "subjectList", c.createArrayOf("varchar", new String[] {"u", "u"}),
                "tokenList", c.createArrayOf("bigint", new Long[] {10L, 20L}),
                "endpointList", c.createArrayOf("varchar", new String[] {"e", "e"}),
                "expiryList", c.createArrayOf("bigint", new Long[] {RowRace.micros(now) + 3_600_000_000L, null}),
                "nowList", c.createArrayOf("bigint", new Long[] {RowRace.micros(now), RowRace.micros(now)}),
                "dbNowList", c.createArrayOf("bigint", new Long[] {RowRace.micros(now), RowRace.micros(now)}),
                "month", MONTH, "dbNow", now);
             ResultSet rs = ps.executeQuery()) {
            List<String> out = new ArrayList<>();
            while (rs.next()) {
                out.add(rs.getLong("ord") + ":" + rs.getLong("used") + "/" + rs.getLong("reserved"));
            }
            return out;
        }
    }
}
