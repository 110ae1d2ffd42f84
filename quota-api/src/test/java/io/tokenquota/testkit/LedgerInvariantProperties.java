package io.tokenquota.testkit;

import io.tokenquota.ErrorCode;
import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.Limits;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStatistics.UsageForecast;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.internal.Validation;
import io.tokenquota.internal.LedgerRules;
import io.tokenquota.memory.InMemoryQuotaStore;
import java.math.BigDecimal;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.function.Function;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.lifecycle.AroundPropertyHook;
import net.jqwik.api.lifecycle.PropertyExecutionResult;
import net.jqwik.api.lifecycle.PropertyExecutor;
import net.jqwik.api.lifecycle.PropertyLifecycleContext;
import net.jqwik.api.state.Action;
import net.jqwik.api.state.ActionChain;
import net.jqwik.api.state.Transformer;

/**
 * Stateful properties of the ledger semantics (docs/semantics.md): random sequences of ledger and
 * purchase operations and clock moves across three subjects, applied to the store under test and to
 * a fresh {@link InMemoryQuotaStore} (the model) with the same policy and its own clock kept in step.
 * The clock moves by small steps, jumps to the last minutes of a month and across month ends, so
 * holds outlive their month and are committed, released, swept or committed late from a closed
 * month, with credits and refunds on either side of midnight. After every step both stores must give
 * the same outcome (the same result fields, or the same {@link ErrorCode}), hold the same accounts of
 * every month, holds and event logs, and both must satisfy the invariants (conservation, non-negative
 * counters, {@code reserved} equal to the open holds, {@code used} equal to the charging events, no
 * hold granted into an overdraft, the {@code CAP_AT_HOLD} ceiling, the conservation of purchased
 * tokens across months). Runs once per overrun policy. {@link #monthTurnIsOrderIndependent} runs the
 * same month turn in two orders on fresh stores.
 *
 * <p>Subclass it and implement {@link #newStore}; override {@link #tries()} to run fewer tries on a
 * slow backend, and {@link #newVerifier} to check that what the store answered is what its storage
 * holds. Every try uses fresh random subject and transaction ids, so a shared schema does not matter.
 */
public abstract class LedgerInvariantProperties {

    /** A store of the implementation under test, using {@code policy} (and its clock) for everything. */
    protected abstract QuotaStore newStore(QuotaPolicy policy);

    /** Tries per property (each try is one random sequence of up to {@link #maxSteps()} steps). */
    protected int tries() {
        return 100;
    }

    protected int maxSteps() {
        return 40;
    }

    /** Tries of {@link #monthTurnIsOrderIndependent} (each builds four stores). */
    protected int orderTries() {
        return 100;
    }

    /**
     * A second store over the same storage as {@code newStore}'s, reached through its own fresh
     * connections, or {@code null}. When given, every step compares what the store under test answers
     * with what this one reads: a write that a host pool rolled back after the store reported success
     * fails the property.
     */
    protected QuotaStore newVerifier(QuotaPolicy policy) {
        return null;
    }

    @Property
    @AddLifecycleHook(TriesFromInstance.class)
    void invariantsHoldUnderChargeActual(@ForAll("chargeActual") ActionChain<Harness> chain) {
        chain.run();
    }

    @Property
    @AddLifecycleHook(TriesFromInstance.class)
    void invariantsHoldUnderCapAtHold(@ForAll("capAtHold") ActionChain<Harness> chain) {
        chain.run();
    }

    @Provide
    Arbitrary<ActionChain<Harness>> chargeActual() {
        return chains(OverrunPolicy.CHARGE_ACTUAL);
    }

    @Provide
    Arbitrary<ActionChain<Harness>> capAtHold() {
        return chains(OverrunPolicy.CAP_AT_HOLD);
    }

    private Arbitrary<ActionChain<Harness>> chains(OverrunPolicy overrun) {
        Action.Independent<Harness> step = () -> operations().map(op -> Transformer.mutate(op.toString(), h -> h.apply(op)));
        return ActionChain.startWith(() -> new Harness(this::newStore, this::newVerifier, overrun))
                .withAction(step)
                .withMaxTransformations(maxSteps());
    }

    /** Sets the property's tries from {@link #tries()} of the running instance, so subclasses can lower it. */
    public static final class TriesFromInstance implements AroundPropertyHook {
        @Override
        public PropertyExecutionResult aroundProperty(PropertyLifecycleContext context, PropertyExecutor property) {
            if (context.testInstance() instanceof LedgerInvariantProperties properties) {
                boolean order = context.targetMethod().getName().equals("monthTurnIsOrderIndependent");
                context.attributes().setTries(order ? properties.orderTries() : properties.tries());
            }
            return property.execute();
        }
    }

    // ================================================================ the month turn in any order

    /** What happens to one hold taken on the month's last evening: 0 nothing, 1 released, 2 committed. */
    record HoldPlan(long tokens, boolean outlivesMidnight, int fate, long actual) {
    }

    /**
     * One month turn: on the last evening, {@code bought} purchased tokens, {@code spent} tokens consumed
     * and some holds; after midnight the steps of {@code order} (0: the stale-hold sweep, 1: the new
     * month's first touch, 2: a credit of {@code credit} tokens, 3+i: hold i's commit or release) in
     * that order, then a sweep and a read of the month after.
     */
    record MonthTurn(OverrunPolicy overrun, long bought, long spent, List<HoldPlan> holds, boolean touchByReserve,
                     long credit, List<Integer> order) {
    }

