package io.tokenquota.jdbi.breakit550;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.jdbi.testing.RowRace;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import org.jdbi.v3.core.locator.ClasspathSqlLocator;
import org.jdbi.v3.core.statement.ColonPrefixSqlParser;
import org.jdbi.v3.core.statement.ParsedSql;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Round 550: the four combined PostgreSQL statements now move each account by a subquery per row (SET (...) =
 * (SELECT ... FROM sums WHERE subject = a.subject)) over rows listed by an init plan, instead of a join. A row
 * another transaction changed between the statement's snapshot and its lock is re-evaluated on its newest
 * version (EvalPlanQual); these tests check that the multi-column SET is recomputed from that newest version
 * (no lost update) in every statement, with both of a team call's rows changed at once, with a member moving
 * teams while the statement waits, and with a team drained near exhaustion while it waits. Each is made
 * deterministic: another transaction holds the rows (changed, uncommitted), the statement starts, takes its
 * snapshot and waits for the lock (seen in pg_locks), and only then does the other transaction commit.
 */
class PostgresRound550Test {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();
    private static final RowRace RACE = new RowRace(DB);

    private static final String MONTH = "2026-12";

    // ------------------------------------------------------------------ take-together.sql

    /**
     * A plain user's hold of 10 and consume of 20, combined, while another transaction has consumed 70 of the
     * user's 100 (committed after the statement's snapshot, exactly the 30 asked left). Both granted, and the
     * account moved from the newest row: used 70 + 20 = 90, reserved 10. With the SET computed from the
     * snapshot's row the other transaction's 70 would be lost (used 20).
     */
    @Test
    void takeTogetherMovesTheNewestRowOfAnAccountChangedMeanwhile() throws Exception {
        RACE.emptyLedger();
        RACE.exec("INSERT INTO tq_account (subject, plan_month, allocated, used, reserved, created_at, updated_at)"
                + " VALUES ('u', '" + MONTH + "', 100, 0, 0, now(), now())");
        List<String> rows = RACE.raceAgainst(List.of("UPDATE tq_account SET used = used + 70 WHERE subject = 'u'"), c -> {
            Instant now = Instant.now();
            try (PreparedStatement ps = prepare(c, "take-together",
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
        });
        // 70 consumed meanwhile leaves exactly 30: both calls fit on the newest row
        assertEquals(List.of("1:90/10", "2:90/10"), rows);
        assertEquals(List.of("u:90/10"), RACE.accounts());
        assertEquals(1L, RACE.count("SELECT COUNT(*) FROM tq_reservation WHERE state = 'HELD'"));
        assertEquals(1L, RACE.count("SELECT COUNT(*) FROM tq_event"));
    }

    // ------------------------------------------------------------------ finish-together.sql

    /**
     * Two key-less holds of 'u' (30 and 20) finished together, a commit of 25 and a release, while another
     * transaction has consumed 7 (committed after the snapshot). used 7 + 25 = 32, reserved 50 - 50 = 0.
     */
    @Test
    void finishTogetherMovesTheNewestRowOfAnAccountChangedMeanwhile() throws Exception {
        RACE.emptyLedger();
        RACE.exec("INSERT INTO tq_account (subject, plan_month, allocated, used, reserved, created_at, updated_at)"
                + " VALUES ('u', '" + MONTH + "', 100, 0, 50, now(), now())");
        RACE.exec("INSERT INTO tq_reservation (id, subject, plan_month, held, state, is_consume, created_at, expires_at)"
                + " VALUES ('11', 'u', '" + MONTH + "', 30, 'HELD', FALSE, now(), now() + INTERVAL '1 hour'),"
                + " ('12', 'u', '" + MONTH + "', 20, 'HELD', FALSE, now(), now() + INTERVAL '1 hour')");
        RACE.exec("SELECT setval('tq_event_id_seq', 1000)");
        List<String> rows = RACE.raceAgainst(List.of("UPDATE tq_account SET used = used + 7 WHERE subject = 'u'"),
                c -> finish(c, "finish-together", new String[] {"11", "12"}, new Long[] {25L, null}, false));
        assertEquals(List.of("11:32/0", "12:32/0"), rows);
        assertEquals(List.of("u:32/0"), RACE.accounts());
        assertEquals(0L, RACE.count("SELECT COUNT(*) FROM tq_reservation"));
        assertEquals(2L, RACE.count("SELECT COUNT(*) FROM tq_event"));
    }

    // ------------------------------------------------------------------ team-finish-together.sql

    /**
     * Two members' holds against one team (m1 30, m2 20) finished together (a commit of 10, a release) while
     * another transaction changed both the team's row (used + 5) and m1's (used + 3), committed after the
     * snapshot. Every account from its newest row: team used 15, reserved 0; m1 used 13; m2 used 0; reserved 0.
     */
    @Test
    void teamFinishTogetherMovesTheNewestRowsOfBothAccountsChangedMeanwhile() throws Exception {
        RACE.emptyLedger();
        RACE.exec("INSERT INTO tq_account (subject, plan_month, allocated, used, reserved, created_at, updated_at, team_subject)"
                + " VALUES ('team', '" + MONTH + "', 1000, 0, 50, now(), now(), NULL),"
                + " ('m1', '" + MONTH + "', 1000, 0, 30, now(), now(), 'team'),"
                + " ('m2', '" + MONTH + "', 1000, 0, 20, now(), now(), 'team')");
        RACE.exec("INSERT INTO tq_reservation (id, subject, plan_month, held, state, is_consume, created_at, expires_at,"
                + " team_subject) VALUES ('21t22', 'm1', '" + MONTH + "', 30, 'HELD', FALSE, now(),"
                + " now() + INTERVAL '1 hour', 'team'),"
                + " ('23t24', 'm2', '" + MONTH + "', 20, 'HELD', FALSE, now(), now() + INTERVAL '1 hour', 'team')");
        RACE.exec("SELECT setval('tq_event_id_seq', 1000)");
        List<String> rows = RACE.raceAgainst(List.of("UPDATE tq_account SET used = used + 5 WHERE subject = 'team'",
                        "UPDATE tq_account SET used = used + 3 WHERE subject = 'm1'"),
                c -> finish(c, "team-finish-together", new String[] {"21t22", "23t24"}, new Long[] {10L, null}, true));
        assertEquals(List.of("21t22:13/0 team 15/0", "23t24:0/0 team 15/0"), rows);
        assertEquals(List.of("m1:13/0", "m2:0/0", "team:15/0"), RACE.accounts());
        assertEquals(0L, RACE.count("SELECT COUNT(*) FROM tq_reservation"));
        assertEquals(4L, RACE.count("SELECT COUNT(*) FROM tq_event"));
    }

    // ------------------------------------------------------------------ team-take-together.sql

    /**
     * Three members' holds of 10 against one team, combined, while another transaction moved m2 to another team
     * and consumed 40 of the team's 100 and 5 of m1's (all committed after the snapshot). m2's call is not
     * granted (its member left), m1's and m3's are, on the newest rows: team used 40, reserved 20; m1 used 5,
     * reserved 10; m3 reserved 10; m2 untouched. No grant escapes either account.
     */
    @Test
    void teamTakeTogetherWhileAMemberMovesAndBothRowsChangeMovesTheNewestRows() throws Exception {
        RACE.emptyLedger();
        teamOfThree(100);
        List<String> rows = RACE.raceAgainst(List.of("UPDATE tq_account SET used = used + 40 WHERE subject = 'team'",
                        "UPDATE tq_account SET used = used + 5 WHERE subject = 'm1'",
                        "UPDATE tq_account SET team_subject = 'other' WHERE subject = 'm2'"),
                c -> teamTake(c, new String[] {"m1", "m2", "m3"}, new Long[] {10L, 10L, 10L}));
        assertEquals(List.of("m1:5/10 team 40/20", "m3:0/10 team 40/20"), rows);
        assertEquals(List.of("m1:5/10", "m2:0/0", "m3:0/10", "other:0/0", "team:40/20"), RACE.accounts());
        assertEquals(2L, RACE.count("SELECT COUNT(*) FROM tq_reservation WHERE state = 'HELD' AND team_subject = 'team'"));
    }

    /**
     * The team drained to 25 while the statement waits (75 consumed elsewhere, committed after its snapshot,
     * which still showed 100): the three members' 30 do not fit together, so none is granted and nothing is
     * written; each caller then runs alone. Granting on the snapshot's 100 would take the team to -5.
     */
    @Test
    void teamTakeTogetherWhileTheTeamIsDrainedGrantsNothing() throws Exception {
        RACE.emptyLedger();
        teamOfThree(100);
        List<String> rows = RACE.raceAgainst(List.of("UPDATE tq_account SET used = used + 75 WHERE subject = 'team'"),
                c -> teamTake(c, new String[] {"m1", "m2", "m3"}, new Long[] {10L, 10L, 10L}));
        assertEquals(List.of(), rows);
        assertEquals(List.of("m1:0/0", "m2:0/0", "m3:0/0", "other:0/0", "team:75/0"), RACE.accounts());
        assertEquals(0L, RACE.count("SELECT COUNT(*) FROM tq_reservation"));
    }

    /**
     * A consume and a hold of one member mixed with another member's hold while the team is freed meanwhile (a
     * release of 60 committed after the snapshot, which showed 10 left): all three fit on the newest row (70
     * left, 30 asked), and the team moves from it: used 5, reserved 100 - 60 + 25 = 65.
     */
    @Test
    void teamTakeTogetherMixingConsumesAndHoldsWhileTheTeamIsFreed() throws Exception {
        RACE.emptyLedger();
        RACE.exec("INSERT INTO tq_account (subject, plan_month, allocated, used, reserved, created_at, updated_at, team_subject)"
                + " VALUES ('team', '" + MONTH + "', 110, 0, 100, now(), now(), NULL),"
                + " ('m1', '" + MONTH + "', 1000, 0, 0, now(), now(), 'team'),"
                + " ('m2', '" + MONTH + "', 1000, 0, 0, now(), now(), 'team')");
        List<String> rows = RACE.raceAgainst(List.of("UPDATE tq_account SET reserved = reserved - 60 WHERE subject = 'team'"),
                c -> teamTake(c, new String[] {"m1", "m1", "m2"}, new Long[] {5L, 10L, 15L}, true, false, false));
        assertEquals(List.of("m1:5/10 team 5/65", "m1:5/10 team 5/65", "m2:0/15 team 5/65"), rows);
        assertEquals(List.of("m1:5/10", "m2:0/15", "team:5/65"), RACE.accounts());
        assertEquals(2L, RACE.count("SELECT COUNT(*) FROM tq_reservation WHERE state = 'HELD'"));
        assertEquals(1L, RACE.count("SELECT COUNT(*) FROM tq_reservation WHERE state = 'COMMITTED'"));
        assertEquals(2L, RACE.count("SELECT COUNT(*) FROM tq_event"));
    }

    // ------------------------------------------------------------------ rig

    private static void teamOfThree(long teamAllocated) throws SQLException {
        RACE.exec("INSERT INTO tq_account (subject, plan_month, allocated, used, reserved, created_at, updated_at, team_subject)"
                + " VALUES ('team', '" + MONTH + "', " + teamAllocated + ", 0, 0, now(), now(), NULL),"
                + " ('other', '" + MONTH + "', 1000, 0, 0, now(), now(), NULL),"
                + " ('m1', '" + MONTH + "', 1000, 0, 0, now(), now(), 'team'),"
                + " ('m2', '" + MONTH + "', 1000, 0, 0, now(), now(), 'team'),"
                + " ('m3', '" + MONTH + "', 1000, 0, 0, now(), now(), 'team')");
    }

    private static List<String> teamTake(Connection c, String[] members, Long[] tokens) throws SQLException {
        Boolean[] consumes = new Boolean[members.length];
        java.util.Arrays.fill(consumes, false);
        return teamTake(c, members, tokens, consumes);
    }

    /** Members' takes against 'team' in one team-take-together statement; per granted call its rows. */
    private static List<String> teamTake(Connection c, String[] members, Long[] tokens, Boolean... consumes)
            throws SQLException {
        Instant now = Instant.now();
        int n = members.length;
        String[] teams = new String[n];
        String[] endpoints = new String[n];
        String[] ids = new String[n];
        Long[] expiries = new Long[n];
        Long[] nows = new Long[n];
        java.util.Set<String> accounts = new java.util.LinkedHashSet<>(List.of(members));
        accounts.add("team");
        for (int i = 0; i < n; i++) {
            teams[i] = "team";
            endpoints[i] = "e";
            ids[i] = consumes[i] ? "c-" + i + "-" + System.nanoTime() : null;
            expiries[i] = consumes[i] ? RowRace.micros(now) : RowRace.micros(now) + 3_600_000_000L;
            nows[i] = RowRace.micros(now);
        }
        try (PreparedStatement ps = prepare(c, "team-take-together",
                "subjectList", c.createArrayOf("varchar", members), "teamList", c.createArrayOf("varchar", teams),
                "tokenList", c.createArrayOf("bigint", tokens), "endpointList", c.createArrayOf("varchar", endpoints),
                "idList", c.createArrayOf("varchar", ids), "consumeList", c.createArrayOf("boolean", consumes),
                "expiryList", c.createArrayOf("bigint", expiries), "nowList", c.createArrayOf("bigint", nows),
                "dbNowList", c.createArrayOf("bigint", nows),
                "accountList", c.createArrayOf("varchar", accounts.toArray()),
                "teamsList", c.createArrayOf("varchar", new String[] {"team"}), "month", MONTH, "dbNow", now);
             ResultSet rs = ps.executeQuery()) {
            List<String> out = new ArrayList<>();
            while (rs.next()) {
                out.add(rs.getString("subject") + ":" + rs.getLong("used") + "/" + rs.getLong("reserved") + " "
                        + rs.getString("team_subject") + " " + rs.getLong("team_used") + "/"
                        + rs.getLong("team_reserved"));
            }
            return out;
        }
    }

    /** A combined finish of {@code ids} (actual null: a release); per finished hold its account(s) as left. */
    private static List<String> finish(Connection c, String statement, String[] ids, Long[] actuals, boolean team)
            throws SQLException {
        long us = RowRace.micros(Instant.now());
        int n = ids.length;
        Long[] nows = new Long[n];
        java.util.Arrays.fill(nows, us);
        try (PreparedStatement ps = prepare(c, statement, "idList", c.createArrayOf("varchar", ids),
                "actualList", c.createArrayOf("bigint", actuals),
                "modelList", c.createArrayOf("varchar", new String[n]),
                "inputList", c.createArrayOf("bigint", new Long[n]),
                "cachedList", c.createArrayOf("bigint", new Long[n]),
                "outputList", c.createArrayOf("bigint", new Long[n]),
                "reasoningList", c.createArrayOf("bigint", new Long[n]),
                "nowList", c.createArrayOf("bigint", nows), "month", MONTH, "capAtHeld", 0);
             ResultSet rs = ps.executeQuery()) {
            List<String> out = new ArrayList<>();
            while (rs.next()) {
                out.add(rs.getString("id") + ":" + rs.getLong("account_used") + "/" + rs.getLong("account_reserved")
                        + (team ? " " + rs.getString("team_subject") + " " + rs.getLong("team_used") + "/"
                                + rs.getLong("team_reserved") : ""));
            }
            return out;
        }
    }


    /** A statement of the store's PostgreSQL set, read and bound as the store binds it (named to positional). */
    private static PreparedStatement prepare(Connection c, String name, Object... namesAndValues) throws SQLException {
        String text = ClasspathSqlLocator.removingComments().getResource(PostgresRound550Test.class.getClassLoader(),
                "io/tokenquota/jdbi/sql/postgresql/" + name + ".sql");
        ParsedSql parsed = new ColonPrefixSqlParser().parse(text.strip().replaceAll("\\s+", " "), null);
        List<String> names = parsed.getParameters().getParameterNames();
        PreparedStatement ps = c.prepareStatement(parsed.getSql());
        for (int i = 0; i < names.size(); i++) {
            Object value = null;
            boolean found = false;
            for (int k = 0; k < namesAndValues.length; k += 2) {
                if (namesAndValues[k].equals(names.get(i))) {
                    value = namesAndValues[k + 1];
                    found = true;
                }
            }
            assertTrue(found, "no value for :" + names.get(i));
            ps.setObject(i + 1, value instanceof Instant instant ? instant.atOffset(ZoneOffset.UTC) : value);
        }
        return ps;
    }
}
