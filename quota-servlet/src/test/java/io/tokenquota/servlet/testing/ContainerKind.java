package io.tokenquota.servlet.testing;

/** The embedded containers the servlet module is tested on. */
public enum ContainerKind {
    /** Eclipse Jetty 12, ee10 (Servlet 6.0) {@code ServletContextHandler}. */
    JETTY {
        @Override
        public EmbeddedContainer start(Deployment deployment) {
            return JettyContainer.start(deployment);
        }
    },
    /** Apache Tomcat 11 embedded (Servlet 6.1). */
    TOMCAT {
        @Override
        public EmbeddedContainer start(Deployment deployment) {
            return TomcatContainer.start(deployment);
        }
    };

    /** Starts the deployment on a free loopback port. */
    public abstract EmbeddedContainer start(Deployment deployment);
}
