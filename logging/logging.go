// Package logging builds Roomhub's structured logger: JSON lines (log/slog)
// to stdout and, optionally, to a size-rotated file, with secrets redacted
// wherever they appear as attribute values.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"roomhub"
)

// Rotation limits for LOG_FILE, from the seed: 5 MB files, 5 backups.
const (
	MaxFileBytes = 5 << 20
	MaxBackups   = 5
)

// secretKeys are attribute names whose values never reach a log.
var secretKeys = regexp.MustCompile(`(?i)(token|secret|password|passwd|certificate|cookie|csrf|authorization|api_?key|master_?key)`)

// Redacted replaces secret values.
const Redacted = "[REDACTED]"

// New returns a JSON logger writing to w, with DefaultLimits.
func New(w io.Writer, level slog.Level) *slog.Logger {
	return NewLimited(w, level, DefaultLimits)
}

func redact(groups []string, a slog.Attr) slog.Attr {
	// Paths may carry one-time tokens (/invite/{token}, /o/{org}/join/{token}):
	// whoever reads the log must not be able to use the link.
	if a.Key == "path" && a.Value.Kind() == slog.KindString {
		return slog.String(a.Key, roomhub.RedactPath(a.Value.String()))
	}
	if secretKeys.MatchString(a.Key) && a.Key != "event" {
		// "token_generated" events name tokens without carrying one.
		if a.Value.Kind() == slog.KindString && a.Value.String() == "" {
			return a
		}
		return slog.String(a.Key, Redacted)
	}
	return a
}

// File is an io.Writer that appends to path and rotates it when it would
// exceed maxBytes: path.1 is the newest backup, path.N the oldest kept.
type File struct {
	mu       sync.Mutex
	path     string
	maxBytes int64
	backups  int
	f        *os.File
	size     int64
}

// OpenFile opens (creating) a rotated log file.
func OpenFile(path string, maxBytes int64, backups int) (*File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	l := &File{path: path, maxBytes: maxBytes, backups: backups}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *File) open() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, st.Size()
	return nil
}

func (l *File) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.size > 0 && l.size+int64(len(p)) > l.maxBytes {
		if err := l.rotate(); err != nil {
			return 0, fmt.Errorf("rotate log: %w", err)
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

func (l *File) rotate() error {
	l.f.Close()
	os.Remove(fmt.Sprintf("%s.%d", l.path, l.backups))
	for i := l.backups - 1; i >= 1; i-- {
		os.Rename(fmt.Sprintf("%s.%d", l.path, i), fmt.Sprintf("%s.%d", l.path, i+1))
	}
	if l.backups > 0 {
		if err := os.Rename(l.path, l.path+".1"); err != nil {
			return err
		}
	} else {
		os.Remove(l.path)
	}
	return l.open()
}

// Close closes the file.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// ParseLevel reads LOG_LEVEL-style names.
func ParseLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
