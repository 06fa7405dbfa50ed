package prosody

import "testing"

func TestDatamanagerEncode(t *testing.T) {
	for in, want := range map[string]string{
		"localhost":    "localhost",
		"example.test": "example%2etest",
		"user_1-a.b":   "user%5f1%2da%2eb",
	} {
		if got := datamanagerEncode(in); got != want {
			t.Errorf("datamanagerEncode(%q) = %q, want %q", in, got, want)
		}
	}
}
