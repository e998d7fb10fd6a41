// Package cluster holds no code: it is the home of cluster.sh, which runs a
// local Apache Flink session cluster without Docker (a JobManager and a
// separate TaskManager from the Flink wheels on PyPI, Beam's Flink job server,
// Beam's Go worker pool and a Kafka broker), and of the tests that start one
// and run jobs on it. docs/local-cluster.md describes it.
package cluster
