package deploy

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type compose struct {
	Services map[string]struct {
		Image       string
		Build       any
		Environment map[string]string
		DependsOn   map[string]struct{ Condition string } `yaml:"depends_on"`
		Healthcheck *struct{ Test []string }
		Volumes     []string
		Ports       []string
	}
}

// TestComposeFile checks compose.yaml the way `docker compose config` and a
// first `up` would: every dependency exists and is health-checked, the
// nodes share PostgreSQL and Redis, files it mounts exist, and every
// setting it passes is a documented Roomhub setting.
func TestComposeFile(t *testing.T) {
	raw, err := os.ReadFile("../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("compose.yaml is not valid YAML: %v", err)
	}
	for _, want := range []string{"postgres", "redis", "node1", "node2", "lb", "prometheus", "grafana"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("service %s missing", want)
		}
	}
	example, _ := os.ReadFile("../.env.example")
	for name, s := range c.Services {
		for dep, cond := range s.DependsOn {
			d, ok := c.Services[dep]
			if !ok {
				t.Errorf("%s depends on unknown service %s", name, dep)
				continue
			}
			if cond.Condition == "service_healthy" && d.Healthcheck == nil {
				t.Errorf("%s waits for %s to be healthy, but %s has no health check", name, dep, dep)
			}
		}
		for _, v := range s.Volumes {
			src := strings.SplitN(v, ":", 2)[0]
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat("../" + src); err != nil {
					t.Errorf("%s mounts %s, which does not exist", name, src)
				}
			}
		}
		if strings.HasPrefix(name, "node") {
			env := s.Environment
			if !strings.HasPrefix(env["DATABASE_URL"], "postgres://") || !strings.HasPrefix(env["REDIS_URL"], "redis://") {
				t.Errorf("%s does not use the shared PostgreSQL and Redis: %v", name, env)
			}
			for k := range env {
				if !regexp.MustCompile(`(?m)^` + k + `=`).Match(example) {
					t.Errorf("%s sets %s, which is not a documented setting", name, k)
				}
			}
			if s.Healthcheck == nil || !strings.Contains(strings.Join(s.Healthcheck.Test, " "), "healthcheck") {
				t.Errorf("%s has no health check through `roomhub healthcheck`", name)
			}
		}
	}
	nginx, err := os.ReadFile("nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server node1:8080", "server node2:8080", "proxy_set_header Upgrade", "X-Forwarded-For", "X-Forwarded-Proto"} {
		if !strings.Contains(string(nginx), want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
}
