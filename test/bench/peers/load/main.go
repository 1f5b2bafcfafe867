// Command load is the benchmark suite's load client for what wrk cannot do: client-certificate
// requests, durable creates from N concurrent clients, lists, watch fan-out and start-to-ready
// timing (open-loop fixed rates: ../../rate.c). Every subcommand prints one JSON object on stdout, with the
// client's own CPU seconds so that the caller can tell a saturated client from a slow server.
//
//	load create   -url U -path P -template F -n N -c C [-prefix p]
//	load get      -url U -path P -c C -d SECONDS
//	load list     -url U -path P -accept A -n N
//	load watch    -url U -path P -watchers W -template F -create-path P [-get-path G -get-c C -get-d S]
//	load waitready -url U [-timeout S]
//
// Connections are HTTP/1.1 over TLS with keep-alive (HTTP/2 is turned off so that every system
// sees the same protocol; csdr-apiserver serves HTTP/1.1 only).
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type common struct {
	url, ca, cert, key, token string
	h2                        bool
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", "", "base URL, https://127.0.0.1:PORT")
	fs.StringVar(&c.ca, "ca", "", "CA bundle of the server (empty: no verification)")
	fs.StringVar(&c.cert, "cert", "", "client certificate")
	fs.StringVar(&c.key, "key", "", "client key")
	fs.StringVar(&c.token, "token", "", "bearer token")
	fs.BoolVar(&c.h2, "h2", false, "HTTP/2 (ALPN h2): streams multiplexed on as few connections as the "+
		"server's SETTINGS_MAX_CONCURRENT_STREAMS allows; default HTTP/1.1, a connection per request in flight")
}

func (c *common) transport(conns int) *http.Transport {
	cfg := &tls.Config{InsecureSkipVerify: c.ca == ""} //nolint:gosec // loopback benchmark
	if c.ca != "" {
		pem, err := os.ReadFile(c.ca)
		check(err)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		cfg.RootCAs = pool
	}
	if c.cert != "" {
		pair, err := tls.LoadX509KeyPair(c.cert, c.key)
		check(err)
		cfg.Certificates = []tls.Certificate{pair}
	}
	if c.h2 {
		// Go's HTTP/2 transport, as client-go and kube-aggregator use it: one connection per
		// host until its streams run out, then another.
		return &http.Transport{
			TLSClientConfig:    cfg,
			ForceAttemptHTTP2:  true,
			DisableCompression: true,
			IdleConnTimeout:    5 * time.Minute,
		}
	}
	return &http.Transport{
		TLSClientConfig:     cfg,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConns:        conns + 16,
		MaxIdleConnsPerHost: conns + 16,
		MaxConnsPerHost:     0,
		DisableCompression:  true,
		IdleConnTimeout:     5 * time.Minute,
	}
}

func (c *common) request(method, path string, body []byte, accept string) *http.Request {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.url+path, r)
	check(err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// do sends one request and reads the whole answer; returns the status (0 on a transport error)
// and the body length.
func do(client *http.Client, req *http.Request) (int, int64) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, n
}

type stats struct {
	mu       sync.Mutex
	lat      []time.Duration
	codes    map[int]int
	firstBad string // the first answer that was not 2xx, for the report
}

func (s *stats) bad(code int, body string) {
	s.mu.Lock()
	if s.firstBad == "" {
		s.firstBad = fmt.Sprintf("HTTP %d %.400s", code, body)
	}
	s.mu.Unlock()
}

// doBody is do, keeping the body of an answer that is not 2xx.
func doBody(client *http.Client, req *http.Request, st *stats) int {
	resp, err := client.Do(req)
	if err != nil {
		st.bad(0, err.Error())
		return 0
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		st.bad(resp.StatusCode, string(b))
		return resp.StatusCode
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func newStats() *stats { return &stats{codes: map[int]int{}} }

func (s *stats) add(d time.Duration, code int) {
	s.mu.Lock()
	s.lat = append(s.lat, d)
	s.codes[code]++
	s.mu.Unlock()
}

func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return float64(sorted[i].Microseconds()) / 1000
}

// The median of xs (the lower middle one of an even count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	c := append([]float64(nil), xs...)
	sort.Float64s(c)
	return c[(len(c)-1)/2]
}

