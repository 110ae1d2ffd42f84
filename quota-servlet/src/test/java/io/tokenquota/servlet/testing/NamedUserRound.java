package io.tokenquota.servlet.testing;

import io.tokenquota.servlet.QuotaFilter;

/**
 * The rounds on the trusted-header resolver (rounds 423, 484 and 486): a {@link NamedUserChat} behind the round's quota
 * filter, serving whoever {@code x-user-id} names, so that a test sees both whom the model served
 * ({@link #callsOf}) and whom the filter charged.
 */
public abstract class NamedUserRound extends H2FilterRound {
    protected static final long USAGE = NamedUserChat.USAGE;

    /** The model behind the filter. */
    protected final NamedUserChat chat;

    /** {@code round} ("484"): names the model's completions ("chatcmpl-484"). */
    protected NamedUserRound(String round) {
        this.chat = new NamedUserChat("chatcmpl-" + round);
    }

    /**
     * The quota filter on every path, {@link #chat} on {@code patterns} (registered by servlet name, as the README's
     * host does); the round adds how its connector learns the client's address.
     */
    protected Deployment chatBehind(QuotaFilter filter, String... patterns) {
        return chatBehind(Deployment.create(), filter, patterns);
    }

    /** As {@link #chatBehind(QuotaFilter, String...)}, after the filters {@code before} already holds (round 486). */
    protected Deployment chatBehind(Deployment before, QuotaFilter filter, String... patterns) {
        return before
                .filter("quota", filter, "/*")
                .servlet("chat", chat, patterns)
                .onStartup(filter::registerByServletName);
    }

    /** The model calls made as {@code user}. */
    protected int callsOf(String user) {
        return chat.callsOf(user);
    }
}
