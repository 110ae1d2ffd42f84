package io.tokenquota.memory;

import io.tokenquota.Currency;
import io.tokenquota.ErrorCode;
import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaListener;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.TokenUsage;
import io.tokenquota.Reserved;
import io.tokenquota.Team;
import io.tokenquota.internal.Validation;
import io.tokenquota.internal.DailyTally;
import io.tokenquota.internal.LedgerRules;
import io.tokenquota.internal.Listeners;
import io.tokenquota.internal.ModelUsageTally;
import java.math.BigDecimal;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import java.util.function.Function;

/**
 * The reference implementation of {@link QuotaStore}: everything in memory, one lock around every
 * operation. It is the model the property tests compare the database stores against, and a store
 * hosts can use in their own unit tests. It keeps every event and finished reservation for its
 * lifetime, so it is not meant for long-running production use.
 *
 * <p>Thread-safe: every operation runs under one lock; listeners are called after the lock is
 * released, on the calling thread.
 */
public final class InMemoryQuotaStore implements QuotaStore {
    private final QuotaPolicy policy;
    private final Listeners listeners = new Listeners();
    private final Object lock = new Object();

    // All fields below are guarded by lock.
    private final Map<String, TreeMap<YearMonth, Account>> accounts = new HashMap<>();
    private final Map<String, Long> plans = new HashMap<>();
    /** Each member's team, as the team's subject ({@link Team#subject}). */
    private final Map<String, String> teams = new HashMap<>();
    private final Map<String, Hold> holds = new LinkedHashMap<>();
    /**
     * Each subject's holds that may still be HELD, in creation order: a reserve expires its subject's
     * stale holds first, and must not walk every hold the store ever kept to find them.
     */
    private final Map<String, List<Hold>> openHolds = new HashMap<>();
    private final Map<String, Map<String, Hold>> holdsByKey = new HashMap<>();
    private final Map<String, Credit> purchases = new LinkedHashMap<>();
    private final List<LedgerEvent> events = new ArrayList<>();
    private long purchaseSequence;

    /** A store with {@link QuotaPolicy#defaults()}. */
    public InMemoryQuotaStore() {
        this(QuotaPolicy.defaults());
    }

    public InMemoryQuotaStore(QuotaPolicy policy) {
        this.policy = Objects.requireNonNull(policy, "policy");
    }

    @Override
    public QuotaPolicy policy() {
        return policy;
    }

    @Override
    public void addListener(QuotaListener listener) {
        listeners.add(listener);
    }

    // ---------------------------------------------------------------- ledger

    @Override
    public Reserved reserve(HoldRequest request) {
        // a HoldRequest is validated when built, so nothing is checked again on the hot path
        String subject = request.subject();
        long tokens = request.tokens();
        String idempotencyKey = request.idempotencyKey();
        String endpoint = request.endpoint();
        Duration holdTtl = request.ttl() == null ? policy.holdTtl() : request.ttl();
        Validation.holdWithoutUsage(request);
        // drawn before the lock: the secure random source is the slowest step, and has its own lock
        String id = UUID.randomUUID().toString();
        return write(tx -> {
            Account[] both = tx.memberAccounts(subject);
            Account account = both[0];
            Account team = both[1];
            Hold existing = idempotentHold(subject, idempotencyKey);
            if (existing != null) {
                LedgerRules.checkReplay(existing.snapshot(), existing.consume, false, tokens, holdTtl, endpoint);
                if (existing.team == null) {
                    return new Reserved(existing.snapshot(), account.snapshot(), true, null);
                }
                // the team the hold was held against, of the member's current month, as the next hold would
                // be decided (round 323: the team's was read from the hold's month, so a replay on the next
                // month mixed February's member with January's team in available()); the team the member
                // is in now was read above, another one (it moved since) is read here the same way
                Account[] held = team != null && team.subject.equals(existing.team) ? both
                        : tx.memberAccounts(subject, existing.team);
                return new Reserved(existing.snapshot(), held[0].snapshot(), true, held[1].snapshot());
            }
            checkAvailable(tx, subject, account, team, tokens, endpoint);
            long reserved = LedgerRules.add(account.reserved, tokens);
            long teamReserved = team == null ? 0 : LedgerRules.add(team.reserved, tokens);
            if (team != null) {
                // both refused before either is written
                LedgerRules.checkFits(account.used, reserved);
                LedgerRules.checkFits(team.used, teamReserved);
                tx.touch(team);
                team.setReserved(teamReserved);
                team.updatedAt = tx.now;
            }
            tx.touch(account);
            account.setReserved(reserved);
            account.updatedAt = tx.now;
            Hold hold = newHold(tx, id, subject, account.month, tokens, idempotencyKey, endpoint, false,
                    team == null ? null : team.subject);
            hold.expiresAt = tx.now.plus(holdTtl);
            logHold(tx, hold, EventKind.RESERVED, tokens, 0);
            return new Reserved(hold.snapshot(), account.snapshot(), false, snapshot(team));
        });
    }

    @Override
    public Reservation commit(String reservationId, long actualTokens) {
        return commit(reservationId, actualTokens, null);
    }

