-- token-quota schema, version 1, PostgreSQL 12+.
-- Hand this file to Flyway (it follows Flyway's V<version>__<name>.sql naming) or Liquibase (sqlFile),
-- or let JdbiQuotaStore.installSchema(dataSource) apply it. Every statement is IF NOT EXISTS (the one
-- ALTER sets what it sets again), so applying it twice is harmless.
-- Months are 'YYYY-MM' strings in the policy's zone; instants are TIMESTAMPTZ (microseconds).

-- Per-subject plan allocation set by the host's user sync; subjects without a row get the policy default.
CREATE TABLE IF NOT EXISTS tq_plan (
    subject     VARCHAR(128) NOT NULL PRIMARY KEY,
    allocated   BIGINT       NOT NULL,
    updated_at  TIMESTAMPTZ  NOT NULL,
    CONSTRAINT tq_plan_allocated_nonnegative CHECK (allocated >= 0)
);

-- One row per (subject, month). available = allocated + granted + carried - used - reserved is
-- derived, never stored; it may go below 0 through a CHARGE_ACTUAL overrun or a refund of held tokens,
-- so no CHECK on it. carried may go below 0 too (a late charge of a closed month takes purchased tokens
-- from the latest month), but never granted + carried. used + reserved must fit 64 bits, so available
-- is always representable: the store maps a violation of tq_account_used_reserved_fit to AMOUNT_OVERFLOW.
CREATE TABLE IF NOT EXISTS tq_account (
    subject     VARCHAR(128) NOT NULL,
    plan_month  VARCHAR(7)     NOT NULL,
    allocated   BIGINT       NOT NULL,
    granted     BIGINT       NOT NULL DEFAULT 0,
    carried     BIGINT       NOT NULL DEFAULT 0,
    used        BIGINT       NOT NULL DEFAULT 0,
    reserved    BIGINT       NOT NULL DEFAULT 0,
    -- set when the subject's next month is opened: writes of a lagging caller then retry in that month
    superseded  BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ  NOT NULL,
    updated_at  TIMESTAMPTZ  NOT NULL,
    CONSTRAINT tq_account_pk PRIMARY KEY (subject, plan_month),
    CONSTRAINT tq_account_allocated_nonnegative CHECK (allocated >= 0),
    CONSTRAINT tq_account_credit_nonnegative CHECK (granted + carried >= 0),
    CONSTRAINT tq_account_used_nonnegative CHECK (used >= 0),
    CONSTRAINT tq_account_reserved_nonnegative CHECK (reserved >= 0),
    CONSTRAINT tq_account_used_reserved_fit CHECK (used <= 9223372036854775807 - reserved)
-- Every call changes used or reserved and nothing indexes them, so the update is HOT (no index
-- entry written) when the page has room for the new row version: hence the free quarter of each page.
-- topConsumers reads the month's accounts without an index of its own.
) WITH (fillfactor = 75);

-- Holds, and one-step consumes given an idempotency key (stored COMMITTED with is_consume = TRUE, so a
-- retry finds them). A consume without a key keeps no row here: its COMMITTED event is its record.
-- The unique (subject, idempotency_key) is what makes a retried reserve/consume idempotent; it has
-- entries only for rows that have a key.
-- expires_at is in the database's clock (CURRENT_TIMESTAMP), so instances whose clocks differ expire
-- holds by one clock; created_at and finished_at are in the policy's clock, like every other instant.
CREATE TABLE IF NOT EXISTS tq_reservation (
    id               VARCHAR(36)  NOT NULL,
    subject          VARCHAR(128) NOT NULL,
    plan_month       VARCHAR(7)     NOT NULL,
    held             BIGINT       NOT NULL,
    state            VARCHAR(9)   NOT NULL,
    charged          BIGINT       NOT NULL DEFAULT 0,
    actual           BIGINT,
    overage          BIGINT       NOT NULL DEFAULT 0,
    idempotency_key  VARCHAR(128),
    endpoint         VARCHAR(256),
    is_consume       BOOLEAN      NOT NULL,
    -- set on open holds when the subject's next month is opened: finishing one then moves purchased tokens
    superseded       BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at       TIMESTAMPTZ  NOT NULL,
    expires_at       TIMESTAMPTZ  NOT NULL,
    finished_at      TIMESTAMPTZ,
    -- the id leads, for commits and releases by id; the subject is part of every key, so a PostgreSQL
    -- sharded by subject (Citus) accepts the schema as it is
    CONSTRAINT tq_reservation_pk PRIMARY KEY (id, subject),
    CONSTRAINT tq_reservation_held_positive CHECK (held > 0),
    CONSTRAINT tq_reservation_state CHECK (state IN ('HELD', 'COMMITTED', 'RELEASED', 'EXPIRED')),
    CONSTRAINT tq_reservation_charged_nonnegative CHECK (charged >= 0),
    CONSTRAINT tq_reservation_actual_nonnegative CHECK (actual IS NULL OR actual >= 0),
    CONSTRAINT tq_reservation_overage_nonnegative CHECK (overage >= 0),
    -- a hold is open (HELD) exactly while it has no finish time: open holds are found by the latter
    CONSTRAINT tq_reservation_open_unfinished CHECK ((state = 'HELD') = (finished_at IS NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS tq_reservation_idempotency ON tq_reservation (subject, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- Open holds only: the per-subject stale check of every reserve and consume, the lazy per-subject
-- sweep, and expireStale and openHolds, which read the whole (small) index. Its predicate is
-- finished_at IS NULL, which a commit or release by id (state = 'HELD') does not imply, so those
-- reach their hold by the key and never scan this index's dead entries of finished holds.
CREATE INDEX IF NOT EXISTS tq_reservation_open_subject ON tq_reservation (subject, expires_at) WHERE finished_at IS NULL;

-- Purchases, bonuses and refund credits, idempotent on the payment system's transaction id.
CREATE TABLE IF NOT EXISTS tq_purchase (
    seq             BIGINT        GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    transaction_id  VARCHAR(128)  NOT NULL,
    subject         VARCHAR(128)  NOT NULL,
    tokens          BIGINT        NOT NULL,
    purchase_type   VARCHAR(20)   NOT NULL,
    status          VARCHAR(20)   NOT NULL,
    payment_method  VARCHAR(50),
    amount          DECIMAL(14, 2),
    currency        CHAR(3)       NOT NULL,
    reason          VARCHAR(500),
    plan_month      VARCHAR(7),
    unrecovered     BIGINT        NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ   NOT NULL,
    processed_at    TIMESTAMPTZ,
    CONSTRAINT tq_purchase_transaction UNIQUE (transaction_id),
    CONSTRAINT tq_purchase_tokens_positive CHECK (tokens > 0),
    CONSTRAINT tq_purchase_type CHECK (purchase_type IN ('purchase', 'bonus', 'refund')),
    CONSTRAINT tq_purchase_status CHECK (status IN ('pending', 'completed', 'failed', 'refunded')),
    CONSTRAINT tq_purchase_currency CHECK (currency IN ('KRW', 'USD', 'EUR', 'JPY')),
    CONSTRAINT tq_purchase_amount_nonnegative CHECK (amount IS NULL OR amount >= 0),
    CONSTRAINT tq_purchase_unrecovered_nonnegative CHECK (unrecovered >= 0)
);
CREATE INDEX IF NOT EXISTS tq_purchase_subject_created ON tq_purchase (subject, created_at);
CREATE INDEX IF NOT EXISTS tq_purchase_month_status ON tq_purchase (plan_month, status);

-- Append-only event log: every balance change and every refused hold. Never updated; whole months
-- past the policy's history window are removed by JdbiQuotaStore.dropEventsPastHistory() or
-- archiveEventsPastHistory(), nothing else deletes.
-- Partitioned by month (RANGE on plan_month, 'YYYY-MM' text): removing a month is dropping or
-- detaching one table, with no DELETE, no dead rows and no vacuum of the live months. The store
-- creates each month's partition, tq_event_YYYY_MM, FOR VALUES FROM ('YYYY-MM') TO ('YYYY-MM+1')
-- (December's upper bound is 'YYYY-13', still below the next year's '(YYYY+1)-01'), before the
-- month's first event: the previous, current and next month when it is built, a month and the next
-- one when that month's first account is created. It does so at run time, because a migration file
-- cannot name the months to come, so a host that runs this file through Flyway gets them too; the
-- store's role must own tq_event (see docs/storage.md). tq_event_default catches an event of a
-- month without a partition (one that could not be created), so an insert never fails for it.
-- Two index entries per row: the key, which serves events(subject, month) and history, and id alone,
-- which finds a key-less consume by the id it was handed out under. Reports over all subjects (block
-- statistics, daily usage) read a month or a time range through a BRIN index: rows arrive in time
-- order, so it keeps a few bytes per range of pages instead of an entry per row. Each index is
-- declared once here and exists in every partition.
-- The id comes from an explicit sequence: PostgreSQL before 17 does not allow an identity column on
-- a partitioned table. The combined take statement draws ids from it by name.
CREATE SEQUENCE IF NOT EXISTS tq_event_id_seq AS BIGINT;
CREATE TABLE IF NOT EXISTS tq_event (
    id              BIGINT        NOT NULL DEFAULT nextval('tq_event_id_seq'),
    subject         VARCHAR(128)  NOT NULL,
    plan_month      VARCHAR(7)      NOT NULL,
    kind            VARCHAR(20)   NOT NULL,
    tokens          BIGINT        NOT NULL,
    overage         BIGINT        NOT NULL DEFAULT 0,
    -- NULL on the COMMITTED event of a consume without an idempotency key: the event's id is its id
    reservation_id  VARCHAR(36),
    transaction_id  VARCHAR(128),
    detail          VARCHAR(500),
    is_consume      BOOLEAN       NOT NULL DEFAULT FALSE,
    occurred_at     TIMESTAMPTZ   NOT NULL,
    CONSTRAINT tq_event_kind CHECK (kind IN ('RESERVED', 'COMMITTED', 'LATE_COMMITTED', 'RELEASED', 'EXPIRED', 'REJECTED',
        'CREDITED', 'DEBITED', 'PURCHASE_RECORDED', 'PLAN_CHANGED')),
    CONSTRAINT tq_event_tokens_nonnegative CHECK (tokens >= 0),
    CONSTRAINT tq_event_overage_nonnegative CHECK (overage >= 0),
    -- a key of a partitioned table must contain the partition key: plan_month is part of it already
    CONSTRAINT tq_event_pk PRIMARY KEY (subject, plan_month, id)
) PARTITION BY RANGE (plan_month);
-- dropping the event log drops its sequence with it
ALTER SEQUENCE tq_event_id_seq OWNED BY tq_event.id;
CREATE TABLE IF NOT EXISTS tq_event_default PARTITION OF tq_event DEFAULT;
CREATE INDEX IF NOT EXISTS tq_event_id ON tq_event (id);
CREATE INDEX IF NOT EXISTS tq_event_month_time ON tq_event USING BRIN (plan_month, occurred_at);
