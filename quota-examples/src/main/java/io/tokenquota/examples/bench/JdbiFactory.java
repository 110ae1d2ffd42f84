package io.tokenquota.examples.bench;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;

import javax.sql.DataSource;

/** Our JDBI store over the benchmark's pool, built as the README tells users to. Stateless. */
final class JdbiFactory implements LedgerBench.LedgerFactory {
    @Override
    public QuotaStore open(DataSource ds, QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(ds).policy(policy).build();
    }

    @Override
    public void installSchema(DataSource ds) {
        JdbiQuotaStore.installSchema(ds);
    }
}
