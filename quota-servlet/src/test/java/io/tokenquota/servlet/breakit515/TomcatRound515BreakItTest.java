package io.tokenquota.servlet.breakit515;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound515BreakItTest extends AbstractRound515 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