    @Override
    public Reservation commit(String reservationId, long actualTokens, TokenUsage usage) {
        Validation.nonNegativeTokens(actualTokens, "actual_tokens");
        Validation.key(reservationId, "reservation_id");
        return write(tx -> {
            Hold hold = findHold(reservationId);
            if (hold.state != ReservationState.HELD) {
                Reservation answer = LedgerRules.commitOfFinished(hold.snapshot(), actualTokens);
                if (answer != null) {
                    return answer;
                }
                // expired: the model did the work, so the usage is charged anyway (a late commit), within
                // what the account has once the other holds past their TTL are expired, as a read counts it
                // (round 318: a stale hold nothing had swept yet capped the charge under CAP_AT_HOLD)
                Account account = accountOf(hold);
                Account team = teamAccountOf(hold);
                expireSubject(tx, hold.subject);
                if (team != null) {
                    expireSubject(tx, team.subject);
                }
                LedgerRules.Charge charge = LedgerRules.lateCharge(policy.overrunPolicy(), hold.held, actualTokens,
                        LedgerRules.available(account.snapshot(), snapshot(team)));
                finish(tx, hold, a -> a.setUsed(LedgerRules.add(a.used, charge.charged())));
                hold.commit(actualTokens, charge, tx.now);
                logHold(tx, hold, EventKind.LATE_COMMITTED, charge.charged(), charge.overage(), usage);
                return hold.snapshot();
            }
            LedgerRules.Charge charge = LedgerRules.charge(policy.overrunPolicy(), hold.held, actualTokens);
            finish(tx, hold, a -> {
                // the hold freed before its charge lands: each setter checks used + reserved, and only the end
                // state must fit 64 bits, as the SQL stores check it (round 390: a commit ending at 9,223 x 10^15
                // was refused AMOUNT_OVERFLOW because the charge was checked with its own hold still counted)
                a.setReserved(a.reserved - hold.held);
                a.setUsed(LedgerRules.add(a.used, charge.charged()));
            });
            hold.commit(actualTokens, charge, tx.now);
            logHold(tx, hold, EventKind.COMMITTED, charge.charged(), charge.overage(), usage);
            return hold.snapshot();
        });
    }

    @Override
    public Reservation release(String reservationId) {
        Validation.key(reservationId, "reservation_id");
        return write(tx -> {
            Hold hold = findHold(reservationId);
            if (hold.state != ReservationState.HELD) {
                return LedgerRules.releaseOfFinished(hold.snapshot());
            }
            finish(tx, hold, a -> a.setReserved(a.reserved - hold.held));
            hold.state = ReservationState.RELEASED;
            hold.finishedAt = tx.now;
            logHold(tx, hold, EventKind.RELEASED, hold.held, 0);
            return hold.snapshot();
        });
    }

    @Override
    public Reservation extend(String reservationId, Duration ttl) {
        Validation.key(reservationId, "reservation_id");
        Validation.ttl(ttl);
        return write(tx -> {
            Hold hold = findHold(reservationId);
            // a held hold past its expiry that nothing expired yet is still held, and kept; never shortened.
            // openHolds is in creation order, not by expiry, so it needs no change
            if (hold.state == ReservationState.HELD) {
                Instant extended = tx.now.plus(ttl);
                if (extended.isAfter(hold.expiresAt)) {
                    hold.expiresAt = extended;
                }
            }
            return hold.snapshot();
        });
    }

    @Override
    public Reservation consume(HoldRequest request) {
        Validation.consumeRequest(request);
        String subject = request.subject();
        long tokens = request.tokens();
        String idempotencyKey = request.idempotencyKey();
        String endpoint = request.endpoint();
        String id = UUID.randomUUID().toString();
        return write(tx -> {
            // A one-step consume is a reserve followed by a commit, so stale holds are returned first
            // exactly as reserve does; otherwise an abandoned hold could block a consume that fits.
            Account[] both = tx.memberAccounts(subject);
            Account account = both[0];
            Account team = both[1];
            Hold existing = idempotentHold(subject, idempotencyKey);
            if (existing != null) {
                LedgerRules.checkReplay(existing.snapshot(), existing.consume, true, tokens, null, endpoint);
                return existing.snapshot();
            }
            checkAvailable(tx, subject, account, team, tokens, endpoint);
            long used = LedgerRules.add(account.used, tokens);
            long teamUsed = team == null ? 0 : LedgerRules.add(team.used, tokens);
            if (team != null) {
                LedgerRules.checkFits(used, account.reserved);
                LedgerRules.checkFits(teamUsed, team.reserved);
                tx.touch(team);
                team.setUsed(teamUsed);
                team.updatedAt = tx.now;
            }
            tx.touch(account);
            account.setUsed(used);
            account.updatedAt = tx.now;
            Hold hold = newHold(tx, id, subject, account.month, tokens, idempotencyKey, endpoint, true,
                    team == null ? null : team.subject);
            hold.expiresAt = tx.now;
            hold.state = ReservationState.COMMITTED;
            hold.actual = tokens;
            hold.charged = tokens;
            hold.finishedAt = tx.now;
            logHold(tx, hold, EventKind.COMMITTED, tokens, 0, request.usage());
            return hold.snapshot();
        });
    }

    @Override
    public int expireStale() {
        return write(tx -> {
            int count = 0;
            for (Hold hold : holds.values()) {
                if (expireIfStale(tx, hold)) {
                    count++;
                }
            }
            return count;
        });
    }

    @Override
    public Optional<Reservation> reservation(String reservationId) {
        Validation.key(reservationId, "reservation_id");
        synchronized (lock) {
            return Optional.ofNullable(holds.get(reservationId)).map(Hold::snapshot);
        }
    }

    @Override
    public QuotaAccount account(String subject) {
        Validation.subject(subject);
        return write(tx -> {
            Account account = tx.currentAccount(subject);
            // a read never counts holds already past their TTL
            expireSubject(tx, subject);
            return account.snapshot();
        });
    }

    @Override
    public Optional<QuotaAccount> account(String subject, YearMonth month) {
        Validation.subject(subject);
        policy.checkReadableMonth(month);
        return write(tx -> {
            // a read never counts holds already past their TTL
            expireSubject(tx, subject);
            TreeMap<YearMonth, Account> months = accounts.get(subject);
            return Optional.ofNullable(months == null ? null : months.get(month)).map(Account::snapshot);
        });
    }

