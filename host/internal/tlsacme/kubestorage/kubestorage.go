// Package kubestorage is a certmagic.Storage kept in Kubernetes: each
// key is a Secret, and each lock a coordination.k8s.io Lease, so that
// several Weir replicas share certificates, ACME accounts and challenge
// tokens, and only one of them obtains or renews a given certificate.
//
// Secret names are derived from the key (a hash: keys hold slashes and
// characters names cannot); the key itself is kept in an annotation and
// the value under data["value"]. Every object carries the label
// weir.dev/acme-storage=<Prefix>, which List uses.
//
// Locks are Leases held by Identity and renewed while held; a Lease
// whose holder stopped renewing for its duration is taken over, so a
// replica that dies holding a lock blocks the others for at most
// LeaseDuration.
package kubestorage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

const (
	labelStorage  = "weir.dev/acme-storage"
	annotationKey = "weir.dev/acme-key"
	annotationMod = "weir.dev/acme-modified"
	valueField    = "value"
)

// Storage is a certmagic.Storage backed by Secrets and Leases in one
// namespace. The zero value is not usable: set Client, Namespace and
// Identity.
type Storage struct {
	Client    kubernetes.Interface
	Namespace string
	// Identity names this replica as a lock holder (the pod name).
	Identity string
	// Prefix starts every object name and is the storage label's value.
	// Default "weir-acme".
	Prefix string
	// LeaseDuration is how long a lock outlives its holder's last
	// renewal. Default 30 s; renewed every third of it.
	LeaseDuration time.Duration
	// PollInterval is how often a waiting Lock retries. Default 1 s.
	PollInterval time.Duration

	mu    sync.Mutex
	held  map[string]context.CancelFunc // lock name -> stops its renewal
	clock func() time.Time
}

var (
	_ certmagic.Storage          = (*Storage)(nil)
	_ certmagic.TryLocker        = (*Storage)(nil)
	_ certmagic.LockLeaseRenewer = (*Storage)(nil)
)

func (s *Storage) prefix() string {
	if s.Prefix == "" {
		return "weir-acme"
	}
	return s.Prefix
}

func (s *Storage) leaseDuration() time.Duration {
	if s.LeaseDuration <= 0 {
		return 30 * time.Second
	}
	return s.LeaseDuration
}

func (s *Storage) now() time.Time {
	if s.clock != nil {
		return s.clock()
	}
	return time.Now()
}

// objectName maps a key (or lock name) to a valid object name.
func (s *Storage) objectName(kind, key string) string {
	h := sha256.Sum256([]byte(key))
	return s.prefix() + "-" + kind + "-" + hex.EncodeToString(h[:20])
}

func (s *Storage) selector() string { return labelStorage + "=" + s.prefix() }

// Store implements certmagic.Storage.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	name := s.objectName("k", key)
	secrets := s.Client.CoreV1().Secrets(s.Namespace)
	for range 5 {
		sec, err := secrets.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			sec = &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{
					Name:        name,
					Namespace:   s.Namespace,
					Labels:      map[string]string{labelStorage: s.prefix()},
					Annotations: map[string]string{annotationKey: key, annotationMod: s.now().UTC().Format(time.RFC3339Nano)},
				},
				Type: corev1.SecretTypeOpaque,
				Data: map[string][]byte{valueField: value},
			}
			_, err = secrets.Create(ctx, sec, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			return wrap("store", key, err)
		case err != nil:
			return wrap("store", key, err)
		}
		if sec.Annotations == nil {
			sec.Annotations = map[string]string{}
		}
		sec.Annotations[annotationKey] = key
		sec.Annotations[annotationMod] = s.now().UTC().Format(time.RFC3339Nano)
		sec.Data = map[string][]byte{valueField: value}
		_, err = secrets.Update(ctx, sec, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue
		}
		return wrap("store", key, err)
	}
	return fmt.Errorf("kubestorage: store %q: too many conflicting writers", key)
}

// Load implements certmagic.Storage; a missing key is fs.ErrNotExist.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	sec, err := s.get(ctx, key)
	if err != nil {
		return nil, err
	}
	return sec.Data[valueField], nil
}

