package server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"roomhub/config"
)

// TestSlowBodyIsCutOff: a client that announces a body and sends one byte
// at a time is answered 408 and disconnected once BODY_READ_TIMEOUT has
// passed, instead of holding the connection for ever.
func TestSlowBodyIsCutOff(t *testing.T) {
	a := newApp(t, func(c *config.Config) { c.BodyReadTimeout = 300 * time.Millisecond })
	u := a.browser("")
	conn, err := net.Dial("tcp", strings.TrimPrefix(a.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cookies := u.c.Jar.Cookies(mustURL(t, a.srv.URL))
	var cookie []string
	for _, c := range cookies {
		cookie = append(cookie, c.Name+"="+c.Value)
	}
	fmt.Fprintf(conn, "POST /create_member/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-CSRF-Token: %s\r\n"+
		"Origin: %s\r\nCookie: %s\r\nContent-Length: 16000\r\n\r\n{", u.csrf, a.srv.URL, strings.Join(cookie, "; "))
	// Keep trickling, as the attacker did, until the server answers.
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	defer close(done)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a slow body within 10 s: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "did not arrive") {
		t.Fatalf("slow body: %d %s", res.StatusCode, body)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestBodyCapWhateverTheHeaders: a CSRF header, a multipart form or
// chunked encoding do not lift the body cap.
func TestBodyCapWhateverTheHeaders(t *testing.T) {
	a := newApp(t)
	v := a.visitor()
	big := strings.Repeat("x", 9<<20)
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("csrf_token", v.csrf)
	fw, _ := mw.CreateFormFile("file", "big.bin")
	fw.Write([]byte(big[:1<<20]))
	mw.Close()
	for _, tc := range []struct {
		name    string
		body    func() io.Reader
		headers map[string]string
		chunked bool
	}{
		{"form with CSRF header", func() io.Reader { return strings.NewReader("email=a%40b.c&password=" + big) },
			map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": v.csrf, "Accept": "text/html"}, false},
		{"multipart", func() io.Reader { return bytes.NewReader(mp.Bytes()) },
			map[string]string{"Content-Type": mw.FormDataContentType(), "X-CSRF-Token": v.csrf}, false},
		{"chunked with CSRF header", func() io.Reader {
			return io.MultiReader(strings.NewReader("email=a%40b.c&password="), strings.NewReader(big))
		},
			map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": v.csrf}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", a.srv.URL+"/login", tc.body())
			if tc.chunked {
				req.ContentLength = -1
			}
			req.Header.Set("Origin", a.srv.URL)
			for k, val := range tc.headers {
				req.Header.Set(k, val)
			}
			res, err := v.c.Do(req)
			if err != nil {
				t.Fatalf("the server did not answer before closing: %v", err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "too large") {
				t.Fatalf("status %d: %.300s", res.StatusCode, body)
			}
			if tc.headers["Accept"] == "text/html" && !strings.Contains(string(body), "<html") {
				t.Fatalf("a browser got no page: %.300s", body)
			}
		})
	}
	// A form within the cap still works.
	res, body := v.form("/login", url.Values{"email": {"nobody@example.com"}, "password": {"wrong password 123"}})
	if res.StatusCode == http.StatusRequestEntityTooLarge || res.StatusCode >= 500 {
		t.Fatalf("small form: %d %.300s", res.StatusCode, body)
	}
}
