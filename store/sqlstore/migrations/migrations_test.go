package migrations

import (
	"strings"
	"testing"
)

func TestMigrationsAreContiguous(t *testing.T) {
	ms := Migrations()
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %d (%s) has version %d; versions must run 1, 2, 3, ... without gaps", i, m.Name, m.Version)
		}
		if strings.TrimSpace(m.SQL) == "" {
			t.Errorf("migration %d (%s) is empty", m.Version, m.Name)
		}
	}
}

func TestInitCreatesTables(t *testing.T) {
	init := Migrations()[0]
	if init.Name != "init" {
		t.Fatalf("first migration is %q, want init", init.Name)
	}
	for _, table := range []string{"orgs", "rooms", "members", "sessions", "audit_log"} {
		if !strings.Contains(init.SQL, "CREATE TABLE "+table+" (") {
			t.Errorf("init does not create table %s", table)
		}
	}
	if !strings.Contains(init.SQL, AutoID) {
		t.Errorf("init uses no %s placeholder; auto-increment keys must not be spelled in one dialect", AutoID)
	}
	if strings.Contains(init.SQL, "AUTOINCREMENT") || strings.Contains(init.SQL, "IDENTITY") || strings.Contains(init.SQL, "SERIAL") {
		t.Error("init spells a dialect's auto-increment key; use the placeholder")
	}
}

func TestParseRejectsBadNames(t *testing.T) {
	for _, name := range []string{"init.sql", "0001.sql", "abcd_init.sql", "0000_zero.sql", "-1_neg.sql"} {
		if _, err := parse(name); err == nil {
			t.Errorf("parse(%q) succeeded, want error", name)
		}
	}
}
