package monitoring

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"
)

// exported is every roomhub_* metric family the server exports: the single
// list to update when a metric is added, renamed or removed. TestExported
// holds it to metrics/metrics.go. Histograms are listed by family name; their
// _bucket, _sum and _count series are accepted in queries.
var exported = []string{
	"roomhub_http_requests_total",
	"roomhub_http_request_duration_seconds",
	"roomhub_rate_limited_total",
	"roomhub_csrf_failures_total",
	"roomhub_login_failures_total",
	"roomhub_websocket_closed_total",
	"roomhub_store_query_duration_seconds",
	"roomhub_login_lockouts_total",
	"roomhub_cross_org_attempts_total",
	"roomhub_history_failures_total", "roomhub_live_streams", "roomhub_webhook_attempts_total",
	"roomhub_token_mints_total",
	"roomhub_video_intruders_total", "roomhub_video_removals_total", "roomhub_agora_notifications_total",
	"roomhub_websocket_connections",
	"roomhub_websocket_accepted_total",
	"roomhub_events_delivered_total",
	"roomhub_send_queue_drops_total",
	"roomhub_member_joins_total",
	"roomhub_member_leaves_total",
	"roomhub_reaper_runs_total",
	"roomhub_members_reaped_total",
	"roomhub_reaper_failures_total",
	"roomhub_presence_restored_total",
	"roomhub_event_delivery_seconds",
	"roomhub_bus_errors_total",
	"roomhub_bus_reconnects_total",
	"roomhub_bus_up",
	"roomhub_rooms_local",
	"roomhub_store_connections",
	"roomhub_store_wait_total",
	"roomhub_build_info",
}

// histograms are the families in exported that are histograms.
var histograms = []string{"roomhub_http_request_duration_seconds", "roomhub_event_delivery_seconds", "roomhub_store_query_duration_seconds"}

// known reports whether a query may name metric: a Roomhub family (or a
// histogram's series), a Go or process collector metric, or Prometheus's up.
func known(metric string) bool {
	if metric == "up" || strings.HasPrefix(metric, "go_") || strings.HasPrefix(metric, "process_") {
		return true
	}
	if slices.Contains(exported, metric) {
		return true
	}
	for _, h := range histograms {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if metric == h+suffix {
				return true
			}
		}
	}
	return false
}

// TestExported holds the list above to the names registered in
// metrics/metrics.go, both ways, so a renamed metric fails here.
func TestExported(t *testing.T) {
	src, err := os.ReadFile("../metrics/metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	var inSource []string
	for _, m := range regexp.MustCompile(`"(roomhub_[a-z0-9_]+)"`).FindAllStringSubmatch(string(src), -1) {
		if !slices.Contains(inSource, m[1]) {
			inSource = append(inSource, m[1])
		}
	}
	if len(inSource) == 0 {
		t.Fatal("no roomhub_ metric names found in metrics/metrics.go")
	}
	for _, name := range inSource {
		if !slices.Contains(exported, name) {
			t.Errorf("metrics/metrics.go exports %s, missing from the list in monitoring_test.go", name)
		}
	}
	for _, name := range exported {
		if !slices.Contains(inSource, name) {
			t.Errorf("%s is listed in monitoring_test.go but metrics/metrics.go does not export it", name)
		}
	}
	for _, h := range histograms {
		if !slices.Contains(exported, h) {
			t.Errorf("histogram %s is not in the exported list", h)
		}
	}
}

func promtool(t *testing.T, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: run make test-deps (Debian package prometheus)")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = "prometheus"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestPromtool(t *testing.T) {
	promtool(t, "check", "rules", "rules.yml")
	promtool(t, "test", "rules", "rules_test.yml")
	promtool(t, "check", "config", "prometheus.yml")
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadRules(t *testing.T) []rule {
	t.Helper()
	var f struct {
		Groups []struct {
			Rules []rule `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, "prometheus/rules.yml", &f)
	var rules []rule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatal("no rules in prometheus/rules.yml")
	}
	return rules
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestAlerts checks each alert's for, severity, summary and runbook link, that
// the link's anchor is a heading of docs/runbook.md, that its expression names
// only exported metrics, and that rules_test.yml has a case where it fires and
// one where it stays quiet.
func TestAlerts(t *testing.T) {
	anchors := runbookAnchors(t)

	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []struct {
					ExpLabels      map[string]string `yaml:"exp_labels"`
					ExpAnnotations map[string]string `yaml:"exp_annotations"`
				} `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, "prometheus/rules_test.yml", &tests)
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tg := range tests.Tests {
		for _, c := range tg.AlertRuleTest {
			if len(c.ExpAlerts) == 0 {
				quiet[c.Alertname] = true
				continue
			}
			for _, a := range c.ExpAlerts {
				if len(a.ExpLabels) > 0 && len(a.ExpAnnotations) > 0 {
					fires[c.Alertname] = true
				}
			}
		}
	}

	p := parser.NewParser(parser.Options{})
	seen := map[string]bool{}
	for _, r := range loadRules(t) {
		if r.Alert == "" {
			t.Errorf("recording rule or unnamed rule: %q", r.Expr)
			continue
		}
		if seen[r.Alert] {
			t.Errorf("%s: defined twice", r.Alert)
		}
		seen[r.Alert] = true
		if r.For == "" {
			t.Errorf("%s: no for:", r.Alert)
		}
		if s := r.Labels["severity"]; s != "page" && s != "ticket" {
			t.Errorf("%s: severity %q, want page or ticket", r.Alert, s)
		}
		if r.Annotations["summary"] == "" {
			t.Errorf("%s: no summary annotation", r.Alert)
		}
		url := r.Annotations["runbook_url"]
		doc, anchor, ok := strings.Cut(url, "#")
		if !ok || doc != "docs/runbook.md" {
			t.Errorf("%s: runbook_url %q, want docs/runbook.md#<section>", r.Alert, url)
		} else if !anchors[anchor] {
			t.Errorf("%s: runbook_url anchor #%s is not a heading in docs/runbook.md", r.Alert, anchor)
		}
		checkExpr(t, p, r.Alert, r.Expr)
		if !fires[r.Alert] {
			t.Errorf("%s: no case in rules_test.yml where it fires (exp_alerts with labels and annotations)", r.Alert)
		}
		if !quiet[r.Alert] {
			t.Errorf("%s: no case in rules_test.yml where it stays quiet (exp_alerts: [])", r.Alert)
		}
	}
	for name := range fires {
		if !seen[name] {
			t.Errorf("rules_test.yml tests %s, which rules.yml does not define", name)
		}
	}
}

// checkExpr parses a PromQL expression and checks every metric it selects
// is one Roomhub, the Go and process collectors or Prometheus export.
func checkExpr(t *testing.T, p parser.Parser, where, expr string) {
	t.Helper()
	e, err := p.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return
	}
	n := 0
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		n++
		name := vs.Name
		if name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == "__name__" {
					name = m.Value
				}
			}
		}
		if !known(name) {
			t.Errorf("%s: %q selects %q, which Roomhub does not export", where, expr, name)
		}
		return nil
	})
	if n == 0 {
		t.Errorf("%s: %q selects no metric", where, expr)
	}
}