func (s *Storage) get(ctx context.Context, key string) (*corev1.Secret, error) {
	sec, err := s.Client.CoreV1().Secrets(s.Namespace).Get(ctx, s.objectName("k", key), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("kubestorage: %q: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return nil, wrap("load", key, err)
	}
	if sec.Annotations[annotationKey] != key {
		return nil, fmt.Errorf("kubestorage: %q: %w (secret %s holds %q)", key, fs.ErrNotExist, sec.Name, sec.Annotations[annotationKey])
	}
	return sec, nil
}

// keys lists every stored key.
func (s *Storage) keys(ctx context.Context) ([]string, error) {
	list, err := s.Client.CoreV1().Secrets(s.Namespace).List(ctx, metav1.ListOptions{LabelSelector: s.selector()})
	if err != nil {
		return nil, wrap("list", "", err)
	}
	out := make([]string, 0, len(list.Items))
	for _, sec := range list.Items {
		if k := sec.Annotations[annotationKey]; k != "" {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Delete implements certmagic.Storage: the key, and every key under it
// when it is a directory. A missing key is not an error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	keys, err := s.keys(ctx)
	if err != nil {
		return err
	}
	secrets := s.Client.CoreV1().Secrets(s.Namespace)
	for _, k := range keys {
		if k != key && !strings.HasPrefix(k, key+"/") {
			continue
		}
		err := secrets.Delete(ctx, s.objectName("k", k), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return wrap("delete", k, err)
		}
	}
	return nil
}

// Exists implements certmagic.Storage (files and directories).
func (s *Storage) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// List implements certmagic.Storage: the keys directly under path (files
// and directories), or, when recursive, every file and directory below.
func (s *Storage) List(ctx context.Context, path string, recursive bool) ([]string, error) {
	keys, err := s.keys(ctx)
	if err != nil {
		return nil, err
	}
	base := strings.Trim(path, "/")
	pre := base + "/"
	if base == "" {
		pre = ""
	}
	seen := map[string]bool{}
	var out []string
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, pre)
		if !ok || rest == "" {
			continue
		}
		parts := strings.Split(rest, "/")
		n := 1
		if recursive {
			n = len(parts)
		}
		for i := 1; i <= n; i++ {
			p := pre + strings.Join(parts[:i], "/")
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("kubestorage: %q: %w", path, fs.ErrNotExist)
	}
	slices.Sort(out)
	return out, nil
}

// Stat implements certmagic.Storage.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	sec, err := s.get(ctx, key)
	if err == nil {
		mod, _ := time.Parse(time.RFC3339Nano, sec.Annotations[annotationMod])
		return certmagic.KeyInfo{Key: key, Modified: mod, Size: int64(len(sec.Data[valueField])), IsTerminal: true}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return certmagic.KeyInfo{}, err
	}
	keys, lerr := s.keys(ctx)
	if lerr != nil {
		return certmagic.KeyInfo{}, lerr
	}
	for _, k := range keys {
		if strings.HasPrefix(k, key+"/") {
			return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
		}
	}
	return certmagic.KeyInfo{}, err
}

// Lock implements certmagic.Locker: it blocks until this replica holds
// the Lease for name, or ctx ends.
func (s *Storage) Lock(ctx context.Context, name string) error {
	poll := s.PollInterval
	if poll <= 0 {
		poll = time.Second
	}
	for {
		ok, err := s.TryLock(ctx, name)
		if err != nil && ctx.Err() == nil && strings.Contains(err.Error(), "would exceed context deadline") {
			// client-go's rate limiter gives up early when its wait would
			// outlast ctx: the deadline ends this Lock, so say so.
			<-ctx.Done()
			return wrap("lock", name, ctx.Err())
		}
		if err != nil || ok {
			return err
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// TryLock implements certmagic.TryLocker: it takes the Lease for name
// if it is free, expired, or already ours.
func (s *Storage) TryLock(ctx context.Context, name string) (bool, error) {
	leases := s.Client.CoordinationV1().Leases(s.Namespace)
	lname := s.objectName("l", name)
	now := metav1.NewMicroTime(s.now())
	secs := int32(s.leaseDuration() / time.Second)
	id := s.Identity
	l, err := leases.Get(ctx, lname, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		l = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name: lname, Namespace: s.Namespace,
				Labels:      map[string]string{labelStorage: s.prefix()},
				Annotations: map[string]string{annotationKey: name},
			},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &id, LeaseDurationSeconds: &secs, AcquireTime: &now, RenewTime: &now},
		}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return false, nil
		}
		if err != nil {
			return false, wrap("lock", name, err)
		}
	case err != nil:
		return false, wrap("lock", name, err)
	default:
		if !s.free(l) {
			return false, nil
		}
		l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.AcquireTime, l.Spec.RenewTime = &id, &secs, &now, &now
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			return false, nil // someone else took it first
		}
		if err != nil {
			return false, wrap("lock", name, err)
		}
	}
	s.keepAlive(name)
	return true, nil
}

// free reports whether l can be taken: no holder, ours, or expired.
func (s *Storage) free(l *coordinationv1.Lease) bool {
	sp := l.Spec
	if sp.HolderIdentity == nil || *sp.HolderIdentity == "" || *sp.HolderIdentity == s.Identity {
		return true
	}
	if sp.RenewTime == nil || sp.LeaseDurationSeconds == nil {
		return true
	}
	return s.now().After(sp.RenewTime.Add(time.Duration(*sp.LeaseDurationSeconds) * time.Second))
}

// keepAlive renews a held Lease every third of its duration until
// Unlock.
func (s *Storage) keepAlive(name string) {
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	if s.held == nil {
		s.held = map[string]context.CancelFunc{}
	}
	if old := s.held[name]; old != nil {
		old()
	}
	s.held[name] = cancel
	s.mu.Unlock()
	go func() {
		t := time.NewTicker(s.leaseDuration() / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.RenewLockLease(ctx, name, s.leaseDuration())
			}
		}
	}()
}

// RenewLockLease implements certmagic.LockLeaseRenewer.
func (s *Storage) RenewLockLease(ctx context.Context, name string, d time.Duration) error {
	leases := s.Client.CoordinationV1().Leases(s.Namespace)
	l, err := leases.Get(ctx, s.objectName("l", name), metav1.GetOptions{})
	if err != nil {
		return wrap("renew lock", name, err)
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != s.Identity {
		return fmt.Errorf("kubestorage: lock %q is held by another replica", name)
	}
	now := metav1.NewMicroTime(s.now())
	secs := int32(d / time.Second)
	l.Spec.RenewTime, l.Spec.LeaseDurationSeconds = &now, &secs
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	return wrap("renew lock", name, err)
}

// Unlock implements certmagic.Locker: it stops renewing and deletes the
// Lease if this replica still holds it.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	if cancel := s.held[name]; cancel != nil {
		cancel()
		delete(s.held, name)
	}
	s.mu.Unlock()
	leases := s.Client.CoordinationV1().Leases(s.Namespace)
	lname := s.objectName("l", name)
	l, err := leases.Get(ctx, lname, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return wrap("unlock", name, err)
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != s.Identity {
		return nil // expired and taken over: not ours to delete
	}
	rv := l.ResourceVersion
	err = leases.Delete(ctx, lname, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return wrap("unlock", name, err)
}

func wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("kubestorage: %s %q: %w", op, key, err)
}