func (s *stats) summary(wall time.Duration, cpu0 float64) map[string]any {
	sort.Slice(s.lat, func(i, j int) bool { return s.lat[i] < s.lat[j] })
	codes := map[string]int{}
	for k, v := range s.codes {
		codes[fmt.Sprint(k)] = v
	}
	return map[string]any{
		"requests": len(s.lat), "seconds": wall.Seconds(),
		"rate":   float64(len(s.lat)) / wall.Seconds(),
		"p50_ms": pct(s.lat, 0.50), "p90_ms": pct(s.lat, 0.90), "p99_ms": pct(s.lat, 0.99),
		"p999_ms": pct(s.lat, 0.999), "max_ms": pct(s.lat, 1),
		"codes": codes, "client_cpu_s": cpuSeconds() - cpu0, "first_error": s.firstBad,
	}
}

func emit(v map[string]any) {
	out, err := json.Marshal(v)
	check(err)
	fmt.Println(string(out))
}

func readFile(path string) []byte {
	b, err := os.ReadFile(path)
	check(err)
	return b
}

// warm opens n keep-alive connections (GET path) so that the measured phase has no handshakes.
func warm(cm *common, client *http.Client, path string, n int) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); do(client, cm.request("GET", path, nil, "")) }()
	}
	wg.Wait()
}

func cmdCreate(args []string) {
	fs := flag.NewFlagSet("create", flag.ExitOnError)
	var cm common
	cm.register(fs)
	path := fs.String("path", "", "collection path to POST to")
	tmpl := fs.String("template", "", "JSON body with __NAME__ where the name goes")
	n := fs.Int("n", 1000, "objects to create")
	c := fs.Int("c", 64, "concurrent clients (each waits for its answer)")
	start := fs.Int("start", 0, "first index of the names")
	prefix := fs.String("prefix", "obj-", "name prefix")
	warmPath := fs.String("warm-path", "/readyz", "path GET on each connection before the run")
	check(fs.Parse(args))
	t := string(readFile(*tmpl))
	bodies := make([][]byte, *n)
	for i := range bodies {
		bodies[i] = []byte(strings.ReplaceAll(t, "__NAME__", fmt.Sprintf("%s%06d", *prefix, *start+i)))
	}
	client := &http.Client{Transport: cm.transport(*c), Timeout: 60 * time.Second}
	warm(&cm, client, *warmPath, *c)
	st := newStats()
	var next atomic.Int64
	var wg sync.WaitGroup
	cpu0 := cpuSeconds()
	t0 := time.Now()
	for w := 0; w < *c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(*n) {
					return
				}
				s := time.Now()
				code := doBody(client, cm.request("POST", *path, bodies[i], ""), st)
				st.add(time.Since(s), code)
			}
		}()
	}
	wg.Wait()
	emit(st.summary(time.Since(t0), cpu0))
}

func runGets(cm *common, path string, c int, d time.Duration) map[string]any {
	client := &http.Client{Transport: cm.transport(c), Timeout: 60 * time.Second}
	warm(cm, client, path, c)
	st := newStats()
	var wg sync.WaitGroup
	cpu0 := cpuSeconds()
	t0 := time.Now()
	deadline := t0.Add(d)
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				s := time.Now()
				code, _ := do(client, cm.request("GET", path, nil, ""))
				st.add(time.Since(s), code)
			}
		}()
	}
	wg.Wait()
	return st.summary(time.Since(t0), cpu0)
}

func cmdGet(args []string) {
	fs := flag.NewFlagSet("get", flag.ExitOnError)
	var cm common
	cm.register(fs)
	path := fs.String("path", "", "object path")
	c := fs.Int("c", 16, "connections")
	d := fs.Float64("d", 5, "seconds")
	check(fs.Parse(args))
	emit(runGets(&cm, *path, *c, time.Duration(*d*float64(time.Second))))
}