    /**
     * The accounts after a month turn do not depend on whether the stale-hold sweep, the first request
     * of the new month, a credit, or the late commits and releases of the closed month's holds came
     * first. Two orders of the same turn run on fresh stores of the implementation under test and of
     * the model; all four must end with the same accounts in all three months. Refunds are left out on
     * purpose: a refund before or after a charge rightly ends differently (what was spent when the
     * money went back is the unrecovered part).
     */
    @Property
    @AddLifecycleHook(TriesFromInstance.class)
    void monthTurnIsOrderIndependent(@ForAll("monthTurns") MonthTurn first, @ForAll("orders") List<Integer> second) {
        MonthTurn other = new MonthTurn(first.overrun(), first.bought(), first.spent(), first.holds(),
                first.touchByReserve(), first.credit(), second.stream().filter(i -> i < 3 + first.holds().size()).toList());
        List<List<QuotaAccount>> results = new ArrayList<>();
        for (MonthTurn turn : List.of(first, other)) {
            for (boolean isModel : List.of(false, true)) {
                results.add(runTurn(turn, isModel));
            }
        }
        List<List<Object>> balances = results.stream().map(accounts -> accounts.stream()
                .map(a -> (Object) List.of(a.month(), a.allocated(), a.granted(), a.carried(), a.used(), a.reserved(),
                        a.available())).toList()).toList();
        for (int i = 1; i < balances.size(); i++) {
            if (!balances.get(i).equals(balances.get(0))) {
                throw new AssertionError("the month turn ended differently: order " + first.order() + " gave "
                        + balances.get(0) + " on the store under test, but " + (i % 2 == 1 ? "the model" : "the store under test")
                        + " with order " + (i < 2 ? first.order() : other.order()) + " gave " + balances.get(i));
            }
        }
    }

    @Provide
    Arbitrary<MonthTurn> monthTurns() {
        Arbitrary<HoldPlan> hold = Combinators.combine(Arbitraries.longs().between(1, 6_000), Arbitraries.of(true, false),
                Arbitraries.integers().between(0, 2), Arbitraries.longs().between(0, 9_000)).as(HoldPlan::new);
        Arbitrary<List<HoldPlan>> holds = hold.list().ofMinSize(1).ofMaxSize(3);
        return Combinators.combine(Arbitraries.of(OverrunPolicy.values()),
                Arbitraries.longs().between(0, 8_000), Arbitraries.longs().between(0, 12_000), holds,
                Arbitraries.of(true, false), Arbitraries.of(0L, 0L, 700L, 3_000L))
                .flatAs((overrun, bought, spent, hs, touch, credit) -> orders().map(order -> new MonthTurn(overrun,
                        bought, spent, hs, touch, credit, order.stream().filter(i -> i < 3 + hs.size()).toList())));
    }

    @Provide
    Arbitrary<List<Integer>> orders() {
        return Arbitraries.shuffle(0, 1, 2, 3, 4, 5);
    }

    /** Runs one month turn on a fresh store; returns the subject's accounts of the three months. */
    private List<QuotaAccount> runTurn(MonthTurn turn, boolean isModel) {
        YearMonth january = YearMonth.of(2031, 1);
        MutableClock clock = new MutableClock(january.atEndOfMonth().atTime(23, 40).toInstant(java.time.ZoneOffset.UTC));
        QuotaPolicy policy = QuotaPolicy.builder().overrunPolicy(turn.overrun()).maxQuota(60_000)
                .holdTtl(Duration.ofMinutes(5)).clock(clock).build();
        QuotaStore store = isModel ? new InMemoryQuotaStore(policy) : newStore(policy);
        String s = "t" + UUID.randomUUID().toString().substring(0, 18);
        if (turn.bought() > 0) {
            store.grant(new PurchaseRequest(s + "-buy", s, turn.bought(), PurchaseType.PURCHASE, "card",
                    new BigDecimal("9.90"), io.tokenquota.Currency.USD, "buy"));
        }
        if (turn.spent() > 0 && turn.spent() <= store.account(s).available()) {
            store.consume(s, turn.spent(), null);
        }
        List<Reservation> holds = new ArrayList<>();
        for (HoldPlan plan : turn.holds()) {
            boolean fits = plan.tokens() <= store.account(s).available();
            holds.add(fits ? store.reserve(HoldRequest.of(s, plan.tokens())
                    .ttl(plan.outlivesMidnight() ? Duration.ofHours(2) : Duration.ofMinutes(10))
                    .build()).reservation() : null);
        }
        clock.set(january.plusMonths(1).atDay(1).atTime(0, 30).toInstant(java.time.ZoneOffset.UTC));
        for (int step : turn.order()) {
            switch (step) {
                case 0 -> store.expireStale();
                case 1 -> {
                    if (turn.touchByReserve()) {
                        store.reserve(HoldRequest.of(s, 1).ttl(Duration.ofHours(3)).build()).reservation();
                    } else {
                        store.account(s);
                    }
                }
                case 2 -> {
                    if (turn.credit() > 0) {
                        store.grant(PurchaseRequest.grant(s + "-credit", s, turn.credit(), PurchaseType.BONUS, null));
                    }
                }
                default -> {
                    int i = step - 3;
                    Reservation r = holds.get(i);
                    HoldPlan plan = turn.holds().get(i);
                    if (r != null && plan.fate() == 1) {
                        store.release(r.id());
                    } else if (r != null && plan.fate() == 2) {
                        store.commit(r.id(), plan.actual());
                    }
                }
            }
        }
        clock.advance(Duration.ofHours(4));
        store.expireStale();
        List<QuotaAccount> accounts = new ArrayList<>();
        accounts.add(store.account(s, january).orElseThrow());
        accounts.add(store.account(s));
        clock.set(january.plusMonths(2).atDay(1).atTime(0, 10).toInstant(java.time.ZoneOffset.UTC));
        accounts.add(store.account(s));
        // normalize what differs only by store: the subject, the instants
        return accounts.stream().map(a -> new QuotaAccount("s", a.month(), a.allocated(), a.granted(), a.carried(),
                a.used(), a.reserved(), null, null)).toList();
    }

    // ================================================================ operations

    /** One generated step. Subjects, keys, transactions and reservations are small indexes into per-try pools. */
    sealed interface Op permits Reserve, Commit, Release, Extend, Consume, ReplayHold, Expire, RecordPending, Complete,
            Fail, Refund, Grant, SetPlan, Advance, NextMonth, MonthEnd, Read, Bad {
    }

    /** @param key index into 4 keys, or -1 for none; @param ttlSeconds 0 for the policy's TTL */
    record Reserve(int subject, long tokens, int key, int ttlSeconds) implements Op {
    }

    /** @param mode 0: nothing, 1: half the hold, 2: the hold, 3: an overrun, 4: any amount */
    record Commit(int reservation, int mode, long extra) implements Op {
    }

    record Release(int reservation) implements Op {
    }

    /** Keeps a tracked hold alive for {@code ttlSeconds} from now (a call still running). */
    record Extend(int reservation, int ttlSeconds) implements Op {
    }

