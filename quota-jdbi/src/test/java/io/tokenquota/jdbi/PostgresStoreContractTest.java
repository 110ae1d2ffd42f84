package io.tokenquota.jdbi;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.testkit.QuotaStoreContract;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.YearMonth;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The contract suite on Postgres: every test gets its own store over one database (the suite isolates by subject and month). */
class PostgresStoreContractTest extends QuotaStoreContract {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }

    /** One UPDATE instead of thousands of 10^15-token charges: the overflow test needs a nearly full counter. */
    @Override
    protected void fillUsed(QuotaStore store, String subject, YearMonth month, long used) {
        store.account(subject);
        try (Connection c = DB.dataSource().getConnection();
             PreparedStatement update = c.prepareStatement(
                     "UPDATE tq_account SET used = ? WHERE subject = ? AND plan_month = ?")) {
            update.setLong(1, used);
            update.setString(2, subject);
            update.setString(3, month.toString());
            if (update.executeUpdate() != 1) {
                throw new IllegalStateException("no account row of " + subject + " in " + month);
            }
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }
}
