// Package suggest finds the known name closest to a misspelt one, for "did
// you mean" hints in the errors of vigil.yaml and of rule files.
package suggest

import "strings"

// Closest returns the name in known closest to key (compared in lower case),
// or "" when none is close: at most two edits, and at most a third of the
// name's length.
func Closest(key string, known []string) string {
	best, bestDist := "", 3
	k := strings.ToLower(key)
	for _, name := range known {
		if d := editDistance(k, name); d < bestDist && d*3 <= len(name) {
			best, bestDist = name, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b: the
// edits are inserting, deleting or replacing a byte, or swapping two neighbours.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