    record Consume(int subject, long tokens, int key) implements Op {
    }

    /** Repeats the call that created a tracked reservation: must answer the same hold. */
    record ReplayHold(int reservation) implements Op {
    }

    record Expire() implements Op {
    }

    record RecordPending(int subject, long tokens, int tx) implements Op {
    }

    record Complete(int tx) implements Op {
    }

    record Fail(int tx) implements Op {
    }

    record Refund(int tx) implements Op {
    }

    record Grant(int subject, long tokens, int tx) implements Op {
    }

    record SetPlan(int subject, long allocation) implements Op {
    }

    record Advance(int seconds) implements Op {
    }

    /** Jumps to {@code minute} minutes into the month {@code months} ahead. */
    record NextMonth(int months, int minute) implements Op {
    }

    /** Jumps to {@code minutes} minutes before the current month ends (never backwards). */
    record MonthEnd(int minutes) implements Op {
    }

    record Read(int subject, int months) implements Op {
    }

    /** Bad input (the ErrorCode INVALID_* rules and io.tokenquota.Limits); both stores must refuse it with the same code and change nothing. */
    record Bad(int kind, int subject) implements Op {
    }

    private static final int SUBJECTS = 3;
    private static final int KEYS = 4;
    private static final int TXS = 6;

    private static Arbitrary<Op> operations() {
        Arbitrary<Integer> subject = Arbitraries.integers().between(0, SUBJECTS - 1);
        Arbitrary<Long> tokens = Arbitraries.frequencyOf(List.of(
                Tuple.of(6, Arbitraries.longs().between(1, 3_000)),
                Tuple.of(2, Arbitraries.longs().between(3_000, 12_000)),
                Tuple.of(1, Arbitraries.of(1L, 2_500L, 10_000L))));
        Arbitrary<Integer> index = Arbitraries.integers().between(0, 1_000);
        Arbitrary<Integer> key = Arbitraries.integers().between(-1, KEYS - 1);
        Arbitrary<Integer> tx = Arbitraries.integers().between(0, TXS - 1);
        Arbitrary<Op> reserve = Combinators.combine(subject, tokens, key, Arbitraries.of(0, 0, 1, 30, 120, 900, 3_600))
                .as(Reserve::new);
        Arbitrary<Op> commit = Combinators.combine(index, Arbitraries.integers().between(0, 4),
                Arbitraries.longs().between(0, 5_000)).as(Commit::new);
        Arbitrary<Op> release = index.map(Release::new);
        Arbitrary<Op> extend = Combinators.combine(index, Arbitraries.of(1, 30, 300, 3_600)).as(Extend::new);
        Arbitrary<Op> consume = Combinators.combine(subject, tokens, key).as(Consume::new);
        Arbitrary<Op> replay = index.map(ReplayHold::new);
        Arbitrary<Op> expire = Arbitraries.just(new Expire());
        Arbitrary<Op> pending = Combinators.combine(subject, tokens, tx).as(RecordPending::new);
        Arbitrary<Op> complete = tx.map(Complete::new);
        Arbitrary<Op> fail = tx.map(Fail::new);
        Arbitrary<Op> refund = tx.map(Refund::new);
        Arbitrary<Op> grant = Combinators.combine(subject, tokens, tx).as(Grant::new);
        Arbitrary<Op> plan = Combinators.combine(subject, Arbitraries.of(0L, 500L, 5_000L, 10_000L, 20_000L, 200_000L))
                .as(SetPlan::new);
        Arbitrary<Op> advance = Arbitraries.of(1, 29, 30, 60, 61, 119, 300, 3_600, 86_400).map(Advance::new);
        Arbitrary<Op> month = Combinators.combine(Arbitraries.of(1, 1, 1, 2, 3), Arbitraries.of(0, 1, 59))
                .as(NextMonth::new);
        Arbitrary<Op> monthEnd = Arbitraries.of(1, 2, 3, 10, 30).map(MonthEnd::new);
        Arbitrary<Op> read = Combinators.combine(subject, Arbitraries.integers().between(1, 4)).as(Read::new);
        Arbitrary<Op> bad = Combinators.combine(Arbitraries.integers().between(0, BAD_KINDS - 1), subject).as(Bad::new);
        return Arbitraries.frequencyOf(List.of(
                Tuple.of(10, reserve),
                Tuple.of(8, commit),
                Tuple.of(3, release),
                Tuple.of(2, extend),
                Tuple.of(5, consume),
                Tuple.of(2, replay),
                Tuple.of(2, expire),
                Tuple.of(3, pending),
                Tuple.of(3, complete),
                Tuple.of(1, fail),
                Tuple.of(2, refund),
                Tuple.of(3, grant),
                Tuple.of(2, plan),
                Tuple.of(4, advance),
                Tuple.of(2, month),
                Tuple.of(2, monthEnd),
                Tuple.of(2, read),
                Tuple.of(2, bad)));
    }

    private static final int BAD_KINDS = 9;

    // ================================================================ the harness

    /** Normalized views: ids of reservations become indexes so the two stores' UUIDs compare equal. */
    record ResView(int index, String subject, YearMonth month, long held, ReservationState state, long charged,
                   Long actual, long overage, String key, String endpoint, Instant createdAt, Instant expiresAt,
                   Instant finishedAt) {
    }

    record AccView(String subject, YearMonth month, long allocated, long granted, long carried, long used,
                   long reserved, Instant createdAt) {
    }

    record EventView(String subject, YearMonth month, EventKind kind, long tokens, long overage, int reservation,
                     String transactionId, String detail, Instant at) {
    }

    record Outcome(Object value, ErrorCode code, String detail) {
        boolean failed() {
            return code != null;
        }
    }

    /** Both stores, their clocks, and what the test knows about the ids they handed out. Not thread-safe. */
    static final class Harness {
        private static final Instant START = Instant.parse("2031-03-31T23:30:00Z");

