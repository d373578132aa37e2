// Package monitoring holds no code: it tests the Prometheus alert rules
// (prometheus/rules.yml, with promtool), their runbook (docs/runbook.md) and
// the Grafana dashboard (grafana/dashboards/roomhub.json) against the
// metrics Roomhub exports (metrics/metrics.go).
package monitoring
