package io.tokenquota.servlet;

/**
 * What keeps the figure of one model call as it is set through it as {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE}:
 * the request of a held call as its endpoint sees it ({@link EndpointRequest}), and a pass the container runs again
 * while that call is under way, whose figure is its own, apart from the call's ({@code QuotaFilter.PassAgain}). An
 * include made inside either reports into it; the filter saves, clears, reads and puts back its figure around the
 * include and records what the include reported apart ({@code QuotaFilter#nested}), so that the include's model
 * call is counted beside the holder's, never in its place (round 443: an include inside a pass run again reported
 * into the pass's own slot and was lost to the pass's figure).
 */
interface FigureHolder {
    /** The figure last set through this holder, whatever removed the attribute since; null when none. */
    Object reportedActual();

    /** Puts back what {@link #reportedActual} was before a nested dispatch that takes no hold of its own. */
    void restoreReportedActual(Object before);

    /**
     * Records the figure an include made inside this holder reported, to be added up with the call's own when it
     * is charged; read each time the charge is, as an include's async work may report it after the include returned
     * ({@link EndpointRequest.IncludeCycle}).
     */
    void nestedReported(EndpointRequest.NestedFigure figure);
}
