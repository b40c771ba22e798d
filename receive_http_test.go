package sluice_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
)

// freeAddr returns a loopback address nothing listens on (now).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// post sends body and returns the status and the answer's body.
func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitListening waits until the HTTPText receiver at url answers.
func waitListening(t *testing.T, url string) {
	t.Helper()
	waitFor(t, "the receiver to listen", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusMethodNotAllowed
	})
}

func TestHTTPText(t *testing.T) {
	addr := sameAddr(t, freeAddr(t))
	h := sluicetest.New(t, time.Second)
	out := sluicetest.Collect(sluice.HTTPText(h.Context, addr))
	h.Run(1) // starts the receiver
	url := "http://" + addr + "/ingest"
	waitListening(t, url)

	// The answer comes once the block is stored.
	if code, body := post(t, url, "a\nb\r\nc"); code != http.StatusOK || strings.TrimSpace(body) != `{"records":3}` {
		t.Fatalf("POST: %d %q", code, body)
	}
	if got := h.Context.ReceivedRecords(); got != 3 {
		t.Fatalf("acknowledged, but %d records stored", got)
	}
	// Bad requests are refused whole, saying why.
	if code, body := post(t, url, "ok\n\xff\n"); code != http.StatusBadRequest || !strings.Contains(body, "line 2") {
		t.Fatalf("invalid UTF-8: %d %q", code, body)
	}
	if code, body := post(t, url, strings.Repeat("x", sluice.MaxLineBytes+1)); code != http.StatusBadRequest || !strings.Contains(body, "longer than") {
		t.Fatalf("long line: %d %q", code, body)
	}
	if code, _ := post(t, url, strings.Repeat("x\n", sluice.MaxRequestBytes/2+1)); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d", code)
	}
	if code, body := post(t, url, "d\n"); code != http.StatusOK {
		t.Fatalf("POST: %d %q", code, body)
	}
	h.Run(1)
	assertBatches(t, out.Batches(), batches(nil, []string{"a", "b", "c", "d"}))
}