func cmdList(args []string) {
	fs := flag.NewFlagSet("list", flag.ExitOnError)
	var cm common
	cm.register(fs)
	path := fs.String("path", "", "collection path")
	accept := fs.String("accept", "application/json", "Accept header")
	n := fs.Int("n", 5, "lists (sequential)")
	check(fs.Parse(args))
	client := &http.Client{Transport: cm.transport(1), Timeout: 120 * time.Second}
	do(client, cm.request("GET", "/readyz", nil, ""))
	var ms []float64
	var size int64
	var items int
	cpu0 := cpuSeconds()
	for i := 0; i < *n; i++ {
		s := time.Now()
		resp, err := client.Do(cm.request("GET", *path, nil, *accept))
		check(err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		check(err)
		ms = append(ms, float64(time.Since(s).Microseconds())/1000)
		if resp.StatusCode != 200 {
			check(fmt.Errorf("list %s: HTTP %d %.300s", *path, resp.StatusCode, body))
		}
		size = int64(len(body))
		if i == 0 {
			var doc struct {
				Items []json.RawMessage `json:"items"`
				Rows  []json.RawMessage `json:"rows"`
			}
			check(json.Unmarshal(body, &doc))
			items = len(doc.Items) + len(doc.Rows)
		}
	}
	emit(map[string]any{"ms": ms, "bytes": size, "items": items, "client_cpu_s": cpuSeconds() - cpu0})
}

// cmdWatch opens W watches from the list's resourceVersion, optionally measures gets while
// they are open, then creates -writes objects one after another (each once every watcher has
// the one before) and times each one's ADDED event at every watcher. Figures are the median
// over the writes of each write's p50, p99 and last delivery.
func cmdWatch(args []string) {
	fs := flag.NewFlagSet("watch", flag.ExitOnError)
	var cm common
	cm.register(fs)
	path := fs.String("path", "", "collection path to watch")
	watchers := fs.Int("watchers", 1000, "watch connections")
	tmpl := fs.String("template", "", "JSON body of the object to create, __NAME__ for its name")
	createPath := fs.String("create-path", "", "collection path to POST to (default -path)")
	name := fs.String("name", fmt.Sprintf("fanout-%d", time.Now().UnixNano()%1000000), "object name")
	getPath := fs.String("get-path", "", "object path to GET while the watches are open")
	getC := fs.Int("get-c", 8, "get connections")
	getD := fs.Float64("get-d", 5, "get seconds")
	writes := fs.Int("writes", 1, "timed writes, one after another; figures are their medians")
	extra := fs.Int("extra-writes", 0, "after the timed writes, this many more creates 20 ms apart "+
		"(the watchers keep reading): a steady fan-out for a profiler, not timed")
	check(fs.Parse(args))
	if *createPath == "" {
		*createPath = *path
	}
	if *writes < 1 {
		*writes = 1
	}
	tr := cm.transport(*watchers)
	client := &http.Client{Transport: tr}
	resp, err := client.Do(cm.request("GET", *path+"?limit=1", nil, ""))
	check(err)
	var list struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	check(json.NewDecoder(resp.Body).Decode(&list))
	resp.Body.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The objects of the timed writes, and each one's arrival at each watcher.
	names := make([]string, *writes)
	markers := make([][]byte, *writes)
	got := make([][]time.Time, *writes)
	received := make([]sync.WaitGroup, *writes)
	for k := range names {
		names[k] = *name
		if k > 0 {
			names[k] = fmt.Sprintf("%s-%d", *name, k)
		}
		markers[k] = []byte(`"name":"` + names[k] + `"`)
		got[k] = make([]time.Time, *watchers)
		received[k].Add(*watchers)
	}
	keepReading := *writes > 1 || *extra > 0
	var opened sync.WaitGroup
	var openErrors atomic.Int64
	var conns sync.Map             // the watches' connections, by local address
	sem := make(chan struct{}, 64) // handshakes in flight
	for i := 0; i < *watchers; i++ {
		opened.Add(1)
		go func(i int) {
			seen := make([]bool, *writes)
			defer func() { // whatever was not seen is given up on
				for k := range seen {
					if !seen[k] {
						received[k].Done()
					}
				}
			}()
			sem <- struct{}{}
			trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
				conns.Store(info.Conn.LocalAddr().String(), true)
			}}
			req := cm.request("GET", fmt.Sprintf("%s?watch=true&resourceVersion=%s&timeoutSeconds=900",
				*path, list.Metadata.ResourceVersion), nil, "").WithContext(
				httptrace.WithClientTrace(ctx, trace))
			resp, err := client.Do(req)
			<-sem
			if err != nil || resp.StatusCode != 200 {
				openErrors.Add(1)
				opened.Done()
				return
			}
			opened.Done()
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<16), 1<<24)
			left := *writes
			for sc.Scan() {
				for k := range markers {
					if !seen[k] && bytes.Contains(sc.Bytes(), markers[k]) {
						got[k][i] = time.Now()
						seen[k] = true
						received[k].Done()
						left--
					}
				}
				if left == 0 && !keepReading {
					return
				}
			}
		}(i)
	}
	openStart := time.Now()
	opened.Wait()
	nconns := 0
	conns.Range(func(any, any) bool { nconns++; return true })
	out := map[string]any{"watchers": *watchers, "open_errors": openErrors.Load(),
		"open_seconds": time.Since(openStart).Seconds(), "connections": nconns, "h2": cm.h2,
		"writes": *writes}
	time.Sleep(500 * time.Millisecond) // let every server finish registering its watches
	if *getPath != "" {
		out["gets"] = runGets(&cm, *getPath, *getC, time.Duration(*getD*float64(time.Second)))
	}
	writer := &http.Client{Transport: cm.transport(1)}
	var createMs, p50s, p99s, maxes []float64
	delivered := *watchers
	for k := 0; k < *writes; k++ {
		if k > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		body := []byte(strings.ReplaceAll(string(readFile(*tmpl)), "__NAME__", names[k]))
		start := time.Now()
		code, _ := do(writer, cm.request("POST", *createPath, body, ""))
		if k == 0 {
			out["create_code"] = code
		}
		createMs = append(createMs, float64(time.Since(start).Microseconds())/1000)
		done := make(chan struct{})
		go func(k int) { received[k].Wait(); close(done) }(k)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
		var lat []time.Duration
		for _, g := range got[k] {
			if !g.IsZero() {
				lat = append(lat, g.Sub(start))
			}
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		if len(lat) < delivered {
			delivered = len(lat)
		}
		p50s, p99s, maxes = append(p50s, pct(lat, 0.5)), append(p99s, pct(lat, 0.99)),
			append(maxes, pct(lat, 1))
	}
	out["create_ms"] = median(createMs)
	out["delivered"] = delivered
	out["p50_ms"], out["p99_ms"], out["max_ms"] = median(p50s), median(p99s), median(maxes)
	out["max_ms_each"] = maxes
	for k := 0; k < *extra; k++ {
		more := []byte(strings.ReplaceAll(string(readFile(*tmpl)), "__NAME__",
			fmt.Sprintf("%s-extra-%d", *name, k)))
		do(writer, cm.request("POST", *createPath, more, ""))
		time.Sleep(20 * time.Millisecond)
	}
	if *extra > 0 {
		out["extra_writes"] = *extra
		time.Sleep(500 * time.Millisecond)
	}
	cancel()
	emit(out)
}

