package io.tokenquota.testkit;

import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.Reserved;
import io.tokenquota.Team;
import io.tokenquota.memory.InMemoryQuotaStore;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
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
 * Stateful properties of team budgets (docs/semantics.md, "Teams"): random sequences of membership
 * changes, team and user plans, team purchases, holds, consumes, commits (under, at and over the
 * hold), releases, sweeps and clock moves (small steps, a month's last minutes, across month ends, so
 * holds stay open across a month turn of the team's account and are committed, released or swept from
 * a closed month) across three users and two teams, applied to the store under test and to a fresh
 * {@link InMemoryQuotaStore} (the model) with its own clock kept in step. After every step both must
 * give the same outcome (the same hold, accounts and refusal scope, or the same {@link ErrorCode}),
 * hold the same accounts of every user and team in every month, and satisfy the team invariants: a
 * team's {@code reserved} is what its open holds of that month hold, its {@code used} is what its
 * holds of that month charged, and a granted hold never leaves either account overdrawn.
 *
 * <p>Subclass it and implement {@link #newStore}; override {@link #tries()} on a slow backend.
 */
public abstract class TeamInvariantProperties {

    protected abstract QuotaStore newStore(QuotaPolicy policy);

    protected int tries() {
        return 100;
    }

    protected int maxSteps() {
        return 40;
    }

    @Property
    @AddLifecycleHook(TriesFromInstance.class)
    void teamInvariantsHoldUnderChargeActual(@ForAll("chargeActual") ActionChain<Harness> chain) {
        chain.run();
    }

    @Property
    @AddLifecycleHook(TriesFromInstance.class)
    void teamInvariantsHoldUnderCapAtHold(@ForAll("capAtHold") ActionChain<Harness> chain) {
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
        return ActionChain.startWith(() -> new Harness(this::newStore, overrun))
                .withAction(step)
                .withMaxTransformations(maxSteps());
    }

    /** Sets the property's tries from {@link #tries()} of the running instance. */
    public static final class TriesFromInstance implements AroundPropertyHook {
        @Override
        public PropertyExecutionResult aroundProperty(PropertyLifecycleContext context, PropertyExecutor property) {
            if (context.testInstance() instanceof TeamInvariantProperties properties) {
                context.attributes().setTries(properties.tries());
            }
            return property.execute();
        }
    }

    // ================================================================ operations

    sealed interface Op permits Join, TeamPlan, UserPlan, Reserve, Consume, Commit, Release, Expire, GrantTeam,
            Advance, NextMonth, MonthEnd {
    }

    /** Puts user {@code user} in team {@code team}, or takes it out ({@code team < 0}). */
    record Join(int user, int team) implements Op {
    }

    record TeamPlan(int team, long allocation) implements Op {
    }

    record UserPlan(int user, long allocation) implements Op {
    }

    record Reserve(int user, long tokens, int key, int ttlSeconds) implements Op {
    }

    record Consume(int user, long tokens, int key) implements Op {
    }

    /** Commits tracked hold {@code index}: mode 0 nothing, 1 half, 2 the hold, 3 beyond it by {@code extra}. */
    record Commit(int index, int mode, long extra) implements Op {
    }

    record Release(int index) implements Op {
    }

    record Expire() implements Op {
    }

    record GrantTeam(int team, long tokens) implements Op {
    }

    record Advance(int seconds) implements Op {
    }

    record NextMonth(int minute) implements Op {
    }

    /** Jumps to {@code minutes} before the current month ends (never backwards). */
    record MonthEnd(int minutes) implements Op {
    }

    private static final int USERS = 3;
    private static final int TEAMS = 2;
    private static final int KEYS = 3;

    private static Arbitrary<Op> operations() {
        Arbitrary<Integer> user = Arbitraries.integers().between(0, USERS - 1);
        Arbitrary<Integer> team = Arbitraries.integers().between(0, TEAMS - 1);
        Arbitrary<Long> tokens = Arbitraries.frequencyOf(List.of(
                Tuple.of(6, Arbitraries.longs().between(1, 2_000)),
                Tuple.of(2, Arbitraries.longs().between(2_000, 8_000))));
        Arbitrary<Integer> index = Arbitraries.integers().between(0, 1_000);
        Arbitrary<Integer> key = Arbitraries.integers().between(-1, KEYS - 1);
        return Arbitraries.frequencyOf(List.of(
                Tuple.of(3, Combinators.combine(user, Arbitraries.integers().between(-1, TEAMS - 1)).as(Join::new)),
                Tuple.of(2, Combinators.combine(team, Arbitraries.of(0L, 1_000L, 3_000L, 6_000L, 20_000L))
                        .as(TeamPlan::new)),
                Tuple.of(1, Combinators.combine(user, Arbitraries.of(500L, 4_000L, 10_000L)).as(UserPlan::new)),
                Tuple.of(10, Combinators.combine(user, tokens, key, Arbitraries.of(0, 0, 30, 120, 3_600))
                        .as(Reserve::new)),
                Tuple.of(4, Combinators.combine(user, tokens, key).as(Consume::new)),
                Tuple.of(8, Combinators.combine(index, Arbitraries.integers().between(0, 3),
                        Arbitraries.longs().between(1, 3_000)).as(Commit::new)),
                Tuple.of(3, index.map(Release::new)),
                Tuple.of(2, Arbitraries.just(new Expire())),
                Tuple.of(2, Combinators.combine(team, Arbitraries.longs().between(1, 4_000)).as(GrantTeam::new)),
                Tuple.of(4, Arbitraries.of(1, 31, 61, 300, 3_600, 86_400).map(Advance::new)),
                Tuple.of(2, Arbitraries.of(0, 1, 59).map(NextMonth::new)),
                Tuple.of(2, Arbitraries.of(1, 2, 10).map(MonthEnd::new))));
    }

    // ================================================================ the harness

    /** A hold with its id replaced by its index among the tracked holds, so the two stores compare equal. */
    record HoldView(int index, String subject, YearMonth month, long held, ReservationState state, long charged,
                    Long actual, long overage, String key, Instant createdAt, Instant expiresAt, Instant finishedAt,
                    String team) {
    }

    record AccountView(String subject, YearMonth month, long allocated, long granted, long carried, long used,
                       long reserved) {
    }

    record Outcome(Object value, ErrorCode code, String detail) {
    }

    /** Both stores, their clocks, and the holds they handed out. Not thread-safe. */
    static final class Harness {
        private static final Instant START = Instant.parse("2033-01-31T23:00:00Z");

        final QuotaStore sut;
        final QuotaStore model;
        final MutableClock sutClock = new MutableClock(START);
        final MutableClock modelClock = new MutableClock(START);
        final QuotaPolicy policy;
        final String[] users = new String[USERS];
        final String[] teams = new String[TEAMS];
        final String run;
        final List<String> sutIds = new ArrayList<>();
        final List<String> modelIds = new ArrayList<>();
        final TreeSet<YearMonth> months = new TreeSet<>();
        int monthsJumped;
        int step;

        Harness(Function<QuotaPolicy, QuotaStore> factory, OverrunPolicy overrun) {
            QuotaPolicy.Builder builder = QuotaPolicy.builder().overrunPolicy(overrun).maxQuota(60_000)
                    .defaultAllocation(10_000).holdTtl(Duration.ofSeconds(60));
            this.policy = builder.clock(modelClock).build();
            this.model = new InMemoryQuotaStore(policy);
            this.sut = factory.apply(builder.clock(sutClock).build());
            run = UUID.randomUUID().toString().substring(0, 18);
            for (int i = 0; i < USERS; i++) {
                users[i] = "q" + run + "-u" + i;
            }
            for (int i = 0; i < TEAMS; i++) {
                teams[i] = "q" + run + "-t" + i;
            }
        }

        @Override
        public String toString() {
            return "Harness[" + run + " at " + modelClock.instant() + ", step " + step + "]";
        }

        private List<String> subjects() {
            List<String> all = new ArrayList<>(List.of(users));
            for (String t : teams) {
                all.add(Team.subject(t));
            }
            return all;
        }

        void apply(Op op) {
            step++;
            YearMonth now = policy.currentMonth();
            if (op instanceof Advance a) {
                move(modelClock.instant().plusSeconds(a.seconds()));
                return;
            }
            if (op instanceof NextMonth m) {
                if (monthsJumped++ >= 10) {
                    return;
                }
                move(policy.startOf(now.plusMonths(1)).plus(Duration.ofMinutes(m.minute())));
                return;
            }
            if (op instanceof MonthEnd e) {
                Instant next = policy.resetOf(now).minus(Duration.ofMinutes(e.minutes()));
                if (next.isAfter(modelClock.instant())) {
                    move(next);
                }
                return;
            }
            Outcome mine = run(op, sut, true);
            Outcome theirs = run(op, model, false);
            check(Objects.equals(mine, theirs), op, "store answered " + mine + " but the model answered " + theirs);
            months.add(policy.currentMonth());
            for (String subject : subjects()) {
                for (YearMonth m : months) {
                    if (m.isBefore(policy.currentMonth().minusMonths(policy.historyMonths() - 1L))) {
                        continue;
                    }
                    Optional<AccountView> a = view(sut.account(subject, m));
                    Optional<AccountView> b = view(model.account(subject, m));
                    check(a.equals(b), op, "account of " + subject + " in " + m + ": store " + a + ", model " + b);
                }
            }
            checkTeamInvariants(op);
            if (mine.value() instanceof GrantView g && !g.replayed()) {
                check(g.account().used() + g.account().reserved() <= g.account().allocated() + g.account().granted()
                        + g.account().carried(), op, "a hold was granted into the member's overdraft: " + g);
                check(g.team() == null || g.team().used() + g.team().reserved() <= g.team().allocated()
                        + g.team().granted() + g.team().carried(), op, "a hold was granted into the team's overdraft: " + g);
            }
        }

        private void move(Instant to) {
            sutClock.set(to);
            modelClock.set(to);
        }

        /**
         * A team's month holds exactly what its open holds of that month hold, and has charged exactly
         * what its holds of that month charged (the store under test, read back hold by hold).
         */
        private void checkTeamInvariants(Op op) {
            for (String team : teams) {
                String teamSubject = Team.subject(team);
                for (YearMonth m : months) {
                    Optional<QuotaAccount> account = sut.account(teamSubject, m);
                    if (account.isEmpty()) {
                        continue;
                    }
                    long reserved = 0;
                    long charged = 0;
                    for (String id : sutIds) {
                        Reservation r = sut.reservation(id).orElseThrow();
                        if (!team.equals(r.teamId()) || !r.month().equals(m)) {
                            continue;
                        }
                        if (r.state() == ReservationState.HELD) {
                            reserved += r.held();
                        }
                        charged += r.charged();
                    }
                    check(account.get().reserved() == reserved, op, "team " + team + " " + m + " reserves "
                            + account.get().reserved() + " but its open holds hold " + reserved);
                    check(account.get().used() == charged, op, "team " + team + " " + m + " used "
                            + account.get().used() + " but its holds charged " + charged);
                }
            }
        }

        record GrantView(HoldView hold, AccountView account, AccountView team, boolean replayed) {
        }

        private Outcome run(Op op, QuotaStore store, boolean isSut) {
            try {
                return new Outcome(call(op, store, isSut), null, null);
            } catch (QuotaExceededException e) {
                return new Outcome(null, e.code(), e.scope() + " " + e.teamId() + " limit " + e.limit() + " available "
                        + e.available() + " reset " + e.resetAt());
            } catch (QuotaException e) {
                return new Outcome(null, e.code(), null);
            }
        }

        private Object call(Op op, QuotaStore store, boolean isSut) {
            List<String> ids = isSut ? sutIds : modelIds;
            if (op instanceof Join j) {
                store.setTeam(users[j.user()], j.team() < 0 ? null : teams[j.team()]);
                return store.team(users[j.user()]);
            } else if (op instanceof TeamPlan p) {
                return view(store.setPlan(Team.subject(teams[p.team()]), p.allocation()));
            } else if (op instanceof UserPlan p) {
                return view(store.setPlan(users[p.user()], p.allocation()));
            } else if (op instanceof GrantTeam g) {
                // a fresh transaction id per step: the same one in both stores
                return store.grant(PurchaseRequest.grant("q" + run + "-g" + step, Team.subject(teams[g.team()]),
                        g.tokens(), PurchaseType.PURCHASE, "team")).tokens();
            } else if (op instanceof Reserve r) {
                Reserved reserved = store.reserve(HoldRequest.of(users[r.user()], r.tokens())
                        .idempotencyKey(r.key() < 0 ? null : "k" + r.key())
                        .ttl(r.ttlSeconds() == 0 ? null : Duration.ofSeconds(r.ttlSeconds())).build());
                return grant(reserved.reservation(), reserved.account(), reserved.team(), reserved.replayed(), ids);
            } else if (op instanceof Consume c) {
                Reservation r = store.consume(HoldRequest.of(users[c.user()], c.tokens())
                        .idempotencyKey(c.key() < 0 ? null : "k" + c.key()).build());
                return hold(r, ids);
            } else if (op instanceof Commit c) {
                if (ids.isEmpty()) {
                    return null;
                }
                String id = ids.get(c.index() % ids.size());
                long held = store.reservation(id).orElseThrow().held();
                long actual = switch (c.mode()) {
                    case 0 -> 0;
                    case 1 -> held / 2;
                    case 2 -> held;
                    default -> held + c.extra();
                };
                return hold(store.commit(id, actual), ids);
            } else if (op instanceof Release r) {
                return ids.isEmpty() ? null : hold(store.release(ids.get(r.index() % ids.size())), ids);
            } else if (op instanceof Expire) {
                store.expireStale();
                // a shared database may hold other tries' stale holds, which the sweep also counts
                return "swept";
            }
            throw new IllegalArgumentException(op.toString());
        }

        private GrantView grant(Reservation r, QuotaAccount account, QuotaAccount team, boolean replayed,
                                List<String> ids) {
            return new GrantView(hold(r, ids), view(account), team == null ? null : view(team), replayed);
        }

        /** Tracks a hold the first time it is seen; its view names it by its index. */
        private static HoldView hold(Reservation r, List<String> ids) {
            int index = ids.indexOf(r.id());
            if (index < 0) {
                ids.add(r.id());
                index = ids.size() - 1;
            }
            return new HoldView(index, r.subject(), r.month(), r.held(), r.state(), r.charged(), r.actual(),
                    r.overage(), r.idempotencyKey(), r.createdAt(), r.expiresAt(), r.finishedAt(), r.teamId());
        }

        private static AccountView view(QuotaAccount a) {
            return new AccountView(a.subject(), a.month(), a.allocated(), a.granted(), a.carried(), a.used(),
                    a.reserved());
        }

        private static Optional<AccountView> view(Optional<QuotaAccount> a) {
            return a.map(Harness::view);
        }

        private void check(boolean ok, Op op, String message) {
            if (!ok) {
                throw new AssertionError("after " + op + " (step " + step + ", " + modelClock.instant() + "): " + message);
            }
        }
    }
}
