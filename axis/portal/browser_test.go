package portal

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts Debian's chromium headless (skipped when missing, unless CI=true).
func browser(t *testing.T) context.Context {
	t.Helper()
	path, ok := hasBrowser()
	if !ok {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (apt-get install chromium)")
		}
		t.Skip("chromium is not installed")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	t.Cleanup(cancel)
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelA)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(cancelB)
	return bctx
}

// screenshotPath is where a test leaves a screenshot: $AXIS_SCREENSHOTS if set (to look
// at it), else the test's temporary directory.
func screenshotPath(t *testing.T, name string) string {
	dir := os.Getenv("AXIS_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	return filepath.Join(dir, name)
}

// run runs one action that yields a value, failing the test on error.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// A clerk signs in with a token, opens the inbox, filters it, opens the decree and reads
// its timeline, in a real browser with the portal's CSP in force (no script anywhere).
func TestBrowserClerkFlow(t *testing.T) {
	f := newFixture(t)
	ctx := browser(t)
	do(t, ctx, chromedp.Navigate(f.srv.URL+"/inbox"), chromedp.WaitVisible(`#token`))
	if loc := run(t, ctx, chromedp.Location()); !strings.Contains(loc, "/login?next=%2Finbox") {
		t.Fatalf("not sent to the login form: %s", loc)
	}
	do(t, ctx, chromedp.SendKeys(`#token`, f.tok[police]))
	if res, err := chromedp.RunResponse(ctx, chromedp.Click(`#login-submit`)); err != nil || res.Status != 200 {
		t.Fatalf("sign-in: %v %v", res, err)
	}
	do(t, ctx, chromedp.WaitVisible(`table.docs`))
	loc, title := run(t, ctx, chromedp.Location()), run(t, ctx, chromedp.Title())
	nrows := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("table.docs tbody tr").length`))
	if !strings.HasSuffix(loc, "/inbox") || !strings.Contains(title, "Văn bản đến") || nrows != 3 {
		t.Fatalf("after sign-in: %s %q, %d rows", loc, title, nrows)
	}
	// The stylesheet applied (CSP style-src 'self' lets it through).
	if bg := run(t, ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("header.top")).backgroundColor`)); bg != "rgb(165, 29, 36)" {
		t.Errorf("stylesheet not applied: header background %q", bg)
	}

	// Filter by text: the filter form is in a <details>, opened by a click (no script).
	do(t, ctx, chromedp.Click(`details.filters summary`), chromedp.WaitVisible(`#q`), chromedp.SendKeys(`#q`, "chia sẻ dữ liệu"))
	// The old page has a table too: wait for the navigation the click starts.
	if res, err := chromedp.RunResponse(ctx, chromedp.Click(`#filter-apply`)); err != nil || res.Status != 200 {
		t.Fatalf("filter: %v %v", res, err)
	}
	do(t, ctx, chromedp.WaitVisible(`table.docs`))
	loc = run(t, ctx, chromedp.Location())
	n := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("table.docs tbody tr").length`))
	rows := run(t, ctx, chromedp.Text(`table.docs tbody`))
	if n != 1 || !strings.Contains(rows, decreeSubj) || !strings.Contains(rows, "Khẩn") || !strings.Contains(loc, "q=chia") {
		t.Fatalf("filtered inbox: %d rows %q at %s", n, rows, loc)
	}

	// Open the decree and read G01's timeline (the first).
	if res, err := chromedp.RunResponse(ctx, chromedp.Click(`table.docs tbody tr a`)); err != nil || res.Status != 200 {
		t.Fatalf("open the decree: %v %v", res, err)
	}
	do(t, ctx, chromedp.WaitVisible(`article.timeline`))
	if title := run(t, ctx, chromedp.Title()); !strings.Contains(title, decreeSubj) {
		t.Errorf("document title %q", title)
	}
	timeline := run(t, ctx, chromedp.Text(`article.timeline`))
	for _, want := range []string{"Bộ Công an", "Đã đến (01)", "Đã tiếp nhận (03)", "bởi Bộ Công an", "Đã tiếp nhận, chuyển Vụ Pháp chế"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("timeline lacks %q:\n%s", want, timeline)
		}
	}
	save := func(name string, b []byte) {
		p := screenshotPath(t, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}
	save("axis-portal-document.png", run(t, ctx, chromedp.FullScreenshot(100)))

	// Sign out (a POST with the session's CSRF token, from the header button), then
	// sign in as an auditor straight to the audit log.
	if res, err := chromedp.RunResponse(ctx, chromedp.Click(`form[action="/logout"] button`)); err != nil || res.Status != 200 {
		t.Fatalf("sign out: %v %v", res, err)
	}
	if loc := run(t, ctx, chromedp.Location()); !strings.HasSuffix(loc, "/") {
		t.Errorf("after sign-out at %s", loc)
	}
	if _, err := f.st.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate(f.srv.URL+"/audit"), chromedp.WaitVisible(`#token`), chromedp.SendKeys(`#token`, f.auditor))
	if res, err := chromedp.RunResponse(ctx, chromedp.Click(`#login-submit`)); err != nil || res.Status != 200 {
		t.Fatalf("auditor sign-in: %v %v", res, err)
	}
	if chain := run(t, ctx, chromedp.Text(`#chain-status`)); !strings.Contains(chain, "Chuỗi toàn vẹn") {
		t.Errorf("audit chain status %q", chain)
	}
	save("axis-portal-audit.png", run(t, ctx, chromedp.FullScreenshot(100)))

	// The public statistics: the chart is inline SVG drawn by the server.
	do(t, ctx, chromedp.Navigate(f.srv.URL+"/?lang=en"), chromedp.WaitVisible(`figure.chart svg`))
	if bars := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg rect.bar").length`)); bars != 30 {
		t.Errorf("%d bars in the chart, want 30", bars)
	}
	if h := run(t, ctx, chromedp.Evaluate[float64](`document.querySelector("figure.chart svg").getBoundingClientRect().height`)); h < 100 {
		t.Errorf("chart rendered %v px high", h)
	}
	save("axis-portal-home-en.png", run(t, ctx, chromedp.FullScreenshot(100)))

	// The same inbox (seen by the auditor) on a phone (390 px wide): tables turn into cards, nothing overflows.
	do(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
		chromedp.Navigate(f.srv.URL+"/inbox?lang=vi&agency="+police), chromedp.WaitVisible(`table.docs`))
	if run(t, ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`)) {
		t.Errorf("the inbox overflows a phone screen horizontally")
	}
	save("axis-portal-inbox-phone.png", run(t, ctx, chromedp.FullScreenshot(100)))
}
