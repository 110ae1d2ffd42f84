-- token-quota schema, version 1, H2 2.x.
-- Hand this file to Flyway (it follows Flyway's V<version>__<name>.sql naming) or Liquibase (sqlFile),
-- or let JdbiQuotaStore.installSchema(dataSource) apply it. Every statement is IF NOT EXISTS, so
-- applying it twice is harmless.
-- Months are 'YYYY-MM' strings in the policy's zone; instants are TIMESTAMP WITH TIME ZONE.
-- H2 counts VARCHAR lengths in UTF-16 units, so text columns are twice the code-point limits the
-- library validates (PostgreSQL counts characters). Columns with a fixed set of values are ENUMs here
-- rather than CHECK (... IN (...)): H2 2.4 evaluates string CHECKs with the session that created the
-- table, and fails every insert once that session has closed.

-- Per-subject plan allocation set by the host's user sync; subjects without a row get the policy default.
CREATE TABLE IF NOT EXISTS tq_plan (
    subject     VARCHAR(256) NOT NULL PRIMARY KEY,
    allocated   BIGINT       NOT NULL,
    updated_at  TIMESTAMP(9) WITH TIME ZONE NOT NULL,
    CONSTRAINT tq_plan_allocated_nonnegative CHECK (allocated >= 0)
);

-- One row per (subject, month). available = allocated + granted + carried - used - reserved is
-- derived, never stored; it may go below 0 through a CHARGE_ACTUAL overrun or a refund of held tokens,
-- so no CHECK on it. carried may go below 0 too (a late charge of a closed month takes purchased tokens
-- from the latest month), but never granted + carried. used + reserved must fit 64 bits, so available
-- is always representable: the store maps a violation of tq_account_used_reserved_fit to AMOUNT_OVERFLOW.
CREATE TABLE IF NOT EXISTS tq_account (
    subject     VARCHAR(256) NOT NULL,
    plan_month  VARCHAR(7)     NOT NULL,
    allocated   BIGINT       NOT NULL,
    granted     BIGINT       NOT NULL DEFAULT 0,
    carried     BIGINT       NOT NULL DEFAULT 0,
    used        BIGINT       NOT NULL DEFAULT 0,
    reserved    BIGINT       NOT NULL DEFAULT 0,
    -- set when the subject's next month is opened: writes of a lagging caller then retry in that month
    superseded  BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMP(9) WITH TIME ZONE NOT NULL,
    updated_at  TIMESTAMP(9) WITH TIME ZONE NOT NULL,
    CONSTRAINT tq_account_pk PRIMARY KEY (subject, plan_month),
    CONSTRAINT tq_account_allocated_nonnegative CHECK (allocated >= 0),
    CONSTRAINT tq_account_credit_nonnegative CHECK (granted + carried >= 0),
    CONSTRAINT tq_account_used_nonnegative CHECK (used >= 0),
    CONSTRAINT tq_account_reserved_nonnegative CHECK (reserved >= 0),
    CONSTRAINT tq_account_used_reserved_fit CHECK (used <= 9223372036854775807 - reserved)
);
-- topConsumers reads the month's accounts without an index of its own (as on PostgreSQL, where
-- an index on the changing used column would make every update a non-HOT one).

-- Holds, and one-step consumes given an idempotency key (stored COMMITTED with is_consume = TRUE, so a
-- retry finds them). A consume without a key keeps no row here: its COMMITTED event is its record.
-- The unique (subject, idempotency_key) is what makes a retried reserve/consume idempotent.
-- expires_at is in the database's clock (CURRENT_TIMESTAMP), so instances whose clocks differ expire
-- holds by one clock; created_at and finished_at are in the policy's clock, like every other instant.
CREATE TABLE IF NOT EXISTS tq_reservation (
    id               VARCHAR(72)  NOT NULL PRIMARY KEY,
    subject          VARCHAR(256) NOT NULL,
    plan_month       VARCHAR(7)     NOT NULL,
    held             BIGINT       NOT NULL,
    state            ENUM('HELD', 'COMMITTED', 'RELEASED', 'EXPIRED') NOT NULL,
    charged          BIGINT       NOT NULL DEFAULT 0,
    actual           BIGINT,
    overage          BIGINT       NOT NULL DEFAULT 0,
    idempotency_key  VARCHAR(256),
    endpoint         VARCHAR(512),
    is_consume       BOOLEAN      NOT NULL,
    -- set on open holds when the subject's next month is opened: finishing one then moves purchased tokens
    superseded       BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at       TIMESTAMP(9) WITH TIME ZONE NOT NULL,
    expires_at       TIMESTAMP(9) WITH TIME ZONE NOT NULL,
    finished_at      TIMESTAMP(9) WITH TIME ZONE,
    CONSTRAINT tq_reservation_idempotency UNIQUE (subject, idempotency_key),
    CONSTRAINT tq_reservation_held_positive CHECK (held > 0),
    CONSTRAINT tq_reservation_charged_nonnegative CHECK (charged >= 0),
    CONSTRAINT tq_reservation_actual_nonnegative CHECK (actual IS NULL OR actual >= 0),
    CONSTRAINT tq_reservation_overage_nonnegative CHECK (overage >= 0),
    -- a hold is open (HELD) exactly while it has no finish time: open holds are found by the latter
    CONSTRAINT tq_reservation_open_unfinished CHECK ((state = 'HELD') = (finished_at IS NULL))
);
-- expireStale and the lazy per-subject sweep only ever look at open holds (finished_at IS NULL)
CREATE INDEX IF NOT EXISTS tq_reservation_open ON tq_reservation (finished_at, expires_at);
CREATE INDEX IF NOT EXISTS tq_reservation_open_subject ON tq_reservation (subject, finished_at, expires_at);