    @Override
    public List<QuotaAccount> history(String subject, int months) {
        Validation.subject(subject);
        Validation.months(months, policy.historyMonths());
        return write(tx -> {
            Account current = tx.currentAccount(subject);
            expireSubject(tx, subject);
            YearMonth oldest = current.month.minusMonths(months - 1L);
            List<QuotaAccount> result = new ArrayList<>();
            for (Account a : accounts.get(subject).descendingMap().values()) {
                if (!a.month.isAfter(current.month) && !a.month.isBefore(oldest)) {
                    result.add(a.snapshot());
                }
            }
            return result;
        });
    }

    @Override
    public QuotaAccount setPlan(String subject, long monthlyAllocation) {
        Validation.subject(subject);
        Validation.nonNegativeTokens(monthlyAllocation, "allocation");
        if (monthlyAllocation > policy.maxQuota()) {
            throw new QuotaException(ErrorCode.MAX_QUOTA_EXCEEDED,
                    "allocation " + monthlyAllocation + " exceeds the max quota " + policy.maxQuota());
        }
        return write(tx -> {
            Account account = tx.currentAccount(subject);
            // the closed months a refund took from, and those whose holds still hold purchased tokens: a plan
            // change that frees purchased tokens moves refunds' takes onto them (round 318)
            Map<YearMonth, Account> closed = new HashMap<>();
            List<LedgerRules.ClosedMonth> months = new ArrayList<>();
            for (Account a : accounts.get(subject).headMap(account.month, false).values()) {
                if (a.refundTaken > 0 || a.reserved > 0) {
                    closed.put(a.month, a);
                    months.add(new LedgerRules.ClosedMonth(a.snapshot(), a.refundTaken));
                }
            }
            LedgerRules.PlanChange change = LedgerRules.planChange(account.snapshot(), account.refundAbsorbed,
                    account.refundAbsorbedBehind, monthlyAllocation, months, policy);
            plans.put(subject, monthlyAllocation);
            tx.touch(account);
            account.allocated = change.allocated();
            account.refundAbsorbed = change.refundAbsorbed();
            account.refundAbsorbedBehind = change.absorbedBehind();
            account.granted = change.granted();
            account.updatedAt = tx.now;
            tx.log(account, EventKind.PLAN_CHANGED, account.allocated, 0, null, null, null);
            for (LedgerRules.TakeReturn back : change.returns()) {
                Account month = closed.get(back.account().month());
                tx.touch(month);
                month.granted = back.granted();
                month.refundTaken = back.taken();
                month.updatedAt = tx.now;
                // the pair of events of the purchased tokens moved between the two months
                if (back.moved() > 0) {
                    tx.log(account, EventKind.DEBITED, back.moved(), 0, null, null, LedgerRules.takeMovedFrom(month.month));
                    tx.log(month, EventKind.CREDITED, back.moved(), 0, null, null, LedgerRules.takeMovedTo(account.month));
                } else if (back.moved() < 0) {
                    tx.log(account, EventKind.CREDITED, -back.moved(), 0, null, null, LedgerRules.takeMovedFrom(month.month));
                    tx.log(month, EventKind.DEBITED, -back.moved(), 0, null, null, LedgerRules.takeMovedTo(account.month));
                }
            }
            if (change.creditedBack() > 0) {
                tx.log(account, EventKind.CREDITED, change.creditedBack(), 0, null, null, LedgerRules.SPENT_PART_BACK);
            }
            return account.snapshot();
        });
    }

    @Override
    public void setTeam(String subject, String teamId) {
        Validation.userSubject(subject);
        Validation.optionalTeamId(teamId);
        write(tx -> {
            // opens the user's month, as a plan change does: the SQL stores keep the team on that account
            tx.currentAccount(subject);
            return teamId == null ? teams.remove(subject) : teams.put(subject, Team.subject(teamId));
        });
    }

    @Override
    public Optional<String> team(String subject) {
        Validation.subject(subject);
        synchronized (lock) {
            return Optional.ofNullable(Team.id(teams.get(subject)));
        }
    }

    // ---------------------------------------------------------------- purchases

    @Override
    public Purchase recordPending(PurchaseRequest request) {
        requireRequest(request);
        return write(tx -> {
            Credit existing = purchases.get(request.transactionId());
            if (existing != null) {
                return LedgerRules.replayPurchase(existing.snapshot(), request);
            }
            Credit credit = newCredit(tx, request, PurchaseStatus.PENDING);
            tx.log(request.subject(), policy.monthOf(tx.now), EventKind.PURCHASE_RECORDED, request.tokens(), 0,
                    null, request.transactionId(), request.reason());
            return credit.snapshot();
        });
    }

    @Override
    public Purchase complete(String transactionId, BigDecimal amount, Currency currency) {
        Validation.key(transactionId, "transaction_id");
        BigDecimal captured = Validation.money(amount);
        return write(tx -> {
            Credit credit = findCredit(transactionId);
            switch (credit.status) {
                case COMPLETED:
                    return credit.snapshot();
                case REFUNDED:
                    throw purchaseConflict(credit, "completed");
                default:
                    break;
            }
            LedgerRules.checkCreditSize(credit.request.subject(), credit.request.tokens(), policy);
            credit(tx, tx.currentAccount(credit.request.subject()), credit);
            PurchaseRequest r = credit.request;
            credit.request = new PurchaseRequest(r.transactionId(), r.subject(), r.tokens(), r.type(), r.paymentMethod(),
                    captured == null ? r.amount() : captured, currency == null ? r.currency() : currency, r.reason());
            return credit.snapshot();
        });
    }

    @Override
    public Purchase fail(String transactionId) {
        Validation.key(transactionId, "transaction_id");
        return write(tx -> {
            Credit credit = findCredit(transactionId);
            switch (credit.status) {
                case FAILED:
                    return credit.snapshot();
                case COMPLETED:
                case REFUNDED:
                    throw purchaseConflict(credit, "failed");
                default:
                    break;
            }
            credit.status = PurchaseStatus.FAILED;
            credit.processedAt = tx.now;
            tx.log(credit.request.subject(), policy.monthOf(tx.now), EventKind.PURCHASE_RECORDED,
                    credit.request.tokens(), 0, null, transactionId, credit.request.reason());
            return credit.snapshot();
        });
    }

