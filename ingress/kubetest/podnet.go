package kubetest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// PodNet is a network namespace joined to the host by a veth pair, with
// addresses in 198.18.0.0/15 (RFC 2544 benchmarking space): test backends
// listen there with "pod IPs" that the API server accepts in
// EndpointSlices (it rejects loopback addresses), while the traffic never
// leaves the machine. Creating one needs root (CAP_NET_ADMIN).
type PodNet struct {
	// Name is the namespace's name (ip netns).
	Name string
	// HostIP is the host side of the veth; the namespace routes back
	// through it.
	HostIP net.IP

	podIf  string
	mu     sync.Mutex
	prefix string // "198.19.N."
	next   int
}

// NewPodNet creates a network namespace with a veth pair on a free /24 of
// 198.18.0.0/15, checks with `ip route get` that the veth is the route to
// it, and removes everything in t.Cleanup.
func NewPodNet(t testing.TB) *PodNet {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("kubetest: the ip command (iproute2) is needed for pod networks: apt-get install iproute2")
	}
	run := func(args ...string) (string, error) {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return string(out), fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	var subnet int
	for tries := 0; ; tries++ {
		subnet = rand.IntN(512)
		// Free: no address of ours anywhere in it.
		out, err := run("-4", "-o", "addr", "show", "to", cidr(subnet)+"/24")
		if err == nil && strings.TrimSpace(out) == "" {
			if rt, _ := run("-4", "route", "show", "to", "match", addr(subnet, 1)); !strings.Contains(rt, "198.1") {
				break
			}
		}
		if tries > 50 {
			t.Fatal("kubetest: no free /24 in 198.18.0.0/15")
		}
	}
	id := strconv.FormatInt(rand.Int64N(1<<30), 36)
	p := &PodNet{Name: "weirpod-" + id, HostIP: net.ParseIP(addr(subnet, 1)), prefix: prefixOf(subnet), next: 2}
	hostIf, podIf := "wph"+id, "wpp"+id
	if len(hostIf) > 15 {
		hostIf, podIf = hostIf[:15], podIf[:15]
	}
	cleanup := func() {
		run("link", "del", hostIf)
		run("netns", "del", p.Name)
	}
	t.Cleanup(cleanup)
	steps := [][]string{
		{"netns", "add", p.Name},
		{"link", "add", hostIf, "type", "veth", "peer", "name", podIf},
		{"link", "set", podIf, "netns", p.Name},
		{"addr", "add", addr(subnet, 1) + "/24", "dev", hostIf},
		{"link", "set", hostIf, "up"},
		{"-n", p.Name, "link", "set", "lo", "up"},
		{"-n", p.Name, "addr", "add", addr(subnet, 254) + "/24", "dev", podIf},
		{"-n", p.Name, "link", "set", podIf, "up"},
		{"-n", p.Name, "route", "add", "default", "via", addr(subnet, 1)},
	}
	p.podIf = podIf
	for _, s := range steps {
		if _, err := run(s...); err != nil {
			t.Fatalf("kubetest: creating pod network (root needed): %v", err)
		}
	}
	out, err := run("-4", "route", "get", addr(subnet, 2))
	if err != nil || !strings.Contains(out, "dev "+hostIf) {
		t.Fatalf("kubetest: %s is not routed through the veth %s: %s %v", addr(subnet, 2), hostIf, out, err)
	}
	return p
}

func cidr(subnet int) string       { return prefixOf(subnet) + "0" }
func addr(subnet, host int) string { return prefixOf(subnet) + strconv.Itoa(host) }
func prefixOf(subnet int) string {
	return "198." + strconv.Itoa(18+subnet/256) + "." + strconv.Itoa(subnet%256) + "."
}

// Listen adds a new address (a "pod IP") inside the namespace and returns
// a TCP listener bound to it on port (0: a kernel-chosen port; pods have
// their own IPs, so many can share one port, as containerPorts do). The
// listener's socket lives in the namespace; the test process serves it
// like any other listener.
func (p *PodNet) Listen(t testing.TB, port int) net.Listener {
	t.Helper()
	p.mu.Lock()
	if p.next > 253 {
		p.mu.Unlock()
		t.Fatal("kubetest: pod network full (251 addresses)")
	}
	ip := p.prefix + strconv.Itoa(p.next)
	p.next++
	p.mu.Unlock()
	if out, err := exec.Command("ip", "-n", p.Name, "addr", "add", ip+"/24", "dev", p.podIf).CombinedOutput(); err != nil {
		t.Fatalf("kubetest: adding %s: %v: %s", ip, err, out)
	}
	ln, err := p.inNamespace(func() (net.Listener, error) { return net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port))) })
	if err != nil {
		t.Fatalf("kubetest: listening on %s in %s: %v", ip, p.Name, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// inNamespace runs fn on an OS thread switched into the namespace. A
// socket belongs to the namespace it was created in, so a listener made
// here keeps serving from the namespace after the thread switches back.
func (p *PodNet) inNamespace(fn func() (net.Listener, error)) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		defer unix.Close(self)
		target, err := unix.Open("/run/netns/"+p.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		ln, err := fn()
		if unix.Setns(self, unix.CLONE_NEWNET) == nil {
			// Back home: the thread may serve other goroutines again.
			runtime.UnlockOSThread()
		} // else: the thread stays locked and exits with this goroutine.
		ch <- result{ln, err}
	}()
	r := <-ch
	return r.ln, r.err
}
