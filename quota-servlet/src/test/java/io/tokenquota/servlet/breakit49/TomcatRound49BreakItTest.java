package io.tokenquota.servlet.breakit49;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound49BreakItTest extends AbstractRound49 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
