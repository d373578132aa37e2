package server_test

import (
	"context"
	"roomhub/account"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"roomhub"
)

// TestBrowserInvitationTOTPSignInAgain: a person opens an invitation link,
// creates an account, enrols TOTP with a code computed here from the secret
// the page shows, signs out, and signs back in with password and TOTP.
func TestBrowserInvitationTOTPSignInAgain(t *testing.T) {
	a := newApp(t)
	acme := a.org("acme")
	link, err := account.IssueInvitation(context.Background(), a.store, a.clk.Now(), time.Hour, a.srv.URL, acme.ID, "ada@acme.example", roomhub.RoleOwner, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, _ := tab(t, chromium(t))
	step(t, ctx, "open the invitation and create the account",
		chromedp.Navigate(link),
		chromedp.WaitVisible("#password"),
		chromedp.SendKeys("#name", "Ada Lovelace"),
		chromedp.SendKeys("#password", testPassword),
		chromedp.Submit("#password"),
		chromedp.WaitVisible("#totp-secret"),
	)
	secretText := evalIn[string](t, ctx, `document.getElementById("totp-secret").textContent`)
	step(t, ctx, "the QR code renders",
		chromedp.Poll[chromedp.Void](`document.querySelector("img.qr").complete && document.querySelector("img.qr").naturalWidth > 0`))
	step(t, ctx, "enter the code",
		chromedp.SendKeys("#code", a.code(strings.TrimSpace(secretText))),
		chromedp.Submit("#code"),
		chromedp.WaitVisible("#backup-codes"),
	)
	codes := evalIn[int](t, ctx, `document.querySelectorAll("#backup-codes li").length`)
	if codes != 10 {
		t.Fatalf("%d backup codes shown, want 10", codes)
	}
	step(t, ctx, "go to the dashboard",
		chromedp.Click(`a[href="/dashboard/"]`),
		chromedp.WaitVisible(`a[href="/dashboard/acme/settings"]`),
		chromedp.Click(`a[href="/dashboard/acme/settings"]`),
		chromedp.WaitVisible("#agora-title"),
	)
	step(t, ctx, "sign out",
		chromedp.Click(`form.signout button`),
		chromedp.WaitVisible("#email"),
	)
	step(t, ctx, "the dashboard now asks to sign in",
		chromedp.Navigate(a.srv.URL+"/dashboard/acme/settings"),
		chromedp.WaitVisible("#email"),
	)
	step(t, ctx, "sign in with the password",
		chromedp.SendKeys("#email", "ada@acme.example"),
		chromedp.SendKeys("#password", testPassword),
		chromedp.Submit("#password"),
		chromedp.WaitVisible("#code"),
	)
	a.nextStep()
	step(t, ctx, "and the second factor",
		chromedp.SendKeys("#code", a.code(strings.TrimSpace(secretText))),
		chromedp.Submit("#code"),
		chromedp.WaitVisible(`a[href="/dashboard/acme/settings"]`),
	)
}

// evalIn evaluates a JavaScript expression in the tab.
func evalIn[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, browserTimeout)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}