    @Override
    public Purchase refund(String transactionId) {
        Validation.key(transactionId, "transaction_id");
        return write(tx -> {
            Credit credit = findCredit(transactionId);
            switch (LedgerRules.refundOf(credit.status)) {
                case REPLAY:
                    return credit.snapshot();
                case UNCREDITED:
                    // refunded before it was credited (events out of order): final, nothing to debit, and its
                    // completion is refused from now on (round 340)
                    credit.status = PurchaseStatus.REFUNDED;
                    credit.processedAt = tx.now;
                    tx.log(credit.request.subject(), policy.monthOf(tx.now), EventKind.DEBITED, 0, 0, null,
                            transactionId, credit.request.reason());
                    return credit.snapshot();
                default:
                    break;
            }
            Account account = tx.currentAccount(credit.request.subject());
            long tokens = credit.request.tokens();
            // with rollover off a purchase of a closed month lapsed with it: the current month's purchased tokens
            // are other purchases', and the refund is split on the month its tokens lapsed in (rounds 422, 425);
            // not when the months after it carried them on to the current one, opened while rollover was on
            // (round 427: January's pack carried into February, refunded there after rollover was turned off)
            Account own = LedgerRules.refundLapsed(credit.month, account.month, policy)
                    ? lapsedMonth(account.subject, credit.month, account.month) : null;
            boolean lapsed = own != null;
            LedgerRules.LapsedRefund lapse = lapsed ? LedgerRules.lapsedRefund(own.snapshot(), own.refundLapsed,
                    tokens) : null;
            long debit = lapsed ? 0 : LedgerRules.refundable(account.snapshot(), tokens);
            tx.touch(account);
            account.granted -= debit;
            account.updatedAt = tx.now;
            long rest = lapsed ? lapse.unrecovered() : tokens - debit;
            Map<Account, Long> takes = new LinkedHashMap<>();
            if (policy.rolloverPurchased()) {
                // purchased tokens that holds of closed months still hold are not spent either
                for (Account closed : accounts.get(account.subject).headMap(account.month, false).descendingMap().values()) {
                    long take = Math.min(rest, LedgerRules.purchasedHeld(closed.snapshot()));
                    if (take > 0) {
                        takes.put(closed, take);
                        rest -= take;
                    }
                }
            }
            long absorbed = lapsed ? 0 : LedgerRules.refundAbsorbed(account.snapshot(), 0, rest);
            if (absorbed > 0 && absorbsBehindTakes(account)) {
                // an earlier refund's take from a closed month still stands: a raise frees tokens for it first
                // (round 318)
                account.refundAbsorbedBehind += absorbed;
            }
            account.granted -= absorbed;
            account.allocated += absorbed;
            account.refundAbsorbed += absorbed;
            credit.status = PurchaseStatus.REFUNDED;
            credit.unrecovered = rest;
            credit.processedAt = tx.now;
            tx.log(account, EventKind.DEBITED, debit + absorbed, credit.unrecovered, null, transactionId, credit.request.reason());
            takes.forEach((closed, take) -> {
                QuotaAccount before = closed.snapshot();
                // what the month did not consume already lives in a later month's carried: lower granted
                // by that too, so finishing its holds gives back nothing of the refund
                tx.touch(closed);
                long lowering = LedgerRules.refundTakeLowering(before, take);
                closed.granted -= lowering;
                // recorded, so that a plan change that frees current-month purchased tokens moves the take onto
                // them (round 318)
                closed.refundTaken += lowering;
                closed.updatedAt = tx.now;
                tx.log(closed, EventKind.DEBITED, take, 0, null, transactionId, credit.request.reason());
            });
            if (lapsed && (lapse.granted() != own.granted || lapse.lapsed() != own.refundLapsed)) {
                tx.touch(own);
                own.granted = lapse.granted();
                own.refundLapsed = lapse.lapsed();
                own.updatedAt = tx.now;
                if (lapse.taken() > 0) {
                    tx.log(own, EventKind.DEBITED, lapse.taken(), 0, null, transactionId, credit.request.reason());
                }
            }
            return credit.snapshot();
        });
    }

    /**
     * The account of the month the tokens of a purchase credited in {@code purchaseMonth} lapsed in
     * ({@link LedgerRules#lapsedMonth}), {@code null} if the months after it carried them on to the current one.
     */
    private Account lapsedMonth(String subject, YearMonth purchaseMonth, YearMonth current) {
        List<Account> months = new ArrayList<>(accounts.get(subject).subMap(purchaseMonth, true, current, true)
                .values());
        int i = LedgerRules.lapsedMonth(months.stream().map(Account::snapshot).toList());
        return i < 0 ? null : months.get(i);
    }

    @Override
    public Purchase grant(PurchaseRequest request) {
        requireRequest(request);
        return write(tx -> {
            Credit existing = purchases.get(request.transactionId());
            if (existing != null) {
                return LedgerRules.replayPurchase(existing.snapshot(), request);
            }
            LedgerRules.checkCreditSize(request.subject(), request.tokens(), policy);
            Account account = tx.currentAccount(request.subject());
            LedgerRules.checkCredit(account.snapshot(), request.tokens(), policy);
            Credit credit = newCredit(tx, request, PurchaseStatus.PENDING);
            credit(tx, account, credit);
            return credit.snapshot();
        });
    }

    @Override
    public Optional<Purchase> purchase(String transactionId) {
        Validation.key(transactionId, "transaction_id");
        synchronized (lock) {
            return Optional.ofNullable(purchases.get(transactionId)).map(Credit::snapshot);
        }
    }

