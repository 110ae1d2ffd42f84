package io.tokenquota.servlet;

import io.tokenquota.servlet.testing.ContainerKind;

/** The servlet suite on embedded Jetty 12 (ee10). */
final class JettyServletSuiteTest extends AbstractServletSuite {
    @Override
    protected ContainerKind container() {
        return ContainerKind.JETTY;
    }
}
