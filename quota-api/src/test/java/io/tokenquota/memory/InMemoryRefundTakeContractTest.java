package io.tokenquota.memory;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.testkit.RefundTakeContract;

/** Round 318: a refund's take from a closed month's hold and a plan change, in either order, in memory. */
class InMemoryRefundTakeContractTest extends RefundTakeContract {
    @Override
    protected QuotaStore newStore(QuotaPolicy policy) {
        return new InMemoryQuotaStore(policy);
    }
}
