package io.tokenquota.servlet.breakit416;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound416BreakItTest extends AbstractRound416 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
