package io.tokenquota.jdbi.breakit349;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStatistics.PurchaseTotal;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.H2Extension;
import java.time.YearMonth;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Round 349's scenarios on H2. */
class H2Round349Test extends AbstractRound349 {
    @RegisterExtension
    static final H2Extension DB = new H2Extension();

    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }

    /** Round 349's purchase totals past 2^63 on the SQL path (see {@code AbstractRound349Sums}). */
    @Test
    void purchaseTotalsSaturatePast64Bits() {
        List<PurchaseTotal> totals = monthOfHugeGrants(YearMonth.of(2031, 7), 9_224);
        assertEquals(List.of(9_224L, Long.MAX_VALUE), List.of(totals.get(0).count(), totals.get(0).tokens()));
    }
}