// TestHTTPTextSurvivesReceiverWorkerKill kills (SIGKILL) the worker
// process running an HTTPText receiver while a client sends: the receiver
// moves to another worker, and every record the client had an answer for
// is in the output, each once (a record is repeated only if its request
// got no answer and the client sent it again).
func TestHTTPTextSurvivesReceiverWorkerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	addr := sameAddr(t, freeAddr(t))
	c, err := sluice.NewContext(sluice.Master("local-cluster[3]"), sluice.Batch(250*time.Millisecond),
		sluice.WorkerArgs("-test.run=^TestHTTPTextSurvivesReceiverWorkerKill$"), sluice.WorkerKey(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	in := sluice.HTTPText(c, addr)
	sluice.ForeachBatch(in, func(ctx context.Context, d sluice.Dataset[string], _ time.Time) error {
		recs, err := d.Collect(ctx)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, recs...)
		return err
	})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	url := "http://" + addr + "/"
	waitListening(t, url)

	acked := make(map[string]bool)
	retried := make(map[string]bool)
	var killed string
	afterKill := 0
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for req := 0; afterKill < 20; req++ {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests answered after the kill", afterKill)
		}
		var recs []string
		for i := range 5 {
			recs = append(recs, fmt.Sprintf("r%05d-%d", req, i))
		}
		for try := 0; ; try++ {
			if try > 0 {
				for _, r := range recs {
					retried[r] = true
				}
				time.Sleep(50 * time.Millisecond)
			}
			resp, err := client.Post(url, "text/plain", strings.NewReader(strings.Join(recs, "\n")))
			if err != nil {
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		for _, r := range recs {
			acked[r] = true
		}
		if killed != "" {
			afterKill++
		}
		if req == 20 {
			name, pid := sluice.ReceiverWorker(in)
			if pid == 0 {
				t.Fatalf("no process for the receiver's worker %q", name)
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = name
		}
	}
	if now, _ := sluice.ReceiverWorker(in); now == killed || now == "" {
		t.Fatalf("the receiver runs on %q after %s was killed", now, killed)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	seen := make(map[string]int)
	for _, r := range got {
		seen[r]++
		if seen[r] > 1 && !retried[r] {
			t.Errorf("%s is in the output %d times, and was sent once", r, seen[r])
		}
		if !acked[r] && !retried[r] {
			t.Errorf("%s is in the output, and was never sent", r)
		}
	}
	var lost []string
	for r := range acked {
		if seen[r] == 0 {
			lost = append(lost, r)
		}
	}
	slices.Sort(lost)
	if len(lost) > 0 {
		t.Fatalf("%d acknowledged records are missing, e.g. %v", len(lost), lost[:min(5, len(lost))])
	}
	t.Logf("%d records acknowledged, %d in the output, %d retried; receiver moved from %s", len(acked), len(got), len(retried), killed)
}

// TestWriteAheadLogAcrossDriverCrash: records acknowledged by a receiver
// with a write-ahead log survive a driver that dies before any batch
// processed them; the restarted job processes them, once.
func TestWriteAheadLogAcrossDriverCrash(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ck")
	addr := freeAddr(t)
	start := func() (*sluice.Context, *sluicetest.ManualClock, chan sluice.BatchInfo, func() []string) {
		clock := sluicetest.NewManualClock(sluicetest.Epoch)
		infos := make(chan sluice.BatchInfo, 64)
		c, err := sluice.NewContext(sluice.Master("local[2]"), sluice.Batch(time.Second), sluice.WithClock(clock),
			sluice.OnBatch(func(b sluice.BatchInfo) { infos <- b }), sluice.Checkpoint(dir), sluice.WriteAheadLog())
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var got []string
		sluice.ForeachBatch(sluice.HTTPText(c, addr), func(ctx context.Context, d sluice.Dataset[string], _ time.Time) error {
			recs, err := d.Collect(ctx)
			mu.Lock()
			defer mu.Unlock()
			got = append(got, recs...)
			return err
		})
		return c, clock, infos, func() []string {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(got)
		}
	}

	c, clock, infos, _ := start()
	runUntil(t, c, clock, infos, 1)
	url := "http://" + addr + "/"
	waitListening(t, url)
	if code, body := post(t, url, "x\ny\n"); code != http.StatusOK {
		t.Fatalf("POST: %d %q", code, body)
	}
	if keys := sluice.StoreKeys(dir, "wal/"); len(keys) != 1 {
		t.Fatalf("write-ahead log holds %q, want one block", keys)
	}
	sluice.Crash(c)

	c, clock, infos, got := start()
	runUntil(t, c, clock, infos, 6)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got(), []string{"x", "y"}) {
		t.Fatalf("after the restart the job processed %q, want [x y]", got())
	}
	// No batch can read the block again: its log entry is gone.
	if keys := sluice.StoreKeys(dir, "wal/"); len(keys) != 0 {
		t.Fatalf("write-ahead log still holds %q", keys)
	}
}

func TestWriteAheadLogNeedsACheckpoint(t *testing.T) {
	if _, err := sluice.NewContext(sluice.WriteAheadLog()); err == nil || !strings.Contains(err.Error(), "Checkpoint") {
		t.Fatalf("got %v", err)
	}
}

// postAuth sends body with an Authorization header (none if token is "")
// through client.
func postAuth(t *testing.T, client *http.Client, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

type postedClick struct {
	User string `json:"user"`
	Ad   int    `json:"ad"`
}

func TestHTTPJSONTokenAndDeadLetter(t *testing.T) {
	addr := sameAddr(t, freeAddr(t))
	h := sluicetest.New(t, time.Second)
	dl := &memSink[sluice.BadRecord]{}
	out := sluicetest.Collect(sluice.HTTPJSON[postedClick](h.Context, addr, sluice.AuthToken("s3cret"), sluice.DeadLetter(dl)))
	h.Run(1) // starts the receiver
	url := "http://" + addr + "/"
	waitFor(t, "the receiver to listen", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusUnauthorized
	})
	body := "{\"user\":\"ann\",\"ad\":1}\n\n{\"user\":\"bob\",\"ad\":2}\n"
	if code, msg := postAuth(t, http.DefaultClient, url, "", body); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d %q", code, msg)
	}
	if code, msg := postAuth(t, http.DefaultClient, url, "s3cre", body); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d %q", code, msg)
	}
	if code, msg := postAuth(t, http.DefaultClient, url, "s3cret", body); code != http.StatusOK || msg != `{"records":2}` {
		t.Fatalf("POST: %d %q", code, msg)
	}
	// Bad lines go to the dead-letter sink; the good ones are taken.
	if code, msg := postAuth(t, http.DefaultClient, url, "s3cret", "{\"user\":\"cy\",\"ad\":3}\n{\"user\":\n\xff\n"); code != http.StatusOK || msg != `{"bad":2,"records":1}` {
		t.Fatalf("POST with bad lines: %d %q", code, msg)
	}
	h.Run(1)
	assertBatches(t, out.Batches(), batches(nil, []postedClick{{"ann", 1}, {"bob", 2}, {"cy", 3}}))
	if sluice.IsWorker() {
		return
	}
	if n := h.Context.Status().BadRecords["HTTPJSON("+addr+")"]; n != 2 {
		t.Errorf("Status counts %d bad records, want 2", n)
	}
	if !strings.HasPrefix(h.Context.Status().Master, "local[") {
		return // the sink's writes are in the worker processes
	}
	bad := dl.all()
	if len(bad) != 2 || !strings.HasSuffix(bad[0].Position, "line 2") || !strings.HasSuffix(bad[1].Position, "line 3") ||
		string(bad[0].Value) != `{"user":` || !strings.Contains(bad[1].Error, "UTF-8") || bad[0].Input != "HTTPJSON("+addr+")" {
		t.Fatalf("dead letters %+v", bad)
	}
}

