package io.tokenquota.servlet.testing;

/**
 * An OpenAI eval and its run as the API answers them: the run's object at a status, with its models'
 * usage ({@code per_model_usage}), a list of runs, the request that starts one.
 */
public final class EvalRuns {
    public static final String EVAL = "eval_67b7fa9a81a88190ab4aa417e397ea21";
    public static final String RUN = "evalrun_67e57965b480819094274e3a32235e4c";
    public static final String RUNS = "/ai/v1/evals/" + EVAL + "/runs";

    public static final String RUN_REQUEST = "{\"name\":\"gpt-4o-mini\",\"data_source\":{\"type\":\"completions\",\"input_messages\":"
            + "{\"type\":\"template\",\"template\":[{\"role\":\"developer\",\"content\":\"Categorize the support ticket as Hardware,"
            + " Software or Other.\"},{\"role\":\"user\",\"content\":\"{{ item.input }}\"}]},\"sampling_params\":{\"temperature\":1,"
            + "\"max_completions_tokens\":2048},\"model\":\"gpt-4o-mini\",\"source\":{\"type\":\"file_id\",\"id\":"
            + "\"file-J7MoX9ToHXp2TutMEeYnwj\"}}}";

    public static final String USED = "[{\"model_name\":\"gpt-4o-mini-2024-07-18\",\"invocation_count\":40,\"prompt_tokens\":12000,"
            + "\"completion_tokens\":4000,\"total_tokens\":16000,\"cached_tokens\":0}]";

    private EvalRuns() {
    }

    public static String evalRun(String status, String usage, int total) {
        return "{\"object\":\"eval.run\",\"id\":\"" + RUN + "\",\"eval_id\":\"" + EVAL + "\",\"report_url\":"
                + "\"https://platform.openai.com/evaluations/" + EVAL + "?run_id=" + RUN + "\",\"status\":\"" + status + "\","
                + "\"model\":\"gpt-4o-mini\",\"name\":\"gpt-4o-mini\",\"created_at\":1743092069,\"result_counts\":{\"total\":" + total
                + ",\"errored\":0,\"failed\":" + (total / 4) + ",\"passed\":" + (total - total / 4) + "},\"per_model_usage\":" + usage
                + ",\"per_testing_criteria_results\":null,\"data_source\":{\"type\":\"completions\",\"source\":{\"type\":\"file_id\","
                + "\"id\":\"file-J7MoX9ToHXp2TutMEeYnwj\"},\"model\":\"gpt-4o-mini\"},\"shared_with_openai\":false,\"error\":null,"
                + "\"metadata\":{}}";
    }

    public static String list(String element) {
        return "{\"object\":\"list\",\"data\":[" + element + "],\"first_id\":\"" + RUN + "\",\"last_id\":\"" + RUN
                + "\",\"has_more\":false}";
    }

}
