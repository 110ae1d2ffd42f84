package io.tokenquota.servlet.breakit182;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound182BreakItTest extends AbstractRound182 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
