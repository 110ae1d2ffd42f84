package io.tokenquota.servlet.testing;

import java.net.URI;

/** A started embedded servlet container on a free loopback port. {@link #close()} stops it. */
public interface EmbeddedContainer extends AutoCloseable {

    /** Which container this is (for test names and logs). */
    ContainerKind kind();

    int port();

    /** {@code http://127.0.0.1:<port><path>}. */
    default URI uri(String path) {
        return URI.create("http://127.0.0.1:" + port() + path);
    }

    @Override
    void close();
}
