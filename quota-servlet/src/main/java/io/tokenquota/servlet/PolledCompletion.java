package io.tokenquota.servlet;

import java.util.function.Predicate;

/**
 * Model calls run as jobs after answering their creation with an id, read later by that id until the result,
 * with its usage, is ready: chat completions a provider runs on its own (xAI's, Z.ai's), and an A2A agent's
 * tasks ({@link #A2A_TASK}). One rule for all of them (docs/decisions.md, the jobs item), {@link Settlement}
 * applying it:
 * <ul>
 *   <li>a creation ({@link #created}) has its charge remembered under its kind and id ({@link Job#key}: kinds
 *       and other jobs apart, since a result may carry an id another job has);</li>
 *   <li>a read of a remembered id ({@link #read}: at its kind's read path, or an A2A request naming the task)
 *       whose answer is that job's ({@link Job#shownBy}) is a read of that job: a pending poll is released, the
 *       result charged what its usage passes what was charged for the job before; a read that {@link #ends} it
 *       closes the job's figure. A request that makes the job's model run again ({@link Job#runs}: a message to
 *       an A2A task) is charged at least its estimate when its answer shows nothing beyond the figure, which
 *       then grows by it;</li>
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
        String createdId(String path, Predicate<String> bodyTrue, JsonRpc.Message rpc, JsonDocumentScanner.Document answer) {
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
        String createdId(String path, Predicate<String> bodyTrue, JsonRpc.Message rpc, JsonDocumentScanner.Document answer) {
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
    },
    /**
     * An A2A agent's task (a2a-protocol.org, specification 0.3; round 300), over its JSON-RPC binding (section 7):
     * {@code message/send} is answered with the {@code Task} its message made (7.1; with
     * {@code configuration.blocking: false} at once, still {@code submitted} or {@code working}: 6.3 "Life of a
     * Task"), which a client that does not stream polls with {@code tasks/get} (7.3, {@code params.id}) until it
     * ends, and may cancel ({@code tasks/cancel}, 7.4) or send another message to ({@code params.message.taskId}:
     * a task awaiting input, 6.4 "Multi-Turn Conversations"). Every such answer is the task whole, its artifacts
     * with the usage an agent framework put in them ({@code adk_usage_metadata}, {@link JsonDocumentScanner#A2A_TASK_USAGE})
     * so far. The request names the task and the method; the answer must show it ({@link #shows}): the
     * JSON-RPC response to that request ({@link JsonRpc.Reply#answers}) whose {@code result} is a task of that id.
     * A {@code tasks/get} or {@code tasks/cancel} runs no model; a {@code message/send} to the task does
     * ({@link #runs}).
     */
    A2A_TASK("a2a-task:", null, "A2A task") {
        @Override
        String createdId(String path, Predicate<String> bodyTrue, JsonRpc.Message rpc, JsonDocumentScanner.Document answer) {
            // any message/send answered with its task: one finished at once is remembered too, so that reading it
            // back or messaging it later is charged only what passes what it was charged
            return rpc != null && SEND.equals(rpc.method()) && task(rpc, answer) != null ? task(rpc, answer) : null;
        }

        @Override
        String readId(String method, String path, JsonRpc.Message rpc) {
            if (!"POST".equals(method) || rpc == null || !rpc.request()) {
                return null;
            }
            return switch (rpc.method()) {
                case "tasks/get", "tasks/cancel" -> rpc.paramsId();
                case SEND -> rpc.taskId();
                default -> null;
            };
        }

        @Override
        boolean runs(JsonRpc.Message rpc) {
            return rpc != null && SEND.equals(rpc.method());
        }

        @Override
        boolean shows(String id, JsonRpc.Message rpc, JsonDocumentScanner.Document answer) {
            return id.equals(task(rpc, answer));
        }

        @Override
        String state(int status, JsonDocumentScanner.Document answer) {
            return answer == null || answer.rpc() == null || answer.rpc().state() == null ? "read" : answer.rpc().state();
        }

        @Override
        boolean ends(int status, JsonDocumentScanner.Document answer) {
            // TaskState (6.3): the terminal states; input-required and auth-required wait for the client's next message
            return answer != null && answer.rpc() != null && A2A_ENDED.contains(answer.rpc().state());
        }
    };

    private static final String PROCESSING = "PROCESSING";
    /** A2A's {@code message/send} (7.1). Its streaming form, {@code message/stream}, answers events, not a task. */
    private static final String SEND = "message/send";
    /** A2A's terminal task states (0.3, 6.3 {@code TaskState}). */
    private static final java.util.Set<String> A2A_ENDED = java.util.Set.of("completed", "canceled", "failed", "rejected");

    /**
     * The task an answer shows as the response to {@code rpc}: one JSON-RPC document with that request's id, a
     * {@code result} of kind {@code task} and its {@code id}; {@code null} otherwise.
     */
    private static String task(JsonRpc.Message rpc, JsonDocumentScanner.Document answer) {
        JsonRpc.Reply reply = answer == null ? null : answer.rpc();
        return reply != null && reply.answers(rpc) && "task".equals(reply.kind()) && reply.taskId() != null
                && !reply.taskId().isEmpty() ? reply.taskId() : null;
    }

    private final String prefix;
    private final String readAt;
    private final String label;

    PolledCompletion(String prefix, String readAt, String label) {
        this.prefix = prefix;
        this.readAt = readAt;
        this.label = label;
    }

    /**
     * One job of a kind: what its charge is remembered by is {@link #key}. {@code runs}: the request that reads it
     * makes its model run again (a message to an A2A task).
     */
    record Job(PolledCompletion kind, String id, boolean runs) {
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

        /**
         * Whether the answer ({@code answer}, its one JSON document or {@code null}) to the request ({@code rpc}, its
         * JSON-RPC message or {@code null}) is this job's: what its read path answers, or the task the A2A request
         * named, shown by its response.
         */
        boolean shownBy(JsonRpc.Message rpc, JsonDocumentScanner.Document answer) {
            return kind.shows(id, rpc, answer);
        }
    }

    /**
     * The id a creation at {@code path} (its body's {@code bodyTrue} flags, its JSON-RPC message {@code rpc} or
     * {@code null}) answered (2xx) with {@code answer} started a job of this kind under, or {@code null}.
     */
    abstract String createdId(String path, Predicate<String> bodyTrue, JsonRpc.Message rpc, JsonDocumentScanner.Document answer);

    /**
     * The id of the job of this kind a request reads ({@code method} at {@code path}, its JSON-RPC message {@code rpc}
     * or {@code null}), or {@code null}: by default a {@code GET} or {@code HEAD} at the read path, the id its last
     * segment ({@code path} as the container routed it: decoded, dot segments resolved).
     */
    String readId(String method, String path, JsonRpc.Message rpc) {
        if (!reads(method) || readAt == null) {
            return null;
        }
        int at = path.lastIndexOf(readAt);
        String id = at < 0 ? "" : path.substring(at + readAt.length());
        return id.isEmpty() || id.indexOf('/') >= 0 ? null : id;
    }

    /** Whether such a read makes the job's model run again; none does by default. */
    boolean runs(JsonRpc.Message rpc) {
        return false;
    }

    /** Whether {@code answer} is the job {@code id}'s; at a kind's own read path, whatever it answers. */
    boolean shows(String id, JsonRpc.Message rpc, JsonDocumentScanner.Document answer) {
        return true;
    }

    abstract String state(int status, JsonDocumentScanner.Document answer);

    abstract boolean ends(int status, JsonDocumentScanner.Document answer);

    /**
     * The job a request created: not a read, answered (2xx) with one JSON document ({@code answer}) a kind
     * takes for its creation's; {@code null} otherwise.
     */
    static Job created(String method, String path, Predicate<String> bodyTrue, JsonDocumentScanner.Document answer) {
        return created(method, path, bodyTrue, null, answer);
    }

    /** As {@link #created(String, String, Predicate, JsonDocumentScanner.Document)}, the request's JSON-RPC message {@code rpc} (or {@code null}) known. */
    static Job created(String method, String path, Predicate<String> bodyTrue, JsonRpc.Message rpc,
                       JsonDocumentScanner.Document answer) {
        if (answer == null || reads(method)) {
            return null;
        }
        for (PolledCompletion kind : values()) {
            String id = kind.createdId(path, bodyTrue, rpc, answer);
            if (id != null && !id.isEmpty()) {
                return new Job(kind, id, false);
            }
        }
        return null;
    }

    /**
     * The A2A task a request's event stream is about ({@code stream}: every event the JSON-RPC response to
     * {@code rpc}, each about that task): a {@code message/stream} (A2A 0.3, 7.2), which makes a task or, naming
     * one in {@code params.message.taskId}, continues it, or a {@code tasks/resubscribe} (7.9) naming it. Such a
     * stream's events are what its run did (each artifact once), not the task whole: what it is charged adds to
     * what the task was charged, so that a read of the task afterwards is charged only what passes all of it.
     * {@code null} for anything else.
     */
    static Job streamed(String method, JsonRpc.Message rpc, JsonRpc.Stream stream) {
        if (!"POST".equals(method) || rpc == null || !rpc.request() || stream == null || !rpc.id().equals(stream.id())) {
            return null;
        }
        String named = switch (rpc.method()) {
            case "message/stream" -> rpc.taskId();
            case "tasks/resubscribe" -> rpc.paramsId();
            default -> "";
        };
        return "".equals(named) || named != null && !named.equals(stream.taskId()) || "tasks/resubscribe".equals(rpc.method())
                && named == null ? null : new Job(A2A_TASK, stream.taskId(), false);
    }

    /**
     * The job a read ({@code GET}, {@code HEAD}) names at a kind's read path, the id its last segment; {@code null}
     * otherwise. {@code path} as the container routed it (decoded, dot segments resolved).
     */
    static Job read(String method, String path) {
        return read(method, path, null);
    }

    /**
     * The job a request names as a read of it ({@link #readId}): at a kind's read path, or an A2A request naming its
     * task; {@code null} otherwise. Whether it is one is for its answer to show ({@link Job#shownBy}).
     */
    static Job read(String method, String path, JsonRpc.Message rpc) {
        for (PolledCompletion kind : values()) {
            String id = kind.readId(method, path, rpc);
            if (id != null && !id.isEmpty()) {
                return new Job(kind, id, kind.runs(rpc));
            }
        }
        return null;
    }

    private static boolean reads(String method) {
        return "GET".equals(method) || "HEAD".equals(method);
    }
}