    @Override
    public List<Purchase> purchases(String subject, YearMonth month) {
        Validation.subject(subject);
        policy.checkReadableMonth(month);
        synchronized (lock) {
            return purchases.values().stream()
                    .filter(c -> c.request.subject().equals(subject) && policy.monthOf(c.createdAt).equals(month))
                    .sorted(Comparator.comparing((Credit c) -> c.createdAt).thenComparingLong(c -> c.sequence).reversed())
                    .map(Credit::snapshot)
                    .toList();
        }
    }

    // ---------------------------------------------------------------- statistics

    @Override
    public List<DailyUsage> dailyUsage(String subject, LocalDate from, LocalDate to) {
        Validation.optionalSubject(subject);
        DailyTally tally = new DailyTally(from, to);
        synchronized (lock) {
            for (LedgerEvent e : events) {
                if (subject == null ? !Team.isTeam(e.subject()) : subject.equals(e.subject())) {
                    tally.add(LedgerRules.reportDay(e.month(), e.at(), policy), e.kind(), e.tokens(), isGrantedHold(e));
                }
            }
        }
        return tally.days();
    }

    @Override
    public List<ConsumerUsage> topConsumers(YearMonth month, int limit) {
        policy.checkReadableMonth(month);
        Validation.topLimit(limit);
        return top(month, limit, false);
    }

    @Override
    public List<ConsumerUsage> topTeams(YearMonth month, int limit) {
        policy.checkReadableMonth(month);
        Validation.topLimit(limit);
        return top(month, limit, true);
    }

    private List<ConsumerUsage> top(YearMonth month, int limit, boolean ofTeams) {
        synchronized (lock) {
            return accounts.values().stream()
                    .map(m -> m.get(month))
                    .filter(a -> a != null && Team.isTeam(a.subject) == ofTeams)
                    .sorted(Comparator.comparingLong((Account a) -> a.used).reversed()
                            .thenComparing(a -> a.subject, LedgerRules.CODE_POINT_ORDER))
                    .limit(limit)
                    .map(a -> new ConsumerUsage(ofTeams ? Team.id(a.subject) : a.subject, a.used, a.limit()))
                    .toList();
        }
    }

    @Override
    public BlockStats blockStats(String subject, YearMonth month) {
        Validation.optionalSubject(subject);
        policy.checkReadableMonth(month);
        long granted = 0;
        long rejected = 0;
        synchronized (lock) {
            for (LedgerEvent e : events) {
                if (!e.month().equals(month)
                        || (subject == null ? Team.isTeam(e.subject()) : !subject.equals(e.subject()))) {
                    continue;
                }
                if (isGrantedHold(e)) {
                    granted++;
                } else if (e.kind() == EventKind.REJECTED) {
                    rejected++;
                }
            }
        }
        double ratio = granted + rejected == 0 ? 0.0 : (double) rejected / (granted + rejected);
        return new BlockStats(granted, rejected, ratio);
    }

    @Override
    public UsageForecast forecast(String subject) {
        Validation.subject(subject);
        return write(tx -> {
            Account account = tx.currentAccount(subject);
            expireSubject(tx, subject);
            return LedgerRules.forecast(account.snapshot(), tx.now, policy);
        });
    }

    @Override
    public long openHolds() {
        synchronized (lock) {
            return holds.values().stream().filter(h -> h.state == ReservationState.HELD).count();
        }
    }

    @Override
    public List<PurchaseTotal> purchaseTotals(YearMonth month) {
        policy.checkReadableMonth(month);
        // Keyed by wire names so the order is the one a SQL ORDER BY type, currency gives.
        TreeMap<String, TreeMap<String, long[]>> counts = new TreeMap<>();
        TreeMap<String, TreeMap<String, BigDecimal>> amounts = new TreeMap<>();
        synchronized (lock) {
            for (Credit c : purchases.values()) {
                if (!month.equals(c.month)
                        || (c.status != PurchaseStatus.COMPLETED && c.status != PurchaseStatus.REFUNDED)) {
                    continue;
                }
                String type = c.request.type().wireName();
                String currency = c.request.currency().name();
                long[] n = counts.computeIfAbsent(type, k -> new TreeMap<>()).computeIfAbsent(currency, k -> new long[2]);
                n[0]++;
                // saturated, as modelUsage's sums are: many accounts' purchases may pass 64 bits (round 349)
                n[1] = ModelUsageTally.saturatedAdd(n[1], c.request.tokens());
                BigDecimal amount = c.request.amount() == null ? BigDecimal.ZERO : c.request.amount();
                amounts.computeIfAbsent(type, k -> new TreeMap<>()).merge(currency, amount, BigDecimal::add);
            }
        }
        List<PurchaseTotal> result = new ArrayList<>();
        counts.forEach((type, byCurrency) -> byCurrency.forEach((currency, n) -> result.add(new PurchaseTotal(
                PurchaseType.parse(type), Currency.parse(currency), n[0], n[1],
                amounts.get(type).get(currency).setScale(2)))));
        return result;
    }

    @Override
    public List<ModelUsage> modelUsage(String subject, YearMonth month) {
        Validation.optionalSubject(subject);
        policy.checkReadableMonth(month);
        List<LedgerEvent> charges;
        synchronized (lock) {
            // over all users, team accounts are left out: their charges repeat their members'
            charges = events.stream().filter(e -> e.kind().charges() && e.month().equals(month)
                    && (subject == null ? !Team.isTeam(e.subject()) : e.subject().equals(subject))).toList();
        }
        return io.tokenquota.internal.ModelUsageTally.of(charges);
    }

    @Override
    public List<LedgerEvent> events(String subject, YearMonth month) {
        Validation.subject(subject);
        policy.checkReadableMonth(month);
        synchronized (lock) {
            return events.stream().filter(e -> e.subject().equals(subject) && e.month().equals(month)).toList();
        }
    }

