package consumers

import (
	"regexp"
	"strings"
	"testing"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/host/config"
)

func testConfig() *config.Config {
	return &config.Config{Consumers: []config.Consumer{
		{Username: "alice", CustomID: "a-1", Tags: []string{"t"},
			KeyauthCredentials:   []config.KeyauthCredential{{Key: "alice-key"}},
			BasicauthCredentials: []config.BasicauthCredential{{Username: "alice-login", Password: "pw"}},
			JWTSecrets:           []config.JWTSecret{{Key: "iss-a", Secret: "s"}},
			ACLs:                 []config.ACLGroup{{Group: "g1"}, {Group: "g2"}}},
		{ID: "b-id", Username: "bob", KeyauthCredentials: []config.KeyauthCredential{{ID: "cred-b", Key: "bob-key"}}},
		{CustomID: "only-custom"},
	}}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestBuildAndLookup(t *testing.T) {
	ix, err := Build(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	ix2, _ := Build(testConfig())
	tests := []struct {
		name, typ, key string
		wantUser       string
		wantCred       string
		wantField      [2]string
	}{
		{name: "key-auth", typ: abi.CredentialKeyAuth, key: "alice-key", wantUser: "alice"},
		{name: "key-auth with ids", typ: abi.CredentialKeyAuth, key: "bob-key", wantUser: "bob", wantCred: "cred-b"},
		{name: "basic-auth", typ: abi.CredentialBasicAuth, key: "alice-login", wantUser: "alice", wantField: [2]string{"username", "alice-login"}},
		{name: "jwt", typ: abi.CredentialJWT, key: "iss-a", wantUser: "alice", wantField: [2]string{"algorithm", "HS256"}},
		{name: "unknown key", typ: abi.CredentialKeyAuth, key: "nope"},
		{name: "wrong type", typ: abi.CredentialJWT, key: "alice-key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info, ok := ix.Lookup(tc.typ, tc.key)
			if ok != (tc.wantUser != "") {
				t.Fatalf("Lookup found=%v", ok)
			}
			if !ok {
				return
			}
			if info.Username != tc.wantUser {
				t.Errorf("username %q", info.Username)
			}
			if tc.wantCred != "" && info.CredentialID != tc.wantCred {
				t.Errorf("credential id %q", info.CredentialID)
			}
			if tc.wantCred == "" && !uuidRE.MatchString(info.CredentialID) {
				t.Errorf("derived credential id %q is not a UUIDv5", info.CredentialID)
			}
			if tc.wantField[0] != "" {
				found := false
				for _, kv := range info.Credential {
					found = found || kv == tc.wantField
				}
				if !found {
					t.Errorf("credential fields %v lack %v", info.Credential, tc.wantField)
				}
			}
			// Derived ids are stable across builds (and processes).
			if info2, _ := ix2.Lookup(tc.typ, tc.key); info2.ID != info.ID || info2.CredentialID != info.CredentialID {
				t.Errorf("ids differ between builds: %v vs %v", info, info2)
			}
		})
	}
}

func TestPasswordStoredHashed(t *testing.T) {
	ix, _ := Build(testConfig())
	info, _ := ix.Lookup(abi.CredentialBasicAuth, "alice-login")
	var stored string
	for _, kv := range info.Credential {
		if kv[0] == "password" {
			stored = kv[1]
		}
	}
	parts := strings.Split(stored, "$")
	if len(parts) != 3 || parts[0] != "sha256" || len(parts[1]) != 32 || len(parts[2]) != 64 {
		t.Fatalf("stored password %q is not sha256$salt$digest", stored)
	}
	if strings.Contains(stored, "pw") && !strings.Contains(parts[1]+parts[2], "pw") {
		t.Fatal("clear password in the stored form")
	}
	ix2, _ := Build(testConfig())
	info2, _ := ix2.Lookup(abi.CredentialBasicAuth, "alice-login")
	for _, kv := range info2.Credential {
		if kv[0] == "password" && kv[1] == stored {
			t.Fatal("two builds used the same salt")
		}
	}
}

func TestResolve(t *testing.T) {
	ix, _ := Build(testConfig())
	a := ix.Resolve("alice")
	if a == nil || a.ID != ConsumerID(&testConfig().Consumers[0]) || len(a.Groups) != 2 {
		t.Fatalf("Resolve(alice) = %+v", a)
	}
	if ix.Resolve(a.ID) != a || ix.Resolve("a-1") != a {
		t.Fatal("resolve by id / custom_id")
	}
	if ix.Resolve("b-id") == nil || ix.Resolve("only-custom") == nil || ix.Resolve("nobody") != nil {
		t.Fatal("resolve")
	}
	var nilIx *Index
	if nilIx.Resolve("x") != nil || nilIx.Len() != 0 {
		t.Fatal("nil index")
	}
	if _, ok := nilIx.Lookup(abi.CredentialKeyAuth, "x"); ok {
		t.Fatal("nil index lookup")
	}
}
