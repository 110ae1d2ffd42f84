package io.tokenquota.servlet.breakit391;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound391BreakItTest extends AbstractRound391 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