        final QuotaStore sut;
        final QuotaStore model;
        /** Reads the store under test's storage through fresh connections, or {@code null}. */
        final QuotaStore verifier;
        final MutableClock sutClock = new MutableClock(START);
        final MutableClock modelClock = new MutableClock(START);
        final QuotaPolicy policy;
        final String[] subjects = new String[SUBJECTS];
        final String[] keys = new String[KEYS];
        final String[] txs = new String[TXS];
        final List<String> sutIds = new ArrayList<>();
        final List<String> modelIds = new ArrayList<>();
        final Map<String, Integer> sutIndex = new HashMap<>();
        final Map<String, Integer> modelIndex = new HashMap<>();
        /** What created each tracked reservation, to replay it. */
        final List<Op> origins = new ArrayList<>();
        final List<Integer> owners = new ArrayList<>();
        final Map<Integer, Long> plans = new HashMap<>();
        final Map<Integer, TreeSet<YearMonth>> months = new HashMap<>();
        int monthsJumped;
        int step;
        /**
         * Per subject and store (0: under test, 1: model): purchased tokens late charges of closed months
         * spent beyond what the latest month still had (that overdraft stays on the closed month).
         */
        final long[][] overdraft = new long[SUBJECTS][2];
        /** Subjects whose {@code used} may pass the limit under {@code CAP_AT_HOLD} (see {@link #checkInvariants}). */
        final boolean[] capExempt = new boolean[SUBJECTS];

        Harness(Function<QuotaPolicy, QuotaStore> factory, Function<QuotaPolicy, QuotaStore> verifierFactory,
                OverrunPolicy overrun) {
            QuotaPolicy.Builder builder = QuotaPolicy.builder().overrunPolicy(overrun).maxQuota(60_000)
                    .holdTtl(Duration.ofSeconds(60));
            this.policy = builder.clock(modelClock).build();
            this.model = new InMemoryQuotaStore(policy);
            this.sut = factory.apply(builder.clock(sutClock).build());
            this.verifier = verifierFactory.apply(builder.clock(sutClock).build());
            String run = UUID.randomUUID().toString().substring(0, 18);
            for (int i = 0; i < SUBJECTS; i++) {
                subjects[i] = "p" + run + "-s" + i;
                months.put(i, new TreeSet<>());
            }
            for (int i = 0; i < KEYS; i++) {
                keys[i] = "key-" + i;
            }
            for (int i = 0; i < TXS; i++) {
                txs[i] = "p" + run + "-tx" + i;
            }
        }

        @Override
        public String toString() {
            return "Harness[" + String.join(",", subjects) + " at " + modelClock.instant() + ", step " + step + "]";
        }

        YearMonth now() {
            return policy.currentMonth();
        }

        // ------------------------------------------------------------ one step

        void apply(Op op) {
            step++;
            if (op instanceof Advance a) {
                sutClock.advance(Duration.ofSeconds(a.seconds()));
                modelClock.advance(Duration.ofSeconds(a.seconds()));
                return;
            }
            if (op instanceof NextMonth m) {
                // stay inside the history window so every earlier account stays readable
                if (monthsJumped + m.months() > 12) {
                    return;
                }
                monthsJumped += m.months();
                Instant next = policy.startOf(now().plusMonths(m.months())).plus(Duration.ofMinutes(m.minute()));
                sutClock.set(next);
                modelClock.set(next);
                return;
            }
            if (op instanceof MonthEnd e) {
                Instant next = policy.resetOf(now()).minus(Duration.ofMinutes(e.minutes()));
                if (next.isAfter(modelClock.instant())) {
                    sutClock.set(next);
                    modelClock.set(next);
                }
                return;
            }
            Set<Integer> touched = touchedSubjects(op);
            Map<Integer, Expectation> expected = new HashMap<>();
            Map<String, Before> before = new HashMap<>();
            for (int s : touched) {
                expected.put(s, expectation(s));
                for (YearMonth m : monthsOf(s)) {
                    before.put(s + "@" + m, new Before(read(sut, s, m), read(model, s, m),
                            eventCount(sut, s, m), eventCount(model, s, m)));
                }
            }

            // the month of the hold a commit or release finishes, before the step (a late one is of a closed month)
            YearMonth holdMonth = holdMonth(op);

            Outcome mine = run(op, sut, true);
            Outcome theirs = run(op, model, false);
            check(Objects.equals(mine, theirs), op, "store answered " + mine + " but the model answered " + theirs);
            boolean newHold = mine.value() instanceof ResView v && v.index() == -1;
            register(op, mine);
            noteExemptions(op, mine, holdMonth);

            for (int s : touched) {
                if (model.account(subjects[s], now()).isPresent()) {
                    months.get(s).add(now());
                }
                checkNewMonth(op, s, expected.get(s));
                List<Reservation> sutHolds = holdsOf(sut, sutIds, s);
                List<Reservation> modelHolds = holdsOf(model, modelIds, s);
                Ledger sutLedger = new Ledger();
                Ledger modelLedger = new Ledger();
                for (YearMonth m : monthsOf(s)) {
                    checkAccount(op, s, m, before.get(s + "@" + m), sutHolds, modelHolds, holdMonth, sutLedger,
                            modelLedger);
                }
                checkPurchasedConservation(op, s, 0, sutLedger, holdMonth);
                checkPurchasedConservation(op, s, 1, modelLedger, holdMonth);
                if (verifier != null) {
                    checkStored(op, s, sutHolds);
                }
            }
            if (newHold && (op instanceof Reserve || op instanceof Consume)) {
                // a hold (or consume) is granted only when it fits: it never leaves its month overdrawn
                int s = op instanceof Reserve r ? r.subject() : ((Consume) op).subject();
                for (QuotaStore store : List.of(sut, model)) {
                    QuotaAccount a = store.account(subjects[s], now()).orElseThrow();
                    check(a.available() >= 0, op, (store == sut ? "store" : "model") + " granted a hold into an overdraft: " + a);
                }
            }
        }

        private YearMonth holdMonth(Op op) {
            int index = op instanceof Commit c ? c.reservation() : op instanceof Release r ? r.reservation() : -1;
            if (index < 0 || modelIds.isEmpty()) {
                return null;
            }
            return model.reservation(modelIds.get(index % modelIds.size())).orElseThrow().month();
        }

