package account

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
)

const goodPassword = "violet-harbour-lantern-42"

// Hashes of goodPassword written by the Argon2 reference implementation's
// command-line tool (salt "roomhubsaltsalt1"):
//
//	echo -n violet-harbour-lantern-42 | argon2 roomhubsaltsalt1 -id -t 2 -k 19456 -p 1 -l 32 -e
//	echo -n violet-harbour-lantern-42 | argon2 roomhubsaltsalt1 -id -t 3 -k 4096 -p 2 -l 16 -e
const (
	referenceHash     = "$argon2id$v=19$m=19456,t=2,p=1$cm9vbWh1YnNhbHRzYWx0MQ$5ZZcN7P+XANMdW9zOoCc+ncVizBRcQMV+9GiH3ijOkE"
	referenceWeakHash = "$argon2id$v=19$m=4096,t=3,p=2$cm9vbWh1YnNhbHRzYWx0MQ$xut0NggoamvonLL5HTNOtQ"
)

func TestHashPassword(t *testing.T) {
	h, err := HashPassword(goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("encoding %q", h)
	}
	f := strings.Split(h, "$")
	if salt, _ := base64.RawStdEncoding.DecodeString(f[4]); len(salt) != ArgonSaltBytes {
		t.Errorf("salt of %d bytes, want %d", len(salt), ArgonSaltBytes)
	}
	if key, _ := base64.RawStdEncoding.DecodeString(f[5]); len(key) != ArgonKeyBytes {
		t.Errorf("key of %d bytes, want %d", len(key), ArgonKeyBytes)
	}
	if h2, _ := HashPassword(goodPassword); h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	if NeedsRehash(h) {
		t.Fatal("a fresh hash needs a rehash")
	}
	if ok, err := VerifyPassword(h, goodPassword); !ok || err != nil {
		t.Fatalf("a fresh hash does not verify: %v", err)
	}
}

