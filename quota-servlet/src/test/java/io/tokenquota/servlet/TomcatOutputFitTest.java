package io.tokenquota.servlet;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatOutputFitTest extends OutputFitSuite {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