    // ---------------------------------------------------------------- internals (callers hold lock)

    /** Runs {@code body} under the lock, then notifies listeners of what it logged, even when it threw. */
    private <T> T write(Function<Tx, T> body) {
        Tx tx = new Tx(policy.now());
        try {
            synchronized (lock) {
                try {
                    return body.apply(tx);
                } finally {
                    tx.seal();
                }
            }
        } finally {
            listeners.fire(tx.logged);
            for (QuotaAccount[] change : tx.changes) {
                listeners.fireCrossings(change[0], change[1], policy);
            }
        }
    }

    private Account account(String subject, YearMonth month, Instant now) {
        TreeMap<YearMonth, Account> months = accounts.computeIfAbsent(subject, s -> new TreeMap<>());
        Account account = months.get(month);
        if (account == null) {
            account = new Account(subject, month, now);
            account.allocated = plans.getOrDefault(subject, policy.defaultAllocation());
            Map.Entry<YearMonth, Account> previous = months.lowerEntry(month);
            account.carried = LedgerRules.carriedInto(previous == null ? null : previous.getValue().snapshot(), policy);
            months.put(month, account);
        }
        return account;
    }

    private Account accountOf(Hold hold) {
        return accounts.get(hold.subject).get(hold.month);
    }

    /** The account of the team a hold was held against, of the hold's month; {@code null} without one. */
    private Account teamAccountOf(Hold hold) {
        return hold.team == null ? null : accounts.get(hold.team).get(hold.month);
    }

    private static QuotaAccount snapshot(Account account) {
        return account == null ? null : account.snapshot();
    }

    /** Logs a hold's event on its subject's account and, for a team hold, on the team's. */
    private void logHold(Tx tx, Hold hold, EventKind kind, long tokens, long overage) {
        logHold(tx, hold, kind, tokens, overage, null);
    }

    /**
     * Logs a charge of a hold with the usage it was weighed from; the team's event carries the same
     * usage, so the team's charges by model add up to its charges as a member's do.
     */
    private void logHold(Tx tx, Hold hold, EventKind kind, long tokens, long overage, TokenUsage usage) {
        tx.log(hold.subject, hold.month, kind, tokens, overage, hold.id, null, hold.endpoint, usage);
        if (hold.team != null) {
            tx.log(hold.team, hold.month, kind, tokens, overage, hold.id, null, hold.endpoint, usage);
        }
    }

    /** Refuses a hold or consume that the subject's account, or its team's, does not allow. */
    private void checkAvailable(Tx tx, String subject, Account account, Account team, long tokens, String endpoint) {
        QuotaExceededException.Scope refusal = LedgerRules.refusal(account.snapshot(), snapshot(team), tokens);
        if (refusal == null) {
            return;
        }
        tx.log(account, EventKind.REJECTED, tokens, 0, null, null, endpoint);
        if (refusal == QuotaExceededException.Scope.TEAM) {
            // the team's own refusals count in its block statistics
            tx.log(team, EventKind.REJECTED, tokens, 0, null, null, endpoint);
        }
        throw LedgerRules.refused(subject, tokens, account.snapshot(), snapshot(team), refusal, policy);
    }

    /**
     * Applies {@code change} to the hold's month and, when that month is no longer the subject's
     * latest, moves the change in its purchased consumption to the latest month's carried (see
     * {@link LedgerRules#lateTransfer}). Returns the hold's account.
     */
    private void finish(Tx tx, Hold hold, java.util.function.Consumer<Account> change) {
        Account team = teamAccountOf(hold);
        if (team != null) {
            // both accounts refuse an overflow before either is written
            change.accept(accountOf(hold).copy());
            change.accept(team.copy());
            finish(tx, team, change);
        }
        finish(tx, accountOf(hold), change);
    }

    /**
     * Applies {@code change} to one account a hold was held against and, when that month is no longer
     * its owner's latest, moves the change in its purchased consumption to the latest month's carried.
     */
    private Account finish(Tx tx, Account account, java.util.function.Consumer<Account> change) {
        QuotaAccount before = account.snapshot();
        Account scratch = account.copy();
        change.accept(scratch);   // refuses an overflow before anything is written
        Account latest = accounts.get(account.subject).lastEntry().getValue();
        long transfer = latest == account ? 0
                : LedgerRules.lateTransfer(before, scratch.snapshot(), latest.snapshot(), policy);
        tx.touch(account);
        change.accept(account);
        if (latest != account) {
            long shortfall = LedgerRules.lateShortfall(before, scratch.snapshot(), transfer, policy);
            // the months between, newest first, give what their holds hold of the purchased tokens carried on
            for (Account between : accounts.get(account.subject).subMap(account.month, false, latest.month, false)
                    .descendingMap().values()) {
                QuotaAccount held = between.snapshot();
                long take = LedgerRules.heldTake(held, shortfall);
                if (take > 0) {
                    tx.touch(between);
                    between.granted -= LedgerRules.refundTakeLowering(held, take);
                    between.updatedAt = tx.now;
                    shortfall -= take;
                }
            }
            account.granted = LedgerRules.closedGranted(scratch.snapshot(), shortfall);
            // with rollover off, a charge reaching into tokens lapsed refunds left in granted drops them: the
            // refunded tokens it spends show as overdraft (round 431: 3,000 of a lapsed pack spent unrecorded)
            long dropped = LedgerRules.lateLapsed(account.snapshot(), account.refundLapsed, policy);
            account.granted -= dropped;
            account.refundLapsed -= dropped;
        }
        account.updatedAt = tx.now;
        if (transfer != 0) {
            tx.touch(latest);
            latest.carried += transfer;
            latest.updatedAt = tx.now;
        }
        return account;
    }

