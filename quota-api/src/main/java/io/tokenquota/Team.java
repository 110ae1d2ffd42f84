package io.tokenquota;

import io.tokenquota.internal.Validation;

/**
 * Names of team accounts. A team's monthly account lives beside its members' accounts and obeys the
 * same month rules (allocation from its plan, purchased and carried tokens, holds open across a month
 * end), under a subject of its own that no user subject can take: {@link #subject(String)}. Pass that
 * subject to the ledger's ordinary methods to read or manage the team's account: {@code account},
 * {@code history}, {@code setPlan} (the team's plan), {@code grant} (the team's purchased tokens),
 * {@code dailyUsage}, {@code blockStats}, {@code forecast}, {@code events}. Membership is
 * {@link QuotaLedger#setTeam}; a member's holds are then granted only when both accounts allow them.
 * Statics only; thread-safe.
 */
public final class Team {
    /**
     * What every team subject starts with: a control character, which subject validation refuses in
     * any other subject, so a user can never be named like a team (and reports over all subjects can
     * tell the two apart).
     */
    public static final String SUBJECT_PREFIX = "\u0001team:";

    private Team() {
    }

    /**
     * The subject of team {@code teamId}'s accounts.
     *
     * @throws QuotaException {@code INVALID_KEY} when {@code teamId} is not a valid team id (1..{@link
     *                        Limits#MAX_TEAM_ID_LENGTH} printable characters)
     */
    public static String subject(String teamId) {
        return SUBJECT_PREFIX + Validation.teamId(teamId);
    }

    /** Whether {@code subject} names a team's account rather than a user's. */
    public static boolean isTeam(String subject) {
        return subject != null && subject.startsWith(SUBJECT_PREFIX);
    }

    /** The team id of a team subject; {@code null} for a user's subject. */
    public static String id(String subject) {
        return isTeam(subject) ? subject.substring(SUBJECT_PREFIX.length()) : null;
    }
}
