package io.tokenquota.servlet.breakit145;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound145BreakItTest extends AbstractRound145 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
