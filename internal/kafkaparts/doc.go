// Package kafkaparts holds the Kafka plumbing that kafkasource and kafkatap
// share: a partition read by one reader without a consumer group, the
// retried metadata and offset requests that position it, waiting for the
// readers to reach given offsets, closing them, and the checks of a topic
// list. Error messages and logs carry the owning package's name, so each
// package keeps its own wording.
package kafkaparts
