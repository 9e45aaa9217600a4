extension GatewayConfig {
    /// A complete, commented config (what `catimage serve --example-config` prints).
    public static let exampleYAML = """
        # catimage serve --config gateway.yaml
        listen:
          host: 127.0.0.1
          port: 8080
        router: router.catimage            # written by `catimage train`; relative to this file
        # model_dir: ~/.cache/catimage/models/all-MiniLM-L6-v2
        limits:
          max_prompt_chars: 4000
          max_body_bytes: 65536            # larger bodies get 413
          max_images: 4                    # largest `n`
        auth:
          tokens: [change-me]              # bearer tokens for /v1/*; omit the auth section to turn auth off
          # tokens_env: CATIMAGE_TOKENS    # comma-separated tokens from the environment
        budget:
          target_mean_cost: 0.45           # hold this mean cost per routed request (router's cost unit)
          window: 256                      # recent prompts λ is solved on
          warmup: 16
          feedback_horizon: 1024           # realised costs averaged by the feedback term
          feedback_gain: 1.0
        inference:
          threads: 1                       # threads taking batches of prompts; one is fastest (a lone prompt's
                                           # products already run on every core)
          max_batch: 32
          # precision: bf16                # encoder arithmetic: fp32 (default, exact) or bf16 (about twice as fast
                                           # on CPUs with AVX512_BF16; embeddings within cosine 0.9999)
        log:
          path: decisions.sqlite           # SQLite decision log (WAL); omit to turn logging off
          synchronous: normal              # normal: survives a killed process; full: also power loss (slower)
          # postgres:                      # instead of path: one PostgreSQL log for a fleet of replicas
          #   {host: 127.0.0.1, port: 5432, database: catimage, user: catimage, fleet_budget: true}
        breaker:                           # per-generator circuit breakers: an open generator is skipped by the rule
          consecutive_failures: 5          # failed attempts in a row that open it
          consecutive_timeouts: 2          # timed-out attempts in a row that open it
          failure_rate: 0.75               # or this share of failed attempts in the window...
          minimum_attempts: 20             # ...once it holds this many
          window_seconds: 30
          open_seconds: 10                 # cool-down, then half-open: probes close it or re-open it
          half_open_probes: 1
        admission:                         # /v1/* only; /healthz, /readyz and /metrics are always answered
          max_in_flight: 64                # requests handled at once
          max_queue: 256                   # more wait here; beyond it 503 at once
          queue_timeout_seconds: 1         # a request waiting longer gets 503
          retry_after_seconds: 1
          # rate_per_token: 20             # requests/s per bearer token (429 beyond); burst_per_token: 40
        connections:
          idle_timeout_seconds: 60
          header_timeout_seconds: 10       # first byte to end of headers
          body_timeout_seconds: 30         # end of headers to end of body (408)
          # max_connections: 10000         # default: the open-file limit less reserved_file_descriptors (256)
        # exploration: {rate: 0.05}        # ε-exploration of model "auto" requests, propensities logged
        # scoring: {url: http://127.0.0.1:7862/score, metric: clip, sample_rate: 0.1}  # scores served images
        # admin: {token_env: CATIMAGE_ADMIN_TOKEN}  # POST /admin/reload (SIGHUP reloads too)
        generators:                        # one entry per generator of the router, by name
          SDXL-Turbo:
            backend: a1111
            base_url: http://127.0.0.1:7860
            steps: 4
            cfg_scale: 0
            sampler_name: Euler a
            width: 512
            height: 512
            timeout_seconds: 30
            retries: 1
          SD-Turbo:
            backend: a1111                 # same server, other settings: another generator
            base_url: http://127.0.0.1:7860
            steps: 1
            cfg_scale: 0
            timeout_seconds: 30
          amused:
            backend: openai-images
            base_url: http://127.0.0.1:9000/v1
            model: amused-512
            api_key_env: AMUSED_API_KEY
            timeout_seconds: 30
            retries: 2
          TAESD:
            backend: openai-images
            base_url: http://127.0.0.1:9001/v1
            model: sd-taesd
            timeout_seconds: 60
        """
}