        /**
         * Under {@code CAP_AT_HOLD}, {@code used <= limit} is exact only while no purchased tokens a month
         * counted on are taken back afterwards: a refund of tokens still on hold (the hold is then
         * committed within what it held, past the lowered limit), and a late charge of a closed month's
         * hold taking back purchased tokens the latest month already spent, both leave {@code used}
         * above the limit by design (the tokens were used; the money or the carry went back).
         */
        private void noteExemptions(Op op, Outcome outcome, YearMonth holdMonth) {
            if (outcome.failed()) {
                return;
            }
            if (op instanceof Refund && outcome.value() instanceof Purchase p) {
                capExempt[subjectIndex(p.subject())] = true;
            }
            if (op instanceof Commit && holdMonth != null && holdMonth.isBefore(now())
                    && outcome.value() instanceof ResView v) {
                capExempt[subjectIndex(v.subject())] = true;
            }
        }

        /** What one step read of a subject's months, for the purchased-token conservation check. */
        static final class Ledger {
            final List<QuotaAccount> accounts = new ArrayList<>();
            long credited;
            long debited;
        }

        /**
         * Purchased tokens are conserved across months. With rollover on (the harness's policy), every
         * purchased token credited is, at any instant, exactly one of: consumed by some month (spent, or
         * held by an open hold: {@code LedgerRules.purchasedConsumed} of each month), unused in the
         * subject's latest month ({@code unusedGranted}, what the next month will carry), or debited by a
         * refund (the DEBITED events' tokens; their overage is the unrecovered part, already spent):
         * {@code credited + overdraft == sum(consumed) + unusedGranted(latest) + debited}. The overdraft
         * is the only inexact part: a late charge of a closed month's hold that needs more purchased
         * tokens than the latest month's {@code granted + carried} still has takes what there is, and the
         * rest stays the closed month's overdraft (it was spent twice, once in each month). It can only
         * grow, and only on a commit of a closed month's hold that leaves the latest month with no
         * purchased tokens. With rollover off the statement would need "lapsed" terms for every month
         * turn and every hold a closed month finishes, which no account records: not checked.
         */
        private void checkPurchasedConservation(Op op, int s, int which, Ledger ledger, YearMonth holdMonth) {
            if (ledger.accounts.isEmpty() || !policy.rolloverPurchased()) {
                return;
            }
            QuotaAccount latest = ledger.accounts.get(ledger.accounts.size() - 1);
            long consumed = 0;
            for (QuotaAccount a : ledger.accounts) {
                consumed += LedgerRules.purchasedConsumed(a);
            }
            long gap = consumed + latest.unusedGranted() + ledger.debited - ledger.credited;
            String label = (which == 0 ? "store " : "model ") + subjects[s];
            boolean lateChargeEmptiedLatest = op instanceof Commit && holdMonth != null
                    && holdMonth.isBefore(latest.month()) && latest.granted() + latest.carried() == 0;
            if (lateChargeEmptiedLatest && gap > overdraft[s][which]) {
                overdraft[s][which] = gap;
            }
            check(gap == overdraft[s][which], op, label + ": purchased tokens not conserved: consumed " + consumed
                    + " + unused in " + latest.month() + " " + latest.unusedGranted() + " + debited " + ledger.debited
                    + " - credited " + ledger.credited + " = " + gap + ", expected the overdraft "
                    + overdraft[s][which] + "; accounts " + ledger.accounts);
        }

        /** What the store under test answered is what its storage holds, read through fresh connections. */
        private void checkStored(Op op, int s, List<Reservation> sutHolds) {
            for (YearMonth m : monthsOf(s)) {
                Optional<Object> answered = read(sut, s, m).map(a -> normalize(a, true));
                Optional<Object> stored = verifier.account(subjects[s], m).map(a -> normalize(a, true));
                check(answered.equals(stored), op, "account " + m + " answered " + answered + " but stored " + stored);
                List<EventView> storedEvents = events(verifier, s, m, true);
                List<EventView> answeredEvents = events(sut, s, m, true);
                check(storedEvents.equals(answeredEvents), op, "events " + m + " answered " + answeredEvents
                        + " but stored " + storedEvents);
            }
            for (Reservation r : sutHolds) {
                // two instances translate the database's expiry clock each with the offset it measured when
                // built: the same stored expires_at may read a few milliseconds apart
                Optional<Reservation> stored = verifier.reservation(r.id()).map(v -> v.expiresAt() != null
                        && Duration.between(v.expiresAt(), r.expiresAt()).abs().compareTo(Duration.ofSeconds(1)) < 0
                        ? new Reservation(v.id(), v.subject(), v.month(), v.held(), v.state(), v.charged(), v.actual(),
                        v.overage(), v.idempotencyKey(), v.endpoint(), v.createdAt(), r.expiresAt(), v.finishedAt()) : v);
                check(stored.equals(Optional.of(r)), op, "hold answered " + r + " but stored " + stored);
            }
            for (String tx : txs) {
                Optional<Purchase> answered = sut.purchase(tx);
                if (answered.isPresent() && answered.get().subject().equals(subjects[s])) {
                    Optional<Object> stored = verifier.purchase(tx).map(p -> normalize(p, true));
                    check(stored.equals(answered.map(p -> normalize(p, true))), op,
                            "purchase answered " + answered + " but stored " + stored);
                }
            }
        }

        // ------------------------------------------------------------ running an op on one store

        private Outcome run(Op op, QuotaStore store, boolean isSut) {
            try {
                return new Outcome(normalize(call(op, store, isSut), isSut), null, null);
            } catch (QuotaExceededException e) {
                return new Outcome(null, e.code(), "limit " + e.limit() + ", available " + e.available() + ", requested "
                        + e.requested() + ", reset " + e.resetAt() + ", subject " + e.subject());
            } catch (QuotaException e) {
                return new Outcome(null, e.code(), null);
            }
        }