// runbookAnchors returns the GitHub-style anchors of docs/runbook.md's
// headings: lower case, punctuation dropped, spaces as hyphens, repeats
// numbered -1, -2...
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	counts := map[string]int{}
	fence := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			fence = !fence
		}
		if fence || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		a := githubAnchor(text)
		if c := counts[a]; c > 0 {
			anchors[a+"-"+itoa(c)] = true
		} else {
			anchors[a] = true
		}
		counts[a]++
	}
	return anchors
}

func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func itoa(n int) string {
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}

func TestGithubAnchor(t *testing.T) {
	for in, want := range map[string]string{
		"RoomhubNodeDown":       "roomhubnodedown",
		"To come":               "to-come",
		"Where's `up` (v2.0)?":  "wheres-up-v20",
		"snake_case and-dashes": "snake_case-and-dashes",
	} {
		if got := githubAnchor(in); got != want {
			t.Errorf("githubAnchor(%q) = %q, want %q", in, got, want)
		}
	}
}

// Grafana template variables in the dashboard's queries, replaced by values
// Prometheus would see before parsing.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m",
	"$__interval", "1m",
	"$__range", "1h",
	"$instance", ".*",
)

type panel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Panels []panel `json:"panels"`
}

// TestDashboard parses every panel query of grafana/dashboards/roomhub.json
// with the Prometheus PromQL parser and checks the metrics it names.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/dashboards/roomhub.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string  `json:"uid"`
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	var ds struct {
		Datasources []struct {
			UID string `yaml:"uid"`
			URL string `yaml:"url"`
		} `yaml:"datasources"`
	}
	readYAML(t, "grafana/provisioning/datasources/prometheus.yml", &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].URL != "http://prometheus:9090" || ds.Datasources[0].UID == "" {
		t.Fatalf("datasources: %+v, want one at http://prometheus:9090 with a fixed uid", ds.Datasources)
	}
	uid := ds.Datasources[0].UID

	p := parser.NewParser(parser.Options{})
	var rows []string
	queries := 0
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, pn := range ps {
			if pn.Type == "row" {
				rows = append(rows, pn.Title)
				walk(pn.Panels)
				continue
			}
			if len(pn.Targets) == 0 {
				t.Errorf("panel %q has no query", pn.Title)
			}
			if pn.Datasource == nil || pn.Datasource.UID != uid {
				t.Errorf("panel %q does not use the provisioned datasource %q", pn.Title, uid)
			}
			for _, tg := range pn.Targets {
				queries++
				checkExpr(t, p, "panel "+pn.Title, grafanaVars.Replace(tg.Expr))
			}
		}
	}
	walk(dash.Panels)
	sort.Strings(rows)
	want := []string{"Dashboard, history and webhooks", "Rate limits and security", "Realtime hub", "Runtime", "Store and bus", "Traffic"}
	if !slices.Equal(rows, want) {
		t.Errorf("rows %q, want %q", rows, want)
	}
	if queries == 0 {
		t.Fatal("no queries in the dashboard")
	}
	t.Logf("%d dashboard queries parsed", queries)
}