func TestVerifyPassword(t *testing.T) {
	for _, tc := range []struct {
		name, hash, pw string
		want           bool
	}{
		{"reference hash", referenceHash, goodPassword, true},
		{"reference hash, other parameters", referenceWeakHash, goodPassword, true},
		{"last character differs", referenceHash, "violet-harbour-lantern-43", false},
		{"case differs", referenceHash, "Violet-harbour-lantern-42", false},
		{"prefix", referenceHash, goodPassword[:len(goodPassword)-1], false},
		{"empty", referenceHash, "", false},
		{"other parameters, wrong password", referenceWeakHash, "violet", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ok, err := VerifyPassword(tc.hash, tc.pw); err != nil || ok != tc.want {
				t.Fatalf("VerifyPassword = %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
}

// phc builds a hash string with the given parameters and sizes; its key is
// not the Argon2 output, which decode does not look at.
func phc(m, tm, p, saltLen, keyLen int) string {
	b64 := base64.RawStdEncoding
	return "$argon2id$v=19$m=" + strconv.Itoa(m) + ",t=" + strconv.Itoa(tm) + ",p=" + strconv.Itoa(p) +
		"$" + b64.EncodeToString(make([]byte, saltLen)) + "$" + b64.EncodeToString(make([]byte, keyLen))
}

// TestHashBounds checks every bound on a stored hash at the bound and one
// past it, by parsing only: a hash at the memory bound would take a quarter
// of a gigabyte to verify.
func TestHashBounds(t *testing.T) {
	const m, tm, p, s, k = ArgonMemoryKiB, ArgonTime, ArgonThreads, ArgonSaltBytes, ArgonKeyBytes
	for _, tc := range []struct {
		name string
		hash string
		ok   bool
	}{
		{"current", phc(m, tm, p, s, k), true},
		{"most memory", phc(MaxArgonMemoryKiB, tm, p, s, k), true},
		{"too much memory", phc(MaxArgonMemoryKiB+1, tm, p, s, k), false},
		{"tampered to 95 GiB", phc(99_999_999, tm, p, s, k), false},
		{"memory beyond 32 bits", phc(1<<32, tm, p, s, k), false},
		{"least memory for its lanes", phc(8*MaxArgonThreads, tm, MaxArgonThreads, s, k), true},
		{"too little memory for its lanes", phc(8*MaxArgonThreads-1, tm, MaxArgonThreads, s, k), false},
		{"no memory", phc(0, tm, p, s, k), false},
		{"most passes", phc(m, MaxArgonTime, p, s, k), true},
		{"too many passes", phc(m, MaxArgonTime+1, p, s, k), false},
		{"no passes", phc(m, 0, p, s, k), false},
		{"most lanes", phc(m, tm, MaxArgonThreads, s, k), true},
		{"too many lanes", phc(m, tm, MaxArgonThreads+1, s, k), false},
		{"lanes that wrap a byte", phc(m, tm, 257, s, k), false},
		{"no lanes", phc(m, tm, 0, s, k), false},
		{"shortest salt", phc(m, tm, p, MinArgonSaltBytes, k), true},
		{"salt too short", phc(m, tm, p, MinArgonSaltBytes-1, k), false},
		{"longest salt", phc(m, tm, p, MaxArgonSaltBytes, k), true},
		{"salt too long", phc(m, tm, p, MaxArgonSaltBytes+1, k), false},
		{"shortest key", phc(m, tm, p, s, MinArgonKeyBytes), true},
		{"key too short", phc(m, tm, p, s, MinArgonKeyBytes-1), false},
		{"longest key", phc(m, tm, p, s, MaxArgonKeyBytes), true},
		{"key too long", phc(m, tm, p, s, MaxArgonKeyBytes+1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decode(tc.hash); (err == nil) != tc.ok {
				t.Fatalf("decode(%q): %v", tc.hash, err)
			}
		})
	}
}

func TestMalformedHashes(t *testing.T) {
	h := referenceHash
	for _, tc := range []struct{ name, hash string }{
		{"empty", ""},
		{"plain text", goodPassword},
		{"argon2i", strings.Replace(h, "argon2id", "argon2i", 1)},
		{"bcrypt", "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"},
		{"old version", strings.Replace(h, "v=19", "v=16", 1)},
		{"no version", strings.Replace(h, "$v=19", "", 1)},
		{"signed number", strings.Replace(h, "m=19456", "m=+19456", 1)},
		{"trailing garbage", strings.Replace(h, "p=1", "p=1x", 1)},
		{"parameters reordered", strings.Replace(h, "m=19456,t=2", "t=2,m=19456", 1)},
		{"extra parameter", strings.Replace(h, "p=1", "p=1,k=3", 1)},
		{"missing parameter", strings.Replace(h, ",t=2", "", 1)},
		{"padded salt", strings.Replace(h, "MQ$", "MQ==$", 1)},
		{"salt not base64", strings.Replace(h, "cm9v", "c*9v", 1)},
		{"truncated", h[:len(h)-10]},
		{"extra field", h + "$x"},
		{"leading text", "x" + h},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ok, err := VerifyPassword(tc.hash, goodPassword); ok || err == nil {
				t.Fatalf("VerifyPassword(%q) = %v, %v; want an error", tc.hash, ok, err)
			}
			if NeedsRehash(tc.hash) {
				t.Fatal("an unreadable hash asks for a rehash")
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	const m, tm, p, s, k = ArgonMemoryKiB, ArgonTime, ArgonThreads, ArgonSaltBytes, ArgonKeyBytes
	for _, tc := range []struct {
		name string
		hash string
		want bool
	}{
		{"current", phc(m, tm, p, s, k), false},
		{"reference current", referenceHash, false},
		{"reference weaker", referenceWeakHash, true},
		{"less memory", phc(m-1, tm, p, s, k), true},
		{"fewer passes", phc(m, tm-1, p, s, k), true},
		{"shorter salt", phc(m, tm, p, s-1, k), true},
		{"shorter key", phc(m, tm, p, s, k-1), true},
		{"stronger", phc(2*m, tm+1, 2, 2*s, 2*k), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NeedsRehash(tc.hash); got != tc.want {
				t.Fatalf("NeedsRehash(%q) = %v, want %v", tc.hash, got, tc.want)
			}
		})
	}
}

func TestHasher(t *testing.T) {
	h := NewHasher()
	// The dummy must cost what a real hash costs: today's parameters.
	if _, err := decode(h.dummy); err != nil || NeedsRehash(h.dummy) {
		t.Fatalf("dummy hash %q is not a current hash: %v", h.dummy, err)
	}
	if !strings.HasPrefix(h.dummy, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("dummy hash %q", h.dummy)
	}
	h.DummyVerify(goodPassword)
}

func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := HashPassword(goodPassword); err != nil {
			b.Fatal(err)
		}
	}
}
