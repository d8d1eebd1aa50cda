package suggest

import "testing"

func TestClosest(t *testing.T) {
	known := []string{"retention", "listen", "data", "effect", "environments"}
	for key, want := range map[string]string{
		"retension": "retention", "lsiten": "listen", "EFECT": "effect", "enviroments": "environments",
		"dt":    "", // two edits: more than a third of a four-letter name
		"color": "", "": "",
	} {
		if got := Closest(key, known); got != want {
			t.Errorf("Closest(%q) = %q; want %q", key, got, want)
		}
	}
}
