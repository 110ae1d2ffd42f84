package io.tokenquota.servlet.testing;

import jakarta.servlet.AsyncContext;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;

/** An endpoint's async cycle that ends by its container's timeout, as an {@code SseEmitter} whose model stalls does. */
public final class AsyncTimeouts {
    private AsyncTimeouts() {
    }

    /** Sets the timeout and completes the cycle when it fires (what was written before stays sent). */
    public static void completeOnTimeout(AsyncContext ctx, long millis) {
        ctx.setTimeout(millis);
        ctx.addListener(new AsyncListener() {
            @Override
            public void onComplete(AsyncEvent event) {
                // nothing to clean up
            }

            @Override
            public void onTimeout(AsyncEvent event) {
                event.getAsyncContext().complete();
            }

            @Override
            public void onError(AsyncEvent event) {
                // the timeout decides
            }

            @Override
            public void onStartAsync(AsyncEvent event) {
                // one cycle only
            }
        });
    }
}