    /** Whether a closed month of the account's owner has a refund's take still standing ({@link LedgerRules#absorbsBehindTakes}). */
    private boolean absorbsBehindTakes(Account current) {
        List<LedgerRules.ClosedMonth> months = new ArrayList<>();
        for (Account a : accounts.get(current.subject).headMap(current.month, false).values()) {
            if (a.refundTaken > 0) {
                months.add(new LedgerRules.ClosedMonth(a.snapshot(), a.refundTaken));
            }
        }
        return LedgerRules.absorbsBehindTakes(months);
    }

    private Hold findHold(String reservationId) {
        Hold hold = holds.get(reservationId);
        if (hold == null) {
            throw new QuotaException(ErrorCode.RESERVATION_NOT_FOUND, "no reservation " + reservationId);
        }
        return hold;
    }

    private Hold idempotentHold(String subject, String key) {
        if (key == null) {
            return null;
        }
        Map<String, Hold> keys = holdsByKey.get(subject);
        return keys == null ? null : keys.get(key);
    }

    private Hold newHold(Tx tx, String id, String subject, YearMonth month, long tokens, String key, String endpoint,
                         boolean consume, String team) {
        Hold hold = new Hold(id, subject, month, tokens, key, endpoint, tx.now, consume, team);
        holds.put(hold.id, hold);
        if (!consume) {
            openHolds.computeIfAbsent(subject, s -> new ArrayList<>()).add(hold);
            if (team != null) {
                // the team's stale holds are swept before any member's hold is decided
                openHolds.computeIfAbsent(team, s -> new ArrayList<>()).add(hold);
            }
        }
        if (key != null) {
            holdsByKey.computeIfAbsent(subject, s -> new HashMap<>()).put(key, hold);
        }
        return hold;
    }

    private void expireSubject(Tx tx, String subject) {
        List<Hold> open = openHolds.get(subject);
        if (open == null) {
            return;
        }
        for (Hold hold : open) {
            expireIfStale(tx, hold);
        }
        // a finished hold (committed, released, expired) is never HELD again
        open.removeIf(hold -> hold.state != ReservationState.HELD);
        if (open.isEmpty()) {
            openHolds.remove(subject);
        }
    }

    /** Expires a held reservation whose TTL has passed ({@code expiresAt <= now}); returns whether it did. */
    private boolean expireIfStale(Tx tx, Hold hold) {
        if (hold.state != ReservationState.HELD || hold.expiresAt.isAfter(tx.now)) {
            return false;
        }
        finish(tx, hold, a -> a.setReserved(a.reserved - hold.held));
        hold.state = ReservationState.EXPIRED;
        hold.finishedAt = tx.now;
        logHold(tx, hold, EventKind.EXPIRED, hold.held, 0);
        return true;
    }


    private static void requireRequest(PurchaseRequest request) {
        if (request == null) {
            throw new QuotaException(ErrorCode.INVALID_ARGUMENT, "purchase request is required");
        }
    }

    private Credit findCredit(String transactionId) {
        Credit credit = purchases.get(transactionId);
        if (credit == null) {
            throw new QuotaException(ErrorCode.PURCHASE_NOT_FOUND, "no purchase " + transactionId);
        }
        return credit;
    }

    private Credit newCredit(Tx tx, PurchaseRequest request, PurchaseStatus status) {
        Credit credit = new Credit(request, status, tx.now, ++purchaseSequence);
        purchases.put(request.transactionId(), credit);
        return credit;
    }

    private void credit(Tx tx, Account account, Credit credit) {
        long tokens = credit.request.tokens();
        LedgerRules.checkCredit(account.snapshot(), tokens, policy);
        tx.touch(account);
        account.granted += tokens;
        account.updatedAt = tx.now;
        credit.status = PurchaseStatus.COMPLETED;
        credit.month = account.month;
        credit.processedAt = tx.now;
        tx.log(account, EventKind.CREDITED, tokens, 0, null, credit.request.transactionId(), credit.request.reason());
    }

    private static QuotaException purchaseConflict(Credit credit, String target) {
        return new QuotaException(ErrorCode.PURCHASE_STATE_CONFLICT, "purchase " + credit.request.transactionId()
                + " is " + credit.status.wireName() + " and cannot be " + target);
    }

    private boolean isGrantedHold(LedgerEvent e) {
        if (e.kind() == EventKind.RESERVED) {
            return true;
        }
        if (e.kind() != EventKind.COMMITTED) {
            return false;
        }
        Hold hold = holds.get(e.reservationId());
        return hold != null && hold.consume;
    }

    /** One operation's clock reading, logged events and touched accounts. */
    private final class Tx {
        final Instant now;
        final List<LedgerEvent> logged = new ArrayList<>();
        final Map<Account, QuotaAccount> before = new LinkedHashMap<>();
        final List<QuotaAccount[]> changes = new ArrayList<>();

        Tx(Instant now) {
            this.now = now;
        }

        /**
         * The account the subject's writes land in: the current month's, or the subject's latest when
         * that is later (a clock stepped back must not reopen a month the next one has carried from).
         */
        Account currentAccount(String subject) {
            YearMonth month = policy.monthOf(now);
            TreeMap<YearMonth, Account> months = accounts.get(subject);
            if (months != null && !months.isEmpty() && months.lastKey().isAfter(month)) {
                month = months.lastKey();
            }
            return account(subject, month, now);
        }

        /**
         * The accounts a hold or consume of {@code subject} is decided on, of one month: its own and, for a
         * member, its team's ({@code null} otherwise), each after its holds past their TTL were expired
         * (a team's abandoned holds must not refuse its other members).
         */
        Account[] memberAccounts(String subject) {
            return memberAccounts(subject, teams.get(subject));
        }

