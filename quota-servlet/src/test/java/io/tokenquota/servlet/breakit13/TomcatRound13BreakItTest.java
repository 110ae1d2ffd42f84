package io.tokenquota.servlet.breakit13;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound13BreakItTest extends AbstractRound13 {
    @Override
    ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