// cmdWaitReady polls GET /readyz every 2 ms until it answers 200 and prints the wall-clock
// time of that answer (unix seconds); the caller subtracts the time it started the server.
func cmdWaitReady(args []string) {
	fs := flag.NewFlagSet("waitready", flag.ExitOnError)
	var cm common
	cm.register(fs)
	timeout := fs.Float64("timeout", 120, "seconds")
	path := fs.String("path", "/readyz", "readiness path")
	check(fs.Parse(args))
	tr := cm.transport(1)
	tr.DisableKeepAlives = true
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	deadline := time.Now().Add(time.Duration(*timeout * float64(time.Second)))
	for time.Now().Before(deadline) {
		code, _ := do(client, cm.request("GET", *path, nil, "*/*"))
		if code == 200 {
			emit(map[string]any{"ready_unix": float64(time.Now().UnixNano()) / 1e9})
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	check(fmt.Errorf("%s%s not ready after %.0fs", cm.url, *path, *timeout))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: load create|get|rate|list|watch|waitready [flags]")
		os.Exit(2)
	}
	cmds := map[string]func([]string){"create": cmdCreate, "get": cmdGet,
		"list": cmdList, "watch": cmdWatch, "waitready": cmdWaitReady}
	f, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintln(os.Stderr, "load: unknown subcommand", os.Args[1])
		os.Exit(2)
	}
	f(os.Args[2:])
}
