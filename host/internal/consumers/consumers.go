// Package consumers indexes a configuration's consumers and credentials
// for the weir.consumer_lookup and weir.set_consumer foreign functions.
//
// An Index is built once per snapshot and is immutable. Secrets are kept
// only in the form a plugin needs to verify them:
//   - key-auth keys are indexed by their SHA-256 digest; the clear key is
//     not kept, and a lookup compares digests in constant time;
//   - basic-auth passwords are stored as salted SHA-256 (a fresh random
//     16-byte salt per credential and build), handed to the basic-auth
//     plugin as "sha256$<salt hex>$<digest hex>" so it can check a
//     presented password without the clear one ever being in memory;
//   - jwt secrets are kept as given (HMAC verification needs them).
//
// Nothing here logs, and no error message carries a secret.
package consumers

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/host/config"
)

// Consumer is an indexed consumer.
type Consumer struct {
	ID       string
	Username string
	CustomID string
	Tags     []string
	// Groups are the consumer's acl groups, in configuration order.
	Groups []string
}

type credential struct {
	c      *Consumer
	id     string
	fields [][2]string
	digest [32]byte // key-auth only
}

// Index answers credential and consumer lookups.
type Index struct {
	byID       map[string]*Consumer
	byUsername map[string]*Consumer
	byCustomID map[string]*Consumer
	keyauth    map[[32]byte]*credential
	basicauth  map[string]*credential
	jwt        map[string]*credential
}

// weirNamespace is the UUIDv5 namespace of the ids Weir derives for
// consumers and credentials declared without one.
var weirNamespace = [16]byte{0x6b, 0x1a, 0x57, 0x0e, 0x9d, 0x2c, 0x4f, 0x61, 0x8a, 0x33, 0x0c, 0x5e, 0x77, 0x12, 0xd4, 0x90}

// DeriveID returns a deterministic UUIDv5 for name, so an entity declared
// without an id gets the same one in every process and after every reload
// (rate-limit counters shared through Redis key on it).
func DeriveID(name string) string {
	h := sha1.New()
	h.Write(weirNamespace[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// ConsumerID returns the id of a configured consumer: its own, or one
// derived from its username (or custom_id).
func ConsumerID(c *config.Consumer) string {
	switch {
	case c.ID != "":
		return c.ID
	case c.Username != "":
		return DeriveID("consumer:username:" + c.Username)
	}
	return DeriveID("consumer:custom_id:" + c.CustomID)
}

// Build indexes cfg's consumers (already validated: credential keys and
// usernames are unique).
func Build(cfg *config.Config) (*Index, error) {
	ix := &Index{
		byID:       map[string]*Consumer{},
		byUsername: map[string]*Consumer{},
		byCustomID: map[string]*Consumer{},
		keyauth:    map[[32]byte]*credential{},
		basicauth:  map[string]*credential{},
		jwt:        map[string]*credential{},
	}
	for i := range cfg.Consumers {
		cc := &cfg.Consumers[i]
		c := &Consumer{ID: ConsumerID(cc), Username: cc.Username, CustomID: cc.CustomID, Tags: cc.Tags}
		ix.byID[c.ID] = c
		if c.Username != "" {
			ix.byUsername[c.Username] = c
		}
		if c.CustomID != "" {
			ix.byCustomID[c.CustomID] = c
		}
		for _, g := range cc.ACLs {
			c.Groups = append(c.Groups, g.Group)
		}
		for _, k := range cc.KeyauthCredentials {
			d := sha256.Sum256([]byte(k.Key))
			id := k.ID
			if id == "" {
				id = DeriveID("keyauth_credential:" + c.ID + ":" + hex.EncodeToString(d[:]))
			}
			ix.keyauth[d] = &credential{c: c, id: id, digest: d}
		}
		for _, b := range cc.BasicauthCredentials {
			var salt [16]byte
			if _, err := rand.Read(salt[:]); err != nil {
				return nil, fmt.Errorf("consumers[%d]: basicauth_credentials: salt: %w", i, err)
			}
			id := b.ID
			if id == "" {
				id = DeriveID("basicauth_credential:" + c.ID + ":" + b.Username)
			}
			ix.basicauth[b.Username] = &credential{c: c, id: id, fields: [][2]string{
				{"username", b.Username},
				{"password", HashPassword(salt[:], b.Password)},
			}}
		}
		for _, s := range cc.JWTSecrets {
			id := s.ID
			if id == "" {
				id = DeriveID("jwt_secret:" + c.ID + ":" + s.Key)
			}
			alg := s.Algorithm
			if alg == "" {
				alg = "HS256"
			}
			f := [][2]string{{"key", s.Key}, {"algorithm", alg}}
			if s.Secret != "" {
				f = append(f, [2]string{"secret", s.Secret})
			}
			if s.RSAPublicKey != "" {
				f = append(f, [2]string{"rsa_public_key", s.RSAPublicKey})
			}
			ix.jwt[s.Key] = &credential{c: c, id: id, fields: f}
		}
	}
	return ix, nil
}

// HashPassword returns "sha256$<salt hex>$<hex SHA-256(salt || password)>".
func HashPassword(salt []byte, password string) string {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(password))
	return "sha256$" + hex.EncodeToString(salt) + "$" + hex.EncodeToString(h.Sum(nil))
}

// Lookup finds the consumer owning a credential (abi.ConsumerLookupArgs).
func (ix *Index) Lookup(credType, key string) (abi.ConsumerInfo, bool) {
	if ix == nil {
		return abi.ConsumerInfo{}, false
	}
	var cr *credential
	switch credType {
	case abi.CredentialKeyAuth:
		d := sha256.Sum256([]byte(key))
		cr = ix.keyauth[d]
		if cr != nil && subtle.ConstantTimeCompare(cr.digest[:], d[:]) != 1 {
			cr = nil
		}
	case abi.CredentialBasicAuth:
		cr = ix.basicauth[key]
	case abi.CredentialJWT:
		cr = ix.jwt[key]
	}
	if cr == nil {
		return abi.ConsumerInfo{}, false
	}
	return abi.ConsumerInfo{
		ID: cr.c.ID, Username: cr.c.Username, CustomID: cr.c.CustomID,
		CredentialID: cr.id, Tags: cr.c.Tags, Credential: cr.fields,
	}, true
}

// ByID returns the consumer with that id.
func (ix *Index) ByID(id string) *Consumer {
	if ix == nil {
		return nil
	}
	return ix.byID[id]
}

// ByUsername returns the consumer with that username.
func (ix *Index) ByUsername(u string) *Consumer {
	if ix == nil {
		return nil
	}
	return ix.byUsername[u]
}

// Resolve finds a consumer by id, then username, then custom_id (how a
// plugin's `consumer` field or an `anonymous` setting names one).
func (ix *Index) Resolve(ref string) *Consumer {
	if ix == nil {
		return nil
	}
	if c := ix.byID[ref]; c != nil {
		return c
	}
	if c := ix.byUsername[ref]; c != nil {
		return c
	}
	return ix.byCustomID[ref]
}

// Len returns the number of consumers.
func (ix *Index) Len() int {
	if ix == nil {
		return 0
	}
	return len(ix.byID)
}
