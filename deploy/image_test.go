package deploy

import (
	"net"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// stage is one FROM ... stage of a Dockerfile: its base image and its
// instructions, continuation lines joined.
type stage struct {
	from  string
	lines []string
}

func dockerStages(t *testing.T) []stage {
	t.Helper()
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var out []stage
	for _, l := range strings.Split(strings.ReplaceAll(string(raw), "\\\n", " "), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		if strings.EqualFold(f[0], "FROM") {
			out = append(out, stage{from: f[1]})
			continue
		}
		if len(out) > 0 {
			out[len(out)-1].lines = append(out[len(out)-1].lines, l)
		}
	}
	if len(out) == 0 {
		t.Fatal("Dockerfile has no FROM")
	}
	return out
}

// TestImageDataDirWritable: the server runs as the image's user and its
// default store is an SQLite file in DATA_DIR, so that directory must exist
// in the image, be owned by that user, and be a volume; the image checks its
// own health.
func TestImageDataDirWritable(t *testing.T) {
	st := dockerStages(t)
	final := st[len(st)-1]
	// distroless ":nonroot" images run as uid 65532 unless USER says
	// otherwise.
	user := ""
	if strings.HasSuffix(final.from, ":nonroot") {
		user = "65532"
	}
	dataDir, volume, health := "", false, false
	var chowned []string // "uid dest"
	for _, l := range final.lines {
		f := strings.Fields(l)
		switch strings.ToUpper(f[0]) {
		case "USER":
			user = strings.SplitN(f[1], ":", 2)[0]
		case "ENV":
			if m := regexp.MustCompile(`DATA_DIR=(\S+)`).FindStringSubmatch(l); m != nil {
				dataDir = m[1]
			}
		case "VOLUME":
			volume = volume || strings.Contains(l, `"/data"`) || strings.Contains(l, " /data")
		case "HEALTHCHECK":
			health = strings.Contains(l, "healthcheck")
		case "COPY":
			for _, a := range f[1:] {
				if strings.HasPrefix(a, "--chown=") {
					chowned = append(chowned, strings.SplitN(strings.TrimPrefix(a, "--chown="), ":", 2)[0]+" "+path.Clean(f[len(f)-1]))
				}
			}
		}
	}
	if user == "" || user == "0" || user == "root" {
		t.Fatalf("the image runs as %q; want a non-root user", user)
	}
	if dataDir == "" {
		t.Fatal("the image does not set DATA_DIR")
	}
	owned := false
	for _, c := range chowned {
		owned = owned || c == user+" "+path.Clean(dataDir)
	}
	if !owned {
		t.Errorf("DATA_DIR %s is not created owned by the image's user %s (COPY --chown): the server cannot create its SQLite file (chowned: %v)", dataDir, user, chowned)
	}
	if !volume {
		t.Errorf("DATA_DIR %s is not a VOLUME: the SQLite file would be lost with the container", dataDir)
	}
	if !health {
		t.Error("the image has no HEALTHCHECK through `roomhub healthcheck`")
	}
}

// TestDockerIgnore: the build context (COPY . .) leaves out secrets and
// local state.
func TestDockerIgnore(t *testing.T) {
	raw, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(".dockerignore is missing: `COPY . .` would send .env into the build")
	}
	lines := strings.Split(string(raw), "\n")
	for _, want := range []string{".env", ".git", "bin/", "data/", "*.db"} {
		found := false
		for _, l := range lines {
			found = found || strings.TrimSpace(l) == want
		}
		if !found {
			t.Errorf(".dockerignore does not leave out %s", want)
		}
	}
}

// TestPrometheusScrapesNodes: every target of the shipped prometheus.yml
// is a Roomhub node of compose.yaml at the port of its METRICS_ADDR, and
// that address listens on the container network, not on loopback.
func TestPrometheusScrapesNodes(t *testing.T) {
	raw, err := os.ReadFile("../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	raw, err = os.ReadFile("../monitoring/prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	scraped := map[string]bool{}
	for _, sc := range p.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, port, err := net.SplitHostPort(target)
				if err != nil {
					t.Errorf("target %q: %v", target, err)
					continue
				}
				svc, ok := c.Services[host]
				if !ok {
					t.Errorf("target %s names no compose service", target)
					continue
				}
				addr := svc.Environment["METRICS_ADDR"]
				if addr == "" {
					addr = "127.0.0.1:9464" // the default
				}
				mh, mp, err := net.SplitHostPort(addr)
				if err != nil {
					t.Errorf("%s METRICS_ADDR %q: %v", host, addr, err)
					continue
				}
				if ip := net.ParseIP(mh); ip != nil && ip.IsLoopback() || mh == "localhost" {
					t.Errorf("%s serves metrics on %s, loopback inside its container: Prometheus cannot scrape %s", host, addr, target)
				}
				if mp != port {
					t.Errorf("target %s, but %s serves metrics on port %s", target, host, mp)
				}
				scraped[host] = true
			}
		}
	}
	for name := range c.Services {
		if strings.HasPrefix(name, "node") && !scraped[name] {
			t.Errorf("node %s is not scraped by Prometheus", name)
		}
	}
}
