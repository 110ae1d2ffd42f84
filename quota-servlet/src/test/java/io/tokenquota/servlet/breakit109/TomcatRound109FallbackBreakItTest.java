package io.tokenquota.servlet.breakit109;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound109FallbackBreakItTest extends AbstractRound109 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }

    @Override
    boolean registers() {
        return false;
    }
}
