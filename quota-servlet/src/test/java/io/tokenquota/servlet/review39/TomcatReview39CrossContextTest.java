package io.tokenquota.servlet.review39;

import io.tokenquota.servlet.testing.ContainerKind;

class TomcatReview39CrossContextTest extends AbstractReview39CrossContext {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }
}