func TestHTTPTextWithoutDeadLetterRefusesBadJSON(t *testing.T) {
	addr := sameAddr(t, freeAddr(t))
	h := sluicetest.New(t, time.Second)
	out := sluicetest.Collect(sluice.HTTPJSON[postedClick](h.Context, addr))
	h.Run(1)
	url := "http://" + addr + "/"
	waitListening(t, url)
	if code, msg := post(t, url, "{\"user\":\"ann\",\"ad\":1}\n{\"ad\":\"two\"}\n"); code != http.StatusBadRequest || !strings.Contains(msg, "line 2") {
		t.Fatalf("bad JSON: %d %q", code, msg)
	}
	h.Run(1)
	assertBatches(t, out.Batches(), batches[postedClick](nil, nil))
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// to dir and returns a client that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, client *http.Client) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if sluice.IsWorker() { // the test process wrote them
		return certFile, keyFile, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sluice test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return certFile, keyFile, &http.Client{Transport: tr}
}

func TestHTTPTextTLS(t *testing.T) {
	addr := sameAddr(t, freeAddr(t))
	dir := sameDir(t)
	certFile, keyFile, client := selfSigned(t, dir)
	h := sluicetest.New(t, time.Second)
	out := sluicetest.Collect(sluice.HTTPText(h.Context, addr, sluice.TLS(certFile, keyFile), sluice.AuthToken("tok")))
	h.Run(1)
	url := "https://" + addr + "/"
	waitFor(t, "the receiver to listen", func() bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusUnauthorized
	})
	if code, msg := postAuth(t, client, url, "tok", "a\nb\n"); code != http.StatusOK {
		t.Fatalf("POST over TLS: %d %q", code, msg)
	}
	// Plain HTTP is refused (net/http's TLS server answers it 400),
	// taking nothing.
	if code, _ := post(t, "http://"+addr+"/", "c\n"); code != http.StatusBadRequest {
		t.Fatalf("plain HTTP to the TLS receiver: %d", code)
	}
	h.Run(1)
	assertBatches(t, out.Batches(), batches(nil, []string{"a", "b"}))
}

// sameDir gives the worker processes of SLUICE_TEST_MASTER=local-cluster[N]
// the test process's temporary directory.
func sameDir(t *testing.T) string {
	key := "SLUICE_TEST_DIR_" + strings.NewReplacer("/", "_", "#", "_").Replace(t.Name())
	if d := os.Getenv(key); d != "" && sluice.IsWorker() {
		return d
	}
	d := t.TempDir()
	t.Setenv(key, d)
	return d
}
