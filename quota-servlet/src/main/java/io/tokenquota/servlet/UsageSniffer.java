package io.tokenquota.servlet;

import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Finds the model's reported token usage in a response while its bytes pass through, without keeping
 * the response. A JSON body (or a stream of JSON documents) is scanned document by document; a
 * {@code text/event-stream} is split into events and each event's {@code data} is scanned on its own.
 * Memory per response is a few small buffers whatever its size: string contents past a short prefix
 * are dropped before parsing ({@link JsonDocumentScanner}).
 *
 * <p>Usage is read only where each provider puts it, never from content a model or a user wrote
 * (tool arguments, echoed JSON):
 * <ul>
 *   <li>OpenAI chat completions and Responses: the document's top-level {@code usage}
 *       ({@code total_tokens}, else {@code prompt_tokens + completion_tokens}); in a Responses stream,
 *       {@code response.usage} of a {@code response.*} event;</li>
 *   <li>Anthropic Messages: the top-level {@code usage} of a message or a {@code message_delta} event,
 *       and {@code message.usage} of the {@code message_start} event, merged field by field:
 *       {@code input_tokens + output_tokens + cache_creation_input_tokens + cache_read_input_tokens}, and
 *       the same of the passes of {@code usage.iterations} billed beside the top level (a compaction, an
 *       advisor's call; not the hop that answered, a {@code message} or {@code fallback_message});</li>
 *   <li>Gemini: the top-level {@code usageMetadata} ({@code totalTokenCount}, else the sum of its parts),
 *       also spelt in snake_case;</li>
 *   <li>Bedrock Converse ({@code usage.totalTokens} or its parts), Cohere ({@code tokens} or
 *       {@code billed_units} of its usage object), Groq's stream ({@code x_groq.usage}), Ollama and
 *       llama.cpp's native answers (counters at the top of the answer), LM Studio's native chat ({@code stats}): see
 *       {@link JsonDocumentScanner#USAGE_PATHS} and {@link JsonDocumentScanner#ROOT_COUNTERS}.</li>
 * </ul>
 * The first usage seen fixes the format of the response; usage in another format later is ignored
 * rather than merged. Within the format, the last report wins (Anthropic: per field), except where
 * a format's reports are parts that add up ({@link #addUp}): LangChain's streamed
 * {@code usage_metadata} (each chunk's delta; read also in {@code astream_events}' chat model events
 * and at the first element of a LangGraph {@code messages-tuple} event; each message, by its id or its
 * run's, counted apart and the messages added up) and a Dify workflow's nodes.
 *
 * <p>Anthropic's {@code message_start} usage is a snapshot taken before the model wrote its answer
 * ({@code output_tokens} 1); the output is counted only by the {@code message_delta} at the end of
 * the stream. Until a top-level Anthropic {@code usage} (a {@code message_delta}, or a whole message)
 * came after it, the usage is {@linkplain #provisional() provisional}: a stream cut before its
 * {@code message_delta} reports less than the model produced.
 *
 * <p>Gemini's {@code streamGenerateContent} carries {@code usageMetadata} in every chunk, but a chunk
 * before the last may count the prompt alone ({@code totalTokenCount} = {@code promptTokenCount}):
 * the output is counted only by the chunk that ends the answer. A Gemini report is provisional unless
 * the document that carried it counts the answer's output ({@code candidatesTokenCount} above 0;
 * thoughts alone do not count) or ends the answer (a candidate with a {@code finishReason}, a
 * {@code promptFeedback.blockReason}); a later final report makes the usage final.
 *
 * <p>Thread-safe: an async servlet may write from another thread than the one that settles.
 */
final class UsageSniffer {
    private enum Mode { UNDECIDED, PRELUDE, JSON, SSE, DECODED, OFF }

    private enum Format { OPENAI, ANTHROPIC, GEMINI, BEDROCK, COHERE, OLLAMA, LLAMA_CPP, WATSONX, REPLICATE, TGI, LMDEPLOY,
        LMSTUDIO, LANGCHAIN, LANGCHAIN4J, DIFY }

    /** A reader for an answer to a request whose input is estimated at {@code inputEstimate} tokens. */
    UsageSniffer(long inputEstimate) {
        this.inputEstimate = Math.max(0, inputEstimate);
    }

    /** A reader for another answer to the same request (fed the same way: writer text or bytes). */
    synchronized UsageSniffer another() {
        UsageSniffer other = new UsageSniffer(inputEstimate);
        other.writerText = writerText;
        other.countAnswer = countAnswer;
        other.requestBytes = requestBytes;
        other.manyCompletions = manyCompletions;
        other.sentBack = sentBack;
        other.textEstimator = textEstimator;
        other.echoes = echoes;
        other.prompt = prompt;
        other.budget = budget;
        other.countRaw = countRaw;
        other.accepted = accepted;
        return other;
    }

    /**
     * Counts the model's new text in the answer's stream deltas ({@link StreamText}): what an answer cut
     * before its usage wrote is then known only from them. {@code echoes}: what the prompt the request
     * asked back costs ({@code "echo": true}; 0 when none), which its input already counts and the answer
     * repeats; asked once, only when some text was counted. {@code budget}: the output the request's
     * own budget allows (all its completions), or -1 when it names none.
     */
    synchronized void countText(io.tokenquota.TokenEstimator estimator, java.util.function.LongSupplier echoes,
                                long budget, boolean raw) {
        this.textEstimator = estimator;
        this.echoes = echoes;
        this.budget = budget;
        this.countRaw = raw;
    }

    /** Whether text written raw counts too ({@link RawText}), besides the formats' deltas. */
    private boolean countRaw;

    /**
     * The prompt the request sent ({@link PromptEcho#sentIn}), read when the answer's text is first counted: an
     * answer's text that begins with it counts without it ({@link StreamText}); {@code null} when none is told.
     */
    synchronized void promptSent(java.util.function.Supplier<PromptEcho> prompt) {
        this.prompt = prompt;
    }

    private java.util.function.Supplier<PromptEcho> prompt;

    /**
     * How far the text counted may pass a budget the request named before it counts: the estimator's
     * count of a model's text strays from the provider's (repeated short words count near double), and
     * a model keeps to the budget it is given. Text beyond this many times the budget was written
     * under another one (a relay that sends its own in place of the client's).
     */
    static final int BUDGET_TOLERANCE = 2;
    private long budget = -1;

    private io.tokenquota.TokenEstimator textEstimator;
    private java.util.function.LongSupplier echoes;
    /** {@link #echoes}' answer, once asked. */
    private Long echoed;
    /** The tokens of the deltas read so far ({@link #countText}). */
    private long textTokens;

    /**
     * The model's new text the answer's stream deltas carried, in estimated tokens ({@link #countText});
     * 0 when text is not counted, or when it stays within {@link #BUDGET_TOLERANCE} times the budget the
     * request named. Like usage, an answer written before this one that the client got adds
     * up, and the larger of this answer's readings counts.
     */
    synchronized long textTokens() {
        long written = writtenText();
        return budget >= 0 && written <= BUDGET_TOLERANCE * budget ? 0 : written;
    }

    /**
     * The same text as the output of a report that counted the input (Anthropic's {@code message_start}):
     * within {@link #BUDGET_TOLERANCE} times the budget the request named it counts too, at most that budget,
     * because such a report's input may leave no room for the estimate's output part (round 261: a stream
     * cut after 4,800 tokens of text, its 12,000-token prefix read from the prompt cache, was charged the
     * input alone).
     */
    synchronized long outputTextTokens() {
        long written = writtenText();
        return budget >= 0 && written <= BUDGET_TOLERANCE * budget ? Math.min(written, budget) : written;
    }

    /** The model's new text the deltas carried, less a prompt the answer echoed (the request's own text). */
    private long writtenText() {
        long own = Math.max(0, carriedText() - covered);
        if (own > 0 && echoes != null && echoed == null) {
            echoed = echoes.getAsLong();
        }
        // an echoed prompt is the request's text, counted in its input
        return echoed == null ? own : Math.max(0, own - echoed);
    }

    /**
     * The model's text written raw ({@link RawText}): an answer's that no format reads, under a label a
     * text may have ({@link #textual}), or the data of events that are no JSON document; {@code null}
     * when there was none or it is not counted (a {@code GET}: {@link #countRaw}).
     * {@link #rawOverflow}: the tokens of an event's data past what one event keeps, at
     * {@link StreamText#BYTES_PER_TOKEN}.
     */
    private RawText rawText;
    private long rawOverflow;
    /**
     * What raw events that repeat the one before them counted for that one again ({@link RawEvents}): an
     * application that sends the message so far in every event is charged the message once.
     */
    private long rawRepeated;
    /**
     * {@link #rawText} counts a body that started like JSON, which is the model's text if it turned out to
     * be none ({@link #notJson}), even after a document with a provider's shape: a provider writes its JSON
     * whole (round 229: an answer opening with an example chunk was charged the fallback). A stream's end
     * marker between documents breaks nothing: it is taken out before they are read ({@link StreamEndMarkers}).
     */
    private boolean rawJson;
    private boolean notJson;
    /** Takes a relayed stream's end markers out before the documents are read. */
    private final StreamEndMarkers markers = new StreamEndMarkers();

    /**
     * The text written while nested includes that reported a figure of their own ran: their figures charge it
     * ({@link QuotaResponse#nestedInclude}).
     */
    private long covered;

    /** The text covered so far ({@link #cover}). */
    synchronized long covered() {
        return covered;
    }

    /** The text counted so far, includes' too. */
    synchronized long textSoFar() {
        return carriedText();
    }

    /** {@code tokens} of the text counted so far were written by an include whose figure charges them. */
    synchronized void cover(long tokens) {
        if (tokens > 0) {
            covered = StreamText.plus(covered, tokens);
        }
    }

    /** {@link #textTokens} before an echoed prompt is taken off. */
    private synchronized long carriedText() {
        long body = oneBodyDocument() ? StreamText.plus(textTokens, loneText) : textTokens;
        long own = decoded != null ? decoded.carriedText()
                : rawText == null || rawJson && !notJson ? body
                : StreamText.plus(body, Math.max(0, StreamText.plus(rawText.tokens(), rawOverflow) - rawRepeated));
        for (UsageSniffer other : new UsageSniffer[] {discarded, utf8Reading}) {
            if (other != null) {
                own = Math.max(own, other.carriedText());
            }
        }
        for (UsageSniffer e : earlier) {
            own = StreamText.plus(own, e.carriedText());
        }
        return own;
    }

    /**
     * The text of the answer's first JSON document that counts only if it is the answer's only one
     * ({@link JsonDocumentScanner.Document#loneText}: a knowledge base's {@code output.text}), the document cut short
     * when none ended before it.
     */
    private long loneText;
    /** The answer's JSON broke off inside a document that was not accepted ({@link #finish}). */
    private boolean cutDocument;

    /**
     * Whether the body read is one JSON document, where {@link #loneText} counts: one document ended (or one was
     * cut short, none before it), none begun after it. Told here, where the documents are counted, and only here:
     * a sequence of plain JSON documents (JSON lines, a JSON text sequence, an array's elements) is a stream whose
     * documents may each repeat the answer so far (round 504: DashScope's application stream, its default
     * {@code incremental_output: false}, relayed as JSON lines, 12 lines of a 2,620-token answer were charged the
     * sum of their prefixes, 17,509); an AWS event stream's events are told by AWS's framing ({@code StreamText}).
     */
    private boolean oneBodyDocument() {
        int read = documents + (cutDocument || json != null && documents > 0 && json.inValue() ? 1 : 0);
        return read == 1;
    }

    /** A reader of JSON documents for this answer, counting their text when asked to. */
    private JsonDocumentScanner scanner(java.util.function.Consumer<JsonDocumentScanner.Document> sink) {
        JsonDocumentScanner scanner = new JsonDocumentScanner(sink, sentBack);
        if (countAnswer != null) {
            // a count is told by its root fields (CountShape#fits)
            scanner.noteRootNames();
        }
        if (textEstimator != null) {
            // a whole answer's text counts where raw text does: not in the answer to a read (stored text)
            scanner.countText(textEstimator, countRaw, seen);
            if (prompt != null) {
                scanner.promptSent(prompt.get());
            }
        }
        return scanner;
    }

    /** What this answer's documents told of its text, across the scanners that read them. */
    private final StreamText.Seen seen = new StreamText.Seen();

    /**
     * What an answer the endpoint wrote and then discarded (a reset before anything was sent) reported:
     * the model produced it, so its usage counts when it is the larger.
     */
    synchronized void discarded(UsageSniffer other) {
        Long usage = other.usage();
        if (usage != null && (discarded == null || usage > discarded.usage())) {
            discarded = other;
        }
    }

    /** The largest-reporting answer a reset discarded, or {@code null}. */
    private UsageSniffer discarded;

    /**
     * Answers written before this one that reached the client all the same (an include's, whose
     * {@code reset()} the container ignores): the model produced each, so their usage adds up with this
     * one's. Guarded by this.
     */
    private final java.util.List<UsageSniffer> earlier = new java.util.ArrayList<>();

    /** An answer written before this one that the client got too: its usage is added to this one's. */
    synchronized void sentBefore(UsageSniffer other) {
        earlier.add(other);
    }

    /** A reader for an answer whose request's input is not known (0 stands for it). */
    UsageSniffer() {
        this(0);
    }

    private Mode mode = Mode.UNDECIDED;
    private Format format;
    private Long latest;
    /** {@link #latest} by kind of token; see {@link #kinds()}. */
    private long[] kinds;
    /** The models the answer's envelopes named, distinct, at most {@link Weighing#MAX_CANDIDATES}. */
    private final java.util.Set<String> models = new java.util.LinkedHashSet<>();
    private final Map<String, Long> anthropic = new HashMap<>();
    /**
     * The counters at the top of the answer, merged over a stream's documents: Bedrock's Meta models
     * count the prompt in the first chunk only ({@code null} after), Titan its input likewise.
     */
    private final Map<String, Long> rootCounters = new HashMap<>();
    /**
     * The calls' usage when one answer reports several calls ({@link JsonDocumentScanner.Document#call}):
     * a batch results file, llama.cpp's answer to a list of prompts. They add up; created at the first.
     */
    private AnswerCalls calls;
    /**
     * The reports of a format whose reports add up ({@link #addUp}) that name no message,
     * {@code {total, kinds...}}: their sum, and the last report that is already a total; {@code null}
     * until one came.
     */
    private long[] parts;
    private long[] whole;
    /**
     * The reports of messages past {@link #MAX_MESSAGES}, which cannot be told apart: their parts'
     * sum and their totals' sum, each message's usage in one of them or in both (its deltas and its
     * end); the larger counts.
     */
    private long[] overflowParts;
    private long[] overflowTotals;
    /**
     * The named messages' reports ({@link #addUp}), by a salted 64-bit digest of the name
     * ({@link AnswerCalls#digest}), never the name itself; created at the first.
     */
    private Map<Long, MessageReports> messages;
    /** The named messages' usage added up, kept as reports come; recomputed once a sum saturated. */
    private long[] messagesSum;
    private boolean messagesSaturated;
    private java.security.MessageDigest sha256;
    /** Messages whose reports are kept apart; those of more are summed as parts and as totals. */
    static final int MAX_MESSAGES = 1_024;

    /** One message's reports ({@link #addUp}), each {@code {total, kinds...}}. */
    private static final class MessageReports {
        /** The parts' sum, the last part, and whether the parts turned out to be running totals. */
        private long[] deltas;
        private long[] last;
        private boolean running;
        /** The last part was a message chunk (the running-totals rule compares two in a row). */
        private boolean lastChunk;
        /** A chunk without usage came since the last part ({@link #withoutUsage}). */
        private boolean gap;
        /** The largest report that is already the message's total. */
        private long[] total;
        /** {@link #usage()} as last added into the messages' sum. */
        private long[] counted;
        /** An AutoGen report of 0/0 came for this message ({@link #autoGen}). */
        private boolean placeholder;

        long[] usage() {
            return larger(running ? last : deltas, total);
        }
    }
    /** Bedrock's {@code amazon-bedrock-invocationMetrics}: the service's own count, final; {@code null} until seen. */
    private Long invocationTotal;
    private long[] invocationKinds;
    /**
     * The request's estimated input tokens: what a report that counts only the output (TGI's
     * {@code generated_tokens} without {@code input_length}, Ollama without {@code prompt_eval_count}) leaves out.
     */
    private final long inputEstimate;

    /** The request's input as held, in raw tokens. */
    long inputEstimate() {
        return inputEstimate;
    }

    /** The last report counted the output only: the input estimate is added to it. */
    private boolean outputOnly;
    /**
     * The last report is known to come before the final counts: an Anthropic {@code message_start}, a
     * Gemini chunk that counted no output and did not end the answer, a llama.cpp chunk before the one
     * that stops.
     */
    private boolean unfinished;

    private JsonDocumentScanner json;
    private Transcoder transcoder;
    private final SseEvents sse = new SseEvents();
    /**
     * The answer is read in a format its Content-Type does not name: a model may have written the
     * "usage" in it, so whatever is found is {@linkplain #provisional() provisional}.
     */
    private boolean mislabelled;
    /**
     * The event stream ended a line with a lone CR, or carried usage in an event that was more than
     * one JSON document on one data line: text written raw into events (a model's) may have made
     * those lines, so the usage is {@linkplain #provisional() provisional}.
     */
    private boolean loneCr;
    private boolean framingSuspect;
    /** The bytes fed are characters the application wrote through the writer, encoded as UTF-8. */
    private boolean writerText;
    /**
     * An answer the endpoint encoded itself (gzip, deflate) or framed in AWS's binary event stream:
     * {@link #decoding} undoes that and {@link #decoded} reads the result; its findings are this one's.
     */
    private AnswerDecoding decoding;
    private UsageSniffer decoded;
    private String decodedType;
    private final java.io.ByteArrayOutputStream decodedHead = new java.io.ByteArrayOutputStream();
    /** Decoded bytes gathered before the decoded answer's reader chooses its format. */
    private static final int DECODED_HEAD = 64;

    /**
     * Chooses JSON, SSE or nothing when the headers go out, from the answer's first characters
     * whatever its Content-Type says: a framework (Spring MVC's String and byte[] converters) labels a
     * relayed answer with whatever type the client's {@code Accept} asked for ({@code application/xml},
     * {@code image/png}, {@code text/plain;charset=UTF-16}, {@code application/json} on an event
     * stream), so a label can hide a usage but never vouches for one. The first bytes are decoded in
     * the declared charset, else by byte order mark or UTF-16/32 detection, before they are looked at:
     * a body that starts like a JSON document ({@code {} or {@code [}) is read as JSON, one that starts
     * like an event stream ({@code data:}, {@code event:}, {@code id:}, {@code retry:}, a {@code :}
     * comment) as server-sent events, one whose first 12 bytes are AWS's event-stream prelude
     * ({@link AnswerDecoding#startsAsEventStream}, its CRC32 checked) unframed as that (its label
     * {@code application/vnd.amazon.eventstream}; round 344). Where the label agrees with the body (a JSON
     * type on a JSON body, {@code text/event-stream} on events, AWS's label on its framing, or no label at
     * all) the usage found is the server's; where
     * it does not ({@code text/*}, xml, images, {@code application/octet-stream}, a JSON type on an
     * event stream), a model's text may have been written to look like an answer, so the usage is only
     * {@linkplain #provisional() provisional}: it can raise the charge above the estimate, never lower
     * it. A body that starts like neither is not read, unless its first bytes are too few to tell and
     * its label names the format. When the declared charset's reading starts like neither, the body's
     * own reading (byte order mark or UTF-16/32 detection, else UTF-8) is tried: a relay that writes the
     * upstream's bytes unchanged under the charset the client's {@code Accept} named is read in that
     * charset, and its usage is provisional. A body that a filter placed before this one compresses afterwards is
     * still plain here; one already compressed is not read.
     */
    synchronized void begin(String contentType, String contentEncoding, byte[] head) {
        if (mode != Mode.UNDECIDED) {
            return;
        }
        String type = contentType == null ? "" : contentType.toLowerCase(Locale.ROOT);
        // the field's lines joined (QuotaResponse), read as the list of codings it is (round 383)
        List<String> codings = AnswerDecoding.codings(contentEncoding);
        boolean encoded = !codings.isEmpty();
        // AWS's binary event stream (Bedrock's ConverseStream, InvokeModelWithResponseStream) is told by its
        // prelude's CRC, whatever the label: a byte[] relay's bytes go out under whatever type the client's
        // Accept names (application/octet-stream for */*), and its usage was never read (round 344)
        boolean awsLabel = type.startsWith("application/vnd.amazon.eventstream");
        // (characters written through the writer are text, fed here as UTF-8 rather than as the bytes sent)
        boolean awsBody = !writerText && AnswerDecoding.startsAsEventStream(head);
        if (!awsBody && !awsLabel && !writerText && !preludeAwaited && AnswerDecoding.mayStartEventStream(head)) {
            // fewer than 12 bytes that may be a prelude (a relay flushing as its upstream's bytes come,
            // round 237's five at a time): the format is chosen once 12 came (feed), or at the end
            preludeAwaited = true;
            preludeType = contentType;
            preludeEncoding = contentEncoding;
            mode = Mode.PRELUDE;
            return;
        }
        // raw deflate has no magic number, and its first byte (a block header) may be one a JSON or event
        // stream starts with: an answer the header says is deflated and whose first bytes inflate to
        // one is compressed
        boolean plain = awsBody || !looksCompressed(head) && !(codings.contains("deflate")
                && inflatesToAnswer(head));
        boolean unlabelled = type.isBlank();
        boolean jsonLabel = type.contains("json");
        boolean sseLabel = type.startsWith("text/event-stream");
        // characters from the writer arrive as UTF-8 whatever charset the container encodes them in
        java.nio.charset.Charset charset = writerText ? java.nio.charset.StandardCharsets.UTF_8 : charsetOf(type, head);
        String start = startOf(head, charset);
        // JSON text sequences (RFC 7464, application/json-seq) start each record with RS: read as the
        // JSON documents one after another that they are, the separators made white space (feed)
        jsonSeq = start.startsWith(RECORD_SEPARATOR);
        if (jsonSeq) {
            int i = 0;
            while (i < start.length() && (start.charAt(i) == RECORD_SEPARATOR.charAt(0) || start.charAt(i) <= ' ')) {
                i++;
            }
            start = start.substring(i);
        }
        for (String guard : ANTI_HIJACKING_PREFIXES) {
            if (start.startsWith(guard)) {
                // a JSON answer behind a guard against JSON hijacking (Spring's Jackson converter with
                // prefixJson): the JSON after it is read, its usage provisional (the guard is the
                // application's, not a provider's framing)
                String rest = start.substring(guard.length()).stripLeading();
                if (rest.startsWith("{") || rest.startsWith("[")) {
                    prefixToSkip = guard;
                    start = rest;
                    mislabelled = true;
                }
                break;
            }
        }
        boolean jsonBody = start.startsWith("{") || start.startsWith("[");
        boolean eventBody = !jsonSeq && startsLikeEvents(start);
        boolean partsBody = !jsonSeq && startsLikeParts(start);
        boolean relabelled = false;
        if (!jsonBody && !eventBody && !partsBody && !writerText && !(start.length() < 8 && (jsonLabel || sseLabel))) {
            // a relay may write the upstream's bytes (UTF-8) under the charset the client's Accept named:
            // the body's own reading (byte order mark, UTF-16/32 detection, else UTF-8) decides instead
            java.nio.charset.Charset detected = charsetOf("", head);
            if (!detected.equals(charset)) {
                String raw = startOf(head, detected);
                if (raw.startsWith("{") || raw.startsWith("[") || startsLikeEvents(raw)) {
                    charset = detected;
                    start = raw;
                    jsonBody = raw.startsWith("{") || raw.startsWith("[");
                    eventBody = !jsonBody;
                    relabelled = true;
                }
            }
        }
        // AWS's label decides only where the bytes are too few to tell, as a JSON or event-stream label does;
        // a body that is something else under it (a JSON error, an InvokeModel answer whole) is read as that
        boolean awsFraming = awsBody || awsLabel && (head == null || head.length < AnswerDecoding.PRELUDE)
                && !jsonBody && !eventBody && !partsBody;
        AnswerDecoding undo = encoded && !plain ? AnswerDecoding.of(codings, this::feedDecoded)
                : awsFraming ? AnswerDecoding.eventStream(this::feedDecoded, agentHeaders, invokeModelHeader) : null;
        if (undo != null) {
            decoding = undo;
            decoded = new UsageSniffer(inputEstimate);
            // the InvokeModel families' text fields count in the chunk documents of an event stream alone (round 494)
            decoded.seen.invokeModelChunks(undo::chunkDocuments);
            if (!(encoded && !plain)) {
                // AWS's framing: each document is one message AWS named (a knowledge base's output event: StreamText)
                decoded.seen.awsEvents();
            }
            decoded.agentHeaders = agentHeaders;
            decoded.invokeModelHeader = invokeModelHeader;
            decoded.countAnswer = countAnswer;
            decoded.requestBytes = requestBytes;
            decoded.manyCompletions = manyCompletions;
            decoded.sentBack = sentBack;
            decoded.textEstimator = textEstimator;
            decoded.countRaw = countRaw;
            decoded.accepted = accepted;
            // an event stream's payloads are events (AnswerDecoding writes each as one); an inflated
            // answer keeps its label (its reader tells an event stream inside from its own first bytes)
            decodedType = encoded && !plain ? contentType : "text/event-stream";
            // the body decides the format, the label only whether its usage is final: AWS's framing under
            // another label (octet-stream, any type a client's Accept named) may be bytes a client had the
            // model write, so what it reports is provisional (docs/decisions.md; round 344)
            decoded.mislabelled = awsFraming && !(awsLabel || unlabelled);
            mode = Mode.DECODED;
            return;
        }
        if (encoded && !plain) {
            mode = Mode.OFF;
        } else if (jsonBody) {
            json = scanner(doc -> accept(doc, false));
            mode = Mode.JSON;
            mislabelled = mislabelled || relabelled || !(jsonLabel || unlabelled);
            // an array may be a stream of documents (Gemini's streamGenerateContent without alt=sse) and a
            // sequence's records are; lines are told by a second document, not by a label, which a client's
            // Accept may choose (round 351: a completion Spring wrote as application/stream+json): see oneDocument
            jsonObject = start.startsWith("{") && !jsonSeq;
        } else if (eventBody) {
            mode = Mode.SSE;
            // (already set on the reader of an AWS event stream's payloads under another label)
            mislabelled = mislabelled || relabelled || !(sseLabel || unlabelled);
            // a comment is a server's keep-alive only in an answer it labelled as events; under another
            // label it is a model's line that opens with a colon (an emoji shortcode)
            sse.commentsAreText = !(sseLabel || unlabelled);
        } else if (partsBody) {
            // the Vercel AI SDK's data stream: its header says the server framed it; without it the
            // lines may be a model's plain text, so what they report is charged at least the estimate
            mode = Mode.SSE;
            sse.parts = true;
            mislabelled = !dataStreamHeader;
        } else if (start.length() < 8 && jsonLabel) {
            // too few characters to tell (one byte written first): the server's own label decides
            json = scanner(doc -> accept(doc, false));
            mode = Mode.JSON;
        } else if (start.length() < 8 && sseLabel) {
            mode = Mode.SSE;
        } else {
            mode = Mode.OFF;
            if (!encoded && textual(type, head, writerText ? java.nio.charset.StandardCharsets.UTF_8 : charset, accepted)) {
                // a model's text returned as it is (a String from Spring AI's call().content(), under whatever
                // label the client's Accept chose): no usage comes with it, its length is what the model wrote
                rawText = countRaw && textEstimator != null ? new RawText(textEstimator, writerText
                        ? java.nio.charset.StandardCharsets.UTF_8 : charset) : null;
            }
            if (!encoded && !writerText && !type.startsWith("video/")
                    && (type.startsWith("audio/") || head != null && AudioDuration.startsAsAudio(head))) {
                // speech the model wrote: no usage comes with it, its length is what it cost
                audio = new AudioDuration.Answer(type);
            }
            if (!encoded && !writerText && (type.startsWith("image/") || head != null && MediaSize.isImage(head))) {
                // a picture the model drew, returned as it is: no usage comes with it, its size tells what it cost
                image = new java.io.ByteArrayOutputStream();
            }
        }
        transcoder = mode == Mode.OFF || writerText ? null : Transcoder.of(charset);
        if (mode == Mode.JSON && countRaw && textEstimator != null) {
            // a body that starts like JSON may be a model's text (markdown opening with a link): counted if
            // it turns out to be no JSON (rawJson). JSON itself is not: a vector of floats, an image's
            // base64, an application's envelope around a provider's answer are no text a model wrote
            rawText = new RawText(textEstimator, transcoder != null || writerText ? java.nio.charset.StandardCharsets.UTF_8 : charset);
            rawJson = true;
        }
        if (transcoder != null && (mode == Mode.JSON || mode == Mode.SSE) && !charset.name().startsWith("UTF")
                && charset.newEncoder().maxBytesPerChar() > 1) {
            utf8Reading = another();
            utf8Reading.begin((mode == Mode.SSE ? "text/event-stream" : "application/json") + ";charset=utf-8", null, head);
            // read as the same label would be: what it finds is as provisional as this reading's
            utf8Reading.mislabelled = mislabelled;
        }
    }

    /**
     * The first bytes fed while they were too few to tell AWS's event stream ({@link Mode#PRELUDE}); the
     * answer's label and encoding they are then read under; whether the choice waited once already.
     */
    private final java.io.ByteArrayOutputStream prelude = new java.io.ByteArrayOutputStream();
    private String preludeType;
    private String preludeEncoding;
    private boolean preludeAwaited;

    /** Chooses the format from the bytes gathered while it waited for a prelude, and reads them. */
    private void choosePrelude() {
        byte[] head = prelude.toByteArray();
        prelude.reset();
        mode = Mode.UNDECIDED;
        begin(preludeType, preludeEncoding, head);
        feed(head, 0, head.length);
    }

    /** The audio the answer carries, when it is audio; {@code null} otherwise. */
    private AudioDuration.Answer audio;
    /** Pictures the answer's JSON carried as base64 ({@code b64_json}), by {@link ImageOutput#shape}. */
    private final long[] pictures = new long[ImageOutput.KINDS];

    /** {@link #pictures}, of what an inflated answer held when the filter inflated it. */
    synchronized long[] pictures() {
        return decoded != null ? decoded.pictures() : pictures.clone();
    }

    /** The first {@link #IMAGE_HEAD} bytes of an answer that is an image; {@code null} otherwise. */
    private java.io.ByteArrayOutputStream image;
    /** Bytes of an image answer kept to read its size: its header, and the metadata a JPEG puts before it. */
    private static final int IMAGE_HEAD = 65_536;

    /**
     * {@code {width, height}} of the image the answer is ({@code {0, 0}}: an image whose size its first
     * {@link #IMAGE_HEAD} bytes do not tell), or {@code null} when the answer is no image.
     */
    synchronized long[] imageSize() {
        if (decoded != null) {
            return decoded.imageSize();
        }
        if (image == null) {
            return null;
        }
        long[] size = MediaSize.imageSize(image.toByteArray());
        return size != null ? size : new long[] {0, 0};
    }

    /** Milliseconds of audio the answer carried, or -1 when it is no audio. */
    synchronized long audioMillis() {
        // an answer the filter inflates (gzip, deflate) is measured by the reader of what it inflates to
        return decoded != null ? decoded.audioMillis() : audio == null ? -1 : audio.millis();
    }

    /** The record separator (RS, U+001E) that starts each record of a JSON text sequence (RFC 7464). */
    private static final String RECORD_SEPARATOR = "\u001E";
    /** The answer is a JSON text sequence: its record separators are white space to the JSON reader. */
    private boolean jsonSeq;

    /** The bytes with each record separator (0x1E) an LF, copied when there is one; the bytes sent are untouched. */
    private static byte[] recordsAsLines(byte[] bytes, int off, int len) {
        byte[] copy = null;
        for (int i = off; i < off + len; i++) {
            if (bytes[i] == 0x1E) {
                if (copy == null) {
                    copy = java.util.Arrays.copyOfRange(bytes, off, off + len);
                }
                copy[i - off] = '\n';
            }
        }
        return copy;
    }

    /** Guards against JSON hijacking that servers put before a JSON answer (Spring's {@code )]}', }, Google's). */
    private static final String[] ANTI_HIJACKING_PREFIXES = {")]}',", ")]}'", "while(1);", "for(;;);"};
    /** The guard still to drop before the JSON (after any byte order mark and white space); null when none. */
    private String prefixToSkip;
    private int prefixMatched;

    /** Drops the bytes of {@link #prefixToSkip} (and what precedes it) from a chunk; how many it dropped. */
    private int skipPrefix(byte[] bytes, int off, int len) {
        int i = off;
        int end = off + len;
        while (i < end && prefixToSkip != null) {
            int b = bytes[i] & 0xFF;
            if (prefixMatched == 0 && (b == ' ' || b == '\t' || b == '\r' || b == '\n' || b == 0xEF || b == 0xBB || b == 0xBF)) {
                i++;
            } else if (b == prefixToSkip.charAt(prefixMatched)) {
                i++;
                if (++prefixMatched == prefixToSkip.length()) {
                    prefixToSkip = null;
                }
            } else {
                // not the guard after all: the parser sees the rest as it is
                prefixToSkip = null;
            }
        }
        return i - off;
    }

    /**
     * Whether an answer starts like the Vercel AI SDK's data stream ({@code toDataStreamResponse()}):
     * one part per line, a part code, a colon and a JSON value ({@code f:{"messageId":…}},
     * {@code 0:"text"}), the finish parts {@code e:} and {@code d:} carrying {@code usage}.
     */
    private static boolean startsLikeParts(String start) {
        if (start.length() < 3 || start.charAt(1) != ':') {
            return false;
        }
        char code = start.charAt(0);
        char value = start.charAt(2);
        return ((code >= '0' && code <= '9') || (code >= 'a' && code <= 'z'))
                && (value == '{' || value == '[' || value == '"');
    }

    private static boolean startsLikeEvents(String start) {
        return start.startsWith("data:") || start.startsWith("event:") || start.startsWith("id:")
                || start.startsWith("retry:") || start.startsWith(":");
    }

    /** The first characters of the answer, decoded, without a byte order mark or leading whitespace. */
    private static String startOf(byte[] head, java.nio.charset.Charset charset) {
        if (head == null || head.length == 0) {
            return "";
        }
        java.nio.charset.CharsetDecoder decoder = charset.newDecoder()
                .onMalformedInput(java.nio.charset.CodingErrorAction.REPLACE)
                .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPLACE);
        java.nio.CharBuffer chars = java.nio.CharBuffer.allocate(64);
        decoder.decode(java.nio.ByteBuffer.wrap(head, 0, Math.min(head.length, 256)), chars, false);
        chars.flip();
        String s = chars.toString();
        int i = 0;
        while (i < s.length() && (s.charAt(i) == '\uFEFF' || s.charAt(i) == ' ' || s.charAt(i) == '\t'
                || s.charAt(i) == '\r' || s.charAt(i) == '\n')) {
            i++;
        }
        return s.substring(i);
    }

    /**
     * The application writes through {@code getWriter()}: what is fed is its characters as UTF-8, not
     * the bytes in the declared charset, so the declared charset must not be decoded again.
     */
    synchronized void fedWriterText() {
        writerText = true;
    }

    /**
     * The {@code charset} parameter of a media type; without one (or an unknown one), the charset its
     * byte order mark names, else UTF-16/32 told by where the zero bytes of the first character are
     * (as RFC 4627 detects JSON's encoding), else UTF-8.
     */
    private static java.nio.charset.Charset charsetOf(String type, byte[] head) {
        java.util.List<java.nio.charset.Charset> labelled = BodyText.labelled(type);
        return labelled.isEmpty() ? BodyText.detected(head) : labelled.get(0);
    }

    /**
     * Re-encodes an answer written in another charset (UTF-16, ISO-8859-1...) as UTF-8, chunk by
     * chunk, for the parsers, which read UTF-8; the bytes sent to the client are untouched.
     */
    private static final class Transcoder {
        private final java.nio.charset.CharsetDecoder decoder;
        private java.nio.ByteBuffer pending = java.nio.ByteBuffer.allocate(0);

        private Transcoder(java.nio.charset.Charset charset) {
            this.decoder = charset.newDecoder().onMalformedInput(java.nio.charset.CodingErrorAction.REPLACE)
                    .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPLACE);
        }

        static Transcoder of(java.nio.charset.Charset charset) {
            return charset.equals(java.nio.charset.StandardCharsets.UTF_8)
                    || charset.equals(java.nio.charset.StandardCharsets.US_ASCII) ? null : new Transcoder(charset);
        }

        byte[] toUtf8(byte[] bytes, int off, int len) {
            java.nio.ByteBuffer in = java.nio.ByteBuffer.allocate(pending.remaining() + len);
            in.put(pending).put(bytes, off, len).flip();
            java.nio.CharBuffer chars = java.nio.CharBuffer.allocate((int) (in.remaining() * (double) decoder.maxCharsPerByte()) + 4);
            decoder.decode(in, chars, false);
            // an incomplete character at the end waits for the next chunk
            pending = java.nio.ByteBuffer.allocate(in.remaining()).put(in).flip();
            chars.flip();
            java.nio.ByteBuffer out = java.nio.charset.StandardCharsets.UTF_8.encode(chars);
            byte[] utf8 = new byte[out.remaining()];
            out.get(utf8);
            return utf8;
        }
    }

    /** gzip's magic number, or bytes no JSON or event stream starts with. */
    private static boolean looksCompressed(byte[] head) {
        if (head == null || head.length == 0) {
            return true;
        }
        int first = firstVisible(head);
        return head.length >= 2 && (head[0] & 0xFF) == 0x1F && (head[1] & 0xFF) == 0x8B
                || first < 0 || !(first == '{' || first == '[' || first == 'd' || first == 'e' || first == ':'
                || first == 'i' || first == 'r' || first == 0x1E);
    }

    /** Whether {@code head}, inflated as raw deflate or as zlib, starts as a JSON or event stream answer does. */
    private static boolean inflatesToAnswer(byte[] head) {
        for (boolean raw : new boolean[] {true, false}) {
            java.util.zip.Inflater inflater = new java.util.zip.Inflater(raw);
            try {
                inflater.setInput(head);
                byte[] out = new byte[64];
                int n = inflater.inflate(out);
                if (n > 0 && !looksCompressed(java.util.Arrays.copyOf(out, n))) {
                    return true;
                }
            } catch (java.util.zip.DataFormatException notDeflate) {
                // not this reading
            } finally {
                inflater.end();
            }
        }
        return false;
    }

    /** The first byte that is not whitespace (a UTF-8 byte order mark skipped), or -1. */
    private static int firstVisible(byte[] head) {
        if (head == null) {
            return -1;
        }
        int i = head.length >= 3 && (head[0] & 0xFF) == 0xEF && (head[1] & 0xFF) == 0xBB && (head[2] & 0xFF) == 0xBF ? 3 : 0;
        for (; i < head.length; i++) {
            int b = head[i] & 0xFF;
            if (b != ' ' && b != '\t' && b != '\r' && b != '\n') {
                return b;
            }
        }
        return -1;
    }

    synchronized boolean started() {
        return mode != Mode.UNDECIDED;
    }

    /** The answer is read as JSON from a first {@code {} ({@link #oneDocument}). */
    private boolean jsonObject;

    /**
     * Whether the answer, as far as it was read, is one JSON document and not a stream: read as JSON from a
     * first {@code {} (not an array, which Gemini's {@code streamGenerateContent} without {@code alt=sse}
     * streams element by element; not a JSON text sequence), no event, and nothing after the end of its first
     * document but white space (a second document makes it NDJSON or JSON lines). The label does not decide:
     * a client's {@code Accept} chooses it (round 351: a finished completion Spring wrote as
     * {@code application/stream+json} to a client that hung up was charged its hold, 1,017 for 45,200), and a
     * stream's relay has written its first short line before a hang-up fails its next. {@code unfinished}: and
     * the first document's end has not been read yet.
     *
     * <p>The rule behind it (round 336): a single non-streamed document starts to be written only once the
     * model has finished, so reading the rest of it costs no model work, and its usage comes last (an
     * OpenAI chat completion as Jackson writes it). A write of it that fails because the client went away
     * is dropped rather than failing the endpoint's write ({@link QuotaResponse}), so that the endpoint
     * writes on to its usage; a stream's writes still fail, so that a relay cancels its provider call.
     */
    synchronized boolean oneDocument(boolean unfinished) {
        if (decoded != null) {
            // an answer the endpoint compressed: its inflated reader tells
            return decoded.oneDocument(unfinished);
        }
        return mode == Mode.JSON && jsonObject && json != null && !sawAnswerEvent
                && (documents == 0 || !unfinished && documents == 1 && !json.inValue());
    }

    /**
     * The whole answer when it is at most {@link #FIRST_BYTES} bytes (a gRPC-Web answer whose only frame is its
     * trailers), else {@code null}.
     */
    synchronized byte[] wholeIfShort() {
        return fed == firstLength ? java.util.Arrays.copyOf(first, firstLength) : null;
    }

    /** The most of an answer's first bytes kept ({@link #wholeIfShort}). */
    static final int FIRST_BYTES = 512;
    private final byte[] first = new byte[FIRST_BYTES];
    private int firstLength;
    /** The answer's bytes fed so far. */
    private long fed;

    /** Whether the answer had a body: any byte of it. */
    synchronized boolean answered() {
        return answered;
    }

    private boolean answered;

    synchronized void feed(byte[] bytes, int off, int len) {
        if (len <= 0) {
            return;
        }
        answered = true;
        int keep = Math.min(len, first.length - firstLength);
        if (keep > 0) {
            System.arraycopy(bytes, off, first, firstLength, keep);
            firstLength += keep;
        }
        fed = fed + len < 0 ? Long.MAX_VALUE : fed + len;
        if (mode == Mode.PRELUDE) {
            prelude.write(bytes, off, len);
            if (prelude.size() >= AnswerDecoding.PRELUDE) {
                choosePrelude();
            }
            return;
        }
        if (utf8Reading != null) {
            utf8Reading.feed(bytes, off, len);
        }
        if (transcoder != null) {
            bytes = transcoder.toUtf8(bytes, off, len);
            off = 0;
            len = bytes.length;
        }
        if (rawText != null && mode == Mode.JSON) {
            rawText.feed(bytes, off, len);
        }
        switch (mode) {
            case JSON -> {
                byte[] lines = jsonSeq ? recordsAsLines(bytes, off, len) : null;
                if (lines != null) {
                    bytes = lines;
                    off = 0;
                }
                if (prefixToSkip != null) {
                    int skipped = skipPrefix(bytes, off, len);
                    off += skipped;
                    len -= skipped;
                }
                markers.filter(bytes, off, len);
                json.feed(markers.bytes(), 0, markers.length());
                if (json.failed()) {
                    // not JSON after all: keep what was found, stop reading
                    mode = Mode.OFF;
                    notJson = true;
                }
            }
            case SSE -> sse.feed(bytes, off, len);
            case DECODED -> decoding.feed(bytes, off, len);
            default -> {
                // not a format we read: bytes only pass through (audio is measured, plain text counted)
                if (audio != null) {
                    audio.feed(bytes, off, len);
                }
                if (image != null && image.size() < IMAGE_HEAD) {
                    image.write(bytes, off, Math.min(len, IMAGE_HEAD - image.size()));
                }
                if (rawText != null) {
                    rawText.feed(bytes, off, len);
                }
            }
        }
    }

    /** End of the response: a document or an event not properly terminated still counts. */
    synchronized void finish() {
        if (mode == Mode.PRELUDE) {
            // fewer than 12 bytes in all: chosen from them as any answer is
            choosePrelude();
        }
        if (utf8Reading != null) {
            utf8Reading.finish();
        }
        if (mode == Mode.DECODED) {
            startDecoded();
            decoded.finish();
        } else if (mode == Mode.SSE) {
            sse.end();
        } else if (json != null) {
            // also after a parse failure: the usage complete before the break still counts
            markers.flush();
            json.feed(markers.bytes(), 0, markers.length());
            // (the end of input inside a document fails the parser: whether it was cut inside one is told first)
            boolean cut = !json.failed() && json.inValue();
            int ended = documents;
            json.end();
            // a document cut short without usage is charged at least its text, as a whole one is (round 336)
            textTokens = StreamText.plus(textTokens, json.cutText());
            if (cut && documents == ended) {
                cutDocument = true;
                if (documents == 0) {
                    loneText = json.cutLoneText();
                }
            }
            jsonBroken = json.failed();
            json = null;
        }
        mode = Mode.OFF;
    }

    /** The answer's JSON broke off or went on as something else, found at its end. */
    private boolean jsonBroken;
    /** The JSON documents of the answer, bodies' and events' alike (at most {@link Integer#MAX_VALUE}), and the last. */
    private int rpcDocuments;
    private JsonDocumentScanner.Document rpcLast;
    /** The events of the answer that carried data, JSON or not. */
    private int dataEvents;
    /** The id and the A2A task of the JSON-RPC responses among the answer's events, the first's; whether one differed. */
    private String streamId;
    private String streamTask;
    private boolean streamMixed;

    /**
     * The answer when it is an event stream whose every document is the JSON-RPC response to one request about one
     * A2A task ({@link JsonRpc.Stream}), no event without a document, in a framing nothing but a server writes;
     * {@code null} otherwise.
     */
    synchronized JsonRpc.Stream rpcStream() {
        if (decoded != null) {
            return decoded.rpcStream();
        }
        return sawAnswerEvent && documents == 0 && !streamMixed && streamId != null && streamTask != null
                && dataEvents == rpcDocuments && earlier.isEmpty() && !mislabelled && !loneCr && !framingSuspect
                ? new JsonRpc.Stream(streamId, streamTask) : null;
    }

    /**
     * The answer when it is one JSON-RPC 2.0 message and nothing else, as MCP's Streamable HTTP transport answers
     * a request (2025-06-18, "Sending Messages to the Server", 5: an {@code application/json} body, or a
     * {@code text/event-stream} whose one event is the response): one document, the answer's only one (no
     * second document, no array of them, no other event, no text), labelled as what it is (a JSON body under a
     * JSON type, an event under {@code text/event-stream}), in a framing nothing but a server writes (one data
     * line, no lone CR), no answer before it that a reset discarded or an include sent; {@code null} otherwise.
     */
    synchronized JsonDocumentScanner.Document rpcAnswer() {
        if (decoded != null) {
            return decoded.rpcAnswer();
        }
        JsonDocumentScanner.Document d = rpcLast;
        return rpcDocuments == 1 && d != null && d.rpc() != null && d.element() < 0 && earlier.isEmpty() && discarded == null
                && !mislabelled && !loneCr && !framingSuspect && !notJson && !jsonBroken
                && (sawAnswerEvent ? dataEvents == 1 && documents == 0 : dataEvents == 0 && documents == 1) ? d : null;
    }

    /** Decoded bytes of the answer: gathered until its reader can choose a format, then read. */
    private void feedDecoded(byte[] bytes, int off, int len) {
        if (!decoded.started()) {
            decodedHead.write(bytes, off, len);
            if (decodedHead.size() >= DECODED_HEAD) {
                startDecoded();
            }
            return;
        }
        decoded.feed(bytes, off, len);
    }

    private void startDecoded() {
        if (!decoded.started() && decodedHead.size() > 0) {
            byte[] head = decodedHead.toByteArray();
            decodedHead.reset();
            decoded.begin(decodedType, null, head);
            decoded.feed(head, 0, head.length);
        }
    }

    /**
     * Bedrock InvokeModel's token-count response headers, which a relay passes on: the counts of
     * models whose answer body carries none (Mistral's {@code outputs}). Set by the server, never by
     * the model, so they are final and win over anything in the body.
     */
    static final String BEDROCK_INPUT_HEADER = "X-Amzn-Bedrock-Input-Token-Count";
    static final String BEDROCK_OUTPUT_HEADER = "X-Amzn-Bedrock-Output-Token-Count";
    /** Hugging Face TGI's counts, the only ones its {@code /generate} answers with unless asked for details. */
    static final String TGI_INPUT_HEADER = "x-prompt-tokens";
    static final String TGI_OUTPUT_HEADER = "x-generated-tokens";
    /**
     * Hugging Face TEI's count of the tokens it computed ({@code /rerank}, {@code /embed}...: bare lists, no usage
     * in the body), all input: it generates none, and a rerank counts the query beside each text (round 393: a
     * rerank was charged its estimate, 4,167 for 17,840, an embed 7,360 for 8,960).
     */
    static final String TEI_COMPUTE_HEADER = "x-compute-tokens";
    /** Prompt-cache reads and writes, which Bedrock leaves out of the input count (Anthropic models). */
    static final String BEDROCK_CACHE_READ_HEADER = "X-Amzn-Bedrock-Cache-Read-Input-Token-Count";
    static final String BEDROCK_CACHE_WRITE_HEADER = "X-Amzn-Bedrock-Cache-Write-Input-Token-Count";
    private Long headerInput;
    private Long headerOutput;
    private Long headerCacheRead;
    private Long headerCacheWrite;

    /**
     * Whether the request's path is a provider's token-counting endpoint ({@link #countShape}): Gemini's
     * {@code models/{model}:countTokens} and Vertex's {@code :computeTokens}, Anthropic's
     * {@code /v1/messages/count_tokens} (on Vertex {@code models/count-tokens:rawPredict}), Bedrock's
     * {@code /model/{id}/count-tokens}, OpenAI's {@code /v1/responses/input_tokens}, vLLM's, llama.cpp's and
     * TGI's {@code /tokenize} and {@code /detokenize}. They sit under the paths a gateway protects (Gemini's on
     * the model's own path), run a tokenizer and call no model.
     */
    static boolean countsTokens(String path) {
        return countShape(path) != null;
    }

    /**
     * A token-counting endpoint's answer, as its provider documents it: the fields its root object may hold
     * ({@code fields}; any other makes it no count), those of each token of an answer that is a root array of them
     * ({@code tokenFields}, TGI's), the counters among them ({@code counters}, as the scanner names them), the
     * {@code object} it names itself by, if it writes one, and whether it counts the request's body alone
     * ({@code bodyOnly}: a tokenizer's, given text; a provider's count also counts the files and media a request
     * names by id or URL, which are not in its body).
     */
    record CountShape(java.util.Set<String> fields, java.util.Set<String> tokenFields, java.util.Set<String> counters,
                      String object, boolean bodyOnly) {
        /** An endpoint whose answer is a root object of {@code fields} only, counted by {@code counters}. */
        CountShape(java.util.Set<String> fields, java.util.Set<String> counters) {
            this(fields, java.util.Set.of(), counters, null, false);
        }

        /**
         * Whether {@code doc}, a root document of the answer, is shaped as this endpoint's: every root field one of
         * its own (a model's structured answer beside a count's field, {@code {"totalTokens": n, "essay": …}}, is no
         * count), the object it names, if any, this endpoint's.
         */
        boolean fits(JsonDocumentScanner.Document doc) {
            java.util.Set<String> names = doc.rootNames();
            if (names == null || !(doc.element() >= 0 ? tokenFields : fields).containsAll(names)) {
                return false;
            }
            return !names.contains("object") || object != null && object.equals(doc.object());
        }
    }

    private static final CountShape GEMINI_COUNT = new CountShape(java.util.Set.of(JsonDocumentScanner.COUNT_TOTAL,
            // Gemini's CountTokensResponse; Vertex's also counts the characters it bills
            "cachedContentTokenCount", "promptTokensDetails", "cacheTokensDetails", "totalBillableCharacters"),
            java.util.Set.of(JsonDocumentScanner.COUNT_TOTAL));
    private static final CountShape VERTEX_COMPUTE = new CountShape(java.util.Set.of(JsonDocumentScanner.COUNT_LISTED),
            java.util.Set.of(JsonDocumentScanner.COUNT_LISTED));
    /** Anthropic's (and Claude's on Vertex): the count, and what context management left out of it (beta). */
    private static final CountShape ANTHROPIC_COUNT = new CountShape(java.util.Set.of(JsonDocumentScanner.LMDEPLOY_INPUT,
            "context_management"), java.util.Set.of(JsonDocumentScanner.LMDEPLOY_INPUT));
    private static final CountShape OPENAI_COUNT = new CountShape(java.util.Set.of("object", JsonDocumentScanner.LMDEPLOY_INPUT),
            java.util.Set.of(), java.util.Set.of(JsonDocumentScanner.LMDEPLOY_INPUT), "response.input_tokens", false);
    private static final CountShape BEDROCK_COUNT = new CountShape(java.util.Set.of(JsonDocumentScanner.COUNT_INPUT),
            java.util.Set.of(JsonDocumentScanner.COUNT_INPUT));
    /**
     * {@code /tokenize}: vLLM's {@code count}, {@code max_model_len}, {@code tokens} and {@code token_strs}, llama.cpp's
     * {@code tokens} (ids, or objects of id and piece), TGI's root array of tokens of {@code id}, {@code text},
     * {@code start} and {@code stop}.
     */
    private static final CountShape TOKENIZE = new CountShape(java.util.Set.of(JsonDocumentScanner.COUNT_TOKENS,
            "max_model_len", JsonDocumentScanner.TOKENS, JsonDocumentScanner.TOKEN_STRINGS),
            java.util.Set.of("id", "text", "start", "stop"),
            java.util.Set.of(JsonDocumentScanner.COUNT_TOKENS, JsonDocumentScanner.COUNT_TOKEN_LIST,
                    JsonDocumentScanner.COUNT_TOKEN_ARRAY), null, true);
    /** {@code /detokenize}: its answer is text, never a count. */
    private static final CountShape DETOKENIZE = new CountShape(java.util.Set.of(), java.util.Set.of());

    /**
     * The answer a token-counting endpoint at {@code path} gives, {@code null} for a path that counts no tokens. The
     * path is the provider's whole shape, not its last segment, which an application's route may take from the client
     * (a conversation or schema id: {@code /ai/{id}} reached as {@code /ai/x:countTokens}): Gemini's and Vertex's
     * {@code …/models/{model}:countTokens} and {@code :computeTokens} (Vertex's under {@code publishers/google/}, and
     * its deployed endpoints' {@code …/endpoints/{endpoint}:countTokens} and {@code :computeTokens}),
     * Anthropic's {@code …/messages/count_tokens}, Claude's on Vertex {@code …/models/count-tokens:rawPredict}, OpenAI's
     * {@code …/responses/input_tokens}, Bedrock's {@code …/model/{id}/count-tokens}, at any prefix (a gateway's). A
     * tokenizer's {@code /tokenize} has no fixed prefix: there its answer's shape and size alone tell a count.
     */
    static CountShape countShape(String path) {
        String segment = segmentBack(path, 0);
        String before = segmentBack(path, 1);
        int colon = segment.lastIndexOf(':');
        // Vertex's deployed endpoints count too (a tuned model's: …/endpoints/{endpoint}:countTokens)
        String method = colon > 0 && ("models".equals(before) || "endpoints".equals(before)) ? segment.substring(colon) : "";
        if (":countTokens".equals(method)) {
            return GEMINI_COUNT;
        } else if (":computeTokens".equals(method)) {
            return VERTEX_COMPUTE;
        } else if ("count-tokens:rawPredict".equals(segment) && "models".equals(before)
                || "count_tokens".equals(segment) && "messages".equals(before)) {
            return ANTHROPIC_COUNT;
        } else if ("input_tokens".equals(segment) && "responses".equals(before)) {
            return OPENAI_COUNT;
        } else if ("count-tokens".equals(segment) && !before.isEmpty() && "model".equals(segmentBack(path, 2))) {
            return BEDROCK_COUNT;
        } else if ("tokenize".equals(segment)) {
            return TOKENIZE;
        } else if ("detokenize".equals(segment)) {
            return DETOKENIZE;
        }
        return null;
    }

    /** The segment of {@code path} {@code back} places before its last (0: the last), {@code ""} past its start. */
    private static String segmentBack(String path, int back) {
        int end = path.length();
        for (int i = 0; i < back; i++) {
            end = path.lastIndexOf('/', end - 1);
            if (end <= 0) {
                return "";
            }
        }
        return path.substring(path.lastIndexOf('/', end - 1) + 1, end);
    }

    /** The answer a count gives at the request's {@linkplain #countsTokens token-counting path}, or {@code null}. */
    private CountShape countAnswer;

    /**
     * Whether a message id is one the request sent (a client resending its thread): a LangServe answer's
     * AI message with that id is the thread's history, echoed back, and its usage is not this call's.
     */
    private java.util.function.Predicate<String> sentBack = id -> false;

    /** The request's message ids ({@link RequestMessageIds}): AI messages the answer echoes with one of them do not count. */
    synchronized void requestMessages(java.util.function.Predicate<String> sentBack) {
        this.sentBack = sentBack;
    }

    /**
     * The media types the client's {@code Accept} names ({@link #acceptedTypes(String)}): a framework labels a
     * {@code String} with one of them, so under such a label an answer may be a model's text ({@link #textual}).
     */
    private java.util.Set<String> accepted = java.util.Set.of();

    synchronized void accepted(java.util.Set<String> types) {
        this.accepted = types;
    }

    /** The media types an {@code Accept} header names, lower case, without parameters and wildcards. */
    static java.util.Set<String> acceptedTypes(String accept) {
        if (accept == null) {
            return java.util.Set.of();
        }
        java.util.Set<String> types = new java.util.HashSet<>();
        for (String range : accept.split(",")) {
            String type = range.split(";", 2)[0].strip().toLowerCase(java.util.Locale.ROOT);
            if (!type.isEmpty() && !type.endsWith("/*")) {
                types.add(type);
            }
        }
        return types;
    }

    /** The request asked for several completions ({@code n} above 1, several prompts). */
    private boolean manyCompletions;

    synchronized void manyCompletions() {
        manyCompletions = true;
    }
    /** A Spring AI chunk that ends the answer was read. */
    private boolean springAiEnded;
    /** The stored OpenAI Response the answer is ({@link JsonDocumentScanner.Document#responseId}), or {@code null}. */
    private String storedResponse;

    synchronized String storedResponse() {
        return decoded != null ? decoded.storedResponse() : storedResponse;
    }

    /** The stored Gemini interaction a stream's events are about ({@code interaction.id}), or {@code null}. */
    private String storedInteraction;

    synchronized String storedInteraction() {
        return decoded != null ? decoded.storedInteraction() : storedInteraction;
    }

    /** The conversation the answer says it extended or started (Mistral's {@code conversation_id}), or {@code null}. */
    private String conversation;

    synchronized String conversation() {
        return decoded != null ? decoded.conversation() : conversation;
    }

    /**
     * The answer when it is one JSON document that is an application's own job, as its API answers a
     * request that starts one or reads it: a top-level {@code id} and {@code status}, and no
     * {@code object} naming a provider's kind; {@code null} otherwise.
     */
    synchronized JsonDocumentScanner.Document appJob() {
        if (decoded != null) {
            return decoded.appJob();
        }
        JsonDocumentScanner.Document d = lastDocument;
        return documents == 1 && !sawAnswerEvent && d != null && d.id() != null && d.status() != null
                && d.object() == null ? d : null;
    }

    /**
     * The answer when it is one JSON document that is a model call the provider stores, with its id: an
     * OpenAI Response ({@code "object": "response"}), an Assistants run ({@code "thread.run"}), a batch or an
     * eval run ({@code "eval.run"}), with its status (a job that may run on at the provider), or a stored chat completion
     * ({@code "chat.completion"}); {@code null} otherwise.
     */
    synchronized JsonDocumentScanner.Document job() {
        if (decoded != null) {
            return decoded.job();
        }
        JsonDocumentScanner.Document d = lastDocument;
        return documents == 1 && !sawAnswerEvent && d != null && d.id() != null
                && (d.status() != null && ("response".equals(d.object()) || "thread.run".equals(d.object())
                || "batch".equals(d.object()) || "eval.run".equals(d.object()) || "interaction".equals(d.object()))
                || "chat.completion".equals(d.object())) ? d : null;
    }

    /** The answer's one JSON document outside an event stream, usage or not; {@code null} otherwise. */
    synchronized JsonDocumentScanner.Document lastDocument() {
        if (decoded != null) {
            return decoded.lastDocument();
        }
        return documents == 1 && !sawAnswerEvent ? lastDocument : null;
    }

    /** The last JSON document of the answer, of however many (an NDJSON stream's last line), or {@code null}. */
    synchronized JsonDocumentScanner.Document finalDocument() {
        return decoded != null ? decoded.finalDocument() : lastDocument;
    }

    /** The Assistants run the answer's events are about ({@code "object": "thread.run"}), or {@code null}. */
    private String storedRun;

    synchronized String storedRun() {
        return decoded != null ? decoded.storedRun() : storedRun;
    }

    /** The answer's last JSON document outside an event stream. */
    private JsonDocumentScanner.Document lastDocument;

    /**
     * The answer when it is one JSON document and nothing else (no event, no second document, no
     * usage): what an API that calls no model answers (an upload's object); {@code null} otherwise.
     */
    synchronized JsonDocumentScanner.Document onlyDocument() {
        if (decoded != null) {
            return decoded.onlyDocument();
        }
        return documents == 1 && !sawAnswerEvent && latest == null && format == null ? lastDocument : null;
    }

    /**
     * Events of the answer that are a provider's error ({@link #providerError}), and documents or
     * events that are anything else.
     */
    private boolean sawError;
    private boolean sawAnswer;

    /**
     * Whether the answer is an event stream whose every event was a provider's error and none reported
     * usage: a provider's failure sent as a stream's only event (Anthropic's {@code overloaded_error},
     * the streamed form of its 529; OpenAI Responses' {@code error} or {@code response.failed} after
     * only its lifecycle events) under the 200 the stream had already sent. No model answered: settled
     * as the server error it stands for. Only the event's name marks it so ({@link #providerError}):
     * the server writes the name, while a data field, like a JSON body, may hold the model's own JSON
     * answer (JSON mode, relayed as {@code data:<the model's JSON>}), which the model can shape as an
     * error.
     */
    synchronized boolean errorOnly() {
        if (decoded != null) {
            return decoded.errorOnly();
        }
        return sawError && !sawAnswer && usage() == null && !mislabelled && !loneCr && !framingSuspect;
    }

    /**
     * Whether a document of the answer is a provider's error saying it blocked output the model was writing
     * (Anthropic's 400 "Output blocked by content filtering policy", {@link JsonDocumentScanner#OUTPUT_BLOCKED}):
     * the model was called, so that refusal is settled as an answer cut short, not as a call that never ran.
     */
    synchronized boolean outputBlocked() {
        return decoded != null ? decoded.outputBlocked() : outputBlocked;
    }

    private boolean outputBlocked;

    /** The request went to {@code path}, a {@linkplain #countsTokens token-counting path}, with no body. */
    synchronized void countingPath(String path) {
        countingPath(path, 0);
    }

    /**
     * The request went to {@code path}, a {@linkplain #countsTokens token-counting path}, and sent
     * {@code requestBytes} (its body as read and as the endpoint reads it, the larger, and its query string): what a
     * count's answer cannot carry more than ({@link #countsTheRequest}).
     */
    synchronized void countingPath(String path, long requestBytes) {
        countAnswer = countShape(path);
        this.requestBytes = Math.max(0, requestBytes);
    }

    /**
     * Whether the answer is a token count from a {@linkplain #countsTokens token-counting path}: one JSON
     * document, no usage, shaped exactly as that endpoint's answer ({@link CountShape#fits}: its own fields and no
     * other), its count by the endpoint's own counter, and one of the request ({@link #countsTheRequest}).
     * The path alone never makes an answer a count, nor a count's field alone: what a model was prompted to write
     * (its structured answer, returned as it is by an application's route) may hold one beside the text it wrote;
     * an answer that is no count (an application's own JSON, a completion, a detokenized prompt) is charged by the
     * other rules.
     */
    synchronized boolean tokenCount() {
        if (decoded != null) {
            // a compressed answer's documents are its inflated reader's
            return decoded.tokenCount();
        }
        // one document, or a root array whose every element is a token (TGI's list)
        return countAnswer != null && countShaped && format == null && usage() == null
                && (documents == 1 || documents == tokenElements) && !sawAnswerEvent && !rootCounters.isEmpty()
                && countAnswer.counters().containsAll(rootCounters.keySet()) && countsTheRequest();
    }

    /**
     * Whether the count is one of the request's own input: a counting endpoint counts what it was sent,
     * which the estimate holds within a few percent; at least a quarter of it, so that a model's
     * structured answer shaped as a count ({@code {"count": 7}}) on a path a client named (an
     * application's {@code /tasks/{task}} reached as {@code /tasks/tokenize}) is not taken for one. Tokens
     * listed count as a number does: their number (Vertex's {@code tokensInfo} ids, llama.cpp's and vLLM's
     * {@code tokens}, TGI's array), so that a list of three ids is not the count of a long request.
     *
     * <p>Nor can a count's answer say more than the request held (round 472: a model prompted to write its essay in
     * a tokenizer's fields, vLLM's {@code token_strs} beside {@code "count": 250000}, TGI's tokens' {@code text},
     * llama.cpp's pieces, at an application's {@code /ai/{id}} reached as {@code /ai/x/tokenize}, was released):
     * <ul>
     * <li>its figures agree: a number and a list of the same count (vLLM's {@code count}, {@code tokens} and
     * {@code token_strs}) are one number;</li>
     * <li>the text it carries ({@link JsonDocumentScanner.CountContent}: token strings and pieces, any string) is at
     * most what the request sent ({@link #requestBytes}) and {@link #TEMPLATE_SLACK}, at every count path;</li>
     * <li>a tokenizer's count ({@link CountShape#bodyOnly}) is at most as many: a token is at least a byte of the
     * text it was sent but for the special tokens a template adds. A provider's count is not so bounded: it counts
     * the files and media a request names by id or URL too, which are not in its body;</li>
     * <li>and what it lists as tokens is tokens ({@link JsonDocumentScanner.CountContent#odd}): an id one a vocabulary
     * has ({@link JsonDocumentScanner#TOKEN_IDS}), a TGI token's offsets within the text sent (at most its bytes and
     * the slack), any other number text of its digits (round 477: an essay written as 200 integers of 337 digits in
     * a tokenizer's ids was released).</li>
     * <li>and, whatever a model may write into it, the answer is no larger than a count's of as many tokens
     * ({@link #COUNT_BYTES_PER_TOKEN}): round 482 wrote an essay as ids repeated in a token object and as booleans
     * where a figure stands, after rounds 472 and 477 had written it as text and as big integers. Each channel is
     * closed where it is read; this bound holds for those not yet found.</li>
     * </ul>
     * All of it is summed while the answer is read, nothing kept.
     */
    private boolean countsTheRequest() {
        long count = -1;
        for (Map.Entry<String, Long> counter : rootCounters.entrySet()) {
            long figure = JsonDocumentScanner.COUNT_TOKEN_ARRAY.equals(counter.getKey()) ? tokenElements
                    : counter.getValue() == null ? 0 : counter.getValue();
            if (count >= 0 && figure != count) {
                return false;
            }
            count = figure;
        }
        if (countStrings >= 0 && countStrings != count || countOdd) {
            return false;
        }
        long sent = requestBytes > Long.MAX_VALUE - TEMPLATE_SLACK ? Long.MAX_VALUE : requestBytes + TEMPLATE_SLACK;
        long most = count > (Long.MAX_VALUE - COUNT_BYTES_SLACK) / COUNT_BYTES_PER_TOKEN ? Long.MAX_VALUE
                : Math.max(0, count) * COUNT_BYTES_PER_TOKEN + COUNT_BYTES_SLACK;
        return count >= (inputEstimate + 3) / 4 && countText <= sent && countOffset <= sent
                && (!countAnswer.bodyOnly() || count <= sent) && fed <= most;
    }

    /**
     * The most bytes a count's answer takes a token it counts (round 482), as the filter reads it (inflated, if it
     * was compressed: {@link #decoded} reads those bytes): a count's answer is its figures and, for a tokenizer,
     * each token's id, text and offsets. Measured (docs/decisions.md) on some 1,900 tokens of prose and of code and
     * 600 of Chinese, written compact, with non-ASCII escaped, and indented as Jackson's and Python's pretty
     * printers and Google's APIs write: vLLM with {@code token_strs} 14 to 37, llama.cpp with pieces 28 to 58, TGI
     * 52 to 87, Vertex's {@code computeTokens} 18 to 36 (124 where each content holds one token, its fields
     * repeated), a provider's number ({@code countTokens}, {@code count_tokens}, {@code input_tokens},
     * {@code count-tokens}) a few hundred bytes whatever its count ({@link #COUNT_BYTES_SLACK}). Twice TGI's
     * compact figure, and above every one measured.
     */
    static final long COUNT_BYTES_PER_TOKEN = 128;
    /** What a count's answer takes beside its tokens: its root fields, Gemini's details, indentation. */
    static final long COUNT_BYTES_SLACK = 1024;

    /**
     * What a count's answer may carry past the request's bytes, in characters of text and in tokens: what a chat
     * template adds to the messages a tokenizer is sent (vLLM's {@code /tokenize} takes them): its special tokens,
     * whose strings are long ({@code <|start_header_id|>}), and a preamble of its own (Llama 3.1's knowledge and
     * today's dates, a default system prompt), about 150 characters and 30 tokens, each message's header some 50
     * characters against the 30 bytes a message takes in JSON. A kibibyte leaves room for a template's preamble and
     * some 40 messages; a model's answer no longer than the request and this is the residual (docs/decisions.md).
     */
    static final long TEMPLATE_SLACK = 1024;
    /** What the request sent ({@link #countingPath(String, long)}), in bytes. */
    private long requestBytes;
    /** What the answer's documents carry as a count's ({@link JsonDocumentScanner.CountContent}), added up. */
    private long countText;
    private long countStrings = -1;
    private boolean countOdd;
    /** The largest offset into the text sent a listed token gave (TGI's), -1 while none. */
    private long countOffset = -1;

    /** Every document of the answer was shaped as the counting path's answer ({@link CountShape#fits}). */
    private boolean countShaped = true;
    /** Documents that were elements of a root array shaped as a token ({@link JsonDocumentScanner#COUNT_TOKEN_ARRAY}). */
    private int tokenElements;
    /** An event of a stream was read: a count is one JSON document, never a stream. */
    private boolean sawAnswerEvent;
    /** Root-level JSON documents of the answer (a token count is exactly one). */
    private int documents;

    /** The Vercel AI SDK's data stream header ({@code v1}): the server framed the answer's parts. */
    static final String DATA_STREAM_HEADER = "x-vercel-ai-data-stream";
    private boolean dataStreamHeader;

    /**
     * The response headers a Bedrock agent's answer ({@code InvokeAgent}, {@code InvokeInlineAgent}) comes with and
     * no other Bedrock answer has (API reference "InvokeAgent", "Response Syntax": {@code contentType},
     * {@code sessionId}, {@code memoryId}): a relay that passes them on says its AWS event stream's chunks are the
     * agent's answer text ({@link AnswerDecoding#agentAnswer}).
     */
    private static final java.util.Set<String> AGENT_HEADERS = java.util.Set.of("x-amzn-bedrock-agent-content-type",
            "x-amz-bedrock-agent-session-id", "x-amz-bedrock-agent-memory-id");
    /** The answer came with {@link #AGENT_HEADERS}. */
    private boolean agentHeaders;
    /**
     * The header {@code InvokeModel} and {@code InvokeModelWithResponseStream} answer with (API reference, "Response
     * Syntax": the inference result's MIME type) and a Bedrock agent's answer never has: a relay that passes it on
     * says its AWS event stream's chunks are the provider's documents, so the usage read from them is the call's
     * ({@link #usageInChunkBytes}).
     */
    static final String INVOKE_MODEL_HEADER = "X-Amzn-Bedrock-Content-Type";
    private boolean invokeModelHeader;

    /** Whether {@code name} is a response header the reader takes in ({@link #header}): usage, or framing. */
    static boolean readsHeader(String name) {
        return BEDROCK_INPUT_HEADER.equalsIgnoreCase(name) || BEDROCK_OUTPUT_HEADER.equalsIgnoreCase(name)
                || TGI_INPUT_HEADER.equalsIgnoreCase(name) || TGI_OUTPUT_HEADER.equalsIgnoreCase(name)
                || TEI_COMPUTE_HEADER.equalsIgnoreCase(name)
                || BEDROCK_CACHE_READ_HEADER.equalsIgnoreCase(name) || BEDROCK_CACHE_WRITE_HEADER.equalsIgnoreCase(name)
                || DATA_STREAM_HEADER.equalsIgnoreCase(name) || INVOKE_MODEL_HEADER.equalsIgnoreCase(name)
                || name != null && AGENT_HEADERS.contains(name.toLowerCase(Locale.ROOT));
    }

    /** A response header the application set that {@link #readsHeader} names; a count that is not one is ignored. */
    synchronized void header(String name, String value) {
        if (DATA_STREAM_HEADER.equalsIgnoreCase(name)) {
            dataStreamHeader = value != null && !value.isBlank();
            return;
        }
        if (AGENT_HEADERS.contains(name.toLowerCase(Locale.ROOT))) {
            if (value != null && !value.isBlank()) {
                agentAnswer();
            }
            return;
        }
        if (INVOKE_MODEL_HEADER.equalsIgnoreCase(name)) {
            if (value != null && !value.isBlank()) {
                invokeModelAnswer();
            } else {
                invokeModelHeader = false;
            }
            return;
        }
        if (value == null) {
            return;
        }
        String digits = value.trim();
        // a count past 64 bits is the most a long holds, as in a body (JsonDocumentScanner.digits)
        long count = JsonDocumentScanner.digits(digits.startsWith("+") ? digits.substring(1) : digits);
        if (count < 0) {
            return;
        }
        if (BEDROCK_INPUT_HEADER.equalsIgnoreCase(name) || TGI_INPUT_HEADER.equalsIgnoreCase(name)
                || TEI_COMPUTE_HEADER.equalsIgnoreCase(name)) {
            headerInput = count;
        } else if (BEDROCK_OUTPUT_HEADER.equalsIgnoreCase(name) || TGI_OUTPUT_HEADER.equalsIgnoreCase(name)) {
            headerOutput = count;
        } else if (BEDROCK_CACHE_READ_HEADER.equalsIgnoreCase(name)) {
            headerCacheRead = count;
        } else if (BEDROCK_CACHE_WRITE_HEADER.equalsIgnoreCase(name)) {
            headerCacheWrite = count;
        }
    }

    /** The answer is a Bedrock agent's, by its headers: so is what reads its bytes decoded (round 474). */
    private void agentAnswer() {
        agentHeaders = true;
        if (decoding != null) {
            decoding.agentAnswer();
            decoded.agentAnswer();
        }
    }

    /**
     * The answer is InvokeModel's, by its header: so is what reads its bytes decoded, whose chunks are the provider's
     * events whatever their fields (round 483).
     */
    private void invokeModelAnswer() {
        invokeModelHeader = true;
        if (decoding != null) {
            decoding.invokeModelAnswer();
            decoded.invokeModelAnswer();
        }
    }

    /**
     * Whether the usage read came from the bytes of an AWS event stream's chunks taken as a provider's documents
     * while nothing told the stream from a Bedrock agent's ({@link AnswerDecoding#chunkDocuments}): it may be the
     * agent's answer text, and is charged at least the text the answer carried ({@code Settlement}); not when the
     * server's usage headers report the call, nor when InvokeModel's own header ({@link #INVOKE_MODEL_HEADER}) says
     * the chunks are the provider's.
     */
    synchronized boolean usageInChunkBytes() {
        UsageSniffer larger = larger();
        boolean read = larger != null ? larger.usageInChunkBytes() : !invokeModelHeader && headerUsage() == null
                && decoded != null && (decoding.chunkDocuments() && decoded.usage() != null || decoded.usageInChunkBytes());
        for (UsageSniffer e : earlier) {
            read |= e.usageInChunkBytes();
        }
        return read;
    }

    /**
     * The model's new text the answer carried, in estimated tokens, whatever budget the request named (a prompt the
     * answer echoed, and includes' text their figures charge, left out): what a usage read from a chunk's bytes is
     * charged at least ({@link #usageInChunkBytes}). A chunk read as a provider's event counts the text its format's
     * fields hold; one that is no such event made the stream an agent's, its chunks text counted whole
     * ({@link InvokeModelEvents}, round 483).
     */
    synchronized long writtenTextTokens() {
        return writtenText();
    }

    /** The headers' count, or {@code null} when no usage header was set. */
    private Long headerUsage() {
        return headerInput == null && headerOutput == null ? null
                : sum(headerInput, headerOutput, headerCacheRead, headerCacheWrite);
    }

    /** The usage the response reported, or {@code null} when it reported none. */
    synchronized Long usage() {
        Long usage = answerUsage();
        for (UsageSniffer e : earlier) {
            usage = sum(e.usage(), usage);
        }
        return usage;
    }

    /** This answer's usage, without the earlier answers': its own, or a discarded one's when larger. */
    private Long answerUsage() {
        UsageSniffer larger = larger();
        if (larger != null) {
            return larger.usage();
        }
        return ownUsage();
    }

    /**
     * Another reading of this answer that reported more than this one's own, whose findings then count:
     * an answer a reset discarded, or this answer read as UTF-8 beside its label's charset
     * ({@link #utf8Reading}); {@code null} when none did.
     */
    private UsageSniffer larger() {
        Long own = ownUsage();
        UsageSniffer larger = null;
        long most = own == null ? -1 : own;
        for (UsageSniffer other : new UsageSniffer[] {discarded, utf8Reading}) {
            Long usage = other == null ? null : other.usage();
            if (usage != null && usage > most) {
                larger = other;
                most = usage;
            }
        }
        return larger;
    }

    /**
     * The answer read as UTF-8, beside its reading in the multi-byte charset its label names (GBK, Big5,
     * Shift_JIS): a relay passes its provider's UTF-8 under the charset the client's {@code Accept}
     * named, and read in that charset a character's last byte takes the backslash after it as its own,
     * ending a string early and hiding the usage after it; a server that did encode in that charset is
     * read right by the label. The larger usage counts ({@link #larger}). {@code null} for other labels.
     */
    private UsageSniffer utf8Reading;

    private Long ownUsage() {
        // the server's headers are final; a larger count in the body (cache tokens the headers left
        // out) is never lowered by them
        Long headers = headerUsage();
        return headers != null ? larger(headers, bodyUsage()) : bodyUsage();
    }

    /** The usage the body reported, or {@code null}: several calls add up, else the format's last report. */
    private Long bodyUsage() {
        if (decoded != null) {
            return decoded.usage();
        }
        Long reported = reportedUsage();
        return invocationTotal != null ? larger(invocationTotal, reported) : reported;
    }

    /** The body's usage reports, without the service's invocation metrics. */
    private Long reportedUsage() {
        Long reported = formatUsage();
        return outputOnly && reported != null ? sum(reported, inputEstimate) : reported;
    }

    private Long formatUsage() {
        Long current = currentCallUsage();
        return earlierCalls == null ? current : sum(earlierCalls[0], current);
    }

    /** {@link #formatUsage} of the call the answer's reports are about now ({@link #earlierCalls} left out). */
    private Long currentCallUsage() {
        long[] several = callsTotal();
        if (several != null) {
            return several[0];
        }
        if (format == Format.ANTHROPIC) {
            return UsageKinds.anthropicTotal(anthropic);
        }
        long[] added = addedUp();
        return added != null ? Long.valueOf(added[0]) : latest;
    }

    /**
     * Whether the usage is a report known to be provisional: Anthropic usage from a
     * {@code message_start} not followed by the {@code message_delta} (or a whole message) with the
     * final counts; Gemini usage from a chunk that counted no output and did not end the answer, not
     * followed by one that did; any usage in an answer whose Content-Type does not name the format its
     * body was read in (a {@code text/*}, xml, image or octet-stream label, a JSON type on an event
     * stream). Settlement charges at least
     * the estimate for it.
     */
    synchronized boolean provisional() {
        if (!earlier.isEmpty()) {
            // answers that add up: any that reported a provisional usage makes their sum provisional
            boolean any = false;
            for (UsageSniffer e : earlier) {
                if (e.usage() != null) {
                    any = true;
                    if (e.provisional()) {
                        return true;
                    }
                }
            }
            if (any && answerUsage() == null) {
                return false;
            }
        }
        return answerProvisional();
    }

    private boolean answerProvisional() {
        UsageSniffer larger = larger();
        if (larger != null) {
            return larger.provisional();
        }
        if (headerUsage() != null) {
            return false;
        }
        if (decoded != null) {
            return decoded.provisional();
        }
        if (invocationTotal != null) {
            // the service's final count, or a larger one in the body; but only the label vouches that the
            // service wrote it: in AWS's framing under a label a client's Accept chose (round 344), or in
            // a JSON body under text/plain, it may be the model's text, as any usage there may be
            return mislabelled || loneCr || framingSuspect;
        }
        if (callsTotal() != null) {
            return calls.anyRunning() || mislabelled || loneCr || framingSuspect;
        }
        return mislabelled || unfinished || loneCr || framingSuspect;
    }

    /**
     * One complete JSON document: a whole JSON body, one of several in a body, or one event's data.
     * Returns whether it reported usage or named a model (what an odd event framing makes suspect).
     */
    private boolean accept(JsonDocumentScanner.Document doc, boolean event) {
        return accept(doc, event, null);
    }

    /**
     * The text a document adds to what the stream's earlier events carried: all of its own, but for events
     * named as repeating what the stream sent already (round 276): Coze's
     * {@code conversation.message.completed} (the message its deltas wrote), and LangGraph's
     * {@code messages/partial} (the message so far: only its growth counts, by the message's id) and
     * {@code messages/complete} (the growth past its partials), none of them after LangGraph's
     * {@code messages} tuples, whose chunks counted the text.
     */
    private long newText(JsonDocumentScanner.Document doc, String eventName) {
        long tokens = doc.textTokens();
        if (eventName == null || tokens == 0) {
            return tokens;
        }
        if ("conversation.message.completed".equals(eventName)) {
            return 0;
        }
        if (SseEvents.tuple(eventName)) {
            tupleText = true;
            return tokens;
        }
        if (!eventName.startsWith("messages/partial") && !eventName.startsWith("messages/complete")) {
            return tokens;
        }
        if (tupleText) {
            return 0;
        }
        String id = doc.id() == null ? "" : doc.id();
        Long before = partialMessages.get(id);
        if (before == null && partialMessages.size() >= MAX_PARTIAL_MESSAGES) {
            return tokens;
        }
        partialMessages.put(id, Math.max(tokens, before == null ? 0 : before));
        return before == null ? tokens : Math.max(0, tokens - before);
    }

    /** LangGraph's messages seen so far in partial events, by id: their text's tokens. At most {@link #MAX_PARTIAL_MESSAGES}. */
    private final Map<String, Long> partialMessages = new java.util.HashMap<>();
    private static final int MAX_PARTIAL_MESSAGES = 256;
    /** The stream carried LangGraph's {@code messages} tuples' text. */
    private boolean tupleText;

    /**
     * {@link #accept(JsonDocumentScanner.Document, boolean)} for an event that arrived alone (one
     * document on one data line) under the name {@code eventName} ({@code null} when it had none, or
     * its framing was odd).
     */
    private boolean accept(JsonDocumentScanner.Document doc, boolean event, String eventName) {
        if (rpcDocuments < Integer.MAX_VALUE) {
            rpcDocuments++;
        }
        rpcLast = doc;
        outputBlocked |= doc.error() && doc.outputBlocked();
        if (event) {
            JsonRpc.Reply reply = doc.rpc();
            String task = reply == null ? null : reply.taskId();
            if (reply == null || reply.id() == null || task == null || streamId != null
                    && (!streamId.equals(reply.id()) || !streamTask.equals(task))) {
                streamMixed = true;
            } else if (streamId == null) {
                streamId = reply.id();
                streamTask = task;
            }
        }
        if (doc.responseId() != null) {
            storedResponse = doc.responseId();
        }
        if (doc.conversationId() != null) {
            conversation = doc.conversationId();
        }
        if (event && doc.interactionId() != null) {
            storedInteraction = doc.interactionId();
        } else if (!event && "interaction".equals(doc.object()) && doc.id() != null) {
            storedInteraction = doc.id();
        }
        if (doc.pictures() != null) {
            for (int c = 0; c < pictures.length; c++) {
                pictures[c] = UsageKinds.add(pictures[c], doc.pictures()[c]);
            }
        }
        sawAnswerEvent |= event;
        long textBefore = textTokens;
        textTokens = StreamText.plus(textTokens, newText(doc, eventName));
        if (!event) {
            lastDocument = doc;
        }
        if (providerError(doc, eventName)) {
            sawError = true;
        } else if (!lifecycle(doc, eventName)) {
            sawAnswer = true;
        }
        if (!event && countAnswer != null && !countAnswer.fits(doc)) {
            countShaped = false;
        }
        if (!event && countAnswer != null) {
            JsonDocumentScanner.CountContent counted = doc.counted();
            if (counted == null || counted.odd()) {
                countOdd = true;
            } else {
                countText = StreamText.plus(countText, counted.text());
                countOffset = Math.max(countOffset, counted.offset());
                if (counted.tokenStrings() >= 0) {
                    countStrings = StreamText.plus(Math.max(0, countStrings), counted.tokenStrings());
                }
            }
        }
        if (!event && documents == 0) {
            loneText = doc.loneText();
        }
        if (!event && documents < Integer.MAX_VALUE) {
            documents++;
            Map<String, Long> root = doc.usage("");
            if (doc.element() >= 0 && root != null && root.containsKey(JsonDocumentScanner.COUNT_TOKEN_ARRAY)) {
                tokenElements++;
            }
        }
        boolean named = doc.model() != null && !doc.model().isBlank();
        if (named && models.size() < Weighing.MAX_CANDIDATES) {
            models.add(doc.model());
        }
        String call = doc.streamCall();
        // the current call's report and how many calls were kept, when a final report naming no call folds it
        long[] before = null;
        int calls = -1;
        // an id-less report after calls that may be their total (round 226)
        boolean mayBeTotal = false;
        if (JsonDocumentScanner.NEXT_CALL.equals(call)) {
            call = JsonDocumentScanner.NEXT_CALL + ++callsBegun;
        }
        if (event && sideBySide(doc, call, named)) {
            return true;
        }
        if (call != null && !call.isEmpty()) {
            // a call named by the event that begins it (Anthropic's message_start, Cohere's message-start, a
            // Response's response.created): a chunk's id may be new on every chunk of one call (Foundry Local)
            if (("message_start".equals(doc.type()) || "message-start".equals(doc.type())
                    || "response.created".equals(doc.type())) && namedCalls.size() < MAX_NAMED_CALLS) {
                namedCalls.add(call);
            }
            // a call ended with its final report: another id, or new choices under the same id (vLLM names a
            // call after the request's X-Request-Id, which a service mesh forwards on every call) begin
            // another; after a chunk that finished its choice beside the usage (Mistral's, DeepSeek's, Groq's
            // last chunk), another id's chunk with choices does (a usage-only chunk under a fresh id, which
            // some servers give every chunk, is that same call's)
            // a call named after a final report that named none (a transcription's usage, Ollama's whole
            // answer, an application's step event, relayed before a Claude, Gemini or Responses stream) is
            // another call too
            boolean another = segmentCall != null ? !call.equals(segmentCall) : segmentFinal;
            // a stream's own call read back whole under its id (an SDK's accumulated chat.completion after
            // its chunks) is that call; so is a Google ADK event that carries the very counts of the event
            // before it (ADK's aggregator sends one model call's text and its function call as two events)
            boolean again = !another && "chat.completion".equals(doc.object()) && !doc.chatChunk()
                    && "chat.completion.chunk".equals(segmentObject)
                    || another && !doc.geminiChunk() && geminiUsage(doc) != null && geminiUsage(doc).equals(segmentGeminiUsage);
            // after a chunk that finished its choice beside the usage, another provider's call (a Claude, Gemini
            // or Responses stream after a Mistral or Groq planner's) begins another too: it is no chunk
            boolean otherCall = doc.choices() || !doc.chatChunk();
            // (new choices under the same id after such a chunk stay its call: vLLM's n > 1 with continuous usage
            // finishes one choice beside its usage while the others stream on, round 227). A choice that finished
            // begun again, its delta naming the role, by a chunk that reports nothing, is another call's under the
            // same id (a gateway that names every call after its request: round 226's agent of three Mistral
            // calls was charged the last); one call's later chunks of a finished choice (Azure's content filter
            // results) name no role, and a relay that repeats the finish reason and the role on every chunk sends
            // its running usage on each
            boolean begunAgain = !another && segmentChoiceEnded && doc.usages().isEmpty()
                    && (doc.begunChoices() & segmentFinishedChoices) != 0;
            // so does a Response's response.created after the call's final report under the same id: the OpenAI
            // Agents SDK on a Chat Completions model names every call's events "__fake_id__" (round 391: a run
            // of 2,250 and 11,800 was charged 11,800); the same call replayed from its start reports the very
            // counts again (restarted, below)
            boolean createdAgain = !another && segmentFinal && "response.created".equals(doc.type());
            // a chunk that only finishes a choice the call had not finished (an empty delta beside the finish
            // reason) after the usage chunk begins nothing: some servers send the usage just before the finish
            // (round 252)
            boolean finishOnly = doc.choiceFinished() && (doc.finishedChoices() & segmentFinishedChoices) == 0
                    && doc.begunChoices() == 0 && doc.textTokens() == 0 && doc.usages().isEmpty();
            // a call cut before its final report (its stream broke midway), then another call begun under a new
            // id (a relay's mid-stream fallback: Mastra's, LiteLLM's MidStreamFallbackError): the cut call is
            // done, at its running count or its text, as a cut stream alone is charged (round 360: 6,800
            // charged for 12,875 and 12,870). Only when the cut call's id came on more than one chunk (or on
            // its role chunk) and the new id's chunk begins a call: a fresh id on every chunk (a server that
            // numbers its chunks) stays one call
            boolean cut = another && !segmentFinal && !segmentChoiceEnded && segmentRepeated && beginsCall(doc)
                    && !cutCalls.containsKey(call);
            // a cut call's id again: calls relayed side by side, whose chunks came in runs; the call was not
            // cut, and its final report counts it (round 163's merged Gemini streams)
            long[] resumed = another ? cutCalls.remove(call) : null;
            if (resumed != null) {
                takeBack(resumed);
            }
            if (cut) {
                int kept = callList == null ? 0 : callList.size();
                foldCall(Math.max(0, textBefore - segmentText));
                if (callList != null && callList.size() == kept + 1 && cutCalls.size() < MAX_NAMED_CALLS) {
                    cutCalls.put(segmentCall, callList.get(kept).usage());
                }
            } else if (!again && (segmentFinal && (another || doc.choices() && !finishOnly)
                    || segmentChoiceEnded && another && otherCall || begunAgain)) {
                foldCall();
            } else if (createdAgain) {
                int kept = callList == null ? 0 : callList.size();
                foldCall();
                restarted = callList != null && callList.size() == kept + 1 ? callList.get(kept).usage() : null;
            }
            segmentRepeated = call.equals(segmentCall) || doc.begunChoices() != 0;
            if (another) {
                segmentEnded = false;
                segmentFinishedChoices = 0;
                segmentText = textBefore;
            }
            segmentFinishedChoices |= doc.finishedChoices();
            segmentCall = call;
            segmentObject = doc.chatChunk() ? "chat.completion.chunk" : doc.object();
        } else if (segmentChoiceEnded && "".equals(call) && doc.choices()) {
            // new choices after a chunk that finished its choice beside the usage, under an empty id (Hugging
            // Face TGI gives every chunk "id": "", round 226: an agent's three calls were charged its last)
            foldCall();
        } else if ((segmentFinal || segmentChoiceEnded && call == null)
                && (call == null ? finalReport(doc) && !(doc.id() != null && doc.id().equals(segmentCall))
                : !doc.usages().isEmpty())) {
            // (after a chunk that finished its choice beside the usage, Mistral's or Groq's, a final report
            // naming no call is another's too: OpenAI's speech, Ollama's or Converse's whole answer)
            // the very counts again, under no other id than the call's last report named, are that call's
            // report again (below); two calls of their own ids (two whole Responses) stay two
            // (a Koog message's id is a tool call's, not its model call's: round 260's one call with three tool
            // calls, each message with the answer's metaInfo, was charged three times)
            before = call == null && (doc.reportId() == null || lastReportId == null || doc.reportId().equals(lastReportId)
                    || doc.usage(KOOG_META_INFO) != null) ? currentReport() : null;
            calls = callList == null ? 0 : callList.size();
            // after other calls, it may be the run's total in the calls' own format (a Bedrock agent's, round 227)
            mayBeTotal = call == null && calls > 0;
            // a call's final report that names no call (Ollama's "done": true, Bedrock Converse's and
            // Cohere's, whole or a stream's last event), or an ADK partial event with usage, after a final
            // report: another call's, relayed after it or beside it; under the current call's own id it is
            // that call read back whole (a relay sending the answer it assembled from the stream)
            foldCall();
        } else if (call == null && doc.element() >= 0 && !doc.usages().isEmpty() && doc.id() == null
                && doc.reportId() != null && lastReportId != null && !doc.reportId().equals(lastReportId)
                && !claudeCodeLine(doc)) {
            // an element of a JSON array reporting under another call's id in its metadata than the report
            // before: another call's whole answer (Semantic Kernel's new messages of a tool loop, each with its
            // call's id and usage in its metadata, round 254: the loop's first call was free). An element's own
            // top-level id names no call (Koog's tool calls of one answer, each under the tool call's id with
            // the answer's usage, round 260), and the very counts again are the same call's (below). Claude Code's
            // messages as one array (--output-format json --verbose) are its runs' alone (ClaudeCodeRuns; round 549:
            // folded here too, its first call was counted twice)
            before = currentReport();
            calls = callList == null ? 0 : callList.size();
            foldCall();
        } else if (call == null && (segmentFinal || totalSeen) && !doc.usages().isEmpty() && callList != null
                && !callList.isEmpty()) {
            // a report naming no call after a call's final report, when other calls came before that one (an
            // agent's run): another call's, whole (a small model's answer relayed without its id), or the
            // run's total (the OpenAI Agents SDK's accumulated usage, an application's summary event) when it
            // counts what the calls did, every call's added up; before round 226 it replaced the last call's
            // report, making that call free or counting the others twice
            before = currentReport();
            calls = callList.size();
            mayBeTotal = true;
            foldCall();
        }
        // a report of the call a stream's end marker ended, no other call begun since, is one no client reads
        long[] ended = endedByMarker(call) ? currentReport() : null;
        CallFigure figure = ended != null ? new CallFigure() : null;
        boolean reported = accepted(doc, event, eventName);
        if (figure != null && reported) {
            Long now = currentCallUsage();
            if (now == null || now < ended[0]) {
                // it can raise the call's figure (a provider's count is never less than what was used), never
                // lower it: the SDKs stop reading at [DONE] (round 539: a usage chunk of 2 after the marker, under
                // the call's id, replaced its final 8,020). A relay's next call begins anew (a new id, new
                // choices under the same id, another format's final report) and counts as the calls before do
                figure.restore();
                reported = false;
            }
        }
        if (mayBeTotal && reported && callList.size() >= 2 && earlierCalls != null && sameCounts(currentReport(), earlierCalls)) {
            // the run's total (or that total again): the calls are counted already, and none is under way
            resetCall();
            unfinished = false;
            totalSeen = true;
            before = null;
        }
        if (before != null && reported && callList != null && callList.size() == calls + 1
                && java.util.Arrays.equals(before, currentReport())
                // a call named in the answer has not reported yet (two Cohere streams relayed side by side,
                // each named by its message-start, both cut at max_tokens): the report is that call's
                && namedCalls.size() <= callList.size()) {
            // the very counts of the call just folded: that call's final report again (a wrapper's whole
            // response after its stream, Spring AI's stop sent twice, a relay repeating the last line), not
            // another call; two calls with every count alike one after the other are one too
            unfold();
        }
        if (reported && restarted != null) {
            // the first report after a Response created again under its id: the very counts of the call
            // folded then are that call replayed (a relay resuming a stream from its start), not another
            if (!callList.isEmpty() && callList.get(callList.size() - 1).usage() == restarted
                    && java.util.Arrays.equals(restarted, currentReport())) {
                unfold();
            }
            restarted = null;
        }
        if (reported) {
            lastReportId = doc.reportId();
        }
        if (!reported && doc.ended()) {
            // the chunk that finishes the call without its counts: a usage-only chunk under its id follows
            segmentEnded = true;
        }
        // the model a call's own documents name (those under its id, and its id-less reports: Ollama's last
        // chunk); an id-less document that reports nothing (an application's own progress event) names none
        String owner = call != null && !call.isEmpty() ? call : reported ? segmentCall : null;
        if (named && owner != null) {
            java.util.Set<String> own = callModels.computeIfAbsent(owner, k -> new java.util.LinkedHashSet<>());
            if (own.size() < Weighing.MAX_CANDIDATES) {
                own.add(doc.model());
            }
        }
        if (reported) {
            // Anthropic's message_start counts before the answer; a partial event before its call's last; a
            // chunk that carries choices beside its usage, a running count (vLLM's continuous usage)
            boolean chunkWithChoices = doc.chatChunk() && doc.choices();
            // a Gemini chunk's running count is its call's final only in the chunk that finishes it: another
            // call's chunks relayed beside it come before that
            segmentEnded |= doc.ended();
            segmentFinal = !unfinished && !"message_start".equals(doc.type()) && !"".equals(call) && !chunkWithChoices
                    && !(doc.geminiChunk() && !doc.ended() && !segmentEnded);
            if (geminiUsage(doc) != null) {
                segmentGeminiUsage = geminiUsage(doc);
            }
            segmentChoiceEnded = !unfinished && chunkWithChoices && doc.choiceFinished();
        }
        if (event && "thread.run".equals(doc.object()) && doc.id() != null) {
            storedRun = doc.id();
        }
        if (doc.call() != null) {
            reported |= call(doc);
        }
        for (JsonDocumentScanner.InlineResult result : doc.inlined()) {
            reported |= inlineResult(result);
        }
        return reported || named;
    }

    /**
     * Whether an event is a provider's error: named so by its {@code event:} field, which the server
     * writes, and shaped so. Anthropic's and OpenAI Responses' {@code error} event ({@code "type":
     * "error"}, or an {@code error} object), OpenAI Responses' {@code response.failed}. A document's
     * shape alone decides nothing: the unnamed event of an endpoint that relays the model's JSON
     * answer ({@code data:<the model's JSON>}) is what the model wrote, {@code {"error": …}} too.
     */
    private static boolean providerError(JsonDocumentScanner.Document doc, String eventName) {
        if ("error".equals(eventName)) {
            return doc.error();
        }
        return "response.failed".equals(eventName) && eventName.equals(doc.type());
    }

    /**
     * Whether an event is one a provider sends whether or not a model answers, named so and typed so:
     * OpenAI Responses' lifecycle events sent before any output ({@code response.created},
     * {@code response.queued}, {@code response.in_progress}) and Anthropic's keep-alive
     * ({@code event: ping}, {@code {"type": "ping"}}): an error after them is still a failure before
     * the model answered. Only a name the server wrote counts ({@code event:} before the event's data),
     * so the unnamed event of a relay writing a model's text is never one of them.
     */
    private static boolean lifecycle(JsonDocumentScanner.Document doc, String eventName) {
        return eventName != null && eventName.equals(doc.type()) && (eventName.equals("response.created")
                || eventName.equals("response.queued") || eventName.equals("response.in_progress")
                || eventName.equals("ping"));
    }

    /** Records the usage of one of several calls in the answer ({@link #calls}); whether there was one. */
    private boolean call(JsonDocumentScanner.Document doc) {
        Long total;
        long[] split;
        // a batch file's line, or an answer's element, is its call's final report
        boolean ended = true;
        Map<String, Long> u;
        if ((u = doc.usage("response.body.usage")) != null && has(u, "total_tokens", "prompt_tokens", "completion_tokens")) {
            // a line of an OpenAI batch output file
            total = openAi(u);
            split = UsageKinds.openAi(u);
        } else if ((u = doc.usage("result.message.usage")) != null && has(u, ANTHROPIC_COUNTS.toArray(new String[0]))) {
            // a line of Anthropic's message batch results
            total = UsageKinds.anthropicTotal(u);
            split = UsageKinds.anthropic(u);
        } else if ((u = doc.usage(JsonDocumentScanner.GEMINI_BATCH_LINE)) != null
                && has(u, "promptTokenCount", "candidatesTokenCount", "totalTokenCount")) {
            // a line of Gemini's batch results file ({"key": …, "response": GenerateContentResponse}; round
            // 264: two results of 9,000 and 7,000 tokens downloaded were charged 1,002)
            split = UsageKinds.gemini(u);
            total = UsageKinds.total(split);
        } else if ((u = doc.usage("")) != null && has(u, "tokens_predicted", "tokens_evaluated")) {
            // one prompt's answer in llama.cpp's answer to a list of prompts (or one event of its stream,
            // running counts until the one that says "stop": true)
            total = sum(u.get("tokens_evaluated"), u.get("tokens_predicted"));
            split = UsageKinds.inputOutput(u, "tokens_evaluated", "tokens_predicted");
            ended = doc.ended();
        } else {
            return false;
        }
        if (calls == null) {
            calls = new AnswerCalls();
        }
        calls.report(doc.call(), new long[] {total, split[0], split[1], split[2], split[3]}, ended, doc.callIdentified(),
                doc.reportId());
        return true;
    }

    /**
     * Records one result of a finished Gemini batch read with its results inline, a call of its own (round
     * 264: two results of 9,000 and 7,000 tokens were charged nothing; round 265: nor when read from the
     * list of batches, or from the batch's {@code metadata.output}), and one model call a Google ADK agent reported
     * in an A2A event or task ({@code adk_usage_metadata}, round 300), named by its task and the artifact or status
     * message that carried it, so that one answer repeating a call counts it once.
     */
    private boolean inlineResult(JsonDocumentScanner.InlineResult result) {
        Map<String, Long> u = result.usage();
        // Gemini's counts as its API writes them, or in snake_case (a Python relay's, ADK's without by_alias)
        if (!has(u, "promptTokenCount", "candidatesTokenCount", "totalTokenCount", "prompt_token_count",
                "candidates_token_count", "total_token_count")) {
            return false;
        }
        long[] split = UsageKinds.gemini(u);
        if (calls == null) {
            calls = new AnswerCalls();
        }
        calls.report(result.call(), new long[] {UsageKinds.total(split), split[0], split[1], split[2], split[3]},
                result.ended(), result.identified(), null);
        return true;
    }

    /** Which calls the answer reported ({@link AnswerCalls#fingerprint}), or {@code null} when it reported no calls. */
    synchronized String callsFingerprint() {
        if (decoded != null) {
            return decoded.callsFingerprint();
        }
        return calls == null ? null : calls.fingerprint();
    }

    /** The calls' usage added up ({@code {total, kinds...}}), or {@code null} when the answer reported no calls. */
    private long[] callsTotal() {
        return calls == null ? null : calls.total();
    }

    /** {@link #accept}'s usage part: whether the document reported usage. */
    private boolean accepted(JsonDocumentScanner.Document doc, boolean event, String eventName) {
        String callback = doc.event();
        if (callback != null && callback.startsWith("on_")) {
            // LangChain's astream_events (LangServe's /stream_events, LangGraph's events mode): usage is
            // only where a chat model's run puts it; the other events' data (a chain's or a parser's
            // input and output, the model's own JSON) and their metadata (the run's, which the client's
            // config sets) are never read
            return switch (callback) {
                case "on_chat_model_stream" -> langChain(doc.usage("data.chunk.usage_metadata"), false, doc.runId(), false);
                case "on_chat_model_end" -> langChain(doc.usage("data.output.usage_metadata"), true, doc.runId(), false);
                default -> false;
            };
        }
        boolean reported = dify(doc);
        String type = doc.type();
        Map<String, Long> usage = doc.usage("usage");
        Map<String, Long> claudeMessage = "assistant".equals(type) ? doc.usage("message.usage") : null;
        if (claudeMessage != null && doc.reportId() != null && claudeMessage.containsKey("input_tokens")
                && claudeMessage.containsKey("output_tokens")) {
            // Claude Code's (the Claude Agent SDK's) stream-json: each assistant line is one API call's message with
            // that call's usage, and the CLI repeats the message's id and usage on every line it splits the content
            // over (text, then tool_use): one call per id. Round 517: a run cut before its result line (the CLI
            // killed on a timeout, a client gone) was charged its hold, 1,008 for 7,500, when only the result was read
            claudeCodeRun = true;
            reported = claudeFormat()
                    && claudeCode(claudeRuns().call(doc.session(), doc.reportId(), claudeMessage), claudeMessage);
        } else if (JsonDocumentScanner.CLAUDE_STREAM_EVENT.equals(type)
                && (doc.usage(JsonDocumentScanner.CLAUDE_STREAM_START) != null
                || doc.usage(JsonDocumentScanner.CLAUDE_STREAM_DELTA) != null)) {
            // round 519: with --include-partial-messages the CLI writes an assistant line as soon as a content block
            // is done, before its message_delta, so the line's usage is the message_start snapshot (output 1); the
            // call's output count is only in the wrapped message_delta (3,001 was charged for 12,000 when cut)
            // round 522: subagents run at once, so a delta is given to the last start under its parent_tool_use_id
            claudeCodeRun = true;
            Map<String, Long> start = doc.usage(JsonDocumentScanner.CLAUDE_STREAM_START);
            Map<String, Long> delta = doc.usage(JsonDocumentScanner.CLAUDE_STREAM_DELTA);
            reported = claudeFormat() && claudeCode(claudeRuns().streamEvent(doc.session(), doc.parentToolUse(),
                    doc.reportId(), start, delta), start != null ? start : delta);
        } else if ("result".equals(type) && (usage != null && claudeCodeRun
                || doc.usage(JsonDocumentScanner.CLAUDE_MODEL_USAGE) != null)) {
            // the closing result line (or --output-format json's result alone, known by its modelUsage): the run's
            // usage and its modelUsage, which also counts the calls no assistant line shows (the helper model's,
            // background subagents'; rounds 523, 524), stand beside its calls, the largest counting; runs add up
            Map<String, Long> models = doc.usage(JsonDocumentScanner.CLAUDE_MODEL_USAGE);
            claudeCodeRun = true;
            reported = claudeFormat() && claudeCode(claudeRuns().result(doc.session(), usage, models),
                    usage != null ? usage : ClaudeCodeRuns.fromModelUsage(models));
        } else if (doc.compactBoundary()) {
            // round 545: a /compact turn's summarising call shows no assistant line, only this boundary; its run is
            // told that a call was made, so the next result is read as the same process's running total. Round 549:
            // that call read the conversation the boundary's pre_tokens states, charged when the answer is cut before
            // the result; and the boundary is a Claude Code line wherever it comes (a resumed process's /compact
            // writes it before any other), so the result after it is read as one
            claudeCodeRun = true;
            Map<String, Long> read = Map.of("input_tokens", doc.compactPreTokens(), "output_tokens", 0L);
            boolean called = claudeRuns().compacted(doc.session(), doc.compactPreTokens());
            reported = claudeFormat() && claudeCode(called, read);
        } else if (usage != null && (STEP_PART.equals(eventName) || MESSAGE_PART.equals(eventName))
                && has(usage, "promptTokens", "completionTokens")) {
            // the Vercel AI SDK's data stream: each step's finish part (e:) reports that step's model call,
            // the message's finish part (d:) their total; a run cut by a failed step ends without the total
            Long own = larger(usage.get("totalTokens"), sum(usage.get("promptTokens"), usage.get("completionTokens")));
            long[] split = UsageKinds.withTotal(UsageKinds.inputOutput(usage, "promptTokens", "completionTokens"), own);
            reported = kinds(addUp(Format.OPENAI, own, split, MESSAGE_PART.equals(eventName), null, false), split);
        } else if (usage != null) {
            // a request for several completions: vLLM's continuous usage beside a chunk's choice counts
            // that choice alone; only a usage chunk without choices adds them up
            reported = usageObject(usage, event && manyCompletions && doc.choices());
        } else if (event && doc.usage("interaction.usage") != null) {
            // a Gemini Interactions stream's last event (interaction.complete, interaction.completed): the
            // interaction whole, with its usage (round 284: a streamed interaction was charged its hold)
            reported = usageObject(doc.usage("interaction.usage"), false);
        } else if (doc.usage("choices[].usage") != null) {
            // Moonshot (Kimi) reports a stream's counts in its last chunk's choices[0].usage, unasked
            reported = usageObject(doc.usage("choices[].usage"), false);
        } else if (doc.usage("models_usage") != null) {
            // an AutoGen agent's message: the model call that wrote it (round 302)
            reported = autoGen(doc.usage("models_usage"), doc.id());
        } else if (doc.usage("data.usage") != null) {
            // an application's envelope around the answer ({"code": 0, "data": {…}}, a Spring
            // ResponseBodyAdvice): its data may as well be a model's own JSON, so the usage there is
            // provisional, charged at least the estimate
            reported = usageObject(doc.usage("data.usage"), true);
        } else if (doc.usage(JsonDocumentScanner.LLAMAINDEX_RAW_USAGE) != null
                || doc.usage(JsonDocumentScanner.LLAMAINDEX_COUNTS) != null) {
            // round 388: a LlamaIndex ChatResponse returned whole (a call of 10,800 tokens was charged its hold,
            // 1,016): its raw chat completion's usage, else the counts LlamaIndex copied from it (the scanner keeps
            // either only in that exact shape); provisional as data.usage is, since a model's own JSON may be so shaped
            Map<String, Long> raw = doc.usage(JsonDocumentScanner.LLAMAINDEX_RAW_USAGE);
            reported = usageObject(raw != null ? raw : doc.usage(JsonDocumentScanner.LLAMAINDEX_COUNTS), true);
        }
        Map<String, Long> letta = doc.usage(JsonDocumentScanner.LETTA_USAGE);
        if (letta != null) {
            // round 412: a Letta agent's stream ends with the run's LettaUsageStatistics as a document of its own (a
            // turn of 9,950 tokens was charged its hold, 1,017): the steps' calls summed, one report of the run, read
            // as a whole LettaResponse's usage is (Letta's prompt_tokens count the cache reads and writes)
            reported |= usageObject(lettaReasoning(letta), false);
        }
        Map<String, Long> mastra = doc.usage(JsonDocumentScanner.MASTRA_USAGE);
        if (mastra != null && has(mastra, "inputTokens", "outputTokens", "totalTokens")) {
            // round 388: a Mastra agent's stream (a two-call run of 13,050 tokens was charged its hold, 1,016): each
            // step-finish is one model call's usage and they add up, finish is the run's total and the larger
            // counts, as the Vercel AI SDK's step and message finish parts (the scanner keeps them only in Mastra's
            // exact chunk, step-finish and finish alone). Round 394: per run, by its runId; an agent piped through a
            // tool's writer is a run of its own, which the outer run's finish does not total (4,680 charged of 12,180)
            Long own = larger(mastra.get("totalTokens"), sum(mastra.get("inputTokens"), mastra.get("outputTokens")));
            long[] split = UsageKinds.withTotal(UsageKinds.inputOutput(mastra, "inputTokens", "outputTokens"), own);
            reported |= kinds(addUp(Format.OPENAI, own, split, "finish".equals(type), doc.mastraRun(), false), split);
        }
        Map<String, Long> agentCall = doc.usage(JsonDocumentScanner.AGENT_TRACE_USAGE);
        if (agentCall != null && has(agentCall, "inputTokens", "outputTokens")) {
            // round 470: a Bedrock agent's InvokeAgent stream with its trace on (a turn of two model calls, 7,460
            // tokens, was charged its hold, 1,016): each trace event's modelInvocationOutput reports one model call
            // the agent made, once, and no event totals the turn, so they add up as the data stream's step finish
            // parts do (the scanner keeps them only at that place of a TracePart)
            long[] split = UsageKinds.inputOutput(agentCall, "inputTokens", "outputTokens");
            reported |= kinds(addUp(Format.BEDROCK, UsageKinds.total(split), split, false, null, false), split);
        }
        if (!doc.teamMessages().isEmpty()) {
            // AutoGen Studio's team run: each agent message's models_usage (round 302), and an AgentChat TaskResult
            // returned whole (round 406: 1,014 charged for 3,185). Its envelope's data, or an application's exact
            // shape, may as well be a model's own JSON, so what it reports is provisional, as data.usage is: charged
            // at least the estimate. The TaskResult that ends run_stream repeats the messages streamed, by their ids:
            // it adds nothing, and leaves the answer as final as they made it. Messages without an id (AgentChat
            // 0.6.1 and before) are one report of the whole run (autoGenRun)
            long[] before = addedUp();
            boolean team = false;
            java.util.List<Map<String, Long>> unnamed = new java.util.ArrayList<>();
            for (JsonDocumentScanner.Message message : doc.teamMessages()) {
                if (message.id() == null) {
                    unnamed.add(message.usage());
                } else {
                    team |= autoGen(message.usage(), message.id());
                }
            }
            if (!unnamed.isEmpty()) {
                team |= autoGenRun(unnamed);
            }
            unfinished |= team && !java.util.Arrays.equals(before, addedUp());
            reported |= team;
        }
        if (event && "message_start".equals(type) && doc.usage("message.usage") != null) {
            // counted before the model wrote its answer: the output arrives with message_delta
            reported |= report(Format.ANTHROPIC, null, doc.usage("message.usage"), true);
        }
        if (event && type != null && type.startsWith("response.") && doc.usage("response.usage") != null) {
            reported |= kinds(report(Format.OPENAI, openAi(doc.usage("response.usage")), null, false),
                    UsageKinds.openAi(doc.usage("response.usage")));
        }
        Map<String, Long> evalRun = doc.usage(JsonDocumentScanner.PER_MODEL_USAGE);
        if (evalRun != null && "eval.run".equals(doc.object()) && has(evalRun, "total_tokens", "prompt_tokens", "completion_tokens")) {
            // an OpenAI eval run read back: the calls its models made at the provider, each model's counts
            // (round 268: a run of 40 calls and 16,000 tokens was charged its creation's estimate, 1,033)
            reported |= kinds(report(Format.OPENAI, openAi(evalRun), null, false), UsageKinds.openAi(evalRun));
        }
        Map<String, Long> cloudflare = doc.usage(JsonDocumentScanner.CLOUDFLARE_USAGE);
        if (cloudflare != null && has(cloudflare, "total_tokens", "prompt_tokens", "completion_tokens")) {
            // Cloudflare's API envelope: {"result": {"response": …, "usage": {…}}, "success": true}, the only
            // document the scanner keeps it in (round 354)
            reported |= kinds(report(Format.OPENAI, openAi(cloudflare), null, false), UsageKinds.openAi(cloudflare));
        }
        Map<String, Long> replicate = doc.usage("metrics");
        if (replicate != null && has(replicate, "input_token_count", "output_token_count")) {
            // a Replicate prediction's metrics (beside its predict_time)
            reported |= kinds(report(Format.REPLICATE, sum(replicate.get("input_token_count"),
                    replicate.get("output_token_count")), null, false),
                    UsageKinds.inputOutput(replicate, "input_token_count", "output_token_count"));
        }
        for (JsonDocumentScanner.AgnoRun run : doc.agnoRuns()) {
            if (run.metrics().keySet().containsAll(AGNO_COUNTS)) {
                // round 412: an Agno RunOutput answered whole or its stream's RunCompleted event (a run of 12,350
                // tokens was charged its hold, 1,040): metrics are the run's calls summed, one report of the run.
                // Round 415: a team's leader and each member's run are runs of their own (13,230 charged 2,280), one
                // report per run_id: a member's RunCompleted streamed before its team's TeamRunCompleted, which
                // holds that run again, counts once (the larger report)
                long[] kinds = UsageKinds.agno(run.metrics(), run.providers());
                reported |= kinds(addUp(Format.OPENAI, UsageKinds.total(kinds), kinds, true, run.runId(), false), kinds);
            }
        }
        Map<String, Long> lmStudio = doc.usage(JsonDocumentScanner.LMSTUDIO_STATS) != null
                ? doc.usage(JsonDocumentScanner.LMSTUDIO_STATS) : doc.usage(JsonDocumentScanner.LMSTUDIO_END_STATS);
        if (lmStudio != null) {
            // LM Studio's native chat, whole or its stream's chat.end (round 315: charged the estimate, 1,010 for
            // 9,700): input_tokens counts the thread it read again, total_output_tokens the reasoning with the
            // message; the scanner keeps only stats with both
            reported |= kinds(report(Format.LMSTUDIO, sum(lmStudio.get(JsonDocumentScanner.LMSTUDIO_INPUT),
                    lmStudio.get(JsonDocumentScanner.LMSTUDIO_OUTPUT)), null, false),
                    UsageKinds.inputOutput(lmStudio, JsonDocumentScanner.LMSTUDIO_INPUT, JsonDocumentScanner.LMSTUDIO_OUTPUT));
        }
        if (doc.usage("x_groq.usage") != null) {
            reported |= kinds(report(Format.OPENAI, openAi(doc.usage("x_groq.usage")), null, false),
                    UsageKinds.openAi(doc.usage("x_groq.usage")));
        }
        Map<String, Long> metadata = doc.usage("metadata.usage");
        if (metadata != null) {
            // a relayed Bedrock ConverseStream's metadata event, Spring AI's ChatResponse metadata, Dify's
            // message metadata: each in its own provider's shape. Spring AI's stream copies the counts it
            // had so far into every chunk (Anthropic's message_start: the output's first token; Gemini's
            // early chunks: the prompt alone): final only in the chunk that ends the answer
            boolean springAi = springAiUsage(metadata) != null
                    // in snake_case (spring.jackson.property-naming-strategy=SNAKE_CASE) it reads as Dify's
                    // message metadata, which always names its event
                    || doc.event() == null && has(metadata, "prompt_tokens", "completion_tokens");
            // once a chunk ended it, the answer's counts are final: Spring AI's OpenAI model sends the
            // provider's usage-only chunk after it, with no result
            springAiEnded |= springAi && doc.ended();
            reported |= usageObject(metadata, springAi && !springAiEnded);
        }
        for (String[] lc4j : LANGCHAIN4J_USAGE) {
            Map<String, Long> u = doc.usage(lc4j[0]);
            if (u != null && has(u, lc4j[1], lc4j[2], lc4j[3])) {
                // LangChain4j's ChatResponse as Jackson writes it (metadata.tokenUsage), and its older
                // Response<AiMessage> (tokenUsage): the TokenUsage of the provider's answer. Its Anthropic and
                // Bedrock subclasses count the prompt cache beside the input (inputTokenCount is the uncached
                // part, totalTokenCount leaves the cache out): what the cache read and wrote is added
                Long read = u.get(lc4j[4]);
                Long written = sum(u.get(lc4j[5]), u.get(lc4j[6]));
                long[] kinds = UsageKinds.withTotal(UsageKinds.inputOutput(u, lc4j[1], lc4j[2]), u.get(lc4j[3]));
                kinds[0] = UsageKinds.add(kinds[0], written == null ? 0 : written);
                kinds[1] = UsageKinds.add(kinds[1], read == null ? 0 : read);
                reported |= kinds(report(Format.LANGCHAIN4J, larger(u.get(lc4j[3]),
                        sum(u.get(lc4j[1]), u.get(lc4j[2]), read, written)), null, false), kinds);
            }
        }
        Map<String, Long> crew = doc.usage("token_usage");
        if (crew != null && crew.keySet().containsAll(CREWAI_COUNTS)) {
            // CrewAI's CrewOutput returned whole: token_usage is its UsageMetrics, the crew's calls summed, one
            // report of the run; cached_prompt_tokens is within prompt_tokens (round 391: a two-call crew of 14,050
            // tokens was charged its hold, 1,011)
            reported |= kinds(report(Format.OPENAI, openAi(crew), null, false),
                    UsageKinds.withTotal(UsageKinds.inputOutput(crew, "prompt_tokens", "completion_tokens"),
                            crew.get("total_tokens")));
        }
        for (String hunyuan : new String[] {"Usage", "Response.Usage"}) {
            Map<String, Long> u = doc.usage(hunyuan);
            if (u != null && has(u, "TotalTokens", "PromptTokens", "CompletionTokens")) {
                // Tencent Hunyuan (its API's PascalCase): at the top of a stream's chunk, under Response
                reported |= kinds(report(Format.OPENAI, larger(u.get("TotalTokens"),
                        sum(u.get("PromptTokens"), u.get("CompletionTokens"))), null, false),
                        UsageKinds.inputOutput(u, "PromptTokens", "CompletionTokens"));
            }
        }
        if ("message-end".equals(type) && doc.usage("delta.usage") != null) {
            reported |= kinds(report(Format.COHERE, cohere(doc.usage("delta.usage")), null, false),
                    UsageKinds.cohere(doc.usage("delta.usage")));
        }
        for (String meta : new String[] {"meta", "response.meta"}) {
            if (doc.usage(meta) != null) {
                reported |= kinds(report(Format.COHERE, cohere(doc.usage(meta)), null, false),
                        UsageKinds.cohere(doc.usage(meta)));
            }
        }
        Map<String, Long> gemini = doc.usage("usageMetadata");
        if (gemini == null) {
            gemini = doc.usage("usage_metadata");
        }
        if (gemini != null && has(gemini, LANGCHAIN_COUNTS)) {
            // LangChain's message or message chunk (returned whole by a FastAPI route, streamed by
            // LangServe's /stream, a route relaying astream(), or LangGraph's messages-tuple):
            // usage_metadata in the Responses API's names, not Gemini's (whose snake_case running totals
            // stay Gemini's). LangGraph's messages mode sends each message accumulated so far
            // (messages/partial, messages/complete): a total
            reported |= langChain(gemini, eventName != null && eventName.startsWith("messages/"), doc.id(),
                    "AIMessageChunk".equals(doc.type()));
            gemini = null;
        } else if (SseEvents.graphState(eventName)) {
            // a LangGraph server's updates (each node's new messages) or values (the whole state, again
            // after each step): each AI message is one model call's whole result, counted once by its id;
            // those the run's first values event holds are the thread's history, the earlier runs'. Nothing
            // else in the state is usage (the scanner keeps only its messages, round 354)
            boolean firstState = eventName.startsWith("values") && graphHistory == null;
            if (firstState) {
                graphHistory = new java.util.HashSet<>();
            }
            for (JsonDocumentScanner.Message message : doc.messages()) {
                if (firstState && message.id() != null && graphHistory.size() < MAX_MESSAGES) {
                    graphHistory.add(message.id());
                } else if (message.id() == null || graphHistory == null || !graphHistory.contains(message.id())) {
                    reported |= langChain(message.usage(), true, message.id(), false);
                }
            }
            gemini = null;
        } else if (langServe(doc.messages())) {
            // the messages LangServe's output holds (/invoke's one, /batch's list, a RunnableParallel's
            // map), each a model call's whole result, found only in objects shaped as a message
            // (JsonDocumentScanner.LANGSERVE_OUTPUT): their calls add up
            for (JsonDocumentScanner.Message message : doc.messages()) {
                reported |= langChain(message.usage(), false, doc.id(), false);
            }
            gemini = null;
        } else {
            withoutUsage(doc.id());
        }
        if (gemini != null) {
            Long candidates = gemini(gemini, "candidatesTokenCount");
            Long total = gemini(gemini, "totalTokenCount");
            // thoughts alone do not count: a thinking model's early chunks may count prompt and thoughts
            // without the text already sent; a stream's early chunk counts the prompt only, the output
            // comes with the last chunk
            boolean complete = positive(candidates) || doc.ended();
            reported |= kinds(report(Format.GEMINI, total != null ? total : sum(gemini(gemini, "promptTokenCount"),
                    candidates, gemini(gemini, "thoughtsTokenCount"), gemini(gemini, "toolUsePromptTokenCount")), null,
                    !complete), UsageKinds.gemini(gemini));
        }
        Map<String, Long> root = doc.usage("");
        if (root != null) {
            Long watsonxPrompt = rootCounters.get(JsonDocumentScanner.WATSONX_INPUT);
            rootCounters.putAll(root);
            if (watsonxPrompt != null && Long.valueOf(0).equals(root.get(JsonDocumentScanner.WATSONX_INPUT))) {
                // watsonx.ai's stream counts the prompt in its first event and sends 0 in every later one
                // (round 253: a 6,300-token call was charged its 300 generated)
                rootCounters.put(JsonDocumentScanner.WATSONX_INPUT, watsonxPrompt);
            }
            root = rootCounters;
            if (has(root, "eval_count", "prompt_eval_count")) {
                // Ollama counts only on its last object ("done": true); an answer from its prompt cache
                // leaves the prompt's count out (or counts only what it evaluated anew), so without
                // one the report is charged at least the estimate
                boolean prompt = root.containsKey("prompt_eval_count");
                reported |= kinds(report(Format.OLLAMA, sum(root.get("prompt_eval_count"), root.get("eval_count")), null,
                        !prompt), UsageKinds.inputOutput(root, "prompt_eval_count", "eval_count"));
                outputOnly = !prompt;
            } else if (has(root, "tokens_predicted", "tokens_evaluated")) {
                // llama.cpp's stream counts in every chunk; the one that says "stop": true has the final figures
                reported |= kinds(report(Format.LLAMA_CPP, sum(root.get("tokens_evaluated"), root.get("tokens_predicted")),
                        null, !doc.ended()), UsageKinds.inputOutput(root, "tokens_evaluated", "tokens_predicted"));
            } else if (has(root, JsonDocumentScanner.WATSONX_INPUT, JsonDocumentScanner.WATSONX_OUTPUT)) {
                reported |= kinds(report(Format.WATSONX, sum(root.get(JsonDocumentScanner.WATSONX_INPUT),
                        root.get(JsonDocumentScanner.WATSONX_OUTPUT)), null, false),
                        UsageKinds.inputOutput(root, JsonDocumentScanner.WATSONX_INPUT, JsonDocumentScanner.WATSONX_OUTPUT));
            } else if (has(root, "inputTextTokenCount", JsonDocumentScanner.TITAN_RESULTS, "totalOutputTextTokenCount")) {
                // Titan: its results' counts, or in a stream the running totalOutputTextTokenCount
                Long output = larger(root.get(JsonDocumentScanner.TITAN_RESULTS), root.get("totalOutputTextTokenCount"));
                reported |= kinds(report(Format.BEDROCK, sum(root.get("inputTextTokenCount"), output), null, false),
                        new long[] {root.getOrDefault("inputTextTokenCount", 0L), 0, output == null ? 0 : output, 0});
            } else if (root.containsKey(JsonDocumentScanner.LMDEPLOY_OUTPUT)
                    && root.containsKey(JsonDocumentScanner.LMDEPLOY_INPUT)) {
                // LMDeploy's interactive API: its session's history is input the model reads again
                Long input = root.get(JsonDocumentScanner.LMDEPLOY_INPUT);
                Long history = root.get(JsonDocumentScanner.LMDEPLOY_HISTORY);
                Long output = root.get(JsonDocumentScanner.LMDEPLOY_OUTPUT);
                reported |= kinds(report(Format.LMDEPLOY, sum(input, history, output), null, false),
                        new long[] {input, history == null ? 0 : history, output, 0});
            } else {
                reported |= kinds(report(Format.BEDROCK, sum(root.get("prompt_token_count"),
                        root.get("generation_token_count")), null, false),
                        UsageKinds.inputOutput(root, "prompt_token_count", "generation_token_count"));
            }
        }
        Map<String, Long> metrics = doc.usage("amazon-bedrock-invocationMetrics");
        if (metrics != null && has(metrics, "inputTokenCount", "outputTokenCount")) {
            // Bedrock InvokeModel's stream ends with the service's own counts, whatever the model's body
            // counted (Mistral's counts nothing): after the body's counters, so they win
            Long in = metrics.get("inputTokenCount");
            Long out = metrics.get("outputTokenCount");
            Long read = metrics.get("cacheReadInputTokenCount");
            Long write = metrics.get("cacheWriteInputTokenCount");
            // the service's count, not a format's: it stands beside whatever format the body fixed
            // (Anthropic on Bedrock), as the token-count headers do
            // once a call: the calls an answer relays add up
            invocationTotal = sum(invocationTotal, sum(in, out, read, write));
            long[] call = UsageKinds.bedrockInvocation(in, out, read, write);
            invocationKinds = invocationKinds == null ? call : addTo(invocationKinds.clone(), call);
            reported = true;
        }
        Map<String, Long> tgi = doc.usage("details");
        if (tgi != null && tgi.containsKey("generated_tokens")) {
            // with best_of, the sequences the answer did not choose were generated too
            Long generated = sum(tgi.get("generated_tokens"), tgi.get(JsonDocumentScanner.BEST_OF_GENERATED));
            Long input = tgi.get("input_length");
            if (input != null) {
                // generate_stream's last event (StreamDetails) counts the prompt too, the figure TGI's own
                // /v1/completions stream reports as prompt_tokens: the call's whole usage (round 315: the
                // estimate stood in for 9,000 tokens read)
                reported |= kinds(report(Format.TGI, sum(input, generated), null, false), new long[] {input, 0, generated, 0});
            } else {
                // Hugging Face TGI's /generate counts what it generated, not the prompt: charged at least the estimate
                reported |= kinds(report(Format.TGI, generated, null, true), new long[] {0, 0, generated, 0});
                outputOnly = true;
            }
        }
        return reported;
    }

    /** LangChain's {@code usage_metadata} counters: its {@code UsageMetadata} type, in the Responses API's names. */
    private static final String[] LANGCHAIN_COUNTS = {"input_tokens", "output_tokens", "total_tokens"};

    /** Whether any of LangServe's output messages ({@link JsonDocumentScanner.Document#messages}) counts tokens. */
    private static boolean langServe(java.util.List<JsonDocumentScanner.Message> messages) {
        return messages.stream().anyMatch(m -> has(m.usage(), LANGCHAIN_COUNTS));
    }

    /**
     * The calls an answer relayed one after another before the current one ({@code {total, kinds...}}),
     * each its last report: an agent's loop streams each model call as its provider sent it, and each
     * call's reports are running totals of that call alone, under the id the provider gave it
     * ({@link JsonDocumentScanner.Document#streamCall}). {@code null} until a second call began.
     */
    private long[] earlierCalls;
    /**
     * {@link #earlierCalls} one by one, each with the models its own documents named, so that each call
     * is weighed at its own model's rates ({@link #perCall}); at most {@link #MAX_CALLS_KEPT}, after
     * which {@link #callsCut} says some are missing.
     */
    private java.util.List<CallUsage> callList;
    private boolean callsCut;
    /**
     * The models named by the documents of each call not yet folded, by the call's id (calls relayed
     * side by side interleave their chunks), distinct, at most {@link Weighing#MAX_CANDIDATES} a call;
     * the {@link #CALL_IDS_KEPT} latest ids.
     */
    private final Map<String, java.util.Set<String>> callModels = new java.util.LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, java.util.Set<String>> eldest) {
            return size() > CALL_IDS_KEPT;
        }
    };
    private static final int CALL_IDS_KEPT = 64;
    /** Relayed calls kept one by one; an answer relaying more is weighed as one ({@link #perCall}). */
    static final int MAX_CALLS_KEPT = 256;

    /** One model call an answer relayed: its usage {@code {total, kinds...}} and the models it named. */
    record CallUsage(java.util.List<String> models, long[] usage) {
    }
    /** The provider's id of the call the answer's current reports belong to, and whether its last report was final. */
    private String segmentCall;
    private boolean segmentFinal;
    /** The current call's last report came on a chunk that finished its choice ({@link #accept}). */
    private boolean segmentChoiceEnded;
    /** The choices the current call's chunks finished, by {@link JsonDocumentScanner#choiceBit}. */
    private long segmentFinishedChoices;
    /**
     * A document of the current call ended it (a Gemini candidate's {@code finishReason}, Ollama's
     * {@code "done": true}...): a Gemini chunk's counts from then on are final.
     */
    private boolean segmentEnded;
    /** The {@code object} of the current call's last document that named it. */
    private String segmentObject;
    /** The current call's id came on more than one chunk, or on the chunk that named its choice's role. */
    private boolean segmentRepeated;
    /** {@link #textTokens} when the current call's id first came. */
    private long segmentText;
    /**
     * The call folded when a Response was created again under its id ({@link #accept}), as {@link #callList}
     * keeps it, until the next report: {@code null} otherwise.
     */
    private long[] restarted;
    /** The calls folded as cut ({@link #beginsCall}) by id: their usage as {@link #callList} keeps it. */
    private final Map<String, long[]> cutCalls = new HashMap<>();
    /** The top-level {@code id} of the last document that reported usage ({@code null}: it named none). */
    private String lastReportId;
    /**
     * The ids of the calls the answer named by the events that begin them
     * ({@link JsonDocumentScanner.Document#streamCall}), up to {@link #MAX_NAMED_CALLS}.
     */
    private final java.util.Set<String> namedCalls = new java.util.HashSet<>();
    private static final int MAX_NAMED_CALLS = 1024;
    /** The current call's last Gemini {@code usageMetadata} (a Google ADK event's too). */
    private Map<String, Long> segmentGeminiUsage;
    /** Calls begun by documents that name none ({@link JsonDocumentScanner#NEXT_CALL}), to tell them apart. */
    private long callsBegun;

    /**
     * Another call began after the current one's final report: the current one's usage joins
     * {@link #earlierCalls}, and the format's reports start again. Only for the formats whose reports
     * are one call's running totals; the others (added up, per message, per batch line) keep theirs.
     */
    private void foldCall() {
        foldCall(0);
    }

    /**
     * {@link #foldCall()} for a call cut before its final report whose chunks carried {@code text} tokens of
     * text: that is its output at least, as a cut stream alone is charged (round 360).
     */
    private void foldCall(long text) {
        if (calls != null || parts != null || whole != null || messages != null || decoded != null
                || !ONE_CALL_REPORTS.contains(format)) {
            return;
        }
        Long usage = currentCallUsage();
        if (usage == null) {
            return;
        }
        long[] split = format == Format.ANTHROPIC ? UsageKinds.anthropic(anthropic) : kinds;
        long[] call = {usage, 0, 0, 0, 0};
        if (split != null) {
            System.arraycopy(split, 0, call, 1, Math.min(4, split.length));
        }
        if (split != null && split.length == 4 && text > call[3]) {
            call[0] = StreamText.plus(call[0], text - call[3]);
            call[3] = text;
        }
        addCall(modelsOf(segmentCall), call);
        callModels.remove(segmentCall);
        resetCall();
    }

    /** A run's total was set aside ({@link #accept}): the same total again is set aside too. */
    private boolean totalSeen;

    /**
     * Whether {@code report} counts what {@code calls} (every call's added up) did: the same total, and the
     * same kinds where both say them (round 227: a judge's call of 15,500 in and 100 out is no total of
     * calls of 15,000 in and 600 out).
     */
    private static boolean sameCounts(long[] report, long[] calls) {
        if (report == null || report[0] != calls[0]) {
            return false;
        }
        for (int i = 1; i < Math.min(report.length, calls.length); i++) {
            if (report[i] != 0 && calls[i] != 0 && report[i] != calls[i]) {
                return false;
            }
        }
        return true;
    }

    /** How many times {@link #resetCall} began the current call's reports anew. */
    private long callsReset;
    /**
     * An event stream's end marker ({@code data: [DONE]}) came: the call it ended ({@link #segmentCall}, {@code null}
     * when its reports named none) as {@link #callsReset} counted it then.
     */
    private boolean markerSeen;
    private String markerCall;
    private long markerReset;

    /** An event stream's end marker came ({@link SseEvents}): the current call is ended for its client. */
    private void streamEnded() {
        markerSeen = true;
        markerCall = segmentCall;
        markerReset = callsReset;
    }

    /**
     * Whether a document naming {@code call} (its {@link JsonDocumentScanner.Document#streamCall}, after the
     * folds {@link #accept} made for it) reports on the call an end marker ended: no other call begun since,
     * and it names that call or none.
     */
    private boolean endedByMarker(String call) {
        return markerSeen && markerReset == callsReset && java.util.Objects.equals(segmentCall, markerCall)
                && (call == null || call.isEmpty() || call.equals(markerCall));
    }

    /** The current call's figure as {@link #report} and {@link #kinds(boolean, long[])} keep it, to put back. */
    private final class CallFigure {
        private final Format format = UsageSniffer.this.format;
        private final Long latest = UsageSniffer.this.latest;
        private final long[] kinds = UsageSniffer.this.kinds;
        private final Map<String, Long> anthropic = new HashMap<>(UsageSniffer.this.anthropic);
        private final Map<String, Long> rootCounters = new HashMap<>(UsageSniffer.this.rootCounters);
        private final boolean unfinished = UsageSniffer.this.unfinished;
        private final boolean outputOnly = UsageSniffer.this.outputOnly;

        void restore() {
            UsageSniffer.this.format = format;
            UsageSniffer.this.latest = latest;
            UsageSniffer.this.kinds = kinds;
            UsageSniffer.this.anthropic.clear();
            UsageSniffer.this.anthropic.putAll(anthropic);
            UsageSniffer.this.rootCounters.clear();
            UsageSniffer.this.rootCounters.putAll(rootCounters);
            UsageSniffer.this.unfinished = unfinished;
            UsageSniffer.this.outputOnly = outputOnly;
        }
    }

    /** The format's reports of the current call start again (it was folded, or was the run's total). */
    private void resetCall() {
        callsReset++;
        latest = null;
        anthropic.clear();
        rootCounters.clear();
        kinds = null;
        format = null;
        outputOnly = false;
        segmentFinal = false;
        segmentChoiceEnded = false;
        segmentFinishedChoices = 0;
        segmentEnded = false;
        segmentGeminiUsage = null;
        // the next call is unfinished until it reports
        unfinished = true;
    }

    /**
     * Whether {@code doc}, which names no call, is one call's final report, in any format: Ollama's last
     * object ({@code "done": true}), a Bedrock Converse answer's {@code usage} or a ConverseStream's
     * {@code metadata.usage}, a Cohere v2 answer's {@code usage} or its stream's {@code message-end}, a
     * Cohere v1 answer's {@code meta} or its stream's {@code stream-end}, a Meta model's answer on
     * Bedrock (its first object counts the prompt), Spring AI's {@code ChatResponse} that ends its answer,
     * LangChain4j's {@code ChatResponse}, a whole OpenAI Response, a whole Gemini answer that names no
     * {@code responseId} after one that ended its call. Each call has one: after another call's final
     * report, it is a call of its own, in its own format (an agent relaying several providers' calls).
     */
    private boolean finalReport(JsonDocumentScanner.Document doc) {
        Map<String, Long> root = doc.usage("");
        Map<String, Long> spring = doc.usage("metadata.usage");
        return doc.ended() && root != null && (has(root, "prompt_eval_count", "eval_count")
                // llama.cpp's answer ("stop": true), one without index (a server before 2025)
                || has(root, "tokens_evaluated", "tokens_predicted"))
                || converse(doc.usage("usage")) || converse(spring)
                || "message-end".equals(doc.type()) && doc.usage("delta.usage") != null
                || doc.type() == null && doc.usage("usage") != null && cohere(doc.usage("usage")) != null
                || doc.usage("meta") != null && cohere(doc.usage("meta")) != null
                || doc.usage("response.meta") != null && cohere(doc.usage("response.meta")) != null
                || root != null && root.containsKey("prompt_token_count") && root.containsKey("generation_token_count")
                || doc.ended() && spring != null && (springAiUsage(spring) != null
                        || doc.event() == null && has(spring, "prompt_tokens", "completion_tokens"))
                || LANGCHAIN4J_USAGE.stream().anyMatch(lc4j -> doc.usage(lc4j[0]) != null
                        && has(doc.usage(lc4j[0]), lc4j[1], lc4j[2], lc4j[3]))
                || "response".equals(doc.object()) && doc.usage("usage") != null
                // a whole chat completion is a call's final count, never a running one: one without an id after
                // another call is a call of its own (round 227: a judge's answer relayed whole after a named
                // call made that call free), or that call read back whole (the very counts: one call)
                || "chat.completion".equals(doc.object()) && doc.choices() && !doc.chatChunk() && doc.usage("usage") != null
                // OpenAI's streamed speech and transcription end with their usage, naming no call
                || ("speech.audio.done".equals(doc.type()) || "transcript.text.done".equals(doc.type()))
                && doc.usage("usage") != null
                || segmentEnded && doc.ended() && geminiUsage(doc) != null;
    }

    /** A document's Gemini {@code usageMetadata} (or its snake_case spelling), {@code null} when none. */
    private static Map<String, Long> geminiUsage(JsonDocumentScanner.Document doc) {
        Map<String, Long> usage = doc.usage("usageMetadata");
        return usage != null ? usage : doc.usage("usage_metadata");
    }

    private static boolean converse(Map<String, Long> usage) {
        return usage != null && has(usage, "inputTokens", "outputTokens");
    }

    /**
     * Whether an answer no format reads may be a model's text: a {@code text/*} label, or a label the
     * client's {@code Accept} may have chosen for a {@code String} (JSON, XML, {@code octet-stream}) over
     * bytes that are text (no NUL among the first, but in UTF-16 and UTF-32); under any other label the
     * client's {@code Accept} names (Spring labels a {@code String} with it: {@code application/javascript},
     * {@code application/pdf}) when the first bytes are text to the letter: well-formed in the charset, no
     * control character but whitespace. A label the server chose itself (SockJS's
     * {@code application/javascript} frames) says the body is its own format. Never audio, video or an image.
     */
    private static boolean textual(String type, byte[] head, java.nio.charset.Charset charset,
                                   java.util.Set<String> accepted) {
        if (type.startsWith("audio/") || type.startsWith("video/") || type.startsWith("image/")
                || head != null && AudioDuration.startsAsAudio(head)) {
            return false;
        }
        // a NUL is a character's byte in UTF-16 and UTF-32, under each of their names (x-UTF-16LE-BOM too)
        String name = charset.name().toUpperCase(Locale.ROOT);
        if (head != null && !name.contains("UTF-16") && !name.contains("UTF-32")) {
            for (byte b : head) {
                if (b == 0) {
                    return false;
                }
            }
        }
        return type.isBlank() || type.startsWith("text/") || type.contains("json") || type.contains("xml")
                || type.startsWith("application/octet-stream")
                || accepted.contains(type.split(";", 2)[0].strip()) && strictlyText(head, charset);
    }

    /**
     * Whether {@code head} is text to the letter: well-formed in {@code charset} (a character cut at the
     * end aside) and no control character but tab, line feed, form feed and carriage return. A binary
     * format's first bytes (a PDF's marker line, an archive's header) are not.
     */
    private static boolean strictlyText(byte[] head, java.nio.charset.Charset charset) {
        if (head == null || head.length == 0) {
            return false;
        }
        java.nio.CharBuffer chars = java.nio.CharBuffer.allocate(256);
        java.nio.charset.CoderResult result = charset.newDecoder()
                .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT)
                .decode(java.nio.ByteBuffer.wrap(head, 0, Math.min(head.length, 256)), chars, false);
        if (result.isError()) {
            return false;
        }
        chars.flip();
        while (chars.hasRemaining()) {
            char c = chars.get();
            if (Character.isISOControl(c) && c != '\t' && c != '\n' && c != '\f' && c != '\r') {
                return false;
            }
        }
        return true;
    }

    /** The current call's report {@code {total, kinds...}} ({@link #foldCall} keeps it so), or {@code null}. */
    private long[] currentReport() {
        Long usage = currentCallUsage();
        if (usage == null) {
            return null;
        }
        long[] split = format == Format.ANTHROPIC ? UsageKinds.anthropic(anthropic) : kinds;
        long[] report = {usage, 0, 0, 0, 0};
        if (split != null) {
            System.arraycopy(split, 0, report, 1, Math.min(4, split.length));
        }
        return report;
    }

    /**
     * A chunk that begins a model call, reporting nothing written yet: a chat chunk whose delta names its
     * choice's role, or a Gemini chunk that counts no candidates (round 360).
     */
    private static boolean beginsCall(JsonDocumentScanner.Document doc) {
        Map<String, Long> usage = doc.chatChunk() && doc.begunChoices() != 0 ? doc.usage("usage")
                : doc.geminiChunk() ? geminiUsage(doc) : null;
        if (usage == null) {
            return doc.chatChunk() && doc.begunChoices() != 0;
        }
        for (String written : new String[] {"completion_tokens", "candidatesTokenCount", "candidates_token_count"}) {
            if (usage.getOrDefault(written, 0L) != 0) {
                return false;
            }
        }
        return true;
    }

    /** Takes back a call {@link #foldCall} kept as cut ({@link #cutCalls}): its chunks went on. */
    private void takeBack(long[] cut) {
        if (!callList.removeIf(kept -> kept.usage() == cut)) {
            return;
        }
        for (int i = 0; i < earlierCalls.length; i++) {
            earlierCalls[i] -= cut[i];
        }
        if (callList.isEmpty()) {
            earlierCalls = null;
        }
    }

    /** Takes back the call {@link #foldCall} kept last: the current call is that call. */
    private void unfold() {
        CallUsage last = callList.remove(callList.size() - 1);
        if (callList.isEmpty()) {
            earlierCalls = null;
        } else {
            for (int i = 0; i < earlierCalls.length; i++) {
                earlierCalls[i] -= last.usage()[i];
            }
        }
        if (segmentCall != null && !last.models().isEmpty()) {
            callModels.computeIfAbsent(segmentCall, k -> new java.util.LinkedHashSet<>()).addAll(last.models());
        }
    }

    /** Adds a finished call's usage {@code {total, kinds...}}, named {@code models}, to the earlier calls. */
    private void addCall(java.util.List<String> models, long[] call) {
        if (callList == null) {
            callList = new java.util.ArrayList<>();
        }
        if (callList.size() < MAX_CALLS_KEPT) {
            callList.add(new CallUsage(models, call.clone()));
        } else {
            callsCut = true;
        }
        earlierCalls = earlierCalls == null ? call.clone() : addTo(earlierCalls, call);
    }

    /**
     * Anthropic messages relayed side by side (two calls made at once, their events merged as they
     * arrive): their {@code message_start} events name their messages, their {@code message_delta} and
     * {@code message_stop} events do not. {@code null} while messages come one at a time.
     */
    private SideBySide sideBySide;

    /**
     * One stretch of Anthropic messages relayed side by side, from the {@code message_start} that came
     * before the open message's {@code message_delta} until as many {@code message_stop} events as
     * messages began. Each message's start counts its input at its own model. A delta's counts are its
     * message's so far (a message may send several), and which message it is is not said: the output
     * charged is the sum of the largest delta outputs, one per message, and the input a delta counts
     * beyond its message's start (a web search's results) is at most its excess over the smallest start
     * it could belong to (none when it equals a start's), the largest such excesses one per message; both at the dearest of the
     * messages' models. That is never less than the messages' own counts, and it is them exactly when
     * each message sends one delta and its input does not grow.
     */
    private final class SideBySide {
        private final java.util.Set<String> named = new java.util.LinkedHashSet<>();
        private final java.util.List<Long> starts = new java.util.ArrayList<>();
        private final Largest outputs = new Largest();
        private final Largest growth = new Largest();
        private int stops;

        void start(Map<String, Long> usage, java.util.List<String> models) {
            long[] split = UsageKinds.anthropic(usage);
            long input = StreamText.plus(split[0], split[1]);
            addCall(models, new long[] {input, split[0], split[1], 0, 0});
            named.addAll(models);
            starts.add(input);
        }

        void delta(Map<String, Long> usage) {
            long[] split = UsageKinds.anthropic(usage);
            long more = outputs.add(split[2], starts.size());
            long input = StreamText.plus(split[0], split[1]);
            // a delta counting a start's very input (the counts a delta repeats) has grown by nothing
            long least = starts.contains(input) ? input
                    : starts.stream().filter(n -> n <= input).mapToLong(Long::longValue).min().orElse(input);
            long grown = growth.add(input - least, starts.size());
            if (more > 0 || grown > 0) {
                addCall(java.util.List.copyOf(named), new long[] {StreamText.plus(more, grown), grown, 0, more, 0});
            }
        }

        /** Whether a message's stop ended the stretch. */
        boolean stop() {
            return ++stops >= starts.size();
        }
    }

    /** The sum of the largest values added, at most so many of them; bounded by the messages of a stretch. */
    private static final class Largest {
        private final java.util.PriorityQueue<Long> kept = new java.util.PriorityQueue<>();

        /** Adds {@code value}, keeping the {@code most} largest; how much their sum grew. */
        long add(long value, int most) {
            if (value <= 0) {
                return 0;
            }
            if (kept.size() < most) {
                kept.add(value);
                return value;
            }
            Long least = kept.peek();
            if (least == null || least >= value) {
                return 0;
            }
            kept.poll();
            kept.add(value);
            return value - least;
        }
    }

    /**
     * Reads an Anthropic event of messages relayed side by side ({@link SideBySide}); whether it was
     * one. A stretch begins at a {@code message_start} of another message before the open one's
     * {@code message_delta}; until it ends the usage is unfinished (charged at least the estimate).
     */
    private boolean sideBySide(JsonDocumentScanner.Document doc, String call, boolean named) {
        String type = doc.type();
        if ("message_start".equals(type) && call != null && doc.usage("message.usage") != null
                && (sideBySide != null || format == Format.ANTHROPIC && unfinished && segmentCall != null
                        && !call.equals(segmentCall) && !anthropic.isEmpty())) {
            if (sideBySide == null) {
                sideBySide = new SideBySide();
                sideBySide.start(anthropic, modelsOf(segmentCall));
                callModels.remove(segmentCall);
                anthropic.clear();
            }
            sideBySide.start(doc.usage("message.usage"), named ? java.util.List.of(doc.model()) : java.util.List.of());
            segmentCall = call;
            segmentFinal = false;
            unfinished = true;
            return true;
        }
        if (sideBySide == null) {
            return false;
        }
        if ("message_delta".equals(type) && doc.usage("usage") != null) {
            sideBySide.delta(doc.usage("usage"));
            return true;
        }
        if ("message_stop".equals(type)) {
            if (sideBySide.stop()) {
                sideBySide = null;
                unfinished = false;
                segmentFinal = true;
            }
            return true;
        }
        return false;
    }

    /** The formats whose reports are one call's running totals, which {@link #foldCall} adds up call by call. */
    private static final java.util.Set<Format> ONE_CALL_REPORTS = java.util.EnumSet.of(Format.OPENAI, Format.ANTHROPIC,
            Format.GEMINI, Format.BEDROCK, Format.COHERE, Format.OLLAMA, Format.LANGCHAIN4J,
            // llama.cpp's answer without index (a server before 2025): round 278
            Format.LLAMA_CPP);

    /** The data stream's step finish part and message finish part, as {@link SseEvents} names them. */
    private static final String STEP_PART = "part:e";
    private static final String MESSAGE_PART = "part:d";

    /** A Claude Code line was read ({@link #claudeRuns}): a {@code result} line's {@code usage} is then its run's. */
    private boolean claudeCodeRun;

    /** The Claude Code runs the answer relays ({@link ClaudeCodeRuns}), created at the first of their lines. */
    private ClaudeCodeRuns claudeRuns;

    private ClaudeCodeRuns claudeRuns() {
        if (claudeRuns == null) {
            claudeRuns = new ClaudeCodeRuns();
        }
        return claudeRuns;
    }

    /**
     * Whether the document is a Claude Code line that reports usage, as {@link #accepted} reads one into
     * {@link #claudeRuns}: an assistant line with its message's id and usage, a wrapped message_start or message_delta,
     * a result (with modelUsage, or with usage after other Claude Code lines). Its calls are told apart there, never by
     * the answer's calls folded one after another (round 549: with --verbose, --output-format json writes a run's
     * messages as one JSON array, whose elements were also folded as calls of their own).
     */
    private boolean claudeCodeLine(JsonDocumentScanner.Document doc) {
        String type = doc.type();
        if ("assistant".equals(type)) {
            Map<String, Long> message = doc.usage("message.usage");
            return message != null && doc.reportId() != null && message.containsKey("input_tokens")
                    && message.containsKey("output_tokens");
        }
        if (JsonDocumentScanner.CLAUDE_STREAM_EVENT.equals(type)) {
            return doc.usage(JsonDocumentScanner.CLAUDE_STREAM_START) != null
                    || doc.usage(JsonDocumentScanner.CLAUDE_STREAM_DELTA) != null;
        }
        return "result".equals(type) && (doc.usage("usage") != null && claudeCodeRun
                || doc.usage(JsonDocumentScanner.CLAUDE_MODEL_USAGE) != null);
    }

    /** Whether a Claude Code line may be read: the answer's reports so far are none, or of the format it is read in. */
    private boolean claudeFormat() {
        return format == null || format == Format.OPENAI;
    }

    /**
     * After a Claude Code line was read into {@link #claudeRuns} ({@code reported}: it reported usage): the runs'
     * total stands beside the other reports that add up ({@link #addedUp}), in the format those are read in.
     */
    private boolean claudeCode(boolean reported, Map<String, Long> usage) {
        if (!reported) {
            return false;
        }
        format = Format.OPENAI;
        this.unfinished = addedUp()[0] == 0;
        this.outputOnly = false;
        return kinds(true, UsageKinds.anthropic(usage));
    }

    /** The ids of the AI messages a LangGraph run's first {@code values} event held: the thread's history. */
    private java.util.Set<String> graphHistory;

    /**
     * An AutoGen agent message's {@code models_usage} ({@code RequestUsage}: {@code prompt_tokens},
     * {@code completion_tokens}), named by the message's {@code id}; whether it reported usage. Each message is
     * its own model call: a run's messages add up, as AutoGen's {@code Console} adds them (round 307). A message
     * named again is the same call's whole usage again, counted once: {@code run_stream} yields each message, then
     * the TaskResult holding them all (round 406: read, it would have charged the run twice, 6,370 for 3,185). A
     * 0/0 is AutoGen's placeholder for a call whose stream carried no usage (round 309), kept as such
     * ({@link #placeholders}) unless its message reports real counts.
     */
    private boolean autoGen(Map<String, Long> usage, String id) {
        long[] split = UsageKinds.inputOutput(usage, "prompt_tokens", "completion_tokens");
        Long tokens = sum(usage.get("prompt_tokens"), usage.get("completion_tokens"));
        // a named message's report is its total; messages without an id (AgentChat before 0.6) are parts that add up
        boolean reported = kinds(addUp(Format.OPENAI, tokens, split, id != null, id, false), split);
        if (reported && tokens == 0) {
            MessageReports named = id == null ? null : message(id);
            if (named != null) {
                named.placeholder = true;
            } else {
                // no id (AgentChat before 0.6), or past MAX_MESSAGES: a call of its own each time
                unnamedPlaceholders = UsageKinds.add(unnamedPlaceholders, 1);
            }
        }
        return reported;
    }

    /** AutoGen's 0/0 reports ({@link #autoGen}) that name no message kept apart. */
    private long unnamedPlaceholders;

    /**
     * The messages without an {@code id} of a run's {@code TaskResult} (or AutoGen Studio's {@code task_result}):
     * their {@code models_usage} summed, one report of the whole run; whether it reported usage. AgentChat 0.6.1 and
     * before name no message ({@code id} came in 0.6.2), and {@code run_stream} yields each message, then the
     * {@code TaskResult} holding them all: the streamed ones add up as parts, and the TaskResult, the whole run,
     * stands beside them, the larger counting (round 413: counted as parts again, a two-call run of 1,214 + 38 and
     * 1,322 + 611 was charged 6,370 for 3,185). Its 0/0 placeholders likewise: the larger of those streamed and its
     * own ({@link #runPlaceholders}).
     */
    private boolean autoGenRun(java.util.List<Map<String, Long>> messages) {
        Map<String, Long> run = new HashMap<>();
        long zeros = 0;
        for (Map<String, Long> usage : messages) {
            Long tokens = sum(usage.get("prompt_tokens"), usage.get("completion_tokens"));
            if (tokens != null) {
                for (String counter : new String[] {"prompt_tokens", "completion_tokens"}) {
                    run.merge(counter, usage.getOrDefault(counter, 0L), UsageKinds::add);
                }
                zeros += tokens == 0 ? 1 : 0;
            }
        }
        long[] split = UsageKinds.inputOutput(run, "prompt_tokens", "completion_tokens");
        Long tokens = sum(run.get("prompt_tokens"), run.get("completion_tokens"));
        boolean reported = kinds(addUp(Format.OPENAI, tokens, split, true, null, false), split);
        if (reported) {
            runPlaceholders = zeros;
        }
        return reported;
    }

    /** The 0/0 messages without an id in the last run's report ({@link #autoGenRun}). */
    private long runPlaceholders;

    /**
     * The model calls the answer reported with placeholder counts (AutoGen's {@code models_usage} 0/0: an agent
     * that streamed without usage), each once by its message's id, but a message that also reported real counts:
     * their cost is in none of {@link #usage()}'s counts, and settlement charges each the estimate
     * ({@code Settlement#withPlaceholders}). 0 when the answer's usage is another reading's (a server's usage
     * headers, several calls a results file named).
     */
    synchronized long placeholders() {
        long n = answerPlaceholders();
        for (UsageSniffer e : earlier) {
            n = UsageKinds.add(n, e.placeholders());
        }
        return n;
    }

    private long answerPlaceholders() {
        UsageSniffer larger = larger();
        if (larger != null) {
            return larger.placeholders();
        }
        Long headers = headerUsage();
        Long body = bodyUsage();
        if (headers != null && (body == null || headers >= body) || callsTotal() != null) {
            // the server's count of the whole answer, or the calls a results file named, stand for it
            return 0;
        }
        if (decoded != null) {
            return decoded.placeholders();
        }
        long n = Math.max(unnamedPlaceholders, runPlaceholders);
        if (messages != null) {
            for (MessageReports m : messages.values()) {
                if (m.placeholder && m.counted != null && m.counted[0] == 0) {
                    n = UsageKinds.add(n, 1);
                }
            }
        }
        return n;
    }

    /**
     * A LangChain {@code usage_metadata}; whether it reported usage. On a message chunk it is a delta
     * that LangChain adds up itself ({@code AIMessageChunk.__add__}: langchain-anthropic puts the input
     * on the first chunk and the output on the last, langchain-google-genai sends what Gemini's running
     * counts grew by), so a stream's chunks add up; on a whole message it is the sum, which a message
     * returned alone is of itself. {@code whole}: the report is a message already summed (astream_events'
     * {@code on_chat_model_end}, LangGraph's accumulated messages), counted as a total beside the deltas.
     * {@code message}: what names the message (its {@code id}; in {@code astream_events}, the model
     * run's {@code run_id}), {@code null} when nothing does. {@code chunk}: the report is an
     * {@code AIMessageChunk} (its top-level {@code type}), which a relay may accumulate; a whole message
     * ({@code "type": "ai"}) is one model call's, and whole messages under one id add up.
     */
    private boolean langChain(Map<String, Long> usage, boolean whole, String message, boolean chunk) {
        if (usage == null || !has(usage, LANGCHAIN_COUNTS)) {
            withoutUsage(message);
            return false;
        }
        return addUp(Format.LANGCHAIN, openAi(usage), UsageKinds.openAi(usage), whole, message, chunk);
    }

    /**
     * A Dify workflow run's counts; whether there were any. Its {@code workflow_finished} event (or a
     * blocking run's answer) counts the run in {@code data.total_tokens}, each {@code node_finished}
     * event its node in {@code data.execution_metadata.total_tokens}: the nodes add up, the run is their
     * total. Only under the event that names them (and a top-level {@code workflow_run_id}): an
     * application's {@code data} may be a model's own JSON, and a run's {@code data.outputs} is. Totals
     * without a split are counted as output ({@link UsageKinds}). Until the run's total came, the
     * finished nodes may leave out one still running: provisional ({@link #addUp}).
     */
    private boolean dify(JsonDocumentScanner.Document doc) {
        if (!doc.workflowRun()) {
            return false;
        }
        String name = doc.event();
        Map<String, Long> run = doc.usage(JsonDocumentScanner.RUN_DATA);
        if (run != null && (name == null || "workflow_finished".equals(name))) {
            Long total = run.get(JsonDocumentScanner.RUN_TOTAL);
            return addUp(Format.DIFY, total, UsageKinds.withTotal(new long[4], total), true, null, false);
        }
        Map<String, Long> node = doc.usage("data.execution_metadata");
        if (node != null && "node_finished".equals(name)) {
            Long total = node.get(JsonDocumentScanner.RUN_TOTAL);
            return addUp(Format.DIFY, total, UsageKinds.withTotal(new long[4], total), false, null, false);
        }
        return false;
    }

    /**
     * Records a report of a format whose reports add up: LangChain's streamed deltas, Dify's nodes;
     * {@code whole}: a report that is already their total. The reports of one named message
     * ({@code message}) are its own: its usage is the larger of its parts' sum and its largest total, and
     * the messages (distinct model calls: a LangGraph agent's, an {@code astream_events} run's) add
     * up. A message chunk ({@code chunk}: LangChain's {@code AIMessageChunk}) whose two parts in a row
     * count the same non-zero input and no fewer tokens of any kind is sent as running totals (a relay writing the message accumulated so far, {@code full =
     * full + chunk}; a real delta stream counts the input once): its last part counts, not their sum.
     * Whole messages under one id (several calls not streamed, answered with one id) add up.
     * Reports that name no message add up with the messages (their parts) or stand beside them (the
     * last total): the usage is the larger of the two, so an answer carrying both counts each call
     * once, and one cut before its total is charged the parts it had. {@code false} when it reports
     * nothing or is of another format.
     */
    private boolean addUp(Format f, Long tokens, long[] split, boolean whole, String message, boolean chunk) {
        if (tokens == null) {
            return false;
        }
        if (format == null) {
            format = f;
        } else if (format != f) {
            return false;
        }
        long[] report = {tokens, split[0], split[1], split[2], split[3]};
        MessageReports named = message == null ? null : message(message);
        if (named != null) {
            if (whole) {
                // a message's total again is a repeat of it (AutoGen's run_stream, then its TaskResult): the larger
                // stands, so a smaller repeat lowers nothing (round 413)
                named.total = larger(named.total, report);
            } else {
                if (chunk && named.lastChunk && !named.running && !named.gap && runningTotals(named.last, report)) {
                    named.running = true;
                }
                named.gap = false;
                named.deltas = named.deltas == null ? report.clone() : addTo(named.deltas, report);
                named.last = report;
                named.lastChunk = chunk;
            }
            long[] before = named.counted;
            named.counted = named.usage().clone();
            if (messagesSum == null) {
                messagesSum = new long[report.length];
            }
            for (int i = 0; i < messagesSum.length && !messagesSaturated; i++) {
                long sum = messagesSum[i] - (before == null ? 0 : before[i]) + named.counted[i];
                messagesSaturated = sum < 0 || sum == Long.MAX_VALUE;
                messagesSum[i] = sum;
            }
        } else if (message != null) {
            // a message past the limit
            if (whole) {
                overflowTotals = overflowTotals == null ? report : addTo(overflowTotals, report);
            } else {
                overflowParts = overflowParts == null ? report : addTo(overflowParts, report);
            }
        } else if (whole) {
            this.whole = report;
        } else {
            parts = parts == null ? report : addTo(parts, report);
        }
        // no tokens at all is a placeholder, not a free call (as in report); Dify's finished nodes
        // before the run's total may leave out one still running
        this.unfinished = addedUp()[0] == 0 || (f == Format.DIFY && this.whole == null);
        this.outputOnly = false;
        return true;
    }

    /**
     * A LangChain chunk of the message {@code name} that carries no usage: the message's reports on
     * either side of it are no relay's accumulated message (which carries its usage in every chunk
     * once it has any), but several model calls answered under one id (an OpenAI-compatible server
     * that gives every answer the same one), whose reports add up.
     */
    private void withoutUsage(String name) {
        if (name != null && format == Format.LANGCHAIN && messages != null) {
            MessageReports m = messages.get(AnswerCalls.digest(sha256, name));
            if (m != null) {
                m.gap = true;
            }
        }
    }

    /** The reports kept for the message named {@code name}; {@code null} past {@link #MAX_MESSAGES}. */
    private MessageReports message(String name) {
        if (messages == null) {
            messages = new HashMap<>();
            sha256 = AnswerCalls.sha256();
        }
        long digest = AnswerCalls.digest(sha256, name);
        MessageReports m = messages.get(digest);
        if (m == null && messages.size() < MAX_MESSAGES) {
            m = new MessageReports();
            messages.put(digest, m);
        }
        return m;
    }

    /**
     * Whether a message's part {@code next} after {@code previous} shows them to be running totals:
     * the same non-zero input (uncached and cached), and no fewer tokens of any kind.
     */
    private static boolean runningTotals(long[] previous, long[] next) {
        long input = previous[1] + previous[2];
        if (input <= 0 || input != next[1] + next[2]) {
            return false;
        }
        for (int i = 0; i < next.length; i++) {
            if (next[i] < previous[i]) {
                return false;
            }
        }
        return true;
    }

    /** Adds {@code report} into {@code sum} (saturating); returns {@code sum}. */
    private static long[] addTo(long[] sum, long[] report) {
        for (int i = 0; i < sum.length; i++) {
            sum[i] = sum[i] + report[i] < 0 ? Long.MAX_VALUE : sum[i] + report[i];
        }
        return sum;
    }

    /**
     * The named messages' usage added up with the parts that name none, or the last total that names
     * none when that is larger; {@code null} when no report came.
     */
    private long[] addedUp() {
        long[] named = null;
        if (messagesSum != null) {
            if (messagesSaturated) {
                named = new long[messagesSum.length];
                for (MessageReports m : messages.values()) {
                    addTo(named, m.counted);
                }
            } else {
                named = messagesSum.clone();
            }
        }
        long[] added = plus(plus(named, parts), larger(overflowParts, overflowTotals));
        // Claude Code's runs: each its own largest figure, added up (ClaudeCodeRuns)
        return plus(larger(added, whole), claudeRuns == null ? null : claudeRuns.total());
    }

    /** The sum of two reports, either when the other is {@code null}; a fresh array when both are there. */
    private static long[] plus(long[] a, long[] b) {
        return a == null ? b : b == null ? a : addTo(a.clone(), b);
    }

    /** The larger report by total ({@code a} when they are equal), either when the other is {@code null}. */
    private static long[] larger(long[] a, long[] b) {
        if (a == null || b == null) {
            return a == null ? b : a;
        }
        return b[0] > a[0] ? b : a;
    }

    /** Where JetBrains Koog's messages and stream frames keep their call's usage. */
    private static final String KOOG_META_INFO = "metaInfo";

    /**
     * LangChain4j's {@code TokenUsage} where Jackson writes it, and its names: the path, then the input,
     * output and total counts and the prompt cache's reads and writes (creation, write). In camelCase
     * as Jackson writes it by default, and in snake_case (Spring Boot's
     * {@code spring.jackson.property-naming-strategy=SNAKE_CASE}, for an API's Python clients). Koog's
     * usage record, of the same shape, is read the same way.
     */
    private static final List<String[]> LANGCHAIN4J_USAGE = List.of(
            new String[] {"metadata.tokenUsage", "inputTokenCount", "outputTokenCount", "totalTokenCount",
                    "cacheReadInputTokens", "cacheCreationInputTokens", "cacheWriteInputTokens"},
            new String[] {"tokenUsage", "inputTokenCount", "outputTokenCount", "totalTokenCount",
                    "cacheReadInputTokens", "cacheCreationInputTokens", "cacheWriteInputTokens"},
            new String[] {"metadata.token_usage", "input_token_count", "output_token_count", "total_token_count",
                    "cache_read_input_tokens", "cache_creation_input_tokens", "cache_write_input_tokens"},
            new String[] {"token_usage", "input_token_count", "output_token_count", "total_token_count",
                    "cache_read_input_tokens", "cache_creation_input_tokens", "cache_write_input_tokens"},
            // Quarkus LangChain4j's ChatEvent stream: its Completed event's ChatResponse (round 257)
            new String[] {"chatResponse.metadata.tokenUsage", "inputTokenCount", "outputTokenCount", "totalTokenCount",
                    "cacheReadInputTokens", "cacheCreationInputTokens", "cacheWriteInputTokens"},
            // JetBrains Koog's ResponseMetaInfo as kotlinx.serialization writes it: a streamed call's End frame, an
            // assistant message (round 257); it names no cache counts
            new String[] {KOOG_META_INFO, "inputTokensCount", "outputTokensCount", "totalTokensCount", null, null, null});

    /**
     * A Letta stream's {@code usage_statistics} with its {@code reasoning_tokens} beside {@code completion_tokens} when
     * they are more: Letta's Gemini stream ({@code letta/interfaces/gemini_streaming_interface.py}
     * {@code get_usage_statistics}) counts {@code completion_tokens = candidates_token_count} and {@code total_tokens}
     * as prompt plus completion, the thoughts only at {@code reasoning_tokens}, which Google bills as output (round
     * 415: 3,200 prompt, 850 completion and 7,400 reasoning tokens were charged 4,050 for 11,450); its OpenAI stream's
     * {@code completion_tokens} hold the reasoning, never more than they. Read as OpenAI's shape counts reasoning,
     * within {@code completion_tokens}. As many reasoning tokens as completion tokens, or fewer, tell neither apart
     * and are read within (docs/decisions.md).
     */
    private static Map<String, Long> lettaReasoning(Map<String, Long> letta) {
        Long reasoning = letta.get("reasoning_tokens");
        Long completion = letta.get("completion_tokens");
        if (reasoning == null || completion == null || reasoning <= completion) {
            return letta;
        }
        Map<String, Long> beside = new HashMap<>(letta);
        beside.put("completion_tokens", UsageKinds.add(completion, reasoning));
        beside.put("completion_tokens_details.reasoning_tokens", reasoning);
        return beside;
    }

    /** Agno's {@code RunMetrics} counters ({@code libs/agno/agno/metrics.py}) at a run's {@code metrics}. */
    private static final java.util.Set<String> AGNO_COUNTS = java.util.Set.of("input_tokens", "output_tokens", "total_tokens");

    /** CrewAI's {@code UsageMetrics} ({@code types/usage_metrics.py}) at a {@code CrewOutput}'s {@code token_usage}. */
    private static final java.util.Set<String> CREWAI_COUNTS = java.util.Set.of("prompt_tokens", "completion_tokens", "total_tokens",
            "successful_requests");

    /**
     * The names of Spring AI's {@code Usage} in {@code usage} (prompt, completion, total, native usage), or
     * {@code null}: in camelCase as Jackson writes it by default, or in snake_case when it carries its
     * {@code native_usage} (an application with {@code spring.jackson.property-naming-strategy=SNAKE_CASE});
     * without it, snake_case is the OpenAI shape, read as such.
     */
    private static String[] springAiUsage(Map<String, Long> usage) {
        if (has(usage, "promptTokens", "completionTokens")) {
            return new String[] {"promptTokens", "completionTokens", "totalTokens", "nativeUsage"};
        }
        if (has(usage, "prompt_tokens", "completion_tokens")
                && usage.keySet().stream().anyMatch(name -> name.startsWith("native_usage."))) {
            return new String[] {"prompt_tokens", "completion_tokens", "total_tokens", "native_usage"};
        }
        return null;
    }

    /** A {@code usage} object in any provider's shape; whether it reported usage. */
    private boolean usageObject(Map<String, Long> usage, boolean provisional) {
        if (usage.containsKey("seconds") && !has(usage, "input_tokens", "output_tokens", "total_tokens",
                "prompt_tokens", "completion_tokens")) {
            // OpenAI's whisper-1 reports its transcription's audio as a duration ({"type": "duration",
            // "seconds": 600}), priced as gpt-4o-transcribe's audio tokens are: about 1,000 a minute
            long seconds = usage.get("seconds");
            long tokens = seconds > Long.MAX_VALUE / AudioDuration.AUDIO_TOKENS_PER_SECOND ? Long.MAX_VALUE
                    : seconds * AudioDuration.AUDIO_TOKENS_PER_SECOND;
            return kinds(report(Format.OPENAI, tokens, null, provisional), new long[] {tokens, 0, 0, 0});
        }
        if (has(usage, "token_count", "input_count", "output_count")) {
            // Coze
            return kinds(report(Format.OPENAI, larger(usage.get("token_count"),
                    sum(usage.get("input_count"), usage.get("output_count"))), null, provisional),
                    UsageKinds.inputOutput(usage, "input_count", "output_count"));
        }
        String[] spring = springAiUsage(usage);
        if (spring != null) {
            // Spring AI's Usage: its totalTokens leaves out what its nativeUsage counts beside (Anthropic's
            // cache reads and writes), so the larger of the two
            String nativeUsage = spring[3] + ".";
            Long nativeTotal = sum(usage.get(nativeUsage + "input_tokens"), usage.get(nativeUsage + "output_tokens"),
                    usage.get(nativeUsage + "cache_creation_input_tokens"), usage.get(nativeUsage + "cache_read_input_tokens"));
            Long own = larger(usage.get(spring[2]), sum(usage.get(spring[0]), usage.get(spring[1])));
            return kinds(report(Format.OPENAI, larger(own, nativeTotal), null, provisional),
                    UsageKinds.withTotal(UsageKinds.inputOutput(usage, spring[0], spring[1]), larger(own, nativeTotal)));
        }
        if (has(usage, "total_tokens", "prompt_tokens", "completion_tokens")) {
            return kinds(report(Format.OPENAI, openAi(usage), null, provisional), UsageKinds.openAi(usage));
        } else if (has(usage, "inputTokens", "outputTokens", "totalTokens")) {
            return kinds(report(Format.BEDROCK, bedrock(usage), null, provisional), UsageKinds.bedrock(usage));
        } else if (cohere(usage) != null) {
            return kinds(report(Format.COHERE, cohere(usage), null, provisional), UsageKinds.cohere(usage));
        }
        // a message_delta (or a whole message): the final counts
        return report(Format.ANTHROPIC, null, usage, provisional);
    }

    /** Keeps the kinds of a report that counted ({@code reported}); hands {@code reported} back. */
    private boolean kinds(boolean reported, long[] split) {
        if (reported) {
            kinds = split;
        }
        return reported;
    }

    /**
     * The usage split into {@code {input, cachedInput, output, reasoning}} ({@link UsageKinds}), from the
     * same report as {@link #usage()}; {@code null} when there is none.
     */
    synchronized long[] kinds() {
        long[] split = answerKinds();
        for (UsageSniffer e : earlier) {
            long[] other = e.kinds();
            if (other != null) {
                split = split == null ? other.clone() : addTo(split.clone(), other);
            }
        }
        return split;
    }

    private long[] answerKinds() {
        UsageSniffer larger = larger();
        if (larger != null) {
            return larger.kinds();
        }
        Long headers = headerUsage();
        Long body = bodyUsage();
        if (headers != null && (body == null || headers >= body)) {
            return UsageKinds.bedrockInvocation(headerInput, headerOutput, headerCacheRead, headerCacheWrite);
        }
        if (decoded != null) {
            return decoded.kinds();
        }
        if (invocationTotal != null && (reportedUsage() == null || invocationTotal >= reportedUsage())) {
            return invocationKinds.clone();
        }
        long[] several = callsTotal();
        if (several != null) {
            return java.util.Arrays.copyOfRange(several, 1, 5);
        }
        if (format == Format.ANTHROPIC) {
            return withEarlierCalls(usage() == null ? null : UsageKinds.anthropic(anthropic));
        }
        long[] added = addedUp();
        if (added != null) {
            return java.util.Arrays.copyOfRange(added, 1, 5);
        }
        if (latest == null || kinds == null) {
            return withEarlierCalls(null);
        }
        long[] split = kinds.clone();
        if (outputOnly) {
            split[0] = split[0] + inputEstimate < 0 ? Long.MAX_VALUE : split[0] + inputEstimate;
        }
        return withEarlierCalls(split);
    }

    /**
     * The answer's usage call by call, when it is the reports of model calls relayed one after another
     * and nothing else ({@link #foldCall}): each call's {@code {total, kinds...}} with the models its own
     * documents named, the current call last; they add up to {@link #usage()} and {@link #kinds()}.
     * {@code null} when the answer's usage is anything else (one call, several added up in other
     * shapes, headers, a reset's earlier answers, a reading that found more): it is weighed as one.
     */
    synchronized java.util.List<CallUsage> perCall() {
        if (callList == null || callsCut || !earlier.isEmpty() || larger() != null || headerUsage() != null
                || decoded != null || invocationTotal != null || callsTotal() != null || addedUp() != null) {
            return null;
        }
        Long usage = usage();
        long[] split = kinds();
        if (usage == null || split == null || split.length != 4) {
            return null;
        }
        long[] current = {usage, split[0], split[1], split[2], split[3]};
        for (CallUsage call : callList) {
            for (int i = 0; i < current.length; i++) {
                current[i] -= call.usage()[i];
                if (current[i] < 0) {
                    return null;
                }
            }
        }
        java.util.List<CallUsage> all = new java.util.ArrayList<>(callList);
        if (java.util.Arrays.stream(current).anyMatch(n -> n > 0)) {
            all.add(new CallUsage(modelsOf(segmentCall), current));
        }
        return all;
    }

    /** The models the documents of the call with id {@code call} named ({@link #callModels}). */
    private java.util.List<String> modelsOf(String call) {
        java.util.Set<String> named = call == null ? null : callModels.get(call);
        return named == null ? java.util.List.of() : java.util.List.copyOf(named);
    }

    /** {@code split} with the kinds of the {@link #earlierCalls} added. */
    private long[] withEarlierCalls(long[] split) {
        if (earlierCalls == null) {
            return split;
        }
        long[] earlierKinds = java.util.Arrays.copyOfRange(earlierCalls, 1, 5);
        return split == null ? earlierKinds : plus(split, earlierKinds);
    }

    /**
     * The models the answer names where its provider puts it (a stream names one in every chunk),
     * distinct, in the order seen; empty when it names none. Never read from content a model wrote,
     * like the usage; a model named in an event framed as no provider frames one makes the usage
     * {@linkplain #provisional() provisional}.
     */
    synchronized java.util.List<String> models() {
        if (earlier.isEmpty()) {
            return answerModels();
        }
        java.util.Set<String> all = new java.util.LinkedHashSet<>();
        for (UsageSniffer e : earlier) {
            all.addAll(e.models());
        }
        all.addAll(answerModels());
        return all.stream().limit(Weighing.MAX_CANDIDATES).toList();
    }

    private java.util.List<String> answerModels() {
        UsageSniffer larger = larger();
        if (larger != null) {
            return larger.models();
        }
        return decoded != null ? decoded.models() : java.util.List.copyOf(models);
    }

    private static boolean has(Map<String, Long> counters, String... names) {
        for (String name : names) {
            if (counters.containsKey(name)) {
                return true;
            }
        }
        return false;
    }

    /** A Gemini counter by its name, or by its snake_case spelling ({@code prompt_token_count}). */
    private static Long gemini(Map<String, Long> usage, String name) {
        Long value = usage.get(name);
        return value != null ? value : usage.get(name.replaceAll("([A-Z])", "_$1").toLowerCase(Locale.ROOT));
    }

    private static boolean positive(Long count) {
        return count != null && count > 0;
    }

    private static Long openAi(Map<String, Long> usage) {
        Long chat = sum(usage.get("prompt_tokens"), usage.get("completion_tokens"));
        // the Responses API counts input and output tokens under those names
        Long parts = chat != null ? chat : sum(usage.get("input_tokens"), usage.get("output_tokens"));
        // Perplexity bills the tokens of its citations and its reasoning, counted beside prompt and
        // completion and left out of total_tokens; other servers (SGLang) put a reasoning_tokens there
        // that completion_tokens already holds, so it is added only beside Perplexity's own fields
        parts = sum(parts, usage.get("citation_tokens"), perplexity(usage) ? usage.get("reasoning_tokens") : null);
        Long total = larger(usage.get("total_tokens"), parts);
        return total == null ? null : sum(total, liteLlmCacheWrite(usage));
    }

    /**
     * The cache writes an OpenAI-shaped usage leaves out of its prompt and total, or 0: LiteLLM's
     * answer for a Claude model (its 1.6x and 1.7x releases) counts cache reads in
     * {@code prompt_tokens} but reports the writes only beside it, as
     * {@code cache_creation_input_tokens}; its later releases count them in the prompt and say so with
     * {@code prompt_tokens_details.cache_creation_tokens}.
     */
    static long liteLlmCacheWrite(Map<String, Long> usage) {
        Long write = usage.get("cache_creation_input_tokens");
        return write != null && usage.containsKey("prompt_tokens")
                && !usage.containsKey("prompt_tokens_details.cache_creation_tokens") ? write : 0;
    }

    /** Whether an OpenAI-shaped usage is Perplexity's: it counts citations or search queries. */
    static boolean perplexity(Map<String, Long> usage) {
        return usage.containsKey("citation_tokens") || usage.containsKey("num_search_queries");
    }

    /**
     * Bedrock Converse: {@code totalTokens}, or the sum of its parts (cache reads and writes included)
     * when that is larger.
     */
    private static Long bedrock(Map<String, Long> usage) {
        Long parts = sum(usage.get("inputTokens"), usage.get("outputTokens"), usage.get("cacheReadInputTokens"),
                usage.get("cacheWriteInputTokens"));
        Long total = usage.get("totalTokens");
        return larger(total, parts);
    }

    /**
     * Cohere: the tokens the model read and wrote ({@code tokens}), or the billed ones
     * ({@code billed_units}, with an embedding's {@code image_tokens}, round 296) when those are more;
     * {@code null} without either.
     */
    private static Long cohere(Map<String, Long> usage) {
        Long tokens = sum(usage.get("tokens.input_tokens"), usage.get("tokens.output_tokens"));
        Long billed = sum(usage.get("billed_units.input_tokens"), usage.get("billed_units.output_tokens"),
                usage.get("billed_units.image_tokens"));
        return larger(tokens, billed);
    }

    private static Long larger(Long a, Long b) {
        if (a == null || b == null) {
            return a == null ? b : a;
        }
        return Math.max(a, b);
    }

    private static final java.util.Set<String> ANTHROPIC_COUNTS = java.util.Set.of("input_tokens", "output_tokens",
            "cache_creation_input_tokens", "cache_read_input_tokens");
    /** The counts of what the model read, in {@link #ANTHROPIC_COUNTS}. */
    private static final java.util.Set<String> ANTHROPIC_INPUT_COUNTS = java.util.Set.of("input_tokens",
            "cache_creation_input_tokens", "cache_read_input_tokens");

    /**
     * Records one usage report; {@code false} when it reports nothing or is of another format.
     *
     * @param unfinished the report is known to come before the final counts (Anthropic's
     *                   {@code message_start}, a Gemini chunk that counted no output, a llama.cpp chunk
     *                   before the one that stops)
     */
    private boolean report(Format f, Long tokens, Map<String, Long> anthropicFields, boolean unfinished) {
        boolean counts = tokens != null || (anthropicFields != null
                && anthropicFields.keySet().stream().anyMatch(ANTHROPIC_COUNTS::contains));
        if (!counts) {
            // an empty usage object ({} or unknown fields) reports nothing and fixes no format
            return false;
        }
        if (format == null) {
            format = f;
        } else if (format != f) {
            return false;
        }
        if (anthropicFields != null) {
            anthropicFields.forEach((name, value) -> {
                // merged field by field, the last count winning; but a 0 for what the model read, after a count
                // of it, is a count not taken (round 308: Ollama's /v1/messages writes the delta's input_tokens 0
                // when its prompt came from cache), not the input shrinking: the stream's counts are cumulative
                Long before = anthropic.get(name);
                if (!(value == 0 && before != null && before > 0 && ANTHROPIC_INPUT_COUNTS.contains(name))) {
                    anthropic.put(name, value);
                }
            });
        } else {
            latest = tokens;
        }
        // a report of no tokens at all is a placeholder (Spring AI's usage when the provider sent
        // none), not a free call: charged at least the estimate
        this.unfinished = unfinished || (tokens != null && tokens == 0);
        this.outputOnly = false;
        return true;
    }

    static Long sum(Long... parts) {
        long total = 0;
        boolean any = false;
        for (Long p : parts) {
            if (p != null) {
                any = true;
                total += p;
                if (total < 0) {
                    return Long.MAX_VALUE;
                }
            }
        }
        return any ? total : null;
    }

    /**
     * Splits server-sent events into lines without keeping them: only the first bytes of a line are
     * looked at (is it {@code data:}?); the rest of a data line streams into the event's JSON scanner.
     */
    private final class SseEvents {
        private static final byte[] DATA = {'d', 'a', 't', 'a', ':'};
        private static final byte[] EVENT = {'e', 'v', 'e', 'n', 't', ':'};
        private static final byte[] RETRY = {'r', 'e', 't', 'r', 'y', ':'};
        /**
         * The longest event name kept: the names that decide anything are short, but LangGraph names a
         * subgraph's {@code messages} events after its namespace ({@code messages|agent:<uuid>}).
         */
        private static final int NAME_MAX = 128;
        private static final byte[] BOM = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};

        /** Bytes of the current line seen so far, up to the end of its field name. */
        private int seen;
        /** Bytes of an {@code event:} field name seen so far at the start of the current line. */
        private int seenName;
        private boolean dataLine;
        /**
         * The current line is the event's {@code event:} field: its value, the event's name, is kept
         * (the last such line of the event wins, as in the event-stream format). A name longer than
         * {@link #NAME_MAX} is kept as none.
         */
        private boolean nameLine;
        /**
         * An {@code event:} line came after the event's first data line: the event has no name that
         * counts. Servers write the name before the data; a relay that writes {@code "data: " + text}
         * lets the model's text hold a later {@code event: error} line, never one before its own
         * prefix.
         */
        private boolean nameAfterData;
        private boolean nameSpaceChecked;
        private final byte[] name = new byte[NAME_MAX];
        private int nameLength;
        private boolean nameTooLong;
        /** A document of the current event was accepted. */
        private boolean eventDocument;
        /**
         * A document of the current event reported usage or carried a stream's text: the event is a
         * provider's, even if what follows it breaks the JSON. An event whose documents carried neither and
         * whose JSON breaks is a model's text that opened with a JSON example (round 224).
         */
        private boolean eventProvides;
        /**
         * The event's data as written, its first {@link RawText#WINDOW} bytes and how many more: counted
         * as the model's raw text ({@link #rawText}) when it turns out to be no JSON document.
         */
        private final byte[] eventBytes = new byte[RawText.WINDOW];
        private final RawEvents rawEvents = new RawEvents();
        private int eventLength;
        private long eventOverflow;
        /**
         * The event's data outgrew {@link #eventBytes} and is known to be no JSON document: it is fed to
         * {@link #rawText} as it comes, whole (round 221: an answer sent as one event, a chart's {@code data:}
         * URL before or after the model's text, was judged by its first bytes alone), from
         * {@link #rawBefore}, the raw count when it began.
         */
        private boolean rawStreaming;
        private long rawBefore;
        private boolean skipLine;
        /**
         * The first bytes of a line that is no {@code data:} or {@code event:} line, up to what tells
         * whether it is a field of the format at all ({@link #decideLine}).
         */
        private final byte[] lineHead = new byte[RETRY.length];
        private int lineHeadLength;
        /** A comment line is text ({@link #decideLine}): the answer is read as events under another label. */
        boolean commentsAreText;
        /** The current line is no field of the format: text, counted as the model's ({@link #decideLine}). */
        private boolean lineIsText;
        private boolean lineDecided;
        private boolean lineEmpty = true;
        private boolean spaceChecked;
        private JsonDocumentScanner event;
        private boolean eventHasData;
        /** The current event has several data lines, or several documents in its data. */
        private boolean multiLine;
        private boolean secondDocument;
        /**
         * The event is a LangGraph {@code messages} event whose data is {@code [message chunk, metadata]}
         * and the elements after the chunk were left unread.
         */
        private boolean tupleRest;
        /** The current event's document, accepted when the event ends (its framing known). */
        private JsonDocumentScanner.Document pending;
        /** The last byte ended a line with CR: an LF right after it belongs to the same line end. */
        private boolean afterCr;
        /** How many bytes of a leading UTF-8 byte order mark were seen; -1 once the stream started. */
        private int bom;
        /**
         * The stream is a data stream of parts ({@link #startsLikeParts}): every line whose code is a
         * letter or digit before a colon is a data line, and each line is an event of its own.
         */
        boolean parts;
        /** The code of the current part ({@link #parts}): the byte before its colon. */
        private byte partCode;
        /** The name a data stream's part of {@code code} is accepted under: {@code part:} and its code. */
        private static String partName(byte code) {
            return "part:" + (char) code;
        }

        /** The data stream's codes of a part whose value is the model's text: text, reasoning. */
        private static final byte TEXT_PART = '0';
        private static final byte REASONING_PART = 'g';

        void feed(byte[] b, int off, int len) {
            int end = off + len;
            int runStart = -1;
            int textStart = -1;
            for (int i = off; i < end; i++) {
                byte c = b[i];
                if (bom >= 0) {
                    // the event-stream format ignores one leading byte order mark
                    if (c == BOM[bom]) {
                        bom = bom == BOM.length - 1 ? -1 : bom + 1;
                        continue;
                    }
                    bom = -1;
                }
                if (c == '\n' && afterCr) {
                    afterCr = false;
                    continue;
                }
                if (afterCr) {
                    // no provider ends lines with a lone CR; text written raw into a data field does
                    loneCr = true;
                }
                afterCr = false;
                // lines end with CRLF, LF or a lone CR
                if (c == '\n' || c == '\r') {
                    if (runStart >= 0) {
                        data(b, runStart, i - runStart);
                        runStart = -1;
                    }
                    if (textStart >= 0) {
                        rawLine(b, textStart, i - textStart);
                        textStart = -1;
                    }
                    endOfLine();
                    afterCr = c == '\r';
                    continue;
                }
                if (dataLine) {
                    if (!spaceChecked) {
                        spaceChecked = true;
                        if (c == ' ') {
                            continue;
                        }
                    }
                    if (runStart < 0) {
                        runStart = i;
                    }
                    continue;
                }
                if (nameLine) {
                    if (!nameSpaceChecked) {
                        nameSpaceChecked = true;
                        if (c == ' ') {
                            continue;
                        }
                    }
                    if (nameLength < NAME_MAX) {
                        name[nameLength++] = c;
                    } else {
                        nameTooLong = true;
                    }
                    continue;
                }
                lineEmpty = false;
                if (skipLine) {
                    if (lineIsText) {
                        if (textStart < 0) {
                            textStart = i;
                        }
                    } else if (!lineDecided) {
                        lineHead(c);
                    }
                    continue;
                }
                if (parts) {
                    if (seen == 0 && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))) {
                        seen = 1;
                        partCode = c;
                    } else if (seen == 1 && c == ':') {
                        dataLine = true;
                        // the value follows the colon directly: a space is the value's
                        spaceChecked = true;
                        eventHasData = true;
                    } else {
                        // no part: in a data stream, a line of a model's text that opened like one
                        skipLine = true;
                        lineDecided = true;
                        lineIsText = countRaw && textEstimator != null;
                        if (lineIsText) {
                            rawLine(seen == 1 ? new byte[] {partCode, c} : new byte[] {c}, 0, seen == 1 ? 2 : 1);
                        }
                    }
                    continue;
                }
                if (seen == 0 && seenName < EVENT.length && c == EVENT[seenName]) {
                    seenName++;
                    if (seenName == EVENT.length && eventHasData) {
                        nameAfterData = true;
                        skipLine = true;
                        // an event: field written after the data (SseEmitter's data(x).name(n)): the format's
                        lineDecided = true;
                    } else if (seenName == EVENT.length) {
                        nameLine = true;
                        nameSpaceChecked = false;
                        nameLength = 0;
                        nameTooLong = false;
                    }
                } else if (seenName == 0 && seen < DATA.length && c == DATA[seen]) {
                    seen++;
                    if (seen == DATA.length) {
                        dataLine = true;
                        spaceChecked = false;
                        if (eventHasData) {
                            // consecutive data lines of one event are joined by a newline; providers send
                            // one line per event, so the event's usage is not theirs alone
                            multiLine = true;
                            acceptPending();
                            data(new byte[] {'\n'}, 0, 1);
                        }
                        eventHasData = true;
                    }
                } else {
                    skipLine = true;
                    // the bytes of the line so far: the part of a field name matched, and this one
                    byte[] matched = seenName > 0 ? EVENT : DATA;
                    for (int k = 0; k < Math.max(seen, seenName); k++) {
                        lineHead(matched[k]);
                    }
                    lineHead(c);
                }
            }
            if (runStart >= 0) {
                data(b, runStart, end - runStart);
            }
            if (textStart >= 0) {
                rawLine(b, textStart, end - textStart);
            }
        }

        /**
         * Takes one more byte of a line that is no {@code data:} or {@code event:} line, and decides as soon
         * as it can whether the line is text ({@link #decideLine}).
         */
        private void lineHead(byte c) {
            lineHead[lineHeadLength++] = c;
            if (c == ':' || lineHeadLength == lineHead.length) {
                decideLine();
            }
        }

        /**
         * Decides whether the line begun in {@link #lineHead} is text: a line that is no field of the event
         * format ({@code data}, {@code event}, {@code id}, {@code retry}) and no comment (a leading colon).
         * The event format ignores such lines; no server writes them, but a model's text does: written raw
         * under a label that is no event stream's, it may start like one (an emoji shortcode
         * {@code :rocket:}, YAML whose first key is {@code id}), and written into a {@code data:} line its
         * own line breaks start lines of their own. Counted as the model's text ({@link #rawText}).
         */
        private void decideLine() {
            lineDecided = true;
            String head = new String(lineHead, 0, lineHeadLength, java.nio.charset.StandardCharsets.ISO_8859_1);
            boolean field = head.startsWith(":") && !commentsAreText || head.startsWith("id:") || head.startsWith("retry:")
                    || head.startsWith("data:") || head.startsWith("event:")
                    // a field name alone on its line (a field with no value)
                    || !head.endsWith(":") && head.length() < lineHead.length
                    && ("data".startsWith(head) || "event".startsWith(head) || "id".startsWith(head)
                    || "retry".startsWith(head));
            lineIsText = !field && countRaw && textEstimator != null;
            if (lineIsText) {
                rawLine(lineHead, 0, lineHeadLength);
            }
            if (!field) {
                // a line that is no field of the format is text no provider's error stream carries: the answer is
                // no error-only stream (round 378: a model's story holding an "event: error" of its own, returned
                // as a String under the client's text/event-stream label, was released as the provider's error)
                sawAnswer = true;
            }
        }

        /** Counts bytes of a {@link #decideLine text line} as the model's text. */
        private void rawLine(byte[] b, int off, int len) {
            if (rawText == null) {
                // what the transcoder hands on is UTF-8
                rawText = new RawText(textEstimator, java.nio.charset.StandardCharsets.UTF_8);
            }
            rawText.feed(b, off, len);
        }

        private void data(byte[] b, int off, int len) {
            if (event == null) {
                event = scanner(this::eventDocument);
                if (graphState(eventName())) {
                    event.messagesAnywhere();
                }
            }
            event.feed(b, off, len);
            rawEvents.feed(b, off, len);
            if (rawStreaming) {
                rawText.feed(b, off, len);
                return;
            }
            int kept = Math.min(len, eventBytes.length - eventLength);
            System.arraycopy(b, off, eventBytes, eventLength, kept);
            eventLength += kept;
            eventOverflow += len - kept;
            if (eventOverflow > 0 && countRaw && textEstimator != null
                    && (event.failed() || !eventProvides && !parts && !opensDocument())) {
                // no provider's document can come of it any more (a failed scanner reads nothing; what it
                // accepted reported nothing), or none a provider writes: an object or an array (round 221:
                // the digits of pi, one number, were counted past these bytes at four bytes a token)
                if (rawText == null) {
                    rawText = new RawText(textEstimator, java.nio.charset.StandardCharsets.UTF_8);
                }
                rawBefore = StreamText.plus(rawText.tokens(), rawOverflow);
                // the bytes past the buffer before the scanner failed are gone: counted by their length
                rawOverflow = StreamText.plus(rawOverflow, (eventOverflow - (len - kept)) / StreamText.BYTES_PER_TOKEN);
                rawText.feed(eventBytes, 0, eventLength);
                rawText.feed(b, off + kept, len - kept);
                rawStreaming = true;
            }
        }

        /** Whether the event's data opens an object or an array, as a provider's document does. */
        private boolean opensDocument() {
            for (int i = 0; i < eventLength; i++) {
                byte c = eventBytes[i];
                if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                    return c == '{' || c == '[';
                }
            }
            return false;
        }

        /**
         * Data that is no JSON document, a model's text written raw into the event ({@code data:} and the
         * text, Spring's {@code Flux<String>}): counted as text the model wrote, but for the end marker
         * {@code [DONE]}. A data stream's parts are its own format's, JSON each: a part whose value is none
         * is a line of a model's text that opened like one ({@code f:[a,b] → ℝ}).
         */
        private void rawData() {
            if (rawStreaming) {
                rawText.endPiece();
                rawRepeated = StreamText.plus(rawRepeated,
                        rawEvents.counted(StreamText.plus(rawText.tokens(), rawOverflow) - rawBefore, eventName()));
                return;
            }
            if (parts && (event == null || !event.failed()) || !countRaw || textEstimator == null || eventLength == 0
                    || endMarker()) {
                return;
            }
            if (rawText == null) {
                // what the transcoder hands on is UTF-8
                rawText = new RawText(textEstimator, java.nio.charset.StandardCharsets.UTF_8);
            }
            long before = StreamText.plus(rawText.tokens(), rawOverflow);
            rawText.feed(eventBytes, 0, eventLength);
            // data past what an event keeps, after encoded data (an image's data: URL), is more of it
            boolean encoded = rawText.inEncodedData();
            rawText.endPiece();
            if (!encoded) {
                rawOverflow = StreamText.plus(rawOverflow, eventOverflow / StreamText.BYTES_PER_TOKEN);
            }
            rawRepeated = StreamText.plus(rawRepeated,
                    rawEvents.counted(StreamText.plus(rawText.tokens(), rawOverflow) - before, eventName()));
        }

        /** Whether the event's data is the end marker {@code [DONE]} (OpenAI's and the compatible servers'). */
        private boolean endMarker() {
            return eventLength > 0 && eventOverflow == 0
                    && new String(eventBytes, 0, eventLength, java.nio.charset.StandardCharsets.UTF_8).strip().equals("[DONE]");
        }

        private void endOfLine() {
            if (skipLine && !lineDecided && lineHeadLength > 0) {
                decideLine();
            }
            if (lineIsText) {
                rawLine(new byte[] {'\n'}, 0, 1);
            }
            lineHeadLength = 0;
            lineDecided = false;
            lineIsText = false;
            if ((lineEmpty && !dataLine) || (parts && dataLine)) {
                dispatch();
            }
            seen = 0;
            seenName = 0;
            dataLine = false;
            nameLine = false;
            skipLine = false;
            lineEmpty = true;
        }

        /**
         * A provider's event carries one JSON document on one data line. The event's document is
         * accepted when the event ends, as suspect if the event turned out to hold more than that (a
         * second data line, a second document, bytes that are not JSON after it): an application
         * that writes a model's text raw into an event's data lets the model write such lines.
         */
        private void eventDocument(JsonDocumentScanner.Document doc) {
            eventProvides |= !doc.usages().isEmpty() || !doc.agnoRuns().isEmpty() || doc.textTokens() > 0;
            if (doc.element() > 0 && !multiLine && tuple(eventName())) {
                // LangGraph's messages-tuple: the event's data is [message chunk, metadata]; the chunk
                // (the array's first element, nothing deeper) is the event's document, and what follows
                // it (the run's metadata, which the client's config sets) is never read
                tupleRest = true;
                return;
            }
            if (pending == null && !multiLine && !secondDocument) {
                pending = doc;
                return;
            }
            secondDocument = true;
            acceptPending();
            suspect(accept(doc, true));
            eventDocument = true;
        }

        private void acceptPending() {
            if (pending != null) {
                eventDocument = true;
                suspect(accept(pending, true));
                pending = null;
            }
        }

        private void suspect(boolean reported) {
            if (reported) {
                framingSuspect = true;
            }
        }

        private void dispatch() {
            // an event whose data is a JSON string (LangChain.js's HttpResponseOutputParser, LangServe's stream
            // of a string chain: data: "<token>"): the string's text is the model's, not its quotes and escapes
            // (round 279: counted raw, 4,400 tokens of text were charged 11,783)
            boolean quoted = false;
            if (event != null) {
                // "[DONE]" and other non-JSON data fail the scanner and report nothing
                event.end();
                long root = event.rootText();
                if (parts && (partCode == TEXT_PART || partCode == REASONING_PART)) {
                    textTokens = StreamText.plus(textTokens, root);
                } else if (!parts && root > 0 && !event.failed() && !eventDocument && pending == null && !rawStreaming
                        && countRaw && textEstimator != null) {
                    quoted = true;
                    textTokens = StreamText.plus(textTokens, root);
                }
                if (pending != null) {
                    // a tuple whose name an event: line after its data took away is no tuple
                    boolean alone = !multiLine && !secondDocument && !event.failed() && (!tupleRest || tuple(eventName()));
                    // only an event that is one document alone is the provider's, by its name (a data
                    // stream's part by its code)
                    boolean reported = accept(pending, true, !alone ? null : parts ? partName(partCode) : eventName());
                    if (!alone) {
                        suspect(reported);
                    }
                    pending = null;
                    eventDocument = true;
                }
            }
            if (eventHasData && !eventDocument) {
                // data that is no JSON document (text, "[DONE]") is no provider's error either
                sawAnswer = true;
                if (!parts && endMarker()) {
                    // the client stops reading here: what follows of its call is read by none (endedByMarker)
                    streamEnded();
                }
            }
            if (eventHasData && dataEvents < Integer.MAX_VALUE) {
                dataEvents++;
            }
            if (eventHasData && !quoted && (!eventDocument || rawStreaming || event != null && event.failed())) {
                // text (a Flux<String>'s pieces, an answer that opened with a JSON example, a provider's chunk
                // or completion too, round 229: the JSON breaks inside the event, so no provider wrote it
                // whole): the model's; JSON is a format's or an application's own
                rawData();
            }
            rawEvents.reset();
            if (rawStreaming) {
                // counted as it came, whatever the event turned out to be (its piece ends here)
                rawText.endPiece();
                rawStreaming = false;
            }
            eventLength = 0;
            eventOverflow = 0;
            eventProvides = false;
            event = null;
            eventHasData = false;
            eventDocument = false;
            multiLine = false;
            secondDocument = false;
            tupleRest = false;
            nameLength = 0;
            nameTooLong = false;
            nameAfterData = false;
        }

        /**
         * The current event's name, or {@code null} when it has none, one too long to matter, or an
         * {@code event:} line after its data ({@link #nameAfterData}).
         */
        private String eventName() {
            return nameLength == 0 || nameTooLong || nameAfterData ? null
                    : new String(name, 0, nameLength, java.nio.charset.StandardCharsets.UTF_8);
        }

        void end() {
            if (skipLine && !lineDecided && lineHeadLength > 0) {
                decideLine();
            }
            dispatch();
        }

        /**
         * Whether an event's name is LangGraph Platform's for a {@code messages-tuple} stream's events:
         * {@code messages}, or {@code messages|<namespace>} for a subgraph's.
         */
        static boolean tuple(String name) {
            return name != null && (name.equals("messages") || name.startsWith("messages|"));
        }

        /**
         * Whether an event's name is LangGraph Platform's for a state stream's events: {@code updates} or
         * {@code values}, or {@code updates|<namespace>}, {@code values|<namespace>} for a subgraph's.
         */
        static boolean graphState(String name) {
            return name != null && (name.equals("updates") || name.startsWith("updates|") || name.equals("values")
                    || name.startsWith("values|"));
        }
    }
}
