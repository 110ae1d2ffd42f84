package io.tokenquota.servlet.breakit564;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound564BreakItTest extends AbstractRound564 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
