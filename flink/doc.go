// Package flink holds no code: it is the home of the production stack's
// configuration (Flink config, job submission scripts) and of the tests that
// validate docker-compose.yml, flink/ and deploy/ without Docker.
//
// The tests load docker-compose.yml with compose-go, the Compose
// specification's own Go library (the loader docker compose itself uses),
// and cross-check it against the Flink config, the Prometheus scrape config,
// the Grafana provisioning and dashboard, the Dockerfile and go.mod, so the
// files cannot drift apart unnoticed. What only a real Docker and Flink run
// can prove is listed in docs/production.md.
package flink
