package dashboard

import "testing"

// TestCSVSafe: cells a spreadsheet would run as formulas are defused.
func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{
		"=HYPERLINK(\"http://evil\")": "'=HYPERLINK(\"http://evil\")",
		"+1+1":                        "'+1+1",
		"-2":                          "'-2",
		"@SUM(A1)":                    "'@SUM(A1)",
		"\tx":                         "'\tx",
		"plain":                       "plain",
		"":                            "",
		"a=b":                         "a=b",
	} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
