package kubestorage

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// The Test* functions here run the storage cases on client-go's fake
// clientset: fast checks of the semantics. kube_test.go runs the same
// cases against a real kube-apiserver and etcd.

// pairFunc makes two replicas sharing one namespace.
type pairFunc func(t *testing.T) (*Storage, *Storage)

// pairOn makes two replicas on client c in namespace ns.
func pairOn(c kubernetes.Interface, ns string) (*Storage, *Storage) {
	a := &Storage{Client: c, Namespace: ns, Identity: "replica-a", PollInterval: 10 * time.Millisecond}
	b := &Storage{Client: c, Namespace: ns, Identity: "replica-b", PollInterval: 10 * time.Millisecond}
	return a, b
}

func fakePair(t *testing.T) (*Storage, *Storage) { return pairOn(fake.NewSimpleClientset(), "weir") }

// storageCases are the cases run on both clients.
var storageCases = []struct {
	name string
	run  func(t *testing.T, newPair pairFunc)
}{
	{name: "StoreLoadStatDelete", run: testStoreLoadStatDelete},
	{name: "LockIsExclusiveAcrossReplicas", run: testLockIsExclusiveAcrossReplicas},
	{name: "LockHonoursContext", run: testLockHonoursContext},
	{name: "ExpiredLockIsTakenOver", run: testExpiredLockIsTakenOver},
}

func TestStoreLoadStatDelete(t *testing.T)           { testStoreLoadStatDelete(t, fakePair) }
func TestLockIsExclusiveAcrossReplicas(t *testing.T) { testLockIsExclusiveAcrossReplicas(t, fakePair) }
func TestLockHonoursContext(t *testing.T)            { testLockHonoursContext(t, fakePair) }
func TestExpiredLockIsTakenOver(t *testing.T)        { testExpiredLockIsTakenOver(t, fakePair) }

