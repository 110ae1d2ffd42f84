package io.tokenquota.servlet.breakit57;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound57BreakItTest extends AbstractRound57 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
