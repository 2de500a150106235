// Package cluster lets several replicas of the e2e service run behind one
// load balancer, coordinated through the Kafka cluster they already use.
//
// Three problems appear as soon as there is more than one replica; a Node
// solves deliveries and scheduling, Results the history:
//
//   - Deliveries. The pipeline under test delivers to the load balancer, so
//     a delivery often lands on a replica that is not the one whose test is
//     waiting for it. Node.Record is the webhook.Logger of every replica's
//     /webhook: a delivery whose key is pending on this replica is recorded
//     here at once; any other delivery is published as a receipt, routed by
//     its key: a key that starts with a trace id made by Node.TraceID (pass
//     it to orbital.WithTraceIDs) carries the waiting replica's slot, a
//     partition of "<prefix>-receipts" only that replica reads (the slots of
//     a replica are the schedule partitions it owns); any other key goes to
//     "<prefix>-broadcast", which every replica reads. A replica decodes a
//     receipt only when its key (the Kafka key) is pending there; the
//     publisher keeps the delivery as unmatched for the grace period, so a
//     Sent shortly after on that replica still matches it.
//   - Results. Results (StartResults) publishes every result of this replica
//     to "<prefix>-results" and feeds every replica's results, the last 24 h
//     replayed at start, to the status page (status.Status.Feed), so every
//     replica shows the same, durable history; LastStart tells
//     orbital.WithLastStart when a case last ran anywhere.
//   - Scheduling. Node.Owns is the assignment function of
//     orbital.WithAssignment. A case belongs to a partition of the topic
//     "<prefix>-schedule" by an FNV-1a hash of its name, and partitions belong
//     to replicas by the assignment of the Kafka consumer group
//     "<prefix>-scheduler" (kafka-go's ConsumerGroup), so each case runs on
//     one replica per period. When a replica leaves the group its partitions
//     move to the others at the next generation: at their next heartbeat
//     after a clean Close, and after the group's session timeout (plus at
//     most one heartbeat interval) after a crash. The onAssign callback of Start,
//     orbital's Service.Reassigned, then runs each gained case at once (or, with
//     WithLastStart, a period after its last run anywhere) rather than at
//     its next tick, so a case moves within the session timeout plus one
//     period.
//
// The group's balancer spreads cases, not only partitions: each member tells
// the group the case names it knows and the partitions it owns, and the
// leader assigns partitions so that every member runs about the same number
// of cases and keeps the partitions it had when that stays balanced.
//
// When Kafka is unreachable the node keeps serving: a delivery whose key is
// pending here still matches at once; a receipt that cannot be published is
// logged, counted and reported by RecordChecked (the webhook answers 503, so
// the sender retries), a test that waits for it in vain says why through
// Node.Err, the readers and the group reconnect with backoff by themselves,
// and a replica keeps the last assignment it received until the group hands
// out a new one.
package cluster
