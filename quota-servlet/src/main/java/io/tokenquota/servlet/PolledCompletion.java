package io.tokenquota.servlet;

import java.util.function.Predicate;

/**
 * Chat completions a provider runs on its own after answering their creation with an id alone, read later by
 * that id until the result, with its usage, is ready. One rule for all of them (docs/decisions.md, the jobs
 * item), {@link Settlement} applying it:
 * <ul>
 *   <li>a creation ({@link #created}) has its charge remembered under its kind and id ({@link Job#key}: kinds
 *       and other jobs apart, since a result may carry an id another job has);</li>
 *   <li>a read of a remembered id at its kind's read path ({@link #read}) is a read of that job: a pending poll
 *       is released, the result charged what its usage passes what was charged for the job before; a read
 *       that {@link #ends} it closes the job's figure;</li>
 *   <li>a figure still open (created, its result not read) is never started again: another creation answered
 *       with the same id is charged as an ordinary call (round 319: a Z.ai chat completion that echoed an xAI
 *       job's {@code request_id} restarted its figure at its own 6,000, and the xAI result was charged nothing).</li>
 * </ul>
 * An id no creation of the subject was answered with, and any other path, are settled as any answer: an
 * application's {@code 202}, body or not, may be a model call it queued.
 */
enum PolledCompletion {
    /**
     * xAI's deferred chat completion (docs.x.ai, "Deferred Chat Completions"; round 315): a chat completion asked
     * with {@code "deferred": true} is answered only {@code {"request_id": …}}, and
     * {@code GET …/chat/deferred-completion/{request_id}} answers {@code 202} with an empty body until the
     * result, a chat completion with its usage, is ready.
     */
    XAI_DEFERRED("deferred-completion:", "/chat/deferred-completion/", "deferred chat completion") {
        @Override
        String createdId(String path, Predicate<String> bodyTrue, JsonDocumentScanner.Document answer) {
            // the bare acknowledgement only: a provider that answers a chat completion whole names the client's
            // request_id beside its choices and usage (Z.ai, round 319), and that answer ran the model itself
            return path.endsWith("/chat/completions") && bodyTrue.test("deferred") && answer.requestId() != null
                    && !answer.choices() && answer.usages().isEmpty() && answer.object() == null
                    && answer.taskStatus() == null ? answer.requestId() : null;
        }

        @Override
        String state(int status, JsonDocumentScanner.Document answer) {
            return status == 202 ? "pending" : "ready";
        }

        @Override
        boolean ends(int status, JsonDocumentScanner.Document answer) {
            return status != 202;
        }
    },
    /**
     * Z.ai's (Zhipu BigModel's) asynchronous chat completion (round 319; zai-org/z-ai-sdk-python's
     * {@code async_completions.py}, docs.bigmodel.cn "对话补全异步", "查询异步结果"):
     * {@code POST …/async/chat/completions} is answered {@code {id, request_id, model, task_status: "PROCESSING"}},
     * and {@code GET …/async-result/{id}} answers the same until {@code task_status} is {@code SUCCESS}, with
     * {@code choices} and {@code usage}, or {@code FAIL}.
     */
    ZAI_ASYNC("zai-async:", "/async-result/", "Z.ai async chat completion") {
        @Override
        String createdId(String path, Predicate<String> bodyTrue, JsonDocumentScanner.Document answer) {
            return path.endsWith("/async/chat/completions") && PROCESSING.equals(answer.taskStatus())
                    && answer.id() != null && !answer.choices() && answer.usages().isEmpty() ? answer.id() : null;
        }

        @Override
        String state(int status, JsonDocumentScanner.Document answer) {
            return answer == null || answer.taskStatus() == null ? "read"
                    : answer.taskStatus().toLowerCase(java.util.Locale.ROOT);
        }

        @Override
        boolean ends(int status, JsonDocumentScanner.Document answer) {
            return answer != null && ("SUCCESS".equals(answer.taskStatus()) || "FAIL".equals(answer.taskStatus()));
        }
    };

    private static final String PROCESSING = "PROCESSING";

    private final String prefix;
    private final String readAt;
    private final String label;

    PolledCompletion(String prefix, String readAt, String label) {
        this.prefix = prefix;
        this.readAt = readAt;
        this.label = label;
    }

    /** One job of a kind: what its charge is remembered by is {@link #key}. */
    record Job(PolledCompletion kind, String id) {
        String key() {
            return kind.prefix + id;
        }

        String label() {
            return kind.label;
        }

        /** The job's state as a read's answer ({@code status}, its one JSON document or {@code null}) shows it. */
        String state(int status, JsonDocumentScanner.Document answer) {
            return kind.state(status, answer);
        }

        /** Whether that read is the job's result (or its end without one): its figure closes. */
        boolean ends(int status, JsonDocumentScanner.Document answer) {
            return kind.ends(status, answer);
        }
    }

    /** The id a creation at {@code path} answered (2xx) with {@code answer} started a job of this kind under, or {@code null}. */
    abstract String createdId(String path, Predicate<String> bodyTrue, JsonDocumentScanner.Document answer);

    abstract String state(int status, JsonDocumentScanner.Document answer);

    abstract boolean ends(int status, JsonDocumentScanner.Document answer);

    /**
     * The job a request created: not a read, answered (2xx) with one JSON document ({@code answer}) a kind
     * takes for its creation's; {@code null} otherwise.
     */
    static Job created(String method, String path, Predicate<String> bodyTrue, JsonDocumentScanner.Document answer) {
        if (answer == null || reads(method)) {
            return null;
        }
        for (PolledCompletion kind : values()) {
            String id = kind.createdId(path, bodyTrue, answer);
            if (id != null && !id.isEmpty()) {
                return new Job(kind, id);
            }
        }
        return null;
    }

    /**
     * The job a read ({@code GET}, {@code HEAD}) names at a kind's read path, the id its last segment; {@code null}
     * otherwise. {@code path} as the container routed it (decoded, dot segments resolved).
     */
    static Job read(String method, String path) {
        if (!reads(method)) {
            return null;
        }
        for (PolledCompletion kind : values()) {
            int at = path.lastIndexOf(kind.readAt);
            String id = at < 0 ? "" : path.substring(at + kind.readAt.length());
            if (!id.isEmpty() && id.indexOf('/') < 0) {
                return new Job(kind, id);
            }
        }
        return null;
    }

    private static boolean reads(String method) {
        return "GET".equals(method) || "HEAD".equals(method);
    }
}