        private Object call(Op op, QuotaStore store, boolean isSut) {
            List<String> ids = isSut ? sutIds : modelIds;
            if (op instanceof Reserve r) {
                return store.reserve(HoldRequest.of(subjects[r.subject()], r.tokens()).idempotencyKey(key(r.key()))
                        .ttl(r.ttlSeconds() == 0 ? null : Duration.ofSeconds(r.ttlSeconds()))
                        .endpoint("/ep/" + r.subject()).build()).reservation();
            } else if (op instanceof Consume c) {
                return store.consume(HoldRequest.of(subjects[c.subject()], c.tokens()).idempotencyKey(key(c.key()))
                        .endpoint("/consume").build());
            } else if (op instanceof Commit c) {
                if (ids.isEmpty()) {
                    return store.commit(UUID.randomUUID().toString(), 1);
                }
                int i = c.reservation() % ids.size();
                Reservation r = store.reservation(ids.get(i)).orElseThrow();
                long actual = switch (c.mode()) {
                    case 0 -> 0;
                    case 1 -> r.held() / 2;
                    case 2 -> r.held();
                    case 3 -> r.held() + 1 + c.extra();
                    default -> c.extra();
                };
                return store.commit(ids.get(i), actual);
            } else if (op instanceof Release rel) {
                return ids.isEmpty() ? store.release(UUID.randomUUID().toString())
                        : store.release(ids.get(rel.reservation() % ids.size()));
            } else if (op instanceof Extend e) {
                return ids.isEmpty() ? store.extend(UUID.randomUUID().toString(), Duration.ofSeconds(e.ttlSeconds()))
                        : store.extend(ids.get(e.reservation() % ids.size()), Duration.ofSeconds(e.ttlSeconds()));
            } else if (op instanceof ReplayHold rh) {
                if (origins.isEmpty()) {
                    return store.reservation(UUID.randomUUID().toString());
                }
                int i = rh.reservation() % origins.size();
                Op origin = origins.get(i);
                boolean keyed = origin instanceof Reserve r ? r.key() >= 0 : ((Consume) origin).key() >= 0;
                // without a key a repeated call is a new request, not a replay: read the hold instead
                return keyed ? call(origin, store, isSut) : store.reservation(ids.get(i));
            } else if (op instanceof Expire) {
                return new ExpireCount(store.expireStale());
            } else if (op instanceof RecordPending p) {
                return store.recordPending(new PurchaseRequest(txs[p.tx()], subjects[p.subject()], p.tokens(),
                        PurchaseType.PURCHASE, "card", new BigDecimal("9.90"), io.tokenquota.Currency.USD, "buy"));
            } else if (op instanceof Complete c) {
                return store.complete(txs[c.tx()]);
            } else if (op instanceof Fail f) {
                return store.fail(txs[f.tx()]);
            } else if (op instanceof Refund r) {
                return store.refund(txs[r.tx()]);
            } else if (op instanceof Grant g) {
                return store.grant(PurchaseRequest.grant(txs[g.tx()], subjects[g.subject()], g.tokens(),
                        PurchaseType.BONUS, "bonus"));
            } else if (op instanceof SetPlan p) {
                return store.setPlan(subjects[p.subject()], p.allocation());
            } else if (op instanceof Read r) {
                String s = subjects[r.subject()];
                UsageForecast f = store.forecast(s);
                // rates are doubles computed by each store: compare them at a precision both reach
                return List.of(store.history(s, r.months()), store.blockStats(s, now()),
                        store.dailyUsage(s, policy.dayOf(policy.now()).minusDays(1), policy.dayOf(policy.now())),
                        List.of(f.subject(), f.month(), f.used(), f.available(), Math.round(f.tokensPerDay() * 1000),
                                String.valueOf(f.projectedExhaustion() == null ? null
                                        : f.projectedExhaustion().getEpochSecond() / 10), f.resetAt()));
            } else if (op instanceof Bad b) {
                return bad(b, store, ids);
            }
            throw new IllegalStateException("unknown op " + op);
        }

        private Object bad(Bad b, QuotaStore store, List<String> ids) {
            String s = subjects[b.subject()];
            return switch (b.kind()) {
                case 0 -> store.reserve(s, 0, null);
                case 1 -> store.reserve(s, Long.MIN_VALUE, "k");
                case 2 -> store.consume(s, Limits.MAX_TOKENS + 1, null);
                case 3 -> store.reserve(s + "\u0000", 10, null);
                case 4 -> store.commit(ids.isEmpty() ? "x" : ids.get(0), -1);
                case 5 -> store.setPlan(s, 60_001);
                case 6 -> store.refund(s + "-no-such-tx");
                case 7 -> store.account(s, now().plusMonths(1));
                default -> store.reserve(s, 10, "k".repeat(129));
            };
        }

        private String key(int k) {
            return k < 0 ? null : keys[k];
        }

        record ExpireCount(int count) {
        }

        private Object normalize(Object value, boolean isSut) {
            if (value instanceof Reservation r) {
                Map<String, Integer> index = isSut ? sutIndex : modelIndex;
                return new ResView(index.getOrDefault(r.id(), -1), r.subject(), r.month(), r.held(), r.state(),
                        r.charged(), r.actual(), r.overage(), r.idempotencyKey(), r.endpoint(), r.createdAt(),
                        r.expiresAt(), r.finishedAt());
            } else if (value instanceof QuotaAccount a) {
                return new AccView(a.subject(), a.month(), a.allocated(), a.granted(), a.carried(), a.used(),
                        a.reserved(), a.createdAt());
            } else if (value instanceof Purchase p) {
                return new Purchase(p.transactionId(), p.subject(), p.tokens(), p.type(), p.status(), p.paymentMethod(),
                        p.amount() == null ? null : p.amount().setScale(2), p.currency(), p.reason(), p.month(),
                        p.unrecovered(), p.createdAt(), p.processedAt());
            } else if (value instanceof Optional<?> o) {
                return o.map(v -> normalize(v, isSut));
            } else if (value instanceof List<?> l) {
                return l.stream().map(v -> normalize(v, isSut)).toList();
            } else if (value instanceof ExpireCount) {
                // a shared database may hold other tries' stale holds, which the sweep also counts
                return "swept";
            }
            return value;
        }

        /** Tracks a reservation the step created, under one index in both stores. */
        private void register(Op op, Outcome outcome) {
            if (outcome.value() instanceof ResView view && view.index() == -1) {
                Reservation mine = findNew(sut, sutIndex, view);
                Reservation theirs = findNew(model, modelIndex, view);
                int index = sutIds.size();
                sutIds.add(mine.id());
                modelIds.add(theirs.id());
                sutIndex.put(mine.id(), index);
                modelIndex.put(theirs.id(), index);
                origins.add(op);
                owners.add(subjectIndex(view.subject()));
            }
            if (op instanceof SetPlan p && !outcome.failed()) {
                plans.put(p.subject(), p.allocation());
            }
        }

