package classify

import "testing"

func TestWorldCIDR(t *testing.T) {
	for cidr, want := range map[string]bool{
		"0.0.0.0/0": true, "::/0": true, " 0.0.0.0/0 ": true, "10.1.2.3/0": true,
		// The world in halves, or in any piece wider than a /8.
		"0.0.0.0/1": true, "128.0.0.0/1": true, "64.0.0.0/2": true, "2.0.0.0/7": true,
		"2000::/3": true, "2000::/4": true, "2c00::/15": true, "::ffff:0.0.0.0/97": true,
		// Ranges that are not the world.
		"10.0.0.0/8": false, "172.16.0.0/12": false, "192.168.1.0/24": false, "203.0.113.7/32": false,
		"1.0.0.0/8": false, "fc00::/7": false, "fe80::/10": false, "2001:db8::/32": false,
		"2001::/16": false, "not a cidr": false, "": false,
	} {
		if got := WorldCIDR(cidr); got != want {
			t.Errorf("WorldCIDR(%q) = %v; want %v", cidr, got, want)
		}
	}
}
