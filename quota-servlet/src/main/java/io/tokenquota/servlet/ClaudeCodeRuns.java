package io.tokenquota.servlet;

import java.security.MessageDigest;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The usage of the Claude Code (Claude Agent SDK) headless runs one answer relays, in {@code --output-format
 * stream-json} (one message a line, with {@code --include-partial-messages} each raw Messages API event wrapped as a
 * {@code stream_event}) or {@code --output-format json} (the {@code result} object alone). One rule, here:
 * <ul>
 *   <li>a run is named by its lines' {@code session_id}; runs add up (a relay that runs the CLI once per task streams
 *       each run's lines and result; the SDK reports each run's cost on its own, round 524);</li>
 *   <li>a process's total is the largest of: its calls, each API call counted once by its message id, the larger
 *       report of one id standing (the CLI repeats a message's usage on every line it splits the content over, and
 *       writes the line with the {@code message_start} snapshot, output 1, before the call's {@code message_delta};
 *       rounds 517, 519); its {@code result}'s {@code usage} (the main loop's calls, cumulative); and its
 *       {@code result}'s {@code modelUsage} added up over the models, which also counts the calls no assistant line
 *       shows (the helper model's, background subagents', round 523 and 524), so it is never added on top of the
 *       others; the calls read after its last result (a next turn's, not yet totalled) are added to it;</li>
 *   <li>one session may hold several processes, which add up: each {@code query()} call, each {@code claude -p
 *       --resume} of the session, reports its own usage, while one process serving several turns
 *       ({@code --input-format stream-json}) restates its running total on each result. The CLI writes an init line
 *       at every turn of such a process too, so the counts tell them apart ({@code Run.result}, round 542); a
 *       {@code compact_boundary} line is a call read (a {@code /compact} turn's summary, round 545) that read the
 *       {@code pre_tokens} its {@code compact_metadata} states (round 549);</li>
 *   <li>a wrapped {@code message_delta} names no message: it belongs to the last wrapped {@code message_start} under
 *       the same {@code parent_tool_use_id} (the main thread's, or a subagent's Task call's), since subagents run at
 *       once and interleave their events on the one stdout while each streams one API call at a time (round
 *       522).</li>
 * </ul>
 * Reports are {@code {total, input, cachedInput, output, reasoning}} ({@link UsageKinds#anthropic}). Only 64-bit
 * digests of the names (sessions, messages, threads) are kept, as {@link AnswerCalls} keeps them, and at most
 * {@link #MAX_NAMED} runs and calls and {@link #MAX_THREADS} threads; a run's calls past those still count toward
 * its calls, a run's past those go to an overflow added up. Not thread-safe: {@link UsageSniffer} guards
 * it.
 */
final class ClaudeCodeRuns {
    /** Calls and runs whose reports are kept apart; the reports of more add up as they come. */
    static final int MAX_NAMED = 1_024;
    /** Threads (the main one and subagents) whose last wrapped message_start is kept; the oldest give way. */
    static final int MAX_THREADS = 256;

    /**
     * Calls of one run: each call's largest report by its message id's digest, and, past {@link #MAX_NAMED}, the
     * calls that could not be named added up, the last of them kept apart so that the lines the CLI splits one message
     * over (text, then tool_use; a message_start, its assistant line, its message_delta) count it once (round 542).
     */
    private final class Calls {
        private final Map<Long, long[]> named = new HashMap<>();
        private long[] unnamed;
        private long lastUnnamed;
        private long[] lastUnnamedReport;
        /** The reports added up, {@code null} when none; recomputed when a report changes. */
        private long[] sum;

        boolean isEmpty() {
            return named.isEmpty() && lastUnnamedReport == null;
        }

        boolean has(long digest) {
            return named.containsKey(digest);
        }

        /** The call {@code digest}'s report; a call not yet named is named while names are left. */
        void report(long digest, long[] report) {
            long[] before = named.get(digest);
            if (before == null && ClaudeCodeRuns.this.named >= MAX_NAMED) {
                if (lastUnnamedReport != null && lastUnnamed == digest) {
                    lastUnnamedReport = larger(lastUnnamedReport, report);
                } else {
                    unnamed = plus(unnamed, lastUnnamedReport);
                    lastUnnamed = digest;
                    lastUnnamedReport = report;
                }
                sum = null;
                return;
            }
            if (before == null) {
                ClaudeCodeRuns.this.named++;
            }
            long[] after = larger(before, report);
            named.put(digest, after);
            if (after != before) {
                sum = null;
            }
        }

        /** Takes over {@code other}'s calls, which stay named. */
        void add(Calls other) {
            named.putAll(other.named);
            unnamed = plus(plus(unnamed, other.unnamed), other.lastUnnamedReport);
            sum = null;
        }

        /** Gives up the names of its calls, which are then no longer told apart (a finished process's). */
        void release() {
            ClaudeCodeRuns.this.named -= named.size();
        }

        long[] sum() {
            if (sum == null) {
                long[] s = plus(unnamed, lastUnnamedReport);
                for (long[] c : named.values()) {
                    s = plus(s, c);
                }
                sum = s;
            }
            return sum;
        }
    }

    /**
     * A session's runs: its finished processes, and the current one's calls up to its last result line, that result,
     * and the calls read since (a next turn's or a next process's, which that result does not count).
     */
    private final class Run {
        /** The session's finished processes, each its largest figure, added up. */
        private long[] finished;
        private Calls calls = new Calls();
        /** The largest report of the current process's result lines ({@code usage} or {@code modelUsage}). */
        private long[] result;
        private Calls since = new Calls();
        /**
         * A {@code compact_boundary} line was read since the last result: the process summarised its conversation,
         * a model call no assistant line shows (a {@code /compact} turn writes the boundary and a result alone); what
         * it read is among the calls since when the boundary states it ({@link ClaudeCodeRuns#compacted}).
         */
        private boolean compacted;

        Calls callsOf(long digest) {
            return calls.has(digest) ? calls : since;
        }

        long[] total() {
            return plus(finished, plus(larger(calls.sum(), result), since.sum()));
        }

        /**
         * A result line of the session. The first of a process is its total. One after it is the same process's
         * running total only when it can be one: calls were read since (a {@code --output-format json} object
         * stands alone, each its own process's, so the same object again is a repeat) and it adds to the last result
         * at least those calls' counts, field by field. A result of a new process (a {@code --resume} of the session)
         * counts that process's calls alone, and its first call resends the conversation the last result counted, so
         * it adds less input than its own calls read; it is a run of its own, added (round 542). A compact boundary
         * read since is a call too, that read at least its {@code pre_tokens} (else of counts unknown, at least 0):
         * the result after a {@code /compact} turn, or after a turn that compacted before its call, is the running
         * total plus the summary and the calls, one process's (round 545: taken for a new process, it added the
         * turns before on top of the total counting them). A resumed process that compacts before its first call
         * sends the summary, not the conversation, yet its summary read that conversation, so its result adds less
         * input than its boundary states and it is told apart as one that resends it is (round 549).
         */
        void result(long[] report) {
            boolean callsSince = !since.isEmpty() || compacted;
            compacted = false;
            boolean same = result == null
                    || (callsSince ? covers(report, result, since.sum()) : java.util.Arrays.equals(report, result));
            if (!same) {
                finished = plus(finished, larger(calls.sum(), result));
                calls.release();
                calls = since;
                since = new Calls();
                result = report;
                return;
            }
            calls.add(since);
            since = new Calls();
            result = larger(result, report);
        }
    }

    /** The last wrapped message_start of a thread: its message id's digest and its usage, merged over by its deltas. */
    private record Start(long message, Map<String, Long> usage) { }

    private final MessageDigest sha256 = AnswerCalls.sha256();
    private final Map<Long, Run> runs = new HashMap<>();
    /** The run of reports that name no session: the last run named, else one of its own. */
    private Run current;
    /** Runs and calls named, which {@link #MAX_NAMED} bounds. */
    private int named;
    /** Reports of runs past {@link #MAX_NAMED}, which cannot be told apart: added up. */
    private long[] overflow;
    private final Map<Long, Start> starts = new LinkedHashMap<>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, Start> eldest) {
            return size() > MAX_THREADS;
        }
    };

    /** An assistant line's {@code message.usage}: one API call's, named by its message id. */
    boolean call(String session, String message, Map<String, Long> usage) {
        return message != null && call(session, AnswerCalls.digest(sha256, message), usage);
    }

    /** {@link #call(String, String, Map)} of the message whose id's digest is {@code digest}. */
    private boolean call(String session, long digest, Map<String, Long> usage) {
        long[] report = report(usage);
        if (report == null) {
            return false;
        }
        Run run = run(session);
        if (run == null) {
            overflow = plus(overflow, report);
        } else {
            // a call past the names kept is still its run's: its result counts it (round 542)
            run.callsOf(digest).report(digest, report);
        }
        return true;
    }

    /**
     * A wrapped {@code message_start} ({@code start}, named {@code message}) or {@code message_delta}
     * ({@code delta}) of the thread {@code parent} (the {@code parent_tool_use_id}, {@code null} for the main
     * thread): the start's usage, or the delta's merged field by field over its thread's last start (a delta's counts
     * are cumulative and may name the output alone), reported as that start's call.
     */
    boolean streamEvent(String session, String parent, String message, Map<String, Long> start,
            Map<String, Long> delta) {
        // a thread of its run: two runs relayed at once have a main thread each
        long thread = AnswerCalls.digest(sha256, (session == null ? "" : session) + "\n" + (parent == null ? "" : parent));
        if (start != null) {
            if (message == null) {
                starts.remove(thread);
                return false;
            }
            Start s = new Start(AnswerCalls.digest(sha256, message), new HashMap<>(start));
            starts.remove(thread);
            starts.put(thread, s);
            return start.containsKey("input_tokens") && call(session, s.message(), s.usage());
        }
        Start s = starts.get(thread);
        if (s == null || delta == null) {
            return false;
        }
        s.usage().putAll(delta);
        return s.usage().containsKey("input_tokens") && call(session, s.message(), s.usage());
    }

    /**
     * A {@code result} line (or the {@code --output-format json} object): its {@code usage}, the main loop's calls,
     * and its {@code modelUsage} added up over the models ({@link JsonDocumentScanner#CLAUDE_MODEL_USAGE}), every
     * call the process made; the larger is the result, its process's total or running total ({@code Run.result}).
     */
    boolean result(String session, Map<String, Long> usage, Map<String, Long> modelUsage) {
        long[] report = larger(report(usage), report(fromModelUsage(modelUsage)));
        if (report == null) {
            return false;
        }
        Run run = run(session);
        if (run == null) {
            overflow = plus(overflow, report);
        } else {
            run.result(report);
        }
        return true;
    }

    /**
     * A {@code compact_boundary} line of {@code session}'s: its process made a model call (the summary) that only its
     * next result counts ({@code Run.result}). That call read the conversation, whose size the boundary states
     * ({@code preTokens}, 0 when it does not): a call of that input at least, named by it so that a boundary
     * repeated counts once, which a stream cut before the result still pays (round 549: the summary of a 150,000-token
     * conversation was charged the hold). Its input is counted as uncached: the boundary does not say what the cache
     * held ({@code covers} compares input read from the cache or not as one).
     */
    boolean compacted(String session, long preTokens) {
        Run run = run(session);
        if (run != null) {
            run.compacted = true;
        }
        return preTokens > 0 && call(session, AnswerCalls.digest(sha256, "compact_boundary\n" + preTokens),
                Map.of("input_tokens", preTokens, "output_tokens", 0L));
    }

    /** The runs added up, each its largest figure ({@code {total, kinds...}}, a fresh array); {@code null} when none. */
    long[] total() {
        long[] sum = overflow == null ? null : overflow.clone();
        for (Run run : runs.values()) {
            sum = plus(sum, run.total());
        }
        return sum;
    }

    /** The run named {@code session}, or the current one when it names none; {@code null} past {@link #MAX_NAMED}. */
    private Run run(String session) {
        if (session == null && current != null) {
            return current;
        }
        // the digest of a name is never 0 (AnswerCalls#digest): 0 is the run of reports that name no session
        long digest = session == null ? 0 : AnswerCalls.digest(sha256, session);
        Run run = runs.get(digest);
        if (run == null) {
            if (named >= MAX_NAMED) {
                return null;
            }
            named++;
            run = new Run();
            runs.put(digest, run);
        }
        current = run;
        return run;
    }

    /** modelUsage's counters (one model's, or their sum) under the names of Anthropic's usage. */
    static Map<String, Long> fromModelUsage(Map<String, Long> modelUsage) {
        if (modelUsage == null || !modelUsage.containsKey("inputTokens") && !modelUsage.containsKey("outputTokens")) {
            return null;
        }
        Map<String, Long> u = new HashMap<>();
        copy(modelUsage, "inputTokens", u, "input_tokens");
        copy(modelUsage, "outputTokens", u, "output_tokens");
        copy(modelUsage, "cacheReadInputTokens", u, "cache_read_input_tokens");
        copy(modelUsage, "cacheCreationInputTokens", u, "cache_creation_input_tokens");
        return u;
    }

    private static void copy(Map<String, Long> from, String name, Map<String, Long> to, String as) {
        Long n = from.get(name);
        if (n != null) {
            to.put(as, n);
        }
    }

    /**
     * Whether {@code after} exceeds {@code before} by at least {@code calls} (none: 0), in every count, the input read
     * from the cache and not taken as one: a compact boundary states what its summary read, not what the cache held
     * (round 549), and the same tokens read either way are read.
     */
    static boolean covers(long[] after, long[] before, long[] calls) {
        for (int i = 0; i < after.length; i++) {
            long need = calls == null ? 0 : calls[i];
            long gained = after[i] - before[i];
            if (i == 1) {
                need += calls == null ? 0 : calls[2];
                gained += after[2] - before[2];
            } else if (i == 2) {
                continue;
            }
            if (gained < need) {
                return false;
            }
        }
        return true;
    }

    /** The report with the larger total ({@code a} when they are equal), either when the other is {@code null}. */
    private static long[] larger(long[] a, long[] b) {
        if (a == null || b == null) {
            return a == null ? b : a;
        }
        return b[0] > a[0] ? b : a;
    }

    /** The sum of two reports (saturating), a fresh array; either when the other is {@code null}. */
    private static long[] plus(long[] a, long[] b) {
        if (a == null || b == null) {
            return a == null ? (b == null ? null : b.clone()) : a.clone();
        }
        long[] sum = a.clone();
        for (int i = 0; i < sum.length; i++) {
            sum[i] = sum[i] + b[i] < 0 ? Long.MAX_VALUE : sum[i] + b[i];
        }
        return sum;
    }

    /** An Anthropic usage as a report, {@code null} when it counts nothing. */
    private static long[] report(Map<String, Long> usage) {
        Long total = usage == null ? null : UsageKinds.anthropicTotal(usage);
        if (total == null) {
            return null;
        }
        long[] split = UsageKinds.anthropic(usage);
        return new long[] {total, split[0], split[1], split[2], split[3]};
    }
}