-- Purchases, bonuses and refund credits, idempotent on the payment system's transaction id.
CREATE TABLE IF NOT EXISTS tq_purchase (
    seq             BIGINT        GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    transaction_id  VARCHAR(256)  NOT NULL,
    subject         VARCHAR(256)  NOT NULL,
    tokens          BIGINT        NOT NULL,
    purchase_type   ENUM('purchase', 'bonus', 'refund') NOT NULL,
    status          ENUM('pending', 'completed', 'failed', 'refunded') NOT NULL,
    payment_method  VARCHAR(100),
    amount          DECIMAL(14, 2),
    currency        ENUM('KRW', 'USD', 'EUR', 'JPY') NOT NULL,
    reason          VARCHAR(1000),
    plan_month      VARCHAR(7),
    unrecovered     BIGINT        NOT NULL DEFAULT 0,
    created_at      TIMESTAMP(9) WITH TIME ZONE NOT NULL,
    processed_at    TIMESTAMP(9) WITH TIME ZONE,
    CONSTRAINT tq_purchase_transaction UNIQUE (transaction_id),
    CONSTRAINT tq_purchase_tokens_positive CHECK (tokens > 0),
    CONSTRAINT tq_purchase_amount_nonnegative CHECK (amount IS NULL OR amount >= 0),
    CONSTRAINT tq_purchase_unrecovered_nonnegative CHECK (unrecovered >= 0)
);
CREATE INDEX IF NOT EXISTS tq_purchase_subject_created ON tq_purchase (subject, created_at);
CREATE INDEX IF NOT EXISTS tq_purchase_month_status ON tq_purchase (plan_month, status);

-- Append-only event log: every balance change and every refused hold. Never updated; whole months
-- past the policy's history window are removed by JdbiQuotaStore.dropEventsPastHistory() (a DELETE)
-- or archiveEventsPastHistory() (moved into a table tq_event_YYYY_MM first), nothing else deletes.
-- One table: H2 has no partitions, and holds development and test data.
CREATE TABLE IF NOT EXISTS tq_event (
    id              BIGINT        GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    subject         VARCHAR(256)  NOT NULL,
    plan_month      VARCHAR(7)      NOT NULL,
    kind            ENUM('RESERVED', 'COMMITTED', 'LATE_COMMITTED', 'RELEASED', 'EXPIRED', 'REJECTED', 'CREDITED', 'DEBITED', 'PURCHASE_RECORDED', 'PLAN_CHANGED') NOT NULL,
    tokens          BIGINT        NOT NULL,
    overage         BIGINT        NOT NULL DEFAULT 0,
    -- NULL on the COMMITTED event of a consume without an idempotency key: the event's id is its id
    reservation_id  VARCHAR(72),
    transaction_id  VARCHAR(256),
    detail          VARCHAR(1000),
    is_consume      BOOLEAN       NOT NULL DEFAULT FALSE,
    occurred_at     TIMESTAMP(9) WITH TIME ZONE NOT NULL,
    CONSTRAINT tq_event_tokens_nonnegative CHECK (tokens >= 0),
    CONSTRAINT tq_event_overage_nonnegative CHECK (overage >= 0)
);
-- events(subject, month) and history; daily usage by time; block stats by month
CREATE INDEX IF NOT EXISTS tq_event_subject_month ON tq_event (subject, plan_month, id);
CREATE INDEX IF NOT EXISTS tq_event_occurred ON tq_event (occurred_at);
CREATE INDEX IF NOT EXISTS tq_event_month_kind ON tq_event (plan_month, kind);
