package io.tokenquota.servlet.breakit92;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound92BreakItTest extends AbstractRound92 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
