-- token-quota schema, version 2, H2 2.x: the usage a weighted charge was weighed from, kept on the
-- charge's event (COMMITTED, LATE_COMMITTED) beside the charge in tokens: the model the answer named
-- and the raw counts by kind (disjoint: input excludes the cached part, output the reasoning part).
-- NULL on every other event and on charges recorded without a usage. Released schemas are never
-- edited in place: an existing install gets these columns from this file, a new one from V1 then this.
-- Every statement is IF NOT EXISTS, so applying it twice is harmless.
-- H2 counts VARCHAR lengths in UTF-16 units: twice the 256 code points of Limits.MAX_MODEL_LENGTH.
ALTER TABLE tq_event ADD COLUMN IF NOT EXISTS model VARCHAR(512);
ALTER TABLE tq_event ADD COLUMN IF NOT EXISTS input_tokens BIGINT CHECK (input_tokens >= 0);
ALTER TABLE tq_event ADD COLUMN IF NOT EXISTS cached_input_tokens BIGINT CHECK (cached_input_tokens >= 0);
ALTER TABLE tq_event ADD COLUMN IF NOT EXISTS output_tokens BIGINT CHECK (output_tokens >= 0);
ALTER TABLE tq_event ADD COLUMN IF NOT EXISTS reasoning_tokens BIGINT CHECK (reasoning_tokens >= 0);
