package io.tokenquota.servlet.breakit77;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatRound77BreakItTest extends AbstractRound77 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