        /**
         * {@link #memberAccounts(String)} with {@code teamSubject} as the team ({@code null}: none), the
         * later of the two current months for both.
         */
        Account[] memberAccounts(String subject, String teamSubject) {
            Account account = currentAccount(subject);
            Account team = null;
            if (teamSubject != null) {
                team = currentAccount(teamSubject);
                // a month never goes backwards for either: both take the later one
                if (team.month.isAfter(account.month)) {
                    account = account(subject, team.month, now);
                } else if (account.month.isAfter(team.month)) {
                    team = account(teamSubject, account.month, now);
                }
            }
            expireSubject(this, subject);
            if (team != null) {
                expireSubject(this, teamSubject);
            }
            return new Account[] {account, team};
        }

        void touch(Account account) {
            before.computeIfAbsent(account, Account::snapshot);
        }

        void log(Account account, EventKind kind, long tokens, long overage, String reservationId,
                 String transactionId, String detail) {
            log(account, kind, tokens, overage, reservationId, transactionId, detail, null);
        }

        void log(Account account, EventKind kind, long tokens, long overage, String reservationId,
                 String transactionId, String detail, TokenUsage usage) {
            log(account.subject, account.month, kind, tokens, overage, reservationId, transactionId, detail, usage);
        }

        void log(String subject, YearMonth month, EventKind kind, long tokens, long overage, String reservationId,
                 String transactionId, String detail) {
            log(subject, month, kind, tokens, overage, reservationId, transactionId, detail, null);
        }

        void log(String subject, YearMonth month, EventKind kind, long tokens, long overage, String reservationId,
                 String transactionId, String detail, TokenUsage usage) {
            LedgerEvent event = new LedgerEvent(events.size() + 1L, subject, month, kind, tokens, overage,
                    reservationId, transactionId, detail, now, usage);
            events.add(event);
            logged.add(event);
        }

        void seal() {
            before.forEach((account, snapshot) -> changes.add(new QuotaAccount[] {snapshot, account.snapshot()}));
        }
    }

    private static final class Account {
        final String subject;
        final YearMonth month;
        final Instant createdAt;
        long allocated;
        /** Of {@code allocated}, refunds' spent part moved there ({@link LedgerRules#refundAbsorbed}). */
        long refundAbsorbed;
        /**
         * A closed month's: how much refunds' takes from its holds lowered {@code granted}
         * ({@link LedgerRules#refundTakeLowering}) that no plan change gave back ({@link LedgerRules#planChange}).
         */
        long refundTaken;
        /**
         * Of {@code refundAbsorbed}, the part absorbed while an earlier refund's take from a closed month stood
         * ({@link LedgerRules#absorbsBehindTakes}).
         */
        long refundAbsorbedBehind;
        /**
         * A closed month's, with rollover off: its purchased tokens that refunds of its purchases found unspent once
         * it closed and left in {@code granted} (they lapsed with it) ({@link LedgerRules#lapsedRefund}).
         */
        long refundLapsed;
        long granted;
        long carried;
        long used;
        long reserved;
        Instant updatedAt;

        Account(String subject, YearMonth month, Instant now) {
            this.subject = subject;
            this.month = month;
            this.createdAt = now;
            this.updatedAt = now;
        }

        long limit() {
            return allocated + granted + carried;
        }

        void setUsed(long value) {
            LedgerRules.checkFits(value, reserved);
            used = value;
        }

        void setReserved(long value) {
            LedgerRules.checkFits(used, value);
            reserved = value;
        }

        Account copy() {
            Account copy = new Account(subject, month, createdAt);
            copy.allocated = allocated;
            copy.granted = granted;
            copy.carried = carried;
            copy.used = used;
            copy.reserved = reserved;
            copy.updatedAt = updatedAt;
            return copy;
        }

        long available() {
            return limit() - used - reserved;
        }

        QuotaAccount snapshot() {
            return new QuotaAccount(subject, month, allocated, granted, carried, used, reserved, createdAt, updatedAt);
        }
    }

    private static final class Hold {
        final String id;
        final String subject;
        final YearMonth month;
        final long held;
        final String key;
        final String endpoint;
        final Instant createdAt;
        final boolean consume;
        /** The team subject the hold was held against, or {@code null}. */
        final String team;
        ReservationState state = ReservationState.HELD;
        long charged;
        Long actual;
        long overage;
        Instant expiresAt;
        Instant finishedAt;

        Hold(String id, String subject, YearMonth month, long held, String key, String endpoint, Instant createdAt,
             boolean consume, String team) {
            this.team = team;
            this.id = id;
            this.subject = subject;
            this.month = month;
            this.held = held;
            this.key = key;
            this.endpoint = endpoint;
            this.createdAt = createdAt;
            this.consume = consume;
        }

        void commit(long actualTokens, LedgerRules.Charge charge, Instant now) {
            state = ReservationState.COMMITTED;
            actual = actualTokens;
            charged = charge.charged();
            overage = charge.overage();
            finishedAt = now;
        }

        Reservation snapshot() {
            return new Reservation(id, subject, month, held, state, charged, actual, overage, key, endpoint,
                    createdAt, expiresAt, finishedAt, Team.id(team));
        }
    }

    private static final class Credit {
        /** Its money becomes the captured money at completion (round 414). */
        PurchaseRequest request;
        final Instant createdAt;
        final long sequence;
        PurchaseStatus status;
        YearMonth month;
        long unrecovered;
        Instant processedAt;

        Credit(PurchaseRequest request, PurchaseStatus status, Instant createdAt, long sequence) {
            this.request = request;
            this.status = status;
            this.createdAt = createdAt;
            this.sequence = sequence;
        }

        Purchase snapshot() {
            PurchaseRequest r = request;
            return new Purchase(r.transactionId(), r.subject(), r.tokens(), r.type(), status, r.paymentMethod(),
                    r.amount(), r.currency(), r.reason(), month, unrecovered, createdAt, processedAt);
        }
    }
}
