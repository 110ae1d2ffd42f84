package io.tokenquota.servlet;

import io.tokenquota.servlet.testing.ContainerKind;

/** The servlet suite on embedded Tomcat 11. */
final class TomcatServletSuiteTest extends AbstractServletSuite {
    @Override
    protected ContainerKind container() {
        return ContainerKind.TOMCAT;
    }
}
