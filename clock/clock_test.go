package clock

import (
	"testing"
	"time"
)

func TestFakeRunsDueTimersInOrder(t *testing.T) {
	c := NewFake(time.Unix(0, 0))
	var got []string
	c.AfterFunc(2*time.Second, func() { got = append(got, "b") })
	c.AfterFunc(1*time.Second, func() {
		got = append(got, "a")
		c.AfterFunc(500*time.Millisecond, func() { got = append(got, "a2") })
	})
	stopped := c.AfterFunc(1500*time.Millisecond, func() { got = append(got, "never") })
	if !stopped.Stop() {
		t.Fatal("Stop on a pending timer reported false")
	}
	c.Advance(1600 * time.Millisecond)
	if want := "a,a2"; join(got) != want {
		t.Fatalf("after 1.6s ran %q, want %q", join(got), want)
	}
	c.Advance(time.Second)
	if want := "a,a2,b"; join(got) != want {
		t.Fatalf("after 2.6s ran %q, want %q", join(got), want)
	}
	if now := c.Now(); !now.Equal(time.Unix(0, 0).Add(2600 * time.Millisecond)) {
		t.Fatalf("Now = %v", now)
	}
	if c.Pending() != 0 {
		t.Fatalf("Pending = %d, want 0", c.Pending())
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}
