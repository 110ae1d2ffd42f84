package io.tokenquota.jdbi.spring;

import io.tokenquota.OverrunPolicy;
import io.tokenquota.QuotaPolicy;
import java.time.Duration;
import java.time.ZoneId;
import java.time.ZoneOffset;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * The ledger's {@code quota.*} properties for Spring Boot: the policy, the schema install and the
 * stale-hold sweep. Defaults are {@link QuotaPolicy#defaults()}. Mutable (Spring binds it), not
 * thread-safe; the auto-configuration reads it once at startup.
 */
@ConfigurationProperties(prefix = "quota")
public class QuotaProperties {
    /** Tokens a subject gets each month unless its plan says otherwise. */
    private long defaultAllocation = 10_000;
    /** Cap on a month's allocated + granted + carried tokens; a credit past it is refused. */
    private long maxQuota = 100_000_000;
    /** Fraction of the limit at which listeners hear THRESHOLD_CROSSED and responses carry a warning. */
    private double warningThreshold = 0.8;
    /** How long a hold lives before it is returned, unless a call gives its own TTL. */
    private Duration holdTtl = Duration.ofMinutes(5);
    /** The time zone whose calendar months are the quota periods. */
    private ZoneId zone = ZoneOffset.UTC;
    /** What a commit above its hold charges: CHARGE_ACTUAL (the truth) or CAP_AT_HOLD. */
    private OverrunPolicy overrunPolicy = OverrunPolicy.CHARGE_ACTUAL;
    /** Whether unused purchased tokens carry over to the next month. */
    private boolean rolloverPurchased = true;
    /** How many months of history can be read. */
    private int historyMonths = 24;
    /** Whether the store creates its tables at startup when they are missing (off when Flyway or Liquibase own the schema). */
    private boolean installSchema = true;
    private final ExpireStale expireStale = new ExpireStale();

    /** The policy these properties describe, on the system clock. */
    public QuotaPolicy toPolicy() {
        return QuotaPolicy.builder()
                .defaultAllocation(defaultAllocation)
                .maxQuota(maxQuota)
                .warningThreshold(warningThreshold)
                .holdTtl(holdTtl)
                .zone(zone)
                .overrunPolicy(overrunPolicy)
                .rolloverPurchased(rolloverPurchased)
                .historyMonths(historyMonths)
                .build();
    }

    public long getDefaultAllocation() {
        return defaultAllocation;
    }

    public void setDefaultAllocation(long defaultAllocation) {
        this.defaultAllocation = defaultAllocation;
    }

    public long getMaxQuota() {
        return maxQuota;
    }

    public void setMaxQuota(long maxQuota) {
        this.maxQuota = maxQuota;
    }

    public double getWarningThreshold() {
        return warningThreshold;
    }

    public void setWarningThreshold(double warningThreshold) {
        this.warningThreshold = warningThreshold;
    }

    public Duration getHoldTtl() {
        return holdTtl;
    }

    public void setHoldTtl(Duration holdTtl) {
        this.holdTtl = holdTtl;
    }

    public ZoneId getZone() {
        return zone;
    }

    public void setZone(ZoneId zone) {
        this.zone = zone;
    }

    public OverrunPolicy getOverrunPolicy() {
        return overrunPolicy;
    }

    public void setOverrunPolicy(OverrunPolicy overrunPolicy) {
        this.overrunPolicy = overrunPolicy;
    }

    public boolean isRolloverPurchased() {
        return rolloverPurchased;
    }

    public void setRolloverPurchased(boolean rolloverPurchased) {
        this.rolloverPurchased = rolloverPurchased;
    }

    public int getHistoryMonths() {
        return historyMonths;
    }

    public void setHistoryMonths(int historyMonths) {
        this.historyMonths = historyMonths;
    }

    public boolean isInstallSchema() {
        return installSchema;
    }

    public void setInstallSchema(boolean installSchema) {
        this.installSchema = installSchema;
    }

    public ExpireStale getExpireStale() {
        return expireStale;
    }

    /** The scheduled {@code expireStale()} sweep that returns the holds of crashed or forgetful callers. */
    public static class ExpireStale {
        /** Whether the sweep runs. */
        private boolean enabled = true;
        /** Time between two sweeps. */
        private Duration interval = Duration.ofSeconds(30);

        public boolean isEnabled() {
            return enabled;
        }

        public void setEnabled(boolean enabled) {
            this.enabled = enabled;
        }

        public Duration getInterval() {
            return interval;
        }

        public void setInterval(Duration interval) {
            this.interval = interval;
        }
    }
}
