package io.tokenquota.servlet.breakit535;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatKeptCycle535Test extends AbstractKeptCycle535 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
