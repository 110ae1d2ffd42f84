package io.tokenquota.servlet.breakit97;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound97BreakItTest extends AbstractRound97 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
