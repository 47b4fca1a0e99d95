/// Every metric a DeLong process exposes on `/metrics`, with its `# HELP` text: one line per family, so the
/// list here, docs/operators.md and the code agree (a family missing here is served without HELP, which
/// NodeRunTests catches). Labels are bounded sets, never an address, id or path of a user.
enum MetricsCatalog {
    static let help: [String: String] = [
        // Every process.
        "process_start_time_seconds": "Start time of the process since the Unix epoch, in seconds.",
        "delong_http_requests_total": "HTTP requests answered, by route template, method and status class.",
        "delong_http_request_duration_seconds":
            "Seconds to answer an HTTP request (until the handler had its answer), by route template, method and status class.",

        // The node's sync (node run, privacy serve, compute serve).
        "delong_index_head_block": "Number of the newest indexed block.",
        "delong_index_final_block": "Number of the newest final block.",
        "delong_chain_target_block": "The endpoint's head at the last sync pass.",
        "delong_sync_lag_blocks":
            "Blocks between the endpoint's head at the last sync pass and the newest indexed one.",
        "delong_sync_blocks_total": "Blocks verified and indexed since start.",
        "delong_sync_events_total": "DeLong events indexed since start.",
        "delong_sync_reorgs_total": "Reorgs unwound since start.",
        "delong_sync_failures_total": "Sync passes that stopped at a block that did not verify or an endpoint error.",
        "delong_index_head_timestamp_seconds": "Timestamp of the newest indexed block.",
        "delong_index_head_age_seconds": "Seconds since the newest indexed block was made.",
        "delong_sync_last_success_age_seconds": "Seconds since the last sync pass that succeeded.",
        "delong_sync_consecutive_failures": "Failed sync passes since the last one that succeeded.",
        "delong_sync_last_failure_timestamp_seconds":
            "When the last sync pass failed (its message is lastFailure in /v1/status).",

        // The Privacy Plane.
        "delong_key_releases_total":
            "Dataset key releases by kind (sandbox, provider) and outcome (released or the refusal's code).",
        "delong_leases_active": "Key leases granted and not ended.",
        "delong_lease_renewals_total": "Lease renewals granted.",
        "delong_lease_renewals_refused_total": "Lease renewals refused, by reason.",
        "delong_collateral_refreshes_total": "DCAP collateral reloads that succeeded.",
        "delong_collateral_refresh_failures_total":
            "DCAP collateral reloads or fetches that failed (the last good collateral was kept).",
        "delong_collateral_last_refresh_timestamp_seconds": "When the collateral last reloaded successfully.",
        "delong_collateral_last_failure_timestamp_seconds":
            "When a reload last failed (its reason is collateral.lastFailure in /v1/attestation).",
        "delong_collateral_valid_until_timestamp_seconds":
            "The earliest nextUpdate or notAfter of the loaded collateral.",
        "delong_collateral_loaded": "Collaterals loaded (one per FMSPC from a PCS).",

        // The Computing Plane.
        "delong_compute_jobs": "Jobs in the job log by stage (pending, running, finishing, finished).",
        "delong_compute_outcomes": "Finished jobs in the job log by outcome.",
        "delong_compute_job_outcomes_total": "Jobs that finished since start, by outcome.",
        "delong_explore_sessions_open": "Explore sessions running now.",
    ]
}