func testStoreLoadStatDelete(t *testing.T, newPair pairFunc) {
	ctx := context.Background()
	a, b := newPair(t)
	keys := map[string]string{
		"certificates/acme.example/a.test/a.test.crt":  "cert-a",
		"certificates/acme.example/a.test/a.test.key":  "key-a",
		"certificates/acme.example/b.test/b.test.crt":  "cert-b",
		"acme/acme.example/users/ops@weir.test/u.json": "user",
	}
	for k, v := range keys {
		if err := a.Store(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	// Overwrite goes through Update.
	if err := a.Store(ctx, "certificates/acme.example/b.test/b.test.crt", []byte("cert-b2")); err != nil {
		t.Fatal(err)
	}
	keys["certificates/acme.example/b.test/b.test.crt"] = "cert-b2"
	for k, v := range keys {
		got, err := b.Load(ctx, k) // the other replica sees it
		if err != nil || string(got) != v {
			t.Fatalf("Load(%q) = %q, %v; want %q", k, got, err, v)
		}
	}
	if _, err := b.Load(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing key: %v, want fs.ErrNotExist", err)
	}

	tests := []struct {
		name      string
		path      string
		recursive bool
		want      []string
	}{
		{name: "top level", path: "", want: []string{"acme", "certificates"}},
		{name: "one level", path: "certificates/acme.example", want: []string{"certificates/acme.example/a.test", "certificates/acme.example/b.test"}},
		{name: "recursive", path: "certificates/acme.example/a.test", recursive: true, want: []string{"certificates/acme.example/a.test/a.test.crt", "certificates/acme.example/a.test/a.test.key"}},
		{name: "recursive with directories", path: "acme", recursive: true, want: []string{"acme/acme.example", "acme/acme.example/users", "acme/acme.example/users/ops@weir.test", "acme/acme.example/users/ops@weir.test/u.json"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := b.List(ctx, tc.path, tc.recursive)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("List(%q, %v) = %q, %v; want %q", tc.path, tc.recursive, got, err, tc.want)
			}
		})
	}

	st, err := b.Stat(ctx, "certificates/acme.example/a.test/a.test.crt")
	if err != nil || !st.IsTerminal || st.Size != int64(len("cert-a")) || st.Modified.IsZero() {
		t.Fatalf("Stat of a file = %+v, %v", st, err)
	}
	st, err = b.Stat(ctx, "certificates/acme.example")
	if err != nil || st.IsTerminal {
		t.Fatalf("Stat of a directory = %+v, %v", st, err)
	}
	if !b.Exists(ctx, "certificates") || b.Exists(ctx, "certificates/acme.exam") {
		t.Fatalf("Exists: directories match whole path components only")
	}

	// Deleting a directory deletes what is under it, and only that.
	if err := a.Delete(ctx, "certificates/acme.example/a.test"); err != nil {
		t.Fatal(err)
	}
	if b.Exists(ctx, "certificates/acme.example/a.test/a.test.key") {
		t.Fatalf("a key under a deleted directory still exists")
	}
	if !b.Exists(ctx, "certificates/acme.example/b.test/b.test.crt") {
		t.Fatalf("a sibling of the deleted directory is gone")
	}
	if err := a.Delete(ctx, "never-stored"); err != nil {
		t.Fatalf("Delete of a missing key: %v, want nil", err)
	}
}

func testLockIsExclusiveAcrossReplicas(t *testing.T, newPair pairFunc) {
	ctx := context.Background()
	a, b := newPair(t)
	if err := a.Lock(ctx, "issue_cert_a.test"); err != nil {
		t.Fatal(err)
	}
	ok, err := b.TryLock(ctx, "issue_cert_a.test")
	if err != nil || ok {
		t.Fatalf("replica b took a lock replica a holds: %v %v", ok, err)
	}
	// Another name is independent.
	if ok, err := b.TryLock(ctx, "issue_cert_b.test"); err != nil || !ok {
		t.Fatalf("replica b could not take a free lock: %v %v", ok, err)
	}
	// b waits until a unlocks.
	var got atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := b.Lock(ctx, "issue_cert_a.test"); err == nil {
			got.Store(true)
		}
	}()
	ok, _ = b.TryLock(ctx, "issue_cert_a.test")
	if ok || got.Load() {
		t.Fatalf("b holds the lock before a released it")
	}
	if err := a.Unlock(ctx, "issue_cert_a.test"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if !got.Load() {
		t.Fatalf("b never got the lock after a released it")
	}
	b.Unlock(ctx, "issue_cert_a.test")
	b.Unlock(ctx, "issue_cert_b.test")
}

func testLockHonoursContext(t *testing.T, newPair pairFunc) {
	a, b := newPair(t)
	if err := a.Lock(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	defer a.Unlock(context.Background(), "x")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := b.Lock(ctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock on a held lock with an ending context: %v, want deadline exceeded", err)
	}
}

func testExpiredLockIsTakenOver(t *testing.T, newPair pairFunc) {
	ctx := context.Background()
	a, b := newPair(t)
	now := time.Now()
	a.clock = func() time.Time { return now }
	a.LeaseDuration = time.Hour // no renewal tick during the test
	b.LeaseDuration = time.Hour
	if ok, err := a.TryLock(ctx, "x"); err != nil || !ok {
		t.Fatal("a could not lock", err)
	}
	defer a.Unlock(ctx, "x")
	b.clock = func() time.Time { return now.Add(30 * time.Minute) }
	if ok, _ := b.TryLock(ctx, "x"); ok {
		t.Fatalf("b took a lease that is still valid")
	}
	b.clock = func() time.Time { return now.Add(61 * time.Minute) }
	if ok, err := b.TryLock(ctx, "x"); err != nil || !ok {
		t.Fatalf("b could not take over an expired lease: %v %v", ok, err)
	}
	// a, whose lease was taken over, must not delete b's.
	if err := a.Unlock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.TryLock(ctx, "x"); ok {
		t.Fatalf("a's Unlock released b's lock")
	}
	b.Unlock(ctx, "x")
}

// TestLockRateLimitedByDeadline: client-go's rate limiter refuses a call
// whose wait would outlast the context (an error that does not wrap
// context.DeadlineExceeded); Lock reports the deadline, as certmagic and
// callers checking errors.Is expect.
func TestLockRateLimitedByDeadline(t *testing.T) {
	c := fake.NewSimpleClientset()
	c.PrependReactor("get", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("client rate limiter Wait returned an error: rate: Wait(n=1) would exceed context deadline")
	})
	s, _ := pairOn(c, "weir")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Lock(ctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock: %v, want deadline exceeded", err)
	}
	// Any other error is returned as it is, at once.
	c.PrependReactor("get", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("forbidden")
	})
	if err := s.Lock(context.Background(), "x"); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock with a failing API: %v, want the API's error", err)
	}
}
