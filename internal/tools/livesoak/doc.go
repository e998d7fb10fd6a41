// Package livesoak is a live soak harness for `trendstream run`: it feeds the
// whole run path real post texts stamped with the current time, at a chosen
// rate, and measures how long each sliding window takes to reach PostgreSQL
// and the API's Server-Sent Events stream, how far the newest window trails
// the wall clock, and the resource use of the process under test.
//
// The parts:
//
//   - Server: a local websocket server that speaks either Jetstream v1
//     (/subscribe, JSON app.bsky.feed.post create commits built from the
//     bundled corpus, internal/testenv/corpus) or the relay firehose
//     (/xrpc/com.atproto.sync.subscribeRepos, recorded frames re-sequenced and
//     re-stamped). Events are generated at an even pace by one producer into
//     a replay buffer, stamped when generated, and fanned out to every
//     connection; a reconnecting client's cursor resumes from the buffer.
//   - Recorder: polls the windows table, subscribes to /api/stream, samples
//     /proc of the process under test and of its PostgreSQL, and keeps every
//     observation.
//   - BuildReport and Report: the pure part: per-window delays, percentiles,
//     skipped windows, resource statistics, Markdown and JSON, and Check.
//   - Run: the orchestration used by cmd/trendsoak and its test: it starts
//     the server, `trendstream run` as a child process with its own data
//     directory and ports, records for a duration, stops the child with
//     SIGINT and inspects its exit status and log.
//
// docs/soak.md describes how to run it and what each figure means.
package livesoak
