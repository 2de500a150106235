package metrics

// help describes every family orbital and the example pipeline export, as in docs/metrics.md.
var help = map[string]string{
	"orbital_runs_total":                        "Finished runs by case and outcome (pass, fail, skip); every outcome exists at 0 from registration.",
	"orbital_run_timeouts_total":                "Runs that hit their timeout, by case.",
	"orbital_run_duration_seconds":              "Duration of runs, by case and outcome.",
	"orbital_runs_in_flight":                    "Runs of the case going now.",
	"orbital_run_overlap_skipped_total":         "Scheduled ticks skipped because the case's previous run was still going.",
	"orbital_run_ticks_skipped_total":           "Scheduled ticks dropped because the scheduler came more than a period late (a saturated machine).",
	"orbital_case_last_run_timestamp_seconds":   "Unix time the case's last run ended.",
	"orbital_case_period_seconds":               "The case's period.",
	"orbital_case_timeout_seconds":              "The case's run timeout (the service default when the case sets none).",
	"orbital_case_registered_timestamp_seconds": "Unix time the case was registered.",
	"orbital_delivery_latency_seconds":          "Time from sending a test event to its delivery at the webhook, by case.",
	"orbital_webhook_received_total":            "Requests that reached the webhook handler.",
	"orbital_webhook_rejected_total":            "Webhook requests rejected, by reason.",
	"orbital_webhook_matched_total":             "First deliveries for a pending key.",
	"orbital_webhook_duplicate_total":           "Further deliveries for an already delivered key.",
	"orbital_webhook_unmatched_total":           "Deliveries with no pending key (kept for a grace period).",
	"orbital_webhook_unmatched_evicted_total":   "Unmatched deliveries evicted, by reason (expired, overflow).",
	"orbital_webhook_pending_keys":              "Keys waiting for a delivery.",
	"orbital_cluster_local_total":               "Deliveries matched on the replica that received them.",
	"orbital_cluster_relayed_total":             "Deliveries published as receipts for another replica.",
	"orbital_cluster_relay_errors_total":        "Receipts that could not be published.",
	"orbital_cluster_receipts_total":            "Receipts read, by result (matched, ignored, invalid).",
	"orbital_cluster_relay_latency_seconds":     "Time from publishing a receipt to its match on the waiting replica.",
	"orbital_cluster_owned_cases":               "Cases this replica runs under the current assignment.",
	"orbital_kafkasource_received_total":        "Messages of the Kafka return path recorded, by topic.",
	"orbital_kafkasource_dropped_total":         "Messages of the Kafka return path dropped, by topic and reason.",
	"orbital_kafkasource_errors_total":          "Read errors of the Kafka return path, by topic.",
	"orbital_kafkasource_partitions":            "Partitions the Kafka return path reads, by topic.",
	"orbital_tap_records_total":                 "Records the Kafka tap read, by topic (added every second).",
	"orbital_tap_sightings_total":               "Records of a pending key the Kafka tap kept, by topic.",
	"orbital_tap_dropped_total":                 "What the Kafka tap did not keep, by reason (per_key, keys_full, headers).",
	"orbital_tap_errors_total":                  "Read errors of the Kafka tap, by topic.",
	"orbital_tap_pending_keys":                  "Keys the Kafka tap watches.",
	"orbital_tap_partitions":                    "Partitions the Kafka tap reads, by topic.",
	"pipeline_delivery_latency_seconds":         "Example pipeline: ingest to successful delivery.",
}

// helpText is the HELP text of a family: its description, or a pointer to the contract.
func helpText(name string) string {
	if h, ok := help[name]; ok {
		return h
	}
	return "See docs/metrics.md."
}
