package io.tokenquota.servlet.breakit428;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound428BreakItTest extends AbstractRound428 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
