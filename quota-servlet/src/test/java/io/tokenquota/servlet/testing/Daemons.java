package io.tokenquota.servlet.testing;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** Thread pools for a round's mock upstreams, of daemon threads: a call left hanging never keeps the JVM up. */
public final class Daemons {
    private Daemons() {
    }

    /** A cached pool whose threads are named {@code name}. */
    public static ExecutorService pool(String name) {
        return Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        });
    }
}