        /** The reservation a step just created: the newest id of the subject not tracked yet. */
        private Reservation findNew(QuotaStore store, Map<String, Integer> index, ResView view) {
            // the id is not part of the normalized view, so fetch it from the event log of the month
            List<LedgerEvent> events = store.events(view.subject(), view.month());
            for (int i = events.size() - 1; i >= 0; i--) {
                String id = events.get(i).reservationId();
                if (id != null && !index.containsKey(id)) {
                    return store.reservation(id).orElseThrow();
                }
            }
            throw new AssertionError("no new reservation found in the log of " + view.subject());
        }

        private int subjectIndex(String subject) {
            for (int i = 0; i < SUBJECTS; i++) {
                if (subjects[i].equals(subject)) {
                    return i;
                }
            }
            throw new IllegalStateException(subject);
        }

        private Set<Integer> touchedSubjects(Op op) {
            Set<Integer> touched = new LinkedHashSet<>();
            if (op instanceof Reserve r) {
                touched.add(r.subject());
            } else if (op instanceof Consume c) {
                touched.add(c.subject());
            } else if (op instanceof Commit c && !owners.isEmpty()) {
                touched.add(owners.get(c.reservation() % owners.size()));
            } else if (op instanceof Release r && !owners.isEmpty()) {
                touched.add(owners.get(r.reservation() % owners.size()));
            } else if (op instanceof Extend e && !owners.isEmpty()) {
                touched.add(owners.get(e.reservation() % owners.size()));
            } else if (op instanceof ReplayHold rh && !owners.isEmpty()) {
                touched.add(owners.get(rh.reservation() % owners.size()));
            } else if (op instanceof SetPlan p) {
                touched.add(p.subject());
            } else if (op instanceof Read r) {
                touched.add(r.subject());
            } else if (op instanceof Bad b) {
                touched.add(b.subject());
            } else if (op instanceof RecordPending || op instanceof Grant || op instanceof Complete
                    || op instanceof Fail || op instanceof Refund || op instanceof Expire) {
                // a transaction id may already belong to another subject: look at all of them
                for (int i = 0; i < SUBJECTS; i++) {
                    touched.add(i);
                }
            }
            return touched;
        }

        /** Months of the subject worth checking: the current one and those it has holds or accounts in. */
        private Set<YearMonth> monthsOf(int s) {
            Set<YearMonth> result = new TreeSet<>(months.get(s));
            result.add(now());
            return result;
        }

        // ------------------------------------------------------------ invariants

        private void check(boolean ok, Op op, String message) {
            if (!ok) {
                throw new AssertionError("step " + step + " " + op + ": " + message);
            }
        }

        record Before(Optional<QuotaAccount> sut, Optional<QuotaAccount> model, int sutEvents, int modelEvents) {
        }

        /** Invariant 7: what a month's account must start from, computed before the step creates it. */
        record Expectation(boolean absent, long allocated, long sutCarried, long modelCarried) {
        }

        private Expectation expectation(int s) {
            YearMonth current = now();
            if (model.account(subjects[s], current).isPresent()) {
                return new Expectation(false, 0, 0, 0);
            }
            long allocated = plans.getOrDefault(s, policy.defaultAllocation());
            YearMonth previous = months.get(s).lower(current);
            if (previous == null || !policy.rolloverPurchased()) {
                return new Expectation(true, allocated, 0, 0);
            }
            // resolved after the step: -1 means "what the previous month has unused once the step is done"
            return new Expectation(true, allocated, -1, -1);
        }

        private void checkNewMonth(Op op, int s, Expectation e) {
            if (!e.absent()) {
                return;
            }
            Optional<QuotaAccount> mine = sut.account(subjects[s], now());
            Optional<QuotaAccount> theirs = model.account(subjects[s], now());
            check(mine.isPresent() == theirs.isPresent(), op, "the step " + (mine.isPresent() ? "created" : "did not create")
                    + " the " + now() + " account in the store but " + (theirs.isPresent() ? "did" : "did not") + " in the model");
            if (theirs.isEmpty()) {
                return;
            }
            QuotaAccount a = mine.orElseThrow();
            long sutCarried = e.sutCarried();
            long modelCarried = e.modelCarried();
            YearMonth previous = months.get(s).lower(now());
            if (sutCarried < 0) {
                // a step that creates the month and also finishes a hold of the previous month (a lazy
                // expiry) gives the same carry in either order: the previous month's unused tokens after it.
                // A refund may also lower a closed month's granted below that: left to the model comparison.
                if (op instanceof Refund) {
                    return;
                }
                sutCarried = sut.account(subjects[s], previous).orElseThrow().unusedGranted();
                modelCarried = model.account(subjects[s], previous).orElseThrow().unusedGranted();
            }
            check(a.carried() == sutCarried, op, "new month carried " + a.carried() + ", expected " + sutCarried);
            check(theirs.get().carried() == modelCarried, op, "model carried " + theirs.get().carried()
                    + ", expected " + modelCarried);
            if (!(op instanceof SetPlan)) {
                check(a.allocated() == e.allocated(), op, "new month allocated " + a.allocated() + ", plan " + e.allocated());
            }
        }

        /** The subject's tracked reservations as the store has them now, read once per step. */
        private List<Reservation> holdsOf(QuotaStore store, List<String> ids, int s) {
            List<Reservation> result = new ArrayList<>();
            for (int i = 0; i < ids.size(); i++) {
                if (owners.get(i) == s) {
                    result.add(store.reservation(ids.get(i)).orElseThrow());
                }
            }
            return result;
        }

