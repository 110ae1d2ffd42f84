package io.tokenquota.servlet.breakit394;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound394BreakItTest extends AbstractRound394 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
