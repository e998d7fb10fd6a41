// Package portable holds no code: it is the home of the test that submits
// the real trending pipeline the way production submits it to Flink, but to
// a standalone Prism job server.
//
// The test builds three programs from this module (Prism's job server,
// Beam's Go container entrypoint `boot` and the pipeline binary), starts
// Prism and `boot --worker_pool` as separate processes, and runs the
// pipeline binary as the submitter with --runner=universal and an EXTERNAL
// environment pointing at the worker pool. That is the Job API, artifact
// staging and worker-pool path the Flink job server and the go-worker-pool
// sidecar of docker-compose.yml use; only the runner behind the Job API
// differs. The results in PostgreSQL and on the trends topic are then
// compared window by window with internal/core/trendcalc's reference.
package portable