        private void checkAccount(Op op, int s, YearMonth m, Before before, List<Reservation> sutHolds,
                                  List<Reservation> modelHolds, YearMonth holdMonth, Ledger sutLedger,
                                  Ledger modelLedger) {
            Optional<QuotaAccount> mine = read(sut, s, m);
            Optional<QuotaAccount> theirs = read(model, s, m);
            check(mine.map(a -> normalize(a, true)).equals(theirs.map(a -> normalize(a, false))), op,
                    "account " + m + " is " + mine + " but the model has " + theirs);
            if (mine.isEmpty()) {
                return;
            }
            List<EventView> sutEvents = events(sut, s, m, true);
            List<EventView> modelEvents = events(model, s, m, false);
            check(sortedEvents(sutEvents).equals(sortedEvents(modelEvents)), op,
                    "event log " + m + " is " + sutEvents + " but the model logged " + modelEvents);
            sutLedger.accounts.add(mine.get());
            modelLedger.accounts.add(theirs.orElseThrow());
            for (EventView e : sutEvents) {
                sutLedger.credited += e.kind() == EventKind.CREDITED ? e.tokens() : 0;
                sutLedger.debited += e.kind() == EventKind.DEBITED ? e.tokens() : 0;
            }
            for (EventView e : modelEvents) {
                modelLedger.credited += e.kind() == EventKind.CREDITED ? e.tokens() : 0;
                modelLedger.debited += e.kind() == EventKind.DEBITED ? e.tokens() : 0;
            }
            checkInvariants(op, sut, mine.get(), sutEvents, sutHolds, before == null ? Optional.empty() : before.sut(),
                    before == null ? sutEvents.size() : before.sutEvents(), holdMonth, s);
            checkInvariants(op, model, theirs.orElseThrow(), modelEvents, modelHolds,
                    before == null ? Optional.empty() : before.model(), before == null ? modelEvents.size() : before.modelEvents(),
                    holdMonth, s);
        }

        private void checkInvariants(Op op, QuotaStore store, QuotaAccount a, List<EventView> events,
                                     List<Reservation> holds, Optional<QuotaAccount> before, int eventsBefore,
                                     YearMonth holdMonth, int s) {
            String label = (store == sut ? "store " : "model ") + a;
            // 1. conservation
            check(a.limit() == a.used() + a.reserved() + a.available(), op, label + ": conservation");
            // 2. non-negative counters; reserved equals the open holds
            check(a.used() >= 0 && a.reserved() >= 0 && a.granted() + a.carried() >= 0, op, label + ": negative counter");
            long held = 0;
            for (Reservation r : holds) {
                if (r.state() == ReservationState.HELD && r.subject().equals(a.subject()) && r.month().equals(a.month())) {
                    held += r.held();
                }
                if (r.state() == ReservationState.EXPIRED || r.state() == ReservationState.RELEASED) {
                    // 8. expired (and released) holds were returned in full, nothing charged
                    check(r.charged() == 0, op, label + ": a returned hold was charged " + r);
                }
            }
            check(a.reserved() == held, op, label + ": reserved " + a.reserved() + " but open holds sum to " + held);
            // 3. used equals the charging events (COMMITTED and LATE_COMMITTED) of the month
            long committed = events.stream().filter(e -> e.kind().charges()).mapToLong(EventView::tokens).sum();
            check(a.used() == committed, op, label + ": used " + a.used() + " but charging events sum to " + committed);
            // 4. under CAP_AT_HOLD nothing is ever charged beyond the limit (see noteExemptions for the two
            //    documented ways a limit drops below what was charged)
            if (policy.overrunPolicy() == OverrunPolicy.CAP_AT_HOLD && !capExempt[s]) {
                check(a.used() <= a.limit(), op, label + ": used beyond the limit under CAP_AT_HOLD");
            }
            if (before.isEmpty()) {
                return;
            }
            QuotaAccount b = before.get();
            // 4. only a CHARGE_ACTUAL overrun, a late charge taking back purchased tokens a later month
            //    carried, and a refund of tokens on hold (then, under CAP_AT_HOLD, the commit of that hold,
            //    which spends them after all: the exemptions of check 4 above) may drive available below zero
            boolean overrunAllowed = op instanceof Refund || op instanceof Commit
                    && (policy.overrunPolicy() == OverrunPolicy.CHARGE_ACTUAL || !a.month().equals(holdMonth)
                    || capExempt[s]);
            if (!overrunAllowed && a.available() < b.available()) {
                check(a.available() >= 0, op, label + ": available went from " + b.available() + " below zero");
            }
            // 6. a replay (or refusal) logs nothing but expiries and rejections, and changes no balance
            //    beyond returning expired holds. carried is left out: a hold of a closed month that finishes
            //    moves purchased tokens to the latest month's carried without an event there (the model
            //    comparison and the conservation of purchased tokens cover it); so is granted on a refund,
            //    which lowers the granted of closed months whose holds still hold refunded tokens.
            boolean onlyExpiries = events.subList(Math.min(eventsBefore, events.size()), events.size()).stream()
                    .allMatch(e -> e.kind() == EventKind.EXPIRED || e.kind() == EventKind.REJECTED);
            if (onlyExpiries) {
                check(a.used() == b.used() && (op instanceof Refund || a.granted() == b.granted())
                        && a.allocated() == b.allocated() && a.reserved() <= b.reserved(), op,
                        label + ": changed from " + b + " without logging a change");
            }
            if (op instanceof ReplayHold) {
                check(a.used() == b.used() && a.granted() == b.granted() && a.reserved() <= b.reserved(), op,
                        label + ": a replay changed balances from " + b);
            }
        }

        private Optional<QuotaAccount> read(QuotaStore store, int s, YearMonth m) {
            return store.account(subjects[s], m);
        }

        private int eventCount(QuotaStore store, int s, YearMonth m) {
            return store.events(subjects[s], m).size();
        }

        private List<EventView> events(QuotaStore store, int s, YearMonth m, boolean isSut) {
            Map<String, Integer> index = isSut ? sutIndex : modelIndex;
            return store.events(subjects[s], m).stream().map(e -> new EventView(e.subject(), e.month(), e.kind(),
                    e.tokens(), e.overage(), e.reservationId() == null ? -1 : index.getOrDefault(e.reservationId(), -2),
                    e.transactionId(), e.detail(), e.at())).toList();
        }

        /** Events of one instant may be logged in any order (a sweep expires several holds at once). */
        private static List<EventView> sortedEvents(List<EventView> events) {
            return events.stream().sorted(Comparator.comparing(EventView::at).thenComparing(e -> e.kind().name())
                    .thenComparingInt(EventView::reservation).thenComparingLong(EventView::tokens)
                    .thenComparing(e -> String.valueOf(e.transactionId()))).toList();
        }
    }
}
