package io.tokenquota.servlet;

import io.tokenquota.QuotaException;
import io.tokenquota.QuotaLedger;
import io.tokenquota.Reservation;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.http.HttpServletRequest;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finishes one hold exactly once: commit with the actual tokens, or release on failure. Also the
 * {@link AsyncListener} of an async request, whose container may report completion, an error and a
 * timeout for the same cycle; the first one wins. Thread-safe.
 */
final class Settlement implements AsyncListener {
    private static final Logger LOG = LoggerFactory.getLogger(Settlement.class);

    private final QuotaLedger ledger;
    private final Reservation hold;
    private final long estimate;
    private final boolean releaseOnError;
    private final HttpServletRequest request;
    private final QuotaResponse response;
    private final UsageSniffer sniffer;
    private final AtomicBoolean done = new AtomicBoolean();

    Settlement(QuotaLedger ledger, Reservation hold, long estimate, boolean releaseOnError,
               HttpServletRequest request, QuotaResponse response, UsageSniffer sniffer) {
        this.ledger = ledger;
        this.hold = hold;
        this.estimate = estimate;
        this.releaseOnError = releaseOnError;
        this.request = request;
        this.response = response;
        this.sniffer = sniffer;
    }

    /** Settles after the response is complete: a 5xx status counts as a failure. */
    void completed() {
        settle(response.getStatus() >= 500, false);
    }

    /**
     * Settles the hold once. The handler's own figure (attribute or header) always wins; otherwise a
     * failure of the handler releases (when so configured), and anything else is charged the usage
     * the response reported, else the estimate. A client that went away mid-response is charged
     * like a success: the model call happened, and hanging up before the last event must not make
     * it free.
     */
    void settle(boolean failed, boolean clientGone) {
        if (!done.compareAndSet(false, true)) {
            return;
        }
        try {
            sniffer.finish();
            Long explicit = explicitActual();
            boolean handlerFailed = failed && !clientGone && !response.clientGone();
            if (explicit != null) {
                ledger.commit(hold.id(), explicit);
            } else if (handlerFailed && releaseOnError) {
                ledger.release(hold.id());
            } else {
                Long reported = handlerFailed ? null : sniffer.usage();
                ledger.commit(hold.id(), reported != null ? reported : estimate);
            }
        } catch (QuotaException e) {
            // the response is already on its way; the hold expires on its own if it was not settled
            LOG.warn("could not settle reservation {} of {}: {} {}", hold.id(), hold.subject(),
                    e.code(), e.getMessage());
        } catch (RuntimeException e) {
            LOG.warn("could not settle reservation {} of {}", hold.id(), hold.subject(), e);
        }
    }

    private Long explicitActual() {
        Object attribute = request.getAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE);
        Long value = null;
        if (attribute instanceof Number n) {
            value = n.longValue();
        } else if (attribute instanceof String s) {
            value = parse(s);
        } else if (response.actualTokensHeader() != null) {
            value = parse(response.actualTokensHeader());
        }
        if (value != null && value < 0) {
            LOG.warn("ignoring negative actual token count {} for reservation {}", value, hold.id());
            return null;
        }
        return value;
    }

    private static Long parse(String text) {
        try {
            return Long.parseLong(text.trim());
        } catch (NumberFormatException e) {
            LOG.warn("ignoring unparsable actual token count '{}'", text);
            return null;
        }
    }

    @Override
    public void onComplete(AsyncEvent event) {
        completed();
    }

    @Override
    public void onTimeout(AsyncEvent event) {
        settle(true, false);
    }

    @Override
    public void onError(AsyncEvent event) {
        // containers report a client that went away mid-response as an I/O error on the async cycle
        settle(true, event.getThrowable() instanceof java.io.IOException);
    }

    @Override
    public void onStartAsync(AsyncEvent event) {
        // a re-dispatched request that starts async again keeps this listener
        event.getAsyncContext().addListener(this);
    }
}
